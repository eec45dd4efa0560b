//! Device objects and their handles, driver handles, device extensions ([semantics §5.1]).
//!
//! [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1

use super::irp::IrpId;
use crate::addr::Va;
use crate::mdl::MdlId;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// A device object handle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceId(pub(crate) u32);

impl DeviceId {
    /// A fake `PDEVICE_OBJECT` for reports.
    pub const fn address(self) -> u64 {
        0xFFFF_D800_0000_0000 + (self.0 as u64) * 0x400
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dev#{}", self.0)
    }
}

/// A driver handle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct DriverId(pub(crate) u32);

impl DriverId {
    /// A fake `PDRIVER_OBJECT` for reports.
    pub const fn address(self) -> u64 {
        0xFFFF_D000_0000_0000 + (self.0 as u64) * 0x200
    }
}

/// What a driver saw in one dispatch, recorded by drivers that want tests to see it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DispatchRecord {
    /// The IRP.
    pub irp: IrpId,
    /// `MajorFunction`.
    pub major: u8,
    /// `Flags` when dispatched.
    pub flags: super::irp::IrpFlags,
    /// `AssociatedIrp.SystemBuffer`.
    pub system_buffer: Option<Va>,
    /// `MdlAddress`.
    pub mdl: Option<MdlId>,
    /// `UserBuffer`.
    pub user_buffer: Option<Va>,
    /// Bytes of input the driver received.
    pub input: Vec<u8>,
}

/// The device extension: per-device mutable driver state owned by the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceExtension {
    /// A cancel-safe IRP queue (see [`Machine::io_queue_push`](crate::Machine::io_queue_push)).
    pub queue: VecDeque<IrpId>,
    /// What the driver chose to record of its dispatches.
    pub records: Vec<DispatchRecord>,
    /// Bytes the device stores (a file's contents, say).
    pub data: Vec<u8>,
    /// Free-form counters.
    pub counters: std::collections::BTreeMap<String, u64>,
}

/// A device object.
#[derive(Clone, Debug)]
pub struct Device {
    /// A name for reports.
    pub name: String,
    /// Its driver.
    pub driver: DriverId,
    /// `Flags` (`DO_BUFFERED_IO`, `DO_DIRECT_IO`).
    pub flags: u32,
    /// `StackSize`: locations an IRP sent here needs.
    pub stack_size: u8,
    /// The device below it (`AttachedTo`), if it is a filter.
    pub lower: Option<DeviceId>,
    /// The device attached above it (`AttachedDevice`).
    pub upper: Option<DeviceId>,
    /// Its extension.
    pub extension: DeviceExtension,
}
