//! `MmProbeAndLockPages`, `MmProbeAndLockProcessPages`, `MmUnlockPages`
//! (semantics §2, §3.4, §3.5; invariants 1, 4-8, 10-12).

mod common;

use common::*;
use mdlsim::addr::{LIST_HEAD, MM_HIGHEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, PAGE_SIZE, Va};
use mdlsim::bugcheck::{BugCheckCode, process_has_locked_pages, verifier};
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use mdlsim::mm::POISON_PFN;
use mdlsim::pfn::PageState;
use mdlsim::pool::tag;
use mdlsim::space::Protection;
use mdlsim::vm::{MEM_RELEASE, MEM_RESERVE};
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Machine, NtStatus};

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
    let mdl = lock_user(&mut m, app, data, len, IoReadAccess);
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

/// Invariant 10 / §3.5: after unlock the PFN array is garbage (poisoned); `Process`,
/// `MappedSystemVa`, `StartVa`, `ByteOffset`, `ByteCount` are unchanged.
#[test]
fn unlock_poisons_the_pfn_array_and_keeps_the_header() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(&mut m, app, at(buf, 0x10), 0x2000, IoReadAccess);
    let before = m.mdl(mdl).unwrap().clone();
    m.mm_unlock_pages(mdl).unwrap();
    let after = m.mdl(mdl).unwrap().clone();
    for i in 0..3 {
        assert_eq!(after.pfn_array()[i], POISON_PFN + i as u64);
    }
    assert_eq!(after.process, Some(app));
    assert_eq!(
        (
            after.start_va,
            after.byte_offset,
            after.byte_count,
            after.mapped_system_va
        ),
        (
            before.start_va,
            before.byte_offset,
            before.byte_count,
            before.mapped_system_va
        )
    );
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

/// Invariant 5: a UserMode probe of a kernel address raises STATUS_ACCESS_VIOLATION and
/// writes LIST_HEAD into PFN[0]; nothing else changes.
#[test]
fn user_mode_probe_of_kernel_address_raises_access_violation() {
    let (mut m, app) = with_app();
    m.switch_to(Some(app)).unwrap();
    let pool = nonpaged(&mut m, 0x1000, 7);
    let mdl = new_mdl(&mut m, pool, 0x1000);
    let pf = m.translate(mdlsim::space::SpaceId::System, pool).unwrap();
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    let d = m.mdl(mdl).unwrap();
    assert_eq!(d.pfn_array()[0], LIST_HEAD);
    assert_eq!(d.flags, MdlFlags::ALLOCATED_FIXED_SIZE);
    assert_eq!(counts(&m, pf), (1, 1));
    assert!(m.crashed().is_none());
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(pool, 7).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 5: the range check is on the *end*: a range starting below
/// `MM_HIGHEST_USER_ADDRESS` and ending above `MM_USER_PROBE_ADDRESS` raises; one ending exactly
/// at `MM_USER_PROBE_ADDRESS` passes the range check (and then faults on the guard page).
#[test]
fn user_probe_range_check_uses_the_end_address() {
    let (mut m, app) = with_app();
    m.switch_to(Some(app)).unwrap();
    let start = Va::new(MM_HIGHEST_USER_ADDRESS.raw() - 0xF);
    let mdl = new_mdl(&mut m, start, 0x20);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    let exact = Va::new(MM_USER_PROBE_ADDRESS.raw() - 0x10);
    m.mm_initialize_mdl(mdl, exact, 0x10).unwrap();
    // Passes the range check; the probe then touches the no-access guard: still a raise.
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    m.io_free_mdl(mdl).unwrap();
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Invariant 5 at the extreme: u64::MAX as a user-mode probe address raises (wrap), never panics.
#[test]
fn user_probe_of_u64_max_raises() {
    let (mut m, app) = with_app();
    m.switch_to(Some(app)).unwrap();
    for len in [1u32, 2, 0x1000, 0x10000] {
        let mdl = new_mdl(&mut m, Va::new(u64::MAX), len);
        expect_raise(
            m.mm_probe_and_lock_pages(mdl, UserMode, IoWriteAccess),
            NtStatus::ACCESS_VIOLATION,
        );
        assert_eq!(m.mdl(mdl).unwrap().pfn_array()[0], LIST_HEAD);
        m.io_free_mdl(mdl).unwrap();
    }
    // Windows 7 and later describe 2 GiB there (the span wraps past the top): the probe
    // raises at the first page.
    let mdl = new_mdl(&mut m, Va::new(u64::MAX), 0x7FFF_FFFF);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoWriteAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    // Invariant 2 on Server 2003: a descriptor that would not fit 0xFFFF bytes is a NULL
    // return.
    let mut old = Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap();
    assert_eq!(
        old.io_allocate_mdl(Va::new(u64::MAX), 0x7FFF_FFFF, false, false, None)
            .unwrap(),
        None
    );
}

/// §3.4 (KernelMode has no range check): a kernel-mode probe at u64::MAX touches that
/// invalid system address, which is `PAGE_FAULT_IN_NONPAGED_AREA (0x50)` (P1 the address,
/// P2 0 = read) — as on Windows, where kernel-mode probing does not catch invalid system VAs.
#[test]
fn kernel_probe_of_u64_max_is_page_fault_in_nonpaged_area() {
    let mut m = machine();
    let mdl = new_mdl(&mut m, Va::new(u64::MAX), 2);
    let r = m.mm_probe_and_lock_pages(mdl, KernelMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [u64::MAX, 0, 0, 0],
    );
}

/// Invariant 6: a probe that faults on a later page (reserved, not committed) raises
/// STATUS_ACCESS_VIOLATION; the MDL is left unlocked with `Process = NULL`, the slots probed
/// hold LIST_HEAD, no reference or lock count changed, and the MDL may simply be freed.
#[test]
fn probe_failing_on_a_later_page_leaves_nothing_locked() {
    let (mut m, app) = with_app();
    let res = m
        .virtual_alloc(app, None, 0x3000, MEM_RESERVE, Protection::ReadWrite)
        .unwrap();
    m.virtual_alloc(
        app,
        Some(res),
        0x1000,
        mdlsim::vm::MEM_COMMIT,
        Protection::ReadWrite,
    )
    .unwrap();
    m.user_write(app, res, b"x").unwrap();
    let f0 = m
        .translate(mdlsim::space::SpaceId::Process(app), res)
        .unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, at(res, 0x800), 0x1000);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    let d = m.mdl(mdl).unwrap();
    assert!(!d.flags.contains(MdlFlags::PAGES_LOCKED));
    assert_eq!(d.process, None);
    assert_eq!(&d.pfn_array()[..2], &[LIST_HEAD, LIST_HEAD]);
    assert_eq!(counts(&m, f0), (1, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    m.io_free_mdl(mdl).unwrap();
    assert!(m.leaked_locks().is_empty());
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

/// Invariant 4 (`MmProbeAndLockProcessPages` flavour): bad flags are 0xC4/0xB1.
#[test]
fn probe_and_lock_process_pages_of_locked_mdl_is_verifier_b1() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_probe_and_lock_process_pages(mdl, app, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::PROBE_AND_LOCK_PROCESS_PAGES_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::PAGES_LOCKED.bits() as u64,
        ],
    );
}

/// Invariant 4: probing an MDL that is already locked (double probe) is 0xC4/0xB0 with
/// P2 the MDL, P3 its flags, P4 the offending flags; counts are left as they were.
#[test]
fn double_probe_is_verifier_b0() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let f = frames(&m, mdl)[0];
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::PROBE_AND_LOCK_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::PAGES_LOCKED.bits() as u64,
        ],
    );
    assert_eq!(counts(&m, f), (2, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 1);
    assert_audit_clean(&m);
}

/// Invariant 4: probing a mapped, non-paged-pool or partial MDL is 0xC4/0xB0 naming exactly
/// the offending flags.
#[test]
fn probe_of_nonpaged_partial_or_mapped_mdl_is_verifier_b0() {
    let cases: [(&str, MdlFlags); 3] = [
        ("nonpaged", MdlFlags::SOURCE_IS_NONPAGED_POOL),
        ("partial", MdlFlags::PARTIAL),
        (
            "mapped",
            MdlFlags::PAGES_LOCKED.union(MdlFlags::MAPPED_TO_SYSTEM_VA),
        ),
    ];
    for (what, bad) in cases {
        let (mut m, app) = with_app();
        let buf = user_buf(&mut m, app, 0x1000);
        let pool = nonpaged(&mut m, 0x1000, 1);
        let mdl = match what {
            "nonpaged" => {
                let mdl = new_mdl(&mut m, pool, 0x1000);
                m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
                mdl
            }
            "partial" => {
                let src = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
                let p = new_mdl(&mut m, buf, 0x1000);
                m.io_build_partial_mdl(src, p, buf, 0x100).unwrap();
                p
            }
            _ => {
                let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
                m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
                    .unwrap()
                    .unwrap();
                mdl
            }
        };
        let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
        let r = m.mm_probe_and_lock_pages(mdl, KernelMode, IoReadAccess);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::PROBE_AND_LOCK_BAD_MDL_FLAGS,
                mdl.address(),
                flags,
                bad.bits() as u64,
            ],
        );
        assert_audit_clean(&m);
    }
}

/// Invariant 1: `ByteCount == 0` reaching MmProbeAndLockPages is the checked-build ASSERT
/// (0x1E, STATUS_BREAKPOINT).
#[test]
fn probe_with_zero_byte_count_is_an_assert() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x10);
    m.mm_initialize_mdl(mdl, buf, 0).unwrap();
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert_audit_clean(&m);
}

/// Invariant 3: a probe whose span exceeds the MDL's storage (re-initialised bigger) overruns
/// the PFN array: the special-pool guard page, 0x50 at the first byte past the storage (write).
#[test]
fn probe_past_the_pfn_array_capacity_is_page_fault() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 24 * PAGE_SIZE);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x1000);
    assert_eq!(m.mdl_capacity(mdl).unwrap(), 23);
    m.mm_initialize_mdl(mdl, buf, 24 * PAGE_SIZE as u32)
        .unwrap();
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [mdl.address() + 48 + 23 * 8, 1, 0, 0],
    );
    assert_audit_clean(&m);
}

/// NULL MDL (`None`) to every probe/unlock entry point: the NULL dereference 0x1E
/// (STATUS_ACCESS_VIOLATION reading MdlFlags at 0xA), not a panic.
#[test]
fn null_mdl_to_probe_and_unlock_is_a_null_dereference() {
    for which in 0..3 {
        let (mut m, app) = with_app();
        let r = match which {
            0 => m.mm_probe_and_lock_pages(None, UserMode, IoReadAccess),
            1 => m.mm_probe_and_lock_process_pages(None, app, UserMode, IoReadAccess),
            _ => m.mm_unlock_pages(None),
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            null_mdl_params(),
        );
    }
}

/// A freed MDL handle to probe/unlock: special pool catches the use after free (0x50, P1 the MDL).
#[test]
fn freed_mdl_to_probe_and_unlock_is_page_fault() {
    for which in 0..2 {
        let (mut m, app) = with_app();
        let buf = user_buf(&mut m, app, 0x1000);
        m.switch_to(Some(app)).unwrap();
        let mdl = new_mdl(&mut m, buf, 0x10);
        m.io_free_mdl(mdl).unwrap();
        // The slot is reused by a new MDL: the old handle still does not reach it.
        let _new = new_mdl(&mut m, buf, 0x10);
        let r = if which == 0 {
            m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess)
        } else {
            m.mm_unlock_pages(mdl)
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
            [mdl.address(), 0, 0, 0],
        );
    }
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

/// Invariant 8: a second MmUnlockPages is 0xC4/0x7C (P2 MDL, P3 flags, P4 0) and leaves
/// every count unchanged.
#[test]
fn double_unlock_is_verifier_7c() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let f = frames(&m, mdl)[0];
    m.mm_unlock_pages(mdl).unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_unlock_pages(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [verifier::UNLOCK_PAGES_NEVER_LOCKED, mdl.address(), flags, 0],
    );
    assert_eq!(counts(&m, f), (1, 1));
    assert_audit_clean(&m);
}

/// Invariant 8 / §6: unlocking a never-locked MDL with TrackLockedPages is
/// PROCESS_HAS_LOCKED_PAGES (0x76) with P1 1, P2 the MDL.
#[test]
fn unlock_of_unlocked_mdl_with_tracking_is_0x76_p1_1() {
    let mut m = Machine::new(Config::default().track_locked_pages(true)).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x10);
    let r = m.mm_unlock_pages(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        [
            process_has_locked_pages::UNLOCK_PAGES_NOT_LOCKED,
            mdl.address(),
            0,
            0,
        ],
    );
}

/// Invariant 8, forced through: a driver that sets PAGES_LOCKED again and restores the PFN
/// array makes the reference count underflow below the valid share: PFN_LIST_CORRUPT
/// (0x4E) with P1 7, P2 the frame, P3 its share count, P4 0. Nothing is changed by the attempt.
#[test]
fn forced_double_unlock_is_pfn_list_corrupt_7() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let f = frames(&m, mdl)[0];
    let flags = m.mdl(mdl).unwrap().flags;
    m.mm_unlock_pages(mdl).unwrap();
    m.mdl_set_flags(mdl, flags).unwrap();
    m.mdl_set_pfn(mdl, 0, f.raw()).unwrap();
    let r = m.mm_unlock_pages(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PFN_LIST_CORRUPT,
        [0x07, f.raw(), 1, 0],
    );
    assert_eq!(counts(&m, f), (1, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
}

/// Invariant 8: MmUnlockPages of an MmBuildMdlForNonPagedPool MDL is 0xC4/0x7D.
#[test]
fn unlock_of_nonpaged_pool_mdl_is_verifier_7d() {
    let mut m = machine();
    let pool = nonpaged(&mut m, 0x100, 1);
    let mdl = new_mdl(&mut m, pool, 0x100);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_unlock_pages(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::UNLOCK_PAGES_NONPAGED_POOL_MDL,
            mdl.address(),
            flags,
            0,
        ],
    );
    assert_audit_clean(&m);
}

/// Invariants 8, 24: MmUnlockPages of a partial MDL is 0xC4/0xB4 (P4 the PARTIAL flag); the
/// source's locks are untouched.
#[test]
fn unlock_of_partial_mdl_is_verifier_b4() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let src = lock_user(&mut m, app, buf, 0x2000, IoReadAccess);
    let p = new_mdl(&mut m, buf, 0x1000);
    m.io_build_partial_mdl(src, p, at(buf, 0x1000), 0x1000)
        .unwrap();
    let flags = m.mdl(p).unwrap().flags.bits() as u64;
    let r = m.mm_unlock_pages(p);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::UNLOCK_PAGES_PARTIAL_MDL,
            p.address(),
            flags,
            MdlFlags::PARTIAL.bits() as u64,
        ],
    );
    for f in frames(&m, src) {
        assert_eq!(counts(&m, f), (2, 1));
    }
    assert_audit_clean(&m);
}

/// Invariant 9 / §3.5 step 1: unlock removes the kernel mapping (flag cleared, system PTEs
/// released, `MappedSystemVa` left stale); touching the stale address is then 0x50.
#[test]
fn unlock_removes_the_kernel_mapping() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let mdl = lock_user(&mut m, app, at(buf, 0x10), 0x1000, IoReadAccess);
    let sys = system_va(&mut m, mdl);
    assert_eq!(m.system_ptes_in_use(), 2);
    m.mm_unlock_pages(mdl).unwrap();
    let d = m.mdl(mdl).unwrap();
    assert!(!d.flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA));
    assert_eq!(d.mapped_system_va, sys, "stale, as on Windows");
    assert_eq!(m.system_ptes_in_use(), 0);
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    let r = m.kernel_read(sys, 1);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [sys.raw(), 0, 0, 0],
    );
}

/// Invariant 9: unlock does not remove user mappings; it records the hazard as an event, and
/// the user mapping must still be unmapped (in the owning process).
#[test]
fn unlock_leaves_user_mappings_and_records_it() {
    let (mut m, app) = with_app();
    let server = m.create_process("server").unwrap();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"secret").unwrap();
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    m.switch_to(Some(server)).unwrap();
    let uva = m
        .mm_map_locked_pages_specify_cache(
            mdl,
            UserMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL,
        )
        .unwrap()
        .unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::UnlockedWhileUserMapped && e.mdl == Some(mdl))
    );
    assert_eq!(
        m.user_read(server, uva, 6).unwrap(),
        b"secret",
        "mapping still there"
    );
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    assert!(m.hazards().is_empty());
}

/// Invariant 12 with decommit instead of release; also unlock from a different process context.
#[test]
fn decommitted_locked_page_is_freed_at_unlock_from_any_context() {
    let (mut m, app) = with_app();
    let other = m.create_process("other").unwrap();
    let buf = user_buf(&mut m, app, 0x2000);
    let mdl = lock_user(&mut m, app, buf, 0x2000, IoWriteAccess);
    let fs = frames(&m, mdl);
    m.virtual_free(app, buf, 0x2000, mdlsim::vm::MEM_DECOMMIT)
        .unwrap();
    for f in &fs {
        assert_eq!(counts(&m, *f), (1, 0));
        assert_eq!(m.pfn_entry(*f).unwrap().state, PageState::Transition);
    }
    m.switch_to(Some(other)).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    for f in &fs {
        assert_eq!(m.pfn_entry(*f).unwrap().state, PageState::Free);
    }
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Regression (found by the randomized audit run): probing a user address whose PTE is a
/// dangling MDL mapping (the mapped frame was unlocked and freed by its owner) is the lock
/// ASSERT (the frame is not in use) — and it leaves the books balanced: the process is not
/// charged and the MDL is not marked locked (previously NumberOfLockedPages was charged first).
#[test]
fn probe_through_a_dangling_user_mapping_asserts_without_charging() {
    let (mut m, app) = with_app();
    let server = m.create_process("server").unwrap();
    let buf = user_buf(&mut m, app, 0x2000);
    let src = lock_user(&mut m, app, buf, 0x2000, IoReadAccess);
    m.switch_to(Some(server)).unwrap();
    let uva = m
        .mm_map_locked_pages_specify_cache(
            src,
            UserMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL,
        )
        .unwrap()
        .unwrap();
    m.mm_unlock_pages(src).unwrap();
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    assert!(
        m.hazards()
            .iter()
            .any(|h| h.kind == mdlsim::audit::HazardKind::DanglingPte)
    );
    let mdl = new_mdl(&mut m, uva, 0x2000);
    let r = m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
    assert_eq!(m.process(server).unwrap().number_of_locked_pages, 0);
    assert!(!m.mdl(mdl).unwrap().flags.contains(MdlFlags::PAGES_LOCKED));
    assert_audit_clean(&m);
}

/// Regression: a driver that clears MDL_PAGES_LOCKED by hand and probes the MDL again leaks the
/// first lock (its references and charge stay, recorded) instead of losing it from the books.
#[test]
fn reprobe_after_clearing_pages_locked_by_hand_leaks_the_first_lock() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let f = frames(&m, mdl)[0];
    m.mdl_set_flags(mdl, MdlFlags::ALLOCATED_FIXED_SIZE)
        .unwrap();
    m.mm_probe_and_lock_pages(mdl, UserMode, IoReadAccess)
        .unwrap();
    assert_eq!(counts(&m, f), (3, 1));
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    assert_eq!(m.leaked_locks().len(), 1);
    assert_audit_clean(&m);
    m.mm_unlock_pages(mdl).unwrap();
    assert_eq!(counts(&m, f), (2, 1));
    assert_audit_clean(&m);
}

/// Invariants 1-3 with ByteCount near 4 GiB: an MDL re-initialised for 0xFFFFFFFF bytes spans
/// 0x100001 pages; probing it (either mode) overruns its 23-entry storage (0x50) before
/// touching any page — never a panic or a huge host allocation.
#[test]
fn byte_count_near_4_gib_is_a_clean_fault() {
    for mode in [UserMode, KernelMode] {
        let (mut m, app) = with_app();
        let buf = user_buf(&mut m, app, 0x1000);
        m.switch_to(Some(app)).unwrap();
        let mdl = new_mdl(&mut m, buf, 1);
        m.mm_initialize_mdl(mdl, at(buf, 0xFFF), u32::MAX).unwrap();
        assert_eq!(m.mdl(mdl).unwrap().page_count(), 0x10_0001);
        let r = m.mm_probe_and_lock_pages(mdl, mode, IoWriteAccess);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
            [mdl.address() + 48 + 23 * 8, 1, 0, 0],
        );
        assert_audit_clean(&m);
    }
}
