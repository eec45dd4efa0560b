//! Mapping locked pages: `MmMapLockedPagesSpecifyCache` (kernel and user),
//! `MmUnmapLockedPages`, `MmGetSystemAddressForMdlSafe`, `MmProtectMdlSystemAddress`
//! ([semantics §3.7], [§3.8], invariants [13][invariant 13]–[18][invariant 18]).
//!
//! [semantics §3.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.7
//! [§3.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.8
//! [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
//! [invariant 18]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-18

mod unmap;

use crate::addr::{LIST_HEAD, MM_HIGHEST_VAD_ADDRESS, PAGE_SIZE, Pfn, Va};
use crate::bugcheck::{BugCheckCode, memory_management, verifier};
use crate::events::EventKind;
use crate::fault::{Fault, Result};
use crate::mdl::{AccessMode, CacheType, MdlFlags, MdlId, priority};
use crate::mm::Mm;
use crate::space::{MappingId, Protection, Pte, PteKind, SpaceId, Vad, VadKind};
use crate::status::NtStatus;

pub use crate::mdl::Mapping;

// The PFN entries count mappings per cache type by value, one slot per `CacheType`.
const _: () = assert!(CacheType::UswcCached as usize + 1 == crate::pfn::CACHE_TYPES);

impl Mm<'_> {
    /// The work of [`Machine::mm_map_locked_pages_specify_cache`](crate::Machine::mm_map_locked_pages_specify_cache) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_map_locked_pages_specify_cache(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        mode: AccessMode,
        cache: CacheType,
        base: Option<Va>,
        bug_check_on_failure: bool,
        priority: u32,
    ) -> Result<Option<Va>> {
        let id = self.deref_mdl(mdl.into())?;
        match mode {
            AccessMode::KernelMode => {
                let r = self.map_kernel(id, cache, bug_check_on_failure, priority);
                self.note_null(r)
            }
            AccessMode::UserMode => self.map_user(id, cache, base, priority).map(Some),
        }
    }

    /// The work of [`Machine::mm_map_locked_pages`](crate::Machine::mm_map_locked_pages) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_map_locked_pages(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        mode: AccessMode,
    ) -> Result<Option<Va>> {
        let id = self.deref_mdl(mdl.into())?;
        let flags = self.slot(id)?.mdl.flags.bits() as u64;
        Err(self.verifier_violation(
            verifier::MAP_LOCKED_PAGES_CALLED,
            id.address(),
            flags,
            0,
            format!(
                "MmMapLockedPages({mode:?}) called; Verifier requires MmMapLockedPagesSpecifyCache"
            ),
        ))
    }

    /// The work of [`Machine::mm_get_system_address_for_mdl_safe`](crate::Machine::mm_get_system_address_for_mdl_safe) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_get_system_address_for_mdl_safe(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        priority: u32,
    ) -> Result<Option<Va>> {
        let id = self.deref_mdl(mdl.into())?;
        let m = &self.slot(id)?.mdl;
        if m.flags
            .intersects(MdlFlags::MAPPED_TO_SYSTEM_VA | MdlFlags::SOURCE_IS_NONPAGED_POOL)
        {
            return Ok(Some(m.mapped_system_va));
        }
        let r = self.map_kernel(id, CacheType::Cached, false, priority);
        self.note_null(r)
    }

    /// No system PTEs for a kernel mapping that may not fail: `NO_MORE_SYSTEM_PTES
    /// (0x3F)`: P1 0 (system expansion PTEs, those of MDL mappings), P2 the pages asked
    /// for, P3 the free PTEs, P4 the total (Microsoft's [0x3F page]; ReactOS passes 0 for
    /// P3 and P4, Windows' page documents them). With `TrackPtes`
    /// `DRIVER_USED_EXCESSIVE_PTES (0xD8)`: P1 the name of the driver holding the most
    /// PTEs (0: the model does not name drivers, and P2, that driver's PTEs, is defined
    /// only when P1 is not 0, so 0 too), P3 the free PTEs, P4 the total ([0xD8 page];
    /// invariant 15).
    ///
    /// [0x3F page]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x3f--no-more-system-ptes
    /// [0xD8 page]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd8--driver-used-excessive-ptes
    fn no_more_system_ptes(&mut self, id: MdlId, n: u64) -> Fault {
        let (used, free) = (self.sysptes.used(), self.sysptes.available());
        if self.track_ptes {
            return self.bug_check(
                BugCheckCode::DRIVER_USED_EXCESSIVE_PTES,
                [0, 0, free, used + free],
                format!("no {n} free system PTEs to map {id}, with TrackPtes (invariant 15)"),
            );
        }
        self.bug_check(
            BugCheckCode::NO_MORE_SYSTEM_PTES,
            [0, n, free, used + free],
            format!("no {n} free system PTEs to map {id} (invariant 15)"),
        )
    }

    /// Checks that every slot to be mapped names a page of the PFN database. A number that is
    /// not one (a PFN array poisoned by unlock, or forged) in an MDL not marked `IO_SPACE` is
    /// Driver Verifier's 0xC4/0x89 (P2 the MDL, P3 the slot's address, P4 the number). The
    /// model has no device memory, so an `IO_SPACE` MDL naming one is unsupported.
    fn check_frames_are_memory(&mut self, id: MdlId, frames: &[Pfn]) -> Result<()> {
        let io_space = self.slot(id)?.mdl.flags.contains(MdlFlags::IO_SPACE);
        for (i, &f) in frames.iter().enumerate() {
            if self.phys.entry(f).is_none() {
                if io_space {
                    return Err(Fault::Model(crate::fault::ModelError::Unsupported(
                        format!("mapping device memory ({f} of {id})"),
                    )));
                }
                return Err(self.verifier_violation(
                    verifier::MDL_NON_MEMORY_PAGE_NOT_IO_SPACE,
                    id.address(),
                    id.address() + crate::addr::MDL_HEADER_SIZE + i as u64 * crate::addr::PFN_NUMBER_SIZE,
                    f.0,
                    format!("{id} slot {i} holds {f}, which is not a page of memory, and the MDL is not IO_SPACE"),
                ));
            }
        }
        Ok(())
    }

    /// Checks that every mapped slot names a locked frame ([invariant 14]): Verifier's
    /// 0xC4/0x85, or without it `MEMORY_MANAGEMENT (0x1A)` 0x1233 with P2 the page
    /// ([`crate::verifier`]).
    ///
    /// "Locked" means resident and pinned: referenced by a lock, allocated by
    /// `MmAllocatePagesForMdl`, or a page of non-paged pool (which is never paged or
    /// repurposed while allocated — the [proxy file system][design-proxy] splices pool pages into an MDL and maps it).
    ///
    /// [invariant 14]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-14
    /// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
    fn check_frames_locked(&mut self, id: MdlId, frames: &[Pfn]) -> Result<()> {
        for &f in frames {
            let locked = self.phys.entry(f).is_some_and(|e| {
                e.mdl_allocation
                    || e.reference_count > u32::from(e.share_count > 0)
                    || (e.owner == crate::pfn::FrameOwner::Pool
                        && e.state == crate::pfn::PageState::Active)
            });
            if !locked && !self.verifier.enabled {
                return Err(self.bug_check(
                    BugCheckCode::MEMORY_MANAGEMENT,
                    [memory_management::MAP_UNLOCKED_PAGE, f.0, 0, 0],
                    format!("mapping {id}: {f} is not locked (invariant 14; no Verifier)"),
                ));
            }
            if !locked {
                let pages = frames.len() as u64;
                return Err(self.verifier_violation(
                    verifier::MAP_LOCKED_PAGES_NOT_LOCKED,
                    id.address(),
                    pages,
                    f.0,
                    format!("mapping {id}: {f} is not locked (invariant 14, MEMORY_MANAGEMENT 0x1233 without Verifier)"),
                ));
            }
        }
        Ok(())
    }

    fn mapped_frames(&self, id: MdlId) -> Result<Vec<Pfn>> {
        let m = &self.slot(id)?.mdl;
        Ok(m.pfns
            .iter()
            .take(m.page_count() as usize)
            .take_while(|&&p| p != LIST_HEAD)
            .map(|&p| Pfn(p))
            .collect())
    }

    /// Records [`EventKind::CacheAttributeConflict`] when a live mapping with another cache
    /// type names one of `frames`, naming the first such mapping in the mapping table.
    ///
    /// Cost: the PFN entries' per-cache-type counts answer "is there a conflict" in
    /// O(`frames`) ([`crate::pfn::PfnEntry::mdl_mapped_by_cache`]); only when there is one
    /// (the rare path) are the live mappings scanned to name it, each frame looked up in a
    /// sorted list of the conflicting frames.
    fn note_cache_conflicts(&mut self, id: MdlId, frames: &[Pfn], cache: CacheType) {
        let mut clashing: Vec<Pfn> = frames
            .iter()
            .copied()
            .filter(|&f| self.phys.mapped_with_other_cache(f, cache as usize))
            .collect();
        if clashing.is_empty() {
            return;
        }
        clashing.sort_unstable();
        clashing.dedup();
        let conflict = self
            .mappings
            .iter()
            .find(|(_, mp)| {
                mp.cache != cache && mp.frames.iter().any(|f| clashing.binary_search(f).is_ok())
            })
            .map(|(_, mp)| mp.mdl);
        if let Some(other) = conflict {
            self.event(
                EventKind::CacheAttributeConflict,
                Some(id),
                None,
                format!("{id} maps a frame as {cache:?} that {other} maps with another cache type"),
            );
        }
    }

    pub(crate) fn map_kernel(
        &mut self,
        id: MdlId,
        cache: CacheType,
        bug_check_on_failure: bool,
        prio: u32,
    ) -> Result<Option<Va>> {
        let m = self.slot(id)?.mdl.clone();
        if m.byte_count == 0 {
            return Err(self.assert_failed("ByteCount != 0 (invariant 1)"));
        }
        let bad = MdlFlags::MAPPED_TO_SYSTEM_VA
            | MdlFlags::SOURCE_IS_NONPAGED_POOL
            | MdlFlags::PARTIAL_HAS_BEEN_MAPPED;
        if m.flags.intersects(bad) {
            return Err(self.verifier_violation(
                verifier::MAP_LOCKED_PAGES_BAD_MDL_FLAGS,
                id.address(),
                m.flags.bits() as u64,
                (m.flags & bad).bits() as u64,
                format!(
                    "kernel map of {id} with flags {:?} (invariant 13)",
                    m.flags & bad
                ),
            ));
        }
        if self.verifier.enabled
            && !m
                .flags
                .intersects(MdlFlags::PAGES_LOCKED | MdlFlags::PARTIAL)
        {
            return Err(self.verifier_violation(
                verifier::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS,
                id.address(),
                m.flags.bits() as u64,
                MdlFlags::PAGES_LOCKED.bits() as u64,
                format!("kernel map of {id}, which is neither locked nor partial (invariant 13)"),
            ));
        }
        let frames = self.mapped_frames(id)?;
        self.check_frames_are_memory(id, &frames)?;
        self.check_frames_locked(id, &frames)?;
        let n = m.page_count() as u64;
        self.phys
            .check_mapping_fits(mapping_host_bytes(frames.len() as u64))?;
        let Some(base) = self.sysptes.reserve(n) else {
            if m.flags.contains(MdlFlags::MAPPING_CAN_FAIL) || !bug_check_on_failure {
                return Ok(None);
            }
            return Err(self.no_more_system_ptes(id, n));
        };
        let source = if m.flags.contains(MdlFlags::PARTIAL) {
            self.partial_source(id)
        } else {
            None
        };
        let (mid, returned) =
            self.install_mapping(id, &m, source, SpaceId::System, base, frames, cache, prio)?;
        let s = self.slot_mut(id)?;
        s.mdl.mapped_system_va = returned;
        s.mdl.flags |= MdlFlags::MAPPED_TO_SYSTEM_VA;
        if s.mdl.flags.contains(MdlFlags::PARTIAL) {
            s.mdl.flags |= MdlFlags::PARTIAL_HAS_BEEN_MAPPED;
        }
        s.system_mapping = Some(mid);
        Ok(Some(returned))
    }

    /// The locked MDL whose frames a partial borrowed (the first that holds them all).
    fn partial_source(&self, id: MdlId) -> Option<MdlId> {
        let frames: Vec<Pfn> = self.mdls.get(id.0)?.mdl.frames().collect();
        self.mdls
            .iter()
            .find(|(h, s)| {
                *h != id.0
                    && s.lock
                        .as_ref()
                        .is_some_and(|l| frames.iter().all(|f| l.frames.contains(f)))
            })
            .map(|(h, _)| MdlId(h))
    }

    fn map_user(&mut self, id: MdlId, cache: CacheType, base: Option<Va>, prio: u32) -> Result<Va> {
        let m = self.slot(id)?.mdl.clone();
        if m.byte_count == 0 {
            return Err(self.assert_failed("ByteCount != 0 (invariant 1)"));
        }
        if self.verifier.enabled
            && !m.flags.intersects(
                MdlFlags::PAGES_LOCKED | MdlFlags::SOURCE_IS_NONPAGED_POOL | MdlFlags::PARTIAL,
            )
        {
            return Err(self.verifier_violation(
                verifier::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS,
                id.address(),
                m.flags.bits() as u64,
                MdlFlags::PAGES_LOCKED.bits() as u64,
                format!("user map of {id}, which is neither locked, non-paged nor partial (invariant 13)"),
            ));
        }
        let frames = self.mapped_frames(id)?;
        self.check_frames_are_memory(id, &frames)?;
        if !m.flags.contains(MdlFlags::SOURCE_IS_NONPAGED_POOL) {
            self.check_frames_locked(id, &frames)?;
        }
        let Some(pid) = self.current_process() else {
            return Err(Fault::Raise(NtStatus::INVALID_ADDRESS));
        };
        if !self.process(pid)?.is_alive() {
            return Err(Fault::Raise(NtStatus::PROCESS_IS_TERMINATING));
        }
        let n = m.page_count() as u64;
        self.phys
            .check_mapping_fits(mapping_host_bytes(frames.len() as u64))?;
        let start = match base {
            None => self
                .process_mut(pid)?
                .space
                .find_free(n)
                .ok_or(Fault::Raise(NtStatus::NO_MEMORY))?,
            Some(b) => {
                let end = b.checked_add(n * PAGE_SIZE);
                // Below MM_LOWEST_USER_ADDRESS no VAD may exist (the NULL-page region; Windows
                // refuses it for every VAD, semantics §1.1), so it is an invalid address too.
                // At the top the range must end at or below MM_HIGHEST_VAD_ADDRESS, 64 KiB
                // under the highest user address (ReactOS mdlsup.c, and its kmtest
                // MmMapLockedPagesSpecifyCache_user.c run on Server 2003).
                if !b.is_page_aligned()
                    || b < crate::addr::MM_LOWEST_USER_ADDRESS
                    || end.is_none_or(|e| e.0 - 1 > MM_HIGHEST_VAD_ADDRESS.0)
                {
                    return Err(Fault::Raise(NtStatus::INVALID_ADDRESS));
                }
                if !self.process(pid)?.space.is_free(b, n) {
                    return Err(Fault::Raise(NtStatus::CONFLICTING_ADDRESSES));
                }
                b
            }
        };
        let (mid, returned) = self.install_mapping(
            id,
            &m,
            None,
            SpaceId::Process(pid),
            start,
            frames,
            cache,
            prio,
        )?;
        let step = self.step;
        self.process_mut(pid)?.space.insert_vad(Vad {
            start,
            pages: n,
            kind: VadKind::MdlMapping(mid),
            created_step: step,
        });
        Ok(returned)
    }

    /// Records a mapping of `frames` at `base` in `space` and writes its PTEs (read-only
    /// with `MdlMappingNoWrite`); returns its id and the address the caller gets
    /// (`base + ByteOffset`). Shared by the kernel and user paths of the map.
    #[allow(clippy::too_many_arguments)]
    fn install_mapping(
        &mut self,
        id: MdlId,
        m: &crate::mdl::Mdl,
        source: Option<MdlId>,
        space: SpaceId,
        base: Va,
        frames: Vec<Pfn>,
        cache: CacheType,
        prio: u32,
    ) -> Result<(MappingId, Va)> {
        self.note_cache_conflicts(id, &frames, cache);
        let protection = if prio & priority::MDL_MAPPING_NO_WRITE != 0 {
            Protection::ReadOnly
        } else {
            Protection::ReadWrite
        };
        let returned = base.wrapping_add(m.byte_offset as u64);
        let written = frames.len() as u64;
        let mid = MappingId(self.mappings.insert(Mapping {
            mdl: id,
            source,
            space,
            base,
            pages: m.page_count() as u64,
            frames: frames.clone(),
            protection,
            cache,
            first_pfn: m.pfns.first().copied().unwrap_or(LIST_HEAD),
            start_va: m.start_va,
            returned,
            birth: self.birth(),
        }));
        self.counters.mappings += 1;
        self.phys.charge_mapping(mapping_host_bytes(written));
        match space {
            SpaceId::System => self.counters.system_ptes_written += written,
            SpaceId::Process(_) => self.counters.user_ptes_written += written,
        }
        let table = match space {
            SpaceId::System => &mut self.system.ptes,
            SpaceId::Process(p) => &mut self.process_mut(p)?.space.ptes,
        };
        table.insert_run(
            base.vpn(),
            frames.iter().map(|f| Pte {
                pfn: *f,
                protection,
                kind: PteKind::Mdl(mid),
            }),
        );
        for f in &frames {
            self.phys.count_mdl_mapping(*f, cache as usize, 1);
        }
        Ok((mid, returned))
    }

    /// The work of [`Machine::mm_protect_mdl_system_address`](crate::Machine::mm_protect_mdl_system_address) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_protect_mdl_system_address(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        protect: u32,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        let Some(protection) = Protection::from_win32(protect) else {
            return Err(Fault::Status(NtStatus::INVALID_PAGE_PROTECTION));
        };
        let Some(mid) = self.slot(id)?.system_mapping else {
            return Err(Fault::Status(NtStatus::NOT_MAPPED_VIEW));
        };
        let Some(mp) = self.mappings.get_mut(mid.0) else {
            return Err(Fault::Status(NtStatus::NOT_MAPPED_VIEW));
        };
        mp.protection = protection;
        let (base, pages) = (mp.base, mp.pages);
        for (_, pte) in self.system.ptes.range_mut(base.vpn()..base.vpn() + pages) {
            pte.protection = protection;
        }
        Ok(())
    }
}

/// Host bytes one mapped page costs: its PTE in the page table and its frame in the
/// mapping's record. Charged to the host-memory budget
/// ([`crate::Config::host_memory_limit_bytes`]) while the mapping lives.
pub(crate) fn mapping_host_bytes(pages: u64) -> u64 {
    let per_page = std::mem::size_of::<Option<Pte>>() + std::mem::size_of::<Pfn>();
    pages.saturating_mul(per_page as u64)
}

#[cfg(test)]
mod cache_tests;
