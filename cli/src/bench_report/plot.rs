//! The plot of `docs/performance.md`: time per request against size, log-log, READ and
//! WRITE side by side, as the simulator runs on the host (a hand-written SVG).

use super::Estimate;
use std::fmt::Write as _;

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

/// One line of the plot.
struct Series {
    /// The strategy's short name, or `memcpy`.
    name: String,
    /// 0 for READ, 1 for WRITE.
    panel: usize,
    /// Its place among the strategies (colour, marker, width); `None` for memcpy.
    rank: Option<usize>,
    /// (bytes, median ns), by size.
    points: Vec<(u64, f64)>,
}

/// The strategies the estimates hold (`NAME/aligned_shadow_off` in a `strategies_` group):
/// `first` in its order, then any other by name.
fn strategy_names(est: &[Estimate], first: &[String]) -> Vec<String> {
    let mut found: Vec<String> = est
        .iter()
        .filter(|e| e.group.starts_with("strategies_"))
        .filter_map(|e| e.id.strip_suffix("/aligned_shadow_off").map(str::to_string))
        .collect();
    found.sort();
    found.dedup();
    let mut out: Vec<String> = first
        .iter()
        .filter(|n| found.contains(n))
        .cloned()
        .collect();
    out.extend(found.into_iter().filter(|n| !first.contains(n)));
    out
}

fn plot_series(est: &[Estimate], first: &[String]) -> (Vec<Series>, usize) {
    let names = strategy_names(est, first);
    let mut out = Vec::new();
    for (panel, d) in ["read", "write"].into_iter().enumerate() {
        let prefix = format!("strategies_{d}_");
        let points = |id: &str| {
            let mut p: Vec<(u64, f64)> = est
                .iter()
                .filter(|e| e.group.starts_with(&prefix) && e.id == id)
                .filter_map(|e| Some((e.bytes?, e.median_ns)))
                .collect();
            p.sort_by_key(|p| p.0);
            p
        };
        for (rank, name) in names.iter().enumerate() {
            let pts = points(&format!("{name}/aligned_shadow_off"));
            if !pts.is_empty() {
                out.push(Series {
                    name: name.clone(),
                    panel,
                    rank: Some(rank),
                    points: pts,
                });
            }
        }
        let mem = points("memcpy");
        if !mem.is_empty() {
            out.push(Series {
                name: "memcpy".into(),
                panel,
                rank: None,
                points: mem,
            });
        }
    }
    (out, names.len())
}

const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// The stroke width of the strategy of `rank` among `n`: the first widest, each next one
/// narrower, so a line drawn over another shows as a band inside it and hides nothing.
fn width(rank: usize, n: usize) -> f64 {
    2.5 + 2.0 * (n.saturating_sub(rank + 1)) as f64
}

/// A marker of shape `rank % 5` at (x, y), radius `r`.
fn marker(rank: usize, x: f64, y: f64, r: f64, colour: &str) -> String {
    let poly = |pts: &[(f64, f64)]| {
        let p: Vec<String> = pts
            .iter()
            .map(|(a, b)| format!("{:.1},{:.1}", x + a * r, y + b * r))
            .collect();
        format!(
            r#"<polygon points="{}" fill="{colour}" stroke="white" stroke-width="0.8"/>"#,
            p.join(" ")
        )
    };
    match rank % 5 {
        0 => format!(
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}" fill="{colour}" stroke="white" stroke-width="0.8"/>"#
        ),
        1 => poly(&[(-0.9, -0.9), (0.9, -0.9), (0.9, 0.9), (-0.9, 0.9)]),
        2 => poly(&[(0.0, -1.2), (1.1, 0.8), (-1.1, 0.8)]),
        3 => poly(&[(0.0, -1.3), (1.1, 0.0), (0.0, 1.3), (-1.1, 0.0)]),
        _ => poly(&[(-1.1, -0.8), (1.1, -0.8), (0.0, 1.2)]),
    }
}

/// Geometry of the two panels.
struct Frame {
    /// Left edge of each panel.
    left: [f64; 2],
    top: f64,
    pw: f64,
    ph: f64,
    /// Decades shown: x (bytes) and y (ns), from and to.
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, panel: usize, bytes: u64) -> f64 {
        self.left[panel] + ((bytes as f64).log10() - self.x.0) / (self.x.1 - self.x.0) * self.pw
    }
    fn py(&self, ns: f64) -> f64 {
        self.top + self.ph - (ns.max(1.0).log10() - self.y.0) / (self.y.1 - self.y.0) * self.ph
    }
}

fn frame(series: &[Series]) -> Frame {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in series.iter().flat_map(|s| s.points.iter()) {
        let (x, y) = ((x as f64).log10(), y.max(1.0).log10());
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let (x0, y0) = (x0.floor(), y0.floor());
    Frame {
        left: [90.0, 500.0],
        top: 86.0,
        pw: 340.0,
        ph: 380.0,
        x: (x0, x1.ceil().max(x0 + 1.0)),
        y: (y0, y1.ceil().max(y0 + 1.0)),
    }
}

/// The axes, grid and tick labels of both panels, and the axis titles.
fn axes(s: &mut String, f: &Frame) {
    for (panel, title) in [
        "READ (the server writes the client's buffer)",
        "WRITE (the server reads it)",
    ]
    .into_iter()
    .enumerate()
    {
        let l = f.left[panel];
        let _ = writeln!(
            s,
            r#"<rect x="{l}" y="{}" width="{}" height="{}" fill="none" stroke="black"/>"#,
            f.top, f.pw, f.ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{title}</text>"#,
            l + f.pw / 2.0,
            f.top - 8.0
        );
        let mut d = f.x.0;
        while d <= f.x.1 + 1e-9 {
            let x = l + (d - f.x.0) / (f.x.1 - f.x.0) * f.pw;
            let label = decade_label(d, &["B", "kB", "MB", "GB", "TB"]);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                f.top,
                f.top + f.ph,
                f.top + f.ph + 16.0,
                label.replace(' ', "&#160;")
            );
            d += 1.0;
        }
        let mut d = f.y.0;
        while d <= f.y.1 + 1e-9 {
            let y = f.top + f.ph - (d - f.y.0) / (f.y.1 - f.y.0) * f.ph;
            let _ = writeln!(
                s,
                r##"<line x1="{l}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                l + f.pw,
                l - 6.0,
                y + 4.0,
                decade_label(d, &["ns", "µs", "ms", "s"])
            );
            d += 1.0;
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">request size (bytes, log scale)</text>"#,
            l + f.pw / 2.0,
            f.top + f.ph + 36.0
        );
    }
    let mid = f.top + f.ph / 2.0;
    let _ = writeln!(
        s,
        r#"<text x="16" y="{mid:.1}" transform="rotate(-90 16 {mid:.1})" text-anchor="middle">median time per request on the host (ns to s, log scale)</text>"#
    );
}

/// The log-log SVG of time per request against size: READ and WRITE side by side, one
/// line per strategy (`first`, the strategies compared, in their order; any other the
/// estimates hold after them) and memcpy, a legend, and what was timed.
pub fn svg(est: &[Estimate], first: &[String]) -> String {
    let (series, n) = plot_series(est, first);
    let (w, h) = (1080.0, 540.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="20" y="26" font-size="17" font-weight="bold">Time per request against its size: the mdlsim simulator, timed on this host</text>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="46">Criterion's medians of one whole request (expose, the server touches every byte, retire, complete), page-aligned, shadow memory off.</text>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="62">The model's own speed on this machine, not a real kernel's: compare strategies by their counts and the cost model (docs/performance.md).</text>"#
    );
    if series.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="20" y="100">no strategy estimates found</text></svg>"#
        );
        return s;
    }
    let f = frame(&series);
    axes(&mut s, &f);
    // Lines widest first (strategy order), memcpy last and thinnest; markers above all.
    let colour = |x: &Series| x.rank.map_or("#000000", |r| COLOURS[r % COLOURS.len()]);
    for x in &series {
        let (wd, dash) = match x.rank {
            Some(r) => (width(r, n), ""),
            None => (1.2, r#" stroke-dasharray="6 4""#),
        };
        let pts: Vec<String> = x
            .points
            .iter()
            .map(|&(b, ns)| format!("{:.1},{:.1}", f.px(x.panel, b), f.py(ns)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="{wd}"{dash} points="{}"><title>{}</title></polyline>"#,
            colour(x),
            pts.join(" "),
            x.name
        );
    }
    for x in &series {
        let r = x
            .rank
            .map_or(2.0, |r| 3.0 + 0.8 * n.saturating_sub(r + 1) as f64);
        for &(b, ns) in &x.points {
            s.push_str(&marker(
                x.rank.unwrap_or(0),
                f.px(x.panel, b),
                f.py(ns),
                r,
                colour(x),
            ));
            s.push('\n');
        }
    }
    legend(&mut s, &series, n, f.left[1] + f.pw + 24.0, f.top);
    s.push_str("</svg>\n");
    s
}

fn legend(s: &mut String, series: &[Series], n: usize, lx: f64, top: f64) {
    let mut seen: Vec<&str> = Vec::new();
    let mut y = top + 10.0;
    for x in series {
        if seen.contains(&x.name.as_str()) {
            continue;
        }
        seen.push(&x.name);
        let (c, wd, dash) = match x.rank {
            Some(r) => (COLOURS[r % COLOURS.len()], width(r, n), ""),
            None => ("#000000", 1.2, r#" stroke-dasharray="6 4""#),
        };
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="{wd}"{dash}/>{}<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 34.0,
            marker(
                x.rank.unwrap_or(0),
                lx + 17.0,
                y,
                if x.rank.is_some() { 3.5 } else { 2.0 },
                c
            ),
            lx + 42.0,
            y + 4.0,
            if x.rank.is_some() {
                x.name.clone()
            } else {
                "memcpy (raw copy)".into()
            }
        );
        y += 22.0;
    }
    for (i, line) in [
        "Lines are drawn widest first:",
        "a line lying on another",
        "shows as a thinner band",
        "inside it.",
    ]
    .iter()
    .enumerate()
    {
        let _ = writeln!(
            s,
            r##"<text x="{lx:.1}" y="{:.1}" fill="#444">{line}</text>"##,
            y + 10.0 + 15.0 * i as f64
        );
    }
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
        let s = svg(&est, &[]);
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
        let s = svg(&est, &[]);
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(svg(&[], &[]).contains("no strategy estimates"));
    }

    /// The title says what was timed and where; both axes carry their units; a strategy
    /// the estimates hold beyond the ones named (a program's own) is plotted; and each
    /// strategy's line is narrower than every line drawn before it, so none is hidden
    /// even where two coincide (negative control: equal widths would hide one).
    #[test]
    fn plot_says_what_it_times_and_hides_no_line() {
        let mut est = Vec::new();
        for size in [4096u64, 1 << 20] {
            for d in ["read", "write"] {
                let g = format!("strategies_{d}_{size}");
                for name in ["BounceCopy", "HeadTailSplice", "MySplice"] {
                    // HeadTailSplice and MySplice coincide exactly.
                    let ns = if name == "BounceCopy" { 9e5 } else { 1e5 };
                    est.push(e(&g, &format!("{name}/aligned_shadow_off"), ns, Some(size)));
                }
                est.push(e(&g, "memcpy", 1e3, Some(size)));
            }
        }
        let s = svg(&est, &["BounceCopy".into(), "HeadTailSplice".into()]);
        assert!(
            s.contains("Time per request") && s.contains("timed on this host"),
            "{s}"
        );
        assert!(s.contains("not a real kernel"));
        assert!(s.contains("request size (bytes, log scale)"));
        assert!(s.contains("median time per request on the host (ns to s, log scale)"));
        assert!(s.contains("READ (") && s.contains("WRITE ("));
        let widths: Vec<(String, f64)> = s
            .lines()
            .filter(|l| l.starts_with("<polyline"))
            .map(|l| {
                let w = l
                    .split("stroke-width=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                let name = l
                    .split("<title>")
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap();
                (name.to_string(), w.parse().unwrap())
            })
            .collect();
        // Two panels of three strategies and memcpy.
        assert_eq!(widths.len(), 8, "{widths:?}");
        for panel in widths.chunks(4) {
            assert_eq!(panel[2].0, "MySplice");
            for w in panel.windows(2) {
                assert!(w[1].1 < w[0].1, "{w:?} would hide the line under it");
            }
        }
        assert!(width(0, 3) > width(1, 3) && width(1, 3) > width(2, 3));
    }
}
