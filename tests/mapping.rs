//! Kernel mappings: `MmMapLockedPagesSpecifyCache` (kernel), `MmGetSystemAddressForMdlSafe`,
//! `MmProtectMdlSystemAddress`, `MmUnmapLockedPages` of a system address and its misuse
//! (semantics §3.7, §3.8, §9; invariants 13-18). User mappings are in tests/mapping_user.rs,
//! mapping misuse in tests/mapping_misuse.rs.

mod common;

use common::*;
use mdlsim::addr::LIST_HEAD;
use mdlsim::bugcheck::{BugCheckCode, system_pte_misuse, verifier};
use mdlsim::mdl::{CacheType, LockOperation, MdlFlags, priority};
use mdlsim::pool::tag;
use mdlsim::space::{Protection, PteKind, SpaceId};
use mdlsim::{Config, Machine, NtStatus};

use LockOperation::IoReadAccess;

/// §3.7 kernel path success: span PTEs reserved, `MappedSystemVa` = base + ByteOffset,
/// `MDL_MAPPED_TO_SYSTEM_VA` set, PTEs read-write over the locked frames with the requested
/// cache type, and no reference/share count changes. §3.8: unmap clears the flag, releases
/// the PTEs, leaves `MappedSystemVa` stale.
#[test]
fn kernel_map_and_unmap_success() {
    let (mut m, app, buf, mdl) = locked();
    let fs = frames(&m, mdl);
    let before: Vec<_> = fs.iter().map(|f| counts(&m, *f)).collect();
    let start = m.counters();
    let sys = map_k(&mut m, mdl, CacheType::NonCached, false, priority::NORMAL)
        .unwrap()
        .unwrap();
    let c = m.counters().since(&start);
    assert_eq!(
        (c.mappings, c.system_ptes_written, c.user_ptes_written),
        (1, 3, 0)
    );
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
    assert_eq!(m.counters().since(&start).unmappings, 1);
    // The whole range is remembered as released, for blame: its last page too.
    let r = m.blame().released_at(SpaceId::System, page(sys, 2));
    let r = r.expect("the mapping's last page is a released range");
    assert_eq!(
        (r.start, r.len, r.what),
        (
            sys.page_align(),
            3 * mdlsim::addr::PAGE_SIZE,
            "an MDL mapping"
        )
    );
    let d = m.mdl(mdl).unwrap();
    assert!(!d.flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA));
    assert_eq!(d.mapped_system_va, sys, "stale");
    assert_eq!(m.system_ptes_in_use(), 0);
    assert_eq!(m.mappings().count(), 0);
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 14 asks for a locked page, not one its process still maps: after the process
/// frees the buffer, `MmProbeAndLockPages`' reference alone keeps each frame (reference 1,
/// share 0), so mapping the MDL is legal and shows the bytes the page held; unlock then
/// frees the frames.
#[test]
fn a_locked_page_its_process_freed_can_still_be_mapped() {
    let (mut m, app, buf, mdl) = locked();
    let held = m.user_read(app, at(buf, 0x123), 4).unwrap();
    m.virtual_free(app, buf, 0, mdlsim::vm::MEM_RELEASE)
        .unwrap();
    let fs = frames(&m, mdl);
    assert!(fs.iter().all(|f| counts(&m, *f) == (1, 0)));
    let sys = system_va(&mut m, mdl);
    assert_eq!(m.kernel_read(sys, 4).unwrap(), held);
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// A page of non-paged pool counts as locked for invariant 14 whatever its counts (pool is
/// never paged or repurposed while allocated): a proxy that splices a pool page into a locked
/// user MDL (the head/tail substitution) maps it, and the mapping shows the pool's bytes;
/// with the user frame put back, unlock balances the books.
#[test]
fn a_pool_page_spliced_into_a_locked_mdl_maps() {
    let (mut m, _app, _buf, mdl) = locked();
    let pool = nonpaged(&mut m, 0x1000, 1);
    m.kernel_write(pool, &[0xAB; 0x1000]).unwrap();
    let pool_frame = m.translate(SpaceId::System, pool).unwrap();
    let user_frame = frames(&m, mdl)[0];
    m.mdl_set_pfn(mdl, 0, pool_frame.raw()).unwrap();
    let sys = system_va(&mut m, mdl);
    assert_eq!(m.kernel_read(sys, 4).unwrap(), vec![0xAB; 4]);
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    m.mdl_set_pfn(mdl, 0, user_frame.raw()).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(pool, 1).unwrap();
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
/// NO_MORE_SYSTEM_PTES (0x3F) with (0, pages, free PTEs, all PTEs).
#[test]
fn pte_exhaustion_with_bug_check_on_failure_is_0x3f() {
    let mut m = Machine::new(Config::default().system_ptes(2)).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(&mut m, app, at(buf, 1), 0x2000, IoReadAccess);
    let r = map_k(&mut m, mdl, CacheType::Cached, true, priority::NORMAL);
    expect_bug_check(&mut m, r, BugCheckCode::NO_MORE_SYSTEM_PTES, [0, 3, 2, 2]);
    assert_audit_clean(&m);
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

/// §9 `MmProtectMdlSystemAddress` (Windows only): READONLY makes kernel writes 0xBE,
/// NOACCESS makes reads 0x50, READWRITE restores; bad protections and unmapped MDLs are
/// returned statuses; only the MDL's own PTEs change.
#[test]
fn protect_mdl_system_address_changes_the_kernel_ptes() {
    let (mut m, app, _buf, mdl) = locked();
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
    // A second MDL's mapping, made after the first, above it in system space.
    let buf2 = user_buf(&mut m, app, 0x1000);
    let other = lock_user(&mut m, app, buf2, 0x1000, IoReadAccess);
    let above = system_va(&mut m, other);
    assert!(above > sys, "{above} is above {sys}");
    m.mm_protect_mdl_system_address(mdl, 0x02).unwrap();
    for i in 0..3 {
        assert_eq!(
            m.pte(SpaceId::System, page(sys, i)).unwrap().protection,
            Protection::ReadOnly
        );
    }
    assert_eq!(
        m.pte(SpaceId::System, above).unwrap().protection,
        Protection::ReadWrite,
        "only the MDL's own PTEs change"
    );
    m.mm_unmap_locked_pages(above, other).unwrap();
    m.mm_unlock_pages(other).unwrap();
    m.io_free_mdl(other).unwrap();
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

/// Invariant 17: a second kernel unmap (double unmap) is, under Verifier, 0xC4/0xB6 (P2 the
/// MDL, P3 its flags, P4 the missing `MDL_MAPPED_TO_SYSTEM_VA`); without it (with
/// `TrackPtes`) SYSTEM_PTE_MISUSE (0xDA) P1 0x06, P2 the MDL, P3 the address, P4 the
/// mappings to free (its 3 pages).
#[test]
fn double_kernel_unmap_is_system_pte_misuse_6() {
    let (mut v, _app, _buf, mdl) = locked();
    let sys = map_k(&mut v, mdl, CacheType::Cached, false, 0)
        .unwrap()
        .unwrap();
    v.mm_unmap_locked_pages(sys, mdl).unwrap();
    let flags = v.mdl(mdl).unwrap().flags.bits() as u64;
    let r = v.mm_unmap_locked_pages(sys, mdl);
    expect_bug_check(
        &mut v,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::UNMAP_LOCKED_PAGES_NOT_MAPPED,
            mdl.address(),
            flags,
            MdlFlags::MAPPED_TO_SYSTEM_VA.bits() as u64,
        ],
    );

    let config = Config::default()
        .verifier(mdlsim::verifier::Verifier::OFF)
        .track_ptes(true);
    let (mut m, _app, _buf, mdl) = locked_on(config);
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
            3,
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
