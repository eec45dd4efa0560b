//! The `splice` target: one verify case through the splice strategies.

use super::Failure;
use crate::addr::{MDL_HEADER_SIZE, PAGE_SIZE, PFN_NUMBER_SIZE};
use crate::machine::{Kernel, Machine};
use crate::strategy::RetireReason;
use crate::strategy::{
    Completion, Direction, Exposure, HeadTailSplice, Io, PartialMdlSplit, ProxyStrategy,
    ServerReply,
};
use crate::verify::{Case, InjectedFault, ServerBehaviour};
use arbitrary::{Arbitrary, Unstructured};

/// The largest page span an MDL can describe on Server 2003 (NT 5.2), the Windows this
/// target's machine is configured as: `MmSizeOfMdl` must fit the 16-bit `MDL.Size`
/// ([semantics §1.3]), so `48 + 8 × span ≤ 0xFFFF`: 8,185 pages. (Windows 7 and later
/// describe up to 4 GiB − PAGE_SIZE, a boundary no fuzz loop can afford to build; the
/// verify harness refuses such cases as a host limit.)
///
/// [semantics §1.3]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s1.3
pub const MAX_MDL_SPAN: u32 = ((0xFFFF - MDL_HEADER_SIZE) / PFN_NUMBER_SIZE) as u32;

/// The buffer's length: a byte count, a page span, or a span at the MDL size limit.
///
/// Decoded from a kind byte and the variant's fields (little-endian): kind
/// [`AT_LIMIT_KIND`] (one value in 256, not one libFuzzer favours) is
/// [`Length::AtLimit`], the other even kinds [`Length::Bytes`], the other odd ones
/// [`Length::Pages`]. A case at the limit moves a 32 MiB buffer through shadow memory
/// (tens of milliseconds, hundreds of small cases), so it is the rare kind, and the
/// fuzzer does not keep such cases in its corpus ([`splice_keeps`]): the executions per
/// second are those of the small cases, and about one execution in 2,000 is a case at
/// the limit. Uniform spans up to the limit would make nearly every execution a 32 MiB
/// buffer; the code paths between 64 pages and the limit are the same as below 64.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Length {
    /// Exactly this many bytes (0..=65,535: up to 17 pages).
    Bytes(u16),
    /// The buffer spans `pages % 64` pages (0..=63) and stops `short % PAGE_SIZE` bytes
    /// before the end of the last one.
    Pages {
        /// Page span (modulo [`MAX_PAGES_SPAN`] + 1).
        pages: u8,
        /// Bytes short of the last page's end.
        short: u16,
    },
    /// The buffer spans `MAX_MDL_SPAN + 1 - below % 8` pages: the last few spans an MDL
    /// can describe, and one past the limit (which `IoAllocateMdl` refuses).
    AtLimit {
        /// Pages below one-past-the-limit (modulo 8).
        below: u8,
        /// Bytes short of the last page's end.
        short: u16,
    },
}

/// The largest span of [`Length::Pages`]: 63 pages (256 KiB). Spans from 64 pages to the
/// MDL size limit run the same code as those below (the fixed-size MDL block ends at 23
/// pages) and cost in proportion to their pages: with spans up to 255, page spans took
/// three quarters of the target's time.
pub const MAX_PAGES_SPAN: u32 = 63;

/// The kind byte of [`Length::AtLimit`].
pub const AT_LIMIT_KIND: u8 = 0xA5;

impl<'a> Arbitrary<'a> for Length {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind = u8::arbitrary(u)?;
        Ok(if kind == AT_LIMIT_KIND {
            Length::AtLimit {
                below: u.arbitrary()?,
                short: u.arbitrary()?,
            }
        } else if kind % 2 == 0 {
            Length::Bytes(u.arbitrary()?)
        } else {
            Length::Pages {
                pages: u.arbitrary()?,
                short: u.arbitrary()?,
            }
        })
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(4))
    }
}

impl Length {
    /// The bytes that decode to it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4);
        match *self {
            Length::Bytes(n) => {
                out.push(0);
                out.extend(n.to_le_bytes());
            }
            Length::Pages { pages, short } => {
                out.push(1);
                out.push(pages);
                out.extend(short.to_le_bytes());
            }
            Length::AtLimit { below, short } => {
                out.push(AT_LIMIT_KIND);
                out.push(below);
                out.extend(short.to_le_bytes());
            }
        }
        out
    }
}

/// The `splice` target's input: one verify case and the strategies to run it through.
/// The one-byte choices come first, so that even the short inputs libFuzzer starts with
/// vary them (`arbitrary` fills what is missing with zeroes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Arbitrary)]
pub struct SpliceInput {
    /// READ (`true`) or WRITE.
    pub read: bool,
    /// Server behaviour (index into the four, modulo 4).
    pub server: u8,
    /// Injected fault (index into [`InjectedFault::ALL`], modulo its length).
    pub fault: u8,
    /// Which strategy: `HeadTailSplice`, `PartialMdlSplit`, both (modulo 3).
    pub strategy: u8,
    /// Data-pattern seed.
    pub seed: u8,
    /// `BYTE_OFFSET` of the buffer (taken modulo `PAGE_SIZE`).
    pub offset: u16,
    /// Its length.
    pub length: Length,
}

/// The splice strategies the `splice` target drives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpliceStrategy {
    /// [`HeadTailSplice`].
    HeadTail,
    /// [`PartialMdlSplit`].
    PartialMdl,
    /// Both, one after the other, on the same case.
    Both,
}

impl SpliceStrategy {
    /// The strategy byte's meaning.
    pub fn of(b: u8) -> SpliceStrategy {
        match b % 3 {
            0 => SpliceStrategy::HeadTail,
            1 => SpliceStrategy::PartialMdl,
            _ => SpliceStrategy::Both,
        }
    }

    /// The byte that selects it.
    pub fn byte(self) -> u8 {
        self as u8
    }
}

const SERVERS: [ServerBehaviour; 8] = ServerBehaviour::ALL;

impl SpliceInput {
    /// The bytes that decode to it (what a corpus file holds).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![
            u8::from(self.read),
            self.server,
            self.fault,
            self.strategy,
            self.seed,
        ];
        out.extend(self.offset.to_le_bytes());
        out.extend(self.length.to_bytes());
        out
    }

    /// The verify case it describes: offset in `[0, PAGE_SIZE)`, span at most one page past
    /// [`MAX_MDL_SPAN`] (the request is then refused by `IoAllocateMdl`). A span shorter
    /// than the offset plus the short tail gives length 0.
    pub fn case(&self) -> Case {
        let offset = (self.offset as u64 % PAGE_SIZE) as u32;
        let span_len = |pages: u64, short: u16| {
            let short = short as u64 % PAGE_SIZE;
            (pages * PAGE_SIZE).saturating_sub(offset as u64 + short)
        };
        let length = match self.length {
            Length::Bytes(n) => n as u64,
            Length::Pages { pages, short } => {
                span_len(pages as u64 % (MAX_PAGES_SPAN as u64 + 1), short)
            }
            Length::AtLimit { below, short } => {
                span_len(MAX_MDL_SPAN as u64 + 1 - (below as u64 % 8), short)
            }
        } as u32;
        Case {
            offset,
            length,
            direction: if self.read {
                Direction::Read
            } else {
                Direction::Write
            },
            server: SERVERS[self.server as usize % SERVERS.len()],
            fault: InjectedFault::ALL[self.fault as usize % InjectedFault::ALL.len()],
            seed: self.seed,
        }
    }
}

/// Wraps a strategy and audits the machine around each of its calls.
#[derive(Clone)]
struct Audited<S> {
    inner: S,
    problems: Vec<String>,
}

impl<S> Audited<S> {
    fn audit(&mut self, m: &Machine, when: &str) {
        if m.crashed().is_some() {
            return;
        }
        for v in m.audit() {
            self.problems.push(format!("audit {when}: {v}"));
        }
    }
}

impl<S: ProxyStrategy> ProxyStrategy for Audited<S> {
    fn name(&self) -> String {
        self.inner.name()
    }
    // The wrapper is the harness, not driver code: it audits the machine around the
    // strategy's calls, which see only the kernel.
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> crate::fault::Result<Exposure> {
        self.audit(k.system(), "before expose");
        let r = self.inner.expose(k, io);
        self.audit(k.system(), "after expose");
        r
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> crate::fault::Result<Completion> {
        self.audit(k.system(), "before retire");
        let r = self.inner.retire(k, io, reply, why);
        self.audit(k.system(), "after retire");
        r
    }
}

pub(super) fn splice_one<S: ProxyStrategy + Clone + Send + 'static>(
    strategy: S,
    case: &Case,
    problems: &mut Vec<String>,
) {
    let name = strategy.name();
    let mut s = Audited {
        inner: strategy,
        problems: Vec::new(),
    };
    // Without the step trace (a human's account of the case, not checked): the same
    // run, oracle and findings as `run_case`; a failure prints the case as JSON, which
    // replays with its trace.
    let config = crate::Config::default().windows(crate::windows::WindowsVersion::Server2003);
    let run = crate::verify::case::run_case_quiet(&mut s, case, &config);
    problems.extend(s.problems.into_iter().map(|p| format!("{name}: {p}")));
    for f in run.findings {
        problems.push(format!("{name}: {f}"));
    }
}

/// Runs one decoded [`SpliceInput`].
///
/// # Errors
/// A [`Failure`] naming every finding the oracle made (the strategies are correct, so
/// any is a bug in them or in the model) and every `audit()` violation before and after
/// `expose` and `retire` (the oracle audits again after both processes exit).
pub fn splice_input(input: &SpliceInput) -> Result<(), Failure> {
    let case = input.case();
    let mut problems = Vec::new();
    let which = SpliceStrategy::of(input.strategy);
    if matches!(which, SpliceStrategy::HeadTail | SpliceStrategy::Both) {
        splice_one(HeadTailSplice::default(), &case, &mut problems);
    }
    if matches!(which, SpliceStrategy::PartialMdl | SpliceStrategy::Both) {
        splice_one(PartialMdlSplit::default(), &case, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            target: "splice",
            input: format!("{input:?} = {}", case.to_json()),
            problems,
        })
    }
}

/// Whether libFuzzer may keep `data` in its corpus: every input but one at the MDL size
/// limit ([`Length::AtLimit`]). A case at the limit is checked in full like any other
/// when the fuzzer reaches it (a failure is a crash), but it costs a thousand small
/// cases, and a corpus that holds such cases spends most of its time mutating them: the
/// spans at the limit are reached by mutating a small case's length kind, and the rest
/// of the case (direction, server, fault, strategy, offset) by the corpus of small
/// cases, which explores the same code.
pub fn splice_keeps(data: &[u8]) -> bool {
    let mut u = Unstructured::new(data);
    !matches!(
        SpliceInput::arbitrary(&mut u),
        Ok(SpliceInput {
            length: Length::AtLimit { .. },
            ..
        })
    )
}

/// The `splice` target: decodes a [`SpliceInput`] from `data` and runs it.
///
/// # Errors
/// As [`splice_input`].
pub fn splice(data: &[u8]) -> Result<(), Failure> {
    let mut u = Unstructured::new(data);
    let Ok(input) = SpliceInput::arbitrary(&mut u) else {
        return Ok(());
    };
    splice_input(&input)
}
