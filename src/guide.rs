//! The guide, chapter by chapter (the same Markdown as `docs/guide/`; every example is a doctest).

#[doc = include_str!("../docs/guide/01-concepts.md")]
pub mod concepts {}
