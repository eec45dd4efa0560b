//! Microsoft's bug-check reference, [`DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4)`][0xC4]
//! (`windows-driver-docs-pr/debugger/bug-check-0xc4--driver-verifier-detected-violation.md`):
//! each parameter-1 row of its tables the model raises — pool and IRQL rules, the MDL
//! routines' IRQL limits and MDL flag checks — triggered through the model's API under
//! Driver Verifier's standard settings (the default), with P2–P4 asserted as the row
//! defines them (a column the page calls reserved is not asserted). The other codes are in
//! `microsoft_bugchecks`; rows the model cannot trigger are in tests/conformance/README.md's
//! backlog.
//!
//! The page's remarks give the pool types: 0 nonpaged, 1 paged. Access modes are
//! `KernelMode` 0 and `UserMode` 1; the process object is [`mdlsim::space::Pid::eprocess`].
//!
//! [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation

use crate::common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::{BugCheckCode, verifier as v};
use mdlsim::irql::Kirql;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, priority};
use mdlsim::pool::{PoolType, tag};
use mdlsim::space::Pid;
use mdlsim::{Machine, MdlId};

const T: u32 = tag(b"Msc4");
const HIGH: Kirql = Kirql::HIGH_LEVEL;
const DISPATCH: Kirql = Kirql::DISPATCH_LEVEL;
const LOCK: Va = Va::new(0xFFFF_F800_0030_0000);

/// Asserts 0xC4 with `params` (P1 the row).
fn c4<T: std::fmt::Debug>(m: &mut Machine, r: mdlsim::Result<T>, params: [u64; 4]) {
    expect_bug_check(
        m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        params,
    );
}

/// Asserts 0xC4 with P1–P3 (the row's P4 is reserved).
fn c4_p3<T: std::fmt::Debug>(m: &mut Machine, r: mdlsim::Result<T>, params: [u64; 3]) {
    let b = expect_bug_check_p1(
        m,
        r,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        params[0],
    );
    assert_eq!(b.params[..3], params, "{}", b.detail);
}

/// A process with a locked 2-page MDL over its buffer (current process: the app).
fn locked2() -> (Machine, Pid, MdlId, Va) {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 2 * PAGE_SIZE);
    let mdl = lock_user(&mut m, app, buf, 0x2000, LockOperation::IoWriteAccess);
    (m, app, mdl, buf)
}

fn raise(m: &mut Machine, irql: Kirql) {
    m.ke_raise_irql(irql).unwrap();
}

// ----- 0x00 to 0x70: pool and IRQL -------------------------------------------------------

/// [0xC4] rows 0x01 / 0x02: allocating paged pool above `APC_LEVEL` (at `DISPATCH_LEVEL`)
/// / nonpaged pool above `DISPATCH_LEVEL` (at `HIGH_LEVEL`); P2 the IRQL, P3 the pool
/// type, P4 the size in bytes.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_01_02_allocating_pool_above_its_irql_names_irql_type_and_size() {
    for (row, pool, irql) in [
        (
            v::ALLOCATE_PAGED_POOL_ABOVE_APC_LEVEL,
            PoolType::Paged,
            DISPATCH,
        ),
        (
            v::ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
            PoolType::NonPaged,
            HIGH,
        ),
    ] {
        let mut m = machine();
        raise(&mut m, irql);
        let r = m.ex_allocate_pool_with_tag(pool, 0x30, T);
        c4(&mut m, r, [row, irql.param(), pool as u64, 0x30]);
    }
}

/// [0xC4] rows 0x11 / 0x12: freeing paged pool above `APC_LEVEL` / nonpaged pool above
/// `DISPATCH_LEVEL`; P2 the IRQL, P3 the pool type, P4 the pool address.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_11_12_freeing_pool_above_its_irql_names_irql_type_and_address() {
    for (row, pool, irql) in [
        (
            v::FREE_PAGED_POOL_ABOVE_APC_LEVEL,
            PoolType::Paged,
            DISPATCH,
        ),
        (
            v::FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
            PoolType::NonPaged,
            HIGH,
        ),
    ] {
        let mut m = machine();
        let p = m.ex_allocate_pool_with_tag(pool, 0x30, T).unwrap().unwrap();
        raise(&mut m, irql);
        let r = m.ex_free_pool_with_tag(p, T);
        c4(&mut m, r, [row, irql.param(), pool as u64, p.raw()]);
    }
}

/// [0xC4] rows 0x30, 0x31, 0x32 and 0x42, P2 the current IRQL in each: `KeRaiseIrql` to
/// an IRQL below the current one (0x30: P3 the requested IRQL, P4 0); `KeLowerIrql` to one
/// above it (0x31: P3 the requested IRQL, P4 0, the new IRQL is bad — not inside a DPC);
/// `KeReleaseSpinLock` at an IRQL other than `DISPATCH_LEVEL`, a double release (0x32: P3
/// the spin lock, P4 0); `KeAcquireSpinLock` above `DISPATCH_LEVEL` (0x42: P3 the spin
/// lock, P4 0).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_30_31_32_42_irql_and_spin_lock_misuse_names_irql_and_argument() {
    type Case = (fn(&mut Machine) -> mdlsim::Result<Kirql>, [u64; 4]);
    let cases: [Case; 4] = [
        (
            |m| {
                m.ke_raise_irql(DISPATCH)?;
                m.ke_raise_irql(Kirql::APC_LEVEL)
            },
            [v::RAISE_IRQL_INVALID, 2, 1, 0],
        ),
        (
            |m| {
                m.ke_raise_irql(Kirql::APC_LEVEL)?;
                m.ke_lower_irql(DISPATCH).map(|()| DISPATCH)
            },
            [v::LOWER_IRQL_INVALID, 1, 2, 0],
        ),
        (
            |m| {
                let old = m.ke_acquire_spin_lock(LOCK)?;
                m.ke_release_spin_lock(LOCK, old)?;
                m.ke_release_spin_lock(LOCK, old).map(|()| old)
            },
            [v::RELEASE_SPIN_LOCK_NOT_AT_DISPATCH_LEVEL, 0, LOCK.raw(), 0],
        ),
        (
            |m| {
                m.ke_raise_irql(HIGH)?;
                m.ke_acquire_spin_lock(LOCK)
            },
            [v::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH_LEVEL, 15, LOCK.raw(), 0],
        ),
    ];
    for (misuse, params) in cases {
        let mut m = machine();
        let r = misuse(&mut m);
        c4(&mut m, r, params);
    }
}

// ----- 0x70 to 0x91: the MDL routines ------------------------------------------------------

/// [0xC4] rows 0x70 / 0x71: `MmProbeAndLockPages` / `MmProbeAndLockProcessPages` above
/// `DISPATCH_LEVEL`; P2 the IRQL, P3 the MDL, P4 the access mode (0x70) / the process
/// (0x71).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_70_71_probing_above_dispatch_level_names_irql_mdl_and_mode_or_process() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, PAGE_SIZE);
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x100);
    let mut process = m.clone();
    raise(&mut m, HIGH);
    let r = m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess);
    c4(
        &mut m,
        r,
        [v::PROBE_AND_LOCK_ABOVE_DISPATCH_LEVEL, 15, mdl.address(), 1],
    );

    raise(&mut process, HIGH);
    let r = process.mm_probe_and_lock_process_pages(
        mdl,
        app,
        AccessMode::UserMode,
        LockOperation::IoReadAccess,
    );
    c4(
        &mut process,
        r,
        [
            v::PROBE_AND_LOCK_PROCESS_PAGES_ABOVE_DISPATCH_LEVEL,
            15,
            mdl.address(),
            app.eprocess(),
        ],
    );
}

/// [0xC4] rows 0x74–0x77: `MmMapLockedPages` (0x74 kernel, 0x75 user) and
/// `MmMapLockedPagesSpecifyCache` (0x76 kernel, 0x77 user) above their IRQL
/// (`DISPATCH_LEVEL` for kernel mappings, `APC_LEVEL` for user ones); P2 the IRQL, P3
/// the MDL, P4 the access mode.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_74_to_77_mapping_above_the_irql_limit_names_irql_mdl_and_mode() {
    for (row, mode, specify_cache, irql) in [
        (
            v::MAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL,
            AccessMode::KernelMode,
            false,
            HIGH,
        ),
        (
            v::MAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL,
            AccessMode::UserMode,
            false,
            DISPATCH,
        ),
        (
            v::MAP_SPECIFY_CACHE_KERNEL_ABOVE_DISPATCH_LEVEL,
            AccessMode::KernelMode,
            true,
            HIGH,
        ),
        (
            v::MAP_SPECIFY_CACHE_USER_ABOVE_APC_LEVEL,
            AccessMode::UserMode,
            true,
            DISPATCH,
        ),
    ] {
        let (mut m, _app, mdl, _) = locked2();
        raise(&mut m, irql);
        let r = if specify_cache {
            m.mm_map_locked_pages_specify_cache(
                mdl,
                mode,
                CacheType::Cached,
                None,
                false,
                priority::NORMAL,
            )
        } else {
            m.mm_map_locked_pages(mdl, mode)
        };
        c4(&mut m, r, [row, irql.param(), mdl.address(), mode as u64]);
    }
}

/// [0xC4] row 0x78: `MmUnlockPages` above `DISPATCH_LEVEL`; P2 the IRQL, P3 the MDL,
/// P4 0.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_78_unlocking_above_dispatch_level_names_irql_and_mdl() {
    let (mut m, _app, mdl, _) = locked2();
    raise(&mut m, HIGH);
    let r = m.mm_unlock_pages(mdl);
    c4(
        &mut m,
        r,
        [v::UNLOCK_PAGES_ABOVE_DISPATCH_LEVEL, 15, mdl.address(), 0],
    );
}

/// [0xC4] rows 0x79 / 0x7A: `MmUnmapLockedPages` of a kernel mapping above
/// `DISPATCH_LEVEL` / of a user mapping above `APC_LEVEL`; P2 the IRQL, P3 the address
/// being unmapped, P4 the MDL.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_79_7a_unmapping_above_the_irql_limit_names_irql_va_and_mdl() {
    let (mut m, _app, mdl, _) = locked2();
    let sys = system_va(&mut m, mdl);
    raise(&mut m, HIGH);
    let r = m.mm_unmap_locked_pages(sys, mdl);
    c4(
        &mut m,
        r,
        [
            v::UNMAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL,
            15,
            sys.raw(),
            mdl.address(),
        ],
    );

    let (mut m, _app, mdl, _) = locked2();
    let user = map_user(&mut m, mdl);
    raise(&mut m, DISPATCH);
    let r = m.mm_unmap_locked_pages(user, mdl);
    c4(
        &mut m,
        r,
        [
            v::UNMAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL,
            2,
            user.raw(),
            mdl.address(),
        ],
    );
}

/// [0xC4] row 0x7C: `MmUnlockPages` of an MDL whose pages were never successfully
/// locked (here: unlocked already); P2 the MDL, P3 its flags, P4 0.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_7c_unlocking_an_mdl_that_is_not_locked_names_mdl_and_flags() {
    let (mut m, _app, mdl, _) = locked2();
    m.mm_unlock_pages(mdl).unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_unlock_pages(mdl);
    c4(
        &mut m,
        r,
        [v::UNLOCK_PAGES_NEVER_LOCKED, mdl.address(), flags, 0],
    );
}

/// A nonpaged pool block and an MDL built over it by `MmBuildMdlForNonPagedPool`.
fn built() -> (Machine, MdlId) {
    let mut m = machine();
    let pool = nonpaged(&mut m, 0x200, T);
    let mdl = new_mdl(&mut m, pool, 0x200);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    (m, mdl)
}

/// [0xC4] row 0x7D: `MmUnlockPages` of an MDL whose pages are nonpaged pool (built by
/// `MmBuildMdlForNonPagedPool`); P2 the MDL, P3 its flags, P4 0.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_7d_unlocking_a_nonpaged_pool_mdl_names_mdl_and_flags() {
    let (mut m, mdl) = built();
    let flags = m.mdl(mdl).unwrap().flags;
    assert!(flags.contains(MdlFlags::SOURCE_IS_NONPAGED_POOL));
    let r = m.mm_unlock_pages(mdl);
    c4(
        &mut m,
        r,
        [
            v::UNLOCK_PAGES_NONPAGED_POOL_MDL,
            mdl.address(),
            flags.bits() as u64,
            0,
        ],
    );
}

/// [0xC4] row 0x7E: `MmAllocatePagesForMdl(Ex)` or `MmFreePagesFromMdl` above
/// `DISPATCH_LEVEL`; P2 the IRQL, P3 `DISPATCH_LEVEL`, P4 0.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_7e_pages_for_mdl_above_dispatch_level_names_irql_and_dispatch_level() {
    let row = [v::PAGES_FOR_MDL_ABOVE_DISPATCH_LEVEL, 15, 2, 0];
    let mut m = machine();
    let mut free = m.clone();
    raise(&mut m, HIGH);
    let r = m.mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, 0x2000, CacheType::Cached, 0);
    c4(&mut m, r, row);

    let mdl = free
        .mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, 0x2000, CacheType::Cached, 0)
        .unwrap()
        .unwrap();
    raise(&mut free, HIGH);
    let r = free.mm_free_pages_from_mdl(mdl);
    c4(&mut free, r, row);
}

/// [0xC4] row 0x7F: `MmBuildMdlForNonPagedPool` of an MDL whose pages are paged pool
/// (Windows 10/11, the default); P2 the IRQL, P3 the MDL, P4 its flags.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_7f_building_a_nonpaged_mdl_over_paged_pool_names_irql_mdl_and_flags() {
    let mut m = machine();
    let p = m
        .ex_allocate_pool_with_tag(PoolType::Paged, 0x200, T)
        .unwrap()
        .unwrap();
    let mdl = new_mdl(&mut m, p, 0x200);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_build_mdl_for_non_paged_pool(mdl);
    c4(
        &mut m,
        r,
        [
            v::BUILD_MDL_FOR_NONPAGED_POOL_ON_PAGED_POOL,
            0,
            mdl.address(),
            flags,
        ],
    );
}

/// [0xC4] row 0x81: `MmMapLockedPages` was called (Verifier wants
/// `MmMapLockedPagesSpecifyCache` with `BugCheckOnFailure` FALSE); P2 the MDL, P3 its
/// flags, P4 0.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_81_calling_mm_map_locked_pages_names_mdl_and_flags() {
    let (mut m, _app, mdl, _) = locked2();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_map_locked_pages(mdl, AccessMode::KernelMode);
    c4(
        &mut m,
        r,
        [v::MAP_LOCKED_PAGES_CALLED, mdl.address(), flags, 0],
    );
}

/// [0xC4] row 0x85: mapping an MDL whose pages are not locked down (a partial MDL whose
/// source was unlocked); P2 the MDL, P3 the number of pages to map, P4 the first PFN
/// that is not locked.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_85_mapping_pages_that_are_not_locked_names_mdl_pages_and_first_pfn() {
    let (mut m, _app, src, buf) = locked2();
    let partial = new_mdl(&mut m, buf, 0x2000);
    m.io_build_partial_mdl(src, partial, buf, 0x2000).unwrap();
    let first = frames(&m, src)[0];
    m.mm_unlock_pages(src).unwrap();
    let r = map_k(&mut m, partial, CacheType::Cached, false, priority::NORMAL);
    c4(
        &mut m,
        r,
        [
            v::MAP_LOCKED_PAGES_NOT_LOCKED,
            partial.address(),
            2,
            first.raw(),
        ],
    );
}

/// [0xC4] row 0x89: an MDL not marked I/O holds a number that is no page of memory (the
/// driver wrote it into the PFN array of its locked MDL, which it then maps); P2 the
/// MDL, P3 a pointer to that PFN-array entry, P4 the number.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_89_a_non_memory_page_in_an_mdl_names_mdl_entry_and_number() {
    let (mut m, _app, mdl, _) = locked2();
    let beyond = m.frames_total() + 0x100;
    m.mdl_set_pfn(mdl, 1, beyond).unwrap();
    let r = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL);
    c4(
        &mut m,
        r,
        [
            v::MDL_NON_MEMORY_PAGE_NOT_IO_SPACE,
            mdl.address(),
            mdl.address() + 48 + 8,
            beyond,
        ],
    );
}

// ----- 0xA0 to 0x140: MDL flags ----------------------------------------------------------------

/// [0xC4] rows 0xB0 / 0xB1: `MmProbeAndLockPages` / `MmProbeAndLockProcessPages` of an
/// MDL with incorrect flags (one built by `MmBuildMdlForNonPagedPool`); P2 the MDL, P3
/// its flags, P4 the incorrect flags (`MDL_SOURCE_IS_NONPAGED_POOL`).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_b0_b1_probing_a_built_mdl_names_mdl_flags_and_the_bad_flag() {
    let (mut m, mdl) = built();
    let app = m.create_process("app").unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let bad = MdlFlags::SOURCE_IS_NONPAGED_POOL.bits() as u64;
    let mut process = m.clone();
    let r = m.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, LockOperation::IoReadAccess);
    c4(
        &mut m,
        r,
        [v::PROBE_AND_LOCK_BAD_MDL_FLAGS, mdl.address(), flags, bad],
    );
    let r = process.mm_probe_and_lock_process_pages(
        mdl,
        app,
        AccessMode::KernelMode,
        LockOperation::IoReadAccess,
    );
    c4(
        &mut process,
        r,
        [
            v::PROBE_AND_LOCK_PROCESS_PAGES_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            bad,
        ],
    );
}

/// [0xC4] row 0xB2: mapping an MDL with incorrect flags (already mapped to a system
/// address); P2 the MDL, P3 its flags, P4 the incorrect flags (`MDL_MAPPED_TO_SYSTEM_VA`).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_b2_mapping_an_mdl_already_mapped_names_mdl_flags_and_the_bad_flag() {
    let (mut m, _app, mdl, _) = locked2();
    system_va(&mut m, mdl);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL);
    c4(
        &mut m,
        r,
        [
            v::MAP_LOCKED_PAGES_BAD_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::MAPPED_TO_SYSTEM_VA.bits() as u64,
        ],
    );
}

/// [0xC4] row 0xB3: mapping an MDL that is missing a flag (not locked); P2 the MDL, P3
/// its flags, P4 the missing flags (`MDL_PAGES_LOCKED`).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_b3_mapping_an_mdl_that_is_not_locked_names_mdl_flags_and_the_missing_flag() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, PAGE_SIZE);
    let mdl = new_mdl(&mut m, buf, 0x100);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = map_k(&mut m, mdl, CacheType::Cached, false, priority::NORMAL);
    c4(
        &mut m,
        r,
        [
            v::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS,
            mdl.address(),
            flags,
            MdlFlags::PAGES_LOCKED.bits() as u64,
        ],
    );
}

/// [0xC4] row 0xB4: `MmUnlockPages` of a partial MDL (built by `IoBuildPartialMdl`); P2
/// the MDL, P3 its flags, P4 the unexpected partial flag (`MDL_PARTIAL`).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_b4_unlocking_a_partial_mdl_names_mdl_flags_and_the_partial_flag() {
    let (mut m, _app, src, buf) = locked2();
    let partial = new_mdl(&mut m, buf, 0x1000);
    m.io_build_partial_mdl(src, partial, buf, 0x1000).unwrap();
    let flags = m.mdl(partial).unwrap().flags.bits() as u64;
    let r = m.mm_unlock_pages(partial);
    c4(
        &mut m,
        r,
        [
            v::UNLOCK_PAGES_PARTIAL_MDL,
            partial.address(),
            flags,
            MdlFlags::PARTIAL.bits() as u64,
        ],
    );
}

/// [0xC4] row 0xB8: `IoFreeMdl` while the MDL's pages are still mapped; P2 the MDL, P3
/// its flags (P4 reserved).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_b8_freeing_a_mapped_mdl_names_mdl_and_flags() {
    let (mut m, _app, mdl, _) = locked2();
    system_va(&mut m, mdl);
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.io_free_mdl(mdl);
    c4_p3(&mut m, r, [v::FREE_MDL_STILL_MAPPED, mdl.address(), flags]);
}
