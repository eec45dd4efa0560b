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
use crate::machine::{Config, Machine};
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
    /// materialise gigabytes of host memory; every path is reached with 64 MiB, a full
    /// 8,185-page MDL locked included) and a 16 MiB non-paged pool limit. (With the
    /// default 256 MiB limit, above the RAM, a pool request between 64 and 256 MiB took
    /// and zeroed every frame of the machine before failing, 30-100 ms each: most of the
    /// target's time. The limit's refusal and a pool allocation failing when RAM runs
    /// out are both still reached: the first above 16 MiB, the second here when user
    /// memory holds the RAM, and on the scarce machine.)
    ///
    /// Both run with a host-memory budget of [`HOST_MEMORY_LIMIT`]: libFuzzer stops at
    /// 2 GiB of RSS, and with the default 1 GiB budget an input that fragments its
    /// frames' provenance and reads a large range back could reach it (a CI run found one).
    pub fn config(&self) -> Config {
        self.machine().host_memory_limit(HOST_MEMORY_LIMIT)
    }

    fn machine(&self) -> Config {
        if self.tight {
            Config::default()
                .physical_memory(256 << 10)
                .system_ptes(24)
                .pool_limit(32 * 4096)
                .track_locked_pages(true)
                .shadow(false)
        } else {
            Config::default()
                .physical_memory(64 << 20)
                .pool_limit(16 << 20)
        }
    }
}

/// The host-memory budget of the target's machines (256 MiB: four times the larger
/// machine's RAM, a quarter of the default budget).
pub const HOST_MEMORY_LIMIT: u64 = 256 << 20;

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

/// The interpreter after the prologue on `config`, with the prologue's own problems
/// (a refused configuration, an `audit()` violation after a prologue step) instead if
/// any; and whether the prologue crashed the machine (then no op of the input runs).
fn after_prologue(config: Config) -> Result<(Interpreter, bool), Vec<String>> {
    let mut interp =
        Interpreter::new(config).map_err(|e| vec![format!("configuration refused: {e}")])?;
    for (i, op) in prologue().iter().enumerate() {
        let out = interp.apply(op);
        let violations = interp.machine().audit();
        if !violations.is_empty() {
            return Err(violations
                .iter()
                .map(|v| format!("audit after prologue step {i} {op:?} -> {out:?}: {v}"))
                .collect());
        }
        if interp.machine().crashed().is_some() {
            return Ok((interp, true));
        }
    }
    Ok((interp, false))
}

type Prologued = Result<(Interpreter, bool), Vec<String>>;

thread_local! {
    /// [`after_prologue`] per machine (default, tight), built on first use: every input
    /// starts from a clone. The prologue is the same for every input and the machine is
    /// deterministic, so a clone is the machine a fresh prologue builds, audited after
    /// each prologue step as before.
    static PROLOGUED: std::cell::RefCell<[Option<Prologued>; 2]> =
        const { std::cell::RefCell::new([None, None]) };
}

/// Above this size of the machine (materialised frames plus the PTEs of every address
/// space: what [`Machine::audit`] walks) an audit after every step costs
/// more than the step: an input that mapped a forged 4 GiB MDL into user space (a million
/// PTEs, before [`fold_length`]) made each audit 20 ms and the input 8 s, and audits were
/// 79% of the target's time over its grown corpus. Past it the target audits every [`AUDIT_STRIDE`] steps
/// and at the end, and on a violation replays the input auditing every step, so the step
/// it names is still the first after which `audit()` fails.
pub const AUDIT_EVERY_STEP_UP_TO: u64 = 1 << 13;

/// Steps between audits on a machine larger than [`AUDIT_EVERY_STEP_UP_TO`].
pub const AUDIT_STRIDE: usize = 16;

/// MDL lengths above this (64 MiB, the larger machine's RAM) that Windows still accepts are
/// folded into `FOLD_ABOVE / 2 .. FOLD_ABOVE` by [`fold_length`].
pub const FOLD_ABOVE: u32 = 64 << 20;

/// The op the target runs for `op`: an MDL length (`IoAllocateMdl`, `MmCreateMdl`,
/// `MmInitializeMdl`, `IoBuildPartialMdl`) between [`FOLD_ABOVE`] and the largest MDL
/// Windows 7+ accepts (4 GiB − `PAGE_SIZE`) becomes `FOLD_ABOVE / 2 + length %
/// (FOLD_ABOVE / 2)`, keeping its offset within a page; every other op as it is.
///
/// Such an MDL describes more than the machine's RAM, so only a forged one (its flags
/// written, its PFN array unlocked) can be mapped, and mapping it writes up to a million
/// PTEs: the fuzzer kept such inputs, at 100-300 ms each, and the target ran at 84-290
/// executions/s. Folded, the same sequences (forging, mapping, unmapping an MDL larger
/// than RAM) cost 16,384 PTEs at most. Lengths past the limit stay as they are (the
/// refusal runs); the limit itself and the host-memory charge of a 4 GiB mapping are
/// tests of their own (tests/mdl_size.rs).
pub fn fold_length(op: &Op) -> Op {
    use crate::op::MdlOp;
    let fold = |length: u32| {
        if length > FOLD_ABOVE && u64::from(length) <= crate::windows::MAX_MDL_BYTES_WIN7 {
            FOLD_ABOVE / 2 + length % (FOLD_ABOVE / 2)
        } else {
            length
        }
    };
    let mut op = *op;
    if let Op::Mdl(
        MdlOp::IoAllocateMdl { length, .. }
        | MdlOp::MmCreateMdl { length, .. }
        | MdlOp::MmInitializeMdl { length, .. }
        | MdlOp::IoBuildPartialMdl { length, .. },
    ) = &mut op
    {
        *length = fold(*length);
    }
    op
}

/// Runs one decoded input.
///
/// After every step while the machine is small, at checkpoints once it is large
/// ([`AUDIT_EVERY_STEP_UP_TO`]), and after the last step, `audit()` must be empty; a
/// crash ends the input (its bug check is the outcome, not a failure).
///
/// # Errors
/// A [`Failure`] naming the first step after which `audit()` is not empty.
pub fn ops_input(input: &OpsInput) -> Result<(), Failure> {
    let input = &OpsInput {
        tight: input.tight,
        ops: input.ops.iter().take(MAX_OPS).map(fold_length).collect(),
    };
    let audit = |m: &Machine| m.audit().iter().map(|v| v.to_string()).collect();
    audited(input, audit).map(|_| ())
}

/// [`ops_input`] with the audit as a parameter (a test injects a violation): `Ok` with the
/// number of audits made.
fn audited(input: &OpsInput, audit: impl Fn(&Machine) -> Vec<String>) -> Result<usize, Failure> {
    match run_ops(input, false, &audit) {
        Ok(n) => Ok(n),
        // A checkpoint found a violation: name the first step that shows it.
        Err(_) => run_ops(input, true, &audit),
    }
}

/// Plays the input from the prologued machine, auditing after every step if `every_step`
/// (else as [`ops_input`] says); the number of audits made.
fn run_ops(
    input: &OpsInput,
    every_step: bool,
    audit: &impl Fn(&Machine) -> Vec<String>,
) -> Result<usize, Failure> {
    let ops = &input.ops[..input.ops.len().min(MAX_OPS)];
    let fail = |problems: Vec<String>| Failure {
        target: "ops",
        input: format!("tight: {}, ops: {ops:?}", input.tight),
        problems,
    };
    let start = PROLOGUED.with(|t| {
        let mut t = t.borrow_mut();
        t[usize::from(input.tight)]
            .get_or_insert_with(|| after_prologue(input.config()))
            .clone()
    });
    let (mut interp, crashed) = start.map_err(fail)?;
    let mut audits = 0;
    if crashed {
        return Ok(audits);
    }
    for (i, op) in ops.iter().enumerate() {
        let out = interp.apply(op);
        let m = interp.machine();
        let last = i + 1 == ops.len() || m.crashed().is_some();
        if every_step
            || last
            || i % AUDIT_STRIDE == AUDIT_STRIDE - 1
            || m.audit_size() <= AUDIT_EVERY_STEP_UP_TO
        {
            audits += 1;
            let violations = audit(m);
            if !violations.is_empty() {
                return Err(fail(
                    violations
                        .iter()
                        .map(|v| format!("audit after step {i} {op:?} -> {out:?}: {v}"))
                        .collect(),
                ));
            }
        }
        if m.crashed().is_some() {
            break;
        }
    }
    Ok(audits)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The input that took 8 s: a 3.9 GiB `IoAllocateMdl`, its flags forged to
    /// `MDL_PAGES_LOCKED`, mapped into user space (a million PTEs; folded by
    /// [`fold_length`], 11,833), then 55 more ops.
    const FORGED_MAPPING: &[u8] =
        include_bytes!("../../fuzz/corpus/ops/slow-forged-4gib-mdl-mapped-into-user-space");

    fn decode(data: &[u8]) -> OpsInput {
        OpsInput::arbitrary_take_rest(Unstructured::new(data)).expect("any bytes decode")
    }

    fn real_audit(m: &Machine) -> Vec<String> {
        m.audit().iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_small_machine_is_audited_after_every_step() {
        let input = OpsInput {
            tight: false,
            ops: vec![Op::Process(ProcessOp::CreateProcess); 5],
        };
        assert_eq!(audited(&input, real_audit).ok(), Some(5));
    }

    #[test]
    fn a_large_machine_is_audited_at_checkpoints_and_at_the_end() {
        let input = decode(FORGED_MAPPING);
        let steps = input.ops.len().min(MAX_OPS);
        let audits = audited(&input, real_audit).expect("the input passes");
        assert!(audits < steps / 2, "{audits} audits for {steps} steps");
    }

    /// A violation that appears while the machine is large and is first seen at a
    /// checkpoint is reported at the step that caused it: the input is replayed auditing
    /// every step.
    #[test]
    fn a_violation_seen_at_a_checkpoint_is_named_at_its_first_step() {
        let input = decode(FORGED_MAPPING);
        let injected = |m: &Machine| {
            if m.audit_size() > AUDIT_EVERY_STEP_UP_TO {
                vec!["injected".to_string()]
            } else {
                Vec::new()
            }
        };
        let f = audited(&input, injected).expect_err("the injected violation is found");
        // The user mapping of the forged MDL (step 32) is what makes the machine large.
        assert!(
            f.problems[0].starts_with("audit after step 32 Mdl(MmMapLockedPagesSpecifyCache"),
            "{}",
            f.problems[0]
        );
    }

    #[test]
    fn only_mdl_lengths_windows_accepts_above_the_ram_are_folded() {
        use crate::op::{Addr, MdlOp};
        let alloc = |length: u32| {
            Op::Mdl(MdlOp::IoAllocateMdl {
                va: Addr::Raw(0x10000),
                length,
                secondary_buffer: false,
                charge_quota: false,
                irp: None,
            })
        };
        let length = |op: Op| match op {
            Op::Mdl(MdlOp::IoAllocateMdl { length, .. }) => length,
            other => panic!("{other:?}"),
        };
        for kept in [0, 1, FOLD_ABOVE, 0xFFFF_F001, u32::MAX] {
            assert_eq!(length(fold_length(&alloc(kept))), kept);
        }
        for big in [FOLD_ABOVE + 1, 0x8000_0123, 4_175_662_734, 0xFFFF_F000] {
            let folded = length(fold_length(&alloc(big)));
            assert!(
                (FOLD_ABOVE / 2..FOLD_ABOVE).contains(&folded),
                "{big:#x} -> {folded:#x}"
            );
            assert_eq!(
                folded % 4096,
                big % 4096,
                "{big:#x}: the page offset is kept"
            );
        }
        let partial = Op::Mdl(MdlOp::IoBuildPartialMdl {
            source: None,
            target: None,
            va: Addr::Raw(0),
            length: u32::MAX - 4096,
        });
        assert_ne!(fold_length(&partial), partial);
        let other = Op::Process(ProcessOp::CreateProcess);
        assert_eq!(fold_length(&other), other);
    }
}
