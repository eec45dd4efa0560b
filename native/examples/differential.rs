//! The differential table of the native path: each strategy in C and in Rust, on the same
//! cases, with its verdict, its finding classes, the cases where the two differ, and the
//! cases per second of each path (one thread, side by side in one run).
//!
//! ```text
//! cargo run --release -p mdlsim-native --example differential [cases]
//! ```
//!
//! 10,000 cases by default. Exits 1 if any case differs.

use mdlsim::oracle::BugClass;
use mdlsim::strategy::{BounceCopy, HeadTailSplice, ProxyStrategy, broken};
use mdlsim::verify::{Case, Config, generated_cases, run_case};
use mdlsim_native::{Driver, NativeStrategy};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn c(name: &str, defines: &[&str]) -> NativeStrategy {
    let path = format!("{}/tests/c/{name}.c", env!("CARGO_MANIFEST_DIR"));
    let d = Driver::compile_with(&path, defines).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    NativeStrategy::new(d).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    })
}

/// The first `n` cases `verify` plays with seed 0 (`generated_cases`).
fn cases(n: usize) -> Vec<Case> {
    let cfg = Config::default().seed(0).cases(n as u32).ignore_env();
    match generated_cases(&cfg) {
        Ok(cases) => cases.map(|(_, c)| c).collect(),
        Err(why) => {
            eprintln!("{why}");
            std::process::exit(2)
        }
    }
}

/// Per case, the finding classes; and the time the runs took.
fn play<S: ProxyStrategy + Clone + Send + 'static>(
    s: &S,
    cases: &[Case],
) -> (Vec<BTreeSet<BugClass>>, Duration) {
    let machine = Config::default().machine;
    let t = Instant::now();
    let out = cases
        .iter()
        .map(|case| {
            let run = run_case(&mut s.clone(), case, &machine, None);
            run.findings.iter().map(|f| f.kind).collect()
        })
        .collect();
    (out, t.elapsed())
}

fn verdict(per_case: &[BTreeSet<BugClass>]) -> String {
    let all: BTreeSet<BugClass> = per_case.iter().flatten().copied().collect();
    let failing = per_case.iter().filter(|c| !c.is_empty()).count();
    if all.is_empty() {
        "passes".into()
    } else {
        let names: Vec<String> = all.iter().map(|c| c.to_string()).collect();
        format!("fails {failing}: {}", names.join(", "))
    }
}

fn row<R: ProxyStrategy + Clone + Send + 'static>(
    native: NativeStrategy,
    rust: R,
    cases: &[Case],
) -> bool {
    let (a, ta) = play(&native, cases);
    let (b, tb) = play(&rust, cases);
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    let rate = |t: Duration| cases.len() as f64 / t.as_secs_f64();
    println!(
        "| {} | {} | {} | {} | {} | {:.0} | {:.0} |",
        rust.name(),
        native.name(),
        verdict(&a),
        verdict(&b),
        differ,
        rate(ta),
        rate(tb)
    );
    differ == 0
}

fn main() {
    let n: usize = match std::env::args()
        .nth(1)
        .map(|a| a.parse::<u32>().map(|n| n as usize))
    {
        None => 10_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: differential [cases > 0]");
            std::process::exit(2);
        }
    };
    let cases = cases(n);
    println!(
        "{n} cases per strategy, one thread; verdict: the classes found across the cases (and how many cases fail)\n"
    );
    println!(
        "| strategy (Rust) | C source | C verdict | Rust verdict | cases differing | C cases/s | Rust cases/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut ok = true;
    ok &= row(c("bounce", &[]), BounceCopy::default(), &cases);
    ok &= row(
        c("head_tail_splice", &[]),
        HeadTailSplice::default(),
        &cases,
    );
    ok &= row(c("direct_map", &[]), broken::DirectMap::default(), &cases);
    ok &= row(
        c("bounce", &["UNZEROED"]),
        broken::UnzeroedBounce::default(),
        &cases,
    );
    ok &= row(
        c("bounce", &["COPY_BACK_ALL"]),
        broken::CopyBackAll::default(),
        &cases,
    );
    ok &= row(
        c("bounce", &["SKIP_NULL_CHECK"]),
        broken::UncheckedNullMdl::default(),
        &cases,
    );
    ok &= row(
        c("bounce", &["OWN_LOCK_LEAK"]),
        broken::LeakSecondLock::default(),
        &cases,
    );
    ok &= row(
        c("head_tail_splice", &["WRITABLE_FOR_WRITES"]),
        broken::WritableWriteSplice::default(),
        &cases,
    );
    ok &= row(
        c("head_tail_splice", &["FREE_BEFORE_UNMAP"]),
        broken::FreeSubstituteWhileMapped::default(),
        &cases,
    );
    ok &= row(
        c("head_tail_splice", &["UNZEROED_SUBSTITUTES"]),
        broken::UnzeroedSubstitute::default(),
        &cases,
    );
    if !ok {
        std::process::exit(1);
    }
}
