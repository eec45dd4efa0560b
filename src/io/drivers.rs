//! Ready-made drivers: a device that completes at once using whichever buffer the
//! I/O manager built, a cancel-safe queueing device (correct, or with a chosen
//! bug), and a pass-through filter.

use super::IoStatusBlock;
use super::device::{DeviceId, DispatchRecord, Driver};
use super::ioctl::{METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, method_from_ctl_code};
use super::irp::{
    IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, Irp, IrpFlags, IrpId, Parameters,
    StackLocation,
};
use crate::addr::Va;
use crate::fault::Result;
use crate::machine::Kernel;
use crate::mdl::{MdlId, priority};
use crate::status::NtStatus;

/// The byte a [`PatternDriver`] produces at offset `i` of an output buffer.
pub const fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8 ^ 0xA5
}

/// Bytes a driver writes per call: a large buffer is filled 1 MiB at a time, so the
/// host holds one chunk, not the whole length (a 4 GiB neither-I/O read reached 4 GB of
/// RSS building its pattern before the first byte faulted).
const PATTERN_CHUNK: u64 = 1 << 20;

/// Fills `[va, va + len)` with [`pattern_byte`]s, one [`PATTERN_CHUNK`] per
/// `RtlCopyMemory`, stopping at the first fault (as one copy of the whole length would).
fn write_pattern(k: &mut Kernel<'_>, va: Va, len: u64) -> Result<()> {
    let mut done = 0;
    while done < len {
        let n = (len - done).min(PATTERN_CHUNK);
        let chunk: Vec<u8> = (done..done + n).map(pattern_byte).collect();
        k.kernel_write(va.wrapping_add(done), &chunk)?;
        done += n;
    }
    Ok(())
}

fn mdl_va(k: &mut Kernel<'_>, mdl: Option<MdlId>) -> Result<Option<Va>> {
    match mdl {
        Some(md) => k.mm_get_system_address_for_mdl_safe(md, priority::NORMAL),
        None => Ok(None),
    }
}

/// Completes every request in its dispatch routine, using the buffer the I/O manager
/// built: reads and IOCTL outputs are filled with [`pattern_byte`]s, write and IOCTL
/// inputs are read and recorded in the device extension's
/// [`super::DeviceExtension::records`]. `Information` is the full length. A driver that
/// handles `MdlAddress == NULL` and zero lengths correctly (["Errors in Direct I/O"][design-direct-io]), and touches buffers
/// inside `__try/__except`: a fault (a bad neither-I/O pointer) completes the request with
/// the exception code.
///
/// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
#[derive(Clone, Copy, Debug, Default)]
pub struct PatternDriver;

impl Driver for PatternDriver {
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let i = k.irp(irp)?.clone();
        let loc = k.io_get_current_irp_stack_location(irp)?;
        let dflags = k.device(device)?.flags;
        // Buffer accesses run inside __try/__except: a neither-I/O user pointer may be bad.
        let (input, info, status) = match k.try_except(|k| serve(k, &i, loc, dflags))? {
            Ok((input, info)) => (input, info, NtStatus::SUCCESS),
            Err(code) => (Vec::new(), 0, code),
        };
        record_dispatch(k, device, irp, input)?;
        k.irp_mut(irp)?.io_status = IoStatusBlock {
            status,
            information: info,
        };
        k.io_complete_request(irp)?;
        Ok(status)
    }
}

/// What a [`PatternDriver`] does with a request's buffers: the input it read and the
/// `Information` it reports. A fault is returned to the dispatch routine's `__except`.
fn serve(k: &mut Kernel<'_>, i: &Irp, loc: StackLocation, dflags: u32) -> Result<(Vec<u8>, u64)> {
    let mut input = Vec::new();
    let mut info = 0u64;
    match (loc.major_function, loc.parameters) {
        (IRP_MJ_READ, Parameters::Read { length, .. }) => {
            let l = length as u64;
            if let (Some(d), true) = (transfer_buffer(k, i, dflags)?, l > 0) {
                if neither(dflags) && from_user(i) {
                    k.probe_for_write(d, l, 1)?;
                }
                write_pattern(k, d, l)?;
            }
            info = l;
        }
        (IRP_MJ_WRITE, Parameters::Write { length, .. }) => {
            let l = length as u64;
            if let (Some(s), true) = (transfer_buffer(k, i, dflags)?, l > 0) {
                if neither(dflags) && from_user(i) {
                    k.probe_for_read(s, l, 1)?;
                }
                input = k.kernel_read(s, l)?;
            }
            info = l;
        }
        (
            IRP_MJ_DEVICE_CONTROL | super::IRP_MJ_FILE_SYSTEM_CONTROL,
            Parameters::DeviceIoControl {
                output_buffer_length,
                input_buffer_length,
                io_control_code,
                type3_input_buffer,
            },
        ) => {
            let (il, ol) = (input_buffer_length as u64, output_buffer_length as u64);
            (input, info) = serve_ioctl(k, i, io_control_code, type3_input_buffer, il, ol)?;
        }
        _ => {}
    }
    Ok((input, info))
}

/// Neither buffered nor direct: the IRP carries the caller's own pointer, which the
/// driver must probe before it touches it ([`crate::user_pointers`]).
fn neither(dflags: u32) -> bool {
    dflags & (super::DO_BUFFERED_IO | super::DO_DIRECT_IO) == 0
}

/// A request from user mode (`Irp->RequestorMode != KernelMode`): its neither-I/O
/// pointers are the caller's and must be probed; a kernel-mode caller's are trusted.
fn from_user(i: &Irp) -> bool {
    i.requestor_mode == crate::mdl::AccessMode::UserMode
}

/// The buffer of a read or write as the device's flags say the I/O manager built it: the
/// system buffer (buffered I/O), the MDL mapped to system space (direct I/O), or the
/// user's pointer (neither).
fn transfer_buffer(k: &mut Kernel<'_>, i: &Irp, dflags: u32) -> Result<Option<Va>> {
    if dflags & super::DO_BUFFERED_IO != 0 {
        Ok(i.system_buffer)
    } else if dflags & super::DO_DIRECT_IO != 0 {
        mdl_va(k, i.mdl_address)
    } else {
        Ok(i.user_buffer)
    }
}

/// An IOCTL (or FSCTL) by its transfer method: the input read (`il` bytes), the output
/// (`ol` bytes) written with the pattern or, for `METHOD_IN_DIRECT`, read as input too.
fn serve_ioctl(
    k: &mut Kernel<'_>,
    i: &Irp,
    io_control_code: u32,
    type3_input_buffer: Option<Va>,
    il: u64,
    ol: u64,
) -> Result<(Vec<u8>, u64)> {
    let mut input = Vec::new();
    let mut info = 0u64;
    let method = method_from_ctl_code(io_control_code);
    let in_src = if method == METHOD_NEITHER {
        type3_input_buffer
    } else {
        i.system_buffer
    };
    if let (Some(s), true) = (in_src, il > 0) {
        if method == METHOD_NEITHER && from_user(i) {
            k.probe_for_read(s, il, 1)?;
        }
        input = k.kernel_read(s, il)?;
    }
    match method {
        METHOD_BUFFERED => {
            if let (Some(d), true) = (i.system_buffer, ol > 0) {
                write_pattern(k, d, ol)?;
                info = ol;
            }
        }
        METHOD_IN_DIRECT => {
            if let Some(s) = mdl_va(k, i.mdl_address)? {
                input.extend(k.kernel_read(s, ol)?);
            }
        }
        METHOD_NEITHER => {
            if let (Some(d), true) = (i.user_buffer, ol > 0) {
                if from_user(i) {
                    k.probe_for_write(d, ol, 1)?;
                }
                write_pattern(k, d, ol)?;
                info = ol;
            }
        }
        _ => {
            if let Some(d) = mdl_va(k, i.mdl_address)? {
                write_pattern(k, d, ol)?;
                info = ol;
            }
        }
    }
    Ok((input, info))
}

/// A deliberate bug for [`QueueDriver`] (negative controls for the race harness).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum QueueDriverBug {
    /// None: the completion path clears the cancel routine and completes only if it got
    /// it back; the cancel routine completes only an IRP it removed from the queue.
    None,
    /// The completion path completes without clearing the cancel routine.
    NoClearCancelRoutine,
    /// As `NoClearCancelRoutine`, and the cancel routine completes the IRP whether or
    /// not it was still queued.
    NoClearBlindCancel,
    /// Sets no cancel routine at all: the IRP can only finish by its timer.
    NotCancelable,
}

/// Pends every request in a queue in its device extension with a cancel routine; a
/// timer (`ke_set_timer(device, ms, 0)`) or [`QueueDriver::complete_next`] completes
/// the oldest one, filling its buffer with [`pattern_byte`]s.
#[derive(Clone, Copy, Debug)]
pub struct QueueDriver {
    /// The bug it has.
    pub bug: QueueDriverBug,
}

impl QueueDriver {
    /// The completion path's first step: dequeue the oldest IRP and (unless buggy)
    /// clear its cancel routine. `None` if there was nothing to complete or the cancel
    /// routine owns it.
    ///
    /// # Errors
    /// Faults of the routines it calls.
    pub fn claim(
        k: &mut Kernel<'_>,
        device: DeviceId,
        bug: QueueDriverBug,
    ) -> Result<Option<IrpId>> {
        let Some(irp) = k.io_queue_pop(device)? else {
            return Ok(None);
        };
        match bug {
            QueueDriverBug::None => {
                if k.io_set_cancel_routine(irp, None)?.is_none() {
                    return Ok(None);
                }
                Ok(Some(irp))
            }
            _ => Ok(Some(irp)),
        }
    }

    /// The completion path's second step: fill the buffer and complete with success.
    ///
    /// # Errors
    /// Faults of the routines it calls (0x44 on a double completion).
    pub fn finish(k: &mut Kernel<'_>, irp: IrpId, _bug: QueueDriverBug) -> Result<()> {
        let mut info = 0;
        if let Ok(i) = k.irp(irp).cloned() {
            let len = match i.current_stack_location().map(|l| l.parameters) {
                Some(Parameters::Read { length, .. }) => length as u64,
                _ => 0,
            };
            if len > 0 {
                let dst = if i.flags.contains(IrpFlags::BUFFERED_IO) {
                    i.system_buffer
                } else {
                    mdl_va(k, i.mdl_address)?
                };
                if let Some(d) = dst {
                    write_pattern(k, d, len)?;
                    info = len;
                }
            }
            k.irp_mut(irp)?.io_status = IoStatusBlock {
                status: NtStatus::SUCCESS,
                information: info,
            };
        }
        k.io_complete_request(irp)
    }

    /// Claims and finishes the oldest queued IRP; returns it.
    ///
    /// # Errors
    /// Faults of the routines it calls.
    pub fn complete_next(
        k: &mut Kernel<'_>,
        device: DeviceId,
        bug: QueueDriverBug,
    ) -> Result<Option<IrpId>> {
        let c = Self::claim(k, device, bug)?;
        if let Some(irp) = c {
            Self::finish(k, irp, bug)?;
        }
        Ok(c)
    }
}

/// Records what a dispatch routine sees of `irp` (flags, buffers, `MdlAddress`) in
/// `device`'s [`super::DeviceExtension::records`], with the `input` bytes it received; returns the current stack location.
///
/// # Errors
/// A stale IRP or device.
pub fn record_dispatch(
    k: &mut Kernel<'_>,
    device: DeviceId,
    irp: IrpId,
    input: Vec<u8>,
) -> Result<super::StackLocation> {
    let loc = k.io_get_current_irp_stack_location(irp)?;
    let i = k.irp(irp)?;
    let record = DispatchRecord {
        irp,
        major: loc.major_function,
        flags: i.flags,
        system_buffer: i.system_buffer,
        mdl: i.mdl_address,
        user_buffer: i.user_buffer,
        input,
    };
    k.device_mut(device)?.extension.records.push(record);
    Ok(loc)
}

/// `Irp->IoStatus = { status, 0 }; IoCompleteRequest(Irp)`.
///
/// # Errors
/// Faults of `IoCompleteRequest` (0x44 on a second completion).
pub fn complete_with(k: &mut Kernel<'_>, irp: IrpId, status: NtStatus) -> Result<()> {
    k.irp_mut(irp)?.io_status = IoStatusBlock {
        status,
        information: 0,
    };
    k.io_complete_request(irp)
}

/// A dispatch routine pending `irp` in `device`'s queue, the cancel-safe way
/// ([semantics §6]): `IoMarkIrpPending`; if `cancelable`, `IoSetCancelRoutine`, and if `Cancel` was
/// already set take the routine back and complete `STATUS_CANCELLED` at once (whoever
/// gets the routine back owns the IRP); otherwise queue it. Returns `STATUS_PENDING`.
///
/// # Errors
/// Faults of the routines it calls.
///
/// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
pub fn pend_in_queue(
    k: &mut Kernel<'_>,
    device: DeviceId,
    irp: IrpId,
    cancelable: bool,
) -> Result<NtStatus> {
    k.io_mark_irp_pending(irp)?;
    if cancelable {
        k.io_set_cancel_routine(irp, Some(device))?;
        if k.irp(irp)?.cancel && k.io_set_cancel_routine(irp, None)?.is_some() {
            complete_with(k, irp, NtStatus::CANCELLED)?;
            return Ok(NtStatus::PENDING);
        }
    }
    k.io_queue_push(device, irp)?;
    Ok(NtStatus::PENDING)
}

impl Driver for QueueDriver {
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        pend_in_queue(k, device, irp, self.bug != QueueDriverBug::NotCancelable)
    }

    fn cancel(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<()> {
        let removed = k.io_queue_remove(device, irp)?;
        if removed || self.bug == QueueDriverBug::NoClearBlindCancel {
            complete_with(k, irp, NtStatus::CANCELLED)?;
        }
        Ok(())
    }

    fn timer(&self, k: &mut Kernel<'_>, device: DeviceId, _context: u64) -> Result<()> {
        Self::complete_next(k, device, self.bug).map(|_| ())
    }
}

/// A legacy filter that passes every request down with a completion routine (which
/// propagates `PendingReturned`), recording what it saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThroughFilter;

impl Driver for PassThroughFilter {
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        record_dispatch(k, device, irp, Vec::new())?;
        let Some(lower) = k.device(device)?.lower else {
            complete_with(k, irp, NtStatus::INVALID_DEVICE_REQUEST)?;
            return Ok(NtStatus::INVALID_DEVICE_REQUEST);
        };
        k.io_copy_current_irp_stack_location_to_next(irp)?;
        k.io_set_completion_routine(irp, device, 0, true, true, true)?;
        k.io_call_driver(lower, irp)
    }
}
