//! Criterion benchmarks, one module per area (issue 7). Run with `cargo bench`; one group
//! with `cargo bench --bench main -- GROUP` (e.g. `strategies_read_16MiB`, `verify`).
//! `MDLSIM_BENCH_MAX=BYTES` skips strategy sizes above BYTES.

use criterion::{criterion_group, criterion_main};

mod address_space;
mod primitives;
mod strategies;
mod verify;

criterion_group!(
    benches,
    primitives::bench,
    address_space::bench,
    strategies::bench,
    verify::bench
);
criterion_main!(benches);
