//! The oracle's rules for a driver's dispatch routine, judged after each case. Each
//! names the rule it enforces and its source:
//!
//! * **faults and protocol events** of the model, classed as everywhere else
//!   ([`crate::oracle::blame`], [`crate::oracle::classify_event`]): a bug check, an
//!   unhandled exception, a write through an MDL probed for read, `Information` larger
//!   than the caller's buffer, pending without `IoMarkIrpPending`, a user address
//!   touched unprobed or outside `__try` ([`crate::user_pointers`]);
//! * **a hostile kernel pointer followed**: a driver access to the kernel block the
//!   caller passed as a buffer (`ProbeForRead`/`ProbeForWrite` would have raised);
//! * **no kernel byte reaches user mode** unless the driver wrote it: after completion,
//!   no byte of the caller's memory carries another process's origin (stale pool,
//!   an uninitialised SystemBuffer, freed frames: the harness fills them with a secrets
//!   process's bytes before the request; Bochspwn Reloaded's class);
//! * **the return value and the IRP agree** (Microsoft, "Completing IRPs" and
//!   `IoMarkIrpPending`): a status other than `STATUS_PENDING` only for a request
//!   completed with that same `IoStatus.Status`;
//! * **no double fetch**: the driver reading a byte of a user-writable frame twice in
//!   one dispatch ([`crate::oracle::double_fetch`]); the search proves it with a second
//!   thread rewriting the byte in between;
//! * **hygiene**: locks, MDLs, pool, system PTEs and mappings given back at completion
//!   ([`Books`]); after the app exits, no bug check, nothing dangling and the model's
//!   books balanced ([`hygiene::after_exit`]).

use super::case::Place;
use super::world::{KERNEL_BLOCK, World};
use crate::addr::{PAGE_SIZE, Pfn, Va};
use crate::events::EventKind;
use crate::fault::Fault;
use crate::io::IoCompletion;
use crate::log::{Access, Actor};
use crate::oracle::blame::fault_finding_in;
use crate::oracle::double_fetch::{self, FetchPair};
use crate::oracle::hygiene::{self, Books};
use crate::oracle::{BugClass, Finding, Rule, event_finding};
use crate::shadow::Label;
use crate::space::SpaceId;
use crate::status::NtStatus;
use std::collections::BTreeSet;

/// What the harness saw of one request, for the rules.
pub(super) struct Observed {
    pub start: u64,
    pub dispatched: u64,
    events: usize,
    books: Books,
    pub returned: Option<NtStatus>,
    /// The IRP was sent to the driver.
    pub sent: bool,
    pub completed_at_return: bool,
    pub completion: Option<IoCompletion>,
    faults: Vec<Finding>,
    /// A double fetch seen ([`Refetch`]).
    pub refetch: Option<Refetch>,
    /// The machine had bug-checked before the app's exit.
    pub crashed_before_exit: bool,
    /// The steps of the driver's accesses to the caller's buffers while dispatching,
    /// when asked for (`Some` before the request).
    pub touches: Option<Vec<u64>>,
}

impl Observed {
    /// Before the request: the books, the events so far, the access log started.
    pub(super) fn start(w: &mut World) -> Observed {
        let books = Books::take(&w.m, &[w.client]);
        let _ = w.m.start_access_log();
        w.m.io.first_dispatch_step = None;
        w.m.io.first_stage2_step = None;
        Observed {
            start: w.m.step(),
            dispatched: w.m.step(),
            events: w.m.events().len(),
            books,
            returned: None,
            sent: false,
            completed_at_return: false,
            completion: None,
            faults: Vec::new(),
            refetch: None,
            crashed_before_exit: false,
            touches: None,
        }
    }

    /// A fault that escaped while `during`.
    pub(super) fn fault(&mut self, w: &World, f: &Fault, during: &str) {
        let step = w.m.step();
        self.faults
            .push(fault_finding_in(&w.m, f, step, self.start, during));
    }
}

/// The rules judged once the request is over (completed, or given up on), the app
/// still alive when `alive`.
pub(super) fn judge(w: &mut World, obs: &mut Observed, alive: bool) -> Vec<Finding> {
    let mut out: Vec<Finding> = std::mem::take(&mut obs.faults);
    out.extend(driver_events(w, obs.events));
    let copy_back_faulted = w.m.events()[obs.events.min(w.m.events().len())..]
        .iter()
        .any(|e| e.kind == EventKind::CopyBackFaulted);
    obs.events = w.m.events().len();
    out.extend(status(obs, copy_back_faulted));
    let log = w.m.take_access_log().unwrap_or_default();
    if obs.touches.is_some() {
        obs.touches = Some(touches(w, &log, obs));
    }
    out.extend(kernel_pointer(w, &log, obs.start));
    out.extend(outside_buffers(w, &log, obs));
    if alive && w.m.crashed().is_none() {
        if let Some(f) = refetch(w, &log, obs) {
            out.push(f);
        }
        out.extend(leaks(w));
        out.extend(delivered(w, obs));
        if obs.completion.is_some() || !obs.sent {
            let step = w.m.step();
            out.extend(Books::take(&w.m, &[w.client]).compare(&obs.books, step, "completion"));
        }
    }
    out
}

/// After the app's exit: events and faults since, and the machine's state.
pub(super) fn after_exit(w: &World, obs: &mut Observed) -> Vec<Finding> {
    let mut out: Vec<Finding> = std::mem::take(&mut obs.faults);
    out.extend(driver_events(w, obs.events));
    // A bug check during the request was reported as its cause; the rest is moot.
    if !obs.crashed_before_exit {
        out.extend(hygiene::after_exit(&w.m, w.m.step()));
    }
    out
}

/// The protocol events since index `from` that are the driver's doing: a copy-back
/// that faulted on the app's own read-only or freed buffer is the app's (the request
/// fails with the exception code, as on Windows).
fn driver_events(w: &World, from: usize) -> Vec<Finding> {
    w.m.events()
        .iter()
        .skip(from)
        .filter(|e| e.kind != EventKind::CopyBackFaulted)
        .map(event_finding)
        .collect()
}

/// One finding per class and rule, the first.
pub(super) fn dedup(findings: Vec<Finding>) -> Vec<Finding> {
    let mut seen = BTreeSet::new();
    findings
        .into_iter()
        .filter(|f| seen.insert((f.kind, f.rule)))
        .collect()
}

/// The return value against the IRP's fate.
fn status(obs: &Observed, copy_back_faulted: bool) -> Option<Finding> {
    let ret = obs.returned?;
    if !obs.sent || ret == NtStatus::PENDING {
        return None;
    }
    let bad = |detail: String| {
        Some(Finding::new(
            BugClass::StatusInconsistent,
            Rule::Protocol,
            Some(obs.dispatched),
            detail,
        ))
    };
    if !obs.completed_at_return {
        return bad(format!(
            "the dispatch routine returned {ret} without completing the IRP: only STATUS_PENDING may leave it outstanding"
        ));
    }
    match &obs.completion {
        Some(c) if c.status != ret && !copy_back_faulted => bad(format!(
            "the dispatch routine returned {ret} but completed the IRP with IoStatus.Status {}: the app sees one, its IO_STATUS_BLOCK the other",
            c.status
        )),
        _ => None,
    }
}

/// Driver accesses to the kernel block the caller passed as a buffer.
fn kernel_pointer(w: &World, log: &[Access], since: u64) -> Option<Finding> {
    if ![w.input_place, w.output_place].contains(&Some(Place::Kernel)) {
        return None;
    }
    let (lo, hi) = (w.kernel_block.raw(), w.kernel_block.raw() + KERNEL_BLOCK);
    let a = kernel_access(log, SpaceId::System, since, |a| {
        (lo..hi).contains(&a.va.raw())
    })?;
    let probe = if a.write { "Write" } else { "Read" };
    Some(access_finding(
        BugClass::UnprobedUserAccess,
        Rule::Protocol,
        a,
        format!(
            "a kernel address the caller passed as its buffer: ProbeFor{probe} would have raised STATUS_ACCESS_VIOLATION"
        ),
    ))
}

/// Kernel accesses to the caller's memory outside the buffers the request described
/// (and its IO_STATUS_BLOCK): a driver that trusts a length or offset of its own
/// reading past what the caller passed. The I/O manager's own copies stay inside them.
fn outside_buffers(w: &World, log: &[Access], obs: &Observed) -> Option<Finding> {
    let inside = |va: u64, len: u64| {
        w.described
            .iter()
            .any(|&(b, l)| b.raw() <= va && va.saturating_add(len) <= b.raw().saturating_add(l))
            || va >> 12 == w.iosb.raw() >> 12
    };
    let a = kernel_access(log, SpaceId::Process(w.client), obs.start, |a| {
        !inside(a.va.raw(), a.len as u64)
    })?;
    Some(access_finding(
        BugClass::OutOfBounds,
        Rule::Integrity,
        a,
        "in the caller's memory, outside the buffers the request described".into(),
    ))
}

/// The first kernel access in `space` from step `since` on that `pick` selects.
fn kernel_access(
    log: &[Access],
    space: SpaceId,
    since: u64,
    pick: impl Fn(&Access) -> bool,
) -> Option<&Access> {
    log.iter()
        .find(|a| a.actor == Actor::Kernel && a.space == space && a.step >= since && pick(a))
}

/// The finding of one access: "the kernel read N bytes at VA, `what`".
fn access_finding(kind: BugClass, rule: Rule, a: &Access, what: String) -> Finding {
    let verb = if a.write { "wrote" } else { "read" };
    let mut f = Finding::new(
        kind,
        rule,
        Some(a.step),
        format!("the kernel {verb} {} bytes at {}, {what}", a.len, a.va),
    );
    f.addresses.push((a.space, a.va));
    f
}

/// A double fetch seen: the steps of the two fetches, the caller's address of the byte
/// and a value different from the one fetched (what a proof writes there).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Refetch {
    /// The step of the first fetch.
    pub first: u64,
    /// The step of the second fetch.
    pub second: u64,
    /// The byte's address in the caller's space.
    pub va: Va,
    /// A value the byte did not hold.
    pub other: u8,
}

/// The first double fetch of the dispatch, on the caller's writable frames.
///
/// Both fetches are the driver's: the window opens when `IoCallDriver` first enters a
/// driver, so the I/O manager's own capture of a buffer (`METHOD_BUFFERED`'s input, a
/// buffered WRITE) is not a first fetch. That capture is the single fetch the
/// buffering methods exist to make ([semantics §5.8]); a driver that then reads the
/// same user bytes through an MDL of an overlapping buffer fetches them once itself.
///
/// [semantics §5.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.8
fn refetch(w: &World, log: &[Access], obs: &mut Observed) -> Option<Finding> {
    let opened = w.m.io.first_dispatch_step?.max(obs.start);
    let window = (opened, obs.dispatched);
    if !double_fetch::any_refetch(log, window) {
        return None;
    }
    let frames = writable_frames(w);
    let writable: BTreeSet<Pfn> = frames.iter().map(|(p, _)| *p).collect();
    let pair: FetchPair = double_fetch::find(log, window, &writable)?;
    let (_, page) = frames.iter().find(|(p, _)| *p == pair.pfn)?;
    let va = page.wrapping_add(pair.offset as u64);
    let byte =
        w.m.peek(SpaceId::Process(w.client), va, 1)
            .and_then(|b| b.first().copied());
    obs.refetch = byte.map(|b| Refetch {
        first: pair.first,
        second: pair.second,
        va,
        other: !b,
    });
    let mut f = Finding::new(
        BugClass::DoubleFetch,
        Rule::DoubleFetch,
        Some(pair.second),
        format!(
            "the driver read the caller's byte at {va} at step {} and again at step {}: another thread of the app can change it in between",
            pair.first, pair.second
        ),
    );
    f.addresses.push((SpaceId::Process(w.client), va));
    Some(f)
}

/// The steps (in order, each once) of the driver's accesses, while its dispatch routine
/// runs, to a frame of the caller's buffers — by their user address or through an MDL's
/// mapping: where [`super::Hostile::FreeWhileDispatching`] can release them. The I/O
/// manager's completion (its copy-back and IOSB) is not the driver's.
fn touches(w: &World, log: &[Access], obs: &Observed) -> Vec<u64> {
    let Some(opened) = w.m.io.first_dispatch_step.map(|s| s.max(obs.start)) else {
        return Vec::new();
    };
    let closed =
        w.m.io
            .first_stage2_step
            .map_or(obs.dispatched, |s| s.saturating_sub(1));
    let frames: BTreeSet<Pfn> = client_frames(w, false).iter().map(|(p, _)| *p).collect();
    let mut steps: Vec<u64> = log
        .iter()
        .filter(|a| a.actor == Actor::Kernel && (opened..=closed).contains(&a.step))
        .filter(|a| frames.contains(&a.pfn))
        .map(|a| a.step)
        .collect();
    steps.dedup();
    steps
}

/// The caller's frames its user PTEs map writable, with the page's address.
fn writable_frames(w: &World) -> Vec<(Pfn, Va)> {
    client_frames(w, true)
}

/// The frames of the caller's buffers (only those mapped writable with `writable`), with
/// the page's address.
fn client_frames(w: &World, writable: bool) -> Vec<(Pfn, Va)> {
    let space = SpaceId::Process(w.client);
    let mut out = Vec::new();
    for r in &w.regions {
        for i in 0..r.size / PAGE_SIZE {
            let va = r.base.wrapping_add(i * PAGE_SIZE);
            let pte = w.m.pte(space, va);
            if let Some(p) = pte.filter(|p| !writable || p.protection.can_write()) {
                out.push((p.pfn, va));
            }
        }
    }
    out
}

/// Under a minifilter, a successful write delivers the caller's bytes to the file
/// system below, unchanged (as `verify`'s delivery rule for a WRITE).
fn delivered(w: &World, obs: &Observed) -> Option<Finding> {
    let c = obs.completion.as_ref()?;
    if !w.own_fs || !c.status.is_success() || c.information == 0 || w.input_bytes.is_empty() {
        return None;
    }
    let file = &w.m.device(w.device).ok()?.extension.data;
    let n = (c.information as usize)
        .min(w.input_bytes.len())
        .min(file.len());
    let first = (0..n).find(|&i| file.get(i) != w.input_bytes.get(i))?;
    let va = w.input?.wrapping_add(first as u64);
    let mut f = Finding::new(
        BugClass::CopyInError,
        Rule::Delivery,
        Some(c.step),
        format!(
            "the file system below received byte {first} of the write as {:#04x}, not the caller's {:#04x} at {va}",
            file.get(first).copied().unwrap_or(0),
            w.input_bytes.get(first).copied().unwrap_or(0)
        ),
    );
    f.addresses.push((SpaceId::Process(w.client), va));
    Some(f)
}

/// Bytes of another process's origin in the caller's memory.
fn leaks(w: &World) -> Option<Finding> {
    let space = SpaceId::Process(w.client);
    for r in &w.regions {
        for i in 0..r.size / PAGE_SIZE {
            let page = r.base.wrapping_add(i * PAGE_SIZE);
            let Some(spans) = w.m.labels(space, page, PAGE_SIZE) else {
                continue;
            };
            let mut off = 0u64;
            for s in spans {
                if let Label::Origin {
                    space: SpaceId::Process(p),
                    ..
                } = s.label
                {
                    if p != w.client {
                        return Some(leak_finding(w, page.wrapping_add(off), s.len, s.label));
                    }
                }
                off += s.len;
            }
        }
    }
    None
}

fn leak_finding(w: &World, va: Va, len: u64, label: Label) -> Finding {
    let whose = if matches!(label, Label::Origin { space: SpaceId::Process(p), .. } if p == w.secrets)
    {
        "kernel secrets (stale pool or freed frames the harness filled before the request)"
    } else {
        "another process's bytes"
    };
    let mut f = Finding::new(
        BugClass::KernelBytesToUser,
        Rule::ConfidentialityToClient,
        Some(w.m.step()),
        format!(
            "{len} bytes at {va} in the caller's memory are {whose}, not bytes the driver wrote: Information covers bytes the driver never initialised"
        ),
    );
    f.addresses.push((SpaceId::Process(w.client), va));
    f.provenance.push(label);
    f
}
