//! How the harness's values read in counter-examples and traces (no Rust `Debug` syntax).

use super::Counterexample;
use super::case::{Case, InjectedFault, Outcome};
use crate::oracle::BugClass;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A unit variant's name, as in the JSON.
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {} of {} byte(s) at offset {:#x}, server {}, fault {}, data seed {}",
            self.direction, self.length, self.offset, self.server, self.fault, self.seed
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.exposure {
            Some(x) => write!(f, "exposure {x}")?,
            None => write!(f, "no exposure")?,
        }
        if let Some((len, digest)) = self.view {
            write!(f, "; the server saw {len} byte(s), digest {digest:#018x}")?;
        }
        match &self.completion {
            Some(c) => write!(f, "; completed {c}")?,
            None => write!(f, "; not completed")?,
        }
        if let Some(c) = &self.crash {
            write!(f, "; crashed: {c}")?;
        }
        Ok(())
    }
}

/// The widest line a counter-example prints; longer lines wrap at a space.
pub const WIDTH: usize = 110;

/// `bytes` as `0x41 0x42` (at most 16, then how many more).
pub(crate) fn hex_bytes(bytes: &[u8]) -> String {
    let mut s: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:#04x}")).collect();
    if bytes.len() > 16 {
        s.push(format!("(+{} more)", bytes.len() - 16));
    }
    s.join(" ")
}

/// Writes `line` wrapped at spaces to [`WIDTH`] columns; continuation lines are indented
/// by `indent` plus four spaces. A word longer than the width stays whole.
fn wrapped(f: &mut fmt::Formatter<'_>, indent: &str, line: &str) -> fmt::Result {
    let lead: String = line.chars().take_while(|c| *c == ' ').collect();
    let cont = format!("{indent}{lead}    ");
    let mut cur = format!("{indent}{lead}");
    let base = cur.len();
    for word in line.trim_start_matches(' ').split(' ') {
        let at_start = cur.len() == base || cur.len() == cont.len() && cur == cont;
        if !at_start && cur.chars().count() + 1 + word.chars().count() > WIDTH {
            writeln!(f, "{cur}")?;
            cur = cont.clone();
        } else if !at_start {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    writeln!(f, "{cur}")
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        wrapped(f, "", &format!("{} fails on {}", self.strategy, self.case))?;
        wrapped(f, "", &self.seed_line())?;
        if !self.classes_seen.is_empty() {
            let seen: Vec<String> = self
                .classes_seen
                .iter()
                .map(|(k, n)| format!("{k} ({n})"))
                .collect();
            wrapped(
                f,
                "",
                &format!(
                    "classes seen in the search (failing cases): {}",
                    seen.join(", ")
                ),
            )?;
        }
        writeln!(f, "replay: {}", self.case.to_json())?;
        if let Some(p) = &self.saved_to {
            wrapped(
                f,
                "",
                &format!("saved to {} (replayed first on the next run)", p.display()),
            )?;
        }
        writeln!(f, "findings:")?;
        for x in &self.findings {
            wrapped(f, "  ", &format!("- {x}"))?;
        }
        writeln!(f, "trace:")?;
        for t in &self.trace {
            wrapped(f, "  ", t)?;
        }
        if let Some(i) = &self.interleaving {
            wrapped(
                f,
                "",
                &format!(
                    "interleaving: {} writes {} at {} before step {} (fetches at steps {} and {}); outcome {}",
                    i.write.tid,
                    hex_bytes(&i.write.data),
                    i.write.va,
                    i.write.before_step,
                    i.fetches.first,
                    i.fetches.second,
                    if i.outcome_differs {
                        "differs"
                    } else {
                        "is the same"
                    }
                ),
            )?;
            wrapped(f, "  ", &format!("without: {}", i.original))?;
            wrapped(f, "  ", &format!("with:    {}", i.interleaved))?;
        }
        Ok(())
    }
}

/// A finding as JSON: addresses and provenance as text, in hex.
#[derive(Serialize)]
struct FindingJson<'a> {
    kind: BugClass,
    rule: crate::oracle::Rule,
    step: Option<u64>,
    addresses: Vec<String>,
    provenance: Vec<String>,
    detail: &'a str,
}

/// The interleaving as JSON.
#[derive(Serialize)]
struct InterleavingJson {
    thread: String,
    writes: String,
    at: String,
    before_step: u64,
    fetches: (u64, u64),
    without: String,
    with: String,
    outcome_differs: bool,
}

impl Counterexample {
    /// Where the search found the case, and how to find it again.
    fn seed_line(&self) -> String {
        let found = match self.case_index {
            Some(i) => format!(", generated case {i}"),
            None => String::new(),
        };
        match self.shard {
            None => format!(
                "seed: {}{found} (the same seed finds the same case: MDLSIM_SEED={} or Config::seed)",
                self.seed, self.seed
            ),
            Some(s) => format!(
                "seed: {}{found} of shard {s} (the same seed and shard find the same case: MDLSIM_SEED={} MDLSIM_SHARD={s}; the replay line needs neither)",
                self.seed, self.seed
            ),
        }
    }
}

/// A counter-example as JSON ([`Counterexample::to_json`]).
#[derive(Serialize)]
pub(crate) struct Json<'a> {
    strategy: &'a str,
    seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    case_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<String>,
    classes_seen: &'a BTreeMap<BugClass, u32>,
    case: &'a Case,
    saved_to: Option<String>,
    findings: Vec<FindingJson<'a>>,
    trace: &'a [String],
    interleaving: Option<InterleavingJson>,
}

impl<'a> Json<'a> {
    pub(crate) fn of(cx: &'a Counterexample) -> Self {
        Json {
            strategy: &cx.strategy,
            seed: cx.seed,
            case_index: cx.case_index,
            shard: cx.shard.map(|s| s.to_string()),
            classes_seen: &cx.classes_seen,
            case: &cx.case,
            saved_to: cx.saved_to.as_ref().map(|p| p.display().to_string()),
            findings: cx
                .findings
                .iter()
                .map(|x| FindingJson {
                    kind: x.kind,
                    rule: x.rule,
                    step: x.step,
                    addresses: x
                        .addresses
                        .iter()
                        .map(|(s, v)| format!("{s} {v}"))
                        .collect(),
                    provenance: x.provenance.iter().map(|l| l.to_string()).collect(),
                    detail: &x.detail,
                })
                .collect(),
            trace: &cx.trace,
            interleaving: cx.interleaving.as_ref().map(|i| InterleavingJson {
                thread: i.write.tid.to_string(),
                writes: hex_bytes(&i.write.data),
                at: i.write.va.to_string(),
                before_step: i.write.before_step,
                fetches: (i.fetches.first, i.fetches.second),
                without: i.original.to_string(),
                with: i.interleaved.to_string(),
                outcome_differs: i.outcome_differs,
            }),
        }
    }
}
