//! The server models: the server is modelled, not trusted ([design.md, "Strategies and the
//! harness"][design-strategies]: it reads and writes every byte of every page it is given).
//!
//! [design-strategies]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#strategies-and-the-harness

use crate::addr::{PAGE_SIZE, Va};
use crate::fault::{Fault, Result};
use crate::machine::Machine;
use crate::space::Pid;
use crate::status::NtStatus;
use crate::strategy::{Direction, ServerReply};
use serde::{Deserialize, Serialize};

/// How the user-mode server behaves with what it was shown.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum ServerBehaviour {
    /// Touches only the range: writes all of it for a READ, reads all of it for a WRITE.
    Honest,
    /// Reads every byte of every page it was given, then writes every byte of every page
    /// (faults on read-only pages are its own business), then does an honest transfer.
    Adversarial,
    /// Transfers half the bytes: `Information = length / 2`.
    Short,
    /// Transfers half the bytes, then exits mid-request (its cleanup retires the request).
    Crashing,
    /// Lies about the count: transfers every byte, then reports more than the request's
    /// length in `Information` — `length + 1`, `length + PAGE_SIZE` or `u64::MAX`,
    /// picked by the case's seed. A driver must clamp (`min(Information, length)`)
    /// before it copies back or completes.
    OverReporting,
    /// Succeeds having transferred nothing: `STATUS_SUCCESS` with `Information` 0.
    EmptySuccess,
    /// Transfers every byte, then fails the request (`STATUS_UNSUCCESSFUL`) with
    /// `Information` = length: an error status whose count is not 0.
    FailsWithInformation,
    /// An honest transfer and reply; then, after the driver has retired the request, it
    /// writes its whole view again and reads it back (faults are its own business): any
    /// view the driver left behind is still the server's to use.
    WritesAfterReply,
}

impl ServerBehaviour {
    /// Every behaviour, the four cooperative ones first, then the hostile ones.
    pub const ALL: [ServerBehaviour; 8] = [
        ServerBehaviour::Honest,
        ServerBehaviour::Adversarial,
        ServerBehaviour::Short,
        ServerBehaviour::Crashing,
        ServerBehaviour::OverReporting,
        ServerBehaviour::EmptySuccess,
        ServerBehaviour::FailsWithInformation,
        ServerBehaviour::WritesAfterReply,
    ];

    /// The stable name reports print (the variant's name).
    pub const fn as_str(self) -> &'static str {
        match self {
            ServerBehaviour::Honest => "Honest",
            ServerBehaviour::Adversarial => "Adversarial",
            ServerBehaviour::Short => "Short",
            ServerBehaviour::Crashing => "Crashing",
            ServerBehaviour::OverReporting => "OverReporting",
            ServerBehaviour::EmptySuccess => "EmptySuccess",
            ServerBehaviour::FailsWithInformation => "FailsWithInformation",
            ServerBehaviour::WritesAfterReply => "WritesAfterReply",
        }
    }
}

impl std::fmt::Display for ServerBehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `Information` an [`ServerBehaviour::OverReporting`] server claims for `len` bytes.
pub fn over_reported(len: u64, seed: u8) -> u64 {
    match seed % 3 {
        0 => len.saturating_add(1),
        1 => len.saturating_add(PAGE_SIZE),
        _ => u64::MAX,
    }
}

/// The byte the server writes at offset `i` of a READ: `0x80..=0xFF`, so never zero
/// and never a client byte. The pattern is position-unique: its 8-byte windows (in
/// practice) occur nowhere else in a machine's memory, so bytes a driver moved where the
/// model could not follow them (a native driver's copy loop, `mdlsim-native`) are traced
/// to their source by content; and a server byte copied over a client byte always
/// changes it, so no copy hides as an unchanged byte.
pub fn server_byte(seed: u8, i: u64) -> u8 {
    unique_byte(SERVER_KEY, seed, i)
}

/// The byte the client holds at offset `i` of its allocation: `0x01..=0x7F` (never zero,
/// never a server byte), position-unique as [`server_byte`]'s.
pub fn client_byte(seed: u8, i: u64) -> u8 {
    unique_byte(CLIENT_KEY, seed, i)
}

/// Keys of the two patterns ("SERVER", "CLIENT").
const SERVER_KEY: u64 = 0x5345_5256_4552_0000;
const CLIENT_KEY: u64 = 0x434C_4945_4E54_0000;

/// Eight pattern bytes: SplitMix64 (Steele, Lea and Flood's finaliser) of the key, the
/// seed and the block number.
fn pattern_word(key: u64, seed: u8, block: u64) -> [u8; 8] {
    let mut z = key ^ (u64::from(seed) << 8) ^ block.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).to_le_bytes()
}

/// A pattern byte of `key`'s range: the server's `0x80..=0xFF`, the client's
/// `0x01..=0x7F` (zero is what a zeroed page holds).
const fn in_range(key: u64, b: u8) -> u8 {
    if key == SERVER_KEY {
        b | 0x80
    } else if b & 0x7F == 0 {
        0x2A
    } else {
        b & 0x7F
    }
}

fn unique_byte(key: u64, seed: u8, i: u64) -> u8 {
    in_range(key, pattern_word(key, seed, i / 8)[(i % 8) as usize])
}

/// The first `n` bytes of a pattern, eight at a time.
fn unique_pattern(key: u64, seed: u8, n: u64) -> Vec<u8> {
    let mut out = vec![0u8; n as usize];
    for (block, chunk) in out.chunks_mut(8).enumerate() {
        let w = pattern_word(key, seed, block as u64);
        for (d, s) in chunk.iter_mut().zip(w) {
            *d = in_range(key, s);
        }
    }
    out
}

/// `server_byte(seed, 0..n)`.
pub(crate) fn server_pattern(seed: u8, n: u64) -> Vec<u8> {
    unique_pattern(SERVER_KEY, seed, n)
}

/// `client_byte(seed, 0..n)`.
pub(crate) fn client_pattern(seed: u8, n: u64) -> Vec<u8> {
    unique_pattern(CLIENT_KEY, seed, n)
}

fn tolerate<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Fault::Raise(_)) | Err(Fault::Status(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the server did: its reply, whether it crashed, and whether it goes on writing
/// its view after the reply ([`ServerBehaviour::WritesAfterReply`]).
pub(crate) struct ServerRun {
    pub reply: ServerReply,
    pub crashed: bool,
    pub writes_after_reply: bool,
}

fn transfer(
    m: &mut Machine,
    server: Pid,
    dir: Direction,
    va: Va,
    n: u64,
    seed: u8,
) -> Result<bool> {
    if n == 0 {
        return Ok(true);
    }
    Ok(match dir {
        Direction::Read => {
            let data = server_pattern(seed, n);
            tolerate(m.user_write(server, va, &data))?.is_some()
        }
        Direction::Write => tolerate(m.user_read(server, va, n))?.is_some(),
    })
}

/// Runs the server in its own context on `[va, va+len)`.
pub(crate) fn run_server(
    m: &mut Machine,
    server: Pid,
    behaviour: ServerBehaviour,
    dir: Direction,
    va: Va,
    len: u64,
    seed: u8,
) -> Result<ServerRun> {
    m.switch_to(Some(server))?;
    let reply = |status, information| ServerReply {
        status,
        information,
    };
    let ok = |n| reply(NtStatus::SUCCESS, n);
    let failed = reply(NtStatus::ACCESS_VIOLATION, 0);
    let mut run = ServerRun {
        reply: failed,
        crashed: false,
        writes_after_reply: false,
    };
    // The bytes it moves, and the reply it gives if moving them did not fault.
    let (n, claimed) = match behaviour {
        ServerBehaviour::Honest | ServerBehaviour::Adversarial => (len, ok(len)),
        ServerBehaviour::WritesAfterReply => {
            run.writes_after_reply = true;
            (len, ok(len))
        }
        ServerBehaviour::Short => (len / 2, ok(len / 2)),
        ServerBehaviour::Crashing => {
            transfer(m, server, dir, va, len / 2, seed)?;
            run.reply = CANCELLED;
            run.crashed = true;
            return Ok(run);
        }
        ServerBehaviour::OverReporting => (len, ok(over_reported(len, seed))),
        ServerBehaviour::EmptySuccess => (0, ok(0)),
        ServerBehaviour::FailsWithInformation => (len, reply(NtStatus::UNSUCCESSFUL, len)),
    };
    if behaviour == ServerBehaviour::Adversarial {
        touch_every_page(m, server, va, len)?;
    }
    if transfer(m, server, dir, va, n, seed)? {
        run.reply = claimed;
    }
    Ok(run)
}

/// The reply of a server that exited (or answers a cancelled request).
const CANCELLED: ServerReply = ServerReply {
    status: NtStatus::CANCELLED,
    information: 0,
};

/// An adversarial server reads every byte of every page it was given, then writes every
/// byte of every page (faults on read-only pages are its own business).
fn touch_every_page(m: &mut Machine, server: Pid, va: Va, len: u64) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let first = va.page_align();
    let pages = crate::addr::span_pages(va, len) as u64;
    for p in 0..pages {
        tolerate(m.user_read(server, first.wrapping_add(p * PAGE_SIZE), PAGE_SIZE))?;
    }
    let junk = vec![0xEEu8; PAGE_SIZE as usize];
    for p in 0..pages {
        tolerate(m.user_write(server, first.wrapping_add(p * PAGE_SIZE), &junk))?;
    }
    Ok(())
}

/// A [`ServerBehaviour::WritesAfterReply`] server's work after the reply: it writes
/// `0xAB` over its whole view and reads it back, in its own context (faults are its own
/// business: a driver that tore the view down leaves it nothing to touch).
pub(crate) fn write_after_reply(m: &mut Machine, server: Pid, va: Va, len: u64) -> Result<()> {
    if len == 0 || !m.process(server)?.is_alive() {
        return Ok(());
    }
    m.switch_to(Some(server))?;
    // Page by page: the view's length is the driver's word, not a size to allocate.
    let junk = [0xABu8; PAGE_SIZE as usize];
    let mut at = va;
    let end = va.raw().saturating_add(len);
    while at.raw() < end {
        let n = (PAGE_SIZE - at.byte_offset() as u64).min(end - at.raw());
        let wrote = tolerate(m.user_write(server, at, &junk[..n as usize]))?.is_some();
        if !wrote || tolerate(m.user_read(server, at, n))?.is_none() {
            break;
        }
        at = at.wrapping_add(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_their_bytes_one_by_one() {
        for n in [0u64, 1, 7, 8, 9, 250, 4096, 65_543] {
            for seed in [0u8, 7, 255] {
                let naive: Vec<u8> = (0..n).map(|i| client_byte(seed, i)).collect();
                assert_eq!(client_pattern(seed, n), naive, "n {n}");
                let naive: Vec<u8> = (0..n).map(|i| server_byte(seed, i)).collect();
                assert_eq!(server_pattern(seed, n), naive, "n {n}");
            }
        }
    }

    #[test]
    fn patterns_never_hold_zero_and_their_windows_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for seed in [0u8, 1] {
            let (c, s) = (client_pattern(seed, 1 << 16), server_pattern(seed, 1 << 16));
            assert!(c.iter().all(|b| (1..=0x7F).contains(b)), "client bytes");
            assert!(s.iter().all(|b| *b >= 0x80), "server bytes");
            for p in [c, s] {
                for w in p.windows(8).step_by(3) {
                    assert!(seen.insert(w.to_vec()), "a repeated 8-byte window");
                }
            }
        }
    }
}
