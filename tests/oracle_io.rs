//! The request goes through the I/O manager and the proxy driver: the driver sees the IRP
//! the I/O manager built (flags, `MdlAddress`, none for zero length), every request completes
//! exactly once through `IoCompleteRequest`, a cancel runs the driver's cancel routine and
//! completes `STATUS_CANCELLED`; negative controls: a driver that ignores cancellation or
//! completes twice is caught.

mod oracle_common;

use oracle_common::*;

use mdlsim::oracle::BugClass;
use mdlsim::strategy::{self, Direction, ProxyStrategyClone, RetireReason};
use mdlsim::verify::{self, Case, InjectedFault, ServerBehaviour};

/// The correct strategies that serve data requests (the PortName driver refuses them).
fn data_strategies() -> Vec<Box<dyn ProxyStrategyClone>> {
    correct()
        .into_iter()
        .filter(|s| !s.name().contains("PortName"))
        .collect()
}

fn faulted(offset: u32, length: u32, direction: Direction, fault: InjectedFault) -> Case {
    Case {
        fault,
        ..case(offset, length, direction, ServerBehaviour::Honest)
    }
}

#[test]
fn the_driver_sees_the_irp_the_io_manager_built_and_it_completes_once() {
    use mdlsim::io::IrpFlags;
    use mdlsim::status::NtStatus;
    for s in data_strategies() {
        for d in [Direction::Read, Direction::Write] {
            for (off, len) in [(1, 3 * P), (0, P), (P - 1, 2), (512, 0)] {
                let mut st = s.clone();
                let run = verify::run_case(
                    &mut st,
                    &case(off, len, d, ServerBehaviour::Honest),
                    &mdlsim::Config::default(),
                    None,
                );
                assert!(run.findings.is_empty(), "{}: {:?}", s.name(), run.findings);
                let io = run.io.expect("the request went through the I/O manager");
                assert_eq!(io.returned, NtStatus::PENDING, "the driver pended it");
                let dir_flag = match d {
                    Direction::Read => IrpFlags::READ_OPERATION,
                    Direction::Write => IrpFlags::WRITE_OPERATION,
                };
                assert!(io.flags.contains(dir_flag | IrpFlags::DEFER_IO_COMPLETION));
                assert!(!io.flags.contains(IrpFlags::BUFFERED_IO));
                // Direct I/O: an MDL for a non-empty buffer, none for zero length (§5.5).
                assert_eq!(io.mdl.is_some(), len > 0, "{} {d:?} {len}", s.name());
                assert_eq!(io.completions.len(), 1, "completed exactly once");
                let c = &io.completions[0];
                assert_eq!(c.status, NtStatus::SUCCESS);
                assert_eq!(c.information, len as u64);
                assert_eq!(Some(c.status), run.outcome.completion.map(|c| c.status));
                assert_eq!(io.retired_by, Some(RetireReason::Reply));
            }
        }
    }
}

#[test]
fn a_cancelled_request_runs_the_cancel_routine_and_completes_cancelled() {
    use mdlsim::status::NtStatus;
    for s in data_strategies() {
        for d in [Direction::Read, Direction::Write] {
            let mut st = s.clone();
            let c = faulted(7, 2 * P + 9, d, InjectedFault::Cancel);
            let run = verify::run_case(&mut st, &c, &mdlsim::Config::default(), None);
            assert!(run.findings.is_empty(), "{}: {:?}", s.name(), run.findings);
            let io = run.io.expect("sent");
            assert_eq!(
                io.retired_by,
                Some(RetireReason::Cancel),
                "the cancel routine ran retire"
            );
            assert_eq!(
                io.retire_context,
                Some(None),
                "in the canceller's system thread"
            );
            assert_eq!(io.completions.len(), 1);
            assert_eq!(io.completions[0].status, NtStatus::CANCELLED);
            assert_eq!(io.completions[0].information, 0);
            assert!(run.trace.iter().any(|t| t.contains("drops the reply")));
        }
    }
}

#[test]
fn a_client_thread_exit_cancels_through_io_cancel_thread_io_and_retire_learns_why() {
    use mdlsim::status::NtStatus;
    for s in data_strategies() {
        let mut st = s.clone();
        let c = faulted(100, 5000, Direction::Read, InjectedFault::ClientExits);
        let run = verify::run_case(&mut st, &c, &mdlsim::Config::default(), None);
        assert!(run.findings.is_empty(), "{}: {:?}", s.name(), run.findings);
        let io = run.io.expect("sent");
        assert_eq!(io.retired_by, Some(RetireReason::ClientExit));
        assert!(
            matches!(io.retire_context, Some(Some(_))),
            "in the exiting client's context"
        );
        assert_eq!(io.completions.len(), 1);
        assert_eq!(io.completions[0].status, NtStatus::CANCELLED);
    }
}

#[test]
fn a_driver_that_ignores_cancellation_or_completes_twice_is_caught() {
    use mdlsim::verify::ProxyDriverBug;
    let with_driver = |d, f, bug| {
        let mut st = strategy::BounceCopy::default();
        let c = faulted(3, P + 3, d, f);
        verify::run_case_with_driver(&mut st, &c, &mdlsim::Config::default(), bug)
    };
    for d in [Direction::Read, Direction::Write] {
        // Ignoring cancellation: IoCancelIrp leaves the request pending (Cancel), and thread
        // exit waits five minutes, then disassociates the IRP (ClientExits).
        for f in [InjectedFault::Cancel, InjectedFault::ClientExits] {
            let run = with_driver(d, f, ProxyDriverBug::NotCancelable);
            assert!(
                run.findings.iter().any(|x| x.kind == BugClass::LockLeak),
                "{f:?}: {:?}",
                run.findings
            );
            let io = run.io.expect("sent");
            assert_eq!(
                io.retired_by,
                Some(RetireReason::Reply),
                "only the late reply retired it"
            );
        }
        // Completing a request the cancel routine already completed: 0x44.
        for f in [InjectedFault::Cancel, InjectedFault::ClientExits] {
            let run = with_driver(d, f, ProxyDriverBug::CompletesTwice);
            assert!(
                run.outcome
                    .crash
                    .as_deref()
                    .is_some_and(|c| c.contains("0x44") || c.contains("MULTIPLE_IRP_COMPLETE")),
                "{f:?}: {:?} {:?}",
                run.outcome.crash,
                run.findings
            );
            assert!(
                run.findings
                    .iter()
                    .any(|x| x.kind == BugClass::StatusInconsistent)
            );
        }
        // Without a cancellation, both broken drivers behave.
        for bug in [
            ProxyDriverBug::NotCancelable,
            ProxyDriverBug::CompletesTwice,
        ] {
            let run = with_driver(d, InjectedFault::None, bug);
            assert!(run.findings.is_empty(), "{bug:?}: {:?}", run.findings);
        }
    }
}

#[test]
fn a_refusal_completes_the_irp_from_the_drivers_expose() {
    use mdlsim::status::NtStatus;
    let mut st = strategy::portname::PortNameCaptured::default();
    let c = case(0, 100, Direction::Read, ServerBehaviour::Honest);
    let run = verify::run_case(&mut st, &c, &mdlsim::Config::default(), None);
    let io = run.io.expect("sent");
    assert_eq!(io.completions.len(), 1);
    assert!(io.completions[0].status.is_error());
    assert_ne!(io.completions[0].status, NtStatus::PENDING);
    assert_eq!(io.retired_by, None, "nothing to retire after a refusal");
}

#[test]
fn the_irp_and_its_mdl_are_in_the_hygiene_books() {
    use mdlsim::oracle::hygiene::Books;
    use mdlsim::verify::{ProxyDriver, ProxyDriverBug};
    use mdlsim::{Machine, io::DO_DIRECT_IO};
    use std::sync::Arc;
    // A request the driver still holds shows in the books: one IRP, one MDL, locked pages.
    let mut m = Machine::new(mdlsim::Config::default()).unwrap();
    let client = m.create_process("client").unwrap();
    let server = m.create_process("server").unwrap();
    let drv = Arc::new(ProxyDriver::new(
        strategy::BounceCopy::default(),
        server,
        ProxyDriverBug::None,
    ));
    let id = m.io_register_driver("proxyfs", drv.clone()).unwrap();
    let dev = m
        .io_create_device(id, "\\Device\\ProxyFs", DO_DIRECT_IO)
        .unwrap();
    let buf = m
        .virtual_alloc(
            client,
            None,
            0x3000,
            mdlsim::vm::MEM_COMMIT | mdlsim::vm::MEM_RESERVE,
            mdlsim::space::Protection::ReadWrite,
        )
        .unwrap();
    let before = Books::take(&m, &[client, server]);
    let tid = m.process(client).unwrap().threads[0];
    let r = m
        .nt_read_file(tid, dev, None, buf.wrapping_add(5), 0x1800, 0)
        .unwrap();
    let irp = r.irp.unwrap();
    let mid = Books::take(&m, &[client, server]);
    assert_eq!(
        (mid.irps, mid.mdls.len()),
        (before.irps + 1, before.mdls.len() + 1)
    );
    let leaks: Vec<BugClass> = mid
        .compare(&before, 0, "pending")
        .iter()
        .map(|f| f.kind)
        .collect();
    assert!(leaks.contains(&BugClass::ResourceLeak) && leaks.contains(&BugClass::LockLeak));
    // Fetched, exposed, replied: completion gives everything back.
    m.switch_to(Some(server)).unwrap();
    let (got, io) = drv.fetch(&mut m.kernel(), dev).unwrap().unwrap();
    assert_eq!(got, irp);
    assert_eq!(Some(io.mdl.unwrap()), m.irp(irp).unwrap().mdl_address);
    drv.expose(&mut m.kernel(), irp).unwrap();
    let reply = mdlsim::strategy::ServerReply {
        status: mdlsim::status::NtStatus::SUCCESS,
        information: 0x1800,
    };
    let c = drv.reply(&mut m.kernel(), irp, reply).unwrap().unwrap();
    assert_eq!(c.information, 0x1800);
    assert!(
        Books::take(&m, &[client, server])
            .compare(&before, 0, "after")
            .is_empty()
    );
    assert_eq!(
        m.io_completions().iter().filter(|c| c.irp == irp).count(),
        1
    );
    // A second reply for the same IRP is dropped, not a second completion.
    assert_eq!(drv.reply(&mut m.kernel(), irp, reply).unwrap(), None);
    assert!(m.crashed().is_none());
    assert!(m.audit().is_empty());
}
