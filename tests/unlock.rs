//! `MmUnlockPages`: what it undoes (references, the kernel mapping, the PFN array) and what
//! it leaves (user mappings), and every misuse of it (semantics §3.5; invariants 8-10, 12, 24).

mod common;

use common::*;
use mdlsim::bugcheck::{BugCheckCode, process_has_locked_pages, verifier};
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use mdlsim::mm::POISON_PFN;
use mdlsim::pfn::PageState;
use mdlsim::vm::MEM_RELEASE;
use mdlsim::{Config, Machine};

use AccessMode::UserMode;
use LockOperation::{IoReadAccess, IoWriteAccess};

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

/// The user-mapping warning names only the MDL being unlocked: unlocking an MDL that is
/// mapped only into system space (the unlock removes that mapping), or not at all, while
/// another MDL is mapped into user space, records nothing.
#[test]
fn unlocking_an_mdl_not_mapped_into_user_space_is_not_reported_while_another_is() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    let mapped = lock_user(&mut m, app, buf, 0x1000, IoReadAccess);
    let uva = map_user(&mut m, mapped);
    let kernel_only = lock_user(&mut m, app, at(buf, 0x1000), 0x1000, IoReadAccess);
    system_va(&mut m, kernel_only);
    let plain = lock_user(&mut m, app, at(buf, 0x2000), 0x1000, IoReadAccess);
    let before = m.events().len();
    m.mm_unlock_pages(kernel_only).unwrap();
    m.mm_unlock_pages(plain).unwrap();
    assert!(
        !m.events()[before..]
            .iter()
            .any(|e| e.kind == EventKind::UnlockedWhileUserMapped),
        "{:?}",
        &m.events()[before..]
    );
    m.mm_unmap_locked_pages(uva, mapped).unwrap();
    m.mm_unlock_pages(mapped).unwrap();
    for mdl in [mapped, kernel_only, plain] {
        m.io_free_mdl(mdl).unwrap();
    }
    assert_audit_clean(&m);
}

/// A driver that changed a locked MDL's PFN array (a splice) makes the unlock dereference
/// the array's frames, not the ones it locked. The model's books carry the difference, so
/// the audit still balances: the locked frame keeps its extra reference and the
/// spliced-in one has lost one.
#[test]
fn an_unlock_after_a_pfn_array_splice_moves_the_reference_and_the_books_balance() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    let a = lock_user(&mut m, app, buf, 0x2000, IoReadAccess);
    let b = lock_user(&mut m, app, at(buf, 0x2000), 0x1000, IoReadAccess);
    let (f1, g) = (frames(&m, a)[1], frames(&m, b)[0]);
    let (c1, cg) = (counts(&m, f1).0, counts(&m, g).0);
    m.mdl_set_pfn(a, 1, g.0).unwrap();
    m.mm_unlock_pages(a).unwrap();
    assert_eq!(counts(&m, f1).0, c1, "the locked frame keeps its reference");
    assert_eq!(counts(&m, g).0, cg - 1, "the spliced-in frame lost one");
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::PfnArrayChangedWhileLocked && e.mdl == Some(a))
    );
    assert_audit_clean(&m);
}

/// A driver that re-initialised a locked MDL over fewer pages (`MmInitializeMdl`, then
/// `MDL_PAGES_LOCKED` written back) makes the unlock un-charge the process for the pages
/// the MDL now describes, not the ones it locked. The books carry the difference: the
/// process keeps the other page charged, and the audit still balances.
#[test]
fn an_unlock_after_the_mdl_was_reinitialised_smaller_keeps_the_charge_books_balanced() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let a = lock_user(&mut m, app, buf, 0x2000, IoReadAccess);
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    m.mm_initialize_mdl(a, buf, 0x1000).unwrap();
    m.mdl_set_flags(a, MdlFlags::PAGES_LOCKED).unwrap();
    m.mm_unlock_pages(a).unwrap();
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 1);
    assert_audit_clean(&m);
}
