//! The harness: `verify(strategy, config)` plays thousands of cases — buffer offsets and
//! lengths where span bugs live, both directions, honest, adversarial, short and
//! crashing servers, hostile ones that lie about `Information` (up to `u64::MAX`),
//! succeed with nothing, fail with a count or write after their reply
//! ([`ServerBehaviour`]), injected faults — and runs the oracle ([`crate::oracle`]) over each.
//! A failure is shrunk by proptest and returned as a [`Counterexample`]: the findings,
//! a readable step trace, and the [`Case`] as JSON, replayable with [`replay`].
//!
//! The cases run on every core ([`Config::threads`]) and a campaign splits across
//! machines ([`Config::shard`]); neither changes the cases or the result (the lowest
//! failing case is reported, shrunk on one thread).
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
mod config;
mod counterexample;
mod display;
#[cfg(feature = "proptest")]
pub mod generators;
#[cfg(feature = "proptest")]
pub(crate) mod parallel;
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
pub use config::{Config, Shard};
pub use counterexample::{
    Counterexample, Interleaving, counterexample, demonstrate_double_fetch, minimize, replay,
};
pub use display::WIDTH;
pub use proxy::{ProxyDriver, ProxyDriverBug};
pub use regressions::Regressions;
pub use request::Request;
#[cfg(feature = "proptest")]
pub use search::{generated_cases, verify};
pub use server::ServerBehaviour;

use crate::addr::PAGE_SIZE;
use crate::machine::ScheduledWrite;
use crate::oracle::double_fetch::FetchPair;
use crate::oracle::{BugClass, Finding};
use crate::strategy::{Direction, ProxyStrategy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

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

    /// Adds another part of the run's coverage (the same whatever the order of parts).
    pub fn merge(&mut self, other: Coverage) {
        fn sum<K: Ord>(into: &mut BTreeMap<K, u32>, from: BTreeMap<K, u32>) {
            for (k, n) in from {
                let e = into.entry(k).or_default();
                *e = e.saturating_add(n);
            }
        }
        sum(&mut self.lengths, other.lengths);
        sum(&mut self.offsets, other.offsets);
        sum(&mut self.directions, other.directions);
        sum(&mut self.servers, other.servers);
        sum(&mut self.faults, other.faults);
        self.combos.extend(other.combos);
        self.max_length = self.max_length.max(other.max_length);
    }
}

/// A passing run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The strategy's name.
    pub strategy: String,
    /// Cases run (generated ones: with a shard, the shard's).
    pub cases: u32,
    /// The generator's seed.
    pub seed: u64,
    /// What was reached.
    pub coverage: Coverage,
    /// The slice of the campaign played, if not all of it ([`Config::shard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shard {
            None => write!(
                f,
                "{} passes {} case(s), seed {} (MDLSIM_SEED={} runs them again)",
                self.strategy, self.cases, self.seed, self.seed
            ),
            Some(s) => write!(
                f,
                "{} passes {} case(s) of shard {s}, seed {} (MDLSIM_SEED={} MDLSIM_SHARD={s} runs them again)",
                self.strategy, self.cases, self.seed, self.seed
            ),
        }
    }
}
