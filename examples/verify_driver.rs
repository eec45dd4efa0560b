//! The driver harness on the sample driver, correct and with each of its bugs: prints
//! the report or the shrunk counter-example of each (findings, the case, the DDI calls,
//! the JSON to replay it).
//!
//! ```sh
//! cargo run --release --example verify_driver
//! ```

fn main() {
    use mdlsim::verify_driver::{self, sample::DriverBug};
    let cfg = mdlsim::verify::Config::default()
        .cases(400)
        .seed(11)
        .ignore_env();
    for b in DriverBug::ALL {
        match verify_driver::verify(&b.under_test(), &cfg) {
            Ok(r) => println!("{b:?}: passed {} cases (seed {})\n", r.cases, r.seed),
            Err(cx) => println!("{b:?}:\n{cx}\n"),
        }
    }
}
