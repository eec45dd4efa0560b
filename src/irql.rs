//! The processor's interrupt request level (IRQL): what a routine may do depends on it,
//! and Driver Verifier checks each DDI's limit ([semantics §5.9]).
//!
//! The model has one processor. Its IRQL is `PASSIVE_LEVEL` in a system service and
//! while the harness runs, `DISPATCH_LEVEL` in a timer DPC, and whatever the driver
//! raised it to with `KeRaiseIrql` or `KeAcquireSpinLock`. A cancel routine runs after
//! it released the cancel spin lock, at the IRQL of the `IoCancelIrp` caller. Completion routines run at the IRQL of the
//! `IoCompleteRequest` call that runs them.
//!
//! [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9

use serde::{Deserialize, Serialize};
use std::fmt;

/// An IRQL (`KIRQL`), with the amd64 values of `wdm.h`.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct Kirql(pub u8);

impl Kirql {
    /// `PASSIVE_LEVEL` (0): threads, system services, dispatch routines of the top driver.
    pub const PASSIVE_LEVEL: Kirql = Kirql(0);
    /// `APC_LEVEL` (1): asynchronous procedure calls, fast mutexes.
    pub const APC_LEVEL: Kirql = Kirql(1);
    /// `DISPATCH_LEVEL` (2): DPCs, spin locks; no page fault can be serviced.
    pub const DISPATCH_LEVEL: Kirql = Kirql(2);
    /// `HIGH_LEVEL` (15 on amd64): the highest.
    pub const HIGH_LEVEL: Kirql = Kirql(15);

    /// The IRQL as the `u64` a bug check parameter carries.
    pub fn param(self) -> u64 {
        self.0 as u64
    }
}

impl fmt::Display for Kirql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Kirql::PASSIVE_LEVEL => write!(f, "PASSIVE_LEVEL"),
            Kirql::APC_LEVEL => write!(f, "APC_LEVEL"),
            Kirql::DISPATCH_LEVEL => write!(f, "DISPATCH_LEVEL"),
            Kirql(n) => write!(f, "IRQL {n}"),
        }
    }
}
