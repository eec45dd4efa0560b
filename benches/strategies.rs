//! Each correct strategy as a whole request (expose, the server touches the range,
//! retire, complete), READ and WRITE, beside a raw `copy_from_slice` of the same bytes.
//!
//! One group per direction and size (`strategies_read_64KiB`, ...); run one with
//! `cargo bench --bench main -- strategies_read_64KiB`. The machine and the issued
//! request are built outside the timed loop (`iter_batched` over clones of a prepared
//! request), so a figure is the request alone.

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use mdlsim::strategy::{
    BounceCopy, CopySmallMapLarge, Direction, HeadTailSplice, PartialMdlSplit, ProxyStrategyClone,
};
use mdlsim::workload::Prepared;
use std::hint::black_box;
use std::time::Duration;

/// Request sizes, with their labels.
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

fn strategies() -> Vec<Box<dyn ProxyStrategyClone>> {
    vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
        Box::new(PartialMdlSplit::default()),
        Box::new(CopySmallMapLarge::default()),
    ]
}

fn short_name(s: &dyn ProxyStrategyClone) -> String {
    let n = s.name();
    n.split('(').next().unwrap_or(&n).to_string()
}

pub fn bench(c: &mut Criterion) {
    let only: Option<String> = std::env::var("MDLSIM_BENCH_MAX").ok();
    let max = only.and_then(|v| v.parse::<u64>().ok()).unwrap_or(u64::MAX);
    for (dir, dname) in [(Direction::Read, "read"), (Direction::Write, "write")] {
        for (size, label) in SIZES {
            if size > max {
                continue;
            }
            let mut g = c.benchmark_group(format!("strategies_{dname}_{label}"));
            g.throughput(Throughput::Bytes(size));
            let big = size >= 16 << 20;
            if big {
                g.sampling_mode(SamplingMode::Flat)
                    .sample_size(10)
                    .warm_up_time(Duration::from_millis(100))
                    .measurement_time(Duration::from_secs(2));
            } else {
                g.sample_size(20)
                    .warm_up_time(Duration::from_millis(300))
                    .measurement_time(Duration::from_secs(1));
            }
            let batch = if size >= 1 << 20 {
                BatchSize::PerIteration
            } else {
                BatchSize::SmallInput
            };
            for s in strategies() {
                let name = short_name(&*s);
                for (offset, aname) in [(0u64, "aligned"), (512, "unaligned")] {
                    for shadow in [false, true] {
                        let tag = if shadow { "shadow_on" } else { "shadow_off" };
                        g.bench_function(BenchmarkId::new(&name, format!("{aname}_{tag}")), |b| {
                            let proto = Prepared::new(dir, size, offset, shadow).expect("prepare");
                            b.iter_batched(
                                || (proto.clone(), s.clone()),
                                |(mut p, mut st)| {
                                    let done = p.run(&mut st).expect("request");
                                    black_box(done);
                                    p
                                },
                                batch,
                            )
                        });
                    }
                }
            }
            if big {
                // The driver's work alone (the server does not touch the range): what the
                // strategy itself costs, for the HeadTailSplice-vs-BounceCopy figure.
                for s in strategies() {
                    let name = short_name(&*s);
                    g.bench_function(
                        BenchmarkId::new(&name, "aligned_shadow_off_driver_only"),
                        |b| {
                            let proto = Prepared::new(dir, size, 0, false).expect("prepare");
                            b.iter_batched(
                                || (proto.clone(), s.clone()),
                                |(mut p, mut st)| {
                                    black_box(p.run_with(&mut st, false).expect("request"));
                                    p
                                },
                                batch,
                            )
                        },
                    );
                }
            }
            let src = vec![0xA5u8; size as usize];
            let mut dst = vec![0u8; size as usize];
            g.bench_function("memcpy", |b| {
                b.iter(|| {
                    dst.copy_from_slice(black_box(&src));
                    black_box(&dst);
                })
            });
            if big {
                // The passes a bounce request makes over its bytes, done raw: zero the pool
                // buffer (ExAllocatePool2), copy into it (the server's write for a READ, the
                // copy in for a WRITE), copy out of it (the copy back, or the server's read).
                // BounceCopy ÷ this is the model's cost per byte it moves.
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
            g.finish();
        }
    }
}
