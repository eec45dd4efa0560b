//! `PendingReturned` through a filter: a completion routine must propagate it with
//! `IoMarkIrpPending` (the classic filter bug is reported at completion, invariant 27's
//! neighbour; split from io_completion.rs).

mod io_common;
use io_common::*;
use mdlsim::Kernel;
use mdlsim::events::EventKind;
use mdlsim::fault::Result;
use mdlsim::io::drivers::{QueueDriver, QueueDriverBug};
use mdlsim::io::{DO_DIRECT_IO, DeviceId, Driver, IrpId};
use mdlsim::machine::Machine;
use mdlsim::status::NtStatus;
use std::sync::Arc;

/// A filter that passes the IRP down with a completion routine which does **not**
/// propagate `PendingReturned` (the classic filter bug).
#[derive(Debug)]
struct ForgetfulFilter;

impl Driver for ForgetfulFilter {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let lower = k.device(d)?.lower.expect("attached in the test");
        k.io_copy_current_irp_stack_location_to_next(irp)?;
        k.io_set_completion_routine(irp, d, 0, true, true, true)?;
        k.io_call_driver(lower, irp)
    }

    fn completion(&self, _: &mut Kernel<'_>, _: DeviceId, _: IrpId, _: u64) -> Result<NtStatus> {
        Ok(NtStatus::SUCCESS)
    }
}

fn pended_through(filter: Option<Arc<dyn Driver>>) -> (Machine, bool, bool) {
    let mut m = machine();
    let q = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::None);
    match filter {
        None => {
            filter_above(&mut m, q);
        }
        Some(code) => {
            let d = m.io_register_driver("forgetful", code).unwrap();
            let f = m.io_create_device(d, "\\Device\\F", 0).unwrap();
            m.io_attach_device_to_device_stack(f, q).unwrap();
        }
    }
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, q, None, out, 16, 0).unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    let flagged = |m: &Machine| {
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::PendingNotMarked)
    };
    let at_dispatch = flagged(&m);
    QueueDriver::complete_next(&mut m.kernel(), q, QueueDriverBug::None).unwrap();
    let at_completion = flagged(&m);
    (m, at_dispatch, at_completion)
}

/// A filter that returns the lower driver's STATUS_PENDING and marks its own location in
/// its completion routine (Microsoft's documented pattern) is not reported: the check
/// waits for the completion walk to reach the filter's location.
#[test]
fn filter_propagating_pending_in_its_completion_routine_is_not_reported() {
    let (m, at_dispatch, at_completion) = pended_through(None);
    assert!(!at_dispatch && !at_completion);
    assert_clean(&m);
}

/// Negative control: the same filter whose completion routine forgets
/// `if (Irp->PendingReturned) IoMarkIrpPending(Irp)` is reported when completion reaches it.
#[test]
fn filter_forgetting_to_propagate_pending_is_reported_at_completion() {
    let (_, at_dispatch, at_completion) = pended_through(Some(Arc::new(ForgetfulFilter)));
    assert!(!at_dispatch, "the mark may still come at completion");
    assert!(at_completion);
}

/// A filter that passes the IRP down with no completion routine and returns the lower
/// driver's STATUS_PENDING.
#[derive(Debug)]
struct NoRoutineFilter;

impl Driver for NoRoutineFilter {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let lower = k.device(d)?.lower.expect("attached in the test");
        k.io_copy_current_irp_stack_location_to_next(irp)?;
        k.io_call_driver(lower, irp)
    }
}

/// Without a completion routine at the filter's location, `IoCompleteRequest` itself
/// marks that location pending when the one below returned pending (semantics §5.7): the
/// filter's STATUS_PENDING is consistent and not reported.
#[test]
fn a_filter_without_a_completion_routine_gets_pending_propagated_by_io_complete_request() {
    let (m, at_dispatch, at_completion) = pended_through(Some(Arc::new(NoRoutineFilter)));
    assert!(!at_dispatch && !at_completion, "{:?}", m.events());
    assert_clean(&m);
}
