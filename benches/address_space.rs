//! Reading and writing by virtual address through the model, beside vm-memory's
//! `GuestMemoryMmap` `read_slice`/`write_slice` of the same bytes.

use criterion::{BenchmarkId, Criterion, Throughput};
use mdlsim::space::Protection;
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Machine};
use std::hint::black_box;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const SIZES: [u64; 3] = [4 << 10, 64 << 10, 1 << 20];

pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("address_space");
    for shadow in [false, true] {
        let mut m = Machine::new(Config::default().shadow(shadow)).expect("machine");
        let app = m.create_process("app").expect("process");
        let buf = m
            .virtual_alloc(
                app,
                None,
                1 << 20,
                MEM_COMMIT | MEM_RESERVE,
                Protection::ReadWrite,
            )
            .expect("alloc");
        m.user_write(app, buf, &vec![1u8; 1 << 20]).expect("touch");
        for size in SIZES {
            g.throughput(Throughput::Bytes(size));
            let data = vec![0x77u8; size as usize];
            let mut out = vec![0u8; size as usize];
            let tag = if shadow { "shadow_on" } else { "shadow_off" };
            g.bench_function(BenchmarkId::new(format!("mdlsim_write_{tag}"), size), |b| {
                b.iter(|| m.user_write(app, buf, black_box(&data)).expect("write"))
            });
            g.bench_function(BenchmarkId::new(format!("mdlsim_read_{tag}"), size), |b| {
                b.iter(|| {
                    m.user_read_into(app, buf, black_box(&mut out))
                        .expect("read")
                })
            });
        }
    }
    let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).expect("mmap");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size));
        let data = vec![0x77u8; size as usize];
        let mut out = vec![0u8; size as usize];
        g.bench_function(BenchmarkId::new("vm_memory_write_slice", size), |b| {
            b.iter(|| {
                gm.write_slice(black_box(&data), GuestAddress(0))
                    .expect("write")
            })
        });
        g.bench_function(BenchmarkId::new("vm_memory_read_slice", size), |b| {
            b.iter(|| {
                gm.read_slice(black_box(&mut out), GuestAddress(0))
                    .expect("read")
            })
        });
    }
    g.finish();
}
