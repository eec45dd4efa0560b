//! Driver episodes beyond one MDL's life: bookkeeping, a process's lifetime, a driver's
//! misuse of a locked buffer, a request through the I/O manager, the access log.

use super::{
    LIVE0, LIVE1, Layout, alloc_user, arb_mask, arb_nonempty_layout, lock_user, m, masked, p,
    recent, v,
};
use super::{
    arb_addr, arb_builtin_driver, arb_device_flags, arb_io_request, arb_length, arb_process,
};
use crate::addr::{LIST_HEAD, PAGE_SIZE};
use crate::mdl::{AccessMode, CacheType, LockOperation, priority};
use crate::op::{BuiltinDriver, IoOp, Ix, MdlOp, Op, PoolOp, ProcessOp, VmOp};
use crate::pool::{PoolType, tag};
use crate::vm::MEM_RELEASE;
use proptest::collection::vec;
use proptest::prelude::*;

/// Bookkeeping routines a driver calls around the main path: `MmSizeOfMdl`, an
/// obsolete `MmCreateMdl` re-initialised and freed, MDL field writes on an unlocked
/// MDL, pool copied onto itself and freed untagged, a new thread.
pub(super) fn housekeeping() -> impl Strategy<Value = Vec<Op>> {
    (arb_process(), arb_nonempty_layout(), arb_mask()).prop_map(|(process, l, keep)| {
        let len = l.length as u32;
        masked(
            vec![
                m(MdlOp::MmSizeOfMdl {
                    va: recent(0, l.offset),
                    length: l.length,
                }),
                m(MdlOp::MmCreateMdl {
                    va: recent(0, l.offset),
                    length: len,
                }),
                m(MdlOp::MmInitializeMdl {
                    mdl: LIVE0,
                    va: recent(0, 0),
                    length: len,
                }),
                m(MdlOp::MdlSetPfn {
                    mdl: LIVE0,
                    index: 0,
                    value: LIST_HEAD,
                }),
                m(MdlOp::MdlSetNext {
                    mdl: LIVE0,
                    next: None,
                }),
                m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
                Op::Pool(PoolOp::ExAllocatePoolWithTag {
                    pool_type: PoolType::NonPagedNx,
                    size: l.length,
                    tag: tag(b"Test"),
                }),
                v(VmOp::KernelCopy {
                    dst: recent(0, 0),
                    src: recent(0, 0),
                    len: l.length,
                }),
                Op::Pool(PoolOp::ExFreePool { va: recent(0, 0) }),
                p(ProcessOp::CreateThread { process }),
            ],
            &keep,
        )
    })
}

/// A short-lived process: created, given a buffer, copied within, terminated.
pub(super) fn process_lifetime() -> impl Strategy<Value = Vec<Op>> {
    (arb_nonempty_layout(), any::<u8>(), arb_mask()).prop_map(|(l, seed, keep)| {
        let process = Ix::Recent(0);
        masked(
            vec![
                p(ProcessOp::CreateProcess),
                alloc_user(process, l),
                v(VmOp::UserWrite {
                    process,
                    va: recent(0, l.offset),
                    len: l.length,
                    seed,
                }),
                v(VmOp::UserCopy {
                    process,
                    dst: recent(0, 0),
                    src: recent(0, l.offset),
                    len: l.length.min(PAGE_SIZE - l.offset),
                }),
                p(ProcessOp::TerminateProcess { process }),
            ],
            &keep,
        )
    })
}

/// A driver's misuse in the middle of a locked, mapped buffer's life: PFN-array,
/// flag and `Next` writes, a free or re-initialisation while locked, a second probe,
/// a double unmap, the process exiting or the app freeing the buffer, a user
/// mapping left behind in another process. Then the usual unlock and free.
pub(super) fn driver_misuse() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_process(),
        arb_process(),
        arb_nonempty_layout(),
        0u8..11,
        0u32..3,
        prop_oneof![0u64..64, Just(LIST_HEAD)],
        any::<u16>(),
    )
        .prop_map(|(process, other, l, kind, index, value, flags)| {
            Misuse {
                process,
                other,
                l,
                kind,
                index,
                value,
                flags,
            }
            .ops()
        })
}

/// One drawn [`driver_misuse`] episode: whose buffer, which misuse (`kind`, `0..11`), and
/// the values a misuse writes (a PFN-array `index` and `value`, `flags`).
struct Misuse {
    process: Ix,
    other: Ix,
    l: Layout,
    kind: u8,
    index: u32,
    value: u64,
    flags: u16,
}

impl Misuse {
    /// Lock and map the buffer, the misuse, then the usual read, unlock and free.
    fn ops(&self) -> Vec<Op> {
        let mut ops = lock_user(self.process, self.l, LockOperation::IoModifyAccess);
        ops.push(m(MdlOp::MmGetSystemAddressForMdlSafe {
            mdl: LIVE0,
            priority: priority::NORMAL,
        }));
        ops.extend(self.misuse());
        ops.extend([
            v(VmOp::KernelRead {
                va: recent(0, 0),
                len: self.l.length,
            }),
            m(MdlOp::MmUnlockPages { mdl: LIVE0 }),
            m(MdlOp::IoFreeMdl { mdl: LIVE0 }),
        ]);
        ops
    }

    /// The misuse itself.
    fn misuse(&self) -> Vec<Op> {
        let unmap = m(MdlOp::MmUnmapLockedPages {
            base: recent(0, 0),
            mdl: LIVE0,
        });
        match self.kind {
            0 => vec![m(MdlOp::MdlSetPfn {
                mdl: LIVE0,
                index: self.index,
                value: self.value,
            })],
            1 => vec![m(MdlOp::MdlSetFlags {
                mdl: LIVE0,
                flags: self.flags,
            })],
            2 => vec![m(MdlOp::MdlSetNext {
                mdl: LIVE0,
                next: LIVE1,
            })],
            3 => vec![m(MdlOp::IoFreeMdl { mdl: LIVE0 })],
            4 => vec![p(ProcessOp::TerminateProcess {
                process: self.process,
            })],
            5 => vec![
                v(VmOp::VirtualFree {
                    process: self.process,
                    base: recent(1, 0),
                    size: 0,
                    free_type: MEM_RELEASE,
                }),
                v(VmOp::UserRead {
                    process: self.process,
                    va: recent(1, self.l.offset),
                    len: 1,
                }),
            ],
            6 => vec![unmap, unmap],
            7 => vec![m(MdlOp::MmInitializeMdl {
                mdl: LIVE0,
                va: recent(1, self.l.offset),
                length: self.l.length as u32,
            })],
            8 => vec![m(MdlOp::MmPrepareMdlForReuse { mdl: LIVE0 })],
            9 => vec![m(MdlOp::MmProbeAndLockPages {
                mdl: LIVE0,
                mode: AccessMode::KernelMode,
                operation: LockOperation::IoReadAccess,
            })],
            _ => vec![
                p(ProcessOp::SwitchTo {
                    process: Some(self.other),
                }),
                m(MdlOp::MmMapLockedPagesSpecifyCache {
                    mdl: LIVE0,
                    mode: AccessMode::UserMode,
                    cache: CacheType::Cached,
                    base: None,
                    bug_check_on_failure: false,
                    priority: priority::NORMAL,
                }),
                p(ProcessOp::TerminateProcess {
                    process: self.other,
                }),
            ],
        }
    }
}

pub(super) fn io(op: IoOp) -> Op {
    Op::Io(op)
}

/// [Errors in direct I/O][design-direct-io], the [directory change
/// notification][design-notification] and [buffer ownership][design-ownership] through
/// the I/O manager: a built-in driver's device (maybe under
/// a pass-through filter or the filter manager), a process and a thread, one user
/// request, then what may happen while it is outstanding (the driver reads
/// `Irp->MdlAddress`, the app writes or frees the
/// buffer, the driver completes, FsRtl reports a change, a cancel, the thread's APCs
/// run, the clock, the thread or the process exits); one time in five, stage-2 APCs are
/// deferred.
///
/// [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
/// [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
/// [design-ownership]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#buffer-ownership
pub(super) fn io_episode() -> impl Strategy<Value = Vec<Op>> {
    (
        arb_builtin_driver(),
        arb_device_flags(),
        0u8..4,
        arb_nonempty_layout(),
        arb_io_request(0),
        (0u16..0x200, any::<u8>(), 0u32..500),
        prop_oneof![Just(100u64), Just(1000), Just(300_000)],
        vec(proptest::bool::weighted(0.7), 18),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(driver, flags, stack, l, request, (rec, seed, due), ms, keep, defer)| {
                IoEpisode {
                    driver,
                    flags,
                    stack,
                    l,
                    request,
                    rec,
                    seed,
                    due,
                    ms,
                }
                .ops(keep, defer)
            },
        )
}

/// One drawn [`io_episode`]: the driver and its device's flags, the device stack (`stack`:
/// 1 a pass-through filter above, 2 the filter manager, otherwise the device alone), the
/// buffer and the request, and the values of what happens while it is outstanding (a
/// change record's length `rec`, the bytes' `seed`, the timer's `due` time, the clock's
/// advance `ms`).
struct IoEpisode {
    driver: BuiltinDriver,
    flags: u32,
    stack: u8,
    l: Layout,
    request: IoOp,
    rec: u16,
    seed: u8,
    due: u32,
    ms: u64,
}

impl IoEpisode {
    /// The device stack, then the request and its races, kept where `keep` says (the
    /// process, its buffer and the request always); `defer` defers stage-2 APCs first.
    fn ops(&self, keep: Vec<bool>, defer: bool) -> Vec<Op> {
        let mut ops = Vec::new();
        if defer {
            ops.push(io(IoOp::SetApcDelivery { deferred: true }));
        }
        ops.extend(self.device_stack());
        let mut keep = keep;
        // The process, its buffer and the request are always there.
        for i in [0, 1, 4] {
            keep[i] = true;
        }
        ops.extend(masked(self.request_and_races(), &keep));
        ops
    }

    /// The driver's device, maybe under a pass-through filter or the filter manager.
    fn device_stack(&self) -> Vec<Op> {
        let mut ops = vec![
            io(IoOp::RegisterDriver {
                driver: self.driver,
            }),
            io(IoOp::CreateDevice {
                driver: Ix::Recent(0),
                flags: self.flags,
            }),
        ];
        match self.stack {
            1 => ops.extend([
                io(IoOp::RegisterDriver {
                    driver: BuiltinDriver::PassThrough,
                }),
                io(IoOp::CreateDevice {
                    driver: Ix::Recent(0),
                    flags: 0,
                }),
                io(IoOp::AttachDevice {
                    source: Ix::Recent(0),
                    target: Ix::Recent(1),
                }),
            ]),
            2 => ops.extend([
                io(IoOp::FltRegisterFilter { altitude: 320_000 }),
                io(IoOp::FltAttachVolume {
                    volume: Ix::Recent(0),
                }),
            ]),
            _ => {}
        }
        ops
    }

    /// A process, its buffer and a thread, a timer, the request, then what may happen while
    /// it is outstanding, in order.
    fn request_and_races(&self) -> Vec<Op> {
        let process = Ix::Recent(0);
        vec![
            p(ProcessOp::CreateProcess),
            alloc_user(process, self.l),
            p(ProcessOp::CreateThread { process }),
            io(IoOp::KeSetTimer {
                device: Ix::Recent(0),
                due_ms: self.due,
            }),
            Op::Io(self.request),
            // The driver reads Irp->MdlAddress (appended to the MDL table).
            io(IoOp::IrpMdlAddress { irp: Ix::Live(0) }),
            v(VmOp::UserWrite {
                process,
                va: recent(0, self.l.offset),
                len: self.l.length.min(PAGE_SIZE),
                seed: self.seed,
            }),
            io(IoOp::QueueCompleteNext {
                device: Ix::Recent(0),
            }),
            io(IoOp::QueueCompleteNext {
                device: Ix::Recent(1),
            }),
            io(IoOp::FsRtlNotifyFullReportChange {
                irp: Ix::Live(0),
                len: self.rec,
                seed: self.seed,
            }),
            io(IoOp::IoCancelIrp { irp: Ix::Live(0) }),
            io(IoOp::CancelThreadIrp {
                thread: Ix::Live(0),
                k: 0,
            }),
            io(IoOp::KeDeliverApc {
                thread: Ix::Live(0),
            }),
            v(VmOp::VirtualFree {
                process,
                base: recent(0, 0),
                size: 0,
                free_type: MEM_RELEASE,
            }),
            io(IoOp::KeAdvanceClock { ms: self.ms }),
            io(IoOp::TerminateThread {
                thread: Ix::Live(0),
            }),
            p(ProcessOp::TerminateProcess { process }),
        ]
    }
}

/// The access log around a kernel read of a returned VA.
pub(super) fn access_log() -> impl Strategy<Value = Vec<Op>> {
    (arb_addr(), arb_length()).prop_map(|(va, len)| {
        vec![
            v(VmOp::StartAccessLog),
            v(VmOp::KernelRead { va, len }),
            v(VmOp::TakeAccessLog),
        ]
    })
}
