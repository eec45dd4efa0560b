//! Kernel-built IRPs: `IoBuildDeviceIoControlRequest`, `IoBuildSynchronousFsdRequest`
//! ([semantics §5.4]).
//!
//! Both build in the current context with `RequestorMode = KernelMode`, probe in
//! **kernel mode**, queue the IRP to the current thread (so completion stage 2 runs
//! as for a system service), and return `Ok(None)` (NULL) when building fails, having
//! freed what they built. The caller sends the IRP with [`Machine::io_call_driver`].
//! `IoBuildAsynchronousFsdRequest` (thread-less; its owner must reclaim it in a
//! completion routine) is not modelled.
//!
//! [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4

use super::IO_SYSTEM_BUFFER_TAG;
use super::device::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId};
use super::ioctl::{METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, method_from_ctl_code};
use super::irp::{
    IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, Irp, IrpFlags, IrpId, Parameters,
    StackLocation,
};
use crate::addr::Va;
use crate::fault::{Fault, ModelError, Result};
use crate::machine::Machine;
use crate::mdl::{AccessMode, LockOperation};
use crate::space::Tid;
use crate::vm::Who;

/// `IRP_MJ_INTERNAL_DEVICE_CONTROL` (0x0F).
pub const IRP_MJ_INTERNAL_DEVICE_CONTROL: u8 = 0x0F;

impl Machine {
    /// The thread running now: the last thread that entered a system service, if its
    /// process is the running one; else that process's first live thread; `None` for a
    /// system thread.
    pub fn current_thread(&self) -> Option<Tid> {
        let pid = self.running?;
        match self.io.current_thread {
            Some(t)
                if self
                    .threads
                    .get(&t)
                    .is_some_and(|th| th.pid == pid && th.alive) =>
            {
                Some(t)
            }
            _ => self.processes.get(&pid).and_then(|p| {
                p.threads
                    .iter()
                    .copied()
                    .find(|t| self.threads.get(t).is_some_and(|th| th.alive))
            }),
        }
    }

    fn kernel_irp(
        &mut self,
        device: DeviceId,
        iosb: Option<Va>,
        loc: StackLocation,
    ) -> Result<IrpId> {
        let size = self.irp_stack_size(device)?;
        let birth = self.birth();
        let mut irp = Irp::new(size, birth);
        irp.thread = self.current_thread();
        irp.process = irp.thread.and_then(|t| self.threads.get(&t)).map(|t| t.pid);
        irp.requestor_mode = AccessMode::KernelMode;
        irp.system_thread = irp.thread.is_none();
        irp.user_iosb = iosb;
        if let Some(last) = irp.stack.last_mut() {
            *last = loc;
        }
        Ok(IrpId(self.irps.insert(irp)))
    }

    /// Runs a build step; an exception frees the IRP and yields NULL.
    fn finish_build(&mut self, irp: IrpId, r: Result<()>) -> Result<Option<IrpId>> {
        match r {
            Ok(()) => {
                if let Some(t) = self.irp(irp)?.thread {
                    self.queue_irp_to_thread(t, irp);
                }
                Ok(Some(irp))
            }
            Err(Fault::Raise(_)) | Err(Fault::Status(_)) => {
                self.cleanup_after_exception(irp)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn kernel_system_buffer(&mut self, irp: IrpId, len: u64) -> Result<Va> {
        let sb = self
            .pool_alloc(len, IO_SYSTEM_BUFFER_TAG, false)?
            .ok_or(Fault::Status(
                crate::status::NtStatus::INSUFFICIENT_RESOURCES,
            ))?;
        self.irp_entry_mut(irp)?.system_buffer = Some(sb);
        Ok(sb)
    }

    fn kernel_lock(&mut self, irp: IrpId, va: Va, len: u32, op: LockOperation) -> Result<()> {
        let mdl = self
            .io_allocate_mdl(va, len, false, false, Some(irp))?
            .ok_or(Fault::Status(
                crate::status::NtStatus::INSUFFICIENT_RESOURCES,
            ))?;
        self.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, op)
    }

    /// [`IoBuildDeviceIoControlRequest`]: an IOCTL IRP for `device` built like
    /// `NtDeviceIoControlFile` but keyed on **pointer presence** ([semantics §5.4]): the
    /// input is buffered if `input` is given; an MDL is built for `output` if it is given
    /// (a given pointer with length 0 hits the `IoAllocateMdl` ASSERT); probes are in
    /// kernel mode. The IRP is queued to the current thread.
    ///
    /// # Errors
    /// `Ok(None)` when building raised (nothing leaks); the `IoAllocateMdl` ASSERT above.
    ///
    /// [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
    /// [`IoBuildDeviceIoControlRequest`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iobuilddeviceiocontrolrequest
    #[doc(alias = "IoBuildDeviceIoControlRequest")]
    #[allow(clippy::too_many_arguments)]
    pub fn io_build_device_io_control_request(
        &mut self,
        io_control_code: u32,
        device: DeviceId,
        input: Option<Va>,
        input_length: u32,
        output: Option<Va>,
        output_length: u32,
        internal: bool,
        iosb: Option<Va>,
    ) -> Result<Option<IrpId>> {
        self.enter("IoBuildDeviceIoControlRequest")?;
        let method = method_from_ctl_code(io_control_code);
        let loc = StackLocation {
            major_function: if internal {
                IRP_MJ_INTERNAL_DEVICE_CONTROL
            } else {
                IRP_MJ_DEVICE_CONTROL
            },
            parameters: Parameters::DeviceIoControl {
                output_buffer_length: output_length,
                input_buffer_length: input_length,
                io_control_code,
                type3_input_buffer: if method == METHOD_NEITHER {
                    input
                } else {
                    None
                },
            },
            ..StackLocation::default()
        };
        let irp = self.kernel_irp(device, iosb, loc)?;
        let r = self.ioctl_buffers(irp, method, input, input_length, output, output_length);
        self.finish_build(irp, r)
    }

    /// The buffers of [`Machine::io_build_device_io_control_request`] by transfer method:
    /// a system buffer for both directions (buffered), the input buffered and the output
    /// locked in an MDL (direct), or the pointers as given (neither).
    fn ioctl_buffers(
        &mut self,
        irp: IrpId,
        method: u32,
        input: Option<Va>,
        input_length: u32,
        output: Option<Va>,
        output_length: u32,
    ) -> Result<()> {
        match method {
            METHOD_BUFFERED => {
                let l = input_length.max(output_length) as u64;
                if l > 0 {
                    let sb = self.kernel_system_buffer(irp, l)?;
                    if let Some(i) = input {
                        self.vm()
                            .copy_as(Who::Kernel, sb, Who::Kernel, i, input_length as u64)?;
                    }
                    self.irp_entry_mut(irp)?
                        .set_ioctl_output(output, output_length, true);
                }
            }
            METHOD_NEITHER => {
                self.irp_entry_mut(irp)?
                    .set_ioctl_output(output, output_length, false);
            }
            _ => {
                if let Some(inp) = input {
                    let sb = self.kernel_system_buffer(irp, input_length as u64)?;
                    self.vm()
                        .copy_as(Who::Kernel, sb, Who::Kernel, inp, input_length as u64)?;
                    self.irp_entry_mut(irp)?.flags |=
                        IrpFlags::BUFFERED_IO | IrpFlags::DEALLOCATE_BUFFER;
                }
                if let Some(out) = output {
                    let op = if method == METHOD_IN_DIRECT {
                        LockOperation::IoReadAccess
                    } else {
                        LockOperation::IoWriteAccess
                    };
                    self.kernel_lock(irp, out, output_length, op)?;
                }
            }
        }
        Ok(())
    }

    /// [`IoBuildSynchronousFsdRequest`] for `IRP_MJ_READ` / `IRP_MJ_WRITE`: buffered target →
    /// SystemBuffer of `length` (`WRITE` copies in; `READ` sets `IRP_INPUT_OPERATION` with
    /// `UserBuffer = buffer`); direct → an MDL probed in kernel mode (`READ` for
    /// `IoWriteAccess`); neither → `UserBuffer = buffer` ([semantics §5.4]). Queued to the
    /// current thread.
    ///
    /// # Errors
    /// `Ok(None)` when building raised; a major other than READ/WRITE is a [`ModelError`].
    ///
    /// [`IoBuildSynchronousFsdRequest`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iobuildsynchronousfsdrequest
    /// [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
    #[doc(alias = "IoBuildSynchronousFsdRequest")]
    pub fn io_build_synchronous_fsd_request(
        &mut self,
        major: u8,
        device: DeviceId,
        buffer: Va,
        length: u32,
        byte_offset: u64,
        iosb: Option<Va>,
    ) -> Result<Option<IrpId>> {
        self.enter("IoBuildSynchronousFsdRequest")?;
        let read = match major {
            IRP_MJ_READ => true,
            IRP_MJ_WRITE => false,
            m => {
                return Err(ModelError::Unsupported(format!(
                    "IoBuildSynchronousFsdRequest major {m:#x}"
                ))
                .into());
            }
        };
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
        let loc = StackLocation {
            major_function: major,
            parameters,
            ..StackLocation::default()
        };
        let irp = self.kernel_irp(device, iosb, loc)?;
        let flags = self.device(device)?.flags;
        let r = (|| -> Result<()> {
            if flags & DO_BUFFERED_IO != 0 {
                let sb = self.kernel_system_buffer(irp, length as u64)?;
                let mut f = IrpFlags::BUFFERED_IO | IrpFlags::DEALLOCATE_BUFFER;
                if read {
                    f |= IrpFlags::INPUT_OPERATION;
                    let i = self.irp_entry_mut(irp)?;
                    i.user_buffer = Some(buffer);
                    i.user_buffer_length = length as u64;
                } else {
                    self.vm()
                        .copy_as(Who::Kernel, sb, Who::Kernel, buffer, length as u64)?;
                }
                self.irp_entry_mut(irp)?.flags |= f;
            } else if flags & DO_DIRECT_IO != 0 {
                let op = if read {
                    LockOperation::IoWriteAccess
                } else {
                    LockOperation::IoReadAccess
                };
                self.kernel_lock(irp, buffer, length, op)?;
            } else {
                let i = self.irp_entry_mut(irp)?;
                i.user_buffer = Some(buffer);
                i.user_buffer_length = length as u64;
            }
            Ok(())
        })();
        self.finish_build(irp, r)
    }
}
