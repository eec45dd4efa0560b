//! Everything that can go wrong, as values ([design.md, "Everything that can go wrong is a value"][design-values]).
//!
//! A [`Fault`] is what a kernel routine does instead of returning normally:
//! a **bug check** (the machine is now crashed and says so on every later
//! call), a **raised exception** (an NTSTATUS a driver catches with
//! `__try/__except`), or a **returned failure status**. Misuse of the
//! simulator itself that has no kernel counterpart (an unknown process
//! handle, say) is a [`ModelError`]. The oracle's findings are separate:
//! real Windows often does not crash on them.
//!
//! [design-values]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#everything-is-a-value

use crate::bugcheck::BugCheck;
use crate::status::NtStatus;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The result of every machine operation.
pub type Result<T, E = Fault> = std::result::Result<T, E>;

/// A kernel routine's abnormal outcome.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum Fault {
    /// The system bug-checked; the machine is crashed from now on.
    #[error("bug check: {0}")]
    BugCheck(BugCheck),
    /// The routine raised an exception with this status (`ExRaiseStatus`, a fault in `__try`).
    #[error("raised exception {0}")]
    Raise(NtStatus),
    /// The routine returned this failure status.
    #[error("returned {0}")]
    Status(NtStatus),
    /// The simulator was asked something that has no meaning in the model.
    #[error("model error: {0}")]
    Model(ModelError),
}

impl Fault {
    /// The bug check, if this fault is one.
    pub fn bug_check(&self) -> Option<&BugCheck> {
        match self {
            Fault::BugCheck(b) => Some(b),
            _ => None,
        }
    }

    /// The status raised or returned, if any.
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            Fault::Raise(s) | Fault::Status(s) => Some(*s),
            _ => None,
        }
    }
}

impl From<BugCheck> for Fault {
    fn from(b: BugCheck) -> Self {
        Fault::BugCheck(b)
    }
}

impl From<ModelError> for Fault {
    fn from(e: ModelError) -> Self {
        Fault::Model(e)
    }
}

/// The kinds of object a handle names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum HandleKind {
    /// An MDL (`PMDL`).
    Mdl,
    /// An IRP (`PIRP`).
    Irp,
    /// A device object (`PDEVICE_OBJECT`).
    Device,
    /// A driver (`PDRIVER_OBJECT`).
    Driver,
}

impl std::fmt::Display for HandleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandleKind::Mdl => "MDL",
            HandleKind::Irp => "IRP",
            HandleKind::Device => "device",
            HandleKind::Driver => "driver",
        })
    }
}

/// Misuse of the simulator with no kernel counterpart.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum ModelError {
    /// No process with this id was ever created.
    #[error("no process {0}")]
    NoSuchProcess(u32),
    /// No thread with this id was ever created.
    #[error("no thread {0}")]
    NoSuchThread(u32),
    /// `detach` without a matching `attach`.
    #[error("detach without attach")]
    NotAttached,
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An argument is outside what the model supports.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The handle does not name a live object of that kind.
    #[error("stale or unknown handle: {kind} {address:#x}")]
    StaleHandle {
        /// What the handle was for.
        kind: HandleKind,
        /// The fake kernel address the model reports for it (`MdlId::address`, ...).
        address: u64,
    },
    /// The work needs more host memory than the machine's budget
    /// ([`crate::Config::host_memory_limit_bytes`]): a limit of the simulator, not of the
    /// modelled system. A new frame past the budget is refused before it is taken; every
    /// call is refused while label runs keep the host over it.
    #[error(
        "host memory limit reached: simulated memory would need more than {limit} bytes of \
         host memory ({used} held); raise Config::host_memory_limit (CLI: --memory-limit)"
    )]
    HostMemoryLimit {
        /// The budget, in bytes.
        limit: u64,
        /// Host bytes held when the limit was reached.
        used: u64,
    },
}

/// Stops the machine whose crash slot is `crashed`: records the bug check there and
/// returns it as the fault every caller propagates (`KeBugCheckEx` does not return).
pub(crate) fn bug_check(
    crashed: &mut Option<BugCheck>,
    code: crate::bugcheck::BugCheckCode,
    params: [u64; 4],
    detail: impl Into<String>,
) -> Fault {
    let b = BugCheck::new(code, params, detail);
    *crashed = Some(b.clone());
    Fault::BugCheck(b)
}
