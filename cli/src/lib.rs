//! The `mdlsim` command line (package `mdlsim-cli`) as a library: [`Cli`] is the whole
//! command over a [`Registry`] of strategies (the built-ins, the zoo, and a program's own:
//! `Cli::new().strategy(MySplice::default()).run_from_env()` in a program's `main` gives
//! it `audit`, `replay`, `explain` and `bench-report` over its code; the `mdlsim`
//! binary is `Cli::new().run_from_env()`). The model, the oracle, `verify`, scenario
//! files and their replay are the `mdlsim` library.
//!
//! * [`audit`] / [`audit_using`]: the built-ins (and a registry's own strategies, with
//!   the zoo's on request), both directions, through [`mdlsim::verify`]; the
//!   matrix strategy × rule ([`render_matrix`]), a one-line counter-example per failure,
//!   failing cases written as scenario files ([`mdlsim::scenario`]);
//! * `replay` is [`mdlsim::replay`]: one scenario file, step by step, with its findings
//!   and, for a `"case"`, its page map ([`mdlsim::pagemap`]); an `"ops"` scenario prints
//!   each op, its outcome and findings, and whether its expectations held;
//! * [`explain`]: a bug class, the real-world situations behind it, and a scenario that shows it;
//! * [`bench_report`]: `docs/performance.md` and its plot from criterion's estimates.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod args;
pub mod bench_report;
pub mod drivers;
mod explain;
mod matrix;
mod progress;
mod registry;
pub mod template;

pub use matrix::render_matrix;

pub use app::{Cli, use_colour};
pub use progress::Progress;
pub use registry::{Origin, Registry};

pub use args::{
    MAX_CASES, MIN_MEMORY_LIMIT, check_cases, parse_cases, parse_jobs, parse_memory_limit,
    parse_seed,
};
pub use explain::{EXAMPLES, RELATED, example, explain, explain_all_classes};

use mdlsim::oracle::{BugClass, Rule};
use mdlsim::scenario::{Scenario, ScenarioError};
use mdlsim::strategy::{Direction, ProxyStrategyClone};
use mdlsim::verify::{self, Case};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A user error: one line, exit status 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ScenarioError> for CliError {
    fn from(e: ScenarioError) -> Self {
        CliError(e.to_string())
    }
}

/// Every oracle rule, in matrix column order.
pub const RULES: [Rule; 7] = [
    Rule::ConfidentialityToServer,
    Rule::ConfidentialityToClient,
    Rule::Integrity,
    Rule::Delivery,
    Rule::Hygiene,
    Rule::Protocol,
    Rule::DoubleFetch,
];

pub(crate) fn rule_short(r: Rule) -> &'static str {
    match r {
        Rule::ConfidentialityToServer => "conf->srv",
        Rule::ConfidentialityToClient => "conf->cli",
        Rule::Integrity => "integrity",
        Rule::Delivery => "delivery",
        Rule::Hygiene => "hygiene",
        Rule::Protocol => "protocol",
        Rule::DoubleFetch => "dbl-fetch",
    }
}

/// What `mdlsim audit` runs.
#[derive(Clone, Debug, Default)]
pub struct AuditOptions {
    /// Cases per strategy and direction, 1..=[`MAX_CASES`] (default: the harness's, 2,000,
    /// or `MDLSIM_CASES`).
    pub cases: Option<u32>,
    /// Generator seed (default: the harness's fixed seed, or `MDLSIM_SEED`).
    pub seed: Option<u64>,
    /// Only this strategy (any spelling [`Registry::resolve`] accepts).
    pub strategy: Option<String>,
    /// Also the zoo's strategies ([`Origin::Zoo`]) when no strategy is named.
    pub zoo: bool,
    /// Where to write failing cases as scenario files.
    pub out: Option<PathBuf>,
    /// Worker threads (0: the machine's parallelism).
    pub jobs: usize,
    /// Host-memory budget of each case's machine in bytes (default
    /// [`mdlsim::machine::DEFAULT_HOST_MEMORY_LIMIT`]).
    pub memory_limit: Option<u64>,
}

/// One strategy in one direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// The strategy.
    pub strategy: String,
    /// The direction.
    pub direction: Direction,
    /// Whether every case passed.
    pub passed: bool,
    /// Cases run, when it passed (a failing run stops at its first counter-example and
    /// has none: the field is left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<u32>,
    /// The rules the counter-example breaks.
    pub failed_rules: Vec<Rule>,
    /// The bug classes it shows.
    pub classes: Vec<BugClass>,
    /// The shrunk case.
    pub case: Option<Case>,
    /// The counter-example as a scenario (the scenario file's schema, docs/scenarios.md):
    /// what `--out` writes, replayable once saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Scenario>,
    /// The counter-example in one line (the case and its first finding, in full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The scenario file written for it.
    pub scenario_file: Option<String>,
}

/// A strategy's verdict against its documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The strategy.
    pub strategy: String,
    /// `None`: documented correct; else the bug class it is documented to show.
    pub documented: Option<BugClass>,
    /// Whether any direction failed.
    pub failed: bool,
    /// Whether the result matches the documentation (correct passes; broken fails).
    pub as_documented: bool,
    /// A remark (e.g. a broken strategy caught with another class than documented).
    pub note: String,
}

/// The whole audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// Cases per strategy and direction.
    pub cases: u32,
    /// The generator's seed.
    pub seed: u64,
    /// Strategy × direction, in [`Registry`] order, Read first.
    pub rows: Vec<AuditRow>,
    /// One per strategy.
    pub verdicts: Vec<Verdict>,
    /// The driver zoo through the driver harness (when no strategy is named).
    #[serde(default)]
    pub drivers: Vec<drivers::DriverVerdict>,
}

impl AuditReport {
    /// Whether every strategy behaved as documented (the exit status).
    pub fn all_as_documented(&self) -> bool {
        self.verdicts.iter().all(|v| v.as_documented)
            && self.drivers.iter().all(|d| d.as_documented)
    }
}

/// The counter-example in one line: the case and one finding (of class `prefer` if any).
fn one_line(cx: &verify::Counterexample, prefer: Option<BugClass>) -> String {
    let c = &cx.case;
    let first = cx
        .findings
        .iter()
        .find(|f| Some(f.kind) == prefer)
        .or(cx.findings.first())
        .map(|f| format!("{}: {}", f.kind, f.detail))
        .unwrap_or_default();
    format!(
        "{} offset {:#x} length {:#x} server {} fault {}: {first}",
        c.direction, c.offset, c.length, c.server, c.fault
    )
}

/// The scenario file's name for `strategy` in direction `d`: a program's strategy may be
/// called anything, so only letters, digits and `()+-_` are kept (others become `_`).
fn file_stem(strategy: &str, d: Direction) -> String {
    let d = match d {
        Direction::Read => "read",
        Direction::Write => "write",
    };
    let safe: String = strategy
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "()+-_".contains(c) => c,
            _ => '_',
        })
        .collect();
    format!("{safe}-{d}")
}

/// The strategies an audit runs: the built-ins, or the one named (through
/// [`Registry::standard`]; [`Registry::select`] for another registry).
///
/// # Errors
/// An unknown name, listing the known ones.
pub fn select(strategy: Option<&str>) -> Result<Vec<Box<dyn ProxyStrategyClone>>, CliError> {
    let r = Registry::standard();
    Ok(r.select(strategy, false)?
        .iter()
        .filter_map(|n| r.fresh(n))
        .collect())
}

/// One finished job: its row and, for a failure, the counter-example.
type Slot = Option<(AuditRow, Option<verify::Counterexample>)>;

/// Runs the audit of [`Registry::standard`]'s strategies, reporting its [`Progress`].
///
/// # Errors
/// As [`audit_using`].
pub fn audit(
    opts: &AuditOptions,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<AuditReport, CliError> {
    audit_using(opts, &Registry::standard(), progress)
}

/// Runs the audit of `registry`'s strategies ([`Registry::select`]); `progress` hears
/// the cases run (from the calling thread, about every 50 ms and once at the end) and
/// every finished (strategy, direction) (from a worker).
///
/// # Errors
/// An unknown strategy; a number of cases outside 1..=[`MAX_CASES`] (from the options
/// or `MDLSIM_CASES`: no cases would prove nothing, and every broken strategy would
/// "pass"); an output folder that cannot be written.
pub fn audit_using(
    opts: &AuditOptions,
    registry: &Registry,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<AuditReport, CliError> {
    let names = registry.select(opts.strategy.as_deref(), opts.zoo)?;
    let base = audit_config(opts)?;
    let jobs: Vec<(usize, Direction)> = (0..names.len())
        .flat_map(|i| [(i, Direction::Read), (i, Direction::Write)])
        .collect();
    let results: Mutex<Vec<Slot>> = Mutex::new(vec![None; jobs.len()]);
    let next = AtomicUsize::new(0);
    let workers = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.jobs
    }
    .min(jobs.len())
    .max(1);
    let total = Arc::new(AtomicU64::new(0));
    let live = AtomicUsize::new(workers);
    std::thread::scope(|sc| {
        for _ in 0..workers {
            sc.spawn(|| {
                loop {
                    let j = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(si, d)) = jobs.get(j) else { break };
                    // Strategies are not `Sync`: each worker makes its own.
                    let Some(s) = registry.fresh(&names[si]) else {
                        continue;
                    };
                    let counter = progress::Counter::new(base.cases.into(), Arc::clone(&total));
                    let row = audit_one(progress::ticking(s, Arc::clone(&counter)), d, &base);
                    counter.finish();
                    let name = row.0.strategy.clone();
                    if let Ok(mut r) = results.lock() {
                        r[j] = Some(row);
                    }
                    progress(Progress::Finished(&name, d));
                }
                live.fetch_sub(1, Ordering::SeqCst);
            });
        }
        while live.load(Ordering::SeqCst) > 0 {
            progress(Progress::Cases(total.load(Ordering::Relaxed)));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    progress(Progress::Cases(total.load(Ordering::Relaxed)));
    let results = results.into_inner().unwrap_or_default();
    let mut rows = Vec::new();
    for (row, cx) in results.into_iter().flatten() {
        let mut row = row;
        if let Some(cx) = cx {
            let sc = counterexample_scenario(&row, cx, &base);
            if let Some(dir) = &opts.out {
                row.scenario_file = Some(write_counterexample(dir, &row, &sc)?);
            }
            row.counterexample = Some(sc);
        }
        rows.push(row);
    }
    let verdicts = names
        .iter()
        .filter_map(|n| registry.fresh(n))
        .map(|s| verdict(s.as_ref(), &rows))
        .collect();
    let drivers = if opts.strategy.is_none() {
        drivers::audit_drivers(&base)
    } else {
        Vec::new()
    };
    Ok(AuditReport {
        cases: base.cases,
        seed: base.seed.unwrap_or(AUDIT_SEED),
        rows,
        verdicts,
        drivers,
    })
}

/// The audit's seed unless `--seed` or `MDLSIM_SEED` gives one.
pub const AUDIT_SEED: u64 = 0x6d64_6c73_696d;

/// The harness configuration the options ask for, its number of cases checked
/// ([`check_cases`]), and the output folder created.
fn audit_config(opts: &AuditOptions) -> Result<verify::Config, CliError> {
    // The audit's default seed is fixed (a report is reproducible without `--seed`; the
    // library's default draws a fresh one per run), and it writes no regressions file
    // (its counter-examples go to `--out`).
    // Its workers run one strategy and direction each, so each run keeps to one thread;
    // and it plays whole campaigns (no `MDLSIM_SHARD`).
    let mut base = verify::Config::default()
        .seed(AUDIT_SEED)
        .effective()
        .ignore_env()
        .no_regressions()
        .threads(1);
    base.shard = None;
    if let Some(n) = opts.cases {
        base = base.cases(n);
    }
    if let Some(s) = opts.seed {
        base = base.seed(s);
    }
    if let Some(bytes) = opts.memory_limit {
        base.machine = base.machine.clone().host_memory_limit(bytes);
    }
    check_cases(base.cases).map_err(|why| {
        CliError(match opts.cases {
            Some(n) => format!("--cases {n}: {why}"),
            None => format!("MDLSIM_CASES={}: {why}", base.cases),
        })
    })?;
    if let Some(dir) = &opts.out {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError(format!(
                "{}: cannot create the output folder: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(base)
}

/// Verifies strategy `s` in direction `d`: its row and, for a failure, the
/// counter-example. A broken strategy first caught with another class than documented is
/// searched again for the documented one, which is shown when found.
fn audit_one(
    s: Box<dyn ProxyStrategyClone>,
    d: Direction,
    base: &verify::Config,
) -> (AuditRow, Option<verify::Counterexample>) {
    let cfg = base.clone().direction(d);
    let name = s.name();
    match verify::verify(&s, &cfg) {
        Ok(r) => (
            AuditRow {
                strategy: name,
                direction: d,
                passed: true,
                cases: Some(r.cases),
                failed_rules: Vec::new(),
                classes: Vec::new(),
                case: None,
                counterexample: None,
                summary: None,
                scenario_file: None,
            },
            None,
        ),
        Err(first) => {
            let mut rules: BTreeSet<Rule> = first.findings.iter().map(|f| f.rule).collect();
            let mut classes: BTreeSet<BugClass> = first.findings.iter().map(|f| f.kind).collect();
            let mut cx = first;
            if let Some(k) = s.expected().filter(|k| !cx.has(*k)) {
                if let Err(cx2) = verify::verify(&s, &cfg.clone().focus(&[k])) {
                    rules.extend(cx2.findings.iter().map(|f| f.rule));
                    classes.extend(cx2.findings.iter().map(|f| f.kind));
                    cx = cx2;
                }
            }
            (
                AuditRow {
                    strategy: name,
                    direction: d,
                    passed: false,
                    cases: None,
                    failed_rules: rules.into_iter().collect(),
                    classes: classes.into_iter().collect(),
                    case: Some(cx.case),
                    counterexample: None,
                    summary: Some(one_line(&cx, s.expected())),
                    scenario_file: None,
                },
                Some(cx),
            )
        }
    }
}

/// `row`'s counter-example as a scenario: the case, the classes found, how it was found.
fn counterexample_scenario(
    row: &AuditRow,
    cx: verify::Counterexample,
    base: &verify::Config,
) -> Scenario {
    let mut sc = Scenario::case(
        &format!("{} fails ({})", row.strategy, row.direction),
        &row.strategy,
        cx.case,
        cx.findings.iter().map(|f| f.kind).collect(),
    );
    sc.description = format!(
        "Counter-example found by `mdlsim audit --seed {} --cases {}`: {}",
        base.seed.unwrap_or(AUDIT_SEED),
        base.cases,
        row.summary.clone().unwrap_or_default()
    );
    sc
}

/// Writes scenario `sc` of `row` as a file in `dir`; returns its path.
fn write_counterexample(
    dir: &std::path::Path,
    row: &AuditRow,
    sc: &Scenario,
) -> Result<String, CliError> {
    let path = dir.join(format!("{}.json", file_stem(&row.strategy, row.direction)));
    std::fs::write(&path, sc.to_json() + "\n").map_err(|e| {
        CliError(format!(
            "{}: cannot write the scenario file: {e}",
            path.display()
        ))
    })?;
    Ok(path.display().to_string())
}

/// Whether strategy `s` behaved as documented over its `rows` (both directions).
fn verdict(s: &dyn ProxyStrategyClone, rows: &[AuditRow]) -> Verdict {
    let name = s.name();
    let mine: Vec<&AuditRow> = rows.iter().filter(|r| r.strategy == name).collect();
    let failed = mine.iter().any(|r| !r.passed);
    let documented = s.expected();
    let found: BTreeSet<BugClass> = mine
        .iter()
        .flat_map(|r| r.classes.iter().copied())
        .collect();
    let (as_documented, note) = match (documented, failed) {
        (None, false) => (true, "correct, as documented".to_string()),
        (None, true) => (false, "documented correct, but FAILS".to_string()),
        (Some(k), false) => (false, format!("documented broken ({k}), but PASSES")),
        (Some(k), true) if found.contains(&k) => (true, format!("broken, caught as {k}")),
        (Some(k), true) => (
            true,
            format!(
                "broken, caught, but as {} (documented {k})",
                found
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    Verdict {
        strategy: name,
        documented,
        failed,
        as_documented,
        note,
    }
}

/// Parses a bug class name (case-insensitive).
///
/// # Errors
/// An unknown name, listing the known ones.
pub fn parse_class(name: &str) -> Result<BugClass, CliError> {
    explain_all_classes()
        .into_iter()
        .find(|c| c.to_string().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            CliError(format!(
                "unknown bug class `{name}`; expected one of {}",
                explain_all_classes()
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}
