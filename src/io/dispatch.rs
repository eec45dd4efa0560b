//! `IoCallDriver` and the stack-location routines.

use super::device::DeviceId;
use super::irp::{
    CompletionRoutine, IrpId, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS,
    SL_PENDING_RETURNED, StackLocation,
};
use crate::bugcheck::BugCheckCode;
use crate::events::EventKind;
use crate::fault::{ModelError, Result};
use crate::iostate::Dispatching;
use crate::machine::Machine;
use crate::status::NtStatus;

impl Machine {
    /// An exception that escapes a driver routine is unhandled in kernel mode:
    /// `KMODE_EXCEPTION_NOT_HANDLED (0x1E)` with P1 the exception code.
    pub(crate) fn unhandled_in_driver<T>(
        &mut self,
        r: Result<T>,
        what: &str,
        device: DeviceId,
    ) -> Result<T> {
        match r {
            Err(crate::fault::Fault::Raise(code)) => Err(self.bug_check(
                BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
                [code.0 as u64, 0, 0, 0],
                format!("{code} raised in the {what} routine of {device:?} and not handled"),
            )),
            other => other,
        }
    }

    /// [`IoCallDriver`]: moves the IRP to its next stack location, records `device` there and
    /// runs `device`'s dispatch routine; returns what the dispatch routine returned.
    ///
    /// `IoCallDriver` is a macro for [`IofCallDriver`].
    ///
    /// A dispatch returning `STATUS_PENDING` without `IoMarkIrpPending` is recorded as
    /// [`EventKind::PendingNotMarked`] (Driver Verifier 0xC9/0x23D is non-fatal). When the
    /// IRP was passed down and is pending below, the mark may legitimately come later (a
    /// filter returns `IoCallDriver`'s status and marks its location in its completion
    /// routine when `PendingReturned`, or the I/O manager propagates it when the filter
    /// set none, [semantics §5.7]): the check then runs when completion reaches the location.
    ///
    /// # Errors
    /// Forwarding past the last location is `NO_MORE_IRP_STACK_LOCATIONS (0x35)` with P1
    /// the IRP ([semantics §7]); faults of the dispatch routine propagate.
    ///
    /// [`IofCallDriver`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iofcalldriver
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    /// [`IoCallDriver`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocalldriver
    #[doc(alias = "IoCallDriver")]
    #[doc(alias = "IofCallDriver")]
    pub fn io_call_driver(&mut self, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        self.enter("IofCallDriver")?;
        self.device(device)?;
        let i = self.irp_entry_mut(irp)?;
        if i.current_location <= 1 {
            let addr = irp.address();
            return Err(self.bug_check(
                BugCheckCode::NO_MORE_IRP_STACK_LOCATIONS,
                [addr, 0, 0, 0],
                format!("IoCallDriver of {irp} to {device:?}: no stack location left"),
            ));
        }
        if i.current_location as usize > i.stack.len() + 1 {
            return Err(ModelError::Unsupported(format!(
                "{irp:?}: CurrentLocation {} beyond its {} stack locations",
                i.current_location,
                i.stack.len()
            ))
            .into());
        }
        i.current_location -= 1;
        let loc = i.current_location as usize - 1;
        if let Some(l) = i.stack.get_mut(loc) {
            l.device = Some(device);
            l.control &= !SL_PENDING_RETURNED;
        }
        let code = self.driver_code(device)?;
        let now = self.step();
        self.io.first_dispatch_step.get_or_insert(now);
        self.io.dispatching.push(Dispatching {
            irp,
            location: loc,
            marked: false,
        });
        let status = code.dispatch(&mut self.kernel(), device, irp);
        // Whether the routine itself called IoMarkIrpPending (the location's bit may also
        // come from completion propagating a lower driver's pending return).
        let called_mark = self.io.dispatching.pop().is_some_and(|d| d.marked);
        let status = self.unhandled_in_driver(status, "dispatch", device)?;
        if status != NtStatus::PENDING && called_mark {
            self.event(
                EventKind::MarkedPendingReturnedOther,
                None,
                None,
                format!("{device:?} marked {irp} pending and returned {status}"),
            );
        }
        if status == NtStatus::PENDING {
            let marked = self.irps.get(irp.0).is_some_and(|i| {
                i.stack
                    .get(loc)
                    .is_some_and(|l| l.control & SL_PENDING_RETURNED != 0)
            });
            let (still_active, below) = self.irps.get(irp.0).map_or((false, false), |i| {
                (!i.completed, (i.current_location as usize) < loc + 1)
            });
            if still_active && !marked {
                if below {
                    // Passed down and pending there: the mark comes with completion.
                    if let Some(i) = self.irps.get_mut(irp.0) {
                        i.pending_check.push(loc as u8 + 1);
                    }
                } else {
                    self.pending_not_marked(device, irp);
                }
            }
        }
        Ok(status)
    }

    /// Records [`EventKind::PendingNotMarked`] for `device`'s location of `irp`.
    pub(crate) fn pending_not_marked(&mut self, device: DeviceId, irp: IrpId) {
        self.event(
            EventKind::PendingNotMarked,
            None,
            None,
            format!("{device:?} returned STATUS_PENDING for {irp} without IoMarkIrpPending"),
        );
    }

    /// [`IoGetCurrentIrpStackLocation`]: a copy of the current stack location.
    ///
    /// # Errors
    /// An IRP not yet sent to a driver is a [`ModelError`].
    ///
    /// [`IoGetCurrentIrpStackLocation`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iogetcurrentirpstacklocation
    #[doc(alias = "IoGetCurrentIrpStackLocation")]
    pub fn io_get_current_irp_stack_location(&self, irp: IrpId) -> Result<StackLocation> {
        self.irp(irp)?
            .current_stack_location()
            .copied()
            .ok_or_else(|| {
                ModelError::Unsupported(format!("{irp:?} has no current location")).into()
            })
    }

    /// Writes the next stack location (`IoGetNextIrpStackLocation(Irp)->... = ...`),
    /// keeping its completion routine.
    ///
    /// Microsoft's documentation: [`IoGetNextIrpStackLocation`].
    ///
    /// # Errors
    /// No next location is a [`ModelError`].
    ///
    /// [`IoGetNextIrpStackLocation`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iogetnextirpstacklocation
    #[doc(alias = "IoGetNextIrpStackLocation")]
    pub fn io_set_next_irp_stack_location(&mut self, irp: IrpId, loc: StackLocation) -> Result<()> {
        self.enter("IoGetNextIrpStackLocation")?;
        let i = self.irp_entry_mut(irp)?;
        let n = i.current_location as usize;
        if n < 2 || n - 1 > i.stack.len() {
            return Err(ModelError::Unsupported(format!("{irp:?} has no next location")).into());
        }
        let slot = &mut i.stack[n - 2];
        let completion = slot.completion;
        let control =
            slot.control & (SL_INVOKE_ON_CANCEL | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_SUCCESS);
        *slot = StackLocation {
            completion,
            control,
            device: None,
            ..loc
        };
        Ok(())
    }

    /// [`IoCopyCurrentIrpStackLocationToNext`]: copies everything but the completion routine.
    ///
    /// # Errors
    /// No current or next location is a [`ModelError`].
    ///
    /// [`IoCopyCurrentIrpStackLocationToNext`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocopycurrentirpstacklocationtonext
    #[doc(alias = "IoCopyCurrentIrpStackLocationToNext")]
    pub fn io_copy_current_irp_stack_location_to_next(&mut self, irp: IrpId) -> Result<()> {
        self.enter("IoCopyCurrentIrpStackLocationToNext")?;
        let cur = self.io_get_current_irp_stack_location(irp)?;
        let i = self.irp_entry_mut(irp)?;
        let n = i.current_location as usize;
        let Some(slot) = n.checked_sub(2).and_then(|k| i.stack.get_mut(k)) else {
            return Err(ModelError::Unsupported(format!("{irp:?} has no next location")).into());
        };
        *slot = StackLocation {
            completion: None,
            control: 0,
            device: None,
            ..cur
        };
        Ok(())
    }

    /// [`IoSkipCurrentIrpStackLocation`]: the next driver reuses this location.
    ///
    /// # Errors
    /// A stale IRP.
    ///
    /// [`IoSkipCurrentIrpStackLocation`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioskipcurrentirpstacklocation
    #[doc(alias = "IoSkipCurrentIrpStackLocation")]
    pub fn io_skip_current_irp_stack_location(&mut self, irp: IrpId) -> Result<()> {
        self.enter("IoSkipCurrentIrpStackLocation")?;
        let i = self.irp_entry_mut(irp)?;
        i.current_location = i.current_location.saturating_add(1);
        Ok(())
    }

    /// [`IoSetCompletionRoutine`]: `device`'s driver's [`super::Driver::completion`] runs with
    /// `context` when the next-lower driver completes the IRP, on success, error and/or
    /// cancel as asked.
    ///
    /// # Errors
    /// No next location is a [`ModelError`].
    ///
    /// [`IoSetCompletionRoutine`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iosetcompletionroutine
    #[doc(alias = "IoSetCompletionRoutine")]
    pub fn io_set_completion_routine(
        &mut self,
        irp: IrpId,
        device: DeviceId,
        context: u64,
        on_success: bool,
        on_error: bool,
        on_cancel: bool,
    ) -> Result<()> {
        self.enter("IoSetCompletionRoutine")?;
        let i = self.irp_entry_mut(irp)?;
        let n = i.current_location as usize;
        if n < 2 || n - 1 > i.stack.len() {
            return Err(ModelError::Unsupported(format!("{irp:?} has no next location")).into());
        }
        let slot = &mut i.stack[n - 2];
        slot.completion = Some(CompletionRoutine { device, context });
        slot.control &= SL_PENDING_RETURNED;
        if on_success {
            slot.control |= SL_INVOKE_ON_SUCCESS;
        }
        if on_error {
            slot.control |= SL_INVOKE_ON_ERROR;
        }
        if on_cancel {
            slot.control |= SL_INVOKE_ON_CANCEL;
        }
        Ok(())
    }

    /// [`IoMarkIrpPending`]: sets `SL_PENDING_RETURNED` in the current location.
    ///
    /// # Errors
    /// An IRP with no current location is a [`ModelError`].
    ///
    /// [`IoMarkIrpPending`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iomarkirppending
    #[doc(alias = "IoMarkIrpPending")]
    pub fn io_mark_irp_pending(&mut self, irp: IrpId) -> Result<()> {
        self.enter("IoMarkIrpPending")?;
        let i = self.irp_entry_mut(irp)?;
        let n = i.current_location as usize;
        if n == 0 || n > i.stack.len() {
            return Err(ModelError::Unsupported(format!("{irp:?} has no current location")).into());
        }
        i.stack[n - 1].control |= SL_PENDING_RETURNED;
        if let Some(d) = self
            .io
            .dispatching
            .iter_mut()
            .rev()
            .find(|d| d.irp == irp && d.location == n - 1)
        {
            d.marked = true;
        }
        Ok(())
    }
}
