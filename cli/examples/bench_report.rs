//! Writes docs/performance.md and docs/performance.svg from criterion's estimates
//! (target/criterion) and the cost model. Run `cargo bench` first, then
//! `cargo run --release --example bench_report [CRITERION_DIR] [OUT_MD] [OUT_SVG]`.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/criterion".into()));
    let md = PathBuf::from(args.next().unwrap_or_else(|| "docs/performance.md".into()));
    let svg = PathBuf::from(args.next().unwrap_or_else(|| "docs/performance.svg".into()));
    mdlsim_cli::bench_report::run(&dir, &md, &svg)?;
    println!("wrote {} and {}", md.display(), svg.display());
    Ok(())
}
