//! The figures (issue 7) against their goals, from criterion's estimates.

use super::Estimate;
use mdlsim::strategy::{BounceCopy, Direction};
use mdlsim::workload::request_cost;
use std::fmt::Write as _;

/// One of the figures.
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

pub(super) fn find<'a>(est: &'a [Estimate], group: &str, id: &str) -> Option<&'a Estimate> {
    est.iter().find(|e| e.group == group && e.id == id)
}

pub(super) fn ratio(est: &[Estimate], g: &str, a: &str, b: &str) -> Option<f64> {
    Some(find(est, g, a)?.median_ns / find(est, g, b)?.median_ns)
}

/// The figures being collected.
struct Out(Vec<Figure>);

impl Out {
    /// Adds a figure whose value `v` was measured (`None`: a benchmark did not run).
    fn push(&mut self, name: String, v: Option<f64>, goal: &str, met: fn(f64) -> bool) {
        if let Some(v) = v {
            self.0.push(Figure {
                name,
                value: v,
                goal: goal.into(),
                met: met(v),
            });
        }
    }
}

/// The figures that the estimates contain (a figure is left out when one of its
/// benchmarks did not run).
pub fn figures(est: &[Estimate]) -> Vec<Figure> {
    let mut f = Out(Vec::new());
    bounce_figures(est, &mut f);
    model_figures(est, &mut f);
    splice_figures(est, &mut f);
    harness_figures(est, &mut f);
    f.0
}

/// BounceCopy's time per byte against raw copies (16 MiB).
fn bounce_figures(est: &[Estimate], f: &mut Out) {
    for d in ["read", "write"] {
        let g = format!("strategies_{d}_16MiB");
        for sh in ["off", "on"] {
            let bounce = format!("BounceCopy/aligned_shadow_{sh}");
            let (goal, met): (&str, fn(f64) -> bool) = if sh == "off" {
                ("≤ 1.2×", |v| v <= 1.2)
            } else {
                ("≤ 2.0×", |v| v <= 2.0)
            };
            f.push(
                format!(
                    "BounceCopy 16 MiB {d}, shadow {sh}, per byte moved: ÷ `raw_passes` (the same three passes done raw: memset + 2 × memcpy of 16 MiB)"
                ),
                ratio(est, &g, &bounce, "raw_passes"),
                goal,
                met,
            );
            f.push(
                format!(
                    "BounceCopy 16 MiB {d}, shadow {sh}, per request: ÷ one memcpy of 16 MiB (the goal as written; three passes vs one)"
                ),
                ratio(est, &g, &bounce, "memcpy"),
                goal,
                met,
            );
        }
    }
}

/// The model's reads and writes by VA against vm-memory's.
fn model_figures(est: &[Estimate], f: &mut Out) {
    for (op, peer) in [
        ("write", "vm_memory_write_slice"),
        ("read", "vm_memory_read_slice"),
    ] {
        for sh in ["off", "on"] {
            f.push(
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
}

/// HeadTailSplice's speed-up over BounceCopy (31 MiB).
fn splice_figures(est: &[Estimate], f: &mut Out) {
    for d in ["read", "write"] {
        let g = format!("strategies_{d}_31MiB");
        f.push(
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
        f.push(
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
}

/// Per-page primitives against a page copy; the harness's cases per second.
fn harness_figures(est: &[Estimate], f: &mut Out) {
    f.push(
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
        f.push(
            format!("run_case, requests ≤ 64 KiB, {s} (cases/s)"),
            v,
            "≥ 10,000",
            |v| v >= 10_000.0,
        );
    }
    let v = find(est, "verify", "verify/BounceCopy")
        .and_then(|e| Some(e.elements? as f64 / (e.median_ns / 1e9)));
    f.push(
        "verify(), requests ≤ 64 KiB, BounceCopy (cases/s)".into(),
        v,
        "≥ 10,000",
        |v| v >= 10_000.0,
    );
}

/// The "per byte copied" rows of the figures table: BounceCopy against one memcpy of the
/// bytes it copies plus the server's touch.
pub(super) fn per_byte_rows(est: &[Estimate]) -> String {
    let mut s = String::new();
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
    s
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
}
