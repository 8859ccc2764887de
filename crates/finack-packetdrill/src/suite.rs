//! Running folders of scripts: the verdict of each (with the two runs of the
//! kernel selftests), the scope we measure, a short cause for every script
//! that does not pass, and the summary and `docs/conformance-linux.md` built
//! from them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::run::{ksft_modes, run_with, IpMode, Report, RunOptions};

/// What happened to one script.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every run matched and nothing was left unchecked (for an interpreter
    /// self-test: it failed with the message its `// Failure:` comment gives).
    Pass,
    /// Ran to the end, but something could not be checked.
    Incomplete,
    /// A mismatch (or, for a self-test, not the expected failure).
    Fail,
    /// The script could not be read or parsed.
    ParseError,
}

impl Verdict {
    /// The label of the table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Incomplete => "INCOMPLETE",
            Verdict::Fail => "FAIL",
            Verdict::ParseError => "PARSE ERROR",
        }
    }
}

/// One run of a script: the IP mode it ran in when the suite chose it (the
/// kernel selftests run twice), and its report.
#[derive(Clone, Debug)]
pub struct Run {
    /// `Some` for the runs of a selftest.
    pub mode: Option<IpMode>,
    /// The report.
    pub report: Report,
}

/// One script's result.
#[derive(Clone, Debug)]
pub struct ScriptResult {
    /// The script's file.
    pub path: PathBuf,
    /// The path below the suite's root, with `/` separators (the path given
    /// when the script was named directly).
    pub rel: String,
    /// The first component of `rel` (`master`, `linux-3.11`, ...).
    pub folder: String,
    /// False for Fast Open, zerocopy and AccECN scripts, which are not counted.
    pub in_scope: bool,
    /// The message of the script's `// Failure:` comment: an interpreter
    /// self-test, which must fail with it.
    pub expected_failure: Option<String>,
    /// The parse error, if any.
    pub parse_error: Option<String>,
    /// The runs (one, or two for a kernel selftest).
    pub runs: Vec<Run>,
    /// The verdict over all runs.
    pub verdict: Verdict,
}

/// True for the scripts the measure leaves out: TCP Fast Open (RFC 7413),
/// MSG_ZEROCOPY and AccECN are not implemented by finack.
pub fn in_scope(rel: &str) -> bool {
    let l = rel.to_ascii_lowercase();
    !["fastopen", "zerocopy", "accecn"]
        .iter()
        .any(|w| l.contains(w))
}

/// True when `path` is a kernel selftest: its folder holds `ksft_runner.sh`,
/// which runs each script in IPv4 and in IPv6.
pub fn is_ksft(path: &Path) -> bool {
    path.parent()
        .is_some_and(|d| d.join("ksft_runner.sh").is_file())
}

/// Runs one script. With `opts` the script runs once with those options;
/// without, a kernel selftest runs in both modes of its `ksft_runner.sh` and
/// passes only when both runs pass, any other script runs once with its own
/// options.
pub fn run_file(path: &Path, rel: &str, opts: Option<&RunOptions>) -> ScriptResult {
    let folder = rel.split('/').next().unwrap_or(rel).to_string();
    let mut res = ScriptResult {
        path: path.to_path_buf(),
        rel: rel.to_string(),
        folder,
        in_scope: in_scope(rel),
        expected_failure: None,
        parse_error: None,
        runs: Vec::new(),
        verdict: Verdict::ParseError,
    };
    let script = match crate::parse_file(path) {
        Ok(s) => s,
        Err(e) => {
            res.parse_error = Some(e.to_string());
            return res;
        }
    };
    res.expected_failure = script.comments.iter().find_map(|c| {
        c.text
            .strip_prefix("Failure: ")
            .map(|m| m.replace("\\(", "(").replace("\\)", ")"))
    });
    res.runs = match opts {
        Some(o) => vec![Run {
            mode: None,
            report: run_with(&script, o),
        }],
        None if is_ksft(path) => ksft_modes(path.parent(), &script)
            .into_iter()
            .map(|(mode, o)| Run {
                mode: Some(mode),
                report: run_with(&script, &o),
            })
            .collect(),
        None => vec![Run {
            mode: None,
            report: run_with(&script, &RunOptions::new()),
        }],
    };
    let one = |r: &Report| match (&res.expected_failure, &r.outcome) {
        // packetdrill's own self-tests: passing them would be the bug.
        (Some(want), Err(f)) if f.message.ends_with(want.as_str()) => Verdict::Pass,
        (Some(_), _) => Verdict::Fail,
        (None, Ok(())) if r.unsupported.is_empty() => Verdict::Pass,
        (None, Ok(())) => Verdict::Incomplete,
        (None, Err(_)) => Verdict::Fail,
    };
    let verdicts: Vec<Verdict> = res.runs.iter().map(|r| one(&r.report)).collect();
    res.verdict = if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if verdicts.contains(&Verdict::Incomplete) {
        Verdict::Incomplete
    } else {
        Verdict::Pass
    };
    res
}

impl ScriptResult {
    /// The verdict of each run, when they differ (a selftest passing in one
    /// mode only).
    pub fn run_verdicts(&self) -> Vec<(IpMode, Verdict)> {
        self.runs
            .iter()
            .filter_map(|r| {
                let v = match (&self.expected_failure, &r.report.outcome) {
                    (Some(w), Err(f)) if f.message.ends_with(w.as_str()) => Verdict::Pass,
                    (Some(_), _) | (None, Err(_)) => Verdict::Fail,
                    (None, Ok(())) if r.report.unsupported.is_empty() => Verdict::Pass,
                    (None, Ok(())) => Verdict::Incomplete,
                };
                r.mode.map(|m| (m, v))
            })
            .collect()
    }

    /// A short key for why the script does not pass (`None` when it does):
    /// the kind of mismatch (`flags: expected P. got .`, `TCP options`,
    /// `timing`, `tcpi_snd_cwnd`, `unsupported syscall X`, ...) or the first
    /// thing left unchecked. For a selftest that fails only in IPv6 (or only
    /// in IPv4) the key says so.
    pub fn cause(&self) -> Option<String> {
        if let Some(e) = &self.parse_error {
            return Some(format!(
                "parse error: {}",
                short(e.rsplit(": ").next().unwrap_or(e))
            ));
        }
        if self.verdict == Verdict::Pass {
            return None;
        }
        let per_run = self.run_verdicts();
        let bad: Vec<&Run> = self
            .runs
            .iter()
            .zip(0..)
            .filter(|(_, i)| per_run.get(*i).is_none_or(|(_, v)| *v != Verdict::Pass))
            .map(|(r, _)| r)
            .collect();
        let first = bad.first()?;
        let key = match (&self.expected_failure, &first.report.outcome) {
            (Some(_), Ok(())) => "self-test passed (it must fail)".to_string(),
            (Some(w), Err(f)) if !f.message.ends_with(w.as_str()) => {
                format!("self-test failed otherwise: {}", failure_key(&f.message))
            }
            (_, Err(f)) => failure_key(&f.message),
            (_, Ok(())) => format!(
                "unchecked: {}",
                unchecked_key(first.report.unsupported.first().map_or("", String::as_str))
            ),
        };
        match (bad.len(), first.mode) {
            (1, Some(m)) if self.runs.len() > 1 => Some(format!("{} only: {key}", m.name())),
            _ => Some(key),
        }
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 70 {
        let cut: String = s.chars().take(67).collect();
        format!("{cut}...")
    } else {
        s.to_string()
    }
}

/// The cause key of a failure message.
pub fn failure_key(message: &str) -> String {
    let first = message.lines().next().unwrap_or("");
    if let Some(rest) = first.strip_prefix("bad outbound packet: ") {
        let kind = rest.split(':').next().unwrap_or(rest);
        return match kind {
            "flags" => short(rest),
            "timing error" => "timing".into(),
            "TCP options" => "TCP options".into(),
            "sequence number" => "sequence number".into(),
            "payload length" => "payload length".into(),
            "ack" => "ack number".into(),
            "window" => "window".into(),
            _ if rest.starts_with("bad outbound TCP timestamp") => "TS val".into(),
            other => short(other),
        };
    }
    if first.starts_with("bad outbound TCP timestamp") {
        return "TS val".into();
    }
    if first.starts_with("error handling packet: Timed out waiting for packet") {
        return "timed out waiting for a packet".into();
    }
    if let Some(rest) = first.strip_prefix("%{}% ") {
        if let Some(name) = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| w.starts_with("tcpi_"))
        {
            return name.to_string();
        }
        return short(rest);
    }
    if let Some(name) = first.strip_prefix("unsupported system call ") {
        return format!("unsupported syscall {name}");
    }
    for p in [
        "setsockopt: unsupported option ",
        "getsockopt: unsupported option ",
    ] {
        if let Some(name) = first.strip_prefix(p) {
            return format!("unsupported option {name}");
        }
    }
    if let Some(i) = first.find(" needs engine support") {
        return format!("needs engine support: {}", short(&first[..i]));
    }
    if let Some(rest) = first.strip_prefix("runtime error in ") {
        let call = rest.split(' ').next().unwrap_or(rest);
        return format!("{call}() result");
    }
    if first.starts_with("blocking system call") || first.starts_with("blocking ") {
        let call = first
            .split_whitespace()
            .find(|w| !["blocking", "system", "call"].contains(w))
            .unwrap_or("call");
        return format!("blocking {call}() timing");
    }
    if first.contains("would block") {
        return short(first);
    }
    short(first)
}

/// The cause key of an unchecked item: without its line number and `init:`.
fn unchecked_key(u: &str) -> String {
    let mut s = u;
    if let Some(rest) = s.strip_prefix("line ") {
        s = rest.split_once(": ").map_or(rest, |(_, r)| r);
    }
    s = s.strip_prefix("init: ").unwrap_or(s);
    short(s)
}

/// Every `.pkt` file under `dir`, sorted, with its path below `dir`.
pub fn collect(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out)?;
            } else if p.extension().is_some_and(|x| x == "pkt") {
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((p, rel));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Runs every script under `dir` (each as [`run_file`] without options).
pub fn run_dir(dir: &Path) -> std::io::Result<Vec<ScriptResult>> {
    Ok(collect(dir)?
        .into_iter()
        .map(|(p, rel)| run_file(&p, &rel, None))
        .collect())
}

/// Pass / total per top-level folder over the in-scope scripts, in the
/// order the folders first appear.
pub fn per_folder(results: &[ScriptResult]) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for r in results.iter().filter(|r| r.in_scope) {
        let i = match out.iter().position(|(f, _, _)| *f == r.folder) {
            Some(i) => i,
            None => {
                out.push((r.folder.clone(), 0, 0));
                out.len() - 1
            }
        };
        out[i].2 += 1;
        if r.verdict == Verdict::Pass {
            out[i].1 += 1;
        }
    }
    out
}

/// Non-passing in-scope scripts grouped by cause, the largest groups first.
pub fn by_cause(results: &[ScriptResult]) -> Vec<(String, Vec<&ScriptResult>)> {
    let mut map: BTreeMap<String, Vec<&ScriptResult>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.in_scope) {
        if let Some(c) = r.cause() {
            map.entry(c).or_default().push(r);
        }
    }
    let mut v: Vec<(String, Vec<&ScriptResult>)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The text of `finack packetdrill --summary`.
pub fn summary_text(results: &[ScriptResult]) -> String {
    let mut s = String::new();
    let (mut pass, mut total) = (0, 0);
    let _ = writeln!(s, "{:<20} {:>6} {:>6}", "folder", "pass", "total");
    for (folder, p, t) in per_folder(results) {
        let _ = writeln!(s, "{folder:<20} {p:>6} {t:>6}");
        pass += p;
        total += t;
    }
    let _ = writeln!(s, "{:<20} {pass:>6} {total:>6}", "all (in scope)");
    let out = results.iter().filter(|r| !r.in_scope).count();
    let _ = writeln!(
        s,
        "not counted: Fast Open / zerocopy / AccECN: {out} scripts"
    );
    let _ = writeln!(s, "\nnot passing, by cause:");
    for (cause, rs) in by_cause(results) {
        let _ = writeln!(s, "{:>4}  {cause}", rs.len());
        for r in rs {
            let _ = writeln!(s, "        {} ({})", r.rel, r.verdict.label());
        }
    }
    s
}

/// `docs/conformance-linux.md`: the per-folder table, the scripts that pass
/// and one line per in-scope script that does not, with its cause.
pub fn conformance_markdown(results: &[ScriptResult]) -> String {
    let mut s = String::new();
    s.push_str(
        "# packetdrill conformance (Linux scripts)\n\n\
         Generated by `finack packetdrill --markdown ../shared/packetdrill` (the \
         test `conformance_linux_doc_is_current` in \
         crates/finack-packetdrill/tests/run_scripts.rs fails when this file is \
         stale; run it with `FINACK_UPDATE_CONFORMANCE=1` to rewrite it). Do not \
         edit by hand.\n\n\
         Scripts whose path names Fast Open, zerocopy or AccECN are not counted. A \
         kernel selftest (`linux-selftests/`) runs twice, in IPv4 and in IPv6 with \
         the flags of its `ksft_runner.sh`, and passes only when both runs pass \
         (one with an `--ip_version` line of its own runs in that mode only, as \
         the kernel's runner does). \
         The interpreter's self-tests pass when they fail with the message of their \
         `// Failure:` comment. INCOMPLETE means the script ran to the end with \
         something left unchecked.\n\n",
    );
    s.push_str("| folder | pass | total |\n|---|---:|---:|\n");
    let (mut pass, mut total) = (0, 0);
    for (folder, p, t) in per_folder(results) {
        let _ = writeln!(s, "| {folder} | {p} | {t} |");
        pass += p;
        total += t;
    }
    let _ = writeln!(s, "| **all** | **{pass}** | **{total}** |");
    let out = results.iter().filter(|r| !r.in_scope).count();
    let _ = writeln!(
        s,
        "\nNot counted (Fast Open / zerocopy / AccECN): {out} scripts.\n"
    );
    s.push_str("## Causes\n\n| scripts | cause |\n|---:|---|\n");
    for (cause, rs) in by_cause(results) {
        let _ = writeln!(s, "| {} | {} |", rs.len(), md(&cause));
    }
    s.push_str("\n## Passing\n\n");
    for r in results
        .iter()
        .filter(|r| r.in_scope && r.verdict == Verdict::Pass)
    {
        let _ = writeln!(s, "- PASS `{}`", r.rel);
    }
    s.push_str("\n## Not passing\n\n");
    for r in results.iter().filter(|r| r.in_scope) {
        if let Some(c) = r.cause() {
            let modes: Vec<String> = r
                .run_verdicts()
                .iter()
                .map(|(m, v)| format!("{} {}", m.name(), v.label()))
                .collect();
            let modes = if modes.len() > 1 && r.run_verdicts().windows(2).any(|w| w[0].1 != w[1].1)
            {
                format!(" ({})", modes.join(", "))
            } else {
                String::new()
            };
            let _ = writeln!(s, "- {} `{}`: {}{modes}", r.verdict.label(), r.rel, md(&c));
        }
    }
    s
}

/// The scripts a `docs/conformance-linux.md` text lists as passing.
pub fn passing_in_markdown(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("- PASS `"))
        .filter_map(|l| l.strip_suffix('`'))
        .map(str::to_string)
        .collect()
}

/// Table cells must not hold a bare `|`.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keys() {
        let k = |m: &str| failure_key(m);
        assert_eq!(
            k("bad outbound packet: flags: expected P. got .\n  expected: x"),
            "flags: expected P. got ."
        );
        assert_eq!(
            k("bad outbound packet: timing error: expected at 1 s"),
            "timing"
        );
        assert_eq!(
            k("bad outbound packet: TCP options: expected <> got <>"),
            "TCP options"
        );
        assert_eq!(
            k("%{}% assertion failed: tcpi_snd_cwnd == 12"),
            "tcpi_snd_cwnd"
        );
        assert_eq!(k("unsupported system call foo"), "unsupported syscall foo");
        assert_eq!(
            k("setsockopt: unsupported option SO_FOO"),
            "unsupported option SO_FOO"
        );
        assert_eq!(
            k("setsockopt TCP_CORK needs engine support"),
            "needs engine support: setsockopt TCP_CORK"
        );
        assert_eq!(
            k("runtime error in write call: Expected result -1 but got 1000"),
            "write() result"
        );
        assert_eq!(
            k("error handling packet: Timed out waiting for packet (next: x)"),
            "timed out waiting for a packet"
        );
        assert_eq!(
            unchecked_key("line 12: command not run: ss -4"),
            "command not run: ss -4"
        );
        assert_eq!(unchecked_key("init: sysctl x"), "sysctl x");
    }

    #[test]
    fn scope_and_markdown_pass_list() {
        assert!(in_scope("master/tcp/close/x.pkt"));
        assert!(!in_scope("master/tcp/fastopen/x.pkt"));
        assert!(!in_scope("linux-selftests/tcp_AccECN_x.pkt"));
        assert!(!in_scope("master/tcp/zerocopy/x.pkt"));
        let md = "- PASS `a/b.pkt`\n- FAIL `c.pkt`: x\n- PASS `d.pkt`\n";
        assert_eq!(passing_in_markdown(md), vec!["a/b.pkt", "d.pkt"]);
    }
}
