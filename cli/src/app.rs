//! [`Cli`]: the whole `mdlsim` command line over a [`Registry`], so a program can hand
//! the tools its own strategies; the `mdlsim` binary is `Cli::new().run_from_env()`.

use crate::{self as cli, AuditOptions, CliError, Registry};
use clap::{CommandFactory, Parser, Subcommand};
use mdlsim::replay::{self, Replayed, Run};
use mdlsim::scenario::Scenario;
use mdlsim::strategy::ProxyStrategy;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
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
    /// Verify every built-in strategy (and the program's own) in both directions; print
    /// the strategy x rule matrix.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Audit {
        /// Cases per strategy and direction: 1 to 1000000 (default 2000, or MDLSIM_CASES).
        #[arg(long, value_name = "N", value_parser = cli::parse_cases, allow_negative_numbers = true)]
        cases: Option<u32>,
        /// Seed of the case generator (default fixed, or MDLSIM_SEED).
        #[arg(long, value_name = "N", value_parser = cli::parse_seed, allow_negative_numbers = true)]
        seed: Option<u64>,
        /// Only this strategy: a built-in, zoo or registered name; case is ignored and
        /// the parameter optional (copysmallmaplarge).
        #[arg(long)]
        strategy: Option<String>,
        /// Also the zoo's strategies (field bugs and other designs).
        #[arg(long)]
        zoo: bool,
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
        #[arg(required_unless_present = "example", conflicts_with = "example")]
        file: Option<PathBuf>,
        /// A scenario shipped inside the command (`mdlsim explain` names them), instead
        /// of a file: e.g. seed000-directmap-read.
        #[arg(long, value_name = "NAME")]
        example: Option<String>,
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
        /// Where criterion left its estimates (default: $CRITERION_HOME, else
        /// $CARGO_TARGET_DIR/criterion, else target/criterion).
        #[arg(long)]
        criterion: Option<PathBuf>,
        /// The Markdown page to (re)write below its "generated" marker.
        #[arg(long, default_value = "docs/performance.md")]
        out: PathBuf,
        /// The SVG plot the page embeds.
        #[arg(long, default_value = "docs/performance.svg")]
        svg: PathBuf,
    },
    /// Write a cargo-fuzz target over one of your strategies into your crate: fuzz/
    /// (manifest, target, dictionary, seed corpus) and tests/<target>_corpus.rs, which
    /// replays the corpus in `cargo test`.
    NewFuzzTarget {
        /// The strategy: a registered name (yours), case ignored.
        #[arg(long)]
        strategy: String,
        /// The Rust expression that builds it in the fuzz crate (default
        /// CRATE::TYPE::default(): your package's name, the strategy's without its parameter).
        #[arg(long, value_name = "RUST")]
        expr: Option<String>,
        /// Your crate's directory, where its Cargo.toml is.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// Why `--cases` is bounded, and what shows progress (`mdlsim audit --help`).
const AUDIT_AFTER_HELP: &str = "\
--cases is at most 1000000 (500 times the default): about five minutes for every strategy
on two cores, where the default takes about a second. More cases of one seed add little;
search longer with several runs of different --seed values, each of which stays
reproducible. On a terminal a progress bar (cases run, their rate, the time left) is drawn on
stderr from the start.";

/// The `mdlsim` command line over a set of strategies: the built-ins, the zoo, and the
/// program's own ([`Cli::strategy`]). Every command looks names up in that set:
/// `audit` runs the built-ins and the program's strategies (`--zoo`: the zoo's too;
/// `--strategy NAME`: any one), `replay` plays scenario files naming any of them.
///
/// Exit status: 0 all as expected, 1 a strategy or scenario did not behave as
/// documented, 2 bad input or a usage error (one line on the error stream).
///
/// ```no_run
/// // examples/mdlsim.rs of your crate: `cargo run --example mdlsim -- audit`
/// use mdlsim::strategy::BounceCopy;
/// # #[derive(Clone, Default)] struct MySplice(BounceCopy);
/// # impl mdlsim::strategy::ProxyStrategy for MySplice {
/// #   fn name(&self) -> String { "MySplice".into() }
/// #   fn expose(&mut self, k: &mut mdlsim::machine::Kernel<'_>, io: &mdlsim::strategy::Io)
/// #     -> mdlsim::fault::Result<mdlsim::strategy::Exposure> { self.0.expose(k, io) }
/// #   fn retire(&mut self, k: &mut mdlsim::machine::Kernel<'_>, io: &mdlsim::strategy::Io,
/// #     r: mdlsim::strategy::ServerReply, w: mdlsim::strategy::RetireReason)
/// #     -> mdlsim::fault::Result<mdlsim::strategy::Completion> { self.0.retire(k, io, r, w) }
/// # }
/// fn main() -> std::process::ExitCode {
///     mdlsim_cli::Cli::new().strategy(MySplice::default()).run_from_env()
/// }
/// ```
#[derive(Debug, Default)]
pub struct Cli {
    registry: Registry,
    /// A registration refused ([`Registry::add`]): reported by every run, exit status 2.
    refused: Option<CliError>,
}

/// Where a run writes, and how.
struct Io<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    /// Colour in the replay's text (a terminal without `NO_COLOR`).
    colour: bool,
    /// A progress bar on standard error (a terminal).
    progress: bool,
}

impl Io<'_> {
    fn out(&mut self, s: &str) {
        // A closed pipe (`mdlsim audit | head`) is not an error worth a panic.
        let _ = self.out.write_all(s.as_bytes());
    }
    fn err(&mut self, s: &str) {
        let _ = writeln!(self.err, "{s}");
    }
}

impl Cli {
    /// The command over [`Registry::standard`]: what the `mdlsim` binary runs.
    pub fn new() -> Cli {
        Cli::with_registry(Registry::standard())
    }

    /// The command over `registry` ([`Registry::empty`] for only the program's own).
    pub fn with_registry(registry: Registry) -> Cli {
        Cli {
            registry,
            refused: None,
        }
    }

    /// Adds the program's strategy `s` (anything `ProxyStrategy + Clone + Send`, or a
    /// `Box<dyn ProxyStrategyClone>`). A name already taken is reported when the command
    /// runs (exit status 2), so a mistake is never silently shadowed.
    pub fn strategy<S: ProxyStrategy + Clone + Send + 'static>(mut self, s: S) -> Cli {
        if let Err(e) = self.registry.add(s) {
            self.refused.get_or_insert(e);
        }
        self
    }

    /// The strategies the command knows.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs the command line of this process: its arguments, standard output and error,
    /// a progress bar and colour on a terminal (none when `NO_COLOR` is set).
    pub fn run_from_env(&self) -> ExitCode {
        let no_color = std::env::var_os("NO_COLOR");
        let colour = use_colour(std::io::stdout().is_terminal(), no_color.as_deref());
        let progress = std::io::stderr().is_terminal();
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            colour,
            progress,
        };
        ExitCode::from(self.exec(std::env::args_os().collect(), &mut io))
    }

    /// Runs the command line `args` (the program name first, as `std::env::args_os`
    /// gives it), writing to `out` and `err`, with no colour and no progress bar; returns
    /// the exit status.
    ///
    /// ```
    /// let (mut out, mut err) = (Vec::new(), Vec::new());
    /// let code = mdlsim_cli::Cli::new().run(["mdlsim", "explain", "list"], &mut out, &mut err);
    /// assert_eq!(code, 0);
    /// assert!(String::from_utf8(out).unwrap().contains("PartialPageExposure"));
    /// ```
    pub fn run<I, T>(&self, args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let mut io = Io {
            out,
            err,
            colour: false,
            progress: false,
        };
        self.exec(args.into_iter().map(Into::into).collect(), &mut io)
    }

    fn exec(&self, args: Vec<OsString>, io: &mut Io<'_>) -> u8 {
        let parsed = match Args::try_parse_from(&args) {
            Ok(a) => a,
            Err(e) if !e.use_stderr() => {
                // --help, --version: not errors.
                io.out(&e.render().to_string());
                return 0;
            }
            Err(e) => {
                io.err(&format!("mdlsim: error: {}", usage_error(&e, &args)));
                return 2;
            }
        };
        let result = match &self.refused {
            Some(e) => Err(e.clone()),
            None => self.dispatch(parsed, io),
        };
        result.unwrap_or_else(|e| {
            io.err(&format!("mdlsim: error: {e}"));
            2
        })
    }

    fn dispatch(&self, args: Args, io: &mut Io<'_>) -> Result<u8, CliError> {
        match args.command {
            Command::Audit {
                cases,
                seed,
                strategy,
                zoo,
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
                    zoo,
                    out: dir,
                    jobs: jobs.unwrap_or(0),
                    memory_limit,
                };
                self.audit(&opts, json, io)
            }
            Command::Replay {
                file,
                example,
                svg,
                memory_limit,
            } => self.replay(file.as_deref(), example.as_deref(), svg, memory_limit, io),
            Command::Explain { class } => explain(&class, io),
            Command::BenchReport {
                criterion,
                out: md,
                svg,
            } => {
                let criterion = criterion.unwrap_or_else(default_criterion_dir);
                self.bench_report(&criterion, &md, &svg, io)
            }
            Command::NewFuzzTarget {
                strategy,
                expr,
                dir,
            } => {
                let name = self.registry.resolve(&strategy)?;
                let done = cli::template::write_fuzz_target(&dir, &name, expr.as_deref())?;
                io.out(&done);
                Ok(0)
            }
        }
    }

    /// `mdlsim audit`: the matrix (or its JSON), with a progress bar on a terminal; exit
    /// status 1 unless every strategy behaved as documented.
    fn audit(&self, opts: &AuditOptions, json: bool, io: &mut Io<'_>) -> Result<u8, CliError> {
        let runs = self
            .registry
            .select(opts.strategy.as_deref(), opts.zoo)?
            .len() as u64
            * 2;
        let cases = opts
            .cases
            .unwrap_or(mdlsim::verify::Config::default().cases);
        let bar = io
            .progress
            .then(|| crate::progress::bar(runs * u64::from(cases)));
        let progress = |p: cli::Progress<'_>| {
            if let Some(b) = &bar {
                match p {
                    cli::Progress::Cases(n) => b.set_position(n),
                    cli::Progress::Finished(name, d) => b.set_message(format!("{name} {d}")),
                }
            }
        };
        let report = cli::audit_using(opts, &self.registry, &progress)?;
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        if json {
            io.out(&(serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"));
        } else {
            io.out(&cli::render_matrix(&report));
        }
        Ok(if report.all_as_documented() { 0 } else { 1 })
    }

    /// `mdlsim replay FILE` (or `--example NAME`): the replay as text, the page map drawn
    /// when asked; exit status 1 unless the scenario played as expected.
    fn replay(
        &self,
        file: Option<&Path>,
        example: Option<&str>,
        svg: Option<PathBuf>,
        memory_limit: Option<u64>,
        io: &mut Io<'_>,
    ) -> Result<u8, CliError> {
        let mut opts = replay::ReplayOptions::default();
        if let Some(bytes) = memory_limit {
            opts = opts.host_memory_limit(bytes);
        }
        let (r, shown) = match (file, example) {
            (Some(f), _) => (
                replay::replay_using(f, &opts, &self.registry)?,
                f.display().to_string(),
            ),
            (None, Some(name)) => {
                let (f, text) = cli::example(name)?;
                let sc = Scenario::parse_using(f, text, &self.registry)?;
                (
                    replay::play_using(sc, f, &opts, &self.registry)?,
                    f.to_string(),
                )
            }
            (None, None) => return Err(CliError("a scenario file or --example NAME".into())),
        };
        io.out(&replay::render_replay(&r, io.colour));
        if let Some(path) = svg {
            draw(&r, &path, io)?;
        }
        if let Some(why) = r.mismatch() {
            io.err(&format!("mdlsim: {shown}: not as expected: {why}"));
        }
        Ok(if r.as_expected { 0 } else { 1 })
    }

    /// `mdlsim bench-report`: the performance report from criterion's estimates over the
    /// correct built-ins and the program's own strategies, refused before anything is
    /// written when there are none.
    fn bench_report(
        &self,
        criterion: &Path,
        md: &Path,
        svg: &Path,
        io: &mut Io<'_>,
    ) -> Result<u8, CliError> {
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
        let mut compared = mdlsim::strategy::correct_builtins();
        compared.extend(self.registry.own());
        cli::bench_report::run_with(criterion, md, svg, &compared)
            .map_err(|e| CliError(format!("{}: cannot write the report: {e}", md.display())))?;
        io.out(&format!("wrote {} and {}\n", md.display(), svg.display()));
        Ok(0)
    }
}

/// Writes `r`'s page map to `path` as SVG (an `"ops"` scenario has none: said so).
fn draw(r: &Replayed, path: &Path, io: &mut Io<'_>) -> Result<(), CliError> {
    match &r.run {
        Run::Ops(_) => io.out(&format!(
            "no page map applies to an \"ops\" scenario: {} not written\n",
            path.display()
        )),
        Run::Case(run) => {
            let title = format!("mdlsim page map: {}", r.scenario.name);
            let pic = run
                .page_map
                .as_ref()
                .map(|pm| pm.render_svg(&title))
                .unwrap_or_else(|| mdlsim::pagemap::PageMap::default().render_svg(&title));
            std::fs::write(path, pic)
                .map_err(|e| CliError(format!("{}: cannot write the SVG: {e}", path.display())))?;
            io.out(&format!("page map drawn in {}\n", path.display()));
        }
    }
    Ok(())
}

/// `mdlsim explain CLASS` (or `list`).
fn explain(class: &str, io: &mut Io<'_>) -> Result<u8, CliError> {
    if class == "list" {
        for c in cli::explain_all_classes() {
            io.out(&format!("{c}\n"));
        }
        return Ok(0);
    }
    let c = cli::parse_class(class)?;
    io.out(&cli::explain(c)?);
    Ok(0)
}

/// Where `cargo bench` leaves criterion's estimates: `$CRITERION_HOME` (criterion's own
/// override), else `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.
pub(crate) fn default_criterion_dir() -> PathBuf {
    let set = |name: &str| {
        std::env::var_os(name)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    };
    match (set("CRITERION_HOME"), set("CARGO_TARGET_DIR")) {
        (Some(home), _) => home,
        (None, Some(target)) => target.join("criterion"),
        (None, None) => PathBuf::from("target/criterion"),
    }
}

/// Whether output to a `terminal` (or not) gets colour given `NO_COLOR`'s value: only on
/// a terminal, and not when `NO_COLOR` is set and not empty (no-color.org).
///
/// ```
/// assert!(!mdlsim_cli::use_colour(true, Some("1".as_ref())));
/// ```
pub fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
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
fn usage_error(e: &clap::Error, args: &[OsString]) -> String {
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
    let sub = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| names.iter().any(|n| n == a))
        .map(|a| format!(" {a}"))
        .unwrap_or_default();
    format!("{msg} (see 'mdlsim{sub} --help')")
}
