//! Playing one case: the hostile client's request through the real system service, the
//! app's action while the driver holds it, completion, the app's exit; then the rules
//! ([`super::rules`]).

use super::DriverUnderTest;
use super::case::{DriverCase, Hostile, Request};
use super::rules::{self, Observed};
use super::world::World;
use crate::addr::{PAGE_SIZE, Va};
use crate::fault::{Fault, ModelError, Result};
use crate::io::{IoRequest, IrpId};
use crate::machine::calls::DdiCall;
use crate::machine::{ScheduledRelease, ScheduledWrite};
use crate::oracle::Finding;
use crate::status::NtStatus;
use crate::vm::MEM_RELEASE;

/// How long the harness waits for a pended request before the app gives up and exits
/// (the driver's timers fire meanwhile).
const WAIT_MS: u64 = 60_000;
/// The I/O manager's rundown wait at process exit, plus a second.
const RUNDOWN_MS: u64 = 5 * 60_000 + 1_000;

/// What one case did, and what the oracle found.
#[derive(Clone, Debug, Default)]
pub struct DriverRun {
    /// The findings, each with its class, rule and step.
    pub findings: Vec<Finding>,
    /// What happened, one line per event, for a reader.
    pub trace: Vec<String>,
    /// What the system service returned to the app (`None`: it faulted, or the case was
    /// not played).
    pub returned: Option<NtStatus>,
    /// The final `IoStatus` (status, information), once completed.
    pub io_status: Option<(NtStatus, u64)>,
    /// The driver's DDI calls, when recorded (the search records them for a
    /// counter-example).
    pub calls: Vec<DdiCall>,
    /// The caller's output bytes after completion (what a double-fetch proof compares).
    pub output: Vec<u8>,
    /// A double fetch seen (what the proof replays).
    pub(crate) refetch: Option<super::rules::Refetch>,
    /// The steps of the driver's touches of the caller's buffers while dispatching
    /// (where [`Hostile::FreeWhileDispatching`] can release them).
    pub(crate) touches: Vec<u64>,
}

/// Plays `case` of `dut` on a machine of `config`; `record` keeps the DDI calls.
pub fn run_case(
    dut: &DriverUnderTest,
    case: &DriverCase,
    config: &crate::Config,
    record: bool,
) -> DriverRun {
    run_with(dut, case, config, record, None)
}

/// As [`run_case`], with a write by the client's second thread scheduled before step
/// `rewrite.0` at `rewrite.1` (a double-fetch proof). A case whose app frees its buffers
/// while the driver dispatches ([`Hostile::FreeWhileDispatching`]) is played twice:
/// once to find the driver's touches of them, then with their release scheduled just
/// before one of them — the case's seed picks which, so the search reaches a release
/// after the driver's first touches succeeded, which no buffer unmapped from the start
/// gives (the machine is deterministic, so the steps are the same).
pub(super) fn run_with(
    dut: &DriverUnderTest,
    case: &DriverCase,
    config: &crate::Config,
    record: bool,
    rewrite: Option<(u64, Va, u8)>,
) -> DriverRun {
    if case.hostile != Hostile::FreeWhileDispatching {
        return play(dut, case, config, record, rewrite, None);
    }
    let touches = play(dut, case, config, false, rewrite, None).touches;
    let touch = (!touches.is_empty()).then(|| touches[case.seed as usize % touches.len()]);
    let mut run = play(dut, case, config, record, rewrite, touch);
    if touch.is_none() {
        run.trace.push(
            "the driver did not touch the caller's buffers while dispatching: nothing to release under it"
                .into(),
        );
    }
    run
}

/// One play of `case`, the caller's buffers released just before step `release` when
/// given.
fn play(
    dut: &DriverUnderTest,
    case: &DriverCase,
    config: &crate::Config,
    record: bool,
    rewrite: Option<(u64, Va, u8)>,
    release: Option<u64>,
) -> DriverRun {
    let mut run = DriverRun::default();
    let Some(&request) = dut.requests.get(case.request as usize) else {
        run.trace.push(format!(
            "not played: the driver declares no request {}",
            case.request
        ));
        return run;
    };
    let mut w = match World::build(dut, case, config) {
        Ok(w) => w,
        Err(e) => {
            run.trace
                .push(format!("not played: the scene could not be set up: {e}"));
            return run;
        }
    };
    w.m.record_ddi_calls(record);
    if let Some((step, va, byte)) = rewrite {
        let _ = w.m.schedule_user_write(ScheduledWrite {
            tid: w.writer,
            before_step: step,
            va,
            data: vec![byte],
        });
    }
    if let Some(step) = release {
        run.trace.push(format!(
            "the app's second thread releases its buffers (MEM_RELEASE) just before step {step}, where the driver touches them"
        ));
        for r in &w.regions {
            let _ = w.m.schedule_user_release(ScheduledRelease {
                tid: w.writer,
                before_step: step,
                base: r.base,
            });
        }
    }
    let mut p = Play {
        w,
        case,
        request,
        run,
        not_played: None,
        find_touches: case.hostile == Hostile::FreeWhileDispatching && release.is_none(),
    };
    p.play();
    p.run.calls = p.w.m.ddi_calls().to_vec();
    p.run
}

/// One case being played.
struct Play<'a> {
    w: World,
    case: &'a DriverCase,
    request: Request,
    run: DriverRun,
    /// The case hit a limit of the host, not of the driver (its findings are dropped).
    not_played: Option<String>,
    /// Find the driver's touches of the caller's buffers (the first play of a
    /// [`Hostile::FreeWhileDispatching`] case; no other play needs them).
    find_touches: bool,
}

impl Play<'_> {
    fn play(&mut self) {
        let mut obs = Observed::start(&mut self.w);
        obs.touches = self.find_touches.then(Vec::new);
        if self.case.hostile == Hostile::PoolExhausted {
            let _ = self.w.m.exhaust_pool(true);
            self.line(
                "the pool is exhausted: the driver's ExAllocatePool* calls return NULL".into(),
            );
        }
        if !self.case.input_words.is_empty() {
            let words: Vec<String> = self
                .case
                .input_words
                .iter()
                .map(|w| format!("{w:#x}"))
                .collect();
            self.line(format!(
                "the input starts with the words [{}]",
                words.join(", ")
            ));
        }
        let sent = self.issue();
        obs.dispatched = self.w.m.step();
        let req = match sent {
            Ok(r) => r,
            Err(f) => {
                if let Fault::Model(ModelError::HostMemoryLimit { .. }) = f {
                    self.not_played = Some(f.to_string());
                }
                self.line(format!("the request faulted: {f}"));
                obs.fault(&self.w, &f, "the request");
                return self.finish(obs);
            }
        };
        self.run.returned = Some(req.status);
        self.line(format!("the service returned {}", req.status));
        obs.returned = Some(req.status);
        obs.sent = req.irp.is_some();
        if let Some(irp) = req.irp {
            obs.completed_at_return = self.w.m.io_completion_of(irp).is_some();
            if !obs.completed_at_return {
                if let Err(f) = self.pending(irp) {
                    self.line(format!("while pending: {f}"));
                    obs.fault(&self.w, &f, "the pending request");
                }
            }
            obs.completion = self.w.m.io_completion_of(irp).cloned();
        }
        self.finish(obs)
    }

    /// The app's action while the driver holds `irp`, then the wait for completion;
    /// then, if still not completed, the app exits (cancelling it) and the I/O manager
    /// waits its five minutes.
    fn pending(&mut self, irp: IrpId) -> Result<()> {
        self.line(format!("{irp} is pending"));
        match self.case.hostile {
            Hostile::FreeBuffers => {
                self.line("the app releases its buffers".into());
                for r in self.w.regions.clone() {
                    self.w
                        .m
                        .virtual_free(self.w.client, r.base, 0, MEM_RELEASE)?;
                }
            }
            Hostile::Cancel => {
                self.line(format!("the app cancels {irp} (CancelIoEx)"));
                self.w.m.switch_to(Some(self.w.client))?;
                self.w.m.io_cancel_irp(irp)?;
            }
            Hostile::Exit => self.exit("the app exits with the request pending")?,
            _ => {}
        }
        self.w.m.ke_advance_clock(WAIT_MS)?;
        if self.w.m.io_completion_of(irp).is_none() && self.client_alive() {
            self.exit("still pending after a minute: the app exits")?;
        }
        Ok(())
    }

    /// The client process exits, and the I/O manager's rundown wait runs out.
    fn exit(&mut self, why: &str) -> Result<()> {
        self.line(why.into());
        self.w.m.terminate_process(self.w.client)?;
        self.w.m.ke_advance_clock(RUNDOWN_MS)
    }

    fn client_alive(&self) -> bool {
        self.w
            .m
            .process(self.w.client)
            .is_ok_and(|p| p.state == crate::process::ProcessState::Running)
    }

    /// The rules over what was observed, then the app's exit and the rules after it.
    fn finish(&mut self, mut obs: Observed) {
        if let Some(c) = &obs.completion {
            self.run.io_status = Some((c.status, c.information));
            self.line(format!(
                "completed: IoStatus {} Information {:#x}",
                c.status, c.information
            ));
        }
        let alive = self.client_alive();
        if alive {
            self.run.output = self.output_bytes();
        }
        let mut findings = rules::judge(&mut self.w, &mut obs, alive);
        self.run.refetch = obs.refetch;
        self.run.touches = obs.touches.take().unwrap_or_default();
        obs.crashed_before_exit = self.w.m.crashed().is_some();
        if alive && self.w.m.crashed().is_none() {
            if let Err(f) = self.exit("the app exits") {
                obs.fault(&self.w, &f, "the app's exit");
            }
        }
        findings.extend(rules::after_exit(&self.w, &mut obs));
        self.run.findings = rules::dedup(findings);
    }

    /// Sends the case's request from the client's thread.
    fn issue(&mut self) -> Result<IoRequest> {
        let w = &mut self.w;
        let (tid, dev, iosb) = (w.tid, w.device, Some(w.iosb));
        let (i, o) = (self.case.input, self.case.output);
        let null = Va::new(0);
        match self.request {
            Request::Read => {
                let b = w.output.unwrap_or(null);
                self.run.trace.push(format!("NtReadFile({o})"));
                w.m.nt_read_file(tid, dev, iosb, b, o.length, 0)
            }
            Request::Write => {
                let b = w.input.unwrap_or(null);
                self.run.trace.push(format!("NtWriteFile({i})"));
                w.m.nt_write_file(tid, dev, iosb, b, i.length, 0)
            }
            Request::NotifyDirectory { .. } => {
                let b = w.output.unwrap_or(null);
                self.run
                    .trace
                    .push(format!("NtNotifyChangeDirectoryFile({o})"));
                w.m.nt_notify_change_directory_file(tid, dev, iosb, b, o.length, 0x1)
            }
            Request::Ioctl { code, .. } => {
                self.run.trace.push(format!(
                    "NtDeviceIoControlFile({code:#x}, input {i}, output {o})"
                ));
                w.m.nt_device_io_control_file(
                    tid, dev, iosb, code, w.input, i.length, w.output, o.length,
                )
            }
        }
    }

    /// The bytes of the caller's output buffer now (at most 16 pages).
    fn output_bytes(&mut self) -> Vec<u8> {
        let Some(va) = self.w.output else {
            return Vec::new();
        };
        let len = (self.case.output.length as u64).min(16 * PAGE_SIZE);
        self.w
            .m
            .peek(crate::space::SpaceId::Process(self.w.client), va, len)
            .unwrap_or_default()
    }

    fn line(&mut self, s: String) {
        let step = self.w.m.step();
        self.run.trace.push(format!("step {step}: {s}"));
    }
}
