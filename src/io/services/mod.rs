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

mod control;
mod read_write;

use super::IO_SYSTEM_BUFFER_TAG;
use super::device::DeviceId;
use super::irp::{
    IRP_MJ_DIRECTORY_CONTROL, IRP_MN_NOTIFY_CHANGE_DIRECTORY, Irp, IrpFlags, IrpId, IrpStage,
    Parameters, StackLocation,
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
    /// The service's return value: what the driver stack's `IoCallDriver` returned
    /// (`STATUS_PENDING`, or the dispatch routine's own status for a request it finished,
    /// which need not equal the `IoStatus.Status` it completed with), or the exception
    /// code of a failed build.
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

/// `ProbeForRead`/`ProbeForWrite` as a range check: `len` bytes at `va` (none: nothing
/// to probe) must end at or below `MM_USER_PROBE_ADDRESS` without wrapping ([semantics §5.6]).
///
/// [semantics §5.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.6
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

/// Probes the caller's status block, then each buffer in order; the first failure is the
/// service's status.
fn probe_iosb_and(
    iosb: Option<Va>,
    buffers: &[(Option<Va>, u64)],
) -> std::result::Result<(), Build> {
    probe(iosb, super::complete::IO_STATUS_BLOCK_SIZE)?;
    buffers.iter().try_for_each(|&(va, len)| probe(va, len))
}

impl IoRequest {
    /// A request refused while probing: nothing was built or sent.
    fn refused(status: NtStatus) -> Self {
        IoRequest { status, irp: None }
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
        self.user_pointers.new_service();
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
        service: &'static str,
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
        self.check_irql_at_service_return(service)?;
        if self
            .irps
            .get(irp.0)
            .is_some_and(|i| i.stage == IrpStage::AwaitingService)
        {
            self.complete_stage2(irp)?;
        }
        self.deliver_apcs(tid)?;
        // `IopSynchronousServiceTail`: the service returns what `IoCallDriver` returned;
        // the final `IoStatus` reaches the caller through its IO_STATUS_BLOCK. A driver
        // whose return value and `IoStatus.Status` disagree is seen as Windows shows it
        // (Wine, dlls/ntoskrnl.exe/tests/ntoskrnl.c `do_return_status`, which runs on Windows).
        Ok(IoRequest {
            status,
            irp: Some(irp),
        })
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
        if let Err(Build::Failed(s)) = probe_iosb_and(iosb, &[(Some(buffer), length as u64)]) {
            return Ok(IoRequest::refused(s));
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
        self.send("NtNotifyChangeDirectoryFile", tid, top, irp, Ok(()))
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
    /// A record longer than the request's buffer, or a buffer that cannot be allocated
    /// (ReactOS `ntoskrnl/fsrtl/notify.c`: the notification then completes with no
    /// data), is `STATUS_NOTIFY_ENUM_DIR` completion (not an error); faults of the
    /// routines it calls propagate.
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
                self.vm().write_as(Who::Kernel, sys, record, false)?;
            }
        } else {
            let sb = match i.system_buffer {
                Some(sb) => sb,
                None => {
                    let Some(sb) = self.pool_alloc(length.max(1), IO_SYSTEM_BUFFER_TAG, false)?
                    else {
                        // ReactOS notify.c: a failed allocation of the notification's
                        // buffer makes it "notify immediately" with no data, which
                        // completes STATUS_NOTIFY_ENUM_DIR (the app re-enumerates).
                        self.irp_entry_mut(irp)?.io_status = super::IoStatusBlock {
                            status: NtStatus::NOTIFY_ENUM_DIR,
                            information: 0,
                        };
                        return self.io_complete_request(irp);
                    };
                    let ii = self.irp_entry_mut(irp)?;
                    ii.system_buffer = Some(sb);
                    ii.flags |= IrpFlags::BUFFERED_IO
                        | IrpFlags::DEALLOCATE_BUFFER
                        | IrpFlags::INPUT_OPERATION;
                    sb
                }
            };
            self.vm().write_as(Who::Kernel, sb, record, false)?;
        }
        self.irp_entry_mut(irp)?.io_status = super::IoStatusBlock {
            status: NtStatus::SUCCESS,
            information: n,
        };
        self.io_complete_request(irp)
    }
}
