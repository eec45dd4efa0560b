//! What the documentation promises of the command: every command in the guide and README
//! runs, the format documentation's examples replay as documented, `explain` names the class,
//! its seeds and a replay command, and `bench-report` without estimates is a usage error.

mod common;

use common::*;

use std::path::PathBuf;
use std::process::Command;

/// Every `cargo run --release -- ARGS` line of the guide and the README runs (with a few
/// cases, and output files in a temporary folder) and does not report bad input.
#[test]
fn every_command_in_the_guide_and_readme_runs() {
    let root = root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs/guide"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    docs.push(root.join("README.md"));
    docs.sort();
    let dir = tmp("guide");
    let mut ran = 0;
    for d in docs {
        let text = std::fs::read_to_string(&d).unwrap();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("cargo run --release -- ") else {
                continue;
            };
            // A trailing shell comment is not an argument.
            let rest = rest.split(" #").next().unwrap_or(rest);
            // bench-report rewrites docs/performance.md from a finished `cargo bench`; it has
            // its own test (bad input, exit 2) and is not run against the real docs here.
            if rest.trim_start().starts_with("bench-report") {
                continue;
            }
            let mut args: Vec<String> = Vec::new();
            for a in rest.split_whitespace() {
                match args.last().map(String::as_str) {
                    Some("--cases") => args.push("60".into()),
                    Some("--out") | Some("--svg") => {
                        args.push(dir.join(a.trim_end_matches('/')).display().to_string())
                    }
                    _ => args.push(a.to_string()),
                }
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = Command::new(env!("CARGO_BIN_EXE_mdlsim"))
                .args(&refs)
                .env("MDLSIM_CASES", "60")
                .env_remove("MDLSIM_SEED")
                .current_dir(root)
                .output()
                .unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}: `{line}`\n{}{}",
                d.display(),
                stdout(&o),
                stderr(&o)
            );
            ran += 1;
        }
    }
    assert!(ran >= 15, "{ran}");
}

/// The JSON examples of docs/scenarios.md are scenario files that replay as expected.
#[test]
fn the_format_documentation_examples_replay_as_expected() {
    let doc = read("docs/scenarios.md");
    let mut n = 0;
    for block in doc.split("```json\n").skip(1) {
        let text = block.split("```").next().unwrap();
        let sc = mdlsim::scenario::Scenario::parse("docs/scenarios.md", text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let r = mdlsim::replay::play(sc, "docs/scenarios.md").unwrap();
        assert!(r.as_expected, "{:?}\n{text}", r.mismatch());
        n += 1;
    }
    assert!(n >= 2, "{n}");
}

#[test]
fn explain_names_the_class_its_seeds_and_a_replay_command() {
    let o = mdlsim(&["explain", "PartialPageExposure"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.contains("a proxy file system that maps"), "{out}");
    // The situation is described, not named by a document users do not have.
    assert!(!out.contains("seed 0"), "{out}");
    assert!(out.contains("replay --example seed000-directmap"), "{out}");
    // Classes shown by "ops" scenarios point to them.
    let out = stdout(&mdlsim(&["explain", "LockLeak"]));
    assert!(
        out.contains("replay --example seed004-exit-with-locked-pages"),
        "{out}"
    );
    assert!(out.contains("--example seed004-rundown-stuck-irp"), "{out}");
    let out = stdout(&mdlsim(&["explain", "ResourceLeak"]));
    assert!(out.contains("kernel operations: DriverEntry"), "{out}");
    let out = stdout(&mdlsim(&["explain", "DoubleFetch"]));
    assert!(
        out.contains("--example seed004-app-changes-direct-buffer"),
        "{out}"
    );
    // Every related scenario is shipped.
    for (_, f, _) in mdlsim_cli::RELATED {
        assert!(
            mdlsim_cli::EXAMPLES.iter().any(|(e, _)| e == f),
            "{f} is not shipped"
        );
    }
    // Case-insensitive, and every class has an explanation.
    assert_eq!(mdlsim(&["explain", "doublefetch"]).status.code(), Some(0));
    let list = stdout(&mdlsim(&["explain", "list"]));
    for c in list.lines() {
        let e = mdlsim_cli::explain(mdlsim_cli::parse_class(c).unwrap()).unwrap();
        assert!(e.contains("Real-world cases"), "{c}");
    }
}

/// `mdlsim bench-report` without criterion estimates is bad input: one line, exit 2.
#[test]
fn bench_report_without_estimates_is_exit_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mdlsim"))
        .args(["bench-report", "--criterion", "/nonexistent/criterion"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no criterion estimates"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // A folder with no estimates in it (empty, or not criterion's) is the same: it would
    // replace the report with an empty one. Nothing is written.
    let dir = tmp("bench-empty");
    let (md, svg) = (dir.join("perf.md"), dir.join("perf.svg"));
    std::fs::create_dir_all(dir.join("criterion/some_group")).unwrap();
    let o = mdlsim(&[
        "bench-report",
        "--criterion",
        dir.join("criterion").to_str().unwrap(),
        "--out",
        md.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["no criterion estimates", "criterion"]);
    assert!(!md.exists() && !svg.exists());
    let e = mdlsim_cli::bench_report::run(&dir.join("criterion"), &md, &svg).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    assert!(!md.exists() && !svg.exists());
}
