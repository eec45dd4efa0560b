//! IRPs and the I/O manager: the ops, the built-in drivers they load, and their interpretation.

use super::*;

mod apply;
#[cfg(feature = "proptest")]
mod arb;
pub mod workload;

#[cfg(feature = "proptest")]
pub use arb::{
    arb_builtin_driver, arb_device_flags, arb_io_op, arb_io_request, arb_io_workload, arb_irp_op,
};

/// IRPs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub enum IrpOp {
    /// [`Machine::io_allocate_irp`].
    IoAllocateIrp {
        /// `StackSize`.
        stack_size: u8,
    },
    /// [`Machine::io_free_irp`].
    IoFreeIrp {
        /// Which IRP.
        irp: Ix,
    },
    /// [`Machine::io_reuse_irp`].
    IoReuseIrp {
        /// Which IRP.
        irp: Ix,
        /// The `IoStatus.Status` it starts with.
        status: NtStatus,
    },
}

/// A driver built into the model that an [`IoOp::RegisterDriver`] can load.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum BuiltinDriver {
    /// [`PatternDriver`](crate::io::drivers::PatternDriver): completes every request in
    /// its dispatch routine.
    Pattern,
    /// [`QueueDriver`](crate::io::drivers::QueueDriver) with the given bug: pends every
    /// request in a cancel-safe queue.
    Queue(QueueDriverBug),
    /// [`PassThroughFilter`](crate::io::drivers::PassThroughFilter): a legacy filter
    /// passing requests down.
    PassThrough,
}

/// A minifilter that passes every operation and asks for its post callback (the
/// filter manager's defaults); what [`IoOp::FltRegisterFilter`] registers.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassMiniFilter;

impl MiniFilter for PassMiniFilter {}

/// The I/O manager: drivers and devices, user system calls, driver actions, and the
/// system's clock, cancellation and thread exit ([semantics §5], [§6]).
///
/// [semantics §5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5
/// [§6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub enum IoOp {
    /// [`Machine::io_register_driver`] of a built-in driver (appended to the driver table).
    RegisterDriver {
        /// Which driver code.
        driver: BuiltinDriver,
    },
    /// [`Machine::io_create_device`] (appended to the device table).
    CreateDevice {
        /// Which registered driver.
        driver: Ix,
        /// `DO_BUFFERED_IO` (0x4), `DO_DIRECT_IO` (0x10), neither, or (misuse) both (by
        /// name in JSON).
        #[serde(with = "crate::op::flags::device")]
        flags: u32,
    },
    /// [`Machine::io_attach_device_to_device_stack`].
    AttachDevice {
        /// The filter device.
        source: Ix,
        /// A device of the stack to attach to.
        target: Ix,
    },
    /// [`Machine::io_detach_device`].
    DetachDevice {
        /// The lower device, whose attached device is detached.
        target: Ix,
    },
    /// [`Machine::flt_register_filter`] of a [`PassMiniFilter`].
    FltRegisterFilter {
        /// Its altitude.
        altitude: u32,
    },
    /// [`Machine::flt_attach_volume`]: the filter manager above a volume's stack
    /// (its device is appended to the device table).
    FltAttachVolume {
        /// The volume device.
        volume: Ix,
    },
    /// [`Machine::nt_read_file`].
    NtReadFile {
        /// The calling thread.
        thread: Ix,
        /// The device the file is opened on.
        device: Ix,
        /// The `IO_STATUS_BLOCK` (`None`: NULL).
        iosb: Option<Addr>,
        /// The user buffer.
        buffer: Addr,
        /// Bytes.
        length: u32,
    },
    /// [`Machine::nt_write_file`].
    NtWriteFile {
        /// The calling thread.
        thread: Ix,
        /// The device the file is opened on.
        device: Ix,
        /// The `IO_STATUS_BLOCK` (`None`: NULL).
        iosb: Option<Addr>,
        /// The user buffer.
        buffer: Addr,
        /// Bytes.
        length: u32,
    },
    /// [`Machine::nt_device_io_control_file`] with a `CTL_CODE(FILE_DEVICE_UNKNOWN,
    /// 0x800 + function, method, FILE_ANY_ACCESS)`.
    NtDeviceIoControlFile(IoControl),
    /// [`Machine::nt_notify_change_directory_file`].
    NtNotifyChangeDirectoryFile {
        /// The calling thread.
        thread: Ix,
        /// The directory's device.
        device: Ix,
        /// The `IO_STATUS_BLOCK` (`None`: NULL).
        iosb: Option<Addr>,
        /// The user buffer.
        buffer: Addr,
        /// Bytes.
        length: u32,
        /// `CompletionFilter`.
        completion_filter: u32,
    },
    /// [`QueueDriver::complete_next`](crate::io::drivers::QueueDriver::complete_next) on a
    /// device of a queueing driver (a device of another driver has no queue: nothing
    /// happens).
    QueueCompleteNext {
        /// Which device.
        device: Ix,
    },
    /// [`Machine::fs_rtl_notify_full_report_change`] with a generated record.
    FsRtlNotifyFullReportChange {
        /// Which IRP.
        irp: Ix,
        /// Record bytes.
        len: u16,
        /// First byte of the record (each next byte is one more, wrapping).
        seed: u8,
    },
    /// [`Machine::io_cancel_irp`].
    IoCancelIrp {
        /// Which IRP.
        irp: Ix,
    },
    /// [`Machine::ke_set_timer`] (the driver's timer routine runs when it expires).
    KeSetTimer {
        /// Which device.
        device: Ix,
        /// Due time in ms from now.
        due_ms: u32,
    },
    /// [`Machine::ke_advance_clock`].
    KeAdvanceClock {
        /// Milliseconds.
        ms: u64,
    },
    /// [`Machine::terminate_thread`] (I/O rundown).
    TerminateThread {
        /// Which thread.
        thread: Ix,
    },
    /// [`Machine::nt_fs_control_file`]: as [`IoOp::NtDeviceIoControlFile`], with
    /// `IRP_MJ_FILE_SYSTEM_CONTROL` and `IRP_DEFER_IO_COMPLETION`.
    NtFsControlFile(IoControl),
    /// `IoCancelIrp` ([`Machine::io_cancel_irp`]) of the `k`-th request (modulo their
    /// number) on a thread's `IrpList` that has not completed, as `NtCancelIoFileEx` does
    /// for one request of the caller's: `Value::Bool(false)` when there is none.
    #[doc(alias = "NtCancelIoFileEx")]
    #[doc(alias = "IoCancelIrp")]
    CancelThreadIrp {
        /// Which thread's requests.
        thread: Ix,
        /// Which of them (oldest first).
        k: u16,
    },
    /// [`Machine::ke_deliver_apcs`] (`KeDeliverApc`): the stage-2 completion APCs queued
    /// to a thread run (with immediate delivery there are none).
    KeDeliverApc {
        /// Which thread.
        thread: Ix,
    },
    /// [`Machine::io_set_apc_delivery`], a setting of the model rather than a DDI:
    /// stage-2 completion APCs run at once, or wait for the thread to return from a
    /// service, to wait in rundown or for [`IoOp::KeDeliverApc`] (so they race with
    /// everything else).
    SetApcDelivery {
        /// `ApcDelivery::Deferred` (`false`: `Immediate`).
        deferred: bool,
    },
    /// A driver reading `Irp->MdlAddress` (the MDL the I/O manager built for a direct
    /// request, [semantics §5]): appended to the MDL table, so later ops can map it; NULL
    /// when the IRP has none (or is not a live IRP).
    ///
    /// [semantics §5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5
    IrpMdlAddress {
        /// Which IRP.
        irp: Ix,
    },
}

/// The arguments of a control request ([`IoOp::NtDeviceIoControlFile`],
/// [`IoOp::NtFsControlFile`]); in JSON, the fields of the variant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub struct IoControl {
    /// The calling thread.
    pub thread: Ix,
    /// The device the file is opened on.
    pub device: Ix,
    /// The `IO_STATUS_BLOCK` (`None`: NULL).
    pub iosb: Option<Addr>,
    /// `METHOD_BUFFERED` (0), `METHOD_IN_DIRECT` (1), `METHOD_OUT_DIRECT` (2),
    /// `METHOD_NEITHER` (3); taken modulo 4.
    pub method: u32,
    /// The function number, added to 0x800.
    pub function: u16,
    /// The input buffer (`None`: NULL).
    pub input: Option<Addr>,
    /// Input bytes.
    pub input_length: u32,
    /// The output buffer (`None`: NULL).
    pub output: Option<Addr>,
    /// Output bytes.
    pub output_length: u32,
}

impl IoControl {
    /// The request: [`IoOp::NtFsControlFile`] if `fsctl`, else
    /// [`IoOp::NtDeviceIoControlFile`].
    pub fn op(self, fsctl: bool) -> IoOp {
        if fsctl {
            IoOp::NtFsControlFile(self)
        } else {
            IoOp::NtDeviceIoControlFile(self)
        }
    }
}

impl IrpOp {
    /// The name of the routine the op calls ([`Op::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            IrpOp::IoAllocateIrp { .. } => "IoAllocateIrp",
            IrpOp::IoFreeIrp { .. } => "IoFreeIrp",
            IrpOp::IoReuseIrp { .. } => "IoReuseIrp",
        }
    }

    /// One op of every variant ([`super::examples`]).
    pub fn examples() -> Vec<IrpOp> {
        vec![
            IrpOp::IoAllocateIrp { stack_size: 1 },
            IrpOp::IoReuseIrp {
                irp: Ix::Recent(0),
                status: NtStatus::UNSUCCESSFUL,
            },
            IrpOp::IoFreeIrp { irp: Ix::Recent(0) },
        ]
    }
}

impl IoOp {
    /// The name of the routine the op calls ([`Op::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            IoOp::RegisterDriver { .. } => "DriverEntry",
            IoOp::CreateDevice { .. } => "IoCreateDevice",
            IoOp::AttachDevice { .. } => "IoAttachDeviceToDeviceStack",
            IoOp::DetachDevice { .. } => "IoDetachDevice",
            IoOp::FltRegisterFilter { .. } => "FltRegisterFilter",
            IoOp::FltAttachVolume { .. } => "FltAttachVolume",
            IoOp::NtReadFile { .. } => "NtReadFile",
            IoOp::NtWriteFile { .. } => "NtWriteFile",
            IoOp::NtDeviceIoControlFile(_) => "NtDeviceIoControlFile",
            IoOp::NtNotifyChangeDirectoryFile { .. } => "NtNotifyChangeDirectoryFile",
            IoOp::QueueCompleteNext { .. } => "QueueCompleteNext",
            IoOp::FsRtlNotifyFullReportChange { .. } => "FsRtlNotifyFullReportChange",
            IoOp::IoCancelIrp { .. } => "IoCancelIrp",
            IoOp::KeSetTimer { .. } => "KeSetTimer",
            IoOp::KeAdvanceClock { .. } => "KeAdvanceClock",
            IoOp::TerminateThread { .. } => "NtTerminateThread",
            IoOp::IrpMdlAddress { .. } => "IrpMdlAddress",
            IoOp::NtFsControlFile(_) => "NtFsControlFile",
            IoOp::CancelThreadIrp { .. } => "CancelThreadIrp",
            IoOp::KeDeliverApc { .. } => "KeDeliverApc",
            IoOp::SetApcDelivery { .. } => "SetApcDelivery",
        }
    }

    /// One op of every variant ([`super::examples`]): a pattern device under a
    /// pass-through filter and the filter manager, a request from the most recent thread
    /// into the most recent VA, and what may follow it.
    pub fn examples() -> Vec<IoOp> {
        let (thread, device, irp) = (Ix::Recent(0), Ix::Recent(0), Ix::Recent(0));
        let buffer = Addr::at(Ix::Recent(0), 0);
        let ioctl = IoControl {
            thread,
            device,
            iosb: None,
            method: 0,
            function: 0,
            input: Some(buffer),
            input_length: 0x10,
            output: Some(buffer),
            output_length: 0x10,
        };
        vec![
            IoOp::SetApcDelivery { deferred: false },
            IoOp::RegisterDriver {
                driver: BuiltinDriver::Pattern,
            },
            IoOp::CreateDevice {
                driver: Ix::Recent(0),
                flags: crate::io::DO_DIRECT_IO,
            },
            IoOp::AttachDevice {
                source: Ix::Recent(0),
                target: Ix::Recent(1),
            },
            IoOp::FltRegisterFilter { altitude: 320_000 },
            IoOp::FltAttachVolume { volume: device },
            IoOp::NtReadFile {
                thread,
                device,
                iosb: None,
                buffer,
                length: 0x10,
            },
            IoOp::NtWriteFile {
                thread,
                device,
                iosb: None,
                buffer,
                length: 0x10,
            },
            ioctl.op(false),
            ioctl.op(true),
            IoOp::NtNotifyChangeDirectoryFile {
                thread,
                device,
                iosb: None,
                buffer,
                length: 0x100,
                completion_filter: 1,
            },
            IoOp::IrpMdlAddress { irp },
            IoOp::QueueCompleteNext { device },
            IoOp::FsRtlNotifyFullReportChange {
                irp,
                len: 0x10,
                seed: 3,
            },
            IoOp::CancelThreadIrp { thread, k: 0 },
            IoOp::IoCancelIrp { irp },
            IoOp::KeDeliverApc { thread },
            IoOp::KeSetTimer { device, due_ms: 10 },
            IoOp::KeAdvanceClock { ms: 100 },
            IoOp::TerminateThread { thread },
            IoOp::DetachDevice {
                target: Ix::Recent(1),
            },
        ]
    }
}
