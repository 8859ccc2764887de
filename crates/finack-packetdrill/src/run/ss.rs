//! `ss ... | grep ...` commands, answered from the engine's connection
//! listing: the lines `ss -n` would print for the sockets of the run, the
//! state and address filters applied, then each `grep`. The command succeeds
//! when the last stage prints a line, as the shell pipeline would.
//!
//! iproute2 ss.c: without a state filter it lists connected sockets (every
//! state but LISTEN, CLOSE, TIME-WAIT and SYN-RECV); `-a` lists all, `-l`
//! the listening ones. AF_INET6 sockets (the ipv6 and ipv4-mapped-ipv6
//! modes) are shown by `-6`, AF_INET ones by `-4`. Addresses print as
//! `addr:port` without brackets, as the iproute2 these scripts were written
//! against did, and IPv4-mapped ones as `::ffff:a.b.c.d`.

use super::shell::shell_words;
use super::*;

/// ss's state names (ss.c sstate_name) for finack's states.
fn state_name(s: State) -> &'static str {
    match s {
        State::Established => "ESTAB",
        State::SynSent => "SYN-SENT",
        State::SynReceived => "SYN-RECV",
        State::FinWait1 => "FIN-WAIT-1",
        State::FinWait2 => "FIN-WAIT-2",
        State::TimeWait => "TIME-WAIT",
        State::Closed => "UNCONN",
        State::CloseWait => "CLOSE-WAIT",
        State::LastAck => "LAST-ACK",
        State::Listen => "LISTEN",
        State::Closing => "CLOSING",
    }
}

/// The states a `state NAME` filter selects (ss.c: names are compared
/// without regard to case).
fn state_filter(name: &str) -> Option<Vec<State>> {
    use State::*;
    let all = State::ALL.to_vec();
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "all" => all,
        "connected" => all
            .into_iter()
            .filter(|s| !matches!(s, Listen | Closed))
            .collect(),
        "synchronized" => all
            .into_iter()
            .filter(|s| !matches!(s, Listen | Closed | SynSent))
            .collect(),
        "bucket" => vec![SynReceived, TimeWait],
        "big" => all
            .into_iter()
            .filter(|s| !matches!(s, SynReceived | TimeWait))
            .collect(),
        _ => all
            .into_iter()
            .filter(|s| state_name(*s).eq_ignore_ascii_case(&n) || long_name(*s) == n)
            .collect(),
    })
    .filter(|v: &Vec<State>| !v.is_empty())
}

fn long_name(s: State) -> &'static str {
    match s {
        State::Established => "established",
        State::Listen => "listening",
        State::Closed => "closed",
        other => match state_name(other) {
            "SYN-SENT" => "syn-sent",
            "SYN-RECV" => "syn-recv",
            "FIN-WAIT-1" => "fin-wait-1",
            "FIN-WAIT-2" => "fin-wait-2",
            "TIME-WAIT" => "time-wait",
            "CLOSE-WAIT" => "close-wait",
            "LAST-ACK" => "last-ack",
            _ => "closing",
        },
    }
}

/// The `| grep PATTERN` and `| grep -q PATTERN` stages of a pipeline,
/// applied to the lines its command printed; `Err` for any other stage.
pub(super) fn grep_stages<'a>(
    lines: &mut Vec<String>,
    stages: impl Iterator<Item = &'a str>,
) -> Result<(), String> {
    for stage in stages {
        let w = shell_words(stage);
        let pattern = match w.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["grep", p] | ["grep", "-q", p] => p.to_string(),
            _ => return Err(format!("pipeline stage '{stage}' is not modelled")),
        };
        lines.retain(|l| grep_match(&pattern, l));
    }
    Ok(())
}

/// A `grep` pattern (basic regular expression: `.` any character, `*` any
/// number of the one before, `^` and `$` anchors, everything else literal)
/// against a line.
pub(super) fn grep_match(pattern: &str, line: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let l: Vec<char> = line.chars().collect();
    if let Some(rest) = p.strip_prefix(&['^']) {
        return match_here(rest, &l);
    }
    (0..=l.len()).any(|i| match_here(&p, &l[i..]))
}

/// Whether `p` matches at the start of `l` (Kernighan and Pike's matcher).
fn match_here(p: &[char], l: &[char]) -> bool {
    match p {
        [] => true,
        ['$'] => l.is_empty(),
        [c, '*', rest @ ..] => {
            let mut i = 0;
            loop {
                if match_here(rest, &l[i..]) {
                    return true;
                }
                if i < l.len() && (*c == '.' || l[i] == *c) {
                    i += 1;
                } else {
                    return false;
                }
            }
        }
        [c, rest @ ..] => !l.is_empty() && (*c == '.' || l[0] == *c) && match_here(rest, &l[1..]),
    }
}

/// `ADDR[/LEN]` of an `src`/`dst` filter, matched against an address.
fn prefix_match(filter: &str, addr: &str) -> bool {
    // Compared as text: the scripts filter on the full address (/32, /128).
    let base = filter.split('/').next().unwrap_or(filter);
    base == addr
}

/// One socket as the listings show it: state, local address, remote
/// address (none for a listener), receive queue and send queue.
pub(super) type SocketRow = (State, SocketAddr, Option<SocketAddr>, u32, u32);

impl Runner {
    /// The sockets of the run: the engine's connections and the runner's
    /// listeners (whose receive queue is the accept queue).
    pub(super) fn socket_rows(&self) -> Vec<SocketRow> {
        let mut socks = Vec::new();
        for (c, state, local, remote) in self.ep.connections() {
            let info = self.ep.info(c);
            let rq = info.as_ref().map_or(0, |i| i.readable);
            let sq = info.as_ref().map_or(0, |i| i.unacked + i.unsent);
            socks.push((state, local, Some(remote), rq, sq));
        }
        for f in self.fds.values() {
            if let Sock::Listener(l) = f.sock {
                let port = self.local_port.unwrap_or(SERVER_PORT);
                let q = self.ep.accept_queue_len(l) as u32;
                socks.push((State::Listen, self.local_addr(port), None, q, 0));
            }
        }
        socks
    }

    /// The socket's address as ss prints it.
    fn ss_addr(&self, a: SocketAddr) -> String {
        match (self.mode, a.ip()) {
            (IpMode::Ipv4MappedIpv6, IpAddr::V4(v4)) => format!("::ffff:{v4}"),
            (_, ip) => ip.to_string(),
        }
    }

    /// Runs `ss ... [| grep ...]...`: `Ok(true)` when the pipeline printed
    /// something; `Err` names what the runner cannot model.
    pub(super) fn ss(&self, cmd: &str) -> Result<bool, String> {
        let mut stages = cmd.split('|').map(str::trim);
        let words = shell_words(stages.next().unwrap_or(""));
        let mut family = None;
        let (mut all, mut listening) = (false, false);
        let mut states: Option<Vec<State>> = None;
        let mut sport = None;
        let mut src = None;
        let mut dst = None;
        let mut i = 1;
        while i < words.len() {
            let w = words[i].as_str();
            match w {
                "-4" => family = Some(false),
                "-6" => family = Some(true),
                "-n" | "--numeric" | "-t" | "--tcp" | "-o" | "--options" | "-e" | "--extended"
                | "-i" | "--info" | "-H" | "--no-header" => {}
                "-a" | "--all" => all = true,
                "-l" | "--listening" => listening = true,
                "state" => {
                    i += 1;
                    let name = words.get(i).map(String::as_str).unwrap_or("");
                    let sel = state_filter(name).ok_or(format!("ss: unknown state '{name}'"))?;
                    states.get_or_insert_with(Vec::new).extend(sel);
                }
                "src" | "dst" => {
                    i += 1;
                    let v = words
                        .get(i)
                        .cloned()
                        .ok_or("ss: src/dst needs an address")?;
                    if w == "src" {
                        src = Some(v);
                    } else {
                        dst = Some(v);
                    }
                }
                expr if expr.starts_with('(') => {
                    let toks: Vec<&str> = expr
                        .trim_matches(|c| c == '(' || c == ')' || c == ' ')
                        .split_whitespace()
                        .collect();
                    match toks.as_slice() {
                        ["sport", "=" | "==" | "eq", p] => {
                            sport = p
                                .trim_start_matches(':')
                                .parse::<u16>()
                                .ok()
                                .map(Some)
                                .ok_or(format!("ss: cannot read port in '{expr}'"))?
                        }
                        _ => return Err(format!("ss filter '{expr}' is not modelled")),
                    }
                }
                other => return Err(format!("ss option '{other}' is not modelled")),
            }
            i += 1;
        }
        let states = states.unwrap_or_else(|| {
            State::ALL
                .into_iter()
                .filter(|s| {
                    if all {
                        true
                    } else if listening {
                        *s == State::Listen
                    } else {
                        !matches!(
                            s,
                            State::Listen | State::Closed | State::TimeWait | State::SynReceived
                        )
                    }
                })
                .collect()
        });
        let socks = self.socket_rows();
        let v6_sockets = self.mode != IpMode::Ipv4;
        let mut lines = Vec::new();
        for (state, local, remote, rq, sq) in socks {
            if family.is_some_and(|f| f != v6_sockets) || !states.contains(&state) {
                continue;
            }
            if sport.is_some_and(|p| p != local.port()) {
                continue;
            }
            let l = self.ss_addr(local);
            let r = remote.map_or("*".to_string(), |r| self.ss_addr(r));
            if src.as_deref().is_some_and(|f| !prefix_match(f, &l))
                || dst.as_deref().is_some_and(|f| !prefix_match(f, &r))
            {
                continue;
            }
            let rport = remote.map_or("*".to_string(), |r| r.port().to_string());
            lines.push(format!(
                "{:<10} {rq:<6} {sq:<6} {l}:{} {r}:{rport}",
                state_name(state),
                local.port()
            ));
        }
        grep_stages(&mut lines, stages)?;
        Ok(!lines.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grep_and_states() {
        assert!(grep_match(
            "192.168.0.1:8080",
            "ESTAB 0 0 192.168.0.1:8080 192.0.2.1:47000"
        ));
        assert!(!grep_match("192.168.0.1:8081", "ESTAB 192.168.0.1:8080"));
        assert!(grep_match(":8080", "x 1:8080"));
        assert!(grep_match("^ESTAB", "ESTAB x"));
        assert!(!grep_match("^x", "ESTAB x"));
        let line = "TcpExtTCPTimeWaitOverflow       1                  0.0";
        assert!(grep_match("TcpExtTCPTimeWaitOverflow *1 ", line));
        assert!(!grep_match("TcpExtTCPTimeWaitOverflow *2 ", line));
        assert!(grep_match("^Tcp.*Overflow", line));
        assert!(grep_match("0.0$", line));
        assert!(!grep_match("1$", line));
        assert!(grep_match("x*", ""));
        assert_eq!(state_filter("SYN-RECV"), Some(vec![State::SynReceived]));
        assert_eq!(state_filter("established"), Some(vec![State::Established]));
        assert_eq!(state_filter("nonsense"), None);
    }
}
