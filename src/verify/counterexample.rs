//! The counter-example a failing `verify` hands back, and how it is found: replaying a
//! case, shrinking it across the generator's alternatives (`minimize`), and the
//! interleaving that proves a double fetch.

use super::*;

/// A concrete interleaving that proves a double fetch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interleaving {
    /// The two fetches.
    pub fetches: FetchPair,
    /// The second thread's write between them.
    pub write: ScheduledWrite,
    /// The case's outcome without the write.
    pub original: Outcome,
    /// With it.
    pub interleaved: Outcome,
    /// Whether they differ.
    pub outcome_differs: bool,
}

/// A failing case, shrunk.
///
/// An error (`std::error::Error`) whose `Debug` is its `Display`: `verify(..).unwrap()`
/// in a user's test prints the readable report (the seed, every bug class the search
/// met, findings, the trace with the driver's DDI calls, the replayable case), not a
/// one-line dump of the struct. Its lines are at most [`WIDTH`] characters (longer ones
/// wrap; the JSON, [`Counterexample::to_json`], has every field in full).
#[derive(Clone)]
pub struct Counterexample {
    /// The strategy's name.
    pub strategy: String,
    /// The shrunk case (replay it with [`replay`]).
    pub case: Case,
    /// The oracle's findings on it.
    pub findings: Vec<Finding>,
    /// What happened, step by step.
    pub trace: Vec<String>,
    /// For a double fetch, the interleaving that proves it.
    pub interleaving: Option<Box<Interleaving>>,
    /// The generator's seed (the same seed and configuration find the same case).
    pub seed: u64,
    /// Every bug class met across the whole search, with the number of failing cases
    /// (generated, replayed from the regressions file, or tried while shrinking) that
    /// showed it.
    pub classes_seen: BTreeMap<BugClass, u32>,
    /// The regressions file the case was appended to, if any.
    pub saved_to: Option<std::path::PathBuf>,
    /// The campaign index of the generated case this one was shrunk from (the lowest
    /// failing index of the run, whatever its threads); `None` for a case replayed from
    /// the regressions file.
    pub case_index: Option<u32>,
    /// The slice of the campaign the run played ([`Config::shard`]); [`Counterexample::case`]
    /// replays without it.
    pub shard: Option<Shard>,
}

impl Counterexample {
    /// Whether a finding of class `k` was made.
    pub fn has(&self, k: BugClass) -> bool {
        self.findings.iter().any(|f| f.kind == k)
    }

    /// The whole counter-example as JSON (its `case` field replays it): addresses in hex,
    /// with the space they are in (`"pid8 0x10000"`), provenance as `"pid4@0x11000"`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&super::display::Json::of(self)).unwrap_or_default()
    }
}

impl fmt::Debug for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Counterexample {}

/// Plays one case again (e.g. from a counter-example's JSON) and returns what the oracle found.
pub fn replay<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    case: &Case,
    machine: &crate::Config,
) -> CaseRun {
    let mut s = strategy.clone();
    run_case(&mut s, case, machine, None)
}

/// Replays `case` with a second thread writing the double-fetched byte between the two
/// fetches, and compares the outcome with the plain run.
pub fn demonstrate_double_fetch<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    case: &Case,
    machine: &crate::Config,
) -> Option<Interleaving> {
    let plain = replay(strategy, case, machine);
    let (pair, w) = plain.double_fetch?;
    let write = ScheduledWrite {
        tid: w.tid,
        before_step: pair.first + 1,
        va: w.va,
        data: vec![w.value],
    };
    let mut s = strategy.clone();
    let with = run_case(&mut s, case, machine, Some(write.clone()));
    Some(Interleaving {
        fetches: pair,
        write,
        outcome_differs: with.outcome != plain.outcome,
        original: plain.outcome,
        interleaved: with.outcome,
    })
}

/// Simpler variants of a case, simplest first (proptest's shrinking stays inside one
/// alternative of a biased generator; this walks across them).
fn simpler(c: &Case) -> Vec<Case> {
    let p = PAGE_SIZE as u32;
    let mut out = Vec::new();
    let mut push = |d: Case| {
        if d != *c && !out.contains(&d) {
            out.push(d);
        }
    };
    for l in [
        0,
        1,
        2,
        4,
        p - 1,
        p,
        p + 1,
        2 * p,
        c.length / 2,
        c.length.saturating_sub(1),
        c.length.saturating_sub(p),
    ] {
        if l < c.length {
            push(Case { length: l, ..*c });
        }
    }
    for o in [0, 1, 512, c.offset / 2] {
        if o < c.offset {
            push(Case { offset: o, ..*c });
        }
    }
    if c.fault != InjectedFault::None {
        push(Case {
            fault: InjectedFault::None,
            ..*c
        });
    }
    if c.server != ServerBehaviour::Honest {
        push(Case {
            server: ServerBehaviour::Honest,
            ..*c
        });
    }
    if c.direction != Direction::Read {
        push(Case {
            direction: Direction::Read,
            ..*c
        });
    }
    if c.seed != 0 {
        push(Case { seed: 0, ..*c });
    }
    out
}

/// Greedy minimisation after proptest's shrink: keeps the first simpler case that still fails.
pub fn minimize<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    mut case: Case,
    cfg: &Config,
) -> Case {
    let mut budget = cfg.max_shrink_iters;
    'outer: while budget > 0 {
        for cand in simpler(&case) {
            // Stay inside the configuration: a Write-only run must not shrink to a Read.
            if !cfg.directions.contains(&cand.direction)
                || !cfg.servers.contains(&cand.server)
                || !(cfg.faults.contains(&cand.fault) || cand.fault == InjectedFault::None)
            {
                continue;
            }
            budget = budget.saturating_sub(1);
            let run = case::run_case_quiet(&mut strategy.clone(), &cand, &cfg.machine);
            if cfg.fails(&run.findings) {
                case = cand;
                continue 'outer;
            }
            if budget == 0 {
                break 'outer;
            }
        }
        break;
    }
    case
}

/// The counter-example for `case`: findings, trace, and the interleaving for a double fetch.
pub fn counterexample<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    case: &Case,
    cfg: &Config,
) -> Counterexample {
    let run = replay(strategy, case, &cfg.machine);
    let interleaving = if run.findings.iter().any(|f| f.kind == BugClass::DoubleFetch) {
        demonstrate_double_fetch(strategy, case, &cfg.machine).map(Box::new)
    } else {
        None
    };
    Counterexample {
        strategy: strategy.name(),
        case: *case,
        findings: run.findings,
        trace: run.trace,
        interleaving,
        seed: cfg.seed.unwrap_or_default(),
        classes_seen: BTreeMap::new(),
        saved_to: None,
        case_index: None,
        shard: cfg.shard,
    }
}
