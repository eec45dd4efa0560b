//! The audit's progress bar on standard error.

use std::time::Duration;

/// A progress bar over `n` strategy x direction runs of `cases` cases each, drawn now
/// and redrawn while the first runs are still going.
pub(crate) fn bar(n: u64, cases: Option<u32>) -> Option<indicatif::ProgressBar> {
    let b = indicatif::ProgressBar::new(n);
    if let Ok(st) =
        indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} {elapsed} {msg}")
    {
        b.set_style(st);
    }
    b.set_message(format!(
        "{} cases per strategy and direction",
        cases.unwrap_or(mdlsim::verify::Config::default().cases)
    ));
    b.enable_steady_tick(Duration::from_millis(250));
    Some(b)
}
