//! A driver author searches the docs by the WDK's names: every `NTSTATUS` the model
//! names answers to its `STATUS_*` symbol, every MDL flag to its `MDL_*` name, and the
//! macros and routines drivers write by name (`MmGetMdlPfnArray`, `MmGetMdlVirtualAddress`,
//! `MmGetMdlByteCount`, `MmGetMdlByteOffset`, `PsGetCurrentProcess`) answer too. Read from
//! the source: each constant of the status table and of `MdlFlags` carries the alias its
//! own name gives (a negative control shows a missing one is caught).

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The constants of `text` (lines `NAME = 0x...;` or `const NAME = 0x...;`) without a
/// `#[doc(alias = "{prefix}NAME")]` among the attribute lines just above.
fn missing_aliases(text: &str, prefix: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim().trim_start_matches("const ");
        let Some((name, rest)) = l.split_once(" = ") else {
            continue;
        };
        let is_const = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && rest.starts_with("0x");
        if !is_const {
            continue;
        }
        let alias = format!("#[doc(alias = \"{prefix}{name}\")]");
        let above = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim().starts_with("#[") || l.trim().starts_with("///"));
        if !above.clone().any(|l| l.trim() == alias) {
            missing.push(name.to_string());
        }
    }
    missing
}

#[test]
fn every_status_and_mdl_flag_answers_to_its_wdk_name() {
    let status = read("src/status.rs");
    let table = &status[status.find("ntstatus_table! {").unwrap()..];
    assert_eq!(missing_aliases(table, "STATUS_"), Vec::<String>::new());
    let mdl = read("src/mdl.rs");
    let flags = &mdl[mdl.find("pub struct MdlFlags").unwrap()..];
    let flags = &flags[..flags.find("\n    }").unwrap()];
    assert_eq!(missing_aliases(flags, "MDL_"), Vec::<String>::new());
    for alias in [
        "MmGetMdlPfnArray",
        "MmGetMdlVirtualAddress",
        "MmGetMdlByteCount",
        "MmGetMdlByteOffset",
    ] {
        assert!(
            mdl.contains(&format!("#[doc(alias = \"{alias}\")]")),
            "{alias}"
        );
    }
    assert!(read("src/machine/mod.rs").contains("#[doc(alias = \"PsGetCurrentProcess\")]"));
}

/// Negative control: a constant without its alias is reported.
#[test]
fn a_constant_without_its_alias_is_caught() {
    let text = "    /// `STATUS_X`.\n    #[doc(alias = \"STATUS_X\")]\n    X = 0x1;\n    /// `STATUS_Y`.\n    Y = 0x2;\n";
    assert_eq!(missing_aliases(text, "STATUS_"), vec!["Y".to_string()]);
}
