//! Replaying a scenario file (`docs/scenarios.md`), what `mdlsim replay` does, as library
//! functions:
//!
//! * [`replay`] loads and plays a file, [`play`] a parsed [`Scenario`]: a `"case"` through
//!   the harness's runner ([`crate::verify::run_case_mapped`]) with its page map
//!   ([`crate::pagemap`]); an `"ops"` scenario op by op through one
//!   [`crate::op::Interpreter`] ([`play_ops`]), with its final state and whether its
//!   expectations held;
//! * [`Replayed`] says which bug classes were found and whether that is what the file
//!   expects ([`Replayed::mismatch`] says why not, in one line);
//! * [`render_replay`] (and [`render_ops`]) is the replay as text: the steps with the
//!   findings made at each, the verdict, the page map.
//!
//! ```
//! let file = |n: &str| format!("{}/examples/scenarios/{n}", env!("CARGO_MANIFEST_DIR"));
//! let r = mdlsim::replay::replay(file("seed000-directmap-read.json").as_ref()).unwrap();
//! assert!(r.as_expected && !r.found.is_empty());
//! assert!(mdlsim::replay::render_replay(&r, false).contains("forbidden bytes visible"));
//! ```

mod ops;

pub use ops::{OpStep, OpsRun, outcome_text, play_ops, render_ops};

use crate::oracle::BugClass;
use crate::scenario::{Body, Builtins, Scenario, ScenarioError, StrategyLookup};
use crate::verify;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// A scenario that parsed but cannot be played: `file` and why, with no position (the
/// op's index, or the field, is in the message).
fn refused(file: &str, message: String) -> ScenarioError {
    ScenarioError {
        file: file.into(),
        line: 0,
        column: 0,
        message,
    }
}

/// What replaying a scenario produced, by kind.
#[derive(Clone, Debug)]
pub enum Run {
    /// A `"case"`: the harness runner's trace, findings and page map.
    Case(verify::CaseRun),
    /// An `"ops"` scenario: each op's outcome and findings, the final state.
    Ops(OpsRun),
}

impl Run {
    /// Every finding made.
    pub fn findings(&self) -> Vec<&crate::oracle::Finding> {
        match self {
            Run::Case(r) => r.findings.iter().collect(),
            Run::Ops(r) => r.findings().collect(),
        }
    }

    /// The page map (only a `"case"` has one).
    pub fn page_map(&self) -> Option<&crate::pagemap::PageMap> {
        match self {
            Run::Case(r) => r.page_map.as_ref(),
            Run::Ops(_) => None,
        }
    }
}

/// The result of replaying a scenario.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The scenario.
    pub scenario: Scenario,
    /// What the runner produced.
    pub run: Run,
    /// The classes found.
    pub found: Vec<BugClass>,
    /// Whether they are exactly the expected set and, for an `"ops"` scenario, every
    /// other expectation held.
    pub as_expected: bool,
}

impl Replayed {
    /// Why it is not as expected, in one line (`None` when it is).
    pub fn mismatch(&self) -> Option<String> {
        if self.as_expected {
            return None;
        }
        let mut exp = self.scenario.expect.findings.clone();
        exp.sort();
        exp.dedup();
        let mut why = Vec::new();
        if self.found != exp {
            why.push(format!(
                "findings: {} found, {} expected",
                class_list(&self.found),
                class_list(&exp)
            ));
        }
        if let Run::Ops(r) = &self.run {
            why.extend(r.mismatches.iter().cloned());
        }
        Some(why.join("; "))
    }
}

/// How a replay runs: what the player, not the scenario file, decides.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayOptions {
    /// The host-memory budget of the machine the scenario plays on
    /// ([`crate::Config::host_memory_limit_bytes`]; a file cannot raise it).
    pub host_memory_limit: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            host_memory_limit: crate::machine::DEFAULT_HOST_MEMORY_LIMIT,
        }
    }
}

impl ReplayOptions {
    /// Sets the host-memory budget in bytes.
    pub fn host_memory_limit(mut self, bytes: u64) -> Self {
        self.host_memory_limit = bytes;
        self
    }
}

/// Loads and plays a scenario file.
///
/// # Errors
/// The file is missing, malformed or inconsistent ([`ScenarioError`]).
pub fn replay(path: &Path) -> Result<Replayed, ScenarioError> {
    replay_with(path, &ReplayOptions::default())
}

/// [`replay`] with options (the host-memory budget).
///
/// # Errors
/// As [`replay`].
pub fn replay_with(path: &Path, opts: &ReplayOptions) -> Result<Replayed, ScenarioError> {
    replay_using(path, opts, &Builtins)
}

/// [`replay_with`] with a `"case"`'s strategy looked up in `strategies` (a program's own
/// strategies, [`StrategyLookup`]) rather than among the built-ins.
///
/// # Errors
/// As [`replay`]; an unknown strategy lists `strategies.names()`.
pub fn replay_using(
    path: &Path,
    opts: &ReplayOptions,
    strategies: &dyn StrategyLookup,
) -> Result<Replayed, ScenarioError> {
    let sc = Scenario::load_using(path, strategies)?;
    play_using(sc, &path.display().to_string(), opts, strategies)
}

/// Plays a parsed scenario (`file` names it in errors): what [`replay`] does once the
/// file is loaded.
///
/// # Errors
/// The scenario names a strategy that does not exist, or (kind `"ops"`) an op names an
/// object that does not exist at that point.
pub fn play(scenario: Scenario, file: &str) -> Result<Replayed, ScenarioError> {
    play_with(scenario, file, &ReplayOptions::default())
}

/// [`play`] with options (the host-memory budget).
///
/// # Errors
/// As [`play`].
pub fn play_with(
    scenario: Scenario,
    file: &str,
    opts: &ReplayOptions,
) -> Result<Replayed, ScenarioError> {
    play_using(scenario, file, opts, &Builtins)
}

/// [`play_with`] with a `"case"`'s strategy looked up in `strategies`.
///
/// # Errors
/// As [`play`]; an unknown strategy lists `strategies.names()`.
pub fn play_using(
    scenario: Scenario,
    file: &str,
    opts: &ReplayOptions,
    strategies: &dyn StrategyLookup,
) -> Result<Replayed, ScenarioError> {
    let run = match &scenario.scenario {
        Body::Case { strategy, case } => {
            let mut s = strategies.find(strategy).ok_or_else(|| {
                refused(
                    file,
                    format!(
                        "unknown strategy `{strategy}`; expected one of {}",
                        strategies.names().join(", ")
                    ),
                )
            })?;
            let config = crate::Config::default().host_memory_limit(opts.host_memory_limit);
            Run::Case(verify::run_case_mapped(&mut s, case, &config))
        }
        Body::Ops { machine, ops } => {
            let config = machine.config().host_memory_limit(opts.host_memory_limit);
            Run::Ops(play_ops(&config, ops, &scenario.expect, file)?)
        }
    };
    let found: Vec<BugClass> = run
        .findings()
        .iter()
        .map(|f| f.kind)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let expected: BTreeSet<BugClass> = scenario.expect.findings.iter().copied().collect();
    let as_expected = found.iter().copied().collect::<BTreeSet<_>>() == expected
        && match &run {
            Run::Ops(r) => r.mismatches.is_empty(),
            Run::Case(_) => true,
        };
    Ok(Replayed {
        scenario,
        run,
        found,
        as_expected,
    })
}

/// Bug classes as a comma-separated list, `none` for none.
pub(crate) fn class_list(v: &[BugClass]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The step number a trace line talks about (`step N` or `steps A..B`, the last one).
fn trace_step(line: &str) -> Option<u64> {
    let rest = line
        .strip_prefix("steps ")
        .or_else(|| line.strip_prefix("step "))?;
    let head: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    head.rsplit("..").next()?.parse().ok()
}

/// A replay as text: the steps with the findings made at each, the verdict, the page map.
pub fn render_replay(r: &Replayed, colour: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario: {}", r.scenario.name);
    if !r.scenario.description.is_empty() {
        let _ = writeln!(s, "  {}", r.scenario.description);
    }
    let (strategy, case, run) = match (&r.scenario.scenario, &r.run) {
        (Body::Case { strategy, case }, Run::Case(run)) => (strategy, case, run),
        (Body::Ops { machine, ops }, Run::Ops(run)) => {
            let _ = writeln!(
                s,
                "{} ops on a machine {}",
                ops.len(),
                if machine.is_default() {
                    "with the default configuration".to_string()
                } else {
                    serde_json::to_string(machine).unwrap_or_default()
                }
            );
            s.push_str(&render_ops(
                run,
                &r.scenario.expect,
                &r.found,
                r.mismatch().as_deref(),
            ));
            return s;
        }
        _ => {
            let _ = writeln!(s, "(the run does not match the scenario's kind)");
            return s;
        }
    };
    let _ = writeln!(s, "strategy {strategy}, case {}", case.to_json());
    render_trace(&mut s, run);
    render_verdict(&mut s, r, run, colour);
    s
}

/// A case's trace, each finding under the line of the step it was made at (findings
/// with no step last).
fn render_trace(s: &mut String, run: &verify::CaseRun) {
    let mut shown = vec![false; run.findings.len()];
    let steps: Vec<Option<u64>> = run.trace.iter().map(|t| trace_step(t)).collect();
    for (i, t) in run.trace.iter().enumerate() {
        let _ = writeln!(s, "  {t}");
        // Findings made up to this line's step and before the next line's.
        let upto = steps[i];
        let next = steps[i + 1..].iter().flatten().next().copied();
        for (j, f) in run.findings.iter().enumerate() {
            if shown[j] {
                continue;
            }
            let at = f.step.unwrap_or(u64::MAX);
            if upto.is_some_and(|u| at <= u) || (upto.is_some() && next.is_none_or(|n| at < n)) {
                let _ = writeln!(s, "    -> finding {f}");
                shown[j] = true;
            }
        }
    }
    for (j, f) in run.findings.iter().enumerate() {
        if !shown[j] {
            let _ = writeln!(s, "    -> finding {f}");
        }
    }
}

/// A case's findings against the expected ones, then its page map.
fn render_verdict(s: &mut String, r: &Replayed, run: &verify::CaseRun, colour: bool) {
    let list = class_list;
    let mut exp = r.scenario.expect.findings.clone();
    exp.sort();
    exp.dedup();
    let _ = writeln!(
        s,
        "findings: {} (expected {}) -> {}",
        list(&r.found),
        list(&exp),
        if r.as_expected {
            "as expected"
        } else {
            "NOT as expected"
        }
    );
    match &run.page_map {
        Some(pm) if !pm.rows.is_empty() => {
            s.push('\n');
            s.push_str(&pm.render_text(colour));
        }
        _ => {
            let _ = writeln!(s, "\n(no page map: the request never reached expose)");
        }
    }
}
