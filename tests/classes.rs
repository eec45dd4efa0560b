//! Every bug class has a negative control (issue 13, item 3): a strategy that makes
//! exactly that mistake, caught with that class, and the same strategy without the
//! mistake passing. The classes that name a cause — a NULL from a failing DDI, an access
//! off the end of a mapping, a use of a released range, bytes at the wrong offset, a
//! WRITE not copied in — are proved here on one bounce-buffer strategy with one bug
//! turned on at a time; the rest by the built-in broken strategies (their `expected()`).

mod bounce;

use bounce::{Bounce, Bug};
use mdlsim::addr::PAGE_SIZE;
use mdlsim::oracle::BugClass;
use mdlsim::strategy::{self, Direction, ProxyStrategy};
use mdlsim::verify::{self, Case, Config, InjectedFault, ServerBehaviour, replay};

/// A case every bug of [`Bounce`] shows on: three pages and a bit, mid-page.
fn case(direction: Direction, fault: InjectedFault) -> Case {
    Case {
        offset: 0x123,
        length: 3 * PAGE_SIZE as u32 + 17,
        direction,
        server: ServerBehaviour::Honest,
        fault,
        seed: 3,
    }
}

/// The bug, the case it is shown on, and the class that names it.
const CAUSES: [(Bug, Direction, InjectedFault, BugClass); 15] = [
    // The NULL from `expose`, used in `retire`: the request's whole life counts.
    (
        Bug::UseNullMapping,
        Direction::Read,
        InjectedFault::SystemPtesExhausted,
        BugClass::ResourceFailureUnhandled,
    ),
    (
        Bug::UseNullMapping,
        Direction::Write,
        InjectedFault::SystemPtesExhausted,
        BugClass::ResourceFailureUnhandled,
    ),
    (
        Bug::ReadPastMapping,
        Direction::Write,
        InjectedFault::None,
        BugClass::OutOfBounds,
    ),
    (
        Bug::CopyAfterUnmap,
        Direction::Read,
        InjectedFault::None,
        BugClass::UseAfterComplete,
    ),
    (
        Bug::ShiftedCopyBack,
        Direction::Read,
        InjectedFault::None,
        BugClass::SpanArithmetic,
    ),
    (
        Bug::NoCopyIn,
        Direction::Write,
        InjectedFault::None,
        BugClass::CopyInError,
    ),
    (
        Bug::MapUnlocked,
        Direction::Read,
        InjectedFault::None,
        BugClass::MapUnlocked,
    ),
    (
        Bug::MapTwice,
        Direction::Read,
        InjectedFault::None,
        BugClass::DuplicateSystemMapping,
    ),
    (
        Bug::NonCachedView,
        Direction::Read,
        InjectedFault::None,
        BugClass::CacheAttributeConflict,
    ),
    (
        Bug::UnmapWithOtherMdl,
        Direction::Read,
        InjectedFault::None,
        BugClass::UnmapMismatch,
    ),
    (
        Bug::MutateWhileMapped,
        Direction::Read,
        InjectedFault::None,
        BugClass::MdlMutatedWhileMapped,
    ),
    (
        Bug::LeakPool,
        Direction::Read,
        InjectedFault::None,
        BugClass::ResourceLeak,
    ),
    (
        Bug::LeaveViewMapped,
        Direction::Read,
        InjectedFault::None,
        BugClass::MappingOutlivesProcess,
    ),
    (
        Bug::LockServerView,
        Direction::Read,
        InjectedFault::None,
        BugClass::NestedMappingHazard,
    ),
    (
        Bug::WrongTag,
        Direction::Read,
        InjectedFault::None,
        BugClass::Crash,
    ),
];

/// Positive control: the bounce buffer without a bug passes everything.
#[test]
fn the_bounce_buffer_without_a_bug_passes() {
    let cfg = Config::default().cases(600).seed(13).ignore_env();
    verify::verify(&Bounce::default(), &cfg).unwrap();
}

/// Each bug, replayed on its case, is found with the class that names its cause — and
/// with no class that names another (the class does not depend on luck).
#[test]
fn each_bug_is_named_by_its_cause() {
    for (bug, dir, fault, class) in CAUSES {
        let run = replay(
            &Bounce::with(bug),
            &case(dir, fault),
            &mdlsim::Config::default(),
        );
        let kinds: Vec<BugClass> = run.findings.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&class), "{bug:?}: {class} not in {kinds:?}");
        for other in [
            BugClass::ResourceFailureUnhandled,
            BugClass::OutOfBounds,
            BugClass::UseAfterComplete,
            BugClass::SpanArithmetic,
            BugClass::CopyInError,
        ] {
            assert!(
                other == class || !kinds.contains(&other),
                "{bug:?}: {other} also in {kinds:?}"
            );
        }
    }
}

/// And `verify` finds each, from a search, with its class.
#[test]
fn verify_finds_each_bug_with_its_class() {
    for (bug, dir, fault, class) in CAUSES {
        let cfg = Config::default()
            .seed(13)
            .cases(400)
            .direction(dir)
            .faults(&[fault])
            .focus(&[class])
            .ignore_env();
        let cx = verify::verify(&Bounce::with(bug), &cfg)
            .err()
            .unwrap_or_else(|| panic!("{bug:?} passed"));
        assert!(cx.has(class), "{bug:?}: {cx}");
    }
}

/// The finding of a cause names it: the DDI and its step, the released range, the
/// mapping an access runs off, the shift.
#[test]
fn findings_name_the_cause() {
    let cfg = mdlsim::Config::default();
    let detail = |bug, dir, fault, class| {
        let run = replay(&Bounce::with(bug), &case(dir, fault), &cfg);
        run.findings
            .into_iter()
            .find(|f| f.kind == class)
            .map(|f| f.detail)
            .unwrap_or_default()
    };
    let null = detail(
        Bug::UseNullMapping,
        Direction::Write,
        InjectedFault::SystemPtesExhausted,
        BugClass::ResourceFailureUnhandled,
    );
    assert!(
        null.contains("MmGetSystemAddressForMdlSafe returned NULL at step"),
        "{null}"
    );
    let oob = detail(
        Bug::ReadPastMapping,
        Direction::Write,
        InjectedFault::None,
        BugClass::OutOfBounds,
    );
    assert!(oob.contains("past the end of the mapping"), "{oob}");
    let uac = detail(
        Bug::CopyAfterUnmap,
        Direction::Read,
        InjectedFault::None,
        BugClass::UseAfterComplete,
    );
    assert!(
        uac.contains("an MDL mapping") && uac.contains("released at step"),
        "{uac}"
    );
    let span = detail(
        Bug::ShiftedCopyBack,
        Direction::Read,
        InjectedFault::None,
        BugClass::SpanArithmetic,
    );
    assert!(span.contains("shifted by -1"), "{span}");
}

/// Every class has a negative control: the causes above, the built-in broken
/// strategies (each caught as its `expected()` by the audit tests), and the classes
/// only the model or a scenario can show.
#[test]
fn every_class_has_a_negative_control() {
    let mut covered: Vec<BugClass> = CAUSES.iter().map(|c| c.3).collect();
    covered.extend(strategy::builtins().iter().filter_map(|s| s.expected()));
    // The driver harness's sample driver, one bug at a time (tests/verify_driver.rs).
    covered.extend(
        mdlsim::verify_driver::sample::DriverBug::ALL
            .iter()
            .filter_map(|b| b.expected()),
    );
    covered.extend(
        mdlsim::verify_driver::filter::FilterBug::ALL
            .iter()
            .filter_map(|b| b.expected()),
    );
    // The model checking itself: tests/audit.rs corrupts the books by hand.
    covered.push(BugClass::ModelInvariant);
    for c in BugClass::ALL {
        assert!(covered.contains(&c), "{c} has no negative control");
    }
}

/// Only an access violation (raised, or as `KMODE_EXCEPTION_NOT_HANDLED`) takes its cause
/// from the last faulting access the machine recorded: another status raised after the
/// driver handled a fault keeps the class of its own code.
#[test]
fn only_an_access_violation_is_blamed_on_the_recorded_fault() {
    use mdlsim::addr::Va;
    use mdlsim::bugcheck::{BugCheck, BugCheckCode};
    use mdlsim::oracle::blame::fault_finding_in;
    use mdlsim::oracle::fault_finding;
    use mdlsim::{Fault, Machine, NtStatus};
    let av_code = NtStatus::ACCESS_VIOLATION.0 as u64;
    let mut m = Machine::new(mdlsim::Config::default()).unwrap();
    let app = m.create_process("app").unwrap();
    m.switch_to(Some(app)).unwrap();
    let hole = Va::new(0x7_0000_0000);
    let av = m.kernel_read(hole, 8).unwrap_err();
    assert_eq!(av, Fault::Raise(NtStatus::ACCESS_VIOLATION));
    assert_eq!(m.blame().last_fault().map(|k| k.va), Some(hole));
    let step = m.step();
    let blamed = fault_finding_in(&m, &av, step, 0, "test");
    assert!(
        blamed.addresses.iter().any(|(_, va)| *va == hole),
        "{blamed:?}"
    );
    // The same access violation as KMODE_EXCEPTION_NOT_HANDLED is blamed too.
    let kmode = BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED;
    let unhandled = Fault::BugCheck(BugCheck::new(kmode, [av_code, 0, 0, 0], "unhandled"));
    let blamed = fault_finding_in(&m, &unhandled, step, 0, "test");
    assert!(
        blamed.addresses.iter().any(|(_, va)| *va == hole),
        "{blamed:?}"
    );
    let others = [
        Fault::Raise(NtStatus::INVALID_USER_BUFFER),
        Fault::Raise(NtStatus::INSUFFICIENT_RESOURCES),
        Fault::BugCheck(BugCheck::new(kmode, [av_code + 1, 0, 0, 0], "other")),
        Fault::BugCheck(BugCheck::new(
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [0x1000, 0, 0, 0],
            "verifier",
        )),
    ];
    for f in others {
        let own = fault_finding(&f, step, "test");
        let found = fault_finding_in(&m, &f, step, 0, "test");
        assert_eq!(
            (found.kind, &found.addresses),
            (own.kind, &own.addresses),
            "{f:?}"
        );
    }
}

/// A `PAGE_FAULT_IN_NONPAGED_AREA` takes its access (read or write, and the space) from
/// the fault the machine recorded at the address it names; at an address with no recorded
/// fault, from its own parameters (P2: non-zero for a write).
#[test]
fn a_page_fault_is_described_by_the_recorded_access_at_its_address() {
    use mdlsim::addr::Va;
    use mdlsim::bugcheck::{BugCheck, BugCheckCode};
    use mdlsim::oracle::blame::fault_finding_in;
    use mdlsim::{Fault, Machine};
    let mut m = Machine::new(mdlsim::Config::default()).unwrap();
    let hole = Va::new(0xFFFF_A000_0000_0000);
    let crash = m.kernel_read(hole, 8).unwrap_err();
    let Fault::BugCheck(b) = &crash else {
        panic!("{crash:?}")
    };
    assert_eq!(b.code, BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA);
    let recorded = m.blame().last_fault().expect("the read is recorded");
    assert!(!recorded.write && recorded.va == hole);
    let step = m.step();
    let page_fault = |va: Va, write: u64| {
        let code = BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA;
        let f = Fault::BugCheck(BugCheck::new(code, [va.raw(), write, 0, 0], "test"));
        fault_finding_in(&m, &f, step, 0, "test").detail
    };
    // At the recorded address the recorded read stands, whatever P2 says.
    let at_hole = page_fault(hole, 1);
    assert!(at_hole.contains(&format!("a read at {hole}")), "{at_hole}");
    // Elsewhere P2 decides.
    let other = Va::new(0xFFFF_A000_0001_0000);
    let write = page_fault(other, 1);
    assert!(write.contains(&format!("a write at {other}")), "{write}");
    let read = page_fault(other, 0);
    assert!(read.contains(&format!("a read at {other}")), "{read}");
}
