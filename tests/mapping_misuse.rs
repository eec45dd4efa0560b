//! Mapping what must not be mapped: an MDL mapped twice, unlocked, built for non-paged pool,
//! with zero bytes, NULL or freed, mapped with two cache types, freed while mapped, or naming
//! frames that are not memory — each the bug check or event Windows gives (semantics §3.7, §9;
//! invariants 1, 13-18).

mod common;

use common::*;
use mdlsim::Machine;
use mdlsim::addr::Va;
use mdlsim::bugcheck::{BugCheckCode, verifier};
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, MdlId, priority};
use mdlsim::space::SpaceId;

use AccessMode::{KernelMode, UserMode};
use LockOperation::IoReadAccess;

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

/// Unlocks the two-page `mdl` (MmUnlockPages leaves poison in its PFN array) and copies its
/// slots from `first` on into the same slots of a new non-paged pool MDL of two pages, as a
/// driver splicing arrays by hand would: the slots before `first` keep real pool pages.
fn non_paged_mdl_with_unlocked_slots(m: &mut Machine, mdl: MdlId, first: u32) -> MdlId {
    m.mm_unlock_pages(mdl).unwrap();
    let pool = m
        .ex_allocate_pool_with_tag(mdlsim::pool::PoolType::NonPaged, 0x2000, 1)
        .unwrap()
        .unwrap();
    let np = new_mdl(m, pool, 0x2000);
    m.mm_build_mdl_for_non_paged_pool(np).unwrap();
    m.mdl_copy_pfns(mdl, first, np, first, 2 - first).unwrap();
    np
}

/// Regression (found by the randomized audit run: a panic): mapping an MDL whose PFN array
/// names a number that is not a page of memory — here the poison MmUnlockPages leaves, copied
/// into a non-paged MDL by a driver — is Driver Verifier's 0xC4/0x89 (P3 the slot's address,
/// P4 the number), in user and kernel mode, instead of a PTE to a frame that does not exist.
#[test]
fn mapping_a_non_memory_pfn_is_verifier_89() {
    for mode in [UserMode, KernelMode] {
        let (mut m, app, _buf, mdl) = locked();
        let np = non_paged_mdl_with_unlocked_slots(&mut m, mdl, 0);
        assert_eq!(
            m.mdl(np).unwrap().pfn_array()[1],
            mdlsim::mm::POISON_PFN + 1
        );
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

/// 0xC4/0x89's P3 is the address of the slot that holds the number, not the array's start:
/// a poisoned second slot after a real first page is named at `MDL + 48 + 8`, with its own
/// number in P4.
#[test]
fn a_non_memory_pfn_in_a_later_slot_is_named_at_that_slot() {
    let (mut m, _app, _buf, mdl) = locked();
    let np = non_paged_mdl_with_unlocked_slots(&mut m, mdl, 1);
    let poison = m.mdl(np).unwrap().pfn_array()[1];
    assert_eq!(poison, mdlsim::mm::POISON_PFN + 1);
    m.mdl_set_flags(np, MdlFlags::PAGES_LOCKED).unwrap();
    let r = m.mm_map_locked_pages_specify_cache(np, KernelMode, CacheType::Cached, None, false, 0);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::MDL_NON_MEMORY_PAGE_NOT_IO_SPACE,
            np.address(),
            np.address() + 48 + 8,
            poison,
        ],
    );
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
