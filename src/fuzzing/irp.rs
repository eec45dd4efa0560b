//! The `irp` target: arbitrary I/O workloads through the I/O manager — buffered, direct
//! and neither devices, a filter stack, cancel-safe queues (one whose driver sets no
//! cancel routine), cancellation, timers, deferred completion APCs, applications
//! rewriting and freeing their buffers, threads and processes exiting mid-request
//! ([semantics §5], [§6], [invariant 27]).
//!
//! The bytes decode into [`Op`]s ([`irp_workload`]): the steps of an I/O workload
//! ([`crate::op::workload`]), which [`irp_ops`] runs after the workload's setup through
//! the one interpreter ([`Interpreter`]) and judges. With these (correct) drivers,
//! nothing may crash the machine or be a model error, `audit()` holds after every op,
//! every request sent finishes exactly once, and once the queues are drained and every
//! process has exited nothing is left: no IRP, MDL, mapping, pool block, system PTE,
//! locked page or leaked lock. A failure names the steps as JSON, a `Vec<Op>` that
//! replays through [`irp_ops`] as it is.
//!
//! [semantics §5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5
//! [§6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
//! [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27

use super::{Failure, leftovers};
use crate::fault::Fault;
use crate::io::IrpId;
use crate::machine::Config;
use crate::op::{Interpreter, Op, Outcome, Value, workload};
use crate::process::ProcessState;
use arbitrary::{Arbitrary, Unstructured};

/// Steps decoded at most (longer inputs are cut).
pub const MAX_STEPS: usize = 64;

/// Decodes the target's bytes into a workload's steps: a first byte whose value (as
/// `arbitrary` reads a `bool`) defers stage-2 completion APCs
/// ([`workload::defer_apcs`]), then up to 64 steps (`MAX_STEPS`), each a byte choosing one
/// of twelve kinds and the numbers [`crate::op::workload`]'s function for it takes.
/// Any bytes decode; the steps end with the input.
pub fn irp_workload(data: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    if bool::arbitrary(&mut u).unwrap_or(false) {
        ops.push(workload::defer_apcs());
    }
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        match step(&mut u) {
            Ok(step) => ops.extend(step),
            Err(_) => break,
        }
    }
    ops
}

/// One step of a workload.
fn step(u: &mut Unstructured) -> arbitrary::Result<Vec<Op>> {
    use workload::*;
    Ok(match u.choose_index(12)? {
        0 => vec![read(
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
        )],
        1 => vec![write(
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
        )],
        2 => vec![ioctl(
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
        )],
        3 => vec![complete_next(u.arbitrary()?)],
        4 => vec![cancel(u.arbitrary()?, u.arbitrary()?)],
        5 => vec![set_timer(u.arbitrary()?, u.arbitrary()?)],
        6 => vec![deliver_apcs(u.arbitrary()?)],
        7 => vec![advance(u.arbitrary()?)],
        8 => vec![app_write(u.arbitrary()?, u.arbitrary()?)],
        9 => vec![free_buffer(u.arbitrary()?)],
        10 => exit(u.arbitrary()?),
        _ => thread_read_then_exit(
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
        ),
    })
}

/// The interpreter after [`workload::setup`], or what went wrong in it.
fn world() -> Result<Interpreter, String> {
    let mut interp = Interpreter::new(Config::default()).map_err(|e| format!("setup: {e}"))?;
    for (i, op) in workload::setup().iter().enumerate() {
        if let Outcome::Fault(f) = interp.apply(op) {
            return Err(format!("setup step {i} {op:?}: {f}"));
        }
    }
    Ok(interp)
}

thread_local! {
    /// The world after setup, built on first use: every workload starts from a clone.
    /// The drivers are stateless (their queues live in the machine's device extensions)
    /// and setup is deterministic, so a clone is the world a fresh setup builds.
    static WORLD: std::cell::RefCell<Option<Result<Interpreter, String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs a workload's steps (what [`irp_workload`] decodes, or any other ops) after
/// [`workload::setup`], drains it, and returns the steps' outcomes.
///
/// # Errors
/// A [`Failure`] for a bug check or a model error at any step (raised and returned
/// statuses are answers: an application touching the buffer it freed), an `audit()`
/// violation after any step, a request that did not finish exactly once, a process not
/// deleted, or anything left behind once everything was drained.
pub fn irp_ops(steps: &[Op]) -> Result<Vec<Outcome>, Failure> {
    let fail = |problems: Vec<String>| Failure {
        target: "irp",
        input: serde_json::to_string(steps).unwrap_or_default(),
        problems,
    };
    let mut interp = WORLD
        .with(|t| t.borrow_mut().get_or_insert_with(world).clone())
        .map_err(|e| fail(vec![e]))?;
    let mut outcomes = Vec::with_capacity(steps.len());
    let mut issued: Vec<IrpId> = Vec::new();
    for (i, op) in steps.iter().enumerate() {
        let out = interp.apply(op);
        if let Outcome::Fault(f) = &out {
            if !matches!(f, Fault::Raise(_) | Fault::Status(_))
                || interp.machine().crashed().is_some()
            {
                return Err(fail(vec![format!("step {i} {op:?}: {f}")]));
            }
        }
        if let Outcome::Ok(Value::Io { irp: Some(ix), .. }) = out {
            issued.extend(interp.irps().get(ix as usize));
        }
        let audit = interp.machine().audit();
        if !audit.is_empty() {
            let at = |v: &dyn std::fmt::Display| format!("audit after step {i} {op:?}: {v}");
            return Err(fail(audit.iter().map(|v| at(v)).collect()));
        }
        outcomes.push(out);
    }
    drain(&mut interp).map_err(|e| fail(vec![format!("drain: {e}")]))?;
    let problems = judge(&interp, &issued);
    if problems.is_empty() {
        Ok(outcomes)
    } else {
        Err(fail(problems))
    }
}

/// Completes everything still queued, then ends every process.
fn drain(interp: &mut Interpreter) -> Result<(), String> {
    let run = |interp: &mut Interpreter, op: &Op| match interp.apply(op) {
        Outcome::Fault(f) => Err(format!("{op:?}: {f}")),
        Outcome::Ok(v) => Ok(v == Value::Bool(true)),
    };
    for _ in 0..1000 {
        let mut any = false;
        for op in workload::drain_round() {
            any |= run(interp, &op)?;
        }
        if !any {
            break;
        }
    }
    for _ in 0..interp.processes().len() {
        let m = interp.machine();
        let running = interp
            .processes()
            .iter()
            .any(|p| m.process(*p).is_ok_and(|p| p.is_alive()));
        if !running {
            break;
        }
        run(interp, &workload::exit_newest())?;
    }
    Ok(())
}

/// What a drained workload must not show.
fn judge(interp: &Interpreter, issued: &[IrpId]) -> Vec<String> {
    let m = interp.machine();
    let mut problems = Vec::new();
    if let Some(b) = m.crashed() {
        problems.push(format!("crashed: {b}"));
    }
    for irp in issued {
        let n = m.io_completions().iter().filter(|c| c.irp == *irp).count();
        if n != 1 {
            problems.push(format!("{irp:?} finished {n} times"));
        }
    }
    if m.io_completions().len() != issued.len() {
        problems.push(format!(
            "{} completions for {} requests",
            m.io_completions().len(),
            issued.len()
        ));
    }
    for p in m.processes() {
        if p.state != ProcessState::Deleted {
            problems.push(format!("{} is {:?}, not deleted", p.pid, p.state));
        }
    }
    problems.extend(leftovers(m));
    problems
}

/// The `irp` target: decodes a workload from `data` ([`irp_workload`]) and runs it
/// ([`irp_ops`]).
///
/// # Errors
/// As [`irp_ops`].
pub fn irp(data: &[u8]) -> Result<(), Failure> {
    irp_ops(&irp_workload(data)).map(|_| ())
}
