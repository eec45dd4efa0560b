//! Public proptest generators (feature `proptest`): ops, op sequences and buffer layouts.
//!
//! Compose them into your own properties:
//!
//! ```
//! use mdlsim::generators::arb_ops;
//! use mdlsim::op::Interpreter;
//! use mdlsim::Config;
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(4), |(ops in arb_ops(16..=32))| {
//!     let mut interp = Interpreter::new(Config::default()).unwrap();
//!     for op in &ops {
//!         interp.apply(op);
//!         prop_assert!(interp.machine().audit().is_empty());
//!         if interp.machine().crashed().is_some() { break; }
//!     }
//! });
//! ```
//!
//! (The module is not called `gen`: that is a reserved keyword in edition 2024.)
//!
//! * [`arb_op`]: any single [`Op`], every variant reachable, arguments biased toward
//!   the objects most recently created and toward boundary values.
//! * [`arb_scenario`]: one meaningful driver episode — allocate, write, build an MDL,
//!   probe, map, access, unmap, unlock, free — in one of several shapes (user buffer
//!   into system space, pool into a user process, `MmAllocatePagesForMdlEx`, a partial
//!   MDL, an IRP's MDL chain, locking another process's pages, the [proxy file
//!   system][design-proxy]'s PFN-array copy, the access log), each step kept with high probability so misuse (a
//!   missing unlock, a free before unmap) also appears.
//! * [`arb_ops`]: 2–4 `CreateProcess` followed by scenarios and a sprinkling of
//!   random ops.
//! * [`arb_offset_in_page`], [`arb_length`], [`arb_layout`]: buffer layouts users
//!   want to sweep (offsets biased to 0, 1, 512, `PAGE_SIZE - 1`; lengths 0, 1,
//!   `PAGE_SIZE - 1`, `PAGE_SIZE`, `PAGE_SIZE + 1`, many pages).
//!
//! [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system

use crate::addr::{LIST_HEAD, MM_HIGHEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, PAGE_SIZE};
use crate::io::drivers::QueueDriverBug;
use crate::io::{DO_BUFFERED_IO, DO_DIRECT_IO};
use crate::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, alloc_flags, priority};
use crate::op::{Addr, BuiltinDriver, IoOp, IrpOp, Ix, MdlOp, Op, PoolOp, ProcessOp, VmOp};
use crate::pool::{POOL_FLAG_NON_PAGED, POOL_FLAG_UNINITIALIZED, PoolType, tag};
use crate::space::Protection;
use crate::vm::{MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE};
use proptest::collection::{SizeRange, vec};
use proptest::prelude::*;
use proptest::strategy::Union;

/// A buffer inside its pages: the offset of its first byte in the first page, and its length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    /// Offset of the first byte in its page (`0..PAGE_SIZE`).
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
}

impl Layout {
    /// Pages the buffer spans (`ADDRESS_AND_SIZE_TO_SPAN_PAGES`; 1 for an empty buffer).
    pub fn span_pages(&self) -> u64 {
        (self.offset + self.length.max(1)).div_ceil(PAGE_SIZE)
    }
}

fn weighted<T: std::fmt::Debug + 'static>(arms: Vec<(u32, BoxedStrategy<T>)>) -> BoxedStrategy<T> {
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

/// A buffer layout (offset in page × length).
pub fn arb_layout() -> impl Strategy<Value = Layout> + Clone {
    (arb_offset_in_page(), arb_length()).prop_map(|(offset, length)| Layout { offset, length })
}

/// A non-empty layout (most MDL routines ASSERT on a zero length).
fn arb_nonempty_layout() -> impl Strategy<Value = Layout> + Clone {
    arb_layout().prop_map(|l| Layout {
        length: l.length.max(1),
        ..l
    })
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

fn arb_tag() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        8 => Just(tag(b"Test")),
        1 => Just(tag(b"Oops")),
    ]
}

fn arb_process_op() -> BoxedStrategy<ProcessOp> {
    weighted(vec![
        (2, Just(ProcessOp::CreateProcess).boxed()),
        (
            1,
            arb_process()
                .prop_map(|process| ProcessOp::TerminateProcess { process })
                .boxed(),
        ),
        (
            2,
            arb_process()
                .prop_map(|process| ProcessOp::CreateThread { process })
                .boxed(),
        ),
        (
            4,
            proptest::option::weighted(0.8, arb_process())
                .prop_map(|process| ProcessOp::SwitchTo { process })
                .boxed(),
        ),
        (
            1,
            arb_process()
                .prop_map(|process| ProcessOp::Attach { process })
                .boxed(),
        ),
        (3, Just(ProcessOp::Detach).boxed()),
    ])
}

fn arb_vm_op() -> BoxedStrategy<VmOp> {
    let p = arb_process;
    weighted(vec![
        (
            3,
            (
                p(),
                proptest::option::weighted(0.2, arb_addr()),
                arb_length(),
                prop_oneof![
                    6 => Just(MEM_COMMIT | MEM_RESERVE),
                    1 => Just(MEM_RESERVE),
                    1 => Just(MEM_COMMIT),
                ],
                arb_protection(),
            )
                .prop_map(
                    |(process, base, size, alloc_type, protect)| VmOp::VirtualAlloc {
                        process,
                        base,
                        size,
                        alloc_type,
                        protect,
                    },
                )
                .boxed(),
        ),
        (
            2,
            (
                p(),
                arb_addr(),
                prop_oneof![Just(0u64), arb_length()],
                prop_oneof![3 => Just(MEM_RELEASE), 1 => Just(MEM_DECOMMIT)],
            )
                .prop_map(|(process, base, size, free_type)| VmOp::VirtualFree {
                    process,
                    base,
                    size,
                    free_type,
                })
                .boxed(),
        ),
        (
            2,
            (p(), arb_addr(), arb_length(), arb_protection())
                .prop_map(|(process, base, size, protect)| VmOp::VirtualProtect {
                    process,
                    base,
                    size,
                    protect,
                })
                .boxed(),
        ),
        (
            2,
            (p(), arb_addr(), arb_access_len())
                .prop_map(|(process, va, len)| VmOp::UserRead { process, va, len })
                .boxed(),
        ),
        (
            2,
            (p(), arb_addr(), arb_access_len(), any::<u8>())
                .prop_map(|(process, va, len, seed)| VmOp::UserWrite {
                    process,
                    va,
                    len,
                    seed,
                })
                .boxed(),
        ),
        (
            1,
            (p(), arb_addr(), arb_addr(), arb_access_len())
                .prop_map(|(process, dst, src, len)| VmOp::UserCopy {
                    process,
                    dst,
                    src,
                    len,
                })
                .boxed(),
        ),
        (
            2,
            (arb_addr(), arb_access_len())
                .prop_map(|(va, len)| VmOp::KernelRead { va, len })
                .boxed(),
        ),
        (
            1,
            (arb_addr(), arb_access_len(), any::<u8>())
                .prop_map(|(va, len, seed)| VmOp::KernelWrite { va, len, seed })
                .boxed(),
        ),
        (
            1,
            (arb_addr(), arb_access_len())
                .prop_map(|(va, len)| VmOp::KernelZero { va, len })
                .boxed(),
        ),
        (
            1,
            (arb_addr(), arb_addr(), arb_access_len())
                .prop_map(|(dst, src, len)| VmOp::KernelCopy { dst, src, len })
                .boxed(),
        ),
        (1, Just(VmOp::StartAccessLog).boxed()),
        (1, Just(VmOp::TakeAccessLog).boxed()),
    ])
}

fn arb_pool_op() -> BoxedStrategy<PoolOp> {
    weighted(vec![
        (
            2,
            (
                prop_oneof![Just(PoolType::NonPaged), Just(PoolType::NonPagedNx)],
                arb_length(),
                arb_tag(),
            )
                .prop_map(|(pool_type, size, tag)| PoolOp::ExAllocatePoolWithTag {
                    pool_type,
                    size,
                    tag,
                })
                .boxed(),
        ),
        (
            2,
            (
                prop_oneof![
                    Just(POOL_FLAG_NON_PAGED),
                    Just(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED)
                ],
                arb_length(),
                arb_tag(),
            )
                .prop_map(|(flags, size, tag)| PoolOp::ExAllocatePool2 { flags, size, tag })
                .boxed(),
        ),
        (
            2,
            (arb_addr(), arb_tag())
                .prop_map(|(va, tag)| PoolOp::ExFreePoolWithTag { va, tag })
                .boxed(),
        ),
        (
            1,
            arb_addr().prop_map(|va| PoolOp::ExFreePool { va }).boxed(),
        ),
    ])
}

fn arb_mdl_op() -> BoxedStrategy<MdlOp> {
    let m = arb_mdl_ref;
    weighted(vec![
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
    ])
}

fn arb_alloc_flags() -> impl Strategy<Value = u32> + Clone {
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

fn arb_irp_op() -> BoxedStrategy<IrpOp> {
    weighted(vec![
        (
            1,
            (1u8..=4)
                .prop_map(|stack_size| IrpOp::IoAllocateIrp { stack_size })
                .boxed(),
        ),
        (1, arb_ix().prop_map(|irp| IrpOp::IoFreeIrp { irp }).boxed()),
    ])
}

fn arb_builtin_driver() -> impl Strategy<Value = BuiltinDriver> + Clone {
    prop_oneof![
        3 => Just(BuiltinDriver::Pattern),
        3 => Just(BuiltinDriver::Queue(QueueDriverBug::None)),
        1 => Just(BuiltinDriver::Queue(QueueDriverBug::NoClearCancelRoutine)),
        1 => Just(BuiltinDriver::Queue(QueueDriverBug::NoClearBlindCancel)),
        1 => Just(BuiltinDriver::Queue(QueueDriverBug::NotCancelable)),
        1 => Just(BuiltinDriver::PassThrough),
    ]
}

fn arb_device_flags() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        4 => Just(DO_BUFFERED_IO),
        4 => Just(DO_DIRECT_IO),
        2 => Just(0u32),
        1 => Just(DO_BUFFERED_IO | DO_DIRECT_IO),
    ]
}

fn arb_io_len() -> impl Strategy<Value = u32> + Clone {
    arb_length().prop_map(|l| l as u32)
}

/// A user I/O request on the newest device from the newest thread, into the newest VA.
fn arb_io_request(offset: u64) -> BoxedStrategy<IoOp> {
    let (thread, device, buffer) = (Ix::Live(0), Ix::Recent(0), recent(0, offset));
    let iosb = prop_oneof![4 => Just(None), 1 => Just(Some(recent(0, 0)))];
    weighted(vec![
        (
            3,
            (arb_io_len(), iosb.clone())
                .prop_map(move |(length, iosb)| IoOp::NtReadFile {
                    thread,
                    device,
                    iosb,
                    buffer,
                    length,
                })
                .boxed(),
        ),
        (
            2,
            (arb_io_len(), iosb.clone())
                .prop_map(move |(length, iosb)| IoOp::NtWriteFile {
                    thread,
                    device,
                    iosb,
                    buffer,
                    length,
                })
                .boxed(),
        ),
        (
            3,
            (0u32..4, 0u16..4, arb_io_len(), arb_io_len(), any::<bool>())
                .prop_map(
                    move |(method, function, il, ol, null_in)| IoOp::NtDeviceIoControlFile {
                        thread,
                        device,
                        iosb: None,
                        method,
                        function,
                        input: (!null_in).then_some(buffer),
                        input_length: il,
                        output: Some(buffer),
                        output_length: ol,
                    },
                )
                .boxed(),
        ),
        (
            2,
            (arb_io_len(), 1u32..0x200)
                .prop_map(
                    move |(length, completion_filter)| IoOp::NtNotifyChangeDirectoryFile {
                        thread,
                        device,
                        iosb: None,
                        buffer,
                        length,
                        completion_filter,
                    },
                )
                .boxed(),
        ),
    ])
}

fn arb_io_op() -> BoxedStrategy<IoOp> {
    weighted(vec![
        (
            1,
            arb_builtin_driver()
                .prop_map(|driver| IoOp::RegisterDriver { driver })
                .boxed(),
        ),
        (
            1,
            (arb_ix(), arb_device_flags())
                .prop_map(|(driver, flags)| IoOp::CreateDevice { driver, flags })
                .boxed(),
        ),
        (
            1,
            (arb_ix(), arb_ix())
                .prop_map(|(source, target)| IoOp::AttachDevice { source, target })
                .boxed(),
        ),
        (
            1,
            (1u32..400_000)
                .prop_map(|altitude| IoOp::FltRegisterFilter { altitude })
                .boxed(),
        ),
        (
            1,
            arb_ix()
                .prop_map(|volume| IoOp::FltAttachVolume { volume })
                .boxed(),
        ),
        (
            3,
            arb_offset_in_page().prop_flat_map(arb_io_request).boxed(),
        ),
        (
            2,
            arb_ix()
                .prop_map(|device| IoOp::QueueCompleteNext { device })
                .boxed(),
        ),
        (
            1,
            (arb_ix(), 0u16..0x300, any::<u8>())
                .prop_map(|(irp, len, seed)| IoOp::FsRtlNotifyFullReportChange { irp, len, seed })
                .boxed(),
        ),
        (
            1,
            arb_ix().prop_map(|irp| IoOp::IoCancelIrp { irp }).boxed(),
        ),
        (
            1,
            (arb_ix(), 0u32..1000)
                .prop_map(|(device, due_ms)| IoOp::KeSetTimer { device, due_ms })
                .boxed(),
        ),
        (
            1,
            prop_oneof![Just(100u64), Just(1000), Just(300_000)]
                .prop_map(|ms| IoOp::KeAdvanceClock { ms })
                .boxed(),
        ),
        (
            1,
            arb_ix()
                .prop_map(|thread| IoOp::TerminateThread { thread })
                .boxed(),
        ),
    ])
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

// ----- scenarios ---------------------------------------------------------------------------

const LIVE0: Option<Ix> = Some(Ix::Live(0));
const LIVE1: Option<Ix> = Some(Ix::Live(1));

fn p(op: ProcessOp) -> Op {
    Op::Process(op)
}
fn v(op: VmOp) -> Op {
    Op::Vm(op)
}
fn m(op: MdlOp) -> Op {
    Op::Mdl(op)
}

/// The newest returned VA plus `offset`.
fn recent(n: u16, offset: u64) -> Addr {
    Addr::at(Ix::Recent(n), offset as i64)
}

fn alloc_user(process: Ix, l: Layout) -> Op {
    v(VmOp::VirtualAlloc {
        process,
        base: None,
        size: l.span_pages() * PAGE_SIZE,
        alloc_type: MEM_COMMIT | MEM_RESERVE,
        protect: Protection::ReadWrite,
    })
}

fn io_allocate_mdl(va: Addr, length: u64) -> Op {
    m(MdlOp::IoAllocateMdl {
        va,
        length: length as u32,
        secondary_buffer: false,
        charge_quota: false,
        irp: None,
    })
}

/// Keeps each op whose mask bit is set (missing masks keep the op); never empty.
fn masked(ops: Vec<Op>, keep: &[bool]) -> Vec<Op> {
    let first = ops.first().copied();
    let kept: Vec<Op> = ops
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.get(*i).copied().unwrap_or(true))
        .map(|(_, op)| op)
        .collect();
    match (kept.is_empty(), first) {
        (true, Some(op)) => vec![op],
        _ => kept,
    }
}

fn arb_mask() -> impl Strategy<Value = Vec<bool>> + Clone {
    vec(proptest::bool::weighted(0.98), 16)
}

/// A user buffer locked and mapped into system space ([buffer ownership][design-ownership];
/// the first direction of [user/kernel shared memory][design-shared-memory]).
///
/// [design-ownership]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#buffer-ownership
/// [design-shared-memory]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shared-memory
fn user_to_system() -> impl Strategy<Value = Vec<Op>> {
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
            ops.push(match app {
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
            });
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

/// The second direction of [user/kernel shared memory][design-shared-memory]: pool described by `MmBuildMdlForNonPagedPool`, mapped into a process.
///
/// [design-shared-memory]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shared-memory
fn pool_to_user() -> impl Strategy<Value = Vec<Op>> {
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
fn pages_for_mdl() -> impl Strategy<Value = Vec<Op>> {
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
fn partial_mdl() -> impl Strategy<Value = Vec<Op>> {
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
                vec![
                    alloc_user(process, l),
                    p(ProcessOp::SwitchTo {
                        process: Some(process),
                    }),
                    io_allocate_mdl(recent(0, l.offset), l.length),
                    m(MdlOp::MmProbeAndLockPages {
                        mdl: LIVE0,
                        mode: AccessMode::UserMode,
                        operation: LockOperation::IoWriteAccess,
                    }),
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
                ],
                &keep,
            )
        })
}

/// An IRP with a primary MDL and a secondary buffer chained behind it.
fn irp_chain() -> impl Strategy<Value = Vec<Op>> {
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
                    Op::Irp(IrpOp::IoFreeIrp { irp: Ix::Live(0) }),
                ],
                &keep,
            )
        },
    )
}

/// A system thread locking another process's pages, then reading them attached.
fn process_pages() -> impl Strategy<Value = Vec<Op>> {
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
fn pfn_copy() -> impl Strategy<Value = Vec<Op>> {
    (arb_process(), arb_nonempty_layout(), arb_mask()).prop_map(|(process, l, keep)| {
        let pages = l.span_pages() as u32;
        masked(
            vec![
                alloc_user(process, l),
                p(ProcessOp::SwitchTo {
                    process: Some(process),
                }),
                io_allocate_mdl(recent(0, l.offset), l.length),
                m(MdlOp::MmProbeAndLockPages {
                    mdl: LIVE0,
                    mode: AccessMode::UserMode,
                    operation: LockOperation::IoReadAccess,
                }),
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
            ],
            &keep,
        )
    })
}

/// Bookkeeping routines a driver calls around the main path: `MmSizeOfMdl`, an
/// obsolete `MmCreateMdl` re-initialised and freed, MDL field writes on an unlocked
/// MDL, pool copied onto itself and freed untagged, a new thread.
fn housekeeping() -> impl Strategy<Value = Vec<Op>> {
    (arb_process(), arb_nonempty_layout(), arb_mask()).prop_map(|(process, l, keep)| {
        let len = l.length as u32;
        masked(
            vec![
                m(MdlOp::MmSizeOfMdl {
                    va: recent(0, l.offset),
                    length: l.length,
                }),
                m(MdlOp::MmCreateMdl {
                    va: recent(0, l.offset),
                    length: len,
                }),
                m(MdlOp::MmInitializeMdl {
                    mdl: LIVE0,
                    va: recent(0, 0),
                    length: len,
                }),
                m(MdlOp::MdlSetPfn {
                    mdl: LIVE0,
                    index: 0,
                    value: LIST_HEAD,
                }),
                m(MdlOp::MdlSetNext {
                    mdl: LIVE0,
                    next: None,
                }),
                m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                Op::Pool(PoolOp::ExAllocatePoolWithTag {
                    pool_type: PoolType::NonPagedNx,
                    size: l.length,
                    tag: tag(b"Test"),
                }),
                v(VmOp::KernelCopy {
                    dst: recent(0, 0),
                    src: recent(0, 0),
                    len: l.length,
                }),
                Op::Pool(PoolOp::ExFreePool { va: recent(0, 0) }),
                p(ProcessOp::CreateThread { process }),
            ],
            &keep,
        )
    })
}

/// A short-lived process: created, given a buffer, copied within, terminated.
fn process_lifetime() -> impl Strategy<Value = Vec<Op>> {
    (arb_nonempty_layout(), any::<u8>(), arb_mask()).prop_map(|(l, seed, keep)| {
        let process = Ix::Recent(0);
        masked(
            vec![
                p(ProcessOp::CreateProcess),
                alloc_user(process, l),
                v(VmOp::UserWrite {
                    process,
                    va: recent(0, l.offset),
                    len: l.length,
                    seed,
                }),
                v(VmOp::UserCopy {
                    process,
                    dst: recent(0, 0),
                    src: recent(0, l.offset),
                    len: l.length.min(PAGE_SIZE - l.offset),
                }),
                p(ProcessOp::TerminateProcess { process }),
            ],
            &keep,
        )
    })
}

/// A driver's misuse in the middle of a locked, mapped buffer's life: PFN-array,
/// flag and `Next` writes, a free or re-initialisation while locked, a second probe,
/// a double unmap, the process exiting or the app freeing the buffer, a user
/// mapping left behind in another process. Then the usual unlock and free.
fn driver_misuse() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_process(),
        arb_process(),
        arb_nonempty_layout(),
        0u8..11,
        0u32..3,
        prop_oneof![0u64..64, Just(LIST_HEAD)],
        any::<u16>(),
    )
        .prop_map(|(process, other, l, misuse, index, value, flags)| {
            let mut ops = vec![
                alloc_user(process, l),
                p(ProcessOp::SwitchTo {
                    process: Some(process),
                }),
                io_allocate_mdl(recent(0, l.offset), l.length),
                m(MdlOp::MmProbeAndLockPages {
                    mdl: LIVE0,
                    mode: AccessMode::UserMode,
                    operation: LockOperation::IoModifyAccess,
                }),
                m(MdlOp::MmGetSystemAddressForMdlSafe {
                    mdl: LIVE0,
                    priority: priority::NORMAL,
                }),
            ];
            let unmap = m(MdlOp::MmUnmapLockedPages {
                base: recent(0, 0),
                mdl: LIVE0,
            });
            ops.extend(match misuse {
                0 => vec![m(MdlOp::MdlSetPfn {
                    mdl: LIVE0,
                    index,
                    value,
                })],
                1 => vec![m(MdlOp::MdlSetFlags { mdl: LIVE0, flags })],
                2 => vec![m(MdlOp::MdlSetNext {
                    mdl: LIVE0,
                    next: LIVE1,
                })],
                3 => vec![m(MdlOp::IoFreeMdl { mdl: LIVE0 })],
                4 => vec![p(ProcessOp::TerminateProcess { process })],
                5 => vec![
                    v(VmOp::VirtualFree {
                        process,
                        base: recent(1, 0),
                        size: 0,
                        free_type: MEM_RELEASE,
                    }),
                    v(VmOp::UserRead {
                        process,
                        va: recent(1, l.offset),
                        len: 1,
                    }),
                ],
                6 => vec![unmap, unmap],
                7 => vec![m(MdlOp::MmInitializeMdl {
                    mdl: LIVE0,
                    va: recent(1, l.offset),
                    length: l.length as u32,
                })],
                8 => vec![m(MdlOp::MmPrepareMdlForReuse { mdl: LIVE0 })],
                9 => vec![m(MdlOp::MmProbeAndLockPages {
                    mdl: LIVE0,
                    mode: AccessMode::KernelMode,
                    operation: LockOperation::IoReadAccess,
                })],
                _ => vec![
                    p(ProcessOp::SwitchTo {
                        process: Some(other),
                    }),
                    m(MdlOp::MmMapLockedPagesSpecifyCache {
                        mdl: LIVE0,
                        mode: AccessMode::UserMode,
                        cache: CacheType::Cached,
                        base: None,
                        bug_check_on_failure: false,
                        priority: priority::NORMAL,
                    }),
                    p(ProcessOp::TerminateProcess { process: other }),
                ],
            });
            ops.extend([
                v(VmOp::KernelRead {
                    va: recent(0, 0),
                    len: l.length,
                }),
                m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
                m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
            ]);
            ops
        })
}

fn io(op: IoOp) -> Op {
    Op::Io(op)
}

/// [Errors in direct I/O][design-direct-io], the [directory change
/// notification][design-notification] and [buffer ownership][design-ownership] through
/// the I/O manager: a built-in driver's device (maybe under
/// a pass-through filter or the filter manager), a process and a thread, one user
/// request, then what may happen while it is outstanding (the driver reads
/// `Irp->MdlAddress`, the app writes or frees the
/// buffer, the driver completes, FsRtl reports a change, a cancel, the clock, the
/// thread or the process exits).
///
/// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
/// [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
/// [design-ownership]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#buffer-ownership
fn io_episode() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_builtin_driver(),
        arb_device_flags(),
        0u8..4,
        arb_nonempty_layout(),
        arb_io_request(0),
        (0u16..0x200, any::<u8>(), 0u32..500),
        prop_oneof![Just(100u64), Just(1000), Just(300_000)],
        vec(proptest::bool::weighted(0.7), 16),
    )
        .prop_map(
            |(driver, flags, stack, l, request, (rec, seed, due), ms, keep)| {
                let process = Ix::Recent(0);
                let mut ops = vec![
                    io(IoOp::RegisterDriver { driver }),
                    io(IoOp::CreateDevice {
                        driver: Ix::Recent(0),
                        flags,
                    }),
                ];
                match stack {
                    1 => ops.extend([
                        io(IoOp::RegisterDriver {
                            driver: BuiltinDriver::PassThrough,
                        }),
                        io(IoOp::CreateDevice {
                            driver: Ix::Recent(0),
                            flags: 0,
                        }),
                        io(IoOp::AttachDevice {
                            source: Ix::Recent(0),
                            target: Ix::Recent(1),
                        }),
                    ]),
                    2 => ops.extend([
                        io(IoOp::FltRegisterFilter { altitude: 320_000 }),
                        io(IoOp::FltAttachVolume {
                            volume: Ix::Recent(0),
                        }),
                    ]),
                    _ => {}
                }
                let tail = vec![
                    p(ProcessOp::CreateProcess),
                    alloc_user(process, l),
                    p(ProcessOp::CreateThread { process }),
                    io(IoOp::KeSetTimer {
                        device: Ix::Recent(0),
                        due_ms: due,
                    }),
                    Op::Io(request),
                    // The driver reads Irp->MdlAddress (appended to the MDL table).
                    io(IoOp::IrpMdlAddress { irp: Ix::Live(0) }),
                    v(VmOp::UserWrite {
                        process,
                        va: recent(0, l.offset),
                        len: l.length.min(PAGE_SIZE),
                        seed,
                    }),
                    io(IoOp::QueueCompleteNext {
                        device: Ix::Recent(0),
                    }),
                    io(IoOp::QueueCompleteNext {
                        device: Ix::Recent(1),
                    }),
                    io(IoOp::FsRtlNotifyFullReportChange {
                        irp: Ix::Live(0),
                        len: rec,
                        seed,
                    }),
                    io(IoOp::IoCancelIrp { irp: Ix::Live(0) }),
                    v(VmOp::VirtualFree {
                        process,
                        base: recent(0, 0),
                        size: 0,
                        free_type: MEM_RELEASE,
                    }),
                    io(IoOp::KeAdvanceClock { ms }),
                    io(IoOp::TerminateThread {
                        thread: Ix::Live(0),
                    }),
                    p(ProcessOp::TerminateProcess { process }),
                ];
                let mut keep = keep;
                // The process, its buffer and the request are always there.
                for i in [0, 1, 4] {
                    keep[i] = true;
                }
                ops.extend(masked(tail, &keep));
                ops
            },
        )
}

/// The access log around a kernel read of a returned VA.
fn access_log() -> impl Strategy<Value = Vec<Op>> {
    (arb_addr(), arb_length()).prop_map(|(va, len)| {
        vec![
            v(VmOp::StartAccessLog),
            v(VmOp::KernelRead { va, len }),
            v(VmOp::TakeAccessLog),
        ]
    })
}

/// One driver episode (see the module docs), or a single random op.
pub fn arb_scenario() -> impl Strategy<Value = Vec<Op>> {
    weighted(vec![
        (8, user_to_system().boxed()),
        (4, pool_to_user().boxed()),
        (4, pages_for_mdl().boxed()),
        (3, partial_mdl().boxed()),
        (2, irp_chain().boxed()),
        (3, process_pages().boxed()),
        (1, pfn_copy().boxed()),
        (1, access_log().boxed()),
        (2, housekeeping().boxed()),
        (1, process_lifetime().boxed()),
        (1, driver_misuse().boxed()),
        (3, io_episode().boxed()),
        (1, Just(vec![p(ProcessOp::CreateProcess)]).boxed()),
        (2, vec(arb_op(), 1..=3).boxed()),
    ])
}

/// A sequence of `len` ops (a size or a range): 2–4 `CreateProcess`, then scenarios
/// ([`arb_scenario`]) until the length is reached. Shrinks by dropping scenarios.
pub fn arb_ops(len: impl Into<SizeRange>) -> impl Strategy<Value = Vec<Op>> {
    let (lo, hi) = len.into().start_end_incl();
    // Every scenario has at least one op, so `lo` scenarios reach `lo` ops.
    (2usize..=4, vec(arb_scenario(), lo..=hi.max(lo))).prop_map(move |(n, chunks)| {
        let mut ops = vec![p(ProcessOp::CreateProcess); n];
        ops.extend(chunks.into_iter().flatten());
        ops.truncate(hi.max(lo));
        ops
    })
}
