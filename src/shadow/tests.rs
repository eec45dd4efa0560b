//! Unit tests of the frame labels: both representations against a per-byte model.

use super::*;
use crate::ids::Pid;

fn origin(pid: u32, va: u64) -> Label {
    Label::Origin {
        space: SpaceId::Process(Pid(pid)),
        va: Va(va),
    }
}

fn check_invariant(f: &FrameLabels) {
    let runs = f.runs();
    assert_eq!(runs[0].start, 0);
    for w in runs.windows(2) {
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

/// xorshift64: the tests' deterministic random numbers.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Checks every byte of `f` against the per-byte `model`, through `label_at`, `spans` and
/// `runs`.
fn check_against(f: &FrameLabels, model: &[Label], what: &str) {
    check_invariant(f);
    for (i, l) in model.iter().enumerate() {
        assert_eq!(f.label_at(i), *l, "{what}: byte {i}");
    }
    let mut spans = Vec::new();
    f.spans(0, PAGE_BYTES, &mut spans);
    let mut i = 0;
    for s in &spans {
        for j in 0..s.len {
            assert_eq!(s.label.advance(j), model[i], "{what}: span byte {i}");
            i += 1;
        }
    }
    assert_eq!(i, PAGE_BYTES);
}

/// Byte-level edits among `origins` distinct origins, mixed with longer writes and
/// whole-frame splices: every byte agrees with a per-byte model whichever representation
/// the frame is in, and the frame goes dense (few origins) or stays runs (more than 256
/// bases) as documented.
fn byte_level_edits_match_a_per_byte_model(origins: u64, seed: u64) -> (bool, bool) {
    let mut x = seed;
    let mut f = FrameLabels::zero();
    let mut model = vec![Label::Zero; PAGE_BYTES];
    let (mut was_dense, mut was_runs_when_fragmented) = (false, false);
    for round in 0..6000 {
        let r = next(&mut x);
        let o = r % origins;
        let label = origin((o % 3) as u32, 0x10_0000 * o + (r >> 40) % 64);
        let (off, len) = match r >> 56 {
            0 => (0, PAGE_BYTES),
            1..=12 => {
                let off = ((r >> 20) % PAGE_BYTES as u64) as usize;
                (off, ((r >> 32) as usize % 300 + 1).min(PAGE_BYTES - off))
            }
            _ => (((r >> 20) % PAGE_BYTES as u64) as usize, 1),
        };
        if off == 0 && len == PAGE_BYTES && r & 1 == 0 {
            // A whole-frame splice of a few spans (a page copy from a simple frame).
            let spans = [
                LabelSpan { len: 100, label },
                LabelSpan {
                    len: PAGE_BYTES as u64 - 100,
                    label: Label::Zero,
                },
            ];
            f.splice(0, PAGE_BYTES, &spans);
            for (i, m) in model.iter_mut().enumerate() {
                *m = if i < 100 {
                    label.advance(i as u64)
                } else {
                    Label::Zero
                };
            }
            assert!(!f.is_dense(), "a whole-frame splice of two spans is runs");
        } else {
            f.set(off, len, label);
            for i in 0..len {
                model[off + i] = label.advance(i as u64);
            }
        }
        was_dense |= f.is_dense();
        was_runs_when_fragmented |= !f.is_dense() && f.runs().len() > DENSE_AT;
        if round % 500 == 499 {
            check_against(&f, &model, &format!("{origins} origins, round {round}"));
        }
    }
    check_against(&f, &model, &format!("{origins} origins, end"));
    (was_dense, was_runs_when_fragmented)
}

#[test]
fn a_frame_of_few_interleaved_origins_goes_dense_and_agrees_byte_for_byte() {
    for (origins, seed) in [(2, 1), (5, 2), (40, 3)] {
        let (dense, _) = byte_level_edits_match_a_per_byte_model(origins, seed);
        assert!(dense, "{origins} origins never went dense");
    }
}

#[test]
fn a_frame_of_more_than_256_bases_stays_runs_and_agrees_byte_for_byte() {
    // 64 offsets × 2000 origins: far more than 256 bases.
    let (_, runs) = byte_level_edits_match_a_per_byte_model(2000, 4);
    assert!(
        runs,
        "a fragmented frame of many bases was never held as runs"
    );
}

/// Copying a dense frame's labels (spans, then a splice, as `copy_as` does) gives a dense
/// frame with the same labels; equality does not depend on the representation.
#[test]
fn copies_of_a_dense_frame_compare_equal_to_the_same_labels_as_runs() {
    let mut f = FrameLabels::zero();
    for off in 0..PAGE_BYTES {
        let l = if off % 2 == 0 {
            origin(1, 0x1000)
        } else {
            origin(2, 0x9000)
        };
        f.set(off, 1, l.advance(off as u64));
    }
    assert!(f.is_dense());
    let mut spans = Vec::new();
    f.spans(0, PAGE_BYTES, &mut spans);
    assert_eq!(spans.len(), PAGE_BYTES);
    let mut g = FrameLabels::zero();
    g.splice(0, PAGE_BYTES, &spans);
    assert!(g.is_dense());
    assert_eq!(f, g);
    // The same labels built as runs: equal, though one is dense.
    let runs = FrameLabels {
        repr: Repr::Runs(f.runs().into_owned()),
    };
    assert!(!runs.is_dense());
    assert_eq!(runs, f);
    // One byte different: not equal.
    g.set(7, 1, Label::Zero);
    assert_ne!(f, g);
    assert!(f.heap_bytes() < PAGE_BYTES + 256, "{}", f.heap_bytes());
}

/// Hysteresis: a dense frame stays dense through partial writes, even ones that leave it
/// few runs (at offset 0 too); only a whole-frame splice of at most `RUNS_AT` spans turns
/// it back to runs. A frame does not flip between the two on every small write.
#[test]
fn a_dense_frame_turns_back_to_runs_only_on_a_whole_frame_splice() {
    let mut f = FrameLabels::zero();
    for off in 0..300 {
        let l = if off % 2 == 0 {
            origin(1, 0x1000)
        } else {
            origin(2, 0x9000)
        };
        f.set(off, 1, l.advance(off as u64));
    }
    assert!(f.is_dense(), "{} runs", f.runs().len());
    // Leaves about 100 runs, through a partial write at offset 0 and one elsewhere.
    f.set(0, 200, origin(3, 0x5000));
    f.set(250, 3000, origin(3, 0x7000));
    assert!(f.runs().len() < RUNS_AT * 2, "{} runs", f.runs().len());
    assert!(
        f.is_dense(),
        "a partial write turned a dense frame back to runs"
    );
    let spans = [LabelSpan {
        len: PAGE_BYTES as u64,
        label: origin(4, 0),
    }];
    f.splice(0, PAGE_BYTES, &spans);
    assert!(!f.is_dense());
    assert_eq!(f.runs().len(), 1);
}

/// The threshold is exact: a frame of `DENSE_AT` runs stays runs, one more run makes it
/// dense.
#[test]
fn a_frame_goes_dense_past_exactly_dense_at_runs() {
    let mut f = FrameLabels::zero();
    let alternate = |off: usize| {
        let l = if off % 2 == 0 {
            origin(1, 0x1000)
        } else {
            origin(2, 0x9000)
        };
        l.advance(off as u64)
    };
    // DENSE_AT - 1 alternating bytes and the zero tail: DENSE_AT runs.
    for off in 0..DENSE_AT - 1 {
        f.set(off, 1, alternate(off));
    }
    assert_eq!(f.runs().len(), DENSE_AT);
    assert!(!f.is_dense());
    f.set(DENSE_AT - 1, 1, alternate(DENSE_AT - 1));
    assert_eq!(f.runs().len(), DENSE_AT + 1);
    assert!(f.is_dense());
}
