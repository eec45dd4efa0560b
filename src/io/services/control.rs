//! `NtDeviceIoControlFile` and `NtFsControlFile` (`IopDeviceFsIoControl`): the buffers the
//! control code's transfer method describes ([semantics §5.3]).
//!
//! [semantics §5.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.3

use super::{Build, IoRequest, probe_iosb_and};
use crate::addr::Va;
use crate::fault::Result;
use crate::io::device::DeviceId;
use crate::io::ioctl::{METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, method_from_ctl_code};
use crate::io::irp::{
    IRP_MJ_DEVICE_CONTROL, IRP_MJ_FILE_SYSTEM_CONTROL, IrpFlags, IrpId, Parameters, StackLocation,
};
use crate::machine::Machine;
use crate::mdl::LockOperation;
use crate::space::Tid;
use crate::vm::Who;

/// An IOCTL's or FSCTL's buffers as the service takes them: a NULL buffer forces its
/// length to 0, except the input of METHOD_NEITHER and the output of every method but
/// METHOD_BUFFERED ([semantics §5.3]).
///
/// [semantics §5.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.3
#[derive(Clone, Copy)]
struct ControlBuffers {
    method: u32,
    input: Option<Va>,
    in_len: u32,
    output: Option<Va>,
    out_len: u32,
}

impl ControlBuffers {
    /// The buffers of a request with `io_control_code`.
    fn new(
        io_control_code: u32,
        (input, input_length): (Option<Va>, u32),
        (output, output_length): (Option<Va>, u32),
    ) -> Self {
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
        ControlBuffers {
            method,
            input,
            in_len,
            output,
            out_len,
        }
    }

    /// Probes the status block and, unless METHOD_NEITHER (nothing probed), both buffers.
    fn probe(&self, iosb: Option<Va>) -> std::result::Result<(), Build> {
        if self.method == METHOD_NEITHER {
            return probe_iosb_and(iosb, &[]);
        }
        probe_iosb_and(
            iosb,
            &[
                (self.input, self.in_len as u64),
                (self.output, self.out_len as u64),
            ],
        )
    }
}

impl Machine {
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

    /// `IopDeviceFsIoControl`: probe, build, send ([semantics §5.3]).
    ///
    /// [semantics §5.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.3
    #[allow(clippy::too_many_arguments)]
    fn device_fs_io_control(
        &mut self,
        tid: Tid,
        device: DeviceId,
        iosb: Option<Va>,
        io_control_code: u32,
        input: (Option<Va>, u32),
        output: (Option<Va>, u32),
        fsctl: bool,
    ) -> Result<IoRequest> {
        let pid = self.service_thread(tid)?;
        let b = ControlBuffers::new(io_control_code, input, output);
        if let Err(Build::Failed(s)) = b.probe(iosb) {
            return Ok(IoRequest::refused(s));
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
                    output_buffer_length: b.out_len,
                    input_buffer_length: b.in_len,
                    io_control_code,
                    type3_input_buffer: if b.method == METHOD_NEITHER {
                        b.input
                    } else {
                        None
                    },
                },
                ..StackLocation::default()
            },
        )?;
        let built = self.control_buffers(irp, b, fsctl);
        let service = if fsctl {
            "NtFsControlFile"
        } else {
            "NtDeviceIoControlFile"
        };
        self.send(service, tid, top, irp, built)
    }

    /// Describes a control request's buffers as its method says: one SystemBuffer of
    /// `max(in, out)` bytes (BUFFERED), the input in a SystemBuffer and the output in a
    /// locked MDL (IN_DIRECT / OUT_DIRECT), or the user's addresses (NEITHER); an FSCTL
    /// also defers its completion ([semantics §5.3]).
    ///
    /// [semantics §5.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.3
    fn control_buffers(
        &mut self,
        irp: IrpId,
        b: ControlBuffers,
        fsctl: bool,
    ) -> std::result::Result<(), Build> {
        let ControlBuffers {
            method,
            input,
            in_len,
            output,
            out_len,
        } = b;
        match method {
            METHOD_BUFFERED => {
                let l = in_len.max(out_len) as u64;
                if l > 0 {
                    let sb = self.system_buffer(irp, l)?;
                    if let Some(inp) = input.filter(|_| in_len > 0) {
                        self.vm()
                            .copy_as(Who::Kernel, sb, Who::Kernel, inp, in_len as u64)?;
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
                    self.vm()
                        .copy_as(Who::Kernel, sb, Who::Kernel, inp, in_len as u64)?;
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
    }
}
