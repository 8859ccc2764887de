//! packetdrill's command-line options, given in a script's first lines
//! (`--name=value`) or by the caller (the command line of packetdrill, and
//! here [`RunOptions`]).
//!
//! packetdrill config.c: `parse_and_finalize_config()` applies the script's
//! options first and the command line's after them, so the command line wins;
//! `finalize_config()` then fills the addresses the options left unset with
//! the defaults of the IP version. The runner does the same.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ast::{Expr, Script};

/// Which IP flavour a script runs in (packetdrill's `--ip_version`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum IpMode {
    /// `ipv4`: AF_INET sockets, IPv4 on the wire (packetdrill's default).
    #[default]
    Ipv4,
    /// `ipv6`: AF_INET6 sockets, IPv6 on the wire.
    Ipv6,
    /// `ipv4-mapped-ipv6`: AF_INET6 sockets bound to IPv4-mapped addresses,
    /// IPv4 on the wire.
    Ipv4MappedIpv6,
}

impl IpMode {
    /// Parses packetdrill's spelling.
    pub fn parse(s: &str) -> Option<IpMode> {
        match s {
            "ipv4" => Some(IpMode::Ipv4),
            "ipv6" => Some(IpMode::Ipv6),
            "ipv4-mapped-ipv6" => Some(IpMode::Ipv4MappedIpv6),
            _ => None,
        }
    }

    /// packetdrill's spelling.
    pub fn name(self) -> &'static str {
        match self {
            IpMode::Ipv4 => "ipv4",
            IpMode::Ipv6 => "ipv6",
            IpMode::Ipv4MappedIpv6 => "ipv4-mapped-ipv6",
        }
    }

    /// True when packets on the wire are IPv6.
    pub fn wire_v6(self) -> bool {
        self == IpMode::Ipv6
    }
}

/// Options given by the caller, as on packetdrill's command line: they are
/// applied after the script's own `--name=value` lines and so override them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--name[=value]` options, without the dashes, in order.
    pub options: Vec<(String, Option<String>)>,
    /// `-D NAME=value` definitions: a syscall argument that is the word
    /// `NAME` stands for `value` (packetdrill lexer.l `word()`: a quoted value
    /// is a string, a number an integer, anything else a word).
    pub defines: Vec<(String, String)>,
}

impl RunOptions {
    /// No options: the script's own, over packetdrill's defaults.
    pub fn new() -> RunOptions {
        RunOptions::default()
    }

    /// Adds `--name=value`.
    pub fn option(mut self, name: &str, value: &str) -> RunOptions {
        self.options
            .push((name.to_string(), Some(value.to_string())));
        self
    }

    /// Adds `-D name=value`.
    pub fn define(mut self, name: &str, value: &str) -> RunOptions {
        self.defines.push((name.to_string(), value.to_string()));
        self
    }

    /// Reads one command-line word as packetdrill would: `--name=value`,
    /// `--name`, `-DNAME=value`. `Err` says what is wrong.
    pub fn push_arg(&mut self, arg: &str) -> Result<(), String> {
        let arg = arg.trim();
        if let Some(def) = arg
            .strip_prefix("-D")
            .or_else(|| arg.strip_prefix("--define="))
        {
            let (k, v) = def
                .trim()
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("bad definition '{arg}': expected -D NAME=value"))?;
            self.defines.push((k.to_string(), v.to_string()));
            return Ok(());
        }
        let Some(opt) = arg.strip_prefix("--") else {
            return Err(format!(
                "'{arg}' is not an option (--name=value or -D NAME=value)"
            ));
        };
        match opt.split_once('=') {
            Some((k, v)) => self.options.push((k.to_string(), Some(v.to_string()))),
            None => self.options.push((opt.to_string(), None)),
        }
        Ok(())
    }

    /// Parses a list of words such as `--ip_version=ipv6 -D X=1`, where `-D`
    /// may be followed by its definition as the next word.
    pub fn from_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<RunOptions, String> {
        let mut o = RunOptions::new();
        let mut it = args.into_iter().map(str::trim).filter(|a| !a.is_empty());
        while let Some(a) = it.next() {
            if a == "-D" {
                let def = it.next().ok_or("-D needs NAME=value")?;
                o.push_arg(&format!("-D{def}"))?;
            } else {
                o.push_arg(a)?;
            }
        }
        Ok(o)
    }
}

/// The runs of the Linux kernel selftests: tools/testing/selftests/net/
/// packetdrill/ksft_runner.sh runs every script once in IPv4 and once in
/// IPv6, except that a script naming one `--ip_version` of its own (ipv4 or
/// ipv6) runs in that mode only (the runner greps the script for the option
/// since Linux 6.13; before, such a script could not pass in the other mode,
/// as packetdrill lets the command line override the script). The flags of
/// each mode come from the runner in `dir`, in either of its two forms
/// (`readonly ipv4_args=('...' ...)`, or `declare -A ip_args=([ipv4]="..."
/// ...)`), else are those of the kernel's runner.
pub fn ksft_modes(dir: Option<&std::path::Path>, script: &Script) -> Vec<(IpMode, RunOptions)> {
    let text = dir.and_then(|d| std::fs::read_to_string(d.join("ksft_runner.sh")).ok());
    let args = |mode: &str, fallback: &[&str]| -> RunOptions {
        text.as_deref()
            .and_then(|t| runner_args(t, mode))
            .and_then(|a| RunOptions::from_args(a.iter().map(String::as_str)).ok())
            .unwrap_or_else(|| RunOptions::from_args(fallback.iter().copied()).unwrap_or_default())
    };
    let own = script
        .options
        .iter()
        .filter(|o| o.name == "ip_version")
        .filter_map(|o| o.value.as_deref().and_then(IpMode::parse))
        .collect::<Vec<_>>();
    let mut modes = vec![IpMode::Ipv4, IpMode::Ipv6];
    if let [m @ (IpMode::Ipv4 | IpMode::Ipv6)] = own[..] {
        modes.retain(|x| *x == m);
    }
    modes
        .into_iter()
        .map(|m| match m {
            IpMode::Ipv6 => (m, args("ipv6", KSFT_IPV6)),
            _ => (m, args("ipv4", KSFT_IPV4)),
        })
        .collect()
}

/// The words the runner passes to packetdrill in `mode` ("ipv4", "ipv6").
fn runner_args(text: &str, mode: &str) -> Option<Vec<String>> {
    bash_array(text, &format!("{mode}_args")).or_else(|| bash_assoc(text, "ip_args", mode))
}

const KSFT_IPV4: &[&str] = &[
    "--ip_version=ipv4",
    "--local_ip=192.168.0.1",
    "--gateway_ip=192.168.0.1",
    "--netmask_ip=255.255.0.0",
    "--remote_ip=192.0.2.1",
    "-D",
    "CMSG_LEVEL_IP=SOL_IP",
    "-D",
    "CMSG_TYPE_RECVERR=IP_RECVERR",
];

const KSFT_IPV6: &[&str] = &[
    "--ip_version=ipv6",
    "--mtu=1520",
    "--local_ip=fd3d:0a0b:17d6::1",
    "--gateway_ip=fd3d:0a0b:17d6:8888::1",
    "--remote_ip=fd3d:fa7b:d17d::1",
    "-D",
    "CMSG_LEVEL_IP=SOL_IPV6",
    "-D",
    "CMSG_TYPE_RECVERR=IPV6_RECVERR",
];

/// The quoted words of `readonly NAME=( '...' '...' )` in a bash script.
fn bash_array(text: &str, name: &str) -> Option<Vec<String>> {
    let start = text.find(&format!("{name}=("))?;
    let body = &text[start + name.len() + 2..];
    let body = &body[..body.find(')')?];
    let mut words = Vec::new();
    for part in body.split('\'').skip(1).step_by(2) {
        words.extend(part.split_whitespace().map(str::to_string));
    }
    Some(words)
}

/// The words of `[KEY]="..."` in a bash associative array `declare -A
/// NAME=( ... )`.
fn bash_assoc(text: &str, name: &str, key: &str) -> Option<Vec<String>> {
    let start = text.find(&format!("declare -A {name}=("))?;
    let body = &text[start..];
    let at = body.find(&format!("[{key}]=\""))?;
    let value = &body[at + key.len() + 4..];
    let value = &value[..value.find('"')?];
    Some(value.split_whitespace().map(str::to_string).collect())
}

/// What the options come to, after the script's and the caller's.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) mode: IpMode,
    /// The stack under test's address (IPv4 in the IPv4 and mapped modes).
    pub(super) local: IpAddr,
    /// The script side's address.
    pub(super) remote: IpAddr,
    pub(super) mtu: Option<u16>,
    pub(super) tolerance_us: i64,
    pub(super) ts_tick: Option<u32>,
    /// `--mss`: the GSO segment size of inbound TCP packets.
    pub(super) gso_mss: Option<u16>,
    pub(super) strict_segments: bool,
    pub(super) defines: Vec<(String, String)>,
}

/// packetdrill's defaults (config.c): the local IPv4 address is drawn from
/// 192.168.0.0/16 and the scripts' convention is 192.168.0.1; the remote one
/// is 192.0.2.1 (TEST-NET-1).
const DEFAULT_V4_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const DEFAULT_V4_REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// For IPv6 packetdrill draws the local address from fd3d:fa7b:d17d::/48
/// (a unique local prefix; the scripts written for it grep for
/// fd3d:fa7b:d17d::1) and uses 2001:db8::1 (documentation prefix) remotely.
const DEFAULT_V6_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1);
const DEFAULT_V6_REMOTE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// Folds the script's options and then the caller's into [`Settings`]; what
/// cannot be honoured is returned as unchecked, with the option named.
pub(super) fn settings(script: &Script, caller: &RunOptions) -> (Settings, Vec<String>) {
    let mut unchecked = Vec::new();
    let mut mode = None;
    let mut local: Option<String> = None;
    let mut remote: Option<String> = None;
    let mut s = Settings {
        mode: IpMode::Ipv4,
        local: IpAddr::V4(DEFAULT_V4_LOCAL),
        remote: IpAddr::V4(DEFAULT_V4_REMOTE),
        mtu: None,
        tolerance_us: super::DEFAULT_TOLERANCE_US,
        ts_tick: None,
        gso_mss: None,
        strict_segments: false,
        defines: caller.defines.clone(),
    };
    let script_opts = script
        .options
        .iter()
        .map(|o| (o.name.as_str(), o.value.as_deref()));
    let caller_opts = caller
        .options
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_deref()));
    for (name, value) in script_opts.chain(caller_opts) {
        let shown = format!(
            "--{name}{}",
            value.map(|v| format!("={v}")).unwrap_or_default()
        );
        let bad = |why: &str| format!("option {shown}: {why}");
        let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<i64>().ok());
        match name {
            "ip_version" => match value.and_then(IpMode::parse) {
                Some(m) => mode = Some(m),
                None => unchecked.push(bad("expected ipv4, ipv6 or ipv4-mapped-ipv6")),
            },
            "local_ip" => local = value.map(str::to_string),
            "remote_ip" => remote = value.map(str::to_string),
            // The runner has no routing: the script side is reached directly,
            // so the gateway and the netmask of the tun device change nothing.
            "gateway_ip" | "netmask_ip" => {}
            // packetdrill run_system_call.c: sendcall_may_free(): with
            // --send_omit_free the tool keeps each send call's user buffer
            // instead of freeing it (zerocopy sends may still reference it);
            // what the stack sends does not depend on it.
            "send_omit_free" => {}
            // packetdrill netdev.c sets the tun device's MTU; the MSS finack
            // announces derives from Config::mtu the same way.
            "mtu" => match num(value).filter(|v| (68..=65_535).contains(v)) {
                Some(v) => s.mtu = Some(v as u16),
                None => unchecked.push(bad("bad MTU")),
            },
            // packetdrill netdev.c: linux_tun_write() gives inbound TCP packets
            // the GSO size --mss (a virtio-net header); a longer packet
            // reaches Linux's TCP as one GSO packet of such segments. The
            // runner hands it to the engine as one packet with that size
            // (`Endpoint::handle_offloaded_packet`).
            "mss" => match num(value).filter(|v| (1..=65_535).contains(v)) {
                Some(v) => s.gso_mss = Some(v as u16),
                None => unchecked.push(bad("bad MSS")),
            },
            "tolerance_usecs" => match num(value).filter(|v| *v > 0) {
                Some(v) => s.tolerance_us = v,
                None => unchecked.push(bad("bad tolerance")),
            },
            // packetdrill run_packet.c checks outbound TSvals only when the
            // tick is given (0, the default, disables the check).
            "tcp_ts_tick_usecs" => match num(value).filter(|v| (0..=1_000_000).contains(v)) {
                Some(0) => s.ts_tick = None,
                Some(v) => s.ts_tick = Some(v as u32),
                None => unchecked.push(bad("bad tick")),
            },
            // packetdrill run_packet.c: an inbound TSecr that names no
            // outbound TSval is mapped by the offset between the first
            // script and live TSvals. The runner maps every echo that way.
            "tcp_ts_ecr_scaled" => {}
            // packetdrill run_packet.c: with --strict_segments an outbound
            // packet is not aggregated from several sniffed ones.
            "strict_segments" => s.strict_segments = true,
            "define" => match value.and_then(|v| v.split_once('=')) {
                Some((k, v)) if !k.is_empty() => s.defines.push((k.into(), v.into())),
                _ => unchecked.push(bad("expected NAME=value")),
            },
            _ => unchecked.push(bad("not supported by the runner")),
        }
    }
    s.mode = mode.unwrap_or_default();
    let v6 = s.mode.wire_v6();
    let parse = |text: &str| -> Option<IpAddr> { text.trim().parse().ok() };
    match local.as_deref() {
        None if v6 => s.local = IpAddr::V6(DEFAULT_V6_LOCAL),
        None => {}
        Some(t) => match parse(t).filter(|a| a.is_ipv6() == v6) {
            Some(a) => s.local = a,
            None => unchecked.push(format!(
                "option --local_ip={t}: not an {} address",
                if v6 { "IPv6" } else { "IPv4" }
            )),
        },
    }
    // A remote address may carry a prefix length (packetdrill's default
    // 192.0.2.1/24); only the address matters here.
    match remote.as_deref() {
        None if v6 => s.remote = IpAddr::V6(DEFAULT_V6_REMOTE),
        None => {}
        Some(t) => match parse(t.split('/').next().unwrap_or(t)).filter(|a| a.is_ipv6() == v6) {
            Some(a) => s.remote = a,
            None => unchecked.push(format!(
                "option --remote_ip={t}: not an {} address",
                if v6 { "IPv6" } else { "IPv4" }
            )),
        },
    }
    (s, unchecked)
}

/// A syscall argument with every `-D` symbol replaced by its value, as
/// packetdrill's lexer does (lexer.l `word()`): `"..."` gives a string, a
/// number (decimal, 0x hex or 0 octal, as strtol) an integer, anything else
/// a word.
pub(super) fn substitute(e: &Expr, defines: &[(String, String)]) -> Expr {
    let sub = |e: &Expr| substitute(e, defines);
    match e {
        Expr::Word(w) => match defines.iter().rev().find(|(k, _)| k == w) {
            Some((_, v)) => define_value(v),
            None => e.clone(),
        },
        Expr::Or(a, b) => Expr::Or(Box::new(sub(a)), Box::new(sub(b))),
        Expr::Assign(a, b) => Expr::Assign(a.clone(), Box::new(sub(b))),
        Expr::List(v) => Expr::List(v.iter().map(sub).collect()),
        Expr::Struct(v) => Expr::Struct(v.iter().map(sub).collect()),
        Expr::Call(n, v) => Expr::Call(n.clone(), v.iter().map(sub).collect()),
        other => other.clone(),
    }
}

fn define_value(v: &str) -> Expr {
    if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Expr::Str(s.to_string());
    }
    let (digits, radix) = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None if v.len() > 1 && v.starts_with('0') => (&v[1..], 8),
        None => (v, 10),
    };
    let (neg, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits),
    };
    match i64::from_str_radix(digits, radix) {
        Ok(n) if !digits.is_empty() => Expr::Int(if neg { -n } else { n }),
        _ => Expr::Word(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_words() {
        let o = RunOptions::from_args([
            "--ip_version=ipv6",
            "-D",
            "A=1",
            "-DB=\"x\"",
            "--strict_segments",
        ])
        .unwrap();
        assert_eq!(
            o.options,
            vec![
                ("ip_version".to_string(), Some("ipv6".to_string())),
                ("strict_segments".to_string(), None)
            ]
        );
        assert_eq!(
            o.defines,
            vec![("A".into(), "1".into()), ("B".into(), "\"x\"".into())]
        );
        assert!(RunOptions::from_args(["ipv6"]).is_err());
        assert!(RunOptions::from_args(["-D", "=1"]).is_err());
        assert!(RunOptions::from_args(["-D"]).is_err());
    }

    #[test]
    fn caller_overrides_script_and_v6_defaults() {
        let script = crate::parse(
            "t.pkt",
            "--ip_version=ipv4\n--mtu=1400\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
        )
        .unwrap();
        let (s, u) = settings(&script, &RunOptions::new().option("ip_version", "ipv6"));
        assert!(u.is_empty(), "{u:?}");
        assert_eq!(s.mode, IpMode::Ipv6);
        assert_eq!(s.mtu, Some(1400));
        assert_eq!(s.local, "fd3d:fa7b:d17d::1".parse::<IpAddr>().unwrap());
        assert_eq!(s.remote, "2001:db8::1".parse::<IpAddr>().unwrap());

        let (s, u) = settings(&script, &RunOptions::new().option("speed", "10"));
        assert_eq!(s.mode, IpMode::Ipv4);
        assert_eq!(u, vec!["option --speed=10: not supported by the runner"]);

        let (_, u) = settings(&script, &RunOptions::new().option("local_ip", "fd::1"));
        assert_eq!(u, vec!["option --local_ip=fd::1: not an IPv4 address"]);
    }

    #[test]
    fn defines_replace_words() {
        let d = vec![
            ("LVL".to_string(), "SOL_IP".to_string()),
            ("N".to_string(), "0x10".to_string()),
            ("S".to_string(), "\"abc\"".to_string()),
        ];
        let e = Expr::Struct(vec![
            Expr::Assign(
                Box::new(Expr::Word("level".into())),
                Box::new(Expr::Word("LVL".into())),
            ),
            Expr::Or(
                Box::new(Expr::Word("N".into())),
                Box::new(Expr::Word("X".into())),
            ),
            Expr::List(vec![Expr::Word("S".into())]),
        ]);
        assert_eq!(
            substitute(&e, &d).to_string(),
            "{level=SOL_IP, 16|X, [\"abc\"]}"
        );
        assert_eq!(define_value("010"), Expr::Int(8));
        assert_eq!(define_value("-3"), Expr::Int(-3));
    }

    #[test]
    fn ksft_flags_come_from_the_runner_script() {
        let text = "readonly ipv4_args=('--ip_version=ipv4 '\n '-D CMSG_LEVEL_IP=SOL_IP ')\n\
                    readonly ipv6_args=('--ip_version=ipv6 '\n '--mtu=1520 ')\n";
        assert_eq!(
            runner_args(text, "ipv6").unwrap(),
            vec!["--ip_version=ipv6", "--mtu=1520"]
        );
        // The form of Linux 6.13 and later.
        let text = "declare -A ip_args=(\n\t[ipv4]=\"--ip_version=ipv4\n\t\t-D X=1\"\n\
                    \t[ipv6]=\"--ip_version=ipv6\n\t\t--mtu=1520\n\t\t-D X=2\"\n)\n";
        assert_eq!(
            runner_args(text, "ipv6").unwrap(),
            vec!["--ip_version=ipv6", "--mtu=1520", "-D", "X=2"]
        );
        assert_eq!(
            runner_args(text, "ipv4").unwrap(),
            vec!["--ip_version=ipv4", "-D", "X=1"]
        );
        assert_eq!(runner_args("echo hi", "ipv4"), None);

        let any = crate::parse("t.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n").unwrap();
        let modes = ksft_modes(None, &any);
        let names: Vec<IpMode> = modes.iter().map(|(m, _)| *m).collect();
        assert_eq!(names, vec![IpMode::Ipv4, IpMode::Ipv6]);
        assert!(modes[1]
            .1
            .options
            .contains(&("mtu".into(), Some("1520".into()))));
        assert!(modes[0]
            .1
            .defines
            .contains(&("CMSG_LEVEL_IP".into(), "SOL_IP".into())));

        // A script that names its mode runs in that mode only.
        for (own, want) in [("ipv4", IpMode::Ipv4), ("ipv6", IpMode::Ipv6)] {
            let text = format!("--ip_version={own}\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
            let script = crate::parse("t.pkt", &text).unwrap();
            let modes = ksft_modes(None, &script);
            assert_eq!(modes.len(), 1);
            assert_eq!(modes[0].0, want);
        }
        // ipv4-mapped-ipv6 is none of the runner's modes: both run.
        let text = "--ip_version=ipv4-mapped-ipv6\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
        let script = crate::parse("t.pkt", text).unwrap();
        assert_eq!(ksft_modes(None, &script).len(), 2);
    }
}
