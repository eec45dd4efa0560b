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

/// Defines a closed set of names: the enum, its stable string per variant (`as_str`,
/// `Display`), `ALL` and `from_name`.
macro_rules! named_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum $name { $($(#[$vm])* $v,)+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v,)+];

            /// The stable name (what reports print and scenario files write).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }

            /// The variant with this stable name.
            pub fn from_name(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// Which of the model's books a [`Violation`] found out of balance (see
    /// [`Machine::audit`] for each one's rule).
    pub enum Invariant {
        /// A frame's share count is not its owning PTEs (plus one for an
        /// `MmAllocatePagesForMdl` page).
        PfnShareCount => "pfn.share_count",
        /// A frame's reference count is not its valid reference plus the known locks.
        PfnReferenceCount => "pfn.reference_count",
        /// A frame's list state disagrees with its counts.
        PfnState => "pfn.state",
        /// The free list is not exactly the free frames, once each.
        PfnFreeList => "pfn.free_list",
        /// `NumberOfLockedPages` is not what the process's locks charged.
        ProcessLockedPages => "process.locked_pages",
        /// System PTEs in use are not the pages of system mappings.
        SysPteAccounting => "syspte.accounting",
        /// A mapping's PTEs are missing or point elsewhere, or an MDL PTE has no mapping.
        MappingPtes => "mapping.ptes",
        /// Pool pages are not the pool PTEs, or an allocation lies outside them.
        PoolAccounting => "pool.accounting",
        /// A private PTE lies outside the committed private pages of a VAD.
        SpaceVads => "space.vads",
        /// An IRP on a thread's list is dead or owned by another thread.
        IoThreadList => "io.thread_list",
        /// A queued stage-2 APC names no IRP waiting for it.
        IoApcQueue => "io.apc_queue",
        /// A disassociated IRP still names a thread.
        IoDisassociated => "io.disassociated",
        /// `CurrentLocation` is outside `1..=StackCount + 1` after the IRP was sent.
        IoStack => "io.stack",
    }
}

named_enum! {
    /// What a [`Hazard`] is: a dangerous state a driver can legally reach but must not
    /// leave behind.
    pub enum HazardKind {
        /// A PTE maps a free frame (a mapping that outlived its lock or its pages).
        DanglingPte => "dangling_pte",
        /// A lock its MDL forgot (freed, re-initialised or rebuilt while locked).
        LeakedLock => "leaked_lock",
        /// An IRP disassociated at the five-minute rundown timeout: its pages stay locked.
        StuckIrp => "stuck_irp",
        /// A live IRP's `MdlAddress` chain names a freed MDL.
        IrpChainFreedMdl => "irp_chain_freed_mdl",
        /// An IRP to deallocate names a `SystemBuffer` that is no live pool block.
        IrpSystemBufferFreed => "irp_system_buffer_freed",
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
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
    /// Kind of hazard.
    pub kind: HazardKind,
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

/// Lock references per materialised frame ([`Machine::known_locks`]).
struct LockTable {
    /// Known lock references of frame `i`.
    refs: Vec<u32>,
    /// 1 + the index in `births` of the first lock naming frame `i` (0: none).
    first: Vec<u32>,
    births: Vec<Birth>,
}

impl LockTable {
    /// The birth of the first lock that names frame `i`.
    fn birth(&self, i: usize) -> Option<Birth> {
        let k = self.first[i] as usize;
        k.checked_sub(1).map(|k| self.births[k])
    }
}

/// Frame `pfn`'s index in a table of the `n` materialised frames.
fn frame_index(pfn: Pfn, n: usize) -> Option<usize> {
    usize::try_from(pfn.0).ok().filter(|&i| i < n)
}

impl Machine {
    /// Lock references per materialised frame that the model knows of (indexed by frame
    /// number; frames past the PFN database are not counted, as the audit reads only
    /// materialised frames), with the lock's birth for reports. Dense tables instead of a
    /// map keyed by frame: `audit()` runs after every step of the fuzz targets.
    fn known_locks(&self) -> LockTable {
        let n = self.phys.materialised() as usize;
        let mut t = LockTable {
            refs: vec![0; n],
            first: vec![0; n],
            births: Vec::new(),
        };
        let records = self
            .mdls
            .iter()
            .filter_map(|(_, s)| s.lock.as_ref())
            .chain(self.leaked_locks.iter().map(|l| &l.lock));
        for r in records {
            let mut birth = 0;
            for f in &r.frames {
                let Some(i) = frame_index(*f, n) else {
                    continue;
                };
                if t.first[i] == 0 {
                    if birth == 0 {
                        t.births.push(r.birth);
                        birth = t.births.len() as u32;
                    }
                    t.first[i] = birth;
                }
                t.refs[i] += 1;
            }
        }
        for (pfn, adj) in &self.ref_adjust {
            if let Some(i) = frame_index(*pfn, n) {
                t.refs[i] = (t.refs[i] as i64 + adj).max(0) as u32;
            }
        }
        t
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

        // Owning PTEs per materialised frame (a PTE naming a frame past the PFN
        // database is not counted: only materialised frames are checked).
        let n = self.phys.materialised() as usize;
        let mut shares: Vec<u32> = vec![0; n];
        // MDL-mapping PTEs with no live mapping record, found in the same walks and
        // reported after the mapping checks (as a separate walk would).
        let mut orphans: Vec<(SpaceId, Va)> = Vec::new();
        for p in self.processes.values() {
            // PTEs and VADs both in address order: the VAD that may contain a PTE is the
            // last one starting at or below it (what `AddressSpace::vad` looks up).
            let mut vads = p.space.vads().peekable();
            let mut vad: Option<&crate::space::Vad> = None;
            for (va, pte) in p.space.ptes() {
                if let PteKind::Mdl(mid) = pte.kind {
                    if self.mappings.get(mid.0).is_none() {
                        orphans.push((SpaceId::Process(p.pid), va));
                    }
                }
                if pte.kind == PteKind::Private {
                    if let Some(i) = frame_index(pte.pfn, n) {
                        shares[i] += 1;
                    }
                    while let Some(next) = vads.next_if(|w| w.start <= va) {
                        vad = Some(next);
                    }
                    let ok = vad
                        .filter(|w| w.contains(va))
                        .is_some_and(|vad| match &vad.kind {
                            VadKind::Private(d) => matches!(
                                d.get(va.vpn() - vad.start.vpn()),
                                Some(crate::space::PageDesc::Committed(_))
                            ),
                            VadKind::MdlMapping(_) => false,
                        });
                    if !ok {
                        v(
                            Invariant::SpaceVads,
                            format!("{} {va}", p.pid),
                            None,
                            "private PTE outside a committed private VAD page".into(),
                        );
                    }
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
                if let Some(i) = frame_index(pte.pfn, n) {
                    shares[i] += 1;
                }
                pool_ptes += 1;
            }
        }
        let locks = self.known_locks();
        let mut free_count = 0usize;
        for (pfn, e) in self.phys.entries() {
            let i = pfn.0 as usize;
            let expected_share = shares[i] + e.mdl_allocation as u32;
            let (lock_refs, lock_birth) = (locks.refs[i], locks.birth(i));
            if e.share_count != expected_share {
                v(
                    Invariant::PfnShareCount,
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
                    Invariant::PfnReferenceCount,
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
                    Invariant::PfnState,
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
        // Frames seen on the free list (a frame past the PFN database is never free).
        let mut seen = vec![false; n];
        let mut listed = 0usize;
        for f in self.phys.free_list() {
            let free = self
                .phys
                .entry(*f)
                .is_some_and(|e| e.state == PageState::Free);
            let first = match frame_index(*f, n) {
                Some(i) => !std::mem::replace(&mut seen[i], true),
                None => true,
            };
            if first {
                listed += 1;
            }
            if !first || !free {
                v(
                    Invariant::PfnFreeList,
                    f.to_string(),
                    None,
                    "on the free list twice or not free".into(),
                );
            }
        }
        if listed != free_count {
            v(
                Invariant::PfnFreeList,
                "free list".into(),
                None,
                format!("{listed} frames listed, {free_count} frames free"),
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
                    Invariant::ProcessLockedPages,
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
                    Invariant::MappingPtes,
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
                        Invariant::MappingPtes,
                        format!("mapping of {} at {}", mp.mdl, mp.base),
                        Some(mp.birth),
                        format!("PTE for page {i} missing or changed"),
                    ),
                }
            }
        }
        if sys_pages != self.sysptes.used() {
            v(
                Invariant::SysPteAccounting,
                "system PTEs".into(),
                None,
                format!(
                    "{} in use but mappings hold {}",
                    self.sysptes.used(),
                    sys_pages
                ),
            );
        }
        // System space first, then the processes in pid order.
        for (sp, va) in system_orphans.into_iter().chain(orphans) {
            v(
                Invariant::MappingPtes,
                format!("{sp} {va}"),
                None,
                "MDL-mapping PTE with no live mapping record".into(),
            );
        }

        // Pool.
        if pool_ptes != self.pool.pages_in_use() {
            v(
                Invariant::PoolAccounting,
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
                        Invariant::PoolAccounting,
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
}
