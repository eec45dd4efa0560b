//! The proxy file-system driver every `verify` request goes through: a `DO_DIRECT_IO`
//! device whose dispatch routine pends each READ and WRITE for a user-mode server, the
//! way WinFsp and Dokan hand requests to theirs ([design.md, "Strategies and the harness"][design-strategies];
//! [semantics §5.2], [§5.5], [§5.7], [§6]).
//!
//! The life of a request:
//!
//! 1. the client thread calls `NtReadFile` / `NtWriteFile`; the I/O manager builds the IRP,
//!    allocates `Irp->MdlAddress` and probes and locks it (none for zero length, [§5.5]),
//!    and calls [`ProxyDriver`]'s dispatch routine, which records what it saw
//!    ([`crate::io::DispatchRecord`]), marks the IRP pending, sets its cancel routine and
//!    queues it (`STATUS_PENDING` goes back to the client);
//! 2. the server's thread fetches it ([`ProxyDriver::fetch`]: off the pending queue, into
//!    the driver's table of requests the server holds, still cancelable) and the
//!    strategy's `expose` runs in the server's context against the IRP's `MdlAddress`
//!    ([`ProxyDriver::expose`]; a refusal completes the IRP at once);
//! 3. the server's reply ([`ProxyDriver::reply`]) takes the request back out of the table
//!    and clears the cancel routine; the strategy's `retire` runs, the driver stores its
//!    [`Completion`] in `IoStatus` and calls `IoCompleteRequest`, whose stage 1 unlocks and
//!    stage 2 frees the MDL and delivers the status to the client ([§5.7]);
//! 4. or `IoCancelIrp` (from a system thread, or `IoCancelThreadIo` at the client thread's
//!    exit) calls the cancel routine while the server holds the request: it takes the
//!    request out of the table, runs `retire` with a `STATUS_CANCELLED` reply in
//!    whatever context the canceller runs in, and completes the IRP; a reply that comes
//!    later finds nothing and is dropped;
//! 5. or the server exits ([`ProxyDriver::server_exit`], its handle's cleanup): every
//!    request it held or had not fetched is retired and completed `STATUS_CANCELLED`.
//!
//! The cancel routine runs `retire` itself, synchronously, so that thread exit's
//! `IoCancelThreadIo` sees the request finish without its five-minute wait. The strategy
//! therefore lives in the driver for the duration of a case.
//!
//! [design-strategies]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#strategies-and-the-harness
//! [semantics §5.2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.2
//! [§5.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.5
//! [§5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
//! [§6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use super::super::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply,
};
use crate::fault::{Fault, ModelError, Result};
use crate::io::drivers::{complete_with, pend_in_queue, record_dispatch};
use crate::io::{DeviceId, Driver, IRP_MJ_READ, IRP_MJ_WRITE, IoStatusBlock, IrpId, Parameters};
use crate::machine::Kernel;
use crate::space::Pid;
use crate::status::NtStatus;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

/// A deliberate bug for [`ProxyDriver`] (the negative controls of the cancel path).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub enum ProxyDriverBug {
    /// None: cancelable while pending and while the server holds the request; the reply
    /// path completes only a request it took back from its table.
    #[default]
    None,
    /// Sets no cancel routine: `IoCancelIrp` does nothing, the request stays pending until
    /// the server answers (a hung server: forever; thread exit waits five minutes, then
    /// disassociates the IRP with its pages still locked).
    NotCancelable,
    /// The reply path completes the IRP it was handed without checking that the cancel
    /// routine has not completed it already: a late reply completes it a second time.
    CompletesTwice,
}

/// One `retire` the driver ran: for the harness's trace and oracle.
#[derive(Clone, Debug)]
pub struct Retired {
    /// The request.
    pub irp: IrpId,
    /// Its first and last machine steps.
    pub steps: (u64, u64),
    /// The context it ran in (`None`: a system thread).
    pub context: Option<Pid>,
    /// What ran it.
    pub by: RetireReason,
    /// What it returned.
    pub result: std::result::Result<Completion, Fault>,
}

struct State<S> {
    strategy: S,
    held: Vec<(IrpId, Io)>,
    retired: Vec<Retired>,
}

/// The proxy file-system driver, generic over the exposure strategy it runs
/// (module docs). Register it with [`Machine::io_register_driver`](crate::Machine::io_register_driver) (keeping an `Arc` of
/// your own to drive the server's side) and create a `DO_DIRECT_IO` device for it.
pub struct ProxyDriver<S> {
    bug: ProxyDriverBug,
    server: Pid,
    state: Mutex<State<S>>,
}

impl<S> fmt::Debug for ProxyDriver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyDriver")
            .field("bug", &self.bug)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

fn completion_status(c: Completion) -> IoStatusBlock {
    IoStatusBlock {
        status: c.status,
        information: c.information,
    }
}

const CANCELLED: ServerReply = ServerReply {
    status: NtStatus::CANCELLED,
    information: 0,
};

impl<S: ProxyStrategy + Send> ProxyDriver<S> {
    /// A driver for the user-mode server `server`, running `strategy`.
    pub fn new(strategy: S, server: Pid, bug: ProxyDriverBug) -> Self {
        ProxyDriver {
            bug,
            server,
            state: Mutex::new(State {
                strategy,
                held: Vec::new(),
                retired: Vec::new(),
            }),
        }
    }

    /// The driver's state. The machine is single-threaded, so the lock is only ever
    /// contended by re-entry (a strategy whose `expose` or `retire` makes the I/O manager
    /// call back into this driver, e.g. by cancelling its own request): that is refused as
    /// an error instead of the deadlock a blocking lock would be.
    fn lock(&self) -> Result<MutexGuard<'_, State<S>>> {
        self.state.try_lock().map_err(|e| {
            Fault::Model(ModelError::Unsupported(match e {
                std::sync::TryLockError::WouldBlock => {
                    "the proxy driver was re-entered from its own strategy's expose or retire"
                        .into()
                }
                std::sync::TryLockError::Poisoned(_) => "proxy driver state poisoned".into(),
            }))
        })
    }

    /// The strategy, taken back after the case.
    ///
    /// # Errors
    /// A poisoned lock (a panic inside the strategy) is a model error.
    pub fn into_strategy(self) -> Result<S> {
        self.state.into_inner().map(|s| s.strategy).map_err(|_| {
            Fault::Model(ModelError::Unsupported(
                "proxy driver state poisoned".into(),
            ))
        })
    }

    /// The `retire`s run so far, in order.
    pub fn retired(&self) -> Vec<Retired> {
        self.lock().map(|s| s.retired.clone()).unwrap_or_default()
    }

    /// Requests the server holds now.
    pub fn held(&self) -> Vec<IrpId> {
        self.lock()
            .map(|s| s.held.iter().map(|h| h.0).collect())
            .unwrap_or_default()
    }

    /// The server's thread fetches the oldest pending request (WinFsp's transact
    /// `FSCTL`): off the device's queue into the table of requests the server holds. The
    /// cancel routine stays set. Returns the IRP and what the strategy will see of it:
    /// `Io::mdl` is `Irp->MdlAddress`, `Io::buffer` its `MmGetMdlVirtualAddress` (NULL
    /// for a zero-length request, which has no MDL).
    ///
    /// # Errors
    /// Faults of the routines it calls.
    pub fn fetch(&self, k: &mut Kernel<'_>, device: DeviceId) -> Result<Option<(IrpId, Io)>> {
        let Some(irp) = k.io_queue_pop(device)? else {
            return Ok(None);
        };
        let i = k.irp(irp)?;
        let (direction, length) = match i.current_stack_location().map(|l| l.parameters) {
            Some(Parameters::Read { length, .. }) => (Direction::Read, length),
            Some(Parameters::Write { length, .. }) => (Direction::Write, length),
            _ => {
                return Err(Fault::Model(ModelError::Unsupported(format!(
                    "{irp}: the proxy device only serves READ and WRITE"
                ))));
            }
        };
        let (client, mdl) = (i.process, i.mdl_address);
        let Some(client) = client else {
            return Err(Fault::Model(ModelError::Unsupported(format!(
                "{irp}: no requesting process"
            ))));
        };
        let buffer = match mdl {
            Some(id) => k.mdl(id)?.virtual_address(),
            None => crate::addr::Va::NULL,
        };
        let io = Io {
            client,
            server: self.server,
            direction,
            buffer,
            length,
            mdl,
        };
        self.lock()?.held.push((irp, io));
        Ok(Some((irp, io)))
    }

    /// The strategy's `expose` for a request the server fetched, in the current (the
    /// server's) context. A refusal takes the request back, clears the cancel routine
    /// and completes the IRP with the refusal's status.
    ///
    /// # Errors
    /// What `expose` returns (the request stays held), and faults of the completion.
    pub fn expose(&self, k: &mut Kernel<'_>, irp: IrpId) -> Result<Exposure> {
        let mut st = self.lock()?;
        let Some(io) = st.held.iter().find(|h| h.0 == irp).map(|h| h.1) else {
            return Err(Fault::Model(ModelError::Unsupported(format!(
                "{irp} is not held by the server"
            ))));
        };
        if io.mdl.is_none() {
            k.system().note_null_mdl_address();
        }
        let e = st.strategy.expose(k, &io)?;
        if let Exposure::Refused(status) = e {
            st.held.retain(|h| h.0 != irp);
            drop(st);
            self.take_back_and_complete(k, irp, status, 0)?;
        }
        Ok(e)
    }

    fn take_back_and_complete(
        &self,
        k: &mut Kernel<'_>,
        irp: IrpId,
        status: NtStatus,
        information: u64,
    ) -> Result<bool> {
        if self.bug != ProxyDriverBug::NotCancelable
            && k.io_set_cancel_routine(irp, None)?.is_none()
        {
            // The cancel routine owns it now.
            return Ok(false);
        }
        k.irp_mut(irp)?.io_status = IoStatusBlock {
            status,
            information,
        };
        k.io_complete_request(irp)?;
        Ok(true)
    }

    fn retire_and_complete(
        &self,
        st: &mut State<S>,
        k: &mut Kernel<'_>,
        irp: IrpId,
        io: &Io,
        reply: ServerReply,
        by: RetireReason,
    ) -> Result<Completion> {
        let (r0, context) = (k.system().step() + 1, k.current_process());
        let r = st.strategy.retire(k, io, reply, by);
        st.retired.push(Retired {
            irp,
            steps: (r0, k.system().step()),
            context,
            by,
            result: r.clone(),
        });
        let c = r?;
        k.irp_mut(irp)?.io_status = completion_status(c);
        k.io_complete_request(irp)?;
        Ok(c)
    }

    /// The server's reply for `irp`: if the server still holds it, take it back, clear
    /// the cancel routine (`None` back: the cancel routine owns it), run `retire` in the
    /// current context and complete the IRP with its [`Completion`]. A reply for a
    /// request that is gone (cancelled meanwhile) is dropped: `Ok(None)`.
    ///
    /// # Errors
    /// What `retire` returns (the IRP is then not completed), and faults of the
    /// completion (a second completion is `MULTIPLE_IRP_COMPLETE_REQUESTS`).
    pub fn reply(
        &self,
        k: &mut Kernel<'_>,
        irp: IrpId,
        reply: ServerReply,
    ) -> Result<Option<Completion>> {
        let mut st = self.lock()?;
        let Some(pos) = st.held.iter().position(|h| h.0 == irp) else {
            drop(st);
            if self.bug == ProxyDriverBug::CompletesTwice {
                if let Ok(i) = k.irp_mut(irp) {
                    i.io_status = completion_status_of(reply);
                }
                k.io_complete_request(irp)?;
            }
            return Ok(None);
        };
        let (_, io) = st.held.remove(pos);
        if self.bug != ProxyDriverBug::NotCancelable
            && k.io_set_cancel_routine(irp, None)?.is_none()
        {
            return Ok(None);
        }
        self.retire_and_complete(&mut st, k, irp, &io, reply, RetireReason::Reply)
            .map(Some)
    }

    /// The server process is going away (its handle's cleanup, WinFsp's `FspIoqStop`):
    /// every request it held is retired with a `STATUS_CANCELLED` reply in the current
    /// context and completed; every request still queued is completed
    /// `STATUS_CANCELLED`.
    ///
    /// # Errors
    /// The first fault of a `retire` or a completion.
    pub fn server_exit(&self, k: &mut Kernel<'_>, device: DeviceId) -> Result<()> {
        let mut st = self.lock()?;
        while let Some((irp, io)) = st.held.first().copied() {
            st.held.remove(0);
            if self.bug != ProxyDriverBug::NotCancelable
                && k.io_set_cancel_routine(irp, None)?.is_none()
            {
                continue;
            }
            self.retire_and_complete(&mut st, k, irp, &io, CANCELLED, RetireReason::ServerExit)?;
        }
        drop(st);
        while let Some(irp) = k.io_queue_pop(device)? {
            self.take_back_and_complete(k, irp, NtStatus::CANCELLED, 0)?;
        }
        Ok(())
    }
}

fn completion_status_of(r: ServerReply) -> IoStatusBlock {
    IoStatusBlock {
        status: r.status,
        information: r.information,
    }
}

impl<S: ProxyStrategy + Send> Driver for ProxyDriver<S> {
    /// `IRP_MJ_READ` / `IRP_MJ_WRITE`: record, `IoMarkIrpPending`, set the cancel routine
    /// (complete `STATUS_CANCELLED` at once if the IRP was cancelled before that), queue
    /// for the server, return `STATUS_PENDING` ([semantics §6]). Anything else is
    /// `STATUS_INVALID_DEVICE_REQUEST`.
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let loc = record_dispatch(k, device, irp, Vec::new())?;
        if loc.major_function != IRP_MJ_READ && loc.major_function != IRP_MJ_WRITE {
            complete_with(k, irp, NtStatus::INVALID_DEVICE_REQUEST)?;
            return Ok(NtStatus::INVALID_DEVICE_REQUEST);
        }
        pend_in_queue(k, device, irp, self.bug != ProxyDriverBug::NotCancelable)
    }

    /// The cancel routine (`IoCancelIrp` swapped it out, [semantics §6]): a request still
    /// queued is completed `STATUS_CANCELLED`; one the server holds is taken back, retired
    /// with a `STATUS_CANCELLED` reply in the canceller's context, and completed with what
    /// `retire` returned.
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    fn cancel(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<()> {
        if k.io_queue_remove(device, irp)? {
            return complete_with(k, irp, NtStatus::CANCELLED);
        }
        let mut st = self.lock()?;
        let Some(pos) = st.held.iter().position(|h| h.0 == irp) else {
            return Ok(());
        };
        let (_, io) = st.held.remove(pos);
        // A request cancelled because the thread that issued it is exiting
        // (`IoCancelThreadIo`), or by `IoCancelIrp`.
        let exiting = match k.irp(irp)?.thread {
            Some(t) => k.ps_is_thread_terminating(t)?,
            None => false,
        };
        let by = if exiting {
            RetireReason::ClientExit
        } else {
            RetireReason::Cancel
        };
        self.retire_and_complete(&mut st, k, irp, &io, CANCELLED, by)
            .map(|_| ())
    }
}
