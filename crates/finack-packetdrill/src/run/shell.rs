//! The shell commands of scripts (the init command and back-quoted events).
//!
//! packetdrill runs them with /bin/sh and fails the script when one exits
//! non-zero. The runner has no shell and no kernel: it carries out the
//! commands whose effect it can model (a sysctl that maps onto a
//! [`Config`] field, a route's MTU, the files `dd` makes, `ss` answered from
//! the engine's connections) and reports every other one as unchecked, with
//! the reason.

use super::config::{apply_sysctl_for, DEFAULTS_SH};
use super::files::file_command;
use super::*;

/// What the runner made of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Carried out, or known to change nothing finack does.
    Done,
    /// Not carried out: why.
    Unchecked(String),
}

/// Where a command runs.
pub(super) struct Ctx {
    pub(super) mode: IpMode,
    /// The script side's address (for `ip route`).
    pub(super) remote: Option<IpAddr>,
    /// True for a back-quoted event: the endpoint exists already, and its
    /// configuration can no longer change.
    pub(super) live: bool,
    /// The script was written for Linux 3.11, whose sysctls differ (see
    /// `config::apply_sysctl_for`).
    pub(super) linux_3_11: bool,
}

/// The simple commands of a shell text: lines joined at a trailing `\`,
/// split at `;`, `&&` and newlines, without comments and redirections to
/// /dev/null (which only hide output).
pub(super) fn commands(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for part in line.split(';').flat_map(|p| p.split("&&")) {
            let cleaned = part
                .replace("2>/dev/null", "")
                .replace("> /dev/null 2>&1", "")
                .replace(">/dev/null 2>&1", "")
                .replace("> /dev/null", "")
                .replace(">/dev/null", "");
            let cleaned = cleaned.trim();
            if !cleaned.is_empty() {
                out.push(cleaned.to_string());
            }
        }
    }
    out
}

/// The `name=value` settings of a `sysctl` command (`-q`, `-e`, `-w` taken)
/// or of packetdrill's `set_sysctls.py` (`/proc/sys/net/ipv4/name=value`),
/// with names as in /proc/sys/net/ipv4. Quotes around values are removed and
/// `$((a*b))` arithmetic is evaluated, as the shell would.
fn sysctl_settings(cmd: &str) -> Option<Result<Vec<(String, String)>, String>> {
    let mut words = shell_words(cmd).into_iter();
    let first = words.next()?;
    let prog = first.rsplit('/').next().unwrap_or(&first);
    if prog != "sysctl" && prog != "set_sysctls.py" {
        return None;
    }
    let mut out = Vec::new();
    for w in words {
        if w.starts_with('-') {
            continue;
        }
        let Some((key, value)) = w.split_once('=') else {
            return Some(Err(format!("cannot read sysctl '{w}'")));
        };
        let key = key.trim_start_matches("/proc/sys/").replace('/', ".");
        // net.ipv4 names go bare (as in /proc/sys/net/ipv4), net.core ones
        // keep their prefix.
        let name = match key.strip_prefix("net.ipv4.") {
            Some(name) => name.to_string(),
            None if key.starts_with("net.core.") => key,
            None => return Some(Err(format!("sysctl {key}={value} has no Config field"))),
        };
        out.push((name, arith(value)));
    }
    Some(Ok(out))
}

/// Words with single and double quotes removed (no other expansion).
pub(super) fn shell_words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in cmd.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// `$((a*b*...))` products in a value, evaluated.
fn arith(value: &str) -> String {
    let mut s = value.to_string();
    while let Some(start) = s.find("$((") {
        let Some(len) = s[start..].find("))") else {
            break;
        };
        let inner = &s[start + 3..start + len];
        let product: Option<u64> = inner
            .split('*')
            .map(|f| f.trim().parse::<u64>().ok())
            .try_fold(1u64, |acc, f| f.and_then(|f| acc.checked_mul(f)));
        let Some(v) = product else {
            break;
        };
        s.replace_range(start..start + len + 2, &v.to_string());
    }
    s
}

/// Carries out one command that concerns the engine's configuration. Used
/// for the init command (`ctx.live` false); for a back-quoted event, see
/// `Runner::command`.
pub(super) fn config_command(cfg: &mut Config, cmd: &str, ctx: &Ctx) -> Outcome {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let prog = words
        .first()
        .map_or("", |w| w.rsplit('/').next().unwrap_or(w));
    if prog == "defaults.sh" {
        // packetdrill's gtests/net/common/defaults.sh (and the selftests'
        // copy). Besides the sysctls it flushes cached TCP metrics and puts
        // a pfifo qdisc on the tun device: finack keeps no metrics, and
        // under pfifo nothing is paced.
        cfg.pacing = finack_core::Pacing::Off;
        let mut why = Vec::new();
        for (name, value) in DEFAULTS_SH {
            if let Err(e) = apply_sysctl_for(cfg, name, value, ctx.linux_3_11) {
                why.push(format!("defaults.sh: {e}"));
            }
        }
        return if why.is_empty() {
            Outcome::Done
        } else {
            Outcome::Unchecked(why.join("; "))
        };
    }
    if let Some(settings) = sysctl_settings(cmd) {
        let settings = match settings {
            Ok(s) => s,
            Err(e) => return Outcome::Unchecked(e),
        };
        // While the script runs too: the runner hands the new configuration
        // to the endpoint, which reads it from then on as Linux reads a
        // sysctl (Endpoint::set_config).
        for (name, value) in settings {
            if let Err(e) = apply_sysctl_for(cfg, &name, &value, ctx.linux_3_11) {
                return Outcome::Unchecked(e);
            }
        }
        return Outcome::Done;
    }
    if words.first() == Some(&"ethtool") {
        // `ethtool -K tun0 tso off gso off [gro off lro off]`: finack builds
        // no TSO/GSO super-packets and coalesces nothing on receive; it sends
        // one segment per packet, which turning the offloads off asks for.
        let ok = words.len() >= 5
            && words[1] == "-K"
            && words[3..].chunks(2).all(|p| {
                p.len() == 2 && matches!(p[0], "tso" | "gso" | "gro" | "lro") && p[1] == "off"
            });
        return if ok {
            Outcome::Done
        } else {
            Outcome::Unchecked(format!("ethtool command not modelled: {cmd}"))
        };
    }
    if words.first() == Some(&"tc") {
        let mut next = cfg.clone();
        let done = tc(&mut next, &words);
        if ctx.live && next != *cfg {
            return Outcome::Unchecked(format!(
                "{cmd} while the script runs: the endpoint's Config cannot change once it exists"
            ));
        }
        *cfg = next;
        return done;
    }
    if words.first() == Some(&"ip") {
        return ip(cfg, &words, ctx);
    }
    if cmd.starts_with("/tmp/sysctl_restore_") && cmd.ends_with(".sh") {
        // packetdrill's set_sysctls.py writes a script that restores the
        // machine's sysctls after the test; the runner's endpoint is thrown
        // away after the script, so there is nothing to restore.
        return Outcome::Done;
    }
    if words.first() == Some(&"echo") && cmd.contains("/sys/module/tcp_cubic/parameters/") {
        return cubic_param(cfg, &words, ctx);
    }
    if file_command(cmd).is_some() {
        // Carried out by the runner (files.rs).
        return Outcome::Done;
    }
    Outcome::Unchecked(format!("command not run: {cmd}"))
}

/// `echo VALUE > /sys/module/tcp_cubic/parameters/NAME`: CUBIC's writable
/// module parameters, onto `Config::cubic`.
fn cubic_param(cfg: &mut Config, words: &[&str], ctx: &Ctx) -> Outcome {
    let (value, path) = match words {
        [_, value, ">", path] => (*value, *path),
        _ => return Outcome::Unchecked(format!("command not run: {}", words.join(" "))),
    };
    let param = path.rsplit('/').next().unwrap_or(path);
    let Ok(v) = value.parse::<u32>() else {
        return Outcome::Unchecked(format!(
            "CUBIC module parameter {param}: bad value '{value}'"
        ));
    };
    let mut next = cfg.clone();
    let c = &mut next.cubic;
    match param {
        "fast_convergence" => c.fast_convergence = v != 0,
        "beta" => c.beta = v,
        "tcp_friendliness" => c.tcp_friendliness = v != 0,
        "hystart" => c.hystart = v != 0,
        "hystart_detect" => c.hystart_detect = (v & 3) as u8,
        "hystart_low_window" => c.hystart_low_window = v,
        "hystart_ack_delta_us" => c.hystart_ack_delta_us = v,
        _ => {
            return Outcome::Unchecked(format!(
                "CUBIC module parameter {param} has no Config field"
            ))
        }
    }
    if ctx.live && next != *cfg {
        return Outcome::Unchecked(format!(
            "CUBIC module parameter {param}={value} while the script runs: the \
             endpoint's Config cannot change once it exists"
        ));
    }
    *cfg = next;
    Outcome::Done
}

/// `tc qdisc ... dev tun0 root QDISC`: pfifo and pfifo_fast only queue, and
/// finack hands every packet over at once, so they change nothing; fq paces,
/// which finack does not model; a queue limit of 0 drops every packet.
fn tc(cfg: &mut Config, words: &[&str]) -> Outcome {
    let cmd = words.join(" ");
    if words.get(1) != Some(&"qdisc") {
        return Outcome::Unchecked(format!("command not run: {cmd}"));
    }
    if matches!(words.get(2), Some(&"delete" | &"del")) {
        return Outcome::Done;
    }
    let qdisc = words
        .iter()
        .position(|w| *w == "root")
        .and_then(|i| words.get(i + 1));
    let limit = words
        .iter()
        .position(|w| *w == "limit")
        .and_then(|i| words.get(i + 1));
    match (qdisc, limit) {
        (Some(&"pfifo" | &"pfifo_fast"), Some(&"0")) => Outcome::Unchecked(
            "tc qdisc with limit 0 (every packet dropped locally) is not modelled".into(),
        ),
        (Some(&"pfifo" | &"pfifo_fast"), _) => {
            cfg.pacing = finack_core::Pacing::Off;
            Outcome::Done
        }
        (Some(&"fq"), None) if words.last() == Some(&"fq") => {
            // `tc qdisc replace dev DEV root fq` with fq's defaults: Linux
            // TCP stamps departure times and fq holds packets until then.
            cfg.pacing = finack_core::Pacing::Fq;
            Outcome::Done
        }
        (Some(&"fq"), _) => Outcome::Unchecked(format!("fq parameters not modelled: {cmd}")),
        _ => Outcome::Unchecked(format!("command not run: {cmd}")),
    }
}

/// `ip tcp_metrics flush all` (finack keeps no metrics) and
/// `ip [-6] route change ADDR via GW dev tun0 advmss A mtu lock M
/// [initcwnd N]` for the script side's address: the route's MTU becomes
/// Config::mtu when the advertised MSS is what that MTU gives (M less the IP
/// and TCP headers), and initcwnd becomes the initial window.
fn ip(cfg: &mut Config, words: &[&str], ctx: &Ctx) -> Outcome {
    let cmd = words.join(" ");
    let w: Vec<&str> = words.iter().copied().filter(|w| *w != "-6").collect();
    if w.get(1..4) == Some(&["tcp_metrics", "flush", "all"]) {
        return Outcome::Done;
    }
    // `ip link set [dev] tun0 mtu N`: the device's MTU, from which the MSS
    // the endpoint announces derives (Config::mtu), before the endpoint
    // exists.
    if w.get(1..3) == Some(&["link", "set"]) {
        let rest: Vec<&str> = w[3..].iter().copied().filter(|x| *x != "dev").collect();
        return match (rest.as_slice(), ctx.live) {
            ([_dev, "mtu", m], false) => match m.parse::<u16>() {
                Ok(m) if m >= 68 => {
                    cfg.mtu = m;
                    Outcome::Done
                }
                _ => Outcome::Unchecked(format!("{cmd}: bad MTU")),
            },
            ([_, "mtu", _], true) => Outcome::Unchecked(format!(
                "{cmd}: device changes while the script runs are not modelled"
            )),
            _ => Outcome::Unchecked(format!("command not run: {cmd}")),
        };
    }
    if w.get(1..3) != Some(&["route", "change"]) {
        return Outcome::Unchecked(format!("command not run: {cmd}"));
    }
    let dst: Option<IpAddr> = w.get(3).and_then(|a| a.parse().ok());
    if dst.is_none() || dst != ctx.remote {
        return Outcome::Unchecked(format!(
            "{cmd}: the route is not to the script side's address"
        ));
    }
    if ctx.live {
        return Outcome::Unchecked(format!(
            "{cmd}: route changes while the script runs are not modelled"
        ));
    }
    let after = |key: &str| {
        w.iter()
            .position(|x| *x == key)
            .and_then(|i| w.get(i + 1))
            .copied()
    };
    let mut mtu = after("mtu").and_then(|v| v.parse::<u16>().ok());
    if after("mtu") == Some("lock") {
        mtu = w
            .iter()
            .position(|x| *x == "lock")
            .and_then(|i| w.get(i + 1))
            .and_then(|v| v.parse().ok());
    }
    let advmss = after("advmss").and_then(|v| v.parse::<u16>().ok());
    let headers = if ctx.mode.wire_v6() { 60 } else { 40 };
    match (mtu, advmss) {
        (Some(m), Some(a)) if m.checked_sub(headers) == Some(a) => cfg.mtu = m,
        (Some(m), None) => cfg.mtu = m,
        _ => {
            return Outcome::Unchecked(format!(
                "{cmd}: an advmss other than the MTU's MSS has no Config field"
            ))
        }
    }
    if let Some(n) = after("initcwnd") {
        match n.parse::<u32>() {
            Ok(n) if n > 0 => cfg.initial_window = InitialWindow::Segments(n),
            _ => return Outcome::Unchecked(format!("{cmd}: bad initcwnd")),
        }
    }
    Outcome::Done
}

impl Runner {
    /// A back-quoted command event.
    pub(super) fn command(&mut self, line: u32, text: &str, later_checks: bool) -> Res<()> {
        for cmd in commands(text) {
            if let Some(fc) = file_command(&cmd) {
                self.file_command(fc);
                continue;
            }
            // `cat`/`grep` of /proc/net/tcp*, `nstat` and `ss` pipelines,
            // answered from the engine: true when they printed a line.
            let pipeline = self
                .proc_net_tcp(&cmd)
                .or_else(|| self.nstat(&cmd))
                .or_else(|| (cmd.split_whitespace().next() == Some("ss")).then(|| self.ss(&cmd)));
            match pipeline {
                Some(Ok(true)) => continue,
                Some(Ok(false)) => {
                    return fail(line, format!("command failed (no line matched): {cmd}"))
                }
                Some(Err(why)) => {
                    self.unsupported.push(format!("line {line}: {why}"));
                    continue;
                }
                None => {}
            }
            let mut cfg = self.ep.config().clone();
            let ctx = Ctx {
                mode: self.mode,
                remote: Some(self.remote_ip),
                live: true,
                linux_3_11: self.linux_3_11,
            };
            if let Some(drop) = live_qdisc_drops(&cmd) {
                // The device's queue takes packets again or refuses them all.
                self.ep.set_local_drop(drop);
                continue;
            }
            if let Some(route) = live_route_mtu(&cmd, &ctx) {
                match route {
                    Ok(mtu) => {
                        let conns: Vec<_> = self
                            .fds
                            .values()
                            .filter_map(|f| match f.sock {
                                super::Sock::Conn(c) => Some(c),
                                _ => None,
                            })
                            .collect();
                        for c in conns {
                            let _ = self.ep.set_route_mtu(self.now, c, mtu);
                        }
                    }
                    Err(why) => self.unsupported.push(format!("line {line}: {why}")),
                }
                continue;
            }
            match config_command(&mut cfg, &cmd, &ctx) {
                Outcome::Done => {
                    if cfg != *self.ep.config() {
                        self.ep.set_config(cfg);
                    }
                }
                // A setting made after the last check cannot change what the
                // script saw (restoring sysctls at the end, say).
                Outcome::Unchecked(_) if !later_checks && is_setting(&cmd) => {}
                Outcome::Unchecked(why) => self.unsupported.push(format!("line {line}: {why}")),
            }
        }
        Ok(())
    }
}

/// `tc qdisc add|replace|change|delete dev tun0 root ...` while the script
/// runs, for the qdiscs that only queue (pfifo, pfifo_fast) or their
/// removal: whether the device now drops every packet handed to it (a queue
/// limit of 0, where Linux's qdisc answers `NET_XMIT_DROP`;
/// `Endpoint::set_local_drop`). `None` for other commands (fq, which paces,
/// stays unmodelled).
fn live_qdisc_drops(cmd: &str) -> Option<bool> {
    let w: Vec<&str> = cmd.split_whitespace().collect();
    if w.get(..2) != Some(&["tc", "qdisc"]) || !w.contains(&"root") {
        return None;
    }
    match w.get(2) {
        Some(&("delete" | "del")) => return Some(false),
        Some(&("add" | "replace" | "change")) => {}
        _ => return None,
    }
    let qdisc = w
        .iter()
        .position(|x| *x == "root")
        .and_then(|i| w.get(i + 1));
    if !matches!(qdisc, Some(&("pfifo" | "pfifo_fast"))) {
        return None;
    }
    let limit = w
        .iter()
        .position(|x| *x == "limit")
        .and_then(|i| w.get(i + 1));
    Some(limit == Some(&"0"))
}

/// `ip [-6] route change ADDR ... mtu [lock] M` to the script side's address
/// while the script runs: the route's new MTU, which the runner hands to its
/// connections (`Endpoint::set_route_mtu`; their advertised MSS was sent
/// already, so `advmss` no longer matters). `None` for other commands.
fn live_route_mtu(cmd: &str, ctx: &Ctx) -> Option<Result<u16, String>> {
    let w: Vec<&str> = cmd.split_whitespace().filter(|w| *w != "-6").collect();
    if w.get(..3) != Some(&["ip", "route", "change"]) {
        return None;
    }
    let dst: Option<IpAddr> = w.get(3).and_then(|a| a.parse().ok());
    if dst.is_none() || dst != ctx.remote {
        return Some(Err(format!(
            "{cmd}: the route is not to the script side's address"
        )));
    }
    let at = w.iter().position(|x| *x == "mtu")?;
    let value = match w.get(at + 1) {
        Some(&"lock") => w.get(at + 2),
        v => v,
    };
    Some(
        value
            .and_then(|v| v.parse::<u16>().ok())
            .filter(|m| *m >= 68)
            .ok_or_else(|| format!("{cmd}: bad mtu")),
    )
}

/// Commands that only change settings (sysctls, qdiscs, routes, module
/// parameters).
fn is_setting(cmd: &str) -> bool {
    sysctl_settings(cmd).is_some()
        || cmd.starts_with("tc ")
        || cmd.starts_with("ip ")
        || (cmd.starts_with("echo ") && (cmd.contains(" /proc/sys/") || cmd.contains(" /sys/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(live: bool) -> Ctx {
        Ctx {
            mode: IpMode::Ipv4,
            remote: Some("192.0.2.1".parse().unwrap()),
            live,
            linux_3_11: false,
        }
    }

    #[test]
    fn live_qdisc_commands() {
        assert_eq!(
            live_qdisc_drops("tc qdisc add dev tun0 root pfifo limit 0"),
            Some(true)
        );
        assert_eq!(
            live_qdisc_drops("tc qdisc replace dev tun0 root pfifo limit 0"),
            Some(true)
        );
        assert_eq!(
            live_qdisc_drops("tc qdisc replace dev tun0 root pfifo limit 100"),
            Some(false)
        );
        assert_eq!(
            live_qdisc_drops("tc qdisc delete dev tun0 root"),
            Some(false)
        );
        assert_eq!(live_qdisc_drops("tc qdisc replace dev tun0 root fq"), None);
        assert_eq!(live_qdisc_drops("ip route flush cache"), None);
    }

    #[test]
    fn command_splitting() {
        assert_eq!(
            commands("../common/defaults.sh\n # a comment\n ../common/set_sysctls.py \\\n /proc/sys/net/ipv4/tcp_sack=0\ntc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0"),
            vec![
                "../common/defaults.sh",
                "../common/set_sysctls.py   /proc/sys/net/ipv4/tcp_sack=0",
                "tc qdisc delete dev tun0 root",
                "tc qdisc add dev tun0 root pfifo limit 0"
            ]
        );
        assert_eq!(
            sysctl_settings("sysctl -q net.ipv4.tcp_rmem=\"4096 131072 $((32*1024*1024))\""),
            Some(Ok(vec![("tcp_rmem".into(), "4096 131072 33554432".into())]))
        );
        assert_eq!(
            sysctl_settings("sysctl -q net/ipv4/tcp_pacing_ss_ratio=200"),
            Some(Ok(vec![("tcp_pacing_ss_ratio".into(), "200".into())]))
        );
    }

    #[test]
    fn config_commands() {
        let mut cfg = Config::linux();
        assert_eq!(
            config_command(&mut cfg, "sysctl -q net.ipv4.tcp_sack=0", &ctx(false)),
            Outcome::Done
        );
        assert!(!cfg.sack);
        assert_eq!(
            config_command(
                &mut cfg,
                "sysctl -q net.ipv4.tcp_congestion_control=reno",
                &ctx(false)
            ),
            Outcome::Done
        );
        assert_eq!(cfg.congestion, CongestionAlgorithm::NewReno);
        // A current kernel has no early retransmit: 2 only turns TLP off.
        assert_eq!(
            config_command(
                &mut cfg,
                "sysctl -q net.ipv4.tcp_early_retrans=2",
                &ctx(false)
            ),
            Outcome::Done
        );
        assert!(!cfg.tail_loss_probe);
        // While the script runs, a sysctl changes the configuration the
        // runner then hands to the endpoint.
        assert_eq!(
            config_command(&mut cfg, "sysctl -q net.ipv4.tcp_sack=0", &ctx(true)),
            Outcome::Done
        );
        assert!(!cfg.sack);
        assert_eq!(
            config_command(
                &mut cfg,
                "sysctl -q net.ipv4.ip_local_port_range='40000 40001' net.core.somaxconn=8",
                &ctx(true)
            ),
            Outcome::Done
        );
        assert_eq!((cfg.ephemeral_ports, cfg.max_backlog), ((40000, 40001), 8));
        assert!(matches!(
            config_command(
                &mut cfg,
                "sysctl -q net.ipv4.ip_local_port_range='1000 40001'",
                &ctx(false)
            ),
            Outcome::Unchecked(w) if w.contains("1024")
        ));
        assert_eq!(
            config_command(
                &mut cfg,
                "sysctl -q net.ipv4.tcp_orphan_retries=0",
                &ctx(false)
            ),
            Outcome::Done
        );
        assert_eq!(cfg.orphan_retries, 8);
        assert_eq!(
            config_command(
                &mut cfg,
                "tc qdisc replace dev tun0 root pfifo_fast",
                &ctx(false)
            ),
            Outcome::Done
        );
        assert_eq!(
            config_command(&mut cfg, "tc qdisc replace dev tun0 root fq", &ctx(false)),
            Outcome::Done
        );
        assert_eq!(cfg.pacing, finack_core::Pacing::Fq);
        assert_eq!(
            config_command(
                &mut cfg,
                "ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 initcwnd 11",
                &ctx(false)
            ),
            Outcome::Done
        );
        assert_eq!(cfg.mtu, 640);
        assert_eq!(cfg.initial_window, InitialWindow::Segments(11));
        assert!(matches!(
            config_command(
                &mut cfg,
                "ip route change 192.0.2.9 via 192.168.0.2 dev tun0 mtu 900",
                &ctx(false)
            ),
            Outcome::Unchecked(_)
        ));
        assert!(matches!(
            config_command(
                &mut cfg,
                "ethtool -K tun0 tso off gso off gro off lro off",
                &ctx(false)
            ),
            Outcome::Done
        ));
        assert_eq!(
            config_command(
                &mut cfg,
                "echo 1 > /sys/module/tcp_cubic/parameters/hystart_detect",
                &ctx(false)
            ),
            Outcome::Done
        );
        assert_eq!(cfg.cubic.hystart_detect, 1);
        assert!(matches!(
            config_command(&mut cfg, "echo 50 > /sys/module/tcp_cubic/parameters/bic_scale", &ctx(false)),
            Outcome::Unchecked(w) if w.contains("bic_scale")
        ));
    }
}
