//! Virtual memory: `VirtualAlloc`/`VirtualFree`/`VirtualProtect`, and every read,
//! write and copy by virtual address, user or kernel, with faults exactly
//! where Windows would take them ([semantics §1.1], [§2]).
//!
//! * User code reaches only its own process's user half; anything else, an
//!   uncommitted or no-access page, or a write to a read-only page raises
//!   `STATUS_ACCESS_VIOLATION`.
//! * Kernel code reaches system space in every context and the user half of
//!   the *current* process ([`Machine::attach`]). A bad user address raises
//!   `STATUS_ACCESS_VIOLATION` (a driver catches it in `__try`); an invalid
//!   system address is `PAGE_FAULT_IN_NONPAGED_AREA (0x50)`; a write through
//!   a read-only system mapping is `ATTEMPTED_WRITE_TO_READONLY_MEMORY (0xBE)`.
//! * Committed private pages are demand-zero: the first touch takes a zeroed frame.
//!
//! [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
//! [§2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2

use crate::addr::{
    MM_HIGHEST_USER_ADDRESS, MM_LOWEST_USER_ADDRESS, PAGE_BYTES, PAGE_SIZE, Pfn, Va,
};
use crate::bugcheck::BugCheckCode;
use crate::fault::{Fault, Result};
use crate::log::{Access, Actor};
use crate::machine::Machine;
use crate::pfn::{FrameOwner, FrameRun, NoFrame};
use crate::shadow::{Label, LabelSpan};
use crate::space::{PageDesc, PageDescs, Pid, Protection, Pte, PteKind, SpaceId, Vad, VadKind};
use crate::status::NtStatus;

/// Pages translated per [`Machine::resolve_valid`] call.
const BATCH: usize = 32;

/// The translations of one access's pages, a batch at a time: [`Machine::resolve_valid`]
/// for the stretch of pages that resolve with no side effect, [`Machine::resolve`] (one
/// page, demand-zero faults, events, faults) where a stretch stops. Every page gets the
/// result `resolve` would give at that point: nothing an access does between two pages
/// (copying bytes, splicing labels, logging, a demand-zero fault of an *invalid* page,
/// recording an event) changes a valid PTE of the batch.
struct Pages {
    who: Who,
    write: bool,
    space: SpaceId,
    base: u64,
    len: usize,
    frames: [Pfn; BATCH],
}

impl Pages {
    fn new(who: Who, write: bool) -> Pages {
        Pages {
            who,
            write,
            space: SpaceId::System,
            base: 0,
            len: 0,
            frames: [Pfn(0); BATCH],
        }
    }

    /// `m.resolve(who, at, write)`; `bytes_left` counts the access's bytes from `at` on
    /// (how far a batch may look ahead).
    #[inline]
    fn resolve(&mut self, m: &mut Machine, at: Va, bytes_left: u64) -> Result<(SpaceId, Pfn)> {
        let vpn = at.vpn();
        if let Some(i) = vpn.checked_sub(self.base).filter(|&i| i < self.len as u64) {
            return Ok((self.space, self.frames[i as usize]));
        }
        let pages = (at.byte_offset() as u64)
            .saturating_add(bytes_left)
            .div_ceil(PAGE_SIZE)
            .clamp(1, BATCH as u64) as usize;
        let (space, n) = m.resolve_valid(self.who, at, self.write, &mut self.frames[..pages]);
        (self.space, self.base, self.len) = (space, vpn, n);
        if n == 0 {
            return m.resolve(self.who, at, self.write);
        }
        Ok((space, self.frames[0]))
    }

    /// The next run of an access at `at` with `bytes_left` bytes to go: `at`'s page
    /// resolved (as `m.resolve`, faults included), extended over the following pages of the
    /// current batch while their frames continue it in host memory ([`FrameRun::extend`]).
    /// The run's pages are the access's next pages, in order, each with the frame
    /// `resolve` gives it.
    #[inline]
    fn run(&mut self, m: &mut Machine, at: Va, bytes_left: u64) -> Result<(SpaceId, FrameRun)> {
        let (space, pfn) = self.resolve(m, at, bytes_left)?;
        let off = at.byte_offset() as usize;
        let left = usize::try_from(bytes_left).unwrap_or(usize::MAX);
        let mut r = FrameRun::new(pfn, off, (PAGE_BYTES - off).min(left));
        // `at`'s page is frame `i - 1` of the batch when the batch holds it.
        let mut i = match at.vpn().checked_sub(self.base) {
            Some(k) if k < self.len as u64 => k as usize + 1,
            _ => return Ok((space, r)),
        };
        while r.len < left
            && i < self.len
            && r.extend(self.frames[i], 0, PAGE_BYTES.min(left - r.len))
        {
            i += 1;
        }
        Ok((space, r))
    }
}

/// `MEM_COMMIT`.
pub const MEM_COMMIT: u32 = 0x1000;
/// `MEM_RESERVE`.
pub const MEM_RESERVE: u32 = 0x2000;
/// `MEM_DECOMMIT`.
pub const MEM_DECOMMIT: u32 = 0x4000;
/// `MEM_RELEASE`.
pub const MEM_RELEASE: u32 = 0x8000;
pub use crate::addr::ALLOCATION_GRANULARITY;

mod query;
pub use query::{MEM_FREE, MemoryBasicInformation};

/// Who is accessing memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Who {
    User(Pid),
    Kernel,
}

impl Who {
    fn actor(self) -> Actor {
        match self {
            Who::User(p) => Actor::User(p),
            Who::Kernel => Actor::Kernel,
        }
    }
}

const AV: Fault = Fault::Raise(NtStatus::ACCESS_VIOLATION);

/// True when `[va, va + len)` runs past the top of the address space (a range that ends
/// exactly at 2^64 — the last byte included — does not wrap).
fn wraps(va: Va, len: u64) -> bool {
    len != 0 && va.0.checked_add(len - 1).is_none()
}

impl Machine {
    // ----- VirtualAlloc / VirtualFree / VirtualProtect ---------------------------------

    /// [`NtAllocateVirtualMemory`]: reserves and/or commits private memory in `pid`.
    ///
    /// User mode calls it through [`VirtualAlloc`].
    ///
    /// `base = None` picks the lowest free range at 64 KiB granularity. With
    /// `MEM_RESERVE` a new VAD is created (its base rounded down to 64 KiB);
    /// `MEM_COMMIT` alone commits pages of an existing reservation. Committed
    /// pages are demand-zero.
    ///
    /// # Errors
    /// `Status`: `STATUS_INVALID_PARAMETER` (size 0, bad flags, range outside
    /// user space), `STATUS_INVALID_PAGE_PROTECTION`, `STATUS_CONFLICTING_ADDRESSES`,
    /// `STATUS_NO_MEMORY` (no free range), `STATUS_MEMORY_NOT_ALLOCATED` (commit
    /// outside a reservation), `STATUS_PROCESS_IS_TERMINATING`.
    ///
    /// # Examples
    /// ```
    /// use mdlsim::{Config, Machine, vm::{MEM_COMMIT, MEM_RESERVE}, space::Protection};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let p = m.create_process("app").unwrap();
    /// let va = m.virtual_alloc(p, None, 0x3000, MEM_COMMIT | MEM_RESERVE, Protection::ReadWrite).unwrap();
    /// assert_eq!(m.user_read(p, va, 4).unwrap(), vec![0; 4]); // demand-zero
    /// ```
    ///
    /// [`VirtualAlloc`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualalloc
    /// [`NtAllocateVirtualMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntallocatevirtualmemory
    #[doc(alias = "NtAllocateVirtualMemory")]
    #[doc(alias = "VirtualAlloc")]
    pub fn virtual_alloc(
        &mut self,
        pid: Pid,
        base: Option<Va>,
        size: u64,
        alloc_type: u32,
        protect: Protection,
    ) -> Result<Va> {
        self.enter("NtAllocateVirtualMemory")?;
        self.live_process(pid)?;
        let bad = Fault::Status(NtStatus::INVALID_PARAMETER);
        if size == 0 || alloc_type & !(MEM_COMMIT | MEM_RESERVE) != 0 || alloc_type == 0 {
            return Err(bad);
        }
        let step = self.step;
        let desc = if alloc_type & MEM_COMMIT != 0 {
            PageDesc::Committed(protect)
        } else {
            PageDesc::Reserved
        };
        if alloc_type & MEM_RESERVE != 0 {
            let (start, pages) = match base {
                Some(b) => {
                    let start = Va(b.0 & !(ALLOCATION_GRANULARITY - 1));
                    let end = b.checked_add(size).ok_or(bad.clone())?;
                    let end =
                        end.0.checked_add(PAGE_SIZE - 1).ok_or(bad.clone())? & !(PAGE_SIZE - 1);
                    if start < MM_LOWEST_USER_ADDRESS || end - 1 > MM_HIGHEST_USER_ADDRESS.0 {
                        return Err(bad);
                    }
                    (start, (end - start.0) / PAGE_SIZE)
                }
                None => {
                    let pages = crate::addr::bytes_to_pages(size);
                    let start = self
                        .process_mut(pid)?
                        .space
                        .find_free(pages)
                        .ok_or(Fault::Status(NtStatus::NO_MEMORY))?;
                    (start, pages)
                }
            };
            let space = &mut self.process_mut(pid)?.space;
            if !space.is_free(start, pages) {
                return Err(Fault::Status(NtStatus::CONFLICTING_ADDRESSES));
            }
            space.insert_vad(Vad {
                start,
                pages,
                kind: VadKind::Private(PageDescs::new(pages, desc)),
                created_step: step,
            });
            return Ok(start);
        }
        // MEM_COMMIT inside an existing reservation.
        let b = base.ok_or(bad.clone())?;
        let start = b.page_align();
        let end = b.checked_add(size).ok_or(bad.clone())?;
        let pages = (end.0.div_ceil(PAGE_SIZE)) - start.vpn();
        let space = &mut self.process_mut(pid)?.space;
        let vad = space
            .vad_mut(start)
            .ok_or(Fault::Status(NtStatus::MEMORY_NOT_ALLOCATED))?;
        let first = start.vpn() - vad.start.vpn();
        if first + pages > vad.pages {
            return Err(Fault::Status(NtStatus::CONFLICTING_ADDRESSES));
        }
        let VadKind::Private(descs) = &mut vad.kind else {
            return Err(Fault::Status(NtStatus::CONFLICTING_ADDRESSES));
        };
        for (a, b, d) in descs.runs_in(first, first + pages) {
            if d == PageDesc::Reserved {
                descs.fill(a, b, desc);
            }
        }
        Ok(start)
    }

    /// [`NtFreeVirtualMemory`]: `MEM_RELEASE` frees a whole reservation (`base` its
    /// start, `size` 0); `MEM_DECOMMIT` decommits the pages of `[base, base+size)`.
    ///
    /// User mode calls it through [`VirtualFree`].
    ///
    /// Freed pages drop their share: a page that is locked by an MDL stays
    /// allocated (Transition) and goes to nobody else until its last unlock
    /// ([semantics §2], [invariant 12]).
    ///
    /// # Errors
    /// `Status`: `STATUS_FREE_VM_NOT_AT_BASE`, `STATUS_MEMORY_NOT_ALLOCATED`,
    /// `STATUS_INVALID_PARAMETER`, `STATUS_UNABLE_TO_DELETE_SECTION` for an MDL
    /// mapping (only `MmUnmapLockedPages` removes it).
    ///
    /// [`VirtualFree`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfree
    /// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
    /// [invariant 12]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-12
    /// [`NtFreeVirtualMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntfreevirtualmemory
    #[doc(alias = "NtFreeVirtualMemory")]
    #[doc(alias = "VirtualFree")]
    pub fn virtual_free(&mut self, pid: Pid, base: Va, size: u64, free_type: u32) -> Result<()> {
        self.enter("NtFreeVirtualMemory")?;
        self.live_process(pid)?;
        let bad = Fault::Status(NtStatus::INVALID_PARAMETER);
        let space = &self.process(pid)?.space;
        let vad = space
            .vad(base)
            .ok_or(Fault::Status(NtStatus::MEMORY_NOT_ALLOCATED))?;
        if matches!(vad.kind, VadKind::MdlMapping(_)) {
            return Err(Fault::Status(NtStatus::UNABLE_TO_DELETE_SECTION));
        }
        let vad_start = vad.start;
        let vad_pages = vad.pages;
        match free_type {
            MEM_RELEASE => {
                if size != 0 {
                    return Err(bad);
                }
                if base != vad_start {
                    return Err(Fault::Status(NtStatus::FREE_VM_NOT_AT_BASE));
                }
                self.drop_user_ptes(pid, vad_start.vpn(), vad_pages)?;
                self.process_mut(pid)?.space.remove_vad(vad_start.vpn());
                Ok(())
            }
            MEM_DECOMMIT => {
                let start = base.page_align();
                let end = base.checked_add(size).ok_or(bad.clone())?;
                let pages = if size == 0 {
                    vad_pages - (start.vpn() - vad_start.vpn())
                } else {
                    end.0.div_ceil(PAGE_SIZE) - start.vpn()
                };
                if start.vpn() + pages > vad_start.vpn() + vad_pages {
                    return Err(bad);
                }
                self.drop_user_ptes(pid, start.vpn(), pages)?;
                let first = start.vpn() - vad_start.vpn();
                if let Some(v) = self.process_mut(pid)?.space.vad_mut(vad_start) {
                    if let VadKind::Private(d) = &mut v.kind {
                        d.fill(first, first + pages, PageDesc::Reserved);
                    }
                }
                Ok(())
            }
            _ => Err(bad),
        }
    }

    /// Removes the valid PTEs of `[vpn, vpn+pages)` in `pid`, dropping the shares
    /// of private pages (`MiDeletePte` → `MiDecrementShareCount`).
    pub(crate) fn drop_user_ptes(&mut self, pid: Pid, vpn: u64, pages: u64) -> Result<()> {
        let removed: Vec<(u64, Pte)> = {
            let space = &mut self.process_mut(pid)?.space;
            let keys: Vec<u64> = space.ptes.range(vpn..vpn + pages).map(|(k, _)| k).collect();
            keys.into_iter()
                .filter_map(|k| space.ptes.remove(&k).map(|p| (k, p)))
                .collect()
        };
        for (vpn, pte) in removed {
            if pte.kind == PteKind::Private {
                if let Err((pfn, share)) = self.phys.drop_share(pte.pfn) {
                    return Err(self.bug_check(
                        BugCheckCode::PFN_LIST_CORRUPT,
                        [0x99, pfn.0, share as u64, vpn << 12],
                        "share decrement on a page with no share (semantics §7, PFN_LIST_CORRUPT 0x99)",
                    ));
                }
            }
        }
        self.report_frames_freed_while_mapped();
        Ok(())
    }

    /// `NtProtectVirtualMemory`: changes the protection of committed pages; returns the old
    /// protection of the first page.
    ///
    /// User mode calls it through [`VirtualProtect`].
    ///
    /// # Errors
    /// `Status(STATUS_NOT_COMMITTED)` if a page is not committed;
    /// `STATUS_INVALID_PARAMETER` for an empty or foreign range.
    ///
    /// [`VirtualProtect`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualprotect
    #[doc(alias = "NtProtectVirtualMemory")]
    #[doc(alias = "VirtualProtect")]
    pub fn virtual_protect(
        &mut self,
        pid: Pid,
        base: Va,
        size: u64,
        protect: Protection,
    ) -> Result<Protection> {
        self.enter("NtProtectVirtualMemory")?;
        self.live_process(pid)?;
        let bad = Fault::Status(NtStatus::INVALID_PARAMETER);
        let end = base.checked_add(size.max(1)).ok_or(bad.clone())?;
        let start = base.page_align();
        let pages = end.0.div_ceil(PAGE_SIZE) - start.vpn();
        let space = &mut self.process_mut(pid)?.space;
        let vad = space
            .vad_mut(start)
            .ok_or(Fault::Status(NtStatus::NOT_COMMITTED))?;
        let first = start.vpn() - vad.start.vpn();
        if first + pages > vad.pages {
            return Err(bad);
        }
        let VadKind::Private(descs) = &mut vad.kind else {
            return Err(Fault::Status(NtStatus::CONFLICTING_ADDRESSES));
        };
        let mut old = None;
        for (_, _, d) in descs.runs_in(first, first + pages) {
            match d {
                PageDesc::Committed(p) => {
                    old.get_or_insert(p);
                }
                PageDesc::Reserved => return Err(Fault::Status(NtStatus::NOT_COMMITTED)),
            }
        }
        descs.fill(first, first + pages, PageDesc::Committed(protect));
        for (_, pte) in space.ptes.range_mut(start.vpn()..start.vpn() + pages) {
            if pte.kind == PteKind::Private {
                pte.protection = protect;
            }
        }
        Ok(old.unwrap_or(protect))
    }

    // ----- translation -------------------------------------------------------------------

    /// Resolves one page for an access, demand-faulting private pages in.
    fn resolve(&mut self, who: Who, va: Va, write: bool) -> Result<(SpaceId, Pfn)> {
        let space_id = match who {
            Who::User(pid) => {
                if !va.is_user() {
                    return Err(AV);
                }
                SpaceId::Process(pid)
            }
            Who::Kernel => {
                if va.is_system() {
                    return self.resolve_system(va, write);
                }
                if !va.is_user() {
                    return Err(AV); // non-canonical: #GP, delivered as an access violation
                }
                match self.current_process() {
                    Some(p) => SpaceId::Process(p),
                    None => return Err(AV),
                }
            }
        };
        let SpaceId::Process(pid) = space_id else {
            return Err(AV);
        };
        let Some(proc_) = self.processes.get(&pid) else {
            return Err(AV);
        };
        if let Some(pte) = proc_.space.pte(va).copied() {
            let ok = if write {
                pte.protection.can_write()
            } else {
                pte.protection.can_read()
            };
            if !ok {
                return Err(AV);
            }
            if let (true, PteKind::Mdl(mid)) = (write, pte.kind) {
                self.note_mdl_write(mid, va);
            }
            return Ok((space_id, pte.pfn));
        }
        // Not valid: demand-zero fault if the VAD page is committed and accessible.
        let Some(vad) = proc_.space.vad(va) else {
            return Err(AV);
        };
        let VadKind::Private(descs) = &vad.kind else {
            return Err(AV);
        };
        let Some(PageDesc::Committed(prot)) = descs.get(va.vpn() - vad.start.vpn()) else {
            return Err(AV);
        };
        if !(if write {
            prot.can_write()
        } else {
            prot.can_read()
        }) {
            return Err(AV);
        }
        let pfn = match self.phys.allocate(FrameOwner::Process(pid), true) {
            Ok(pfn) => pfn,
            Err(NoFrame::Exhausted) => return Err(Fault::Raise(NtStatus::NO_MEMORY)),
            Err(NoFrame::HostBudget) => return Err(self.host_budget_fault()),
        };
        self.counters.pages_zero_filled += 1;
        if let Some(p) = self.processes.get_mut(&pid) {
            p.space.ptes.insert(
                va.vpn(),
                Pte {
                    pfn,
                    protection: prot,
                    kind: PteKind::Private,
                },
            );
        }
        Ok((space_id, pfn))
    }

    /// The fast path of [`Machine::resolve`] over a stretch of pages: fills `out` with the
    /// frames of the pages from `page` on (at most `out.len()`) for which `resolve(who, _,
    /// write)` would return `Ok` at once with no side effect — a valid PTE allowing the
    /// access, and for a write not an MDL mapping whose MDL was probed for
    /// `IoReadAccess` (that write records an event). Stops at the first other page, which
    /// the caller hands to `resolve`. Returns the space and the number of frames filled.
    ///
    /// The checks are `resolve`'s and `resolve_system`'s, per page (user space and system
    /// space both start and end on page boundaries, so a page's start decides for all
    /// its bytes), with one page-table lookup per 512 pages instead of one per page.
    fn resolve_valid(&self, who: Who, page: Va, write: bool, out: &mut [Pfn]) -> (SpaceId, usize) {
        let page = page.page_align();
        let (space_id, space) = match who {
            Who::User(pid) => match self.processes.get(&pid) {
                Some(p) if page.is_user() => (SpaceId::Process(pid), &p.space),
                _ => return (SpaceId::System, 0),
            },
            Who::Kernel if page.is_system() => (SpaceId::System, &self.system),
            Who::Kernel => match self
                .current_process()
                .and_then(|pid| Some((pid, self.processes.get(&pid)?)))
            {
                Some((pid, p)) if page.is_user() => (SpaceId::Process(pid), &p.space),
                _ => return (SpaceId::System, 0),
            },
        };
        let mut vpn = page.vpn();
        // Pages left in the half `page` is in: user space ends at MM_HIGHEST_USER_ADDRESS,
        // system space at the top of the address space.
        let half_left = match space_id {
            SpaceId::Process(_) => (MM_HIGHEST_USER_ADDRESS.vpn() + 1).saturating_sub(vpn),
            SpaceId::System => (u64::MAX >> crate::addr::PAGE_SHIFT) + 1 - vpn,
        };
        let want = out
            .len()
            .min(usize::try_from(half_left).unwrap_or(usize::MAX));
        let mut n = 0;
        let mut quiet_mid = None;
        'chunks: while n < want {
            let entries = space.ptes.entries_from(vpn);
            if entries.is_empty() {
                break;
            }
            let before = n;
            for e in &entries[..entries.len().min(want - n)] {
                let Some(pte) = e else { break 'chunks };
                let ok = if write {
                    pte.protection.can_write()
                } else {
                    pte.protection.can_read()
                };
                if !ok {
                    break 'chunks;
                }
                if let (true, PteKind::Mdl(mid)) = (write, pte.kind) {
                    if quiet_mid != Some(mid) {
                        if self.mdl_write_noted(mid) {
                            break 'chunks;
                        }
                        quiet_mid = Some(mid);
                    }
                }
                out[n] = pte.pfn;
                n += 1;
            }
            vpn += (n - before) as u64;
        }
        (space_id, n)
    }

    fn resolve_system(&mut self, va: Va, write: bool) -> Result<(SpaceId, Pfn)> {
        match self.system.pte(va).copied() {
            Some(pte) if write && !pte.protection.can_write() => Err(self.bug_check(
                BugCheckCode::ATTEMPTED_WRITE_TO_READONLY_MEMORY,
                [va.0, pte.pfn.0, 0, 0],
                format!("kernel write to read-only system mapping at {va}"),
            )),
            Some(pte) if !pte.protection.can_read() => Err(self.bug_check(
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
                [va.0, write as u64, 0, 0],
                format!("kernel touched no-access system mapping at {va}"),
            )),
            Some(pte) => {
                if let (true, PteKind::Mdl(mid)) = (write, pte.kind) {
                    self.note_mdl_write(mid, va);
                }
                Ok((SpaceId::System, pte.pfn))
            }
            None => Err(self.bug_check(
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
                [va.0, write as u64, 0, 0],
                format!("kernel touched invalid system address {va}"),
            )),
        }
    }

    // ----- reads, writes, copies ---------------------------------------------------------

    /// Records one page's access in the access log when the log is on (the check is
    /// inlined into the copy loops; the record is not).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn log_access(
        &mut self,
        who: Who,
        space: SpaceId,
        va: Va,
        pfn: Pfn,
        off: usize,
        len: usize,
        write: bool,
    ) {
        if self.log.enabled {
            self.record_access(who, space, va, pfn, off, len, write);
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[cold]
    #[inline(never)]
    fn record_access(
        &mut self,
        who: Who,
        space: SpaceId,
        va: Va,
        pfn: Pfn,
        off: usize,
        len: usize,
        write: bool,
    ) {
        let mut labels = Vec::new();
        if self.config.shadow {
            self.phys.labels(pfn).spans(off, len, &mut labels);
        }
        self.log.records.push(Access {
            step: self.step,
            actor: who.actor(),
            space,
            va,
            pfn,
            offset: off as u16,
            len: len as u16,
            write,
            labels,
        });
    }

    /// Reads `len` bytes into a new vector grown run by run, so an absurd length faults at
    /// the first inaccessible page instead of first allocating `len` bytes on the host.
    pub(crate) fn read_vec_as(&mut self, who: Who, va: Va, len: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut pages = Pages::new(who, false);
        while (out.len() as u64) < len {
            let at = va.wrapping_add(out.len() as u64);
            let (space, r) = pages.run(self, at, len - out.len() as u64)?;
            // The bytes returned are host memory too: one read may return at most the
            // host-memory budget (the same frames mapped many times over can make a
            // range of virtual memory far larger than the frames behind it).
            if (out.len() + r.len) as u64 > self.phys.host_limit() {
                return Err(self.host_budget_fault());
            }
            self.log_run(who, space, at, &r, false);
            out.extend_from_slice(self.phys.run_bytes(r.first, r.at, r.len));
        }
        Ok(out)
    }

    /// Reads `buf.len()` bytes at `va` into `buf`, run by run ([`Pages::run`]: each page
    /// translated and checked in order, consecutive frames copied at once), each page's
    /// access logged; bytes before a faulting page are copied, as page by page.
    pub(crate) fn read_as(&mut self, who: Who, va: Va, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        let mut pages = Pages::new(who, false);
        while done < buf.len() {
            let at = va.wrapping_add(done as u64);
            let (space, r) = pages.run(self, at, (buf.len() - done) as u64)?;
            self.log_run(who, space, at, &r, false);
            buf[done..done + r.len].copy_from_slice(self.phys.run_bytes(r.first, r.at, r.len));
            done += r.len;
        }
        Ok(())
    }

    /// The probe phase of `MmProbeAndLockPages` over `n` pages from `a` ([semantics §3.4]
    /// steps 2–3): reads the first byte of each page (`a` itself for the first, the page's
    /// start after), demand-faulting and logging it exactly as [`Machine::read_as`] of one
    /// byte would, then with `write` checks the page's PTE is writable; collects each page's
    /// frame into `frames`. The pages are translated a batch at a time ([`Pages`]), so a
    /// probe costs one page-table walk per batch rather than per page.
    ///
    /// # Errors
    /// The first page that faults, with its index and the fault (earlier pages stay probed).
    ///
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    pub(crate) fn probe_pages(
        &mut self,
        who: Who,
        a: Va,
        n: usize,
        write: bool,
        frames: &mut Vec<Pfn>,
    ) -> std::result::Result<(), (usize, Fault)> {
        let mut pages = Pages::new(who, false);
        let end = a.page_align().0.wrapping_add(n as u64 * PAGE_SIZE);
        for i in 0..n {
            let at = if i == 0 {
                a
            } else {
                Va(a.page_align().0 + i as u64 * PAGE_SIZE)
            };
            let (space, pfn) = pages
                .resolve(self, at, end.wrapping_sub(at.0))
                .map_err(|f| (i, f))?;
            self.log_access(who, space, at, pfn, at.byte_offset() as usize, 1, false);
            if write {
                self.check_writable(who, at).map_err(|f| (i, f))?;
            }
            frames.push(pfn);
        }
        Ok(())
    }

    /// Writes `data` at `va`, run by run ([`Pages::run`]); each page's bytes get the
    /// label of a fresh origin (the writer's space and the page's first address), or
    /// [`Label::Zero`] with `zero`, and each page's access is logged. A fault at a page
    /// leaves the bytes before it written, as page by page.
    pub(crate) fn write_as(&mut self, who: Who, va: Va, data: &[u8], zero: bool) -> Result<()> {
        let mut done = 0usize;
        let mut pages = Pages::new(who, true);
        while done < data.len() {
            let at = va.wrapping_add(done as u64);
            let (space, r) = pages.run(self, at, (data.len() - done) as u64)?;
            self.phys
                .run_bytes_mut(r.first, r.at, r.len)
                .copy_from_slice(&data[done..done + r.len]);
            if self.config.shadow || self.log.enabled {
                for (page_va, pfn, off, n) in r.pages(at) {
                    if self.config.shadow {
                        let label = if zero {
                            Label::Zero
                        } else {
                            let origin_space = match who {
                                Who::User(p) => SpaceId::Process(p),
                                Who::Kernel => SpaceId::System,
                            };
                            Label::Origin {
                                space: origin_space,
                                va: page_va,
                            }
                        };
                        self.phys.set_labels(pfn, off, n, label);
                    }
                    self.log_access(who, space, page_va, pfn, off, n, true);
                }
            }
            if zero {
                self.counters.bytes_zeroed += r.len as u64;
            }
            done += r.len;
        }
        Ok(())
    }

    /// Logs each page of a run read or written at `at` (nothing when the log is off).
    #[inline(always)]
    fn log_run(&mut self, who: Who, space: SpaceId, at: Va, r: &FrameRun, write: bool) {
        if self.log.enabled {
            for (page_va, pfn, off, n) in r.pages(at) {
                self.record_access(who, space, page_va, pfn, off, n, write);
            }
        }
    }

    /// Copies `len` bytes from `src` (as `src_who`) to `dst` (as `dst_who`), carrying labels.
    ///
    /// Chunk by chunk (each inside one source and one destination page), in order: both
    /// pages translated, labels spliced, accesses logged. The bytes of chunks whose source
    /// and destination both continue the previous chunk's in host memory are gathered into
    /// a pair of runs copied at once; a pair is only extended while its two byte ranges stay
    /// disjoint, so one copy equals the chunks copied in order, and it is copied before the
    /// next pair starts or a fault returns.
    pub(crate) fn copy_as(
        &mut self,
        dst_who: Who,
        dst: Va,
        src_who: Who,
        src: Va,
        len: u64,
    ) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        if wraps(src, len) || wraps(dst, len) {
            return Err(AV);
        }
        let mut spans: Vec<LabelSpan> = Vec::new();
        let mut run: Option<(FrameRun, FrameRun)> = None;
        let (mut src_pages, mut dst_pages) =
            (Pages::new(src_who, false), Pages::new(dst_who, true));
        let mut done = 0u64;
        while done < len {
            let s = src.wrapping_add(done);
            let d = dst.wrapping_add(done);
            let so = s.byte_offset() as usize;
            let doff = d.byte_offset() as usize;
            let n = ((len - done) as usize)
                .min(PAGE_BYTES - so)
                .min(PAGE_BYTES - doff);
            let resolved = src_pages
                .resolve(self, s, len - done)
                .and_then(|a| Ok((a, dst_pages.resolve(self, d, len - done)?)));
            let ((sspace, spfn), (dspace, dpfn)) = match resolved {
                Ok(r) => r,
                Err(e) => {
                    self.flush_copy_run(run);
                    return Err(e);
                }
            };
            self.log_access(src_who, sspace, s, spfn, so, n, false);
            if spfn == dpfn {
                self.flush_copy_run(run.take());
                self.phys.bytes_mut(spfn).copy_within(so..so + n, doff);
                if self.config.shadow {
                    spans.clear();
                    self.phys.labels(spfn).spans(so, n, &mut spans);
                    self.phys.splice_labels(dpfn, doff, n, &spans);
                }
            } else {
                let extended = match &mut run {
                    Some((rs, rd)) if rs.continues_at(spfn, so) && rd.continues_at(dpfn, doff) => {
                        let (mut s2, mut d2) = (*rs, *rd);
                        s2.len += n;
                        d2.len += n;
                        if FrameRun::disjoint(&s2, &d2) {
                            (*rs, *rd) = (s2, d2);
                            true
                        } else {
                            false
                        }
                    }
                    _ => false,
                };
                if !extended {
                    self.flush_copy_run(
                        run.replace((FrameRun::new(spfn, so, n), FrameRun::new(dpfn, doff, n))),
                    );
                }
                if self.config.shadow {
                    spans.clear();
                    self.phys.labels(spfn).spans(so, n, &mut spans);
                    self.phys.splice_labels(dpfn, doff, n, &spans);
                }
            }
            self.log_access(dst_who, dspace, d, dpfn, doff, n, true);
            if src_who == Who::Kernel || dst_who == Who::Kernel {
                self.counters.bytes_copied += n as u64;
            }
            done += n as u64;
        }
        self.flush_copy_run(run);
        Ok(())
    }

    /// Copies a gathered (source, destination) run pair of [`Machine::copy_as`].
    fn flush_copy_run(&mut self, run: Option<(FrameRun, FrameRun)>) {
        if let Some((s, d)) = run {
            // Disjoint by construction (a single chunk of two distinct frames, or
            // extended only while disjoint), so the copy always happens.
            let copied = self.phys.copy_run(&s, &d);
            debug_assert!(copied, "copy_as gathered overlapping runs");
        }
    }

    /// A user-mode read by a thread of `pid` (it faults where the process's own access would).
    ///
    /// # Errors
    /// `Raise(STATUS_ACCESS_VIOLATION)` on the first inaccessible byte; bytes
    /// before it are not returned.
    pub fn user_read(&mut self, pid: Pid, va: Va, len: u64) -> Result<Vec<u8>> {
        self.enter("user read")?;
        self.live_process(pid)?;
        if wraps(va, len) {
            return Err(AV);
        }
        self.read_vec_as(Who::User(pid), va, len)
    }

    /// Like [`Machine::user_read`], into a caller's buffer (no allocation).
    ///
    /// # Errors
    /// `Raise(STATUS_ACCESS_VIOLATION)` on the first inaccessible byte.
    pub fn user_read_into(&mut self, pid: Pid, va: Va, buf: &mut [u8]) -> Result<()> {
        self.enter("user read")?;
        self.live_process(pid)?;
        if va.checked_add(buf.len() as u64).is_none() {
            return Err(AV);
        }
        self.read_as(Who::User(pid), va, buf)
    }

    /// Like [`Machine::kernel_read`], into a caller's buffer (no allocation).
    ///
    /// # Errors
    /// As `kernel_read`.
    pub fn kernel_read_into(&mut self, va: Va, buf: &mut [u8]) -> Result<()> {
        self.enter("kernel read")?;
        if va.checked_add(buf.len() as u64).is_none() {
            return Err(AV);
        }
        self.read_as(Who::Kernel, va, buf)
    }

    /// A user-mode write by a thread of `pid`; the bytes are labelled with their own addresses.
    ///
    /// # Errors
    /// `Raise(STATUS_ACCESS_VIOLATION)` at the first inaccessible byte (earlier bytes stay written).
    pub fn user_write(&mut self, pid: Pid, va: Va, data: &[u8]) -> Result<()> {
        self.enter("user write")?;
        self.live_process(pid)?;
        if wraps(va, data.len() as u64) {
            return Err(AV);
        }
        self.write_as(Who::User(pid), va, data, false)
    }

    /// `memcpy` inside `pid`'s user space; labels travel with the bytes.
    pub fn user_copy(&mut self, pid: Pid, dst: Va, src: Va, len: u64) -> Result<()> {
        self.enter("user memcpy")?;
        self.live_process(pid)?;
        self.copy_as(Who::User(pid), dst, Who::User(pid), src, len)
    }

    /// A kernel-mode read at `va` in the current context (system VAs valid everywhere;
    /// user VAs resolve in the current process).
    pub fn kernel_read(&mut self, va: Va, len: u64) -> Result<Vec<u8>> {
        self.enter("kernel read")?;
        if wraps(va, len) {
            return Err(AV);
        }
        self.read_vec_as(Who::Kernel, va, len)
    }

    /// A kernel-mode write of fresh data (labelled as written by the kernel at `va`).
    pub fn kernel_write(&mut self, va: Va, data: &[u8]) -> Result<()> {
        self.enter("kernel write")?;
        if wraps(va, data.len() as u64) {
            return Err(AV);
        }
        self.write_as(Who::Kernel, va, data, false)
    }

    /// [`RtlZeroMemory`] in the current context: the bytes become zero and labelled [`Label::Zero`].
    ///
    /// [`RtlZeroMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-rtlzeromemory
    #[doc(alias = "RtlZeroMemory")]
    pub fn kernel_zero(&mut self, va: Va, len: u64) -> Result<()> {
        self.enter("RtlZeroMemory")?;
        if wraps(va, len) {
            return Err(AV);
        }
        // Page by page, so a huge length faults at the first bad page without a huge buffer.
        const ZEROS: [u8; PAGE_BYTES] = [0; PAGE_BYTES];
        for (page, off, n) in crate::addr::page_chunks(va, len) {
            self.write_as(
                Who::Kernel,
                page.wrapping_add(off as u64),
                &ZEROS[..n],
                true,
            )?;
        }
        Ok(())
    }

    /// [`RtlCopyMemory`] in the current context; labels travel with the bytes.
    ///
    /// [`RtlCopyMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-rtlcopymemory
    #[doc(alias = "RtlCopyMemory")]
    pub fn kernel_copy(&mut self, dst: Va, src: Va, len: u64) -> Result<()> {
        self.enter("RtlCopyMemory")?;
        self.copy_as(Who::Kernel, dst, Who::Kernel, src, len)
    }

    // ----- observation (no side effects, no step, works after a crash) -----------------

    /// The frame behind `va` in `space`, if a valid PTE maps it.
    pub fn translate(&self, space: SpaceId, va: Va) -> Option<Pfn> {
        self.space(space)?.pte(va).map(|p| p.pfn)
    }

    /// The PTE behind `va` in `space`.
    pub fn pte(&self, space: SpaceId, va: Va) -> Option<Pte> {
        self.space(space)?.pte(va).copied()
    }

    /// The bytes of `[va, va+len)` in `space` without faulting: `None` if a page is
    /// neither valid nor committed demand-zero (which reads as zero).
    pub fn peek(&self, space: SpaceId, va: Va, len: u64) -> Option<Vec<u8>> {
        va.checked_add(len)?;
        let mut out = Vec::with_capacity(len.min(16 << 20) as usize);
        for (page, off, n) in crate::addr::page_chunks(va, len) {
            match self.peek_frame(space, page)? {
                Some(pfn) => out.extend_from_slice(self.phys.run_bytes(pfn, off, n)),
                None => out.resize(out.len() + n, 0),
            }
        }
        Some(out)
    }

    /// The provenance of `[va, va+len)` in `space`, as merged spans; `None` if a
    /// page is not accessible (committed untouched pages read as `Zero`).
    pub fn labels(&self, space: SpaceId, va: Va, len: u64) -> Option<Vec<LabelSpan>> {
        va.checked_add(len)?;
        let mut out = Vec::new();
        for (page, off, n) in crate::addr::page_chunks(va, len) {
            match self.peek_frame(space, page)? {
                Some(pfn) => {
                    let mut tmp = Vec::new();
                    self.phys.labels(pfn).spans(off, n, &mut tmp);
                    for s in tmp {
                        crate::shadow::push_span(&mut out, s);
                    }
                }
                None => crate::shadow::push_span(
                    &mut out,
                    LabelSpan {
                        len: n as u64,
                        label: Label::Zero,
                    },
                ),
            }
        }
        Some(out)
    }

    /// `Some(Some(pfn))` for a valid page, `Some(None)` for committed demand-zero, `None` otherwise.
    fn peek_frame(&self, space: SpaceId, page: Va) -> Option<Option<Pfn>> {
        let s = self.space(space)?;
        if let Some(p) = s.pte(page) {
            return Some(Some(p.pfn));
        }
        let vad = s.vad(page)?;
        match &vad.kind {
            VadKind::Private(d) => match d.get(page.vpn() - vad.start.vpn())? {
                PageDesc::Committed(_) => Some(None),
                PageDesc::Reserved => None,
            },
            VadKind::MdlMapping(_) => None,
        }
    }

    /// The bytes of a frame (for inspection in tests and reports).
    pub fn frame_bytes(&self, pfn: Pfn) -> Option<&[u8]> {
        self.phys.entry(pfn)?;
        Some(self.phys.bytes(pfn))
    }

    /// The provenance of `[offset, offset+len)` of a frame.
    pub fn frame_labels(&self, pfn: Pfn, offset: usize, len: usize) -> Option<Vec<LabelSpan>> {
        self.phys.entry(pfn)?;
        if offset.checked_add(len)? > PAGE_BYTES {
            return None;
        }
        let mut out = Vec::new();
        self.phys.labels(pfn).spans(offset, len, &mut out);
        Some(out)
    }

    /// The PFN database entry of a frame (`!pfn` in the debugger).
    pub fn pfn_entry(&self, pfn: Pfn) -> Option<&crate::pfn::PfnEntry> {
        self.phys.entry(pfn)
    }

    /// Starts recording every access (see [`crate::log`]); clears earlier records.
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call does.
    pub fn start_access_log(&mut self) -> Result<()> {
        self.alive()?;
        self.restart_access_log();
        Ok(())
    }

    /// Stops recording and returns what was recorded.
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call does.
    pub fn take_access_log(&mut self) -> Result<Vec<Access>> {
        self.alive()?;
        Ok(self.drain_access_log())
    }

    /// The records so far, without stopping the log: an inspection that also works after
    /// a bug check (what a crash dump would show of the accesses that led to it).
    pub fn access_log(&self) -> &[Access] {
        &self.log.records
    }

    /// [`Machine::start_access_log`] for the harness, which keeps recording across a bug
    /// check to judge the case.
    pub(crate) fn restart_access_log(&mut self) {
        self.log.enabled = true;
        self.log.records.clear();
    }

    /// [`Machine::take_access_log`] for the harness (also after a bug check).
    pub(crate) fn drain_access_log(&mut self) -> Vec<Access> {
        self.log.enabled = false;
        std::mem::take(&mut self.log.records)
    }
}
