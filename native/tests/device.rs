//! Device objects and extensions for C drivers: `DriverEntry`'s `IoCreateDevice` is the
//! device the harness dispatches to, its extension lives in the case's pool, and the
//! state `DriverEntry` initialised there persists from one request to the next.

use mdlsim::Config as MachineConfig;
use mdlsim::addr::PAGE_SIZE;
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

fn driver(defines: &[&str]) -> NativeDriver {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/counter_driver.c");
    let d = Driver::compile_with(path, defines).unwrap_or_else(|e| panic!("{e}"));
    NativeDriver::new(d).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_extension_driver_entry_initialised_counts_requests_across_calls() {
    let mut m = Machine::new(MachineConfig::default()).unwrap();
    let code = m
        .io_register_driver("counter", Arc::new(driver(&[])))
        .unwrap();
    let dev = m
        .io_create_device(code, "\\Device\\Counter", DO_BUFFERED_IO)
        .unwrap();
    let app = m.create_process("app").unwrap();
    let tid = m.process(app).unwrap().threads[0];
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
    DriverUnderTest::new("c-counter", driver(defines)).ioctl(IOCTL_COUNT, 0, 8)
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
