//! The dense representation of a frame's labels: a base index per byte.

use super::{Label, LabelSpan, PAGE_BYTES, Run, push_run, push_span};

/// Most bases a dense frame holds (an index is one byte).
const MAX_BASES: usize = 256;

/// A frame's labels as one base index per byte: the byte at `off` is `bases[idx[off]]`
/// advanced by `off`.
///
/// Invariant: `idx.len() == PAGE_BYTES`, every index `< bases.len() ≤ MAX_BASES`, and the
/// bases are distinct (so two bytes continue one run exactly when their indices are
/// equal and they are neighbours).
#[derive(Clone, Debug)]
pub(super) struct Dense {
    bases: Vec<Label>,
    idx: Box<[u8]>,
}

/// `label` moved back to offset 0: the base of a byte labelled `label` at offset `off`.
fn base_of(label: Label, off: usize) -> Label {
    label.advance((off as u64).wrapping_neg())
}

impl Dense {
    /// `runs` as a dense frame; `None` when they have more than [`MAX_BASES`] bases.
    pub(super) fn from_runs(runs: &[Run]) -> Option<Dense> {
        let mut d = Dense {
            bases: Vec::new(),
            idx: vec![0u8; PAGE_BYTES].into_boxed_slice(),
        };
        for (i, r) in runs.iter().enumerate() {
            let end = runs.get(i + 1).map_or(PAGE_BYTES, |n| n.start as usize);
            let k = d.base_index(base_of(r.label, r.start as usize))?;
            d.idx[r.start as usize..end].fill(k);
        }
        Some(d)
    }

    /// The index of `base`, added if it is new and there is room.
    fn base_index(&mut self, base: Label) -> Option<u8> {
        if let Some(k) = self.bases.iter().position(|b| *b == base) {
            return u8::try_from(k).ok();
        }
        if self.bases.len() == MAX_BASES {
            return None;
        }
        self.bases.push(base);
        u8::try_from(self.bases.len() - 1).ok()
    }

    /// Host bytes held: the index and the bases.
    pub(super) fn heap_bytes(&self) -> usize {
        self.idx.len() + self.bases.capacity() * std::mem::size_of::<Label>()
    }

    pub(super) fn label_at(&self, off: usize) -> Label {
        self.bases[self.idx[off] as usize].advance(off as u64)
    }

    /// The labels of `[off, off + len)` as spans (a span per stretch of one base).
    pub(super) fn spans(&self, off: usize, len: usize, out: &mut Vec<LabelSpan>) {
        let end = off + len;
        let mut cur = off;
        while cur < end {
            let k = self.idx[cur];
            let n = self.idx[cur..end].iter().take_while(|&&j| j == k).count();
            push_span(
                out,
                LabelSpan {
                    len: n as u64,
                    label: self.bases[k as usize].advance(cur as u64),
                },
            );
            cur += n;
        }
    }

    /// The labels as maximally merged runs.
    pub(super) fn runs(&self) -> Vec<Run> {
        let mut out = Vec::new();
        let mut cur = 0;
        while cur < PAGE_BYTES {
            let k = self.idx[cur];
            let n = self.idx[cur..].iter().take_while(|&&j| j == k).count();
            push_run(
                &mut out,
                Run {
                    start: cur as u16,
                    label: self.bases[k as usize].advance(cur as u64),
                },
            );
            cur += n;
        }
        out
    }

    /// Replaces the labels of `[off, off + total)` with `spans`; `false` (nothing changed)
    /// when that would take more than [`MAX_BASES`] bases even after dropping the unused.
    pub(super) fn splice(&mut self, off: usize, total: usize, spans: &[LabelSpan]) -> bool {
        let end = off + total;
        let missing = |d: &Dense| {
            let mut new: Vec<Label> = Vec::new();
            let mut cur = off;
            for s in spans.iter().filter(|s| s.len != 0) {
                let b = base_of(s.label, cur);
                if !d.bases.contains(&b) && !new.contains(&b) {
                    new.push(b);
                }
                cur += s.len as usize;
            }
            new.len()
        };
        if self.bases.len() + missing(self) > MAX_BASES {
            self.drop_unused_bases(off, end);
            if self.bases.len() + missing(self) > MAX_BASES {
                return false;
            }
        }
        let mut cur = off;
        for s in spans.iter().filter(|s| s.len != 0) {
            let Some(k) = self.base_index(base_of(s.label, cur)) else {
                return false; // unreachable: room was made above
            };
            let n = s.len as usize;
            self.idx[cur..cur + n].fill(k);
            cur += n;
        }
        true
    }

    /// Drops the bases no byte outside `[off, end)` uses (those bytes are about to be
    /// overwritten), renumbering the rest.
    fn drop_unused_bases(&mut self, off: usize, end: usize) {
        let mut used = [false; MAX_BASES];
        for (i, &k) in self.idx.iter().enumerate() {
            if i < off || i >= end {
                used[k as usize] = true;
            }
        }
        let mut map = [0u8; MAX_BASES];
        let mut kept = Vec::with_capacity(self.bases.len());
        for (k, b) in self.bases.iter().enumerate() {
            if used[k] {
                map[k] = kept.len() as u8;
                kept.push(*b);
            }
        }
        for k in self.idx.iter_mut() {
            *k = map[*k as usize];
        }
        self.bases = kept;
    }
}
