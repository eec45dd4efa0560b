//! A zoo of strategies from the field: each broken one reproduces a real, cited bug
//! (a driver, a Linux DMA bounce-buffer fix, a CVE, a documented DDI trap) in the
//! shape a proxy file system would have it, and each correct one is a design written
//! differently from the [built-ins](super). They are not in [`super::builtins`] (the
//! command line's audit matrix); [`zoo`] lists them, correct ones first.
//!
//! Every strategy is written as a driver author would write it: only through the
//! [`Kernel`]'s DDIs and the public helpers ([`map_into`], [`unmap_from`],
//! [`SubstitutePage`]). The citations are facts about the original bug (what went wrong,
//! where it was fixed); no code of those projects is reproduced.
//!
//! | strategy | field bug (citation) | expected verdict |
//! |---|---|---|
//! | [`PagesBounce`] | — (bounce through `MmAllocatePagesForMdlEx` pages, `MM_ALLOCATE_FULLY_REQUIRED`) | passes |
//! | [`OffsetPreservingBounce`] | — (Linux swiotlb after `min_align_mask`, commit 1f221a0d0dbf, done right) | passes |
//! | [`AlignedDirectElseBounce`] | — (WinFsp's `FspSafeMdlCheck` policy: map page-aligned buffers, bounce the rest) | passes |
//! | [`SwiotlbStaleFromDevice`] | Linux CVE-2022-48853, commit ddbd89deb7d3 "swiotlb: fix info leak with DMA_FROM_DEVICE" | CopyBackError |
//! | [`SwiotlbDroppedOffset`] | Linux commit 1f221a0d0dbf "swiotlb: respect min_align_mask" (NVMe corruption) | SpanArithmetic |
//! | [`WinFspTailOffset`] | WinFsp commit 79119a22cb8f (2016) "FspSafeMdlCreate, FspSafeMdlCopyBack: bug fixes" | SpanArithmetic |
//! | [`UserVaInArbitraryContext`] | WinFsp commit d0eee263c87f (2016) "safe MDL bug fix" | OutOfBounds |
//! | [`UncheckedSystemAddress`] | `MmGetSystemAddressForMdlSafe` returns NULL (Microsoft Learn; Driver Verifier low-resources simulation) | ResourceFailureUnhandled |
//! | [`BugCheckOnMapFailure`] | `MmMapLockedPages` / `MmGetSystemAddressForMdl` bug-check on failure (Microsoft Learn, bug check 0x3F) | ResourceFailureUnhandled |
//! | [`OverReportedInformation`] | Bochspwn Reloaded (j00ru, 2017): uninitialised pool disclosed through over-reported lengths | CopyBackError |
//! | [`InformationUnclamped`] | `IoStatus.Information` trusted from user mode (semantics §5.7; Bochspwn Reloaded) | CopyBackError |
//! | [`ValidateThenCopy`] | Bochspwn (j00ru & Gynvael Coldwind, 2013): double fetches of user memory | DoubleFetch |
//! | [`UnmapFromArbitraryContext`] | `MmUnmapLockedPages` of a user mapping outside its process (Microsoft Learn) | UnmapMismatch |
//! | [`UnlockInsteadOfUnmap`] | cheat-engine PR #1623 "MmUnlockPages -> MmUnmapLockedPages" | UnlockMisuse |
//! | [`DoubleUnlockRequestMdl`] | bug check 0x4E PFN_LIST_CORRUPT, parameter 7 (Microsoft Learn) | UnlockMisuse |
//! | [`LockLeakOnReplyPath`] | Dokan commit adf14d88c38d (2017) "Add DokanFreeMdl for read operation"; KSOCKET issue #2 | LockLeak |
//! | [`BouncePagesLeaked`] | cheat-engine PRs #1611/#1613 "unmap vmm from VA after initialize, add cleanup" | ResourceLeak |
//!
//! [`Kernel`]: crate::machine::Kernel

mod bounce;
mod correct;
mod lifecycle;
mod splice;

pub use bounce::{
    InformationUnclamped, OverReportedInformation, SwiotlbDroppedOffset, SwiotlbStaleFromDevice,
    ValidateThenCopy,
};
pub use correct::{AlignedDirectElseBounce, OffsetPreservingBounce, PagesBounce};
pub use lifecycle::{
    BouncePagesLeaked, BugCheckOnMapFailure, DoubleUnlockRequestMdl, LockLeakOnReplyPath,
    UncheckedSystemAddress, UnlockInsteadOfUnmap, UnmapFromArbitraryContext,
};
pub use splice::{UserVaInArbitraryContext, WinFspTailOffset};

use super::{
    Completion, Direction, Exposure, Io, ProxyStrategyClone, ServerReply, map_into, nt_success,
};
use super::{SubstitutePage, unmap_from};
use crate::addr::{PAGE_SIZE, Va, round_to_pages};
use crate::fault::Result;
use crate::machine::Kernel;
use crate::mdl::{MdlId, priority};
use crate::pool::{POOL_FLAG_NON_PAGED, PoolType, tag};
use crate::status::NtStatus;

/// Every zoo strategy, fresh (correct ones first).
pub fn zoo() -> Vec<Box<dyn ProxyStrategyClone>> {
    vec![
        Box::new(PagesBounce::default()),
        Box::new(OffsetPreservingBounce::default()),
        Box::new(AlignedDirectElseBounce::default()),
        Box::new(SwiotlbStaleFromDevice::default()),
        Box::new(SwiotlbDroppedOffset::default()),
        Box::new(WinFspTailOffset::default()),
        Box::new(UserVaInArbitraryContext::default()),
        Box::new(UncheckedSystemAddress::default()),
        Box::new(BugCheckOnMapFailure::default()),
        Box::new(OverReportedInformation::default()),
        Box::new(InformationUnclamped::default()),
        Box::new(ValidateThenCopy::default()),
        Box::new(UnmapFromArbitraryContext::default()),
        Box::new(UnlockInsteadOfUnmap::default()),
        Box::new(DoubleUnlockRequestMdl::default()),
        Box::new(LockLeakOnReplyPath::default()),
        Box::new(BouncePagesLeaked::default()),
    ]
}

/// Pool tag of the zoo's buffers.
pub const ZOO_TAG: u32 = tag(b"ZooB");

/// The refusal for a failed allocation or mapping.
const NO_RESOURCES: Exposure = Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES);

/// What every request without bytes gets: nothing to map (the I/O manager built no MDL).
const NOTHING: Exposure = Exposure::Mapped {
    va: Va::NULL,
    len: 0,
};

/// The completion a careful driver reports: the server's status, and for a success the
/// server's `Information` clamped to the request's length.
fn clamped(io: &Io, reply: ServerReply) -> Completion {
    let ok = nt_success(reply.status);
    Completion {
        status: reply.status,
        information: if ok {
            reply.information.min(io.length as u64)
        } else {
            0
        },
    }
}

/// `MmGetSystemAddressForMdlSafe(Irp->MdlAddress, NormalPagePriority | MdlMappingNoExecute)`.
fn client_system_address(k: &mut Kernel<'_>, io: &Io) -> Result<Option<Va>> {
    k.mm_get_system_address_for_mdl_safe(
        io.mdl,
        priority::NORMAL | priority::MDL_MAPPING_NO_EXECUTE,
    )
}

/// A non-paged pool buffer described by its own MDL (`MmBuildMdlForNonPagedPool`) and
/// mapped into the server: the shape of every pool bounce in the zoo.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PoolView {
    /// The pool allocation (page-aligned: its size is whole pages).
    pool: Va,
    /// Its MDL.
    mdl: MdlId,
    /// Its mapping in the server.
    view: Va,
}

impl PoolView {
    /// Allocates `size` bytes rounded up to whole pages (`ExAllocatePool2`, zeroed, or
    /// `ExAllocatePoolWithTag`, not), calls `fill` on the buffer before the server can
    /// see it, and maps it into the server (writable only when asked). `Ok(None)`: a
    /// resource ran out and everything was given back.
    fn build(
        k: &mut Kernel<'_>,
        io: &Io,
        size: u64,
        zeroed: bool,
        writable: bool,
        fill: impl FnOnce(&mut Kernel<'_>, Va) -> Result<()>,
    ) -> Result<Option<PoolView>> {
        let size = round_to_pages(size).unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
        let Ok(mdl_len) = u32::try_from(size) else {
            return Ok(None);
        };
        let pool = if zeroed {
            k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, ZOO_TAG)?
        } else {
            k.ex_allocate_pool_with_tag(PoolType::NonPaged, size, ZOO_TAG)?
        };
        let Some(pool) = pool else {
            return Ok(None);
        };
        fill(k, pool)?;
        let Some(mdl) = k.io_allocate_mdl(pool, mdl_len, false, false, None)? else {
            k.ex_free_pool_with_tag(pool, ZOO_TAG)?;
            return Ok(None);
        };
        k.mm_build_mdl_for_non_paged_pool(mdl)?;
        let Some(view) = map_into(k, io.server, mdl, None, writable)? else {
            k.io_free_mdl(mdl)?;
            k.ex_free_pool_with_tag(pool, ZOO_TAG)?;
            return Ok(None);
        };
        Ok(Some(PoolView { pool, mdl, view }))
    }

    /// The zoo's usual bounce: `at + length` bytes of pool (zeroed or not), the client's
    /// bytes (at its system address `client`) copied to `pool + at` for a WRITE, the
    /// view read-only for a WRITE and writable for a READ.
    fn bounce(
        k: &mut Kernel<'_>,
        io: &Io,
        client: Va,
        zeroed: bool,
        at: u64,
    ) -> Result<Option<PoolView>> {
        let len = io.length as u64;
        let write = io.direction == Direction::Write;
        PoolView::build(k, io, at + len, zeroed, !write, |k, pool| {
            if write {
                k.kernel_copy(pool.wrapping_add(at), client, len)?;
            }
            Ok(())
        })
    }

    /// What the server is shown: `length` bytes at `view + at`.
    fn shown(&self, io: &Io, at: u64) -> Exposure {
        Exposure::Mapped {
            va: self.view.wrapping_add(at),
            len: io.length as u64,
        }
    }

    /// Unmaps the server's view (attached to the server), copies `count` bytes from
    /// `pool + from` to `client` when asked, frees the MDL, then the pool.
    fn finish(
        self,
        k: &mut Kernel<'_>,
        io: &Io,
        client: Va,
        from: u64,
        count: Option<u64>,
    ) -> Result<()> {
        unmap_from(k, io.server, self.view, self.mdl)?;
        if let Some(n) = count {
            k.kernel_copy(client, self.pool.wrapping_add(from), n)?;
        }
        k.io_free_mdl(self.mdl)?;
        k.ex_free_pool_with_tag(self.pool, ZOO_TAG)
    }
}

/// The retire of a plain pool bounce: copies back what `done` delivers (a READ), gives
/// the bounce and its server view back, and completes with `done` (each strategy decides
/// `done`, which is where its bug lives).
fn retire_bounce(
    k: &mut Kernel<'_>,
    io: &Io,
    held: &mut Option<(PoolView, Va)>,
    done: Completion,
) -> Result<Completion> {
    if let Some((pv, client)) = held.take() {
        pv.finish(k, io, client, 0, read_back(io, &done))?;
    }
    Ok(done)
}

/// For a successful READ, the bytes a careful driver copies back (`Information`, clamped).
fn read_back(io: &Io, done: &Completion) -> Option<u64> {
    (io.direction == Direction::Read && nt_success(done.status)).then_some(done.information)
}

/// The start of every zoo expose: the client's system address, or the exposure to return
/// at once (nothing for a zero-length request, a refusal without an MDL or when no
/// system PTE is left).
fn begin(k: &mut Kernel<'_>, io: &Io) -> Result<std::result::Result<Va, Exposure>> {
    if let Some(e) = trivial(io) {
        return Ok(Err(e));
    }
    Ok(client_system_address(k, io)?.ok_or(NO_RESOURCES))
}

/// Zero length: nothing to map; no MDL: refused. `None`: go on.
fn trivial(io: &Io) -> Option<Exposure> {
    if io.length == 0 {
        Some(NOTHING)
    } else if io.mdl.is_none() {
        Some(Exposure::Refused(NtStatus::INVALID_USER_BUFFER))
    } else {
        None
    }
}

/// Physical pages from `MmAllocatePagesForMdlEx` with a system mapping, mapped into the
/// server: the zoo's page bounce (no pool).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PagesView {
    /// The MDL the allocation returned.
    mdl: MdlId,
    /// Its system mapping.
    sys: Va,
    /// Its mapping in the server.
    view: Va,
}

impl PagesView {
    /// Allocates whole pages for `len` bytes, all of them or none
    /// (`MM_ALLOCATE_FULLY_REQUIRED`; the `ByteCount` is checked all the same), zeroed
    /// unless `dont_zero`; `fill` runs on the system mapping before the server's mapping
    /// exists. `Ok(None)`: a resource ran out and everything was given back.
    fn build(
        k: &mut Kernel<'_>,
        io: &Io,
        len: u64,
        dont_zero: bool,
        fill: impl FnOnce(&mut Kernel<'_>, Va) -> Result<()>,
    ) -> Result<Option<PagesView>> {
        use crate::mdl::{CacheType, alloc_flags};
        let bytes = round_to_pages(len).unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
        let mut flags = alloc_flags::MM_ALLOCATE_FULLY_REQUIRED;
        if dont_zero {
            flags |= alloc_flags::MM_DONT_ZERO_ALLOCATION;
        }
        let Some(mdl) =
            k.mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, bytes, CacheType::Cached, flags)?
        else {
            return Ok(None);
        };
        if (k.mdl(mdl)?.byte_count as u64) < len {
            k.mm_free_pages_from_mdl(mdl)?;
            k.io_free_mdl(mdl)?;
            return Ok(None);
        }
        let prio = priority::NORMAL | priority::MDL_MAPPING_NO_EXECUTE;
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(mdl, prio)? else {
            k.mm_free_pages_from_mdl(mdl)?;
            k.io_free_mdl(mdl)?;
            return Ok(None);
        };
        fill(k, sys)?;
        let writable = io.direction == Direction::Read;
        let Some(view) = map_into(k, io.server, mdl, None, writable)? else {
            k.mm_unmap_locked_pages(sys, mdl)?;
            k.mm_free_pages_from_mdl(mdl)?;
            k.io_free_mdl(mdl)?;
            return Ok(None);
        };
        Ok(Some(PagesView { mdl, sys, view }))
    }

    /// Unmaps the system mapping, frees the pages, frees the MDL (the server's view must
    /// already be gone).
    fn free(self, k: &mut Kernel<'_>) -> Result<()> {
        k.mm_unmap_locked_pages(self.sys, self.mdl)?;
        k.mm_free_pages_from_mdl(self.mdl)?;
        k.io_free_mdl(self.mdl)
    }
}

/// Releases a substitute page if there is one.
fn release_page(k: &mut Kernel<'_>, p: Option<SubstitutePage>) -> Result<()> {
    match p {
        Some(p) => p.release(k),
        None => Ok(()),
    }
}
