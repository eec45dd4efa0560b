//! Bug check (stop) codes, their documented parameter-1 sub-codes, and the [`BugCheck`] value the
//! model reports when it detects a violation that would crash Windows.
//!
//! Sources. Bug check code values were checked against Microsoft's published Win32 metadata
//! (`windows-sys` 0.59 from `microsoft/windows-rs`, `Win32::System::Diagnostics::Debug`,
//! `BUGCHECK_ERROR` constants, generated from `bugcodes.h`) and against the code-named pages of
//! Microsoft's bug check reference (`MicrosoftDocs/windows-driver-docs`,
//! `windows-driver-docs-pr/debugger/bug-check-0x…md`, published as
//! learn.microsoft.com/windows-hardware/drivers/debugger/bug-check-0x…). Where this file says
//! "page 0xNN" it means that reference page. Sub-code tables come from the same pages; the
//! parameter meanings in each doc comment are those pages' columns, paraphrased.
//! `semantics §…` links the section of the project's [docs/semantics.md][semantics.md] that uses
//! the code.
//!
//! [semantics.md]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md

use core::fmt;

/// A bug check code (the `BugCheckCode` argument of `KeBugCheckEx`). Serialises as the bare `u32`.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct BugCheckCode(pub u32);

/// Defines the named codes, [`BugCheckCode::ALL`] and [`BugCheckCode::name`] from one table.
macro_rules! bugcheck_table {
    ($( $(#[$meta:meta])* $name:ident = $value:literal ; )*) => {
        impl BugCheckCode {
            $( $(#[$meta])* pub const $name: BugCheckCode = BugCheckCode($value); )*

            /// Every bug check code this module names, in table order.
            pub const ALL: &'static [BugCheckCode] = &[$(BugCheckCode::$name),*];

            /// The symbolic name (e.g. `"PFN_LIST_CORRUPT"`), or `None` if this module does not
            /// name the code.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }
    };
}

bugcheck_table! {
    /// 0x0A: pageable or invalid memory touched at IRQL ≥ DISPATCH_LEVEL ([page 0x0A]; [semantics §7]).
    ///
    /// [page 0x0a]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xa--irql-not-less-or-equal
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    IRQL_NOT_LESS_OR_EQUAL = 0x0A;
    /// 0x19: a pool header is corrupt ([page 0x19]).
    ///
    /// [page 0x19]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x19--bad-pool-header
    BAD_POOL_HEADER = 0x19;
    /// 0x1A: a severe memory-management error; P1 is a [`memory_management`] sub-code ([page 0x1A]; [semantics §7]).
    ///
    /// [page 0x1a]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    MEMORY_MANAGEMENT = 0x1A;
    /// 0x1E: a kernel-mode exception was not handled ([page 0x1E]; [semantics §7]).
    ///
    /// [page 0x1e]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1e--kmode-exception-not-handled
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    KMODE_EXCEPTION_NOT_HANDLED = 0x1E;
    /// 0x20: a thread exited with kernel APCs still pending ([page 0x20]; [semantics §7]).
    ///
    /// [page 0x20]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x20--kernel-apc-pending-during-exit
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    KERNEL_APC_PENDING_DURING_EXIT = 0x20;
    /// 0x35: `IoCallDriver` ran out of IRP stack locations ([page 0x35]; [semantics §7]).
    ///
    /// [page 0x35]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x35--no-more-irp-stack-locations
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    NO_MORE_IRP_STACK_LOCATIONS = 0x35;
    /// 0x3F: no system PTEs left for a mapping that may not fail ([page 0x3F]; [semantics §7], [invariant 15]).
    ///
    /// [page 0x3f]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x3f--no-more-system-ptes
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    /// [invariant 15]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-15
    NO_MORE_SYSTEM_PTES = 0x3F;
    /// 0x40: `IoBuildPartialMdl` target MDL too small for the requested range; no parameters
    /// ([page 0x40]; [semantics §4], [invariant 3]).
    ///
    /// [page 0x40]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x40--target-mdl-too-small
    /// [semantics §4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
    /// [invariant 3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-3
    TARGET_MDL_TOO_SMALL = 0x40;
    /// 0x44: `IoCompleteRequest` on an already-completed IRP; P1 = IRP, P2–P4 reserved
    /// ([page 0x44]; [semantics §5.7], [invariant 27]).
    ///
    /// [page 0x44]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x44--multiple-irp-complete-requests
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
    MULTIPLE_IRP_COMPLETE_REQUESTS = 0x44;
    /// 0x48: an IRP being cancelled was already completed with a cancel routine set ([page 0x48]; [semantics §6]).
    ///
    /// [page 0x48]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x48--cancel-state-in-completed-irp
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    CANCEL_STATE_IN_COMPLETED_IRP = 0x48;
    /// 0x4E: the PFN database is corrupt; P1 is a [`pfn_list_corrupt`] sub-code ([page 0x4E]; [semantics §7], [invariant 8]).
    ///
    /// [page 0x4e]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4e--pfn-list-corrupt
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
    PFN_LIST_CORRUPT = 0x4E;
    /// 0x50: invalid system memory was referenced ([page 0x50]; [semantics §7]).
    ///
    /// [page 0x50]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x50--page-fault-in-nonpaged-area
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    PAGE_FAULT_IN_NONPAGED_AREA = 0x50;
    /// 0xBE: a driver wrote to read-only memory (e.g. a system mapping made with
    /// `MdlMappingNoWrite`); P1 the VA written, P2 the PTE contents, P3–P4 reserved ([page 0xBE]).
    ///
    /// [page 0xbe]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xbe--attempted-write-to-readonly-memory
    ATTEMPTED_WRITE_TO_READONLY_MEMORY = 0xBE;
    /// 0x76: a process ended with locked pages, or unlocked pages not locked; P1 is a
    /// [`process_has_locked_pages`] sub-code ([page 0x76]; [semantics §6], [invariant 11]).
    ///
    /// [page 0x76]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x76--process-has-locked-pages
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    /// [invariant 11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-11
    PROCESS_HAS_LOCKED_PAGES = 0x76;
    /// 0x7E: a system thread raised an exception nobody handled ([page 0x7E]; [semantics §7]).
    ///
    /// [page 0x7e]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x7e--system-thread-exception-not-handled
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    SYSTEM_THREAD_EXCEPTION_NOT_HANDLED = 0x7E;
    /// 0x8E: a kernel-mode application exception was not handled ([page 0x8E]).
    ///
    /// [page 0x8e]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x8e--kernel-mode-exception-not-handled
    KERNEL_MODE_EXCEPTION_NOT_HANDLED = 0x8E;
    /// 0xC1: special pool found a driver writing an invalid section of it ([page 0xC1]).
    ///
    /// [page 0xc1]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc1--special-pool-detected-memory-corruption
    SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION = 0xC1;
    /// 0xC2: a bad pool request (double free, wrong tag, bad address…); P1 is a
    /// [`bad_pool_caller`] sub-code ([page 0xC2]).
    ///
    /// [page 0xc2]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc2--bad-pool-caller
    BAD_POOL_CALLER = 0xC2;
    /// 0xC4: Driver Verifier's general violation code; P1 is a [`verifier`] sub-code ([page 0xC4]; [semantics §7]).
    ///
    /// [page 0xc4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    DRIVER_VERIFIER_DETECTED_VIOLATION = 0xC4;
    /// 0xC5: a driver touched pool at too high an IRQL or corrupted pool ([page 0xC5]).
    ///
    /// [page 0xc5]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc5--driver-corrupted-expool
    DRIVER_CORRUPTED_EXPOOL = 0xC5;
    /// 0xC9: Driver Verifier I/O Verification violation; P1 is an [`io_verifier`] sub-code ([page 0xC9]).
    ///
    /// [page 0xc9]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc9--driver-verifier-iomanager-violation
    DRIVER_VERIFIER_IOMANAGER_VIOLATION = 0xC9;
    /// 0xCB: a driver left pages locked in a process (locked-page tracking); P1 tracker, P2 0,
    /// P3 MDL, P4 locked page count ([page 0xCB]; [semantics §6]).
    ///
    /// [page 0xcb]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xcb--driver-left-locked-pages-in-process
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS = 0xCB;
    /// 0xCC: freed special pool was referenced ([page 0xCC]).
    ///
    /// [page 0xcc]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xcc--page-fault-in-freed-special-pool
    PAGE_FAULT_IN_FREED_SPECIAL_POOL = 0xCC;
    /// 0xD1: a driver touched pageable or invalid memory at too high an IRQL ([page 0xD1]; [semantics §7]).
    ///
    /// [page 0xd1]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd1--driver-irql-not-less-or-equal
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    DRIVER_IRQL_NOT_LESS_OR_EQUAL = 0xD1;
    /// 0xD5: a driver referenced freed special pool ([page 0xD5]).
    ///
    /// [page 0xd5]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd5--driver-page-fault-in-freed-special-pool
    DRIVER_PAGE_FAULT_IN_FREED_SPECIAL_POOL = 0xD5;
    /// 0xD7: a driver unmapped an address that was not a mapped view ([page 0xD7]; [semantics §7]).
    ///
    /// [page 0xd7]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd7--driver-unmapping-invalid-view
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    DRIVER_UNMAPPING_INVALID_VIEW = 0xD7;
    /// 0xD8: a driver used too many system PTEs (PTE tracking on) ([page 0xD8]; [semantics §7]).
    ///
    /// [page 0xd8]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd8--driver-used-excessive-ptes
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    DRIVER_USED_EXCESSIVE_PTES = 0xD8;
    /// 0xD9: the locked-pages tracker is corrupt; P1 is a [`locked_pages_tracker_corruption`]
    /// sub-code ([page 0xD9]; [semantics §7]).
    ///
    /// [page 0xd9]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd9--locked-pages-tracker-corruption
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    LOCKED_PAGES_TRACKER_CORRUPTION = 0xD9;
    /// 0xDA: a system-PTE routine was misused; P1 is a [`system_pte_misuse`] sub-code ([page 0xDA]; [semantics §7], [invariant 17]).
    ///
    /// [page 0xda]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    /// [invariant 17]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-17
    SYSTEM_PTE_MISUSE = 0xDA;
    /// 0xDB: a driver corrupted system PTEs ([page 0xDB]; [semantics §7]).
    ///
    /// [page 0xdb]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xdb--driver-corrupted-sysptes
    /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
    DRIVER_CORRUPTED_SYSPTES = 0xDB;
    /// 0x12E: `IoBuildPartialMdl` asked for a virtual address range outside the source MDL;
    /// P1 SourceMdl, P2 TargetMdl, P3 VirtualAddress, P4 Length ([page 0x12E]; [semantics §4], [§9]).
    ///
    /// [page 0x12e]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x12e--invalid-mdl-range
    /// [semantics §4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
    /// [§9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s9
    INVALID_MDL_RANGE = 0x12E;
}

impl BugCheckCode {
    /// The parameter-1 name for this code, when this module has a sub-code table for it.
    pub const fn subcode_name(self, p1: u64) -> Option<&'static str> {
        match self {
            Self::MEMORY_MANAGEMENT => memory_management::name(p1),
            Self::PFN_LIST_CORRUPT => pfn_list_corrupt::name(p1),
            Self::PROCESS_HAS_LOCKED_PAGES => process_has_locked_pages::name(p1),
            Self::BAD_POOL_CALLER => bad_pool_caller::name(p1),
            Self::DRIVER_VERIFIER_DETECTED_VIOLATION => verifier::name(p1),
            Self::DRIVER_VERIFIER_IOMANAGER_VIOLATION => io_verifier::name(p1),
            Self::LOCKED_PAGES_TRACKER_CORRUPTION => locked_pages_tracker_corruption::name(p1),
            Self::SYSTEM_PTE_MISUSE => system_pte_misuse::name(p1),
            _ => None,
        }
    }

    /// Looks a code up by its symbolic name; the inverse of [`BugCheckCode::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == Some(name))
    }
}

impl From<u32> for BugCheckCode {
    fn from(value: u32) -> Self {
        BugCheckCode(value)
    }
}

impl From<BugCheckCode> for u32 {
    fn from(value: BugCheckCode) -> Self {
        value.0
    }
}

impl fmt::Display for BugCheckCode {
    /// `PFN_LIST_CORRUPT (0x4E)`, or `BUGCHECK 0x1234` for an unnamed code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:02X})", self.0),
            None => write!(f, "BUGCHECK 0x{:02X}", self.0),
        }
    }
}

impl fmt::Debug for BugCheckCode {
    /// Same text as [`fmt::Display`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Defines a sub-code module's `u64` constants (ready for `params[0]`), its `ALL` table and `name`.
macro_rules! subcodes {
    ($( $(#[$meta:meta])* $name:ident = $value:literal ; )*) => {
        $( $(#[$meta])* pub const $name: u64 = $value; )*

        /// Every parameter-1 value this module defines, with its constant's name.
        pub const ALL: &[(u64, &str)] = &[$(($value, stringify!($name))),*];

        /// The constant name for a parameter-1 value, if this module defines it.
        pub const fn name(p1: u64) -> Option<&'static str> {
            match p1 {
                $( $value => Some(stringify!($name)), )*
                _ => None,
            }
        }
    };
}

/// Parameter-1 values of `DRIVER_VERIFIER_DETECTED_VIOLATION` (0xC4) for pool, MDL and IRP
/// misuse ([page 0xC4]). Doc format: meaning; P2, P3, P4.
///
/// [page 0xc4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
pub mod verifier {
    subcodes! {
        /// Freeing an address no allocation returned; P2 bad address, P3 0, P4 0.
        FREE_UNALLOCATED_ADDRESS = 0x10;
        /// Freeing paged pool at IRQL > APC_LEVEL; P2 IRQL, P3 pool type, P4 pool address.
        FREE_PAGED_POOL_ABOVE_APC_LEVEL = 0x11;
        /// Freeing nonpaged pool at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 pool type, P4 pool address.
        FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL = 0x12;
        /// Freeing pool that was already freed (double free); P2 reserved, P3 pool header address,
        /// P4 pool header contents.
        POOL_ALREADY_FREED = 0x13;
        /// Freeing pool that was already freed (second documented value, same meaning as 0x13).
        POOL_ALREADY_FREED_ALT = 0x14;
        /// Freeing pool at a bad address, or bad parameters to a memory routine; P2 reserved,
        /// P3 pool address, P4 0.
        FREE_POOL_BAD_ADDRESS = 0x16;
        /// Driver unloading without freeing its pool (Pool Tracking); P2 driver name, P3 reserved,
        /// P4 outstanding allocation count.
        UNLOAD_WITH_OUTSTANDING_POOL = 0x62;
        /// `MmProbeAndLockPages` at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL, P4 access mode.
        PROBE_AND_LOCK_ABOVE_DISPATCH_LEVEL = 0x70;
        /// `MmMapLockedPages` (kernel mode) at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL, P4 access mode.
        MAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL = 0x74;
        /// `MmMapLockedPages` (user mode) at IRQL > APC_LEVEL; P2 IRQL, P3 MDL, P4 access mode.
        MAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL = 0x75;
        /// `MmMapLockedPagesSpecifyCache` (kernel mode) at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL,
        /// P4 access mode.
        MAP_SPECIFY_CACHE_KERNEL_ABOVE_DISPATCH_LEVEL = 0x76;
        /// `MmMapLockedPagesSpecifyCache` (user mode) at IRQL > APC_LEVEL; P2 IRQL, P3 MDL,
        /// P4 access mode.
        MAP_SPECIFY_CACHE_USER_ABOVE_APC_LEVEL = 0x77;
        /// `MmUnlockPages` at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL, P4 0.
        UNLOCK_PAGES_ABOVE_DISPATCH_LEVEL = 0x78;
        /// `MmUnmapLockedPages` (kernel mode) at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 VA being
        /// unmapped, P4 MDL.
        UNMAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL = 0x79;
        /// `MmUnmapLockedPages` (user mode) at IRQL > APC_LEVEL; P2 IRQL, P3 VA being unmapped, P4 MDL.
        UNMAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL = 0x7A;
        /// `MmUnlockPages` on an MDL whose pages were never successfully locked; P2 MDL,
        /// P3 MDL flags, P4 0 ([invariant 8]).
        ///
        /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
        UNLOCK_PAGES_NEVER_LOCKED = 0x7C;
        /// `MmUnlockPages` on an MDL describing nonpaged pool (never to be unlocked); P2 MDL,
        /// P3 MDL flags, P4 0 ([invariant 8], [invariant 19]).
        ///
        /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
        /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
        UNLOCK_PAGES_NONPAGED_POOL_MDL = 0x7D;
        /// `MmAllocatePagesForMdl(Ex)` / `MmFreePagesFromMdl` at IRQL > DISPATCH_LEVEL; P2 IRQL,
        /// P3 DISPATCH_LEVEL, P4 0.
        PAGES_FOR_MDL_ABOVE_DISPATCH_LEVEL = 0x7E;
        /// `MmBuildMdlForNonPagedPool` on an MDL whose pages are paged pool; P2 IRQL, P3 MDL,
        /// P4 MDL flags ([invariant 19]).
        ///
        /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
        BUILD_MDL_FOR_NONPAGED_POOL_ON_PAGED_POOL = 0x7F;
        /// `MmMapLockedPages` was called (use `MmMapLockedPagesSpecifyCache` with
        /// BugCheckOnFailure FALSE instead); P2 MDL, P3 MDL flags, P4 0.
        MAP_LOCKED_PAGES_CALLED = 0x81;
        /// `MmMapLockedPagesSpecifyCache` with BugCheckOnFailure TRUE; P2 MDL, P3 MDL flags, P4 0.
        MAP_SPECIFY_CACHE_BUGCHECK_ON_FAILURE = 0x82;
        /// `MmMapIoSpace` over physical pages that are not locked down; P2 start physical address,
        /// P3 byte count, P4 first PFN not locked.
        MAP_IO_SPACE_PAGES_NOT_LOCKED = 0x83;
        /// `MmMapLockedPages` on an MDL whose pages are not locked; P2 MDL, P3 page count,
        /// P4 first PFN not locked ([invariant 14]).
        ///
        /// [invariant 14]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-14
        MAP_LOCKED_PAGES_NOT_LOCKED = 0x85;
        /// An MDL not marked I/O contains non-memory page numbers; P2 MDL, P3 pointer to the
        /// PFN-array entry, P4 the non-memory page number.
        MDL_NON_MEMORY_PAGE_NOT_IO_SPACE = 0x89;
        /// `MmProbeAndLockPages` on an MDL with incorrect flags (e.g. built by
        /// `MmBuildMdlForNonPagedPool`); P2 MDL, P3 MDL flags, P4 the incorrect flags ([invariant 4]).
        ///
        /// [invariant 4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-4
        PROBE_AND_LOCK_BAD_MDL_FLAGS = 0xB0;
        /// `MmProbeAndLockProcessPages` on an MDL with incorrect flags; P2 MDL, P3 MDL flags,
        /// P4 the incorrect flags.
        PROBE_AND_LOCK_PROCESS_PAGES_BAD_MDL_FLAGS = 0xB1;
        /// `MmMapLockedPages` on an MDL with incorrect flags (e.g. already mapped to system VA);
        /// P2 MDL, P3 MDL flags, P4 the incorrect flags ([invariant 13]).
        ///
        /// [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
        MAP_LOCKED_PAGES_BAD_MDL_FLAGS = 0xB2;
        /// `MmMapLockedPages` on an MDL missing required flags (e.g. not locked); P2 MDL,
        /// P3 MDL flags, P4 the missing flags ([invariant 13]).
        ///
        /// [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
        MAP_LOCKED_PAGES_MISSING_MDL_FLAGS = 0xB3;
        /// `MmUnlockPages` on a partial MDL (built by `IoBuildPartialMdl`); P2 MDL, P3 MDL flags,
        /// P4 the unexpected partial flag ([invariant 24]).
        ///
        /// [invariant 24]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-24
        UNLOCK_PAGES_PARTIAL_MDL = 0xB4;
        /// `IoFreeMdl` while the MDL's pages are still mapped; P2 MDL, P3 MDL flags, P4 reserved
        /// ([invariant 25]).
        ///
        /// [invariant 25]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-25
        FREE_MDL_STILL_MAPPED = 0xB8;
        /// A user-mode address was passed to a kernel function; P2 address, P3 range size, P4 reserved.
        USER_ADDRESS_PASSED_TO_KERNEL = 0xE0;
        /// A KernelMode IRP holds a user-mode address; P2 IRP, P3 the user address, P4 reserved.
        KERNEL_IRP_WITH_USER_ADDRESS = 0xE2;
        /// `memcpy` with overlapping buffers; P2 destination, P3 source, P4 byte count.
        MEMCPY_OVERLAP = 0xF0;
        /// An IRP was released with `ExFreePool` instead of `IoFreeIrp`; P2 IRP.
        IRP_FREED_WITH_EX_FREE_POOL = 0x105;
        /// A cancelled IRP was not completed in the expected time; P2 IRP, P3 allowed milliseconds.
        CANCELLED_IRP_NOT_COMPLETED = 0x135;
        /// `ExFreePool` address differs from the one Verifier tracked; P2 caller's address,
        /// P3 tracked address, P4 pointer to the tracked address.
        FREE_POOL_ADDRESS_MISMATCH = 0x13E;
        /// `ExFreePool` byte count differs from the tracked one; P2 block, P3 bytes freed,
        /// P4 pointer to the tracked byte count.
        FREE_POOL_SIZE_MISMATCH = 0x13F;
        /// A non-locked MDL was built over pageable or tradable memory; P2 IRQL, P3 MDL, P4 its VA.
        NON_LOCKED_MDL_OVER_PAGEABLE_MEMORY = 0x140;
    }
}

/// Parameter-1 values of `DRIVER_VERIFIER_IOMANAGER_VIOLATION` (0xC9) ([page 0xC9]).
///
/// Values 0x01–0x12 are the page's first table (P2–P4 as documented per value). Values ≥ 0x200
/// are the page's "I/O error codes" (shown as `WDM DRIVER ERROR`); for those the page lists the
/// dump contents as the error code, the address in the driver that was detected, the IRP and the
/// device object, which this model maps to P1–P4 in that order.
///
/// [page 0xc9]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc9--driver-verifier-iomanager-violation
pub mod io_verifier {
    subcodes! {
        /// Freeing an object whose type is not `IO_TYPE_IRP`; P2 the object, P3 0, P4 0.
        FREE_NON_IRP = 0x01;
        /// Freeing an IRP still associated with a thread; P2 IRP, P3 0, P4 0 ([invariant 27]).
        ///
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        FREE_IRP_STILL_ON_THREAD = 0x02;
        /// `IoCallDriver` given an IRP whose Type is not IRP_TYPE; P2 IRP, P3 0, P4 0.
        CALL_DRIVER_NOT_AN_IRP = 0x03;
        /// `IoCallDriver` given an invalid device object; P2 device object, P3 0, P4 0.
        CALL_DRIVER_INVALID_DEVICE = 0x04;
        /// IRQL changed across a dispatch routine; P2 device object, P3 IRQL before, P4 IRQL after.
        DISPATCH_CHANGED_IRQL = 0x05;
        /// `IoCompleteRequest` with STATUS_PENDING (or −1); P2 the status, P3 IRP, P4 0
        /// ([semantics §5.7], [invariant 27]).
        ///
        /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        COMPLETE_WITH_PENDING_STATUS = 0x06;
        /// `IoCompleteRequest` while a cancel routine is still set; P2 cancel routine, P3 IRP, P4 0
        /// ([semantics §5.7], [invariant 27]).
        ///
        /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        COMPLETE_WITH_CANCEL_ROUTINE = 0x07;
        /// `IoBuildAsynchronousFsdRequest` given an invalid buffer; P2 device object, P3 major
        /// function, P4 exception status ([semantics §5.4]).
        ///
        /// [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
        BUILD_ASYNC_FSD_INVALID_BUFFER = 0x08;
        /// `IoBuildDeviceIoControlRequest` given an invalid buffer; P2 device object, P3 IOCTL,
        /// P4 exception status ([semantics §5.4]).
        ///
        /// [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
        BUILD_DEVICE_IO_CONTROL_INVALID_BUFFER = 0x09;
        /// An IRP's I/O status block lives on a stack that has already unwound; P2 IOSB, P3 0, P4 0.
        IOSB_ON_UNWOUND_STACK = 0x0C;
        /// An IRP's user event lives on a stack that has already unwound; P2 event, P3 0, P4 0.
        USER_EVENT_ON_UNWOUND_STACK = 0x0D;
        /// `IoCompleteRequest` at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 IRP, P4 0.
        COMPLETE_ABOVE_DISPATCH_LEVEL = 0x0E;
        /// `IoCallDriver` above DISPATCH_LEVEL; P2 IRQL, P3–P4 reserved.
        CALL_DRIVER_ABOVE_DISPATCH_LEVEL = 0x10;
        /// `IoCallDriver` with the IRP's cancel routine not NULL (fatal).
        CALL_DRIVER_WITH_CANCEL_ROUTINE = 0x203;
        /// Forwarding an IRP that is currently queued beneath the caller (fatal).
        FORWARD_QUEUED_IRP = 0x205;
        /// The IRP is about to run out of stack locations (fatal; [semantics §7] 0x35).
        ///
        /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
        IRP_OUT_OF_STACK_LOCATIONS = 0x208;
        /// Completing an IRP that is currently queued beneath the caller (fatal).
        COMPLETE_QUEUED_IRP = 0x209;
        /// `IoFreeIrp` on an IRP still in use (original IRP and IRP in use given) (fatal).
        FREE_IRP_IN_USE = 0x20A;
        /// `IoFreeIrp` on an IRP still in use (fatal).
        FREE_IRP_IN_USE_ALT = 0x20B;
        /// `IoFreeIrp` on an IRP still queued against a thread (fatal; [invariant 27]).
        ///
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        FREE_IRP_QUEUED_TO_THREAD = 0x20C;
        /// A dispatch routine returned a status inconsistent with `IoStatus.Status` (fatal).
        DISPATCH_STATUS_INCONSISTENT = 0x224;
        /// A dispatch routine returned the illegal status 0xFFFFFFFF (non-fatal).
        DISPATCH_RETURNED_ILLEGAL_STATUS = 0x225;
        /// A dispatch routine returned without forwarding or completing the IRP, or without
        /// returning STATUS_PENDING (fatal).
        DISPATCH_LOST_IRP = 0x226;
        /// A completion routine did not mark the IRP pending though `PendingReturned` was set (non-fatal).
        COMPLETION_ROUTINE_DID_NOT_MARK_PENDING = 0x228;
        /// A cancel routine was set on an IRP being processed by lower drivers (fatal).
        CANCEL_ROUTINE_SET_WHILE_OWNED_BELOW = 0x229;
        /// An IRP was completed without clearing its cancel routine (fatal; [invariant 27]).
        ///
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        COMPLETED_WITH_CANCEL_ROUTINE = 0x23C;
        /// STATUS_PENDING returned without `IoMarkIrpPending` (non-fatal).
        PENDING_RETURNED_NOT_MARKED = 0x23D;
        /// `IoMarkIrpPending` called but STATUS_PENDING not returned (non-fatal).
        MARKED_PENDING_NOT_RETURNED = 0x23E;
        /// A filter did not copy DO_BUFFERED_IO / DO_DIRECT_IO from the device it attached to
        /// (fatal; [semantics §5.1]).
        ///
        /// [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1
        BUFFERING_FLAGS_NOT_COPIED = 0x244;
        /// Both DO_BUFFERED_IO and DO_DIRECT_IO are set; they are mutually exclusive
        /// (fatal; [semantics §5.1]).
        ///
        /// [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1
        BOTH_BUFFERED_AND_DIRECT_IO = 0x245;
        /// STATUS_PENDING returned without `IoMarkIrpPending` (Windows XP+ table; non-fatal).
        PENDING_RETURNED_NOT_MARKED_ALT = 0x24C;
    }
}

/// Parameter-1 values of `MEMORY_MANAGEMENT` (0x1A) concerning MDLs, locked pages and pool
/// frees ([page 0x1A], current and "previous versions" tables).
///
/// [page 0x1a]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
pub mod memory_management {
    subcodes! {
        /// (Earlier Windows) `MmGetSystemAddressForMdl*` would map a fully cached page non-cached
        /// and the MDL asked for bug-check-on-failure.
        CACHED_PAGE_MAPPED_NONCACHED = 0x1000;
        /// Unlocking a pageable section that is not locked (never locked or unlocked twice).
        UNLOCK_SECTION_NOT_LOCKED = 0x1010;
        /// Mapping a physical page that is not locked; P2 its PFN ([invariant 14]).
        ///
        /// [invariant 14]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-14
        MAP_UNLOCKED_PAGE = 0x1233;
        /// Protecting an MDL with an invalid mapping.
        PROTECT_MDL_INVALID_MAPPING = 0x1235;
        /// An MDL contains an unlocked (or invalid) physical page; P2 MDL, P3 pointer to the PFN
        /// entry, P4 the PFN ([invariant 20], `MmFreePagesFromMdl`).
        ///
        /// [invariant 20]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-20
        MDL_UNLOCKED_OR_INVALID_PAGE = 0x1236;
        /// Building an MDL for a virtual range that is not resident; P2 MDL, P3 PTE pointer
        /// ([invariant 19]).
        ///
        /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
        MDL_FOR_NONRESIDENT_RANGE = 0x1240;
        /// (Earlier Windows) the MDL's VA was unmapped asynchronously while the MDL was being
        /// built; P2 MDL, P3 PTE pointer.
        MDL_VA_UNMAPPED_DURING_BUILD = 0x1241;
        /// Freeing an invalid pool address; P2 the VA, P3 the region size.
        FREE_INVALID_POOL_ADDRESS_REGION = 0x5305;
        /// Freeing an invalid pool address.
        FREE_INVALID_POOL_ADDRESS = 0x41286;
        /// (Earlier Windows) a flawed MDL, typically a write MDL built for a paging read by the
        /// caller of `MmProbeAndLockPages`.
        FLAWED_MDL = 0x61946;
        /// Unlocking an I/O-space range whose accounting node is missing (never locked or already
        /// unlocked); P2 base I/O frame, P3 page count, P4 the frame.
        IO_SPACE_RANGE_NOT_LOCKED = 0x61948;
        /// Dereferencing an I/O-space page that is not referenced during unmap; P2–P3 the range,
        /// P4 the page.
        IO_SPACE_PAGE_NOT_REFERENCED = 0x6194A;
    }
}

/// Parameter-1 values of `PFN_LIST_CORRUPT` (0x4E) ([page 0x4E]).
///
/// [page 0x4e]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4e--pfn-list-corrupt
pub mod pfn_list_corrupt {
    subcodes! {
        /// A list head was corrupted; P2 the list head, P3 pages available, P4 0.
        LIST_HEAD_CORRUPT = 0x01;
        /// A list entry was corrupted; P2 the entry, P3 highest physical page, P4 its reference count.
        LIST_ENTRY_CORRUPT = 0x02;
        /// A page was unlocked more times than it was locked (typically a double
        /// `MmUnlockPages`); P2 PFN, P3 current share count, P4 0 ([invariant 8]).
        ///
        /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
        UNLOCKED_MORE_THAN_LOCKED = 0x07;
        /// The page-free list is corrupt (likely hardware); P2 PFN, P3 0, P4 0.
        FREE_LIST_CORRUPT = 0x8D;
        /// The free or zeroed page list head is corrupt; P2 new page, P3 old page, P4 0.
        FREE_OR_ZEROED_LIST_HEAD_CORRUPT = 0x8F;
        /// A PTE or PFN is corrupt; P2 PFN, P3 current page state, P4 0 ([semantics §7]).
        ///
        /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
        PTE_OR_PFN_CORRUPT = 0x99;
        /// Freeing a page still locked for I/O; P2 PFN, P3 current page state, P4 its reference
        /// count ([invariant 12]).
        ///
        /// [invariant 12]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-12
        FREE_PAGE_LOCKED_FOR_IO = 0x9A;
    }
}

/// Parameter-1 values of `PROCESS_HAS_LOCKED_PAGES` (0x76) ([page 0x76]).
///
/// [page 0x76]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x76--process-has-locked-pages
pub mod process_has_locked_pages {
    subcodes! {
        /// A terminating process still has locked pages; P2 process, P3 locked page count,
        /// P4 driver stacks or 0 ([semantics §6], [invariant 11]).
        ///
        /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
        /// [invariant 11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-11
        PROCESS_EXIT_WITH_LOCKED_PAGES = 0x00;
        /// Unlocking process pages that are not locked; P2 MDL, P3 the process's locked page
        /// count, P4 driver stacks or 0 ([semantics §6]).
        ///
        /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
        UNLOCK_PAGES_NOT_LOCKED = 0x01;
    }
}

/// Parameter-1 values of `LOCKED_PAGES_TRACKER_CORRUPTION` (0xD9) ([page 0xD9]).
///
/// [page 0xd9]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd9--locked-pages-tracker-corruption
pub mod locked_pages_tracker_corruption {
    subcodes! {
        /// The MDL is inserted twice on the same process list; P2 tracker, P3 MDL, P4 pages
        /// locked for the process.
        MDL_INSERTED_TWICE_PROCESS_LIST = 0x01;
        /// The MDL is inserted twice on the systemwide list; P2 tracker, P3 MDL, P4 pages
        /// locked for the process.
        MDL_INSERTED_TWICE_SYSTEM_LIST = 0x02;
        /// The MDL was found twice in the process list when freed; P2 first tracker found,
        /// P3 tracker, P4 MDL.
        MDL_FOUND_TWICE_ON_FREE = 0x03;
        /// The MDL was still in the systemwide list on free after removal; P2 tracker, P3 MDL, P4 0.
        MDL_IN_SYSTEM_LIST_AFTER_REMOVAL = 0x04;
    }
}

/// Parameter-1 values of `SYSTEM_PTE_MISUSE` (0xDA) ([page 0xDA]). Values 0x01–0x06 need PTE
/// tracking; 0x1xx–0x3xx concern reserved mapping ranges (`MmAllocateMappingAddress` family).
/// The page's Windows-2000-only values 0x07–0x11 are not modelled.
///
/// [page 0xda]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
pub mod system_pte_misuse {
    subcodes! {
        /// The mapping being freed is a duplicate; P2 tracker, P3 MDL, P4 duplicate tracker.
        DUPLICATE_FREE = 0x01;
        /// Wrong number of mappings freed; P2 tracker, P3 expected count, P4 count requested.
        WRONG_MAPPING_COUNT = 0x02;
        /// Wrong mapping address freed; P2 first tracker, P3 expected address, P4 address given
        /// ([invariant 18]).
        ///
        /// [invariant 18]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-18
        WRONG_MAPPING_ADDRESS = 0x03;
        /// The MDL's first page changed since it was mapped; P2 tracker, P3 expected PFN,
        /// P4 current first PFN.
        MDL_FIRST_PAGE_CHANGED = 0x04;
        /// The MDL's start VA changed since it was mapped; P2 first tracker, P3 expected VA,
        /// P4 VA given ([invariant 18]).
        ///
        /// [invariant 18]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-18
        MDL_START_VA_CHANGED = 0x05;
        /// The MDL being unmapped was never (or is not currently) mapped; P2 MDL, P3 VA,
        /// P4 mapping count (double unmap; [invariant 17]).
        ///
        /// [invariant 17]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-17
        MDL_NOT_MAPPED = 0x06;
        /// Zero mappings requested; P2 count, P3 caller's tag, P4 caller's caller.
        ZERO_MAPPINGS_REQUESTED = 0x100;
        /// Freeing a mapping range the caller does not own; P2 first address, P3 caller's tag,
        /// P4 owner's tag.
        FREE_RANGE_NOT_OWNED = 0x101;
        /// Freeing a mapping range that is apparently empty; P2 first address, P3 caller's tag.
        FREE_RANGE_EMPTY = 0x102;
        /// Freeing a mapping range still in use (`MmUnmapReservedMapping` first); P2 invalid
        /// mapping, P3 caller's tag, P4 mapping count.
        FREE_RANGE_STILL_MAPPED = 0x103;
        /// Mapping an MDL into a range the caller does not own; P2 first address, P3 caller's tag,
        /// P4 owner's tag ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        MAP_INTO_RANGE_NOT_OWNED = 0x104;
        /// Mapping an MDL into an invalid range; P2 first address, P3 caller's tag ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        MAP_INTO_INVALID_RANGE = 0x105;
        /// Mapping an MDL into a range not properly reserved (not unmapped first); P2 first
        /// address, P3 non-empty mapping, P4 last address.
        MAP_INTO_RANGE_NOT_EMPTY = 0x107;
        /// Unmapping a range the caller does not own; P2 first address, P3 caller's tag,
        /// P4 owner's tag ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        UNMAP_RANGE_NOT_OWNED = 0x108;
        /// Unmapping a range that is apparently empty; P2 first address, P3 caller's tag
        /// ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        UNMAP_RANGE_EMPTY = 0x109;
        /// Unmapping more mappings than exist; P2 first address, P3 mappings in range,
        /// P4 count to unmap.
        UNMAP_TOO_MANY = 0x10A;
        /// Unmapping a part of the range that is not mapped; P2 first address, P3 caller's tag,
        /// P4 count to unmap.
        UNMAP_NOT_MAPPED_PART = 0x10B;
        /// Not unmapping the whole range; P2 first address, P3 caller's tag, P4 count to unmap.
        UNMAP_PARTIAL_RANGE = 0x10C;
        /// Reserving a range that contains no mappings; P2 first address, P3 0, P4 0.
        RESERVE_EMPTY_RANGE = 0x200;
        /// A mapping to be reserved is already reserved; P2 first address, P3 reserved mapping,
        /// P4 count.
        RESERVE_ALREADY_RESERVED = 0x201;
        /// A mapping to be reserved is already reserved (second documented value).
        RESERVE_ALREADY_RESERVED_ALT = 0x202;
        /// Releasing a range that contains no mappings; P2 first address, P3 0, P4 0.
        RELEASE_EMPTY_RANGE = 0x300;
        /// Releasing a mapping the caller may not release; P2 mapping, P3 0, P4 0.
        RELEASE_NOT_PERMITTED = 0x301;
        /// Releasing a system address that is not mapped; P2 address, P3–P4 reserved.
        RELEASE_NOT_MAPPED = 0x302;
        /// Releasing a range that was not reserved; P2 first address, P3 count, P4 0.
        RELEASE_NOT_RESERVED = 0x303;
        /// Releasing a range that starts inside another allocation; P2 first address, P3 count, P4 0.
        RELEASE_MID_ALLOCATION = 0x304;
    }
}

/// Parameter-1 values of `BAD_POOL_CALLER` (0xC2) ([page 0xC2]). A tag mismatch on
/// `ExFreePoolWithTag` is [`bad_pool_caller::FREE_WITH_WRONG_TAG`] (0x0A) here, not a 0xC4 code.
///
/// [page 0xc2]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc2--bad-pool-caller
pub mod bad_pool_caller {
    subcodes! {
        /// A zero-byte allocation; P2 0, P3 pool type, P4 pool tag.
        ZERO_BYTE_ALLOCATION = 0x00;
        /// The pool header is corrupt; P2 pool header, P3 first part of its contents, P4 0.
        POOL_HEADER_CORRUPT = 0x01;
        /// The pool header is corrupt (second documented value, same parameters).
        POOL_HEADER_CORRUPT_2 = 0x02;
        /// The pool header is corrupt (third documented value, same parameters).
        POOL_HEADER_CORRUPT_4 = 0x04;
        /// Freeing pool that was already freed; P2 reserved, P3 pool header, P4 header contents.
        DOUBLE_FREE_HEADER = 0x06;
        /// Freeing pool that was already freed; P2 reserved, P3 header contents, P4 block address.
        DOUBLE_FREE = 0x07;
        /// Allocating at an invalid IRQL; P2 IRQL, P3 pool type, P4 size.
        ALLOCATE_AT_BAD_IRQL = 0x08;
        /// Freeing at an invalid IRQL; P2 IRQL, P3 pool type, P4 pool address.
        FREE_AT_BAD_IRQL = 0x09;
        /// Freeing with the wrong tag (the memory may belong to another component); P2 pool
        /// address, P3 allocator's tag, P4 tag used in the free.
        FREE_WITH_WRONG_TAG = 0x0A;
        /// Freeing kernel pool at a user-mode address; P2 address, P3 start of system space, P4 0.
        FREE_USER_ADDRESS = 0x40;
        /// Freeing a non-allocated nonpaged-pool address; P2 address, P3 physical page,
        /// P4 highest physical page.
        FREE_UNALLOCATED_NONPAGED = 0x41;
        /// Freeing an address that was never in any pool; P2 address, P3 0, P4 0.
        FREE_NEVER_IN_POOL = 0x42;
        /// Freeing an address that was never in any pool (second documented value).
        FREE_NEVER_IN_POOL_2 = 0x43;
        /// Freeing a non-allocated nonpaged-pool address; P2 address, P3 reserved, P4 0.
        FREE_UNALLOCATED_NONPAGED_2 = 0x44;
        /// Freeing an invalid pool address; P2 address, P3 0, P4 0.
        FREE_INVALID_ADDRESS = 0x46;
        /// Freeing a non-allocated nonpaged-pool address; P2 address, P3 physical page,
        /// P4 highest physical page.
        FREE_UNALLOCATED_NONPAGED_3 = 0x47;
        /// Freeing a non-allocated paged-pool address; P2 address, P3–P4 reserved.
        FREE_UNALLOCATED_PAGED = 0x48;
        /// Freeing a non-allocated paged-pool address; P2 address, P3 page offset into paged pool,
        /// P4 paged pool size.
        FREE_UNALLOCATED_PAGED_2 = 0x50;
        /// `MmFreeContiguousMemory` given a bad pointer; P2 address, P3 0, P4 0.
        FREE_BAD_CONTIGUOUS_MEMORY = 0x60;
        /// Freeing pool with an invalid address (or a corrupt header); P2 address, P3 0, P4 0.
        FREE_BAD_POOL_ADDRESS = 0x99;
        /// Freeing a paged-pool address in the middle of an allocation; P4 page offset into paged pool.
        FREE_PAGED_MID_ALLOCATION = 0x41286;
    }
}

/// A bug check the model detected: what Windows would pass to `KeBugCheckEx`, plus an
/// explanation in words.
#[derive(Clone, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct BugCheck {
    /// The stop code.
    pub code: BugCheckCode,
    /// Parameters 1–4 as Windows documents them for `code`.
    pub params: [u64; 4],
    /// What the model detected, in words, naming the semantics.md section / invariant (e.g. "§8.8 double MmUnlockPages").
    pub detail: String,
}

impl BugCheck {
    /// A bug check with `code`, `params` and an explanation.
    pub fn new(code: BugCheckCode, params: [u64; 4], detail: impl Into<String>) -> Self {
        BugCheck {
            code,
            params,
            detail: detail.into(),
        }
    }

    /// The name of parameter 1 in `code`'s sub-code table, if this module has one and lists it.
    pub fn subcode_name(&self) -> Option<&'static str> {
        self.code.subcode_name(self.params[0])
    }
}

impl fmt::Display for BugCheck {
    /// `*** STOP: 0x0000004E (0x0000000000000007, 0x…, 0x…, 0x…) PFN_LIST_CORRUPT: <detail>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p1, p2, p3, p4] = self.params;
        write!(
            f,
            "*** STOP: 0x{:08X} (0x{p1:016X}, 0x{p2:016X}, 0x{p3:016X}, 0x{p4:016X}) ",
            self.code.0
        )?;
        match self.code.name() {
            Some(name) => write!(f, "{name}: {}", self.detail),
            None => write!(f, "BUGCHECK_0x{:X}: {}", self.code.0, self.detail),
        }
    }
}

impl std::error::Error for BugCheck {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_values() {
        let expected: &[(BugCheckCode, u32)] = &[
            (BugCheckCode::IRQL_NOT_LESS_OR_EQUAL, 0x0A),
            (BugCheckCode::MEMORY_MANAGEMENT, 0x1A),
            (BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED, 0x1E),
            (BugCheckCode::KERNEL_APC_PENDING_DURING_EXIT, 0x20),
            (BugCheckCode::NO_MORE_IRP_STACK_LOCATIONS, 0x35),
            (BugCheckCode::NO_MORE_SYSTEM_PTES, 0x3F),
            (BugCheckCode::TARGET_MDL_TOO_SMALL, 0x40),
            (BugCheckCode::INVALID_MDL_RANGE, 0x12E),
            (BugCheckCode::MULTIPLE_IRP_COMPLETE_REQUESTS, 0x44),
            (BugCheckCode::CANCEL_STATE_IN_COMPLETED_IRP, 0x48),
            (BugCheckCode::PFN_LIST_CORRUPT, 0x4E),
            (BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA, 0x50),
            (BugCheckCode::PROCESS_HAS_LOCKED_PAGES, 0x76),
            (BugCheckCode::SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, 0x7E),
            (BugCheckCode::SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION, 0xC1),
            (BugCheckCode::BAD_POOL_CALLER, 0xC2),
            (BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION, 0xC4),
            (BugCheckCode::DRIVER_CORRUPTED_EXPOOL, 0xC5),
            (BugCheckCode::DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0xC9),
            (BugCheckCode::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, 0xCB),
            (BugCheckCode::DRIVER_IRQL_NOT_LESS_OR_EQUAL, 0xD1),
            (BugCheckCode::DRIVER_UNMAPPING_INVALID_VIEW, 0xD7),
            (BugCheckCode::DRIVER_USED_EXCESSIVE_PTES, 0xD8),
            (BugCheckCode::LOCKED_PAGES_TRACKER_CORRUPTION, 0xD9),
            (BugCheckCode::SYSTEM_PTE_MISUSE, 0xDA),
            (BugCheckCode::DRIVER_CORRUPTED_SYSPTES, 0xDB),
        ];
        for (code, value) in expected {
            assert_eq!(code.0, *value, "{code}");
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            BugCheckCode::PFN_LIST_CORRUPT.name(),
            Some("PFN_LIST_CORRUPT")
        );
        assert_eq!(BugCheckCode(0x1234).name(), None);
        for c in BugCheckCode::ALL {
            let name = c.name().expect("every listed code is named");
            assert_eq!(BugCheckCode::from_name(name), Some(*c));
        }
        let mut values: Vec<u32> = BugCheckCode::ALL.iter().map(|c| c.0).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), BugCheckCode::ALL.len());
        assert_eq!(BugCheckCode::from_name("NOPE"), None);
    }

    #[test]
    fn code_display_and_debug() {
        assert_eq!(
            BugCheckCode::PFN_LIST_CORRUPT.to_string(),
            "PFN_LIST_CORRUPT (0x4E)"
        );
        assert_eq!(
            format!("{:?}", BugCheckCode::IRQL_NOT_LESS_OR_EQUAL),
            "IRQL_NOT_LESS_OR_EQUAL (0x0A)"
        );
        assert_eq!(BugCheckCode(0x1234).to_string(), "BUGCHECK 0x1234");
    }

    #[test]
    fn subcodes() {
        assert_eq!(pfn_list_corrupt::UNLOCKED_MORE_THAN_LOCKED, 0x07);
        assert_eq!(pfn_list_corrupt::FREE_PAGE_LOCKED_FOR_IO, 0x9A);
        assert_eq!(memory_management::MAP_UNLOCKED_PAGE, 0x1233);
        assert_eq!(memory_management::MDL_UNLOCKED_OR_INVALID_PAGE, 0x1236);
        assert_eq!(memory_management::MDL_FOR_NONRESIDENT_RANGE, 0x1240);
        assert_eq!(memory_management::FLAWED_MDL, 0x61946);
        assert_eq!(system_pte_misuse::MDL_NOT_MAPPED, 0x06);
        assert_eq!(verifier::MAP_LOCKED_PAGES_CALLED, 0x81);
        assert_eq!(verifier::FREE_MDL_STILL_MAPPED, 0xB8);
        assert_eq!(io_verifier::COMPLETE_WITH_CANCEL_ROUTINE, 0x07);
        assert_eq!(bad_pool_caller::DOUBLE_FREE, 0x07);
        assert_eq!(bad_pool_caller::FREE_WITH_WRONG_TAG, 0x0A);
        assert_eq!(
            BugCheckCode::PFN_LIST_CORRUPT.subcode_name(0x07),
            Some("UNLOCKED_MORE_THAN_LOCKED")
        );
        assert_eq!(
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION.subcode_name(0xB4),
            Some("UNLOCK_PAGES_PARTIAL_MDL")
        );
        assert_eq!(BugCheckCode::PFN_LIST_CORRUPT.subcode_name(0x12345), None);
        assert_eq!(BugCheckCode::TARGET_MDL_TOO_SMALL.subcode_name(0), None);
        // Every table is free of duplicates and its name() agrees with ALL.
        for table in [
            verifier::ALL,
            io_verifier::ALL,
            memory_management::ALL,
            pfn_list_corrupt::ALL,
            process_has_locked_pages::ALL,
            locked_pages_tracker_corruption::ALL,
            system_pte_misuse::ALL,
            bad_pool_caller::ALL,
        ] {
            let mut values: Vec<u64> = table.iter().map(|(v, _)| *v).collect();
            values.sort_unstable();
            values.dedup();
            assert_eq!(values.len(), table.len());
        }
        for (v, n) in verifier::ALL {
            assert_eq!(verifier::name(*v), Some(*n));
        }
    }

    #[test]
    fn bugcheck_display() {
        let b = BugCheck::new(
            BugCheckCode::PFN_LIST_CORRUPT,
            [7, 0x1234, 0, 0],
            "§8.8 double MmUnlockPages",
        );
        assert_eq!(
            b.to_string(),
            "*** STOP: 0x0000004E (0x0000000000000007, 0x0000000000001234, \
             0x0000000000000000, 0x0000000000000000) PFN_LIST_CORRUPT: §8.8 double MmUnlockPages"
        );
        assert_eq!(b.subcode_name(), Some("UNLOCKED_MORE_THAN_LOCKED"));
        let u = BugCheck::new(BugCheckCode(0x1234), [0; 4], "x");
        assert_eq!(
            u.to_string(),
            "*** STOP: 0x00001234 (0x0000000000000000, 0x0000000000000000, \
             0x0000000000000000, 0x0000000000000000) BUGCHECK_0x1234: x"
        );
        let e: Box<dyn std::error::Error> = Box::new(b.clone());
        assert_eq!(e.to_string(), b.to_string());
    }

    #[test]
    fn serde_round_trip() {
        assert_eq!(
            serde_json::to_string(&BugCheckCode::SYSTEM_PTE_MISUSE).unwrap(),
            "218"
        );
        let b = BugCheck::new(
            BugCheckCode::SYSTEM_PTE_MISUSE,
            [
                system_pte_misuse::MDL_NOT_MAPPED,
                0xFFFF_8000_0000_1000,
                u64::MAX,
                1,
            ],
            "§8.17 double MmUnmapLockedPages",
        );
        let json = serde_json::to_string(&b).unwrap();
        assert!(json.starts_with(r#"{"code":218,"params":[6,"#), "{json}");
        let back: BugCheck = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
    }
}
