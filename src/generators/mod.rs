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
//!   the objects most recently created and toward boundary values. Each layer's own
//!   generator lives beside its ops in `src/op/` and is re-exported here:
//!   [`arb_process_op`], [`arb_vm_op`], [`arb_pool_op`], [`arb_mdl_op`], [`arb_irp_op`],
//!   [`arb_io_op`], with the argument strategies they share ([`arb_ix`], [`arb_addr`],
//!   ...).
//! * [`arb_scenario`]: one meaningful driver episode — allocate, write, build an MDL,
//!   probe, map, access, unmap, unlock, free — in one of several shapes (user buffer
//!   into system space, pool into a user process, `MmAllocatePagesForMdlEx`, a partial
//!   MDL, an IRP's MDL chain, locking another process's pages, the [proxy file
//!   system][design-proxy]'s PFN-array copy, an MDL over another MDL's system mapping,
//!   a request through the I/O manager, the access log), each step kept with high
//!   probability so misuse (a missing unlock, a free before unmap) also appears.
//! * [`arb_ops`]: 2–4 `CreateProcess` followed by scenarios and a sprinkling of
//!   random ops.
//! * [`arb_io_workload`]: the steps of an I/O workload ([`crate::op::workload`]) with
//!   correct drivers, for `mdlsim::fuzzing::irp_ops` (as `tests/io_proptest.rs` uses it).
//! * [`arb_offset_in_page`], [`arb_length`], [`arb_layout`]: buffer layouts users
//!   want to sweep (offsets biased to 0, 1, 512, `PAGE_SIZE - 1`; lengths 0, 1,
//!   `PAGE_SIZE - 1`, `PAGE_SIZE`, `PAGE_SIZE + 1`, many pages).
//!
//! [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system

use crate::addr::PAGE_SIZE;
use crate::mdl::{AccessMode, LockOperation};
use crate::op::{Addr, Ix, MdlOp, Op, ProcessOp, VmOp};
use crate::space::Protection;
use crate::vm::{MEM_COMMIT, MEM_RESERVE};
use proptest::collection::{SizeRange, vec};
use proptest::prelude::*;

mod episodes;
mod mdl;

use crate::op::arb::weighted;
pub use crate::op::arb::{
    arb_access_len, arb_addr, arb_cache, arb_ix, arb_length, arb_lock_operation, arb_mdl_length,
    arb_mdl_ref, arb_mode, arb_offset_in_page, arb_op, arb_priority, arb_process, arb_protection,
    arb_raw_addr,
};
pub use crate::op::io::{
    arb_builtin_driver, arb_device_flags, arb_io_op, arb_io_request, arb_io_workload, arb_irp_op,
};
pub use crate::op::mdl::{arb_alloc_flags, arb_mdl_op};
pub use crate::op::pool::arb_pool_op;
pub use crate::op::process::arb_process_op;
pub use crate::op::vm::arb_vm_op;

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

/// A buffer layout (offset in page × length).
pub fn arb_layout() -> impl Strategy<Value = Layout> + Clone {
    (arb_offset_in_page(), arb_length()).prop_map(|(offset, length)| Layout { offset, length })
}

/// A non-empty layout (most MDL routines ASSERT on a zero length).
pub(crate) fn arb_nonempty_layout() -> impl Strategy<Value = Layout> + Clone {
    arb_layout().prop_map(|l| Layout {
        length: l.length.max(1),
        ..l
    })
}

// ----- scenarios ---------------------------------------------------------------------------

pub(crate) const LIVE0: Option<Ix> = Some(Ix::Live(0));
pub(crate) const LIVE1: Option<Ix> = Some(Ix::Live(1));

/// Wraps a process op.
pub(crate) fn p(op: ProcessOp) -> Op {
    Op::Process(op)
}
/// Wraps a VM op.
pub(crate) fn v(op: VmOp) -> Op {
    Op::Vm(op)
}
/// Wraps an MDL op.
pub(crate) fn m(op: MdlOp) -> Op {
    Op::Mdl(op)
}

/// The newest returned VA plus `offset`.
pub(crate) fn recent(n: u16, offset: u64) -> Addr {
    Addr::at(Ix::Recent(n), offset as i64)
}

pub(crate) fn alloc_user(process: Ix, l: Layout) -> Op {
    v(VmOp::VirtualAlloc {
        process,
        base: None,
        size: l.span_pages() * PAGE_SIZE,
        alloc_type: MEM_COMMIT | MEM_RESERVE,
        protect: Protection::ReadWrite,
    })
}

pub(crate) fn io_allocate_mdl(va: Addr, length: u64) -> Op {
    m(MdlOp::IoAllocateMdl {
        va,
        length: length as u32,
        secondary_buffer: false,
        charge_quota: false,
        irp: None,
    })
}

/// A buffer of `process` in layout `l`, described by an MDL (the most recent, `LIVE0`)
/// that is probed in the process's context for `operation`.
pub(crate) fn lock_user(process: Ix, l: Layout, operation: LockOperation) -> Vec<Op> {
    vec![
        alloc_user(process, l),
        p(ProcessOp::SwitchTo {
            process: Some(process),
        }),
        io_allocate_mdl(recent(0, l.offset), l.length),
        m(MdlOp::MmProbeAndLockPages {
            mdl: LIVE0,
            mode: AccessMode::UserMode,
            operation,
        }),
    ]
}

/// Keeps each op whose mask bit is set (missing masks keep the op); never empty.
pub(crate) fn masked(ops: Vec<Op>, keep: &[bool]) -> Vec<Op> {
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

pub(crate) fn arb_mask() -> impl Strategy<Value = Vec<bool>> + Clone {
    vec(proptest::bool::weighted(0.98), 16)
}

/// One driver episode (see the module docs), or a single random op.
pub fn arb_scenario() -> impl Strategy<Value = Vec<Op>> {
    weighted(vec![
        (8, mdl::user_to_system().boxed()),
        (4, mdl::pool_to_user().boxed()),
        (4, mdl::pages_for_mdl().boxed()),
        (3, mdl::partial_mdl().boxed()),
        (2, mdl::irp_chain().boxed()),
        (3, mdl::process_pages().boxed()),
        (1, mdl::pfn_copy().boxed()),
        (2, mdl::nested_mdl().boxed()),
        (1, episodes::access_log().boxed()),
        (2, episodes::housekeeping().boxed()),
        (1, episodes::process_lifetime().boxed()),
        (1, episodes::driver_misuse().boxed()),
        (3, episodes::io_episode().boxed()),
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
