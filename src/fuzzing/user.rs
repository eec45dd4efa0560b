//! Fuzzing *your* strategy: the `splice` target's structured input ([`SpliceInput`]: the
//! buffer's offset and length, direction, server behaviour, injected fault, data seed)
//! run through a strategy you pass in, with the machine audited around each of its calls,
//! and the replay of a whole corpus directory in your `cargo test`.
//!
//! A cargo-fuzz target in your crate's `fuzz/` is then a few lines (`mdlsim
//! new-fuzz-target --strategy NAME` writes it, with a dictionary and a seed corpus):
//!
//! ```ignore
//! #![no_main]
//! use libfuzzer_sys::{Corpus, fuzz_target};
//! fuzz_target!(|data: &[u8]| -> Corpus {
//!     if let Err(f) = mdlsim::fuzzing::fuzz_strategy(&my_crate::MySplice::default(), data) {
//!         panic!("{f}");
//!     }
//!     if mdlsim::fuzzing::splice_keeps(data) { Corpus::Keep } else { Corpus::Reject }
//! });
//! ```
//!
//! and the corpus it grows replays in a test:
//!
//! ```
//! use mdlsim::fuzzing::{replay_corpus, seed_corpus};
//! use mdlsim::strategy::HeadTailSplice;
//! let dir = std::env::temp_dir().join(format!("mdlsim-doc-corpus-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! for (name, bytes) in seed_corpus() {
//!     std::fs::write(dir.join(name), bytes).unwrap();
//! }
//! let replayed = replay_corpus(&HeadTailSplice::default(), &dir).unwrap();
//! assert_eq!(replayed, seed_corpus().len());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use super::splice::splice_one;
use super::{Failure, Length, SpliceInput};
use crate::strategy::ProxyStrategy;
use arbitrary::{Arbitrary, Unstructured};
use std::fmt;
use std::path::{Path, PathBuf};

/// Runs one decoded [`SpliceInput`] through `strategy` (its `strategy` byte, which picks
/// among the built-in splices in the `splice` target, is ignored).
///
/// # Errors
/// A [`Failure`] naming every oracle finding (a leak, a forbidden byte the server could
/// see, a wrong byte delivered, a bug check...) and every `audit()` violation before and
/// after `expose` and `retire`.
pub fn fuzz_strategy_input<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    input: &SpliceInput,
) -> Result<(), Failure> {
    let case = input.case();
    let mut problems = Vec::new();
    splice_one(strategy.clone(), &case, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            target: "strategy",
            input: format!("{input:?} = {}", case.to_json()),
            problems,
        })
    }
}

/// The fuzz target over your strategy: decodes a [`SpliceInput`] from the fuzzer's bytes
/// (any bytes decode) and runs it ([`fuzz_strategy_input`]).
///
/// # Errors
/// As [`fuzz_strategy_input`].
pub fn fuzz_strategy<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    data: &[u8],
) -> Result<(), Failure> {
    let mut u = Unstructured::new(data);
    let Ok(input) = SpliceInput::arbitrary(&mut u) else {
        return Ok(());
    };
    fuzz_strategy_input(strategy, &input)
}

/// Why a corpus did not replay clean.
#[derive(Debug)]
pub enum CorpusError {
    /// The directory or one of its files could not be read.
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The directory holds no file: a replay of nothing proves nothing.
    Empty(PathBuf),
    /// Inputs that failed, with their file names.
    Failed(Vec<(String, Failure)>),
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorpusError::Unreadable { path, error } => {
                write!(f, "{}: cannot read: {error}", path.display())
            }
            CorpusError::Empty(p) => write!(f, "{}: no corpus file there", p.display()),
            CorpusError::Failed(fails) => {
                writeln!(f, "{} corpus inputs failed:", fails.len())?;
                for (name, failure) in fails {
                    write!(f, "{name}: {failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CorpusError {}

/// Replays every file of the corpus directory `dir` (not its subdirectories), in name
/// order, through `strategy` ([`fuzz_strategy`]); returns how many replayed.
///
/// # Errors
/// `dir` or a file unreadable, `dir` without a file, or the inputs that failed (all of
/// them, each with its file name).
pub fn replay_corpus<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: &S,
    dir: impl AsRef<Path>,
) -> Result<usize, CorpusError> {
    let dir = dir.as_ref();
    let unreadable = |path: &Path, error| CorpusError::Unreadable {
        path: path.to_path_buf(),
        error,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CorpusError::Empty(dir.to_path_buf()));
    }
    let mut failed = Vec::new();
    for p in &files {
        let data = std::fs::read(p).map_err(|e| unreadable(p, e))?;
        if let Err(f) = fuzz_strategy(strategy, &data) {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            failed.push((name.into_owned(), f));
        }
    }
    if failed.is_empty() {
        Ok(files.len())
    } else {
        Err(CorpusError::Failed(failed))
    }
}

/// A seed corpus for a strategy's fuzz target, as (file name, bytes): both directions,
/// every server behaviour and injected fault, offsets 0, 1, 512 and 4,095, lengths of 0,
/// 1 and around a page, a few pages, and 17 pages (small cases only: the fuzzer reaches
/// the MDL size limit by mutation, [`Length::AtLimit`]).
pub fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    const OFFSETS: [u16; 4] = [0, 1, 512, 4095];
    const LENGTHS: [Length; 8] = [
        Length::Bytes(0),
        Length::Bytes(1),
        Length::Bytes(4095),
        Length::Bytes(4096),
        Length::Bytes(4097),
        Length::Pages { pages: 3, short: 1 },
        Length::Pages { pages: 2, short: 0 },
        Length::Pages {
            pages: 17,
            short: 100,
        },
    ];
    (0..32u8)
        .map(|i| {
            let input = SpliceInput {
                read: i % 2 == 0,
                server: i / 2 % 8,
                fault: (i / 4 + i) % 8,
                strategy: 0,
                seed: i,
                offset: OFFSETS[usize::from(i / 8) % 4],
                length: LENGTHS[usize::from(i) % 8],
            };
            (format!("seed-{i:02}"), input.to_bytes())
        })
        .collect()
}

/// A libFuzzer dictionary for [`SpliceInput`] (`-dict=FILE`): the length kind that
/// selects the MDL size limit and the page-edge offsets and lengths, little-endian.
pub const SPLICE_DICTIONARY: &str = r#"# mdlsim SpliceInput: length kinds, page-edge offsets and lengths (little-endian u16)
at_limit_kind="\xA5"
offset_0="\x00\x00"
offset_1="\x01\x00"
offset_512="\x00\x02"
page_minus_1="\xFF\x0F"
page="\x00\x10"
page_plus_1="\x01\x10"
two_pages="\x00\x20"
max_u16="\xFF\xFF"
"#;
