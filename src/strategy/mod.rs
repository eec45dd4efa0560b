//! Proxy-file-system strategies: how a driver exposes a client's I/O buffer to a
//! user-mode server process, and how it retires the request afterwards
//! ([design.md, "Strategies and the harness"][design-strategies]).
//!
//! A client issues a READ or WRITE whose buffer may start and end anywhere in a page.
//! The I/O manager hands the driver a locked MDL over it (`DO_DIRECT_IO`, [semantics §5.2];
//! `None` for a zero-length request, [§5.5]). A [`ProxyStrategy`] is the driver's algorithm,
//! in two steps written only against the [`Kernel`], the DDIs driver code may call:
//!
//! * [`ProxyStrategy::expose`], before the server runs: returns what the server sees, an
//!   address and length in the *server's* address space ([`Exposure::Mapped`]), or a
//!   refusal ([`Exposure::Refused`]) that completes the request with that status;
//! * [`ProxyStrategy::retire`], after the server replied (or exited, or the request was
//!   cancelled): undoes whatever `expose` built, copies data back for a read, and returns
//!   the [`Completion`] the client will see. The driver stores it in `Irp->IoStatus` and
//!   calls `IoCompleteRequest`, whose stage 1 unlocks and stage 2 frees the request's MDL.
//!
//! Under [`crate::verify`] every request goes through the I/O manager: the client thread's
//! `NtReadFile` / `NtWriteFile` to a `DO_DIRECT_IO` device of
//! [`crate::verify::ProxyDriver`], which pends the IRP with a cancel routine; the server
//! fetches it (`expose`), replies (`retire`), or the request is cancelled (`retire` in the
//! cancel routine). A strategy lives in that driver for the duration of a case, so it must
//! be `Send` (and `Clone`: the harness runs a fresh clone per case).
//!
//! `expose` runs in the server's context (the server thread fetched the request).
//! `retire` runs in **an arbitrary context**: the server's after a normal reply or when
//! the server exits (its cleanup), the client's when the client exits, a system thread's
//! when the request is cancelled. A strategy must therefore attach to the server to unmap
//! a user mapping ([semantics §3.8]: a user unmap must run in the owning process).
//!
//! Built-in strategies, each with its expected verdict under [`crate::verify`]:
//!
//! | strategy | expected verdict |
//! |---|---|
//! | [`BounceCopy`] | passes |
//! | [`HeadTailSplice`] | passes (the [proxy file system][design-proxy]'s head/tail substitution done right) |
//! | [`PartialMdlSplit`] | passes |
//! | [`CopySmallMapLarge`] | passes (WinFsp's policy) |
//! | [`broken::DirectMap`] | PartialPageExposure |
//! | [`broken::UnzeroedBounce`] | UnsanitizedSubstitute |
//! | [`broken::UnzeroedSubstitute`] | UnsanitizedSubstitute |
//! | [`broken::CopyBackAll`] | CopyBackError |
//! | [`broken::UnlockPartial`] | UnlockMisuse |
//! | [`broken::LeakSecondLock`] | LockLeak |
//! | [`broken::UncheckedNullMdl`] | ZeroLengthOrNullMdl |
//! | [`broken::WritableWriteSplice`] | AccessModeMismatch |
//! | [`broken::FreeSubstituteWhileMapped`] | FreeWhileMapped |
//! | [`portname::PortNameInPlace`] | DoubleFetch (the PortName example of ["Errors in Direct I/O"][design-direct-io]) |
//! | [`portname::PortNameCaptured`] | passes (the PortName example fixed) |
//!
//! Beyond the built-ins, the [`zoo`] holds strategies reproducing cited field bugs and
//! correct designs written differently (not in [`builtins`]).
//!
//! [design-strategies]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#strategies-and-the-harness
//! [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
//! [§5.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.5
//! [semantics §3.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.8
//! [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
//! [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors

pub mod broken;
mod correct;
mod helpers;
pub mod portname;
mod splice;
pub mod zoo;

pub use correct::{BounceCopy, CopySmallMapLarge, PartialMdlSplit};
pub use helpers::{SubstitutePage, find_free_user_range, map_into, nt_success, unmap_from};
pub use splice::HeadTailSplice;

use crate::addr::Va;
use crate::fault::Result;
use crate::machine::Kernel;
use crate::mdl::MdlId;
use crate::oracle::BugClass;
use crate::space::Pid;
use crate::status::NtStatus;
use serde::{Deserialize, Serialize};

pub use crate::io::Direction;

/// The request as the driver sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Io {
    /// The requesting process.
    pub client: Pid,
    /// The user-mode file system process.
    pub server: Pid,
    /// READ or WRITE.
    pub direction: Direction,
    /// The client's buffer (`MmGetMdlVirtualAddress`), in the client's space.
    pub buffer: Va,
    /// Its length in bytes.
    pub length: u32,
    /// `Irp->MdlAddress`: locked by the I/O manager, `None` for a zero-length request.
    pub mdl: Option<MdlId>,
}

/// What the server gets to see.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Exposure {
    /// `len` bytes at `va` in the server's address space (`len` may be 0, `va` then unused).
    Mapped {
        /// Start of the data in the server's space.
        va: Va,
        /// Number of bytes the server should transfer.
        len: u64,
    },
    /// The driver completes the request at once with this (failure) status.
    Refused(NtStatus),
}

/// Why a request's `retire` runs: the server replied, the request was cancelled
/// (`IoCancelIrp`), the client's thread is exiting (its I/O is cancelled by
/// `IoCancelThreadIo`: the cancel routine sees `PsIsThreadTerminating` of the IRP's
/// thread), or the server exited holding it. A strategy's cleanup may differ per path
/// (a client that is exiting needs no data copied back); the context `retire` runs in
/// differs too (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum RetireReason {
    /// The server's reply.
    Reply,
    /// The IRP's cancel routine, for `IoCancelIrp`.
    Cancel,
    /// The IRP's cancel routine, for the exit of the client thread that issued it.
    ClientExit,
    /// The server process exited while it held the request.
    ServerExit,
}

impl RetireReason {
    /// The stable name reports print: `reply`, `cancel`, `client exit`, `server exit`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RetireReason::Reply => "reply",
            RetireReason::Cancel => "cancel",
            RetireReason::ClientExit => "client exit",
            RetireReason::ServerExit => "server exit",
        }
    }
}

impl std::fmt::Display for RetireReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server's answer (`IoStatus` of its reply).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ServerReply {
    /// Status the server reports; `STATUS_CANCELLED` when it exited or the request was cancelled.
    pub status: NtStatus,
    /// Bytes it transferred.
    pub information: u64,
}

/// The completion the driver reports to the client (`Irp->IoStatus`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Completion {
    /// `IoStatus.Status`.
    pub status: NtStatus,
    /// `IoStatus.Information`: bytes delivered.
    pub information: u64,
}

/// A driver's buffer-exposure algorithm ([design.md, "Strategies and the harness"][design-strategies]).
///
/// A strategy keeps whatever it built between `expose` and `retire` in `self`; the
/// harness clones a fresh strategy for every case.
///
/// [design-strategies]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#strategies-and-the-harness
pub trait ProxyStrategy {
    /// A short name for reports.
    fn name(&self) -> String;

    /// Before the server runs (in the server's context): decide what the server sees.
    ///
    /// # Errors
    /// A [`crate::Fault`] escaping here is what the driver would do to the system: a bug
    /// check, or an exception no one catches. The oracle reports it.
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure>;

    /// After the server replied, exited, or the request was cancelled (any context):
    /// undo the exposure and say what the client gets. Called only after
    /// [`Exposure::Mapped`]; `why` says which of those happened.
    ///
    /// # Errors
    /// As for `expose`.
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> Result<Completion>;

    /// What the harness should find: `None` for a strategy meant to be correct.
    fn expected(&self) -> Option<BugClass> {
        None
    }
}

impl<T: ProxyStrategy + ?Sized> ProxyStrategy for Box<T> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        (**self).expose(k, io)
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> Result<Completion> {
        (**self).retire(k, io, reply, why)
    }
    fn expected(&self) -> Option<BugClass> {
        (**self).expected()
    }
}

/// Every built-in strategy, fresh, with its name (correct ones first).
pub fn builtins() -> Vec<Box<dyn ProxyStrategyClone>> {
    vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
        Box::new(PartialMdlSplit::default()),
        Box::new(CopySmallMapLarge::default()),
        Box::new(portname::PortNameCaptured::default()),
        Box::new(broken::DirectMap::default()),
        Box::new(broken::UnzeroedBounce::default()),
        Box::new(broken::UnzeroedSubstitute::default()),
        Box::new(broken::CopyBackAll::default()),
        Box::new(broken::UnlockPartial::default()),
        Box::new(broken::LeakSecondLock::default()),
        Box::new(broken::UncheckedNullMdl::default()),
        Box::new(broken::WritableWriteSplice::default()),
        Box::new(broken::FreeSubstituteWhileMapped::default()),
        Box::new(portname::PortNameInPlace::default()),
    ]
}

/// The built-in strategies documented as correct that the benchmarks and the
/// performance report compare (`BounceCopy`, `HeadTailSplice`, `PartialMdlSplit`,
/// `CopySmallMapLarge`), in report order.
pub fn correct_builtins() -> Vec<Box<dyn ProxyStrategyClone>> {
    vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
        Box::new(PartialMdlSplit::default()),
        Box::new(CopySmallMapLarge::default()),
    ]
}

/// A [`ProxyStrategy`] that can be cloned behind a `Box` (what [`builtins`] returns).
pub trait ProxyStrategyClone: ProxyStrategy + Send {
    /// A fresh boxed copy.
    fn clone_box(&self) -> Box<dyn ProxyStrategyClone>;
}

impl<T: ProxyStrategy + Clone + Send + 'static> ProxyStrategyClone for T {
    fn clone_box(&self) -> Box<dyn ProxyStrategyClone> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn ProxyStrategyClone> {
    fn clone(&self) -> Self {
        (**self).clone_box()
    }
}

impl std::fmt::Display for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exposure::Mapped { va, len } => write!(f, "mapped {len} byte(s) at {va}"),
            Exposure::Refused(s) => write!(f, "refused with {s}"),
        }
    }
}

impl std::fmt::Display for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, Information {}", self.status, self.information)
    }
}

impl std::fmt::Display for ServerReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, Information {}", self.status, self.information)
    }
}
