//! The pictures: the page map (`replay --svg`) shows each page's PFN, marks substitutes
//! and explains every mark in its legend; the performance plot has a title, axis units,
//! says what was timed and where. Both are rendered to PNG (in `target/pictures/`, to
//! look at) when `rsvg-convert` is installed (.ci/run installs it where it can).

use mdlsim::pagemap::{MARKS, PageMap, Source};
use mdlsim::replay::{Run, replay};
use mdlsim_cli::bench_report::{Estimate, svg};
use std::path::{Path, PathBuf};

fn page_map(scenario: &str) -> PageMap {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/scenarios")
        .join(scenario);
    let r = replay(&path).unwrap();
    match r.run {
        Run::Case(run) => run.page_map.expect("a case has a page map"),
        Run::Ops(_) => panic!("{scenario} is an ops scenario"),
    }
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let d = target.join("pictures");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Renders `svg` to `target/pictures/NAME.png` with rsvg-convert, if installed, and
/// checks the PNG: its signature and the SVG's width and height.
fn render(name: &str, svg: &str) {
    let dir = out_dir();
    let (s, p) = (
        dir.join(format!("{name}.svg")),
        dir.join(format!("{name}.png")),
    );
    std::fs::write(&s, svg).unwrap();
    let Ok(out) = std::process::Command::new("rsvg-convert")
        .arg(&s)
        .arg("-o")
        .arg(&p)
        .output()
    else {
        eprintln!("rsvg-convert not installed: {} not rendered", s.display());
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&p).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let dim = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    let attr = |a: &str| -> u32 {
        let v = svg.split(&format!(" {a}=\"")).nth(1).unwrap();
        v.split('"').next().unwrap().parse::<f64>().unwrap() as u32
    };
    assert_eq!((dim(16), dim(20)), (attr("width"), attr("height")));
    eprintln!("rendered {}", p.display());
}

#[test]
fn page_map_shows_pfns_and_marks_substitutes() {
    // HeadTailSplice at offset 0x200: the head and tail pages are substitutes.
    let pm = page_map("seed000-headtail-read.json");
    let svg = pm.render_svg("headtail");
    let rows = pm.rows.len();
    assert_eq!(svg.matches("PFN 0x").count(), rows, "one PFN per row");
    let subs = pm.rows.iter().filter(|r| pm.is_substitute(r)).count();
    assert_eq!(subs, 2);
    assert_eq!(svg.matches("· substitute<").count(), 2);
    assert_eq!(
        svg.matches(">SUB<").count(),
        subs + 1,
        "a badge per substitute + legend"
    );
    assert_eq!(svg.matches("· client's page<").count(), 2);
    render("pagemap-headtail-read", &svg);

    // Negative control: DirectMap maps the client's own pages, no substitute.
    let pm = page_map("seed000-directmap-read.json");
    assert!(pm.rows.iter().all(|r| !pm.is_substitute(r)));
    let svg = pm.render_svg("directmap");
    assert_eq!(svg.matches(">SUB<").count(), 1, "the legend's only");
    render("pagemap-directmap-read", &svg);
}

#[test]
fn page_map_legend_explains_every_colour_and_mark() {
    let svg = page_map("seed000-unzeroed-substitute.json").render_svg("unzeroed");
    for src in Source::ALL {
        assert!(svg.contains(&format!(">{}<", src.describe())), "{src:?}");
    }
    for mark in MARKS {
        let escaped = mark.replace('\'', "&apos;");
        assert!(svg.contains(&escaped), "{mark}");
    }
    for word in ["outline", "underline", "faded", "SUB", "PFN"] {
        assert!(MARKS.iter().any(|m| m.starts_with(word)), "{word}");
    }
    render("pagemap-unzeroed-substitute", &svg);
}

#[test]
fn performance_plot_has_a_title_units_and_what_was_timed() {
    let mut est = Vec::new();
    for (i, size) in [512u64, 4 << 10, 64 << 10, 1 << 20, 16 << 20]
        .into_iter()
        .enumerate()
    {
        for d in ["read", "write"] {
            let g = format!("strategies_{d}_{size}");
            for (k, name) in [
                "BounceCopy",
                "HeadTailSplice",
                "PartialMdlSplit",
                "MySplice",
            ]
            .into_iter()
            .enumerate()
            {
                let ns = 3e3 * 8f64.powi(i as i32) / (1.0 + (k.min(1)) as f64);
                est.push(Estimate {
                    group: g.clone(),
                    id: format!("{name}/aligned_shadow_off"),
                    median_ns: ns,
                    bytes: Some(size),
                    elements: None,
                });
            }
            est.push(Estimate {
                group: g,
                id: "memcpy".into(),
                median_ns: size as f64 / 20.0,
                bytes: Some(size),
                elements: None,
            });
        }
    }
    let s = svg(&est, &["BounceCopy".into(), "HeadTailSplice".into()]);
    assert!(s.contains("Time per request against its size"));
    assert!(s.contains("timed on this host") && s.contains("not a real kernel"));
    assert!(s.contains("request size (bytes, log scale)"));
    assert!(s.contains("(ns to s, log scale)"));
    for name in [
        "BounceCopy",
        "HeadTailSplice",
        "PartialMdlSplit",
        "MySplice",
        "memcpy",
    ] {
        assert!(s.contains(&format!(">{name}")), "{name} in the legend");
    }
    render("performance", &s);
}
