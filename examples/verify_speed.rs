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
//! Run: `cargo run --release --example verify_speed [CASES]` (default 20000 per figure).

use mdlsim::strategy::{BounceCopy, Direction, HeadTailSplice, ProxyStrategyClone};
use mdlsim::verify::{self, Case, InjectedFault, ServerBehaviour, run_case};
use std::time::Instant;

fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name's closing parenthesis; utime and stime are 14 and 15.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// `n` uniformly random cases with lengths up to `bound` (xorshift64 from a fixed seed).
fn random_cases(n: usize, bound: u32) -> Vec<Case> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ bound as u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| Case {
            length: (next() % (bound as u64 + 1)) as u32,
            offset: (next() % 4096) as u32,
            direction: if next() % 2 == 0 {
                Direction::Read
            } else {
                Direction::Write
            },
            server: ServerBehaviour::ALL[(next() % ServerBehaviour::ALL.len() as u64) as usize],
            fault: InjectedFault::ALL[(next() % InjectedFault::ALL.len() as u64) as usize],
            seed: next() as u8,
        })
        .collect()
}

/// Cases/s by CPU time and by wall time of `f` over `n` cases.
fn rate(n: usize, f: impl FnOnce()) -> (f64, f64) {
    let (c0, w0) = (cpu_seconds(), Instant::now());
    f();
    let wall = w0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(c0).map(|(a, b)| a - b).unwrap_or(wall);
    (n as f64 / cpu, n as f64 / wall)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let machine = mdlsim::Config::default();
    let strategies: Vec<Box<dyn ProxyStrategyClone>> = vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
    ];
    for bound in [4u32 << 10, 64 << 10] {
        let list = random_cases(n, bound);
        let mean = list.iter().map(|c| c.length as f64).sum::<f64>() / n as f64;
        println!(
            "requests <= {} KiB (uniform; mean {mean:.0} bytes)",
            bound >> 10
        );
        for s in &strategies {
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
