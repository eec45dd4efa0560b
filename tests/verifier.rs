//! Driver Verifier on and off, and its options (issue 14; `mdlsim::verifier`): each
//! check the model makes only under Verifier or a tracking switch, with the switch on
//! and off, and what Windows does without it where Microsoft documents it.

mod common;

use common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::{BugCheckCode, verifier};
use mdlsim::events::EventKind;
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO, drivers::PatternDriver};
use mdlsim::irql::Kirql;
use mdlsim::mdl::{CacheType, LockOperation, priority};
use mdlsim::oracle::{BugClass, classify_fault};
use mdlsim::pool::{PoolType, tag};
use mdlsim::verifier::Verifier;
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Fault, Machine};
use std::sync::Arc;

const T: u32 = tag(b"Test");

fn with(v: Verifier) -> Machine {
    Machine::new(Config::default().verifier(v)).unwrap()
}

/// Verifier on without Force IRQL Checking.
fn no_force_irql() -> Verifier {
    Verifier {
        force_irql_checking: false,
        ..Verifier::STANDARD
    }
}

/// A machine configured with `v` and one process.
fn app_with(v: Verifier) -> (Machine, mdlsim::space::Pid) {
    let mut m = with(v);
    let app = m.create_process("app").unwrap();
    (m, app)
}

fn class_of<T: std::fmt::Debug>(r: mdlsim::Result<T>) -> BugClass {
    classify_fault(&r.expect_err("a bug check"))
}

#[test]
fn a_probe_of_paged_pool_at_dispatch_level_is_the_kernels_0xa_after_its_mdl_checks() {
    let mut m = machine();
    let p = m
        .ex_allocate_pool_with_tag(PoolType::Paged, PAGE_SIZE, T)
        .unwrap()
        .unwrap();
    let mdl = new_mdl(&mut m, p, 0x100);
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    let r = m.mm_probe_and_lock_pages(
        mdl,
        mdlsim::mdl::AccessMode::KernelMode,
        LockOperation::IoReadAccess,
    );
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::IRQL_NOT_LESS_OR_EQUAL,
        [p.raw(), 2, 0, 0],
    );
}

#[test]
fn probe_for_read_of_a_kernel_address_at_dispatch_level_raises_before_any_touch() {
    let mut m = machine();
    let p = m
        .ex_allocate_pool_with_tag(PoolType::Paged, 64, T)
        .unwrap()
        .unwrap();
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    expect_raise(
        m.probe_for_read(p, 8, 1),
        mdlsim::NtStatus::ACCESS_VIOLATION,
    );
    assert!(m.crashed().is_none());
}

#[test]
fn the_default_is_verifier_on_with_its_standard_options_and_no_pte_tracking() {
    let c = Config::default();
    assert_eq!(c.verifier, Verifier::STANDARD);
    assert!(c.verifier.enabled && c.verifier.force_irql_checking());
    assert!(c.verifier.pool_tracking() && c.verifier.io_verification());
    assert!(!c.track_ptes && !c.track_locked_pages);
    assert_eq!(Verifier::OFF.flags(), 0);
    assert_eq!(
        Verifier::from_flags(Verifier::STANDARD.flags()),
        Verifier::STANDARD
    );
    assert!(
        !Verifier {
            enabled: false,
            ..Verifier::STANDARD
        }
        .pool_tracking()
    );
}

#[test]
fn pool_at_a_bad_irql_is_verifier_0xc4_with_it_and_bad_pool_caller_without() {
    for (v, alloc, free) in [
        (
            Verifier::STANDARD,
            (
                BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
                verifier::ALLOCATE_PAGED_POOL_ABOVE_APC_LEVEL,
            ),
            (
                BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
                verifier::FREE_PAGED_POOL_ABOVE_APC_LEVEL,
            ),
        ),
        (
            Verifier::OFF,
            (BugCheckCode::BAD_POOL_CALLER, 0x08),
            (BugCheckCode::BAD_POOL_CALLER, 0x09),
        ),
    ] {
        let mut m = with(v);
        m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
        let r = m.ex_allocate_pool_with_tag(PoolType::Paged, 64, T);
        expect_bug_check(&mut m, r, alloc.0, [alloc.1, 2, PoolType::Paged as u64, 64]);

        let mut m = with(v);
        let p = m
            .ex_allocate_pool_with_tag(PoolType::Paged, 64, T)
            .unwrap()
            .unwrap();
        m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
        let r = m.ex_free_pool_with_tag(p, T);
        let f = r.as_ref().err().cloned();
        expect_bug_check(
            &mut m,
            r,
            free.0,
            [free.1, 2, PoolType::Paged as u64, p.raw()],
        );
        assert_eq!(classify_fault(&f.unwrap()), BugClass::IrqlViolation);
    }
}

#[test]
fn non_paged_pool_at_dispatch_level_is_fine_without_verifier_too() {
    let mut m = with(Verifier::OFF);
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    let n = nonpaged(&mut m, 64, T);
    m.ex_free_pool_with_tag(n, T).unwrap();
    m.ke_lower_irql(Kirql::PASSIVE_LEVEL).unwrap();
    assert_audit_clean(&m);
}

#[test]
fn force_irql_checking_makes_a_paged_pool_touch_at_dispatch_level_bug_check_0xd1() {
    let lock = Va::new(0xFFFF_F800_0030_0000);
    let mut m = machine();
    let p = m
        .ex_allocate_pool_with_tag(PoolType::Paged, 64, T)
        .unwrap()
        .unwrap();
    let mut k = m.kernel();
    k.kernel_write(p, &[1; 8]).unwrap();
    k.ke_acquire_spin_lock(lock).unwrap();
    let r = k.kernel_write(at(p, 8), &[2; 4]);
    let f = r.as_ref().err().cloned().expect("0xD1");
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_IRQL_NOT_LESS_OR_EQUAL,
        [at(p, 8).raw(), 2, 1, 0],
    );
    assert_eq!(classify_fault(&f), BugClass::IrqlViolation);

    // Without the option (or without Verifier) the page is resident: an event.
    for v in [no_force_irql(), Verifier::OFF] {
        let mut m = with(v);
        let p = m
            .ex_allocate_pool_with_tag(PoolType::Paged, 64, T)
            .unwrap()
            .unwrap();
        let mut k = m.kernel();
        let old = k.ke_acquire_spin_lock(lock).unwrap();
        k.kernel_read(p, 8).unwrap();
        k.ke_release_spin_lock(lock, old).unwrap();
        let n = m
            .events()
            .iter()
            .filter(|e| e.kind == EventKind::PagedPoolAccessAtRaisedIrql)
            .count();
        assert_eq!(n, 1, "{v:?}");
    }
}

#[test]
fn force_irql_checking_does_not_turn_user_memory_at_dispatch_level_into_a_crash() {
    // Trimming covers pageable pool, code and data; a process's pages stay an event.
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, PAGE_SIZE);
    let lock = Va::new(0xFFFF_F800_0030_0000);
    let old = m.ke_acquire_spin_lock(lock).unwrap();
    m.probe_for_read(buf, 8, 1).unwrap();
    m.ke_release_spin_lock(lock, old).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::UserAccessAtRaisedIrql)
    );
    assert!(m.crashed().is_none());
}

#[test]
fn mapping_pages_that_are_not_locked_is_0xc4_with_verifier_and_0x1a_0x1233_without() {
    // MDL B names the resident pages of a buffer A locked and then unlocked: a real
    // frame no one holds.
    for v in [Verifier::STANDARD, Verifier::OFF] {
        let (mut m, app) = app_with(v);
        let buf = user_buf(&mut m, app, PAGE_SIZE);
        m.user_write(app, buf, &[7; 16]).unwrap();
        let a = lock_user(&mut m, app, buf, 0x100, LockOperation::IoReadAccess);
        let b = new_mdl(&mut m, buf, 0x100);
        m.mdl_copy_pfns(a, 0, b, 0, 1).unwrap();
        let frame = frames(&m, a)[0];
        m.mm_unlock_pages(a).unwrap();
        let r = map_k(&mut m, b, CacheType::Cached, true, priority::NORMAL);
        let bc = match r.as_ref().err() {
            Some(Fault::BugCheck(bc)) => bc.clone(),
            other => panic!("{v:?}: {other:?}"),
        };
        if v.enabled {
            assert_eq!(
                (bc.code, bc.params[0]),
                (
                    BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
                    verifier::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS
                )
            );
        } else {
            assert_eq!(bc.code, BugCheckCode::MEMORY_MANAGEMENT);
            assert_eq!(bc.params, [0x1233, frame.0, 0, 0], "P2 the page");
        }
        assert_eq!(class_of(r), BugClass::MapUnlocked, "{v:?}");
    }
}

#[test]
fn without_verifier_unlocking_an_mdl_that_names_locked_frames_keeps_the_books() {
    // B (never locked) names A's locked frame: the unlock drops A's reference, as the
    // kernel does with no check; A's own unlock then finds the page below its share.
    let (mut m, app) = app_with(Verifier::OFF);
    let buf = user_buf(&mut m, app, PAGE_SIZE);
    let a = lock_user(&mut m, app, buf, 0x100, LockOperation::IoReadAccess);
    let b = new_mdl(&mut m, buf, 0x100);
    m.mdl_copy_pfns(a, 0, b, 0, 1).unwrap();
    m.mm_unlock_pages(b).unwrap();
    assert!(m.crashed().is_none());
    assert!(m.audit().is_empty(), "{:?}", m.audit());
    let r = m.mm_unlock_pages(a);
    let f = r.as_ref().err().cloned();
    match f {
        Some(Fault::BugCheck(bc)) => {
            assert_eq!((bc.code, bc.params[0]), (BugCheckCode::PFN_LIST_CORRUPT, 7))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unlocking_an_mdl_twice_is_0xc4_0x7c_with_verifier_and_pfn_list_corrupt_without() {
    for v in [Verifier::STANDARD, Verifier::OFF] {
        let (mut m, app) = app_with(v);
        let buf = user_buf(&mut m, app, PAGE_SIZE);
        let mdl = lock_user(&mut m, app, buf, 0x100, LockOperation::IoReadAccess);
        m.mm_unlock_pages(mdl).unwrap();
        let r = m.mm_unlock_pages(mdl);
        let b = match r.as_ref().err() {
            Some(Fault::BugCheck(b)) => b.clone(),
            other => panic!("{v:?}: {other:?}"),
        };
        let expected = if v.enabled {
            (
                BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
                verifier::UNLOCK_PAGES_NEVER_LOCKED,
            )
        } else {
            (BugCheckCode::PFN_LIST_CORRUPT, 0x07)
        };
        assert_eq!((b.code, b.params[0]), expected, "{v:?}");
        assert_eq!(class_of(r), BugClass::UnlockMisuse);
    }
}

#[test]
fn a_process_deleted_with_pages_locked_is_0xcb_under_pool_tracking_and_0x76_without() {
    let cases = [
        (
            Verifier::STANDARD,
            WindowsVersion::Windows10,
            false,
            BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
        ),
        (
            Verifier::STANDARD,
            WindowsVersion::Vista,
            false,
            BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
        ),
        // Pool Tracking tracks locked pages from Vista on.
        (
            Verifier::STANDARD,
            WindowsVersion::Server2003,
            false,
            BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        ),
        (
            Verifier {
                pool_tracking: false,
                ..Verifier::STANDARD
            },
            WindowsVersion::Windows10,
            false,
            BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        ),
        (
            Verifier::OFF,
            WindowsVersion::Windows10,
            false,
            BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        ),
        // TrackLockedPages alone does it without Verifier.
        (
            Verifier::OFF,
            WindowsVersion::Windows10,
            true,
            BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
        ),
    ];
    for (v, windows, track, code) in cases {
        let config = Config::default()
            .verifier(v)
            .windows(windows)
            .track_locked_pages(track);
        let mut m = Machine::new(config).unwrap();
        let app = m.create_process("app").unwrap();
        let buf = user_buf(&mut m, app, PAGE_SIZE);
        let mdl = lock_user(&mut m, app, buf, 0x100, LockOperation::IoReadAccess);
        let r = m.terminate_process(app);
        let b = match r.as_ref().err() {
            Some(Fault::BugCheck(b)) => b.clone(),
            other => panic!("{v:?} {windows:?}: {other:?}"),
        };
        assert_eq!(b.code, code, "{v:?} {windows:?} track {track}");
        if code == BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS {
            assert_eq!(b.params[2], mdl.address(), "0xCB names the MDL");
        }
        assert_eq!(class_of(r), BugClass::LockLeak);
    }
}

#[test]
fn running_out_of_system_ptes_is_0x3f_or_with_track_ptes_0xd8() {
    for track in [false, true] {
        let config = Config::default().system_ptes(1).track_ptes(track);
        let mut m = Machine::new(config).unwrap();
        let app = m.create_process("app").unwrap();
        let buf = user_buf(&mut m, app, 2 * PAGE_SIZE);
        let mdl = lock_user(&mut m, app, buf, 0x2000, LockOperation::IoReadAccess);
        let r = map_k(&mut m, mdl, CacheType::Cached, true, priority::NORMAL);
        let b = match r.as_ref().err() {
            Some(Fault::BugCheck(b)) => b.clone(),
            other => panic!("track {track}: {other:?}"),
        };
        if track {
            assert_eq!(b.code, BugCheckCode::DRIVER_USED_EXCESSIVE_PTES);
            assert_eq!(b.params, [0, 0, 1, 1], "none in use, 1 free of 1");
        } else {
            assert_eq!(b.code, BugCheckCode::NO_MORE_SYSTEM_PTES);
        }
        assert_eq!(class_of(r), BugClass::ResourceFailureUnhandled);
    }
}

#[test]
fn a_device_with_both_buffering_flags_is_0xc9_under_io_verification_and_buffered_without() {
    let flags = DO_BUFFERED_IO | DO_DIRECT_IO;
    let mut m = machine();
    let drv = m.io_register_driver("p", Arc::new(PatternDriver)).unwrap();
    let r = m.io_create_device(drv, "\\Device\\P", flags);
    expect_bug_check_p1(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_IOMANAGER_VIOLATION,
        0x245,
    );

    for v in [
        Verifier {
            io_verification: false,
            ..Verifier::STANDARD
        },
        Verifier::OFF,
    ] {
        let mut m = with(v);
        let drv = m.io_register_driver("p", Arc::new(PatternDriver)).unwrap();
        let dev = m.io_create_device(drv, "\\Device\\P", flags).unwrap();
        let app = m.create_process("app").unwrap();
        let tid = m.process(app).unwrap().threads[0];
        let buf = user_buf(&mut m, app, PAGE_SIZE);
        let r = m.nt_read_file(tid, dev, None, buf, 0x10, 0).unwrap();
        assert_eq!(r.status, mdlsim::NtStatus::SUCCESS, "{v:?}");
        let rec = &m.device(dev).unwrap().extension.records[0];
        assert!(
            rec.system_buffer.is_some() && rec.mdl.is_none(),
            "buffered: {rec:?}"
        );
        assert_audit_clean(&m);
    }
}
