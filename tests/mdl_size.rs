//! How large an MDL can be, by Windows version (`Config::windows`, src/windows.rs):
//! `IoAllocateMdl`'s limits on Server 2003 (a 0xFFFF-byte descriptor, invariant 2) and on
//! Windows 7 and later (4 GiB − PAGE_SIZE, Microsoft's `IoAllocateMdl` page), and the
//! host memory a huge MDL's PFN array takes.

mod common;

use common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Fault, Machine, ModelError};

/// Invariant 2 on Server 2003 (NT 5.2): `Length >= 2 GiB` and descriptors over 0xFFFF
/// bytes are NULL returns (not errors); the largest amd64 span that fits is 8185 pages.
#[test]
fn io_allocate_mdl_returns_null_for_oversized_requests_on_server_2003() {
    let mut m = Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap();
    let max = 8185 * PAGE_SIZE as u32;
    assert!(
        m.io_allocate_mdl(Va::new(0x10000), max, false, false, None)
            .unwrap()
            .is_some()
    );
    assert_eq!(
        m.io_allocate_mdl(Va::new(0x10000), max + 1, false, false, None)
            .unwrap(),
        None
    );
    assert_eq!(
        m.io_allocate_mdl(Va::new(0x10001), max, false, false, None)
            .unwrap(),
        None
    );
    for len in [0x8000_0000u32, 0xFFFF_FFFF, 0x7FFF_FFFF] {
        assert_eq!(
            m.io_allocate_mdl(Va::new(0x10000), len, false, false, None)
                .unwrap(),
            None
        );
        assert_eq!(
            m.io_allocate_mdl(Va::new(u64::MAX), len, false, false, None)
                .unwrap(),
            None
        );
    }
    assert!(m.crashed().is_none());
    assert_eq!(m.mdls().count(), 1);
}

/// Windows 7 and later (Microsoft, `IoAllocateMdl`): a buffer of up to 4 GiB − PAGE_SIZE
/// gets an MDL, whatever its descriptor's size (the 16-bit `Size` field wraps); 32 MiB
/// and more is a size, not an error, and one byte past the limit is NULL.
#[test]
fn io_allocate_mdl_takes_up_to_4_gib_less_a_page_on_windows_10() {
    let mut m = machine();
    let at = Va::new(0x10000);
    for len in [8186 * PAGE_SIZE as u32, 64 << 20, 0x8000_0000, 0xFFFF_F000] {
        let mdl = m.io_allocate_mdl(at, len, false, false, None).unwrap();
        let mdl = mdl.unwrap_or_else(|| panic!("{len:#x} bytes"));
        let d = m.mdl(mdl).unwrap();
        assert_eq!(d.byte_count, len);
        assert_eq!(d.size as u64, (48 + 8 * d.page_count() as u64) & 0xFFFF);
        m.io_free_mdl(mdl).unwrap();
    }
    assert_eq!(
        m.io_allocate_mdl(at, 0xFFFF_F001, false, false, None)
            .unwrap(),
        None
    );
    assert_audit_clean(&m);
}

/// The PFN arrays of huge MDLs are host memory: they are charged to the host budget, so
/// a scenario that allocates 4 GiB MDLs over and over gets a clean
/// [`ModelError::HostMemoryLimit`] (a limit of the simulator), never an abort.
#[test]
fn huge_mdls_are_charged_to_the_host_budget() {
    let mut m = Machine::new(Config::default().host_memory_limit(64 << 20)).unwrap();
    let mut refused = None;
    for _ in 0..64 {
        match m.io_allocate_mdl(Va::new(0x10000), 0xFFFF_F000, false, false, None) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("NULL instead of the host limit"),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(
        matches!(
            refused,
            Some(Fault::Model(ModelError::HostMemoryLimit { .. }))
        ),
        "{refused:?}"
    );
}

/// A mapping's PTEs and its record's frames are host memory too: a forged 4 GiB MDL
/// (`MdlFlags` written to all ones, as the `ops` fuzzer did) mapped into user space over
/// and over writes a million PTEs each time, so the maps are charged to the host budget
/// and refused cleanly with [`ModelError::HostMemoryLimit`] once it is spent; unmapping
/// gives the budget back, and the books stay balanced throughout.
#[test]
fn mappings_are_charged_to_the_host_budget() {
    use mdlsim::mdl::{MdlFlags, priority};
    let mut m = Machine::new(Config::default().host_memory_limit(128 << 20)).unwrap();
    let app = m.create_process("app").unwrap();
    m.switch_to(Some(app)).unwrap();
    let mdl = m
        .io_allocate_mdl(Va::new(0x10000), 0xFFFF_F000, false, false, None)
        .unwrap()
        .unwrap();
    m.mdl_set_flags(mdl, MdlFlags::from_bits_retain(0xFFFF))
        .unwrap();
    let map = |m: &mut Machine| map_u(m, mdl, None, priority::NORMAL);
    let mut mapped = Vec::new();
    let refused = loop {
        match map(&mut m) {
            Ok(Some(va)) => mapped.push(va),
            other => break other,
        }
        assert!(mapped.len() < 16, "128 MiB held {} mappings", mapped.len());
    };
    assert!(
        matches!(
            refused,
            Err(Fault::Model(ModelError::HostMemoryLimit { .. }))
        ),
        "{refused:?} after {} mappings",
        mapped.len()
    );
    assert!(!mapped.is_empty(), "not even one mapping fit");
    assert_eq!(m.mappings().count(), mapped.len());
    assert_audit_clean(&m);
    m.mm_unmap_locked_pages(mapped[0], mdl).unwrap();
    assert!(
        matches!(map(&mut m), Ok(Some(_))),
        "unmapping returns the budget"
    );
    assert_audit_clean(&m);
}

/// A mapping costs the host at least its page-table entries and its record of the frames:
/// each mapped page is charged no less than one `Option<Pte>` and one `Pfn` while the
/// mapping lives, and unmapping gives the charge back exactly.
#[test]
fn a_mapping_is_charged_at_least_its_ptes_and_frames() {
    use mdlsim::addr::Pfn;
    use mdlsim::space::Pte;
    let (mut m, _app, _buf, mdl) = locked();
    let before = m.host_frame_bytes();
    let sys = system_va(&mut m, mdl);
    let per_page = (std::mem::size_of::<Option<Pte>>() + std::mem::size_of::<Pfn>()) as u64;
    let charged = m.host_frame_bytes() - before;
    assert!(charged >= 3 * per_page, "{charged} bytes for 3 pages");
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    assert_eq!(m.host_frame_bytes(), before);
}
