//! The MDL layer's generator (feature `proptest`).

use super::MdlOp;
use crate::addr::LIST_HEAD;
use crate::mdl::{CacheType, MdlFlags, alloc_flags};
use crate::op::Ix;
use crate::op::arb::{
    arb_access_len, arb_addr, arb_cache, arb_ix, arb_length, arb_lock_operation, arb_mdl_length,
    arb_mdl_ref, arb_mode, arb_priority, arb_process, weighted,
};
use proptest::prelude::*;

/// Any MDL routine or MDL field write.
pub fn arb_mdl_op() -> BoxedStrategy<MdlOp> {
    // One list in a fixed order: the order and weights decide which op a seed draws.
    let mut arms = arb_descriptor_ops();
    arms.extend(arb_lock_ops());
    arms.extend(arb_mapping_ops());
    arms.extend(arb_pages_ops());
    arms.extend(arb_field_writes());
    weighted(arms)
}

/// Allocating, initialising, building and freeing MDLs: `IoAllocateMdl`, `MmCreateMdl`,
/// `MmSizeOfMdl`, `MmInitializeMdl`, `MmPrepareMdlForReuse`, `IoFreeMdl`, `IoBuildPartialMdl`,
/// `MmBuildMdlForNonPagedPool`, with their weights.
fn arb_descriptor_ops() -> Vec<(u32, BoxedStrategy<MdlOp>)> {
    let m = arb_mdl_ref;
    vec![
        (
            4,
            (
                arb_addr(),
                arb_mdl_length(),
                any::<bool>(),
                any::<bool>(),
                proptest::option::weighted(0.2, arb_ix()),
            )
                .prop_map(|(va, length, secondary_buffer, charge_quota, irp)| {
                    MdlOp::IoAllocateMdl {
                        va,
                        length,
                        secondary_buffer,
                        charge_quota,
                        irp,
                    }
                })
                .boxed(),
        ),
        (
            1,
            (arb_addr(), arb_mdl_length())
                .prop_map(|(va, length)| MdlOp::MmCreateMdl { va, length })
                .boxed(),
        ),
        (
            1,
            (arb_addr(), arb_access_len())
                .prop_map(|(va, length)| MdlOp::MmSizeOfMdl { va, length })
                .boxed(),
        ),
        (
            1,
            (m(), arb_addr(), arb_mdl_length())
                .prop_map(|(mdl, va, length)| MdlOp::MmInitializeMdl { mdl, va, length })
                .boxed(),
        ),
        (
            1,
            m().prop_map(|mdl| MdlOp::MmPrepareMdlForReuse { mdl })
                .boxed(),
        ),
        (2, m().prop_map(|mdl| MdlOp::IoFreeMdl { mdl }).boxed()),
        (
            1,
            (m(), m(), arb_addr(), arb_mdl_length())
                .prop_map(|(source, target, va, length)| MdlOp::IoBuildPartialMdl {
                    source,
                    target,
                    va,
                    length,
                })
                .boxed(),
        ),
        (
            1,
            m().prop_map(|mdl| MdlOp::MmBuildMdlForNonPagedPool { mdl })
                .boxed(),
        ),
    ]
}

/// Probing, locking and unlocking: `MmProbeAndLockPages`, `MmProbeAndLockProcessPages`,
/// `MmUnlockPages`, with their weights.
fn arb_lock_ops() -> Vec<(u32, BoxedStrategy<MdlOp>)> {
    let m = arb_mdl_ref;
    vec![
        (
            3,
            (m(), arb_mode(), arb_lock_operation())
                .prop_map(|(mdl, mode, operation)| MdlOp::MmProbeAndLockPages {
                    mdl,
                    mode,
                    operation,
                })
                .boxed(),
        ),
        (
            1,
            (m(), arb_process(), arb_mode(), arb_lock_operation())
                .prop_map(
                    |(mdl, process, mode, operation)| MdlOp::MmProbeAndLockProcessPages {
                        mdl,
                        process,
                        mode,
                        operation,
                    },
                )
                .boxed(),
        ),
        (2, m().prop_map(|mdl| MdlOp::MmUnlockPages { mdl }).boxed()),
    ]
}

/// Mapping and unmapping: `MmMapLockedPagesSpecifyCache`, `MmMapLockedPages`,
/// `MmGetSystemAddressForMdlSafe`, `MmUnmapLockedPages`, `MmProtectMdlSystemAddress`, with
/// their weights.
fn arb_mapping_ops() -> Vec<(u32, BoxedStrategy<MdlOp>)> {
    let m = arb_mdl_ref;
    vec![
        (
            2,
            (
                m(),
                arb_mode(),
                arb_cache(),
                proptest::option::weighted(0.1, arb_addr()),
                any::<bool>(),
                arb_priority(),
            )
                .prop_map(|(mdl, mode, cache, base, bug_check_on_failure, priority)| {
                    MdlOp::MmMapLockedPagesSpecifyCache {
                        mdl,
                        mode,
                        cache,
                        base,
                        bug_check_on_failure,
                        priority,
                    }
                })
                .boxed(),
        ),
        (
            1,
            (m(), arb_mode())
                .prop_map(|(mdl, mode)| MdlOp::MmMapLockedPages { mdl, mode })
                .boxed(),
        ),
        (
            2,
            (m(), arb_priority())
                .prop_map(|(mdl, priority)| MdlOp::MmGetSystemAddressForMdlSafe { mdl, priority })
                .boxed(),
        ),
        (
            2,
            (arb_addr(), m())
                .prop_map(|(base, mdl)| MdlOp::MmUnmapLockedPages { base, mdl })
                .boxed(),
        ),
        (
            1,
            (
                m(),
                prop_oneof![Just(1u32), Just(2u32), Just(4u32), Just(0x40u32)],
            )
                .prop_map(|(mdl, protect)| MdlOp::MmProtectMdlSystemAddress { mdl, protect })
                .boxed(),
        ),
    ]
}

/// MDLs of physical pages: `MmAllocatePagesForMdlEx`, `MmFreePagesFromMdl`, with their
/// weights.
fn arb_pages_ops() -> Vec<(u32, BoxedStrategy<MdlOp>)> {
    let m = arb_mdl_ref;
    vec![
        (
            2,
            (
                arb_length(),
                arb_alloc_flags(),
                prop_oneof![Just(0u64), Just(1u64)],
            )
                .prop_map(
                    |(total_bytes, flags, skip)| MdlOp::MmAllocatePagesForMdlEx {
                        low: 0,
                        high: u64::MAX,
                        skip,
                        total_bytes,
                        cache: CacheType::Cached,
                        flags,
                    },
                )
                .boxed(),
        ),
        (
            1,
            m().prop_map(|mdl| MdlOp::MmFreePagesFromMdl { mdl })
                .boxed(),
        ),
    ]
}

/// A driver's direct writes to MDL fields: a PFN, a run of PFNs, the flags, `Next`, with
/// their weights.
fn arb_field_writes() -> Vec<(u32, BoxedStrategy<MdlOp>)> {
    let m = arb_mdl_ref;
    vec![
        (
            1,
            (
                m(),
                prop_oneof![0u32..4, 20u32..26, Just(u32::MAX)],
                prop_oneof![Just(LIST_HEAD), 0u64..64, any::<u64>()],
            )
                .prop_map(|(mdl, index, value)| MdlOp::MdlSetPfn { mdl, index, value })
                .boxed(),
        ),
        (
            1,
            (m(), 0u32..4, m(), 0u32..4, prop_oneof![1u32..4, 20u32..30])
                .prop_map(
                    |(src, src_index, dst, dst_index, count)| MdlOp::MdlCopyPfns {
                        src,
                        src_index,
                        dst,
                        dst_index,
                        count,
                    },
                )
                .boxed(),
        ),
        (
            1,
            arb_flags_write()
                .prop_map(|(mdl, flags)| MdlOp::MdlSetFlags { mdl, flags })
                .boxed(),
        ),
        (
            1,
            (m(), m())
                .prop_map(|(mdl, next)| MdlOp::MdlSetNext { mdl, next })
                .boxed(),
        ),
    ]
}

/// `MmAllocatePagesForMdlEx` flags: none, `MM_DONT_ZERO_ALLOCATION`,
/// `MM_ALLOCATE_FULLY_REQUIRED`, or an unknown bit.
pub fn arb_alloc_flags() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        4 => Just(0u32),
        2 => Just(alloc_flags::MM_DONT_ZERO_ALLOCATION),
        1 => Just(alloc_flags::MM_ALLOCATE_FULLY_REQUIRED),
        1 => Just(0x100u32),
    ]
}

fn arb_flags_write() -> impl Strategy<Value = (Option<Ix>, u16)> + Clone {
    (
        arb_mdl_ref(),
        prop_oneof![
            Just(0u16),
            Just(MdlFlags::PAGES_LOCKED.bits()),
            Just(MdlFlags::MAPPING_CAN_FAIL.bits()),
            Just((MdlFlags::PAGES_LOCKED | MdlFlags::ALLOCATED_FIXED_SIZE).bits()),
            any::<u16>(),
        ],
    )
}
