//! The buffering matrix: {READ, WRITE, each IOCTL method} × {zero length, one byte,
//! unaligned multi-page} × {buffered, direct, neither device} (semantics §5.2, §5.3, §5.5).

mod io_common;
use io_common::*;
use mdlsim::io::ioctl::*;
use mdlsim::io::{DO_BUFFERED_IO, DO_DIRECT_IO, IrpFlags};
use mdlsim::status::NtStatus;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Read,
    Write,
    Ioctl(u32),
}

const OPS: [Op; 6] = [
    Op::Read,
    Op::Write,
    Op::Ioctl(METHOD_BUFFERED),
    Op::Ioctl(METHOD_IN_DIRECT),
    Op::Ioctl(METHOD_OUT_DIRECT),
    Op::Ioctl(METHOD_NEITHER),
];

/// (offset in the allocation, length)
const SHAPES: [(u64, u32); 3] = [(0x10, 0), (0xFFF, 1), (0x123, 0x2345)];

fn run_case(op: Op, (off, len): (u64, u32), kind: u32) {
    let ctx = format!("{op:?} len {len} at +{off:#x} device flags {kind:#x}");
    let mut m = machine();
    let dev = pattern_device(&mut m, kind);
    let (app, tid) = app(&mut m, "app");
    let outb = at(alloc(&mut m, app, 0x4000), off);
    let inb = at(alloc(&mut m, app, 0x4000), off);
    let iosb = alloc(&mut m, app, 0x1000);
    let input: Vec<u8> = (0..len as u64).map(|i| (i * 13 % 256) as u8).collect();
    let l = len as u64;
    m.user_write(app, inb, &input).unwrap();
    m.user_write(app, outb, &vec![0xEE; len as usize]).unwrap();
    let r = match op {
        Op::Read => m.nt_read_file(tid, dev, Some(iosb), outb, len, 0),
        Op::Write => m.nt_write_file(tid, dev, Some(iosb), inb, len, 0),
        Op::Ioctl(method) => m.nt_device_io_control_file(
            tid,
            dev,
            Some(iosb),
            ctl_code(FILE_DEVICE_UNKNOWN, 0x800, method, FILE_ANY_ACCESS),
            Some(inb),
            len,
            Some(outb),
            len,
        ),
    }
    .unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS, "{ctx}");
    let rec = m.device(dev).unwrap().extension.records[0].clone();
    let f = rec.flags;
    match op {
        Op::Read | Op::Write => {
            let read = op == Op::Read;
            let dir = if read {
                IrpFlags::READ_OPERATION
            } else {
                IrpFlags::WRITE_OPERATION
            };
            assert!(
                f.contains(dir | IrpFlags::DEFER_IO_COMPLETION),
                "{ctx}: {f:?}"
            );
            let buf = if read { outb } else { inb };
            if kind == DO_BUFFERED_IO {
                let mut want = IrpFlags::BUFFERED_IO;
                if read {
                    want |= IrpFlags::INPUT_OPERATION;
                }
                if len > 0 {
                    want |= IrpFlags::DEALLOCATE_BUFFER;
                }
                assert_eq!(f & !(dir | IrpFlags::DEFER_IO_COMPLETION), want, "{ctx}");
                assert_eq!(rec.system_buffer.is_some(), len > 0, "{ctx}");
                assert_eq!(rec.mdl, None, "{ctx}");
                assert_eq!(rec.user_buffer, (read && len > 0).then_some(buf), "{ctx}");
            } else if kind == DO_DIRECT_IO {
                assert_eq!(
                    f & !(dir | IrpFlags::DEFER_IO_COMPLETION),
                    IrpFlags::empty(),
                    "{ctx}"
                );
                assert_eq!(
                    rec.mdl.is_some(),
                    len > 0,
                    "{ctx}: zero length gives no MDL"
                );
                assert_eq!(rec.system_buffer, None, "{ctx}");
            } else {
                assert_eq!(rec.user_buffer, Some(buf), "{ctx}");
                assert_eq!((rec.system_buffer, rec.mdl), (None, None), "{ctx}");
            }
            if read {
                assert_eq!(m.user_read(app, outb, l).unwrap(), pattern(l), "{ctx}");
            } else {
                assert_eq!(rec.input, input, "{ctx}");
            }
        }
        Op::Ioctl(method) => match method {
            METHOD_BUFFERED => {
                assert_eq!(rec.system_buffer.is_some(), len > 0, "{ctx}");
                let want = if len > 0 {
                    IrpFlags::BUFFERED_IO | IrpFlags::DEALLOCATE_BUFFER | IrpFlags::INPUT_OPERATION
                } else {
                    IrpFlags::empty()
                };
                assert_eq!(f, want, "{ctx}");
                assert_eq!(rec.mdl, None, "{ctx}");
                assert_eq!(rec.input, input, "{ctx}");
                assert_eq!(m.user_read(app, outb, l).unwrap(), pattern(l), "{ctx}");
            }
            METHOD_IN_DIRECT | METHOD_OUT_DIRECT => {
                assert_eq!(rec.system_buffer.is_some(), len > 0, "{ctx}");
                assert_eq!(rec.mdl.is_some(), len > 0, "{ctx}: out == 0 gives no MDL");
                assert!(
                    !f.contains(IrpFlags::INPUT_OPERATION),
                    "{ctx}: never copied back"
                );
                if method == METHOD_IN_DIRECT {
                    let mut both = input.clone();
                    both.extend(vec![0xEE; len as usize]);
                    assert_eq!(rec.input, both, "{ctx}");
                    assert_eq!(m.user_read(app, outb, l).unwrap(), vec![0xEE; len as usize]);
                } else {
                    assert_eq!(rec.input, input, "{ctx}");
                    assert_eq!(m.user_read(app, outb, l).unwrap(), pattern(l), "{ctx}");
                }
            }
            _ => {
                assert_eq!((rec.system_buffer, rec.mdl), (None, None), "{ctx}");
                assert_eq!(f, IrpFlags::empty(), "{ctx}");
                assert_eq!(rec.user_buffer, Some(outb), "{ctx}");
                assert_eq!(rec.input, input, "{ctx}");
                assert_eq!(m.user_read(app, outb, l).unwrap(), pattern(l), "{ctx}");
            }
        },
    }
    // The IOSB holds the final status and Information.
    let sb = m.user_read(app, iosb, 16).unwrap();
    assert_eq!(u32::from_le_bytes(sb[..4].try_into().unwrap()), 0, "{ctx}");
    let info = u64::from_le_bytes(sb[8..].try_into().unwrap());
    let want_info = match op {
        Op::Ioctl(METHOD_IN_DIRECT) => 0,
        _ => l,
    };
    assert_eq!(info, want_info, "{ctx}");
    assert!(m.events().is_empty(), "{ctx}: {:?}", m.events());
    assert_clean(&m);
}

/// Every op × shape × device kind builds the right buffers, moves the right bytes and
/// leaves nothing behind.
#[test]
fn matrix_every_op_shape_and_device_kind_moves_the_right_bytes_and_leaks_nothing() {
    for op in OPS {
        for shape in SHAPES {
            for kind in KINDS {
                run_case(op, shape, kind);
            }
        }
    }
}

/// The same matrix through a two-device stack (a filter above the device): the filter's
/// stack location is used and the results are identical.
#[test]
fn matrix_through_a_filter_stack_behaves_the_same() {
    for op in [Op::Read, Op::Write, Op::Ioctl(METHOD_OUT_DIRECT)] {
        for kind in KINDS {
            let mut m = machine();
            let dev = pattern_device(&mut m, kind);
            let filter = filter_above(&mut m, dev);
            assert_eq!(m.device(filter).unwrap().stack_size, 2);
            assert_eq!(
                m.device(filter).unwrap().flags,
                kind,
                "filter copies buffering flags"
            );
            let (app, tid) = app(&mut m, "app");
            let b = at(alloc(&mut m, app, 0x4000), 0x321);
            m.user_write(app, b, &[7; 0x1800]).unwrap();
            let r = match op {
                Op::Read => m.nt_read_file(tid, dev, None, b, 0x1800, 0),
                Op::Write => m.nt_write_file(tid, dev, None, b, 0x1800, 0),
                Op::Ioctl(meth) => m.nt_device_io_control_file(
                    tid,
                    dev,
                    None,
                    ctl_code(FILE_DEVICE_UNKNOWN, 1, meth, 0),
                    None,
                    0,
                    Some(b),
                    0x1800,
                ),
            }
            .unwrap();
            assert_eq!(r.status, NtStatus::SUCCESS);
            assert_eq!(m.device(filter).unwrap().extension.records.len(), 1);
            assert_eq!(m.device(dev).unwrap().extension.records.len(), 1);
            if op != Op::Write {
                assert_eq!(m.user_read(app, b, 0x1800).unwrap(), pattern(0x1800));
            }
            assert_clean(&m);
        }
    }
}

/// Semantics §5.3: NtFsControlFile builds like NtDeviceIoControlFile, with
/// IRP_MJ_FILE_SYSTEM_CONTROL and IRP_DEFER_IO_COMPLETION added.
#[test]
fn fsctl_builds_like_an_ioctl_plus_defer_io_completion() {
    for method in [METHOD_BUFFERED, METHOD_OUT_DIRECT, METHOD_NEITHER] {
        let mut m = machine();
        let dev = pattern_device(&mut m, 0);
        let (app, tid) = app(&mut m, "app");
        let b = at(alloc(&mut m, app, 0x4000), 0x77);
        let code = ctl_code(9, 0x20, method, FILE_ANY_ACCESS);
        let r = m
            .nt_fs_control_file(tid, dev, None, code, None, 0, Some(b), 0x1234)
            .unwrap();
        assert_eq!(r.status, NtStatus::SUCCESS);
        let rec = m.device(dev).unwrap().extension.records[0].clone();
        assert_eq!(rec.major, mdlsim::io::IRP_MJ_FILE_SYSTEM_CONTROL);
        assert!(
            rec.flags.contains(IrpFlags::DEFER_IO_COMPLETION),
            "{method}"
        );
        assert_eq!(
            m.user_read(app, b, 0x1234).unwrap(),
            pattern(0x1234),
            "{method}"
        );
        assert_clean(&m);
    }
}
