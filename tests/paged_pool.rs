//! Paged pool (issue 14, semantics §1.5 and §5.9): its own region, its IRQL limits
//! (Verifier's 0xC4 0x01 and 0x11), touched above APC_LEVEL, locked by
//! MmProbeAndLockPages in kernel mode, refused by MmBuildMdlForNonPagedPool (0xC4 0x7F);
//! and ExFreePool of an MDL, which frees its storage without preparing it for reuse.

mod common;

use common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::{BugCheckCode, verifier};
use mdlsim::events::EventKind;
use mdlsim::irql::Kirql;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags};
use mdlsim::pool::{POOL_FLAG_NON_PAGED, POOL_FLAG_PAGED, PoolType, is_paged_pool, tag};
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Machine};

const T: u32 = tag(b"Test");

fn paged(m: &mut Machine, size: u64) -> Va {
    m.ex_allocate_pool_with_tag(PoolType::Paged, size, T)
        .unwrap()
        .unwrap()
}

/// Verifier without Force IRQL Checking, which would have trimmed paged pool: the touch
/// is then an event, not 0xD1 (tests/verifier.rs).
fn without_force_irql_checking() -> Machine {
    let v = mdlsim::verifier::Verifier {
        force_irql_checking: false,
        ..mdlsim::verifier::Verifier::STANDARD
    };
    Machine::new(Config::default().verifier(v)).unwrap()
}

fn events(m: &Machine, kind: EventKind) -> usize {
    m.events().iter().filter(|e| e.kind == kind).count()
}

#[test]
fn paged_pool_lies_in_its_own_region_and_never_shares_a_page_with_non_paged_pool() {
    let mut m = machine();
    let p = paged(&mut m, 100);
    let n = nonpaged(&mut m, 100, T);
    let big = paged(&mut m, 3 * PAGE_SIZE);
    assert!(is_paged_pool(p) && is_paged_pool(big));
    assert!(!is_paged_pool(n));
    assert_ne!(p.page_align(), n.page_align());
    let a = m.pool_allocations().find(|a| a.va == p).unwrap();
    assert_eq!(a.pool_type, PoolType::Paged);
    let q = m
        .ex_allocate_pool2(POOL_FLAG_PAGED, 100, T)
        .unwrap()
        .unwrap();
    assert!(is_paged_pool(q));
    assert_eq!(
        q.page_align(),
        p.page_align(),
        "small paged blocks share a page"
    );
    let r = m
        .ex_allocate_pool2(POOL_FLAG_NON_PAGED, 100, T)
        .unwrap()
        .unwrap();
    assert!(!is_paged_pool(r));
    for va in [p, n, big, q, r] {
        m.ex_free_pool_with_tag(va, T).unwrap();
    }
    assert_eq!(m.pool_pages_in_use(), 0);
    assert_audit_clean(&m);
}

#[test]
fn allocating_paged_pool_above_apc_level_is_verifier_0x01() {
    let mut m = machine();
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    let r = m.ex_allocate_pool_with_tag(PoolType::Paged, 64, T);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [verifier::ALLOCATE_PAGED_POOL_ABOVE_APC_LEVEL, 2, 1, 64],
    );
}

#[test]
fn non_paged_pool_is_still_allocated_and_freed_at_dispatch_level() {
    let mut m = machine();
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    let n = nonpaged(&mut m, 64, T);
    m.ex_free_pool_with_tag(n, T).unwrap();
    assert!(m.crashed().is_none());
}

#[test]
fn freeing_paged_pool_above_apc_level_is_verifier_0x11() {
    let mut m = machine();
    let p = paged(&mut m, 64);
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    let r = m.ex_free_pool_with_tag(p, T);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [verifier::FREE_PAGED_POOL_ABOVE_APC_LEVEL, 2, 1, p.raw()],
    );
}

#[test]
fn driver_code_touching_paged_pool_under_a_spin_lock_is_recorded() {
    let mut m = without_force_irql_checking();
    let p = paged(&mut m, 64);
    let n = nonpaged(&mut m, 64, T);
    let lock = Va::new(0xFFFF_F800_0030_0000);
    let mut k = m.kernel();
    k.kernel_write(p, &[1; 8]).unwrap();
    let old = k.ke_acquire_spin_lock(lock).unwrap();
    k.kernel_read(n, 8).unwrap();
    k.kernel_read(p, 8).unwrap();
    k.ke_release_spin_lock(lock, old).unwrap();
    assert_eq!(
        events(&m, EventKind::PagedPoolAccessAtRaisedIrql),
        1,
        "only the paged read under the lock"
    );
    let e = m
        .events()
        .iter()
        .find(|e| e.kind == EventKind::PagedPoolAccessAtRaisedIrql)
        .unwrap();
    assert!(e.detail.contains("DISPATCH_LEVEL") && e.detail.contains("0xD1"));
    assert_eq!(
        mdlsim::oracle::classify_event(e.kind),
        mdlsim::oracle::BugClass::IrqlViolation
    );
}

#[test]
fn paged_pool_is_locked_by_probe_and_lock_in_kernel_mode_and_unlocked_cleanly() {
    let mut m = machine();
    let p = paged(&mut m, 2 * PAGE_SIZE);
    let mdl = new_mdl(&mut m, p, 2 * PAGE_SIZE as u32);
    m.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, LockOperation::IoWriteAccess)
        .unwrap();
    let f = m.mdl(mdl).unwrap().flags;
    assert!(f.contains(MdlFlags::PAGES_LOCKED));
    assert!(!f.contains(MdlFlags::SOURCE_IS_NONPAGED_POOL));
    for pfn in frames(&m, mdl) {
        assert!(
            counts(&m, pfn).1 >= 1,
            "each frame is referenced by the lock"
        );
    }
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(p, T).unwrap();
    assert_audit_clean(&m);
}

#[test]
fn build_mdl_for_non_paged_pool_over_paged_pool_is_verifier_0x7f_on_windows_10() {
    let mut m = machine();
    let p = paged(&mut m, PAGE_SIZE);
    let mdl = new_mdl(&mut m, p, PAGE_SIZE as u32);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_build_mdl_for_non_paged_pool(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::BUILD_MDL_FOR_NONPAGED_POOL_ON_PAGED_POOL,
            0,
            mdl.address(),
            flags,
        ],
    );
}

#[test]
fn build_mdl_for_non_paged_pool_over_paged_pool_is_built_and_recorded_on_windows_7() {
    let mut m = Machine::new(Config::default().windows(WindowsVersion::Windows7)).unwrap();
    let p = paged(&mut m, PAGE_SIZE);
    let mdl = new_mdl(&mut m, p, PAGE_SIZE as u32);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    assert!(
        m.mdl(mdl)
            .unwrap()
            .flags
            .contains(MdlFlags::SOURCE_IS_NONPAGED_POOL)
    );
    assert_eq!(events(&m, EventKind::NonPagedBuildOverOtherMemory), 1);
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(p, T).unwrap();
}

fn pages_for_mdl(m: &mut Machine, bytes: u64) -> mdlsim::MdlId {
    m.mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, bytes, CacheType::Cached, 0)
        .unwrap()
        .unwrap()
}

#[test]
fn ex_free_pool_of_an_mdl_frees_its_storage_and_a_second_free_is_bad_pool_caller_7() {
    let mut m = machine();
    let mdl = pages_for_mdl(&mut m, 4 * PAGE_SIZE);
    m.mm_free_pages_from_mdl(mdl).unwrap();
    m.ex_free_pool(mdl.va()).unwrap();
    assert!(m.mdl(mdl).is_err(), "the handle is stale");
    assert_audit_clean(&m);
    let r = m.ex_free_pool_with_tag(mdl.va(), 0);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::BAD_POOL_CALLER,
        [0x07, 0, 0, mdl.va().raw()],
    );
}

#[test]
fn ex_free_pool_of_a_mapped_mdl_leaves_the_mapping_behind() {
    let mut m = machine();
    let mdl = pages_for_mdl(&mut m, 2 * PAGE_SIZE);
    let sys = system_va(&mut m, mdl);
    let ptes = m.system_ptes_in_use();
    m.ex_free_pool_with_tag(mdl.va(), 0).unwrap();
    assert!(m.crashed().is_none());
    assert_eq!(m.system_ptes_in_use(), ptes, "nothing unmapped it");
    assert!(m.peek(mdlsim::space::SpaceId::System, sys, 1).is_some());
}

#[test]
fn ex_free_pool_of_a_locked_mdl_leaves_its_pages_locked() {
    let (mut m, app) = with_app();
    let va = user_buf(&mut m, app, PAGE_SIZE);
    let mdl = lock_user(
        &mut m,
        app,
        va,
        PAGE_SIZE as u32,
        LockOperation::IoReadAccess,
    );
    m.ex_free_pool(mdl.va()).unwrap();
    assert_eq!(events(&m, EventKind::MdlFreedWhileLocked), 1);
}

#[test]
fn a_wrong_non_zero_tag_is_still_bad_pool_caller_0x0a() {
    let mut m = machine();
    let p = paged(&mut m, 64);
    m.ex_free_pool_with_tag(p, 0).unwrap();
    let q = paged(&mut m, 64);
    let r = m.ex_free_pool_with_tag(q, tag(b"Oops"));
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::BAD_POOL_CALLER,
        [0x0A, q.raw(), T as u64, tag(b"Oops") as u64],
    );
}

#[test]
fn locking_paged_pool_under_a_spin_lock_is_recorded_like_touching_it() {
    let mut m = without_force_irql_checking();
    let p = paged(&mut m, PAGE_SIZE);
    let mdl = new_mdl(&mut m, p, PAGE_SIZE as u32);
    let old = m
        .ke_acquire_spin_lock(Va::new(0xFFFF_F800_0030_0000))
        .unwrap();
    m.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, LockOperation::IoReadAccess)
        .unwrap();
    assert_eq!(events(&m, EventKind::PagedPoolAccessAtRaisedIrql), 1);
    m.mm_unlock_pages(mdl).unwrap();
    m.ke_release_spin_lock(Va::new(0xFFFF_F800_0030_0000), old)
        .unwrap();
    // Non-paged pool is not pageable: locking it at DISPATCH_LEVEL records nothing.
    let n = nonpaged(&mut m, PAGE_SIZE, T);
    let mdl2 = new_mdl(&mut m, n, PAGE_SIZE as u32);
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    m.mm_probe_and_lock_pages(mdl2, AccessMode::KernelMode, LockOperation::IoReadAccess)
        .unwrap();
    assert_eq!(events(&m, EventKind::PagedPoolAccessAtRaisedIrql), 1);
}
