//! The audit's progress: cases run, counted as the harness clones a fresh strategy for
//! every case it runs (the contract of [`ProxyStrategy`]), and the bar on standard error.

use mdlsim::Kernel;
use mdlsim::oracle::BugClass;
use mdlsim::strategy::{
    Completion, Direction, Exposure, Io, ProxyStrategy, ProxyStrategyClone, RetireReason,
    ServerReply,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What an audit reports while it runs ([`crate::audit_using`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Cases run so far over the whole audit, out of (strategies × 2 directions ×
    /// cases); a run that stops at a counter-example counts all its cases as run.
    Cases(u64),
    /// One strategy finished in one direction.
    Finished(&'a str, Direction),
}

/// The cases of one run (strategy × direction): at most `cap` count towards `total`.
pub(crate) struct Counter {
    run: AtomicU64,
    cap: u64,
    total: Arc<AtomicU64>,
}

impl Counter {
    /// A run of `cap` cases adding to `total`.
    pub(crate) fn new(cap: u64, total: Arc<AtomicU64>) -> Arc<Counter> {
        Arc::new(Counter {
            run: AtomicU64::new(0),
            cap,
            total,
        })
    }

    fn tick(&self) {
        if self.run.fetch_add(1, Ordering::Relaxed) < self.cap {
            self.total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The run is over: its cases not run (it stopped at a counter-example) count as run.
    pub(crate) fn finish(&self) {
        let n = self.run.load(Ordering::Relaxed).min(self.cap);
        self.total.fetch_add(self.cap - n, Ordering::Relaxed);
    }
}

/// A strategy whose every clone (one per case the harness runs) ticks its [`Counter`].
struct Ticking {
    inner: Box<dyn ProxyStrategyClone>,
    counter: Arc<Counter>,
}

impl Clone for Ticking {
    fn clone(&self) -> Self {
        self.counter.tick();
        Ticking {
            inner: self.inner.clone_box(),
            counter: Arc::clone(&self.counter),
        }
    }
}

impl ProxyStrategy for Ticking {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> mdlsim::Result<Exposure> {
        self.inner.expose(k, io)
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> mdlsim::Result<Completion> {
        self.inner.retire(k, io, reply, why)
    }
    fn expected(&self) -> Option<BugClass> {
        self.inner.expected()
    }
}

/// `inner`, counting its cases on `counter`.
pub(crate) fn ticking(
    inner: Box<dyn ProxyStrategyClone>,
    counter: Arc<Counter>,
) -> Box<dyn ProxyStrategyClone> {
    Box::new(Ticking { inner, counter })
}

/// A bar over `total` cases with their rate and the time left, drawn now and redrawn
/// while the first cases run.
pub(crate) fn bar(total: u64) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(total);
    if let Ok(st) = indicatif::ProgressStyle::with_template(
        "{spinner} {bar:40} {human_pos}/{human_len} cases, {per_sec}, ETA {eta} {msg}",
    ) {
        b.set_style(st);
    }
    b.enable_steady_tick(Duration::from_millis(250));
    b
}
