//! The correct strategies besides head/tail splicing: bounce copy, partial-MDL split,
//! and WinFsp's copy-small/map-large policy.

use super::helpers::{Geometry, find_free_user_range, map_into, nt_success, unmap_from};
use super::splice::Edges;
use super::{Completion, Direction, Exposure, HeadTailSplice, Io, ProxyStrategy, ServerReply};
use crate::addr::{PAGE_SIZE, Va, round_to_pages};
use crate::fault::Result;
use crate::machine::Kernel;
use crate::mdl::{AccessMode, LockOperation, MdlId, priority};
use crate::pool::{POOL_FLAG_NON_PAGED, PoolType, tag};
use crate::status::NtStatus;
use crate::strategy::RetireReason;

/// Pool tag of the built-in strategies' buffers.
pub const PROXY_TAG: u32 = tag(b"PxyB");

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct BounceKnobs {
    /// Broken: `ExAllocatePoolWithTag` (not zeroed) instead of `ExAllocatePool2`.
    pub unzeroed: bool,
    /// Broken: copy back the whole length, ignoring `Information`.
    pub copy_back_all: bool,
    /// Broken: use `Irp->MdlAddress` without checking it for NULL.
    pub skip_null_check: bool,
    /// Broken: lock the client's buffer again through an own MDL, and free it locked.
    pub own_lock_leak: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct BounceState {
    pool: Va,
    bmdl: MdlId,
    view: Va,
    sys: Va,
    own: Option<MdlId>,
}

/// Copy through a zeroed pool buffer: `ExAllocatePool2` of whole pages (so the server's
/// view shares its page with nothing else), client bytes copied in for a WRITE through
/// the request's system mapping, an MDL built with `MmBuildMdlForNonPagedPool` mapped
/// into the server (read-only for a WRITE); on retire, unmap in the server, copy back
/// `min(Information, length)` bytes for a successful READ, free. A zero-length request
/// (no MDL) exposes nothing. PTE or pool exhaustion refuses the request with
/// `STATUS_INSUFFICIENT_RESOURCES`.
///
/// Expected verdict: passes.
#[derive(Clone, Debug, Default)]
pub struct BounceCopy {
    pub(crate) knobs: BounceKnobs,
    state: Option<BounceState>,
}

impl ProxyStrategy for BounceCopy {
    fn name(&self) -> String {
        "BounceCopy".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        if len == 0 && !self.knobs.skip_null_check {
            return Ok(Exposure::Mapped {
                va: Va::NULL,
                len: 0,
            });
        }
        let prio = priority::NORMAL | priority::MDL_MAPPING_NO_EXECUTE;
        let mut own = None;
        let source = if self.knobs.own_lock_leak {
            let Some(o) = k.io_allocate_mdl(io.buffer, io.length, false, false, None)? else {
                return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
            };
            let op = match io.direction {
                Direction::Read => LockOperation::IoWriteAccess,
                Direction::Write => LockOperation::IoReadAccess,
            };
            k.mm_probe_and_lock_process_pages(o, io.client, AccessMode::UserMode, op)?;
            own = Some(o);
            Some(o)
        } else {
            io.mdl
        };
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(source, prio)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let size = round_to_pages(len).unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
        let pool = if self.knobs.unzeroed {
            k.ex_allocate_pool_with_tag(PoolType::NonPaged, size, PROXY_TAG)?
        } else {
            k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, PROXY_TAG)?
        };
        let Some(pool) = pool else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        if io.direction == Direction::Write {
            k.kernel_copy(pool, sys, len)?;
        }
        let Some(bmdl) = k.io_allocate_mdl(pool, size as u32, false, false, None)? else {
            k.ex_free_pool_with_tag(pool, PROXY_TAG)?;
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        k.mm_build_mdl_for_non_paged_pool(bmdl)?;
        let writable = io.direction == Direction::Read;
        let Some(view) = map_into(k, io.server, bmdl, None, writable)? else {
            k.io_free_mdl(bmdl)?;
            k.ex_free_pool_with_tag(pool, PROXY_TAG)?;
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        self.state = Some(BounceState {
            pool,
            bmdl,
            view,
            sys,
            own,
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
        let len = io.length as u64;
        let ok = nt_success(reply.status);
        let n = reply.information.min(len);
        let Some(st) = self.state.take() else {
            return Ok(Completion {
                status: reply.status,
                information: if ok { n } else { 0 },
            });
        };
        unmap_from(k, io.server, st.view, st.bmdl)?;
        if io.direction == Direction::Read && ok {
            let count = if self.knobs.copy_back_all { len } else { n };
            k.kernel_copy(st.sys, st.pool, count)?;
        }
        k.io_free_mdl(st.bmdl)?;
        k.ex_free_pool_with_tag(st.pool, PROXY_TAG)?;
        if let Some(o) = st.own {
            // The leak: unmapped and freed, never unlocked.
            k.mm_unmap_locked_pages(st.sys, o)?;
            k.io_free_mdl(o)?;
        }
        Ok(Completion {
            status: reply.status,
            information: if ok { n } else { 0 },
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct SplitKnobs {
    /// Broken: `MmUnlockPages` on the partial MDL.
    pub unlock_partial: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SplitState {
    base: Va,
    geo: Geometry,
    edges: Edges,
    middle: Option<(MdlId, Va)>,
}

/// The whole pages in the middle of the buffer through `IoBuildPartialMdl` (borrowing
/// the request's lock, [semantics §4]), the partial first/last pages through zeroed
/// substitute pages (copied in for a WRITE, copied back up to `Information` for a READ);
/// the three MDLs are mapped back to back at a free range of the server's space so the
/// server sees one contiguous buffer. Retire unmaps all three in the server, copies back,
/// frees the substitutes, and `IoFreeMdl`s the partial — never `MmUnlockPages` it
/// ([invariant 24]).
///
/// Expected verdict: passes.
///
/// [semantics §4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s4
/// [invariant 24]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-24
#[derive(Clone, Debug, Default)]
pub struct PartialMdlSplit {
    pub(crate) knobs: SplitKnobs,
    state: Option<SplitState>,
}

impl PartialMdlSplit {
    fn undo(k: &mut Kernel<'_>, io: &Io, st: &mut SplitState) -> Result<()> {
        let last = st.base.wrapping_add((st.geo.pages - 1) * PAGE_SIZE);
        if let Some(h) = st.edges.head {
            unmap_from(k, io.server, st.base, h.mdl)?;
        }
        if let Some((p, va)) = st.middle {
            unmap_from(k, io.server, va, p)?;
        }
        if let Some(t) = st.edges.tail {
            unmap_from(k, io.server, last, t.mdl)?;
        }
        Ok(())
    }
}

impl ProxyStrategy for PartialMdlSplit {
    fn name(&self) -> String {
        "PartialMdlSplit".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        let (src, geo) = match Geometry::of_request(io) {
            Ok(x) => x,
            Err(at_once) => return Ok(at_once),
        };
        let Some(base) = find_free_user_range(k, io.server, geo.pages)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let Some(edges) = Edges::build(k, io, src, &geo, true)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let mut st = SplitState {
            base,
            geo,
            edges,
            middle: None,
        };
        let writable = io.direction == Direction::Read;
        let first_mid = u64::from(geo.head);
        let end_mid = geo.pages - u64::from(geo.tail);
        let mut ok = true;
        if let Some(h) = edges.head {
            ok &= map_into(k, io.server, h.mdl, Some(base), writable)?.is_some();
        }
        if ok && end_mid > first_mid {
            let mid_va = io.buffer.page_align().wrapping_add(first_mid * PAGE_SIZE);
            let mid_len = ((end_mid - first_mid) * PAGE_SIZE) as u32;
            let Some(p) = k.io_allocate_mdl(mid_va, mid_len, false, false, None)? else {
                Self::undo(k, io, &mut st)?;
                st.edges.release(k)?;
                return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
            };
            k.io_build_partial_mdl(src, p, mid_va, mid_len)?;
            let at = base.wrapping_add(first_mid * PAGE_SIZE);
            match map_into(k, io.server, p, Some(at), writable)? {
                Some(v) => st.middle = Some((p, v)),
                None => {
                    k.io_free_mdl(p)?;
                    ok = false;
                }
            }
        }
        if ok {
            if let Some(t) = edges.tail {
                let at = base.wrapping_add((geo.pages - 1) * PAGE_SIZE);
                ok &= map_into(k, io.server, t.mdl, Some(at), writable)?.is_some();
                if !ok {
                    // Not mapped: make `undo` skip it.
                    st.edges.tail = None;
                    let mut t_only = Edges {
                        sys: None,
                        head: None,
                        tail: Some(t),
                    };
                    t_only.release(k)?;
                }
            }
        }
        if !ok {
            Self::undo(k, io, &mut st)?;
            if let Some((p, _)) = st.middle {
                k.io_free_mdl(p)?;
            }
            st.edges.release(k)?;
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        }
        self.state = Some(st);
        Ok(Exposure::Mapped {
            va: base.wrapping_add(geo.off),
            len,
        })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let len = io.length as u64;
        let ok = nt_success(reply.status);
        let n = reply.information.min(len);
        let done = Completion {
            status: reply.status,
            information: if ok { n } else { 0 },
        };
        let Some(mut st) = self.state.take() else {
            return Ok(done);
        };
        Self::undo(k, io, &mut st)?;
        if io.direction == Direction::Read && ok {
            st.edges.copy_back(k, &st.geo, len, n)?;
        }
        st.edges.release(k)?;
        if let Some((p, _)) = st.middle {
            if self.knobs.unlock_partial {
                k.mm_unlock_pages(p)?;
            }
            k.io_free_mdl(p)?;
        }
        Ok(done)
    }
}

/// WinFsp's policy ([design.md, "What real systems do"][design-real-systems]): READs are always copied
/// ([`BounceCopy`]); WRITEs up to `threshold` bytes (64 KiB by default) are copied,
/// larger WRITEs are mapped read-only into the server with head/tail substitution
/// ([`HeadTailSplice`]).
///
/// Expected verdict: passes.
///
/// [design-real-systems]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#real-systems
#[derive(Clone, Debug)]
pub struct CopySmallMapLarge {
    /// Largest WRITE that is copied.
    pub threshold: u64,
    bounce: BounceCopy,
    splice: HeadTailSplice,
    spliced: bool,
}

impl Default for CopySmallMapLarge {
    fn default() -> Self {
        CopySmallMapLarge::with_threshold(64 * 1024)
    }
}

impl CopySmallMapLarge {
    /// With another threshold.
    pub fn with_threshold(threshold: u64) -> Self {
        CopySmallMapLarge {
            threshold,
            bounce: BounceCopy::default(),
            splice: HeadTailSplice::default(),
            spliced: false,
        }
    }
}

impl ProxyStrategy for CopySmallMapLarge {
    fn name(&self) -> String {
        format!("CopySmallMapLarge({})", self.threshold)
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        self.spliced = io.direction == Direction::Write && io.length as u64 > self.threshold;
        if self.spliced {
            self.splice.expose(k, io)
        } else {
            self.bounce.expose(k, io)
        }
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> Result<Completion> {
        if self.spliced {
            self.splice.retire(k, io, reply, why)
        } else {
            self.bounce.retire(k, io, reply, why)
        }
    }
}
