//! The bug check codes, sub-codes and [`BugCheck`] text against the documented values.

use super::*;

#[test]
fn code_values() {
    let expected: &[(BugCheckCode, u32)] = &[
        (BugCheckCode::IRQL_NOT_LESS_OR_EQUAL, 0x0A),
        (BugCheckCode::MEMORY_MANAGEMENT, 0x1A),
        (BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED, 0x1E),
        (BugCheckCode::KERNEL_APC_PENDING_DURING_EXIT, 0x20),
        (BugCheckCode::NO_MORE_IRP_STACK_LOCATIONS, 0x35),
        (BugCheckCode::NO_MORE_SYSTEM_PTES, 0x3F),
        (BugCheckCode::TARGET_MDL_TOO_SMALL, 0x40),
        (BugCheckCode::INVALID_MDL_RANGE, 0x12E),
        (BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS, 0x44),
        (BugCheckCode::CANCEL_STATE_IN_COMPLETED_IRP, 0x48),
        (BugCheckCode::PFN_LIST_CORRUPT, 0x4E),
        (BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA, 0x50),
        (BugCheckCode::PROCESS_HAS_LOCKED_PAGES, 0x76),
        (BugCheckCode::SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, 0x7E),
        (BugCheckCode::SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION, 0xC1),
        (BugCheckCode::BAD_POOL_CALLER, 0xC2),
        (BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION, 0xC4),
        (BugCheckCode::DRIVER_CORRUPTED_EXPOOL, 0xC5),
        (BugCheckCode::DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0xC9),
        (BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, 0xCB),
        (BugCheckCode::DRIVER_IRQL_NOT_LESS_OR_EQUAL, 0xD1),
        (BugCheckCode::DRIVER_UNMAPPING_INVALID_VIEW, 0xD7),
        (BugCheckCode::DRIVER_USED_EXCESSIVE_PTES, 0xD8),
        (BugCheckCode::LOCKED_PAGES_TRACKER_CORRUPTION, 0xD9),
        (BugCheckCode::SYSTEM_PTE_MISUSE, 0xDA),
        (BugCheckCode::DRIVER_CORRUPTED_SYSPTES, 0xDB),
    ];
    for (code, value) in expected {
        assert_eq!(code.0, *value, "{code}");
    }
}

#[test]
fn names_round_trip() {
    assert_eq!(
        BugCheckCode::PFN_LIST_CORRUPT.name(),
        Some("PFN_LIST_CORRUPT")
    );
    assert_eq!(BugCheckCode(0x1234).name(), None);
    for c in BugCheckCode::ALL {
        let name = c.name().expect("every listed code is named");
        assert_eq!(BugCheckCode::from_name(name), Some(*c));
    }
    let mut values: Vec<u32> = BugCheckCode::ALL.iter().map(|c| c.0).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!(values.len(), BugCheckCode::ALL.len());
    assert_eq!(BugCheckCode::from_name("NOPE"), None);
}

#[test]
fn code_display_and_debug() {
    assert_eq!(
        BugCheckCode::PFN_LIST_CORRUPT.to_string(),
        "PFN_LIST_CORRUPT (0x4E)"
    );
    assert_eq!(
        format!("{:?}", BugCheckCode::IRQL_NOT_LESS_OR_EQUAL),
        "IRQL_NOT_LESS_OR_EQUAL (0x0A)"
    );
    assert_eq!(BugCheckCode(0x1234).to_string(), "BUGCHECK 0x1234");
}

#[test]
fn subcodes() {
    assert_eq!(pfn_list_corrupt::UNLOCKED_MORE_THAN_LOCKED, 0x07);
    assert_eq!(pfn_list_corrupt::FREE_PAGE_LOCKED_FOR_IO, 0x9A);
    assert_eq!(memory_management::MAP_UNLOCKED_PAGE, 0x1233);
    assert_eq!(memory_management::MDL_UNLOCKED_OR_INVALID_PAGE, 0x1236);
    assert_eq!(memory_management::MDL_FOR_NONRESIDENT_RANGE, 0x1240);
    assert_eq!(memory_management::FLAWED_MDL, 0x61946);
    assert_eq!(system_pte_misuse::MDL_NOT_MAPPED, 0x06);
    assert_eq!(verifier::MAP_LOCKED_PAGES_CALLED, 0x81);
    assert_eq!(verifier::FREE_MDL_STILL_MAPPED, 0xB8);
    assert_eq!(verifier::UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS, 0xB9);
    assert_eq!(io_verifier::COMPLETE_WITH_CANCEL_ROUTINE, 0x07);
    assert_eq!(bad_pool_caller::DOUBLE_FREE, 0x07);
    assert_eq!(bad_pool_caller::FREE_WITH_WRONG_TAG, 0x0A);
    assert_eq!(
        BugCheckCode::PFN_LIST_CORRUPT.subcode_name(0x07),
        Some("UNLOCKED_MORE_THAN_LOCKED")
    );
    assert_eq!(
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION.subcode_name(0xB4),
        Some("UNLOCK_PAGES_PARTIAL_MDL")
    );
    assert_eq!(BugCheckCode::PFN_LIST_CORRUPT.subcode_name(0x12345), None);
    assert_eq!(BugCheckCode::TARGET_MDL_TOO_SMALL.subcode_name(0), None);
    // Every table is free of duplicates and its name() agrees with ALL.
    for table in [
        verifier::ALL,
        io_verifier::ALL,
        memory_management::ALL,
        pfn_list_corrupt::ALL,
        process_has_locked_pages::ALL,
        locked_pages_tracker_corruption::ALL,
        system_pte_misuse::ALL,
        bad_pool_caller::ALL,
    ] {
        let mut values: Vec<u64> = table.iter().map(|(v, _)| *v).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), table.len());
    }
    for (v, n) in verifier::ALL {
        assert_eq!(verifier::name(*v), Some(*n));
    }
}

#[test]
fn bugcheck_display() {
    let b = BugCheck::new(
        BugCheckCode::PFN_LIST_CORRUPT,
        [7, 0x1234, 0, 0],
        "§8.8 double MmUnlockPages",
    );
    assert_eq!(
        b.to_string(),
        "*** STOP: 0x0000004E (0x0000000000000007, 0x0000000000001234, \
             0x0000000000000000, 0x0000000000000000) PFN_LIST_CORRUPT: §8.8 double MmUnlockPages"
    );
    assert_eq!(b.subcode_name(), Some("UNLOCKED_MORE_THAN_LOCKED"));
    let u = BugCheck::new(BugCheckCode(0x1234), [0; 4], "x");
    assert_eq!(
        u.to_string(),
        "*** STOP: 0x00001234 (0x0000000000000000, 0x0000000000000000, \
             0x0000000000000000, 0x0000000000000000) BUGCHECK_0x1234: x"
    );
    let e: Box<dyn std::error::Error> = Box::new(b.clone());
    assert_eq!(e.to_string(), b.to_string());
}

#[test]
fn serde_round_trip() {
    assert_eq!(
        serde_json::to_string(&BugCheckCode::SYSTEM_PTE_MISUSE).unwrap(),
        "218"
    );
    let b = BugCheck::new(
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::MDL_NOT_MAPPED,
            0xFFFF_8000_0000_1000,
            u64::MAX,
            1,
        ],
        "§8.17 double MmUnmapLockedPages",
    );
    let json = serde_json::to_string(&b).unwrap();
    assert!(json.starts_with(r#"{"code":218,"params":[6,"#), "{json}");
    let back: BugCheck = serde_json::from_str(&json).unwrap();
    assert_eq!(back, b);
}
