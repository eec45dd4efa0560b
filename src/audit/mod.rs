//! `audit()` and `hazards()`: the machine's global invariants, and the dangerous
//! states a driver can leave behind.
//!
//! [`Machine::audit`](crate::Machine::audit) checks that the model's books balance, whatever drivers
//! did: every frame's reference count equals its valid share plus the locks
//! the model knows of (live MDL locks and locks leaked by freeing a locked
//! MDL), every share count equals the owning PTEs, the free list holds
//! exactly the free frames, each process's `NumberOfLockedPages` equals what
//! its MDLs charged, system PTEs and pool pages are accounted for. A
//! violation here is a bug in the model (or a driver corrupting the PFN
//! database through a changed PFN array, which the model records and
//! accounts for), and names the object and the step that created it.
//!
//! [`Machine::hazards`](crate::Machine::hazards) lists what is legal to reach but wrong to leave:
//! PTEs that map freed frames and leaked locks (locks cannot outlive their process: its
//! deletion bug-checks, [semantics §6]).
//!
//! This module holds the vocabulary (what a violation and a hazard are, their closed
//! sets of names) and is a value layer: each subsystem checks its own books against it
//! (`PhysicalMemory::audit_frames`, `Pool::audit`, the I/O manager's `audit_io`), and the
//! machine's facade (`src/machine/audit.rs`) combines them with the checks that span
//! subsystems (references against locks and PTEs, `NumberOfLockedPages`, mappings).
//!
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use crate::ids::Birth;
use std::fmt;

/// Defines a closed set of names: the enum, its stable string per variant (`as_str`,
/// `Display`), `ALL` and `from_name`.
macro_rules! named_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum $name { $($(#[$vm])* $v,)+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v,)+];

            /// The stable name (what reports print and scenario files write).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }

            /// The variant with this stable name.
            pub fn from_name(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// Which of the model's books a [`Violation`] found out of balance (see
    /// [`Machine::audit`](crate::Machine::audit) for each one's rule).
    pub enum Invariant {
        /// A frame's share count is not its owning PTEs (plus one for an
        /// `MmAllocatePagesForMdl` page).
        PfnShareCount => "pfn.share_count",
        /// A frame's reference count is not its valid reference plus the known locks.
        PfnReferenceCount => "pfn.reference_count",
        /// A frame's list state disagrees with its counts.
        PfnState => "pfn.state",
        /// The free list is not exactly the free frames, once each.
        PfnFreeList => "pfn.free_list",
        /// A frame's MDL-mapping counts (in all, and per cache type) are not the PTEs of
        /// the live MDL mappings that name it.
        PfnMdlMapped => "pfn.mdl_mapped",
        /// `NumberOfLockedPages` is not what the process's locks charged.
        ProcessLockedPages => "process.locked_pages",
        /// System PTEs in use are not the pages of system mappings.
        SysPteAccounting => "syspte.accounting",
        /// A mapping's PTEs are missing or point elsewhere, or an MDL PTE has no mapping.
        MappingPtes => "mapping.ptes",
        /// Pool pages are not the pool PTEs, or an allocation lies outside them.
        PoolAccounting => "pool.accounting",
        /// A private PTE lies outside the committed private pages of a VAD.
        SpaceVads => "space.vads",
        /// An IRP on a thread's list is dead or owned by another thread.
        IoThreadList => "io.thread_list",
        /// A queued stage-2 APC names no IRP waiting for it.
        IoApcQueue => "io.apc_queue",
        /// A disassociated IRP still names a thread.
        IoDisassociated => "io.disassociated",
        /// `CurrentLocation` is outside `1..=StackCount + 1` after the IRP was sent.
        IoStack => "io.stack",
    }
}

named_enum! {
    /// What a [`Hazard`] is: a dangerous state a driver can legally reach but must not
    /// leave behind.
    pub enum HazardKind {
        /// A PTE maps a free frame (a mapping that outlived its lock or its pages).
        DanglingPte => "dangling_pte",
        /// A lock its MDL forgot (freed, re-initialised or rebuilt while locked).
        LeakedLock => "leaked_lock",
        /// An IRP disassociated at the five-minute rundown timeout: its pages stay locked.
        StuckIrp => "stuck_irp",
        /// A live IRP's `MdlAddress` chain names a freed MDL.
        IrpChainFreedMdl => "irp_chain_freed_mdl",
        /// An IRP to deallocate names a `SystemBuffer` that is no live pool block.
        IrpSystemBufferFreed => "irp_system_buffer_freed",
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The object it concerns (a frame, a process, an MDL, a mapping).
    pub object: String,
    /// The operation that created that object, when known.
    pub created: Option<Birth>,
    /// In words, with the expected and the actual values.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.invariant, self.object, self.detail)?;
        if let Some(b) = self.created {
            write!(f, " (created at step {} by {})", b.step, b.routine)?;
        }
        Ok(())
    }
}

/// Something dangerous a driver left behind (not a model inconsistency).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hazard {
    /// Kind of hazard.
    pub kind: HazardKind,
    /// The object concerned.
    pub object: String,
    /// The operation that created it.
    pub created: Option<Birth>,
    /// In words.
    pub detail: String,
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.kind, self.object, self.detail)?;
        if let Some(b) = self.created {
            write!(f, " (created at step {} by {})", b.step, b.routine)?;
        }
        Ok(())
    }
}

impl Violation {
    /// A violation of `invariant` by `object`, created at `created`.
    pub(crate) fn new(
        invariant: Invariant,
        object: String,
        created: Option<Birth>,
        detail: String,
    ) -> Violation {
        Violation {
            invariant,
            object,
            created,
            detail,
        }
    }
}
