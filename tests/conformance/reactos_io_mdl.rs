//! ReactOS, `modules/rostests/kmtests/ntos_io/IoMdl.c`, test `IoMdl`.
//!
//! The size limits it asserts are those of Windows Server 2003 (NT 5.2), which ReactOS
//! targets: `IoAllocateMdl` refuses 2 GiB and any length whose descriptor would exceed
//! 0xFFFF bytes (`(0x10000 - sizeof(MDL)) / sizeof(ULONG_PTR)` pages and more).
//! Microsoft's `IoAllocateMdl` page gives the later limits (Vista: 2 GiB − PAGE_SIZE;
//! Windows 7 and later: 4 GiB − PAGE_SIZE), so the tests run on a machine configured as
//! Server 2003, and `microsoft_io_allocate_mdl` checks the later versions.

use crate::common::assert_audit_clean;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::pool::{PoolType, tag};
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Machine};

/// The Windows the test describes.
fn machine() -> Machine {
    Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap()
}

/// `sizeof(MDL)` on amd64.
const MDL_HEADER: u64 = 48;
/// `(0x10000 - sizeof(MDL)) / sizeof(ULONG_PTR) * PAGE_SIZE`: the first length whose
/// descriptor does not fit (8,186 pages).
const TOO_LARGE: u64 = (0x10000 - MDL_HEADER) / 8 * PAGE_SIZE;

/// "IoAllocateMdl should fail allocation of 2Gb or more": `IoAllocateMdl(NULL, 2 GiB)`
/// returns NULL.
#[test]
fn io_allocate_mdl_of_2_gib_is_null() {
    let mut m = machine();
    assert_eq!(
        m.io_allocate_mdl(Va::NULL, 2048 * 0x10_0000, false, false, None)
            .unwrap(),
        None
    );
}

/// A valid MDL over a 2-page-and-184-byte pool buffer: `Next` is NULL and `ByteCount`
/// is the length asked for.
#[test]
fn io_allocate_mdl_sets_next_null_and_byte_count() {
    let mut m = machine();
    let size = 2 * 4096 + 184;
    let va = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, size, tag(b"Test"))
        .unwrap()
        .unwrap();
    let mdl = m
        .io_allocate_mdl(va, size as u32, false, false, None)
        .unwrap()
        .unwrap();
    let d = m.mdl(mdl).unwrap();
    assert_eq!((d.next, d.byte_count as u64), (None, size));
    m.io_free_mdl(mdl).unwrap();
    m.ex_free_pool(va).unwrap();
    assert_audit_clean(&m);
}

/// "Test maximum size for an MDL" (NT 5.2): `TooLargeMdlSize` and `TooLargeMdlSize -
/// PAGE_SIZE + 1` are NULL; `TooLargeMdlSize - PAGE_SIZE` and half of it succeed (at
/// `VirtualAddress` NULL, so the span is the length's pages).
#[test]
fn io_allocate_mdl_maximum_size_is_one_page_short_of_a_full_descriptor() {
    let mut m = machine();
    for (len, fits) in [
        (TOO_LARGE, false),
        (TOO_LARGE - PAGE_SIZE + 1, false),
        (TOO_LARGE - PAGE_SIZE, true),
        (TOO_LARGE / 2, true),
    ] {
        let r = m
            .io_allocate_mdl(Va::NULL, len as u32, false, false, None)
            .unwrap();
        assert_eq!(r.is_some(), fits, "length {len:#x}");
        if let Some(mdl) = r {
            m.io_free_mdl(mdl).unwrap();
        }
    }
    assert_audit_clean(&m);
}

/// "Allocate now with pointer to an Irp": with an IRP and `SecondaryBuffer` FALSE, the
/// new MDL becomes `Irp->MdlAddress`; freeing the MDL and then the IRP is clean.
#[test]
fn io_allocate_mdl_with_an_irp_sets_its_mdl_address() {
    let mut m = machine();
    let size = 2 * 4096 + 184;
    let va = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, size, tag(b"Test"))
        .unwrap()
        .unwrap();
    let irp = m.io_allocate_irp(1).unwrap();
    let mdl = m
        .io_allocate_mdl(va, size as u32, false, false, Some(irp))
        .unwrap()
        .unwrap();
    assert_eq!(m.irp(irp).unwrap().mdl_address, Some(mdl));
    // The test frees the MDL, then the IRP whose MdlAddress still names it: IoFreeIrp
    // does not look at MdlAddress.
    m.io_free_mdl(mdl).unwrap();
    m.io_free_irp(irp).unwrap();
    m.ex_free_pool(va).unwrap();
    assert_audit_clean(&m);
}

/// Microsoft, [`IoAllocateMdl`] Remarks: the largest buffer is (2 GiB − PAGE_SIZE) on
/// Vista and (4 GiB − PAGE_SIZE) on Windows 7 and later; one byte more is NULL. (The MDL
/// of a 4 GiB buffer has a million PFN slots: the model charges them to the host budget.)
///
/// [`IoAllocateMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioallocatemdl
#[test]
fn microsoft_io_allocate_mdl_largest_buffer_per_version() {
    let gib = 1u64 << 30;
    for (windows, largest) in [
        (WindowsVersion::Vista, 2 * gib - PAGE_SIZE),
        (WindowsVersion::Windows7, 4 * gib - PAGE_SIZE),
        (WindowsVersion::Windows10, 4 * gib - PAGE_SIZE),
    ] {
        let mut m = Machine::new(Config::default().windows(windows)).unwrap();
        let mdl = m
            .io_allocate_mdl(Va::NULL, largest as u32, false, false, None)
            .unwrap()
            .unwrap_or_else(|| panic!("{windows:?}: {largest:#x} bytes"));
        assert_eq!(m.mdl(mdl).unwrap().byte_count as u64, largest);
        assert_eq!(
            m.io_allocate_mdl(Va::NULL, (largest + 1) as u32, false, false, None)
                .unwrap(),
            None,
            "{windows:?}: one byte more"
        );
        m.io_free_mdl(mdl).unwrap();
        assert_audit_clean(&m);
    }
}
