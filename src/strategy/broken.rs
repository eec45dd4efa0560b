//! Deliberately broken strategies, each violating one rule, so the tests prove the
//! oracle catches it ([design.md][design-strategies]: "a checker that cannot fail is worthless").
//!
//! [design.md]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md
//! [design-strategies]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#strategies-and-the-harness

use super::correct::{BounceKnobs, SplitKnobs};
use super::helpers::{map_into, nt_success, unmap_from};
use super::splice::SpliceKnobs;
use super::{
    BounceCopy, Completion, Direction, Exposure, HeadTailSplice, Io, PartialMdlSplit,
    ProxyStrategy, ServerReply,
};
use crate::addr::Va;
use crate::fault::Result;
use crate::machine::Kernel;
use crate::oracle::BugClass;
use crate::status::NtStatus;
use crate::strategy::RetireReason;

/// Defines a broken strategy as a correct one with one knob turned.
macro_rules! broken {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $knobs:expr, $class:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name($inner);

        impl Default for $name {
            fn default() -> Self {
                let mut s = $inner::default();
                s.knobs = $knobs;
                $name(s)
            }
        }

        impl ProxyStrategy for $name {
            fn name(&self) -> String {
                stringify!($name).into()
            }
            fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
                self.0.expose(k, io)
            }
            fn retire(&mut self, k: &mut Kernel<'_>, io: &Io, reply: ServerReply, why: RetireReason) -> Result<Completion> {
                self.0.retire(k, io, reply, why)
            }
            fn expected(&self) -> Option<BugClass> {
                Some(BugClass::$class)
            }
        }
    };
}

broken!(
    /// [`BounceCopy`] with an `ExAllocatePoolWithTag` buffer that is never zeroed: the
    /// rest of its last page (and, for a READ, everything the server has not written
    /// yet) holds the previous owner's bytes, which the server reads.
    ///
    /// Expected verdict: UnsanitizedSubstitute.
    UnzeroedBounce, BounceCopy,
    BounceKnobs { unzeroed: true, ..BounceKnobs::default() },
    UnsanitizedSubstitute
);

broken!(
    /// [`BounceCopy`] that copies back the whole length after a READ, ignoring
    /// `Information`: a short transfer overwrites the client's bytes past `Information`
    /// with the bounce buffer's zeros.
    ///
    /// Expected verdict: CopyBackError.
    CopyBackAll, BounceCopy,
    BounceKnobs { copy_back_all: true, ..BounceKnobs::default() },
    CopyBackError
);

broken!(
    /// [`BounceCopy`] that calls `MmGetSystemAddressForMdlSafe(Irp->MdlAddress)` without
    /// checking for the NULL MDL of a zero-length request (["Errors in Direct I/O"][design-direct-io]).
    ///
    /// Expected verdict: ZeroLengthOrNullMdl.
    ///
    /// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
    UncheckedNullMdl, BounceCopy,
    BounceKnobs { skip_null_check: true, ..BounceKnobs::default() },
    ZeroLengthOrNullMdl
);

broken!(
    /// [`BounceCopy`] that locks the client's buffer a second time through its own MDL
    /// (`MmProbeAndLockProcessPages`) to get a system address, and at retire unmaps and
    /// `IoFreeMdl`s that MDL without `MmUnlockPages`: the lock leaks ([semantics §3.3]), and
    /// the client's exit bug-checks `PROCESS_HAS_LOCKED_PAGES` ([§6]).
    ///
    /// Expected verdict: LockLeak.
    ///
    /// [semantics §3.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.3
    /// [§6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    LeakSecondLock, BounceCopy,
    BounceKnobs { own_lock_leak: true, ..BounceKnobs::default() },
    LockLeak
);

broken!(
    /// [`PartialMdlSplit`] that `MmUnlockPages` its partial MDL at retire, as if it held
    /// a lock of its own (invariants [8][invariant 8], [24][invariant 24]).
    ///
    /// Expected verdict: UnlockMisuse.
    ///
    /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
    /// [invariant 24]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-24
    UnlockPartial, PartialMdlSplit,
    SplitKnobs { unlock_partial: true },
    UnlockMisuse
);

broken!(
    /// [`HeadTailSplice`] that maps a WRITE's pages writable into the server: the server
    /// can change the client's WRITE buffer.
    ///
    /// Expected verdict: AccessModeMismatch.
    WritableWriteSplice, HeadTailSplice,
    SpliceKnobs { writable_for_writes: true, ..SpliceKnobs::default() },
    AccessModeMismatch
);

broken!(
    /// [`HeadTailSplice`] that frees its substitute pages before unmapping the server's
    /// view: for a moment the server's PTEs map free pages ([semantics §3.10]).
    ///
    /// Expected verdict: FreeWhileMapped.
    ///
    /// [semantics §3.10]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.10
    FreeSubstituteWhileMapped, HeadTailSplice,
    SpliceKnobs { free_before_unmap: true, ..SpliceKnobs::default() },
    FreeWhileMapped
);

broken!(
    /// [`HeadTailSplice`] whose substitute pages come from `MmAllocatePagesForMdlEx` with
    /// `MM_DONT_ZERO_ALLOCATION` and are never zeroed (step 3 of the [proxy file system's head/tail
    /// substitution][design-proxy] without zeroing them): the server reads the previous owner's bytes around the range.
    ///
    /// Expected verdict: UnsanitizedSubstitute.
    ///
    /// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
    UnzeroedSubstitute, HeadTailSplice,
    SpliceKnobs { unzeroed_substitutes: true, ..SpliceKnobs::default() },
    UnsanitizedSubstitute
);

/// The "obvious" zero-copy of the [proxy file system][design-proxy] without the fix: map the request's MDL straight
/// into the server (read-only for a WRITE). The server reaches every byte of the first
/// and last pages, inside the range or not.
///
/// Expected verdict: PartialPageExposure.
///
/// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
#[derive(Clone, Debug, Default)]
pub struct DirectMap {
    view: Option<Va>,
}

impl ProxyStrategy for DirectMap {
    fn name(&self) -> String {
        "DirectMap".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let Some(mdl) = io.mdl else {
            return Ok(Exposure::Mapped {
                va: Va::NULL,
                len: 0,
            });
        };
        let writable = io.direction == Direction::Read;
        let Some(view) = map_into(k, io.server, mdl, None, writable)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        self.view = Some(view);
        Ok(Exposure::Mapped {
            va: view,
            len: io.length as u64,
        })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        if let (Some(view), Some(mdl)) = (self.view.take(), io.mdl) {
            unmap_from(k, io.server, view, mdl)?;
        }
        let ok = nt_success(reply.status);
        Ok(Completion {
            status: reply.status,
            information: if ok {
                reply.information.min(io.length as u64)
            } else {
                0
            },
        })
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::PartialPageExposure)
    }
}
