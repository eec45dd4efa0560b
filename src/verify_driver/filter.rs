//! Minifilters under the driver harness: [`SimpleFs`], the file system below the filter
//! manager (reads and writes through the caller's buffer as FastFat does, directory
//! notifications pended and completed by the FsRtl package from a timer), and
//! [`SwapFilter`], a buffer-swapping minifilter (Microsoft's SwapBuffers pattern) that also
//! watches directory notifications — correct, or with one chosen bug (the negative
//! controls of the directory change notification and of buffer swapping).

use super::DriverUnderTest;
use crate::addr::Va;
use crate::fault::Result;
use crate::io::fltmgr::{CallbackData, FltParameters, MiniFilter, PostOpStatus, PreOpStatus};
use crate::io::{DeviceId, Driver, IRP_MJ_READ, IoStatusBlock, IrpId, Parameters};
use crate::machine::Kernel;
use crate::mdl::{AccessMode, LockOperation, priority};
use crate::oracle::BugClass;
use crate::pool::{PoolType, tag};
use crate::status::NtStatus;
use serde::{Deserialize, Serialize};

/// The file's size: reads past it are short (`Information` < `Length`).
pub const FILE_SIZE: u64 = 3000;
/// Bytes of a write the file keeps at most.
const MAX_FILE: u64 = 1 << 20;
/// The change record a notification carries.
const RECORD: &[u8] = b"\x00\x00\x00\x00\x01\x00\x00\x00\x08\x00\x00\x00f\x00i\x00l\x00e\x00";

/// The byte of the file at `offset`.
pub fn file_byte(offset: u64) -> u8 {
    (offset % 253) as u8 ^ 0x6E
}

/// The file system below the filter manager (module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleFs;

impl Driver for SimpleFs {
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let loc = k.io_get_current_irp_stack_location(irp)?;
        let (status, info) = match loc.parameters {
            Parameters::NotifyDirectory { .. } => {
                k.io_mark_irp_pending(irp)?;
                k.io_set_cancel_routine(irp, Some(device))?;
                k.io_queue_push(device, irp)?;
                k.ke_set_timer(device, 100, 0)?;
                return Ok(NtStatus::PENDING);
            }
            Parameters::Read { length, .. } | Parameters::Write { length, .. } => {
                let read = loc.major_function == IRP_MJ_READ;
                match k.try_except(|k| transfer(k, device, irp, length, read))? {
                    Ok(n) => (NtStatus::SUCCESS, n),
                    Err(code) => (code, 0),
                }
            }
            _ => (NtStatus::INVALID_DEVICE_REQUEST, 0),
        };
        k.irp_mut(irp)?.io_status = IoStatusBlock {
            status,
            information: info,
        };
        k.io_complete_request(irp)?;
        Ok(status)
    }

    /// A change happened: every queued notification completes through FsRtl, in the
    /// timer's (system) context.
    fn timer(&self, k: &mut Kernel<'_>, device: DeviceId, _context: u64) -> Result<()> {
        while let Some(irp) = k.io_queue_pop(device)? {
            if k.io_set_cancel_routine(irp, None)?.is_some() {
                k.fs_rtl_notify_full_report_change(irp, RECORD)?;
            }
        }
        Ok(())
    }
}

/// A read or write of `length` bytes at file offset 0: through `Irp->MdlAddress` when
/// there is one, else the caller's buffer is locked first (an MDL put in
/// `Irp->MdlAddress`, as FastFat's `FatLockUserBuffer`); returns the bytes moved. What
/// a write brings becomes the file's contents (the device extension's `data`).
fn transfer(
    k: &mut Kernel<'_>,
    device: DeviceId,
    irp: IrpId,
    length: u32,
    read: bool,
) -> Result<u64> {
    let n = if read {
        (length as u64).min(FILE_SIZE)
    } else {
        length as u64
    };
    if n == 0 {
        return Ok(0);
    }
    let i = k.irp(irp)?.clone();
    let mdl = match (i.mdl_address, i.user_buffer) {
        (Some(d), _) => d,
        (None, Some(ub)) => {
            let Some(d) = k.io_allocate_mdl(ub, length, false, false, Some(irp))? else {
                return Ok(0);
            };
            let op = if read {
                LockOperation::IoWriteAccess
            } else {
                LockOperation::IoReadAccess
            };
            // FastFat's FatLockUserBuffer: a failed probe frees the MDL and takes it out
            // of the IRP again before the exception goes on.
            if let Err(e) = k.mm_probe_and_lock_pages(d, i.requestor_mode, op) {
                k.irp_mut(irp)?.mdl_address = None;
                k.io_free_mdl(d)?;
                return Err(e);
            }
            d
        }
        (None, None) => return Ok(0),
    };
    let Some(va) = k.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)? else {
        return Err(crate::Fault::Raise(NtStatus::INSUFFICIENT_RESOURCES));
    };
    if read {
        let data: Vec<u8> = (0..n).map(file_byte).collect();
        k.kernel_write(va, &data)?;
    } else {
        let data = k.kernel_read(va, n.min(MAX_FILE))?;
        k.device_mut(device)?.extension.data = data;
    }
    Ok(n)
}

/// One deliberate bug (or none) of a [`SwapFilter`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum FilterBug {
    /// None: reads are swapped and copied back by `Information`, the swap buffer freed;
    /// notifications are read through `FltGetNewSystemBufferAddress`.
    None,
    /// The post callback copies the whole `Length` back, not `Information`: a short
    /// read hands the app the swap buffer's stale pool bytes.
    CopiesWholeLength,
    /// The swap buffer is never freed.
    LeaksSwapBuffer,
    /// The post callback of a notification reads the caller's `DirectoryBuffer` (a
    /// user address, in whatever process completes the request) instead of the new
    /// system buffer.
    ReadsDirectoryBuffer,
    /// The post callback of a successful notification (`NT_SUCCESS`, which
    /// `STATUS_NOTIFY_ENUM_DIR` is) reads the new system buffer without checking that
    /// there is one.
    AssumesNewSystemBuffer,
    /// A write's swap buffer is handed down without the caller's bytes copied into it.
    SwapsWriteUncopied,
}

impl FilterBug {
    /// Every bug, `None` first.
    pub const ALL: [FilterBug; 6] = [
        FilterBug::None,
        FilterBug::CopiesWholeLength,
        FilterBug::LeaksSwapBuffer,
        FilterBug::ReadsDirectoryBuffer,
        FilterBug::AssumesNewSystemBuffer,
        FilterBug::SwapsWriteUncopied,
    ];

    /// The class the harness must name for this bug (`None` for the correct filter).
    pub fn expected(self) -> Option<BugClass> {
        match self {
            FilterBug::None => None,
            FilterBug::CopiesWholeLength => Some(BugClass::KernelBytesToUser),
            FilterBug::LeaksSwapBuffer => Some(BugClass::ResourceLeak),
            FilterBug::ReadsDirectoryBuffer => Some(BugClass::UnprobedUserAccess),
            FilterBug::AssumesNewSystemBuffer => Some(BugClass::ResourceFailureUnhandled),
            FilterBug::SwapsWriteUncopied => Some(BugClass::CopyInError),
        }
    }

    /// The real bug pattern this bug reproduces, with its source.
    pub fn pattern(self) -> &'static str {
        match self {
            FilterBug::None => {
                "correct: Microsoft's SwapBuffers pattern; notifications read through FltGetNewSystemBufferAddress"
            }
            FilterBug::CopiesWholeLength => {
                "a swapped read copied back by Length, not Information (Microsoft's SwapBuffers sample copies Information bytes): stale pool to the app"
            }
            FilterBug::LeaksSwapBuffer => {
                "the swap buffer not freed in the post callback (SwapBuffers frees it there)"
            }
            FilterBug::ReadsDirectoryBuffer => {
                "a notification's user DirectoryBuffer read in the post callback, which runs in the completing thread's context (FltGetNewSystemBufferAddress exists for this)"
            }
            FilterBug::AssumesNewSystemBuffer => {
                "FltGetNewSystemBufferAddress's NULL return used (no new system buffer: STATUS_NOTIFY_ENUM_DIR is a success status)"
            }
            FilterBug::SwapsWriteUncopied => {
                "a swapped write's buffer sent down without the caller's bytes (SwapBuffers copies them in the pre callback)"
            }
        }
    }

    /// The filter with this bug above a [`SimpleFs`] volume, serving reads, writes and
    /// directory notifications of 64 bytes.
    pub fn under_test(self) -> DriverUnderTest {
        DriverUnderTest::minifilter(&format!("swapfilter/{self:?}"), SwapFilter { bug: self })
            .read()
            .write()
            .notify(64)
    }
}

/// The buffer-swapping minifilter (module docs).
#[derive(Clone, Copy, Debug)]
pub struct SwapFilter {
    /// Its bug.
    pub bug: FilterBug,
}

const SWAP_TAG: u32 = tag(b"Swap");

impl MiniFilter for SwapFilter {
    fn pre_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PreOpStatus> {
        let (length, write, original) = match data.parameters {
            FltParameters::Read { length, .. } => (length, false, None),
            FltParameters::Write {
                length,
                write_buffer,
                mdl_address,
            } => (length, true, Some((write_buffer, mdl_address))),
            _ => return Ok(PreOpStatus::SuccessWithCallback),
        };
        if length == 0 {
            return Ok(PreOpStatus::SuccessNoCallback);
        }
        let Some(buf) = k.ex_allocate_pool_with_tag(PoolType::NonPaged, length as u64, SWAP_TAG)?
        else {
            return Ok(PreOpStatus::SuccessNoCallback);
        };
        if let Some((src, mdl)) = original.filter(|_| self.bug != FilterBug::SwapsWriteUncopied) {
            if !self.copy_in(k, data, buf, length, src, mdl)? {
                k.ex_free_pool_with_tag(buf, SWAP_TAG)?;
                return Ok(PreOpStatus::SuccessNoCallback);
            }
        }
        let Some(mdl) = k.io_allocate_mdl(buf, length, false, false, None)? else {
            k.ex_free_pool_with_tag(buf, SWAP_TAG)?;
            return Ok(PreOpStatus::SuccessNoCallback);
        };
        k.mm_build_mdl_for_non_paged_pool(mdl)?;
        data.parameters = if write {
            FltParameters::Write {
                length,
                write_buffer: Some(buf),
                mdl_address: Some(mdl),
            }
        } else {
            FltParameters::Read {
                length,
                read_buffer: Some(buf),
                mdl_address: Some(mdl),
            }
        };
        k.flt_set_callback_data_dirty(data)?;
        data.completion_context = buf.raw();
        Ok(PreOpStatus::SuccessWithCallback)
    }

    fn post_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PostOpStatus> {
        match data.parameters {
            FltParameters::Read { length, .. } if data.completion_context != 0 => {
                self.post_read(k, data, length)?;
            }
            FltParameters::Write { .. } if data.completion_context != 0 => {
                k.ex_free_pool_with_tag(Va::new(data.completion_context), SWAP_TAG)?;
            }
            FltParameters::NotifyDirectory { .. }
                if self.bug == FilterBug::AssumesNewSystemBuffer
                    && data.io_status.status.is_success() =>
            {
                let sb = k.flt_get_new_system_buffer_address(data)?;
                k.kernel_read(sb.unwrap_or(Va::new(0)), 4)?;
            }
            FltParameters::NotifyDirectory {
                directory_buffer, ..
            } if data.io_status.status.is_success() && data.io_status.information > 0 => {
                let n = data.io_status.information;
                if self.bug == FilterBug::ReadsDirectoryBuffer {
                    if let Some(ub) = directory_buffer {
                        let _ = k.try_except(|k| k.kernel_read(ub, n))?;
                    }
                } else if let Some(sb) = k.flt_get_new_system_buffer_address(data)? {
                    k.kernel_read(sb, n)?;
                }
            }
            _ => {}
        }
        Ok(PostOpStatus::FinishedProcessing)
    }
}

impl SwapFilter {
    /// Copies a write's `length` bytes from the caller's buffer (its MDL, else its
    /// address, probed, inside `__try`) into the swap buffer; `false` if it faulted.
    fn copy_in(
        &self,
        k: &mut Kernel<'_>,
        data: &CallbackData,
        buf: Va,
        length: u32,
        src: Option<Va>,
        mdl: Option<crate::MdlId>,
    ) -> Result<bool> {
        let n = length as u64;
        let src = match mdl {
            Some(d) => k.mm_get_system_address_for_mdl_safe(d, priority::NORMAL)?,
            None => src,
        };
        let Some(src) = src else { return Ok(false) };
        let user = mdl.is_none() && data.requestor_mode == AccessMode::UserMode;
        let r = k.try_except(|k| {
            if user {
                k.probe_for_read(src, n, 1)?;
            }
            k.kernel_copy(buf, src, n)
        })?;
        Ok(r.is_ok())
    }

    /// Copies what the file system read from the swap buffer to the caller's buffer
    /// (the original parameters: its MDL, else its address inside `__try`), then frees
    /// the swap buffer; the filter manager frees the swap MDL.
    fn post_read(&self, k: &mut Kernel<'_>, data: &CallbackData, length: u32) -> Result<()> {
        let buf = Va::new(data.completion_context);
        let n = if self.bug == FilterBug::CopiesWholeLength {
            length as u64
        } else {
            data.io_status.information.min(length as u64)
        };
        if data.io_status.status.is_success() && n > 0 {
            let (dst, user) = match data.parameters {
                FltParameters::Read {
                    mdl_address: Some(d),
                    ..
                } => (
                    k.mm_get_system_address_for_mdl_safe(d, priority::NORMAL)?,
                    false,
                ),
                FltParameters::Read { read_buffer, .. } => (read_buffer, true),
                _ => (None, false),
            };
            if let Some(dst) = dst {
                let user = user && data.requestor_mode == AccessMode::UserMode;
                let _ = k.try_except(|k| {
                    if user {
                        k.probe_for_write(dst, n, 1)?;
                    }
                    k.kernel_copy(dst, buf, n)
                })?;
            }
        }
        if self.bug != FilterBug::LeaksSwapBuffer {
            k.ex_free_pool_with_tag(buf, SWAP_TAG)?;
        }
        Ok(())
    }
}
