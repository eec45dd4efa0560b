//! C strategies run through `verify`: a correct one passes, a broken one is caught with
//! its class (the negative control).

use mdlsim::oracle::BugClass;
use mdlsim::verify::{Config, verify};
use mdlsim_native::{Driver, NativeStrategy};

fn compile(name: &str) -> Driver {
    let path = format!("{}/tests/c/{name}.c", env!("CARGO_MANIFEST_DIR"));
    Driver::compile(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn config(cases: u32) -> Config {
    Config::default().cases(cases).no_regressions().ignore_env()
}

#[test]
fn a_bounce_buffer_in_c_passes() {
    let s = NativeStrategy::new(compile("bounce")).unwrap();
    if let Err(cx) = verify(&s, &config(300)) {
        panic!("{cx}");
    }
}

#[test]
fn mapping_the_request_straight_into_the_server_in_c_is_a_partial_page_exposure() {
    let s = NativeStrategy::new(compile("direct_map"))
        .unwrap()
        .expecting(BugClass::PartialPageExposure);
    let cx = verify(&s, &config(300)).expect_err("caught");
    assert!(
        cx.findings
            .iter()
            .any(|f| f.kind == BugClass::PartialPageExposure),
        "{cx}"
    );
}
