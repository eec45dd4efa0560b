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

use crate::addr::{PAGE_BYTES, Pfn, Va};
use crate::ids::Pid;
use crate::shadow::{FrameLabels, LabelSpan, Run};
use serde::{Deserialize, Serialize};

mod audit;
pub(crate) use audit::Expected;

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
        }
    }
}

/// Frames per slab: one host allocation of 256 KiB (plus a page of slack), filled as
/// frames materialise.
pub(crate) const SLAB: usize = 64;

/// Bytes of a slab's frames.
const SLAB_BYTES: usize = SLAB * PAGE_BYTES;

/// One slab: up to [`SLAB`] frames back to back, page-aligned on the host (a 4 KiB heap
/// block 16 bytes off a page boundary costs a misaligned copy ~25% on x86-64), so a run of
/// frames with consecutive numbers in one slab is one contiguous byte slice and a copy
/// across it is one host `memcpy`.
///
/// The buffer is reserved once, with a page of slack, and grows (zero-filled) one frame
/// at a time as frames materialise, never past its capacity, so it never moves; the
/// frames start at `base`, the first page boundary in it (found with `align_offset`, no
/// `unsafe`). Only materialised frames are ever written or cleared: a fresh machine's
/// first slab costs one page, not 256 KiB, and a clone copies what is there.
#[derive(Debug)]
struct Slab {
    buf: Vec<u8>,
    base: usize,
}

impl Slab {
    fn new() -> Slab {
        let mut buf: Vec<u8> = Vec::with_capacity(SLAB_BYTES + PAGE_BYTES);
        // `align_offset` may (in principle) decline with usize::MAX: the frames then
        // start at the slack's end, still within the capacity, merely unaligned.
        let base = buf.as_ptr().align_offset(PAGE_BYTES).min(PAGE_BYTES);
        buf.resize(base, 0);
        Slab { buf, base }
    }

    /// The slab's materialised frames as one slice.
    fn frames(&self) -> &[u8] {
        &self.buf[self.base..]
    }

    fn frames_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.base..]
    }

    /// Materialises the slab's next frame, zero-filled (within the reserved capacity:
    /// the buffer does not move).
    fn push_zero(&mut self) {
        self.buf.resize(self.buf.len() + PAGE_BYTES, 0);
    }
}

/// Frame contents by frame number, in slabs of [`SLAB`] page-aligned frames.
#[derive(Debug, Default)]
struct FrameStore {
    slabs: Vec<Slab>,
    len: usize,
}

impl Clone for FrameStore {
    /// Copies the materialised frames only, each slab re-aligned in its new buffer.
    fn clone(&self) -> Self {
        let slabs = self
            .slabs
            .iter()
            .map(|s| {
                let mut c = Slab::new();
                c.buf.extend_from_slice(s.frames());
                c
            })
            .collect();
        FrameStore {
            slabs,
            len: self.len,
        }
    }
}

impl FrameStore {
    /// Materialises the next frame, zero-filled (frames are materialised once, in order).
    fn push_zero(&mut self) {
        if self.len == self.slabs.len() * SLAB {
            self.slabs.push(Slab::new());
        }
        if let Some(s) = self.slabs.last_mut() {
            s.push_zero();
        }
        self.len += 1;
    }

    /// Bytes `[at, at + len)` of the frames starting at frame `i`; the range stays in
    /// `i`'s slab (callers check with [`same_slab`]).
    fn run(&self, i: usize, at: usize, len: usize) -> &[u8] {
        let o = (i % SLAB) * PAGE_BYTES + at;
        &self.slabs[i / SLAB].frames()[o..o + len]
    }

    fn run_mut(&mut self, i: usize, at: usize, len: usize) -> &mut [u8] {
        let o = (i % SLAB) * PAGE_BYTES + at;
        &mut self.slabs[i / SLAB].frames_mut()[o..o + len]
    }

    fn get(&self, i: usize) -> &[u8] {
        self.run(i, 0, PAGE_BYTES)
    }

    fn get_mut(&mut self, i: usize) -> &mut [u8] {
        self.run_mut(i, 0, PAGE_BYTES)
    }

    /// Runs `[a*4K + ao, +len)` (shared) and `[b*4K + bo, +len)` (mutable) of frames,
    /// each inside one slab; `None` when the two byte ranges overlap.
    fn pair_run_mut(
        &mut self,
        (a, ao): (usize, usize),
        (b, bo): (usize, usize),
        len: usize,
    ) -> Option<(&[u8], &mut [u8])> {
        let (sa, sb) = (a / SLAB, b / SLAB);
        let oa = (a % SLAB) * PAGE_BYTES + ao;
        let ob = (b % SLAB) * PAGE_BYTES + bo;
        if sa == sb {
            let f = self.slabs[sa].frames_mut();
            if oa + len <= ob {
                let (lo, hi) = f.split_at_mut(ob);
                Some((&lo[oa..oa + len], &mut hi[..len]))
            } else if ob + len <= oa {
                let (lo, hi) = f.split_at_mut(oa);
                Some((&hi[..len], &mut lo[ob..ob + len]))
            } else {
                None
            }
        } else {
            let (x, y) = split_pair(&mut self.slabs, sa, sb);
            Some((&x.frames()[oa..oa + len], &mut y.frames_mut()[ob..ob + len]))
        }
    }
}

/// Consecutive bytes of physical memory: `len` bytes from byte `at` of frame `first`,
/// through frames `first + 1, ...` of the same slab. The copy paths gather a request's
/// page chunks into runs and copy each run at once (one host `memcpy` instead of one per
/// page); the pages are still translated, checked and logged one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameRun {
    /// First frame.
    pub first: Pfn,
    /// Byte offset in `first`.
    pub at: usize,
    /// Bytes.
    pub len: usize,
}

impl FrameRun {
    /// The chunk `[off, off + n)` of frame `pfn`, as a run.
    pub(crate) fn new(pfn: Pfn, off: usize, n: usize) -> FrameRun {
        FrameRun {
            first: pfn,
            at: off,
            len: n,
        }
    }

    /// The run's pages as accessed from virtual address `at` (the run's first byte):
    /// `(va, frame, offset in frame, bytes)` per page, in order.
    pub(crate) fn pages(&self, at: Va) -> impl Iterator<Item = (Va, Pfn, usize, usize)> + use<> {
        let run = *self;
        crate::addr::page_chunks(Va(run.at as u64), run.len as u64).map(move |(p, off, n)| {
            let k = p.0 / PAGE_BYTES as u64;
            let va = at.wrapping_add(p.0 + off as u64 - run.at as u64);
            (va, Pfn(run.first.0 + k), off, n)
        })
    }

    /// True when the two runs share no byte of physical memory.
    pub(crate) fn disjoint(a: &FrameRun, b: &FrameRun) -> bool {
        let start = |r: &FrameRun| r.first.0 as u128 * PAGE_BYTES as u128 + r.at as u128;
        let (sa, sb) = (start(a), start(b));
        sa + a.len as u128 <= sb || sb + b.len as u128 <= sa
    }

    /// True when the chunk at byte `off` of frame `pfn` starts where the run ends in
    /// host memory (the same frame further on, or the next frame of the same slab).
    pub(crate) fn continues_at(&self, pfn: Pfn, off: usize) -> bool {
        let end = self.at + self.len;
        off == end % PAGE_BYTES
            && pfn.0 == self.first.0 + (end / PAGE_BYTES) as u64
            && same_slab(self.first, pfn)
    }

    /// Extends the run by the chunk `[off, off + n)` of frame `pfn` when that chunk
    /// directly follows it in host memory ([`FrameRun::continues_at`]); `false` (run
    /// unchanged) otherwise.
    pub(crate) fn extend(&mut self, pfn: Pfn, off: usize, n: usize) -> bool {
        if self.continues_at(pfn, off) {
            self.len += n;
            true
        } else {
            false
        }
    }
}

/// True when frames `a` and `b` lie in the same slab (a run from `a` through `b` is
/// contiguous on the host).
pub(crate) fn same_slab(a: Pfn, b: Pfn) -> bool {
    a.0 / SLAB as u64 == b.0 / SLAB as u64
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
    /// Label runs the host holds for all frames (fragmented provenance costs many).
    label_runs: u64,
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
    pub(crate) fn new(total_frames: u64, host_limit: u64) -> Self {
        PhysicalMemory {
            total: total_frames,
            entries: Vec::new(),
            data: FrameStore::default(),
            labels: Vec::new(),
            free: Vec::new(),
            in_use: 0,
            host_limit,
            label_runs: 0,
            freed_while_mapped: Vec::new(),
        }
    }

    /// Configured frames.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Frames ever touched.
    pub(crate) fn materialised(&self) -> u64 {
        self.entries.len() as u64
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
            self.label_runs += labels.heap_runs() as u64;
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

    /// One more (`delta = 1`) or one fewer (`delta = -1`) MDL-mapping PTE names `pfn`.
    pub(crate) fn count_mdl_mapping(&mut self, pfn: Pfn, delta: i32) {
        if let Some(e) = self.entries.get_mut(pfn.0 as usize) {
            e.mdl_mapped = e.mdl_mapped.saturating_add_signed(delta);
        }
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
        let before = l.heap_runs() as u64;
        f(l);
        let after = l.heap_runs() as u64;
        self.label_runs = (self.label_runs + after).saturating_sub(before);
    }

    /// Host bytes held for simulated memory: materialised frames (bytes, PFN entries,
    /// label lists) and their label runs. An upper bound of what the frames
    /// really cost (a fresh slab is zero pages the host has not yet backed).
    pub(crate) fn host_bytes(&self) -> u64 {
        (self.entries.len() as u64)
            .saturating_mul(FRAME_HOST_BYTES)
            .saturating_add(self.label_runs.saturating_mul(RUN_HOST_BYTES))
    }

    /// The host-memory budget in bytes.
    pub(crate) fn host_limit(&self) -> u64 {
        self.host_limit
    }
}

fn split_pair<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_materialise_lazily() {
        let mut pm = PhysicalMemory::new(16 << 20, u64::MAX); // 64 GiB of frames
        assert_eq!(pm.materialised(), 0);
        let a = pm.allocate(FrameOwner::Pool, false).unwrap();
        assert_eq!(pm.materialised(), 1);
        assert_eq!(pm.entry(a).unwrap().reference_count, 1);
    }

    #[test]
    fn freed_frame_keeps_its_bytes_until_reused_without_zeroing() {
        let mut pm = PhysicalMemory::new(4, u64::MAX);
        let a = pm.allocate(FrameOwner::Process(Pid(1)), true).unwrap();
        pm.bytes_mut(a)[7] = 0xAA;
        pm.drop_share(a).unwrap();
        assert_eq!(pm.entry(a).unwrap().state, PageState::Free);
        let b = pm.allocate(FrameOwner::Pool, false).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            pm.bytes(b)[7],
            0xAA,
            "non-zeroing allocation sees stale data"
        );
    }

    #[test]
    fn demand_zero_allocation_clears_a_reused_frame() {
        let mut pm = PhysicalMemory::new(4, u64::MAX);
        let a = pm.allocate(FrameOwner::Pool, false).unwrap();
        pm.bytes_mut(a)[7] = 0xAA;
        pm.drop_share(a).unwrap();
        let b = pm.allocate(FrameOwner::Process(Pid(2)), true).unwrap();
        assert_eq!(pm.bytes(b)[7], 0);
    }

    #[test]
    fn locked_page_released_by_owner_stays_until_unlocked() {
        let mut pm = PhysicalMemory::new(4, u64::MAX);
        let a = pm.allocate(FrameOwner::Process(Pid(1)), true).unwrap();
        assert_eq!(pm.reference(a), Some(2)); // lock
        pm.drop_share(a).unwrap(); // VirtualFree
        let e = pm.entry(a).unwrap();
        assert_eq!(
            (e.state, e.reference_count, e.share_count),
            (PageState::Transition, 1, 0)
        );
        assert!(pm.free_list().is_empty(), "never handed to anyone else");
        pm.dereference(a).unwrap(); // unlock
        assert_eq!(pm.entry(a).unwrap().state, PageState::Free);
        assert_eq!(pm.free_list(), &[a]);
    }

    #[test]
    fn dereference_below_share_is_pfn_list_corrupt() {
        let mut pm = PhysicalMemory::new(4, u64::MAX);
        let a = pm.allocate(FrameOwner::Process(Pid(1)), true).unwrap();
        assert_eq!(pm.dereference(a), Err((a, 1)));
    }

    #[test]
    fn host_budget_refuses_a_fresh_frame_but_not_a_reused_one() {
        let two = 2 * (FRAME_HOST_BYTES + RUN_HOST_BYTES);
        let mut pm = PhysicalMemory::new(1 << 20, two);
        let a = pm.allocate(FrameOwner::Pool, false).unwrap();
        pm.allocate(FrameOwner::Pool, false).unwrap();
        assert_eq!(pm.host_bytes(), two);
        assert_eq!(
            pm.allocate(FrameOwner::Pool, true),
            Err(NoFrame::HostBudget)
        );
        // A freed frame is reused at no host cost.
        pm.drop_share(a).unwrap();
        assert!(pm.free_list().contains(&a));
        assert_eq!(pm.allocate(FrameOwner::Pool, true), Ok(a));
    }

    #[test]
    fn fragmented_labels_count_against_the_host_budget() {
        let mut pm = PhysicalMemory::new(4, u64::MAX);
        let a = pm.allocate(FrameOwner::Pool, false).unwrap();
        let before = pm.host_bytes();
        for off in (0..PAGE_BYTES).step_by(2) {
            let label = crate::shadow::Label::Origin {
                space: crate::space::SpaceId::System,
                va: Va(0xFFFF_8000_0000_0000 + 7 * off as u64),
            };
            pm.set_labels(a, off, 1, label);
        }
        assert!(pm.labels(a).runs().len() >= PAGE_BYTES / 2);
        assert!(pm.host_bytes() >= before + (PAGE_BYTES as u64 / 2 - 1) * RUN_HOST_BYTES);
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut pm = PhysicalMemory::new(1, u64::MAX);
        assert!(pm.allocate(FrameOwner::Pool, false).is_ok());
        assert_eq!(
            pm.allocate(FrameOwner::Pool, false),
            Err(NoFrame::Exhausted)
        );
    }
}
