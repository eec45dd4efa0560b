//! One hostile client request: which of the driver's requests, where its buffers lie and
//! how long the caller says they are, and what the app does while the driver holds it.

use crate::addr::PAGE_SIZE;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A request the driver under test serves, as its author declares it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Request {
    /// `IRP_MJ_READ` (`NtReadFile`): the caller's buffer is the output.
    Read,
    /// `IRP_MJ_WRITE` (`NtWriteFile`): the caller's buffer is the input.
    Write,
    /// `IRP_MJ_DEVICE_CONTROL` (`NtDeviceIoControlFile`) with this control code (its
    /// transfer method is the code's low two bits) and the buffer sizes the driver
    /// expects; the harness also sends every other length.
    Ioctl {
        /// The `CTL_CODE`.
        code: u32,
        /// The input size the driver expects.
        input: u32,
        /// The output size the driver expects.
        output: u32,
    },
    /// `IRP_MJ_DIRECTORY_CONTROL / IRP_MN_NOTIFY_CHANGE_DIRECTORY`
    /// (`NtNotifyChangeDirectoryFile`): the caller's buffer is the output, of the length
    /// given here as the one the driver expects.
    NotifyDirectory {
        /// The buffer size the driver expects.
        length: u32,
    },
}

/// Where a buffer the caller passes lies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Place {
    /// A NULL pointer.
    Null,
    /// Committed read-write memory of the caller, with a reserved (inaccessible) page
    /// each side.
    User,
    /// Committed read-only memory of the caller.
    ReadOnly,
    /// A reserved range of the caller with nothing committed: every access faults.
    Unmapped,
    /// A kernel address (a live pool block holding kernel secrets): what a hostile caller
    /// passes to a METHOD_NEITHER handler that does not probe.
    Kernel,
    /// Committed memory that ends at `MmUserProbeAddress`, the buffer running past it
    /// (its end is a kernel address).
    TopOfUserSpace,
}

impl Place {
    /// Every place, `User` first.
    pub const ALL: [Place; 6] = [
        Place::User,
        Place::Null,
        Place::ReadOnly,
        Place::Unmapped,
        Place::Kernel,
        Place::TopOfUserSpace,
    ];
}

/// One buffer argument: where it lies, its offset in its first page and the length the
/// caller passes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Buffer {
    /// Where.
    pub place: Place,
    /// Byte offset in the first page (below [`PAGE_SIZE`]).
    pub offset: u32,
    /// The length the caller passes.
    pub length: u32,
}

impl Buffer {
    /// A buffer of `length` bytes at `offset` of committed read-write memory.
    pub const fn user(offset: u32, length: u32) -> Buffer {
        Buffer {
            place: Place::User,
            offset: offset % PAGE_SIZE as u32,
            length,
        }
    }

    /// No buffer: NULL, length 0.
    pub const NONE: Buffer = Buffer {
        place: Place::Null,
        offset: 0,
        length: 0,
    };
}

impl fmt::Display for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.place {
            Place::Null => write!(f, "NULL, length {:#x}", self.length),
            p => write!(
                f,
                "{p:?} memory at page offset {:#x}, length {:#x}",
                self.offset, self.length
            ),
        }
    }
}

/// What the app (or the system) does while the driver holds a request: while it is
/// pended, or (`FreeWhileDispatching`) while the dispatch routine runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Hostile {
    /// Nothing: it waits for completion.
    None,
    /// The app releases its buffers (`MEM_RELEASE`) while the request is pending.
    FreeBuffers,
    /// A thread calls `CancelIoEx` (`IoCancelIrp`) while the request is pending.
    Cancel,
    /// The app exits while the request is pending (thread rundown cancels it; the I/O
    /// manager waits up to five minutes).
    Exit,
    /// The non-paged pool is exhausted once the I/O manager has built the request: the
    /// driver's own allocations fail.
    PoolExhausted,
    /// There are no system PTEs: mapping an MDL to system space fails.
    PtesExhausted,
    /// Another thread of the app releases its buffers (`MEM_RELEASE`) while the dispatch
    /// routine runs, just before one of the driver's touches of them (the case's seed
    /// picks which): a pointer probed, or read once, is not a pointer that stays valid
    /// ([semantics §5.8]).
    ///
    /// [semantics §5.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.8
    FreeWhileDispatching,
}

impl Hostile {
    /// Every action, `None` first.
    pub const ALL: [Hostile; 7] = [
        Hostile::None,
        Hostile::FreeBuffers,
        Hostile::Cancel,
        Hostile::Exit,
        Hostile::PoolExhausted,
        Hostile::PtesExhausted,
        Hostile::FreeWhileDispatching,
    ];
}

/// One case: a request of the driver's, its two buffers, the first words of the input,
/// the app's hostile action and the seed of the caller's other bytes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DriverCase {
    /// Index into the driver's declared requests.
    pub request: u8,
    /// The input buffer (a WRITE's buffer; an IOCTL's input). Unused for a READ.
    pub input: Buffer,
    /// The output buffer (a READ's buffer; an IOCTL's output). Unused for a WRITE.
    pub output: Buffer,
    /// What happens while the request is pending.
    pub hostile: Hostile,
    /// The first words of the input buffer (little-endian), where a driver finds the
    /// lengths, counts and offsets of its input structure; the rest of the buffer is
    /// the seed's bytes. At most [`MAX_INPUT_WORDS`].
    #[serde(default)]
    pub input_words: Vec<u32>,
    /// Seed of the caller's bytes.
    pub seed: u8,
}

/// Input words a case sets at most.
pub const MAX_INPUT_WORDS: usize = 16;

impl DriverCase {
    /// The case as JSON (what [`super::replay`] takes).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A case from its JSON.
    ///
    /// # Errors
    /// The parser's message.
    pub fn from_json(s: &str) -> Result<DriverCase, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}
