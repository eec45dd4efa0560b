//! Helpers shared by the command's tests: running the `mdlsim` binary from the workspace
//! root, reading its output, and the checks several files make. Each file uses a subset,
//! hence the `dead_code` allowance.
#![allow(dead_code)]

use mdlsim::Kernel;
use mdlsim::strategy::{
    Completion, Exposure, HeadTailSplice, Io, ProxyStrategy, RetireReason, ServerReply,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root, where the shipped scenarios, the docs and the README are (this
/// package is `cli/`).
pub fn root() -> &'static Path {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    cli.parent().unwrap_or(cli)
}

/// A file of the workspace, by its path from the root.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

pub fn mdlsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdlsim"))
        .args(args)
        .env_remove("MDLSIM_CASES")
        .env_remove("MDLSIM_SEED")
        .current_dir(root())
        .output()
        .expect("the mdlsim binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mdlsim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A bad-input failure: status 2, one line on stderr naming `what`, no panic.
pub fn assert_bad_input(o: &Output, what: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in what {
        assert!(err.contains(w), "`{w}` missing from: {err}");
    }
}

pub fn scenario_files() -> Vec<PathBuf> {
    let dir = root().join("examples/scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

/// Well-formed XML: every event parses and every element opened is closed.
pub fn assert_well_formed(svg: &str) -> usize {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut r = Reader::from_str(svg);
    let (mut depth, mut elements, mut root) = (0i64, 0usize, 0usize);
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                if depth == 0 {
                    root += 1;
                    assert_eq!(e.name().as_ref(), b"svg");
                }
                depth += 1;
                elements += 1;
            }
            Event::End(_) => depth -= 1,
            Event::Empty(_) => elements += 1,
            Event::Eof => break,
            _ => {}
        }
        assert!(depth >= 0);
    }
    assert_eq!((depth, root), (0, 1));
    elements
}

/// A program's strategy: the head/tail splice under another name (what a user's crate
/// registers with its own `Cli`).
#[derive(Clone, Default)]
pub struct MySplice(pub HeadTailSplice);

impl ProxyStrategy for MySplice {
    fn name(&self) -> String {
        "MySplice".into()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> mdlsim::Result<Exposure> {
        self.0.expose(k, io)
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> mdlsim::Result<Completion> {
        self.0.retire(k, io, reply, why)
    }
}
