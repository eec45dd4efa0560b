//! Double fetch (the PortName example of ["Errors in Direct I/O"][design-direct-io]): the kernel reading the same byte of a user-writable frame
//! twice within one dispatch. Between the two reads another user thread can change the
//! byte, so what the driver validated is not what it uses.
//!
//! Detection is exact, from the access log: kernel reads (any address, system mapping or
//! user VA) are reduced to `(frame, offset)` and two reads of one byte at different steps
//! of one dispatch window, on a frame some user PTE maps writable, are a double fetch.
//! The harness then proves it with a concrete interleaving (a second thread writing
//! the byte between the two fetches, [`crate::machine::ScheduledWrite`]) and reports
//! whether the outcome changed.
//!
//! [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors

use crate::addr::{Pfn, Va};
use crate::log::{Access, Actor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Two kernel fetches of one byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FetchPair {
    /// The frame.
    pub pfn: Pfn,
    /// The byte's offset in it.
    pub offset: u16,
    /// Step of the first fetch.
    pub first: u64,
    /// Step of the second fetch.
    pub second: u64,
    /// Kernel address of the first fetch of that byte.
    pub va: Va,
}

/// The first double fetch (earliest second read) among kernel reads of `log` with steps
/// in `window` (inclusive) on frames in `writable`.
pub fn find(log: &[Access], window: (u64, u64), writable: &BTreeSet<Pfn>) -> Option<FetchPair> {
    find_where(log, window, |p| writable.contains(&p))
}

/// Whether any frame at all was fetched twice by the kernel within `window`: when not,
/// no frame can be a double fetch, whatever user PTEs map it ([`find`] with every
/// frame writable), and the harness skips collecting the user-writable frames.
pub fn any_refetch(log: &[Access], window: (u64, u64)) -> bool {
    find_where(log, window, |_| true).is_some()
}

fn find_where(
    log: &[Access],
    window: (u64, u64),
    writable: impl Fn(Pfn) -> bool,
) -> Option<FetchPair> {
    let mut per: BTreeMap<Pfn, Vec<&Access>> = BTreeMap::new();
    for r in log.iter().filter(|r| {
        r.actor == Actor::Kernel
            && !r.write
            && r.step >= window.0
            && r.step <= window.1
            && writable(r.pfn)
    }) {
        per.entry(r.pfn).or_default().push(r);
    }
    let mut best: Option<FetchPair> = None;
    for (pfn, rs) in per {
        for (i, a) in rs.iter().enumerate() {
            for b in rs.iter().skip(i + 1) {
                if b.step == a.step {
                    continue;
                }
                let lo = a.offset.max(b.offset);
                let hi = (a.offset + a.len).min(b.offset + b.len);
                if lo >= hi {
                    continue;
                }
                let (first, second) = if a.step < b.step { (a, b) } else { (b, a) };
                let cand = FetchPair {
                    pfn,
                    offset: lo,
                    first: first.step,
                    second: second.step,
                    va: first.va.wrapping_add((lo - first.offset) as u64),
                };
                if best.is_none_or(|x| cand.second < x.second) {
                    best = Some(cand);
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::SpaceId;

    fn read(step: u64, pfn: u64, offset: u16, len: u16) -> Access {
        Access {
            step,
            actor: Actor::Kernel,
            space: SpaceId::System,
            va: Va::new(0xFFFF_B000_0000_0000 + offset as u64),
            pfn: Pfn::new(pfn),
            offset,
            len,
            write: false,
            labels: Vec::new(),
        }
    }

    #[test]
    fn overlapping_reads_at_two_steps_of_a_writable_frame_are_a_double_fetch() {
        let w: BTreeSet<Pfn> = [Pfn::new(7)].into();
        let log = [read(3, 7, 0, 16), read(5, 7, 8, 4)];
        let p = find(&log, (1, 9), &w).unwrap();
        assert_eq!((p.offset, p.first, p.second), (8, 3, 5));
    }

    #[test]
    fn one_read_per_byte_or_a_kernel_only_frame_is_not() {
        let w: BTreeSet<Pfn> = [Pfn::new(7)].into();
        assert!(find(&[read(3, 7, 0, 8), read(5, 7, 8, 8)], (1, 9), &w).is_none());
        assert!(find(&[read(3, 8, 0, 8), read(5, 8, 0, 8)], (1, 9), &w).is_none());
        assert!(find(&[read(3, 7, 0, 8), read(12, 7, 0, 8)], (1, 9), &w).is_none());
    }
}
