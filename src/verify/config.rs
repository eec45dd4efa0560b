//! The harness configuration ([`Config`]): what a run explores, with how many threads,
//! and which slice of a campaign ([`Shard`]) it plays.

use super::{InjectedFault, Regressions, ServerBehaviour};
use crate::oracle::{BugClass, Finding};
use crate::strategy::Direction;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The harness configuration (a `#[non_exhaustive]` builder). `MDLSIM_CASES`,
/// `MDLSIM_SEED`, `MDLSIM_THREADS` and `MDLSIM_SHARD` override `cases`, `seed`, `threads`
/// and `shard` unless [`Config::ignore_env`] is set.
///
/// The seed: unless fixed (by [`Config::seed`] or `MDLSIM_SEED`), every run draws a fresh
/// one, and prints it (a counter-example's first lines and JSON, a passing [`Report`](super::Report));
/// the same seed, configuration and regressions file give the same result. Failing cases
/// are appended to a regressions file and replayed first by the next run
/// ([`regressions`](super::regressions)).
///
/// A campaign is `cases` generated cases numbered `0..cases`; case `i` is generated from
/// the seed and `i` alone, so the threads ([`Config::threads`]) that play it and the
/// slice of it a machine plays ([`Config::shard`]) change neither the cases nor the
/// result: the reported failure is the one at the lowest failing index, shrunk on one
/// thread.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Cases to run (default 2,000).
    pub cases: u32,
    /// Seed of the case generator (default `None`: a fresh seed each run, printed; fix it
    /// with [`Config::seed`] or `MDLSIM_SEED` to reproduce a run).
    pub seed: Option<u64>,
    /// Where failing cases are kept and replayed from (default: the
    /// [`regressions`](super::regressions) module's rules).
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
    /// Whether `MDLSIM_CASES`, `MDLSIM_SEED`, `MDLSIM_THREADS` and `MDLSIM_SHARD` apply.
    pub use_env: bool,
    /// Upper bound on shrinking steps.
    pub max_shrink_iters: u32,
    /// Worker threads playing the cases (default 0: `MDLSIM_THREADS`, else one per core,
    /// [`std::thread::available_parallelism`]). Any number gives the same result; each
    /// thread holds one case's machine at a time.
    pub threads: usize,
    /// The slice of the campaign this run plays (default `None`: all of it; see
    /// [`Config::shard`]).
    pub shard: Option<Shard>,
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
            threads: 0,
            shard: None,
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
    /// Plays the cases on `n` worker threads (0: `MDLSIM_THREADS`, else one per core).
    /// The result does not depend on `n`.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }
    /// Plays only shard `k` of `n` (`1 ≤ k ≤ n`, as `cargo nextest run --partition
    /// count:k/n`): the cases whose index `i` in `0..cases` has `i % n == k - 1`. `n`
    /// machines running shards `1/n` to `n/n` with the same seed play the unsharded
    /// campaign's cases between them, each exactly once; a failure's case replays without
    /// the shard. A shard outside `1 ≤ k ≤ n` makes [`verify`](super::verify) fail with
    /// the reason ([`Config::validate`]).
    pub fn shard(mut self, k: u32, n: u32) -> Self {
        self.shard = Some(Shard { index: k, count: n });
        self
    }
    /// Ignore `MDLSIM_CASES`, `MDLSIM_SEED`, `MDLSIM_THREADS` and `MDLSIM_SHARD`.
    pub fn ignore_env(mut self) -> Self {
        self.use_env = false;
        self
    }

    /// The configuration with the environment's overrides applied, the seed chosen and
    /// the threads counted: `MDLSIM_SEED` (unless [`Config::ignore_env`]), else
    /// [`Config::seed`], else a fresh seed (so `effective().seed` is always `Some`);
    /// `MDLSIM_THREADS`, else [`Config::threads`], where 0 is one per core (so
    /// `effective().threads` is at least 1); `MDLSIM_SHARD`, else [`Config::shard`].
    /// Values that do not parse are left out here and reported by [`Config::validate`].
    pub fn effective(&self) -> Config {
        let mut c = self.clone();
        if c.use_env {
            if let Some(n) = env_parsed("MDLSIM_CASES", |v| v.parse().ok()) {
                c.cases = n;
            }
            if let Some(s) = env_parsed("MDLSIM_SEED", |v| v.parse().ok()) {
                c.seed = Some(s);
            }
            if let Some(n) = env_parsed("MDLSIM_THREADS", |v| v.parse().ok()) {
                c.threads = n;
            }
            if let Some(s) = env_parsed("MDLSIM_SHARD", |v| Shard::parse(v).ok()) {
                c.shard = Some(s);
            }
        }
        c.seed = Some(c.seed.unwrap_or_else(fresh_seed));
        if c.threads == 0 {
            c.threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        c
    }

    /// Whether [`verify`](super::verify) can run this configuration: its shard is `k/n`
    /// with `1 ≤ k ≤ n` and, unless [`Config::ignore_env`], `MDLSIM_SHARD` and
    /// `MDLSIM_THREADS`, when set, parse.
    ///
    /// # Errors
    /// Why not, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let mut shard = self.shard;
        if self.use_env {
            if let Ok(v) = std::env::var("MDLSIM_THREADS") {
                v.trim().parse::<usize>().map_err(|_| {
                    format!("MDLSIM_THREADS={v}: expected a number of threads (0: one per core)")
                })?;
            }
            if let Ok(v) = std::env::var("MDLSIM_SHARD") {
                shard = Some(Shard::parse(&v).map_err(|why| format!("MDLSIM_SHARD={v}: {why}"))?);
            }
        }
        match shard {
            Some(s) => s.check().map_err(|why| format!("shard {s}: {why}")),
            None => Ok(()),
        }
    }

    /// Whether `findings` fail a case under this configuration.
    pub fn fails(&self, findings: &[Finding]) -> bool {
        findings
            .iter()
            .any(|f| self.focus.is_empty() || self.focus.contains(&f.kind))
    }
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

/// The value of the environment variable `name`, when set and `parse` accepts it.
fn env_parsed<T>(name: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    std::env::var(name).ok().and_then(|v| parse(v.trim()))
}

/// Shard `index` of `count` of a campaign (1-based, as `cargo nextest run --partition
/// count:k/n`): the cases whose index `i` (0-based) has `i % count == index - 1`.
/// Written `k/n` (`MDLSIM_SHARD=2/4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, `1..=count`.
    pub index: u32,
    /// How many slices.
    pub count: u32,
}

impl Shard {
    /// Shard `k` of `n`, when `1 ≤ k ≤ n`.
    pub fn new(k: u32, n: u32) -> Option<Shard> {
        let s = Shard { index: k, count: n };
        s.check().ok().map(|()| s)
    }

    /// Parses `k/n` (spaces around the numbers allowed) with `1 ≤ k ≤ n`.
    ///
    /// # Errors
    /// Why the text is not such a shard.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let expected = || "expected k/n with 1 <= k <= n (e.g. 2/4)".to_string();
        let (k, n) = text.split_once('/').ok_or_else(expected)?;
        let k = k.trim().parse().map_err(|_| expected())?;
        let n = n.trim().parse().map_err(|_| expected())?;
        Shard::new(k, n).ok_or_else(expected)
    }

    /// `Ok` when `1 ≤ index ≤ count`.
    ///
    /// # Errors
    /// Why not.
    pub fn check(self) -> Result<(), String> {
        if self.count == 0 {
            Err("a campaign has at least one shard (n >= 1)".into())
        } else if self.index == 0 || self.index > self.count {
            Err(format!(
                "shards are numbered 1 to {} (k/n with 1 <= k <= n)",
                self.count
            ))
        } else {
            Ok(())
        }
    }

    /// How many of a campaign of `cases` cases this shard plays (0 for an invalid shard).
    pub fn len(self, cases: u32) -> u32 {
        let first = self.index.wrapping_sub(1);
        if self.check().is_err() || first >= cases {
            return 0;
        }
        (cases - first - 1) / self.count + 1
    }

    /// Whether the shard plays no case of a campaign of `cases` cases.
    pub fn is_empty(self, cases: u32) -> bool {
        self.len(cases) == 0
    }

    /// The campaign index of the shard's `j`-th case (`j < self.len(cases)`).
    pub fn case_index(self, j: u32) -> u32 {
        self.index
            .saturating_sub(1)
            .saturating_add(j.saturating_mul(self.count))
    }

    /// Whether the shard plays the case of campaign index `i`.
    pub fn contains(self, i: u32) -> bool {
        self.check().is_ok() && i % self.count == self.index - 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
