//! Driver code: the [`Driver`] and [`MiniFilter`] traits a driver implements, and their
//! registrations. They live beside the [`Kernel`] they receive: the machine owns the
//! registered code and lends the `Kernel` to it, so the three are one knot of types,
//! and the I/O manager ([`crate::io`]) that calls them sits above.

use super::Kernel;
use crate::fault::Result;
use crate::iostate::device::DeviceId;
use crate::iostate::flt::{CallbackData, PostOpStatus, PreOpStatus};
use crate::iostate::irp::{IoStatusBlock, IrpId};
use crate::status::NtStatus;
use std::fmt;
use std::sync::Arc;

/// Driver code: device set-up, dispatch, completion, cancel and timer routines.
///
/// Every routine gets the [`Kernel`] (the DDIs driver code may call, in the context the
/// routine runs in) and the device it runs for. Faults it
/// returns (a bug check, say) propagate to whoever called into the driver.
pub trait Driver: fmt::Debug + Send + Sync {
    /// The dispatch routine (`DriverObject->MajorFunction[...]`) for `irp`, whose current
    /// stack location is this device's. Returns what the dispatch routine returns:
    /// `STATUS_PENDING` after `IoMarkIrpPending`, or the status it completed the IRP with.
    ///
    /// # Errors
    /// Faults raised by the routines it calls.
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus>;

    /// The driver sets up a device it serves, right after
    /// [`Machine::io_create_device`](crate::Machine::io_create_device) made it: what a
    /// Windows driver does in `DriverEntry` or its PnP `AddDevice` routine after its own
    /// `IoCreateDevice` (allocate and initialise per-device state). The default does
    /// nothing: a Rust driver keeps its state in [`crate::io::DeviceExtension`]. What it
    /// allocates here belongs to the device, not to a request.
    ///
    /// # Errors
    /// Faults raised by the routines it calls; [`Machine::io_create_device`](crate::Machine::io_create_device) returns them.
    #[doc(alias = "AddDevice")]
    fn add_device(&self, k: &mut Kernel<'_>, device: DeviceId) -> Result<()> {
        let _ = (k, device);
        Ok(())
    }

    /// A completion routine set with [`Machine::io_set_completion_routine`](crate::Machine::io_set_completion_routine); returning
    /// `STATUS_MORE_PROCESSING_REQUIRED` stops completion (the driver owns the IRP again).
    /// The default continues completion and propagates `PendingReturned` as Microsoft's
    /// documentation requires.
    ///
    /// # Errors
    /// Faults raised by the routines it calls.
    fn completion(
        &self,
        k: &mut Kernel<'_>,
        device: DeviceId,
        irp: IrpId,
        context: u64,
    ) -> Result<NtStatus> {
        let _ = (device, context);
        if k.irp(irp)?.pending_returned {
            k.io_mark_irp_pending(irp)?;
        }
        Ok(NtStatus::SUCCESS)
    }

    /// The cancel routine set with [`Machine::io_set_cancel_routine`](crate::Machine::io_set_cancel_routine). The default is the
    /// cancel-safe-queue pattern: if the IRP is still in this device's queue, remove it and
    /// complete it with `STATUS_CANCELLED`; otherwise the completion path owns it.
    ///
    /// # Errors
    /// Faults raised by the routines it calls.
    fn cancel(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<()> {
        if !k.io_queue_remove(device, irp)? {
            return Ok(());
        }
        k.irp_mut(irp)?.io_status = IoStatusBlock {
            status: NtStatus::CANCELLED,
            information: 0,
        };
        k.io_complete_request(irp)
    }

    /// A timer set with [`Machine::ke_set_timer`](crate::Machine::ke_set_timer) expired (a timer DPC).
    ///
    /// # Errors
    /// Faults raised by the routines it calls.
    fn timer(&self, k: &mut Kernel<'_>, device: DeviceId, context: u64) -> Result<()> {
        let _ = (k, device, context);
        Ok(())
    }
}

/// A registered driver.
#[derive(Clone, Debug)]
pub(crate) struct DriverEntry {
    pub(crate) name: String,
    pub(crate) code: Arc<dyn Driver>,
}

/// A minifilter's callbacks: driver code, given the [`Kernel`].
pub trait MiniFilter: fmt::Debug + Send + Sync {
    /// The pre-operation callback. Default: pass, with a post callback.
    ///
    /// # Errors
    /// Faults of the routines it calls.
    fn pre_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PreOpStatus> {
        let _ = (k, data);
        Ok(PreOpStatus::SuccessWithCallback)
    }

    /// The post-operation callback. Default: nothing.
    ///
    /// # Errors
    /// Faults of the routines it calls.
    fn post_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PostOpStatus> {
        let _ = (k, data);
        Ok(PostOpStatus::FinishedProcessing)
    }
}

/// A registered minifilter.
#[derive(Clone, Debug)]
pub(crate) struct FilterEntry {
    pub(crate) name: String,
    pub(crate) altitude: u32,
    pub(crate) code: Arc<dyn MiniFilter>,
}
