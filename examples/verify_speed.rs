//! Cases per second of the harness on one core, by CPU time (issue 7, "verify").
//!
//! Criterion measures wall time, which other processes on a shared machine inflate; this
//! runs a fixed spread of cases up to 64 KiB (every direction, server behaviour and
//! fault) through `run_case` and a whole `verify` run, and divides by this thread's own
//! CPU time (`/proc/thread-self/stat`, utime + stime). Single-threaded, so CPU time is
//! one core's time.
//!
//! Run: `cargo run --release --example verify_speed [CASES]` (default 4000).

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

/// The same spread as benches/verify.rs.
fn cases(n: usize) -> Vec<Case> {
    let servers = [
        ServerBehaviour::Honest,
        ServerBehaviour::Adversarial,
        ServerBehaviour::Short,
        ServerBehaviour::Crashing,
    ];
    let lengths = [0u32, 1, 511, 4095, 4096, 4097, 8192, 12_345, 65_536, 30_000];
    let offsets = [0u32, 1, 512, 4095, 2048];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Case {
                offset: offsets[(x % offsets.len() as u64) as usize],
                length: lengths[((x >> 8) % lengths.len() as u64) as usize],
                direction: if i % 2 == 0 {
                    Direction::Read
                } else {
                    Direction::Write
                },
                server: servers[((x >> 16) % 4) as usize],
                fault: if i % 2 == 0 {
                    InjectedFault::None
                } else {
                    InjectedFault::ALL[((x >> 24) % 8) as usize]
                },
                seed: (x >> 32) as u8,
            }
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(4000);
    let list = cases(64);
    let machine = mdlsim::Config::default();
    let strategies: Vec<Box<dyn ProxyStrategyClone>> = vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
    ];
    for s in &strategies {
        let (c0, w0) = (cpu_seconds(), Instant::now());
        for case in list.iter().cycle().take(n) {
            let mut st = s.clone();
            let run = run_case(&mut st, case, &machine, None);
            assert!(run.findings.is_empty(), "{}: {:?}", s.name(), run.findings);
        }
        let wall = w0.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(c0).map(|(a, b)| a - b).unwrap_or(wall);
        println!(
            "run_case {:<16} {n} cases: {:>8.0} cases/s by CPU time ({cpu:.2} s), {:>8.0} by wall time",
            s.name(),
            n as f64 / cpu,
            n as f64 / wall
        );
    }
    let cfg = verify::Config::default()
        .cases(n as u32)
        .max_length(64 << 10)
        .ignore_env()
        .threads(1); // this thread's CPU time is the whole run's (examples/verify_threads: several)
    let (c0, w0) = (cpu_seconds(), Instant::now());
    verify::verify(&BounceCopy::default(), &cfg).expect("BounceCopy passes");
    let wall = w0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(c0).map(|(a, b)| a - b).unwrap_or(wall);
    println!(
        "verify   BounceCopy       {n} cases: {:>8.0} cases/s by CPU time ({cpu:.2} s), {:>8.0} by wall time",
        n as f64 / cpu,
        n as f64 / wall
    );
}
