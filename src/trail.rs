//! What the oracle needs to name the cause of a crash, kept as the machine runs: the
//! DDIs that returned NULL, the last kernel access that faulted and where, and the
//! address ranges that were valid once and have been released (an unmapped MDL
//! mapping, freed pool). A bug check 0x50 on a released range is a use after
//! completion or free; on a range that never was the driver's, an out-of-bounds
//! access; an access near NULL after a DDI returned NULL, an unhandled resource
//! failure ([`crate::oracle::blame`]). The machine keeps one [`Blame`]; each subsystem
//! records into it through the context it is given.
//!
//! Bounded: the last [`NULLS_KEPT`] NULL returns and [`RELEASES_KEPT`] releases are
//! kept, so a long scenario costs constant memory (older entries are forgotten, and a
//! crash that far from its cause is named by its bug check alone).

use crate::addr::Va;
use crate::mdl::MdlId;
use crate::space::SpaceId;
use std::collections::VecDeque;

/// How many NULL returns are kept.
pub const NULLS_KEPT: usize = 16;
/// How many released ranges are kept.
pub const RELEASES_KEPT: usize = 256;

/// The [`NullReturn::ddi`] of the NULL a driver is handed rather than returned: the
/// `Irp->MdlAddress` of a zero-length direct-I/O request (semantics §5.5), noted when the
/// request reaches the driver's routine. A use of it is the zero-length path crashing.
pub const NULL_MDL_ADDRESS: &str = "Irp->MdlAddress (NULL for a zero-length request)";

/// A DDI that returned NULL (`Ok(None)`): a failed allocation or mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NullReturn {
    /// The step of the call.
    pub step: u64,
    /// The DDI's name.
    pub ddi: &'static str,
}

/// A kernel-mode access that faulted (an exception raised, or a bug check).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KernelFault {
    /// The step of the access.
    pub step: u64,
    /// The first address it could not touch.
    pub va: Va,
    /// The space the address was resolved in (`System` for a system address).
    pub space: SpaceId,
    /// A write (else a read).
    pub write: bool,
}

/// A range that was valid and was released.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Released {
    /// The space the range was in.
    pub space: SpaceId,
    /// Its first byte.
    pub start: Va,
    /// Its length in bytes.
    pub len: u64,
    /// The step of the release.
    pub step: u64,
    /// What it was: `"an MDL mapping"`, `"a pool allocation"`.
    pub what: &'static str,
}

impl Released {
    /// Whether `va` in `space` lies in the range.
    pub fn contains(&self, space: SpaceId, va: Va) -> bool {
        self.space == space
            && va
                .checked_offset_from(self.start)
                .is_some_and(|off| off < self.len)
    }
}

/// The machine's record of causes (module docs).
#[derive(Clone, Debug, Default)]
pub struct Blame {
    nulls: VecDeque<NullReturn>,
    mutations: VecDeque<(u64, MdlId)>,
    fault: Option<KernelFault>,
    released: VecDeque<Released>,
}

impl Blame {
    /// The NULL returns kept, oldest first.
    pub fn nulls(&self) -> impl DoubleEndedIterator<Item = &NullReturn> {
        self.nulls.iter()
    }

    /// The last write a driver made into the PFN array of a locked MDL: `(step, MDL)`.
    pub fn last_locked_array_write(&self) -> Option<(u64, MdlId)> {
        self.mutations.back().copied()
    }

    /// The last kernel access that faulted.
    pub fn last_fault(&self) -> Option<KernelFault> {
        self.fault
    }

    /// The most recent release of a range holding `va` in `space`.
    pub fn released_at(&self, space: SpaceId, va: Va) -> Option<&Released> {
        self.released.iter().rev().find(|r| r.contains(space, va))
    }

    /// Records a DDI's NULL return (the last [`NULLS_KEPT`] are kept).
    pub(crate) fn record_null(&mut self, n: NullReturn) {
        if self.nulls.len() == NULLS_KEPT {
            self.nulls.pop_front();
        }
        self.nulls.push_back(n);
    }

    /// Records a driver's write into the PFN array of the locked MDL `id` at `step`.
    pub(crate) fn record_mutation(&mut self, step: u64, id: MdlId) {
        if self.mutations.len() == NULLS_KEPT {
            self.mutations.pop_front();
        }
        self.mutations.push_back((step, id));
    }

    /// Records a kernel access that faulted (only the last is kept).
    pub(crate) fn record_fault(&mut self, f: KernelFault) {
        self.fault = Some(f);
    }

    /// Records a released range (the last [`RELEASES_KEPT`] are kept).
    pub(crate) fn record_release(&mut self, r: Released) {
        if self.released.len() == RELEASES_KEPT {
            self.released.pop_front();
        }
        self.released.push_back(r);
    }
}
