//! The I/O manager: return status and completion routines.
//!
//! * Wine, `dlls/ntoskrnl.exe/tests/ntoskrnl.c`, `do_return_status`: for a request the
//!   dispatch routine finished (did not pend), the system service returns the dispatch
//!   routine's return value, not `IoStatus.Status`; a buffered request's output is
//!   copied back unless `NT_ERROR(IoStatus.Status)`.
//! * Microsoft, `IoSetCompletionRoutine`: `InvokeOnSuccess` / `InvokeOnError` are decided
//!   "based on the NT_SUCCESS macro", so a warning runs the error routines.

use crate::io_common::*;
use mdlsim::Kernel;
use mdlsim::fault::Result;
use mdlsim::io::{DO_BUFFERED_IO, DeviceId, Driver, IrpId};
use mdlsim::space::SpaceId;
use mdlsim::status::NtStatus;
use std::sync::Arc;

/// A driver that writes "ghi" to the SystemBuffer, completes with `iosb` and
/// `Information` 3, and returns `ret` (Wine's `return_status` driver, buffered form).
#[derive(Debug)]
struct ReturnStatus {
    ret: NtStatus,
    iosb: NtStatus,
}

impl Driver for ReturnStatus {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        if let Some(sb) = k.irp(irp)?.system_buffer {
            k.kernel_write(sb, b"ghi")?;
        }
        let i = k.irp_mut(irp)?;
        i.io_status.status = self.iosb;
        i.io_status.information = 3;
        k.io_complete_request(irp)?;
        Ok(self.ret)
    }
}

/// Wine `do_return_status`, non-pending rows: the service's status is the dispatch
/// routine's; the caller's buffer is "ghidef" unless the IoStatus is an error.
#[test]
fn a_finished_request_returns_the_dispatch_status_and_copies_back_unless_iostatus_is_an_error() {
    let statuses = [
        NtStatus::SUCCESS,
        NtStatus(0x0000_0102), // STATUS_TIMEOUT: success severity, not 0
        NtStatus::BUFFER_OVERFLOW,
        NtStatus::UNSUCCESSFUL,
    ];
    for ret in statuses {
        for iosb in statuses {
            let mut m = machine();
            let drv = m
                .io_register_driver("retstatus", Arc::new(ReturnStatus { ret, iosb }))
                .unwrap();
            let dev = m
                .io_create_device(drv, "\\Device\\Ret", DO_BUFFERED_IO)
                .unwrap();
            let (app, tid) = app(&mut m, "app");
            let buf = alloc(&mut m, app, 0x1000);
            m.user_write(app, buf, b"abcdef").unwrap();
            let r = m.nt_read_file(tid, dev, None, buf, 6, 0).unwrap();
            assert_eq!(r.status, ret, "returned, for ret {ret} iosb {iosb}");
            let want: &[u8] = if iosb.is_error() {
                b"abcdef"
            } else {
                b"ghidef"
            };
            let got = m.peek(SpaceId::Process(app), buf, 6).unwrap();
            assert_eq!(got, want, "buffer, for ret {ret} iosb {iosb}");
        }
    }
}

/// A driver below whose completion status is `status`, and a routine above that records
/// whether it ran.
#[derive(Debug)]
struct Completes(NtStatus);

impl Driver for Completes {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        k.irp_mut(irp)?.io_status.status = self.0;
        k.io_complete_request(irp)?;
        Ok(self.0)
    }
}

/// `IoSetCompletionRoutine`: a success routine runs for `NT_SUCCESS` statuses
/// (success and informational), an error routine for every other (warnings included).
#[test]
fn completion_routines_are_chosen_by_nt_success() {
    use mdlsim::io::{IRP_MJ_WRITE, Parameters, StackLocation};
    let rows = [
        (NtStatus::SUCCESS, true),
        (NtStatus(0x4000_0000), true),      // informational severity
        (NtStatus::BUFFER_OVERFLOW, false), // a warning: not NT_SUCCESS
        (NtStatus::UNSUCCESSFUL, false),
    ];
    for (status, success) in rows {
        for (on_success, on_error) in [(true, false), (false, true)] {
            let mut m = machine();
            let low = m
                .io_register_driver("completes", Arc::new(Completes(status)))
                .unwrap();
            let target = m.io_create_device(low, "\\Device\\Low", 0).unwrap();
            let up = m
                .io_register_driver("originator", Arc::new(Originator))
                .unwrap();
            let me = m.io_create_device(up, "\\Device\\Up", 0).unwrap();
            let irp = m.io_allocate_irp(1).unwrap();
            m.io_set_next_irp_stack_location(
                irp,
                StackLocation {
                    major_function: IRP_MJ_WRITE,
                    parameters: Parameters::Write {
                        length: 0,
                        byte_offset: 0,
                    },
                    ..StackLocation::default()
                },
            )
            .unwrap();
            m.io_set_completion_routine(irp, me, 0, on_success, on_error, false)
                .unwrap();
            m.io_call_driver(target, irp).unwrap();
            let ran = m
                .device(me)
                .unwrap()
                .extension
                .counters
                .contains_key("done");
            let want = if success { on_success } else { on_error };
            assert_eq!(
                ran, want,
                "{status} on_success {on_success} on_error {on_error}"
            );
            if !ran {
                // Nobody reclaimed it: the I/O manager's stage 2 is not for a driver IRP;
                // the test frees it as its owner would have.
                continue;
            }
            m.io_free_irp(irp).unwrap();
        }
    }
}
