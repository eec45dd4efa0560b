//! Issue 7's copy ratios measured *interleaved*: each round times the model and its
//! baseline back to back in one process, and the figure is the median of the per-round
//! ratios. On a machine shared with other jobs this is much steadier than criterion
//! medians taken minutes apart (both sides of a round see the same load).
//!
//! Run: `cargo run --release --example copy_ratios` (about half a minute; `-- quick` for
//! fewer rounds). Prints, per figure, the median ratio and its interquartile range.
//!
//! * model read/write of 64 KiB by VA ÷ vm-memory `read_slice`/`write_slice`;
//! * BounceCopy 16 MiB (whole request, machine cloned outside the timing) ÷ one memcpy of
//!   16 MiB, and ÷ `raw_passes` (memset + 2 × memcpy of 16 MiB: the same passes, raw);
//! * per page, lock + map + unmap + unlock of 64 pages ÷ memcpy of 64 4 KiB pages;
//! * BounceCopy ÷ HeadTailSplice at 31 MiB (the largest request an MDL describes), the
//!   driver's work only (the server idle), as a speed-up.

use mdlsim::addr::PAGE_SIZE;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, priority};
use mdlsim::space::Protection;
use mdlsim::strategy::{BounceCopy, Direction, HeadTailSplice};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::workload::Prepared;
use mdlsim::{Config, Machine};
use std::hint::black_box;
use std::time::Instant;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Seconds `f` takes.
fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Per-round ratios of paired timings `(model, baseline)`: their median and quartiles, and
/// the ratio of the two sides' fastest rounds (each side's least-disturbed run), as
/// "m (q1–q3), min r".
fn summary(pairs: Vec<(f64, f64)>) -> String {
    let mut r: Vec<f64> = pairs.iter().map(|(a, b)| a / b).collect();
    r.sort_by(f64::total_cmp);
    let q = |p: f64| r[((r.len() - 1) as f64 * p).round() as usize];
    let min = |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).fold(f64::MAX, f64::min);
    let best = min(|p| p.0) / min(|p| p.1);
    format!(
        "{:.2}× ({:.2}–{:.2}) | {best:.2}×",
        q(0.5),
        q(0.25),
        q(0.75)
    )
}

fn va_vs_vm_memory(shadow: bool, rounds: usize) -> Result<(String, String), mdlsim::Fault> {
    const SIZE: usize = 64 << 10;
    const REPS: usize = 200;
    let mut m = Machine::new(Config::default().shadow(shadow))?;
    let app = m.create_process("app")?;
    let buf = m.virtual_alloc(
        app,
        None,
        1 << 20,
        MEM_COMMIT | MEM_RESERVE,
        Protection::ReadWrite,
    )?;
    m.user_write(app, buf, &vec![1u8; 1 << 20])?;
    let Ok(gm) = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]) else {
        return Err(mdlsim::Fault::Model(mdlsim::ModelError::InvalidConfig(
            "vm-memory mmap failed".into(),
        )));
    };
    let data = vec![0x77u8; SIZE];
    let mut out = vec![0u8; SIZE];
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut ok = Ok(());
        let a = time(|| {
            for _ in 0..REPS {
                if let Err(e) = m.user_read_into(app, buf, black_box(&mut out)) {
                    ok = Err(e);
                }
            }
        });
        let b = time(|| {
            for _ in 0..REPS {
                let _ = gm.read_slice(black_box(&mut out), GuestAddress(0));
            }
        });
        let c = time(|| {
            for _ in 0..REPS {
                if let Err(e) = m.user_write(app, buf, black_box(&data)) {
                    ok = Err(e);
                }
            }
        });
        let d = time(|| {
            for _ in 0..REPS {
                let _ = gm.write_slice(black_box(&data), GuestAddress(0));
            }
        });
        ok?;
        reads.push((a, b));
        writes.push((c, d));
    }
    Ok((summary(reads), summary(writes)))
}

fn bounce(dir: Direction, shadow: bool, rounds: usize) -> Result<(String, String), mdlsim::Fault> {
    const SIZE: usize = 16 << 20;
    let proto = Prepared::new(dir, SIZE as u64, 0, shadow)?;
    let src = vec![0xA5u8; SIZE];
    let mut pool = vec![0u8; SIZE];
    let mut dst = vec![0u8; SIZE];
    let (mut per_request, mut per_byte) = (Vec::new(), Vec::new());
    // Three rounds of warm-up (the host heap grows to its working size), then the rounds.
    for round in 0..rounds + 3 {
        let mut p = proto.clone();
        let mut s = BounceCopy::default();
        let mut r = Ok(());
        let a = time(|| {
            r = p.run(&mut s).map(|c| {
                black_box(c);
            })
        });
        r?;
        drop(p);
        let b = time(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        });
        let c = time(|| {
            pool.fill(0);
            black_box(&mut pool);
            pool.copy_from_slice(black_box(&src));
            dst.copy_from_slice(black_box(&pool));
            black_box(&dst);
        });
        if round >= 3 {
            per_request.push((a, b));
            per_byte.push((a, c));
        }
    }
    Ok((summary(per_request), summary(per_byte)))
}

fn splice_speedup(dir: Direction, rounds: usize) -> Result<String, mdlsim::Fault> {
    let proto = Prepared::new(dir, 31 << 20, 0, false)?;
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let (mut p, mut q) = (proto.clone(), proto.clone());
        let (mut b, mut h) = (BounceCopy::default(), HeadTailSplice::default());
        let (mut rb, mut rh) = (Ok(()), Ok(()));
        let tb = time(|| {
            rb = p.run_with(&mut b, false).map(|c| {
                black_box(c);
            })
        });
        let th = time(|| {
            rh = q.run_with(&mut h, false).map(|c| {
                black_box(c);
            })
        });
        rb?;
        rh?;
        ratios.push((tb, th));
    }
    Ok(summary(ratios))
}

fn lock_map(rounds: usize) -> Result<String, mdlsim::Fault> {
    const PAGES: u64 = 64;
    const REPS: usize = 100;
    let mut m = Machine::new(Config::default())?;
    let app = m.create_process("app")?;
    let len = PAGES * PAGE_SIZE;
    let buf = m.virtual_alloc(
        app,
        None,
        len,
        MEM_COMMIT | MEM_RESERVE,
        Protection::ReadWrite,
    )?;
    m.user_write(app, buf, &vec![0x5Au8; len as usize])?;
    m.switch_to(Some(app))?;
    let Some(mdl) = m.io_allocate_mdl(buf, len as u32, false, false, None)? else {
        return Err(mdlsim::Fault::Model(mdlsim::ModelError::InvalidConfig(
            "IoAllocateMdl returned NULL".into(),
        )));
    };
    let src = vec![0xA5u8; len as usize];
    let mut dst = vec![0u8; len as usize];
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let mut ok = Ok(());
        let a = time(|| {
            for _ in 0..REPS {
                let r = (|| {
                    m.mm_probe_and_lock_pages(
                        mdl,
                        AccessMode::UserMode,
                        LockOperation::IoWriteAccess,
                    )?;
                    let va = m.mm_map_locked_pages_specify_cache(
                        mdl,
                        AccessMode::KernelMode,
                        CacheType::Cached,
                        None,
                        false,
                        priority::NORMAL,
                    )?;
                    if let Some(va) = va {
                        m.mm_unmap_locked_pages(va, mdl)?;
                    }
                    m.mm_unlock_pages(mdl)
                })();
                if let Err(e) = r {
                    ok = Err(e);
                }
            }
        });
        ok?;
        let b = time(|| {
            for _ in 0..REPS {
                for (d, s) in dst
                    .chunks_exact_mut(PAGE_SIZE as usize)
                    .zip(src.chunks_exact(PAGE_SIZE as usize))
                {
                    d.copy_from_slice(black_box(s));
                }
                black_box(&dst);
            }
        });
        ratios.push((a, b));
    }
    Ok(summary(ratios))
}

fn main() -> Result<(), mdlsim::Fault> {
    let quick = std::env::args().any(|a| a == "quick");
    let (va_rounds, big_rounds) = if quick { (40, 10) } else { (200, 60) };
    println!(
        "| figure | median of per-round ratios (interquartile) | fastest ÷ fastest | goal |\n|---|---|---|---|"
    );
    for shadow in [false, true] {
        let sh = if shadow { "on" } else { "off" };
        let (r, w) = va_vs_vm_memory(shadow, va_rounds)?;
        let goal = if shadow { "(no goal)" } else { "≤ 1.0×" };
        println!(
            "| model read of 64 KiB by VA ÷ vm-memory read_slice, shadow {sh} | {r} | {goal} |"
        );
        println!(
            "| model write of 64 KiB by VA ÷ vm-memory write_slice, shadow {sh} | {w} | {goal} |"
        );
    }
    for (dir, d) in [(Direction::Read, "read"), (Direction::Write, "write")] {
        for shadow in [false, true] {
            let sh = if shadow { "on" } else { "off" };
            let goal = if shadow { "≤ 2.0×" } else { "≤ 1.2×" };
            let (req, byte) = bounce(dir, shadow, big_rounds)?;
            println!(
                "| BounceCopy 16 MiB {d}, shadow {sh}, per byte moved (÷ raw passes) | {byte} | {goal} |"
            );
            println!(
                "| BounceCopy 16 MiB {d}, shadow {sh}, per request (÷ one memcpy) | {req} | {goal} as written |"
            );
        }
    }
    println!(
        "| per page: lock + map + unmap + unlock ÷ memcpy of a 4 KiB page | {} | ≤ 1.0× |",
        lock_map(va_rounds)?
    );
    for (dir, d) in [(Direction::Read, "read"), (Direction::Write, "write")] {
        println!(
            "| HeadTailSplice speed-up over BounceCopy, 31 MiB {d}, driver's work only | {} | ≥ 20× |",
            splice_speedup(dir, big_rounds)?
        );
    }
    Ok(())
}
