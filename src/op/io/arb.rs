//! The IRP and I/O layers' generators, and the I/O workload's (feature `proptest`).

use super::workload;
use super::{BuiltinDriver, IoControl, IoOp, IrpOp};
use crate::io::drivers::QueueDriverBug;
use crate::io::{DO_BUFFERED_IO, DO_DIRECT_IO};
use crate::op::arb::{arb_ix, arb_length, arb_offset_in_page, weighted};
use crate::op::{Addr, Ix, Op};
use crate::status::NtStatus;
use proptest::collection::{SizeRange, vec};
use proptest::prelude::*;

/// The newest returned VA plus `offset`.
fn recent(offset: u64) -> Addr {
    Addr::at(Ix::Recent(0), offset as i64)
}

/// Any IRP op.
pub fn arb_irp_op() -> BoxedStrategy<IrpOp> {
    weighted(vec![
        (
            1,
            (1u8..=4)
                .prop_map(|stack_size| IrpOp::IoAllocateIrp { stack_size })
                .boxed(),
        ),
        (1, arb_ix().prop_map(|irp| IrpOp::IoFreeIrp { irp }).boxed()),
        (
            1,
            (
                arb_ix(),
                prop_oneof![Just(NtStatus::SUCCESS), Just(NtStatus::UNSUCCESSFUL)],
            )
                .prop_map(|(irp, status)| IrpOp::IoReuseIrp { irp, status })
                .boxed(),
        ),
    ])
}

/// A built-in driver, mostly a correct one.
pub fn arb_builtin_driver() -> impl Strategy<Value = BuiltinDriver> + Clone {
    prop_oneof![
        3 => Just(BuiltinDriver::Pattern),
        3 => Just(BuiltinDriver::Queue(QueueDriverBug::None)),
        1 => Just(BuiltinDriver::Queue(QueueDriverBug::NoClearCancelRoutine)),
        1 => Just(BuiltinDriver::Queue(QueueDriverBug::NoClearBlindCancel)),
        1 => Just(BuiltinDriver::Queue(QueueDriverBug::NotCancelable)),
        1 => Just(BuiltinDriver::PassThrough),
    ]
}

/// Device flags: buffered, direct, neither, or (misuse) both.
pub fn arb_device_flags() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        4 => Just(DO_BUFFERED_IO),
        4 => Just(DO_DIRECT_IO),
        2 => Just(0u32),
        1 => Just(DO_BUFFERED_IO | DO_DIRECT_IO),
    ]
}

fn arb_io_len() -> impl Strategy<Value = u32> + Clone {
    arb_length().prop_map(|l| l as u32)
}

/// A user I/O request on the newest device from the newest thread, into the newest VA.
pub fn arb_io_request(offset: u64) -> BoxedStrategy<IoOp> {
    let (thread, device, buffer) = (Ix::Live(0), Ix::Recent(0), recent(offset));
    let iosb = prop_oneof![4 => Just(None), 1 => Just(Some(recent(0)))];
    weighted(vec![
        (
            3,
            (arb_io_len(), iosb.clone())
                .prop_map(move |(length, iosb)| IoOp::NtReadFile {
                    thread,
                    device,
                    iosb,
                    buffer,
                    length,
                })
                .boxed(),
        ),
        (
            2,
            (arb_io_len(), iosb.clone())
                .prop_map(move |(length, iosb)| IoOp::NtWriteFile {
                    thread,
                    device,
                    iosb,
                    buffer,
                    length,
                })
                .boxed(),
        ),
        (
            3,
            (
                0u32..4,
                0u16..4,
                arb_io_len(),
                arb_io_len(),
                any::<bool>(),
                0u8..4,
            )
                .prop_map(move |(method, function, il, ol, null_in, fsctl)| {
                    let c = IoControl {
                        thread,
                        device,
                        iosb: None,
                        method,
                        function,
                        input: (!null_in).then_some(buffer),
                        input_length: il,
                        output: Some(buffer),
                        output_length: ol,
                    };
                    c.op(fsctl == 0)
                })
                .boxed(),
        ),
        (
            2,
            (arb_io_len(), 1u32..0x200)
                .prop_map(
                    move |(length, completion_filter)| IoOp::NtNotifyChangeDirectoryFile {
                        thread,
                        device,
                        iosb: None,
                        buffer,
                        length,
                        completion_filter,
                    },
                )
                .boxed(),
        ),
    ])
}

/// Any I/O-manager op.
pub fn arb_io_op() -> BoxedStrategy<IoOp> {
    weighted(vec![(6, arb_io_setup_op()), (14, arb_io_request_op())])
}

/// Drivers, devices, filters and the model's APC setting.
fn arb_io_setup_op() -> BoxedStrategy<IoOp> {
    weighted(vec![
        (
            1,
            arb_builtin_driver()
                .prop_map(|driver| IoOp::RegisterDriver { driver })
                .boxed(),
        ),
        (
            1,
            (arb_ix(), arb_device_flags())
                .prop_map(|(driver, flags)| IoOp::CreateDevice { driver, flags })
                .boxed(),
        ),
        (
            1,
            (arb_ix(), arb_ix())
                .prop_map(|(source, target)| IoOp::AttachDevice { source, target })
                .boxed(),
        ),
        (
            2,
            arb_ix()
                .prop_map(|target| IoOp::DetachDevice { target })
                .boxed(),
        ),
        (
            1,
            (1u32..400_000)
                .prop_map(|altitude| IoOp::FltRegisterFilter { altitude })
                .boxed(),
        ),
        (
            1,
            arb_ix()
                .prop_map(|volume| IoOp::FltAttachVolume { volume })
                .boxed(),
        ),
        (
            1,
            proptest::bool::weighted(0.8)
                .prop_map(|deferred| IoOp::SetApcDelivery { deferred })
                .boxed(),
        ),
    ])
}

/// A request, and what drivers, the system and the clock do while requests are
/// outstanding.
fn arb_io_request_op() -> BoxedStrategy<IoOp> {
    weighted(vec![
        (
            3,
            arb_offset_in_page().prop_flat_map(arb_io_request).boxed(),
        ),
        (
            2,
            arb_ix()
                .prop_map(|device| IoOp::QueueCompleteNext { device })
                .boxed(),
        ),
        (
            1,
            (arb_ix(), 0u16..0x300, any::<u8>())
                .prop_map(|(irp, len, seed)| IoOp::FsRtlNotifyFullReportChange { irp, len, seed })
                .boxed(),
        ),
        (
            1,
            arb_ix().prop_map(|irp| IoOp::IoCancelIrp { irp }).boxed(),
        ),
        (
            1,
            (arb_ix(), 0u32..1000)
                .prop_map(|(device, due_ms)| IoOp::KeSetTimer { device, due_ms })
                .boxed(),
        ),
        (
            1,
            prop_oneof![Just(100u64), Just(1000), Just(300_000)]
                .prop_map(|ms| IoOp::KeAdvanceClock { ms })
                .boxed(),
        ),
        (
            1,
            arb_ix()
                .prop_map(|thread| IoOp::TerminateThread { thread })
                .boxed(),
        ),
        (
            1,
            arb_ix().prop_map(|irp| IoOp::IrpMdlAddress { irp }).boxed(),
        ),
        (
            1,
            (arb_ix(), 0u16..4)
                .prop_map(|(thread, k)| IoOp::CancelThreadIrp { thread, k })
                .boxed(),
        ),
        (
            1,
            arb_ix()
                .prop_map(|thread| IoOp::KeDeliverApc { thread })
                .boxed(),
        ),
    ])
}

/// The steps of an I/O workload ([`workload`]; to run after [`workload::setup`]):
/// `steps` of them (a size or a range), each one or a few ops, deferred stage-2 APCs
/// one time in four. Offsets and lengths favour page boundaries; shrinking drops
/// whole steps, and every step means the same wherever it stands.
pub fn arb_io_workload(steps: impl Into<SizeRange>) -> impl Strategy<Value = Vec<Op>> {
    (proptest::bool::weighted(0.25), vec(arb_io_step(), steps)).prop_map(|(defer, steps)| {
        let mut ops = Vec::new();
        if defer {
            ops.push(workload::defer_apcs());
        }
        ops.extend(steps.into_iter().flatten());
        ops
    })
}

/// A step of one op: `f` of what `args` generates, with weight `w`.
fn single<T: std::fmt::Debug + 'static>(
    w: u32,
    args: impl Strategy<Value = T> + 'static,
    f: impl Fn(T) -> Op + 'static,
) -> (u32, BoxedStrategy<Vec<Op>>) {
    (w, args.prop_map(move |x| vec![f(x)]).boxed())
}

/// One step of an I/O workload.
fn arb_io_step() -> BoxedStrategy<Vec<Op>> {
    use workload::*;
    let off = || prop_oneof![Just(0u16), Just(1), Just(0x200), Just(0xFFF), 0u16..0x3000];
    let len = || {
        let edges = [0u16, 1, 0xFFF, 0x1000, 0x2345];
        prop_oneof![proptest::sample::select(edges.to_vec()), 0u16..0x3000]
    };
    // Application, device, offset, length.
    let request = move || (any::<u8>(), any::<u8>(), off(), len());
    // No I/O status block mostly; sometimes one in the buffer, or one nothing maps.
    let iosb = || prop_oneof![4 => Just(0u8), 1 => Just(1), 1 => Just(2)];
    let app = any::<u8>;
    weighted(vec![
        single(4, (request(), iosb()), |((a, d, o, l), i)| {
            read(a, d, o, l, i)
        }),
        single(3, (request(), iosb()), |((a, d, o, l), i)| {
            write(a, d, o, l, i)
        }),
        single(
            3,
            (request(), len(), app(), 0u8..8),
            |((a, d, o, il), ol, m, f)| ioctl(a, d, m, o, il, ol, f),
        ),
        single(3, any::<u8>(), complete_next),
        single(2, (app(), 0u8..3), |(a, k)| cancel(a, k)),
        single(1, (any::<u8>(), 0..MAX_MS), |(q, ms)| set_timer(q, ms)),
        single(1, 0u32..100_000, advance),
        single(1, app(), deliver_apcs),
        single(1, (app(), 0u16..0x3FF0), |(a, o)| app_write(a, o)),
        single(1, app(), free_buffer),
        (1, app().prop_map(exit).boxed()),
        (
            1,
            request()
                .prop_map(|(a, d, o, l)| thread_read_then_exit(a, d, o, l))
                .boxed(),
        ),
    ])
}
