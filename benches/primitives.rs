//! Per-page cost of the MDL primitives, beside a raw 4 KiB memcpy in the same group.

use criterion::{BenchmarkId, Criterion, Throughput};
use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, MdlId, priority};
use mdlsim::space::{Pid, Protection};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Machine};
use std::hint::black_box;

const PAGES: u64 = 64;

struct Setup {
    m: Machine,
    app: Pid,
    buf: Va,
    mdl: MdlId,
}

fn setup(shadow: bool) -> Setup {
    let mut m = Machine::new(Config::default().shadow(shadow)).expect("machine");
    let app = m.create_process("app").expect("process");
    let len = PAGES * PAGE_SIZE;
    let buf = m
        .virtual_alloc(
            app,
            None,
            len,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )
        .expect("alloc");
    m.user_write(app, buf, &vec![0x5Au8; len as usize])
        .expect("touch");
    m.switch_to(Some(app)).expect("switch");
    let mdl = m
        .io_allocate_mdl(buf, len as u32, false, false, None)
        .expect("alloc mdl")
        .expect("non-null");
    Setup { m, app, buf, mdl }
}

pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives_per_page");
    g.throughput(Throughput::Bytes(PAGE_SIZE * PAGES));
    let mut s = setup(false);

    g.bench_function(BenchmarkId::new("probe_lock+unlock", PAGES), |b| {
        b.iter(|| {
            s.m.mm_probe_and_lock_pages(s.mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)
                .expect("lock");
            s.m.mm_unlock_pages(s.mdl).expect("unlock");
        })
    });

    g.bench_function(BenchmarkId::new("lock+map+unmap+unlock", PAGES), |b| {
        b.iter(|| {
            s.m.mm_probe_and_lock_pages(s.mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)
                .expect("lock");
            let va =
                s.m.mm_map_locked_pages_specify_cache(
                    s.mdl,
                    AccessMode::KernelMode,
                    CacheType::Cached,
                    None,
                    false,
                    priority::NORMAL,
                )
                .expect("map")
                .expect("ptes");
            s.m.mm_unmap_locked_pages(va, s.mdl).expect("unmap");
            s.m.mm_unlock_pages(s.mdl).expect("unlock");
        })
    });

    s.m.mm_probe_and_lock_pages(s.mdl, AccessMode::UserMode, LockOperation::IoWriteAccess)
        .expect("lock");
    g.bench_function(BenchmarkId::new("kernel_map+unmap", PAGES), |b| {
        b.iter(|| {
            let va =
                s.m.mm_map_locked_pages_specify_cache(
                    s.mdl,
                    AccessMode::KernelMode,
                    CacheType::Cached,
                    None,
                    false,
                    priority::NORMAL,
                )
                .expect("map")
                .expect("ptes");
            s.m.mm_unmap_locked_pages(va, s.mdl).expect("unmap");
        })
    });

    let server = s.m.create_process("server").expect("server");
    g.bench_function(BenchmarkId::new("user_map+unmap", PAGES), |b| {
        s.m.attach(server).expect("attach");
        b.iter(|| {
            let va =
                s.m.mm_map_locked_pages_specify_cache(
                    s.mdl,
                    AccessMode::UserMode,
                    CacheType::Cached,
                    None,
                    false,
                    priority::NORMAL,
                )
                .expect("map")
                .expect("user map");
            s.m.mm_unmap_locked_pages(va, s.mdl).expect("unmap");
        });
        s.m.detach().expect("detach");
    });

    let partial =
        s.m.io_allocate_mdl(s.buf, (PAGES * PAGE_SIZE) as u32, false, false, None)
            .expect("alloc")
            .expect("non-null");
    g.bench_function(BenchmarkId::new("io_build_partial_mdl", PAGES), |b| {
        b.iter(|| {
            s.m.io_build_partial_mdl(s.mdl, partial, s.buf, (PAGES * PAGE_SIZE) as u32)
                .expect("partial");
        })
    });

    let src = vec![0xA5u8; (PAGE_SIZE * PAGES) as usize];
    let mut dst = vec![0u8; (PAGE_SIZE * PAGES) as usize];
    g.bench_function(BenchmarkId::new("memcpy_4KiB_pages", PAGES), |b| {
        b.iter(|| {
            for (d, s) in dst
                .chunks_exact_mut(PAGE_SIZE as usize)
                .zip(src.chunks_exact(PAGE_SIZE as usize))
            {
                d.copy_from_slice(black_box(s));
            }
            black_box(&dst);
        })
    });
    let _ = s.app;
    g.finish();
}
