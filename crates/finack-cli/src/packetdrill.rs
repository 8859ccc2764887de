//! `finack packetdrill [--verbose] [--summary | --markdown] [OPTIONS] PATH...`:
//! runs packetdrill scripts against finack-core in virtual time and prints a
//! pass/fail table, with the first mismatch of every failure (what the script
//! expected, what finack did, and the script line). Kernel selftests (a
//! folder with `ksft_runner.sh`) run in IPv4 and IPv6 and pass only when both
//! do, unless the command line gives packetdrill options, which then apply
//! to every script in one run.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use finack_packetdrill::run::{Report, RunOptions};
use finack_packetdrill::suite::{self, ScriptResult, Verdict};

/// Arguments of `finack packetdrill`.
#[derive(Args, Debug)]
pub struct PacketdrillArgs {
    /// Also print what each script left unchecked and how many events ran.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print pass/total per top-level folder over the scripts in scope and
    /// the scripts that do not pass grouped by cause, instead of the table.
    #[arg(long, conflicts_with = "markdown")]
    pub summary: bool,
    /// Print docs/conformance-linux.md (per-folder table and causes) instead
    /// of the table.
    #[arg(long)]
    pub markdown: bool,
    /// packetdrill's --ip_version: ipv4, ipv6 or ipv4-mapped-ipv6.
    #[arg(long, value_name = "MODE")]
    pub ip_version: Option<String>,
    /// packetdrill's --local_ip.
    #[arg(long, value_name = "ADDR")]
    pub local_ip: Option<String>,
    /// packetdrill's --remote_ip.
    #[arg(long, value_name = "ADDR")]
    pub remote_ip: Option<String>,
    /// packetdrill's --mtu (of the device under test).
    #[arg(long)]
    pub mtu: Option<u32>,
    /// Any other packetdrill option, as NAME=VALUE or NAME (without dashes).
    #[arg(long = "option", short = 'O', value_name = "NAME[=VALUE]")]
    pub options: Vec<String>,
    /// packetdrill's -D NAME=VALUE: a symbol scripts use in system calls.
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    pub defines: Vec<String>,
    /// Script files (`.pkt`) or directories searched for them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

impl PacketdrillArgs {
    /// The packetdrill options given on the command line, if any.
    fn run_options(&self) -> Result<Option<RunOptions>, String> {
        let mut words = Vec::new();
        if let Some(v) = &self.ip_version {
            words.push(format!("--ip_version={v}"));
        }
        if let Some(v) = &self.local_ip {
            words.push(format!("--local_ip={v}"));
        }
        if let Some(v) = &self.remote_ip {
            words.push(format!("--remote_ip={v}"));
        }
        if let Some(v) = self.mtu {
            words.push(format!("--mtu={v}"));
        }
        words.extend(self.options.iter().map(|o| format!("--{o}")));
        words.extend(self.defines.iter().map(|d| format!("-D{d}")));
        if words.is_empty() {
            return Ok(None);
        }
        RunOptions::from_args(words.iter().map(String::as_str)).map(Some)
    }
}

/// Runs the scripts; `Ok(true)` when every one passed. `Err` for a path that
/// does not exist or holds no script, or a malformed option.
pub fn run(args: &PacketdrillArgs) -> Result<bool, String> {
    let opts = args.run_options()?;
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            let found = suite::collect(p).map_err(|e| format!("{}: {e}", p.display()))?;
            if found.is_empty() {
                return Err(format!(
                    "{}: no .pkt scripts in this directory",
                    p.display()
                ));
            }
            files.extend(found);
        } else if p.is_file() {
            files.push((p.clone(), p.display().to_string()));
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    let results: Vec<ScriptResult> = files
        .iter()
        .map(|(p, rel)| suite::run_file(p, rel, opts.as_ref()))
        .collect();
    let mut out = io::stdout().lock();
    let all_pass = results.iter().all(|r| r.verdict == Verdict::Pass);
    if args.summary {
        let _ = write!(out, "{}", suite::summary_text(&results));
        return Ok(all_pass);
    }
    if args.markdown {
        let _ = write!(out, "{}", suite::conformance_markdown(&results));
        return Ok(all_pass);
    }
    let mut counts = [0usize; 4];
    for r in &results {
        let idx = match r.verdict {
            Verdict::Pass => 0,
            Verdict::Incomplete => 1,
            Verdict::Fail => 2,
            Verdict::ParseError => 3,
        };
        counts[idx] += 1;
        let _ = writeln!(out, "{:<11} {}", r.verdict.label(), r.path.display());
        print_result(&mut out, r, args.verbose);
    }
    let _ = writeln!(
        out,
        "\n{} scripts: {} passed, {} incomplete, {} failed, {} did not parse",
        results.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    Ok(all_pass)
}

/// The details under a script's row: the parse error, or for each run (both
/// modes of a selftest when their results differ) the failure or what was
/// left unchecked.
fn print_result(out: &mut impl Write, r: &ScriptResult, verbose: bool) {
    if let Some(e) = &r.parse_error {
        let _ = writeln!(out, "    {e}");
        return;
    }
    let per_run = r.run_verdicts();
    let differ = per_run.windows(2).any(|w| w[0].1 != w[1].1);
    for (i, run) in r.runs.iter().enumerate() {
        let v = per_run.get(i).map_or(r.verdict, |(_, v)| *v);
        let indent = match run.mode {
            Some(m) if differ || verbose => {
                let _ = writeln!(out, "    {}: {}", m.name(), v.label());
                "      "
            }
            Some(_) if i > 0 => continue,
            _ => "    ",
        };
        let show = differ || verbose || run.mode.is_none() || i == 0;
        if !show {
            continue;
        }
        if let Some(want) = &r.expected_failure {
            if v == Verdict::Pass {
                if verbose {
                    let _ = writeln!(out, "{indent}fails as its comment says: {want}");
                }
                continue;
            }
        }
        match v {
            Verdict::Fail => print_failure(out, &r.path, &run.report, indent),
            Verdict::Incomplete => {
                for u in &run.report.unsupported {
                    let _ = writeln!(out, "{indent}unchecked: {u}");
                }
            }
            _ => {}
        }
        if verbose {
            let _ = writeln!(out, "{indent}events run: {}", run.report.events_run);
            if v != Verdict::Incomplete {
                for u in &run.report.unsupported {
                    let _ = writeln!(out, "{indent}unchecked: {u}");
                }
            }
        }
    }
}

/// The failure message (which already holds the expected and the actual
/// packet for packet mismatches) and the script line it is about.
fn print_failure(out: &mut impl Write, file: &Path, r: &Report, indent: &str) {
    let Err(f) = &r.outcome else {
        let _ = writeln!(out, "{indent}the script passed, but it must fail");
        return;
    };
    let mut lines = f.message.lines();
    let _ = writeln!(
        out,
        "{indent}line {}: {}",
        f.line,
        lines.next().unwrap_or("")
    );
    for l in lines {
        let _ = writeln!(out, "{indent}{}", l.trim_start());
    }
    let text = std::fs::read_to_string(file).ok();
    if let Some(src) = text
        .as_deref()
        .and_then(|t| t.lines().nth((f.line as usize).saturating_sub(1)))
    {
        let _ = writeln!(out, "{indent}script:   {}", src.trim());
    }
}
