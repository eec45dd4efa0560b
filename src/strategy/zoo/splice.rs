//! WinFsp's early "safe MDL" (2016): head/tail substitution and its copies, with the two
//! bugs its history records.

use super::{NO_RESOURCES, PoolView, begin, clamped, read_back, release_page, trivial};
use crate::addr::{PAGE_SIZE, Va, span_pages};
use crate::fault::Result;
use crate::machine::Kernel;
use crate::mdl::{MdlFlags, MdlId};
use crate::oracle::BugClass;
use crate::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply, SubstitutePage,
    map_into, nt_success, unmap_from,
};

/// What the safe MDL holds between expose and retire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SafeMdl {
    target: MdlId,
    view: Va,
    client: Va,
    head: Option<SubstitutePage>,
    tail: Option<SubstitutePage>,
}

/// The buffer's shape, as the 2016 code computed it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Shape {
    /// `BYTE_OFFSET(VirtualAddress)`.
    off: u64,
    /// `ADDRESS_AND_SIZE_TO_SPAN_PAGES`.
    pages: u64,
    /// `ByteOffsetEnd1`: bytes of the range in the last page.
    end1: u64,
}

impl Shape {
    fn of(io: &Io) -> Shape {
        let len = io.length as u64;
        let off = io.buffer.byte_offset() as u64;
        let end = (off + len) % PAGE_SIZE;
        Shape {
            off,
            pages: span_pages(io.buffer, len) as u64,
            end1: if end == 0 { PAGE_SIZE } else { end },
        }
    }
    fn head(&self) -> bool {
        self.off != 0 || (self.pages == 1 && self.end1 != PAGE_SIZE)
    }
    fn tail(&self) -> bool {
        self.pages > 1 && self.end1 != PAGE_SIZE
    }
    /// The bug of WinFsp before commit 79119a22: the last page's data taken at
    /// `VirtualAddress + (PageCount - 1) * PAGE_SIZE`, without `PAGE_ALIGN`: `off` bytes
    /// too far.
    fn last_page_unaligned(&self, client: Va) -> Va {
        client.wrapping_add((self.pages - 1) * PAGE_SIZE)
    }
}

/// WinFsp's `FspSafeMdlCreate` / `FspSafeMdlCopyBack` before commit 79119a22cb8f
/// (2016-03-08, "sys: IRP_MJ_READ, FspSafeMdlCreate, FspSafeMdlCopyBack: bug fixes",
/// <https://github.com/winfsp/winfsp/commit/79119a22cb8fc1936cf5f43f4c6576cc896939ae>):
/// the safe MDL substitutes zeroed pages for the buffer's partial first and last pages,
/// but the copies of the last page (in for a WRITE, back for a READ) addressed the
/// client's bytes at `VirtualAddress + (PageCount - 1) * PAGE_SIZE`, not page-aligned:
/// `BYTE_OFFSET(VirtualAddress)` bytes past where the last page's data starts. The fix
/// added `PAGE_ALIGN`. The right count of bytes lands at the wrong offset whenever the
/// buffer starts inside a page and ends inside another.
///
/// Expected verdict: SpanArithmetic.
#[derive(Clone, Debug, Default)]
pub struct WinFspTailOffset {
    held: Option<(SafeMdl, Shape)>,
}

impl WinFspTailOffset {
    /// The substitutes, with the client's bytes copied in for a WRITE (the tail at the
    /// wrong offset). `Ok(None)`: out of pages or PTEs (everything given back).
    fn substitutes(
        k: &mut Kernel<'_>,
        io: &Io,
        sh: &Shape,
        client: Va,
    ) -> Result<Option<(Option<SubstitutePage>, Option<SubstitutePage>)>> {
        let write = io.direction == Direction::Write;
        let len = io.length as u64;
        let mut head = None;
        if sh.head() {
            let Some(h) = SubstitutePage::allocate(k, true)? else {
                return Ok(None);
            };
            if write {
                k.kernel_copy(
                    h.sys.wrapping_add(sh.off),
                    client,
                    len.min(PAGE_SIZE - sh.off),
                )?;
            }
            head = Some(h);
        }
        let mut tail = None;
        if sh.tail() {
            let Some(t) = SubstitutePage::allocate(k, true)? else {
                release_page(k, head)?;
                return Ok(None);
            };
            if write {
                k.kernel_copy(t.sys, sh.last_page_unaligned(client), sh.end1)?;
            }
            tail = Some(t);
        }
        Ok(Some((head, tail)))
    }

    /// The target MDL: the request's PFNs with the substitutes spliced in, flagged as
    /// locked (it borrows the request's lock), mapped into the server.
    fn splice(k: &mut Kernel<'_>, io: &Io, sh: &Shape, m: &mut SafeMdl) -> Result<bool> {
        k.mdl_copy_pfns(io.mdl, 0, m.target, 0, sh.pages as u32)?;
        if let Some(h) = m.head {
            k.mdl_set_pfn(m.target, 0, h.pfn)?;
        }
        if let Some(t) = m.tail {
            k.mdl_set_pfn(m.target, (sh.pages - 1) as u32, t.pfn)?;
        }
        let flags = k.mdl(m.target)?.flags | MdlFlags::PAGES_LOCKED;
        k.mdl_set_flags(m.target, flags)?;
        let writable = io.direction == Direction::Read;
        match map_into(k, io.server, m.target, None, writable)? {
            Some(v) => {
                m.view = v;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Frees the substitutes and the target (its borrowed lock flag cleared first).
    fn free(k: &mut Kernel<'_>, m: SafeMdl) -> Result<()> {
        release_page(k, m.head)?;
        release_page(k, m.tail)?;
        let flags = k.mdl(m.target)?.flags - MdlFlags::PAGES_LOCKED;
        k.mdl_set_flags(m.target, flags)?;
        k.io_free_mdl(m.target)
    }
}

impl ProxyStrategy for WinFspTailOffset {
    fn name(&self) -> String {
        "WinFspTailOffset".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        let client = match begin(k, io)? {
            Ok(c) => c,
            Err(at_once) => return Ok(at_once),
        };
        let sh = Shape::of(io);
        let Some((head, tail)) = Self::substitutes(k, io, &sh, client)? else {
            return Ok(NO_RESOURCES);
        };
        let Some(target) = k.io_allocate_mdl(io.buffer, io.length, false, false, None)? else {
            release_page(k, head)?;
            release_page(k, tail)?;
            return Ok(NO_RESOURCES);
        };
        let mut m = SafeMdl {
            target,
            view: Va::NULL,
            client,
            head,
            tail,
        };
        if !Self::splice(k, io, &sh, &mut m)? {
            Self::free(k, m)?;
            return Ok(NO_RESOURCES);
        }
        self.held = Some((m, sh));
        Ok(Exposure::Mapped { va: m.view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let done = clamped(io, reply);
        let Some((m, sh)) = self.held.take() else {
            return Ok(done);
        };
        unmap_from(k, io.server, m.view, m.target)?;
        let n = done.information;
        if io.direction == Direction::Read && nt_success(done.status) {
            if let Some(h) = m.head {
                let count = n.min(PAGE_SIZE - sh.off);
                k.kernel_copy(m.client, h.sys.wrapping_add(sh.off), count)?;
            }
            // A tail exists only when the range ends inside a later page than it starts.
            let tail_start = (io.length as u64).saturating_sub(sh.end1);
            if let (Some(t), Some(count)) = (m.tail, n.checked_sub(tail_start)) {
                if count > 0 {
                    k.kernel_copy(sh.last_page_unaligned(m.client), t.sys, count)?;
                }
            }
        }
        Self::free(k, m)?;
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::SpanArithmetic)
    }
}

/// WinFsp before commit d0eee263c87f (2016-04-20, "sys: util: safe MDL bug fix",
/// <https://github.com/winfsp/winfsp/commit/d0eee263c87f5a6d511b4278323d6c299c7d7e42>):
/// its `FspGetMdlAddress` returned `MmGetMdlVirtualAddress(Mdl)`, the requestor's
/// user-mode address, whenever it was non-zero, and the safe-MDL copies went through it;
/// the fix uses `MmGetSystemAddressForMdlSafe`. A user address means something only in
/// its own process, and the driver runs in the server's context (or a system thread's).
/// Here: a pool bounce whose copies use the client's user address.
///
/// Expected verdict: OutOfBounds.
#[derive(Clone, Debug, Default)]
pub struct UserVaInArbitraryContext {
    held: Option<PoolView>,
}

impl ProxyStrategy for UserVaInArbitraryContext {
    fn name(&self) -> String {
        "UserVaInArbitraryContext".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(e) = trivial(io) {
            return Ok(e);
        }
        // The bug: the MDL's virtual address (the client's user VA) as the copy source.
        let Some(pv) = PoolView::bounce(k, io, io.buffer, true, 0)? else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some(pv);
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
        if let Some(pv) = self.held.take() {
            pv.finish(k, io, io.buffer, 0, read_back(io, &done))?;
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::OutOfBounds)
    }
}
