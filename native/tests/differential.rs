//! The differential proof: each strategy written in C and in Rust, on the same cases,
//! gives the same verdict and the same finding classes. A difference is a bug in one of
//! the two paths (the C runtime, the mirroring, or a translation).
//!
//! CI runs `CASES` cases per pair; `cargo run --release --example differential` runs
//! 10,000 and prints the table.

use mdlsim::oracle::BugClass;
use mdlsim::strategy::{BounceCopy, HeadTailSplice, ProxyStrategy, broken};
use mdlsim::verify::{Case, Config, generated_cases, run_case};
use mdlsim_native::{Driver, NativeStrategy};
use std::collections::BTreeSet;

const CASES: usize = 300;

fn c(name: &str, defines: &[&str]) -> NativeStrategy {
    c_traced(name, defines, true)
}

/// A C strategy with its plain loads and stores to user memory traced one by one, or not
/// (`Driver::trace_accesses`).
fn c_traced(name: &str, defines: &[&str], trace: bool) -> NativeStrategy {
    let path = format!("{}/tests/c/{name}.c", env!("CARGO_MANIFEST_DIR"));
    let d = Driver::compile_with(&path, defines).unwrap_or_else(|e| panic!("{e}"));
    NativeStrategy::new(d.trace_accesses(trace)).unwrap()
}

/// The first `n` cases `verify` plays with seed 0 (`generated_cases`).
fn cases(n: usize) -> Vec<Case> {
    let cfg = Config::default().seed(0).cases(n as u32).ignore_env();
    match generated_cases(&cfg) {
        Ok(cases) => cases.map(|(_, c)| c).collect(),
        Err(why) => panic!("{why}"),
    }
}

fn classes<S: ProxyStrategy + Clone + Send + 'static>(s: &S, case: &Case) -> BTreeSet<BugClass> {
    let run = run_case(&mut s.clone(), case, &Config::default().machine, None);
    run.findings.iter().map(|f| f.kind).collect()
}

fn same<R: ProxyStrategy + Clone + Send + 'static>(native: NativeStrategy, rust: R) {
    let mut differ = Vec::new();
    let mut failing = 0;
    for case in cases(CASES) {
        let (a, b) = (classes(&native, &case), classes(&rust, &case));
        failing += usize::from(!b.is_empty());
        if a != b {
            differ.push(format!("{case:?}: C {a:?}, Rust {b:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {CASES} cases differ ({}):\n{}",
        differ.len(),
        native.name(),
        differ[..differ.len().min(8)].join("\n")
    );
    if rust.expected().is_some() {
        assert!(
            failing > 0,
            "{}: the broken strategy failed no case",
            rust.name()
        );
    }
}

#[test]
fn bounce_copy() {
    same(c("bounce", &[]), BounceCopy::default());
}

#[test]
fn head_tail_splice() {
    same(c("head_tail_splice", &[]), HeadTailSplice::default());
}

#[test]
fn direct_map() {
    same(c("direct_map", &[]), broken::DirectMap::default());
}

#[test]
fn unzeroed_bounce() {
    same(
        c("bounce", &["UNZEROED"]),
        broken::UnzeroedBounce::default(),
    );
}

#[test]
fn copy_back_all() {
    same(
        c("bounce", &["COPY_BACK_ALL"]),
        broken::CopyBackAll::default(),
    );
}

#[test]
fn unchecked_null_mdl() {
    same(
        c("bounce", &["SKIP_NULL_CHECK"]),
        broken::UncheckedNullMdl::default(),
    );
}

#[test]
fn leak_second_lock() {
    same(
        c("bounce", &["OWN_LOCK_LEAK"]),
        broken::LeakSecondLock::default(),
    );
}

#[test]
fn writable_write_splice() {
    same(
        c("head_tail_splice", &["WRITABLE_FOR_WRITES"]),
        broken::WritableWriteSplice::default(),
    );
}

#[test]
fn free_substitute_while_mapped() {
    same(
        c("head_tail_splice", &["FREE_BEFORE_UNMAP"]),
        broken::FreeSubstituteWhileMapped::default(),
    );
}

#[test]
fn unzeroed_substitute() {
    same(
        c("head_tail_splice", &["UNZEROED_SUBSTITUTES"]),
        broken::UnzeroedSubstitute::default(),
    );
}

/// Content-traced provenance (`mdlsim_native::provenance`): the same C strategy with its
/// copies made by byte loops (the model sees only changed bytes) gives the classes of
/// its `RtlCopyMemory` build (exact provenance), on every case whose request moves at
/// least `MIN_MATCH` bytes (shorter runs are the driver's fresh data by rule). Without
/// access tracing the loop's loads are not seen at all; with it (on `n` cases of at most
/// `max` bytes: each load is a fault and a single step) each is logged too.
fn same_by_content(defines: &[&str]) {
    same_by_content_in(defines, false, CASES, u32::MAX);
}

fn same_by_content_in(defines: &[&str], trace: bool, n: usize, max: u32) {
    let mut looped: Vec<&str> = defines.to_vec();
    looped.push("LOOP_COPY");
    let (exact, traced) = (c("bounce", defines), c_traced("bounce", &looped, trace));
    let mut differ = Vec::new();
    let mut failing = 0;
    let pool = if max == u32::MAX {
        CASES * 2
    } else {
        CASES * 4
    };
    let long = cases(pool).into_iter().filter(|c| {
        c.length == 0
            || (c.length as usize >= mdlsim_native::provenance::MIN_MATCH && c.length <= max)
    });
    for case in long.take(n) {
        let (a, b) = (classes(&traced, &case), classes(&exact, &case));
        failing += usize::from(!b.is_empty());
        if a != b {
            differ.push(format!("{case:?}: loop {a:?}, RtlCopyMemory {b:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} cases differ:\n{}",
        differ.len(),
        differ[..differ.len().min(8)].join("\n")
    );
    if !defines.is_empty() {
        assert!(failing > 0, "{defines:?}: no case failed");
    }
}

#[test]
fn a_copy_loop_is_traced_by_content_in_a_correct_strategy() {
    same_by_content(&[]);
}

#[test]
fn a_copy_loop_that_copies_whole_pages_in_is_caught_as_the_copy_would_be() {
    same_by_content(&["WHOLE_PAGES"]);
}

#[test]
fn a_copy_loop_that_copies_back_too_much_is_caught_as_the_copy_would_be() {
    same_by_content(&["COPY_BACK_ALL"]);
}

#[test]
fn a_copy_loop_traced_load_by_load_gives_the_classes_of_its_rtlcopymemory_build() {
    same_by_content_in(&[], true, 60, 4096);
    same_by_content_in(&["COPY_BACK_ALL"], true, 60, 4096);
}
