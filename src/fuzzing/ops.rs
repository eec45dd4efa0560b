//! The `ops` target: arbitrary [`Op`] sequences over the whole public API through the
//! one interpreter every driver of the model uses ([`crate::op::Interpreter`]), on a
//! machine that starts with several processes, each with a committed allocation.
//!
//! A fault the model returns (a bug check, a raised status, a model error) is an
//! answer, not a failure: misuse is what these sequences are made of. What must never
//! happen is a panic, or an `audit()` violation after any step — an inconsistent PFN
//! database, a leaked frame, books that do not balance — including the step that bug
//! checks the machine (nothing runs after it).

use super::Failure;
use crate::machine::Config;
use crate::op::{Interpreter, Ix, Op, ProcessOp, VmOp};
use crate::space::Protection;
use crate::vm::{MEM_COMMIT, MEM_RESERVE};
use arbitrary::{Arbitrary, Unstructured};

/// Steps run at most (longer inputs are cut).
pub const MAX_OPS: usize = 128;
/// Processes created before the input's ops run.
pub const PROCESSES: u16 = 3;

/// The `ops` target's input.
#[derive(Clone, PartialEq, Eq, Debug, Arbitrary)]
pub struct OpsInput {
    /// Scarce resources (256 KiB of RAM, 24 system PTEs, 32 pool pages,
    /// `TrackLockedPages`, no shadow memory), so exhaustion paths run too.
    pub tight: bool,
    /// The ops (at most [`MAX_OPS`] run).
    pub ops: Vec<Op>,
}

impl OpsInput {
    /// The machine configuration it asks for: scarce resources, or the default machine
    /// with 64 MiB of RAM (a sequence of large allocations on the default 4 GiB would
    /// materialise gigabytes of host memory; every path is reached with 64 MiB).
    pub fn config(&self) -> Config {
        if self.tight {
            Config::default()
                .physical_memory(256 << 10)
                .system_ptes(24)
                .pool_limit(32 * 4096)
                .track_locked_pages(true)
                .shadow(false)
        } else {
            Config::default().physical_memory(64 << 20)
        }
    }
}

/// The prologue: [`PROCESSES`] processes, each with 16 committed read-write pages.
pub fn prologue() -> Vec<Op> {
    let mut ops = Vec::new();
    for _ in 0..PROCESSES {
        ops.push(Op::Process(ProcessOp::CreateProcess));
        ops.push(Op::Vm(VmOp::VirtualAlloc {
            process: Ix::Recent(0),
            base: None,
            size: 16 * 4096,
            alloc_type: MEM_COMMIT | MEM_RESERVE,
            protect: Protection::ReadWrite,
        }));
    }
    ops
}

/// Runs one decoded input.
///
/// # Errors
/// A [`Failure`] naming the first step after which `audit()` is not empty.
pub fn ops_input(input: &OpsInput) -> Result<(), Failure> {
    let ops = &input.ops[..input.ops.len().min(MAX_OPS)];
    let fail = |problems: Vec<String>| Failure {
        target: "ops",
        input: format!("tight: {}, ops: {ops:?}", input.tight),
        problems,
    };
    let mut interp = Interpreter::new(input.config())
        .map_err(|e| fail(vec![format!("configuration refused: {e}")]))?;
    let pro = prologue();
    for (i, op) in pro.iter().chain(ops).enumerate() {
        let out = interp.apply(op);
        let violations = interp.machine().audit();
        if !violations.is_empty() {
            let step = if i < pro.len() {
                format!("prologue step {i}")
            } else {
                format!("step {}", i - pro.len())
            };
            return Err(fail(
                violations
                    .iter()
                    .map(|v| format!("audit after {step} {op:?} -> {out:?}: {v}"))
                    .collect(),
            ));
        }
        if interp.machine().crashed().is_some() {
            break;
        }
    }
    Ok(())
}

/// The `ops` target: decodes an [`OpsInput`] from `data` and runs it.
///
/// # Errors
/// As [`ops_input`].
pub fn ops(data: &[u8]) -> Result<(), Failure> {
    let Ok(input) = OpsInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return Ok(());
    };
    ops_input(&input)
}
