//! Property: random IRP workloads across several processes and devices — buffered,
//! direct and neither devices, a filter stack, pending queues, cancellation, timers, apps
//! freeing and rewriting their buffers, processes exiting mid-request — never crash the
//! machine with correct drivers, keep `audit()` clean after every step, finish every
//! request exactly once, and leak nothing once everything is drained.

mod io_common;
use io_common::*;
use mdlsim::Machine;
use mdlsim::addr::Va;
use mdlsim::io::drivers::{QueueDriver, QueueDriverBug};
use mdlsim::io::ioctl::*;
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceId, IrpId};
use mdlsim::process::ProcessState;
use mdlsim::space::{Pid, Tid};
use mdlsim::vm::MEM_RELEASE;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Read {
        p: usize,
        d: usize,
        off: u64,
        len: u32,
    },
    Write {
        p: usize,
        d: usize,
        off: u64,
        len: u32,
    },
    Ioctl {
        p: usize,
        d: usize,
        method: u32,
        off: u64,
        in_len: u32,
        out_len: u32,
    },
    CompleteNext {
        q: usize,
    },
    CancelOldest {
        p: usize,
    },
    SetTimer {
        q: usize,
        ms: u64,
    },
    Advance {
        ms: u64,
    },
    AppWrite {
        p: usize,
        off: u64,
    },
    FreeBuffer {
        p: usize,
    },
    Terminate {
        p: usize,
    },
    ThreadReadThenExit {
        p: usize,
        d: usize,
        off: u64,
        len: u32,
    },
}

const PROCS: usize = 3;
const LEN: [u32; 5] = [0, 1, 0xFFF, 0x1000, 0x2345];

fn step() -> impl Strategy<Value = Step> {
    let p = 0..PROCS;
    let off = prop_oneof![Just(0u64), Just(1), Just(0x200), Just(0xFFF), 0u64..0x3000];
    let len = prop_oneof![proptest::sample::select(LEN.to_vec()), 0u32..0x3000];
    prop_oneof![
        4 => (p.clone(), 0..6usize, off.clone(), len.clone()).prop_map(|(p, d, off, len)| Step::Read { p, d, off, len }),
        3 => (p.clone(), 0..6usize, off.clone(), len.clone()).prop_map(|(p, d, off, len)| Step::Write { p, d, off, len }),
        3 => (p.clone(), 0..6usize, 0..4u32, off.clone(), len.clone(), len.clone())
            .prop_map(|(p, d, method, off, in_len, out_len)| Step::Ioctl { p, d, method, off, in_len, out_len }),
        3 => (0..3usize).prop_map(|q| Step::CompleteNext { q }),
        2 => p.clone().prop_map(|p| Step::CancelOldest { p }),
        1 => (0..3usize, 0u64..400_000).prop_map(|(q, ms)| Step::SetTimer { q, ms }),
        1 => (0u64..100_000).prop_map(|ms| Step::Advance { ms }),
        1 => (p.clone(), 0u64..0x3FF0).prop_map(|(p, off)| Step::AppWrite { p, off }),
        1 => p.clone().prop_map(|p| Step::FreeBuffer { p }),
        1 => p.clone().prop_map(|p| Step::Terminate { p }),
        1 => (p, 0..6usize, off, len).prop_map(|(p, d, off, len)| Step::ThreadReadThenExit { p, d, off, len }),
    ]
}

struct World {
    m: Machine,
    devs: Vec<DeviceId>, // pattern buffered, direct, neither; filter over direct; queue devices
    queues: Vec<(DeviceId, QueueDriverBug)>,
    procs: Vec<(Pid, Tid, Option<Va>)>,
    issued: Vec<IrpId>,
}

fn world() -> World {
    let mut m = machine();
    let b = pattern_device(&mut m, DO_BUFFERED_IO);
    let d = pattern_device(&mut m, DO_DIRECT_IO);
    let n = pattern_device(&mut m, 0);
    filter_above(&mut m, d);
    let q1 = queue_device(&mut m, DO_BUFFERED_IO, QueueDriverBug::None);
    let q2 = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::None);
    let q3 = queue_device(&mut m, DO_DIRECT_IO, QueueDriverBug::NotCancelable);
    let mut procs = Vec::new();
    for i in 0..PROCS {
        let (p, t) = app(&mut m, &format!("app{i}"));
        let buf = alloc(&mut m, p, 0x8000);
        procs.push((p, t, Some(buf)));
    }
    World {
        m,
        devs: vec![b, d, n, q1, q2, q3],
        queues: vec![
            (q1, QueueDriverBug::None),
            (q2, QueueDriverBug::None),
            (q3, QueueDriverBug::NotCancelable),
        ],
        procs,
        issued: Vec::new(),
    }
}

impl World {
    /// A live process in slot p (a terminated one is replaced by a fresh process).
    fn proc(&mut self, p: usize) -> (Pid, Tid, Option<Va>) {
        let (pid, _, _) = self.procs[p];
        if self.m.process(pid).unwrap().state != ProcessState::Running {
            let (np, nt) = app(&mut self.m, "respawn");
            let buf = alloc(&mut self.m, np, 0x8000);
            self.procs[p] = (np, nt, Some(buf));
        }
        self.procs[p]
    }

    fn buffer(&mut self, p: usize, off: u64) -> Va {
        let (_, _, b) = self.proc(p);
        // A freed buffer's old address is still used: the I/O must fail cleanly.
        Va::new(b.map_or(0x1_0000, |b| b.raw()) + off)
    }

    fn apply(&mut self, s: &Step) -> Result<(), String> {
        let r = match *s {
            Step::Read { p, d, off, len } => {
                let b = self.buffer(p, off);
                let tid = self.procs[p].1;
                self.m
                    .nt_read_file(tid, self.devs[d], None, b, len, 0)
                    .map(|r| self.issued.extend(r.irp))
            }
            Step::Write { p, d, off, len } => {
                let b = self.buffer(p, off);
                let tid = self.procs[p].1;
                self.m
                    .nt_write_file(tid, self.devs[d], None, b, len, 0)
                    .map(|r| self.issued.extend(r.irp))
            }
            Step::Ioctl {
                p,
                d,
                method,
                off,
                in_len,
                out_len,
            } => {
                let b = self.buffer(p, off);
                let tid = self.procs[p].1;
                let inb = Va::new(b.raw() + 0x4000);
                let code = ctl_code(FILE_DEVICE_UNKNOWN, 0x800, method, FILE_ANY_ACCESS);
                self.m
                    .nt_device_io_control_file(
                        tid,
                        self.devs[d],
                        None,
                        code,
                        Some(inb),
                        in_len.min(0x3000),
                        Some(b),
                        out_len,
                    )
                    .map(|r| self.issued.extend(r.irp))
            }
            Step::CompleteNext { q } => {
                let (dev, bug) = self.queues[q];
                QueueDriver::complete_next(&mut self.m.kernel(), dev, bug).map(|_| ())
            }
            Step::CancelOldest { p } => {
                let tid = self.procs[p].1;
                match self.m.thread_irps(tid).first() {
                    Some(&irp) if !self.m.irp(irp).unwrap().completed => {
                        self.m.io_cancel_irp(irp).map(|_| ())
                    }
                    _ => Ok(()),
                }
            }
            Step::SetTimer { q, ms } => self.m.ke_set_timer(self.queues[q].0, ms, 0),
            Step::Advance { ms } => self.m.ke_advance_clock(ms),
            Step::AppWrite { p, off } => {
                let (pid, _, b) = self.proc(p);
                match b {
                    Some(b) => self
                        .m
                        .user_write(pid, Va::new(b.raw() + off), b"app!")
                        .map(|_| ()),
                    None => Ok(()),
                }
            }
            Step::FreeBuffer { p } => {
                let (pid, _, b) = self.proc(p);
                match b {
                    Some(b) => {
                        self.procs[p].2 = None;
                        self.m.virtual_free(pid, b, 0, MEM_RELEASE)
                    }
                    None => Ok(()),
                }
            }
            Step::Terminate { p } => {
                let (pid, _, _) = self.proc(p);
                self.m.terminate_process(pid)
            }
            Step::ThreadReadThenExit { p, d, off, len } => {
                let b = self.buffer(p, off);
                let pid = self.procs[p].0;
                let worker = self
                    .m
                    .create_thread(pid)
                    .map_err(|e| format!("{s:?}: {e}"))?;
                let r = self.m.nt_read_file(worker, self.devs[d], None, b, len, 0);
                r.map(|r| self.issued.extend(r.irp))
                    .and_then(|()| self.m.terminate_thread(worker))
            }
        };
        r.map_err(|e| format!("{s:?}: {e}"))
    }

    /// Completes everything still queued and ends every process.
    fn drain(&mut self) -> Result<(), String> {
        for _ in 0..1000 {
            let mut any = false;
            for &(dev, bug) in &self.queues.clone() {
                if QueueDriver::complete_next(&mut self.m.kernel(), dev, bug)
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        for i in 0..PROCS {
            let pid = self.procs[i].0;
            if self.m.process(pid).unwrap().state == ProcessState::Running {
                self.m.terminate_process(pid).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_io_workloads_keep_the_books_balanced_and_leak_nothing(steps in proptest::collection::vec(step(), 1..40)) {
        let mut w = world();
        for s in &steps {
            let r = w.apply(s);
            prop_assert!(r.is_ok(), "{:?}", r);
            let audit = w.m.audit();
            prop_assert!(audit.is_empty(), "after {:?}: {:?}", s, audit);
        }
        let r = w.drain();
        prop_assert!(r.is_ok(), "{:?}", r);
        prop_assert!(w.m.crashed().is_none());
        for irp in &w.issued {
            let n = w.m.io_completions().iter().filter(|c| c.irp == *irp).count();
            prop_assert_eq!(n, 1, "{:?} finished {} times", irp, n);
        }
        prop_assert_eq!(w.m.io_completions().len(), w.issued.len());
        assert_clean(&w.m);
        for p in w.m.processes() {
            prop_assert_eq!(p.state, ProcessState::Deleted);
        }
    }
}
