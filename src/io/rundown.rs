//! The simulated clock, timers, and I/O rundown at thread and process exit ([semantics §6])
//! (the exits themselves are ordered in `src/machine/lifecycle.rs`).
//!
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use super::Timer;
use super::device::DeviceId;
use crate::events::EventKind;
use crate::fault::Result;
use crate::irql::Kirql;
use crate::machine::Machine;
use crate::space::{Pid, Tid};

/// Length of one `IoCancelThreadIo` wait (100 ms).
pub const RUNDOWN_WAIT_STEP_MS: u64 = 100;
/// Waits before an IRP is disassociated: 3000 × 100 ms = five minutes.
pub const RUNDOWN_MAX_WAITS: u64 = 3000;

impl Machine {
    /// Simulated time since boot, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.io.clock_ms
    }

    /// [`KeSetTimer`] with a DPC: after `due_in_ms` of simulated time, `device`'s driver's
    /// [`super::Driver::timer`] runs with `context` (in an arbitrary thread context:
    /// a system thread).
    ///
    /// # Errors
    /// An unknown device.
    ///
    /// [`KeSetTimer`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kesettimer
    #[doc(alias = "KeSetTimer")]
    pub fn ke_set_timer(&mut self, device: DeviceId, due_in_ms: u64, context: u64) -> Result<()> {
        self.enter("KeSetTimer")?;
        self.device(device)?;
        self.io.timer_seq += 1;
        let t = Timer {
            due_ms: self.io.clock_ms.saturating_add(due_in_ms),
            seq: self.io.timer_seq,
            device,
            context,
        };
        self.io.timers.push(t);
        Ok(())
    }

    /// Advances the simulated clock by `ms`, in 100 ms steps, firing due timers in due
    /// order (ties in the order they were set).
    ///
    /// The time taken is bounded by the timers that fire, not by `ms`: steps in which no
    /// timer is due change nothing but the clock, so they are skipped in one jump (the
    /// clock a timer routine sees is the same as if every step had been taken), and
    /// `u64::MAX` milliseconds returns at once when no timer is set.
    ///
    /// # Errors
    /// Faults of the timer routines.
    pub fn ke_advance_clock(&mut self, ms: u64) -> Result<()> {
        self.enter("KeUpdateSystemTime")?;
        let end = self.io.clock_ms.saturating_add(ms);
        while self.io.clock_ms < end {
            let now = self.io.clock_ms;
            match self.io.timers.iter().map(|t| t.due_ms).min() {
                // No timer fires before `end`: only the clock moves.
                Some(due) if due > end => self.io.clock_ms = end,
                None => self.io.clock_ms = end,
                // Skip the whole steps that end before the next timer is due.
                Some(due) if due > now.saturating_add(RUNDOWN_WAIT_STEP_MS) => {
                    let idle = (due - now - 1) / RUNDOWN_WAIT_STEP_MS;
                    self.io.clock_ms = now + idle * RUNDOWN_WAIT_STEP_MS;
                }
                Some(_) => self.tick(RUNDOWN_WAIT_STEP_MS.min(end - now))?,
            }
        }
        Ok(())
    }

    fn tick(&mut self, ms: u64) -> Result<()> {
        self.io.clock_ms = self.io.clock_ms.saturating_add(ms);
        loop {
            let now = self.io.clock_ms;
            let due = self
                .io
                .timers
                .iter()
                .enumerate()
                .filter(|(_, t)| t.due_ms <= now)
                .min_by_key(|(_, t)| (t.due_ms, t.seq))
                .map(|(i, _)| i);
            let Some(i) = due else { break };
            let t = self.io.timers.remove(i);
            let saved = (self.running, std::mem::take(&mut self.attached));
            self.running = None;
            let code = self.driver_code(t.device)?;
            // A timer DPC runs at DISPATCH_LEVEL (semantics §5.9).
            let r = self.at_irql(Kirql::DISPATCH_LEVEL, |m| {
                code.timer(&mut m.kernel(), t.device, t.context)
            });
            self.running = saved.0;
            self.attached = saved.1;
            self.unhandled_in_driver(r, "timer", t.device)?;
        }
        Ok(())
    }

    /// `IoCancelThreadIo` for an exiting thread: cancels every IRP on its list, then waits
    /// in 100 ms steps (the clock advances, timers fire, the thread's completion APCs run)
    /// until the list is empty. After 3000 waits (five minutes) the first remaining IRP
    /// is disassociated (`Tail.Overlay.Thread = NULL`, [`EventKind::IrpDisassociated`] —
    /// Windows logs `IO_DRIVER_CANCEL_TIMEOUT`) and the count restarts, so each stuck IRP
    /// costs five minutes (Windows; ReactOS's counter wraps, [semantics §9]). Returns the
    /// IRPs it disassociated.
    ///
    /// [semantics §9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    pub(crate) fn cancel_thread_io(&mut self, tid: Tid) -> Result<Vec<super::IrpId>> {
        for irp in self.thread_irps(tid) {
            if self.irps.get(irp.0).is_some_and(|i| !i.completed) {
                self.cancel_irp(irp)?;
            }
        }
        self.deliver_apcs(tid)?;
        let mut waits = 0u64;
        let mut gone = Vec::new();
        while let Some(&first) = self.io.thread_irps.get(&tid).and_then(|l| l.first()) {
            // Waits in which no timer is due and no completion is queued for the thread
            // change nothing but the clock and the count: they are taken in one jump, up
            // to the wait that reaches the disassociation count (a stuck IRP costs one
            // jump, not 3000 waits; the clock and every later wait are as if each had
            // been taken).
            if self.io.apcs.get(&tid).is_none_or(|q| q.is_empty()) {
                let now = self.io.clock_ms;
                let idle = match self.io.timers.iter().map(|t| t.due_ms).min() {
                    None => u64::MAX,
                    Some(due) if due > now.saturating_add(RUNDOWN_WAIT_STEP_MS) => {
                        (due - now - 1) / RUNDOWN_WAIT_STEP_MS
                    }
                    Some(_) => 0,
                };
                let k = idle.min(RUNDOWN_MAX_WAITS.saturating_sub(waits + 1));
                if k > 0 {
                    // What each skipped wait's `deliver_apcs` does with nothing to deliver.
                    self.io.apcs.retain(|_, q| !q.is_empty());
                    self.io.clock_ms = now.saturating_add(k * RUNDOWN_WAIT_STEP_MS);
                    waits += k;
                    continue;
                }
            }
            self.tick(RUNDOWN_WAIT_STEP_MS)?;
            self.deliver_apcs(tid)?;
            waits += 1;
            if waits >= RUNDOWN_MAX_WAITS && self.thread_irps(tid).first() == Some(&first) {
                let pid = self.irp(first)?.process;
                self.unqueue_irp_from_thread(first);
                if let Ok(i) = self.irp_entry_mut(first) {
                    i.thread = None;
                }
                self.io.disassociated.insert(first, pid);
                self.event(
                    EventKind::IrpDisassociated,
                    None,
                    None,
                    format!(
                        "{first} still outstanding after five minutes of rundown of {tid}: \
                         disassociated (IO_DRIVER_CANCEL_TIMEOUT); its pages stay locked"
                    ),
                );
                gone.push(first);
                waits = 0;
            }
        }
        Ok(gone)
    }

    /// The I/O part of process exit: runs down every thread's I/O. True if an IRP had to
    /// be disassociated (I/O rundown failure).
    pub(crate) fn rundown_process_io(&mut self, pid: Pid) -> Result<bool> {
        let threads = self.process(pid)?.threads.clone();
        for t in threads {
            self.cancel_thread_io(t)?;
        }
        // Any IRP of the process disassociated now or at an earlier thread's exit.
        Ok(self.io.disassociated.values().any(|p| *p == Some(pid)))
    }
}
