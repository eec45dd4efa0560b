//! `MmMapLockedPagesSpecifyCache` (kernel and user), `MmUnmapLockedPages`,
//! `MmGetSystemAddressForMdlSafe`, `MmMapLockedPages`, `MmProtectMdlSystemAddress`
//! (semantics §3.7, §3.8, §9; invariants 1, 13-18).

mod common;

use common::*;
use mdlsim::addr::{LIST_HEAD, MM_HIGHEST_USER_ADDRESS, PAGE_SIZE, Va};
use mdlsim::bugcheck::{BugCheckCode, system_pte_misuse, verifier};
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use mdlsim::pool::tag;
use mdlsim::space::{Protection, PteKind, SpaceId, VadKind};
use mdlsim::vm::MEM_RELEASE;
use mdlsim::{Config, Machine, MdlId, NtStatus};

use AccessMode::{KernelMode, UserMode};
use LockOperation::{IoReadAccess, IoWriteAccess};

fn map_k(
    m: &mut Machine,
    mdl: MdlId,
    cache: CacheType,
    bcof: bool,
    prio: u32,
) -> mdlsim::Result<Option<Va>> {
    m.mm_map_locked_pages_specify_cache(mdl, KernelMode, cache, None, bcof, prio)
}

fn map_u(m: &mut Machine, mdl: MdlId, base: Option<Va>, prio: u32) -> mdlsim::Result<Option<Va>> {
    m.mm_map_locked_pages_specify_cache(mdl, UserMode, CacheType::Cached, base, false, prio)
}

/// A process with a 3-page buffer holding `0..` bytes, locked from offset 0x123 for 0x2000 bytes.
fn locked() -> (Machine, mdlsim::space::Pid, Va, MdlId) {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    let data: Vec<u8> = (0..0x3000u32).map(|i| (i % 251) as u8).collect();
    m.user_write(app, buf, &data).unwrap();
    let mdl = lock_user(&mut m, app, at(buf, 0x123), 0x2000, IoWriteAccess);
    (m, app, buf, mdl)
}

/// §3.7 kernel path success: span PTEs reserved, `MappedSystemVa` = base + ByteOffset,
/// `MDL_MAPPED_TO_SYSTEM_VA` set, PTEs read-write over the locked frames with the requested
/// cache type, and no reference/share count changes. §3.8: unmap clears the flag, releases
/// the PTEs, leaves `MappedSystemVa` stale.
#[test]
fn kernel_map_and_unmap_success() {
    let (mut m, app, buf, mdl) = locked();
    let fs = frames(&m, mdl);
    let before: Vec<_> = fs.iter().map(|f| counts(&m, *f)).collect();
    let sys = map_k(&mut m, mdl, CacheType::NonCached, false, priority::NORMAL)
        .unwrap()
        .unwrap();
    assert_eq!(sys.byte_offset(), 0x123, "in-page offset preserved");
    let d = m.mdl(mdl).unwrap();
    assert!(
        d.flags
            .contains(MdlFlags::MAPPED_TO_SYSTEM_VA | MdlFlags::PAGES_LOCKED)
    );
    assert!(!d.flags.contains(MdlFlags::PARTIAL_HAS_BEEN_MAPPED));
    assert_eq!(d.mapped_system_va, sys);
    assert_eq!(m.system_ptes_in_use(), 3);
    for (i, f) in fs.iter().enumerate() {
        let pte = m.pte(SpaceId::System, page(sys, i as u64)).unwrap();
        assert_eq!((pte.pfn, pte.protection), (*f, Protection::ReadWrite));
        assert!(matches!(pte.kind, PteKind::Mdl(_)));
    }
    let mp = m.mappings().next().unwrap().clone();
    assert_eq!(
        (mp.cache, mp.pages, mp.returned, mp.mdl),
        (CacheType::NonCached, 3, sys, mdl)
    );
    let after: Vec<_> = fs.iter().map(|f| counts(&m, *f)).collect();
    assert_eq!(before, after, "mapping takes no reference");
    assert_eq!(
        m.kernel_read(sys, 4).unwrap(),
        m.user_read(app, at(buf, 0x123), 4).unwrap()
    );
    assert_audit_clean(&m);
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    let d = m.mdl(mdl).unwrap();
    assert!(!d.flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA));
    assert_eq!(d.mapped_system_va, sys, "stale");
    assert_eq!(m.system_ptes_in_use(), 0);
    assert_eq!(m.mappings().count(), 0);
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §3.7: `MmGetSystemAddressForMdlSafe` maps once, then returns `MappedSystemVa` without new
/// PTEs; for a non-paged-pool MDL it returns the pool address and maps nothing.
#[test]
fn get_system_address_safe_short_circuits() {
    let (mut m, _app, _buf, mdl) = locked();
    let a = system_va(&mut m, mdl);
    let b = m
        .mm_get_system_address_for_mdl_safe(mdl, priority::LOW)
        .unwrap()
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(m.system_ptes_in_use(), 3);
    let pool = nonpaged(&mut m, 0x1800, tag(b"Npgd"));
    let np = new_mdl(&mut m, at(pool, 0x10), 0x100);
    m.mm_build_mdl_for_non_paged_pool(np).unwrap();
    assert_eq!(
        m.mm_get_system_address_for_mdl_safe(np, priority::NORMAL)
            .unwrap(),
        Some(at(pool, 0x10))
    );
    assert_eq!(m.system_ptes_in_use(), 3);
    m.io_free_mdl(np).unwrap();
    m.ex_free_pool_with_tag(pool, tag(b"Npgd")).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 15: with no PTEs left, `MDL_MAPPING_CAN_FAIL` or `BugCheckOnFailure == FALSE`
/// returns NULL (MDL untouched); `MmGetSystemAddressForMdlSafe` returns NULL.
#[test]
fn pte_exhaustion_returns_null_when_allowed() {
    let mut m = Machine::new(Config::default().system_ptes(2)).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(&mut m, app, buf, 0x3000, IoReadAccess);
    let flags = m.mdl(mdl).unwrap().flags;
    assert_eq!(
        map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL).unwrap(),
        None
    );
    assert_eq!(
        m.mm_get_system_address_for_mdl_safe(mdl, priority::HIGH)
            .unwrap(),
        None
    );
    m.mdl_set_flags(mdl, flags | MdlFlags::MAPPING_CAN_FAIL)
        .unwrap();
    assert_eq!(
        map_k(&mut m, mdl, CacheType::Cached, true, priority::NORMAL).unwrap(),
        None
    );
    assert_eq!(
        m.mdl(mdl).unwrap().flags,
        flags | MdlFlags::MAPPING_CAN_FAIL
    );
    assert_eq!(m.system_ptes_in_use(), 0);
    // Exactly enough PTEs for a smaller MDL still works.
    let small = lock_user(&mut m, app, buf, 0x2000, IoReadAccess);
    assert!(
        map_k(&mut m, small, CacheType::Cached, true, priority::NORMAL)
            .unwrap()
            .is_some()
    );
    assert_eq!(m.system_ptes_available(), 0);
    m.mm_unlock_pages(small).unwrap();
    m.io_free_mdl(small).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Invariant 15: exhaustion with BugCheckOnFailure and no MDL_MAPPING_CAN_FAIL is
/// NO_MORE_SYSTEM_PTES (0x3F) with (0, pages, 0, 0).
#[test]
fn pte_exhaustion_with_bug_check_on_failure_is_0x3f() {
    let mut m = Machine::new(Config::default().system_ptes(2)).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(&mut m, app, at(buf, 1), 0x2000, IoReadAccess);
    let r = map_k(&mut m, mdl, CacheType::Cached, true, priority::NORMAL);
    expect_bug_check(&mut m, r, BugCheckCode::NO_MORE_SYSTEM_PTES, [0, 3, 0, 0]);
    assert_audit_clean(&m);
}

/// Invariant 13: a second kernel map of a mapped MDL is 0xC4/0xB2 naming MAPPED_TO_SYSTEM_VA.
#[test]
fn double_kernel_map_is_verifier_b2() {
    let (mut m, _app, _buf, mdl) = locked();
    map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL)
        .unwrap()
        .unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::MAP_LOCKED_PAGES_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::MAPPED_TO_SYSTEM_VA.bits() as u64,
        ],
    );
    assert_eq!(m.system_ptes_in_use(), 3);
    assert_audit_clean(&m);
}

/// Invariant 13/19: a kernel map of an MmBuildMdlForNonPagedPool MDL is 0xC4/0xB2 (use
/// MappedSystemVa instead).
#[test]
fn kernel_map_of_nonpaged_pool_mdl_is_verifier_b2() {
    let mut m = machine();
    let pool = nonpaged(&mut m, 0x100, 1);
    let mdl = new_mdl(&mut m, pool, 0x100);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::MAP_LOCKED_PAGES_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::SOURCE_IS_NONPAGED_POOL.bits() as u64,
        ],
    );
    assert_audit_clean(&m);
}

/// Invariant 13: kernel map of an MDL that is neither locked nor partial is 0xC4/0xB3
/// (P4 the missing PAGES_LOCKED).
#[test]
fn kernel_map_of_unlocked_mdl_is_verifier_b3() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = new_mdl(&mut m, buf, 0x1000);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::PAGES_LOCKED.bits() as u64,
        ],
    );
}

/// Invariant 13 applies to user-mode maps of a plain unlocked MDL too (0xC4/0xB3).
#[test]
fn user_map_of_unlocked_mdl_is_verifier_b3() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x1000);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = map_u(&mut m, mdl, None, priority::NORMAL);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::PAGES_LOCKED.bits() as u64,
        ],
    );
}

/// Invariant 14: mapping a frame that is not locked (a driver forged PAGES_LOCKED and a PFN) is
/// 0xC4/0x85 with P3 the page count and P4 the first unlocked frame.
#[test]
fn mapping_an_unlocked_frame_is_verifier_85() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"x").unwrap();
    let f = m.translate(SpaceId::Process(app), buf).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x1000);
    m.mdl_set_flags(mdl, MdlFlags::PAGES_LOCKED | MdlFlags::ALLOCATED_FIXED_SIZE)
        .unwrap();
    m.mdl_set_pfn(mdl, 0, f.raw()).unwrap();
    let r = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::MAP_LOCKED_PAGES_NOT_LOCKED,
            mdl.address(),
            1,
            f.raw(),
        ],
    );
}

/// Invariant 14: mapping reads the PFN array only up to LIST_HEAD: the reserved PTEs after it
/// stay invalid (touching them is 0x50).
#[test]
fn kernel_map_stops_at_list_head() {
    let (mut m, _app, _buf, mdl) = locked();
    let fs = frames(&m, mdl);
    m.mdl_set_pfn(mdl, 2, LIST_HEAD).unwrap();
    let sys = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL)
        .unwrap()
        .unwrap();
    assert_eq!(m.system_ptes_in_use(), 3, "all three reserved");
    assert!(m.pte(SpaceId::System, page(sys, 1)).is_some());
    assert!(m.pte(SpaceId::System, page(sys, 2)).is_none());
    m.mdl_set_pfn(mdl, 2, fs[2].raw()).unwrap();
    assert_audit_clean(&m);
    let mut m2 = m.clone();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    let r = m2.kernel_read(page(sys, 2), 1);
    expect_bug_check(
        &mut m2,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [page(sys, 2).raw(), 0, 0, 0],
    );
}

/// Invariant 1: ByteCount 0 reaching map or unmap is the ASSERT (0x1E, STATUS_BREAKPOINT).
#[test]
fn map_and_unmap_with_zero_byte_count_assert() {
    for which in 0..3 {
        let (mut m, app, buf, mdl) = locked();
        let _ = app;
        m.mm_initialize_mdl(mdl, buf, 0).unwrap();
        let r = match which {
            0 => map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL),
            1 => map_u(&mut m, mdl, None, priority::NORMAL),
            _ => m
                .mm_unmap_locked_pages(Va::new(0xFFFF_B000_0000_0000), mdl)
                .map(|_| None),
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            assert_params(),
        );
    }
}

/// NULL and freed MDLs to the mapping routines: 0x1E (NULL dereference) and 0x50 (special pool).
#[test]
fn null_and_freed_mdl_to_mapping_routines_crash_cleanly() {
    for which in 0..5 {
        let mut m = machine();
        let r = match which {
            0 => m.mm_map_locked_pages_specify_cache(
                None,
                KernelMode,
                CacheType::Cached,
                None,
                false,
                0,
            ),
            1 => m.mm_get_system_address_for_mdl_safe(None, 0),
            2 => m
                .mm_unmap_locked_pages(Va::new(u64::MAX), None)
                .map(|_| None),
            3 => m.mm_protect_mdl_system_address(None, 4).map(|_| None),
            _ => m.mm_map_locked_pages(None, KernelMode),
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            null_mdl_params(),
        );
    }
    for which in 0..3 {
        let mut m = machine();
        let mdl = new_mdl(&mut m, Va::new(0x10000), 1);
        m.io_free_mdl(mdl).unwrap();
        let r = match which {
            0 => map_k(&mut m, mdl, CacheType::Cached, false, 0),
            1 => m.mm_get_system_address_for_mdl_safe(mdl, 0),
            _ => m
                .mm_unmap_locked_pages(Va::new(u64::MAX), mdl)
                .map(|_| None),
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
            [mdl.address(), 0, 0, 0],
        );
    }
}

/// §3.7: `MmMapLockedPages` is flagged by Driver Verifier on every call (0xC4/0x81).
#[test]
fn mm_map_locked_pages_is_verifier_81() {
    let (mut m, _app, _buf, mdl) = locked();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_map_locked_pages(mdl, KernelMode);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [verifier::MAP_LOCKED_PAGES_CALLED, mdl.address(), flags, 0],
    );
}

/// §9 (Windows honours Priority): `MdlMappingNoWrite` makes the kernel mapping read-only;
/// a kernel write through it is ATTEMPTED_WRITE_TO_READONLY_MEMORY (0xBE, P1 VA, P2 frame).
#[test]
fn no_write_kernel_mapping_faults_on_write() {
    let (mut m, _app, _buf, mdl) = locked();
    let sys = map_k(
        &mut m,
        mdl,
        CacheType::Cached,
        false,
        priority::NORMAL | priority::MDL_MAPPING_NO_WRITE,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        m.pte(SpaceId::System, sys).unwrap().protection,
        Protection::ReadOnly
    );
    assert_eq!(m.kernel_read(sys, 2).unwrap().len(), 2);
    let f = frames(&m, mdl)[0];
    assert_audit_clean(&m);
    let r = m.kernel_write(sys, b"no");
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::ATTEMPTED_WRITE_TO_READONLY_MEMORY,
        [sys.raw(), f.raw(), 0, 0],
    );
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

/// Invariant 17: a second kernel unmap (double unmap) is SYSTEM_PTE_MISUSE (0xDA) P1 0x06,
/// P2 the MDL, P3 the address.
#[test]
fn double_kernel_unmap_is_system_pte_misuse_6() {
    let (mut m, _app, _buf, mdl) = locked();
    let sys = map_k(&mut m, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    let r = m.mm_unmap_locked_pages(sys, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::MDL_NOT_MAPPED,
            mdl.address(),
            sys.raw(),
            0,
        ],
    );
    assert_audit_clean(&m);
}

/// Invariant 18: a kernel unmap at another address than the map returned is 0xDA P1 0x03
/// (P3 expected, P4 given); nothing is released.
#[test]
fn kernel_unmap_at_wrong_address_is_system_pte_misuse_3() {
    let (mut m, _app, _buf, mdl) = locked();
    let sys = map_k(&mut m, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    let wrong = sys.page_align();
    let r = m.mm_unmap_locked_pages(wrong, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::WRONG_MAPPING_ADDRESS,
            mdl.address(),
            sys.raw(),
            wrong.raw(),
        ],
    );
    assert_eq!(m.system_ptes_in_use(), 3);
    assert_audit_clean(&m);
}

/// §7 SYSTEM_PTE_MISUSE 0x04: the MDL's first PFN changed between map and unmap.
#[test]
fn kernel_unmap_after_first_pfn_changed_is_system_pte_misuse_4() {
    let (mut m, _app, _buf, mdl) = locked();
    let sys = map_k(&mut m, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    let fs = frames(&m, mdl);
    m.mdl_set_pfn(mdl, 0, fs[1].raw()).unwrap();
    let r = m.mm_unmap_locked_pages(sys, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::MDL_FIRST_PAGE_CHANGED,
            mdl.address(),
            fs[0].raw(),
            fs[1].raw(),
        ],
    );
}

/// Invariant 17: PARENT_MAPPED_SYSTEM_VA set at kernel unmap is the ASSERT.
#[test]
fn kernel_unmap_with_parent_mapped_flag_asserts() {
    let (mut m, _app, _buf, mdl) = locked();
    let sys = map_k(&mut m, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    let f = m.mdl(mdl).unwrap().flags;
    m.mdl_set_flags(mdl, f | MdlFlags::PARENT_MAPPED_SYSTEM_VA)
        .unwrap();
    let r = m.mm_unmap_locked_pages(sys, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
}

/// §3.8 user path: unmapping from the wrong process is silently ignored (recorded as an
/// event) and the mapping survives; a second unmap in the right process is ignored too.
#[test]
fn user_unmap_in_wrong_process_is_ignored_and_recorded() {
    let (mut m, app, _buf, mdl) = locked();
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

/// A cache-type conflict (one frame mapped Cached and NonCached) is recorded as an event.
#[test]
fn one_frame_mapped_with_two_cache_types_is_recorded() {
    let (mut m, app, buf, mdl) = locked();
    let b = lock_user(&mut m, app, buf, 0x200, IoReadAccess);
    map_k(&mut m, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    assert!(m.events().is_empty());
    map_k(&mut m, b, CacheType::WriteCombined, false, 0)
        .unwrap()
        .unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::CacheAttributeConflict && e.mdl == Some(b))
    );
    for x in [b, mdl] {
        m.mm_unlock_pages(x).unwrap();
        m.io_free_mdl(x).unwrap();
    }
    assert_audit_clean(&m);
}

/// §9 `MmProtectMdlSystemAddress` (Windows only): READONLY makes kernel writes 0xBE,
/// NOACCESS makes reads 0x50, READWRITE restores; bad protections and unmapped MDLs are
/// returned statuses.
#[test]
fn protect_mdl_system_address_changes_the_kernel_ptes() {
    let (mut m, _app, _buf, mdl) = locked();
    expect_status(
        m.mm_protect_mdl_system_address(mdl, 0x02),
        NtStatus::NOT_MAPPED_VIEW,
    );
    let sys = map_k(&mut m, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    expect_status(
        m.mm_protect_mdl_system_address(mdl, 0x40),
        NtStatus::INVALID_PAGE_PROTECTION,
    );
    m.mm_protect_mdl_system_address(mdl, 0x02).unwrap();
    for i in 0..3 {
        assert_eq!(
            m.pte(SpaceId::System, page(sys, i)).unwrap().protection,
            Protection::ReadOnly
        );
    }
    assert!(m.kernel_read(sys, 1).is_ok());
    let mut ro = m.clone();
    let f0 = frames(&m, mdl)[0];
    let r = ro.kernel_write(sys, b"x");
    expect_bug_check(
        &mut ro,
        r,
        BugCheckCode::ATTEMPTED_WRITE_TO_READONLY_MEMORY,
        [sys.raw(), f0.raw(), 0, 0],
    );
    m.mm_protect_mdl_system_address(mdl, 0x01).unwrap();
    let mut na = m.clone();
    let r = na.kernel_read(sys, 1);
    expect_bug_check(
        &mut na,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [sys.raw(), 0, 0, 0],
    );
    m.mm_protect_mdl_system_address(mdl, 0x04).unwrap();
    m.kernel_write(sys, b"ok").unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 25: IoFreeMdl of a full MDL still mapped to system VA is 0xC4/0xB8.
#[test]
fn free_of_mapped_mdl_is_verifier_b8() {
    let (mut m, _app, _buf, mdl) = locked();
    map_k(&mut m, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.io_free_mdl(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [verifier::FREE_MDL_STILL_MAPPED, mdl.address(), flags, 0],
    );
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

/// ByteCount near 4 GiB reaching the mapping routines (a driver forged the flags over a
/// re-initialised 23-entry MDL): the kernel map finds an unlocked frame (0xC4/0x85); a user map
/// of a "non-paged" one reserves the 0x100001-page VAD (4 GiB of the 8 TiB user space) and
/// writes PTEs only for the 23 slots the storage holds — never a panic.
#[test]
fn byte_count_near_4_gib_maps_cleanly_or_faults() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"x").unwrap();
    let mdl = new_mdl(&mut m, buf, 1);
    m.mm_initialize_mdl(mdl, buf, u32::MAX).unwrap();
    m.mdl_set_flags(mdl, MdlFlags::PAGES_LOCKED).unwrap();
    let mut k = m.clone();
    let r = map_k(&mut k, mdl, CacheType::Cached, false, 0);
    assert!(
        matches!(r, Err(mdlsim::Fault::BugCheck(ref b)) if b.params[0] == verifier::MAP_LOCKED_PAGES_NOT_LOCKED),
        "{r:?}"
    );
    m.mdl_set_flags(mdl, MdlFlags::SOURCE_IS_NONPAGED_POOL)
        .unwrap();
    m.switch_to(Some(app)).unwrap();
    let uva = map_u(&mut m, mdl, None, 0).unwrap().unwrap();
    assert_eq!(
        m.process(app).unwrap().space().vad(uva).unwrap().pages,
        0x10_0000
    );
    assert_eq!(m.mappings().next().unwrap().frames.len(), 23);
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Regression (found by the randomized audit run: a panic): mapping an MDL whose PFN array
/// names a number that is not a page of memory — here the poison MmUnlockPages leaves, copied
/// into a non-paged MDL by a driver — is Driver Verifier's 0xC4/0x89 (P3 the slot's address,
/// P4 the number), in user and kernel mode, instead of a PTE to a frame that does not exist.
#[test]
fn mapping_a_non_memory_pfn_is_verifier_89() {
    for mode in [UserMode, KernelMode] {
        let (mut m, app, _buf, mdl) = locked();
        m.mm_unlock_pages(mdl).unwrap();
        let poison = m.mdl(mdl).unwrap().pfn_array()[1];
        assert_eq!(poison, mdlsim::mm::POISON_PFN + 1);
        let pool = m
            .ex_allocate_pool_with_tag(mdlsim::pool::PoolType::NonPaged, 0x2000, 1)
            .unwrap()
            .unwrap();
        let np = new_mdl(&mut m, pool, 0x2000);
        m.mm_build_mdl_for_non_paged_pool(np).unwrap();
        m.mdl_copy_pfns(mdl, 0, np, 0, 2).unwrap();
        if mode == KernelMode {
            // A kernel map needs a locked MDL: forge that too.
            m.mdl_set_flags(np, MdlFlags::PAGES_LOCKED).unwrap();
        }
        m.switch_to(Some(app)).unwrap();
        let r = m.mm_map_locked_pages_specify_cache(np, mode, CacheType::Cached, None, false, 0);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::MDL_NON_MEMORY_PAGE_NOT_IO_SPACE,
                np.address(),
                np.address() + 48,
                mdlsim::mm::POISON_PFN,
            ],
        );
        assert_audit_clean(&m);
    }
}

/// An IO_SPACE MDL naming a non-memory page (device memory) cannot be mapped by the model: a
/// model error, not a panic.
#[test]
fn mapping_device_memory_is_unsupported() {
    let mut m = machine();
    let pool = m
        .ex_allocate_pool_with_tag(mdlsim::pool::PoolType::NonPaged, 0x1000, 1)
        .unwrap()
        .unwrap();
    let np = new_mdl(&mut m, pool, 0x1000);
    m.mm_build_mdl_for_non_paged_pool(np).unwrap();
    m.mdl_set_pfn(np, 0, 0xFFFF_FFFF).unwrap();
    m.mdl_set_flags(np, MdlFlags::PAGES_LOCKED | MdlFlags::IO_SPACE)
        .unwrap();
    let r = map_k(&mut m, np, CacheType::NonCached, false, 0);
    assert!(
        matches!(
            r,
            Err(mdlsim::Fault::Model(mdlsim::ModelError::Unsupported(_)))
        ),
        "{r:?}"
    );
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}
