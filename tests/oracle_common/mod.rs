//! Helpers shared by the oracle's tests (tests/oracle.rs, tests/oracle_io.rs); each file uses a
//! subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use mdlsim::addr::PAGE_SIZE;
use mdlsim::strategy::{self, Direction, ProxyStrategyClone};
use mdlsim::verify::{Case, InjectedFault, ServerBehaviour};

pub const P: u32 = PAGE_SIZE as u32;

pub fn correct() -> Vec<Box<dyn ProxyStrategyClone>> {
    strategy::builtins()
        .into_iter()
        .filter(|s| s.expected().is_none())
        .collect()
}

pub fn broken() -> Vec<Box<dyn ProxyStrategyClone>> {
    strategy::builtins()
        .into_iter()
        .filter(|s| s.expected().is_some())
        .collect()
}

pub fn case(offset: u32, length: u32, direction: Direction, server: ServerBehaviour) -> Case {
    Case {
        offset,
        length,
        direction,
        server,
        fault: InjectedFault::None,
        seed: 9,
    }
}

/// The seed these tests were written against (the library's default draws a fresh one per
/// run; the results asserted here are those of this seed).
pub const SEED: u64 = 0x6d64_6c73_696d;
