//! User mappings: `MmMapLockedPagesSpecifyCache` (UserMode) at a chosen or explicit base,
//! into processes that cannot take it, and `MmUnmapLockedPages` from the wrong process or with
//! the wrong MDL (semantics §3.7, §3.8; invariants 13-18).

mod common;

use common::*;
use mdlsim::addr::{MM_HIGHEST_USER_ADDRESS, PAGE_SIZE, Va};
use mdlsim::bugcheck::{BugCheckCode, verifier};
use mdlsim::events::EventKind;
use mdlsim::mdl::{LockOperation, priority};
use mdlsim::space::{Protection, SpaceId, VadKind};
use mdlsim::verifier::Verifier;
use mdlsim::vm::MEM_RELEASE;
use mdlsim::{Config, NtStatus};

use LockOperation::IoReadAccess;

/// §3.7 user path: a "device physical memory" VAD at a 64 KiB-aligned free range, the return
/// value is its start + ByteOffset, the MDL is not modified, the PTEs alias the frames
/// read-write, and no counts change; VirtualFree cannot remove it; §3.8: unmap in the owning
/// process removes it.
#[test]
fn user_map_and_unmap_success() {
    let (mut m, app, buf, mdl) = locked();
    let server = m.create_process("server").unwrap();
    let fs = frames(&m, mdl);
    let before = m.mdl(mdl).unwrap().clone();
    m.switch_to(Some(server)).unwrap();
    let uva = map_u(&mut m, mdl, None, priority::NORMAL).unwrap().unwrap();
    assert_eq!(uva.byte_offset(), 0x123);
    assert_eq!(uva.page_align().raw() % 0x1_0000, 0);
    assert_eq!(
        m.mdl(mdl).unwrap(),
        &before,
        "user map leaves the MDL alone"
    );
    let vad = m.process(server).unwrap().space().vad(uva).unwrap().clone();
    assert!(matches!(vad.kind, VadKind::MdlMapping(_)));
    assert_eq!(vad.pages, 3);
    for (i, f) in fs.iter().enumerate() {
        assert_eq!(
            m.translate(SpaceId::Process(server), page(uva, i as u64)),
            Some(*f)
        );
        assert_eq!(counts(&m, *f), (2, 1));
    }
    m.user_write(server, uva, b"srv").unwrap();
    assert_eq!(m.user_read(app, at(buf, 0x123), 3).unwrap(), b"srv");
    expect_status(
        m.virtual_free(server, uva.page_align(), 0, MEM_RELEASE),
        NtStatus::UNABLE_TO_DELETE_SECTION,
    );
    assert_audit_clean(&m);
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    assert!(m.process(server).unwrap().space().vad(uva).is_none());
    expect_raise(m.user_read(server, uva, 1), NtStatus::ACCESS_VIOLATION);
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    assert!(m.events().is_empty(), "{:?}", m.events());
}

/// §3.7 user path with an explicit base: exactly there when free and aligned; raise
/// STATUS_INVALID_ADDRESS when unaligned, NULL-page, above the user range or at u64::MAX;
/// STATUS_CONFLICTING_ADDRESSES over an existing VAD (invariant 16: raised, never NULL).
#[test]
fn user_map_at_explicit_base_checks_the_address() {
    let (mut m, app, buf, mdl) = locked();
    m.switch_to(Some(app)).unwrap();
    let want = Va::new(0x4000_0000);
    assert_eq!(
        map_u(&mut m, mdl, Some(want), priority::NORMAL).unwrap(),
        Some(at(want, 0x123))
    );
    // Regression: the NULL-page region below MM_LOWEST_USER_ADDRESS is refused (a mapping at
    // 0x1000 would make NULL-pointer dereferences in the process succeed).
    for bad in [
        Va::new(0x1000),
        Va::new(0xF000),
        at(want, 0x10000 + 1),
        Va::new(u64::MAX),
        Va::new(MM_HIGHEST_USER_ADDRESS.raw() - PAGE_SIZE + 1).page_align(),
        Va::new(0xFFFF_8000_0000_0000),
    ] {
        expect_raise(
            map_u(&mut m, mdl, Some(bad), priority::NORMAL),
            NtStatus::INVALID_ADDRESS,
        );
    }
    expect_raise(
        map_u(&mut m, mdl, Some(buf), priority::NORMAL),
        NtStatus::CONFLICTING_ADDRESSES,
    );
    expect_raise(
        map_u(&mut m, mdl, Some(at(want, PAGE_SIZE)), priority::NORMAL),
        NtStatus::CONFLICTING_ADDRESSES,
    );
    assert!(m.crashed().is_none());
    m.mm_unmap_locked_pages(at(want, 0x123), mdl).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.7 user path, the top edge: the mapping's whole span (3 pages here) may end exactly
/// at `MM_HIGHEST_VAD_ADDRESS`, 64 KiB under the highest user address (its 3 user PTEs
/// counted); one page higher it is STATUS_INVALID_ADDRESS.
#[test]
fn user_map_may_end_exactly_at_the_highest_vad_address() {
    let (mut m, app, _buf, mdl) = locked();
    m.switch_to(Some(app)).unwrap();
    let top = mdlsim::addr::MM_HIGHEST_VAD_ADDRESS.raw() + 1;
    let too_high = Va::new(top - 2 * PAGE_SIZE);
    expect_raise(
        map_u(&mut m, mdl, Some(too_high), priority::NORMAL),
        NtStatus::INVALID_ADDRESS,
    );
    let fits = Va::new(top - 3 * PAGE_SIZE);
    let start = m.counters();
    assert_eq!(
        map_u(&mut m, mdl, Some(fits), priority::NORMAL).unwrap(),
        Some(at(fits, 0x123))
    );
    let c = m.counters().since(&start);
    assert_eq!(
        (c.mappings, c.user_ptes_written, c.system_ptes_written),
        (1, 3, 0)
    );
    m.mm_unmap_locked_pages(at(fits, 0x123), mdl).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 16: a user-mode map into a process that is exiting raises
/// STATUS_PROCESS_IS_TERMINATING; from a system thread (no user space) it raises too.
#[test]
fn user_map_into_dead_process_or_system_thread_raises() {
    let (mut m, _app, _buf, mdl) = locked();
    let victim = m.create_process("victim").unwrap();
    m.terminate_process(victim).unwrap();
    m.switch_to(Some(victim)).unwrap();
    expect_raise(
        map_u(&mut m, mdl, None, priority::NORMAL),
        NtStatus::PROCESS_IS_TERMINATING,
    );
    m.switch_to(None).unwrap();
    expect_raise(
        map_u(&mut m, mdl, None, priority::NORMAL),
        NtStatus::INVALID_ADDRESS,
    );
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §9: `MdlMappingNoWrite` on a user-mode mapping gives read-only user PTEs: user writes raise.
#[test]
fn no_write_user_mapping_raises_on_user_write() {
    let (mut m, app, buf, mdl) = locked();
    let server = m.create_process("server").unwrap();
    m.switch_to(Some(server)).unwrap();
    let uva = map_u(
        &mut m,
        mdl,
        None,
        priority::NORMAL | priority::MDL_MAPPING_NO_WRITE,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        m.user_read(server, uva, 3).unwrap(),
        m.user_read(app, at(buf, 0x123), 3).unwrap()
    );
    expect_raise(m.user_write(server, uva, b"x"), NtStatus::ACCESS_VIOLATION);
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 16: a user-mode map into a process whose address space is full raises
/// STATUS_NO_MEMORY (never NULL).
#[test]
fn user_map_into_a_full_address_space_raises_no_memory() {
    let (mut m, app, _buf, mdl) = locked();
    let server = m.create_process("server").unwrap();
    let all = MM_HIGHEST_USER_ADDRESS.raw() + 1 - 0x1_0000;
    m.virtual_alloc(
        server,
        None,
        all,
        mdlsim::vm::MEM_RESERVE,
        Protection::ReadWrite,
    )
    .unwrap();
    m.switch_to(Some(server)).unwrap();
    expect_raise(
        map_u(&mut m, mdl, None, priority::NORMAL),
        NtStatus::NO_MEMORY,
    );
    let _ = app;
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.8 user path, Verifier off: unmapping from the wrong process is silently ignored
/// (recorded as an event) and the mapping survives; a second unmap in the right process
/// is ignored too.
#[test]
fn user_unmap_in_wrong_process_is_ignored_and_recorded_without_verifier() {
    let (mut m, app, _buf, mdl) = locked_on(Config::default().verifier(Verifier::OFF));
    let server = m.create_process("server").unwrap();
    m.switch_to(Some(server)).unwrap();
    let uva = map_u(&mut m, mdl, None, 0).unwrap().unwrap();
    m.switch_to(Some(app)).unwrap();
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::UnmapUnknownUserAddress && e.va == Some(uva))
    );
    assert!(
        m.user_read(server, uva, 1).is_ok(),
        "still mapped in the server"
    );
    m.attach(server).unwrap();
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    m.mm_unmap_locked_pages(uva, mdl).unwrap(); // double user unmap: ignored
    m.detach().unwrap();
    assert_eq!(
        m.events()
            .iter()
            .filter(|e| e.kind == EventKind::UnmapUnknownUserAddress)
            .count(),
        2
    );
    expect_raise(m.user_read(server, uva, 1), NtStatus::ACCESS_VIOLATION);
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 18 (user flavour): unmapping a user mapping with another MDL or address inside
/// it still removes it (RO finds the VAD) but is recorded as an UnmapMismatch.
#[test]
fn user_unmap_with_wrong_mdl_is_recorded() {
    let (mut m, app, buf, mdl) = locked();
    let other = lock_user(&mut m, app, buf, 0x10, IoReadAccess);
    m.switch_to(Some(app)).unwrap();
    let uva = map_u(&mut m, mdl, None, 0).unwrap().unwrap();
    m.mm_unmap_locked_pages(at(uva, 0x1000), other).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::UnmapMismatch)
    );
    assert!(m.process(app).unwrap().space().vad(uva).is_none());
    for x in [other, mdl] {
        m.mm_unlock_pages(x).unwrap();
        m.io_free_mdl(x).unwrap();
    }
    assert_audit_clean(&m);
}

/// Probing and locking an MDL over a user VA that is itself an MDL's user mapping is
/// recorded (`ProbedMdlUserMapping`), naming the mapped MDL and the mapping page the
/// probe reached first: on the first page, and on the second page of a range that starts
/// in ordinary memory just below the mapping.
#[test]
fn probing_an_mdls_user_mapping_is_recorded_at_the_first_mapped_page() {
    let (mut m, app, _, mdl) = locked();
    m.switch_to(Some(app)).unwrap();
    let base = Va::new(0x7000_0000);
    let uva = map_u(&mut m, mdl, Some(base), priority::NORMAL)
        .unwrap()
        .unwrap();
    assert_eq!(uva.page_align(), base);
    let probed = |m: &mut mdlsim::Machine, va: Va, len: u32| {
        let b = new_mdl(m, va, len);
        m.mm_probe_and_lock_pages(b, mdlsim::mdl::AccessMode::UserMode, IoReadAccess)
            .unwrap();
        let e = m
            .events()
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::ProbedMdlUserMapping)
            .cloned()
            .expect("recorded");
        assert_eq!(e.mdl, Some(b));
        assert!(
            e.detail.contains(&format!("user mapping of {mdl}")),
            "{}",
            e.detail
        );
        e.va
    };
    assert_eq!(probed(&mut m, at(base, 0x10), 0x20), Some(base));
    // Ordinary memory right below the mapping, and a range across both.
    let below = m
        .virtual_alloc(
            app,
            Some(Va::new(0x6FFF_0000)),
            0x1_0000,
            mdlsim::vm::MEM_COMMIT | mdlsim::vm::MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    assert_eq!(below, Va::new(0x6FFF_0000));
    assert_eq!(probed(&mut m, Va::new(0x6FFF_F800), 0x1000), Some(base));
}

/// §3.8 user path, Verifier on: unmapping from the wrong process, where that process
/// has no MDL mapping, is `0xC4 / 0xB9` naming the address and the MDL; the mapping
/// itself is untouched.
#[test]
fn user_unmap_in_wrong_process_is_a_verifier_bug_check() {
    let (mut m, app, _buf, mdl) = locked();
    let server = m.create_process("server").unwrap();
    m.switch_to(Some(server)).unwrap();
    let uva = map_u(&mut m, mdl, None, 0).unwrap().unwrap();
    m.switch_to(Some(app)).unwrap();
    let r = m.mm_unmap_locked_pages(uva, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS,
            uva.raw(),
            mdl.address(),
            0,
        ],
    );
    assert!(m.mappings().any(|mp| mp.space == SpaceId::Process(server)));
}

/// `MmUnmapLockedPages` takes the user path for every address up to and including
/// `MM_HIGHEST_USER_ADDRESS` and the kernel path only above it: an unmap at exactly the
/// highest user address of an MDL mapped nowhere is the user path's 0xC4 / 0xB9 (no
/// mapping there), one byte above it the kernel path's 0xC4 / 0xB6 (not mapped).
#[test]
fn an_unmap_at_the_highest_user_address_is_a_user_unmap() {
    let (mut m, app, _buf, mdl) = locked();
    m.switch_to(Some(app)).unwrap();
    let subcode = |r: mdlsim::Result<()>| match r {
        Err(mdlsim::Fault::BugCheck(b)) => (b.params[0], b.params[1]),
        other => panic!("expected a bug check, got {other:?}"),
    };
    let highest = MM_HIGHEST_USER_ADDRESS;
    assert_eq!(
        subcode(m.clone().mm_unmap_locked_pages(highest, mdl)),
        (verifier::UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS, highest.raw())
    );
    assert_eq!(
        subcode(m.mm_unmap_locked_pages(Va::new(highest.raw() + 1), mdl)),
        (verifier::UNMAP_LOCKED_PAGES_NOT_MAPPED, mdl.address())
    );
}
