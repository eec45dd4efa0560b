//! The oracle: findings as values, decided from shadow memory, the access log, the
//! protocol events and the machine's accounting — never from canaries ([design.md],
//! ["Shadow memory"][design-shadow] and ["Bug classes"][design-bug-classes]).
//!
//! A [`Finding`] names its [`BugClass`] (the [table of design.md][design-bug-classes]), the [`Rule`] it breaks,
//! the machine step and addresses involved, the provenance ([`Label`]) of the offending
//! bytes, and a sentence saying what happened. The rules, for a request of `length`
//! bytes at `buffer` in the client, exposed to a server:
//!
//! * **confidentiality, to the server**: every byte the server reads is zero, its own, or
//!   a client byte whose origin lies inside `[buffer, buffer+length)`;
//! * **confidentiality, to the client**: after completion every byte of the client's
//!   range is its own previous byte, or written by the server — never stale pool bytes,
//!   kernel bytes, a third party's, or the client's own bytes from elsewhere;
//! * **integrity**: no client byte outside the range changes (nor inside it, for a
//!   WRITE); no byte of a bystander process changes;
//! * **delivery**: after a successful READ, the first `Information` bytes of the range
//!   are exactly what the server wrote at the matching offsets of its view; during a
//!   WRITE the server's view holds exactly the client's bytes. **Policy for bytes past
//!   `Information`**: each keeps the client's previous value or holds a byte the server
//!   itself wrote there (through a direct mapping); zero-filling them, or copying
//!   anything else over them, is a CopyBackError;
//! * **hygiene**: after completion, lock counts, system PTEs, pool allocations, MDLs and
//!   mappings are back where they were; after both processes exit, no bug check, no
//!   leaked lock, no dangling PTE, and `audit()` is clean;
//! * **protocol**: faults and events of the model become findings of their class;
//! * **double fetch**: the kernel reading the same byte of a user-writable frame twice
//!   within one dispatch ([`double_fetch`]).
//!
//! [design.md]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md
//! [design-shadow]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shadow-memory
//! [design-bug-classes]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#bug-classes

pub mod blame;
pub mod check;
pub mod double_fetch;
pub mod hygiene;

use crate::addr::Va;
use crate::bugcheck::{
    BugCheckCode, bad_pool_caller, memory_management, process_has_locked_pages, system_pte_misuse,
    verifier,
};
use crate::events::{Event, EventKind};
use crate::fault::Fault;
use crate::shadow::Label;
use crate::space::SpaceId;
use crate::status::NtStatus;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The [bug classes of design.md][design-bug-classes], plus three the harness needs for completeness.
///
/// [design-bug-classes]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#bug-classes
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum BugClass {
    /// The other process can reach bytes of the first/last page outside the range.
    PartialPageExposure,
    /// A substitute or bounce page carries stale or uninitialised bytes.
    UnsanitizedSubstitute,
    /// Read data not copied back, copied to the wrong offset, or stale/zero bytes copied
    /// over the caller's.
    CopyBackError,
    /// Page-count/offset errors: the right number of bytes moved, at the wrong offset.
    SpanArithmetic,
    /// A WRITE's bytes not copied in: the server's view lacks the client's data.
    CopyInError,
    /// An access outside every live mapping or allocation of the buffer it was meant
    /// for (a bug check 0x50 where nothing was completed or freed).
    OutOfBounds,
    /// Mapping an MDL whose pages are not locked.
    MapUnlocked,
    /// Unlocking a substitute, partial or non-paged-pool MDL; double unlock.
    UnlockMisuse,
    /// Pages still locked after completion or at process exit.
    LockLeak,
    /// Unmap with another MDL, address or size, or from the wrong process.
    UnmapMismatch,
    /// PFN array, StartVa or ByteCount changed between map and unmap.
    MdlMutatedWhileMapped,
    /// MDL or substitute freed while mapped.
    FreeWhileMapped,
    /// An MDL or page used after completion (or after it was freed).
    UseAfterComplete,
    /// A user mapping left in an exiting process, or outliving its request.
    MappingOutlivesProcess,
    /// The same user-writable bytes fetched twice by the kernel in one operation.
    DoubleFetch,
    /// A driver dereferenced a user-supplied address it had not probed, or outside
    /// `__try/__except` (a kernel address passed as a METHOD_NEITHER buffer is read or
    /// written; a freed page bug checks).
    UnprobedUserAccess,
    /// Kernel bytes the driver did not write reached user mode: an uninitialised
    /// SystemBuffer or pool block copied back (`Information` past what was written),
    /// stale pool or another process's bytes.
    KernelBytesToUser,
    /// Written through an MDL probed for read; a write buffer mapped writable into the server.
    AccessModeMismatch,
    /// NULL `MdlAddress`, zero `ByteCount` reaching an MDL routine.
    ZeroLengthOrNullMdl,
    /// The dispatch routine's return value and the IRP's fate disagree: a status other
    /// than the `IoStatus.Status` it completed with, `STATUS_PENDING` for a request it
    /// neither pended nor passed on, a non-pending status after `IoMarkIrpPending`, a
    /// request never completed, or completed twice (0x44).
    StatusInconsistent,
    /// A DDI called, or user memory touched, at too high an IRQL: Verifier's IRQL checks
    /// (0xC4 0x30–0x42, 0x70–0x7E), user memory touched at `DISPATCH_LEVEL` (0xD1 when the
    /// page is not resident), a service returning to user mode at a raised IRQL (0x4A).
    IrqlViolation,
    /// A second system mapping of one MDL.
    DuplicateSystemMapping,
    /// One frame mapped with two cache types.
    CacheAttributeConflict,
    /// A VA that is itself an MDL user mapping handed to another probe/lock.
    NestedMappingHazard,
    /// PTE or pool exhaustion, or a raised map failure, not handled.
    ResourceFailureUnhandled,
    /// Pool, MDLs or system PTEs not given back after completion.
    ResourceLeak,
    /// Any other bug check or unhandled exception the strategy caused.
    Crash,
    /// The model's own books do not balance (`audit()`): a model bug, or PFN corruption.
    ModelInvariant,
}

impl BugClass {
    /// Every bug class, in declaration order.
    pub const ALL: [BugClass; 28] = [
        BugClass::PartialPageExposure,
        BugClass::UnsanitizedSubstitute,
        BugClass::CopyBackError,
        BugClass::SpanArithmetic,
        BugClass::CopyInError,
        BugClass::OutOfBounds,
        BugClass::MapUnlocked,
        BugClass::UnlockMisuse,
        BugClass::LockLeak,
        BugClass::UnmapMismatch,
        BugClass::MdlMutatedWhileMapped,
        BugClass::FreeWhileMapped,
        BugClass::UseAfterComplete,
        BugClass::MappingOutlivesProcess,
        BugClass::DoubleFetch,
        BugClass::UnprobedUserAccess,
        BugClass::KernelBytesToUser,
        BugClass::AccessModeMismatch,
        BugClass::ZeroLengthOrNullMdl,
        BugClass::StatusInconsistent,
        BugClass::IrqlViolation,
        BugClass::DuplicateSystemMapping,
        BugClass::CacheAttributeConflict,
        BugClass::NestedMappingHazard,
        BugClass::ResourceFailureUnhandled,
        BugClass::ResourceLeak,
        BugClass::Crash,
        BugClass::ModelInvariant,
    ];
}

impl fmt::Display for BugClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Which oracle rule a finding breaks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Rule {
    /// A byte the server read that it must not see.
    ConfidentialityToServer,
    /// A byte the client found that must not reach it.
    ConfidentialityToClient,
    /// A byte that must not change, changed.
    Integrity,
    /// The data did not arrive as it should.
    Delivery,
    /// Something was not given back.
    Hygiene,
    /// A fault or a protocol event of the model.
    Protocol,
    /// A double fetch.
    DoubleFetch,
}

/// One thing the oracle found.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Finding {
    /// The bug class.
    pub kind: BugClass,
    /// The rule broken.
    pub rule: Rule,
    /// The machine step at which it happened (or was observed).
    pub step: Option<u64>,
    /// The addresses involved (first few), with the space they are in.
    pub addresses: Vec<(SpaceId, Va)>,
    /// Provenance of the offending bytes (first few distinct labels).
    pub provenance: Vec<Label>,
    /// What happened, in words.
    pub detail: String,
}

impl Finding {
    /// A finding without addresses or provenance.
    pub fn new(kind: BugClass, rule: Rule, step: Option<u64>, detail: impl Into<String>) -> Self {
        Finding {
            kind,
            rule,
            step,
            addresses: Vec::new(),
            provenance: Vec::new(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.kind, self.rule)?;
        if let Some(s) = self.step {
            write!(f, " at step {s}")?;
        }
        write!(f, ": {}", self.detail)?;
        for (sp, va) in self.addresses.iter().take(3) {
            write!(f, " [{sp} {va}]")?;
        }
        if !self.provenance.is_empty() {
            let p: Vec<String> = self
                .provenance
                .iter()
                .take(3)
                .map(|l| l.to_string())
                .collect();
            write!(f, " provenance {}", p.join(", "))?;
        }
        Ok(())
    }
}

/// The bug class of a fault a strategy (or the completion after it) caused.
pub fn classify_fault(f: &Fault) -> BugClass {
    match f {
        Fault::BugCheck(b) => {
            let p1 = b.params[0];
            match b.code {
                BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED => {
                    let d = &b.detail;
                    if d.contains("NULL MDL") || d.contains("ByteCount != 0") {
                        BugClass::ZeroLengthOrNullMdl
                    } else if d.contains("PARTIAL") || d.contains("NONPAGED") {
                        BugClass::UnlockMisuse
                    } else {
                        BugClass::Crash
                    }
                }
                BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION => match p1 {
                    verifier::UNLOCK_PAGES_NEVER_LOCKED
                    | verifier::UNLOCK_PAGES_NONPAGED_POOL_MDL
                    | verifier::UNLOCK_PAGES_PARTIAL_MDL => BugClass::UnlockMisuse,
                    verifier::FREE_MDL_STILL_MAPPED => BugClass::FreeWhileMapped,
                    verifier::MAP_LOCKED_PAGES_NOT_LOCKED
                    | verifier::MAP_LOCKED_PAGES_MISSING_MDL_FLAGS
                    | verifier::MAP_IO_SPACE_PAGES_NOT_LOCKED => BugClass::MapUnlocked,
                    verifier::MAP_LOCKED_PAGES_BAD_MDL_FLAGS => BugClass::DuplicateSystemMapping,
                    verifier::UNMAP_LOCKED_PAGES_NOT_MAPPED => BugClass::UnmapMismatch,
                    verifier::UNMAP_LOCKED_PAGES_PARTIAL_MDL => BugClass::UnmapMismatch,
                    verifier::UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS => BugClass::UnmapMismatch,
                    verifier::ALLOCATE_PAGED_POOL_ABOVE_APC_LEVEL
                    | verifier::FREE_PAGED_POOL_ABOVE_APC_LEVEL
                    | verifier::ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL
                    | verifier::FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL
                    | verifier::RAISE_IRQL_INVALID
                    | verifier::LOWER_IRQL_INVALID
                    | verifier::RELEASE_SPIN_LOCK_NOT_AT_DISPATCH_LEVEL
                    | verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH_LEVEL
                    | verifier::PROBE_AND_LOCK_ABOVE_DISPATCH_LEVEL
                    | verifier::PROBE_AND_LOCK_PROCESS_PAGES_ABOVE_DISPATCH_LEVEL
                    | verifier::MAP_SPECIFY_CACHE_KERNEL_ABOVE_DISPATCH_LEVEL
                    | verifier::MAP_SPECIFY_CACHE_USER_ABOVE_APC_LEVEL
                    | verifier::UNLOCK_PAGES_ABOVE_DISPATCH_LEVEL
                    | verifier::UNMAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL
                    | verifier::UNMAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL
                    | verifier::PAGES_FOR_MDL_ABOVE_DISPATCH_LEVEL => BugClass::IrqlViolation,
                    _ => BugClass::Crash,
                },
                BugCheckCode::PFN_LIST_CORRUPT => BugClass::UnlockMisuse,
                BugCheckCode::SYSTEM_PTE_MISUSE => match p1 {
                    system_pte_misuse::MDL_FIRST_PAGE_CHANGED
                    | system_pte_misuse::MDL_START_VA_CHANGED => BugClass::MdlMutatedWhileMapped,
                    _ => BugClass::UnmapMismatch,
                },
                BugCheckCode::NO_MORE_SYSTEM_PTES | BugCheckCode::DRIVER_USED_EXCESSIVE_PTES => {
                    BugClass::ResourceFailureUnhandled
                }
                BugCheckCode::BAD_POOL_CALLER
                    if matches!(
                        p1,
                        bad_pool_caller::ALLOCATE_AT_BAD_IRQL | bad_pool_caller::FREE_AT_BAD_IRQL
                    ) =>
                {
                    BugClass::IrqlViolation
                }
                BugCheckCode::MEMORY_MANAGEMENT if p1 == memory_management::MAP_UNLOCKED_PAGE => {
                    BugClass::MapUnlocked
                }
                BugCheckCode::PROCESS_HAS_LOCKED_PAGES
                    if p1 == process_has_locked_pages::UNLOCK_PAGES_NOT_LOCKED =>
                {
                    BugClass::UnlockMisuse
                }
                BugCheckCode::PROCESS_HAS_LOCKED_PAGES
                | BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS => BugClass::LockLeak,
                BugCheckCode::ATTEMPTED_WRITE_TO_READONLY_MEMORY => BugClass::AccessModeMismatch,
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA => BugClass::UseAfterComplete,
                BugCheckCode::TARGET_MDL_TOO_SMALL => BugClass::SpanArithmetic,
                BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS => BugClass::StatusInconsistent,
                BugCheckCode::IRQL_GT_ZERO_AT_SYSTEM_SERVICE
                | BugCheckCode::IRQL_NOT_LESS_OR_EQUAL
                | BugCheckCode::DRIVER_IRQL_NOT_LESS_OR_EQUAL => BugClass::IrqlViolation,
                _ => BugClass::Crash,
            }
        }
        Fault::Raise(s) | Fault::Status(s)
            if *s == NtStatus::INSUFFICIENT_RESOURCES || *s == NtStatus::NO_MEMORY =>
        {
            BugClass::ResourceFailureUnhandled
        }
        _ => BugClass::Crash,
    }
}

/// The finding a fault becomes.
pub fn fault_finding(f: &Fault, step: u64, during: &str) -> Finding {
    let kind = classify_fault(f);
    let what = match f {
        Fault::BugCheck(b) => format!("bug check {b}"),
        Fault::Raise(s) => {
            format!("unhandled exception {s} (a kernel-mode exception no one caught)")
        }
        Fault::Status(s) => format!("unhandled failure {s}"),
        Fault::Model(e) => format!("model error {e}"),
    };
    Finding::new(
        kind,
        Rule::Protocol,
        Some(step),
        format!("{during}: {what}"),
    )
}

/// The bug class of a protocol event.
pub fn classify_event(k: EventKind) -> BugClass {
    match k {
        EventKind::MdlFreedWhileLocked | EventKind::PartialTargetWasLocked => BugClass::LockLeak,
        EventKind::UnlockedWhileUserMapped
        | EventKind::FreePagesWhileMapped
        | EventKind::PartialReusedWhileMapped
        | EventKind::SourceUnlockedWhilePartialMapped
        | EventKind::FrameFreedWhileMapped => BugClass::FreeWhileMapped,
        EventKind::PfnArrayChangedWhileLocked => BugClass::MdlMutatedWhileMapped,
        EventKind::UserMappingRemovedAtExit => BugClass::MappingOutlivesProcess,
        EventKind::UnmapUnknownUserAddress | EventKind::UnmapMismatch => BugClass::UnmapMismatch,
        EventKind::CacheAttributeConflict => BugClass::CacheAttributeConflict,
        EventKind::WriteThroughReadProbedMdl => BugClass::AccessModeMismatch,
        EventKind::NonPagedBuildOverOtherMemory => BugClass::MapUnlocked,
        // Copy-back not clamped to the caller's buffer, or faulting on it (semantics §5.7).
        EventKind::InformationExceedsBuffer | EventKind::CopyBackFaulted => BugClass::CopyBackError,
        // IRP protocol: completion with a cancel routine set.
        EventKind::CompletedWithCancelRoutine => BugClass::UseAfterComplete,
        // An IRP outlived I/O rundown: its pages stay locked for good (semantics §6).
        EventKind::IrpDisassociated => BugClass::LockLeak,
        EventKind::ProbedMdlUserMapping => BugClass::NestedMappingHazard,
        EventKind::UserAccessOutsideTry | EventKind::UnprobedUserAccess => {
            BugClass::UnprobedUserAccess
        }
        // The return value against the IRP: STATUS_PENDING without IoMarkIrpPending, or
        // the reverse; completion with STATUS_PENDING (semantics §5.7).
        EventKind::PendingNotMarked
        | EventKind::MarkedPendingReturnedOther
        | EventKind::CompletedWithStatusPending => BugClass::StatusInconsistent,
        EventKind::ZeroLengthMdlAllocated => BugClass::ZeroLengthOrNullMdl,
        EventKind::PoolAccessOutsideAllocation => BugClass::OutOfBounds,
        EventKind::IrpReusedWhileInUse => BugClass::UseAfterComplete,
        EventKind::UserAccessAtRaisedIrql | EventKind::PagedPoolAccessAtRaisedIrql => {
            BugClass::IrqlViolation
        }
    }
}

/// The finding an event becomes.
pub fn event_finding(e: &Event) -> Finding {
    let mut f = Finding::new(
        classify_event(e.kind),
        Rule::Protocol,
        Some(e.step),
        format!("{:?}: {}", e.kind, e.detail),
    );
    if let Some(va) = e.va.filter(|v| v.is_system()) {
        f.addresses.push((SpaceId::System, va));
    }
    f
}

#[cfg(test)]
mod tests;
