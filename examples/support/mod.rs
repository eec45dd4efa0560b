//! What the measuring examples share: the host's counters for this process (Linux
//! `/proc`), and uniformly random harness cases.
//!
//! Included by each example with `mod support;` (a directory with `mod.rs`, so Cargo does
//! not take it for an example of its own); not every example uses every item.
#![allow(dead_code)]

use mdlsim::strategy::Direction;
use mdlsim::verify::{Case, InjectedFault, ServerBehaviour};

/// Fields of `/proc/{path}/stat` after the command name's closing parenthesis (field 3,
/// the state, is index 0); empty where the file is not there.
fn stat_fields(path: &str) -> Vec<String> {
    let s = std::fs::read_to_string(format!("/proc/{path}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map_or("", |r| r.1);
    rest.split_whitespace().map(str::to_owned).collect()
}

/// utime + stime (fields 14 and 15) of `/proc/{path}/stat`, in seconds.
fn cpu_of(path: &str) -> Option<f64> {
    let f = stat_fields(path);
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// This thread's CPU time in seconds.
pub fn thread_cpu_seconds() -> Option<f64> {
    cpu_of("thread-self")
}

/// This process's CPU time (all threads) in seconds.
pub fn process_cpu_seconds() -> Option<f64> {
    cpu_of("self")
}

/// Host page faults this process has taken (`minflt`, field 10); 0 where unknown.
pub fn minflt() -> u64 {
    stat_fields("self")
        .get(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// A `/proc/self/status` field (`"VmHWM:"`, `"VmRSS:"`) in bytes; 0 where unknown.
pub fn status_bytes(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .map_or(0, |k| k * 1024)
}

/// `n` uniformly random cases from `seed` (xorshift64): length uniform in `0..=bound`,
/// page offset in `0..4096`, direction, server behaviour and injected fault uniform.
pub fn random_cases(n: usize, bound: u32, seed: u64) -> Vec<Case> {
    let mut x: u64 = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| Case {
            length: (next() % (bound as u64 + 1)) as u32,
            offset: (next() % 4096) as u32,
            direction: if next() % 2 == 0 {
                Direction::Read
            } else {
                Direction::Write
            },
            server: ServerBehaviour::ALL[(next() % ServerBehaviour::ALL.len() as u64) as usize],
            fault: InjectedFault::ALL[(next() % InjectedFault::ALL.len() as u64) as usize],
            seed: next() as u8,
        })
        .collect()
}

/// Commits `len` bytes of read-write memory in `app` and writes `fill` to every byte (in
/// 1 MiB pieces), so every page is materialised; returns its address.
pub fn filled_buffer(
    m: &mut mdlsim::Machine,
    app: mdlsim::ids::Pid,
    len: u64,
    fill: u8,
) -> Result<mdlsim::addr::Va, mdlsim::Fault> {
    use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
    let rw = mdlsim::space::Protection::ReadWrite;
    let buf = m.virtual_alloc(app, None, len, MEM_COMMIT | MEM_RESERVE, rw)?;
    let chunk = vec![fill; len.min(1 << 20) as usize];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(chunk.len() as u64);
        m.user_write(app, buf.wrapping_add(at), &chunk[..n as usize])?;
        at += n;
    }
    Ok(buf)
}
