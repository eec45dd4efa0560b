//! Process termination: address-space teardown and the locked-pages check ([semantics §6]).
//!
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use crate::bugcheck::{BugCheckCode, process_has_locked_pages};
use crate::events::EventKind;
use crate::fault::Result;
use crate::machine::Machine;
use crate::mdl::MdlId;
use crate::process::ProcessState;
use crate::space::{Pid, SpaceId, VadKind};

impl Machine {
    /// Terminates a process: marks it terminating, tears down its address space
    /// (a locked page loses its owner's share but survives, in Transition, until
    /// its MDL is unlocked — [invariant 12]), then deletes it.
    ///
    /// Microsoft documents the call as [`ZwTerminateProcess`][`NtTerminateProcess`].
    ///
    /// Windows, not ReactOS ([semantics §6], [§9]): deleting a process whose
    /// `NumberOfLockedPages` is not zero bug-checks `PROCESS_HAS_LOCKED_PAGES (0x76)`
    /// with P1 0, P2 the process, P3 the count; with `track_locked_pages` it is
    /// `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB)` with P3 the MDL and P4 its pages.
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
            self.clean_address_space(pid)?;
            let threads = self.process(pid)?.threads.clone();
            for t in threads {
                if let Some(th) = self.threads.get_mut(&t) {
                    th.alive = false;
                }
            }
            self.process_mut(pid)?.state = ProcessState::RundownFailed;
            if self.running == Some(pid) {
                self.running = None;
            }
            self.attached.retain(|p| *p != Some(pid));
            self.parked_attach.remove(&Some(pid));
            for stack in self.parked_attach.values_mut() {
                stack.retain(|p| *p != Some(pid));
            }
            return Ok(());
        }
        self.teardown_process(pid)
    }

    /// Tears down the address space of a terminating process and deletes it.
    pub(crate) fn teardown_process(&mut self, pid: Pid) -> Result<()> {
        self.clean_address_space(pid)?;
        self.delete_process_checked(pid)
    }

    /// `MmCleanProcessAddressSpace`: removes every VAD (locked pages survive in Transition).
    pub(crate) fn clean_address_space(&mut self, pid: Pid) -> Result<()> {
        let vads: Vec<(u64, Option<crate::space::MappingId>)> = self
            .process(pid)?
            .space
            .vads()
            .map(|v| {
                (
                    v.start.vpn(),
                    match v.kind {
                        VadKind::MdlMapping(m) => Some(m),
                        VadKind::Private(_) => None,
                    },
                )
            })
            .collect();
        for (vpn, mapping) in vads {
            match mapping {
                Some(mid) => {
                    let mdl = self.mapping(mid).map(|m| m.mdl);
                    self.event(
                        EventKind::UserMappingRemovedAtExit,
                        mdl,
                        Some(crate::addr::Va(vpn << 12)),
                        format!(
                            "{pid} exited with a user-mode MDL mapping still in it (invariant 9)"
                        ),
                    );
                    self.remove_mapping(mid)?;
                }
                None => {
                    let pages = self
                        .process(pid)?
                        .space
                        .vads
                        .get(&vpn)
                        .map_or(0, |v| v.pages);
                    self.drop_user_ptes(pid, vpn, pages)?;
                    self.process_mut(pid)?.space.remove_vad(vpn);
                }
            }
        }
        Ok(())
    }

    /// Process deletion: the locked-pages check (0x76 / 0xCB), then the process is gone.
    pub(crate) fn delete_process_checked(&mut self, pid: Pid) -> Result<()> {
        let locked = self.process(pid)?.number_of_locked_pages;
        if locked != 0 {
            if self.config.track_locked_pages {
                let (mdl, pages) = self.first_lock_charged_to(pid);
                return Err(self.bug_check(
                    BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
                    [0, 0, mdl.map_or(0, |m| m.address()), pages],
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
        let threads = self.process(pid)?.threads.clone();
        for t in threads {
            if let Some(th) = self.threads.get_mut(&t) {
                th.alive = false;
            }
        }
        self.process_mut(pid)?.state = ProcessState::Deleted;
        if self.running == Some(pid) {
            self.running = None;
        }
        self.attached.retain(|p| *p != Some(pid));
        self.parked_attach.remove(&Some(pid));
        for stack in self.parked_attach.values_mut() {
            stack.retain(|p| *p != Some(pid));
        }
        let _ = SpaceId::Process(pid);
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
}
