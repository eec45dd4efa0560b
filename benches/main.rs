//! Criterion benchmarks, one module per area (issue 7). Run with `cargo bench`.

use criterion::{criterion_group, criterion_main};

mod address_space;
mod primitives;

criterion_group!(benches, primitives::bench, address_space::bench);
criterion_main!(benches);
