//! MDL construction and release: `IoAllocateMdl` (with IRP attachment and the secondary-buffer
//! chain), `IoFreeMdl`, `MmCreateMdl`, `MmInitializeMdl`, `MmSizeOfMdl`,
//! `MmPrepareMdlForReuse`, `MmBuildMdlForNonPagedPool`
//! (semantics §1.2-§1.4, §3.1-§3.3, §3.6; invariants 1-3, 19, 25).

mod common;

use common::*;
use mdlsim::addr::{LIST_HEAD, PAGE_SIZE, Va, pte_address};
use mdlsim::bugcheck::{BugCheckCode, verifier};
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, LockOperation, MdlFlags, MdlStorage, priority};
use mdlsim::pool::tag;
use mdlsim::windows::KernelBuild;
use mdlsim::{Config, Fault, Machine, ModelError};

/// §3.2 / §1.3: a span of at most 23 pages uses the fixed-size block (capacity 23,
/// MDL_ALLOCATED_FIXED_SIZE) but `Size` reflects the real span; the header is initialised as
/// MmInitializeMdl does; nothing is locked.
#[test]
fn io_allocate_mdl_small_span_uses_the_fixed_size_block() {
    let mut m = machine();
    let va = Va::new(0x12_3456);
    let mdl = new_mdl(&mut m, va, 0x2000);
    let d = m.mdl(mdl).unwrap();
    assert_eq!(d.flags, MdlFlags::ALLOCATED_FIXED_SIZE);
    assert_eq!(d.size, 48 + 3 * 8);
    assert_eq!(
        (d.start_va, d.byte_offset, d.byte_count),
        (Va::new(0x12_3000), 0x456, 0x2000)
    );
    assert_eq!(
        (d.next, d.process, d.mapped_system_va),
        (None, None, Va::NULL)
    );
    assert_eq!(d.virtual_address(), va);
    assert_eq!(d.page_count(), 3);
    assert_eq!(m.mdl_capacity(mdl).unwrap(), 23);
    assert_eq!(m.mdl_storage(mdl).unwrap(), MdlStorage::IoAllocateMdl);
    assert_eq!(m.mdl_birth(mdl).unwrap().routine, "IoAllocateMdl");
    let exactly23 = new_mdl(&mut m, Va::new(0x10000), 23 * PAGE_SIZE as u32);
    assert!(
        m.mdl(exactly23)
            .unwrap()
            .flags
            .contains(MdlFlags::ALLOCATED_FIXED_SIZE)
    );
    let big = new_mdl(&mut m, Va::new(0x10001), 23 * PAGE_SIZE as u32);
    assert_eq!(m.mdl(big).unwrap().flags, MdlFlags::empty());
    assert_eq!(m.mdl_capacity(big).unwrap(), 24);
    for x in [mdl, exactly23, big] {
        m.io_free_mdl(x).unwrap();
    }
    assert_eq!(m.mdls().count(), 0);
    assert_audit_clean(&m);
}

/// Invariant 1 / §3.2: `Length == 0` is the IoAllocateMdl ASSERT (0x1E, STATUS_BREAKPOINT)
/// in a checked build.
#[test]
fn io_allocate_mdl_of_zero_length_asserts_in_a_checked_build() {
    let mut m = Machine::new(Config::default().kernel_build(KernelBuild::Checked)).unwrap();
    let r = m.io_allocate_mdl(Va::new(0x10000), 0, false, false, None);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
}

/// §3.2: a free build (the default) skips the ASSERT and returns a fixed-size MDL with
/// `ByteCount` 0; the misuse is the event `ZeroLengthMdlAllocated`, and the MDL frees
/// cleanly.
#[test]
fn io_allocate_mdl_of_zero_length_in_a_free_build_is_a_fixed_size_mdl_and_an_event() {
    let mut m = machine();
    let mdl = m
        .io_allocate_mdl(Va::new(0x10123), 0, false, false, None)
        .unwrap()
        .expect("an MDL");
    let d = m.mdl(mdl).unwrap();
    assert_eq!((d.byte_count, d.byte_offset), (0, 0x123));
    assert!(d.flags.contains(MdlFlags::ALLOCATED_FIXED_SIZE));
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::ZeroLengthMdlAllocated)
    );
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.2: with an IRP, SecondaryBuffer FALSE sets (overwrites) `Irp->MdlAddress`; TRUE appends
/// at the tail of the chain through `Next`.
#[test]
fn io_allocate_mdl_attaches_to_the_irp_and_chains_secondary_buffers() {
    let mut m = machine();
    let irp = m.io_allocate_irp(2).unwrap();
    let a = m
        .io_allocate_mdl(Va::new(0x10000), 1, false, false, Some(irp))
        .unwrap()
        .unwrap();
    assert_eq!(m.irp(irp).unwrap().mdl_address, Some(a));
    let b = m
        .io_allocate_mdl(Va::new(0x20000), 1, true, false, Some(irp))
        .unwrap()
        .unwrap();
    let c = m
        .io_allocate_mdl(Va::new(0x30000), 1, true, true, Some(irp))
        .unwrap()
        .unwrap();
    assert_eq!(m.irp(irp).unwrap().mdl_address, Some(a));
    assert_eq!(m.mdl(a).unwrap().next, Some(b));
    assert_eq!(m.mdl(b).unwrap().next, Some(c));
    assert_eq!(m.mdl(c).unwrap().next, None);
    let d = m
        .io_allocate_mdl(Va::new(0x40000), 1, false, false, Some(irp))
        .unwrap()
        .unwrap();
    assert_eq!(
        m.irp(irp).unwrap().mdl_address,
        Some(d),
        "primary overwrites"
    );
    // An oversized request attaches nothing.
    assert_eq!(
        m.io_allocate_mdl(Va::new(0x10000), 0xFFFF_F001, true, false, Some(irp))
            .unwrap(),
        None
    );
    assert_eq!(m.mdl(d).unwrap().next, None);
    for x in [a, b, c, d] {
        m.io_free_mdl(x).unwrap();
    }
    m.io_free_irp(irp).unwrap();
    assert_audit_clean(&m);
}

/// §3.2: a secondary buffer for an IRP whose chain is empty is the ASSERT (0x1E).
#[test]
fn secondary_buffer_without_a_chain_asserts() {
    let mut m = machine();
    let irp = m.io_allocate_irp(1).unwrap();
    let r = m.io_allocate_mdl(Va::new(0x10000), 1, true, false, Some(irp));
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert_eq!(m.mdls().count(), 0, "nothing allocated");
}

/// §3.2: appending a secondary buffer walks `Next` to the tail; a chain a driver made cyclic
/// has no tail (Windows would walk it for ever), so the model stops at the ASSERT (0x1E)
/// once it has taken more steps than there are MDLs, and allocates nothing.
#[test]
fn secondary_buffer_on_a_cyclic_chain_asserts() {
    let mut m = machine();
    let irp = m.io_allocate_irp(1).unwrap();
    let a = m
        .io_allocate_mdl(Va::new(0x10000), 1, false, false, Some(irp))
        .unwrap()
        .unwrap();
    m.mdl_set_next(a, Some(a)).unwrap();
    let r = m.io_allocate_mdl(Va::new(0x20000), 1, true, false, Some(irp));
    let b = expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert!(b.detail.contains("cyclic"), "{}", b.detail);
    assert_eq!(m.mdls().count(), 1, "nothing allocated");
}

/// Regression: appending to an IRP chain that still names a freed MDL touches freed memory:
/// special pool's 0x50 naming that MDL, before anything is allocated (previously a model
/// error after a leaked allocation).
#[test]
fn secondary_buffer_on_a_chain_with_a_freed_mdl_is_page_fault() {
    let mut m = machine();
    let irp = m.io_allocate_irp(1).unwrap();
    let a = m
        .io_allocate_mdl(Va::new(0x10000), 1, false, false, Some(irp))
        .unwrap()
        .unwrap();
    m.io_free_mdl(a).unwrap();
    let r = m.io_allocate_mdl(Va::new(0x20000), 1, true, false, Some(irp));
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [a.address(), 0, 0, 0],
    );
    assert_eq!(m.mdls().count(), 0);
}

/// A stale IRP handle is a model error (the IRP arena is the I/O manager's), not a panic.
#[test]
fn stale_irp_handle_is_a_model_error() {
    let mut m = machine();
    let irp = m.io_allocate_irp(1).unwrap();
    m.io_free_irp(irp).unwrap();
    let r = m.io_allocate_mdl(Va::new(0x10000), 1, false, false, Some(irp));
    assert!(
        matches!(r, Err(Fault::Model(ModelError::StaleHandle { .. }))),
        "{r:?}"
    );
    assert_eq!(m.mdls().count(), 0);
}

/// §3.3: IoFreeMdl of a NULL MDL is the NULL dereference; a double free is special pool's 0x50.
#[test]
fn io_free_mdl_null_and_double_free() {
    let mut m = machine();
    let r = m.io_free_mdl(None);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        null_mdl_params(),
    );
    let mut m = machine();
    let mdl = new_mdl(&mut m, Va::new(0x10000), 1);
    m.io_free_mdl(mdl).unwrap();
    let r = m.io_free_mdl(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [mdl.address(), 0, 0, 0],
    );
}

/// Invariant 25 / §3.3: IoFreeMdl never unlocks: freeing a locked MDL leaks the references and
/// the process's NumberOfLockedPages (recorded as an event and a leaked-lock hazard; the audit
/// still balances because the model knows the leaked lock).
#[test]
fn io_free_mdl_of_a_locked_mdl_leaks_the_lock() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let mdl = lock_user(&mut m, app, buf, 0x2000, LockOperation::IoReadAccess);
    let fs = frames(&m, mdl);
    m.io_free_mdl(mdl).unwrap();
    assert!(m.mdl(mdl).is_err());
    for f in &fs {
        assert_eq!(counts(&m, *f), (2, 1), "the lock reference stays");
    }
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    assert_eq!(m.leaked_locks().len(), 1);
    assert_eq!(m.leaked_locks()[0].mdl, mdl);
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::MdlFreedWhileLocked && e.mdl == Some(mdl))
    );
    let h = m.hazards();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].kind, mdlsim::audit::HazardKind::LeakedLock);
    assert_audit_clean(&m);
}

/// §3.1: MmCreateMdl allocates exactly MmSizeOfMdl bytes (capacity = span), no flags, pool
/// storage; NULL when the descriptor would exceed 0xFFFF bytes.
#[test]
fn mm_create_mdl_sizes_exactly() {
    let mut m = machine();
    let mdl = m.mm_create_mdl(Va::new(0x10FFF), 2).unwrap().unwrap();
    let d = m.mdl(mdl).unwrap();
    assert_eq!(
        (d.flags, d.size, d.page_count()),
        (MdlFlags::empty(), 48 + 16, 2)
    );
    assert_eq!(m.mdl_capacity(mdl).unwrap(), 2);
    assert_eq!(m.mdl_storage(mdl).unwrap(), MdlStorage::Pool);
    assert_eq!(
        m.mm_create_mdl(Va::new(0x10000), 0xFFFF_FFFF).unwrap(),
        None
    );
    assert_eq!(
        m.mm_create_mdl(Va::new(u64::MAX), 0xFFFF_FFFF).unwrap(),
        None
    );
    m.io_free_mdl(mdl).unwrap();
    assert!(m.crashed().is_none());
}

/// §1.3: MmSizeOfMdl = 48 + 8 × SPAN on amd64, including the zero-length-at-unaligned case.
#[test]
fn mm_size_of_mdl_formula() {
    assert_eq!(Machine::mm_size_of_mdl(Va::new(0x1000), 0x1000), 56);
    assert_eq!(Machine::mm_size_of_mdl(Va::new(0x1FFF), 2), 64);
    assert_eq!(Machine::mm_size_of_mdl(Va::new(0x1000), 0), 48);
    assert_eq!(Machine::mm_size_of_mdl(Va::new(0x1001), 0), 56);
    assert_eq!(
        Machine::mm_size_of_mdl(Va::new(0), 0xFFFF_FFFF),
        48 + 8 * 0x10_0000
    );
    let _ = Machine::mm_size_of_mdl(Va::new(u64::MAX), u64::MAX); // no panic
}

/// §1.3: MmInitializeMdl resets Next, Size (truncated to 16 bits), MdlFlags, StartVa,
/// ByteOffset, ByteCount, and keeps Process and MappedSystemVa.
#[test]
fn mm_initialize_mdl_rewrites_the_header_only() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, LockOperation::IoReadAccess);
    let sys = system_va(&mut m, mdl);
    m.mm_unlock_pages(mdl).unwrap();
    m.mdl_set_next(mdl, Some(mdl)).unwrap();
    m.mm_initialize_mdl(mdl, Va::new(0x5_0010), 0xFFFF_FFFF)
        .unwrap();
    let d = m.mdl(mdl).unwrap();
    assert_eq!(d.next, None);
    assert_eq!(d.flags, MdlFlags::empty());
    assert_eq!(d.size, ((48 + 8 * 0x10_0001u64) & 0xFFFF) as u16);
    assert_eq!(
        (d.start_va, d.byte_offset, d.byte_count),
        (Va::new(0x5_0000), 0x10, 0xFFFF_FFFF)
    );
    assert_eq!((d.process, d.mapped_system_va), (Some(app), sys));
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// MmInitializeMdl of a locked MDL loses track of the lock (leaked, as in C); a later unlock
/// finds the MDL unlocked (0xC4/0x7C).
#[test]
fn mm_initialize_mdl_of_a_locked_mdl_leaks_the_lock() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, LockOperation::IoReadAccess);
    m.mm_initialize_mdl(mdl, buf, 0x1000).unwrap();
    assert_eq!(m.leaked_locks().len(), 1);
    assert_audit_clean(&m);
    let r = m.mm_unlock_pages(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [verifier::UNLOCK_PAGES_NEVER_LOCKED, mdl.address(), 0, 0],
    );
}

/// NULL to MmInitializeMdl / MmPrepareMdlForReuse / MmBuildMdlForNonPagedPool: 0x1E.
#[test]
fn null_mdl_to_initialize_prepare_and_build() {
    for which in 0..3 {
        let mut m = machine();
        let r = match which {
            0 => m.mm_initialize_mdl(None, Va::new(0x10000), 1),
            1 => m.mm_prepare_mdl_for_reuse(None),
            _ => m.mm_build_mdl_for_non_paged_pool(None),
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            null_mdl_params(),
        );
    }
}

/// §3.3: MmPrepareMdlForReuse of an unmapped full MDL does nothing; of a mapped one it is
/// 0xC4/0xB8 (the RO ASSERT, reported); PARTIAL_HAS_BEEN_MAPPED without PARTIAL is the ASSERT.
#[test]
fn prepare_for_reuse_rules_for_full_mdls() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, LockOperation::IoReadAccess);
    m.mm_prepare_mdl_for_reuse(mdl).unwrap();
    assert!(m.mdl(mdl).unwrap().flags.contains(MdlFlags::PAGES_LOCKED));
    let mut bad = m.clone();
    let f = bad.mdl(mdl).unwrap().flags;
    bad.mdl_set_flags(mdl, f | MdlFlags::PARTIAL_HAS_BEEN_MAPPED)
        .unwrap();
    let r = bad.mm_prepare_mdl_for_reuse(mdl);
    expect_bug_check(
        &mut bad,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
        .unwrap()
        .unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_prepare_mdl_for_reuse(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [verifier::FREE_MDL_STILL_MAPPED, mdl.address(), flags, 0],
    );
}

/// §3.6 success: Process NULL, MappedSystemVa = StartVa + ByteOffset, PFNs straight from the
/// pool PTEs, SOURCE_IS_NONPAGED_POOL set, PAGES_LOCKED not set, no reference taken.
#[test]
fn build_mdl_for_non_paged_pool_reads_the_ptes() {
    let mut m = machine();
    let pool = nonpaged(&mut m, 0x3000, tag(b"Bld "));
    let va = at(pool, 0x804);
    let mdl = new_mdl(&mut m, va, 0x1000);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    let d = m.mdl(mdl).unwrap();
    assert_eq!(d.process, None);
    assert_eq!(d.mapped_system_va, va);
    assert_eq!(
        d.flags,
        MdlFlags::SOURCE_IS_NONPAGED_POOL | MdlFlags::ALLOCATED_FIXED_SIZE
    );
    let pf: Vec<_> = (0..2)
        .map(|i| {
            m.translate(mdlsim::space::SpaceId::System, page(pool, i))
                .unwrap()
        })
        .collect();
    assert_eq!(frames(&m, mdl), pf);
    for f in pf {
        assert_eq!(counts(&m, f), (1, 1));
    }
    assert!(m.events().is_empty());
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(pool, tag(b"Bld ")).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 19: building over a non-resident range is MEMORY_MANAGEMENT (0x1A) P1 0x1240,
/// P2 the MDL, P3 the PTE pointer of the first non-resident page.
#[test]
fn build_over_non_resident_memory_is_0x1a_1240() {
    let mut m = machine();
    let pool = nonpaged(&mut m, 0x1000, 1);
    let mdl = new_mdl(&mut m, at(pool, 0x800), 0x1000);
    let r = m.mm_build_mdl_for_non_paged_pool(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::MEMORY_MANAGEMENT,
        [0x1240, mdl.address(), pte_address(page(pool, 1)).raw(), 0],
    );
    let mut m = machine();
    let mdl = new_mdl(&mut m, Va::new(u64::MAX), 1);
    let r = m.mm_build_mdl_for_non_paged_pool(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::MEMORY_MANAGEMENT,
        [
            0x1240,
            mdl.address(),
            pte_address(Va::new(u64::MAX)).raw(),
            0,
        ],
    );
}

/// Invariant 19: only a fresh MDL: a built, locked or partial MDL, or ByteCount 0, is the ASSERT.
#[test]
fn build_for_non_paged_pool_needs_a_fresh_mdl() {
    for case in 0..4 {
        let (mut m, app) = with_app();
        let pool = nonpaged(&mut m, 0x100, 1);
        let buf = user_buf(&mut m, app, 0x1000);
        let mdl = match case {
            0 => {
                let x = new_mdl(&mut m, pool, 0x100);
                m.mm_build_mdl_for_non_paged_pool(x).unwrap();
                x
            }
            1 => lock_user(&mut m, app, buf, 0x100, LockOperation::IoReadAccess),
            2 => {
                let src = lock_user(&mut m, app, buf, 0x100, LockOperation::IoReadAccess);
                let t = new_mdl(&mut m, buf, 1);
                m.io_build_partial_mdl(src, t, buf, 0x10).unwrap();
                t
            }
            _ => {
                let x = new_mdl(&mut m, pool, 0x100);
                m.mm_initialize_mdl(x, pool, 0).unwrap();
                x
            }
        };
        let r = m.mm_build_mdl_for_non_paged_pool(mdl);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            assert_params(),
        );
        assert_audit_clean(&m);
    }
}

/// Invariant 3: a build whose span exceeds the storage overruns the PFN array (0x50).
#[test]
fn build_past_the_capacity_is_page_fault() {
    let mut m = machine();
    let pool = nonpaged(&mut m, 0x3000, 1);
    let mdl = m.mm_create_mdl(pool, 0x1000).unwrap().unwrap();
    m.mm_initialize_mdl(mdl, pool, 0x3000).unwrap();
    let r = m.mm_build_mdl_for_non_paged_pool(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [mdl.address() + 48 + 8, 2, 0, 0],
    );
}

/// Invariant 19: building over memory that is not non-paged pool (a user buffer) is allowed
/// by the routine but recorded.
#[test]
fn build_over_user_memory_is_recorded() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"u").unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x10);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::NonPagedBuildOverOtherMemory)
    );
    assert_ne!(m.mdl(mdl).unwrap().pfn_array()[0], LIST_HEAD);
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// The PFN-array accessors used by drivers (seed 000) respect the storage: writing or copying
/// past it is the overrun of invariant 3 (0x50).
#[test]
fn pfn_array_writes_past_the_storage_are_page_faults() {
    let mut m = machine();
    let a = m.mm_create_mdl(Va::new(0x10000), 0x2000).unwrap().unwrap();
    let b = m.mm_create_mdl(Va::new(0x10000), 0x1000).unwrap().unwrap();
    m.mdl_set_pfn(a, 1, 5).unwrap();
    m.mdl_copy_pfns(a, 1, b, 0, 1).unwrap();
    assert_eq!(m.mdl(b).unwrap().pfn_array(), &[5]);
    let mut m2 = m.clone();
    let r = m2.mdl_copy_pfns(a, 0, b, 0, 2);
    expect_bug_check(
        &mut m2,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [b.address() + 48 + 8, 2, 0, 0],
    );
    let mut m3 = m.clone();
    let r = m3.mdl_copy_pfns(b, 0, a, 0, u32::MAX);
    expect_bug_check(
        &mut m3,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [b.address() + 48 + 8, 0, 0, 0],
    );
    let r = m.mdl_set_pfn(b, u32::MAX, 1);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [b.address() + 48 + 8, 2, 0, 0],
    );
}

/// Probing an MDL built by MmCreateMdl with Length 0 (capacity 0) is the invariant-1 ASSERT,
/// never an index panic.
#[test]
fn zero_capacity_mdl_is_handled() {
    let (mut m, app) = with_app();
    let mdl = m.mm_create_mdl(Va::new(0x10000), 0).unwrap().unwrap();
    assert_eq!(m.mdl_capacity(mdl).unwrap(), 0);
    m.switch_to(Some(app)).unwrap();
    let r = m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
}
