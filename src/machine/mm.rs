//! The facade of the memory manager's page routines ([`crate::mm`]: probe and lock,
//! unlock, mapping and unmapping, page allocation for MDLs): each DDI enters the call and
//! delegates through an [`Mm`](crate::mm::Mm) context; the rule each follows is stated
//! here, its code is the method of the same name in `src/mm/`.

use super::Machine;
use crate::addr::Va;
use crate::bugcheck::verifier;
use crate::fault::Result;
use crate::irql::Kirql;
use crate::mdl::{AccessMode, CacheType, LockOperation, Mapping, MdlId};
use crate::space::Pid;

impl Machine {
    /// [`MmProbeAndLockPages`]: probes every page of the MDL's range for `operation` in
    /// `mode`, then locks each (one extra reference per page) and fills the PFN array
    /// ([semantics §3.4]).
    ///
    /// On success: `MDL_PAGES_LOCKED` set, `MDL_WRITE_OPERATION` set iff the operation
    /// writes, `Process` = the current process for user addresses (whose
    /// `NumberOfLockedPages` grows by the span) or `None` for kernel addresses.
    ///
    /// # Errors
    /// * `Raise(STATUS_ACCESS_VIOLATION)` — user mode and the range ends above
    ///   `MM_USER_PROBE_ADDRESS` or wraps ([invariant 5]); or any page is not accessible
    ///   for the operation (the fault's status is raised). Nothing stays locked, the
    ///   MDL is not marked locked and may simply be freed ([invariant 6]).
    /// * `DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4, 0xB0)` — the MDL is already locked,
    ///   mapped, built for non-paged pool, partial or I/O space ([invariant 4]).
    /// * ASSERT — `ByteCount == 0`, `ByteOffset >= PAGE_SIZE`, unaligned `StartVa`
    ///   ([invariant 1]), or a page locked 2500 times ([invariant 7]).
    ///
    /// # Examples
    /// ```
    /// use mdlsim::{Config, Machine, mdl::{AccessMode, LockOperation, MdlFlags}};
    /// use mdlsim::{space::Protection, vm::{MEM_COMMIT, MEM_RESERVE}};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let app = m.create_process("app").unwrap();
    /// let buf = m.virtual_alloc(app, None, 0x2000, MEM_COMMIT | MEM_RESERVE, Protection::ReadWrite).unwrap();
    /// m.switch_to(Some(app)).unwrap();
    /// let mdl = m.io_allocate_mdl(buf, 0x2000, false, false, None).unwrap().unwrap();
    /// m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoWriteAccess).unwrap();
    /// assert!(m.mdl(mdl).unwrap().flags.contains(MdlFlags::PAGES_LOCKED | MdlFlags::WRITE_OPERATION));
    /// assert_eq!(m.process(app).unwrap().number_of_locked_pages, 2);
    /// m.mm_unlock_pages(mdl).unwrap();
    /// m.io_free_mdl(mdl).unwrap();
    /// ```
    ///
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    /// [invariant 5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-5
    /// [invariant 6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-6
    /// [invariant 4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-4
    /// [invariant 1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-1
    /// [invariant 7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-7
    /// [`MmProbeAndLockPages`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmprobeandlockpages
    #[doc(alias = "MmProbeAndLockPages")]
    pub fn mm_probe_and_lock_pages(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        mode: AccessMode,
        operation: LockOperation,
    ) -> Result<()> {
        self.enter("MmProbeAndLockPages")?;
        let mdl = mdl.into();
        self.check_irql(
            Kirql::DISPATCH_LEVEL,
            verifier::PROBE_AND_LOCK_ABOVE_DISPATCH_LEVEL,
            mdl_param(mdl),
            mode as u64,
        )?;
        self.mm().mm_probe_and_lock_pages(mdl, mode, operation)?;
        self.judge_irql_of_mdl_probe(mdl, operation != LockOperation::IoReadAccess)
    }

    /// `MmProbeAndLockProcessPages`: attaches to `process` if it is not current, probes
    /// and locks as [`Machine::mm_probe_and_lock_pages`], and detaches even when the
    /// probe raises ([semantics §3.4]). Above `APC_LEVEL` the probe's touch of the
    /// process's pageable pages is judged as `MmProbeAndLockPages`' is.
    ///
    /// # Errors
    /// As `mm_probe_and_lock_pages`, with Verifier sub-code 0xB1 for bad flags.
    ///
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    #[doc(alias = "MmProbeAndLockProcessPages")]
    pub fn mm_probe_and_lock_process_pages(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        process: Pid,
        mode: AccessMode,
        operation: LockOperation,
    ) -> Result<()> {
        self.enter("MmProbeAndLockProcessPages")?;
        let mdl = mdl.into();
        // P4 the process's address (Microsoft's 0xC4 page, row 0x71): its stand-in
        // `EPROCESS`, `Pid::eprocess`.
        self.check_irql(
            Kirql::DISPATCH_LEVEL,
            verifier::PROBE_AND_LOCK_PROCESS_PAGES_ABOVE_DISPATCH_LEVEL,
            mdl_param(mdl),
            process.eprocess(),
        )?;
        self.mm()
            .mm_probe_and_lock_process_pages(mdl, process, mode, operation)?;
        // Attached to the process, the probe touches its pageable pages as
        // MmProbeAndLockPages' does.
        self.judge_irql_of_mdl_probe(mdl, operation != LockOperation::IoReadAccess)
    }

    /// [`MmUnlockPages`]: removes the kernel mapping if any, drops one reference on every
    /// page in the PFN array up to the first `LIST_HEAD`, un-charges the process, clears
    /// `MDL_PAGES_LOCKED` and poisons the PFN array ([semantics §3.5]). User-mode mappings
    /// are **not** removed. Runs in any context.
    ///
    /// # Errors
    /// * Not locked: `DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4, 0x7C)`, or with
    ///   `track_locked_pages` `PROCESS_HAS_LOCKED_PAGES (0x76, 1)` ([semantics §6]).
    /// * A non-paged-pool MDL: 0xC4/0x7D; a partial MDL: 0xC4/0xB4 (invariants [8][invariant 8], [24][invariant 24]).
    /// * A page whose reference would underflow: `PFN_LIST_CORRUPT (0x4E, 7)`.
    ///
    /// [semantics §3.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.5
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
    /// [invariant 24]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-24
    /// [`MmUnlockPages`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmunlockpages
    #[doc(alias = "MmUnlockPages")]
    pub fn mm_unlock_pages(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        self.enter("MmUnlockPages")?;
        let mdl = mdl.into();
        self.check_irql(
            Kirql::DISPATCH_LEVEL,
            verifier::UNLOCK_PAGES_ABOVE_DISPATCH_LEVEL,
            mdl_param(mdl),
            0,
        )?;
        self.mm().mm_unlock_pages(mdl)
    }

    /// [`MmAllocatePagesForMdlEx`]: allocates physical pages (not mapped) and an MDL
    /// describing them (`StartVa = 0`, `ByteOffset = 0`, `MDL_PAGES_LOCKED`, no
    /// `Process`). Each page has reference 1 and share 1 and is marked as an MDL
    /// allocation. Fewer pages than asked is success: read `ByteCount` ([invariant 21]);
    /// zero pages is `Ok(None)`.
    ///
    /// Windows, not ReactOS ([semantics §9]): `MM_DONT_ZERO_ALLOCATION` is honoured (the
    /// pages keep their previous owner's bytes) and `MM_ALLOCATE_FULLY_REQUIRED` returns
    /// NULL rather than a short MDL. The physical-address bounds and `skip` are accepted
    /// but every frame qualifies (the model has one memory node); a `skip` that is not
    /// page-aligned returns NULL, as on both systems.
    ///
    /// [invariant 21]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-21
    /// [semantics §9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    /// [`MmAllocatePagesForMdlEx`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmallocatepagesformdlex
    #[doc(alias = "MmAllocatePagesForMdlEx")]
    pub fn mm_allocate_pages_for_mdl_ex(
        &mut self,
        low: u64,
        high: u64,
        skip: u64,
        total_bytes: u64,
        cache: CacheType,
        flags: u32,
    ) -> Result<Option<MdlId>> {
        self.enter("MmAllocatePagesForMdlEx")?;
        self.check_pages_for_mdl_irql()?;
        self.mm()
            .mm_allocate_pages_for_mdl_ex(low, high, skip, total_bytes, cache, flags)
    }

    /// [`MmFreePagesFromMdl`]: returns the pages of an `MmAllocatePagesForMdl(Ex)` MDL to
    /// the free list (a page someone else still has locked stays until unlocked),
    /// overwrites each slot with `LIST_HEAD` and clears `MDL_PAGES_LOCKED`. It does not
    /// unmap and does not free the MDL itself (`io_free_mdl` / `ExFreePool` it after).
    ///
    /// # Errors
    /// A page that is not from `MmAllocatePagesForMdl`: `MEMORY_MANAGEMENT (0x1A, 0x1236)`
    /// ([invariant 20]). An I/O-space MDL: ASSERT.
    ///
    /// [invariant 20]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-20
    /// [`MmFreePagesFromMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmfreepagesfrommdl
    #[doc(alias = "MmFreePagesFromMdl")]
    pub fn mm_free_pages_from_mdl(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        self.enter("MmFreePagesFromMdl")?;
        self.check_pages_for_mdl_irql()?;
        self.mm().mm_free_pages_from_mdl(mdl)
    }

    /// [`MmMapLockedPagesSpecifyCache`]: maps the MDL's pages into system space
    /// (`KernelMode`) or into the current process (`UserMode`) ([semantics §3.7]).
    ///
    /// Kernel mode: reserves `SPAN` system PTEs, writes one per slot up to `LIST_HEAD`,
    /// sets `MappedSystemVa` and `MDL_MAPPED_TO_SYSTEM_VA` (plus
    /// `MDL_PARTIAL_HAS_BEEN_MAPPED` for a partial), returns `MappedSystemVa`. PTE
    /// exhaustion returns `Ok(None)` with `MDL_MAPPING_CAN_FAIL` or
    /// `bug_check_on_failure == false` ([invariant 15]).
    ///
    /// User mode: inserts a "device physical memory" VAD at `base` or at a free 64 KiB-
    /// aligned range and returns its start plus `ByteOffset`; the MDL is not modified.
    ///
    /// Windows, not ReactOS: `priority` is honoured — `MdlMappingNoWrite` makes the
    /// PTEs read-only ([semantics §9]).
    ///
    /// # Errors
    /// * Kernel mode: `0xC4/0xB2` if already mapped, built for non-paged pool or a
    ///   mapped partial; `0xC4/0xB3` if neither locked nor partial ([invariant 13]);
    ///   `0xC4/0x85` if a page is not locked ([invariant 14]); `NO_MORE_SYSTEM_PTES (0x3F)`
    ///   on exhaustion with bug-check-on-failure.
    /// * User mode: errors are raised, never NULL ([invariant 16]):
    ///   `STATUS_PROCESS_IS_TERMINATING`, `STATUS_INVALID_ADDRESS` (an explicit base that is
    ///   unaligned, below `MM_LOWEST_USER_ADDRESS` — the NULL-page region Windows never lets a
    ///   VAD cover, a detail [semantics §3.7] leaves out — or whose range ends above
    ///   [`MM_HIGHEST_VAD_ADDRESS`](crate::addr::MM_HIGHEST_VAD_ADDRESS), 64 KiB below the
    ///   highest user address, as ReactOS's `MiMapLockedPagesInUserSpace` checks and its
    ///   kmtest `MmMapLockedPagesSpecifyCache_user.c` asserts of Windows Server 2003),
    ///   `STATUS_CONFLICTING_ADDRESSES`, `STATUS_NO_MEMORY`.
    ///
    /// [semantics §3.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.7
    /// [invariant 15]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-15
    /// [semantics §9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    /// [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
    /// [invariant 14]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-14
    /// [invariant 16]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-16
    /// [`MmMapLockedPagesSpecifyCache`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmmaplockedpagesspecifycache
    #[doc(alias = "MmMapLockedPagesSpecifyCache")]
    pub fn mm_map_locked_pages_specify_cache(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        mode: AccessMode,
        cache: CacheType,
        base: Option<Va>,
        bug_check_on_failure: bool,
        priority: u32,
    ) -> Result<Option<Va>> {
        self.enter("MmMapLockedPagesSpecifyCache")?;
        let mdl = mdl.into();
        self.check_map_irql(mdl, mode, true)?;
        self.mm().mm_map_locked_pages_specify_cache(
            mdl,
            mode,
            cache,
            base,
            bug_check_on_failure,
            priority,
        )
    }

    /// [`MmMapLockedPages`]`(Mdl, Mode)`: `SpecifyCache(MmCached, NULL, TRUE, HighPagePriority)`.
    /// Driver Verifier flags every call (0xC4, 0x81): use the Safe variant.
    ///
    /// [`MmMapLockedPages`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmmaplockedpages
    #[doc(alias = "MmMapLockedPages")]
    pub fn mm_map_locked_pages(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        mode: AccessMode,
    ) -> Result<Option<Va>> {
        self.enter("MmMapLockedPages")?;
        let mdl = mdl.into();
        self.check_map_irql(mdl, mode, false)?;
        self.mm().mm_map_locked_pages(mdl, mode)
    }

    /// [`MmGetSystemAddressForMdlSafe`]: `MappedSystemVa` if the MDL is already mapped or
    /// built for non-paged pool, else a kernel mapping that returns NULL (`Ok(None)`)
    /// on PTE exhaustion ([semantics §3.7], [invariant 13]).
    ///
    /// Note on Microsoft's ["Errors in Direct I/O"][design-direct-io]: it says the macro
    /// returns NULL for a NULL `MdlAddress`. The macro reads `Mdl->MdlFlags` first, so a NULL MDL is a NULL
    /// dereference; the model crashes there (0x1E, `STATUS_ACCESS_VIOLATION`, address 0xA).
    ///
    /// [semantics §3.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.7
    /// [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
    /// [`MmGetSystemAddressForMdlSafe`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmgetsystemaddressformdlsafe
    /// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
    #[doc(alias = "MmGetSystemAddressForMdlSafe")]
    pub fn mm_get_system_address_for_mdl_safe(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        priority: u32,
    ) -> Result<Option<Va>> {
        self.enter("MmGetSystemAddressForMdlSafe")?;
        let mdl = mdl.into();
        self.check_map_irql(mdl, AccessMode::KernelMode, true)?;
        self.mm().mm_get_system_address_for_mdl_safe(mdl, priority)
    }

    /// [`MmProtectMdlSystemAddress`]: changes the protection of the MDL's system mapping
    /// (`PAGE_NOACCESS`, `PAGE_READONLY`, `PAGE_READWRITE`) ([semantics §9]: Windows only).
    ///
    /// # Errors
    /// `Status(STATUS_NOT_MAPPED_VIEW)` if the MDL has no system mapping of its own;
    /// `Status(STATUS_INVALID_PAGE_PROTECTION)` for other protections.
    ///
    /// [semantics §9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    /// [`MmProtectMdlSystemAddress`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmprotectmdlsystemaddress
    #[doc(alias = "MmProtectMdlSystemAddress")]
    pub fn mm_protect_mdl_system_address(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        protect: u32,
    ) -> Result<()> {
        self.enter("MmProtectMdlSystemAddress")?;
        self.mm().mm_protect_mdl_system_address(mdl, protect)
    }

    /// Live mappings made through MDLs.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.iter().map(|(_, m)| m)
    }
    /// [`MmUnmapLockedPages`]: kernel or user is decided by `base` ([semantics §3.8]).
    ///
    /// Kernel: the MDL must be mapped (`SYSTEM_PTE_MISUSE (0xDA, 0x06)` otherwise — a
    /// double unmap), `base` must be the address the map returned (0xDA/0x03), and the
    /// MDL's first PFN and StartVa must not have changed since (0xDA/0x04, 0x05): the
    /// checks Windows makes with PTE tracking (invariants [17][invariant 17], [18][invariant 18]). Clears
    /// `MAPPED_TO_SYSTEM_VA | PARTIAL_HAS_BEEN_MAPPED | FREE_EXTRA_PTES`.
    ///
    /// User: must run in the process that holds the mapping. An address that is no MDL
    /// mapping there is `DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4, 0xB9)` with Verifier on
    /// (P2 the address, P3 the MDL); without it the kernel returns silently, as the WRK's
    /// and ReactOS's `MiUnmapLockedPagesInUserSpace` do, and the model records an
    /// `UnmapUnknownUserAddress` event for the oracle.
    ///
    /// [invariant 17]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-17
    /// [invariant 18]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-18
    /// [`MmUnmapLockedPages`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmunmaplockedpages
    /// [semantics §3.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.8
    #[doc(alias = "MmUnmapLockedPages")]
    pub fn mm_unmap_locked_pages(&mut self, base: Va, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        self.enter("MmUnmapLockedPages")?;
        let mdl = mdl.into();
        let (max, subcode) = if base.is_user() {
            (
                Kirql::APC_LEVEL,
                verifier::UNMAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL,
            )
        } else {
            (
                Kirql::DISPATCH_LEVEL,
                verifier::UNMAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL,
            )
        };
        self.check_irql(max, subcode, base.raw(), mdl_param(mdl))?;
        self.mm().mm_unmap_locked_pages(base, mdl)
    }
}

/// Verifier's IRQL limits of the MDL routines (`0xC4` 0x70–0x7E, [semantics §5.9]).
///
/// [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9
impl Machine {
    /// A mapping to kernel space above `DISPATCH_LEVEL` or to user space above
    /// `APC_LEVEL`: `0xC4` 0x76 / 0x77 (`specify_cache`), 0x74 / 0x75 (`MmMapLockedPages`).
    fn check_map_irql(
        &mut self,
        mdl: Option<MdlId>,
        mode: AccessMode,
        specify_cache: bool,
    ) -> Result<()> {
        let (max, subcode) = match (mode, specify_cache) {
            (AccessMode::UserMode, true) => (
                Kirql::APC_LEVEL,
                verifier::MAP_SPECIFY_CACHE_USER_ABOVE_APC_LEVEL,
            ),
            (AccessMode::UserMode, false) => (
                Kirql::APC_LEVEL,
                verifier::MAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL,
            ),
            (AccessMode::KernelMode, true) => (
                Kirql::DISPATCH_LEVEL,
                verifier::MAP_SPECIFY_CACHE_KERNEL_ABOVE_DISPATCH_LEVEL,
            ),
            (AccessMode::KernelMode, false) => (
                Kirql::DISPATCH_LEVEL,
                verifier::MAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL,
            ),
        };
        self.check_irql(max, subcode, mdl_param(mdl), mode as u64)
    }

    /// `MmAllocatePagesForMdl(Ex)` and `MmFreePagesFromMdl` above `DISPATCH_LEVEL`: `0xC4`
    /// 0x7E, P3 `DISPATCH_LEVEL`.
    fn check_pages_for_mdl_irql(&mut self) -> Result<()> {
        self.check_irql(
            Kirql::DISPATCH_LEVEL,
            verifier::PAGES_FOR_MDL_ABOVE_DISPATCH_LEVEL,
            Kirql::DISPATCH_LEVEL.param(),
            0,
        )
    }

    /// `MmProbeAndLockPages` above `APC_LEVEL` of a user range or of paged pool touches
    /// pageable memory ([`Machine::judge_irql_of_pageable_access`]), judged once the probe
    /// got past its MDL checks and touched the pages (so Verifier's flag checks come
    /// first); a fault there is the kernel's own, `IRQL_NOT_LESS_OR_EQUAL (0xA)`.
    fn judge_irql_of_mdl_probe(&mut self, mdl: Option<MdlId>, write: bool) -> Result<()> {
        let Some(d) = mdl.and_then(|id| self.mdl(id).ok()) else {
            return Ok(());
        };
        let (va, len) = (d.virtual_address(), d.byte_count as u64);
        self.judge_irql_of_pageable_access(va, len, "MmProbeAndLockPages probed", write, true)
    }
}

/// An MDL as a bug check parameter: its address, 0 for NULL.
fn mdl_param(mdl: Option<MdlId>) -> u64 {
    mdl.map_or(0, |m| m.address())
}
