//! `ops`: arbitrary `Op` sequences over the whole public API (several processes) through
//! the interpreter; a panic or an audit() violation after any step is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(f) = mdlsim::fuzzing::ops(data) {
        panic!("{f}");
    }
});
