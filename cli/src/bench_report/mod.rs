//! The benchmark report (issue 7): reads criterion's estimates and the cost model, and
//! writes `docs/performance.md` with a table per group, the figures against their
//! goals, the machine-independent [`Cost`] of every strategy, the projected crossover
//! sizes, and a log-log SVG plot of time per request against size.
//!
//! The strategies compared are the correct built-ins and, through [`run_with`] (what
//! `mdlsim bench-report` of a program's own `Cli` calls), the program's: their rows of the
//! criterion groups (`mdlsim::bench::StrategyBench`), their lines in the plot, their
//! counts and their crossovers against every other.
//!
//! Run it with `cargo run --release -- bench-report` after `cargo bench`.
//! Deterministic for given estimates: groups and rows are sorted by name.
//!
//! [`Cost`]: mdlsim::cost::Cost

mod costs;
mod figures;
mod plot;

use figures::find;

pub use costs::{COST_SIZES, costs};
pub use figures::{Figure, figures};
pub use plot::svg;

use mdlsim::strategy::{Direction, ProxyStrategyClone, correct_builtins};
use serde_json::Value;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// One benchmark's median, from criterion's `new/` directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Criterion's group id.
    pub group: String,
    /// The id within the group (`function/parameter`).
    pub id: String,
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
    /// Bytes per iteration, if the group set a byte throughput.
    pub bytes: Option<u64>,
    /// Elements per iteration, if the group set an element throughput.
    pub elements: Option<u64>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                if p.join("estimates.json").is_file() && p.join("benchmark.json").is_file() {
                    out.push(p);
                }
            } else {
                walk(&p, out)?;
            }
        }
    }
    Ok(())
}

fn read_json(p: &Path) -> io::Result<Value> {
    let s = std::fs::read_to_string(p)?;
    serde_json::from_str(&s).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Every estimate under `criterion_dir` (`target/criterion`), sorted by group and id.
///
/// # Errors
/// I/O errors reading the directory; malformed JSON.
pub fn read_estimates(criterion_dir: &Path) -> io::Result<Vec<Estimate>> {
    let mut dirs = Vec::new();
    walk(criterion_dir, &mut dirs)?;
    let mut out = Vec::new();
    for d in dirs {
        let b = read_json(&d.join("benchmark.json"))?;
        let e = read_json(&d.join("estimates.json"))?;
        let Some(median_ns) = e["median"]["point_estimate"].as_f64() else {
            continue;
        };
        let group = b["group_id"].as_str().unwrap_or_default().to_string();
        let mut id = b["function_id"].as_str().unwrap_or_default().to_string();
        if let Some(v) = b["value_str"].as_str() {
            if id.is_empty() {
                id = v.to_string();
            } else {
                id = format!("{id}/{v}");
            }
        }
        let t = &b["throughput"];
        out.push(Estimate {
            group,
            id,
            median_ns,
            bytes: t["Bytes"].as_u64().or_else(|| t["BytesDecimal"].as_u64()),
            elements: t["Elements"].as_u64(),
        });
    }
    out.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    Ok(out)
}

/// A duration in ns, human-readable.
fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub(crate) fn fmt_bytes(b: u64) -> String {
    if b >= 1 << 20 && b % (1 << 20) == 0 {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 && b % (1 << 10) == 0 {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

fn fmt_rate(per_s: f64, unit: &str) -> String {
    if per_s >= 1e9 {
        format!("{:.2} G{unit}/s", per_s / 1e9)
    } else if per_s >= 1e6 {
        format!("{:.2} M{unit}/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.2} K{unit}/s", per_s / 1e3)
    } else {
        format!("{per_s:.1} {unit}/s")
    }
}

/// A strategy's name without its parameter, as the benchmark ids have it.
fn short(s: &dyn ProxyStrategyClone) -> String {
    let n = s.name();
    n.split('(').next().unwrap_or(&n).trim().to_string()
}

pub(crate) fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::Read => "READ",
        Direction::Write => "WRITE",
    }
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The generated part of `docs/performance.md`, comparing `strategies` (their counts,
/// crossovers and lines; the figures and medians are every estimate's).
///
/// # Errors
/// A strategy's fault while measuring costs.
pub fn markdown(
    est: &[Estimate],
    svg_name: &str,
    strategies: &[Box<dyn ProxyStrategyClone>],
) -> mdlsim::Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "## Figures against the goals (issue 7)\n");
    let _ = writeln!(s, "| figure | measured | goal | met |\n|---|---|---|---|");
    for f in figures(est) {
        let v = if f.goal.contains(',') || f.name.contains("cases/s") {
            format!("{:.0}", f.value)
        } else {
            format!("{:.2}×", f.value)
        };
        let _ = writeln!(
            s,
            "| {} | {v} | {} | {} |",
            f.name,
            f.goal,
            if f.met { "yes" } else { "**no**" }
        );
    }
    s.push_str(&figures::per_byte_rows(est));
    let _ = writeln!(
        s,
        "\n## Time per request\n\nThe simulator's time on this host (criterion's medians), not a real kernel's: each strategy page-aligned with shadow memory off, READ and WRITE side by side, and a raw `copy_from_slice` of the same bytes (black, dashed). Lines are drawn widest first, so one lying on another shows as a thinner band inside it; each strategy has its own marker.\n\n![time per request against size]({svg_name})\n"
    );
    let _ = writeln!(s, "## Medians per group\n");
    let mut groups: Vec<&str> = est.iter().map(|e| e.group.as_str()).collect();
    groups.dedup();
    let mut groups_sorted: Vec<&str> = groups.clone();
    groups_sorted.sort_by_key(|g| {
        let size = est
            .iter()
            .find(|e| e.group == *g)
            .and_then(|e| e.bytes)
            .unwrap_or(0);
        let kind = g.rsplit_once('_').map(|(a, _)| a).unwrap_or(g);
        (kind.to_string(), size, g.to_string())
    });
    for g in groups_sorted {
        let rows: Vec<&Estimate> = est.iter().filter(|e| e.group == g).collect();
        let base = rows
            .iter()
            .find(|e| e.id.starts_with("memcpy") || e.id.starts_with("vm_memory"))
            .map(|e| e.median_ns);
        let _ = writeln!(s, "### {g}\n");
        let _ = writeln!(
            s,
            "| benchmark | median | throughput | ÷ baseline |\n|---|---|---|---|"
        );
        for e in rows {
            let thr = match (e.bytes, e.elements) {
                (Some(b), _) => fmt_rate(b as f64 / (e.median_ns / 1e9), "B"),
                (None, Some(n)) => fmt_rate(n as f64 / (e.median_ns / 1e9), "elem"),
                _ => String::new(),
            };
            let peer = if g == "address_space" {
                // Each model row against vm-memory's same operation and size.
                let (op, size) = (
                    if e.id.contains("write") {
                        "vm_memory_write_slice"
                    } else {
                        "vm_memory_read_slice"
                    },
                    e.id.rsplit('/').next().unwrap_or(""),
                );
                find(est, g, &format!("{op}/{size}")).map(|p| p.median_ns)
            } else {
                base
            };
            let r = peer
                .map(|p| format!("{:.2}×", e.median_ns / p))
                .unwrap_or_default();
            let _ = writeln!(s, "| {} | {} | {thr} | {r} |", e.id, fmt_ns(e.median_ns));
        }
        let _ = writeln!(s);
    }
    s.push_str(&costs::cost_section(strategies)?);
    Ok(s)
}

/// [`run_with`] the correct built-ins.
///
/// # Errors
/// As [`run_with`].
pub fn run(criterion_dir: &Path, out_md: &Path, out_svg: &Path) -> io::Result<()> {
    run_with(criterion_dir, out_md, out_svg, &correct_builtins())
}

/// Reads criterion's estimates under `criterion_dir`, writes the plot to `out_svg` and the
/// report to `out_md` (the hand-written preface above the `<!-- generated -->` marker in
/// an existing `out_md` is kept), comparing `strategies` (the built-ins and yours: give
/// [`correct_builtins`] and your own).
///
/// # Errors
/// I/O errors; no estimates at all under `criterion_dir` (`io::ErrorKind::NotFound`:
/// an empty report would replace the last one); a strategy's fault while measuring costs
/// (as `io::ErrorKind::Other`).
pub fn run_with(
    criterion_dir: &Path,
    out_md: &Path,
    out_svg: &Path,
    strategies: &[Box<dyn ProxyStrategyClone>],
) -> io::Result<()> {
    const MARK: &str =
        "<!-- generated by `cargo run --release --example bench_report`; edit above this line -->";
    let est = read_estimates(criterion_dir)?;
    if est.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: no criterion estimates there (run `cargo bench` first)",
                criterion_dir.display()
            ),
        ));
    }
    let names: Vec<String> = strategies.iter().map(|s| short(&**s)).collect();
    std::fs::write(out_svg, svg(&est, &names))?;
    let svg_name = out_svg
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "performance.svg".into());
    let body = markdown(&est, &svg_name, strategies).map_err(err)?;
    let preface = std::fs::read_to_string(out_md)
        .ok()
        .and_then(|old| old.split_once(MARK).map(|(p, _)| p.to_string()))
        .unwrap_or_else(|| "# Performance\n\n".into());
    std::fs::write(out_md, format!("{preface}{MARK}\n\n{body}"))
}
