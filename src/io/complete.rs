//! `IoCompleteRequest` in two stages ([semantics §5.7], invariants [26][invariant 26]–[28][invariant 28]).
//!
//! [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
//! [invariant 26]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-26
//! [invariant 28]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-28

use super::irp::{
    IrpFlags, IrpId, IrpStage, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS,
    SL_PENDING_RETURNED,
};
use super::{ApcDelivery, IO_SYSTEM_BUFFER_TAG, IoCompletion};
use crate::bugcheck::BugCheckCode;
use crate::events::EventKind;
use crate::fault::{Fault, ModelError, Result};
use crate::machine::Machine;
use crate::mdl::MdlId;
use crate::status::NtStatus;
use crate::vm::Who;
use crate::windows::AssertSite;

/// Size of `IO_STATUS_BLOCK` on amd64 (Status padded to 8 bytes, then Information).
pub const IO_STATUS_BLOCK_SIZE: u64 = 16;

impl Machine {
    /// [`IoCompleteRequest`]: completes `irp` with the `IoStatus` the driver stored in it.
    ///
    /// Stage 1 (in the caller's context): walks the stack upward running completion
    /// routines (a `STATUS_MORE_PROCESSING_REQUIRED` return stops everything: the IRP
    /// belongs to that driver again), then **unlocks every MDL of the `MdlAddress`
    /// chain**. Stage 2 (`IopCompleteRequest`, in the requesting process's context) is
    /// left to the system service for a synchronous `IRP_DEFER_IO_COMPLETION` request,
    /// queued as a kernel APC to the owning thread otherwise (run at once under
    /// [`ApcDelivery::Immediate`]); a thread-less IRP (disassociated at rundown, or
    /// kernel-built) is cleaned up with no copy-back and no IOSB (`IopCleanupIrp`).
    ///
    /// Stage 2 copies exactly `IoStatus.Information` bytes from the SystemBuffer to
    /// `UserBuffer` for `IRP_BUFFERED_IO | IRP_INPUT_OPERATION` with a status that is not
    /// an error nor `STATUS_VERIFY_REQUIRED` (warnings copy). More than the caller's
    /// buffer is copied anyway and recorded as [`EventKind::InformationExceedsBuffer`].
    /// A copy that faults sets the status to the exception code (Windows behaviour,
    /// [semantics §9]; ReactOS would crash) and is recorded as
    /// [`EventKind::CopyBackFaulted`]. Then the SystemBuffer is freed under
    /// `IRP_DEALLOCATE_BUFFER`, the MDLs freed, the IOSB written (a fault there is
    /// ignored), the IRP taken off its thread and freed.
    ///
    /// A cancel routine still set is recorded as [`EventKind::CompletedWithCancelRoutine`]
    /// (a free build does not check; the IRP can then hit 0x48 if cancelled before it is
    /// freed).
    ///
    /// # Errors
    /// * A second completion: `MULTIPLE_IRP_COMPLETE_REQUESTS (0x44)`, P1 the IRP.
    /// * Completing with `STATUS_PENDING`: the checked build's ASSERT (0x1E); a free build
    ///   ([`crate::Config::kernel_build`], the default) completes the IRP and records
    ///   [`EventKind::CompletedWithStatusPending`].
    /// * Stage 1 unlocking a partial, non-paged or unlocked MDL: the `MmUnlockPages`
    ///   checks ([invariant 26]).
    ///
    /// [semantics §9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    /// [invariant 26]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-26
    /// [`IoCompleteRequest`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocompleterequest
    #[doc(alias = "IoCompleteRequest")]
    #[doc(alias = "IofCompleteRequest")]
    pub fn io_complete_request(&mut self, irp: IrpId) -> Result<()> {
        self.enter("IofCompleteRequest")?;
        self.check_completable(irp)?;
        {
            let i = self.irp_entry_mut(irp)?;
            i.completed = true;
            i.stage = IrpStage::Active;
        }
        if !self.run_completion_routines(irp)? {
            return Ok(());
        }
        self.finish_stage1(irp)
    }

    /// A request may be completed once, not with `STATUS_PENDING` ([invariant 27]): a
    /// second completion is 0x44 (also once freed), `STATUS_PENDING` the checked build's
    /// ASSERT (an event in a free build); a cancel routine still set is an event.
    ///
    /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
    fn check_completable(&mut self, irp: IrpId) -> Result<()> {
        let Some(i) = self.irps.get(irp.0) else {
            if self.io.freed.contains(&irp) {
                return Err(self.bug_check(
                    BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS,
                    [irp.address(), 0, 0, 0],
                    format!("IoCompleteRequest of {irp}, already completed and freed"),
                ));
            }
            return Err(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Irp,
                address: irp.address(),
            }
            .into());
        };
        if i.completed && i.stage != IrpStage::Reclaimed {
            return Err(self.bug_check(
                BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS,
                [irp.address(), 0, 0, 0],
                format!("IoCompleteRequest of {irp}, already completed (invariant 27)"),
            ));
        }
        let (pending, cancel_routine) = (i.io_status.status == NtStatus::PENDING, i.cancel_routine);
        if pending {
            let detail = format!("IoCompleteRequest of {irp} with STATUS_PENDING (invariant 27)");
            let site = AssertSite::CompleteRequestPending;
            if !self.config.kernel_build.continues_after(site) {
                return Err(self.assert_failed(detail));
            }
            self.event(
                EventKind::CompletedWithStatusPending,
                None,
                None,
                format!("{detail}: the free build skips the ASSERT"),
            );
        }
        if let Some(d) = cancel_routine {
            self.event(
                EventKind::CompletedWithCancelRoutine,
                None,
                None,
                format!("{irp} completed with {d:?}'s cancel routine still set (invariant 27)"),
            );
        }
        Ok(())
    }

    /// Stage 1's walk up the stack ([semantics §5.7]): each location's completion routine
    /// runs when its `SL_INVOKE_ON_*` bits match the status — `SL_INVOKE_ON_SUCCESS` for
    /// `NT_SUCCESS(status)`, `SL_INVOKE_ON_ERROR` for `!NT_SUCCESS(status)` (so a warning
    /// such as `STATUS_BUFFER_OVERFLOW` runs the error routines, as
    /// [`IoSetCompletionRoutine`]'s `InvokeOnSuccess` / `InvokeOnError` are documented:
    /// "based on the NT_SUCCESS macro"), `SL_INVOKE_ON_CANCEL` when `Irp->Cancel`; without
    /// one, a pending return
    /// propagates to the location above. `false`: a routine returned
    /// `STATUS_MORE_PROCESSING_REQUIRED` and the IRP belongs to its driver again.
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [`IoSetCompletionRoutine`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iosetcompletionroutine
    fn run_completion_routines(&mut self, irp: IrpId) -> Result<bool> {
        // Walk the stack upward.
        loop {
            let i = self.irp_entry_mut(irp)?;
            let n = i.current_location as usize;
            if n == 0 || n > i.stack.len() {
                break;
            }
            let loc = i.stack[n - 1];
            i.pending_returned = loc.control & SL_PENDING_RETURNED != 0;
            let deferred = i.pending_check.iter().position(|&l| l as usize == n);
            if let Some(k) = deferred {
                i.pending_check.swap_remove(k);
                if !i.pending_returned {
                    if let Some(d) = loc.device {
                        self.pending_not_marked(d, irp);
                    }
                }
            }
            let i = self.irp_entry_mut(irp)?;
            // `ZeroIrpStackLocation` of the completed location before its routine runs:
            // the routine (and the ones above) see its `Control` 0, `SL_PENDING_RETURNED`
            // included, and its parameters gone (Wine's driver.c `test_completion`, run
            // on Windows; tests/conformance/wine_completion.rs). `MajorFunction`, the
            // device and the routine itself stay.
            let done = &mut i.stack[n - 1];
            done.minor_function = 0;
            done.control = 0;
            done.parameters = Default::default();
            // Bounded: n <= stack.len() <= MAX_STACK_SIZE < u8::MAX.
            i.current_location = i.current_location.saturating_add(1);
            let status = i.io_status.status;
            let cancel = i.cancel;
            let has_upper = (i.current_location as usize) <= i.stack.len();
            let invoke = loc.completion.filter(|_| {
                (!status.is_success() && loc.control & SL_INVOKE_ON_ERROR != 0)
                    || (status.is_success() && loc.control & SL_INVOKE_ON_SUCCESS != 0)
                    || (cancel && loc.control & SL_INVOKE_ON_CANCEL != 0)
            });
            match invoke {
                Some(cr) => {
                    let code = self.driver_code(cr.device)?;
                    let r = code.completion(&mut self.kernel(), cr.device, irp, cr.context);
                    let r = self.unhandled_in_driver(r, "completion", cr.device)?;
                    if r == NtStatus::MORE_PROCESSING_REQUIRED {
                        if let Ok(i) = self.irp_entry_mut(irp) {
                            i.stage = IrpStage::Reclaimed;
                            i.completed = false;
                        }
                        return Ok(false);
                    }
                }
                None => {
                    let i = self.irp_entry_mut(irp)?;
                    if i.pending_returned && has_upper {
                        let m = i.current_location as usize;
                        i.stack[m - 1].control |= SL_PENDING_RETURNED;
                    }
                }
            }
        }
        Ok(true)
    }

    /// The end of stage 1 ([semantics §5.7]): every MDL of the chain unlocked
    /// ([invariant 26]), then stage 2 left to the system service (a synchronous
    /// `IRP_DEFER_IO_COMPLETION` request), queued as an APC to the owning thread, run now
    /// for a system thread's request, or the thread-less IRP cleaned up.
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [invariant 26]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-26
    fn finish_stage1(&mut self, irp: IrpId) -> Result<()> {
        // Stage 1, step 5: unlock every MDL of the chain.
        for mdl in self.mdl_chain(irp)? {
            self.mm().unlock_pages(mdl)?;
        }
        let i = self.irp(irp)?;
        if i.flags.contains(IrpFlags::DEFER_IO_COMPLETION)
            && !i.pending_returned
            && i.thread.is_some()
        {
            self.irp_entry_mut(irp)?.stage = IrpStage::AwaitingService;
            return Ok(());
        }
        match i.thread {
            Some(t) => {
                self.irp_entry_mut(irp)?.stage = IrpStage::ApcQueued;
                self.io.apcs.entry(t).or_default().push_back(irp);
                if self.io.apc_delivery == ApcDelivery::Immediate {
                    self.deliver_apcs(t)?;
                }
                Ok(())
            }
            // A system thread still owns its IRP, cancelled or not: stage 2 runs (only
            // a cancelled IRP with no owning thread is cleaned up, semantics §5.7 step 6).
            None if i.system_thread => self.complete_stage2(irp),
            None => self.cleanup_irp(irp),
        }
    }

    /// The MDLs of an IRP's chain, head first.
    pub(crate) fn mdl_chain(&self, irp: IrpId) -> Result<Vec<MdlId>> {
        let mut out = Vec::new();
        let mut cur = self.irp(irp)?.mdl_address;
        while let Some(m) = cur {
            if out.contains(&m) || out.len() > 4096 {
                break;
            }
            out.push(m);
            cur = self.mdls.get(m.0).and_then(|s| s.mdl.next);
        }
        Ok(out)
    }

    /// `KeDeliverApc` for `tid`: runs the stage-2 completion APCs queued to it.
    ///
    /// # Errors
    /// Faults of stage 2 (a bug check freeing a corrupted buffer, say).
    pub fn ke_deliver_apcs(&mut self, tid: crate::space::Tid) -> Result<()> {
        self.enter("KiDeliverApc")?;
        self.deliver_apcs(tid)
    }

    pub(crate) fn deliver_apcs(&mut self, tid: crate::space::Tid) -> Result<()> {
        while let Some(irp) = self.io.apcs.get_mut(&tid).and_then(|q| q.pop_front()) {
            if self.irps.get(irp.0).is_some() {
                self.complete_stage2(irp)?;
            }
        }
        self.io.apcs.retain(|_, q| !q.is_empty());
        Ok(())
    }

    /// `IopCompleteRequest`: stage 2, in the requesting process's context.
    pub(crate) fn complete_stage2(&mut self, irp: IrpId) -> Result<()> {
        let i = self.irp(irp)?.clone();
        if i.system_thread {
            self.attached.push(None);
            let r = self.stage2_in_context(irp, &i);
            self.attached.pop();
            return r;
        }
        let Some(pid) = i.process.filter(|p| self.processes.contains_key(p)) else {
            return self.cleanup_irp(irp);
        };
        if i.thread.is_none() {
            return self.cleanup_irp(irp);
        }
        self.attached.push(Some(pid));
        let r = self.stage2_in_context(irp, &i);
        self.attached.pop();
        r
    }

    fn stage2_in_context(&mut self, irp: IrpId, i: &super::Irp) -> Result<()> {
        let now = self.step;
        self.io.first_stage2_step.get_or_insert(now);
        let mut status = i.io_status.status;
        let info = i.io_status.information;
        let mut copied = 0;
        if i.flags.contains(IrpFlags::BUFFERED_IO) {
            if i.flags.contains(IrpFlags::INPUT_OPERATION)
                && status != NtStatus::VERIFY_REQUIRED
                && !status.is_error()
                && info > 0
            {
                if info > i.user_buffer_length {
                    self.event(
                        EventKind::InformationExceedsBuffer,
                        None,
                        i.user_buffer,
                        format!(
                            "{irp}: IoStatus.Information {info} exceeds the caller's buffer of {} \
                             bytes; the copy-back is not clamped (invariant 28)",
                            i.user_buffer_length
                        ),
                    );
                }
                let dst = i.user_buffer.unwrap_or(crate::addr::Va::NULL);
                let src = i.system_buffer.unwrap_or(crate::addr::Va::NULL);
                match self.vm().copy_as(Who::Kernel, dst, Who::Kernel, src, info) {
                    Ok(()) => copied = info,
                    Err(Fault::Raise(code)) => {
                        self.event(
                            EventKind::CopyBackFaulted,
                            None,
                            Some(dst),
                            format!(
                                "{irp}: copy-back to {dst} raised {code}; the request fails with it"
                            ),
                        );
                        status = code;
                    }
                    Err(e) => return Err(e),
                }
            }
            if i.flags.contains(IrpFlags::DEALLOCATE_BUFFER) {
                if let Some(sb) = i.system_buffer {
                    self.pool_free(sb, None)?;
                }
            }
        }
        for m in self.mdl_chain(irp)? {
            self.mm().free_mdl(m)?;
        }
        let mut iosb_written = false;
        // Semantics §5.7 stage 2 step 3: success/warning, or an error reported
        // asynchronously (PendingReturned); a synchronous error is returned by the service.
        if !status.is_error() || i.pending_returned {
            if let Some(iosb) = i.user_iosb {
                let mut b = [0u8; IO_STATUS_BLOCK_SIZE as usize];
                b[..4].copy_from_slice(&status.0.to_le_bytes());
                b[8..].copy_from_slice(&info.to_le_bytes());
                iosb_written = self.vm().write_as(Who::Kernel, iosb, &b, false).is_ok();
            }
        }
        self.finish_irp(irp, i, status, copied, iosb_written, false);
        Ok(())
    }

    /// `IopCleanupIrp`: frees MDLs and the SystemBuffer, no copy-back, no IOSB.
    pub(crate) fn cleanup_irp(&mut self, irp: IrpId) -> Result<()> {
        let i = self.irp(irp)?.clone();
        if i.flags.contains(IrpFlags::DEALLOCATE_BUFFER) {
            if let Some(sb) = i.system_buffer {
                self.pool_free(sb, None)?;
            }
        }
        for m in self.mdl_chain(irp)? {
            self.mm().free_mdl(m)?;
        }
        self.finish_irp(irp, &i, i.io_status.status, 0, false, true);
        if let Some(Some(pid)) = self.io.disassociated.remove(&irp) {
            self.maybe_finish_rundown_failed(pid)?;
        }
        Ok(())
    }

    fn finish_irp(
        &mut self,
        irp: IrpId,
        i: &super::Irp,
        status: NtStatus,
        copied: u64,
        iosb_written: bool,
        cleaned_up: bool,
    ) {
        self.io.completions.push(IoCompletion {
            irp,
            thread: i.thread,
            process: i.process,
            status,
            information: i.io_status.information,
            copied_back: copied,
            iosb_written,
            cleaned_up,
            step: self.step,
        });
        self.unqueue_irp_from_thread(irp);
        self.free_irp_record(irp);
    }

    /// Frees a failed-while-building IRP (`IopCleanupAfterException`, [semantics §5.6]):
    /// SystemBuffer, MDL (never locked by a raising probe), IRP. Nothing was sent.
    ///
    /// [semantics §5.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.6
    pub(crate) fn cleanup_after_exception(&mut self, irp: IrpId) -> Result<()> {
        let i = self.irp(irp)?.clone();
        if let Some(sb) = i.system_buffer {
            if self
                .pool
                .allocations()
                .any(|a| a.va == sb && a.tag == IO_SYSTEM_BUFFER_TAG)
            {
                self.pool_free(sb, None)?;
            }
        }
        for m in self.mdl_chain(irp)? {
            self.mm().free_mdl(m)?;
        }
        self.unqueue_irp_from_thread(irp);
        self.irps.remove(irp.0);
        Ok(())
    }
}
