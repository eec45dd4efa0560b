//! Every behavioural statement of seeds 001 ("Errors in Direct I/O") and 004 (buffer and
//! MDL ownership) as a test; each doc comment quotes the claim. Seed 003 is in
//! io_fltmgr.rs; the rundown claims of seed 004 are also in io_rundown.rs.

mod io_common;
use io_common::*;
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::events::EventKind;
use mdlsim::fault::Result;
use mdlsim::io::drivers::{QueueDriver, QueueDriverBug};
use mdlsim::io::ioctl::*;
use mdlsim::io::{
    ApcDelivery, DO_DIRECT_IO, DeviceId, Driver, IO_SYSTEM_BUFFER_TAG, IoStatusBlock, IrpId,
};
use mdlsim::machine::{Kernel, Machine};
use mdlsim::mdl::priority;
use mdlsim::pfn::PageState;
use mdlsim::process::ProcessState;
use mdlsim::space::SpaceId;
use mdlsim::status::NtStatus;
use mdlsim::vm::MEM_RELEASE;
use std::sync::Arc;

fn ioctl(method: u32) -> u32 {
    ctl_code(FILE_DEVICE_UNKNOWN, 0x900, method, FILE_ANY_ACCESS)
}

/// A naive driver: maps `Irp->MdlAddress` without checking for NULL.
#[derive(Debug)]
struct NaiveDirect;

impl Driver for NaiveDirect {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let mdl = k.irp(irp)?.mdl_address;
        let _ = k.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)?;
        k.irp_mut(irp)?.io_status = IoStatusBlock::default();
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

// ----- seed 001 -------------------------------------------------------------------------

/// Seed 001: "Because the I/O manager does not create MDLs for zero-length transfers, a
/// zero-length buffer results in a NULL value at Irp->MdlAddress."
#[test]
fn zero_length_direct_io_gives_a_null_mdl_address() {
    let mut m = machine();
    let dev = pattern_device(&mut m, DO_DIRECT_IO);
    let (app, tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x1000);
    m.nt_read_file(tid, dev, None, b, 0, 0).unwrap();
    m.nt_write_file(tid, dev, None, b, 0, 0).unwrap();
    m.nt_device_io_control_file(
        tid,
        dev,
        None,
        ioctl(METHOD_OUT_DIRECT),
        None,
        0,
        Some(b),
        0,
    )
    .unwrap();
    m.nt_device_io_control_file(tid, dev, None, ioctl(METHOD_IN_DIRECT), None, 0, Some(b), 0)
        .unwrap();
    let recs = &m.device(dev).unwrap().extension.records;
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r.mdl.is_none()));
    assert_clean(&m);
}

/// Seed 001: drivers "should always check for a NULL" — a driver that maps a NULL
/// MdlAddress dereferences NULL (the model's reading: MmGetSystemAddressForMdlSafe reads
/// MdlFlags first, so a NULL MDL crashes rather than returning NULL).
#[test]
fn a_driver_that_maps_a_null_mdl_address_crashes_on_zero_length_io() {
    let mut m = machine();
    let d = m
        .io_register_driver("naive", Arc::new(NaiveDirect))
        .unwrap();
    let dev = m
        .io_create_device(d, "\\Device\\Naive", DO_DIRECT_IO)
        .unwrap();
    let (app, tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x1000);
    m.nt_read_file(tid, dev, None, b, 1, 0).unwrap(); // positive control: fine with a byte
    let e = m.nt_read_file(tid, dev, None, b, 0, 0).unwrap_err();
    assert_eq!(
        e.bug_check().unwrap().code,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED
    );
}

/// Pends a direct request; the test then plays the driver on the pended IRP.
fn pended_direct(
    method: u32,
    off: u64,
    len: u32,
) -> (
    Machine,
    DeviceId,
    mdlsim::space::Pid,
    mdlsim::addr::Va,
    IrpId,
) {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let b = at(alloc(&mut m, app, 0x4000), off);
    m.user_write(app, b, &vec![b'a'; len as usize]).unwrap();
    let r = m
        .nt_device_io_control_file(tid, dev, None, ioctl(method), None, 0, Some(b), len)
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    (m, dev, app, b, r.irp.unwrap())
}

fn map(m: &mut Machine, irp: IrpId) -> mdlsim::addr::Va {
    let mdl = m.irp(irp).unwrap().mdl_address;
    m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
        .unwrap()
        .unwrap()
}

/// Seed 001: "The offset into the virtual page of the user's address becomes the offset
/// into the system page."
#[test]
fn the_user_page_offset_becomes_the_system_page_offset() {
    for off in [0u64, 1, 0x200, 0xFFF] {
        let (mut m, dev, _app, b, irp) = pended_direct(METHOD_OUT_DIRECT, off, 0x1000);
        let sys = map(&mut m, irp);
        assert!(sys.is_system());
        assert_eq!(sys.byte_offset(), b.byte_offset());
        QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
        assert_clean(&m);
    }
}

/// Seed 001: "Unless a caller's buffer is allocated near the end of a page, data written
/// beyond the end of the buffer will nevertheless appear in the buffer [page], and the
/// caller will be unaware that any error has occurred."
#[test]
fn writing_past_the_end_of_a_mid_page_buffer_silently_lands_in_the_callers_page() {
    let (mut m, dev, app, b, irp) = pended_direct(METHOD_OUT_DIRECT, 0x100, 0x100);
    m.user_write(app, at(b, 0x100), b"neighbour").unwrap();
    let sys = map(&mut m, irp);
    m.kernel_write(at(sys, 0x100), b"OVERRUN!!").unwrap(); // 9 bytes past the end: no fault
    assert!(m.crashed().is_none());
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert_eq!(m.user_read(app, at(b, 0x100), 9).unwrap(), b"OVERRUN!!");
    assert_clean(&m);
}

/// Seed 001: "If the end of the buffer coincides with the end of a page, the system
/// virtual addresses beyond the end could point to anything or could be invalid."
#[test]
fn writing_past_a_page_aligned_buffer_end_touches_an_invalid_system_address() {
    let (mut m, _dev, _app, _b, irp) = pended_direct(METHOD_OUT_DIRECT, 0xF00, 0x100);
    let sys = map(&mut m, irp);
    let e = m.kernel_write(at(sys, 0x100), b"X").unwrap_err();
    assert_eq!(
        e.bug_check().unwrap().code,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA
    );
}

/// Seed 001: "If the calling process has another thread that modifies the user's mapping
/// of the memory, the contents of the system buffer will change ... Two fetches from the
/// same memory location might yield different values." (Seed 004: "an app can change a
/// METHOD_DIRECT buffer while the IRP is outstanding", e.g. memset it to 0xFF.)
#[test]
fn an_app_can_change_a_method_direct_buffer_while_the_irp_is_outstanding() {
    let (mut m, dev, app, b, irp) = pended_direct(METHOD_IN_DIRECT, 0x10, 0x40);
    let sys = map(&mut m, irp);
    let first = m.kernel_read(sys, 0x40).unwrap();
    let t2 = m.create_thread(app).unwrap();
    assert_ne!(t2, m.process(app).unwrap().threads[0]);
    m.user_write(app, b, &[0xFF; 0x40]).unwrap(); // another thread memsets the buffer
    let second = m.kernel_read(sys, 0x40).unwrap();
    assert_eq!(first, vec![b'a'; 0x40]);
    assert_eq!(
        second,
        vec![0xFF; 0x40],
        "the system mapping aliases the user's pages"
    );
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert_clean(&m);
}

/// Seed 001: the PortName example — "another thread in the process can overwrite the
/// buffer as soon as this write operation completes", so the driver's forced terminator
/// is gone when it reads the string.
#[test]
fn a_driver_forced_terminator_can_be_overwritten_by_the_app_before_use() {
    let (mut m, dev, app, b, irp) = pended_direct(METHOD_OUT_DIRECT, 0x10, 0x20);
    let sys = map(&mut m, irp);
    m.kernel_write(at(sys, 0x1E), &[0, 0]).unwrap(); // PortName[Size/2 - 1] = UNICODE_NULL
    m.user_write(app, at(b, 0x1E), b"ZZ").unwrap(); // the other thread
    let s = m.kernel_read(sys, 0x20).unwrap();
    assert!(
        !s.chunks(2).any(|c| c == [0, 0]),
        "no terminator left: RtlInitUnicodeString would run off"
    );
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert_clean(&m);
}

/// Seed 001: "If the driver specifies IoReadAccess, it must not later attempt to write to
/// the system buffer" — METHOD_IN_DIRECT probes for IoReadAccess; a write through its
/// mapping is reported.
#[test]
fn writing_through_an_mdl_probed_for_read_access_is_reported() {
    let (mut m, dev, _app, _b, irp) = pended_direct(METHOD_IN_DIRECT, 0, 0x10);
    let sys = map(&mut m, irp);
    m.kernel_read(sys, 0x10).unwrap();
    assert!(m.events().is_empty(), "reading is fine");
    m.kernel_write(sys, b"x").unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::WriteThroughReadProbedMdl)
    );
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
}

// ----- seed 004 -------------------------------------------------------------------------

fn pended_buffered(
    in_len: u32,
    out_len: u32,
) -> (
    Machine,
    DeviceId,
    mdlsim::space::Pid,
    mdlsim::space::Tid,
    mdlsim::addr::Va,
    mdlsim::addr::Va,
    IrpId,
) {
    let mut m = machine();
    let dev = queue_device(&mut m, 0, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let inb = alloc(&mut m, app, 0x4000);
    let outb = alloc(&mut m, app, 0x4000);
    m.user_write(app, inb, &vec![b'I'; in_len as usize])
        .unwrap();
    let r = m
        .nt_device_io_control_file(
            tid,
            dev,
            None,
            ioctl(METHOD_BUFFERED),
            Some(inb),
            in_len,
            Some(outb),
            out_len,
        )
        .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    (m, dev, app, tid, inb, outb, r.irp.unwrap())
}

/// Seed 004: "the I/O Manager allocates a System Buffer in non-paged pool, the size of
/// which is the greater of the size of the InBuffer and the size of the OutBuffer."
#[test]
fn method_buffered_system_buffer_is_nonpaged_pool_of_max_in_out() {
    for (i, o) in [(10u32, 0x3000u32), (0x3000, 10), (7, 7)] {
        let (m, ..) = pended_buffered(i, o);
        let a: Vec<_> = m.pool_allocations_with_tag(IO_SYSTEM_BUFFER_TAG).collect();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].size, i.max(o) as u64);
        assert!(a[0].va.is_system());
    }
}

/// Seed 004: "If there's an InBuffer specified by the app, and its length is non-zero, the
/// I/O Manager copies the contents of the InBuffer to the System Buffer."
#[test]
fn method_buffered_copies_the_input_into_the_system_buffer() {
    let (mut m, _dev, app, _tid, inb, _outb, irp) = pended_buffered(0x20, 0x40);
    let sb = m.irp(irp).unwrap().system_buffer.unwrap();
    assert_eq!(m.kernel_read(sb, 0x20).unwrap(), vec![b'I'; 0x20]);
    let labels = m.labels(SpaceId::System, sb, 0x20).unwrap();
    assert!(labels.iter().all(|l| matches!(l.label, mdlsim::shadow::Label::Origin { space: SpaceId::Process(p), .. } if p == app)));
    let _ = inb;
}

/// Seed 004: "when the function in A[1] that called into the driver goes out of scope
/// there's no issue" — the input buffer can go away once the call returned: the driver
/// works on the system copy.
#[test]
fn method_buffered_input_can_be_freed_after_the_call_returns() {
    let (mut m, dev, app, _tid, inb, _outb, irp) = pended_buffered(0x20, 0x40);
    m.virtual_free(app, inb, 0, MEM_RELEASE).unwrap();
    let sb = m.irp(irp).unwrap().system_buffer.unwrap();
    assert_eq!(m.kernel_read(sb, 0x20).unwrap(), vec![b'I'; 0x20]);
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert_eq!(m.io_completion_of(irp).unwrap().status, NtStatus::SUCCESS);
    assert_clean(&m);
}

/// Seed 004: "When the app is next ready to run (... The Special Kernel-Mode APC For I/O
/// Completion), the I/O Manager copies the contents of the System Buffer to the app's
/// address space."
#[test]
fn method_buffered_copy_back_happens_in_the_completion_apc() {
    let mut m = machine();
    m.io_set_apc_delivery(ApcDelivery::Deferred).unwrap();
    let dev = queue_device(&mut m, mdlsim::io::DO_BUFFERED_IO, QueueDriverBug::None);
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, dev, None, out, 0x10, 0).unwrap();
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert_eq!(
        m.user_read(app, out, 0x10).unwrap(),
        vec![0; 0x10],
        "not yet: the APC is queued"
    );
    assert_eq!(m.thread_irps(tid), vec![r.irp.unwrap()]);
    m.ke_deliver_apcs(tid).unwrap();
    assert_eq!(m.user_read(app, out, 0x10).unwrap(), pattern(0x10));
    assert_clean(&m);
}

/// Each thread's completion APCs wait for that thread: delivering one thread's leaves
/// another thread's queued, to be delivered when that thread runs.
#[test]
fn delivering_one_threads_completion_apcs_leaves_another_threads_queued() {
    let mut m = machine();
    m.io_set_apc_delivery(ApcDelivery::Deferred).unwrap();
    let dev = queue_device(&mut m, mdlsim::io::DO_BUFFERED_IO, QueueDriverBug::None);
    let (a, ta) = app(&mut m, "a");
    let (b, tb) = app(&mut m, "b");
    let (oa, ob) = (alloc(&mut m, a, 0x1000), alloc(&mut m, b, 0x1000));
    let ra = m.nt_read_file(ta, dev, None, oa, 0x10, 0).unwrap();
    let rb = m.nt_read_file(tb, dev, None, ob, 0x10, 0).unwrap();
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    m.ke_deliver_apcs(ta).unwrap();
    assert_eq!(m.user_read(a, oa, 0x10).unwrap(), pattern(0x10));
    assert!(m.thread_irps(ta).is_empty(), "{:?}", ra.irp);
    assert_eq!(
        m.thread_irps(tb),
        vec![rb.irp.unwrap()],
        "b's APC still queued"
    );
    assert_eq!(m.user_read(b, ob, 0x10).unwrap(), vec![0; 0x10]);
    m.ke_deliver_apcs(tb).unwrap();
    assert_eq!(m.user_read(b, ob, 0x10).unwrap(), pattern(0x10));
    assert_clean(&m);
}

/// Seed 004: "If the user has actually deallocated the memory ... the copy-back would raise
/// an exception ... because it is done in a try/except ... nothing particularly bad would
/// happen... except the Request gets completed with an error that is basically the
/// exception code" (also in io_completion.rs).
#[test]
fn method_buffered_copy_back_to_a_freed_buffer_fails_the_request_nothing_crashes() {
    let (mut m, dev, app, _tid, _inb, outb, irp) = pended_buffered(0x20, 0x40);
    m.virtual_free(app, outb, 0, MEM_RELEASE).unwrap();
    m.irp_mut(irp).unwrap(); // still outstanding
    let i = QueueDriver::claim(&mut m.kernel(), dev, QueueDriverBug::None)
        .unwrap()
        .unwrap();
    m.irp_mut(i).unwrap().io_status = IoStatusBlock {
        status: NtStatus::SUCCESS,
        information: 0x40,
    };
    m.io_complete_request(i).unwrap();
    assert!(m.crashed().is_none());
    assert_eq!(
        m.io_completion_of(irp).unwrap().status,
        NtStatus::ACCESS_VIOLATION
    );
    assert_clean(&m);
}

/// Seed 004: "the I/O Manager locks the pages by calling MmProbeAndLockPages. The
/// reference count on each page is incremented in the PFN" — and "[the driver] maps them
/// into the high half of kernel virtual address space".
#[test]
fn method_direct_locks_the_pages_by_bumping_their_reference_counts() {
    let (mut m, dev, app, b, irp) = pended_direct(METHOD_OUT_DIRECT, 0x80, 0x1800);
    let frames: Vec<_> = m
        .mdl(m.irp(irp).unwrap().mdl_address.unwrap())
        .unwrap()
        .frames()
        .collect();
    assert_eq!(frames.len(), 2);
    for f in &frames {
        assert_eq!(
            m.pfn_entry(*f).unwrap().reference_count,
            2,
            "one for the PTE, one for the lock"
        );
    }
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    let sys = map(&mut m, irp);
    assert!(sys.is_system() && !b.is_system());
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    for f in &frames {
        assert_eq!(m.pfn_entry(*f).unwrap().reference_count, 1);
    }
    assert_clean(&m);
}

/// Seed 004: "the driver completes the Request ... the pages comprising the buffer are
/// unlocked ... And the MDL is torn-down. And… all good."
#[test]
fn method_direct_completion_unlocks_the_pages_and_frees_the_mdl() {
    let (mut m, dev, app, b, irp) = pended_direct(METHOD_OUT_DIRECT, 0x80, 0x1800);
    let mdl = m.irp(irp).unwrap().mdl_address.unwrap();
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    assert!(m.mdl(mdl).is_err(), "the MDL is gone");
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    assert_eq!(m.user_read(app, b, 4).unwrap(), b"aaaa");
    assert_clean(&m);
}

/// Seed 004: "the app can indeed unmap the pages comprising its buffer while the Direct
/// I/O is in progress. But the PFN reference count remains incremented ... it can't be put
/// into the virtual address space of another user-mode process" — and "MmUnlockPages
/// handles the case of the pages not being in the app's space anymore".
#[test]
fn pages_freed_by_the_app_during_direct_io_stay_pinned_and_go_to_nobody_else() {
    let (mut m, dev, app, b, irp) = pended_direct(METHOD_OUT_DIRECT, 0, 0x2000);
    let frames: Vec<_> = m
        .mdl(m.irp(irp).unwrap().mdl_address.unwrap())
        .unwrap()
        .frames()
        .collect();
    m.virtual_free(app, b.page_align(), 0, MEM_RELEASE).unwrap();
    for f in &frames {
        let e = m.pfn_entry(*f).unwrap();
        assert_eq!(
            (e.state, e.reference_count, e.share_count),
            (PageState::Transition, 1, 0)
        );
    }
    // Another process takes lots of memory: never these frames.
    let (other, _) = io_common::app(&mut m, "other");
    let ob = alloc(&mut m, other, 0x40000);
    for i in 0..0x40 {
        m.user_write(other, at(ob, i * 0x1000), b"o").unwrap();
        let f = m
            .translate(SpaceId::Process(other), at(ob, i * 0x1000))
            .unwrap();
        assert!(!frames.contains(&f));
    }
    QueueDriver::complete_next(&mut m.kernel(), dev, QueueDriverBug::None).unwrap();
    for f in &frames {
        assert!(matches!(
            m.pfn_entry(*f).unwrap().state,
            PageState::Free | PageState::Zeroed
        ));
    }
    assert_clean(&m);
}

/// Seed 004: "Between the time the app sends the request, and the time the pages are
/// locked, the app can free the pages. In this case, the I/O will fail."
#[test]
fn a_buffer_freed_before_the_lock_fails_the_io() {
    let mut m = machine();
    let dev = pattern_device(&mut m, 0);
    let (app, tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x2000);
    m.virtual_free(app, b, 0, MEM_RELEASE).unwrap();
    let r = m
        .nt_device_io_control_file(
            tid,
            dev,
            None,
            ioctl(METHOD_OUT_DIRECT),
            None,
            0,
            Some(b),
            0x100,
        )
        .unwrap();
    assert_eq!(r.status, NtStatus::ACCESS_VIOLATION);
    assert_clean(&m);
}

/// Seed 004: "In the case of an abnormal termination of the process, the OS would free the
/// buffer [Yes?]" — yes, once its I/O has been run down.
#[test]
fn abnormal_termination_frees_the_buffer_after_the_io_is_run_down() {
    let (mut m, _dev, app, b, irp) = pended_direct(METHOD_OUT_DIRECT, 0, 0x2000);
    let frames: Vec<_> = m
        .mdl(m.irp(irp).unwrap().mdl_address.unwrap())
        .unwrap()
        .frames()
        .collect();
    let _ = b;
    m.terminate_process(app).unwrap();
    assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
    for f in &frames {
        assert!(matches!(
            m.pfn_entry(*f).unwrap().state,
            PageState::Free | PageState::Zeroed
        ));
    }
    assert_clean(&m);
}

/// Seed 004: "the process is not allowed to exit until all the IRPs that are owned by each
/// thread in the process have been completed (or the Famous Five Minute Timer has expired)".
#[test]
fn the_process_does_not_finish_exiting_while_its_irp_is_outstanding() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (app, tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x1000);
    m.nt_read_file(tid, dev, None, b, 0x10, 0).unwrap();
    m.ke_set_timer(dev, 299_900, 0).unwrap();
    m.terminate_process(app).unwrap();
    assert_eq!(
        m.now_ms(),
        299_900,
        "it waited for the IRP, just under five minutes"
    );
    assert_eq!(m.process(app).unwrap().state, ProcessState::Deleted);
    assert_clean(&m);
}

/// Seed 004: "If the IRP exceeded the 5 minute clock then the IRP would be completed but
/// the buffer would still be valid, so I could still write to that buffer [Yes?]" — No:
/// "After the Famous Five Minute timer expires, if the IRP is still outstanding… the pages
/// are LOST" — the IRP is not completed, the process is gone, the pages stay locked.
#[test]
fn after_the_five_minute_timer_the_irp_is_not_completed_and_the_pages_are_lost() {
    let mut m = machine();
    let dev = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let (app, tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, dev, None, b, 0x10, 0).unwrap();
    m.terminate_process(app).unwrap();
    let irp = r.irp.unwrap();
    assert!(m.io_completion_of(irp).is_none(), "not completed");
    assert!(m.irp(irp).is_ok());
    assert_eq!(m.process(app).unwrap().state, ProcessState::RundownFailed);
    assert!(
        m.user_write(app, b, b"x").is_err(),
        "nobody can write that buffer any more"
    );
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 1);
}

/// Raises from a dispatch routine without handling it.
#[derive(Debug)]
struct Raiser;

impl Driver for Raiser {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let ub = k.irp(irp)?.user_buffer.unwrap();
        k.kernel_read(ub, 0x10)?; // faults: METHOD_NEITHER pointer not probed, not in try/except
        Ok(NtStatus::SUCCESS)
    }
}

/// Semantics §7: an exception escaping a driver routine is KMODE_EXCEPTION_NOT_HANDLED.
#[test]
fn an_exception_escaping_a_dispatch_routine_bug_checks_0x1e() {
    let mut m = machine();
    let d = m.io_register_driver("raiser", Arc::new(Raiser)).unwrap();
    let dev = m.io_create_device(d, "\\Device\\Raise", 0).unwrap();
    let (_app, tid) = app(&mut m, "app");
    let e = m
        .nt_read_file(
            tid,
            dev,
            None,
            mdlsim::addr::Va::new(0x1_0000_0000),
            0x10,
            0,
        )
        .unwrap_err();
    let b = e.bug_check().unwrap();
    assert_eq!(b.code, BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED);
    assert_eq!(b.params[0], NtStatus::ACCESS_VIOLATION.0 as u64);
}
