//! Physical memory and the PFN database ([semantics §2]).
//!
//! Each frame has a PFN entry with a **reference count**, a **share count**
//! (the owning PTEs that map it), a [`PageState`] and an [`FrameOwner`]. A
//! lock is one extra reference, exactly as in ARM3: a page whose owner frees
//! it while it is locked loses its share and its "valid" reference, sits in
//! [`PageState::Transition`] still referenced by the lock, is never handed to
//! anyone else, and returns to the free list when the last lock drops.
//!
//! Frames are materialised lazily: frames are handed out from the free list
//! first and otherwise from a high-water mark, so a machine with 64 GiB of
//! simulated RAM costs only the frames ever touched. A freed frame keeps its
//! bytes and shadow labels until it is reused, so memory that is not zeroed
//! on allocation really holds its previous owner's data.
//!
//! [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2

use crate::addr::{PAGE_BYTES, Pfn};
use crate::ids::Pid;
use crate::shadow::{FrameLabels, LabelSpan, Run};
use serde::{Deserialize, Serialize};

mod audit;
mod frames;
pub(crate) use audit::Expected;
pub(crate) use frames::FrameRun;
use frames::FrameStore;

/// Number of cache types (`MEMORY_CACHING_TYPE` values the model accepts, `mdl::CacheType`;
/// the mapping layer checks the two agree). The PFN database is below the MDL layer, so it
/// counts cache types by their value.
pub const CACHE_TYPES: usize = 6;

/// ARM3's assertion bound on references per page (`MiReferenceProbedPageAndBumpLockCount`, [semantics §2]).
///
/// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
pub const MAX_LOCKS_PER_PAGE: u32 = 2500;

/// `PteFrame` marker ARM3 writes into pages of `MmAllocatePagesForMdl` ([semantics §3.9]).
///
/// [semantics §3.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.9
pub const MDL_ALLOCATION_MARKER: u64 = 0x1FF_EDCB;

/// Where a frame is on the PFN lists (`MMLISTS` / `PageLocation`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum PageState {
    /// On the free list; contents are stale bytes of the last owner.
    Free,
    /// Never used, all zero (above the high-water mark, or zeroed).
    Zeroed,
    /// In use and mapped by at least one owning PTE (`ActiveAndValid`).
    Active,
    /// No owning PTE any more but still referenced (locked after its owner released it).
    Transition,
}

/// Who a frame was allocated for; kept after the frame is freed (as `last_owner`) for reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum FrameOwner {
    /// Nobody (never allocated).
    None,
    /// A private page of a process's user address space.
    Process(Pid),
    /// A page of non-paged pool.
    Pool,
    /// A page allocated by `MmAllocatePagesForMdl(Ex)` (marked with [`MDL_ALLOCATION_MARKER`]).
    MdlAllocation,
}

/// One PFN database entry.
///
/// Invariant (checked by `Machine::audit`): `reference_count == (share_count > 0) as u32 +
/// locks`, where `locks` is the number of slots of locked MDLs naming this frame;
/// `share_count` equals the owning PTEs that map the frame (plus one for an
/// `MmAllocatePagesForMdl` page); a `Free`/`Zeroed` frame has both counts 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfnEntry {
    /// `ReferenceCount`: one for being valid in its owner's PTE, plus one per lock.
    pub reference_count: u32,
    /// `ShareCount`: owning PTEs mapping the frame.
    pub share_count: u32,
    /// List the page is on.
    pub state: PageState,
    /// Current (or, once free, last) owner.
    pub owner: FrameOwner,
    /// The owner released the page; it goes to the free list when the reference count reaches 0.
    pub deleted: bool,
    /// `PteFrame == 0x1FFEDCB`: allocated by `MmAllocatePagesForMdl(Ex)`.
    pub mdl_allocation: bool,
    /// MDL-mapping PTEs (system or user) that name the frame. Not a share: an MDL
    /// mapping does not keep a frame allocated ([architecture.md][decisions]), which is
    /// why a frame freed while this is non-zero is a finding at the step of the free.
    ///
    /// [decisions]: https://github.com/mdlsim/mdlsim/blob/main/docs/architecture.md#decisions
    pub mdl_mapped: u32,
    /// Of `mdl_mapped`, the PTEs of live MDL mappings made with each cache type (indexed by
    /// `mdl::CacheType as usize`). Invariant (checked by `Machine::audit`, `pfn.mdl_mapped`):
    /// entry `c` is the number of PTEs of live mappings with cache type `c` naming this
    /// frame, and the entries sum to `mdl_mapped`. Lets the cache-conflict check of a new
    /// mapping look at its own frames only, not at every live mapping.
    pub mdl_mapped_by_cache: [u32; CACHE_TYPES],
}

impl PfnEntry {
    fn zeroed() -> Self {
        PfnEntry {
            reference_count: 0,
            share_count: 0,
            state: PageState::Zeroed,
            owner: FrameOwner::None,
            deleted: false,
            mdl_allocation: false,
            mdl_mapped: 0,
            mdl_mapped_by_cache: [0; CACHE_TYPES],
        }
    }
}

/// Physical memory: frame contents, shadow labels and the PFN database.
#[derive(Clone, Debug)]
pub(crate) struct PhysicalMemory {
    /// Configured number of frames (simulated RAM / PAGE_SIZE).
    total: u64,
    /// PFN entries of materialised frames `[0, materialised)`.
    entries: Vec<PfnEntry>,
    /// Frame contents, same index as `entries`.
    data: FrameStore,
    /// Shadow labels, same index as `entries`.
    labels: Vec<FrameLabels>,
    /// Free (stale) frames, most recently freed last.
    free: Vec<Pfn>,
    /// Frames in use (neither Free nor Zeroed).
    in_use: u64,
    /// Host bytes the frames, their PFN entries and their labels may take
    /// ([`crate::Config::host_memory_limit_bytes`]).
    host_limit: u64,
    /// Host bytes the frames' labels hold beyond their headers (fragmented provenance
    /// costs many runs, or a dense index: [`FrameLabels`]).
    label_bytes: u64,
    /// PFN-array slots of live MDLs: their arrays are host memory too (8 bytes a slot; a
    /// Windows 7+ MDL of 4 GiB has a million), charged to the same budget.
    descriptor_slots: u64,
    /// Host bytes of live MDL mappings (their PTEs and the frames their records keep: a
    /// forged 4 GiB MDL mapped into user space writes a million PTEs), charged to the same
    /// budget.
    mapping_bytes: u64,
    /// Frames released while an MDL mapping still named them, not yet reported (the
    /// machine turns each into an event at the step that freed it).
    freed_while_mapped: Vec<Pfn>,
}

/// Why [`PhysicalMemory::allocate`] handed out no frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoFrame {
    /// Simulated RAM is exhausted (what Windows sees: the allocation fails).
    Exhausted,
    /// A new frame would take the host past the machine's host-memory budget (a limit
    /// of the simulator, not of the modelled system: the caller reports a model error).
    HostBudget,
}

/// Host bytes one materialised frame costs besides its label runs: its bytes, its PFN
/// entry, its label list's header.
const FRAME_HOST_BYTES: u64 =
    (PAGE_BYTES + std::mem::size_of::<PfnEntry>() + std::mem::size_of::<FrameLabels>()) as u64;

/// Host bytes of one label run.
const RUN_HOST_BYTES: u64 = std::mem::size_of::<Run>() as u64;

impl PhysicalMemory {
    /// `total_frames` of RAM, frame 0 reserved: Windows never hands out physical page 0
    /// (it belongs to the firmware and the HAL; ReactOS's kmtest `MmMdl.c` checks that no
    /// PFN of an `MmAllocatePagesForMdl` allocation is 0, and it holds on Windows). Frame 0
    /// is materialised as a zeroed frame nobody owns: never free, never allocated.
    pub(crate) fn new(total_frames: u64, host_limit: u64) -> Self {
        let mut p = PhysicalMemory {
            total: total_frames,
            entries: Vec::new(),
            data: FrameStore::default(),
            labels: Vec::new(),
            free: Vec::new(),
            in_use: 0,
            host_limit,
            label_bytes: 0,
            descriptor_slots: 0,
            mapping_bytes: 0,
            freed_while_mapped: Vec::new(),
        };
        if total_frames > 0 {
            p.entries.push(PfnEntry::zeroed());
            p.data.push_zero();
            p.labels.push(FrameLabels::zero());
        }
        p
    }

    /// Configured frames.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Frames in the PFN database (the reserved frame 0 and every frame ever touched).
    pub(crate) fn materialised(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Frames ever handed out (the reserved frame 0 not counted).
    pub(crate) fn touched(&self) -> u64 {
        (self.entries.len() as u64).saturating_sub(1)
    }

    /// Frames currently allocated.
    pub(crate) fn in_use(&self) -> u64 {
        self.in_use
    }

    pub(crate) fn free_list(&self) -> &[Pfn] {
        &self.free
    }

    /// The free list, for tests that corrupt it on purpose (audit negative controls).
    #[cfg(test)]
    pub(crate) fn free_list_mut(&mut self) -> &mut Vec<Pfn> {
        &mut self.free
    }

    /// The entry of a materialised frame.
    pub(crate) fn entry(&self, pfn: Pfn) -> Option<&PfnEntry> {
        self.entries.get(pfn.0 as usize)
    }

    pub(crate) fn entry_mut(&mut self, pfn: Pfn) -> Option<&mut PfnEntry> {
        self.entries.get_mut(pfn.0 as usize)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (Pfn, &PfnEntry)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (Pfn(i as u64), e))
    }

    /// Takes a frame: the most recently freed one if any (stale contents),
    /// else a fresh zero frame. [`NoFrame::Exhausted`] when physical memory is exhausted,
    /// [`NoFrame::HostBudget`] when a fresh frame would exceed the host-memory budget.
    /// With `zero`, the frame's bytes and labels are cleared (a demand-zero fault).
    pub(crate) fn allocate(&mut self, owner: FrameOwner, zero: bool) -> Result<Pfn, NoFrame> {
        let pfn = if let Some(pfn) = self.free.pop() {
            if zero {
                let i = pfn.0 as usize;
                self.data.get_mut(i).fill(0);
                self.replace_labels(pfn, FrameLabels::zero());
            }
            pfn
        } else if (self.entries.len() as u64) < self.total {
            if self.host_bytes() + FRAME_HOST_BYTES + RUN_HOST_BYTES > self.host_limit {
                return Err(NoFrame::HostBudget);
            }
            let pfn = Pfn(self.entries.len() as u64);
            self.entries.push(PfnEntry::zeroed());
            self.data.push_zero();
            let labels = FrameLabels::zero();
            self.label_bytes += labels.heap_bytes() as u64;
            self.labels.push(labels);
            pfn
        } else {
            return Err(NoFrame::Exhausted);
        };
        let e = &mut self.entries[pfn.0 as usize];
        *e = PfnEntry {
            reference_count: 1,
            share_count: 1,
            state: PageState::Active,
            owner,
            deleted: false,
            mdl_allocation: false,
            // A stale MDL mapping of the frame's previous life still names it.
            mdl_mapped: e.mdl_mapped,
            mdl_mapped_by_cache: e.mdl_mapped_by_cache,
        };
        self.in_use += 1;
        Ok(pfn)
    }

    /// Returns a frame whose counts reached zero to the free list (contents kept).
    fn release(&mut self, pfn: Pfn) {
        let e = &mut self.entries[pfn.0 as usize];
        if e.mdl_mapped > 0 {
            self.freed_while_mapped.push(pfn);
        }
        e.state = PageState::Free;
        e.deleted = false;
        e.mdl_allocation = false;
        e.reference_count = 0;
        e.share_count = 0;
        self.in_use -= 1;
        self.free.push(pfn);
    }

    /// One more (`delta = 1`) or one fewer (`delta = -1`) MDL-mapping PTE with cache type
    /// `cache` (a value below [`CACHE_TYPES`]) names `pfn` (both `mdl_mapped` and its
    /// per-cache-type count).
    pub(crate) fn count_mdl_mapping(&mut self, pfn: Pfn, cache: usize, delta: i32) {
        if let Some(e) = self.entries.get_mut(pfn.0 as usize) {
            e.mdl_mapped = e.mdl_mapped.saturating_add_signed(delta);
            if let Some(c) = e.mdl_mapped_by_cache.get_mut(cache) {
                *c = c.saturating_add_signed(delta);
            }
        }
    }

    /// True when a live MDL mapping with a cache type other than `cache` names `pfn`.
    pub(crate) fn mapped_with_other_cache(&self, pfn: Pfn, cache: usize) -> bool {
        self.entries
            .get(pfn.0 as usize)
            .is_some_and(|e| e.mdl_mapped > e.mdl_mapped_by_cache.get(cache).copied().unwrap_or(0))
    }

    /// The frames released while still MDL-mapped since the last call.
    pub(crate) fn take_freed_while_mapped(&mut self) -> Vec<Pfn> {
        std::mem::take(&mut self.freed_while_mapped)
    }

    /// Drops one reference (`MiDecrementReferenceCount`). Returns `Err((pfn, share))`
    /// when the count would go below zero or reaches zero with a share still
    /// outstanding — the caller turns it into `PFN_LIST_CORRUPT (0x4E, 7)`.
    pub(crate) fn dereference(&mut self, pfn: Pfn) -> Result<(), (Pfn, u32)> {
        let Some(e) = self.entries.get_mut(pfn.0 as usize) else {
            return Err((pfn, 0));
        };
        if e.reference_count == 0 || (e.reference_count == 1 && e.share_count != 0) {
            return Err((pfn, e.share_count));
        }
        e.reference_count -= 1;
        if e.reference_count == 0 {
            self.release(pfn);
        }
        Ok(())
    }

    /// Drops an owning PTE's share (`MiDecrementShareCount`): when the last share
    /// goes, the page is marked deleted, loses its "valid" reference, and is
    /// freed — or, if locked, stays in Transition until the last lock drops.
    pub(crate) fn drop_share(&mut self, pfn: Pfn) -> Result<(), (Pfn, u32)> {
        let Some(e) = self.entries.get_mut(pfn.0 as usize) else {
            return Err((pfn, 0));
        };
        if e.share_count == 0 {
            return Err((pfn, 0));
        }
        e.share_count -= 1;
        if e.share_count == 0 {
            e.deleted = true;
            e.state = PageState::Transition;
            return self.dereference(pfn);
        }
        Ok(())
    }

    /// Adds one reference for a lock (`MiReferenceProbedPageAndBumpLockCount`).
    /// Returns the new count, or `None` if the frame is not in use.
    pub(crate) fn reference(&mut self, pfn: Pfn) -> Option<u32> {
        let e = self.entries.get_mut(pfn.0 as usize)?;
        if e.reference_count == 0 {
            return None;
        }
        e.reference_count += 1;
        Some(e.reference_count)
    }

    /// The bytes of a materialised frame.
    pub(crate) fn bytes(&self, pfn: Pfn) -> &[u8] {
        self.data.get(pfn.0 as usize)
    }

    pub(crate) fn bytes_mut(&mut self, pfn: Pfn) -> &mut [u8] {
        self.data.get_mut(pfn.0 as usize)
    }

    /// Bytes `[at, at + len)` counted from the start of frame `first`, across the frames
    /// that follow it (a [`FrameRun`]: consecutive frames of one slab).
    pub(crate) fn run_bytes(&self, first: Pfn, at: usize, len: usize) -> &[u8] {
        self.data.run(first.0 as usize, at, len)
    }

    pub(crate) fn run_bytes_mut(&mut self, first: Pfn, at: usize, len: usize) -> &mut [u8] {
        self.data.run_mut(first.0 as usize, at, len)
    }

    /// Copies the run `src` to the run `dst` (same length) in one host copy; `false` (and
    /// nothing copied) when their bytes overlap.
    pub(crate) fn copy_run(&mut self, src: &FrameRun, dst: &FrameRun) -> bool {
        let len = src.len.min(dst.len);
        match self.data.pair_run_mut(
            (src.first.0 as usize, src.at),
            (dst.first.0 as usize, dst.at),
            len,
        ) {
            Some((s, d)) => {
                d.copy_from_slice(s);
                true
            }
            None => false,
        }
    }

    pub(crate) fn labels(&self, pfn: Pfn) -> &FrameLabels {
        &self.labels[pfn.0 as usize]
    }

    /// Labels `[off, off + len)` of `pfn` with `label` ([`FrameLabels::set`]), keeping the
    /// count of label runs the host holds.
    pub(crate) fn set_labels(
        &mut self,
        pfn: Pfn,
        off: usize,
        len: usize,
        label: crate::shadow::Label,
    ) {
        self.edit_labels(pfn, |l| l.set(off, len, label));
    }

    /// Replaces the labels of `[off, off + total)` of `pfn` with `spans`
    /// ([`FrameLabels::splice`]), keeping the count of label runs the host holds.
    pub(crate) fn splice_labels(
        &mut self,
        pfn: Pfn,
        off: usize,
        total: usize,
        spans: &[LabelSpan],
    ) {
        self.edit_labels(pfn, |l| l.splice(off, total, spans));
    }

    fn replace_labels(&mut self, pfn: Pfn, new: FrameLabels) {
        self.edit_labels(pfn, |l| *l = new);
    }

    fn edit_labels(&mut self, pfn: Pfn, f: impl FnOnce(&mut FrameLabels)) {
        let l = &mut self.labels[pfn.0 as usize];
        let before = l.heap_bytes() as u64;
        f(l);
        let after = l.heap_bytes() as u64;
        self.label_bytes = (self.label_bytes + after).saturating_sub(before);
    }

    /// Host bytes held for simulated memory: the frames handed out (bytes, PFN entries,
    /// label lists; the reserved frame 0 is the machine's fixed cost, not counted) and
    /// their label runs. An upper bound of what the frames
    /// really cost (a fresh slab is zero pages the host has not yet backed).
    pub(crate) fn host_bytes(&self) -> u64 {
        self.touched()
            .saturating_mul(FRAME_HOST_BYTES)
            .saturating_add(self.label_bytes)
            .saturating_add(self.descriptor_slots.saturating_mul(8))
            .saturating_add(self.mapping_bytes)
    }

    /// The host-memory budget in bytes.
    pub(crate) fn host_limit(&self) -> u64 {
        self.host_limit
    }

    /// Charges an MDL's PFN array of `slots` entries to the host budget: the
    /// [`Self::budget_fault`] when it does not fit (a limit of the simulator: Windows
    /// would have allocated the MDL).
    pub(crate) fn charge_descriptor(&mut self, slots: u64) -> crate::fault::Result<()> {
        if self.host_bytes().saturating_add(slots.saturating_mul(8)) > self.host_limit {
            return Err(self.budget_fault());
        }
        self.descriptor_slots += slots;
        Ok(())
    }

    /// Returns a freed MDL's PFN array of `slots` entries to the host budget.
    pub(crate) fn release_descriptor(&mut self, slots: u64) {
        self.descriptor_slots = self.descriptor_slots.saturating_sub(slots);
    }

    /// Refuses, before anything changes, a mapping that would need `bytes` more host
    /// memory than the budget leaves ([`crate::ModelError::HostMemoryLimit`]).
    pub(crate) fn check_mapping_fits(&self, bytes: u64) -> crate::fault::Result<()> {
        if self.host_bytes().saturating_add(bytes) > self.host_limit {
            return Err(self.budget_fault());
        }
        Ok(())
    }

    /// Charges a new mapping's `bytes` to the host budget (checked first with
    /// [`Self::check_mapping_fits`]).
    pub(crate) fn charge_mapping(&mut self, bytes: u64) {
        self.mapping_bytes = self.mapping_bytes.saturating_add(bytes);
    }

    /// Returns a removed mapping's `bytes` to the host budget.
    pub(crate) fn release_mapping(&mut self, bytes: u64) {
        self.mapping_bytes = self.mapping_bytes.saturating_sub(bytes);
    }

    /// The fault of work refused for the host-memory budget
    /// ([`crate::ModelError::HostMemoryLimit`]: a limit of the simulator, not of Windows).
    pub(crate) fn budget_fault(&self) -> crate::fault::Fault {
        crate::fault::Fault::Model(crate::fault::ModelError::HostMemoryLimit {
            limit: self.host_limit,
            used: self.host_bytes(),
        })
    }
}

#[cfg(test)]
mod tests;
