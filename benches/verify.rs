//! Cases per second of the harness for requests up to 64 KiB: `run_case` over a fixed,
//! varied list of cases (every direction, server behaviour and fault), and a whole
//! `verify` run. Run with `cargo bench --bench main -- verify`.

use criterion::{BenchmarkId, Criterion, Throughput};
use mdlsim::strategy::{BounceCopy, HeadTailSplice, ProxyStrategy, ProxyStrategyClone};
use mdlsim::verify::{self, Case, InjectedFault, ServerBehaviour, run_case};
use std::hint::black_box;
use std::time::Duration;

/// A deterministic spread of cases up to 64 KiB.
pub fn cases(n: usize) -> Vec<Case> {
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
            let dir = if i % 2 == 0 {
                mdlsim::strategy::Direction::Read
            } else {
                mdlsim::strategy::Direction::Write
            };
            Case {
                offset: offsets[(x % offsets.len() as u64) as usize],
                length: lengths[((x >> 8) % lengths.len() as u64) as usize],
                direction: dir,
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

pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    let list = cases(64);
    let machine = mdlsim::Config::default();
    let strategies: Vec<Box<dyn ProxyStrategyClone>> = vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
    ];
    g.throughput(Throughput::Elements(list.len() as u64));
    for s in &strategies {
        g.bench_function(BenchmarkId::new("run_case", s.name()), |b| {
            b.iter(|| {
                for case in &list {
                    let mut st = s.clone();
                    let run = run_case(&mut st, case, &machine, None);
                    assert!(run.findings.is_empty(), "{}: {:?}", s.name(), run.findings);
                    black_box(run);
                }
            })
        });
    }
    let n = 64u32;
    g.throughput(Throughput::Elements(n as u64));
    let cfg = verify::Config::default()
        .cases(n)
        .max_length(64 << 10)
        .ignore_env()
        .threads(1); // one core, as the run_case rows (examples/verify_threads: several)
    let s = BounceCopy::default();
    g.bench_function(BenchmarkId::new("verify", s.name()), |b| {
        b.iter(|| black_box(verify::verify(&s, &cfg).expect("passes")))
    });
    g.finish();
}
