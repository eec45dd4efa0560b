//! `NTSTATUS` values: the status codes kernel routines return, raise, and store in
//! `IRP.IoStatus.Status`.
//!
//! Layout (Microsoft [MS-ERREF] §2.3 "NTSTATUS"; `ntstatus.h` header comment): bits 31–30 are
//! the severity (0 success, 1 informational, 2 warning, 3 error), bit 29 the customer flag,
//! bit 28 reserved, bits 27–16 the facility and bits 15–0 the code.
//!
//! Predicates follow the `ntstatus.h` macros exactly: `NT_SUCCESS(s)` is `(NTSTATUS)s >= 0`
//! (so informational values succeed and warnings such as `STATUS_BUFFER_OVERFLOW` do **not**),
//! and `NT_INFORMATION` / `NT_WARNING` / `NT_ERROR` test `(ULONG)s >> 30` for 1 / 2 / 3.
//!
//! Sources. Every constant's value was checked against Microsoft's published Win32 metadata
//! for `ntstatus.h` (the `windows-sys` 0.59 crate from `microsoft/windows-rs`,
//! `Win32::Foundation::STATUS_*`), which is the machine-readable form of the list in
//! [MS-ERREF] §2.3.1 "NTSTATUS Values". Each constant's doc names its `ntstatus.h` symbol;
//! the section of the project's [docs/semantics.md][semantics.md] that needs it is linked where
//! relevant (`semantics §…`).
//!
//! [semantics.md]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md

use core::fmt;

/// A 32-bit `NTSTATUS` value.
///
/// Stored unsigned so the hexadecimal form reads naturally; [`NtStatus::as_i32`] gives the
/// signed `NTSTATUS` view that `NT_SUCCESS` uses. Serialises as the bare `u32`.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct NtStatus(pub u32);

/// Defines the named constants, [`NtStatus::ALL`] and [`NtStatus::name`] from one table, so a
/// value and its name can never drift apart (and a duplicated value is a compile warning).
macro_rules! ntstatus_table {
    ($( $(#[$meta:meta])* $name:ident = $value:literal ; )*) => {
        impl NtStatus {
            $( $(#[$meta])* pub const $name: NtStatus = NtStatus($value); )*

            /// Every status this module names, in table order.
            pub const ALL: &'static [NtStatus] = &[$(NtStatus::$name),*];

            /// The `ntstatus.h` symbol of this value (e.g. `"STATUS_ACCESS_VIOLATION"`), or `None`
            /// if this module does not name it.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(concat!("STATUS_", stringify!($name))), )*
                    _ => None,
                }
            }
        }
    };
}

ntstatus_table! {
    // ---- Severity 0: success -------------------------------------------------------------
    /// `STATUS_SUCCESS` (0x00000000): the operation completed successfully (ntstatus.h).
    #[doc(alias = "STATUS_SUCCESS")]
    SUCCESS = 0x0000_0000;
    /// `STATUS_USER_APC` (0x000000C0): an alertable wait was ended by a user-mode APC (ntstatus.h).
    #[doc(alias = "STATUS_USER_APC")]
    USER_APC = 0x0000_00C0;
    /// `STATUS_ALERTED` (0x00000101): an alertable wait was ended by an alert (ntstatus.h).
    #[doc(alias = "STATUS_ALERTED")]
    ALERTED = 0x0000_0101;
    /// `STATUS_TIMEOUT` (0x00000102): a wait's timeout expired; a success code (ntstatus.h).
    #[doc(alias = "STATUS_TIMEOUT")]
    TIMEOUT = 0x0000_0102;
    /// `STATUS_PENDING` (0x00000103): the operation will complete later; success by `NT_SUCCESS`,
    /// never a legal completion status (ntstatus.h; [semantics §5.7], [invariant 27]).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
    #[doc(alias = "STATUS_PENDING")]
    PENDING = 0x0000_0103;
    /// `STATUS_NOTIFY_ENUM_DIR` (0x0000010C): a directory-change notification overflowed the
    /// caller's buffer; the caller must enumerate (ntstatus.h).
    #[doc(alias = "STATUS_NOTIFY_ENUM_DIR")]
    NOTIFY_ENUM_DIR = 0x0000_010C;

    // ---- Severity 2: warning -------------------------------------------------------------
    /// `STATUS_GUARD_PAGE_VIOLATION` (0x80000001): a guard page was touched (ntstatus.h).
    #[doc(alias = "STATUS_GUARD_PAGE_VIOLATION")]
    GUARD_PAGE_VIOLATION = 0x8000_0001;
    /// `STATUS_DATATYPE_MISALIGNMENT` (0x80000002): a misaligned data reference (ntstatus.h).
    #[doc(alias = "STATUS_DATATYPE_MISALIGNMENT")]
    DATATYPE_MISALIGNMENT = 0x8000_0002;
    /// `STATUS_BREAKPOINT` (0x80000003): a breakpoint was reached (ntstatus.h).
    #[doc(alias = "STATUS_BREAKPOINT")]
    BREAKPOINT = 0x8000_0003;
    /// `STATUS_BUFFER_OVERFLOW` (0x80000005): data did not fit; a *warning*, so buffered
    /// copy-back still happens (ntstatus.h; [semantics §5.7] stage 2).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    #[doc(alias = "STATUS_BUFFER_OVERFLOW")]
    BUFFER_OVERFLOW = 0x8000_0005;
    /// `STATUS_PARTIAL_COPY` (0x8000000D): only part of a read/write request completed (ntstatus.h).
    #[doc(alias = "STATUS_PARTIAL_COPY")]
    PARTIAL_COPY = 0x8000_000D;
    /// `STATUS_VERIFY_REQUIRED` (0x80000016): the media changed; blocks buffered copy-back
    /// (ntstatus.h; [semantics §5.7] stage 2, [invariant 28]).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [invariant 28]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-28
    #[doc(alias = "STATUS_VERIFY_REQUIRED")]
    VERIFY_REQUIRED = 0x8000_0016;

    // ---- Severity 3: error ---------------------------------------------------------------
    /// `STATUS_UNSUCCESSFUL` (0xC0000001): the requested operation was unsuccessful (ntstatus.h).
    #[doc(alias = "STATUS_UNSUCCESSFUL")]
    UNSUCCESSFUL = 0xC000_0001;
    /// `STATUS_NOT_IMPLEMENTED` (0xC0000002): the requested operation is not implemented (ntstatus.h).
    #[doc(alias = "STATUS_NOT_IMPLEMENTED")]
    NOT_IMPLEMENTED = 0xC000_0002;
    /// `STATUS_ACCESS_VIOLATION` (0xC0000005): an invalid memory reference; raised by failed
    /// probes (ntstatus.h; [invariant 5]).
    ///
    /// [invariant 5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-5
    #[doc(alias = "STATUS_ACCESS_VIOLATION")]
    ACCESS_VIOLATION = 0xC000_0005;
    /// `STATUS_IN_PAGE_ERROR` (0xC0000006): a page could not be read in (ntstatus.h).
    #[doc(alias = "STATUS_IN_PAGE_ERROR")]
    IN_PAGE_ERROR = 0xC000_0006;
    /// `STATUS_INVALID_HANDLE` (0xC0000008): an invalid handle was specified (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_HANDLE")]
    INVALID_HANDLE = 0xC000_0008;
    /// `STATUS_INVALID_PARAMETER` (0xC000000D): an invalid parameter was passed (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_PARAMETER")]
    INVALID_PARAMETER = 0xC000_000D;
    /// `STATUS_INVALID_DEVICE_REQUEST` (0xC0000010): the request is not valid for this device (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_DEVICE_REQUEST")]
    INVALID_DEVICE_REQUEST = 0xC000_0010;
    /// `STATUS_END_OF_FILE` (0xC0000011): the end of the file was reached (ntstatus.h).
    #[doc(alias = "STATUS_END_OF_FILE")]
    END_OF_FILE = 0xC000_0011;
    /// `STATUS_MORE_PROCESSING_REQUIRED` (0xC0000016): returned by a completion routine to stop
    /// completion processing (ntstatus.h; [semantics §5.7] stage 1 step 2).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    #[doc(alias = "STATUS_MORE_PROCESSING_REQUIRED")]
    MORE_PROCESSING_REQUIRED = 0xC000_0016;
    /// `STATUS_NO_MEMORY` (0xC0000017): not enough virtual memory or paging-file quota (ntstatus.h).
    #[doc(alias = "STATUS_NO_MEMORY")]
    NO_MEMORY = 0xC000_0017;
    /// `STATUS_CONFLICTING_ADDRESSES` (0xC0000018): the address range conflicts with the address
    /// space (ntstatus.h).
    #[doc(alias = "STATUS_CONFLICTING_ADDRESSES")]
    CONFLICTING_ADDRESSES = 0xC000_0018;
    /// `STATUS_UNABLE_TO_DELETE_SECTION` (0xC000001B): `NtFreeVirtualMemory` on memory that is
    /// not private (a section view or an MDL user mapping) (ntstatus.h).
    #[doc(alias = "STATUS_UNABLE_TO_DELETE_SECTION")]
    UNABLE_TO_DELETE_SECTION = 0xC000_001B;
    /// `STATUS_NOT_COMMITTED` (0xC000002D): the pages are reserved but not committed (ntstatus.h).
    #[doc(alias = "STATUS_NOT_COMMITTED")]
    NOT_COMMITTED = 0xC000_002D;
    /// `STATUS_NOT_MAPPED_VIEW` (0xC0000019): the range to unmap is not a mapped view (ntstatus.h).
    #[doc(alias = "STATUS_NOT_MAPPED_VIEW")]
    NOT_MAPPED_VIEW = 0xC000_0019;
    /// `STATUS_UNABLE_TO_FREE_VM` (0xC000001A): the virtual memory cannot be freed (ntstatus.h).
    #[doc(alias = "STATUS_UNABLE_TO_FREE_VM")]
    UNABLE_TO_FREE_VM = 0xC000_001A;
    /// `STATUS_ACCESS_DENIED` (0xC0000022): the caller lacks the required access, e.g. an IOCTL's
    /// required access bits (ntstatus.h; [semantics §5.1]).
    ///
    /// [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1
    #[doc(alias = "STATUS_ACCESS_DENIED")]
    ACCESS_DENIED = 0xC000_0022;
    /// `STATUS_BUFFER_TOO_SMALL` (0xC0000023): the buffer is too small; nothing was returned (ntstatus.h).
    #[doc(alias = "STATUS_BUFFER_TOO_SMALL")]
    BUFFER_TOO_SMALL = 0xC000_0023;
    /// `STATUS_NOT_LOCKED` (0xC000002A): the range to unlock was not locked (ntstatus.h).
    #[doc(alias = "STATUS_NOT_LOCKED")]
    NOT_LOCKED = 0xC000_002A;
    /// `STATUS_SECTION_TOO_BIG` (0xC0000040): the section or view is too big (ntstatus.h).
    #[doc(alias = "STATUS_SECTION_TOO_BIG")]
    SECTION_TOO_BIG = 0xC000_0040;
    /// `STATUS_QUOTA_EXCEEDED` (0xC0000044): a quota limit was exceeded, e.g. pool quota charged
    /// for a system buffer (ntstatus.h).
    #[doc(alias = "STATUS_QUOTA_EXCEEDED")]
    QUOTA_EXCEEDED = 0xC000_0044;
    /// `STATUS_INVALID_PAGE_PROTECTION` (0xC0000045): the page protection is invalid (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_PAGE_PROTECTION")]
    INVALID_PAGE_PROTECTION = 0xC000_0045;
    /// `STATUS_THREAD_IS_TERMINATING` (0xC000004B): the thread is being terminated (ntstatus.h).
    #[doc(alias = "STATUS_THREAD_IS_TERMINATING")]
    THREAD_IS_TERMINATING = 0xC000_004B;
    /// `STATUS_INSUFFICIENT_RESOURCES` (0xC000009A): insufficient system resources, e.g.
    /// `IoAllocateMdl` returned NULL (ntstatus.h; [semantics §5.2]).
    ///
    /// [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
    #[doc(alias = "STATUS_INSUFFICIENT_RESOURCES")]
    INSUFFICIENT_RESOURCES = 0xC000_009A;
    /// `STATUS_FREE_VM_NOT_AT_BASE` (0xC000009F): the address to free is not an allocation base (ntstatus.h).
    #[doc(alias = "STATUS_FREE_VM_NOT_AT_BASE")]
    FREE_VM_NOT_AT_BASE = 0xC000_009F;
    /// `STATUS_MEMORY_NOT_ALLOCATED` (0xC00000A0): the memory to free was not allocated (ntstatus.h).
    #[doc(alias = "STATUS_MEMORY_NOT_ALLOCATED")]
    MEMORY_NOT_ALLOCATED = 0xC000_00A0;
    /// `STATUS_WORKING_SET_QUOTA` (0xC00000A1): working-set quota too low to lock the pages (ntstatus.h).
    #[doc(alias = "STATUS_WORKING_SET_QUOTA")]
    WORKING_SET_QUOTA = 0xC000_00A1;
    /// `STATUS_DEVICE_NOT_READY` (0xC00000A3): the device is not ready (ntstatus.h).
    #[doc(alias = "STATUS_DEVICE_NOT_READY")]
    DEVICE_NOT_READY = 0xC000_00A3;
    /// `STATUS_NOT_SUPPORTED` (0xC00000BB): the request is not supported (ntstatus.h).
    #[doc(alias = "STATUS_NOT_SUPPORTED")]
    NOT_SUPPORTED = 0xC000_00BB;
    /// `STATUS_INVALID_USER_BUFFER` (0xC00000E8): the user buffer is invalid for this request (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_USER_BUFFER")]
    INVALID_USER_BUFFER = 0xC000_00E8;
    /// `STATUS_INVALID_PARAMETER_1` (0xC00000EF): the first argument is invalid (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_PARAMETER_1")]
    INVALID_PARAMETER_1 = 0xC000_00EF;
    /// `STATUS_INVALID_PARAMETER_2` (0xC00000F0): the second argument is invalid (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_PARAMETER_2")]
    INVALID_PARAMETER_2 = 0xC000_00F0;
    /// `STATUS_INVALID_PARAMETER_3` (0xC00000F1): the third argument is invalid (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_PARAMETER_3")]
    INVALID_PARAMETER_3 = 0xC000_00F1;
    /// `STATUS_INVALID_PARAMETER_4` (0xC00000F2): the fourth argument is invalid (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_PARAMETER_4")]
    INVALID_PARAMETER_4 = 0xC000_00F2;
    /// `STATUS_INVALID_PARAMETER_5` (0xC00000F3): the fifth argument is invalid (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_PARAMETER_5")]
    INVALID_PARAMETER_5 = 0xC000_00F3;
    /// `STATUS_PROCESS_IS_TERMINATING` (0xC000010A): the target process is exiting; user-mode
    /// MDL mappings fail with it (ntstatus.h; [invariant 16]).
    ///
    /// [invariant 16]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-16
    #[doc(alias = "STATUS_PROCESS_IS_TERMINATING")]
    PROCESS_IS_TERMINATING = 0xC000_010A;
    /// `STATUS_CANCELLED` (0xC0000120): the I/O request was cancelled (ntstatus.h; [semantics §6]).
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    #[doc(alias = "STATUS_CANCELLED")]
    CANCELLED = 0xC000_0120;
    /// `STATUS_INVALID_ADDRESS` (0xC0000141): the address is not valid (ntstatus.h).
    #[doc(alias = "STATUS_INVALID_ADDRESS")]
    INVALID_ADDRESS = 0xC000_0141;
}

impl NtStatus {
    /// `STATUS_SEVERITY_SUCCESS` (0): the value of [`NtStatus::severity`] for success codes.
    pub const SEVERITY_SUCCESS: u8 = 0;
    /// `STATUS_SEVERITY_INFORMATIONAL` (1).
    pub const SEVERITY_INFORMATIONAL: u8 = 1;
    /// `STATUS_SEVERITY_WARNING` (2).
    pub const SEVERITY_WARNING: u8 = 2;
    /// `STATUS_SEVERITY_ERROR` (3).
    pub const SEVERITY_ERROR: u8 = 3;

    /// The signed `NTSTATUS` view of the value.
    pub const fn as_i32(self) -> i32 {
        self.0 as i32
    }

    /// The severity field, bits 31–30 (0 success, 1 informational, 2 warning, 3 error).
    pub const fn severity(self) -> u8 {
        (self.0 >> 30) as u8
    }

    /// The customer flag, bit 29 (set for non-Microsoft values).
    pub const fn is_customer(self) -> bool {
        self.0 & 0x2000_0000 != 0
    }

    /// The facility field, bits 27–16.
    pub const fn facility(self) -> u16 {
        ((self.0 >> 16) & 0x0FFF) as u16
    }

    /// The code field, bits 15–0.
    pub const fn code(self) -> u16 {
        (self.0 & 0xFFFF) as u16
    }

    /// `NT_SUCCESS`: the signed value is non-negative (severity success or informational).
    pub const fn is_success(self) -> bool {
        self.as_i32() >= 0
    }

    /// `NT_INFORMATION`: severity 1.
    pub const fn is_information(self) -> bool {
        self.severity() == Self::SEVERITY_INFORMATIONAL
    }

    /// `NT_WARNING`: severity 2 (e.g. `STATUS_BUFFER_OVERFLOW`; not `NT_SUCCESS`, not `NT_ERROR`).
    pub const fn is_warning(self) -> bool {
        self.severity() == Self::SEVERITY_WARNING
    }

    /// `NT_ERROR`: severity 3, i.e. the value is at least 0xC0000000.
    pub const fn is_error(self) -> bool {
        self.severity() == Self::SEVERITY_ERROR
    }

    /// Looks a status up by its `ntstatus.h` symbol (`"STATUS_PENDING"`); the inverse of
    /// [`NtStatus::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.name() == Some(name))
    }
}

impl From<u32> for NtStatus {
    fn from(value: u32) -> Self {
        NtStatus(value)
    }
}

impl From<NtStatus> for u32 {
    fn from(value: NtStatus) -> Self {
        value.0
    }
}

impl fmt::Display for NtStatus {
    /// `STATUS_ACCESS_VIOLATION (0xC0000005)`, or `NTSTATUS 0x12345678` for an unnamed value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.0),
            None => write!(f, "NTSTATUS 0x{:08X}", self.0),
        }
    }
}

impl fmt::Debug for NtStatus {
    /// Same text as [`fmt::Display`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_classes() {
        // STATUS_BUFFER_OVERFLOW: a warning, neither success nor error (semantics.md §5.7).
        let w = NtStatus::BUFFER_OVERFLOW;
        assert_eq!(w.severity(), NtStatus::SEVERITY_WARNING);
        assert!(w.is_warning());
        assert!(!w.is_success());
        assert!(!w.is_error());
        assert!(!w.is_information());

        // STATUS_PENDING is NT_SUCCESS.
        assert!(NtStatus::PENDING.is_success());
        assert_eq!(NtStatus::PENDING.severity(), NtStatus::SEVERITY_SUCCESS);
        assert!(NtStatus::SUCCESS.is_success());
        assert!(NtStatus::TIMEOUT.is_success());

        // Errors.
        for s in [
            NtStatus::ACCESS_VIOLATION,
            NtStatus::INSUFFICIENT_RESOURCES,
            NtStatus::CANCELLED,
            NtStatus::UNSUCCESSFUL,
        ] {
            assert!(s.is_error(), "{s}");
            assert!(!s.is_success(), "{s}");
            assert!(!s.is_warning(), "{s}");
        }

        // Informational (severity 1) is NT_SUCCESS.
        let info = NtStatus(0x4000_0000);
        assert!(info.is_information());
        assert!(info.is_success());
        assert!(!info.is_error());
    }

    #[test]
    fn every_named_value_has_consistent_class() {
        for s in NtStatus::ALL {
            let classes = [
                s.severity() == 0,
                s.is_information(),
                s.is_warning(),
                s.is_error(),
            ];
            assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{s}");
            assert_eq!(s.is_success(), s.severity() <= 1, "{s}");
            assert!(!s.is_customer(), "{s}");
        }
    }

    #[test]
    fn field_accessors() {
        let s = NtStatus(0xE123_4567);
        assert_eq!(s.severity(), 3);
        assert!(s.is_customer());
        assert_eq!(s.facility(), 0x123);
        assert_eq!(s.code(), 0x4567);
        assert_eq!(NtStatus::ACCESS_VIOLATION.as_i32(), -1_073_741_819);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            NtStatus::ACCESS_VIOLATION.name(),
            Some("STATUS_ACCESS_VIOLATION")
        );
        assert_eq!(NtStatus::PENDING.name(), Some("STATUS_PENDING"));
        assert_eq!(NtStatus(0x1234_5678).name(), None);
        for s in NtStatus::ALL {
            let name = s.name().expect("every listed status is named");
            assert!(name.starts_with("STATUS_"));
            assert_eq!(NtStatus::from_name(name), Some(*s));
        }
        // No two table entries share a value.
        let mut values: Vec<u32> = NtStatus::ALL.iter().map(|s| s.0).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), NtStatus::ALL.len());
        assert_eq!(NtStatus::from_name("STATUS_NOPE"), None);
    }

    #[test]
    fn spot_values() {
        assert_eq!(NtStatus::PENDING.0, 0x103);
        assert_eq!(NtStatus::BUFFER_OVERFLOW.0, 0x8000_0005);
        assert_eq!(NtStatus::VERIFY_REQUIRED.0, 0x8000_0016);
        assert_eq!(NtStatus::ACCESS_VIOLATION.0, 0xC000_0005);
        assert_eq!(NtStatus::MORE_PROCESSING_REQUIRED.0, 0xC000_0016);
        assert_eq!(NtStatus::CONFLICTING_ADDRESSES.0, 0xC000_0018);
        assert_eq!(NtStatus::INSUFFICIENT_RESOURCES.0, 0xC000_009A);
        assert_eq!(NtStatus::CANCELLED.0, 0xC000_0120);
        assert_eq!(NtStatus::INVALID_ADDRESS.0, 0xC000_0141);
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(
            NtStatus::ACCESS_VIOLATION.to_string(),
            "STATUS_ACCESS_VIOLATION (0xC0000005)"
        );
        assert_eq!(
            format!("{:?}", NtStatus::PENDING),
            "STATUS_PENDING (0x00000103)"
        );
        assert_eq!(NtStatus(0x1234_5678).to_string(), "NTSTATUS 0x12345678");
        assert_eq!(
            format!("{:?}", NtStatus(0xC0DE_0001)),
            "NTSTATUS 0xC0DE0001"
        );
    }

    #[test]
    fn serde_transparent() {
        let json = serde_json::to_string(&NtStatus::ACCESS_VIOLATION).unwrap();
        assert_eq!(json, "3221225477");
        let back: NtStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back, NtStatus::ACCESS_VIOLATION);
        let v: Vec<NtStatus> = serde_json::from_str("[0,259]").unwrap();
        assert_eq!(v, vec![NtStatus::SUCCESS, NtStatus::PENDING]);
    }

    #[test]
    fn conversions() {
        assert_eq!(NtStatus::from(0xC000_0120), NtStatus::CANCELLED);
        assert_eq!(u32::from(NtStatus::CANCELLED), 0xC000_0120);
    }
}
