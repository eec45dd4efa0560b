//! `IoReuseIrp` and `IoDetachDevice` misuse (issue 14): the routines' `ASSERT`s and the
//! NULL dereference of detaching a device with nothing attached.

mod common;
mod io_common;

use common::*;
use io_common::{Originator, machine};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::status::NtStatus;
use std::sync::Arc;

#[test]
fn reusing_an_irp_whose_cancel_routine_is_set_is_an_assert() {
    let mut m = machine();
    let drv = m.io_register_driver("o", Arc::new(Originator)).unwrap();
    let dev = m.io_create_device(drv, "o", 0).unwrap();
    let irp = m.io_allocate_irp(1).unwrap();
    m.io_set_cancel_routine(irp, Some(dev)).unwrap();
    let r = m.io_reuse_irp(irp, NtStatus::SUCCESS);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
}

#[test]
fn reusing_a_clean_irp_is_not_a_misuse() {
    let mut m = machine();
    let irp = m.io_allocate_irp(3).unwrap();
    m.io_reuse_irp(irp, NtStatus::SUCCESS).unwrap();
    assert_eq!(m.irp(irp).unwrap().current_location, 4);
    m.io_free_irp(irp).unwrap();
    assert_audit_clean(&m);
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
