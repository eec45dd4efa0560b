//! Protocol events: things the model saw a driver do that Windows lets pass
//! silently (no bug check) but that are bugs — the raw material of the
//! oracle's protocol findings.

use crate::addr::Va;
use crate::mdl::MdlId;
use serde::{Deserialize, Serialize};

/// What was seen.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum EventKind {
    /// `IoFreeMdl` of an MDL that still holds page locks: the locks leak ([semantics §3.3]).
    ///
    /// [semantics §3.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.3
    MdlFreedWhileLocked,
    /// `MmUnlockPages` while a user-mode mapping of the MDL still exists ([invariant 9]).
    ///
    /// [invariant 9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-9
    UnlockedWhileUserMapped,
    /// The PFN array of a locked MDL was changed before unlock: the wrong frames were dereferenced.
    PfnArrayChangedWhileLocked,
    /// A process exited with a user-mode MDL mapping still in it ([invariant 9]).
    ///
    /// [invariant 9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-9
    UserMappingRemovedAtExit,
    /// `MmUnmapLockedPages` of a user address that is no MDL mapping in the current process
    /// (wrong process, or already unmapped): silently ignored ([semantics §3.8]).
    ///
    /// [semantics §3.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.8
    UnmapUnknownUserAddress,
    /// `MmUnmapLockedPages` (user) with a different MDL or address than the mapping was made with.
    UnmapMismatch,
    /// `IoBuildPartialMdl` reused a target that still had its own mapping ([invariant 23]).
    ///
    /// [invariant 23]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-23
    PartialReusedWhileMapped,
    /// `IoBuildPartialMdl` reused a target that still held page locks.
    PartialTargetWasLocked,
    /// One frame mapped with two cache types.
    CacheAttributeConflict,
    /// `MmFreePagesFromMdl` while the pages were still mapped (unmap first, [semantics §3.10]).
    ///
    /// [semantics §3.10]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.10
    FreePagesWhileMapped,
    /// A write through a mapping of an MDL probed for `IoReadAccess` (["Errors in Direct I/O"][design-direct-io]).
    ///
    /// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
    WriteThroughReadProbedMdl,
    /// A source MDL was unlocked or freed while a partial MDL still had its own mapping of it
    /// ([invariant 23]).
    ///
    /// [invariant 23]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-23
    SourceUnlockedWhilePartialMapped,
    /// `MmBuildMdlForNonPagedPool` over an address that is not non-paged pool.
    NonPagedBuildOverOtherMemory,
    /// A driver completed an IRP with `IoStatus.Information` larger than the caller's
    /// buffer: buffered copy-back is not clamped ([semantics §5.7], [invariant 28]).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [invariant 28]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-28
    InformationExceedsBuffer,
    /// Buffered copy-back faulted (the app freed or protected its buffer); the request
    /// failed with the exception code (Windows behaviour, [semantics §9]).
    ///
    /// [semantics §9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    CopyBackFaulted,
    /// An IRP was completed with its cancel routine still set ([invariant 27]).
    ///
    /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
    CompletedWithCancelRoutine,
    /// A dispatch routine returned `STATUS_PENDING` without `IoMarkIrpPending`.
    PendingNotMarked,
    /// An IRP outlived the five-minute rundown wait and was disassociated from its
    /// thread (`IO_DRIVER_CANCEL_TIMEOUT`, [semantics §6]).
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    IrpDisassociated,
    /// A frame went back to the free list while an MDL mapping (system or user) still
    /// named it: whoever gets the frame next shares it with the mapping's holder
    /// ([invariant 9]; Windows lets it pass, Driver Verifier catches only the
    /// `MmFreePagesFromMdl` form).
    ///
    /// [invariant 9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-9
    FrameFreedWhileMapped,
    /// `MmProbeAndLockPages` of a user range that is itself (in part) an MDL's user-mode
    /// mapping: the second lock pins the frames, but the mapping it was taken through
    /// belongs to the first MDL's owner and can be unmapped underneath it (design.md,
    /// "who owns a buffer during direct I/O"). Windows allows it; the model records it.
    ProbedMdlUserMapping,
    /// Driver code dereferenced a user-mode address outside every `__try` block: if the
    /// app frees or protects the page, the exception is unhandled and the system bug
    /// checks (Microsoft, "Handling Exceptions": "drivers must access user-mode buffers
    /// within a try/except block"; [`crate::user_pointers`]).
    UserAccessOutsideTry,
    /// Driver code dereferenced a user-mode address it had not probed in this request
    /// (`ProbeForRead`, or `ProbeForWrite` for a write): a hostile caller's kernel address
    /// would have been read or written the same way ([`crate::user_pointers`]).
    UnprobedUserAccess,
    /// A dispatch routine marked the IRP pending (`IoMarkIrpPending`) and returned a
    /// status other than `STATUS_PENDING` (Microsoft, [`IoMarkIrpPending`]: "the dispatch
    /// routine must return STATUS_PENDING"): the I/O manager runs the completion both ways.
    ///
    /// [`IoMarkIrpPending`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iomarkirppending
    MarkedPendingReturnedOther,
    /// A free build's `IoAllocateMdl` with `Length` 0: the checked build's `ASSERT`
    /// (0x1E) is compiled out and a fixed-size MDL with `ByteCount` 0 comes back
    /// ([`crate::windows::KernelBuild`], [semantics §3.2]); the next MDL routine that
    /// `ASSERT`s a non-zero `ByteCount` meets it.
    ///
    /// [semantics §3.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.2
    ZeroLengthMdlAllocated,
    /// A free build's `IoCompleteRequest` of an IRP whose `IoStatus.Status` is
    /// `STATUS_PENDING`: the checked build's `ASSERT` (0x1E) is compiled out and the IRP
    /// completes, the caller reading `STATUS_PENDING` as its final status
    /// ([`crate::windows::KernelBuild`], [semantics §5.7]).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    CompletedWithStatusPending,
    /// Driver code touched a user-mode address (or probed one) at an IRQL above
    /// `APC_LEVEL`: user memory is pageable, and a page fault at `DISPATCH_LEVEL` is
    /// `DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1)` on Windows whenever the page is not
    /// resident ([semantics §5.9]). The model keeps pages resident, so the access is
    /// made and recorded.
    ///
    /// [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9
    UserAccessAtRaisedIrql,
    /// Driver code touched paged pool at an IRQL above `APC_LEVEL`: paged pool is
    /// pageable, so on Windows the access is `DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1)`
    /// whenever the page has been trimmed — which Driver Verifier's IRQL checking forces
    /// ([semantics §5.9]). The model keeps pages resident, so the access is made and
    /// recorded.
    ///
    /// [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9
    PagedPoolAccessAtRaisedIrql,
    /// Driver code touched pool outside every allocation: past the end of its block,
    /// into a neighbour or a freed block (Microsoft, `ExAllocatePoolWithTag` Remarks:
    /// drivers must access only the bytes they allocated). Windows corrupts the other
    /// block silently (`BAD_POOL_HEADER` later) or, with special pool, bug-checks.
    PoolAccessOutsideAllocation,
    /// `IoReuseIrp` of an IRP still in use: queued by a driver, being dispatched, or with
    /// a cancel routine set (a free build skips that `ASSERT`). Windows reinitialises its
    /// list entry and stack while another component still holds it (Microsoft,
    /// `IoReuseIrp`: only an IRP its caller allocated and owns may be reused).
    IrpReusedWhileInUse,
}

/// One event.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Event {
    /// Machine step.
    pub step: u64,
    /// What.
    pub kind: EventKind,
    /// The MDL involved.
    pub mdl: Option<MdlId>,
    /// An address involved.
    pub va: Option<Va>,
    /// In words.
    pub detail: String,
}
