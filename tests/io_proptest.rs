//! Property: random IRP workloads across several processes and devices — buffered,
//! direct and neither devices, a filter stack, pending queues, cancellation, timers,
//! deferred completion APCs, apps freeing and rewriting their buffers, threads and
//! processes exiting mid-request — never crash the machine with correct drivers, keep
//! `audit()` clean after every op, finish every request exactly once, and leak nothing
//! once everything is drained; and the I/O manager answers every I/O op with a value.
//!
//! A workload is a `Vec<Op>` (`mdlsim::generators::arb_io_workload`: the steps of
//! `mdlsim::op::workload`), judged by the `irp` fuzz target's own judge
//! (`mdlsim::fuzzing::irp_ops`). Regressions are JSON op lists in `tests/regressions/irp/`,
//! each replayed by name; a failure here prints its ops as JSON to add there.

use mdlsim::fuzzing::irp_ops;
use mdlsim::generators::arb_io_workload;
use mdlsim::op::Op;
use proptest::prelude::*;
use std::path::PathBuf;

/// Runs a workload through the `irp` judge; every I/O op must also return normally (only
/// an application's own accesses to the buffer it freed may fault, with a status).
fn check(ops: &[Op]) -> Result<(), String> {
    let outcomes = irp_ops(ops).map_err(|f| f.to_string())?;
    for (op, out) in ops.iter().zip(&outcomes) {
        if matches!(op, Op::Io(_)) && !out.is_ok() {
            let json = serde_json::to_string(ops).unwrap();
            return Err(format!("{op:?} -> {out:?} in {json}"));
        }
    }
    Ok(())
}

fn regressions() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/irp")
}

/// Replays `tests/regressions/irp/NAME.json`.
fn replay(name: &str) {
    let path = regressions().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ops: Vec<Op> = serde_json::from_str(&text).unwrap();
    check(&ops).unwrap_or_else(|e| panic!("{name}: {e}"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_io_workloads_keep_the_books_balanced_and_leak_nothing(ops in arb_io_workload(1..40)) {
        check(&ops).map_err(TestCaseError::fail)?;
    }
}

/// Regression (found by the property): a neither-I/O driver reading a buffer the
/// application has released faults inside its `__try`, and the request fails cleanly.
#[test]
fn neither_io_read_of_a_released_buffer_fails_cleanly() {
    replay("neither-read-into-freed-buffer");
}

/// Every file in `tests/regressions/irp/` has a named test above.
#[test]
fn every_irp_regression_file_has_a_named_test() {
    let src = include_str!("io_proptest.rs");
    for entry in std::fs::read_dir(regressions()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            src.contains(&format!("replay(\"{name}\")")),
            "{name}.json has no test"
        );
    }
}
