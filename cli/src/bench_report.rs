//! The benchmark report (issue 7): reads criterion's estimates and the cost model, and
//! writes `docs/performance.md` with a table per group, the issue's figures against their
//! goals, the machine-independent [`Cost`] of every strategy, the projected crossover
//! sizes, and a log-log SVG plot of time per request against size.
//!
//! Run it with `cargo run --release --example bench_report` after `cargo bench`.
//! Deterministic for given estimates: groups and rows are sorted by name.

use mdlsim::cost::{Cost, CostModel, Temperature};
use mdlsim::strategy::{
    BounceCopy, CopySmallMapLarge, Direction, HeadTailSplice, PartialMdlSplit, ProxyStrategyClone,
};
use mdlsim::workload::request_cost;
use serde_json::Value;
use std::collections::BTreeMap;
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

fn fmt_bytes(b: u64) -> String {
    if b >= 1 << 20 && b % (1 << 20) == 0 {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 && b % (1 << 10) == 0 {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

/// The label of the log-axis tick at 10^`decade` in a unit ladder of steps of 1000
/// (`["ns", "µs", "ms", "s"]`, `["B", "kB", "MB", "GB"]`): "1 kB", "10 kB", "100 kB",
/// "1 MB". At most six characters, so ticks one decade apart never overlap.
fn decade_label(decade: f64, units: &[&str]) -> String {
    let d = decade.round().max(0.0) as usize;
    let (step, rest) = (
        (d / 3).min(units.len() - 1),
        d.saturating_sub(3 * (units.len() - 1)),
    );
    let mantissa = if d / 3 >= units.len() - 1 {
        10u64.pow(rest as u32)
    } else {
        10u64.pow((d % 3) as u32)
    };
    format!("{mantissa} {}", units[step])
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

/// One of the issue's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// What is measured.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// The goal, as text (`≤ 1.2×`).
    pub goal: String,
    /// Whether the goal is met.
    pub met: bool,
}

fn find<'a>(est: &'a [Estimate], group: &str, id: &str) -> Option<&'a Estimate> {
    est.iter().find(|e| e.group == group && e.id == id)
}

fn ratio(est: &[Estimate], g: &str, a: &str, b: &str) -> Option<f64> {
    Some(find(est, g, a)?.median_ns / find(est, g, b)?.median_ns)
}

/// The issue's figures that the estimates contain (a figure is left out when one of its
/// benchmarks did not run).
pub fn figures(est: &[Estimate]) -> Vec<Figure> {
    let mut f = Vec::new();
    let mut push = |name: String, v: Option<f64>, goal: &str, met: fn(f64) -> bool| {
        if let Some(v) = v {
            f.push(Figure {
                name,
                value: v,
                goal: goal.into(),
                met: met(v),
            });
        }
    };
    for d in ["read", "write"] {
        let g = format!("strategies_{d}_16MiB");
        for sh in ["off", "on"] {
            let bounce = format!("BounceCopy/aligned_shadow_{sh}");
            let (goal, met): (&str, fn(f64) -> bool) = if sh == "off" {
                ("≤ 1.2×", |v| v <= 1.2)
            } else {
                ("≤ 2.0×", |v| v <= 2.0)
            };
            push(
                format!(
                    "BounceCopy 16 MiB {d}, shadow {sh}, per byte moved: ÷ `raw_passes` (the same three passes done raw: memset + 2 × memcpy of 16 MiB)"
                ),
                ratio(est, &g, &bounce, "raw_passes"),
                goal,
                met,
            );
            push(
                format!(
                    "BounceCopy 16 MiB {d}, shadow {sh}, per request: ÷ one memcpy of 16 MiB (the goal as written; three passes vs one)"
                ),
                ratio(est, &g, &bounce, "memcpy"),
                goal,
                met,
            );
        }
    }
    for (op, peer) in [
        ("write", "vm_memory_write_slice"),
        ("read", "vm_memory_read_slice"),
    ] {
        for sh in ["off", "on"] {
            push(
                format!("model {op} of 64 KiB by VA (shadow {sh}) ÷ vm-memory {peer}"),
                ratio(
                    est,
                    "address_space",
                    &format!("mdlsim_{op}_shadow_{sh}/65536"),
                    &format!("{peer}/65536"),
                ),
                if sh == "off" {
                    "≤ 1.0×"
                } else {
                    "(no goal)"
                },
                if sh == "off" { |v| v <= 1.0 } else { |_| true },
            );
        }
    }
    for d in ["read", "write"] {
        let g = format!("strategies_{d}_31MiB");
        push(
            format!(
                "HeadTailSplice speed-up over BounceCopy, 31 MiB {d}, driver's work only (server idle)"
            ),
            ratio(
                est,
                &g,
                "BounceCopy/aligned_shadow_off_driver_only",
                "HeadTailSplice/aligned_shadow_off_driver_only",
            ),
            "≥ 20×",
            |v| v >= 20.0,
        );
        push(
            format!(
                "HeadTailSplice speed-up over BounceCopy, 31 MiB {d}, whole request (server touches every byte)"
            ),
            ratio(
                est,
                &g,
                "BounceCopy/aligned_shadow_off",
                "HeadTailSplice/aligned_shadow_off",
            ),
            "≥ 20×",
            |v| v >= 20.0,
        );
    }
    push(
        "per page: lock + map + unmap + unlock ÷ memcpy of a 4 KiB page".into(),
        ratio(
            est,
            "primitives_per_page",
            "lock+map+unmap+unlock/64",
            "memcpy_4KiB_pages/64",
        ),
        "≤ 1.0×",
        |v| v <= 1.0,
    );
    for s in ["BounceCopy", "HeadTailSplice"] {
        let v = find(est, "verify", &format!("run_case/{s}"))
            .and_then(|e| Some(e.elements? as f64 / (e.median_ns / 1e9)));
        push(
            format!("run_case, requests ≤ 64 KiB, {s} (cases/s)"),
            v,
            "≥ 10,000",
            |v| v >= 10_000.0,
        );
    }
    let v = find(est, "verify", "verify/BounceCopy")
        .and_then(|e| Some(e.elements? as f64 / (e.median_ns / 1e9)));
    push(
        "verify(), requests ≤ 64 KiB, BounceCopy (cases/s)".into(),
        v,
        "≥ 10,000",
        |v| v >= 10_000.0,
    );
    f
}

/// The correct strategies, in report order.
fn correct() -> Vec<Box<dyn ProxyStrategyClone>> {
    vec![
        Box::new(BounceCopy::default()),
        Box::new(HeadTailSplice::default()),
        Box::new(PartialMdlSplit::default()),
        Box::new(CopySmallMapLarge::default()),
    ]
}

fn short(s: &dyn ProxyStrategyClone) -> String {
    let n = s.name();
    n.split('(').next().unwrap_or(&n).to_string()
}

/// Sizes the [`Cost`] table shows.
pub const COST_SIZES: [u64; 6] = [512, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 31 << 20];

/// Sizes the crossover search walks (one page to 31 MiB, doubling, plus 31 MiB).
fn crossover_sizes() -> Vec<u64> {
    let mut v: Vec<u64> = (0..=12).map(|k| 4096u64 << k).collect();
    v.push(31 << 20);
    v
}

/// The [`Cost`] of one request (shadow off, the buffer at byte `offset` of its first page)
/// per strategy, direction and size.
///
/// # Errors
/// A strategy's fault (none is expected of the correct strategies).
pub fn costs(
    sizes: &[u64],
    offset: u64,
) -> mdlsim::Result<BTreeMap<(String, Direction, u64), Cost>> {
    let mut out = BTreeMap::new();
    for s in correct() {
        for d in [Direction::Read, Direction::Write] {
            for &n in sizes {
                out.insert((short(&*s), d, n), request_cost(&s, d, n, offset, false)?);
            }
        }
    }
    Ok(out)
}

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::Read => "READ",
        Direction::Write => "WRITE",
    }
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Series for the plot: (label, dashed, points (bytes, ns)).
type Series = (String, bool, Vec<(u64, f64)>);

fn plot_series(est: &[Estimate]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for d in ["read", "write"] {
        for s in correct() {
            let name = short(&*s);
            let pts: Vec<(u64, f64)> = est
                .iter()
                .filter(|e| {
                    e.group.starts_with(&format!("strategies_{d}_"))
                        && e.id == format!("{name}/aligned_shadow_off")
                })
                .filter_map(|e| Some((e.bytes?, e.median_ns)))
                .collect();
            if !pts.is_empty() {
                out.push((format!("{name} {}", d.to_uppercase()), d == "write", pts));
            }
        }
    }
    let mut mem: Vec<(u64, f64)> = est
        .iter()
        .filter(|e| e.group.starts_with("strategies_read_") && e.id == "memcpy")
        .filter_map(|e| Some((e.bytes?, e.median_ns)))
        .collect();
    if !mem.is_empty() {
        mem.sort_by_key(|p| p.0);
        out.push(("memcpy".into(), false, mem));
    }
    for s in &mut out {
        s.2.sort_by_key(|p| p.0);
    }
    out
}

const COLOURS: [&str; 5] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#000000"];

/// A hand-written log-log SVG of time per request against size.
pub fn svg(est: &[Estimate]) -> String {
    let series = plot_series(est);
    let (w, h, l, r, t, b) = (760.0, 480.0, 80.0, 230.0, 30.0, 60.0);
    let pts = series.iter().flat_map(|s| s.2.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        let (x, y) = ((x as f64).log10(), y.max(1.0).log10());
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    if series.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="20" y="40">no strategy estimates found</text></svg>"#
        );
        return s;
    }
    let (x0, x1) = (x0.floor(), x1.ceil().max(x0.floor() + 1.0));
    let (y0, y1) = (y0.floor(), y1.ceil().max(y0.floor() + 1.0));
    let pw = w - l - r;
    let ph = h - t - b;
    let px = |x: f64| l + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| t + ph - (y - y0) / (y1 - y0) * ph;
    let _ = writeln!(
        s,
        r#"<rect x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let mut d = x0;
    while d <= x1 + 1e-9 {
        let x = px(d);
        let label = decade_label(d, &["B", "kB", "MB", "GB", "TB"]);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            t + ph,
            t + ph + 16.0,
            label.replace(' ', "&#160;")
        );
        d += 1.0;
    }
    let mut d = y0;
    while d <= y1 + 1e-9 {
        let y = py(d);
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            l + pw,
            l - 6.0,
            y + 4.0,
            decade_label(d, &["ns", "µs", "ms", "s"])
        );
        d += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">request size (bytes, log)</text>"#,
        l + pw / 2.0,
        h - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">median time per request (log)</text>"#,
        t + ph / 2.0,
        t + ph / 2.0
    );
    for (i, (name, dashed, p)) in series.iter().enumerate() {
        let c = if name == "memcpy" {
            COLOURS[4]
        } else {
            COLOURS[i % 4]
        };
        let dash = if *dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let path: Vec<String> = p
            .iter()
            .map(|&(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    px((x as f64).log10()),
                    py(y.max(1.0).log10())
                )
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2"{dash} points="{}"/>"#,
            path.join(" ")
        );
        for &(x, y) in p {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{c}"/>"#,
                px((x as f64).log10()),
                py(y.max(1.0).log10())
            );
        }
        let ly = t + 14.0 + i as f64 * 18.0;
        let lx = l + pw + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            lx + 28.0,
            lx + 34.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The generated part of `docs/performance.md`.
///
/// # Errors
/// A strategy's fault while measuring costs.
pub fn markdown(est: &[Estimate], svg_name: &str) -> mdlsim::Result<String> {
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
    // Per byte copied, as the counts have it: the request's `Cost.bytes_copied` plus the
    // server's touch of every byte, against one memcpy of that many bytes (the pool's
    // zeroing, a memset, is the third pass and is not counted here).
    for (d, dir) in [("read", Direction::Read), ("write", Direction::Write)] {
        let g = format!("strategies_{d}_16MiB");
        let size = 16u64 << 20;
        let Ok(c) = request_cost(&BounceCopy::default(), dir, size, 0, false) else {
            continue;
        };
        let scale = (c.bytes_copied + size) as f64 / size as f64;
        for sh in ["off", "on"] {
            if let Some(r) = ratio(
                est,
                &g,
                &format!("BounceCopy/aligned_shadow_{sh}"),
                "memcpy",
            ) {
                let _ = writeln!(
                    s,
                    "| BounceCopy 16 MiB {d}, shadow {sh}, per byte copied: ÷ memcpy of `Cost.bytes_copied` + the server's touch ({scale:.1}× the request; the zeroing pass not counted) | {:.2}× | (context) | |",
                    r / scale
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\n## Time per request\n\nStrategies page-aligned, shadow off (READ solid, WRITE dashed), and a raw `copy_from_slice` of the same bytes (black).\n\n![time per request against size]({svg_name})\n"
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
    s.push_str(&cost_section()?);
    Ok(s)
}

fn cost_section() -> mdlsim::Result<String> {
    let mut s = String::new();
    let model = CostModel::default();
    let _ = writeln!(
        s,
        "## Counts per request (machine-independent)\n\nOne request, from the I/O manager's probe-and-lock to completion, from `Machine::counters()` differences (`mdlsim::workload::request_cost`); projected times from `CostModel::default()` ([design.md](design.md#cost-model)'s prices). Page-aligned buffers, then buffers at offset 512 (partial first and last pages: the splicing strategies' substitutes).\n"
    );
    for (offset, title) in [(0u64, "page-aligned"), (512, "offset 512")] {
        let table = costs(&COST_SIZES, offset)?;
        let _ = writeln!(
            s,
            "### {title}\n\n| strategy | dir | size | bytes copied | pages locked | system PTEs | user PTEs | pool pages | substitutes | projected hot | projected cold |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for ((name, d, n), c) in &table {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} µs | {:.2} µs |",
                dir_name(*d),
                fmt_bytes(*n),
                c.bytes_copied,
                c.pages_locked,
                c.system_ptes_written,
                c.user_ptes_written,
                c.pool_pages_used,
                c.substitutes_allocated,
                c.project_us(&model, Temperature::Hot),
                c.project_us(&model, Temperature::Cold)
            );
        }
        let _ = writeln!(s);
    }
    let sizes = crossover_sizes();
    let grid = costs(&sizes, 0)?;
    let _ = writeln!(
        s,
        "## Projected crossovers\n\nThe smallest size (of 4 KiB, 8 KiB, ... 16 MiB, 31 MiB) from which the first strategy is projected faster than the second, with copies hot or cold; \"never\" when it does not win up to 31 MiB.\n"
    );
    let _ = writeln!(
        s,
        "| faster | than | dir | hot | cold |\n|---|---|---|---|---|"
    );
    let names: Vec<String> = correct().iter().map(|s| short(&**s)).collect();
    for a in &names {
        for b in &names {
            if a == b {
                continue;
            }
            for d in [Direction::Read, Direction::Write] {
                let grid = &grid;
                let get = |n: String| {
                    move |size: u64| {
                        grid.get(&(n.clone(), d, size))
                            .map(|c| c.counters)
                            .unwrap_or_default()
                    }
                };
                let x = |t| {
                    model
                        .crossover(sizes.iter().copied(), t, get(a.clone()), get(b.clone()))
                        .map(fmt_bytes)
                        .unwrap_or_else(|| "never".into())
                };
                let _ = writeln!(
                    s,
                    "| {a} | {b} | {} | {} | {} |",
                    dir_name(d),
                    x(Temperature::Hot),
                    x(Temperature::Cold)
                );
            }
        }
    }
    Ok(s)
}

/// Reads criterion's estimates under `criterion_dir`, writes the plot to `out_svg` and the
/// report to `out_md` (the hand-written preface above the `<!-- generated -->` marker in
/// an existing `out_md` is kept).
///
/// # Errors
/// I/O errors; no estimates at all under `criterion_dir` (`io::ErrorKind::NotFound`:
/// an empty report would replace the last one); a strategy's fault while measuring costs
/// (as `io::ErrorKind::Other`).
pub fn run(criterion_dir: &Path, out_md: &Path, out_svg: &Path) -> io::Result<()> {
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
    std::fs::write(out_svg, svg(&est))?;
    let svg_name = out_svg
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "performance.svg".into());
    let body = markdown(&est, &svg_name).map_err(err)?;
    let preface = std::fs::read_to_string(out_md)
        .ok()
        .and_then(|old| old.split_once(MARK).map(|(p, _)| p.to_string()))
        .unwrap_or_else(|| "# Performance\n\n".into());
    std::fs::write(out_md, format!("{preface}{MARK}\n\n{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(group: &str, id: &str, ns: f64, bytes: Option<u64>) -> Estimate {
        Estimate {
            group: group.into(),
            id: id.into(),
            median_ns: ns,
            bytes,
            elements: None,
        }
    }

    #[test]
    fn figures_compare_against_their_goals() {
        let est = vec![
            e(
                "strategies_read_16MiB",
                "BounceCopy/aligned_shadow_off",
                110.0,
                Some(16 << 20),
            ),
            e("strategies_read_16MiB", "memcpy", 100.0, Some(16 << 20)),
        ];
        let f = figures(&est);
        assert_eq!(f.len(), 1);
        assert!((f[0].value - 1.1).abs() < 1e-9 && f[0].met);
        let est = vec![
            e(
                "strategies_read_16MiB",
                "BounceCopy/aligned_shadow_off",
                130.0,
                Some(16 << 20),
            ),
            e("strategies_read_16MiB", "memcpy", 100.0, Some(16 << 20)),
        ];
        assert!(!figures(&est)[0].met);
    }

    #[test]
    fn axis_tick_labels_do_not_overlap() {
        assert_eq!(decade_label(2.0, &["B", "kB", "MB"]), "100 B");
        assert_eq!(decade_label(3.0, &["B", "kB", "MB"]), "1 kB");
        assert_eq!(decade_label(8.0, &["B", "kB", "MB"]), "100 MB");
        assert_eq!(decade_label(10.0, &["ns", "µs", "ms", "s"]), "10 s");
        // Every strategy size from 512 B to 31 MiB, times from 10 ns to 1 s.
        let mut est = Vec::new();
        for (i, size) in [512u64, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 31 << 20]
            .into_iter()
            .enumerate()
        {
            let g = format!("strategies_read_{size}");
            est.push(e(&g, "memcpy", 10.0 * 10f64.powi(i as i32), Some(size)));
            est.push(e(&g, "BounceCopy/aligned_shadow_off", 1e9, Some(size)));
        }
        let s = svg(&est);
        // x-axis labels: `text-anchor="middle"` on one baseline; width ~7 px a character
        // at font-size 12 (the widest glyphs of these labels are digits and units).
        let mut ticks: Vec<(f64, usize)> = s
            .lines()
            .filter(|l| l.contains(r#"text-anchor="middle">"#) && l.contains("<line"))
            .filter_map(|l| {
                let t = l.split("<text x=\"").nth(1)?;
                let x: f64 = t.split('"').next()?.parse().ok()?;
                let label = t.split('>').nth(1)?.split('<').next()?;
                Some((x, label.replace("&#160;", " ").chars().count()))
            })
            .collect();
        ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(ticks.len() >= 6, "{ticks:?}");
        for w in ticks.windows(2) {
            let need = (w[0].1 + w[1].1) as f64 * 7.0 / 2.0 + 6.0;
            assert!(w[1].0 - w[0].0 >= need, "x ticks overlap: {w:?}");
        }
        // Negative control: the old labels, full byte counts ("10000000 B", "100000000 B"),
        // need more room than a decade has here, which is how they overlapped.
        let gap = ticks[1].0 - ticks[0].0;
        assert!(gap < (10 + 11) as f64 * 7.0 / 2.0 + 6.0, "{gap}");
    }

    #[test]
    fn svg_plots_every_series_and_survives_no_data() {
        let est = vec![
            e(
                "strategies_read_4KiB",
                "BounceCopy/aligned_shadow_off",
                900.0,
                Some(4096),
            ),
            e(
                "strategies_read_1MiB",
                "BounceCopy/aligned_shadow_off",
                90_000.0,
                Some(1 << 20),
            ),
            e("strategies_read_4KiB", "memcpy", 100.0, Some(4096)),
        ];
        let s = svg(&est);
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(svg(&[]).contains("no strategy estimates"));
    }
}
