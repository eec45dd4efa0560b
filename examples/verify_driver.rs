//! The driver harness on the sample driver and on the buffer-swapping minifilter,
//! correct and with each of their bugs: prints the report or the shrunk counter-example
//! of each (findings, the case, the DDI calls, the JSON to replay it).
//!
//! ```sh
//! cargo run --release --example verify_driver
//! ```

fn main() {
    use mdlsim::verify_driver::{self, filter::FilterBug, sample::DriverBug};
    let cfg = mdlsim::verify::Config::default()
        .cases(400)
        .seed(11)
        .ignore_env();
    let drivers = DriverBug::ALL.iter().map(|b| b.under_test());
    let filters = FilterBug::ALL.iter().map(|b| b.under_test());
    for dut in drivers.chain(filters) {
        match verify_driver::verify(&dut, &cfg) {
            Ok(r) => println!("{}: passed {} cases (seed {})\n", dut.name, r.cases, r.seed),
            Err(cx) => println!("{cx}\n"),
        }
    }
}
