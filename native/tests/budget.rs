//! A loop that never ends in driver code ends the call with a model error once the CPU
//! budget is used up, and the thread runs native code normally afterwards. (A test binary
//! of its own: the budget is process-wide.)

use mdlsim::{Config, Fault, Machine};
use mdlsim_native::{Driver, set_cpu_budget};
use std::time::Duration;

#[test]
fn a_loop_that_never_ends_is_stopped_at_the_cpu_budget() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/runtime.c");
    let d = Driver::compile(path).unwrap_or_else(|e| panic!("{e}"));
    set_cpu_budget(Duration::from_millis(200));
    let mut m = Machine::new(Config::default()).unwrap();
    let r = d.call(&mut m.kernel(), "Spin", 0);
    match r {
        Err(Fault::Model(e)) => assert!(e.to_string().contains("CPU budget"), "{e}"),
        other => panic!("expected the budget's model error, got {other:?}"),
    }
    assert_eq!(
        d.call(&mut m.kernel(), "Leave", 0).unwrap(),
        2,
        "runs again"
    );
}
