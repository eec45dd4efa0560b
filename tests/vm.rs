//! Virtual memory: `virtual_alloc` / `virtual_free` / `virtual_protect`, user and kernel
//! reads, writes and copies, attach/detach, context switches (semantics §1.1, §2).

mod common;

use common::*;
use mdlsim::addr::{MM_HIGHEST_USER_ADDRESS, MM_LOWEST_USER_ADDRESS, PAGE_SIZE, Va};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::log::Actor;
use mdlsim::pfn::PageState;
use mdlsim::shadow::{Label, LabelSpan};
use mdlsim::space::{Protection, SpaceId};
use mdlsim::vm::{MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE};
use mdlsim::{Fault, ModelError, NtStatus};

const RW: Protection = Protection::ReadWrite;

/// Committed private memory is demand-zero: reads as zero, takes a frame on first touch only.
#[test]
fn committed_memory_is_demand_zero() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    assert_eq!(buf.raw() % 0x1_0000, 0, "64 KiB granularity");
    assert!(buf >= MM_LOWEST_USER_ADDRESS);
    assert_eq!(m.frames_in_use(), 0);
    assert_eq!(m.peek(SpaceId::Process(app), buf, 4), Some(vec![0; 4]));
    assert_eq!(m.user_read(app, at(buf, 0x2FFC), 4).unwrap(), vec![0; 4]);
    assert_eq!(m.frames_in_use(), 1);
    let f = m.translate(SpaceId::Process(app), page(buf, 2)).unwrap();
    assert_eq!(counts(&m, f), (1, 1));
    assert_eq!(m.pfn_entry(f).unwrap().state, PageState::Active);
    assert_audit_clean(&m);
}

/// MEM_RESERVE at an explicit base rounds it down to 64 KiB; MEM_COMMIT inside commits;
/// overlapping reservations conflict; commit outside any reservation is
/// STATUS_MEMORY_NOT_ALLOCATED.
#[test]
fn reserve_then_commit_and_conflicts() {
    let (mut m, app) = with_app();
    let r = m
        .virtual_alloc(app, Some(Va::new(0x20_1234)), 0x3000, MEM_RESERVE, RW)
        .unwrap();
    assert_eq!(r, Va::new(0x20_0000));
    expect_raise(m.user_read(app, r, 1), NtStatus::ACCESS_VIOLATION);
    assert_eq!(
        m.virtual_alloc(app, Some(at(r, 0x1000)), 0x10, MEM_COMMIT, RW)
            .unwrap(),
        at(r, 0x1000)
    );
    assert!(m.user_read(app, at(r, 0x1000), 1).is_ok());
    expect_raise(m.user_read(app, r, 1), NtStatus::ACCESS_VIOLATION);
    expect_status(
        m.virtual_alloc(app, Some(r), 0x1000, MEM_RESERVE, RW),
        NtStatus::CONFLICTING_ADDRESSES,
    );
    expect_status(
        m.virtual_alloc(app, Some(Va::new(0x90_0000)), 0x1000, MEM_COMMIT, RW),
        NtStatus::MEMORY_NOT_ALLOCATED,
    );
    // The reservation covers every page of [0x201234, 0x204234): five pages from 0x200000.
    assert!(
        m.virtual_alloc(app, Some(at(r, 0x2000)), 0x3000, MEM_COMMIT, RW)
            .is_ok()
    );
    expect_status(
        m.virtual_alloc(app, Some(at(r, 0x4000)), 0x2000, MEM_COMMIT, RW),
        NtStatus::CONFLICTING_ADDRESSES,
    );
    assert_audit_clean(&m);
}

/// Invalid VirtualAlloc arguments are returned statuses, never panics, each naming the
/// parameter at fault: the allocation type (0, unknown flags) `_5`, a base outside user
/// space `_2`, a size of 0 or running out of user space `_4`; a reservation below the
/// lowest user address `STATUS_INVALID_PARAMETER`; no room left `STATUS_NO_MEMORY`.
#[test]
fn virtual_alloc_rejects_bad_arguments() {
    let (mut m, app) = with_app();
    let ip = NtStatus::INVALID_PARAMETER;
    let (ip2, ip4, ip5) = (
        NtStatus::INVALID_PARAMETER_2,
        NtStatus::INVALID_PARAMETER_4,
        NtStatus::INVALID_PARAMETER_5,
    );
    expect_status(
        m.virtual_alloc(app, None, 0, MEM_COMMIT | MEM_RESERVE, RW),
        ip4,
    );
    expect_status(m.virtual_alloc(app, None, 0x1000, 0, RW), ip5);
    expect_status(m.virtual_alloc(app, None, 0x1000, MEM_RELEASE, RW), ip5);
    expect_status(m.virtual_alloc(app, None, 0, 0, RW), ip5);
    expect_status(
        m.virtual_alloc(app, Some(Va::new(0x1000)), 0x1000, MEM_RESERVE, RW),
        ip,
    );
    expect_status(
        m.virtual_alloc(app, Some(MM_HIGHEST_USER_ADDRESS), 0x2, MEM_RESERVE, RW),
        ip4,
    );
    expect_status(
        m.virtual_alloc(app, Some(Va::new(u64::MAX)), 1, MEM_RESERVE, RW),
        ip2,
    );
    expect_status(
        m.virtual_alloc(app, Some(Va::new(0x10000)), u64::MAX, MEM_RESERVE, RW),
        ip4,
    );
    expect_status(m.virtual_alloc(app, None, u64::MAX, MEM_RESERVE, RW), ip4);
    expect_status(m.virtual_alloc(app, None, 1 << 50, MEM_RESERVE, RW), ip4);
    // All of user space fits the size check but not the address space (its first 64 KiB
    // are never allocated).
    expect_status(
        m.virtual_alloc(
            app,
            None,
            MM_HIGHEST_USER_ADDRESS.raw() + 1,
            MEM_RESERVE,
            RW,
        ),
        NtStatus::NO_MEMORY,
    );
    expect_status(
        m.virtual_alloc(app, Some(Va::new(u64::MAX)), 1, MEM_COMMIT, RW),
        ip2,
    );
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// VirtualFree MEM_RELEASE frees the whole reservation and its frames (to the free list, bytes
/// kept); it must be given the base and size 0.
#[test]
fn virtual_free_release_returns_frames_to_the_free_list() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    m.user_write(app, buf, b"bytes stay").unwrap();
    let f = m.translate(SpaceId::Process(app), buf).unwrap();
    expect_status(
        m.virtual_free(app, at(buf, 0x1000), 0, MEM_RELEASE),
        NtStatus::FREE_VM_NOT_AT_BASE,
    );
    expect_status(
        m.virtual_free(app, buf, 0x1000, MEM_RELEASE),
        NtStatus::INVALID_PARAMETER,
    );
    expect_status(
        m.virtual_free(app, buf, 0, 0x1234),
        NtStatus::INVALID_PARAMETER,
    );
    expect_status(
        m.virtual_free(app, Va::new(u64::MAX), 0, MEM_RELEASE),
        NtStatus::INVALID_PARAMETER_2,
    );
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    let e = m.pfn_entry(f).unwrap();
    assert_eq!(
        (e.state, e.reference_count, e.share_count),
        (PageState::Free, 0, 0)
    );
    assert_eq!(&m.frame_bytes(f).unwrap()[..10], b"bytes stay");
    expect_raise(m.user_read(app, buf, 1), NtStatus::ACCESS_VIOLATION);
    expect_status(
        m.virtual_free(app, buf, 0, MEM_RELEASE),
        NtStatus::MEMORY_NOT_ALLOCATED,
    );
    assert_audit_clean(&m);
}

/// MEM_DECOMMIT decommits a sub-range (its frames freed, the reservation kept); size 0 means
/// to the end of the region; a range past the region is STATUS_INVALID_PARAMETER.
#[test]
fn virtual_free_decommit() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x4000);
    m.user_write(app, buf, &[1; 0x4000]).unwrap();
    m.virtual_free(app, at(buf, 0x1000), 0x1000, MEM_DECOMMIT)
        .unwrap();
    assert_eq!(m.frames_in_use(), 3);
    expect_raise(
        m.user_read(app, at(buf, 0x1000), 1),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_eq!(m.user_read(app, at(buf, 0x2000), 1).unwrap(), vec![1]);
    expect_status(
        m.virtual_free(app, at(buf, 0x3000), 0x2000, MEM_DECOMMIT),
        NtStatus::INVALID_PARAMETER,
    );
    expect_status(
        m.virtual_free(app, at(buf, 0x3000), u64::MAX, MEM_DECOMMIT),
        NtStatus::INVALID_PARAMETER,
    );
    m.virtual_free(app, at(buf, 0x2000), 0, MEM_DECOMMIT)
        .unwrap();
    assert_eq!(m.frames_in_use(), 1);
    // Recommitting gives demand-zero again.
    m.virtual_alloc(app, Some(at(buf, 0x1000)), 0x1000, MEM_COMMIT, RW)
        .unwrap();
    assert_eq!(m.user_read(app, at(buf, 0x1000), 1).unwrap(), vec![0]);
    assert_audit_clean(&m);
}

/// VirtualProtect returns the old protection, applies to present PTEs and future faults;
/// read-only pages reject writes, no-access pages reject reads; uncommitted pages are
/// STATUS_NOT_COMMITTED.
#[test]
fn virtual_protect_changes_access() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    m.user_write(app, buf, b"x").unwrap();
    assert_eq!(
        m.virtual_protect(app, buf, 0x2000, Protection::ReadOnly)
            .unwrap(),
        RW
    );
    assert_eq!(
        m.pte(SpaceId::Process(app), buf).unwrap().protection,
        Protection::ReadOnly
    );
    expect_raise(m.user_write(app, buf, b"y"), NtStatus::ACCESS_VIOLATION);
    expect_raise(
        m.user_write(app, at(buf, 0x1000), b"y"),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_eq!(m.user_read(app, buf, 1).unwrap(), b"x");
    assert_eq!(
        m.virtual_protect(app, buf, 1, Protection::NoAccess)
            .unwrap(),
        Protection::ReadOnly
    );
    expect_raise(m.user_read(app, buf, 1), NtStatus::ACCESS_VIOLATION);
    m.virtual_free(app, at(buf, 0x1000), 0x1000, MEM_DECOMMIT)
        .unwrap();
    expect_status(
        m.virtual_protect(app, at(buf, 0x1000), 1, RW),
        NtStatus::NOT_COMMITTED,
    );
    expect_status(
        m.virtual_protect(app, Va::new(u64::MAX), 1, RW),
        NtStatus::INVALID_PARAMETER,
    );
    expect_status(
        m.virtual_protect(app, Va::new(0x7000_0000), 1, RW),
        NtStatus::NOT_COMMITTED,
    );
    assert_audit_clean(&m);
}

/// User accesses fault exactly where Windows would: kernel addresses, non-canonical and
/// wrapping addresses, and a write that runs off the end of a buffer (earlier bytes stay).
#[test]
fn user_access_faults() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.switch_to(Some(app)).unwrap();
    let pool = nonpaged(&mut m, 16, 1);
    let av = NtStatus::ACCESS_VIOLATION;
    expect_raise(m.user_read(app, pool, 1), av);
    expect_raise(m.user_write(app, pool, b"x"), av);
    expect_raise(m.user_read(app, Va::new(0x8000_0000_0000_0000), 1), av);
    expect_raise(m.user_read(app, Va::new(u64::MAX), 2), av);
    expect_raise(m.user_read(app, Va::NULL, 1), av);
    expect_raise(m.user_write(app, at(buf, 0xFFE), b"abcd"), av);
    assert_eq!(m.user_read(app, at(buf, 0xFFE), 2).unwrap(), b"ab");
    assert!(m.crashed().is_none());
}

/// Regression: absurd lengths fault at the first bad page instead of allocating the length on
/// the host (previously `vec![0; len]` aborted for u64::MAX-sized reads and zeroes).
#[test]
fn huge_lengths_fault_without_host_allocation() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    let av = NtStatus::ACCESS_VIOLATION;
    expect_raise(m.user_read(app, buf, u64::MAX - buf.raw()), av);
    expect_raise(m.user_read(app, buf, 1 << 62), av);
    m.switch_to(Some(app)).unwrap();
    expect_raise(m.kernel_read(buf, 1 << 62), av);
    expect_raise(m.kernel_zero(buf, 1 << 62), av);
    expect_raise(m.kernel_read(buf, u64::MAX), av);
    expect_raise(m.user_copy(app, buf, buf, 1 << 62), av);
    assert_eq!(m.peek(SpaceId::Process(app), buf, 1 << 62), None);
    assert_eq!(m.labels(SpaceId::Process(app), buf, 1 << 62), None);
    assert_eq!(m.peek(SpaceId::Process(app), buf, u64::MAX), None);
    assert_eq!(
        m.kernel_read(buf, 0x1000).unwrap(),
        vec![0; 0x1000],
        "kernel_zero zeroed the valid page first"
    );
    assert!(m.crashed().is_none());
}

/// Kernel accesses: system VAs work in every context; user VAs resolve in the current process
/// (attach/detach); with no current process a user VA raises; an invalid system VA is
/// PAGE_FAULT_IN_NONPAGED_AREA (0x50) with P2 = 2 for a write (Windows 10/11 on x64).
#[test]
fn kernel_access_follows_the_current_context() {
    let (mut m, app) = with_app();
    let other = m.create_process("other").unwrap();
    let a = user_buf(&mut m, app, 0x1000);
    let b = user_buf(&mut m, other, 0x1000);
    assert_eq!(a, b, "same VA in two processes");
    m.user_write(app, a, b"A").unwrap();
    m.user_write(other, b, b"B").unwrap();
    let pool = nonpaged(&mut m, 16, 1);
    m.kernel_write(pool, b"P").unwrap();
    expect_raise(m.kernel_read(a, 1), NtStatus::ACCESS_VIOLATION);
    m.switch_to(Some(app)).unwrap();
    assert_eq!(m.kernel_read(a, 1).unwrap(), b"A");
    m.attach(other).unwrap();
    assert_eq!(m.current_process(), Some(other));
    assert_eq!(m.kernel_read(a, 1).unwrap(), b"B");
    assert_eq!(m.kernel_read(pool, 1).unwrap(), b"P");
    m.detach().unwrap();
    assert_eq!(m.kernel_read(a, 1).unwrap(), b"A");
    assert_eq!(
        m.detach().unwrap_err(),
        Fault::Model(ModelError::NotAttached)
    );
    expect_raise(
        m.kernel_read(Va::new(0x8000_0000_0000_0000), 1),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_audit_clean(&m);
    let bad = Va::new(0xFFFF_F000_0000_0000);
    let mut w = m.clone();
    let r = w.kernel_write(bad, b"x");
    expect_bug_check(
        &mut w,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [bad.raw(), 2, 0, 0],
    );
    // A range that would wrap past 2^64 raises; one ending exactly at the top does not wrap.
    expect_raise(
        m.kernel_read(Va::new(u64::MAX), 2),
        NtStatus::ACCESS_VIOLATION,
    );
    let mut top = m.clone();
    let r = m.kernel_read(bad, 1);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [bad.raw(), 0, 0, 0],
    );
    // Regression: reading the last byte of the address space touches it (0x50), not a bogus wrap.
    let r = top.kernel_read(Va::new(u64::MAX), 1);
    expect_bug_check(
        &mut top,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [u64::MAX, 0, 0, 0],
    );
}

/// Unknown processes are model errors, dead ones are STATUS_PROCESS_IS_TERMINATING, never panics.
#[test]
fn unknown_and_dead_processes() {
    let (mut m, app) = with_app();
    let ghost = mdlsim::space::Pid(9999);
    assert_eq!(
        m.user_read(ghost, Va::new(0x10000), 1).unwrap_err(),
        Fault::Model(ModelError::NoSuchProcess(9999))
    );
    assert!(matches!(m.switch_to(Some(ghost)), Err(Fault::Model(_))));
    assert!(matches!(m.attach(ghost), Err(Fault::Model(_))));
    let buf = user_buf(&mut m, app, 0x1000);
    m.terminate_process(app).unwrap();
    let t = NtStatus::PROCESS_IS_TERMINATING;
    expect_status(m.user_read(app, buf, 1), t);
    expect_status(m.user_write(app, buf, b"x"), t);
    expect_status(
        m.virtual_alloc(app, None, 0x1000, MEM_COMMIT | MEM_RESERVE, RW),
        t,
    );
    expect_status(m.virtual_free(app, buf, 0, MEM_RELEASE), t);
    expect_status(m.virtual_protect(app, buf, 1, RW), t);
    expect_status(m.terminate_process(app), t);
    expect_status(m.create_thread(app), t);
    // Kernel code attached to the dead process finds no user memory.
    m.attach(app).unwrap();
    expect_raise(m.kernel_read(buf, 1), NtStatus::ACCESS_VIOLATION);
    m.detach().unwrap();
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Provenance: user writes label bytes with their own address; copies carry labels;
/// RtlZeroMemory labels Zero; the access log records who read what.
#[test]
fn provenance_travels_with_copies() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    m.user_write(app, at(buf, 0xFF0), &[9; 0x20]).unwrap();
    m.user_copy(app, at(buf, 0x2000), at(buf, 0xFF0), 0x20)
        .unwrap();
    let l = m
        .labels(SpaceId::Process(app), at(buf, 0x2000), 0x20)
        .unwrap();
    assert_eq!(
        l,
        vec![LabelSpan {
            len: 0x20,
            label: Label::Origin {
                space: SpaceId::Process(app),
                va: at(buf, 0xFF0)
            }
        }]
    );
    m.switch_to(Some(app)).unwrap();
    let pool = m.ex_allocate_pool2(0, 0x40, 1).unwrap().unwrap();
    m.start_access_log().unwrap();
    m.kernel_copy(pool, at(buf, 0x2000), 0x20).unwrap();
    let log = m.take_access_log().unwrap();
    assert!(
        log.iter()
            .any(|a| a.actor == Actor::Kernel && !a.write && a.space == SpaceId::Process(app))
    );
    assert!(log.iter().any(|a| a.write && a.space == SpaceId::System));
    assert_eq!(
        m.labels(SpaceId::System, pool, 0x20).unwrap()[0].label,
        Label::Origin {
            space: SpaceId::Process(app),
            va: at(buf, 0xFF0)
        }
    );
    m.kernel_zero(pool, 0x10).unwrap();
    assert_eq!(
        m.labels(SpaceId::System, pool, 0x10).unwrap(),
        vec![LabelSpan {
            len: 0x10,
            label: Label::Zero
        }]
    );
    assert_eq!(m.peek(SpaceId::System, pool, 0x11).unwrap()[0x10], 9);
    assert_audit_clean(&m);
}

/// Shadow memory can be switched off: contents still move, labels are not tracked.
#[test]
fn shadow_off_still_moves_bytes() {
    let mut m = mdlsim::Machine::new(mdlsim::Config::default().shadow(false)).unwrap();
    let app = m.create_process("app").unwrap();
    assert!(!m.shadow_enabled());
    let buf = user_buf(&mut m, app, 0x2000);
    m.user_write(app, buf, b"abc").unwrap();
    m.user_copy(app, at(buf, 0x1000), buf, 3).unwrap();
    assert_eq!(m.user_read(app, at(buf, 0x1000), 3).unwrap(), b"abc");
    assert_eq!(
        m.labels(SpaceId::Process(app), at(buf, 0x1000), 3).unwrap()[0].label,
        Label::Zero
    );
    assert_audit_clean(&m);
}

/// Frames materialise lazily: a 64 GiB machine costs only the frames touched.
#[test]
fn large_machine_costs_only_touched_frames() {
    let mut m = mdlsim::Machine::new(mdlsim::Config::default().physical_memory(64 << 30)).unwrap();
    assert_eq!(m.frames_total(), (64 << 30) / PAGE_SIZE - 1); // frame 0 is reserved
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 1 << 30);
    m.user_write(app, at(buf, (1 << 30) - 1), b"x").unwrap();
    assert_eq!(m.frames_touched(), 1);
    assert!(m.host_frame_bytes() < 2 * PAGE_SIZE + 4096);
    assert_audit_clean(&m);
}

/// Physical memory exhaustion on a demand-zero fault raises STATUS_NO_MEMORY (no panic).
#[test]
fn physical_exhaustion_raises_no_memory() {
    let mut m =
        // Three frames, frame 0 reserved: two to hand out.
        mdlsim::Machine::new(mdlsim::Config::default().physical_memory(3 * PAGE_SIZE)).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x3000);
    m.user_write(app, buf, &[1; 0x2000]).unwrap();
    expect_raise(
        m.user_write(app, at(buf, 0x2000), b"x"),
        NtStatus::NO_MEMORY,
    );
    assert!(m.crashed().is_none());
    assert_audit_clean(&m);
}

/// Regression: a reservation of terabytes (legal: user space is 8 TiB) costs per run of equal
/// pages, not per page — previously a `Vec` with one entry per page (8 GiB of host memory for
/// a full reservation). Commit, touch, protect, decommit and release inside it stay cheap.
#[test]
fn terabyte_reservation_is_cheap() {
    let (mut m, app) = with_app();
    let size = 4u64 << 40;
    let r = m.virtual_alloc(app, None, size, MEM_RESERVE, RW).unwrap();
    let mid = at(r, 3 << 40);
    m.virtual_alloc(app, Some(mid), 0x3000, MEM_COMMIT, RW)
        .unwrap();
    m.user_write(app, at(mid, 0x1FFF), b"xy").unwrap();
    expect_raise(
        m.user_read(app, at(mid, 0x3000), 1),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_eq!(
        m.virtual_protect(app, mid, 0x3000, Protection::ReadOnly)
            .unwrap(),
        RW
    );
    expect_raise(m.user_write(app, mid, b"z"), NtStatus::ACCESS_VIOLATION);
    expect_status(m.virtual_protect(app, r, size, RW), NtStatus::NOT_COMMITTED);
    m.virtual_free(app, at(mid, 0x1000), 0x1000, MEM_DECOMMIT)
        .unwrap();
    expect_raise(
        m.user_read(app, at(mid, 0x1000), 1),
        NtStatus::ACCESS_VIOLATION,
    );
    assert_eq!(m.user_read(app, at(mid, 0x2000), 1).unwrap(), b"y");
    // The whole rest of user space in one more reservation.
    let rest = m.virtual_alloc(
        app,
        None,
        (MM_HIGHEST_USER_ADDRESS.raw() + 1) - at(r, size).raw(),
        MEM_RESERVE,
        RW,
    );
    assert!(rest.is_ok(), "{rest:?}");
    expect_status(
        m.virtual_alloc(app, None, 0x1000, MEM_RESERVE, RW),
        NtStatus::NO_MEMORY,
    );
    assert_audit_clean(&m);
    m.virtual_free(app, r, 0, MEM_RELEASE).unwrap();
    assert_eq!(m.frames_in_use(), 0);
    assert_audit_clean(&m);
}

/// Attach state belongs to a thread: an attach left open by one context does not leak
/// into another context that is switched to, and resumes when its context runs again.
#[test]
fn attach_state_is_per_context_across_switch_to() {
    use mdlsim::{Config, Machine};
    let mut m = Machine::new(Config::default()).unwrap();
    let a = m.create_process("a").unwrap();
    let b = m.create_process("b").unwrap();
    let c = m.create_process("c").unwrap();
    m.switch_to(Some(a)).unwrap();
    m.attach(c).unwrap();
    assert_eq!(m.current_process(), Some(c));
    m.switch_to(Some(b)).unwrap();
    assert_eq!(m.current_process(), Some(b), "b's thread is not attached");
    m.switch_to(Some(a)).unwrap();
    assert_eq!(
        m.current_process(),
        Some(c),
        "a's attach resumes with a's thread"
    );
    m.detach().unwrap();
    assert_eq!(m.current_process(), Some(a));
}
