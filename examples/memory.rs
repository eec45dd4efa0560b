//! Peak host memory against touched simulated bytes (issue 7, "memory").
//!
//! A machine with 64 GiB of simulated RAM; a client process commits and writes a
//! 256 MiB buffer (every page touched); a driver locks and maps all of it. Frames
//! materialise lazily, so the host should hold about what was touched, not 64 GiB.
//!
//! Run: `cargo run --release --example memory` (it reads its own VmHWM from
//! /proc/self/status), or `/usr/bin/time -v cargo run --release --example memory`
//! for the kernel's view ("Maximum resident set size").

use mdlsim::mdl::{AccessMode, LockOperation, priority};
use mdlsim::space::Protection;
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Machine};

mod support;

const REQUEST: u64 = 256 << 20;

fn main() -> Result<(), mdlsim::Fault> {
    let shadow = std::env::args().all(|a| a != "--no-shadow");
    let mut m = Machine::new(Config::default().physical_memory(64 << 30).shadow(shadow))?;
    let app = m.create_process("client")?;
    let buf = m.virtual_alloc(
        app,
        None,
        REQUEST,
        MEM_COMMIT | MEM_RESERVE,
        Protection::ReadWrite,
    )?;
    let chunk = vec![0xC3u8; 1 << 20];
    for i in 0..REQUEST / chunk.len() as u64 {
        m.user_write(app, buf.wrapping_add(i * chunk.len() as u64), &chunk)?;
    }
    m.switch_to(Some(app))?;
    // One MDL describes at most ~32 MiB on amd64 (its descriptor must fit in 0xFFFF bytes),
    // so a driver locks a 256 MiB buffer as a chain of MDLs.
    const PIECE: u64 = 16 << 20;
    let mut mdls = Vec::new();
    let mut first_sys = None;
    for i in 0..REQUEST / PIECE {
        let mdl = m
            .io_allocate_mdl(
                buf.wrapping_add(i * PIECE),
                PIECE as u32,
                false,
                false,
                None,
            )?
            .ok_or(mdlsim::Fault::Status(
                mdlsim::NtStatus::INSUFFICIENT_RESOURCES,
            ))?;
        m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)?;
        let sys = m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)?;
        first_sys.get_or_insert(sys);
        mdls.push(mdl);
    }
    let sys = first_sys.flatten();
    let touched = m.frames_touched() * mdlsim::addr::PAGE_SIZE;
    let peak = support::status_bytes("VmHWM:");
    let budget = touched + touched / 4 + (32 << 20);
    println!(
        "simulated RAM      : {} GiB",
        (m.frames_total() * mdlsim::addr::PAGE_SIZE) >> 30
    );
    println!("shadow memory      : {}", if shadow { "on" } else { "off" });
    println!(
        "request            : {} MiB, mapped at {:?}",
        REQUEST >> 20,
        sys
    );
    println!(
        "touched simulated  : {:.1} MiB ({} frames)",
        touched as f64 / 1048576.0,
        m.frames_touched()
    );
    println!("peak host (VmHWM)  : {:.1} MiB", peak as f64 / 1048576.0);
    println!("budget 1.25x+32MiB : {:.1} MiB", budget as f64 / 1048576.0);
    println!("ratio peak/touched : {:.3}", peak as f64 / touched as f64);
    println!("within budget      : {}", peak <= budget);
    for mdl in mdls {
        m.mm_unlock_pages(mdl)?;
        m.io_free_mdl(mdl)?;
    }
    Ok(())
}
