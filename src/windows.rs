//! The Windows being modelled. Where versions differ in a rule the model enforces, the
//! machine's [`WindowsVersion`] ([`crate::Config::windows`]) picks the behaviour, and
//! the routine's rustdoc says which version does what. The default is Windows 10/11.
//!
//! What differs today:
//!
//! | rule | Server 2003 (NT 5.2) | Vista | Windows 7 – 11 |
//! |---|---|---|---|
//! | largest `IoAllocateMdl` `Length` | the descriptor fits 0xFFFF bytes: `PAGE_SIZE × (65535 − sizeof(MDL)) / sizeof(ULONG_PTR)` (8,185 pages on amd64) | 2 GiB − `PAGE_SIZE` | 4 GiB − `PAGE_SIZE` |
//! | largest `MmAllocatePagesForMdl(Ex)` allocation | 8,185 pages, a larger request shrunk by sixteenths until it fits | as Windows 7 (not documented separately) | 4 GiB − `PAGE_SIZE` |
//! | `PAGE_FAULT_IN_NONPAGED_AREA (0x50)` P2 of a write | 1 | 1 | 1 on Windows 7 – 8.1, 2 on Windows 10/11 |
//!
//! Sources: Microsoft, [`IoAllocateMdl`] (Remarks: the maximum buffer size per version)
//! and [`MmAllocatePagesForMdlEx`] (the maximum of one call); ReactOS's kmtests
//! `IoMdl.c` and `MmMdl.c`, which assert NT 5.2's limits (tests/conformance/);
//! Microsoft's [bug check 0x50] page (P2 per version).
//!
//! [bug check 0x50]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x50--page-fault-in-nonpaged-area
//! [`IoAllocateMdl`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioallocatemdl
//! [`MmAllocatePagesForMdlEx`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmallocatepagesformdlex

use crate::addr::{PAGE_SIZE, Va, bytes_to_pages, size_of_mdl};
use serde::{Deserialize, Serialize};

/// A Windows release, where the model's rules differ between releases (module docs).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum WindowsVersion {
    /// Windows Server 2003 and XP (NT 5.2 / 5.1): what ReactOS implements and its kmtests
    /// assert.
    Server2003,
    /// Windows Vista and Server 2008.
    Vista,
    /// Windows 7, 8 and 8.1 (Server 2008 R2 – 2012 R2).
    Windows7,
    /// Windows 10 and 11: the default.
    #[default]
    Windows10,
}

/// `4 GiB − PAGE_SIZE`: the largest MDL of Windows 7 and later.
pub(crate) const MAX_MDL_BYTES_WIN7: u64 = (1 << 32) - PAGE_SIZE;
/// `2 GiB − PAGE_SIZE`: the largest MDL of Vista.
const MAX_MDL_BYTES_VISTA: u64 = (1 << 31) - PAGE_SIZE;

impl WindowsVersion {
    /// Every version, oldest first.
    pub const ALL: [WindowsVersion; 4] = [
        WindowsVersion::Server2003,
        WindowsVersion::Vista,
        WindowsVersion::Windows7,
        WindowsVersion::Windows10,
    ];

    /// `PAGE_FAULT_IN_NONPAGED_AREA (0x50)`'s P2 for a read (`write` false) or a write:
    /// on x64 after Windows 10 1507 a read is 0 and a write 2 (an execute 10); before it
    /// a read is 0 and a write 1 (Microsoft's [bug check 0x50] page). The model's
    /// [`WindowsVersion::Windows10`] is a current Windows 10/11.
    ///
    /// ```
    /// use mdlsim::windows::WindowsVersion;
    /// assert_eq!(WindowsVersion::Windows10.page_fault_access(true), 2);
    /// assert_eq!(WindowsVersion::Windows7.page_fault_access(true), 1);
    /// assert_eq!(WindowsVersion::Windows10.page_fault_access(false), 0);
    /// ```
    ///
    /// [bug check 0x50]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x50--page-fault-in-nonpaged-area
    pub const fn page_fault_access(self, write: bool) -> u64 {
        match (write, self) {
            (false, _) => 0,
            (true, WindowsVersion::Windows10) => 2,
            (true, _) => 1,
        }
    }

    /// Whether `IoAllocateMdl(va, length)` can allocate the MDL (else it returns NULL):
    /// on NT 5.2 the descriptor (`MmSizeOfMdl`) must fit its 16-bit `Size`, and a length
    /// of 2 GiB or more is refused; Vista accepts up to 2 GiB − `PAGE_SIZE`; Windows 7
    /// and later up to 4 GiB − `PAGE_SIZE` (the `Size` field then wraps, as it does on
    /// Windows).
    ///
    /// ```
    /// use mdlsim::{addr::Va, windows::WindowsVersion};
    /// let at = Va::new(0x10000);
    /// assert!(!WindowsVersion::Server2003.io_allocate_mdl_fits(at, 64 << 20));
    /// assert!(WindowsVersion::Windows10.io_allocate_mdl_fits(at, 64 << 20));
    /// assert!(!WindowsVersion::Windows10.io_allocate_mdl_fits(at, u32::MAX));
    /// ```
    pub fn io_allocate_mdl_fits(self, va: Va, length: u32) -> bool {
        let len = length as u64;
        match self {
            WindowsVersion::Server2003 => len < 0x8000_0000 && size_of_mdl(va, len) <= 0xFFFF,
            WindowsVersion::Vista => len <= MAX_MDL_BYTES_VISTA,
            WindowsVersion::Windows7 | WindowsVersion::Windows10 => len <= MAX_MDL_BYTES_WIN7,
        }
    }

    /// The pages `MmAllocatePagesForMdl(Ex)` asks for, for `total_bytes`: `SPAN(0,
    /// TotalBytes)`, at most the version's largest allocation. On NT 5.2 the MDL is made
    /// by `MmCreateMdl`, which refuses 2 GiB or more and a descriptor over 0xFFFF bytes,
    /// and `MiAllocatePagesForMdl` retries with `PageCount -= PageCount / 16` until it
    /// fits ([semantics §3.9]); Vista and later allocate up to 4 GiB − `PAGE_SIZE` in one
    /// call (Microsoft's page), a larger request getting that maximum (the call may return
    /// fewer pages than asked: "the MDL describes as much physical memory as is
    /// available"). 0 for a zero request.
    ///
    /// [semantics §3.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.9
    pub fn pages_for_mdl_request(self, total_bytes: u64) -> u64 {
        let mut pages = bytes_to_pages(total_bytes);
        if self != WindowsVersion::Server2003 {
            return pages.min(MAX_MDL_BYTES_WIN7 / PAGE_SIZE);
        }
        while pages != 0 {
            let fits = pages
                .checked_mul(PAGE_SIZE)
                .is_some_and(|b| b < 0x8000_0000 && size_of_mdl(Va::NULL, b) <= 0xFFFF);
            if fits {
                break;
            }
            // Only counts above 8,185 fail, so `pages / 16` is never 0 here.
            pages -= pages / 16;
        }
        pages
    }
}

/// Free or checked build of the kernel: what happens at a failed `ASSERT`.
///
/// The checked ("debug") builds of Windows carried the kernel's `ASSERT`s; the free
/// ("retail") builds, what every customer runs, compile them out and carry on. Checked
/// builds "were available on older versions of Windows, before Windows 10 version 1803"
/// (Microsoft, [Checked Build of Windows]); the default is [`KernelBuild::Free`].
///
/// Either way a failed `ASSERT` is a misuse the oracle reports: in a checked build as
/// the bug check the `ASSERT` raises (`KMODE_EXCEPTION_NOT_HANDLED (0x1E)` with
/// `STATUS_BREAKPOINT`), in a free build as an event the oracle turns into a finding,
/// after which the routine goes on as the free build does, so what happens next on a
/// customer's machine can be observed. Where the free build's continuation is not
/// modelled (its next steps are undefined behaviour in the kernel, and neither Microsoft
/// nor a test run on Windows says what they are), the model stops at the `ASSERT` in both
/// builds; [`KernelBuild::continues_after`] and the conformance suite's backlog list
/// which routines go on.
///
/// | `ASSERT` | checked | free |
/// |---|---|---|
/// | `IoAllocateMdl`: `Length != 0` | 0x1E | a fixed-size MDL with `ByteCount` 0 ([semantics §3.2]; ReactOS's kmtest `IoMdl`, Windows rows), event `ZeroLengthMdlAllocated` |
/// | `IoCompleteRequest`: `IoStatus.Status != STATUS_PENDING` | 0x1E | the IRP completes with `STATUS_PENDING` in the caller's IOSB (Wine's `do_return_status`, run on Windows), event `CompletedWithStatusPending` |
/// | `IoReuseIrp`: no cancel routine | 0x1E | the IRP is reinitialised, the cancel routine cleared with the rest (`IoInitializeIrp` zeroes the IRP), event `IrpReusedWhileInUse` |
/// | the others (`MmProbeAndLockPages`, `MmUnlockPages`, `MmMapLockedPagesSpecifyCache`, `MmBuildMdlForNonPagedPool` of a zero `ByteCount`, …) | 0x1E | 0x1E: not modelled |
///
/// [semantics §3.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.2
/// [Checked Build of Windows]: https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/checked-build-of-windows
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum KernelBuild {
    /// The retail build: `ASSERT`s compiled out. The default.
    #[default]
    Free,
    /// The debug build (Windows before Windows 10, version 1803): every `ASSERT` checked.
    Checked,
}

/// An `ASSERT` whose free-build continuation the model plays (see [`KernelBuild`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AssertSite {
    /// `IoAllocateMdl`'s `Length != 0`.
    IoAllocateMdlLength,
    /// `IofCompleteRequest`'s `IoStatus.Status != STATUS_PENDING`.
    CompleteRequestPending,
    /// `IoReuseIrp`'s `CancelRoutine == NULL` (the free build's `IoInitializeIrp` then
    /// clears it).
    ReuseIrpCancelRoutine,
}

impl KernelBuild {
    /// Whether a failed `ASSERT` at `site` lets the routine go on: only in a free build.
    ///
    /// ```
    /// use mdlsim::windows::{AssertSite, KernelBuild};
    /// assert!(KernelBuild::Free.continues_after(AssertSite::CompleteRequestPending));
    /// assert!(!KernelBuild::Checked.continues_after(AssertSite::IoAllocateMdlLength));
    /// ```
    pub fn continues_after(self, site: AssertSite) -> bool {
        match site {
            AssertSite::IoAllocateMdlLength
            | AssertSite::CompleteRequestPending
            | AssertSite::ReuseIrpCancelRoutine => self == KernelBuild::Free,
        }
    }
}
