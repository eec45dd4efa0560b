//! Address spaces: processes' user halves and the system space (VADs, page tables, protections).
//!
//! A process's user space is described by VADs (reserved or committed
//! private memory, and the "device physical memory" VADs that
//! `MmMapLockedPagesSpecifyCache(UserMode)` inserts) and a page table from
//! virtual page to frame. Private pages are demand-zero: the PTE appears on
//! first touch. System space has no VADs: its PTEs are written by the pool
//! and by kernel-mode MDL mappings.

use crate::addr::{PAGE_SIZE, Pfn, Va};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod page_table;
pub(crate) use page_table::PageTable;

pub use crate::ids::{Pid, SpaceId, Tid};

/// Page protection, with the Win32 `PAGE_*` values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[repr(u32)]
pub enum Protection {
    /// `PAGE_NOACCESS` (0x01): any access faults.
    NoAccess = 0x01,
    /// `PAGE_READONLY` (0x02): writes fault. Also used for `MdlMappingNoWrite` mappings.
    ReadOnly = 0x02,
    /// `PAGE_READWRITE` (0x04).
    ReadWrite = 0x04,
}

impl Protection {
    /// The protection for a `PAGE_*` value, if the model supports it.
    pub const fn from_win32(v: u32) -> Option<Protection> {
        match v {
            0x01 => Some(Protection::NoAccess),
            0x02 => Some(Protection::ReadOnly),
            0x04 => Some(Protection::ReadWrite),
            _ => None,
        }
    }

    /// Whether a read is allowed.
    pub const fn can_read(self) -> bool {
        !matches!(self, Protection::NoAccess)
    }

    /// Whether a write is allowed.
    pub const fn can_write(self) -> bool {
        matches!(self, Protection::ReadWrite)
    }
}

/// Identifies one MDL mapping (a system-PTE range or a user "physical" VAD).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MappingId(pub(crate) crate::arena::Handle);

/// What a valid PTE belongs to; decides whether it holds a share of its frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum PteKind {
    /// A private user page, owned by the process (holds the frame's share).
    Private,
    /// A page of non-paged pool (holds the frame's share).
    Pool,
    /// An MDL mapping, kernel or user: no share, no reference ([semantics §3.7]).
    ///
    /// [semantics §3.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.7
    Mdl(MappingId),
}

/// A valid page-table entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Pte {
    /// The frame mapped.
    pub pfn: Pfn,
    /// Access allowed through this PTE.
    pub protection: Protection,
    /// Owner of the PTE.
    pub kind: PteKind,
}

/// The state of one page of a private VAD.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum PageDesc {
    /// Reserved, not committed: any access faults.
    Reserved,
    /// Committed with this protection (demand-zero until first touch).
    Committed(Protection),
}

/// The per-page states of a private VAD, stored as runs: a reservation of terabytes costs
/// one entry per run of equal pages, not one per page (a real process may reserve most of its
/// 8 TiB of user space).
///
/// Invariant: `runs` has a key 0 (when `pages > 0`), every key is below `pages`, and two
/// neighbouring runs never hold the same state.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PageDescs {
    pages: u64,
    runs: BTreeMap<u64, PageDesc>,
}

impl PageDescs {
    /// `pages` pages, all in state `desc`.
    pub fn new(pages: u64, desc: PageDesc) -> Self {
        let mut runs = BTreeMap::new();
        if pages > 0 {
            runs.insert(0, desc);
        }
        PageDescs { pages, runs }
    }

    /// Number of pages described.
    pub fn len(&self) -> u64 {
        self.pages
    }

    /// True when no page is described.
    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    /// The state of page `i`, or `None` past the end.
    pub fn get(&self, i: u64) -> Option<PageDesc> {
        if i >= self.pages {
            return None;
        }
        self.runs.range(..=i).next_back().map(|(_, d)| *d)
    }

    /// The run holding page `i`, whole, as `(first, end, state)`.
    pub fn run_at(&self, i: u64) -> Option<(u64, u64, PageDesc)> {
        if i >= self.pages {
            return None;
        }
        let (&first, &d) = self.runs.range(..=i).next_back()?;
        let end = self
            .runs
            .range(i + 1..)
            .next()
            .map_or(self.pages, |(&k, _)| k);
        Some((first, end, d))
    }

    /// The runs overlapping pages `[start, end)`, clipped to it, as `(first, end, state)`.
    pub fn runs_in(&self, start: u64, end: u64) -> Vec<(u64, u64, PageDesc)> {
        let end = end.min(self.pages);
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        let mut cur = start;
        let mut state = self.get(start);
        for (&k, &d) in self.runs.range(start + 1..end) {
            if let Some(s) = state {
                out.push((cur, k, s));
            }
            cur = k;
            state = Some(d);
        }
        if let Some(s) = state {
            out.push((cur, end, s));
        }
        out
    }

    /// Sets pages `[start, end)` (clipped to the VAD) to `desc`.
    pub fn fill(&mut self, start: u64, end: u64, desc: PageDesc) {
        let end = end.min(self.pages);
        if start >= end {
            return;
        }
        let after = self.get(end);
        let keys: Vec<u64> = self.runs.range(start..end).map(|(k, _)| *k).collect();
        for k in keys {
            self.runs.remove(&k);
        }
        self.runs.insert(start, desc);
        if let Some(a) = after {
            self.runs.entry(end).or_insert(a);
        }
        // Merge with the neighbours when they hold the same state.
        if let Some(&e) = self.runs.get(&end) {
            if e == desc {
                self.runs.remove(&end);
            }
        }
        if start > 0 && self.get(start - 1) == Some(desc) {
            self.runs.remove(&start);
        }
    }
}

/// What a VAD describes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum VadKind {
    /// `VirtualAlloc` memory: the state of each page (stored as runs).
    Private(PageDescs),
    /// A user-mode MDL mapping (`VadDevicePhysicalMemory`), created by
    /// `MmMapLockedPagesSpecifyCache(UserMode)`.
    MdlMapping(MappingId),
}

/// A virtual address descriptor: one allocation in a process's user space.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Vad {
    /// First byte (page-aligned).
    pub start: Va,
    /// Number of pages.
    pub pages: u64,
    /// What it describes.
    pub kind: VadKind,
    /// The machine step that created it.
    pub created_step: u64,
}

impl Vad {
    /// One past the last byte.
    pub fn end(&self) -> Va {
        Va(self.start.0 + self.pages * PAGE_SIZE)
    }

    /// True when `va` lies inside.
    pub fn contains(&self, va: Va) -> bool {
        va >= self.start && va < self.end()
    }
}

/// An address space: a page table and (for processes) VADs.
///
/// Invariant: every PTE of a `Private` kind lies in a `Private` VAD page that
/// is committed; every `Mdl` PTE of a process lies in that mapping's VAD.
#[derive(Clone, Debug, Default)]
pub struct AddressSpace {
    /// Valid PTEs by virtual page number.
    pub(crate) ptes: PageTable,
    /// VADs by start virtual page number (processes only). Changed only through
    /// [`AddressSpace::insert_vad`] and [`AddressSpace::remove_vad`], which keep
    /// `free_hint`.
    pub(crate) vads: BTreeMap<u64, Vad>,
    /// A lower bound of the lowest free 64 KiB-aligned user address: every candidate
    /// [`AddressSpace::find_free`] would visit below it has no free page, so the search
    /// starts here (a first fit in O(log n) for the common pattern instead of a walk
    /// over every VAD; 50,000 reservations took 15 s).
    free_hint: u64,
}

impl AddressSpace {
    /// The PTE of the page containing `va`, if valid.
    pub fn pte(&self, va: Va) -> Option<&Pte> {
        self.ptes.get(&va.vpn())
    }

    /// The VAD containing `va`.
    pub fn vad(&self, va: Va) -> Option<&Vad> {
        let (_, v) = self.vads.range(..=va.vpn()).next_back()?;
        v.contains(va).then_some(v)
    }

    pub(crate) fn vad_mut(&mut self, va: Va) -> Option<&mut Vad> {
        let (_, v) = self.vads.range_mut(..=va.vpn()).next_back()?;
        v.contains(va).then_some(v)
    }

    /// Adds a VAD (the caller checked [`AddressSpace::is_free`]).
    pub(crate) fn insert_vad(&mut self, vad: Vad) {
        self.vads.insert(vad.start.vpn(), vad);
    }

    /// Removes the VAD starting at page `vpn`; the space it held may be found again.
    pub(crate) fn remove_vad(&mut self, vpn: u64) -> Option<Vad> {
        let v = self.vads.remove(&vpn)?;
        let granule = crate::addr::ALLOCATION_GRANULARITY;
        self.free_hint = self.free_hint.min(v.start.0 & !(granule - 1));
        Some(v)
    }

    /// The lowest 64 KiB-aligned user address (at or above `MM_LOWEST_USER_ADDRESS`) where
    /// `pages` free pages start, below `MM_HIGHEST_USER_ADDRESS`: the first fit Windows'
    /// allocator makes for a `NULL` base (`NtAllocateVirtualMemory`, `MmMapLockedPages`
    /// to user mode), on allocation-granularity boundaries.
    pub(crate) fn find_free(&mut self, pages: u64) -> Option<Va> {
        use crate::addr::{MM_HIGHEST_USER_ADDRESS, MM_LOWEST_USER_ADDRESS};
        let granule = crate::addr::ALLOCATION_GRANULARITY;
        let len = pages.checked_mul(PAGE_SIZE)?;
        let mut cand = self.free_hint.max(MM_LOWEST_USER_ADDRESS.0);
        // The VAD that may cover `cand`, then every later one.
        let from = self
            .vads
            .range(..=cand / PAGE_SIZE)
            .next_back()
            .map_or(0, |(k, _)| *k);
        let mut first_gap = None;
        for v in self.vads.range(from..).map(|(_, v)| v) {
            if cand.checked_add(len)? <= v.start.0 {
                break;
            }
            if first_gap.is_none() && cand + PAGE_SIZE <= v.start.0 {
                first_gap = Some(cand); // too small for this request, not for a smaller one
            }
            if v.end().0 > cand {
                cand = v.end().0.div_ceil(granule) * granule;
            }
        }
        self.free_hint = first_gap.unwrap_or(cand);
        (cand.checked_add(len)? - 1 <= MM_HIGHEST_USER_ADDRESS.0).then_some(Va(cand))
    }

    /// The first VAD starting above `va` (where a free range containing `va` ends).
    pub fn vad_after(&self, va: Va) -> Option<&Vad> {
        self.vads
            .range(va.vpn().saturating_add(1)..)
            .next()
            .map(|(_, v)| v)
    }

    /// True when `[start, start + pages)` overlaps no VAD.
    pub fn is_free(&self, start: Va, pages: u64) -> bool {
        let first = start.vpn();
        let Some(last) = first.checked_add(pages) else {
            return false;
        };
        if let Some((_, v)) = self.vads.range(..first.saturating_add(1)).next_back() {
            if v.end().vpn() > first {
                return false;
            }
        }
        self.vads.range(first..last).next().is_none()
    }

    /// Iterates over the VADs in address order.
    pub fn vads(&self) -> impl Iterator<Item = &Vad> {
        self.vads.values()
    }

    /// Iterates over the valid PTEs in address order, as `(page va, pte)`.
    pub fn ptes(&self) -> impl Iterator<Item = (Va, &Pte)> {
        self.ptes.iter().map(|(vpn, p)| (Va(vpn << 12), p))
    }

    /// Number of valid PTEs.
    pub fn pte_count(&self) -> usize {
        self.ptes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(d: &PageDescs) -> Vec<PageDesc> {
        (0..d.len()).map(|i| d.get(i).unwrap()).collect()
    }

    #[test]
    fn page_descs_fill_matches_a_per_page_model_and_stays_merged() {
        let c = PageDesc::Committed(Protection::ReadWrite);
        let r = PageDesc::Reserved;
        let ro = PageDesc::Committed(Protection::ReadOnly);
        let mut d = PageDescs::new(16, r);
        let mut m = vec![r; 16];
        let ops = [
            (2, 5, c),
            (4, 9, ro),
            (0, 16, r),
            (3, 4, c),
            (4, 5, c),
            (15, 99, ro),
            (0, 3, c),
            (9, 9, c),
            (5, 15, c),
        ];
        for (a, b, x) in ops {
            d.fill(a, b, x);
            for i in a..(b.min(16)) {
                m[i as usize] = x;
            }
            assert_eq!(naive(&d), m, "after fill({a}, {b})");
            let keys: Vec<_> = d.runs.iter().collect();
            for w in keys.windows(2) {
                assert_ne!(w[0].1, w[1].1, "neighbouring runs merged");
            }
            let runs = d.runs_in(0, 16);
            assert_eq!(runs.iter().map(|(s, e, _)| e - s).sum::<u64>(), 16);
        }
        assert_eq!(d.get(16), None);
    }

    #[test]
    fn huge_reservation_is_one_run() {
        let mut d = PageDescs::new(1 << 31, PageDesc::Reserved);
        d.fill(5, 6, PageDesc::Committed(Protection::ReadWrite));
        assert_eq!(d.runs.len(), 3);
        assert_eq!(d.runs_in(0, 1 << 31).len(), 3);
        assert_eq!(d.get((1 << 31) - 1), Some(PageDesc::Reserved));
    }
}
