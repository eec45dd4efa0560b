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

mod code;
mod subcodes;

pub use subcodes::{
    bad_pool_caller, io_verifier, locked_pages_tracker_corruption, memory_management,
    pfn_list_corrupt, process_has_locked_pages, system_pte_misuse, verifier,
};

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
    /// 0x4A: a thread returned to user mode from a system service at an IRQL above
    /// `PASSIVE_LEVEL`; P1 the system service's address, P2 the IRQL, P3 0, P4 0
    /// ([page 0x4A]; [semantics §5.9]).
    ///
    /// [page 0x4a]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4a--irql-gt-zero-at-system-service
    /// [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9
    IRQL_GT_ZERO_AT_SYSTEM_SERVICE = 0x4A;
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
mod tests;
