//! The harness: `verify(strategy, config)` plays thousands of cases — buffer offsets and
//! lengths where span bugs live, both directions, honest, adversarial, short and
//! crashing servers, hostile ones that lie about `Information` (up to `u64::MAX`),
//! succeed with nothing, fail with a count or write after their reply
//! ([`ServerBehaviour`]), injected faults — and runs the oracle ([`crate::oracle`]) over each.
//! A failure is shrunk by proptest and returned as a [`Counterexample`]: the findings,
//! a readable step trace, and the [`Case`] as JSON, replayable with [`replay`].
//!
//! Each case runs on a fresh machine: a client process with its buffer at the requested
//! offset inside an allocation with a guard page each side (every byte of it labelled as
//! the client's own), a server process, a bystander process, a third party that filled
//! 16 pages with its secrets and exited (so the free list holds them), and freed pool
//! holding kernel secrets. The client thread's `NtReadFile` / `NtWriteFile` goes through
//! the I/O manager to a `DO_DIRECT_IO` device of a proxy file-system driver
//! ([`ProxyDriver`]), which pends the IRP for the server; the strategy's `expose` runs when
//! the server fetches it, its `retire` on the server's reply, on `IoCancelIrp` (the cancel
//! routine) or at the server's exit, and the driver completes the IRP with
//! `IoCompleteRequest`, which unlocks and frees `Irp->MdlAddress` ([semantics §5.7]).
//!
//! # Verifying your own strategy
//!
//! ```
//! use mdlsim::Kernel;
//! use mdlsim::fault::Result;
//! use mdlsim::status::NtStatus;
//! use mdlsim::strategy::{Completion, Exposure, Io, ProxyStrategy, RetireReason, ServerReply};
//! use mdlsim::verify::{self, Config};
//!
//! /// Refuses everything: trivially safe (and useless).
//! #[derive(Clone, Default)]
//! struct RefuseAll;
//!
//! impl ProxyStrategy for RefuseAll {
//!     fn name(&self) -> String { "RefuseAll".into() }
//!     fn expose(&mut self, _k: &mut Kernel<'_>, _io: &Io) -> Result<Exposure> {
//!         Ok(Exposure::Refused(NtStatus::NOT_SUPPORTED))
//!     }
//!     fn retire(&mut self, _k: &mut Kernel<'_>, _io: &Io, r: ServerReply, _why: RetireReason) -> Result<Completion> {
//!         Ok(Completion { status: r.status, information: 0 })
//!     }
//! }
//!
//! let report = verify::verify(&RefuseAll, &Config::default().cases(50)).unwrap();
//! assert_eq!(report.cases, 50);
//!
//! // A broken built-in is caught, with a small shrunk case and its JSON:
//! let cx = verify::verify(&mdlsim::strategy::broken::DirectMap::default(), &Config::default().cases(200))
//!     .unwrap_err();
//! assert!(cx.has(mdlsim::oracle::BugClass::PartialPageExposure));
//! println!("{cx}\n{}", cx.to_json());
//! ```
//!
//! [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7

pub mod case;
mod counterexample;
mod display;
#[cfg(feature = "proptest")]
pub mod generators;
pub mod proxy;
pub mod regressions;
pub mod request;
mod runner;
#[cfg(feature = "proptest")]
mod search;
pub mod server;

pub use case::{
    Case, CaseRun, InjectedFault, IoTrace, Outcome, Writer, run_case, run_case_mapped,
    run_case_with_driver,
};
pub use counterexample::{
    Counterexample, Interleaving, counterexample, demonstrate_double_fetch, minimize, replay,
};
pub use display::WIDTH;
pub use proxy::{ProxyDriver, ProxyDriverBug};
pub use regressions::Regressions;
pub use request::Request;
#[cfg(feature = "proptest")]
pub use search::verify;
pub use server::ServerBehaviour;

use crate::addr::PAGE_SIZE;
use crate::machine::ScheduledWrite;
use crate::oracle::double_fetch::FetchPair;
use crate::oracle::{BugClass, Finding};
use crate::strategy::{Direction, ProxyStrategy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The harness configuration (a `#[non_exhaustive]` builder). `MDLSIM_CASES` and
/// `MDLSIM_SEED` override `cases` and `seed` unless [`Config::ignore_env`] is set.
///
/// The seed: unless fixed (by [`Config::seed`] or `MDLSIM_SEED`), every run draws a fresh
/// one, and prints it (a counter-example's first lines and JSON, a passing [`Report`]);
/// the same seed, configuration and regressions file give the same result. Failing cases
/// are appended to a regressions file and replayed first by the next run
/// ([`regressions`]).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Cases to run (default 2,000).
    pub cases: u32,
    /// Seed of the case generator (default `None`: a fresh seed each run, printed; fix it
    /// with [`Config::seed`] or `MDLSIM_SEED` to reproduce a run).
    pub seed: Option<u64>,
    /// Where failing cases are kept and replayed from (default: the [`regressions`]
    /// module's rules).
    pub regressions: Regressions,
    /// Largest request length (default 256 KiB, `256 * 1024`).
    pub max_length: u32,
    /// Directions to try (default both).
    pub directions: Vec<Direction>,
    /// Server behaviours to try (default all eight: [`ServerBehaviour::ALL`]).
    pub servers: Vec<ServerBehaviour>,
    /// Faults to inject (default all; none half the time).
    pub faults: Vec<InjectedFault>,
    /// When non-empty, only findings of these classes fail a case (others are still reported).
    pub focus: Vec<BugClass>,
    /// The machine each case runs on (faults may lower its PTEs or pool).
    pub machine: crate::Config,
    /// Whether `MDLSIM_CASES` / `MDLSIM_SEED` apply.
    pub use_env: bool,
    /// Upper bound on shrinking steps.
    pub max_shrink_iters: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cases: 2000,
            seed: None,
            regressions: Regressions::Default,
            max_length: 256 * 1024,
            directions: vec![Direction::Read, Direction::Write],
            servers: ServerBehaviour::ALL.to_vec(),
            faults: InjectedFault::ALL.to_vec(),
            focus: Vec::new(),
            machine: crate::Config::default(),
            use_env: true,
            max_shrink_iters: 2048,
        }
    }
}

impl Config {
    /// Sets the number of cases.
    pub fn cases(mut self, n: u32) -> Self {
        self.cases = n;
        self
    }
    /// Fixes the seed (the same seed finds the same case).
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self
    }
    /// Keeps failing cases in `path` (JSON) and replays them first.
    pub fn regressions(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.regressions = Regressions::File(path.into());
        self
    }
    /// No regressions file: nothing is replayed first, nothing is written.
    pub fn no_regressions(mut self) -> Self {
        self.regressions = Regressions::Off;
        self
    }
    /// Sets the largest length.
    pub fn max_length(mut self, n: u32) -> Self {
        self.max_length = n;
        self
    }
    /// Only this direction.
    pub fn direction(mut self, d: Direction) -> Self {
        self.directions = vec![d];
        self
    }
    /// Only these server behaviours.
    pub fn servers(mut self, s: &[ServerBehaviour]) -> Self {
        self.servers = s.to_vec();
        self
    }
    /// Only these faults (`&[]` or `&[InjectedFault::None]`: no faults).
    pub fn faults(mut self, f: &[InjectedFault]) -> Self {
        self.faults = f.to_vec();
        self
    }
    /// Only findings of these classes fail a case.
    pub fn focus(mut self, k: &[BugClass]) -> Self {
        self.focus = k.to_vec();
        self
    }
    /// The machine configuration.
    pub fn machine(mut self, c: crate::Config) -> Self {
        self.machine = c;
        self
    }
    /// Ignore `MDLSIM_CASES` / `MDLSIM_SEED`.
    pub fn ignore_env(mut self) -> Self {
        self.use_env = false;
        self
    }

    /// The configuration with the environment's overrides applied and the seed chosen:
    /// `MDLSIM_SEED` (unless [`Config::ignore_env`]), else [`Config::seed`], else a fresh
    /// seed (so `effective().seed` is always `Some`).
    pub fn effective(&self) -> Config {
        let mut c = self.clone();
        if c.use_env {
            if let Some(n) = std::env::var("MDLSIM_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                c.cases = n;
            }
            if let Some(s) = std::env::var("MDLSIM_SEED")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                c.seed = Some(s);
            }
        }
        c.seed = Some(c.seed.unwrap_or_else(fresh_seed));
        c
    }

    /// Whether `findings` fail a case under this configuration.
    pub fn fails(&self, findings: &[Finding]) -> bool {
        findings
            .iter()
            .any(|f| self.focus.is_empty() || self.focus.contains(&f.kind))
    }
}

/// Length classes, for coverage.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LengthClass {
    /// 0.
    Zero,
    /// 1.
    One,
    /// `PAGE_SIZE - 1`.
    PageMinusOne,
    /// `PAGE_SIZE`.
    Page,
    /// `PAGE_SIZE + 1`.
    PagePlusOne,
    /// 2..=16 whole pages.
    PageMultiple,
    /// More than 16 pages.
    ManyPages,
    /// Anything else.
    Other,
}

impl LengthClass {
    /// The class of `len`.
    pub fn of(len: u32) -> LengthClass {
        let p = PAGE_SIZE as u32;
        match len {
            0 => LengthClass::Zero,
            1 => LengthClass::One,
            l if l == p - 1 => LengthClass::PageMinusOne,
            l if l == p => LengthClass::Page,
            l if l == p + 1 => LengthClass::PagePlusOne,
            l if l > 16 * p => LengthClass::ManyPages,
            l if l % p == 0 => LengthClass::PageMultiple,
            _ => LengthClass::Other,
        }
    }
}

/// Offset classes, for coverage.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OffsetClass {
    /// 0.
    Zero,
    /// 1.
    One,
    /// 512.
    Sector,
    /// `PAGE_SIZE - 1`.
    PageMinusOne,
    /// Another multiple of 512.
    SectorMultiple,
    /// Anything else.
    Other,
}

impl OffsetClass {
    /// The class of `off`.
    pub fn of(off: u32) -> OffsetClass {
        match off {
            0 => OffsetClass::Zero,
            1 => OffsetClass::One,
            512 => OffsetClass::Sector,
            o if o == PAGE_SIZE as u32 - 1 => OffsetClass::PageMinusOne,
            o if o % 512 == 0 => OffsetClass::SectorMultiple,
            _ => OffsetClass::Other,
        }
    }
}

/// How often each generator dimension was reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Cases per length class.
    pub lengths: BTreeMap<LengthClass, u32>,
    /// Cases per offset class.
    pub offsets: BTreeMap<OffsetClass, u32>,
    /// Cases per direction.
    pub directions: BTreeMap<Direction, u32>,
    /// Cases per server behaviour.
    pub servers: BTreeMap<ServerBehaviour, u32>,
    /// Cases per injected fault.
    pub faults: BTreeMap<InjectedFault, u32>,
    /// (length, offset, direction) combinations reached.
    pub combos: BTreeSet<(LengthClass, OffsetClass, Direction)>,
    /// Largest length run.
    pub max_length: u32,
}

impl Coverage {
    /// Counts one case.
    pub fn add(&mut self, c: &Case) {
        let (l, o) = (LengthClass::of(c.length), OffsetClass::of(c.offset));
        *self.lengths.entry(l).or_default() += 1;
        *self.offsets.entry(o).or_default() += 1;
        *self.directions.entry(c.direction).or_default() += 1;
        *self.servers.entry(c.server).or_default() += 1;
        *self.faults.entry(c.fault).or_default() += 1;
        self.combos.insert((l, o, c.direction));
        self.max_length = self.max_length.max(c.length);
    }
}

/// A passing run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The strategy's name.
    pub strategy: String,
    /// Cases run.
    pub cases: u32,
    /// The generator's seed.
    pub seed: u64,
    /// What was reached.
    pub coverage: Coverage,
}

/// A seed that differs between runs (time, process id and the standard library's
/// per-process random hash keys).
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passes {} case(s), seed {} (MDLSIM_SEED={} runs them again)",
            self.strategy, self.cases, self.seed, self.seed
        )
    }
}
