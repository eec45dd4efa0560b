//! One `Op` enum and one interpreter for every driver of the model ([design.md, "One
//! interpreter for every driver of the model"][design-one-interpreter]).
//!
//! An [`Op`] is one call a test can make on a [`Machine`]: a process or thread
//! operation, a user or kernel memory access, a pool call, an MDL routine or a
//! driver's direct write to an MDL field, an IRP call. An [`Interpreter`] owns a
//! machine and applies ops one at a time, reporting each [`Outcome`]. Property
//! tests, fuzz targets, scenario files and replay all drive this same
//! interpreter, so a shrunk proptest case, a fuzz crash and a scenario file are
//! the same thing: a `Vec<Op>` (serialisable with serde) that replays anywhere.
//!
//! ## Naming objects
//!
//! Ops never hold handles. They refer to objects by an [`Ix`] into tables the
//! interpreter keeps, in creation order: the processes created, the MDLs
//! created, the IRPs allocated and the virtual addresses returned (by
//! `virtual_alloc`, pool allocations and mappings). An MDL argument is an
//! `Option<Ix>` so NULL is explicit. Addresses may also be raw ([`Addr::Raw`]).
//!
//! Every index resolves deterministically, so **any** sequence is valid input:
//! indices wrap modulo the table's length; [`Ix::Live`] picks among objects still
//! alive (falling back to [`Ix::Recent`] when none is); an empty MDL table gives
//! NULL, an empty process table a process that never existed, an empty IRP table
//! a handle that was never valid. A freed MDL named by [`Ix::Nth`] or
//! [`Ix::Recent`] is the stale `PMDL` a buggy driver would pass, and the machine
//! answers as Windows would (with Driver Verifier's special pool: 0x50).
//!
//! ## Adding ops
//!
//! Ops are grouped by layer ([`ProcessOp`], [`VmOp`], [`PoolOp`], [`MdlOp`],
//! [`IrpOp`], [`IoOp`]), one module a layer (`process.rs`, `vm.rs`, `pool.rs`, `mdl/`,
//! `io/`), which holds everything about its ops: the enum, its `apply_*` method (one
//! `match` arm per op), `name`, `examples` and, with the `proptest` feature, its
//! generator (`arb_mdl_op`, ...; `mdlsim::generators` re-exports them). A new op is a
//! variant and an arm or entry in each of those, in that one module: the compiler asks
//! for the `apply_*` and `name` arms, a unit test fails until [`examples`] has one of the
//! variant, and `tests/ops_state_machine.rs` fails until the generators produce it. The
//! sticky-crash checks, the ops fuzz target and scenario files pick it up from there. A
//! new subsystem adds a variant to [`Op`], its own layer module and enum.
//!
//! The I/O layer ([`IoOp`]) adds four tables: drivers registered (each one of the
//! built-in drivers, [`BuiltinDriver`]), devices created, threads (every process's
//! first thread and every thread created) and, as for `IoAllocateIrp`, every IRP a
//! system service sent is appended to the IRP table.
//!
//! ```
//! use mdlsim::op::{Addr, Interpreter, Ix, MdlOp, Op, Outcome, ProcessOp, Value, VmOp};
//! use mdlsim::{Config, mdl::{AccessMode, LockOperation}, space::Protection};
//! use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
//!
//! let ops = vec![
//!     Op::Process(ProcessOp::CreateProcess),
//!     Op::Vm(VmOp::VirtualAlloc { process: Ix::Recent(0), base: None, size: 0x2000,
//!         alloc_type: MEM_COMMIT | MEM_RESERVE, protect: Protection::ReadWrite }),
//!     Op::Process(ProcessOp::SwitchTo { process: Some(Ix::Recent(0)) }),
//!     Op::Mdl(MdlOp::IoAllocateMdl { va: Addr::at(Ix::Recent(0), 0x10), length: 0x1000,
//!         secondary_buffer: false, charge_quota: false, irp: None }),
//!     Op::Mdl(MdlOp::MmProbeAndLockPages { mdl: Some(Ix::Recent(0)),
//!         mode: AccessMode::UserMode, operation: LockOperation::IoReadAccess }),
//!     Op::Mdl(MdlOp::MmUnlockPages { mdl: Some(Ix::Recent(0)) }),
//!     Op::Mdl(MdlOp::IoFreeMdl { mdl: Some(Ix::Recent(0)) }),
//! ];
//! let mut interp = Interpreter::new(Config::default()).unwrap();
//! let outcomes = interp.run(&ops);
//! assert!(outcomes.iter().all(Outcome::is_ok));
//! assert!(matches!(outcomes[3], Outcome::Ok(Value::Mdl { ix: 0, .. })));
//! assert!(interp.machine().audit().is_empty());
//!
//! // The same sequence, through JSON, replays identically.
//! let json = serde_json::to_string(&ops).unwrap();
//! let back: Vec<Op> = serde_json::from_str(&json).unwrap();
//! assert_eq!(Interpreter::new(Config::default()).unwrap().run(&back), outcomes);
//! ```
//!
//! [design-one-interpreter]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#one-interpreter

use crate::addr::Va;
use crate::arena::Handle;
use crate::fault::{Fault, Result};
use crate::io::drivers::QueueDriverBug;
use crate::io::fltmgr::MiniFilter;
use crate::io::{DeviceId, DriverId, IrpId};
use crate::machine::{Config, Machine};
use crate::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, MdlId};
use crate::pool::PoolType;
use crate::space::{Pid, Protection, Tid};
use crate::status::NtStatus;
use serde::{Deserialize, Serialize};

#[cfg(feature = "proptest")]
pub(crate) mod arb;
mod flags;
pub(crate) mod io;
pub(crate) mod mdl;
pub(crate) mod pool;
pub(crate) mod process;
#[cfg(test)]
mod tests;
mod value;
pub(crate) mod vm;

pub use io::{BuiltinDriver, IoControl, IoOp, IrpOp, PassMiniFilter, workload};
pub use mdl::MdlOp;
pub use pool::PoolOp;
pub use process::ProcessOp;
use value::fnv1a;
pub use value::{Outcome, Value};
pub use vm::VmOp;

/// The most bytes one [`VmOp::UserWrite`] or [`VmOp::KernelWrite`] materialises; longer
/// lengths are clamped (the data is generated by the interpreter, not carried in the op).
pub const MAX_WRITE_BYTES: u64 = 1 << 20;

/// An index into one of the interpreter's tables (processes, MDLs, IRPs, returned VAs).
///
/// Indices wrap modulo the table's length, so every value names something once the
/// table is non-empty.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Ix {
    /// The n-th object created (0-based), modulo the table's length.
    Nth(u16),
    /// The n-th most recent object (0 = the last created), modulo the table's length.
    Recent(u16),
    /// The n-th most recent object that is still alive (a live MDL, an IRP not freed, a
    /// running process); as [`Ix::Recent`] when none is alive. VAs are always "alive".
    Live(u16),
}

impl Ix {
    /// Resolves against `table`; `alive` says which entries are still live.
    fn resolve<T: Copy>(self, table: &[T], alive: impl Fn(&T) -> bool) -> Option<T> {
        let len = table.len();
        if len == 0 {
            return None;
        }
        let recent = |n: u16| table[len - 1 - (n as usize % len)];
        match self {
            Ix::Nth(n) => Some(table[n as usize % len]),
            Ix::Recent(n) => Some(recent(n)),
            Ix::Live(n) => {
                let live: Vec<T> = table.iter().rev().copied().filter(|t| alive(t)).collect();
                if live.is_empty() {
                    Some(recent(n))
                } else {
                    Some(live[n as usize % live.len()])
                }
            }
        }
    }
}

/// A virtual address argument.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub enum Addr {
    /// A raw address.
    Raw(u64),
    /// A VA the machine returned earlier (see the module docs), plus a signed offset
    /// (wrapping). With no VA returned yet, the base is 0.
    Returned {
        /// Which returned VA.
        ix: Ix,
        /// Bytes to add (wrapping).
        offset: i64,
    },
    /// `MmGetMdlVirtualAddress` of an MDL, plus a signed offset (wrapping); 0 for a
    /// NULL or freed MDL.
    OfMdl {
        /// Which MDL.
        mdl: Ix,
        /// Bytes to add (wrapping).
        offset: i64,
    },
}

impl Addr {
    /// A returned VA plus `offset`.
    pub const fn at(ix: Ix, offset: i64) -> Addr {
        Addr::Returned { ix, offset }
    }
}

/// One call a test can make on the machine.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// Processes, threads and context.
    Process(ProcessOp),
    /// Virtual memory and accesses.
    Vm(VmOp),
    /// Non-paged pool.
    Pool(PoolOp),
    /// MDL routines and MDL field writes.
    Mdl(MdlOp),
    /// IRPs.
    Irp(IrpOp),
    /// The I/O manager.
    Io(IoOp),
}

impl Op {
    /// The name of the routine the op calls (its DDI name where it has one); stable,
    /// one per variant.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Process(op) => op.name(),
            Op::Vm(op) => op.name(),
            Op::Pool(op) => op.name(),
            Op::Mdl(op) => op.name(),
            Op::Irp(op) => op.name(),
            Op::Io(op) => op.name(),
        }
    }

    /// Every name [`Op::name`] can return, one per variant, grouped by layer: the names
    /// of [`examples`].
    pub fn names() -> Vec<&'static str> {
        examples().iter().map(Op::name).collect()
    }
}

/// One op of every variant, grouped by layer, with arguments that name the most recent
/// objects: what a test iterates over to reach every routine (after a bug check, every
/// one of them must return it). A unit test fails when a variant has no example.
pub fn examples() -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    ops.extend(ProcessOp::examples().into_iter().map(Op::Process));
    ops.extend(VmOp::examples().into_iter().map(Op::Vm));
    ops.extend(PoolOp::examples().into_iter().map(Op::Pool));
    ops.extend(MdlOp::examples().into_iter().map(Op::Mdl));
    ops.extend(IrpOp::examples().into_iter().map(Op::Irp));
    ops.extend(IoOp::examples().into_iter().map(Op::Io));
    ops
}

/// A handle no arena ever issued (index `u32::MAX`): what an empty table resolves to.
const NEVER: Handle = Handle::NEVER;

/// Applies [`Op`]s to a [`Machine`] it owns, keeping the tables ops index into.
#[derive(Clone, Debug)]
pub struct Interpreter {
    machine: Machine,
    processes: Vec<Pid>,
    mdls: Vec<MdlId>,
    irps: Vec<IrpId>,
    vas: Vec<Va>,
    drivers: Vec<(DriverId, BuiltinDriver)>,
    devices: Vec<DeviceId>,
    threads: Vec<Tid>,
}

impl Interpreter {
    /// An interpreter over a fresh machine.
    ///
    /// # Errors
    /// As [`Machine::new`].
    pub fn new(config: Config) -> Result<Interpreter> {
        Ok(Interpreter::with_machine(Machine::new(config)?))
    }

    /// An interpreter over an existing machine (its objects are not in the tables).
    pub fn with_machine(machine: Machine) -> Interpreter {
        Interpreter {
            machine,
            processes: Vec::new(),
            mdls: Vec::new(),
            irps: Vec::new(),
            vas: Vec::new(),
            drivers: Vec::new(),
            devices: Vec::new(),
            threads: Vec::new(),
        }
    }

    /// The machine.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The machine, mutably (for steps no op expresses).
    pub fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// Gives the machine back.
    pub fn into_machine(self) -> Machine {
        self.machine
    }

    /// Processes created through ops, in order.
    pub fn processes(&self) -> &[Pid] {
        &self.processes
    }

    /// MDLs created through ops, in order (freed ones included).
    pub fn mdls(&self) -> &[MdlId] {
        &self.mdls
    }

    /// IRPs allocated through ops, in order (freed ones included).
    pub fn irps(&self) -> &[IrpId] {
        &self.irps
    }

    /// VAs returned by ops, in order.
    pub fn vas(&self) -> &[Va] {
        &self.vas
    }

    /// Devices created through ops, in order.
    pub fn devices(&self) -> &[DeviceId] {
        &self.devices
    }

    /// Drivers registered through ops, in order.
    pub fn drivers(&self) -> &[(DriverId, BuiltinDriver)] {
        &self.drivers
    }

    /// Threads known to the interpreter (each process's first thread, each thread
    /// created), in order.
    pub fn threads(&self) -> &[Tid] {
        &self.threads
    }

    /// Applies every op in order and returns their outcomes (it does not stop at a
    /// crash: a crashed machine answers every later op with its bug check).
    pub fn run(&mut self, ops: &[Op]) -> Vec<Outcome> {
        ops.iter().map(|op| self.apply(op)).collect()
    }

    /// Applies one op.
    pub fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Process(op) => self.apply_process(op),
            Op::Vm(op) => self.apply_vm(op),
            Op::Pool(op) => self.apply_pool(op),
            Op::Mdl(op) => self.apply_mdl(op),
            Op::Irp(op) => self.apply_irp(op),
            Op::Io(op) => self.apply_io(op),
        }
        .into()
    }

    // ----- resolution --------------------------------------------------------------------

    fn process(&self, ix: Ix) -> Pid {
        let m = &self.machine;
        ix.resolve(&self.processes, |p| {
            m.process(*p).is_ok_and(|p| p.is_alive())
        })
        .unwrap_or(Pid(0))
    }

    fn mdl(&self, ix: Option<Ix>) -> Option<MdlId> {
        let m = &self.machine;
        ix?.resolve(&self.mdls, |id| m.mdl(*id).is_ok())
    }

    fn irp(&self, ix: Ix) -> IrpId {
        let m = &self.machine;
        ix.resolve(&self.irps, |id| m.irp(*id).is_ok())
            .unwrap_or(IrpId(NEVER))
    }

    fn device(&self, ix: Ix) -> DeviceId {
        ix.resolve(&self.devices, |_| true)
            .unwrap_or(DeviceId(u32::MAX))
    }

    fn thread(&self, ix: Ix) -> Tid {
        let m = &self.machine;
        ix.resolve(&self.threads, |t| m.thread(*t).is_ok_and(|t| t.alive))
            .unwrap_or(Tid(0))
    }

    fn addr(&self, a: Addr) -> Va {
        match a {
            Addr::Raw(v) => Va(v),
            Addr::Returned { ix, offset } => {
                let base = ix.resolve(&self.vas, |_| true).unwrap_or(Va(0));
                Va(base.0.wrapping_add_signed(offset))
            }
            Addr::OfMdl { mdl, offset } => {
                let base = self
                    .mdl(Some(mdl))
                    .and_then(|id| self.machine.mdl(id).ok())
                    .map_or(Va(0), |m| m.virtual_address());
                Va(base.0.wrapping_add_signed(offset))
            }
        }
    }

    // ----- recording results -------------------------------------------------------------

    fn new_va(&mut self, va: Option<Va>) -> Value {
        match va {
            Some(va) => {
                self.vas.push(va);
                Value::Va {
                    ix: (self.vas.len() - 1) as u32,
                    va,
                }
            }
            None => Value::Null,
        }
    }

    fn new_mdl(&mut self, id: Option<MdlId>) -> Value {
        match id {
            Some(id) => {
                self.mdls.push(id);
                Value::Mdl {
                    ix: (self.mdls.len() - 1) as u32,
                    id,
                }
            }
            None => Value::Null,
        }
    }

    /// What a read of `b` returns ([`Value::Bytes`]: length and FNV-1a hash), so a caller
    /// can compare a read's outcome with the bytes it expects.
    pub fn bytes(b: &[u8]) -> Value {
        Value::Bytes {
            len: b.len() as u64,
            hash: fnv1a(b),
        }
    }

    /// The bytes a [`VmOp::UserWrite`] or [`VmOp::KernelWrite`] of `len` bytes with `seed`
    /// writes (and the record an [`IoOp::FsRtlNotifyFullReportChange`] reports): `seed`,
    /// `seed + 1`, ... (wrapping), at most [`MAX_WRITE_BYTES`].
    pub fn pattern(len: u64, seed: u8) -> Vec<u8> {
        let n = len.min(MAX_WRITE_BYTES) as usize;
        (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
    }
}
