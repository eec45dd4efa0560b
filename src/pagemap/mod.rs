//! The page map: for each page of a client's buffer and of what a server was given,
//! which bytes the server could see and where each came from (shadow memory,
//! [`crate::shadow`]; [design.md, "Shadow memory"][design-shadow]).
//!
//! A [`PageMap`] is captured by the scenario runner right after `expose` (the moment the
//! server gets its view) and completed with the bytes the server actually read (the
//! access log, [`crate::log`]). It is plain data (serde), rendered as text
//! ([`PageMap::render_text`], ANSI colour optional) or as a hand-written SVG picture
//! ([`PageMap::render_svg`]).
//!
//! The unit is the **page**, because that is what a mapping exposes: a server given
//! 16 bytes at offset `0x200` of a client page can read all 4,096 bytes of it.
//!
//! [design-shadow]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#shadow-memory

use crate::addr::{PAGE_BYTES, PAGE_SIZE, Pfn, Va, span_pages};
use crate::log::{Access, Actor};
use crate::machine::Machine;
use crate::shadow::Label;
use crate::space::{Pid, SpaceId};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

mod svg;

pub use svg::MARKS;

/// Where a byte's value came from, from the point of view of one request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Source {
    /// The client's own byte, first written inside the request's range: the server may see it.
    ClientInRange,
    /// The client's own byte from outside the range: the server must not see it.
    ClientOutOfRange,
    /// Zero-filled by the memory manager.
    Zero,
    /// Written by the kernel (pool, a system mapping): stale kernel memory.
    StalePool,
    /// Written by the server itself.
    Server,
    /// Another process's byte (a frame it freed, still holding its data).
    OtherProcess,
}

impl Source {
    /// Every source, in legend order.
    pub const ALL: [Source; 6] = [
        Source::ClientInRange,
        Source::ClientOutOfRange,
        Source::Zero,
        Source::StalePool,
        Source::Server,
        Source::OtherProcess,
    ];

    /// One character for the text map.
    pub fn glyph(self) -> char {
        match self {
            Source::ClientInRange => '#',
            Source::ClientOutOfRange => '!',
            Source::Zero => '.',
            Source::StalePool => 'P',
            Source::Server => 's',
            Source::OtherProcess => 'x',
        }
    }

    /// The legend's words.
    pub fn describe(self) -> &'static str {
        match self {
            Source::ClientInRange => "client, in range",
            Source::ClientOutOfRange => "client, OUT of range",
            Source::Zero => "zero",
            Source::StalePool => "stale pool / kernel",
            Source::Server => "server",
            Source::OtherProcess => "another process (stale frame)",
        }
    }

    /// Whether the server may see a byte of this source.
    pub fn allowed(self) -> bool {
        matches!(self, Source::ClientInRange | Source::Zero | Source::Server)
    }

    fn ansi(self) -> &'static str {
        match self {
            Source::ClientInRange => "\x1b[32m",
            Source::ClientOutOfRange => "\x1b[1;31m",
            Source::Zero => "\x1b[90m",
            Source::StalePool => "\x1b[1;35m",
            Source::Server => "\x1b[34m",
            Source::OtherProcess => "\x1b[1;33m",
        }
    }

    pub(crate) fn svg_fill(self) -> &'static str {
        match self {
            Source::ClientInRange => "#4caf50",
            Source::ClientOutOfRange => "#e53935",
            Source::Zero => "#e0e0e0",
            Source::StalePool => "#8e24aa",
            Source::Server => "#1e88e5",
            Source::OtherProcess => "#fb8c00",
        }
    }
}

/// Which side of the request a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Side {
    /// A page of the client's buffer (in the client's space).
    Client,
    /// A page of the server's view (in the server's space).
    Server,
}

/// A run of bytes of one page with one source.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Span {
    /// First offset in the page.
    pub start: u16,
    /// Number of bytes (1..=4096).
    pub len: u16,
    /// Where they came from.
    pub source: Source,
}

/// One page of the map.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PageRow {
    /// Client buffer page or server view page.
    pub side: Side,
    /// The page's address in its side's space.
    pub va: Va,
    /// The frame behind it (`None`: not resident, reads as zero or is inaccessible).
    pub pfn: Option<Pfn>,
    /// Whether the server can read this page (always, for its view; for a client page,
    /// whether its frame is mapped in the server's space).
    pub visible: bool,
    /// The bytes of the request on this page (`start`, `len`), if any.
    pub request: Option<(u16, u16)>,
    /// The page's bytes by source, covering 0..4096.
    pub spans: Vec<Span>,
    /// The byte ranges the server actually read (`start`, `len`), merged.
    pub read: Vec<(u16, u16)>,
}

impl PageRow {
    /// Bytes of this page the server could see whose source it must not see.
    pub fn forbidden_visible(&self) -> u64 {
        if !self.visible {
            return 0;
        }
        self.spans
            .iter()
            .filter(|s| !s.source.allowed())
            .map(|s| s.len as u64)
            .sum()
    }

    fn source_at(&self, off: usize) -> Option<Source> {
        self.spans
            .iter()
            .find(|s| (s.start as usize..s.start as usize + s.len as usize).contains(&off))
            .map(|s| s.source)
    }
}

/// The page map of one request.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct PageMap {
    /// The client's buffer.
    pub buffer: Va,
    /// Its length.
    pub length: u64,
    /// The server's view (address in the server's space, length), if one was given.
    pub view: Option<(Va, u64)>,
    /// Client pages first, then server pages.
    pub rows: Vec<PageRow>,
}

/// Who wrote what, for classification.
struct Classifier {
    client: Pid,
    server: Pid,
    buffer: Va,
    length: u64,
}

impl Classifier {
    fn source(&self, l: Label) -> Source {
        match l {
            Label::Zero => Source::Zero,
            Label::Origin {
                space: SpaceId::System,
                ..
            } => Source::StalePool,
            Label::Origin {
                space: SpaceId::Process(p),
                va,
            } if p == self.client => match va.checked_offset_from(self.buffer) {
                Some(d) if d < self.length => Source::ClientInRange,
                _ => Source::ClientOutOfRange,
            },
            Label::Origin {
                space: SpaceId::Process(p),
                ..
            } if p == self.server => Source::Server,
            Label::Origin { .. } => Source::OtherProcess,
        }
    }

    fn spans(&self, m: &Machine, pfn: Option<Pfn>) -> Vec<Span> {
        let labels = pfn.and_then(|p| m.frame_labels(p, 0, PAGE_BYTES));
        let Some(labels) = labels else {
            return vec![Span {
                start: 0,
                len: PAGE_BYTES as u16,
                source: Source::Zero,
            }];
        };
        let mut out: Vec<Span> = Vec::new();
        let mut off = 0usize;
        for ls in labels {
            match ls.label {
                Label::Origin {
                    space: SpaceId::Process(p),
                    va,
                } if p == self.client => {
                    // Split the span where the request's range begins and ends.
                    let (s0, s1) = (va.raw(), va.raw().saturating_add(ls.len));
                    let (b0, b1) = (
                        self.buffer.raw(),
                        self.buffer.raw().saturating_add(self.length),
                    );
                    let (i0, i1) = (s0.max(b0), s1.min(b1));
                    if i0 < i1 {
                        push(&mut out, off, (i0 - s0) as usize, Source::ClientOutOfRange);
                        push(
                            &mut out,
                            off + (i0 - s0) as usize,
                            (i1 - i0) as usize,
                            Source::ClientInRange,
                        );
                        push(
                            &mut out,
                            off + (i1 - s0) as usize,
                            (s1 - i1) as usize,
                            Source::ClientOutOfRange,
                        );
                    } else {
                        push(&mut out, off, ls.len as usize, Source::ClientOutOfRange);
                    }
                }
                l => push(&mut out, off, ls.len as usize, self.source(l)),
            }
            off += ls.len as usize;
        }
        out
    }
}

fn push(out: &mut Vec<Span>, start: usize, len: usize, source: Source) {
    if len == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.source == source && last.start as usize + last.len as usize == start {
            last.len += len as u16;
            return;
        }
    }
    out.push(Span {
        start: start as u16,
        len: len as u16,
        source,
    });
}

fn request_on_page(page: Va, buffer: Va, length: u64) -> Option<(u16, u16)> {
    let p0 = page.raw();
    let p1 = p0 + PAGE_SIZE;
    let b0 = buffer.raw();
    let b1 = b0.saturating_add(length);
    let s = p0.max(b0);
    let e = p1.min(b1);
    (s < e).then(|| ((s - p0) as u16, (e - s) as u16))
}

impl PageMap {
    /// Captures the map after `expose`: the client's buffer pages (in `client`'s space)
    /// and the server's view `view` (in `server`'s space).
    pub fn capture(
        m: &Machine,
        client: Pid,
        server: Pid,
        buffer: Va,
        length: u64,
        view: Option<(Va, u64)>,
    ) -> PageMap {
        let c = Classifier {
            client,
            server,
            buffer,
            length,
        };
        let server_frames: std::collections::BTreeSet<Pfn> = m
            .process(server)
            .map(|p| p.space().ptes().map(|(_, pte)| pte.pfn).collect())
            .unwrap_or_default();
        let mut rows = Vec::new();
        let pages = span_pages(buffer, length).max(1) as u64;
        for i in 0..pages {
            let va = buffer.page_align().wrapping_add(i * PAGE_SIZE);
            let pfn = m.translate(SpaceId::Process(client), va);
            rows.push(PageRow {
                side: Side::Client,
                va,
                pfn,
                visible: pfn.is_some_and(|p| server_frames.contains(&p)),
                request: request_on_page(va, buffer, length),
                spans: c.spans(m, pfn),
                read: Vec::new(),
            });
        }
        if let Some((vva, vlen)) = view.filter(|(_, l)| *l > 0) {
            for i in 0..span_pages(vva, vlen) as u64 {
                let va = vva.page_align().wrapping_add(i * PAGE_SIZE);
                let pfn = m.translate(SpaceId::Process(server), va);
                rows.push(PageRow {
                    side: Side::Server,
                    va,
                    pfn,
                    visible: pfn.is_some(),
                    request: request_on_page(va, vva, vlen),
                    spans: c.spans(m, pfn),
                    read: Vec::new(),
                });
            }
        }
        PageMap {
            buffer,
            length,
            view,
            rows,
        }
    }

    /// Adds the bytes `server` read (from the access log) to the rows whose frame they hit.
    pub fn add_reads(&mut self, log: &[Access], server: Pid) {
        for a in log {
            if a.write || a.actor != Actor::User(server) {
                continue;
            }
            for row in &mut self.rows {
                if row.pfn == Some(a.pfn) && row.visible {
                    merge(&mut row.read, a.offset, a.len);
                }
            }
        }
    }

    /// Bytes the server could see that it must not (the sum over visible pages).
    pub fn forbidden_visible(&self) -> u64 {
        self.rows.iter().map(PageRow::forbidden_visible).sum()
    }

    /// The map as text: one line per page, one character per 64 bytes (the source of
    /// most of them, a forbidden source winning), ANSI colour when `colour`.
    pub fn render_text(&self, colour: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "page map: client buffer {} ({} bytes){}",
            self.buffer,
            self.length,
            match self.view {
                Some((va, l)) => format!(", server view {va} ({l} bytes)"),
                None => ", no server view".into(),
            }
        );
        let _ = writeln!(
            s,
            "  one character = 64 bytes; `[` `]` mark the request's bytes on the page"
        );
        for row in &self.rows {
            let side = match row.side {
                Side::Client => "client",
                Side::Server => "server",
            };
            let vis = if row.visible { "visible" } else { "hidden " };
            let mut line = String::new();
            let (rs, re) = row.request.map_or((usize::MAX, usize::MAX), |(a, l)| {
                (a as usize / 64, (a as usize + l as usize).div_ceil(64))
            });
            for cell in 0..64 {
                if cell == rs {
                    line.push('[');
                }
                let src = cell_source(row, cell);
                if colour {
                    let _ = write!(line, "{}{}\x1b[0m", src.ansi(), src.glyph());
                } else {
                    line.push(src.glyph());
                }
                if cell + 1 == re {
                    line.push(']');
                }
            }
            let pfn = row.pfn.map_or("   -".to_string(), |p| format!("{p}"));
            let bad = row.forbidden_visible();
            let _ = writeln!(
                s,
                "  {side} {} {pfn} {vis} {line}{}",
                row.va,
                if bad > 0 {
                    format!("  <- {bad} forbidden bytes visible")
                } else {
                    String::new()
                }
            );
            if !row.read.is_empty() {
                let total: u64 = row.read.iter().map(|r| r.1 as u64).sum();
                let _ = writeln!(s, "      the server read {total} bytes of this page");
            }
        }
        let _ = write!(s, "  legend:");
        for src in Source::ALL {
            if colour {
                let _ = write!(
                    s,
                    " {}{}\x1b[0m {}",
                    src.ansi(),
                    src.glyph(),
                    src.describe()
                );
            } else {
                let _ = write!(s, " {} {};", src.glyph(), src.describe());
            }
        }
        s.push('\n');
        s
    }
}

/// The source shown for 64-byte cell `cell`: a forbidden source present wins, else the majority.
fn cell_source(row: &PageRow, cell: usize) -> Source {
    let mut counts = [0u32; 6];
    for off in cell * 64..cell * 64 + 64 {
        if let Some(src) = row.source_at(off) {
            counts[src as usize] += 1;
        }
    }
    for src in [
        Source::ClientOutOfRange,
        Source::StalePool,
        Source::OtherProcess,
    ] {
        if counts[src as usize] > 0 {
            return src;
        }
    }
    let best = (0..6).max_by_key(|i| (counts[*i], 6 - *i)).unwrap_or(2);
    Source::ALL[best]
}

fn merge(read: &mut Vec<(u16, u16)>, off: u16, len: u16) {
    read.push((off, len));
    read.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (a, l) in read.drain(..) {
        if let Some(last) = out.last_mut() {
            if a as u32 <= last.0 as u32 + last.1 as u32 {
                let end = (last.0 as u32 + last.1 as u32).max(a as u32 + l as u32);
                last.1 = (end - last.0 as u32) as u16;
                continue;
            }
        }
        out.push((a, l));
    }
    *read = out;
}

/// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attributes.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}
