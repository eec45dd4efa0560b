//! One case, played in named phases: **issue** (the client's system service; the driver
//! pends the IRP and the server fetches it), **expose** (the strategy, in the server's
//! context), **inject** (the server's work and reply, or the case's fault: cancellation,
//! an exit, a freed buffer), **retire** (what the driver's `retire` returned, and a late
//! reply after a cancellation), **judge** (the oracle over what was observed) and
//! **exit** (both processes exit; nothing may be left).
//!
//! [`CaseRunner`] holds what the phases share; [`Trace`] formats the step trace only when
//! the run is not quiet (the search loop runs quiet and replays a failure with the trace).

use super::case::digest;
use super::case::{Actors, Case, CaseRun, IoTrace};
use super::proxy::ProxyDriver;
use crate::addr::{PAGE_SIZE, Pfn, Va};
use crate::fault::{Fault, ModelError, Result};
use crate::io::{DeviceId, IrpId};
use crate::log::Access;
use crate::machine::{Machine, ScheduledWrite};
use crate::oracle::blame::fault_finding_in;
use crate::oracle::check::{self, Subject};
use crate::oracle::double_fetch;
use crate::oracle::hygiene::{self, Books};
use crate::oracle::{BugClass, Finding, Rule};
use crate::shadow::LabelSpan;
use crate::space::{Pid, SpaceId, Tid};
use crate::status::NtStatus;
use crate::strategy::{Completion, Direction, Exposure, Io, ProxyStrategy};
use std::collections::BTreeMap;
use std::sync::Arc;

mod inject;
mod judge;
mod retire;

/// The step trace of a run: lines are formatted only when the run is not quiet.
pub(super) struct Trace<'a> {
    lines: &'a mut Vec<String>,
    on: bool,
}

impl Trace<'_> {
    /// Adds the line `f` makes, unless the run is quiet (then `f` is not called).
    fn line(&mut self, f: impl FnOnce() -> String) {
        if self.on {
            self.lines.push(f());
        }
    }

    /// Adds a line also in a quiet run (the lines a quiet run has always kept).
    fn always(&mut self, line: String) {
        self.lines.push(line);
    }
}

/// What the client's allocation, the request's range and the bystander's page held
/// before the request, and the books to compare against after it.
struct Before {
    books: Books,
    events: usize,
    client_labels: Vec<LabelSpan>,
    range: Vec<u8>,
    bystander: Option<Vec<LabelSpan>>,
}

/// What `expose` produced.
struct Exposed {
    exposure: Exposure,
    /// Its first and last steps.
    window: (u64, u64),
    /// The server's view of the buffer (a mapping's labels and bytes).
    view_labels: Option<Vec<LabelSpan>>,
    view_bytes: Option<Vec<u8>>,
}

/// What the inject phase did besides the driver call.
#[derive(Default)]
struct Injected {
    server_exits: bool,
    client_exits: bool,
    freed: bool,
    cancel_attempt: bool,
    /// The server's reply, when it replied (not crashed, exited or cancelled).
    replied: Option<crate::strategy::ServerReply>,
}

/// The state the phases of one case share.
pub(super) struct CaseRunner<'a, S: ProxyStrategy + Send + 'static> {
    m: &'a mut Machine,
    a: Actors,
    case: &'a Case,
    run: &'a mut CaseRun,
    quiet: bool,
    driver: Arc<ProxyDriver<S>>,
    dev: DeviceId,
    s: Subject,
    before: Before,
    /// The access log so far.
    log: Vec<Access>,
    /// User-writable frames (collected only when the kernel fetched a byte twice).
    writers: BTreeMap<Pfn, (Pid, Va)>,
    /// The step windows of `expose` and every `retire`.
    windows: Vec<(u64, u64)>,
    findings: Vec<Finding>,
}

impl<'a, S: ProxyStrategy + Send + 'static> CaseRunner<'a, S> {
    /// Registers the proxy driver on its device and takes the "before" snapshots.
    ///
    /// # Errors
    /// Model errors registering the driver.
    pub(super) fn new(
        m: &'a mut Machine,
        a: Actors,
        driver: Arc<ProxyDriver<S>>,
        case: &'a Case,
        run: &'a mut CaseRun,
        quiet: bool,
    ) -> Result<Self> {
        m.record_ddi_calls(!quiet);
        let drv = m.io_register_driver("proxyfs", driver.clone())?;
        let dev = m.io_create_device(drv, "\\Device\\ProxyFs", crate::io::DO_DIRECT_IO)?;
        let len = case.length as u64;
        let s = Subject {
            client: a.client,
            server: a.server,
            direction: case.direction,
            buffer: a.buffer,
            length: len,
        };
        let client_space = SpaceId::Process(a.client);
        let before = Before {
            books: Books::take(m, &[a.client, a.server]),
            events: m.events().len(),
            client_labels: m
                .labels(client_space, a.alloc, a.alloc_len)
                .unwrap_or_default(),
            range: m.peek(client_space, a.buffer, len).unwrap_or_default(),
            bystander: m.labels(SpaceId::Process(a.bystander), a.bystander_page, PAGE_SIZE),
        };
        Ok(CaseRunner {
            m,
            a,
            case,
            run,
            quiet,
            driver,
            dev,
            s,
            before,
            log: Vec::new(),
            writers: BTreeMap::new(),
            windows: Vec::new(),
            findings: Vec::new(),
        })
    }

    fn trace(&mut self) -> Trace<'_> {
        Trace {
            lines: &mut self.run.trace,
            on: !self.quiet,
        }
    }

    /// Plays the phases in order.
    ///
    /// # Errors
    /// Model errors of the scenario (faults of the driver and the strategy are findings).
    pub(super) fn play(mut self, interleave: Option<ScheduledWrite>) -> Result<()> {
        let (a, case) = (self.a.clone(), self.case);
        self.trace().line(|| format!(
            "setup: client {} buffer {} ({} byte(s), offset {:#x}) in a {}-page allocation at {}; server {}; third party exited; pool secrets freed",
            a.client, a.buffer, case.length, case.offset, a.alloc_len / PAGE_SIZE, a.alloc, a.server
        ));
        if let Some(w) = interleave {
            self.trace().line(|| {
                format!(
                    "interleave: {} writes {} at {} before step {}",
                    w.tid,
                    super::display::hex_bytes(&w.data),
                    w.va,
                    w.before_step
                )
            });
            self.m.schedule_user_write(w)?;
        }
        self.m.restart_access_log();
        let Some((irp, io, tid)) = self.issue()? else {
            return Ok(());
        };
        let client_frames: Vec<Pfn> = match io.mdl {
            Some(id) => self.m.mdl(id)?.frames().collect(),
            None => Vec::new(),
        };
        let Some(exposed) = self.expose(irp, &client_frames)? else {
            return Ok(());
        };
        let completion = match exposed.exposure {
            Exposure::Refused(status) => {
                let step = self.m.step();
                self.trace()
                    .line(|| format!("step {step}: the driver completes {irp} with {status}"));
                Completion {
                    status,
                    information: 0,
                }
            }
            Exposure::Mapped { va, len } => {
                let mut inj = Injected::default();
                let called = self.inject(irp, tid, va, len, &mut inj)?;
                match self.retire(irp, exposed.window.0, called, inj.cancel_attempt)? {
                    Some(c) => {
                        self.finish_request(irp, c, &inj)?;
                        self.judge(&exposed, c, &inj);
                        return self.exit();
                    }
                    None => return Ok(()),
                }
            }
        };
        self.finish_request(irp, completion, &Injected::default())?;
        self.judge(&exposed, completion, &Injected::default());
        self.exit()
    }

    /// **issue**: the client thread's system service (the I/O manager builds the IRP, locks
    /// `Irp->MdlAddress`, none for zero length, and calls the proxy driver, which pends
    /// it); the server's thread fetches it. `None`: the request was not pended (recorded
    /// in the trace; nothing to judge).
    fn issue(&mut self) -> Result<Option<(IrpId, Io, Tid)>> {
        let (a, case) = (self.a.clone(), self.case);
        let tid = self.m.process(a.client)?.threads[0];
        let issued = match case.direction {
            Direction::Read => self
                .m
                .nt_read_file(tid, self.dev, None, a.buffer, case.length, 0),
            Direction::Write => self
                .m
                .nt_write_file(tid, self.dev, None, a.buffer, case.length, 0),
        };
        let issued = match issued {
            Ok(r) => r,
            Err(e) if self.m.crashed().is_none() => {
                self.trace().line(|| format!("issue failed: {e}"));
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(irp) = issued.irp.filter(|_| issued.status == NtStatus::PENDING) else {
            self.trace()
                .line(|| format!("issue failed: returned {}", issued.status));
            return Ok(None);
        };
        let dispatched = self.m.device(self.dev)?.extension.records.last().cloned();
        self.run.io = dispatched.map(|d| IoTrace {
            irp,
            returned: issued.status,
            flags: d.flags,
            mdl: d.mdl,
            retired_by: None,
            retire_context: None,
            completions: Vec::new(),
        });
        self.m.switch_to(Some(a.server))?;
        let Some((_, io)) = self.driver.fetch(&mut self.m.kernel(), self.dev)? else {
            return Err(Fault::Model(ModelError::Unsupported(format!(
                "{irp} is not queued for the server"
            ))));
        };
        let step = self.m.step();
        self.trace().line(|| format!(
            "step {step}: client thread ({tid}) issues a {} of {} byte(s) at {} ({irp}, MdlAddress {}); the driver pends it; the server fetches it",
            case.direction, case.length, a.buffer, io.mdl.map_or("NULL".to_string(), |m| m.to_string())
        ));
        Ok(Some((irp, io, tid)))
    }

    /// **expose**, in the server's context: the strategy's exposure, the page map, and the
    /// server's view. `None`: `expose` faulted (a finding; the case ends here).
    fn expose(&mut self, irp: IrpId, client_frames: &[Pfn]) -> Result<Option<Exposed>> {
        let e0 = self.m.step() + 1;
        let exposed = self.driver.expose(&mut self.m.kernel(), irp);
        let e1 = self.m.step();
        self.flush();
        self.windows.push((e0, e1));
        self.collect_writers_if_refetched((e0, e1));
        let exposure = match exposed {
            Ok(x) => x,
            Err(e) => {
                self.trace()
                    .line(|| format!("steps {e0}..{e1}: expose faulted: {e}"));
                self.trace_calls((e0, e1));
                let step = self.m.step();
                self.run
                    .findings
                    .push(fault_finding_in(self.m, &e, step, e0, "expose"));
                self.finish_double_fetch();
                return Ok(None);
            }
        };
        self.run.outcome.exposure = Some(exposure);
        let a = &self.a;
        if self.run.page_map.is_some() {
            let view = match exposure {
                Exposure::Mapped { va, len } => Some((va, len)),
                Exposure::Refused(_) => None,
            };
            self.run.page_map = Some(crate::pagemap::PageMap::capture(
                self.m,
                a.client,
                a.server,
                a.buffer,
                self.case.length as u64,
                view,
            ));
        }
        self.trace()
            .line(|| format!("steps {e0}..{e1}: expose -> {exposure}"));
        self.trace_calls((e0, e1));
        self.findings
            .extend(check::writable_client_frames_in_server(
                self.m,
                &self.s,
                client_frames,
                e1,
            ));
        let mut out = Exposed {
            exposure,
            window: (e0, e1),
            view_labels: None,
            view_bytes: None,
        };
        if let Exposure::Mapped { va, len } = exposure {
            let sp = SpaceId::Process(self.a.server);
            out.view_labels = self.m.labels(sp, va, len);
            out.view_bytes = self.m.peek(sp, va, len);
            if !self.quiet {
                self.run.outcome.view = out
                    .view_bytes
                    .as_deref()
                    .map(|b| (b.len() as u64, digest(b)));
            }
        }
        Ok(Some(out))
    }

    /// The request's end: the exited processes go, and the IRP must have been completed
    /// (by `IoCompleteRequest`, once).
    fn finish_request(&mut self, irp: IrpId, completion: Completion, inj: &Injected) -> Result<()> {
        self.run.outcome.completion = Some(completion);
        for (gone, pid, who) in [
            (inj.server_exits, self.a.server, "server"),
            (inj.client_exits, self.a.client, "client"),
        ] {
            if gone {
                self.m.terminate_process(pid)?;
                let step = self.m.step();
                self.trace()
                    .line(|| format!("step {step}: the {who} process is gone"));
            }
        }
        self.m.switch_to(None)?;
        let completions: Vec<_> = self
            .m
            .io_completions()
            .iter()
            .filter(|c| c.irp == irp)
            .cloned()
            .collect();
        let step = self.m.step();
        self.trace().line(|| {
            format!(
                "step {step}: {irp} completed {} time(s) by IoCompleteRequest{}",
                completions.len(),
                completions.last().map_or(String::new(), |c| format!(
                    ", last with {}, Information {}",
                    c.status, c.information
                ))
            )
        });
        if completions.is_empty() && self.m.crashed().is_none() {
            self.findings.push(Finding::new(
                BugClass::LockLeak,
                Rule::Protocol,
                Some(step),
                format!("{irp} never completed: the client's pages stay locked"),
            ));
        }
        if let Some(t) = self.run.io.as_mut() {
            t.completions = completions;
        }
        self.flush();
        Ok(())
    }

    /// **exit**: both processes exit; then nothing may be left.
    fn exit(mut self) -> Result<()> {
        for pid in [self.a.server, self.a.client] {
            if self.m.process(pid)?.is_alive() {
                if let Err(e) = self.m.terminate_process(pid) {
                    if self.m.crashed().is_none() {
                        return Err(e);
                    }
                }
            }
        }
        let step = self.m.step();
        self.trace()
            .always(format!("step {step}: both processes have exited"));
        for f in hygiene::after_exit(self.m, step) {
            if !self
                .run
                .findings
                .iter()
                .any(|g| g.kind == f.kind && g.rule == f.rule)
            {
                self.run.findings.push(f);
            }
        }
        Ok(())
    }

    /// The driver's DDI calls whose first step is in `window`, one trace line each (in
    /// call order, a nested call indented under the call it is inside).
    fn trace_calls(&mut self, (s0, s1): (u64, u64)) {
        if self.quiet {
            return;
        }
        let calls: Vec<_> = self
            .m
            .ddi_calls()
            .iter()
            .filter(|c| c.first_step >= s0 && c.first_step <= s1)
            .collect();
        let top = calls.iter().map(|c| c.depth).min().unwrap_or(0);
        for c in calls {
            let pad = "  ".repeat((c.depth - top) as usize);
            self.run.trace.push(format!("  {pad}{c}"));
        }
    }

    /// Moves the machine's access log into ours (recording continues).
    fn flush(&mut self) {
        self.log.extend(self.m.drain_access_log());
        self.m.restart_access_log();
    }

    /// User-writable frames matter only for a byte the kernel fetched twice in `window`.
    fn collect_writers_if_refetched(&mut self, window: (u64, u64)) {
        if double_fetch::any_refetch(&self.log, window) {
            writers(self.m, &self.a, &mut self.writers);
        }
    }
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
