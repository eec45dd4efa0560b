//! A driver's C code as a [`ProxyStrategy`]: `MdlsimExpose` and `MdlsimRetire` run
//! against the model through [`crate::run`], so `mdlsim::verify` judges the C code as
//! it judges a Rust strategy.

use crate::driver::{BuildError, Driver};
use crate::layout::Layout;
use crate::run::{Thunk, run};
use mdlsim::Kernel;
use mdlsim::addr::Va;
use mdlsim::oracle::BugClass;
use mdlsim::status::NtStatus;
use mdlsim::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply,
};
use std::ffi::c_void;
use std::sync::Arc;

/// `MDLSIM_CONTEXT_SIZE`: the bytes a request's context holds.
pub const CONTEXT_SIZE: usize = 1024;

/// `MDLSIM_IO` (`<mdlsim/wdk.h>`).
#[repr(C)]
struct CIo {
    client: u64,
    server: u64,
    direction: u32,
    length: u32,
    buffer: u64,
    mdl: u64,
}

/// `MDLSIM_EXPOSURE`.
#[repr(C)]
#[derive(Default)]
struct CExposure {
    address: u64,
    length: u64,
}

/// `IO_STATUS_BLOCK`.
#[repr(C)]
#[derive(Default)]
struct CIoStatus {
    status: u64,
    information: u64,
}

/// `MDLSIM_EXPOSE_ARGS` (`runtime/host_abi.h`).
#[repr(C)]
struct ExposeArgs {
    io: *const CIo,
    context: *mut u8,
    exposure: *mut CExposure,
    result: i32,
}

/// `MDLSIM_RETIRE_ARGS`.
#[repr(C)]
struct RetireArgs {
    io: *const CIo,
    context: *mut u8,
    reply: *const CIoStatus,
    why: u32,
    completion: *mut CIoStatus,
}

/// A proxy strategy written in C: a [`Driver`] whose `MdlsimExpose` and
/// `MdlsimRetire` run as [`ProxyStrategy::expose`] and [`ProxyStrategy::retire`].
///
/// Clones share the loaded code; each keeps its own request context (the `PVOID`
/// `MdlsimExpose` stores), as the harness needs a fresh strategy per case.
#[derive(Clone, Debug)]
pub struct NativeStrategy {
    driver: Arc<Driver>,
    /// The request's `MDLSIM_CONTEXT_SIZE` bytes (`Context` of both entry points).
    context: Box<[u8; CONTEXT_SIZE]>,
    expected: Option<BugClass>,
}

impl NativeStrategy {
    /// The strategy of a compiled driver, expected to pass.
    ///
    /// # Errors
    /// [`BuildError::Load`] when the driver does not define both `MdlsimExpose` and
    /// `MdlsimRetire`.
    pub fn new(driver: Driver) -> Result<NativeStrategy, BuildError> {
        if !driver.is_strategy {
            return Err(BuildError::Load(format!(
                "{}: a strategy defines MdlsimExpose and MdlsimRetire",
                driver.name()
            )));
        }
        Ok(NativeStrategy {
            driver: Arc::new(driver),
            context: Box::new([0; CONTEXT_SIZE]),
            expected: None,
        })
    }

    /// The same strategy, documented as broken with `class` (what the harness must find).
    pub fn expecting(mut self, class: BugClass) -> NativeStrategy {
        self.expected = Some(class);
        self
    }

    fn c_io(layout: Layout, io: &Io) -> CIo {
        let host = |va: Va| layout.host(va).unwrap_or(va.raw());
        CIo {
            client: layout.process(io.client.0),
            server: layout.process(io.server.0),
            direction: match io.direction {
                Direction::Read => 0,
                Direction::Write => 1,
            },
            length: io.length,
            buffer: host(io.buffer),
            mdl: io
                .mdl
                .and_then(|m| layout.mdl(crate::layout::mdl_slot(m)))
                .unwrap_or(0),
        }
    }

    fn call(&self, k: &mut Kernel<'_>, thunk: Thunk, args: *mut c_void) -> mdlsim::Result<()> {
        run(k, thunk, args, self.driver.trace)
    }
}

impl ProxyStrategy for NativeStrategy {
    fn name(&self) -> String {
        self.driver.name().to_string()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> mdlsim::Result<Exposure> {
        let layout = crate::run::layout()?;
        let cio = Self::c_io(layout, io);
        self.context.fill(0);
        let mut exposure = CExposure::default();
        let mut args = ExposeArgs {
            io: &cio,
            context: self.context.as_mut_ptr(),
            exposure: &mut exposure,
            result: 0,
        };
        self.call(k, self.driver.expose, (&mut args as *mut ExposeArgs).cast())?;
        let status = NtStatus(args.result as u32);
        if args.result < 0 {
            return Ok(Exposure::Refused(status));
        }
        Ok(Exposure::Mapped {
            va: crate::ddi::model_va(layout, exposure.address),
            len: exposure.length,
        })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> mdlsim::Result<Completion> {
        let cio = Self::c_io(crate::run::layout()?, io);
        let creply = CIoStatus {
            status: u64::from(reply.status.0),
            information: reply.information,
        };
        let mut completion = CIoStatus::default();
        let mut args = RetireArgs {
            io: &cio,
            context: self.context.as_mut_ptr(),
            reply: &creply,
            why: match why {
                RetireReason::Reply => 0,
                RetireReason::Cancel => 1,
                RetireReason::ClientExit => 2,
                RetireReason::ServerExit => 3,
            },
            completion: &mut completion,
        };
        self.call(k, self.driver.retire, (&mut args as *mut RetireArgs).cast())?;
        Ok(Completion {
            status: NtStatus(completion.status as u32),
            information: completion.information,
        })
    }

    fn expected(&self) -> Option<BugClass> {
        self.expected
    }
}
