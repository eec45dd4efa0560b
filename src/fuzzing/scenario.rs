//! The `scenario` target: arbitrary bytes as a scenario file (`docs/scenarios.md`).
//! Parsing never panics and either refuses the file with a [`ScenarioError`] or yields a
//! scenario that replays (as `mdlsim replay` plays it), renders (text, colour and SVG
//! page map), and writes back to a file that parses to the same scenario. The replay
//! may find bugs in the strategy it names (broken ones are meant to); it must never
//! report the model's own books out of balance (`ModelInvariant`).
//!
//! [`ScenarioError`]: crate::scenario::ScenarioError

use super::Failure;
use crate::oracle::BugClass;
use crate::replay::{ReplayOptions, Run, play_with, render_replay};
use crate::scenario::Scenario;

/// Runs one scenario file's bytes.
///
/// # Errors
/// A [`Failure`] if a parsed scenario does not play, does not round-trip through its
/// JSON, or reports a `ModelInvariant` finding.
pub fn scenario(data: &[u8]) -> Result<(), Failure> {
    let text = String::from_utf8_lossy(data);
    let fail = |problems: Vec<String>| Failure {
        target: "scenario",
        input: format!("{text:?}"),
        problems,
    };
    let s = match Scenario::parse("fuzz.json", &text) {
        Ok(s) => s,
        Err(e) => {
            // Refused: the message must render.
            let _ = e.to_string();
            return Ok(());
        }
    };
    let mut problems = Vec::new();
    match Scenario::parse("round-trip.json", &s.to_json()) {
        Ok(back) if back == s => {}
        Ok(back) => problems.push(format!("round trip changed it: {back:?}")),
        Err(e) => problems.push(format!("its own JSON is refused: {e}")),
    }
    let ops = matches!(s.scenario, crate::scenario::Body::Ops { .. });
    // The same host-memory budget as the `ops` target: libFuzzer stops at 2 GiB of RSS.
    let opts = ReplayOptions::default().host_memory_limit(super::ops::HOST_MEMORY_LIMIT);
    match play_with(s, "fuzz.json", &opts) {
        Ok(r) => {
            let _ = render_replay(&r, false);
            let _ = render_replay(&r, true);
            let _ = r.mismatch();
            if let Some(pm) = r.run.page_map() {
                let _ = pm.render_svg("fuzz");
            }
            for f in r
                .run
                .findings()
                .into_iter()
                .filter(|f| f.kind == BugClass::ModelInvariant)
            {
                problems.push(format!("model invariant broken: {f}"));
            }
            if let Run::Ops(o) = &r.run {
                problems.extend(o.violations.iter().map(|v| format!("audit: {v}")));
            }
        }
        // An "ops" file whose op names an object that does not exist is refused when it
        // is played (the tables exist only then): a one-line error naming the file.
        Err(e)
            if ops && e.to_string().starts_with("fuzz.json: op ") && !e.message.contains('\n') => {}
        Err(e) => problems.push(format!("a parsed scenario does not play: {e}")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(problems))
    }
}
