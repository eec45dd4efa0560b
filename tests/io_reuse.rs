//! `IoReuseIrp` and `IoDetachDevice` misuse (issue 14): the routines' `ASSERT`s and the
//! NULL dereference of detaching a device with nothing attached.

mod common;
mod io_common;

use common::*;
use io_common::{Originator, alloc, app, machine};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::events::EventKind;
use mdlsim::io::DO_BUFFERED_IO;
use mdlsim::io::drivers::{QueueDriver, QueueDriverBug};
use mdlsim::oracle::{BugClass, classify_event};
use mdlsim::status::NtStatus;
use mdlsim::windows::KernelBuild;
use mdlsim::{Config, Machine};
use std::sync::Arc;

/// A cancel routine still set: the checked build's `ASSERT` (0x1E); a free build clears it
/// with the rest and the misuse is the event `IrpReusedWhileInUse`.
#[test]
fn reusing_an_irp_whose_cancel_routine_is_set_is_an_assert_or_in_a_free_build_an_event() {
    for build in [KernelBuild::Checked, KernelBuild::Free] {
        let mut m = Machine::new(Config::default().kernel_build(build)).unwrap();
        let drv = m.io_register_driver("o", Arc::new(Originator)).unwrap();
        let dev = m.io_create_device(drv, "o", 0).unwrap();
        let irp = m.io_allocate_irp(1).unwrap();
        m.io_set_cancel_routine(irp, Some(dev)).unwrap();
        let r = m.io_reuse_irp(irp, NtStatus::SUCCESS);
        if build == KernelBuild::Checked {
            expect_bug_check(
                &mut m,
                r,
                BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
                assert_params(),
            );
            continue;
        }
        r.unwrap();
        assert!(m.irp(irp).unwrap().cancel_routine.is_none());
        let e = m
            .events()
            .iter()
            .find(|e| e.kind == EventKind::IrpReusedWhileInUse);
        assert_eq!(
            classify_event(e.expect("the event").kind),
            BugClass::UseAfterComplete
        );
    }
}

/// An IRP moved down a location, its status set, then reused: everything is back as
/// `IoAllocateIrp` left it, but the status given.
#[test]
fn reusing_a_used_irp_resets_it() {
    let mut m = machine();
    let irp = m.io_allocate_irp(3).unwrap();
    {
        let i = m.irp_mut(irp).unwrap();
        i.current_location -= 1;
        i.io_status.status = NtStatus::BUFFER_OVERFLOW;
        i.io_status.information = 9;
        i.pending_returned = true;
    }
    m.io_reuse_irp(irp, NtStatus::SUCCESS).unwrap();
    let i = m.irp(irp).unwrap();
    assert_eq!(i.current_location, 4);
    assert_eq!(
        (i.io_status.status, i.io_status.information),
        (NtStatus::SUCCESS, 0)
    );
    assert!(!i.pending_returned);
    m.io_free_irp(irp).unwrap();
    assert!(m.events().is_empty());
    assert_audit_clean(&m);
}

/// An IRP a driver still holds in its queue: reused under it, the event.
#[test]
fn reusing_an_irp_a_driver_has_queued_is_recorded() {
    let mut m = machine();
    let drv = m.io_register_driver("o", Arc::new(Originator)).unwrap();
    let dev = m.io_create_device(drv, "o", 0).unwrap();
    let irp = m.io_allocate_irp(1).unwrap();
    m.io_queue_push(dev, irp).unwrap();
    m.io_reuse_irp(irp, NtStatus::SUCCESS).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::IrpReusedWhileInUse)
    );
}

/// An IRP still on its thread's list (a pended request): the thread-list `ASSERT`, in both
/// builds.
#[test]
fn reusing_an_irp_still_on_its_threads_list_is_an_assert() {
    let mut m = machine();
    let drv = m
        .io_register_driver(
            "q",
            Arc::new(QueueDriver {
                bug: QueueDriverBug::None,
            }),
        )
        .unwrap();
    let dev = m.io_create_device(drv, "q", DO_BUFFERED_IO).unwrap();
    let (app, tid) = app(&mut m, "app");
    let buf = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, dev, None, buf, 0x10, 0).unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    let irp = m.thread_irps(tid)[0];
    let r = m.io_reuse_irp(irp, NtStatus::SUCCESS);
    // The queue driver set a cancel routine: the free build passes that ASSERT, not this one.
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
}

#[test]
fn detaching_a_device_with_nothing_attached_dereferences_null() {
    let mut m = machine();
    let drv = m.io_register_driver("o", Arc::new(Originator)).unwrap();
    let dev = m.io_create_device(drv, "o", 0).unwrap();
    let r = m.io_detach_device(dev);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        [NtStatus::ACCESS_VIOLATION.0 as u64, 0, 0, 0x138],
    );
}
