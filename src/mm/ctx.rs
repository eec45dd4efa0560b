//! [`Mm`]: what a memory-manager routine works with for one call.

use crate::addr::Va;
use crate::arena::Arena;
use crate::bugcheck::{BugCheck, BugCheckCode};
use crate::counters::Counters;
use crate::events::Event;
use crate::fault::{Fault, Result};
use crate::ids::Birth;
use crate::log::AccessLog;
use crate::mdl::{Mapping, MdlId, MdlSlot};
use crate::pfn::PhysicalMemory;
use crate::process::Process;
use crate::space::{AddressSpace, Pid, Pte, SpaceId};
use crate::syspte::SystemPtes;
use crate::trail::{Blame, NullReturn, Released};
use crate::vm::Vm;
use std::collections::BTreeMap;

use super::LeakedLock;

/// What a memory-manager routine (MDLs, probe and lock, mappings, page allocation) works
/// with, for one call: the MDLs, their mappings, the system PTEs and the lock
/// bookkeeping it owns, the frames and address spaces it changes, and the records it
/// writes — borrowed field by field from the machine by `Machine::mm` after the facade
/// has entered the call (crash check, step). Reads and writes by virtual address go
/// through [`Mm::vm`], a [`Vm`] reborrowed from the same fields.
pub(crate) struct Mm<'a> {
    pub(crate) phys: &'a mut PhysicalMemory,
    pub(crate) system: &'a mut AddressSpace,
    pub(crate) processes: &'a mut BTreeMap<Pid, Process>,
    pub(crate) log: &'a mut AccessLog,
    pub(crate) counters: &'a mut Counters,
    pub(crate) events: &'a mut Vec<Event>,
    pub(crate) blame: &'a mut Blame,
    pub(crate) crashed: &'a mut Option<BugCheck>,
    pub(crate) mdls: &'a mut Arena<MdlSlot>,
    pub(crate) mappings: &'a mut Arena<Mapping>,
    pub(crate) sysptes: &'a mut SystemPtes,
    pub(crate) leaked_locks: &'a mut Vec<LeakedLock>,
    /// Lock references a driver moved between frames by changing a locked MDL's PFN array.
    pub(crate) ref_adjust: &'a mut BTreeMap<crate::addr::Pfn, i64>,
    /// Locked-page charges a driver moved by changing a locked MDL before unlock.
    pub(crate) locked_pages_adjust: &'a mut BTreeMap<Pid, i64>,
    /// The process whose user half is current; `MmProbeAndLockProcessPages` changes it
    /// for the length of its probe (an attach).
    pub(crate) current: Option<Pid>,
    /// The step of the call.
    pub(crate) step: u64,
    /// The DDI being run.
    pub(crate) routine: &'static str,
    /// Whether shadow memory (byte provenance) is kept.
    pub(crate) shadow: bool,
    /// `TrackLockedPages` ([`crate::Config::track_locked_pages`]).
    pub(crate) track_locked_pages: bool,
    /// The Windows whose rules apply where versions differ.
    pub(crate) windows: crate::windows::WindowsVersion,
    /// Driver Verifier's settings ([`crate::Config::verifier`]).
    pub(crate) verifier: crate::verifier::Verifier,
    /// `TrackPtes` ([`crate::Config::track_ptes`]).
    pub(crate) track_ptes: bool,
    /// Free or checked build ([`crate::windows::KernelBuild`]).
    pub(crate) kernel_build: crate::windows::KernelBuild,
}

impl Mm<'_> {
    /// A [`Vm`] over the same fields, for accesses by virtual address.
    pub(crate) fn vm(&mut self) -> Vm<'_> {
        Vm {
            phys: self.phys,
            system: self.system,
            processes: self.processes,
            log: self.log,
            counters: self.counters,
            events: self.events,
            blame: self.blame,
            crashed: self.crashed,
            mdls: self.mdls,
            mappings: self.mappings,
            current: self.current,
            step: self.step,
            routine: self.routine,
            shadow: self.shadow,
            windows: self.windows,
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

    /// The current step and routine, to stamp on a new object.
    pub(crate) fn birth(&self) -> Birth {
        Birth {
            step: self.step,
            routine: self.routine,
        }
    }

    /// A process, live or not.
    pub(crate) fn process(&self, pid: Pid) -> Result<&Process> {
        crate::process::lookup(&*self.processes, pid)
    }

    pub(crate) fn process_mut(&mut self, pid: Pid) -> Result<&mut Process> {
        crate::process::lookup_mut(self.processes, pid)
    }

    /// The process whose user space is current.
    pub(crate) fn current_process(&self) -> Option<Pid> {
        self.current
    }

    /// The address space an address resolves in from the current context.
    pub(crate) fn space_of(&self, va: Va) -> Option<SpaceId> {
        if va.is_system() {
            Some(SpaceId::System)
        } else {
            self.current.map(SpaceId::Process)
        }
    }

    /// The PTE behind `va` in `space`.
    pub(crate) fn pte(&self, space: SpaceId, va: Va) -> Option<Pte> {
        match space {
            SpaceId::System => self.system.pte(va).copied(),
            SpaceId::Process(p) => self.processes.get(&p)?.space.pte(va).copied(),
        }
    }

    /// Records a NULL return of the routine being run, and passes `r` through.
    pub(crate) fn note_null<T>(&mut self, r: Result<Option<T>>) -> Result<Option<T>> {
        if let Ok(None) = r {
            self.blame.record_null(NullReturn {
                step: self.step,
                ddi: self.routine,
            });
        }
        r
    }

    /// Records a driver's write into the PFN array of the locked MDL `id`.
    pub(crate) fn note_mutation(&mut self, id: MdlId) {
        self.blame.record_mutation(self.step, id);
    }

    /// Records that `[start, start + len)` of `space`, a `what`, is no longer valid.
    pub(crate) fn note_release(&mut self, space: SpaceId, start: Va, len: u64, what: &'static str) {
        self.blame.record_release(Released {
            space,
            start,
            len,
            step: self.step,
            what,
        });
    }

    /// Reports frames freed while an MDL mapping names them ([`Vm::report_frames_freed_while_mapped`]).
    pub(crate) fn report_frames_freed_while_mapped(&mut self) {
        self.vm().report_frames_freed_while_mapped();
    }
}
