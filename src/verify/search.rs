//! [`verify`]: the regressions file's cases first, then the generated search on every
//! core ([`parallel`]), its lowest failing case shrunk on this thread, with every failing
//! case's classes counted.

use super::parallel::{self, Campaign, Searched};
use super::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestError;
use std::cell::RefCell;

/// Runs the regressions file's cases of `strategy`, then `config.cases` generated cases
/// (with a shard, its slice of them: [`Config::shard`]) on `config.threads` threads,
/// through the oracle.
///
/// The same seed ([`Report::seed`], [`Counterexample::seed`]), configuration and
/// regressions file give the same result, whatever the number of threads.
///
/// # Errors
/// The first failing case (a finding, or one in `config.focus`): a stored one if one of
/// the regressions file's cases still fails, else the generated one of lowest index
/// ([`Counterexample::case_index`]), shrunk on one thread, as a
/// [`Counterexample`] carrying every class the search met (the failing case and those
/// tried while shrinking it); the case is appended to the regressions file
/// ([`regressions`]). A configuration [`Config::validate`] rejects is reported as a
/// counter-example saying why.
// Returned once per run, and users match on its fields: not boxed.
#[allow(clippy::result_large_err)]
pub fn verify<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    config: &Config,
) -> Result<Report, Counterexample> {
    let cfg = config.effective();
    let seed = cfg.seed.unwrap_or_default();
    let camp = match config.validate().and_then(|()| Campaign::of(&cfg)) {
        Ok(c) => c,
        Err(why) => return Err(aborted(strategy, &cfg, why)),
    };
    let name = strategy.name();
    let file = regressions::path_for(&cfg, &name);
    let classes = RefCell::new(BTreeMap::<BugClass, u32>::new());
    let fails = |case: &Case| {
        let run = case::run_case_quiet(&mut strategy.clone(), case, &cfg.machine);
        let failed = cfg.fails(&run.findings);
        if failed {
            count(&mut classes.borrow_mut(), &run.findings);
        }
        (failed, run.findings)
    };
    let stored = file.as_deref().map(regressions::load).unwrap_or_default();
    let found = match stored.into_iter().find(|c| fails(c).0) {
        Some(c) => Found::Case(c, None),
        None => match parallel::search(strategy, &cfg, &camp) {
            Searched::Passed(coverage) => {
                return Ok(Report {
                    strategy: name,
                    cases: camp.len,
                    seed,
                    coverage,
                    shard: cfg.shard,
                });
            }
            Searched::Failed(j) => shrink(&cfg, &camp, j, &fails),
            Searched::Lost => Found::Abort("a worker thread panicked outside a case".into()),
        },
    };
    let mut cx = match found {
        Found::Case(case, index) => {
            let case = minimize(strategy, case, &cfg);
            let mut cx = counterexample(strategy, &case, &cfg);
            cx.case_index = index;
            if let Some(p) = &file {
                if regressions::save(p, &name, &case).is_ok() {
                    cx.saved_to = Some(p.clone());
                }
            }
            cx
        }
        Found::Abort(why) => aborted(strategy, &cfg, why),
    };
    cx.classes_seen = classes.into_inner();
    for f in &cx.findings {
        cx.classes_seen.entry(f.kind).or_insert(1);
    }
    Err(cx)
}

/// The generated cases a [`verify`] run with `config` plays after the regressions file's,
/// with their campaign indices, in index order (with a shard, only its slice): the same
/// for any number of threads. Fix the seed ([`Config::seed`]) to list a run's cases; else
/// a fresh one is drawn, as `verify` does.
///
/// # Errors
/// As [`Config::validate`].
pub fn generated_cases(config: &Config) -> Result<impl Iterator<Item = (u32, Case)>, String> {
    config.validate()?;
    let cfg = config.effective();
    let camp = Campaign::of(&cfg)?;
    let arb = generators::arb_case(&cfg);
    let mut runner = camp.runner(0);
    Ok((0..camp.len).filter_map(move |j| {
        let i = camp.shard.case_index(j);
        let tree = camp.tree(&arb, &mut runner, i).ok()?;
        Some((i, tree.current()))
    }))
}

/// How the search ended, when it did not pass.
enum Found {
    /// A failing case (not yet minimised), and its campaign index when generated.
    Case(Case, Option<u32>),
    /// The search could not go on (the reason).
    Abort(String),
}

/// The case at position `j` of the shard, generated again and shrunk by proptest on this
/// thread (`fails` counts the classes of every failing case tried).
fn shrink(
    cfg: &Config,
    camp: &Campaign,
    j: u32,
    fails: &dyn Fn(&Case) -> (bool, Vec<Finding>),
) -> Found {
    let i = camp.shard.case_index(j);
    let mut runner = camp.runner(cfg.max_shrink_iters);
    let arb = generators::arb_case(cfg);
    let tree = match camp.tree(&arb, &mut runner, i) {
        Ok(t) => t,
        Err(why) => return Found::Abort(format!("case {i} could not be generated: {why}")),
    };
    let first = tree.current();
    let result = runner.run_one(tree, |case| {
        let (failed, findings) = fails(&case);
        parallel::failure(failed, &findings)
    });
    match result {
        Err(TestError::Fail(_, case)) => Found::Case(case, Some(i)),
        Err(TestError::Abort(why)) => Found::Abort(why.to_string()),
        // It failed in the search and passes now: the strategy is not deterministic.
        Ok(_) => Found::Case(first, Some(i)),
    }
}

/// Adds one failing case's classes (each class once per case).
fn count(classes: &mut BTreeMap<BugClass, u32>, findings: &[Finding]) {
    let kinds: BTreeSet<BugClass> = findings.iter().map(|f| f.kind).collect();
    for k in kinds {
        *classes.entry(k).or_default() += 1;
    }
}

/// The counter-example for a search proptest aborted.
fn aborted<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    cfg: &Config,
    why: String,
) -> Counterexample {
    let case = Case {
        offset: 0,
        length: 0,
        direction: Direction::Read,
        server: ServerBehaviour::Honest,
        fault: InjectedFault::None,
        seed: 0,
    };
    let mut cx = counterexample(strategy, &case, cfg);
    cx.findings.push(Finding::new(
        BugClass::Crash,
        crate::oracle::Rule::Protocol,
        None,
        format!("harness aborted: {why}"),
    ));
    cx
}
