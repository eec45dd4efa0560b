//! `splice`: arbitrary buffer geometry, direction, server and fault through HeadTailSplice
//! and PartialMdlSplit; any oracle finding or audit() violation panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(f) = mdlsim::fuzzing::splice(data) {
        panic!("{f}");
    }
});
