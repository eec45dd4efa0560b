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

/// An address space: a page table and (for processes) VADs.
///
/// Invariant: every PTE of a `Private` kind lies in a `Private` VAD page that
/// is committed; every `Mdl` PTE of a process lies in that mapping's VAD.
#[derive(Clone, Debug, Default)]
pub struct AddressSpace {
    /// Valid PTEs by virtual page number.
    pub(crate) ptes: BTreeMap<u64, Pte>,
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
}
