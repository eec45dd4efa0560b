//! The driver harness: the correct sample driver passes every hostile case, each of its
//! deliberate bugs is caught with its class (the negative controls), and the shrunk
//! counter-example replays.

use mdlsim::oracle::BugClass;
use mdlsim::verify::Config;
use mdlsim::verify_driver::sample::{DriverBug, IOCTL_GET, IOCTL_SET};
use mdlsim::verify_driver::{self, Buffer, DriverCase, Hostile, Place};

fn config(cases: u32) -> Config {
    Config::default().cases(cases).seed(11).ignore_env()
}

#[test]
fn the_correct_sample_driver_passes_every_hostile_case() {
    let dut = DriverBug::None.under_test();
    match verify_driver::verify(&dut, &config(10_000)) {
        Ok(r) => assert_eq!(r.cases, 10_000),
        Err(cx) => panic!("{cx}"),
    }
}

#[test]
fn each_sample_bug_is_caught_with_its_class() {
    for bug in DriverBug::ALL.into_iter().skip(1) {
        let expected = bug.expected().unwrap();
        let cx = verify_driver::verify(&bug.under_test(), &config(400))
            .expect_err(&format!("{bug:?} was not caught"));
        assert!(cx.has(expected), "{bug:?}: expected {expected}, got\n{cx}");
    }
}

#[test]
fn a_kernel_address_passed_to_an_unprobed_neither_handler_is_named() {
    let dut = DriverBug::NoProbe.under_test();
    let case = DriverCase {
        request: 0,
        input: Buffer {
            place: Place::Kernel,
            offset: 0,
            length: 16,
        },
        output: Buffer::NONE,
        hostile: Hostile::None,
        input_words: Vec::new(),
        seed: 0,
    };
    let run = verify_driver::run_case(&dut, &case, &mdlsim::Config::default(), true);
    let f = run
        .findings
        .iter()
        .find(|f| f.kind == BugClass::UnprobedUserAccess)
        .expect("caught");
    assert!(
        f.detail.contains("kernel address the caller passed"),
        "{}",
        f.detail
    );
    // The correct driver's probe raises instead: nothing is read, the request fails.
    let ok = run_correct(&case);
    assert!(ok.findings.is_empty(), "{:?}", ok.findings);
    assert_eq!(
        ok.io_status.map(|s| s.0),
        Some(mdlsim::NtStatus::ACCESS_VIOLATION)
    );
}

#[test]
fn information_past_what_was_written_discloses_stale_pool_bytes() {
    let dut = DriverBug::InformationPastWritten.under_test();
    let case = DriverCase {
        request: 1,
        input: Buffer::NONE,
        output: Buffer::user(0, 16),
        hostile: Hostile::None,
        input_words: Vec::new(),
        seed: 0,
    };
    let run = verify_driver::run_case(&dut, &case, &mdlsim::Config::default(), false);
    assert!(
        run.findings
            .iter()
            .any(|f| f.kind == BugClass::KernelBytesToUser && f.detail.contains("kernel secrets")),
        "{:?}",
        run.findings
    );
    let _ = IOCTL_GET;
}

#[test]
fn a_double_fetch_counterexample_carries_its_proof_and_replays() {
    let dut = DriverBug::DoubleFetch.under_test();
    let cx = verify_driver::verify(&dut, &config(400)).unwrap_err();
    assert!(cx.has(BugClass::DoubleFetch), "{cx}");
    let proof = cx.proof.as_deref().expect("a proof");
    assert!(proof.contains("second thread writes"), "{proof}");
    assert!(proof.contains("neither value gives"), "{proof}");
    assert!(!cx.calls.is_empty(), "the DDI calls are listed");
    let text = cx.to_string();
    assert!(
        text.contains("ProbeForRead") && text.contains("replay:"),
        "{text}"
    );
    let again = verify_driver::replay(&dut, &cx.to_json(), &mdlsim::Config::default()).unwrap();
    assert!(
        again
            .findings
            .iter()
            .any(|f| f.kind == BugClass::DoubleFetch)
    );
    let _ = IOCTL_SET;
}

/// Completes a read with `STATUS_UNSUCCESSFUL` but returns `STATUS_SUCCESS` for lengths
/// of 100..4096 bytes that are 7 modulo 19: no length of the edge sweep, so only the
/// generated cases (and the search that plays them on several threads) can find it.
#[derive(Debug)]
struct OddLengths;

impl mdlsim::io::Driver for OddLengths {
    fn dispatch(
        &self,
        k: &mut mdlsim::Kernel<'_>,
        _d: mdlsim::io::DeviceId,
        irp: mdlsim::io::IrpId,
    ) -> mdlsim::Result<mdlsim::NtStatus> {
        use mdlsim::NtStatus;
        let len = match k.io_get_current_irp_stack_location(irp)?.parameters {
            mdlsim::io::Parameters::Read { length, .. } => length,
            _ => 0,
        };
        let odd = (100..4096).contains(&len) && len % 19 == 7;
        k.irp_mut(irp)?.io_status = mdlsim::io::IoStatusBlock {
            status: if odd {
                NtStatus::UNSUCCESSFUL
            } else {
                NtStatus::SUCCESS
            },
            information: 0,
        };
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

#[test]
fn the_same_seed_finds_the_same_case_on_any_number_of_threads() {
    let dut = verify_driver::DriverUnderTest::new("odd", OddLengths)
        .buffered_io()
        .read();
    assert!(
        verify_driver::edge_cases(&dut)
            .iter()
            .all(
                |c| !verify_driver::run_case(&dut, c, &mdlsim::Config::default(), false)
                    .findings
                    .iter()
                    .any(|f| f.kind == BugClass::StatusInconsistent)
            ),
        "the edge sweep must not find it, or this test proves nothing about the search"
    );
    let one = verify_driver::verify(&dut, &config(2000).threads(1)).unwrap_err();
    let two = verify_driver::verify(&dut, &config(2000).threads(2)).unwrap_err();
    assert!(one.case_index.is_some() && !one.edge_sweep, "{one}");
    assert!(one.has(BugClass::StatusInconsistent), "{one}");
    assert_eq!(one.case_index, two.case_index);
    assert_eq!(one.case, two.case);
}

#[test]
fn both_buffers_at_the_top_of_user_space_are_played() {
    let top = Buffer {
        place: Place::TopOfUserSpace,
        offset: 0x800,
        length: 0x1000,
    };
    let case = DriverCase {
        request: 1,
        input: top,
        output: top,
        hostile: Hostile::None,
        input_words: Vec::new(),
        seed: 0,
    };
    let run = run_correct(&case);
    assert!(run.returned.is_some(), "{:?}", run.trace);
    assert!(run.findings.is_empty(), "{:?}", run.findings);
}

#[test]
fn the_correct_buffer_swapping_minifilter_passes() {
    use mdlsim::verify_driver::filter::FilterBug;
    match verify_driver::verify(&FilterBug::None.under_test(), &config(10_000)) {
        Ok(r) => assert_eq!(r.cases, 10_000),
        Err(cx) => panic!("{cx}"),
    }
}

#[test]
fn each_minifilter_bug_is_caught_with_its_class() {
    use mdlsim::verify_driver::filter::FilterBug;
    for bug in FilterBug::ALL.into_iter().skip(1) {
        let expected = bug.expected().unwrap();
        let cx = verify_driver::verify(&bug.under_test(), &config(400))
            .expect_err(&format!("{bug:?} was not caught"));
        assert!(cx.has(expected), "{bug:?}: expected {expected}, got\n{cx}");
    }
}

/// A METHOD_IN_DIRECT checksum: reads the caller's buffer through its MDL once
/// (`twice`: once for a length byte, then the whole buffer — a double fetch).
#[derive(Debug)]
struct Checksum {
    twice: bool,
}

const IOCTL_CHECKSUM: u32 = mdlsim::io::ioctl::ctl_code(
    0x8000,
    0x901,
    mdlsim::io::ioctl::METHOD_IN_DIRECT,
    mdlsim::io::ioctl::FILE_ANY_ACCESS,
);

impl mdlsim::io::Driver for Checksum {
    fn dispatch(
        &self,
        k: &mut mdlsim::Kernel<'_>,
        _d: mdlsim::io::DeviceId,
        irp: mdlsim::io::IrpId,
    ) -> mdlsim::Result<mdlsim::NtStatus> {
        use mdlsim::NtStatus;
        let mut info = 0;
        if let Some(mdl) = k.irp(irp)?.mdl_address {
            let len = k.mdl(mdl)?.byte_count as u64;
            if let Some(va) =
                k.mm_get_system_address_for_mdl_safe(mdl, mdlsim::mdl::priority::NORMAL)?
            {
                let n = if self.twice {
                    (k.kernel_read(va, 1)?[0] as u64).min(len)
                } else {
                    len
                };
                let sum: u64 = k.kernel_read(va, n)?.iter().map(|&b| b as u64).sum();
                info = (n * 7 + sum) % (len + 1);
            }
        }
        k.irp_mut(irp)?.io_status = mdlsim::io::IoStatusBlock {
            status: NtStatus::SUCCESS,
            information: info,
        };
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

/// The case CI's random seed found (2026-12-05): input and output of a METHOD_IN_DIRECT
/// request on the same caller byte. The I/O manager copies the input into the
/// SystemBuffer, then the driver reads the output's MDL once: not a double fetch.
fn overlapping_in_direct() -> DriverCase {
    let top = |length| Buffer {
        place: Place::TopOfUserSpace,
        offset: 8,
        length,
    };
    DriverCase {
        request: 0,
        input: top(1),
        output: top(64),
        hostile: Hostile::None,
        input_words: Vec::new(),
        seed: 0,
    }
}

/// The checksum device, and its run of [`overlapping_in_direct`].
fn checksum_overlapping(twice: bool) -> (verify_driver::DriverUnderTest, verify_driver::DriverRun) {
    let dut = verify_driver::DriverUnderTest::new("checksum", Checksum { twice })
        .direct_io()
        .ioctl(IOCTL_CHECKSUM, 1, 64);
    let case = overlapping_in_direct();
    let run = verify_driver::run_case(&dut, &case, &mdlsim::Config::default(), false);
    (dut, run)
}

#[test]
fn the_io_managers_capture_of_an_overlapping_input_is_not_the_drivers_first_fetch() {
    let (dut, run) = checksum_overlapping(false);
    assert!(run.returned.is_some(), "{:?}", run.trace);
    assert!(run.findings.is_empty(), "{:?}", run.findings);
    assert!(verify_driver::verify(&dut, &config(3000)).is_ok());
}

#[test]
fn a_driver_reading_its_mdl_twice_is_a_double_fetch_with_a_proof() {
    let (dut, run) = checksum_overlapping(true);
    assert!(
        run.findings.iter().any(|f| f.kind == BugClass::DoubleFetch),
        "{:?}",
        run.findings
    );
    let cx = verify_driver::verify(&dut, &config(400)).unwrap_err();
    assert!(cx.has(BugClass::DoubleFetch), "{cx}");
    let proof = cx.proof.as_deref().expect("a proof");
    assert!(proof.contains("neither value gives"), "{proof}");
}

/// The setter's request with a valid header (`{ 12, data }`), the app releasing its
/// buffer while the driver runs; the seed picks which of the driver's touches the
/// release precedes.
fn released_mid_dispatch(seed: u8) -> DriverCase {
    DriverCase {
        request: 0,
        input: Buffer {
            place: Place::User,
            offset: 0,
            length: 16,
        },
        output: Buffer::NONE,
        hostile: Hostile::FreeWhileDispatching,
        input_words: vec![12],
        seed,
    }
}

#[test]
fn a_buffer_released_between_two_reads_reaches_the_handlers_exception_path() {
    let cfg = mdlsim::Config::default();
    let leaky = DriverBug::LeaksOnException.under_test();
    // Released before the header read: the first __try fails, nothing was allocated.
    let early = verify_driver::run_case(&leaky, &released_mid_dispatch(0), &cfg, false);
    assert!(early.findings.is_empty(), "{:?}", early.findings);
    assert_eq!(
        early.io_status.map(|s| s.0),
        Some(mdlsim::NtStatus::ACCESS_VIOLATION)
    );
    // Released between the header and the data: the second __except leaks the block.
    let late = verify_driver::run_case(&leaky, &released_mid_dispatch(1), &cfg, false);
    assert!(
        late.trace
            .iter()
            .any(|l| l.contains("releases its buffers")),
        "{:?}",
        late.trace
    );
    assert!(
        late.findings
            .iter()
            .any(|f| f.kind == BugClass::ResourceLeak),
        "{:?}",
        late.findings
    );
    // The correct driver reads header and data in one __try before allocating: either
    // release makes the request fail cleanly.
    for seed in [0, 1] {
        let ok = run_correct(&released_mid_dispatch(seed));
        assert!(ok.findings.is_empty(), "seed {seed}: {:?}", ok.findings);
        assert_eq!(
            ok.io_status.map(|s| s.0),
            Some(mdlsim::NtStatus::ACCESS_VIOLATION),
            "seed {seed}"
        );
    }
}

#[test]
fn without_a_touch_while_dispatching_there_is_nothing_to_release_under_the_driver() {
    // The getter writes only its SystemBuffer: the caller's pages are never touched.
    let case = DriverCase {
        request: 1,
        input: Buffer::NONE,
        output: Buffer {
            place: Place::User,
            offset: 0,
            length: 16,
        },
        hostile: Hostile::FreeWhileDispatching,
        input_words: Vec::new(),
        seed: 0,
    };
    let run = run_correct(&case);
    assert!(
        run.trace.iter().any(|l| l.contains("nothing to release")),
        "{:?}",
        run.trace
    );
    assert!(run.findings.is_empty(), "{:?}", run.findings);
}

/// Plays `case` against the correct sample driver on a default machine.
fn run_correct(case: &DriverCase) -> verify_driver::DriverRun {
    verify_driver::run_case(
        &DriverBug::None.under_test(),
        case,
        &mdlsim::Config::default(),
        false,
    )
}
