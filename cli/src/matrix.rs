//! `mdlsim audit`'s matrix as text: a row per strategy and direction, a column per
//! rule, the counter-examples and the verdicts.

use crate::{AuditReport, AuditRow, RULES, rule_short};
use mdlsim::strategy::Direction;
use std::fmt::Write as _;

/// The matrix as text: a row per strategy and direction, a column per rule, then the
/// counter-examples and the verdicts.
pub fn render_matrix(r: &AuditReport) -> String {
    let mut s = String::new();
    let w = r
        .rows
        .iter()
        .map(|x| x.strategy.len() + 7)
        .max()
        .unwrap_or(20)
        .max(20);
    let _ = writeln!(
        s,
        "mdlsim audit: {} cases per strategy and direction, seed {}",
        r.cases, r.seed
    );
    let _ = write!(s, "{:w$}", "strategy (dir)");
    for rule in RULES {
        let _ = write!(s, " {:>9}", rule_short(rule));
    }
    let _ = writeln!(s, "  verdict");
    for row in &r.rows {
        render_row(&mut s, row, w);
    }
    let _ = writeln!(
        s,
        "(a failing run stops at its first counter-example, shrunk: `-` = not established by it)"
    );
    render_counterexamples(&mut s, r);
    crate::drivers::render_drivers(&mut s, &r.drivers);
    render_verdicts(&mut s, r, w);
    s
}

/// One strategy and direction: a cell per rule (`PASS`, `FAIL`, or `-` for a rule the
/// failing run's counter-example did not establish), then the classes found.
fn render_row(s: &mut String, row: &AuditRow, w: usize) {
    let dir = match row.direction {
        Direction::Read => "R",
        Direction::Write => "W",
    };
    let label = format!("{} ({dir})", row.strategy);
    let _ = write!(s, "{label:w$}");
    for rule in RULES {
        let cell = if row.passed {
            "PASS"
        } else if row.failed_rules.contains(&rule) {
            "FAIL"
        } else {
            "-"
        };
        let _ = write!(s, " {cell:>9}");
    }
    let v = if row.passed {
        "pass".to_string()
    } else {
        row.classes
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let _ = writeln!(s, "  {v}");
}

/// The failing rows' shrunk counter-examples, with the command that replays each.
fn render_counterexamples(s: &mut String, r: &AuditReport) {
    let fails: Vec<&AuditRow> = r.rows.iter().filter(|x| !x.passed).collect();
    if fails.is_empty() {
        return;
    }
    let _ = writeln!(s, "\ncounter-examples:");
    for row in fails {
        let _ = writeln!(
            s,
            "  {} {}: {}",
            row.strategy,
            row.direction,
            row.summary.as_deref().unwrap_or("")
        );
        if let Some(f) = &row.scenario_file {
            let _ = writeln!(s, "    replay: mdlsim replay {f}");
        }
    }
}

/// Each strategy's verdict against what it documents, and the summary line.
fn render_verdicts(s: &mut String, r: &AuditReport, w: usize) {
    let _ = writeln!(s, "\nverdicts:");
    for v in &r.verdicts {
        let _ = writeln!(
            s,
            "  {} {:w$} {}",
            if v.as_documented { "ok  " } else { "BAD " },
            v.strategy,
            v.note
        );
    }
    let bad = r.verdicts.iter().filter(|v| !v.as_documented).count();
    let bad_drivers = r.drivers.iter().filter(|d| !d.as_documented).count();
    let and_drivers = if r.drivers.is_empty() {
        ""
    } else {
        " and driver"
    };
    if bad == 0 && bad_drivers == 0 {
        let _ = writeln!(s, "every strategy{and_drivers} behaves as documented");
    } else {
        let _ = writeln!(
            s,
            "{bad} strategies and {bad_drivers} drivers do NOT behave as documented"
        );
    }
}
