//! Building blocks the built-in strategies share, written only against the public API
//! (a user's strategy may use them too).

use crate::addr::{MM_HIGHEST_USER_ADDRESS, PAGE_SIZE, Va};
use crate::fault::{Fault, Result};
use crate::machine::Kernel;
use crate::mdl::{AccessMode, CacheType, MdlId, priority};
use crate::space::Pid;
use crate::status::NtStatus;
use crate::vm::{ALLOCATION_GRANULARITY as ALLOCATION_GRANULARITY_VA, MEM_FREE};

/// Maps a locked (or partial, or non-paged) MDL into `pid`'s user space, attached to it:
/// `MmMapLockedPagesSpecifyCache(UserMode)` at `base` (or anywhere), read-only unless
/// `writable` (`MdlMappingNoWrite`, [semantics §1.5]). A raised failure ([semantics §3.7],
/// [invariant 16]: user-mode map failures are raised, never NULL) is caught and returned as
/// `Ok(None)`, as a driver's `__try/__except` would.
///
/// # Errors
/// Bug checks and model errors pass through.
///
/// [semantics §1.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.5
/// [semantics §3.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.7
/// [invariant 16]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-16
pub fn map_into(
    k: &mut Kernel<'_>,
    pid: Pid,
    mdl: MdlId,
    base: Option<Va>,
    writable: bool,
) -> Result<Option<Va>> {
    let prio = priority::NORMAL
        | priority::MDL_MAPPING_NO_EXECUTE
        | if writable {
            0
        } else {
            priority::MDL_MAPPING_NO_WRITE
        };
    k.attach(pid)?;
    let r = k.mm_map_locked_pages_specify_cache(
        mdl,
        AccessMode::UserMode,
        CacheType::Cached,
        base,
        false,
        prio,
    );
    k.detach()?;
    match r {
        Ok(v) => Ok(v),
        Err(Fault::Raise(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `MmUnmapLockedPages` of a user mapping, attached to the process that holds it
/// ([semantics §3.8]). A process that already exited lost the mapping with its address
/// space; nothing is left to unmap.
///
/// # Errors
/// As `mm_unmap_locked_pages`.
///
/// [semantics §3.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.8
pub fn unmap_from(k: &mut Kernel<'_>, pid: Pid, va: Va, mdl: MdlId) -> Result<()> {
    if k.ps_get_process_exit_status(pid)? != NtStatus::PENDING {
        return Ok(());
    }
    k.attach(pid)?;
    let r = k.mm_unmap_locked_pages(va, mdl);
    k.detach()?;
    r
}

/// The lowest 64 KiB-aligned free range of `pages` pages in `pid`'s user space, found as a
/// driver finds one: walking the regions `ZwQueryVirtualMemory` reports from
/// `MM_LOWEST_USER_ADDRESS` up, one query per region. `None` when no range is free or the
/// process is gone.
///
/// # Errors
/// Bug checks pass through.
pub fn find_free_user_range(k: &mut Kernel<'_>, pid: Pid, pages: u64) -> Result<Option<Va>> {
    let Some(len) = pages.checked_mul(PAGE_SIZE) else {
        return Ok(None);
    };
    let mut cand = crate::addr::MM_LOWEST_USER_ADDRESS.raw();
    while cand <= MM_HIGHEST_USER_ADDRESS.raw() {
        let info = match k.zw_query_virtual_memory(pid, Va::new(cand)) {
            Ok(info) => info,
            Err(Fault::Status(_) | Fault::Model(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if info.state == MEM_FREE && info.region_size >= len {
            return Ok(Some(Va::new(cand)));
        }
        let next = info.base_address.raw().saturating_add(info.region_size);
        let Some(next) = next.checked_next_multiple_of(ALLOCATION_GRANULARITY_VA) else {
            return Ok(None);
        };
        cand = next.max(cand + ALLOCATION_GRANULARITY_VA);
    }
    Ok(None)
}

/// One substitute page: a physical page from `MmAllocatePagesForMdlEx` (zeroed unless
/// asked otherwise; legal to map because the allocation holds it), with its own MDL and
/// a system mapping for the driver's copies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SubstitutePage {
    /// The MDL from `MmAllocatePagesForMdlEx` (one page).
    pub mdl: MdlId,
    /// Its system-space address (`MmGetSystemAddressForMdlSafe`).
    pub sys: Va,
    /// Its frame number, for splicing into another MDL's PFN array.
    pub pfn: u64,
}

impl SubstitutePage {
    /// Allocates and maps one page; `Ok(None)` when memory or system PTEs run out
    /// (everything obtained is given back).
    ///
    /// # Errors
    /// Bug checks pass through.
    pub fn allocate(k: &mut Kernel<'_>, zeroed: bool) -> Result<Option<SubstitutePage>> {
        let flags = if zeroed {
            0
        } else {
            crate::mdl::alloc_flags::MM_DONT_ZERO_ALLOCATION
        };
        let Some(mdl) =
            k.mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, PAGE_SIZE, CacheType::Cached, flags)?
        else {
            return Ok(None);
        };
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)? else {
            k.mm_free_pages_from_mdl(mdl)?;
            k.io_free_mdl(mdl)?;
            return Ok(None);
        };
        let pfn = k.mdl(mdl)?.pfn_array()[0];
        Ok(Some(SubstitutePage { mdl, sys, pfn }))
    }

    /// Unmaps it from system space, frees the page, frees the MDL (in that order:
    /// [semantics §3.10] — unmap before `MmFreePagesFromMdl`).
    ///
    /// # Errors
    /// Bug checks pass through.
    ///
    /// [semantics §3.10]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.10
    pub fn release(self, k: &mut Kernel<'_>) -> Result<()> {
        k.mm_unmap_locked_pages(self.sys, self.mdl)?;
        k.mm_free_pages_from_mdl(self.mdl)?;
        k.io_free_mdl(self.mdl)
    }
}

/// `NT_SUCCESS(status)`: success or informational severity.
pub fn nt_success(s: crate::status::NtStatus) -> bool {
    s.severity() <= crate::status::NtStatus::SEVERITY_INFORMATIONAL
}

/// The page geometry of a buffer ([semantics §1.1]): which ends are partial pages.
///
/// [semantics §1.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.1
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Geometry {
    /// `BYTE_OFFSET(buffer)`.
    pub off: u64,
    /// `ADDRESS_AND_SIZE_TO_SPAN_PAGES(buffer, length)`.
    pub pages: u64,
    /// Bytes of the range in the last page (`PAGE_SIZE` when it ends on a boundary).
    pub last_len: u64,
    /// The first page is not wholly inside the range (it gets a substitute).
    pub head: bool,
    /// The last page, distinct from the first, is not wholly inside the range.
    pub tail: bool,
}

impl Geometry {
    /// The start every mapping strategy's `expose` shares: the request's MDL and the
    /// buffer's geometry, or the exposure to return at once — nothing to map for a
    /// zero-length request (the I/O manager built no MDL, [semantics §5.5]), and a refusal
    /// (`STATUS_INVALID_USER_BUFFER`) for a non-empty request without one.
    ///
    /// [semantics §5.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.5
    pub(crate) fn of_request(
        io: &super::Io,
    ) -> std::result::Result<(MdlId, Geometry), super::Exposure> {
        let len = io.length as u64;
        if len == 0 {
            return Err(super::Exposure::Mapped {
                va: Va::NULL,
                len: 0,
            });
        }
        let Some(src) = io.mdl else {
            return Err(super::Exposure::Refused(
                crate::status::NtStatus::INVALID_USER_BUFFER,
            ));
        };
        Ok((src, Geometry::of(io.buffer, len)))
    }

    pub(crate) fn of(buffer: Va, length: u64) -> Geometry {
        let off = buffer.byte_offset() as u64;
        let pages = crate::addr::span_pages(buffer, length) as u64;
        let end = (off + length) % PAGE_SIZE;
        let last_len = if end == 0 { PAGE_SIZE } else { end };
        let head = off != 0 || (pages == 1 && end != 0);
        let tail = pages > 1 && end != 0;
        Geometry {
            off,
            pages,
            last_len,
            head,
            tail,
        }
    }

    /// Bytes of the range in the first page.
    pub(crate) fn head_len(&self, length: u64) -> u64 {
        length.min(PAGE_SIZE - self.off)
    }

    /// Offset, within the range, of the last page's first byte.
    pub(crate) fn tail_start(&self, length: u64) -> u64 {
        length - self.last_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_names_partial_ends_and_shares_one_page() {
        let g = Geometry::of(Va::new(0x10200), 0x100);
        assert_eq!((g.pages, g.head, g.tail), (1, true, false));
        let g = Geometry::of(Va::new(0x10000), 0x2000);
        assert_eq!((g.pages, g.head, g.tail), (2, false, false));
        let g = Geometry::of(Va::new(0x10FFF), 2);
        assert_eq!((g.pages, g.head, g.tail, g.last_len), (2, true, true, 1));
        assert_eq!((g.head_len(2), g.tail_start(2)), (1, 1));
        let g = Geometry::of(Va::new(0x10000), 0x1001);
        assert_eq!((g.pages, g.head, g.tail), (2, false, true));
    }
}
