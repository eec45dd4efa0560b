//! The I/O manager's objects and state: IRPs and their stack locations ([`irp`]),
//! device objects ([`device`]), the filter manager's records ([`flt`]), thread IRP lists,
//! APCs, timers and completions ([`IoState`]).
//!
//! These are data: the routines that act on them are the I/O manager's DDIs in
//! [`crate::io`], which sits above the machine because it calls driver code with the
//! [`Kernel`](crate::Kernel). The drivers and minifilters themselves (trait objects that
//! receive the `Kernel`) are registered with the machine (`src/machine/driver.rs`).

pub mod device;
pub mod flt;
pub mod irp;

use crate::space::{Pid, Tid};
use crate::status::NtStatus;
use device::{Device, DeviceId};
use irp::IrpId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// When the stage-2 completion APC runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum ApcDelivery {
    /// At once, when stage 1 queues it (the thread is assumed ready to run).
    #[default]
    Immediate,
    /// Only when the thread returns from a system service, waits during rundown, or
    /// [`Machine::ke_deliver_apcs`](crate::Machine::ke_deliver_apcs) is called — so races with stage 2 can be interleaved.
    Deferred,
}

/// What stage 2 (or the cleanup of a thread-less IRP) did with a request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IoCompletion {
    /// The IRP (freed now).
    pub irp: IrpId,
    /// Its owning thread, `None` if it had none (disassociated or kernel-built).
    pub thread: Option<Tid>,
    /// The requesting process.
    pub process: Option<Pid>,
    /// Final `IoStatus.Status` (after a faulting copy-back, the exception code).
    pub status: NtStatus,
    /// Final `IoStatus.Information`.
    pub information: u64,
    /// Bytes copied back from the SystemBuffer to `UserBuffer`.
    pub copied_back: u64,
    /// Whether the IOSB was written.
    pub iosb_written: bool,
    /// Cleaned up without copy-back or IOSB (`IopCleanupIrp`: cancelled and thread-less).
    pub cleaned_up: bool,
    /// Machine step.
    pub step: u64,
}

/// A pending timer (`KeSetTimer` with a DPC).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Timer {
    pub(crate) due_ms: u64,
    pub(crate) seq: u64,
    pub(crate) device: DeviceId,
    pub(crate) context: u64,
}

/// The I/O manager's state inside the machine.
#[derive(Clone, Debug, Default)]
pub struct IoState {
    pub(crate) devices: Vec<Device>,
    /// Each thread's IRP list (`ETHREAD.IrpList`), in issue order.
    pub(crate) thread_irps: BTreeMap<Tid, Vec<IrpId>>,
    /// Stage-2 APCs queued per thread.
    pub(crate) apcs: BTreeMap<Tid, VecDeque<IrpId>>,
    pub(crate) apc_delivery: ApcDelivery,
    pub(crate) clock_ms: u64,
    pub(crate) timers: Vec<Timer>,
    pub(crate) timer_seq: u64,
    pub(crate) completions: Vec<IoCompletion>,
    /// IRPs freed after completion (to tell a second completion from a wild handle).
    pub(crate) freed: BTreeSet<IrpId>,
    /// IRPs disassociated from their thread at rundown, with their process.
    pub(crate) disassociated: BTreeMap<IrpId, Option<Pid>>,
    pub(crate) flt: flt::FltState,
    /// The thread that last entered a system service.
    pub(crate) current_thread: Option<Tid>,
    /// The dispatch routines running, innermost last (nested by `IoCallDriver`).
    pub(crate) dispatching: Vec<Dispatching>,
    /// The step at which `IoCallDriver` first entered a driver since this was last
    /// cleared (the driver harness tells the I/O manager's own capture of a caller's
    /// buffer from the driver's fetches by it).
    pub(crate) first_dispatch_step: Option<u64>,
    /// The step at which completion's second stage (copy-back, IOSB) first ran since this
    /// was last cleared (the driver harness tells the I/O manager's writes to a caller's
    /// buffer from the driver's).
    pub(crate) first_stage2_step: Option<u64>,
}

/// A dispatch routine running for one stack location of an IRP: whether it called
/// `IoMarkIrpPending` for that location (checked against what it returns).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Dispatching {
    pub(crate) irp: IrpId,
    pub(crate) location: usize,
    pub(crate) marked: bool,
}
