//! IRPs and the I/O manager: the ops, the built-in drivers they load, and their interpretation.

use super::*;

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
}

/// A driver built into the model that an [`IoOp::RegisterDriver`] can load.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum BuiltinDriver {
    /// [`PatternDriver`]: completes every request in its dispatch routine.
    Pattern,
    /// [`QueueDriver`] with the given bug: pends every request in a cancel-safe queue.
    Queue(QueueDriverBug),
    /// [`PassThroughFilter`]: a legacy filter passing requests down.
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
        /// `DO_BUFFERED_IO` (0x4), `DO_DIRECT_IO` (0x10), neither, or (misuse) both.
        flags: u32,
    },
    /// [`Machine::io_attach_device_to_device_stack`].
    AttachDevice {
        /// The filter device.
        source: Ix,
        /// A device of the stack to attach to.
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
    NtDeviceIoControlFile {
        /// The calling thread.
        thread: Ix,
        /// The device the file is opened on.
        device: Ix,
        /// The `IO_STATUS_BLOCK` (`None`: NULL).
        iosb: Option<Addr>,
        /// `METHOD_BUFFERED` (0), `METHOD_IN_DIRECT` (1), `METHOD_OUT_DIRECT` (2),
        /// `METHOD_NEITHER` (3); taken modulo 4.
        method: u32,
        /// The function number, added to 0x800.
        function: u16,
        /// The input buffer (`None`: NULL).
        input: Option<Addr>,
        /// Input bytes.
        input_length: u32,
        /// The output buffer (`None`: NULL).
        output: Option<Addr>,
        /// Output bytes.
        output_length: u32,
    },
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
    /// [`QueueDriver::complete_next`] on a device of a queueing driver (a device of
    /// another driver has no queue: nothing happens).
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

impl Interpreter {
    pub(super) fn apply_irp(&mut self, op: &IrpOp) -> Result<Value> {
        match *op {
            IrpOp::IoAllocateIrp { stack_size } => {
                let id = self.machine.io_allocate_irp(stack_size)?;
                self.irps.push(id);
                Ok(Value::Irp {
                    ix: (self.irps.len() - 1) as u32,
                    id,
                })
            }
            IrpOp::IoFreeIrp { irp } => {
                let irp = self.irp(irp);
                self.machine.io_free_irp(irp)?;
                Ok(Value::Unit)
            }
        }
    }

    fn io_request(&mut self, r: IoRequest) -> Value {
        let irp = r.irp.map(|id| {
            self.irps.push(id);
            (self.irps.len() - 1) as u32
        });
        Value::Io {
            status: r.status,
            irp,
        }
    }

    pub(super) fn apply_io(&mut self, op: &IoOp) -> Result<Value> {
        match *op {
            IoOp::RegisterDriver { driver } => {
                let (name, code): (&str, Arc<dyn crate::io::Driver>) = match driver {
                    BuiltinDriver::Pattern => ("Pattern", Arc::new(PatternDriver)),
                    BuiltinDriver::Queue(bug) => ("Queue", Arc::new(QueueDriver { bug })),
                    BuiltinDriver::PassThrough => ("PassThrough", Arc::new(PassThroughFilter)),
                };
                let id = self.machine.io_register_driver(name, code)?;
                self.drivers.push((id, driver));
                Ok(Value::Driver {
                    ix: (self.drivers.len() - 1) as u32,
                })
            }
            IoOp::CreateDevice { driver, flags } => {
                let drv = driver
                    .resolve(&self.drivers, |_| true)
                    .map_or(DriverId(u32::MAX), |d| d.0);
                let name = format!("\\Device\\d{}", self.devices.len());
                let id = self.machine.io_create_device(drv, &name, flags)?;
                self.devices.push(id);
                Ok(Value::Device {
                    ix: (self.devices.len() - 1) as u32,
                    id,
                })
            }
            IoOp::AttachDevice { source, target } => {
                let (s, t) = (self.device(source), self.device(target));
                self.machine.io_attach_device_to_device_stack(s, t)?;
                Ok(Value::Unit)
            }
            IoOp::FltRegisterFilter { altitude } => {
                let name = format!("mf{altitude}");
                self.machine
                    .flt_register_filter(&name, altitude, Arc::new(PassMiniFilter))?;
                Ok(Value::Unit)
            }
            IoOp::FltAttachVolume { volume } => {
                let v = self.device(volume);
                let id = self.machine.flt_attach_volume(v)?;
                self.devices.push(id);
                Ok(Value::Device {
                    ix: (self.devices.len() - 1) as u32,
                    id,
                })
            }
            IoOp::NtReadFile {
                thread,
                device,
                iosb,
                buffer,
                length,
            } => {
                let (t, d) = (self.thread(thread), self.device(device));
                let (iosb, buf) = (iosb.map(|a| self.addr(a)), self.addr(buffer));
                let r = self.machine.nt_read_file(t, d, iosb, buf, length, 0)?;
                Ok(self.io_request(r))
            }
            IoOp::NtWriteFile {
                thread,
                device,
                iosb,
                buffer,
                length,
            } => {
                let (t, d) = (self.thread(thread), self.device(device));
                let (iosb, buf) = (iosb.map(|a| self.addr(a)), self.addr(buffer));
                let r = self.machine.nt_write_file(t, d, iosb, buf, length, 0)?;
                Ok(self.io_request(r))
            }
            IoOp::NtDeviceIoControlFile {
                thread,
                device,
                iosb,
                method,
                function,
                input,
                input_length,
                output,
                output_length,
            } => {
                use crate::io::ioctl::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, ctl_code};
                let (t, d) = (self.thread(thread), self.device(device));
                let iosb = iosb.map(|a| self.addr(a));
                let (i, o) = (input.map(|a| self.addr(a)), output.map(|a| self.addr(a)));
                let code = ctl_code(
                    FILE_DEVICE_UNKNOWN,
                    0x800 + (function as u32 & 0x7FF),
                    method % 4,
                    FILE_ANY_ACCESS,
                );
                let r = self.machine.nt_device_io_control_file(
                    t,
                    d,
                    iosb,
                    code,
                    i,
                    input_length,
                    o,
                    output_length,
                )?;
                Ok(self.io_request(r))
            }
            IoOp::NtNotifyChangeDirectoryFile {
                thread,
                device,
                iosb,
                buffer,
                length,
                completion_filter,
            } => {
                let (t, d) = (self.thread(thread), self.device(device));
                let (iosb, buf) = (iosb.map(|a| self.addr(a)), self.addr(buffer));
                let r = self.machine.nt_notify_change_directory_file(
                    t,
                    d,
                    iosb,
                    buf,
                    length,
                    completion_filter,
                )?;
                Ok(self.io_request(r))
            }
            IoOp::QueueCompleteNext { device } => {
                // The driver's own routine (its DPC): nothing runs on a crashed machine.
                self.machine.alive()?;
                let d = self.device(device);
                let driver = self.machine.device(d)?.driver;
                let bug = self.drivers.iter().find_map(|(id, b)| match b {
                    BuiltinDriver::Queue(bug) if *id == driver => Some(*bug),
                    _ => None,
                });
                match bug {
                    Some(bug) => {
                        let done = QueueDriver::complete_next(&mut self.machine.kernel(), d, bug)?;
                        Ok(Value::Bool(done.is_some()))
                    }
                    None => Ok(Value::Bool(false)),
                }
            }
            IoOp::FsRtlNotifyFullReportChange { irp, len, seed } => {
                let irp = self.irp(irp);
                let record = Self::pattern(len as u64, seed);
                self.machine
                    .fs_rtl_notify_full_report_change(irp, &record)?;
                Ok(Value::Unit)
            }
            IoOp::IoCancelIrp { irp } => {
                let irp = self.irp(irp);
                Ok(Value::Bool(self.machine.io_cancel_irp(irp)?))
            }
            IoOp::KeSetTimer { device, due_ms } => {
                let d = self.device(device);
                self.machine.ke_set_timer(d, due_ms as u64, 0)?;
                Ok(Value::Unit)
            }
            IoOp::KeAdvanceClock { ms } => {
                self.machine.ke_advance_clock(ms)?;
                Ok(Value::Unit)
            }
            IoOp::TerminateThread { thread } => {
                let t = self.thread(thread);
                self.machine.terminate_thread(t)?;
                Ok(Value::Unit)
            }
            IoOp::IrpMdlAddress { irp } => {
                // A driver's field read: nothing runs on a crashed machine.
                self.machine.alive()?;
                let irp = self.irp(irp);
                let mdl = self.machine.irp(irp).ok().and_then(|i| i.mdl_address);
                Ok(self.new_mdl(mdl))
            }
        }
    }
}

impl IrpOp {
    /// The name of the routine the op calls ([`Op::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            IrpOp::IoAllocateIrp { .. } => "IoAllocateIrp",
            IrpOp::IoFreeIrp { .. } => "IoFreeIrp",
        }
    }
}

impl IoOp {
    /// The name of the routine the op calls ([`Op::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            IoOp::RegisterDriver { .. } => "DriverEntry",
            IoOp::CreateDevice { .. } => "IoCreateDevice",
            IoOp::AttachDevice { .. } => "IoAttachDeviceToDeviceStack",
            IoOp::FltRegisterFilter { .. } => "FltRegisterFilter",
            IoOp::FltAttachVolume { .. } => "FltAttachVolume",
            IoOp::NtReadFile { .. } => "NtReadFile",
            IoOp::NtWriteFile { .. } => "NtWriteFile",
            IoOp::NtDeviceIoControlFile { .. } => "NtDeviceIoControlFile",
            IoOp::NtNotifyChangeDirectoryFile { .. } => "NtNotifyChangeDirectoryFile",
            IoOp::QueueCompleteNext { .. } => "QueueCompleteNext",
            IoOp::FsRtlNotifyFullReportChange { .. } => "FsRtlNotifyFullReportChange",
            IoOp::IoCancelIrp { .. } => "IoCancelIrp",
            IoOp::KeSetTimer { .. } => "KeSetTimer",
            IoOp::KeAdvanceClock { .. } => "KeAdvanceClock",
            IoOp::TerminateThread { .. } => "NtTerminateThread",
            IoOp::IrpMdlAddress { .. } => "IrpMdlAddress",
        }
    }
}
