//! An I/O workload, as ops: the world the `irp` fuzz target and the I/O property test
//! run in ([`setup`]), and the steps they take in it, each one or a few ops.
//!
//! The world: six devices of correct built-in drivers — pattern drivers for buffered,
//! direct and neither I/O, a pass-through filter over the direct one, two cancel-safe
//! queues and one queue whose driver sets no cancel routine — and [`APPS`] application
//! processes, each with a [`BUFFER`]-byte buffer at [`BUFFER_BASE`] in its own address
//! space.
//!
//! Every step names its objects so that it means the same wherever it stands in a
//! sequence, whatever was dropped before it (a shrinking property test drops steps):
//! devices by their fixed place in the device table, application `a` as the `a`-th most
//! recent running process and live thread ([`Ix::Live`]), its buffer by its fixed
//! address. [`exit`] replaces the application that exits with a fresh one, so there are
//! always [`APPS`] of them. A step's numbers are taken modulo what they bound, so any
//! value is a step.

use crate::io::drivers::QueueDriverBug;
use crate::io::{DO_BUFFERED_IO, DO_DIRECT_IO};
use crate::op::{Addr, BuiltinDriver, IoControl, IoOp, Ix, Op, ProcessOp, VmOp};
use crate::space::Protection;
use crate::vm::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE};

/// Application processes.
pub const APPS: u16 = 3;
/// Each application's buffer, in bytes.
pub const BUFFER: u64 = 0x8000;
/// Where each application's buffer is (the same address in every process).
pub const BUFFER_BASE: u64 = 0x20_0000;
/// Timer due times and clock advances are taken modulo this many ms (a little over the
/// five-minute rundown wait).
pub const MAX_MS: u32 = 400_000;

/// The devices requests go to, by their place in the device table: pattern buffered,
/// direct (its stack topped by the filter, device 3), neither; the three queues.
const DEVICES: [u16; 6] = [0, 1, 2, 4, 5, 6];
/// The queue devices.
const QUEUES: [u16; 3] = [4, 5, 6];

/// The world's drivers, devices and applications (19 ops).
pub fn setup() -> Vec<Op> {
    let io = Op::Io;
    let driver = |driver| io(IoOp::RegisterDriver { driver });
    let device = |driver: u16, flags| {
        io(IoOp::CreateDevice {
            driver: Ix::Nth(driver),
            flags,
        })
    };
    let queue = |bug| BuiltinDriver::Queue(bug);
    let mut ops = vec![
        driver(BuiltinDriver::Pattern),
        device(0, DO_BUFFERED_IO),
        device(0, DO_DIRECT_IO),
        device(0, 0),
        driver(BuiltinDriver::PassThrough),
        device(1, 0),
        io(IoOp::AttachDevice {
            source: Ix::Nth(3),
            target: Ix::Nth(1),
        }),
        driver(queue(QueueDriverBug::None)),
        device(2, DO_BUFFERED_IO),
        driver(queue(QueueDriverBug::None)),
        device(3, DO_DIRECT_IO),
        driver(queue(QueueDriverBug::NotCancelable)),
        device(4, DO_DIRECT_IO),
    ];
    for _ in 0..APPS {
        ops.extend(new_app());
    }
    ops
}

/// A new application process and its buffer.
fn new_app() -> [Op; 2] {
    [
        Op::Process(ProcessOp::CreateProcess),
        Op::Vm(VmOp::VirtualAlloc {
            process: Ix::Recent(0),
            base: Some(Addr::Raw(BUFFER_BASE)),
            size: BUFFER,
            alloc_type: MEM_COMMIT | MEM_RESERVE,
            protect: Protection::ReadWrite,
        }),
    ]
}

/// Application `app`'s process, and the thread its requests come from.
fn app(app: u8) -> Ix {
    Ix::Live(u16::from(app) % APPS)
}

/// `off` bytes into an application's buffer.
fn at(off: u64) -> Addr {
    Addr::Raw(BUFFER_BASE + off)
}

/// A request's buffer: `off` (modulo 0x4000) into the application's buffer.
fn buffer(off: u16) -> Addr {
    at(u64::from(off) % 0x4000)
}

/// A transfer length (modulo 0x6000, so some requests run past the buffer).
fn length(len: u16) -> u32 {
    u32::from(len) % 0x6000
}

fn device(d: u8) -> Ix {
    Ix::Nth(DEVICES[usize::from(d) % DEVICES.len()])
}

fn queue(q: u8) -> Ix {
    Ix::Nth(QUEUES[usize::from(q) % QUEUES.len()])
}

/// An I/O status block (`which` modulo 3): none, the last 16 bytes of the buffer, or an
/// address nothing maps.
pub fn iosb(which: u8) -> Option<Addr> {
    match which % 3 {
        0 => None,
        1 => Some(at(BUFFER - 16)),
        _ => Some(Addr::Raw(0x7FF0)),
    }
}

/// `NtReadFile` from application `a` to device `d`: `len` bytes at `off` in its buffer.
pub fn read(a: u8, d: u8, off: u16, len: u16, iosb_kind: u8) -> Op {
    Op::Io(IoOp::NtReadFile {
        thread: app(a),
        device: device(d),
        iosb: iosb(iosb_kind),
        buffer: buffer(off),
        length: length(len),
    })
}

/// `NtWriteFile`, as [`read`].
pub fn write(a: u8, d: u8, off: u16, len: u16, iosb_kind: u8) -> Op {
    Op::Io(IoOp::NtWriteFile {
        thread: app(a),
        device: device(d),
        iosb: iosb(iosb_kind),
        buffer: buffer(off),
        length: length(len),
    })
}

/// `NtDeviceIoControlFile` with a transfer method (`method % 4`): the output buffer at
/// `off`, the input buffer 0x4000 further (`in_len` modulo 0x4000). `form`'s bits: 1,
/// `NtFsControlFile` instead; 2, a NULL input buffer; 4, a NULL output buffer.
pub fn ioctl(a: u8, d: u8, method: u8, off: u16, in_len: u16, out_len: u16, form: u8) -> Op {
    let off = u64::from(off) % 0x4000;
    let c = IoControl {
        thread: app(a),
        device: device(d),
        iosb: None,
        method: method.into(),
        function: 0,
        input: (form & 2 == 0).then_some(at(off + 0x4000)),
        input_length: u32::from(in_len) % 0x4000,
        output: (form & 4 == 0).then_some(at(off)),
        output_length: length(out_len),
    };
    Op::Io(c.op(form & 1 != 0))
}

/// A queue driver completes its oldest request (`q` modulo the three queues).
pub fn complete_next(q: u8) -> Op {
    Op::Io(IoOp::QueueCompleteNext { device: queue(q) })
}

/// `IoCancelIrp` of the `k`-th outstanding request of application `a`'s thread.
pub fn cancel(a: u8, k: u8) -> Op {
    Op::Io(IoOp::CancelThreadIrp {
        thread: app(a),
        k: k.into(),
    })
}

/// A queue device's timer, due in `ms` (modulo [`MAX_MS`]); its DPC completes
/// everything queued.
pub fn set_timer(q: u8, ms: u32) -> Op {
    Op::Io(IoOp::KeSetTimer {
        device: queue(q),
        due_ms: ms % MAX_MS,
    })
}

/// The stage-2 completion APCs queued to application `a`'s thread run.
pub fn deliver_apcs(a: u8) -> Op {
    Op::Io(IoOp::KeDeliverApc { thread: app(a) })
}

/// Stage-2 completion APCs wait for [`deliver_apcs`] (or a service's return or a rundown
/// wait) instead of running at once, so they race with everything else.
pub fn defer_apcs() -> Op {
    Op::Io(IoOp::SetApcDelivery { deferred: true })
}

/// The clock advances `ms` (modulo [`MAX_MS`]): timers fire, rundown waits elapse.
pub fn advance(ms: u32) -> Op {
    Op::Io(IoOp::KeAdvanceClock {
        ms: u64::from(ms % MAX_MS),
    })
}

/// Application `a` writes four bytes of its own buffer at `off` (modulo the buffer).
pub fn app_write(a: u8, off: u16) -> Op {
    Op::Vm(VmOp::UserWrite {
        process: app(a),
        va: at(u64::from(off) % (BUFFER - 4)),
        len: 4,
        seed: b'a',
    })
}

/// Application `a` releases its buffer; later requests use the stale address.
pub fn free_buffer(a: u8) -> Op {
    Op::Vm(VmOp::VirtualFree {
        process: app(a),
        base: at(0),
        size: 0,
        free_type: MEM_RELEASE,
    })
}

/// Application `a` exits (I/O rundown) and a fresh application takes its place.
pub fn exit(a: u8) -> Vec<Op> {
    let mut ops = vec![Op::Process(ProcessOp::TerminateProcess { process: app(a) })];
    ops.extend(new_app());
    ops
}

/// A new thread of application `a` reads from device `d`, then exits with the read
/// outstanding.
pub fn thread_read_then_exit(a: u8, d: u8, off: u16, len: u16) -> Vec<Op> {
    let worker = Ix::Recent(0);
    vec![
        Op::Process(ProcessOp::CreateThread { process: app(a) }),
        Op::Io(IoOp::NtReadFile {
            thread: worker,
            device: device(d),
            iosb: None,
            buffer: buffer(off),
            length: length(len),
        }),
        Op::Io(IoOp::TerminateThread { thread: worker }),
    ]
}

/// One round of draining: every queue completes its oldest request.
pub fn drain_round() -> Vec<Op> {
    (0..QUEUES.len() as u8).map(complete_next).collect()
}

/// The most recent running application exits (draining ends with one per application).
pub fn exit_newest() -> Op {
    Op::Process(ProcessOp::TerminateProcess {
        process: Ix::Live(0),
    })
}
