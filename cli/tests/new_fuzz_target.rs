//! `mdlsim new-fuzz-target`: a cargo-fuzz target over a program's own strategy written
//! into its crate, with dictionary, seed corpus and the corpus-replay test
//! (docs/guide/04-fuzzing.md; the walk-through, .ci/walkthrough, builds and runs it).

mod common;

use common::MySplice;
use mdlsim_cli::Cli;
use mdlsim_cli::template::{FuzzTemplate, target_name};
use std::path::{Path, PathBuf};

const MANIFEST: &str = r#"[package]
name = "my-proxy"
version = "0.1.0"
edition = "2024"

[dependencies]
mdlsim = { path = "../mdlsim" }

[dev-dependencies]
mdlsim-cli = { path = "../mdlsim/cli" }
"#;

fn crate_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mdlsim-nft-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("Cargo.toml"), MANIFEST).unwrap();
    d
}

fn run(dir: &Path, extra: &[&str]) -> (u8, String, String) {
    let cli = Cli::new().strategy(MySplice::default());
    let mut args = vec!["mdlsim", "new-fuzz-target", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli.run(args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn writes_a_target_dictionary_corpus_and_replay_test_for_your_strategy() {
    let dir = crate_dir("ok");
    let (code, out, err) = run(&dir, &["--strategy", "mysplice"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("cargo fuzz run --sanitizer none my_splice"),
        "{out}"
    );
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let manifest = read("fuzz/Cargo.toml");
    assert!(manifest.contains("cargo-fuzz = true") && manifest.contains("[workspace]"));
    assert!(
        manifest.contains("my-proxy = { path = \"..\" }"),
        "{manifest}"
    );
    // The crate's relative path, one level further up from fuzz/.
    assert!(
        manifest.contains("mdlsim = { path = \"../../mdlsim\", features = [\"fuzzing\"] }"),
        "{manifest}"
    );
    assert!(manifest.contains("name = \"my_splice\""));
    let target = read("fuzz/fuzz_targets/my_splice.rs");
    assert!(target.contains("fuzz_strategy(&my_proxy::MySplice::default(), data)"));
    assert!(target.contains("splice_keeps(data)"));
    let test = read("tests/my_splice_corpus.rs");
    assert!(test.contains("fn my_splice_corpus_replays_clean()"));
    assert!(test.contains("replay_corpus(&my_proxy::MySplice::default(), dir)"));
    assert_eq!(
        read("fuzz/my_splice.dict"),
        mdlsim::fuzzing::SPLICE_DICTIONARY
    );
    let seeds = std::fs::read_dir(dir.join("fuzz/corpus/my_splice"))
        .unwrap()
        .count();
    assert_eq!(seeds, mdlsim::fuzzing::seed_corpus().len());
    // The corpus written replays clean through the strategy, as the test will.
    let n = mdlsim::fuzzing::replay_corpus(&MySplice::default(), dir.join("fuzz/corpus/my_splice"));
    assert_eq!(n.unwrap(), seeds);

    // A second run writes nothing over the first.
    let (code, _, err) = run(&dir, &["--strategy", "MySplice"]);
    assert_eq!(code, 2);
    assert!(err.contains("already there, nothing written"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_target_joins_the_fuzz_manifest_and_expr_is_taken_as_given() {
    let dir = crate_dir("two");
    assert_eq!(run(&dir, &["--strategy", "MySplice"]).0, 0);
    let (code, out, err) = run(
        &dir,
        &[
            "--strategy",
            "HeadTailSplice",
            "--expr",
            "mdlsim::strategy::HeadTailSplice::default()",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added a [[bin]]"), "{out}");
    let manifest = std::fs::read_to_string(dir.join("fuzz/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"my_splice\"")
            && manifest.contains("name = \"head_tail_splice\"")
    );
    let t = std::fs::read_to_string(dir.join("fuzz/fuzz_targets/head_tail_splice.rs")).unwrap();
    assert!(t.contains("fuzz_strategy(&mdlsim::strategy::HeadTailSplice::default(), data)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_an_unknown_strategy_or_a_crate_without_mdlsim() {
    let dir = crate_dir("bad");
    let (code, _, err) = run(&dir, &["--strategy", "NoSuch"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown strategy `NoSuch`") && err.contains("MySplice"),
        "{err}"
    );
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let (code, _, err) = run(&dir, &["--strategy", "MySplice"]);
    assert_eq!(code, 2);
    assert!(err.contains("no `mdlsim = ...` line"), "{err}");
    assert!(!dir.join("fuzz").exists(), "nothing written");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_version_git_and_absolute_dependencies() {
    let t = |dep: &str| {
        let m = format!(
            "[package]\nname = \"p\"\n[dependencies]\nmdlsim-cli = \"9\"\nmdlsim = {dep}\n"
        );
        FuzzTemplate::from_manifest(&m, "MySplice(4096)", None).unwrap()
    };
    assert_eq!(
        t("\"0.1\"").mdlsim_dep,
        r#"version = "0.1", features = ["fuzzing"]"#
    );
    assert_eq!(
        t(r#"{ version = "0.1", default-features = false }"#).mdlsim_dep,
        r#"version = "0.1", features = ["fuzzing"]"#
    );
    assert_eq!(
        t(r#"{ git = "https://example.org/mdlsim" }"#).mdlsim_dep,
        r#"git = "https://example.org/mdlsim", features = ["fuzzing"]"#
    );
    assert_eq!(
        t(r#"{ path = "/src/mdlsim" }"#).mdlsim_dep,
        r#"path = "/src/mdlsim", features = ["fuzzing"]"#
    );
    let x = t("\"0.1\"");
    assert_eq!(
        (x.target.as_str(), x.expr.as_str()),
        ("my_splice", "p::MySplice::default()")
    );
    assert_eq!(
        target_name("CopySmallMapLarge(65536)"),
        "copy_small_map_large"
    );
    assert_eq!(target_name("2Fast"), "strategy_2_fast");
}
