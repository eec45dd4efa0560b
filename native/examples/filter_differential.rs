//! The differential table of native minifilters: the buffer-swapping filter in C
//! (`tests/c/swap_filter.c`) and in Rust (`verify_driver::filter::SwapFilter`), correct
//! and with each bug, on the same driver-harness cases: the verdict, the finding classes,
//! the cases where the two differ (in classes, returned status or final `IoStatus`), and
//! the cases per second of each path (one thread, side by side in one run).
//!
//! ```text
//! cargo run --release -p mdlsim-native --example filter_differential [cases]
//! ```
//!
//! 10,000 cases per build by default. Exits 1 if any case differs.

use mdlsim::oracle::BugClass;
use mdlsim::status::NtStatus;
use mdlsim::verify::Config;
use mdlsim::verify_driver::filter::FilterBug;
use mdlsim::verify_driver::{DriverCase, DriverUnderTest, generated_cases, run_case};
use mdlsim_native::{Driver, NativeFilter};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// What one case gave: classes, returned status, final `IoStatus`.
type Outcome = (
    BTreeSet<BugClass>,
    Option<NtStatus>,
    Option<(NtStatus, u64)>,
);

fn c_filter(bug: FilterBug) -> DriverUnderTest {
    let path = format!("{}/tests/c/swap_filter.c", env!("CARGO_MANIFEST_DIR"));
    let define = match bug {
        FilterBug::None => None,
        FilterBug::CopiesWholeLength => Some("COPIES_WHOLE_LENGTH"),
        FilterBug::LeaksSwapBuffer => Some("LEAKS_SWAP_BUFFER"),
        FilterBug::ReadsDirectoryBuffer => Some("READS_DIRECTORY_BUFFER"),
        FilterBug::AssumesNewSystemBuffer => Some("ASSUMES_NEW_SYSTEM_BUFFER"),
        FilterBug::SwapsWriteUncopied => Some("SWAPS_WRITE_UNCOPIED"),
    };
    let defines: Vec<&str> = define.into_iter().collect();
    let filter = Driver::compile_with(&path, &defines)
        .map_err(|e| e.to_string())
        .and_then(|d| NativeFilter::new(d).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    DriverUnderTest::minifilter("c-swap-filter", filter)
        .read()
        .write()
        .notify(64)
}

fn play(dut: &DriverUnderTest, cases: &[DriverCase], config: &Config) -> (Vec<Outcome>, Duration) {
    let t = Instant::now();
    let out = cases
        .iter()
        .map(|case| {
            let run = run_case(dut, case, &config.machine, false);
            let classes = run.findings.iter().map(|f| f.kind).collect();
            (classes, run.returned, run.io_status)
        })
        .collect();
    (out, t.elapsed())
}

fn verdict(per_case: &[Outcome]) -> String {
    let all: BTreeSet<BugClass> = per_case.iter().flat_map(|o| o.0.iter()).copied().collect();
    let failing = per_case.iter().filter(|o| !o.0.is_empty()).count();
    if all.is_empty() {
        "passes".into()
    } else {
        let names: Vec<String> = all.iter().map(|c| c.to_string()).collect();
        format!("fails {failing}: {}", names.join(", "))
    }
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let config = Config::default().seed(0).cases(n).ignore_env();
    println!("| build | C verdict | Rust verdict | differing cases | C cases/s | Rust cases/s |");
    println!("|---|---|---|---|---|---|");
    let mut clean = true;
    for bug in FilterBug::ALL {
        let rust = bug.under_test();
        let c = c_filter(bug);
        let cases: Vec<DriverCase> = match generated_cases(&rust, &config) {
            Ok(cases) => cases.into_iter().map(|(_, c)| c).collect(),
            Err(why) => {
                eprintln!("{why}");
                std::process::exit(2)
            }
        };
        let (a, ta) = play(&c, &cases, &config);
        let (b, tb) = play(&rust, &cases, &config);
        let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        clean &= differ == 0;
        let rate = |t: Duration| cases.len() as f64 / t.as_secs_f64();
        println!(
            "| {bug:?} | {} | {} | {differ} of {} | {:.0} | {:.0} |",
            verdict(&a),
            verdict(&b),
            cases.len(),
            rate(ta),
            rate(tb)
        );
    }
    if !clean {
        std::process::exit(1);
    }
}
