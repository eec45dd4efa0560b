//! Checked command-line values: case counts, seeds, job counts, memory limits (each
//! refused with a one-line message naming the accepted range).

/// The most cases per strategy and direction an audit runs: 500 times the default, about
/// five minutes for every strategy on two cores. More cases of one seed add little; a
/// longer search is better spent as several runs with different `--seed`s, each of which
/// stays reproducible.
pub const MAX_CASES: u32 = 1_000_000;

/// Whether `n` is a number of cases an audit runs; else what was expected.
///
/// # Errors
/// `n` is 0 (no cases prove nothing: every broken strategy would "pass") or above
/// [`MAX_CASES`].
pub fn check_cases(n: u32) -> Result<u32, String> {
    if (1..=MAX_CASES).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "expected 1..={MAX_CASES} cases per strategy and direction"
        ))
    }
}

/// Parses a number of cases (`--cases`, `MDLSIM_CASES`): a whole number in
/// 1..=[`MAX_CASES`].
///
/// # Errors
/// Not a whole number, or outside that range ([`check_cases`]).
pub fn parse_cases(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<i128>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("expected 1..={MAX_CASES} cases per strategy and direction"))
        .and_then(check_cases)
}

/// The smallest `--memory-limit`: 1 MiB (a few hundred frames; less cannot run a case).
pub const MIN_MEMORY_LIMIT: u64 = 1 << 20;

/// Parses a host-memory budget (`--memory-limit`): bytes, or a whole number with a
/// `K`, `M` or `G` suffix (binary units: `512M`, `2G`), at least [`MIN_MEMORY_LIMIT`].
///
/// # Errors
/// Not such a number, below 1 MiB, or past 2^64 - 1 bytes.
pub fn parse_memory_limit(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let bad = || format!("expected bytes or a number with K, M or G, at least 1M (got `{t}`)");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(1u64 << shift).ok_or_else(bad)?;
    if bytes < MIN_MEMORY_LIMIT {
        return Err(bad());
    }
    Ok(bytes)
}

/// Parses a generator seed (`--seed`, `MDLSIM_SEED`): a whole number that fits in 64 bits.
///
/// # Errors
/// Not a whole number in 0..=2^64-1.
pub fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a seed in 0..={}", u64::MAX))
}

/// Parses a number of worker threads (`--jobs`): at least 1; more than there are
/// strategy × direction runs is the same as one per run.
///
/// # Errors
/// Not a whole number, or 0.
pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected 1 or more worker threads (omit --jobs for one per core)".into()),
    }
}
