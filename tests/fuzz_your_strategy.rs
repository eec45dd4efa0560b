//! Fuzzing a user's own strategy (`mdlsim::fuzzing::fuzz_strategy`, `replay_corpus`,
//! `seed_corpus`, `SPLICE_DICTIONARY`): what `mdlsim new-fuzz-target` writes into a
//! user's crate and what its `cargo test` replays (docs/guide/04-fuzzing.md).

use arbitrary::{Arbitrary, Unstructured};
use mdlsim::fuzzing::{
    CorpusError, SPLICE_DICTIONARY, SpliceInput, fuzz_strategy, replay_corpus, seed_corpus,
};
use mdlsim::strategy::broken::DirectMap;
use mdlsim::strategy::{HeadTailSplice, ProxyStrategy, RetireReason, ServerReply};
use mdlsim::{Kernel, strategy};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A user's strategy: the head/tail splice under another name, as a user's crate has it.
#[derive(Clone, Default)]
struct MySplice(HeadTailSplice);

impl ProxyStrategy for MySplice {
    fn name(&self) -> String {
        "MySplice".into()
    }
    fn expose(
        &mut self,
        k: &mut Kernel<'_>,
        io: &strategy::Io,
    ) -> mdlsim::Result<strategy::Exposure> {
        self.0.expose(k, io)
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &strategy::Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> mdlsim::Result<strategy::Completion> {
        self.0.retire(k, io, reply, why)
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mdlsim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_seeds(dir: &std::path::Path) {
    for (name, bytes) in seed_corpus() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn a_correct_strategy_replays_its_seed_corpus_clean() {
    let dir = scratch("corpus-ok");
    write_seeds(&dir);
    assert_eq!(
        replay_corpus(&MySplice::default(), &dir).unwrap(),
        seed_corpus().len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_broken_strategy_fails_the_seed_corpus_naming_each_input() {
    let dir = scratch("corpus-broken");
    write_seeds(&dir);
    let Err(CorpusError::Failed(fails)) = replay_corpus(&DirectMap::default(), &dir) else {
        panic!("DirectMap passed its seed corpus");
    };
    assert!(!fails.is_empty());
    for (name, f) in &fails {
        assert!(name.starts_with("seed-"), "{name}");
        assert!(
            f.problems.iter().all(|p| p.starts_with("DirectMap: ")),
            "{f}"
        );
    }
    let text = CorpusError::Failed(fails).to_string();
    assert!(
        text.contains("corpus inputs failed") && text.contains("seed-"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_or_missing_corpus_is_an_error_not_a_pass() {
    let dir = scratch("corpus-empty");
    assert!(matches!(
        replay_corpus(&MySplice::default(), &dir),
        Err(CorpusError::Empty(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    let err = replay_corpus(&MySplice::default(), &dir).unwrap_err();
    assert!(matches!(err, CorpusError::Unreadable { .. }), "{err}");
}

#[test]
fn the_strategy_target_accepts_any_bytes() {
    for data in [&b""[..], &[0xFF], &[0xFF; 7], &[0x55; 64], &[0xA5; 3]] {
        fuzz_strategy(&MySplice::default(), data).unwrap_or_else(|f| panic!("{data:?}: {f}"));
    }
}

#[test]
fn the_strategy_target_catches_a_broken_strategy() {
    // Offset 1, a page and a byte, READ: DirectMap maps the client's whole pages.
    let input = SpliceInput {
        read: true,
        server: 1,
        fault: 0,
        strategy: 0,
        seed: 3,
        offset: 1,
        length: mdlsim::fuzzing::Length::Bytes(4097),
    };
    let f = fuzz_strategy(&DirectMap::default(), &input.to_bytes()).unwrap_err();
    assert_eq!(f.target, "strategy");
    assert!(f.to_string().contains("DirectMap"), "{f}");
    fuzz_strategy(&MySplice::default(), &input.to_bytes()).unwrap();
}

#[test]
fn the_seed_corpus_covers_directions_servers_faults_and_page_edges() {
    let inputs: Vec<SpliceInput> = seed_corpus()
        .iter()
        .map(|(_, b)| SpliceInput::arbitrary(&mut Unstructured::new(b)).unwrap())
        .collect();
    let cases: Vec<_> = inputs.iter().map(SpliceInput::case).collect();
    let set = |f: &dyn Fn(&mdlsim::verify::Case) -> String| -> BTreeSet<String> {
        cases.iter().map(f).collect()
    };
    assert_eq!(set(&|c| format!("{:?}", c.direction)).len(), 2);
    assert_eq!(set(&|c| format!("{:?}", c.server)).len(), 8);
    assert_eq!(set(&|c| format!("{:?}", c.fault)).len(), 8);
    let offsets = set(&|c| c.offset.to_string());
    assert!(
        ["0", "1", "512", "4095"]
            .iter()
            .all(|o| offsets.contains(*o)),
        "{offsets:?}"
    );
    let lengths = set(&|c| c.length.to_string());
    assert!(
        ["0", "1", "4096", "4097"]
            .iter()
            .all(|l| lengths.contains(*l)),
        "{lengths:?}"
    );
    let names: BTreeSet<String> = seed_corpus().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), inputs.len(), "file names are unique");
}

/// Every dictionary entry is `name="..."` with `\xNN` escapes, as libFuzzer reads them.
#[test]
fn the_dictionary_is_in_libfuzzer_format() {
    let mut entries = 0;
    for line in SPLICE_DICTIONARY.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, value) = line.split_once('=').unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let v = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap();
        let mut rest = v;
        while !rest.is_empty() {
            let hex = rest.strip_prefix("\\x").unwrap_or_else(|| panic!("{line}"));
            u8::from_str_radix(&hex[..2], 16).unwrap();
            rest = &hex[2..];
        }
        entries += 1;
    }
    assert!(entries >= 5, "{entries}");
}
