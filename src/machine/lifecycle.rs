//! Process and thread lifecycle, in one place: creation, `PsGetProcessExitStatus` and
//! `PsIsThreadTerminating`, thread exit (`PspExitThread`) and process exit
//! (`NtTerminateProcess`: I/O rundown, address-space teardown, deletion with the
//! locked-pages check, [semantics §6]). The subsystems keep their own parts of an exit:
//! the I/O manager runs a thread's I/O down (`cancel_thread_io`, `rundown_process_io`
//! in `src/io/rundown.rs`), the memory manager tears an address space down
//! (`clean_address_space` in `src/mm/exit.rs`); this module orders them.
//!
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use super::{Machine, ids_exhausted};
use crate::bugcheck::{BugCheckCode, process_has_locked_pages};
use crate::fault::Result;
use crate::mdl::MdlId;
use crate::process::{Process, ProcessState};
use crate::space::{AddressSpace, Pid, Tid};

impl Machine {
    /// Creates a process with one thread and an empty user address space.
    ///
    /// # Examples
    /// ```
    /// use mdlsim::{Config, Machine};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let p = m.create_process("client").unwrap();
    /// assert!(m.process(p).unwrap().is_alive());
    /// ```
    pub fn create_process(&mut self, name: &str) -> Result<Pid> {
        self.enter("PspCreateProcess")?;
        let pid = Pid(self.next_pid);
        self.next_pid = self.next_pid.checked_add(4).ok_or(ids_exhausted())?;
        let tid = self.new_thread(pid)?;
        self.processes.insert(
            pid,
            Process {
                pid,
                name: name.to_string(),
                state: ProcessState::Running,
                space: AddressSpace::default(),
                number_of_locked_pages: 0,
                threads: vec![tid],
                created_step: self.step,
            },
        );
        Ok(pid)
    }

    /// Creates another thread in a running process (for double-fetch and cancellation scenarios).
    ///
    /// # Errors
    /// `Status(STATUS_PROCESS_IS_TERMINATING)` for a process that is exiting.
    pub fn create_thread(&mut self, pid: Pid) -> Result<Tid> {
        self.enter("PspCreateThread")?;
        self.live_process(pid)?;
        let tid = self.new_thread(pid)?;
        if let Some(p) = self.processes.get_mut(&pid) {
            p.threads.push(tid);
        }
        Ok(tid)
    }

    /// `PsGetProcessExitStatus`: `STATUS_PENDING` while the process runs; once its exit
    /// has begun, its exit status. The model's `NtTerminateProcess` takes no exit code,
    /// so an exiting or exited process reports `STATUS_SUCCESS`. What a driver checks
    /// before it attaches to a process it holds a reference on (its address space, and
    /// every user mapping in it, goes at exit). A query: it takes no step.
    ///
    /// # Errors
    /// [`ModelError::NoSuchProcess`](crate::ModelError::NoSuchProcess).
    #[doc(alias = "PsGetProcessExitStatus")]
    pub fn ps_get_process_exit_status(&self, pid: Pid) -> Result<crate::status::NtStatus> {
        self.alive()?;
        Ok(match self.process(pid)?.state {
            ProcessState::Running => crate::status::NtStatus::PENDING,
            _ => crate::status::NtStatus::SUCCESS,
        })
    }

    /// `PsIsThreadTerminating`: whether `tid`'s exit has begun (its own exit, or its
    /// process's), or it is gone. What a cancel routine checks to tell a request
    /// cancelled because its thread is exiting from one cancelled by `IoCancelIrp`. A
    /// query: it takes no step.
    ///
    /// # Errors
    /// [`ModelError::NoSuchThread`](crate::ModelError::NoSuchThread).
    #[doc(alias = "PsIsThreadTerminating")]
    pub fn ps_is_thread_terminating(&self, tid: Tid) -> Result<bool> {
        self.alive()?;
        let t = self.thread(tid)?;
        Ok(!t.alive || t.terminating || !self.process(t.pid)?.is_alive())
    }

    /// Terminates a process: marks it terminating, tears down its address space
    /// (a locked page loses its owner's share but survives, in Transition, until
    /// its MDL is unlocked — [invariant 12]), then deletes it.
    ///
    /// Microsoft documents the call as [`ZwTerminateProcess`][`NtTerminateProcess`].
    ///
    /// Windows, not ReactOS ([semantics §6], [§9]): deleting a process whose
    /// `NumberOfLockedPages` is not zero bug-checks `PROCESS_HAS_LOCKED_PAGES (0x76)`
    /// with P1 0, P2 the process, P3 the count; with locked-page tracking
    /// (`TrackLockedPages`, or Verifier's Pool Tracking on Vista and later:
    /// [`crate::Config::tracks_locked_pages_at_exit`]) it is
    /// `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB)` with P1 the lock tracking structure
    /// (the model keeps none: it gives the address of the MDL the tracker tracks, as for
    /// `SYSTEM_PTE_MISUSE`'s trackers), P2 0, P3 the MDL and P4 its pages (Microsoft's
    /// [0xCB page]).
    /// A user-mode MDL mapping still in the process is removed with the address space
    /// and recorded as an event ([invariant 9]).
    ///
    /// Before the address space goes, each thread's I/O is run down (`IoCancelThreadIo`,
    /// [semantics §6]): its IRPs are cancelled and waited for on the simulated clock, up to
    /// five minutes each. An IRP still outstanding then is disassociated: the address
    /// space is torn down (its locked pages survive, in Transition), but the process is
    /// **not deleted** — it stays [`ProcessState::RundownFailed`], half torn down, until
    /// every disassociated IRP has completed (then it is deleted, with the check below).
    ///
    /// # Errors
    /// The bug checks above; `Status(STATUS_PROCESS_IS_TERMINATING)` if it is already exiting.
    ///
    /// [invariant 12]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-12
    /// [`NtTerminateProcess`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntddk/nf-ntddk-zwterminateprocess
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    /// [§9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    /// [invariant 9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-9
    /// [0xCB page]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xcb--driver-left-locked-pages-in-process
    #[doc(alias = "NtTerminateProcess")]
    pub fn terminate_process(&mut self, pid: Pid) -> Result<()> {
        self.enter("NtTerminateProcess")?;
        self.live_process(pid)?;
        self.exit_process(pid)
    }

    /// The body of process exit (also reached when its last thread exits).
    pub(crate) fn exit_process(&mut self, pid: Pid) -> Result<()> {
        self.process_mut(pid)?.state = ProcessState::Terminating;
        let rundown_failed = self.rundown_process_io(pid)?;
        if rundown_failed {
            self.mm().clean_address_space(pid)?;
            return self.end_process(pid, ProcessState::RundownFailed);
        }
        self.teardown_process(pid)
    }

    /// Tears down the address space of a terminating process and deletes it.
    pub(crate) fn teardown_process(&mut self, pid: Pid) -> Result<()> {
        self.mm().clean_address_space(pid)?;
        self.delete_process_checked(pid)
    }

    /// Process deletion: the locked-pages check (0x76 / 0xCB), then the process is gone.
    pub(crate) fn delete_process_checked(&mut self, pid: Pid) -> Result<()> {
        let locked = self.process(pid)?.number_of_locked_pages;
        if locked != 0 {
            if self.config.tracks_locked_pages_at_exit() {
                let (mdl, pages) = self.first_lock_charged_to(pid);
                let mdl_va = mdl.map_or(0, |m| m.address());
                // P1 the tracker: the model's stand-in is the tracked MDL's address.
                return Err(self.bug_check(
                    BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
                    [mdl_va, 0, mdl_va, pages],
                    format!(
                        "{pid} deleted with {locked} locked page(s); {} still holds {pages}",
                        mdl.map_or("an unknown MDL".into(), |m| m.to_string())
                    ),
                ));
            }
            return Err(self.bug_check(
                BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
                [
                    process_has_locked_pages::PROCESS_EXIT_WITH_LOCKED_PAGES,
                    pid.eprocess(),
                    locked,
                    0,
                ],
                format!("{pid} deleted with {locked} locked page(s) (semantics §6, invariant 11)"),
            ));
        }
        self.finish_process_delete(pid)
    }

    pub(crate) fn finish_process_delete(&mut self, pid: Pid) -> Result<()> {
        self.end_process(pid, ProcessState::Deleted)
    }

    /// The end of a process's life (deleted, or half torn down for good): its threads
    /// are gone, it runs nowhere and no context stays attached to it.
    fn end_process(&mut self, pid: Pid, state: ProcessState) -> Result<()> {
        let threads = self.process(pid)?.threads.clone();
        for t in threads {
            if let Some(th) = self.threads.get_mut(&t) {
                th.alive = false;
            }
        }
        self.process_mut(pid)?.state = state;
        if self.running == Some(pid) {
            self.running = None;
        }
        self.attached.retain(|p| *p != Some(pid));
        self.parked_attach.remove(&Some(pid));
        for stack in self.parked_attach.values_mut() {
            stack.retain(|p| *p != Some(pid));
        }
        Ok(())
    }

    /// The MDL (live or leaked) holding locks charged to `pid`, and its page count.
    fn first_lock_charged_to(&self, pid: Pid) -> (Option<MdlId>, u64) {
        for (h, s) in self.mdls.iter() {
            if let Some(l) = &s.lock {
                if let Some((p, n)) = l.charged {
                    if p == pid {
                        return (Some(MdlId(h)), n);
                    }
                }
            }
        }
        for l in &self.leaked_locks {
            if let Some((p, n)) = l.lock.charged {
                if p == pid {
                    return (Some(l.mdl), n);
                }
            }
        }
        (None, 0)
    }

    /// `PspExitThread` for one thread: its I/O is run down (`IoCancelThreadIo`: cancel,
    /// wait up to five minutes per stuck IRP, disassociate), then it is gone. The last
    /// thread's exit is process exit ([`Machine::terminate_process`]).
    ///
    /// # Errors
    /// A dead thread is `STATUS_THREAD_IS_TERMINATING`; faults of the drivers' routines;
    /// the process-deletion bug checks when it was the last thread.
    #[doc(alias = "NtTerminateThread")]
    #[doc(alias = "PspExitThread")]
    pub fn terminate_thread(&mut self, tid: Tid) -> Result<()> {
        self.enter("NtTerminateThread")?;
        let t = self.thread(tid)?;
        if !t.alive {
            return Err(crate::fault::Fault::Status(
                crate::status::NtStatus::THREAD_IS_TERMINATING,
            ));
        }
        let pid = t.pid;
        self.live_process(pid)?;
        let others = self
            .process(pid)?
            .threads
            .iter()
            .any(|o| *o != tid && self.threads.get(o).is_some_and(|th| th.alive));
        if !others {
            return self.exit_process(pid);
        }
        if let Some(th) = self.threads.get_mut(&tid) {
            th.terminating = true;
        }
        self.cancel_thread_io(tid)?;
        if let Some(th) = self.threads.get_mut(&tid) {
            th.alive = false;
        }
        if self.io.current_thread == Some(tid) {
            self.io.current_thread = None;
        }
        Ok(())
    }

    /// A disassociated IRP of a half-torn-down process finished: once none is left,
    /// the process is deleted (with the locked-pages check).
    pub(crate) fn maybe_finish_rundown_failed(&mut self, pid: Pid) -> Result<()> {
        let left = self.io.disassociated.values().any(|p| *p == Some(pid));
        let failed = self
            .processes
            .get(&pid)
            .is_some_and(|p| p.state == ProcessState::RundownFailed);
        if failed && !left {
            self.delete_process_checked(pid)?;
        }
        Ok(())
    }
}
