//! The bytes of physical memory: frames in page-aligned slabs, and runs of consecutive
//! frames that one host copy covers.

use crate::addr::{PAGE_BYTES, Pfn, Va};
use std::sync::{Mutex, PoisonError};

/// Frames per slab: one host allocation of 256 KiB (plus a page of slack), filled as
/// frames materialise.
pub(crate) const SLAB: usize = 64;

/// Bytes of a slab's frames.
const SLAB_BYTES: usize = SLAB * PAGE_BYTES;

/// Bytes a slab's buffer reserves: its frames and a page of slack to align them.
const SLAB_CAPACITY: usize = SLAB_BYTES + PAGE_BYTES;

/// Most slab buffers [`FREE_SLABS`] keeps: 256 × 260 KiB, 65 MiB of host memory at most.
const FREE_SLABS_MAX: usize = 256;

/// Buffers of dropped slabs (of any machine of this process), kept for the next slab
/// instead of being returned to the host allocator: a fresh buffer costs a host page fault
/// per 4 KiB the first time each frame is written (BounceCopy at 64 pages 5× slower per
/// page than at 32 on a fresh machine), a recycled one does not.
///
/// Invariant: every buffer here has capacity ≥ [`SLAB_CAPACITY`] and there are at most
/// [`FREE_SLABS_MAX`]. Its contents are stale and never read: a slab taken from here is
/// cleared and its frames zero-filled as they materialise, exactly as a fresh one, so a
/// machine behaves the same whichever it got. The pool belongs to no machine: a machine's
/// `host_bytes` counts its materialised frames as before, and the pool adds at most
/// `FREE_SLABS_MAX` buffers to the process beside them.
static FREE_SLABS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A slab buffer, empty, from [`FREE_SLABS`] if it holds one, else freshly reserved.
fn take_slab_buffer() -> Vec<u8> {
    let recycled = FREE_SLABS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    match recycled {
        Some(mut buf) => {
            buf.clear();
            buf
        }
        None => Vec::with_capacity(SLAB_CAPACITY),
    }
}

/// Keeps a dropped slab's buffer in [`FREE_SLABS`] unless it is full (then it is freed).
fn give_slab_buffer(buf: Vec<u8>) {
    if buf.capacity() < SLAB_CAPACITY {
        return;
    }
    let mut pool = FREE_SLABS.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < FREE_SLABS_MAX {
        pool.push(buf);
    }
}

/// Slab buffers [`FREE_SLABS`] holds now.
#[cfg(test)]
fn free_slabs() -> usize {
    FREE_SLABS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}

/// One slab: up to [`SLAB`] frames back to back, page-aligned on the host (a 4 KiB heap
/// block 16 bytes off a page boundary costs a misaligned copy ~25% on x86-64), so a run of
/// frames with consecutive numbers in one slab is one contiguous byte slice and a copy
/// across it is one host `memcpy`.
///
/// The buffer (recycled through [`FREE_SLABS`]) is reserved once, with a page of slack, and grows (zero-filled) one frame
/// at a time as frames materialise, never past its capacity, so it never moves; the
/// frames start at `base`, the first page boundary in it (found with `align_offset`, no
/// `unsafe`). Only materialised frames are ever written or cleared: a fresh machine's
/// first slab costs one page, not 256 KiB, and a clone copies what is there.
#[derive(Debug)]
struct Slab {
    buf: Vec<u8>,
    base: usize,
}

impl Slab {
    fn new() -> Slab {
        let mut buf = take_slab_buffer();
        // `align_offset` may (in principle) decline with usize::MAX: the frames then
        // start at the slack's end, still within the capacity, merely unaligned.
        let base = buf.as_ptr().align_offset(PAGE_BYTES).min(PAGE_BYTES);
        buf.resize(base, 0);
        Slab { buf, base }
    }

    /// The slab's materialised frames as one slice.
    fn frames(&self) -> &[u8] {
        &self.buf[self.base..]
    }

    fn frames_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.base..]
    }

    /// Materialises the slab's next frame, zero-filled (within the reserved capacity:
    /// the buffer does not move).
    fn push_zero(&mut self) {
        self.buf.resize(self.buf.len() + PAGE_BYTES, 0);
    }
}

impl Drop for Slab {
    /// Hands the buffer to [`FREE_SLABS`] for the next slab.
    fn drop(&mut self) {
        give_slab_buffer(std::mem::take(&mut self.buf));
    }
}

/// Frame contents by frame number, in slabs of [`SLAB`] page-aligned frames.
#[derive(Debug, Default)]
pub(super) struct FrameStore {
    slabs: Vec<Slab>,
    len: usize,
}

impl Clone for FrameStore {
    /// Copies the materialised frames only, each slab re-aligned in its new buffer.
    fn clone(&self) -> Self {
        let slabs = self
            .slabs
            .iter()
            .map(|s| {
                let mut c = Slab::new();
                c.buf.extend_from_slice(s.frames());
                c
            })
            .collect();
        FrameStore {
            slabs,
            len: self.len,
        }
    }
}

impl FrameStore {
    /// Materialises the next frame, zero-filled (frames are materialised once, in order).
    pub(super) fn push_zero(&mut self) {
        if self.len == self.slabs.len() * SLAB {
            self.slabs.push(Slab::new());
        }
        if let Some(s) = self.slabs.last_mut() {
            s.push_zero();
        }
        self.len += 1;
    }

    /// Bytes `[at, at + len)` of the frames starting at frame `i`; the range stays in
    /// `i`'s slab (callers check with [`same_slab`]).
    pub(super) fn run(&self, i: usize, at: usize, len: usize) -> &[u8] {
        let o = (i % SLAB) * PAGE_BYTES + at;
        &self.slabs[i / SLAB].frames()[o..o + len]
    }

    pub(super) fn run_mut(&mut self, i: usize, at: usize, len: usize) -> &mut [u8] {
        let o = (i % SLAB) * PAGE_BYTES + at;
        &mut self.slabs[i / SLAB].frames_mut()[o..o + len]
    }

    pub(super) fn get(&self, i: usize) -> &[u8] {
        self.run(i, 0, PAGE_BYTES)
    }

    pub(super) fn get_mut(&mut self, i: usize) -> &mut [u8] {
        self.run_mut(i, 0, PAGE_BYTES)
    }

    /// Runs `[a*4K + ao, +len)` (shared) and `[b*4K + bo, +len)` (mutable) of frames,
    /// each inside one slab; `None` when the two byte ranges overlap.
    pub(super) fn pair_run_mut(
        &mut self,
        (a, ao): (usize, usize),
        (b, bo): (usize, usize),
        len: usize,
    ) -> Option<(&[u8], &mut [u8])> {
        let (sa, sb) = (a / SLAB, b / SLAB);
        let oa = (a % SLAB) * PAGE_BYTES + ao;
        let ob = (b % SLAB) * PAGE_BYTES + bo;
        if sa == sb {
            let f = self.slabs[sa].frames_mut();
            if oa + len <= ob {
                let (lo, hi) = f.split_at_mut(ob);
                Some((&lo[oa..oa + len], &mut hi[..len]))
            } else if ob + len <= oa {
                let (lo, hi) = f.split_at_mut(oa);
                Some((&hi[..len], &mut lo[ob..ob + len]))
            } else {
                None
            }
        } else {
            let (x, y) = split_pair(&mut self.slabs, sa, sb);
            Some((&x.frames()[oa..oa + len], &mut y.frames_mut()[ob..ob + len]))
        }
    }
}

/// Consecutive bytes of physical memory: `len` bytes from byte `at` of frame `first`,
/// through frames `first + 1, ...` of the same slab. The copy paths gather a request's
/// page chunks into runs and copy each run at once (one host `memcpy` instead of one per
/// page); the pages are still translated, checked and logged one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameRun {
    /// First frame.
    pub first: Pfn,
    /// Byte offset in `first`.
    pub at: usize,
    /// Bytes.
    pub len: usize,
}

impl FrameRun {
    /// The chunk `[off, off + n)` of frame `pfn`, as a run.
    pub(crate) fn new(pfn: Pfn, off: usize, n: usize) -> FrameRun {
        FrameRun {
            first: pfn,
            at: off,
            len: n,
        }
    }

    /// The run's pages as accessed from virtual address `at` (the run's first byte):
    /// `(va, frame, offset in frame, bytes)` per page, in order.
    pub(crate) fn pages(&self, at: Va) -> impl Iterator<Item = (Va, Pfn, usize, usize)> + use<> {
        let run = *self;
        crate::addr::page_chunks(Va(run.at as u64), run.len as u64).map(move |(p, off, n)| {
            let k = p.0 / PAGE_BYTES as u64;
            let va = at.wrapping_add(p.0 + off as u64 - run.at as u64);
            (va, Pfn(run.first.0 + k), off, n)
        })
    }

    /// True when the two runs share no byte of physical memory.
    pub(crate) fn disjoint(a: &FrameRun, b: &FrameRun) -> bool {
        let start = |r: &FrameRun| r.first.0 as u128 * PAGE_BYTES as u128 + r.at as u128;
        let (sa, sb) = (start(a), start(b));
        sa + a.len as u128 <= sb || sb + b.len as u128 <= sa
    }

    /// True when the chunk at byte `off` of frame `pfn` starts where the run ends in
    /// host memory (the same frame further on, or the next frame of the same slab).
    pub(crate) fn continues_at(&self, pfn: Pfn, off: usize) -> bool {
        let end = self.at + self.len;
        off == end % PAGE_BYTES
            && pfn.0 == self.first.0 + (end / PAGE_BYTES) as u64
            && same_slab(self.first, pfn)
    }

    /// Extends the run by the chunk `[off, off + n)` of frame `pfn` when that chunk
    /// directly follows it in host memory ([`FrameRun::continues_at`]); `false` (run
    /// unchanged) otherwise.
    pub(crate) fn extend(&mut self, pfn: Pfn, off: usize, n: usize) -> bool {
        if self.continues_at(pfn, off) {
            self.len += n;
            true
        } else {
            false
        }
    }
}

/// True when frames `a` and `b` lie in the same slab (a run from `a` through `b` is
/// contiguous on the host).
pub(crate) fn same_slab(a: Pfn, b: Pfn) -> bool {
    a.0 / SLAB as u64 == b.0 / SLAB as u64
}

fn split_pair<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slab built from a recycled buffer starts as a fresh one: frames zero-filled,
    /// page-aligned, whatever the buffer's last owner wrote; and the pool stays bounded.
    #[test]
    fn recycled_slabs_are_zero_filled_and_the_pool_bounded() {
        let mut stores: Vec<FrameStore> = Vec::new();
        for _ in 0..3 {
            let mut s = FrameStore::default();
            for i in 0..2 * SLAB {
                s.push_zero();
                s.get_mut(i).fill(0xEE);
            }
            stores.push(s);
        }
        drop(stores);
        assert!(free_slabs() <= FREE_SLABS_MAX);
        let mut s = FrameStore::default();
        for i in 0..2 * SLAB {
            s.push_zero();
            assert!(s.get(i).iter().all(|&b| b == 0), "frame {i}");
        }
        for slab in &s.slabs {
            assert_eq!(slab.frames().as_ptr().align_offset(PAGE_BYTES), 0);
        }
        // Untouched buffers: reserved address space, no host memory.
        for _ in 0..FREE_SLABS_MAX + 4 {
            give_slab_buffer(Vec::with_capacity(SLAB_CAPACITY));
        }
        assert_eq!(free_slabs(), FREE_SLABS_MAX);
        give_slab_buffer(Vec::new());
        assert!(free_slabs() <= FREE_SLABS_MAX);
    }
}
