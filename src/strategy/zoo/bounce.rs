//! Broken bounce buffers from the field: what is copied in, what is copied back, and what
//! the client is told.

use super::{NO_RESOURCES, PoolView, begin, clamped, read_back, retire_bounce};
use crate::addr::Va;
use crate::fault::Result;
use crate::machine::Kernel;
use crate::oracle::BugClass;
use crate::status::NtStatus;
use crate::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply, nt_success,
};

/// A pool bounce of the request at `pool + at` (`zeroed` or not): the state a strategy
/// keeps and the exposure it returns.
fn pool_expose(
    k: &mut Kernel<'_>,
    io: &Io,
    held: &mut Option<(PoolView, Va)>,
    zeroed: bool,
    at: u64,
) -> Result<Exposure> {
    let client = match begin(k, io)? {
        Ok(c) => c,
        Err(at_once) => return Ok(at_once),
    };
    let Some(pv) = PoolView::bounce(k, io, client, zeroed, at)? else {
        return Ok(NO_RESOURCES);
    };
    *held = Some((pv, client));
    Ok(pv.shown(io, at))
}

/// Linux's swiotlb before CVE-2022-48853 (commit ddbd89deb7d3 "swiotlb: fix info leak
/// with DMA_FROM_DEVICE", Halil Pasic, 2022,
/// <https://nvd.nist.gov/vuln/detail/CVE-2022-48853>): for a `DMA_FROM_DEVICE` mapping
/// the bounce slot was not initialised from the original buffer, and at unmap the whole
/// mapped size was copied back, so when the device wrote fewer bytes the rest of the
/// original buffer received the slot's stale contents. Here: a READ bounces through
/// `ExAllocatePoolWithTag` (not zeroed, not pre-filled with the client's bytes) and
/// retire copies the whole length back whatever `Information` says (`Information` itself
/// is reported correctly). A short READ plants stale pool bytes in the client's buffer
/// past `Information`.
///
/// Expected verdict: CopyBackError.
#[derive(Clone, Debug, Default)]
pub struct SwiotlbStaleFromDevice {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for SwiotlbStaleFromDevice {
    fn name(&self) -> String {
        "SwiotlbStaleFromDevice".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        // DMA_TO_DEVICE is bounced in; DMA_FROM_DEVICE gets the slot as it is (the bug).
        pool_expose(k, io, &mut self.held, false, 0)
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
            // swiotlb_tbl_unmap_single: the whole mapping synced back, not Information.
            let all = read_back(io, &done).map(|_| io.length as u64);
            pv.finish(k, io, client, 0, all)?;
        }
        Ok(done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::CopyBackError)
    }
}

/// Linux's swiotlb before commit 1f221a0d0dbf ("swiotlb: respect min_align_mask",
/// Jianxiong Gao, 2021, <https://git.kernel.org/linus/1f221a0d0dbf>): a bounced buffer's
/// data was placed at the start of the slot, dropping its offset within the page, while
/// the NVMe driver built its PRP list assuming the offset was preserved; NVMe then read
/// and wrote the right number of bytes at the wrong place (data corruption). Here: the
/// bytes are copied in and back at `pool + 0`, but the server is shown
/// `view + BYTE_OFFSET(buffer)` (the offset the driver believes is kept). Every byte the
/// server transfers is shifted by the buffer's offset.
///
/// Expected verdict: SpanArithmetic.
#[derive(Clone, Debug, Default)]
pub struct SwiotlbDroppedOffset {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for SwiotlbDroppedOffset {
    fn name(&self) -> String {
        "SwiotlbDroppedOffset".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let client = match begin(k, io)? {
            Ok(c) => c,
            Err(at_once) => return Ok(at_once),
        };
        let (len, off) = (io.length as u64, io.buffer.byte_offset() as u64);
        let write = io.direction == Direction::Write;
        // Room for the offset, but the data copied in at the slot's start...
        let Some(pv) = PoolView::build(k, io, off + len, true, !write, |k, slot| {
            if write {
                k.kernel_copy(slot, client, len)?;
            }
            Ok(())
        })?
        else {
            return Ok(NO_RESOURCES);
        };
        self.held = Some((pv, client));
        // ...and shown at the offset the driver believes was kept.
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
        retire_bounce(k, io, &mut self.held, done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::SpanArithmetic)
    }
}

/// The pattern behind most of Bochspwn Reloaded's kernel-to-user disclosures
/// (Mateusz Jurczyk, 2017, <https://j00ru.vexillium.org/papers/2018/bochspwn_reloaded.pdf>):
/// an output buffer from uninitialised pool whose reported length exceeds the bytes
/// actually written, so the copy to user mode carries leftover kernel bytes. Here: a READ
/// bounces through `ExAllocatePoolWithTag` (not zeroed: "the server overwrites it
/// anyway"), and a successful reply is completed with `Information = length` and the
/// whole length copied back, whatever the server transferred. A short READ hands the
/// client stale pool bytes as data.
///
/// Expected verdict: CopyBackError.
#[derive(Clone, Debug, Default)]
pub struct OverReportedInformation {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for OverReportedInformation {
    fn name(&self) -> String {
        "OverReportedInformation".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        // Not zeroed: "the server overwrites it anyway".
        pool_expose(k, io, &mut self.held, false, 0)
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
        let done = Completion {
            status: reply.status,
            information: if ok { len } else { 0 },
        };
        retire_bounce(k, io, &mut self.held, done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::CopyBackError)
    }
}

/// A READ completed with the server's `Information` as it came, unclamped: the copy back
/// and `IoStatus.Information` both take the user-mode server's word for how many bytes it
/// produced ([semantics §5.7]: the I/O manager copies `Information` bytes for buffered
/// I/O; the Bochspwn Reloaded paper, above, lists over-reported lengths as a leading
/// cause of disclosures). A server that reports more than the request's length makes the
/// driver copy past the client's buffer and past its own bounce buffer.
///
/// Expected verdict: CopyBackError (needs a server that over-reports `Information`).
///
/// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
#[derive(Clone, Debug, Default)]
pub struct InformationUnclamped {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for InformationUnclamped {
    fn name(&self) -> String {
        "InformationUnclamped".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        pool_expose(k, io, &mut self.held, true, 0)
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let ok = nt_success(reply.status);
        let done = Completion {
            status: reply.status,
            information: if ok { reply.information } else { 0 },
        };
        retire_bounce(k, io, &mut self.held, done)
    }

    fn expected(&self) -> Option<BugClass> {
        Some(BugClass::CopyBackError)
    }
}

/// The double fetch Bochspwn was built to find (Mateusz Jurczyk and Gynvael Coldwind,
/// "Identifying and Exploiting Windows Kernel Race Conditions via Memory Access
/// Patterns", 2013, <https://j00ru.vexillium.org/papers/2013/bochspwn.pdf>): user memory
/// read once to validate and again to use. Here: a WRITE's bytes are scanned in place
/// through the client's system mapping (a record-length check that refuses a buffer
/// whose first byte is zero), then copied from the same mapping into the bounce buffer.
/// Another client thread can change the bytes between the check and the copy.
///
/// Expected verdict: DoubleFetch.
#[derive(Clone, Debug, Default)]
pub struct ValidateThenCopy {
    held: Option<(PoolView, Va)>,
}

impl ProxyStrategy for ValidateThenCopy {
    fn name(&self) -> String {
        "ValidateThenCopy".into()
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let client = match begin(k, io)? {
            Ok(c) => c,
            Err(at_once) => return Ok(at_once),
        };
        if io.direction == Direction::Write {
            // The validation: the first fetch.
            let header = k.kernel_read(client, (io.length as u64).min(16))?;
            if header.first() == Some(&0) {
                return Ok(Exposure::Refused(NtStatus::INVALID_PARAMETER));
            }
        }
        // The use: the bounce copies the same bytes again, the second fetch.
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
        Some(BugClass::DoubleFetch)
    }
}
