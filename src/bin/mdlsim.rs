//! `mdlsim`: audit the built-in buffer strategies, replay scenario files with their page
//! maps, explain bug classes. The logic lives in `mdlsim::cli`; this file parses the
//! arguments, draws the progress bar and sets the exit status:
//! 0 all as expected, 1 a strategy or scenario did not behave as documented,
//! 2 bad input (a one-line message naming the file and position).

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use mdlsim::cli::{self, AuditOptions, CliError};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Prove Windows driver buffer algorithms safe against a model of the kernel's MDL machinery.
#[derive(Parser, Debug)]
#[command(name = "mdlsim", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify every built-in strategy in both directions; print the strategy x rule matrix.
    Audit {
        /// Cases per strategy and direction (default 2000, or MDLSIM_CASES).
        #[arg(long)]
        cases: Option<u32>,
        /// Seed of the case generator (default fixed, or MDLSIM_SEED).
        #[arg(long)]
        seed: Option<u64>,
        /// Only this strategy (as listed in the matrix).
        #[arg(long)]
        strategy: Option<String>,
        /// Print the result as JSON instead of the matrix.
        #[arg(long)]
        json: bool,
        /// Write each failing case as a replayable scenario file in this folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
    },
    /// Play a scenario file step by step, with its findings and page map.
    Replay {
        /// The scenario file (JSON, docs/scenarios.md).
        file: PathBuf,
        /// Also draw the page map as an SVG picture.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// What a bug class is, the real cases behind it, a scenario that shows it.
    Explain {
        /// The bug class (e.g. PartialPageExposure); `list` lists them.
        class: String,
    },
    /// Write docs/performance.md and its SVG plot from criterion's estimates
    /// (run `cargo bench` first) and the cost model.
    BenchReport {
        /// Where criterion left its estimates.
        #[arg(long, default_value = "target/criterion")]
        criterion: PathBuf,
        /// The Markdown page to (re)write below its "generated" marker.
        #[arg(long, default_value = "docs/performance.md")]
        out: PathBuf,
        /// The SVG plot the page embeds.
        #[arg(long, default_value = "docs/performance.svg")]
        svg: PathBuf,
    },
}

fn out(s: &str) {
    // A closed pipe (`mdlsim audit | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        Command::Audit {
            cases,
            seed,
            strategy,
            json,
            out: dir,
            jobs,
        } => {
            let opts = AuditOptions {
                cases,
                seed,
                strategy,
                out: dir,
                jobs,
            };
            let n = cli::select(opts.strategy.as_deref())?.len() as u64 * 2;
            let bar = if std::io::stderr().is_terminal() {
                let b = indicatif::ProgressBar::new(n);
                if let Ok(st) =
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {msg}")
                {
                    b.set_style(st);
                }
                Some(b)
            } else {
                None
            };
            let progress = |what: &str| {
                if let Some(b) = &bar {
                    b.set_message(what.to_string());
                    b.inc(1);
                }
            };
            let report = cli::audit(&opts, &progress)?;
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            if json {
                out(&(serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"));
            } else {
                out(&cli::render_matrix(&report));
            }
            Ok(if report.all_as_documented() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Replay { file, svg } => {
            let r = cli::replay(&file)?;
            out(&cli::render_replay(&r, std::io::stdout().is_terminal()));
            match (svg, &r.run) {
                (Some(path), cli::Run::Ops(_)) => out(&format!(
                    "no page map applies to an \"ops\" scenario: {} not written\n",
                    path.display()
                )),
                (Some(path), cli::Run::Case(run)) => {
                    let title = format!("mdlsim page map: {}", r.scenario.name);
                    let pic = run
                        .page_map
                        .as_ref()
                        .map(|pm| pm.render_svg(&title))
                        .unwrap_or_else(|| mdlsim::pagemap::PageMap::default().render_svg(&title));
                    std::fs::write(&path, pic).map_err(|e| {
                        CliError(format!("{}: cannot write the SVG: {e}", path.display()))
                    })?;
                    out(&format!("page map drawn in {}\n", path.display()));
                }
                (None, _) => {}
            }
            if let Some(why) = r.mismatch() {
                eprintln!("mdlsim: {}: not as expected: {why}", file.display());
            }
            Ok(if r.as_expected {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Explain { class } => {
            if class == "list" {
                for c in cli::explain_all_classes() {
                    out(&format!("{c}\n"));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let c = cli::parse_class(&class)?;
            out(&cli::explain(c)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchReport {
            criterion,
            out: md,
            svg,
        } => {
            if !criterion.is_dir() {
                return Err(CliError(format!(
                    "{}: no criterion estimates there (run `cargo bench` first)",
                    criterion.display()
                )));
            }
            mdlsim::bench_report::run(&criterion, &md, &svg)
                .map_err(|e| CliError(format!("{}: cannot write the report: {e}", md.display())))?;
            out(&format!("wrote {} and {}\n", md.display(), svg.display()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mdlsim: error: {e}");
            ExitCode::from(2)
        }
    }
}
