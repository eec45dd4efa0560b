//! Scenario files: a versioned JSON format for scenarios and counter-examples
//! (`docs/scenarios.md`), what `mdlsim replay` plays and `mdlsim audit --out` writes.
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "name": "seed 000: direct map of an unaligned read",
//!   "description": "...",
//!   "seeds": ["000"],
//!   "scenario": {
//!     "kind": "case",
//!     "strategy": "DirectMap",
//!     "case": { "offset": 512, "length": 4096, "direction": "Read",
//!               "server": "Honest", "fault": "None", "seed": 0 }
//!   },
//!   "expect": { "findings": ["PartialPageExposure"] }
//! }
//! ```
//!
//! `scenario.kind` says what is played. Version 1 has one kind, `"case"`: a built-in
//! strategy ([`crate::strategy::builtins`], by name) played on one
//! [`crate::verify::Case`] by the harness's scenario runner. The kind `"ops"` (a raw
//! sequence of kernel operations, for situations no strategy describes, such as seed
//! 004's ownership questions) is reserved for the operation interpreter and is refused
//! with a clear message by this version. `expect.findings` is the exact **set** of bug
//! classes the oracle must report (empty: the scenario must pass).
//!
//! Loading never panics: a malformed or inconsistent file is a [`ScenarioError`] naming
//! the file, the line and column, and what was expected.

use crate::oracle::BugClass;
use crate::strategy::{ProxyStrategyClone, builtins};
use crate::verify::Case;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// The version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest request length a scenario may ask for (16 MiB; the harness's default
/// largest is 256 KiB).
pub const MAX_LENGTH: u32 = 16 << 20;

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Must be [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// A short title.
    pub name: String,
    /// What the scenario shows, in words.
    #[serde(default)]
    pub description: String,
    /// The seed documents it comes from (`"000"`..`"004"`).
    #[serde(default)]
    pub seeds: Vec<String>,
    /// What is played.
    pub scenario: Body,
    /// What the oracle must find.
    #[serde(default)]
    pub expect: Expect,
}

/// What a scenario plays (tagged by `kind`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// A built-in strategy on one harness case.
    Case {
        /// The strategy's name, as `mdlsim audit` lists it.
        strategy: String,
        /// The case.
        case: Case,
    },
}

/// The expected result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exact set of bug classes found (order and repetition do not matter).
    #[serde(default)]
    pub findings: Vec<BugClass>,
}

/// A scenario file that could not be used: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (as given).
    pub file: String,
    /// 1-based line, 0 when the file could not be read.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Line and column (1-based) of the first occurrence of `needle` in `text`, else 1:1.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    match text.find(needle) {
        Some(i) => {
            let before = &text[..i];
            let line = before.matches('\n').count() + 1;
            let col = before.rfind('\n').map_or(i, |n| i - n - 1) + 1;
            (line, col)
        }
        None => (1, 1),
    }
}

impl Scenario {
    /// A scenario of kind `case`.
    pub fn case(name: &str, strategy: &str, case: Case, findings: Vec<BugClass>) -> Scenario {
        let mut findings = findings;
        findings.sort();
        findings.dedup();
        Scenario {
            schema_version: SCHEMA_VERSION,
            name: name.into(),
            description: String::new(),
            seeds: Vec::new(),
            scenario: Body::Case {
                strategy: strategy.into(),
                case,
            },
            expect: Expect { findings },
        }
    }

    /// The scenario as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and checks `text` (`file` names it in errors).
    ///
    /// # Errors
    /// Malformed JSON, a missing or unknown field, a schema version other than
    /// [`SCHEMA_VERSION`], an unknown strategy.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let err = |line, column, message: String| ScenarioError {
            file: file.into(),
            line,
            column,
            message,
        };
        // The version first, so an old or future file says so rather than failing on a field.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            match v.get("schema_version") {
                Some(serde_json::Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION as u64) => {
                }
                Some(other) => {
                    let (l, c) = position_of(text, "\"schema_version\"");
                    return Err(err(
                        l,
                        c,
                        format!(
                            "schema_version is {other}; this mdlsim reads schema_version {SCHEMA_VERSION}"
                        ),
                    ));
                }
                None if v.is_object() => {
                    return Err(err(
                        1,
                        1,
                        format!("missing field `schema_version` (expected {SCHEMA_VERSION})"),
                    ));
                }
                None => {}
            }
            if let Some(k) = v
                .get("scenario")
                .and_then(|s| s.get("kind"))
                .and_then(|k| k.as_str())
            {
                if k == "ops" {
                    let (l, c) = position_of(text, "\"ops\"");
                    return Err(err(
                        l,
                        c,
                        "scenario kind \"ops\" needs the operation interpreter, which this build does not have; expected kind \"case\"".into(),
                    ));
                }
            }
        }
        let s: Scenario = serde_json::from_str(text).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    format!("malformed JSON: {e}")
                }
                _ => format!("not a scenario: {e}"),
            };
            // serde_json appends " at line L column C"; the position is given in front instead.
            let what = match what.rfind(" at line ") {
                Some(i) => what[..i].to_string(),
                None => what,
            };
            err(e.line(), e.column(), what)
        })?;
        match &s.scenario {
            Body::Case { case, .. } if case.offset >= crate::addr::PAGE_SIZE as u32 => {
                let (l, c) = position_of(text, "\"offset\"");
                return Err(err(
                    l,
                    c,
                    format!(
                        "offset {} is not a byte offset in a page; expected 0..=4095",
                        case.offset
                    ),
                ));
            }
            Body::Case { case, .. } if case.length > MAX_LENGTH => {
                let (l, c) = position_of(text, "\"length\"");
                return Err(err(
                    l,
                    c,
                    format!(
                        "length {} is larger than a scenario may ask for; expected at most {MAX_LENGTH}",
                        case.length
                    ),
                ));
            }
            Body::Case { strategy, .. } => {
                if find_strategy(strategy).is_none() {
                    let (l, c) = position_of(text, &format!("\"{strategy}\""));
                    return Err(err(
                        l,
                        c,
                        format!(
                            "unknown strategy `{strategy}`; expected one of {}",
                            strategy_names().join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(s)
    }

    /// Reads and parses a scenario file.
    ///
    /// # Errors
    /// The file cannot be read, or [`Scenario::parse`] refuses it.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the scenario file: {e}"),
        })?;
        Scenario::parse(&file, &text)
    }
}

/// The built-in strategy called `name` (as [`crate::strategy::ProxyStrategy::name`] says).
pub fn find_strategy(name: &str) -> Option<Box<dyn ProxyStrategyClone>> {
    builtins().into_iter().find(|s| s.name() == name)
}

/// The names of the built-in strategies, in [`builtins`] order.
pub fn strategy_names() -> Vec<String> {
    builtins().iter().map(|s| s.name()).collect()
}
