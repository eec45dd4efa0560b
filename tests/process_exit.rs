//! Process termination: address-space teardown, locked pages at exit
//! (semantics §2, §6, §9; invariants 9, 11, 12).

mod common;

use common::*;
use mdlsim::bugcheck::{BugCheckCode, process_has_locked_pages};
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, LockOperation};
use mdlsim::pfn::PageState;
use mdlsim::process::ProcessState;
use mdlsim::space::SpaceId;
use mdlsim::{Config, Machine};

/// A clean exit frees every private frame, removes every VAD, kills the threads and leaves
/// the process Deleted; a thread of it that was running or attached is gone from the context.
#[test]
fn clean_exit_frees_everything() {
    let (mut m, app) = with_app();
    let t2 = m.create_thread(app).unwrap();
    let buf = user_buf(&mut m, app, 0x5000);
    m.user_write(app, buf, &[3; 0x5000]).unwrap();
    m.switch_to(Some(app)).unwrap();
    m.attach(app).unwrap();
    assert_eq!(m.frames_in_use(), 5);
    m.terminate_process(app).unwrap();
    let p = m.process(app).unwrap();
    assert_eq!(p.state, ProcessState::Deleted);
    assert!(!p.is_alive());
    assert_eq!(p.space().vads().count(), 0);
    assert_eq!(p.space().ptes().count(), 0);
    assert!(!m.thread(t2).unwrap().alive);
    assert_eq!(m.current_process(), None);
    assert_eq!(m.frames_in_use(), 0);
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Invariant 11 / §6 (Windows, not ReactOS): deleting a process whose NumberOfLockedPages is
/// not zero is PROCESS_HAS_LOCKED_PAGES (0x76): P1 0, P2 the process, P3 the count, P4 0.
/// The address space was torn down first: the locked frames sit in Transition.
#[test]
fn exit_with_locked_pages_is_0x76() {
    let (mut m, app) = untracked_app();
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(
        &mut m,
        app,
        at(buf, 0x10),
        0x2000,
        LockOperation::IoWriteAccess,
    );
    let fs = frames(&m, mdl);
    let r = m.terminate_process(app);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        [
            process_has_locked_pages::PROCESS_EXIT_WITH_LOCKED_PAGES,
            app.eprocess(),
            3,
            0,
        ],
    );
    for f in fs {
        assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Transition);
        assert_eq!(counts(&m, f), (1, 0));
    }
    assert_audit_clean(&m);
}

/// §6: with TrackLockedPages the same exit is DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB)
/// naming the MDL (P3) and its page count (P4), on a machine without Verifier (whose
/// Pool Tracking would track locked pages too).
#[test]
fn exit_with_locked_pages_and_tracking_is_0xcb_naming_the_mdl() {
    let config = Config::default().track_locked_pages(true);
    let mut m = Machine::new(config.verifier(mdlsim::verifier::Verifier::OFF)).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(&mut m, app, buf, 0x3000, LockOperation::IoReadAccess);
    let r = m.terminate_process(app);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
        [mdl.address(), 0, mdl.address(), 3],
    );
}

/// §3.3 + §6: a lock leaked by IoFreeMdl of a locked MDL surfaces at exit: 0x76 with the
/// count, or 0xCB naming the freed MDL with tracking.
#[test]
fn lock_leaked_by_io_free_mdl_surfaces_at_exit() {
    for track in [false, true] {
        let config = Config::default().track_locked_pages(track);
        let mut m = Machine::new(config.verifier(no_pool_tracking())).unwrap();
        let app = m.create_process("app").unwrap();
        let buf = user_buf(&mut m, app, 0x2000);
        let mdl = lock_user(&mut m, app, buf, 0x2000, LockOperation::IoReadAccess);
        m.io_free_mdl(mdl).unwrap();
        let r = m.terminate_process(app);
        if track {
            expect_bug_check(
                &mut m,
                r,
                BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
                [mdl.address(), 0, mdl.address(), 2],
            );
        } else {
            expect_bug_check(
                &mut m,
                r,
                BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
                [0, app.eprocess(), 2, 0],
            );
        }
        assert_audit_clean(&m);
    }
}

/// A lock taken by a KernelMode probe while attached charges the attached process, so its
/// exit is the one that bug-checks; other processes exit cleanly.
#[test]
fn exit_checks_only_the_charged_process() {
    let (mut m, app) = untracked_app();
    let drv = m.create_process("driver-host").unwrap();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(drv)).unwrap();
    m.attach(app).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x1000);
    m.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, LockOperation::IoReadAccess)
        .unwrap();
    m.detach().unwrap();
    m.terminate_process(drv).unwrap();
    let r = m.terminate_process(app);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        [0, app.eprocess(), 1, 0],
    );
}

/// Invariant 12 + 11: unlocking before exit makes the exit clean.
#[test]
fn exit_after_unlock_is_clean() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let mdl = lock_user(&mut m, app, buf, 0x2000, LockOperation::IoWriteAccess);
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    m.terminate_process(app).unwrap();
    assert!(m.crashed().is_none());
    assert_eq!(m.frames_in_use(), 0);
    assert_audit_clean(&m);
}

/// Invariant 9: a user-mode MDL mapping still present at exit is removed with the address
/// space and recorded (ReactOS ASSERTs on the non-VadNone VAD); the MDL itself is unaffected.
#[test]
fn user_mapping_left_at_exit_is_removed_and_recorded() {
    let (mut m, app) = with_app();
    let pool = nonpaged(&mut m, 0x2000, 9);
    let mdl = new_mdl(&mut m, pool, 0x2000);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    m.switch_to(Some(app)).unwrap();
    let uva = map_user(&mut m, mdl);
    m.terminate_process(app).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::UserMappingRemovedAtExit
                && e.mdl == Some(mdl)
                && e.va == Some(uva.page_align()))
    );
    assert_eq!(m.mappings().count(), 0);
    assert!(m.translate(SpaceId::Process(app), uva).is_none());
    assert_eq!(
        m.pool_pages_in_use(),
        2,
        "the pool pages are the driver's, untouched"
    );
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(pool, 9).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 16: once exiting, a process cannot be mapped into (raise), and the exit of a
/// process that has a kernel mapping of its locked pages reports 0x76 (the mapping does not
/// keep anything alive by itself).
#[test]
fn exit_with_locked_and_kernel_mapped_pages_is_0x76() {
    let (mut m, app) = untracked_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, LockOperation::IoReadAccess);
    let sys = system_va(&mut m, mdl);
    m.user_write(app, buf, b"still here").unwrap();
    let r = m.terminate_process(app);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        [0, app.eprocess(), 1, 0],
    );
    // The kernel's view of the page (for a post-mortem) still holds the data.
    let f = m.translate(SpaceId::System, sys).unwrap();
    assert_eq!(&m.frame_bytes(f).unwrap()[..10], b"still here");
}
