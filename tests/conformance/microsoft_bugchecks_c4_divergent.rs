//! Microsoft's bug-check reference, [`DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4)`][0xC4]:
//! the rows of Verifier's automatic checks the model answered with another outcome, each
//! now Verifier's check before the kernel's own (tests/conformance/README.md, divergences
//! found and fixed). Microsoft's ["Automatic
//! checks"] page lists each of these conditions among those Verifier always checks
//! ("Monitoring IRQL and Memory Routines", "Monitoring MDL Usage"), so with Verifier on
//! Windows stops with 0xC4 before the kernel's own check or silence.
//!
//! [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
//! ["Automatic checks"]: https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/automatic-checks

use crate::common::*;
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::mdl::{LockOperation, MdlFlags};
use mdlsim::pool::{POOL_HEADER_SIZE, PoolType, tag};
use mdlsim::{Machine, MdlId};

const T: u32 = tag(b"Msdv");

/// The 0xC4 in `r`, its P1 checked against `rows`.
fn c4<T: std::fmt::Debug>(m: &mut Machine, r: mdlsim::Result<T>, rows: &[u64]) -> [u64; 4] {
    let b = match r {
        Err(mdlsim::Fault::BugCheck(b)) => b,
        other => panic!("expected 0xC4, got {other:?}"),
    };
    assert_eq!(
        b.code,
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        "{}",
        b.detail
    );
    assert!(rows.contains(&b.params[0]), "P1 {:#x}", b.params[0]);
    assert_sticky(m, &b);
    b.params
}

/// A process's locked 2-page MDL and the buffer under it.
fn locked2() -> (Machine, MdlId, Va) {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 2 * PAGE_SIZE);
    let mdl = lock_user(&mut m, app, buf, 0x2000, LockOperation::IoWriteAccess);
    (m, mdl, buf)
}

/// [0xC4] row 0x00: a zero-byte pool allocation; P2 the IRQL, P3 the pool type, P4 the
/// bytes (0).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_00_a_zero_byte_allocation_names_irql_type_and_size() {
    let mut m = machine();
    let r = m.ex_allocate_pool_with_tag(PoolType::NonPaged, 0, T);
    assert_eq!(
        c4(&mut m, r, &[0x00]),
        [0x00, 0, PoolType::NonPaged as u64, 0]
    );
}

/// [0xC4] row 0x10: freeing an address no allocation returned (inside a block); P2 the
/// address, P3 0, P4 0.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_10_freeing_an_address_never_allocated_names_it() {
    let mut m = machine();
    let p = nonpaged(&mut m, 0x40, T);
    let r = m.ex_free_pool_with_tag(at(p, 0x10), T);
    assert_eq!(c4(&mut m, r, &[0x10]), [0x10, at(p, 0x10).raw(), 0, 0]);
}

/// [0xC4] rows 0x13 / 0x14: freeing pool that was already freed; P3 a pointer to the
/// pool header (the 16 bytes before the block; P2 reserved, P4 the header's contents,
/// not asserted).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_13_14_freeing_pool_twice_names_its_header() {
    let mut m = machine();
    let p = nonpaged(&mut m, 0x40, T);
    m.ex_free_pool_with_tag(p, T).unwrap();
    let r = m.ex_free_pool_with_tag(p, T);
    let params = c4(&mut m, r, &[0x13, 0x14]);
    assert_eq!(params[2], p.raw() - POOL_HEADER_SIZE);
}

/// [0xC4] row 0xB5: `MmUnmapLockedPages` of a partial MDL (one mapped on its own); P2
/// the MDL, P3 its flags, P4 the unexpected partial flag.
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_b5_unmapping_a_partial_mdl_names_mdl_flags_and_the_partial_flag() {
    let (mut m, src, buf) = locked2();
    let partial = new_mdl(&mut m, buf, 0x1000);
    m.io_build_partial_mdl(src, partial, buf, 0x1000).unwrap();
    let sys = system_va(&mut m, partial);
    let flags = m.mdl(partial).unwrap().flags.bits() as u64;
    let r = m.mm_unmap_locked_pages(sys, partial);
    let partial_flag = MdlFlags::PARTIAL.bits() as u64;
    assert_eq!(
        c4(&mut m, r, &[0xB5]),
        [0xB5, partial.address(), flags, partial_flag]
    );
}

/// [0xC4] row 0xB6: `MmUnmapLockedPages` of an MDL not mapped to a system address (a
/// second unmap); P2 the MDL, P3 its flags, P4 the missing flag
/// (`MDL_MAPPED_TO_SYSTEM_VA`).
///
/// [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
#[test]
fn xc4_b6_unmapping_an_mdl_that_is_not_mapped_names_mdl_flags_and_the_missing_flag() {
    let (mut m, mdl, _) = locked2();
    let sys = system_va(&mut m, mdl);
    m.mm_unmap_locked_pages(sys, mdl).unwrap();
    let flags = m.mdl(mdl).unwrap().flags.bits() as u64;
    let r = m.mm_unmap_locked_pages(sys, mdl);
    let mapped = MdlFlags::MAPPED_TO_SYSTEM_VA.bits() as u64;
    assert_eq!(c4(&mut m, r, &[0xB6]), [0xB6, mdl.address(), flags, mapped]);
}
