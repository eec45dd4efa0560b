//! Issue 17's two scaling figures, measured side by side in one run:
//!
//! * **map scale**: one-page kernel map + unmap (`MmMapLockedPagesSpecifyCache` +
//!   `MmUnmapLockedPages`) with 0, 1k, 10k and 60k other live MDL mappings (user mappings
//!   of another locked page), per call pair and as a ratio to the figure with none. The
//!   cache-conflict check once scanned every live mapping, so this grew linearly.
//! * **cache-type scale**: an 8,185-page map beside a live 8,185-page mapping of other
//!   frames with another cache type ÷ with the same one (the check was O(pages²)).
//! * **bounce sweep**: a whole BounceCopy READ request (machine cloned outside the timing)
//!   of 16 to 128 pages (and 4 and 16 MiB), in ns per page: a request whose frames come from fresh host
//!   memory pays a host page fault per 4 KiB.
//!
//! Run: `cargo run --release --example map_scale` (about 20 s; `-- quick` for fewer rounds; each bounce
//! size runs in a process of its own, this program run again with `-- pages N`).

use mdlsim::addr::PAGE_SIZE;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlId, priority};
use mdlsim::space::Protection;
use mdlsim::strategy::{BounceCopy, Direction};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::workload::Prepared;
use mdlsim::{Config, Fault, Machine, ModelError};
use std::hint::black_box;
use std::time::Instant;

/// A locked one-page MDL over a fresh page of the current process `m` runs in.
fn locked_page(m: &mut Machine, app: mdlsim::space::Pid) -> Result<MdlId, Fault> {
    let buf = m.virtual_alloc(
        app,
        None,
        PAGE_SIZE,
        MEM_COMMIT | MEM_RESERVE,
        Protection::ReadWrite,
    )?;
    m.user_write(app, buf, &[1])?;
    let Some(mdl) = m.io_allocate_mdl(buf, PAGE_SIZE as u32, false, false, None)? else {
        return Err(Fault::Model(ModelError::InvalidConfig(
            "IoAllocateMdl returned NULL".into(),
        )));
    };
    m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)?;
    Ok(mdl)
}

/// A machine with `live` user mappings of one locked page, and a second locked page to time.
fn machine_with(live: usize) -> Result<(Machine, MdlId), Fault> {
    let mut m = Machine::new(Config::default())?;
    let app = m.create_process("app")?;
    m.switch_to(Some(app))?;
    let held = locked_page(&mut m, app)?;
    let timed = locked_page(&mut m, app)?;
    for _ in 0..live {
        map(&mut m, held, AccessMode::UserMode, CacheType::Cached)?;
    }
    Ok((m, timed))
}

/// Seconds per map + unmap pair of `mdl`, over `reps` pairs.
fn map_unmap(m: &mut Machine, mdl: MdlId, reps: usize) -> Result<f64, Fault> {
    let t = Instant::now();
    for _ in 0..reps {
        if let Some(va) = map(m, mdl, AccessMode::KernelMode, CacheType::Cached)? {
            m.mm_unmap_locked_pages(black_box(va), mdl)?;
        }
    }
    Ok(t.elapsed().as_secs_f64() / reps as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn map_scale(rounds: usize) -> Result<(), Fault> {
    const LIVE: [usize; 4] = [0, 1_000, 10_000, 60_000];
    let mut machines = LIVE
        .iter()
        .map(|&n| machine_with(n))
        .collect::<Result<Vec<_>, _>>()?;
    // Rounds interleave the machines, so each ratio's two sides see the same load.
    let mut times = vec![Vec::new(); LIVE.len()];
    for _ in 0..rounds {
        for (i, (m, mdl)) in machines.iter_mut().enumerate() {
            times[i].push(map_unmap(m, *mdl, 200)?);
        }
    }
    let base = median(times[0].clone());
    println!("| live mappings | one-page map + unmap | ÷ with none |\n|---|---|---|");
    for (n, t) in LIVE.iter().zip(times) {
        let t = median(t);
        println!("| {n} | {:.2} µs | {:.2}× |", t * 1e6, t / base);
    }
    Ok(())
}

/// An 8,185-page kernel map + unmap (the largest MDL) made `NonCached` ÷ made `Cached`,
/// while another live 8,185-page mapping maps other frames `Cached`: no conflict either way,
/// but the scan compared every pair of frames of two mappings of different cache types.
fn conflict_scale(rounds: usize) -> Result<(), Fault> {
    const PAGES: u64 = 8185;
    let mut m = Machine::new(Config::default())?;
    let app = m.create_process("app")?;
    m.switch_to(Some(app))?;
    let len = PAGES * PAGE_SIZE;
    let mut mdls = Vec::new();
    for _ in 0..2 {
        let buf = m.virtual_alloc(
            app,
            None,
            len,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )?;
        m.user_write(app, buf, &vec![1u8; len as usize])?;
        let Some(mdl) = m.io_allocate_mdl(buf, len as u32, false, false, None)? else {
            return Err(invalid("IoAllocateMdl returned NULL".into()));
        };
        m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess)?;
        mdls.push(mdl);
    }
    map(&mut m, mdls[0], AccessMode::KernelMode, CacheType::Cached)?;
    let mut pairs = Vec::new();
    for _ in 0..rounds {
        let mut t = [0.0; 2];
        for (i, cache) in [CacheType::NonCached, CacheType::Cached]
            .into_iter()
            .enumerate()
        {
            let start = Instant::now();
            if let Some(va) = map(&mut m, mdls[1], AccessMode::KernelMode, cache)? {
                m.mm_unmap_locked_pages(va, mdls[1])?;
            }
            t[i] = start.elapsed().as_secs_f64();
        }
        pairs.push(t[0] / t[1]);
    }
    println!(
        "\n8,185-page map + unmap beside a live 8,185-page Cached mapping of other frames: NonCached ÷ Cached: {:.2}×",
        median(pairs)
    );
    Ok(())
}

/// `MmMapLockedPagesSpecifyCache(mdl, mode, cache, NULL, FALSE, NormalPagePriority)`.
fn map(
    m: &mut Machine,
    mdl: MdlId,
    mode: AccessMode,
    cache: CacheType,
) -> Result<Option<mdlsim::addr::Va>, Fault> {
    m.mm_map_locked_pages_specify_cache(mdl, mode, cache, None, false, priority::NORMAL)
}

/// Nanoseconds per page of a BounceCopy READ of `pages` pages: (median, fastest) over
/// `rounds` requests, each on a clone of one prepared machine (cloned outside the timing).
fn bounce(pages: u64, rounds: usize) -> Result<(f64, f64), Fault> {
    let proto = Prepared::new(Direction::Read, pages * PAGE_SIZE, 0, false)?;
    let mut t = Vec::new();
    for round in 0..rounds + 3 {
        let mut p = proto.clone();
        let mut s = BounceCopy::default();
        let start = Instant::now();
        black_box(p.run(&mut s)?);
        let secs = start.elapsed().as_secs_f64();
        drop(p);
        if round >= 3 {
            t.push(secs * 1e9 / pages as f64);
        }
    }
    let min = t.iter().copied().fold(f64::MAX, f64::min);
    Ok((median(t), min))
}

/// Each size in a process of its own (this program run again with `pages N`), as a test
/// binary or a campaign meets it: the host heap has seen no larger request before.
fn bounce_sweep(quick: bool) -> Result<(), Fault> {
    println!("\n| BounceCopy READ pages | ns per page (median) | fastest |\n|---|---|---|");
    let exe = std::env::current_exe().map_err(|e| invalid(e.to_string()))?;
    for pages in [16u64, 32, 48, 64, 96, 128, 1024, 4096] {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["pages", &pages.to_string()]);
        if quick {
            cmd.arg("quick");
        }
        let out = cmd.output().map_err(|e| invalid(e.to_string()))?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

fn invalid(why: String) -> Fault {
    Fault::Model(ModelError::InvalidConfig(why))
}

fn main() -> Result<(), Fault> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "quick");
    let rounds = if quick { 50 } else { 300 };
    if let Some(i) = args.iter().position(|a| a == "pages") {
        let pages: u64 = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid("pages N".into()))?;
        let (med, min) = bounce(pages, rounds)?;
        println!("| {pages} | {med:.0} | {min:.0} |");
        return Ok(());
    }
    map_scale(if quick { 5 } else { 15 })?;
    conflict_scale(if quick { 5 } else { 21 })?;
    bounce_sweep(quick)
}
