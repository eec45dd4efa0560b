//! Benchmarks of strategies, yours beside the built-ins (feature `bench`): the criterion
//! groups `strategies_{read,write}_{512B,...,31MiB}` that this repository's `cargo bench`
//! runs and `mdlsim bench-report` reads, with your strategies in them.
//!
//! Each benchmark is one whole request ([`crate::workload::Prepared::run`]: `expose`, the
//! server touching every byte it was shown, `retire`, completion), page-aligned and at
//! offset 512, shadow memory on and off, id `NAME/{aligned,unaligned}_shadow_{off,on}`
//! (`NAME` the strategy's name without its parameter); every group also times a raw
//! `copy_from_slice` of the same bytes (`memcpy`), and the 16 MiB and 31 MiB groups the
//! driver's work alone (`NAME/aligned_shadow_off_driver_only`) and the three raw passes a
//! bounce makes (`raw_passes`). The machine and the issued request are built outside the
//! timed loop, so a figure is the request alone, as the simulator runs it on the host.
//!
//! In your crate's `benches/strategies.rs` (with `harness = false` in Cargo.toml):
//!
//! ```ignore
//! use mdlsim::bench::criterion::{Criterion, criterion_group, criterion_main};
//! fn bench(c: &mut Criterion) {
//!     mdlsim::bench::StrategyBench::new().strategy(my_crate::MySplice::default()).run(c);
//! }
//! criterion_group!(benches, bench);
//! criterion_main!(benches);
//! ```

pub use criterion;

use crate::strategy::{Completion, Direction, ProxyStrategy, ProxyStrategyClone};
use crate::workload::Prepared;
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use std::hint::black_box;
use std::time::Duration;

/// Request sizes, with the labels their groups carry.
pub const SIZES: [(u64, &str); 6] = [
    (512, "512B"),
    (4 << 10, "4KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (16 << 20, "16MiB"),
    // 31 MiB: the largest request Server 2003's `IoAllocateMdl` describes (its 16-bit
    // `Size` allows (0xFFFF - 48) / 8 = 8185 pages, ~32 MiB on x64), kept so figures stay
    // comparable with earlier runs (Windows 7 and later go up to 4 GiB - PAGE_SIZE).
    (31 << 20, "31MiB"),
];

pub use crate::strategy::correct_builtins;

/// A strategy's name without its parameter, as benchmark ids and reports show it
/// (`CopySmallMapLarge(65536)` is `CopySmallMapLarge`).
pub fn short_name(name: &str) -> String {
    name.split('(').next().unwrap_or(name).trim().to_string()
}

/// The group of `direction` and size label: `strategies_read_64KiB`.
pub fn group_name(direction: Direction, label: &str) -> String {
    let d = match direction {
        Direction::Read => "read",
        Direction::Write => "write",
    };
    format!("strategies_{d}_{label}")
}

/// Which strategies to time, at which sizes, how long (a builder).
pub struct StrategyBench {
    strategies: Vec<Box<dyn ProxyStrategyClone>>,
    max_size: u64,
    quick: bool,
}

impl Default for StrategyBench {
    /// [`StrategyBench::new`].
    fn default() -> Self {
        StrategyBench::new()
    }
}

impl StrategyBench {
    /// The correct built-ins ([`correct_builtins`]) at every size of [`SIZES`] up to
    /// `MDLSIM_BENCH_MAX` bytes when that is set, [quick](StrategyBench::quick) when
    /// `MDLSIM_BENCH_QUICK` is set (and not `0`).
    pub fn new() -> StrategyBench {
        let max = std::env::var("MDLSIM_BENCH_MAX")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let quick = std::env::var("MDLSIM_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        StrategyBench {
            strategies: correct_builtins(),
            max_size: max,
            quick,
        }
    }

    /// No built-in: only the strategies added with [`StrategyBench::strategy`].
    pub fn without_builtins(mut self) -> StrategyBench {
        self.strategies.clear();
        self
    }

    /// Adds your strategy (its groups' ids are its [`short_name`]).
    pub fn strategy<S: ProxyStrategy + Clone + Send + 'static>(mut self, s: S) -> StrategyBench {
        self.strategies.push(Box::new(s));
        self
    }

    /// Only the sizes of at most `bytes` (the largest groups take most of the time).
    pub fn max_size(mut self, bytes: u64) -> StrategyBench {
        self.max_size = bytes;
        self
    }

    /// Short measurements (10 samples, 50 ms each benchmark): a smoke run, for CI.
    pub fn quick(mut self, quick: bool) -> StrategyBench {
        self.quick = quick;
        self
    }

    /// The names of the strategies timed ([`short_name`]s), in order.
    pub fn names(&self) -> Vec<String> {
        self.strategies
            .iter()
            .map(|s| short_name(&s.name()))
            .collect()
    }

    /// The groups [`StrategyBench::run`] makes, in order.
    pub fn groups(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in [Direction::Read, Direction::Write] {
            for (size, label) in SIZES {
                if size <= self.max_size {
                    out.push(group_name(d, label));
                }
            }
        }
        out
    }

    /// Runs every group on `c`.
    ///
    /// # Panics
    /// When a strategy faults on a plain request (an honest server, no injected fault):
    /// a benchmark has no other way to report it, and `verify` should have caught it.
    pub fn run(&self, c: &mut Criterion) {
        for d in [Direction::Read, Direction::Write] {
            for (size, label) in SIZES {
                if size > self.max_size {
                    continue;
                }
                let mut g = c.benchmark_group(group_name(d, label));
                self.configure(&mut g, size);
                self.requests(&mut g, d, size);
                raw_copies(&mut g, size);
                g.finish();
            }
        }
    }

    fn configure(&self, g: &mut BenchmarkGroup<'_, WallTime>, size: u64) {
        g.throughput(Throughput::Bytes(size));
        if self.quick {
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(10))
                .measurement_time(Duration::from_millis(50));
        } else if size >= 16 << 20 {
            g.sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .warm_up_time(Duration::from_millis(100))
                .measurement_time(Duration::from_secs(2));
        } else {
            g.sample_size(20)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
        }
    }

    fn requests(&self, g: &mut BenchmarkGroup<'_, WallTime>, d: Direction, size: u64) {
        let batch = if size >= 1 << 20 {
            BatchSize::PerIteration
        } else {
            BatchSize::SmallInput
        };
        let big = size >= 16 << 20;
        for s in &self.strategies {
            let name = short_name(&s.name());
            for (offset, aname) in [(0u64, "aligned"), (512, "unaligned")] {
                for shadow in [false, true] {
                    let tag = if shadow { "shadow_on" } else { "shadow_off" };
                    let id = BenchmarkId::new(&name, format!("{aname}_{tag}"));
                    g.bench_function(id, |b| {
                        let proto = prepare(d, size, offset, shadow);
                        b.iter_batched(
                            || (proto.clone(), s.clone()),
                            |(mut p, mut st)| {
                                black_box(request(&mut p, &mut st, true));
                                p
                            },
                            batch,
                        )
                    });
                }
            }
            if big {
                // The driver's work alone (the server does not touch the range): what the
                // strategy itself costs.
                let id = BenchmarkId::new(&name, "aligned_shadow_off_driver_only");
                g.bench_function(id, |b| {
                    let proto = prepare(d, size, 0, false);
                    b.iter_batched(
                        || (proto.clone(), s.clone()),
                        |(mut p, mut st)| {
                            black_box(request(&mut p, &mut st, false));
                            p
                        },
                        batch,
                    )
                });
            }
        }
    }
}

fn prepare(d: Direction, size: u64, offset: u64, shadow: bool) -> Prepared {
    Prepared::new(d, size, offset, shadow)
        .unwrap_or_else(|e| panic!("preparing a {size}-byte request: {e}"))
}

fn request(p: &mut Prepared, s: &mut Box<dyn ProxyStrategyClone>, touch: bool) -> Completion {
    match p.run_with(s, touch) {
        Ok(done) => done,
        Err(e) => panic!("{}: a plain request faulted: {e}", s.name()),
    }
}

/// The baselines: one `copy_from_slice` of the request's bytes (`memcpy`), and for the
/// big sizes the three passes a bounce request makes, raw (`raw_passes`: zero the pool
/// buffer, copy in, copy out).
fn raw_copies(g: &mut BenchmarkGroup<'_, WallTime>, size: u64) {
    let src = vec![0xA5u8; size as usize];
    let mut dst = vec![0u8; size as usize];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    if size >= 16 << 20 {
        let mut pool = vec![0u8; size as usize];
        g.bench_function("raw_passes", |b| {
            b.iter(|| {
                pool.fill(0);
                black_box(&mut pool);
                pool.copy_from_slice(black_box(&src));
                dst.copy_from_slice(black_box(&pool));
                black_box(&dst);
            })
        });
    }
}
