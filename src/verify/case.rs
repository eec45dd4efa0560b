//! One case: a self-contained, replayable description (serde) and the scenario runner
//! that plays it on a fresh machine and hands what it saw to the oracle.

use super::proxy::{ProxyDriver, ProxyDriverBug};
use super::runner::CaseRunner;
use super::server::{ServerBehaviour, client_pattern};
use crate::addr::{PAGE_SIZE, Va, span_pages};
use crate::fault::{Fault, ModelError, Result};
use crate::io::{IoCompletion, IrpFlags, IrpId};
use crate::machine::{Machine, ScheduledWrite};
use crate::oracle::double_fetch::FetchPair;
use crate::oracle::{Finding, fault_finding};
use crate::pool::{PoolType, tag};
use crate::space::{Pid, Protection, Tid};
use crate::status::NtStatus;
use crate::strategy::RetireReason;
use crate::strategy::{Completion, Direction, Exposure, ProxyStrategy, ServerReply};
use crate::vm::{MEM_COMMIT, MEM_RESERVE};
use crate::windows::WindowsVersion;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The server's reply when it exited or answers a cancelled request.
pub(super) const CANCELLED_REPLY: ServerReply = ServerReply {
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
pub(super) struct Actors {
    pub(super) client: Pid,
    pub(super) server: Pid,
    pub(super) bystander: Pid,
    pub(super) second: BTreeMap<Pid, Tid>,
    pub(super) alloc: Va,
    pub(super) alloc_len: u64,
    pub(super) buffer: Va,
    pub(super) bystander_page: Va,
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
    let r = actors.and_then(|a| match a {
        Some(a) => {
            let driver = Arc::new(ProxyDriver::new(strategy.clone(), a.server, bug));
            slot = Some(driver.clone());
            CaseRunner::new(&mut m, a, driver, case, &mut run, quiet)?.play(interleave)
        }
        None => {
            not_played(case, m.config(), &mut run);
            Ok(())
        }
    });
    if let Err(e) = r {
        let f = crate::oracle::blame::fault_finding_in(&m, &e, m.step(), 0, "scenario");
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
    client_pattern(seed, len)
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

/// Templates kept per thread. (The splice fuzz target asks for three machine
/// configurations times some 70 allocation sizes, and a few at the MDL size limit.)
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
    if !describable(case, cfg.windows) || !fits_host(case, cfg) {
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

/// A case the harness does not play, and why (its trace says it; there is no finding).
///
/// * No request can be built: `IoAllocateMdl` returns NULL for the buffer on the
///   configured Windows ([`WindowsVersion::io_allocate_mdl_fits`]: NT 5.2 refuses 2 GiB
///   or a descriptor over 0xFFFF bytes, Windows 7 and later 4 GiB − `PAGE_SIZE` or more;
///   [semantics §1.3], [invariant 2]), so the I/O manager fails the call with
///   STATUS_INSUFFICIENT_RESOURCES before any driver runs. The client's buffer is not
///   built: filling a multi-GiB allocation would exhaust the machine's RAM (a spurious
///   finding) and the host's.
/// * The buffer can be described but not built on this host: the client's allocation,
///   its fill and the template's copy would take more than the host-memory budget
///   ([`crate::Config::host_memory_limit_bytes`]; see [`fits_host`]). A limit of the
///   simulator, not of Windows: raise the budget to play such a case.
///
/// [semantics §1.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.3
/// [invariant 2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-2
fn not_played(case: &Case, cfg: &crate::Config, run: &mut CaseRun) {
    let pages = span_pages(Va::new(case.offset as u64), case.length as u64);
    if !describable(case, cfg.windows) {
        run.trace.push(format!(
            "issue failed: returned {} (IoAllocateMdl on {:?} cannot describe {} bytes at offset {:#x}: {} pages)",
            NtStatus::INSUFFICIENT_RESOURCES,
            cfg.windows,
            case.length,
            case.offset,
            pages
        ));
    } else {
        run.trace.push(format!(
            "not played: a client buffer of {} bytes ({pages} pages) needs more host memory than the budget of {} bytes allows (a limit of the simulator: raise Config::host_memory_limit_bytes to play it)",
            case.length, cfg.host_memory_limit_bytes
        ));
    }
}

/// Whether `IoAllocateMdl` can describe the case's buffer on `windows`: a zero-length
/// request needs no MDL ([`WindowsVersion::io_allocate_mdl_fits`]). The buffer's page
/// offset is the case's offset modulo the page size (its allocation is page-aligned).
fn describable(case: &Case, windows: WindowsVersion) -> bool {
    case.length == 0 || windows.io_allocate_mdl_fits(Va::new(case.offset as u64), case.length)
}

/// Whether the case's client allocation can be built within the host-memory budget: its
/// frames, the fill written into them and the prepared template it is cloned from take
/// about four times its size.
fn fits_host(case: &Case, cfg: &crate::Config) -> bool {
    let pages = span_pages(Va::new(case.offset as u64), case.length as u64) as u64 + 2;
    pages.saturating_mul(PAGE_SIZE).saturating_mul(4) <= cfg.host_memory_limit_bytes
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
