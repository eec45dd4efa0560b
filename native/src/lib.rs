//! Verify a Windows driver's own C code with mdlsim: a WDK-shaped C interface
//! (`include/mdlsim/wdk.h`) over the model's DDIs, real host memory standing in for the
//! machine's, and the same `verify` harness and oracle as for Rust strategies.
//!
//! ```no_run
//! use mdlsim::verify::{Config, verify};
//! use mdlsim_native::{Driver, NativeStrategy};
//!
//! let driver = Driver::compile("tests/c/bounce.c").expect("compiles");
//! let strategy = NativeStrategy::new(driver).expect("a strategy");
//! let report = verify(&strategy, &Config::default().cases(1000));
//! assert!(report.is_ok(), "{report:?}");
//! ```
//!
//! How it works (README.md has the design, and the plan for Windows hosts):
//!
//! * [`Driver::compile`] builds the C file with the interface and the driver half of the
//!   runtime into a shared object and loads it;
//! * each call into the driver ([`NativeStrategy`]'s `expose` and `retire`) mirrors the
//!   model into host memory — every valid PTE of system space and of the current process
//!   becomes a host mapping of the same frame of one memfd, so aliases alias — and runs
//!   the C code there;
//! * the C code's DDI calls cross back into the model (its stores first, then the DDI,
//!   then the model's state back to the host); a fault becomes what Windows does: a
//!   demand-zero page mapped and the access retried, `STATUS_ACCESS_VIOLATION` raised
//!   into the innermost `__try`, or a bug check that stops the call.
//!
//! Unsafe code is confined to this crate (the model keeps `#![forbid(unsafe_code)]`);
//! every block states why it is sound.
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod callback_data;
mod ddi;
mod device;
mod dispatch;
mod driver;
mod filter;
pub mod host;
mod irps;
pub mod layout;
mod mirror;
pub mod provenance;
mod run;
mod strategy;

pub use ddi::DDIS;
pub use dispatch::NativeDriver;
pub use driver::{BuildError, Driver};
pub use filter::NativeFilter;
pub use run::set_cpu_budget;
pub use strategy::NativeStrategy;

use mdlsim::addr::Va;

/// The host address native code on this thread uses for model address `va` (what to pass
/// to [`Driver::call`] for a pointer argument).
///
/// # Errors
/// A model error if `va` has no window (a system address outside the modelled regions),
/// or if this thread cannot get windows.
pub fn host_address(va: Va) -> mdlsim::Result<u64> {
    let layout = run::layout()?;
    layout.host(va).ok_or_else(|| {
        mdlsim::Fault::Model(mdlsim::ModelError::Unsupported(format!(
            "{va} has no host window"
        )))
    })
}

/// The model address a host address native code used stands for (a pointer a
/// [`Driver::call`] returned).
///
/// # Errors
/// As [`host_address`].
pub fn model_address(host: u64) -> mdlsim::Result<Va> {
    Ok(ddi::model_va(run::layout()?, host))
}
