//! `nstat ... [| grep ...]...` commands, answered from the engine's
//! counters under their Linux names (`Stats::linux_counters`). Like nstat,
//! a run prints what each counter gained since the history it keeps and
//! then makes the current values the history (`-n`: the history only, no
//! output; `-s`: no history update); counters that did not move are left
//! out unless `-z`. A counter finack does not keep is never printed, so a
//! script that looks for it fails rather than passes.

use std::collections::HashMap;

use super::shell::shell_words;
use super::ss::grep_stages;
use super::*;

/// The counters of the Tcp MIB (`/proc/net/snmp`), which nstat prefixes
/// with `Tcp`; the others are `TcpExt` (`/proc/net/netstat`).
const TCP_MIB: &[&str] = &[
    "ActiveOpens",
    "PassiveOpens",
    "AttemptFails",
    "EstabResets",
    "CurrEstab",
    "InSegs",
    "OutSegs",
    "RetransSegs",
    "InErrs",
    "OutRsts",
    "InCsumErrors",
];

/// The values nstat last recorded, by nstat name.
pub(super) type History = HashMap<String, u64>;

impl Runner {
    /// Runs `nstat [-n] [-s] [-z] [-a] [| grep ...]...`: `None` when `cmd`
    /// is not an nstat command, `Ok(true)` when the pipeline printed a
    /// line (or `-n`), `Err` for a part not modelled.
    pub(super) fn nstat(&mut self, cmd: &str) -> Option<Result<bool, String>> {
        let mut stages = cmd.split('|').map(str::trim);
        let words = shell_words(stages.next().unwrap_or(""));
        if words.first().map(String::as_str) != Some("nstat") {
            return None;
        }
        let (mut quiet, mut keep, mut zeros, mut absolute) = (false, false, false, false);
        for w in &words[1..] {
            match w.as_str() {
                "-n" | "--nooutput" => quiet = true,
                "-s" | "--noupdate" => keep = true,
                "-z" | "--zeros" => zeros = true,
                "-a" | "--ignore" => absolute = true,
                other => return Some(Err(format!("nstat: option '{other}' is not modelled"))),
            }
        }
        let now: Vec<(String, u64)> = self
            .ep
            .stats()
            .linux_counters()
            .iter()
            .map(|&(name, v)| {
                let mib = if TCP_MIB.contains(&name) {
                    "Tcp"
                } else {
                    "TcpExt"
                };
                (format!("{mib}{name}"), v)
            })
            .collect();
        let mut lines = Vec::new();
        for (name, v) in &now {
            let base = if absolute {
                0
            } else {
                self.nstat_history.get(name).copied().unwrap_or(0)
            };
            let delta = v.saturating_sub(base);
            if delta != 0 || zeros {
                lines.push(format!("{name:<31} {delta:<18} 0.0"));
            }
        }
        if !keep {
            self.nstat_history = now.into_iter().collect();
        }
        if quiet {
            return Some(Ok(true));
        }
        if let Err(why) = grep_stages(&mut lines, stages) {
            return Some(Err(why));
        }
        Some(Ok(!lines.is_empty()))
    }
}
