//! Scenario files refuse unknown fields at every depth: each JSON object of every shipped
//! scenario and of every example in `docs/scenarios.md` (the file, its body, a `"case"`,
//! each op, its operation and arguments, the expectations), given one extra key, is
//! refused with its position, never accepted silently.

use mdlsim::scenario::Scenario;
use serde_json::Value;
use std::path::Path;

/// Paths (as JSON pointers) of every object in `v`.
fn objects(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            out.push(at.clone());
            for (k, x) in m {
                objects(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                objects(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Every shipped scenario file and documentation example: (name, text).
fn scenarios() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<(String, String)> = std::fs::read_dir(root.join("examples/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.display().to_string(), text)
        })
        .collect();
    let doc = std::fs::read_to_string(root.join("docs/scenarios.md")).unwrap();
    for (i, block) in doc.split("```json\n").skip(1).enumerate() {
        let text = block.split("```").next().unwrap().to_string();
        v.push((format!("docs/scenarios.md example {i}"), text));
    }
    v.sort();
    v
}

#[test]
fn an_unknown_field_in_any_object_of_a_scenario_is_refused_at_its_position() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut checked = 0;
    for (name, text) in scenarios() {
        Scenario::parse(&name, &text).unwrap_or_else(|e| panic!("{e}"));
        let v: Value = serde_json::from_str(&text).unwrap();
        kinds.insert(v["scenario"]["kind"].as_str().unwrap().to_string());
        let mut paths = Vec::new();
        objects(&v, String::new(), &mut paths);
        for p in paths {
            let mut w = v.clone();
            let Some(Value::Object(m)) = w.pointer_mut(&p) else {
                unreachable!()
            };
            m.insert("zz_unknown".into(), Value::from(1));
            let edited = serde_json::to_string_pretty(&w).unwrap();
            let e = Scenario::parse("edited.json", &edited)
                .expect_err(&format!("{name}: an unknown field at `{p}` is accepted"));
            // Refused where the key is (a struct names it), or just before it (an object
            // that must have one key, naming a variant, says so at the end of its first
            // entry), not at the end of an enclosing object.
            let at = edited
                .lines()
                .position(|l| l.contains("\"zz_unknown\""))
                .unwrap()
                + 1;
            let msg = e.to_string();
            assert!(
                msg.contains("unknown field `zz_unknown`") || msg.contains("exactly one key"),
                "{name} `{p}`: {msg}"
            );
            assert!(
                e.line == at || (msg.contains("exactly one key") && e.line + 1 == at),
                "{name} `{p}`: refused at line {}, the key is on line {at}: {msg}",
                e.line
            );
            checked += 1;
        }
    }
    assert!(kinds.contains("case") && kinds.contains("ops"), "{kinds:?}");
    assert!(checked > 200, "{checked}");
}

/// `scenario.machine.windows` picks the Windows whose rules apply: the same 64 MiB
/// `IoAllocateMdl` is NULL on Server 2003 and an MDL on Windows 10 (the default); an
/// unknown version is refused.
#[test]
fn a_scenario_machine_names_its_windows_version() {
    use mdlsim::scenario::Body;
    use mdlsim::windows::WindowsVersion;
    let text = |windows: &str| {
        format!(
            r#"{{"schema_version": 1, "name": "w", "scenario": {{"kind": "ops", "machine": {{"windows": "{windows}"}}, "ops": []}}}}"#
        )
    };
    for (name, v) in [
        ("Server2003", WindowsVersion::Server2003),
        ("Windows10", WindowsVersion::Windows10),
    ] {
        let s = Scenario::parse("w.json", &text(name)).unwrap();
        let Body::Ops { machine, .. } = s.scenario else {
            panic!("ops")
        };
        let config = machine.config();
        assert_eq!(config.windows, v);
        let mut m = mdlsim::Machine::new(config).unwrap();
        let mdl = m
            .io_allocate_mdl(mdlsim::addr::Va::new(0x10000), 64 << 20, false, false, None)
            .unwrap();
        assert_eq!(mdl.is_some(), v == WindowsVersion::Windows10, "{name}");
    }
    assert!(Scenario::parse("w.json", &text("Windows95")).is_err());
}
