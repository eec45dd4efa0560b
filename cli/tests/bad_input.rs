//! Every bad input — usage, case and ops files, unknown fields — gives exit status 2 and a
//! one-line message naming what is wrong.

mod common;

use common::*;

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
