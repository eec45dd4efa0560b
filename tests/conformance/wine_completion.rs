//! Wine, `dlls/ntoskrnl.exe/tests/driver.c`, `test_completion` with the dispatch routine
//! `completion_ioctl` and the routine `completion_cb` (run on Windows).
//!
//! An IRP built by `IoBuildDeviceIoControlRequest` for the upper device of a two-device
//! stack, with a completion routine of its originator; the upper driver copies its
//! location down, sets its own completion routine and calls the lower; the lower either
//! completes at once or pends. Each routine records what it saw (`CurrentLocation`,
//! `PendingReturned`, the `Control` of the locations around it) and the test compares
//! with the values the Windows test asserts. Not translated: the reads one location past
//! the top of the stack (`CurrentStackLocation + 1` at the top — outside the IRP in the
//! model), and the NULL `DeviceObject` the originator's routine receives (the model names
//! the device registered with the routine).

use crate::io_common::{alloc, app, machine};
use mdlsim::fault::Result;
use mdlsim::io::ioctl::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, METHOD_NEITHER, ctl_code};
use mdlsim::io::{DeviceId, Driver, IrpId};
use mdlsim::status::NtStatus;
use mdlsim::{Kernel, Machine};
use std::sync::Arc;

/// `SL_INVOKE_ON_CANCEL | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_SUCCESS`.
const INVOKE_ALL: u64 = 0xE0;

/// Records `key = value` in `device`'s extension.
fn note(k: &mut Kernel<'_>, device: DeviceId, key: &str, value: u64) -> Result<()> {
    k.device_mut(device)?
        .extension
        .counters
        .insert(key.into(), value);
    Ok(())
}

/// `(CurrentLocation, PendingReturned, Control of location n)` for n from 1 (the lowest).
fn seen(k: &mut Kernel<'_>, irp: IrpId) -> Result<(u64, u64, Vec<u64>)> {
    let i = k.irp(irp)?;
    let controls = i.stack.iter().map(|l| l.control as u64).collect();
    Ok((
        i.current_location as u64,
        i.pending_returned as u64,
        controls,
    ))
}

/// Records what a routine saw under `who` in its own device's extension.
fn record(k: &mut Kernel<'_>, d: DeviceId, irp: IrpId, who: &str) -> Result<u64> {
    let (loc, pending, control) = seen(k, irp)?;
    note(k, d, &format!("{who}.location"), loc)?;
    note(k, d, &format!("{who}.pending_returned"), pending)?;
    for (n, c) in control.iter().enumerate() {
        note(k, d, &format!("{who}.control{}", n + 1), *c)?;
    }
    Ok(pending)
}

/// `completion_cb`'s count of calls, per device.
fn count(k: &mut Kernel<'_>, d: DeviceId) -> Result<()> {
    let got = k.device(d)?.extension.counters.get("got").copied();
    note(k, d, "got", got.unwrap_or(0) + 1)
}

/// `completion_ioctl` on the lower device: completes at once, or pends.
#[derive(Debug)]
struct Lower {
    pending: bool,
}

impl Driver for Lower {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        record(k, d, irp, "dispatch")?;
        if self.pending {
            k.io_mark_irp_pending(irp)?;
            return Ok(NtStatus::PENDING);
        }
        k.irp_mut(irp)?.io_status.status = NtStatus::SUCCESS;
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

/// `completion_ioctl` on the upper device (copy the location down, set `completion_cb`,
/// call the lower device), and `completion_cb` for it (mark the IRP pending again when
/// `PendingReturned` and the run asks the upper driver to).
#[derive(Debug)]
struct Upper {
    lower: DeviceId,
    pending: bool,
}

impl Driver for Upper {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        record(k, d, irp, "dispatch")?;
        k.io_copy_current_irp_stack_location_to_next(irp)?;
        k.io_set_completion_routine(irp, d, 0, true, true, true)?;
        k.io_call_driver(self.lower, irp)
    }

    fn completion(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId, _c: u64) -> Result<NtStatus> {
        let pending = record(k, d, irp, "completion")?;
        count(k, d)?;
        if pending == 1 && self.pending {
            k.io_mark_irp_pending(irp)?;
        }
        Ok(NtStatus::SUCCESS)
    }
}

/// The originator's `completion_cb` (the test's own, registered before `IoCallDriver`).
#[derive(Debug)]
struct Originator;

impl Driver for Originator {
    fn dispatch(&self, _k: &mut Kernel<'_>, _d: DeviceId, _irp: IrpId) -> Result<NtStatus> {
        Ok(NtStatus::INVALID_DEVICE_REQUEST)
    }

    fn completion(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId, _c: u64) -> Result<NtStatus> {
        record(k, d, irp, "completion")?;
        count(k, d)?;
        Ok(NtStatus::SUCCESS)
    }
}

/// The devices of one run.
struct Run {
    m: Machine,
    upper: DeviceId,
    lower: DeviceId,
    me: DeviceId,
    irp: IrpId,
    returned: NtStatus,
}

impl Run {
    /// What `device`'s routines recorded under `key`.
    fn seen(&self, device: DeviceId, key: &str) -> Option<u64> {
        self.m
            .device(device)
            .unwrap()
            .extension
            .counters
            .get(key)
            .copied()
    }

    /// `completion_cb`'s calls so far, all devices.
    fn got(&self) -> u64 {
        [self.upper, self.me]
            .iter()
            .map(|d| self.seen(*d, "got").unwrap_or(0))
            .sum()
    }
}

/// One run: the lower device (StackSize 1), the upper attached on it (StackSize 2), the
/// originator's device; the IRP built for the upper device by the app's thread, with the
/// originator's completion routine, sent.
fn run(lower_pending: bool, upper_pending: bool) -> Run {
    let mut m = machine();
    let (pid, _) = app(&mut m, "winetest");
    let io = alloc(&mut m, pid, 0x1000);
    let drv = m
        .io_register_driver(
            "lower",
            Arc::new(Lower {
                pending: lower_pending,
            }),
        )
        .unwrap();
    let lower = m
        .io_create_device(drv, "\\Device\\WineTestDriver", 0)
        .unwrap();
    let drv = m
        .io_register_driver(
            "upper",
            Arc::new(Upper {
                lower,
                pending: upper_pending,
            }),
        )
        .unwrap();
    let upper = m
        .io_create_device(drv, "\\Device\\WineTestUpper", 0)
        .unwrap();
    m.io_attach_device_to_device_stack(upper, lower).unwrap();
    let drv = m
        .io_register_driver("originator", Arc::new(Originator))
        .unwrap();
    let me = m.io_create_device(drv, "\\Device\\Originator", 0).unwrap();
    m.switch_to(Some(pid)).unwrap();
    let code = ctl_code(FILE_DEVICE_UNKNOWN, 0x80c, METHOD_NEITHER, FILE_ANY_ACCESS);
    let irp = m
        .io_build_device_io_control_request(code, upper, None, 0, None, 0, false, Some(io))
        .unwrap()
        .unwrap();
    m.io_set_completion_routine(irp, me, 0, true, true, true)
        .unwrap();
    let returned = m.io_call_driver(upper, irp).unwrap();
    Run {
        m,
        upper,
        lower,
        me,
        irp,
        returned,
    }
}

/// What every run's dispatch routines see: the upper device at `CurrentLocation` 2 with
/// `PendingReturned` clear, its location's `Control` 0xE0 (the originator's
/// `IoSetCompletionRoutine`) and the next location's 0; the lower at 1, its location
/// 0xE0 (copied, then the upper's routine set) and the upper's still 0xE0.
fn assert_dispatch_saw(r: &Run) {
    let up = |k: &str| r.seen(r.upper, &format!("dispatch.{k}"));
    let low = |k: &str| r.seen(r.lower, &format!("dispatch.{k}"));
    assert_eq!(up("location"), Some(2));
    assert_eq!(up("pending_returned"), Some(0));
    assert_eq!(
        (up("control2"), up("control1")),
        (Some(INVOKE_ALL), Some(0))
    );
    assert_eq!(low("location"), Some(1));
    assert_eq!(low("pending_returned"), Some(0));
    assert_eq!(
        (low("control1"), low("control2")),
        (Some(INVOKE_ALL), Some(INVOKE_ALL))
    );
}

/// What the completion routines see once the lower location completes: the upper's at
/// `CurrentLocation` 2 with `PendingReturned` as the lower driver left it, its location
/// still 0xE0 and the one below cleared (0, `SL_PENDING_RETURNED` included); the
/// originator's at 3 with `PendingReturned` as the upper routine left it, both locations
/// cleared.
fn assert_completion_saw(r: &Run, lower_pending: bool, upper_pending: bool) {
    let up = |k: &str| r.seen(r.upper, &format!("completion.{k}"));
    let me = |k: &str| r.seen(r.me, &format!("completion.{k}"));
    assert_eq!(up("location"), Some(2));
    assert_eq!(up("pending_returned"), Some(lower_pending as u64));
    assert_eq!(
        (up("control2"), up("control1")),
        (Some(INVOKE_ALL), Some(0))
    );
    assert_eq!(me("location"), Some(3));
    assert_eq!(me("pending_returned"), Some(upper_pending as u64));
    assert_eq!((me("control2"), me("control1")), (Some(0), Some(0)));
}

/// Run (a): nothing pends: `IoCallDriver` returns `STATUS_SUCCESS` after both completion
/// routines ran.
#[test]
fn completion_routines_see_the_stack_unwind_when_nothing_pends() {
    let r = run(false, false);
    assert_eq!(r.returned, NtStatus::SUCCESS);
    assert_eq!(r.got(), 2);
    assert_dispatch_saw(&r);
    assert_completion_saw(&r, false, false);
}

/// Runs (b) and (c): the lower driver pends: `IoCallDriver` returns `STATUS_PENDING`, no
/// routine ran yet, the IRP is at `CurrentLocation` 1 with `PendingReturned` clear; its
/// completion then runs both routines, the upper seeing `PendingReturned` set, the
/// originator seeing it only if the upper routine marked the IRP pending again.
#[test]
fn completion_routines_see_pending_returned_propagate_only_when_marked_again() {
    for upper_pending in [false, true] {
        let mut r = run(true, upper_pending);
        assert_eq!(r.returned, NtStatus::PENDING);
        assert_eq!(r.got(), 0);
        let i = r.m.irp(r.irp).unwrap();
        assert_eq!((i.current_location, i.pending_returned), (1, false));
        r.m.irp_mut(r.irp).unwrap().io_status.status = NtStatus::SUCCESS;
        r.m.io_complete_request(r.irp).unwrap();
        assert_eq!(r.got(), 2, "upper_pending {upper_pending}");
        assert_dispatch_saw(&r);
        assert_completion_saw(&r, true, upper_pending);
        assert!(r.m.crashed().is_none());
    }
}
