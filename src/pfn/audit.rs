//! The PFN database audits itself: every frame's counts and state against what the rest
//! of the machine says it should hold, and the free list against the free frames
//! ([architecture.md, "audit and hazards"][decisions]: `pfn.share_count`, `pfn.reference_count`,
//! `pfn.state`, `pfn.free_list`).
//!
//! [decisions]: https://github.com/mdlsim/mdlsim/blob/main/docs/architecture.md#decisions

use super::{CACHE_TYPES, PageState, PfnEntry, PhysicalMemory};
use crate::addr::Pfn;
use crate::audit::{Invariant, Violation};
use crate::ids::Birth;

/// Frame `pfn`'s index in a table of the `n` materialised frames.
pub(crate) fn frame_index(pfn: Pfn, n: usize) -> Option<usize> {
    usize::try_from(pfn.0).ok().filter(|&i| i < n)
}

/// What the rest of the machine says each materialised frame should hold: owning PTEs
/// (its share) and known lock references, with the birth of the first lock naming it
/// for reports. Dense tables indexed by frame number, not maps: `audit()` runs after
/// every step of the fuzz targets.
pub(crate) struct Expected {
    /// Owning PTEs of frame `i`.
    pub(crate) shares: Vec<u32>,
    /// Known lock references of frame `i`.
    refs: Vec<u32>,
    /// PTEs of live MDL mappings naming frame `i`, per cache type.
    mapped: Vec<[u32; CACHE_TYPES]>,
    /// 1 + the index in `births` of the first lock naming frame `i` (0: none).
    first: Vec<u32>,
    births: Vec<Birth>,
}

impl Expected {
    /// Nothing expected of `n` frames yet.
    pub(crate) fn new(n: usize) -> Expected {
        Expected {
            shares: vec![0; n],
            refs: vec![0; n],
            mapped: vec![[0; CACHE_TYPES]; n],
            first: vec![0; n],
            births: Vec::new(),
        }
    }

    /// One owning PTE of `pfn` (a frame past the table is not counted: only materialised
    /// frames are checked).
    pub(crate) fn share(&mut self, pfn: Pfn) {
        if let Some(i) = frame_index(pfn, self.shares.len()) {
            self.shares[i] += 1;
        }
    }

    /// One PTE of a live MDL mapping with cache type `cache` (its value) naming `pfn`.
    pub(crate) fn mdl_mapping(&mut self, pfn: Pfn, cache: usize) {
        if let Some(i) = frame_index(pfn, self.mapped.len()) {
            if let Some(c) = self.mapped[i].get_mut(cache) {
                *c += 1;
            }
        }
    }

    /// One lock reference on each of `frames`, by a lock created at `birth`.
    pub(crate) fn lock(&mut self, frames: &[Pfn], birth: Birth) {
        let mut b = 0;
        for f in frames {
            let Some(i) = frame_index(*f, self.refs.len()) else {
                continue;
            };
            if self.first[i] == 0 {
                if b == 0 {
                    self.births.push(birth);
                    b = self.births.len() as u32;
                }
                self.first[i] = b;
            }
            self.refs[i] += 1;
        }
    }

    /// References a driver moved onto (`adj > 0`) or off `pfn` by changing a locked
    /// MDL's PFN array.
    pub(crate) fn adjust(&mut self, pfn: Pfn, adj: i64) {
        if let Some(i) = frame_index(pfn, self.refs.len()) {
            self.refs[i] = (self.refs[i] as i64 + adj).max(0) as u32;
        }
    }

    /// The birth of the first lock that names frame `i`.
    fn birth(&self, i: usize) -> Option<Birth> {
        let k = self.first[i] as usize;
        k.checked_sub(1).map(|k| self.births[k])
    }
}

/// `pfn.mdl_mapped`: the frame's per-cache-type MDL-mapping counts are `expected` (the
/// live mappings' PTEs naming it) and sum to `mdl_mapped`.
fn check_mdl_mapped(
    pfn: Pfn,
    e: &PfnEntry,
    expected: &[u32; CACHE_TYPES],
    out: &mut Vec<Violation>,
) {
    let sum: u64 = e.mdl_mapped_by_cache.iter().map(|&c| u64::from(c)).sum();
    if e.mdl_mapped_by_cache != *expected || sum != u64::from(e.mdl_mapped) {
        out.push(Violation::new(
            Invariant::PfnMdlMapped,
            pfn.to_string(),
            None,
            format!(
                "MDL-mapping PTEs {} by cache type {:?} but live mappings name it {:?}",
                e.mdl_mapped, e.mdl_mapped_by_cache, expected
            ),
        ));
    }
}

impl PhysicalMemory {
    /// Checks each materialised frame against `expected`: share count = owning PTEs (+1
    /// for an `MmAllocatePagesForMdl` page), reference count = valid share + known locks,
    /// the MDL-mapping counts (`pfn.mdl_mapped`: per cache type, the live mappings' PTEs),
    /// and the state (free ⇔ unreferenced, active ⇔ shared, transition ⇔ locked only).
    pub(crate) fn audit_frames(&self, expected: &Expected, out: &mut Vec<Violation>) {
        for (pfn, e) in self.entries() {
            let i = pfn.0 as usize;
            let expected_share = expected.shares[i] + e.mdl_allocation as u32;
            let (lock_refs, lock_birth) = (expected.refs[i], expected.birth(i));
            if e.share_count != expected_share {
                out.push(Violation::new(
                    Invariant::PfnShareCount,
                    pfn.to_string(),
                    None,
                    format!(
                        "share count {} but {} owning PTE(s)",
                        e.share_count, expected_share
                    ),
                ));
            }
            let expected_ref = u32::from(e.share_count > 0) + lock_refs;
            if e.reference_count != expected_ref {
                out.push(Violation::new(
                    Invariant::PfnReferenceCount,
                    pfn.to_string(),
                    lock_birth,
                    format!(
                        "reference count {} but expected {} (share {}, {} known lock(s))",
                        e.reference_count, expected_ref, e.share_count, lock_refs
                    ),
                ));
            }
            check_mdl_mapped(pfn, e, &expected.mapped[i], out);
            let state_ok = match e.state {
                PageState::Free | PageState::Zeroed => e.reference_count == 0 && e.share_count == 0,
                PageState::Active => e.share_count > 0 && e.reference_count > 0,
                PageState::Transition => e.share_count == 0 && e.reference_count > 0,
            };
            if !state_ok {
                out.push(Violation::new(
                    Invariant::PfnState,
                    pfn.to_string(),
                    lock_birth,
                    format!(
                        "{:?} with reference {} share {}",
                        e.state, e.reference_count, e.share_count
                    ),
                ));
            }
        }
    }

    /// Checks that the free list holds exactly the free frames, each once.
    pub(crate) fn audit_free_list(&self, out: &mut Vec<Violation>) {
        let n = self.materialised() as usize;
        let free_count = self
            .entries()
            .filter(|(_, e)| e.state == PageState::Free)
            .count();
        // Frames seen on the free list (a frame past the PFN database is never free).
        let mut seen = vec![false; n];
        let mut listed = 0usize;
        for f in self.free_list() {
            let free = self.entry(*f).is_some_and(|e| e.state == PageState::Free);
            let first = match frame_index(*f, n) {
                Some(i) => !std::mem::replace(&mut seen[i], true),
                None => true,
            };
            if first {
                listed += 1;
            }
            if !first || !free {
                out.push(Violation::new(
                    Invariant::PfnFreeList,
                    f.to_string(),
                    None,
                    "on the free list twice or not free".into(),
                ));
            }
        }
        if listed != free_count {
            out.push(Violation::new(
                Invariant::PfnFreeList,
                "free list".into(),
                None,
                format!("{listed} frames listed, {free_count} frames free"),
            ));
        }
    }
}
