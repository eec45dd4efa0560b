//! `splice`: arbitrary buffer geometry, direction, server and fault through HeadTailSplice
//! and PartialMdlSplit; any oracle finding or audit() violation panics. Inputs at the MDL
//! size limit are run and checked, but not kept in the corpus (`splice_keeps`).
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    if let Err(f) = mdlsim::fuzzing::splice(data) {
        panic!("{f}");
    }
    if mdlsim::fuzzing::splice_keeps(data) {
        Corpus::Keep
    } else {
        Corpus::Reject
    }
});
