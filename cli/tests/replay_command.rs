//! `mdlsim replay`: every shipped scenario replays with its expected findings, failed
//! expectations exit 1 with the reason, the page map and its SVG, and a file that needs too
//! much host memory.

mod common;

use common::*;

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
