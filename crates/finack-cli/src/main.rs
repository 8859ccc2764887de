//! `finack`: simulate and inspect TCP connection lifecycles, and run finack on a
//! TUN device against the Linux kernel.
//!
//! ```text
//! finack sim list
//! finack sim run NAME|FILE.toml [--seed N] [--svg FILE] [--pcap FILE] [--json FILE] [--color] [--max-events N]
//!                [--set [HOST.]FIELD=VALUE]... [--drop RULE]... [--delay RULE]... [--loss RATE] [--ss T]... [--ss-every D]
//! finack sim show NAME
//! finack sim all [--seed N]
//! finack sim fuzz [--seeds N] [--start S] [--jobs N] | --seed S [--svg FILE] [--pcap FILE]
//! finack sim goodput
//! finack serve --tun NAME --addr 192.0.2.2/24 [--kernel-addr 192.0.2.1] [--port P] [--max-connections N] {echo|discard|http}
//! finack ss --tun NAME
//! finack connect --tun NAME --addr 192.0.2.2/24 [--kernel-addr 192.0.2.1] HOST:PORT [--send FILE|-]
//! finack bench tun [--bytes N] [--timeout SECS]
//! finack bench compare [--bytes N] [--connections N] [--no-linux]
//! finack bench scale [--connections N] [--checkpoints LIST] [--max-memory SIZE] | --open N --only-packets K
//! finack fsm [--scenario NAME] [--seed N] [--dot FILE]
//! finack model [--losses N] [--dups N] [--reorders N] [--delays N] [--crashes N] [--incarnations N] ...
//! ```
//!
//! `serve`, `connect` and `bench tun` need root (CAP_NET_ADMIN) for the TUN device.
//! `serve` runs until Ctrl-C or until `--max-connections` connections are done;
//! `connect` prints what it receives and half-closes after sending `--send`'s
//! data; `bench tun` compares Linux → finack over TUN with Linux → Linux over a
//! veth pair in namespaces of its own.
//!
//! Exit codes: 0 success, 1 a scenario check failed, 2 bad usage (such as an
//! unknown scenario name or an invalid address), 3 an output file could not be
//! written or a runtime failure (not root, the TUN device could not be created,
//! the connection failed).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use finack_sim::render::{self, SvgOptions, TextOptions};
use finack_sim::{catalog, find, Family, ScenarioDef, ScenarioResult};

mod attack;
mod bench_http;
mod bench_scale;
mod bench_tun;
mod explain;
mod fsm;
mod model;
mod net;
mod packetdrill;
mod proxy;
mod ss_ctl;
mod whatif;

/// A userspace TCP stack's command line: simulate the TCP connection
/// lifecycle and draw it.
#[derive(Parser, Debug)]
#[command(name = "finack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Deterministic simulations of the scenarios in the catalog.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Run packetdrill scripts (files or directories) against finack-core.
    Packetdrill(packetdrill::PacketdrillArgs),
    /// Serve echo, discard or HTTP with finack on a new TUN device (needs root).
    #[command(after_help = "Exit codes: 0 done (or Ctrl-C), 2 bad usage, \
                            3 runtime failure (not root, TUN device not created, ...).")]
    Serve(net::ServeArgs),
    /// The socket table (like `ss -tan -o`) of a running `finack serve`,
    /// asked over its control socket.
    #[command(after_help = "Exit codes: 0 printed, 3 no finack serve answers for that TUN.")]
    Ss(ss_ctl::SsArgs),
    /// Connect with finack over a new TUN device to HOST:PORT on the kernel
    /// side, send --send's data, half-close, print what comes back (needs root).
    #[command(after_help = "Exit codes: 0 done, 2 bad usage, \
                            3 runtime failure (not root, refused, reset, ...).")]
    Connect(net::ConnectArgs),
    /// A transparent proxy on a new TUN device (needs root): every TCP
    /// connection routed into it, whatever its destination, is accepted and
    /// carried on to that destination through the kernel's sockets or a
    /// SOCKS5 server; half-close and reset go through both ways.
    #[command(after_help = "Exit codes: 0 done (or Ctrl-C), 2 bad usage, \
                            3 runtime failure (not root, TUN device not created, ...).")]
    Proxy(proxy::ProxyArgs),
    /// Benchmarks (not timed tests).
    #[command(subcommand)]
    Bench(net::BenchCommand),
    /// The TCP state machine as finack walked it: every transition the engine
    /// took in the catalog scenarios, state by state, with the scenarios that
    /// show it (`--dot FILE` for Graphviz).
    Fsm(fsm::FsmArgs),
    /// Model-check two engines over a network that loses, duplicates,
    /// reorders and delays a bounded number of packets, with the
    /// applications' calls and a crash as actions.
    #[command(
        after_help = "Exit codes: 0 every property holds over every state within \
                            the bound, 1 a property failed or --max-states stopped the run."
    )]
    Model(finack_model::cli::ModelArgs),
    /// Explain a pcap/pcapng capture: its TCP connections, both endpoints'
    /// inferred states, how each opened and closed, what went wrong.
    #[command(
        after_help = "Exit codes: 0 explained, 2 not a readable capture or bad usage, \
                            3 the file could not be read or written."
    )]
    Explain(explain::ExplainArgs),
}

/// `finack sim ...`
#[derive(Subcommand, Debug)]
enum SimCommand {
    /// List the scenarios with a one-line summary each.
    List,
    /// Run one scenario: draw its sequence diagram, show its checks, and
    /// write the requested files.
    #[command(after_help = "Exit codes: 0 all checks held, 1 a check failed, \
                            2 unknown scenario, bad scenario file, unknown field or bad value \
                            in --set, bad fault rule, 3 a file could not be written.")]
    Run(RunArgs),
    /// Print a catalog scenario as a scenario file (TOML) for `sim run
    /// FILE.toml`, or say why it cannot be written as one.
    #[command(
        after_help = "Exit codes: 0 printed, 1 the scenario cannot be written as a file, \
                            2 unknown scenario."
    )]
    Show {
        /// Scenario name (see `finack sim list`).
        name: String,
    },
    /// Run every scenario and show a pass/fail table.
    #[command(after_help = "Exit codes: 0 every scenario passed, 1 at least one failed.")]
    All(AllArgs),
    /// The randomized fault suite: random transfers over random faults, each
    /// seed checked for lost or corrupted bytes and for a clean close.
    #[command(after_help = "Exit codes: 0 every seed passed, 1 at least one failed.")]
    Fuzz(FuzzArgs),
    /// Simulated attacks on a finack server with its defences on and off
    /// (syn-flood, idle, slow, half-open, blind-inject, tw-flood, or all):
    /// one table row per run.
    #[command(
        after_help = "Exit codes: 0 every run with defences on met the targets                             (99% of legitimate clients served, no connection broken by a forged segment),                             1 one did not, 2 bad usage."
    )]
    Attack(attack::AttackArgs),
    /// Simulated goodput at 0/1/5/10% loss and 1/10/100 ms RTT next to the
    /// window/RTT ceiling.
    Goodput,
}

/// Options of `finack sim fuzz`.
#[derive(Args, Debug)]
struct FuzzArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Worker threads (default: the number of available cores). The seeds are
    /// shared out among them and the results merged in seed order, so the
    /// report and its behaviour digest do not depend on N.
    #[arg(long, value_name = "N")]
    jobs: Option<std::num::NonZeroUsize>,
    /// Run just this seed, recording every packet, and draw it.
    #[arg(long, conflicts_with_all = ["seeds", "start", "jobs"])]
    seed: Option<u64>,
    /// With --seed: write the run as SVG to FILE.
    #[arg(long, value_name = "FILE", requires = "seed")]
    svg: Option<PathBuf>,
    /// With --seed: write the packets as a pcap capture to FILE.
    #[arg(long, value_name = "FILE", requires = "seed")]
    pcap: Option<PathBuf>,
}

/// Options of `finack sim run`.
#[derive(Args, Debug)]
struct RunArgs {
    /// Scenario name (see `finack sim list`) or a scenario file (FILE.toml;
    /// `finack sim show NAME` prints examples).
    name: String,
    /// Seed of the run; the same seed gives the same run, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the sequence diagram as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write the packets as a pcap capture to FILE (open it with Wireshark).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Write the whole trace as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Colour the terminal diagram with ANSI escape sequences.
    #[arg(long)]
    color: bool,
    /// Draw at most N events in the diagrams (text and SVG); longer traces
    /// show their beginning and end.
    #[arg(long, value_name = "N", default_value_t = render::DEFAULT_MAX_EVENTS)]
    max_events: usize,
    /// What-if options.
    #[command(flatten)]
    whatif: whatif::WhatIfArgs,
}

/// Options of `finack sim all`.
#[derive(Args, Debug)]
struct AllArgs {
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Why the command stopped early.
#[derive(Debug)]
enum Failure {
    /// Bad usage; the message says what was wrong.
    Usage(String),
    /// A file could not be written.
    Io(String),
    /// Standard output went away (e.g. `| head`): stop quietly.
    ClosedOutput,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::ClosedOutput
        } else {
            Failure::Io(format!("cannot write to standard output: {e}"))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(SimCommand::List) => list(),
        Command::Sim(SimCommand::Run(args)) => run(&args),
        Command::Sim(SimCommand::Show { name }) => whatif::show_cmd(&name),
        Command::Sim(SimCommand::All(args)) => all(&args),
        Command::Sim(SimCommand::Fuzz(args)) => fuzz(&args),
        Command::Sim(SimCommand::Attack(args)) => attack::attack_cmd(&args),
        Command::Packetdrill(args) => packetdrill::run(&args).map_err(Failure::Usage),
        Command::Serve(args) => net::serve_cmd(&args),
        Command::Proxy(args) => proxy::proxy_cmd(&args),
        Command::Ss(args) => ss_ctl::ss_cmd(&args),
        Command::Connect(args) => net::connect_cmd(&args),
        Command::Bench(net::BenchCommand::Tun(args)) => bench_tun::bench_tun(&args),
        Command::Bench(net::BenchCommand::Http(args)) => bench_http::bench_http(&args),
        Command::Bench(net::BenchCommand::Compare(args)) => net::bench_compare(&args),
        Command::Bench(net::BenchCommand::Scale(args)) => bench_scale::bench_scale(&args),
        Command::Fsm(args) => fsm::fsm(&args),
        Command::Model(args) => model::model(&args),
        Command::Explain(args) => explain::explain_cmd(&args),
        Command::Sim(SimCommand::Goodput) => {
            eprintln!("measuring 15 cells (2 MiB each) ...");
            print!("{}", finack_sim::goodput::table());
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Io(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(3)
        }
        Err(Failure::ClosedOutput) => ExitCode::SUCCESS,
    }
}

/// `finack sim list`.
fn list() -> Result<bool, Failure> {
    let scenarios = catalog();
    let w = scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = io::stdout().lock();
    for s in scenarios {
        writeln!(out, "{:<w$}  {}", s.name, s.summary)?;
    }
    out.flush()?;
    Ok(true)
}

/// The scenario called `name`, or a usage error listing the valid names.
fn lookup(name: &str) -> Result<&'static ScenarioDef, Failure> {
    find(name).ok_or_else(|| {
        let mut msg = format!("unknown scenario '{name}'; valid names are:");
        for s in catalog() {
            msg.push_str("\n  ");
            msg.push_str(s.name);
        }
        Failure::Usage(msg)
    })
}

/// Run a scenario, turning a panic inside it into an error message.
fn execute(def: &ScenarioDef, seed: u64) -> Result<ScenarioResult, String> {
    let run = def.run;
    std::panic::catch_unwind(move || run(seed, Family::V4)).map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        format!("scenario '{}' panicked: {what}", def.name)
    })
}

/// Write `data` to `path`, with a message naming the file on failure.
fn write_file(path: &Path, data: &[u8], what: &str) -> Result<(), Failure> {
    std::fs::write(path, data)
        .map_err(|e| Failure::Io(format!("cannot write {what} to {}: {e}", path.display())))
}

/// `finack sim run`.
fn run(args: &RunArgs) -> Result<bool, Failure> {
    let what_if = whatif::run(&args.name, args.seed, &args.whatif)?;
    let result = &what_if.result;
    let trace = &result.trace;
    let mut out = io::stdout().lock();
    let text = render::diagram_text_with(
        trace,
        &TextOptions {
            max_events: args.max_events,
            color: args.color,
        },
    );
    out.write_all(text.as_bytes())?;
    writeln!(out)?;
    writeln!(out, "checks:")?;
    for c in &result.checks {
        let (mark, color) = if c.ok {
            ("✓", "\x1b[32m")
        } else {
            ("✗", "\x1b[1;31m")
        };
        if args.color {
            write!(out, "  {color}{mark}\x1b[0m {}", c.what)?;
        } else {
            write!(out, "  {mark} {}", c.what)?;
        }
        if !c.ok && !c.detail.is_empty() {
            write!(out, ": {}", c.detail)?;
        }
        writeln!(out)?;
    }
    let failed = result.checks.iter().filter(|c| !c.ok).count();
    writeln!(
        out,
        "{} of {} checks held",
        result.checks.len() - failed,
        result.checks.len()
    )?;
    writeln!(out)?;
    write_counters(&mut out, &trace.hosts)?;
    if !what_if.tables.is_empty() {
        writeln!(out)?;
        whatif::write_tables(&mut out, &what_if.tables)?;
    }
    out.flush()?;
    if let Some(path) = &args.svg {
        let svg = render::diagram_svg_with(
            trace,
            &SvgOptions {
                max_events: args.max_events,
            },
        );
        write_file(path, svg.as_bytes(), "the SVG diagram")?;
        writeln!(out, "wrote SVG diagram to {}", path.display())?;
    }
    if let Some(path) = &args.pcap {
        write_file(path, &render::to_pcap(trace), "the pcap capture")?;
        writeln!(out, "wrote pcap capture to {}", path.display())?;
    }
    if let Some(path) = &args.json {
        write_file(path, render::to_json(trace).as_bytes(), "the JSON trace")?;
        writeln!(out, "wrote JSON trace to {}", path.display())?;
    }
    out.flush()?;
    Ok(failed == 0)
}

/// Each host's non-zero counters under Linux's names, as `nstat` prints
/// them.
fn write_counters(out: &mut impl Write, hosts: &[finack_sim::HostInfo]) -> io::Result<()> {
    writeln!(out, "counters (Linux nstat names):")?;
    for h in hosts {
        let list: Vec<String> = h.counters.iter().map(|(n, v)| format!("{n} {v}")).collect();
        writeln!(out, "  {}: {}", h.name, list.join(", "))?;
    }
    Ok(())
}

/// How a scenario went in `finack sim all`: the number of checks that held
/// and of all checks, or why it could not run.
type Outcome = Result<(usize, usize), String>;

/// `finack sim all`.
fn all(args: &AllArgs) -> Result<bool, Failure> {
    let scenarios = catalog();
    let total = scenarios.len();
    let mut rows: Vec<(&str, Outcome)> = Vec::with_capacity(total);
    // Progress is for a person at a terminal; a log gets only the failures.
    let progress = io::stderr().is_terminal();
    for (k, def) in scenarios.iter().enumerate() {
        if progress {
            eprint!("[{}/{total}] {} ... ", k + 1, def.name);
            let _ = io::stderr().flush();
        }
        let outcome = execute(def, args.seed).map(|r| {
            let held = r.checks.iter().filter(|c| c.ok).count();
            (held, r.checks.len())
        });
        let name = if progress { "" } else { def.name };
        let sep = if progress { "" } else { ": " };
        match &outcome {
            Ok((held, n)) if held == n => {
                if progress {
                    eprintln!("ok ({n} checks)");
                }
            }
            Ok((held, n)) => eprintln!("{name}{sep}FAILED ({} of {n} checks failed)", n - held),
            Err(msg) => eprintln!("{name}{sep}FAILED ({msg})"),
        }
        rows.push((def.name, outcome));
    }
    let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(8);
    let mut out = io::stdout().lock();
    writeln!(out, "{:<w$}  result  checks", "scenario")?;
    writeln!(out, "{:<w$}  ------  ------", "-".repeat(w))?;
    let mut passed = 0;
    for (name, outcome) in &rows {
        match outcome {
            Ok((held, n)) if held == n => {
                passed += 1;
                writeln!(out, "{name:<w$}  pass    {held}/{n}")?;
            }
            Ok((held, n)) => writeln!(out, "{name:<w$}  FAIL    {held}/{n}")?,
            Err(_) => writeln!(out, "{name:<w$}  FAIL    panicked")?,
        }
    }
    let failed = rows.len() - passed;
    writeln!(out, "{passed} passed, {failed} failed")?;
    out.flush()?;
    Ok(failed == 0)
}

/// `finack sim fuzz`.
fn fuzz(args: &FuzzArgs) -> Result<bool, Failure> {
    if let Some(seed) = args.seed {
        let (out, trace) = finack_sim::fuzz::run_traced(seed);
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{}", render::diagram_text(&trace))?;
        writeln!(stdout, "case: {:?}", out.case)?;
        if let Some(path) = &args.svg {
            write_file(
                path,
                render::diagram_svg(&trace).as_bytes(),
                "the SVG diagram",
            )?;
            writeln!(stdout, "wrote SVG diagram to {}", path.display())?;
        }
        if let Some(path) = &args.pcap {
            write_file(path, &render::to_pcap(&trace), "the pcap")?;
            writeln!(stdout, "wrote pcap to {}", path.display())?;
        }
        return Ok(match out.failure {
            None => {
                writeln!(
                    stdout,
                    "seed {seed}: ok ({} packets, {:?} virtual)",
                    out.packets, out.elapsed
                )?;
                true
            }
            Some(why) => {
                writeln!(stdout, "seed {seed}: FAILED: {why}")?;
                false
            }
        });
    }
    let started = std::time::Instant::now();
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    // A progress bar redrawn in place is for a person watching; a log gets
    // none of it.
    let progress = io::stderr().is_terminal();
    let mut last_drawn = started;
    let (mut done, mut failures) = (0u64, 0usize);
    let report = finack_sim::fuzz::run_seeds(args.start, args.seeds, jobs, |out| {
        done += 1;
        if let Some(why) = &out.failure {
            failures += 1;
            let clear = if progress { "\r\x1b[K" } else { "" };
            eprintln!("{clear}seed {} FAILED: {why}", out.case.seed);
            eprintln!("  reproduce: finack sim fuzz --seed {}", out.case.seed);
        }
        if progress && (last_drawn.elapsed().as_millis() >= 200 || done == args.seeds) {
            last_drawn = std::time::Instant::now();
            let pct = done * 100 / args.seeds.max(1);
            let bar = "#".repeat((pct / 5) as usize);
            eprint!(
                "\r[{bar:<20}] {done}/{} seeds, {failures} failed, {:.0?}",
                args.seeds,
                started.elapsed()
            );
        }
    });
    let wall = started.elapsed();
    if progress {
        eprintln!();
    }
    // Standard output is the same whatever --jobs is; the wall time goes to
    // standard error.
    eprintln!(
        "{:.1?} wall time on {jobs} thread{}, {:.0} seeds/s",
        wall,
        if jobs == 1 { "" } else { "s" },
        report.seeds as f64 / wall.as_secs_f64().max(1e-9)
    );
    let end = args.start.saturating_add(args.seeds);
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{} seeds ({}..{}), {} packets",
        report.seeds, args.start, end, report.packets
    )?;
    writeln!(stdout, "behaviour digest: {:016x}", report.digest)?;
    writeln!(
        stdout,
        "peak memory: {} bytes in one connection (limit {}), {} bytes of endpoint tables",
        report.peak_memory.connection,
        finack_core::Config::linux().connection_memory_limit(),
        report.peak_memory.tables
    )?;
    for out in &report.failures {
        writeln!(stdout, "failed: finack sim fuzz --seed {}", out.case.seed)?;
    }
    writeln!(
        stdout,
        "{} passed, {} failed",
        report.seeds - report.failures.len() as u64,
        report.failures.len()
    )?;
    Ok(report.failures.is_empty())
}
