//! Wine, `dlls/ntoskrnl.exe/tests/ntoskrnl.c` (`test_basic_ioctl`, `test_return_status` /
//! `do_return_status`) with their drivers in `driver.c` (`test_basic_ioctl`,
//! `return_status`); run on Windows, `todo_wine` marking only where Wine differs.
//!
//! The model has no file objects: a request is issued as on a handle opened for
//! overlapped I/O (`FILE_FLAG_OVERLAPPED`) — the service returns what the driver stack
//! returned and the IOSB is written for a pended request — so `do_return_status`'s
//! overlapped rows are translated; its synchronous-handle rows (the service waits and
//! returns the final status; no IOSB for an error even when pended) are the backlog.

use crate::io_common::{alloc, app, machine};
use mdlsim::addr::Va;
use mdlsim::fault::Result;
use mdlsim::io::ioctl::{
    FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, METHOD_BUFFERED, METHOD_NEITHER, METHOD_OUT_DIRECT,
    ctl_code,
};
use mdlsim::io::{DeviceId, Driver, IrpId, Parameters};
use mdlsim::space::SpaceId;
use mdlsim::status::NtStatus;
use mdlsim::{Kernel, Machine};
use std::sync::Arc;

/// `teststr` of the tests.
const TESTSTR: &[u8; 24] = b"Wine is not an emulator\0";

/// `IOCTL_WINETEST_BASIC_IOCTL` and the three `IOCTL_WINETEST_RETURN_STATUS_*`.
const fn code(function: u32, method: u32) -> u32 {
    ctl_code(FILE_DEVICE_UNKNOWN, function, method, FILE_ANY_ACCESS)
}

/// The buffers `return_status` writes through, by the IOCTL's method.
fn output(k: &mut Kernel<'_>, irp: IrpId, method: u32) -> Result<Option<Va>> {
    let i = k.irp(irp)?;
    let (sb, ub, mdl) = (i.system_buffer, i.user_buffer, i.mdl_address);
    Ok(match method {
        METHOD_NEITHER => ub,
        METHOD_OUT_DIRECT => k.mm_get_system_address_for_mdl_safe(mdl, 16)?,
        _ => sb,
    })
}

/// Both drivers: `test_basic_ioctl` copies `min(OutputBufferLength, 24)` bytes of
/// `teststr` to the SystemBuffer with that `Information`; `return_status` writes
/// "ghijkl" to the method's output, sets `Information` 3 and `IoStatus.Status = iosb`,
/// marks the IRP pending if asked, completes it and returns `ret`.
#[derive(Debug)]
struct WineTest {
    ret: NtStatus,
    iosb: NtStatus,
    pending: bool,
}

impl Driver for WineTest {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let loc = k.io_get_current_irp_stack_location(irp)?;
        let Parameters::DeviceIoControl {
            output_buffer_length: out_len,
            io_control_code,
            ..
        } = loc.parameters
        else {
            unreachable!("the tests send IOCTLs only")
        };
        if io_control_code == code(0x800, METHOD_BUFFERED) {
            let n = out_len.min(TESTSTR.len() as u32);
            let sb = k.irp(irp)?.system_buffer.expect("a SystemBuffer");
            k.kernel_write(sb, &TESTSTR[..n as usize])?;
            let i = k.irp_mut(irp)?;
            i.io_status.status = NtStatus::SUCCESS;
            i.io_status.information = n as u64;
            k.io_complete_request(irp)?;
            return Ok(NtStatus::SUCCESS);
        }
        let out = output(k, irp, io_control_code & 3)?.expect("an output buffer");
        if self.pending {
            k.io_mark_irp_pending(irp)?;
        }
        k.kernel_write(out, b"ghijkl")?;
        let i = k.irp_mut(irp)?;
        i.io_status.status = self.iosb;
        i.io_status.information = 3;
        k.io_complete_request(irp)?;
        Ok(self.ret)
    }
}

fn device(m: &mut Machine, ret: NtStatus, iosb: NtStatus, pending: bool) -> DeviceId {
    let drv = m
        .io_register_driver("winetest", Arc::new(WineTest { ret, iosb, pending }))
        .unwrap();
    m.io_create_device(drv, "\\Device\\WineTestDriver", 0)
        .unwrap()
}

/// `test_basic_ioctl`: with no input and a 32-byte output, the call succeeds, returns 24
/// bytes and the output holds `teststr`; with a 64-byte input and a 10-byte output, it
/// returns 10 bytes, "Wine is no" (only `Information` bytes are copied back).
#[test]
fn basic_buffered_ioctl_copies_back_information_bytes() {
    let mut m = machine();
    let dev = device(&mut m, NtStatus::SUCCESS, NtStatus::SUCCESS, false);
    let (pid, tid) = app(&mut m, "winetest");
    let buf = alloc(&mut m, pid, 0x1000);
    let (out, iosb, input) = (buf, buf.wrapping_add(0x100), buf.wrapping_add(0x200));
    let basic = code(0x800, METHOD_BUFFERED);
    let r = m
        .nt_device_io_control_file(tid, dev, Some(iosb), basic, None, 0, Some(out), 32)
        .unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    let written = m.user_read(pid, iosb.wrapping_add(8), 8).unwrap();
    assert_eq!(u64::from_le_bytes(written.try_into().unwrap()), 24);
    assert_eq!(m.user_read(pid, out, 24).unwrap(), TESTSTR);
    m.user_write(pid, out, &[0; 32]).unwrap();
    let r = m
        .nt_device_io_control_file(tid, dev, Some(iosb), basic, Some(input), 64, Some(out), 10)
        .unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    let written = m.user_read(pid, iosb.wrapping_add(8), 8).unwrap();
    assert_eq!(u64::from_le_bytes(written.try_into().unwrap()), 10);
    assert_eq!(m.user_read(pid, out, 11).unwrap(), b"Wine is no\0");
}

/// `do_return_status`'s statuses: success, informational and warning values, errors.
const STATUSES: [NtStatus; 9] = [
    NtStatus::SUCCESS,
    NtStatus::PENDING,
    NtStatus(0x0000_0102), // STATUS_TIMEOUT
    NtStatus(0x0ead_beef),
    NtStatus(0x4ead_beef),
    NtStatus::BUFFER_OVERFLOW,
    NtStatus(0x8ead_beef),
    NtStatus(0xC000_0002), // STATUS_NOT_IMPLEMENTED
    NtStatus(0xcead_beef),
];

/// One row of `do_return_status` on an overlapped handle ((C): the first call, with an
/// event): the returned status, the IOSB and the 7-byte buffer "abcdef".
fn return_status_row(method: u32, ret: NtStatus, iosb: NtStatus, pending: bool) {
    let mut m = machine();
    let dev = device(&mut m, ret, iosb, pending);
    let (pid, tid) = app(&mut m, "winetest");
    let buf = alloc(&mut m, pid, 0x1000);
    let (out, io, input) = (buf, buf.wrapping_add(0x100), buf.wrapping_add(0x200));
    m.user_write(pid, out, b"abcdef\0").unwrap();
    let mut untouched = [0u8; 16];
    untouched[..4].copy_from_slice(&0xdead_f00du32.to_le_bytes());
    untouched[8..].copy_from_slice(&0xdead_f00du64.to_le_bytes());
    m.user_write(pid, io, &untouched).unwrap();
    let ioctl = code(0x80a, method);
    let r = m
        .nt_device_io_control_file(tid, dev, Some(io), ioctl, Some(input), 12, Some(out), 7)
        .unwrap();
    let row = format!("method {method} ret {ret} iosb {iosb} pending {pending}");
    assert_eq!(r.status, ret, "returned, {row}");
    let mut written = untouched;
    if pending || !iosb.is_error() {
        written = [0; 16];
        written[..4].copy_from_slice(&iosb.0.to_le_bytes());
        written[8..].copy_from_slice(&3u64.to_le_bytes());
    }
    assert_eq!(
        m.peek(SpaceId::Process(pid), io, 16).unwrap(),
        written,
        "IOSB, {row}"
    );
    let want: &[u8] = match method {
        METHOD_BUFFERED if iosb.is_error() => b"abcdef",
        METHOD_BUFFERED => b"ghidef",
        _ => b"ghijkl",
    };
    assert_eq!(
        m.peek(SpaceId::Process(pid), out, 6).unwrap(),
        want,
        "buffer, {row}"
    );
}

/// `do_return_status` (C) over every status pair, pended or not, for METHOD_BUFFERED,
/// METHOD_OUT_DIRECT and METHOD_NEITHER: the service returns the dispatch routine's
/// status; the IOSB is written with `{iosb, 3}` unless the request was not pended and
/// its status is an error; a buffered request copies `Information` bytes back unless the
/// status is an error; direct and neither requests wrote the caller's memory directly.
///
/// Completing with `IoStatus.Status == STATUS_PENDING` is left to
/// [`completing_with_status_pending_behaves_as_a_free_build`].
#[test]
fn return_status_on_an_overlapped_handle_for_every_status_and_method() {
    for method in [METHOD_BUFFERED, METHOD_OUT_DIRECT, METHOD_NEITHER] {
        for ret in STATUSES {
            for iosb in STATUSES.into_iter().filter(|s| *s != NtStatus::PENDING) {
                for pending in [false, true] {
                    if ret == NtStatus::PENDING && !pending {
                        continue; // do_return_status skips it
                    }
                    return_status_row(method, ret, iosb, pending);
                }
            }
        }
    }
}

/// The rows of `do_return_status` that complete an IRP with `IoStatus.Status ==
/// STATUS_PENDING`: Windows (a free build, the model's default
/// `Config::kernel_build`) completes it and the caller sees `STATUS_PENDING` in its
/// IOSB, as for any other success status.
#[test]
fn completing_with_status_pending_behaves_as_a_free_build() {
    for method in [METHOD_BUFFERED, METHOD_OUT_DIRECT, METHOD_NEITHER] {
        for ret in STATUSES {
            for pending in [false, true] {
                if ret == NtStatus::PENDING && !pending {
                    continue;
                }
                return_status_row(method, ret, NtStatus::PENDING, pending);
            }
        }
    }
}
