//! The interpretation of IRP and I/O-manager ops: drivers and devices, system services,
//! and what drivers and the system do while requests are outstanding.

use super::{BuiltinDriver, IoControl, IoOp, IrpOp, PassMiniFilter};
use crate::fault::Result;
use crate::io::drivers::{PassThroughFilter, PatternDriver, QueueDriver};
use crate::io::{ApcDelivery, DriverId, IoRequest};
use crate::machine::Machine;
use crate::op::{Addr, Interpreter, Ix, Value};
use std::sync::Arc;

/// Which user-buffer service a transfer op calls (`Notify` with its `CompletionFilter`).
#[derive(Clone, Copy)]
enum Transfer {
    Read,
    Write,
    Notify(u32),
}

impl Interpreter {
    pub(in crate::op) fn apply_irp(&mut self, op: &IrpOp) -> Result<Value> {
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
            IrpOp::IoReuseIrp { irp, status } => {
                let irp = self.irp(irp);
                self.machine.io_reuse_irp(irp, status)?;
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

    pub(in crate::op) fn apply_io(&mut self, op: &IoOp) -> Result<Value> {
        match *op {
            IoOp::RegisterDriver { driver } => self.register_driver(driver),
            IoOp::CreateDevice { driver, flags } => self.create_device(driver, flags),
            IoOp::AttachDevice { source, target } => {
                let (s, t) = (self.device(source), self.device(target));
                self.machine.io_attach_device_to_device_stack(s, t)?;
                Ok(Value::Unit)
            }
            IoOp::DetachDevice { target } => {
                let t = self.device(target);
                self.machine.io_detach_device(t)?;
                Ok(Value::Unit)
            }
            IoOp::FltRegisterFilter { altitude } => {
                let name = format!("mf{altitude}");
                self.machine
                    .flt_register_filter(&name, altitude, Arc::new(PassMiniFilter))?;
                Ok(Value::Unit)
            }
            IoOp::FltAttachVolume { volume } => {
                let id = self.machine.flt_attach_volume(self.device(volume))?;
                self.new_device(id)
            }
            IoOp::SetApcDelivery { deferred } => {
                let mode = [ApcDelivery::Immediate, ApcDelivery::Deferred][usize::from(deferred)];
                self.machine.io_set_apc_delivery(mode)?;
                Ok(Value::Unit)
            }
            IoOp::NtReadFile {
                thread,
                device,
                iosb,
                buffer,
                length,
            } => self.transfer(Transfer::Read, [thread, device], iosb, buffer, length),
            IoOp::NtWriteFile {
                thread,
                device,
                iosb,
                buffer,
                length,
            } => self.transfer(Transfer::Write, [thread, device], iosb, buffer, length),
            IoOp::NtNotifyChangeDirectoryFile {
                thread,
                device,
                iosb,
                buffer,
                length,
                completion_filter,
            } => {
                let notify = Transfer::Notify(completion_filter);
                self.transfer(notify, [thread, device], iosb, buffer, length)
            }
            IoOp::NtDeviceIoControlFile(c) => self.control(false, c),
            IoOp::NtFsControlFile(c) => self.control(true, c),
            _ => self.apply_io_outstanding(op),
        }
    }

    fn register_driver(&mut self, driver: BuiltinDriver) -> Result<Value> {
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

    fn create_device(&mut self, driver: Ix, flags: u32) -> Result<Value> {
        let drv = driver
            .resolve(&self.drivers, |_| true)
            .map_or(DriverId(u32::MAX), |d| d.0);
        let name = format!("\\Device\\d{}", self.devices.len());
        let id = self.machine.io_create_device(drv, &name, flags)?;
        self.new_device(id)
    }

    fn new_device(&mut self, id: crate::io::DeviceId) -> Result<Value> {
        self.devices.push(id);
        Ok(Value::Device {
            ix: (self.devices.len() - 1) as u32,
            id,
        })
    }

    /// `NtReadFile`, `NtWriteFile` or `NtNotifyChangeDirectoryFile` from a thread to a
    /// device (`[thread, device]`): a user buffer and its length.
    fn transfer(
        &mut self,
        service: Transfer,
        [thread, device]: [Ix; 2],
        iosb: Option<Addr>,
        buffer: Addr,
        length: u32,
    ) -> Result<Value> {
        let (t, d) = (self.thread(thread), self.device(device));
        let (iosb, buf) = (iosb.map(|a| self.addr(a)), self.addr(buffer));
        let m = &mut self.machine;
        let r = match service {
            Transfer::Read => m.nt_read_file(t, d, iosb, buf, length, 0)?,
            Transfer::Write => m.nt_write_file(t, d, iosb, buf, length, 0)?,
            Transfer::Notify(filter) => {
                m.nt_notify_change_directory_file(t, d, iosb, buf, length, filter)?
            }
        };
        Ok(self.io_request(r))
    }

    /// `NtDeviceIoControlFile` (or `NtFsControlFile`) with a `CTL_CODE(FILE_DEVICE_UNKNOWN,
    /// 0x800 + function, method, FILE_ANY_ACCESS)`.
    fn control(&mut self, fsctl: bool, c: IoControl) -> Result<Value> {
        use crate::io::ioctl::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, ctl_code};
        let (t, d) = (self.thread(c.thread), self.device(c.device));
        let iosb = c.iosb.map(|a| self.addr(a));
        let (i, o) = (
            c.input.map(|a| self.addr(a)),
            c.output.map(|a| self.addr(a)),
        );
        let code = ctl_code(
            FILE_DEVICE_UNKNOWN,
            0x800 + (c.function as u32 & 0x7FF),
            c.method % 4,
            FILE_ANY_ACCESS,
        );
        let service = if fsctl {
            Machine::nt_fs_control_file
        } else {
            Machine::nt_device_io_control_file
        };
        let (il, ol) = (c.input_length, c.output_length);
        let r = service(&mut self.machine, t, d, iosb, code, i, il, o, ol)?;
        Ok(self.io_request(r))
    }

    /// What drivers, the system and the clock do while requests are outstanding. Setup
    /// ops and system services do nothing here ([`Interpreter::apply_io`] takes them);
    /// they are listed so that a new variant needs an arm.
    fn apply_io_outstanding(&mut self, op: &IoOp) -> Result<Value> {
        match *op {
            IoOp::QueueCompleteNext { device } => self.queue_complete_next(device),
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
            IoOp::CancelThreadIrp { thread, k } => self.cancel_thread_irp(thread, k),
            IoOp::KeDeliverApc { thread } => {
                let t = self.thread(thread);
                self.machine.ke_deliver_apcs(t)?;
                Ok(Value::Unit)
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
            IoOp::RegisterDriver { .. }
            | IoOp::CreateDevice { .. }
            | IoOp::AttachDevice { .. }
            | IoOp::DetachDevice { .. }
            | IoOp::FltRegisterFilter { .. }
            | IoOp::FltAttachVolume { .. }
            | IoOp::SetApcDelivery { .. }
            | IoOp::NtReadFile { .. }
            | IoOp::NtWriteFile { .. }
            | IoOp::NtDeviceIoControlFile(_)
            | IoOp::NtFsControlFile(_)
            | IoOp::NtNotifyChangeDirectoryFile { .. } => Ok(Value::Unit),
        }
    }

    /// `IoCancelIrp` of the `k`-th request on a thread's list that has not completed.
    fn cancel_thread_irp(&mut self, thread: Ix, k: u16) -> Result<Value> {
        // The I/O manager's own walk of the list: nothing runs on a crashed machine.
        self.machine.alive()?;
        let t = self.thread(thread);
        let m = &self.machine;
        let pending: Vec<_> = m
            .thread_irps(t)
            .into_iter()
            .filter(|i| m.irp(*i).is_ok_and(|i| !i.completed))
            .collect();
        match pending.get(k as usize % pending.len().max(1)) {
            Some(&irp) => Ok(Value::Bool(self.machine.io_cancel_irp(irp)?)),
            None => Ok(Value::Bool(false)),
        }
    }

    /// `QueueDriver::complete_next` on a device of a queueing driver (nothing on another).
    fn queue_complete_next(&mut self, device: Ix) -> Result<Value> {
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
}
