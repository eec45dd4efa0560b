//! Servers that lie (issue 13, item 2): a count larger than the request, success with
//! nothing transferred, an error with a count, writes after the reply. A driver that
//! trusts the server's `Information` is caught, with the class that names what it did;
//! every correct built-in clamps and passes against every hostile server.

use mdlsim::Kernel;
use mdlsim::addr::{PAGE_SIZE, Va, round_to_pages};
use mdlsim::fault::Result;
use mdlsim::mdl::priority;
use mdlsim::oracle::{BugClass, Rule};
use mdlsim::pool::{POOL_FLAG_NON_PAGED, tag};
use mdlsim::status::NtStatus;
use mdlsim::strategy::{
    BounceCopy, Completion, CopySmallMapLarge, Direction, Exposure, HeadTailSplice, Io,
    PartialMdlSplit, ProxyStrategy, RetireReason, ServerReply, map_into, nt_success, unmap_from,
};
use mdlsim::verify::server::over_reported;
use mdlsim::verify::{self, Case, Config, InjectedFault, ServerBehaviour, replay};

const TAG: u32 = tag(b"HosT");

const HOSTILE: [ServerBehaviour; 4] = [
    ServerBehaviour::OverReporting,
    ServerBehaviour::EmptySuccess,
    ServerBehaviour::FailsWithInformation,
    ServerBehaviour::WritesAfterReply,
];

/// A pool bounce buffer that trusts the server's count: `trust_copy` copies back
/// `Information` bytes (not `min(Information, length)`), `trust_count` completes with
/// the server's `Information` as it came.
#[derive(Clone, Default)]
struct TrustingBounce {
    trust_copy: bool,
    trust_count: bool,
    held: Option<(Va, mdlsim::MdlId, Va, Va)>, // pool, its MDL, server view, client system VA
}

impl ProxyStrategy for TrustingBounce {
    fn name(&self) -> String {
        format!(
            "TrustingBounce(copy: {}, count: {})",
            self.trust_copy, self.trust_count
        )
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        if io.mdl.is_none() {
            return Ok(Exposure::Mapped {
                va: Va::NULL,
                len: 0,
            });
        }
        let refused = Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(io.mdl, priority::NORMAL)? else {
            return refused;
        };
        let size = round_to_pages(len).unwrap_or(PAGE_SIZE);
        let Some(pool) = k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, TAG)? else {
            return refused;
        };
        let Some(bmdl) = k.io_allocate_mdl(pool, size as u32, false, false, None)? else {
            k.ex_free_pool_with_tag(pool, TAG)?;
            return refused;
        };
        k.mm_build_mdl_for_non_paged_pool(bmdl)?;
        if io.direction == Direction::Write {
            k.kernel_copy(pool, sys, len)?;
        }
        let writable = io.direction == Direction::Read;
        let Some(view) = map_into(k, io.server, bmdl, None, writable)? else {
            k.io_free_mdl(bmdl)?;
            k.ex_free_pool_with_tag(pool, TAG)?;
            return refused;
        };
        self.held = Some((pool, bmdl, view, sys));
        Ok(Exposure::Mapped { va: view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let ok = nt_success(reply.status);
        let clamped = reply.information.min(io.length as u64);
        if let Some((pool, bmdl, view, sys)) = self.held.take() {
            unmap_from(k, io.server, view, bmdl)?;
            let copy = if self.trust_copy {
                reply.information
            } else {
                clamped
            };
            let copied = if io.direction == Direction::Read && ok {
                k.kernel_copy(sys, pool, copy)
            } else {
                Ok(())
            };
            k.io_free_mdl(bmdl)?;
            k.ex_free_pool_with_tag(pool, TAG)?;
            copied?;
        }
        let count = if self.trust_count {
            reply.information
        } else {
            clamped
        };
        Ok(Completion {
            status: reply.status,
            information: if ok { count } else { 0 },
        })
    }
}

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
    verify::verify(&TrustingBounce::default(), &cfg).unwrap();
}

/// Negative control: passing an over-reporting server's count to the client is a
/// CopyBackError under the delivery rule, naming the count.
#[test]
fn an_unclamped_count_handed_to_the_client_is_caught() {
    let bad = TrustingBounce {
        trust_count: true,
        ..Default::default()
    };
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
    let bad = TrustingBounce {
        trust_copy: true,
        ..Default::default()
    };
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
