//! Unit tests of the oracle's classification and report shapes.

use super::*;
use crate::shadow::Label;
use crate::space::{Pid, SpaceId};

#[test]
fn bug_classes_display_as_their_names() {
    for c in BugClass::ALL {
        assert_eq!(c.to_string(), format!("{c:?}"));
    }
    assert_eq!(
        BugClass::PartialPageExposure.to_string(),
        "PartialPageExposure"
    );
}

#[test]
fn finding_display_names_class_rule_step_addresses_and_provenance() {
    let mut f = Finding::new(
        BugClass::CopyBackError,
        Rule::Integrity,
        Some(12),
        "a client byte changed",
    );
    assert_eq!(
        f.to_string(),
        "CopyBackError (Integrity) at step 12: a client byte changed"
    );
    f.addresses
        .push((SpaceId::Process(Pid(8)), crate::addr::Va::new(0x10000)));
    f.provenance.push(Label::Zero);
    let s = f.to_string();
    assert!(s.ends_with(" provenance zero"), "{s}");
    assert_eq!(s.matches(" [").count(), 1, "{s}");
    assert!(s.contains("0x10000]"), "{s}");
    let none = Finding::new(BugClass::Crash, Rule::Protocol, None, "x");
    assert!(!none.to_string().contains("provenance"));
}

fn class_of(code: BugCheckCode, p1: u64, detail: &str) -> BugClass {
    classify_fault(&Fault::BugCheck(crate::bugcheck::BugCheck::new(
        code,
        [p1, 0, 0, 0],
        detail,
    )))
}

/// Each bug check a strategy can cause is classed by the rule the table in the
/// module docs gives (the classes of the broken strategies rest on it).
#[test]
fn bug_checks_are_classed_by_code_and_subcode() {
    use BugCheckCode as C;
    let v = C::DRIVER_VERIFIER_DETECTED_VIOLATION;
    let table = [
        (
            C::KMODE_EXCEPTION_NOT_HANDLED,
            0,
            "NULL MDL read",
            BugClass::ZeroLengthOrNullMdl,
        ),
        (
            C::KMODE_EXCEPTION_NOT_HANDLED,
            0,
            "ASSERT ByteCount != 0",
            BugClass::ZeroLengthOrNullMdl,
        ),
        (
            C::KMODE_EXCEPTION_NOT_HANDLED,
            0,
            "MDL_PARTIAL unlocked",
            BugClass::UnlockMisuse,
        ),
        (
            C::KMODE_EXCEPTION_NOT_HANDLED,
            0,
            "SOURCE_IS_NONPAGED_POOL",
            BugClass::UnlockMisuse,
        ),
        (
            C::KMODE_EXCEPTION_NOT_HANDLED,
            0,
            "something else",
            BugClass::Crash,
        ),
        (
            v,
            verifier::UNLOCK_PAGES_NEVER_LOCKED,
            "",
            BugClass::UnlockMisuse,
        ),
        (
            v,
            verifier::UNLOCK_PAGES_NONPAGED_POOL_MDL,
            "",
            BugClass::UnlockMisuse,
        ),
        (
            v,
            verifier::UNLOCK_PAGES_PARTIAL_MDL,
            "",
            BugClass::UnlockMisuse,
        ),
        (
            v,
            verifier::FREE_MDL_STILL_MAPPED,
            "",
            BugClass::FreeWhileMapped,
        ),
        (
            v,
            verifier::MAP_LOCKED_PAGES_NOT_LOCKED,
            "",
            BugClass::MapUnlocked,
        ),
        (
            v,
            verifier::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS,
            "",
            BugClass::MapUnlocked,
        ),
        (
            v,
            verifier::MAP_IO_SPACE_PAGES_NOT_LOCKED,
            "",
            BugClass::MapUnlocked,
        ),
        (
            v,
            verifier::MAP_LOCKED_PAGES_BAD_MDL_FLAGS,
            "",
            BugClass::DuplicateSystemMapping,
        ),
        (v, 0x1000, "", BugClass::Crash),
        (C::PFN_LIST_CORRUPT, 7, "", BugClass::UnlockMisuse),
        (C::SYSTEM_PTE_MISUSE, 3, "", BugClass::UnmapMismatch),
        (C::SYSTEM_PTE_MISUSE, 4, "", BugClass::MdlMutatedWhileMapped),
        (C::SYSTEM_PTE_MISUSE, 5, "", BugClass::MdlMutatedWhileMapped),
        (
            C::NO_MORE_SYSTEM_PTES,
            0,
            "",
            BugClass::ResourceFailureUnhandled,
        ),
        (
            C::DRIVER_USED_EXCESSIVE_PTES,
            0,
            "",
            BugClass::ResourceFailureUnhandled,
        ),
        (C::BAD_POOL_CALLER, 0x08, "", BugClass::IrqlViolation),
        (C::BAD_POOL_CALLER, 0x09, "", BugClass::IrqlViolation),
        (C::BAD_POOL_CALLER, 0x07, "", BugClass::Crash),
        (C::MEMORY_MANAGEMENT, 0x1233, "", BugClass::MapUnlocked),
        (C::MEMORY_MANAGEMENT, 0x1236, "", BugClass::Crash),
        (C::PROCESS_HAS_LOCKED_PAGES, 0, "", BugClass::LockLeak),
        (C::PROCESS_HAS_LOCKED_PAGES, 1, "", BugClass::UnlockMisuse),
        (
            C::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
            0,
            "",
            BugClass::LockLeak,
        ),
        (
            C::ATTEMPTED_WRITE_TO_READONLY_MEMORY,
            0,
            "",
            BugClass::AccessModeMismatch,
        ),
        (
            C::PAGE_FAULT_IN_NONPAGED_AREA,
            0,
            "",
            BugClass::UseAfterComplete,
        ),
        (C::TARGET_MDL_TOO_SMALL, 0, "", BugClass::SpanArithmetic),
        (
            C::MULTIPLE_IRP_COMPLETE_REQUESTS,
            0,
            "",
            BugClass::StatusInconsistent,
        ),
        (
            C::IRQL_GT_ZERO_AT_SYSTEM_SERVICE,
            2,
            "",
            BugClass::IrqlViolation,
        ),
        (C::IRQL_NOT_LESS_OR_EQUAL, 0, "", BugClass::IrqlViolation),
        (
            C::DRIVER_IRQL_NOT_LESS_OR_EQUAL,
            0,
            "",
            BugClass::IrqlViolation,
        ),
        (
            v,
            verifier::UNMAP_LOCKED_PAGES_NOT_MAPPED,
            "",
            BugClass::UnmapMismatch,
        ),
        (
            v,
            verifier::UNMAP_LOCKED_PAGES_PARTIAL_MDL,
            "",
            BugClass::UnmapMismatch,
        ),
        (
            v,
            verifier::UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS,
            "",
            BugClass::UnmapMismatch,
        ),
    ];
    for (code, p1, detail, want) in table {
        assert_eq!(
            class_of(code, p1, detail),
            want,
            "{code:?} {p1:#x} {detail}"
        );
    }
    // Every IRQL rule Driver Verifier reports under 0xC4 is an IRQL violation.
    for p1 in [
        verifier::ALLOCATE_PAGED_POOL_ABOVE_APC_LEVEL,
        verifier::FREE_PAGED_POOL_ABOVE_APC_LEVEL,
        verifier::ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
        verifier::FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
        verifier::RAISE_IRQL_INVALID,
        verifier::LOWER_IRQL_INVALID,
        verifier::RELEASE_SPIN_LOCK_NOT_AT_DISPATCH_LEVEL,
        verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH_LEVEL,
        verifier::PROBE_AND_LOCK_ABOVE_DISPATCH_LEVEL,
        verifier::PROBE_AND_LOCK_PROCESS_PAGES_ABOVE_DISPATCH_LEVEL,
        verifier::MAP_SPECIFY_CACHE_KERNEL_ABOVE_DISPATCH_LEVEL,
        verifier::MAP_SPECIFY_CACHE_USER_ABOVE_APC_LEVEL,
        verifier::UNLOCK_PAGES_ABOVE_DISPATCH_LEVEL,
        verifier::UNMAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL,
        verifier::UNMAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL,
        verifier::PAGES_FOR_MDL_ABOVE_DISPATCH_LEVEL,
    ] {
        assert_eq!(class_of(v, p1, ""), BugClass::IrqlViolation, "{p1:#x}");
    }
}

#[test]
fn resource_failures_are_classed_apart_from_other_statuses() {
    for s in [NtStatus::INSUFFICIENT_RESOURCES, NtStatus::NO_MEMORY] {
        assert_eq!(
            classify_fault(&Fault::Status(s)),
            BugClass::ResourceFailureUnhandled
        );
        assert_eq!(
            classify_fault(&Fault::Raise(s)),
            BugClass::ResourceFailureUnhandled
        );
    }
    assert_eq!(
        classify_fault(&Fault::Raise(NtStatus::ACCESS_VIOLATION)),
        BugClass::Crash
    );
    assert_eq!(
        classify_fault(&Fault::Status(NtStatus::ACCESS_VIOLATION)),
        BugClass::Crash
    );
}
