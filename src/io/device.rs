//! Drivers, device objects and device stacks ([semantics §5.1]).
//!
//! A driver is a Rust object implementing [`Driver`], registered with
//! [`Machine::io_register_driver`]. Its code is shared (`Arc<dyn Driver>`,
//! methods take `&self`) and gets `&mut Machine` while it runs, so dispatch,
//! completion and cancel routines may re-enter the I/O manager freely (a
//! lower driver completing synchronously runs the upper driver's completion
//! routine while the upper dispatch routine is still on the stack, as in a
//! real kernel). A driver's mutable state belongs in its device extension
//! ([`DeviceExtension`]), which the machine owns and clones with itself.
//!
//! [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1

use crate::fault::{Fault, ModelError, Result};
pub use crate::iostate::device::{Device, DeviceExtension, DeviceId, DispatchRecord, DriverId};
use crate::iostate::irp::IrpId;
use crate::machine::Machine;
pub use crate::machine::driver::Driver;
use crate::machine::driver::DriverEntry;
use std::sync::Arc;

/// `DO_BUFFERED_IO` (0x4).
pub const DO_BUFFERED_IO: u32 = 0x4;
/// `DO_DIRECT_IO` (0x10).
pub const DO_DIRECT_IO: u32 = 0x10;
/// Offset of `DEVICE_OBJECT.DeviceObjectExtension` on x64 (0x138): what a routine
/// dereferencing a NULL `PDEVICE_OBJECT` for it reads.
const DEVICE_OBJECT_EXTENSION_OFFSET: u64 = 0x138;

impl Machine {
    /// Registers driver code (`DriverEntry` ran); returns its handle.
    ///
    /// # Errors
    /// A crashed machine.
    pub fn io_register_driver(&mut self, name: &str, code: Arc<dyn Driver>) -> Result<DriverId> {
        self.enter("DriverEntry")?;
        let id = DriverId(self.drivers.len() as u32);
        self.drivers.push(DriverEntry {
            name: name.to_string(),
            code,
        });
        Ok(id)
    }

    /// [`IoCreateDevice`]: a device of `driver` with `flags` (`DO_BUFFERED_IO`, `DO_DIRECT_IO`
    /// or neither) and `StackSize` 1; then the driver's [`Driver::add_device`] sets it up.
    ///
    /// # Errors
    /// What the driver's `add_device` returns (the device exists then, half set up).
    /// An unknown driver is a [`ModelError`]; `DO_BUFFERED_IO | DO_DIRECT_IO` together is
    /// Driver Verifier's 0xC9/0x245 under I/O Verification ([semantics §5.1]). Without it
    /// the device is created with both, and reads and writes to it are buffered (the I/O
    /// manager tests `DO_BUFFERED_IO` first, [semantics §5.2]; [`crate::verifier`]).
    ///
    /// [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1
    /// [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
    /// [`IoCreateDevice`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocreatedevice
    #[doc(alias = "IoCreateDevice")]
    pub fn io_create_device(
        &mut self,
        driver: DriverId,
        name: &str,
        flags: u32,
    ) -> Result<DeviceId> {
        self.enter("IoCreateDevice")?;
        if driver.0 as usize >= self.drivers.len() {
            return Err(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Driver,
                address: driver.address(),
            }
            .into());
        }
        let both = flags & DO_BUFFERED_IO != 0 && flags & DO_DIRECT_IO != 0;
        if both && self.config.verifier.io_verification() {
            return Err(self.bug_check(
                crate::bugcheck::BugCheckCode::DRIVER_VERIFIER_IOMANAGER_VIOLATION,
                [
                    crate::bugcheck::io_verifier::BOTH_BUFFERED_AND_DIRECT_IO,
                    0,
                    0,
                    0,
                ],
                format!("{name}: DO_BUFFERED_IO and DO_DIRECT_IO are exclusive (semantics §5.1)"),
            ));
        }
        let id = DeviceId(self.io.devices.len() as u32);
        self.io.devices.push(Device {
            name: name.to_string(),
            driver,
            flags,
            stack_size: 1,
            lower: None,
            upper: None,
            extension: DeviceExtension::default(),
        });
        let code = self.driver_code(id)?;
        code.add_device(&mut self.kernel(), id)?;
        Ok(id)
    }

    /// [`IoAttachDeviceToDeviceStack`]: attaches `source` (a filter) to the top of `target`'s
    /// stack; `source.StackSize` becomes the top's plus one and it copies the top's
    /// buffering flags, as a filter must. Returns the device it attached to.
    ///
    /// # Errors
    /// Unknown devices, `source` already attached, or a stack already
    /// [`super::irp::MAX_STACK_SIZE`] deep, are [`ModelError`]s.
    ///
    /// [`IoAttachDeviceToDeviceStack`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioattachdevicetodevicestack
    #[doc(alias = "IoAttachDeviceToDeviceStack")]
    pub fn io_attach_device_to_device_stack(
        &mut self,
        source: DeviceId,
        target: DeviceId,
    ) -> Result<DeviceId> {
        self.enter("IoAttachDeviceToDeviceStack")?;
        self.device(source)?;
        let top = self.io_get_attached_device(target)?;
        if self.device(source)?.lower.is_some() || top == source {
            return Err(ModelError::Unsupported(format!("{source:?} is already attached")).into());
        }
        let (size, flags) = {
            let t = self.device(top)?;
            (t.stack_size, t.flags & (DO_BUFFERED_IO | DO_DIRECT_IO))
        };
        if size >= super::irp::MAX_STACK_SIZE {
            return Err(ModelError::Unsupported(format!(
                "attaching to a stack of {size} devices: an IRP holds at most {} locations",
                super::irp::MAX_STACK_SIZE
            ))
            .into());
        }
        let s = self.device_entry_mut(source)?;
        s.lower = Some(top);
        s.stack_size = size + 1;
        s.flags = (s.flags & !(DO_BUFFERED_IO | DO_DIRECT_IO)) | flags;
        self.device_entry_mut(top)?.upper = Some(source);
        Ok(top)
    }

    /// [`IoDetachDevice`]: undoes an attachment. `target` is the *lower* device: its
    /// `AttachedDevice` becomes NULL, and so does the detached device's `AttachedTo`
    /// (`DEVOBJ_EXTENSION`). Nothing else changes: a device attached above the detached
    /// one stays attached to it, and every `StackSize` keeps its value (Wine's
    /// `test_IoAttachDeviceToDeviceStack`, run on Windows; ReactOS `IoDetachDevice`).
    ///
    /// A `target` with nothing attached is a NULL dereference, as in the kernel, which
    /// reads `AttachedDevice->DeviceObjectExtension` without a check:
    /// `KMODE_EXCEPTION_NOT_HANDLED (0x1E)` with `STATUS_ACCESS_VIOLATION` at the
    /// field's offset (0x138 on x64).
    ///
    /// # Errors
    /// An unknown device is a [`ModelError`]; a `target` with nothing attached is the
    /// bug check above.
    ///
    /// ```
    /// use mdlsim::{Config, Machine, io::drivers::PassThroughFilter};
    /// use std::sync::Arc;
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let drv = m.io_register_driver("filter", Arc::new(PassThroughFilter)).unwrap();
    /// let (lower, upper) = (m.io_create_device(drv, "lower", 0).unwrap(), m.io_create_device(drv, "upper", 0).unwrap());
    /// m.io_attach_device_to_device_stack(upper, lower).unwrap();
    /// m.io_detach_device(lower).unwrap();
    /// assert_eq!((m.device(lower).unwrap().upper, m.device(upper).unwrap().lower), (None, None));
    /// assert_eq!(m.device(upper).unwrap().stack_size, 2);
    /// ```
    ///
    /// [`IoDetachDevice`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iodetachdevice
    #[doc(alias = "IoDetachDevice")]
    pub fn io_detach_device(&mut self, target: DeviceId) -> Result<()> {
        self.enter("IoDetachDevice")?;
        let Some(above) = self.device(target)?.upper else {
            return Err(self.bug_check(
                crate::bugcheck::BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
                [
                    crate::status::NtStatus::ACCESS_VIOLATION.0 as u64,
                    0,
                    0,
                    DEVICE_OBJECT_EXTENSION_OFFSET,
                ],
                format!(
                    "IoDetachDevice({target:?}) with nothing attached: AttachedDevice is NULL \
                     (reads DeviceObjectExtension at {DEVICE_OBJECT_EXTENSION_OFFSET:#x})"
                ),
            ));
        };
        self.device_entry_mut(above)?.lower = None;
        self.device_entry_mut(target)?.upper = None;
        Ok(())
    }

    /// The `StackSize` of the IRP a request to `device` needs: the device's own, refused
    /// above [`super::irp::MAX_STACK_SIZE`] (a driver may have written the field).
    pub(crate) fn irp_stack_size(&self, device: DeviceId) -> Result<u8> {
        let size = self.device(device)?.stack_size;
        if size > super::irp::MAX_STACK_SIZE {
            return Err(ModelError::Unsupported(format!(
                "{device:?} has StackSize {size}: an IRP holds at most {} locations",
                super::irp::MAX_STACK_SIZE
            ))
            .into());
        }
        Ok(size)
    }

    /// [`IoGetAttachedDevice`]: the top of the stack `device` belongs to (where requests go).
    ///
    /// # Errors
    /// An unknown device.
    ///
    /// [`IoGetAttachedDevice`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-iogetattacheddevice
    #[doc(alias = "IoGetAttachedDevice")]
    pub fn io_get_attached_device(&self, device: DeviceId) -> Result<DeviceId> {
        let mut d = device;
        let mut guard = 0;
        while let Some(u) = self.device(d)?.upper {
            d = u;
            guard += 1;
            if guard > 256 {
                return Err(ModelError::Unsupported("device stack loop".into()).into());
            }
        }
        Ok(d)
    }

    /// A device object.
    ///
    /// # Errors
    /// An unknown device is a [`ModelError`].
    pub fn device(&self, device: DeviceId) -> Result<&Device> {
        self.io.devices.get(device.0 as usize).ok_or_else(|| {
            Fault::Model(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Device,
                address: device.address(),
            })
        })
    }

    /// Every device object, in the order they were created.
    pub fn devices(&self) -> impl Iterator<Item = (DeviceId, &Device)> {
        self.io
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| (DeviceId(i as u32), d))
    }

    /// A device object, mutable (drivers keep their state in [`Device::extension`]).
    ///
    /// # Errors
    /// A crashed machine (or one over its host-memory budget) says so, as every call
    /// does; an unknown device is a [`ModelError`].
    pub fn device_mut(&mut self, device: DeviceId) -> Result<&mut Device> {
        self.alive()?;
        self.device_entry_mut(device)
    }

    /// [`Machine::device_mut`] for the I/O manager itself.
    pub(crate) fn device_entry_mut(&mut self, device: DeviceId) -> Result<&mut Device> {
        self.io.devices.get_mut(device.0 as usize).ok_or_else(|| {
            Fault::Model(ModelError::StaleHandle {
                kind: crate::fault::HandleKind::Device,
                address: device.address(),
            })
        })
    }

    /// The name a driver was registered with.
    pub fn driver_name(&self, driver: DriverId) -> Option<&str> {
        self.drivers.get(driver.0 as usize).map(|d| d.name.as_str())
    }

    pub(crate) fn driver_code(&self, device: DeviceId) -> Result<Arc<dyn Driver>> {
        let d = self.device(device)?.driver;
        self.drivers
            .get(d.0 as usize)
            .map(|e| e.code.clone())
            .ok_or_else(|| {
                Fault::Model(ModelError::StaleHandle {
                    kind: crate::fault::HandleKind::Driver,
                    address: d.address(),
                })
            })
    }

    /// Appends `irp` to `device`'s queue (a driver pending it).
    ///
    /// The cancel-safe queue's counterpart: [`IoCsqInsertIrp`].
    ///
    /// # Errors
    /// An unknown device.
    ///
    /// [`IoCsqInsertIrp`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocsqinsertirp
    #[doc(alias = "IoCsqInsertIrp")]
    pub fn io_queue_push(&mut self, device: DeviceId, irp: IrpId) -> Result<()> {
        self.enter("IoCsqInsertIrp")?;
        self.device_entry_mut(device)?
            .extension
            .queue
            .push_back(irp);
        Ok(())
    }

    /// Removes `irp` from `device`'s queue; false if it was not there.
    ///
    /// The cancel-safe queue's counterpart: [`IoCsqRemoveIrp`].
    ///
    /// # Errors
    /// An unknown device.
    ///
    /// [`IoCsqRemoveIrp`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocsqremoveirp
    #[doc(alias = "IoCsqRemoveIrp")]
    pub fn io_queue_remove(&mut self, device: DeviceId, irp: IrpId) -> Result<bool> {
        self.enter("IoCsqRemoveIrp")?;
        let q = &mut self.device_entry_mut(device)?.extension.queue;
        let before = q.len();
        q.retain(|i| *i != irp);
        Ok(q.len() != before)
    }

    /// Takes the oldest IRP off `device`'s queue.
    ///
    /// The cancel-safe queue's counterpart: [`IoCsqRemoveNextIrp`].
    ///
    /// # Errors
    /// An unknown device.
    ///
    /// [`IoCsqRemoveNextIrp`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocsqremovenextirp
    #[doc(alias = "IoCsqRemoveNextIrp")]
    pub fn io_queue_pop(&mut self, device: DeviceId) -> Result<Option<IrpId>> {
        self.enter("IoCsqRemoveNextIrp")?;
        Ok(self.device_entry_mut(device)?.extension.queue.pop_front())
    }
}
