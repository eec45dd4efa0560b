//! The generated search on every core: a campaign's case `i` is generated from the seed
//! and `i` alone ([`Campaign::tree`]), worker threads take the shard's cases in index
//! order from one counter, and the search's result is the lowest failing index (workers
//! stop taking cases past it; every lower case was taken, so runs to its end). The
//! result therefore depends on neither the number of threads nor their timing.

use super::generators::arb_case;
use super::{Case, Config, Coverage, Shard, case};
use crate::strategy::ProxyStrategy;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

/// The cases one run plays: the seed's campaign, sliced by the shard.
#[derive(Clone, Copy, Debug)]
pub(super) struct Campaign {
    /// The generator's seed.
    pub seed: u64,
    /// The slice (1/1: all of it).
    pub shard: Shard,
    /// Cases in the slice.
    pub len: u32,
}

impl Campaign {
    /// The campaign `cfg` (effective: seed chosen) describes, or why its shard is invalid.
    pub fn of(cfg: &Config) -> Result<Campaign, String> {
        let shard = cfg.shard.unwrap_or(Shard { index: 1, count: 1 });
        shard
            .check()
            .map_err(|why| format!("shard {shard}: {why}"))?;
        Ok(Campaign {
            seed: cfg.seed.unwrap_or_default(),
            shard,
            len: shard.len(cfg.cases),
        })
    }

    /// A runner for [`Campaign::tree`] and `run_one`, shrinking at most `shrink_iters`
    /// steps (proptest's own settings otherwise, as `verify` has always used).
    pub fn runner(&self, shrink_iters: u32) -> TestRunner {
        let mut pc = proptest::test_runner::Config::with_cases(1);
        pc.failure_persistence = None;
        pc.max_shrink_iters = shrink_iters;
        TestRunner::new_with_rng(pc, case_rng(self.seed, 0))
    }

    /// The value tree of campaign case `i` (its current value is the case; shrinking it
    /// is proptest's): from the seed and `i` alone.
    pub fn tree<T: Strategy<Value = Case>>(
        &self,
        arb: &T,
        runner: &mut TestRunner,
        i: u32,
    ) -> Result<T::Tree, String> {
        *runner.rng() = case_rng(self.seed, i);
        arb.new_tree(runner).map_err(|why| why.to_string())
    }
}

/// The generator of campaign case `i`: ChaCha keyed by the seed and `i`.
pub(crate) fn case_rng(seed: u64, i: u32) -> TestRng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..12].copy_from_slice(&i.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &key)
}

/// How the parallel search ended.
pub(super) enum Searched {
    /// Every case passed: what they reached.
    Passed(Coverage),
    /// The lowest failing position in the shard (a case failed, panicked, or could not be
    /// generated).
    Failed(u32),
    /// A worker thread died outside a case (its cases are unknown).
    Lost,
}

/// Plays the campaign's cases on `cfg.threads` threads (the calling one included).
pub(super) fn search<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    cfg: &Config,
    camp: &Campaign,
) -> Searched {
    let next = AtomicU64::new(0);
    let first = AtomicU64::new(u64::MAX);
    let workers = cfg.threads.clamp(1, camp.len.max(1) as usize);
    let mut cov = Coverage::default();
    let mut lost = false;
    std::thread::scope(|sc| {
        let (next, first) = (&next, &first);
        // A clone that panics, or a thread the system refuses, is one worker fewer.
        let handles: Vec<_> = (1..workers)
            .filter_map(|_| catch_unwind(AssertUnwindSafe(|| strategy.clone())).ok())
            .filter_map(|s| {
                std::thread::Builder::new()
                    .name("mdlsim-verify".into())
                    .spawn_scoped(sc, move || worker(&s, cfg, camp, next, first))
                    .ok()
            })
            .collect();
        cov = worker(strategy, cfg, camp, next, first);
        for h in handles {
            match h.join() {
                Ok(c) => cov.merge(c),
                Err(_) => lost = true,
            }
        }
    });
    match u32::try_from(first.into_inner()) {
        Ok(j) => Searched::Failed(j),
        Err(_) if lost => Searched::Lost,
        Err(_) => Searched::Passed(cov),
    }
}

/// One worker: takes positions in the shard until they run out or pass the lowest
/// failure found so far; the coverage of the cases it played.
fn worker<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    cfg: &Config,
    camp: &Campaign,
    next: &AtomicU64,
    first: &AtomicU64,
) -> Coverage {
    let arb = arb_case(cfg);
    let mut runner = camp.runner(0);
    let mut cov = Coverage::default();
    loop {
        let j = next.fetch_add(1, Ordering::Relaxed);
        if j >= u64::from(camp.len) || j > first.load(Ordering::Relaxed) {
            return cov;
        }
        let i = camp.shard.case_index(j as u32);
        let passed = camp.tree(&arb, &mut runner, i).is_ok_and(|tree| {
            let case = tree.current();
            // proptest's runner: a panic is a failure, without its message on stderr.
            let ok = runner.run_one(tree, |c| check(strategy, cfg, &c));
            ok.is_ok().then(|| cov.add(&case)).is_some()
        });
        if !passed {
            first.fetch_min(j, Ordering::Relaxed);
        }
    }
}

/// Plays `case` (quiet) on a fresh clone of `strategy`: a proptest failure naming the
/// classes when it fails under `cfg`.
fn check<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    cfg: &Config,
    case: &Case,
) -> Result<(), TestCaseError> {
    let run = case::run_case_quiet(&mut strategy.clone(), case, &cfg.machine);
    failure(cfg.fails(&run.findings), &run.findings)
}

/// proptest's verdict on a case: a failure naming the classes of `findings` if `failed`.
pub(super) fn failure(
    failed: bool,
    findings: &[crate::oracle::Finding],
) -> Result<(), TestCaseError> {
    if !failed {
        return Ok(());
    }
    let kinds: Vec<String> = findings.iter().map(|f| f.kind.to_string()).collect();
    Err(TestCaseError::fail(kinds.join(", ")))
}
