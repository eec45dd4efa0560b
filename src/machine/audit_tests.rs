//! Negative controls: corrupt the books on purpose and prove `audit()` names the right
//! invariant (and positive controls: the uncorrupted machine is clean). Plus the
//! `hazards()` controls.
use super::*;
use crate::addr::Pfn;
use crate::mdl::{AccessMode, LockOperation, MdlId, priority};
use crate::pool::PoolType;
use crate::space::{MappingId, Pid, Protection, Pte};
use crate::vm::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE};
use crate::{Config, Machine};

/// A machine with a locked, kernel-mapped 2-page user buffer and a pool allocation.
fn busy() -> (Machine, Pid, Va, MdlId, Va, Va) {
    let mut m = Machine::new(Config::default()).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = m
        .virtual_alloc(
            app,
            None,
            0x2000,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = m
        .io_allocate_mdl(buf, 0x2000, false, false, None)
        .unwrap()
        .unwrap();
    m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess)
        .unwrap();
    let sys = m
        .mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
        .unwrap()
        .unwrap();
    let pool = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 0x1000, 7)
        .unwrap()
        .unwrap();
    assert!(m.audit().is_empty(), "positive control: {:?}", m.audit());
    (m, app, buf, mdl, sys, pool)
}

fn names(m: &Machine) -> Vec<Invariant> {
    m.audit().iter().map(|v| v.invariant).collect()
}

fn frame_of(m: &Machine, space: SpaceId, va: Va) -> Pfn {
    m.translate(space, va).unwrap()
}

/// Negative control for `pfn.reference_count` ([semantics §2]: reference = valid share + locks).
///
/// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
#[test]
fn bumped_reference_count_is_named_with_the_lock_that_created_it() {
    let (mut m, app, buf, _mdl, _sys, _pool) = busy();
    let f = frame_of(&m, SpaceId::Process(app), buf);
    m.phys.entry_mut(f).unwrap().reference_count += 1;
    let v = m.audit();
    assert_eq!(names(&m), vec![Invariant::PfnReferenceCount], "{v:?}");
    assert_eq!(v[0].object, f.to_string());
    assert_eq!(v[0].created.unwrap().routine, "MmProbeAndLockPages");
    assert!(v[0].to_string().contains("expected 2"), "{}", v[0]);
}

/// Negative control for `pfn.share_count` (share = owning PTEs, [semantics §2]).
///
/// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
#[test]
fn bumped_share_count_is_named() {
    let (mut m, _app, _buf, _mdl, _sys, pool) = busy();
    let f = frame_of(&m, SpaceId::System, pool);
    m.phys.entry_mut(f).unwrap().share_count += 1;
    assert_eq!(names(&m), vec![Invariant::PfnShareCount]);
}

/// Negative control for `pfn.free_list`: an in-use frame listed free ([invariant 12]'s hazard).
///
/// [invariant 12]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-12
#[test]
fn in_use_frame_on_the_free_list_is_named() {
    let (mut m, app, buf, _mdl, _sys, _pool) = busy();
    let f = frame_of(&m, SpaceId::Process(app), buf);
    m.phys.free_list_mut().push(f);
    let n = names(&m);
    assert!(
        !n.is_empty() && n.iter().all(|x| *x == Invariant::PfnFreeList),
        "{n:?}"
    );
    assert!(m.audit().iter().any(|v| v.object == f.to_string()));
}

/// Negative control for `pfn.free_list`: a free frame missing from the list.
#[test]
fn free_frame_missing_from_the_free_list_is_named() {
    let (mut m, app, buf, mdl, _sys, _pool) = busy();
    m.mm_unlock_pages(mdl).unwrap();
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    assert!(m.audit().is_empty());
    m.phys.free_list_mut().pop();
    assert_eq!(names(&m), vec![Invariant::PfnFreeList]);
}

/// Negative control for `pfn.state` (Transition only with share 0, [semantics §2]).
///
/// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
#[test]
fn wrong_page_state_is_named() {
    let (mut m, _app, _buf, _mdl, _sys, pool) = busy();
    let f = frame_of(&m, SpaceId::System, pool);
    m.phys.entry_mut(f).unwrap().state = PageState::Transition;
    assert_eq!(names(&m), vec![Invariant::PfnState]);
}

/// Negative control for `process.locked_pages` ([invariant 11]).
///
/// [invariant 11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-11
#[test]
fn changed_number_of_locked_pages_is_named() {
    let (mut m, app, _buf, _mdl, _sys, _pool) = busy();
    m.processes.get_mut(&app).unwrap().number_of_locked_pages -= 1;
    let v = m.audit();
    assert_eq!(names(&m), vec![Invariant::ProcessLockedPages]);
    assert_eq!(v[0].object, app.to_string());
    assert!(
        v[0].detail
            .contains("NumberOfLockedPages 1 but its locks charged 2")
    );
}

/// Negative control for `mapping.ptes` (a mapping lost a PTE; invariants [13][invariant 13], [17][invariant 17]).
///
/// [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
/// [invariant 17]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-17
#[test]
fn dropped_mapping_pte_is_named_with_its_birth() {
    let (mut m, _app, _buf, _mdl, sys, _pool) = busy();
    m.system.ptes.remove(&sys.vpn());
    let v = m.audit();
    assert_eq!(names(&m), vec![Invariant::MappingPtes], "{v:?}");
    assert_eq!(
        v[0].created.unwrap().routine,
        "MmGetSystemAddressForMdlSafe"
    );
}

/// Negative control for `mapping.ptes`, walked in one pass over the mapping's stretch of
/// the page table: a missing first page and a changed second page are both named, in
/// page order.
#[test]
fn every_missing_or_changed_mapping_pte_is_named_in_page_order() {
    let (mut m, _app, _buf, _mdl, sys, _pool) = busy();
    let second = sys.vpn() + 1;
    let mut pte = *m.system.ptes.get(&second).unwrap();
    pte.pfn = crate::addr::Pfn(pte.pfn.0 + 1000);
    m.system.ptes.insert(second, pte);
    m.system.ptes.remove(&sys.vpn());
    let details: Vec<String> = m
        .audit()
        .into_iter()
        .filter(|v| v.invariant == Invariant::MappingPtes)
        .map(|v| v.detail)
        .collect();
    assert_eq!(
        details,
        vec![
            "PTE for page 0 missing or changed".to_string(),
            "PTE for page 1 missing or changed".to_string()
        ]
    );
}

/// Negative control for `mapping.ptes`: an MDL PTE with no mapping record.
#[test]
fn mdl_pte_without_a_mapping_record_is_named() {
    let (mut m, _app, _buf, _mdl, sys, _pool) = busy();
    let pte = *m.system.pte(sys).unwrap();
    let stray = Va(sys.page_align().0 + 0x10_0000);
    let dead = MappingId(crate::arena::Handle {
        index: 999,
        generation: 0,
    });
    m.system.ptes.insert(
        stray.vpn(),
        Pte {
            kind: PteKind::Mdl(dead),
            ..pte
        },
    );
    assert_eq!(names(&m), vec![Invariant::MappingPtes]);
}

/// Negative control for `syspte.accounting` ([invariant 15]'s resource).
///
/// [invariant 15]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-15
#[test]
fn system_pte_leak_is_named() {
    let (mut m, _app, _buf, _mdl, _sys, _pool) = busy();
    m.sysptes.reserve(3).unwrap();
    let v = m.audit();
    assert_eq!(names(&m), vec![Invariant::SysPteAccounting]);
    assert!(
        v[0].detail.contains("5 in use but mappings hold 2"),
        "{}",
        v[0]
    );
}

/// Negative control for `pool.accounting` (and the frame's share).
#[test]
fn dropped_pool_pte_is_named_as_pool_accounting() {
    let (mut m, _app, _buf, _mdl, _sys, pool) = busy();
    m.system.ptes.remove(&pool.vpn());
    let n = names(&m);
    assert!(n.contains(&Invariant::PoolAccounting), "{n:?}");
    assert!(n.contains(&Invariant::PfnShareCount), "{n:?}");
}

/// Negative control for `space.vads`: a private PTE outside any committed VAD page.
#[test]
fn private_pte_outside_a_vad_is_named() {
    let (mut m, app, buf, _mdl, _sys, _pool) = busy();
    let pte = *m.processes[&app].space.pte(buf).unwrap();
    let outside = Va(0x7000_0000);
    m.processes
        .get_mut(&app)
        .unwrap()
        .space
        .ptes
        .insert(outside.vpn(), pte);
    let n = names(&m);
    assert!(n.contains(&Invariant::SpaceVads), "{n:?}");
}

/// Negative control: a lock the model forgot shows up in references and locked pages (invariants [8][invariant 8], [11][invariant 11]).
///
/// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
/// [invariant 11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-11
#[test]
fn lock_record_lost_is_named() {
    let (mut m, _app, _buf, mdl, _sys, _pool) = busy();
    m.mdls.get_mut(mdl.0).unwrap().lock = None;
    let n = names(&m);
    assert!(n.contains(&Invariant::PfnReferenceCount), "{n:?}");
    assert!(n.contains(&Invariant::ProcessLockedPages), "{n:?}");
}

/// hazards(): IoFreeMdl of a locked MDL leaks the lock ([invariant 25]) — a hazard, books balanced.
///
/// [invariant 25]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-25
#[test]
fn leaked_lock_is_a_hazard_not_a_violation() {
    let (mut m, _app, _buf, mdl, sys, _pool) = busy();
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    assert!(m.hazards().is_empty());
    m.io_free_mdl(mdl).unwrap();
    assert!(m.audit().is_empty());
    let h = m.hazards();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].kind, HazardKind::LeakedLock);
    assert_eq!(h[0].created.unwrap().routine, "MmProbeAndLockPages");
    assert!(
        h[0].to_string().contains("2 page(s) stay locked"),
        "{}",
        h[0]
    );
}

/// A partial MDL mapped privately, its source unlocked and the pages freed by their owner:
/// the partial's system PTE maps a free frame — `dangling_pte`, blamed on the mapping.
#[test]
fn partial_mapping_outliving_its_source_is_a_dangling_pte_hazard() {
    let (mut m, app, buf, src, sys, _pool) = busy();
    m.mm_unmap_locked_pages(sys, src).unwrap();
    let part = m
        .io_allocate_mdl(buf, 1, false, false, None)
        .unwrap()
        .unwrap();
    m.io_build_partial_mdl(src, part, Va(buf.0 + 0x1000), 0x10)
        .unwrap();
    let psys = m
        .mm_get_system_address_for_mdl_safe(part, priority::NORMAL)
        .unwrap()
        .unwrap();
    m.mm_unlock_pages(src).unwrap();
    assert!(
        m.hazards().is_empty(),
        "negative control: owner still has it"
    );
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    let h = m.hazards();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].kind, HazardKind::DanglingPte);
    assert_eq!(h[0].object, format!("system {}", psys.page_align()));
    assert_eq!(
        h[0].created.unwrap().routine,
        "MmGetSystemAddressForMdlSafe"
    );
    assert!(m.audit().is_empty(), "the books still balance");
    m.mm_prepare_mdl_for_reuse(part).unwrap();
    assert!(m.hazards().is_empty());
}

/// Negative control for `pfn.mdl_mapped`: a mapping's PTE moved to another cache type's
/// count (the total unchanged) — the cache-conflict index no longer matches the mappings.
#[test]
fn mdl_mapping_count_under_the_wrong_cache_type_is_named() {
    let (mut m, _app, _buf, _mdl, sys, _pool) = busy();
    let f = frame_of(&m, SpaceId::System, sys);
    let e = m.phys.entry_mut(f).unwrap();
    e.mdl_mapped_by_cache[crate::mdl::CacheType::Cached as usize] -= 1;
    e.mdl_mapped_by_cache[crate::mdl::CacheType::NonCached as usize] += 1;
    let v = m.audit();
    assert_eq!(names(&m), vec![Invariant::PfnMdlMapped], "{v:?}");
    assert_eq!(v[0].object, f.to_string());
}

/// Negative control for `pfn.mdl_mapped`: the total no longer the sum of the per-cache counts.
#[test]
fn mdl_mapped_total_off_its_cache_counts_is_named() {
    let (mut m, _app, _buf, _mdl, sys, _pool) = busy();
    let f = frame_of(&m, SpaceId::System, sys);
    m.phys.entry_mut(f).unwrap().mdl_mapped += 1;
    assert_eq!(names(&m), vec![Invariant::PfnMdlMapped]);
}

/// An empty range of pages at a chunk boundary is empty (the page table's range once
/// asked its map for the inclusive chunk range `1..=0`, which panics); the audit walks
/// such a range for a mapping of no pages.
#[test]
fn an_empty_page_range_at_a_chunk_boundary_is_empty() {
    let (m, _app, _buf, _mdl, sys, _pool) = busy();
    let boundary = sys.vpn() - sys.vpn() % 512;
    assert_eq!(m.system.ptes.range(boundary..boundary).count(), 0);
    assert_eq!(m.system.ptes.range(boundary + 5..boundary).count(), 0);
    assert_eq!(m.system.ptes.range(sys.vpn()..sys.vpn() + 2).count(), 2);
}
