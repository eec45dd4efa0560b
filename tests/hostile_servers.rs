//! Servers that lie (issue 13, item 2): a count larger than the request, success with
//! nothing transferred, an error with a count, writes after the reply. A driver that
//! trusts the server's `Information` is caught, with the class that names what it did;
//! every correct built-in clamps and passes against every hostile server.

mod bounce;

use bounce::{Bounce, Bug};
use mdlsim::addr::PAGE_SIZE;
use mdlsim::oracle::{BugClass, Rule};
use mdlsim::strategy::{BounceCopy, CopySmallMapLarge, Direction, HeadTailSplice, PartialMdlSplit};
use mdlsim::verify::server::over_reported;
use mdlsim::verify::{self, Case, Config, InjectedFault, ServerBehaviour, replay};

const HOSTILE: [ServerBehaviour; 4] = [
    ServerBehaviour::OverReporting,
    ServerBehaviour::EmptySuccess,
    ServerBehaviour::FailsWithInformation,
    ServerBehaviour::WritesAfterReply,
];

fn hostile(cases: u32) -> Config {
    Config::default()
        .seed(2)
        .cases(cases)
        .servers(&HOSTILE)
        .ignore_env()
}

/// Positive control: each correct built-in clamps the count and passes against every
/// hostile server, with and without injected faults.
#[test]
fn correct_builtins_pass_against_every_hostile_server() {
    let cfg = hostile(150);
    verify::verify(&BounceCopy::default(), &cfg).unwrap();
    verify::verify(&HeadTailSplice::default(), &cfg).unwrap();
    verify::verify(&PartialMdlSplit::default(), &cfg).unwrap();
    verify::verify(&CopySmallMapLarge::default(), &cfg).unwrap();
    verify::verify(&Bounce::default(), &cfg).unwrap();
}

/// Negative control: passing an over-reporting server's count to the client is a
/// CopyBackError under the delivery rule, naming the count.
#[test]
fn an_unclamped_count_handed_to_the_client_is_caught() {
    let bad = Bounce::with(Bug::TrustCount);
    let cx = verify::verify(&bad, &hostile(300)).unwrap_err();
    let f = cx
        .findings
        .iter()
        .find(|f| f.kind == BugClass::CopyBackError && f.rule == Rule::Delivery)
        .unwrap_or_else(|| panic!("{cx}"));
    assert!(f.detail.contains("Information 0x"), "{f}");
    assert_eq!(cx.case.server, ServerBehaviour::OverReporting, "{cx}");
}

/// Negative control: copying back the server's count of bytes without clamping runs
/// past the client's buffer — client bytes past the range change (Integrity) or the
/// copy runs off the end of a mapping (OutOfBounds).
#[test]
fn an_unclamped_copy_back_runs_past_the_clients_buffer() {
    let bad = Bounce::with(Bug::TrustCopy);
    let cx = verify::verify(&bad, &hostile(300).direction(Direction::Read)).unwrap_err();
    assert!(
        cx.has(BugClass::CopyBackError) || cx.has(BugClass::OutOfBounds),
        "{cx}"
    );
    // By hand, one byte too many at the end of a buffer that ends mid-page: the byte
    // after the range is the client's and changes.
    let case = Case {
        offset: 0,
        length: 100,
        direction: Direction::Read,
        server: ServerBehaviour::OverReporting,
        fault: InjectedFault::None,
        seed: 0, // length + 1
    };
    assert_eq!(over_reported(100, 0), 101);
    let run = replay(&bad, &case, &mdlsim::Config::default());
    let f = run
        .findings
        .iter()
        .find(|f| f.rule == Rule::Integrity)
        .unwrap_or_else(|| panic!("{:?}", run.findings));
    assert_eq!(f.kind, BugClass::CopyBackError, "{f}");
}

/// Each hostile behaviour does what its documentation says (the reply the driver gets).
#[test]
fn hostile_servers_reply_as_documented() {
    for (seed, want) in [(0u8, 101u64), (1, 100 + PAGE_SIZE), (2, u64::MAX)] {
        assert_eq!(over_reported(100, seed), want);
    }
    assert_eq!(over_reported(u64::MAX, 0), u64::MAX);
    let names: Vec<&str> = ServerBehaviour::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names.len(), 8);
    for s in ServerBehaviour::ALL {
        assert_eq!(s.to_string(), format!("{s:?}"));
    }
}
