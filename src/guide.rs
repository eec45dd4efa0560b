//! The guide, chapter by chapter (the same Markdown as `docs/guide/`; every Rust example
//! is a doctest, and every `cargo run --release -- ...` command in it is run by
//! `cli/tests/documented_commands.rs`).

#[doc = include_str!("../docs/guide/01-concepts.md")]
pub mod concepts {}

#[doc = include_str!("../docs/guide/02-pitfalls.md")]
pub mod pitfalls {}

#[doc = include_str!("../docs/guide/03-your-strategy.md")]
pub mod your_strategy {}

#[doc = include_str!("../docs/guide/04-fuzzing.md")]
pub mod fuzzing {}

#[doc = include_str!("../docs/guide/05-benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("../docs/guide/06-your-driver.md")]
pub mod your_driver {}
