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
use std::fmt;

/// A process id (the model's `EPROCESS*`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.0)
    }
}

impl Pid {
    /// The address the model reports for this process in bug-check parameters (a fake `EPROCESS*`).
    pub const fn eprocess(self) -> u64 {
        0xFFFF_E000_0000_0000 + (self.0 as u64) * 0x1000
    }
}

/// A thread id (the model's `ETHREAD*`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tid(pub u32);

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tid {}", self.0)
    }
}

/// Which address space an address belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum SpaceId {
    /// System space (pool, system-PTE mappings); valid in every process context.
    System,
    /// A process's user half.
    Process(Pid),
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpaceId::System => f.write_str("system"),
            SpaceId::Process(p) => write!(f, "pid{}", p.0),
        }
    }
}

/// Page protection, with the Win32 `PAGE_*` values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
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
pub struct MappingId(pub crate::arena::Handle);

/// What a valid PTE belongs to; decides whether it holds a share of its frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum PteKind {
    /// A private user page, owned by the process (holds the frame's share).
    Private,
    /// A page of non-paged pool (holds the frame's share).
    Pool,
    /// An MDL mapping, kernel or user: no share, no reference (semantics §3.7).
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

/// What a VAD describes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum VadKind {
    /// `VirtualAlloc` memory: one descriptor per page.
    Private(Vec<PageDesc>),
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

/// Entries per page-table chunk (one x64 page table: 512 PTEs, 2 MiB of address space).
const CHUNK_ENTRIES: u64 = 512;

#[derive(Clone, Debug)]
struct Chunk {
    entries: Box<[Option<Pte>]>,
    count: u32,
}

/// A page table: valid PTEs by virtual page number.
///
/// Stored as 512-entry chunks (like one x64 page table each) in an ordered map,
/// so a lookup is one small-map search plus an index, iteration is in address
/// order (deterministic), and an empty chunk is freed.
#[derive(Clone, Debug, Default)]
pub(crate) struct PageTable {
    chunks: BTreeMap<u64, Chunk>,
    len: usize,
}

impl PageTable {
    fn split(vpn: u64) -> (u64, usize) {
        (vpn / CHUNK_ENTRIES, (vpn % CHUNK_ENTRIES) as usize)
    }

    /// The PTE of virtual page `vpn`.
    pub(crate) fn get(&self, vpn: &u64) -> Option<&Pte> {
        let (c, i) = Self::split(*vpn);
        self.chunks.get(&c)?.entries[i].as_ref()
    }

    /// Installs a PTE, returning the one it replaced.
    pub(crate) fn insert(&mut self, vpn: u64, pte: Pte) -> Option<Pte> {
        let (c, i) = Self::split(vpn);
        let chunk = self.chunks.entry(c).or_insert_with(|| Chunk {
            entries: vec![None; CHUNK_ENTRIES as usize].into_boxed_slice(),
            count: 0,
        });
        let old = chunk.entries[i].replace(pte);
        if old.is_none() {
            chunk.count += 1;
            self.len += 1;
        }
        old
    }

    /// Removes the PTE of `vpn`.
    pub(crate) fn remove(&mut self, vpn: &u64) -> Option<Pte> {
        let (c, i) = Self::split(*vpn);
        let chunk = self.chunks.get_mut(&c)?;
        let old = chunk.entries[i].take();
        if old.is_some() {
            chunk.count -= 1;
            self.len -= 1;
            if chunk.count == 0 {
                self.chunks.remove(&c);
            }
        }
        old
    }

    /// Valid PTEs with `vpn` in `range`, in address order.
    pub(crate) fn range(&self, range: std::ops::Range<u64>) -> impl Iterator<Item = (u64, &Pte)> {
        let (lo, hi) = (range.start, range.end);
        self.chunks
            .range(lo / CHUNK_ENTRIES..=hi.saturating_sub(1) / CHUNK_ENTRIES)
            .filter(move |_| lo < hi)
            .flat_map(move |(c, chunk)| {
                chunk.entries.iter().enumerate().filter_map(move |(i, p)| {
                    let vpn = c * CHUNK_ENTRIES + i as u64;
                    match p {
                        Some(p) if vpn >= lo && vpn < hi => Some((vpn, p)),
                        _ => None,
                    }
                })
            })
    }

    /// Mutable PTEs with `vpn` in `range`, in address order.
    pub(crate) fn range_mut(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> impl Iterator<Item = (u64, &mut Pte)> {
        let (lo, hi) = (range.start, range.end);
        self.chunks
            .range_mut(lo / CHUNK_ENTRIES..=hi.saturating_sub(1) / CHUNK_ENTRIES)
            .filter(move |_| lo < hi)
            .flat_map(move |(c, chunk)| {
                let c = *c;
                chunk
                    .entries
                    .iter_mut()
                    .enumerate()
                    .filter_map(move |(i, p)| {
                        let vpn = c * CHUNK_ENTRIES + i as u64;
                        match p {
                            Some(p) if vpn >= lo && vpn < hi => Some((vpn, p)),
                            _ => None,
                        }
                    })
            })
    }

    /// Every valid PTE, in address order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Pte)> {
        self.range(0..u64::MAX)
    }

    /// Number of valid PTEs.
    pub(crate) fn len(&self) -> usize {
        self.len
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
    /// VADs by start virtual page number (processes only).
    pub(crate) vads: BTreeMap<u64, Vad>,
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
