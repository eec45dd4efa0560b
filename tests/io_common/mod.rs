//! Shared set-up for the I/O tests.
#![allow(dead_code)]

use mdlsim::addr::Va;
use mdlsim::io::drivers::{PassThroughFilter, PatternDriver, QueueDriver, QueueDriverBug};
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId};
use mdlsim::space::{Pid, Protection, Tid};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Machine};
use std::sync::Arc;

/// A driver that owns an IRP it built: its dispatch refuses everything, its completion
/// routine records that it ran (`counters["done"]`) and reclaims the IRP
/// (`STATUS_MORE_PROCESSING_REQUIRED`); the test frees it, as its owner would.
#[derive(Debug)]
pub struct Originator;

impl mdlsim::io::Driver for Originator {
    fn dispatch(
        &self,
        _k: &mut mdlsim::Kernel<'_>,
        _d: DeviceId,
        _irp: mdlsim::io::IrpId,
    ) -> mdlsim::fault::Result<mdlsim::status::NtStatus> {
        Ok(mdlsim::status::NtStatus::INVALID_DEVICE_REQUEST)
    }

    fn completion(
        &self,
        k: &mut mdlsim::Kernel<'_>,
        d: DeviceId,
        _irp: mdlsim::io::IrpId,
        _c: u64,
    ) -> mdlsim::fault::Result<mdlsim::status::NtStatus> {
        k.device_mut(d)?.extension.counters.insert("done".into(), 1);
        Ok(mdlsim::status::NtStatus::MORE_PROCESSING_REQUIRED)
    }
}

pub fn machine() -> Machine {
    Machine::new(Config::default()).unwrap()
}

pub fn app(m: &mut Machine, name: &str) -> (Pid, Tid) {
    let p = m.create_process(name).unwrap();
    let t = m.process(p).unwrap().threads[0];
    (p, t)
}

pub fn alloc(m: &mut Machine, p: Pid, size: u64) -> Va {
    m.virtual_alloc(
        p,
        None,
        size,
        MEM_COMMIT | MEM_RESERVE,
        Protection::ReadWrite,
    )
    .unwrap()
}

pub fn at(va: Va, off: u64) -> Va {
    Va::new(va.raw() + off)
}

/// The three kinds of device: buffered, direct, neither.
pub const KINDS: [u32; 3] = [DO_BUFFERED_IO, DO_DIRECT_IO, 0];

pub fn pattern_device(m: &mut Machine, flags: u32) -> DeviceId {
    let d = m
        .io_register_driver("pattern", Arc::new(PatternDriver))
        .unwrap();
    m.io_create_device(d, "\\Device\\Pattern", flags).unwrap()
}

pub fn queue_device(m: &mut Machine, flags: u32, bug: QueueDriverBug) -> DeviceId {
    let d = m
        .io_register_driver("queue", Arc::new(QueueDriver { bug }))
        .unwrap();
    m.io_create_device(d, "\\Device\\Queue", flags).unwrap()
}

/// A pass-through filter attached above `lower`; returns the filter device.
pub fn filter_above(m: &mut Machine, lower: DeviceId) -> DeviceId {
    let d = m
        .io_register_driver("filter", Arc::new(PassThroughFilter))
        .unwrap();
    let f = m.io_create_device(d, "\\Device\\Filter", 0).unwrap();
    m.io_attach_device_to_device_stack(f, lower).unwrap();
    f
}

pub fn pattern(len: u64) -> Vec<u8> {
    (0..len).map(mdlsim::io::drivers::pattern_byte).collect()
}

/// Nothing left behind: audit clean, no IRP, MDL, mapping, pool block, system PTE,
/// locked page or leaked lock.
pub fn assert_clean(m: &Machine) {
    let audit = m.audit();
    assert!(audit.is_empty(), "audit: {audit:?}");
    assert_eq!(m.irps_outstanding(), 0, "IRPs left");
    assert_eq!(m.mdls().count(), 0, "MDLs left");
    assert_eq!(m.mappings().count(), 0, "mappings left");
    assert_eq!(m.pool_allocations().count(), 0, "pool blocks left");
    assert_eq!(m.system_ptes_in_use(), 0, "system PTEs left");
    assert!(m.leaked_locks().is_empty(), "leaked locks");
    for p in m.processes() {
        assert_eq!(p.number_of_locked_pages, 0, "{} has locked pages", p.pid);
    }
}
