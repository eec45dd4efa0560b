//! Unmapping: `MmUnmapLockedPages` for a system-PTE range or a user mapping, and the
//! removal of a mapping's PTEs and record ([semantics §3.8]).
//!
//! [semantics §3.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.8

use super::Mapping;
use crate::addr::{LIST_HEAD, MM_HIGHEST_USER_ADDRESS, Va};
use crate::bugcheck::{BugCheckCode, system_pte_misuse, verifier};
use crate::events::EventKind;
use crate::fault::Result;
use crate::mdl::{MdlFlags, MdlId};
use crate::mm::Mm;
use crate::space::{MappingId, SpaceId, VadKind};

impl Mm<'_> {
    /// The work of [`Machine::mm_unmap_locked_pages`](crate::Machine::mm_unmap_locked_pages) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_unmap_locked_pages(
        &mut self,
        base: Va,
        mdl: impl Into<Option<MdlId>>,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        if self.slot(id)?.mdl.byte_count == 0 {
            return Err(self.assert_failed("ByteCount != 0 (invariant 1)"));
        }
        if base > MM_HIGHEST_USER_ADDRESS {
            let flags = self.slot(id)?.mdl.flags;
            if flags.contains(MdlFlags::PARTIAL) && self.verifier.enabled {
                // A partial MDL's mapping is undone by IoFreeMdl / MmPrepareMdlForReuse;
                // a driver's own MmUnmapLockedPages of it is Verifier's automatic MDL
                // check (Microsoft's 0xC4 page, 0xB5).
                let partial = MdlFlags::PARTIAL.bits() as u64;
                return Err(self.verifier_violation(
                    verifier::UNMAP_LOCKED_PAGES_PARTIAL_MDL,
                    id.address(),
                    flags.bits() as u64,
                    partial,
                    format!("MmUnmapLockedPages of partial {id} (invariant 24)"),
                ));
            }
            self.unmap_kernel(base, id)
        } else {
            self.unmap_user(base, id)
        }
    }

    pub(crate) fn unmap_kernel(&mut self, base: Va, id: MdlId) -> Result<()> {
        let m = self.slot(id)?.mdl.clone();
        if m.flags.contains(MdlFlags::PARENT_MAPPED_SYSTEM_VA) {
            return Err(self.assert_failed("PARENT_MAPPED_SYSTEM_VA clear (invariant 17)"));
        }
        if !m.flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA) && self.verifier.enabled {
            // Verifier's automatic MDL check comes first (Microsoft's 0xC4 page, 0xB6).
            let mapped = MdlFlags::MAPPED_TO_SYSTEM_VA.bits() as u64;
            return Err(self.verifier_violation(
                verifier::UNMAP_LOCKED_PAGES_NOT_MAPPED,
                id.address(),
                m.flags.bits() as u64,
                mapped,
                format!("kernel unmap of {id}, which is not mapped (double unmap, invariant 17)"),
            ));
        }
        if !m.flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA) {
            return Err(self.bug_check(
                BugCheckCode::SYSTEM_PTE_MISUSE,
                // P4 the number of mappings to free: the MDL's pages (Microsoft's 0xDA
                // page, row 0x06).
                [
                    system_pte_misuse::MDL_NOT_MAPPED,
                    id.address(),
                    base.0,
                    m.page_count() as u64,
                ],
                format!("kernel unmap of {id}, which is not mapped (double unmap, invariant 17)"),
            ));
        }
        let Some(mid) = self.slot(id)?.system_mapping else {
            // Mapped only by inheritance from its source: the PTEs are not its own.
            return Err(self.bug_check(
                BugCheckCode::SYSTEM_PTE_MISUSE,
                [
                    system_pte_misuse::WRONG_MAPPING_ADDRESS,
                    id.address(),
                    m.mapped_system_va.0,
                    base.0,
                ],
                format!(
                    "kernel unmap of partial {id}, whose mapping is its source's (invariant 24)"
                ),
            ));
        };
        let Some(mp) = self.mappings.get(mid.0).cloned() else {
            return Err(self.assert_failed("mapping record missing"));
        };
        if base != mp.returned {
            return Err(self.bug_check(
                BugCheckCode::SYSTEM_PTE_MISUSE,
                [
                    system_pte_misuse::WRONG_MAPPING_ADDRESS,
                    id.address(),
                    mp.returned.0,
                    base.0,
                ],
                format!(
                    "kernel unmap of {id} at {base}, mapped at {} (invariant 18)",
                    mp.returned
                ),
            ));
        }
        let first = m.pfns.first().copied().unwrap_or(LIST_HEAD);
        if first != mp.first_pfn {
            return Err(self.bug_check(
                BugCheckCode::SYSTEM_PTE_MISUSE,
                [
                    system_pte_misuse::MDL_FIRST_PAGE_CHANGED,
                    id.address(),
                    mp.first_pfn,
                    first,
                ],
                format!("{id}'s first PFN changed between map and unmap"),
            ));
        }
        if m.start_va != mp.start_va {
            return Err(self.bug_check(
                BugCheckCode::SYSTEM_PTE_MISUSE,
                [
                    system_pte_misuse::MDL_START_VA_CHANGED,
                    id.address(),
                    mp.start_va.0,
                    m.start_va.0,
                ],
                format!("{id}'s StartVa changed between map and unmap"),
            ));
        }
        self.remove_mapping(mid)?;
        let s = self.slot_mut(id)?;
        s.mdl.flags.remove(
            MdlFlags::MAPPED_TO_SYSTEM_VA
                | MdlFlags::PARTIAL_HAS_BEEN_MAPPED
                | MdlFlags::FREE_EXTRA_PTES,
        );
        s.system_mapping = None;
        Ok(())
    }

    /// The mapping record of `mid`, if live.
    pub(crate) fn mapping(&self, mid: MappingId) -> Option<&Mapping> {
        self.mappings.get(mid.0)
    }

    /// Removes a mapping's PTEs (and VAD or system PTEs) and its record.
    pub(crate) fn remove_mapping(&mut self, mid: MappingId) -> Result<()> {
        let Some(mp) = self.mappings.remove(mid.0) else {
            return Ok(());
        };
        self.counters.unmappings += 1;
        self.note_release(
            mp.space,
            mp.base,
            mp.pages * crate::addr::PAGE_SIZE,
            "an MDL mapping",
        );
        for f in &mp.frames {
            self.phys.count_mdl_mapping(*f, mp.cache as usize, -1);
        }
        self.phys
            .release_mapping(super::mapping_host_bytes(mp.frames.len() as u64));
        match mp.space {
            SpaceId::System => {
                self.system
                    .ptes
                    .remove_run(mp.base.vpn()..mp.base.vpn() + mp.pages);
                self.sysptes.release(mp.base, mp.pages);
            }
            SpaceId::Process(pid) => {
                if let Some(p) = self.processes.get_mut(&pid) {
                    p.space
                        .ptes
                        .remove_run(mp.base.vpn()..mp.base.vpn() + mp.pages);
                    p.space.remove_vad(mp.base.vpn());
                }
            }
        }
        Ok(())
    }

    fn unmap_user(&mut self, base: Va, id: MdlId) -> Result<()> {
        let found = self.current_process().and_then(|pid| {
            let vad = self.processes.get(&pid)?.space.vad(base)?;
            match vad.kind {
                VadKind::MdlMapping(mid) => Some(mid),
                VadKind::Private(_) => None,
            }
        });
        let Some(mid) = found else {
            if self.verifier.enabled {
                // Verifier's automatic MDL check (Microsoft's 0xC4 page, 0xB9).
                return Err(self.verifier_violation(
                    verifier::UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS,
                    base.0,
                    id.address(),
                    0,
                    format!(
                        "user unmap of {base} for {id}: no MDL mapping there in {:?} (semantics §3.8)",
                        self.current_process()
                    ),
                ));
            }
            // Without Verifier the kernel returns silently: the WRK's and ReactOS's
            // MiUnmapLockedPagesInUserSpace find no physical-memory VAD and return.
            self.event(
                EventKind::UnmapUnknownUserAddress,
                Some(id),
                Some(base),
                format!(
                    "user unmap of {base} for {id}: no MDL mapping there in {:?}; ignored (semantics §3.8)",
                    self.current_process()
                ),
            );
            return Ok(());
        };
        if let Some(mp) = self.mapping(mid) {
            if mp.mdl != id || mp.returned != base {
                let detail = format!(
                    "user unmap of {base} with {id}; the mapping was made at {} through {}",
                    mp.returned, mp.mdl
                );
                self.event(EventKind::UnmapMismatch, Some(id), Some(base), detail);
            }
        }
        self.remove_mapping(mid)
    }
}
