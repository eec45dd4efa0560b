//! A pool bounce buffer mapped into the server, correct or with one [`Bug`] turned on:
//! the test-side strategy the class, hostile-server and free-while-mapped tests share.
#![allow(dead_code)]

use mdlsim::Kernel;
use mdlsim::addr::{PAGE_SIZE, Va, round_to_pages};
use mdlsim::fault::Result;
use mdlsim::mdl::{AccessMode, CacheType, priority};
use mdlsim::pool::{POOL_FLAG_NON_PAGED, tag};
use mdlsim::status::NtStatus;
use mdlsim::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply, map_into,
    nt_success, unmap_from,
};

/// The pool tag of the bounce buffer.
pub const TAG: u32 = tag(b"ClsT");

/// The one mistake a [`Bounce`] makes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Bug {
    /// None: a correct bounce buffer.
    #[default]
    None,
    /// Uses the NULL `MmGetSystemAddressForMdlSafe` returns under PTE exhaustion.
    UseNullMapping,
    /// Copies a WRITE in from two pages past the end of the request's mapping.
    ReadPastMapping,
    /// Maps the request with `MmMapLockedPagesSpecifyCache`, unmaps it, then copies back
    /// through the old address.
    CopyAfterUnmap,
    /// Copies a READ back one byte late (`sys + 1`, one byte fewer).
    ShiftedCopyBack,
    /// Never copies a WRITE in.
    NoCopyIn,
    /// Maps an MDL it built but never locked.
    MapUnlocked,
    /// Maps the request's MDL a second time into system space.
    MapTwice,
    /// Maps the request's pages into the server non-cached (and unmaps them at once)
    /// while its cached system mapping lives.
    NonCachedView,
    /// Unmaps the server's view naming the request's MDL instead of the buffer's.
    UnmapWithOtherMdl,
    /// Points the locked, mapped request MDL's last PFN entry at another frame.
    MutateWhileMapped,
    /// Never frees the bounce buffer.
    LeakPool,
    /// Never unmaps the server's view (nor frees what it maps).
    LeaveViewMapped,
    /// Frees the bounce buffer with the wrong tag.
    WrongTag,
    /// Probes and locks the server's view (an MDL user mapping) through a second MDL.
    LockServerView,
    /// Copies back the server's `Information` bytes, not `min(Information, length)`.
    TrustCopy,
    /// Completes with the server's `Information` as it came.
    TrustCount,
    /// Frees the bounce buffer before unmapping the server's view of it.
    FreeBeforeUnmap,
}

/// A bounce buffer in pool mapped into the server, with one [`Bug`].
#[derive(Clone, Default)]
pub struct Bounce {
    /// The mistake.
    pub bug: Bug,
    held: Option<Held>,
}

#[derive(Clone, Copy)]
struct Held {
    pool: Va,
    bmdl: mdlsim::MdlId,
    view: Va,
    sys: Va,
}

impl Bounce {
    /// A bounce with `bug`.
    pub fn with(bug: Bug) -> Self {
        Bounce { bug, held: None }
    }

    /// The request's system address (or the NULL a buggy driver goes on with).
    fn system_address(&self, k: &mut Kernel<'_>, io: &Io) -> Result<Option<Va>> {
        let prio = priority::NORMAL;
        match self.bug {
            Bug::CopyAfterUnmap => k.mm_map_locked_pages_specify_cache(
                io.mdl,
                AccessMode::KernelMode,
                CacheType::Cached,
                None,
                false,
                prio,
            ),
            Bug::UseNullMapping => Ok(Some(
                k.mm_get_system_address_for_mdl_safe(io.mdl, prio)?
                    .unwrap_or(Va::NULL),
            )),
            Bug::MapUnlocked => {
                let Some(m) = k.io_allocate_mdl(io.buffer, io.length, false, false, None)? else {
                    return Ok(None);
                };
                k.mm_get_system_address_for_mdl_safe(m, prio)
            }
            Bug::MapTwice => {
                k.mm_get_system_address_for_mdl_safe(io.mdl, prio)?;
                k.mm_map_locked_pages_specify_cache(
                    io.mdl,
                    AccessMode::KernelMode,
                    CacheType::Cached,
                    None,
                    false,
                    prio,
                )
            }
            _ => k.mm_get_system_address_for_mdl_safe(io.mdl, prio),
        }
    }

    /// The server's view of the buffer MDL.
    fn view(&self, k: &mut Kernel<'_>, io: &Io, bmdl: mdlsim::MdlId) -> Result<Option<Va>> {
        let writable = io.direction == Direction::Read;
        if self.bug == Bug::NonCachedView {
            k.attach(io.server)?;
            let r = k.mm_map_locked_pages_specify_cache(
                io.mdl,
                AccessMode::UserMode,
                CacheType::NonCached,
                None,
                false,
                priority::NORMAL | priority::MDL_MAPPING_NO_WRITE,
            );
            if let Ok(Some(va)) = r {
                k.mm_unmap_locked_pages(va, io.mdl)?;
            }
            k.detach()?;
        }
        map_into(k, io.server, bmdl, None, writable)
    }

    fn tear_down(&self, k: &mut Kernel<'_>, io: &Io, h: Held) -> Result<()> {
        match self.bug {
            Bug::LeaveViewMapped => return Ok(()),
            Bug::FreeBeforeUnmap => {
                k.ex_free_pool_with_tag(h.pool, TAG)?;
                unmap_from(k, io.server, h.view, h.bmdl)?;
                return k.io_free_mdl(h.bmdl);
            }
            Bug::UnmapWithOtherMdl => unmap_from(k, io.server, h.view, io.mdl.unwrap_or(h.bmdl))?,
            _ => unmap_from(k, io.server, h.view, h.bmdl)?,
        }
        k.io_free_mdl(h.bmdl)?;
        match self.bug {
            Bug::LeakPool => Ok(()),
            Bug::WrongTag => k.ex_free_pool_with_tag(h.pool, TAG ^ 1),
            _ => k.ex_free_pool_with_tag(h.pool, TAG),
        }
    }
}

impl ProxyStrategy for Bounce {
    fn name(&self) -> String {
        format!("Bounce({:?})", self.bug)
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        if io.mdl.is_none() {
            return Ok(Exposure::Mapped {
                va: Va::NULL,
                len: 0,
            });
        }
        let refused = Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        let Some(sys) = self.system_address(k, io)? else {
            return refused;
        };
        let size = round_to_pages(len).unwrap_or(PAGE_SIZE);
        let Some(pool) = k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, TAG)? else {
            return refused;
        };
        let Some(bmdl) = k.io_allocate_mdl(pool, size as u32, false, false, None)? else {
            k.ex_free_pool_with_tag(pool, TAG)?;
            return refused;
        };
        k.mm_build_mdl_for_non_paged_pool(bmdl)?;
        match (io.direction, self.bug) {
            (Direction::Write, Bug::NoCopyIn) => {}
            (Direction::Write, Bug::ReadPastMapping) => {
                k.kernel_copy(pool, sys.wrapping_add(2 * PAGE_SIZE), len)?
            }
            (Direction::Write, _) => k.kernel_copy(pool, sys, len)?,
            (Direction::Read, _) => {}
        }
        let Some(view) = self.view(k, io, bmdl)? else {
            k.io_free_mdl(bmdl)?;
            k.ex_free_pool_with_tag(pool, TAG)?;
            return refused;
        };
        if self.bug == Bug::LockServerView {
            k.attach(io.server)?;
            if let Some(second) = k.io_allocate_mdl(view, io.length, false, false, None)? {
                k.mm_probe_and_lock_pages(
                    second,
                    AccessMode::KernelMode,
                    mdlsim::mdl::LockOperation::IoReadAccess,
                )?;
                k.mm_unlock_pages(second)?;
                k.io_free_mdl(second)?;
            }
            k.detach()?;
        }
        if self.bug == Bug::MutateWhileMapped {
            let last = k.mdl(io.mdl.unwrap_or(bmdl))?.page_count() - 1;
            let other = k.mdl(bmdl)?.pfn_array()[0];
            k.mdl_set_pfn(io.mdl, last, other)?;
        }
        self.held = Some(Held {
            pool,
            bmdl,
            view,
            sys,
        });
        Ok(Exposure::Mapped { va: view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let ok = nt_success(reply.status);
        let n = reply.information.min(io.length as u64);
        let (copy, count) = match self.bug {
            Bug::TrustCopy => (reply.information, n),
            Bug::TrustCount => (n, reply.information),
            _ => (n, n),
        };
        if let Some(h) = self.held.take() {
            if self.bug == Bug::CopyAfterUnmap {
                k.mm_unmap_locked_pages(h.sys, io.mdl)?;
            }
            if io.direction == Direction::Read && ok {
                match self.bug {
                    Bug::ShiftedCopyBack if n > 1 => {
                        k.kernel_copy(h.sys.wrapping_add(1), h.pool, n - 1)?
                    }
                    _ => k.kernel_copy(h.sys, h.pool, copy)?,
                }
            }
            self.tear_down(k, io, h)?;
        }
        Ok(Completion {
            status: reply.status,
            information: if ok { count } else { 0 },
        })
    }
}
