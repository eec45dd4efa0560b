//! The library entry point (`mdlsim_cli::Cli`) with a program's own strategies, and the
//! command's rough edges of issue 16 item 4, each test named after the behaviour.

use mdlsim::Kernel;
use mdlsim::strategy::{
    Completion, Exposure, HeadTailSplice, Io, ProxyStrategy, RetireReason, ServerReply, broken,
};
use mdlsim_cli::Cli;
use std::path::{Path, PathBuf};

/// A test-local strategy: `inner` under the name `name`, documented correct.
#[derive(Clone)]
struct Local<S> {
    name: &'static str,
    inner: S,
}

impl<S: ProxyStrategy> ProxyStrategy for Local<S> {
    fn name(&self) -> String {
        self.name.into()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> mdlsim::Result<Exposure> {
        self.inner.expose(k, io)
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> mdlsim::Result<Completion> {
        self.inner.retire(k, io, reply, why)
    }
}

fn good() -> Local<HeadTailSplice> {
    Local {
        name: "MySplice",
        inner: HeadTailSplice::default(),
    }
}

fn bad() -> Local<broken::DirectMap> {
    Local {
        name: "MyDirectMap",
        inner: broken::DirectMap::default(),
    }
}

/// `cli` run on `args` (after the program name): exit status, stdout, stderr.
fn run(cli: &Cli, args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let all = std::iter::once("mdlsim").chain(args.iter().copied());
    let code = cli.run(all, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mdlsim-entry-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn audit_runs_the_programs_strategy_beside_the_builtins() {
    let cli = Cli::new().strategy(good());
    let (code, out, err) = run(&cli, &["audit", "--cases", "500"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("MySplice (R)") && out.contains("BounceCopy (R)"),
        "{out}"
    );
    // The zoo only with --zoo.
    assert!(!out.contains("PagesBounce"), "{out}");
    let (_, out, _) = run(
        &cli,
        &[
            "audit",
            "--cases",
            "5",
            "--zoo",
            "--strategy",
            "pagesbounce",
        ],
    );
    assert!(out.contains("PagesBounce (R)"), "{out}");
}

#[test]
fn a_programs_counterexample_replays_through_the_same_cli_with_its_page_map() {
    let cli = Cli::new().strategy(bad());
    let dir = tmp("replay");
    let d = dir.display().to_string();
    let (code, out, _) = run(
        &cli,
        &[
            "audit",
            "--strategy",
            "mydirectmap",
            "--cases",
            "50",
            "--out",
            &d,
        ],
    );
    assert_eq!(code, 1, "documented correct, but fails: {out}");
    assert!(out.contains("BAD") && out.contains("MyDirectMap"), "{out}");
    let file = dir.join("MyDirectMap-read.json");
    let svg = dir.join("map.svg");
    let f = file.display().to_string();
    let (code, out, err) = run(&cli, &["replay", &f, "--svg", &svg.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("strategy MyDirectMap") && svg.is_file(),
        "{out}"
    );
    // The stock command does not know it: refused, listing the names it does know.
    let (code, _, err) = run(&Cli::new(), &["replay", &f]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown strategy `MyDirectMap`; expected one of BounceCopy"),
        "{err}"
    );
    assert!(
        err.contains("PagesBounce") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_name_registered_twice_is_refused_with_exit_status_2() {
    let cli = Cli::new().strategy(good()).strategy(good());
    let (code, _, err) = run(&cli, &["explain", "list"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("strategy `MySplice` registered twice"),
        "{err}"
    );
    let builtin = Cli::new().strategy(broken::DirectMap::default());
    assert_eq!(run(&builtin, &["explain", "list"]).0, 2);
}

#[test]
fn a_registry_of_only_the_programs_strategies_audits_only_them() {
    let mut r = mdlsim_cli::Registry::empty();
    r.add(good()).unwrap();
    let boxed: Box<dyn mdlsim::strategy::ProxyStrategyClone> = Box::new(bad());
    r.add(boxed).unwrap();
    assert_eq!(r.names(), ["MySplice", "MyDirectMap"]);
    let (code, out, _) = run(&Cli::with_registry(r), &["audit", "--cases", "60"]);
    assert_eq!(code, 1);
    assert!(
        !out.contains("BounceCopy") && out.contains("MyDirectMap (W)"),
        "{out}"
    );
}

#[test]
fn strategy_names_are_case_insensitive_with_the_parameter_optional() {
    let cli = Cli::new();
    for name in [
        "CopySmallMapLarge",
        "copysmallmaplarge",
        "CopySmallMapLarge(65536)",
        "COPYSMALLMAPLARGE(65536)",
    ] {
        let (code, out, err) = run(&cli, &["audit", "--strategy", name, "--cases", "5"]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains("CopySmallMapLarge(65536) (R)"), "{out}");
    }
    let (code, _, err) = run(&cli, &["audit", "--strategy", "CopySmallMapLarge(1)"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown strategy `CopySmallMapLarge(1)`; expected one of"),
        "{err}"
    );
}

#[test]
fn json_rows_of_failing_strategies_give_a_structured_counterexample_not_cases_0() {
    let (code, out, _) = run(
        &Cli::new(),
        &[
            "audit",
            "--strategy",
            "DirectMap",
            "--cases",
            "50",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for row in v["rows"].as_array().unwrap() {
        assert!(row.get("cases").is_none(), "{row}");
        let cx = &row["counterexample"];
        assert_eq!(cx["scenario"]["kind"], "case", "{row}");
        assert_eq!(cx["scenario"]["strategy"], "DirectMap");
        // The same schema as a scenario file: it parses and replays as one.
        let text = serde_json::to_string(cx).unwrap();
        let sc = mdlsim::scenario::Scenario::parse("row.json", &text).unwrap();
        let r = mdlsim::replay::play(sc, "row.json").unwrap();
        assert!(r.as_expected, "{:?}", r.mismatch());
    }
    let (_, out, _) = run(
        &Cli::new(),
        &[
            "audit",
            "--strategy",
            "BounceCopy",
            "--cases",
            "7",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"][0]["cases"], 7);
}

#[test]
fn counterexample_summaries_are_not_cut_mid_hex() {
    let (_, out, _) = run(&Cli::new(), &["audit", "--zoo", "--cases", "100", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (_, matrix, _) = run(&Cli::new(), &["audit", "--zoo", "--cases", "100"]);
    let mut seen = 0;
    for row in v["rows"].as_array().unwrap() {
        if let Some(s) = row["summary"].as_str() {
            seen += 1;
            assert!(!s.ends_with("..."), "{s}");
            assert!(matrix.contains(s), "the matrix prints it whole: {s}");
        }
    }
    assert!(seen > 10, "{seen} failing rows");
}

#[test]
fn explain_prints_commands_that_work_outside_the_repository() {
    let cli = Cli::new();
    let away = tmp("explain");
    for class in mdlsim_cli::explain_all_classes() {
        let text = mdlsim_cli::explain(class).unwrap();
        assert!(
            !text.contains("cargo run") && !text.contains("examples/scenarios"),
            "{text}"
        );
        for line in text.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("mdlsim replay ") else {
                continue;
            };
            let args: Vec<&str> = std::iter::once("replay").chain(rest.split(' ')).collect();
            let (code, out, err) = run(&cli, &args);
            assert_eq!(code, 0, "{line}: {out}{err}");
        }
    }
    // The binary too, from a folder with no repository around it.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mdlsim"))
        .args(["replay", "--example", "seed000-directmap-read"])
        .current_dir(&away)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bench_report_default_criterion_dir_honours_cargo_target_dir() {
    let dir = tmp("target");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mdlsim"))
        .arg("bench-report")
        .env("CARGO_TARGET_DIR", &dir)
        .env_remove("CRITERION_HOME")
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let want = format!(
        "{}: no criterion estimates there",
        dir.join("criterion").display()
    );
    assert!(err.contains(&want), "{err}");
}

/// Criterion's own override, `CRITERION_HOME`, wins over `CARGO_TARGET_DIR`.
#[test]
fn bench_report_default_criterion_dir_honours_criterion_home() {
    let dir = tmp("criterion-home");
    let home = dir.join("estimates");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mdlsim"))
        .arg("bench-report")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("CRITERION_HOME", &home)
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let want = format!("{}: no criterion estimates there", home.display());
    assert!(err.contains(&want), "{err}");
}

#[test]
fn no_color_turns_the_replays_colour_off() {
    assert!(mdlsim_cli::use_colour(true, None));
    assert!(mdlsim_cli::use_colour(true, Some("".as_ref())));
    assert!(!mdlsim_cli::use_colour(true, Some("1".as_ref())));
    assert!(!mdlsim_cli::use_colour(false, None));
}

#[test]
fn the_example_main_builds_the_whole_command() {
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mdlsim.rs"))
            .unwrap();
    assert!(src.contains("mdlsim_cli::Cli::new()") && src.contains(".run_from_env()"));
}

#[test]
fn progress_counts_cases_not_strategy_direction_runs() {
    use mdlsim_cli::Progress;
    use std::sync::Mutex;
    let seen: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let finished = Mutex::new(0);
    let opts = mdlsim_cli::AuditOptions {
        cases: Some(40),
        strategy: None,
        jobs: 2,
        ..Default::default()
    };
    let mut r = mdlsim_cli::Registry::empty();
    r.add(good()).unwrap();
    r.add(bad()).unwrap();
    mdlsim_cli::audit_using(&opts, &r, &|p| match p {
        Progress::Cases(n) => seen.lock().unwrap().push(n),
        Progress::Finished(..) => *finished.lock().unwrap() += 1,
    })
    .unwrap();
    let seen = seen.into_inner().unwrap();
    // Never backwards, and all 2 strategies x 2 directions x 40 cases at the end, the
    // failing runs' unrun cases included.
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&160));
    assert_eq!(finished.into_inner().unwrap(), 4);
}

#[test]
fn a_programs_strategy_name_cannot_write_outside_the_out_folder() {
    let cli = Cli::new().strategy(Local {
        name: "../escape/Direct Map",
        inner: broken::DirectMap::default(),
    });
    let dir = tmp("escape").join("out");
    let d = dir.display().to_string();
    let (code, out, _) = run(
        &cli,
        &[
            "audit",
            "--strategy",
            "../escape/direct map",
            "--cases",
            "50",
            "--out",
            &d,
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        dir.join("___escape_Direct_Map-read.json").is_file(),
        "{out}"
    );
}
