//! `verify` for a driver's dispatch routines: a hostile client sends the driver's
//! requests through the real system services (`NtReadFile`, `NtWriteFile`,
//! `NtDeviceIoControlFile`) with buffers of every length — 0, the sizes the driver
//! expects, one byte less or more, several pages, `0xFFFFFFFF` — placed anywhere in a
//! page, NULL, at a kernel address, unmapped, read-only or running past the top of user
//! space; while the driver holds a request, the app frees its buffers, cancels, or
//! exits; the pool or the system PTEs run out. Each case runs on a fresh machine whose
//! freed pool and free frames hold kernel secrets, and the oracle
//! ([`rules`](self#the-rules)) judges it. A failure is shrunk by proptest and returned as
//! a [`DriverCounterexample`]: the findings, the story of the case, the driver's DDI calls
//! and the case as JSON for [`replay`].
//!
//! The driver is any [`Driver`] (the DDI-only [`crate::Kernel`] is all it sees), on a
//! device with its buffering method (`DO_BUFFERED_IO`, `DO_DIRECT_IO` or neither);
//! IOCTLs carry their transfer method in their control code (`METHOD_BUFFERED`,
//! `METHOD_IN_DIRECT`, `METHOD_OUT_DIRECT`, `METHOD_NEITHER`). Pended requests complete
//! however the driver completes them: from its timers (the harness advances the clock),
//! its cancel routine, or the I/O manager's rundown when the app exits.
//!
//! # The rules
//!
//! See [`rules`](rules/index.html) for each rule and its source: faults and protocol
//! events; a hostile kernel pointer followed; a user address touched unprobed or outside
//! `__try` ([`crate::user_pointers`]); no kernel byte the driver did not write reaching
//! user mode; the return value agreeing with the IRP; no double fetch, proved by an
//! interleaving; every lock, mapping, MDL, pool block and IRP given back.
//!
//! # Verifying your driver
//!
//! ```
//! use mdlsim::io::{Driver, DeviceId, IrpId, IoStatusBlock, DO_BUFFERED_IO};
//! use mdlsim::io::ioctl::{ctl_code, METHOD_BUFFERED, FILE_ANY_ACCESS};
//! use mdlsim::{Kernel, NtStatus, Result};
//! use mdlsim::verify::Config;
//! use mdlsim::verify_driver::{self, DriverUnderTest};
//!
//! const IOCTL_VERSION: u32 = ctl_code(0x8000, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
//!
//! /// Returns a 4-byte version, telling the I/O manager it wrote 16 bytes.
//! #[derive(Debug)]
//! struct Version { information: u64 }
//!
//! impl Driver for Version {
//!     fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
//!         let i = k.irp(irp)?.clone();
//!         let loc = k.io_get_current_irp_stack_location(irp)?;
//!         let out_len = match loc.parameters {
//!             mdlsim::io::Parameters::DeviceIoControl { output_buffer_length, .. } => output_buffer_length,
//!             _ => 0,
//!         };
//!         let (status, information) = match i.system_buffer {
//!             Some(b) if out_len >= 16 => {
//!                 k.kernel_write(b, &1u32.to_le_bytes())?;
//!                 (NtStatus::SUCCESS, self.information)
//!             }
//!             _ => (NtStatus::BUFFER_TOO_SMALL, 0),
//!         };
//!         k.irp_mut(irp)?.io_status = IoStatusBlock { status, information };
//!         k.io_complete_request(irp)?;
//!         Ok(status)
//!     }
//! }
//!
//! let config = Config::default().cases(40).seed(7).ignore_env();
//! let honest = DriverUnderTest::new("version", Version { information: 4 })
//!     .buffered_io()
//!     .ioctl(IOCTL_VERSION, 0, 16);
//! assert!(verify_driver::verify(&honest, &config).is_ok());
//!
//! // Information 16 for 4 bytes written: 12 stale pool bytes reach the app.
//! let leaky = DriverUnderTest::new("leaky", Version { information: 16 })
//!     .buffered_io()
//!     .ioctl(IOCTL_VERSION, 0, 16);
//! let cx = verify_driver::verify(&leaky, &config).unwrap_err();
//! assert!(cx.has(mdlsim::oracle::BugClass::KernelBytesToUser));
//! println!("{cx}");
//! ```

pub mod case;
mod counterexample;
pub mod filter;
pub mod rules;
mod run;
pub mod sample;
#[cfg(feature = "proptest")]
mod search;
mod world;

pub use case::{Buffer, DriverCase, Hostile, Place, Request};
pub use counterexample::DriverCounterexample;
pub use run::{DriverRun, run_case};
#[cfg(feature = "proptest")]
pub use search::{arb_case, edge_cases, generated_cases, verify};

use crate::io::fltmgr::MiniFilter;
use crate::io::{DO_BUFFERED_IO, DO_DIRECT_IO, Driver};
use std::sync::Arc;

/// A driver to verify: its code, its device's buffering method and the requests it
/// serves.
#[derive(Clone, Debug)]
pub struct DriverUnderTest {
    /// A name for reports.
    pub name: String,
    /// The driver's code.
    pub code: Arc<dyn Driver>,
    /// The device's flags: `DO_BUFFERED_IO`, `DO_DIRECT_IO` or neither (0).
    pub device_flags: u32,
    /// The requests the harness sends (at least one).
    pub requests: Vec<Request>,
    /// A minifilter above the driver (then `code` is the file system below the filter
    /// manager, and the filter is what is verified).
    pub filter: Option<Arc<dyn MiniFilter>>,
}

impl DriverUnderTest {
    /// `code` on a device that is neither buffered nor direct, serving no request yet.
    pub fn new(name: &str, code: impl Driver + 'static) -> Self {
        DriverUnderTest {
            name: name.to_string(),
            code: Arc::new(code),
            device_flags: 0,
            requests: Vec::new(),
            filter: None,
        }
    }

    /// The minifilter `filter`, registered with the filter manager above a
    /// [`filter::SimpleFs`] volume (a file system that reads and writes through the
    /// caller's buffer and completes directory notifications from a timer through the
    /// FsRtl package), serving no request yet.
    pub fn minifilter(name: &str, filter: impl MiniFilter + 'static) -> Self {
        DriverUnderTest {
            filter: Some(Arc::new(filter)),
            ..DriverUnderTest::new(name, filter::SimpleFs)
        }
    }

    /// The driver serves directory change notifications with a buffer of `length`
    /// bytes (the directory change notification: the file system completes them later,
    /// from another context).
    pub fn notify(mut self, length: u32) -> Self {
        self.requests.push(Request::NotifyDirectory { length });
        self
    }

    /// The device is `DO_BUFFERED_IO`: reads and writes use a SystemBuffer.
    pub fn buffered_io(mut self) -> Self {
        self.device_flags = DO_BUFFERED_IO;
        self
    }

    /// The device is `DO_DIRECT_IO`: reads and writes use an MDL of the caller's buffer.
    pub fn direct_io(mut self) -> Self {
        self.device_flags = DO_DIRECT_IO;
        self
    }

    /// The device is neither: reads and writes get the caller's own pointer.
    pub fn neither_io(mut self) -> Self {
        self.device_flags = 0;
        self
    }

    /// The driver serves `IRP_MJ_READ`.
    pub fn read(mut self) -> Self {
        self.requests.push(Request::Read);
        self
    }

    /// The driver serves `IRP_MJ_WRITE`.
    pub fn write(mut self) -> Self {
        self.requests.push(Request::Write);
        self
    }

    /// The driver serves the IOCTL `code`, expecting `input` and `output` bytes.
    pub fn ioctl(mut self, code: u32, input: u32, output: u32) -> Self {
        self.requests.push(Request::Ioctl {
            code,
            input,
            output,
        });
        self
    }
}

/// A driver of the built-in zoo: the sample driver and the swapping minifilter, correct
/// and with each of their bugs.
#[derive(Clone, Debug)]
pub struct ZooDriver {
    /// The driver, ready for [`verify`].
    pub driver: DriverUnderTest,
    /// The class the harness must name (`None`: it must pass).
    pub expected: Option<crate::oracle::BugClass>,
    /// The real bug pattern it reproduces, with its source.
    pub pattern: &'static str,
}

/// The built-in zoo of drivers ([`sample::DriverBug`] and [`filter::FilterBug`]), correct
/// ones first.
pub fn zoo() -> Vec<ZooDriver> {
    let drivers = sample::DriverBug::ALL.iter().map(|b| ZooDriver {
        driver: b.under_test(),
        expected: b.expected(),
        pattern: b.pattern(),
    });
    let filters = filter::FilterBug::ALL.iter().map(|b| ZooDriver {
        driver: b.under_test(),
        expected: b.expected(),
        pattern: b.pattern(),
    });
    let mut all: Vec<ZooDriver> = drivers.chain(filters).collect();
    all.sort_by_key(|z| z.expected.is_some());
    all
}

/// What a run that found nothing played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverReport {
    /// The driver's name.
    pub driver: String,
    /// Generated cases played.
    pub cases: u32,
    /// Cases of the edge sweep played before them ([`edge_cases`]).
    pub edge_cases: u32,
    /// The seed (rerun with it to play the same cases).
    pub seed: u64,
}

/// Replays a case (from a counter-example's JSON) with the DDI calls recorded.
///
/// # Errors
/// JSON that is not a [`DriverCase`].
pub fn replay(
    dut: &DriverUnderTest,
    json: &str,
    config: &crate::Config,
) -> Result<DriverRun, String> {
    let case = DriverCase::from_json(json)?;
    Ok(run_case(dut, &case, config, true))
}
