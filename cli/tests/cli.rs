//! The `mdlsim` command run as a user runs it: audit's matrix and exit status, `--json`,
//! replay of every shipped scenario with its expected findings, the SVG page map, and
//! every bad input giving exit status 2 and a one-line message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root, where the shipped scenarios, the docs and the README are (this
/// package is `cli/`).
fn root() -> &'static Path {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    cli.parent().unwrap_or(cli)
}

/// A file of the workspace, by its path from the root.
fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

fn mdlsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdlsim"))
        .args(args)
        .env_remove("MDLSIM_CASES")
        .env_remove("MDLSIM_SEED")
        .current_dir(root())
        .output()
        .expect("the mdlsim binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mdlsim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A bad-input failure: status 2, one line on stderr naming `what`, no panic.
fn assert_bad_input(o: &Output, what: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in what {
        assert!(err.contains(w), "`{w}` missing from: {err}");
    }
}

#[test]
fn audit_of_a_correct_strategy_passes_every_rule_and_exits_zero() {
    let o = mdlsim(&["audit", "--strategy", "HeadTailSplice", "--cases", "40"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("conf->srv"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("HeadTailSplice ("))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for r in rows {
        assert_eq!(r.matches("PASS").count(), 7, "{r}");
    }
    assert!(out.contains("every strategy behaves as documented"));
}

#[test]
fn audit_of_a_broken_strategy_shows_fail_and_a_one_line_counterexample() {
    let dir = tmp("broken");
    let o = mdlsim(&[
        "audit",
        "--strategy",
        "DirectMap",
        "--cases",
        "40",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    // Broken as documented: exit status 0.
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("DirectMap READ: "), "{out}");
    assert!(out.contains("PartialPageExposure"), "{out}");
    assert!(
        out.contains("broken, caught as PartialPageExposure"),
        "{out}"
    );
    // The counter-examples were written as scenarios, and replay as found.
    for d in ["read", "write"] {
        let f = dir.join(format!("DirectMap-{d}.json"));
        assert!(f.exists(), "{}", f.display());
        let r = mdlsim(&["replay", f.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(0), "{}", stdout(&r));
        assert!(stdout(&r).contains("as expected"));
        let sc = mdlsim::scenario::Scenario::load(&f).unwrap();
        let mdlsim::scenario::Body::Case { case, .. } = sc.scenario else {
            panic!("audit writes scenarios of kind \"case\"");
        };
        // A Write-only run's counter-example stays a Write.
        assert_eq!(format!("{:?}", case.direction).to_lowercase(), d);
    }
}

#[test]
fn audit_exit_status_is_nonzero_when_a_documented_broken_strategy_passes() {
    // With a single case, some seed gives DirectMap a request its mapping happens not to
    // over-expose: it "passes", against its docs. (No cases at all is a usage error.)
    let (seed, o) = (0..50)
        .map(|s| {
            let seed = s.to_string();
            let o = mdlsim(&[
                "audit",
                "--strategy",
                "DirectMap",
                "--cases",
                "1",
                "--seed",
                &seed,
            ]);
            (seed, o)
        })
        .find(|(_, o)| o.status.code() != Some(0))
        .expect("a seed under which one case does not catch DirectMap");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "seed {seed}: {out}{}", stderr(&o));
    assert!(out.contains("BAD"), "{out}");
    assert!(
        out.contains("documented broken (PartialPageExposure), but PASSES"),
        "{out}"
    );
}

/// `--cases 0` would prove nothing and pass every broken strategy; 4294967295 would run
/// for weeks with nothing to show: both are usage errors naming the bound, as are the
/// other numeric flags' edges and the environment's defaults.
#[test]
fn audit_numeric_edges_are_usage_errors_naming_the_bound() {
    let bound = mdlsim_cli::MAX_CASES.to_string();
    let range = format!("1..={bound}");
    for cases in [
        "0",
        "4294967295",
        "18446744073709551616",
        "-5",
        "1000001",
        "many",
        " ",
    ] {
        let o = mdlsim(&["audit", "--cases", cases]);
        assert_bad_input(&o, &["--cases", &range, "mdlsim audit --help"]);
        assert!(stdout(&o).is_empty(), "{cases}: {}", stdout(&o));
    }
    assert_eq!(mdlsim_cli::parse_cases(&bound), Ok(mdlsim_cli::MAX_CASES));
    assert!(mdlsim_cli::parse_cases(&(mdlsim_cli::MAX_CASES + 1).to_string()).is_err());
    for seed in ["-1", "18446744073709551616", "x"] {
        assert_bad_input(
            &mdlsim(&["audit", "--seed", seed]),
            &["--seed", "expected a seed in 0..=18446744073709551615"],
        );
    }
    for jobs in ["0", "-1", "x"] {
        assert_bad_input(
            &mdlsim(&["audit", "--jobs", jobs]),
            &["--jobs", "expected 1 or more worker threads"],
        );
    }
    // Huge --jobs is one worker per run, not an error.
    let o = mdlsim(&[
        "audit",
        "--strategy",
        "BounceCopy",
        "--cases",
        "2",
        "--jobs",
        "18446744073709551615",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The environment's defaults are checked as the flags are.
    for (var, value, what) in [
        ("MDLSIM_CASES", "0", range.as_str()),
        ("MDLSIM_CASES", "4294967295", range.as_str()),
        ("MDLSIM_CASES", "lots", range.as_str()),
        ("MDLSIM_SEED", "-3", "expected a seed"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_mdlsim"))
            .args(["audit", "--strategy", "BounceCopy"])
            .env_remove("MDLSIM_CASES")
            .env_remove("MDLSIM_SEED")
            .env(var, value)
            .output()
            .unwrap();
        assert_bad_input(&o, &[&format!("{var}={value}"), what]);
    }
    // The library refuses them too.
    for n in [0, mdlsim_cli::MAX_CASES + 1] {
        let opts = mdlsim_cli::AuditOptions {
            cases: Some(n),
            strategy: Some("BounceCopy".into()),
            ..Default::default()
        };
        let e = mdlsim_cli::audit(&opts, &|_| {}).unwrap_err();
        assert!(e.0.contains(&range), "{e}");
    }
    // The help says where the bound is and why.
    let help = stdout(&mdlsim(&["audit", "--help"]));
    assert!(help.contains(&bound) && help.contains("--seed"), "{help}");
}

/// Every clap usage error, in every subcommand: one line, status 2, and where to read
/// more; `--help` and `--version` are not errors.
#[test]
fn usage_errors_are_one_line_and_exit_status_two() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[],
            &["missing command", "audit, replay, explain, bench-report"],
        ),
        (
            &["frob"],
            &["unrecognized subcommand 'frob'", "'mdlsim --help'"],
        ),
        (&["--frob"], &["unexpected argument '--frob'"]),
        (
            &["audit", "--case", "5"],
            &[
                "'--case'",
                "a similar argument exists: '--cases'",
                "'mdlsim audit --help'",
            ],
        ),
        (
            &["audit", "--cases"],
            &["a value is required for '--cases <N>'"],
        ),
        (
            &["audit", "--json=3"],
            &["unexpected value '3' for '--json'"],
        ),
        (&["audit", "extra"], &["unexpected argument 'extra'"]),
        (&["audit", "--strategy"], &["'--strategy <STRATEGY>'"]),
        (&["audit", "--out"], &["'--out <OUT>'"]),
        (
            &["replay"],
            &["not provided: <FILE>", "'mdlsim replay --help'"],
        ),
        (
            &["replay", "a.json", "b.json"],
            &["unexpected argument 'b.json'"],
        ),
        (&["replay", "a.json", "--svg"], &["'--svg <SVG>'"]),
        (
            &["explain"],
            &["not provided: <CLASS>", "'mdlsim explain --help'"],
        ),
        (&["explain", "A", "B"], &["unexpected argument 'B'"]),
        (
            &["bench-report", "--criterion"],
            &["'--criterion <CRITERION>'"],
        ),
        (
            &["bench-report", "x"],
            &["unexpected argument 'x'", "'mdlsim bench-report --help'"],
        ),
        (&["help", "frob"], &["unrecognized subcommand 'frob'"]),
    ];
    for (args, what) in cases {
        let o = mdlsim(args);
        assert_bad_input(&o, what);
        let err = stderr(&o);
        assert!(err.starts_with("mdlsim: error: "), "{args:?}: {err}");
        assert!(!err.contains("Usage:"), "{args:?}: {err}");
    }
    for args in [
        &["--help"][..],
        &["--version"],
        &["audit", "--help"],
        &["help", "replay"],
    ] {
        let o = mdlsim(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stdout(&o).is_empty());
    }
}

#[test]
fn audit_exit_status_is_nonzero_when_a_documented_correct_strategy_fails() {
    // Seeded by the library: the report's verdict decides the status; a documented
    // correct strategy failing is `BAD`. Exercise the decision itself.
    use mdlsim_cli::{AuditReport, Verdict};
    let r = AuditReport {
        cases: 1,
        seed: 0,
        rows: Vec::new(),
        verdicts: vec![Verdict {
            strategy: "X".into(),
            documented: None,
            failed: true,
            as_documented: false,
            note: "documented correct, but FAILS".into(),
        }],
    };
    assert!(!r.all_as_documented());
    assert!(mdlsim_cli::render_matrix(&r).contains("BAD"));
}

#[test]
fn audit_json_parses_back_into_the_report() {
    let o = mdlsim(&[
        "audit",
        "--strategy",
        "UncheckedNullMdl",
        "--cases",
        "30",
        "--seed",
        "8",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: mdlsim_cli::AuditReport = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((r.cases, r.seed), (30, 8));
    assert_eq!(r.rows.len(), 2);
    assert!(r.rows.iter().all(|x| !x.passed));
    assert!(r.rows.iter().all(|x| {
        x.classes
            .contains(&mdlsim::oracle::BugClass::ZeroLengthOrNullMdl)
    }));
    assert!(r.all_as_documented());
}

#[test]
fn audit_is_deterministic() {
    let a = mdlsim(&[
        "audit",
        "--strategy",
        "CopyBackAll",
        "--cases",
        "30",
        "--json",
    ]);
    let b = mdlsim(&[
        "audit",
        "--strategy",
        "CopyBackAll",
        "--cases",
        "30",
        "--json",
        "--jobs",
        "1",
    ]);
    assert_eq!(a.stdout, b.stdout);
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = root().join("examples/scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_scenario_replays_with_its_expected_findings() {
    let files = scenario_files();
    assert!(files.len() >= 10);
    for f in &files {
        let sc = mdlsim::scenario::Scenario::load(f).unwrap();
        let o = mdlsim(&["replay", f.to_str().unwrap()]);
        let out = stdout(&o);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {out}{}",
            f.display(),
            stderr(&o)
        );
        assert!(out.contains("-> as expected"), "{out}");
        for k in &sc.expect.findings {
            assert!(
                out.contains(&format!("-> finding {k}")),
                "{}: {k}\n{out}",
                f.display()
            );
        }
        if sc.expect.findings.is_empty() {
            assert!(!out.contains("-> finding"), "{out}");
        }
        if let mdlsim::scenario::Body::Ops { ops, .. } = &sc.scenario {
            // Every op is printed with its outcome, then the final state and the verdict.
            for (i, op) in ops.iter().enumerate() {
                assert!(
                    out.contains(&format!(" {i} {}", op.name())),
                    "{}: op {i}\n{out}",
                    f.display()
                );
            }
            assert!(out.contains("final state: "), "{out}");
            assert!(out.contains("no page map"), "{out}");
        }
    }
}

#[test]
fn ops_scenarios_cover_seeds_003_and_004_with_their_outcomes() {
    let run = |f: &str| {
        let o = mdlsim(&["replay", &format!("examples/scenarios/{f}")]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stderr(&o));
        stdout(&o)
    };
    let out = run("seed003-notify-new-system-buffer.json");
    assert!(out.contains("NtNotifyChangeDirectoryFile"), "{out}");
    assert!(out.contains("STATUS_PENDING (0x00000103), IRP #0"), "{out}");
    assert!(
        out.contains("IrpMdlAddress {\"irp\":{\"Nth\":0}} -> NULL"),
        "{out}"
    );
    let out = run("seed004-exit-with-locked-pages.json");
    assert!(
        out.contains("final state: crashed, *** STOP: 0x00000076"),
        "{out}"
    );
    assert!(out.contains("PROCESS_HAS_LOCKED_PAGES"), "{out}");
    let out = run("seed004-exit-with-locked-pages-tracked.json");
    assert!(out.contains("0x000000CB"), "{out}");
    assert!(out.contains("\"track_locked_pages\":true"), "{out}");
    let out = run("seed004-rundown-stuck-irp.json");
    assert!(out.contains("[stuck_irp]"), "{out}");
    assert!(out.contains("IrpDisassociated"), "{out}");
    let out = run("seed004-rundown-completes-in-time.json");
    assert!(out.contains("hazards: none"), "{out}");
    // `--svg` on an ops scenario says no page map applies and writes nothing.
    let dir = tmp("ops-svg");
    let svg = dir.join("map.svg");
    let o = mdlsim(&[
        "replay",
        "examples/scenarios/seed004-freed-buffer-stays-pinned.json",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("no page map applies"), "{}", stdout(&o));
    assert!(!svg.exists());
}

/// An ops scenario whose expectations do not hold: exit status 1, the verdict line says
/// why, and stderr carries the reason in one line.
#[test]
fn an_ops_scenario_whose_expectations_fail_exits_one_with_the_reason() {
    let dir = tmp("ops-mismatch");
    let good = read("examples/scenarios/seed004-exit-with-locked-pages.json");
    let cases = [
        (
            "code.json",
            good.replace("\"PROCESS_HAS_LOCKED_PAGES\"", "\"0x50\""),
            "final: expected bug check",
        ),
        (
            "param.json",
            good.replace("          3,\n", "          4,\n"),
            "parameter 3 is 0x3, expected 0x4",
        ),
        (
            "events.json",
            good.replace("\"events\": []", "\"events\": [\"IrpDisassociated\"]"),
            "events: missing [IrpDisassociated]",
        ),
        (
            "step.json",
            good.replace("{\"op\": 4, \"ok\": true}", "{\"op\": 4, \"ok\": false}"),
            "op 4 (MmProbeAndLockPages): expected it to fault",
        ),
        (
            "findings.json",
            good.replace(
                "\"findings\": [\n      \"LockLeak\"\n    ]",
                "\"findings\": []",
            ),
            "findings: LockLeak found, none expected",
        ),
    ];
    for (name, text, why) in cases {
        assert_ne!(text, good, "{name}: the edit applies");
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let o = mdlsim(&["replay", p.to_str().unwrap()]);
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(1), "{name}: {out}{err}");
        assert!(out.contains("-> NOT as expected"), "{name}: {out}");
        assert!(out.contains(why), "{name}: `{why}` missing from {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(why) && err.contains(name), "{name}: {err}");
    }
}

#[test]
fn the_seed_situations_each_have_a_scenario() {
    let names: Vec<String> = scenario_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "seed000-directmap-read.json",
        "seed000-directmap-write.json",
        "seed000-headtail-read.json",
        "seed000-headtail-write.json",
        "seed001-zero-length-null-mdl.json",
        "seed001-zero-length-handled.json",
        "seed001-portname-double-fetch.json",
        "seed001-portname-captured.json",
        "seed003-notify-new-system-buffer.json",
        "seed004-freed-buffer-stays-pinned.json",
        "seed004-app-changes-direct-buffer.json",
        "seed004-exit-with-locked-pages.json",
        "seed004-rundown-stuck-irp.json",
    ] {
        assert!(names.iter().any(|n| n == want), "{want}");
    }
    // Every shipped file is embedded for `explain`.
    let embedded: Vec<&str> = mdlsim_cli::EXAMPLES.iter().map(|(f, _)| *f).collect();
    for n in &names {
        assert!(embedded.contains(&n.as_str()), "{n} not in cli::EXAMPLES");
    }
}

#[test]
fn replay_page_map_marks_out_of_range_bytes_the_direct_map_exposes() {
    let o = mdlsim(&["replay", "examples/scenarios/seed000-directmap-read.json"]);
    let out = stdout(&o);
    assert!(out.contains("page map"), "{out}");
    // Not a TTY: no colour.
    assert!(!out.contains('\x1b'));
    // 0x200 bytes before the range on the first page, 0xE00 after it on the last.
    assert!(out.contains("512 forbidden bytes visible"), "{out}");
    assert!(out.contains("3584 forbidden bytes visible"), "{out}");
    let ok = stdout(&mdlsim(&[
        "replay",
        "examples/scenarios/seed000-headtail-read.json",
    ]));
    assert!(!ok.contains("forbidden bytes visible"), "{ok}");
}

/// Well-formed XML: every event parses and every element opened is closed.
fn assert_well_formed(svg: &str) -> usize {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut r = Reader::from_str(svg);
    let (mut depth, mut elements, mut root) = (0i64, 0usize, 0usize);
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                if depth == 0 {
                    root += 1;
                    assert_eq!(e.name().as_ref(), b"svg");
                }
                depth += 1;
                elements += 1;
            }
            Event::End(_) => depth -= 1,
            Event::Empty(_) => elements += 1,
            Event::Eof => break,
            _ => {}
        }
        assert!(depth >= 0);
    }
    assert_eq!((depth, root), (0, 1));
    elements
}

#[test]
fn replay_svg_is_written_and_well_formed() {
    let dir = tmp("svg");
    for (f, min_rects) in [
        ("examples/scenarios/seed000-directmap-read.json", 8),
        ("examples/scenarios/seed000-unzeroed-substitute.json", 4),
        ("examples/scenarios/seed001-zero-length-null-mdl.json", 1),
    ] {
        let svg = dir.join("map.svg");
        let o = mdlsim(&["replay", f, "--svg", svg.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<?xml"));
        assert!(assert_well_formed(&text) >= min_rects, "{f}");
    }
    let text = mdlsim::pagemap::PageMap::default().render_svg("a <title> & \"quotes\"");
    assert_well_formed(&text);
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

#[test]
fn bad_input_is_one_line_and_exit_status_two() {
    let dir = tmp("bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    // Missing file.
    let o = mdlsim(&["replay", "no/such/file.json"]);
    assert_bad_input(&o, &["no/such/file.json", "cannot read"]);
    // Malformed JSON: file, line and column.
    let f = write(
        "malformed.json",
        "{\n  \"schema_version\": 1,\n  \"name\": \"x\"\n  \"oops\"\n}",
    );
    assert_bad_input(
        &mdlsim(&["replay", &f]),
        &["malformed.json:4:3", "malformed JSON"],
    );
    // A wrong schema version.
    let f = write(
        "version.json",
        "{\n  \"schema_version\": 9,\n  \"name\": \"x\"\n}",
    );
    assert_bad_input(
        &mdlsim(&["replay", &f]),
        &["version.json:2:3", "schema_version 1"],
    );
    // Valid JSON, not a scenario (a missing field).
    let f = write("missing.json", "{\"schema_version\": 1, \"name\": \"x\"}");
    assert_bad_input(&mdlsim(&["replay", &f]), &["missing.json:1:", "scenario"]);
    // An inconsistent case (a direction that does not exist).
    let good = read("examples/scenarios/seed000-headtail-read.json");
    let f = write("direction.json", &good.replace("\"Read\"", "\"Sideways\""));
    assert_bad_input(&mdlsim(&["replay", &f]), &["direction.json:", "Sideways"]);
    // A case the runner cannot play: an offset outside a page, an absurd length.
    let f = write(
        "offset.json",
        &good.replace("\"offset\": 512", "\"offset\": 5000"),
    );
    assert_bad_input(&mdlsim(&["replay", &f]), &["offset.json:", "0..=4095"]);
    let f = write(
        "length.json",
        &good.replace("\"length\": 12288", "\"length\": 4000000000"),
    );
    assert_bad_input(&mdlsim(&["replay", &f]), &["length.json:", "at most"]);
    // An unknown strategy in a file.
    let f = write(
        "strategy.json",
        &good.replace("\"HeadTailSplice\"", "\"NoSuchStrategy\""),
    );
    assert_bad_input(
        &mdlsim(&["replay", &f]),
        &[
            "strategy.json:",
            "NoSuchStrategy",
            "expected one of",
            "BounceCopy",
        ],
    );
    // Ops-only expectations in a "case" scenario.
    let f = write(
        "case-events.json",
        &good.replace("\"expect\": {", "\"expect\": {\n    \"events\": [],"),
    );
    assert_bad_input(
        &mdlsim(&["replay", &f]),
        &[
            "case-events.json:",
            "expect.events applies to scenario kind \"ops\"",
        ],
    );
    // Unknown strategy and class on the command line.
    assert_bad_input(
        &mdlsim(&["audit", "--strategy", "Nope", "--cases", "1"]),
        &["unknown strategy `Nope`", "HeadTailSplice"],
    );
    assert_bad_input(
        &mdlsim(&["explain", "NoSuchClass"]),
        &["unknown bug class `NoSuchClass`", "DoubleFetch"],
    );
    // A usage error (clap) is status 2 too.
    assert_eq!(mdlsim(&["audit", "--cases", "many"]).status.code(), Some(2));
}

/// An unknown field inside a `"case"`, an op or an op's argument is refused like one
/// anywhere else: status 2, one line naming the file, the field's position and the
/// fields that exist.
#[test]
fn unknown_fields_in_cases_and_ops_are_refused_at_their_position() {
    let dir = tmp("unknown-fields");
    let case = read("examples/scenarios/seed000-headtail-read.json");
    let ops = read("examples/scenarios/seed004-rundown-stuck-irp.json");
    let cases = [
        (
            "case.json",
            case.replace("\"seed\": 0", "\"seed\": 0,\n      \"sead\": 1"),
            vec![":18:", "unknown field `sead`", "`offset`"],
        ),
        (
            "body.json",
            case.replace(
                "\"strategy\": \"HeadTailSplice\",",
                "\"strategy\": \"HeadTailSplice\",\n    \"strategie\": 1,",
            ),
            vec![":11:", "unknown field `strategie`", "`case`"],
        ),
        (
            "op.json",
            ops.replace("\"flags\": 16}", "\"flags\": 16, \"flag\": 1}"),
            vec![":12:", "unknown field `flag`", "`driver` or `flags`"],
        ),
        (
            "address.json",
            ops.replace(
                "\"offset\": 0}}, \"length\": 16",
                "\"offset\": 0, \"base\": 1}}, \"length\": 16",
            ),
            vec![":16:", "unknown field `base`", "`ix` or `offset`"],
        ),
        (
            "op-two-keys.json",
            ops.replace(
                "{\"Process\": \"CreateProcess\"}",
                "{\"Process\": \"CreateProcess\", \"note\": 1}",
            ),
            vec![":13:", "exactly one key"],
        ),
    ];
    for (name, text, what) in cases {
        assert!(text != case && text != ops, "{name}: the edit applies");
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let mut w = vec![name];
        w.extend(what);
        assert_bad_input(&mdlsim(&["replay", p.to_str().unwrap()]), &w);
    }
}

/// Malformed and inconsistent "ops" scenarios: status 2, one line naming the file and
/// the position (line and column, or the op) and what was expected.
#[test]
fn bad_ops_input_is_one_line_and_exit_status_two() {
    let dir = tmp("bad-ops");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = read("examples/scenarios/seed004-rundown-stuck-irp.json");
    let ops = |ops: &str, expect: &str| {
        format!(
            "{{\n  \"schema_version\": 1,\n  \"name\": \"x\",\n  \"scenario\": {{\n    \"kind\": \"ops\",\n    \"ops\": [\n      {ops}\n    ]\n  }},\n  \"expect\": {expect}\n}}\n"
        )
    };
    let bad = |name: &str, text: String, what: &[&str]| {
        assert_ne!(text, good, "{name}: the edit applies");
        let f = write(name, &text);
        let mut w = vec![name];
        w.extend_from_slice(what);
        assert_bad_input(&mdlsim(&["replay", &f]), &w);
    };
    // An unknown op: its line and column, and the ops that exist.
    bad(
        "unknown-op.json",
        good.replace("\"IrpMdlAddress\"", "\"IrpFrobnicate\""),
        &[
            ":20:29:",
            "unknown variant `IrpFrobnicate`",
            "expected one of",
            "NtReadFile",
        ],
    );
    // An unknown layer.
    bad(
        "unknown-layer.json",
        ops("{\"Gpu\": {\"Flush\": {}}}", "{}"),
        &[":7:", "unknown variant `Gpu`", "Mdl"],
    );
    // Expectations of the wrong type.
    bad(
        "events-type.json",
        good.replace(
            "\"events\": [\n      \"IrpDisassociated\"\n    ]",
            "\"events\": \"IrpDisassociated\"",
        ),
        &["invalid type", "expected a sequence"],
    );
    bad(
        "event-name.json",
        good.replace("\"IrpDisassociated\"", "\"IrpVanished\""),
        &["unknown variant `IrpVanished`", "MdlFreedWhileLocked"],
    );
    bad(
        "status.json",
        good.replace("\"STATUS_PENDING\"", "\"STATUS_SOMETIMES\""),
        &["`STATUS_SOMETIMES` is not an NTSTATUS", "STATUS_PENDING"],
    );
    bad(
        "code.json",
        ops(
            "{\"Process\": \"CreateProcess\"}",
            "{\"final\": {\"bug_check\": {\"code\": \"BLUE_SCREEN\"}}}",
        ),
        &[
            ":10:",
            "`BLUE_SCREEN` is not a bug check code",
            "PROCESS_HAS_LOCKED_PAGES",
        ],
    );
    bad(
        "final.json",
        ops(
            "{\"Process\": \"CreateProcess\"}",
            "{\"final\": \"exploded\"}",
        ),
        &[":10:", "unknown variant `exploded`", "running", "bug_check"],
    );
    bad(
        "reads.json",
        good.replace(
            "{\"op\": 7, \"ok\": true}",
            "{\"op\": 7, \"reads\": \"zero\"}",
        ),
        &[
            "expect.steps[1] checks `reads` of op 7 (NtTerminateProcess)",
            "UserRead",
        ],
    );
    bad(
        "step-index.json",
        good.replace("{\"op\": 7, \"ok\": true}", "{\"op\": 70, \"ok\": true}"),
        &["expect.steps[1] checks op 70", "has 10 ops", "below 10"],
    );
    bad(
        "hazard.json",
        good.replace("\"stuck_irp\"", "\"stuck_ipr\""),
        &["unknown hazard kind `stuck_ipr`", "stuck_irp"],
    );
    bad(
        "machine.json",
        good.replace(
            "\"kind\": \"ops\",",
            "\"kind\": \"ops\",\n    \"machine\": {\"physical_memory_bytes\": 1},",
        ),
        &[":10:17:", "physical_memory_bytes 1", "expected 4096..="],
    );
    bad(
        "machine-field.json",
        good.replace(
            "\"kind\": \"ops\",",
            "\"kind\": \"ops\",\n    \"machine\": {\"ram\": 1},",
        ),
        &["unknown field `ram`", "physical_memory_bytes"],
    );
    // Too many ops.
    let many = vec!["{\"Process\": \"Detach\"}"; 1001].join(",\n      ");
    bad(
        "many.json",
        ops(&many, "{}"),
        &["1001 ops; expected at most 1000"],
    );
    // Inconsistent references: an MDL, an IRP, a device that does not exist when the
    // op runs. The op's index names the position.
    bad(
        "no-mdl.json",
        ops(
            "{\"Mdl\": {\"MmUnlockPages\": {\"mdl\": {\"Nth\": 0}}}}",
            "{}",
        ),
        &[
            "op 0 (MmUnlockPages)",
            "`mdl` {\"Nth\":0} names an MDL, but none exists",
        ],
    );
    bad(
        "mdl-index.json",
        good.replace(
            "{\"Io\": {\"IrpMdlAddress\": {\"irp\": {\"Nth\": 0}}}}",
            "{\"Io\": {\"IrpMdlAddress\": {\"irp\": {\"Nth\": 0}}}},\n      {\"Mdl\": {\"IoFreeMdl\": {\"mdl\": {\"Nth\": 3}}}}",
        ),
        &[
            "op 10 (IoFreeMdl)",
            "names an MDL that does not exist: 1 MDLs at that point",
            "below 1",
        ],
    );
    bad(
        "device-index.json",
        good.replace("\"device\": {\"Nth\": 0}", "\"device\": {\"Recent\": 4}"),
        &["op 5 (NtReadFile)", "`device` {\"Recent\":4}", "below 1"],
    );
    bad(
        "address.json",
        good.replace(
            "\"buffer\": {\"Returned\": {\"ix\": {\"Nth\": 0}",
            "\"buffer\": {\"Returned\": {\"ix\": {\"Nth\": 2}",
        ),
        &[
            "op 5 (NtReadFile)",
            "`ix` {\"Nth\":2} names a returned address",
        ],
    );
    // A NULL MDL is not an inconsistent reference: it is a situation, and the machine
    // answers as Windows does (a bug check the file can expect).
    let f = write(
        "null-mdl.json",
        &ops(
            "{\"Mdl\": {\"MmUnlockPages\": {\"mdl\": null}}}",
            "{\"findings\": [\"ZeroLengthOrNullMdl\"], \"final\": {\"bug_check\": {\"code\": \"0x1e\"}}, \"steps\": [{\"op\": 0, \"bug_check\": \"KMODE_EXCEPTION_NOT_HANDLED\"}]}",
        ),
    );
    let o = mdlsim(&["replay", &f]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("-> as expected"));
}

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

/// A hostile "ops" file (64 GiB of simulated RAM, a 16 GiB allocation zeroed) reached
/// 8.2 GB of host memory and aborted; now the replay stops at the host-memory budget with
/// one line naming it, exit 2 (`--memory-limit` lowers it; the file cannot raise it).
#[test]
fn replay_of_a_file_that_needs_too_much_host_memory_is_one_line() {
    let dir = tmp("memory");
    let file = dir.join("zero-16g.json");
    std::fs::write(
        &file,
        r#"{"schema_version": 1, "name": "zero a lot", "description": "hostile",
  "scenario": {"kind": "ops", "machine": {"physical_memory_bytes": 68719476736},
  "ops": [
    {"Process": "CreateProcess"},
    {"Vm": {"VirtualAlloc": {"process": {"Nth": 0}, "base": null, "size": 17179869184, "alloc_type": 12288, "protect": "ReadWrite"}}},
    {"Process": {"SwitchTo": {"process": {"Nth": 0}}}},
    {"Vm": {"KernelZero": {"va": {"Returned": {"ix": {"Nth": 0}, "offset": 0}}, "len": 17179869184}}}
  ]},
  "expect": {"findings": []}}"#,
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let o = mdlsim(&["replay", f, "--memory-limit", "64M"]);
    assert_bad_input(
        &o,
        &["op 3 (RtlZeroMemory)", "host memory limit", "67108864"],
    );
    // Bad limits are usage errors.
    for bad in ["0", "12", "1X", "99999999999G", "-1"] {
        let o = mdlsim(&["replay", f, "--memory-limit", bad]);
        assert_bad_input(&o, &["--memory-limit"]);
    }
    std::fs::remove_dir_all(&dir).ok();
}
