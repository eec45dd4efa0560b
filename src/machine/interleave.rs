//! Other user threads of a client, interleaved at exact steps: a write between two kernel
//! fetches of the same byte ([`ScheduledWrite`]), a release of a buffer between a
//! driver's probe and its use ([`ScheduledRelease`]). The machine is single-stepped, so
//! "just before step s" is exact and replayable.

use super::Machine;
use crate::addr::Va;
use crate::fault::Result;
use crate::space::Tid;
use crate::vm::MEM_RELEASE;
use serde::{Deserialize, Serialize};

/// A user-mode write by another thread, performed just before the public call numbered
/// `before_step` runs: how a test interleaves a second client thread between two kernel
/// fetches of the same byte ([design.md, "protocol"][design-oracle-rules]). The machine is single-stepped, so
/// "between step s and s+1" is exact and replayable.
///
/// [design-oracle-rules]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#oracle-rules
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledWrite {
    /// The writing thread (its process's user space is written).
    pub tid: Tid,
    /// The write happens at the start of the call with this step number.
    pub before_step: u64,
    /// Where.
    pub va: Va,
    /// What.
    pub data: Vec<u8>,
}

/// A `VirtualFree(base, 0, MEM_RELEASE)` by another user thread, performed just before
/// the public call numbered `before_step` runs: how the driver harness releases the
/// caller's buffers between a driver's probe and its use of them
/// ([`crate::verify_driver::Hostile::FreeWhileDispatching`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRelease {
    /// The releasing thread (its process's region is released).
    pub tid: Tid,
    /// The release happens at the start of the call with this step number.
    pub before_step: u64,
    /// The base of the region (as `VirtualAlloc` returned it).
    pub base: Va,
}

impl Machine {
    /// Schedules a user-mode write by thread `tid` just before the call numbered
    /// `before_step` (see [`ScheduledWrite`]). A write that faults (the page is gone)
    /// is dropped, as the thread's access violation would be its own business.
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call does.
    pub fn schedule_user_write(&mut self, w: ScheduledWrite) -> Result<()> {
        self.alive()?;
        self.scheduled.push(w);
        Ok(())
    }

    /// Whether another thread's write or release runs at the start of the next call
    /// (see [`ScheduledWrite`], [`ScheduledRelease`]): a caller that keeps a copy of
    /// memory (native code's host pages) refreshes it around that call only.
    pub fn interleaving_due_next(&self) -> bool {
        let next = self.step + 1;
        self.scheduled.iter().any(|w| w.before_step == next)
            || self.releases.iter().any(|r| r.before_step == next)
    }

    /// Runs the writes and releases due at the current step (from `enter`).
    pub(super) fn run_scheduled(&mut self) {
        self.run_scheduled_writes();
        self.run_scheduled_releases();
    }

    fn run_scheduled_writes(&mut self) {
        for w in take_due(&mut self.scheduled, self.step, |w| w.before_step) {
            if let Some(pid) = self.live_user_thread(w.tid) {
                let _ = self
                    .vm()
                    .write_as(crate::vm::Who::User(pid), w.va, &w.data, false);
            }
        }
    }

    /// The process of `tid`, if the thread and its process are alive.
    fn live_user_thread(&self, tid: Tid) -> Option<crate::space::Pid> {
        let pid = self.threads.get(&tid).filter(|t| t.alive)?.pid;
        self.processes
            .get(&pid)
            .is_some_and(|p| p.is_alive())
            .then_some(pid)
    }

    /// Schedules a `VirtualFree(base, 0, MEM_RELEASE)` by thread `tid` just before the
    /// call numbered `before_step` (see [`ScheduledRelease`]). A release that fails (the
    /// region is already gone) is dropped.
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call does.
    pub fn schedule_user_release(&mut self, r: ScheduledRelease) -> Result<()> {
        self.alive()?;
        self.releases.push(r);
        Ok(())
    }

    fn run_scheduled_releases(&mut self) {
        for r in take_due(&mut self.releases, self.step, |r| r.before_step) {
            if let Some(pid) = self.live_user_thread(r.tid) {
                let _ = self.vm().virtual_free(pid, r.base, 0, MEM_RELEASE);
            }
        }
    }
}

/// Takes the entries of `list` due at `step` (by `due`), in order, and drops those whose
/// step has passed (a call numbered past them was never made: they can no longer run).
fn take_due<T>(list: &mut Vec<T>, step: u64, due: impl Fn(&T) -> u64) -> Vec<T> {
    let (now, later): (Vec<T>, Vec<T>) = std::mem::take(list)
        .into_iter()
        .filter(|e| due(e) >= step)
        .partition(|e| due(e) == step);
    *list = later;
    now
}
