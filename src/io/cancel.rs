//! Cancellation: `IoSetCancelRoutine`, `IoCancelIrp` ([semantics §6]), and races between
//! completion and cancellation as explicit, enumerable interleavings — never thread timing.
//!
//! A race is a set of atomic steps, one list per actor, and an ordering is a merge of
//! those lists. [`orderings`] lists every merge; [`run_cancel_race`] runs one scenario
//! under one ordering on a fresh machine and reports what happened, so a test can run
//! a driver under *every* interleaving and prove it correct (or show the ordering
//! that breaks it).
//!
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use super::ApcDelivery;
use super::device::DeviceId;
use super::drivers::{QueueDriver, QueueDriverBug};
use super::irp::IrpId;
use crate::bugcheck::BugCheckCode;
use crate::fault::{Fault, Result};
use crate::ids::{Pid, Tid};
use crate::machine::{Config, Machine};
use crate::space::Protection;
use crate::status::NtStatus;
use crate::vm::{MEM_COMMIT, MEM_RESERVE};
use std::sync::Arc;

impl Machine {
    /// [`IoSetCancelRoutine`]: atomically exchanges the IRP's cancel routine (`Some(device)`:
    /// that device's driver's [`super::Driver::cancel`]) and returns the previous one. A
    /// driver completing a queued IRP first clears it: `None` back means the cancel
    /// routine owns the IRP now and the driver must not complete it.
    ///
    /// # Errors
    /// A stale IRP.
    ///
    /// [`IoSetCancelRoutine`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iosetcancelroutine
    #[doc(alias = "IoSetCancelRoutine")]
    pub fn io_set_cancel_routine(
        &mut self,
        irp: IrpId,
        routine: Option<DeviceId>,
    ) -> Result<Option<DeviceId>> {
        self.enter("IoSetCancelRoutine")?;
        let i = self.irp_entry_mut(irp)?;
        Ok(std::mem::replace(&mut i.cancel_routine, routine))
    }

    /// [`IoCancelIrp`]: sets `Cancel`, swaps the cancel routine out and, if there was one,
    /// calls it; returns whether a routine was called.
    ///
    /// # Errors
    /// A cancel routine on an IRP already completed (stage 1 ran, not yet freed) is
    /// `CANCEL_STATE_IN_COMPLETED_IRP (0x48)`, P1 the IRP, P2 the routine's device
    /// ([semantics §6]). A stale IRP is a model error.
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    /// [`IoCancelIrp`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocancelirp
    #[doc(alias = "IoCancelIrp")]
    pub fn io_cancel_irp(&mut self, irp: IrpId) -> Result<bool> {
        self.enter("IoCancelIrp")?;
        self.cancel_irp(irp)
    }

    pub(crate) fn cancel_irp(&mut self, irp: IrpId) -> Result<bool> {
        let irql = self.ke_get_current_irql().0;
        let i = self.irp_entry_mut(irp)?;
        i.cancel = true;
        i.cancel_irql = irql;
        let Some(routine) = i.cancel_routine.take() else {
            return Ok(false);
        };
        if i.completed {
            return Err(self.bug_check(
                BugCheckCode::CANCEL_STATE_IN_COMPLETED_IRP,
                [irp.address(), routine.address(), 0, 0],
                format!("IoCancelIrp of {irp}: completed, yet {routine:?}'s cancel routine is set"),
            ));
        }
        let code = self.driver_code(routine)?;
        // Windows calls the routine holding the cancel spin lock, at DISPATCH_LEVEL; its
        // first act is `IoReleaseCancelSpinLock(Irp->CancelIrql)`, back to the IRQL of
        // the `IoCancelIrp` caller, where the model runs it (semantics §5.9).
        let r = code.cancel(&mut self.kernel(), routine, irp);
        self.unhandled_in_driver(r, "cancel", routine)?;
        Ok(true)
    }
}

/// One atomic step of the completion-vs-cancel race.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RaceStep {
    /// The driver's completion path takes the IRP off its queue and (if the driver is
    /// correct) clears the cancel routine with `IoSetCancelRoutine(NULL)`.
    Claim,
    /// The completion path completes the IRP (if it still may).
    Complete,
    /// Another thread calls `IoCancelIrp` (if the IRP is still on its thread's list).
    Cancel,
    /// The requesting thread runs its stage-2 completion APC.
    DeliverApc,
}

/// Every interleaving of the completer's `[Claim, Complete]`, the canceller's `[Cancel]`
/// and the requester's `[DeliverApc]`: all 12 merges that keep `Claim` before `Complete`.
pub fn orderings() -> Vec<[RaceStep; 4]> {
    use RaceStep::*;
    let all = [Claim, Complete, Cancel, DeliverApc];
    let mut out = Vec::new();
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                for d in 0..4 {
                    let idx = [a, b, c, d];
                    let mut seen = [false; 4];
                    if idx.iter().any(|&i| std::mem::replace(&mut seen[i], true)) {
                        continue;
                    }
                    let o = idx.map(|i| all[i]);
                    let pos = |s| o.iter().position(|x| *x == s);
                    if pos(Claim) < pos(Complete) {
                        out.push(o);
                    }
                }
            }
        }
    }
    out
}

/// What one interleaving produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceOutcome {
    /// The ordering run.
    pub ordering: [RaceStep; 4],
    /// The bug check, if the machine crashed.
    pub bug_check: Option<BugCheckCode>,
    /// The final status the requester saw, if the request finished.
    pub final_status: Option<NtStatus>,
    /// How many times the request finished (must be 1).
    pub completions: usize,
    /// `audit()` findings after the run (a crashed machine is not audited).
    pub audit: Vec<String>,
    /// IRPs, MDLs, pool blocks or locked pages left behind.
    pub leaks: Vec<String>,
}

/// Runs the completion-vs-cancel race for a [`QueueDriver`] with `bug` under `ordering`:
/// a user thread issues a direct-I/O read that the driver pends in a cancel-safe queue
/// with a cancel routine; then the steps run in the given order, with stage-2 APCs
/// deferred so that `DeliverApc` is a step of its own.
///
/// # Errors
/// Model errors setting up the scenario (never the race's own faults, which are
/// reported in the outcome).
pub fn run_cancel_race(bug: QueueDriverBug, ordering: [RaceStep; 4]) -> Result<RaceOutcome> {
    let mut race = CancelRace::set_up(bug)?;
    let mut result: Result<()> = Ok(());
    for step in ordering {
        if result.is_err() {
            break;
        }
        result = race.step(step);
    }
    // Whatever happened, let the thread run its APCs at the end (it returns to user mode).
    if result.is_ok() {
        result = race.m.ke_deliver_apcs(race.tid);
    }
    race.outcome(ordering, &result)
}

/// One run of [`run_cancel_race`]: the machine, the queueing device, the requesting
/// process and thread, the pended IRP, and what the completer claimed so far.
struct CancelRace {
    m: Machine,
    bug: QueueDriverBug,
    dev: DeviceId,
    app: Pid,
    tid: Tid,
    irp: IrpId,
    /// `None` before `Claim`; then the IRP the completer took off the queue, if any.
    claimed: Option<Option<IrpId>>,
}

impl CancelRace {
    /// A user thread's direct-I/O read pended by a [`QueueDriver`] with `bug`, stage-2
    /// APCs deferred.
    fn set_up(bug: QueueDriverBug) -> Result<CancelRace> {
        let mut m = Machine::new(Config::default())?;
        m.io_set_apc_delivery(ApcDelivery::Deferred)?;
        let drv = m.io_register_driver("queue", Arc::new(QueueDriver { bug }))?;
        let dev = m.io_create_device(drv, "\\Device\\Queue", super::DO_DIRECT_IO)?;
        let app = m.create_process("app")?;
        let tid = m.process(app)?.threads[0];
        let buf = m.virtual_alloc(
            app,
            None,
            0x3000,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )?;
        let r = m.nt_read_file(
            tid,
            dev,
            None,
            crate::addr::Va::new(buf.raw() + 0x80),
            0x2000,
            0,
        )?;
        let irp = r.irp.ok_or(Fault::Status(r.status))?;
        Ok(CancelRace {
            m,
            bug,
            dev,
            app,
            tid,
            irp,
            claimed: None,
        })
    }

    /// Runs one step of the ordering.
    fn step(&mut self, step: RaceStep) -> Result<()> {
        let (m, bug, irp, tid) = (&mut self.m, self.bug, self.irp, self.tid);
        match step {
            RaceStep::Claim => {
                QueueDriver::claim(&mut m.kernel(), self.dev, bug).map(|c| self.claimed = Some(c))
            }
            RaceStep::Complete => match self.claimed {
                Some(Some(i)) => QueueDriver::finish(&mut m.kernel(), i, bug),
                _ => Ok(()),
            },
            RaceStep::Cancel => {
                if m.thread_irps(tid).contains(&irp) {
                    m.io_cancel_irp(irp).map(|_| ())
                } else {
                    Ok(())
                }
            }
            RaceStep::DeliverApc => m.ke_deliver_apcs(tid),
        }
    }

    /// What the run produced, `result` being how its steps ended.
    fn outcome(&self, ordering: [RaceStep; 4], result: &Result<()>) -> Result<RaceOutcome> {
        let m = &self.m;
        let bug_check = match result {
            Err(Fault::BugCheck(b)) => Some(b.code),
            _ => None,
        };
        let completions: Vec<_> = m
            .io_completions()
            .iter()
            .filter(|c| c.irp == self.irp)
            .collect();
        let (audit, final_status, leaks) = if bug_check.is_none() {
            (
                m.audit().iter().map(|v| v.to_string()).collect(),
                completions.last().map(|c| c.status),
                self.leaks()?,
            )
        } else {
            (Vec::new(), None, Vec::new())
        };
        Ok(RaceOutcome {
            ordering,
            bug_check,
            final_status,
            completions: completions.len(),
            audit,
            leaks,
        })
    }

    /// IRPs, MDLs, pool blocks or locked pages left behind by a run that did not crash.
    fn leaks(&self) -> Result<Vec<String>> {
        let m = &self.m;
        let mut leaks = Vec::new();
        if m.irps_outstanding() != 0 {
            leaks.push(format!("{} IRP(s) outstanding", m.irps_outstanding()));
        }
        if m.mdls().count() != 0 {
            leaks.push(format!("{} MDL(s) left", m.mdls().count()));
        }
        if m.pool_allocations().count() != 0 {
            leaks.push(format!(
                "{} pool block(s) left",
                m.pool_allocations().count()
            ));
        }
        if m.process(self.app)?.number_of_locked_pages != 0 {
            leaks.push("locked pages left".into());
        }
        Ok(leaks)
    }
}

/// Runs [`run_cancel_race`] for `bug` under every ordering of [`orderings`], in order.
///
/// # Errors
/// Model errors setting up a scenario.
///
/// # Examples
/// ```
/// use mdlsim::io::cancel::run_cancel_race_everywhere;
/// use mdlsim::io::drivers::QueueDriverBug;
/// let outcomes = run_cancel_race_everywhere(QueueDriverBug::None).unwrap();
/// assert_eq!(outcomes.len(), 12);
/// assert!(outcomes.iter().all(|o| o.bug_check.is_none() && o.completions == 1 && o.leaks.is_empty()));
/// ```
pub fn run_cancel_race_everywhere(bug: QueueDriverBug) -> Result<Vec<RaceOutcome>> {
    orderings()
        .into_iter()
        .map(|o| run_cancel_race(bug, o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_race_scene_with_its_irp_still_queued_reports_what_it_holds() {
        let r = CancelRace::set_up(QueueDriverBug::None).unwrap();
        let leaks = r.leaks().unwrap();
        assert!(
            leaks.iter().any(|l| l.contains("IRP(s) outstanding")),
            "{leaks:?}"
        );
        assert!(leaks.iter().any(|l| l.contains("MDL(s) left")), "{leaks:?}");
        assert!(
            leaks.iter().any(|l| l.contains("locked pages")),
            "{leaks:?}"
        );
    }

    #[test]
    fn every_ordering_is_played_once() {
        let all = run_cancel_race_everywhere(QueueDriverBug::None).unwrap();
        assert_eq!(all.len(), orderings().len());
        assert_eq!(all.len(), 12, "Claim before Complete: 4! / 2");
        let played: Vec<_> = all.iter().map(|o| o.ordering).collect();
        assert_eq!(played, orderings());
    }
}
