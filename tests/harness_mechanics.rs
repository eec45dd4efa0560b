//! The harness's own mechanics: the outcome digest double-fetch proofs compare, and a
//! strategy re-entering the proxy driver (moved from tests/oracle.rs).

use mdlsim::Kernel;
use mdlsim::strategy::{self, Direction, ProxyStrategy};
use mdlsim::verify::{self, Case, InjectedFault, ServerBehaviour};

#[test]
fn the_outcome_digest_sees_every_byte_and_its_position() {
    use mdlsim::verify::case::digest;
    for n in [0usize, 1, 7, 8, 31, 32, 33, 100] {
        let mut b: Vec<u8> = (0..n as u8).collect();
        let d0 = digest(&b);
        for i in 0..n {
            b[i] ^= 0x40;
            assert_ne!(digest(&b), d0, "byte {i} of {n}");
            b[i] ^= 0x40;
        }
        if n >= 16 {
            b.swap(0, 8);
            assert_ne!(digest(&b), d0, "lanes are ordered");
        }
    }
}

/// A strategy whose `expose` kills the client's thread: thread rundown cancels the request
/// and the I/O manager calls the proxy driver's cancel routine while the driver is still
/// inside `expose`. The re-entry is reported as a finding; the case ends, no deadlock.
#[derive(Clone, Debug, Default)]
struct KillsClientInExpose;

impl ProxyStrategy for KillsClientInExpose {
    fn name(&self) -> String {
        "KillsClientInExpose".into()
    }

    fn expose(
        &mut self,
        k: &mut Kernel<'_>,
        io: &strategy::Io,
    ) -> mdlsim::Result<strategy::Exposure> {
        let client = io.client;
        k.interleave(|m| -> mdlsim::Result<()> {
            let tid = m.process(client)?.threads[0];
            m.terminate_thread(tid)
        })?;
        Ok(strategy::Exposure::Refused(mdlsim::NtStatus::CANCELLED))
    }

    fn retire(
        &mut self,
        _: &mut Kernel<'_>,
        _: &strategy::Io,
        _: strategy::ServerReply,
        _why: strategy::RetireReason,
    ) -> mdlsim::Result<strategy::Completion> {
        Ok(strategy::Completion {
            status: mdlsim::NtStatus::CANCELLED,
            information: 0,
        })
    }
}

#[test]
fn a_strategy_re_entering_the_proxy_driver_is_a_finding_not_a_deadlock() {
    let case = Case {
        offset: 0,
        length: 16,
        direction: Direction::Read,
        server: ServerBehaviour::Honest,
        fault: InjectedFault::None,
        seed: 0,
    };
    let run = verify::run_case(
        &mut KillsClientInExpose,
        &case,
        &mdlsim::Config::default(),
        None,
    );
    assert!(
        run.trace.iter().any(|l| l.contains("re-entered")),
        "{:#?}",
        run.trace
    );
    assert!(!run.findings.is_empty());
}
