//! Stage 1 of completion and the IRP's MDL chain (semantics §5.7, invariant 26): the I/O
//! manager unlocks and frees `Irp->MdlAddress` and every MDL linked through `Next`; a
//! driver that unlocks them itself crashes completion, and a chain made cyclic is
//! walked once.

mod io_common;
use io_common::*;
use mdlsim::Kernel;
use mdlsim::fault::{Fault, Result};
use mdlsim::io::{DO_DIRECT_IO, DeviceId, Driver, IoStatusBlock, IrpId};
use mdlsim::status::NtStatus;
use std::sync::Arc;

/// Invariant 26: stage 1 unlocks the MDL chain; a driver that unlocks it itself makes
/// stage 1's unlock fail (Verifier 0xC4/0x7C for an MDL not locked).
#[derive(Debug)]
struct SelfUnlocker;

impl Driver for SelfUnlocker {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let mdl = k.irp(irp)?.mdl_address;
        k.mm_unlock_pages(mdl)?;
        k.irp_mut(irp)?.io_status = IoStatusBlock::default();
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

/// Invariant 26: drivers must not unlock the IRP's MDLs themselves.
#[test]
fn a_driver_unlocking_the_irps_mdl_itself_crashes_at_completion() {
    let mut m = machine();
    let d = m
        .io_register_driver("self", Arc::new(SelfUnlocker))
        .unwrap();
    let dev = m.io_create_device(d, "\\Device\\S", DO_DIRECT_IO).unwrap();
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let e = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap_err();
    assert!(matches!(e, Fault::BugCheck(_)));
}

/// Links the IRP's MDL to itself (`Next = Mdl`) before completing: a cyclic chain.
#[derive(Debug)]
struct CyclicChain;

impl Driver for CyclicChain {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let mdl = k.irp(irp)?.mdl_address.expect("a direct read has an MDL");
        k.mdl_set_next(mdl, Some(mdl))?;
        k.irp_mut(irp)?.io_status = IoStatusBlock::default();
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

/// Stage 1 walks `Irp->MdlAddress` through `Next`; a chain a driver made cyclic is walked
/// once (each MDL unlocked and freed once), where Windows would loop: the model's walk
/// stops at an MDL it has seen.
#[test]
fn a_cyclic_mdl_chain_is_unlocked_once_at_completion() {
    let mut m = machine();
    let d = m
        .io_register_driver("cyclic", Arc::new(CyclicChain))
        .unwrap();
    let dev = m.io_create_device(d, "\\Device\\Y", DO_DIRECT_IO).unwrap();
    let (app, tid) = app(&mut m, "app");
    let out = alloc(&mut m, app, 0x1000);
    let r = m.nt_read_file(tid, dev, None, out, 16, 0).unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    assert!(m.crashed().is_none());
    assert_clean(&m);
}
