//! A loop that never ends in driver code ends the call with a model error once the CPU
//! budget is used up, and the thread runs native code normally afterwards. (A test binary
//! of its own: the budget is process-wide.)

use mdlsim::{Config, Fault, Machine};
use mdlsim_native::{Driver, set_cpu_budget};
use std::time::Duration;

mod common;

#[test]
fn a_loop_that_never_ends_is_stopped_at_the_cpu_budget() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/runtime.c");
    let d = Driver::compile(path).unwrap_or_else(|e| panic!("{e}"));
    set_cpu_budget(Duration::from_millis(200));
    let mut m = Machine::new(Config::default()).unwrap();
    // SAFETY: the routine is `ULONG64 f(ULONG64)` in the C source.
    let r = unsafe { d.call(&mut m.kernel(), "Spin", 0) };
    match r {
        Err(Fault::Model(e)) => assert!(e.to_string().contains("CPU budget"), "{e}"),
        other => panic!("expected the budget's model error, got {other:?}"),
    }
    assert_eq!(
        // SAFETY: the routine is `ULONG64 f(ULONG64)` in the C source.
        unsafe { d.call(&mut m.kernel(), "Leave", 0) }.unwrap(),
        2,
        "runs again"
    );
}

/// The budget also ends a loop that spends most of its time in the model's `__try`
/// bookkeeping, and the `__try` it left open is closed in the model: a later raw user
/// read outside `__try` is judged as outside.
#[test]
fn a_loop_through_try_is_stopped_and_leaves_no_try_open() {
    use mdlsim::events::EventKind;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/runtime.c");
    let d = Driver::compile(path).unwrap_or_else(|e| panic!("{e}"));
    set_cpu_budget(Duration::from_millis(200));
    let (mut m, _, va) = common::app_with(1, b"x");
    // SAFETY: the routine is `ULONG64 f(ULONG64)` in the C source.
    let r = unsafe { d.call(&mut m.kernel(), "SpinInTry", 0) };
    assert!(matches!(r, Err(Fault::Model(_))), "{r:?}");
    let host = mdlsim_native::host_address(va).unwrap();
    assert_eq!(
        // SAFETY: the routine is `ULONG64 f(ULONG64)` in the C source.
        unsafe { d.call(&mut m.kernel(), "ReadBare", host) }.unwrap(),
        u64::from(b'x')
    );
    let outside = m
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::UserAccessOutsideTry)
        .count();
    assert_eq!(outside, 1, "the read is outside every __try");
}
