//! The DDI call log: every call driver code makes through [`Kernel`](super::Kernel), with
//! its arguments and result formatted for a user, while recording is on
//! ([`Machine::record_ddi_calls`]). Off by default: a machine that does not record pays
//! one branch per call and formats nothing.
//!
//! ```
//! use mdlsim::{Config, Machine};
//! let mut m = Machine::new(Config::default()).unwrap();
//! m.record_ddi_calls(true);
//! let va = m.kernel().ex_allocate_pool2(mdlsim::pool::POOL_FLAG_NON_PAGED, 64, u32::from_le_bytes(*b"Test")).unwrap().unwrap();
//! let call = &m.ddi_calls()[0];
//! assert_eq!(call.ddi, "ExAllocatePool2");
//! assert_eq!(call.to_string(), format!("step 1: ExAllocatePool2(flags=POOL_FLAG_NON_PAGED, size=64, tag='Test') -> {va}"));
//! ```

use super::Machine;
use super::driver::MiniFilter;
use crate::addr::Va;
use crate::iostate::device::{DeviceId, DriverId};
use crate::iostate::flt::CallbackData;
use crate::iostate::irp::{IrpId, StackLocation};
use crate::mdl::{AccessMode, CacheType, LockOperation, MdlFlags, MdlId};
use crate::pool::PoolType;
use crate::space::{Pid, Protection, Tid};
use crate::status::NtStatus;
use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

/// One DDI call driver code made.
///
/// Invariant: `first_step` is the machine's step count before the call plus one, and
/// `last_step` its step count after it; a call that made no step (refused at entry) has
/// `last_step < first_step`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdiCall {
    /// The DDI's name (`IoAllocateMdl`).
    pub ddi: &'static str,
    /// The arguments, `name=value` separated by `, `.
    pub args: String,
    /// The result (`ok`, a value, or `fault: ..`).
    pub result: String,
    /// The first step the call took.
    pub first_step: u64,
    /// The last step the call took.
    pub last_step: u64,
    /// How many recorded calls it is nested in (a driver called from inside a DDI).
    pub depth: u32,
}

impl fmt::Display for DdiCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.last_step > self.first_step {
            write!(f, "steps {}..{}: ", self.first_step, self.last_step)?;
        } else {
            write!(f, "step {}: ", self.first_step)?;
        }
        write!(f, "{}({}) -> {}", self.ddi, self.args, self.result)
    }
}

/// The recording state of a machine.
#[derive(Clone, Debug, Default)]
pub(crate) struct DdiLog {
    calls: Vec<DdiCall>,
    depth: u32,
}

impl Machine {
    /// Starts (`true`, clearing what was recorded) or stops recording the DDI calls driver
    /// code makes through its [`Kernel`](super::Kernel).
    pub fn record_ddi_calls(&mut self, on: bool) {
        self.ddi_log = on.then(Box::default);
    }

    /// The DDI calls recorded since [`Machine::record_ddi_calls`]`(true)`, in the order
    /// they were made (a nested call after the call it is inside); empty when off.
    pub fn ddi_calls(&self) -> &[DdiCall] {
        self.ddi_log.as_ref().map_or(&[], |l| &l.calls)
    }

    /// Opens a record for `ddi` when recording (`args` is called only then); its index.
    pub(crate) fn ddi_call_begin(
        &mut self,
        ddi: &'static str,
        args: impl FnOnce() -> String,
    ) -> Option<usize> {
        let step = self.step;
        let log = self.ddi_log.as_mut()?;
        log.calls.push(DdiCall {
            ddi,
            args: args(),
            result: String::new(),
            first_step: step + 1,
            last_step: step,
            depth: log.depth,
        });
        log.depth += 1;
        Some(log.calls.len() - 1)
    }

    /// Closes record `i` with the call's result.
    pub(crate) fn ddi_call_end(&mut self, i: usize, result: String) {
        let step = self.step;
        if let Some(log) = self.ddi_log.as_mut() {
            log.depth = log.depth.saturating_sub(1);
            if let Some(c) = log.calls.get_mut(i) {
                c.result = result;
                c.last_step = step;
            }
        }
    }
}

/// A DDI argument or result as a user reads it: addresses and flags in hex, flags and
/// enumerations by their Windows names, `NULL` for an absent pointer, byte buffers by
/// length. `name` is the parameter's name (it picks hex for addresses and flags).
pub trait DdiArg {
    /// The value, formatted.
    fn show(&self, name: &str) -> String;
}

/// An MDL argument of a DDI: an [`MdlId`], or an `Option<MdlId>` (`None` is a NULL `PMDL`).
pub trait MdlArg: Into<Option<MdlId>> + DdiArg {}
impl MdlArg for MdlId {}
impl MdlArg for Option<MdlId> {}

/// The result of a call, formatted (`ok` for `()`, `fault: ..` for a fault).
pub fn show_result<T: DdiArg>(r: &crate::Result<T>) -> String {
    match r {
        Ok(v) => v.show(""),
        Err(e) => format!("fault: {e}"),
    }
}

/// `name=value, ` for each argument.
pub fn show_args(args: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (i, (n, v)) in args.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{n}={v}");
    }
    s
}

fn flag_names(v: u64, names: &[(u64, &str)]) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .filter(|(bit, _)| v & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let rest = names.iter().fold(v, |acc, (bit, _)| acc & !bit);
    if rest != 0 || parts.is_empty() {
        parts.push(format!("{rest:#x}"));
    }
    parts.join(" | ")
}

fn show_int(v: u64, name: &str) -> String {
    match name {
        "alloc_type" | "free_type" => flag_names(
            v,
            &[
                (0x1000, "MEM_COMMIT"),
                (0x2000, "MEM_RESERVE"),
                (0x4000, "MEM_DECOMMIT"),
                (0x8000, "MEM_RELEASE"),
            ],
        ),
        "flags" => flag_names(
            v,
            &[
                (
                    crate::pool::POOL_FLAG_UNINITIALIZED,
                    "POOL_FLAG_UNINITIALIZED",
                ),
                (crate::pool::POOL_FLAG_NON_PAGED, "POOL_FLAG_NON_PAGED"),
            ],
        ),
        "priority" => {
            let level = match v & 0xffff {
                0 => "LowPagePriority".to_string(),
                16 => "NormalPagePriority".to_string(),
                32 => "HighPagePriority".to_string(),
                n => n.to_string(),
            };
            match v & !0xffff {
                0 => level,
                hi => format!(
                    "{level} | {}",
                    flag_names(
                        hi,
                        &[
                            (0x8000_0000, "MdlMappingNoWrite"),
                            (0x4000_0000, "MdlMappingNoExecute"),
                        ],
                    )
                ),
            }
        }
        "tag" => {
            let b = (v as u32).to_le_bytes();
            if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
                format!("'{}'", String::from_utf8_lossy(&b))
            } else {
                format!("{v:#x}")
            }
        }
        "low" | "high" | "skip" | "context" | "io_control_code" | "value" | "protect" => {
            format!("{v:#x}")
        }
        _ => v.to_string(),
    }
}

macro_rules! ints {
    ($($t:ty),*) => {$(
        impl DdiArg for $t {
            fn show(&self, name: &str) -> String {
                show_int(*self as u64, name)
            }
        }
    )*};
}
ints!(u8, u32, u64);

/// Values with a user-facing `Display`.
macro_rules! displayed {
    ($($t:ty),*) => {$(
        impl DdiArg for $t {
            fn show(&self, _: &str) -> String {
                self.to_string()
            }
        }
    )*};
}
displayed!(Va, MdlId, IrpId, Pid, Tid, NtStatus, bool);

impl<T: DdiArg> DdiArg for Option<T> {
    fn show(&self, name: &str) -> String {
        match self {
            Some(v) => v.show(name),
            None => "NULL".into(),
        }
    }
}

impl DdiArg for () {
    fn show(&self, _: &str) -> String {
        "ok".into()
    }
}

impl DdiArg for DeviceId {
    fn show(&self, _: &str) -> String {
        format!("device {}", self.0)
    }
}

impl DdiArg for DriverId {
    fn show(&self, _: &str) -> String {
        format!("driver {}", self.0)
    }
}

impl DdiArg for Vec<u8> {
    fn show(&self, _: &str) -> String {
        format!("{} byte(s)", self.len())
    }
}

impl DdiArg for &[u8] {
    fn show(&self, _: &str) -> String {
        format!("{} byte(s)", self.len())
    }
}

impl DdiArg for &mut [u8] {
    fn show(&self, _: &str) -> String {
        format!("{} byte(s)", self.len())
    }
}

impl DdiArg for &str {
    fn show(&self, _: &str) -> String {
        format!("\"{}\"", self.escape_default())
    }
}

impl DdiArg for &CallbackData {
    fn show(&self, _: &str) -> String {
        "FLT_CALLBACK_DATA".into()
    }
}

impl DdiArg for &mut CallbackData {
    fn show(&self, _: &str) -> String {
        "FLT_CALLBACK_DATA".into()
    }
}

impl DdiArg for Arc<dyn MiniFilter> {
    fn show(&self, _: &str) -> String {
        "FLT_REGISTRATION".into()
    }
}

impl DdiArg for StackLocation {
    fn show(&self, _: &str) -> String {
        format!("IO_STACK_LOCATION (major {:#x})", self.major_function)
    }
}

impl DdiArg for MdlFlags {
    fn show(&self, _: &str) -> String {
        let mut s = String::new();
        let _ = bitflags::parser::to_writer(self, &mut s);
        if s.is_empty() { "0".into() } else { s }
    }
}

impl DdiArg for AccessMode {
    fn show(&self, _: &str) -> String {
        match self {
            AccessMode::KernelMode => "KernelMode",
            AccessMode::UserMode => "UserMode",
        }
        .into()
    }
}

impl DdiArg for LockOperation {
    fn show(&self, _: &str) -> String {
        match self {
            LockOperation::IoReadAccess => "IoReadAccess",
            LockOperation::IoWriteAccess => "IoWriteAccess",
            LockOperation::IoModifyAccess => "IoModifyAccess",
        }
        .into()
    }
}

impl DdiArg for CacheType {
    fn show(&self, _: &str) -> String {
        match self {
            CacheType::NonCached => "MmNonCached",
            CacheType::Cached => "MmCached",
            CacheType::WriteCombined => "MmWriteCombined",
            CacheType::HardwareCoherentCached => "MmHardwareCoherentCached",
            CacheType::NonCachedUnordered => "MmNonCachedUnordered",
            CacheType::UswcCached => "MmUSWCCached",
        }
        .into()
    }
}

impl DdiArg for crate::irql::Kirql {
    fn show(&self, _name: &str) -> String {
        self.to_string()
    }
}

impl DdiArg for PoolType {
    fn show(&self, _: &str) -> String {
        match self {
            PoolType::NonPaged => "NonPagedPool",
            PoolType::Paged => "PagedPool",
            PoolType::NonPagedNx => "NonPagedPoolNx",
        }
        .into()
    }
}

impl DdiArg for Protection {
    fn show(&self, _: &str) -> String {
        match self {
            Protection::NoAccess => "PAGE_NOACCESS",
            Protection::ReadOnly => "PAGE_READONLY",
            Protection::ReadWrite => "PAGE_READWRITE",
        }
        .into()
    }
}
