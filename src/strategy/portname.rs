//! The PortName driver of Microsoft's ["Errors in Direct I/O"][design-direct-io]: a WRITE carries a UTF-16 port name. The broken driver
//! terminates the string **in place** in the shared (double-mapped) buffer and then
//! scans it (`RtlInitUnicodeString`) and copies it — fetching the same user-writable
//! bytes twice. The fixed driver captures the buffer first, then terminates and
//! validates its private copy. Both hand the server a read-only bounce copy; READs are
//! refused (`STATUS_INVALID_DEVICE_REQUEST`), as are names shorter than one `WCHAR`.
//!
//! [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors

use super::correct::PROXY_TAG;
use super::helpers::{map_into, nt_success, unmap_from};
use super::{Completion, Direction, Exposure, Io, ProxyStrategy, ServerReply};
use crate::addr::{PAGE_SIZE, Va, round_to_pages};
use crate::fault::Result;
use crate::machine::Kernel;
use crate::mdl::{MdlId, priority};
use crate::oracle::BugClass;
use crate::pool::POOL_FLAG_NON_PAGED;
use crate::status::NtStatus;
use crate::strategy::RetireReason;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Shown {
    pool: Va,
    bmdl: MdlId,
    view: Va,
}

/// Copies nothing: maps `size` bytes of pool at `pool` read-only into the server.
fn show(k: &mut Kernel<'_>, io: &Io, pool: Va, size: u64) -> Result<Option<Shown>> {
    let Some(bmdl) = k.io_allocate_mdl(pool, size as u32, false, false, None)? else {
        k.ex_free_pool_with_tag(pool, PROXY_TAG)?;
        return Ok(None);
    };
    k.mm_build_mdl_for_non_paged_pool(bmdl)?;
    let Some(view) = map_into(k, io.server, bmdl, None, false)? else {
        k.io_free_mdl(bmdl)?;
        k.ex_free_pool_with_tag(pool, PROXY_TAG)?;
        return Ok(None);
    };
    Ok(Some(Shown { pool, bmdl, view }))
}

fn unshow(k: &mut Kernel<'_>, io: &Io, s: Shown) -> Result<()> {
    unmap_from(k, io.server, s.view, s.bmdl)?;
    k.io_free_mdl(s.bmdl)?;
    k.ex_free_pool_with_tag(s.pool, PROXY_TAG)
}

fn finish(io: &Io, reply: ServerReply) -> Completion {
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

/// Position of the first UTF-16 NUL in `b`, in `WCHAR`s.
fn wcslen(b: &[u8]) -> Option<usize> {
    b.chunks_exact(2).position(|c| c == [0, 0])
}

fn refuse_early(io: &Io) -> Option<Exposure> {
    if io.direction == Direction::Read {
        return Some(Exposure::Refused(NtStatus::INVALID_DEVICE_REQUEST));
    }
    if io.length < 2 {
        return Some(Exposure::Refused(NtStatus::INVALID_PARAMETER));
    }
    None
}

/// The PortName driver as ["Errors in Direct I/O"][design-direct-io] shows it: `PortName[Size/sizeof(WCHAR) - 1] = UNICODE_NULL` in the system
/// mapping of the client's buffer, then `RtlInitUnicodeString(&AdapterName, PortName)`
/// (a scan to the NUL, running past the buffer if another thread removed it), then a copy
/// of `Length` bytes: two fetches of the same user-writable bytes, and a write through an
/// MDL probed for `IoReadAccess`.
///
/// Expected verdict: DoubleFetch (also AccessModeMismatch, Integrity, Delivery).
///
/// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
#[derive(Clone, Debug, Default)]
pub struct PortNameInPlace {
    shown: Option<Shown>,
}

impl ProxyStrategy for PortNameInPlace {
    fn name(&self) -> String {
        "PortNameInPlace".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(r) = refuse_early(io) {
            return Ok(r);
        }
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(io.mdl, priority::NORMAL)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let n = io.length as u64 / 2;
        k.kernel_write(sys.wrapping_add((n - 1) * 2), &[0, 0])?;
        // RtlInitUnicodeString: the first fetch, unbounded.
        let mut scanned = k.kernel_read(sys, n * 2)?;
        let mut at = sys.wrapping_add(n * 2);
        let chars = loop {
            if let Some(k) = wcslen(&scanned) {
                break k as u64;
            }
            let more = PAGE_SIZE - at.byte_offset() as u64;
            scanned.extend(k.kernel_read(at, more)?);
            at = at.wrapping_add(more);
        };
        let length = chars * 2;
        let size = round_to_pages(length).unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
        let Some(pool) = k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, PROXY_TAG)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        // The second fetch.
        k.kernel_copy(pool, sys, length)?;
        let Some(s) = show(k, io, pool, size)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        self.shown = Some(s);
        Ok(Exposure::Mapped {
            va: s.view,
            len: length,
        })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        if let Some(s) = self.shown.take() {
            unshow(k, io, s)?;
        }
        Ok(finish(io, reply))
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::DoubleFetch)
    }
}

/// The PortName driver fixed: capture the whole buffer into zeroed pool first (the only fetch),
/// terminate and validate the private copy, and show the server the captured bytes.
///
/// Expected verdict: passes.
#[derive(Clone, Debug, Default)]
pub struct PortNameCaptured {
    shown: Option<Shown>,
    /// Length in `WCHAR`s of the validated name (after the last `expose`).
    pub validated_chars: u64,
}

impl ProxyStrategy for PortNameCaptured {
    fn name(&self) -> String {
        "PortNameCaptured".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if let Some(r) = refuse_early(io) {
            return Ok(r);
        }
        let len = io.length as u64;
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(io.mdl, priority::NORMAL)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let size = round_to_pages(len + 3).unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
        let Some(pool) = k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, PROXY_TAG)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        k.kernel_copy(pool, sys, len)?;
        // The terminator goes after the data (rounded up to a WCHAR), in the private copy.
        let even = (len + 1) & !1;
        k.kernel_zero(pool.wrapping_add(even), 2)?;
        let copy = k.kernel_read(pool, even + 2)?;
        self.validated_chars = wcslen(&copy).unwrap_or(0) as u64;
        let Some(s) = show(k, io, pool, size)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        self.shown = Some(s);
        Ok(Exposure::Mapped { va: s.view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        if let Some(s) = self.shown.take() {
            unshow(k, io, s)?;
        }
        Ok(finish(io, reply))
    }
}
