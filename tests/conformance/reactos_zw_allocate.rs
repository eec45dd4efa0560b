//! ReactOS, `modules/rostests/kmtests/ntos_mm/ZwAllocateVirtualMemory.c`, test
//! `ZwAllocateVirtualMemory`: `SimpleErrorChecks` (the rows of its
//! `ALLOC_MEMORY_WITH_FREE` macro), `SimpleAllocation`, `CustomBaseAllocation` and
//! `StressTesting`, with the helpers `CheckBuffer`, `CheckBufferRead` and
//! `CheckBufferReadWrite`. `NtAllocateVirtualMemory` / `NtFreeVirtualMemory` are
//! [`Machine::virtual_alloc`] / [`Machine::virtual_free`].
//!
//! kmtest runs the test in its driver, in the context of the kmtest process that asked
//! for it: `NtCurrentProcess()` is that process, and the driver's `RtlCopyMemory` and
//! `RtlCompareMemory` reach its user space (here `kernel_write` / `kernel_read` with it
//! current). `KmtStartSeh` / `KmtEndSeh` is [`Kernel::try_except`](mdlsim::Kernel::try_except):
//! the status raised, or success. kmtest's `Test_NtQueryVirtualMemory` (a user-mode
//! callback to `NtQueryVirtualMemory`; its three `ok`s: `Protect`, `State`, `RegionSize`)
//! is [`Machine::zw_query_virtual_memory`]. The test describes Windows Server 2003 (NT
//! 5.2), which ReactOS targets, so the machine is configured as Server 2003.
//!
//! Stand-ins, none the subject of an assertion: the source's 200-byte `TestString` is a
//! pattern of the same length; the address `0x00567A20` conflicts on Windows because the
//! kmtest process already has private memory there (its layout on x86), so the process
//! here first reserves the 64 KiB holding it; the address of the driver's function
//! `Test_ZwAllocateVirtualMemory` is an address of system space.
//!
//! Counted as in the README, the file holds 44 assertions: the macro's 4 (run over 34
//! rows, 18 of them here), the helpers' 3, `SimpleAllocation`'s 27,
//! `CustomBaseAllocation`'s 8 and `START_TEST`'s 2. The backlog (README) holds the 16
//! rows and 15 assertions the model cannot express: process handles, zero bits, page
//! protections other than `PAGE_NOACCESS` / `PAGE_READONLY` / `PAGE_READWRITE`,
//! `MEM_TOP_DOWN` and `MEM_PHYSICAL`, the in/out `RegionSize` and `BaseAddress` the
//! model's calls do not write back, and what only x86's 2 GiB user space makes fail.
//! `SystemProcessTest` asserts nothing of its own (its worker runs the helpers'
//! checks in the System process, which the model has no user space for).

use mdlsim::addr::{MM_SYSTEM_RANGE_START, PAGE_SIZE, Va};
use mdlsim::space::{Pid, Protection};
use mdlsim::status::NtStatus;
use mdlsim::vm::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE};
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Fault, Machine};

/// `MEM_PHYSICAL`, `MEM_RESET`, `MEM_TOP_DOWN` (winnt.h): types the model has no
/// behaviour for; every row using them that Windows refuses is refused here too.
const MEM_PHYSICAL: u32 = 0x0040_0000;
const MEM_RESET: u32 = 0x0008_0000;
const MEM_TOP_DOWN: u32 = 0x0010_0000;
/// The source's `DEFAULT_ALLOC_SIZE` and `TestStringSize`.
const DEFAULT_ALLOC_SIZE: u64 = 200;
const RW: Protection = Protection::ReadWrite;

/// The kmtest process, current, on the Windows the test describes.
fn kmtest() -> (Machine, Pid) {
    let mut m = Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap();
    let pid = m.create_process("kmtest").unwrap();
    m.switch_to(Some(pid)).unwrap();
    (m, pid)
}

/// A 200-byte pattern standing for `TestString`.
fn test_string() -> Vec<u8> {
    (0..DEFAULT_ALLOC_SIZE)
        .map(|i| b'a' + (i % 26) as u8)
        .collect()
}

/// A call's status as the test reads it.
fn status<T>(r: mdlsim::Result<T>) -> NtStatus {
    match r {
        Ok(_) => NtStatus::SUCCESS,
        Err(Fault::Status(s)) => s,
        Err(other) => panic!("expected a status, got {other:?}"),
    }
}

/// `KmtStartSeh` … `KmtEndSeh`: what `f` raised inside `__try`, or success.
fn seh<T>(
    m: &mut Machine,
    f: impl FnOnce(&mut mdlsim::Kernel<'_>) -> mdlsim::Result<T>,
) -> (NtStatus, Option<T>) {
    match m.kernel().try_except(f).unwrap() {
        Ok(v) => (NtStatus::SUCCESS, Some(v)),
        Err(code) => (code, None),
    }
}

/// `CheckBuffer`: every byte of `[base, base + len)` is `value` (a plain read, no SEH).
fn check_buffer(m: &mut Machine, base: Va, len: u64, value: u8) -> bool {
    m.kernel_read(base, len)
        .unwrap()
        .iter()
        .all(|&b| b == value)
}

/// `CheckBufferRead`: `RtlCompareMemory` inside SEH raises `expected` (its `KmtEndSeh`);
/// returns the bytes that matched.
fn check_buffer_read(m: &mut Machine, source: &[u8], dest: Va, expected: NtStatus) -> u64 {
    let (raised, bytes) = seh(m, |k| k.kernel_read(dest, source.len() as u64));
    assert_eq!(raised, expected, "CheckBufferRead at {dest}");
    let bytes = bytes.unwrap_or_default();
    source
        .iter()
        .zip(&bytes)
        .take_while(|(a, b)| a == b)
        .count() as u64
}

/// `CheckBufferReadWrite`: `RtlCopyMemory` into `dest` inside SEH raises `expected` (its
/// `KmtEndSeh`), then `CheckBufferRead`; on success every byte compares equal.
fn check_buffer_read_write(m: &mut Machine, dest: Va, source: &[u8], expected: NtStatus) {
    let (raised, _) = seh(m, |k| k.kernel_write(dest, source));
    assert_eq!(raised, expected, "CheckBufferReadWrite's copy to {dest}");
    let matched = check_buffer_read(m, source, dest, expected);
    if expected == NtStatus::SUCCESS {
        assert_eq!(matched, source.len() as u64, "RtlCompareMemory");
    }
}

/// `Test_NtQueryVirtualMemory(base, size, state, protect)`: `Protect`, `State` and
/// `RegionSize` of the region at `base`.
fn query(m: &Machine, pid: Pid, base: Va, size: u64, state: u32, protect: Option<Protection>) {
    let info = m.zw_query_virtual_memory(pid, base).unwrap();
    assert_eq!(info.protect, protect, "Protect at {base}");
    assert_eq!(info.state, state, "State at {base}");
    assert_eq!(info.region_size, size, "RegionSize at {base}");
}

/// One `ALLOC_MEMORY_WITH_FREE` row: its base (`None` for NULL), region size, allocation
/// type and protection, and the two statuses it expects.
struct Row {
    what: &'static str,
    base: Option<Va>,
    size: u64,
    alloc_type: u32,
    protect: Protection,
    alloc: NtStatus,
    free: NtStatus,
}

/// `ALLOC_MEMORY_WITH_FREE` with the current process and no zero bits: the allocation's
/// status; a base given comes back unchanged; then `MEM_RELEASE` with size 0 at the base
/// (the one written back on success) and its status.
fn alloc_with_free(m: &mut Machine, pid: Pid, row: &Row) {
    let r = m.virtual_alloc(pid, row.base, row.size, row.alloc_type, row.protect);
    let base = match &r {
        Ok(va) => *va,
        Err(_) => row.base.unwrap_or(Va::NULL),
    };
    assert_eq!(
        status(r),
        row.alloc,
        "{}: NtAllocateVirtualMemory",
        row.what
    );
    if let Some(b) = row.base {
        assert_eq!(base, b, "{}: BaseAddress", row.what);
    }
    let freed = m.virtual_free(pid, base, 0, MEM_RELEASE);
    assert_eq!(status(freed), row.free, "{}: NtFreeVirtualMemory", row.what);
}

/// A row with the default size and `PAGE_READWRITE`.
fn row(what: &'static str, base: Option<Va>, alloc_type: u32, alloc: NtStatus) -> Row {
    let free = if alloc.is_success() {
        NtStatus::SUCCESS
    } else {
        NtStatus::MEMORY_NOT_ALLOCATED
    };
    Row {
        what,
        base,
        size: DEFAULT_ALLOC_SIZE,
        alloc_type,
        protect: RW,
        alloc,
        free,
    }
}

/// `SimpleErrorChecks`, handle tests, `NtCurrentProcess()`: reserve and commit 200 bytes,
/// `STATUS_SUCCESS`; the release succeeds.
#[test]
fn allocating_in_the_current_process_succeeds_and_releases() {
    let (mut m, pid) = kmtest();
    let r = row(
        "current process",
        None,
        MEM_COMMIT | MEM_RESERVE,
        NtStatus::SUCCESS,
    );
    alloc_with_free(&mut m, pid, &r);
}

/// `SimpleErrorChecks`, base address tests: `0x00567A20`, inside the process's own
/// private memory, conflicts and cannot be released there (`STATUS_FREE_VM_NOT_AT_BASE`);
/// `0x60000000` is allocated exactly there and released; 200 bytes into system space
/// is `STATUS_INVALID_PARAMETER_2` for both calls, and so is committing a page at the
/// driver's code (CORE-6814).
#[test]
fn base_address_rows() {
    let (mut m, pid) = kmtest();
    let occupied = Va::new(0x0056_0000);
    m.virtual_alloc(pid, Some(occupied), 0x1_0000, MEM_RESERVE, RW)
        .unwrap();
    let invalid_2 = NtStatus::INVALID_PARAMETER_2;
    let both = MEM_COMMIT | MEM_RESERVE;
    let rows = [
        Row {
            free: NtStatus::FREE_VM_NOT_AT_BASE,
            ..row(
                "0x00567A20",
                Some(Va::new(0x0056_7A20)),
                both,
                NtStatus::CONFLICTING_ADDRESSES,
            )
        },
        row(
            "0x60000000",
            Some(Va::new(0x6000_0000)),
            both,
            NtStatus::SUCCESS,
        ),
        Row {
            free: invalid_2,
            ..row(
                "MmSystemRangeStart + 200",
                MM_SYSTEM_RANGE_START.checked_add(200),
                both,
                invalid_2,
            )
        },
        Row {
            size: PAGE_SIZE,
            free: invalid_2,
            ..row(
                "the driver's code",
                Some(Va::new(0xFFFF_F880_0123_4560)),
                MEM_COMMIT,
                invalid_2,
            )
        },
    ];
    for r in &rows {
        alloc_with_free(&mut m, pid, r);
    }
    m.virtual_free(pid, occupied, 0, MEM_RELEASE).unwrap();
}

/// `SimpleErrorChecks`, region size tests: 200 bytes succeed; a size of -1 and of 0 are
/// `STATUS_INVALID_PARAMETER_4`, and nothing is there to release
/// (`STATUS_MEMORY_NOT_ALLOCATED`).
#[test]
fn region_size_rows() {
    let (mut m, pid) = kmtest();
    let both = MEM_COMMIT | MEM_RESERVE;
    let invalid_4 = NtStatus::INVALID_PARAMETER_4;
    let rows = [
        row("200 bytes", None, both, NtStatus::SUCCESS),
        Row {
            size: u64::MAX,
            ..row("-1", None, both, invalid_4)
        },
        Row {
            size: 0,
            ..row("0", None, both, invalid_4)
        },
    ];
    for r in &rows {
        alloc_with_free(&mut m, pid, r);
    }
}

/// `SimpleErrorChecks`, allocation type tests: `MEM_COMMIT` alone (NULL base: reserve and
/// commit) and `MEM_RESERVE` alone succeed and release; `MEM_PHYSICAL` alone,
/// `MEM_COMMIT | MEM_RESET`, 0, `MEM_TOP_DOWN` alone, `MEM_TOP_DOWN | MEM_RESET`,
/// `MEM_PHYSICAL | MEM_COMMIT`, `MEM_RESET | MEM_COMMIT | MEM_RESERVE` and -1 are
/// `STATUS_INVALID_PARAMETER_5`, with nothing to release.
#[test]
fn allocation_type_rows() {
    let (mut m, pid) = kmtest();
    let invalid_5 = NtStatus::INVALID_PARAMETER_5;
    let rows = [
        row("MEM_PHYSICAL", None, MEM_PHYSICAL, invalid_5),
        row(
            "MEM_COMMIT | MEM_RESET",
            None,
            MEM_COMMIT | MEM_RESET,
            invalid_5,
        ),
        row("0", None, 0, invalid_5),
        row("MEM_TOP_DOWN", None, MEM_TOP_DOWN, invalid_5),
        row(
            "MEM_TOP_DOWN | MEM_RESET",
            None,
            MEM_TOP_DOWN | MEM_RESET,
            invalid_5,
        ),
        row(
            "MEM_PHYSICAL | MEM_COMMIT",
            None,
            MEM_PHYSICAL | MEM_COMMIT,
            invalid_5,
        ),
        row(
            "MEM_RESET | MEM_COMMIT | MEM_RESERVE",
            None,
            MEM_RESET | MEM_COMMIT | MEM_RESERVE,
            invalid_5,
        ),
        row("-1", None, u32::MAX, invalid_5),
        row("MEM_COMMIT", None, MEM_COMMIT, NtStatus::SUCCESS),
        row("MEM_RESERVE", None, MEM_RESERVE, NtStatus::SUCCESS),
    ];
    for r in &rows {
        alloc_with_free(&mut m, pid, r);
    }
}

/// `SimpleAllocation`, normal operation: `MEM_COMMIT` alone with a NULL base gives
/// zero-filled memory ("The buffer is not zero-filled"), which the driver can write and
/// read back (`CheckBufferReadWrite`: no exception either way, every byte equal); the
/// release succeeds.
#[test]
fn committed_memory_is_zero_filled_and_read_write() {
    let (mut m, pid) = kmtest();
    let base = m
        .virtual_alloc(pid, None, DEFAULT_ALLOC_SIZE, MEM_COMMIT, RW)
        .unwrap();
    assert!(check_buffer(&mut m, base, PAGE_SIZE, 0), "zero-filled");
    check_buffer_read_write(&mut m, base, &test_string(), NtStatus::SUCCESS);
    assert_eq!(
        status(m.virtual_free(pid, base, 0, MEM_RELEASE)),
        NtStatus::SUCCESS
    );
}

/// `SimpleAllocation`, reserve and then commit: the reserved page is `MEM_RESERVE` with
/// no protection over a page, and the driver's copy and compare raise
/// `STATUS_ACCESS_VIOLATION`; committed at the same base it is `MEM_COMMIT`,
/// `PAGE_READWRITE` over a page, and the copy reads back.
#[test]
fn reserved_then_committed_memory_changes_state() {
    let (mut m, pid) = kmtest();
    let s = test_string();
    let base = m
        .virtual_alloc(pid, None, DEFAULT_ALLOC_SIZE, MEM_RESERVE, RW)
        .unwrap();
    query(&m, pid, base, PAGE_SIZE, MEM_RESERVE, None);
    check_buffer_read_write(&mut m, base, &s, NtStatus::ACCESS_VIOLATION);
    let committed = m
        .virtual_alloc(pid, Some(base), PAGE_SIZE, MEM_COMMIT, RW)
        .unwrap();
    assert_eq!(committed, base);
    check_buffer_read_write(&mut m, base, &s, NtStatus::SUCCESS);
    query(&m, pid, base, PAGE_SIZE, MEM_COMMIT, Some(RW));
    m.virtual_free(pid, base, 0, MEM_RELEASE).unwrap();
}

/// `SimpleAllocation`, invalid protection pages: committed `PAGE_NOACCESS`, the copy
/// raises `STATUS_ACCESS_VIOLATION`, the page is `MEM_COMMIT`, `PAGE_NOACCESS`, and the
/// compare raises too. Released, and committed again at the same base `PAGE_READONLY`:
/// the copy raises, the page is `MEM_COMMIT`, `PAGE_READONLY`, and it reads as zeros
/// ("Couldn't read a read-only buffer").
#[test]
fn no_access_and_read_only_pages_refuse_the_driver() {
    let (mut m, pid) = kmtest();
    let s = test_string();
    let both = MEM_COMMIT | MEM_RESERVE;
    let no_access = Protection::NoAccess;
    let base = m
        .virtual_alloc(pid, None, DEFAULT_ALLOC_SIZE, both, no_access)
        .unwrap();
    let (raised, _) = seh(&mut m, |k| k.kernel_write(base, &s));
    assert_eq!(raised, NtStatus::ACCESS_VIOLATION);
    query(&m, pid, base, PAGE_SIZE, MEM_COMMIT, Some(no_access));
    check_buffer_read(&mut m, &s, base, NtStatus::ACCESS_VIOLATION);
    m.virtual_free(pid, base, 0, MEM_RELEASE).unwrap();

    let read_only = Protection::ReadOnly;
    let again = m
        .virtual_alloc(pid, Some(base), PAGE_SIZE, both, read_only)
        .unwrap();
    assert_eq!(again, base);
    let (raised, _) = seh(&mut m, |k| k.kernel_write(base, &s));
    assert_eq!(raised, NtStatus::ACCESS_VIOLATION);
    query(&m, pid, base, PAGE_SIZE, MEM_COMMIT, Some(read_only));
    assert!(
        check_buffer(&mut m, base, DEFAULT_ALLOC_SIZE, 0),
        "read-only"
    );
    m.virtual_free(pid, base, 0, MEM_RELEASE).unwrap();
}

/// `CustomBaseAllocation`: 200 bytes reserved and committed at `0x60025000` succeed; the
/// base comes back rounded down to the 64 KiB granularity, `0x60020000`; the region from
/// there to the end of the last page asked for (six pages) is `MEM_COMMIT`,
/// `PAGE_READWRITE`; releasing it at that base succeeds.
#[test]
fn a_custom_base_rounds_down_to_the_allocation_granularity() {
    let (mut m, pid) = kmtest();
    let asked = Va::new(0x6002_5000);
    let start = Va::new(0x6002_0000);
    let end = (asked.raw() + DEFAULT_ALLOC_SIZE - 1) | (PAGE_SIZE - 1);
    let size = (end - start.raw()).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let r = m.virtual_alloc(
        pid,
        Some(asked),
        DEFAULT_ALLOC_SIZE,
        MEM_COMMIT | MEM_RESERVE,
        RW,
    );
    let base = r.clone().unwrap_or(Va::NULL);
    assert_eq!(status(r), NtStatus::SUCCESS);
    assert_eq!(base, start, "BaseAddress");
    query(&m, pid, start, size, MEM_COMMIT, Some(RW));
    assert_eq!(
        status(m.virtual_free(pid, base, 0, MEM_RELEASE)),
        NtStatus::SUCCESS
    );
}

/// `StressTesting(type)`: 5 MiB regions of `type` with a NULL base, 1,024 at most; every
/// tenth, the driver's copy and compare raise `STATUS_ACCESS_VIOLATION` for reserved
/// memory and read back for committed memory (`CheckBufferReadWrite`). Then each region
/// is released. (Whether the loop ends at 1,024 or earlier is the backlog: on x86's
/// 2 GiB user space it ends with `STATUS_NO_MEMORY`; the model's amd64 space holds all.)
fn stress(m: &mut Machine, pid: Pid, alloc_type: u32) {
    let s = test_string();
    let expected = if alloc_type == MEM_COMMIT {
        NtStatus::SUCCESS
    } else {
        NtStatus::ACCESS_VIOLATION
    };
    let mut bases = Vec::new();
    for index in 0..1024 {
        let Ok(base) = m.virtual_alloc(pid, None, 5 << 20, alloc_type, RW) else {
            break;
        };
        bases.push(base);
        if index % 10 == 0 {
            check_buffer_read_write(m, base, &s, expected);
        }
    }
    for base in bases {
        m.virtual_free(pid, base, 0, MEM_RELEASE).unwrap();
    }
}

/// `StressTesting(MEM_RESERVE)` then `StressTesting(MEM_COMMIT)`, as `START_TEST` runs
/// them: every tenth reserved region refuses the driver, every tenth committed one
/// reads back.
#[test]
fn stress_testing_reserved_then_committed_regions() {
    let (mut m, pid) = kmtest();
    stress(&mut m, pid, MEM_RESERVE);
    stress(&mut m, pid, MEM_COMMIT);
    assert!(m.crashed().is_none());
}
