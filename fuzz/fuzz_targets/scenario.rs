//! `scenario`: arbitrary bytes as a scenario file; parsing, replay, rendering and the
//! JSON round trip never panic, and a replay never breaks the model's invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(f) = mdlsim::fuzzing::scenario(data) {
        panic!("{f}");
    }
});
