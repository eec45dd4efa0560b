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
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// The first double fetch among the kernel reads of `log` in `window` on frames that
/// `writable` accepts: the pair whose second read has the smallest step. Linear in the
/// bytes read (a sweep in step order keeps each byte's first read), so a driver that
/// reads a buffer byte by byte (native code's traced loads) costs no more than one that
/// copies it at once; ties are broken as a pairwise search in log order would.
fn find_where(
    log: &[Access],
    window: (u64, u64),
    writable: impl Fn(Pfn) -> bool,
) -> Option<FetchPair> {
    let mut reads: Vec<&Access> = log
        .iter()
        .filter(|r| {
            r.actor == Actor::Kernel
                && !r.write
                && r.step >= window.0
                && r.step <= window.1
                && writable(r.pfn)
        })
        .collect();
    if !reads.is_sorted_by_key(|r| r.step) {
        reads.sort_by_key(|r| r.step);
    }
    let second = first_refetch_step(&reads)?;
    let mut per: BTreeMap<Pfn, Vec<&Access>> = BTreeMap::new();
    for r in reads.iter().filter(|r| r.step <= second) {
        per.entry(r.pfn).or_default().push(r);
    }
    per.into_iter().find_map(|(pfn, rs)| {
        let (earlier, at): (Vec<&Access>, Vec<&Access>) =
            rs.into_iter().partition(|r| r.step < second);
        earlier.iter().find_map(|a| {
            at.iter().find_map(|b| {
                let lo = a.offset.max(b.offset);
                let hi = (a.offset + a.len).min(b.offset + b.len);
                (lo < hi).then(|| FetchPair {
                    pfn,
                    offset: lo,
                    first: a.step,
                    second,
                    va: a.va.wrapping_add((lo - a.offset) as u64),
                })
            })
        })
    })
}

/// The smallest step at which some byte is read a second time (at a later step than its
/// first read), over `reads` in step order.
fn first_refetch_step(reads: &[&Access]) -> Option<u64> {
    const NONE: u64 = u64::MAX;
    let mut first: HashMap<Pfn, Vec<u64>> = HashMap::new();
    for r in reads {
        let steps = first
            .entry(r.pfn)
            .or_insert_with(|| vec![NONE; crate::addr::PAGE_BYTES]);
        let (lo, len) = (usize::from(r.offset), usize::from(r.len));
        for s in steps.iter_mut().skip(lo).take(len) {
            if *s == NONE {
                *s = r.step;
            } else if *s < r.step {
                return Some(r.step);
            }
        }
    }
    None
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

    #[test]
    fn the_earliest_second_read_wins_and_ties_go_to_the_first_read_in_log_order() {
        let w: BTreeSet<Pfn> = [Pfn::new(7), Pfn::new(9)].into();
        // Step 5 reads byte 1 of frame 9 and byte 0 of frame 7 again: the lower frame
        // wins, as a search frame by frame would find it; step 6 is later.
        let log = [
            read(1, 7, 0, 1),
            read(2, 9, 0, 4),
            read(3, 9, 4, 4),
            read(5, 9, 1, 1),
            read(5, 7, 0, 1),
            read(6, 9, 4, 1),
        ];
        let p = find(&log, (1, 9), &w).unwrap();
        assert_eq!((p.pfn, p.offset, p.first, p.second), (Pfn::new(7), 0, 1, 5));
        let p = find(&log[1..], (1, 9), &w).unwrap();
        assert_eq!((p.pfn, p.offset, p.first, p.second), (Pfn::new(9), 1, 2, 5));
    }

    #[test]
    fn only_overlapping_bytes_pair_and_the_address_is_the_first_reads_own() {
        let w: BTreeSet<Pfn> = [Pfn::new(7)].into();
        // Step 3 reads bytes 4..9: the read of 0..4 only touches it, the read of 8..12
        // shares byte 8, named at the address the read of 8..12 used for it.
        let log = [read(1, 7, 0, 4), read(2, 7, 8, 4), read(3, 7, 4, 5)];
        let p = find(&log, (1, 9), &w).unwrap();
        assert_eq!((p.offset, p.first, p.second), (8, 2, 3));
        assert_eq!(p.va, log[1].va);
    }

    #[test]
    fn two_reads_of_a_byte_at_one_step_are_one_fetch() {
        let w: BTreeSet<Pfn> = [Pfn::new(7)].into();
        let log = [read(3, 7, 0, 8), read(3, 7, 4, 8), read(5, 7, 0, 1)];
        assert!(find(&log[..2], (1, 9), &w).is_none());
        assert!(!any_refetch(&log[..2], (1, 9)));
        // And it does not hide the refetch at a later step.
        let p = find(&log, (1, 9), &w).unwrap();
        assert_eq!((p.offset, p.first, p.second), (0, 3, 5));
    }

    #[test]
    fn a_log_out_of_step_order_is_read_in_step_order() {
        let w: BTreeSet<Pfn> = [Pfn::new(7)].into();
        let log = [read(5, 7, 0, 4), read(3, 7, 0, 4)];
        let p = find(&log, (1, 9), &w).unwrap();
        assert_eq!((p.first, p.second), (3, 5));
    }

    #[test]
    fn any_refetch_is_a_refetch_on_any_frame_in_the_window() {
        let log = [read(3, 8, 0, 8), read(5, 8, 7, 1)];
        assert!(any_refetch(&log, (1, 9)));
        assert!(!any_refetch(&log, (4, 9)));
        assert!(!any_refetch(&[read(3, 8, 0, 8), read(5, 8, 8, 8)], (1, 9)));
    }

    #[test]
    fn a_byte_loop_over_a_page_read_twice_is_found_at_the_second_pass() {
        let w: BTreeSet<Pfn> = [Pfn::new(7)].into();
        let log: Vec<Access> = (0..2u64)
            .flat_map(|pass| (0..4096u64).map(move |b| read(1 + pass * 4096 + b, 7, b as u16, 1)))
            .collect();
        let p = find(&log, (0, u64::MAX), &w).unwrap();
        assert_eq!((p.offset, p.first, p.second), (0, 1, 4097));
        assert!(find(&log[..4096], (0, u64::MAX), &w).is_none());
    }
}
