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
//! * `"case"`: a strategy by name (a built-in, [`crate::strategy::builtins`], unless the
//!   player looks names up elsewhere: [`StrategyLookup`], [`Scenario::parse_using`]) played on one
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

mod check;
mod parse;
mod values;

pub use check::check_references;
pub use values::{Code, Param, Status};

use crate::events::EventKind;
use crate::machine::Config;
use crate::op::Op;
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
        /// The operations, applied in order by one [`Interpreter`](crate::op::Interpreter).
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
    /// The Windows whose rules apply where versions differ (`"Server2003"`, `"Vista"`,
    /// `"Windows7"`, `"Windows10"`; [`crate::windows`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<crate::windows::WindowsVersion>,
    /// `"Free"` (the default) or `"Checked"`: whether a failed `ASSERT` stops the machine
    /// ([`crate::windows::KernelBuild`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_build: Option<crate::windows::KernelBuild>,
    /// Driver Verifier: `{"enabled": true, "force_irql_checking": true, "pool_tracking":
    /// true, "io_verification": true}` is the default ([`crate::verifier::Verifier`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<crate::verifier::Verifier>,
    /// `TrackPtes` (out of system PTEs is 0xD8 instead of 0x3F).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_ptes: Option<bool>,
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
            .windows(self.windows.unwrap_or(d.windows))
            .kernel_build(self.kernel_build.unwrap_or(d.kernel_build))
            .verifier(self.verifier.unwrap_or(d.verifier))
            .track_ptes(self.track_ptes.unwrap_or(d.track_ptes))
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
    /// [`HazardKind`](crate::audit::HazardKind)).
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
        Scenario::parse_using(file, text, &Builtins)
    }

    /// [`Scenario::parse`] with a `"case"` scenario's strategy name looked up in
    /// `strategies` rather than among the built-ins (a program's own strategies,
    /// registered by `mdlsim_cli::Cli`).
    ///
    /// # Errors
    /// As [`Scenario::parse`]; an unknown strategy lists `strategies.names()`.
    ///
    /// ```
    /// use mdlsim::scenario::{Builtins, Scenario};
    /// let text = r#"{"schema_version": 1, "name": "n", "scenario": {"kind": "case",
    ///   "strategy": "Nope", "case": {"offset": 0, "length": 1, "direction": "Read",
    ///   "server": "Honest", "fault": "None", "seed": 0}}, "expect": {"findings": []}}"#;
    /// let e = Scenario::parse_using("f.json", text, &Builtins).unwrap_err();
    /// assert!(e.message.contains("unknown strategy `Nope`; expected one of BounceCopy"));
    /// ```
    pub fn parse_using(
        file: &str,
        text: &str,
        strategies: &dyn StrategyLookup,
    ) -> Result<Scenario, ScenarioError> {
        let p = parse::Parse {
            file,
            text,
            strategies,
        };
        p.within_size()?;
        let head = p.header()?;
        let s = p.typed(&head)?;
        p.consistent(&s)?;
        Ok(s)
    }

    /// Reads and parses a scenario file.
    ///
    /// # Errors
    /// The file cannot be read, or [`Scenario::parse`] refuses it.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::load_using(path, &Builtins)
    }

    /// [`Scenario::load`] with strategy names looked up in `strategies`
    /// ([`Scenario::parse_using`]).
    ///
    /// # Errors
    /// The file cannot be read, or [`Scenario::parse_using`] refuses it.
    pub fn load_using(
        path: &Path,
        strategies: &dyn StrategyLookup,
    ) -> Result<Scenario, ScenarioError> {
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
        Scenario::parse_using(&file, &text, strategies)
    }
}

/// Where a `"case"` scenario's strategy is found by name: [`Builtins`] (what
/// [`Scenario::parse`] and [`crate::replay::replay`] use), or a program's own set (the
/// `mdlsim_cli::Registry`). `find(n)` is `Some` exactly for the names `names()` lists
/// (a lookup may also accept spellings of them, e.g. in another case).
pub trait StrategyLookup {
    /// A fresh strategy called `name`, if known.
    fn find(&self, name: &str) -> Option<Box<dyn ProxyStrategyClone>>;
    /// The names known, for an error listing them.
    fn names(&self) -> Vec<String>;
}

/// The built-in strategies ([`builtins`]), by exact name.
#[derive(Clone, Copy, Debug, Default)]
pub struct Builtins;

impl StrategyLookup for Builtins {
    fn find(&self, name: &str) -> Option<Box<dyn ProxyStrategyClone>> {
        find_strategy(name)
    }
    fn names(&self) -> Vec<String> {
        strategy_names()
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
