//! Replaying a scenario of kind `"ops"` (`docs/scenarios.md`): every op through one
//! [`Interpreter`], the events and findings each one produced, the final state (bug
//! check, hazards, `audit()`), and whether the scenario's expectations held.

use super::{class_list, refused};
use crate::audit::Hazard;
use crate::bugcheck::BugCheck;
use crate::events::{Event, EventKind};
use crate::machine::Config;
use crate::op::{Interpreter, Op, Outcome, Value};
use crate::oracle::{Finding, event_finding, fault_finding, hygiene};
use crate::scenario::{Expect, Final, Reads, StepExpect, check_references};
use std::fmt::Write as _;

/// One op as replayed.
#[derive(Clone, Debug)]
pub struct OpStep {
    /// The op.
    pub op: Op,
    /// What it returned.
    pub outcome: Outcome,
    /// The protocol events it recorded.
    pub events: Vec<Event>,
    /// Those events as the oracle's findings.
    pub findings: Vec<Finding>,
}

/// What replaying an `"ops"` scenario produced.
#[derive(Clone, Debug)]
pub struct OpsRun {
    /// Each op, in order.
    pub steps: Vec<OpStep>,
    /// The bug check the machine died of, if it did.
    pub crashed: Option<BugCheck>,
    /// What [`crate::Machine::hazards`] reports at the end.
    pub hazards: Vec<Hazard>,
    /// What [`crate::Machine::audit`] reports at the end (one line each).
    pub violations: Vec<String>,
    /// The final state as findings (the crash, or the hazards and audit violations:
    /// [`hygiene::after_exit`]).
    pub end_findings: Vec<Finding>,
    /// Why the expectations (other than `findings`) did not hold; empty when they did.
    pub mismatches: Vec<String>,
}

impl OpsRun {
    /// Every finding: per op, then the final state's.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.steps
            .iter()
            .flat_map(|s| s.findings.iter())
            .chain(self.end_findings.iter())
    }
}

/// Plays `ops` on a machine configured as `machine` (the scenario's
/// [`crate::scenario::MachineConfig`] with the player's host-memory budget) and checks `expect` (all but
/// `findings`, which the caller compares).
///
/// # Errors
/// The configuration is refused by the machine, an op names an object that does not
/// exist at that point ([`check_references`]): `file`, the op's index and name, what was
/// expected; or an op needs more host memory than the machine's budget.
pub fn play_ops(
    machine: &Config,
    ops: &[Op],
    expect: &Expect,
    file: &str,
) -> Result<OpsRun, crate::scenario::ScenarioError> {
    let mut interp = Interpreter::new(machine.clone())
        .map_err(|e| refused(file, format!("scenario.machine: {e}")))?;
    let mut steps = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        check_references(op, &interp)
            .map_err(|why| refused(file, format!("op {i} ({}): {why}", op.name())))?;
        let before = interp.machine().events().len();
        let outcome = interp.apply(op);
        // A limit of the simulator, not an outcome the scenario could expect.
        if let Some(
            e @ crate::fault::Fault::Model(crate::fault::ModelError::HostMemoryLimit { .. }),
        ) = outcome.fault()
        {
            return Err(refused(file, format!("op {i} ({}): {e}", op.name())));
        }
        let events: Vec<Event> = interp.machine().events()[before..].to_vec();
        let findings = events.iter().map(event_finding).collect();
        steps.push(OpStep {
            op: *op,
            outcome,
            events,
            findings,
        });
    }
    let m = interp.machine();
    let mut run = OpsRun {
        steps,
        crashed: m.crashed().cloned(),
        hazards: m.hazards(),
        violations: m.audit().iter().map(|v| v.to_string()).collect(),
        end_findings: match m.crashed() {
            Some(b) => vec![fault_finding(
                &crate::fault::Fault::BugCheck(b.clone()),
                m.step(),
                "final state",
            )],
            None => hygiene::after_exit(m, m.step()),
        },
        mismatches: Vec::new(),
    };
    run.mismatches = mismatches(&run, expect);
    Ok(run)
}

/// Set equality of two lists, and the elements of each the other lacks.
fn same_set<T: PartialEq + std::fmt::Debug>(found: &[T], want: &[T]) -> Option<String> {
    let missing: Vec<&T> = want.iter().filter(|w| !found.contains(w)).collect();
    let extra: Vec<&T> = found.iter().filter(|f| !want.contains(f)).collect();
    let mut extra_dedup: Vec<&T> = Vec::new();
    for e in extra {
        if !extra_dedup.contains(&e) {
            extra_dedup.push(e);
        }
    }
    match (missing.is_empty(), extra_dedup.is_empty()) {
        (true, true) => None,
        _ => Some(format!("missing {missing:?}, not expected {extra_dedup:?}")),
    }
}

/// Why `run` does not meet `expect` (everything but `findings`).
fn mismatches(run: &OpsRun, expect: &Expect) -> Vec<String> {
    let mut out = Vec::new();
    match (&expect.end, &run.crashed) {
        (None | Some(Final::Running), None) => {}
        (None | Some(Final::Running), Some(b)) => out.push(format!(
            "final: expected the machine running, it crashed: {b}"
        )),
        (Some(Final::BugCheck { code, .. }), None) => out.push(format!(
            "final: expected bug check {}, the machine is still running",
            code.0
        )),
        (Some(Final::BugCheck { code, params }), Some(b)) => {
            if b.code != code.0 {
                out.push(format!("final: expected bug check {}, got {b}", code.0));
            }
            for (i, p) in params.iter().enumerate() {
                if let Some(want) = p.0 {
                    let got = b.params.get(i).copied().unwrap_or(0);
                    if got != want {
                        out.push(format!(
                            "final: bug check parameter {} is {got:#x}, expected {want:#x}",
                            i + 1
                        ));
                    }
                }
            }
        }
    }
    let kinds: Vec<EventKind> = run
        .steps
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.kind))
        .collect();
    if let Some(why) = same_set(&kinds, expect.events.as_deref().unwrap_or(&[])) {
        out.push(format!("events: {why}"));
    }
    let hz: Vec<String> = run.hazards.iter().map(|h| h.kind.to_string()).collect();
    if let Some(why) = same_set(&hz, expect.hazards.as_deref().unwrap_or(&[])) {
        out.push(format!("hazards: {why}"));
    }
    let clean = run.violations.is_empty();
    let want_clean = expect.audit_clean.unwrap_or(true);
    if clean != want_clean {
        out.push(match run.violations.first() {
            Some(v) => format!(
                "audit: expected clean, {} violations, first {v}",
                run.violations.len()
            ),
            None => "audit: expected violations, it is clean".to_string(),
        });
    }
    for st in &expect.steps {
        if let Some(s) = run.steps.get(st.op) {
            out.extend(step_mismatches(st, s));
        }
    }
    out
}

/// Why op `st.op`'s outcome does not meet `st`.
fn step_mismatches(st: &StepExpect, s: &OpStep) -> Vec<String> {
    let mut out = Vec::new();
    let at = format!("op {} ({})", st.op, s.op.name());
    let got = outcome_text(&s.outcome);
    if let Some(ok) = st.ok {
        if ok != s.outcome.is_ok() {
            out.push(format!(
                "{at}: expected it to {}, got {got}",
                if ok { "return normally" } else { "fault" }
            ));
        }
    }
    if let Some(want) = st.status {
        let status = match &s.outcome {
            Outcome::Ok(Value::Io { status, .. }) => Some(*status),
            Outcome::Fault(f) => f.status(),
            Outcome::Ok(_) => None,
        };
        if status != Some(want.0) {
            out.push(format!("{at}: expected status {}, got {got}", want.0));
        }
    }
    if let Some(code) = st.bug_check {
        let b = s.outcome.fault().and_then(|f| f.bug_check());
        if b.map(|b| b.code) != Some(code.0) {
            out.push(format!("{at}: expected bug check {}, got {got}", code.0));
        }
    }
    if let Some(want) = st.boolean {
        if s.outcome != Outcome::Ok(Value::Bool(want)) {
            out.push(format!("{at}: expected {want}, got {got}"));
        }
    }
    if let Some(null) = st.null {
        let is_null = s.outcome == Outcome::Ok(Value::Null);
        if null != is_null {
            out.push(format!(
                "{at}: expected {}, got {got}",
                if null { "NULL" } else { "a non-NULL result" }
            ));
        }
    }
    if let Some(reads) = st.reads {
        let len = match s.op {
            Op::Vm(
                crate::op::VmOp::UserRead { len, .. } | crate::op::VmOp::KernelRead { len, .. },
            ) => len,
            _ => 0,
        };
        let want = match reads {
            Reads::Zero => {
                Interpreter::bytes(&vec![0; len.min(crate::op::MAX_WRITE_BYTES) as usize])
            }
            Reads::Pattern(seed) => Interpreter::bytes(&Interpreter::pattern(len, seed)),
        };
        if s.outcome != Outcome::Ok(want) {
            let what = match reads {
                Reads::Zero => "zeros".to_string(),
                Reads::Pattern(seed) => format!("the pattern from {seed:#04x}"),
            };
            out.push(format!("{at}: expected {len} bytes of {what}, got {got}"));
        }
    }
    out
}

/// An op's arguments as compact JSON (`{"mdl":{"Recent":0}}`), empty for none.
fn op_args(op: &Op) -> String {
    let Ok(v) = serde_json::to_value(op) else {
        return String::new();
    };
    // `{"Layer": {"Variant": {args}}}` or `{"Layer": "Variant"}`.
    let inner = v
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|l| l.as_object())
        .and_then(|o| o.values().next());
    match inner {
        Some(a) if a.is_object() || a.is_array() => a.to_string(),
        _ => String::new(),
    }
}

/// An outcome in words.
pub fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Ok(v) => match v {
            Value::Unit => "ok".into(),
            Value::Null => "NULL".into(),
            Value::Process { ix, pid } => format!("process #{ix} ({pid})"),
            Value::Thread(t) => format!("thread {t}"),
            Value::Va { ix, va } => format!("address #{ix} = {va}"),
            Value::Mdl { ix, id } => format!("MDL #{ix} ({id})"),
            Value::Irp { ix, id } => format!("IRP #{ix} ({id})"),
            Value::Bytes { len, hash } => format!("{len} bytes read (FNV-1a {hash:#018x})"),
            Value::Protection(p) => format!("old protection {p:?}"),
            Value::Size(n) => format!("{n} bytes"),
            Value::Driver { ix } => format!("driver #{ix}"),
            Value::Device { ix, id } => format!("device #{ix} ({id:?})"),
            Value::Io { status, irp } => match irp {
                Some(i) => format!("{status}, IRP #{i}"),
                None => format!("{status}, no IRP"),
            },
            Value::Bool(b) => b.to_string(),
            Value::Accesses { count, .. } => format!("{count} accesses logged"),
        },
        Outcome::Fault(f) => match f {
            crate::fault::Fault::BugCheck(b) => format!("BUG CHECK {b}"),
            crate::fault::Fault::Raise(s) => format!("raised {s}"),
            crate::fault::Fault::Status(s) => format!("failed with {s}"),
            crate::fault::Fault::Model(e) => format!("model error: {e}"),
        },
    }
}

/// The replay of an `"ops"` scenario as text: each op, its outcome and the findings it
/// made, the final state, and the expectations' verdict (`-> as expected` or
/// `-> NOT as expected: reason`).
///
/// `mismatch` is why the replay is not as expected ([`super::Replayed::mismatch`]).
pub fn render_ops(
    run: &OpsRun,
    expect: &Expect,
    found: &[crate::oracle::BugClass],
    mismatch: Option<&str>,
) -> String {
    let mut s = String::new();
    let w = run.steps.len().saturating_sub(1).to_string().len();
    for (i, st) in run.steps.iter().enumerate() {
        let args = op_args(&st.op);
        let sep = if args.is_empty() { "" } else { " " };
        let _ = writeln!(
            s,
            "  op {i:>w$} {}{sep}{args} -> {}",
            st.op.name(),
            outcome_text(&st.outcome)
        );
        for f in &st.findings {
            let _ = writeln!(s, "    -> finding {f}");
        }
    }
    s.push('\n');
    match &run.crashed {
        Some(b) => {
            let _ = writeln!(s, "final state: crashed, {b}");
        }
        None => {
            let _ = writeln!(s, "final state: running");
        }
    }
    if run.hazards.is_empty() {
        let _ = writeln!(s, "hazards: none");
    } else {
        let _ = writeln!(s, "hazards:");
        for h in &run.hazards {
            let _ = writeln!(s, "  {h}");
        }
    }
    if run.violations.is_empty() {
        let _ = writeln!(s, "audit: clean");
    } else {
        let _ = writeln!(s, "audit: {} violations", run.violations.len());
        for v in &run.violations {
            let _ = writeln!(s, "  {v}");
        }
    }
    for f in &run.end_findings {
        let _ = writeln!(s, "    -> finding {f}");
    }
    let mut exp = expect.findings.clone();
    exp.sort();
    exp.dedup();
    let _ = writeln!(
        s,
        "findings: {} (expected {})",
        class_list(found),
        class_list(&exp)
    );
    let what = summary(expect);
    match mismatch {
        None => {
            let _ = writeln!(s, "expectations: {what} -> as expected");
        }
        Some(why) => {
            let _ = writeln!(s, "expectations: {what} -> NOT as expected: {why}");
        }
    }
    let _ = writeln!(
        s,
        "\n(no page map: an \"ops\" scenario plays raw kernel operations, with no client buffer or server view to draw)"
    );
    s
}

/// The expectations in a few words.
fn summary(e: &Expect) -> String {
    let end = match &e.end {
        None | Some(Final::Running) => "machine running".to_string(),
        Some(Final::BugCheck { code, .. }) => format!("bug check {:#x}", code.0.0),
    };
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let events = list(
        e.events
            .iter()
            .flatten()
            .map(|k| format!("{k:?}"))
            .collect(),
    );
    let hazards = list(e.hazards.iter().flatten().cloned().collect());
    format!(
        "{end}; events {events}; hazards {hazards}; audit {}; {} op check(s)",
        if e.audit_clean.unwrap_or(true) {
            "clean"
        } else {
            "violated"
        },
        e.steps.len()
    )
}
