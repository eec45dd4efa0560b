//! The machine: configuration, crash state, processes, threads and the current context.
//!
//! [`Machine`] owns all state. Every public operation first checks that the
//! machine has not bug-checked (after a bug check, every call returns that
//! same bug check), then advances the step counter, so every object can name
//! the step that created it and reports can point at the operation to blame.

use crate::addr::PAGE_SIZE;
use crate::arena::Arena;
use crate::bugcheck::{BugCheck, BugCheckCode};
use crate::fault::{Fault, ModelError, Result};
use crate::log::AccessLog;
use crate::mdl::MdlSlot;
use crate::mm::mapping::Mapping;
use crate::pfn::PhysicalMemory;
use crate::pool::Pool;
use crate::process::{Process, Thread};
use crate::space::{AddressSpace, Pid, SpaceId, Tid};
use crate::syspte::SystemPtes;
use crate::verifier::Verifier;
use crate::windows::{KernelBuild, WindowsVersion};
use serde::{Deserialize, Serialize};

mod audit;
mod blame;
pub mod calls;
mod interleave;
mod irql;
pub use blame::{
    Blame, KernelFault, NULL_MDL_ADDRESS, NULLS_KEPT, NullReturn, RELEASES_KEPT, Released,
};
pub use interleave::{ScheduledRelease, ScheduledWrite};
pub(crate) mod driver;
mod kernel;
mod kernel_memory;
mod lifecycle;
mod mdl;
mod mm;
mod observe;
mod pool;
mod user_pointers;
mod vm;
pub use kernel::Kernel;
use std::collections::BTreeMap;

/// Machine configuration (a `#[non_exhaustive]` builder).
///
/// ```
/// use mdlsim::Config;
/// let c = Config::default().physical_memory(64 << 30).system_ptes(64).shadow(false);
/// assert_eq!(c.physical_memory_bytes, 64 << 30);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Simulated RAM in bytes (frames materialise lazily, so 64 GiB is cheap). Default 4 GiB.
    pub physical_memory_bytes: u64,
    /// Number of system PTEs available for kernel-mode MDL mappings. Default 262,144 (1 GiB).
    pub system_ptes: u64,
    /// Non-paged pool limit in bytes. Default 256 MiB.
    pub pool_limit_bytes: u64,
    /// Track byte provenance (shadow memory). Default on; off for raw-cost benchmarks.
    pub shadow: bool,
    /// `TrackLockedPages = 1`: process deletion with locked pages reports
    /// `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB)` naming the MDL instead of 0x76 ([semantics §6]).
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    pub track_locked_pages: bool,
    /// Host memory the simulated frames (their bytes, PFN entries and provenance labels)
    /// may take, in bytes. Work that would need more is refused with
    /// [`ModelError::HostMemoryLimit`] (a limit of the simulator: Windows would have
    /// succeeded), and so is every later call. Simulated RAM that is never touched costs
    /// nothing, so this bounds what a hostile scenario can make the host allocate, not
    /// the simulated RAM size. Default [`DEFAULT_HOST_MEMORY_LIMIT`] (1 GiB).
    pub host_memory_limit_bytes: u64,
    /// The Windows whose rules apply where versions differ ([`crate::windows`]). Default
    /// [`WindowsVersion::Windows10`] (Windows 10 and 11).
    #[serde(default)]
    pub windows: WindowsVersion,
    /// Free or checked build: whether a failed `ASSERT` stops the machine or the routine
    /// goes on ([`crate::windows::KernelBuild`]). Default [`KernelBuild::Free`], what
    /// customers run.
    #[serde(default)]
    pub kernel_build: KernelBuild,
    /// Driver Verifier for the drivers under test: on or off and its options
    /// ([`crate::verifier`]). Default [`Verifier::STANDARD`] (`verifier /standard`).
    #[serde(default)]
    pub verifier: Verifier,
    /// `TrackPtes`: running out of system PTEs for a mapping that must not fail is
    /// `DRIVER_USED_EXCESSIVE_PTES (0xD8)` instead of `NO_MORE_SYSTEM_PTES (0x3F)`
    /// ([`crate::verifier`]). Default off, as in the registry.
    #[serde(default)]
    pub track_ptes: bool,
}

/// The default [`Config::host_memory_limit_bytes`]: 1 GiB, room for about 250,000
/// touched frames (a 256 MiB buffer locked and mapped several times over).
pub const DEFAULT_HOST_MEMORY_LIMIT: u64 = 1 << 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            physical_memory_bytes: 4 << 30,
            system_ptes: 1 << 18,
            pool_limit_bytes: 256 << 20,
            shadow: true,
            track_locked_pages: false,
            host_memory_limit_bytes: DEFAULT_HOST_MEMORY_LIMIT,
            windows: WindowsVersion::default(),
            kernel_build: KernelBuild::Free,
            verifier: Verifier::STANDARD,
            track_ptes: false,
        }
    }
}

impl Config {
    /// Sets the simulated RAM size in bytes.
    pub fn physical_memory(mut self, bytes: u64) -> Self {
        self.physical_memory_bytes = bytes;
        self
    }

    /// Sets the number of system PTEs.
    pub fn system_ptes(mut self, n: u64) -> Self {
        self.system_ptes = n;
        self
    }

    /// Sets the non-paged pool limit in bytes.
    pub fn pool_limit(mut self, bytes: u64) -> Self {
        self.pool_limit_bytes = bytes;
        self
    }

    /// Turns shadow memory (byte provenance) on or off.
    pub fn shadow(mut self, on: bool) -> Self {
        self.shadow = on;
        self
    }

    /// Turns `TrackLockedPages` on or off.
    pub fn track_locked_pages(mut self, on: bool) -> Self {
        self.track_locked_pages = on;
        self
    }

    /// Sets the Windows whose rules apply where versions differ.
    pub fn windows(mut self, v: WindowsVersion) -> Self {
        self.windows = v;
        self
    }

    /// Sets the kernel build: free (the default) or checked ([`KernelBuild`]).
    pub fn kernel_build(mut self, b: KernelBuild) -> Self {
        self.kernel_build = b;
        self
    }

    /// Sets Driver Verifier's settings ([`Verifier`]; [`Verifier::OFF`] for a machine
    /// without it).
    pub fn verifier(mut self, v: Verifier) -> Self {
        self.verifier = v;
        self
    }

    /// Turns `TrackPtes` on or off.
    pub fn track_ptes(mut self, on: bool) -> Self {
        self.track_ptes = on;
        self
    }

    /// Whether process deletion names the MDL that left pages locked (0xCB): with
    /// `TrackLockedPages`, or with Verifier's Pool Tracking on Windows Vista and later
    /// ([`crate::verifier`]).
    pub fn tracks_locked_pages_at_exit(&self) -> bool {
        self.track_locked_pages
            || (self.verifier.pool_tracking() && self.windows >= WindowsVersion::Vista)
    }

    /// Sets the host-memory budget in bytes (see [`Config::host_memory_limit_bytes`]).
    pub fn host_memory_limit(mut self, bytes: u64) -> Self {
        self.host_memory_limit_bytes = bytes;
        self
    }
}

/// Process and thread ids are handles, multiples of 4 in 32 bits: past 2^32 the model
/// has no more (Windows' handle table runs out far earlier).
fn ids_exhausted() -> Fault {
    Fault::Model(ModelError::Unsupported(
        "process and thread ids exhausted (32-bit ids)".into(),
    ))
}

pub use crate::ids::Birth;

/// The simulated machine.
#[derive(Clone, Debug)]
pub struct Machine {
    pub(crate) config: Config,
    pub(crate) crashed: Option<BugCheck>,
    pub(crate) step: u64,
    pub(crate) routine: &'static str,
    pub(crate) phys: PhysicalMemory,
    pub(crate) system: AddressSpace,
    pub(crate) processes: BTreeMap<Pid, Process>,
    pub(crate) threads: BTreeMap<Tid, Thread>,
    pub(crate) next_pid: u32,
    pub(crate) next_tid: u32,
    /// The process whose thread is running (`None`: a system thread).
    pub(crate) running: Option<Pid>,
    /// `KeStackAttachProcess` stack.
    pub(crate) attached: Vec<Option<Pid>>,
    /// Attach stacks of the contexts not running now (attach state belongs to a thread).
    pub(crate) parked_attach: BTreeMap<Option<Pid>, Vec<Option<Pid>>>,
    pub(crate) pool: Pool,
    pub(crate) sysptes: SystemPtes,
    pub(crate) mdls: Arena<MdlSlot>,
    pub(crate) mappings: Arena<Mapping>,
    pub(crate) log: AccessLog,
    pub(crate) counters: crate::counters::Counters,
    pub(crate) irps: Arena<crate::iostate::irp::Irp>,
    pub(crate) events: Vec<crate::events::Event>,
    pub(crate) leaked_locks: Vec<crate::mm::LeakedLock>,
    /// Lock references a driver moved between frames by changing a locked MDL's PFN array.
    pub(crate) ref_adjust: BTreeMap<crate::addr::Pfn, i64>,
    /// Locked-page charges a driver moved by changing a locked MDL before unlock.
    pub(crate) locked_pages_adjust: BTreeMap<Pid, i64>,
    /// User-mode writes other threads make just before given steps (double-fetch interleavings).
    pub(crate) scheduled: Vec<ScheduledWrite>,
    /// Releases by other user threads, due at given steps ([`ScheduledRelease`]).
    pub(crate) releases: Vec<ScheduledRelease>,
    /// The I/O manager: drivers, devices, thread IRP lists, APCs, clock, filter manager.
    pub(crate) io: crate::iostate::IoState,
    /// Registered drivers (`DriverObject`s), by [`crate::io::DriverId`].
    pub(crate) drivers: Vec<driver::DriverEntry>,
    /// Registered minifilters, in registration order.
    pub(crate) filters: Vec<driver::FilterEntry>,
    /// The DDI call log, while recording ([`Machine::record_ddi_calls`]).
    pub(crate) ddi_log: Option<Box<calls::DdiLog>>,
    /// What names a crash's cause: NULL returns, the last kernel fault, released ranges.
    pub(crate) blame: Blame,
    /// Driver code's `__try` depth and the current service's probes of user ranges.
    pub(crate) user_pointers: crate::user_pointers::UserPointers,
    /// The processor's IRQL ([`crate::irql`]; one processor).
    pub(crate) irql: crate::irql::Kirql,
}

impl Machine {
    /// A fresh machine.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] when memory is smaller than one page or
    /// larger than the model can address (2^52 frames).
    pub fn new(config: Config) -> Result<Machine> {
        let frames = config.physical_memory_bytes / PAGE_SIZE;
        if frames == 0 || frames > (1 << 40) {
            return Err(ModelError::InvalidConfig(format!(
                "physical memory of {} bytes",
                config.physical_memory_bytes
            ))
            .into());
        }
        if config.system_ptes > (1 << 32) {
            return Err(
                ModelError::InvalidConfig(format!("{} system PTEs", config.system_ptes)).into(),
            );
        }
        Ok(Machine {
            phys: PhysicalMemory::new(frames, config.host_memory_limit_bytes),
            system: AddressSpace::default(),
            processes: BTreeMap::new(),
            threads: BTreeMap::new(),
            next_pid: 4,
            next_tid: 8,
            running: None,
            attached: Vec::new(),
            parked_attach: BTreeMap::new(),
            pool: Pool::new(config.pool_limit_bytes),
            sysptes: SystemPtes::new(config.system_ptes),
            mdls: Arena::default(),
            mappings: Arena::default(),
            log: AccessLog::default(),
            counters: crate::counters::Counters::default(),
            irps: Arena::default(),
            events: Vec::new(),
            leaked_locks: Vec::new(),
            ref_adjust: BTreeMap::new(),
            locked_pages_adjust: BTreeMap::new(),
            scheduled: Vec::new(),
            releases: Vec::new(),
            io: crate::iostate::IoState::default(),
            drivers: Vec::new(),
            filters: Vec::new(),
            blame: Blame::default(),
            user_pointers: Default::default(),
            irql: crate::irql::Kirql::PASSIVE_LEVEL,
            crashed: None,
            ddi_log: None,
            step: 0,
            routine: "",
            config,
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The bug check the machine died of, if it has.
    pub fn crashed(&self) -> Option<&BugCheck> {
        self.crashed.as_ref()
    }

    /// Number of public calls made so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Whether shadow memory is on.
    pub fn shadow_enabled(&self) -> bool {
        self.config.shadow
    }

    /// Starts a public call: fails with the recorded bug check once crashed, and with
    /// [`ModelError::HostMemoryLimit`] once the host-memory budget is exceeded.
    pub(crate) fn enter(&mut self, routine: &'static str) -> Result<()> {
        self.alive()?;
        // Frees of the previous step not reported yet (none: each freeing path reports).
        self.report_frames_freed_while_mapped();
        self.step += 1;
        self.routine = routine;
        if !self.scheduled.is_empty() || !self.releases.is_empty() {
            self.run_scheduled();
        }
        Ok(())
    }

    /// Whether the machine can still take calls: the recorded bug check once crashed,
    /// [`ModelError::HostMemoryLimit`] once over its host-memory budget. Field accesses a
    /// driver makes (`irp_mut`, `device_mut`) check this without taking a step.
    pub(crate) fn alive(&self) -> Result<()> {
        if let Some(b) = &self.crashed {
            return Err(Fault::BugCheck(b.clone()));
        }
        if self.phys.host_bytes() > self.phys.host_limit() {
            return Err(self.host_budget_fault());
        }
        Ok(())
    }

    /// The fault of work refused for the host-memory budget.
    pub(crate) fn host_budget_fault(&self) -> Fault {
        self.phys.budget_fault()
    }

    /// The current step and routine, to stamp on a new object.
    pub(crate) fn birth(&self) -> Birth {
        Birth {
            step: self.step,
            routine: self.routine,
        }
    }

    /// Bug-checks the machine: records it and returns it as a fault.
    pub(crate) fn bug_check(
        &mut self,
        code: BugCheckCode,
        params: [u64; 4],
        detail: impl Into<String>,
    ) -> Fault {
        crate::fault::bug_check(&mut self.crashed, code, params, detail)
    }

    // ----- processes and threads -------------------------------------------------------

    fn new_thread(&mut self, pid: Pid) -> Result<Tid> {
        let tid = Tid(self.next_tid);
        self.next_tid = self.next_tid.checked_add(4).ok_or(ids_exhausted())?;
        self.threads.insert(
            tid,
            Thread {
                tid,
                pid,
                alive: true,
                terminating: false,
            },
        );
        Ok(tid)
    }

    /// A process, live or not.
    pub fn process(&self, pid: Pid) -> Result<&Process> {
        crate::process::lookup(&self.processes, pid)
    }

    /// All processes ever created, in creation order.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.values()
    }

    /// A thread.
    pub fn thread(&self, tid: Tid) -> Result<&Thread> {
        self.threads
            .get(&tid)
            .ok_or(Fault::Model(ModelError::NoSuchThread(tid.0)))
    }

    /// The process, checked to be running.
    pub(crate) fn live_process(&self, pid: Pid) -> Result<&Process> {
        let p = self.process(pid)?;
        if !p.is_alive() {
            return Err(Fault::Status(
                crate::status::NtStatus::PROCESS_IS_TERMINATING,
            ));
        }
        Ok(p)
    }

    pub(crate) fn process_mut(&mut self, pid: Pid) -> Result<&mut Process> {
        crate::process::lookup_mut(&mut self.processes, pid)
    }

    // ----- context ---------------------------------------------------------------------

    /// Makes a thread of `pid` the running one (a context switch, or entry to a
    /// system service from that process); `None` runs a system thread, whose
    /// context has no user address space.
    ///
    /// `KeStackAttachProcess` state belongs to a thread: an attach left open by the
    /// outgoing context is parked with it and resumes when that context runs again;
    /// the incoming context runs in its own process.
    pub fn switch_to(&mut self, pid: Option<Pid>) -> Result<()> {
        self.enter("KiSwapContext")?;
        if let Some(p) = pid {
            self.process(p)?;
        }
        // Attach state is per thread: park the outgoing context's stack, resume the
        // incoming one's (empty for a context that never attached).
        let outgoing = std::mem::take(&mut self.attached);
        if !outgoing.is_empty() {
            self.parked_attach.insert(self.running, outgoing);
        }
        self.attached = self.parked_attach.remove(&pid).unwrap_or_default();
        self.running = pid;
        Ok(())
    }

    /// [`KeStackAttachProcess`]: kernel accesses to user addresses now go to `pid`'s space.
    ///
    /// [`KeStackAttachProcess`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-kestackattachprocess
    #[doc(alias = "KeStackAttachProcess")]
    pub fn attach(&mut self, pid: Pid) -> Result<()> {
        self.enter("KeStackAttachProcess")?;
        self.process(pid)?;
        self.attached.push(Some(pid));
        Ok(())
    }

    /// [`KeUnstackDetachProcess`]: undoes the last [`Machine::attach`].
    ///
    /// [`KeUnstackDetachProcess`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-keunstackdetachprocess
    #[doc(alias = "KeUnstackDetachProcess")]
    pub fn detach(&mut self) -> Result<()> {
        self.enter("KeUnstackDetachProcess")?;
        self.attached
            .pop()
            .map(|_| ())
            .ok_or(Fault::Model(ModelError::NotAttached))
    }

    /// The process whose user space is current (`PsGetCurrentProcess` after attaches).
    #[doc(alias = "PsGetCurrentProcess")]
    #[doc(alias = "IoGetCurrentProcess")]
    pub fn current_process(&self) -> Option<Pid> {
        match self.attached.last() {
            Some(p) => *p,
            None => self.running,
        }
    }

    pub(crate) fn space(&self, id: SpaceId) -> Option<&AddressSpace> {
        match id {
            SpaceId::System => Some(&self.system),
            SpaceId::Process(p) => self.processes.get(&p).map(|p| &p.space),
        }
    }

    // ----- statistics -----------------------------------------------------------------

    /// Work done so far (see [`crate::counters`]).
    pub fn counters(&self) -> crate::counters::Counters {
        self.counters
    }

    /// Frames of simulated RAM ever touched (materialised).
    pub fn frames_touched(&self) -> u64 {
        self.phys.touched()
    }

    /// What one [`Machine::audit`] walks: materialised frames plus the PTEs of every
    /// address space (system and processes). The fuzz targets audit after every step
    /// while this is small and at checkpoints once it is large.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn audit_size(&self) -> u64 {
        let ptes: usize = self.system.pte_count()
            + self
                .processes
                .values()
                .map(|p| p.space.pte_count())
                .sum::<usize>();
        self.phys.touched() + ptes as u64
    }

    /// Frames currently allocated.
    pub fn frames_in_use(&self) -> u64 {
        self.phys.in_use()
    }

    /// Frames of simulated RAM that can be handed out: the configured RAM's frames less
    /// frame 0, which is reserved (Windows never hands out physical page 0).
    pub fn frames_total(&self) -> u64 {
        self.phys.total().saturating_sub(1)
    }

    /// Approximate host memory held by materialised frames, in bytes.
    pub fn host_frame_bytes(&self) -> u64 {
        self.phys.host_bytes()
    }
}
