//! ReactOS, `modules/rostests/kmtests/ntos_io/IoIrp.c`, test `IoIrp`: the fields of a
//! fresh IRP.
//!
//! The test describes Windows Server 2003 (NT 5.2), which ReactOS targets, so the machine
//! is configured as Server 2003; nothing in the fields translated here differs on later
//! Windows as far as Microsoft documents them.
//!
//! Of its three parts, the model expresses the checks of the second
//! (`IoAllocateIrp(2, FALSE)`) that it has fields for: `StackCount`, `CurrentLocation`,
//! `AllocationFlags`, an empty `ThreadListEntry` and where
//! `Tail.Overlay.CurrentStackLocation` points. The
//! first part (`IoInitializeIrp` over a caller's pool block), the third
//! (`IoAllocateIrp(2, TRUE)`: the model's `IoAllocateIrp` has no `ChargeQuota`, process
//! quota is not modelled), `Type` and `Size` are the backlog
//! (`tests/conformance/README.md`).

use mdlsim::io::{IRP_ALLOCATED_FIXED_SIZE, IRP_LOOKASIDE_ALLOCATION};
use mdlsim::space::Tid;
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Machine};

/// The Windows the test describes, with one process whose thread allocates the IRPs (so
/// an IRP wrongly queued to the allocating thread would show).
fn machine() -> (Machine, Tid) {
    let mut m = Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap();
    let app = m.create_process("kmtest").unwrap();
    let tid = m.process(app).unwrap().threads[0];
    m.switch_to(Some(app)).unwrap();
    (m, tid)
}

/// `IoIrp`, second part: `IoAllocateIrp(2, FALSE)` — "StackCount should be 2",
/// "CurrentLocation should be 3" (one past the top: no location is current until the IRP
/// is sent), `AllocationFlags` with `IRP_ALLOCATED_FIXED_SIZE` and without
/// `IRP_LOOKASIDE_ALLOCATION`, the thread list is empty (the IRP is queued to no thread, not even the
/// allocating one), and the current stack location is the one just past the two
/// locations: none is current, and the next (`IoGetNextIrpStackLocation`) is the last of
/// the array. `IoFreeIrp` then frees it.
#[test]
fn io_allocate_irp_with_two_locations_starts_past_the_top() {
    let (mut m, tid) = machine();
    let irp = m.io_allocate_irp(2).unwrap();
    let i = m.irp(irp).unwrap();
    assert_eq!(i.stack_count, 2, "StackCount");
    assert_eq!(i.current_location, 3, "CurrentLocation");
    assert_ne!(
        i.allocation_flags & IRP_ALLOCATED_FIXED_SIZE,
        0,
        "fixed size"
    );
    assert_eq!(
        i.allocation_flags & IRP_LOOKASIDE_ALLOCATION,
        0,
        "not from a lookaside"
    );
    assert_eq!(i.thread, None, "ThreadListEntry: on no thread's list");
    assert!(!m.thread_irps(tid).contains(&irp));
    assert!(i.current_stack_location().is_none());
    let next = i.next_stack_location().expect("the next location");
    assert!(
        std::ptr::eq(next, &i.stack[1]),
        "CurrentStackLocation mismatch"
    );
    m.io_free_irp(irp).unwrap();
    assert_eq!(m.irps_outstanding(), 0);
}
