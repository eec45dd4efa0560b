//! Cancellation: IoCancelIrp, cancel routines, and completion-vs-cancel races as
//! enumerable interleavings (semantics §6, invariant 27).

mod io_common;
use io_common::*;
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::io::cancel::{RaceStep, orderings, run_cancel_race};
use mdlsim::io::drivers::{QueueDriver, QueueDriverBug};
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO};
use mdlsim::status::NtStatus;

#[test]
fn there_are_twelve_interleavings_and_each_keeps_program_order() {
    let all = orderings();
    assert_eq!(all.len(), 12);
    for o in &all {
        let p = |s| o.iter().position(|x| *x == s).unwrap();
        assert!(p(RaceStep::Claim) < p(RaceStep::Complete));
    }
    let mut dedup = all.clone();
    dedup.sort_by_key(|o| format!("{o:?}"));
    dedup.dedup();
    assert_eq!(dedup.len(), 12);
}

/// Positive control: a correct cancel-safe driver survives every interleaving: exactly
/// one completion, no crash, audit clean, nothing leaked; the status is SUCCESS or
/// CANCELLED depending on who won.
#[test]
fn correct_driver_survives_every_completion_cancel_interleaving() {
    let mut statuses = std::collections::BTreeSet::new();
    for o in orderings() {
        let r = run_cancel_race(QueueDriverBug::None, o).unwrap();
        assert_eq!(r.bug_check, None, "{o:?}");
        assert_eq!(r.completions, 1, "{o:?}");
        assert!(r.audit.is_empty(), "{o:?}: {:?}", r.audit);
        assert!(r.leaks.is_empty(), "{o:?}: {:?}", r.leaks);
        statuses.insert(r.final_status.unwrap().0);
    }
    assert_eq!(
        statuses,
        [NtStatus::SUCCESS.0, NtStatus::CANCELLED.0]
            .into_iter()
            .collect(),
        "both outcomes are reachable"
    );
}

/// Semantics §6: a cancel routine left on a completed IRP gives
/// CANCEL_STATE_IN_COMPLETED_IRP (0x48) — only in the interleaving where the cancel lands
/// between completion and the stage-2 APC.
#[test]
fn completing_without_clearing_the_cancel_routine_hits_0x48_in_exactly_the_racy_orderings() {
    use RaceStep::*;
    let mut crashed = Vec::new();
    for o in orderings() {
        let r = run_cancel_race(QueueDriverBug::NoClearCancelRoutine, o).unwrap();
        match r.bug_check {
            Some(code) => {
                assert_eq!(code, BugCheckCode::CANCEL_STATE_IN_COMPLETED_IRP, "{o:?}");
                crashed.push(o);
            }
            None => {
                assert_eq!(r.completions, 1, "{o:?}");
                assert!(r.leaks.is_empty() && r.audit.is_empty(), "{o:?}");
            }
        }
    }
    assert!(!crashed.is_empty());
    for o in &crashed {
        let p = |s| o.iter().position(|x| x == &s).unwrap();
        // The cancel came after completion, and no APC delivery ran in between.
        let apc_between = p(Complete) < p(DeliverApc) && p(DeliverApc) < p(Cancel);
        assert!(p(Complete) < p(Cancel) && !apc_between, "{o:?}");
    }
    assert_eq!(crashed.len(), 3, "{crashed:?}");
    assert!(crashed.contains(&[Claim, Complete, Cancel, DeliverApc]));
}

/// A cancel routine that completes an IRP it no longer owns double-completes it (0x44)
/// when the cancel lands between the completer's claim and its completion.
#[test]
fn blind_cancel_routine_double_completes_when_cancel_lands_between_claim_and_complete() {
    use RaceStep::*;
    let r = run_cancel_race(
        QueueDriverBug::NoClearBlindCancel,
        [Claim, Cancel, Complete, DeliverApc],
    )
    .unwrap();
    assert_eq!(
        r.bug_check,
        Some(BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS)
    );
    let r = run_cancel_race(
        QueueDriverBug::NoClearBlindCancel,
        [Claim, Cancel, DeliverApc, Complete],
    )
    .unwrap();
    assert_eq!(
        r.bug_check,
        Some(BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS)
    );
    // Cancel first: the routine dequeues and completes; the completer finds nothing.
    let r = run_cancel_race(
        QueueDriverBug::NoClearBlindCancel,
        [Cancel, Claim, Complete, DeliverApc],
    )
    .unwrap();
    assert_eq!(r.bug_check, None);
    assert_eq!(r.final_status, Some(NtStatus::CANCELLED));
}

/// IoCancelIrp on an IRP with no cancel routine only sets Cancel and returns FALSE.
#[test]
fn cancel_without_a_cancel_routine_sets_cancel_and_returns_false() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::NotCancelable);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, dev, None, out, 8, 0).unwrap();
    let irp = r.irp.unwrap();
    assert!(!m.io_cancel_irp(irp).unwrap());
    assert!(m.irp(irp).unwrap().cancel);
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::NotCancelable).unwrap();
    assert_eq!(m.io_completion_of(irp).unwrap().status, NtStatus::SUCCESS);
    assert_clean(&m);
}

/// IoCancelIrp on a queued IRP runs the cancel routine, which completes it with
/// STATUS_CANCELLED; stage 1 unlocks the direct-I/O pages.
#[test]
fn cancel_routine_completes_a_queued_direct_irp_with_cancelled_and_unlocks_its_pages() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x3000);
    let r = m
        .nt_read_file(tid, dev, None, at(out, 1), 0x2001, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 3);
    assert!(m.io_cancel_irp(r.irp.unwrap()).unwrap());
    assert_eq!(
        m.io_completion_of(r.irp.unwrap()).unwrap().status,
        NtStatus::CANCELLED
    );
    assert_clean(&m);
}

/// A driver whose cancel routine records the `Irp->CancelIrql` it was handed, then
/// completes the IRP (it pends every request with itself as cancel routine).
#[derive(Debug)]
struct IrqlRecorder;

impl mdlsim::io::Driver for IrqlRecorder {
    fn dispatch(
        &self,
        k: &mut mdlsim::Kernel<'_>,
        d: mdlsim::io::DeviceId,
        irp: mdlsim::io::IrpId,
    ) -> mdlsim::Result<NtStatus> {
        k.io_mark_irp_pending(irp)?;
        k.io_set_cancel_routine(irp, Some(d))?;
        Ok(NtStatus::PENDING)
    }

    fn cancel(
        &self,
        k: &mut mdlsim::Kernel<'_>,
        d: mdlsim::io::DeviceId,
        irp: mdlsim::io::IrpId,
    ) -> mdlsim::Result<()> {
        let irql = k.irp(irp)?.cancel_irql;
        k.device_mut(d)?
            .extension
            .counters
            .insert("cancel_irql".into(), u64::from(irql));
        k.irp_mut(irp)?.io_status.status = NtStatus::CANCELLED;
        k.io_complete_request(irp)
    }
}

/// Semantics §6: `IoCancelIrp` takes the cancel spin lock, keeping its caller's IRQL in
/// `Irp->CancelIrql` for the cancel routine's `IoReleaseCancelSpinLock`.
#[test]
fn io_cancel_irp_hands_the_cancel_routine_its_callers_irql_in_cancel_irql() {
    let mut m = machine();
    let (_, tid) = app(&mut m, "app");
    let drv = m
        .io_register_driver("recorder", std::sync::Arc::new(IrqlRecorder))
        .unwrap();
    let dev = m
        .io_create_device(drv, "\\Device\\R", DO_BUFFERED_IO)
        .unwrap();
    let r = m
        .nt_device_io_control_file(tid, dev, None, 0x22_2000, None, 0, None, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    let old = m.ke_raise_irql(mdlsim::irql::Kirql::APC_LEVEL).unwrap();
    assert!(m.io_cancel_irp(r.irp.unwrap()).unwrap());
    m.ke_lower_irql(old).unwrap();
    let got = m
        .device(dev)
        .unwrap()
        .extension
        .counters
        .get("cancel_irql")
        .copied();
    assert_eq!(got, Some(u64::from(mdlsim::irql::Kirql::APC_LEVEL.0)));
}
