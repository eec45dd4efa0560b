//! IoCompleteRequest: two stages, copy-back, faults, double completion, completion
//! routines, stack exhaustion, and build failures (semantics §5.6, §5.7, invariants 26–29).

mod io_common;
use io_common::*;
use mdlsim::Config;
use mdlsim::Kernel;
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::events::EventKind;
use mdlsim::fault::Result;
use mdlsim::io::drivers::{QueueDriver, QueueDriverBug};
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId, Driver, IoStatusBlock, IrpId};
use mdlsim::machine::Machine;
use mdlsim::space::{Protection, SpaceId};
use mdlsim::status::NtStatus;
use mdlsim::vm::MEM_RELEASE;
use mdlsim::windows::KernelBuild;
use std::sync::Arc;

/// Completes with a chosen status and Information, optionally twice.
#[derive(Debug)]
struct Completer {
    status: NtStatus,
    information: u64,
    twice: bool,
}

impl Driver for Completer {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        if let Some(sb) = k.irp(irp)?.system_buffer {
            let n = (self.information as usize).min(8);
            k.kernel_write(sb, &b"DRIVERxx"[..n])?;
        }
        k.irp_mut(irp)?.io_status = IoStatusBlock {
            status: self.status,
            information: self.information,
        };
        k.io_complete_request(irp)?;
        if self.twice {
            k.io_complete_request(irp)?;
        }
        Ok(self.status)
    }
}

fn completer_device(m: &mut Machine, status: NtStatus, information: u64, twice: bool) -> DeviceId {
    let d = m
        .io_register_driver(
            "completer",
            Arc::new(Completer {
                status,
                information,
                twice,
            }),
        )
        .unwrap();
    m.io_create_device(d, "\\Device\\C", DO_BUFFERED_IO)
        .unwrap()
}

/// Seed 004: "If the user has actually deallocated the memory ... the copy-back would
/// raise an exception ... nothing particularly bad would happen ... the Request gets
/// completed with an error that is basically the exception code".
#[test]
fn method_buffered_copy_back_to_a_freed_buffer_fails_the_request_nothing_crashes() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x2000);
    let iosb = alloc(&mut m, app, 0x1000);
    let r = m
        .nt_read_file(tid, dev, Some(iosb), out, 0x1800, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    m.virtual_free(app, out, 0, MEM_RELEASE).unwrap();
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert!(m.crashed().is_none());
    let c = m.io_completion_of(r.irp.unwrap()).unwrap();
    assert_eq!(c.status, NtStatus::ACCESS_VIOLATION);
    assert_eq!(c.copied_back, 0);
    assert!(c.iosb_written);
    let sb = m.user_read(app, iosb, 4).unwrap();
    assert_eq!(
        u32::from_le_bytes(sb.try_into().unwrap()),
        NtStatus::ACCESS_VIOLATION.0
    );
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::CopyBackFaulted)
    );
    assert_clean(&m);
}

/// Seed 004 (same claim, protection instead of free): a buffer made read-only while the
/// request is outstanding fails the copy-back with STATUS_ACCESS_VIOLATION, no crash.
#[test]
fn copy_back_to_a_buffer_protected_read_only_fails_with_access_violation() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    m.user_write(app, out, &[1; 16]).unwrap();
    let r = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    m.virtual_protect(app, out, 0x1000, Protection::ReadOnly)
        .unwrap();
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert_eq!(
        m.io_completion_of(r.irp.unwrap()).unwrap().status,
        NtStatus::ACCESS_VIOLATION
    );
    assert_eq!(m.user_read(app, out, 16).unwrap(), vec![1; 16]);
    assert_clean(&m);
}

/// Positive control: with the buffer intact, the copy-back delivers exactly the driver's bytes.
#[test]
fn copy_back_delivers_exactly_information_bytes() {
    let mut m = machine();
    let dev = completer_device(&mut m, NtStatus::SUCCESS, 6, false);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    m.user_write(app, out, &[0x55; 16]).unwrap();
    let r = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    let got = m.user_read(app, out, 16).unwrap();
    assert_eq!(&got[..6], b"DRIVER");
    assert_eq!(
        &got[6..],
        &[0x55; 10],
        "bytes past Information are untouched"
    );
    assert_clean(&m);
}

/// Semantics §5.7: warnings such as STATUS_BUFFER_OVERFLOW do copy back; errors and
/// STATUS_VERIFY_REQUIRED do not.
#[test]
fn copy_back_happens_for_warnings_but_not_for_errors_or_verify_required() {
    for (status, copies) in [
        (NtStatus::BUFFER_OVERFLOW, true),
        (NtStatus::UNSUCCESSFUL, false),
        (NtStatus::VERIFY_REQUIRED, false),
    ] {
        let mut m = machine();
        let dev = completer_device(&mut m, status, 6, false);
        let (app, tid) = app(&mut m, "app");
        let out = alloc(&mut m, app, 0x1000);
        m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
        let got = m.user_read(app, out, 6).unwrap();
        assert_eq!(got == b"DRIVER", copies, "{status}");
        assert_clean(&m);
    }
}

/// Semantics §5.7 / invariant 28: Information larger than the caller's buffer is copied
/// anyway (not clamped), overwriting the caller's neighbouring bytes with pool bytes —
/// reported as a driver bug.
#[test]
fn information_larger_than_the_callers_buffer_is_reported_and_not_clamped() {
    let mut m = machine();
    let dev = completer_device(&mut m, NtStatus::SUCCESS, 64, false);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    m.user_write(app, out, &[0x55; 64]).unwrap();
    m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    let ev: Vec<_> = m
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::InformationExceedsBuffer)
        .collect();
    assert_eq!(ev.len(), 1);
    let got = m.user_read(app, out, 64).unwrap();
    assert_eq!(&got[..6], b"DRIVER");
    assert_ne!(
        &got[16..],
        &[0x55; 48][..],
        "the caller's bytes past its buffer were overwritten"
    );
    // Bytes 16..64 of the caller's page now came from system space (the pool), not the app.
    let labels = m.labels(SpaceId::Process(app), at(out, 16), 48).unwrap();
    assert!(labels.iter().all(|s| !matches!(
        s.label,
        mdlsim::shadow::Label::Origin {
            space: SpaceId::Process(_),
            ..
        }
    )));
    assert_clean(&m);
}

/// Negative control for the event: Information within the buffer raises no event.
#[test]
fn information_within_the_buffer_reports_nothing() {
    let mut m = machine();
    let dev = completer_device(&mut m, NtStatus::SUCCESS, 16, false);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    assert!(m.events().is_empty());
}

/// Semantics §7: completing an IRP twice is MULTIPLE_IRP_COMPLETE_REQUESTS (0x44) with P1 the IRP.
#[test]
fn double_completion_bug_checks_0x44_naming_the_irp() {
    let mut m = machine();
    let dev = completer_device(&mut m, NtStatus::SUCCESS, 0, true);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let e = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap_err();
    let b = e.bug_check().unwrap();
    assert_eq!(b.code, BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS);
    let irp = m.irps().next().unwrap().0;
    assert_eq!(b.params[0], irp.address());
    assert!(m.crashed().is_some());
    assert!(m.audit().is_empty());
}

/// Double completion after the IRP was already freed is still 0x44 (the handle is known to
/// be a completed IRP).
#[test]
fn completing_an_irp_after_it_was_freed_bug_checks_0x44() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    let e = m.io_complete_request(r.irp.unwrap()).unwrap_err();
    assert_eq!(
        e.bug_check().unwrap().code,
        BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS
    );
}

/// Forwards the IRP to its own device again without a free stack location.
#[derive(Debug)]
struct OverForwarder;

impl Driver for OverForwarder {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        k.io_call_driver(d, irp)
    }
}

/// Semantics §7: IoCallDriver past the last stack location is NO_MORE_IRP_STACK_LOCATIONS (0x35).
#[test]
fn forwarding_past_the_last_stack_location_bug_checks_0x35() {
    let mut m = machine();
    let d = m
        .io_register_driver("over", Arc::new(OverForwarder))
        .unwrap();
    let dev = m.io_create_device(d, "\\Device\\Over", 0).unwrap();
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let e = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap_err();
    assert_eq!(
        e.bug_check().unwrap().code,
        BugCheckCode::NO_MORE_IRP_STACK_LOCATIONS
    );
}

/// Invariant 27: completing with STATUS_PENDING is the checked build's ASSERT.
#[test]
fn completing_with_status_pending_is_an_assert_in_a_checked_build() {
    let mut m = Machine::new(Config::default().kernel_build(KernelBuild::Checked)).unwrap();
    let dev = completer_device(&mut m, NtStatus::PENDING, 0, false);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let e = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap_err();
    let b = e.bug_check().unwrap();
    assert_eq!(b.code, BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED);
    assert!(b.detail.contains("STATUS_PENDING"));
}

/// Invariant 27 in a free build (the default): the IRP completes, the caller's IOSB
/// reads STATUS_PENDING, and the misuse is the event `CompletedWithStatusPending`.
#[test]
fn completing_with_status_pending_in_a_free_build_completes_and_is_an_event() {
    let mut m = machine();
    let dev = completer_device(&mut m, NtStatus::PENDING, 0, false);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    assert!(m.crashed().is_none());
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::CompletedWithStatusPending)
    );
    assert_eq!(m.irps().count(), 0, "the IRP was completed and freed");
}

/// Returns STATUS_PENDING without IoMarkIrpPending, completing later.
#[derive(Debug)]
struct Unmarked;

impl Driver for Unmarked {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        k.io_queue_push(d, irp)?;
        Ok(NtStatus::PENDING)
    }
}

/// STATUS_PENDING without IoMarkIrpPending is reported (Verifier 0xC9/0x23D, non-fatal).
#[test]
fn pending_without_io_mark_irp_pending_is_reported() {
    let mut m = machine();
    let d = m
        .io_register_driver("unmarked", Arc::new(Unmarked))
        .unwrap();
    let dev = m.io_create_device(d, "\\Device\\U", 0).unwrap();
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::PendingNotMarked)
    );
}

/// Semantics §5.6: a probe that raises returns its code; no IRP, MDL or buffer is left.
#[test]
fn direct_read_into_an_unallocated_buffer_returns_access_violation_and_leaks_nothing() {
    let mut m = machine();
    let dev = pattern_device(&mut m, DO_DIRECT_IO);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    m.virtual_free(app, out, 0, MEM_RELEASE).unwrap();
    let r = m.nt_read_file(tid, dev, None, out, 0x100, 0).unwrap();
    assert_eq!(r.status, NtStatus::ACCESS_VIOLATION);
    assert_eq!(r.irp, None);
    assert!(
        m.device(dev).unwrap().extension.records.is_empty(),
        "nothing was sent"
    );
    assert_clean(&m);
}

/// Semantics §5.6: a faulting copy-in of a buffered write frees the SystemBuffer.
#[test]
fn buffered_write_from_a_bad_buffer_returns_access_violation_and_frees_the_system_buffer() {
    let mut m = machine();
    let dev = pattern_device(&mut m, DO_BUFFERED_IO);
    let (app, tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x2000);
    m.virtual_protect(app, at(b, 0x1000), 0x1000, Protection::NoAccess)
        .unwrap();
    let r = m
        .nt_write_file(tid, dev, None, at(b, 0xF00), 0x200, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::ACCESS_VIOLATION);
    assert_clean(&m);
}

/// Semantics §5.6 / invariant 5: a range above MM_USER_PROBE_ADDRESS fails the probe.
#[test]
fn a_kernel_address_as_user_buffer_fails_the_probe() {
    let mut m = machine();
    let (_app, tid) = app(&mut m, "app");
    for kind in KINDS {
        let dev = pattern_device(&mut m, kind);
        let r = m
            .nt_read_file(
                tid,
                dev,
                None,
                mdlsim::addr::Va::new(0xFFFF_8000_0000_0000),
                16,
                0,
            )
            .unwrap();
        assert_eq!(r.status, NtStatus::ACCESS_VIOLATION);
        let r = m
            .nt_device_io_control_file(
                tid,
                dev,
                None,
                0x22_2000,
                Some(mdlsim::addr::Va::new(0x7FF_FFFF_FFF0)),
                0x100,
                None,
                0,
            )
            .unwrap();
        assert_eq!(r.status, NtStatus::ACCESS_VIOLATION);
    }
    assert_clean(&m);
}

/// A filter whose completion routine takes the IRP back (STATUS_MORE_PROCESSING_REQUIRED).
#[derive(Debug)]
struct Reclaimer;

impl Driver for Reclaimer {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let lower = k.device(d)?.lower.unwrap();
        k.io_copy_current_irp_stack_location_to_next(irp)?;
        k.io_set_completion_routine(irp, d, 7, true, true, true)?;
        k.io_call_driver(lower, irp)?;
        // The routine stopped completion; we own the IRP again and finish it.
        k.device_mut(d)?
            .extension
            .counters
            .insert("reclaimed".into(), 1);
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }

    fn completion(
        &self,
        k: &mut Kernel<'_>,
        d: DeviceId,
        _irp: IrpId,
        ctx: u64,
    ) -> Result<NtStatus> {
        assert_eq!(ctx, 7);
        k.device_mut(d)?
            .extension
            .counters
            .insert("routine".into(), 1);
        Ok(NtStatus::MORE_PROCESSING_REQUIRED)
    }
}

/// Semantics §5.7 stage 1 step 2: STATUS_MORE_PROCESSING_REQUIRED stops completion; the
/// driver may complete the IRP again afterwards (not a double completion), and the
/// request then finishes normally.
#[test]
fn more_processing_required_stops_completion_and_the_driver_completes_again() {
    let mut m = machine();
    let dev = pattern_device(&mut m, DO_DIRECT_IO);
    let d = m
        .io_register_driver("reclaimer", Arc::new(Reclaimer))
        .unwrap();
    let f = m.io_create_device(d, "\\Device\\R", 0).unwrap();
    m.io_attach_device_to_device_stack(f, dev).unwrap();
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x3000);
    let r = m
        .nt_read_file(tid, dev, None, at(out, 0x10), 0x2000, 0)
        .unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    let c = &m.device(f).unwrap().extension.counters;
    assert_eq!((c["routine"], c["reclaimed"]), (1, 1));
    assert_eq!(
        m.user_read(app, at(out, 0x10), 0x2000).unwrap(),
        pattern(0x2000)
    );
    assert_clean(&m);
}

/// Semantics §5.7 stage 2 step 3: a synchronous error is returned by the service and the
/// IOSB is not written; an error completed after STATUS_PENDING is written to the IOSB.
#[test]
fn iosb_is_written_for_async_errors_but_not_for_synchronous_ones() {
    let mut m = machine();
    let dev = completer_device(&mut m, NtStatus::UNSUCCESSFUL, 0, false);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let iosb = alloc(&mut m, app, 0x1000);
    m.user_write(app, iosb, &[0xCC; 16]).unwrap();
    let r = m.nt_read_file(tid, dev, Some(iosb), out, 16, 0).unwrap();
    assert_eq!(r.status, NtStatus::UNSUCCESSFUL);
    assert_eq!(
        m.user_read(app, iosb, 16).unwrap(),
        vec![0xCC; 16],
        "synchronous error: untouched"
    );
    // Asynchronous: pended, then cancelled.
    let q = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::None);
    let r = m.nt_read_file(tid, q, Some(iosb), out, 16, 0).unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    m.io_cancel_irp(r.irp.unwrap()).unwrap();
    let sb = m.user_read(app, iosb, 4).unwrap();
    assert_eq!(
        u32::from_le_bytes(sb.try_into().unwrap()),
        NtStatus::CANCELLED.0
    );
    assert_clean(&m);
}

/// Invariant 27: an IRP is freed only when off its thread's list (Verifier 0xC9/0x20C).
#[test]
fn freeing_an_irp_still_queued_to_its_thread_is_a_verifier_violation() {
    let mut m = machine();
    let q = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, q, None, out, 16, 0).unwrap();
    let e = m.io_free_irp(r.irp.unwrap()).unwrap_err();
    let b = e.bug_check().unwrap();
    assert_eq!(b.code, BugCheckCode::DRIVER_VERIFIER_IOMANAGER_VIOLATION);
    assert_eq!(
        b.params[0],
        mdlsim::bugcheck::io_verifier::FREE_IRP_QUEUED_TO_THREAD
    );
}

#[test]
fn a_driver_allocated_irp_is_reclaimed_by_its_completion_routine_and_freed_by_its_owner() {
    use mdlsim::io::{IRP_MJ_WRITE, Parameters, StackLocation};
    let mut m = machine();
    let target = pattern_device(&mut m, 0);
    let d = m
        .io_register_driver("originator", Arc::new(Originator))
        .unwrap();
    let me = m.io_create_device(d, "\\Device\\O", 0).unwrap();
    let buf = m
        .ex_allocate_pool_with_tag(
            mdlsim::pool::PoolType::NonPaged,
            64,
            mdlsim::pool::tag(b"Orig"),
        )
        .unwrap()
        .unwrap();
    m.kernel_write(buf, &[9; 64]).unwrap();
    let irp = m.io_allocate_irp(1).unwrap();
    m.irp_mut(irp).unwrap().user_buffer = Some(buf);
    m.io_set_next_irp_stack_location(
        irp,
        StackLocation {
            major_function: IRP_MJ_WRITE,
            parameters: Parameters::Write {
                length: 64,
                byte_offset: 0,
            },
            ..StackLocation::default()
        },
    )
    .unwrap();
    m.io_set_completion_routine(irp, me, 0, true, true, true)
        .unwrap();
    assert_eq!(m.io_call_driver(target, irp).unwrap(), NtStatus::SUCCESS);
    assert_eq!(m.device(me).unwrap().extension.counters["done"], 1);
    assert_eq!(
        m.device(target).unwrap().extension.records[0].input,
        vec![9; 64]
    );
    assert_eq!(m.irp(irp).unwrap().io_status.information, 64);
    m.io_free_irp(irp).unwrap();
    m.ex_free_pool_with_tag(buf, mdlsim::pool::tag(b"Orig"))
        .unwrap();
    assert_clean(&m);
}

/// Negative control for the I/O hazards: a driver that frees the SystemBuffer the I/O
/// manager still owns (IRP_DEALLOCATE_BUFFER) is reported by `hazards()` while the IRP is
/// outstanding (the books still balance, so `audit()` stays clean); the driver then writes
/// its data into the freed pool page (0x50).
#[test]
fn audit_catches_a_system_buffer_freed_behind_the_io_managers_back() {
    let mut m = machine();
    let q = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, q, None, out, 16, 0).unwrap();
    assert!(m.audit().is_empty(), "positive control");
    let sb = m.irp(r.irp.unwrap()).unwrap().system_buffer.unwrap();
    m.ex_free_pool(sb).unwrap();
    assert!(m.audit().is_empty(), "{:?}", m.audit());
    let h = m.hazards();
    assert!(
        h.iter()
            .any(|h| h.kind == mdlsim::audit::HazardKind::IrpSystemBufferFreed),
        "{h:?}"
    );
    let e = QueueDriver::complete_next(&mut m.kernel(), q, QueueDriverBug::None).unwrap_err();
    assert_eq!(
        e.bug_check().unwrap().code,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA
    );
}
