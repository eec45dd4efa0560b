//! Observation for the oracle and tests: no side effects, no step, works after a crash.

use super::Machine;
use crate::addr::{PAGE_BYTES, Pfn, Va};
use crate::fault::Result;
use crate::log::Access;
use crate::shadow::{Label, LabelSpan};
use crate::space::{PageDesc, Pte, SpaceId, VadKind};

impl Machine {
    // ----- observation (no side effects, no step, works after a crash) -----------------

    /// The frame behind `va` in `space`, if a valid PTE maps it.
    pub fn translate(&self, space: SpaceId, va: Va) -> Option<Pfn> {
        self.space(space)?.pte(va).map(|p| p.pfn)
    }

    /// An address space (the system's, or a live process's): its VADs and valid PTEs.
    pub fn address_space(&self, space: SpaceId) -> Option<&crate::space::AddressSpace> {
        self.space(space)
    }

    /// The PTE behind `va` in `space`.
    pub fn pte(&self, space: SpaceId, va: Va) -> Option<Pte> {
        self.space(space)?.pte(va).copied()
    }

    /// The bytes of `[va, va+len)` in `space` without faulting: `None` if a page is
    /// neither valid nor committed demand-zero (which reads as zero).
    pub fn peek(&self, space: SpaceId, va: Va, len: u64) -> Option<Vec<u8>> {
        va.checked_add(len)?;
        let mut out = Vec::with_capacity(len.min(16 << 20) as usize);
        for (page, off, n) in crate::addr::page_chunks(va, len) {
            match self.peek_frame(space, page)? {
                Some(pfn) => out.extend_from_slice(self.phys.run_bytes(pfn, off, n)),
                None => out.resize(out.len() + n, 0),
            }
        }
        Some(out)
    }

    /// The provenance of `[va, va+len)` in `space`, as merged spans; `None` if a
    /// page is not accessible (committed untouched pages read as `Zero`).
    pub fn labels(&self, space: SpaceId, va: Va, len: u64) -> Option<Vec<LabelSpan>> {
        va.checked_add(len)?;
        let mut out = Vec::new();
        for (page, off, n) in crate::addr::page_chunks(va, len) {
            match self.peek_frame(space, page)? {
                Some(pfn) => {
                    let mut tmp = Vec::new();
                    self.phys.labels(pfn).spans(off, n, &mut tmp);
                    for s in tmp {
                        crate::shadow::push_span(&mut out, s);
                    }
                }
                None => crate::shadow::push_span(
                    &mut out,
                    LabelSpan {
                        len: n as u64,
                        label: Label::Zero,
                    },
                ),
            }
        }
        Some(out)
    }

    /// `Some(Some(pfn))` for a valid page, `Some(None)` for committed demand-zero, `None` otherwise.
    fn peek_frame(&self, space: SpaceId, page: Va) -> Option<Option<Pfn>> {
        let s = self.space(space)?;
        if let Some(p) = s.pte(page) {
            return Some(Some(p.pfn));
        }
        let vad = s.vad(page)?;
        match &vad.kind {
            VadKind::Private(d) => match d.get(page.vpn() - vad.start.vpn())? {
                PageDesc::Committed(_) => Some(None),
                PageDesc::Reserved => None,
            },
            VadKind::MdlMapping(_) => None,
        }
    }

    /// The bytes of a frame (for inspection in tests and reports).
    pub fn frame_bytes(&self, pfn: Pfn) -> Option<&[u8]> {
        self.phys.entry(pfn)?;
        Some(self.phys.bytes(pfn))
    }

    /// The provenance of `[offset, offset+len)` of a frame.
    pub fn frame_labels(&self, pfn: Pfn, offset: usize, len: usize) -> Option<Vec<LabelSpan>> {
        self.phys.entry(pfn)?;
        if offset.checked_add(len)? > PAGE_BYTES {
            return None;
        }
        let mut out = Vec::new();
        self.phys.labels(pfn).spans(offset, len, &mut out);
        Some(out)
    }

    /// The PFN database entry of a frame (`!pfn` in the debugger).
    pub fn pfn_entry(&self, pfn: Pfn) -> Option<&crate::pfn::PfnEntry> {
        self.phys.entry(pfn)
    }

    /// Starts recording every access (see [`crate::log`]); clears earlier records.
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call does.
    pub fn start_access_log(&mut self) -> Result<()> {
        self.alive()?;
        self.restart_access_log();
        Ok(())
    }

    /// Stops recording and returns what was recorded.
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call does.
    pub fn take_access_log(&mut self) -> Result<Vec<Access>> {
        self.alive()?;
        Ok(self.drain_access_log())
    }

    /// The records so far, without stopping the log: an inspection that also works after
    /// a bug check (what a crash dump would show of the accesses that led to it).
    pub fn access_log(&self) -> &[Access] {
        &self.log.records
    }

    /// [`Machine::start_access_log`] for the harness, which keeps recording across a bug
    /// check to judge the case.
    pub(crate) fn restart_access_log(&mut self) {
        self.log.enabled = true;
        self.log.records.clear();
    }

    /// [`Machine::take_access_log`] for the harness (also after a bug check).
    pub(crate) fn drain_access_log(&mut self) -> Vec<Access> {
        self.log.enabled = false;
        std::mem::take(&mut self.log.records)
    }
}
