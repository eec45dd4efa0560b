//! `MmProbeAndLockPages` and `MmProbeAndLockProcessPages` that succeed: references, lock
//! counts, charges and flags, in every context (semantics §2, §3.4; invariants 7, 11).
//! Raises are in tests/probe_faults.rs, misuse in tests/probe_misuse.rs, `MmUnlockPages` in
//! tests/unlock.rs.

mod common;

use common::*;
use mdlsim::NtStatus;
use mdlsim::addr::Va;
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use mdlsim::pfn::PageState;
use mdlsim::pool::tag;
use mdlsim::space::Protection;

use AccessMode::{KernelMode, UserMode};
use LockOperation::{IoModifyAccess, IoReadAccess, IoWriteAccess};

/// §3.4 success path + §2: each page gets exactly one extra reference, the process is charged
/// the span, `MDL_PAGES_LOCKED` is set, `MDL_WRITE_OPERATION` is not (read), `Process` is the
/// current process, `MappedSystemVa` is untouched and the MDL is not mapped.
#[test]
fn probe_for_read_locks_each_page_once_and_charges_the_process() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x4000);
    m.user_write(app, buf, &[1; 0x4000]).unwrap(); // fault every page in
    let data = at(buf, 0x234);
    let len = 0x2000u32; // spans 3 pages
    let before = m.counters();
    let mdl = lock_user(&mut m, app, data, len, IoReadAccess);
    let counted = m.counters().since(&before);
    assert_eq!((counted.pages_locked, counted.pages_unlocked), (3, 0));
    let d = m.mdl(mdl).unwrap().clone();
    assert_eq!(
        d.flags & !MdlFlags::ALLOCATED_FIXED_SIZE,
        MdlFlags::PAGES_LOCKED
    );
    assert_eq!(d.process, Some(app));
    assert_eq!(d.mapped_system_va, Va::NULL);
    assert_eq!((d.start_va, d.byte_offset, d.byte_count), (buf, 0x234, len));
    let fs = frames(&m, mdl);
    assert_eq!(fs.len(), 3);
    for (i, f) in fs.iter().enumerate() {
        assert_eq!(counts(&m, *f), (2, 1), "page {i}: valid + one lock");
        assert_eq!(m.pfn_entry(*f).unwrap().state, PageState::Active);
        assert_eq!(
            m.translate(mdlsim::space::SpaceId::Process(app), page(buf, i as u64)),
            Some(*f)
        );
    }
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 3);
    assert_eq!(m.system_ptes_in_use(), 0);
    m.mm_unlock_pages(mdl).unwrap();
    for f in &fs {
        assert_eq!(counts(&m, *f), (1, 1));
    }
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    let counted = m.counters().since(&before);
    assert_eq!((counted.pages_locked, counted.pages_unlocked), (3, 3));
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.4 step 4: `MDL_WRITE_OPERATION` is set for IoWriteAccess and IoModifyAccess, and cleared
/// again by a later read probe of the same (reused) MDL.
#[test]
fn write_operation_flag_follows_the_last_probe() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x2000);
    for (op, write) in [
        (IoWriteAccess, true),
        (IoReadAccess, false),
        (IoModifyAccess, true),
        (IoReadAccess, false),
    ] {
        m.mm_probe_and_lock_pages(mdl, UserMode, op).unwrap();
        let f = m.mdl(mdl).unwrap().flags;
        assert_eq!(f.contains(MdlFlags::WRITE_OPERATION), write, "{op:?}");
        assert!(f.contains(MdlFlags::PAGES_LOCKED));
        m.mm_unlock_pages(mdl).unwrap();
        let f = m.mdl(mdl).unwrap().flags;
        assert!(!f.contains(MdlFlags::PAGES_LOCKED));
        assert_eq!(
            f.contains(MdlFlags::WRITE_OPERATION),
            write,
            "§3.5: unlock leaves WRITE_OPERATION"
        );
    }
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.4 step 6: committed pages never touched are demand-faulted in by the probe, then locked.
#[test]
fn probe_demand_faults_untouched_committed_pages() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    let before = m.frames_in_use();
    let mdl = lock_user(&mut m, app, buf, 0x3000, IoWriteAccess);
    assert_eq!(m.frames_in_use(), before + 3);
    for f in frames(&m, mdl) {
        assert_eq!(counts(&m, f), (2, 1));
        assert!(
            m.frame_bytes(f).unwrap().iter().all(|b| *b == 0),
            "demand-zero"
        );
    }
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.4 step 5: a kernel address locked in KernelMode has `Process = NULL` and charges nobody.
#[test]
fn kernel_mode_probe_of_pool_charges_no_process() {
    let (mut m, app) = with_app();
    m.switch_to(Some(app)).unwrap();
    let pool = nonpaged(&mut m, 0x2000, tag(b"Test"));
    let mdl = new_mdl(&mut m, pool, 0x2000);
    m.mm_probe_and_lock_pages(mdl, KernelMode, IoWriteAccess)
        .unwrap();
    let d = m.mdl(mdl).unwrap();
    assert_eq!(d.process, None);
    assert!(
        d.flags
            .contains(MdlFlags::PAGES_LOCKED | MdlFlags::WRITE_OPERATION)
    );
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    for f in frames(&m, mdl) {
        assert_eq!(counts(&m, f), (2, 1));
    }
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(pool, tag(b"Test")).unwrap();
    assert_audit_clean(&m);
}

/// §3.4 step 5: for kernel addresses the write check is skipped, so a read-only system
/// mapping (MdlMappingNoWrite) can be "locked for write".
#[test]
fn kernel_address_read_only_can_be_locked_for_write() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let src = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let ro = m
        .mm_map_locked_pages_specify_cache(
            src,
            KernelMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL | priority::MDL_MAPPING_NO_WRITE,
        )
        .unwrap()
        .unwrap();
    let mdl2 = new_mdl(&mut m, ro, 0x1000);
    m.mm_probe_and_lock_pages(mdl2, KernelMode, IoWriteAccess)
        .unwrap();
    assert!(
        m.mdl(mdl2)
            .unwrap()
            .flags
            .contains(MdlFlags::WRITE_OPERATION)
    );
    let f = frames(&m, src)[0];
    assert_eq!(frames(&m, mdl2), vec![f]);
    assert_eq!(counts(&m, f), (3, 1));
    m.mm_unlock_pages(mdl2).unwrap();
    m.io_free_mdl(mdl2).unwrap();
    m.mm_unlock_pages(src).unwrap();
    m.io_free_mdl(src).unwrap();
    assert_audit_clean(&m);
}

/// §3.4 step 3: a write probe of a read-only page raises; a read probe of it succeeds; a
/// no-access page fails both.
#[test]
fn write_probe_of_read_only_page_raises_and_read_probe_succeeds() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    m.virtual_protect(app, buf, 0x1000, Protection::ReadOnly)
        .unwrap();
    m.virtual_protect(app, at(buf, 0x1000), 0x1000, Protection::NoAccess)
        .unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x1000);
    for op in [IoWriteAccess, IoModifyAccess] {
        expect_raise(
            m.mm_probe_and_lock_pages(mdl, UserMode, op),
            NtStatus::ACCESS_VIOLATION,
        );
        // KernelMode probes of user addresses make the same write check (§3.4 step 3).
        expect_raise(
            m.mm_probe_and_lock_pages(mdl, KernelMode, op),
            NtStatus::ACCESS_VIOLATION,
        );
    }
    m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess)
        .unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    let na = new_mdl(&mut m, at(buf, 0x1000), 0x10);
    expect_raise(
        m.mm_probe_and_lock_pages(na, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    m.io_free_mdl(na).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    assert_audit_clean(&m);
}

/// §3.4 step 2: the user address is resolved in the *current* process: probing another
/// process's buffer from the wrong context raises (the VA is not allocated there).
#[test]
fn probe_in_the_wrong_process_context_raises() {
    let (mut m, app) = with_app();
    let other = m.create_process("other").unwrap();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(other)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x100);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    // A system thread has no user space at all.
    m.switch_to(None).unwrap();
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, KernelMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.4: a KernelMode probe of a user address while attached locks the attached process's
/// pages and charges it.
#[test]
fn kernel_mode_probe_while_attached_charges_the_attached_process() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    m.switch_to(None).unwrap();
    m.attach(app).unwrap();
    let mdl = new_mdl(&mut m, at(buf, 1), 0x1000);
    m.mm_probe_and_lock_pages(mdl, KernelMode, IoReadAccess)
        .unwrap();
    assert_eq!(m.mdl(mdl).unwrap().process, Some(app));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    m.detach().unwrap();
    // §3.5: unlock runs in any context.
    m.mm_unlock_pages(mdl).unwrap();
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.4 `MmProbeAndLockProcessPages`: from a system thread it attaches to the target,
/// locks, and detaches — also when the probe raises.
#[test]
fn probe_and_lock_process_pages_attaches_and_always_detaches() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    m.switch_to(None).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x2000);
    m.mm_probe_and_lock_process_pages(mdl, app, UserMode, IoWriteAccess)
        .unwrap();
    assert_eq!(m.current_process(), None, "detached after success");
    assert_eq!(m.mdl(mdl).unwrap().process, Some(app));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    m.mm_unlock_pages(mdl).unwrap();
    // Failing probe: a range that is not allocated in `app`.
    let bad = new_mdl(&mut m, Va::new(0x7000_0000), 0x10);
    expect_raise(
        m.mm_probe_and_lock_process_pages(bad, app, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_eq!(m.current_process(), None, "detached after a raise");
    m.io_free_mdl(bad).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Two MDLs locking the same page: two references; unlocking one leaves the other's.
#[test]
fn two_locks_on_one_page_are_two_references() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let a = lock_user(&mut m, app, buf, 0x10, IoReadAccess);
    let b = lock_user(&mut m, app, at(buf, 0x800), 0x10, IoWriteAccess);
    let f = frames(&m, a)[0];
    assert_eq!(frames(&m, b), vec![f]);
    assert_eq!(counts(&m, f), (3, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    m.mm_unlock_pages(a).unwrap();
    assert_eq!(counts(&m, f), (2, 1));
    m.mm_unlock_pages(b).unwrap();
    assert_eq!(counts(&m, f), (1, 1));
    m.io_free_mdl(a).unwrap();
    m.io_free_mdl(b).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 7: a page may be locked 2499 times on top of its valid reference (reference
/// count 2500); the next lock is the `MiReferenceProbedPageAndBumpLockCount` ASSERT, and the
/// reference count is not bumped by the failed lock.
#[test]
fn lock_count_per_page_is_bounded_at_2500_references() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(app)).unwrap();
    let mut mdls = Vec::new();
    for _ in 0..2499 {
        let mdl = new_mdl(&mut m, buf, 1);
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess)
            .unwrap();
        mdls.push(mdl);
    }
    let f = frames(&m, mdls[0])[0];
    assert_eq!(counts(&m, f), (2500, 1));
    assert_audit_clean(&m);
    let mut ok = m.clone();
    for mdl in &mdls {
        ok.mm_unlock_pages(*mdl).unwrap();
        ok.io_free_mdl(*mdl).unwrap();
    }
    assert_eq!(counts(&ok, f), (1, 1));
    assert_audit_clean(&ok);
    let extra = new_mdl(&mut m, buf, 1);
    let r = m.mm_probe_and_lock_pages(extra, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert_eq!(
        counts(&m, f),
        (2500, 1),
        "the failed lock took no reference"
    );
}

/// Invariant 7 counts every reference a lock takes: an MDL whose range names one frame
/// twice (a user buffer's first frame spliced into its second PFN slot, then mapped into
/// system space, as a proxy's head/tail substitution does) takes two, so a frame at 2498
/// references can take it and a frame at 2499 cannot.
#[test]
fn a_range_naming_one_frame_twice_counts_both_references_against_the_lock_limit() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let spliced = lock_user(&mut m, app, buf, 0x2000, IoReadAccess);
    let f = frames(&m, spliced)[0];
    m.mdl_set_pfn(spliced, 1, f.0).unwrap();
    let twice = system_va(&mut m, spliced);
    // Locks of the first page bring the frame to `target` references.
    let bring_to = |m: &mut mdlsim::Machine, target: u32| {
        while counts(m, f).0 < target {
            let mdl = new_mdl(m, buf, 1);
            m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess)
                .unwrap();
        }
    };
    let mut below = m.clone();
    bring_to(&mut below, 2498);
    let y = new_mdl(&mut below, twice, 0x2000);
    below
        .mm_probe_and_lock_pages(y, KernelMode, IoReadAccess)
        .unwrap();
    assert_eq!(frames(&below, y), vec![f, f]);
    assert_eq!(counts(&below, f).0, 2500);

    bring_to(&mut m, 2499);
    let y = new_mdl(&mut m, twice, 0x2000);
    let r = m.mm_probe_and_lock_pages(y, KernelMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert_eq!(counts(&m, f).0, 2499, "the failed lock took no reference");
}

/// Step 1's range check is `end > MmUserProbeAddress`: a user range ending exactly at it
/// (the last user page) is probed and locked; one byte more raises.
#[test]
fn a_user_range_ending_exactly_at_the_probe_address_is_locked() {
    let (mut m, app) = with_app();
    // The top 64 KiB of user space (reservations start on 64 KiB boundaries).
    let top = Va::new(mdlsim::addr::MM_USER_PROBE_ADDRESS.raw() - 0x10000);
    let last = Va::new(mdlsim::addr::MM_USER_PROBE_ADDRESS.raw() - 0x1000);
    let base = m
        .virtual_alloc(
            app,
            Some(top),
            0x10000,
            mdlsim::vm::MEM_COMMIT | mdlsim::vm::MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    assert_eq!(base, top);
    let mdl = lock_user(&mut m, app, last, 0x1000, IoWriteAccess);
    assert!(m.mdl(mdl).unwrap().flags.contains(MdlFlags::PAGES_LOCKED));
    let over = new_mdl(&mut m, last, 0x1001);
    let r = m.mm_probe_and_lock_pages(over, UserMode, IoReadAccess);
    expect_raise(r, NtStatus::ACCESS_VIOLATION);
}

/// A `UserMode` probe of a user buffer touches it as the caller's user-mode code would
/// (the access log names the process); a `KernelMode` probe of the same buffer is the
/// kernel's.
#[test]
fn a_user_mode_probe_is_the_callers_access_and_a_kernel_mode_probe_the_kernels() {
    use mdlsim::log::Actor;
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(app)).unwrap();
    for (mode, actor) in [(UserMode, Actor::User(app)), (KernelMode, Actor::Kernel)] {
        let mdl = new_mdl(&mut m, buf, 0x10);
        m.start_access_log().unwrap();
        m.mm_probe_and_lock_pages(mdl, mode, IoReadAccess).unwrap();
        let log = m.take_access_log().unwrap();
        assert!(!log.is_empty(), "{mode:?}");
        assert!(log.iter().all(|a| a.actor == actor), "{mode:?}: {log:?}");
    }
}
