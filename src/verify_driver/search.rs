//! The search: cases generated from the seed and their index alone (as `verify`'s), played
//! on every core, the lowest failing one shrunk on this thread and proved (a double
//! fetch replayed with the byte rewritten in between).

use super::case::{Buffer, DriverCase, Hostile, MAX_INPUT_WORDS, Place, Request};
use super::counterexample::DriverCounterexample;
use super::rules::Refetch;
use super::run::{DriverRun, run_case, run_with};
use super::{DriverReport, DriverUnderTest};
use crate::addr::PAGE_SIZE;
use crate::verify::Config;
use crate::verify::parallel::case_rng;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use std::sync::atomic::{AtomicU64, Ordering};

/// The length the harness treats as expected for a READ or WRITE.
const RW_EXPECTED: u32 = 0x200;

/// Cases for `dut`: one of its requests, two buffers, a hostile action, a seed. Each
/// choice shrinks towards the benign (the expected length in read-write memory, no
/// hostile action), so a shrunk case keeps only what makes it fail.
pub fn arb_case(dut: &DriverUnderTest) -> impl Strategy<Value = DriverCase> + use<> {
    let requests = dut.requests.clone();
    let n = requests.len().clamp(1, 256);
    (0..n).prop_flat_map(move |r| {
        let (ein, eout) = requests.get(r).map_or((RW_EXPECTED, RW_EXPECTED), expected);
        let words = proptest::collection::vec(arb_word(), 0..=MAX_INPUT_WORDS);
        (
            arb_buffer(ein),
            arb_buffer(eout),
            words,
            arb_hostile(),
            any::<u8>(),
        )
            .prop_map(
                move |(input, output, input_words, hostile, seed)| DriverCase {
                    request: r as u8,
                    input,
                    output,
                    hostile,
                    input_words,
                    seed,
                },
            )
    })
}

fn arb_buffer(expected: u32) -> impl Strategy<Value = Buffer> {
    let place = prop_oneof![
        8 => Just(Place::User),
        1 => Just(Place::Null),
        1 => Just(Place::ReadOnly),
        1 => Just(Place::Unmapped),
        2 => Just(Place::Kernel),
        1 => Just(Place::TopOfUserSpace),
    ];
    let page = PAGE_SIZE as u32;
    let offset = prop_oneof![Just(0u32), 0..page, Just(page - 1), Just(8u32)];
    let length = prop_oneof![
        4 => Just(expected),
        2 => Just(0u32),
        1 => Just(1u32),
        1 => Just(expected.saturating_sub(1)),
        1 => Just(expected.saturating_add(1)),
        2 => 0..=4 * page,
        1 => Just(u32::MAX),
    ];
    (place, offset, length).prop_map(|(place, offset, length)| Buffer {
        place,
        offset,
        length,
    })
}

/// A word of an input structure: small (a length, a count, an index), a boundary
/// value, or anything.
fn arb_word() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => 0..=16u32,
        1 => prop_oneof![
            Just(0x7FFF_FFFFu32),
            Just(0x8000_0000),
            Just(0xFFFF_FFFF),
            Just(0x1000),
            Just(0x10000),
        ],
        1 => any::<u32>(),
    ]
}

fn arb_hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        6 => Just(Hostile::None),
        1 => Just(Hostile::FreeBuffers),
        1 => Just(Hostile::Cancel),
        1 => Just(Hostile::Exit),
        1 => Just(Hostile::PoolExhausted),
        1 => Just(Hostile::PtesExhausted),
        1 => Just(Hostile::FreeWhileDispatching),
    ]
}

/// The generated cases a [`verify`] run of `dut` with `config` plays after the edge sweep
/// ([`edge_cases`]), with their indices (with a shard, only its slice). Fix the seed to
/// list a run's cases.
///
/// # Errors
/// As [`Config::validate`].
pub fn generated_cases(
    dut: &DriverUnderTest,
    config: &Config,
) -> Result<Vec<(u32, DriverCase)>, String> {
    config.validate()?;
    let cfg = config.effective();
    let arb = arb_case(dut);
    let mut runner = runner(0, 0);
    Ok(indices(&cfg)
        .filter_map(|i| Some((i, tree(&arb, &mut runner, cfg.seed?, i)?.current())))
        .collect())
}

/// Plays `config.cases` generated cases of `dut` (with a shard, its slice) on
/// `config.threads` threads. The same seed and configuration give the same result,
/// whatever the number of threads. The proxy-specific fields of [`Config`] (directions,
/// servers, faults, maximum length, regressions file) do not apply.
///
/// # Errors
/// The failing case of lowest index, shrunk, as a [`DriverCounterexample`] (a
/// configuration [`Config::validate`] rejects, or a driver that declares no request, is
/// one with no case, saying why).
// Returned once per run, and users match on its fields: not boxed.
#[allow(clippy::result_large_err)]
pub fn verify(
    dut: &DriverUnderTest,
    config: &Config,
) -> Result<DriverReport, DriverCounterexample> {
    let cfg = config.effective();
    let seed = cfg.seed.unwrap_or_default();
    if let Err(why) = config.validate() {
        return Err(DriverCounterexample::aborted(dut, seed, why));
    }
    if dut.requests.is_empty() {
        return Err(DriverCounterexample::aborted(
            dut,
            seed,
            "the driver declares no request".into(),
        ));
    }
    let edges = edge_cases(dut);
    if let Some(case) = edges
        .iter()
        .find(|c| fails(&cfg, &run_case(dut, c, &cfg.machine, false)))
    {
        let mut cx = explain(dut, &cfg, seed, None, case.clone());
        cx.edge_sweep = true;
        return Err(cx);
    }
    let all: Vec<u32> = indices(&cfg).collect();
    match search(dut, &cfg, seed, &all) {
        None => Ok(DriverReport {
            driver: dut.name.clone(),
            cases: all.len() as u32,
            edge_cases: edges.len() as u32,
            seed,
        }),
        Some(i) => Err(shrink(dut, &cfg, seed, i)),
    }
}

/// The edge sweep every run plays first, per request: the expected lengths in
/// read-write memory, with a small first input word (a structure's length or count);
/// each length 0, 1, one less, one more, several pages; both buffers at the end of a page;
/// each buffer in
/// each other place; each hostile action. Each is already minimal, so a failure here is
/// reported as is: a short campaign still meets every edge.
pub fn edge_cases(dut: &DriverUnderTest) -> Vec<DriverCase> {
    let mut out = Vec::new();
    let page = PAGE_SIZE as u32;
    for (r, req) in dut.requests.iter().enumerate().take(256) {
        let (ein, eout) = expected(req);
        let base = DriverCase {
            request: r as u8,
            input: Buffer::user(0, ein),
            output: Buffer::user(0, eout),
            hostile: Hostile::None,
            input_words: Vec::new(),
            seed: 0,
        };
        let small = DriverCase {
            input_words: vec![1, 0, 0, 0],
            ..base.clone()
        };
        let mut with = |f: &dyn Fn(&mut DriverCase)| {
            let mut c = small.clone();
            f(&mut c);
            out.push(c);
        };
        with(&|_| {});
        with(&|c| c.input_words.clear());
        for (i, o) in [(Some(0), None), (None, Some(0)), (Some(0), Some(0))] {
            with(&|c| {
                c.input.length = i.unwrap_or(c.input.length);
                c.output.length = o.unwrap_or(c.output.length);
            });
        }
        with(&|c| c.input.length = 1);
        with(&|c| c.output.length = 1);
        for d in [-1i64, 1] {
            with(&|c| c.input.length = (ein as i64 + d).clamp(0, u32::MAX as i64) as u32);
            with(&|c| c.output.length = (eout as i64 + d).clamp(0, u32::MAX as i64) as u32);
        }
        with(&|c| {
            c.input.offset = page - 1;
            c.output.offset = page - 1;
        });
        // Several pages, not a multiple of one (a read past the end of a file is short).
        with(&|c| c.input.length = 3 * page + 5);
        with(&|c| c.output.length = 3 * page + 5);
        for p in Place::ALL.into_iter().skip(1) {
            with(&|c| c.input.place = p);
            with(&|c| c.output.place = p);
        }
        for h in Hostile::ALL.into_iter().skip(1) {
            with(&|c| c.hostile = h);
        }
        // The seed picks the touch the release precedes: the first four.
        for seed in 1..4 {
            with(&|c| {
                c.hostile = Hostile::FreeWhileDispatching;
                c.seed = seed;
            });
        }
    }
    out
}

/// The lengths the harness treats as expected for `req`: (input, output).
fn expected(req: &Request) -> (u32, u32) {
    match req {
        Request::Ioctl { input, output, .. } => (*input, *output),
        Request::NotifyDirectory { length } => (0, *length),
        Request::Read | Request::Write => (RW_EXPECTED, RW_EXPECTED),
    }
}

/// The campaign indices of the configuration's shard.
fn indices(cfg: &Config) -> impl Iterator<Item = u32> + use<> {
    let shard = cfg.shard;
    (0..cfg.cases).filter(move |&i| shard.is_none_or(|s| s.contains(i)))
}

fn runner(shrink_iters: u32, seed: u64) -> TestRunner {
    let mut pc = proptest::test_runner::Config::with_cases(1);
    pc.failure_persistence = None;
    pc.max_shrink_iters = shrink_iters;
    TestRunner::new_with_rng(pc, case_rng(seed, 0))
}

fn tree<S: Strategy<Value = DriverCase>>(
    arb: &S,
    runner: &mut TestRunner,
    seed: u64,
    i: u32,
) -> Option<S::Tree> {
    *runner.rng() = case_rng(seed, i);
    arb.new_tree(runner).ok()
}

/// The lowest failing campaign index, or `None`: workers take indices in order from one
/// counter and stop past the lowest failure found, so every lower index was played.
fn search(dut: &DriverUnderTest, cfg: &Config, seed: u64, all: &[u32]) -> Option<u32> {
    let next = AtomicU64::new(0);
    let first = AtomicU64::new(u64::MAX);
    let workers = cfg.threads.clamp(1, all.len().max(1));
    let work = || {
        let arb = arb_case(dut);
        let mut runner = runner(0, seed);
        loop {
            let j = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = all.get(j as usize) else { break };
            if i as u64 > first.load(Ordering::Relaxed) {
                break;
            }
            let failed = match tree(&arb, &mut runner, seed, i) {
                Some(t) => fails(cfg, &run_case(dut, &t.current(), &cfg.machine, false)),
                None => true,
            };
            if failed {
                first.fetch_min(i as u64, Ordering::Relaxed);
            }
        }
    };
    std::thread::scope(|sc| {
        for _ in 1..workers {
            let _ = std::thread::Builder::new()
                .name("mdlsim-verify-driver".into())
                .spawn_scoped(sc, work);
        }
        work();
    });
    match first.into_inner() {
        u64::MAX => None,
        i => Some(i as u32),
    }
}

fn fails(cfg: &Config, run: &DriverRun) -> bool {
    cfg.fails(&run.findings)
}

/// Case `i` shrunk by proptest, replayed with the DDI calls recorded, and proved.
fn shrink(dut: &DriverUnderTest, cfg: &Config, seed: u64, i: u32) -> DriverCounterexample {
    let arb = arb_case(dut);
    let mut runner = runner(cfg.max_shrink_iters, seed);
    let Some(t) = tree(&arb, &mut runner, seed, i) else {
        return DriverCounterexample::aborted(
            dut,
            seed,
            format!("case {i} could not be generated"),
        );
    };
    let first = t.current();
    let result = runner.run_one(t, |case| {
        let run = run_case(dut, &case, &cfg.machine, false);
        if fails(cfg, &run) {
            Err(TestCaseError::fail("fails"))
        } else {
            Ok(())
        }
    });
    let case = match result {
        Err(TestError::Fail(_, c)) => c,
        _ => first,
    };
    explain(dut, cfg, seed, Some(i), case)
}

/// The counter-example of a failing `case`: replayed with the DDI calls recorded, and a
/// double fetch proved.
fn explain(
    dut: &DriverUnderTest,
    cfg: &Config,
    seed: u64,
    index: Option<u32>,
    case: DriverCase,
) -> DriverCounterexample {
    let run = run_case(dut, &case, &cfg.machine, true);
    let proof = run.refetch.map(|r| prove(dut, &case, cfg, &run, r));
    DriverCounterexample::new(dut, seed, index, case, run, proof)
}

/// The double fetch replayed with the app's second thread rewriting the byte between
/// the two fetches, against the same rewrite made before the first fetch (both
/// fetches then see the new value): the race matters when its outcome is neither the
/// old value's nor the new one's ([semantics §5.8]).
///
/// [semantics §5.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.8
fn prove(
    dut: &DriverUnderTest,
    case: &DriverCase,
    cfg: &Config,
    run: &DriverRun,
    r: Refetch,
) -> String {
    let rewritten_before =
        |step: u64| run_with(dut, case, &cfg.machine, false, Some((step, r.va, r.other)));
    let racy = rewritten_before(r.second);
    let consistent = rewritten_before(r.first);
    let said = |r: &DriverRun| {
        format!(
            "returned {}, IoStatus {}",
            r.returned.map_or("nothing".into(), |s| s.to_string()),
            r.io_status
                .map_or("none".into(), |(s, i)| format!("{s} Information {i:#x}"))
        )
    };
    let new: Vec<String> = racy
        .findings
        .iter()
        .filter(|f| {
            !run.findings.iter().any(|g| g.kind == f.kind)
                && !consistent.findings.iter().any(|g| g.kind == f.kind)
        })
        .map(|f| f.kind.to_string())
        .collect();
    let differs = |a: &DriverRun| {
        racy.returned != a.returned || racy.io_status != a.io_status || racy.output != a.output
    };
    let changed = (differs(run) && differs(&consistent)) || !new.is_empty();
    format!(
        "the app's second thread writes {:#04x} at {} just before step {}: {} (old value: {}; new value from the start: {}; raced: {}{})",
        r.other,
        r.va,
        r.second,
        if changed {
            "the outcome is one neither value gives"
        } else {
            "the outcome is one a consistent value gives this time, but the driver used bytes it did not capture"
        },
        said(run),
        said(&consistent),
        said(&racy),
        if new.is_empty() {
            String::new()
        } else {
            format!("; new findings: {}", new.join(", "))
        }
    )
}
