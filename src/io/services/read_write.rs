//! `NtReadFile` and `NtWriteFile`: one request whose buffer the top device's
//! `DO_BUFFERED_IO` / `DO_DIRECT_IO` flags describe ([semantics §5.2]).
//!
//! [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2

use super::{Build, IoRequest, probe_iosb_and};
use crate::addr::Va;
use crate::fault::Result;
use crate::io::device::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId};
use crate::io::irp::{IRP_MJ_READ, IRP_MJ_WRITE, IrpFlags, IrpId, Parameters, StackLocation};
use crate::machine::Machine;
use crate::mdl::LockOperation;
use crate::space::Tid;
use crate::vm::Who;

impl Machine {
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
    /// The request of [`Machine::nt_read_file`] (`read`) or [`Machine::nt_write_file`]:
    /// probe, build, send ([semantics §5.2]).
    ///
    /// [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
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
        if let Err(Build::Failed(s)) = probe_iosb_and(iosb, &[(Some(buffer), length as u64)]) {
            return Ok(IoRequest::refused(s));
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
        let built = self.read_write_buffer(irp, dflags, buffer, length, read);
        let service = if read { "NtReadFile" } else { "NtWriteFile" };
        self.send(service, tid, top, irp, built)
    }

    /// Describes a read or write's buffer as the top device's flags say, buffered tested
    /// first: a SystemBuffer (the user's bytes copied in for a write), a locked MDL, or
    /// the user's address (neither) ([semantics §5.2]).
    ///
    /// [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
    fn read_write_buffer(
        &mut self,
        irp: IrpId,
        dflags: u32,
        buffer: Va,
        length: u32,
        read: bool,
    ) -> std::result::Result<(), Build> {
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
                    self.vm()
                        .copy_as(Who::Kernel, sb, Who::Kernel, buffer, length as u64)?;
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
    }
}
