//! Cases per second of the driver harness on one thread: the correct sample driver and
//! the correct swapping minifilter, each over the same generated cases, timed side by
//! side in one run (the figure docs/performance.md records).
//!
//! ```sh
//! cargo run --release --example verify_driver_speed [CASES]
//! ```

use mdlsim::verify_driver::{self, filter::FilterBug, sample::DriverBug};
use std::time::Instant;

fn main() {
    let cases: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let cfg = mdlsim::verify::Config::default()
        .cases(cases)
        .seed(5)
        .threads(1)
        .ignore_env();
    for (name, dut) in [
        ("sample driver", DriverBug::None.under_test()),
        ("swapping minifilter", FilterBug::None.under_test()),
    ] {
        let mut rates = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let r = verify_driver::verify(&dut, &cfg);
            let s = t.elapsed().as_secs_f64();
            let played = match r {
                Ok(rep) => rep.cases + rep.edge_cases,
                Err(cx) => panic!("{cx}"),
            };
            rates.push(played as f64 / s);
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name}: {cases} generated cases + the edge sweep, one thread: median {:.0} cases/s (runs: {:.0}, {:.0}, {:.0})",
            rates[1], rates[0], rates[1], rates[2]
        );
    }
}
