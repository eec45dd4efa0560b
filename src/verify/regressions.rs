//! The regressions file: failing cases a run found, replayed first by the next run (as
//! proptest's `proptest-regressions/`).
//!
//! Where it is ([`Regressions`], [`Config::regressions`]):
//! - an explicit file ([`Config::regressions`]), or none ([`Config::no_regressions`]);
//! - by default `$MDLSIM_REGRESSIONS/<strategy>.json` when that variable names a
//!   directory (`off` turns persistence off), else
//!   `$CARGO_MANIFEST_DIR/mdlsim-regressions/<strategy>.json` when the run is started by
//!   cargo (`cargo test` sets it to your crate's directory: commit the file, as you would
//!   proptest's), else none. `<strategy>` is the strategy's name with characters other
//!   than letters, digits, `-` and `_` replaced by `_`.
//!
//! The file is JSON, `{"strategy": "..", "cases": [<Case>, ..]}`, one [`Case`] per failure
//! (the same JSON as a counter-example's `replay:` line). Entries that do not parse are
//! skipped; a file that cannot be read or written is treated as empty (the run still
//! reports its counter-example, with no `saved to` line).

use super::{Case, Config};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where failing cases are kept between runs (the [module documentation](self)).
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Regressions {
    /// `$MDLSIM_REGRESSIONS/<strategy>.json`, else
    /// `$CARGO_MANIFEST_DIR/mdlsim-regressions/<strategy>.json`, else none.
    #[default]
    Default,
    /// This file.
    File(PathBuf),
    /// No persistence.
    Off,
}

#[derive(Serialize, Deserialize, Default)]
struct File {
    strategy: String,
    cases: Vec<serde_json::Value>,
}

/// The file for `strategy` under `cfg`, if persistence is on.
pub fn path_for(cfg: &Config, strategy: &str) -> Option<PathBuf> {
    let name: String = strategy
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match &cfg.regressions {
        Regressions::Off => None,
        Regressions::File(p) => Some(p.clone()),
        Regressions::Default => {
            let dir = match std::env::var_os("MDLSIM_REGRESSIONS") {
                Some(v) if v == "off" => return None,
                Some(v) => PathBuf::from(v),
                None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?)
                    .join("mdlsim-regressions"),
            };
            Some(dir.join(format!("{name}.json")))
        }
    }
}

/// The cases stored in `path` (none if it is missing or unreadable; entries that do not
/// parse as a [`Case`] are skipped).
pub fn load(path: &Path) -> Vec<Case> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(f) = serde_json::from_str::<File>(&text) else {
        return Vec::new();
    };
    f.cases
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// Appends `case` to `path` (creating it and its directory) unless it is there already.
///
/// # Errors
/// The I/O error reading, creating or writing the file.
pub fn save(path: &Path, strategy: &str, case: &Case) -> std::io::Result<()> {
    let mut f = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<File>(&t).ok())
        .unwrap_or_default();
    f.strategy = strategy.to_string();
    let v = serde_json::to_value(case).map_err(std::io::Error::other)?;
    if f.cases.contains(&v) {
        return Ok(());
    }
    f.cases.push(v);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&f).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}
