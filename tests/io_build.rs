//! Kernel-built IRPs: IoBuildDeviceIoControlRequest, IoBuildSynchronousFsdRequest
//! (semantics §5.4).

mod io_common;
use io_common::*;
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::io::drivers::QueueDriverBug;
use mdlsim::io::ioctl::*;
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO, IRP_MJ_READ, IrpFlags};
use mdlsim::pool::{PoolType, tag};
use mdlsim::status::NtStatus;
use mdlsim::vm::MEM_RELEASE;

const TAG: u32 = tag(b"Test");

/// From a system thread: METHOD_BUFFERED and METHOD_OUT_DIRECT requests over pool buffers
/// move the right bytes (stage 2 runs in system context) and leave nothing behind.
#[test]
fn system_thread_ioctls_over_pool_buffers_move_the_right_bytes() {
    for method in [
        METHOD_BUFFERED,
        METHOD_OUT_DIRECT,
        METHOD_IN_DIRECT,
        METHOD_NEITHER,
    ] {
        let mut m = machine();
        let dev = pattern_device(&mut m, 0);
        m.switch_to(None).unwrap();
        let inb = m
            .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x30, TAG)
            .unwrap()
            .unwrap();
        let out = m
            .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x2000, TAG)
            .unwrap()
            .unwrap();
        m.kernel_write(inb, &[3; 0x30]).unwrap();
        m.kernel_write(out, &[0xEE; 0x2000]).unwrap();
        let code = ctl_code(FILE_DEVICE_UNKNOWN, 0x801, method, FILE_ANY_ACCESS);
        let irp = m
            .io_build_device_io_control_request(
                code,
                dev,
                Some(inb),
                0x30,
                Some(out),
                0x2000,
                false,
                None,
            )
            .unwrap()
            .unwrap();
        let i = m.irp(irp).unwrap().clone();
        assert_eq!(i.requestor_mode, mdlsim::mdl::AccessMode::KernelMode);
        assert_eq!(i.thread, None);
        assert_eq!(
            i.mdl_address.is_some(),
            method == METHOD_IN_DIRECT || method == METHOD_OUT_DIRECT
        );
        assert_eq!(m.io_call_driver(dev, irp).unwrap(), NtStatus::SUCCESS);
        let rec = m.device(dev).unwrap().extension.records[0].clone();
        assert_eq!(&rec.input[..0x30], &[3; 0x30][..], "{method}");
        let got = m.kernel_read(out, 0x2000).unwrap();
        if method == METHOD_IN_DIRECT {
            assert_eq!(got, vec![0xEE; 0x2000]);
        } else {
            assert_eq!(got, pattern(0x2000), "{method}");
        }
        m.ex_free_pool_with_tag(inb, TAG).unwrap();
        m.ex_free_pool_with_tag(out, TAG).unwrap();
        assert_clean(&m);
    }
}

/// Semantics §5.7 step 6: only a cancelled IRP that no thread owns is cleaned up. A
/// system thread still owns the request it built, so a cancelled one gets its stage 2:
/// the IOSB says STATUS_CANCELLED (the caller waiting on it is released), nothing is
/// copied back.
#[test]
fn a_cancelled_request_of_a_system_thread_still_gets_its_stage_2() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::None);
    m.switch_to(None).unwrap();
    let out = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x100, TAG)
        .unwrap()
        .unwrap();
    let iosb = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x10, TAG)
        .unwrap()
        .unwrap();
    m.kernel_write(out, &[0xEE; 0x100]).unwrap();
    m.kernel_write(iosb, &[0xFF; 0x10]).unwrap();
    let code = ctl_code(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);
    let irp = m
        .io_build_device_io_control_request(code, dev, None, 0, Some(out), 0x100, false, Some(iosb))
        .unwrap()
        .unwrap();
    assert_eq!(m.io_call_driver(dev, irp).unwrap(), NtStatus::PENDING);
    assert!(m.io_cancel_irp(irp).unwrap());
    let c = m.io_completion_of(irp).unwrap().clone();
    assert_eq!(c.status, NtStatus::CANCELLED);
    assert!(!c.cleaned_up, "{c:?}");
    assert!(c.iosb_written, "{c:?}");
    assert_eq!(c.copied_back, 0);
    let status = m.kernel_read(iosb, 4).unwrap();
    assert_eq!(
        u32::from_le_bytes(status.try_into().unwrap()),
        NtStatus::CANCELLED.0
    );
    assert_eq!(m.kernel_read(out, 0x100).unwrap(), vec![0xEE; 0x100]);
    m.ex_free_pool_with_tag(out, TAG).unwrap();
    m.ex_free_pool_with_tag(iosb, TAG).unwrap();
    assert_clean(&m);
}

/// Semantics §5.4: "probe in KernelMode ... failures return NULL" — nothing is left.
#[test]
fn a_kernel_mode_probe_failure_returns_null_and_leaks_nothing() {
    let mut m = machine();
    let dev = pattern_device(&mut m, 0);
    let (app, _tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x1000);
    m.virtual_free(app, b, 0, MEM_RELEASE).unwrap();
    m.switch_to(Some(app)).unwrap();
    let code = ctl_code(FILE_DEVICE_UNKNOWN, 1, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
    let r = m
        .io_build_device_io_control_request(code, dev, None, 0, Some(b), 0x10, false, None)
        .unwrap();
    assert_eq!(r, None);
    assert_clean(&m);
}

/// Semantics §5.4: "a NULL-length output with a non-NULL pointer would hit the
/// IoAllocateMdl Length ASSERT".
#[test]
fn a_non_null_output_pointer_with_zero_length_hits_the_io_allocate_mdl_assert() {
    let mut m = machine();
    let dev = pattern_device(&mut m, 0);
    let out = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x10, TAG)
        .unwrap()
        .unwrap();
    let code = ctl_code(FILE_DEVICE_UNKNOWN, 1, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
    let e = m
        .io_build_device_io_control_request(code, dev, None, 0, Some(out), 0, false, None)
        .unwrap_err();
    assert_eq!(
        e.bug_check().unwrap().code,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED
    );
}

/// From a user thread's context, the kernel-built IRP is queued to that thread.
#[test]
fn a_request_built_in_a_user_threads_context_is_queued_to_that_thread() {
    let mut m = machine();
    let q = queue_device(
        &mut m,
        DO_BUFFERED_IO,
        mdlsim::io::drivers::QueueDriverBug::None,
    );
    let (app, tid) = app(&mut m, "app");
    m.switch_to(Some(app)).unwrap();
    assert_eq!(m.current_thread(), Some(tid));
    let out = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x40, TAG)
        .unwrap()
        .unwrap();
    let irp = m
        .io_build_synchronous_fsd_request(IRP_MJ_READ, q, out, 0x40, 0, None)
        .unwrap()
        .unwrap();
    assert_eq!(m.thread_irps(tid), vec![irp]);
    assert_eq!(m.io_call_driver(q, irp).unwrap(), NtStatus::PENDING);
    mdlsim::io::drivers::QueueDriver::complete_next(
        &mut m.kernel(),
        q,
        mdlsim::io::drivers::QueueDriverBug::None,
    )
    .unwrap();
    assert_eq!(
        m.kernel_read(out, 0x40).unwrap(),
        pattern(0x40),
        "copied back in stage 2"
    );
    m.ex_free_pool_with_tag(out, TAG).unwrap();
    assert_clean(&m);
}

/// IoBuildSynchronousFsdRequest builds per the target's buffering flags.
#[test]
fn synchronous_fsd_requests_follow_the_target_devices_buffering_method() {
    for kind in KINDS {
        let mut m = machine();
        let dev = pattern_device(&mut m, kind);
        let out = m
            .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x1800, TAG)
            .unwrap()
            .unwrap();
        let irp = m
            .io_build_synchronous_fsd_request(IRP_MJ_READ, dev, out, 0x1800, 0, None)
            .unwrap()
            .unwrap();
        let i = m.irp(irp).unwrap().clone();
        match kind {
            DO_BUFFERED_IO => assert_eq!(
                i.flags,
                IrpFlags::BUFFERED_IO | IrpFlags::DEALLOCATE_BUFFER | IrpFlags::INPUT_OPERATION
            ),
            DO_DIRECT_IO => assert!(i.mdl_address.is_some()),
            _ => assert_eq!(i.user_buffer, Some(out)),
        }
        m.io_call_driver(dev, irp).unwrap();
        assert_eq!(m.kernel_read(out, 0x1800).unwrap(), pattern(0x1800));
        m.ex_free_pool_with_tag(out, TAG).unwrap();
        assert_clean(&m);
    }
}
