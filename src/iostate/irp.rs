//! The IRP: flags, stack locations, parameters ([semantics §5.1]).
//!
//! [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1

use super::device::DeviceId;
use crate::addr::Va;
use crate::arena::Handle;
use crate::ids::Birth;
use crate::mdl::{AccessMode, MdlId};
use crate::space::{Pid, Tid};
use crate::status::NtStatus;
use bitflags::bitflags;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `IRP_MJ_READ` (0x03).
pub const IRP_MJ_READ: u8 = 0x03;
/// `IRP_MJ_WRITE` (0x04).
pub const IRP_MJ_WRITE: u8 = 0x04;
/// `IRP_MJ_DIRECTORY_CONTROL` (0x0C).
pub const IRP_MJ_DIRECTORY_CONTROL: u8 = 0x0C;
/// `IRP_MJ_FILE_SYSTEM_CONTROL` (0x0D).
pub const IRP_MJ_FILE_SYSTEM_CONTROL: u8 = 0x0D;
/// `IRP_MJ_DEVICE_CONTROL` (0x0E).
pub const IRP_MJ_DEVICE_CONTROL: u8 = 0x0E;
/// `IRP_MN_NOTIFY_CHANGE_DIRECTORY` (0x02), minor of `IRP_MJ_DIRECTORY_CONTROL`.
pub const IRP_MN_NOTIFY_CHANGE_DIRECTORY: u8 = 0x02;

/// `SL_PENDING_RETURNED` (0x01): `IoMarkIrpPending` was called at this location.
pub const SL_PENDING_RETURNED: u8 = 0x01;
/// `IRP_QUOTA_CHARGED` (`AllocationFlags`): the IRP's pool was charged to the caller's
/// quota.
pub const IRP_QUOTA_CHARGED: u8 = 0x01;
/// `IRP_ALLOCATED_MUST_SUCCEED` (`AllocationFlags`).
pub const IRP_ALLOCATED_MUST_SUCCEED: u8 = 0x02;
/// `IRP_ALLOCATED_FIXED_SIZE` (`AllocationFlags`): what `IoAllocateIrp(1, FALSE)` sets on
/// Windows, and keeps across `IoReuseIrp` (Wine's `test_irp_struct`, run on Windows).
pub const IRP_ALLOCATED_FIXED_SIZE: u8 = 0x04;
/// `IRP_LOOKASIDE_ALLOCATION` (`AllocationFlags`).
pub const IRP_LOOKASIDE_ALLOCATION: u8 = 0x08;
/// `SL_INVOKE_ON_CANCEL` (0x20).
pub const SL_INVOKE_ON_CANCEL: u8 = 0x20;
/// `SL_INVOKE_ON_SUCCESS` (0x40).
pub const SL_INVOKE_ON_SUCCESS: u8 = 0x40;
/// `SL_INVOKE_ON_ERROR` (0x80).
pub const SL_INVOKE_ON_ERROR: u8 = 0x80;

bitflags! {
    /// `IRP.Flags`, exact values of `iotypes.h` ([semantics §5.1]).
    ///
    /// [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
    pub struct IrpFlags: u32 {
        /// `IRP_NOCACHE`.
        const NOCACHE = 0x1;
        /// `IRP_PAGING_IO`.
        const PAGING_IO = 0x2;
        /// `IRP_SYNCHRONOUS_API`.
        const SYNCHRONOUS_API = 0x4;
        /// `IRP_ASSOCIATED_IRP`.
        const ASSOCIATED_IRP = 0x8;
        /// `IRP_BUFFERED_IO`: `AssociatedIrp.SystemBuffer` is an I/O-manager buffer.
        const BUFFERED_IO = 0x10;
        /// `IRP_DEALLOCATE_BUFFER`: free the SystemBuffer at completion.
        const DEALLOCATE_BUFFER = 0x20;
        /// `IRP_INPUT_OPERATION` (= `IRP_SYNCHRONOUS_PAGING_IO`): copy the SystemBuffer back
        /// to `UserBuffer` at completion.
        const INPUT_OPERATION = 0x40;
        /// `IRP_CREATE_OPERATION`.
        const CREATE_OPERATION = 0x80;
        /// `IRP_READ_OPERATION`.
        const READ_OPERATION = 0x100;
        /// `IRP_WRITE_OPERATION`.
        const WRITE_OPERATION = 0x200;
        /// `IRP_CLOSE_OPERATION`.
        const CLOSE_OPERATION = 0x400;
        /// `IRP_DEFER_IO_COMPLETION`: the system service runs completion stage 2 itself.
        const DEFER_IO_COMPLETION = 0x800;
        /// `IRP_OB_QUERY_NAME`.
        const OB_QUERY_NAME = 0x1000;
        /// `IRP_HOLD_DEVICE_QUEUE`.
        const HOLD_DEVICE_QUEUE = 0x2000;
    }
}

/// A handle to an IRP in the machine's arena.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IrpId(pub(crate) Handle);

impl IrpId {
    /// An IRP handle no machine ever issues.
    pub const NEVER: IrpId = IrpId(Handle::NEVER);

    /// Where the model's IRP addresses start (the `PIRP` of arena slot 0).
    pub const BASE: u64 = 0xFFFF_D000_0000_0000;
    /// Bytes between two IRP addresses.
    pub const STRIDE: u64 = 0x200;

    /// The address the model reports for this IRP in bug-check parameters (a fake `PIRP`).
    pub const fn address(self) -> u64 {
        Self::BASE + (self.0.index as u64) * Self::STRIDE
    }
}

impl fmt::Debug for IrpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Irp#{}.{}", self.0.index, self.0.generation)
    }
}

impl fmt::Display for IrpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IRP {:#x}", self.address())
    }
}

/// `IO_STATUS_BLOCK`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct IoStatusBlock {
    /// `Status`.
    pub status: NtStatus,
    /// `Information` (bytes transferred for reads, writes and IOCTLs).
    pub information: u64,
}

impl Default for IoStatusBlock {
    fn default() -> Self {
        IoStatusBlock {
            status: NtStatus::SUCCESS,
            information: 0,
        }
    }
}

/// `IO_STACK_LOCATION.Parameters`, for the majors the model knows.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub enum Parameters {
    /// Zero-filled (not yet set up).
    #[default]
    None,
    /// `Parameters.Read`.
    Read {
        /// `Length`.
        length: u32,
        /// `ByteOffset`.
        byte_offset: u64,
    },
    /// `Parameters.Write`.
    Write {
        /// `Length`.
        length: u32,
        /// `ByteOffset`.
        byte_offset: u64,
    },
    /// `Parameters.DeviceIoControl`.
    DeviceIoControl {
        /// `OutputBufferLength`.
        output_buffer_length: u32,
        /// `InputBufferLength`.
        input_buffer_length: u32,
        /// `IoControlCode`.
        io_control_code: u32,
        /// `Type3InputBuffer` (METHOD_NEITHER: the caller's raw input pointer).
        type3_input_buffer: Option<Va>,
    },
    /// `Parameters.NotifyDirectory`.
    NotifyDirectory {
        /// `Length` of the caller's buffer.
        length: u32,
        /// `CompletionFilter`.
        completion_filter: u32,
    },
}

/// A completion routine registered with `IoSetCompletionRoutine`: the `completion`
/// method of the driver of `device` runs with `context`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct CompletionRoutine {
    /// The device whose driver's [`super::Driver::completion`](crate::io::Driver::completion) runs.
    pub device: DeviceId,
    /// The routine's context argument.
    pub context: u64,
}

/// `IO_STACK_LOCATION`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct StackLocation {
    /// `MajorFunction`.
    pub major_function: u8,
    /// `MinorFunction`.
    pub minor_function: u8,
    /// `Control` (`SL_PENDING_RETURNED`, `SL_INVOKE_ON_*`).
    pub control: u8,
    /// `Parameters`.
    pub parameters: Parameters,
    /// `DeviceObject`: set by `IoCallDriver`.
    pub device: Option<DeviceId>,
    /// `CompletionRoutine` + `Context`.
    pub completion: Option<CompletionRoutine>,
}

/// Where an IRP is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum IrpStage {
    /// Being processed by drivers.
    Active,
    /// Stage 1 done; the system service will run stage 2 itself (`IRP_DEFER_IO_COMPLETION`).
    AwaitingService,
    /// Stage 1 done; stage 2 queued as a kernel APC to the owning thread.
    ApcQueued,
    /// A completion routine returned `STATUS_MORE_PROCESSING_REQUIRED`: its owner holds it.
    Reclaimed,
}

/// The direction of a read or write request, from the client's point of view (the
/// proxy strategies and the oracle speak of requests by it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Direction {
    /// `IRP_MJ_READ`: the server produces the data, the client's buffer receives it
    /// (the I/O manager probed it for `IoWriteAccess`).
    Read,
    /// `IRP_MJ_WRITE`: the server consumes the client's data (probed for `IoReadAccess`).
    Write,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Read => "READ",
            Direction::Write => "WRITE",
        })
    }
}

/// The largest stack an IRP can have: `IRP::StackCount`, `IRP::CurrentLocation` and
/// `DEVICE_OBJECT::StackSize` are `CHAR`s (signed 8-bit), and a new IRP starts at
/// `CurrentLocation = StackCount + 1`, which must still fit (127): so 126 locations.
/// Windows does not check this (a `StackSize` of 127 wraps `CurrentLocation` to -128
/// and the next `IoCallDriver` indexes outside the IRP); the model refuses it as a
/// [`crate::fault::ModelError::Unsupported`].
pub const MAX_STACK_SIZE: u8 = 126;

/// An I/O request packet ([semantics §5]).
///
/// [semantics §5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Irp {
    /// `Flags`.
    pub flags: IrpFlags,
    /// `AssociatedIrp.SystemBuffer`.
    pub system_buffer: Option<Va>,
    /// `MdlAddress`: the head of the IRP's MDL chain (linked through `Mdl::next`).
    pub mdl_address: Option<MdlId>,
    /// `UserBuffer`.
    pub user_buffer: Option<Va>,
    /// The caller's output buffer length (what copy-back may legally write, [invariant 28]).
    ///
    /// [invariant 28]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-28
    pub user_buffer_length: u64,
    /// `UserIosb`.
    pub user_iosb: Option<Va>,
    /// `IoStatus`.
    pub io_status: IoStatusBlock,
    /// `PendingReturned`.
    pub pending_returned: bool,
    /// `Cancel`.
    pub cancel: bool,
    /// `CancelIrql`: the IRQL to return to when the cancel spin lock is released.
    /// `IoCancelIrp` stores its caller's IRQL here before it calls the cancel routine
    /// (which releases the lock with `IoReleaseCancelSpinLock(Irp->CancelIrql)`); a
    /// driver may store its own (`IoAcquireCancelSpinLock(&Irp->CancelIrql)`).
    pub cancel_irql: u8,
    /// `CancelRoutine`: the device whose driver's [`super::Driver::cancel`](crate::io::Driver::cancel) runs.
    pub cancel_routine: Option<DeviceId>,
    /// `RequestorMode`.
    pub requestor_mode: AccessMode,
    /// `Tail.Overlay.Thread` (`None`: kernel-built, or disassociated at rundown).
    pub thread: Option<Tid>,
    /// The requesting process (stage 2 runs in its address space).
    pub process: Option<Pid>,
    /// Built by a kernel component running in a system thread (`IoBuild...Request` with
    /// no process context): stage 2 runs in system context instead of being skipped.
    pub system_thread: bool,
    /// `AllocationFlags`: how the IRP was allocated ([`IRP_ALLOCATED_FIXED_SIZE`] for every
    /// IRP the model makes); `IoReuseIrp` keeps it.
    pub allocation_flags: u8,
    /// `StackCount` (a `CCHAR`: at most [`MAX_STACK_SIZE`]).
    pub stack_count: u8,
    /// `CurrentLocation` (starts at `StackCount + 1`; `IoCallDriver` decrements it).
    pub current_location: u8,
    /// The stack: location `n` (1-based, as `CurrentLocation` counts) is `stack[n - 1]`.
    pub stack: Vec<StackLocation>,
    /// Life stage.
    pub stage: IrpStage,
    /// Completed once already (stage 1 ran).
    pub completed: bool,
    /// Locations (1-based) whose dispatch returned `STATUS_PENDING` unmarked while the IRP
    /// was pending below them: the mark may still come from the completion walk
    /// (`IoMarkIrpPending` in the completion routine, or the I/O manager's own propagation
    /// when there is none), so the check waits until the walk reaches them.
    pub pending_check: Vec<u8>,
    /// Where it was allocated.
    pub birth: Birth,
    /// The driver-owned words of `Tail.Overlay`: `DriverContext[4]` (x64 0x78) and
    /// `ListEntry` (0xA8). Whoever owns the IRP keeps what it likes there (a context, the
    /// links of its own queue); the model stores them and never reads them.
    pub driver_words: [u64; 6],
}

impl Irp {
    /// Where an IOCTL's output goes back (`UserBuffer` and the length copy-back may write,
    /// [semantics §5.3], [§5.4]); with `buffered` also the METHOD_BUFFERED flags of a SystemBuffer the
    /// I/O manager allocated and frees itself (`IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER`,
    /// and `IRP_INPUT_OPERATION` when there is an output buffer to copy back to).
    ///
    /// [semantics §5.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.3
    /// [§5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
    pub(crate) fn set_ioctl_output(&mut self, output: Option<Va>, length: u32, buffered: bool) {
        if buffered {
            self.flags |= IrpFlags::BUFFERED_IO | IrpFlags::DEALLOCATE_BUFFER;
            if output.is_some() {
                self.flags |= IrpFlags::INPUT_OPERATION;
            }
        }
        self.user_buffer = output;
        self.user_buffer_length = length as u64;
    }

    /// A fresh IRP; callers check `stack_count <= MAX_STACK_SIZE` (a `CCHAR`), so
    /// `CurrentLocation = StackCount + 1` and every later increment fit.
    pub(crate) fn new(stack_count: u8, birth: Birth) -> Irp {
        let stack_count = stack_count.min(MAX_STACK_SIZE);
        Irp {
            flags: IrpFlags::empty(),
            system_buffer: None,
            mdl_address: None,
            user_buffer: None,
            user_buffer_length: 0,
            user_iosb: None,
            io_status: IoStatusBlock::default(),
            pending_returned: false,
            cancel: false,
            cancel_irql: 0,
            cancel_routine: None,
            requestor_mode: AccessMode::KernelMode,
            thread: None,
            process: None,
            system_thread: false,
            allocation_flags: IRP_ALLOCATED_FIXED_SIZE,
            stack_count,
            current_location: stack_count + 1,
            stack: vec![StackLocation::default(); stack_count as usize],
            stage: IrpStage::Active,
            pending_check: Vec::new(),
            completed: false,
            birth,
            driver_words: [0; 6],
        }
    }

    /// `IoReuseIrp`'s reinitialisation: the IRP as `IoInitializeIrp` leaves it (every
    /// field zero, `CurrentLocation` at `StackCount + 1`, an empty stack), with its
    /// `AllocationFlags` and where it was allocated kept and `IoStatus.Status` set to
    /// `status`.
    pub(crate) fn reinitialize(&mut self, status: NtStatus) {
        let mut fresh = Irp::new(self.stack_count, self.birth);
        fresh.allocation_flags = self.allocation_flags;
        fresh.io_status.status = status;
        *self = fresh;
    }

    /// `IoGetCurrentIrpStackLocation`, if the IRP has been sent to a driver.
    pub fn current_stack_location(&self) -> Option<&StackLocation> {
        let i = self.current_location as usize;
        if i == 0 || i > self.stack.len() {
            return None;
        }
        self.stack.get(i - 1)
    }

    /// `IoGetNextIrpStackLocation`, if there is one.
    pub fn next_stack_location(&self) -> Option<&StackLocation> {
        let i = self.current_location as usize;
        if i < 2 || i - 1 > self.stack.len() {
            return None;
        }
        self.stack.get(i - 2)
    }
}
