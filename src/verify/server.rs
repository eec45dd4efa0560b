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

/// The byte the server writes at offset `i` of a READ (never zero).
pub fn server_byte(seed: u8, i: u64) -> u8 {
    ((i.wrapping_mul(7).wrapping_add(seed as u64 * 3 + 11)) % 251 + 1) as u8
}

/// The byte the client holds at offset `i` of its allocation (never zero).
pub fn client_byte(seed: u8, i: u64) -> u8 {
    ((i.wrapping_mul(13).wrapping_add(seed as u64 + 5)) % 251 + 1) as u8
}

/// `f(0), f(1), ... f(n-1)` for a pattern `f` of period 251 (both patterns above):
/// one period is computed, the rest copied (no per-byte division), doubling what is
/// there (a prefix whose length is a multiple of the period continues the pattern).
pub(crate) fn pattern(n: u64, f: impl Fn(u64) -> u8) -> Vec<u8> {
    let n = n as usize;
    let mut out = Vec::with_capacity(n);
    out.extend((0..251u64.min(n as u64)).map(f));
    while out.len() < n {
        let k = out.len().min(n - out.len());
        out.extend_from_within(..k);
    }
    out
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
            let data = pattern(n, |i| server_byte(seed, i));
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
    fn pattern_is_the_pattern_byte_by_byte() {
        for n in [0u64, 1, 250, 251, 252, 502, 503, 1000, 4096, 65_543] {
            for seed in [0u8, 7, 255] {
                let naive: Vec<u8> = (0..n).map(|i| client_byte(seed, i)).collect();
                assert_eq!(pattern(n, |i| client_byte(seed, i)), naive, "n {n}");
                let naive: Vec<u8> = (0..n).map(|i| server_byte(seed, i)).collect();
                assert_eq!(pattern(n, |i| server_byte(seed, i)), naive, "n {n}");
            }
        }
    }
}
