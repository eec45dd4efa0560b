//! The facade's `audit()` and `hazards()`: each subsystem checks its own books
//! (`PhysicalMemory::audit_frames` / `audit_free_list`, `Pool::audit`, the I/O manager's
//! `audit_io`); what spans subsystems is checked here — the page tables against the VADs
//! and the mapping records, what the frames should hold (owning PTEs, known locks),
//! `NumberOfLockedPages`, mappings against their PTEs and the system-PTE count. The
//! vocabulary (invariants, hazard kinds) is [`crate::audit`].

use super::Machine;
use crate::addr::Va;
use crate::audit::{Hazard, HazardKind, Invariant, Violation};
use crate::pfn::{Expected, PageState};
use crate::space::{MappingId, PageDesc, Pid, PteKind, SpaceId, VadKind};
use std::collections::BTreeMap;

/// What one walk of every page table found besides owning PTEs.
struct PteWalk {
    /// MDL-mapping PTEs with no live mapping record: system space first, then the
    /// processes in pid order (reported after the mapping checks).
    orphans: Vec<(SpaceId, Va)>,
    /// Pool PTEs in system space.
    pool_ptes: u64,
}

impl Machine {
    /// Checks every global invariant; empty when the books balance.
    ///
    /// Invariants (names as in [`Violation::invariant`]):
    /// `pfn.share_count` (owning PTEs, plus one for an `MmAllocatePagesForMdl` page),
    /// `pfn.reference_count` (valid reference + known locks), `pfn.state`
    /// (free ⇔ unreferenced, active ⇔ shared, transition ⇔ locked only),
    /// `pfn.free_list` (exactly the free frames, once each), `pfn.mdl_mapped` (a frame's
    /// MDL-mapping counts, per cache type, are the live mappings' PTEs naming it: the
    /// index the cache-conflict check reads), `process.locked_pages`
    /// (`NumberOfLockedPages` = pages charged by its locks), `syspte.accounting`
    /// (PTEs in use = pages of system mappings), `mapping.ptes` (each mapping's PTEs
    /// present and pointing at its frames; no MDL PTE without a mapping),
    /// `pool.accounting` (pool pages = pool PTEs; allocations lie in mapped pool pages),
    /// `space.vads` (private PTEs only in committed private VAD pages), and the I/O
    /// manager's `io.*` invariants (thread lists, MDL chains, system buffers, APC queues,
    /// stack locations).
    pub fn audit(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut expected = Expected::new(self.phys.materialised() as usize);
        let walk = self.audit_page_tables(&mut expected, &mut out);
        self.expect_known_locks(&mut expected);
        for (_, mp) in self.mappings.iter() {
            for f in &mp.frames {
                expected.mdl_mapping(*f, mp.cache as usize);
            }
        }
        self.phys.audit_frames(&expected, &mut out);
        self.phys.audit_free_list(&mut out);
        self.audit_locked_pages(&mut out);
        self.audit_mappings(walk.orphans, &mut out);
        self.pool.audit(&self.system, walk.pool_ptes, &mut out);
        out.extend(self.audit_io());
        out
    }

    /// Walks every page table once: counts owning PTEs (private and pool) into
    /// `expected`, checks `space.vads` (a private PTE lies in a committed private VAD
    /// page), and collects MDL PTEs without a mapping record and the pool PTEs.
    fn audit_page_tables(&self, expected: &mut Expected, out: &mut Vec<Violation>) -> PteWalk {
        let mut orphans: Vec<(SpaceId, Va)> = Vec::new();
        for p in self.processes.values() {
            // PTEs and VADs both in address order: the VAD that may contain a PTE is the
            // last one starting at or below it (what `AddressSpace::vad` looks up).
            let mut vads = p.space.vads().peekable();
            let mut vad: Option<&crate::space::Vad> = None;
            // The last mapping found live: a mapping's PTEs are consecutive, so one
            // lookup serves them all.
            let mut live: Option<MappingId> = None;
            for (va, pte) in p.space.ptes() {
                if let PteKind::Mdl(mid) = pte.kind {
                    if live != Some(mid) {
                        if self.mappings.get(mid.0).is_none() {
                            orphans.push((SpaceId::Process(p.pid), va));
                        } else {
                            live = Some(mid);
                        }
                    }
                }
                if pte.kind != PteKind::Private {
                    continue;
                }
                expected.share(pte.pfn);
                while let Some(next) = vads.next_if(|w| w.start <= va) {
                    vad = Some(next);
                }
                let committed = vad
                    .filter(|w| w.contains(va))
                    .is_some_and(|vad| match &vad.kind {
                        VadKind::Private(d) => matches!(
                            d.get(va.vpn() - vad.start.vpn()),
                            Some(PageDesc::Committed(_))
                        ),
                        VadKind::MdlMapping(_) => false,
                    });
                if !committed {
                    out.push(Violation::new(
                        Invariant::SpaceVads,
                        format!("{} {va}", p.pid),
                        None,
                        "private PTE outside a committed private VAD page".into(),
                    ));
                }
            }
        }
        let mut pool_ptes = 0u64;
        let mut system_orphans: Vec<(SpaceId, Va)> = Vec::new();
        for (va, pte) in self.system.ptes() {
            if let PteKind::Mdl(mid) = pte.kind {
                if self.mappings.get(mid.0).is_none() {
                    system_orphans.push((SpaceId::System, va));
                }
            }
            if pte.kind == PteKind::Pool {
                expected.share(pte.pfn);
                pool_ptes += 1;
            }
        }
        system_orphans.extend(orphans);
        PteWalk {
            orphans: system_orphans,
            pool_ptes,
        }
    }

    /// Every lock record the model knows of: live MDL locks, then locks leaked by freeing
    /// a locked MDL.
    fn lock_records(&self) -> impl Iterator<Item = &crate::mdl::LockRecord> {
        self.mdls
            .iter()
            .filter_map(|(_, s)| s.lock.as_ref())
            .chain(self.leaked_locks.iter().map(|l| &l.lock))
    }

    /// Lock references the model knows of: live MDL locks, locks leaked by freeing a
    /// locked MDL, and the references a driver moved by changing a locked MDL's PFN array.
    fn expect_known_locks(&self, expected: &mut Expected) {
        for r in self.lock_records() {
            expected.lock(&r.frames, r.birth);
        }
        for (pfn, adj) in &self.ref_adjust {
            expected.adjust(*pfn, *adj);
        }
    }

    /// `process.locked_pages`: each process's `NumberOfLockedPages` is what its locks
    /// charged (plus the charges a driver moved by changing a locked MDL).
    fn audit_locked_pages(&self, out: &mut Vec<Violation>) {
        let mut charged: BTreeMap<Pid, i64> = BTreeMap::new();
        for r in self.lock_records() {
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
                out.push(Violation::new(
                    Invariant::ProcessLockedPages,
                    p.pid.to_string(),
                    None,
                    format!(
                        "NumberOfLockedPages {} but its locks charged {}",
                        p.number_of_locked_pages, expected
                    ),
                ));
            }
        }
    }

    /// `mapping.ptes` (each mapping's PTEs present and naming its frames; no MDL PTE
    /// without a mapping: `orphans`) and `syspte.accounting`.
    fn audit_mappings(&self, orphans: Vec<(SpaceId, Va)>, out: &mut Vec<Violation>) {
        let mut sys_pages = 0u64;
        for (h, mp) in self.mappings.iter() {
            if mp.space == SpaceId::System {
                sys_pages += mp.pages;
            }
            let Some(space) = self.space(mp.space) else {
                out.push(Violation::new(
                    Invariant::MappingPtes,
                    format!("mapping {h:?}"),
                    Some(mp.birth),
                    format!("mapping into {} which no longer exists", mp.space),
                ));
                continue;
            };
            // One walk over the mapping's stretch of the page table (not a lookup per
            // page: a forged 4 GiB mapping has a million): every page without a PTE, or
            // whose PTE names another frame or kind, in page order.
            let first = mp.base.vpn();
            let n = mp.frames.len();
            let mut bad = Vec::new();
            let mut next = 0usize;
            for (vpn, pte) in space.ptes.range(first..first.saturating_add(n as u64)) {
                let i = (vpn - first) as usize;
                bad.extend(next..i);
                if pte.pfn != mp.frames[i] || pte.kind != PteKind::Mdl(MappingId(h)) {
                    bad.push(i);
                }
                next = i + 1;
            }
            bad.extend(next..n);
            for i in bad {
                out.push(Violation::new(
                    Invariant::MappingPtes,
                    format!("mapping of {} at {}", mp.mdl, mp.base),
                    Some(mp.birth),
                    format!("PTE for page {i} missing or changed"),
                ));
            }
        }
        if sys_pages != self.sysptes.used() {
            out.push(Violation::new(
                Invariant::SysPteAccounting,
                "system PTEs".into(),
                None,
                format!(
                    "{} in use but mappings hold {}",
                    self.sysptes.used(),
                    sys_pages
                ),
            ));
        }
        for (sp, va) in orphans {
            out.push(Violation::new(
                Invariant::MappingPtes,
                format!("{sp} {va}"),
                None,
                "MDL-mapping PTE with no live mapping record".into(),
            ));
        }
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
                        kind: HazardKind::DanglingPte,
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
                kind: HazardKind::LeakedLock,
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
#[path = "audit_tests.rs"]
mod tests;
