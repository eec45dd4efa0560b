//! [`SampleDriver`]: a small driver with the request handlers real drivers have — a
//! METHOD_NEITHER setter, a METHOD_BUFFERED getter, a METHOD_IN_DIRECT consumer, a
//! METHOD_OUT_DIRECT producer, a pended METHOD_BUFFERED wait, direct-I/O reads — correct, or with one chosen bug of the
//! classic IOCTL classes: the negative controls of the driver harness.

use super::DriverUnderTest;
use crate::addr::Va;
use crate::fault::Result;
use crate::io::ioctl::{
    FILE_ANY_ACCESS, METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, METHOD_OUT_DIRECT, ctl_code,
};
use crate::io::{DeviceId, Driver, IRP_MJ_READ, IoStatusBlock, IrpId, Parameters};
use crate::machine::Kernel;
use crate::mdl::MdlId;
use crate::mdl::priority;
use crate::oracle::BugClass;
use crate::pool::{PoolType, tag};
use crate::status::NtStatus;
use serde::{Deserialize, Serialize};

const DEVICE: u32 = 0x8000;
/// METHOD_NEITHER: `{ u32 length; u8 data[12] }` from `Type3InputBuffer`.
pub const IOCTL_SET: u32 = ctl_code(DEVICE, 0x800, METHOD_NEITHER, FILE_ANY_ACCESS);
/// METHOD_BUFFERED: a 4-byte version into a 16-byte output.
pub const IOCTL_GET: u32 = ctl_code(DEVICE, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);
/// METHOD_IN_DIRECT: 64 bytes read from the output buffer's MDL.
pub const IOCTL_CONSUME: u32 = ctl_code(DEVICE, 0x802, METHOD_IN_DIRECT, FILE_ANY_ACCESS);
/// METHOD_BUFFERED: pended, completed by a timer after 100 ms (or cancelled).
pub const IOCTL_WAIT: u32 = ctl_code(DEVICE, 0x803, METHOD_BUFFERED, FILE_ANY_ACCESS);
/// METHOD_OUT_DIRECT: 64 bytes written into the output buffer's MDL.
pub const IOCTL_PRODUCE: u32 = ctl_code(DEVICE, 0x804, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);

/// The address of the driver's spin lock guarding its state (a global of its image).
const STATE_LOCK: Va = Va::new(0xFFFF_F800_0010_0000);

/// The setter's payload bytes at most.
const SET_MAX: u32 = 12;

/// One deliberate bug (or none) of a [`SampleDriver`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum DriverBug {
    /// None: every handler is correct.
    None,
    /// The setter reads `Type3InputBuffer` without `ProbeForRead`.
    NoProbe,
    /// The setter probes, but reads outside `__try/__except`.
    NoTry,
    /// The setter validates the length it read, then reads the header again to use it.
    DoubleFetch,
    /// The getter reports `Information` 16 for the 4 bytes it wrote.
    InformationPastWritten,
    /// The consumer writes through its METHOD_IN_DIRECT MDL (probed for read).
    WritesInDirectBuffer,
    /// Reads map `Irp->MdlAddress` without checking it (NULL for a zero-length read).
    NoNullMdlCheck,
    /// Reads use `MmGetSystemAddressForMdlSafe`'s result without checking it for NULL.
    NoMapFailureCheck,
    /// The getter returns `STATUS_SUCCESS` but completes with `STATUS_BUFFER_OVERFLOW`.
    StatusMismatch,
    /// The setter checks only that there is some input, not that it holds a header and
    /// its data: it reads past the input length the caller passed.
    IgnoresInputLength,
    /// The setter allocates a scratch block per request and never frees it.
    LeaksPool,
    /// The setter writes to its scratch block without checking the allocation.
    NoAllocFailureCheck,
    /// The wait is marked pending, completed at once, and `STATUS_SUCCESS` returned.
    MarksPendingReturnsSuccess,
    /// The wait is pended with no cancel routine and no timer: it never completes.
    PendsForever,
    /// The wait returns `STATUS_SUCCESS` without pending, queuing or completing the IRP.
    ForgetsToComplete,
    /// Reads are completed twice (`IoCompleteRequest` once more after completing).
    CompletesTwice,
    /// The setter locks the caller's buffer in an MDL to read it, and never unlocks it.
    LeaksLockedMdl,
    /// The setter reads the caller's buffer while holding its state's spin lock (at
    /// `DISPATCH_LEVEL`).
    ReadsUnderSpinLock,
    /// The wait is queued and `STATUS_PENDING` returned without `IoMarkIrpPending`.
    ReturnsPendingUnmarked,
    /// The setter describes its scratch block with an MDL of its own and never frees it.
    LeaksMdl,
    /// Reads map a partial MDL of the IRP's MDL and never free it: the partial MDL and its
    /// system mapping leak.
    LeaksPartialMapping,
    /// The setter reads its header in one `__try`, allocates its scratch block, reads the
    /// data in a second `__try` — and returns the exception's code from there without
    /// freeing the block.
    LeaksOnException,
    /// The getter checks the output length against its 4-byte version but writes its
    /// whole 16-byte record into the SystemBuffer: past the end of a shorter block.
    OverrunsSystemBuffer,
}

impl DriverBug {
    /// Every bug, `None` first.
    pub const ALL: [DriverBug; 23] = [
        DriverBug::None,
        DriverBug::NoProbe,
        DriverBug::NoTry,
        DriverBug::DoubleFetch,
        DriverBug::InformationPastWritten,
        DriverBug::WritesInDirectBuffer,
        DriverBug::NoNullMdlCheck,
        DriverBug::NoMapFailureCheck,
        DriverBug::StatusMismatch,
        DriverBug::IgnoresInputLength,
        DriverBug::LeaksPool,
        DriverBug::NoAllocFailureCheck,
        DriverBug::MarksPendingReturnsSuccess,
        DriverBug::PendsForever,
        DriverBug::ForgetsToComplete,
        DriverBug::CompletesTwice,
        DriverBug::LeaksLockedMdl,
        DriverBug::ReadsUnderSpinLock,
        DriverBug::ReturnsPendingUnmarked,
        DriverBug::LeaksMdl,
        DriverBug::LeaksPartialMapping,
        DriverBug::LeaksOnException,
        DriverBug::OverrunsSystemBuffer,
    ];

    /// The class the harness must name for this bug (`None` for the correct driver).
    pub fn expected(self) -> Option<BugClass> {
        Some(match self {
            DriverBug::None => return None,
            DriverBug::NoProbe | DriverBug::NoTry => BugClass::UnprobedUserAccess,
            DriverBug::DoubleFetch => BugClass::DoubleFetch,
            DriverBug::InformationPastWritten => BugClass::KernelBytesToUser,
            DriverBug::WritesInDirectBuffer => BugClass::AccessModeMismatch,
            DriverBug::NoNullMdlCheck => BugClass::ZeroLengthOrNullMdl,
            DriverBug::NoMapFailureCheck | DriverBug::NoAllocFailureCheck => {
                BugClass::ResourceFailureUnhandled
            }
            DriverBug::StatusMismatch
            | DriverBug::MarksPendingReturnsSuccess
            | DriverBug::ReturnsPendingUnmarked => BugClass::StatusInconsistent,
            DriverBug::IgnoresInputLength | DriverBug::OverrunsSystemBuffer => {
                BugClass::OutOfBounds
            }
            DriverBug::LeaksPool
            | DriverBug::LeaksMdl
            | DriverBug::LeaksPartialMapping
            | DriverBug::LeaksOnException => BugClass::ResourceLeak,
            DriverBug::PendsForever | DriverBug::LeaksLockedMdl => BugClass::LockLeak,
            DriverBug::CompletesTwice | DriverBug::ForgetsToComplete => {
                BugClass::StatusInconsistent
            }
            DriverBug::ReadsUnderSpinLock => BugClass::IrqlViolation,
        })
    }

    /// The real bug pattern this bug reproduces, with its source.
    pub fn pattern(self) -> &'static str {
        match self {
            DriverBug::None => "correct: every handler as Microsoft's documentation asks",
            DriverBug::NoProbe => {
                "a METHOD_NEITHER handler following the caller's pointer unprobed: the class of CVE-2021-21551 (Dell dbutil_2_3.sys, kernel memory read and written through IOCTL buffers)"
            }
            DriverBug::NoTry => {
                "user memory touched outside __try/__except (Microsoft, \"Handling Exceptions\"): the app frees the page, the system bug checks"
            }
            DriverBug::DoubleFetch => {
                "a length validated, then fetched again from user memory (Jurczyk & Coldwind, \"Identifying and Exploiting Windows Kernel Race Conditions via Memory Access Patterns\", Bochspwn, 2013)"
            }
            DriverBug::InformationPastWritten => {
                "Information past the bytes written: uninitialised pool copied to user mode (Jurczyk, \"Detecting Kernel Memory Disclosure with x86 Emulation and Taint Tracking\", Bochspwn Reloaded, 2018)"
            }
            DriverBug::WritesInDirectBuffer => {
                "a write through a METHOD_IN_DIRECT buffer, which the I/O manager probed for read (Microsoft, \"Buffer Descriptions for I/O Control Codes\")"
            }
            DriverBug::NoNullMdlCheck => {
                "a zero-length direct-I/O request's NULL MdlAddress mapped (Microsoft, \"Errors in Direct I/O\": the most common direct I/O problem)"
            }
            DriverBug::NoMapFailureCheck => {
                "MmGetSystemAddressForMdlSafe's NULL return used (Microsoft: drivers must check it; Driver Verifier's low-resources simulation)"
            }
            DriverBug::StatusMismatch => {
                "a return value other than IoStatus.Status (Microsoft, \"Completing IRPs\"; Wine's ntoskrnl tests show what the app then sees)"
            }
            DriverBug::IgnoresInputLength => {
                "input read past InputBufferLength: a handler trusting a length other than the buffer's (Microsoft, \"Security Issues for I/O Control Codes\": validate buffer sizes)"
            }
            DriverBug::LeaksPool => {
                "pool allocated per request and never freed (Driver Verifier's pool tracking: 0xC4/0x62 at unload)"
            }
            DriverBug::NoAllocFailureCheck => {
                "ExAllocatePoolWithTag's NULL return used (Driver Verifier's low-resources simulation)"
            }
            DriverBug::MarksPendingReturnsSuccess => {
                "IoMarkIrpPending, then a status other than STATUS_PENDING (Microsoft, IoMarkIrpPending: the routine must return STATUS_PENDING)"
            }
            DriverBug::PendsForever => {
                "a pended IRP neither completed nor cancellable: process exit waits five minutes, then IO_DRIVER_CANCEL_TIMEOUT (who owns a buffer during direct I/O)"
            }
            DriverBug::ForgetsToComplete => {
                "a dispatch routine returning a final status for an IRP it never completed: the app's I/O never finishes (Microsoft, \"Completing IRPs\")"
            }
            DriverBug::CompletesTwice => {
                "an IRP completed twice: bug check 0x44 MULTIPLE_IRP_COMPLETE_REQUESTS (Microsoft's bug-check reference)"
            }
            DriverBug::LeaksLockedMdl => {
                "a caller's buffer locked with MmProbeAndLockPages and never unlocked: at the app's exit 0xCB DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS under Verifier's Pool Tracking, 0x76 PROCESS_HAS_LOCKED_PAGES without it (Microsoft's bug-check reference)"
            }
            DriverBug::ReturnsPendingUnmarked => {
                "STATUS_PENDING returned without IoMarkIrpPending: the I/O manager does not wait for the completion it was told of (Microsoft, IoMarkIrpPending: a dispatch routine that returns STATUS_PENDING must mark the IRP pending first; Driver Verifier 0xC9/0x23D)"
            }
            DriverBug::LeaksMdl => {
                "an MDL allocated per request to describe a driver's buffer and never freed with IoFreeMdl (Driver Verifier's pool tracking: the MDL's pool at unload)"
            }
            DriverBug::LeaksPartialMapping => {
                "a partial MDL built and mapped per request and never freed: each request holds system PTEs for good until they run out (Microsoft, IoBuildPartialMdl: the caller frees the target MDL, IoFreeMdl unmapping it)"
            }
            DriverBug::OverrunsSystemBuffer => {
                "a METHOD_BUFFERED handler writing more than OutputBufferLength into the SystemBuffer: a pool overflow into the next block (Microsoft, \"Buffer Descriptions for I/O Control Codes\": the SystemBuffer holds max(input, output) bytes; the class of CVE-2020-17087, cng.sys)"
            }
            DriverBug::LeaksOnException => {
                "an exception path that skips the cleanup: the caller's buffer vanishes between two reads (another thread frees it) and the handler's __except returns without freeing what it allocated in between (Microsoft, \"Handling Exceptions\": the driver must release its resources in the handler)"
            }
            DriverBug::ReadsUnderSpinLock => {
                "the caller's buffer read while holding a spin lock: a page fault at DISPATCH_LEVEL is bug check 0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL (Microsoft, \"Managing Hardware Priorities\"; Driver Verifier's IRQL checking)"
            }
        }
    }

    /// The driver with this bug, its IOCTLs declared, on a `DO_DIRECT_IO` device that
    /// also serves reads.
    pub fn under_test(self) -> DriverUnderTest {
        DriverUnderTest::new(&format!("sample/{self:?}"), SampleDriver { bug: self })
            .direct_io()
            .ioctl(IOCTL_SET, 16, 0)
            .ioctl(IOCTL_GET, 0, 16)
            .ioctl(IOCTL_CONSUME, 0, 64)
            .ioctl(IOCTL_PRODUCE, 0, 64)
            .ioctl(IOCTL_WAIT, 0, 8)
            .read()
    }
}

/// The sample driver (module docs).
#[derive(Clone, Copy, Debug)]
pub struct SampleDriver {
    /// Its bug.
    pub bug: DriverBug,
}

impl Driver for SampleDriver {
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let loc = k.io_get_current_irp_stack_location(irp)?;
        let (status, info) = match loc.parameters {
            Parameters::DeviceIoControl {
                io_control_code: IOCTL_WAIT,
                ..
            } => return self.wait(k, device, irp),
            Parameters::DeviceIoControl {
                io_control_code,
                input_buffer_length: il,
                output_buffer_length: ol,
                type3_input_buffer,
            } => match io_control_code {
                IOCTL_SET => self.set(k, irp, type3_input_buffer, il)?,
                IOCTL_GET => self.get(k, irp, ol)?,
                IOCTL_CONSUME => self.consume(k, irp, ol)?,
                IOCTL_PRODUCE => self.produce(k, irp, ol)?,
                _ => (NtStatus::INVALID_DEVICE_REQUEST, 0),
            },
            Parameters::Read { length, .. } if loc.major_function == IRP_MJ_READ => {
                self.read(k, irp, length)?
            }
            _ => (NtStatus::INVALID_DEVICE_REQUEST, 0),
        };
        let completed_with = if self.bug == DriverBug::StatusMismatch && status.is_success() {
            NtStatus::BUFFER_OVERFLOW
        } else {
            status
        };
        complete(k, irp, completed_with, info)?;
        if self.bug == DriverBug::CompletesTwice && loc.major_function == IRP_MJ_READ {
            k.io_complete_request(irp)?;
        }
        Ok(status)
    }

    fn timer(&self, k: &mut Kernel<'_>, device: DeviceId, _context: u64) -> Result<()> {
        while let Some(irp) = k.io_queue_pop(device)? {
            // The cancel routine owns an IRP whose routine is already gone.
            if k.io_set_cancel_routine(irp, None)?.is_some() {
                complete(k, irp, NtStatus::SUCCESS, 0)?;
            }
        }
        Ok(())
    }
}

fn complete(k: &mut Kernel<'_>, irp: IrpId, status: NtStatus, information: u64) -> Result<()> {
    k.irp_mut(irp)?.io_status = IoStatusBlock {
        status,
        information,
    };
    k.io_complete_request(irp)
}

impl SampleDriver {
    /// IOCTL_SET: a header `{ u32 length; data }` from the caller's own pointer.
    fn set(
        &self,
        k: &mut Kernel<'_>,
        irp: IrpId,
        input: Option<Va>,
        il: u32,
    ) -> Result<(NtStatus, u64)> {
        let enough = il >= 4 + SET_MAX || (self.bug == DriverBug::IgnoresInputLength && il > 0);
        let Some(src) = input.filter(|_| enough) else {
            return Ok((NtStatus::INVALID_PARAMETER, 0));
        };
        let from_user = k.irp(irp)?.requestor_mode == crate::mdl::AccessMode::UserMode;
        if self.bug == DriverBug::LeaksOnException {
            return self.set_in_two_reads(k, src, il, from_user);
        }
        let bug = self.bug;
        let body = |k: &mut Kernel<'_>| -> Result<Vec<u8>> {
            if from_user && bug != DriverBug::NoProbe {
                k.probe_for_read(src, il as u64, 1)?;
            }
            let len = u32::from_le_bytes(header(k.kernel_read(src, 4)?));
            if len > SET_MAX {
                return Ok(Vec::new());
            }
            let len = if bug == DriverBug::DoubleFetch {
                u32::from_le_bytes(header(k.kernel_read(src, 4)?))
            } else {
                len
            };
            k.kernel_read(src.wrapping_add(4), len as u64)
        };
        if bug == DriverBug::LeaksLockedMdl {
            if let Some(mdl) = k.io_allocate_mdl(src, il, false, false, None)? {
                let mode = crate::mdl::AccessMode::UserMode;
                let _ = k.try_except(|k| {
                    k.mm_probe_and_lock_pages(mdl, mode, crate::mdl::LockOperation::IoReadAccess)
                })?;
            }
        }
        let locked = if bug == DriverBug::ReadsUnderSpinLock {
            Some(k.ke_acquire_spin_lock(STATE_LOCK)?)
        } else {
            None
        };
        let got = if bug == DriverBug::NoTry {
            Ok(body(k)?)
        } else {
            k.try_except(body)?
        };
        if let Some(old) = locked {
            k.ke_release_spin_lock(STATE_LOCK, old)?;
        }
        let data = match got {
            Ok(d) => d,
            Err(code) => return Ok((code, 0)),
        };
        if data.is_empty() {
            return Ok((NtStatus::INVALID_PARAMETER, 0));
        }
        self.scratch(k, &data)?;
        Ok((NtStatus::SUCCESS, 0))
    }

    /// `LeaksOnException`'s setter: the header in one `__try`, the scratch block, the data
    /// in a second `__try` whose handler forgets the block.
    fn set_in_two_reads(
        &self,
        k: &mut Kernel<'_>,
        src: Va,
        il: u32,
        from_user: bool,
    ) -> Result<(NtStatus, u64)> {
        let header = k.try_except(|k| {
            if from_user {
                k.probe_for_read(src, il as u64, 1)?;
            }
            k.kernel_read(src, 4)
        })?;
        let len = match header {
            Ok(h) => u32::from_le_bytes(self::header(h)),
            Err(code) => return Ok((code, 0)),
        };
        if len == 0 || len > SET_MAX {
            return Ok((NtStatus::INVALID_PARAMETER, 0));
        }
        let t = tag(b"Smpl");
        let Some(block) = k.ex_allocate_pool_with_tag(PoolType::NonPaged, SET_MAX as u64, t)?
        else {
            return Ok((NtStatus::INSUFFICIENT_RESOURCES, 0));
        };
        let data = k.try_except(|k| k.kernel_read(src.wrapping_add(4), len as u64))?;
        let data = match data {
            Ok(d) => d,
            Err(code) => return Ok((code, 0)),
        };
        k.kernel_write(block, &data)?;
        k.ex_free_pool_with_tag(block, t)?;
        Ok((NtStatus::SUCCESS, 0))
    }

    /// Keeps a copy of the setter's data in pool (freed at once unless the bug leaks it).
    fn scratch(&self, k: &mut Kernel<'_>, data: &[u8]) -> Result<()> {
        let t = tag(b"Smpl");
        let block = k.ex_allocate_pool_with_tag(PoolType::NonPaged, SET_MAX as u64, t)?;
        let block = match (block, self.bug) {
            (Some(b), _) => b,
            (None, DriverBug::NoAllocFailureCheck) => Va::new(0),
            (None, _) => return Ok(()),
        };
        k.kernel_write(block, data)?;
        if self.bug == DriverBug::LeaksMdl {
            // An MDL describing the block, as for a request to a lower driver.
            if let Some(mdl) = k.io_allocate_mdl(block, SET_MAX, false, false, None)? {
                k.mm_build_mdl_for_non_paged_pool(mdl)?;
            }
        }
        if self.bug != DriverBug::LeaksPool {
            k.ex_free_pool_with_tag(block, t)?;
        }
        Ok(())
    }

    /// IOCTL_GET: a 4-byte version.
    fn get(&self, k: &mut Kernel<'_>, irp: IrpId, ol: u32) -> Result<(NtStatus, u64)> {
        let overrun = self.bug == DriverBug::OverrunsSystemBuffer;
        let need = if overrun { 4 } else { 16 };
        let Some(out) = k.irp(irp)?.system_buffer.filter(|_| ol >= need) else {
            return Ok((NtStatus::BUFFER_TOO_SMALL, 0));
        };
        if overrun {
            let mut record = [0u8; 16];
            record[..4].copy_from_slice(&0x0001_0002u32.to_le_bytes());
            k.kernel_write(out, &record)?;
            return Ok((NtStatus::SUCCESS, 4));
        }
        k.kernel_write(out, &0x0001_0002u32.to_le_bytes())?;
        let info = if self.bug == DriverBug::InformationPastWritten {
            16
        } else {
            4
        };
        Ok((NtStatus::SUCCESS, info))
    }

    /// IOCTL_CONSUME: reads 64 bytes of the caller's output buffer through its MDL.
    fn consume(&self, k: &mut Kernel<'_>, irp: IrpId, ol: u32) -> Result<(NtStatus, u64)> {
        let mdl = k.irp(irp)?.mdl_address;
        let (Some(mdl), true) = (mdl, ol >= 64) else {
            return Ok((NtStatus::BUFFER_TOO_SMALL, 0));
        };
        let Some(va) = k.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)? else {
            return Ok((NtStatus::INSUFFICIENT_RESOURCES, 0));
        };
        let data = k.kernel_read(va, 64)?;
        if self.bug == DriverBug::WritesInDirectBuffer {
            k.kernel_write(va, &[0; 8])?;
        }
        let _ = data;
        Ok((NtStatus::SUCCESS, 0))
    }

    /// IOCTL_PRODUCE: writes 64 bytes into the caller's output buffer through its MDL
    /// (METHOD_OUT_DIRECT: probed for write).
    fn produce(&self, k: &mut Kernel<'_>, irp: IrpId, ol: u32) -> Result<(NtStatus, u64)> {
        let mdl = k.irp(irp)?.mdl_address;
        let (Some(mdl), true) = (mdl, ol >= 64) else {
            return Ok((NtStatus::BUFFER_TOO_SMALL, 0));
        };
        let Some(va) = k.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)? else {
            return Ok((NtStatus::INSUFFICIENT_RESOURCES, 0));
        };
        let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(3) ^ 0xA5).collect();
        k.kernel_write(va, &data)?;
        Ok((NtStatus::SUCCESS, 64))
    }

    /// IRP_MJ_READ on the direct-I/O device: fills the buffer.
    fn read(&self, k: &mut Kernel<'_>, irp: IrpId, length: u32) -> Result<(NtStatus, u64)> {
        let mdl = k.irp(irp)?.mdl_address;
        let mdl = match (mdl, self.bug) {
            (Some(m), _) => Some(m),
            (None, DriverBug::NoNullMdlCheck) => None,
            (None, _) => return Ok((NtStatus::SUCCESS, 0)),
        };
        let mdl = match (mdl, self.bug) {
            (Some(m), DriverBug::LeaksPartialMapping) => self.partial_of(k, m, length)?,
            (m, _) => m,
        };
        let va = match k.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)? {
            Some(va) => va,
            None if self.bug == DriverBug::NoMapFailureCheck => Va::new(0),
            None => return Ok((NtStatus::INSUFFICIENT_RESOURCES, 0)),
        };
        let fill: Vec<u8> = (0..length.min(1 << 20)).map(|i| i as u8 ^ 0x5A).collect();
        k.kernel_write(va, &fill)?;
        Ok((NtStatus::SUCCESS, fill.len() as u64))
    }

    /// `LeaksPartialMapping`: a partial MDL over all of `mdl` (NULL when it cannot be
    /// allocated), which the read maps and never frees.
    fn partial_of(&self, k: &mut Kernel<'_>, mdl: MdlId, length: u32) -> Result<Option<MdlId>> {
        let va = k.mdl(mdl)?.virtual_address();
        let Some(partial) = k.io_allocate_mdl(va, length, false, false, None)? else {
            return Ok(None);
        };
        k.io_build_partial_mdl(mdl, partial, va, length)?;
        Ok(Some(partial))
    }

    /// IOCTL_WAIT: pended in the device's cancel-safe queue; a timer completes it.
    fn wait(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        if self.bug == DriverBug::ForgetsToComplete {
            return Ok(NtStatus::SUCCESS);
        }
        if self.bug != DriverBug::ReturnsPendingUnmarked {
            k.io_mark_irp_pending(irp)?;
        }
        if self.bug == DriverBug::MarksPendingReturnsSuccess {
            complete(k, irp, NtStatus::SUCCESS, 0)?;
            return Ok(NtStatus::SUCCESS);
        }
        if self.bug != DriverBug::PendsForever {
            k.io_set_cancel_routine(irp, Some(device))?;
            k.io_queue_push(device, irp)?;
            k.ke_set_timer(device, 100, 0)?;
        }
        Ok(NtStatus::PENDING)
    }
}

fn header(b: Vec<u8>) -> [u8; 4] {
    let mut h = [0u8; 4];
    for (d, s) in h.iter_mut().zip(b) {
        *d = s;
    }
    h
}
