//! `MmProbeAndLockPages` on a range it cannot lock: the user-mode range check, faults on a
//! later page, address wrap and byte counts at the edges raise or bug-check cleanly and leave
//! nothing locked (semantics §3.4; invariants 1, 3, 5, 6).

mod common;

use common::*;
use mdlsim::addr::{LIST_HEAD, MM_HIGHEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, PAGE_SIZE, Va};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::mdl::{AccessMode, LockOperation, MdlFlags};
use mdlsim::space::Protection;
use mdlsim::vm::MEM_RESERVE;
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Machine, NtStatus};

use AccessMode::{KernelMode, UserMode};
use LockOperation::{IoReadAccess, IoWriteAccess};

/// Invariant 5: a UserMode probe of a kernel address raises STATUS_ACCESS_VIOLATION and
/// writes LIST_HEAD into PFN[0]; nothing else changes.
#[test]
fn user_mode_probe_of_kernel_address_raises_access_violation() {
    let (mut m, app) = with_app();
    m.switch_to(Some(app)).unwrap();
    let pool = nonpaged(&mut m, 0x1000, 7);
    let mdl = new_mdl(&mut m, pool, 0x1000);
    let pf = m.translate(mdlsim::space::SpaceId::System, pool).unwrap();
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    let d = m.mdl(mdl).unwrap();
    assert_eq!(d.pfn_array()[0], LIST_HEAD);
    assert_eq!(d.flags, MdlFlags::ALLOCATED_FIXED_SIZE);
    assert_eq!(counts(&m, pf), (1, 1));
    assert!(m.crashed().is_none());
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(pool, 7).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 5: the range check is on the *end*: a range starting below
/// `MM_HIGHEST_USER_ADDRESS` and ending above `MM_USER_PROBE_ADDRESS` raises; one ending exactly
/// at `MM_USER_PROBE_ADDRESS` passes the range check (and then faults on the guard page).
#[test]
fn user_probe_range_check_uses_the_end_address() {
    let (mut m, app) = with_app();
    m.switch_to(Some(app)).unwrap();
    let start = Va::new(MM_HIGHEST_USER_ADDRESS.raw() - 0xF);
    let mdl = new_mdl(&mut m, start, 0x20);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    let exact = Va::new(MM_USER_PROBE_ADDRESS.raw() - 0x10);
    m.mm_initialize_mdl(mdl, exact, 0x10).unwrap();
    // Passes the range check; the probe then touches the no-access guard: still a raise.
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    m.io_free_mdl(mdl).unwrap();
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Invariant 5 at the extreme: u64::MAX as a user-mode probe address raises (wrap), never panics.
#[test]
fn user_probe_of_u64_max_raises() {
    let (mut m, app) = with_app();
    m.switch_to(Some(app)).unwrap();
    for len in [1u32, 2, 0x1000, 0x10000] {
        let mdl = new_mdl(&mut m, Va::new(u64::MAX), len);
        expect_raise(
            m.mm_probe_and_lock_pages(mdl, UserMode, IoWriteAccess),
            NtStatus::ACCESS_VIOLATION,
        );
        assert_eq!(m.mdl(mdl).unwrap().pfn_array()[0], LIST_HEAD);
        m.io_free_mdl(mdl).unwrap();
    }
    // Windows 7 and later describe 2 GiB there (the span wraps past the top): the probe
    // raises at the first page.
    let mdl = new_mdl(&mut m, Va::new(u64::MAX), 0x7FFF_FFFF);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoWriteAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    // Invariant 2 on Server 2003: a descriptor that would not fit 0xFFFF bytes is a NULL
    // return.
    let mut old = Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap();
    assert_eq!(
        old.io_allocate_mdl(Va::new(u64::MAX), 0x7FFF_FFFF, false, false, None)
            .unwrap(),
        None
    );
}

/// §3.4 (KernelMode has no range check): a kernel-mode probe at u64::MAX touches that
/// invalid system address, which is `PAGE_FAULT_IN_NONPAGED_AREA (0x50)` (P1 the address,
/// P2 0 = read) — as on Windows, where kernel-mode probing does not catch invalid system VAs.
#[test]
fn kernel_probe_of_u64_max_is_page_fault_in_nonpaged_area() {
    let mut m = machine();
    let mdl = new_mdl(&mut m, Va::new(u64::MAX), 2);
    let r = m.mm_probe_and_lock_pages(mdl, KernelMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [u64::MAX, 0, 0, 0],
    );
}

/// Invariant 6: a probe that faults on a later page (reserved, not committed) raises
/// STATUS_ACCESS_VIOLATION; the MDL is left unlocked with `Process = NULL`, the slots probed
/// hold LIST_HEAD, no reference or lock count changed, and the MDL may simply be freed.
#[test]
fn probe_failing_on_a_later_page_leaves_nothing_locked() {
    let (mut m, app) = with_app();
    let res = m
        .virtual_alloc(app, None, 0x3000, MEM_RESERVE, Protection::ReadWrite)
        .unwrap();
    m.virtual_alloc(
        app,
        Some(res),
        0x1000,
        mdlsim::vm::MEM_COMMIT,
        Protection::ReadWrite,
    )
    .unwrap();
    m.user_write(app, res, b"x").unwrap();
    let f0 = m
        .translate(mdlsim::space::SpaceId::Process(app), res)
        .unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, at(res, 0x800), 0x1000);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    let d = m.mdl(mdl).unwrap();
    assert!(!d.flags.contains(MdlFlags::PAGES_LOCKED));
    assert_eq!(d.process, None);
    assert_eq!(&d.pfn_array()[..2], &[LIST_HEAD, LIST_HEAD]);
    assert_eq!(counts(&m, f0), (1, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    m.io_free_mdl(mdl).unwrap();
    assert!(m.leaked_locks().is_empty());
    assert_audit_clean(&m);
}

/// Invariant 1: `ByteCount == 0` reaching MmProbeAndLockPages is the checked-build ASSERT
/// (0x1E, STATUS_BREAKPOINT).
#[test]
fn probe_with_zero_byte_count_is_an_assert() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x10);
    m.mm_initialize_mdl(mdl, buf, 0).unwrap();
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert_audit_clean(&m);
}

/// Invariant 3: a probe whose span exceeds the MDL's storage (re-initialised bigger) overruns
/// the PFN array: the special-pool guard page, 0x50 at the first byte past the storage (write).
#[test]
fn probe_past_the_pfn_array_capacity_is_page_fault() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 24 * PAGE_SIZE);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x1000);
    assert_eq!(m.mdl_capacity(mdl).unwrap(), 23);
    m.mm_initialize_mdl(mdl, buf, 24 * PAGE_SIZE as u32)
        .unwrap();
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [mdl.address() + 48 + 23 * 8, 2, 0, 0],
    );
    assert_audit_clean(&m);
}

/// Invariants 1-3 with ByteCount near 4 GiB: an MDL re-initialised for 0xFFFFFFFF bytes spans
/// 0x100001 pages; probing it (either mode) overruns its 23-entry storage (0x50) before
/// touching any page — never a panic or a huge host allocation.
#[test]
fn byte_count_near_4_gib_is_a_clean_fault() {
    for mode in [UserMode, KernelMode] {
        let (mut m, app) = with_app();
        let buf = user_buf(&mut m, app, 0x1000);
        m.switch_to(Some(app)).unwrap();
        let mdl = new_mdl(&mut m, buf, 1);
        m.mm_initialize_mdl(mdl, at(buf, 0xFFF), u32::MAX).unwrap();
        assert_eq!(m.mdl(mdl).unwrap().page_count(), 0x10_0001);
        let r = m.mm_probe_and_lock_pages(mdl, mode, IoWriteAccess);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
            [mdl.address() + 48 + 23 * 8, 2, 0, 0],
        );
        assert_audit_clean(&m);
    }
}
