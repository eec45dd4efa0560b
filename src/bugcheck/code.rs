//! What a [`BugCheckCode`] answers about itself: its sub-code names, lookup by name, and its
//! text.

use core::fmt;

use super::{
    BugCheckCode, bad_pool_caller, io_verifier, locked_pages_tracker_corruption, memory_management,
    pfn_list_corrupt, process_has_locked_pages, system_pte_misuse, verifier,
};

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
