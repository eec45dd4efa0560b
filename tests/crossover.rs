//! `mdlsim::workload::crossover`: the cost model's crossover size of a user's strategy
//! against a built-in (docs/guide/05-benchmarks.md).

use mdlsim::cost::{CostModel, Temperature};
use mdlsim::strategy::{BounceCopy, CopySmallMapLarge, Direction, HeadTailSplice};
use mdlsim::workload::{crossover, crossover_sizes};

#[test]
fn crossover_sizes_run_from_a_page_to_31_mib() {
    let s = crossover_sizes();
    assert_eq!(s.first(), Some(&4096));
    assert_eq!(s.last(), Some(&(31 << 20)));
    assert!(s.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_splice_beats_a_bounce_cold_and_never_the_other_way() {
    let m = CostModel::default();
    let (splice, bounce) = (HeadTailSplice::default(), BounceCopy::default());
    for d in [Direction::Read, Direction::Write] {
        let x = crossover(&splice, &bounce, d, 0, &m, Temperature::Cold).unwrap();
        assert!(
            x.is_some_and(|s| (4096..=1 << 20).contains(&s)),
            "{d:?}: {x:?}"
        );
        // Copying never beats mapping once mapping has won, for every size after.
        let back = crossover(&bounce, &splice, d, 0, &m, Temperature::Cold).unwrap();
        assert!(back.is_none_or(|b| b < x.unwrap()), "{d:?}: {back:?}");
    }
}

/// A strategy that copies up to a threshold and maps above it wins over a bounce from
/// just past its threshold (WRITE: the READ map path costs it more than the copy saves,
/// docs/performance.md): the crossover follows the threshold.
#[test]
fn the_crossover_follows_a_copy_threshold() {
    let (m, bounce) = (CostModel::default(), BounceCopy::default());
    for (threshold, lo, hi) in [
        (64u64 << 10, 64 << 10, 128 << 10),
        (1 << 20, 1 << 20, 2 << 20),
    ] {
        let s = CopySmallMapLarge::with_threshold(threshold);
        let x = crossover(&s, &bounce, Direction::Write, 0, &m, Temperature::Cold).unwrap();
        assert!(x.is_some_and(|x| x > lo && x <= hi), "{threshold}: {x:?}");
    }
}
