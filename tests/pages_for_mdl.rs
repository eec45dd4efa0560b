//! `MmAllocatePagesForMdlEx` and `MmFreePagesFromMdl` (semantics §3.9, §3.10, §9;
//! invariants 20, 21).

mod common;

use common::*;
use mdlsim::addr::{LIST_HEAD, PAGE_SIZE, Va};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, alloc_flags, priority};
use mdlsim::pfn::{FrameOwner, PageState};
use mdlsim::shadow::Label;
use mdlsim::space::SpaceId;
use mdlsim::vm::MEM_RELEASE;
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Machine, MdlId};

fn alloc(m: &mut Machine, bytes: u64, flags: u32) -> Option<MdlId> {
    m.mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, bytes, CacheType::Cached, flags)
        .unwrap()
}

/// §3.9 success: StartVa 0, ByteOffset 0, ByteCount = pages × 4096, PAGES_LOCKED, no Process,
/// not mapped; each page reference 1, share 1, marked as an MDL allocation, zeroed (even a
/// reused frame that held someone's data).
#[test]
fn allocate_pages_for_mdl_success_zeroes_reused_frames() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    m.user_write(app, buf, &[0xAB; 0x2000]).unwrap();
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    let mdl = alloc(&mut m, 0x2800, 0).unwrap();
    let d = m.mdl(mdl).unwrap().clone();
    assert_eq!(
        (d.start_va, d.byte_offset, d.byte_count),
        (Va::NULL, 0, 0x3000)
    );
    assert_eq!(d.flags, MdlFlags::PAGES_LOCKED);
    assert_eq!((d.process, d.mapped_system_va), (None, Va::NULL));
    let fs = frames(&m, mdl);
    assert_eq!(fs.len(), 3);
    for f in &fs {
        let e = m.pfn_entry(*f).unwrap();
        assert_eq!(
            (e.reference_count, e.share_count, e.mdl_allocation),
            (1, 1, true)
        );
        assert_eq!(
            (e.state, e.owner),
            (PageState::Active, FrameOwner::MdlAllocation)
        );
        assert!(m.frame_bytes(*f).unwrap().iter().all(|b| *b == 0));
        assert_eq!(m.frame_labels(*f, 0, 4096).unwrap()[0].label, Label::Zero);
    }
    assert_audit_clean(&m);
    m.mm_free_pages_from_mdl(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// §9 (Windows honours MM_DONT_ZERO_ALLOCATION): the pages keep their previous owner's bytes
/// and provenance.
#[test]
fn dont_zero_allocation_exposes_the_previous_owner() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"old secret").unwrap();
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    let mdl = alloc(&mut m, 0x1000, alloc_flags::MM_DONT_ZERO_ALLOCATION).unwrap();
    let f = frames(&m, mdl)[0];
    assert_eq!(&m.frame_bytes(f).unwrap()[..10], b"old secret");
    assert_eq!(
        m.frame_labels(f, 0, 1).unwrap()[0].label,
        Label::Origin {
            space: SpaceId::Process(app),
            va: buf
        }
    );
    m.mm_free_pages_from_mdl(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 21: fewer pages than asked is success: ByteCount says how many; the slot after the
/// last is LIST_HEAD; Size still reflects the request. MM_ALLOCATE_FULLY_REQUIRED returns NULL
/// instead and gives every page back, and succeeds when RAM holds exactly the pages asked.
#[test]
fn short_allocation_is_success_unless_fully_required() {
    // Nine frames, frame 0 reserved: eight to hand out.
    let mut m = Machine::new(Config::default().physical_memory(9 * PAGE_SIZE)).unwrap();
    let mut full = m.clone();
    let mdl = alloc(&mut m, 12 * PAGE_SIZE, 0).unwrap();
    let d = m.mdl(mdl).unwrap();
    assert_eq!(d.byte_count as u64, 8 * PAGE_SIZE);
    assert_eq!(d.pfn_array()[8], LIST_HEAD);
    assert_eq!(d.size as u64, 48 + 8 * 12);
    assert_eq!(alloc(&mut m, PAGE_SIZE, 0), None, "memory exhausted: NULL");
    let va = m
        .mm_map_locked_pages_specify_cache(
            mdl,
            AccessMode::KernelMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL,
        )
        .unwrap()
        .unwrap();
    assert_eq!(m.system_ptes_in_use(), 8);
    m.mm_unmap_locked_pages(va, mdl).unwrap();
    m.mm_free_pages_from_mdl(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    assert_eq!(
        alloc(
            &mut full,
            12 * PAGE_SIZE,
            alloc_flags::MM_ALLOCATE_FULLY_REQUIRED
        ),
        None
    );
    assert_eq!(full.frames_in_use(), 0);
    assert_audit_clean(&full);
    // Exactly what RAM has is not short: the whole request succeeds, and the counters
    // show the eight pages.
    let start = full.counters();
    let all = alloc(
        &mut full,
        8 * PAGE_SIZE,
        alloc_flags::MM_ALLOCATE_FULLY_REQUIRED,
    )
    .unwrap();
    assert_eq!(full.mdl(all).unwrap().byte_count as u64, 8 * PAGE_SIZE);
    assert_eq!(full.counters().since(&start).pages_allocated_for_mdl, 8);
}

/// §3.9: zero bytes, an unaligned Skip, or an unknown flag return NULL; a request of u64::MAX
/// bytes is clamped and never panics.
#[test]
fn degenerate_requests_return_null_or_clamp() {
    // Five frames, frame 0 reserved: four to hand out.
    let mut m = Machine::new(Config::default().physical_memory(5 * PAGE_SIZE)).unwrap();
    assert_eq!(alloc(&mut m, 0, 0), None);
    assert_eq!(
        m.mm_allocate_pages_for_mdl_ex(0, u64::MAX, 1, 0x1000, CacheType::Cached, 0)
            .unwrap(),
        None
    );
    assert_eq!(alloc(&mut m, 0x1000, 0x40), None);
    let mdl = alloc(&mut m, u64::MAX, 0).unwrap();
    assert_eq!(m.mdl(mdl).unwrap().byte_count as u64, 4 * PAGE_SIZE);
    m.mm_free_pages_from_mdl(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// §3.10 success: pages go back to the free list, slots become LIST_HEAD, PAGES_LOCKED is
/// cleared, the MDL itself survives (the caller frees it); a second call finds nothing to free.
#[test]
fn free_pages_from_mdl_returns_the_pages() {
    let mut m = machine();
    let mdl = alloc(&mut m, 0x2000, 0).unwrap();
    let fs = frames(&m, mdl);
    m.mm_free_pages_from_mdl(mdl).unwrap();
    for f in &fs {
        let e = m.pfn_entry(*f).unwrap();
        assert_eq!(
            (e.state, e.reference_count, e.share_count, e.mdl_allocation),
            (PageState::Free, 0, 0, false)
        );
    }
    let d = m.mdl(mdl).unwrap();
    assert_eq!(&d.pfn_array()[..2], &[LIST_HEAD, LIST_HEAD]);
    assert!(!d.flags.contains(MdlFlags::PAGES_LOCKED));
    m.mm_free_pages_from_mdl(mdl).unwrap();
    assert_eq!(m.frames_in_use(), 0);
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 20: MmFreePagesFromMdl on a probe-locked MDL is MEMORY_MANAGEMENT (0x1A)
/// P1 0x1236, P2 the MDL, P3 the slot's address, P4 the frame.
#[test]
fn free_pages_from_a_probed_mdl_is_0x1a_1236() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let mdl = lock_user(&mut m, app, buf, 0x1000, LockOperation::IoReadAccess);
    let f = frames(&m, mdl)[0];
    let r = m.mm_free_pages_from_mdl(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::MEMORY_MANAGEMENT,
        [0x1236, mdl.address(), mdl.address() + 48, f.raw()],
    );
    assert_eq!(counts(&m, f), (2, 1));
    assert_audit_clean(&m);
}

/// Invariant 20: an IO_SPACE MDL is the ASSERT.
#[test]
fn free_pages_from_io_space_mdl_asserts() {
    let mut m = machine();
    let mdl = alloc(&mut m, 0x1000, 0).unwrap();
    m.mdl_set_flags(mdl, MdlFlags::PAGES_LOCKED | MdlFlags::IO_SPACE)
        .unwrap();
    let r = m.mm_free_pages_from_mdl(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
}

/// §3.10 / invariant 20: freeing pages that are still mapped is recorded, and the mapping is
/// then a dangling PTE (hazard).
#[test]
fn free_pages_while_mapped_is_recorded_and_dangles() {
    let mut m = machine();
    let mdl = alloc(&mut m, 0x1000, 0).unwrap();
    m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
        .unwrap()
        .unwrap();
    m.mm_free_pages_from_mdl(mdl).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::FreePagesWhileMapped && e.mdl == Some(mdl))
    );
    let h = m.hazards();
    assert!(
        h.iter()
            .any(|h| h.kind == mdlsim::audit::HazardKind::DanglingPte),
        "{h:?}"
    );
    assert_audit_clean(&m);
}

/// A partial MDL borrows an allocation's frames without a reference; freeing the
/// allocation while the partial MDL's mapping names them is one event, at the free's
/// step (FreePagesWhileMapped), and the frames are not reported again at a later call.
#[test]
fn freeing_pages_a_partial_mapping_borrows_is_one_event_at_the_free() {
    let mut m = machine();
    let mdl = alloc(&mut m, 0x1000, 0).unwrap();
    let va = m.mdl(mdl).unwrap().start_va;
    let t = new_mdl(&mut m, va, 0x100);
    m.io_build_partial_mdl(mdl, t, va, 0x100).unwrap();
    system_va(&mut m, t);
    m.mm_free_pages_from_mdl(mdl).unwrap();
    let step = m.step();
    m.io_free_mdl(mdl).unwrap();
    let seen: Vec<(EventKind, u64)> = m.events().iter().map(|e| (e.kind, e.step)).collect();
    assert_eq!(seen, [(EventKind::FreePagesWhileMapped, step)]);
}

/// §3.10: a page someone else still has locked (a KernelMode probe of the mapping) survives
/// MmFreePagesFromMdl in Transition and is freed at that unlock.
#[test]
fn freed_page_locked_by_another_mdl_survives_until_unlock() {
    let mut m = machine();
    let mdl = alloc(&mut m, 0x1000, 0).unwrap();
    let va = system_va(&mut m, mdl);
    let other = new_mdl(&mut m, va, 0x1000);
    m.mm_probe_and_lock_pages(other, AccessMode::KernelMode, LockOperation::IoWriteAccess)
        .unwrap();
    let f = frames(&m, mdl)[0];
    assert_eq!(counts(&m, f), (2, 1));
    m.mm_unmap_locked_pages(va, mdl).unwrap();
    m.mm_free_pages_from_mdl(mdl).unwrap();
    assert_eq!(counts(&m, f), (1, 0));
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Transition);
    assert_audit_clean(&m);
    m.mm_unlock_pages(other).unwrap();
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Free);
    m.io_free_mdl(other).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 8 applied to allocated pages: MmUnlockPages of an MmAllocatePagesForMdl MDL drops
/// the only reference of a shared page: PFN_LIST_CORRUPT (0x4E, 7, pfn, share 1).
#[test]
fn unlocking_allocated_pages_is_pfn_list_corrupt() {
    let mut m = machine();
    let mdl = alloc(&mut m, 0x1000, 0).unwrap();
    let f = frames(&m, mdl)[0];
    let r = m.mm_unlock_pages(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PFN_LIST_CORRUPT,
        [0x07, f.raw(), 1, 0],
    );
    assert_audit_clean(&m);
}

/// NULL to MmFreePagesFromMdl: the NULL dereference (0x1E).
#[test]
fn free_pages_from_null_mdl() {
    let mut m = machine();
    let r = m.mm_free_pages_from_mdl(None);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        null_mdl_params(),
    );
}

/// Allocated pages can be mapped into a user process and read there (the MDL user-map path
/// with MmAllocatePagesForMdl, §3.7).
#[test]
fn allocated_pages_map_into_user_space() {
    let (mut m, app) = with_app();
    let mdl = alloc(&mut m, 0x2000, 0).unwrap();
    let sys = system_va(&mut m, mdl);
    m.kernel_write(at(sys, 0x1FFE), b"hi").unwrap();
    m.switch_to(Some(app)).unwrap();
    let uva = map_user(&mut m, mdl);
    assert_eq!(m.user_read(app, at(uva, 0x1FFE), 2).unwrap(), b"hi");
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    m.mm_free_pages_from_mdl(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Regression (found by the randomized audit run): MmFreePagesFromMdl on an MDL that had
/// *probed* allocated pages (through their system mapping) passes the allocation check (the
/// frames are MmAllocatePagesForMdl pages), frees the allocation, and the MDL forgets its own
/// lock — which is leaked (still referenced, recorded), not lost from the books; a later
/// re-probe takes a fresh lock, and the owner's own MmFreePagesFromMdl then fails 0x1A/0x1236.
#[test]
fn free_pages_through_a_probing_mdl_leaks_its_lock() {
    let mut m = machine();
    let owner = alloc(&mut m, 0x1000, 0).unwrap();
    let va = system_va(&mut m, owner);
    let prober = new_mdl(&mut m, va, 1);
    m.mm_probe_and_lock_pages(prober, AccessMode::KernelMode, LockOperation::IoReadAccess)
        .unwrap();
    let f = frames(&m, owner)[0];
    assert_eq!(counts(&m, f), (2, 1));
    m.mm_free_pages_from_mdl(prober).unwrap();
    assert_eq!(
        counts(&m, f),
        (1, 0),
        "allocation freed, the probe's reference leaked"
    );
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Transition);
    assert!(m.mdl_lock(prober).unwrap().is_none());
    assert_eq!(m.leaked_locks().len(), 1);
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::MdlFreedWhileLocked && e.mdl == Some(prober))
    );
    assert_audit_clean(&m);
    m.mm_probe_and_lock_pages(prober, AccessMode::KernelMode, LockOperation::IoReadAccess)
        .unwrap();
    assert_eq!(counts(&m, f), (2, 0));
    assert_audit_clean(&m);
    m.mm_unlock_pages(prober).unwrap();
    m.io_free_mdl(prober).unwrap();
    assert_audit_clean(&m);
    m.mm_unmap_locked_pages(va, owner).unwrap();
    let r = m.mm_free_pages_from_mdl(owner);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::MEMORY_MANAGEMENT,
        [0x1236, owner.address(), owner.address() + 48, f.raw()],
    );
    assert_audit_clean(&m);
}

/// Found by the `ops` fuzz target (docs/fuzzing.md): a huge `TotalBytes` used to build a
/// 1,048,575-page MDL (its 16-bit `Size` truncated) and take every frame of a 4 GiB
/// machine — seconds and gigabytes of host memory per call. §3.9: the MDL comes from
/// `MmCreateMdl(NULL, NULL, PageCount << PAGE_SHIFT)`, which refuses a descriptor over
/// 0xFFFF bytes (§3.1), and `PageCount -= PageCount / 16` until it fits.
/// Server 2003's rule (ReactOS's, which the fuzz finding was made on).
#[test]
fn allocate_pages_for_mdl_shrinks_a_huge_request_until_mmcreatemdl_can_describe_it() {
    let mut m = Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap();
    for (total, pages) in [
        (8185 * PAGE_SIZE, 8185u64), // the largest descriptor: as asked
        (8186 * PAGE_SIZE, 7675),    // one page more: 8186 - 8186/16
        (1 << 40, 7737),
        (u64::MAX, 8128),
    ] {
        let mdl = alloc(&mut m, total, 0).unwrap();
        let d = m.mdl(mdl).unwrap().clone();
        assert_eq!(
            d.byte_count as u64,
            pages * PAGE_SIZE,
            "TotalBytes {total:#x}"
        );
        assert_eq!(
            d.size as u64,
            48 + 8 * pages,
            "Size for TotalBytes {total:#x}"
        );
        assert_eq!(frames(&m, mdl).len() as u64, pages);
        m.mm_free_pages_from_mdl(mdl).unwrap();
        m.io_free_mdl(mdl).unwrap();
    }
    assert!(m.audit().is_empty());
}

/// Windows 7 and later (Microsoft, `MmAllocatePagesForMdlEx`: at most 4 GiB − PAGE_SIZE
/// in one call): a 32 MiB request is served whole (Server 2003 shrinks it to 7,680
/// pages), and a huge one is capped at 1,048,575 pages and gets what RAM there is — here
/// every frame of a 64 MiB machine, the MDL saying so in `ByteCount` while its array
/// (and 16-bit `Size`, wrapped) covers the pages asked for. No NULL: a partial allocation
/// is a success unless `MM_ALLOCATE_FULLY_REQUIRED`.
#[test]
fn allocate_pages_for_mdl_takes_up_to_4_gib_less_a_page_on_windows_10() {
    let mut m = Machine::new(Config::default()).unwrap();
    let mdl = alloc(&mut m, 32 << 20, 0).unwrap();
    assert_eq!(m.mdl(mdl).unwrap().byte_count, 32 << 20);
    m.mm_free_pages_from_mdl(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    let mut small = Machine::new(Config::default().physical_memory(64 << 20)).unwrap();
    let mdl = alloc(&mut small, u64::MAX, 0).unwrap();
    let d = small.mdl(mdl).unwrap().clone();
    let wanted = (1u64 << 32) / PAGE_SIZE - 1;
    assert_eq!(d.pfn_array().len() as u64, wanted);
    assert_eq!(d.size as u64, (48 + 8 * wanted) & 0xFFFF);
    // Every frame but the reserved frame 0.
    assert_eq!(d.byte_count as u64, (64 << 20) - PAGE_SIZE);
    assert_eq!(
        alloc(&mut small, 1 << 20, alloc_flags::MM_ALLOCATE_FULLY_REQUIRED),
        None,
        "no frame left"
    );
    small.mm_free_pages_from_mdl(mdl).unwrap();
    small.io_free_mdl(mdl).unwrap();
    assert!(small.audit().is_empty() && m.audit().is_empty());
}

/// Only a mapping of these pages makes `MmFreePagesFromMdl` a free while mapped: another
/// MDL's mapping of other pages, still live, is no event.
#[test]
fn another_mdls_mapping_of_other_pages_is_not_a_free_while_mapped() {
    let mut m = machine();
    let mapped = alloc(&mut m, 0x1000, 0).unwrap();
    let sys = system_va(&mut m, mapped);
    let freed = alloc(&mut m, 0x1000, 0).unwrap();
    m.mm_free_pages_from_mdl(freed).unwrap();
    assert!(
        !m.events()
            .iter()
            .any(|e| e.kind == EventKind::FreePagesWhileMapped),
        "{:?}",
        m.events()
    );
    m.io_free_mdl(freed).unwrap();
    m.mm_unmap_locked_pages(sys, mapped).unwrap();
    m.mm_free_pages_from_mdl(mapped).unwrap();
    m.io_free_mdl(mapped).unwrap();
    assert_audit_clean(&m);
}

/// 0x1A/0x1236's P3 is the address of the offending slot itself: a pool page spliced into
/// the second slot of an `MmAllocatePagesForMdl` MDL is named at `MDL + 48 + 8`.
#[test]
fn a_foreign_page_in_a_later_slot_is_named_at_that_slot() {
    let mut m = machine();
    let mdl = alloc(&mut m, 0x2000, 0).unwrap();
    let pool = nonpaged(&mut m, 0x1000, 1);
    let f = m.translate(SpaceId::System, pool).unwrap();
    m.mdl_set_pfn(mdl, 1, f.raw()).unwrap();
    let r = m.mm_free_pages_from_mdl(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::MEMORY_MANAGEMENT,
        [0x1236, mdl.address(), mdl.address() + 48 + 8, f.raw()],
    );
}
