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
    stream_byte(SERVER_KEY, seed_offset(seed) + i)
}

/// The byte the client holds at offset `i` of its allocation: `0x01..=0x7F` (never zero,
/// never a server byte), position-unique as [`server_byte`]'s.
pub fn client_byte(seed: u8, i: u64) -> u8 {
    stream_byte(CLIENT_KEY, seed_offset(seed) + i)
}

/// Keys of the two streams ("SERVER", "CLIENT").
const SERVER_KEY: u64 = 0x5345_5256_4552_0000;
const CLIENT_KEY: u64 = 0x434C_4945_4E54_0000;

/// Where seed `seed`'s pattern starts in its stream (a prime stride, so two seeds'
/// patterns are different windows of one stream).
const fn seed_offset(seed: u8) -> u64 {
    seed as u64 * 4099
}

/// Eight stream bytes, little-endian: SplitMix64's finaliser (Steele, Lea and Flood) of
/// the key and the block number, put in `key`'s byte range eight bytes at a time: the
/// server's bytes get their top bit set (`0x80..=0xFF`); the client's get it cleared, and
/// a byte left zero becomes `0x2A` (`0x01..=0x7F`; zero is what a zeroed page holds).
fn stream_word(key: u64, block: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut z = key ^ block.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if key == SERVER_KEY {
        return z | HIGH;
    }
    let low = z & !HIGH;
    // Each byte of `low` is at most 0x7F: adding 0x7F sets its top bit unless it is zero.
    let zero = !(low + !HIGH) & HIGH;
    low | ((zero >> 7) * 0x2A)
}

fn stream_byte(key: u64, i: u64) -> u8 {
    stream_word(key, i / 8).to_le_bytes()[(i % 8) as usize]
}

/// Stream bytes `[0, n)` of `key`, eight at a time.
fn stream_prefix(key: u64, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    let mut chunks = out.chunks_exact_mut(8);
    for (block, chunk) in (&mut chunks).enumerate() {
        chunk.copy_from_slice(&stream_word(key, block as u64).to_le_bytes());
    }
    let rest = chunks.into_remainder();
    let w = stream_word(key, (n / 8) as u64).to_le_bytes();
    rest.copy_from_slice(&w[..rest.len()]);
    out
}

/// The stream prefix each thread keeps per key (generated once, grown on demand): up to
/// this many bytes; a pattern reaching past it is generated for the call.
const CACHED_STREAM: u64 = 8 << 20;

thread_local! {
    static STREAMS: std::cell::RefCell<[Vec<u8>; 2]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new()])
    };
}

/// `n` bytes of `key`'s stream from `from`.
fn stream(key: u64, from: u64, n: u64) -> Vec<u8> {
    let end = from.saturating_add(n);
    if end > CACHED_STREAM {
        return (from..end).map(|i| stream_byte(key, i)).collect();
    }
    STREAMS.with(|s| {
        let mut s = s.borrow_mut();
        let cache = &mut s[usize::from(key == CLIENT_KEY)];
        if (cache.len() as u64) < end {
            // Grow to the next power of two (at most the cap), so growth is rare.
            let want = end.next_power_of_two().clamp(1 << 16, CACHED_STREAM);
            *cache = stream_prefix(key, want as usize);
        }
        cache[from as usize..end as usize].to_vec()
    })
}

/// `server_byte(seed, 0..n)`.
pub(crate) fn server_pattern(seed: u8, n: u64) -> Vec<u8> {
    stream(SERVER_KEY, seed_offset(seed), n)
}

/// `client_byte(seed, 0..n)`.
pub(crate) fn client_pattern(seed: u8, n: u64) -> Vec<u8> {
    stream(CLIENT_KEY, seed_offset(seed), n)
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
        for n in [0u64, 1, 7, 8, 9, 250, 4096, 65_543, (8 << 20) + 3] {
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
        // One case's memory holds one seed's client and server patterns.
        for seed in [0u8, 1, 255] {
            let mut seen = std::collections::HashSet::new();
            let (c, s) = (client_pattern(seed, 1 << 16), server_pattern(seed, 1 << 16));
            assert!(c.iter().all(|b| (1..=0x7F).contains(b)), "client bytes");
            assert!(s.iter().all(|b| *b >= 0x80), "server bytes");
            for p in [c, s] {
                for w in p.windows(8) {
                    assert!(seen.insert(w.to_vec()), "a repeated 8-byte window");
                }
            }
        }
    }
}
