//! The consistency of a scenario's `"ops"` body: its limits, its expectations, and that every
//! object an op refers to exists when it is applied.

use super::{Expect, Final, MAX_OPS, MAX_PHYSICAL_MEMORY, MAX_SYSTEM_PTES, MachineConfig};
use crate::audit::HazardKind;
use crate::op::{Interpreter, Ix, Op};

/// The first inconsistency of an `"ops"` body: (text to locate it by, message).
pub(super) fn check_ops(
    machine: &MachineConfig,
    ops: &[Op],
    expect: &Expect,
) -> Option<(String, String)> {
    check_limits(machine, ops)
        .or_else(|| check_expected_values(expect))
        .or_else(|| check_step_checks(ops, expect))
}

/// The first limit the body or its machine exceeds: the op count, the physical memory, the
/// system PTEs.
fn check_limits(machine: &MachineConfig, ops: &[Op]) -> Option<(String, String)> {
    if ops.len() > MAX_OPS {
        return Some((
            "\"ops\"".into(),
            format!("{} ops; expected at most {MAX_OPS}", ops.len()),
        ));
    }
    if let Some(b) = machine.physical_memory_bytes {
        if !(crate::addr::PAGE_SIZE..=MAX_PHYSICAL_MEMORY).contains(&b) {
            return Some((
                "\"physical_memory_bytes\"".into(),
                format!("physical_memory_bytes {b}; expected 4096..={MAX_PHYSICAL_MEMORY}"),
            ));
        }
    }
    if let Some(n) = machine.system_ptes {
        if n > MAX_SYSTEM_PTES {
            return Some((
                "\"system_ptes\"".into(),
                format!("system_ptes {n}; expected at most {MAX_SYSTEM_PTES}"),
            ));
        }
    }
    None
}

/// The first value in `expect` no outcome can have: more than 4 bug check parameters, an
/// unknown hazard kind.
fn check_expected_values(expect: &Expect) -> Option<(String, String)> {
    if let Some(Final::BugCheck { params, .. }) = &expect.end {
        if params.len() > 4 {
            return Some((
                "\"params\"".into(),
                format!("{} bug check parameters; expected at most 4", params.len()),
            ));
        }
    }
    for h in expect.hazards.iter().flatten() {
        if HazardKind::from_name(h).is_none() {
            return Some((
                format!("\"{h}\""),
                format!(
                    "unknown hazard kind `{h}`; expected one of {}",
                    HazardKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    None
}

/// The first step check of `expect` that names no op of `ops`, or checks `reads` of an op
/// that reads nothing.
fn check_step_checks(ops: &[Op], expect: &Expect) -> Option<(String, String)> {
    for (i, st) in expect.steps.iter().enumerate() {
        let needle = format!("\"op\": {}", st.op);
        let Some(op) = ops.get(st.op) else {
            return Some((
                needle,
                match ops.len() {
                    0 => format!(
                        "expect.steps[{i}] checks op {}, but the scenario has no ops; expected no step checks",
                        st.op
                    ),
                    n => format!(
                        "expect.steps[{i}] checks op {}, but the scenario has {n} ops; expected an index below {n}",
                        st.op
                    ),
                },
            ));
        };
        let is_read = matches!(
            op,
            Op::Vm(crate::op::VmOp::UserRead { .. } | crate::op::VmOp::KernelRead { .. })
        );
        if st.reads.is_some() && !is_read {
            return Some((
                needle,
                format!(
                    "expect.steps[{i}] checks `reads` of op {} ({}); expected a UserRead or KernelRead",
                    st.op,
                    op.name()
                ),
            ));
        }
    }
    None
}

/// The tables an op's object references ([`Ix`]) index into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Processes,
    Threads,
    Mdls,
    Irps,
    Vas,
    Drivers,
    Devices,
}

impl Table {
    /// The table a reference held in field `field` of op variant `variant` names.
    fn of(variant: &str, field: &str) -> Option<Table> {
        Some(match (variant, field) {
            ("AttachDevice", "source" | "target") | ("DetachDevice", "target") => Table::Devices,
            (_, "device" | "volume") => Table::Devices,
            (_, "driver") => Table::Drivers,
            (_, "thread") => Table::Threads,
            (_, "process") => Table::Processes,
            (_, "irp") => Table::Irps,
            (_, "ix") => Table::Vas,
            (_, "mdl" | "source" | "target" | "src" | "dst" | "next") => Table::Mdls,
            _ => return None,
        })
    }

    fn name(self) -> (&'static str, &'static str) {
        match self {
            Table::Processes => ("a process", "processes"),
            Table::Threads => ("a thread", "threads"),
            Table::Mdls => ("an MDL", "MDLs"),
            Table::Irps => ("an IRP", "IRPs"),
            Table::Vas => ("a returned address", "returned addresses"),
            Table::Drivers => ("a driver", "drivers"),
            Table::Devices => ("a device", "devices"),
        }
    }

    fn len(self, i: &Interpreter) -> usize {
        match self {
            Table::Processes => i.processes().len(),
            Table::Threads => i.threads().len(),
            Table::Mdls => i.mdls().len(),
            Table::Irps => i.irps().len(),
            Table::Vas => i.vas().len(),
            Table::Drivers => i.drivers().len(),
            Table::Devices => i.devices().len(),
        }
    }
}

/// The [`Ix`] a JSON value is, if it is one (`{"Nth": 2}`, `{"Recent": 0}`, `{"Live": 1}`).
fn as_ix(v: &serde_json::Value) -> Option<Ix> {
    serde_json::from_value::<Ix>(v.clone())
        .ok()
        .filter(|_| v.as_object().is_some_and(|o| o.len() == 1))
}

/// Every object reference in `v` (an op as JSON): (variant, field, index).
fn references(v: &serde_json::Value, variant: &str, out: &mut Vec<(String, String, Ix)>) {
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            if let Some(ix) = as_ix(x) {
                out.push((variant.to_string(), k.clone(), ix));
            } else if x.is_object() && k.chars().next().is_some_and(char::is_uppercase) {
                // `{"Mdl": {"IoFreeMdl": {...}}}`, `{"Returned": {...}}`: a variant name.
                let inner = if variant.is_empty() || o.len() == 1 {
                    k
                } else {
                    variant
                };
                references(x, inner, out);
            } else {
                references(x, variant, out);
            }
        }
    }
}

/// Checks that every object `op` refers to exists when it is applied: an `"ops"`
/// scenario names objects by their index in the interpreter's tables ([`Ix`]); the
/// interpreter wraps indices so that any sequence runs (for fuzzing), but in a file an
/// index past the table — an MDL that was never created — is an inconsistent file, not
/// a situation.
///
/// # Errors
/// The first reference past its table, in words.
pub fn check_references(op: &Op, interp: &Interpreter) -> Result<(), String> {
    let Ok(v) = serde_json::to_value(op) else {
        return Ok(());
    };
    let mut refs = Vec::new();
    references(&v, "", &mut refs);
    for (variant, field, ix) in refs {
        let Some(t) = Table::of(&variant, &field) else {
            continue;
        };
        let len = t.len(interp);
        let n = match ix {
            Ix::Nth(n) | Ix::Recent(n) | Ix::Live(n) => n as usize,
        };
        if n >= len {
            let (one, many) = t.name();
            let ix_json = serde_json::to_string(&ix).unwrap_or_default();
            return Err(if len == 0 {
                format!(
                    "`{field}` {ix_json} names {one}, but none exists at that point; expected an op that creates one first"
                )
            } else {
                format!(
                    "`{field}` {ix_json} names {one} that does not exist: {len} {many} at that point; expected an index below {len}"
                )
            });
        }
    }
    Ok(())
}
