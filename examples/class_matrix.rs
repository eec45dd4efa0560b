//! The strategy × class matrix: every built-in and zoo strategy, both directions, run
//! through `verify` with a fixed seed; for each, the classes seen across the search
//! (failing cases per class) and whether the verdict matches the strategy's `expected()`
//! (the expected class among those seen, or found by a search focused on it when another
//! bug of the same strategy is found first).
//!
//! ```text
//! cargo run --release --example class_matrix [CASES] [SEED]
//! MDLSIM_SHOW=UncheckedSystemAddress cargo run --release --example class_matrix
//! ```
//!
//! With `MDLSIM_SHOW` set to a strategy's name, the counter-examples of that strategy
//! are printed in full, as a user sees them.

use mdlsim::strategy::{self, Direction, ProxyStrategyClone, zoo};
use mdlsim::verify::{self, Config};

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let all: Vec<Box<dyn ProxyStrategyClone>> =
        strategy::builtins().into_iter().chain(zoo::zoo()).collect();
    println!("{cases} cases per strategy and direction, seed {seed}\n");
    println!(
        "| strategy | expected | READ: classes seen (failing cases) | WRITE: classes seen (failing cases) | as expected |"
    );
    println!("|---|---|---|---|---|");
    let mut mismatches = 0;
    for s in &all {
        let mut cells = Vec::new();
        let mut caught = false;
        let mut clean = true;
        for d in [Direction::Read, Direction::Write] {
            let cfg = Config::default()
                .cases(cases)
                .seed(seed)
                .direction(d)
                .no_regressions()
                .ignore_env();
            match verify::verify(s, &cfg) {
                Ok(_) => cells.push("pass".to_string()),
                Err(cx) => {
                    if std::env::var("MDLSIM_SHOW").is_ok_and(|n| n == s.name()) {
                        println!("{cx}");
                    }
                    clean = false;
                    if s.expected()
                        .is_some_and(|e| cx.classes_seen.contains_key(&e))
                    {
                        caught = true;
                    }
                    let seen: Vec<String> = cx
                        .classes_seen
                        .iter()
                        .map(|(c, n)| format!("{c} ({n})"))
                        .collect();
                    cells.push(seen.join(", "));
                }
            }
        }
        let ok = match s.expected() {
            None => clean,
            Some(_) if caught => true,
            // Another bug of the same strategy was found first: search for this one alone.
            Some(e) => [Direction::Read, Direction::Write].into_iter().any(|d| {
                let cfg = Config::default()
                    .cases(cases)
                    .seed(seed)
                    .direction(d)
                    .focus(&[e])
                    .no_regressions()
                    .ignore_env();
                verify::verify(s, &cfg).is_err_and(|cx| cx.has(e))
            }),
        };
        mismatches += usize::from(!ok);
        println!(
            "| {} | {} | {} | {} | {} |",
            s.name(),
            s.expected().map_or("passes".into(), |c| c.to_string()),
            cells[0],
            cells[1],
            if ok { "yes" } else { "NO" }
        );
    }
    println!("\n{mismatches} strategies not as expected");
    if mismatches > 0 {
        std::process::exit(1);
    }
}
