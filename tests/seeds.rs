//! The seed documents' questions, answered by the model:
//! seed 004 (who owns a locked buffer), seed 001 (double mapping), seed 002 (the two
//! directions of user/kernel sharing). Semantics §2, §3.4-§3.8, §6; invariants 9, 11, 12, 14.

mod common;

use common::*;
use mdlsim::addr::{PAGE_SIZE, Pfn, Va};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::events::EventKind;
use mdlsim::log::Actor;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, priority};
use mdlsim::pfn::PageState;
use mdlsim::pool::{PoolType, tag};
use mdlsim::shadow::Label;
use mdlsim::space::{Pid, SpaceId};
use mdlsim::vm::{MEM_DECOMMIT, MEM_RELEASE};
use mdlsim::{Config, Machine, MdlId, NtStatus};
use std::collections::BTreeSet;

// ----- seed 004: ownership of a locked buffer ------------------------------------------------

/// A small machine (so "allocate everything else" is cheap), an app with a 4-page buffer
/// written with a pattern, locked for write (METHOD_OUT_DIRECT) and mapped to system space.
fn direct_io(frames_total: u64) -> (Machine, Pid, Va, MdlId, Va, Vec<Pfn>) {
    // Verifier without Pool Tracking: exit with locked pages is the field's 0x76.
    let config = Config::default().physical_memory(frames_total * PAGE_SIZE);
    let mut m = Machine::new(config.verifier(no_pool_tracking())).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x4000);
    m.user_write(app, buf, &[0x5A; 0x4000]).unwrap();
    let mdl = lock_user(&mut m, app, buf, 0x4000, LockOperation::IoWriteAccess);
    let sys = system_va(&mut m, mdl);
    let fs = frames(&m, mdl);
    (m, app, buf, mdl, sys, fs)
}

/// Takes every remaining frame: MmAllocatePagesForMdlEx, then a second process commits and
/// touches memory until STATUS_NO_MEMORY, then pool page by page until NULL. Returns the frames.
fn grab_all_memory(m: &mut Machine) -> BTreeSet<Pfn> {
    let hog = m.create_process("hog").unwrap();
    let mut taken = BTreeSet::new();
    // MmAllocatePagesForMdlEx takes free frames first (the high-water mark after).
    let pages = m
        .mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, 6 * PAGE_SIZE, CacheType::Cached, 0)
        .unwrap()
        .unwrap();
    taken.extend(m.mdl(pages).unwrap().frames());
    let region = user_buf(m, hog, 256 * PAGE_SIZE);
    for i in 0..256 {
        match m.user_write(hog, page(region, i), b"h") {
            Ok(()) => {
                taken.insert(m.translate(SpaceId::Process(hog), page(region, i)).unwrap());
            }
            Err(f) => {
                assert_eq!(f, mdlsim::Fault::Raise(NtStatus::NO_MEMORY));
                break;
            }
        }
    }
    while let Some(p) = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, PAGE_SIZE, tag(b"Hog "))
        .unwrap()
    {
        taken.insert(m.translate(SpaceId::System, p).unwrap());
    }
    taken
}

/// Seed 004, invariant 12: the app VirtualFree(MEM_RELEASE)s a buffer that is locked for
/// direct I/O. The pages stay pinned (Transition, reference 1 = the lock, share 0), the
/// kernel mapping still reads and writes them, and no other process or pool allocation can get
/// those frames — even when everything else is taken — until MmUnlockPages, after which they
/// are on the free list and are the next frames handed out.
#[test]
fn seed004_freed_locked_buffer_stays_pinned_until_unlock() {
    let (mut m, app, buf, mdl, sys, fs) = direct_io(24);
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    expect_raise(m.user_read(app, buf, 1), NtStatus::ACCESS_VIOLATION);
    for f in &fs {
        let e = m.pfn_entry(*f).unwrap();
        assert_eq!(
            (e.state, e.reference_count, e.share_count, e.deleted),
            (PageState::Transition, 1, 0, true)
        );
    }
    assert_eq!(m.kernel_read(at(sys, 0x3FFF), 1).unwrap(), vec![0x5A]);
    m.kernel_write(at(sys, 0x1000), b"device data").unwrap();
    assert_eq!(&m.frame_bytes(fs[1]).unwrap()[..11], b"device data");
    assert_audit_clean(&m);
    let taken = grab_all_memory(&mut m);
    assert!(!taken.is_empty());
    assert_eq!(m.frames_in_use(), m.frames_total(), "memory is exhausted");
    for f in &fs {
        assert!(!taken.contains(f), "{f} was handed out while locked");
        assert_eq!(m.pfn_entry(*f).unwrap().state, PageState::Transition);
    }
    assert_audit_clean(&m);
    m.mm_unlock_pages(mdl).unwrap();
    for f in &fs {
        assert_eq!(m.pfn_entry(*f).unwrap().state, PageState::Free);
    }
    assert_eq!(m.frames_in_use(), m.frames_total() - 4);
    // Now they are the next frames anyone gets (the hog's next page takes one).
    let p = nonpaged(&mut m, PAGE_SIZE, 1);
    assert!(fs.contains(&m.translate(SpaceId::System, p).unwrap()));
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    assert!(m.hazards().is_empty());
}

/// Seed 004 with MEM_DECOMMIT ("unmaps") instead of release: same answer.
#[test]
fn seed004_decommitted_locked_buffer_stays_pinned_until_unlock() {
    let (mut m, app, buf, mdl, sys, fs) = direct_io(24);
    m.virtual_free(app, at(buf, 0x1000), 0x2000, MEM_DECOMMIT)
        .unwrap();
    assert_eq!(m.pfn_entry(fs[0]).unwrap().state, PageState::Active);
    for f in &fs[1..3] {
        assert_eq!(
            (m.pfn_entry(*f).unwrap().state, counts(&m, *f)),
            (PageState::Transition, (1, 0))
        );
    }
    assert_eq!(m.kernel_read(at(sys, 0x1800), 1).unwrap(), vec![0x5A]);
    let taken = grab_all_memory(&mut m);
    assert!(fs.iter().all(|f| !taken.contains(f)));
    m.mm_unlock_pages(mdl).unwrap();
    assert_eq!(m.pfn_entry(fs[1]).unwrap().state, PageState::Free);
    assert_eq!(
        m.pfn_entry(fs[0]).unwrap().state,
        PageState::Active,
        "still the app's"
    );
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Seed 004: the app changes the buffer while it is locked: the kernel mapping sees it (the
/// pages are the app's, pinned, not copied); and the device's writes reach the app.
#[test]
fn seed004_app_changes_while_locked_are_visible_to_the_kernel() {
    let (mut m, app, buf, mdl, sys, _fs) = direct_io(64);
    m.user_write(app, at(buf, 0x2000), &[0xFF; 16]).unwrap(); // memset(O, 0xFF)
    assert_eq!(m.kernel_read(at(sys, 0x2000), 16).unwrap(), vec![0xFF; 16]);
    m.kernel_write(at(sys, 0x10), b"reply").unwrap();
    assert_eq!(m.user_read(app, at(buf, 0x10), 5).unwrap(), b"reply");
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Seed 004: after releasing a locked buffer the app can allocate again at the same address;
/// it gets fresh demand-zero frames, not the pinned ones — the kernel mapping and the new
/// buffer no longer alias.
#[test]
fn seed004_reallocated_buffer_does_not_alias_the_pinned_pages() {
    let (mut m, app, buf, mdl, sys, fs) = direct_io(64);
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    let again = m
        .virtual_alloc(
            app,
            Some(buf),
            0x4000,
            mdlsim::vm::MEM_COMMIT | mdlsim::vm::MEM_RESERVE,
            mdlsim::space::Protection::ReadWrite,
        )
        .unwrap();
    assert_eq!(again, buf);
    assert_eq!(m.user_read(app, buf, 1).unwrap(), vec![0]);
    m.user_write(app, buf, b"new").unwrap();
    assert_eq!(m.kernel_read(sys, 1).unwrap(), vec![0x5A]);
    assert!(!fs.contains(&m.translate(SpaceId::Process(app), buf).unwrap()));
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Seed 004: "between the time the app sends the request and the time the pages are locked,
/// the app can free the pages: the I/O will fail" — the probe raises, nothing is locked.
#[test]
fn seed004_buffer_freed_before_probe_fails_the_io() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x1000);
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, buf, 0x1000);
    expect_raise(
        m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoWriteAccess),
        NtStatus::ACCESS_VIOLATION,
    );
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Seed 004 / §6: the process exits with the pages still locked: PROCESS_HAS_LOCKED_PAGES
/// (0x76, P1 0, P2 process, P3 count); with TrackLockedPages, 0xCB naming the MDL.
#[test]
fn seed004_exit_with_locked_pages_bug_checks() {
    let (mut m, app, buf, mdl, _sys, _fs) = direct_io(64);
    let mut tracked = {
        let config = Config::default().track_locked_pages(true);
        let mut t = Machine::new(config.verifier(mdlsim::verifier::Verifier::OFF)).unwrap();
        let a = t.create_process("app").unwrap();
        let b = user_buf(&mut t, a, 0x4000);
        let md = lock_user(&mut t, a, b, 0x4000, LockOperation::IoWriteAccess);
        (t, a, md)
    };
    m.virtual_free(app, buf, 0, MEM_RELEASE).unwrap(); // freeing does not release the lock
    let r = m.terminate_process(app);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PROCESS_HAS_LOCKED_PAGES,
        [0, app.eprocess(), 4, 0],
    );
    let _ = mdl;
    let r = tracked.0.terminate_process(tracked.1);
    expect_bug_check(
        &mut tracked.0,
        r,
        BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
        [tracked.2.address(), 0, tracked.2.address(), 4],
    );
}

// ----- seed 001: double mapping ---------------------------------------------------------------

/// Seed 001: the system mapping and the user mapping alias the same bytes (same frames), and
/// the offset into the user page becomes the offset into the system page, for every offset
/// class {0, 1, 512, 4095}.
#[test]
fn seed001_system_and_user_addresses_alias_with_the_same_offset() {
    for off in [0u64, 1, 512, 4095] {
        let (mut m, app) = with_app();
        let buf = user_buf(&mut m, app, 0x3000);
        let data = at(buf, off);
        let mdl = lock_user(&mut m, app, data, 0x1000, LockOperation::IoModifyAccess);
        let sys = system_va(&mut m, mdl);
        assert_eq!(sys.byte_offset() as u64, off);
        for i in 0..m.mdl(mdl).unwrap().page_count() as u64 {
            assert_eq!(
                m.translate(SpaceId::System, page(sys, i)),
                m.translate(SpaceId::Process(app), page(data, i))
            );
        }
        m.user_write(app, data, b"from user").unwrap();
        assert_eq!(m.kernel_read(sys, 9).unwrap(), b"from user");
        m.kernel_write(at(sys, 0xFF0), b"from kernel").unwrap();
        assert_eq!(
            m.user_read(app, at(data, 0xFF0), 11).unwrap(),
            b"from kernel"
        );
        m.mm_unlock_pages(mdl).unwrap();
        m.io_free_mdl(mdl).unwrap();
        assert_audit_clean(&m);
    }
}

/// Seed 001: a kernel access past the end of the range but inside the last page goes unnoticed
/// by the MMU (no fault) — and the provenance shows the byte came from outside the range: its
/// origin is the app's address just past the buffer. A kernel write there silently corrupts the
/// app's neighbouring data.
#[test]
fn seed001_overrun_inside_the_page_is_unnoticed_but_visible_in_provenance() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let data = at(buf, 0x100);
    let len = 0x20u64;
    m.user_write(app, data, &[1; 0x20]).unwrap();
    m.user_write(app, at(data, len), b"NEIGHBOUR").unwrap();
    let mdl = lock_user(&mut m, app, data, len as u32, LockOperation::IoReadAccess);
    let sys = system_va(&mut m, mdl);
    m.start_access_log().unwrap();
    let over = m.kernel_read(sys, len + 9).unwrap();
    assert_eq!(
        &over[len as usize..],
        b"NEIGHBOUR",
        "no fault: the page is mapped"
    );
    let log = m.take_access_log().unwrap();
    let rec = log
        .iter()
        .find(|a| a.actor == Actor::Kernel && a.space == SpaceId::System)
        .unwrap();
    assert_eq!(rec.len as u64, len + 9);
    let labels = m.labels(SpaceId::System, at(sys, len), 9).unwrap();
    assert_eq!(
        labels[0].label,
        Label::Origin {
            space: SpaceId::Process(app),
            va: at(data, len)
        }
    );
    // The origin lies outside [data, data + len): the oracle can tell.
    let Label::Origin { va, .. } = labels[0].label else {
        unreachable!()
    };
    assert!(va >= at(data, len));
    // The access log's spans say the same: the read's last byte originates at data + len + 8.
    let mut k = 0u64;
    let mut last_origin = None;
    for span in &rec.labels {
        if let Label::Origin { space, va } = span.label {
            last_origin = Some((space, at(va, span.len - 1)));
        }
        k += span.len;
    }
    assert_eq!(k, len + 9);
    assert_eq!(
        last_origin,
        Some((SpaceId::Process(app), at(data, len + 8)))
    );
    // Writing past the range lands in the app's neighbouring bytes; labelled as a kernel write.
    m.kernel_write(at(sys, len), b"X").unwrap();
    assert_eq!(m.user_read(app, at(data, len), 1).unwrap(), b"X");
    assert_eq!(
        m.labels(SpaceId::Process(app), at(data, len), 1).unwrap()[0].label,
        Label::Origin {
            space: SpaceId::System,
            va: at(sys, len)
        }
    );
    // The write went through a mapping probed for IoReadAccess: recorded.
    assert!(
        m.events()
            .iter()
            .any(|e| e.kind == EventKind::WriteThroughReadProbedMdl && e.mdl == Some(mdl))
    );
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Seed 001: if the buffer ends exactly at a page end, the system VA just past it is the next
/// system PTE: invalid here, so the overrun is PAGE_FAULT_IN_NONPAGED_AREA (0x50).
#[test]
fn seed001_overrun_past_the_page_end_faults() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x2000);
    let data = at(buf, 0xF00);
    let mdl = lock_user(&mut m, app, data, 0x100, LockOperation::IoReadAccess);
    let sys = system_va(&mut m, mdl);
    assert_eq!(m.kernel_read(sys, 0x100).unwrap().len(), 0x100);
    let past = at(sys, 0x100);
    assert!(past.is_page_aligned());
    assert_audit_clean(&m);
    let r = m.kernel_read(sys, 0x101);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
        [past.raw(), 0, 0, 0],
    );
}

/// Seed 001: another thread of the caller modifies the user mapping between two kernel fetches:
/// the two fetches differ (the double-fetch hazard).
#[test]
fn seed001_two_fetches_can_differ() {
    let (mut m, app) = with_app();
    let _t2 = m.create_thread(app).unwrap();
    let buf = user_buf(&mut m, app, 0x1000);
    m.user_write(app, buf, b"PORT1\0").unwrap();
    let mdl = lock_user(&mut m, app, buf, 6, LockOperation::IoReadAccess);
    let sys = system_va(&mut m, mdl);
    let first = m.kernel_read(sys, 6).unwrap();
    m.user_write(app, at(buf, 5), b"X").unwrap(); // the NUL terminator is gone
    let second = m.kernel_read(sys, 6).unwrap();
    assert_ne!(first, second);
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
}

/// Seed 001, zero-length direct I/O: the I/O manager builds no MDL, so `MdlAddress` is NULL.
/// The documentation says MmGetSystemAddressForMdlSafe "returns NULL" then; the macro actually
/// reads `Mdl->MdlFlags` first, so the model reports the NULL dereference (0x1E, address 0xA).
#[test]
fn seed001_null_mdl_address_is_a_null_dereference() {
    let mut m = machine();
    let irp = m.io_allocate_irp(1).unwrap();
    let mdl = m.irp(irp).unwrap().mdl_address;
    assert_eq!(mdl, None);
    let r = m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL);
    expect_bug_check(
        &mut m,
        r,
        BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED,
        null_mdl_params(),
    );
}

// ----- seed 002: both directions --------------------------------------------------------------

/// Seed 002, first direction: a user buffer is locked (UserMode, IoReadAccess) and mapped into
/// system space; the driver reads it through the system address; then unlock and free.
#[test]
fn seed002_user_buffer_locked_and_mapped_into_system_space() {
    let (mut m, app) = with_app();
    let uva = user_buf(&mut m, app, 0x2000);
    m.user_write(app, at(uva, 0x40), b"shared with the driver")
        .unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = new_mdl(&mut m, at(uva, 0x40), 22);
    m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess)
        .unwrap();
    let kva = system_va(&mut m, mdl);
    m.switch_to(None).unwrap(); // system addresses work from any context
    assert_eq!(m.kernel_read(kva, 22).unwrap(), b"shared with the driver");
    m.mm_unlock_pages(mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert_audit_clean(&m);
    assert!(m.hazards().is_empty());
}

/// Seed 002, second direction: non-paged pool described with MmBuildMdlForNonPagedPool and
/// mapped into a user process (UserMode, MmCached, NULL, FALSE, Normal); the process reads the
/// pool bytes — and, the mapping being whole pages, also the bytes around a small block (its
/// pool header with the tag, a neighbour's data), which provenance attributes to the kernel.
/// Unmapped in the right process, then the MDL and pool are freed.
#[test]
fn seed002_pool_mapped_into_a_user_process() {
    let (mut m, app) = with_app();
    let neighbour = nonpaged(&mut m, 64, tag(b"Nbr "));
    m.kernel_write(neighbour, b"neighbour secret").unwrap();
    let kva = nonpaged(&mut m, 1024, tag(b"PMET"));
    assert_eq!(kva.page_align(), neighbour.page_align());
    m.kernel_write(kva, b"for the app").unwrap();
    let mdl = new_mdl(&mut m, kva, 1024);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    m.switch_to(Some(app)).unwrap();
    let uva = map_user(&mut m, mdl);
    assert_eq!(uva.byte_offset(), kva.byte_offset());
    assert_eq!(m.user_read(app, uva, 11).unwrap(), b"for the app");
    // Exposure: the user page also shows the neighbour and the block's header.
    let nb = Va::new(uva.page_align().raw() + neighbour.byte_offset() as u64);
    assert_eq!(m.user_read(app, nb, 16).unwrap(), b"neighbour secret");
    assert_eq!(
        m.labels(SpaceId::Process(app), nb, 1).unwrap()[0].label,
        Label::Origin {
            space: SpaceId::System,
            va: neighbour
        }
    );
    let hdr = Va::new(uva.raw() - 16);
    assert_eq!(&m.user_read(app, hdr, 8).unwrap()[4..8], b"PMET");
    // The app can write the pool through it (read-write user PTEs).
    m.user_write(app, uva, b"FOR").unwrap();
    assert_eq!(m.kernel_read(kva, 3).unwrap(), b"FOR");
    assert_audit_clean(&m);
    // Unmapping from the wrong process is Verifier's 0xC4 / 0xB9 (without Verifier it is
    // ignored: tests/mapping_user.rs); the right one removes the mapping.
    let other = m.create_process("other").unwrap();
    let mut wrong = m.clone();
    wrong.attach(other).unwrap();
    let r = wrong.mm_unmap_locked_pages(uva, mdl);
    let bad_user_address = [
        mdlsim::bugcheck::verifier::UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS,
        uva.raw(),
        mdl.address(),
        0,
    ];
    assert!(
        matches!(&r, Err(mdlsim::Fault::BugCheck(b)) if b.params == bad_user_address),
        "{r:?}"
    );
    assert_eq!(m.mappings().count(), 1);
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    assert_eq!(m.mappings().count(), 0);
    expect_raise(m.user_read(app, uva, 1), NtStatus::ACCESS_VIOLATION);
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool_with_tag(kva, tag(b"PMET")).unwrap();
    m.ex_free_pool_with_tag(neighbour, tag(b"Nbr ")).unwrap();
    assert_audit_clean(&m);
    assert!(m.hazards().is_empty());
}

/// Seed 002: freeing the pool while a user mapping of it remains leaves the process a window on
/// a free frame (a dangling PTE hazard) — the reason to unmap first.
#[test]
fn seed002_pool_freed_while_user_mapped_dangles() {
    let (mut m, app) = with_app();
    let kva = nonpaged(&mut m, 0x1000, 1);
    let mdl = new_mdl(&mut m, kva, 0x1000);
    m.mm_build_mdl_for_non_paged_pool(mdl).unwrap();
    m.switch_to(Some(app)).unwrap();
    let uva = m
        .mm_map_locked_pages_specify_cache(
            mdl,
            AccessMode::UserMode,
            CacheType::Cached,
            None,
            false,
            0,
        )
        .unwrap()
        .unwrap();
    m.ex_free_pool_with_tag(kva, 1).unwrap();
    let h = m.hazards();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].kind, mdlsim::audit::HazardKind::DanglingPte);
    assert!(m.user_read(app, uva, 1).is_ok(), "the MMU does not notice");
    m.mm_unmap_locked_pages(uva, mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert!(m.hazards().is_empty());
    assert_audit_clean(&m);
}
