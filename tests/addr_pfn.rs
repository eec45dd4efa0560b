//! Addresses and the PFN database (semantics §1.1-§1.3, §2; invariants 2, 12).

mod common;

use common::*;
use mdlsim::addr::{
    LIST_HEAD, MM_HIGHEST_USER_ADDRESS, MM_LOWEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, PAGE_SHIFT,
    PAGE_SIZE, Pfn, Va, VaRange, byte_offset, bytes_to_pages, page_align, round_to_pages,
    size_of_mdl, span_pages,
};
use mdlsim::mdl::{LockOperation, MdlFlags};
use mdlsim::pfn::{FrameOwner, MAX_LOCKS_PER_PAGE, PageState};
use mdlsim::space::SpaceId;
use mdlsim::vm::MEM_RELEASE;

/// §1.1: page geometry constants and the amd64 user-space boundaries.
#[test]
fn page_geometry_and_user_boundaries() {
    assert_eq!((PAGE_SIZE, PAGE_SHIFT), (0x1000, 12));
    assert_eq!(MM_LOWEST_USER_ADDRESS.raw(), 0x10000);
    assert_eq!(MM_USER_PROBE_ADDRESS.raw(), 0x7FF_FFFF_0000);
    assert_eq!(MM_HIGHEST_USER_ADDRESS.raw(), 0x7FF_FFFE_FFFF);
    assert_eq!(LIST_HEAD, u64::MAX);
    assert_eq!(MAX_LOCKS_PER_PAGE, 2500);
    assert!(MM_HIGHEST_USER_ADDRESS.is_user() && !MM_USER_PROBE_ADDRESS.is_user());
    assert!(
        Va::new(0xFFFF_8000_0000_0000).is_system() && !Va::new(0x8000_0000_0000_0000).is_system()
    );
}

/// §1.1: BYTE_OFFSET, PAGE_ALIGN, ROUND_TO_PAGES, BYTES_TO_PAGES, with the extremes.
#[test]
fn macros_match_the_wdk_formulas() {
    for v in [
        0u64,
        1,
        0xFFF,
        0x1000,
        0x1001,
        u64::MAX,
        0xFFFF_8000_0000_0123,
    ] {
        let va = Va::new(v);
        assert_eq!(byte_offset(va) as u64, v & 0xFFF);
        assert_eq!(page_align(va).raw(), v & !0xFFF);
        assert_eq!(bytes_to_pages(v), (v >> 12) + ((v & 0xFFF) != 0) as u64);
        assert_eq!(round_to_pages(v), v.checked_add(0xFFF).map(|x| x & !0xFFF));
    }
    assert_eq!(round_to_pages(u64::MAX - 0xFFE), None);
    assert_eq!(round_to_pages(u64::MAX - 0xFFF), Some(u64::MAX - 0xFFF));
}

/// §1.1 ADDRESS_AND_SIZE_TO_SPAN_PAGES: the documented examples, and ULONG truncation of the
/// page count (the sum is 64-bit, the result truncated) for ByteCount near 4 GiB and beyond.
#[test]
fn span_pages_examples_and_truncation() {
    assert_eq!(span_pages(Va::new(0x1000), 0x1000), 1);
    assert_eq!(span_pages(Va::new(0x1FFF), 2), 2);
    assert_eq!(span_pages(Va::new(0x1000), 0), 0);
    assert_eq!(span_pages(Va::new(0x1001), 0), 1);
    assert_eq!(span_pages(Va::new(0xFFF), 0xFFFF_FFFF), 0x10_0001);
    assert_eq!(span_pages(Va::new(0), 0xFFFF_FFFF), 0x10_0000);
    // 2^44 bytes spans 2^32 pages: truncated to 0 in a ULONG.
    assert_eq!(span_pages(Va::new(0), 1 << 44), 0);
    assert_eq!(span_pages(Va::new(0x800), (1 << 44) + 0x800), 1);
    let _ = span_pages(Va::new(u64::MAX), u64::MAX);
}

/// §1.3: MmSizeOfMdl = 48 + 8 × SPAN; the IoAllocateMdl limit follows (invariant 2).
#[test]
fn size_of_mdl_and_the_0xffff_limit() {
    assert_eq!(size_of_mdl(Va::new(0x10200), 0x1000), 64);
    assert!(size_of_mdl(Va::new(0), 8185 * PAGE_SIZE) <= 0xFFFF);
    assert!(size_of_mdl(Va::new(0), 8186 * PAGE_SIZE) > 0xFFFF);
}

/// Va arithmetic is checked: overflows are `None`, never wraps unless asked.
#[test]
fn va_arithmetic_is_checked() {
    let top = Va::new(u64::MAX);
    assert_eq!(top.checked_add(1), None);
    assert_eq!(Va::NULL.checked_sub(1), None);
    assert_eq!(top.wrapping_add(1), Va::NULL);
    assert_eq!(Va::new(0x1000).checked_offset_from(Va::new(0x2000)), None);
    assert_eq!(Va::from_vpn(u64::MAX), None);
    assert_eq!(Va::from_vpn(1), Some(Va::new(0x1000)));
    assert!(VaRange::new(top, 1).is_none());
    assert_eq!(VaRange::new(Va::new(0xFFF), 2).unwrap().pages_spanned(), 2);
    assert_eq!(Pfn::new(5).raw(), 5);
}

/// §2: the life of a frame: Zeroed (never used) → Active (ref 1, share 1, owner) → locked
/// (ref 2) → owner frees it: Transition (ref 1, share 0, deleted) → unlock: Free, on the free
/// list, keeping its bytes and its last owner → reused stale by the next non-zeroing allocation.
#[test]
fn frame_life_cycle_through_a_lock() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"mine").unwrap();
    let f = m.translate(SpaceId::Process(app), buf).unwrap();
    let e = m.pfn_entry(f).unwrap().clone();
    assert_eq!(
        (
            e.state,
            e.reference_count,
            e.share_count,
            e.owner,
            e.deleted
        ),
        (PageState::Active, 1, 1, FrameOwner::Process(app), false)
    );
    let mdl = lock_user(&mut m, app, buf, 4, LockOperation::IoReadAccess);
    assert_eq!(counts(&m, f), (2, 1));
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    let e = m.pfn_entry(f).unwrap().clone();
    assert_eq!(
        (e.state, e.reference_count, e.share_count, e.deleted),
        (PageState::Transition, 1, 0, true)
    );
    assert_eq!(m.frames_in_use(), 1);
    assert_audit_clean(&m);
    m.mm_unlock_pages(mdl).unwrap();
    let e = m.pfn_entry(f).unwrap().clone();
    assert_eq!(
        (e.state, e.reference_count, e.share_count),
        (PageState::Free, 0, 0)
    );
    assert_eq!(
        e.owner,
        FrameOwner::Process(app),
        "last owner kept for reports"
    );
    assert_eq!(m.frames_in_use(), 0);
    assert_eq!(&m.frame_bytes(f).unwrap()[..4], b"mine");
    let p = m
        .ex_allocate_pool_with_tag(mdlsim::pool::PoolType::NonPaged, 0x1000, 1)
        .unwrap()
        .unwrap();
    assert_eq!(m.translate(SpaceId::System, p), Some(f));
    assert_eq!(m.kernel_read(p, 4).unwrap(), b"mine");
    assert_eq!(m.pfn_entry(f).unwrap().owner, FrameOwner::Pool);
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §2: a frame never touched has no PFN entry yet (lazily materialised), and querying an
/// out-of-range frame is `None`, not a panic.
#[test]
fn pfn_queries_never_panic() {
    let m = machine();
    // Frame 0 is reserved (never handed out): it has an entry, zeroed, owned by no one.
    let zero = m.pfn_entry(Pfn::new(0)).unwrap();
    assert_eq!(
        (zero.state, zero.owner),
        (PageState::Zeroed, FrameOwner::None)
    );
    assert!(m.pfn_entry(Pfn::new(1)).is_none());
    assert!(m.pfn_entry(Pfn::new(u64::MAX)).is_none());
    assert!(m.frame_bytes(Pfn::new(u64::MAX)).is_none());
    assert!(m.frame_labels(Pfn::new(1), 0, 1).is_none());
    assert_eq!(m.frames_touched(), 0);
}

/// §2: two locks by two MDLs, then the owner frees: the frame stays until the *last* unlock.
#[test]
fn frame_survives_until_the_last_of_several_locks() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let a = lock_user(&mut m, app, buf, 0x10, LockOperation::IoReadAccess);
    let b = lock_user(&mut m, app, buf, 0x10, LockOperation::IoReadAccess);
    let f = frames(&m, a)[0];
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    assert_eq!(counts(&m, f), (2, 0));
    m.mm_unlock_pages(a).unwrap();
    assert_eq!(
        (m.pfn_entry(f).unwrap().state, counts(&m, f)),
        (PageState::Transition, (1, 0))
    );
    m.mm_unlock_pages(b).unwrap();
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Free);
    for x in [a, b] {
        assert!(!m.mdl(x).unwrap().flags.contains(MdlFlags::PAGES_LOCKED));
        m.io_free_mdl(x).unwrap();
    }
    assert_audit_clean(&m);
}
