//! The zoo's correct strategies: three designs written differently from the built-ins.

use super::{NO_RESOURCES, PagesView, PoolView, begin, clamped, read_back};
use crate::addr::{PAGE_SIZE, Va};
use crate::fault::Result;
use crate::machine::Kernel;
use crate::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply, map_into,
    unmap_from,
};

/// A bounce through physical pages rather than pool: `MmAllocatePagesForMdlEx` with
/// `MM_ALLOCATE_FULLY_REQUIRED` (a short allocation would otherwise be success, and its
/// `ByteCount` is checked all the same), zeroed; the client's bytes copied in through the
/// two system mappings for a WRITE; the page MDL mapped into the server (read-only for a
/// WRITE). Retire unmaps the server's view in the server, copies back
/// `min(Information, length)` bytes of a successful READ, then unmaps the system mapping
/// and frees the pages and the MDL, in that order.
///
/// Expected verdict: passes.
#[derive(Clone, Debug, Default)]
pub struct PagesBounce {
    held: Option<(PagesView, Va)>,
}

impl ProxyStrategy for PagesBounce {
    fn name(&self) -> String {
        "PagesBounce".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        let client = match begin(k, io)? {
            Ok(c) => c,
            Err(at_once) => return Ok(at_once),
        };
        let write = io.direction == Direction::Write;
        let built = PagesView::build(k, io, len, false, |k, sys| {
            if write {
                k.kernel_copy(sys, client, len)?;
            }
            Ok(())
        })?;
        let Some(pv) = built else {
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
        let Some((pv, client)) = self.held.take() else {
            return Ok(done);
        };
        unmap_from(k, io.server, pv.view, pv.mdl)?;
        if let Some(n) = read_back(io, &done) {
            k.kernel_copy(client, pv.sys, n)?;
        }
        pv.free(k)?;
        Ok(done)
    }
}

/// A pool bounce that keeps the buffer's offset within its page (what Linux's swiotlb
/// does since commit 1f221a0d0dbf "swiotlb: respect min_align_mask", for devices such as
/// NVMe that need it): `BYTE_OFFSET(buffer) + length` bytes of zeroed pool, the data at
/// `pool + BYTE_OFFSET(buffer)` in both directions, and the server shown
/// `view + BYTE_OFFSET(buffer)`. The slack before and after the data is zero.
///
/// Expected verdict: passes.
#[derive(Clone, Debug, Default)]
pub struct OffsetPreservingBounce {
    held: Option<(PoolView, Va, u64)>,
}

impl ProxyStrategy for OffsetPreservingBounce {
    fn name(&self) -> String {
        "OffsetPreservingBounce".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let client = match begin(k, io)? {
            Ok(c) => c,
            Err(at_once) => return Ok(at_once),
        };
        let off = io.buffer.byte_offset() as u64;
        let Some(pv) = PoolView::bounce(k, io, client, true, off)? else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client, off));
        Ok(pv.shown(io, off))
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        if let Some((pv, client, off)) = self.held.take() {
            pv.finish(k, io, client, off, read_back(io, &done))?;
        }
        Ok(done)
    }
}

/// WinFsp's "safe MDL" test as a policy: a buffer that starts and ends on page boundaries
/// (`MmGetMdlByteOffset == 0` and a whole number of pages) shares no page with anything
/// else, so `Irp->MdlAddress` itself is mapped into the server (read-only for a WRITE)
/// and nothing is copied; any other buffer goes through a [`PagesBounce`]. The direct
/// view is unmapped in the server before the I/O manager unlocks the MDL at completion.
///
/// Expected verdict: passes.
#[derive(Clone, Debug, Default)]
pub struct AlignedDirectElseBounce {
    direct: Option<Va>,
    bounce: PagesBounce,
}

impl AlignedDirectElseBounce {
    /// Whether the request's buffer covers whole pages only.
    fn aligned(io: &Io) -> bool {
        io.buffer.byte_offset() == 0 && (io.length as u64) % PAGE_SIZE == 0
    }
}

impl ProxyStrategy for AlignedDirectElseBounce {
    fn name(&self) -> String {
        "AlignedDirectElseBounce".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        self.direct = None;
        let (Some(mdl), true, true) = (io.mdl, io.length != 0, Self::aligned(io)) else {
            return self.bounce.expose(k, io);
        };
        let writable = io.direction == Direction::Read;
        let Some(view) = map_into(k, io.server, mdl, None, writable)? else {
            return Ok(NO_RESOURCES);
        };
        self.direct = Some(view);
        Ok(Exposure::Mapped {
            va: view,
            len: io.length as u64,
        })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> Result<Completion> {
        match (self.direct.take(), io.mdl) {
            (Some(view), Some(mdl)) => {
                unmap_from(k, io.server, view, mdl)?;
                Ok(clamped(io, reply))
            }
            _ => self.bounce.retire(k, io, reply, why),
        }
    }
}
