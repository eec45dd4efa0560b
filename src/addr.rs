//! Addresses, frames and page geometry ([semantics §1]).
//!
//! [`Va`] and [`Pfn`] are `Copy` newtypes with **no arithmetic operators**:
//! every computation is a named method (`checked_add`, `page_align`, ...), so
//! an overflow is a decision made at the call site, never an accident. The
//! free functions mirror the WDK macros (`BYTE_OFFSET`, `PAGE_ALIGN`,
//! `ROUND_TO_PAGES`, `BYTES_TO_PAGES`, `ADDRESS_AND_SIZE_TO_SPAN_PAGES`)
//! with their exact widths, including the ULONG truncations.
//!
//! [semantics §1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1

use serde::{Deserialize, Serialize};
use std::fmt;

/// Allocation granularity of reservations (64 KiB): where a `NULL`-base
/// `NtAllocateVirtualMemory` or user-mode MDL mapping may start.
pub const ALLOCATION_GRANULARITY: u64 = 0x1_0000;

/// `PAGE_SIZE`: 4096 bytes on x86 and amd64 ([semantics §1.1]).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const PAGE_SIZE: u64 = 0x1000;
/// `PAGE_SHIFT`: log2 of [`PAGE_SIZE`] ([semantics §1.1]).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const PAGE_SHIFT: u32 = 12;
/// `PAGE_SIZE` as a `usize`, for indexing frame contents.
pub const PAGE_BYTES: usize = PAGE_SIZE as usize;

/// `MM_LOWEST_USER_ADDRESS` (0x10000): the first 64 KiB are never mapped ([semantics §1.1]).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const MM_LOWEST_USER_ADDRESS: Va = Va(0x1_0000);
/// `MM_HIGHEST_USER_ADDRESS` on amd64 (8 TiB layout): 64 KiB + 1 below the top of user space.
pub const MM_HIGHEST_USER_ADDRESS: Va = Va(0x0000_07FF_FFFE_FFFF);
/// `MM_HIGHEST_VAD_ADDRESS`: the highest address a VAD may cover, 64 KiB below
/// [`MM_HIGHEST_USER_ADDRESS`] (0x7FF'FFFD'FFFF on amd64). A user-mode
/// `MmMapLockedPagesSpecifyCache` at an explicit base whose range ends above it raises
/// `STATUS_INVALID_ADDRESS` ([semantics §3.7]; ReactOS `ntoskrnl/include/internal/amd64/mm.h`
/// defines it so, and `ntoskrnl/mm/ARM3/mdlsup.c` `MiMapLockedPagesInUserSpace` checks
/// it, as ReactOS's kmtest `MmMapLockedPagesSpecifyCache_user.c` asserts of Windows
/// Server 2003 for a page 15 pages below the highest user address).
///
/// [semantics §3.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.7
pub const MM_HIGHEST_VAD_ADDRESS: Va = Va(MM_HIGHEST_USER_ADDRESS.0 - ALLOCATION_GRANULARITY);
/// `MM_USER_PROBE_ADDRESS` on amd64: a user-mode probe whose end lies above it raises
/// `STATUS_ACCESS_VIOLATION`; the 64 KiB from here to the top of user space are a
/// no-access guard ([semantics §1.1], [§3.4] step 1).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
/// [§3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
pub const MM_USER_PROBE_ADDRESS: Va = Va(0x0000_07FF_FFFF_0000);
/// The lowest canonical kernel address on amd64; everything from here up is system space.
pub const MM_SYSTEM_RANGE_START: Va = Va(0xFFFF_8000_0000_0000);

/// `LIST_HEAD` on amd64: the all-ones PFN-array terminator ("no page here / stop", [semantics §1.2]).
///
/// [semantics §1.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.2
pub const LIST_HEAD: u64 = u64::MAX;

/// `sizeof(MDL)` on amd64: the 48-byte header before the PFN array ([semantics §1.2]).
///
/// [semantics §1.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.2
pub const MDL_HEADER_SIZE: u64 = 48;
/// `sizeof(PFN_NUMBER)` on amd64.
pub const PFN_NUMBER_SIZE: u64 = 8;

/// `PTE_BASE` on amd64: where the page tables map themselves, fixed at 0xFFFFF680`00000000
/// before Windows 10 1607 and randomised since. The model keeps no page tables in its
/// address space; it uses this base only to name a PTE in a bug check parameter
/// ([`pte_address`]).
pub const PTE_BASE: Va = Va(0xFFFF_F680_0000_0000);

/// `MiGetPteAddress(va)` on amd64 with [`PTE_BASE`]: the address of the PTE that maps
/// `va` (`PTE_BASE + ((va >> 9) & 0x7F'FFFF'FFF8)`, one 8-byte PTE per page of the 48-bit
/// address space). Bug check parameters that Microsoft's pages call a "PTE pointer" (e.g.
/// `MEMORY_MANAGEMENT (0x1A)` 0x1240, P3) give it.
///
/// ```
/// use mdlsim::addr::{pte_address, Va};
/// assert_eq!(pte_address(Va::new(0)).raw(), 0xFFFF_F680_0000_0000);
/// assert_eq!(pte_address(Va::new(0x1234_5000)).raw(), 0xFFFF_F680_0009_1A28);
/// assert_eq!(pte_address(Va::new(0xFFFF_F680_0000_0000)).raw(), 0xFFFF_F6FB_4000_0000);
/// ```
pub const fn pte_address(va: Va) -> Va {
    Va(PTE_BASE.0 + ((va.0 >> 9) & 0x7F_FFFF_FFF8))
}

/// A virtual address, in some address space (a process's user half or system space).
///
/// Invariant: none beyond being 64 bits; whether it is mapped is the address
/// space's business. Arithmetic is by named, checked methods only.
///
/// ```
/// use mdlsim::addr::Va;
/// let va = Va::new(0x1000_0200);
/// assert_eq!(va.byte_offset(), 0x200);
/// assert_eq!(va.page_align(), Va::new(0x1000_0000));
/// assert_eq!(Va::new(u64::MAX).checked_add(1), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Va(pub u64);

impl Va {
    /// The NULL pointer.
    pub const NULL: Va = Va(0);

    /// Wraps a raw address.
    pub const fn new(raw: u64) -> Va {
        Va(raw)
    }

    /// The raw 64-bit value.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// True for the NULL pointer.
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// `self + bytes`, or `None` on overflow past the top of the address space.
    pub const fn checked_add(self, bytes: u64) -> Option<Va> {
        match self.0.checked_add(bytes) {
            Some(v) => Some(Va(v)),
            None => None,
        }
    }

    /// `self - bytes`, or `None` below zero.
    pub const fn checked_sub(self, bytes: u64) -> Option<Va> {
        match self.0.checked_sub(bytes) {
            Some(v) => Some(Va(v)),
            None => None,
        }
    }

    /// `self + bytes` modulo 2^64: what pointer arithmetic in a C driver does.
    /// Use it only where the wrap is the behaviour being modelled.
    pub const fn wrapping_add(self, bytes: u64) -> Va {
        Va(self.0.wrapping_add(bytes))
    }

    /// The distance `self - base`, or `None` when `base` lies above `self`.
    pub const fn checked_offset_from(self, base: Va) -> Option<u64> {
        self.0.checked_sub(base.0)
    }

    /// `BYTE_OFFSET(va)`: the offset within the page (a ULONG in the WDK).
    pub const fn byte_offset(self) -> u32 {
        (self.0 & (PAGE_SIZE - 1)) as u32
    }

    /// `PAGE_ALIGN(va)`: rounds down to the start of the page.
    pub const fn page_align(self) -> Va {
        Va(self.0 & !(PAGE_SIZE - 1))
    }

    /// True when the address is the first byte of a page.
    pub const fn is_page_aligned(self) -> bool {
        self.0 & (PAGE_SIZE - 1) == 0
    }

    /// The virtual page number (`va >> PAGE_SHIFT`).
    pub const fn vpn(self) -> u64 {
        self.0 >> PAGE_SHIFT
    }

    /// The address of virtual page `vpn`, or `None` if it does not fit in 64 bits.
    pub const fn from_vpn(vpn: u64) -> Option<Va> {
        if vpn > (u64::MAX >> PAGE_SHIFT) {
            None
        } else {
            Some(Va(vpn << PAGE_SHIFT))
        }
    }

    /// True for addresses in the user half (at or below [`MM_HIGHEST_USER_ADDRESS`]).
    pub const fn is_user(self) -> bool {
        self.0 <= MM_HIGHEST_USER_ADDRESS.0
    }

    /// True for canonical kernel addresses (at or above [`MM_SYSTEM_RANGE_START`]).
    pub const fn is_system(self) -> bool {
        self.0 >= MM_SYSTEM_RANGE_START.0
    }
}

impl fmt::Debug for Va {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Va({:#x})", self.0)
    }
}

impl fmt::Display for Va {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::LowerHex for Va {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A physical frame number: the index of a 4 KiB physical page in the PFN database.
///
/// The raw value is what a PFN array slot holds (`PFN_NUMBER`); [`LIST_HEAD`]
/// is not a frame and is never wrapped in a `Pfn`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pfn(pub u64);

impl Pfn {
    /// Wraps a raw frame number.
    pub const fn new(raw: u64) -> Pfn {
        Pfn(raw)
    }

    /// The raw frame number (`PFN_NUMBER`).
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The frame's physical address, or `None` if it does not fit in 64 bits.
    pub const fn physical_address(self) -> Option<u64> {
        if self.0 > (u64::MAX >> PAGE_SHIFT) {
            None
        } else {
            Some(self.0 << PAGE_SHIFT)
        }
    }

    /// `self + n`, or `None` on overflow.
    pub const fn checked_add(self, n: u64) -> Option<Pfn> {
        match self.0.checked_add(n) {
            Some(v) => Some(Pfn(v)),
            None => None,
        }
    }
}

impl fmt::Debug for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pfn({:#x})", self.0)
    }
}

impl fmt::Display for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pfn {:#x}", self.0)
    }
}

/// `BYTE_OFFSET(va)`: `va & (PAGE_SIZE-1)` as a ULONG ([semantics §1.1]).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const fn byte_offset(va: Va) -> u32 {
    va.byte_offset()
}

/// `PAGE_ALIGN(va)`: `va & ~(PAGE_SIZE-1)` ([semantics §1.1]).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const fn page_align(va: Va) -> Va {
    va.page_align()
}

/// `ROUND_TO_PAGES(size)`: `(size + PAGE_SIZE-1) & ~(PAGE_SIZE-1)`, or `None`
/// where the C macro would wrap ([semantics §1.1]).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const fn round_to_pages(size: u64) -> Option<u64> {
    match size.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(v & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// `BYTES_TO_PAGES(size)`: `(size >> 12) + ((size & 0xFFF) != 0)`; written this
/// way in the WDK so it cannot overflow ([semantics §1.1]).
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const fn bytes_to_pages(size: u64) -> u64 {
    (size >> PAGE_SHIFT) + ((size & (PAGE_SIZE - 1)) != 0) as u64
}

/// `ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, size)`: `((va & 0xFFF) + size + 0xFFF) >> 12`,
/// truncated to a ULONG exactly as the macro is ([semantics §1.1]).
///
/// The sum is done in 64 bits then truncated, so a size near 4 GiB at a high
/// in-page offset spans a *small* number of pages, as it does in C. A zero
/// length at an unaligned address spans one page.
///
/// ```
/// use mdlsim::addr::{span_pages, Va};
/// assert_eq!(span_pages(Va::new(0x1000), 0x1000), 1);
/// assert_eq!(span_pages(Va::new(0x1FFF), 2), 2);
/// assert_eq!(span_pages(Va::new(0x1000), 0), 0);
/// assert_eq!(span_pages(Va::new(0x1001), 0), 1);
/// ```
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
pub const fn span_pages(va: Va, size: u64) -> u32 {
    let offset = (va.0 & (PAGE_SIZE - 1)) as u128;
    let pages = (offset + size as u128 + (PAGE_SIZE as u128 - 1)) >> PAGE_SHIFT;
    pages as u32
}

/// `MmSizeOfMdl(base, length)` on amd64: `48 + 8 × span` bytes ([semantics §1.3]).
///
/// ```
/// use mdlsim::addr::{size_of_mdl, Va};
/// assert_eq!(size_of_mdl(Va::new(0x10200), 0x1000), 48 + 2 * 8);
/// ```
///
/// [semantics §1.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.3
pub const fn size_of_mdl(base: Va, length: u64) -> u64 {
    MDL_HEADER_SIZE + span_pages(base, length) as u64 * PFN_NUMBER_SIZE
}

/// A half-open byte range `[start, start + len)` in one address space.
///
/// Invariant: `start + len` does not overflow; construct with [`VaRange::new`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct VaRange {
    start: Va,
    len: u64,
}

impl VaRange {
    /// The range `[start, start + len)`, or `None` if it would wrap past 2^64.
    pub const fn new(start: Va, len: u64) -> Option<VaRange> {
        match start.0.checked_add(len) {
            Some(_) => Some(VaRange { start, len }),
            None => None,
        }
    }

    /// First byte.
    pub const fn start(&self) -> Va {
        self.start
    }

    /// Length in bytes.
    pub const fn len(&self) -> u64 {
        self.len
    }

    /// True when the range holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One past the last byte.
    pub const fn end(&self) -> Va {
        Va(self.start.0 + self.len)
    }

    /// True when `va` lies in the range.
    pub const fn contains(&self, va: Va) -> bool {
        va.0 >= self.start.0 && va.0 - self.start.0 < self.len
    }

    /// Number of pages the range touches (`ADDRESS_AND_SIZE_TO_SPAN_PAGES` without truncation).
    pub const fn pages_spanned(&self) -> u64 {
        if self.len == 0 {
            return 0;
        }
        (self.end().0 - 1) / PAGE_SIZE - self.start.0 / PAGE_SIZE + 1
    }
}

impl fmt::Display for VaRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start.0, self.start.0 + self.len)
    }
}

/// Splits `[va, va + len)` into per-page pieces `(page_va, offset_in_page, bytes)`.
///
/// The iterator never overflows: the caller guarantees `va + len` fits (a
/// [`VaRange`] does).
pub(crate) fn page_chunks(va: Va, len: u64) -> impl Iterator<Item = (Va, usize, usize)> {
    // Counts the bytes left rather than comparing with `va + len`, so a range ending exactly
    // at 2^64 (the last byte of the address space) is covered too.
    let mut cur = va.0;
    let mut left = len;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let page = cur & !(PAGE_SIZE - 1);
        let off = cur - page;
        let n = (PAGE_SIZE - off).min(left);
        left -= n;
        cur = cur.wrapping_add(n);
        Some((Va(page), off as usize, n as usize))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_examples_from_semantics_1_1() {
        assert_eq!(span_pages(Va(0x1000), 0x1000), 1);
        assert_eq!(span_pages(Va(0x1FFF), 2), 2);
        assert_eq!(span_pages(Va(0x1000), 0), 0);
        assert_eq!(span_pages(Va(0x1001), 0), 1);
    }

    #[test]
    fn span_truncates_to_ulong_like_the_macro() {
        // (0xFFF + 0xFFFF_FFFF_F001 + 0xFFF) >> 12 = 0x1_0000_0000 + 0 -> truncates.
        let pages = span_pages(Va(0xFFF), 0xFFFF_FFFF_F001);
        assert_eq!(
            pages as u64,
            (0xFFFu64 + 0xFFFF_FFFF_F001 + 0xFFF) >> 12 & 0xFFFF_FFFF
        );
        // No panic on the extremes.
        let _ = span_pages(Va(u64::MAX), u64::MAX);
    }

    #[test]
    fn bytes_to_pages_does_not_overflow() {
        assert_eq!(bytes_to_pages(u64::MAX), (u64::MAX >> 12) + 1);
        assert_eq!(bytes_to_pages(0), 0);
        assert_eq!(bytes_to_pages(1), 1);
        assert_eq!(bytes_to_pages(PAGE_SIZE), 1);
    }

    #[test]
    fn round_to_pages_reports_wrap() {
        assert_eq!(round_to_pages(1), Some(PAGE_SIZE));
        assert_eq!(round_to_pages(u64::MAX), None);
    }

    #[test]
    fn size_of_mdl_is_48_plus_8_per_span_page() {
        assert_eq!(size_of_mdl(Va(0), PAGE_SIZE * 23), 48 + 8 * 23);
        assert_eq!(size_of_mdl(Va(0x1001), 0), 56);
    }

    #[test]
    fn user_probe_and_highest_user_address_are_one_apart() {
        assert_eq!(MM_HIGHEST_USER_ADDRESS.0 + 1, MM_USER_PROBE_ADDRESS.0);
        assert!(MM_HIGHEST_USER_ADDRESS.is_user());
        assert!(!MM_USER_PROBE_ADDRESS.is_user());
    }

    #[test]
    fn page_chunks_cover_range_exactly() {
        let chunks: Vec<_> = page_chunks(Va(0x1FFE), 0x1004).collect();
        assert_eq!(
            chunks,
            vec![
                (Va(0x1000), 0xFFE, 2),
                (Va(0x2000), 0, 0x1000),
                (Va(0x3000), 0, 2)
            ]
        );
        assert_eq!(page_chunks(Va(u64::MAX - 1), 1).count(), 1);
        // Regression: the last byte of the address space is one chunk, not none.
        assert_eq!(
            page_chunks(Va(u64::MAX), 1).collect::<Vec<_>>(),
            vec![(Va(0xFFFF_FFFF_FFFF_F000), 0xFFF, 1)]
        );
    }

    #[test]
    fn va_range_rejects_wrap() {
        assert!(VaRange::new(Va(u64::MAX), 1).is_none());
        let r = VaRange::new(Va(0x1FFF), 2).unwrap();
        assert_eq!(r.pages_spanned(), 2);
        assert!(r.contains(Va(0x2000)));
        assert!(!r.contains(Va(0x2001)));
    }
}
