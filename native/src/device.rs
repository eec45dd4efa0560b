//! Device objects for native drivers: `IoCreateDevice` and `IoDeleteDevice`, with the
//! device object and its extension in the model's non-paged pool, as Windows allocates
//! them.
//!
//! The harness creates the device a driver is verified on
//! ([`mdlsim::Machine::io_create_device`]), then asks the driver to set it up
//! ([`mdlsim::io::Driver::add_device`]). A native driver's `add_device` runs its
//! `DriverEntry` in that machine: the first `IoCreateDevice` it makes *adopts* the
//! harness's device. Its `DEVICE_OBJECT` (x64 layout, 0x150 bytes) and
//! `DeviceExtension` (zeroed, right after it) are one pool allocation whose address the
//! model's device keeps, so every dispatch routine of the case gets the same
//! `DeviceObject`, and the state `DriverEntry` initialised there (a list head pointing
//! at itself, a spin lock, a counter) is there. Later `IoCreateDevice` calls (a control
//! device) get device objects of their own that nothing dispatches to.

use crate::layout::Layout;
use mdlsim::addr::Va;
use mdlsim::io::{DeviceId, IrpId};
use mdlsim::status::NtStatus;
use mdlsim::{Fault, Kernel, Machine, ModelError};
use std::cell::Cell;

/// `sizeof(DEVICE_OBJECT)` on x64.
pub const DEVICE_OBJECT_SIZE: u64 = 0x150;
/// `DO_DEVICE_INITIALIZING`: set by `IoCreateDevice`, cleared by the driver.
const DO_DEVICE_INITIALIZING: u32 = 0x80;
/// `IO_TYPE_DEVICE`.
const IO_TYPE_DEVICE: u16 = 3;
/// The pool tag of device objects (`'Devi'`, as Windows tags them).
const TAG: u32 = u32::from_le_bytes(*b"Devi");
/// The largest `DeviceExtensionSize` taken (a larger one fails with
/// `STATUS_INSUFFICIENT_RESOURCES`, as an allocation failure would).
const MAX_EXTENSION: u64 = 1 << 20;
/// Where the model's device keeps its native `DEVICE_OBJECT`'s address
/// ([`mdlsim::io::DeviceExtension::counters`]).
const KEY: &str = "mdlsim-native DEVICE_OBJECT";

thread_local! {
    /// The harness's device the next `IoCreateDevice` on this thread adopts.
    static ADOPT: Cell<Option<DeviceId>> = const { Cell::new(None) };
    /// The device whose routine runs on this thread (its `IoSetCancelRoutine` names it).
    static SERVING: Cell<Option<DeviceId>> = const { Cell::new(None) };
}

/// Runs `f` as a routine of `device` (a dispatch or cancel routine).
pub fn serving<T>(device: DeviceId, f: impl FnOnce() -> T) -> T {
    let before = SERVING.with(|a| a.replace(Some(device)));
    let r = f();
    SERVING.with(|a| a.set(before));
    r
}

/// Where a device keeps the C cancel routine of `irp` (the model's IRP names the device).
fn cancel_key(irp: IrpId) -> String {
    format!("mdlsim-native cancel {:#x}", irp.address())
}

/// The C cancel routine set on `irp`, if `irp`'s cancel routine is a native one.
pub fn cancel_routine(m: &Machine, irp: IrpId) -> Option<u64> {
    let d = m.irp(irp).ok()?.cancel_routine?;
    m.device(d)
        .ok()?
        .extension
        .counters
        .get(&cancel_key(irp))
        .copied()
}

/// Takes the C cancel routine of `irp` that `device` kept (the model already took the
/// IRP's cancel routine: `IoCancelIrp` is calling it).
///
/// # Errors
/// An unknown device.
pub fn take_cancel_routine(
    k: &mut Kernel<'_>,
    device: DeviceId,
    irp: IrpId,
) -> mdlsim::Result<Option<u64>> {
    Ok(k.device_mut(device)?
        .extension
        .counters
        .remove(&cancel_key(irp)))
}

/// `IoSetCancelRoutine(Irp, CancelRoutine)`: the model's exchange
/// ([`mdlsim::Machine::io_set_cancel_routine`], naming the device whose routine runs),
/// the C routine kept beside it. Returns the previous C routine (NULL when there was
/// none, or `IoCancelIrp` took it: the cancel routine owns the IRP then).
///
/// # Errors
/// Outside a dispatch or cancel routine (no device to name), a pointer that is not an
/// IRP, or the model's fault.
pub fn io_set_cancel_routine(
    k: &mut Kernel<'_>,
    layout: Layout,
    words: &[u64],
) -> mdlsim::Result<u64> {
    let irp = k.interleave(|m| crate::irps::irp_from_host(layout, m, words[0]))?;
    let routine = words[1];
    let device = SERVING.with(Cell::get).ok_or_else(|| {
        Fault::Model(ModelError::Unsupported(
            "IoSetCancelRoutine outside a dispatch or cancel routine".into(),
        ))
    })?;
    let previous = k.io_set_cancel_routine(irp, (routine != 0).then_some(device))?;
    let key = cancel_key(irp);
    let old = match previous {
        Some(d) => k
            .device_mut(d)?
            .extension
            .counters
            .remove(&key)
            .unwrap_or(0),
        None => 0,
    };
    if routine != 0 {
        k.device_mut(device)?
            .extension
            .counters
            .insert(key, routine);
    }
    Ok(old)
}

/// Runs `f` with `device` to be adopted by the first `IoCreateDevice` it makes.
pub fn adopting<T>(device: DeviceId, f: impl FnOnce() -> T) -> T {
    let before = ADOPT.with(|a| a.replace(Some(device)));
    let r = f();
    ADOPT.with(|a| a.set(before));
    r
}

/// The model address of the `DEVICE_OBJECT` native code made for `device`, if it did.
///
/// # Errors
/// An unknown device.
pub fn device_object(k: &Kernel<'_>, device: DeviceId) -> mdlsim::Result<Option<Va>> {
    let d = k.device(device)?;
    Ok(d.extension.counters.get(KEY).map(|v| Va::new(*v)))
}

/// `IoCreateDevice(DriverObject, DeviceExtensionSize, DeviceName, DeviceType,
/// DeviceCharacteristics, Exclusive, &DeviceObject)`: `words[6]` receives the device
/// object's host address. Returns the status.
///
/// # Errors
/// What the model says of the allocation and the writes (a crashed machine).
pub fn io_create_device(
    k: &mut Kernel<'_>,
    layout: Layout,
    words: &mut [u64],
) -> mdlsim::Result<u64> {
    let extension = words[1];
    if extension > MAX_EXTENSION {
        return Ok(u64::from(NtStatus::INSUFFICIENT_RESOURCES.0));
    }
    let adopt = ADOPT.with(Cell::take);
    let (flags, stack) = match adopt {
        Some(d) => {
            let d = k.device(d)?;
            (d.flags, d.stack_size)
        }
        None => (0, 1),
    };
    let size = DEVICE_OBJECT_SIZE + extension;
    let va = k.interleave(|m| m.ex_allocate_pool2(mdlsim::pool::POOL_FLAG_NON_PAGED, size, TAG))?;
    let Some(va) = va else {
        return Ok(u64::from(NtStatus::INSUFFICIENT_RESOURCES.0));
    };
    let host = |va: Va| layout.host(va).unwrap_or(0);
    let ext = if extension == 0 {
        0
    } else {
        host(va.wrapping_add(DEVICE_OBJECT_SIZE))
    };
    let mut o = [0u8; 0x50];
    o[0..2].copy_from_slice(&IO_TYPE_DEVICE.to_le_bytes());
    o[2..4].copy_from_slice(&(size.min(0xFFFF) as u16).to_le_bytes());
    o[0x08..0x10].copy_from_slice(&words[0].to_le_bytes()); // DriverObject
    o[0x30..0x34].copy_from_slice(&(flags | DO_DEVICE_INITIALIZING).to_le_bytes());
    o[0x34..0x38].copy_from_slice(&(words[4] as u32).to_le_bytes()); // Characteristics
    o[0x40..0x48].copy_from_slice(&ext.to_le_bytes()); // DeviceExtension
    o[0x48..0x4C].copy_from_slice(&(words[3] as u32).to_le_bytes()); // DeviceType
    o[0x4C] = stack;
    k.interleave(|m| m.kernel_write(va, &o))?;
    if let Some(d) = adopt {
        k.device_mut(d)?
            .extension
            .counters
            .insert(KEY.into(), va.raw());
    }
    words[6] = host(va);
    Ok(0)
}

/// `IoDeleteDevice(DeviceObject)`: its pool is freed; a device the harness dispatches to
/// no longer has a native device object (its routines get a bare one).
///
/// # Errors
/// A pointer that is not a device object from `IoCreateDevice` is the model's bug check
/// for freeing it (`ExFreePool` of a bad address).
pub fn io_delete_device(k: &mut Kernel<'_>, va: Va) -> mdlsim::Result<u64> {
    k.interleave(|m| m.ex_free_pool_with_tag(va, TAG))?;
    let adopted: Vec<DeviceId> = k.interleave(|m| {
        m.devices()
            .filter(|(_, d)| d.extension.counters.get(KEY) == Some(&va.raw()))
            .map(|(id, _)| id)
            .collect()
    });
    for d in adopted {
        k.device_mut(d)?.extension.counters.remove(KEY);
    }
    Ok(0)
}

/// A driver's `DriverEntry` failed while setting up a device.
pub fn entry_failed(name: &str, status: NtStatus) -> Fault {
    Fault::Model(ModelError::Unsupported(format!(
        "{name}: DriverEntry returned {status} while setting up the device"
    )))
}
