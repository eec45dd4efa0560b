//! `MmProbeAndLockPages`, `MmProbeAndLockProcessPages`, `MmUnlockPages` ([semantics §2], [§3.4], [§3.5]).
//!
//! [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
//! [§3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
//! [§3.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.5

use crate::addr::{LIST_HEAD, MM_HIGHEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, PAGE_SIZE, Pfn, Va};
use crate::bugcheck::{BugCheckCode, process_has_locked_pages, verifier};
use crate::events::EventKind;
use crate::fault::{Fault, Result};
use crate::mdl::{AccessMode, LockOperation, LockRecord, Mdl, MdlFlags, MdlId};
use crate::mm::Mm;
use crate::pfn::MAX_LOCKS_PER_PAGE;
use crate::space::Pid;
use crate::status::NtStatus;
use crate::vm::Who;

/// The value the model writes over a PFN array after `MmUnlockPages` ([semantics §3.5]: the
/// array is garbage after unlock; ReactOS overwrites it). It names no frame.
///
/// [semantics §3.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.5
pub const POISON_PFN: u64 = 0x000D_EAD0_0000_0000;

impl Mm<'_> {
    /// The work of [`Machine::mm_probe_and_lock_pages`](crate::Machine::mm_probe_and_lock_pages) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_probe_and_lock_pages(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        mode: AccessMode,
        operation: LockOperation,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.probe_and_lock(id, mode, operation, verifier::PROBE_AND_LOCK_BAD_MDL_FLAGS)
    }

    /// The work of [`Machine::mm_probe_and_lock_process_pages`](crate::Machine::mm_probe_and_lock_process_pages) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_probe_and_lock_process_pages(
        &mut self,
        mdl: impl Into<Option<MdlId>>,
        process: Pid,
        mode: AccessMode,
        operation: LockOperation,
    ) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.process(process)?;
        // The attach: the probe runs in `process`'s context, then the caller's again.
        let saved = self.current.replace(process);
        let r = self.probe_and_lock(
            id,
            mode,
            operation,
            verifier::PROBE_AND_LOCK_PROCESS_PAGES_BAD_MDL_FLAGS,
        );
        self.current = saved;
        r
    }

    /// The steps of a probe and lock ([semantics §3.4]): the MDL's preconditions, the range
    /// check, the probe of every page, the lock ASSERT, then the commit.
    ///
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    fn probe_and_lock(
        &mut self,
        id: MdlId,
        mode: AccessMode,
        operation: LockOperation,
        bad_flags_subcode: u64,
    ) -> Result<()> {
        let m = self.slot(id)?.mdl.clone();
        self.check_probeable(id, &m, bad_flags_subcode)?;
        let n = m.page_count();
        self.check_capacity(id, n)?;
        self.check_probe_range(id, &m, mode)?;
        let a = m.virtual_address();
        let user = a <= MM_HIGHEST_USER_ADDRESS;
        let write = operation != LockOperation::IoReadAccess;
        let frames = self.probe_phase(id, a, n as usize, mode, write && user)?;
        if user {
            self.note_probe_of_mdl_mapping(id, a, n as u64);
        }
        let owner = if user { self.current_process() } else { None };
        self.check_lockable(&frames)?;
        // A lock record without MDL_PAGES_LOCKED (a driver cleared the flag) is a lock the MDL
        // no longer knows it holds: it leaks, as it would on Windows.
        self.forget_lock(id)?;
        // 4-5. Commit flags; charge the process for user addresses.
        {
            let s = self.slot_mut(id)?;
            s.mdl.flags.set(MdlFlags::WRITE_OPERATION, write);
            s.mdl.flags |= MdlFlags::PAGES_LOCKED;
            s.mdl.process = owner;
        }
        if let Some(p) = owner {
            self.process_mut(p)?.number_of_locked_pages += n as u64;
        }
        // 6b. Lock phase: one reference per page, the frame recorded in its slot.
        for (i, &pfn) in frames.iter().enumerate() {
            let _ = self.phys.reference(pfn);
            self.slot_mut(id)?.mdl.pfns[i] = pfn.0;
            self.counters.pages_locked += 1;
        }
        let birth = self.birth();
        self.slot_mut(id)?.lock = Some(LockRecord {
            frames,
            charged: owner.map(|p| (p, n as u64)),
            operation,
            mode,
            birth,
        });
        Ok(())
    }

    /// Records a lock taken through a user VA that is an MDL's user mapping
    /// ([`EventKind::ProbedMdlUserMapping`]).
    fn note_probe_of_mdl_mapping(&mut self, id: MdlId, a: Va, n: u64) {
        let Some(p) = self.current_process().and_then(|p| self.processes.get(&p)) else {
            return;
        };
        let hit = (0..n).find_map(|i| {
            let va = a.page_align().wrapping_add(i * PAGE_SIZE);
            match p.space.pte(va)?.kind {
                crate::space::PteKind::Mdl(mid) => Some((va, mid)),
                _ => None,
            }
        });
        if let Some((va, mid)) = hit {
            let first = self.mapping(mid).map(|m| m.mdl);
            let detail = match first {
                Some(f) => format!("{id} probed and locked {va}, which is a user mapping of {f}"),
                None => format!("{id} probed and locked {va}, which is an MDL's user mapping"),
            };
            self.event(EventKind::ProbedMdlUserMapping, Some(id), Some(va), detail);
        }
    }

    /// Only a well-formed ([invariant 1]), fresh MDL may be probed: not locked, mapped, built
    /// for non-paged pool, partial or I/O space (a 0xC4 with `bad_flags_subcode`,
    /// [invariant 4]).
    ///
    /// [invariant 1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-1
    /// [invariant 4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-4
    fn check_probeable(&mut self, id: MdlId, m: &Mdl, bad_flags_subcode: u64) -> Result<()> {
        if m.byte_count == 0 {
            return Err(self.assert_failed("ByteCount != 0 (invariant 1)"));
        }
        if m.byte_offset as u64 >= PAGE_SIZE || !m.start_va.is_page_aligned() {
            return Err(
                self.assert_failed("ByteOffset < PAGE_SIZE and StartVa page-aligned (invariant 1)")
            );
        }
        let bad = MdlFlags::PAGES_LOCKED
            | MdlFlags::MAPPED_TO_SYSTEM_VA
            | MdlFlags::SOURCE_IS_NONPAGED_POOL
            | MdlFlags::PARTIAL
            | MdlFlags::IO_SPACE;
        if m.flags.intersects(bad) {
            return Err(self.verifier_violation(
                bad_flags_subcode,
                id.address(),
                m.flags.bits() as u64,
                (m.flags & bad).bits() as u64,
                format!(
                    "probe of {id} with flags {:?}: only a fresh MDL may be probed (invariant 4)",
                    m.flags & bad
                ),
            ));
        }
        Ok(())
    }

    /// Step 1, the range check ([invariant 5]): a user-mode range ending above
    /// `MM_USER_PROBE_ADDRESS` or wrapping raises an access violation; a kernel-mode range
    /// that wraps reads its first byte ([semantics §3.4]).
    ///
    /// [invariant 5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-5
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    fn check_probe_range(&mut self, id: MdlId, m: &Mdl, mode: AccessMode) -> Result<()> {
        let a = m.virtual_address();
        let end = a.checked_add(m.byte_count as u64);
        // 1. Range check for user-mode callers (invariant 5).
        if mode == AccessMode::UserMode && end.is_none_or(|e| e > MM_USER_PROBE_ADDRESS) {
            self.slot_mut(id)?.mdl.pfns[0] = LIST_HEAD;
            return Err(Fault::Raise(NtStatus::ACCESS_VIOLATION));
        }
        if end.is_none() {
            // KernelMode has no range check (§3.4 step 1): the probe reads the first byte, and
            // an invalid system address there is PAGE_FAULT_IN_NONPAGED_AREA (0x50), which no
            // exception handler catches. Only if that byte were readable would the wrap reach
            // the next page (address 0, never mapped): an access violation.
            self.slot_mut(id)?.mdl.pfns[0] = LIST_HEAD;
            let mut byte = [0u8; 1];
            self.vm().read_as(Who::Kernel, a, &mut byte)?;
            return Err(Fault::Raise(NtStatus::ACCESS_VIOLATION));
        }
        Ok(())
    }

    /// Steps 2-3, the probe phase ([semantics §3.4]): touches each of the `n` pages at `a`
    /// (demand-faulting it in, for write when `write_user`), poisoning each slot first;
    /// returns the frames the probe resolved. A fault leaves the MDL unlocked
    /// ([invariant 6]).
    ///
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    /// [invariant 6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-6
    fn probe_phase(
        &mut self,
        id: MdlId,
        a: Va,
        n: usize,
        mode: AccessMode,
        write_user: bool,
    ) -> Result<Vec<Pfn>> {
        let user = a <= MM_HIGHEST_USER_ADDRESS;
        // 2-3. Probe phase: touch each page (demand-faulting it in), for write if needed.
        let who = match (mode, user, self.current_process()) {
            (AccessMode::UserMode, _, Some(p)) if user => Who::User(p),
            _ => Who::Kernel,
        };
        // Each slot is poisoned (LIST_HEAD) before its page is probed; the frames the probe
        // resolved are the ones locked: probing later pages (a demand-zero fault of an invalid
        // page) changes no valid PTE, so they are what a second walk would find (6a).
        let mut frames = Vec::with_capacity(n);
        let probed = self.vm().probe_pages(who, a, n, write_user, &mut frames);
        let poisoned = match probed {
            Ok(()) => n,
            Err((i, _)) => i + 1,
        };
        {
            let pfns = &mut self.slot_mut(id)?.mdl.pfns;
            let k = poisoned.min(pfns.len());
            pfns[..k].fill(LIST_HEAD);
        }
        if let Err((_, f)) = probed {
            if matches!(f, Fault::Raise(_)) {
                self.slot_mut(id)?.mdl.process = None;
            }
            return Err(f);
        }
        Ok(frames)
    }

    /// 6a. The lock ASSERT ([invariant 7]: in use, fewer than 2500 references) for every
    /// page *before* any count changes, so a failure (an ASSERT bug check) leaves the books
    /// as they were.
    ///
    /// [invariant 7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-7
    fn check_lockable(&mut self, frames: &[Pfn]) -> Result<()> {
        // Each distinct frame with its count, in ascending frame order (a sorted copy rather
        // than a map: no allocation per frame).
        let mut sorted = frames.to_vec();
        sorted.sort_unstable();
        for run in sorted.chunk_by(|a, b| a == b) {
            let (pfn, k) = (run[0], run.len() as u32);
            let usable = self.phys.entry(pfn).is_some_and(|e| {
                e.reference_count > 0 && e.reference_count + (k - 1) < MAX_LOCKS_PER_PAGE
            });
            if !usable {
                return Err(self.assert_failed(format!(
                    "{pfn} must be in use and locked fewer than {MAX_LOCKS_PER_PAGE} times (invariant 7)"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn pfn_list_corrupt(&mut self, pfn: Pfn, share: u32, id: MdlId) -> Fault {
        self.bug_check(
            BugCheckCode::PFN_LIST_CORRUPT,
            [0x07, pfn.0, share as u64, 0],
            format!("{pfn} unlocked more times than locked, via {id} (invariant 8)"),
        )
    }

    /// The work of [`Machine::mm_unlock_pages`](crate::Machine::mm_unlock_pages) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn mm_unlock_pages(&mut self, mdl: impl Into<Option<MdlId>>) -> Result<()> {
        let id = self.deref_mdl(mdl.into())?;
        self.unlock_pages(id)
    }

    /// The steps of an unlock ([semantics §3.5]): the MDL's preconditions, the mappings
    /// that outlive or lose their lock, the dereferences checked then made, the process's
    /// charge, and the poisoned PFN array.
    ///
    /// [semantics §3.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.5
    pub(crate) fn unlock_pages(&mut self, id: MdlId) -> Result<()> {
        let m = self.slot(id)?.mdl.clone();
        self.check_unlockable(id, &m)?;
        self.unmap_before_unlock(id, &m)?;
        let n = m.page_count() as u64;
        // Unlock by the PFN array, as Windows does; a driver that changed it unlocks the wrong
        // frames. Validate every dereference first so a bug check leaves the books unchanged.
        let array: Vec<Pfn> = m.frames().collect();
        self.check_unlock_counts(id, &array)?;
        if let Some(p) = m.process {
            let Some(pr) = self.processes.get_mut(&p) else {
                return Err(self.assert_failed("MDL's Process no longer exists"));
            };
            if pr.number_of_locked_pages == 0 {
                return Err(self.assert_failed("Process->NumberOfLockedPages > 0 (invariant 11)"));
            }
            pr.number_of_locked_pages = pr.number_of_locked_pages.saturating_sub(n);
        }
        self.reconcile_lock_record(id, &m, &array, n)?;
        self.counters.pages_unlocked += array.len() as u64;
        for pfn in array {
            if let Err((pfn, share)) = self.phys.dereference(pfn) {
                return Err(self.pfn_list_corrupt(pfn, share, id));
            }
        }
        self.report_frames_freed_while_mapped();
        let s = self.slot_mut(id)?;
        s.mdl
            .flags
            .remove(MdlFlags::PAGES_LOCKED | MdlFlags::IO_SPACE);
        for (i, slot) in s.mdl.pfns.iter_mut().take(n as usize).enumerate() {
            *slot = POISON_PFN + i as u64;
        }
        Ok(())
    }

    /// Only a locked MDL that probe and lock filled may be unlocked: not one built for
    /// non-paged pool (0xC4/0x7D), not a partial (0xC4/0xB4), not one that is not locked
    /// (0xC4/0x7C, or 0x76/1 with `track_locked_pages`, [semantics §6]; without Verifier
    /// the unlock runs on the PFN array, where a page whose reference would go below its
    /// share is `PFN_LIST_CORRUPT (0x4E)` 0x07, [`crate::verifier`]) (invariants
    /// [8][invariant 8], [24][invariant 24]); `ByteCount != 0` ([invariant 1]).
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    /// [invariant 1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-1
    /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
    /// [invariant 24]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-24
    fn check_unlockable(&mut self, id: MdlId, m: &Mdl) -> Result<()> {
        if m.flags.contains(MdlFlags::SOURCE_IS_NONPAGED_POOL) {
            return Err(self.verifier_violation(
                verifier::UNLOCK_PAGES_NONPAGED_POOL_MDL,
                id.address(),
                m.flags.bits() as u64,
                0,
                format!("MmUnlockPages of {id}, built by MmBuildMdlForNonPagedPool (invariant 8)"),
            ));
        }
        if m.flags.contains(MdlFlags::PARTIAL) {
            return Err(self.verifier_violation(
                verifier::UNLOCK_PAGES_PARTIAL_MDL,
                id.address(),
                m.flags.bits() as u64,
                MdlFlags::PARTIAL.bits() as u64,
                format!("MmUnlockPages of partial {id} (invariants 8, 24)"),
            ));
        }
        if !m.flags.contains(MdlFlags::PAGES_LOCKED) {
            if self.track_locked_pages {
                let count = m
                    .process
                    .and_then(|p| self.processes.get(&p))
                    .map_or(0, |p| p.number_of_locked_pages);
                return Err(self.bug_check(
                    BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
                    [
                        process_has_locked_pages::UNLOCK_PAGES_NOT_LOCKED,
                        id.address(),
                        count,
                        0,
                    ],
                    format!("MmUnlockPages of {id}, which is not locked (semantics §6)"),
                ));
            }
            if self.verifier.enabled {
                return Err(self.verifier_violation(
                    verifier::UNLOCK_PAGES_NEVER_LOCKED,
                    id.address(),
                    m.flags.bits() as u64,
                    0,
                    format!("MmUnlockPages of {id}, which is not locked (invariant 8)"),
                ));
            }
        }
        if m.byte_count == 0 {
            return Err(self.assert_failed("ByteCount != 0 (invariant 1)"));
        }
        Ok(())
    }

    /// The mappings at unlock: a partial's own mapping of this source is an event
    /// ([invariant 23]); the kernel mapping is removed (step 1); user mappings stay, an event
    /// ([invariant 9]).
    ///
    /// [invariant 9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-9
    /// [invariant 23]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-23
    fn unmap_before_unlock(&mut self, id: MdlId, m: &Mdl) -> Result<()> {
        // Partials that mapped this source privately now map pages about to lose their lock.
        let partial_maps: Vec<MdlId> = self
            .mappings
            .iter()
            .filter(|(_, mp)| mp.source == Some(id))
            .map(|(_, mp)| mp.mdl)
            .collect();
        for p in partial_maps {
            self.event(
                EventKind::SourceUnlockedWhilePartialMapped,
                Some(p),
                None,
                format!("{id} unlocked while partial {p} still has its own mapping (invariant 23)"),
            );
        }
        // 1. The kernel mapping goes away automatically.
        if m.flags.contains(MdlFlags::MAPPED_TO_SYSTEM_VA) {
            self.unmap_kernel(m.mapped_system_va, id)?;
        }
        // User mappings stay (invariant 9).
        if self
            .mappings
            .iter()
            .any(|(_, mp)| mp.mdl == id && mp.is_user())
        {
            self.event(
                EventKind::UnlockedWhileUserMapped,
                Some(id),
                None,
                format!("{id} unlocked while still mapped into user space (invariant 9)"),
            );
        }
        Ok(())
    }

    /// Every frame of the PFN array can lose one reference per occurrence without going
    /// below its share: else `PFN_LIST_CORRUPT (0x4E, 7)` ([invariant 8]).
    ///
    /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
    fn check_unlock_counts(&mut self, id: MdlId, array: &[Pfn]) -> Result<()> {
        // Each distinct frame with its count in the array, in ascending frame order (a
        // sorted copy rather than a map: no allocation per frame).
        let mut sorted = array.to_vec();
        sorted.sort_unstable();
        for run in sorted.chunk_by(|a, b| a == b) {
            let (pfn, k) = (run[0], run.len() as u32);
            let Some(e) = self.phys.entry(pfn) else {
                return Err(self.pfn_list_corrupt(pfn, 0, id));
            };
            let floor = u32::from(e.share_count > 0);
            if e.reference_count < k + floor {
                let share = e.share_count;
                return Err(self.pfn_list_corrupt(pfn, share, id));
            }
        }
        Ok(())
    }

    /// Takes the MDL's lock record; where the PFN array or the process charge no longer
    /// match what was locked (a driver changed them), records the difference the books
    /// will carry (an event for a changed array).
    fn reconcile_lock_record(&mut self, id: MdlId, m: &Mdl, array: &[Pfn], n: u64) -> Result<()> {
        let record = self.slot_mut(id)?.lock.take();
        let (rec_frames, rec_charge) = match &record {
            Some(r) => (r.frames.clone(), r.charged),
            None => (Vec::new(), None),
        };
        if rec_frames != *array {
            self.event(
                EventKind::PfnArrayChangedWhileLocked,
                Some(id),
                None,
                format!("PFN array of {id} differs from the pages it locked; unlock dereferences the array's frames"),
            );
            for f in &rec_frames {
                *self.ref_adjust.entry(*f).or_default() += 1;
            }
            for f in array {
                *self.ref_adjust.entry(*f).or_default() -= 1;
            }
            self.ref_adjust.retain(|_, v| *v != 0);
        }
        let actual_charge = m.process.map(|p| (p, n));
        if rec_charge != actual_charge {
            if let Some((p, k)) = rec_charge {
                *self.locked_pages_adjust.entry(p).or_default() += k as i64;
            }
            if let Some((p, k)) = actual_charge {
                *self.locked_pages_adjust.entry(p).or_default() -= k as i64;
            }
            self.locked_pages_adjust.retain(|_, v| *v != 0);
        }
        Ok(())
    }
}
