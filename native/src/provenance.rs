//! Where bytes native code stored came from, decided by their content.
//!
//! The model follows provenance through its own routines: a `kernel_copy` (and so the C
//! runtime's `memcpy`) carries each byte's label to its destination. A byte a C loop
//! stores (`dst[i] = src[i]`) reaches the model only as a changed byte, found when native
//! code crosses back (`Mirror::take_stores`, in `src/mirror.rs`). Its source is recovered
//! from the bytes themselves. The data a case's actors hold is position-unique
//! (`mdlsim::verify::server::client_byte`: every 8-byte window occurs once), and native
//! code can only have read pages it touched in this call, so:
//!
//! * a run of zero bytes is a zeroing (label `Zero`, as `RtlZeroMemory`);
//! * a run of at least [`MIN_MATCH`] bytes found in a touched page is a copy from there
//!   (the model's `kernel_copy`: the labels travel, so a client byte outside the range
//!   that a loop copied into the server's view is still the client's, and the oracle
//!   sees the exposure);
//! * anything else is the driver's own fresh data (the model's `kernel_write`).
//!
//! A run shorter than [`MIN_MATCH`] cannot be told from a chance match, so it is fresh.
//! After each copy the destination is checked against what native code stored, and a
//! copy that would not reproduce it (its source changed meanwhile) is a fresh write
//! instead: the model always ends with native code's bytes.

use mdlsim::addr::{Pfn, Va};
use mdlsim::{Machine, Result};
use std::collections::HashMap;

/// The shortest run traced to a source: shorter ones match by chance too often.
pub const MIN_MATCH: usize = 4;

/// Candidates kept per 4-byte key (a page of one repeated byte offers thousands).
const CANDIDATES: usize = 64;

/// The pages native code could have read from, as the model holds them, joined into
/// runs of consecutive addresses (a copy crosses page boundaries) and indexed by their
/// 4-byte windows.
#[derive(Debug, Default)]
pub struct Sources {
    runs: Vec<(Va, Vec<u8>)>,
    index: HashMap<[u8; 4], Vec<(u32, u32)>>,
}

impl Sources {
    /// The pages `(va, frame)`, read from the model now. System addresses come first:
    /// of two mappings of one frame, a copy is traced to the kernel's.
    pub fn new(m: &Machine, pages: impl IntoIterator<Item = (Va, u64)>) -> Sources {
        let mut pages: Vec<(Va, u64)> = pages.into_iter().collect();
        pages.sort_by_key(|(va, _)| (va.is_user(), *va));
        pages.dedup_by_key(|(va, _)| *va);
        let mut s = Sources::default();
        for (va, pfn) in pages {
            let Some(bytes) = m.frame_bytes(Pfn::new(pfn)) else {
                continue;
            };
            match s.runs.last_mut() {
                Some((start, run))
                    if start.is_user() == va.is_user()
                        && start.wrapping_add(run.len() as u64) == va =>
                {
                    run.extend_from_slice(bytes)
                }
                _ => s.runs.push((va, bytes.to_vec())),
            }
        }
        for (i, (_, run)) in s.runs.iter().enumerate() {
            for (off, w) in run.windows(MIN_MATCH).enumerate() {
                let key = [w[0], w[1], w[2], w[3]];
                let c = s.index.entry(key).or_default();
                if c.len() < CANDIDATES {
                    c.push((i as u32, off as u32));
                }
            }
        }
        s
    }

    /// The longest prefix of `w` (at least [`MIN_MATCH`] bytes) found in one source run:
    /// its address and length.
    pub fn find(&self, w: &[u8]) -> Option<(Va, usize)> {
        let key: [u8; 4] = w.get(..MIN_MATCH)?.try_into().ok()?;
        let mut best: Option<(Va, usize)> = None;
        for &(i, off) in self.index.get(&key)? {
            let (va, run) = &self.runs[i as usize];
            let off = off as usize;
            let n = run[off..].iter().zip(w).take_while(|(a, b)| a == b).count();
            if best.is_none_or(|b| n > b.1) {
                best = Some((va.wrapping_add(off as u64), n));
            }
        }
        best.filter(|b| b.1 >= MIN_MATCH)
    }
}

/// Stores `w`, which native code wrote at `dst` (in the current context), into the
/// model by its content (module docs). A copy from a page whose loads were traced
/// (`traced(m, src)`: each load already made and logged) logs only its stores.
///
/// # Errors
/// What the model says of the writes (a crashed machine).
pub fn store(
    m: &mut Machine,
    sources: &Sources,
    dst: Va,
    w: &[u8],
    traced: &dyn Fn(&Machine, Va) -> bool,
) -> Result<()> {
    let mut fresh: Option<usize> = None;
    let mut p = 0;
    let flush = |m: &mut Machine, from: &mut Option<usize>, to: usize| -> Result<()> {
        if let Some(start) = from.take() {
            m.kernel_write(dst.wrapping_add(start as u64), &w[start..to])?;
        }
        Ok(())
    };
    while p < w.len() {
        let zeros = w[p..].iter().take_while(|b| **b == 0).count();
        if zeros > 0 {
            flush(m, &mut fresh, p)?;
            m.kernel_zero(dst.wrapping_add(p as u64), zeros as u64)?;
            p += zeros;
            continue;
        }
        match sources.find(&w[p..]) {
            Some((src, n)) => {
                flush(m, &mut fresh, p)?;
                let at = dst.wrapping_add(p as u64);
                if traced(m, src) {
                    m.kernel_copy_loaded(at, src, n as u64)?;
                } else {
                    m.kernel_copy(at, src, n as u64)?;
                }
                if m.peek(space_of(m, at), at, n as u64).as_deref() != Some(&w[p..p + n]) {
                    m.kernel_write(at, &w[p..p + n])?;
                }
                p += n;
            }
            None => {
                fresh.get_or_insert(p);
                p += 1;
            }
        }
    }
    flush(m, &mut fresh, p)
}

/// The address space a kernel-mode access at `va` resolves in now.
fn space_of(m: &Machine, va: Va) -> mdlsim::space::SpaceId {
    match (va.is_user(), m.current_process()) {
        (true, Some(pid)) => mdlsim::space::SpaceId::Process(pid),
        _ => mdlsim::space::SpaceId::System,
    }
}
