//! Virtual memory: `VirtualAlloc`/`VirtualFree`/`VirtualProtect`, and every read,
//! write and copy by virtual address, user or kernel, with faults exactly
//! where Windows would take them ([semantics §1.1], [§2]).
//!
//! * User code reaches only its own process's user half; anything else, an
//!   uncommitted or no-access page, or a write to a read-only page raises
//!   `STATUS_ACCESS_VIOLATION`.
//! * Kernel code reaches system space in every context and the user half of
//!   the *current* process ([`Machine::attach`](crate::Machine::attach)). A bad user address raises
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
use crate::arena::Arena;
use crate::bugcheck::{BugCheck, BugCheckCode};
use crate::counters::Counters;
use crate::events::{Event, EventKind};
use crate::fault::{Fault, Result};
use crate::ids::Birth;
use crate::log::{Access, AccessLog, Actor};
use crate::mdl::{LockOperation, Mapping, MdlId, MdlSlot};
use crate::pfn::{FrameOwner, FrameRun, NoFrame, PhysicalMemory};
use crate::process::Process;
use crate::shadow::{Label, LabelSpan};
use crate::space::{
    AddressSpace, MappingId, PageDesc, PageDescs, Pid, Protection, Pte, PteKind, SpaceId, Vad,
    VadKind,
};
use crate::status::NtStatus;
use crate::trail::{Blame, KernelFault};
use std::collections::BTreeMap;

/// Pages translated per [`Vm::resolve_valid`] call.
const BATCH: usize = 32;

/// What a virtual-memory routine works with, for one call: the frames and address
/// spaces it reads and changes, and the records it writes (the bug check, protocol
/// events, the access log, work counters, the blame trail), borrowed field by field from
/// the machine by `Machine::vm` after the facade has entered the call (crash check,
/// step). It reads MDLs and their mappings only to tell whether a write through an MDL
/// mapping goes through an MDL probed for `IoReadAccess`.
pub(crate) struct Vm<'a> {
    pub(crate) phys: &'a mut PhysicalMemory,
    pub(crate) system: &'a mut AddressSpace,
    pub(crate) processes: &'a mut BTreeMap<Pid, Process>,
    pub(crate) log: &'a mut AccessLog,
    pub(crate) counters: &'a mut Counters,
    pub(crate) events: &'a mut Vec<Event>,
    pub(crate) blame: &'a mut Blame,
    pub(crate) crashed: &'a mut Option<BugCheck>,
    pub(crate) mdls: &'a Arena<MdlSlot>,
    pub(crate) mappings: &'a Arena<Mapping>,
    /// The process whose user half is current (`PsGetCurrentProcess` after attaches).
    pub(crate) current: Option<Pid>,
    /// The step of the call.
    pub(crate) step: u64,
    /// The DDI being run (what a new object's [`Birth`] names).
    pub(crate) routine: &'static str,
    /// Whether shadow memory (byte provenance) is kept.
    pub(crate) shadow: bool,
    /// The Windows whose rules apply where versions differ (the bug checks' access codes).
    pub(crate) windows: crate::windows::WindowsVersion,
}

impl Vm<'_> {
    /// The current step and routine, to stamp on a new object.
    pub(crate) fn birth(&self) -> Birth {
        Birth {
            step: self.step,
            routine: self.routine,
        }
    }

    /// Turns a frame shortage into what the caller returns: `Ok` for exhausted simulated
    /// RAM (the routine fails as Windows' does), the host-budget fault otherwise.
    pub(crate) fn no_frame(&self, why: NoFrame) -> Result<()> {
        match why {
            NoFrame::Exhausted => Ok(()),
            NoFrame::HostBudget => Err(self.phys.budget_fault()),
        }
    }

    /// Bug-checks the machine: records it and returns it as a fault.
    pub(crate) fn bug_check(
        &mut self,
        code: BugCheckCode,
        params: [u64; 4],
        detail: impl Into<String>,
    ) -> Fault {
        crate::fault::bug_check(self.crashed, code, params, detail)
    }

    fn process(&self, pid: Pid) -> Result<&Process> {
        crate::process::lookup(&*self.processes, pid)
    }

    fn process_mut(&mut self, pid: Pid) -> Result<&mut Process> {
        crate::process::lookup_mut(self.processes, pid)
    }

    fn space(&self, id: SpaceId) -> Option<&AddressSpace> {
        match id {
            SpaceId::System => Some(&*self.system),
            SpaceId::Process(p) => self.processes.get(&p).map(|p| &p.space),
        }
    }

    /// Records a write at `va` through mapping `mid` when its MDL is locked for
    /// `IoReadAccess` ([`EventKind::WriteThroughReadProbedMdl`]).
    fn note_mdl_write(&mut self, mid: MappingId, va: Va) {
        let Some(mdl) = self.read_probed_mdl(mid) else {
            return;
        };
        self.events.push(Event {
            step: self.step,
            kind: EventKind::WriteThroughReadProbedMdl,
            mdl: Some(mdl),
            va: Some(va),
            detail: format!("write at {va} through a mapping of {mdl}, probed for IoReadAccess"),
        });
    }

    /// The MDL of mapping `mid` when it is locked for `IoReadAccess` (a write through the
    /// mapping is recorded by [`Vm::note_mdl_write`]); `None` makes that note a no-op.
    fn read_probed_mdl(&self, mid: MappingId) -> Option<MdlId> {
        let mdl = self.mappings.get(mid.0)?.mdl;
        self.mdls
            .get(mdl.0)
            .and_then(|s| s.lock.as_ref())
            .is_some_and(|l| l.operation == LockOperation::IoReadAccess)
            .then_some(mdl)
    }

    /// Reports each frame released since the last call while an MDL mapping still named
    /// it ([`EventKind::FrameFreedWhileMapped`]): from now on the frame may be handed to
    /// anyone, and the mapping's holder reads and writes the new owner's bytes. Reported
    /// at the step of the free, whatever freed it (`ExFreePool`, `VirtualFree`, the last
    /// `MmUnlockPages`, process exit); a free `MmFreePagesFromMdl` already reported at
    /// this step (`FreePagesWhileMapped`) is not reported twice.
    pub(crate) fn report_frames_freed_while_mapped(&mut self) {
        let freed = self.phys.take_freed_while_mapped();
        if freed.is_empty() {
            return;
        }
        let reported = self
            .events
            .last()
            .is_some_and(|e| e.step == self.step && e.kind == EventKind::FreePagesWhileMapped);
        if reported {
            return;
        }
        for pfn in freed {
            let holder = self.mappings.iter().find_map(|(_, mp)| {
                let i = mp.frames.iter().position(|f| *f == pfn)?;
                Some((
                    mp.mdl,
                    mp.base.wrapping_add(i as u64 * crate::addr::PAGE_SIZE),
                    mp.space,
                ))
            });
            let Some((mdl, va, space)) = holder else {
                continue;
            };
            self.events.push(Event {
                step: self.step,
                kind: EventKind::FrameFreedWhileMapped,
                mdl: Some(mdl),
                va: Some(va),
                detail: format!(
                    "{pfn} was freed while {mdl}'s mapping at {space} {va} still maps it: its next owner's bytes show through the mapping"
                ),
            });
        }
    }

    /// Records a kernel access that faulted at `va` ([`crate::trail`]).
    fn note_kernel_fault(&mut self, space: SpaceId, va: Va, write: bool) {
        self.blame.record_fault(KernelFault {
            step: self.step,
            va,
            space,
            write,
        });
    }

    /// Checks that `va`'s PTE allows a write (the write check of a probe for
    /// `IoWriteAccess`, [semantics §3.4] step 3).
    ///
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    pub(crate) fn check_writable(&self, who: Who, va: Va) -> Result<()> {
        let space = match who {
            Who::User(p) => SpaceId::Process(p),
            Who::Kernel if va.is_system() => SpaceId::System,
            Who::Kernel => match self.current {
                Some(p) => SpaceId::Process(p),
                None => return Err(AV),
            },
        };
        match self.space(space).and_then(|s| s.pte(va)) {
            Some(p) if p.protection.can_write() => Ok(()),
            _ => Err(AV),
        }
    }
}

/// The translations of one access's pages, a batch at a time: [`Vm::resolve_valid`]
/// for the stretch of pages that resolve with no side effect, [`Vm::resolve`] (one
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
    fn resolve(&mut self, m: &mut Vm<'_>, at: Va, bytes_left: u64) -> Result<(SpaceId, Pfn)> {
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
    fn run(&mut self, m: &mut Vm<'_>, at: Va, bytes_left: u64) -> Result<(SpaceId, FrameRun)> {
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
mod query;
mod translate;
pub(crate) use query::basic_information;
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

impl Vm<'_> {
    // ----- VirtualAlloc / VirtualFree / VirtualProtect ---------------------------------

    /// The work of [`Machine::virtual_alloc`](crate::Machine::virtual_alloc) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn virtual_alloc(
        &mut self,
        pid: Pid,
        base: Option<Va>,
        size: u64,
        alloc_type: u32,
        protect: Protection,
    ) -> Result<Va> {
        if alloc_type == 0 || alloc_type & !(MEM_COMMIT | MEM_RESERVE) != 0 {
            return Err(Fault::Status(NtStatus::INVALID_PARAMETER_5));
        }
        let first = base.map_or(0, |b| b.0);
        if first > MM_HIGHEST_USER_ADDRESS.0 {
            return Err(Fault::Status(NtStatus::INVALID_PARAMETER_2));
        }
        if size == 0 || MM_HIGHEST_USER_ADDRESS.0 - first + 1 < size {
            return Err(Fault::Status(NtStatus::INVALID_PARAMETER_4));
        }
        let bad = Fault::Status(NtStatus::INVALID_PARAMETER);
        let step = self.step;
        let desc = if alloc_type & MEM_COMMIT != 0 {
            PageDesc::Committed(protect)
        } else {
            PageDesc::Reserved
        };
        // With no base the system picks the range: `MEM_COMMIT` alone reserves it too.
        if alloc_type & MEM_RESERVE != 0 || base.is_none() {
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

    /// The work of [`Machine::virtual_free`](crate::Machine::virtual_free) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn virtual_free(
        &mut self,
        pid: Pid,
        base: Va,
        size: u64,
        free_type: u32,
    ) -> Result<()> {
        if base > MM_HIGHEST_USER_ADDRESS {
            return Err(Fault::Status(NtStatus::INVALID_PARAMETER_2));
        }
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

    /// The work of [`Machine::virtual_protect`](crate::Machine::virtual_protect) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn virtual_protect(
        &mut self,
        pid: Pid,
        base: Va,
        size: u64,
        protect: Protection,
    ) -> Result<Protection> {
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
