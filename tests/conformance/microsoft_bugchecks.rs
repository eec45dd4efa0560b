//! Microsoft's bug-check reference (`MicrosoftDocs/windows-driver-docs`,
//! `windows-driver-docs-pr/debugger/bug-check-0x…md`, published under
//! learn.microsoft.com/windows-hardware/drivers/debugger/): each documented parameter-1
//! row of the memory-manager codes the model raises — 0x1A, 0x3F, 0x4E, 0x50, 0x76,
//! 0xC2 (0x08 / 0x09), 0xCB, 0xD1, 0xD8, 0xDA — triggered through the model's API, with
//! the code and every parameter the page defines asserted. Driver Verifier's 0xC4 rows
//! are in `microsoft_bugchecks_c4`.
//!
//! Two stand-ins, as the model has no such objects: where a page names an internal lock
//! or PTE tracking structure (0xCB P1, 0xDA P2), the model gives the address of the MDL
//! the tracker tracks; where it names a process object, [`Pid::eprocess`]. Parameters a
//! page calls reserved are not asserted. Rows the model cannot trigger are in
//! tests/conformance/README.md's backlog.

use crate::common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::{
    BugCheck, BugCheckCode, bad_pool_caller, memory_management, pfn_list_corrupt,
    process_has_locked_pages, system_pte_misuse,
};
use mdlsim::irql::Kirql;
use mdlsim::mdl::{CacheType, LockOperation, MdlFlags, priority};
use mdlsim::pool::{PoolType, tag};
use mdlsim::space::Pid;
use mdlsim::verifier::Verifier;
use mdlsim::{Config, Fault, Machine, MdlId};

const T: u32 = tag(b"Msbc");

/// A machine with `config` and one process.
fn app_on(config: Config) -> (Machine, Pid) {
    let mut m = Machine::new(config).unwrap();
    let app = m.create_process("app").unwrap();
    (m, app)
}

/// Verifier off: a customer's machine.
fn off() -> Config {
    Config::default().verifier(Verifier::OFF)
}

/// The bug check in `r`, after checking its code and that the machine stopped on it.
fn bug<T: std::fmt::Debug>(m: &mut Machine, r: mdlsim::Result<T>, code: BugCheckCode) -> BugCheck {
    let b = match r {
        Err(Fault::BugCheck(b)) => b,
        other => panic!("expected bug check {code:?}, got {other:?}"),
    };
    assert_eq!(b.code, code, "{}", b.detail);
    assert_sticky(m, &b);
    b
}

/// A locked MDL over `pages` pages of a fresh buffer of `app`, and the buffer.
fn locked_pages(m: &mut Machine, app: Pid, pages: u64) -> (MdlId, Va) {
    let buf = user_buf(m, app, pages * PAGE_SIZE);
    let len = (pages * PAGE_SIZE) as u32;
    (
        lock_user(m, app, buf, len, LockOperation::IoWriteAccess),
        buf,
    )
}

// ----- 0x1A MEMORY_MANAGEMENT ------------------------------------------------------------

/// [0x1A] row 0x1233: a driver maps a physical page that is not locked; P2 the page's
/// PFN. Without Driver Verifier (with it, 0xC4/0x85 or 0xB3 comes first).
///
/// [0x1A]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
#[test]
fn x1a_1233_mapping_a_page_that_is_not_locked_names_its_pfn() {
    let (mut m, app) = app_on(off());
    let (src, buf) = locked_pages(&mut m, app, 2);
    let partial = new_mdl(&mut m, buf, 0x2000);
    m.io_build_partial_mdl(src, partial, buf, 0x2000).unwrap();
    let first = frames(&m, src)[0];
    m.mm_unlock_pages(src).unwrap();
    let r = map_k(&mut m, partial, CacheType::Cached, false, priority::NORMAL);
    let b = bug(&mut m, r, BugCheckCode::MEMORY_MANAGEMENT);
    assert_eq!(
        b.params[..2],
        [memory_management::MAP_UNLOCKED_PAGE, first.raw()]
    );
}

/// [0x1A] row 0x1236: the caller passes an MDL holding a page that is not locked the
/// way the routine needs (`MmFreePagesFromMdl` of a probed MDL, whose pages did not come
/// from `MmAllocatePagesForMdl`); P2 the MDL, P3 a pointer to the bad PFN (its slot in
/// the PFN array, after the 48-byte header), P4 the PFN.
///
/// [0x1A]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
#[test]
fn x1a_1236_freeing_pages_of_an_mdl_with_a_foreign_page_names_mdl_slot_and_pfn() {
    let (mut m, app) = with_app();
    let (mdl, _) = locked_pages(&mut m, app, 2);
    let f = frames(&m, mdl)[0];
    let r = m.mm_free_pages_from_mdl(mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::MEMORY_MANAGEMENT,
        [
            memory_management::MDL_UNLOCKED_OR_INVALID_PAGE,
            mdl.address(),
            mdl.address() + 48,
            f.raw(),
        ],
    );
}

/// [0x1A] row 0x1240: an MDL built for a virtual range that is not resident
/// (`MmBuildMdlForNonPagedPool` over a pool page and the unmapped page after it); P2 the
/// MDL, P3 the PTE pointer — the address of the non-resident page's PTE, which the model
/// computes as x64's `MiGetPteAddress` with the pre-1607 `PTE_BASE`
/// ([`mdlsim::addr::pte_address`]).
///
/// [0x1A]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
#[test]
fn x1a_1240_building_an_mdl_over_a_non_resident_range_names_mdl_and_pte() {
    let mut m = machine();
    let pool = nonpaged(&mut m, PAGE_SIZE, T);
    let mdl = new_mdl(&mut m, at(pool, 0x800), 0x1000);
    let r = m.mm_build_mdl_for_non_paged_pool(mdl);
    let b = bug(&mut m, r, BugCheckCode::MEMORY_MANAGEMENT);
    let pte = mdlsim::addr::pte_address(page(pool, 1));
    assert_eq!(
        b.params[..3],
        [
            memory_management::MDL_FOR_NONRESIDENT_RANGE,
            mdl.address(),
            pte.raw()
        ]
    );
    assert_eq!(
        pte.raw(),
        0xFFFF_F680_0000_0000 + (page(pool, 1).raw() >> 9 & 0x7F_FFFF_FFF8)
    );
}

// ----- 0x3F NO_MORE_SYSTEM_PTES, 0xD8 DRIVER_USED_EXCESSIVE_PTES ---------------------------

/// A machine with 3 system PTEs, 1 in use, and a locked 3-page MDL whose kernel mapping
/// (`BugCheckOnFailure` TRUE) cannot be made. Verifier off: its 0xC4 rows 0x81 / 0x82
/// object to a mapping that may bug-check.
fn no_ptes_left(track_ptes: bool) -> (Machine, mdlsim::Result<Option<Va>>) {
    let (mut m, app) = app_on(off().system_ptes(3).track_ptes(track_ptes));
    let (one, _) = locked_pages(&mut m, app, 1);
    system_va(&mut m, one);
    let (three, _) = locked_pages(&mut m, app, 3);
    let r = map_k(&mut m, three, CacheType::Cached, true, priority::NORMAL);
    (m, r)
}

/// [0x3F] P1 0, a system expansion PTE (the PTEs of MDL mappings): P2 the size of the
/// request (3 pages), P3 the free system PTEs (2), P4 all system PTEs (3).
///
/// [0x3F]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x3f--no-more-system-ptes
#[test]
fn x3f_0_no_system_ptes_names_request_free_and_total() {
    let (mut m, r) = no_ptes_left(false);
    expect_bug_check(&mut m, r, BugCheckCode::NO_MORE_SYSTEM_PTES, [0, 3, 2, 3]);
}

/// [0xD8] (`TrackPtes` set): P1 the driver's name or zero — the model has one driver and
/// gives zero, so P2 (defined only with a name) is not asserted —, P3 the free system
/// PTEs (2), P4 all system PTEs (3).
///
/// [0xD8]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd8--driver-used-excessive-ptes
#[test]
fn xd8_no_system_ptes_with_track_ptes_names_free_and_total() {
    let (mut m, r) = no_ptes_left(true);
    let b = bug(&mut m, r, BugCheckCode::DRIVER_USED_EXCESSIVE_PTES);
    assert_eq!((b.params[0], b.params[2], b.params[3]), (0, 2, 3));
}

// ----- 0x4E PFN_LIST_CORRUPT --------------------------------------------------------------

/// [0x4E] row 0x07: a driver unlocked a page more times than it locked it (it copied a
/// locked MDL's PFN array into a second MDL marked locked, and unlocks both; Verifier
/// off); P2 the PFN,
/// P3 its current share count (1: the process's mapping), P4 0.
///
/// [0x4E]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4e--pfn-list-corrupt
#[test]
fn x4e_07_unlocking_more_than_locked_names_pfn_and_share_count() {
    let (mut m, app) = app_on(off());
    let (mdl, buf) = locked_pages(&mut m, app, 1);
    let f = frames(&m, mdl)[0];
    let copy = new_mdl(&mut m, buf, 0x1000);
    m.mdl_copy_pfns(mdl, 0, copy, 0, 1).unwrap();
    m.mdl_set_flags(copy, MdlFlags::PAGES_LOCKED).unwrap();
    m.mm_unlock_pages(mdl).unwrap();
    assert_eq!(counts(&m, f), (1, 1), "(reference, share)");
    let r = m.mm_unlock_pages(copy);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PFN_LIST_CORRUPT,
        [pfn_list_corrupt::UNLOCKED_MORE_THAN_LOCKED, f.raw(), 1, 0],
    );
}

// ----- 0x50 PAGE_FAULT_IN_NONPAGED_AREA -----------------------------------------------------

/// A kernel mapping made and released: its address now has a freed system PTE.
fn unmapped_system_va() -> (Machine, Va) {
    let (mut m, app) = with_app();
    let (mdl, _) = locked_pages(&mut m, app, 1);
    let sys = system_va(&mut m, mdl);
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    (m, sys)
}

/// [0x50], reading: P1 the address referenced, P2 0 (read), P3 the address of the code
/// that referenced it "if known" (the model has no code addresses: 0), P4 0x0
/// (`NONPAGED_BUGCHECK_FREED_PTE`: the address is on a system PTE marked free — a kernel
/// mapping after `MmUnmapLockedPages`).
///
/// [0x50]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x50--page-fault-in-nonpaged-area
#[test]
fn x50_reading_a_released_system_mapping_is_a_read_on_a_freed_pte() {
    let (mut m, sys) = unmapped_system_va();
    let r = m.kernel().kernel_read(at(sys, 8), 4);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [at(sys, 8).raw(), 0, 0, 0],
    );
}

/// [0x50], writing: P2 for a write is 2 on x64 after Windows 10 1507 (the model's
/// Windows 10/11) and 1 before it (x64 / x86); P1, P3 and P4 as for the read.
///
/// [0x50]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x50--page-fault-in-nonpaged-area
#[test]
fn x50_writing_a_released_system_mapping_is_a_write_2_since_windows_10_and_1_before() {
    use mdlsim::windows::WindowsVersion;
    for (windows, write) in [
        (WindowsVersion::Windows10, 2),
        (WindowsVersion::Windows7, 1),
    ] {
        let (mut m, app) = app_on(Config::default().windows(windows));
        let (mdl, _) = locked_pages(&mut m, app, 1);
        let sys = system_va(&mut m, mdl);
        m.mm_unmap_locked_pages(sys, mdl).unwrap();
        let r = m.kernel().kernel_write(sys, &[1; 4]);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
            [sys.raw(), write, 0, 0],
        );
    }
}

/// [0x50] through a DDI: an MDL used after `IoFreeMdl` (its freed special-pool page) is
/// a read of the address the MDL was at (P2 0, P4 0x0, a freed PTE).
///
/// [0x50]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x50--page-fault-in-nonpaged-area
#[test]
fn x50_an_mdl_used_after_it_was_freed_is_a_read_of_its_address() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, PAGE_SIZE);
    let mdl = new_mdl(&mut m, buf, 0x100);
    m.io_free_mdl(mdl).unwrap();
    let r = m.mm_probe_and_lock_pages(
        mdl,
        mdlsim::mdl::AccessMode::KernelMode,
        LockOperation::IoReadAccess,
    );
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [mdl.address(), 0, 0, 0],
    );
}

// ----- 0x76 PROCESS_HAS_LOCKED_PAGES, 0xCB DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS -------------

/// [0x76] row 0x00: the process being terminated has locked pages (no locked-page
/// tracking: Verifier without Pool Tracking); P2 the process object, P3 the number of
/// locked pages (3: a 1-page and a 2-page lock), P4 0 (no driver stacks).
///
/// [0x76]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x76--process-has-locked-pages
#[test]
fn x76_00_a_process_terminated_with_locked_pages_names_process_and_count() {
    let (mut m, app) = untracked_app();
    locked_pages(&mut m, app, 1);
    locked_pages(&mut m, app, 2);
    let r = m.terminate_process(app);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        [
            process_has_locked_pages::PROCESS_EXIT_WITH_LOCKED_PAGES,
            app.eprocess(),
            3,
            0,
        ],
    );
}

/// [0x76] row 0x01: the driver unlocks process pages that are not locked (a second
/// `MmUnlockPages` of a 1-page MDL, with `TrackLockedPages`, Verifier off); P2 the MDL, P3 the
/// process's current locked page count (2: another MDL's lock), P4 0 (no driver stacks).
///
/// [0x76]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x76--process-has-locked-pages
#[test]
fn x76_01_unlocking_pages_that_are_not_locked_names_mdl_and_locked_count() {
    let (mut m, app) = app_on(off().track_locked_pages(true));
    let (once, _) = locked_pages(&mut m, app, 1);
    let (other, _) = locked_pages(&mut m, app, 2);
    m.mm_unlock_pages(once).unwrap();
    let r = m.mm_unlock_pages(once);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        [
            process_has_locked_pages::UNLOCK_PAGES_NOT_LOCKED,
            once.address(),
            2,
            0,
        ],
    );
    let _ = other;
}

/// [0xCB]: a process deleted with pages locked, locked-page tracking on (Verifier's Pool
/// Tracking, the default); P1 the lock tracking structure (the model's stand-in: the
/// MDL's address; never 0), P2 0, P3 the MDL holding the pages, P4 its locked pages (2).
///
/// [0xCB]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xcb--driver-left-locked-pages-in-process
#[test]
fn xcb_a_process_deleted_with_locked_pages_names_tracker_mdl_and_pages() {
    let (mut m, app) = with_app();
    let (mdl, _) = locked_pages(&mut m, app, 2);
    let r = m.terminate_process(app);
    let b = expect_bug_check(
        &mut m,
        r,
        BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
        [mdl.address(), 0, mdl.address(), 2],
    );
    assert_ne!(b.params[0], 0, "a tracker exists");
}

// ----- 0xC2 BAD_POOL_CALLER 0x08 / 0x09 ---------------------------------------------------

/// [0xC2] row 0x08: pool allocated at an invalid IRQL (Verifier off); P2 the IRQL, P3
/// the pool type (1 paged, 0 nonpaged), P4 the size. Paged pool at `DISPATCH_LEVEL`,
/// nonpaged pool at `HIGH_LEVEL`.
///
/// [0xC2]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc2--bad-pool-caller
#[test]
fn xc2_08_allocating_at_a_bad_irql_names_irql_type_and_size() {
    for (pool, irql) in [
        (PoolType::Paged, Kirql::DISPATCH_LEVEL),
        (PoolType::NonPaged, Kirql::HIGH_LEVEL),
    ] {
        let mut m = Machine::new(off()).unwrap();
        m.ke_raise_irql(irql).unwrap();
        let r = m.ex_allocate_pool_with_tag(pool, 0x48, T);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::BAD_POOL_CALLER,
            [
                bad_pool_caller::ALLOCATE_AT_BAD_IRQL,
                irql.param(),
                pool as u64,
                0x48,
            ],
        );
    }
}

/// [0xC2] row 0x09: pool freed at an invalid IRQL (Verifier off); P2 the IRQL, P3 the
/// pool type, P4 the pool address.
///
/// [0xC2]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc2--bad-pool-caller
#[test]
fn xc2_09_freeing_at_a_bad_irql_names_irql_type_and_address() {
    for (pool, irql) in [
        (PoolType::Paged, Kirql::DISPATCH_LEVEL),
        (PoolType::NonPaged, Kirql::HIGH_LEVEL),
    ] {
        let mut m = Machine::new(off()).unwrap();
        let p = m.ex_allocate_pool_with_tag(pool, 0x48, T).unwrap().unwrap();
        m.ke_raise_irql(irql).unwrap();
        let r = m.ex_free_pool_with_tag(p, T);
        expect_bug_check(
            &mut m,
            r,
            BugCheckCode::BAD_POOL_CALLER,
            [
                bad_pool_caller::FREE_AT_BAD_IRQL,
                irql.param(),
                pool as u64,
                p.raw(),
            ],
        );
    }
}

// ----- 0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL -----------------------------------------------------

/// [0xD1]: driver code touching pageable memory at too high an IRQL (paged pool at
/// `DISPATCH_LEVEL`, trimmed by Verifier's Force IRQL Checking); P1 the memory
/// referenced, P2 the IRQL, P3 0 read / 1 write. P4, the address of the code that made
/// the reference, is not modelled (backlog).
///
/// [0xD1]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd1--driver-irql-not-less-or-equal
#[test]
fn xd1_touching_paged_pool_at_dispatch_level_names_address_irql_and_access() {
    for (write, p3) in [(false, 0), (true, 1)] {
        let mut m = machine();
        let p = m
            .ex_allocate_pool_with_tag(PoolType::Paged, 64, T)
            .unwrap()
            .unwrap();
        m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
        let target = at(p, 16);
        let r = if write {
            m.kernel().kernel_write(target, &[1; 4])
        } else {
            m.kernel().kernel_read(target, 4).map(drop)
        };
        let b = bug(&mut m, r, BugCheckCode::DRIVER_IRQL_NOT_LESS_OR_EQUAL);
        assert_eq!(b.params[..3], [target.raw(), 2, p3], "write {write}");
    }
}

// ----- 0xDA SYSTEM_PTE_MISUSE -------------------------------------------------------------

/// A locked 3-page MDL at offset 0x123 of a process buffer, mapped to system space, on
/// the machine the 0xDA rows need: PTE tracking (`TrackPtes`) and no Driver Verifier
/// (whose automatic MDL checks stop an unmap of an MDL that is not mapped first, 0xC4/0xB6).
fn mapped() -> (Machine, MdlId, Va) {
    let (mut m, app) = app_on(off().track_ptes(true));
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(
        &mut m,
        app,
        at(buf, 0x123),
        0x2000,
        LockOperation::IoWriteAccess,
    );
    let sys = system_va(&mut m, mdl);
    (m, mdl, sys)
}

/// [0xDA] row 0x03: the mapping address freed is not the one mapped; P2 the tracker
/// (stand-in: the MDL), P3 the address the system expects, P4 the address the driver
/// gave.
///
/// [0xDA]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
#[test]
fn xda_03_unmapping_at_another_address_names_expected_and_given() {
    let (mut m, mdl, sys) = mapped();
    let wrong = sys.page_align();
    let r = m.mm_unmap_locked_pages(wrong, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::WRONG_MAPPING_ADDRESS,
            mdl.address(),
            sys.raw(),
            wrong.raw(),
        ],
    );
}

/// [0xDA] row 0x04: the first page of the mapped MDL changed since it was mapped; P2
/// the tracker (the MDL), P3 the PFN expected first, P4 the PFN now first.
///
/// [0xDA]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
#[test]
fn xda_04_unmapping_after_the_first_pfn_changed_names_expected_and_current() {
    let (mut m, mdl, sys) = mapped();
    let fs = frames(&m, mdl);
    m.mdl_set_pfn(mdl, 0, fs[2].raw()).unwrap();
    let r = m.mm_unmap_locked_pages(sys, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::MDL_FIRST_PAGE_CHANGED,
            mdl.address(),
            fs[0].raw(),
            fs[2].raw(),
        ],
    );
}

/// [0xDA] row 0x05: the MDL's start virtual address changed since it was mapped (the
/// driver re-initialised the mapped MDL over another buffer and put its flags back); P2
/// the tracker (the MDL), P3 the VA the system expects, P4 the VA the driver's MDL now
/// gives.
///
/// [0xDA]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
#[test]
fn xda_05_unmapping_after_start_va_changed_names_expected_and_given() {
    let (mut m, mdl, sys) = mapped();
    let d = m.mdl(mdl).unwrap();
    let (old_start, flags, len) = (d.start_va, d.flags, d.byte_count);
    let moved = at(old_start, 16 * PAGE_SIZE);
    m.mm_initialize_mdl(mdl, at(moved, 0x123), len).unwrap();
    m.mdl_set_flags(mdl, flags).unwrap();
    let r = m.mm_unmap_locked_pages(sys, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::MDL_START_VA_CHANGED,
            mdl.address(),
            old_start.raw(),
            moved.raw(),
        ],
    );
}

/// [0xDA] row 0x06: the MDL being freed was never (or is not now) mapped (a second
/// `MmUnmapLockedPages`); P2 the MDL, P3 the VA the driver gave, P4 the number of
/// mappings to free (the MDL's 3 pages).
///
/// [0xDA]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
#[test]
fn xda_06_unmapping_an_mdl_that_is_not_mapped_names_mdl_va_and_count() {
    let (mut m, mdl, sys) = mapped();
    assert_eq!(m.mdl(mdl).unwrap().page_count(), 3);
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    assert!(
        !m.mdl(mdl)
            .unwrap()
            .flags
            .contains(MdlFlags::MAPPED_TO_SYSTEM_VA)
    );
    let r = m.mm_unmap_locked_pages(sys, mdl);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::SYSTEM_PTE_MISUSE,
        [
            system_pte_misuse::MDL_NOT_MAPPED,
            mdl.address(),
            sys.raw(),
            3,
        ],
    );
}
