//! `FltLockUserBuffer`: a minifilter locks the buffer of the operation it is looking at,
//! so any context can reach it through an MDL (the pre-Windows 7 way to read a directory
//! notification's buffer in a post callback: the [directory change notification][design-notification]).
//!
//! [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification

use super::fltmgr::{
    CallbackData, FLTFL_CALLBACK_DATA_DIRTY, FLTFL_CALLBACK_DATA_POST_OPERATION,
    FLTFL_CALLBACK_DATA_SYSTEM_BUFFER, FltParameters,
};
use crate::addr::Va;
use crate::fault::{Fault, Result};
use crate::machine::Machine;
use crate::mdl::{LockOperation, MdlId};
use crate::status::NtStatus;

/// The buffer an operation's parameters describe: length, address, MDL, and how the
/// operation accesses it.
fn buffer_of(p: FltParameters) -> Option<(u32, Option<Va>, Option<MdlId>, LockOperation)> {
    match p {
        FltParameters::Read {
            length,
            read_buffer,
            mdl_address,
        } => Some((
            length,
            read_buffer,
            mdl_address,
            LockOperation::IoWriteAccess,
        )),
        FltParameters::Write {
            length,
            write_buffer,
            mdl_address,
        } => Some((
            length,
            write_buffer,
            mdl_address,
            LockOperation::IoReadAccess,
        )),
        FltParameters::NotifyDirectory {
            length,
            directory_buffer,
            mdl_address,
            ..
        } => Some((
            length,
            directory_buffer,
            mdl_address,
            LockOperation::IoWriteAccess,
        )),
        FltParameters::DeviceIoControl { .. } | FltParameters::Other => None,
    }
}

/// `parameters` with `mdl` as their `MdlAddress`.
fn with_mdl(p: FltParameters, mdl: MdlId) -> FltParameters {
    match p {
        FltParameters::Read {
            length,
            read_buffer,
            ..
        } => FltParameters::Read {
            length,
            read_buffer,
            mdl_address: Some(mdl),
        },
        FltParameters::Write {
            length,
            write_buffer,
            ..
        } => FltParameters::Write {
            length,
            write_buffer,
            mdl_address: Some(mdl),
        },
        FltParameters::NotifyDirectory {
            length,
            completion_filter,
            directory_buffer,
            ..
        } => FltParameters::NotifyDirectory {
            length,
            completion_filter,
            directory_buffer,
            mdl_address: Some(mdl),
        },
        other => other,
    }
}

impl Machine {
    /// [`FltLockUserBuffer`]: locks the buffer of `data`'s operation and puts an MDL for
    /// it in the parameters' `MdlAddress`; the caller never frees it. When the buffer is
    /// the IRP's own and the IRP has no MDL, the MDL goes in the IRP too, and the I/O
    /// manager unlocks and frees it at completion; otherwise (a post callback of a
    /// swapped read, whose IRP holds the swap MDL) the filter manager unlocks and frees
    /// it when it is done with the callback data ("when the callback data is freed",
    /// Microsoft's page). The pages are
    /// probed with the requestor's mode and locked in the **requestor's** process, from
    /// whatever context the callback runs in; the access is the operation's (a read or a
    /// notification writes the buffer, a write reads it). A system buffer
    /// (`FLTFL_CALLBACK_DATA_SYSTEM_BUFFER`) is described with
    /// `MmBuildMdlForNonPagedPool`. Called from a pre-operation callback and having made
    /// an MDL, it sets `FLTFL_CALLBACK_DATA_DIRTY`. It does not map the pages:
    /// `MmGetSystemAddressForMdlSafe` on the new `MdlAddress` does.
    ///
    /// The documented IRQL limit (`<= APC_LEVEL`) is not checked as such (Filter
    /// Verifier's bug check for it is not sourced); locking a user buffer above
    /// `APC_LEVEL` (a post callback at `DISPATCH_LEVEL`) is caught by the probe's touch
    /// of its pageable pages (`tests/flt_lock.rs`).
    ///
    /// Already an MDL: nothing to do. A zero length or no buffer: nothing is locked and
    /// `MdlAddress` stays NULL (the page does not say what Windows does; the caller must
    /// handle a NULL `MdlAddress` either way).
    ///
    /// # Errors
    /// `Fault::Status(STATUS_INVALID_PARAMETER)` for an operation without an MDL
    /// parameter the model describes (it models read, write and directory
    /// notification), `STATUS_INSUFFICIENT_RESOURCES` when no MDL could be allocated,
    /// the exception status of a failed probe (returned, not raised: the MDL is freed
    /// and taken out of the IRP again); what the probe and lock do to the system (a bug
    /// check at too high an IRQL).
    ///
    /// [`FltLockUserBuffer`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltlockuserbuffer
    #[doc(alias = "FltLockUserBuffer")]
    pub fn flt_lock_user_buffer(&mut self, data: &mut CallbackData) -> Result<()> {
        self.enter("FltLockUserBuffer")?;
        let Some((length, buffer, mdl, operation)) = buffer_of(data.parameters) else {
            return Err(Fault::Status(NtStatus::INVALID_PARAMETER));
        };
        let Some(buffer) = buffer.filter(|_| mdl.is_none() && length > 0) else {
            return Ok(());
        };
        let irp = data.irp;
        let i = self.irp(irp)?;
        let before = i.mdl_address;
        // The MDL goes in the IRP when the buffer is the IRP's own and it has none (the
        // I/O manager then frees it at completion); else the filter manager keeps it.
        let own = before.is_none() && super::fltmgr::own_buffer(i) == Some(buffer);
        let attach = own.then_some(irp);
        let Some(id) = self.io_allocate_mdl(buffer, length, false, false, attach)? else {
            return Err(Fault::Status(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let locked = if data.flags & FLTFL_CALLBACK_DATA_SYSTEM_BUFFER != 0 {
            self.mm_build_mdl_for_non_paged_pool(id)
        } else {
            self.lock_for_requestor(data, id, operation)
        };
        if let Err(e) = locked {
            if attach.is_some() {
                self.irp_entry_mut(irp)?.mdl_address = before;
            }
            self.io_free_mdl(id)?;
            return match e {
                Fault::Raise(status) => Err(Fault::Status(status)),
                other => Err(other),
            };
        }
        if attach.is_none() {
            data.locked.push(id);
        }
        data.parameters = with_mdl(data.parameters, id);
        if data.flags & FLTFL_CALLBACK_DATA_POST_OPERATION == 0 {
            data.flags |= FLTFL_CALLBACK_DATA_DIRTY;
        }
        Ok(())
    }

    /// Probes and locks `mdl` in the process of `data`'s requesting thread, with its mode.
    fn lock_for_requestor(
        &mut self,
        data: &CallbackData,
        mdl: MdlId,
        operation: LockOperation,
    ) -> Result<()> {
        let mode = data.requestor_mode;
        let requestor = match data.thread {
            Some(t) => Some(self.thread(t)?.pid),
            None => None,
        };
        match requestor {
            Some(pid) if Some(pid) != self.current_process() => {
                self.mm_probe_and_lock_process_pages(mdl, pid, mode, operation)
            }
            _ => self.mm_probe_and_lock_pages(mdl, mode, operation),
        }
    }
}
