//! C dispatch routines under the driver harness (`verify_driver`): an IOCTL handler in
//! C passes every hostile case, and each of its broken builds is caught with its class
//! (the negative controls). The driver's plain loads from user memory are traced
//! (`Driver::trace_accesses`), so a length loaded twice is a double fetch and a load
//! outside `__try` is caught on a page first touched inside it.

use mdlsim::io::ioctl::{FILE_ANY_ACCESS, METHOD_BUFFERED, METHOD_NEITHER, ctl_code};
use mdlsim::oracle::BugClass;
use mdlsim::verify::Config;
use mdlsim::verify_driver::{self, DriverUnderTest};
use mdlsim_native::{Driver, NativeDriver};

const IOCTL_VERSION: u32 = ctl_code(0x8000, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS);
const IOCTL_SUM: u32 = ctl_code(0x8000, 0x903, METHOD_NEITHER, FILE_ANY_ACCESS);
const IOCTL_SET: u32 = ctl_code(0x8000, 0x904, METHOD_NEITHER, FILE_ANY_ACCESS);

fn under_test(defines: &[&str]) -> DriverUnderTest {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/ioctl_driver.c");
    let d = Driver::compile_with(path, defines).unwrap_or_else(|e| panic!("{e}"));
    let code = NativeDriver::new(d).unwrap_or_else(|e| panic!("{e}"));
    DriverUnderTest::new("c-ioctl", code)
        .ioctl(IOCTL_VERSION, 0, 16)
        .ioctl(IOCTL_SUM, 64, 0)
        .ioctl(IOCTL_SET, 40, 0)
}

fn config() -> Config {
    Config::default().cases(300).seed(11).ignore_env()
}

#[test]
fn the_c_ioctl_handlers_pass_every_hostile_case() {
    if let Err(cx) = verify_driver::verify(&under_test(&[]), &config()) {
        panic!("{cx}");
    }
}

fn caught(defines: &[&str], class: BugClass) {
    let cx = verify_driver::verify(&under_test(defines), &config()).expect_err("caught");
    assert!(cx.findings.iter().any(|f| f.kind == class), "{cx}");
}

#[test]
fn information_past_what_was_written_is_caught() {
    caught(
        &["INFORMATION_IS_OUTPUT_LENGTH"],
        BugClass::KernelBytesToUser,
    );
}

#[test]
fn an_unprobed_method_neither_pointer_is_caught() {
    caught(&["NO_PROBE"], BugClass::UnprobedUserAccess);
}

#[test]
fn a_length_loaded_twice_from_user_memory_is_a_double_fetch() {
    caught(&["DOUBLE_FETCH"], BugClass::DoubleFetch);
}

/// The proof replays the case with the app's second thread writing the length at the
/// step of the second load: it must land between the two loads (the first validates the
/// old length, the second uses the new one, so the raced run succeeds) even when the
/// driver made a plain store before them that the model has not taken yet.
#[test]
fn the_double_fetch_proof_lands_between_the_two_loads_after_a_pending_store() {
    for defines in [&["DOUBLE_FETCH"][..], &["DOUBLE_FETCH", "STORE_FIRST"]] {
        let cx = verify_driver::verify(&under_test(defines), &config()).expect_err("caught");
        assert!(
            cx.findings.iter().any(|f| f.kind == BugClass::DoubleFetch),
            "{cx}"
        );
        let proof = cx.proof.clone().unwrap_or_default();
        assert!(
            proof.contains("raced: returned STATUS_SUCCESS"),
            "{defines:?}: {proof}"
        );
    }
}

#[test]
fn a_plain_load_after_the_try_block_is_caught_on_a_page_touched_inside_it() {
    caught(&["LOOP_OUTSIDE_TRY"], BugClass::UnprobedUserAccess);
}

#[test]
fn untraced_the_double_fetch_by_plain_loads_goes_unseen() {
    // Tracing off: each user page is judged on its first touch only and plain loads are
    // not logged, so this build passes (what `trace_accesses(false)` gives up).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/ioctl_driver.c");
    let d = Driver::compile_with(path, &["DOUBLE_FETCH"]).unwrap_or_else(|e| panic!("{e}"));
    let code = NativeDriver::new(d.trace_accesses(false)).unwrap_or_else(|e| panic!("{e}"));
    let t = DriverUnderTest::new("c-ioctl", code).ioctl(IOCTL_SET, 40, 0);
    assert!(verify_driver::verify(&t, &config()).is_ok());
}
