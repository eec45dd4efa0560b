//! The `irp` target: arbitrary I/O workloads through the I/O manager — buffered, direct
//! and neither devices, a filter stack, cancel-safe queues (one whose driver sets no
//! cancel routine), cancellation, timers, applications rewriting and freeing their
//! buffers, threads and processes exiting mid-request ([semantics §5], [§6], [invariant 27]).
//!
//! With these (correct) drivers, nothing may crash the machine, `audit()` holds after
//! every step, every request sent finishes exactly once, and once the queues are drained
//! and every process has exited nothing is left: no IRP, MDL, mapping, pool block,
//! system PTE, locked page or leaked lock.
//!
//! [semantics §5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5
//! [§6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
//! [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27

use super::{Failure, leftovers};
use crate::addr::Va;
use crate::fault::{Fault, Result};
use crate::io::drivers::{PassThroughFilter, PatternDriver, QueueDriver, QueueDriverBug};
use crate::io::ioctl::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, ctl_code};
use crate::io::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId, IrpId};
use crate::machine::{Config, Machine};
use crate::process::ProcessState;
use crate::space::{Pid, Protection, Tid};
use crate::vm::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE};
use arbitrary::{Arbitrary, Unstructured};
use std::sync::Arc;

/// Application processes (slots; a slot whose process exited is refilled).
const PROCS: usize = 3;
/// Each application's buffer.
const BUFFER: u64 = 0x8000;
/// Steps run at most (longer inputs are cut).
pub const MAX_STEPS: usize = 64;

/// One step of an I/O workload. Indices are taken modulo what they index; offsets and
/// lengths are bounded so most requests fall inside the application's buffer (some run
/// past it, and must fail cleanly).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Arbitrary)]
pub enum IrpStep {
    /// `NtReadFile` from application `p` to device `d`.
    Read {
        /// Application slot.
        p: u8,
        /// Device.
        d: u8,
        /// Buffer offset (modulo 0x4000).
        off: u16,
        /// Length (modulo 0x6000).
        len: u16,
        /// The I/O status block: none, in the buffer's last page, or an unmapped address.
        iosb: u8,
    },
    /// `NtWriteFile`.
    Write {
        /// Application slot.
        p: u8,
        /// Device.
        d: u8,
        /// Buffer offset (modulo 0x4000).
        off: u16,
        /// Length (modulo 0x6000).
        len: u16,
        /// As for `Read`.
        iosb: u8,
    },
    /// `NtDeviceIoControlFile` (or `NtFsControlFile`) with a transfer method
    /// (`method % 4`): the output buffer at `off`, the input buffer 0x4000 further.
    Ioctl {
        /// Application slot.
        p: u8,
        /// Device.
        d: u8,
        /// `METHOD_BUFFERED`, `IN_DIRECT`, `OUT_DIRECT`, `NEITHER`.
        method: u8,
        /// Output buffer offset (modulo 0x4000).
        off: u16,
        /// Input length (modulo 0x4000).
        in_len: u16,
        /// Output length (modulo 0x6000).
        out_len: u16,
        /// `NtFsControlFile` instead (adds `IRP_DEFER_IO_COMPLETION`).
        fsctl: bool,
        /// Pass NULL for the input buffer.
        null_in: bool,
        /// Pass NULL for the output buffer.
        null_out: bool,
    },
    /// A queue driver completes its oldest request.
    CompleteNext {
        /// Queue device.
        q: u8,
    },
    /// `IoCancelIrp` of an application thread's `k`-th outstanding request.
    Cancel {
        /// Application slot.
        p: u8,
        /// Which of its requests.
        k: u8,
    },
    /// A queue device's timer (its DPC completes everything queued).
    SetTimer {
        /// Queue device.
        q: u8,
        /// Due in this many ms.
        ms: u32,
    },
    /// `KeDeliverApc` for an application's thread (stage-2 completions queued to it run;
    /// with immediate delivery there are none).
    DeliverApcs {
        /// Application slot.
        p: u8,
    },
    /// The clock advances (timers fire; rundown waits elapse).
    Advance {
        /// Milliseconds.
        ms: u32,
    },
    /// The application writes its own buffer.
    AppWrite {
        /// Application slot.
        p: u8,
        /// Offset (modulo the buffer).
        off: u16,
    },
    /// The application releases its buffer; later requests use the stale address.
    FreeBuffer {
        /// Application slot.
        p: u8,
    },
    /// The application process exits (I/O rundown, [semantics §6]).
    ///
    /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
    Terminate {
        /// Application slot.
        p: u8,
    },
    /// A new thread of the application reads, then exits with the read outstanding.
    ThreadReadThenExit {
        /// Application slot.
        p: u8,
        /// Device.
        d: u8,
        /// Buffer offset (modulo 0x4000).
        off: u16,
        /// Length (modulo 0x6000).
        len: u16,
    },
}

/// The `irp` target's input: a workload.
#[derive(Clone, PartialEq, Eq, Debug, Arbitrary)]
pub struct IrpInput {
    /// Stage-2 completion APCs wait for [`IrpStep::DeliverApcs`] (or a service return or
    /// rundown wait) instead of running at once, so they race with everything else.
    pub deferred_apcs: bool,
    /// The steps (at most [`MAX_STEPS`] run).
    pub steps: Vec<IrpStep>,
}

#[derive(Clone)]
struct World {
    m: Machine,
    /// Pattern buffered, direct, neither; a filter over the direct one; three queues.
    devs: Vec<DeviceId>,
    queues: Vec<(DeviceId, QueueDriverBug)>,
    procs: Vec<(Pid, Tid, Option<Va>)>,
    issued: Vec<IrpId>,
}

fn app(m: &mut Machine, name: &str) -> Result<(Pid, Tid, Option<Va>)> {
    let p = m.create_process(name)?;
    let Some(&t) = m.process(p)?.threads.first() else {
        return Err(Fault::Model(crate::fault::ModelError::InvalidConfig(
            "a new process has no thread".into(),
        )));
    };
    let b = m.virtual_alloc(
        p,
        None,
        BUFFER,
        MEM_COMMIT | MEM_RESERVE,
        Protection::ReadWrite,
    )?;
    Ok((p, t, Some(b)))
}

fn device(
    m: &mut Machine,
    name: &str,
    code: Arc<dyn crate::io::Driver>,
    flags: u32,
) -> Result<DeviceId> {
    let d = m.io_register_driver(name, code)?;
    m.io_create_device(d, &format!("\\Device\\{name}"), flags)
}

impl World {
    fn new() -> Result<World> {
        let mut m = Machine::new(Config::default())?;
        let pattern = Arc::new(PatternDriver);
        let b = device(&mut m, "PatternB", pattern.clone(), DO_BUFFERED_IO)?;
        let d = device(&mut m, "PatternD", pattern.clone(), DO_DIRECT_IO)?;
        let n = device(&mut m, "PatternN", pattern, 0)?;
        let f = device(&mut m, "Filter", Arc::new(PassThroughFilter), 0)?;
        m.io_attach_device_to_device_stack(f, d)?;
        let mut queues = Vec::new();
        for (flags, bug) in [
            (DO_BUFFERED_IO, QueueDriverBug::None),
            (DO_DIRECT_IO, QueueDriverBug::None),
            (DO_DIRECT_IO, QueueDriverBug::NotCancelable),
        ] {
            let q = device(&mut m, "Queue", Arc::new(QueueDriver { bug }), flags)?;
            queues.push((q, bug));
        }
        let mut procs = Vec::new();
        for i in 0..PROCS {
            procs.push(app(&mut m, &format!("app{i}"))?);
        }
        let mut devs = vec![b, d, n];
        devs.extend(queues.iter().map(|q| q.0));
        Ok(World {
            m,
            devs,
            queues,
            procs,
            issued: Vec::new(),
        })
    }

    /// A live application in slot `p` (an exited one is replaced by a fresh process).
    fn proc(&mut self, p: u8) -> Result<(usize, Pid, Tid, Option<Va>)> {
        let i = p as usize % PROCS;
        let pid = self.procs[i].0;
        if self.m.process(pid)?.state != ProcessState::Running {
            self.procs[i] = app(&mut self.m, "respawn")?;
        }
        let (pid, tid, b) = self.procs[i];
        Ok((i, pid, tid, b))
    }

    /// The address `off` into slot `p`'s buffer (a freed buffer's old address).
    fn buffer(&mut self, p: u8, off: u16) -> Result<(Tid, Va)> {
        let (_, _, tid, b) = self.proc(p)?;
        let base = b.map_or(0x1_0000, |b| b.raw());
        Ok((tid, Va::new(base + (off as u64 % 0x4000))))
    }

    /// An I/O status block for slot `p`: none, the last 16 bytes of its buffer (a freed
    /// buffer's old address), or an address nothing maps.
    fn iosb(&mut self, p: u8, which: u8) -> Result<Option<Va>> {
        Ok(match which % 3 {
            0 => None,
            1 => {
                let (_, b) = self.buffer(p, 0)?;
                Some(Va::new(b.raw() + BUFFER - 16))
            }
            _ => Some(Va::new(0x7FF0)),
        })
    }

    fn dev(&self, d: u8) -> DeviceId {
        self.devs[d as usize % self.devs.len()]
    }

    fn queue(&self, q: u8) -> (DeviceId, QueueDriverBug) {
        self.queues[q as usize % self.queues.len()]
    }

    fn apply(&mut self, s: &IrpStep) -> Result<()> {
        match *s {
            IrpStep::Read {
                p,
                d,
                off,
                len,
                iosb,
            } => {
                let (tid, b) = self.buffer(p, off)?;
                let iosb = self.iosb(p, iosb)?;
                let r = self
                    .m
                    .nt_read_file(tid, self.dev(d), iosb, b, len as u32 % 0x6000, 0)?;
                self.issued.extend(r.irp);
            }
            IrpStep::Write {
                p,
                d,
                off,
                len,
                iosb,
            } => {
                let (tid, b) = self.buffer(p, off)?;
                let iosb = self.iosb(p, iosb)?;
                let r = self
                    .m
                    .nt_write_file(tid, self.dev(d), iosb, b, len as u32 % 0x6000, 0)?;
                self.issued.extend(r.irp);
            }
            IrpStep::Ioctl {
                p,
                d,
                method,
                off,
                in_len,
                out_len,
                fsctl,
                null_in,
                null_out,
            } => {
                let (tid, b) = self.buffer(p, off)?;
                let inb = (!null_in).then(|| Va::new(b.raw() + 0x4000));
                let outb = (!null_out).then_some(b);
                let code = ctl_code(
                    FILE_DEVICE_UNKNOWN,
                    0x800,
                    method as u32 % 4,
                    FILE_ANY_ACCESS,
                );
                let call = if fsctl {
                    Machine::nt_fs_control_file
                } else {
                    Machine::nt_device_io_control_file
                };
                let dev = self.dev(d);
                let r = call(
                    &mut self.m,
                    tid,
                    dev,
                    None,
                    code,
                    inb,
                    in_len as u32 % 0x4000,
                    outb,
                    out_len as u32 % 0x6000,
                )?;
                self.issued.extend(r.irp);
            }
            IrpStep::CompleteNext { q } => {
                let (dev, bug) = self.queue(q);
                QueueDriver::complete_next(&mut self.m.kernel(), dev, bug)?;
            }
            IrpStep::Cancel { p, k } => {
                let (_, _, tid, _) = self.proc(p)?;
                let irps = self.m.thread_irps(tid);
                if !irps.is_empty() {
                    let irp = irps[k as usize % irps.len()];
                    if !self.m.irp(irp)?.completed {
                        self.m.io_cancel_irp(irp)?;
                    }
                }
            }
            IrpStep::SetTimer { q, ms } => {
                let (dev, _) = self.queue(q);
                self.m.ke_set_timer(dev, ms as u64 % 400_000, 0)?;
            }
            IrpStep::DeliverApcs { p } => {
                let (_, _, tid, _) = self.proc(p)?;
                self.m.ke_deliver_apcs(tid)?;
            }
            IrpStep::Advance { ms } => self.m.ke_advance_clock(ms as u64 % 400_000)?,
            IrpStep::AppWrite { p, off } => {
                let (_, pid, _, b) = self.proc(p)?;
                if let Some(b) = b {
                    let off = off as u64 % (BUFFER - 4);
                    self.m.user_write(pid, Va::new(b.raw() + off), b"app!")?;
                }
            }
            IrpStep::FreeBuffer { p } => {
                let (i, pid, _, b) = self.proc(p)?;
                if let Some(b) = b {
                    self.procs[i].2 = None;
                    self.m.virtual_free(pid, b, 0, MEM_RELEASE)?;
                }
            }
            IrpStep::Terminate { p } => {
                let (_, pid, _, _) = self.proc(p)?;
                self.m.terminate_process(pid)?;
            }
            IrpStep::ThreadReadThenExit { p, d, off, len } => {
                let (_, b) = self.buffer(p, off)?;
                let (_, pid, _, _) = self.proc(p)?;
                let worker = self.m.create_thread(pid)?;
                let r =
                    self.m
                        .nt_read_file(worker, self.dev(d), None, b, len as u32 % 0x6000, 0)?;
                self.issued.extend(r.irp);
                self.m.terminate_thread(worker)?;
            }
        }
        Ok(())
    }

    /// Completes everything still queued and ends every process.
    fn drain(&mut self) -> Result<()> {
        for _ in 0..1000 {
            let mut any = false;
            for (dev, bug) in self.queues.clone() {
                if QueueDriver::complete_next(&mut self.m.kernel(), dev, bug)?.is_some() {
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        for i in 0..PROCS {
            let pid = self.procs[i].0;
            if self.m.process(pid)?.state == ProcessState::Running {
                self.m.terminate_process(pid)?;
            }
        }
        Ok(())
    }
}

thread_local! {
    /// The machine with its devices and applications, built on first use: every
    /// workload starts from a clone. The drivers are stateless (their queues live in the
    /// machine's device extensions) and setup is deterministic, so a clone is the world a
    /// fresh setup builds.
    static WORLD: std::cell::RefCell<Option<std::result::Result<World, String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs one decoded workload.
///
/// # Errors
/// A [`Failure`] for a bug check, a model error or an `audit()` violation at any step,
/// a request that did not finish exactly once, a process not deleted, or anything left
/// behind once everything was drained.
pub fn irp_input(input: &IrpInput) -> std::result::Result<(), Failure> {
    let steps = &input.steps[..input.steps.len().min(MAX_STEPS)];
    let fail = |problems: Vec<String>| Failure {
        target: "irp",
        input: format!("deferred_apcs: {}, steps: {steps:?}", input.deferred_apcs),
        problems,
    };
    let mut w = WORLD
        .with(|t| {
            t.borrow_mut()
                .get_or_insert_with(|| World::new().map_err(|e| format!("setup: {e}")))
                .clone()
        })
        .map_err(|e| fail(vec![e]))?;
    if input.deferred_apcs {
        w.m.io_set_apc_delivery(crate::io::ApcDelivery::Deferred)
            .map_err(|e| fail(vec![format!("setup: {e}")]))?;
    }
    for (i, s) in steps.iter().enumerate() {
        if let Err(e) = w.apply(s) {
            // Build failures are statuses, not errors: an error here is a bug check or a
            // model error, which correct drivers and a correct model never produce.
            if !matches!(e, Fault::Raise(_) | Fault::Status(_)) || w.m.crashed().is_some() {
                return Err(fail(vec![format!("step {i} {s:?}: {e}")]));
            }
        }
        let audit = w.m.audit();
        if !audit.is_empty() {
            return Err(fail(
                audit
                    .iter()
                    .map(|v| format!("audit after step {i} {s:?}: {v}"))
                    .collect(),
            ));
        }
    }
    if let Err(e) = w.drain() {
        return Err(fail(vec![format!("drain: {e}")]));
    }
    let mut problems = Vec::new();
    if let Some(b) = w.m.crashed() {
        problems.push(format!("crashed: {b}"));
    }
    for irp in &w.issued {
        let n =
            w.m.io_completions()
                .iter()
                .filter(|c| c.irp == *irp)
                .count();
        if n != 1 {
            problems.push(format!("{irp:?} finished {n} times"));
        }
    }
    if w.m.io_completions().len() != w.issued.len() {
        problems.push(format!(
            "{} completions for {} requests",
            w.m.io_completions().len(),
            w.issued.len()
        ));
    }
    for p in w.m.processes() {
        if p.state != ProcessState::Deleted {
            problems.push(format!("{} is {:?}, not deleted", p.pid, p.state));
        }
    }
    problems.extend(leftovers(&w.m));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(problems))
    }
}

/// The `irp` target: decodes an [`IrpInput`] from `data` and runs it.
///
/// # Errors
/// As [`irp_input`].
pub fn irp(data: &[u8]) -> std::result::Result<(), Failure> {
    let Ok(input) = IrpInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return Ok(());
    };
    irp_input(&input)
}
