//! Scenario files: a versioned JSON format for scenarios and counter-examples
//! (`docs/scenarios.md`), what `mdlsim replay` plays and `mdlsim audit --out` writes.
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "name": "proxy file system: direct map of an unaligned read",
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
//! `scenario.kind` says what is played. Version 1 has two kinds:
//!
//! * `"case"`: a built-in strategy ([`crate::strategy::builtins`], by name) played on one
//!   [`crate::verify::Case`] by the harness's scenario runner. `expect.findings` is the
//!   exact **set** of bug classes the oracle must report (empty: the scenario must pass).
//! * `"ops"`: a raw sequence of kernel operations ([`crate::op::Op`], played by the
//!   [`crate::op::Interpreter`]) on a machine built from an optional `machine`
//!   configuration, for situations no strategy describes (the [directory change
//!   notification][design-notification], [who owns a buffer during direct
//!   I/O][design-ownership]). Besides `findings` (the classes of the
//!   protocol events and of the final state, as the oracle names them) it expects the
//!   final state (`final`: still running, or a bug check with its code and parameters),
//!   the exact set of protocol `events`, the exact set of `hazards`
//!   ([`crate::Machine::hazards`]), whether [`crate::Machine::audit`] is clean, and the
//!   outcome of chosen ops (`steps`). Every reference an op makes to an earlier object
//!   must name one that exists at that point ([`check_references`]).
//!
//! Loading never panics: a malformed or inconsistent file is a [`ScenarioError`] naming
//! the file, the line and column (or the op), and what was expected.
//!
//! [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
//! [design-ownership]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#buffer-ownership

use crate::audit::HazardKind;
use crate::bugcheck::BugCheckCode;
use crate::events::EventKind;
use crate::machine::Config;
use crate::op::{Interpreter, Ix, Op};
use crate::oracle::BugClass;
use crate::status::NtStatus;
use crate::strategy::{ProxyStrategyClone, builtins};
use crate::verify::Case;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::Path;

/// The version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest request length a scenario may ask for (16 MiB; the harness's default
/// largest is 256 KiB).
pub const MAX_LENGTH: u32 = 16 << 20;

/// The most ops an `"ops"` scenario may hold.
pub const MAX_OPS: usize = 1_000;

/// The largest scenario file read (1 MiB; a 1,000-op file is about 150 KB). Checked
/// before the file is read or parsed, so a huge file costs nothing.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The largest simulated RAM an `"ops"` scenario may ask for (64 GiB; frames are lazy).
pub const MAX_PHYSICAL_MEMORY: u64 = 64 << 30;

/// The most system PTEs an `"ops"` scenario may ask for (16 GiB of mappings).
pub const MAX_SYSTEM_PTES: u64 = 1 << 22;

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
    /// The real-world situations it comes from, by number (`"000"`..`"004"`: the
    /// [proxy file system][design-proxy], [errors in direct I/O][design-direct-io],
    /// [user/kernel shared memory][design-shared-memory], the [directory change
    /// notification][design-notification], [buffer ownership][design-ownership]).
    ///
    /// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
    /// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
    /// [design-shared-memory]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shared-memory
    /// [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
    /// [design-ownership]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#buffer-ownership
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
    /// A sequence of kernel operations on a fresh machine.
    Ops {
        /// The machine's configuration (absent fields: [`Config::default`]).
        #[serde(default, skip_serializing_if = "MachineConfig::is_default")]
        machine: MachineConfig,
        /// The operations, applied in order by one [`Interpreter`].
        ops: Vec<Op>,
    },
}

/// The machine an `"ops"` scenario runs on: each field overrides [`Config::default`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// Simulated RAM in bytes (at most [`MAX_PHYSICAL_MEMORY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_memory_bytes: Option<u64>,
    /// System PTEs (at most [`MAX_SYSTEM_PTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_ptes: Option<u64>,
    /// Non-paged pool limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_limit_bytes: Option<u64>,
    /// Byte provenance (shadow memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<bool>,
    /// `TrackLockedPages` (exit with locked pages is 0xCB instead of 0x76).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_locked_pages: Option<bool>,
}

impl MachineConfig {
    /// Whether nothing is overridden.
    pub fn is_default(&self) -> bool {
        *self == MachineConfig::default()
    }

    /// The machine configuration.
    pub fn config(&self) -> Config {
        let d = Config::default();
        Config::default()
            .physical_memory(
                self.physical_memory_bytes
                    .unwrap_or(d.physical_memory_bytes),
            )
            .system_ptes(self.system_ptes.unwrap_or(d.system_ptes))
            .pool_limit(self.pool_limit_bytes.unwrap_or(d.pool_limit_bytes))
            .shadow(self.shadow.unwrap_or(d.shadow))
            .track_locked_pages(self.track_locked_pages.unwrap_or(d.track_locked_pages))
    }
}

/// The expected result.
///
/// `findings` applies to both kinds; every other field to kind `"ops"` only, where an
/// absent field means its strict default: the machine still running, no events, no
/// hazards, `audit()` clean, no step checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exact set of bug classes found (order and repetition do not matter).
    #[serde(default)]
    pub findings: Vec<BugClass>,
    /// The machine's state after the last op.
    #[serde(default, rename = "final", skip_serializing_if = "Option::is_none")]
    pub end: Option<Final>,
    /// The exact set of protocol events recorded ([`crate::Machine::events`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventKind>>,
    /// The exact set of hazard kinds left ([`crate::Machine::hazards`], by the names of
    /// [`HazardKind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hazards: Option<Vec<String>>,
    /// Whether [`crate::Machine::audit`] must be clean at the end (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_clean: Option<bool>,
    /// Outcomes of chosen ops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepExpect>,
}

impl Expect {
    /// The ops-only fields that are set, by their JSON names.
    fn ops_only_fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.end.is_some() {
            v.push("final");
        }
        if self.events.is_some() {
            v.push("events");
        }
        if self.hazards.is_some() {
            v.push("hazards");
        }
        if self.audit_clean.is_some() {
            v.push("audit_clean");
        }
        if !self.steps.is_empty() {
            v.push("steps");
        }
        v
    }
}

/// The machine's state after an `"ops"` scenario's last op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Final {
    /// Not crashed (`"running"`).
    Running,
    /// Crashed with this bug check.
    BugCheck {
        /// The stop code: a number, `"0x76"`, or a name (`"PROCESS_HAS_LOCKED_PAGES"`).
        code: Code,
        /// Parameters 1.. as Windows documents them (`null`: any value); fewer than four
        /// check only the first ones.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        params: Vec<Param>,
    },
}

/// What one op must have returned. Every field given is checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepExpect {
    /// The op's index (0-based) in `scenario.ops`.
    pub op: usize,
    /// Whether it returned normally (`false`: it faulted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// The status: a system service's return value, or the status the op raised or
    /// returned as a failure (a name such as `"STATUS_PENDING"`, or a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The op bug-checked with this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug_check: Option<Code>,
    /// The boolean it returned (`QueueCompleteNext`, `IoCancelIrp`).
    #[serde(default, rename = "bool", skip_serializing_if = "Option::is_none")]
    pub boolean: Option<bool>,
    /// Whether it returned NULL (an allocation, a mapping, `IrpMdlAddress`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null: Option<bool>,
    /// For a `UserRead` or `KernelRead`: the bytes read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Reads>,
}

/// The bytes a read op must return (its whole length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reads {
    /// All zero (`"zero"`).
    Zero,
    /// What a `UserWrite` / `KernelWrite` / `FsRtlNotifyFullReportChange` with this seed
    /// writes: `seed`, `seed + 1`, ... (`{"pattern": 7}`).
    Pattern(u8),
}

/// A number given as a JSON number, `"0x..."` or decimal text.
fn parse_number(s: &str) -> Option<u64> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16).ok(),
        None => t.parse().ok(),
    }
}

/// A JSON number or string, for the hand-written deserialisers below.
fn number_or_text<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Result<u64, String>>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(|v| Some(Ok(v)))
            .ok_or_else(|| D::Error::custom(format!("{n} is not a non-negative integer"))),
        serde_json::Value::String(s) => Ok(Some(parse_number(&s).ok_or(s))),
        other => Err(D::Error::custom(format!(
            "expected a number or a string, found {other}"
        ))),
    }
}

/// A bug check code in a scenario file: a number, `"0x76"`, or its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code(pub BugCheckCode);

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#x}", self.0.0))
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        code32(
            d,
            "a bug check code; expected a number, \"0x76\" or a name such as \"PROCESS_HAS_LOCKED_PAGES\"",
            |n| BugCheckCode::from_name(n).map(|c| c.0),
        )
        .map(|v| Code(BugCheckCode(v)))
    }
}

/// A 32-bit code given as a number, `"0x..."` or a name `by_name` knows; `what` ends the
/// error message ("`X` is not {what}").
fn code32<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    by_name: fn(&str) -> Option<u32>,
) -> std::result::Result<u32, D::Error> {
    use serde::de::Error;
    let bad = |v: String| D::Error::custom(format!("`{v}` is not {what}"));
    match number_or_text(d)? {
        Some(Ok(v)) => u32::try_from(v).map_err(|_| bad(v.to_string())),
        Some(Err(name)) => by_name(&name).ok_or_else(|| bad(name)),
        None => Err(bad("null".into())),
    }
}

/// A bug check parameter in a scenario file: a number, `"0x..."`, or `null` (any value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param(pub Option<u64>);

impl Serialize for Param {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Some(v) => s.serialize_str(&format!("{v:#x}")),
            None => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        match number_or_text(d)? {
            Some(Ok(v)) => Ok(Param(Some(v))),
            Some(Err(t)) => Err(D::Error::custom(format!(
                "`{t}` is not a bug check parameter; expected a number, \"0x...\" or null (any value)"
            ))),
            None => Ok(Param(None)),
        }
    }
}

/// An NTSTATUS in a scenario file: a name (`"STATUS_PENDING"`), `"0x103"` or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub NtStatus);

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0.name() {
            Some(n) => s.serialize_str(n),
            None => s.serialize_str(&format!("{:#x}", self.0.0)),
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        code32(
            d,
            "an NTSTATUS; expected a name such as \"STATUS_PENDING\", \"0x103\" or a number",
            |n| NtStatus::from_name(n).map(|c| c.0),
        )
        .map(|v| Status(NtStatus(v)))
    }
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
            expect: Expect {
                findings,
                ..Expect::default()
            },
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
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(err(
                0,
                0,
                format!(
                    "{} bytes; a scenario file holds at most {MAX_FILE_BYTES}",
                    text.len()
                ),
            ));
        }
        let mut kind = None;
        let mut is_json = false;
        // The version first, so an old or future file says so rather than failing on a field.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            is_json = true;
            kind = v
                .pointer("/scenario/kind")
                .and_then(|k| k.as_str())
                .map(str::to_string);
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
        }
        let s: Scenario = serde_json::from_str(text).map_err(|e| {
            // An internally tagged body is buffered before it is read, so an error inside
            // it is reported at the body's end. Read its parts again untagged, where
            // serde_json knows the position of the bad op or field.
            let e = match (kind.as_deref(), e.classify()) {
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
                serde_json::error::Category::Syntax if is_json => format!(
                    "not a scenario: {msg} (an object naming a variant, such as an op, has exactly one key)"
                ),
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    format!("malformed JSON: {msg}")
                }
                _ => format!("not a scenario: {msg}"),
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
                if let Some(f) = s.expect.ops_only_fields().first() {
                    let (l, c) = position_of(text, &format!("\"{f}\""));
                    return Err(err(
                        l,
                        c,
                        format!(
                            "expect.{f} applies to scenario kind \"ops\"; a \"case\" scenario expects `findings` only"
                        ),
                    ));
                }
            }
            Body::Ops { machine, ops } => {
                if let Some((needle, message)) = check_ops(machine, ops, &s.expect) {
                    // `"op": 7` as the examples write it, or `"op":7`.
                    let (l, c) = match text.contains(&needle) {
                        true => position_of(text, &needle),
                        false => position_of(text, &needle.replace(": ", ":")),
                    };
                    return Err(err(l, c, message));
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
        use std::io::Read;
        let file = path.display().to_string();
        let err = |message: String| ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            message,
        };
        let f = std::fs::File::open(path)
            .map_err(|e| err(format!("cannot read the scenario file: {e}")))?;
        // The size first (a FIFO or /dev/zero has none: `take` bounds the read anyway).
        if let Ok(len) = f.metadata().map(|m| m.len()) {
            if len > MAX_FILE_BYTES {
                return Err(err(format!(
                    "{len} bytes; a scenario file holds at most {MAX_FILE_BYTES}"
                )));
            }
        }
        let mut text = String::new();
        f.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| err(format!("cannot read the scenario file: {e}")))?;
        Scenario::parse(&file, &text)
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

/// The first inconsistency of an `"ops"` body: (text to locate it by, message).
fn check_ops(machine: &MachineConfig, ops: &[Op], expect: &Expect) -> Option<(String, String)> {
    if ops.len() > MAX_OPS {
        return Some((
            "\"ops\"".into(),
            format!("{} ops; expected at most {MAX_OPS}", ops.len()),
        ));
    }
    if let Some(b) = machine.physical_memory_bytes {
        if !(crate::addr::PAGE_SIZE..=MAX_PHYSICAL_MEMORY).contains(&b) {
            return Some((
                "\"physical_memory_bytes\"".into(),
                format!("physical_memory_bytes {b}; expected 4096..={MAX_PHYSICAL_MEMORY}"),
            ));
        }
    }
    if let Some(n) = machine.system_ptes {
        if n > MAX_SYSTEM_PTES {
            return Some((
                "\"system_ptes\"".into(),
                format!("system_ptes {n}; expected at most {MAX_SYSTEM_PTES}"),
            ));
        }
    }
    if let Some(Final::BugCheck { params, .. }) = &expect.end {
        if params.len() > 4 {
            return Some((
                "\"params\"".into(),
                format!("{} bug check parameters; expected at most 4", params.len()),
            ));
        }
    }
    for h in expect.hazards.iter().flatten() {
        if HazardKind::from_name(h).is_none() {
            return Some((
                format!("\"{h}\""),
                format!(
                    "unknown hazard kind `{h}`; expected one of {}",
                    HazardKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    for (i, st) in expect.steps.iter().enumerate() {
        let needle = format!("\"op\": {}", st.op);
        let Some(op) = ops.get(st.op) else {
            return Some((
                needle,
                match ops.len() {
                    0 => format!(
                        "expect.steps[{i}] checks op {}, but the scenario has no ops; expected no step checks",
                        st.op
                    ),
                    n => format!(
                        "expect.steps[{i}] checks op {}, but the scenario has {n} ops; expected an index below {n}",
                        st.op
                    ),
                },
            ));
        };
        let is_read = matches!(
            op,
            Op::Vm(crate::op::VmOp::UserRead { .. } | crate::op::VmOp::KernelRead { .. })
        );
        if st.reads.is_some() && !is_read {
            return Some((
                needle,
                format!(
                    "expect.steps[{i}] checks `reads` of op {} ({}); expected a UserRead or KernelRead",
                    st.op,
                    op.name()
                ),
            ));
        }
    }
    None
}

/// The tables an op's object references ([`Ix`]) index into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Processes,
    Threads,
    Mdls,
    Irps,
    Vas,
    Drivers,
    Devices,
}

impl Table {
    /// The table a reference held in field `field` of op variant `variant` names.
    fn of(variant: &str, field: &str) -> Option<Table> {
        Some(match (variant, field) {
            ("AttachDevice", "source" | "target") => Table::Devices,
            (_, "device" | "volume") => Table::Devices,
            (_, "driver") => Table::Drivers,
            (_, "thread") => Table::Threads,
            (_, "process") => Table::Processes,
            (_, "irp") => Table::Irps,
            (_, "ix") => Table::Vas,
            (_, "mdl" | "source" | "target" | "src" | "dst" | "next") => Table::Mdls,
            _ => return None,
        })
    }

    fn name(self) -> (&'static str, &'static str) {
        match self {
            Table::Processes => ("a process", "processes"),
            Table::Threads => ("a thread", "threads"),
            Table::Mdls => ("an MDL", "MDLs"),
            Table::Irps => ("an IRP", "IRPs"),
            Table::Vas => ("a returned address", "returned addresses"),
            Table::Drivers => ("a driver", "drivers"),
            Table::Devices => ("a device", "devices"),
        }
    }

    fn len(self, i: &Interpreter) -> usize {
        match self {
            Table::Processes => i.processes().len(),
            Table::Threads => i.threads().len(),
            Table::Mdls => i.mdls().len(),
            Table::Irps => i.irps().len(),
            Table::Vas => i.vas().len(),
            Table::Drivers => i.drivers().len(),
            Table::Devices => i.devices().len(),
        }
    }
}

/// The [`Ix`] a JSON value is, if it is one (`{"Nth": 2}`, `{"Recent": 0}`, `{"Live": 1}`).
fn as_ix(v: &serde_json::Value) -> Option<Ix> {
    serde_json::from_value::<Ix>(v.clone())
        .ok()
        .filter(|_| v.as_object().is_some_and(|o| o.len() == 1))
}

/// Every object reference in `v` (an op as JSON): (variant, field, index).
fn references(v: &serde_json::Value, variant: &str, out: &mut Vec<(String, String, Ix)>) {
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            if let Some(ix) = as_ix(x) {
                out.push((variant.to_string(), k.clone(), ix));
            } else if x.is_object() && k.chars().next().is_some_and(char::is_uppercase) {
                // `{"Mdl": {"IoFreeMdl": {...}}}`, `{"Returned": {...}}`: a variant name.
                let inner = if variant.is_empty() || o.len() == 1 {
                    k
                } else {
                    variant
                };
                references(x, inner, out);
            } else {
                references(x, variant, out);
            }
        }
    }
}

/// Checks that every object `op` refers to exists when it is applied: an `"ops"`
/// scenario names objects by their index in the interpreter's tables ([`Ix`]); the
/// interpreter wraps indices so that any sequence runs (for fuzzing), but in a file an
/// index past the table — an MDL that was never created — is an inconsistent file, not
/// a situation.
///
/// # Errors
/// The first reference past its table, in words.
pub fn check_references(op: &Op, interp: &Interpreter) -> Result<(), String> {
    let Ok(v) = serde_json::to_value(op) else {
        return Ok(());
    };
    let mut refs = Vec::new();
    references(&v, "", &mut refs);
    for (variant, field, ix) in refs {
        let Some(t) = Table::of(&variant, &field) else {
            continue;
        };
        let len = t.len(interp);
        let n = match ix {
            Ix::Nth(n) | Ix::Recent(n) | Ix::Live(n) => n as usize,
        };
        if n >= len {
            let (one, many) = t.name();
            let ix_json = serde_json::to_string(&ix).unwrap_or_default();
            return Err(if len == 0 {
                format!(
                    "`{field}` {ix_json} names {one}, but none exists at that point; expected an op that creates one first"
                )
            } else {
                format!(
                    "`{field}` {ix_json} names {one} that does not exist: {len} {many} at that point; expected an index below {len}"
                )
            });
        }
    }
    Ok(())
}

/// The built-in strategy called `name` (as [`crate::strategy::ProxyStrategy::name`] says).
pub fn find_strategy(name: &str) -> Option<Box<dyn ProxyStrategyClone>> {
    builtins().into_iter().find(|s| s.name() == name)
}

/// The names of the built-in strategies, in [`builtins`] order.
pub fn strategy_names() -> Vec<String> {
    builtins().iter().map(|s| s.name()).collect()
}
