//! Scenarios around an MDL's life: a buffer described, locked, mapped, accessed and torn
//! down, in the shapes drivers use.

use super::{
    LIVE0, LIVE1, Layout, alloc_user, arb_mask, arb_nonempty_layout, io_allocate_mdl, lock_user, m,
    masked, p, recent, v,
};
use super::{arb_alloc_flags, arb_lock_operation, arb_mode, arb_priority, arb_process};
use crate::addr::PAGE_SIZE;
use crate::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use crate::op::{Addr, IrpOp, Ix, MdlOp, Op, PoolOp, ProcessOp, VmOp};
use crate::pool::{POOL_FLAG_NON_PAGED, tag};
use crate::space::Protection;
use crate::vm::MEM_RELEASE;
use proptest::prelude::*;

/// A user buffer locked and mapped into system space ([buffer ownership][design-ownership];
/// the first direction of [user/kernel shared memory][design-shared-memory]).
///
/// [design-ownership]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#buffer-ownership
/// [design-shared-memory]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shared-memory
pub(super) fn user_to_system() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_process(),
        arb_nonempty_layout(),
        arb_mode(),
        arb_lock_operation(),
        any::<u8>(),
        prop_oneof![
            6 => Just(None),
            1 => Just(Some(0u8)), // the app frees the locked buffer
            1 => Just(Some(1)),   // the app writes it while locked
            1 => Just(Some(2)),   // the app makes it read-only
        ],
        arb_mask(),
    )
        .prop_map(|(process, l, mode, operation, seed, app, keep)| {
            let mut ops = vec![
                alloc_user(process, l),
                v(VmOp::UserWrite {
                    process,
                    va: recent(0, l.offset),
                    len: l.length,
                    seed,
                }),
                p(ProcessOp::SwitchTo {
                    process: Some(process),
                }),
                io_allocate_mdl(recent(0, l.offset), l.length),
                m(MdlOp::MmProbeAndLockPages {
                    mdl: LIVE0,
                    mode,
                    operation,
                }),
            ];
            ops.push(app_while_locked(app, process, l, seed));
            ops.extend([
                m(MdlOp::MmGetSystemAddressForMdlSafe {
                    mdl: LIVE0,
                    priority: priority::NORMAL,
                }),
                v(VmOp::KernelRead {
                    va: recent(0, 0),
                    len: l.length,
                }),
                v(VmOp::KernelWrite {
                    va: recent(0, 0),
                    len: l.length.min(256),
                    seed,
                }),
                m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
                m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                v(VmOp::VirtualFree {
                    process,
                    base: recent(1, 0),
                    size: 0,
                    free_type: MEM_RELEASE,
                }),
            ]);
            masked(ops, &keep)
        })
}

/// What the app of [`user_to_system`] does with its buffer while it is locked: frees it
/// (`Some(0)`), writes it (`Some(1)`), makes it read-only (`Some(_)`) or only reads it
/// (`None`).
fn app_while_locked(app: Option<u8>, process: Ix, l: Layout, seed: u8) -> Op {
    match app {
        Some(0) => v(VmOp::VirtualFree {
            process,
            base: recent(0, 0),
            size: 0,
            free_type: MEM_RELEASE,
        }),
        Some(1) => v(VmOp::UserWrite {
            process,
            va: recent(0, l.offset),
            len: l.length.min(64),
            seed: seed ^ 0x55,
        }),
        Some(_) => v(VmOp::VirtualProtect {
            process,
            base: recent(0, 0),
            size: l.length,
            protect: Protection::ReadOnly,
        }),
        None => v(VmOp::UserRead {
            process,
            va: recent(0, l.offset),
            len: l.length,
        }),
    }
}

/// The second direction of [user/kernel shared memory][design-shared-memory]: pool described by `MmBuildMdlForNonPagedPool`, mapped into a process.
///
/// [design-shared-memory]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shared-memory
pub(super) fn pool_to_user() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_process(),
        arb_nonempty_layout(),
        any::<u8>(),
        arb_mask(),
    )
        .prop_map(|(process, l, seed, keep)| {
            let t = tag(b"Test");
            let size = l.length;
            masked(
                vec![
                    Op::Pool(PoolOp::ExAllocatePool2 {
                        flags: POOL_FLAG_NON_PAGED,
                        size,
                        tag: t,
                    }),
                    v(VmOp::KernelWrite {
                        va: recent(0, 0),
                        len: size,
                        seed,
                    }),
                    io_allocate_mdl(recent(0, 0), size),
                    m(MdlOp::MmBuildMdlForNonPagedPool { mdl: LIVE0 }),
                    p(ProcessOp::SwitchTo {
                        process: Some(process),
                    }),
                    m(MdlOp::MmMapLockedPagesSpecifyCache {
                        mdl: LIVE0,
                        mode: AccessMode::UserMode,
                        cache: CacheType::Cached,
                        base: None,
                        bug_check_on_failure: false,
                        priority: priority::NORMAL,
                    }),
                    v(VmOp::UserRead {
                        process,
                        va: recent(0, 0),
                        len: size,
                    }),
                    v(VmOp::UserWrite {
                        process,
                        va: recent(0, 0),
                        len: size.min(32),
                        seed,
                    }),
                    m(MdlOp::MmUnmapLockedPages {
                        base: recent(0, 0),
                        mdl: LIVE0,
                    }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                    Op::Pool(PoolOp::ExFreePoolWithTag {
                        va: recent(1, 0),
                        tag: t,
                    }),
                ],
                &keep,
            )
        })
}

/// `MmAllocatePagesForMdlEx`, mapped into system space, written, unmapped and freed.
pub(super) fn pages_for_mdl() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_nonempty_layout(),
        arb_alloc_flags(),
        arb_priority(),
        any::<u8>(),
        arb_mask(),
    )
        .prop_map(|(l, flags, priority, seed, keep)| {
            masked(
                vec![
                    m(MdlOp::MmAllocatePagesForMdlEx {
                        low: 0,
                        high: u64::MAX,
                        skip: 0,
                        total_bytes: l.length,
                        cache: CacheType::Cached,
                        flags,
                    }),
                    m(MdlOp::MmMapLockedPagesSpecifyCache {
                        mdl: LIVE0,
                        mode: AccessMode::KernelMode,
                        cache: CacheType::Cached,
                        base: None,
                        bug_check_on_failure: false,
                        priority,
                    }),
                    v(VmOp::KernelRead {
                        va: recent(0, l.offset),
                        len: l.length.saturating_sub(l.offset).max(1),
                    }),
                    // A correct driver does not write through an MdlMappingNoWrite mapping.
                    v(if priority & priority::MDL_MAPPING_NO_WRITE == 0 {
                        VmOp::KernelWrite {
                            va: recent(0, 0),
                            len: l.length.min(512),
                            seed,
                        }
                    } else {
                        VmOp::KernelRead {
                            va: recent(0, 0),
                            len: l.length.min(512),
                        }
                    }),
                    m(MdlOp::MmProtectMdlSystemAddress {
                        mdl: LIVE0,
                        protect: 0x04,
                    }),
                    m(MdlOp::MmUnmapLockedPages {
                        base: recent(0, 0),
                        mdl: LIVE0,
                    }),
                    m(MdlOp::MmFreePagesFromMdl { mdl: LIVE0 }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                ],
                &keep,
            )
        })
}

/// A locked user buffer, a partial MDL over part of it mapped on its own, then torn down.
pub(super) fn partial_mdl() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_process(),
        arb_nonempty_layout(),
        0u64..=2,
        prop_oneof![Just(0u32), Just(1u32), Just(PAGE_SIZE as u32)],
        arb_mask(),
    )
        .prop_map(|(process, l, sub_pages, sub_len, keep)| {
            // A sub-range inside the source (0: the rest of it).
            let sub_off = (sub_pages * PAGE_SIZE).min(l.length - 1);
            let sub_len = sub_len.min((l.length - sub_off) as u32);
            masked(
                lock_user(process, l, LockOperation::IoWriteAccess)
                    .into_iter()
                    .chain([
                        io_allocate_mdl(
                            Addr::OfMdl {
                                mdl: Ix::Live(0),
                                offset: 0,
                            },
                            l.length,
                        ),
                        m(MdlOp::IoBuildPartialMdl {
                            source: LIVE1,
                            target: LIVE0,
                            va: Addr::OfMdl {
                                mdl: Ix::Live(1),
                                offset: sub_off as i64,
                            },
                            length: sub_len,
                        }),
                        m(MdlOp::MmGetSystemAddressForMdlSafe {
                            mdl: LIVE0,
                            priority: priority::NORMAL,
                        }),
                        v(VmOp::KernelZero {
                            va: recent(0, 0),
                            len: u64::from(sub_len).max(1),
                        }),
                        m(MdlOp::MmPrepareMdlForReuse { mdl: LIVE0 }),
                        m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                        m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
                        m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                    ])
                    .collect::<Vec<Op>>(),
                &keep,
            )
        })
}

/// An IRP with a primary MDL and a secondary buffer chained behind it.
pub(super) fn irp_chain() -> impl Strategy<Value = Vec<Op>> {
    (arb_process(), arb_nonempty_layout(), 1u8..=4, arb_mask()).prop_map(
        |(process, l, stack_size, keep)| {
            let irp = Some(Ix::Live(0));
            let mdl = |secondary_buffer| {
                m(MdlOp::IoAllocateMdl {
                    va: recent(0, l.offset),
                    length: l.length as u32,
                    secondary_buffer,
                    charge_quota: false,
                    irp,
                })
            };
            masked(
                vec![
                    alloc_user(process, l),
                    Op::Irp(IrpOp::IoAllocateIrp { stack_size }),
                    mdl(false),
                    mdl(true),
                    p(ProcessOp::SwitchTo {
                        process: Some(process),
                    }),
                    m(MdlOp::MmProbeAndLockPages {
                        mdl: LIVE1,
                        mode: AccessMode::UserMode,
                        operation: LockOperation::IoReadAccess,
                    }),
                    m(MdlOp::MmUnlockPages { mdl: LIVE1 }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                    Op::Irp(IrpOp::IoReuseIrp {
                        irp: Ix::Live(0),
                        status: crate::status::NtStatus::SUCCESS,
                    }),
                    Op::Irp(IrpOp::IoFreeIrp { irp: Ix::Live(0) }),
                ],
                &keep,
            )
        },
    )
}

/// A system thread locking another process's pages, then reading them attached.
pub(super) fn process_pages() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_process(),
        arb_nonempty_layout(),
        arb_lock_operation(),
        arb_mask(),
    )
        .prop_map(|(process, l, operation, keep)| {
            masked(
                vec![
                    alloc_user(process, l),
                    p(ProcessOp::SwitchTo { process: None }),
                    io_allocate_mdl(recent(0, l.offset), l.length),
                    m(MdlOp::MmProbeAndLockProcessPages {
                        mdl: LIVE0,
                        process,
                        mode: AccessMode::UserMode,
                        operation,
                    }),
                    p(ProcessOp::Attach { process }),
                    v(VmOp::KernelRead {
                        va: recent(0, l.offset),
                        len: l.length,
                    }),
                    m(MdlOp::MmMapLockedPagesSpecifyCache {
                        mdl: LIVE0,
                        mode: AccessMode::UserMode,
                        cache: CacheType::Cached,
                        base: None,
                        bug_check_on_failure: false,
                        priority: priority::NORMAL,
                    }),
                    v(VmOp::KernelRead {
                        va: recent(0, 0),
                        len: l.length,
                    }),
                    m(MdlOp::MmUnmapLockedPages {
                        base: recent(0, 0),
                        mdl: LIVE0,
                    }),
                    p(ProcessOp::Detach),
                    m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                ],
                &keep,
            )
        })
}

/// The [proxy file system][design-proxy]'s PFN-array copy: a second MDL gets the first
/// one's PFNs copied in and is mapped.
///
/// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
pub(super) fn pfn_copy() -> impl Strategy<Value = Vec<Op>> {
    (arb_process(), arb_nonempty_layout(), arb_mask()).prop_map(|(process, l, keep)| {
        let pages = l.span_pages() as u32;
        masked(
            lock_user(process, l, LockOperation::IoReadAccess)
                .into_iter()
                .chain([
                    io_allocate_mdl(recent(0, l.offset), l.length),
                    m(MdlOp::MdlCopyPfns {
                        src: LIVE1,
                        src_index: 0,
                        dst: LIVE0,
                        dst_index: 0,
                        count: pages,
                    }),
                    m(MdlOp::MdlSetFlags {
                        mdl: LIVE0,
                        flags: (MdlFlags::PAGES_LOCKED | MdlFlags::ALLOCATED_FIXED_SIZE).bits(),
                    }),
                    m(MdlOp::MmGetSystemAddressForMdlSafe {
                        mdl: LIVE0,
                        priority: priority::NORMAL,
                    }),
                    v(VmOp::KernelRead {
                        va: recent(0, 0),
                        len: l.length,
                    }),
                    m(MdlOp::MmUnmapLockedPages {
                        base: recent(0, 0),
                        mdl: LIVE0,
                    }),
                    m(MdlOp::MdlSetFlags {
                        mdl: LIVE0,
                        flags: MdlFlags::ALLOCATED_FIXED_SIZE.bits(),
                    }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                    m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                ])
                .collect::<Vec<Op>>(),
            &keep,
        )
    })
}

/// A user buffer locked and mapped into system space, then described again by a second
/// MDL over that system mapping, locked `KernelMode` and mapped (`MmMapLockedPages`) in
/// its turn (a filter locking a buffer the driver below has mapped); a copy between the
/// two mappings, then teardown, inner MDL first.
pub(super) fn nested_mdl() -> impl Strategy<Value = Vec<Op>> {
    (arb_process(), arb_nonempty_layout(), arb_mask()).prop_map(|(process, l, keep)| {
        masked(
            lock_user(process, l, LockOperation::IoWriteAccess)
                .into_iter()
                .chain([
                    m(MdlOp::MmGetSystemAddressForMdlSafe {
                        mdl: LIVE0,
                        priority: priority::NORMAL,
                    }),
                    // The system VA keeps the buffer's offset in its page.
                    io_allocate_mdl(recent(0, 0), l.length),
                    m(MdlOp::MmProbeAndLockPages {
                        mdl: LIVE0,
                        mode: AccessMode::KernelMode,
                        operation: LockOperation::IoReadAccess,
                    }),
                    // The older routine (it bug-checks rather than return NULL).
                    m(MdlOp::MmMapLockedPages {
                        mdl: LIVE0,
                        mode: AccessMode::KernelMode,
                    }),
                    v(VmOp::KernelCopy {
                        dst: recent(1, 0),
                        src: recent(0, 0),
                        len: l.length,
                    }),
                    m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                    m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
                    m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                    v(VmOp::VirtualFree {
                        process,
                        base: recent(2, 0),
                        size: 0,
                        free_type: MEM_RELEASE,
                    }),
                ])
                .collect::<Vec<Op>>(),
            &keep,
        )
    })
}
