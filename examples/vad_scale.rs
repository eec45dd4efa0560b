//! `NtAllocateVirtualMemory` with a `NULL` base as reservations accumulate: the first-fit
//! search starts from a hint, so the time per reservation stays flat (it walked every VAD,
//! 20,000 reservations 1.7 s and 50,000 15.5 s before).
//!
//! Run: `cargo run --release --example vad_scale`

use mdlsim::space::Protection;
use mdlsim::vm::MEM_RESERVE;
use mdlsim::{Config, Machine};
use std::time::Instant;

fn main() -> Result<(), mdlsim::Fault> {
    for n in [1_000u32, 20_000, 50_000] {
        let mut m = Machine::new(Config::default())?;
        let app = m.create_process("app")?;
        let t = Instant::now();
        for _ in 0..n {
            m.virtual_alloc(app, None, 4096, MEM_RESERVE, Protection::ReadWrite)?;
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{n:>6} reservations: {:>8.1} ms, {:>6.0} ns each",
            s * 1e3,
            s * 1e9 / n as f64
        );
    }
    Ok(())
}
