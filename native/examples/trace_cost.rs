//! What access tracing costs a strategy that moves a user buffer with byte loops: the
//! same C strategy (`bounce` built with `LOOP_COPY`), traced and untraced, on the first
//! cases of `verify`'s campaign with seed 0 whose request moves at least `MIN` bytes,
//! side by side in one run (docs/performance.md).
//!
//! `cargo run --release -p mdlsim-native --example trace_cost [cases]`

use mdlsim::verify::{Case, Config, generated_cases, run_case};
use mdlsim_native::{Driver, NativeStrategy};
use std::time::Instant;

/// Requests shorter than this move too few bytes for the loop to dominate.
const MIN: u32 = 4096;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/bounce.c");
    let build = |trace: bool| -> NativeStrategy {
        let d = Driver::compile_with(path, &["LOOP_COPY"]).unwrap_or_else(|e| panic!("{e}"));
        NativeStrategy::new(d.trace_accesses(trace)).unwrap_or_else(|e| panic!("{e}"))
    };
    let cfg = Config::default().seed(0).cases(2000).ignore_env();
    let cases: Vec<Case> = match generated_cases(&cfg) {
        Ok(c) => c
            .map(|(_, c)| c)
            .filter(|c| c.length >= MIN)
            .take(n)
            .collect(),
        Err(why) => panic!("{why}"),
    };
    let bytes: u64 = cases.iter().map(|c| u64::from(c.length)).sum();
    let machine = Config::default().machine;
    let mut seconds = [0f64; 2];
    for (i, trace) in [false, true].into_iter().enumerate() {
        let s = build(trace);
        let t = Instant::now();
        for case in &cases {
            run_case(&mut s.clone(), case, &machine, None);
        }
        seconds[i] = t.elapsed().as_secs_f64();
    }
    println!(
        "{} cases moving {} KiB with byte loops: untraced {:.3} s, traced {:.3} s ({:.0}x; {:.1} µs per byte moved)",
        cases.len(),
        bytes / 1024,
        seconds[0],
        seconds[1],
        seconds[1] / seconds[0],
        (seconds[1] - seconds[0]) * 1e6 / bytes as f64
    );
}
