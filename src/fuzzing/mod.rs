//! Fuzz targets as library functions (feature `fuzzing`), so the libFuzzer targets in
//! `fuzz/` and the corpus-replay test (`tests/fuzz_corpus.rs`) run exactly the same code.
//!
//! Each target takes the fuzzer's raw bytes, decodes a structured input with
//! [`arbitrary`], runs it, and returns `Err(Failure)` for anything that must never happen:
//! the fuzz target turns that into a panic (a crash libFuzzer records); the replay test
//! turns it into a test failure. Bytes too short to decode are padded by `arbitrary`
//! with zeroes, so every byte string is a valid input.
//!
//! See docs/fuzzing.md for the recipe and the runs.

use std::fmt;

mod irp;
mod ops;
mod scenario;
mod splice;
mod user;

pub use irp::{irp, irp_ops, irp_workload};
pub use ops::{
    AUDIT_EVERY_STEP_UP_TO, AUDIT_STRIDE, FOLD_ABOVE, HOST_MEMORY_LIMIT, MAX_OPS, OpsInput,
    PROCESSES, fold_length, ops, ops_input, prologue,
};
pub use scenario::scenario;
pub use splice::{
    AT_LIMIT_KIND, Length, MAX_MDL_SPAN, MAX_PAGES_SPAN, SpliceInput, SpliceStrategy, splice,
    splice_input, splice_keeps,
};
pub use user::{
    CorpusError, SPLICE_DICTIONARY, fuzz_strategy, fuzz_strategy_input, replay_corpus, seed_corpus,
};

/// Something a target must never see: a finding on a correct strategy, an `audit()`
/// violation, or a model error where the model should have answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The target.
    pub target: &'static str,
    /// The decoded input (`Debug`; JSON for targets that decode into ops).
    pub input: String,
    /// What went wrong, one line each.
    pub problems: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fuzz target `{}` failed on {}", self.target, self.input)?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Everything a finished run must not leave behind: `audit()` violations, IRPs, MDLs,
/// mappings, pool blocks, system PTEs, leaked locks, locked pages (one line each).
pub fn leftovers(m: &crate::Machine) -> Vec<String> {
    let mut out: Vec<String> = m.audit().iter().map(|v| format!("audit: {v}")).collect();
    let mut count = |what: &str, n: usize| {
        if n != 0 {
            out.push(format!("{n} {what} left"));
        }
    };
    count("IRPs", m.irps_outstanding());
    count("MDLs", m.mdls().count());
    count("mappings", m.mappings().count());
    count("pool blocks", m.pool_allocations().count());
    count("system PTEs", m.system_ptes_in_use() as usize);
    count("leaked locks", m.leaked_locks().len());
    for p in m.processes() {
        if p.number_of_locked_pages != 0 {
            out.push(format!(
                "{} has {} locked pages",
                p.pid, p.number_of_locked_pages
            ));
        }
    }
    out
}

/// A target: raw fuzzer bytes in, `Err` for anything that must never happen.
pub type Target = fn(&[u8]) -> Result<(), Failure>;

/// The targets by name, for the corpus-replay test and tools.
pub const TARGETS: &[(&str, Target)] = &[
    ("splice", splice),
    ("ops", ops),
    ("irp", irp),
    #[cfg(feature = "proptest")]
    ("scenario", scenario),
];
