//! The rules of the oracle as functions over what a case observed (module docs of
//! [`crate::oracle`]).

use super::{BugClass, Finding, Rule};
use crate::addr::{Pfn, Va};
use crate::io::Direction;
use crate::log::{Access, Actor};
use crate::machine::Machine;
use crate::shadow::{Label, LabelSpan};
use crate::space::{Pid, SpaceId};
use std::collections::BTreeSet;

/// The request the rules are about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Subject {
    /// The client.
    pub client: Pid,
    /// The server.
    pub server: Pid,
    /// READ or WRITE.
    pub direction: Direction,
    /// The client's buffer.
    pub buffer: Va,
    /// Its length.
    pub length: u64,
}

impl Subject {
    fn is_server(&self, l: Label) -> bool {
        matches!(l, Label::Origin { space: SpaceId::Process(p), .. } if p == self.server)
    }
}

/// Where `after` differs from `before` (two label lists over the same bytes):
/// `(offset, len, label in after at offset)`, merged.
pub fn diff_spans(before: &[LabelSpan], after: &[LabelSpan]) -> Vec<(u64, u64, Label)> {
    let mut out: Vec<(u64, u64, Label)> = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    let (mut ib, mut ia) = (0u64, 0u64); // consumed within the current spans
    let mut pos = 0u64;
    while i < before.len() && j < after.len() {
        let b = before[i];
        let a = after[j];
        let n = (b.len - ib).min(a.len - ia);
        let lb = b.label.advance(ib);
        let la = a.label.advance(ia);
        if lb != la {
            match out.last_mut() {
                Some(last) if last.0 + last.1 == pos && last.2.advance(last.1) == la => last.1 += n,
                _ => out.push((pos, n, la)),
            }
        }
        pos += n;
        ib += n;
        ia += n;
        if ib == b.len {
            i += 1;
            ib = 0;
        }
        if ia == a.len {
            j += 1;
            ia = 0;
        }
    }
    out
}

/// Collects offending bytes into one finding per class: the first offending byte (its
/// address and provenance), the length of the run it starts, and the total count.
#[derive(Default)]
struct Collector {
    found: Vec<Finding>,
    /// Per finding: the first run's length, the total, and what happened.
    counts: Vec<(u64, u64, &'static str)>,
}

impl Collector {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        kind: BugClass,
        rule: Rule,
        step: Option<u64>,
        at: (SpaceId, Va),
        label: Option<Label>,
        bytes: u64,
        what: &'static str,
    ) {
        if let Some(i) = self
            .found
            .iter()
            .position(|f| f.kind == kind && f.rule == rule)
        {
            let f = &mut self.found[i];
            if f.addresses.len() < 4 {
                f.addresses.push(at);
            }
            if let Some(l) = label {
                if f.provenance.len() < 4 && !f.provenance.contains(&l) {
                    f.provenance.push(l);
                }
            }
            self.counts[i].1 += bytes;
            return;
        }
        let mut f = Finding::new(kind, rule, step, what);
        f.addresses.push(at);
        f.provenance.extend(label);
        self.found.push(f);
        self.counts.push((bytes, bytes, what));
    }

    /// The findings, each detail naming the first offending byte and the counts.
    fn finish(mut self) -> Vec<Finding> {
        for (f, (first, total, what)) in self.found.iter_mut().zip(&self.counts) {
            let (sp, va) = f.addresses[0];
            f.detail = format!(
                "{what}: {total} byte(s), the first offending one at {sp} {va} (in a run of {first})"
            );
        }
        self.found
    }
}

/// The parts of a run of `len` client bytes whose origin starts at `origin` that lie
/// outside the request's range: `(offset in the run, length)`.
fn outside_range(s: &Subject, origin: Va, len: u64) -> Vec<(u64, u64)> {
    let (o, end) = (origin.raw(), origin.raw().saturating_add(len));
    let (b, e) = (s.buffer.raw(), s.buffer.raw().saturating_add(s.length));
    let mut out = Vec::new();
    if o < b {
        out.push((0, end.min(b) - o));
    }
    if end > e {
        let from = o.max(e);
        out.push((from - o, end - from));
    }
    out
}

/// Confidentiality towards the server: every byte the server read (from the access log)
/// is zero, its own, or a client byte whose origin lies inside the range. A client byte
/// from outside the range is a PartialPageExposure; anything else (pool, kernel, a
/// third party) an UnsanitizedSubstitute.
pub fn server_reads(log: &[Access], s: &Subject) -> Vec<Finding> {
    let mut c = Collector::default();
    for r in log
        .iter()
        .filter(|r| r.actor == Actor::User(s.server) && !r.write)
    {
        let mut pos = 0u64;
        for sp in &r.labels {
            let at = r.va.wrapping_add(pos);
            pos += sp.len;
            // The offending parts of the span: (offset in it, length).
            let bad = match sp.label {
                Label::Zero => Vec::new(),
                Label::Origin { space, va } => match space {
                    SpaceId::Process(p) if p == s.server => Vec::new(),
                    SpaceId::Process(p) if p == s.client => outside_range(s, va, sp.len),
                    _ => vec![(0, sp.len)],
                },
            };
            if bad.is_empty() {
                continue;
            }
            let client_outside = matches!(sp.label,
                Label::Origin { space: SpaceId::Process(p), .. } if p == s.client);
            let (kind, what) = if client_outside {
                (
                    BugClass::PartialPageExposure,
                    "the server read client bytes from outside the request's range",
                )
            } else {
                (
                    BugClass::UnsanitizedSubstitute,
                    "the server read bytes that are neither zero, its own nor the client's range (stale pool, kernel or third-party bytes)",
                )
            };
            for (d, n) in bad {
                c.add(
                    kind,
                    Rule::ConfidentialityToServer,
                    Some(r.step),
                    (r.space, at.wrapping_add(d)),
                    Some(sp.label.advance(d)),
                    n,
                    what,
                );
            }
        }
    }
    c.finish()
}

/// Integrity and confidentiality towards the client, from its allocation's labels before
/// and after the request (`base` = start of the allocation). `delivered` is the number
/// of bytes a successful READ claims (checked by [`delivery_read`], skipped here).
pub fn client_after(
    before: &[LabelSpan],
    after: &[LabelSpan],
    base: Va,
    s: &Subject,
    delivered: u64,
    step: u64,
) -> Vec<Finding> {
    let mut c = Collector::default();
    let start = s.buffer.raw() - base.raw();
    let range = ClientRange {
        start,
        end: start + s.length,
        delivered_end: start + delivered,
    };
    for (off, len, label) in diff_spans(before, after) {
        // Split the changed chunk at the range's edges and at `start + delivered`.
        let cuts = [
            off,
            range.start.clamp(off, off + len),
            range.delivered_end.clamp(off, off + len),
            range.end.clamp(off, off + len),
            off + len,
        ];
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a >= b {
                continue;
            }
            let l = label.advance(a - off);
            let at = (SpaceId::Process(s.client), base.wrapping_add(a));
            if let Some((kind, rule, what)) = range.change(s, a, l) {
                c.add(kind, rule, Some(step), at, Some(l), b - a, what);
            }
        }
    }
    c.finish()
}

/// The request's range in the client's allocation (offsets from its start), and the end
/// of the bytes a successful READ delivered.
struct ClientRange {
    start: u64,
    end: u64,
    delivered_end: u64,
}

impl ClientRange {
    /// What a change of the client byte at offset `a`, now labelled `l`, breaks: outside
    /// the range any change (integrity); a WRITE's buffer must not change; past the
    /// delivered bytes only the server's bytes may appear (the delivered ones are
    /// [`delivery_read`]'s business).
    fn change(&self, s: &Subject, a: u64, l: Label) -> Option<(BugClass, Rule, &'static str)> {
        if a < self.start || a >= self.end {
            let kind = if s.is_server(l) {
                BugClass::PartialPageExposure
            } else {
                BugClass::CopyBackError
            };
            Some((
                kind,
                Rule::Integrity,
                "a client byte outside the request's range changed",
            ))
        } else if s.direction == Direction::Write {
            Some((
                BugClass::AccessModeMismatch,
                Rule::Integrity,
                "the client's WRITE buffer was modified",
            ))
        } else if a < self.delivered_end {
            // Checked by delivery.
            None
        } else if s.is_server(l) {
            // Policy: past Information, server-written bytes are allowed.
            None
        } else if l == Label::Zero {
            Some((
                BugClass::CopyBackError,
                Rule::Delivery,
                "client bytes past Information were zero-filled",
            ))
        } else {
            Some((
                BugClass::CopyBackError,
                Rule::ConfidentialityToClient,
                "the client's buffer received bytes that are neither its own nor the server's",
            ))
        }
    }
}

/// Delivery for a successful READ: the first `info` bytes of the client's range are
/// exactly the bytes the server wrote at `view + i` (labels and values).
pub fn delivery_read(
    m: &Machine,
    s: &Subject,
    view: Va,
    info: u64,
    expected: &[u8],
    step: u64,
) -> Option<Finding> {
    let fail = |d: String| {
        Some(Finding::new(
            BugClass::CopyBackError,
            Rule::Delivery,
            Some(step),
            d,
        ))
    };
    let info = info.min(s.length); // a larger count is `completion_count`'s finding
    if info == 0 {
        return None;
    }
    let space = SpaceId::Process(s.client);
    let labels = m.labels(space, s.buffer, info)?;
    let want = LabelSpan {
        len: info,
        label: Label::Origin {
            space: SpaceId::Process(s.server),
            va: view,
        },
    };
    if labels != [want] {
        let bad = diff_spans(&[want], &labels);
        let first_bad = bad.first().copied();
        let shifted = bad
            .iter()
            .find_map(|&(off, _, l)| shift(l, s.server, view, off, s.length));
        let mut f = Finding::new(
            BugClass::CopyBackError,
            Rule::Delivery,
            Some(step),
            format!(
                "after the READ the client's first {info} bytes are not the server's data at the same offsets"
            ),
        );
        if let Some(d) = shifted {
            f.kind = BugClass::SpanArithmetic;
            f.detail = format!(
                "after the READ the client's bytes are the server's data shifted by {d:+} byte(s): the right bytes at the wrong offset"
            );
        }
        if let Some((off, _, l)) = first_bad {
            f.addresses.push((space, s.buffer.wrapping_add(off)));
            f.provenance.push(l);
        }
        return Some(f);
    }
    let bytes = m.peek(space, s.buffer, info)?;
    if bytes[..] != expected[..info as usize] {
        return fail("the client's bytes carry the server's labels but not its values".into());
    }
    None
}

/// The count the client is told: `IoStatus.Information` of a completed READ or WRITE
/// never exceeds the request's length, whatever the server claimed (a driver that passes
/// an over-reporting server's count through tells the client it has bytes it has not —
/// and a caller that trusts the count reads past its buffer).
pub fn completion_count(s: &Subject, information: u64, step: u64) -> Option<Finding> {
    (information > s.length).then(|| {
        Finding::new(
            BugClass::CopyBackError,
            Rule::Delivery,
            Some(step),
            format!(
                "the client is told Information {information:#x} for a {}-byte request (a count the driver did not clamp)",
                s.length
            ),
        )
    })
}

/// The status the client is told: a request the server failed is not completed as a
/// success (the client would take the server's partial or garbage bytes as its data).
/// A driver may fail a request the server completed (its own failure), not the reverse.
pub fn completion_status(
    server: crate::status::NtStatus,
    client: crate::status::NtStatus,
    step: u64,
) -> Option<Finding> {
    (!server.is_success() && client.is_success()).then(|| {
        Finding::new(
            BugClass::CopyBackError,
            Rule::Delivery,
            Some(step),
            format!("the server failed the request with {server} and the client is told {client}"),
        )
    })
}

/// Delivery for a WRITE: what the server saw right after `expose` (`view_labels`,
/// `view_bytes` over `view_len` bytes) is exactly the client's range.
pub fn delivery_write(
    s: &Subject,
    view_len: u64,
    view_labels: Option<&[LabelSpan]>,
    view_bytes: Option<&[u8]>,
    client_bytes: &[u8],
    step: u64,
) -> Option<Finding> {
    let fail = |d: String| {
        Some(Finding::new(
            BugClass::CopyBackError,
            Rule::Delivery,
            Some(step),
            d,
        ))
    };
    if view_len != s.length {
        return Some(Finding::new(
            BugClass::CopyInError,
            Rule::Delivery,
            Some(step),
            format!(
                "the server was shown {view_len} bytes of a {}-byte WRITE",
                s.length
            ),
        ));
    }
    if s.length == 0 {
        return None;
    }
    let (Some(labels), Some(bytes)) = (view_labels, view_bytes) else {
        return fail("the server's view of the WRITE is not readable".into());
    };
    let want = LabelSpan {
        len: s.length,
        label: Label::Origin {
            space: SpaceId::Process(s.client),
            va: s.buffer,
        },
    };
    if labels != [want] {
        let bad = diff_spans(&[want], labels);
        let first_bad = bad.first().copied();
        let shifted = bad
            .iter()
            .find_map(|&(off, _, l)| shift(l, s.client, s.buffer, off, s.length));
        let mut f = Finding::new(
            BugClass::CopyInError,
            Rule::Delivery,
            Some(step),
            "the server's view of the WRITE is not the client's bytes: they were not copied in",
        );
        if let Some(d) = shifted {
            f.kind = BugClass::SpanArithmetic;
            f.detail = format!(
                "the server's view of the WRITE holds the client's bytes shifted by {d:+} byte(s): the right bytes at the wrong offset"
            );
        }
        if let Some((_, _, l)) = first_bad {
            f.provenance.push(l);
        }
        return Some(f);
    }
    if bytes != client_bytes {
        return fail("the server's view carries the client's labels but not its values".into());
    }
    None
}

/// Whether a byte expected at `base + off` of `owner`'s space, labelled `l`, is `owner`'s
/// byte from another offset of the same buffer (within a page of its ends): the shift
/// `origin - expected`, the mark of span arithmetic.
fn shift(l: Label, owner: Pid, base: Va, off: u64, len: u64) -> Option<i64> {
    let Label::Origin {
        space: SpaceId::Process(p),
        va,
    } = l
    else {
        return None;
    };
    let lo = base.raw().saturating_sub(crate::addr::PAGE_SIZE);
    let hi = base.raw().saturating_add(len + crate::addr::PAGE_SIZE);
    let expected = base.raw().wrapping_add(off);
    (p == owner && (lo..hi).contains(&va.raw()) && va.raw() != expected)
        .then(|| va.raw().wrapping_sub(expected) as i64)
}

/// Frames some user PTE of `pids` maps writable (what another thread could change).
pub fn user_writable_frames(m: &Machine, pids: &[Pid]) -> BTreeSet<Pfn> {
    let mut out = BTreeSet::new();
    for p in pids {
        if let Ok(pr) = m.process(*p) {
            if !pr.is_alive() {
                continue;
            }
            for (_, pte) in pr.space().ptes() {
                if pte.protection.can_write() {
                    out.insert(pte.pfn);
                }
            }
        }
    }
    out
}

/// For a WRITE: a server mapping that maps one of the client's frames writable.
pub fn writable_client_frames_in_server(
    m: &Machine,
    s: &Subject,
    client_frames: &[Pfn],
    step: u64,
) -> Option<Finding> {
    if s.direction != Direction::Write {
        return None;
    }
    let mp = m.mappings().find(|mp| {
        mp.space == SpaceId::Process(s.server)
            && mp.protection.can_write()
            && mp.frames.iter().any(|f| client_frames.contains(f))
    })?;
    let mut f = Finding::new(
        BugClass::AccessModeMismatch,
        Rule::Integrity,
        Some(step),
        "a WRITE buffer's pages are mapped writable into the server",
    );
    f.addresses.push((mp.space, mp.returned));
    Some(f)
}

#[cfg(test)]
mod tests;
