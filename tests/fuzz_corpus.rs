//! Replays every fuzz target's committed seed corpus (fuzz/corpus/<target>/) through the
//! same library functions the libFuzzer targets call (`mdlsim::fuzzing`), so CI exercises
//! every target without a fuzzer. See docs/fuzzing.md.

use mdlsim::fuzzing::{self, TARGETS};
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn replay(target: &str) -> usize {
    let (_, run) = TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap_or_else(|| panic!("no target {target}"));
    let files = corpus(target);
    let mut failures = Vec::new();
    for (name, data) in &files {
        if let Err(f) = run(data) {
            failures.push(format!("{target}/{name}: {f}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    files.len()
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (name, _) in TARGETS {
        assert!(
            !corpus(name).is_empty(),
            "fuzz/corpus/{name} is empty or missing"
        );
    }
}

#[test]
fn splice_corpus_replays_clean() {
    assert!(replay("splice") > 0);
}

#[test]
fn ops_corpus_replays_clean() {
    assert!(replay("ops") > 0);
}

#[test]
fn scenario_corpus_replays_clean() {
    assert!(replay("scenario") > 0);
}

#[test]
fn irp_corpus_replays_clean() {
    assert!(replay("irp") > 0);
}

#[test]
fn every_target_accepts_any_bytes() {
    // Empty and short inputs decode (arbitrary pads with zeroes) and run clean.
    for (name, run) in TARGETS {
        for data in [&b""[..], &[0xFF], &[0xFF; 7], &[0x55; 64]] {
            if let Err(f) = run(data) {
                panic!("{name} on {data:?}: {f}");
            }
        }
    }
}

#[test]
fn splice_at_the_mdl_size_limit_is_clean() {
    use fuzzing::{Length, MAX_MDL_SPAN, SpliceInput, SpliceStrategy};
    assert_eq!(MAX_MDL_SPAN, 8185); // 48 + 8 × 8185 = 65,528 ≤ 0xFFFF < 48 + 8 × 8186
    let at = |below: u8, offset: u16, read: bool, server: u8| SpliceInput {
        offset,
        length: Length::AtLimit { below, short: 1 },
        read,
        server,
        fault: 0,
        seed: 1,
        strategy: SpliceStrategy::Both.byte(),
    };
    let span = |i: &SpliceInput| {
        let c = i.case();
        mdlsim::addr::span_pages(mdlsim::addr::Va::new(c.offset as u64), c.length as u64)
    };
    // The largest span an MDL can describe, head and tail partial, both directions.
    let read = at(1, 1, true, 0);
    assert_eq!(span(&read), MAX_MDL_SPAN);
    fuzzing::splice_input(&read).unwrap();
    fuzzing::splice_input(&at(1, 4095, false, 1)).unwrap();
    // One page past it: IoAllocateMdl refuses the request's MDL; nothing leaks.
    let past = at(0, 0, true, 0);
    assert_eq!(span(&past), MAX_MDL_SPAN + 1);
    fuzzing::splice_input(&past).unwrap();
}

/// A splice input's bytes (`SpliceInput::to_bytes`, what the corpus files hold) decode to
/// it, for every length kind; any bytes decode to an input whose bytes decode to it again.
/// Only the one kind byte `AT_LIMIT_KIND` selects the MDL size limit.
#[test]
fn splice_inputs_round_trip_through_their_bytes() {
    use arbitrary::{Arbitrary, Unstructured};
    use fuzzing::{AT_LIMIT_KIND, Length, SpliceInput};
    let decode = |b: &[u8]| SpliceInput::arbitrary(&mut Unstructured::new(b)).unwrap();
    for length in [
        Length::Bytes(0),
        Length::Bytes(0xBEEF),
        Length::Pages {
            pages: 255,
            short: 4095,
        },
        Length::AtLimit { below: 7, short: 1 },
    ] {
        let i = SpliceInput {
            read: true,
            server: 3,
            fault: 250,
            strategy: 2,
            seed: 9,
            offset: 0x1234,
            length,
        };
        assert_eq!(decode(&i.to_bytes()), i);
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut at_limit = 0;
    for n in 0..20_000usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes: Vec<u8> = (0..n % 14).map(|k| (x >> (k % 8 * 8)) as u8).collect();
        let i = decode(&bytes);
        assert_eq!(decode(&i.to_bytes()), i, "{bytes:?}");
        let kind = bytes.get(7).copied().unwrap_or(0);
        assert_eq!(
            matches!(i.length, Length::AtLimit { .. }),
            kind == AT_LIMIT_KIND
        );
        assert_eq!(fuzzing::splice_keeps(&bytes), kind != AT_LIMIT_KIND);
        at_limit += usize::from(kind == AT_LIMIT_KIND);
    }
    assert!(at_limit > 0);
}

/// The committed splice corpus holds cases at the MDL size limit (the fuzzer does not
/// keep them: `splice_keeps`), so the corpus replay runs them.
#[test]
fn splice_corpus_holds_cases_at_the_mdl_size_limit() {
    use arbitrary::{Arbitrary, Unstructured};
    let at_limit = corpus("splice")
        .iter()
        .filter(|(_, b)| {
            matches!(
                fuzzing::SpliceInput::arbitrary(&mut Unstructured::new(b)),
                Ok(i) if matches!(i.length, fuzzing::Length::AtLimit { .. })
            )
        })
        .count();
    assert!(at_limit >= 3, "{at_limit}");
}

/// The `scenario` target on "ops" files damaged in many deterministic ways (cut short,
/// a digit, a quote or a brace swapped in every few bytes): parsing refuses or replay
/// runs, and nothing panics or breaks the model's books.
#[test]
fn scenario_target_survives_damaged_ops_files() {
    let (_, run) = TARGETS.iter().find(|(n, _)| *n == "scenario").unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut runs = 0;
    for name in [
        "seed003-notify-new-system-buffer.json",
        "seed004-app-changes-direct-buffer.json",
        "seed004-exit-with-locked-pages-tracked.json",
        "seed004-rundown-stuck-irp.json",
    ] {
        let good = std::fs::read(dir.join(name)).unwrap();
        run(&good).unwrap_or_else(|f| panic!("{name}: {f}"));
        for i in (0..good.len()).step_by(11) {
            let mut cut = good.clone();
            cut.truncate(i);
            let mut variants = vec![cut];
            for b in [b'9', b'"', b'}', b'0'] {
                let mut v = good.clone();
                v[i] = b;
                variants.push(v);
            }
            for v in variants {
                run(&v).unwrap_or_else(|f| panic!("{name} at byte {i}: {f}"));
                runs += 1;
            }
        }
    }
    assert!(runs > 1000, "{runs}");
}
