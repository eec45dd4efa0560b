//! `Books::compare`, field by field: each finding names exactly the objects that are new
//! since `before`, with the call that created each.

use super::*;
use crate::arena::Handle;
use crate::machine::calls::DdiCall;

fn mdl(index: u32) -> MdlId {
    MdlId(Handle {
        index,
        generation: 0,
    })
}

fn born(step: u64, routine: &'static str) -> Birth {
    Birth { step, routine }
}

fn call(ddi: &'static str, first_step: u64, last_step: u64) -> DdiCall {
    DdiCall {
        ddi,
        args: format!("a{first_step}"),
        result: "ok".into(),
        first_step,
        last_step,
        depth: 0,
    }
}

fn empty() -> Books {
    Books {
        locked: Vec::new(),
        locks: Vec::new(),
        ptes: 0,
        pool: Vec::new(),
        mdls: Vec::new(),
        mappings: Vec::new(),
        irps: 0,
        calls: Vec::new(),
    }
}

fn lock(index: u32, pid: u32, pages: u64, step: u64) -> HeldLock {
    HeldLock {
        mdl: mdl(index),
        charged: Some((Pid(pid), pages)),
        locked: born(step, "MmProbeAndLockPages"),
        freed: None,
    }
}

fn details(after: &Books, before: &Books) -> Vec<String> {
    after
        .compare(before, 9, "after completion")
        .into_iter()
        .map(|f| f.detail)
        .collect()
}

#[test]
fn a_lock_count_change_names_only_the_new_locks_charged_to_that_process() {
    let mut before = empty();
    before.locked = vec![(Pid(1), 2), (Pid(2), 5)];
    before.locks = vec![lock(0, 1, 2, 1)];
    let mut after = before.clone();
    after.locked = vec![(Pid(1), 4), (Pid(2), 6)];
    // MDL 0 unlocked and locked again at step 3 is a new lock; MDL 1's is charged to pid 2.
    after.locks = vec![lock(0, 1, 2, 3), lock(1, 2, 1, 4)];
    let (m0, m1) = (mdl(0), mdl(1));
    assert_eq!(
        details(&after, &before),
        [
            format!(
                "after completion: pid 1 has 4 locked page(s), had 2: {m0} locked 2 page(s) of pid 1 at step 3 by MmProbeAndLockPages"
            ),
            format!(
                "after completion: pid 2 has 6 locked page(s), had 5: {m1} locked 1 page(s) of pid 2 at step 4 by MmProbeAndLockPages"
            ),
        ]
    );
    // A lock held before and after, unchanged, is not named; an unchanged count is no
    // finding.
    let mut same = before.clone();
    same.locked = vec![(Pid(1), 2), (Pid(2), 5)];
    assert!(details(&same, &before).is_empty());
    let mut both = before.clone();
    both.locked = vec![(Pid(1), 3), (Pid(2), 5)];
    both.locks.push(lock(1, 1, 1, 4));
    assert_eq!(
        details(&both, &before),
        [format!(
            "after completion: pid 1 has 3 locked page(s), had 2: {m1} locked 1 page(s) of pid 1 at step 4 by MmProbeAndLockPages"
        )]
    );
}

#[test]
fn the_pte_finding_names_only_system_mappings() {
    let before = empty();
    let mut after = empty();
    after.ptes = 2;
    after.mappings = vec![
        (
            SpaceId::Process(Pid(1)),
            Va::new(0x10000),
            1,
            born(2, "MmMapLockedPagesSpecifyCache"),
        ),
        (
            SpaceId::System,
            Va::new(0xFFFF_B000_0000_0000),
            2,
            born(3, "MmMapLockedPagesSpecifyCache"),
        ),
    ];
    let d = details(&after, &before);
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!(
        d[1],
        "after completion: 2 system PTEs in use, 0 before: 2 PTE(s) mapping 0xffffb00000000000, mapped at step 3 by MmMapLockedPagesSpecifyCache"
    );
}

#[test]
fn an_origin_is_the_call_of_that_routine_around_its_step_else_the_enclosing_call() {
    let mut b = empty();
    // A dispatch (steps 2-8) calling IoAllocateMdl at step 4, and a later call at 10-11.
    b.calls = vec![
        call("IoAllocateMdl", 1, 1),
        call("Dispatch", 2, 8),
        call("IoAllocateMdl", 4, 4),
        call("ExAllocatePoolWithTag", 10, 11),
    ];
    let table = [
        (4, "IoAllocateMdl", "at step 4 by IoAllocateMdl(a4) -> ok"),
        (1, "IoAllocateMdl", "at step 1 by IoAllocateMdl(a1) -> ok"),
        // No IoAllocateMdl call spans step 5: the enclosing dispatch is named, not the
        // later call, whichever way round the bounds are.
        (5, "IoAllocateMdl", "at step 5 by Dispatch(a2) -> ok"),
        (
            8,
            "MmBuildMdlForNonPagedPool",
            "at step 8 by Dispatch(a2) -> ok",
        ),
        (
            11,
            "ExAllocatePoolWithTag",
            "at step 11 by ExAllocatePoolWithTag(a10) -> ok",
        ),
        // Outside every recorded call: the model's own record.
        (9, "IoAllocateMdl", "at step 9 by IoAllocateMdl"),
    ];
    for (step, routine, want) in table {
        assert_eq!(
            b.origin(&born(step, routine)),
            want,
            "step {step} {routine}"
        );
    }
}

#[test]
fn named_lists_four_and_counts_the_rest() {
    let items: Vec<String> = (0..6).map(|i| format!("x{i}")).collect();
    assert_eq!(named(&items[..0]), "");
    assert_eq!(named(&items[..4]), ": x0; x1; x2; x3");
    assert_eq!(named(&items[..5]), ": x0; x1; x2; x3; and 1 more");
    assert_eq!(named(&items), ": x0; x1; x2; x3; and 2 more");
}

#[test]
fn a_pool_tag_is_named_by_its_characters_when_printable() {
    assert_eq!(tag_name(u32::from_le_bytes(*b"PxyB")), "'PxyB'");
    assert_eq!(tag_name(u32::from_le_bytes(*b"Nbr ")), "'Nbr '");
    assert_eq!(tag_name(0x0102_0304), "0x1020304");
}

/// A process with a two-page buffer locked through `IoAllocateMdl` (the MDL returned).
fn locked_buffer(m: &mut Machine) -> MdlId {
    use crate::space::Protection;
    use crate::testing::{committed, lock_for_read};
    let app = m.create_process("app").unwrap();
    let buf = committed(m, app, 0x2000, Protection::ReadWrite);
    m.switch_to(Some(app)).unwrap();
    lock_for_read(m, buf, 0x2000)
}

#[test]
fn after_exit_reports_a_leaked_lock_and_a_crash_alone() {
    let mut m = Machine::new(crate::Config::default()).unwrap();
    let mdl = locked_buffer(&mut m);
    assert!(
        after_exit(&m, 5).is_empty(),
        "a lock still held is no hazard"
    );
    m.io_free_mdl(mdl).unwrap();
    let f = after_exit(&m, 5);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].kind, f[0].rule, f[0].step),
        (BugClass::LockLeak, Rule::Hygiene, Some(5))
    );
    assert!(f[0].detail.starts_with("after exit: "), "{}", f[0].detail);
    // After a crash only the crash is reported: the books of a dead machine are moot.
    let _ = m.io_free_mdl(mdl);
    assert!(m.crashed().is_some());
    let f = after_exit(&m, 6);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(f[0].detail.contains("at process exit"), "{}", f[0].detail);
}
