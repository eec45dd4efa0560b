//! Process, thread and address-space identities: the names the lowest layers (physical
//! memory's frame owners, shadow memory's labels, the access log) need before address
//! spaces exist. Re-exported from [`crate::space`]; [`Birth`], what an object's creation is
//! blamed on, from [`crate::machine`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// A process id (the model's `EPROCESS*`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.0)
    }
}

impl Pid {
    /// The address the model reports for this process in bug-check parameters (a fake `EPROCESS*`).
    pub const fn eprocess(self) -> u64 {
        0xFFFF_E000_0000_0000 + (self.0 as u64) * 0x1000
    }
}

/// A thread id (the model's `ETHREAD*`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tid(pub u32);

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tid {}", self.0)
    }
}

/// Which address space an address belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum SpaceId {
    /// System space (pool, system-PTE mappings); valid in every process context.
    System,
    /// A process's user half.
    Process(Pid),
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpaceId::System => f.write_str("system"),
            SpaceId::Process(p) => write!(f, "pid{}", p.0),
        }
    }
}

/// What an object's creation is blamed on in audits and reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Birth {
    /// The machine step (1-based count of public calls) that created it.
    pub step: u64,
    /// The routine that created it (its DDI name).
    pub routine: &'static str,
}
