//! `irp`: arbitrary I/O workloads through the I/O manager, with cancellation, timers,
//! buffer frees and process/thread exits; a crash, an audit() violation, a request not
//! finished exactly once or anything left behind panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(f) = mdlsim::fuzzing::irp(data) {
        panic!("{f}");
    }
});
