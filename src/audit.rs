//! `audit()` and `hazards()`: the machine's global invariants, and the dangerous
//! states a driver can leave behind.
//!
//! [`Machine::audit`] checks that the model's books balance, whatever drivers
//! did: every frame's reference count equals its valid share plus the locks
//! the model knows of (live MDL locks and locks leaked by freeing a locked
//! MDL), every share count equals the owning PTEs, the free list holds
//! exactly the free frames, each process's `NumberOfLockedPages` equals what
//! its MDLs charged, system PTEs and pool pages are accounted for. A
//! violation here is a bug in the model (or a driver corrupting the PFN
//! database through a changed PFN array, which the model records and
//! accounts for), and names the object and the step that created it.
//!
//! [`Machine::hazards`] lists what is legal to reach but wrong to leave:
//! PTEs that map freed frames and leaked locks (locks cannot outlive their process: its
//! deletion bug-checks, [semantics §6]).
//!
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use crate::addr::{Pfn, Va};
use crate::machine::{Birth, Machine};
use crate::pfn::PageState;
use crate::space::{PteKind, SpaceId, VadKind};
use std::collections::BTreeMap;
use std::fmt;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant (a short stable name, e.g. `pfn.reference_count`).
    pub invariant: &'static str,
    /// The object it concerns (a frame, a process, an MDL, a mapping).
    pub object: String,
    /// The operation that created that object, when known.
    pub created: Option<Birth>,
    /// In words, with the expected and the actual values.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.invariant, self.object, self.detail)?;
        if let Some(b) = self.created {
            write!(f, " (created at step {} by {})", b.step, b.routine)?;
        }
        Ok(())
    }
}

/// Something dangerous a driver left behind (not a model inconsistency).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hazard {
    /// Kind of hazard (short stable name).
    pub kind: &'static str,
    /// The object concerned.
    pub object: String,
    /// The operation that created it.
    pub created: Option<Birth>,
    /// In words.
    pub detail: String,
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.kind, self.object, self.detail)?;
        if let Some(b) = self.created {
            write!(f, " (created at step {} by {})", b.step, b.routine)?;
        }
        Ok(())
    }
}

impl Machine {
    /// Lock references per frame that the model knows of, with the lock's birth for reports.
    fn known_locks(&self) -> BTreeMap<Pfn, (u32, Option<Birth>)> {
        let mut locks: BTreeMap<Pfn, (u32, Option<Birth>)> = BTreeMap::new();
        let records = self
            .mdls
            .iter()
            .filter_map(|(_, s)| s.lock.as_ref())
            .chain(self.leaked_locks.iter().map(|l| &l.lock));
        for r in records {
            for f in &r.frames {
                let e = locks.entry(*f).or_insert((0, Some(r.birth)));
                e.0 += 1;
            }
        }
        for (pfn, adj) in &self.ref_adjust {
            let e = locks.entry(*pfn).or_insert((0, None));
            e.0 = (e.0 as i64 + adj).max(0) as u32;
        }
        locks
    }

    /// Checks every global invariant; empty when the books balance.
    ///
    /// Invariants (names as in [`Violation::invariant`]):
    /// `pfn.share_count` (owning PTEs, plus one for an `MmAllocatePagesForMdl` page),
    /// `pfn.reference_count` (valid reference + known locks), `pfn.state`
    /// (free ⇔ unreferenced, active ⇔ shared, transition ⇔ locked only),
    /// `pfn.free_list` (exactly the free frames, once each), `process.locked_pages`
    /// (`NumberOfLockedPages` = pages charged by its locks), `syspte.accounting`
    /// (PTEs in use = pages of system mappings), `mapping.ptes` (each mapping's PTEs
    /// present and pointing at its frames; no MDL PTE without a mapping),
    /// `pool.accounting` (pool pages = pool PTEs; allocations lie in mapped pool pages),
    /// `space.vads` (private PTEs only in committed private VAD pages), and the I/O
    /// manager's `io.*` invariants (thread lists, MDL chains, system buffers, APC queues,
    /// stack locations).
    pub fn audit(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut v = |invariant, object: String, created, detail: String| {
            out.push(Violation {
                invariant,
                object,
                created,
                detail,
            })
        };

        // Owning PTEs per frame.
        let mut shares: BTreeMap<Pfn, u32> = BTreeMap::new();
        for p in self.processes.values() {
            for (va, pte) in p.space.ptes() {
                if pte.kind == PteKind::Private {
                    *shares.entry(pte.pfn).or_default() += 1;
                    let ok = p.space.vad(va).is_some_and(|vad| match &vad.kind {
                        VadKind::Private(d) => matches!(
                            d.get(va.vpn() - vad.start.vpn()),
                            Some(crate::space::PageDesc::Committed(_))
                        ),
                        VadKind::MdlMapping(_) => false,
                    });
                    if !ok {
                        v(
                            "space.vads",
                            format!("{} {va}", p.pid),
                            None,
                            "private PTE outside a committed private VAD page".into(),
                        );
                    }
                }
            }
        }
        let mut pool_ptes = 0u64;
        for (_, pte) in self.system.ptes() {
            if pte.kind == PteKind::Pool {
                *shares.entry(pte.pfn).or_default() += 1;
                pool_ptes += 1;
            }
        }
        let locks = self.known_locks();
        let mut free_count = 0usize;
        for (pfn, e) in self.phys.entries() {
            let expected_share = shares.get(&pfn).copied().unwrap_or(0) + e.mdl_allocation as u32;
            let (lock_refs, lock_birth) = locks.get(&pfn).copied().unwrap_or((0, None));
            if e.share_count != expected_share {
                v(
                    "pfn.share_count",
                    pfn.to_string(),
                    None,
                    format!(
                        "share count {} but {} owning PTE(s)",
                        e.share_count, expected_share
                    ),
                );
            }
            let expected_ref = u32::from(e.share_count > 0) + lock_refs;
            if e.reference_count != expected_ref {
                v(
                    "pfn.reference_count",
                    pfn.to_string(),
                    lock_birth,
                    format!(
                        "reference count {} but expected {} (share {}, {} known lock(s))",
                        e.reference_count, expected_ref, e.share_count, lock_refs
                    ),
                );
            }
            let state_ok = match e.state {
                PageState::Free | PageState::Zeroed => e.reference_count == 0 && e.share_count == 0,
                PageState::Active => e.share_count > 0 && e.reference_count > 0,
                PageState::Transition => e.share_count == 0 && e.reference_count > 0,
            };
            if !state_ok {
                v(
                    "pfn.state",
                    pfn.to_string(),
                    lock_birth,
                    format!(
                        "{:?} with reference {} share {}",
                        e.state, e.reference_count, e.share_count
                    ),
                );
            }
            if e.state == PageState::Free {
                free_count += 1;
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in self.phys.free_list() {
            let free = self
                .phys
                .entry(*f)
                .is_some_and(|e| e.state == PageState::Free);
            if !seen.insert(*f) || !free {
                v(
                    "pfn.free_list",
                    f.to_string(),
                    None,
                    "on the free list twice or not free".into(),
                );
            }
        }
        if seen.len() != free_count {
            v(
                "pfn.free_list",
                "free list".into(),
                None,
                format!("{} frames listed, {} frames free", seen.len(), free_count),
            );
        }

        // NumberOfLockedPages per process.
        let mut charged: BTreeMap<crate::space::Pid, i64> = BTreeMap::new();
        let records = self
            .mdls
            .iter()
            .filter_map(|(_, s)| s.lock.as_ref())
            .chain(self.leaked_locks.iter().map(|l| &l.lock));
        for r in records {
            if let Some((p, n)) = r.charged {
                *charged.entry(p).or_default() += n as i64;
            }
        }
        for (p, adj) in &self.locked_pages_adjust {
            *charged.entry(*p).or_default() += adj;
        }
        for p in self.processes.values() {
            let expected = charged.get(&p.pid).copied().unwrap_or(0);
            if p.number_of_locked_pages as i64 != expected {
                v(
                    "process.locked_pages",
                    p.pid.to_string(),
                    None,
                    format!(
                        "NumberOfLockedPages {} but its locks charged {}",
                        p.number_of_locked_pages, expected
                    ),
                );
            }
        }

        // Mappings and system PTEs.
        let mut sys_pages = 0u64;
        for (h, mp) in self.mappings.iter() {
            if mp.space == SpaceId::System {
                sys_pages += mp.pages;
            }
            let Some(space) = self.space(mp.space) else {
                v(
                    "mapping.ptes",
                    format!("mapping {h:?}"),
                    Some(mp.birth),
                    format!("mapping into {} which no longer exists", mp.space),
                );
                continue;
            };
            for (i, f) in mp.frames.iter().enumerate() {
                let va = Va(mp.base.0 + (i as u64) * crate::addr::PAGE_SIZE);
                match space.pte(va) {
                    Some(pte)
                        if pte.pfn == *f
                            && pte.kind == PteKind::Mdl(crate::space::MappingId(h)) => {}
                    _ => v(
                        "mapping.ptes",
                        format!("mapping of {} at {}", mp.mdl, mp.base),
                        Some(mp.birth),
                        format!("PTE for page {i} missing or changed"),
                    ),
                }
            }
        }
        if sys_pages != self.sysptes.used() {
            v(
                "syspte.accounting",
                "system PTEs".into(),
                None,
                format!(
                    "{} in use but mappings hold {}",
                    self.sysptes.used(),
                    sys_pages
                ),
            );
        }
        for sp in std::iter::once(SpaceId::System)
            .chain(self.processes.keys().map(|p| SpaceId::Process(*p)))
        {
            let Some(space) = self.space(sp) else {
                continue;
            };
            for (va, pte) in space.ptes() {
                if let PteKind::Mdl(mid) = pte.kind {
                    if self.mappings.get(mid.0).is_none() {
                        v(
                            "mapping.ptes",
                            format!("{sp} {va}"),
                            None,
                            "MDL-mapping PTE with no live mapping record".into(),
                        );
                    }
                }
            }
        }

        // Pool.
        if pool_ptes != self.pool.pages_in_use() {
            v(
                "pool.accounting",
                "non-paged pool".into(),
                None,
                format!(
                    "{} pool pages counted, {} pool PTEs",
                    self.pool.pages_in_use(),
                    pool_ptes
                ),
            );
        }
        for a in self.pool.allocations() {
            let pages = crate::addr::bytes_to_pages(a.size.max(1) + a.va.byte_offset() as u64);
            for i in 0..pages {
                let va = Va(a.va.page_align().0 + i * crate::addr::PAGE_SIZE);
                if !self.system.pte(va).is_some_and(|p| p.kind == PteKind::Pool) {
                    v(
                        "pool.accounting",
                        format!("pool block {} tag {:#x}", a.va, a.tag),
                        Some(a.birth),
                        format!("page {va} of the allocation is not a mapped pool page"),
                    );
                }
            }
        }
        out.extend(self.audit_io());
        out
    }

    /// Dangerous states drivers left behind: `dangling_pte` (a PTE that maps a free frame — a
    /// mapping that outlived its lock), `leaked_lock` (a lock its MDL forgot: freed,
    /// re-initialised or rebuilt while locked) and `stuck_irp` (an IRP disassociated by an I/O
    /// rundown timeout: its pages stay locked). Locks outliving their process cannot occur
    /// without a crash or a rundown failure: process deletion with locked pages bug-checks
    /// ([semantics §6]).
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    pub fn hazards(&self) -> Vec<Hazard> {
        let mut out = Vec::new();
        for sp in std::iter::once(SpaceId::System)
            .chain(self.processes.keys().map(|p| SpaceId::Process(*p)))
        {
            let Some(space) = self.space(sp) else {
                continue;
            };
            for (va, pte) in space.ptes() {
                let free = self
                    .phys
                    .entry(pte.pfn)
                    .is_none_or(|e| matches!(e.state, PageState::Free | PageState::Zeroed));
                if free {
                    let created = match pte.kind {
                        PteKind::Mdl(mid) => self.mappings.get(mid.0).map(|m| m.birth),
                        _ => None,
                    };
                    out.push(Hazard {
                        kind: "dangling_pte",
                        object: format!("{sp} {va}"),
                        created,
                        detail: format!(
                            "maps {}, which is free (may be handed to anyone)",
                            pte.pfn
                        ),
                    });
                }
            }
        }
        for l in &self.leaked_locks {
            out.push(Hazard {
                kind: "leaked_lock",
                object: l.mdl.to_string(),
                created: Some(l.lock.birth),
                detail: format!(
                    "{} page(s) stay locked forever: the MDL was freed at step {} without MmUnlockPages",
                    l.lock.frames.len(),
                    l.freed_at.step
                ),
            });
        }
        out.extend(self.io_hazards());
        out
    }
}

#[cfg(test)]
mod tests {
    //! Negative controls: corrupt the books on purpose and prove `audit()` names the right
    //! invariant (and positive controls: the uncorrupted machine is clean). Plus the
    //! `hazards()` controls.
    use super::*;
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

    fn names(m: &Machine) -> Vec<&'static str> {
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
        assert_eq!(names(&m), vec!["pfn.reference_count"], "{v:?}");
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
        assert_eq!(names(&m), vec!["pfn.share_count"]);
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
            !n.is_empty() && n.iter().all(|x| *x == "pfn.free_list"),
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
        assert_eq!(names(&m), vec!["pfn.free_list"]);
    }

    /// Negative control for `pfn.state` (Transition only with share 0, [semantics §2]).
    ///
    /// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
    #[test]
    fn wrong_page_state_is_named() {
        let (mut m, _app, _buf, _mdl, _sys, pool) = busy();
        let f = frame_of(&m, SpaceId::System, pool);
        m.phys.entry_mut(f).unwrap().state = PageState::Transition;
        assert_eq!(names(&m), vec!["pfn.state"]);
    }

    /// Negative control for `process.locked_pages` ([invariant 11]).
    ///
    /// [invariant 11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-11
    #[test]
    fn changed_number_of_locked_pages_is_named() {
        let (mut m, app, _buf, _mdl, _sys, _pool) = busy();
        m.processes.get_mut(&app).unwrap().number_of_locked_pages -= 1;
        let v = m.audit();
        assert_eq!(names(&m), vec!["process.locked_pages"]);
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
        assert_eq!(names(&m), vec!["mapping.ptes"], "{v:?}");
        assert_eq!(
            v[0].created.unwrap().routine,
            "MmGetSystemAddressForMdlSafe"
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
        assert_eq!(names(&m), vec!["mapping.ptes"]);
    }

    /// Negative control for `syspte.accounting` ([invariant 15]'s resource).
    ///
    /// [invariant 15]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-15
    #[test]
    fn system_pte_leak_is_named() {
        let (mut m, _app, _buf, _mdl, _sys, _pool) = busy();
        m.sysptes.reserve(3).unwrap();
        let v = m.audit();
        assert_eq!(names(&m), vec!["syspte.accounting"]);
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
        assert!(n.contains(&"pool.accounting"), "{n:?}");
        assert!(n.contains(&"pfn.share_count"), "{n:?}");
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
        assert!(n.contains(&"space.vads"), "{n:?}");
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
        assert!(n.contains(&"pfn.reference_count"), "{n:?}");
        assert!(n.contains(&"process.locked_pages"), "{n:?}");
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
        assert_eq!(h[0].kind, "leaked_lock");
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
        assert_eq!(h[0].kind, "dangling_pte");
        assert_eq!(h[0].object, format!("system {}", psys.page_align()));
        assert_eq!(
            h[0].created.unwrap().routine,
            "MmGetSystemAddressForMdlSafe"
        );
        assert!(m.audit().is_empty(), "the books still balance");
        m.mm_prepare_mdl_for_reuse(part).unwrap();
        assert!(m.hazards().is_empty());
    }
}
