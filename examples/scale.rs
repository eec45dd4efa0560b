//! Issue 17's scale figures, one command: `audit()` per locked page at 1,000 and 100,000
//! locked pages; peak host memory and copy time with worst-case fragmented provenance
//! (byte-wise alternating origins); host page faults per 4 KiB of simulated work in a
//! steady state of harness cases.
//!
//! Run: `cargo run --release --example scale` (about half a minute). The provenance
//! figure runs in a child process of its own (`-- provenance`), so its peak resident set
//! is its own: the example runs itself again.

use mdlsim::addr::PAGE_SIZE;
use mdlsim::mdl::{AccessMode, LockOperation};
use mdlsim::space::Protection;
use mdlsim::strategy::{BounceCopy, HeadTailSplice, ProxyStrategyClone};
use mdlsim::verify::{Case, run_case};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Fault, Machine};
use std::time::Instant;

mod support;

/// Median seconds of `reps` runs of `f`.
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// A machine with `pages` user pages written and locked by MDLs of 4,096 pages each; the
/// median time of `audit()` over it, per locked page.
fn audit_per_page(pages: u64) -> Result<f64, Fault> {
    let mut m = Machine::new(Config::default().physical_memory((pages + 4096) * PAGE_SIZE * 2))?;
    let app = m.create_process("app")?;
    let len = pages * PAGE_SIZE;
    let buf = support::filled_buffer(&mut m, app, len, 0x5A)?;
    m.switch_to(Some(app))?;
    const PIECE: u64 = 4096 * PAGE_SIZE;
    let mut at = 0;
    while at < len {
        let n = (len - at).min(PIECE);
        let mdl = m
            .io_allocate_mdl(buf.wrapping_add(at), n as u32, false, false, None)?
            .ok_or(Fault::Status(mdlsim::NtStatus::INSUFFICIENT_RESOURCES))?;
        m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)?;
        at += n;
    }
    let mut violations = 0;
    let t = median_secs(7, || violations += m.audit().len());
    assert_eq!(violations, 0, "audit found violations");
    Ok(t / pages as f64)
}

/// The child process's figure: 8 MiB of user memory whose every byte alternates between
/// two origins; prints peak RSS growth ÷ touched bytes and the time to copy one such page.
fn provenance() -> Result<(), Fault> {
    const PAGES: u64 = 2048;
    let base_rss = support::status_bytes("VmRSS:");
    let mut m = Machine::new(Config::default().physical_memory(256 << 20).shadow(true))?;
    let app = m.create_process("app")?;
    let rw = Protection::ReadWrite;
    let a = m.virtual_alloc(app, None, PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)?;
    let b = m.virtual_alloc(app, None, PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)?;
    m.user_write(app, a, &[0xAA; PAGE_SIZE as usize])?;
    m.user_write(app, b, &[0xBB; PAGE_SIZE as usize])?;
    let dst = m.virtual_alloc(app, None, PAGES * PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)?;
    // Page 0: byte i from `a` for even i, from `b` for odd i (two origins, alternating).
    for i in 0..PAGE_SIZE {
        let src = if i % 2 == 0 { a } else { b };
        m.user_copy(app, dst.wrapping_add(i), src.wrapping_add(i), 1)?;
    }
    let mut copy_secs = Vec::new();
    for p in 1..PAGES {
        let t = Instant::now();
        m.user_copy(app, dst.wrapping_add(p * PAGE_SIZE), dst, PAGE_SIZE)?;
        copy_secs.push(t.elapsed().as_secs_f64());
    }
    copy_secs.sort_by(f64::total_cmp);
    let touched = m.frames_touched() * PAGE_SIZE;
    let peak = support::status_bytes("VmHWM:").saturating_sub(base_rss);
    println!(
        "| peak RSS ÷ touched bytes, byte-wise alternating origins ({} MiB of user memory, shadow on) | {:.2}× ({:.1} MiB over the process's start for {:.1} MiB touched) | ≤ 3× |",
        (PAGES * PAGE_SIZE) >> 20,
        peak as f64 / touched as f64,
        peak as f64 / 1048576.0,
        touched as f64 / 1048576.0
    );
    println!(
        "| copy of one such page (user_copy of 4 KiB), median | {:.1} µs | (context) |",
        copy_secs[copy_secs.len() / 2] * 1e6
    );
    Ok(())
}

/// Host page faults per 4 KiB of requested bytes over `cases`, after one warm-up pass.
fn faults_per_4k(strategy: &dyn ProxyStrategyClone, cases: &[Case]) -> f64 {
    let cfg = Config::default();
    let play = || {
        for c in cases {
            let mut s = strategy.clone_box();
            let _ = run_case(&mut s, c, &cfg, None);
        }
    };
    play();
    let f0 = support::minflt();
    play();
    let faults = support::minflt() - f0;
    let bytes: u64 = cases.iter().map(|c| c.length as u64).sum();
    faults as f64 / (bytes as f64 / PAGE_SIZE as f64)
}

fn main() -> Result<(), Fault> {
    if std::env::args().any(|a| a == "provenance") {
        return provenance();
    }
    println!("| figure | measured | target |\n|---|---|---|");
    let small = audit_per_page(1_000)?;
    let large = audit_per_page(100_000)?;
    println!(
        "| `audit()` per locked page, 1,000 vs 100,000 locked pages | {:.0} ns vs {:.0} ns: 1 : {:.2} | ≤ 1 : 1.3 |",
        small * 1e9,
        large * 1e9,
        large / small
    );
    let exe = std::env::current_exe().map_err(|e| {
        Fault::Model(mdlsim::ModelError::InvalidConfig(format!(
            "current_exe: {e}"
        )))
    })?;
    match std::process::Command::new(exe).arg("provenance").output() {
        Ok(o) => print!("{}", String::from_utf8_lossy(&o.stdout)),
        Err(e) => println!("| provenance figure | child failed: {e} | |"),
    }
    for bound in [4u32 << 10, 64 << 10] {
        let cases = support::random_cases(5_000, bound, 0x2545_F491_4F6C_DD1D);
        for s in [
            Box::new(BounceCopy::default()) as Box<dyn ProxyStrategyClone>,
            Box::new(HeadTailSplice::default()),
        ] {
            println!(
                "| host page faults per 4 KiB requested, steady state, {} cases <= {} KiB | {:.3} | ≈ 0 |",
                s.name(),
                bound >> 10,
                faults_per_4k(s.as_ref(), &cases)
            );
        }
    }
    Ok(())
}
