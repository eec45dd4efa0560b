//! The MDL routines of the memory manager and I/O manager ([semantics §3], [§4], [§8]).
//!
//! Every routine is a `Machine` method named after its DDI in snake case,
//! with the real name as a `#[doc(alias)]`. Preconditions that Windows checks
//! under Driver Verifier are bug checks with the documented 0xC4 sub-code;
//! preconditions that are only debug-build ASSERTs (semantics: "ASSERT") are
//! reported as the checked-build assertion failure: `KMODE_EXCEPTION_NOT_HANDLED
//! (0x1E)` with `STATUS_BREAKPOINT`, the detail naming the rule. A NULL `PMDL`
//! is dereferenced as in C: `KMODE_EXCEPTION_NOT_HANDLED` with
//! `STATUS_ACCESS_VIOLATION` at the offset of the field read. A handle to a
//! freed MDL is caught as Driver Verifier's special pool catches it:
//! `PAGE_FAULT_IN_NONPAGED_AREA (0x50)`.
//!
//! [semantics §3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3
//! [§4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
//! [§8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s8

mod build;
mod ctx;
pub(crate) use ctx::Mm;
pub(crate) mod exit;
pub(crate) mod lock;
pub mod mapping;
pub(crate) mod pages;

pub use lock::POISON_PFN;

use crate::addr::{MDL_HEADER_SIZE, PFN_NUMBER_SIZE, Va, span_pages};
use crate::bugcheck::{BugCheckCode, verifier};
use crate::events::{Event, EventKind};
use crate::fault::{Fault, ModelError, Result};
use crate::ids::Birth;
use crate::mdl::{LockRecord, MDL_FIXED_SIZE_PAGES, Mdl, MdlFlags, MdlId, MdlSlot, MdlStorage};
use crate::status::NtStatus;
use crate::windows::AssertSite;

/// Offset of `MdlFlags` in an amd64 MDL: what a NULL-MDL dereference reads first.
pub(crate) const MDL_FLAGS_OFFSET: u64 = 0xA;

/// A lock whose MDL was freed without unlocking: the references are held forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakedLock {
    /// The freed MDL (its address is what `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS` names).
    pub mdl: MdlId,
    /// The lock as it was.
    pub lock: LockRecord,
    /// When the MDL was freed.
    pub freed_at: Birth,
}

impl Mm<'_> {
    // ----- shared checks -----------------------------------------------------------------

    /// A checked-build ASSERT failure (semantics: "ASSERT"): bug check 0x1E with STATUS_BREAKPOINT.
    pub(crate) fn assert_failed(&mut self, detail: impl Into<String>) -> Fault {
        let detail = format!("ASSERT failed in {}: {}", self.routine, detail.into());
        self.bug_check(
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            [NtStatus::BREAKPOINT.0 as u64, 0, 0, 0],
            detail,
        )
    }

    /// A Driver Verifier violation (0xC4) with its documented sub-code.
    pub(crate) fn verifier_violation(
        &mut self,
        subcode: u64,
        p2: u64,
        p3: u64,
        p4: u64,
        detail: impl Into<String>,
    ) -> Fault {
        self.bug_check(
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [subcode, p2, p3, p4],
            detail,
        )
    }

    /// Resolves a `PMDL` argument: NULL and freed MDLs crash as in a real kernel.
    pub(crate) fn deref_mdl(&mut self, mdl: Option<MdlId>) -> Result<MdlId> {
        let Some(id) = mdl else {
            let routine = self.routine;
            return Err(self.bug_check(
                BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
                [NtStatus::ACCESS_VIOLATION.0 as u64, 0, 0, MDL_FLAGS_OFFSET],
                format!(
                    "{routine} dereferenced a NULL MDL (reads MdlFlags at {MDL_FLAGS_OFFSET:#x})"
                ),
            ));
        };
        if self.mdls.get(id.0).is_none() {
            let routine = self.routine;
            return Err(self.bug_check(
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
                [id.address(), 0, 0, 0],
                format!("{routine} used {id} after it was freed (special pool)"),
            ));
        }
        Ok(id)
    }

    pub(crate) fn slot(&self, id: MdlId) -> Result<&MdlSlot> {
        self.mdls.get(id.0).ok_or_else(|| {
            Fault::Model(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Mdl,
                address: id.address(),
            })
        })
    }

    pub(crate) fn slot_mut(&mut self, id: MdlId) -> Result<&mut MdlSlot> {
        self.mdls.get_mut(id.0).ok_or_else(|| {
            Fault::Model(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Mdl,
                address: id.address(),
            })
        })
    }

    /// [Invariant 3]: the PFN array must have room for the span a writer is about to fill.
    /// An overrun of a special-pool MDL touches the guard page: 0x50.
    ///
    /// [invariant 3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-3
    pub(crate) fn check_capacity(&mut self, id: MdlId, pages: u32) -> Result<()> {
        let cap = self.slot(id)?.capacity;
        if pages > cap {
            let routine = self.routine;
            return Err(self.bug_check(
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
                [
                    id.address() + MDL_HEADER_SIZE + cap as u64 * PFN_NUMBER_SIZE,
                    self.windows.page_fault_access(true),
                    0,
                    0,
                ],
                format!(
                    "{routine} wrote {pages} PFN entries into {id}, which has room for {cap} (invariant 3)"
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn event(
        &mut self,
        kind: EventKind,
        mdl: Option<MdlId>,
        va: Option<Va>,
        detail: impl Into<String>,
    ) {
        self.events.push(Event {
            step: self.step,
            kind,
            mdl,
            va,
            detail: detail.into(),
        });
    }

    fn new_mdl(
        &mut self,
        va: Va,
        length: u32,
        capacity: u32,
        storage: MdlStorage,
        flags: MdlFlags,
    ) -> Result<MdlId> {
        self.phys.charge_descriptor(capacity as u64)?;
        let birth = self.birth();
        let mdl = Mdl {
            next: None,
            size: (crate::addr::size_of_mdl(va, length as u64) & 0xFFFF) as u16,
            flags,
            process: None,
            mapped_system_va: Va::NULL,
            start_va: va.page_align(),
            byte_count: length,
            byte_offset: va.byte_offset(),
            pfns: vec![0; capacity as usize],
        };
        Ok(MdlId(self.mdls.insert(MdlSlot {
            mdl,
            capacity,
            storage,
            birth,
            lock: None,
            system_mapping: None,
        })))
    }

    // ----- allocation and initialisation -------------------------------------------------

    /// The work of [`Machine::io_allocate_mdl`](crate::Machine::io_allocate_mdl) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn io_allocate_mdl(
        &mut self,
        va: Va,
        length: u32,
        secondary_buffer: bool,
        charge_quota: bool,
        irp: Option<Result<Option<MdlId>>>,
    ) -> Result<Option<MdlId>> {
        let _ = charge_quota;
        if length == 0 {
            let detail = "Length != 0 (semantics §3.2, invariant 1)";
            if !self
                .kernel_build
                .continues_after(AssertSite::IoAllocateMdlLength)
            {
                return Err(self.assert_failed(detail));
            }
            self.event(
                EventKind::ZeroLengthMdlAllocated,
                None,
                Some(va),
                format!("IoAllocateMdl({va}, 0): the free build skips the ASSERT {detail}"),
            );
        }
        if !self.windows.io_allocate_mdl_fits(va, length) {
            return self.note_null(Ok(None));
        }
        let span = span_pages(va, length as u64);
        let (capacity, flags) = if span <= MDL_FIXED_SIZE_PAGES {
            (MDL_FIXED_SIZE_PAGES, MdlFlags::ALLOCATED_FIXED_SIZE)
        } else {
            (span, MdlFlags::empty())
        };
        // Validate the IRP and walk its chain before allocating, so a failure leaks nothing.
        // A chain member that was freed is touched as in C: special pool catches it (0x50).
        let mut tail = None;
        if let Some(head) = irp {
            let head = head?;
            if secondary_buffer {
                if head.is_none() {
                    return Err(self.assert_failed(
                        "secondary buffer for an IRP with no MdlAddress (semantics §3.2)",
                    ));
                }
                let mut cur = head;
                let mut guard = 0usize;
                while let Some(m) = cur {
                    let m = self.deref_mdl(Some(m))?;
                    tail = Some(m);
                    cur = self.slot(m)?.mdl.next;
                    guard += 1;
                    if guard > self.mdls.len() {
                        return Err(self.assert_failed("IRP MDL chain is cyclic"));
                    }
                }
            }
        }
        let id = self.new_mdl(va, length, capacity, MdlStorage::IoAllocateMdl, flags)?;
        if let (Some(t), true) = (tail, secondary_buffer) {
            self.slot_mut(t)?.mdl.next = Some(id);
        }
        Ok(Some(id))
    }

    /// The work of [`Machine::mm_create_mdl`](crate::Machine::mm_create_mdl) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_create_mdl(&mut self, base: Va, length: u32) -> Result<Option<MdlId>> {
        let span = span_pages(base, length as u64);
        if crate::addr::size_of_mdl(base, length as u64) > 0xFFFF {
            return self.note_null(Ok(None));
        }
        Ok(Some(self.new_mdl(
            base,
            length,
            span,
            MdlStorage::Pool,
            MdlFlags::empty(),
        )?))
    }

    /// The work of [`Machine::mm_initialize_mdl`](crate::Machine::mm_initialize_mdl) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_initialize_mdl(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        base: Va,
        length: u32,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.forget_lock(id)?;
        let s = self.slot_mut(id)?;
        s.mdl.next = None;
        s.mdl.size = (crate::addr::size_of_mdl(base, length as u64) & 0xFFFF) as u16;
        s.mdl.flags = MdlFlags::empty();
        s.mdl.start_va = base.page_align();
        s.mdl.byte_offset = base.byte_offset();
        s.mdl.byte_count = length;
        Ok(())
    }

    /// Moves a lock that its MDL can no longer release into the leaked-lock list.
    pub(crate) fn forget_lock(&mut self, id: MdlId) -> Result<()> {
        if let Some(lock) = self.slot_mut(id)?.lock.take() {
            let freed_at = self.birth();
            self.event(
                EventKind::MdlFreedWhileLocked,
                Some(id),
                None,
                format!(
                    "{id} released with {} page(s) still locked",
                    lock.frames.len()
                ),
            );
            self.leaked_locks.push(LeakedLock {
                mdl: id,
                lock,
                freed_at,
            });
        }
        Ok(())
    }

    /// The work of [`Machine::mm_prepare_mdl_for_reuse`](crate::Machine::mm_prepare_mdl_for_reuse) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_prepare_mdl_for_reuse(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.prepare_for_reuse(id)
    }

    fn prepare_for_reuse(&mut self, id: MdlId) -> Result<()> {
        let flags = self.slot(id)?.mdl.flags;
        if flags.contains(MdlFlags::PARTIAL_HAS_BEEN_MAPPED) {
            if !flags.contains(MdlFlags::PARTIAL) {
                return Err(
                    self.assert_failed("PARTIAL_HAS_BEEN_MAPPED without PARTIAL (semantics §3.3)")
                );
            }
            let va = self.slot(id)?.mdl.mapped_system_va;
            self.unmap_kernel(va, id)?;
        } else if !flags.contains(MdlFlags::PARTIAL)
            && flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA)
        {
            return Err(self.verifier_violation(
                verifier::FREE_MDL_STILL_MAPPED,
                id.address(),
                flags.bits() as u64,
                0,
                format!("{id} freed or reused while mapped to system VA (invariant 25)"),
            ));
        }
        Ok(())
    }

    /// The work of [`Machine::io_free_mdl`](crate::Machine::io_free_mdl) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn io_free_mdl(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.free_mdl(id)
    }

    /// `ExFreePool` of an MDL: its storage goes back to the pool without
    /// `MmPrepareMdlForReuse` — a lock still held stays held (as [`Mm::forget_lock`]
    /// records), a mapping still made through it stays mapped and leaks.
    pub(crate) fn free_mdl_storage(&mut self, id: MdlId) -> Result<()> {
        self.forget_lock(id)?;
        if let Some(s) = self.mdls.remove(id.0) {
            self.phys.release_descriptor(s.capacity as u64);
        }
        Ok(())
    }

    pub(crate) fn free_mdl(&mut self, id: MdlId) -> Result<()> {
        self.prepare_for_reuse(id)?;
        self.forget_lock(id)?;
        // A partial that inherited a mapping leaves it to its source; its record is not its own.
        if let Some(s) = self.mdls.remove(id.0) {
            self.phys.release_descriptor(s.capacity as u64);
        }
        Ok(())
    }

    // ----- driver access to MDL fields ---------------------------------------------------

    /// The work of [`Machine::mdl_set_pfn`](crate::Machine::mdl_set_pfn) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mdl_set_pfn(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        index: u32,
        value: u64,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.check_capacity(id, index.saturating_add(1))?;
        self.note_locked_array_write(id)?;
        self.slot_mut(id)?.mdl.pfns[index as usize] = value;
        Ok(())
    }

    /// The work of [`Machine::mdl_copy_pfns`](crate::Machine::mdl_copy_pfns) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mdl_copy_pfns(
        &mut self,
        src: impl Into<Option<MdlId>>,
        src_index: u32,
        dst: impl Into<Option<MdlId>>,
        dst_index: u32,
        count: u32,
    ) -> Result<()> {
        let s = self.deref_mdl(src.into())?;
        let d = self.deref_mdl(dst.into())?;
        let scap = self.slot(s)?.capacity;
        if src_index.checked_add(count).is_none_or(|e| e > scap) {
            let routine = self.routine;
            return Err(self.bug_check(
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
                [
                    s.address() + MDL_HEADER_SIZE + scap as u64 * PFN_NUMBER_SIZE,
                    0,
                    0,
                    0,
                ],
                format!("{routine} read past the PFN array of {s}"),
            ));
        }
        self.check_capacity(d, dst_index.saturating_add(count))?;
        self.note_locked_array_write(d)?;
        let vals: Vec<u64> =
            self.slot(s)?.mdl.pfns[src_index as usize..(src_index + count) as usize].to_vec();
        self.slot_mut(d)?.mdl.pfns[dst_index as usize..(dst_index + count) as usize]
            .copy_from_slice(&vals);
        Ok(())
    }

    /// Records a driver's write into the PFN array of a locked MDL ([`Machine::blame`]):
    /// unlock will dereference the frames the array names then, not the ones it locked.
    fn note_locked_array_write(&mut self, id: MdlId) -> Result<()> {
        if self.slot(id)?.lock.is_some() {
            self.note_mutation(id);
        }
        Ok(())
    }

    /// The work of [`Machine::mdl_set_flags`](crate::Machine::mdl_set_flags) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mdl_set_flags(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        flags: MdlFlags,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.slot_mut(id)?.mdl.flags = flags;
        Ok(())
    }

    /// The work of [`Machine::mdl_set_next`](crate::Machine::mdl_set_next) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mdl_set_next(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        next: Option<MdlId>,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.slot_mut(id)?.mdl.next = next;
        Ok(())
    }
}
