//! `IoBuildPartialMdl`, partial-MDL mapping and `MmPrepareMdlForReuse`
//! (semantics §3.3, §4, §9; invariants 3, 22-24).

mod common;

use common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::{BugCheckCode, system_pte_misuse, verifier};
use mdlsim::events::EventKind;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use mdlsim::pfn::PageState;
use mdlsim::space::Pid;
use mdlsim::vm::MEM_RELEASE;
use mdlsim::{Config, Machine, MdlId};

use LockOperation::IoReadAccess;

/// A process with a 4-page buffer (bytes `i % 251`), locked from offset 0x80 for 0x3000 bytes.
fn source() -> (Machine, Pid, Va, MdlId) {
    source_on(Config::default())
}

/// [`source`] on a machine configured with `config`.
fn source_on(config: Config) -> (Machine, Pid, Va, MdlId) {
    let mut m = Machine::new(config).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x4000);
    let data: Vec<u8> = (0..0x4000u32).map(|i| (i % 251) as u8).collect();
    m.user_write(app, buf, &data).unwrap();
    let src = lock_user(&mut m, app, at(buf, 0x80), 0x3000, IoReadAccess);
    (m, app, buf, src)
}

fn target(m: &mut Machine, va: Va, len: u32) -> MdlId {
    m.io_allocate_mdl(va, len, false, false, None)
        .unwrap()
        .unwrap()
}

/// §4 steps 1-7: StartVa/ByteOffset/ByteCount of the sub-range, `Process` copied, flags
/// PARTIAL plus the target's ALLOCATED_FIXED_SIZE, the PFN entries copied from the right
/// source slot, no reference counts changed.
#[test]
fn partial_describes_the_sub_range_and_borrows_the_source_frames() {
    let (mut m, app, buf, src) = source();
    let fs = frames(&m, src);
    let before: Vec<_> = fs.iter().map(|f| counts(&m, *f)).collect();
    let t = target(&mut m, buf, 1);
    let va = at(buf, 0x1F00);
    m.io_build_partial_mdl(src, t, va, 0x300).unwrap();
    let d = m.mdl(t).unwrap();
    assert_eq!(
        (d.start_va, d.byte_offset, d.byte_count),
        (page(buf, 1), 0xF00, 0x300)
    );
    assert_eq!(d.process, Some(app));
    assert_eq!(d.flags, MdlFlags::PARTIAL | MdlFlags::ALLOCATED_FIXED_SIZE);
    assert_eq!(frames(&m, t), vec![fs[1], fs[2]]);
    let after: Vec<_> = fs.iter().map(|f| counts(&m, *f)).collect();
    assert_eq!(before, after);
    m.io_free_mdl(t).unwrap();
    m.mm_unlock_pages(src).unwrap();
    m.io_free_mdl(src).unwrap();
    assert_audit_clean(&m);
}

/// §4 step 2: Length 0 means "the rest of the source".
#[test]
fn zero_length_partial_takes_the_rest_of_the_source() {
    let (mut m, _app, buf, src) = source();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x1080), 0).unwrap();
    assert_eq!(m.mdl(t).unwrap().byte_count, 0x2000);
    assert_eq!(frames(&m, t), frames(&m, src)[1..].to_vec());
    m.io_free_mdl(t).unwrap();
    m.mm_unlock_pages(src).unwrap();
    m.io_free_mdl(src).unwrap();
    assert_audit_clean(&m);
}

/// §4 step 5: only ALLOCATED_FIXED_SIZE | ALLOCATED_MUST_SUCCEED of the target survive;
/// IO_PAGE_READ and MAPPED_TO_SYSTEM_VA of the source are inherited; WRITE_OPERATION,
/// PAGES_LOCKED and MAPPING_CAN_FAIL are not.
#[test]
fn partial_flag_inheritance() {
    let (mut m, app, buf, _) = source();
    let src = lock_user(&mut m, app, buf, 0x2000, LockOperation::IoWriteAccess);
    let sf = m.mdl(src).unwrap().flags;
    m.mdl_set_flags(
        src,
        sf | MdlFlags::IO_PAGE_READ | MdlFlags::MAPPING_CAN_FAIL,
    )
    .unwrap();
    m.mm_get_system_address_for_mdl_safe(src, priority::NORMAL)
        .unwrap()
        .unwrap();
    let t = target(&mut m, buf, 1);
    m.mdl_set_flags(
        t,
        MdlFlags::ALLOCATED_FIXED_SIZE
            | MdlFlags::ALLOCATED_MUST_SUCCEED
            | MdlFlags::NETWORK_HEADER,
    )
    .unwrap();
    m.io_build_partial_mdl(src, t, at(buf, 0x10), 0x10).unwrap();
    assert_eq!(
        m.mdl(t).unwrap().flags,
        MdlFlags::PARTIAL
            | MdlFlags::ALLOCATED_FIXED_SIZE
            | MdlFlags::ALLOCATED_MUST_SUCCEED
            | MdlFlags::IO_PAGE_READ
            | MdlFlags::MAPPED_TO_SYSTEM_VA
    );
    m.io_free_mdl(t).unwrap();
    m.mm_unlock_pages(src).unwrap();
    m.io_free_mdl(src).unwrap();
    assert_audit_clean(&m);
}

/// §4 mapping rules: a partial of a mapped source inherits the mapping: its system address is
/// the source's mapping + offset, no new PTEs, same bytes; freeing it leaves the source mapped.
#[test]
fn partial_of_mapped_source_uses_the_source_mapping() {
    let (mut m, app, buf, src) = source();
    let sys = system_va(&mut m, src);
    let ptes = m.system_ptes_in_use();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x1234), 0x100)
        .unwrap();
    let psys = system_va(&mut m, t);
    assert_eq!(psys, at(sys, 0x1234 - 0x80));
    assert_eq!(m.system_ptes_in_use(), ptes);
    assert_eq!(
        m.kernel_read(psys, 0x100).unwrap(),
        m.user_read(app, at(buf, 0x1234), 0x100).unwrap()
    );
    m.io_free_mdl(t).unwrap();
    assert!(
        m.mdl(src)
            .unwrap()
            .flags
            .contains(MdlFlags::MAPPED_TO_SYSTEM_VA)
    );
    assert_eq!(m.kernel_read(sys, 1).unwrap().len(), 1);
    m.mm_unlock_pages(src).unwrap();
    m.io_free_mdl(src).unwrap();
    assert_audit_clean(&m);
}

/// Invariant 24: kernel-unmapping a partial whose mapping is inherited is refused
/// (SYSTEM_PTE_MISUSE 0x03, the mapping is the source's), not silently tearing down the
/// source's PTEs as ReactOS would — on a machine without Verifier, whose 0xC4/0xB5 for
/// any `MmUnmapLockedPages` of a partial comes first (tests/conformance).
#[test]
fn unmapping_an_inherited_partial_mapping_is_system_pte_misuse() {
    let config = Config::default().verifier(mdlsim::verifier::Verifier::OFF);
    let (mut m, _app, buf, src) = source_on(config.track_ptes(true));
    m.mm_get_system_address_for_mdl_safe(src, priority::NORMAL)
        .unwrap()
        .unwrap();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x1000), 0x100)
        .unwrap();
    let psys = m.mdl(t).unwrap().mapped_system_va;
    let r = m.mm_unmap_locked_pages(psys, t);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::WRONG_MAPPING_ADDRESS,
            t.address(),
            psys.raw(),
            psys.raw(),
        ],
    );
    assert_audit_clean(&m);
}

/// §4: a partial of an unmapped source gets its own mapping (MAPPED_TO_SYSTEM_VA +
/// PARTIAL_HAS_BEEN_MAPPED on the partial only); §3.3: MmPrepareMdlForReuse releases it.
#[test]
fn partial_own_mapping_is_released_by_prepare_for_reuse() {
    let (mut m, app, buf, src) = source();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x2010), 0x1000)
        .unwrap();
    let psys = system_va(&mut m, t);
    assert_eq!(psys.byte_offset(), 0x10);
    assert!(
        m.mdl(t)
            .unwrap()
            .flags
            .contains(MdlFlags::MAPPED_TO_SYSTEM_VA | MdlFlags::PARTIAL_HAS_BEEN_MAPPED)
    );
    assert!(
        !m.mdl(src)
            .unwrap()
            .flags
            .contains(MdlFlags::MAPPED_TO_SYSTEM_VA)
    );
    assert_eq!(m.system_ptes_in_use(), 2);
    assert_eq!(
        m.kernel_read(psys, 8).unwrap(),
        m.user_read(app, at(buf, 0x2010), 8).unwrap()
    );
    m.mm_prepare_mdl_for_reuse(t).unwrap();
    assert!(
        !m.mdl(t)
            .unwrap()
            .flags
            .intersects(MdlFlags::MAPPED_TO_SYSTEM_VA | MdlFlags::PARTIAL_HAS_BEEN_MAPPED)
    );
    assert_eq!(m.system_ptes_in_use(), 0);
    // The target can be rebuilt, mapped again, and IoFreeMdl releases that mapping too.
    m.io_build_partial_mdl(src, t, at(buf, 0x80), 0x10).unwrap();
    m.mm_get_system_address_for_mdl_safe(t, priority::NORMAL)
        .unwrap()
        .unwrap();
    assert_eq!(m.system_ptes_in_use(), 1);
    m.io_free_mdl(t).unwrap();
    assert_eq!(m.system_ptes_in_use(), 0);
    m.mm_unlock_pages(src).unwrap();
    m.io_free_mdl(src).unwrap();
    assert_audit_clean(&m);
    assert!(m.events().is_empty(), "{:?}", m.events());
}

/// Invariant 23: rebuilding a target that still has its own mapping is recorded
/// (the old PTEs leak, still accounted).
#[test]
fn rebuilding_a_mapped_partial_target_is_recorded() {
    let (mut m, _app, buf, src) = source();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x80), 0x10).unwrap();
    m.mm_get_system_address_for_mdl_safe(t, priority::NORMAL)
        .unwrap()
        .unwrap();
    m.io_build_partial_mdl(src, t, at(buf, 0x1000), 0x10)
        .unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::PartialReusedWhileMapped && e.mdl == Some(t))
    );
    assert_audit_clean(&m);
}

/// The source a partial's own mapping borrows from is the locked MDL whose pages hold all
/// its frames, not merely another MDL: with an MDL locked over other pages of the same
/// buffer before the source, the mapping names the source, and the source's unlock is the
/// one reported (invariant 23).
#[test]
fn a_partial_mapping_borrows_from_the_mdl_that_locked_its_frames() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x4000);
    let other = lock_user(&mut m, app, at(buf, 0x3000), 0x100, IoReadAccess);
    let src = lock_user(&mut m, app, buf, 0x3000, IoReadAccess);
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x1000), 0x100)
        .unwrap();
    system_va(&mut m, t);
    let mapping = m.mappings().find(|mp| mp.mdl == t).unwrap().clone();
    assert_eq!(mapping.source, Some(src));
    m.mm_unlock_pages(other).unwrap();
    let reported = |m: &Machine| {
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::SourceUnlockedWhilePartialMapped)
    };
    assert!(!reported(&m), "the other MDL's unlock is not the source's");
    m.mm_unlock_pages(src).unwrap();
    assert!(
        reported(&m),
        "the source's unlock leaves the partial's mapping"
    );
    m.mm_prepare_mdl_for_reuse(t).unwrap();
    for mdl in [t, src, other] {
        m.io_free_mdl(mdl).unwrap();
    }
    assert_audit_clean(&m);
}

/// Invariant 23 + hazards(): a partial mapped privately whose source is unlocked (event) and
/// whose pages are then freed by their owner leaves a dangling system PTE.
#[test]
fn private_partial_mapping_outliving_its_source_is_a_dangling_pte() {
    let (mut m, app, buf, src) = source();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x1000), 0x100)
        .unwrap();
    let psys = system_va(&mut m, t);
    let f = frames(&m, t)[0];
    m.mm_unlock_pages(src).unwrap();
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::SourceUnlockedWhilePartialMapped && e.mdl == Some(t))
    );
    assert!(m.hazards().is_empty(), "the owner still has the page");
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Free);
    let h = m.hazards();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].kind, mdlsim::audit::HazardKind::DanglingPte);
    assert!(
        h[0].object.contains(&format!("{}", psys.page_align())),
        "{}",
        h[0]
    );
    assert!(h[0].created.is_some());
    assert_audit_clean(&m);
    // The kernel still reads the freed frame through it: the MMU does not notice.
    assert!(m.kernel_read(psys, 4).is_ok());
    m.io_free_mdl(t).unwrap();
    m.io_free_mdl(src).unwrap();
    assert!(m.hazards().is_empty());
    assert_audit_clean(&m);
}

/// The other order: the owner frees the pages while the source is still locked, so the
/// frames wait in Transition; the unlock frees them while the partial MDL's mapping still
/// names them, and that is reported at the unlock's own step (not at the next call's).
#[test]
fn an_unlock_that_frees_frames_a_partial_mapping_names_is_reported_at_its_step() {
    let (mut m, app, buf, src) = source();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x1000), 0x100)
        .unwrap();
    let psys = system_va(&mut m, t);
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    m.mm_unlock_pages(src).unwrap();
    let step = m.step();
    let e = m
        .events()
        .iter()
        .find(|e| e.kind == EventKind::FrameFreedWhileMapped)
        .expect("the free is reported")
        .clone();
    assert_eq!(
        (e.step, e.mdl, e.va),
        (step, Some(t), Some(psys.page_align()))
    );
}

/// §4 / §9 (Windows): a sub-range outside the source is INVALID_MDL_RANGE (0x12E) with
/// (SourceMdl, TargetMdl, VirtualAddress, Length) — before, after, straddling the end, and a
/// Length 0 whose start lies past the source.
#[test]
fn range_outside_the_source_is_invalid_mdl_range() {
    let cases = [(0x7Fu64, 0x10u32), (0x3080, 1), (0x3000, 0x81), (0x5000, 0)];
    for (off, len) in cases {
        let (mut m, _app, buf, src) = source();
        let t = target(&mut m, buf, 0x4000);
        let va = at(buf, off);
        let r = m.io_build_partial_mdl(src, t, va, len);
        let shown = if len == 0 {
            (0x3080u64.wrapping_sub(off)) as u32 as u64
        } else {
            len as u64
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::INVALID_MDL_RANGE,
            [src.address(), t.address(), va.raw(), shown],
        );
        assert_audit_clean(&m);
    }
}

/// Invariant 3 / §9: a target whose storage cannot hold the sub-range's span is
/// TARGET_MDL_TOO_SMALL (0x40), which has no parameters.
#[test]
fn target_too_small_is_0x40_without_parameters() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 30 * PAGE_SIZE);
    let src = lock_user(&mut m, app, buf, 30 * PAGE_SIZE as u32, IoReadAccess);
    let small = m.mm_create_mdl(buf, 0x1000).unwrap().unwrap();
    assert_eq!(m.mdl_capacity(small).unwrap(), 1);
    m.io_build_partial_mdl(src, small, buf, 0x1000).unwrap();
    let r = m.io_build_partial_mdl(src, small, at(buf, 0xFFF), 2);
    expect_bug_check(&mut m, r, BugCheckCode::TARGET_MDL_TOO_SMALL, [0; 4]);
    // A fixed-size IoAllocateMdl block holds 23 entries: 24 is too many.
    let mut m2 = with_app().0;
    let a2 = m2.create_process("a").unwrap();
    let b2 = user_buf(&mut m2, a2, 30 * PAGE_SIZE);
    let s2 = lock_user(&mut m2, a2, b2, 30 * PAGE_SIZE as u32, IoReadAccess);
    let t2 = target(&mut m2, b2, 1);
    m2.io_build_partial_mdl(s2, t2, b2, 23 * PAGE_SIZE as u32)
        .unwrap();
    let r = m2.io_build_partial_mdl(s2, t2, b2, 24 * PAGE_SIZE as u32);
    expect_bug_check(&mut m2, r, BugCheckCode::TARGET_MDL_TOO_SMALL, [0; 4]);
    assert_audit_clean(&m2);
}

/// Invariant 22: the source must be locked, non-paged or allocated: an unlocked source is the
/// ASSERT (0x1E).
#[test]
fn partial_of_unlocked_source_asserts() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let src = new_mdl(&mut m, buf, 0x1000);
    let t = target(&mut m, buf, 1);
    let r = m.io_build_partial_mdl(src, t, buf, 0x10);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        assert_params(),
    );
}

/// Invariant 22: non-paged-pool sources work and the partial inherits SOURCE_IS_NONPAGED_POOL
/// (its system address is pool VA + offset); partials of partials work.
#[test]
fn partials_of_nonpaged_sources_and_of_partials() {
    let mut m = machine();
    let pool = nonpaged(&mut m, 0x3000, 5);
    m.kernel_write(pool, &[7u8; 0x3000]).unwrap();
    let np = new_mdl(&mut m, pool, 0x3000);
    m.mm_build_mdl_for_non_paged_pool(np).unwrap();
    let p1 = target(&mut m, pool, 1);
    m.io_build_partial_mdl(np, p1, at(pool, 0x1000), 0x2000)
        .unwrap();
    assert!(
        m.mdl(p1)
            .unwrap()
            .flags
            .contains(MdlFlags::SOURCE_IS_NONPAGED_POOL | MdlFlags::PARTIAL)
    );
    assert_eq!(
        m.mm_get_system_address_for_mdl_safe(p1, 0).unwrap(),
        Some(at(pool, 0x1000))
    );
    let p2 = target(&mut m, pool, 1);
    m.io_build_partial_mdl(p1, p2, at(pool, 0x2800), 0x10)
        .unwrap();
    assert_eq!(
        m.mm_get_system_address_for_mdl_safe(p2, 0).unwrap(),
        Some(at(pool, 0x2800))
    );
    assert_eq!(frames(&m, p2), vec![frames(&m, np)[2]]);
    for x in [p2, p1, np] {
        m.io_free_mdl(x).unwrap();
    }
    m.ex_free_pool_with_tag(pool, 5).unwrap();
    assert_audit_clean(&m);
}

/// NULL source or target: the NULL dereference (0x1E), never a panic.
#[test]
fn null_partial_arguments_crash_cleanly() {
    for which in 0..2 {
        let (mut m, _app, buf, src) = source();
        let t = target(&mut m, buf, 1);
        let r = if which == 0 {
            m.io_build_partial_mdl(None, t, buf, 1)
        } else {
            m.io_build_partial_mdl(src, None, buf, 1)
        };
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            null_mdl_params(),
        );
    }
}

/// A partial of an MmAllocatePagesForMdlEx MDL can be mapped privately and released.
#[test]
fn partial_of_allocated_pages_maps_privately() {
    let mut m = machine();
    let src = m
        .mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, 0x3000, CacheType::Cached, 0)
        .unwrap()
        .unwrap();
    let t = target(&mut m, Va::NULL, 1);
    m.io_build_partial_mdl(src, t, Va::new(0x1000), 0x1000)
        .unwrap();
    let va = m
        .mm_map_locked_pages_specify_cache(
            t,
            AccessMode::KernelMode,
            CacheType::Cached,
            None,
            false,
            0,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        m.translate(mdlsim::space::SpaceId::System, va),
        Some(frames(&m, src)[1])
    );
    m.mm_prepare_mdl_for_reuse(t).unwrap();
    m.io_free_mdl(t).unwrap();
    m.mm_free_pages_from_mdl(src).unwrap();
    m.io_free_mdl(src).unwrap();
    assert_audit_clean(&m);
}

/// Invariants 14, 22: a partial outliving its source's lock cannot be mapped: its frames are no
/// longer locked (0xC4/0x85 naming the first unlocked frame).
#[test]
fn mapping_a_partial_after_its_source_was_unlocked_is_verifier_85() {
    let (mut m, _app, buf, src) = source();
    let t = target(&mut m, buf, 1);
    m.io_build_partial_mdl(src, t, at(buf, 0x1000), 0x1000)
        .unwrap();
    let f = frames(&m, t)[0];
    m.mm_unlock_pages(src).unwrap();
    let r = m.mm_get_system_address_for_mdl_safe(t, priority::NORMAL);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::MAP_LOCKED_PAGES_NOT_LOCKED,
            t.address(),
            1,
            f.raw(),
        ],
    );
    assert_audit_clean(&m);
}
