//! The driver zoo in `mdlsim audit`: each built-in driver and minifilter
//! ([`mdlsim::verify_driver::zoo`]) through the driver harness, beside the strategies.

use mdlsim::oracle::BugClass;
use mdlsim::verify_driver;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One zoo driver's audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriverVerdict {
    /// The driver (`sample/NoProbe`, `swapfilter/None`, ...).
    pub driver: String,
    /// `None`: documented correct; else the class it is documented to show.
    pub documented: Option<BugClass>,
    /// The classes its counter-example shows (empty when it passed).
    pub found: Vec<BugClass>,
    /// Whether the result matches the documentation.
    pub as_documented: bool,
    /// The counter-example's first finding, or the cases passed.
    pub note: String,
    /// The real bug pattern it reproduces, with its source.
    pub pattern: String,
}

/// Runs every zoo driver through [`verify_driver::verify`] with `config`.
pub fn audit_drivers(config: &mdlsim::verify::Config) -> Vec<DriverVerdict> {
    verify_driver::zoo()
        .into_iter()
        .map(|z| {
            let r = verify_driver::verify(&z.driver, config);
            let (found, note) = match &r {
                Ok(rep) => (Vec::new(), format!("passed {} cases", rep.cases)),
                Err(cx) => (
                    cx.findings.iter().map(|f| f.kind).collect(),
                    cx.findings
                        .iter()
                        .find(|f| Some(f.kind) == z.expected)
                        .or(cx.findings.first())
                        .map_or(String::new(), |f| f.detail.clone()),
                ),
            };
            let as_documented = match z.expected {
                None => r.is_ok(),
                Some(c) => found.contains(&c),
            };
            DriverVerdict {
                driver: z.driver.name,
                documented: z.expected,
                found,
                as_documented,
                note,
                pattern: z.pattern.to_string(),
            }
        })
        .collect()
}

/// The drivers' section of the matrix.
pub fn render_drivers(s: &mut String, v: &[DriverVerdict]) {
    if v.is_empty() {
        return;
    }
    let w = v.iter().map(|d| d.driver.len()).max().unwrap_or(20);
    let _ = writeln!(
        s,
        "\ndrivers (verify_driver: dispatch routines and minifilters):"
    );
    for d in v {
        let what = match d.documented {
            None => "correct".to_string(),
            Some(c) if d.as_documented => format!("broken, caught as {c}"),
            Some(c) => format!("broken as {c}, but found {:?}", d.found),
        };
        let _ = writeln!(
            s,
            "  {} {:w$} {what}: {}",
            if d.as_documented { "ok  " } else { "BAD " },
            d.driver,
            d.note
        );
        let _ = writeln!(s, "       {:w$} ({})", "", d.pattern);
    }
}
