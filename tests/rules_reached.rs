//! Every rule of the oracle is reached by some strategy × server × fault (issue 13, item
//! 2): for each check the oracle makes — each rule, and each way a rule is broken — a
//! case that breaks it, replayed, with the finding's class, rule and the words that say
//! which check spoke. The hostile servers are among them: a count the driver did not
//! clamp, success on nothing, a failure turned into success, writes after the reply.

use mdlsim::Kernel;
use mdlsim::addr::PAGE_SIZE;
use mdlsim::fault::Result;
use mdlsim::oracle::{BugClass, Rule};
use mdlsim::status::NtStatus;
use mdlsim::strategy::broken::{
    CopyBackAll, DirectMap, FreeSubstituteWhileMapped, LeakSecondLock, UnlockPartial,
    UnzeroedBounce, WritableWriteSplice,
};
use mdlsim::strategy::portname::PortNameInPlace;
use mdlsim::strategy::zoo::{
    InformationUnclamped, SwiotlbDroppedOffset, SwiotlbStaleFromDevice, UncheckedSystemAddress,
    UserVaInArbitraryContext,
};
use mdlsim::strategy::{
    BounceCopy, Completion, Direction, Exposure, Io, ProxyStrategy, ProxyStrategyClone,
    RetireReason, ServerReply,
};
use mdlsim::verify::{Case, InjectedFault, ServerBehaviour, replay};

/// A bounce buffer that tells the client "success" whatever the server said.
#[derive(Clone, Default)]
struct SuccessOnError(BounceCopy);

impl ProxyStrategy for SuccessOnError {
    fn name(&self) -> String {
        "SuccessOnError".into()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        self.0.expose(k, io)
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> Result<Completion> {
        let said = ServerReply {
            status: NtStatus::SUCCESS,
            ..reply
        };
        self.0.retire(k, io, said, why)
    }
}

/// The client's pages mapped straight into the server and never unmapped: the server
/// keeps its view after the reply.
#[derive(Clone, Default)]
struct DirectMapKept(DirectMap);

impl ProxyStrategy for DirectMapKept {
    fn name(&self) -> String {
        "DirectMapKept".into()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        self.0.expose(k, io)
    }
    fn retire(
        &mut self,
        _k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        Ok(Completion {
            status: reply.status,
            information: reply.information.min(io.length as u64),
        })
    }
}

/// One check of the oracle and a case that reaches it.
struct Reach {
    strategy: Box<dyn ProxyStrategyClone>,
    direction: Direction,
    server: ServerBehaviour,
    fault: InjectedFault,
    class: BugClass,
    rule: Rule,
    says: &'static str,
}

fn reach(
    strategy: impl ProxyStrategyClone + 'static,
    (direction, server, fault): (Direction, ServerBehaviour, InjectedFault),
    (class, rule, says): (BugClass, Rule, &'static str),
) -> Reach {
    Reach {
        strategy: Box::new(strategy),
        direction,
        server,
        fault,
        class,
        rule,
        says,
    }
}

fn table() -> Vec<Reach> {
    use BugClass as C;
    use Direction::{Read, Write};
    use InjectedFault as F;
    use Rule as R;
    use ServerBehaviour as S;
    vec![
        reach(
            DirectMap::default(),
            (Read, S::Adversarial, F::None),
            (
                C::PartialPageExposure,
                R::ConfidentialityToServer,
                "client bytes from outside the request's range",
            ),
        ),
        reach(
            UnzeroedBounce::default(),
            (Read, S::Adversarial, F::None),
            (
                C::UnsanitizedSubstitute,
                R::ConfidentialityToServer,
                "neither zero, its own nor the client's range",
            ),
        ),
        reach(
            SwiotlbStaleFromDevice::default(),
            (Read, S::Short, F::None),
            (
                C::CopyBackError,
                R::ConfidentialityToClient,
                "neither its own nor the server's",
            ),
        ),
        reach(
            DirectMap::default(),
            (Read, S::Adversarial, F::None),
            (
                C::PartialPageExposure,
                R::Integrity,
                "outside the request's range changed",
            ),
        ),
        reach(
            WritableWriteSplice::default(),
            (Write, S::Adversarial, F::None),
            (
                C::AccessModeMismatch,
                R::Integrity,
                "mapped writable into the server",
            ),
        ),
        reach(
            CopyBackAll::default(),
            (Read, S::EmptySuccess, F::None),
            (
                C::CopyBackError,
                R::Delivery,
                "past Information were zero-filled",
            ),
        ),
        reach(
            InformationUnclamped::default(),
            (Read, S::OverReporting, F::None),
            (
                C::CopyBackError,
                R::Delivery,
                "the client is told Information",
            ),
        ),
        reach(
            SuccessOnError::default(),
            (Read, S::FailsWithInformation, F::None),
            (
                C::CopyBackError,
                R::Delivery,
                "the server failed the request",
            ),
        ),
        reach(
            DirectMapKept::default(),
            (Read, S::WritesAfterReply, F::None),
            (C::CopyBackError, R::Delivery, "not its values"),
        ),
        reach(
            SwiotlbDroppedOffset::default(),
            (Read, S::Honest, F::None),
            (C::SpanArithmetic, R::Delivery, "shifted by"),
        ),
        reach(
            SwiotlbDroppedOffset::default(),
            (Write, S::Honest, F::None),
            (C::SpanArithmetic, R::Delivery, "shifted by"),
        ),
        reach(
            PortNameInPlace::default(),
            (Write, S::Honest, F::None),
            (C::CopyInError, R::Delivery, "the server was shown"),
        ),
        reach(
            LeakSecondLock::default(),
            (Read, S::Honest, F::None),
            (C::LockLeak, R::Hygiene, "locked"),
        ),
        reach(
            UnlockPartial::default(),
            (Read, S::Honest, F::None),
            (C::UnlockMisuse, R::Protocol, "bug check"),
        ),
        reach(
            FreeSubstituteWhileMapped::default(),
            (Read, S::Honest, F::None),
            (
                C::FreeWhileMapped,
                R::Protocol,
                "while its pages are still mapped",
            ),
        ),
        reach(
            UncheckedSystemAddress::default(),
            (Write, S::Honest, F::SystemPtesExhausted),
            (
                C::ResourceFailureUnhandled,
                R::Protocol,
                "returned NULL at step",
            ),
        ),
        reach(
            UserVaInArbitraryContext::default(),
            (Write, S::Honest, F::None),
            (C::OutOfBounds, R::Protocol, "a read at"),
        ),
        reach(
            PortNameInPlace::default(),
            (Write, S::Honest, F::None),
            (C::DoubleFetch, R::DoubleFetch, "fetched byte"),
        ),
    ]
}

fn case(r: &Reach) -> Case {
    Case {
        offset: 0x123,
        length: 3 * PAGE_SIZE as u32 + 17,
        direction: r.direction,
        server: r.server,
        fault: r.fault,
        seed: 0,
    }
}

/// Each row's case breaks its rule, in the way the row says.
#[test]
fn every_check_of_the_oracle_is_reached() {
    for r in table() {
        let run = replay(&r.strategy, &case(&r), &mdlsim::Config::default());
        let hit = run
            .findings
            .iter()
            .any(|f| f.kind == r.class && f.rule == r.rule && f.detail.contains(r.says));
        let seen: Vec<String> = run.findings.iter().map(|f| f.to_string()).collect();
        assert!(
            hit,
            "{} {:?} {}: no {} ({:?}) saying {:?} in {seen:#?}",
            r.strategy.name(),
            r.direction,
            r.server,
            r.class,
            r.rule,
            r.says
        );
    }
}

/// Every rule has a row, and every hostile server reaches a check an honest server does
/// not reach with the same strategy.
#[test]
fn every_rule_and_every_hostile_server_is_covered() {
    let rows = table();
    for rule in [
        Rule::ConfidentialityToServer,
        Rule::ConfidentialityToClient,
        Rule::Integrity,
        Rule::Delivery,
        Rule::Hygiene,
        Rule::Protocol,
        Rule::DoubleFetch,
    ] {
        assert!(
            rows.iter().any(|r| r.rule == rule),
            "{rule:?} is not reached"
        );
    }
    for hostile in [
        ServerBehaviour::OverReporting,
        ServerBehaviour::EmptySuccess,
        ServerBehaviour::FailsWithInformation,
        ServerBehaviour::WritesAfterReply,
    ] {
        let r = rows
            .iter()
            .find(|r| r.server == hostile)
            .unwrap_or_else(|| panic!("{hostile} reaches no check"));
        let honest = Case {
            server: ServerBehaviour::Honest,
            ..case(r)
        };
        let run = replay(&r.strategy, &honest, &mdlsim::Config::default());
        assert!(
            !run.findings
                .iter()
                .any(|f| f.kind == r.class && f.rule == r.rule && f.detail.contains(r.says)),
            "{hostile}: an honest server reaches the same check"
        );
    }
}
