//! The DDIs native code calls, decoded from the C stubs' 64-bit words into the model's
//! types and run as the [`Kernel`] method of the same name: the same checks, faults and
//! call log as a Rust driver's call.
//!
//! The numbers are `runtime/host_abi.h`'s (`MDLSIM_DDI_*`); a test compares the two lists.

use crate::layout::{HostAddress, Layout, mdl_slot, mdl_slot_address};
use crate::mirror::mdl_from_host;
use mdlsim::addr::{Va, round_to_pages, size_of_mdl};
use mdlsim::ids::Pid;
use mdlsim::irql::Kirql;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlId};
use mdlsim::pool::PoolType;
use mdlsim::space::Protection;
use mdlsim::status::NtStatus;
use mdlsim::{Fault, Kernel, ModelError};

/// The DDIs, by their `MDLSIM_DDI_*` number, with the number of argument words.
pub const DDIS: &[(u32, &str, usize)] = &[
    (1, "IoAllocateMdl", 5),
    (2, "IoFreeMdl", 1),
    (3, "IoBuildPartialMdl", 4),
    (4, "MmInitializeMdl", 3),
    (5, "MmPrepareMdlForReuse", 1),
    (6, "MmSizeOfMdl", 2),
    (7, "MmBuildMdlForNonPagedPool", 1),
    (8, "MmProbeAndLockPages", 3),
    (9, "MmProbeAndLockProcessPages", 4),
    (10, "MmUnlockPages", 1),
    (11, "MmMapLockedPages", 2),
    (12, "MmMapLockedPagesSpecifyCache", 6),
    (13, "MmUnmapLockedPages", 2),
    (14, "MmProtectMdlSystemAddress", 2),
    (15, "MmAllocatePagesForMdlEx", 6),
    (16, "MmFreePagesFromMdl", 1),
    (17, "ExAllocatePool2", 3),
    (18, "ExAllocatePoolWithTag", 3),
    (19, "ExFreePool", 1),
    (20, "ExFreePoolWithTag", 2),
    (21, "ProbeForRead", 3),
    (22, "ProbeForWrite", 3),
    (23, "ZwAllocateVirtualMemory", 6),
    (24, "ZwFreeVirtualMemory", 4),
    (25, "KeStackAttachProcess", 2),
    (26, "KeUnstackDetachProcess", 1),
    (27, "PsGetCurrentProcess", 1),
    (28, "ExRaiseStatus", 1),
    (29, "PsGetProcessExitStatus", 1),
    (30, "Copy", 3),
    (31, "Read", 2),
    (32, "Scratch", 1),
    (33, "Write", 2),
    (34, "Fill", 3),
    (35, "ZwProtectVirtualMemory", 5),
    (36, "ZwQueryVirtualMemory", 8),
    (37, "KeGetCurrentIrql", 1),
    (38, "KfRaiseIrql", 1),
    (39, "KeLowerIrql", 1),
    (40, "KeAcquireSpinLockRaiseToDpc", 1),
    (41, "KeReleaseSpinLock", 2),
    (42, "KeQueryInterruptTime", 1),
    (43, "MmCreateMdl", 3),
    (44, "IofCompleteRequest", 2),
    (45, "IoMarkIrpPending", 1),
    (46, "IoCreateDevice", 7),
    (47, "IoDeleteDevice", 1),
    (48, "IoSetCancelRoutine", 2),
    (49, "FltRegisterFilter", 4),
    (50, "FltOperation", 4),
    (51, "FltStartFiltering", 1),
    (52, "FltSetCallbackDataDirty", 1),
    (53, "FltClearCallbackDataDirty", 1),
    (54, "FltIsCallbackDataDirty", 1),
    (55, "FltGetNewSystemBufferAddress", 1),
    (56, "FltLockUserBuffer", 1),
];

/// The most bytes one bulk call moves (`MDLSIM_CHUNK`): the scratch buffer's size.
pub const CHUNK: usize = 0x10000;

/// The number of argument words DDI `id` passes; `None` for an unknown number.
pub fn arg_count(id: u32) -> Option<usize> {
    DDIS.iter().find(|d| d.0 == id).map(|d| d.2)
}

fn unsupported(what: String) -> Fault {
    Fault::Model(ModelError::Unsupported(what))
}

/// Decodes arguments and encodes results against one thread's windows.
struct Args<'a> {
    layout: Layout,
    words: &'a mut [u64],
}

impl Args<'_> {
    fn word(&self, i: usize) -> u64 {
        self.words[i]
    }

    fn u32(&self, i: usize) -> u32 {
        self.words[i] as u32
    }

    /// A pointer argument as a model address (an MDL's host copy as its `PMDL`).
    fn va(&self, i: usize) -> Va {
        model_va(self.layout, self.words[i])
    }

    fn mdl(&self, k: &mut Kernel<'_>, i: usize) -> mdlsim::Result<Option<MdlId>> {
        let (layout, h) = (self.layout, self.words[i]);
        k.interleave(|m| mdl_from_host(layout, m, h))
    }

    fn process(&self, i: usize) -> mdlsim::Result<Pid> {
        match self.layout.classify(self.words[i]) {
            HostAddress::Process(p) => Ok(Pid(p)),
            _ => Err(unsupported(format!(
                "{:#x} is not a PEPROCESS the model handed out",
                self.words[i]
            ))),
        }
    }

    fn mode(&self, i: usize) -> AccessMode {
        // Windows tests `AccessMode != KernelMode`.
        if self.words[i] as u8 == 0 {
            AccessMode::KernelMode
        } else {
            AccessMode::UserMode
        }
    }

    fn operation(&self, i: usize) -> mdlsim::Result<LockOperation> {
        match self.words[i] as u32 {
            0 => Ok(LockOperation::IoReadAccess),
            1 => Ok(LockOperation::IoWriteAccess),
            2 => Ok(LockOperation::IoModifyAccess),
            other => Err(unsupported(format!("LOCK_OPERATION {other}"))),
        }
    }

    fn cache(&self, i: usize) -> mdlsim::Result<CacheType> {
        Ok(match self.words[i] as u32 {
            0 => CacheType::NonCached,
            1 => CacheType::Cached,
            2 => CacheType::WriteCombined,
            3 => CacheType::HardwareCoherentCached,
            4 => CacheType::NonCachedUnordered,
            5 => CacheType::UswcCached,
            other => return Err(unsupported(format!("MEMORY_CACHING_TYPE {other}"))),
        })
    }

    fn host(&self, va: Option<Va>) -> u64 {
        va.map_or(0, |v| self.layout.host(v).unwrap_or(v.raw()))
    }

    fn host_mdl(&self, mdl: Option<MdlId>) -> u64 {
        mdl.and_then(|id| self.layout.mdl(mdl_slot(id)))
            .unwrap_or(0)
    }
}

/// A host pointer as the model address it stands for (see [`Layout::classify`]).
pub fn model_va(layout: Layout, h: u64) -> Va {
    match layout.classify(h) {
        HostAddress::Model(va) => va,
        // An offset past the model's stride for one object (a large PFN array, a read
        // past the copy) stays inside that object: the next stride is another object.
        HostAddress::Mdl(slot, off) => mdl_slot_address(slot)
            .map(|v| v.wrapping_add(off.min(crate::layout::MODEL_MDL_STRIDE - 1)))
            .unwrap_or(Va::new(h)),
        HostAddress::Irp(slot, off) => Va::new(mdlsim::io::IrpId::BASE)
            .checked_add(slot * mdlsim::io::IrpId::STRIDE + off.min(mdlsim::io::IrpId::STRIDE - 1))
            .unwrap_or(Va::new(h)),
        HostAddress::Process(_) | HostAddress::Host(_) => Va::new(h),
    }
}

/// `NTSTATUS` as the C function returns it: a failure status the model returns as a
/// fault becomes the return value.
fn status(r: mdlsim::Result<()>) -> mdlsim::Result<u64> {
    match r {
        Ok(()) => Ok(0),
        Err(Fault::Status(s)) => Ok(u64::from(s.0)),
        Err(f) => Err(f),
    }
}

fn current(k: &Kernel<'_>, handle: u64) -> mdlsim::Result<Pid> {
    if handle != u64::MAX {
        return Err(unsupported(format!(
            "process handle {handle:#x}: only NtCurrentProcess() is modelled"
        )));
    }
    k.current_process()
        .ok_or_else(|| unsupported("no current process".into()))
}

fn protection(p: u32) -> mdlsim::Result<Protection> {
    match p {
        0x01 => Ok(Protection::NoAccess),
        0x02 => Ok(Protection::ReadOnly),
        0x04 => Ok(Protection::ReadWrite),
        other => Err(unsupported(format!("page protection {other:#x}"))),
    }
}

/// Runs DDI `id` with the stub's argument words; the `u64` is the C function's return
/// value, and OUT parameters are written back into `words`.
///
/// # Errors
/// What the DDI does to the system (a bug check, a raised exception), or an argument the
/// model cannot take (an unknown DDI number, a handle it did not hand out).
pub fn call(
    k: &mut Kernel<'_>,
    layout: Layout,
    scratch: &mut Vec<u8>,
    id: u32,
    words: &mut [u64],
) -> mdlsim::Result<u64> {
    let mut a = Args { layout, words };
    match id {
        1..=16 | 43 => mdl_ddi(k, &mut a, id),
        17..=24 | 35 | 36 => memory_ddi(k, &mut a, id),
        30..=34 => bulk(k, &a, scratch, id),
        46 => crate::device::io_create_device(k, layout, a.words),
        47 => crate::device::io_delete_device(k, a.va(0)),
        48 => crate::device::io_set_cancel_routine(k, layout, a.words),
        49..=51 => crate::filter::registration_ddi(id, a.words),
        52..=56 => crate::callback_data::ddi(k, layout, id, a.words),
        _ => context_ddi(k, &mut a, id),
    }
}

/// The MDL DDIs: building, probing and locking, mapping, page allocation.
fn mdl_ddi(k: &mut Kernel<'_>, a: &mut Args<'_>, id: u32) -> mdlsim::Result<u64> {
    match id {
        1 => {
            if a.word(4) != 0 {
                return Err(unsupported(
                    "IoAllocateMdl with an IRP: IRPs are not mirrored to native code yet".into(),
                ));
            }
            let r = k.io_allocate_mdl(a.va(0), a.u32(1), a.word(2) != 0, a.word(3) != 0, None)?;
            Ok(a.host_mdl(r))
        }
        2 => {
            let mdl = a.mdl(k, 0)?;
            k.io_free_mdl(mdl).map(|()| 0)
        }
        3 => {
            let (src, dst) = (a.mdl(k, 0)?, a.mdl(k, 1)?);
            k.io_build_partial_mdl(src, dst, a.va(2), a.u32(3))
                .map(|()| 0)
        }
        4 => {
            let mdl = a.mdl(k, 0)?;
            k.mm_initialize_mdl(mdl, a.va(1), a.word(2) as u32)
                .map(|()| 0)
        }
        5 => {
            let mdl = a.mdl(k, 0)?;
            k.mm_prepare_mdl_for_reuse(mdl).map(|()| 0)
        }
        6 => Ok(size_of_mdl(a.va(0), a.word(1))),
        7 => {
            let mdl = a.mdl(k, 0)?;
            k.mm_build_mdl_for_non_paged_pool(mdl).map(|()| 0)
        }
        8 => {
            let mdl = a.mdl(k, 0)?;
            k.mm_probe_and_lock_pages(mdl, a.mode(1), a.operation(2)?)
                .map(|()| 0)
        }
        9 => {
            let mdl = a.mdl(k, 0)?;
            let pid = a.process(1)?;
            k.mm_probe_and_lock_process_pages(mdl, pid, a.mode(2), a.operation(3)?)
                .map(|()| 0)
        }
        10 => {
            let mdl = a.mdl(k, 0)?;
            k.mm_unlock_pages(mdl).map(|()| 0)
        }
        11 => {
            let mdl = a.mdl(k, 0)?;
            let r = k.mm_map_locked_pages(mdl, a.mode(1))?;
            Ok(a.host(r))
        }
        12 => {
            let mdl = a.mdl(k, 0)?;
            let base = (a.word(3) != 0).then(|| a.va(3));
            let r = k.mm_map_locked_pages_specify_cache(
                mdl,
                a.mode(1),
                a.cache(2)?,
                base,
                a.word(4) != 0,
                a.u32(5),
            )?;
            Ok(a.host(r))
        }
        13 => {
            let mdl = a.mdl(k, 1)?;
            k.mm_unmap_locked_pages(a.va(0), mdl).map(|()| 0)
        }
        14 => {
            let mdl = a.mdl(k, 0)?;
            status(k.mm_protect_mdl_system_address(mdl, a.u32(1)))
        }
        15 => {
            let r = k.mm_allocate_pages_for_mdl_ex(
                a.word(0),
                a.word(1),
                a.word(2),
                a.word(3),
                a.cache(4)?,
                a.u32(5),
            )?;
            Ok(a.host_mdl(r))
        }
        16 => {
            let mdl = a.mdl(k, 0)?;
            k.mm_free_pages_from_mdl(mdl).map(|()| 0)
        }
        43 => {
            if a.word(0) != 0 {
                return Err(unsupported(
                    "MmCreateMdl over caller storage: only MmCreateMdl(NULL, ...) is modelled"
                        .into(),
                ));
            }
            let r = k.mm_create_mdl(a.va(1), a.word(2) as u32)?;
            Ok(a.host_mdl(r))
        }
        other => Err(unsupported(format!("DDI number {other}"))),
    }
}

/// Pool, probes and virtual memory.
fn memory_ddi(k: &mut Kernel<'_>, a: &mut Args<'_>, id: u32) -> mdlsim::Result<u64> {
    match id {
        17 => {
            let r = k.ex_allocate_pool2(a.word(0), a.word(1), a.u32(2))?;
            Ok(a.host(r))
        }
        18 => {
            let pool = match a.u32(0) {
                0 => PoolType::NonPaged,
                1 => PoolType::Paged,
                512 => PoolType::NonPagedNx,
                other => return Err(unsupported(format!("POOL_TYPE {other}"))),
            };
            let r = k.ex_allocate_pool_with_tag(pool, a.word(1), a.u32(2))?;
            Ok(a.host(r))
        }
        19 => k.ex_free_pool(a.va(0)).map(|()| 0),
        20 => k.ex_free_pool_with_tag(a.va(0), a.u32(1)).map(|()| 0),
        21 => k.probe_for_read(a.va(0), a.word(1), a.u32(2)).map(|()| 0),
        22 => k.probe_for_write(a.va(0), a.word(1), a.u32(2)).map(|()| 0),
        23 => zw_allocate(k, a),
        24 => zw_free(k, a),
        35 => zw_protect(k, a),
        36 => zw_query(k, a),
        other => Err(unsupported(format!("DDI number {other}"))),
    }
}

/// Process context, exceptions, IRQL, spin locks and time.
fn context_ddi(k: &mut Kernel<'_>, a: &mut Args<'_>, id: u32) -> mdlsim::Result<u64> {
    match id {
        25 => {
            let pid = a.process(0)?;
            k.attach(pid).map(|()| 0)
        }
        26 => k.detach().map(|()| 0),
        27 => Ok(k.current_process().map_or(0, |p| a.layout.process(p.0))),
        28 => Err(Fault::Raise(NtStatus(a.u32(0)))),
        29 => {
            let pid = a.process(0)?;
            Ok(u64::from(k.ps_get_process_exit_status(pid)?.0))
        }
        37 => Ok(u64::from(k.ke_get_current_irql().0)),
        38 => Ok(u64::from(k.ke_raise_irql(Kirql(a.word(0) as u8))?.0)),
        39 => k.ke_lower_irql(Kirql(a.word(0) as u8)).map(|()| 0),
        40 => Ok(u64::from(k.ke_acquire_spin_lock(a.va(0))?.0)),
        41 => k
            .ke_release_spin_lock(a.va(0), Kirql(a.word(1) as u8))
            .map(|()| 0),
        42 => Ok(k.now_ms().saturating_mul(10_000)),
        44 => {
            let (layout, h) = (a.layout, a.word(0));
            let irp = k.interleave(|m| crate::irps::irp_from_host(layout, m, h))?;
            k.io_complete_request(irp).map(|()| 0)
        }
        45 => {
            let (layout, h) = (a.layout, a.word(0));
            let irp = k.interleave(|m| crate::irps::irp_from_host(layout, m, h))?;
            k.io_mark_irp_pending(irp).map(|()| 0)
        }
        other => Err(unsupported(format!("DDI number {other}"))),
    }
}

fn zw_protect(k: &mut Kernel<'_>, a: &mut Args<'_>) -> mdlsim::Result<u64> {
    let pid = current(k, a.word(0))?;
    match k.virtual_protect(pid, a.va(1), a.word(2), protection(a.u32(3))?) {
        Ok(old) => {
            a.words[4] = old as u64;
            Ok(0)
        }
        Err(Fault::Status(s)) => Ok(u64::from(s.0)),
        Err(f) => Err(f),
    }
}

/// `ZwQueryVirtualMemory(MemoryBasicInformation)`: the fields go back in words 1..7
/// (`BaseAddress`, `AllocationBase`, `AllocationProtect`, `RegionSize`, `State`,
/// `Protect`, `Type`). The model does not keep `AllocationProtect`: 0; `Type` is
/// `MEM_PRIVATE` for a VAD's pages (the model's user memory is private), 0 when free.
fn zw_query(k: &mut Kernel<'_>, a: &mut Args<'_>) -> mdlsim::Result<u64> {
    let pid = current(k, a.word(0))?;
    if a.word(2) != 0 {
        return Err(unsupported(format!(
            "ZwQueryVirtualMemory information class {}",
            a.word(2)
        )));
    }
    match k.zw_query_virtual_memory(pid, a.va(1)) {
        Ok(info) => {
            const MEM_PRIVATE: u64 = 0x2_0000;
            a.words[1] = a.host(Some(info.base_address));
            a.words[2] = a.host(info.allocation_base);
            a.words[3] = 0;
            a.words[4] = info.region_size;
            a.words[5] = u64::from(info.state);
            a.words[6] = info.protect.map_or(0, |p| p as u64);
            a.words[7] = if info.allocation_base.is_some() {
                MEM_PRIVATE
            } else {
                0
            };
            Ok(0)
        }
        Err(Fault::Status(s)) => Ok(u64::from(s.0)),
        Err(f) => Err(f),
    }
}

fn zw_allocate(k: &mut Kernel<'_>, a: &mut Args<'_>) -> mdlsim::Result<u64> {
    let pid = current(k, a.word(0))?;
    let base = (a.word(1) != 0).then(|| a.va(1));
    if a.word(2) != 0 {
        return Err(unsupported("ZwAllocateVirtualMemory with ZeroBits".into()));
    }
    let size = a.word(3);
    match k.virtual_alloc(pid, base, size, a.u32(4), protection(a.u32(5))?) {
        Ok(va) => {
            a.words[1] = a.host(Some(va));
            a.words[3] = round_to_pages(size).unwrap_or(size);
            Ok(0)
        }
        Err(Fault::Status(s)) => Ok(u64::from(s.0)),
        Err(f) => Err(f),
    }
}

fn zw_free(k: &mut Kernel<'_>, a: &mut Args<'_>) -> mdlsim::Result<u64> {
    let pid = current(k, a.word(0))?;
    status(k.virtual_free(pid, a.va(1), a.word(2), a.u32(3)))
}

/// The bulk operations of the driver's `memcpy` / `memmove` / `memset` on model memory.
fn bulk(k: &mut Kernel<'_>, a: &Args<'_>, scratch: &mut Vec<u8>, id: u32) -> mdlsim::Result<u64> {
    let chunk = |n: u64| -> mdlsim::Result<usize> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= CHUNK)
            .ok_or_else(|| unsupported(format!("a bulk transfer of {n:#x} bytes in one call")))
    };
    match id {
        30 => k.kernel_copy(a.va(0), a.va(1), a.word(2)).map(|()| 0),
        31 => {
            let n = chunk(a.word(1))?;
            scratch.resize(n.max(scratch.len()), 0);
            k.kernel_read_into(a.va(0), &mut scratch[..n])?;
            Ok(scratch.as_mut_ptr() as u64)
        }
        32 => {
            let n = chunk(a.word(0))?;
            scratch.resize(n.max(scratch.len()), 0);
            Ok(scratch.as_mut_ptr() as u64)
        }
        33 => {
            let n = chunk(a.word(1))?;
            if n > scratch.len() {
                return Err(unsupported("a write past the scratch buffer".into()));
            }
            k.kernel_write(a.va(0), &scratch[..n]).map(|()| 0)
        }
        _ => {
            let (va, len, byte) = (a.va(0), a.word(1), a.word(2) as u8);
            if byte == 0 {
                return k.kernel_zero(va, len).map(|()| 0);
            }
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(CHUNK as u64) as usize;
                scratch.clear();
                scratch.resize(n, byte);
                k.kernel_write(va.wrapping_add(done), scratch)?;
                done += n as u64;
            }
            Ok(0)
        }
    }
}
