//! Unit tests of physical memory: allocation, sharing, the host budget, labels.

use super::*;
use crate::addr::Va;

#[test]
fn frames_materialise_lazily() {
    let mut pm = PhysicalMemory::new(16 << 20, u64::MAX); // 64 GiB of frames
    assert_eq!(pm.touched(), 0);
    let a = pm.allocate(FrameOwner::Pool, false).unwrap();
    assert_eq!(pm.touched(), 1);
    assert_ne!(a.0, 0, "frame 0 is reserved");
    assert_eq!(pm.entry(a).unwrap().reference_count, 1);
}

#[test]
fn freed_frame_keeps_its_bytes_until_reused_without_zeroing() {
    let mut pm = PhysicalMemory::new(4, u64::MAX);
    let a = pm.allocate(FrameOwner::Process(Pid(1)), true).unwrap();
    pm.bytes_mut(a)[7] = 0xAA;
    pm.drop_share(a).unwrap();
    assert_eq!(pm.entry(a).unwrap().state, PageState::Free);
    let b = pm.allocate(FrameOwner::Pool, false).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        pm.bytes(b)[7],
        0xAA,
        "non-zeroing allocation sees stale data"
    );
}

#[test]
fn demand_zero_allocation_clears_a_reused_frame() {
    let mut pm = PhysicalMemory::new(4, u64::MAX);
    let a = pm.allocate(FrameOwner::Pool, false).unwrap();
    pm.bytes_mut(a)[7] = 0xAA;
    pm.drop_share(a).unwrap();
    let b = pm.allocate(FrameOwner::Process(Pid(2)), true).unwrap();
    assert_eq!(pm.bytes(b)[7], 0);
}

#[test]
fn locked_page_released_by_owner_stays_until_unlocked() {
    let mut pm = PhysicalMemory::new(4, u64::MAX);
    let a = pm.allocate(FrameOwner::Process(Pid(1)), true).unwrap();
    assert_eq!(pm.reference(a), Some(2)); // lock
    pm.drop_share(a).unwrap(); // VirtualFree
    let e = pm.entry(a).unwrap();
    assert_eq!(
        (e.state, e.reference_count, e.share_count),
        (PageState::Transition, 1, 0)
    );
    assert!(pm.free_list().is_empty(), "never handed to anyone else");
    pm.dereference(a).unwrap(); // unlock
    assert_eq!(pm.entry(a).unwrap().state, PageState::Free);
    assert_eq!(pm.free_list(), &[a]);
}

#[test]
fn dereference_below_share_is_pfn_list_corrupt() {
    let mut pm = PhysicalMemory::new(4, u64::MAX);
    let a = pm.allocate(FrameOwner::Process(Pid(1)), true).unwrap();
    assert_eq!(pm.dereference(a), Err((a, 1)));
}

#[test]
fn host_budget_refuses_a_fresh_frame_but_not_a_reused_one() {
    let two = 2 * (FRAME_HOST_BYTES + RUN_HOST_BYTES);
    let mut pm = PhysicalMemory::new(1 << 20, two);
    let a = pm.allocate(FrameOwner::Pool, false).unwrap();
    pm.allocate(FrameOwner::Pool, false).unwrap();
    assert_eq!(pm.host_bytes(), two);
    assert_eq!(
        pm.allocate(FrameOwner::Pool, true),
        Err(NoFrame::HostBudget)
    );
    // A freed frame is reused at no host cost.
    pm.drop_share(a).unwrap();
    assert!(pm.free_list().contains(&a));
    assert_eq!(pm.allocate(FrameOwner::Pool, true), Ok(a));
}

#[test]
fn fragmented_labels_count_against_the_host_budget() {
    let mut pm = PhysicalMemory::new(4, u64::MAX);
    let a = pm.allocate(FrameOwner::Pool, false).unwrap();
    let before = pm.host_bytes();
    for off in (0..PAGE_BYTES).step_by(2) {
        let label = crate::shadow::Label::Origin {
            space: crate::space::SpaceId::System,
            va: Va(0xFFFF_8000_0000_0000 + 7 * off as u64),
        };
        pm.set_labels(a, off, 1, label);
    }
    assert!(pm.labels(a).runs().len() >= PAGE_BYTES / 2);
    assert!(pm.host_bytes() >= before + (PAGE_BYTES as u64 / 2 - 1) * RUN_HOST_BYTES);
}

/// Bytes alternating between two origins: thousands of runs, two bases; held dense,
/// they cost the page's index (4 KiB) and two bases, not a run per byte.
#[test]
fn alternating_origins_are_held_dense_at_about_a_page() {
    let mut pm = PhysicalMemory::new(4, u64::MAX);
    let a = pm.allocate(FrameOwner::Pool, false).unwrap();
    let before = pm.host_bytes();
    let origin = |base: u64, off: usize| crate::shadow::Label::Origin {
        space: crate::space::SpaceId::System,
        va: Va(base + off as u64),
    };
    for off in 0..PAGE_BYTES {
        let base = if off % 2 == 0 {
            0xFFFF_8000_0000_0000
        } else {
            0xFFFF_9000_0000_0000
        };
        pm.set_labels(a, off, 1, origin(base, off));
    }
    assert_eq!(pm.labels(a).runs().len(), PAGE_BYTES);
    assert!(pm.labels(a).is_dense());
    let cost = pm.host_bytes() - before;
    assert!(
        cost <= PAGE_BYTES as u64 + 256,
        "dense labels cost {cost} bytes"
    );
    assert_eq!(pm.labels(a).label_at(5), origin(0xFFFF_9000_0000_0000, 5));
    // Zeroing the frame (a demand-zero reuse) returns it to one run.
    pm.drop_share(a).unwrap();
    assert_eq!(pm.allocate(FrameOwner::Pool, true), Ok(a));
    assert!(!pm.labels(a).is_dense());
    assert_eq!(pm.host_bytes(), before);
}

#[test]
fn exhaustion_returns_none() {
    let mut pm = PhysicalMemory::new(2, u64::MAX); // frame 0 is reserved
    assert!(pm.allocate(FrameOwner::Pool, false).is_ok());
    assert_eq!(
        pm.allocate(FrameOwner::Pool, false),
        Err(NoFrame::Exhausted)
    );
}
