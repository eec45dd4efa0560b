//! Proptest strategies for the arguments every layer's ops share (feature `proptest`),
//! and [`arb_op`]: any single op. Each layer's own generator lives next to its enum
//! (`arb_process_op` in `process.rs`, ...); `mdlsim::generators` re-exports them all and
//! builds scenarios from them.

use super::io::{arb_io_op, arb_irp_op};
use super::mdl::arb_mdl_op;
use super::pool::arb_pool_op;
use super::process::arb_process_op;
use super::vm::arb_vm_op;
use super::{Addr, Ix, Op};
use crate::addr::{MM_HIGHEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, PAGE_SIZE};
use crate::mdl::{AccessMode, CacheType, LockOperation, priority};
use crate::space::Protection;
use proptest::prelude::*;
use proptest::strategy::Union;

/// A union of boxed strategies with the given weights.
pub(crate) fn weighted<T: std::fmt::Debug + 'static>(
    arms: Vec<(u32, BoxedStrategy<T>)>,
) -> BoxedStrategy<T> {
    Union::new_weighted(arms).boxed()
}

/// An offset of a buffer's first byte in its page, biased to 0, 1, 512 and `PAGE_SIZE - 1`.
pub fn arb_offset_in_page() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        4 => Just(0u64),
        2 => Just(1u64),
        2 => Just(512u64),
        2 => Just(PAGE_SIZE - 1),
        3 => 0..PAGE_SIZE,
    ]
}

/// A buffer length: 0, 1, `PAGE_SIZE - 1`, `PAGE_SIZE`, `PAGE_SIZE + 1`, a few pages,
/// many pages (past the 23-page fixed-size MDL), or anything up to 16 pages.
pub fn arb_length() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        1 => Just(0u64),
        2 => Just(1u64),
        2 => Just(PAGE_SIZE - 1),
        3 => Just(PAGE_SIZE),
        2 => Just(PAGE_SIZE + 1),
        3 => (2u64..=8).prop_map(|p| p * PAGE_SIZE),
        1 => (20u64..=40).prop_map(|p| p * PAGE_SIZE + 17),
        4 => 1..16 * PAGE_SIZE,
    ]
}

/// An index biased toward the most recent objects.
pub fn arb_ix() -> impl Strategy<Value = Ix> + Clone {
    prop_oneof![
        7 => (0u16..3).prop_map(Ix::Live),
        2 => (0u16..3).prop_map(Ix::Recent),
        1 => (0u16..8).prop_map(Ix::Nth),
    ]
}

/// An MDL argument: mostly a live MDL, sometimes a stale one, rarely NULL.
pub fn arb_mdl_ref() -> impl Strategy<Value = Option<Ix>> + Clone {
    prop_oneof![
        60 => (0u16..2).prop_map(|n| Some(Ix::Live(n))),
        2 => (0u16..3).prop_map(|n| Some(Ix::Recent(n))),
        2 => (0u16..8).prop_map(|n| Some(Ix::Nth(n))),
        1 => Just(None),
    ]
}

/// A process index (mostly a running one).
pub fn arb_process() -> impl Strategy<Value = Ix> + Clone {
    prop_oneof![
        9 => (0u16..4).prop_map(Ix::Live),
        1 => (0u16..4).prop_map(Ix::Nth),
    ]
}

/// A raw address near the interesting boundaries.
pub fn arb_raw_addr() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        Just(0u64),
        Just(0x1_0000u64),
        Just(MM_HIGHEST_USER_ADDRESS.0),
        Just(MM_USER_PROBE_ADDRESS.0 - PAGE_SIZE),
        Just(0xFFFF_8000_0000_0000u64),
        Just(u64::MAX),
        Just(u64::MAX - 0xFFF),
        any::<u64>(),
    ]
}

/// An address argument: mostly a returned VA plus a small offset.
pub fn arb_addr() -> impl Strategy<Value = Addr> + Clone {
    prop_oneof![
        14 => ((0u16..3).prop_map(Ix::Recent), arb_offset_in_page())
            .prop_map(|(ix, o)| Addr::at(ix, o as i64)),
        2 => ((0u16..3).prop_map(Ix::Live), -8i64..8)
            .prop_map(|(mdl, o)| Addr::OfMdl { mdl, offset: o * 512 }),
        2 => arb_raw_addr().prop_map(Addr::Raw),
    ]
}

/// A length argument for accesses: mostly [`arb_length`], sometimes absurd.
pub fn arb_access_len() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        20 => arb_length(),
        1 => Just(u64::MAX),
        1 => Just(1u64 << 40),
    ]
}

/// An MDL length (`ULONG`): mostly [`arb_length`], sometimes near 4 GiB.
pub fn arb_mdl_length() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        30 => arb_length().prop_map(|l| l as u32),
        1 => Just(u32::MAX),
        1 => Just(0x8000_0000u32),
        1 => Just(0x7FFF_F000u32),
    ]
}

/// A page protection.
pub fn arb_protection() -> impl Strategy<Value = Protection> + Clone {
    prop_oneof![
        6 => Just(Protection::ReadWrite),
        2 => Just(Protection::ReadOnly),
        1 => Just(Protection::NoAccess),
    ]
}

/// `KernelMode` or `UserMode`.
pub fn arb_mode() -> impl Strategy<Value = AccessMode> + Clone {
    prop_oneof![Just(AccessMode::UserMode), Just(AccessMode::KernelMode)]
}

/// A `LOCK_OPERATION`.
pub fn arb_lock_operation() -> impl Strategy<Value = LockOperation> + Clone {
    prop_oneof![
        Just(LockOperation::IoReadAccess),
        Just(LockOperation::IoWriteAccess),
        Just(LockOperation::IoModifyAccess),
    ]
}

/// A `MEMORY_CACHING_TYPE`, mostly `MmCached`.
pub fn arb_cache() -> impl Strategy<Value = CacheType> + Clone {
    prop_oneof![
        6 => Just(CacheType::Cached),
        1 => Just(CacheType::NonCached),
        1 => Just(CacheType::WriteCombined),
    ]
}

/// A mapping priority, sometimes with `MdlMappingNoWrite` / `MdlMappingNoExecute`.
pub fn arb_priority() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        6 => Just(priority::NORMAL),
        1 => Just(priority::LOW),
        1 => Just(priority::HIGH | priority::MDL_MAPPING_NO_EXECUTE),
        1 => Just(priority::NORMAL | priority::MDL_MAPPING_NO_WRITE),
    ]
}

/// Any single op: every variant reachable, arguments biased toward recent objects and
/// boundary values.
pub fn arb_op() -> impl Strategy<Value = Op> {
    weighted(vec![
        (3, arb_process_op().prop_map(Op::Process).boxed()),
        (6, arb_vm_op().prop_map(Op::Vm).boxed()),
        (2, arb_pool_op().prop_map(Op::Pool).boxed()),
        (12, arb_mdl_op().prop_map(Op::Mdl).boxed()),
        (1, arb_irp_op().prop_map(Op::Irp).boxed()),
        (2, arb_io_op().prop_map(Op::Io).boxed()),
    ])
}
