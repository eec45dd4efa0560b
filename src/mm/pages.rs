//! `MmAllocatePagesForMdlEx` and `MmFreePagesFromMdl` ([semantics §3.9], [§3.10], invariants [20][invariant 20]–[21][invariant 21]).
//!
//! [semantics §3.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.9
//! [§3.10]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.10
//! [invariant 20]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-20
//! [invariant 21]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-21

use crate::addr::{LIST_HEAD, PAGE_SHIFT, PAGE_SIZE, Pfn, Va};
use crate::bugcheck::BugCheckCode;
use crate::events::EventKind;
use crate::fault::Result;
use crate::mdl::{CacheType, MdlFlags, MdlId, MdlStorage, alloc_flags};
use crate::mm::Mm;
use crate::pfn::FrameOwner;

impl Mm<'_> {
    /// The work of [`Machine::mm_allocate_pages_for_mdl_ex`](crate::Machine::mm_allocate_pages_for_mdl_ex) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_allocate_pages_for_mdl_ex(
        &mut self,
        low: u64,
        high: u64,
        skip: u64,
        total_bytes: u64,
        cache: CacheType,
        flags: u32,
    ) -> Result<Option<MdlId>> {
        let _ = (low, high, cache);
        if skip % PAGE_SIZE != 0 || flags & !0x3F != 0 {
            return self.note_null(Ok(None));
        }
        let wanted = self.windows.pages_for_mdl_request(total_bytes);
        if wanted == 0 {
            return self.note_null(Ok(None));
        }
        let zero = flags & alloc_flags::MM_DONT_ZERO_ALLOCATION == 0;
        let mut frames = Vec::with_capacity(wanted as usize);
        let mut over_budget = false;
        for _ in 0..wanted {
            match self.phys.allocate(FrameOwner::MdlAllocation, zero) {
                Ok(pfn) => frames.push(pfn),
                Err(why) => {
                    over_budget = why == crate::pfn::NoFrame::HostBudget;
                    break;
                }
            }
        }
        if over_budget {
            for f in frames {
                let _ = self.phys.drop_share(f);
            }
            return Err(self.phys.budget_fault());
        }
        let give_back = frames.is_empty()
            || (flags & alloc_flags::MM_ALLOCATE_FULLY_REQUIRED != 0
                && (frames.len() as u64) < wanted);
        if give_back {
            for f in frames {
                let _ = self.phys.drop_share(f);
            }
            return self.note_null(Ok(None));
        }
        for &f in &frames {
            if let Some(e) = self.phys.entry_mut(f) {
                e.mdl_allocation = true;
            }
        }
        let found = frames.len() as u64;
        self.counters.pages_allocated_for_mdl += found;
        let id = match self.new_pages_mdl(wanted, found, &frames) {
            Ok(id) => id,
            Err(e) => {
                for f in frames {
                    let _ = self.phys.drop_share(f);
                }
                return Err(e);
            }
        };
        Ok(Some(id))
    }

    fn new_pages_mdl(&mut self, wanted: u64, found: u64, frames: &[Pfn]) -> Result<MdlId> {
        self.phys.charge_descriptor(wanted)?;
        let birth = self.birth();
        let mut pfns: Vec<u64> = frames.iter().map(|f| f.0).collect();
        pfns.resize(wanted as usize, LIST_HEAD);
        let mdl = crate::mdl::Mdl {
            next: None,
            size: (crate::addr::size_of_mdl(Va::NULL, wanted << PAGE_SHIFT) & 0xFFFF) as u16,
            flags: MdlFlags::PAGES_LOCKED,
            process: None,
            mapped_system_va: Va::NULL,
            start_va: Va::NULL,
            byte_count: (found << PAGE_SHIFT) as u32,
            byte_offset: 0,
            pfns,
        };
        Ok(MdlId(self.mdls.insert(crate::mdl::MdlSlot {
            mdl,
            capacity: wanted as u32,
            storage: MdlStorage::Pool,
            birth,
            lock: None,
            system_mapping: None,
        })))
    }

    /// The work of [`Machine::mm_free_pages_from_mdl`](crate::Machine::mm_free_pages_from_mdl) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_free_pages_from_mdl(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        let m = self.slot(id)?.mdl.clone();
        if m.flags.contains(MdlFlags::IO_SPACE) || !m.start_va.is_page_aligned() {
            return Err(self.assert_failed("MDL_IO_SPACE clear and StartVa aligned (invariant 20)"));
        }
        if m.flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA)
            || self.mappings.iter().any(|(_, mp)| {
                // Mapped through this MDL, or through another MDL whose PFN array names
                // these pages (a spliced MDL carrying a substitute page).
                mp.mdl == id || mp.frames.iter().any(|f| m.frames().any(|g| g == *f))
            })
        {
            self.event(
                EventKind::FreePagesWhileMapped,
                Some(id),
                None,
                format!(
                    "MmFreePagesFromMdl of {id} while its pages are still mapped (semantics §3.10)"
                ),
            );
        }
        let n = m
            .pfns
            .len()
            .min(m.page_count().max(1) as usize)
            .max(m.frames().count());
        for i in 0..n {
            let raw = self.slot(id)?.mdl.pfns[i];
            if raw == LIST_HEAD {
                break;
            }
            let pfn = Pfn(raw);
            let ok = self
                .phys
                .entry(pfn)
                .is_some_and(|e| e.mdl_allocation && e.share_count == 1);
            if !ok {
                return Err(self.bug_check(
                    BugCheckCode::MEMORY_MANAGEMENT,
                    [0x1236, id.address(), id.address() + 48 + 8 * i as u64, raw],
                    format!("MmFreePagesFromMdl: {pfn} in {id} is not an MmAllocatePagesForMdl page (invariant 20)"),
                ));
            }
            if let Some(e) = self.phys.entry_mut(pfn) {
                e.mdl_allocation = false;
                e.owner = FrameOwner::MdlAllocation;
            }
            if let Err((pfn, share)) = self.phys.drop_share(pfn) {
                return Err(self.pfn_list_corrupt(pfn, share, id));
            }
            self.slot_mut(id)?.mdl.pfns[i] = LIST_HEAD;
        }
        self.report_frames_freed_while_mapped();
        self.slot_mut(id)?.mdl.flags.remove(MdlFlags::PAGES_LOCKED);
        // An MDL that had *probed* these pages (e.g. through a mapping of them) still holds its
        // lock references and its process charge: the kernel trusts the PFN array and frees
        // the allocation, and the MDL forgets the lock — it is leaked, as by IoFreeMdl.
        self.forget_lock(id)?;
        Ok(())
    }
}
