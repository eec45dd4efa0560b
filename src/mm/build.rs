//! Building an MDL over pages another one describes: a partial MDL over a sub-range of a
//! locked source ([semantics §4]), and an MDL over resident non-paged memory
//! ([semantics §3.6]).
//!
//! [semantics §4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
//! [semantics §3.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.6

use crate::addr::{LIST_HEAD, PAGE_SIZE, Va, span_pages};
use crate::bugcheck::BugCheckCode;
use crate::events::EventKind;
use crate::fault::Result;
use crate::mdl::{Mdl, MdlFlags, MdlId};
use crate::mm::Mm;

impl Mm<'_> {
    /// The work of [`Machine::io_build_partial_mdl`](crate::Machine::io_build_partial_mdl) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn io_build_partial_mdl(
        &mut self,
        source: impl Into<Option<MdlId>>,
        target: impl Into<Option<MdlId>>,
        va: Va,
        length: u32,
    ) -> Result<()> {
        let src = self.deref_mdl(source.into())?;
        let tgt = self.deref_mdl(target.into())?;
        let s = self.slot(src)?.mdl.clone();
        let (length, pages) = self.partial_range(src, tgt, &s, va, length)?;
        self.release_partial_target(tgt)?;
        self.fill_partial(tgt, &s, va, length, pages)
    }

    /// The sub-range `[va, +length)` of `source` (`s`) that `target` is to describe, with its
    /// page count: `length == 0` is the rest of the source; the source must be locked,
    /// non-paged or a partial itself ([invariant 22]), the range inside it (0x12E) and the
    /// target large enough for its span (0x40) ([semantics §4], [§9]).
    ///
    /// [invariant 22]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-22
    /// [semantics §4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
    /// [§9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    fn partial_range(
        &mut self,
        src: MdlId,
        tgt: MdlId,
        s: &Mdl,
        va: Va,
        length: u32,
    ) -> Result<(u32, u32)> {
        if !s.flags.intersects(
            MdlFlags::PAGES_LOCKED | MdlFlags::SOURCE_IS_NONPAGED_POOL | MdlFlags::PARTIAL,
        ) {
            return Err(self.assert_failed(format!(
                "source {src} is neither locked nor non-paged (invariant 22)"
            )));
        }
        let offset = va.0.wrapping_sub(s.virtual_address().0);
        let length = if length == 0 {
            (s.byte_count as u64).wrapping_sub(offset) as u32
        } else {
            length
        };
        let inside = va >= s.virtual_address()
            && offset
                .checked_add(length as u64)
                .is_some_and(|end| end <= s.byte_count as u64)
            && length != 0;
        if !inside {
            return Err(self.bug_check(
                BugCheckCode::INVALID_MDL_RANGE,
                [src.address(), tgt.address(), va.0, length as u64],
                format!(
                    "IoBuildPartialMdl of [{va}, +{length:#x}) from {src} into {tgt}: range outside the source (semantics §4, §9)"
                ),
            ));
        }
        let pages = span_pages(va, length as u64);
        let cap = self.slot(tgt)?.capacity;
        if pages > cap {
            return Err(self.bug_check(
                BugCheckCode::TARGET_MDL_TOO_SMALL,
                [0; 4],
                format!(
                    "IoBuildPartialMdl of [{va}, +{length:#x}) from {src} into {tgt}: {pages} pages, target has room for {cap} (semantics §4, invariant 3)"
                ),
            ));
        }
        Ok((length, pages))
    }

    /// Reusing a target that is still mapped or locked ([invariant 23]): each is an event,
    /// and the target's own locks are forgotten.
    ///
    /// [invariant 23]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-23
    fn release_partial_target(&mut self, tgt: MdlId) -> Result<()> {
        let old = self.slot(tgt)?;
        if old.mdl.flags.contains(MdlFlags::PARTIAL_HAS_BEEN_MAPPED) {
            self.event(
                EventKind::PartialReusedWhileMapped,
                Some(tgt),
                Some(old.mdl.mapped_system_va),
                format!("{tgt} rebuilt as a partial while its own mapping is live (invariant 23)"),
            );
        }
        if self.slot(tgt)?.lock.is_some() {
            self.event(
                EventKind::PartialTargetWasLocked,
                Some(tgt),
                None,
                format!("{tgt} rebuilt as a partial while it held page locks"),
            );
            self.forget_lock(tgt)?;
        }
        Ok(())
    }

    /// Makes `target` describe `[va, +length)` of `s`: the source's PFNs for those pages,
    /// its inherited flags plus `PARTIAL`, `MappedSystemVa` at the same offset
    /// ([semantics §4]).
    ///
    /// [semantics §4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
    fn fill_partial(&mut self, tgt: MdlId, s: &Mdl, va: Va, length: u32, pages: u32) -> Result<()> {
        let offset = va.0.wrapping_sub(s.virtual_address().0);
        let first_slot = (va.page_align().0.wrapping_sub(s.start_va.0) >> 12) as usize;
        let copied: Vec<u64> = (0..pages as usize)
            .map(|i| s.pfns.get(first_slot + i).copied().unwrap_or(LIST_HEAD))
            .collect();
        let t = &mut self.slot_mut(tgt)?.mdl;
        t.start_va = va.page_align();
        t.process = s.process;
        t.byte_count = length;
        t.byte_offset = va.byte_offset();
        t.flags = (t.flags & (MdlFlags::ALLOCATED_FIXED_SIZE | MdlFlags::ALLOCATED_MUST_SUCCEED))
            | (s.flags
                & (MdlFlags::IO_PAGE_READ
                    | MdlFlags::SOURCE_IS_NONPAGED_POOL
                    | MdlFlags::MAPPED_TO_SYSTEM_VA
                    | MdlFlags::IO_SPACE))
            | MdlFlags::PARTIAL;
        t.mapped_system_va = s.mapped_system_va.wrapping_add(offset);
        t.pfns[..pages as usize].copy_from_slice(&copied);
        // The target's own mapping record (if any) is now orphaned; the hygiene
        // check reports it as a leaked mapping.
        self.slot_mut(tgt)?.system_mapping = None;
        Ok(())
    }

    /// The work of [`Machine::mm_build_mdl_for_non_paged_pool`](crate::Machine::mm_build_mdl_for_non_paged_pool) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_build_mdl_for_non_paged_pool(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        let m = self.slot(id)?.mdl.clone();
        if m.byte_count == 0 {
            return Err(self.assert_failed("ByteCount != 0 (invariant 1)"));
        }
        let bad = MdlFlags::PAGES_LOCKED
            | MdlFlags::MAPPED_TO_SYSTEM_VA
            | MdlFlags::SOURCE_IS_NONPAGED_POOL
            | MdlFlags::PARTIAL;
        if m.flags.intersects(bad) {
            return Err(self.assert_failed(format!(
                "{id} has flags {:?}; MmBuildMdlForNonPagedPool needs a fresh MDL (invariant 19)",
                m.flags & bad
            )));
        }
        let n = m.page_count();
        self.check_capacity(id, n)?;
        let start = m.virtual_address();
        let mut frames = Vec::with_capacity(n as usize);
        let mut foreign = false;
        for i in 0..n as u64 {
            let page = Va(start.page_align().0.wrapping_add(i * PAGE_SIZE));
            let pte = self.space_of(page).and_then(|sp| self.pte(sp, page));
            match pte {
                Some(p) => {
                    foreign |= !matches!(p.kind, crate::space::PteKind::Pool)
                        || crate::pool::is_paged_pool(page);
                    frames.push(p.pfn.0);
                }
                None => {
                    // P3 the PTE pointer (Microsoft's 0x1A page, row 0x1240).
                    let pte = crate::addr::pte_address(page);
                    return Err(self.bug_check(
                        BugCheckCode::MEMORY_MANAGEMENT,
                        [0x1240, id.address(), pte.0, 0],
                        format!(
                            "MmBuildMdlForNonPagedPool over non-resident {page} (invariant 19)"
                        ),
                    ));
                }
            }
        }
        if foreign {
            self.event(
                EventKind::NonPagedBuildOverOtherMemory,
                Some(id),
                Some(start),
                format!("{id} built over memory that is not non-paged pool"),
            );
        }
        let s = self.slot_mut(id)?;
        s.mdl.process = None;
        s.mdl.mapped_system_va = start;
        s.mdl.pfns[..n as usize].copy_from_slice(&frames);
        s.mdl.flags |= MdlFlags::SOURCE_IS_NONPAGED_POOL;
        Ok(())
    }
}
