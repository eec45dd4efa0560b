//! Non-paged pool: `ExAllocatePoolWithTag`, `ExAllocatePool2`, `ExFreePoolWithTag`,
//! `ExFreePool` (docs/design.md#shadow-memory; semantics §2 for locked pool pages).

mod common;

use common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::mdl::{AccessMode, LockOperation};
use mdlsim::pfn::{FrameOwner, PageState};
use mdlsim::pool::{
    POOL_BLOCK_MAX, POOL_FLAG_NON_PAGED, POOL_FLAG_UNINITIALIZED, POOL_HEADER_SIZE, PoolType, tag,
};
use mdlsim::shadow::Label;
use mdlsim::space::{PteKind, SpaceId};
use mdlsim::vm::MEM_RELEASE;
use mdlsim::{Config, Machine};

const NP: PoolType = PoolType::NonPaged;

/// ExAllocatePoolWithTag is not zeroed: a whole-page block holds the stale bytes and
/// provenance of the frame's previous owner (a process page freed just before).
#[test]
fn pool_with_tag_holds_the_previous_owners_bytes() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"password=hunter2").unwrap();
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    let p = m
        .ex_allocate_pool_with_tag(NP, 0x1000, tag(b"Leak"))
        .unwrap()
        .unwrap();
    assert!(p.is_page_aligned());
    assert_eq!(m.kernel_read(p, 16).unwrap(), b"password=hunter2");
    assert_eq!(
        m.labels(SpaceId::System, p, 1).unwrap()[0].label,
        Label::Origin {
            space: SpaceId::Process(app),
            va: buf
        }
    );
    m.ex_free_pool_with_tag(p, tag(b"Leak")).unwrap();
    assert_audit_clean(&m);
}

/// ExAllocatePool2 zeroes (labels Zero) unless POOL_FLAG_UNINITIALIZED.
#[test]
fn pool2_zeroes_unless_uninitialized() {
    let mut m = machine();
    let a = m.ex_allocate_pool_with_tag(NP, 0x2000, 1).unwrap().unwrap();
    m.kernel_write(a, &[0xEE; 0x2000]).unwrap();
    m.ex_free_pool_with_tag(a, 1).unwrap();
    let z = m
        .ex_allocate_pool2(POOL_FLAG_NON_PAGED, 0x2000, 2)
        .unwrap()
        .unwrap();
    assert!(m.kernel_read(z, 0x2000).unwrap().iter().all(|b| *b == 0));
    assert!(
        m.labels(SpaceId::System, z, 0x2000)
            .unwrap()
            .iter()
            .all(|s| s.label == Label::Zero)
    );
    m.kernel_write(z, &[0xDD; 0x2000]).unwrap();
    m.ex_free_pool_with_tag(z, 2).unwrap();
    let u = m
        .ex_allocate_pool2(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 0x2000, 3)
        .unwrap()
        .unwrap();
    assert_eq!(m.kernel_read(u, 1).unwrap(), vec![0xDD]);
    // Small blocks too: a block freed and reallocated keeps its bytes without Pool2.
    let s = m.ex_allocate_pool_with_tag(NP, 64, 4).unwrap().unwrap();
    m.kernel_write(s, b"small secret").unwrap();
    m.ex_free_pool_with_tag(s, 4).unwrap();
    let s2 = m.ex_allocate_pool_with_tag(NP, 64, 5).unwrap().unwrap();
    let s3 = m
        .ex_allocate_pool2(POOL_FLAG_NON_PAGED, 64, 6)
        .unwrap()
        .unwrap();
    assert_eq!(s2, s, "first fit reuses the freed block");
    assert_eq!(m.kernel_read(s2, 12).unwrap(), b"small secret");
    assert_eq!(m.kernel_read(s3, 64).unwrap(), vec![0; 64]);
    assert_audit_clean(&m);
}

/// Allocations above POOL_BLOCK_MAX (PAGE_SIZE - 32) are whole, page-aligned pages mapped by Pool PTEs over
/// frames owned by the pool; small ones share a page after a 16-byte header holding the tag.
/// Without Verifier (whose 0xC4/0x00 stops a zero-byte request), a zero-byte request gets
/// a minimal block.
#[test]
fn pool_layout_whole_pages_and_headed_blocks() {
    let mut m = Machine::new(Config::default().verifier(mdlsim::verifier::Verifier::OFF)).unwrap();
    let big = m
        .ex_allocate_pool_with_tag(NP, POOL_BLOCK_MAX + 1, tag(b"Big "))
        .unwrap()
        .unwrap();
    assert!(big.is_page_aligned());
    let pte = m.pte(SpaceId::System, big).unwrap();
    assert_eq!(pte.kind, PteKind::Pool);
    assert_eq!(m.pfn_entry(pte.pfn).unwrap().owner, FrameOwner::Pool);
    assert_eq!(m.pool_pages_in_use(), 1);
    let a = m
        .ex_allocate_pool_with_tag(NP, 100, tag(b"Aaaa"))
        .unwrap()
        .unwrap();
    let b = m
        .ex_allocate_pool_with_tag(NP, 100, tag(b"Bbbb"))
        .unwrap()
        .unwrap();
    assert_eq!(a.page_align(), b.page_align());
    assert_eq!(a.byte_offset() as u64, POOL_HEADER_SIZE);
    assert_eq!(
        &m.peek(SpaceId::System, Va::new(b.raw() - 16), 16).unwrap()[4..8],
        b"Bbbb"
    );
    let z = m
        .ex_allocate_pool_with_tag(NP, 0, tag(b"Zero"))
        .unwrap()
        .unwrap();
    assert_eq!(
        z.page_align(),
        a.page_align(),
        "a zero-byte request gets a minimal block"
    );
    assert_eq!(m.pool_allocations_with_tag(tag(b"Aaaa")).count(), 1);
    assert_eq!(m.pool_allocations().count(), 4);
    assert_eq!(m.pool_pages_in_use(), 2);
    for (va, t) in [(a, b"Aaaa"), (b, b"Bbbb"), (z, b"Zero"), (big, b"Big ")] {
        m.ex_free_pool_with_tag(va, tag(t)).unwrap();
    }
    assert_eq!(m.pool_pages_in_use(), 0);
    assert_eq!(m.pool_allocations().count(), 0);
    assert_eq!(m.frames_in_use(), 0);
    assert_audit_clean(&m);
}

/// ExFreePoolWithTag with the wrong tag is BAD_POOL_CALLER (0xC2) P1 0x0A (P2 address,
/// P3 the allocation's tag, P4 the tag given).
#[test]
fn free_with_wrong_tag_is_bad_pool_caller_0a() {
    let mut m = machine();
    let p = m
        .ex_allocate_pool_with_tag(NP, 32, tag(b"Good"))
        .unwrap()
        .unwrap();
    let r = m.ex_free_pool_with_tag(p, tag(b"Evil"));
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::BAD_POOL_CALLER,
        [0x0A, p.raw(), tag(b"Good") as u64, tag(b"Evil") as u64],
    );
    assert_audit_clean(&m);
}

/// Without Verifier (whose 0xC4/0x13 and 0x10 come first: tests/conformance), a double
/// free is 0xC2 P1 0x07 (P4 the address); a wild address is 0xC2 P1 0x46; ExFreePool
/// skips the tag check.
#[test]
fn double_free_and_wild_free() {
    let mut m = Machine::new(Config::default().verifier(mdlsim::verifier::Verifier::OFF)).unwrap();
    let p = m.ex_allocate_pool_with_tag(NP, 0x2000, 1).unwrap().unwrap();
    m.ex_free_pool(p).unwrap();
    let mut w = m.clone();
    let r = m.ex_free_pool_with_tag(p, 1);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::BAD_POOL_CALLER,
        [0x07, 0, 0, p.raw()],
    );
    for wild in [Va::new(u64::MAX), Va::NULL, Va::new(0x10000)] {
        let mut x = w.clone();
        let r = x.ex_free_pool(wild);
        expect_bug_check(
            &mut x,
            r,
            BugCheckCode::BAD_POOL_CALLER,
            [0x46, wild.raw(), 0, 0],
        );
    }
    let r = w.ex_free_pool(at(p, 0x10));
    expect_bug_check(
        &mut w,
        r,
        BugCheckCode::BAD_POOL_CALLER,
        [0x46, p.raw() + 0x10, 0, 0],
    );
}

/// The pool limit and physical exhaustion are NULL returns (no panic, nothing leaked).
#[test]
fn pool_exhaustion_returns_null() {
    let mut m = Machine::new(
        Config::default()
            .pool_limit(4 * PAGE_SIZE)
            .physical_memory(4 * PAGE_SIZE), // frame 0 reserved: three to hand out
    )
    .unwrap();
    assert_eq!(
        m.ex_allocate_pool_with_tag(NP, 5 * PAGE_SIZE, 1).unwrap(),
        None
    );
    assert_eq!(m.ex_allocate_pool_with_tag(NP, u64::MAX, 1).unwrap(), None);
    assert_eq!(
        m.ex_allocate_pool2(POOL_FLAG_NON_PAGED, u64::MAX, 1)
            .unwrap(),
        None
    );
    // 4 pages fit the limit but only 3 frames exist.
    assert_eq!(
        m.ex_allocate_pool_with_tag(NP, 4 * PAGE_SIZE, 1).unwrap(),
        None
    );
    assert_eq!(m.frames_in_use(), 0);
    assert_eq!(m.pool_pages_in_use(), 0);
    let p = m
        .ex_allocate_pool_with_tag(NP, 3 * PAGE_SIZE, 1)
        .unwrap()
        .unwrap();
    assert_eq!(m.ex_allocate_pool_with_tag(NP, 8, 1).unwrap(), None);
    m.ex_free_pool_with_tag(p, 1).unwrap();
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Invariant 12 for pool: a pool page freed while locked (KernelMode probe) stays in Transition,
/// is not handed to the next allocation, and is freed at unlock.
#[test]
fn locked_pool_page_survives_its_free() {
    let mut m = machine();
    let p = m.ex_allocate_pool_with_tag(NP, 0x1000, 1).unwrap().unwrap();
    let f = m.translate(SpaceId::System, p).unwrap();
    let mdl = new_mdl(&mut m, p, 0x1000);
    m.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, LockOperation::IoWriteAccess)
        .unwrap();
    m.ex_free_pool_with_tag(p, 1).unwrap();
    assert_eq!(counts(&m, f), (1, 0));
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Transition);
    let q = m.ex_allocate_pool_with_tag(NP, 0x1000, 2).unwrap().unwrap();
    assert_ne!(m.translate(SpaceId::System, q), Some(f));
    assert_audit_clean(&m);
    m.mm_unlock_pages(mdl).unwrap();
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Free);
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(q, 2).unwrap();
    assert_audit_clean(&m);
}

/// After pool is freed its VA is invalid: a kernel read there is 0x50.
#[test]
fn reading_freed_pool_is_page_fault() {
    let mut m = machine();
    let p = m.ex_allocate_pool_with_tag(NP, 0x1000, 1).unwrap().unwrap();
    m.ex_free_pool_with_tag(p, 1).unwrap();
    let r = m.kernel_read(p, 1);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [p.raw(), 0, 0, 0],
    );
}

/// Regression (found by the randomized audit run on a 6-frame machine): a multi-page pool
/// allocation that runs out of frames part-way returns NULL and undoes exactly what it did —
/// previously it uncharged pages it had never charged (pool accounting broken) and released
/// its VA range twice (the second release refused, leaking the rest of the range).
#[test]
fn pool_allocation_failing_part_way_undoes_exactly_its_work() {
    // Seven frames, frame 0 reserved: six to hand out.
    let mut m = Machine::new(Config::default().physical_memory(7 * PAGE_SIZE)).unwrap();
    let keep = m
        .ex_allocate_pool_with_tag(NP, PAGE_SIZE, 1)
        .unwrap()
        .unwrap();
    assert_eq!(
        m.ex_allocate_pool_with_tag(NP, 10 * PAGE_SIZE, 2).unwrap(),
        None
    );
    assert_eq!(m.pool_pages_in_use(), 1);
    assert_eq!(m.frames_in_use(), 1);
    assert_audit_clean(&m);
    // The VA range was not leaked: the remaining five frames still make one 5-page block,
    // placed right after the first page.
    let five = m
        .ex_allocate_pool_with_tag(NP, 5 * PAGE_SIZE, 3)
        .unwrap()
        .unwrap();
    assert_eq!(five, at(keep, PAGE_SIZE));
    assert_audit_clean(&m);
    m.ex_free_pool_with_tag(five, 3).unwrap();
    m.ex_free_pool_with_tag(keep, 1).unwrap();
    assert_eq!(m.pool_pages_in_use(), 0);
    assert_audit_clean(&m);
}

/// Driver code touching pool outside its allocations (Microsoft, ExAllocatePoolWithTag
/// Remarks: only the bytes allocated): the event PoolAccessOutsideAllocation, class
/// OutOfBounds; inside the block, nothing.
#[test]
fn driver_code_touching_pool_past_its_block_is_recorded() {
    use mdlsim::events::EventKind;
    let mut m = machine();
    let a = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 20, tag(b"Test"))
        .unwrap()
        .unwrap();
    let big = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 5000, tag(b"Test"))
        .unwrap()
        .unwrap();
    let outside = |m: &mdlsim::Machine| {
        m.events()
            .iter()
            .filter(|e| e.kind == EventKind::PoolAccessOutsideAllocation)
            .count()
    };
    let mut k = m.kernel();
    k.kernel_write(a, &[1; 20]).unwrap();
    k.kernel_read(big, 5000).unwrap();
    assert_eq!(outside(&m), 0, "inside the blocks");
    let mut k = m.kernel();
    k.kernel_write(a, &[1; 21]).unwrap();
    assert_eq!(outside(&m), 1, "one byte past a small block");
    let mut k = m.kernel();
    k.kernel_read(big.wrapping_add(5000), 8).unwrap();
    assert_eq!(outside(&m), 2, "the rest of a whole-page block's last page");
    m.ex_free_pool_with_tag(a, tag(b"Test")).unwrap();
    let mut k = m.kernel();
    // Judged before it is made (the access itself may then fault on an unmapped page).
    let _ = k.kernel_read(a, 4);
    assert_eq!(outside(&m), 3, "a freed block");
    let e = m
        .events()
        .iter()
        .find(|e| e.kind == EventKind::PoolAccessOutsideAllocation)
        .unwrap();
    assert!(
        e.detail.contains("runs past the end of the block"),
        "{}",
        e.detail
    );
    assert_eq!(
        mdlsim::oracle::classify_event(e.kind),
        mdlsim::oracle::BugClass::OutOfBounds
    );
}
