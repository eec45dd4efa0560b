//! [`Kernel`]: what driver code sees of the machine.

use super::calls::MdlArg;
use super::driver::MiniFilter;
use crate::addr::Va;
use crate::fault::Result;
use crate::iostate::device::{Device, DeviceId, DriverId};
use crate::iostate::flt::CallbackData;
use crate::iostate::irp::{Irp, IrpId, StackLocation};
use crate::machine::Machine;
use crate::mdl::{AccessMode, CacheType, LockOperation, Mdl, MdlFlags, MdlId};
use crate::pool::PoolType;
use crate::space::{Pid, Protection, Tid};
use crate::status::NtStatus;
use crate::vm::MemoryBasicInformation;
use std::sync::Arc;

/// The DDI-only view of a [`Machine`] that driver code receives. Obtained with
/// [`Machine::kernel`]; the harness creates one for every call into a driver.
///
/// Strategies ([`crate::strategy::ProxyStrategy`]), drivers ([`crate::io::Driver`]) and
/// minifilters ([`crate::io::fltmgr::MiniFilter`]) are handed a `&mut Kernel<'_>`, not the
/// [`Machine`]. It exposes the DDIs a driver can call and the memory accesses it can
/// make, in the current context (the running thread, after any `KeStackAttachProcess`),
/// and nothing else: the oracle's inspection (`peek`, provenance labels, frame bytes,
/// `audit`, `hazards`, the access log), the harness's controls (creating and switching
/// processes, scheduling other threads' writes, the clock) and user-mode actions (a
/// process's own reads and writes, system services) stay on [`Machine`], for tests and
/// the oracle.
///
/// Every method is the [`Machine`] method of the same name (same checks, same faults,
/// same step count): the DDI's code lives in one place, its subsystem's module, and the
/// `Kernel` only narrows who may call what. The writes a C driver can make to the
/// structures it holds — `Irp->IoStatus`, `Mdl->MdlFlags`, an entry of
/// `MmGetMdlPfnArray(Mdl)` — are here too, named after what they model; the model
/// records the ones that break a rule as events ([`Machine::events`]).
///
/// ```
/// use mdlsim::{Config, Kernel, Machine};
/// use mdlsim::mdl::{AccessMode, LockOperation};
/// use mdlsim::{space::Protection, vm::{MEM_COMMIT, MEM_RESERVE}};
///
/// // Driver code: written against the Kernel only.
/// fn lock_and_map(k: &mut Kernel<'_>, va: mdlsim::addr::Va, len: u32) -> mdlsim::Result<u8> {
///     let mdl = k.io_allocate_mdl(va, len, false, false, None)?.expect("an MDL");
///     k.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess)?;
///     let sys = k.mm_get_system_address_for_mdl_safe(mdl, 16)?.expect("mapped");
///     let first = k.kernel_read(sys, 1)?[0];
///     k.mm_unlock_pages(mdl)?;
///     k.io_free_mdl(mdl)?;
///     Ok(first)
/// }
///
/// // The test: sets the scene on the Machine, runs the driver in the app's context.
/// let mut m = Machine::new(Config::default()).unwrap();
/// let app = m.create_process("app").unwrap();
/// let va = m.virtual_alloc(app, None, 0x1000, MEM_COMMIT | MEM_RESERVE, Protection::ReadWrite).unwrap();
/// m.user_write(app, va, b"x").unwrap();
/// m.switch_to(Some(app)).unwrap();
/// assert_eq!(lock_and_map(&mut m.kernel(), va, 1).unwrap(), b'x');
/// assert!(m.audit().is_empty());
/// ```
///
/// The oracle's view is not there: driver code cannot look at provenance, so it cannot
/// depend on it.
///
/// ```compile_fail
/// fn cheat(k: &mut mdlsim::Kernel<'_>, va: mdlsim::addr::Va) {
///     let _ = k.labels(mdlsim::space::SpaceId::System, va, 1); // no such method
/// }
/// ```
#[derive(Debug)]
pub struct Kernel<'m> {
    pub(super) m: &'m mut Machine,
}

impl Machine {
    /// The DDI-only view driver code runs against, in the current context: what a test
    /// hands its own driver code (`strategy.expose(&mut m.kernel(), &io)`).
    pub fn kernel(&mut self) -> Kernel<'_> {
        Kernel { m: self }
    }
}

impl Kernel<'_> {
    /// The machine behind the view, for the crate's own system components written as
    /// drivers (the filter manager reads its registrations; the verify harness's proxy
    /// driver records steps and contexts for the oracle); never for a driver's logic.
    pub(crate) fn system(&mut self) -> &mut Machine {
        self.m
    }

    /// Runs `f` on the whole machine *between two of the driver's calls*, as another
    /// thread or an observer would: how a test interleaves an event into driver code (the
    /// client thread exiting while a strategy is inside `expose`, another thread's write)
    /// or inspects the machine mid-routine (provenance labels at a callback). The
    /// interleaving is explicit and replayable, as every concurrency in the model is.
    /// Driver logic never needs it: what it may call is the rest of this type, and the
    /// built-in strategies and drivers do not use it.
    ///
    /// ```
    /// use mdlsim::{Config, Machine};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let app = m.create_process("app").unwrap();
    /// let mut k = m.kernel();
    /// let tid = k.interleave(|m| m.process(app).unwrap().threads[0]);
    /// k.interleave(|m| m.terminate_thread(tid)).unwrap();
    /// ```
    pub fn interleave<R>(&mut self, f: impl FnOnce(&mut Machine) -> R) -> R {
        f(self.m)
    }

    /// A shorter-lived view of the same machine (to lend the kernel to a nested routine).
    pub fn reborrow(&mut self) -> Kernel<'_> {
        Kernel { m: self.m }
    }
}

/// Delegates each listed method to the [`Machine`] method of the same name, with the
/// DDI it models as a `#[doc(alias)]` and a link to the implementation's documentation.
macro_rules! ddis {
    () => {};
    (
        $(#[doc = $doc:literal])*
        $alias:literal => unrecorded fn $name:ident(&mut self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty;
        $($rest:tt)*
    ) => {
        impl Kernel<'_> {
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = concat!("The machine's [`Machine::", stringify!($name), "`], in the current context (its rules, faults and example are there). A field access, not a call: not in the DDI call log.")]
            #[doc(alias = $alias)]
            pub fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                self.m.$name($($arg),*)
            }
        }
        ddis! { $($rest)* }
    };
    (
        $(#[doc = $doc:literal])*
        $alias:literal => fn $name:ident(&mut self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty;
        $($rest:tt)*
    ) => {
        impl Kernel<'_> {
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = concat!("The machine's [`Machine::", stringify!($name), "`], in the current context (its rules, faults and example are there).")]
            #[doc(alias = $alias)]
            #[allow(clippy::too_many_arguments)]
            pub fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                let args = || super::calls::show_args(&[$((stringify!($arg), super::calls::DdiArg::show(&$arg, stringify!($arg)))),*]);
                let Some(i) = self.m.ddi_call_begin($alias, args) else {
                    return self.m.$name($($arg),*);
                };
                let r = self.m.$name($($arg),*);
                self.m.ddi_call_end(i, super::calls::show_result(&r));
                r
            }
        }
        ddis! { $($rest)* }
    };
    (
        $(#[doc = $doc:literal])*
        $alias:literal => fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty;
        $($rest:tt)*
    ) => {
        impl Kernel<'_> {
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = concat!("The machine's [`Machine::", stringify!($name), "`], in the current context (its rules and example are there).")]
            #[doc(alias = $alias)]
            pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.m.$name($($arg),*)
            }
        }
        ddis! { $($rest)* }
    };
}

ddis! {
    // ----- MDLs -------------------------------------------------------------------------
    /// `IoAllocateMdl`.
    "IoAllocateMdl" => fn io_allocate_mdl(&mut self, va: Va, length: u32, secondary_buffer: bool, charge_quota: bool, irp: Option<IrpId>) -> Result<Option<MdlId>>;
    /// `IoFreeMdl`.
    "IoFreeMdl" => fn io_free_mdl(&mut self, mdl: impl MdlArg) -> Result<()>;
    /// `IoBuildPartialMdl`.
    "IoBuildPartialMdl" => fn io_build_partial_mdl(&mut self, source: impl MdlArg, target: impl MdlArg, va: Va, length: u32) -> Result<()>;
    /// `MmCreateMdl`.
    "MmCreateMdl" => fn mm_create_mdl(&mut self, base: Va, length: u32) -> Result<Option<MdlId>>;
    /// `MmInitializeMdl`.
    "MmInitializeMdl" => fn mm_initialize_mdl(&mut self, mdl: impl MdlArg, base: Va, length: u32) -> Result<()>;
    /// `MmPrepareMdlForReuse`.
    "MmPrepareMdlForReuse" => fn mm_prepare_mdl_for_reuse(&mut self, mdl: impl MdlArg) -> Result<()>;
    /// `MmBuildMdlForNonPagedPool`.
    "MmBuildMdlForNonPagedPool" => fn mm_build_mdl_for_non_paged_pool(&mut self, mdl: impl MdlArg) -> Result<()>;
    /// `MmProbeAndLockPages`.
    "MmProbeAndLockPages" => fn mm_probe_and_lock_pages(&mut self, mdl: impl MdlArg, mode: AccessMode, operation: LockOperation) -> Result<()>;
    /// `MmProbeAndLockProcessPages`.
    "MmProbeAndLockProcessPages" => fn mm_probe_and_lock_process_pages(&mut self, mdl: impl MdlArg, process: Pid, mode: AccessMode, operation: LockOperation) -> Result<()>;
    /// `MmUnlockPages`.
    "MmUnlockPages" => fn mm_unlock_pages(&mut self, mdl: impl MdlArg) -> Result<()>;
    /// `MmGetSystemAddressForMdlSafe`.
    "MmGetSystemAddressForMdlSafe" => fn mm_get_system_address_for_mdl_safe(&mut self, mdl: impl MdlArg, priority: u32) -> Result<Option<Va>>;
    /// `MmMapLockedPages`.
    "MmMapLockedPages" => fn mm_map_locked_pages(&mut self, mdl: impl MdlArg, mode: AccessMode) -> Result<Option<Va>>;
    /// `MmMapLockedPagesSpecifyCache`.
    "MmMapLockedPagesSpecifyCache" => fn mm_map_locked_pages_specify_cache(&mut self, mdl: impl MdlArg, mode: AccessMode, cache: CacheType, base: Option<Va>, bug_check_on_failure: bool, priority: u32) -> Result<Option<Va>>;
    /// `MmProtectMdlSystemAddress`.
    "MmProtectMdlSystemAddress" => fn mm_protect_mdl_system_address(&mut self, mdl: impl MdlArg, protect: u32) -> Result<()>;
    /// `MmUnmapLockedPages`.
    "MmUnmapLockedPages" => fn mm_unmap_locked_pages(&mut self, base: Va, mdl: impl MdlArg) -> Result<()>;
    /// `MmAllocatePagesForMdlEx`.
    "MmAllocatePagesForMdlEx" => fn mm_allocate_pages_for_mdl_ex(&mut self, low: u64, high: u64, skip: u64, total_bytes: u64, cache: CacheType, flags: u32) -> Result<Option<MdlId>>;
    /// `MmFreePagesFromMdl`.
    "MmFreePagesFromMdl" => fn mm_free_pages_from_mdl(&mut self, mdl: impl MdlArg) -> Result<()>;
    /// Reading an MDL's header and PFN array (`Mdl->ByteCount`, `MmGetMdlPfnArray`, ...).
    "MmGetMdlPfnArray" => fn mdl(&self, mdl: MdlId) -> Result<&Mdl>;
    /// A driver writing `MmGetMdlPfnArray(Mdl)[index] = value`.
    "MmGetMdlPfnArray" => fn mdl_set_pfn(&mut self, mdl: impl MdlArg, index: u32, value: u64) -> Result<()>;
    /// A driver copying entries between two MDLs' PFN arrays (`RtlCopyMemory`).
    "MmGetMdlPfnArray" => fn mdl_copy_pfns(&mut self, src: impl MdlArg, src_index: u32, dst: impl MdlArg, dst_index: u32, count: u32) -> Result<()>;
    /// A driver writing `Mdl->MdlFlags = flags`.
    "MdlFlags" => fn mdl_set_flags(&mut self, mdl: impl MdlArg, flags: MdlFlags) -> Result<()>;
    /// A driver writing `Mdl->Next = next`.
    "MDL" => fn mdl_set_next(&mut self, mdl: impl MdlArg, next: Option<MdlId>) -> Result<()>;

    // ----- pool -------------------------------------------------------------------------
    /// `ExAllocatePool2`.
    "ExAllocatePool2" => fn ex_allocate_pool2(&mut self, flags: u64, size: u64, tag: u32) -> Result<Option<Va>>;
    /// `ExAllocatePoolWithTag`.
    "ExAllocatePoolWithTag" => fn ex_allocate_pool_with_tag(&mut self, pool_type: PoolType, size: u64, tag: u32) -> Result<Option<Va>>;
    /// `ExFreePool`.
    "ExFreePool" => fn ex_free_pool(&mut self, va: Va) -> Result<()>;
    /// `ExFreePoolWithTag`.
    "ExFreePoolWithTag" => fn ex_free_pool_with_tag(&mut self, va: Va, tag: u32) -> Result<()>;

    // ----- user-supplied addresses -----------------------------------------------------
    /// `ProbeForRead`.
    "ProbeForRead" => fn probe_for_read(&mut self, va: Va, len: u64, alignment: u32) -> Result<()>;
    /// `ProbeForWrite`.
    "ProbeForWrite" => fn probe_for_write(&mut self, va: Va, len: u64, alignment: u32) -> Result<()>;

    // ----- virtual memory and processes -------------------------------------------------
    /// `ZwAllocateVirtualMemory`.
    "ZwAllocateVirtualMemory" => fn virtual_alloc(&mut self, pid: Pid, base: Option<Va>, size: u64, alloc_type: u32, protect: Protection) -> Result<Va>;
    /// `ZwFreeVirtualMemory`.
    "ZwFreeVirtualMemory" => fn virtual_free(&mut self, pid: Pid, base: Va, size: u64, free_type: u32) -> Result<()>;
    /// `ZwProtectVirtualMemory`.
    "ZwProtectVirtualMemory" => fn virtual_protect(&mut self, pid: Pid, base: Va, size: u64, protect: Protection) -> Result<Protection>;
    /// `ZwQueryVirtualMemory(MemoryBasicInformation)`.
    "ZwQueryVirtualMemory" => fn zw_query_virtual_memory(&self, pid: Pid, va: Va) -> Result<MemoryBasicInformation>;
    /// `KeStackAttachProcess`.
    "KeStackAttachProcess" => fn attach(&mut self, pid: Pid) -> Result<()>;
    /// `KeUnstackDetachProcess`.
    "KeUnstackDetachProcess" => fn detach(&mut self) -> Result<()>;
    /// `PsGetCurrentProcess`.
    "PsGetCurrentProcess" => fn current_process(&self) -> Option<Pid>;
    /// `PsGetCurrentThread`.
    "PsGetCurrentThread" => fn current_thread(&self) -> Option<Tid>;
    /// The interrupt-time clock, in milliseconds (`KeQueryInterruptTime() / 10,000`).
    "KeQueryInterruptTime" => fn now_ms(&self) -> u64;
    /// `PsIsThreadTerminating`.
    "PsIsThreadTerminating" => fn ps_is_thread_terminating(&self, tid: Tid) -> Result<bool>;
    /// `PsGetProcessExitStatus`.
    "PsGetProcessExitStatus" => fn ps_get_process_exit_status(&self, pid: Pid) -> Result<NtStatus>;

    // ----- IRPs and devices -------------------------------------------------------------
    /// `IoAllocateIrp`.
    "IoAllocateIrp" => fn io_allocate_irp(&mut self, stack_size: u8) -> Result<IrpId>;
    /// `IoFreeIrp`.
    "IoFreeIrp" => fn io_free_irp(&mut self, irp: IrpId) -> Result<()>;
    /// `IoReuseIrp`.
    "IoReuseIrp" => fn io_reuse_irp(&mut self, irp: IrpId, status: NtStatus) -> Result<()>;
    /// Reading an IRP's fields.
    "IRP" => fn irp(&self, irp: IrpId) -> Result<&Irp>;
    /// Writing an IRP's fields (`Irp->IoStatus`, `Irp->MdlAddress`, ...).
    "IRP" => unrecorded fn irp_mut(&mut self, irp: IrpId) -> Result<&mut Irp>;
    /// `IoBuildDeviceIoControlRequest`.
    "IoBuildDeviceIoControlRequest" => fn io_build_device_io_control_request(&mut self, io_control_code: u32, device: DeviceId, input: Option<Va>, input_length: u32, output: Option<Va>, output_length: u32, internal: bool, iosb: Option<Va>) -> Result<Option<IrpId>>;
    /// `IoBuildSynchronousFsdRequest`.
    "IoBuildSynchronousFsdRequest" => fn io_build_synchronous_fsd_request(&mut self, major: u8, device: DeviceId, buffer: Va, length: u32, byte_offset: u64, iosb: Option<Va>) -> Result<Option<IrpId>>;
    /// `IoCallDriver`.
    "IofCallDriver" => fn io_call_driver(&mut self, device: DeviceId, irp: IrpId) -> Result<NtStatus>;
    /// `IoCompleteRequest`.
    "IofCompleteRequest" => fn io_complete_request(&mut self, irp: IrpId) -> Result<()>;
    /// `IoMarkIrpPending`.
    "IoMarkIrpPending" => fn io_mark_irp_pending(&mut self, irp: IrpId) -> Result<()>;
    /// `IoGetCurrentIrpStackLocation`.
    "IoGetCurrentIrpStackLocation" => fn io_get_current_irp_stack_location(&self, irp: IrpId) -> Result<StackLocation>;
    /// `IoGetNextIrpStackLocation`, written.
    "IoGetNextIrpStackLocation" => fn io_set_next_irp_stack_location(&mut self, irp: IrpId, loc: StackLocation) -> Result<()>;
    /// `IoCopyCurrentIrpStackLocationToNext`.
    "IoCopyCurrentIrpStackLocationToNext" => fn io_copy_current_irp_stack_location_to_next(&mut self, irp: IrpId) -> Result<()>;
    /// `IoSkipCurrentIrpStackLocation`.
    "IoSkipCurrentIrpStackLocation" => fn io_skip_current_irp_stack_location(&mut self, irp: IrpId) -> Result<()>;
    /// `IoSetCompletionRoutine`.
    "IoSetCompletionRoutine" => fn io_set_completion_routine(&mut self, irp: IrpId, device: DeviceId, context: u64, on_success: bool, on_error: bool, on_cancel: bool) -> Result<()>;
    /// `IoSetCancelRoutine`.
    "IoSetCancelRoutine" => fn io_set_cancel_routine(&mut self, irp: IrpId, routine: Option<DeviceId>) -> Result<Option<DeviceId>>;
    /// `IoCancelIrp`.
    "IoCancelIrp" => fn io_cancel_irp(&mut self, irp: IrpId) -> Result<bool>;
    /// `IoCsqInsertIrp`.
    "IoCsqInsertIrp" => fn io_queue_push(&mut self, device: DeviceId, irp: IrpId) -> Result<()>;
    /// `IoCsqRemoveNextIrp`.
    "IoCsqRemoveNextIrp" => fn io_queue_pop(&mut self, device: DeviceId) -> Result<Option<IrpId>>;
    /// `IoCsqRemoveIrp`.
    "IoCsqRemoveIrp" => fn io_queue_remove(&mut self, device: DeviceId, irp: IrpId) -> Result<bool>;
    /// `IoCreateDevice`.
    "IoCreateDevice" => fn io_create_device(&mut self, driver: DriverId, name: &str, flags: u32) -> Result<DeviceId>;
    /// `IoAttachDeviceToDeviceStack`.
    "IoAttachDeviceToDeviceStack" => fn io_attach_device_to_device_stack(&mut self, source: DeviceId, target: DeviceId) -> Result<DeviceId>;
    /// `IoDetachDevice`.
    "IoDetachDevice" => fn io_detach_device(&mut self, target: DeviceId) -> Result<()>;
    /// `IoGetAttachedDevice`.
    "IoGetAttachedDevice" => fn io_get_attached_device(&self, device: DeviceId) -> Result<DeviceId>;
    /// Reading a device object's fields (`DeviceObject->Flags`, `StackSize`, ...).
    "DEVICE_OBJECT" => fn device(&self, device: DeviceId) -> Result<&Device>;
    /// Writing a device object's fields.
    "DEVICE_OBJECT" => unrecorded fn device_mut(&mut self, device: DeviceId) -> Result<&mut Device>;
    /// `KeRaiseIrql`.
    "KeRaiseIrql" => fn ke_raise_irql(&mut self, new: crate::irql::Kirql) -> Result<crate::irql::Kirql>;
    /// `KeLowerIrql`.
    "KeLowerIrql" => fn ke_lower_irql(&mut self, new: crate::irql::Kirql) -> Result<()>;
    /// `KeAcquireSpinLock`.
    "KeAcquireSpinLock" => fn ke_acquire_spin_lock(&mut self, lock: Va) -> Result<crate::irql::Kirql>;
    /// `KeReleaseSpinLock`.
    "KeReleaseSpinLock" => fn ke_release_spin_lock(&mut self, lock: Va, old: crate::irql::Kirql) -> Result<()>;
    /// `KeSetTimer` (with a DPC calling the device's driver's timer routine).
    "KeSetTimer" => fn ke_set_timer(&mut self, device: DeviceId, due_in_ms: u64, context: u64) -> Result<()>;
    /// `FsRtlNotifyFullReportChange`.
    "FsRtlNotifyFullReportChange" => fn fs_rtl_notify_full_report_change(&mut self, irp: IrpId, record: &[u8]) -> Result<()>;

    // ----- filter manager ---------------------------------------------------------------
    /// `FltRegisterFilter` (with `FltStartFiltering`).
    "FltRegisterFilter" => fn flt_register_filter(&mut self, name: &str, altitude: u32, code: Arc<dyn MiniFilter>) -> Result<()>;
    /// `FltGetNewSystemBufferAddress`.
    "FltGetNewSystemBufferAddress" => fn flt_get_new_system_buffer_address(&mut self, data: &CallbackData) -> Result<Option<Va>>;
    /// `FltSetCallbackDataDirty`.
    "FltSetCallbackDataDirty" => fn flt_set_callback_data_dirty(&mut self, data: &mut CallbackData) -> Result<()>;
    /// `FltClearCallbackDataDirty`.
    "FltClearCallbackDataDirty" => fn flt_clear_callback_data_dirty(&mut self, data: &mut CallbackData) -> Result<()>;
    /// `FltIsCallbackDataDirty`.
    "FltIsCallbackDataDirty" => fn flt_is_callback_data_dirty(&mut self, data: &CallbackData) -> Result<bool>;
    /// `FltLockUserBuffer`.
    "FltLockUserBuffer" => fn flt_lock_user_buffer(&mut self, data: &mut CallbackData) -> Result<()>;
}
