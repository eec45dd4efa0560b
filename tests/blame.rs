//! The oracle's naming of a crash by its cause (`mdlsim::oracle::blame`), rule by rule,
//! on machines whose history holds the cause (a NULL return, a locked PFN array
//! rewritten, a mapping in another process) and faults built to probe each rule's edge.

mod common;

use common::*;
use mdlsim::addr::Va;
use mdlsim::bugcheck::{BugCheck, BugCheckCode};
use mdlsim::oracle::blame::fault_finding_in;
use mdlsim::oracle::{BugClass, Finding, fault_finding};
use mdlsim::{Fault, Machine, NtStatus};

/// A `PAGE_FAULT_IN_NONPAGED_AREA` at `va` (a read), explained by `detail`.
fn page_fault(va: u64, detail: &str) -> Fault {
    let code = BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA;
    Fault::BugCheck(BugCheck::new(code, [va, 0, 0, 0], detail))
}

/// Asserts that `f`'s detail says `text`.
fn says(f: &Finding, text: &str) {
    assert!(f.detail.contains(text), "{}", f.detail);
}

fn blamed(m: &Machine, f: &Fault) -> Finding {
    fault_finding_in(m, f, m.step(), 0, "test")
}

/// Rule 1: after a NULL return, an access below `MM_LOWEST_USER_ADDRESS` (0x10000) is the
/// NULL used, and the finding names the access; at 0x10000 itself it is not. A NULL MDL
/// dereferenced is the NULL used too, without an access to name.
#[test]
fn a_null_return_is_blamed_only_below_the_lowest_user_address() {
    let mut m = machine();
    let null = m.io_allocate_mdl(Va::new(0x10000), 0xFFFF_F001, false, false, None);
    assert_eq!(null.unwrap(), None);
    let near = blamed(&m, &page_fault(0x8, "x"));
    assert_eq!(near.kind, BugClass::ResourceFailureUnhandled);
    assert!(
        near.detail
            .ends_with("returned NULL at step 1 and the driver used it: a read at 0x8"),
        "{}",
        near.detail
    );
    let at_edge = blamed(&m, &page_fault(0x10000, "x"));
    assert_eq!(at_edge.kind, BugClass::OutOfBounds, "{}", at_edge.detail);
    let null_mdl = blamed(&m, &page_fault(0x8, "a NULL MDL dereferenced"));
    assert_eq!(null_mdl.kind, BugClass::ResourceFailureUnhandled);
    assert!(
        null_mdl.detail.ends_with("and the driver used it"),
        "{}",
        null_mdl.detail
    );
}

/// Rule 1 looks only at the routine's own history: a NULL a DDI returned before the routine
/// began (at a step before `since`) is another routine's, so a near-NULL access in this
/// one is not blamed on it.
#[test]
fn a_null_returned_before_the_routine_began_is_not_blamed() {
    let mut m = machine();
    let null = m.io_allocate_mdl(Va::new(0x10000), 0xFFFF_F001, false, false, None);
    assert_eq!(null.unwrap(), None);
    let mdl = m.io_allocate_mdl(Va::new(0x10000), 0x10, false, false, None);
    m.io_free_mdl(mdl.unwrap()).unwrap();
    let since = m.step();
    assert!(since > 1, "the NULL (step 1) is before the routine");
    let later = fault_finding_in(&m, &page_fault(0x8, "x"), m.step(), since, "test");
    assert!(!later.detail.contains("returned NULL"), "{}", later.detail);
    assert_ne!(later.kind, BugClass::ResourceFailureUnhandled);
    let same = fault_finding_in(&m, &page_fault(0x8, "x"), m.step(), 1, "test");
    assert_eq!(same.kind, BugClass::ResourceFailureUnhandled);
}

/// Rule 3 and its special-pool case: an access in the fake MDL region is span arithmetic
/// (the PFN array had room for fewer pages), or a use after complete when the bug check
/// says the MDL was freed.
#[test]
fn an_access_in_the_mdl_region_is_span_arithmetic_unless_the_mdl_was_freed() {
    let m = machine();
    let in_mdls = 0xFFFF_C000_0000_1000;
    let span = blamed(&m, &page_fault(in_mdls, "past the array"));
    assert_eq!(span.kind, BugClass::SpanArithmetic, "{}", span.detail);
    let freed = blamed(
        &m,
        &page_fault(in_mdls, "touched the MDL after it was freed"),
    );
    assert_eq!(freed.kind, BugClass::UseAfterComplete, "{}", freed.detail);
}

/// Rule 4: a 0x4E after the driver rewrote a locked MDL's PFN array is that MDL's own
/// corruption only when the bug check names it; another MDL's 0x4E, or another bug check
/// naming it, keeps the class of its code.
#[test]
fn a_pfn_list_corruption_is_blamed_on_the_rewritten_mdl_only_when_it_names_it() {
    let (mut m, _app, _buf, mdl) = locked();
    m.mdl_set_pfn(mdl, 0, 1).unwrap();
    assert!(m.blame().last_locked_array_write().is_some());
    let corrupt = |detail: String| {
        let code = BugCheckCode::PFN_LIST_CORRUPT;
        Fault::BugCheck(BugCheck::new(code, [7, 1, 0, 0], detail))
    };
    let own = blamed(&m, &corrupt(format!("unlock of {mdl}")));
    assert_eq!(own.kind, BugClass::MdlMutatedWhileMapped);
    let other = corrupt("unlock of another MDL".into());
    assert_eq!(blamed(&m, &other).kind, fault_finding(&other, 0, "").kind);
    let naming = Fault::BugCheck(BugCheck::new(
        BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [0x1000, 0, 0, 0],
        format!("{mdl}"),
    ));
    assert_eq!(blamed(&m, &naming).kind, fault_finding(&naming, 0, "").kind);
}

/// Rule 5: the mapping an access runs off is looked for in the access's own space: a
/// mapping just below the address in another process is not it.
#[test]
fn the_mapping_an_access_runs_off_is_in_its_own_space() {
    let (mut m, owner, _buf, mdl) = locked();
    let base = Va::new(0x20_0000_0000);
    m.switch_to(Some(owner)).unwrap();
    let got = map_u(&mut m, mdl, Some(base), mdlsim::mdl::priority::NORMAL).unwrap();
    assert!(got.is_some());
    let other = m.create_process("other").unwrap();
    m.switch_to(Some(other)).unwrap();
    let past = Va::new(base.raw() + 0x4000);
    let av = m.kernel_read(past, 8).unwrap_err();
    assert_eq!(av, Fault::Raise(NtStatus::ACCESS_VIOLATION));
    let f = blamed(&m, &av);
    assert_eq!(f.kind, BugClass::OutOfBounds);
    says(&f, "nothing the driver was given is mapped there");
    m.switch_to(Some(owner)).unwrap();
    let av = m.kernel_read(past, 8).unwrap_err();
    let f = blamed(&m, &av);
    let end = Va::new(base.raw() + 3 * 4096);
    says(
        &f,
        &format!("0x1000 bytes past the end of the mapping [{base}, {end}) of {mdl}"),
    );
    // Up to 1 MiB past the mapping's end (3 pages) the access runs off it; from there on,
    // nothing is mapped there.
    let end = end.raw();
    for (va, runs_off) in [(end + (1 << 20) - 8, true), (end + (1 << 20), false)] {
        let av = m.kernel_read(Va::new(va), 8).unwrap_err();
        let f = blamed(&m, &av);
        let said = f.detail.contains("past the end of the mapping");
        assert_eq!(said, runs_off, "{va:#x}: {}", f.detail);
    }
}

/// Reads the byte at `NULL + 0xA` (where a NULL MDL's `MdlFlags` would be) in `expose`,
/// whatever the request: what C code's `MmGetSystemAddressForMdlSafe(Irp->MdlAddress)`
/// does with a zero-length request's NULL MDL.
#[derive(Clone, Debug, Default)]
struct ReadsNullPlusA;

impl mdlsim::strategy::ProxyStrategy for ReadsNullPlusA {
    fn name(&self) -> String {
        "ReadsNullPlusA".into()
    }
    fn expose(
        &mut self,
        k: &mut mdlsim::Kernel<'_>,
        _io: &mdlsim::strategy::Io,
    ) -> mdlsim::Result<mdlsim::strategy::Exposure> {
        k.kernel_read(Va::new(0xA), 1)?;
        Ok(mdlsim::strategy::Exposure::Refused(NtStatus::UNSUCCESSFUL))
    }
    fn retire(
        &mut self,
        _k: &mut mdlsim::Kernel<'_>,
        _io: &mdlsim::strategy::Io,
        reply: mdlsim::strategy::ServerReply,
        _why: mdlsim::strategy::RetireReason,
    ) -> mdlsim::Result<mdlsim::strategy::Completion> {
        Ok(mdlsim::strategy::Completion {
            status: reply.status,
            information: 0,
        })
    }
}

/// Rule 1 with the request's own NULL: a near-NULL access on a zero-length request (whose
/// `Irp->MdlAddress` is NULL) is the zero-length path crashing; the same access on a
/// request with an MDL has no NULL to blame and runs off nothing (OutOfBounds).
#[test]
fn a_near_null_access_is_the_null_mdl_only_on_a_zero_length_request() {
    use mdlsim::verify::{Case, InjectedFault, ServerBehaviour, run_case};
    let kinds = |length: u32| {
        let case = Case {
            offset: 0,
            length,
            direction: mdlsim::strategy::Direction::Read,
            server: ServerBehaviour::Honest,
            fault: InjectedFault::None,
            seed: 0,
        };
        let run = run_case(&mut ReadsNullPlusA, &case, &mdlsim::Config::default(), None);
        run.findings.iter().map(|f| f.kind).collect::<Vec<_>>()
    };
    assert_eq!(kinds(0), vec![BugClass::ZeroLengthOrNullMdl]);
    assert_eq!(kinds(16), vec![BugClass::OutOfBounds]);
}
