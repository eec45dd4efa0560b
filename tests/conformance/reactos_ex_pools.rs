//! ReactOS, `modules/rostests/kmtests/ntos_ex/ExPools.c`, test `ExPools`: `PoolsTest`,
//! `TestPoolTags` and `TestQueryPoolBlockSize` (its allocations; `TestPoolQuota` and
//! the rest of `TestQueryPoolBlockSize` are the backlog, README).
//!
//! The model is amd64: a `POOL_HEADER` is 16 bytes with the tag at offset 4, and kmtest's
//! `KmtGetPoolTag` reads it there — or gives `'TooL'` for a page-aligned address, whose
//! header is not in front of it. A C multi-character tag such as `'MyTa'` has its first
//! letter highest, so in memory it reads `aTyM` (`tag(b"aTyM")`). The test describes
//! Windows Server 2003 (NT 5.2), which ReactOS targets, so the machine is configured as
//! Server 2003. Where blocks end and whole pages begin (`PAGE_SIZE - 4 * sizeof(PVOID)`,
//! 4,064 bytes, and no more) the test checks with no version test, and no Microsoft page
//! gives Windows 10/11 another bound.
//!
//! Counted as in the README, the file holds 35 assertions: `TestPoolTags`' 5,
//! `TestPoolQuota`'s 17 (three of them x86 only) and `TestQueryPoolBlockSize`'s 13;
//! `PoolsTest` has none (its two are commented out; it is translated as the run it is) and
//! neither has `TestBigPoolExpansion` (not translated: its one `ASSERT` checks its own
//! array of blocks, nothing of the kernel's). 9 are
//! translated; 26 need `ExAllocatePoolWithQuotaTag` (process quota), the process
//! object's reference count or `ExQueryPoolBlockSize`, none of which the model has.

use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::pool::{PoolType, tag};
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Machine};

/// `'tstP'`, `'MyTa'`, `'TooL'` and `'tQbK'`, as they read in memory.
const TAG_POOLTEST: u32 = tag(b"Ptst");
const MY_TA: u32 = tag(b"aTyM");
const TOO_L: u32 = tag(b"LooT");
const QB: u32 = tag(b"KbQt");
/// `sizeof(PVOID)` on amd64.
const PVOID: u64 = 8;

/// The Windows the test describes.
fn machine() -> Machine {
    Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap()
}

/// kmtest's `KmtGetPoolTag`: `'TooL'` for a page-aligned block, else the tag of the
/// `POOL_HEADER` in front of it (the driver reads the header itself).
fn kmt_get_pool_tag(m: &mut Machine, block: Va) -> u32 {
    if block.is_page_aligned() {
        return TOO_L;
    }
    let header = m.kernel_read(Va::new(block.raw() - 16), 16).unwrap();
    u32::from_le_bytes(header[4..8].try_into().unwrap())
}

/// `PoolsTest`'s size rule: `i * step`, plus one unless `i` is a multiple of 10, plus 13
/// unless it is a multiple of 25.
fn irregular(i: u64, step: u64) -> u64 {
    i * step + u64::from(i % 10 != 0) + 13 * u64::from(i % 25 != 0)
}

/// `PoolsTest`, which asserts nothing itself: 9,999 growing, irregular sizes (to about
/// 100 KB) of non-paged pool, then of paged pool (to about 500 KB), each allocated,
/// filled with 0xAB and freed, stopping at the first NULL; then a paged array and
/// 100,000 blocks of 42 bytes of non-paged pool, all freed. The kernel runs it without a
/// bug check; here every size is also allocated (the default pool holds each) and
/// nothing is left.
#[test]
fn pools_test_allocates_fills_and_frees_without_a_bug_check() {
    let mut m = machine();
    for (pool_type, step) in [(PoolType::NonPaged, 10), (PoolType::Paged, 50)] {
        for i in 1..10_000 {
            let size = irregular(i, step);
            let block = m
                .ex_allocate_pool_with_tag(pool_type, size, TAG_POOLTEST)
                .unwrap()
                .unwrap_or_else(|| panic!("{pool_type:?}: {size} bytes"));
            m.kernel_write(block, &vec![0xAB; size as usize]).unwrap();
            m.ex_free_pool_with_tag(block, TAG_POOLTEST).unwrap();
        }
    }
    let count = 100_000;
    let array = m
        .ex_allocate_pool_with_tag(PoolType::Paged, 8 * count, TAG_POOLTEST)
        .unwrap()
        .unwrap();
    let blocks: Vec<Va> = (0..count)
        .map(|_| {
            m.ex_allocate_pool_with_tag(PoolType::NonPaged, 42, TAG_POOLTEST)
                .unwrap()
                .unwrap()
        })
        .collect();
    for block in blocks {
        m.ex_free_pool_with_tag(block, TAG_POOLTEST).unwrap();
    }
    m.ex_free_pool_with_tag(array, TAG_POOLTEST).unwrap();
    assert!(m.crashed().is_none());
    assert_eq!(m.pool_allocations().count(), 0);
    assert_eq!(m.pool_pages_in_use(), 0);
}

/// `TestPoolTags`: paged blocks of 8 bytes and of `PAGE_SIZE - 4 * sizeof(PVOID)` (4,064)
/// carry their tag `'MyTa'` in the header before them; `PAGE_SIZE`, `PAGE_SIZE - 3 *
/// sizeof(PVOID)` and one byte more than 4,064 are whole pages (`'TooL'`). Each is freed
/// with its tag.
#[test]
fn small_blocks_carry_their_tag_and_larger_ones_are_whole_pages() {
    let mut m = machine();
    for (size, expected) in [
        (8, MY_TA),
        (PAGE_SIZE, TOO_L),
        (PAGE_SIZE - 3 * PVOID, TOO_L),
        (PAGE_SIZE - 4 * PVOID + 1, TOO_L),
        (PAGE_SIZE - 4 * PVOID, MY_TA),
    ] {
        let block = m
            .ex_allocate_pool_with_tag(PoolType::Paged, size, MY_TA)
            .unwrap()
            .unwrap();
        let found = kmt_get_pool_tag(&mut m, block);
        assert_eq!(found, expected, "the tag of a {size}-byte block");
        m.ex_free_pool_with_tag(block, MY_TA).unwrap();
    }
    assert_eq!(m.pool_allocations().count(), 0);
}

/// `TestQueryPoolBlockSize`, the allocations it checks without quota or
/// `ExQueryPoolBlockSize`: 8 bytes of non-paged pool succeed; `PAGE_SIZE` succeeds and is
/// page-aligned; `PAGE_SIZE + 1` succeeds. Each is freed with its tag.
#[test]
fn query_pool_block_size_allocations_succeed_and_a_page_is_page_aligned() {
    let mut m = machine();
    for size in [8, PAGE_SIZE, PAGE_SIZE + 1] {
        let block = m
            .ex_allocate_pool_with_tag(PoolType::NonPaged, size, QB)
            .unwrap();
        assert!(
            block.is_some(),
            "ExAllocatePoolWithTag({size}) returned NULL"
        );
        let block = block.unwrap();
        if size == PAGE_SIZE {
            assert!(block.is_page_aligned(), "{block} is not page-aligned");
        }
        m.ex_free_pool_with_tag(block, QB).unwrap();
    }
    assert_eq!(m.pool_allocations().count(), 0);
}
