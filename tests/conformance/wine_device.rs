//! Wine, `dlls/ntoskrnl.exe/tests/driver.c`: `test_IoAttachDeviceToDeviceStack` (its
//! attach half) and the bare-IRP checks of `test_irp_struct` (run on Windows).
//!
//! `IoDetachDevice` is not modelled: the detach half is the backlog.

use crate::io_common::{Originator, machine};
use mdlsim::io::DeviceId;
use mdlsim::{Machine, status::NtStatus};
use std::sync::Arc;

fn device(m: &mut Machine, name: &str) -> DeviceId {
    let drv = m.io_register_driver(name, Arc::new(Originator)).unwrap();
    m.io_create_device(drv, name, 0).unwrap()
}

/// Three devices: attaching dev2 to dev1 returns dev1, makes dev1's `AttachedDevice`
/// dev2 and dev2's none, with `StackSize` 1 and 2; attaching dev3 to dev1 attaches it to
/// the top (returns dev2), chains dev1 → dev2 → dev3, with `StackSize` 1, 2, 3.
#[test]
fn attaching_to_a_stack_attaches_to_its_top_and_grows_stack_size() {
    let mut m = machine();
    let (d1, d2, d3) = (
        device(&mut m, "dev1"),
        device(&mut m, "dev2"),
        device(&mut m, "dev3"),
    );
    assert_eq!(m.io_attach_device_to_device_stack(d2, d1).unwrap(), d1);
    let above = |m: &Machine, d| m.device(d).unwrap().upper;
    let size = |m: &Machine, d| m.device(d).unwrap().stack_size;
    assert_eq!((above(&m, d1), above(&m, d2)), (Some(d2), None));
    assert_eq!((size(&m, d1), size(&m, d2)), (1, 2));
    assert_eq!(m.io_attach_device_to_device_stack(d3, d1).unwrap(), d2);
    assert_eq!(
        (above(&m, d1), above(&m, d2), above(&m, d3)),
        (Some(d2), Some(d3), None)
    );
    assert_eq!((size(&m, d1), size(&m, d2), size(&m, d3)), (1, 2, 3));
    assert_eq!(m.io_get_attached_device(d1).unwrap(), d3);
}

/// `IoAllocateIrp(1, FALSE)`: `CurrentLocation` is 2 (`StackSize + 1`: no location is
/// current until the IRP is sent); like the test's built IRPs, it starts with `Cancel`
/// clear, no cancel routine and a zero `IoStatus`. (`AllocationFlags` and the test's
/// hand-decremented `CurrentLocation` before `IoCompleteRequest`/`IoReuseIrp` are not
/// modelled: backlog.)
#[test]
fn a_fresh_irp_with_one_location_is_at_location_2() {
    let mut m = machine();
    let irp = m.io_allocate_irp(1).unwrap();
    let i = m.irp(irp).unwrap();
    assert_eq!((i.stack_count, i.current_location), (1, 2));
    assert!(!i.cancel && i.cancel_routine.is_none() && i.io_status.status == NtStatus::SUCCESS);
    m.io_free_irp(irp).unwrap();
}
