//! Pool: `ExAllocatePoolWithTag`, `ExAllocatePool2`, `ExFreePoolWithTag`, non-paged and
//! paged.
//!
//! Invariants (checked by the audit): every allocation lies in pool pages
//! that are valid system PTEs of kind `Pool` over frames owned by the pool;
//! allocations of more than [`POOL_BLOCK_MAX`] (`PAGE_SIZE - 32`) bytes are whole,
//! page-aligned pages; smaller ones are blocks of a shared pool page, each preceded by a
//! 16-byte `POOL_HEADER` holding the tag (so a neighbour's header and data
//! share the page, exactly what a careless mapping would expose). Memory from
//! `ExAllocatePoolWithTag` is **not** zeroed: it holds the stale bytes (and
//! provenance) of whoever used the frame or block before.
//!
//! Paged pool has a region of its own ([`PAGED_POOL_BASE`]); its pages and blocks never
//! share a page with non-paged ones. The model keeps its pages resident (it has no
//! paging), and enforces what pageability forbids: touching it above `APC_LEVEL`
//! ([`crate::events::EventKind::PagedPoolAccessAtRaisedIrql`]), allocating or freeing it
//! above `APC_LEVEL` (Verifier's 0xC4 0x01 / 0x11), describing it with
//! `MmBuildMdlForNonPagedPool` (0xC4 0x7F). `MmProbeAndLockPages` in kernel mode locks
//! it, as for any pageable memory ([semantics §3.6], [semantics §5.9]).
//!
//! [semantics §3.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.6
//! [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9

use crate::addr::{PAGE_SIZE, Va, bytes_to_pages};
use crate::audit::{Invariant, Violation};
use crate::bugcheck::BugCheckCode;
use crate::fault::Result;
use crate::ids::Birth;
use crate::pfn::{FrameOwner, NoFrame};
use crate::ranges::RangeAllocator;
use crate::space::{AddressSpace, Protection, Pte, PteKind};
use crate::vm::{Vm, Who};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// First virtual address of the non-paged pool region.
pub const POOL_BASE: Va = Va(0xFFFF_A000_0000_0000);
/// First virtual address of the paged pool region.
pub const PAGED_POOL_BASE: Va = Va(0xFFFF_A800_0000_0000);
/// Pages of virtual space reserved for each pool region (1 TiB).
const POOL_REGION_PAGES: u64 = 1 << 28;
/// Size of `POOL_HEADER` on amd64.
pub const POOL_HEADER_SIZE: u64 = 16;
/// Granularity of small pool blocks on amd64.
pub const POOL_BLOCK_GRANULARITY: u64 = 16;
/// The largest request served as a block of a shared page (4,064 bytes on amd64, the
/// page less two `POOL_HEADER`s); a larger one gets whole, page-aligned pages.
///
/// ReactOS `modules/rostests/kmtests/ntos_ex/ExPools.c`, `TestPoolTags` (Windows Server
/// 2003): `PAGE_SIZE - 4 * sizeof(PVOID)` bytes of paged pool carry the caller's tag in
/// the header before them, one byte more (and `PAGE_SIZE - 3 * sizeof(PVOID)`) are
/// page-aligned. The test checks no version there (its quota checks also describe Vista
/// and later), and no Microsoft page gives Windows 10/11 another bound.
pub const POOL_BLOCK_MAX: u64 = PAGE_SIZE - 2 * POOL_HEADER_SIZE;

/// `POOL_TYPE` values the model supports (wdm.h's values).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum PoolType {
    /// `NonPagedPool` (0).
    NonPaged = 0,
    /// `PagedPool` (1): pageable; touched, allocated and freed at `APC_LEVEL` or below.
    Paged = 1,
    /// `NonPagedPoolNx` (512).
    NonPagedNx = 512,
}

impl PoolType {
    /// Whether the pool is pageable (`PagedPool`).
    pub const fn is_paged(self) -> bool {
        matches!(self, PoolType::Paged)
    }
}

/// Bytes of virtual space of each pool region.
const POOL_REGION_BYTES: u64 = POOL_REGION_PAGES * PAGE_SIZE;

/// Whether `[start, end)` overlaps the region of pool starting at `base`.
const fn overlaps_region(base: Va, start: u64, end: u64) -> bool {
    start < base.0 + POOL_REGION_BYTES && end > base.0
}

/// Whether `[start, end)` overlaps the paged pool region.
pub(crate) const fn overlaps_paged_pool(start: Va, end: u64) -> bool {
    overlaps_region(PAGED_POOL_BASE, start.0, end)
}

/// Whether `va` lies in either pool region (allocated or not).
pub const fn is_pool(va: Va) -> bool {
    overlaps_region(POOL_BASE, va.0, va.0.saturating_add(1)) || is_paged_pool(va)
}

/// Whether `va` lies in the paged pool region (allocated or not).
pub const fn is_paged_pool(va: Va) -> bool {
    overlaps_region(PAGED_POOL_BASE, va.0, va.0.saturating_add(1))
}

/// `POOL_FLAG_UNINITIALIZED` for `ExAllocatePool2`: do not zero.
pub const POOL_FLAG_UNINITIALIZED: u64 = 0x0000_0000_0000_0002;
/// `POOL_FLAG_NON_PAGED` for `ExAllocatePool2`.
pub const POOL_FLAG_NON_PAGED: u64 = 0x0000_0000_0000_0040;
/// `POOL_FLAG_PAGED` for `ExAllocatePool2`.
pub const POOL_FLAG_PAGED: u64 = 0x0000_0000_0000_0100;

/// An outstanding pool allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolAllocation {
    /// The address returned to the caller.
    pub va: Va,
    /// Bytes requested.
    pub size: u64,
    /// The pool tag (`'MDL '` is stored as the little-endian u32 of those four characters).
    pub tag: u32,
    /// Whole pages (true) or a block of a shared page.
    pub whole_pages: bool,
    /// Where it was allocated.
    pub birth: Birth,
    /// The pool it came from.
    pub pool_type: PoolType,
}

#[derive(Clone, Debug, Default)]
struct SmallPage {
    /// Used blocks (header included): offset → length.
    used: BTreeMap<u16, u16>,
    /// The bytes of those blocks.
    bytes: u64,
}

/// The smallest block of a shared page: a header and one granule.
const MIN_BLOCK: u64 = POOL_HEADER_SIZE + POOL_BLOCK_GRANULARITY;

/// Pool state.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    limit_pages: u64,
    pages_in_use: u64,
    /// The non-paged region's pages, then the paged region's.
    va: [RangeAllocator; 2],
    allocs: BTreeMap<u64, PoolAllocation>,
    small_pages: BTreeMap<u64, SmallPage>,
    /// The shared pages with room for a block of [`MIN_BLOCK`] bytes, by VPN: the only
    /// ones a first-fit search needs to look at (a page whose free bytes are fewer than a
    /// request's cannot hold it), so a full page costs nothing to pass over.
    roomy: BTreeSet<u64>,
    /// Freed block addresses not reused since (to tell a double free from a wild pointer).
    freed: BTreeSet<u64>,
    /// The pool DDIs return NULL ([`crate::Machine::exhaust_pool`]).
    exhausted: bool,
}

impl Pool {
    pub(crate) fn new(limit_bytes: u64) -> Self {
        Pool {
            limit_pages: limit_bytes / PAGE_SIZE,
            pages_in_use: 0,
            va: [
                RangeAllocator::new(POOL_REGION_PAGES),
                RangeAllocator::new(POOL_REGION_PAGES),
            ],
            allocs: BTreeMap::new(),
            small_pages: BTreeMap::new(),
            roomy: BTreeSet::new(),
            freed: BTreeSet::new(),
            exhausted: false,
        }
    }

    /// Makes the pool DDIs return NULL while `on` ([`crate::Machine::exhaust_pool`]).
    pub(crate) fn set_exhausted(&mut self, on: bool) {
        self.exhausted = on;
    }

    /// Whether the pool DDIs return NULL.
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted
    }

    pub(crate) fn pages_in_use(&self) -> u64 {
        self.pages_in_use
    }

    pub(crate) fn allocations(&self) -> impl Iterator<Item = &PoolAllocation> {
        self.allocs.values()
    }

    /// Records a block of `len` bytes at offset `off` of the shared page `vpn` (a new
    /// page when `vpn` has none yet).
    fn take_block(&mut self, vpn: u64, off: u64, len: u64) {
        let page = self.small_pages.entry(vpn).or_default();
        page.used.insert(off as u16, len as u16);
        page.bytes += len;
        if PAGE_SIZE - page.bytes < MIN_BLOCK {
            self.roomy.remove(&vpn);
        } else {
            self.roomy.insert(vpn);
        }
    }

    /// Forgets the block at offset `off` of the shared page `vpn`; true when the page
    /// holds no block any more (it is forgotten too, for the caller to unmap).
    fn release_block(&mut self, vpn: u64, off: u64) -> bool {
        let Some(page) = self.small_pages.get_mut(&vpn) else {
            return false;
        };
        if let Some(len) = page.used.remove(&(off as u16)) {
            page.bytes -= len as u64;
        }
        if page.used.is_empty() {
            self.small_pages.remove(&vpn);
            self.roomy.remove(&vpn);
            return true;
        }
        self.roomy.insert(vpn);
        false
    }

    /// The outstanding allocation with the highest start at or below `va` (the one `va`
    /// lies in, if any).
    pub(crate) fn allocation_below(&self, va: Va) -> Option<&PoolAllocation> {
        self.allocs.range(..=va.0).next_back().map(|(_, a)| a)
    }

    /// The outstanding allocation starting at `va`.
    pub(crate) fn allocation_at(&self, va: Va) -> Option<&PoolAllocation> {
        self.allocs.get(&va.0)
    }

    /// Whether `va` is where an allocation was, freed since and not reused.
    pub(crate) fn was_freed(&self, va: Va) -> bool {
        self.freed.contains(&va.0)
    }

    /// The pool audits itself (`pool.accounting`): the pages it counts are the pool PTEs
    /// of system space (`pool_ptes`, counted in the machine's walk of it), and every
    /// allocation lies in mapped pool pages of `system`.
    pub(crate) fn audit(&self, system: &AddressSpace, pool_ptes: u64, out: &mut Vec<Violation>) {
        if pool_ptes != self.pages_in_use() {
            out.push(Violation::new(
                Invariant::PoolAccounting,
                "pool".into(),
                None,
                format!(
                    "{} pool pages counted, {} pool PTEs",
                    self.pages_in_use(),
                    pool_ptes
                ),
            ));
        }
        for a in self.allocations() {
            let pages = bytes_to_pages(a.size.max(1) + a.va.byte_offset() as u64);
            for i in 0..pages {
                let va = Va(a.va.page_align().0 + i * PAGE_SIZE);
                if !system.pte(va).is_some_and(|p| p.kind == PteKind::Pool) {
                    out.push(Violation::new(
                        Invariant::PoolAccounting,
                        format!("pool block {} tag {:#x}", a.va, a.tag),
                        Some(a.birth),
                        format!("page {va} of the allocation is not a mapped pool page"),
                    ));
                }
            }
        }
    }
}

/// The first address of the non-paged or `paged` region and its index in `Pool::va`.
const fn region(paged: bool) -> (Va, usize) {
    if paged {
        (PAGED_POOL_BASE, 1)
    } else {
        (POOL_BASE, 0)
    }
}

/// Packs a four-character tag the way C's multi-character literal `'abcd'` reads in memory.
pub const fn tag(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}

/// What a pool routine works with, for one call: the pool's own state and the
/// virtual-memory context it maps pool pages and writes headers through (borrowed by
/// `Machine::pool_ctx` after the facade has entered the call).
pub(crate) struct PoolCtx<'a> {
    pub(crate) pool: &'a mut Pool,
    pub(crate) vm: Vm<'a>,
}

impl PoolCtx<'_> {
    /// Maps `n` fresh pool pages at pool VA page `first_vpn`; `Err` on frame exhaustion
    /// (or the host budget), with the pages mapped so far undone (the caller releases the
    /// VA range).
    fn map_pool_pages(&mut self, va: Va, n: u64, zero: bool) -> Result<(), NoFrame> {
        for i in 0..n {
            let pfn = match self.vm.phys.allocate(FrameOwner::Pool, zero) {
                Ok(pfn) => pfn,
                Err(why) => {
                    // Undo only the PTEs and frames taken so far: the page count was not
                    // charged yet and the caller releases the VA range (once).
                    self.drop_pool_ptes(va, i);
                    return Err(why);
                }
            };
            self.vm.system.ptes.insert(
                va.vpn() + i,
                Pte {
                    pfn,
                    protection: Protection::ReadWrite,
                    kind: PteKind::Pool,
                },
            );
        }
        self.pool.pages_in_use += n;
        self.vm.counters.pool_pages_allocated += n;
        if zero {
            self.vm.counters.pages_zero_filled += n;
        }
        Ok(())
    }

    /// Removes `n` pool PTEs from `va`, dropping each frame's share (its only one; a lock on
    /// it keeps it in Transition).
    fn drop_pool_ptes(&mut self, va: Va, n: u64) {
        for i in 0..n {
            if let Some(pte) = self.vm.system.ptes.remove(&(va.vpn() + i)) {
                let _ = self.vm.phys.drop_share(pte.pfn);
            }
        }
        self.vm.report_frames_freed_while_mapped();
    }

    fn unmap_pool_pages(&mut self, va: Va, n: u64) {
        let step = self.vm.step;
        self.vm.blame.record_release(crate::trail::Released {
            space: crate::space::SpaceId::System,
            start: va.page_align(),
            len: n * PAGE_SIZE,
            step,
            what: "a pool allocation",
        });
        self.drop_pool_ptes(va, n);
        self.pool.pages_in_use = self.pool.pages_in_use.saturating_sub(n);
        let (base, r) = region(is_paged_pool(va));
        let _ = self.pool.va[r].release(va.0.wrapping_sub(base.0) / PAGE_SIZE, n);
    }

    /// Allocates `size` bytes tagged `tag` from `pool_type` (zeroed with `zero`):
    /// `Ok(None)` is the NULL return of the pool limit or exhausted frames.
    pub(crate) fn alloc(
        &mut self,
        pool_type: PoolType,
        size: u64,
        tag: u32,
        zero: bool,
    ) -> Result<Option<Va>> {
        let birth = self.vm.birth();
        self.vm.counters.pool_allocations += 1;
        let paged = pool_type.is_paged();
        let rec = |whole_pages| PoolAllocation {
            va: Va::NULL,
            size,
            tag,
            whole_pages,
            birth,
            pool_type,
        };
        if size > POOL_BLOCK_MAX {
            let Some(va) = self.take_pool_pages(bytes_to_pages(size), zero, paged)? else {
                return Ok(None);
            };
            self.record_alloc(PoolAllocation { va, ..rec(true) });
            return Ok(Some(va));
        }
        // A block of a shared page: header + data rounded to the granularity.
        let need = (POOL_HEADER_SIZE
            + size.div_ceil(POOL_BLOCK_GRANULARITY) * POOL_BLOCK_GRANULARITY)
            .max(POOL_HEADER_SIZE + POOL_BLOCK_GRANULARITY);
        let (vpn, off) = match self.find_small_slot(need, paged) {
            Some(s) => s,
            None => {
                let Some(va) = self.take_pool_pages(1, false, paged)? else {
                    return Ok(None);
                };
                (va.vpn(), 0)
            }
        };
        self.pool.take_block(vpn, off, need);
        let header = Va((vpn << 12) + off);
        let va = Va(header.0 + POOL_HEADER_SIZE);
        self.write_block_header(header, need, tag)?;
        if zero {
            let z = vec![0u8; (need - POOL_HEADER_SIZE) as usize];
            self.vm.write_as(Who::Kernel, va, &z, true)?;
        }
        self.record_alloc(PoolAllocation { va, ..rec(false) });
        Ok(Some(va))
    }

    /// Takes `n` fresh pool pages (zeroed with `zero`) from the VA range of the
    /// non-paged or `paged` region and maps them: `Ok(None)` at the pool limit (shared by
    /// both pools) or when the range is full, the NULL return of `Vm::no_frame` when
    /// frames run out (the range taken is released again).
    #[inline]
    fn take_pool_pages(&mut self, n: u64, zero: bool, paged: bool) -> Result<Option<Va>> {
        if self.pool.pages_in_use + n > self.pool.limit_pages {
            return Ok(None);
        }
        let (base, r) = region(paged);
        let Some(i) = self.pool.va[r].alloc(n) else {
            return Ok(None);
        };
        let va = Va(base.0 + i * PAGE_SIZE);
        if let Err(why) = self.map_pool_pages(va, n, zero) {
            let _ = self.pool.va[r].release(i, n);
            return self.vm.no_frame(why).map(|()| None);
        }
        Ok(Some(va))
    }

    /// The first gap of `need` bytes in a shared page of the non-paged or `paged` pool,
    /// first fit in page order: `(page's VPN, offset of the block's header)`.
    #[inline]
    fn find_small_slot(&self, need: u64, paged: bool) -> Option<(u64, u64)> {
        let first = region(paged).0.vpn();
        for &vpn in self.pool.roomy.range(first..first + POOL_REGION_PAGES) {
            let page = &self.pool.small_pages[&vpn];
            if PAGE_SIZE - page.bytes < need {
                continue;
            }
            let mut cur = 0u64;
            for (&off, &len) in &page.used {
                if off as u64 - cur >= need {
                    break;
                }
                cur = off as u64 + len as u64;
            }
            if PAGE_SIZE - cur >= need {
                return Some((vpn, cur));
            }
        }
        None
    }

    /// Writes a small block's `POOL_HEADER` at `header`: the BlockSize/PoolType word, then
    /// the tag, then ProcessBilled (zero).
    fn write_block_header(&mut self, header: Va, need: u64, tag: u32) -> Result<()> {
        let mut h = [0u8; POOL_HEADER_SIZE as usize];
        h[0..4].copy_from_slice(&((need / POOL_BLOCK_GRANULARITY) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&tag.to_le_bytes());
        self.vm.write_as(Who::Kernel, header, &h, false)
    }

    /// Records a new allocation (its address no longer a freed one).
    fn record_alloc(&mut self, a: PoolAllocation) {
        self.pool.freed.remove(&a.va.0);
        self.pool.allocs.insert(a.va.0, a);
    }

    /// Frees the allocation at `va`, checking `tag` when given (`BAD_POOL_CALLER` otherwise).
    pub(crate) fn free(&mut self, va: Va, tag: Option<u32>) -> Result<()> {
        let Some(a) = self.pool.allocs.get(&va.0).cloned() else {
            if self.pool.freed.contains(&va.0) {
                return Err(self.vm.bug_check(
                    BugCheckCode::BAD_POOL_CALLER,
                    [0x07, 0, 0, va.0],
                    format!("ExFreePool of {va}, which was already freed"),
                ));
            }
            return Err(self.vm.bug_check(
                BugCheckCode::BAD_POOL_CALLER,
                [0x46, va.0, 0, 0],
                format!("ExFreePool of {va}, which is not a pool allocation"),
            ));
        };
        if let Some(t) = tag {
            if t != a.tag {
                return Err(self.vm.bug_check(
                    BugCheckCode::BAD_POOL_CALLER,
                    [0x0A, va.0, a.tag as u64, t as u64],
                    format!("ExFreePoolWithTag of {va} with the wrong tag"),
                ));
            }
        }
        self.pool.allocs.remove(&va.0);
        self.pool.freed.insert(va.0);
        if a.whole_pages {
            self.unmap_pool_pages(va, bytes_to_pages(a.size));
        } else {
            let vpn = va.vpn();
            let off = (va.0 - POOL_HEADER_SIZE) & (PAGE_SIZE - 1);
            if self.pool.release_block(vpn, off) {
                self.unmap_pool_pages(Va(vpn << 12), 1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Machine};

    #[test]
    fn small_allocations_share_a_page_and_carry_headers() {
        let mut m = Machine::new(Config::default()).unwrap();
        let a = m
            .ex_allocate_pool_with_tag(PoolType::NonPaged, 100, tag(b"AAAA"))
            .unwrap()
            .unwrap();
        let b = m
            .ex_allocate_pool_with_tag(PoolType::NonPaged, 100, tag(b"BBBB"))
            .unwrap()
            .unwrap();
        assert_eq!(a.page_align(), b.page_align());
        assert_eq!(m.pool_pages_in_use(), 1);
        let hdr = m
            .peek(crate::space::SpaceId::System, Va(b.0 - 16), 16)
            .unwrap();
        assert_eq!(&hdr[4..8], b"BBBB");
        m.ex_free_pool_with_tag(a, tag(b"AAAA")).unwrap();
        m.ex_free_pool_with_tag(b, tag(b"BBBB")).unwrap();
        assert_eq!(m.pool_pages_in_use(), 0);
    }

    #[test]
    fn double_free_is_bad_pool_caller_7() {
        // Without Verifier, whose own check (0xC4/0x13) comes first.
        let config = Config::default().verifier(crate::verifier::Verifier::OFF);
        let mut m = Machine::new(config).unwrap();
        let a = m
            .ex_allocate_pool_with_tag(PoolType::NonPaged, 5000, tag(b"AAAA"))
            .unwrap()
            .unwrap();
        m.ex_free_pool_with_tag(a, tag(b"AAAA")).unwrap();
        let f = m.ex_free_pool_with_tag(a, tag(b"AAAA")).unwrap_err();
        let b = f.bug_check().unwrap();
        assert_eq!((b.code, b.params[0]), (BugCheckCode::BAD_POOL_CALLER, 0x07));
        assert!(m.crashed().is_some());
    }

    #[test]
    fn pool_limit_returns_null() {
        let mut m = Machine::new(Config::default().pool_limit(2 * PAGE_SIZE)).unwrap();
        assert!(
            m.ex_allocate_pool_with_tag(PoolType::NonPaged, 3 * PAGE_SIZE, 1)
                .unwrap()
                .is_none()
        );
        assert!(
            m.ex_allocate_pool_with_tag(PoolType::NonPaged, 2 * PAGE_SIZE, 1)
                .unwrap()
                .is_some()
        );
    }
}
