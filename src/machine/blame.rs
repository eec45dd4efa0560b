//! What the oracle needs to name the cause of a crash, kept as the machine runs: the
//! DDIs that returned NULL, the last kernel access that faulted and where, and the
//! address ranges that were valid once and have been released (an unmapped MDL
//! mapping, freed pool). A bug check 0x50 on a released range is a use after
//! completion or free; on a range that never was the driver's, an out-of-bounds
//! access; an access near NULL after a DDI returned NULL, an unhandled resource
//! failure ([`crate::oracle::blame`]).
//!
//! Bounded: the last [`NULLS_KEPT`] NULL returns and [`RELEASES_KEPT`] releases are
//! kept, so a long scenario costs constant memory (older entries are forgotten, and a
//! crash that far from its cause is named by its bug check alone).

use super::Machine;
use crate::addr::Va;
use crate::fault::Result;
use crate::space::SpaceId;
use std::collections::VecDeque;

/// How many NULL returns are kept.
pub const NULLS_KEPT: usize = 16;
/// How many released ranges are kept.
pub const RELEASES_KEPT: usize = 256;

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
    fault: Option<KernelFault>,
    released: VecDeque<Released>,
}

impl Blame {
    /// The NULL returns kept, oldest first.
    pub fn nulls(&self) -> impl DoubleEndedIterator<Item = &NullReturn> {
        self.nulls.iter()
    }

    /// The last kernel access that faulted.
    pub fn last_fault(&self) -> Option<KernelFault> {
        self.fault
    }

    /// The most recent release of a range holding `va` in `space`.
    pub fn released_at(&self, space: SpaceId, va: Va) -> Option<&Released> {
        self.released.iter().rev().find(|r| r.contains(space, va))
    }

    fn push_release(&mut self, r: Released) {
        if self.released.len() == RELEASES_KEPT {
            self.released.pop_front();
        }
        self.released.push_back(r);
    }
}

impl Machine {
    /// The record of causes the oracle names crashes by (module docs).
    pub fn blame(&self) -> &Blame {
        &self.blame
    }

    /// Records a NULL return of the routine being run, and passes `r` through.
    pub(crate) fn note_null<T>(&mut self, r: Result<Option<T>>) -> Result<Option<T>> {
        if let Ok(None) = r {
            if self.blame.nulls.len() == NULLS_KEPT {
                self.blame.nulls.pop_front();
            }
            self.blame.nulls.push_back(NullReturn {
                step: self.step,
                ddi: self.routine,
            });
        }
        r
    }

    /// Records a kernel access that faulted at `va`.
    pub(crate) fn note_kernel_fault(&mut self, space: SpaceId, va: Va, write: bool) {
        self.blame.fault = Some(KernelFault {
            step: self.step,
            va,
            space,
            write,
        });
    }

    /// Records that `[start, start + len)` of `space`, a `what`, is no longer valid.
    pub(crate) fn note_release(&mut self, space: SpaceId, start: Va, len: u64, what: &'static str) {
        let step = self.step;
        self.blame.push_release(Released {
            space,
            start,
            len,
            step,
            what,
        });
    }
}
