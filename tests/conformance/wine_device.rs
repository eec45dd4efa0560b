//! Wine, `dlls/ntoskrnl.exe/tests/driver.c`: `test_IoAttachDeviceToDeviceStack` (its
//! attach half) and the bare-IRP checks of `test_irp_struct` (run on Windows).
//!
//! Both halves: the attach checks and `IoDetachDevice`'s; the bare IRP's
//! `AllocationFlags`, its hand-moved `CurrentLocation` through `IoCompleteRequest`, and
//! `IoReuseIrp`.

use crate::io_common::{Originator, machine};
use mdlsim::io::{DeviceId, IRP_ALLOCATED_FIXED_SIZE};
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

/// `IoAllocateIrp(1, FALSE)`: `AllocationFlags` is `IRP_ALLOCATED_FIXED_SIZE` and
/// `CurrentLocation` 2 (`StackSize + 1`: no location is current until the IRP is sent);
/// like the test's built IRPs, it starts with `Cancel` clear, no cancel routine and a zero
/// `IoStatus`.
#[test]
fn a_fresh_irp_with_one_location_is_at_location_2() {
    let mut m = machine();
    let irp = m.io_allocate_irp(1).unwrap();
    let i = m.irp(irp).unwrap();
    assert_eq!(i.allocation_flags, IRP_ALLOCATED_FIXED_SIZE);
    assert_eq!((i.stack_count, i.current_location), (1, 2));
    assert!(!i.cancel && i.cancel_routine.is_none() && i.io_status.status == NtStatus::SUCCESS);
    m.io_free_irp(irp).unwrap();
}

/// The detach half: `IoDetachDevice(dev1)` clears dev1's `AttachedDevice` and leaves
/// dev2's (dev3 stays attached to dev2); `IoDetachDevice(dev2)` clears dev2's; no
/// `StackSize` changes (1, 2, 3).
#[test]
fn detaching_clears_only_the_target_attachment_and_keeps_stack_sizes() {
    let mut m = machine();
    let (d1, d2, d3) = (
        device(&mut m, "dev1"),
        device(&mut m, "dev2"),
        device(&mut m, "dev3"),
    );
    m.io_attach_device_to_device_stack(d2, d1).unwrap();
    m.io_attach_device_to_device_stack(d3, d1).unwrap();
    let above = |m: &Machine, d| m.device(d).unwrap().upper;
    let size = |m: &Machine, d| m.device(d).unwrap().stack_size;
    m.io_detach_device(d1).unwrap();
    assert_eq!((above(&m, d1), above(&m, d2)), (None, Some(d3)));
    m.io_detach_device(d2).unwrap();
    assert_eq!(above(&m, d2), None);
    assert_eq!((size(&m, d1), size(&m, d2), size(&m, d3)), (1, 2, 3));
    assert!(m.crashed().is_none());
}

/// The bare IRP with a completion routine that returns `STATUS_MORE_PROCESSING_REQUIRED`:
/// the test moves `CurrentLocation` down by hand (as `IoSetNextIrpStackLocation` does) and
/// completes it — `CurrentLocation` is 2 again and the routine ran; moved down again,
/// `IoReuseIrp(STATUS_UNSUCCESSFUL)` puts it back at 2 and keeps `AllocationFlags`.
#[test]
fn a_hand_moved_irp_completes_back_to_location_2_and_reuse_resets_it() {
    let mut m = machine();
    let me = device(&mut m, "me");
    let irp = m.io_allocate_irp(1).unwrap();
    m.io_set_completion_routine(irp, me, 0, true, true, true)
        .unwrap();
    m.irp_mut(irp).unwrap().current_location -= 1;
    m.io_complete_request(irp).unwrap();
    assert_eq!(m.irp(irp).unwrap().current_location, 2);
    let done = m
        .device(me)
        .unwrap()
        .extension
        .counters
        .get("done")
        .copied();
    assert_eq!(done, Some(1), "the completion routine ran");

    m.irp_mut(irp).unwrap().current_location -= 1;
    m.io_reuse_irp(irp, NtStatus::UNSUCCESSFUL).unwrap();
    let i = m.irp(irp).unwrap();
    assert_eq!(i.current_location, 2);
    assert_eq!(i.allocation_flags, IRP_ALLOCATED_FIXED_SIZE);
    assert_eq!(i.io_status.status, NtStatus::UNSUCCESSFUL);
    assert!(!i.completed && i.stack.iter().all(|l| l.completion.is_none()));
    m.io_free_irp(irp).unwrap();
    assert!(m.crashed().is_none());
}
