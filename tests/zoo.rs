//! The zoo (`mdlsim::strategy::zoo`): strategies reproducing cited field bugs, each a
//! negative control caught with the class of its cause (or, where the oracle does not
//! assign that class yet, the class it reports today, listed in [`PENDING_ORACLE`]); and
//! correct strategies written differently from the built-ins, positive controls that pass.

use mdlsim::oracle::BugClass;
use mdlsim::strategy::{self, Direction, ProxyStrategy, ProxyStrategyClone, portname, zoo};
use mdlsim::verify::{self, Config};

/// Cases per broken strategy (each is caught within a few dozen; shrinking is bounded).
const BROKEN_CASES: u32 = 300;
/// Cases per direction for a correct zoo strategy in the regular run.
const CORRECT_CASES: u32 = 500;
/// The generator's seed: runs are reproducible.
const SEED: u64 = 0x007a_6f6f;

/// Zoo strategies whose cause the oracle does not name yet: `(strategy, cause = its
/// expected(), class the oracle reports today)`. Flip an entry (delete it) when the
/// oracle learns to assign the cause; the test of that strategy then checks the cause.
/// Empty since main's oracle names crashes and shifted bytes by cause; before that it
/// held SwiotlbDroppedOffset and WinFspTailOffset (SpanArithmetic, seen as
/// CopyBackError), UserVaInArbitraryContext (OutOfBounds, seen as Crash) and
/// UncheckedSystemAddress (ResourceFailureUnhandled, seen as Crash).
pub const PENDING_ORACLE: &[(&str, BugClass, BugClass)] = &[];

/// Zoo strategies whose bug needs a server the harness does not have yet:
/// `(strategy, cause)`. They pass today; when such a server lands,
/// [`strategies_awaiting_a_hostile_server_are_not_reached_yet`] fails and the entry moves
/// to the caught ones. Empty since the hostile servers landed (InformationUnclamped was
/// here: not reached before them).
pub const AWAITING_HOSTILE_SERVER: &[(&str, BugClass)] = &[];

fn config(cases: u32) -> Config {
    Config::default().cases(cases).seed(SEED).ignore_env()
}

/// The class a broken zoo strategy is caught with today.
fn observed_today(s: &dyn ProxyStrategyClone) -> Option<BugClass> {
    let name = s.name();
    if AWAITING_HOSTILE_SERVER.iter().any(|(n, _)| *n == name) {
        return None;
    }
    match PENDING_ORACLE.iter().find(|(n, _, _)| *n == name) {
        Some((_, _, today)) => Some(*today),
        None => s.expected(),
    }
}

/// Runs the broken zoo strategy `name` and checks it is caught with its class.
fn assert_caught(name: &str) {
    let s = zoo::zoo()
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("{name} is not in the zoo"));
    let cause = s.expected().expect("a broken strategy names its cause");
    let want = observed_today(&*s).expect("not awaiting a hostile server");
    let cx = verify::verify(&s, &config(BROKEN_CASES).focus(&[want]))
        .expect_err(&format!("{name} must be caught"));
    assert!(
        cx.has(want),
        "{name}: {want} (cause {cause}) expected in\n{cx}"
    );
}

macro_rules! caught {
    ($($(#[$doc:meta])* $test:ident => $name:literal;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $test() {
            assert_caught($name);
        }
    )*};
}

caught! {
    /// CVE-2022-48853: stale bounce bytes synced over the caller's buffer past a short transfer.
    swiotlb_stale_bounce_reaches_the_client_past_information => "SwiotlbStaleFromDevice";
    /// swiotlb before min_align_mask: data at the slot's start, device told the old offset.
    swiotlb_dropped_offset_shifts_every_byte => "SwiotlbDroppedOffset";
    /// WinFsp 79119a22: the tail page copied BYTE_OFFSET bytes too far.
    winfsp_unaligned_tail_copy_moves_bytes_to_the_wrong_offset => "WinFspTailOffset";
    /// WinFsp d0eee263: copying through the requestor's user VA in another context.
    copy_through_the_user_va_in_the_server_context_faults => "UserVaInArbitraryContext";
    /// MmGetSystemAddressForMdlSafe's NULL under PTE exhaustion, dereferenced.
    unchecked_null_system_address_is_used_under_pte_exhaustion => "UncheckedSystemAddress";
    /// MmMapLockedPages semantics: bug check 0x3F on PTE exhaustion.
    bug_check_on_map_failure_takes_the_machine_down => "BugCheckOnMapFailure";
    /// Bochspwn Reloaded: Information over-reported, stale pool delivered as data.
    over_reported_information_delivers_stale_pool => "OverReportedInformation";
    /// Bochspwn: a WRITE's bytes validated in place, then copied again.
    validate_then_copy_fetches_user_bytes_twice => "ValidateThenCopy";
    /// MmUnmapLockedPages of a user mapping from a system thread or the client's context.
    unmap_outside_the_server_context_misses_the_mapping => "UnmapFromArbitraryContext";
    /// cheat-engine #1623: MmUnlockPages where MmUnmapLockedPages belongs.
    unlock_instead_of_unmap_corrupts_the_pfn_list => "UnlockInsteadOfUnmap";
    /// PFN_LIST_CORRUPT 0x7: the driver unlocks Irp->MdlAddress, then the I/O manager does.
    unlocking_the_request_mdl_unlocks_it_twice => "DoubleUnlockRequestMdl";
    /// Dokan adf14d8 / KSOCKET #2: the own lock is released on the error paths only.
    own_lock_forgotten_on_the_reply_path_leaks => "LockLeakOnReplyPath";
    /// cheat-engine #1611/#1613: bounce pages mapped and never unmapped or freed.
    bounce_pages_never_released_leak_ptes_and_mdls => "BouncePagesLeaked";
    /// Information taken from an over-reporting server, unclamped.
    unclamped_information_from_a_lying_server_overruns_the_buffer => "InformationUnclamped";
}

#[test]
fn every_broken_zoo_strategy_has_a_named_test() {
    let tested = [
        "SwiotlbStaleFromDevice",
        "SwiotlbDroppedOffset",
        "WinFspTailOffset",
        "UserVaInArbitraryContext",
        "UncheckedSystemAddress",
        "BugCheckOnMapFailure",
        "OverReportedInformation",
        "ValidateThenCopy",
        "UnmapFromArbitraryContext",
        "UnlockInsteadOfUnmap",
        "DoubleUnlockRequestMdl",
        "LockLeakOnReplyPath",
        "BouncePagesLeaked",
        "InformationUnclamped",
    ];
    let broken: Vec<String> = zoo::zoo()
        .iter()
        .filter(|s| s.expected().is_some())
        .map(|s| s.name())
        .collect();
    assert!(broken.len() >= 12, "{broken:?}");
    for name in &broken {
        let awaiting = AWAITING_HOSTILE_SERVER.iter().any(|(n, _)| n == name);
        assert!(
            tested.contains(&name.as_str()) || awaiting,
            "{name} has no test"
        );
    }
}

#[test]
fn zoo_lists_correct_strategies_first_and_at_least_three() {
    let z = zoo::zoo();
    let correct = z.iter().take_while(|s| s.expected().is_none()).count();
    assert!(correct >= 3, "{correct} correct");
    assert!(z[correct..].iter().all(|s| s.expected().is_some()));
    let builtin: Vec<String> = strategy::builtins().iter().map(|s| s.name()).collect();
    assert!(z.iter().all(|s| !builtin.contains(&s.name())));
}

#[test]
fn pending_oracle_entries_name_zoo_strategies_by_their_cause() {
    let z = zoo::zoo();
    for (name, cause, today) in PENDING_ORACLE {
        let s = z
            .iter()
            .find(|s| s.name() == *name)
            .unwrap_or_else(|| panic!("{name} is not in the zoo"));
        assert_eq!(s.expected(), Some(*cause), "{name}");
        assert_ne!(cause, today, "{name}: not pending, delete the entry");
    }
    for (name, cause) in AWAITING_HOSTILE_SERVER {
        let s = z.iter().find(|s| s.name() == *name).expect("in the zoo");
        assert_eq!(s.expected(), Some(*cause), "{name}");
    }
}

#[test]
fn strategies_awaiting_a_hostile_server_are_not_reached_yet() {
    for (name, _) in AWAITING_HOSTILE_SERVER {
        let s = zoo::zoo()
            .into_iter()
            .find(|s| s.name() == *name)
            .expect("in the zoo");
        if let Err(cx) = verify::verify(&s, &config(BROKEN_CASES)) {
            panic!(
                "{name} is caught now (hostile servers landed?): move it out of AWAITING_HOSTILE_SERVER\n{cx}"
            );
        }
    }
}

#[test]
fn correct_zoo_strategies_pass_both_directions() {
    for s in zoo::zoo().into_iter().filter(|s| s.expected().is_none()) {
        for d in [Direction::Read, Direction::Write] {
            if let Err(cx) = verify::verify(&s, &config(CORRECT_CASES).direction(d)) {
                panic!("{} must pass {d:?}:\n{cx}", s.name());
            }
        }
    }
}

/// Every correct strategy, the zoo's and the built-ins'.
fn all_correct() -> Vec<Box<dyn ProxyStrategyClone>> {
    let mut v: Vec<Box<dyn ProxyStrategyClone>> = zoo::zoo()
        .into_iter()
        .filter(|s| s.expected().is_none())
        .collect();
    v.push(Box::new(strategy::BounceCopy::default()));
    v.push(Box::new(strategy::HeadTailSplice::default()));
    v.push(Box::new(strategy::PartialMdlSplit::default()));
    v.push(Box::new(strategy::CopySmallMapLarge::default()));
    v.push(Box::new(portname::PortNameCaptured::default()));
    v
}

#[test]
#[ignore = "long: 50,000 cases per direction for every correct strategy (minutes in release)"]
fn correct_strategies_pass_50000_cases_per_direction() {
    let mut failures = Vec::new();
    for s in all_correct() {
        for d in [Direction::Read, Direction::Write] {
            let t = std::time::Instant::now();
            let r = verify::verify(&s, &config(50_000).direction(d));
            println!(
                "{} {d:?}: {} in {:.1?}",
                s.name(),
                if r.is_ok() { "pass" } else { "FAIL" },
                t.elapsed()
            );
            match r {
                Ok(rep) => assert_eq!(
                    rep.coverage.directions.get(&d).copied(),
                    Some(50_000),
                    "{} {d:?}: every case counted",
                    s.name()
                ),
                Err(cx) => failures.push(format!("{} {d:?}:\n{cx}\n{}", s.name(), cx.to_json())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn docs_zoo_lists_every_driver_of_the_harness_zoo_with_its_class() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/zoo.md"))
        .expect("docs/zoo.md");
    let drivers = doc
        .split("## <a id=\"drivers\"></a>Drivers")
        .nth(1)
        .expect("docs/zoo.md has a Drivers section");
    for z in mdlsim::verify_driver::zoo() {
        let class = z
            .expected
            .map_or("— (passes)".to_string(), |c| format!("`{c}`"));
        let row = format!("| `{}` | {} |", z.driver.name, class);
        assert!(
            drivers.contains(&row),
            "docs/zoo.md's Drivers table lacks the row starting {row}"
        );
    }
}
