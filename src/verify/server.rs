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

/// What the server did: its reply, and whether it crashed.
pub(crate) struct ServerRun {
    pub reply: ServerReply,
    pub crashed: bool,
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
    let ok = |n| ServerReply {
        status: NtStatus::SUCCESS,
        information: n,
    };
    let failed = ServerReply {
        status: NtStatus::ACCESS_VIOLATION,
        information: 0,
    };
    let run = match behaviour {
        ServerBehaviour::Honest => ServerRun {
            reply: if transfer(m, server, dir, va, len, seed)? {
                ok(len)
            } else {
                failed
            },
            crashed: false,
        },
        ServerBehaviour::Short => ServerRun {
            reply: if transfer(m, server, dir, va, len / 2, seed)? {
                ok(len / 2)
            } else {
                failed
            },
            crashed: false,
        },
        ServerBehaviour::Crashing => {
            transfer(m, server, dir, va, len / 2, seed)?;
            ServerRun {
                reply: ServerReply {
                    status: NtStatus::CANCELLED,
                    information: 0,
                },
                crashed: true,
            }
        }
        ServerBehaviour::Adversarial => {
            if len > 0 {
                let first = va.page_align();
                let pages = crate::addr::span_pages(va, len) as u64;
                for p in 0..pages {
                    tolerate(m.user_read(server, first.wrapping_add(p * PAGE_SIZE), PAGE_SIZE))?;
                }
                let junk = vec![0xEEu8; PAGE_SIZE as usize];
                for p in 0..pages {
                    tolerate(m.user_write(server, first.wrapping_add(p * PAGE_SIZE), &junk))?;
                }
            }
            ServerRun {
                reply: if transfer(m, server, dir, va, len, seed)? {
                    ok(len)
                } else {
                    failed
                },
                crashed: false,
            }
        }
    };
    Ok(run)
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
