//! What an op returns: [`Value`] and [`Outcome`].

use super::*;

/// What a successful op returned.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Value {
    /// Nothing (`VOID` or `STATUS_SUCCESS`).
    Unit,
    /// A NULL return (`Ok(None)`: an allocation or mapping that returned NULL).
    Null,
    /// A new process, at `ix` in the process table.
    Process {
        /// Index in the process table.
        ix: u32,
        /// Its id.
        pid: Pid,
    },
    /// A new thread's id.
    Thread(u32),
    /// A VA, appended to the VA table at `ix`.
    Va {
        /// Index in the VA table.
        ix: u32,
        /// The address.
        va: Va,
    },
    /// A new MDL, at `ix` in the MDL table.
    Mdl {
        /// Index in the MDL table.
        ix: u32,
        /// Its handle.
        id: MdlId,
    },
    /// A new IRP, at `ix` in the IRP table.
    Irp {
        /// Index in the IRP table.
        ix: u32,
        /// Its handle.
        id: IrpId,
    },
    /// Bytes read: how many, and an FNV-1a hash of them.
    Bytes {
        /// Length.
        len: u64,
        /// FNV-1a 64 of the bytes.
        hash: u64,
    },
    /// A protection (the old one, from `virtual_protect`).
    Protection(Protection),
    /// A size in bytes (`MmSizeOfMdl`).
    Size(u64),
    /// A registered driver, at `ix` in the driver table.
    Driver {
        /// Index in the driver table.
        ix: u32,
    },
    /// A new device, at `ix` in the device table.
    Device {
        /// Index in the device table.
        ix: u32,
        /// Its handle.
        id: DeviceId,
    },
    /// What a system service returned: its status, and the IRP it sent (appended to the
    /// IRP table at `irp`), if any.
    Io {
        /// The service's return value.
        status: NtStatus,
        /// Index in the IRP table of the IRP sent.
        irp: Option<u32>,
    },
    /// Whether a `QueueCompleteNext` or `IoCancelIrp` did something (an IRP completed,
    /// a cancel routine called).
    Bool(bool),
    /// The access log taken: how many records, and a hash of their debug form.
    Accesses {
        /// Records.
        count: u64,
        /// FNV-1a 64 of their `Debug` rendering.
        hash: u64,
    },
}

/// The outcome of one op.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Outcome {
    /// The call returned normally.
    Ok(Value),
    /// The call faulted (a bug check, a raised or returned status, or a model error).
    Fault(Fault),
}

impl Outcome {
    /// Whether the call returned normally.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    /// The fault, if any.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Outcome::Fault(f) => Some(f),
            Outcome::Ok(_) => None,
        }
    }
}

impl From<Result<Value>> for Outcome {
    fn from(r: Result<Value>) -> Self {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(f) => Outcome::Fault(f),
        }
    }
}

/// FNV-1a, 64-bit: a deterministic digest for outcomes.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
