//! A program's own strategy in the benchmarks and the performance report: its rows in the
//! built-ins' criterion groups (`mdlsim::bench::StrategyBench`), then `bench-report` of the
//! program's `Cli` with its line in the plot, its counts and its crossovers
//! (docs/guide/05-benchmarks.md).

mod common;

use common::MySplice;
use mdlsim::bench::StrategyBench;
use mdlsim::bench::criterion::Criterion;
use mdlsim_cli::Cli;
use std::path::Path;
use std::time::Duration;

fn report(cli: &Cli, dir: &Path, tag: &str) -> (String, String) {
    let (md, svg) = (
        dir.join(format!("{tag}.md")),
        dir.join(format!("{tag}.svg")),
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let criterion = dir.join("criterion");
    let args = [
        "mdlsim".as_ref(),
        "bench-report".as_ref(),
        "--criterion".as_ref(),
        criterion.as_os_str(),
        "--out".as_ref(),
        md.as_os_str(),
        "--svg".as_ref(),
        svg.as_os_str(),
    ];
    let code = cli.run(args, &mut out, &mut err);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    (
        std::fs::read_to_string(md).unwrap(),
        std::fs::read_to_string(svg).unwrap(),
    )
}

#[test]
fn your_strategy_is_benchmarked_reported_plotted_and_crossed_over() {
    let dir = std::env::temp_dir().join(format!("mdlsim-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bench = StrategyBench::new()
        .strategy(MySplice::default())
        .max_size(512)
        .quick(true);
    assert_eq!(
        bench.names(),
        [
            "BounceCopy",
            "HeadTailSplice",
            "PartialMdlSplit",
            "CopySmallMapLarge",
            "MySplice"
        ]
    );
    assert_eq!(
        bench.groups(),
        ["strategies_read_512B", "strategies_write_512B"]
    );
    let mut c = Criterion::default()
        .output_directory(&dir.join("criterion"))
        .without_plots()
        .nresamples(1000)
        .warm_up_time(Duration::from_millis(5));
    bench.run(&mut c);
    // Criterion's layout: group / function / parameter / new / estimates.json.
    for d in ["read", "write"] {
        for v in ["aligned_shadow_off", "unaligned_shadow_on"] {
            let p = dir.join(format!(
                "criterion/strategies_{d}_512B/MySplice/{v}/new/estimates.json"
            ));
            assert!(p.is_file(), "{}", p.display());
        }
    }

    let own = Cli::new().strategy(MySplice::default());
    let (md, svg) = report(&own, &dir, "own");
    assert!(
        md.contains("| MySplice/aligned_shadow_off |"),
        "medians row"
    );
    assert!(md.contains("| MySplice | READ | 512 B |"), "counts row");
    assert!(
        md.contains("| MySplice | BounceCopy | WRITE |"),
        "crossover row"
    );
    assert!(
        md.contains("| BounceCopy | MySplice | READ |"),
        "crossover row"
    );
    assert!(svg.contains("<title>MySplice</title>"), "plot line");

    // Negative control: the stock command has its medians and line (they are in the
    // estimates) but cannot count or cross over a strategy it does not have.
    let (md, svg) = report(&Cli::new(), &dir, "stock");
    assert!(md.contains("| MySplice/aligned_shadow_off |"));
    assert!(svg.contains("<title>MySplice</title>"));
    assert!(!md.contains("| MySplice | READ | 512 B |"));
    assert!(!md.contains("| MySplice | BounceCopy |"));
    std::fs::remove_dir_all(&dir).unwrap();
}
