//! Driver Verifier and the memory manager's tracking switches: which of the checks
//! Windows makes only when asked for, the machine makes ([`crate::Config::verifier`],
//! [`crate::Config::track_locked_pages`], [`crate::Config::track_ptes`]).
//!
//! Driver Verifier's bug check `DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4)` "can only
//! occur when Driver Verifier is monitoring" a driver, and `0xC9` only under its I/O
//! Verification (Microsoft's pages for [0xC4] and [0xC9]). The default is Verifier on
//! with its standard options (`verifier /standard`), what a driver author tests under;
//! [`Verifier::OFF`] is a customer's machine.
//!
//! | check | needs | without it, Windows | source |
//! |---|---|---|---|
//! | pool allocated or freed above its IRQL limit | Verifier (an "automatic check") | `BAD_POOL_CALLER (0xC2)` 0x08 (allocate) / 0x09 (free) | [automatic checks], [0xC2] |
//! | `MmProbeAndLockPages`, `MmMapLockedPages…`, `MmUnlockPages`, `MmUnmapLockedPages`, `MmAllocatePagesForMdl` above their IRQL limits (0xC4/0x70–0x7E) | Verifier | not documented: the model stops as Verifier does (backlog) | [0xC4] |
//! | freeing an address no allocation returned (0xC4/0x10) or one already freed (0x13) | Verifier (an automatic check) | `BAD_POOL_CALLER (0xC2)` 0x46 / 0x07 | [automatic checks], [0xC2] |
//! | a zero-byte pool allocation (0xC4/0x00) | Verifier (an automatic check) | the model gives a minimal block (Microsoft's 0xC2 page lists a zero-byte request, 0x00, without saying when a kernel raises it) | [automatic checks], [0xC2] |
//! | a driver's `MmUnmapLockedPages` of a partial MDL (0xC4/0xB5) | Verifier (an automatic check) | the partial's own mapping is unmapped | [automatic checks] |
//! | `MmUnmapLockedPages` of an MDL not mapped to system space (0xC4/0xB6) | Verifier (an automatic check) | with `TrackPtes` `SYSTEM_PTE_MISUSE (0xDA)` 0x06; without, found later if ever (the model reports 0x06 in both) | [automatic checks], [0xDA] |
//! | mapping pages that are not locked (0xC4/0x85, 0xB3) | Verifier | `MEMORY_MANAGEMENT (0x1A)` 0x1233, P2 the page | [0xC4], [0x1A] |
//! | `MmUnlockPages` of an MDL that is not locked (0xC4/0x7C) | Verifier | the unlock runs: each page's reference drops, and a page left below its share is `PFN_LIST_CORRUPT (0x4E)` 0x07 ("a driver unlocked pages more times than locked") | [0xC4], [0x4E] |
//! | the other MDL checks (0xC4/0x7D, 0x7F, 0x81, 0x89, 0xB0, 0xB2, 0xB4, 0xB8), `KeRaiseIrql` / `KeLowerIrql` / spin lock misuse (0x30–0x42) | Verifier | not documented: the model stops as Verifier does (backlog) | [0xC4], [automatic checks] |
//! | paged pool touched at `DISPATCH_LEVEL` or above | Verifier's Force IRQL Checking, which trims pageable memory whenever a verified driver raises IRQL: the touch faults every time | the page is usually resident and nothing happens (`DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1)` only when it was paged out); the model records the event `PagedPoolAccessAtRaisedIrql` | [Force IRQL Checking], [0xD1] |
//! | a process deleted with pages still locked names the MDL | `TrackLockedPages`, or Verifier's Pool Tracking (Windows Vista and later) | `PROCESS_HAS_LOCKED_PAGES (0x76)` P1 0, naming only the process; with tracking `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB)` | [0xCB], [Pool Tracking] |
//! | no system PTEs left for a mapping that must not fail | `TrackPtes` | `NO_MORE_SYSTEM_PTES (0x3F)`; with tracking `DRIVER_USED_EXCESSIVE_PTES (0xD8)` | [0x3F], [0xD8] |
//! | I/O Verification's 0xC9 checks (an IRP freed while queued to a thread, a device with both `DO_BUFFERED_IO` and `DO_DIRECT_IO`) | I/O Verification (and Enhanced I/O Verification, part of it since Windows 7) | not documented: the model stops as Verifier does (backlog) | [0xC9], [I/O Verification] |
//! | unmap mismatches, `SYSTEM_PTE_MISUSE (0xDA)` 0x03–0x06 | `TrackPtes` (Microsoft's 0xDB page) | found later if ever (typically `DRIVER_CORRUPTED_SYSPTES (0xDB)`); the model reports the mismatch at the unmap in both settings (backlog) | [0xDA], [0xDB] |
//!
//! Two choices the sources leave open. Verifier's "automatic checks" (the pool and IRQL
//! rules, the MDL flag checks) ran with any option before Windows 10 version 1709 and
//! have since "moved into relevant standard flags" without saying which: the model runs
//! them whenever Verifier is on, whatever the options. Pool Tracking's locked-page
//! tracking is modelled at process deletion (0xCB); `MmUnlockPages` of an MDL that is
//! not locked stays Verifier's 0xC4/0x7C under it, and is `PROCESS_HAS_LOCKED_PAGES
//! (0x76)` P1 1 only with `TrackLockedPages` (which of the two Windows raises when both
//! are on is not documented).
//!
//! Where the table says "not documented", no public source says what a kernel without
//! the check does next (it runs on with a corrupted MDL, list or IRQL), so the model
//! keeps the check's bug check whatever the setting, as it keeps a checked build's
//! `ASSERT` where the free build's continuation is unknown; tests/conformance/README.md
//! lists them.
//!
//! [0xC4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
//! [0xC9]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc9--driver-verifier-iomanager-violation
//! [0xC2]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc2--bad-pool-caller
//! [0x1A]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
//! [0x4E]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4e--pfn-list-corrupt
//! [0xD1]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd1--driver-irql-not-less-or-equal
//! [0xCB]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xcb--driver-left-locked-pages-in-process
//! [0x3F]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x3f--no-more-system-ptes
//! [0xD8]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd8--driver-used-excessive-ptes
//! [0xDA]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
//! [0xDB]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xdb--driver-corrupted-sysptes
//! [automatic checks]: https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/automatic-checks
//! [Force IRQL Checking]: https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/force-irql-checking
//! [Pool Tracking]: https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/pool-tracking
//! [I/O Verification]: https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/i-o-verification

use serde::{Deserialize, Serialize};

/// Driver Verifier's settings for the drivers under test: on or off, and the options
/// whose checks the model makes (module docs). `verifier /flags` bits: Force IRQL
/// Checking 0x2, Pool Tracking 0x8, I/O Verification 0x10 (Microsoft, ["Driver Verifier
/// command syntax"]).
///
/// The default is [`Verifier::STANDARD`]: on, with every option of the standard set
/// (`verifier /standard`, flags 0x209BB) the model has. In a scenario file a field left
/// out keeps that default: `{"pool_tracking": false}` is the standard set without Pool
/// Tracking, `{"enabled": false}` no Verifier.
///
/// ```
/// use mdlsim::verifier::Verifier;
/// assert!(Verifier::default().force_irql_checking());
/// assert!(!Verifier::OFF.pool_tracking());
/// assert_eq!(Verifier::from_flags(0x10), Verifier { enabled: true, io_verification: true, ..Verifier::OFF });
/// assert_eq!(Verifier::STANDARD.flags(), 0x1A);
/// ```
///
/// ["Driver Verifier command syntax"]: https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/verifier-command-line
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(default, deny_unknown_fields)]
pub struct Verifier {
    /// Driver Verifier verifies the drivers under test: its automatic checks (pool and
    /// IRQL rules, the MDL flag checks) and the MDL checks no option owns run.
    pub enabled: bool,
    /// Force IRQL Checking (0x2): pageable memory is trimmed whenever a verified driver
    /// raises IRQL, so touching paged pool at `DISPATCH_LEVEL` or above faults:
    /// `DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1)`.
    pub force_irql_checking: bool,
    /// Pool Tracking (0x8): on Windows Vista and later it also tracks locked pages, so a
    /// process deleted with pages locked is `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB)`
    /// naming the MDL.
    pub pool_tracking: bool,
    /// I/O Verification (0x10, with Enhanced I/O Verification): the `0xC9` checks.
    pub io_verification: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::STANDARD
    }
}

impl Verifier {
    /// Verifier off: a customer's machine.
    pub const OFF: Verifier = Verifier {
        enabled: false,
        force_irql_checking: false,
        pool_tracking: false,
        io_verification: false,
    };

    /// `verifier /standard`: on, with Force IRQL Checking, Pool Tracking and I/O
    /// Verification (the standard options the model has; Special Pool, Deadlock
    /// Detection, DMA, Security, Miscellaneous and DDI compliance checks are not
    /// modelled).
    pub const STANDARD: Verifier = Verifier {
        enabled: true,
        force_irql_checking: true,
        pool_tracking: true,
        io_verification: true,
    };

    /// Force IRQL Checking (0x2).
    pub const FORCE_IRQL_CHECKING: u32 = 0x2;
    /// Pool Tracking (0x8).
    pub const POOL_TRACKING: u32 = 0x8;
    /// I/O Verification (0x10).
    pub const IO_VERIFICATION: u32 = 0x10;

    /// Verifier on with the options of a `verifier /flags` value (bits the model does
    /// not have are ignored; 0 is Verifier on with no option, its automatic checks only).
    pub fn from_flags(flags: u32) -> Verifier {
        Verifier {
            enabled: true,
            force_irql_checking: flags & Self::FORCE_IRQL_CHECKING != 0,
            pool_tracking: flags & Self::POOL_TRACKING != 0,
            io_verification: flags & Self::IO_VERIFICATION != 0,
        }
    }

    /// The `verifier /flags` bits of the options that are on (0 when Verifier is off).
    pub fn flags(self) -> u32 {
        if !self.enabled {
            return 0;
        }
        [
            (self.force_irql_checking, Self::FORCE_IRQL_CHECKING),
            (self.pool_tracking, Self::POOL_TRACKING),
            (self.io_verification, Self::IO_VERIFICATION),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit)
    }

    /// Force IRQL Checking is in effect (Verifier on with the option).
    pub fn force_irql_checking(self) -> bool {
        self.enabled && self.force_irql_checking
    }

    /// Pool Tracking is in effect.
    pub fn pool_tracking(self) -> bool {
        self.enabled && self.pool_tracking
    }

    /// I/O Verification is in effect.
    pub fn io_verification(self) -> bool {
        self.enabled && self.io_verification
    }
}
