//! The copy paths translate pages in batches and copy runs of consecutive frames at once
//! (src/vm.rs, `Pages`, `FrameRun`). That must not change behaviour: one access over many
//! pages must leave exactly the state the same access split into one call per page chunk
//! leaves — the same bytes and labels in every page, the same fault, the same access log
//! (step numbers aside: each call is a step), the same events and counters.
//!
//! Negative control: a "reference" that skips one chunk is told apart by the comparison.

use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::fault::Result;
use mdlsim::log::Access;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, priority};
use mdlsim::space::{Pid, Protection, SpaceId};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Machine};

const PAGES: u64 = 48;

struct World {
    m: Machine,
    app: Pid,
    base: Va,
    sys: Va,
}

/// A process with 48 pages: most committed and touched (frames in order and, after a
/// free and re-touch, out of order), some committed untouched (demand-zero), a read-only
/// stretch, a reserved-only hole (faults); and a kernel mapping of part of it through an
/// MDL locked for `IoReadAccess` (a kernel write through it records an event).
fn world() -> World {
    let mut m = Machine::new(Config::default().shadow(true)).expect("machine");
    let app = m.create_process("app").expect("process");
    let base = m
        .virtual_alloc(
            app,
            None,
            PAGES * PAGE_SIZE,
            MEM_RESERVE,
            Protection::ReadWrite,
        )
        .expect("reserve");
    let page = |i: u64| base.wrapping_add(i * PAGE_SIZE);
    m.virtual_alloc(
        app,
        Some(base),
        40 * PAGE_SIZE,
        MEM_COMMIT,
        Protection::ReadWrite,
    )
    .expect("commit");
    // Touch pages 0..30 in a scrambled order so frames are partly consecutive.
    for i in (0..30u64).map(|i| (i * 7) % 30) {
        let v: Vec<u8> = (0..PAGE_SIZE).map(|b| (b as u8) ^ (i as u8)).collect();
        m.user_write(app, page(i), &v).expect("touch");
    }
    for i in 10..30u64 {
        m.user_write(app, page(i), &[i as u8; 100]).expect("touch");
    }
    m.virtual_protect(app, page(20), 4 * PAGE_SIZE, Protection::ReadOnly)
        .expect("protect");
    m.switch_to(Some(app)).expect("switch");
    let mdl = m
        .io_allocate_mdl(page(2), (6 * PAGE_SIZE) as u32, false, false, None)
        .expect("mdl")
        .expect("non-null");
    m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess)
        .expect("lock");
    let sys = m
        .mm_map_locked_pages_specify_cache(
            mdl,
            AccessMode::KernelMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL,
        )
        .expect("map")
        .expect("ptes");
    World { m, app, base, sys }
}

/// One page's bytes and labels (`None`: not accessible).
type PageView = (Option<Vec<u8>>, Option<Vec<mdlsim::shadow::LabelSpan>>);

/// Everything observable that the copy paths touch.
#[derive(Debug, PartialEq)]
struct Snapshot {
    pages: Vec<PageView>,
    counters: mdlsim::Counters,
    events: usize,
}

fn snapshot(w: &World) -> Snapshot {
    let s = SpaceId::Process(w.app);
    let pages = (0..PAGES)
        .map(|i| {
            let p = w.base.wrapping_add(i * PAGE_SIZE);
            (w.m.peek(s, p, PAGE_SIZE), w.m.labels(s, p, PAGE_SIZE))
        })
        .collect();
    Snapshot {
        pages,
        counters: w.m.counters(),
        events: w.m.events().len(),
    }
}

fn unstepped(log: Vec<Access>) -> Vec<Access> {
    log.into_iter().map(|a| Access { step: 0, ..a }).collect()
}

#[derive(Clone, Copy, Debug)]
enum Op {
    UserRead,
    UserWrite,
    KernelRead,
    KernelWrite,
    UserCopy(Va),
    KernelCopy(Va),
}

/// One call over the whole range.
fn whole(w: &mut World, op: Op, va: Va, len: u64) -> Result<Vec<u8>> {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    match op {
        Op::UserRead => w.m.user_read(w.app, va, len),
        Op::KernelRead => w.m.kernel_read(va, len),
        Op::UserWrite => w.m.user_write(w.app, va, &data).map(|_| Vec::new()),
        Op::KernelWrite => w.m.kernel_write(va, &data).map(|_| Vec::new()),
        Op::UserCopy(src) => w.m.user_copy(w.app, va, src, len).map(|_| Vec::new()),
        Op::KernelCopy(src) => w.m.kernel_copy(va, src, len).map(|_| Vec::new()),
    }
}

/// The same access as one call per chunk (a chunk stays inside one page of each side),
/// stopping at the first fault; `skip` leaves one chunk out (the negative control).
fn chunked(w: &mut World, op: Op, va: Va, len: u64, skip: Option<usize>) -> Result<Vec<u8>> {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    let mut done = 0u64;
    let mut k = 0usize;
    while done < len {
        let d = va.wrapping_add(done);
        let mut n = (len - done).min(PAGE_SIZE - d.byte_offset() as u64);
        if let Op::UserCopy(src) | Op::KernelCopy(src) = op {
            n = n.min(PAGE_SIZE - src.wrapping_add(done).byte_offset() as u64);
        }
        let chunk = &data[done as usize..(done + n) as usize];
        if skip != Some(k) {
            match op {
                Op::UserRead => out.extend(w.m.user_read(w.app, d, n)?),
                Op::KernelRead => out.extend(w.m.kernel_read(d, n)?),
                Op::UserWrite => w.m.user_write(w.app, d, chunk)?,
                Op::KernelWrite => w.m.kernel_write(d, chunk)?,
                Op::UserCopy(src) => w.m.user_copy(w.app, d, src.wrapping_add(done), n)?,
                Op::KernelCopy(src) => w.m.kernel_copy(d, src.wrapping_add(done), n)?,
            }
        }
        done += n;
        k += 1;
    }
    Ok(out)
}

type Outcome = (Result<Vec<u8>>, Vec<Access>, Snapshot);

fn run(w: &mut World, f: impl FnOnce(&mut World) -> Result<Vec<u8>>) -> Outcome {
    w.m.start_access_log().unwrap();
    let r = f(w);
    // After a bug check the log is read as a crash dump would (no call can stop it).
    let log = match w.m.crashed() {
        Some(_) => w.m.access_log().to_vec(),
        None => w.m.take_access_log().unwrap(),
    };
    let log = unstepped(log);
    (r, log, snapshot(w))
}

/// Deterministic operations over the world: offsets and lengths spanning page edges, the
/// demand-zero pages, the read-only stretch, the hole, the kernel mapping, overlapping
/// copies in both directions.
fn cases() -> Vec<(Op, u64, u64)> {
    let mut v = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for _ in 0..400 {
        let kind = next(6);
        let start = next(PAGES * PAGE_SIZE);
        let len = match next(4) {
            0 => next(64) + 1,
            1 => next(PAGE_SIZE) + 1,
            _ => next(12 * PAGE_SIZE) + 1,
        };
        let len = len.min(PAGES * PAGE_SIZE - start).max(1);
        let other = next(PAGES * PAGE_SIZE - len + 1);
        v.push((kind, start, len, other));
    }
    v.into_iter()
        .map(|(kind, start, len, other)| {
            let op = match kind {
                0 => Op::UserRead,
                1 => Op::UserWrite,
                2 => Op::KernelRead,
                3 => Op::KernelWrite,
                4 => Op::UserCopy(Va(other)),
                _ => Op::KernelCopy(Va(other)),
            };
            (op, start, len)
        })
        .collect()
}

fn rebase(op: Op, base: Va) -> Op {
    match op {
        Op::UserCopy(o) => Op::UserCopy(base.wrapping_add(o.0)),
        Op::KernelCopy(o) => Op::KernelCopy(base.wrapping_add(o.0)),
        o => o,
    }
}

#[test]
fn one_call_over_many_pages_equals_one_call_per_chunk() {
    let mut a = world();
    let mut b = world();
    let mut faults = 0;
    for (i, (op, start, len)) in cases().into_iter().enumerate() {
        let op = rebase(op, a.base);
        let va = a.base.wrapping_add(start);
        let ra = run(&mut a, |w| whole(w, op, va, len));
        let rb = run(&mut b, |w| chunked(w, op, va, len, None));
        faults += ra.0.is_err() as usize;
        assert_eq!(
            ra.0, rb.0,
            "case {i}: {op:?} at +{start:#x} len {len:#x}: result"
        );
        assert_eq!(
            ra.1, rb.1,
            "case {i}: {op:?} at +{start:#x} len {len:#x}: log"
        );
        assert_eq!(
            ra.2, rb.2,
            "case {i}: {op:?} at +{start:#x} len {len:#x}: state"
        );
    }
    assert!(faults > 20, "the cases reach the faulting pages ({faults})");
}

#[test]
fn kernel_access_through_a_read_probed_mapping_matches_chunked() {
    let mut a = world();
    let mut b = world();
    let before = a.m.events().len();
    for (op, off, len) in [
        (Op::KernelWrite, 100, 5 * PAGE_SIZE),
        (Op::KernelRead, 0, 6 * PAGE_SIZE),
        (Op::KernelCopy(Va(0)), 3 * PAGE_SIZE + 7, 2 * PAGE_SIZE + 9),
        (Op::KernelWrite, 5 * PAGE_SIZE, 2 * PAGE_SIZE), // runs off the mapping: bug check
    ] {
        let op = rebase(op, a.sys);
        let va = a.sys.wrapping_add(off);
        let ra = run(&mut a, |w| whole(w, op, va, len));
        let rb = run(&mut b, |w| chunked(w, op, va, len, None));
        assert_eq!(ra.0, rb.0, "{op:?}");
        assert_eq!(ra.1, rb.1, "{op:?}");
        assert_eq!(ra.2, rb.2, "{op:?}");
    }
    assert!(
        a.m.events().len() > before,
        "writes through the mapping were noted"
    );
}

#[test]
fn negative_control_a_skipped_chunk_is_caught() {
    let mut a = world();
    let mut b = world();
    let (op, va, len) = (Op::UserWrite, a.base.wrapping_add(0x800), 3 * PAGE_SIZE);
    let ra = run(&mut a, |w| whole(w, op, va, len));
    let rb = run(&mut b, |w| chunked(w, op, va, len, Some(1)));
    assert!(ra.1 != rb.1 && ra.2 != rb.2);
}
