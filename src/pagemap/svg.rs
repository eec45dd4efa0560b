//! [`PageMap::render_svg`]: the page map as a hand-written SVG picture.

use super::{PageMap, PageRow, Side, Source, xml_escape};
use crate::addr::Pfn;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Left edge of the bars (the labels are to their left).
const X0: u32 = 300;
/// Width of a bar: 4,096 bytes drawn 1:8.
const W: u32 = 512;
/// Height of a row.
const ROW: u32 = 42;
/// Width of the picture.
const WIDTH: u32 = X0 + W + 80;
/// Top of the first row.
const TOP: u32 = 60;

/// The marks the legend explains besides the sources' colours, one line each.
pub const MARKS: [&str; 5] = [
    "outline: the request's bytes on the page",
    "underline: bytes the server actually read",
    "faded row: a client page the server cannot see",
    "SUB: a substitute frame, not the client's (the server sees a copy)",
    "PFN: the frame behind the page; a server row on a client PFN is that page itself",
];

impl PageMap {
    /// The frames of the client's buffer pages.
    fn client_frames(&self) -> BTreeSet<Pfn> {
        self.rows
            .iter()
            .filter(|r| r.side == Side::Client)
            .filter_map(|r| r.pfn)
            .collect()
    }

    /// Whether `row` is a page of the server's view on a frame that is not one of the
    /// client's buffer pages: a substitute (a bounce buffer's pool page, a page from
    /// `MmAllocatePagesForMdlEx`), which the server sees instead of the client's page.
    pub fn is_substitute(&self, row: &PageRow) -> bool {
        row.side == Side::Server && row.pfn.is_some_and(|p| !self.client_frames().contains(&p))
    }

    /// The map as a standalone SVG document (well-formed XML): one bar per page, 4,096
    /// bytes drawn 1:8, coloured by source; beside each its side, address and PFN, whether
    /// the server can see it and, for a page of the server's view, whether it is a
    /// substitute (marked `SUB`) or the client's own frame; hidden client pages faded, the
    /// request's bytes outlined, the bytes the server read underlined; a legend of every
    /// colour and mark ([`MARKS`]).
    pub fn render_svg(&self, title: &str) -> String {
        let legend_rows = Source::ALL.len().div_ceil(3) as u32;
        let ly = TOP + 10 + ROW * self.rows.len() as u32;
        let h = ly + 26 * legend_rows + 22 * MARKS.len() as u32 + 26;
        let mut s = String::new();
        let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" font-family="monospace" font-size="12">"#
        );
        let _ = writeln!(s, r#"<title>{}</title>"#, xml_escape(title));
        let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
        let _ = writeln!(
            s,
            r#"<text x="10" y="20" font-size="14">{}</text>"#,
            xml_escape(title)
        );
        let _ = writeln!(
            s,
            r#"<text x="10" y="40">client buffer {} ({} bytes){}</text>"#,
            self.buffer,
            self.length,
            xml_escape(&match self.view {
                Some((va, l)) => format!(", server view {va} ({l} bytes)"),
                None => ", no server view".into(),
            })
        );
        let clients = self.client_frames();
        for (i, row) in self.rows.iter().enumerate() {
            self.row(&mut s, row, TOP + ROW * i as u32, &clients);
        }
        legend(&mut s, ly);
        let _ = writeln!(s, "</svg>");
        s
    }

    fn row(&self, s: &mut String, row: &PageRow, y: u32, clients: &BTreeSet<Pfn>) {
        let side = match row.side {
            Side::Client => "client",
            Side::Server => "server",
        };
        let vis = if row.visible { "visible" } else { "hidden" };
        let pfn = row
            .pfn
            .map_or("no frame".to_string(), |p| format!("PFN {:#x}", p.0));
        let what = match (row.side, row.pfn) {
            (Side::Server, Some(p)) if clients.contains(&p) => " · client's page",
            (Side::Server, Some(_)) => " · substitute",
            _ => "",
        };
        let _ = writeln!(s, r#"<text x="10" y="{}">{side} {}</text>"#, y + 12, row.va);
        let _ = writeln!(
            s,
            r##"<text x="10" y="{}" font-size="11" fill="#333">{pfn} · {vis}{what}</text>"##,
            y + 26
        );
        let opacity = if row.visible { "1" } else { "0.35" };
        let _ = writeln!(s, r#"<g opacity="{opacity}">"#);
        for sp in &row.spans {
            let _ = writeln!(
                s,
                r#"<rect x="{}" y="{y}" width="{}" height="20" fill="{}"><title>{:#x}+{:#x}: {}</title></rect>"#,
                X0 + sp.start as u32 / 8,
                (sp.len as u32).div_ceil(8).max(1),
                sp.source.svg_fill(),
                sp.start,
                sp.len,
                xml_escape(sp.source.describe())
            );
        }
        let _ = writeln!(s, "</g>");
        if let Some((a, l)) = row.request {
            outline(
                s,
                X0 + a as u32 / 8,
                y - 1,
                (l as u32).div_ceil(8).max(1),
                22,
            );
        }
        for (a, l) in &row.read {
            underline(
                s,
                X0 + *a as u32 / 8,
                y + 23,
                (*l as u32).div_ceil(8).max(1),
            );
        }
        if what == " · substitute" {
            badge(s, X0 + W + 10, y + 2);
        }
    }
}

fn outline(s: &mut String, x: u32, y: u32, w: u32, h: u32) {
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="none" stroke="#000000" stroke-width="1.5"/>"##
    );
}

fn underline(s: &mut String, x: u32, y: u32, w: u32) {
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{y}" width="{w}" height="3" fill="#000000"/>"##
    );
}

fn badge(s: &mut String, x: u32, y: u32) {
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{y}" width="34" height="16" rx="3" fill="#fff3cd" stroke="#8a6d3b"/><text x="{}" y="{}" font-size="11" fill="#5c4300">SUB</text>"##,
        x + 6,
        y + 12
    );
}

/// Every source's colour, then every mark, each with a sample.
fn legend(s: &mut String, ly: u32) {
    for (i, src) in Source::ALL.iter().enumerate() {
        let x = 10 + 290 * (i as u32 % 3);
        let y = ly + 26 * (i as u32 / 3) + 12;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{}" width="14" height="14" fill="{}"/><text x="{}" y="{y}">{}</text>"#,
            y - 11,
            src.svg_fill(),
            x + 20,
            xml_escape(src.describe())
        );
    }
    let top = ly + 26 * Source::ALL.len().div_ceil(3) as u32 + 14;
    for (i, mark) in MARKS.iter().enumerate() {
        let y = top + 22 * i as u32;
        let x = 10;
        match i {
            0 => outline(s, x, y - 12, 34, 16),
            1 => underline(s, x, y - 2, 34),
            2 => {
                let _ = writeln!(
                    s,
                    r#"<rect x="{x}" y="{}" width="34" height="14" fill="{}" opacity="0.35"/>"#,
                    y - 11,
                    Source::ClientInRange.svg_fill()
                );
            }
            3 => badge(s, x, y - 12),
            _ => {
                let _ = writeln!(s, r#"<text x="{x}" y="{y}" font-size="11">PFN</text>"#);
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{y}">{}</text>"#,
            x + 46,
            xml_escape(mark)
        );
    }
}
