//! Device objects and extensions for C drivers: `DriverEntry`'s `IoCreateDevice` is the
//! device the harness dispatches to, its extension lives in the case's pool, and the
//! state `DriverEntry` initialised there persists from one request to the next.

use mdlsim::Config as MachineConfig;
use mdlsim::addr::PAGE_SIZE;
use mdlsim::ids::{Pid, Tid};
use mdlsim::io::DeviceId;
use mdlsim::io::ioctl::{FILE_ANY_ACCESS, METHOD_BUFFERED, ctl_code};
use mdlsim::oracle::BugClass;
use mdlsim::space::Protection;
use mdlsim::status::NtStatus;
use mdlsim::verify::Config;
use mdlsim::verify_driver::{self, DriverUnderTest};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Machine, io::DO_BUFFERED_IO};
use mdlsim_native::{Driver, NativeDriver};
use std::sync::Arc;

const IOCTL_COUNT: u32 = ctl_code(0x8000, 0x910, METHOD_BUFFERED, FILE_ANY_ACCESS);
const IOCTL_WAIT: u32 = ctl_code(0x8000, 0x911, METHOD_BUFFERED, FILE_ANY_ACCESS);
const IOCTL_WAIT_CSQ: u32 = ctl_code(0x8000, 0x912, METHOD_BUFFERED, FILE_ANY_ACCESS);
const IOCTL_RELEASE: u32 = ctl_code(0x8000, 0x913, METHOD_BUFFERED, FILE_ANY_ACCESS);

fn driver(defines: &[&str]) -> NativeDriver {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/counter_driver.c");
    let d = Driver::compile_with(path, defines).unwrap_or_else(|e| panic!("{e}"));
    NativeDriver::new(d).unwrap_or_else(|e| panic!("{e}"))
}

/// A machine with the counter driver's device (its `DriverEntry` run for it) and an app.
fn scene() -> (Machine, DeviceId, Pid, Tid) {
    let mut m = Machine::new(MachineConfig::default()).unwrap();
    let code = m
        .io_register_driver("counter", Arc::new(driver(&[])))
        .unwrap();
    let dev = m
        .io_create_device(code, "\\Device\\Counter", DO_BUFFERED_IO)
        .unwrap();
    let app = m.create_process("app").unwrap();
    let tid = m.process(app).unwrap().threads[0];
    (m, dev, app, tid)
}

#[test]
fn the_extension_driver_entry_initialised_counts_requests_across_calls() {
    let (mut m, dev, app, tid) = scene();
    let rw = Protection::ReadWrite;
    let out = m
        .virtual_alloc(app, None, PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)
        .unwrap();
    for expected in 1u32..=3 {
        let r = m
            .nt_device_io_control_file(tid, dev, None, IOCTL_COUNT, None, 0, Some(out), 4)
            .unwrap();
        assert_eq!(r.status, NtStatus::SUCCESS);
        let got = m.user_read(app, out, 4).unwrap();
        assert_eq!(got, expected.to_le_bytes());
    }
    assert!(m.crashed().is_none());
}

fn under_test(defines: &[&str]) -> DriverUnderTest {
    DriverUnderTest::new("c-counter", driver(defines))
        .ioctl(IOCTL_COUNT, 0, 8)
        .ioctl(IOCTL_WAIT, 0, 0)
        .ioctl(IOCTL_WAIT_CSQ, 0, 0)
}

fn caught(defines: &[&str]) -> mdlsim::verify_driver::DriverCounterexample {
    let cfg = Config::default().cases(200).seed(5).ignore_env();
    verify_driver::verify(&under_test(defines), &cfg).expect_err("caught")
}

/// The app's exit cancels the pended IRP; nothing completes it, so the rundown gives up
/// after five minutes (IO_DRIVER_CANCEL_TIMEOUT): a lock leak, as for a Rust driver
/// that pends forever.
fn pends_forever(defines: &[&str]) {
    let cx = caught(defines);
    assert!(
        cx.findings
            .iter()
            .any(|f| f.kind == BugClass::LockLeak && f.detail.contains("IO_DRIVER_CANCEL_TIMEOUT")),
        "{cx}"
    );
}

#[test]
fn a_pended_irp_without_a_cancel_routine_is_caught() {
    pends_forever(&["NO_CANCEL_ROUTINE"]);
}

#[test]
fn a_cancel_routine_that_does_not_complete_the_irp_is_caught() {
    pends_forever(&["CANCEL_DOES_NOT_COMPLETE"]);
}

#[test]
fn io_cancel_irp_runs_the_c_cancel_routine_which_completes_the_irp() {
    let (mut m, dev, app, tid) = scene();
    let iosb = iosb_page(&mut m, app);
    let r = m
        .nt_device_io_control_file(tid, dev, Some(iosb), IOCTL_WAIT, None, 0, None, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    let irp = r.irp.expect("a pending IRP");
    assert!(m.irp(irp).unwrap().cancel_routine.is_some());
    assert_eq!(status_at(&mut m, app, iosb), NOT_COMPLETED);
    assert!(m.io_cancel_irp(irp).unwrap(), "the cancel routine ran");
    assert_eq!(status_at(&mut m, app, iosb), NtStatus::CANCELLED);
    assert!(m.crashed().is_none());
}

/// What an `IO_STATUS_BLOCK` holds before the request completes.
const NOT_COMPLETED: NtStatus = NtStatus(0xEEEE_EEEE);

/// A page of `IO_STATUS_BLOCK`s in the app, each reading [`NOT_COMPLETED`].
fn iosb_page(m: &mut Machine, app: Pid) -> mdlsim::addr::Va {
    let rw = Protection::ReadWrite;
    let va = m
        .virtual_alloc(app, None, PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)
        .unwrap();
    m.user_write(app, va, &[0xEE; PAGE_SIZE as usize]).unwrap();
    va
}

/// The status in the app's `IO_STATUS_BLOCK` at `iosb`.
fn status_at(m: &mut Machine, app: Pid, iosb: mdlsim::addr::Va) -> NtStatus {
    let b = m.user_read(app, iosb, 4).unwrap();
    NtStatus(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[test]
fn a_driver_keeping_its_state_in_the_extension_passes_every_hostile_case() {
    let cfg = Config::default().cases(200).seed(5).ignore_env();
    if let Err(cx) = verify_driver::verify(&under_test(&[]), &cfg) {
        panic!("{cx}");
    }
}

#[test]
fn replacing_the_extensions_buffer_in_every_request_is_a_pool_leak() {
    let cfg = Config::default().cases(200).seed(5).ignore_env();
    let cx = verify_driver::verify(&under_test(&["REPLACE_STATE"]), &cfg).expect_err("caught");
    assert!(
        cx.findings.iter().any(|f| f.kind == BugClass::ResourceLeak),
        "{cx}"
    );
    // What DriverEntry allocated for the device (its object, extension and buffer) is
    // the device's, not the request's: only the per-request buffer is named.
    let leak = cx
        .findings
        .iter()
        .find(|f| f.kind == BugClass::ResourceLeak)
        .map(|f| f.detail.clone())
        .unwrap_or_default();
    assert!(leak.contains("1 pool allocation(s) not freed"), "{leak}");
}

#[test]
fn the_cancel_safe_queue_hands_out_the_oldest_irp_and_cancels_the_rest() {
    let (mut m, dev, app, tid) = scene();
    let iosbs = iosb_page(&mut m, app);
    let iosb = |i: u64| iosbs.wrapping_add(16 * i);
    let mut pended = Vec::new();
    for i in 0..3 {
        let r = m
            .nt_device_io_control_file(tid, dev, Some(iosb(i)), IOCTL_WAIT_CSQ, None, 0, None, 0)
            .unwrap();
        assert_eq!(r.status, NtStatus::PENDING);
        pended.push(r.irp.expect("a pending IRP"));
    }
    let status = |m: &mut Machine, i: u64| status_at(m, app, iosb(i));
    let pending = NOT_COMPLETED;
    // IoCsqRemoveNextIrp gives the oldest, which the driver completes with success.
    let r = m
        .nt_device_io_control_file(tid, dev, None, IOCTL_RELEASE, None, 0, None, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    assert_eq!(
        (status(&mut m, 0), status(&mut m, 1), status(&mut m, 2)),
        (NtStatus::SUCCESS, pending, pending)
    );
    // Cancelling the third runs the queue's cancel routine: off the queue, cancelled.
    assert!(m.io_cancel_irp(pended[2]).unwrap());
    assert_eq!(status(&mut m, 2), NtStatus::CANCELLED);
    // The next release gets the second, not the cancelled one.
    m.nt_device_io_control_file(tid, dev, None, IOCTL_RELEASE, None, 0, None, 0)
        .unwrap();
    assert_eq!(status(&mut m, 1), NtStatus::SUCCESS);
    assert!(m.crashed().is_none());
}
