//! A counter-example that explains itself (issue 13, item 4): the driver's DDI calls in
//! the trace, leaks that name what leaked, exact byte ranges, every class of the search,
//! the seed, the regressions file, no Rust `Debug` syntax, bounded lines.

use mdlsim::Kernel;
use mdlsim::fault::Result;
use mdlsim::oracle::BugClass;
use mdlsim::status::NtStatus;
use mdlsim::strategy::broken::{
    CopyBackAll, DirectMap, FreeSubstituteWhileMapped, LeakSecondLock, UnlockPartial,
    UnzeroedBounce,
};
use mdlsim::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply,
};
use mdlsim::verify::{self, Case, Config, Counterexample, InjectedFault, ServerBehaviour};

const SEED: u64 = 0x6d64_6c73_696d;

fn cfg() -> Config {
    Config::default()
        .cases(300)
        .seed(SEED)
        .ignore_env()
        .no_regressions()
}

/// The trace lines of the `expose` window: the `expose ->` line and the indented call
/// lines under it.
fn expose_lines(cx: &Counterexample) -> Vec<String> {
    let at = cx
        .trace
        .iter()
        .position(|t| t.contains(": expose ->"))
        .expect("an expose line");
    cx.trace[at + 1..]
        .iter()
        .take_while(|t| t.starts_with("  "))
        .cloned()
        .collect()
}

#[test]
fn counterexample_lists_every_ddi_call_of_expose_with_arguments() {
    let cx = verify::verify(&LeakSecondLock::default(), &cfg()).unwrap_err();
    let calls = expose_lines(&cx);
    // BounceCopy's expose: lock the client's pages, map them, allocate and map a bounce buffer.
    let want = [
        "IoAllocateMdl(va=0x",
        "MmProbeAndLockProcessPages(mdl=MDL 0x",
        "mode=UserMode, operation=IoWriteAccess) -> ok",
        "MmGetSystemAddressForMdlSafe(",
        "ExAllocatePool2(flags=POOL_FLAG_NON_PAGED, size=4096, tag=",
        "MmBuildMdlForNonPagedPool(",
        "KeStackAttachProcess(pid=pid 8) -> ok",
        "MmMapLockedPagesSpecifyCache(",
        "KeUnstackDetachProcess() -> ok",
    ];
    for w in want {
        assert!(calls.iter().any(|c| c.contains(w)), "{w} not in {calls:#?}");
    }
    // One line per step of the window: every call is there.
    let line = cx.trace.iter().find(|t| t.contains(": expose ->")).unwrap();
    let (a, b) = line["steps ".len()..]
        .split_once(':')
        .unwrap()
        .0
        .split_once("..")
        .unwrap();
    let steps = b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1;
    assert_eq!(calls.len() as u64, steps, "{calls:#?}");
    // retire's calls are listed too.
    assert!(cx.trace.iter().any(|t| t.contains("IoFreeMdl(mdl=MDL 0x")));
}

/// Allocates an MDL in `expose` and never frees it.
#[derive(Clone, Default)]
struct LeakMdl;

impl ProxyStrategy for LeakMdl {
    fn name(&self) -> String {
        "LeakMdl".into()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        if io.length > 0 {
            k.io_allocate_mdl(io.buffer, io.length, false, false, None)?;
        }
        Ok(Exposure::Refused(NtStatus::NOT_SUPPORTED))
    }
    fn retire(
        &mut self,
        _k: &mut Kernel<'_>,
        _io: &Io,
        r: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        Ok(Completion {
            status: r.status,
            information: 0,
        })
    }
}

#[test]
fn leak_finding_names_the_call_that_created_the_mdl() {
    let cx = verify::verify(&LeakMdl, &cfg()).unwrap_err();
    let f = cx
        .findings
        .iter()
        .find(|f| f.detail.contains("MDLs live"))
        .unwrap_or_else(|| panic!("no MDL leak in\n{cx}"));
    assert!(
        f.detail.contains("MDL 0xffffc0000000")
            && f.detail.contains("created at step")
            && f.detail.contains("by IoAllocateMdl(va=0x"),
        "{}",
        f.detail
    );
}

#[test]
fn lock_leak_names_the_probe_that_locked_and_the_free_that_leaked() {
    let cx = verify::verify(&LeakSecondLock::default(), &cfg()).unwrap_err();
    let f = cx
        .findings
        .iter()
        .find(|f| f.detail.contains("leaked by freeing locked MDLs"))
        .expect("a leaked lock");
    assert!(
        f.detail.contains("by MmProbeAndLockProcessPages(")
            && f.detail.contains("freed still locked at step")
            && f.detail.contains("by IoFreeMdl("),
        "{}",
        f.detail
    );
}

#[test]
fn first_offending_byte_is_the_first_byte_outside_the_range() {
    // A READ of 1 byte at offset 0: DirectMap shows the server the whole page, whose first
    // byte is the request's own; the first offending byte is the second.
    let case = Case {
        offset: 0,
        length: 1,
        direction: Direction::Read,
        server: ServerBehaviour::Adversarial,
        fault: InjectedFault::None,
        seed: 0,
    };
    let run = verify::replay(&DirectMap::default(), &case, &mdlsim::Config::default());
    let f = run
        .findings
        .iter()
        .find(|f| f.kind == BugClass::PartialPageExposure && f.detail.contains("server read"))
        .expect("the server read outside the range");
    assert_eq!(f.addresses[0].1.raw() % 0x1000, 1, "{f}");
    assert!(f.detail.contains("4095 byte(s)"), "{f}");
    assert_eq!(f.provenance[0].to_string(), "pid4@0x11001", "{f}");
}

#[test]
fn counterexample_carries_every_class_seen_across_the_search() {
    let cx = verify::verify(&DirectMap::default(), &cfg()).unwrap_err();
    for f in &cx.findings {
        assert!(cx.classes_seen.contains_key(&f.kind), "{cx}");
    }
    // proptest ran more than one failing case (the first, then its shrinks).
    assert!(cx.classes_seen.values().sum::<u32>() > 1, "{cx}");
    let text = cx.to_string();
    assert!(text.contains("classes seen in the search"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&cx.to_json()).unwrap();
    assert!(
        json["classes_seen"]["PartialPageExposure"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[test]
fn regressions_file_is_replayed_first() {
    let dir = std::env::temp_dir().join(format!("mdlsim-regressions-{}", std::process::id()));
    let file = dir.join("UnzeroedBounce.json");
    let _ = std::fs::remove_file(&file);
    let first = verify::verify(&UnzeroedBounce::default(), &cfg().regressions(&file)).unwrap_err();
    assert_eq!(first.saved_to.as_deref(), Some(file.as_path()));
    let stored = verify::regressions::load(&file);
    assert_eq!(stored, vec![first.case]);
    // No generated cases: only the stored one can fail.
    let again = verify::verify(
        &UnzeroedBounce::default(),
        &cfg().cases(0).regressions(&file),
    )
    .unwrap_err();
    assert_eq!(again.case, first.case);
    // Saved once, not twice.
    assert_eq!(verify::regressions::load(&file).len(), 1);
    // Without the file, zero cases pass.
    assert!(verify::verify(&UnzeroedBounce::default(), &cfg().cases(0)).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_seed_varies_and_is_printed() {
    let a = Config::default().ignore_env().effective().seed.unwrap();
    let b = Config::default().ignore_env().effective().seed.unwrap();
    assert_ne!(a, b);
    let cfg = Config::default().cases(20).ignore_env().no_regressions();
    let r = verify::verify(&mdlsim::strategy::BounceCopy::default(), &cfg).unwrap();
    assert!(r.to_string().contains(&format!("seed {}", r.seed)), "{r}");
    let cx = verify::verify(&DirectMap::default(), &cfg.cases(300)).unwrap_err();
    assert!(
        cx.to_string().contains(&format!("seed: {}", cx.seed)),
        "{cx}"
    );
    let json: serde_json::Value = serde_json::from_str(&cx.to_json()).unwrap();
    assert_eq!(json["seed"].as_u64(), Some(cx.seed));
}

#[test]
fn the_same_seed_finds_the_same_counterexample() {
    let a = verify::verify(&CopyBackAll::default(), &cfg()).unwrap_err();
    let b = verify::verify(&CopyBackAll::default(), &cfg()).unwrap_err();
    assert_eq!(a.to_json(), b.to_json());
}

fn counterexamples() -> Vec<Counterexample> {
    let c = cfg();
    vec![
        verify::verify(&DirectMap::default(), &c).unwrap_err(),
        verify::verify(&LeakSecondLock::default(), &c).unwrap_err(),
        verify::verify(&UnlockPartial::default(), &c).unwrap_err(),
        verify::verify(&FreeSubstituteWhileMapped::default(), &c).unwrap_err(),
        verify::verify(&UnzeroedBounce::default(), &c).unwrap_err(),
        verify::verify(&LeakMdl, &c).unwrap_err(),
    ]
}

#[test]
fn no_debug_syntax_in_counterexample_text_or_json() {
    let debugish = [
        "Some(",
        "None)",
        "Tid(",
        "Va(",
        "Pid(",
        "Mdl#",
        "Irp#",
        "Dev#",
        " { ",
        "Mapped {",
        "Completion {",
        "ServerReply {",
        "Process\":",
        "Origin\":",
    ];
    for cx in counterexamples() {
        for text in [cx.to_string(), cx.to_json()] {
            for d in debugish {
                assert!(!text.contains(d), "{d:?} in\n{text}");
            }
        }
    }
}

#[test]
fn counterexample_lines_are_at_most_the_width() {
    for cx in counterexamples() {
        let text = cx.to_string();
        for line in text.lines() {
            // A single word longer than the width (a case's JSON) may stand alone.
            let words = line.split_whitespace().count();
            assert!(
                line.chars().count() <= verify::WIDTH || words <= 2,
                "{} chars: {line}",
                line.chars().count()
            );
        }
    }
}

/// A counter-example is a `std::error::Error` whose `Debug` is its readable `Display`:
/// `verify(..).unwrap()` and `?` in a user's test print the report, not a struct dump.
#[test]
fn a_counterexample_is_an_error_that_prints_its_report_when_unwrapped() {
    let cx = verify::verify(
        &mdlsim::strategy::broken::DirectMap::default(),
        &cfg().cases(200),
    )
    .unwrap_err();
    let shown = format!("{cx}");
    assert_eq!(format!("{cx:?}"), shown);
    assert!(
        shown.lines().count() > 2 && shown.contains("replay: "),
        "{shown}"
    );
    let as_error: Box<dyn std::error::Error> = Box::new(cx);
    assert_eq!(as_error.to_string(), shown);
}
