//! Broken lifecycles from the field: a failing DDI whose result is not handled, and
//! locks, mappings and pages released the wrong way, in the wrong place, or never.

use super::{
    NO_RESOURCES, PagesView, PoolView, begin, clamped, client_system_address, read_back,
    retire_bounce, trivial,
};
use crate::addr::Va;
use crate::fault::{Fault, Result};
use crate::machine::Kernel;
use crate::mdl::{AccessMode, CacheType, LockOperation, MdlId, priority};
use crate::oracle::BugClass;
use crate::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply, nt_success,
    unmap_from,
};

/// `MmGetSystemAddressForMdlSafe` used without checking for NULL. The routine returns
/// NULL when system PTEs run out (Microsoft Learn, "MmGetSystemAddressForMdlSafe":
/// <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmgetsystemaddressformdlsafe>;
/// Driver Verifier's low-resources simulation exists to make it fail), and a driver
/// that copies through the result anyway dereferences NULL. Here: a pool bounce whose
/// copies go through the unchecked result.
///
/// Expected verdict: ResourceFailureUnhandled.
#[derive(Clone, Debug, Default)]
pub struct UncheckedSystemAddress {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for UncheckedSystemAddress {
    fn name(&self) -> String {
        "UncheckedSystemAddress".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(e) = trivial(io) {
            return Ok(e);
        }
        // The bug: NULL is not checked for.
        let client = client_system_address(k, io)?.unwrap_or(Va::NULL);
        let Some(pv) = PoolView::bounce(k, io, client, true, 0)? else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client));
        Ok(pv.shown(io, 0))
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        retire_bounce(k, io, &mut self.held, done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::ResourceFailureUnhandled)
    }
}

/// The legacy way to a system address: `MmMapLockedPagesSpecifyCache(KernelMode)` with
/// `BugCheckOnFailure = TRUE`, which is what `MmMapLockedPages` and the old
/// `MmGetSystemAddressForMdl` macro do: "If the specified pages cannot be mapped, the
/// system issues a bug check" (Microsoft Learn, "MmMapLockedPages",
/// <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmmaplockedpages>;
/// bug check 0x3F NO_MORE_SYSTEM_PTES). PTE exhaustion, which a driver must survive,
/// brings the machine down.
///
/// Expected verdict: ResourceFailureUnhandled.
#[derive(Clone, Debug, Default)]
pub struct BugCheckOnMapFailure {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for BugCheckOnMapFailure {
    fn name(&self) -> String {
        "BugCheckOnMapFailure".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(e) = trivial(io) {
            return Ok(e);
        }
        let mapped = k.mm_map_locked_pages_specify_cache(
            io.mdl,
            AccessMode::KernelMode,
            CacheType::Cached,
            None,
            true,
            priority::NORMAL,
        )?;
        let Some(client) = mapped else {
            return Ok(NO_RESOURCES);
        };
        let Some(pv) = PoolView::bounce(k, io, client, true, 0)? else {
            k.mm_unmap_locked_pages(client, io.mdl)?;
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client));
        Ok(pv.shown(io, 0))
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        if let Some((pv, client)) = self.held.take() {
            pv.finish(k, io, client, 0, read_back(io, &done))?;
            k.mm_unmap_locked_pages(client, io.mdl)?;
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::ResourceFailureUnhandled)
    }
}

/// `MmUnmapLockedPages` of a user mapping called in whatever context the driver happens
/// to run in. Microsoft Learn ("MmUnmapLockedPages",
/// <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmunmaplockedpages>):
/// a user-space mapping must be unmapped in the context of the process it was mapped
/// into. Here: a pool bounce whose retire unmaps the server's view without attaching to
/// the server; it works after a reply (the server's own thread) and breaks when the
/// request is cancelled (a system thread) or the client exits (the client's context).
///
/// Expected verdict: UnmapMismatch.
#[derive(Clone, Debug, Default)]
pub struct UnmapFromArbitraryContext {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for UnmapFromArbitraryContext {
    fn name(&self) -> String {
        "UnmapFromArbitraryContext".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let client = match begin(k, io)? {
            Ok(c) => c,
            Err(at_once) => return Ok(at_once),
        };
        let Some(pv) = PoolView::bounce(k, io, client, true, 0)? else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client));
        Ok(pv.shown(io, 0))
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        if let Some((pv, client)) = self.held.take() {
            // The bug: no KeStackAttachProcess to the server first.
            k.mm_unmap_locked_pages(pv.view, pv.mdl)?;
            if io.direction == Direction::Read && nt_success(done.status) {
                k.kernel_copy(client, pv.pool, done.information)?;
            }
            k.io_free_mdl(pv.mdl)?;
            k.ex_free_pool_with_tag(pv.pool, super::ZOO_TAG)?;
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::UnmapMismatch)
    }
}

/// The server's view of a page-bounce MDL "released" with `MmUnlockPages` where
/// `MmUnmapLockedPages` was meant (cheat-engine pull request #1623, "MmUnlockPages ->
/// MmUnmapLockedPages", <https://github.com/cheat-engine/cheat-engine/pull/1623>). The
/// MDL came from `MmAllocatePagesForMdlEx`: it holds no probe-and-lock to undo.
///
/// Expected verdict: UnlockMisuse.
#[derive(Clone, Debug, Default)]
pub struct UnlockInsteadOfUnmap {
    held: Option<(PagesView, Va)>,
}

impl ProxyStrategy for UnlockInsteadOfUnmap {
    fn name(&self) -> String {
        "UnlockInsteadOfUnmap".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(e) = trivial(io) {
            return Ok(e);
        }
        let Some(client) = client_system_address(k, io)? else {
            return Ok(NO_RESOURCES);
        };
        let len = io.length as u64;
        let write = io.direction == Direction::Write;
        let Some(pv) = PagesView::build(k, io, len, false, |k, sys| {
            if write {
                k.kernel_copy(sys, client, len)?;
            }
            Ok(())
        })?
        else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client));
        Ok(Exposure::Mapped { va: pv.view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        if let Some((pv, client)) = self.held.take() {
            // The bug: MmUnlockPages where MmUnmapLockedPages(view) belongs.
            k.mm_unlock_pages(pv.mdl)?;
            if io.direction == Direction::Read && nt_success(done.status) {
                k.kernel_copy(client, pv.sys, done.information)?;
            }
            pv.free(k)?;
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::UnlockMisuse)
    }
}

/// `MmUnlockPages(Irp->MdlAddress)` in the driver once it is done with the client's
/// pages, before `IoCompleteRequest`, which unlocks and frees that MDL itself: the pages
/// are unlocked twice. Bug check 0x4E PFN_LIST_CORRUPT, parameter 1 = 0x7, "a driver has
/// unlocked a page more times than it locked it" (Microsoft Learn,
/// <https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4e--pfn-list-corrupt>).
///
/// Expected verdict: UnlockMisuse.
#[derive(Clone, Debug, Default)]
pub struct DoubleUnlockRequestMdl {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for DoubleUnlockRequestMdl {
    fn name(&self) -> String {
        "DoubleUnlockRequestMdl".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let client = match begin(k, io)? {
            Ok(c) => c,
            Err(at_once) => return Ok(at_once),
        };
        let Some(pv) = PoolView::bounce(k, io, client, true, 0)? else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client));
        Ok(pv.shown(io, 0))
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        if let Some((pv, client)) = self.held.take() {
            pv.finish(k, io, client, 0, read_back(io, &done))?;
            // The bug: the I/O manager will unlock Irp->MdlAddress again at completion.
            k.mm_unlock_pages(io.mdl)?;
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::UnlockMisuse)
    }
}

/// Dokan's read completion before commit adf14d88c38d ("Add DokanFreeMdl for read
/// operation", 2017: "Forgotten free MDL in DokanCompleteRead",
/// <https://github.com/dokan-dev/dokany/commit/adf14d88c38d2a2b04fde72d28f0ea4e846c1db6>):
/// the driver's own MDL over the caller's buffer, probed and locked, was released on
/// the error paths but not on the normal completion path; the same bug as KSOCKET issue
/// #2 ("MmProbeAndLockPages but don't MmUnlockPages",
/// <https://github.com/wbenny/KSOCKET/issues/2>). Here: the driver locks the client's
/// buffer a second time through its own MDL (`MmProbeAndLockProcessPages`, inside
/// `__try`) and copies through that MDL's system address; cancellation and exits unlock
/// and free it, the server's reply forgets to.
///
/// Expected verdict: LockLeak.
#[derive(Clone, Debug, Default)]
pub struct LockLeakOnReplyPath {
    held: Option<(PoolView, MdlId, Va)>,
}

impl LockLeakOnReplyPath {
    /// The driver's own locked MDL over the client's buffer and its system address.
    fn lock_own(k: &mut Kernel<'_>, io: &Io) -> Result<Option<(MdlId, Va)>> {
        let Some(own) = k.io_allocate_mdl(io.buffer, io.length, false, false, None)? else {
            return Ok(None);
        };
        let op = match io.direction {
            Direction::Read => LockOperation::IoWriteAccess,
            Direction::Write => LockOperation::IoReadAccess,
        };
        match k.mm_probe_and_lock_process_pages(own, io.client, AccessMode::UserMode, op) {
            Ok(()) => {}
            Err(Fault::Raise(_)) => {
                k.io_free_mdl(own)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let prio = priority::NORMAL | priority::MDL_MAPPING_NO_EXECUTE;
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(own, prio)? else {
            k.mm_unlock_pages(own)?;
            k.io_free_mdl(own)?;
            return Ok(None);
        };
        Ok(Some((own, sys)))
    }
}

impl ProxyStrategy for LockLeakOnReplyPath {
    fn name(&self) -> String {
        "LockLeakOnReplyPath".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(e) = trivial(io) {
            return Ok(e);
        }
        let Some((own, client)) = Self::lock_own(k, io)? else {
            return Ok(NO_RESOURCES);
        };
        let Some(pv) = PoolView::bounce(k, io, client, true, 0)? else {
            k.mm_unlock_pages(own)?;
            k.io_free_mdl(own)?;
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, own, client));
        Ok(pv.shown(io, 0))
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        if let Some((pv, own, client)) = self.held.take() {
            pv.finish(k, io, client, 0, read_back(io, &done))?;
            if why != RetireReason::Reply {
                k.mm_unlock_pages(own)?;
                k.io_free_mdl(own)?;
            }
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::LockLeak)
    }
}

/// A page bounce whose pages are never given back: the server's view is unmapped, but
/// the system mapping, the pages and their MDL are not (cheat-engine pull requests
/// #1611/#1613, "unmap vmm from VA after initialize, add cleanup",
/// <https://github.com/cheat-engine/cheat-engine/pull/1613>: pages from
/// `MmAllocatePagesForMdlEx` mapped and never unmapped or freed). Every request leaks a
/// system PTE range and its pages.
///
/// Expected verdict: ResourceLeak.
#[derive(Clone, Debug, Default)]
pub struct BouncePagesLeaked {
    held: Option<(PagesView, Va)>,
}

impl ProxyStrategy for BouncePagesLeaked {
    fn name(&self) -> String {
        "BouncePagesLeaked".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(e) = trivial(io) {
            return Ok(e);
        }
        let Some(client) = client_system_address(k, io)? else {
            return Ok(NO_RESOURCES);
        };
        let len = io.length as u64;
        let write = io.direction == Direction::Write;
        let Some(pv) = PagesView::build(k, io, len, false, |k, sys| {
            if write {
                k.kernel_copy(sys, client, len)?;
            }
            Ok(())
        })?
        else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client));
        Ok(Exposure::Mapped { va: pv.view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        if let Some((pv, client)) = self.held.take() {
            unmap_from(k, io.server, pv.view, pv.mdl)?;
            if io.direction == Direction::Read && nt_success(done.status) {
                k.kernel_copy(client, pv.sys, done.information)?;
            }
            // The bug: no MmUnmapLockedPages(sys), MmFreePagesFromMdl, IoFreeMdl.
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::ResourceLeak)
    }
}
