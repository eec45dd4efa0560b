//! The MDL: header fields as in the WDK, its PFN array, and the model's bookkeeping ([semantics §1.2]-[§1.4]).
//!
//! MDLs live in the machine's arena and are named by [`MdlId`]; a NULL `PMDL`
//! is `Option<MdlId>::None`, so the zero-length paths are visible in the
//! types. Drivers may read every field and write the ones drivers really
//! write (the PFN array, as the [proxy file system's head/tail substitution][design-proxy]
//! does, `Next`, `MdlFlags`) through
//! `Machine::mdl_*` methods; the routines in [`crate::mm`] do the rest.
//!
//! [semantics §1.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.2
//! [§1.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.4
//! [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system

use crate::addr::{LIST_HEAD, Pfn, Va, span_pages};
use crate::arena::Handle;
use crate::ids::Birth;
use crate::space::{MappingId, Pid, Protection, SpaceId};
use bitflags::bitflags;
use serde::{Deserialize, Serialize};
use std::fmt;

bitflags! {
    /// `MdlFlags`, with the exact WDK values (`mmtypes.h`; [semantics §1.4]).
    ///
    /// [semantics §1.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.4
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
    pub struct MdlFlags: u16 {
        /// Kernel-mode map succeeded; `MappedSystemVa` is a system-PTE mapping.
        #[doc(alias = "MDL_MAPPED_TO_SYSTEM_VA")]
        const MAPPED_TO_SYSTEM_VA = 0x0001;
        /// Probe-and-lock succeeded, or pages from `MmAllocatePagesForMdl`.
        #[doc(alias = "MDL_PAGES_LOCKED")]
        const PAGES_LOCKED = 0x0002;
        /// Built by `MmBuildMdlForNonPagedPool`; `MappedSystemVa` is the pool address.
        #[doc(alias = "MDL_SOURCE_IS_NONPAGED_POOL")]
        const SOURCE_IS_NONPAGED_POOL = 0x0004;
        /// `IoAllocateMdl` used the fixed 23-PFN block.
        #[doc(alias = "MDL_ALLOCATED_FIXED_SIZE")]
        const ALLOCATED_FIXED_SIZE = 0x0008;
        /// Built by `IoBuildPartialMdl`.
        #[doc(alias = "MDL_PARTIAL")]
        const PARTIAL = 0x0010;
        /// A partial MDL got its own system mapping.
        #[doc(alias = "MDL_PARTIAL_HAS_BEEN_MAPPED")]
        const PARTIAL_HAS_BEEN_MAPPED = 0x0020;
        /// Paging-read MDL.
        #[doc(alias = "MDL_IO_PAGE_READ")]
        const IO_PAGE_READ = 0x0040;
        /// Last probe was for `IoWriteAccess`/`IoModifyAccess`.
        #[doc(alias = "MDL_WRITE_OPERATION")]
        const WRITE_OPERATION = 0x0080;
        /// Set by none of the routines modelled; kernel unmap asserts it clear.
        #[doc(alias = "MDL_PARENT_MAPPED_SYSTEM_VA")]
        const PARENT_MAPPED_SYSTEM_VA = 0x0100;
        /// Unmap also releases extra PTEs.
        #[doc(alias = "MDL_FREE_EXTRA_PTES")]
        const FREE_EXTRA_PTES = 0x0200;
        /// AWE (unsupported).
        #[doc(alias = "MDL_DESCRIBES_AWE")]
        const DESCRIBES_AWE = 0x0400;
        /// At least one page is not in the PFN database.
        #[doc(alias = "MDL_IO_SPACE")]
        const IO_SPACE = 0x0800;
        /// Informational.
        #[doc(alias = "MDL_NETWORK_HEADER")]
        const NETWORK_HEADER = 0x1000;
        /// Kernel map returns NULL instead of bug-checking.
        #[doc(alias = "MDL_MAPPING_CAN_FAIL")]
        const MAPPING_CAN_FAIL = 0x2000;
        /// Allocation flag, preserved by `IoBuildPartialMdl`.
        #[doc(alias = "MDL_ALLOCATED_MUST_SUCCEED")]
        const ALLOCATED_MUST_SUCCEED = 0x4000;
        /// Reserved.
        #[doc(alias = "MDL_INTERNAL")]
        const INTERNAL = 0x8000;
    }
}

impl MdlFlags {
    /// `MDL_MAPPING_FLAGS` ([semantics §1.4]).
    ///
    /// [semantics §1.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.4
    pub const MAPPING_FLAGS: MdlFlags = MdlFlags::MAPPED_TO_SYSTEM_VA
        .union(MdlFlags::PAGES_LOCKED)
        .union(MdlFlags::SOURCE_IS_NONPAGED_POOL)
        .union(MdlFlags::PARTIAL_HAS_BEEN_MAPPED)
        .union(MdlFlags::PARENT_MAPPED_SYSTEM_VA)
        .union(MdlFlags::DESCRIBES_AWE)
        .union(MdlFlags::IO_SPACE);
}

/// `LOCK_OPERATION` ([semantics §1.5]).
///
/// [semantics §1.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.5
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum LockOperation {
    /// `IoReadAccess` (0): the pages will only be read.
    IoReadAccess = 0,
    /// `IoWriteAccess` (1): the pages will be written (a device *read* writes memory).
    IoWriteAccess = 1,
    /// `IoModifyAccess` (2): read and written.
    IoModifyAccess = 2,
}

/// `KPROCESSOR_MODE` ([semantics §1.5]).
///
/// [semantics §1.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.5
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum AccessMode {
    /// `KernelMode` (0).
    KernelMode = 0,
    /// `UserMode` (1).
    UserMode = 1,
}

/// `MEMORY_CACHING_TYPE` ([semantics §1.5]).
///
/// [semantics §1.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.5
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum CacheType {
    /// `MmNonCached` (0).
    NonCached = 0,
    /// `MmCached` (1).
    Cached = 1,
    /// `MmWriteCombined` (2).
    WriteCombined = 2,
    /// `MmHardwareCoherentCached` (3).
    HardwareCoherentCached = 3,
    /// `MmNonCachedUnordered` (4).
    NonCachedUnordered = 4,
    /// `MmUSWCCached` (5).
    UswcCached = 5,
}

/// `MM_PAGE_PRIORITY` values and the bits newer Windows ORs into it ([semantics §1.5]).
///
/// [semantics §1.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.5
pub mod priority {
    /// `LowPagePriority`.
    pub const LOW: u32 = 0;
    /// `NormalPagePriority`.
    pub const NORMAL: u32 = 16;
    /// `HighPagePriority`.
    pub const HIGH: u32 = 32;
    /// `MdlMappingNoWrite`: the mapping is read-only.
    pub const MDL_MAPPING_NO_WRITE: u32 = 0x8000_0000;
    /// `MdlMappingNoExecute`: the mapping is not executable.
    pub const MDL_MAPPING_NO_EXECUTE: u32 = 0x4000_0000;
}

/// `MmAllocatePagesForMdlEx` flags ([semantics §1.5]).
///
/// [semantics §1.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.5
pub mod alloc_flags {
    /// `MM_DONT_ZERO_ALLOCATION`.
    pub const MM_DONT_ZERO_ALLOCATION: u32 = 0x1;
    /// `MM_ALLOCATE_FROM_LOCAL_NODE_ONLY`.
    pub const MM_ALLOCATE_FROM_LOCAL_NODE_ONLY: u32 = 0x2;
    /// `MM_ALLOCATE_FULLY_REQUIRED`.
    pub const MM_ALLOCATE_FULLY_REQUIRED: u32 = 0x4;
    /// `MM_ALLOCATE_NO_WAIT`.
    pub const MM_ALLOCATE_NO_WAIT: u32 = 0x8;
    /// `MM_ALLOCATE_PREFER_CONTIGUOUS`.
    pub const MM_ALLOCATE_PREFER_CONTIGUOUS: u32 = 0x10;
    /// `MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS`.
    pub const MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS: u32 = 0x20;
}

/// `IoAllocateMdl` uses a fixed-size lookaside block for spans up to this many pages ([semantics §1.3]).
///
/// [semantics §1.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.3
pub const MDL_FIXED_SIZE_PAGES: u32 = 23;

/// Where the model's MDL addresses start ([`MdlId::address`]).
const MDL_ADDRESS_BASE: u64 = 0xFFFF_C000_0000_0000;
/// Bytes between two MDL addresses.
const MDL_ADDRESS_STRIDE: u64 = 0x100;

/// A handle to an MDL in the machine's arena (a non-NULL `PMDL`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MdlId(pub(crate) Handle);

impl MdlId {
    /// An MDL handle no machine ever issues: every routine given it reports a stale
    /// handle (or, after a bug check, the bug check). Handles cannot be made otherwise.
    pub const NEVER: MdlId = MdlId(Handle::NEVER);

    /// The address the model reports for this MDL in bug-check parameters (a fake `PMDL`).
    pub const fn address(self) -> u64 {
        MDL_ADDRESS_BASE + (self.0.index as u64) * MDL_ADDRESS_STRIDE
    }

    /// This MDL's address as a pointer (the `PMDL` a driver passes to `ExFreePool`).
    pub const fn va(self) -> Va {
        Va::new(self.address())
    }

    /// The arena slot whose MDL address `va` is, if it is one.
    pub(crate) fn slot_of(va: Va) -> Option<u32> {
        let off = va.raw().checked_sub(MDL_ADDRESS_BASE)?;
        if off % MDL_ADDRESS_STRIDE != 0 {
            return None;
        }
        u32::try_from(off / MDL_ADDRESS_STRIDE).ok()
    }
}

impl fmt::Debug for MdlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mdl#{}.{}", self.0.index, self.0.generation)
    }
}

impl fmt::Display for MdlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MDL {:#x}", self.address())
    }
}

/// The MDL header and PFN array, as a driver sees them.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Mdl {
    /// `Next`: the next MDL of an IRP's chain.
    pub next: Option<MdlId>,
    /// `Size`: header plus PFN array for the span, truncated to 16 bits.
    pub size: u16,
    /// `MdlFlags`.
    pub flags: MdlFlags,
    /// `Process`: the process whose pages were locked (user addresses), else `None`.
    pub process: Option<Pid>,
    /// `MappedSystemVa` (stale after unmap, as in Windows).
    pub mapped_system_va: Va,
    /// `StartVa`: page-aligned.
    pub start_va: Va,
    /// `ByteCount` (`MmGetMdlByteCount`).
    #[doc(alias = "MmGetMdlByteCount")]
    pub byte_count: u32,
    /// `ByteOffset`: offset of the first byte in the first page (`MmGetMdlByteOffset`).
    #[doc(alias = "MmGetMdlByteOffset")]
    pub byte_offset: u32,
    /// The PFN array (`PFN_NUMBER`s; [`LIST_HEAD`] is "no page here"), at full capacity.
    pub(crate) pfns: Vec<u64>,
}

impl Mdl {
    /// `MmGetMdlVirtualAddress`: `StartVa + ByteOffset`.
    #[doc(alias = "MmGetMdlVirtualAddress")]
    pub fn virtual_address(&self) -> Va {
        self.start_va.wrapping_add(self.byte_offset as u64)
    }

    /// The number of meaningful PFN entries: `SPAN(StartVa + ByteOffset, ByteCount)`.
    pub fn page_count(&self) -> u32 {
        span_pages(self.virtual_address(), self.byte_count as u64)
    }

    /// The PFN array up to its capacity (`MmGetMdlPfnArray`).
    #[doc(alias = "MmGetMdlPfnArray")]
    pub fn pfn_array(&self) -> &[u64] {
        &self.pfns
    }

    /// The frames of the first `page_count()` slots, stopping at the first `LIST_HEAD`.
    pub fn frames(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.pfns
            .iter()
            .take(self.page_count() as usize)
            .take_while(|&&p| p != LIST_HEAD)
            .map(|&p| Pfn(p))
    }
}

/// How an MDL's storage was obtained (decides how `IoFreeMdl` returns it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum MdlStorage {
    /// `IoAllocateMdl`.
    IoAllocateMdl,
    /// `MmCreateMdl` or `MmAllocatePagesForMdl(Ex)` (pool; the caller frees it).
    Pool,
}

/// A lock the model knows an MDL holds: which frames got a reference and what was counted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LockRecord {
    /// Frames referenced, in slot order.
    pub frames: Vec<Pfn>,
    /// The process charged in `NumberOfLockedPages`, and by how many pages.
    pub charged: Option<(Pid, u64)>,
    /// The probe's operation.
    pub operation: LockOperation,
    /// The probe's mode.
    pub mode: AccessMode,
    /// When it was locked.
    pub birth: Birth,
}

/// An MDL in the arena with the model's bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct MdlSlot {
    pub(crate) mdl: Mdl,
    /// PFN slots the storage has room for.
    pub(crate) capacity: u32,
    pub(crate) storage: MdlStorage,
    pub(crate) birth: Birth,
    /// Present while `MmProbeAndLockPages` references are held.
    pub(crate) lock: Option<LockRecord>,
    /// The system mapping made through this MDL, if any.
    pub(crate) system_mapping: Option<MappingId>,
}

/// One mapping made through an MDL: a system-PTE range or a user "physical" VAD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The MDL it was made through.
    pub mdl: MdlId,
    /// For a partial MDL's own mapping, the source it borrowed pages from (unknown: `None`).
    pub source: Option<MdlId>,
    /// System space, or the process it was mapped into.
    pub space: SpaceId,
    /// First page of the mapping.
    pub base: Va,
    /// Pages reserved (the MDL's span).
    pub pages: u64,
    /// Frames actually mapped (PTEs written up to the first `LIST_HEAD`).
    pub frames: Vec<Pfn>,
    /// Protection of the PTEs.
    pub protection: Protection,
    /// Cache attribute.
    pub cache: CacheType,
    /// The MDL's first PFN and StartVa when mapped (PTE tracking compares them at unmap).
    pub first_pfn: u64,
    /// See `first_pfn`.
    pub start_va: Va,
    /// The address returned to the caller (`base + ByteOffset`).
    pub returned: Va,
    /// When it was made.
    pub birth: Birth,
}

impl Mapping {
    /// True for a user-mode mapping.
    pub fn is_user(&self) -> bool {
        matches!(self.space, SpaceId::Process(_))
    }
}
