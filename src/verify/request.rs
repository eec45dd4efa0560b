//! A READ or WRITE issued through the I/O manager to a pending `DO_DIRECT_IO` device,
//! for code that drives a strategy by hand outside the harness ([`crate::workload`]).
//! A thin wrapper over the real path: the client thread's `NtReadFile` / `NtWriteFile`
//! (the I/O manager allocates, probes and locks `Irp->MdlAddress`, [semantics §5.2], [§5.5])
//! to a [`QueueDriver`] that pends it with a cancel routine; the caller plays the server
//! (it takes the IRP off the queue, clearing the cancel routine); [`Request::complete`]
//! is `IoCompleteRequest`, whose stage 1 unlocks and stage 2 frees the MDL ([§5.7]).
//! The harness itself goes through [`super::ProxyDriver`].
//!
//! [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
//! [§5.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.5
//! [§5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7

use crate::addr::Va;
use crate::fault::{Fault, ModelError, Result};
use crate::io::drivers::{QueueDriver, QueueDriverBug};
use crate::io::{DO_DIRECT_IO, IoStatusBlock, IrpId};
use crate::machine::Machine;
use crate::mdl::MdlId;
use crate::space::Pid;
use crate::status::NtStatus;
use crate::strategy::{Completion, Direction, Io};
use std::sync::Arc;

/// A READ or WRITE in flight: its buffer, its IRP and the MDL the I/O manager locked.
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
    /// `Irp->MdlAddress` (`None` for a zero-length request, [semantics §5.5]).
    ///
    /// [semantics §5.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.5
    pub mdl: Option<MdlId>,
    /// The pended IRP.
    pub irp: IrpId,
}

impl Request {
    /// `NtReadFile` / `NtWriteFile` from the client's first thread on a fresh
    /// `DO_DIRECT_IO` device whose driver pends the request; the IRP is then taken off
    /// the driver's queue with its cancel routine cleared (the server fetched it).
    ///
    /// # Errors
    /// The service's failure status (a failed probe, no MDL) as `Fault::Status`; bug
    /// checks and model errors of the I/O manager.
    pub fn issue(
        m: &mut Machine,
        client: Pid,
        direction: Direction,
        buffer: Va,
        length: u32,
    ) -> Result<Request> {
        let bug = QueueDriverBug::None;
        let drv = m.io_register_driver("pending", Arc::new(QueueDriver { bug }))?;
        let dev = m.io_create_device(drv, "\\Device\\Pending", DO_DIRECT_IO)?;
        let tid = m.process(client)?.threads[0];
        let r = match direction {
            Direction::Read => m.nt_read_file(tid, dev, None, buffer, length, 0)?,
            Direction::Write => m.nt_write_file(tid, dev, None, buffer, length, 0)?,
        };
        let Some(irp) = r.irp.filter(|_| r.status == NtStatus::PENDING) else {
            return Err(Fault::Status(r.status));
        };
        if QueueDriver::claim(&mut m.kernel(), dev, bug)? != Some(irp) {
            return Err(Fault::Model(ModelError::Unsupported(format!(
                "{irp} was not pending on device {}",
                dev.0
            ))));
        }
        m.switch_to(Some(client))?;
        Ok(Request {
            client,
            direction,
            buffer,
            length,
            mdl: m.irp(irp)?.mdl_address,
            irp,
        })
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

    /// `IoCompleteRequest` with `completion` as `IoStatus`: stage 1 unlocks
    /// `Irp->MdlAddress`, stage 2 (the client thread's APC) frees it and the IRP
    /// ([semantics §5.7], [invariant 26]).
    ///
    /// # Errors
    /// Whatever the unlock or free does to an MDL a strategy damaged; a second
    /// completion is `MULTIPLE_IRP_COMPLETE_REQUESTS`.
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    /// [invariant 26]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-26
    pub fn complete(self, m: &mut Machine, completion: Completion) -> Result<()> {
        m.irp_mut(self.irp)?.io_status = IoStatusBlock {
            status: completion.status,
            information: completion.information,
        };
        m.io_complete_request(self.irp)
    }
}
