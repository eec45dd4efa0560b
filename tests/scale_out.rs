//! `verify` on every core and across machines (issue 17, items 2 and 3): the same seed
//! gives the same report and the same shrunk counter-example on any number of threads;
//! the reported failure is the lowest failing case of the campaign; the threads really
//! run at once; shards partition a campaign, and a shard's failure replays without it.

use mdlsim::Kernel;
use mdlsim::fault::{Fault, Result};
use mdlsim::status::NtStatus;
use mdlsim::strategy::broken::UnlockPartial;
use mdlsim::strategy::{
    BounceCopy, Completion, Exposure, Io, ProxyStrategy, RetireReason, ServerReply,
};
use mdlsim::verify::{self, Case, Config, Counterexample, Shard};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const SEED: u64 = 0x5ca1_e047;

fn cfg(cases: u32) -> Config {
    Config::default()
        .cases(cases)
        .seed(SEED)
        .ignore_env()
        .no_regressions()
}

/// Everything a counter-example says, as text (its `Display` and JSON).
fn said(cx: &Counterexample) -> (String, String) {
    (cx.to_string(), cx.to_json())
}

/// The lowest campaign index whose case fails when replayed one by one.
fn lowest_failing<S: ProxyStrategy + Clone + Send + 'static>(s: &S, c: &Config) -> Option<u32> {
    verify::generated_cases(c)
        .unwrap()
        .find(|(_, case)| !verify::replay(s, case, &c.machine).findings.is_empty())
        .map(|(i, _)| i)
}

#[test]
fn a_broken_strategy_gives_the_same_counterexample_on_1_2_and_4_threads() {
    let s = UnlockPartial::default();
    // A seed whose campaign passes several cases first, so four racing threads meet
    // failures out of order (the first from SEED up: the same every run).
    let (base, lowest) = (SEED..SEED + 64)
        .map(|seed| cfg(400).seed(seed))
        .find_map(|c| lowest_failing(&s, &c).filter(|i| *i >= 4).map(|i| (c, i)))
        .expect("a seed whose lowest failing case is the 5th or later");
    let one = verify::verify(&s, &base.clone().threads(1)).unwrap_err();
    assert_eq!(one.case_index, Some(lowest), "{one}");
    for t in [2, 4] {
        let many = verify::verify(&s, &base.clone().threads(t)).unwrap_err();
        assert_eq!(many.case_index, Some(lowest), "{t} threads: {many}");
        assert_eq!(many.case, one.case, "{t} threads");
        assert_eq!(many.classes_seen, one.classes_seen, "{t} threads");
        assert_eq!(said(&many), said(&one), "{t} threads");
    }
}

/// Fails every case it is asked to expose (an exception escapes the driver); the first
/// two `expose` calls to arrive take `delays` milliseconds, so on several threads the
/// lowest cases finish after higher ones have failed.
#[derive(Clone)]
struct SlowFirstFailures {
    arrivals: Arc<AtomicU32>,
    delays: [u64; 2],
}

impl SlowFirstFailures {
    fn new(delays: [u64; 2]) -> Self {
        SlowFirstFailures {
            arrivals: Arc::new(AtomicU32::new(0)),
            delays,
        }
    }
}

impl ProxyStrategy for SlowFirstFailures {
    fn name(&self) -> String {
        "SlowFirstFailures".into()
    }
    fn expose(&mut self, _k: &mut Kernel<'_>, _io: &Io) -> Result<Exposure> {
        let n = self.arrivals.fetch_add(1, Ordering::SeqCst) as usize;
        if let Some(ms) = self.delays.get(n) {
            std::thread::sleep(Duration::from_millis(*ms));
        }
        Err(Fault::Raise(NtStatus::ACCESS_VIOLATION))
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
fn the_lowest_failing_case_is_reported_when_higher_ones_fail_first() {
    let base = cfg(50);
    let lowest = lowest_failing(&SlowFirstFailures::new([0, 0]), &base).expect("it fails");
    let one = verify::verify(&SlowFirstFailures::new([0, 0]), &base.clone().threads(1));
    let one = one.unwrap_err();
    assert_eq!(one.case_index, Some(lowest), "{one}");
    // The first arrival finishes at 150 ms, the second at 300 ms, the others at once.
    let four = verify::verify(&SlowFirstFailures::new([150, 300]), &base.threads(4));
    let four = four.unwrap_err();
    assert_eq!(four.case_index, Some(lowest), "{four}");
    assert_eq!(four.case, one.case);
}

#[test]
fn a_correct_strategy_gives_the_same_report_on_1_2_4_and_64_threads() {
    let s = BounceCopy::default();
    let one = verify::verify(&s, &cfg(300).threads(1)).unwrap();
    assert_eq!(one.cases, 300);
    assert_eq!(one.coverage.directions.values().sum::<u32>(), 300);
    // 64: more threads than cores, each playing a handful of cases.
    for t in [2, 4, 64] {
        let many = verify::verify(&s, &cfg(300).threads(t)).unwrap();
        assert_eq!(many, one, "{t} threads");
    }
}

/// What [`Rendezvous`] clones share: `expose` calls in progress, whether the first has
/// waited, whether two were in progress at once.
#[derive(Default)]
struct Meeting {
    inside: u32,
    waited: bool,
    met: bool,
}

/// Refuses every request; the first `expose` to arrive waits (up to `patience`) for a
/// second one to be inside `expose` at the same time, and records whether it came.
#[derive(Clone)]
struct Rendezvous {
    state: Arc<(Mutex<Meeting>, Condvar)>,
    patience: Duration,
}

impl Rendezvous {
    fn new(patience: Duration) -> Self {
        Rendezvous {
            state: Arc::new((Mutex::new(Meeting::default()), Condvar::new())),
            patience,
        }
    }

    /// Whether two `expose` calls were ever in progress at once.
    fn met(&self) -> bool {
        self.state.0.lock().unwrap().met
    }
}

impl ProxyStrategy for Rendezvous {
    fn name(&self) -> String {
        "Rendezvous".into()
    }
    fn expose(&mut self, _k: &mut Kernel<'_>, _io: &Io) -> Result<Exposure> {
        let (lock, cv) = &*self.state;
        let mut g = lock.lock().unwrap();
        g.inside += 1;
        if g.inside >= 2 {
            g.met = true;
            cv.notify_all();
        } else if !g.waited {
            g.waited = true;
            g = cv
                .wait_timeout_while(g, self.patience, |m| !m.met)
                .unwrap()
                .0;
        }
        g.inside -= 1;
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
fn two_threads_play_two_cases_at_once() {
    let s = Rendezvous::new(Duration::from_secs(30));
    verify::verify(&s, &cfg(16).threads(2)).unwrap();
    assert!(s.met(), "no two cases ran at the same time on 2 threads");
}

/// The control: on one thread the first case waits in vain.
#[test]
fn one_thread_never_plays_two_cases_at_once() {
    let s = Rendezvous::new(Duration::from_millis(300));
    verify::verify(&s, &cfg(16).threads(1)).unwrap();
    assert!(!s.met());
}

#[test]
fn shards_partition_the_campaign_into_disjoint_slices() {
    let all: Vec<(u32, Case)> = verify::generated_cases(&cfg(101)).unwrap().collect();
    assert_eq!(all.len(), 101);
    assert!(all.iter().enumerate().all(|(j, (i, _))| *i as usize == j));
    for n in [1u32, 2, 3, 7, 101, 150] {
        let mut union: Vec<(u32, Case)> = Vec::new();
        let mut seen = BTreeSet::new();
        for k in 1..=n {
            let part: Vec<_> = verify::generated_cases(&cfg(101).shard(k, n))
                .unwrap()
                .collect();
            let shard = Shard::new(k, n).unwrap();
            assert_eq!(part.len() as u32, shard.len(101), "shard {k}/{n}");
            for (i, _) in &part {
                assert!(seen.insert(*i), "case {i} in two shards of {n}");
                assert!(shard.contains(*i));
            }
            union.extend(part);
        }
        union.sort_by_key(|(i, _)| *i);
        assert_eq!(union, all, "the {n} shards' cases are not the campaign's");
    }
}

#[test]
fn a_shard_reports_its_own_cases_and_the_shards_add_up_to_the_campaign() {
    let s = BounceCopy::default();
    let mut total = 0;
    for k in 1..=3 {
        let r = verify::verify(&s, &cfg(100).shard(k, 3).threads(2)).unwrap();
        assert_eq!(r.shard, Shard::new(k, 3));
        assert_eq!(r.cases, Shard::new(k, 3).unwrap().len(100));
        assert!(
            r.to_string().contains(&format!("MDLSIM_SHARD={k}/3")),
            "{r}"
        );
        total += r.cases;
    }
    assert_eq!(total, 100);
}

#[test]
fn the_shard_holding_the_lowest_failing_case_reports_the_unsharded_counterexample() {
    let s = UnlockPartial::default();
    let whole = verify::verify(&s, &cfg(400)).unwrap_err();
    let lowest = whole.case_index.expect("a generated case");
    let mut found = Vec::new();
    for k in 1..=4 {
        let cx = verify::verify(&s, &cfg(400).shard(k, 4)).unwrap_err();
        let i = cx.case_index.expect("a generated case");
        assert!(
            Shard::new(k, 4).unwrap().contains(i),
            "shard {k}/4 found case {i}"
        );
        assert_eq!(cx.shard, Shard::new(k, 4));
        if i == lowest {
            assert_eq!(cx.case, whole.case);
        }
        found.push(i);
    }
    assert_eq!(found.iter().min(), Some(&lowest));
}

#[test]
fn a_shards_counterexample_replays_without_the_shard() {
    let s = UnlockPartial::default();
    let dir = std::env::temp_dir().join(format!("mdlsim-shard-{}", std::process::id()));
    let file = dir.join("UnlockPartial.json");
    let _ = std::fs::remove_file(&file);
    let sharded = cfg(400).shard(3, 4).regressions(&file);
    let cx = verify::verify(&s, &sharded).unwrap_err();
    assert!(cx.to_string().contains("MDLSIM_SHARD=3/4"), "{cx}");
    let run = verify::replay(&s, &cx.case, &mdlsim::Config::default());
    assert_eq!(
        run.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
        cx.findings.iter().map(|f| f.kind).collect::<Vec<_>>()
    );
    // Another machine, another seed, no shard: the regressions file's case comes first.
    let again = Config::default()
        .cases(1)
        .seed(SEED ^ 1)
        .ignore_env()
        .regressions(&file);
    let cx2 = verify::verify(&s, &again).unwrap_err();
    assert_eq!((cx2.case, cx2.case_index, cx2.shard), (cx.case, None, None));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_invalid_shard_is_reported_instead_of_played() {
    for (k, n) in [(0, 4), (5, 4), (1, 0)] {
        let cx = verify::verify(&BounceCopy::default(), &cfg(10).shard(k, n)).unwrap_err();
        assert!(
            cx.findings.iter().any(|f| f.detail.contains("shard")),
            "{k}/{n}: {cx}"
        );
        assert!(verify::generated_cases(&cfg(10).shard(k, n)).is_err());
    }
}

#[test]
fn shard_text_is_k_of_n_numbered_from_1() {
    assert_eq!(Shard::parse("2/4"), Ok(Shard::new(2, 4).unwrap()));
    assert_eq!(Shard::parse(" 4 / 4 "), Ok(Shard::new(4, 4).unwrap()));
    for bad in ["0/4", "5/4", "1/0", "2", "2/", "/4", "a/b", "-1/4", ""] {
        assert!(Shard::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(Shard::new(2, 4).unwrap().to_string(), "2/4");
    let s = Shard::new(3, 4).unwrap();
    assert_eq!((s.len(10), s.len(2), s.len(3)), (2, 0, 1));
    assert_eq!((s.case_index(0), s.case_index(1)), (2, 6));
}

/// Run by the next test in a child process whose environment it sets.
#[test]
#[ignore = "run by mdlsim_threads_and_mdlsim_shard_apply_unless_ignore_env in a child"]
fn child_reads_the_environment() {
    let c = Config::default().cases(30).seed(SEED).no_regressions();
    let e = c.effective();
    assert_eq!((e.threads, e.shard), (3, Shard::new(2, 3)));
    let r = verify::verify(&BounceCopy::default(), &c).unwrap();
    assert_eq!((r.cases, r.shard), (10, Shard::new(2, 3)));
    let e = c.clone().ignore_env().threads(1).effective();
    assert_eq!((e.threads, e.shard), (1, None));
}

/// Run by the next test in a child process with a malformed `MDLSIM_SHARD`.
#[test]
#[ignore = "run by mdlsim_threads_and_mdlsim_shard_apply_unless_ignore_env in a child"]
fn child_rejects_a_malformed_shard() {
    let c = Config::default().cases(30).seed(SEED).no_regressions();
    let cx = verify::verify(&BounceCopy::default(), &c).unwrap_err();
    assert!(cx.to_string().contains("MDLSIM_SHARD=5/4"), "{cx}");
    assert!(c.clone().ignore_env().validate().is_ok());
}

fn run_child(test: &str, shard: &str) -> bool {
    let exe = std::env::current_exe().unwrap();
    std::process::Command::new(exe)
        .args(["--exact", test, "--ignored", "--test-threads=1"])
        .env("MDLSIM_THREADS", "3")
        .env("MDLSIM_SHARD", shard)
        .env_remove("MDLSIM_SEED")
        .env_remove("MDLSIM_CASES")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn mdlsim_threads_and_mdlsim_shard_apply_unless_ignore_env() {
    assert!(run_child("child_reads_the_environment", "2/3"));
    assert!(run_child("child_rejects_a_malformed_shard", "5/4"));
    // The controls: the children fail when the environment is not what they expect.
    assert!(!run_child("child_reads_the_environment", "1/3"));
    assert!(!run_child("child_rejects_a_malformed_shard", "2/4"));
}
