//! The op interpreter as a state machine: random `Op` sequences across several processes
//! keep every model invariant (`audit()`) after every step, never panic, and replay
//! identically (from JSON, or simply twice).
//!
//! The generators come from `mdlsim::generators` (feature `proptest`, enabled for the
//! tests by the self dev-dependency in Cargo.toml). Failures persist to
//! `proptest-regressions/ops_state_machine.txt`; a persisted seed only means something to
//! the generators that found it, so once a case is fixed its ops (the "shrinks to" list)
//! move to `tests/regressions/ops/NAME.json`, replayed by a named test below, and its line
//! goes.

mod common;

use common::{map_user, new_mdl};
use mdlsim::Config;
use mdlsim::generators::{arb_op, arb_ops};
use mdlsim::op::{Interpreter, Op, Outcome};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{FileFailurePersistence, TestRunner};
use std::collections::BTreeMap;

const REGRESSIONS: &str = "proptest-regressions/ops_state_machine.txt";

/// `cases` by default; `PROPTEST_CASES` overrides it for a longer hunt.
fn proptest_config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Scarce resources, so exhaustion paths (system PTEs, pool, physical memory) run too,
/// with `TrackLockedPages` on (0xCB instead of 0x76) and shadow memory off.
fn tight() -> Config {
    Config::default()
        .physical_memory(256 << 10)
        .system_ptes(24)
        .pool_limit(32 * 4096)
        .track_locked_pages(true)
        .shadow(false)
}

/// Applies `ops` one by one; after each, `audit()` must be empty. Stops after the step
/// that bug-checks the machine (the audit is checked at that step too).
fn check_sequence(config: Config, ops: &[Op]) -> std::result::Result<(), TestCaseError> {
    let mut interp = Interpreter::new(config).expect("valid config");
    for (i, op) in ops.iter().enumerate() {
        let out = interp.apply(op);
        let violations = interp.machine().audit();
        prop_assert!(
            violations.is_empty(),
            "after step {i} {op:?} -> {out:?}:\n{}",
            violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        if interp.machine().crashed().is_some() {
            break;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(256))]

    /// 256 sequences of 64–128 ops over 2–4 processes: the audit holds after every op.
    #[test]
    fn audit_holds_after_every_op_across_processes(ops in arb_ops(64..=128)) {
        check_sequence(Config::default(), &ops)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(64))]

    /// With scarce PTEs, pool and RAM the audit still holds after every op.
    #[test]
    fn audit_holds_when_resources_run_out(ops in arb_ops(64..=128)) {
        check_sequence(tight(), &ops)?;
    }

    /// Purely random ops (no scenario structure) never panic and keep the audit.
    #[test]
    fn audit_holds_for_unstructured_ops(ops in proptest::collection::vec(arb_op(), 64..=96)) {
        check_sequence(Config::default(), &ops)?;
    }

    /// A sequence serialised to JSON and read back is the same sequence and replays with
    /// identical outcomes (which themselves round-trip through JSON).
    #[test]
    fn json_round_trip_replays_identically(ops in arb_ops(64..=96)) {
        let json = serde_json::to_string(&ops).unwrap();
        let back: Vec<Op> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &ops);
        let a = Interpreter::new(Config::default()).unwrap().run(&ops);
        let b = Interpreter::new(Config::default()).unwrap().run(&back);
        prop_assert_eq!(&a, &b);
        let outcomes_json = serde_json::to_string(&a).unwrap();
        let outcomes_back: Vec<Outcome> = serde_json::from_str(&outcomes_json).unwrap();
        prop_assert_eq!(outcomes_back, a);
    }

    /// Running a sequence twice gives identical outcomes and an identical audit.
    #[test]
    fn same_sequence_twice_gives_same_outcomes_and_audit(ops in arb_ops(64..=96)) {
        let mut x = Interpreter::new(tight()).unwrap();
        let mut y = Interpreter::new(tight()).unwrap();
        prop_assert_eq!(x.run(&ops), y.run(&ops));
        prop_assert_eq!(x.machine().audit(), y.machine().audit());
        prop_assert_eq!(x.machine().hazards(), y.machine().hazards());
        prop_assert_eq!(x.machine().events(), y.machine().events());
    }
}

/// Per-op counts over the generated sequences: how often each op ran before a crash and
/// how often it succeeded.
#[derive(Default)]
struct Counts {
    by_name: BTreeMap<&'static str, (u64, u64)>,
    sequences: u64,
    steps: u64,
    crashed: u64,
    crashes: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    nulls: BTreeMap<&'static str, u64>,
}

fn count(config: &Config, sequences: u64) -> Counts {
    let mut runner = TestRunner::deterministic();
    let strategy = arb_ops(64..=128);
    let mut c = Counts::default();
    for _ in 0..sequences {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let mut interp = Interpreter::new(config.clone()).unwrap();
        c.sequences += 1;
        for op in &ops {
            let out = interp.apply(op);
            let ok = out.is_ok();
            if out == Outcome::Ok(mdlsim::op::Value::Null) {
                *c.nulls.entry(op.name()).or_default() += 1;
            }
            if let Some(f) = out.fault().filter(|f| f.bug_check().is_none()) {
                let key = format!("{} {f}", op.name());
                *c.faults.entry(key).or_default() += 1;
            }
            let e = c.by_name.entry(op.name()).or_default();
            e.0 += 1;
            e.1 += ok as u64;
            c.steps += 1;
            if let Some(b) = interp.machine().crashed() {
                c.crashed += 1;
                let key = format!("{} {:?} {:#x}", op.name(), b.code, b.params[0]);
                *c.crashes.entry(key).or_default() += 1;
                break;
            }
        }
    }
    c
}

fn share(c: &Counts, names: &[&str]) -> (u64, u64) {
    names.iter().fold((0, 0), |(n, ok), name| {
        let (a, b) = c.by_name.get(name).copied().unwrap_or((0, 0));
        (n + a, ok + b)
    })
}

/// The generators reach every op and the happy paths: every `Op` variant is produced,
/// and a good share of probes and mappings succeed (the property test is not only
/// exercising error paths).
#[test]
fn generated_sequences_cover_every_op_and_mostly_succeed_at_probe_and_map() {
    let c = count(&Config::default(), 256);
    println!(
        "{} sequences, {} steps applied before a crash or the end ({:.1} per sequence), {} crashed",
        c.sequences,
        c.steps,
        c.steps as f64 / c.sequences as f64,
        c.crashed
    );
    for (name, (n, ok)) in &c.by_name {
        println!("{name:32} {n:6} applied {ok:6} ok");
    }
    for (why, n) in &c.crashes {
        println!("crash: {why:60} {n}");
    }
    for (why, n) in &c.faults {
        println!("fault: {why:60} {n}");
    }
    let names = Op::names();
    for name in &names {
        assert!(c.by_name.contains_key(name), "{name} never generated");
    }
    for name in c.by_name.keys() {
        assert!(names.contains(name), "{name} has no example (op::examples)");
    }
    let (probes, probes_ok) = share(&c, &["MmProbeAndLockPages", "MmProbeAndLockProcessPages"]);
    let (maps, maps_ok) = share(
        &c,
        &[
            "MmMapLockedPagesSpecifyCache",
            "MmGetSystemAddressForMdlSafe",
        ],
    );
    let (unmaps, unmaps_ok) = share(&c, &["MmUnmapLockedPages"]);
    let (unlocks, unlocks_ok) = share(&c, &["MmUnlockPages"]);
    println!(
        "probe {probes_ok}/{probes}, map {maps_ok}/{maps}, unmap {unmaps_ok}/{unmaps}, unlock {unlocks_ok}/{unlocks}"
    );
    // Three in four probes and mappings succeed (about 94% at the time of writing).
    assert!(
        probes >= 500 && probes_ok * 4 >= probes * 3,
        "probes {probes_ok}/{probes}"
    );
    assert!(
        maps >= 500 && maps_ok * 4 >= maps * 3,
        "maps {maps_ok}/{maps}"
    );
    assert!(unmaps_ok >= 100, "unmaps {unmaps_ok}/{unmaps}");
    assert!(unlocks_ok >= 200, "unlocks {unlocks_ok}/{unlocks}");
    assert!(
        c.steps >= 256 * 32,
        "sequences crash too early: {} steps",
        c.steps
    );
}

/// The I/O episodes run: every user service is produced and most succeed at sending an
/// IRP, drivers complete pended requests, and the audit stays clean through them (the
/// property tests above check it after every step).
#[test]
fn generated_sequences_cover_io_ops_and_send_irps() {
    let c = count(&Config::default(), 128);
    let io = [
        "DriverEntry",
        "IoCreateDevice",
        "NtReadFile",
        "NtWriteFile",
        "NtDeviceIoControlFile",
        "NtNotifyChangeDirectoryFile",
        "QueueCompleteNext",
        "FsRtlNotifyFullReportChange",
        "IoCancelIrp",
        "KeAdvanceClock",
        "NtTerminateThread",
    ];
    for name in io {
        let (n, ok) = c.by_name.get(name).copied().unwrap_or((0, 0));
        println!("{name:32} {n:6} applied {ok:6} ok");
        assert!(n >= 1, "{name} never generated");
    }
    let (services, services_ok) = share(
        &c,
        &[
            "NtReadFile",
            "NtWriteFile",
            "NtDeviceIoControlFile",
            "NtNotifyChangeDirectoryFile",
        ],
    );
    assert!(
        services >= 20 && services_ok * 2 >= services,
        "services {services_ok}/{services}"
    );
}

/// The tight configuration really runs out: some mappings and allocations return NULL.
#[test]
fn tight_sequences_exhaust_system_ptes_pool_and_memory() {
    let c = count(&tight(), 256);
    println!("{} steps; NULL returns: {:?}", c.steps, c.nulls);
    for (why, n) in c.faults.iter().filter(|(k, _)| k.contains("MEMORY")) {
        println!("fault: {why:60} {n}");
    }
    let nulls = |name| c.nulls.get(name).copied().unwrap_or(0);
    assert!(
        nulls("MmGetSystemAddressForMdlSafe") > 0,
        "no PTE exhaustion"
    );
    assert!(
        nulls("ExAllocatePool2") + nulls("ExAllocatePoolWithTag") > 0,
        "no pool exhaustion"
    );
    let no_memory: u64 = c
        .faults
        .iter()
        .filter(|(k, _)| k.contains("STATUS_NO_MEMORY"))
        .map(|(_, n)| n)
        .sum();
    assert!(no_memory > 0, "no physical memory exhaustion");
}

// ----- regressions found by the property test ------------------------------------------------

/// Found by `audit_holds_for_unstructured_ops`: `user_read`, `kernel_read` and
/// `kernel_zero` allocated a host buffer of the requested length before touching a
/// page, so a 1 TiB read at a valid address aborted the test process (allocation
/// failure) instead of faulting. They now go page by page and fault at the first
/// inaccessible page, like the CPU (user: STATUS_ACCESS_VIOLATION raised; kernel on an
/// invalid system address: 0x50).
#[test]
fn absurd_access_lengths_fault_at_the_first_bad_page_instead_of_aborting() {
    use mdlsim::bugcheck::BugCheckCode;
    use mdlsim::space::Protection;
    use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
    use mdlsim::{Fault, Machine, NtStatus};

    let av = Err::<Vec<u8>, _>(Fault::Raise(NtStatus::ACCESS_VIOLATION));
    let mut m = Machine::new(Config::default()).unwrap();
    let p = m.create_process("app").unwrap();
    let va = m
        .virtual_alloc(
            p,
            None,
            0x2000,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    m.user_write(p, va, &[7; 0x2000]).unwrap();
    assert_eq!(m.user_read(p, va, 1 << 40), av);
    assert_eq!(m.user_read(p, va, u64::MAX), av);
    m.switch_to(Some(p)).unwrap();
    assert_eq!(m.kernel_read(va, 1 << 40), av);
    assert_eq!(
        m.kernel_zero(va, 1 << 40),
        Err(Fault::Raise(NtStatus::ACCESS_VIOLATION))
    );
    // The pages before the fault were zeroed, as a real RtlZeroMemory would leave them.
    assert_eq!(m.user_read(p, va, 0x2000).unwrap(), vec![0; 0x2000]);
    assert!(m.audit().is_empty());
    let pool = m
        .ex_allocate_pool2(mdlsim::pool::POOL_FLAG_NON_PAGED, 0x1000, 1)
        .unwrap()
        .unwrap();
    let crash = m.kernel_read(pool, 1 << 40).unwrap_err();
    assert_eq!(
        crash.bug_check().map(|b| b.code),
        Some(BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA)
    );
}

/// Found by `audit_holds_after_every_op_across_processes`: a driver frees pool that is
/// still mapped into a process through an MDL, and the app's buffer (that user mapping)
/// is then probed. The lock phase meets a free frame and ASSERTs (invariant 7), which is
/// right, but it had already charged `NumberOfLockedPages` and set `MDL_PAGES_LOCKED`,
/// so the audit after the bug check reported `process.locked_pages`. The partial lock is
/// now undone before the bug check.
#[test]
fn probe_that_asserts_in_the_lock_phase_leaves_no_partial_lock() {
    use mdlsim::mdl::{AccessMode, LockOperation};
    use mdlsim::pool::{POOL_FLAG_NON_PAGED, tag};
    use mdlsim::{BugCheckCode, Machine, NtStatus};

    let mut m = Machine::new(Config::default()).unwrap();
    let app = m.create_process("app").unwrap();
    let pool = m
        .ex_allocate_pool2(POOL_FLAG_NON_PAGED, 0x1000, tag(b"Test"))
        .unwrap()
        .unwrap();
    let mdl = new_mdl(&mut m, pool, 0x1000);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    m.switch_to(Some(app)).unwrap();
    let user = map_user(&mut m, mdl);
    m.ex_free_pool_with_tag(pool, tag(b"Test")).unwrap(); // still mapped into the app
    let probe = new_mdl(&mut m, user, 1);
    let crash = m
        .mm_probe_and_lock_pages(probe, AccessMode::UserMode, LockOperation::IoReadAccess)
        .unwrap_err();
    let b = crash
        .bug_check()
        .expect("the lock phase ASSERTs on a free frame");
    assert_eq!(
        (b.code, b.params[0]),
        (
            BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
            NtStatus::BREAKPOINT.0 as u64
        )
    );
    assert_eq!(m.process(app).unwrap().number_of_locked_pages, 0);
    let violations = m.audit();
    assert!(violations.is_empty(), "{violations:?}");
}

/// Found by `audit_holds_when_resources_run_out`: a whole-page pool allocation that ran
/// out of physical frames part-way undid its pages through the pool-free path, which
/// also subtracted them from the pool's page count (never added) and released the VA
/// range the caller released again: the audit reported `pool.accounting` (pool pages
/// counted vs pool PTEs). Now only the PTEs and frames mapped so far are undone.
#[test]
fn pool_allocation_failing_for_lack_of_frames_leaves_pool_accounting_intact() {
    use mdlsim::Machine;
    use mdlsim::pool::{POOL_FLAG_NON_PAGED, tag};

    let mut m = Machine::new(Config::default().physical_memory(16 * 4096)).unwrap();
    let t = tag(b"Test");
    let small = m.ex_allocate_pool2(POOL_FLAG_NON_PAGED, 64, t).unwrap();
    assert!(small.is_some());
    assert_eq!(m.pool_pages_in_use(), 1);
    let frames = m.frames_in_use();
    // 32 pages cannot fit in the 15 frames left: NULL, and nothing changes.
    assert_eq!(
        m.ex_allocate_pool2(POOL_FLAG_NON_PAGED, 32 * 4096, t),
        Ok(None)
    );
    assert_eq!(m.pool_pages_in_use(), 1);
    assert_eq!(m.frames_in_use(), frames);
    assert!(m.audit().is_empty(), "{:?}", m.audit());
    // The pool still works, at a consistent VA.
    let big = m
        .ex_allocate_pool2(POOL_FLAG_NON_PAGED, 2 * 4096, t)
        .unwrap()
        .unwrap();
    assert_eq!(m.pool_pages_in_use(), 3);
    m.ex_free_pool_with_tag(big, t).unwrap();
    assert!(m.audit().is_empty(), "{:?}", m.audit());
}

/// Replays `tests/regressions/ops/NAME.json` on the default and the scarce machine: the
/// audit holds after every op.
fn replay(name: &str) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions/ops")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ops: Vec<Op> = serde_json::from_str(&text).unwrap();
    for config in [Config::default(), tight()] {
        check_sequence(config, &ops).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Regression (found by `audit_holds_after_every_op_across_processes`; the case
/// `probe_that_asserts_in_the_lock_phase_leaves_no_partial_lock` reduces by hand).
#[test]
fn regression_probe_of_freed_pool_mapping_asserts_and_leaves_no_partial_lock() {
    replay("probe-of-freed-pool-mapping-asserts-and-leaves-no-partial-lock");
}

/// Regression (found by `audit_holds_when_resources_run_out`; reduced by hand:
/// `pool_allocation_failing_for_lack_of_frames_leaves_pool_accounting_intact`).
#[test]
fn regression_pool_allocation_failing_for_lack_of_frames() {
    replay("pool-allocation-failing-for-lack-of-frames");
}

/// Regression: a driver frees an MDL still chained to an IRP, then maps it; a hazard
/// (`IrpChainFreedMdl`) and a bug check, never an audit violation.
#[test]
fn regression_mdl_freed_while_in_an_irp_chain_is_a_hazard() {
    replay("mdl-freed-while-in-an-irp-chain-is-a-hazard");
}

/// Regression: partial MDLs built into locked MDLs, which are then freed, across
/// processes: the locks are leaked (a hazard), not lost from the books.
#[test]
fn regression_partial_built_into_a_locked_mdl_leaks_the_lock() {
    replay("partial-built-into-a-locked-mdl-leaks-the-lock");
}

/// Every file in `tests/regressions/ops/` has a named test above.
#[test]
fn every_ops_regression_file_has_a_named_test() {
    let src = include_str!("ops_state_machine.rs");
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/ops");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            src.contains(&format!("replay(\"{name}\")")),
            "{name}.json has no test"
        );
    }
}
