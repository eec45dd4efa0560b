//! Times the fuzz targets without a fuzzer: every file of each target's committed corpus
//! (`fuzz/corpus/<target>/`), then random inputs, through the same library functions the
//! libFuzzer targets call. Prints executions per second and the slowest inputs, so a
//! slow path can be found (and profiled: `valgrind --tool=callgrind` on this example).
//!
//! ```sh
//! cargo run --release --example fuzz_speed                 # every target
//! cargo run --release --example fuzz_speed -- splice 2000  # one target, 2,000 random inputs
//! cargo run --release --example fuzz_speed -- irp 0 DIR     # one target, the corpus in DIR
//! ```
//!
//! Uninstrumented: libFuzzer's coverage instrumentation costs about 2× on top.

use mdlsim::fuzzing::TARGETS;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus(target: &str, dir: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let dir = dir.map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target)
    });
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| {
                    let data = std::fs::read(e.path()).ok()?;
                    Some((e.file_name().to_string_lossy().into_owned(), data))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// xorshift64*: deterministic random inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() as usize) % (max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = args.first().cloned();
    let random: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    for (name, run) in TARGETS {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        // Warm-up: per-process templates are built once, as in a fuzzing process.
        let files = corpus(name, args.get(2).map(String::as_str));
        for (_, data) in &files {
            let _ = run(data);
        }
        let mut times: Vec<(Duration, String)> = Vec::new();
        let t0 = Instant::now();
        for (file, data) in &files {
            let t = Instant::now();
            let r = run(data);
            times.push((t.elapsed(), file.clone()));
            if let Err(f) = r {
                println!("{name}/{file}: FAILED\n{f}");
            }
        }
        let corpus_time = t0.elapsed();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let t1 = Instant::now();
        let mut slow: Vec<(Duration, usize)> = Vec::new();
        for i in 0..random {
            let data = rng.bytes(512);
            let t = Instant::now();
            let r = run(&data);
            slow.push((t.elapsed(), i));
            if let Err(f) = r {
                println!("{name}/random#{i} {data:?}: FAILED\n{f}");
            }
        }
        let random_time = t1.elapsed();
        let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        println!(
            "{name}: corpus {} files in {:.3} s ({:.0}/s); {random} random inputs in {:.3} s ({:.0}/s)",
            files.len(),
            corpus_time.as_secs_f64(),
            rate(files.len(), corpus_time),
            random_time.as_secs_f64(),
            rate(random, random_time),
        );
        times.sort();
        for (d, f) in times.iter().rev().take(3) {
            println!("  slowest corpus file {f}: {:.2} ms", d.as_secs_f64() * 1e3);
        }
        slow.sort();
        for (d, i) in slow.iter().rev().take(3) {
            println!(
                "  slowest random input #{i}: {:.2} ms",
                d.as_secs_f64() * 1e3
            );
        }
    }
}
