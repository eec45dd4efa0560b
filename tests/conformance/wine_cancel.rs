//! Wine, `dlls/ntoskrnl.exe/tests/driver.c`, `test_cancel_irp` (run on Windows).
//!
//! The test's IRPs come from `IoBuildAsynchronousFsdRequest(IRP_MJ_FLUSH_BUFFERS, ...)`,
//! which the model does not have; here they are `IoAllocateIrp(1)` with the next stack
//! location set to a zero-length write, sent to a driver that pends what it gets. The
//! assertions are about `IoCancelIrp`, cancel routines and the completion routine's
//! `InvokeOnCancel`, which do not depend on the major function.

use crate::io_common::{Originator, machine};
use mdlsim::fault::Result;
use mdlsim::io::{DeviceId, Driver, IRP_MJ_WRITE, IrpId, Parameters, StackLocation};
use mdlsim::status::NtStatus;
use mdlsim::{Kernel, Machine};
use std::sync::Arc;

/// The driver under test: its dispatch pends every IRP (`IoMarkIrpPending`, `STATUS_PENDING`);
/// its cancel routine (`cancel_irp` of the test) checks `Cancel` is set and the cancel
/// routine already cleared, sets `STATUS_CANCELLED` and counts the call — without
/// completing the IRP.
#[derive(Debug)]
struct Pends;

impl Driver for Pends {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        k.io_mark_irp_pending(irp)?;
        Ok(NtStatus::PENDING)
    }

    fn cancel(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<()> {
        let i = k.irp(irp)?;
        let (cancel, routine) = (i.cancel, i.cancel_routine);
        let i = k.irp_mut(irp)?;
        i.io_status.status = NtStatus::CANCELLED;
        i.io_status.information = 0;
        let c = &mut k.device_mut(d)?.extension.counters;
        *c.entry("cancel_cnt".into()).or_default() += 1;
        c.insert("saw_cancel".into(), cancel as u64);
        c.insert("saw_routine".into(), routine.is_some() as u64);
        Ok(())
    }
}

fn counter(m: &Machine, d: DeviceId, name: &str) -> u64 {
    m.device(d)
        .unwrap()
        .extension
        .counters
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// An IRP for `target` with one stack location, not sent yet.
fn irp(m: &mut Machine) -> IrpId {
    let irp = m.io_allocate_irp(1).unwrap();
    let write = StackLocation {
        major_function: IRP_MJ_WRITE,
        parameters: Parameters::Write {
            length: 0,
            byte_offset: 0,
        },
        ..StackLocation::default()
    };
    m.io_set_next_irp_stack_location(irp, write).unwrap();
    irp
}

/// The pending driver's device, and an originator's device for completion routines.
fn devices(m: &mut Machine) -> (DeviceId, DeviceId) {
    let drv = m.io_register_driver("pends", Arc::new(Pends)).unwrap();
    let target = m.io_create_device(drv, "\\Device\\Target", 0).unwrap();
    let up = m
        .io_register_driver("originator", Arc::new(Originator))
        .unwrap();
    let me = m.io_create_device(up, "\\Device\\Originator", 0).unwrap();
    (target, me)
}

/// An IRP never dispatched and with no cancel routine: `IoCancelIrp` returns FALSE and
/// sets `Cancel`; a second `IoCancelIrp` returns FALSE again.
#[test]
fn cancelling_an_irp_without_a_cancel_routine_returns_false_and_sets_cancel() {
    let mut m = machine();
    let irp = irp(&mut m);
    assert!(!m.io_cancel_irp(irp).unwrap());
    assert!(m.irp(irp).unwrap().cancel);
    assert!(!m.io_cancel_irp(irp).unwrap());
    m.io_free_irp(irp).unwrap();
    assert!(m.crashed().is_none());
}

/// A pending IRP with a cancel routine: `IoCallDriver` returns `STATUS_PENDING` with
/// `CurrentLocation` 1 and the location's device the target; `IoCancelIrp` returns TRUE,
/// sets `Cancel` and calls the routine once, which sees `Cancel` set and the routine
/// cleared; a second `IoCancelIrp` returns FALSE and calls nothing.
#[test]
fn cancelling_a_pending_irp_calls_its_cancel_routine_once() {
    let mut m = machine();
    let (target, _) = devices(&mut m);
    let irp = irp(&mut m);
    assert_eq!(m.io_call_driver(target, irp).unwrap(), NtStatus::PENDING);
    let i = m.irp(irp).unwrap();
    assert_eq!(i.current_location, 1);
    assert_eq!(i.current_stack_location().unwrap().device, Some(target));
    m.io_set_cancel_routine(irp, Some(target)).unwrap();
    assert!(m.io_cancel_irp(irp).unwrap());
    assert!(m.irp(irp).unwrap().cancel);
    assert_eq!(counter(&m, target, "cancel_cnt"), 1);
    assert_eq!(counter(&m, target, "saw_cancel"), 1);
    assert_eq!(counter(&m, target, "saw_routine"), 0);
    assert!(!m.io_cancel_irp(irp).unwrap());
    assert!(m.irp(irp).unwrap().cancel);
    assert_eq!(counter(&m, target, "cancel_cnt"), 1);
    m.io_complete_request(irp).unwrap();
    assert!(m.crashed().is_none());
}

/// A completion routine set before `IoCallDriver` with flags (success, error, cancel),
/// the IRP pended, its cancel routine set and `IoCancelIrp` called (TRUE, the routine
/// ran once), then `IoCompleteRequest` with `STATUS_CANCELLED`: the completion routine
/// runs for (TRUE, FALSE, TRUE) — `InvokeOnCancel` with `Cancel` set — and for (TRUE,
/// TRUE, FALSE) — `STATUS_CANCELLED` is an error — but not for (TRUE, FALSE, FALSE).
#[test]
fn a_cancelled_irp_runs_completion_routines_that_invoke_on_cancel_or_error() {
    for (on_success, on_error, on_cancel, runs) in [
        (true, false, true, true),
        (true, true, false, true),
        (true, false, false, false),
    ] {
        let mut m = machine();
        let (target, me) = devices(&mut m);
        let irp = irp(&mut m);
        m.io_set_completion_routine(irp, me, 0, on_success, on_error, on_cancel)
            .unwrap();
        assert_eq!(m.io_call_driver(target, irp).unwrap(), NtStatus::PENDING);
        m.io_set_cancel_routine(irp, Some(target)).unwrap();
        assert!(m.io_cancel_irp(irp).unwrap());
        assert_eq!(counter(&m, target, "cancel_cnt"), 1);
        assert!(m.irp(irp).unwrap().cancel);
        m.io_complete_request(irp).unwrap();
        let flags = (on_success, on_error, on_cancel);
        assert_eq!(counter(&m, me, "done") == 1, runs, "{flags:?}");
        if runs {
            // The originator's routine reclaimed the IRP: its owner frees it.
            m.io_free_irp(irp).unwrap();
        }
        assert!(m.crashed().is_none(), "{flags:?}: {:?}", m.crashed());
    }
}
