//! Public proptest generators (feature `proptest`), so users compose their own
//! properties from the same dimensions [`super::verify`] explores.
//!
//! Offsets are biased to 0, 1, 512, `PAGE_SIZE - 1` and sector multiples; lengths to 0,
//! 1, `PAGE_SIZE - 1`, `PAGE_SIZE`, `PAGE_SIZE + 1`, page multiples and many pages —
//! where span bugs live ([design.md][design-generators]). Every generator shrinks toward its first, simplest
//! alternative.
//!
//! [design.md]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md
//! [design-generators]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#generators

use super::Config;
use super::case::{Case, InjectedFault};
use super::server::ServerBehaviour;
use crate::addr::PAGE_SIZE;
use crate::strategy::Direction;
use proptest::prelude::*;

const P: u32 = PAGE_SIZE as u32;

/// A buffer's offset in its page.
pub fn arb_offset() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(0u32),
        2 => Just(1u32),
        2 => Just(512u32),
        2 => Just(P - 1),
        2 => (1..8u32).prop_map(|k| k * 512),
        2 => 0..P,
    ]
}

/// A length up to `max` bytes.
pub fn arb_length(max: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => Just(0u32),
        2 => Just(1u32),
        2 => Just(P - 1),
        2 => Just(P),
        2 => Just(P + 1),
        2 => (2..=16u32).prop_map(|k| k * P),
        2 => (17..=64u32, 0..P).prop_map(|(k, r)| k * P + r),
        3 => 0..=max,
    ]
    .prop_map(move |l| l.min(max))
}

/// One of `dirs` (both when empty).
pub fn arb_direction(dirs: Vec<Direction>) -> impl Strategy<Value = Direction> {
    let dirs = if dirs.is_empty() {
        vec![Direction::Read, Direction::Write]
    } else {
        dirs
    };
    prop::sample::select(dirs)
}

/// One of `servers` (all when empty).
pub fn arb_server(servers: Vec<ServerBehaviour>) -> impl Strategy<Value = ServerBehaviour> {
    let servers = if servers.is_empty() {
        ServerBehaviour::ALL.to_vec()
    } else {
        servers
    };
    prop::sample::select(servers)
}

/// No fault half the time, else one of `faults` (none at all when empty).
pub fn arb_fault(faults: Vec<InjectedFault>) -> BoxedStrategy<InjectedFault> {
    let faults: Vec<InjectedFault> = faults
        .into_iter()
        .filter(|f| *f != InjectedFault::None)
        .collect();
    if faults.is_empty() {
        return Just(InjectedFault::None).boxed();
    }
    prop_oneof![1 => Just(InjectedFault::None), 1 => prop::sample::select(faults)].boxed()
}

/// A whole case within `config`'s dimensions.
pub fn arb_case(config: &Config) -> impl Strategy<Value = Case> + use<> {
    (
        arb_offset(),
        arb_length(config.max_length),
        arb_direction(config.directions.clone()),
        arb_server(config.servers.clone()),
        arb_fault(config.faults.clone()),
        any::<u8>(),
    )
        .prop_map(|(offset, length, direction, server, fault, seed)| Case {
            offset,
            length,
            direction,
            server,
            fault,
            seed,
        })
}
