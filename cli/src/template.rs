//! `mdlsim new-fuzz-target`: writes a cargo-fuzz target over a program's own strategy into
//! its crate (`fuzz/Cargo.toml`, `fuzz/fuzz_targets/<target>.rs`, `fuzz/<target>.dict`,
//! a seed corpus in `fuzz/corpus/<target>/`) and the test that replays that corpus in
//! the crate's `cargo test` (`tests/<target>_corpus.rs`), over
//! [`mdlsim::fuzzing::fuzz_strategy`] and [`mdlsim::fuzzing::replay_corpus`].

use crate::CliError;
use mdlsim::fuzzing::{SPLICE_DICTIONARY, seed_corpus};
use std::path::{Path, PathBuf};

/// What the files are written for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzTemplate {
    /// The crate's package name (`my-proxy`).
    pub package: String,
    /// The `mdlsim` dependency as the crate's `Cargo.toml` gives it, rewritten for
    /// `fuzz/` (a relative path one level further up), without its braces.
    pub mdlsim_dep: String,
    /// The target's name (`my_splice`).
    pub target: String,
    /// The Rust expression that builds the strategy (`my_proxy::MySplice::default()`).
    pub expr: String,
}

/// `MySplice(4096)` → `my_splice`: the strategy's name without its parameter, in snake
/// case, only letters, digits and `_`.
pub fn target_name(strategy: &str) -> String {
    let base = strategy.split('(').next().unwrap_or(strategy);
    let mut out = String::new();
    let mut prev_lower = false;
    for c in base.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("strategy_{out}")
    } else {
        out
    }
}

/// `key = "value"` in `text` (a line or an inline table): the value.
fn quoted(text: &str, key: &str) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        let before = rest[..i].chars().last();
        let after = rest[i + key.len()..].trim_start();
        rest = &rest[i + key.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        if let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start().strip_prefix('"')?;
            return v.split('"').next().map(str::to_string);
        }
    }
    None
}

impl FuzzTemplate {
    /// Reads the package name and the `mdlsim` dependency from a crate's `Cargo.toml`
    /// text (its `[package]` and `[dependencies]` sections, one line each), for the
    /// strategy named `strategy`; `expr` defaults to `CRATE::TYPE::default()` (the
    /// package name with `-` as `_`, the strategy's name without its parameter).
    ///
    /// # Errors
    /// No package name, or no `mdlsim = ...` line under `[dependencies]` (a path, a git
    /// repository or a version).
    pub fn from_manifest(
        manifest: &str,
        strategy: &str,
        expr: Option<&str>,
    ) -> Result<FuzzTemplate, CliError> {
        let (mut section, mut package, mut dep) = (String::new(), None, None);
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_string();
            } else if section == "package" && package.is_none() && line.starts_with("name") {
                package = quoted(line, "name");
            } else if section == "dependencies" && line.starts_with("mdlsim") {
                let rest = line["mdlsim".len()..].trim_start();
                if let Some(v) = rest.strip_prefix('=') {
                    dep = Some(v.trim().to_string());
                }
            }
        }
        let package = package.ok_or_else(|| CliError("Cargo.toml: no [package] name".into()))?;
        let dep = dep.ok_or_else(|| {
            CliError("Cargo.toml: no `mdlsim = ...` line under [dependencies]".into())
        })?;
        let mdlsim_dep = if let Some(path) = quoted(&dep, "path") {
            let p = Path::new(&path);
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                Path::new("..").join(p)
            };
            format!("path = \"{}\", features = [\"fuzzing\"]", p.display())
        } else if let Some(git) = quoted(&dep, "git") {
            format!("git = \"{git}\", features = [\"fuzzing\"]")
        } else if let Some(v) =
            quoted(&dep, "version").or_else(|| quoted(&format!("v = {dep}"), "v"))
        {
            format!("version = \"{v}\", features = [\"fuzzing\"]")
        } else {
            return Err(CliError(format!(
                "Cargo.toml: cannot read the mdlsim dependency `{dep}`"
            )));
        };
        let base = strategy.split('(').next().unwrap_or(strategy).trim();
        let expr = match expr {
            Some(e) => e.to_string(),
            None => format!("{}::{base}::default()", package.replace('-', "_")),
        };
        Ok(FuzzTemplate {
            package,
            mdlsim_dep,
            target: target_name(strategy),
            expr,
        })
    }

    /// `fuzz/Cargo.toml` (a package of its own, its own workspace).
    pub fn fuzz_manifest(&self) -> String {
        format!(
            r#"# cargo-fuzz targets over {package}'s strategies (written by `mdlsim new-fuzz-target`).
[package]
name = "{package}-fuzz"
version = "0.0.0"
publish = false
edition = "2024"

[package.metadata]
cargo-fuzz = true

[dependencies]
libfuzzer-sys = "0.4"
{package} = {{ path = ".." }}
mdlsim = {{ {dep} }}

# Its own workspace: the crate's own build never sees this package.
[workspace]

[profile.release]
debug = 1
overflow-checks = true
{bin}"#,
            package = self.package,
            dep = self.mdlsim_dep,
            bin = self.bin_section()
        )
    }

    /// The `[[bin]]` section of the target.
    pub fn bin_section(&self) -> String {
        format!(
            "\n[[bin]]\nname = \"{t}\"\npath = \"fuzz_targets/{t}.rs\"\ntest = false\ndoc = false\nbench = false\n",
            t = self.target
        )
    }

    /// `fuzz/fuzz_targets/<target>.rs`.
    pub fn target_source(&self) -> String {
        format!(
            r#"//! `{t}`: one verify case (buffer offset and length, direction, server behaviour,
//! injected fault) decoded from the fuzzer's bytes (`mdlsim::fuzzing::SpliceInput`), run
//! through `{e}` with the machine audited around each call; any oracle finding or
//! `audit()` violation panics. Written by `mdlsim new-fuzz-target`.
//!
//!     cargo fuzz run --sanitizer none {t} -- -dict=fuzz/{t}.dict -max_total_time=60
#![no_main]

use libfuzzer_sys::{{Corpus, fuzz_target}};

fuzz_target!(|data: &[u8]| -> Corpus {{
    if let Err(f) = mdlsim::fuzzing::fuzz_strategy(&{e}, data) {{
        panic!("{{f}}");
    }}
    // Cases at the MDL size limit are run and checked, not kept (32 MiB each).
    if mdlsim::fuzzing::splice_keeps(data) {{
        Corpus::Keep
    }} else {{
        Corpus::Reject
    }}
}});
"#,
            t = self.target,
            e = self.expr
        )
    }

    /// `tests/<target>_corpus.rs`: the corpus replayed in `cargo test`.
    pub fn corpus_test(&self) -> String {
        format!(
            r#"//! Replays the fuzz corpus of `{t}` (fuzz/corpus/{t}/) through the strategy in
//! `cargo test`, no fuzzer needed. Written by `mdlsim new-fuzz-target`; needs
//! `mdlsim` with the `fuzzing` feature among the dev-dependencies.

#[test]
fn {t}_corpus_replays_clean() {{
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/{t}");
    match mdlsim::fuzzing::replay_corpus(&{e}, dir) {{
        Ok(n) => assert!(n > 0),
        Err(e) => panic!("{{e}}"),
    }}
}}
"#,
            t = self.target,
            e = self.expr
        )
    }

    /// Every file to write under the crate's directory, as (relative path, bytes); the
    /// manifest is written only when there is none (else its `[[bin]]` is appended).
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let t = &self.target;
        let mut out = vec![
            (
                PathBuf::from(format!("fuzz/fuzz_targets/{t}.rs")),
                self.target_source().into_bytes(),
            ),
            (
                PathBuf::from(format!("fuzz/{t}.dict")),
                SPLICE_DICTIONARY.as_bytes().to_vec(),
            ),
            (
                PathBuf::from(format!("tests/{t}_corpus.rs")),
                self.corpus_test().into_bytes(),
            ),
        ];
        for (name, bytes) in seed_corpus() {
            out.push((PathBuf::from(format!("fuzz/corpus/{t}/{name}")), bytes));
        }
        out
    }
}

/// Writes the target for `strategy` into the crate at `dir`; returns what it wrote, one
/// line each, and what to do next.
///
/// # Errors
/// No readable `Cargo.toml` in `dir` ([`FuzzTemplate::from_manifest`]); a file of the
/// target already there (nothing is written then); a write that fails.
pub fn write_fuzz_target(
    dir: &Path,
    strategy: &str,
    expr: Option<&str>,
) -> Result<String, CliError> {
    let manifest_path = dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| CliError(format!("{}: {e}", manifest_path.display())))?;
    let t = FuzzTemplate::from_manifest(&manifest, strategy, expr)?;
    let files = t.files();
    let taken: Vec<String> = files
        .iter()
        .filter(|(p, _)| dir.join(p).exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return Err(CliError(format!(
            "{}: already there, nothing written: {}",
            dir.display(),
            taken.join(", ")
        )));
    }
    let fuzz_manifest = dir.join("fuzz/Cargo.toml");
    let io = |p: &Path, e: std::io::Error| CliError(format!("{}: {e}", p.display()));
    let mut report = String::new();
    if let Ok(old) = std::fs::read_to_string(&fuzz_manifest) {
        std::fs::write(&fuzz_manifest, old + &t.bin_section())
            .map_err(|e| io(&fuzz_manifest, e))?;
        report.push_str("added a [[bin]] to fuzz/Cargo.toml\n");
    } else {
        std::fs::create_dir_all(dir.join("fuzz")).map_err(|e| io(dir, e))?;
        std::fs::write(&fuzz_manifest, t.fuzz_manifest()).map_err(|e| io(&fuzz_manifest, e))?;
        report.push_str("wrote fuzz/Cargo.toml\n");
    }
    for (p, bytes) in &files {
        let full = dir.join(p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&full, bytes).map_err(|e| io(&full, e))?;
    }
    let tt = &t.target;
    report.push_str(&format!(
        "wrote fuzz/fuzz_targets/{tt}.rs (over `{e}`), fuzz/{tt}.dict, {n} seeds in fuzz/corpus/{tt}/, tests/{tt}_corpus.rs\n\
         next:\n  \
         - in Cargo.toml, [dev-dependencies]: mdlsim = {{ {dep} }} (the corpus test)\n  \
         - cargo test --test {tt}_corpus\n  \
         - cargo fuzz run --sanitizer none {tt} -- -dict=fuzz/{tt}.dict -max_total_time=60\n",
        e = t.expr,
        n = seed_corpus().len(),
        dep = t.mdlsim_dep.replace("\"../", "\"")
    ));
    Ok(report)
}
