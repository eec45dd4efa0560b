//! One case: a self-contained, replayable description (serde) and the scenario runner
//! that plays it on a fresh machine and hands what it saw to the oracle.

use super::proxy::{ProxyDriver, ProxyDriverBug};
use super::server::{ServerBehaviour, client_byte, pattern, run_server, server_byte};
use crate::addr::{PAGE_SIZE, Pfn, Va, span_pages};
use crate::fault::{Fault, ModelError, Result};
use crate::io::{DO_DIRECT_IO, IoCompletion, IrpFlags, IrpId};
use crate::machine::{Machine, ScheduledWrite};
use crate::oracle::check::{self, Subject};
use crate::oracle::double_fetch::{self, FetchPair};
use crate::oracle::hygiene::{self, Books};
use crate::oracle::{BugClass, Finding, Rule, fault_finding};
use crate::pool::{PoolType, tag};
use crate::shadow::LabelSpan;
use crate::space::{Pid, Protection, SpaceId, Tid};
use crate::status::NtStatus;
use crate::strategy::RetireReason;
use crate::strategy::{Completion, Direction, Exposure, ProxyStrategy, ServerReply, nt_success};
use crate::vm::{MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The server's reply when it exited or answers a cancelled request.
const CANCELLED_REPLY: ServerReply = ServerReply {
    status: NtStatus::CANCELLED,
    information: 0,
};

/// A fault injected into a case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum InjectedFault {
    /// Nothing goes wrong.
    None,
    /// The client releases its buffer (`MEM_RELEASE`) after the server ran, before retire.
    ClientFreesBuffer,
    /// The client decommits its buffer's pages after the server ran, before retire.
    ClientDecommitsBuffer,
    /// The client's requesting thread exits while the server holds the request: thread
    /// exit's `IoCancelThreadIo` calls `IoCancelIrp`, the proxy driver's cancel routine
    /// runs retire in the client's context and completes `STATUS_CANCELLED`; then the
    /// client process exits. The server's late reply must be dropped.
    ClientExits,
    /// The server exits before doing anything: its cleanup retires the request.
    ServerExits,
    /// The machine has only 2 system PTEs.
    SystemPtesExhausted,
    /// The non-paged pool limit is 0.
    PoolExhausted,
    /// A system thread calls `IoCancelIrp` while the server holds the request: the proxy
    /// driver's cancel routine runs retire in that system thread and completes the IRP
    /// `STATUS_CANCELLED` ([semantics §6]). The server's late reply must be dropped.
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    Cancel,
}

impl InjectedFault {
    /// Every fault, `None` first.
    pub const ALL: [InjectedFault; 8] = [
        InjectedFault::None,
        InjectedFault::ClientFreesBuffer,
        InjectedFault::ClientDecommitsBuffer,
        InjectedFault::ClientExits,
        InjectedFault::ServerExits,
        InjectedFault::SystemPtesExhausted,
        InjectedFault::PoolExhausted,
        InjectedFault::Cancel,
    ];
}

/// A replayable case: everything needed to play it again (`serde_json`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `BYTE_OFFSET` of the client's buffer.
    pub offset: u32,
    /// Its length.
    pub length: u32,
    /// READ or WRITE.
    pub direction: Direction,
    /// How the server behaves.
    pub server: ServerBehaviour,
    /// What goes wrong.
    pub fault: InjectedFault,
    /// Varies the data patterns.
    pub seed: u8,
}

impl Case {
    /// The machine configuration for this case (the fault may shrink PTEs or pool).
    pub fn machine_config(&self, base: &crate::Config) -> crate::Config {
        match self.fault {
            InjectedFault::SystemPtesExhausted => base.clone().system_ptes(2),
            InjectedFault::PoolExhausted => base.clone().pool_limit(0),
            _ => base.clone(),
        }
    }

    /// The case as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A case from JSON.
    ///
    /// # Errors
    /// `ModelError::InvalidConfig` naming the parse error.
    pub fn from_json(s: &str) -> Result<Case> {
        serde_json::from_str(s).map_err(|e| Fault::Model(ModelError::InvalidConfig(e.to_string())))
    }
}

/// What a case did that another run of it can be compared with (double-fetch proofs).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
pub struct Outcome {
    /// The exposure, if `expose` returned.
    pub exposure: Option<Exposure>,
    /// Length and digest ([`digest`]) of the bytes the server was shown, right after `expose`.
    pub view: Option<(u64, u64)>,
    /// The completion, if the request completed.
    pub completion: Option<Completion>,
    /// The bug check, if the machine crashed.
    pub crash: Option<String>,
}

/// A double fetch's writer: a thread and address that can change the byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Writer {
    /// The second thread the scenario gave that process.
    pub tid: Tid,
    /// The byte's address in that process.
    pub va: Va,
    /// A value different from the one fetched.
    pub value: u8,
}

/// Everything one run of a case produced.
#[derive(Clone, Debug, Default)]
pub struct CaseRun {
    /// The oracle's findings.
    pub findings: Vec<Finding>,
    /// What happened, step by step.
    pub trace: Vec<String>,
    /// For comparison with another run.
    pub outcome: Outcome,
    /// The first double fetch, with who can change the byte.
    pub double_fetch: Option<(FetchPair, Writer)>,
    /// The page map after `expose` (only from [`run_case_mapped`]).
    pub page_map: Option<crate::pagemap::PageMap>,
    /// The request's path through the I/O manager (`None` if none was sent).
    pub io: Option<IoTrace>,
}

/// What the I/O manager and the proxy driver did with a case's request.
#[derive(Clone, Debug)]
pub struct IoTrace {
    /// The IRP the I/O manager sent (freed by now).
    pub irp: IrpId,
    /// What `NtReadFile` / `NtWriteFile` returned to the client (`STATUS_PENDING`).
    pub returned: NtStatus,
    /// `Irp->Flags` the driver's dispatch routine saw.
    pub flags: IrpFlags,
    /// `Irp->MdlAddress` the dispatch routine saw.
    pub mdl: Option<crate::mdl::MdlId>,
    /// Who ran `retire`.
    pub retired_by: Option<RetireReason>,
    /// The context `retire` ran in (`Some(None)`: a system thread).
    pub retire_context: Option<Option<Pid>>,
    /// Every `IoCompleteRequest` that finished the IRP (exactly one for a correct driver).
    pub completions: Vec<IoCompletion>,
}

/// The scenario's actors.
#[derive(Clone)]
struct Actors {
    client: Pid,
    server: Pid,
    bystander: Pid,
    second: BTreeMap<Pid, Tid>,
    alloc: Va,
    alloc_len: u64,
    buffer: Va,
    bystander_page: Va,
}

/// Plays `case` with `strategy` on a fresh machine and runs the oracle over it.
/// `interleave` is a write another thread makes at a given step (double-fetch proofs).
///
/// The request goes through the I/O manager to a [`ProxyDriver`] running a clone of
/// `strategy` (module docs of [`super::proxy`]); afterwards `strategy` holds the state
/// the driver's copy ended in.
pub fn run_case<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &mut S,
    case: &Case,
    machine: &crate::Config,
    interleave: Option<ScheduledWrite>,
) -> CaseRun {
    let mode = Mode {
        interleave,
        ..Mode::default()
    };
    run_case_inner(strategy, case, machine, mode)
}

/// [`run_case`] with a deliberately broken proxy driver (the cancel path's negative
/// controls).
pub fn run_case_with_driver<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &mut S,
    case: &Case,
    machine: &crate::Config,
    bug: ProxyDriverBug,
) -> CaseRun {
    let mode = Mode {
        bug,
        ..Mode::default()
    };
    run_case_inner(strategy, case, machine, mode)
}

/// [`run_case`], also capturing the [`crate::pagemap::PageMap`] of the server's view
/// right after `expose`, with the bytes the server read (what `mdlsim replay` draws).
pub fn run_case_mapped<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &mut S,
    case: &Case,
    machine: &crate::Config,
) -> CaseRun {
    let mode = Mode {
        want_map: true,
        ..Mode::default()
    };
    run_case_inner(strategy, case, machine, mode)
}

/// [`run_case`] without the step trace (`CaseRun::trace` stays empty): what the
/// harness's search loop runs; a failing case is replayed with its trace.
pub(crate) fn run_case_quiet<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &mut S,
    case: &Case,
    machine: &crate::Config,
) -> CaseRun {
    let mode = Mode {
        quiet: true,
        ..Mode::default()
    };
    run_case_inner(strategy, case, machine, mode)
}

/// How a case is run.
#[derive(Default)]
struct Mode {
    /// A write another thread makes at a given step.
    interleave: Option<ScheduledWrite>,
    /// Capture the page map after `expose`.
    want_map: bool,
    /// The proxy driver's deliberate bug.
    bug: ProxyDriverBug,
    /// No step trace.
    quiet: bool,
}

fn run_case_inner<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &mut S,
    case: &Case,
    machine: &crate::Config,
    mode: Mode,
) -> CaseRun {
    let Mode {
        interleave,
        want_map,
        bug,
        quiet,
    } = mode;
    let mut run = CaseRun::default();
    if want_map {
        run.page_map = Some(crate::pagemap::PageMap::default());
    }
    let (mut m, actors) = match prepared(&case.machine_config(machine), case) {
        Ok(x) => x,
        Err(e) => {
            run.findings.push(fault_finding(&e, 0, "machine"));
            return run;
        }
    };
    let mut slot = None;
    let r = actors.and_then(|a| {
        drive(
            &mut m,
            a,
            strategy.clone(),
            bug,
            &mut slot,
            case,
            interleave,
            &mut run,
            quiet,
        )
    });
    if let Err(e) = r {
        let f = fault_finding(&e, m.step(), "scenario");
        if !run.findings.contains(&f) {
            run.findings.push(f);
        }
    }
    run.outcome.crash = m.crashed().map(|b| b.to_string());
    drop(m);
    if let Some(s) = slot
        .and_then(|d| Arc::try_unwrap(d).ok())
        .and_then(|d| d.into_strategy().ok())
    {
        *strategy = s;
    }
    run
}

/// The case-independent part of the scenario for a client allocation of `pages` + 2
/// pages: the processes and second threads, the client's allocation (touched, so its
/// frames are taken before anyone else's), the bystander's page, the third party that
/// filled 16 pages with its secrets and exited (its frames go to the top of the free list,
/// where uninitialised allocations will find them), and kernel secrets in freed pool
/// (their page stays in the pool).
fn setup_template(m: &mut Machine, pages: u64) -> Result<Actors> {
    let client = m.create_process("client")?;
    let server = m.create_process("server")?;
    let bystander = m.create_process("bystander")?;
    let mut second = BTreeMap::new();
    second.insert(client, m.create_thread(client)?);
    second.insert(server, m.create_thread(server)?);
    let alloc_len = (pages + 2) * PAGE_SIZE;
    let rw = Protection::ReadWrite;
    let alloc = m.virtual_alloc(client, None, alloc_len, MEM_COMMIT | MEM_RESERVE, rw)?;
    m.user_write(client, alloc, &client_fill(0, alloc_len))?;
    let bystander_page =
        m.virtual_alloc(bystander, None, PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)?;
    m.user_write(bystander, bystander_page, &[0xB5; PAGE_SIZE as usize])?;
    let third = m.create_process("thirdparty")?;
    let t = m.virtual_alloc(third, None, 16 * PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)?;
    m.user_write(third, t, &[0x3D; 16 * PAGE_SIZE as usize])?;
    m.terminate_process(third)?;
    if let Some(k) = m.ex_allocate_pool_with_tag(PoolType::NonPaged, 2 * PAGE_SIZE, tag(b"Secr"))? {
        m.kernel_write(k, &[0x5E; 2 * PAGE_SIZE as usize])?;
        m.ex_free_pool_with_tag(k, tag(b"Secr"))?;
    }
    Ok(Actors {
        client,
        server,
        bystander,
        second,
        alloc,
        alloc_len,
        buffer: alloc.wrapping_add(PAGE_SIZE),
        bystander_page,
    })
}

/// The client's allocation contents for `seed`.
fn client_fill(seed: u8, len: u64) -> Vec<u8> {
    pattern(len, |i| client_byte(seed, i))
}

/// Prepared scenarios, per machine configuration and client allocation size: building
/// one (processes, a third party's exit, pool secrets) costs more than cloning it.
struct Template {
    cfg: crate::Config,
    machine: Machine,
    actors: Actors,
    /// Frames the machine holds (what the template costs the host).
    frames: u64,
    /// When it was last used (a tick of [`Templates::clock`]).
    used: u64,
}

/// The templates of one thread, by allocation size, at most [`MAX_TEMPLATES`] of them and
/// [`MAX_TEMPLATE_FRAMES`] frames in all (the least recently used dropped first).
#[derive(Default)]
struct Templates {
    by_pages: BTreeMap<u64, Vec<Template>>,
    count: usize,
    frames: u64,
    clock: u64,
}

impl Templates {
    fn get(&mut self, cfg: &crate::Config, pages: u64) -> Option<(Machine, Actors)> {
        self.clock += 1;
        let t = self
            .by_pages
            .get_mut(&pages)?
            .iter_mut()
            .find(|t| t.cfg == *cfg)?;
        t.used = self.clock;
        Some((t.machine.clone(), t.actors.clone()))
    }

    fn insert(&mut self, cfg: &crate::Config, pages: u64, machine: Machine, actors: Actors) {
        let frames = machine.frames_touched();
        while self.count > 0
            && (self.count >= MAX_TEMPLATES || self.frames + frames > MAX_TEMPLATE_FRAMES)
        {
            self.evict_oldest();
        }
        self.clock += 1;
        self.by_pages.entry(pages).or_default().push(Template {
            cfg: cfg.clone(),
            machine,
            actors,
            frames,
            used: self.clock,
        });
        self.count += 1;
        self.frames += frames;
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .by_pages
            .iter()
            .flat_map(|(p, v)| v.iter().enumerate().map(move |(i, t)| (t.used, *p, i)))
            .min();
        let Some((_, pages, i)) = oldest else {
            self.count = 0;
            self.frames = 0;
            return;
        };
        if let Some(v) = self.by_pages.get_mut(&pages) {
            let t = v.swap_remove(i);
            self.count -= 1;
            self.frames -= t.frames;
            if v.is_empty() {
                self.by_pages.remove(&pages);
            }
        }
    }
}

thread_local! {
    static TEMPLATES: std::cell::RefCell<Templates> = std::cell::RefCell::new(Templates::default());
}

/// Templates kept per thread. (The splice fuzz target asks for up to three
/// configurations times 256 page spans, and a few at the MDL size limit.)
const MAX_TEMPLATES: usize = 1024;

/// Frames the templates of one thread may hold in all (256 MiB of frame contents): a
/// template for a buffer at the MDL size limit holds 32 MiB.
const MAX_TEMPLATE_FRAMES: u64 = 1 << 16;

/// The machine a case runs on, set up: a clone of the prepared scenario for its
/// configuration and allocation size (built on first use), then the case's own part —
/// the client's allocation refilled with the case's pattern and the buffer at the case's
/// offset. A clone is the same machine a fresh setup builds (setup is deterministic and
/// does not depend on the case's offset or seed). `Ok(None)` actors for a case no MDL
/// can describe (nothing is set up). The inner error is a setup failure.
fn prepared(cfg: &crate::Config, case: &Case) -> Result<(Machine, Result<Option<Actors>>)> {
    if !describable(case) {
        return Ok((Machine::new(cfg.clone())?, Ok(None)));
    }
    let pages = (span_pages(Va::new(case.offset as u64), case.length as u64) as u64).max(1);
    let hit = TEMPLATES.with(|t| t.borrow_mut().get(cfg, pages));
    let (mut m, a) = match hit {
        Some(x) => x,
        None => {
            let mut m = Machine::new(cfg.clone())?;
            let a = match setup_template(&mut m, pages) {
                Ok(a) => a,
                Err(e) => return Ok((m, Err(e))),
            };
            TEMPLATES.with(|t| t.borrow_mut().insert(cfg, pages, m.clone(), a.clone()));
            (m, a)
        }
    };
    let fill = client_fill(case.seed, a.alloc_len);
    let r = m.user_write(a.client, a.alloc, &fill).map(|()| {
        Some(Actors {
            buffer: a.alloc.wrapping_add(PAGE_SIZE + case.offset as u64),
            ..a
        })
    });
    Ok((m, r))
}

/// Moves the machine's access log into `log` (recording continues).
fn flush(m: &mut Machine, log: &mut Vec<crate::log::Access>) {
    log.extend(m.drain_access_log());
    m.restart_access_log();
}

/// Frames writable by user code now, with a thread and address that can write each.
fn writers(m: &Machine, a: &Actors, out: &mut BTreeMap<Pfn, (Pid, Va)>) {
    for pid in [a.client, a.server] {
        let Ok(p) = m.process(pid) else { continue };
        if !p.is_alive() {
            continue;
        }
        for (va, pte) in p.space().ptes() {
            if pte.protection.can_write() {
                out.entry(pte.pfn).or_insert((pid, va));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn drive<S: ProxyStrategy + Send + 'static>(
    m: &mut Machine,
    actors: Option<Actors>,
    strategy: S,
    bug: ProxyDriverBug,
    slot: &mut Option<Arc<ProxyDriver<S>>>,
    case: &Case,
    interleave: Option<ScheduledWrite>,
    run: &mut CaseRun,
    quiet: bool,
) -> Result<()> {
    let Some(a) = actors else {
        // No request can be built: `IoAllocateMdl` returns NULL for ≥ 2 GiB or a
        // descriptor over 0xFFFF bytes (semantics §1.3, invariant 2), so the I/O manager
        // fails the call with STATUS_INSUFFICIENT_RESOURCES before any driver runs. The
        // client's buffer is not built: filling a multi-GiB allocation would exhaust the
        // machine's RAM (a spurious finding) and the host's.
        run.trace.push(format!(
            "issue failed: returned {} (IoAllocateMdl cannot describe {} bytes at offset {:#x}: {} pages)",
            NtStatus::INSUFFICIENT_RESOURCES,
            case.length,
            case.offset,
            span_pages(Va::new(case.offset as u64), case.length as u64)
        ));
        return Ok(());
    };
    let driver = Arc::new(ProxyDriver::new(strategy, a.server, bug));
    *slot = Some(driver.clone());
    let drv = m.io_register_driver("proxyfs", driver.clone())?;
    let dev = m.io_create_device(drv, "\\Device\\ProxyFs", DO_DIRECT_IO)?;
    let len = case.length as u64;
    let s = Subject {
        client: a.client,
        server: a.server,
        direction: case.direction,
        buffer: a.buffer,
        length: len,
    };
    let tr = &mut run.trace;
    if !quiet {
        tr.push(format!(
        "setup: client {} buffer {} ({} bytes, offset {:#x}) in a {}-page allocation at {}; server {}; third party exited; pool secrets freed",
        a.client, a.buffer, len, case.offset, a.alloc_len / PAGE_SIZE, a.alloc, a.server
    ));
    }
    let books0 = Books::take(m, &[a.client, a.server]);
    let events0 = m.events().len();
    let client_space = SpaceId::Process(a.client);
    let before = m
        .labels(client_space, a.alloc, a.alloc_len)
        .unwrap_or_default();
    let range_before = m.peek(client_space, a.buffer, len).unwrap_or_default();
    let by_space = SpaceId::Process(a.bystander);
    let by_before = m.labels(by_space, a.bystander_page, PAGE_SIZE);
    if let Some(w) = interleave {
        if !quiet {
            tr.push(format!(
                "interleave: thread {:?} writes {:?} at {} before step {}",
                w.tid, w.data, w.va, w.before_step
            ));
        }
        m.schedule_user_write(w)?;
    }
    let mut log = Vec::new();
    m.restart_access_log();
    // The client thread's system service: the I/O manager builds the IRP, locks
    // Irp->MdlAddress (none for zero length) and calls the proxy driver, which pends it.
    let tid = m.process(a.client)?.threads[0];
    let issued = match case.direction {
        Direction::Read => m.nt_read_file(tid, dev, None, a.buffer, case.length, 0),
        Direction::Write => m.nt_write_file(tid, dev, None, a.buffer, case.length, 0),
    };
    let issued = match issued {
        Ok(r) => r,
        Err(e) if m.crashed().is_none() => {
            if !quiet {
                tr.push(format!("issue failed: {e}"));
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let Some(irp) = issued.irp.filter(|_| issued.status == NtStatus::PENDING) else {
        if !quiet {
            tr.push(format!("issue failed: returned {}", issued.status));
        }
        return Ok(());
    };
    let dispatched = m.device(dev)?.extension.records.last().cloned();
    run.io = dispatched.map(|d| IoTrace {
        irp,
        returned: issued.status,
        flags: d.flags,
        mdl: d.mdl,
        retired_by: None,
        retire_context: None,
        completions: Vec::new(),
    });
    // The server's thread fetches the request.
    m.switch_to(Some(a.server))?;
    let Some((_, io)) = driver.fetch(m, dev)? else {
        return Err(Fault::Model(ModelError::Unsupported(format!(
            "{irp} is not queued for the server"
        ))));
    };
    if !quiet {
        tr.push(format!(
        "step {}: client thread {tid:?} issues {:?} of {len} bytes at {} ({irp}, MdlAddress {:?}); the driver pends it; the server fetches it",
        m.step(),
        case.direction,
        a.buffer,
        io.mdl
    ));
    }
    let client_frames: Vec<Pfn> = match io.mdl {
        Some(id) => m.mdl(id)?.frames().collect(),
        None => Vec::new(),
    };

    // expose, in the server's context.
    let e0 = m.step() + 1;
    let exposed = driver.expose(m, irp);
    let e1 = m.step();
    flush(m, &mut log);
    let mut wr = BTreeMap::new();
    // User-writable frames matter only for a byte the kernel fetched twice.
    if double_fetch::any_refetch(&log, (e0, e1)) {
        writers(m, &a, &mut wr);
    }
    let exposure = match exposed {
        Ok(x) => x,
        Err(e) => {
            if !quiet {
                tr.push(format!("steps {e0}..{e1}: expose faulted: {e}"));
            }
            run.findings.push(fault_finding(&e, m.step(), "expose"));
            finish_double_fetch(m, &log, &[(e0, e1)], &wr, &a, run);
            return Ok(());
        }
    };
    run.outcome.exposure = Some(exposure);
    if run.page_map.is_some() {
        let view = match exposure {
            Exposure::Mapped { va, len } => Some((va, len)),
            Exposure::Refused(_) => None,
        };
        run.page_map = Some(crate::pagemap::PageMap::capture(
            m, a.client, a.server, a.buffer, len, view,
        ));
    }
    if !quiet {
        tr.push(format!("steps {e0}..{e1}: expose -> {exposure:?}"));
    }
    let mut findings = Vec::new();
    findings.extend(check::writable_client_frames_in_server(
        m,
        &s,
        &client_frames,
        e1,
    ));
    let mut view_labels: Option<Vec<LabelSpan>> = None;
    let mut view_bytes: Option<Vec<u8>> = None;
    if let Exposure::Mapped { va, len: vlen } = exposure {
        let sp = SpaceId::Process(a.server);
        view_labels = m.labels(sp, va, vlen);
        view_bytes = m.peek(sp, va, vlen);
        if !quiet {
            run.outcome.view = view_bytes.as_deref().map(|b| (b.len() as u64, digest(b)));
        }
    }

    let mut windows = vec![(e0, e1)];
    let mut server_exits = false;
    let mut client_exits = false;
    let mut freed = false;
    let completion = match exposure {
        Exposure::Refused(st) => {
            if !quiet {
                tr.push(format!(
                    "step {}: the driver completes {irp} with {st}",
                    m.step()
                ));
            }
            Completion {
                status: st,
                information: 0,
            }
        }
        Exposure::Mapped { va, len: vlen } => {
            let mut cancel_attempt = false;
            let called = match case.fault {
                InjectedFault::ClientExits => {
                    if !quiet {
                        tr.push(format!(
                        "the client thread {tid:?} exits while the server holds {irp}: IoCancelThreadIo runs the cancel routine, retire runs in the client's context"
                    ));
                    }
                    client_exits = true;
                    cancel_attempt = true;
                    m.switch_to(Some(a.client))?;
                    m.terminate_thread(tid)
                }
                InjectedFault::Cancel => {
                    if !quiet {
                        tr.push(format!(
                        "a system thread calls IoCancelIrp({irp}) while the server holds it: the cancel routine runs retire"
                    ));
                    }
                    cancel_attempt = true;
                    m.switch_to(None)?;
                    m.io_cancel_irp(irp).map(|_| ())
                }
                InjectedFault::ServerExits => {
                    if !quiet {
                        tr.push(
                        "the server exits before doing anything; its cleanup retires the request"
                            .into(),
                    );
                    }
                    server_exits = true;
                    m.switch_to(Some(a.server))?;
                    driver.server_exit(m, dev)
                }
                _ => {
                    let r = run_server(
                        m,
                        a.server,
                        case.server,
                        case.direction,
                        va,
                        vlen,
                        case.seed,
                    )?;
                    if !quiet {
                        tr.push(format!(
                            "step {}: server ({:?}) replies {:?}",
                            m.step(),
                            case.server,
                            r.reply
                        ));
                    }
                    if r.crashed {
                        if !quiet {
                            tr.push("the server crashes; its cleanup retires the request".into());
                        }
                        server_exits = true;
                        m.switch_to(Some(a.server))?;
                        driver.server_exit(m, dev)
                    } else {
                        match case.fault {
                            InjectedFault::ClientFreesBuffer => {
                                m.virtual_free(a.client, a.alloc, 0, MEM_RELEASE)?;
                                if !quiet {
                                    tr.push(format!(
                                        "step {}: the client releases its buffer",
                                        m.step()
                                    ));
                                }
                                freed = true;
                            }
                            InjectedFault::ClientDecommitsBuffer => {
                                m.virtual_free(a.client, a.alloc, a.alloc_len, MEM_DECOMMIT)?;
                                if !quiet {
                                    tr.push(format!(
                                        "step {}: the client decommits its buffer",
                                        m.step()
                                    ));
                                }
                                freed = true;
                            }
                            _ => {}
                        }
                        m.switch_to(Some(a.server))?;
                        driver.reply(m, irp, r.reply).map(|_| ())
                    }
                }
            };
            flush(m, &mut log);
            if double_fetch::any_refetch(&log, (e0, m.step())) {
                writers(m, &a, &mut wr);
            }
            let retired = driver.retired().into_iter().rev().find(|x| x.irp == irp);
            if let Some(r) = &retired {
                windows.push(r.steps);
                if let Some(t) = run.io.as_mut() {
                    t.retired_by = Some(r.by);
                    t.retire_context = Some(r.context);
                }
            }
            let completion = match retired.map(|r| (r.steps, r.by, r.result)) {
                Some(((r0, r1), by, Ok(c))) => {
                    if !quiet {
                        tr.push(format!("steps {r0}..{r1}: retire ({by}) -> {c:?}"));
                    }
                    Some(c)
                }
                Some(((r0, r1), by, Err(e))) => {
                    if !quiet {
                        tr.push(format!("steps {r0}..{r1}: retire ({by}) faulted: {e}"));
                    }
                    run.findings.extend(findings);
                    run.findings.push(fault_finding(&e, m.step(), "retire"));
                    finish_double_fetch(m, &log, &windows, &wr, &a, run);
                    return Ok(());
                }
                None => None,
            };
            called?;
            if cancel_attempt {
                let still_held = driver.held().contains(&irp);
                if still_held {
                    findings.push(Finding::new(
                        BugClass::LockLeak,
                        Rule::Protocol,
                        Some(m.step()),
                        format!(
                            "{irp} was cancelled while the server held it, yet it is still pending: the driver ignores cancellation (a hung server keeps the client's pages locked forever)"
                        ),
                    ));
                }
                // The server answers late, with STATUS_CANCELLED; a driver that no longer
                // holds the request must drop the reply.
                m.switch_to(Some(a.server))?;
                let late = driver.reply(m, irp, CANCELLED_REPLY)?;
                if !quiet {
tr.push(format!(
                    "step {}: the server replies late; the driver {}",
                    m.step(),
                    if late.is_some() {
                        "retires and completes the request now"
                    } else {
                        "drops the reply"
                    }
                ));
}
                flush(m, &mut log);
                if let Some(r) = driver.retired().into_iter().rev().find(|x| x.irp == irp) {
                    if !windows.contains(&r.steps) {
                        windows.push(r.steps);
                        if let Some(t) = run.io.as_mut() {
                            t.retired_by = Some(r.by);
                            t.retire_context = Some(r.context);
                        }
                    }
                }
                late.or(completion)
            } else {
                completion
            }
            .unwrap_or(Completion {
                status: NtStatus::PENDING,
                information: 0,
            })
        }
    };
    run.outcome.completion = Some(completion);
    if server_exits {
        m.terminate_process(a.server)?;
        if !quiet {
            tr.push(format!("step {}: the server process is gone", m.step()));
        }
    }
    if client_exits {
        m.terminate_process(a.client)?;
        if !quiet {
            tr.push(format!("step {}: the client process is gone", m.step()));
        }
    }
    m.switch_to(None)?;
    let completions: Vec<_> = m
        .io_completions()
        .iter()
        .filter(|c| c.irp == irp)
        .cloned()
        .collect();
    if !quiet {
        tr.push(format!(
            "step {}: {irp} completed {} time(s) by IoCompleteRequest: {:?}",
            m.step(),
            completions.len(),
            completions.last().map(|c| (c.status, c.information))
        ));
    }
    if completions.is_empty() && m.crashed().is_none() {
        findings.push(Finding::new(
            BugClass::LockLeak,
            Rule::Protocol,
            Some(m.step()),
            format!("{irp} never completed: the client's pages stay locked"),
        ));
    }
    if let Some(t) = run.io.as_mut() {
        t.completions = completions;
    }
    flush(m, &mut log);
    let step = m.step();

    // The oracle, after completion.
    findings.extend(check::server_reads(&log, &s));
    if let Some(pm) = run.page_map.as_mut() {
        pm.add_reads(&log, a.server);
    }
    let ok = nt_success(completion.status);
    if case.direction == Direction::Read && !client_exits && !freed {
        let delivered = if ok {
            completion.information.min(len)
        } else {
            0
        };
        if let Some(after) = m.labels(client_space, a.alloc, a.alloc_len) {
            findings.extend(check::client_after(
                &before, &after, a.alloc, &s, delivered, step,
            ));
        }
        if ok {
            if let Exposure::Mapped { va, .. } = exposure {
                let expected = pattern(len, |i| server_byte(case.seed, i));
                findings.extend(check::delivery_read(
                    m,
                    &s,
                    va,
                    completion.information,
                    &expected,
                    step,
                ));
            }
        }
    }
    if case.direction == Direction::Write {
        if !client_exits && !freed {
            if let Some(after) = m.labels(client_space, a.alloc, a.alloc_len) {
                findings.extend(check::client_after(&before, &after, a.alloc, &s, 0, step));
            }
        }
        if let Exposure::Mapped { len: vlen, .. } = exposure {
            findings.extend(check::delivery_write(
                &s,
                vlen,
                view_labels.as_deref(),
                view_bytes.as_deref(),
                &range_before,
                e1,
            ));
        }
    }
    if m.labels(by_space, a.bystander_page, PAGE_SIZE) != by_before {
        findings.push(Finding::new(
            BugClass::PartialPageExposure,
            Rule::Integrity,
            Some(step),
            "a bystander process's page changed",
        ));
    }
    findings.extend(hygiene::events_since(m, events0));
    findings.extend(Books::take(m, &[a.client, a.server]).compare(
        &books0,
        step,
        "after completion",
    ));
    run.findings.extend(findings);
    finish_double_fetch(m, &log, &windows, &wr, &a, run);

    // Both processes exit; then nothing may be left.
    for pid in [a.server, a.client] {
        if m.process(pid)?.is_alive() {
            if let Err(e) = m.terminate_process(pid) {
                if m.crashed().is_none() {
                    return Err(e);
                }
            }
        }
    }
    let step = m.step();
    run.trace
        .push(format!("step {step}: both processes have exited"));
    let exit_findings = hygiene::after_exit(m, step);
    for f in exit_findings {
        if !run
            .findings
            .iter()
            .any(|g| g.kind == f.kind && g.rule == f.rule)
        {
            run.findings.push(f);
        }
    }
    let _ = (a.bystander, &a.second);
    Ok(())
}

/// Whether `IoAllocateMdl` can describe the case's buffer: a zero-length request needs
/// no MDL; otherwise the length must be below 2 GiB and, past the fixed-size 23-page
/// block, `MmSizeOfMdl` must fit in 0xFFFF bytes ([semantics §1.3], [invariant 2]). The
/// buffer's page offset is the case's offset modulo the page size (its allocation is
/// page-aligned).
///
/// [semantics §1.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.3
/// [invariant 2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-2
fn describable(case: &Case) -> bool {
    let (va, len) = (Va::new(case.offset as u64), case.length as u64);
    len == 0
        || (len < 0x8000_0000
            && (span_pages(va, len) <= crate::mdl::MDL_FIXED_SIZE_PAGES
                || crate::addr::size_of_mdl(va, len) <= 0xFFFF))
}

/// A stable digest of bytes for outcome comparison: FNV-1a's step over little-endian
/// 64-bit words in four independent lanes (32-byte blocks: four multiplies in flight
/// instead of one chain), the lanes then folded in order, then the remaining words and
/// bytes.
pub fn digest(b: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    let word = |w: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        u64::from_le_bytes(a)
    };
    let mut blocks = b.chunks_exact(32);
    let mut lanes = [BASIS, BASIS ^ 1, BASIS ^ 2, BASIS ^ 3];
    for blk in &mut blocks {
        for (k, l) in lanes.iter_mut().enumerate() {
            *l = (*l ^ word(&blk[8 * k..8 * k + 8])).wrapping_mul(PRIME);
        }
    }
    let mut h = lanes.iter().fold(BASIS, |h, l| (h ^ l).wrapping_mul(PRIME));
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        h = (h ^ word(w)).wrapping_mul(PRIME);
    }
    words
        .remainder()
        .iter()
        .fold(h, |h, x| (h ^ *x as u64).wrapping_mul(PRIME))
}

/// FNV-1a, 64 bits: a stable digest of bytes.
pub fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ *x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn finish_double_fetch(
    m: &Machine,
    log: &[crate::log::Access],
    windows: &[(u64, u64)],
    wr: &BTreeMap<Pfn, (Pid, Va)>,
    a: &Actors,
    run: &mut CaseRun,
) {
    let writable: BTreeSet<Pfn> = wr.keys().copied().collect();
    for w in windows {
        let Some(pair) = double_fetch::find(log, *w, &writable) else {
            continue;
        };
        let mut f = Finding::new(
            BugClass::DoubleFetch,
            Rule::DoubleFetch,
            Some(pair.second),
            format!(
                "the kernel fetched byte {:#x} of {} (user-writable) at step {} and again at step {}",
                pair.offset, pair.pfn, pair.first, pair.second
            ),
        );
        f.addresses.push((SpaceId::System, pair.va));
        let writer = wr
            .get(&pair.pfn)
            .and_then(|(pid, page)| a.second.get(pid).map(|t| (pid, page, *t)));
        if let Some((pid, page, tid)) = writer {
            let va = page.wrapping_add(pair.offset as u64);
            let cur = m
                .frame_bytes(pair.pfn)
                .and_then(|b| b.get(pair.offset as usize).copied())
                .unwrap_or(0);
            f.addresses.push((SpaceId::Process(*pid), va));
            run.double_fetch = Some((
                pair,
                Writer {
                    tid,
                    va,
                    value: cur ^ 0xFF,
                },
            ));
        }
        run.findings.push(f);
        return;
    }
}
