//! Head/tail page substitution (the [proxy file system][design-proxy]'s technique, done right).
//!
//! [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system

use super::helpers::{Geometry, SubstitutePage, map_into, nt_success, unmap_from};
use super::{Completion, Direction, Exposure, Io, ProxyStrategy, ServerReply};
use crate::addr::Va;
use crate::fault::Result;
use crate::machine::Kernel;
use crate::mdl::{MdlFlags, MdlId, priority};
use crate::status::NtStatus;
use crate::strategy::RetireReason;

/// The substitute pages for a buffer's partial first and last pages, and the client's
/// system mapping the driver copies through.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Edges {
    pub sys: Option<Va>,
    pub head: Option<SubstitutePage>,
    pub tail: Option<SubstitutePage>,
}

impl Edges {
    /// Allocates a substitute for each partial end page (one when head and tail share a
    /// page), and for a WRITE copies in the client's in-range bytes of those pages.
    /// `Ok(None)`: resources ran out (everything obtained was given back).
    pub(crate) fn build(
        k: &mut Kernel<'_>,
        io: &Io,
        src: MdlId,
        geo: &Geometry,
        zeroed: bool,
    ) -> Result<Option<Edges>> {
        let mut e = Edges::default();
        if !(geo.head || geo.tail) {
            return Ok(Some(e));
        }
        let prio = priority::NORMAL | priority::MDL_MAPPING_NO_EXECUTE;
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(src, prio)? else {
            return Ok(None);
        };
        e.sys = Some(sys);
        let len = io.length as u64;
        if geo.head {
            let Some(h) = SubstitutePage::allocate(k, zeroed)? else {
                return Ok(None);
            };
            e.head = Some(h);
            if io.direction == Direction::Write {
                k.kernel_copy(h.sys.wrapping_add(geo.off), sys, geo.head_len(len))?;
            }
        }
        if geo.tail {
            let Some(t) = SubstitutePage::allocate(k, zeroed)? else {
                e.release(k)?;
                return Ok(None);
            };
            e.tail = Some(t);
            if io.direction == Direction::Write {
                k.kernel_copy(t.sys, sys.wrapping_add(geo.tail_start(len)), geo.last_len)?;
            }
        }
        Ok(Some(e))
    }

    /// For a READ, copies back the first `n` transferred bytes that live in substitutes.
    pub(crate) fn copy_back(
        &self,
        k: &mut Kernel<'_>,
        geo: &Geometry,
        length: u64,
        n: u64,
    ) -> Result<()> {
        let Some(sys) = self.sys else {
            return Ok(());
        };
        if let Some(h) = self.head {
            let count = n.min(geo.head_len(length));
            k.kernel_copy(sys, h.sys.wrapping_add(geo.off), count)?;
        }
        if let Some(t) = self.tail {
            let ts = geo.tail_start(length);
            if n > ts {
                k.kernel_copy(sys.wrapping_add(ts), t.sys, n - ts)?;
            }
        }
        Ok(())
    }

    /// Frees the substitutes (their system mappings first). The client's system mapping
    /// goes away when the request's MDL is unlocked at completion.
    pub(crate) fn release(&mut self, k: &mut Kernel<'_>) -> Result<()> {
        if let Some(h) = self.head.take() {
            h.release(k)?;
        }
        if let Some(t) = self.tail.take() {
            t.release(k)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct SpliceKnobs {
    /// Broken: map a WRITE's pages writable into the server.
    pub writable_for_writes: bool,
    /// Broken: free the substitute pages before unmapping the server's view.
    pub free_before_unmap: bool,
    /// Broken: substitutes allocated with `MM_DONT_ZERO_ALLOCATION` and never zeroed.
    pub unzeroed_substitutes: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SpliceState {
    target: MdlId,
    view: Va,
    edges: Edges,
    geo: Geometry,
}

/// The seven steps of the [proxy file system's head/tail substitution][design-proxy],
/// done right: a target MDL whose PFN array is the request's,
/// with **zeroed** substitute pages (from `MmAllocatePagesForMdlEx`) in place of a
/// partial first and/or last page — one substitute when head and tail share a page —;
/// for a WRITE the client's in-range bytes of those pages are copied in and the server
/// mapping is read-only (`MdlMappingNoWrite`); for a READ only the transferred range
/// (`Information` bytes) is copied back. Retire unmaps the view in the server's context,
/// frees the substitutes after the unmap, and frees the target MDL **without unlocking
/// it** (it holds no lock: the request's MDL does, and is the only one unlocked, at
/// completion).
///
/// Expected verdict: passes.
///
/// [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
#[derive(Clone, Debug, Default)]
pub struct HeadTailSplice {
    pub(crate) knobs: SpliceKnobs,
    state: Option<SpliceState>,
}

impl ProxyStrategy for HeadTailSplice {
    fn name(&self) -> String {
        "HeadTailSplice".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        let (src, geo) = match Geometry::of_request(io) {
            Ok(x) => x,
            Err(at_once) => return Ok(at_once),
        };
        let Some(mut edges) = Edges::build(k, io, src, &geo, !self.knobs.unzeroed_substitutes)?
        else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        // Step 2: a target MDL over the same range, with the source's PFN array.
        let Some(target) = k.io_allocate_mdl(io.buffer, io.length, false, false, None)? else {
            edges.release(k)?;
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        k.mdl_copy_pfns(src, 0, target, 0, geo.pages as u32)?;
        // Step 5: splice the substitutes in.
        if let Some(h) = edges.head {
            k.mdl_set_pfn(target, 0, h.pfn)?;
        }
        if let Some(t) = edges.tail {
            k.mdl_set_pfn(target, (geo.pages - 1) as u32, t.pfn)?;
        }
        // Every page it names is held (the request's lock, or the page allocation).
        let flags = k.mdl(target)?.flags | MdlFlags::PAGES_LOCKED;
        k.mdl_set_flags(target, flags)?;
        // Step 7: map it into the server, read-only for a WRITE.
        let writable = io.direction == Direction::Read || self.knobs.writable_for_writes;
        let Some(view) = map_into(k, io.server, target, None, writable)? else {
            Self::free_target(k, target)?;
            edges.release(k)?;
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        self.state = Some(SpliceState {
            target,
            view,
            edges,
            geo,
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
        let n = reply.information.min(len);
        let Some(mut st) = self.state.take() else {
            return Ok(Completion {
                status: reply.status,
                information: if nt_success(reply.status) { n } else { 0 },
            });
        };
        if self.knobs.free_before_unmap {
            st.edges.release(k)?;
        }
        unmap_from(k, io.server, st.view, st.target)?;
        if io.direction == Direction::Read && nt_success(reply.status) {
            st.edges.copy_back(k, &st.geo, len, n)?;
        }
        st.edges.release(k)?;
        Self::free_target(k, st.target)?;
        Ok(Completion {
            status: reply.status,
            information: if nt_success(reply.status) { n } else { 0 },
        })
    }
}

impl HeadTailSplice {
    /// Frees the spliced MDL: clears the borrowed `MDL_PAGES_LOCKED` (it never held a
    /// lock, so it must never reach `MmUnlockPages`) and `IoFreeMdl`s it.
    fn free_target(k: &mut Kernel<'_>, target: MdlId) -> Result<()> {
        let flags = k.mdl(target)?.flags - MdlFlags::PAGES_LOCKED;
        k.mdl_set_flags(target, flags)?;
        k.io_free_mdl(target)
    }
}
