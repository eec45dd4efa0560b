//! Thread and process exit with outstanding I/O: cancel, the five-minute wait on the
//! simulated clock, disassociation, and the locked-pages check (semantics §6).

mod io_common;
use io_common::*;
use mdlsim::Kernel;
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::events::EventKind;
use mdlsim::fault::Result;
use mdlsim::io::drivers::{QueueDriver, QueueDriverBug};
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId, Driver, IoStatusBlock, IrpId};
use mdlsim::machine::Machine;
use mdlsim::mdl::{AccessMode, LockOperation};
use mdlsim::pfn::PageState;
use mdlsim::process::ProcessState;
use mdlsim::status::NtStatus;
use mdlsim::{Config, Fault};
use std::sync::Arc;

/// Seed 004: "On thread exit, the I/O Manager runs the list of IRPs owned by the thread,
/// and calls the cancel routine registered for each one" — a cancelable IRP finishes at
/// once, no waiting.
#[test]
fn exit_cancels_the_threads_irps_through_their_cancel_routines() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x2000);
    let r = m.nt_read_file(tid, dev, None, out, 0x1800, 0).unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    m.terminate_process(app).unwrap();
    assert_eq!(
        m.io_completion_of(r.irp.unwrap()).unwrap().status,
        NtStatus::CANCELLED
    );
    assert_eq!(m.now_ms(), 0, "no wait was needed");
    assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
    assert_clean(&m);
}

/// Seed 004: "If all the outstanding IRPs get completed ... during the five minute
/// interval, then the pages are unlocked ... and the app exits as normal."
#[test]
fn a_pended_irp_completed_within_five_minutes_lets_the_process_exit_normally() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x3000);
    let r = m
        .nt_read_file(tid, dev, None, at(out, 0x10), 0x2000, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    m.ke_set_timer(dev, 90_000, 0).unwrap();
    m.terminate_process(app).unwrap();
    assert_eq!(
        m.now_ms(),
        90_000,
        "waited in 100 ms steps until the timer completed it"
    );
    let c = m.io_completion_of(r.irp.unwrap()).unwrap();
    assert_eq!(c.status, NtStatus::SUCCESS);
    assert!(!c.cleaned_up);
    assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
    assert!(m.disassociated_irps().is_empty());
    assert_clean(&m);
}

/// Seed 004: "If one or more IRPs do NOT get completed, the pages remain pinned
/// 'forever' ... and the process gets only partially torn down" — a stuck IRP keeps its
/// pages locked after the five-minute timer.
#[test]
fn a_stuck_irp_keeps_its_pages_locked_after_the_five_minute_timer() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x3000);
    let r = m
        .nt_read_file(tid, dev, None, at(out, 0x10), 0x2000, 0)
        .unwrap();
    let irp = r.irp.unwrap();
    let mdl = m.irp(irp).unwrap().mdl_address.unwrap();
    m.terminate_process(app).unwrap();
    assert_eq!(m.now_ms(), 300_000, "3000 waits of 100 ms");
    assert_eq!(m.disassociated_irps(), vec![irp]);
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::IrpDisassociated)
    );
    let p = m.process(app).unwrap();
    assert_eq!(
        p.state,
        ProcessState::RundownFailed,
        "half torn down, not deleted"
    );
    assert_eq!(p.number_of_locked_pages, 3);
    assert_eq!(p.space().vads().count(), 0, "its address space is gone");
    assert!(
        m.crashed().is_none(),
        "no PROCESS_HAS_LOCKED_PAGES: the process is never deleted"
    );
    // The pages are still locked, in Transition: nobody else can get them.
    let frames: Vec<_> = m.mdl(mdl).unwrap().frames().collect();
    assert_eq!(frames.len(), 3);
    for f in &frames {
        let e = m.pfn_entry(*f).unwrap();
        assert_eq!(e.state, PageState::Transition);
        assert_eq!(e.reference_count, 1);
    }
    assert_eq!(m.irp(irp).unwrap().thread, None, "disassociated");
    assert!(m.audit().is_empty());
    // Much later, still stuck.
    m.ke_advance_clock(3_600_000).unwrap();
    assert_eq!(m.process(app).unwrap().state, ProcessState::RundownFailed);
}

/// Semantics §6: "A disassociated IRP completed later: stage 1 unlocks its MDLs ... then
/// ... goes to IopCleanupIrp (no copy-back, no IOSB)"; the half-deleted process is then
/// deleted.
#[test]
fn a_disassociated_irp_completed_later_is_cleaned_up_without_copy_back() {
    for flags in [DO_BUFFERED_IO, DO_DIRECT_IO] {
        let mut m = machine();
        let dev = queue_device(&mut m, flags, QueueDriverBug::NotCancelable);
        let (app, tid) = app(&mut m, "app");
        let out = alloc(&mut m, app, 0x3000);
        let iosb = alloc(&mut m, app, 0x1000);
        let r = m
            .nt_read_file(tid, dev, Some(iosb), at(out, 0x10), 0x2000, 0)
            .unwrap();
        m.terminate_process(app).unwrap();
        assert_eq!(m.process(app).unwrap().state, ProcessState::RundownFailed);
        QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::NotCancelable).unwrap();
        let c = m.io_completion_of(r.irp.unwrap()).unwrap().clone();
        assert!(c.cleaned_up);
        assert_eq!((c.copied_back, c.iosb_written, c.thread), (0, false, None));
        assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
        assert_clean(&m);
    }
}

/// Windows (semantics §9): each stuck IRP is disassociated after its own five minutes.
#[test]
fn each_stuck_irp_costs_five_minutes() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x3000);
    m.nt_read_file(tid, dev, None, out, 0x10, 0).unwrap();
    m.nt_read_file(tid, dev, None, at(out, 0x1000), 0x10, 0)
        .unwrap();
    m.terminate_process(app).unwrap();
    assert_eq!(m.now_ms(), 600_000);
    assert_eq!(m.disassociated_irps().len(), 2);
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::NotCancelable).unwrap();
    assert_eq!(
        m.process(app).unwrap().state,
        ProcessState::RundownFailed,
        "one still out"
    );
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::NotCancelable).unwrap();
    assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
    assert_clean(&m);
}

/// Locks the caller's buffer with its own MDL and frees the MDL without unlocking.
#[derive(Debug)]
struct LockLeaker;

impl Driver for LockLeaker {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let ub = k.irp(irp)?.user_buffer.unwrap();
        let mdl = k.io_allocate_mdl(ub, 0x1800, false, false, None)?.unwrap();
        k.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)?;
        k.io_free_mdl(mdl)?; // leak: never unlocked
        k.irp_mut(irp)?.io_status = IoStatusBlock::default();
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

fn leak_then_exit(track: bool) -> (Fault, mdlsim::MdlId) {
    // Without Verifier's Pool Tracking, which would track locked pages too.
    let verifier = mdlsim::verifier::Verifier {
        pool_tracking: false,
        ..mdlsim::verifier::Verifier::STANDARD
    };
    let config = Config::default()
        .track_locked_pages(track)
        .verifier(verifier);
    let mut m = Machine::new(config).unwrap();
    let d = m
        .io_register_driver("leaker", Arc::new(LockLeaker))
        .unwrap();
    let dev = m.io_create_device(d, "\\Device\\Leak", 0).unwrap();
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x2000);
    m.nt_read_file(tid, dev, None, out, 0x1800, 0).unwrap();
    let mdl = m.leaked_locks()[0].mdl;
    (m.terminate_process(app).unwrap_err(), mdl)
}

/// Semantics §6: a process deleted with locked pages bug-checks PROCESS_HAS_LOCKED_PAGES
/// (0x76) with P1 0, P3 the count.
#[test]
fn process_deleted_with_pages_a_driver_left_locked_bug_checks_0x76() {
    let (f, _) = leak_then_exit(false);
    let b = f.bug_check().unwrap();
    assert_eq!(b.code, BugCheckCode::PROCESS_HAS_LOCKED_PAGES);
    assert_eq!((b.params[0], b.params[2]), (0, 2));
}

/// Semantics §6: with TrackLockedPages, DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB) names
/// the MDL and its page count.
#[test]
fn with_track_locked_pages_the_bug_check_is_0xcb_naming_the_mdl() {
    let (f, mdl) = leak_then_exit(true);
    let b = f.bug_check().unwrap();
    assert_eq!(b.code, BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS);
    assert_eq!((b.params[2], b.params[3]), (mdl.address(), 2));
}

/// A dead thread can issue no more I/O.
#[test]
fn a_thread_of_an_exited_process_cannot_issue_io() {
    let mut m = machine();
    let dev = pattern_device(&mut m, DO_BUFFERED_IO);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    m.terminate_process(app).unwrap();
    assert!(m.nt_read_file(tid, dev, None, out, 1, 0).is_err());
    assert_clean(&m);
}

/// Semantics §6: "PspExitThread calls IoCancelThreadIo" — one thread exiting cancels its
/// own IRPs; the process and its other threads carry on.
#[test]
fn a_thread_exiting_cancels_its_own_irps_and_the_process_carries_on() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::None);
    let (app, main) = app(&mut m, "app");
    let worker = m.create_thread(app).unwrap();
    let out = alloc(&mut m, app, 0x3000);
    let mine = m
        .nt_read_file(worker, dev, None, out, 0x100, 0)
        .unwrap()
        .irp
        .unwrap();
    let theirs = m
        .nt_read_file(main, dev, None, at(out, 0x1000), 0x100, 0)
        .unwrap()
        .irp
        .unwrap();
    m.terminate_thread(worker).unwrap();
    assert_eq!(
        m.io_completion_of(mine).unwrap().status,
        NtStatus::CANCELLED
    );
    assert!(
        m.io_completion_of(theirs).is_none(),
        "the other thread's IRP is untouched"
    );
    assert_eq!(m.process(app).unwrap().state, ProcessState::Running);
    assert!(
        m.nt_read_file(worker, dev, None, out, 1, 0).is_err(),
        "the dead thread can't issue I/O"
    );
    m.terminate_thread(main).unwrap(); // the last thread: process exit
    assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
    assert_clean(&m);
}

/// A thread whose IRP is stuck waits five minutes, then leaves it disassociated; the
/// process keeps running, but at its exit the stuck IRP makes it a rundown failure, and
/// hazards() names the stuck IRP.
#[test]
fn a_stuck_irp_of_an_exited_thread_makes_process_exit_a_rundown_failure() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (app, main) = app(&mut m, "app");
    let worker = m.create_thread(app).unwrap();
    let out = alloc(&mut m, app, 0x3000);
    let irp = m
        .nt_read_file(worker, dev, None, out, 0x100, 0)
        .unwrap()
        .irp
        .unwrap();
    m.terminate_thread(worker).unwrap();
    assert_eq!(m.now_ms(), 300_000);
    assert_eq!(m.process(app).unwrap().state, ProcessState::Running);
    let h = m.hazards();
    assert!(
        h.iter()
            .any(|h| h.kind == mdlsim::audit::HazardKind::StuckIrp && h.object == irp.to_string()),
        "{h:?}"
    );
    let _ = main;
    m.terminate_process(app).unwrap();
    assert_eq!(m.process(app).unwrap().state, ProcessState::RundownFailed);
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::NotCancelable).unwrap();
    assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
    assert!(m.hazards().is_empty());
    assert_clean(&m);
}

/// The rundown's idle waits (no timer due, nothing queued for the thread) are taken in one
/// jump: the clock a timer routine sees, the time of the disassociation and the clock
/// afterwards are those of 100 ms waits taken one by one. A timer due at 90,050 ms fires in
/// the wait that ends at 90,100; two stuck IRPs cost five minutes each; a timer set for
/// after them does not fire during the rundown.
#[test]
fn idle_rundown_waits_keep_the_clock_of_waits_taken_one_by_one() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (p, tid) = app(&mut m, "app");
    let out = alloc(&mut m, p, 0x3000);
    let r = m.nt_read_file(tid, dev, None, out, 0x1000, 0).unwrap();
    m.ke_set_timer(dev, 90_050, 0).unwrap();
    m.terminate_process(p).unwrap();
    assert_eq!(m.now_ms(), 90_100, "the wait in which the timer fired");
    let c = m.io_completion_of(r.irp.unwrap()).unwrap();
    assert_eq!(c.status, NtStatus::SUCCESS);
    assert_clean(&m);

    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (p, tid) = app(&mut m, "app");
    let out = alloc(&mut m, p, 0x3000);
    let a = m.nt_read_file(tid, dev, None, out, 0x1000, 0).unwrap();
    let b = m
        .nt_read_file(tid, dev, None, at(out, 0x1000), 0x1000, 0)
        .unwrap();
    m.ke_set_timer(dev, 700_000, 0).unwrap();
    m.terminate_process(p).unwrap();
    assert_eq!(m.now_ms(), 600_000, "five minutes per stuck IRP");
    assert_eq!(m.disassociated_irps(), vec![a.irp.unwrap(), b.irp.unwrap()]);
    m.ke_advance_clock(100_000).unwrap();
    assert_eq!(m.now_ms(), 700_000);
    assert!(
        m.io_completion_of(a.irp.unwrap()).is_some(),
        "the timer completed the queue"
    );
}
