//! Shadow memory: byte provenance ([design.md, "Shadow memory"][design-shadow]).
//!
//! Every byte of every frame carries a [`Label`]: [`Label::Zero`], or
//! [`Label::Origin`] naming the address space and virtual address at which
//! the value was first written. Labels are stored per frame as a sorted list
//! of [`Run`]s partitioning the page; an origin run's address advances with
//! the offset, so copying a whole page keeps a single run and the cost of a
//! large copy grows with pages, not bytes. A page fragmented byte by byte
//! between a few origins is held dense instead (a byte per byte indexing its
//! few bases, [`FrameLabels`]), so the worst case costs about the page again,
//! not 24 times it. A freed frame keeps its labels, so a later uninitialised
//! allocation really does carry its previous owner's provenance.
//!
//! [design-shadow]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shadow-memory

use crate::addr::{PAGE_BYTES, Va};
use crate::ids::SpaceId;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Where a byte's value came from.
///
/// Invariant: an `Origin`'s `va` is the address, in `space`, at which this
/// exact byte was first written (not the start of the write).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Label {
    /// Zero-filled by the memory manager (demand-zero, `ExAllocatePool2`, a fresh frame).
    Zero,
    /// First written at `va` in `space` (a process, or system space for pool and kernel writes).
    Origin {
        /// The writer's address space.
        space: SpaceId,
        /// The address of this byte in `space` when it was written.
        va: Va,
    },
}

impl Label {
    /// The label of the byte `delta` bytes further along a run that starts with `self`.
    pub(crate) fn advance(self, delta: u64) -> Label {
        match self {
            Label::Zero => Label::Zero,
            Label::Origin { space, va } => Label::Origin {
                space,
                va: va.wrapping_add(delta),
            },
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Zero => f.write_str("zero"),
            Label::Origin { space, va } => write!(f, "{space}@{va}"),
        }
    }
}

/// A run of bytes in one frame starting at `start` whose labels advance from `label`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Run {
    /// First offset in the page covered by the run.
    pub start: u16,
    /// Label of the byte at `start`; later bytes of the run are `label.advance(offset - start)`.
    pub label: Label,
}

/// The labels of one frame, in one of two representations chosen by what they cost:
///
/// * **runs** (the usual one): a sorted list of [`Run`]s partitioning the page, about 24
///   bytes a run. A page written or copied in a few pieces has a few runs.
/// * **dense**: one byte per byte of the page indexing a table of at most 256 *bases*
///   (a base is a label moved back to offset 0: the byte at `off` is `bases[idx[off]]`
///   advanced by `off`), 4 KiB plus 16 bytes a base. A page whose bytes alternate between
///   a few origins (byte-wise interleaved copies) has thousands of runs but a handful of
///   bases: as runs it would cost about 24 times the page, dense about once.
///
/// A frame turns dense when an edit leaves it more than [`DENSE_AT`] runs and its labels
/// have at most 256 bases; it turns back to runs when a whole-frame splice gives it at
/// most [`RUNS_AT`] runs (or an edit would need a 257th base: a page of more than 256
/// distinct bases is kept as runs, its true cost). The two are invisible to callers:
/// every query answers the same labels, and two frames with the same labels compare
/// equal whatever their representations.
///
/// Invariant (runs): `runs` is non-empty, sorted by `start`, starts at offset 0, and no two
/// neighbouring runs could be merged (the second does not continue the first).
/// Invariant (dense): `idx` has [`PAGE_BYTES`] entries, each `< bases.len() ≤ 256`.
#[derive(Clone, Debug)]
pub struct FrameLabels {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    Runs(Vec<Run>),
    Dense(Box<dense::Dense>),
}

mod dense;

/// More runs than this and a frame turns dense (if its labels have at most 256 bases):
/// 256 runs are about 6 KiB, a dense frame about 4 KiB.
pub const DENSE_AT: usize = 256;

/// A whole-frame splice into a dense frame with at most this many runs turns it back.
pub const RUNS_AT: usize = 64;

impl Default for FrameLabels {
    fn default() -> Self {
        FrameLabels::zero()
    }
}

impl PartialEq for FrameLabels {
    /// Equal when every byte has the same label, whatever the representations.
    fn eq(&self, other: &Self) -> bool {
        self.runs() == other.runs()
    }
}

impl Eq for FrameLabels {}

/// A labelled span of bytes, as returned by queries: `len` bytes whose first is `label`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LabelSpan {
    /// Number of bytes.
    pub len: u64,
    /// Label of the first byte; the rest advance from it.
    pub label: Label,
}

impl FrameLabels {
    /// A frame whose every byte is [`Label::Zero`].
    pub fn zero() -> Self {
        FrameLabels {
            repr: Repr::Runs(vec![Run {
                start: 0,
                label: Label::Zero,
            }]),
        }
    }

    /// The labels as runs, sorted by offset, maximally merged (computed for a dense frame).
    pub fn runs(&self) -> Cow<'_, [Run]> {
        match &self.repr {
            Repr::Runs(r) => Cow::Borrowed(r),
            Repr::Dense(d) => Cow::Owned(d.runs()),
        }
    }

    /// True when the frame is held dense (for tests and the memory figures).
    pub fn is_dense(&self) -> bool {
        matches!(self.repr, Repr::Dense(_))
    }

    /// Host bytes this frame's labels hold beyond the `FrameLabels` itself: what
    /// fragmented provenance costs.
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Runs(r) => r.capacity() * std::mem::size_of::<Run>(),
            Repr::Dense(d) => d.heap_bytes(),
        }
    }

    /// The label of the byte at `off` (`off < PAGE_SIZE`).
    pub fn label_at(&self, off: usize) -> Label {
        match &self.repr {
            Repr::Runs(r) => runs::label_at(r, off),
            Repr::Dense(d) => d.label_at(off),
        }
    }

    /// The labels of `[off, off + len)` as spans, in order.
    pub fn spans(&self, off: usize, len: usize, out: &mut Vec<LabelSpan>) {
        match &self.repr {
            Repr::Runs(r) => runs::spans(r, off, len, out),
            Repr::Dense(d) => d.spans(off, len, out),
        }
    }

    /// Labels `[off, off + len)` with `label`, advancing per byte.
    pub fn set(&mut self, off: usize, len: usize, label: Label) {
        self.splice(
            off,
            len,
            &[LabelSpan {
                len: len as u64,
                label,
            }],
        );
    }

    /// Replaces the labels of `[off, off + total)` with `spans` (whose lengths sum to `total`).
    pub fn splice(&mut self, off: usize, total: usize, spans: &[LabelSpan]) {
        if total == 0 {
            return;
        }
        debug_assert!(off + total <= PAGE_BYTES);
        let whole = off == 0 && total == PAGE_BYTES;
        if let Repr::Dense(d) = &mut self.repr {
            if !(whole && spans.len() <= RUNS_AT) && d.splice(off, total, spans) {
                return;
            }
            // Back to runs: simple again, or a 257th base.
            self.repr = Repr::Runs(d.runs());
        }
        if let Repr::Runs(r) = &mut self.repr {
            runs::splice(r, off, total, spans);
            if r.len() > DENSE_AT {
                if let Some(d) = dense::Dense::from_runs(r) {
                    self.repr = Repr::Dense(Box::new(d));
                }
            }
        }
    }
}

/// The runs representation's operations.
mod runs {
    use super::{Label, LabelSpan, PAGE_BYTES, Run, push_run, push_span};

    fn run_end(runs: &[Run], i: usize) -> usize {
        runs.get(i + 1).map_or(PAGE_BYTES, |r| r.start as usize)
    }

    fn index_of(runs: &[Run], off: usize) -> usize {
        // The last run whose start <= off; runs[0].start == 0 so it always exists.
        match runs.binary_search_by(|r| (r.start as usize).cmp(&off)) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    pub(super) fn label_at(runs: &[Run], off: usize) -> Label {
        let r = runs[index_of(runs, off)];
        r.label.advance((off - r.start as usize) as u64)
    }

    pub(super) fn spans(runs: &[Run], off: usize, len: usize, out: &mut Vec<LabelSpan>) {
        if len == 0 {
            return;
        }
        let end = off + len;
        let mut i = index_of(runs, off);
        let mut cur = off;
        while cur < end {
            let r = runs[i];
            let rend = run_end(runs, i).min(end);
            push_span(
                out,
                LabelSpan {
                    len: (rend - cur) as u64,
                    label: r.label.advance((cur - r.start as usize) as u64),
                },
            );
            cur = rend;
            i += 1;
        }
    }

    pub(super) fn splice(runs: &mut Vec<Run>, off: usize, total: usize, spans: &[LabelSpan]) {
        let end = off + total;
        if off == 0 && end == PAGE_BYTES {
            // The whole frame: the general case below with nothing kept before `off`, no
            // tail and no runs after `end`, done in place (no allocation).
            runs.clear();
            let mut cur = 0usize;
            for s in spans.iter().filter(|s| s.len != 0) {
                push_run(
                    runs,
                    Run {
                        start: cur as u16,
                        label: s.label,
                    },
                );
                cur += s.len as usize;
            }
            return;
        }
        // The label that resumes at `end`, if a run continues past it.
        let tail = (end < PAGE_BYTES).then(|| label_at(runs, end));
        let first = index_of(runs, off);
        // Runs wholly after `end` stay; find the first run starting after `end`.
        let after = runs.partition_point(|r| (r.start as usize) <= end);
        let mut new_runs: Vec<Run> = Vec::with_capacity(spans.len() + 2);
        // Keep the part of the first run before `off`.
        if (runs[first].start as usize) < off {
            new_runs.push(runs[first]);
        }
        let mut cur = off;
        for s in spans {
            if s.len == 0 {
                continue;
            }
            new_runs.push(Run {
                start: cur as u16,
                label: s.label,
            });
            cur += s.len as usize;
        }
        if let Some(t) = tail {
            // The overwritten run resumes at `end` (a run that started exactly at
            // `end` has this same label, so it is reproduced, not lost).
            new_runs.push(Run {
                start: end as u16,
                label: t,
            });
        }
        let rest: Vec<Run> = runs[after..].to_vec();
        runs.truncate(first);
        for r in new_runs.into_iter().chain(rest) {
            push_run(runs, r);
        }
    }
}

/// Appends `r`, merging it into the previous run when it continues it.
fn push_run(runs: &mut Vec<Run>, r: Run) {
    if let Some(last) = runs.last() {
        if last.start == r.start {
            // A zero-length run is replaced by its successor.
            runs.pop();
            return push_run(runs, r);
        }
        if last.label.advance((r.start - last.start) as u64) == r.label {
            return;
        }
    }
    runs.push(r);
}

/// Appends `s`, merging it into the previous span when it continues it.
pub(crate) fn push_span(out: &mut Vec<LabelSpan>, s: LabelSpan) {
    if s.len == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.label.advance(last.len) == s.label {
            last.len += s.len;
            return;
        }
    }
    out.push(s);
}

#[cfg(test)]
mod tests;
