//! `verify` cases per second on 1 thread and on 2 (issue 17: "`verify` on N cores ÷ on
//! one core, same cases, same result ≥ 0.9 × N"), side by side in one run.
//!
//! Each round runs the same campaign (BounceCopy, requests ≤ 64 KiB, a fixed seed, no
//! regressions file) on 1 thread and on 2, alternating which goes first, by wall time
//! (several threads' work is not one thread's CPU time); the reports must be equal.
//! Prints each round's ratio and their spread (min / median / max). On a machine shared
//! with other builds the ratio is the figure to read, not the rates.
//!
//! Run: `cargo run --release --example verify_threads [CASES] [ROUNDS]` (default 4000, 5).

use mdlsim::strategy::BounceCopy;
use mdlsim::verify::{self, Config, Report};
use std::time::Instant;

/// One run's report and cases per second.
fn run(threads: usize, cases: u32) -> (Report, f64) {
    let cfg = Config::default()
        .cases(cases)
        .seed(0x7468_7265_6164)
        .max_length(64 * 1024)
        .ignore_env()
        .no_regressions()
        .threads(threads);
    let t0 = Instant::now();
    let report = verify::verify(&BounceCopy::default(), &cfg);
    let secs = t0.elapsed().as_secs_f64();
    match report {
        Ok(r) => (r, f64::from(cases) / secs),
        Err(cx) => {
            eprintln!("BounceCopy failed: {cx}");
            std::process::exit(1);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("verify, BounceCopy, {cases} cases ≤ 64 KiB, {cores} core(s), wall time");
    let _ = run(1, cases.min(200)); // warm up: allocator, slab pool
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let order: [usize; 2] = if round % 2 == 0 { [1, 2] } else { [2, 1] };
        let mut rate = [0.0; 3];
        let mut reports = Vec::new();
        for t in order {
            let (r, per_s) = run(t, cases);
            rate[t] = per_s;
            reports.push(r);
        }
        if reports[0] != reports[1] {
            eprintln!("round {round}: 1 and 2 threads gave different reports");
            std::process::exit(1);
        }
        let ratio = rate[2] / rate[1];
        println!(
            "round {round} ({} first): 1 thread {:>8.0} cases/s, 2 threads {:>8.0} cases/s, ratio {ratio:.2}",
            if order[0] == 1 {
                "1 thread"
            } else {
                "2 threads"
            },
            rate[1],
            rate[2]
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (ratios.first(), ratios.last()) {
        let med = ratios[ratios.len() / 2];
        println!(
            "2 threads ÷ 1 thread: median {med:.2} (min {lo:.2}, max {hi:.2}) = {:.2} × 2; same reports",
            med / 2.0
        );
    }
}
