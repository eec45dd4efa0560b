//! The client's request as the I/O manager builds it for a `DO_DIRECT_IO` device
//! (semantics §5.2, §5.5, §5.7). A stand-in until requests go through real IRPs: the
//! strategy sees the same `Irp->MdlAddress` either way.

use crate::addr::Va;
use crate::fault::{Fault, Result};
use crate::machine::Machine;
use crate::mdl::{AccessMode, LockOperation, MdlId};
use crate::space::Pid;
use crate::status::NtStatus;
use crate::strategy::{Direction, Io};

/// A READ or WRITE in flight: its buffer and the MDL the I/O manager locked over it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Request {
    /// The requesting process.
    pub client: Pid,
    /// READ or WRITE.
    pub direction: Direction,
    /// The client's buffer.
    pub buffer: Va,
    /// Its length.
    pub length: u32,
    /// `Irp->MdlAddress` (`None` for a zero-length request, semantics §5.5).
    pub mdl: Option<MdlId>,
}

impl Request {
    /// `NtReadFile` / `NtWriteFile` on a direct-I/O device, in the client's context:
    /// `IoAllocateMdl` over the buffer and `MmProbeAndLockPages(UserMode, IoWriteAccess`
    /// for a READ, `IoReadAccess` for a WRITE`)`; no MDL for zero length.
    ///
    /// # Errors
    /// The probe's raised status (the MDL is freed first, as `IopCleanupAfterException`
    /// does, semantics §5.6); `STATUS_INSUFFICIENT_RESOURCES` if no MDL could be allocated.
    pub fn issue(
        m: &mut Machine,
        client: Pid,
        direction: Direction,
        buffer: Va,
        length: u32,
    ) -> Result<Request> {
        m.switch_to(Some(client))?;
        let mut r = Request {
            client,
            direction,
            buffer,
            length,
            mdl: None,
        };
        if length == 0 {
            return Ok(r);
        }
        let Some(mdl) = m.io_allocate_mdl(buffer, length, false, true, None)? else {
            return Err(Fault::Status(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let op = match direction {
            Direction::Read => LockOperation::IoWriteAccess,
            Direction::Write => LockOperation::IoReadAccess,
        };
        if let Err(e) = m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, op) {
            if m.crashed().is_none() {
                m.io_free_mdl(mdl)?;
            }
            return Err(e);
        }
        r.mdl = Some(mdl);
        Ok(r)
    }

    /// What the driver sees of it.
    pub fn io(&self, server: Pid) -> Io {
        Io {
            client: self.client,
            server,
            direction: self.direction,
            buffer: self.buffer,
            length: self.length,
            mdl: self.mdl,
        }
    }

    /// Completion as `IofCompleteRequest` does it: `MmUnlockPages` then `IoFreeMdl` of the
    /// request's MDL (semantics §5.7, invariant 26); nothing for a zero-length request.
    ///
    /// # Errors
    /// Whatever the unlock or free does to an MDL a strategy damaged.
    pub fn complete(self, m: &mut Machine) -> Result<()> {
        if let Some(mdl) = self.mdl {
            m.mm_unlock_pages(mdl)?;
            m.io_free_mdl(mdl)?;
        }
        Ok(())
    }
}
