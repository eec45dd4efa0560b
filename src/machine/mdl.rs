//! The facade of the MDL routines ([`crate::mm`]: allocation, initialisation, partial
//! and non-paged builds, the fields a driver reads and writes): each DDI enters the call
//! (crash check, step, routine name) and delegates to the memory manager through an
//! [`Mm`] context borrowed field by field. The rule each DDI follows is stated here, on
//! the public method; its code is the method of the same name in `src/mm/`.

use super::Machine;
use crate::addr::Va;
use crate::events::Event;
use crate::fault::{Fault, ModelError, Result};
use crate::ids::Birth;
use crate::iostate::irp::IrpId;
use crate::mdl::{LockRecord, Mdl, MdlFlags, MdlId, MdlSlot, MdlStorage};
use crate::mm::{LeakedLock, Mm};

impl Machine {
    /// The memory manager's context for one call (see [`Mm`]).
    pub(crate) fn mm(&mut self) -> Mm<'_> {
        let current = self.current_process();
        Mm {
            phys: &mut self.phys,
            system: &mut self.system,
            processes: &mut self.processes,
            log: &mut self.log,
            counters: &mut self.counters,
            events: &mut self.events,
            blame: &mut self.blame,
            crashed: &mut self.crashed,
            mdls: &mut self.mdls,
            mappings: &mut self.mappings,
            sysptes: &mut self.sysptes,
            leaked_locks: &mut self.leaked_locks,
            ref_adjust: &mut self.ref_adjust,
            locked_pages_adjust: &mut self.locked_pages_adjust,
            current,
            step: self.step,
            routine: self.routine,
            shadow: self.config.shadow,
            track_locked_pages: self.config.track_locked_pages,
            windows: self.config.windows,
            verifier: self.config.verifier,
            track_ptes: self.config.track_ptes,
            kernel_build: self.config.kernel_build,
        }
    }

    /// Reports frames freed while an MDL mapping names them (see
    /// [`Vm::report_frames_freed_while_mapped`](crate::vm::Vm::report_frames_freed_while_mapped)).
    pub(crate) fn report_frames_freed_while_mapped(&mut self) {
        self.vm().report_frames_freed_while_mapped();
    }

    /// A checked-build ASSERT failure in the routine being run (see [`Mm::assert_failed`]).
    pub(crate) fn assert_failed(&mut self, detail: impl Into<String>) -> Fault {
        self.mm().assert_failed(detail)
    }

    /// Records a protocol event at the current step.
    pub(crate) fn event(
        &mut self,
        kind: crate::events::EventKind,
        mdl: Option<MdlId>,
        va: Option<Va>,
        detail: impl Into<String>,
    ) {
        self.mm().event(kind, mdl, va, detail);
    }

    /// The slot of a live MDL (a stale handle is [`ModelError::StaleHandle`]).
    pub(crate) fn mdl_slot(&self, id: MdlId) -> Result<&MdlSlot> {
        self.mdls.get(id.0).ok_or_else(|| {
            Fault::Model(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Mdl,
                address: id.address(),
            })
        })
    }

    /// [`IoAllocateMdl`]: allocates an MDL describing `[va, va+length)`; nothing is probed or locked.
    ///
    /// Returns `Ok(None)` (NULL) for `length >= 2 GiB` or a descriptor over 0xFFFF bytes
    /// ([invariant 2]). Spans up to 23 pages use the fixed-size block and set
    /// `MDL_ALLOCATED_FIXED_SIZE`. With `irp`, the MDL becomes `Irp->MdlAddress`
    /// (`secondary_buffer == false`, overwriting) or is appended to the chain's tail.
    /// `charge_quota` is accepted and not modelled. ([semantics §3.2])
    ///
    /// # Errors
    /// `length == 0` is the [§3.2] ASSERT (0x1E, STATUS_BREAKPOINT). A secondary
    /// buffer for an IRP without a chain is the same kind of ASSERT.
    ///
    /// # Examples
    /// ```
    /// use mdlsim::{Config, Machine, addr::Va, mdl::MdlFlags};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let mdl = m.io_allocate_mdl(Va::new(0x10200), 0x1000, false, false, None).unwrap().unwrap();
    /// let d = m.mdl(mdl).unwrap();
    /// assert_eq!((d.start_va, d.byte_offset, d.page_count()), (Va::new(0x10000), 0x200, 2));
    /// assert!(d.flags.contains(MdlFlags::ALLOCATED_FIXED_SIZE));
    /// ```
    ///
    /// [invariant 2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-2
    /// [semantics §3.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.2
    /// [§3.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.2
    /// [`IoAllocateMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioallocatemdl
    #[doc(alias = "IoAllocateMdl")]
    pub fn io_allocate_mdl(
        &mut self,
        va: Va,
        length: u32,
        secondary_buffer: bool,
        charge_quota: bool,
        irp: Option<IrpId>,
    ) -> Result<Option<MdlId>> {
        self.enter("IoAllocateMdl")?;
        // The IRP's MdlAddress as read here; a stale IRP handle is raised where the
        // routine first touches the IRP, after its own argument checks.
        let head = irp.map(|i| self.irp(i).map(|x| x.mdl_address));
        let id = self
            .mm()
            .io_allocate_mdl(va, length, secondary_buffer, charge_quota, head)?;
        if let (Some(id), Some(irp), false) = (id, irp, secondary_buffer) {
            self.irp_entry_mut(irp)?.mdl_address = Some(id);
        }
        Ok(id)
    }

    /// `MmCreateMdl` (obsolete): allocates an MDL of exactly `MmSizeOfMdl(base, length)` bytes
    /// from pool and initialises it; no flags ([semantics §3.1]). `Ok(None)` if the span does not fit.
    ///
    /// [semantics §3.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.1
    #[doc(alias = "MmCreateMdl")]
    pub fn mm_create_mdl(&mut self, base: Va, length: u32) -> Result<Option<MdlId>> {
        self.enter("MmCreateMdl")?;
        self.mm().mm_create_mdl(base, length)
    }

    /// [`MmSizeOfMdl`]: `48 + 8 × SPAN(base, length)` bytes on amd64 ([semantics §1.3]).
    ///
    /// [`MmSizeOfMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmsizeofmdl
    /// [semantics §1.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.3
    #[doc(alias = "MmSizeOfMdl")]
    pub fn mm_size_of_mdl(base: Va, length: u64) -> u64 {
        crate::addr::size_of_mdl(base, length)
    }
    /// [`MmInitializeMdl`]: re-initialises an MDL's header for `[base, base+length)`:
    /// `Next = NULL`, `Size`, `MdlFlags = 0`, `StartVa`, `ByteOffset`, `ByteCount`.
    /// `Process` and `MappedSystemVa` keep their old values ([semantics §1.3]). The PFN
    /// array is not written, so a span larger than the storage is caught by the
    /// first routine that fills it ([invariant 3]).
    ///
    /// Reinitialising an MDL that still holds locks or a mapping loses track of them,
    /// as in C; the locks are then leaked.
    ///
    /// [semantics §1.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.3
    /// [invariant 3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-3
    /// [`MmInitializeMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mminitializemdl
    #[doc(alias = "MmInitializeMdl")]
    pub fn mm_initialize_mdl(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        base: Va,
        length: u32,
    ) -> Result<()> {
        self.enter("MmInitializeMdl")?;
        self.mm().mm_initialize_mdl(mdl, base, length)
    }

    /// [`MmPrepareMdlForReuse`]: releases a partial MDL's own mapping; for a full MDL,
    /// asserts it is not mapped ([semantics §3.3]).
    ///
    /// # Errors
    /// A non-partial MDL still mapped to system VA: `DRIVER_VERIFIER_DETECTED_VIOLATION`
    /// (0xC4, 0xB8) — the mapping would otherwise leak.
    ///
    /// [semantics §3.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.3
    /// [`MmPrepareMdlForReuse`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmpreparemdlforreuse
    #[doc(alias = "MmPrepareMdlForReuse")]
    pub fn mm_prepare_mdl_for_reuse(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        self.enter("MmPrepareMdlForReuse")?;
        self.mm().mm_prepare_mdl_for_reuse(mdl)
    }

    /// [`IoFreeMdl`]: `MmPrepareMdlForReuse`, then frees the MDL. It **never unlocks**:
    /// freeing a locked MDL leaks its page references and the process's
    /// `NumberOfLockedPages` (surfacing at process exit as 0x76 / 0xCB) ([semantics §3.3]).
    ///
    /// # Errors
    /// As [`Machine::mm_prepare_mdl_for_reuse`]; a NULL or freed MDL crashes.
    ///
    /// [semantics §3.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.3
    /// [`IoFreeMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iofreemdl
    #[doc(alias = "IoFreeMdl")]
    pub fn io_free_mdl(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        self.enter("IoFreeMdl")?;
        self.mm().io_free_mdl(mdl)
    }

    /// The MDL behind a handle (header and PFN array), as a driver reads it.
    pub fn mdl(&self, mdl: MdlId) -> Result<&Mdl> {
        Ok(&self.mdl_slot(mdl)?.mdl)
    }
    /// Every live MDL, in arena order.
    pub fn mdls(&self) -> impl Iterator<Item = (MdlId, &Mdl)> {
        self.mdls.iter().map(|(h, s)| (MdlId(h), &s.mdl))
    }
    /// The MDL whose address (`PMDL`, [`MdlId::address`]) is `va`: the live MDL in that
    /// slot, or, where the slot's MDL was freed, a handle to the freed one, which every
    /// routine reports as a use after free (special pool's 0x50); `None` for an address
    /// no MDL ever had. For driver code that holds MDLs as pointers (`mdlsim-native`'s C
    /// drivers), where [`MdlId`]s are the model's own.
    ///
    /// ```
    /// use mdlsim::{Config, Machine, addr::Va};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let mdl = m.io_allocate_mdl(Va::new(0x10000), 1, false, false, None).unwrap().unwrap();
    /// assert_eq!(m.mdl_at(mdl.va()), Some(mdl));
    /// m.io_free_mdl(mdl).unwrap();
    /// let stale = m.mdl_at(mdl.va()).unwrap();
    /// assert!(m.mdl(stale).is_err(), "freed");
    /// assert_eq!(m.mdl_at(Va::new(0x10000)), None);
    /// ```
    pub fn mdl_at(&self, va: Va) -> Option<MdlId> {
        let i = MdlId::slot_of(va)?;
        self.mdls.slot_handle(i).map(MdlId)
    }
    /// The PFN-array capacity of an MDL's storage (23 for fixed-size `IoAllocateMdl` blocks).
    pub fn mdl_capacity(&self, mdl: MdlId) -> Result<u32> {
        Ok(self.mdl_slot(mdl)?.capacity)
    }
    /// Where an MDL was created (step and routine), for reports.
    pub fn mdl_birth(&self, mdl: MdlId) -> Result<Birth> {
        Ok(self.mdl_slot(mdl)?.birth)
    }
    /// How an MDL's storage was obtained.
    pub fn mdl_storage(&self, mdl: MdlId) -> Result<MdlStorage> {
        Ok(self.mdl_slot(mdl)?.storage)
    }
    /// Whether the model holds a lock record for this MDL (its pages are referenced by it).
    pub fn mdl_lock(&self, mdl: MdlId) -> Result<Option<&LockRecord>> {
        Ok(self.mdl_slot(mdl)?.lock.as_ref())
    }
    /// A driver writing `MmGetMdlPfnArray(mdl)[index] = value` (step 5 of the [proxy file system's head/tail substitution][design-proxy]).
    ///
    /// # Errors
    /// Writing past the storage is the overrun of [invariant 3] (0x50).
    ///
    /// [invariant 3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-3
    /// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
    pub fn mdl_set_pfn(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        index: u32,
        value: u64,
    ) -> Result<()> {
        self.enter("MmGetMdlPfnArray write")?;
        self.mm().mdl_set_pfn(mdl, index, value)
    }

    /// A driver copying `count` PFN entries from `src[src_index..]` to `dst[dst_index..]`
    /// (`RtlCopyMemory` between PFN arrays, step 2 of the [proxy file system's head/tail substitution][design-proxy]).
    ///
    /// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
    pub fn mdl_copy_pfns(
        &mut self,
        src: impl Into<Option<MdlId>>,
        src_index: u32,
        dst: impl Into<Option<MdlId>>,
        dst_index: u32,
        count: u32,
    ) -> Result<()> {
        self.enter("RtlCopyMemory (PFN array)")?;
        self.mm()
            .mdl_copy_pfns(src, src_index, dst, dst_index, count)
    }

    /// A driver writing `Mdl->MdlFlags = flags` directly.
    pub fn mdl_set_flags(&mut self, mdl: impl Into<Option<MdlId>>, flags: MdlFlags) -> Result<()> {
        self.enter("MdlFlags write")?;
        self.mm().mdl_set_flags(mdl, flags)
    }

    /// A driver writing `Mdl->Next = next` (chaining MDLs).
    pub fn mdl_set_next(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        next: Option<MdlId>,
    ) -> Result<()> {
        self.enter("Mdl->Next write")?;
        self.mm().mdl_set_next(mdl, next)
    }

    /// Locks leaked by freeing or reinitialising a locked MDL.
    pub fn leaked_locks(&self) -> &[LeakedLock] {
        &self.leaked_locks
    }
    /// Protocol events seen so far (see [`crate::events`]).
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    /// [`IoBuildPartialMdl`]: makes `target` describe `[va, va+length)` of `source`'s pages,
    /// borrowing `source`'s locks (no reference changes, nothing mapped; [semantics §4]).
    ///
    /// `length == 0` means "the rest of the source". Flags: the target keeps only its
    /// `ALLOCATED_FIXED_SIZE | ALLOCATED_MUST_SUCCEED`, inherits the source's
    /// `IO_PAGE_READ | SOURCE_IS_NONPAGED_POOL | MAPPED_TO_SYSTEM_VA | IO_SPACE`, and
    /// gets `PARTIAL`; `MappedSystemVa = source.MappedSystemVa + offset`.
    ///
    /// Windows, not ReactOS ([semantics §9]): the sub-range must lie inside the source, else
    /// `INVALID_MDL_RANGE (0x12E)` with (SourceMdl, TargetMdl, VirtualAddress, Length); and the
    /// target must have room for its span, else `TARGET_MDL_TOO_SMALL (0x40)`, which has no
    /// parameters. ([semantics §9] names only 0x40 for both; Microsoft's bug check reference
    /// documents 0x12E for the out-of-range case, so the model follows it.)
    ///
    /// # Errors
    /// 0x12E and 0x40 as above; a source that is neither locked, non-paged nor allocated is an
    /// ASSERT ([invariant 22]).
    ///
    /// [semantics §4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
    /// [semantics §9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    /// [invariant 22]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-22
    /// [`IoBuildPartialMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iobuildpartialmdl
    #[doc(alias = "IoBuildPartialMdl")]
    pub fn io_build_partial_mdl(
        &mut self,
        source: impl Into<Option<MdlId>>,
        target: impl Into<Option<MdlId>>,
        va: Va,
        length: u32,
    ) -> Result<()> {
        self.enter("IoBuildPartialMdl")?;
        self.mm().io_build_partial_mdl(source, target, va, length)
    }

    /// [`MmBuildMdlForNonPagedPool`]: fills the PFN array straight from the current PTEs
    /// of a resident, non-paged buffer; sets `SOURCE_IS_NONPAGED_POOL` and
    /// `MappedSystemVa = StartVa + ByteOffset`; takes no reference and does **not** set
    /// `MDL_PAGES_LOCKED` ([semantics §3.6], [invariant 19]).
    ///
    /// Paged pool is not non-paged: on Windows 10/11 (Verifier) describing it is a bug
    /// check (below); Windows 7 and earlier build the MDL as for non-paged pool (ReactOS
    /// `MmMdl.c`, `TestMmBuildMdlForNonPagedPool`, run on those versions), and the model
    /// records [`crate::events::EventKind::NonPagedBuildOverOtherMemory`].
    ///
    /// # Errors
    /// A page with no valid PTE: `MEMORY_MANAGEMENT (0x1A, 0x1240)`, P2 the MDL, P3 the
    /// page's PTE pointer ([`crate::addr::pte_address`]; Microsoft's [0x1A page]). `ByteCount == 0` or a
    /// locked / mapped / partial / already-built MDL: ASSERT. On Windows 10/11, a page of
    /// paged pool: Verifier's `0xC4` 0x7F (P2 the IRQL, P3 the MDL, P4 its flags).
    ///
    /// [semantics §3.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.6
    /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
    /// [0x1A page]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
    /// [`MmBuildMdlForNonPagedPool`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmbuildmdlfornonpagedpool
    #[doc(alias = "MmBuildMdlForNonPagedPool")]
    pub fn mm_build_mdl_for_non_paged_pool(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        self.enter("MmBuildMdlForNonPagedPool")?;
        let mdl = mdl.into();
        self.check_build_over_paged_pool(mdl)?;
        self.mm().mm_build_mdl_for_non_paged_pool(mdl)
    }
}
