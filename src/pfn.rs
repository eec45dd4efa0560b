//! Physical memory and the PFN database (semantics §2).
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

use crate::addr::{PAGE_BYTES, Pfn};
use crate::shadow::FrameLabels;
use crate::space::Pid;
use serde::{Deserialize, Serialize};

/// ARM3's assertion bound on references per page (`MiReferenceProbedPageAndBumpLockCount`, semantics §2).
pub const MAX_LOCKS_PER_PAGE: u32 = 2500;

/// `PteFrame` marker ARM3 writes into pages of `MmAllocatePagesForMdl` (semantics §3.9).
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
        }
    }
}

/// One frame's bytes, page-aligned on the host: copies to and from frames then run at
/// `memcpy` speed (a 4 KiB heap block is 16 bytes off a page boundary, which costs a
/// misaligned copy ~25% on x86-64).
#[repr(align(4096))]
#[derive(Clone, Debug)]
struct Frame([u8; PAGE_BYTES]);

/// Frames per slab: one host allocation of 256 KiB, filled as frames materialise.
const SLAB: usize = 64;

/// Frame contents by frame number, in slabs of [`SLAB`] page-aligned frames.
#[derive(Clone, Debug, Default)]
struct FrameStore {
    slabs: Vec<Vec<Frame>>,
    len: usize,
}

impl FrameStore {
    fn len(&self) -> usize {
        self.len
    }

    /// Materialises the next frame, zero-filled.
    fn push_zero(&mut self) {
        if self.slabs.last().is_none_or(|s| s.len() == SLAB) {
            self.slabs.push(Vec::with_capacity(SLAB));
        }
        if let Some(s) = self.slabs.last_mut() {
            // A cloned slab has no spare capacity: grow it once to a whole slab.
            if s.len() == s.capacity() {
                s.reserve_exact(SLAB - s.len());
            }
            s.push(Frame([0; PAGE_BYTES]));
            self.len += 1;
        }
    }

    fn get(&self, i: usize) -> &[u8] {
        &self.slabs[i / SLAB][i % SLAB].0
    }

    fn get_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.slabs[i / SLAB][i % SLAB].0
    }

    /// Frames `a` (shared) and `b` (mutable), `a != b`, both materialised.
    fn pair_mut(&mut self, a: usize, b: usize) -> (&[u8], &mut [u8]) {
        let (sa, oa, sb, ob) = (a / SLAB, a % SLAB, b / SLAB, b % SLAB);
        if sa == sb {
            let (x, y) = split_pair(&mut self.slabs[sa], oa, ob);
            (&x.0[..], &mut y.0[..])
        } else {
            let (x, y) = split_pair(&mut self.slabs, sa, sb);
            (&x[oa].0[..], &mut y[ob].0[..])
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
}

impl PhysicalMemory {
    pub(crate) fn new(total_frames: u64) -> Self {
        PhysicalMemory {
            total: total_frames,
            entries: Vec::new(),
            data: FrameStore::default(),
            labels: Vec::new(),
            free: Vec::new(),
            in_use: 0,
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
    /// else a fresh zero frame. `None` when physical memory is exhausted.
    /// With `zero`, the frame's bytes and labels are cleared (a demand-zero fault).
    pub(crate) fn allocate(&mut self, owner: FrameOwner, zero: bool) -> Option<Pfn> {
        let pfn = if let Some(pfn) = self.free.pop() {
            if zero {
                let i = pfn.0 as usize;
                self.data.get_mut(i).fill(0);
                self.labels[i] = FrameLabels::zero();
            }
            pfn
        } else if (self.entries.len() as u64) < self.total {
            let pfn = Pfn(self.entries.len() as u64);
            self.entries.push(PfnEntry::zeroed());
            self.data.push_zero();
            self.labels.push(FrameLabels::zero());
            pfn
        } else {
            return None;
        };
        let e = &mut self.entries[pfn.0 as usize];
        *e = PfnEntry {
            reference_count: 1,
            share_count: 1,
            state: PageState::Active,
            owner,
            deleted: false,
            mdl_allocation: false,
        };
        self.in_use += 1;
        Some(pfn)
    }

    /// Returns a frame whose counts reached zero to the free list (contents kept).
    fn release(&mut self, pfn: Pfn) {
        let e = &mut self.entries[pfn.0 as usize];
        e.state = PageState::Free;
        e.deleted = false;
        e.mdl_allocation = false;
        e.reference_count = 0;
        e.share_count = 0;
        self.in_use -= 1;
        self.free.push(pfn);
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

    pub(crate) fn labels(&self, pfn: Pfn) -> &FrameLabels {
        &self.labels[pfn.0 as usize]
    }

    pub(crate) fn labels_mut(&mut self, pfn: Pfn) -> &mut FrameLabels {
        &mut self.labels[pfn.0 as usize]
    }

    /// Two distinct frames' bytes and labels at once (for frame-to-frame copies).
    #[allow(clippy::type_complexity)]
    pub(crate) fn pair_mut(
        &mut self,
        a: Pfn,
        b: Pfn,
    ) -> Option<((&[u8], &FrameLabels), (&mut [u8], &mut FrameLabels))> {
        let (ia, ib) = (a.0 as usize, b.0 as usize);
        if ia == ib || ia >= self.data.len() || ib >= self.data.len() {
            return None;
        }
        let (src_d, dst_d) = self.data.pair_mut(ia, ib);
        let (src_l, dst_l) = split_pair(&mut self.labels, ia, ib);
        Some(((src_d, &*src_l), (dst_d, dst_l)))
    }

    /// Approximate host bytes used by materialised frames (for the memory figure).
    pub(crate) fn host_bytes(&self) -> u64 {
        self.entries.len() as u64 * (PAGE_BYTES as u64 + std::mem::size_of::<PfnEntry>() as u64)
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
        let mut pm = PhysicalMemory::new(16 << 20); // 64 GiB of frames
        assert_eq!(pm.materialised(), 0);
        let a = pm.allocate(FrameOwner::Pool, false).unwrap();
        assert_eq!(pm.materialised(), 1);
        assert_eq!(pm.entry(a).unwrap().reference_count, 1);
    }

    #[test]
    fn freed_frame_keeps_its_bytes_until_reused_without_zeroing() {
        let mut pm = PhysicalMemory::new(4);
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
        let mut pm = PhysicalMemory::new(4);
        let a = pm.allocate(FrameOwner::Pool, false).unwrap();
        pm.bytes_mut(a)[7] = 0xAA;
        pm.drop_share(a).unwrap();
        let b = pm.allocate(FrameOwner::Process(Pid(2)), true).unwrap();
        assert_eq!(pm.bytes(b)[7], 0);
    }

    #[test]
    fn locked_page_released_by_owner_stays_until_unlocked() {
        let mut pm = PhysicalMemory::new(4);
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
        let mut pm = PhysicalMemory::new(4);
        let a = pm.allocate(FrameOwner::Process(Pid(1)), true).unwrap();
        assert_eq!(pm.dereference(a), Err((a, 1)));
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut pm = PhysicalMemory::new(1);
        assert!(pm.allocate(FrameOwner::Pool, false).is_some());
        assert!(pm.allocate(FrameOwner::Pool, false).is_none());
    }
}
