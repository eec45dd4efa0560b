//! A driver's C dispatch routines as an [`mdlsim::io::Driver`]: `DriverEntry` fills a
//! `DRIVER_OBJECT`'s `MajorFunction` table, and each IRP the I/O manager sends runs the
//! routine for its major function, with the IRP mirrored at its host address
//! (`crate::irps`), so `verify_driver` judges the C code as it judges a Rust driver.

use crate::driver::{BuildError, Driver};
use crate::layout::irp_slot;
use crate::run::{Thunk, layout, run};
use mdlsim::io::{DeviceId, IoStatusBlock, IrpId};
use mdlsim::status::NtStatus;
use mdlsim::{Config, Kernel, Machine};
use std::ffi::c_void;
use std::sync::Arc;

/// `sizeof(DRIVER_OBJECT)` and `sizeof(DEVICE_OBJECT)` on x64, in 8-byte words.
const OBJECT_WORDS: usize = 0x150 / 8;
/// `DRIVER_OBJECT.MajorFunction` on x64, in words.
const MAJOR_FUNCTION: usize = 0x70 / 8;
/// `IRP_MJ_MAXIMUM_FUNCTION + 1`.
const MAJORS: usize = 0x1C;

/// `MDLSIM_DISPATCH_ARGS` (`runtime/host_abi.h`).
#[repr(C)]
struct DispatchArgs {
    function: u64,
    device: *mut u64,
    irp: u64,
    result: i32,
}

/// `MDLSIM_CANCEL_ARGS`.
#[repr(C)]
struct CancelArgs {
    function: u64,
    device: *mut u64,
    irp: u64,
}

/// `MDLSIM_ENTRY_ARGS`.
#[repr(C)]
struct EntryArgs {
    driver: *mut u64,
    result: i32,
}

/// A driver's C dispatch routines, for [`mdlsim::verify_driver`].
///
/// `DriverEntry` runs once, on a machine of its own, to fill the dispatch table: what
/// else it does there (a pool allocation, say) does not carry into the cases. A major
/// function the table leaves empty completes its IRP with
/// `STATUS_INVALID_DEVICE_REQUEST`, as the I/O manager's default routine does.
///
/// When the harness creates the device, `DriverEntry` runs again in that case's machine
/// (`add_device`): its first `IoCreateDevice` is that device, and the device object and
/// its `DeviceExtension` live in the machine's non-paged pool, so state initialised in
/// `DriverEntry` and kept across requests is there for every routine of the case. A
/// driver that creates no device gets a bare device object per call (`DeviceExtension`
/// NULL) naming a copy of its `DRIVER_OBJECT`. The driver's C globals are shared by
/// every case and thread: per-device state belongs in the extension.
#[derive(Debug, Clone)]
pub struct NativeDriver {
    driver: Arc<Driver>,
    /// The `DRIVER_OBJECT` `DriverEntry` filled (host memory, never handed out again:
    /// each call gets a copy).
    object: Arc<[u64; OBJECT_WORDS]>,
}

impl NativeDriver {
    /// Runs the driver's `DriverEntry` and keeps its dispatch table.
    ///
    /// # Errors
    /// [`BuildError::Load`] when the driver has no `DriverEntry`, or it failed (its
    /// status, or what stopped it).
    pub fn new(driver: Driver) -> Result<NativeDriver, BuildError> {
        if !driver.has_entry {
            return Err(BuildError::Load(format!(
                "{}: a dispatch driver defines DriverEntry",
                driver.name()
            )));
        }
        let mut m = Machine::new(Config::default())
            .map_err(|e| BuildError::Load(format!("a machine for DriverEntry: {e}")))?;
        let (status, object) = scratch_entry(&driver, &mut m)
            .map_err(|f| BuildError::Load(format!("{}: DriverEntry: {f}", driver.name())))?;
        if !status.is_success() {
            return Err(BuildError::Load(format!(
                "{}: DriverEntry returned {status}",
                driver.name()
            )));
        }
        Ok(NativeDriver {
            driver: Arc::new(driver),
            object: Arc::new(*object),
        })
    }

    /// The routine `MajorFunction[major]` (0: none).
    fn routine(&self, major: u8) -> u64 {
        let i = usize::from(major);
        if i < MAJORS {
            self.object[MAJOR_FUNCTION + i]
        } else {
            0
        }
    }

    /// The `DEVICE_OBJECT` a routine gets for `device`, naming `driver_object`.
    fn device_object(
        k: &Kernel<'_>,
        device: DeviceId,
        driver_object: *mut u64,
    ) -> mdlsim::Result<Box<[u64; OBJECT_WORDS]>> {
        let d = k.device(device)?;
        let mut o = Box::new([0u64; OBJECT_WORDS]);
        o[0] = 3 | (0x150 << 16); // Type IO_TYPE_DEVICE, Size
        o[1] = driver_object as u64; // DriverObject
        o[6] = u64::from(d.flags); // Flags (0x30)
        o[9] = u64::from(d.stack_size) << 32; // StackSize (0x4C)
        Ok(o)
    }
}

impl mdlsim::io::Driver for NativeDriver {
    /// Runs the driver's `DriverEntry` in this machine, with a `DRIVER_OBJECT` in its
    /// pool: the first `IoCreateDevice` it makes is `device` (`crate::device`), so the
    /// device object and extension it initialises are the ones its routines get.
    fn add_device(&self, k: &mut Kernel<'_>, device: DeviceId) -> mdlsim::Result<()> {
        let tag = u32::from_le_bytes(*b"Driv");
        let size = (OBJECT_WORDS * 8) as u64;
        let va = k
            .interleave(|m| m.ex_allocate_pool2(mdlsim::pool::POOL_FLAG_NON_PAGED, size, tag))?
            .ok_or(mdlsim::Fault::Status(NtStatus::INSUFFICIENT_RESOURCES))?;
        let header: u64 = 4 | (0x150 << 16); // Type IO_TYPE_DRIVER, Size
        k.interleave(|m| m.kernel_write(va, &header.to_le_bytes()))?;
        let host = layout()?.host(va).unwrap_or(0);
        let mut args = EntryArgs {
            driver: host as *mut u64,
            result: 0,
        };
        crate::device::adopting(device, || {
            run(
                k,
                self.driver.entry,
                (&mut args as *mut EntryArgs).cast(),
                self.driver.trace,
            )
        })?;
        if args.result < 0 {
            return Err(crate::device::entry_failed(
                self.driver.name(),
                NtStatus(args.result as u32),
            ));
        }
        Ok(())
    }

    fn dispatch(
        &self,
        k: &mut Kernel<'_>,
        device: DeviceId,
        irp: IrpId,
    ) -> mdlsim::Result<NtStatus> {
        let major = k.io_get_current_irp_stack_location(irp)?.major_function;
        let function = self.routine(major);
        if function == 0 {
            let status = NtStatus(0xC000_0010); // STATUS_INVALID_DEVICE_REQUEST
            k.irp_mut(irp)?.io_status = IoStatusBlock {
                status,
                information: 0,
            };
            k.io_complete_request(irp)?;
            return Ok(status);
        }
        let layout = layout()?;
        let object = self.device_arg(k, device, layout)?;
        let mut args = DispatchArgs {
            function,
            device: object.ptr,
            irp: layout.irp(irp_slot(irp)).unwrap_or(0),
            result: 0,
        };
        self.run_routine(
            k,
            device,
            self.driver.dispatch,
            (&mut args as *mut DispatchArgs).cast(),
        )?;
        Ok(NtStatus(args.result as u32))
    }

    /// Runs the C cancel routine `IoSetCancelRoutine` set on `irp` (`IoCancelIrp` took it
    /// from the model's IRP and calls this), at the caller's IRQL (the model's
    /// convention; `Irp->CancelIrql` is that IRQL). An IRP whose cancel routine was not
    /// set by C code is left alone.
    fn cancel(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> mdlsim::Result<()> {
        let Some(function) = crate::device::take_cancel_routine(k, device, irp)? else {
            return Ok(());
        };
        let layout = layout()?;
        let object = self.device_arg(k, device, layout)?;
        let mut args = CancelArgs {
            function,
            device: object.ptr,
            irp: layout.irp(irp_slot(irp)).unwrap_or(0),
        };
        self.run_routine(
            k,
            device,
            self.driver.cancel,
            (&mut args as *mut CancelArgs).cast(),
        )
    }
}

/// Runs `driver`'s `DriverEntry` on `m` (a machine of its own) with a fresh
/// `DRIVER_OBJECT` in host memory: its status, and the object it filled.
///
/// # Errors
/// What stopped `DriverEntry` (a bug check, an exception no `__try` caught).
pub(crate) fn scratch_entry(
    driver: &Driver,
    m: &mut Machine,
) -> mdlsim::Result<(NtStatus, Box<Object>)> {
    let mut object = Box::new([0u64; OBJECT_WORDS]);
    object[0] = 4 | (0x150 << 16); // Type IO_TYPE_DRIVER, Size
    let mut args = EntryArgs {
        driver: object.as_mut_ptr(),
        result: 0,
    };
    run(
        &mut m.kernel(),
        driver.entry,
        (&mut args as *mut EntryArgs).cast(),
        driver.trace,
    )?;
    Ok((NtStatus(args.result as u32), object))
}

/// The device object one call of a routine gets, kept alive for the call.
struct DeviceArg {
    ptr: *mut u64,
    /// A bare `DEVICE_OBJECT` and the `DRIVER_OBJECT` copy it names, when the driver made
    /// no device object of its own (boxes: moving them keeps `ptr` valid).
    _bare: Option<(Box<Object>, Box<Object>)>,
}

/// A `DRIVER_OBJECT` or `DEVICE_OBJECT` (both 0x150 bytes on x64), in words.
type Object = [u64; OBJECT_WORDS];

impl NativeDriver {
    /// The device object for a routine of `device`: the one `DriverEntry`'s
    /// `IoCreateDevice` made (in pool, with its extension), else a bare one for this call
    /// naming this call's own copy of the `DRIVER_OBJECT` (cases run on several threads;
    /// a write there dies with the call).
    fn device_arg(
        &self,
        k: &Kernel<'_>,
        device: DeviceId,
        layout: crate::layout::Layout,
    ) -> mdlsim::Result<DeviceArg> {
        if let Some(va) = crate::device::device_object(k, device)? {
            return Ok(DeviceArg {
                ptr: layout.host(va).unwrap_or(0) as *mut u64,
                _bare: None,
            });
        }
        let mut driver = Box::new(*self.object);
        let mut bare = Self::device_object(k, device, driver.as_mut_ptr())?;
        Ok(DeviceArg {
            ptr: bare.as_mut_ptr(),
            _bare: Some((driver, bare)),
        })
    }

    /// Runs `thunk(args)` as a routine of `device` (its `IoSetCancelRoutine` names it).
    fn run_routine(
        &self,
        k: &mut Kernel<'_>,
        device: DeviceId,
        thunk: Thunk,
        args: *mut c_void,
    ) -> mdlsim::Result<()> {
        crate::device::serving(device, || run(k, thunk, args, self.driver.trace))
    }
}
