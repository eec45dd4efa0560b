//! Probing an MDL that must not be probed: already locked, mapped, non-paged or partial,
//! NULL or freed, cleared by hand, or over a dangling mapping — each the bug check Windows
//! raises, with the books left balanced (semantics §3.4; invariant 4).

mod common;

use common::*;
use mdlsim::bugcheck::{BugCheckCode, verifier};
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use mdlsim::vm::MEM_RELEASE;

use AccessMode::{KernelMode, UserMode};
use LockOperation::IoReadAccess;

/// Invariant 4 (`MmProbeAndLockProcessPages` flavour): bad flags are 0xC4/0xB1.
#[test]
fn probe_and_lock_process_pages_of_locked_mdl_is_verifier_b1() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_probe_and_lock_process_pages(mdl, app, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::PROBE_AND_LOCK_PROCESS_PAGES_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::PAGES_LOCKED.bits() as u64,
        ],
    );
}

/// Invariant 4: probing an MDL that is already locked (double probe) is 0xC4/0xB0 with
/// P2 the MDL, P3 its flags, P4 the offending flags; counts are left as they were.
#[test]
fn double_probe_is_verifier_b0() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let f = frames(&m, mdl)[0];
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::PROBE_AND_LOCK_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::PAGES_LOCKED.bits() as u64,
        ],
    );
    assert_eq!(counts(&m, f), (2, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 1);
    assert_audit_clean(&m);
}

/// Invariant 4: probing a mapped, non-paged-pool or partial MDL is 0xC4/0xB0 naming exactly
/// the offending flags.
#[test]
fn probe_of_nonpaged_partial_or_mapped_mdl_is_verifier_b0() {
    let cases: [(&str, MdlFlags); 3] = [
        ("nonpaged", MdlFlags::SOURCE_IS_NONPAGED_POOL),
        ("partial", MdlFlags::PARTIAL),
        (
            "mapped",
            MdlFlags::PAGES_LOCKED.union(MdlFlags::MAPPED_TO_SYSTEM_VA),
        ),
    ];
    for (what, bad) in cases {
        let (mut m, app) = with_app();
        let buf = user_buf(&mut m, app, 0x1000);
        let pool = nonpaged(&mut m, 0x1000, 1);
        let mdl = match what {
            "nonpaged" => {
                let mdl = new_mdl(&mut m, pool, 0x1000);
                m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
                mdl
            }
            "partial" => {
                let src = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
                let p = new_mdl(&mut m, buf, 0x1000);
                m.io_build_partial_mdl(src, p, buf, 0x100).unwrap();
                p
            }
            _ => {
                let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
                m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
                    .unwrap()
                    .unwrap();
                mdl
            }
        };
        let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
        let r = m.mm_probe_and_lock_pages(mdl, KernelMode, IoReadAccess);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::PROBE_AND_LOCK_BAD_MDL_FLAGS,
                mdl.address(),
                flags,
                bad.bits() as u64,
            ],
        );
        assert_audit_clean(&m);
    }
}

/// NULL MDL (`None`) to every probe/unlock entry point: the NULL dereference 0x1E
/// (STATUS_ACCESS_VIOLATION reading MdlFlags at 0xA), not a panic.
#[test]
fn null_mdl_to_probe_and_unlock_is_a_null_dereference() {
    for which in 0..3 {
        let (mut m, app) = with_app();
        let r = match which {
            0 => m.mm_probe_and_lock_pages(None, UserMode, IoReadAccess),
            1 => m.mm_probe_and_lock_process_pages(None, app, UserMode, IoReadAccess),
            _ => m.mm_unlock_pages(None),
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            null_mdl_params(),
        );
    }
}

/// A freed MDL handle to probe/unlock: special pool catches the use after free (0x50, P1 the MDL).
#[test]
fn freed_mdl_to_probe_and_unlock_is_page_fault() {
    for which in 0..2 {
        let (mut m, app) = with_app();
        let buf = user_buf(&mut m, app, 0x1000);
        m.switch_to(Some(app)).unwrap();
        let mdl = new_mdl(&mut m, buf, 0x10);
        m.io_free_mdl(mdl).unwrap();
        // The slot is reused by a new MDL: the old handle still does not reach it.
        let _new = new_mdl(&mut m, buf, 0x10);
        let r = if which == 0 {
            m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess)
        } else {
            m.mm_unlock_pages(mdl)
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
            [mdl.address(), 0, 0, 0],
        );
    }
}

/// Regression (found by the randomized audit run): probing a user address whose PTE is a
/// dangling MDL mapping (the mapped frame was unlocked and freed by its owner) is the lock
/// ASSERT (the frame is not in use) — and it leaves the books balanced: the process is not
/// charged and the MDL is not marked locked (previously NumberOfLockedPages was charged first).
#[test]
fn probe_through_a_dangling_user_mapping_asserts_without_charging() {
    let (mut m, app) = with_app();
    let server = m.create_process("server").unwrap();
    let buf = user_buf(&mut m, app, 0x2000);
    let src = lock_user(&mut m, app, buf, 0x2000, IoReadAccess);
    m.switch_to(Some(server)).unwrap();
    let uva = m
        .mm_map_locked_pages_specify_cache(
            src,
            UserMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL,
        )
        .unwrap()
        .unwrap();
    m.mm_unlock_pages(src).unwrap();
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    assert!(
        m.hazards()
            .iter()
            .any(|h| h.kind == mdlsim::audit::HazardKind::DanglingPte)
    );
    let mdl = new_mdl(&mut m, uva, 0x2000);
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert_eq!(m.process(server).unwrap().number_of_locked_pages, 0);
    assert!(!m.mdl(mdl).unwrap().flags.contains(MdlFlags::PAGES_LOCKED));
    assert_audit_clean(&m);
}

/// Regression: a driver that clears MDL_PAGES_LOCKED by hand and probes the MDL again leaks the
/// first lock (its references and charge stay, recorded) instead of losing it from the books.
#[test]
fn reprobe_after_clearing_pages_locked_by_hand_leaks_the_first_lock() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let f = frames(&m, mdl)[0];
    m.mdl_set_flags(mdl, MdlFlags::ALLOCATED_FIXED_SIZE)
        .unwrap();
    m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess)
        .unwrap();
    assert_eq!(counts(&m, f), (3, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    assert_eq!(m.leaked_locks().len(), 1);
    assert_audit_clean(&m);
    m.mm_unlock_pages(mdl).unwrap();
    assert_eq!(counts(&m, f), (2, 1));
    assert_audit_clean(&m);
}
