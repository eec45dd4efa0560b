//! The phases of [`Scenario::parse`]: the size, the schema version, the typed reading (with
//! a precise position for an error inside the body), and the body's consistency.

use super::StrategyLookup;
use super::check::check_ops;
use super::{
    Body, MAX_FILE_BYTES, MAX_LENGTH, MachineConfig, SCHEMA_VERSION, Scenario, ScenarioError,
};
use crate::op::Op;
use crate::verify::Case;
use serde::Deserialize;

/// One scenario text being parsed, and the file that names it in errors.
pub(super) struct Parse<'a> {
    /// The file (as given).
    pub(super) file: &'a str,
    /// Its text.
    pub(super) text: &'a str,
    /// Where a `"case"`'s strategy name is looked up.
    pub(super) strategies: &'a dyn StrategyLookup,
}

/// What the untyped reading learnt before the typed one: the body's kind, and whether
/// the text is JSON at all.
#[derive(Default)]
pub(super) struct Header {
    kind: Option<String>,
    is_json: bool,
}

impl Parse<'_> {
    /// An error at `line`:`column` of the file.
    fn err(&self, line: usize, column: usize, message: String) -> ScenarioError {
        ScenarioError {
            file: self.file.into(),
            line,
            column,
            message,
        }
    }

    /// An error at the first occurrence of `needle` in the text.
    fn err_at(&self, needle: &str, message: String) -> ScenarioError {
        let (l, c) = position_of(self.text, needle);
        self.err(l, c, message)
    }

    /// Refuses a text over [`MAX_FILE_BYTES`].
    pub(super) fn within_size(&self) -> Result<(), ScenarioError> {
        if self.text.len() as u64 > MAX_FILE_BYTES {
            return Err(self.err(
                0,
                0,
                format!(
                    "{} bytes; a scenario file holds at most {MAX_FILE_BYTES}",
                    self.text.len()
                ),
            ));
        }
        Ok(())
    }

    /// Reads the version first, so an old or future file says so rather than failing on
    /// a field.
    pub(super) fn header(&self) -> Result<Header, ScenarioError> {
        let mut head = Header::default();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(self.text) {
            head.is_json = true;
            head.kind = v
                .pointer("/scenario/kind")
                .and_then(|k| k.as_str())
                .map(str::to_string);
            match v.get("schema_version") {
                Some(serde_json::Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION as u64) => {
                }
                Some(other) => {
                    return Err(self.err_at(
                        "\"schema_version\"",
                        format!(
                            "schema_version is {other}; this mdlsim reads schema_version {SCHEMA_VERSION}"
                        ),
                    ));
                }
                None if v.is_object() => {
                    return Err(self.err(
                        1,
                        1,
                        format!("missing field `schema_version` (expected {SCHEMA_VERSION})"),
                    ));
                }
                None => {}
            }
        }
        Ok(head)
    }

    /// The typed reading; an error says where and what was expected.
    pub(super) fn typed(&self, head: &Header) -> Result<Scenario, ScenarioError> {
        let text = self.text;
        serde_json::from_str(text).map_err(|e| {
            // An internally tagged body is buffered before it is read, so an error inside
            // it is reported at the body's end. Read its parts again untagged, where
            // serde_json knows the position of the bad op or field.
            let e = match (head.kind.as_deref(), e.classify()) {
                (Some("ops"), serde_json::error::Category::Data) => {
                    serde_json::from_str::<OpsProbe>(text).err().unwrap_or(e)
                }
                (Some("case"), serde_json::error::Category::Data) => {
                    serde_json::from_str::<CaseProbe>(text).err().unwrap_or(e)
                }
                _ => e,
            };
            // serde_json appends " at line L column C"; the position is given in front instead.
            let msg = e.to_string();
            let msg = match msg.rfind(" at line ") {
                Some(i) => &msg[..i],
                None => &msg,
            };
            let what = match e.classify() {
                // Well-formed JSON the typed reading stops in: an object that must have
                // one key (an op, its operation, an address, an index, `reads`) has more;
                // the position is the end of its first entry.
                serde_json::error::Category::Syntax if head.is_json => format!(
                    "not a scenario: {msg} (an object naming a variant, such as an op, has exactly one key)"
                ),
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    format!("malformed JSON: {msg}")
                }
                _ => format!("not a scenario: {msg}"),
            };
            self.err(e.line(), e.column(), what)
        })
    }

    /// Checks what the typed reading cannot: a `"case"` body's offset, length, strategy
    /// and expectations, an `"ops"` body's limits and references ([`check_ops`]).
    pub(super) fn consistent(&self, s: &Scenario) -> Result<(), ScenarioError> {
        match &s.scenario {
            Body::Case { case, .. } if case.offset >= crate::addr::PAGE_SIZE as u32 => {
                Err(self.err_at(
                    "\"offset\"",
                    format!(
                        "offset {} is not a byte offset in a page; expected 0..=4095",
                        case.offset
                    ),
                ))
            }
            Body::Case { case, .. } if case.length > MAX_LENGTH => Err(self.err_at(
                "\"length\"",
                format!(
                    "length {} is larger than a scenario may ask for; expected at most {MAX_LENGTH}",
                    case.length
                ),
            )),
            Body::Case { strategy, .. } => self.case_strategy(strategy, s),
            Body::Ops { machine, ops } => match check_ops(machine, ops, &s.expect) {
                Some((needle, message)) => {
                    // `"op": 7` as the examples write it, or `"op":7`.
                    let needle = match self.text.contains(&needle) {
                        true => needle,
                        false => needle.replace(": ", ":"),
                    };
                    Err(self.err_at(&needle, message))
                }
                None => Ok(()),
            },
        }
    }

    /// A `"case"` body names a known strategy and expects `findings` only.
    fn case_strategy(&self, strategy: &str, s: &Scenario) -> Result<(), ScenarioError> {
        if self.strategies.find(strategy).is_none() {
            return Err(self.err_at(
                &format!("\"{strategy}\""),
                format!(
                    "unknown strategy `{strategy}`; expected one of {}",
                    self.strategies.names().join(", ")
                ),
            ));
        }
        if let Some(f) = s.expect.ops_only_fields().first() {
            return Err(self.err_at(
                &format!("\"{f}\""),
                format!(
                    "expect.{f} applies to scenario kind \"ops\"; a \"case\" scenario expects `findings` only"
                ),
            ));
        }
        Ok(())
    }
}

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

/// The parts of an `"ops"` scenario read untagged, only to locate a data error
/// precisely (unknown fields outside the body are the main parse's business).
#[derive(Deserialize)]
struct OpsProbe {
    #[serde(rename = "scenario")]
    _scenario: OpsProbeBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpsProbeBody {
    #[serde(rename = "kind")]
    _kind: OpsKind,
    #[serde(default, rename = "machine")]
    _machine: MachineConfig,
    #[serde(rename = "ops")]
    _ops: Vec<Op>,
}

/// `"ops"` (the probe is read only for that kind).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum OpsKind {
    Ops,
}

/// The body of a `"case"` scenario read untagged, as [`OpsProbe`] for `"ops"`.
#[derive(Deserialize)]
struct CaseProbe {
    #[serde(rename = "scenario")]
    _scenario: CaseProbeBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseProbeBody {
    #[serde(rename = "kind")]
    _kind: CaseKind,
    #[serde(rename = "strategy")]
    _strategy: String,
    #[serde(rename = "case")]
    _case: Case,
}

/// `"case"` (the probe is read only for that kind).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CaseKind {
    Case,
}
