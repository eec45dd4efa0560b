//! A C minifilter under the driver harness: the buffer-swapping filter of
//! `tests/c/swap_filter.c` passes, each broken build is caught with the class its Rust
//! twin (`mdlsim::verify_driver::filter::FilterBug`) is caught with, and case by case
//! the C and Rust filters get the same findings.

use mdlsim::oracle::BugClass;
use mdlsim::verify::Config;
use mdlsim::verify_driver::filter::FilterBug;
use mdlsim::verify_driver::{self, DriverUnderTest, generated_cases, run_case};
use mdlsim_native::{BuildError, Driver, NativeFilter};
use std::collections::BTreeSet;

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/swap_filter.c");

fn filter(defines: &[&str]) -> NativeFilter {
    let d = Driver::compile_with(SOURCE, defines).unwrap_or_else(|e| panic!("{e}"));
    NativeFilter::new(d).unwrap_or_else(|e| panic!("{e}"))
}

/// The C filter with `defines`, serving what `FilterBug::under_test` serves.
fn under_test(defines: &[&str]) -> DriverUnderTest {
    DriverUnderTest::minifilter("c-swap-filter", filter(defines))
        .read()
        .write()
        .notify(64)
}

/// The define that builds `bug`'s twin.
fn define(bug: FilterBug) -> &'static [&'static str] {
    match bug {
        FilterBug::None => &[],
        FilterBug::CopiesWholeLength => &["COPIES_WHOLE_LENGTH"],
        FilterBug::LeaksSwapBuffer => &["LEAKS_SWAP_BUFFER"],
        FilterBug::ReadsDirectoryBuffer => &["READS_DIRECTORY_BUFFER"],
        FilterBug::AssumesNewSystemBuffer => &["ASSUMES_NEW_SYSTEM_BUFFER"],
        FilterBug::SwapsWriteUncopied => &["SWAPS_WRITE_UNCOPIED"],
    }
}

fn config() -> Config {
    Config::default().cases(200).seed(5).ignore_env()
}

#[test]
fn the_c_swapping_minifilter_passes_every_hostile_case() {
    if let Err(cx) = verify_driver::verify(&under_test(&[]), &config()) {
        panic!("{cx}");
    }
}

/// The correct alternatives: `FltLockUserBuffer` in a notification's or a read's pre
/// callback, or in a swapped read's post callback (the MDL the filter manager then frees),
/// and the swap made through `FltDecodeParameters`' pointers. Each asserts what it relies
/// on (an `ExRaiseStatus` the harness would report).
#[test]
fn the_correct_alternative_c_minifilters_pass() {
    for build in [
        "LOCK_IN_PRE",
        "LOCK_READ_IN_PRE",
        "LOCK_READ_IN_POST",
        "USE_DECODE",
    ] {
        if let Err(cx) = verify_driver::verify(&under_test(&[build]), &config()) {
            panic!("{build}: {cx}");
        }
    }
}

/// `FltClearCallbackDataDirty` after the swap: the filter manager ignores it, so the
/// post callback copies a swap buffer nothing read into over the caller's data.
#[test]
fn a_swap_whose_dirty_mark_is_cleared_is_ignored_and_caught() {
    let cx = verify_driver::verify(&under_test(&["CLEARS_DIRTY"]), &config()).expect_err("caught");
    assert!(cx.has(BugClass::KernelBytesToUser), "{cx}");
}

#[test]
fn each_broken_c_minifilter_is_caught_with_the_class_of_its_rust_twin() {
    for bug in FilterBug::ALL.into_iter().skip(1) {
        let class = bug.expected().expect("a bug has a class");
        let cx = verify_driver::verify(&under_test(define(bug)), &config())
            .expect_err(&format!("{bug:?} caught"));
        assert!(cx.has(class), "{bug:?}: expected {class:?}\n{cx}");
    }
}

fn classes(run: &verify_driver::DriverRun) -> BTreeSet<BugClass> {
    run.findings.iter().map(|f| f.kind).collect()
}

/// Case by case, the C filter and its Rust twin return the same status and get the same
/// finding classes (the first cases of a run, correct and broken builds).
#[test]
fn the_c_and_rust_minifilters_agree_case_by_case() {
    let cfg = Config::default().cases(60).seed(0).ignore_env();
    for bug in FilterBug::ALL {
        let c = under_test(define(bug));
        let rust = bug.under_test();
        let cases = generated_cases(&rust, &cfg).expect("cases");
        for (i, case) in &cases {
            let a = run_case(&c, case, &cfg.machine, false);
            let b = run_case(&rust, case, &cfg.machine, false);
            assert_eq!(
                (classes(&a), a.returned, a.io_status),
                (classes(&b), b.returned, b.io_status),
                "{bug:?}, case {i}: C {:#?}\nRust {:#?}",
                a.trace,
                b.trace
            );
        }
    }
}

/// Harness-side checks of the registration: `DriverEntry` must register and start the
/// filter, with a registration of Windows 8's size and a version 2 number.
#[test]
fn a_filter_that_never_starts_filtering_does_not_load() {
    let d = Driver::compile_with(SOURCE, &["NO_START"]).unwrap_or_else(|e| panic!("{e}"));
    match NativeFilter::new(d) {
        Err(BuildError::Load(e)) => assert!(e.contains("FltStartFiltering"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_registration_of_the_wrong_size_is_refused_with_invalid_parameter() {
    let d = Driver::compile_with(SOURCE, &["WRONG_SIZE"]).unwrap_or_else(|e| panic!("{e}"));
    match NativeFilter::new(d) {
        Err(BuildError::Load(e)) => assert!(e.contains("STATUS_INVALID_PARAMETER"), "{e}"),
        other => panic!("{other:?}"),
    }
}

/// The DDIs of the first successful notification case of `defines`' build.
fn notification_calls(defines: &[&str]) -> Vec<String> {
    let dut = under_test(defines);
    let cfg = config();
    let case = verify_driver::edge_cases(&dut)
        .into_iter()
        .find(|c| c.request == 2 && c.hostile == verify_driver::Hostile::None)
        .expect("a notification case");
    let run = run_case(&dut, &case, &cfg.machine, true);
    assert!(run.findings.is_empty(), "{:#?}", run.findings);
    assert_eq!(
        run.io_status.map(|s| s.0.is_success()),
        Some(true),
        "{:#?}",
        run.trace
    );
    run.calls
        .iter()
        .map(|c| format!("{} -> {}", c.ddi, c.result))
        .collect()
}

/// The post callback of a notification gets the file system's new system buffer from
/// `FltGetNewSystemBufferAddress` (a pool address, not NULL).
#[test]
fn a_notification_post_callback_reads_the_new_system_buffer() {
    let calls = notification_calls(&[]);
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("FltGetNewSystemBufferAddress -> 0xffff")),
        "{calls:#?}"
    );
}

/// With `FltLockUserBuffer` in the pre callback, the file system writes through the MDL
/// (no new system buffer), and the post callback finds that MDL in the parameters and
/// the change record through it (the C filter raises otherwise, which the harness
/// reports).
#[test]
fn a_notification_locked_in_pre_is_read_through_its_mdl_in_post() {
    let calls = notification_calls(&["LOCK_IN_PRE"]);
    assert!(
        calls.iter().any(|c| c == "FltLockUserBuffer -> ok"),
        "{calls:#?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("FltGetNewSystemBufferAddress")),
        "{calls:#?}"
    );
}
