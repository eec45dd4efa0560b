//! [`verify`]: the regressions file's cases first, then the generated search, with every
//! failing case's classes counted.

use super::*;
use proptest::test_runner::{RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::RefCell;

/// Runs the regressions file's cases of `strategy`, then `config.cases` generated cases,
/// through the oracle.
///
/// The same seed ([`Report::seed`], [`Counterexample::seed`]), configuration and
/// regressions file give the same result.
///
/// # Errors
/// The first failing case (a finding, or one in `config.focus`): a stored one if one of
/// the regressions file's cases still fails, else the generated one, shrunk, as a
/// [`Counterexample`] carrying every class the search met; the case is appended to the
/// regressions file ([`regressions`]).
// Returned once per run, and users match on its fields: not boxed.
#[allow(clippy::result_large_err)]
pub fn verify<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    config: &Config,
) -> Result<Report, Counterexample> {
    let cfg = config.effective();
    let seed = cfg.seed.unwrap_or_default();
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
    let replayed = stored.into_iter().find(|c| fails(c).0);
    let found = match replayed {
        Some(c) => Found::Case(c),
        None => match search(&cfg, seed, &fails) {
            Ok(coverage) => {
                return Ok(Report {
                    strategy: name,
                    cases: cfg.cases,
                    seed,
                    coverage,
                });
            }
            Err(f) => f,
        },
    };
    let mut cx = match found {
        Found::Case(case) => {
            let case = minimize(strategy, case, &cfg);
            let mut cx = counterexample(strategy, &case, &cfg);
            if let Some(p) = &file {
                if regressions::save(p, &name, &case).is_ok() {
                    cx.saved_to = Some(p.clone());
                }
            }
            cx
        }
        Found::Abort(why) => aborted(strategy, &cfg, why),
    };
    cx.seed = seed;
    cx.classes_seen = classes.into_inner();
    for f in &cx.findings {
        cx.classes_seen.entry(f.kind).or_insert(1);
    }
    Err(cx)
}

/// How the search ended, when it did not pass.
enum Found {
    /// A failing case (not yet minimised).
    Case(Case),
    /// proptest gave up (the reason).
    Abort(String),
}

/// The generated search: its coverage when every case passed.
fn search(
    cfg: &Config,
    seed: u64,
    fails: &dyn Fn(&Case) -> (bool, Vec<Finding>),
) -> Result<Coverage, Found> {
    let mut pc = proptest::test_runner::Config::with_cases(cfg.cases);
    pc.failure_persistence = None;
    pc.max_shrink_iters = cfg.max_shrink_iters;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(pc, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let cov = RefCell::new(Coverage::default());
    let result = runner.run(&generators::arb_case(cfg), |case| {
        let (failed, findings) = fails(&case);
        if failed {
            let kinds: Vec<String> = findings.iter().map(|f| f.kind.to_string()).collect();
            return Err(TestCaseError::fail(kinds.join(", ")));
        }
        cov.borrow_mut().add(&case);
        Ok(())
    });
    match result {
        Ok(()) => Ok(cov.into_inner()),
        Err(TestError::Fail(_, case)) => Err(Found::Case(case)),
        Err(TestError::Abort(why)) => Err(Found::Abort(why.to_string())),
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
