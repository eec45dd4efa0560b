//! Shadow memory: byte provenance ([design.md, "Shadow memory"][design-shadow]).
//!
//! Every byte of every frame carries a [`Label`]: [`Label::Zero`], or
//! [`Label::Origin`] naming the address space and virtual address at which
//! the value was first written. Labels are stored per frame as a sorted list
//! of [`Run`]s partitioning the page; an origin run's address advances with
//! the offset, so copying a whole page keeps a single run and the cost of a
//! large copy grows with pages, not bytes. A freed frame keeps its labels, so
//! a later uninitialised allocation really does carry its previous owner's
//! provenance.
//!
//! [design-shadow]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shadow-memory

use crate::addr::{PAGE_BYTES, Va};
use crate::ids::SpaceId;
use serde::{Deserialize, Serialize};
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

/// The labels of one frame.
///
/// Invariant: `runs` is non-empty, sorted by `start`, starts at offset 0, and
/// no two neighbouring runs could be merged (the second does not continue the first).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FrameLabels {
    runs: Vec<Run>,
}

impl Default for FrameLabels {
    fn default() -> Self {
        FrameLabels::zero()
    }
}

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
            runs: vec![Run {
                start: 0,
                label: Label::Zero,
            }],
        }
    }

    /// The runs, sorted by offset.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Runs the host holds for this frame (the list's capacity): what its labels cost.
    pub(crate) fn heap_runs(&self) -> usize {
        self.runs.capacity()
    }

    fn run_end(&self, i: usize) -> usize {
        self.runs
            .get(i + 1)
            .map_or(PAGE_BYTES, |r| r.start as usize)
    }

    fn index_of(&self, off: usize) -> usize {
        // The last run whose start <= off; runs[0].start == 0 so it always exists.
        match self.runs.binary_search_by(|r| (r.start as usize).cmp(&off)) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// The label of the byte at `off` (`off < PAGE_SIZE`).
    pub fn label_at(&self, off: usize) -> Label {
        let i = self.index_of(off);
        let r = self.runs[i];
        r.label.advance((off - r.start as usize) as u64)
    }

    /// The labels of `[off, off + len)` as spans, in order.
    pub fn spans(&self, off: usize, len: usize, out: &mut Vec<LabelSpan>) {
        if len == 0 {
            return;
        }
        let end = off + len;
        let mut i = self.index_of(off);
        let mut cur = off;
        while cur < end {
            let r = self.runs[i];
            let rend = self.run_end(i).min(end);
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
        let end = off + total;
        debug_assert!(end <= PAGE_BYTES);
        if off == 0 && end == PAGE_BYTES {
            // The whole frame: the general case below with nothing kept before `off`, no
            // tail and no runs after `end`, done in place (no allocation).
            self.runs.clear();
            let mut cur = 0usize;
            for s in spans.iter().filter(|s| s.len != 0) {
                push_run(
                    &mut self.runs,
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
        let tail = if end < PAGE_BYTES {
            Some(self.label_at(end))
        } else {
            None
        };
        let first = self.index_of(off);
        // Runs wholly after `end` stay; find the first run starting after `end`.
        let after = self.runs.partition_point(|r| (r.start as usize) <= end);
        let mut new_runs: Vec<Run> = Vec::with_capacity(spans.len() + 2);
        // Keep the part of the first run before `off`.
        if (self.runs[first].start as usize) < off {
            new_runs.push(self.runs[first]);
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
        let rest: Vec<Run> = self.runs[after..].to_vec();
        self.runs.truncate(first);
        for r in new_runs.into_iter().chain(rest) {
            push_run(&mut self.runs, r);
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
mod tests {
    use super::*;
    use crate::ids::Pid;

    fn origin(pid: u32, va: u64) -> Label {
        Label::Origin {
            space: SpaceId::Process(Pid(pid)),
            va: Va(va),
        }
    }

    fn check_invariant(f: &FrameLabels) {
        assert_eq!(f.runs[0].start, 0);
        for w in f.runs.windows(2) {
            assert!(w[0].start < w[1].start);
            assert_ne!(
                w[0].label.advance((w[1].start - w[0].start) as u64),
                w[1].label
            );
        }
    }

    #[test]
    fn whole_page_write_is_one_run() {
        let mut f = FrameLabels::zero();
        f.set(0, PAGE_BYTES, origin(1, 0x1000));
        assert_eq!(f.runs().len(), 1);
        assert_eq!(f.label_at(0x123), origin(1, 0x1123));
    }

    #[test]
    fn middle_write_splits_into_three_runs_and_resumes() {
        let mut f = FrameLabels::zero();
        f.set(0, PAGE_BYTES, origin(1, 0x1000));
        f.set(0x200, 0x10, origin(2, 0x9000));
        check_invariant(&f);
        assert_eq!(f.runs().len(), 3);
        assert_eq!(f.label_at(0x1FF), origin(1, 0x11FF));
        assert_eq!(f.label_at(0x205), origin(2, 0x9005));
        assert_eq!(f.label_at(0x210), origin(1, 0x1210));
    }

    #[test]
    fn contiguous_writes_merge() {
        let mut f = FrameLabels::zero();
        f.set(0, 0x100, origin(1, 0x1000));
        f.set(0x100, 0x100, origin(1, 0x1100));
        check_invariant(&f);
        assert_eq!(f.runs().len(), 2); // origin run, then the zero tail
    }

    #[test]
    fn spans_report_each_run_clipped() {
        let mut f = FrameLabels::zero();
        f.set(0x10, 0x10, origin(1, 0x10));
        let mut out = Vec::new();
        f.spans(0x8, 0x20, &mut out);
        assert_eq!(
            out,
            vec![
                LabelSpan {
                    len: 8,
                    label: Label::Zero
                },
                LabelSpan {
                    len: 0x10,
                    label: origin(1, 0x10)
                },
                LabelSpan {
                    len: 8,
                    label: Label::Zero
                },
            ]
        );
    }

    #[test]
    fn random_splices_match_a_per_byte_model() {
        // Deterministic pseudo-random sequence; a per-byte array is the reference.
        let mut f = FrameLabels::zero();
        let mut model = vec![Label::Zero; PAGE_BYTES];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let off = (x % PAGE_BYTES as u64) as usize;
            let len = ((x >> 20) % (PAGE_BYTES - off) as u64) as usize + 1;
            let len = len.min(PAGE_BYTES - off);
            let label = if x & 3 == 0 {
                Label::Zero
            } else {
                origin((x >> 40) as u32 % 3, x >> 44)
            };
            f.set(off, len, label);
            for i in 0..len {
                model[off + i] = label.advance(i as u64);
            }
            check_invariant(&f);
        }
        for (i, l) in model.iter().enumerate() {
            assert_eq!(f.label_at(i), *l, "byte {i}");
        }
    }

    #[test]
    fn whole_frame_splices_match_a_per_byte_model() {
        // The in-place path of `splice` (off 0, the whole frame): spans including empty ones
        // and ones that continue their predecessor (which must merge).
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut f = FrameLabels::zero();
        for round in 0..300 {
            f.set(round % 100, 50, origin(1, round as u64)); // some prior runs
            let mut spans = Vec::new();
            let mut model = Vec::with_capacity(PAGE_BYTES);
            while model.len() < PAGE_BYTES {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = ((x % 700) as usize).min(PAGE_BYTES - model.len());
                let label = match x >> 60 {
                    0..=3 => Label::Zero,
                    // continues the previous span when it was an origin
                    4..=9 => match spans.last() {
                        Some(LabelSpan { len: l, label }) => label.advance(*l),
                        None => Label::Zero,
                    },
                    _ => origin((x >> 40) as u32 % 3, x >> 44),
                };
                spans.push(LabelSpan {
                    len: len as u64,
                    label,
                });
                model.extend((0..len).map(|i| label.advance(i as u64)));
            }
            f.splice(0, PAGE_BYTES, &spans);
            check_invariant(&f);
            for (i, l) in model.iter().enumerate() {
                assert_eq!(f.label_at(i), *l, "round {round} byte {i}");
            }
        }
    }
}
