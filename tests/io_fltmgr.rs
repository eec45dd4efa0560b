//! The filter manager and the seed 003 directory-change-notification flow.

mod io_common;
use io_common::*;
use mdlsim::Kernel;
use mdlsim::addr::Va;
use mdlsim::fault::Result;
use mdlsim::io::fltmgr::*;
use mdlsim::io::{
    DeviceId, Driver, IRP_MJ_DIRECTORY_CONTROL, IRP_MN_NOTIFY_CHANGE_DIRECTORY, IrpFlags, IrpId,
};
use mdlsim::machine::Machine;
use mdlsim::mdl::AccessMode;
use mdlsim::shadow::Label;
use mdlsim::space::{Pid, SpaceId, Tid};
use mdlsim::status::NtStatus;
use std::sync::{Arc, Mutex};

/// A file system that pends change notifications as they come (no MDL, no SystemBuffer).
#[derive(Debug)]
struct NotifyFs;

impl Driver for NotifyFs {
    fn dispatch(&self, k: &mut Kernel<'_>, d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        k.io_mark_irp_pending(irp)?;
        k.io_queue_push(d, irp)?;
        Ok(NtStatus::PENDING)
    }
}

#[derive(Clone, Debug, Default)]
struct Seen {
    pre: Option<CallbackData>,
    post: Option<CallbackData>,
    new_buffer: Option<Va>,
    new_buffer_bytes: Vec<u8>,
    directory_bytes: Vec<u8>,
    directory_labels: Vec<mdlsim::shadow::LabelSpan>,
    mdl_bytes: Vec<u8>,
}

/// A PassThrough-like minifilter that looks at the returned data in its post callback,
/// the right way (FltGetNewSystemBufferAddress) and the wrong way (the user
/// DirectoryBuffer, in whatever context the post callback runs), and optionally locks
/// the buffer with its own MDL in the pre callback (the pre-Windows-7 way).
#[derive(Debug, Default)]
struct Watcher {
    seen: Mutex<Seen>,
    lock_in_pre: bool,
}

impl MiniFilter for Watcher {
    fn pre_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PreOpStatus> {
        if self.lock_in_pre {
            k.flt_lock_user_buffer(data)?;
        }
        self.seen.lock().unwrap().pre = Some(data.clone());
        Ok(PreOpStatus::SuccessWithCallback)
    }

    fn post_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PostOpStatus> {
        let mut s = self.seen.lock().unwrap();
        s.post = Some(data.clone());
        let n = data.io_status.information;
        s.new_buffer = k.flt_get_new_system_buffer_address(data)?;
        if let Some(nb) = s.new_buffer {
            s.new_buffer_bytes = k.kernel_read(nb, n)?;
        }
        if let Some(mdl) = k.irp(data.irp)?.mdl_address {
            let sys = k.mm_get_system_address_for_mdl_safe(mdl, 16)?.unwrap();
            s.mdl_bytes = k.kernel_read(sys, n)?;
        }
        if let FltParameters::NotifyDirectory {
            directory_buffer: Some(b),
            ..
        } = data.parameters
        {
            // The wrong way: a user address, dereferenced in the completing thread's context.
            s.directory_bytes = k.kernel_read(b, n).unwrap_or_default();
            let cur = k
                .current_process()
                .map(SpaceId::Process)
                .unwrap_or(SpaceId::System);
            // The test's observer, not the filter: provenance as the filter read it.
            s.directory_labels = k.interleave(|m| m.labels(cur, b, n).unwrap_or_default());
        }
        Ok(PostOpStatus::FinishedProcessing)
    }
}

const RECORD: &[u8; 0x12] = b"\x00\x00\x00\x00\x01\x00\x00\x00\x08\x00\x00\x00n\x00e\x00w\x00";

struct World {
    m: Machine,
    fs: DeviceId,
    app: Pid,
    tid: Tid,
    other: Pid,
    dir_buf: Va,
    watcher: Arc<Watcher>,
}

/// explorer.exe (app) watches a directory; another process (other) makes the change, and
/// the file system completes the notification in that process's thread. `other` has its
/// own memory at the same user address holding its own secret.
fn world(lock_in_pre: bool) -> World {
    let mut m = machine();
    let d = m.io_register_driver("fs", Arc::new(NotifyFs)).unwrap();
    let fs = m
        .io_create_device(d, "\\Device\\HarddiskVolume2", 0)
        .unwrap();
    let flt = m.flt_attach_volume(fs).unwrap();
    assert_eq!(m.device(flt).unwrap().stack_size, 2);
    let watcher = Arc::new(Watcher {
        lock_in_pre,
        ..Watcher::default()
    });
    m.flt_register_filter("PassThrough", 370_000, watcher.clone())
        .unwrap();
    let (other, _) = app(&mut m, "other.exe");
    let (app, tid) = app(&mut m, "explorer.exe");
    let ab = alloc(&mut m, app, 0x2000);
    let ob = alloc(&mut m, other, 0x2000);
    assert_eq!(
        ab, ob,
        "both processes have a buffer at the same user address"
    );
    let dir_buf = at(ab, 0x830);
    m.user_write(other, dir_buf, b"other.exe secret!!").unwrap();
    World {
        m,
        fs,
        app,
        tid,
        other,
        dir_buf,
        watcher,
    }
}

fn notify_and_complete(w: &mut World) -> IrpId {
    let r =
        w.m.nt_notify_change_directory_file(w.tid, w.fs, None, w.dir_buf, 0x800, 0x15)
            .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    let irp = r.irp.unwrap();
    // The change happens in other.exe's thread, which completes the notification.
    w.m.switch_to(Some(w.other)).unwrap();
    let q = w.m.io_queue_pop(w.fs).unwrap().unwrap();
    assert_eq!(q, irp);
    w.m.fs_rtl_notify_full_report_change(irp, RECORD).unwrap();
    irp
}

/// Seed 003: "the FS pends the IRP ... it simply completes the IRP"; "FsRtl ... will
/// simply pend the request as is" — the notification pends with a user buffer and no MDL.
#[test]
fn a_change_notification_pends_with_a_user_buffer_and_no_mdl() {
    let mut w = world(false);
    let r =
        w.m.nt_notify_change_directory_file(w.tid, w.fs, None, w.dir_buf, 0x800, 0x15)
            .unwrap();
    assert_eq!(r.status, NtStatus::PENDING);
    let i = w.m.irp(r.irp.unwrap()).unwrap();
    assert_eq!(
        (i.mdl_address, i.system_buffer, i.user_buffer),
        (None, None, Some(w.dir_buf))
    );
    let pre = w.watcher.seen.lock().unwrap().pre.clone().unwrap();
    assert_eq!(
        (pre.major_function, pre.minor_function),
        (IRP_MJ_DIRECTORY_CONTROL, IRP_MN_NOTIFY_CHANGE_DIRECTORY)
    );
    assert_eq!(
        pre.parameters,
        FltParameters::NotifyDirectory {
            length: 0x800,
            completion_filter: 0x15,
            directory_buffer: Some(w.dir_buf),
            mdl_address: None
        }
    );
}

/// Seed 003: "when it needs to complete it will allocate a system buffer, put it into
/// SystemBuffer and send it back up to the IO manager, which will ... copy it into the
/// user's buffer and then free SystemBuffer" (IRP_DEALLOCATE_BUFFER).
#[test]
fn the_file_system_completes_through_a_new_system_buffer_that_the_io_manager_copies_and_frees() {
    let mut w = world(false);
    let irp = notify_and_complete(&mut w);
    let post = w.watcher.seen.lock().unwrap().post.clone().unwrap();
    assert!(
        post.irp_flags.is_empty(),
        "callback data keeps the pre-operation IRP flags"
    );
    let c = w.m.io_completion_of(irp).unwrap();
    assert_eq!(
        (c.status, c.information, c.copied_back),
        (NtStatus::SUCCESS, 0x12, 0x12)
    );
    assert_eq!(w.m.user_read(w.app, w.dir_buf, 0x12).unwrap(), RECORD);
    assert_clean(&w.m);
}

/// Seed 003: "the parameters that are shown to the minifilter in the postOp callback are
/// the same parameters that it has seen during the preOp callback. Those parameters didn't
/// have anything in SystemBuffer".
#[test]
fn the_post_callback_sees_the_pre_operation_parameters() {
    let mut w = world(false);
    notify_and_complete(&mut w);
    let s = w.watcher.seen.lock().unwrap().clone();
    let (pre, post) = (s.pre.unwrap(), s.post.unwrap());
    assert_eq!(pre.parameters, post.parameters);
    assert_eq!(
        post.parameters,
        FltParameters::NotifyDirectory {
            length: 0x800,
            completion_filter: 0x15,
            directory_buffer: Some(w.dir_buf),
            mdl_address: None
        }
    );
    assert_eq!(post.io_status.information, 0x12);
    assert_eq!(post.requestor_mode, AccessMode::UserMode);
}

/// Seed 003: "A minifilter can detect that this has happened by checking whether the
/// FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER flag is set and ... call the API to get a pointer
/// to that buffer" — flags 0x00180001 exactly as the debugger shows.
#[test]
fn the_post_callback_sees_new_system_buffer_and_flt_get_new_system_buffer_address_returns_it() {
    let mut w = world(false);
    notify_and_complete(&mut w);
    let s = w.watcher.seen.lock().unwrap().clone();
    let post = s.post.unwrap();
    assert_eq!(post.flags, 0x0018_0001);
    assert_eq!(
        post.flags,
        FLTFL_CALLBACK_DATA_IRP_OPERATION
            | FLTFL_CALLBACK_DATA_POST_OPERATION
            | FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER
    );
    assert!(s.new_buffer.unwrap().is_system());
    assert_eq!(
        s.new_buffer_bytes, RECORD,
        "the file system's data, read in any context"
    );
}

/// Seed 003: "the DirectoryBuffer is a user mode address and there is no MDL so the
/// minifilter has no way to get to the actual buffer" — reading it in the post callback,
/// in another process's thread, reads that other process's memory.
#[test]
fn reading_the_user_directory_buffer_in_the_post_callback_reads_the_wrong_process() {
    let mut w = world(false);
    notify_and_complete(&mut w);
    let s = w.watcher.seen.lock().unwrap().clone();
    assert_eq!(w.m.current_process(), Some(w.other));
    assert_eq!(&s.directory_bytes[..], &b"other.exe secret!!"[..]);
    assert_ne!(&s.directory_bytes[..], &RECORD[..]);
    // Provenance proves where the bytes came from: other.exe's own writes.
    assert!(!s.directory_labels.is_empty());
    for span in &s.directory_labels {
        assert!(
            matches!(span.label, Label::Origin { space: SpaceId::Process(p), .. } if p == w.other),
            "{span:?}"
        );
    }
}

/// Negative control: when the requester's own thread completes it, the same read sees
/// the requester's buffer (not yet filled: the copy-back comes after the post callback).
#[test]
fn reading_the_directory_buffer_in_the_requesters_context_reads_the_requester() {
    let mut w = world(false);
    let r =
        w.m.nt_notify_change_directory_file(w.tid, w.fs, None, w.dir_buf, 0x800, 0x15)
            .unwrap();
    w.m.switch_to(Some(w.app)).unwrap();
    let irp = w.m.io_queue_pop(w.fs).unwrap().unwrap();
    w.m.fs_rtl_notify_full_report_change(irp, RECORD).unwrap();
    let s = w.watcher.seen.lock().unwrap().clone();
    assert_eq!(s.directory_bytes, vec![0; 0x12]);
    assert!(s.directory_labels.iter().all(|l| l.label == Label::Zero));
    assert!(w.m.io_completion_of(r.irp.unwrap()).is_some());
}

/// Seed 003: "Pre Win7 this would require that a minifilter that needs to look at the
/// buffer in the post Op to allocate a MDL for the buffer in the preOp" — with an MDL the
/// file system writes through it, no new SystemBuffer appears, and the post callback reads
/// the right bytes through the MDL from any context.
#[test]
fn a_minifilter_that_locks_an_mdl_in_pre_reads_the_right_bytes_and_sees_no_new_system_buffer() {
    let mut w = world(true);
    let irp = notify_and_complete(&mut w);
    let s = w.watcher.seen.lock().unwrap().clone();
    let (pre, post) = (s.pre.unwrap(), s.post.unwrap());
    // FltLockUserBuffer put its MDL in the parameters (and the IRP) and, in a pre
    // callback, made the callback data dirty; the post callback sees the MDL.
    let mdl_of = |d: &CallbackData| match d.parameters {
        FltParameters::NotifyDirectory { mdl_address, .. } => mdl_address,
        _ => None,
    };
    assert!(mdl_of(&pre).is_some());
    assert_ne!(pre.flags & FLTFL_CALLBACK_DATA_DIRTY, 0);
    assert_eq!(mdl_of(&post), mdl_of(&pre));
    assert_eq!(post.flags & FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER, 0);
    assert_eq!(s.new_buffer, None);
    assert_eq!(s.mdl_bytes, RECORD);
    let c = w.m.io_completion_of(irp).unwrap();
    assert_eq!((c.status, c.copied_back), (NtStatus::SUCCESS, 0));
    assert!(!post.irp_flags.contains(IrpFlags::BUFFERED_IO));
    assert_eq!(w.m.user_read(w.app, w.dir_buf, 0x12).unwrap(), RECORD);
    assert_clean(&w.m);
}

/// A pre callback that completes the operation stops it there: the file system never sees it.
#[derive(Debug)]
struct Blocker;

impl MiniFilter for Blocker {
    fn pre_operation(&self, _k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PreOpStatus> {
        data.io_status = mdlsim::io::IoStatusBlock {
            status: NtStatus::ACCESS_DENIED,
            information: 0,
        };
        Ok(PreOpStatus::Complete)
    }
}

#[test]
fn a_pre_callback_returning_complete_completes_the_operation_without_the_file_system() {
    let mut m = machine();
    let d = m.io_register_driver("fs", Arc::new(NotifyFs)).unwrap();
    let fs = m.io_create_device(d, "\\Device\\V", 0).unwrap();
    m.flt_attach_volume(fs).unwrap();
    m.flt_register_filter("Blocker", 400_000, Arc::new(Blocker))
        .unwrap();
    let (app, tid) = app(&mut m, "app");
    let b = alloc(&mut m, app, 0x1000);
    let r = m
        .nt_notify_change_directory_file(tid, fs, None, b, 0x100, 1)
        .unwrap();
    assert_eq!(r.status, NtStatus::ACCESS_DENIED);
    assert!(m.device(fs).unwrap().extension.queue.is_empty());
    assert_clean(&m);
}
