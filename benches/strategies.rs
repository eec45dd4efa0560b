//! Each correct strategy as a whole request (expose, the server touches the range,
//! retire, complete), READ and WRITE, beside a raw `copy_from_slice` of the same bytes:
//! `mdlsim::bench::StrategyBench`, the same groups a user's crate runs with its own
//! strategies in them (docs/guide/05-benchmarks.md).
//!
//! One group per direction and size (`strategies_read_64KiB`, ...); run one with
//! `cargo bench --bench main -- strategies_read_64KiB`. `MDLSIM_BENCH_MAX=BYTES` skips
//! the sizes above BYTES.

use criterion::Criterion;
use mdlsim::bench::StrategyBench;

pub fn bench(c: &mut Criterion) {
    StrategyBench::new().run(c);
}
