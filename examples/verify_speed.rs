//! Cases per second of the harness on one core, by CPU time (issue 17's first two
//! targets: requests ≤ 4 KiB and ≤ 64 KiB).
//!
//! Criterion measures wall time, which other processes on a shared machine inflate; this
//! divides by this thread's own CPU time (`/proc/thread-self/stat`, utime + stime).
//! Single-threaded, so CPU time is one core's time.
//!
//! For each bound it plays **uniformly random** cases — length uniform in `0..=bound`,
//! page offset uniform in `0..4096`, direction, server behaviour and injected fault
//! uniform over all of them, from a fixed seed — through `run_case` (BounceCopy and
//! HeadTailSplice), then a whole `verify` run of BounceCopy with the same bound (its own
//! generator: proptest's, with its edge-biased lengths). Every case is a fresh one: no
//! cycling over a small fixed set, whose mean length flatters the figure.
//!
//! Run: `cargo run --release --example verify_speed [CASES] [verify]` (default 20000 per
//! figure; `verify` plays only the `verify` runs, for a profile of the search loop alone).

use mdlsim::strategy::{BounceCopy, HeadTailSplice, ProxyStrategyClone};
use mdlsim::verify::{self, run_case};
use std::time::Instant;

mod support;

/// Cases/s by CPU time and by wall time of `f` over `n` cases.
fn rate(n: usize, f: impl FnOnce()) -> (f64, f64) {
    let (c0, w0) = (support::thread_cpu_seconds(), Instant::now());
    f();
    let wall = w0.elapsed().as_secs_f64();
    let cpu = support::thread_cpu_seconds()
        .zip(c0)
        .map(|(a, b)| a - b)
        .unwrap_or(wall);
    (n as f64 / cpu, n as f64 / wall)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let only_verify = std::env::args().nth(2).as_deref() == Some("verify");
    let machine = mdlsim::Config::default();
    let strategies: Vec<Box<dyn ProxyStrategyClone>> = vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
    ];
    for bound in [4u32 << 10, 64 << 10] {
        let list = support::random_cases(n, bound, 0x9E37_79B9_7F4A_7C15 ^ bound as u64);
        let mean = list.iter().map(|c| c.length as f64).sum::<f64>() / n as f64;
        println!(
            "requests <= {} KiB (uniform; mean {mean:.0} bytes)",
            bound >> 10
        );
        for s in strategies.iter().filter(|_| !only_verify) {
            let (cpu, wall) = rate(n, || {
                for case in &list {
                    let mut st = s.clone();
                    let run = run_case(&mut st, case, &machine, None);
                    assert!(run.findings.is_empty(), "{}: {:?}", s.name(), run.findings);
                }
            });
            println!(
                "  run_case {:<16} {n} cases: {cpu:>8.0} cases/s by CPU time, {wall:>8.0} by wall time",
                s.name()
            );
        }
        let cfg = verify::Config::default()
            .cases(n as u32)
            .max_length(bound)
            .seed(7)
            .ignore_env()
            .threads(1); // this thread's CPU time is the whole run's (examples/verify_threads: several)
        let (cpu, wall) = rate(n, || {
            verify::verify(&BounceCopy::default(), &cfg).expect("BounceCopy passes");
        });
        println!(
            "  verify   BounceCopy       {n} cases: {cpu:>8.0} cases/s by CPU time, {wall:>8.0} by wall time"
        );
    }
}
