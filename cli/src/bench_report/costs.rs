//! The machine-independent counts per request of every strategy compared (the built-ins
//! and a program's own), their projected times, and the projected crossover sizes.

use super::{dir_name, fmt_bytes};
use mdlsim::cost::{Cost, CostModel, Temperature};
use mdlsim::strategy::{Direction, ProxyStrategyClone};
use mdlsim::workload::{crossover_sizes, request_cost};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Sizes the [`Cost`] table shows.
pub const COST_SIZES: [u64; 6] = [512, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 31 << 20];

/// The [`Cost`] of one request (shadow off, the buffer at byte `offset` of its first page)
/// per strategy (its short name), direction and size.
///
/// # Errors
/// A strategy's fault (none is expected of the correct strategies).
pub fn costs(
    strategies: &[Box<dyn ProxyStrategyClone>],
    sizes: &[u64],
    offset: u64,
) -> mdlsim::Result<BTreeMap<(String, Direction, u64), Cost>> {
    let mut out = BTreeMap::new();
    for s in strategies {
        for d in [Direction::Read, Direction::Write] {
            for &n in sizes {
                out.insert(
                    (super::short(&**s), d, n),
                    request_cost(s, d, n, offset, false)?,
                );
            }
        }
    }
    Ok(out)
}

pub(super) fn cost_section(strategies: &[Box<dyn ProxyStrategyClone>]) -> mdlsim::Result<String> {
    let mut s = String::new();
    let model = CostModel::default();
    let _ = writeln!(
        s,
        "## Counts per request (machine-independent)\n\nOne request, from the I/O manager's probe-and-lock to completion, from `Machine::counters()` differences (`mdlsim::workload::request_cost`); projected times from `CostModel::default()` ([design.md](design.md#cost-model)'s prices). Page-aligned buffers, then buffers at offset 512 (partial first and last pages: the splicing strategies' substitutes).\n"
    );
    for (offset, title) in [(0u64, "page-aligned"), (512, "offset 512")] {
        let table = costs(strategies, &COST_SIZES, offset)?;
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
    let grid = costs(strategies, &sizes, 0)?;
    let _ = writeln!(
        s,
        "## Projected crossovers\n\nThe smallest size (of 4 KiB, 8 KiB, ... 16 MiB, 31 MiB) from which the first strategy is projected faster than the second, with copies hot or cold; \"never\" when it does not win up to 31 MiB.\n"
    );
    let _ = writeln!(
        s,
        "| faster | than | dir | hot | cold |\n|---|---|---|---|---|"
    );
    let names: Vec<String> = strategies.iter().map(|s| super::short(&**s)).collect();
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
