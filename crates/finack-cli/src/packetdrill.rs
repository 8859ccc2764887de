//! `finack packetdrill [--verbose] PATH...`: runs packetdrill scripts against
//! finack-core in virtual time and prints a pass/fail table, with the first
//! mismatch of every failure (what the script expected, what finack did, and
//! the script line).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use finack_packetdrill::run::{run as run_script, Report};

/// Arguments of `finack packetdrill`.
#[derive(Args, Debug)]
pub struct PacketdrillArgs {
    /// Also print what each script left unchecked and how many events ran.
    #[arg(long, short)]
    pub verbose: bool,
    /// Script files (`.pkt`) or directories searched for them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// One script's result.
enum Outcome {
    Pass,
    /// Ran to the end but something could not be checked.
    Incomplete,
    Fail,
    ParseError(String),
}

/// Runs the scripts; `Ok(true)` when every one passed. `Err` for a path that
/// does not exist or holds no script.
pub fn run(args: &PacketdrillArgs) -> Result<bool, String> {
    let mut files = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            let before = files.len();
            collect(p, &mut files).map_err(|e| format!("{}: {e}", p.display()))?;
            if files.len() == before {
                return Err(format!(
                    "{}: no .pkt scripts in this directory",
                    p.display()
                ));
            }
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    let mut out = io::stdout().lock();
    let mut counts = [0usize; 4];
    for f in &files {
        let (outcome, report) = match finack_packetdrill::parse_file(f) {
            Err(e) => (Outcome::ParseError(e.to_string()), None),
            Ok(script) => {
                let r = run_script(&script);
                let o = match (&r.outcome, r.unsupported.is_empty()) {
                    (Ok(()), true) => Outcome::Pass,
                    (Ok(()), false) => Outcome::Incomplete,
                    (Err(_), _) => Outcome::Fail,
                };
                (o, Some(r))
            }
        };
        let (label, idx) = match &outcome {
            Outcome::Pass => ("PASS", 0),
            Outcome::Incomplete => ("INCOMPLETE", 1),
            Outcome::Fail => ("FAIL", 2),
            Outcome::ParseError(_) => ("PARSE ERROR", 3),
        };
        counts[idx] += 1;
        let _ = writeln!(out, "{label:<11} {}", f.display());
        match (&outcome, &report) {
            (Outcome::ParseError(e), _) => {
                let _ = writeln!(out, "    {e}");
            }
            (Outcome::Fail, Some(r)) => print_failure(&mut out, f, r),
            (Outcome::Incomplete, Some(r)) => {
                for u in &r.unsupported {
                    let _ = writeln!(out, "    unchecked: {u}");
                }
            }
            _ => {}
        }
        if args.verbose {
            if let Some(r) = &report {
                let _ = writeln!(out, "    events run: {}", r.events_run);
                if !matches!(outcome, Outcome::Incomplete) {
                    for u in &r.unsupported {
                        let _ = writeln!(out, "    unchecked: {u}");
                    }
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} scripts: {} passed, {} incomplete, {} failed, {} did not parse",
        files.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    Ok(counts[0] == files.len())
}

/// The failure message (which already holds the expected and the actual
/// packet for packet mismatches) and the script line it is about.
fn print_failure(out: &mut impl Write, file: &Path, r: &Report) {
    let Err(f) = &r.outcome else { return };
    let mut lines = f.message.lines();
    let _ = writeln!(out, "    line {}: {}", f.line, lines.next().unwrap_or(""));
    for l in lines {
        let _ = writeln!(out, "    {}", l.trim_start());
    }
    let text = std::fs::read_to_string(file).ok();
    if let Some(src) = text
        .as_deref()
        .and_then(|t| t.lines().nth((f.line as usize).saturating_sub(1)))
    {
        let _ = writeln!(out, "    script:   {}", src.trim());
    }
}

/// All `.pkt` files under `dir`, sorted.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, files)?;
        } else if p.extension().is_some_and(|x| x == "pkt") {
            files.push(p);
        }
    }
    Ok(())
}
