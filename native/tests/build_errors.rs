//! What a C driver that does not build, or is not what it is used as, gives: a
//! `BuildError` with the reason, never a panic or a crash.

use mdlsim::{Config, Fault, Machine};
use mdlsim_native::{BuildError, Driver, NativeStrategy};

fn path(name: &str) -> String {
    format!("{}/tests/c/bad/{name}.c", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_syntax_error_is_reported_with_the_compilers_diagnostics() {
    match Driver::compile(path("syntax_error")) {
        Err(BuildError::Compile { output, .. }) => {
            assert!(output.contains("syntax_error.c"), "{output}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn a_ddi_the_interface_lacks_is_a_compile_error_naming_it() {
    match Driver::compile(path("unknown_ddi")) {
        Err(BuildError::Compile { output, .. }) => {
            assert!(output.contains("IoCreateDeviceSecure"), "{output}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn a_missing_source_is_an_io_error() {
    let r = Driver::compile(path("no_such_file"));
    assert!(matches!(r, Err(BuildError::Io(..))), "{r:?}");
}

#[test]
fn a_driver_without_entry_points_is_no_strategy_but_its_routines_run() {
    let d = Driver::compile(path("no_entry_points")).unwrap();
    let mut m = Machine::new(Config::default()).unwrap();
    // SAFETY: the routine is `ULONG64 f(ULONG64)` in the C source.
    assert_eq!(
        unsafe { d.call(&mut m.kernel(), "Identity", 42) }.unwrap(),
        42
    );
    // SAFETY: no such symbol: the call is refused before any C code runs.
    let missing = unsafe { d.call(&mut m.kernel(), "NoSuchRoutine", 0) };
    assert!(matches!(missing, Err(Fault::Model(_))), "{missing:?}");
    assert!(matches!(NativeStrategy::new(d), Err(BuildError::Load(_))));
}
