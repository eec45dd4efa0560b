//! The processor's IRQL (semantics §5.9): KeRaiseIrql / KeLowerIrql and spin locks with
//! Driver Verifier's checks, each DDI's IRQL limit, user memory touched at
//! DISPATCH_LEVEL, a service returning to user mode at a raised IRQL, and the IRQL of
//! DPCs and cancel routines.

mod io_common;

use io_common::{alloc, app, machine};
use mdlsim::addr::Va;
use mdlsim::bugcheck::{BugCheckCode, verifier};
use mdlsim::events::EventKind;
use mdlsim::fault::Result;
use mdlsim::io::{DeviceId, Driver, IoStatusBlock, IrpId};
use mdlsim::irql::Kirql;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, priority};
use mdlsim::oracle::BugClass;
use mdlsim::verify_driver::{self, sample::DriverBug};
use mdlsim::{Fault, Kernel, Machine, NtStatus};
use std::sync::{Arc, Mutex};

const LOCK: Va = Va::new(0xFFFF_F800_0020_0000);

fn c4(m: &Machine, r: Result<impl std::fmt::Debug>) -> [u64; 4] {
    let e = r.expect_err("a bug check");
    let b = e.bug_check().expect("a bug check");
    assert_eq!(
        b.code,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        "{b}"
    );
    assert!(m.crashed().is_some());
    b.params
}

#[test]
fn raising_below_or_lowering_above_the_current_irql_is_a_verifier_violation() {
    let mut m = machine();
    let old = m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    assert_eq!(old, Kirql::PASSIVE_LEVEL);
    assert_eq!(m.ke_get_current_irql(), Kirql::DISPATCH_LEVEL);
    let r = m.ke_raise_irql(Kirql::APC_LEVEL);
    assert_eq!(c4(&m, r), [verifier::RAISE_IRQL_INVALID, 2, 1, 0]);

    let mut m = machine();
    let r = m.ke_lower_irql(Kirql::DISPATCH_LEVEL);
    assert_eq!(c4(&m, r), [verifier::LOWER_IRQL_INVALID, 0, 2, 0]);

    let mut m = machine();
    let r = m.ke_raise_irql(Kirql(16));
    assert_eq!(c4(&m, r)[0], verifier::RAISE_IRQL_INVALID);
}

#[test]
fn a_spin_lock_raises_to_dispatch_and_a_second_release_is_caught() {
    let mut m = machine();
    let old = m.ke_acquire_spin_lock(LOCK).unwrap();
    assert_eq!(m.ke_get_current_irql(), Kirql::DISPATCH_LEVEL);
    m.ke_release_spin_lock(LOCK, old).unwrap();
    assert_eq!(m.ke_get_current_irql(), Kirql::PASSIVE_LEVEL);
    let r = m.ke_release_spin_lock(LOCK, old);
    assert_eq!(
        c4(&m, r),
        [
            verifier::RELEASE_SPIN_LOCK_NOT_AT_DISPATCH_LEVEL,
            0,
            LOCK.raw(),
            0
        ]
    );

    let mut m = machine();
    m.ke_raise_irql(Kirql(5)).unwrap();
    let r = m.ke_acquire_spin_lock(LOCK);
    assert_eq!(
        c4(&m, r),
        [
            verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH_LEVEL,
            5,
            LOCK.raw(),
            0
        ]
    );
}

/// A user buffer of one page in `app`, its MDL locked, the app current.
fn locked_user_mdl(m: &mut Machine) -> (Va, mdlsim::MdlId) {
    let (p, _) = app(m, "app");
    let va = alloc(m, p, 0x1000);
    m.switch_to(Some(p)).unwrap();
    let mdl = m
        .io_allocate_mdl(va, 0x1000, false, false, None)
        .unwrap()
        .unwrap();
    m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)
        .unwrap();
    (va, mdl)
}

#[test]
fn each_mdl_routine_has_verifiers_irql_limit() {
    // A user-mode mapping above APC_LEVEL: 0x77.
    let mut m = machine();
    let (_, mdl) = locked_user_mdl(&mut m);
    m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    let r = m.mm_map_locked_pages_specify_cache(
        mdl,
        AccessMode::UserMode,
        CacheType::Cached,
        None,
        false,
        priority::NORMAL,
    );
    assert_eq!(
        c4(&m, r),
        [
            verifier::MAP_SPECIFY_CACHE_USER_ABOVE_APC_LEVEL,
            2,
            mdl.address(),
            1
        ]
    );

    // A kernel mapping at DISPATCH_LEVEL is allowed; above it, 0x76.
    let mut m = machine();
    let (_, mdl) = locked_user_mdl(&mut m);
    let old = m.ke_acquire_spin_lock(LOCK).unwrap();
    let sys = m
        .mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
        .unwrap();
    assert!(sys.is_some());
    m.ke_release_spin_lock(LOCK, old).unwrap();
    m.ke_raise_irql(Kirql(3)).unwrap();
    let r = m.mm_unlock_pages(mdl);
    assert_eq!(
        c4(&m, r),
        [
            verifier::UNLOCK_PAGES_ABOVE_DISPATCH_LEVEL,
            3,
            mdl.address(),
            0
        ]
    );

    // MmProbeAndLockPages above DISPATCH_LEVEL: 0x70.
    let mut m = machine();
    let (p, _) = app(&mut m, "app");
    let va = alloc(&mut m, p, 0x1000);
    m.switch_to(Some(p)).unwrap();
    let mdl = m
        .io_allocate_mdl(va, 16, false, false, None)
        .unwrap()
        .unwrap();
    m.ke_raise_irql(Kirql(4)).unwrap();
    let r = m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess);
    assert_eq!(
        c4(&m, r),
        [
            verifier::PROBE_AND_LOCK_ABOVE_DISPATCH_LEVEL,
            4,
            mdl.address(),
            1
        ]
    );

    // MmProbeAndLockProcessPages above DISPATCH_LEVEL: 0x71.
    let mut m = machine();
    let (p, _) = app(&mut m, "app");
    let va = alloc(&mut m, p, 0x1000);
    let mdl = m
        .io_allocate_mdl(va, 16, false, false, None)
        .unwrap()
        .unwrap();
    m.ke_raise_irql(Kirql(3)).unwrap();
    let r = m.mm_probe_and_lock_process_pages(
        mdl,
        p,
        AccessMode::UserMode,
        LockOperation::IoReadAccess,
    );
    assert_eq!(
        c4(&m, r),
        [
            verifier::PROBE_AND_LOCK_PROCESS_PAGES_ABOVE_DISPATCH_LEVEL,
            3,
            mdl.address(),
            p.eprocess()
        ]
    );

    // Pool above DISPATCH_LEVEL: 0x02 (P3 the pool type: ExAllocatePool2's non-paged
    // pool is NonPagedPoolNx, 512).
    let mut m = machine();
    m.ke_raise_irql(Kirql(3)).unwrap();
    let r = m.ex_allocate_pool2(0, 64, mdlsim::pool::tag(b"Test"));
    assert_eq!(
        c4(&m, r),
        [
            verifier::ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
            3,
            512,
            64
        ]
    );
}

#[test]
fn user_memory_probed_or_touched_under_a_spin_lock_is_recorded() {
    let mut m = machine();
    let (p, _) = app(&mut m, "app");
    let va = alloc(&mut m, p, 0x1000);
    m.switch_to(Some(p)).unwrap();
    let mut k = m.kernel();
    k.try_except(|k| {
        k.probe_for_read(va, 8, 1)?;
        k.kernel_read(va, 8)
    })
    .unwrap()
    .unwrap();
    let old = k.ke_acquire_spin_lock(LOCK).unwrap();
    k.try_except(|k| k.kernel_read(va, 8)).unwrap().unwrap();
    k.ke_release_spin_lock(LOCK, old).unwrap();
    let at_dispatch: Vec<_> = m
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::UserAccessAtRaisedIrql)
        .collect();
    assert_eq!(
        at_dispatch.len(),
        1,
        "only the read under the lock: {at_dispatch:?}"
    );
    assert!(at_dispatch[0].detail.contains("DISPATCH_LEVEL"));
    assert!(m.crashed().is_none());
}

/// An IOCTL handler that takes a spin lock and, with `forget`, returns without releasing
/// it; its timer DPC and cancel routine record the IRQL they ran at.
#[derive(Debug, Default)]
struct Locker {
    forget: bool,
    seen: Mutex<Vec<(&'static str, Kirql)>>,
}

impl Driver for Locker {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let old = k.ke_acquire_spin_lock(LOCK)?;
        if !self.forget {
            k.ke_release_spin_lock(LOCK, old)?;
        }
        if self.forget {
            k.irp_mut(irp)?.io_status = IoStatusBlock {
                status: NtStatus::SUCCESS,
                information: 0,
            };
            k.io_complete_request(irp)?;
            return Ok(NtStatus::SUCCESS);
        }
        k.io_mark_irp_pending(irp)?;
        k.io_queue_push(d, irp)?;
        k.io_set_cancel_routine(irp, Some(d))?;
        k.ke_set_timer(d, 100, 0)?;
        Ok(NtStatus::PENDING)
    }

    fn cancel(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<()> {
        self.seen
            .lock()
            .unwrap()
            .push(("cancel", k.ke_get_current_irql()));
        if !k.io_queue_remove(device, irp)? {
            return Ok(());
        }
        k.irp_mut(irp)?.io_status = IoStatusBlock {
            status: NtStatus::CANCELLED,
            information: 0,
        };
        k.io_complete_request(irp)
    }

    fn timer(&self, k: &mut Kernel<'_>, _d: DeviceId, _c: u64) -> Result<()> {
        self.seen
            .lock()
            .unwrap()
            .push(("timer", k.ke_get_current_irql()));
        Ok(())
    }
}

fn locker(m: &mut Machine, forget: bool) -> (DeviceId, Arc<Locker>) {
    let code = Arc::new(Locker {
        forget,
        ..Locker::default()
    });
    let drv = m.io_register_driver("locker", code.clone()).unwrap();
    (
        m.io_create_device(drv, "\\Device\\Locker", 0).unwrap(),
        code,
    )
}

#[test]
fn a_service_returning_to_user_mode_at_dispatch_level_bug_checks_0x4a() {
    let mut m = machine();
    let (dev, _) = locker(&mut m, true);
    let (p, tid) = app(&mut m, "app");
    let out = alloc(&mut m, p, 0x1000);
    let e = m
        .nt_device_io_control_file(tid, dev, None, 0x0022_2003, None, 0, Some(out), 16)
        .unwrap_err();
    let b = e.bug_check().unwrap();
    assert_eq!(b.code, BugCheckCode::IRQL_GT_ZERO_AT_SYSTEM_SERVICE);
    assert_eq!(b.params, [0, 2, 0, 0]);
    assert!(b.detail.contains("NtDeviceIoControlFile"), "{}", b.detail);
    assert_eq!(
        mdlsim::oracle::classify_fault(&Fault::BugCheck(b.clone())),
        BugClass::IrqlViolation
    );
}

#[test]
fn timer_dpcs_run_at_dispatch_level_and_cancel_routines_at_the_cancellers_irql() {
    let mut m = machine();
    let (dev, code) = locker(&mut m, false);
    let (p, tid) = app(&mut m, "app");
    let out = alloc(&mut m, p, 0x1000);
    let r = m
        .nt_device_io_control_file(tid, dev, None, 0x0022_2003, None, 0, Some(out), 16)
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    assert_eq!(m.ke_get_current_irql(), Kirql::PASSIVE_LEVEL);
    m.io_cancel_irp(r.irp.unwrap()).unwrap();
    m.ke_advance_clock(200).unwrap();
    assert_eq!(m.ke_get_current_irql(), Kirql::PASSIVE_LEVEL);
    let seen = code.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("cancel", Kirql::PASSIVE_LEVEL),
            ("timer", Kirql::DISPATCH_LEVEL)
        ]
    );
}

#[test]
fn a_driver_reading_its_callers_buffer_under_a_spin_lock_is_caught_and_the_correct_one_passes() {
    let config = mdlsim::verify::Config::default()
        .cases(300)
        .seed(5)
        .ignore_env();
    let cx = verify_driver::verify(&DriverBug::ReadsUnderSpinLock.under_test(), &config)
        .expect_err("caught");
    assert!(cx.has(BugClass::IrqlViolation), "{cx}");
    assert!(verify_driver::verify(&DriverBug::None.under_test(), &config).is_ok());
}
