//! The filter manager's records: callback data and its parameters, the callback
//! statuses, the `FLTFL_CALLBACK_DATA_*` flags, and the filter manager's state (the
//! minifilters themselves are registered with the machine, as drivers are).

use super::irp::{IoStatusBlock, IrpFlags, IrpId};
use crate::addr::Va;
use crate::mdl::{AccessMode, MdlId};
use crate::space::Tid;
use std::collections::BTreeMap;

/// `FLTFL_CALLBACK_DATA_IRP_OPERATION` (0x00000001).
pub const FLTFL_CALLBACK_DATA_IRP_OPERATION: u32 = 0x0000_0001;
/// `FLTFL_CALLBACK_DATA_FAST_IO_OPERATION` (0x00000002).
pub const FLTFL_CALLBACK_DATA_FAST_IO_OPERATION: u32 = 0x0000_0002;
/// `FLTFL_CALLBACK_DATA_FS_FILTER_OPERATION` (0x00000004).
pub const FLTFL_CALLBACK_DATA_FS_FILTER_OPERATION: u32 = 0x0000_0004;
/// `FLTFL_CALLBACK_DATA_SYSTEM_BUFFER` (0x00000008): the buffer is non-paged pool.
pub const FLTFL_CALLBACK_DATA_SYSTEM_BUFFER: u32 = 0x0000_0008;
/// `FLTFL_CALLBACK_DATA_GENERATED_IO` (0x00010000).
pub const FLTFL_CALLBACK_DATA_GENERATED_IO: u32 = 0x0001_0000;
/// `FLTFL_CALLBACK_DATA_REISSUED_IO` (0x00020000).
pub const FLTFL_CALLBACK_DATA_REISSUED_IO: u32 = 0x0002_0000;
/// `FLTFL_CALLBACK_DATA_DRAINING_IO` (0x00040000).
pub const FLTFL_CALLBACK_DATA_DRAINING_IO: u32 = 0x0004_0000;
/// `FLTFL_CALLBACK_DATA_POST_OPERATION` (0x00080000).
pub const FLTFL_CALLBACK_DATA_POST_OPERATION: u32 = 0x0008_0000;
/// `FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER` (0x00100000): the file system allocated a
/// new `AssociatedIrp.SystemBuffer` (Windows 7 and later; the [directory change notification][design-notification]).
///
/// [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
pub const FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER: u32 = 0x0010_0000;
/// `FLTFL_CALLBACK_DATA_DIRTY` (0x80000000).
pub const FLTFL_CALLBACK_DATA_DIRTY: u32 = 0x8000_0000;

/// `FLT_PREOP_CALLBACK_STATUS`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PreOpStatus {
    /// `FLT_PREOP_SUCCESS_WITH_CALLBACK` (0): call my post callback.
    SuccessWithCallback = 0,
    /// `FLT_PREOP_SUCCESS_NO_CALLBACK` (1).
    SuccessNoCallback = 1,
    /// `FLT_PREOP_COMPLETE` (4): the filter completed the operation with `IoStatus`.
    Complete = 4,
}

/// `FLT_POSTOP_CALLBACK_STATUS`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PostOpStatus {
    /// `FLT_POSTOP_FINISHED_PROCESSING` (0).
    FinishedProcessing = 0,
}

/// `FLT_PARAMETERS` as a minifilter sees them, buffers included.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FltParameters {
    /// `Parameters.Read`.
    Read {
        /// `Length`.
        length: u32,
        /// `ReadBuffer`.
        read_buffer: Option<Va>,
        /// `MdlAddress`.
        mdl_address: Option<MdlId>,
    },
    /// `Parameters.Write`.
    Write {
        /// `Length`.
        length: u32,
        /// `WriteBuffer`.
        write_buffer: Option<Va>,
        /// `MdlAddress`.
        mdl_address: Option<MdlId>,
    },
    /// `Parameters.DeviceIoControl`.
    DeviceIoControl {
        /// `IoControlCode`.
        io_control_code: u32,
        /// `InputBufferLength`.
        input_buffer_length: u32,
        /// `OutputBufferLength`.
        output_buffer_length: u32,
    },
    /// `Parameters.DirectoryControl.NotifyDirectory`.
    NotifyDirectory {
        /// `Length`.
        length: u32,
        /// `CompletionFilter`.
        completion_filter: u32,
        /// `DirectoryBuffer`: the caller's **user-mode** address.
        directory_buffer: Option<Va>,
        /// `MdlAddress`.
        mdl_address: Option<MdlId>,
    },
    /// Anything else.
    Other,
}

/// `FLT_CALLBACK_DATA` (with its `FLT_IO_PARAMETER_BLOCK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackData {
    /// The IRP underneath.
    pub irp: IrpId,
    /// `Flags` (`FLTFL_CALLBACK_DATA_*`).
    pub flags: u32,
    /// `Thread`: the requesting thread.
    pub thread: Option<Tid>,
    /// `RequestorMode`.
    pub requestor_mode: AccessMode,
    /// `Iopb->MajorFunction`.
    pub major_function: u8,
    /// `Iopb->MinorFunction`.
    pub minor_function: u8,
    /// `Iopb->IrpFlags`.
    pub irp_flags: IrpFlags,
    /// `Iopb->Parameters`: in the post callback, still the pre-operation snapshot.
    pub parameters: FltParameters,
    /// `IoStatus` (valid in the post callback, or set by a pre callback that completes).
    pub io_status: IoStatusBlock,
    /// The SystemBuffer the IRP was sent down with.
    pub(crate) sent_system_buffer: Option<Va>,
    /// The new SystemBuffer the file system put in, if any.
    pub(crate) new_system_buffer: Option<Va>,
    /// The `CompletionContext` a pre-operation callback hands its post-operation
    /// callback: set it in the pre callback, read it in the post callback (the filter
    /// manager keeps one per filter).
    pub completion_context: u64,
    /// Filters whose post callback is due (indices into the registration list), with
    /// the completion context each set.
    pub(crate) post_due: Vec<(usize, u64)>,
    /// A buffer swap applied to the IRP (`FltSetCallbackDataDirty` after a pre callback
    /// changed the buffer or MDL): what to restore.
    pub(crate) swap: Option<Swap>,
    /// MDLs `FltLockUserBuffer` made that the IRP does not hold (the IRP had an MDL
    /// already, or the buffer was not the IRP's own): the filter manager unlocks and
    /// frees them when it is done with the callback data.
    pub(crate) locked: Vec<crate::mdl::MdlId>,
}

/// A minifilter's buffer swap, applied to the IRP: the original parameters (what the
/// post callbacks see) and the IRP's fields the filter manager restores after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Swap {
    pub(crate) original: FltParameters,
    pub(crate) user_buffer: Option<Va>,
    pub(crate) mdl_address: Option<MdlId>,
    /// The MDL the filter put in (freed by the filter manager after the post callbacks).
    pub(crate) swapped_mdl: Option<MdlId>,
}

/// Filter-manager state.
#[derive(Clone, Debug, Default)]
pub(crate) struct FltState {
    pub(crate) data: BTreeMap<IrpId, CallbackData>,
    pub(crate) driver: Option<super::device::DriverId>,
    /// Callback data as each post-operation callback round finished, in order.
    pub(crate) finished: Vec<CallbackData>,
}
