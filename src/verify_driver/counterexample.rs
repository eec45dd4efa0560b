//! [`DriverCounterexample`]: what a failing driver is shown.

use super::DriverUnderTest;
use super::case::{DriverCase, Request};
use super::run::DriverRun;
use crate::machine::calls::DdiCall;
use crate::oracle::{BugClass, Finding, Rule};
use std::fmt;

/// A shrunk failing case of a driver: its findings, the story of the case, the
/// driver's DDI calls, and the case as JSON for [`super::replay`].
#[derive(Clone, Debug)]
pub struct DriverCounterexample {
    /// The driver's name.
    pub driver: String,
    /// The seed of the run that found it.
    pub seed: u64,
    /// The campaign index of the case before shrinking (`None`: a case of the edge
    /// sweep, or no case was played).
    pub case_index: Option<u32>,
    /// The case is one of the edge sweep's ([`super::edge_cases`]), reported unshrunk.
    pub edge_sweep: bool,
    /// The shrunk case.
    pub case: DriverCase,
    /// The request the case sent.
    pub request: Option<Request>,
    /// What the oracle found, one per class and rule.
    pub findings: Vec<Finding>,
    /// What happened, step by step.
    pub trace: Vec<String>,
    /// The DDI calls of the case (the driver's, and the I/O manager's around them).
    pub calls: Vec<DdiCall>,
    /// For a double fetch: the replay with the byte rewritten between the fetches.
    pub proof: Option<String>,
}

// The search builds these; it needs the `proptest` feature, which the fuzz targets
// build the library without.
#[cfg_attr(not(feature = "proptest"), allow(dead_code))]
impl DriverCounterexample {
    pub(super) fn new(
        dut: &DriverUnderTest,
        seed: u64,
        case_index: Option<u32>,
        case: DriverCase,
        run: DriverRun,
        proof: Option<String>,
    ) -> Self {
        DriverCounterexample {
            driver: dut.name.clone(),
            seed,
            case_index,
            edge_sweep: false,
            request: dut.requests.get(case.request as usize).copied(),
            case,
            findings: run.findings,
            trace: run.trace,
            calls: run.calls,
            proof,
        }
    }

    /// The search could not run: a counter-example with one `Crash` finding saying why.
    pub(super) fn aborted(dut: &DriverUnderTest, seed: u64, why: String) -> Self {
        let case = DriverCase {
            request: 0,
            input: super::Buffer::NONE,
            output: super::Buffer::NONE,
            hostile: super::Hostile::None,
            input_words: Vec::new(),
            seed: 0,
        };
        let run = DriverRun {
            findings: vec![Finding::new(
                BugClass::Crash,
                Rule::Protocol,
                None,
                format!("harness aborted: {why}"),
            )],
            ..DriverRun::default()
        };
        DriverCounterexample::new(dut, seed, None, case, run, None)
    }

    /// Whether a finding of `class` is among the findings.
    pub fn has(&self, class: BugClass) -> bool {
        self.findings.iter().any(|f| f.kind == class)
    }

    /// The case as JSON, for [`super::replay`].
    pub fn to_json(&self) -> String {
        self.case.to_json()
    }
}

impl fmt::Display for DriverCounterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "driver `{}` fails (seed {}, case {}):",
            self.driver,
            self.seed,
            match (self.case_index, self.edge_sweep) {
                (Some(i), _) => i.to_string(),
                (None, true) => "of the edge sweep".into(),
                (None, false) => "none".into(),
            }
        )?;
        for x in &self.findings {
            writeln!(f, "  {x}")?;
        }
        if let Some(p) = &self.proof {
            writeln!(f, "proof: {p}")?;
        }
        writeln!(
            f,
            "the case ({:?} while pending, seed {}):",
            self.case.hostile, self.case.seed
        )?;
        for l in &self.trace {
            writeln!(f, "  {l}")?;
        }
        if !self.calls.is_empty() {
            writeln!(f, "DDI calls:")?;
            for c in &self.calls {
                writeln!(f, "  {c}")?;
            }
        }
        write!(
            f,
            "replay: mdlsim::verify_driver::replay(&driver, r#\"{}\"#, &config)",
            self.to_json()
        )
    }
}
