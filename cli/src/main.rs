//! `mdlsim`: audit the built-in buffer strategies, replay scenario files with their page
//! maps, explain bug classes. The logic lives in this package's library (`mdlsim_cli`)
//! and in `mdlsim` (the model, `verify`, scenario replay); this file parses the
//! arguments, draws the progress bar and sets the exit status:
//! 0 all as expected, 1 a strategy or scenario did not behave as documented,
//! 2 bad input or a usage error (one line on stderr: the file and position, the flag, or
//! the variable, and what was expected).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use clap::{CommandFactory, Parser, Subcommand};
use mdlsim::replay::{self, Run};
use mdlsim_cli::{self as cli, AuditOptions, CliError};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    #[command(after_help = AUDIT_AFTER_HELP)]
    Audit {
        /// Cases per strategy and direction: 1 to 1000000 (default 2000, or MDLSIM_CASES).
        #[arg(long, value_name = "N", value_parser = cli::parse_cases, allow_negative_numbers = true)]
        cases: Option<u32>,
        /// Seed of the case generator (default fixed, or MDLSIM_SEED).
        #[arg(long, value_name = "N", value_parser = cli::parse_seed, allow_negative_numbers = true)]
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
        /// Worker threads, at least 1 (default: one per core; more than there are
        /// strategy x direction runs is one per run).
        #[arg(long, value_name = "N", value_parser = cli::parse_jobs, allow_negative_numbers = true)]
        jobs: Option<usize>,
        /// Host memory each case's simulated machine may use: bytes or K/M/G (default 1G).
        #[arg(long, value_name = "BYTES", value_parser = cli::parse_memory_limit, allow_negative_numbers = true)]
        memory_limit: Option<u64>,
    },
    /// Play a scenario file step by step, with its findings and page map.
    Replay {
        /// The scenario file (JSON, docs/scenarios.md).
        file: PathBuf,
        /// Also draw the page map as an SVG picture.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Host memory the simulated machine may use: bytes or K/M/G (default 1G). Work
        /// past it is refused with an error naming the limit; the file cannot raise it.
        #[arg(long, value_name = "BYTES", value_parser = cli::parse_memory_limit, allow_negative_numbers = true)]
        memory_limit: Option<u64>,
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

/// Why `--cases` is bounded, and what shows progress (`mdlsim audit --help`).
const AUDIT_AFTER_HELP: &str = "\
--cases is at most 1000000 (500 times the default): about five minutes for every strategy
on two cores, where the default takes about a second. More cases of one seed add little;
search longer with several runs of different --seed values, each of which stays
reproducible. On a terminal a progress bar (runs finished, elapsed time) is drawn on
stderr from the start.";

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
            memory_limit,
        } => {
            // The environment's defaults are checked as the flags are: a usage error.
            let cases = match cases {
                Some(n) => Some(n),
                None => env_value("MDLSIM_CASES", cli::parse_cases)?,
            };
            let seed = match seed {
                Some(s) => Some(s),
                None => env_value("MDLSIM_SEED", cli::parse_seed)?,
            };
            let opts = AuditOptions {
                cases,
                seed,
                strategy,
                out: dir,
                jobs: jobs.unwrap_or(0),
                memory_limit,
            };
            run_audit(&opts, json)
        }
        Command::Replay {
            file,
            svg,
            memory_limit,
        } => run_replay(&file, svg, memory_limit),
        Command::Explain { class } => run_explain(&class),
        Command::BenchReport {
            criterion,
            out: md,
            svg,
        } => run_bench_report(&criterion, &md, &svg),
    }
}

/// `mdlsim audit`: the matrix (or its JSON), with a progress bar on a terminal; exit
/// status 1 unless every strategy behaved as documented.
fn run_audit(opts: &AuditOptions, json: bool) -> Result<ExitCode, CliError> {
    let n = cli::select(opts.strategy.as_deref())?.len() as u64 * 2;
    let bar = progress_bar(n, opts.cases);
    let progress = |what: &str| {
        if let Some(b) = &bar {
            b.set_message(what.to_string());
            b.inc(1);
        }
    };
    let report = cli::audit(opts, &progress)?;
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

/// A progress bar over `n` runs when standard error is a terminal.
fn progress_bar(n: u64, cases: Option<u32>) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new(n);
    if let Ok(st) =
        indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} {elapsed} {msg}")
    {
        b.set_style(st);
    }
    b.set_message(format!(
        "{} cases per strategy and direction",
        cases.unwrap_or(mdlsim::verify::Config::default().cases)
    ));
    // Drawn now and redrawn while the first runs are still going.
    b.enable_steady_tick(Duration::from_millis(250));
    Some(b)
}

/// `mdlsim replay FILE`: the replay as text, the page map drawn when asked; exit status 1
/// unless the scenario played as expected.
fn run_replay(
    file: &std::path::Path,
    svg: Option<std::path::PathBuf>,
    memory_limit: Option<u64>,
) -> Result<ExitCode, CliError> {
    let mut opts = replay::ReplayOptions::default();
    if let Some(bytes) = memory_limit {
        opts = opts.host_memory_limit(bytes);
    }
    let r = replay::replay_with(file, &opts)?;
    out(&replay::render_replay(&r, std::io::stdout().is_terminal()));
    match (svg, &r.run) {
        (Some(path), Run::Ops(_)) => out(&format!(
            "no page map applies to an \"ops\" scenario: {} not written\n",
            path.display()
        )),
        (Some(path), Run::Case(run)) => {
            let title = format!("mdlsim page map: {}", r.scenario.name);
            let pic = run
                .page_map
                .as_ref()
                .map(|pm| pm.render_svg(&title))
                .unwrap_or_else(|| mdlsim::pagemap::PageMap::default().render_svg(&title));
            std::fs::write(&path, pic)
                .map_err(|e| CliError(format!("{}: cannot write the SVG: {e}", path.display())))?;
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

/// `mdlsim explain CLASS` (or `list`).
fn run_explain(class: &str) -> Result<ExitCode, CliError> {
    if class == "list" {
        for c in cli::explain_all_classes() {
            out(&format!("{c}\n"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let c = cli::parse_class(class)?;
    out(&cli::explain(c)?);
    Ok(ExitCode::SUCCESS)
}

/// `mdlsim bench-report`: the performance report from criterion's estimates, refused
/// before anything is written when there are none.
fn run_bench_report(
    criterion: &std::path::Path,
    md: &std::path::Path,
    svg: &std::path::Path,
) -> Result<ExitCode, CliError> {
    let none = || {
        CliError(format!(
            "{}: no criterion estimates there (run `cargo bench` first)",
            criterion.display()
        ))
    };
    if !criterion.is_dir() {
        return Err(none());
    }
    // No estimates (an empty or foreign folder) would replace the report with an
    // empty one: refused before anything is written.
    let est = cli::bench_report::read_estimates(criterion).map_err(|e| {
        CliError(format!(
            "{}: cannot read criterion's estimates: {e}",
            criterion.display()
        ))
    })?;
    if est.is_empty() {
        return Err(none());
    }
    cli::bench_report::run(criterion, md, svg)
        .map_err(|e| CliError(format!("{}: cannot write the report: {e}", md.display())))?;
    out(&format!("wrote {} and {}\n", md.display(), svg.display()));
    Ok(ExitCode::SUCCESS)
}

/// `name`'s value parsed by `parse`, `None` when it is not set (or set empty).
///
/// # Errors
/// Set to something `parse` refuses (a usage error, as for the flag).
fn env_value<T>(name: &str, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, CliError> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => parse(&v)
            .map(Some)
            .map_err(|why| CliError(format!("{name}={v}: {why}"))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(CliError(format!("{name} is not valid Unicode")))
        }
    }
}

/// A clap usage error in one line: clap's message, its continuation lines and tips
/// joined, and where to read more (`see 'mdlsim audit --help'`).
fn usage_error(e: &clap::Error) -> String {
    let names: Vec<String> = Args::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return format!(
            "missing command; expected one of {} (see 'mdlsim --help')",
            names.join(", ")
        );
    }
    let text = e.render().to_string();
    let mut msg = String::new();
    let mut tips: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("Usage:") || line.starts_with("For more information")
        {
            continue;
        }
        if let Some(t) = line.strip_prefix("tip: ") {
            tips.push(t);
        } else if let Some(m) = line.strip_prefix("error: ") {
            msg = m.to_string();
        } else if msg.ends_with(':') {
            msg = format!("{msg} {line}");
        } else {
            msg = format!("{msg}, {line}");
        }
    }
    for t in tips {
        msg = format!("{msg}; {t}");
    }
    // The subcommand the arguments name, for its help.
    let sub = std::env::args()
        .skip(1)
        .find(|a| names.contains(a))
        .map(|a| format!(" {a}"))
        .unwrap_or_default();
    format!("{msg} (see 'mdlsim{sub} --help')")
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help, --version: not errors.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mdlsim: error: {}", usage_error(&e));
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mdlsim: error: {e}");
            ExitCode::from(2)
        }
    }
}
