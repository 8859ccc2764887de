//! Socket tables like `ss -tan -o`, taken from the hosts' endpoints at a
//! virtual time: State, Recv-Q, Send-Q, Local, Peer and the timer, with the
//! counts per state like `ss -s`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use finack_core::{Endpoint, Instant, ListenerId, State, TimerKind};

/// One socket as `ss -tan -o` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketRow {
    /// Its state.
    pub state: State,
    /// Bytes received and not read (a listener: connections waiting to be
    /// accepted).
    pub recv_q: u64,
    /// Bytes queued and not acknowledged (a listener: its backlog).
    pub send_q: u64,
    /// Local address.
    pub local: SocketAddr,
    /// Peer address; `None` for a listener (`*`).
    pub peer: Option<SocketAddr>,
    /// The pending timer, if any.
    pub timer: Option<SsTimer>,
}

/// A timer as `ss -o` shows it: `timer:(NAME,REMAINING,RETRIES)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsTimer {
    /// `on` (retransmission), `persist`, `keepalive` or `timewait`.
    pub name: &'static str,
    /// Time left until it fires.
    pub remaining: Duration,
    /// Retransmissions or probes so far (`ss` prints Linux's
    /// `icsk_retransmits` / `icsk_probes_out`).
    pub retries: u32,
}

/// One host's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTable {
    /// The host's name.
    pub host: String,
    /// Its sockets: listeners first, then connections as the endpoint lists
    /// them.
    pub rows: Vec<SocketRow>,
    /// Connections per state (TIME-WAIT included, listeners not), the
    /// states with none left out.
    pub counts: Vec<(State, usize)>,
    /// False while the host is crashed (its table is empty).
    pub up: bool,
}

/// Both hosts' tables at one virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketTable {
    /// The time the tables show.
    pub time: Instant,
    /// The run they come from (a scenario of two runs has two).
    pub run: String,
    /// Set when the run ended before the time asked for: the tables are
    /// those at the end.
    pub ended_early: Option<Instant>,
    /// One table per host.
    pub hosts: Vec<HostTable>,
}

/// The table of one endpoint at `now`, with the listeners in `listeners`.
pub fn host_table(
    name: &str,
    ep: &Endpoint,
    listeners: &[ListenerId],
    now: Instant,
    up: bool,
) -> HostTable {
    let mut rows = Vec::new();
    for &l in listeners {
        if let Some((local, backlog)) = ep.listener_addr(l) {
            rows.push(SocketRow {
                state: State::Listen,
                recv_q: ep.accept_queue_len(l) as u64,
                send_q: backlog as u64,
                local,
                peer: None,
                timer: None,
            });
        }
    }
    for (c, state, local, peer) in ep.connections() {
        let info = ep.info(c);
        let (recv_q, send_q, backoff) = info.as_ref().map_or((0, 0, 0), |i| {
            if state == State::TimeWait {
                (0, 0, 0)
            } else {
                (
                    u64::from(i.readable),
                    u64::from(i.unacked) + u64::from(i.unsent),
                    i.backoff,
                )
            }
        });
        let timer = ep.timer_of(c).map(|(kind, at)| {
            let name = match kind {
                TimerKind::Retransmit | TimerKind::LossProbe => "on",
                TimerKind::Persist => "persist",
                TimerKind::Keepalive | TimerKind::Idle => "keepalive",
                _ => "timewait",
            };
            let retries = if name == "timewait" { 0 } else { backoff };
            SsTimer {
                name,
                remaining: at.saturating_duration_since(now),
                retries,
            }
        });
        rows.push(SocketRow {
            state,
            recv_q,
            send_q,
            local,
            peer: Some(peer),
            timer,
        });
    }
    let counts = ep
        .count_by_state()
        .into_iter()
        .filter(|&(s, n)| n > 0 && s != State::Listen)
        .collect();
    HostTable {
        host: name.to_string(),
        rows,
        counts,
        up,
    }
}

/// The state as `ss` names it (`ESTAB`, `SYN-RECV`, ...).
pub fn ss_state(s: State) -> &'static str {
    match s {
        State::Established => "ESTAB",
        State::SynReceived => "SYN-RECV",
        State::Closed => "UNCONN",
        other => other.name(),
    }
}

/// A duration as `ss` prints timers (`print_ms_timer`): `59sec`, `200ms`,
/// `1.500ms` for 1.5 s, `1min30sec`.
pub fn ss_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    let (minutes, mut secs, mut msecs) = (ms / 60_000, (ms / 1000) % 60, ms % 1000);
    let mut o = String::new();
    if minutes > 0 {
        msecs = 0;
        let _ = write!(o, "{minutes}min");
        if minutes > 9 {
            secs = 0;
        }
    }
    if secs > 0 {
        if secs > 9 {
            msecs = 0;
        }
        let _ = write!(o, "{secs}{}", if msecs > 0 { "." } else { "sec" });
    }
    if msecs > 0 {
        let _ = write!(o, "{msecs:03}ms");
    }
    if o.is_empty() {
        o.push_str("0ms");
    }
    o
}

impl SocketTable {
    /// The tables as text: per host a header, one line per socket as
    /// `ss -tan -o` prints it, and the counts like `ss -s`.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let when = fmt_time(self.time);
        match self.ended_early {
            Some(end) => {
                let _ = writeln!(
                    o,
                    "ss at {when} ({}: the run ended at {}; tables at its end)",
                    self.run,
                    fmt_time(end)
                );
            }
            None => {
                let _ = writeln!(o, "ss at {when} ({})", self.run);
            }
        }
        for h in &self.hosts {
            let _ = writeln!(o, "  {}{}:", h.host, if h.up { "" } else { " (down)" });
            let _ = writeln!(
                o,
                "    {:<11} {:>6} {:>6} {:<22} {:<22} Timer",
                "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
            );
            for r in &h.rows {
                let peer = r.peer.map_or_else(|| "*:*".to_string(), |p| p.to_string());
                let timer = r.timer.as_ref().map_or(String::new(), |t| {
                    format!(
                        "timer:({},{},{})",
                        t.name,
                        ss_duration(t.remaining),
                        t.retries
                    )
                });
                let line = format!(
                    "    {:<11} {:>6} {:>6} {:<22} {:<22} {timer}",
                    ss_state(r.state),
                    r.recv_q,
                    r.send_q,
                    r.local.to_string(),
                    peer
                );
                let _ = writeln!(o, "{}", line.trim_end());
            }
            let total: usize = h.counts.iter().map(|(_, n)| n).sum();
            let n = |s: State| {
                h.counts
                    .iter()
                    .find(|(x, _)| *x == s)
                    .map_or(0, |(_, n)| *n)
            };
            let per_state: Vec<String> = h
                .counts
                .iter()
                .map(|(s, n)| format!("{} {n}", s.name()))
                .collect();
            let _ = writeln!(
                o,
                "    TCP: {total} (estab {}, closed {}, timewait {}){}{}",
                n(State::Established),
                n(State::Closed),
                n(State::TimeWait),
                if per_state.is_empty() { "" } else { "; " },
                per_state.join(", ")
            );
        }
        o
    }
}

fn fmt_time(t: Instant) -> String {
    let us = t.as_micros();
    format!("{}.{:06}s", us / 1_000_000, us % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_ss_prints_them() {
        assert_eq!(ss_duration(Duration::from_millis(59_400)), "59sec");
        assert_eq!(ss_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(ss_duration(Duration::from_millis(1500)), "1.500ms");
        assert_eq!(ss_duration(Duration::from_secs(90)), "1min30sec");
        assert_eq!(ss_duration(Duration::from_secs(7200)), "120min");
        assert_eq!(ss_duration(Duration::ZERO), "0ms");
    }
}
