//! The system services a user thread calls: `NtReadFile`, `NtWriteFile`,
//! `NtDeviceIoControlFile`, `NtNotifyChangeDirectoryFile` ([semantics §5.2]–[§5.6]).
//!
//! Each runs in the calling thread's process, builds the IRP exactly as the
//! semantics say for the **top** device of the stack the request is opened on
//! (its `DO_BUFFERED_IO` / `DO_DIRECT_IO` flags decide, buffered tested first),
//! queues it to the thread, calls the driver, runs completion stage 2 itself for a
//! synchronous `IRP_DEFER_IO_COMPLETION` request, and delivers the thread's APCs as
//! it returns to user mode. Any exception while building (a probe, a copy-in, a
//! lock) frees what was built and is returned as the service's status: nothing is
//! sent, nothing leaks ([semantics §5.6]).
//!
//! Simplifications: `ProbeForRead`/`ProbeForWrite` are range checks (an address
//! range ending above `MM_USER_PROBE_ADDRESS` or wrapping raises
//! `STATUS_ACCESS_VIOLATION`); pages that are not accessible fault later, in the
//! copy or the lock that touches them. Handles, file objects and the IOCTL
//! required-access check are not modelled.
//!
//! [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
//! [§5.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.6
//! [semantics §5.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.6

use super::IO_SYSTEM_BUFFER_TAG;
use super::device::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId};
use super::ioctl::{METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, method_from_ctl_code};
use super::irp::{
    IRP_MJ_DEVICE_CONTROL, IRP_MJ_DIRECTORY_CONTROL, IRP_MJ_FILE_SYSTEM_CONTROL, IRP_MJ_READ,
    IRP_MJ_WRITE, IRP_MN_NOTIFY_CHANGE_DIRECTORY, Irp, IrpFlags, IrpId, IrpStage, Parameters,
    StackLocation,
};
use crate::addr::{MM_USER_PROBE_ADDRESS, Va};
use crate::fault::{Fault, Result};
use crate::machine::Machine;
use crate::mdl::{AccessMode, LockOperation};
use crate::space::{Pid, Tid};
use crate::status::NtStatus;
use crate::vm::Who;

/// What a system service returned to user mode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IoRequest {
    /// The service's return value: `STATUS_PENDING`, the final status of a request that
    /// finished, or the exception code of a failed build.
    pub status: NtStatus,
    /// The IRP that was sent (freed by now if the request finished); `None` if the
    /// build failed before anything was sent.
    pub irp: Option<IrpId>,
}

/// An exception while building: the status the service returns.
enum Build {
    Failed(NtStatus),
    Fatal(Fault),
}

impl From<Fault> for Build {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Raise(s) | Fault::Status(s) => Build::Failed(s),
            other => Build::Fatal(other),
        }
    }
}

fn probe(va: Option<Va>, len: u64) -> std::result::Result<(), Build> {
    let Some(va) = va else { return Ok(()) };
    if len == 0 {
        return Ok(());
    }
    match va.checked_add(len) {
        Some(end) if end.raw() <= MM_USER_PROBE_ADDRESS.raw() => Ok(()),
        _ => Err(Build::Failed(NtStatus::ACCESS_VIOLATION)),
    }
}

impl Machine {
    fn service_thread(&mut self, tid: Tid) -> Result<Pid> {
        let t = self.thread(tid)?;
        if !t.alive {
            return Err(Fault::Status(NtStatus::THREAD_IS_TERMINATING));
        }
        let pid = t.pid;
        self.live_process(pid)?;
        self.running = Some(pid);
        self.io.current_thread = Some(tid);
        Ok(pid)
    }

    fn new_request(
        &mut self,
        tid: Tid,
        pid: Pid,
        device: DeviceId,
        iosb: Option<Va>,
    ) -> Result<(DeviceId, IrpId)> {
        let top = self.io_get_attached_device(device)?;
        let size = self.irp_stack_size(top)?;
        let birth = self.birth();
        let mut irp = Irp::new(size, birth);
        irp.thread = Some(tid);
        irp.process = Some(pid);
        irp.requestor_mode = AccessMode::UserMode;
        irp.user_iosb = iosb;
        Ok((top, IrpId(self.irps.insert(irp))))
    }

    fn set_first_location(&mut self, irp: IrpId, loc: StackLocation) -> Result<()> {
        let i = self.irp_entry_mut(irp)?;
        if let Some(last) = i.stack.last_mut() {
            *last = loc;
        }
        Ok(())
    }

    fn system_buffer(&mut self, irp: IrpId, len: u64) -> std::result::Result<Va, Build> {
        match self.pool_alloc(len, IO_SYSTEM_BUFFER_TAG, false)? {
            Some(va) => {
                self.irp_entry_mut(irp)?.system_buffer = Some(va);
                Ok(va)
            }
            None => Err(Build::Failed(NtStatus::INSUFFICIENT_RESOURCES)),
        }
    }

    fn lock_user_buffer(
        &mut self,
        irp: IrpId,
        va: Va,
        len: u32,
        op: LockOperation,
    ) -> std::result::Result<(), Build> {
        let Some(mdl) = self.io_allocate_mdl(va, len, false, true, Some(irp))? else {
            return Err(Build::Failed(NtStatus::INSUFFICIENT_RESOURCES));
        };
        self.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, op)?;
        Ok(())
    }

    /// Sends a built IRP and finishes the service.
    fn send(
        &mut self,
        tid: Tid,
        top: DeviceId,
        irp: IrpId,
        built: std::result::Result<(), Build>,
    ) -> Result<IoRequest> {
        match built {
            Ok(()) => {}
            Err(Build::Failed(status)) => {
                self.cleanup_after_exception(irp)?;
                return Ok(IoRequest { status, irp: None });
            }
            Err(Build::Fatal(f)) => return Err(f),
        }
        self.queue_irp_to_thread(tid, irp);
        let status = self.io_call_driver(top, irp)?;
        if self
            .irps
            .get(irp.0)
            .is_some_and(|i| i.stage == IrpStage::AwaitingService)
        {
            self.complete_stage2(irp)?;
        }
        self.deliver_apcs(tid)?;
        let status = if status == NtStatus::PENDING {
            status
        } else {
            self.io_completion_of(irp).map_or(status, |c| c.status)
        };
        Ok(IoRequest {
            status,
            irp: Some(irp),
        })
    }

    /// [`NtReadFile`] from user thread `tid` on `device`'s stack: reads `length` bytes into
    /// `buffer` ([semantics §5.2]).
    ///
    /// Buffered device: SystemBuffer of `length` bytes (not zeroed), `UserBuffer = buffer`,
    /// `IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER | IRP_INPUT_OPERATION`; zero length: no
    /// SystemBuffer, `IRP_BUFFERED_IO | IRP_INPUT_OPERATION`. Direct: an MDL probed in
    /// user mode for `IoWriteAccess` (the device writes memory); zero length: **no MDL**.
    /// Neither: `UserBuffer = buffer`. Always `IRP_READ_OPERATION | IRP_DEFER_IO_COMPLETION`.
    ///
    /// # Errors
    /// Build failures are returned as [`IoRequest::status`], not as errors; errors are
    /// bug checks and model errors (a dead thread: `STATUS_THREAD_IS_TERMINATING`).
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use mdlsim::{Config, Machine, io::{DO_DIRECT_IO, drivers::PatternDriver}};
    /// use mdlsim::{space::Protection, vm::{MEM_COMMIT, MEM_RESERVE}, status::NtStatus};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let drv = m.io_register_driver("pattern", Arc::new(PatternDriver)).unwrap();
    /// let dev = m.io_create_device(drv, "\\Device\\P", DO_DIRECT_IO).unwrap();
    /// let app = m.create_process("app").unwrap();
    /// let tid = m.process(app).unwrap().threads[0];
    /// let buf = m.virtual_alloc(app, None, 0x2000, MEM_COMMIT | MEM_RESERVE, Protection::ReadWrite).unwrap();
    /// let r = m.nt_read_file(tid, dev, None, buf, 0, 0).unwrap();
    /// assert_eq!(r.status, NtStatus::SUCCESS);
    /// // a zero-length direct read reaches the driver with MdlAddress == NULL
    /// assert_eq!(m.device(dev).unwrap().extension.records[0].mdl, None);
    /// assert!(m.audit().is_empty());
    /// ```
    ///
    /// [`NtReadFile`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntreadfile
    /// [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
    #[doc(alias = "NtReadFile")]
    pub fn nt_read_file(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        buffer: Va,
        length: u32,
        byte_offset: u64,
    ) -> Result<IoRequest> {
        self.enter("NtReadFile")?;
        self.read_write(tid, device, iosb, buffer, length, byte_offset, true)
    }

    /// [`NtWriteFile`] from user thread `tid`: writes `length` bytes of `buffer` ([semantics §5.2]).
    ///
    /// Buffered: SystemBuffer with the user's bytes copied in (a fault fails the call),
    /// `IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER`; zero length: no SystemBuffer,
    /// `IRP_BUFFERED_IO`. Direct: an MDL probed for `IoReadAccess`; zero length: no MDL.
    /// Neither: `UserBuffer = buffer`. Always `IRP_WRITE_OPERATION | IRP_DEFER_IO_COMPLETION`.
    ///
    /// # Errors
    /// As [`Machine::nt_read_file`].
    ///
    /// [`NtWriteFile`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntwritefile
    /// [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
    #[doc(alias = "NtWriteFile")]
    pub fn nt_write_file(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        buffer: Va,
        length: u32,
        byte_offset: u64,
    ) -> Result<IoRequest> {
        self.enter("NtWriteFile")?;
        self.read_write(tid, device, iosb, buffer, length, byte_offset, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn read_write(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        buffer: Va,
        length: u32,
        byte_offset: u64,
        read: bool,
    ) -> Result<IoRequest> {
        let pid = self.service_thread(tid)?;
        if let Err(Build::Failed(s)) = probe(iosb, super::complete::IO_STATUS_BLOCK_SIZE) {
            return Ok(IoRequest {
                status: s,
                irp: None,
            });
        }
        if let Err(Build::Failed(s)) = probe(Some(buffer), length as u64) {
            return Ok(IoRequest {
                status: s,
                irp: None,
            });
        }
        let (top, irp) = self.new_request(tid, pid, device, iosb)?;
        let parameters = if read {
            Parameters::Read {
                length,
                byte_offset,
            }
        } else {
            Parameters::Write {
                length,
                byte_offset,
            }
        };
        self.set_first_location(
            irp,
            StackLocation {
                major_function: if read { IRP_MJ_READ } else { IRP_MJ_WRITE },
                parameters,
                ..StackLocation::default()
            },
        )?;
        let dflags = self.device(top)?.flags;
        let built = (|| -> std::result::Result<(), Build> {
            let mut flags = IrpFlags::empty();
            if dflags & DO_BUFFERED_IO != 0 {
                flags |= IrpFlags::BUFFERED_IO;
                if read {
                    flags |= IrpFlags::INPUT_OPERATION;
                }
                if length > 0 {
                    let sb = self.system_buffer(irp, length as u64)?;
                    flags |= IrpFlags::DEALLOCATE_BUFFER;
                    if read {
                        let i = self.irp_entry_mut(irp)?;
                        i.user_buffer = Some(buffer);
                        i.user_buffer_length = length as u64;
                    } else {
                        self.copy_as(Who::Kernel, sb, Who::Kernel, buffer, length as u64)?;
                    }
                }
            } else if dflags & DO_DIRECT_IO != 0 {
                if length > 0 {
                    let op = if read {
                        LockOperation::IoWriteAccess
                    } else {
                        LockOperation::IoReadAccess
                    };
                    self.lock_user_buffer(irp, buffer, length, op)?;
                }
            } else {
                let i = self.irp_entry_mut(irp)?;
                i.user_buffer = Some(buffer);
                i.user_buffer_length = length as u64;
            }
            flags |= if read {
                IrpFlags::READ_OPERATION
            } else {
                IrpFlags::WRITE_OPERATION
            };
            flags |= IrpFlags::DEFER_IO_COMPLETION;
            self.irp_entry_mut(irp)?.flags |= flags;
            Ok(())
        })();
        self.send(tid, top, irp, built)
    }

    /// [`NtDeviceIoControlFile`] from user thread `tid` ([semantics §5.3]).
    ///
    /// METHOD_BUFFERED: SystemBuffer of `max(in, out)` bytes (none when both are 0) with
    /// the input copied in, `IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER`, plus
    /// `IRP_INPUT_OPERATION` when there is an output buffer; `UserBuffer = output`.
    /// METHOD_IN_DIRECT / OUT_DIRECT: the input (if any) in a SystemBuffer never copied
    /// back; the output described by an MDL probed for `IoReadAccess` (IN) or
    /// `IoWriteAccess` (OUT); no MDL when `out == 0`. METHOD_NEITHER: nothing probed,
    /// copied or locked; `UserBuffer = output`, `Type3InputBuffer = input`. A NULL
    /// buffer forces its length to 0.
    ///
    /// # Errors
    /// As [`Machine::nt_read_file`].
    ///
    /// [`NtDeviceIoControlFile`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntdeviceiocontrolfile
    /// [semantics §5.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.3
    #[doc(alias = "NtDeviceIoControlFile")]
    #[allow(clippy::too_many_arguments)]
    pub fn nt_device_io_control_file(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        io_control_code: u32,
        input: Option<Va>,
        input_length: u32,
        output: Option<Va>,
        output_length: u32,
    ) -> Result<IoRequest> {
        self.enter("NtDeviceIoControlFile")?;
        self.device_fs_io_control(
            tid,
            device,
            iosb,
            io_control_code,
            (input, input_length),
            (output, output_length),
            false,
        )
    }

    /// [`NtFsControlFile`] from user thread `tid`: as [`Machine::nt_device_io_control_file`]
    /// with `IRP_MJ_FILE_SYSTEM_CONTROL` and, in addition, `IRP_DEFER_IO_COMPLETION`
    /// ([semantics §5.3]).
    ///
    /// # Errors
    /// As [`Machine::nt_read_file`].
    ///
    /// [`NtFsControlFile`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntfscontrolfile
    /// [semantics §5.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.3
    #[doc(alias = "NtFsControlFile")]
    #[allow(clippy::too_many_arguments)]
    pub fn nt_fs_control_file(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        fs_control_code: u32,
        input: Option<Va>,
        input_length: u32,
        output: Option<Va>,
        output_length: u32,
    ) -> Result<IoRequest> {
        self.enter("NtFsControlFile")?;
        self.device_fs_io_control(
            tid,
            device,
            iosb,
            fs_control_code,
            (input, input_length),
            (output, output_length),
            true,
        )
    }

    /// `IopDeviceFsIoControl`.
    #[allow(clippy::too_many_arguments)]
    fn device_fs_io_control(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        io_control_code: u32,
        (input, input_length): (Option<Va>, u32),
        (output, output_length): (Option<Va>, u32),
        fsctl: bool,
    ) -> Result<IoRequest> {
        let pid = self.service_thread(tid)?;
        let method = method_from_ctl_code(io_control_code);
        let in_len = if input.is_some() || method == METHOD_NEITHER {
            input_length
        } else {
            0
        };
        let out_len = if output.is_some() || method != METHOD_BUFFERED {
            output_length
        } else {
            0
        };
        let probes = probe(iosb, super::complete::IO_STATUS_BLOCK_SIZE).and_then(|()| {
            if method == METHOD_NEITHER {
                return Ok(());
            }
            probe(input, in_len as u64)?;
            probe(output, out_len as u64)
        });
        if let Err(Build::Failed(s)) = probes {
            return Ok(IoRequest {
                status: s,
                irp: None,
            });
        }
        let (top, irp) = self.new_request(tid, pid, device, iosb)?;
        self.set_first_location(
            irp,
            StackLocation {
                major_function: if fsctl {
                    IRP_MJ_FILE_SYSTEM_CONTROL
                } else {
                    IRP_MJ_DEVICE_CONTROL
                },
                parameters: Parameters::DeviceIoControl {
                    output_buffer_length: out_len,
                    input_buffer_length: in_len,
                    io_control_code,
                    type3_input_buffer: if method == METHOD_NEITHER {
                        input
                    } else {
                        None
                    },
                },
                ..StackLocation::default()
            },
        )?;
        let built = (|| -> std::result::Result<(), Build> {
            match method {
                METHOD_BUFFERED => {
                    let l = in_len.max(out_len) as u64;
                    if l > 0 {
                        let sb = self.system_buffer(irp, l)?;
                        if let Some(inp) = input.filter(|_| in_len > 0) {
                            self.copy_as(Who::Kernel, sb, Who::Kernel, inp, in_len as u64)?;
                        }
                        self.irp_entry_mut(irp)?
                            .set_ioctl_output(output, out_len, true);
                    }
                }
                METHOD_NEITHER => {
                    self.irp_entry_mut(irp)?
                        .set_ioctl_output(output, out_len, false);
                }
                _ => {
                    if let Some(inp) = input.filter(|_| in_len > 0) {
                        let sb = self.system_buffer(irp, in_len as u64)?;
                        self.copy_as(Who::Kernel, sb, Who::Kernel, inp, in_len as u64)?;
                        self.irp_entry_mut(irp)?.flags |=
                            IrpFlags::BUFFERED_IO | IrpFlags::DEALLOCATE_BUFFER;
                    }
                    if out_len > 0 {
                        let op = if method == METHOD_IN_DIRECT {
                            LockOperation::IoReadAccess
                        } else {
                            LockOperation::IoWriteAccess
                        };
                        let out = output.unwrap_or(Va::NULL);
                        self.lock_user_buffer(irp, out, out_len, op)?;
                    }
                }
            }
            if fsctl {
                self.irp_entry_mut(irp)?.flags |= IrpFlags::DEFER_IO_COMPLETION;
            }
            Ok(())
        })();
        self.send(tid, top, irp, built)
    }

    /// `NtNotifyChangeDirectoryFile` from user thread `tid`: an
    /// `IRP_MJ_DIRECTORY_CONTROL / IRP_MN_NOTIFY_CHANGE_DIRECTORY` request whose
    /// `UserBuffer` is the caller's buffer, with **no MDL and no SystemBuffer**: the file
    /// system pends it and, when a change happens, typically completes it by allocating a
    /// SystemBuffer (the [directory change notification][design-notification]; [`Machine::fs_rtl_notify_full_report_change`]).
    ///
    /// # Errors
    /// As [`Machine::nt_read_file`].
    ///
    /// [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
    #[doc(alias = "NtNotifyChangeDirectoryFile")]
    pub fn nt_notify_change_directory_file(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        buffer: Va,
        length: u32,
        completion_filter: u32,
    ) -> Result<IoRequest> {
        self.enter("NtNotifyChangeDirectoryFile")?;
        let pid = self.service_thread(tid)?;
        let probes = probe(iosb, super::complete::IO_STATUS_BLOCK_SIZE)
            .and_then(|()| probe(Some(buffer), length as u64));
        if let Err(Build::Failed(s)) = probes {
            return Ok(IoRequest {
                status: s,
                irp: None,
            });
        }
        let (top, irp) = self.new_request(tid, pid, device, iosb)?;
        self.set_first_location(
            irp,
            StackLocation {
                major_function: IRP_MJ_DIRECTORY_CONTROL,
                minor_function: IRP_MN_NOTIFY_CHANGE_DIRECTORY,
                parameters: Parameters::NotifyDirectory {
                    length,
                    completion_filter,
                },
                ..StackLocation::default()
            },
        )?;
        let i = self.irp_entry_mut(irp)?;
        i.user_buffer = Some(buffer);
        i.user_buffer_length = length as u64;
        self.send(tid, top, irp, Ok(()))
    }

    /// [`FsRtlNotifyFullReportChange`] completing a pended notify IRP with `record` as the
    /// change data, the way the FsRtl package does it (the [directory change
    /// notification][design-notification]): when the IRP has
    /// neither an MDL nor a SystemBuffer, it allocates a SystemBuffer of the request's
    /// `Length`, copies `record` into it, sets `IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER |
    /// IRP_INPUT_OPERATION`, sets `Information` to the record's length and completes the
    /// IRP — so the I/O manager copies it to the user's buffer in stage 2 and frees it.
    /// With an MDL, the record is written through the MDL's system mapping instead.
    ///
    /// # Errors
    /// A record longer than the request's buffer is `STATUS_NOTIFY_ENUM_DIR` completion
    /// (not an error); faults of the routines it calls propagate.
    ///
    /// [`FsRtlNotifyFullReportChange`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-_fsrtl_advanced_fcb_header-fsrtlnotifyfullreportchange
    /// [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
    #[doc(alias = "FsRtlNotifyFullReportChange")]
    pub fn fs_rtl_notify_full_report_change(&mut self, irp: IrpId, record: &[u8]) -> Result<()> {
        self.enter("FsRtlNotifyFullReportChange")?;
        let i = self.irp(irp)?.clone();
        let length = match i.current_stack_location().map(|l| l.parameters) {
            Some(Parameters::NotifyDirectory { length, .. }) => length as u64,
            _ => i.user_buffer_length,
        };
        let n = record.len() as u64;
        if n > length {
            self.irp_entry_mut(irp)?.io_status = super::IoStatusBlock {
                status: NtStatus::NOTIFY_ENUM_DIR,
                information: 0,
            };
            return self.io_complete_request(irp);
        }
        if let Some(mdl) = i.mdl_address {
            if let Some(sys) =
                self.mm_get_system_address_for_mdl_safe(mdl, crate::mdl::priority::NORMAL)?
            {
                self.write_as(Who::Kernel, sys, record, false)?;
            }
        } else {
            let sb = match i.system_buffer {
                Some(sb) => sb,
                None => {
                    let Some(sb) = self.pool_alloc(length.max(1), IO_SYSTEM_BUFFER_TAG, false)?
                    else {
                        return Err(Fault::Status(NtStatus::INSUFFICIENT_RESOURCES));
                    };
                    let ii = self.irp_entry_mut(irp)?;
                    ii.system_buffer = Some(sb);
                    ii.flags |= IrpFlags::BUFFERED_IO
                        | IrpFlags::DEALLOCATE_BUFFER
                        | IrpFlags::INPUT_OPERATION;
                    sb
                }
            };
            self.write_as(Who::Kernel, sb, record, false)?;
        }
        self.irp_entry_mut(irp)?.io_status = super::IoStatusBlock {
            status: NtStatus::SUCCESS,
            information: n,
        };
        self.io_complete_request(irp)
    }
}
