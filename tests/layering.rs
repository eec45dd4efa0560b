//! The model's modules form layers (docs/architecture.md, "Layers"): a module may use its
//! own layer and the ones below, never one above, and no two modules may use each other
//! (directly or around a loop) — except the cycles recorded below as design debt, which
//! may only shrink. Dependencies are read from the source (`crate::module` paths outside
//! `#[cfg(test)]` code), so an upward `use` fails here, in CI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module not listed fails the test (place it when adding it).
const LAYERS: &[&[&str]] = &[
    // Values and identities: no state.
    &[
        "addr", "status", "bugcheck", "fault", "arena", "ranges", "counters", "ids", "guide",
        "windows", "verifier", "audit", "irql",
    ],
    // Physical memory: frames, the PFN database, byte provenance, the access log.
    &["shadow", "pfn", "log"],
    // Address spaces, processes, system PTEs.
    &["space", "process", "syspte"],
    // The kernel's objects as records: MDLs and their mappings, protocol events, the
    // blame trail, IRPs, devices and the I/O manager's state.
    &["mdl", "events", "trail", "iostate", "user_pointers"],
    // The subsystems, each on a context borrowed from the machine: virtual memory,
    // then the pool (which maps pages through it), then the memory manager.
    &["vm"],
    &["pool"],
    &["mm"],
    // The facade: the `Machine` (entering each DDI, delegating), the `Kernel` view,
    // the driver traits.
    &["machine"],
    // Unit-test set-ups on the facade (`#[cfg(test)]`).
    &["testing"],
    // The I/O manager: it calls driver code, so it stands on the machine.
    &["io"],
    // One operation vocabulary, generators, page maps.
    &["op", "generators", "pagemap"],
    // The oracle, strategies, the harness, workloads and their cost.
    &["oracle", "strategy", "verify", "workload", "cost"],
    // The driver harness stands on verify's configuration and campaign.
    &["verify_driver"],
    // Scenario files, replay, fuzz targets, benchmarks of strategies.
    &["scenario", "replay", "fuzzing", "bench"],
];

/// Cycles that exist today (each a set of modules that use one another), recorded as
/// design debt: none. A new cycle fails the test; record one here only with the reason
/// in docs/architecture.md, and only if it cannot be avoided.
const CYCLE_DEBT: &[&[&str]] = &[];

#[test]
fn no_module_uses_a_higher_layer() {
    let deps = module_deps(&src());
    let upward = upward_edges(&deps, LAYERS);
    assert!(upward.is_empty(), "upward uses: {upward:#?}");
}

#[test]
fn every_module_has_a_layer() {
    let deps = module_deps(&src());
    let placed: BTreeSet<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let missing: Vec<&String> = deps
        .keys()
        .filter(|m| !placed.contains(m.as_str()))
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn cycles_are_only_the_recorded_debt() {
    let deps = module_deps(&src());
    let found = cycles(&deps);
    let debt: BTreeSet<BTreeSet<String>> = CYCLE_DEBT
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    assert_eq!(
        found, debt,
        "module cycles changed: update CYCLE_DEBT only when a cycle shrank"
    );
}

/// Negative control: an upward use and a new cycle are both caught.
#[test]
fn checker_catches_an_upward_use_and_a_cycle() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edge = |a: &str, b: &str| {
        deps.entry(a.into()).or_default().insert(b.into());
    };
    edge("pfn", "addr");
    edge("pfn", "space"); // upward: layer 1 uses layer 2
    edge("space", "process");
    edge("process", "space"); // a cycle inside layer 2
    let layers: &[&[&str]] = &[&["addr"], &["pfn"], &["space", "process"]];
    assert_eq!(
        upward_edges(&deps, layers),
        vec![("pfn".to_string(), "space".to_string())]
    );
    let want: BTreeSet<BTreeSet<String>> =
        [["process".to_string(), "space".to_string()].into()].into();
    assert_eq!(cycles(&deps), want);
    // And the source reader sees `crate::x` paths, not those in tests or comments.
    let text = "use crate::addr::Va;\n// crate::op in a comment\nfn f() { crate::pool::tag(b\"abcd\"); }\n#[cfg(test)]\nmod tests { use crate::verify; }\n";
    assert_eq!(
        uses_in(text, "mdl"),
        ["addr".to_string(), "pool".to_string()].into()
    );
    // A file its parent declares `#[cfg(test)] mod tests;` is test code as a whole.
    let dir = std::env::temp_dir().join(format!("layering-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let parent = dir.join("mod.rs");
    std::fs::write(&parent, "pub mod real;\n#[cfg(test)]\nmod tests;\n").unwrap();
    let files = [parent, dir.join("real.rs"), dir.join("tests.rs")];
    for f in &files[1..] {
        std::fs::write(f, "use crate::verify;\n").unwrap();
    }
    let test_only = test_only_files(&files);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(test_only.contains(&files[2]) && !test_only.contains(&files[1]));
}

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module -> the top-level modules it uses.
fn module_deps(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = std::fs::read_dir(src)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(name)
        })
        .filter(|m| m != "lib" && m != "bin")
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &modules {
        let mut files = Vec::new();
        let file = src.join(format!("{m}.rs"));
        if file.exists() {
            files.push(file);
        }
        collect(&src.join(m), &mut files);
        let test_only = test_only_files(&files);
        let set = deps.entry(m.clone()).or_default();
        for f in files.iter().filter(|f| !test_only.contains(*f)) {
            let text = std::fs::read_to_string(f).unwrap();
            set.extend(
                uses_in(&text, m)
                    .into_iter()
                    .filter(|u| modules.contains(u)),
            );
        }
    }
    deps
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The files among `files` that are whole test modules: declared `#[cfg(test)] mod x;`
/// (other attributes may sit between) by their parent, so none of their code is built
/// outside tests.
fn test_only_files(files: &[std::path::PathBuf]) -> BTreeSet<std::path::PathBuf> {
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let dir = match f.file_stem().and_then(|s| s.to_str()) {
            Some("mod") => f.parent().unwrap().to_path_buf(),
            Some(stem) => f.parent().unwrap().join(stem),
            None => continue,
        };
        let mut gated = false;
        for line in text.lines().map(str::trim) {
            if line == "#[cfg(test)]" {
                gated = true;
            } else if gated && line.starts_with("#[") {
                continue;
            } else {
                if gated {
                    if let Some(name) = line.strip_prefix("mod ").and_then(|r| r.strip_suffix(';'))
                    {
                        out.insert(dir.join(format!("{name}.rs")));
                        out.insert(dir.join(name).join("mod.rs"));
                    }
                }
                gated = false;
            }
        }
    }
    out
}

/// The modules `text` (part of module `me`) names as `crate::x`, before any
/// `#[cfg(test)]`, outside `//` comments.
fn uses_in(text: &str, me: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let paths = line
            .match_indices("crate::")
            .map(|(i, p)| i + p.len())
            .chain(
                line.match_indices("super::super::")
                    .map(|(i, p)| i + p.len()),
            );
        for start in paths {
            let name: String = line[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != me {
                out.insert(name);
            }
        }
    }
    out
}

fn layer_of(layers: &[&[&str]], m: &str) -> Option<usize> {
    layers.iter().position(|l| l.contains(&m))
}

/// Every `(user, used)` where `used` sits in a higher layer than `user`.
fn upward_edges(
    deps: &BTreeMap<String, BTreeSet<String>>,
    layers: &[&[&str]],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (m, used) in deps {
        for u in used {
            if let (Some(a), Some(b)) = (layer_of(layers, m), layer_of(layers, u)) {
                if b > a {
                    out.push((m.clone(), u.clone()));
                }
            }
        }
    }
    out
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(deps: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<BTreeSet<String>> {
    struct T<'a> {
        deps: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: BTreeSet<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.deps.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.insert(comp);
            }
        }
    }
    let mut t = T {
        deps,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: BTreeSet::new(),
    };
    for v in deps.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}
