//! The access log: every byte read or written by user code or the kernel, per page, with provenance.
//!
//! Off by default; the oracle turns it on for a request to decide
//! confidentiality (what labels the server read) and double fetches (the
//! kernel reading the same user-writable frame bytes twice in one dispatch).

use crate::addr::{Pfn, Va};
use crate::ids::{Pid, SpaceId};
use crate::shadow::LabelSpan;
use serde::{Deserialize, Serialize};

/// Who performed an access.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Actor {
    /// User-mode code of a process.
    User(Pid),
    /// Kernel-mode code (a driver or the I/O manager), in whatever context is current.
    Kernel,
}

/// One access to one page.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Access {
    /// The machine step it happened in.
    pub step: u64,
    /// Who accessed.
    pub actor: Actor,
    /// The address space `va` resolved in.
    pub space: SpaceId,
    /// First byte accessed.
    pub va: Va,
    /// The frame behind it.
    pub pfn: Pfn,
    /// Offset in the frame.
    pub offset: u16,
    /// Bytes accessed (within this page).
    pub len: u16,
    /// A write (else a read).
    pub write: bool,
    /// For a read, the labels of the bytes read; for a write, the labels written
    /// (empty when shadow memory is off).
    pub labels: Vec<LabelSpan>,
}

/// The log itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct AccessLog {
    pub(crate) enabled: bool,
    pub(crate) records: Vec<Access>,
}
