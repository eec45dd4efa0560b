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

mod access;
mod observe;
mod query;
mod translate;
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
}
