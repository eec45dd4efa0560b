//! `verify` cases per second on 1 thread and on 2 (issue 17: "`verify` on N cores ÷ on
//! one core, same cases, same result ≥ 0.9 × N"), side by side in one run.
//!
//! Each round runs the same campaign (BounceCopy, requests ≤ 64 KiB, a fixed seed, no
//! regressions file) on 1 thread and on 2, alternating which goes first; the reports
//! must be equal. Two figures per run: cases per second of wall time (the speed-up a
//! user sees, when the cores are free) and per second of the process's CPU time (user +
//! system over all its threads, `/proc/self/stat`: what parallelism costs, whatever
//! else runs on the machine), and the cores the run obtained (CPU ÷ wall). Prints each
//! round's ratios and their spread (min / median / max).
//!
//! Run: `cargo run --release --example verify_threads [CASES] [ROUNDS]` (default 20000, 5).

use mdlsim::strategy::BounceCopy;
use mdlsim::verify::{self, Config, Report};
use std::time::Instant;

mod support;

/// One run: its report, cases per second of wall time and of CPU time.
struct Run {
    report: Report,
    wall: f64,
    cpu: f64,
}

fn run(threads: usize, cases: u32) -> Run {
    let cfg = Config::default()
        .cases(cases)
        .seed(0x7468_7265_6164)
        .max_length(64 * 1024)
        .ignore_env()
        .no_regressions()
        .threads(threads);
    let (c0, t0) = (support::process_cpu_seconds(), Instant::now());
    let report = verify::verify(&BounceCopy::default(), &cfg);
    let secs = t0.elapsed().as_secs_f64();
    let cpu = support::process_cpu_seconds()
        .zip(c0)
        .map_or(secs, |(a, b)| a - b);
    match report {
        Ok(report) => Run {
            report,
            wall: f64::from(cases) / secs,
            cpu: f64::from(cases) / cpu.max(0.01),
        },
        Err(cx) => {
            eprintln!("BounceCopy failed: {cx}");
            std::process::exit(1);
        }
    }
}

/// min, median, max.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    (at(0), at(v.len() / 2), at(v.len().saturating_sub(1)))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("verify, BounceCopy, {cases} cases ≤ 64 KiB, {cores} core(s)");
    let _ = run(1, cases.min(500)); // warm up: allocator, slab pool
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order: [usize; 2] = if round % 2 == 0 { [1, 2] } else { [2, 1] };
        let mut runs: Vec<(usize, Run)> = order.iter().map(|&t| (t, run(t, cases))).collect();
        runs.sort_by_key(|(t, _)| *t);
        let (one, two) = (&runs[0].1, &runs[1].1);
        if one.report != two.report {
            eprintln!("round {round}: 1 and 2 threads gave different reports");
            std::process::exit(1);
        }
        let line = |r: &Run| {
            format!(
                "{:>7.0}/s wall, {:>7.0}/s CPU, {:.2} cores",
                r.wall,
                r.cpu,
                r.wall / r.cpu
            )
        };
        println!(
            "round {round} ({} thread(s) first): 1 thread {}; 2 threads {}; ratio wall {:.2}, CPU {:.2}",
            order[0],
            line(one),
            line(two),
            two.wall / one.wall,
            two.cpu / one.cpu
        );
        walls.push(two.wall / one.wall);
        cpus.push(two.cpu / one.cpu);
    }
    let (lo, med, hi) = spread(walls);
    println!(
        "2 threads ÷ 1 thread, wall: median {med:.2} (min {lo:.2}, max {hi:.2}) = {:.2} × 2",
        med / 2.0
    );
    let (lo, med, hi) = spread(cpus);
    println!(
        "2 threads ÷ 1 thread, per CPU second: median {med:.2} (min {lo:.2}, max {hi:.2}); same reports"
    );
}
