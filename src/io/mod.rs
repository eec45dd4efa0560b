//! The I/O manager and the filter manager ([semantics §5], [§6]).
//!
//! * [`irp`]: the IRP, its flags (exact `iotypes.h` values), stack locations and parameters.
//! * [`device`]: drivers ([`Driver`]), device objects, device stacks, device extensions.
//! * [`ioctl`]: `CTL_CODE` and the `METHOD_*` transfer types.
//! * `services`: `NtReadFile`, `NtWriteFile`, `NtDeviceIoControlFile`,
//!   `NtNotifyChangeDirectoryFile` — each builds its IRP exactly as [semantics §5.2]–[§5.6] says.
//! * `build`: kernel-built IRPs (`IoBuildDeviceIoControlRequest`,
//!   `IoBuildSynchronousFsdRequest`, [semantics §5.4]).
//! * `dispatch`: `IoCallDriver` and the stack-location routines.
//! * `complete`: `IoCompleteRequest` in two stages ([semantics §5.7]).
//! * [`cancel`]: `IoCancelIrp`, cancel routines, and completion-vs-cancel races as
//!   explicit, enumerable interleavings.
//! * `rundown`: the simulated clock, timers, thread I/O rundown at process exit ([semantics §6]).
//! * [`fltmgr`]: minifilters, callback data, `FltGetNewSystemBufferAddress` (the [directory change
//!   notification][design-notification]).
//! * [`drivers`]: ready-made drivers for tests and examples.
//!
//! ## Writing a driver
//!
//! A driver is a Rust value implementing [`Driver`]; its dispatch routine gets the
//! [`Kernel`](crate::Kernel) and the IRP and uses the same DDIs a C driver would:
//!
//! ```
//! use std::sync::Arc;
//! use mdlsim::{Config, Kernel, Machine, Result};
//! use mdlsim::io::{DeviceId, Driver, IoStatusBlock, IrpId, Parameters, ioctl::*};
//! use mdlsim::{space::Protection, status::NtStatus, vm::{MEM_COMMIT, MEM_RESERVE}};
//!
//! /// METHOD_BUFFERED: reads the input from the SystemBuffer, answers in the same buffer.
//! #[derive(Debug)]
//! struct Upcase;
//!
//! impl Driver for Upcase {
//!     fn dispatch(&self, k: &mut Kernel<'_>, _dev: DeviceId, irp: IrpId) -> Result<NtStatus> {
//!         let loc = k.io_get_current_irp_stack_location(irp)?;
//!         let Parameters::DeviceIoControl { input_buffer_length: n, output_buffer_length: o, .. } =
//!             loc.parameters else { unreachable!() };
//!         let sb = k.irp(irp)?.system_buffer.expect("in/out lengths are not zero");
//!         let text = k.kernel_read(sb, n as u64)?;
//!         k.kernel_write(sb, &text.to_ascii_uppercase())?;
//!         k.irp_mut(irp)?.io_status = IoStatusBlock { status: NtStatus::SUCCESS, information: n.min(o) as u64 };
//!         k.io_complete_request(irp)?;
//!         Ok(NtStatus::SUCCESS)
//!     }
//! }
//!
//! let mut m = Machine::new(Config::default()).unwrap();
//! let drv = m.io_register_driver("upcase", Arc::new(Upcase)).unwrap();
//! let dev = m.io_create_device(drv, "\\Device\\Upcase", 0).unwrap();
//! let app = m.create_process("app").unwrap();
//! let tid = m.process(app).unwrap().threads[0];
//! let buf = m.virtual_alloc(app, None, 0x1000, MEM_COMMIT | MEM_RESERVE, Protection::ReadWrite).unwrap();
//! m.user_write(app, buf, b"hello").unwrap();
//! let code = ctl_code(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
//! let r = m.nt_device_io_control_file(tid, dev, None, code, Some(buf), 5, Some(buf), 5).unwrap();
//! assert_eq!(r.status, NtStatus::SUCCESS);
//! assert_eq!(m.user_read(app, buf, 5).unwrap(), b"HELLO"); // copied back in stage 2
//! assert!(m.audit().is_empty() && m.pool_allocations().count() == 0);
//! ```
//!
//! Modelling choices (each also stated where it applies): the stage-2 kernel APC runs
//! at once unless [`ApcDelivery::Deferred`] is selected; a thread-less IRP that reaches
//! stage 2 is cleaned up like a cancelled one (`IopCleanupIrp`); file objects and
//! handles are not modelled (a request names the device it is opened on).
//!
//! [semantics §5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5
//! [§6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
//! [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
//! [§5.6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.6
//! [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
//! [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
//! [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification

mod build;
pub mod cancel;
mod complete;
pub mod device;
mod dispatch;
pub mod drivers;
mod fltlock;
pub mod fltmgr;
pub mod ioctl;
pub mod irp;
mod rundown;
mod services;

pub use build::IRP_MJ_INTERNAL_DEVICE_CONTROL;
pub use device::{
    DO_BUFFERED_IO, DO_DIRECT_IO, Device, DeviceExtension, DeviceId, DispatchRecord, Driver,
    DriverId,
};
pub use irp::{
    CompletionRoutine, Direction, IRP_ALLOCATED_FIXED_SIZE, IRP_ALLOCATED_MUST_SUCCEED,
    IRP_LOOKASIDE_ALLOCATION, IRP_MJ_DEVICE_CONTROL, IRP_MJ_DIRECTORY_CONTROL,
    IRP_MJ_FILE_SYSTEM_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, IRP_MN_NOTIFY_CHANGE_DIRECTORY,
    IRP_QUOTA_CHARGED, IoStatusBlock, Irp, IrpFlags, IrpId, IrpStage, MAX_STACK_SIZE, Parameters,
    StackLocation,
};
pub use services::IoRequest;

pub(crate) use crate::iostate::Timer;
pub use crate::iostate::{ApcDelivery, IoCompletion, IoState};

use crate::addr::Va;
use crate::audit::HazardKind;
use crate::fault::{Fault, ModelError, Result};
use crate::machine::Machine;
use crate::space::Tid;
use crate::status::NtStatus;

/// Pool tag of I/O-manager system buffers (`'Io  '`).
pub const IO_SYSTEM_BUFFER_TAG: u32 = crate::pool::tag(b"Io  ");

impl Machine {
    /// [`IoAllocateIrp`]: a zero-filled IRP with `stack_size` stack locations, owned by no
    /// thread (a driver-built request).
    ///
    /// # Errors
    /// A crashed machine; a `stack_size` above [`irp::MAX_STACK_SIZE`] (its
    /// `CurrentLocation` would not fit the IRP's `CHAR`) is [`ModelError::Unsupported`].
    ///
    /// [`IoAllocateIrp`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioallocateirp
    #[doc(alias = "IoAllocateIrp")]
    pub fn io_allocate_irp(&mut self, stack_size: u8) -> Result<IrpId> {
        self.enter("IoAllocateIrp")?;
        if stack_size > irp::MAX_STACK_SIZE {
            return Err(ModelError::Unsupported(format!(
                "IoAllocateIrp with StackSize {stack_size}: at most {} (CurrentLocation is a CHAR)",
                irp::MAX_STACK_SIZE
            ))
            .into());
        }
        let birth = self.birth();
        Ok(IrpId(self.irps.insert(Irp::new(stack_size, birth))))
    }

    /// The IRP behind a handle.
    ///
    /// # Errors
    /// A freed or unknown IRP is a [`ModelError::StaleHandle`].
    pub fn irp(&self, irp: IrpId) -> Result<&Irp> {
        self.irps.get(irp.0).ok_or_else(|| {
            Fault::Model(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Irp,
                address: irp.address(),
            })
        })
    }

    /// The IRP behind a handle, for a driver to change (`Irp->IoStatus = ...`).
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call
    /// does; a freed or unknown IRP is a [`ModelError::StaleHandle`].
    pub fn irp_mut(&mut self, irp: IrpId) -> Result<&mut Irp> {
        self.alive()?;
        self.irp_entry_mut(irp)
    }

    /// [`Machine::irp_mut`] for the I/O manager itself, which finishes its bookkeeping on
    /// the way out of a call that bug-checked.
    pub(crate) fn irp_entry_mut(&mut self, irp: IrpId) -> Result<&mut Irp> {
        self.irps.get_mut(irp.0).ok_or_else(|| {
            Fault::Model(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Irp,
                address: irp.address(),
            })
        })
    }

    /// [`IoFreeIrp`]: frees the IRP (its MDLs and buffers are the caller's business).
    ///
    /// # Errors
    /// An IRP still on a thread's list is Driver Verifier's 0xC9/0x20C ([invariant 27]);
    /// a freed IRP is a [`ModelError::StaleHandle`].
    ///
    /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
    /// [`IoFreeIrp`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iofreeirp
    #[doc(alias = "IoFreeIrp")]
    pub fn io_free_irp(&mut self, irp: IrpId) -> Result<()> {
        self.enter("IoFreeIrp")?;
        if let Some(t) = self.irp(irp)?.thread {
            if self
                .io
                .thread_irps
                .get(&t)
                .is_some_and(|l| l.contains(&irp))
            {
                return Err(self.bug_check(
                    crate::bugcheck::BugCheckCode::DRIVER_VERIFIER_IOMANAGER_VIOLATION,
                    [
                        crate::bugcheck::io_verifier::FREE_IRP_QUEUED_TO_THREAD,
                        irp.address(),
                        0,
                        0,
                    ],
                    format!("IoFreeIrp of {irp}, still queued to {t} (invariant 27)"),
                ));
            }
        }
        self.free_irp_record(irp);
        Ok(())
    }

    /// [`IoReuseIrp`]: reinitialises an IRP its driver allocated, for another request.
    /// The IRP is as `IoInitializeIrp` leaves it — no flags, buffers, MDL, thread or
    /// cancel state, `CurrentLocation` back at `StackCount + 1` (wherever the previous
    /// request left it), every stack location zeroed — except that `IoStatus.Status` is
    /// `status` and `AllocationFlags` is kept (Wine's `test_irp_struct`, run on Windows:
    /// `CurrentLocation` 2 and `AllocationFlags` `IRP_ALLOCATED_FIXED_SIZE` after reuse;
    /// ReactOS `IoReuseIrp`). The MDLs and buffers the IRP named are the driver's to free
    /// first: reuse forgets them.
    ///
    /// The routine `ASSERT`s that no cancel routine is set and that the IRP is on no
    /// thread's list. A checked build stops at either; a free build clears a cancel
    /// routine with the rest of the IRP, and the model records
    /// [`crate::events::EventKind::IrpReusedWhileInUse`], as it does for an IRP a driver
    /// still holds in its queue or is dispatching. At the thread-list `ASSERT` the model
    /// stops in both builds (the free build would reinitialise a list entry still linked,
    /// [`crate::windows::KernelBuild`]).
    ///
    /// # Errors
    /// A freed IRP is a [`ModelError::StaleHandle`]; the `ASSERT`s are
    /// `KMODE_EXCEPTION_NOT_HANDLED (0x1E)` with `STATUS_BREAKPOINT`.
    ///
    /// ```
    /// use mdlsim::{Config, Machine, io::IRP_ALLOCATED_FIXED_SIZE, status::NtStatus};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let irp = m.io_allocate_irp(1).unwrap();
    /// m.irp_mut(irp).unwrap().current_location = 1; // as a hand-made IoSetNextIrpStackLocation
    /// m.io_reuse_irp(irp, NtStatus::UNSUCCESSFUL).unwrap();
    /// let i = m.irp(irp).unwrap();
    /// assert_eq!((i.current_location, i.allocation_flags), (2, IRP_ALLOCATED_FIXED_SIZE));
    /// assert_eq!(i.io_status.status, NtStatus::UNSUCCESSFUL);
    /// ```
    ///
    /// [`IoReuseIrp`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioreuseirp
    #[doc(alias = "IoReuseIrp")]
    pub fn io_reuse_irp(&mut self, irp: IrpId, status: NtStatus) -> Result<()> {
        self.enter("IoReuseIrp")?;
        let i = self.irp(irp)?;
        let (cancel_routine, thread) = (i.cancel_routine, i.thread);
        if let Some(d) = cancel_routine {
            let detail = format!("IoReuseIrp of {irp} with {d:?}'s cancel routine still set");
            let site = crate::windows::AssertSite::ReuseIrpCancelRoutine;
            if !self.config.kernel_build.continues_after(site) {
                return Err(self.assert_failed(detail));
            }
            self.event(
                crate::events::EventKind::IrpReusedWhileInUse,
                None,
                None,
                format!("{detail}: the free build skips the ASSERT"),
            );
        }
        let queued = self
            .io
            .devices
            .iter()
            .any(|d| d.extension.queue.contains(&irp));
        if queued || self.io.dispatching.iter().any(|d| d.irp == irp) {
            self.event(
                crate::events::EventKind::IrpReusedWhileInUse,
                None,
                None,
                format!("IoReuseIrp of {irp}, still queued or being dispatched"),
            );
        }
        if let Some(t) = thread {
            if self
                .io
                .thread_irps
                .get(&t)
                .is_some_and(|l| l.contains(&irp))
            {
                return Err(
                    self.assert_failed(format!("IoReuseIrp of {irp}, still on {t}'s IRP list"))
                );
            }
        }
        self.irp_entry_mut(irp)?.reinitialize(status);
        Ok(())
    }

    pub(crate) fn free_irp_record(&mut self, irp: IrpId) {
        if self.irps.remove(irp.0).is_some() {
            self.io.freed.insert(irp);
        }
        self.io.flt.data.remove(&irp);
    }

    /// Number of IRPs allocated and not freed.
    pub fn irps_outstanding(&self) -> usize {
        self.irps.len()
    }

    /// Every outstanding IRP, in arena order.
    pub fn irps(&self) -> impl Iterator<Item = (IrpId, &Irp)> {
        self.irps.iter().map(|(h, i)| (IrpId(h), i))
    }

    /// The IRP whose address (`PIRP`, [`IrpId::address`]) is `va`: the outstanding IRP in
    /// that slot, or a handle to the freed one (every routine reports it as stale); `None`
    /// for an address no IRP ever had. For driver code that holds IRPs as pointers
    /// (`mdlsim-native`'s C drivers).
    pub fn irp_at(&self, va: Va) -> Option<IrpId> {
        let off = va.raw().checked_sub(IrpId::BASE)?;
        if off % IrpId::STRIDE != 0 {
            return None;
        }
        let index = u32::try_from(off / IrpId::STRIDE).ok()?;
        self.irps.slot_handle(index).map(IrpId)
    }

    /// The IRPs queued to a thread (`ETHREAD.IrpList`).
    pub fn thread_irps(&self, tid: Tid) -> Vec<IrpId> {
        self.io.thread_irps.get(&tid).cloned().unwrap_or_default()
    }

    /// Every request finished so far (stage 2 or cleanup), in order.
    pub fn io_completions(&self) -> &[IoCompletion] {
        &self.io.completions
    }

    /// The finished record of `irp`, if it has finished.
    pub fn io_completion_of(&self, irp: IrpId) -> Option<&IoCompletion> {
        self.io.completions.iter().find(|c| c.irp == irp)
    }

    /// IRPs disassociated from their threads by a rundown timeout and not yet completed.
    pub fn disassociated_irps(&self) -> Vec<IrpId> {
        self.io.disassociated.keys().copied().collect()
    }

    /// Chooses when stage-2 completion APCs run.
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call does.
    pub fn io_set_apc_delivery(&mut self, mode: ApcDelivery) -> Result<()> {
        self.alive()?;
        self.io.apc_delivery = mode;
        Ok(())
    }

    pub(crate) fn queue_irp_to_thread(&mut self, tid: Tid, irp: IrpId) {
        self.io.thread_irps.entry(tid).or_default().push(irp);
    }

    pub(crate) fn unqueue_irp_from_thread(&mut self, irp: IrpId) {
        for l in self.io.thread_irps.values_mut() {
            l.retain(|i| *i != irp);
        }
        self.io.thread_irps.retain(|_, l| !l.is_empty());
    }
}

impl Machine {
    /// The I/O manager's invariants, checked by [`Machine::audit`]:
    /// `io.thread_list` (every IRP on a thread's list is live and owned by that thread),
    /// `io.apc_queue` (every queued stage-2 APC names a live IRP waiting for it),
    /// `io.disassociated` (a disassociated IRP has no thread),
    /// `io.stack` (`CurrentLocation` within `1..=StackCount + 1` once sent).
    pub(crate) fn audit_io(&self) -> Vec<crate::audit::Violation> {
        use crate::audit::{Invariant, Violation};
        let mut out = Vec::new();
        let mut v = |invariant, object: String, created, detail: String| {
            out.push(Violation {
                invariant,
                object,
                created,
                detail,
            })
        };
        for (tid, list) in &self.io.thread_irps {
            for irp in list {
                match self.irps.get(irp.0) {
                    Some(i) if i.thread == Some(*tid) => {}
                    Some(i) => v(
                        Invariant::IoThreadList,
                        irp.to_string(),
                        Some(i.birth),
                        format!("on {tid}'s list but owned by {:?}", i.thread),
                    ),
                    None => v(
                        Invariant::IoThreadList,
                        irp.to_string(),
                        None,
                        format!("on {tid}'s list but freed"),
                    ),
                }
            }
        }
        for (h, i) in self.irps.iter() {
            let id = IrpId(h);
            if i.stack_count > 0 && i.current_location as u16 > i.stack_count as u16 + 1 {
                v(
                    Invariant::IoStack,
                    id.to_string(),
                    Some(i.birth),
                    format!(
                        "CurrentLocation {} beyond StackCount {} + 1",
                        i.current_location, i.stack_count
                    ),
                );
            }
        }
        for (tid, q) in &self.io.apcs {
            for irp in q {
                if !self
                    .irps
                    .get(irp.0)
                    .is_some_and(|i| i.stage == IrpStage::ApcQueued)
                {
                    v(
                        Invariant::IoApcQueue,
                        irp.to_string(),
                        None,
                        format!("stage-2 APC queued to {tid} for an IRP not waiting for it"),
                    );
                }
            }
        }
        for irp in self.io.disassociated.keys() {
            if let Some(i) = self.irps.get(irp.0) {
                if i.thread.is_some() {
                    v(
                        Invariant::IoDisassociated,
                        irp.to_string(),
                        Some(i.birth),
                        "disassociated but still has a thread".into(),
                    );
                }
            }
        }
        out
    }
}

impl Machine {
    /// I/O hazards: `stuck_irp` (an IRP disassociated from its thread at rundown and still
    /// outstanding — its pages stay locked and its process half torn down),
    /// `irp_chain_freed_mdl` (a driver freed an MDL still on a live IRP's chain: completion
    /// will unlock and free it again) and `irp_system_buffer_freed` (a driver freed the
    /// SystemBuffer the I/O manager owns under IRP_DEALLOCATE_BUFFER: completion will copy
    /// from and free it again).
    pub(crate) fn io_hazards(&self) -> Vec<crate::audit::Hazard> {
        use crate::audit::Hazard;
        let mut out: Vec<Hazard> = self
            .io
            .disassociated
            .iter()
            .filter_map(|(irp, pid)| {
                let i = self.irps.get(irp.0)?;
                let mdls = self.mdl_chain(*irp).map(|c| c.len()).unwrap_or(0);
                Some(Hazard {
                    kind: HazardKind::StuckIrp,
                    object: irp.to_string(),
                    created: Some(i.birth),
                    detail: format!(
                        "outlived the five-minute rundown of {}; {mdls} MDL(s) keep their pages locked",
                        pid.map_or("its process".to_string(), |p| p.to_string())
                    ),
                })
            })
            .collect();
        for (h, i) in self.irps.iter() {
            let id = IrpId(h);
            if let Ok(chain) = self.mdl_chain(id) {
                for m in chain {
                    if self.mdls.get(m.0).is_none() {
                        out.push(Hazard {
                            kind: HazardKind::IrpChainFreedMdl,
                            object: id.to_string(),
                            created: Some(i.birth),
                            detail: format!("MdlAddress chain names freed {m}"),
                        });
                    }
                }
            }
            if i.flags.contains(IrpFlags::DEALLOCATE_BUFFER) {
                if let Some(sb) = i.system_buffer {
                    if !self.pool.allocations().any(|a| a.va == sb) {
                        out.push(Hazard {
                            kind: HazardKind::IrpSystemBufferFreed,
                            object: id.to_string(),
                            created: Some(i.birth),
                            detail: format!(
                                "IRP_DEALLOCATE_BUFFER with SystemBuffer {sb}, which is not a live pool block"
                            ),
                        });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod audit_tests {
    use crate::{Config, Machine};

    /// Negative control for `io.thread_list`: an IRP on a thread's list that was freed
    /// behind the I/O manager's back is a model inconsistency `audit()` names.
    #[test]
    fn audit_names_a_freed_irp_left_on_a_thread_list() {
        let mut m = Machine::new(Config::default()).unwrap();
        let p = m.create_process("app").unwrap();
        let tid = m.process(p).unwrap().threads[0];
        let irp = m.io_allocate_irp(2).unwrap();
        assert!(m.audit().is_empty(), "positive control");
        m.io.thread_irps.entry(tid).or_default().push(irp);
        m.irps.remove(irp.0);
        let a = m.audit();
        assert!(
            a.iter()
                .any(|v| v.invariant == crate::audit::Invariant::IoThreadList),
            "{a:?}"
        );
    }
}
