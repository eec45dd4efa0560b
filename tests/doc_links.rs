//! The rules ship with the code: every citation of the kernel's rules names an anchor
//! that `docs/semantics.md` defines, and no text points outside the repository.
//!
//! Checked in `src/`, `docs/`, `tests/`, `examples/`, `benches/`, the command line's
//! package `cli/` and `README.md`:
//!
//! * `semantics §5.5` (also `semantics.md §7`, and the `§` numbers that follow one in a
//!   list: `semantics §3.3, §4, §9`) must be an anchor `s5.5` of `docs/semantics.md`;
//! * `invariant 27` (also `invariants 9, 11, 12` and `invariants 22-24`) must be an
//!   anchor `invariant-27`;
//! * a link to `semantics.md#…`, `design.md#…` or `architecture.md#…` must name an
//!   anchor that file defines (`<a id="…">`), and a link whose text is a citation
//!   (`[semantics §5.5](…semantics.md#s5.4)`) must point at that citation's anchor;
//! * no text points at the documents that used to live outside the repository
//!   (the `shared` directory next to it);
//! * user-facing text (everything but `tests/`) describes the real-world situations
//!   (`docs/design.md#scenarios`) instead of naming them by document number.
//!
//! The checker functions are tested on strings with dangling anchors first (negative
//! controls), so a checker that cannot fail would fail here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The anchors a Markdown file defines: every `id="…"` and `name="…"` attribute.
fn anchors(md: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for attr in ["id=\"", "name=\""] {
        let mut rest = md;
        while let Some(i) = rest.find(attr) {
            let after = &rest[i + attr.len()..];
            let end = after.find('"').unwrap_or(after.len());
            out.insert(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// The anchors of the three linked documents.
struct Docs {
    semantics: BTreeSet<String>,
    design: BTreeSet<String>,
    architecture: BTreeSet<String>,
}

impl Docs {
    fn load() -> Docs {
        Docs {
            semantics: anchors(&read("docs/semantics.md")),
            design: anchors(&read("docs/design.md")),
            architecture: anchors(&read("docs/architecture.md")),
        }
    }
}

/// A section number at the start of `s` (`5.5`, `8.27`, `1`), and its length.
fn section_number(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut n = 0;
    while n < b.len() && (b[n].is_ascii_digit() || (b[n] == b'.' && n > 0 && b[n - 1] != b'.')) {
        n += 1;
    }
    // A trailing dot ends a sentence, not a number.
    while n > 0 && b[n - 1] == b'.' {
        n -= 1;
    }
    (n > 0 && b[0].is_ascii_digit()).then(|| (s[..n].to_string(), n))
}

/// Whether the word `word` starts at byte `i` of `text` (case-insensitive), not inside
/// a longer word on the left.
fn word_at(text: &str, i: usize, word: &str) -> bool {
    let before_ok = i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric();
    before_ok
        && text.len() >= i + word.len()
        && text.is_char_boundary(i + word.len())
        && text[i..i + word.len()].eq_ignore_ascii_case(word)
}

/// Skips the separators of a citation list (`, `, ` / `, `–`, `and`, Markdown brackets);
/// returns the byte count skipped.
fn list_separator(s: &str) -> usize {
    let mut n = 0;
    loop {
        let rest = &s[n..];
        let sep = rest
            .chars()
            .next()
            .filter(|&c| c.is_whitespace() || ",/;–-[]".contains(c));
        if let Some(c) = sep {
            n += c.len_utf8();
        } else if rest.starts_with("and ") || rest.starts_with("or ") {
            n += rest.find(' ').unwrap();
        } else {
            return n;
        }
    }
}

/// The semantics.md anchors a text cites in words: `semantics §X` (with the `§`
/// numbers listed after it) and `invariant N` (with lists and ranges). Each is
/// returned with its 1-based line number.
fn cited_anchors(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let mut i = 0;
        while i < line.len() {
            if !line.is_char_boundary(i) {
                i += 1;
                continue;
            }
            if word_at(line, i, "semantics") {
                let mut j = i + "semantics".len();
                if line[j..].starts_with(".md") {
                    j += 3;
                }
                // `semantics §X`, then more `§Y` separated by list punctuation.
                loop {
                    let k = j + list_separator(&line[j..]);
                    let Some(after) = line[k..].strip_prefix('§') else {
                        break;
                    };
                    let Some((num, len)) = section_number(after.trim_start()) else {
                        break;
                    };
                    out.push((ln + 1, format!("s{num}")));
                    j = k + '§'.len_utf8() + (after.len() - after.trim_start().len()) + len;
                }
                i = j.max(i + 1);
            } else if word_at(line, i, "invariant") {
                let mut j = i + "invariant".len();
                if line[j..].starts_with('s') {
                    j += 1;
                }
                let mut last: Option<u32> = None;
                loop {
                    let sep = list_separator(&line[j..]);
                    let range = line[j..j + sep].contains(['-', '–']);
                    let k = j + sep;
                    let digits = line[k..].bytes().take_while(u8::is_ascii_digit).count();
                    // Stop at the first thing that is not a number (or a section like 5.5).
                    if digits == 0
                        || sep == 0
                        || line[k + digits..].starts_with('.') && {
                            let next = line.as_bytes().get(k + digits + 1);
                            next.is_some_and(u8::is_ascii_digit)
                        }
                    {
                        break;
                    }
                    let n: u32 = line[k..k + digits].parse().unwrap();
                    match (range, last) {
                        (true, Some(from)) if from < n => {
                            out.extend((from + 1..=n).map(|m| (ln + 1, format!("invariant-{m}"))))
                        }
                        _ => out.push((ln + 1, format!("invariant-{n}"))),
                    }
                    last = Some(n);
                    j = k + digits;
                }
                i = j.max(i + 1);
            } else {
                i += 1;
            }
        }
    }
    out
}

/// Every link into one of the docs: (line, file, anchor, the link text when inline or a
/// reference definition, else empty).
fn links(text: &str) -> Vec<(usize, &'static str, String, String)> {
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        for file in ["semantics.md#", "design.md#", "architecture.md#"] {
            let mut from = 0;
            while let Some(p) = line[from..].find(file) {
                let at = from + p;
                let tail = &line[at + file.len()..];
                let len = tail
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
                    .count();
                let anchor = tail[..len].trim_end_matches('.').to_string();
                // The link text: `[text](…here` or `[text]: …here`.
                let head = &line[..at];
                let label = match (head.rfind("]("), head.rfind("]: ")) {
                    (Some(e), _) | (None, Some(e)) => {
                        head[..e].rfind('[').map(|s| head[s + 1..e].to_string())
                    }
                    _ => None,
                };
                out.push((
                    ln + 1,
                    &file[..file.len() - 1],
                    anchor,
                    label.unwrap_or_default(),
                ));
                from = at + file.len();
            }
        }
    }
    out
}

/// What is wrong with one text's citations and links, one line per problem.
fn check(docs: &Docs, name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (ln, anchor) in cited_anchors(text) {
        if !docs.semantics.contains(&anchor) {
            problems.push(format!(
                "{name}:{ln}: cites #{anchor}, which docs/semantics.md does not define"
            ));
        }
    }
    for (ln, file, anchor, label) in links(text) {
        let defined = match file {
            "semantics.md" => &docs.semantics,
            "design.md" => &docs.design,
            _ => &docs.architecture,
        };
        if !defined.contains(&anchor) {
            problems.push(format!(
                "{name}:{ln}: links {file}#{anchor}, which docs/{file} does not define"
            ));
        }
        // A citation as the link text must point at its own anchor.
        if file == "semantics.md" {
            let said = if label.contains('§') {
                let after = &label[label.find('§').unwrap() + '§'.len_utf8()..];
                section_number(after.trim_start()).map(|(n, _)| format!("s{n}"))
            } else {
                cited_anchors(&label).first().map(|(_, a)| a.clone())
            };
            let alias = |s: &str| s.strip_prefix("s8.").map(|n| format!("invariant-{n}"));
            match said {
                Some(said) if said != anchor && alias(&said).as_deref() != Some(&anchor) => {
                    problems.push(format!(
                        "{name}:{ln}: [{label}] links #{anchor}, not #{said}"
                    ))
                }
                _ => {}
            }
        }
    }
    let outside = ["shared", "/"].concat();
    for (ln, line) in text.lines().enumerate() {
        if line.contains(&outside) || line.contains("DESIGN.md") {
            let line = line.trim();
            problems.push(format!(
                "{name}:{}: points outside the repository: {line}",
                ln + 1
            ));
        }
    }
    problems
}

/// Where a text names a starting situation by its old document number ("seed 000")
/// instead of describing it; user-facing text describes it (the file names
/// `seed000-….json` stay).
fn seed_numbers(name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let lower = line.to_ascii_lowercase();
        for word in ["seed 00", "seeds 00"] {
            let mut from = 0;
            while let Some(p) = lower[from..].find(word) {
                let at = from + p;
                let next = lower.as_bytes().get(at + word.len());
                let starts_word = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
                if starts_word && next.is_some_and(u8::is_ascii_digit) {
                    problems.push(format!(
                        "{name}:{}: names a seed document: {}",
                        ln + 1,
                        line.trim()
                    ));
                }
                from = at + word.len();
            }
        }
    }
    problems
}

/// Every text file under the checked roots (this file excepted: it spells the patterns).
fn texts() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| ["rs", "md", "json", "toml", "txt"].contains(&x))
            {
                out.push(p);
            }
        }
    }
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("Cargo.toml")];
    for d in [
        "src", "docs", "tests", "examples", "benches", "cli", "native",
    ] {
        walk(&root.join(d), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .filter(|p| !p.ends_with("tests/doc_links.rs"))
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap_or_default())
        })
        .collect()
}

#[test]
fn semantics_defines_every_section_and_invariant() {
    let docs = Docs::load();
    let sections = [
        "s1", "s1.1", "s1.2", "s1.3", "s1.4", "s1.5", "s2", "s3", "s3.1", "s3.2", "s3.3", "s3.4",
        "s3.5", "s3.6", "s3.7", "s3.8", "s3.9", "s3.10", "s3.11", "s4", "s5", "s5.1", "s5.2",
        "s5.3", "s5.4", "s5.5", "s5.6", "s5.7", "s6", "s7", "s8", "s9",
    ];
    for a in sections {
        assert!(docs.semantics.contains(a), "#{a} missing");
    }
    for n in 1..=30 {
        assert!(
            docs.semantics.contains(&format!("invariant-{n}")),
            "#invariant-{n} missing"
        );
        assert!(
            docs.semantics.contains(&format!("s8.{n}")),
            "#s8.{n} missing"
        );
    }
}

#[test]
fn checker_reads_citations_lists_and_ranges() {
    let got: Vec<String> = cited_anchors(
        "(semantics §3.3, §4, §9; invariants 22-24) and semantics.md §5.7 stage 2.\n\
         [semantics §1.1]; Invariant 9 / §3.5; invariants 9, 11 and 12; ModelInvariant 3; \
         an invariant of the model; MS-ERREF §2.3",
    )
    .into_iter()
    .map(|(_, a)| a)
    .collect();
    assert_eq!(
        got,
        [
            "s3.3",
            "s4",
            "s9",
            "invariant-22",
            "invariant-23",
            "invariant-24",
            "s5.7",
            "s1.1",
            "invariant-9",
            "invariant-9",
            "invariant-11",
            "invariant-12"
        ]
    );
}

#[test]
fn checker_catches_dangling_anchors() {
    let docs = Docs::load();
    let good = "see [semantics §5.5](https://x/docs/semantics.md#s5.5), invariant 27, \
                [design](design.md#shadow-memory) and [§8.27](semantics.md#invariant-27)";
    assert_eq!(check(&docs, "good", good), Vec::<String>::new());

    let bad = "semantics §10.2 and invariant 31 and [x](semantics.md#s5.99) and \
               [y](design.md#no-such-section)";
    let problems = check(&docs, "bad", bad);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    for a in [
        "#s10.2",
        "#invariant-31",
        "semantics.md#s5.99",
        "design.md#no-such-section",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(a)),
            "{a} not caught: {problems:#?}"
        );
    }
}

#[test]
fn checker_catches_a_link_to_the_wrong_anchor() {
    let docs = Docs::load();
    let wrong =
        "[semantics §5.5]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4";
    let problems = check(&docs, "wrong", wrong);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("not #s5.5"), "{problems:#?}");
}

#[test]
fn checker_catches_text_pointing_outside_the_repository() {
    let docs = Docs::load();
    let outside = format!("the rules are in ../{}/semantics.md", "shared");
    assert_eq!(check(&docs, "outside", &outside).len(), 1);
    assert_eq!(check(&docs, "old", "see DESIGN.md").len(), 1);
}

#[test]
fn every_citation_names_a_defined_anchor_and_nothing_points_outside() {
    let docs = Docs::load();
    let files = texts();
    assert!(
        files.iter().any(|(n, _)| n == "src/lib.rs")
            && files.iter().any(|(n, _)| n == "cli/src/main.rs"),
        "the walk found no sources"
    );
    let problems: Vec<String> = files
        .iter()
        .flat_map(|(name, text)| check(&docs, name, text))
        .collect();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn checker_catches_seed_numbers_and_spares_file_names() {
    assert_eq!(
        seed_numbers("x", "the head/tail splice (seed 000, step 5)").len(),
        1
    );
    assert_eq!(
        seed_numbers("x", "Seeds 003 and 004 are raw operations").len(),
        1
    );
    let fine = "replay examples/scenarios/seed000-directmap-read.json --seed 7; \"seed\": 0";
    assert_eq!(seed_numbers("x", fine), Vec::<String>::new());
}

#[test]
fn user_facing_text_describes_situations_not_seed_numbers() {
    // Tests may keep the numbers (their files are named after them); what users read
    // (sources and their rustdoc, docs/, README.md, the scenario files) may not.
    let problems: Vec<String> = texts()
        .iter()
        .filter(|(name, _)| {
            !name.starts_with("tests")
                && !name.starts_with("cli/tests")
                && !name.starts_with("native/tests")
        })
        .flat_map(|(name, text)| seed_numbers(name, text))
        .collect();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
