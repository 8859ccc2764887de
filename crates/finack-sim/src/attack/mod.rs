//! Simulated attacks on a finack server, each run with the server's
//! defences on and off: a SYN flood, clients that connect and then stay idle
//! or trickle one byte a minute, peers that vanish mid-connection, blind
//! in-window injection (RFC 5961) with an ACK storm, and a TIME-WAIT flood.
//!
//! The server is a small web server (it holds at most a fixed number of
//! connections, reads a request line, answers and closes); legitimate
//! clients arrive while the attack runs and each has 30 s to be served. A
//! run reports one [`AttackRow`]: how many legitimate clients were served,
//! their connect latency, the server's peak memory and connections, what the
//! attacker sent, and the server's counters under Linux's names.

mod apps;
mod drivers;
mod world;

use std::fmt::Write as _;
use std::time::Duration;

use finack_core::{Config, Instant, ListenerLimits};

use apps::{Errand, Legit, ServerApp};
use drivers::{BlindInject, Misdeed, Swarm, SynFlood};
use world::{Part, World};

/// The attacks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Spoofed SYNs from addresses that never answer, while legitimate
    /// clients connect.
    SynFlood,
    /// Connections that never send or close (seed article 001's idle
    /// clients).
    Idle,
    /// Connections that send one byte of a request a minute (slowloris).
    Slow,
    /// Peers that vanish mid-connection, as after a crash: half right after
    /// the handshake, half after asking for a 64 KiB response.
    HalfOpen,
    /// In-window guesses of RST, SYN and data on legitimate connections
    /// (RFC 5961 §3–§5), then an ACK storm against the challenge-ACK limit.
    BlindInject,
    /// Short connections the server closes first, so its TIME-WAITs pile up.
    TwFlood,
}

impl Attack {
    /// Every attack, in the table's order.
    pub const ALL: [Attack; 6] = [
        Attack::SynFlood,
        Attack::Idle,
        Attack::Slow,
        Attack::HalfOpen,
        Attack::BlindInject,
        Attack::TwFlood,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Attack::SynFlood => "syn-flood",
            Attack::Idle => "idle",
            Attack::Slow => "slow",
            Attack::HalfOpen => "half-open",
            Attack::BlindInject => "blind-inject",
            Attack::TwFlood => "tw-flood",
        }
    }

    /// The attack with this name.
    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The server counters the table shows for this attack.
    fn counters(self) -> &'static [&'static str] {
        match self {
            Attack::SynFlood => &["SyncookiesSent", "SyncookiesRecv", "TCPReqQFullDrop"],
            Attack::Idle | Attack::Slow => &["finackIdleTimeouts", "finackPerSourceDrops"],
            Attack::HalfOpen => &["finackIdleTimeouts", "TCPAbortOnTimeout"],
            Attack::BlindInject => &["TCPChallengeACK", "TCPACKSkippedSeq", "OutSegs"],
            Attack::TwFlood => &["TW", "TCPTimeWaitOverflow", "TWRecycled"],
        }
    }
}

/// The sizes of a run: [`Scale::full`] is what the issue asks for,
/// [`Scale::small`] the same proportions for a quick test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scale {
    /// The listener's backlog (SYN queue and accept queue).
    pub backlog: usize,
    /// Most connections the server application holds at once.
    pub app_limit: usize,
    /// Legitimate clients.
    pub legit: usize,
    /// The per-source limit when the defences are on.
    pub per_source: u32,
    /// Addresses the swarm attacks come from.
    pub attacker_addrs: usize,
    /// Spoofed SYNs, and how many a second.
    pub flood: u64,
    /// Spoofed SYNs a second.
    pub flood_rate: u32,
    /// Attacker connections of the idle, slow and half-open attacks.
    pub swarm: usize,
    /// New attacker connections a second.
    pub swarm_rate: u32,
    /// Short connections a second in the TIME-WAIT flood, and for how long.
    pub tw_rate: u32,
    /// Seconds the TIME-WAIT flood lasts.
    pub tw_secs: u64,
    /// The TIME-WAIT cap when the defences are on.
    pub tw_cap: usize,
    /// Legitimate connections under blind attack, and guess rounds on each.
    pub blind_conns: usize,
    /// Rounds of one RST, one SYN and one data guess per connection.
    pub blind_rounds: u32,
    /// Out-of-window ACKs of the storm, and how many a second.
    pub storm: u64,
    /// Storm segments a second.
    pub storm_rate: u32,
}

impl Scale {
    /// The sizes: 1,000,000 spoofed SYNs at 100,000/s against 1,000
    /// legitimate clients, 10,000 idle, slow or vanishing attackers, ...
    pub fn full() -> Scale {
        Scale {
            backlog: 1024,
            app_limit: 4096,
            legit: 1000,
            per_source: 64,
            attacker_addrs: 20,
            flood: 1_000_000,
            flood_rate: 100_000,
            swarm: 10_000,
            swarm_rate: 1000,
            tw_rate: 5000,
            tw_secs: 60,
            tw_cap: 16_384,
            blind_conns: 200,
            blind_rounds: 100,
            storm: 100_000,
            storm_rate: 100_000,
        }
    }

    /// The same proportions, small enough for a debug-build test.
    pub fn small() -> Scale {
        Scale {
            backlog: 64,
            app_limit: 256,
            legit: 50,
            per_source: 8,
            attacker_addrs: 20,
            flood: 20_000,
            flood_rate: 10_000,
            swarm: 600,
            swarm_rate: 200,
            tw_rate: 500,
            tw_secs: 20,
            tw_cap: 1024,
            blind_conns: 20,
            blind_rounds: 20,
            storm: 2000,
            storm_rate: 10_000,
        }
    }
}

/// One run's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttackRow {
    /// The attack.
    pub attack: Attack,
    /// Whether the server's defences were on.
    pub defences: bool,
    /// Legitimate clients served in time (and, under blind attack, with
    /// their data intact), and all of them.
    pub legit_ok: usize,
    /// All legitimate clients.
    pub legit_total: usize,
    /// Median and 99th percentile of the legitimate clients' connect
    /// latency (SYN sent to ESTABLISHED), over those that connected.
    pub connect_p50: Option<Duration>,
    /// 99th percentile of the connect latency.
    pub connect_p99: Option<Duration>,
    /// The most memory the server's endpoint held (sampled every 100 ms).
    pub peak_memory: usize,
    /// The most connections the server held, TIME-WAIT included.
    pub peak_held: usize,
    /// Segments the attacker sent.
    pub attacker_segments: u64,
    /// Blind injection: legitimate connections the forged segments broke
    /// (reset, fed forged bytes, or left stalled on a tuple a forged SYN
    /// took over: every echo client that did not get all its bytes back
    /// intact, since nothing else disturbs them), and the guesses sent.
    pub accepted: Option<(u64, u64)>,
    /// The server's non-zero counters under Linux's names.
    pub counters: Vec<(&'static str, u64)>,
}

impl AttackRow {
    /// The share of legitimate clients served, in percent.
    pub fn success_percent(&self) -> f64 {
        100.0 * self.legit_ok as f64 / self.legit_total.max(1) as f64
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |&(_, v)| v)
    }
}

/// The server's configuration: Linux's defaults with every defence on
/// (SYN cookies, per-source limits, a 10 s idle timeout, the TIME-WAIT cap,
/// RFC 5961 with its challenge-ACK limit) or every one of them off.
pub fn server_config(defences: bool, scale: &Scale) -> Config {
    let mut c = Config::linux();
    c.record_transitions = false;
    if defences {
        c.syn_cookies = true;
        c.rfc5961 = true;
        c.max_time_wait = scale.tw_cap;
        c.listener_limits = ListenerLimits {
            syn_received_per_source: Some(scale.per_source),
            established_per_source: Some(scale.per_source),
            idle_timeout: Some(Duration::from_secs(10)),
        };
    } else {
        c.syn_cookies = false;
        c.rfc5961 = false;
        c.challenge_ack_interval = Duration::ZERO;
        c.max_time_wait = usize::MAX;
        c.listener_limits = ListenerLimits::default();
    }
    c
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Run one attack against a server with its defences on or off.
pub fn run(attack: Attack, defences: bool, scale: &Scale, seed: u64) -> AttackRow {
    let secs = Duration::from_secs;
    let at = |d: Duration| Instant::ZERO + d;
    let mut w = World::new(server_config(defences, scale), seed, scale.attacker_addrs);
    let echo = attack == Attack::BlindInject;
    let mut server = ServerApp::new(&mut w, scale.backlog, scale.app_limit, echo);
    // When the legitimate clients arrive, and over how long.
    let swarm_ready =
        secs(2) + Duration::from_secs_f64(scale.swarm as f64 / scale.swarm_rate as f64);
    let flood_time = Duration::from_secs_f64(scale.flood as f64 / scale.flood_rate as f64);
    let (legit_from, legit_over, errand, legit_count) = match attack {
        Attack::SynFlood => (secs(1), flood_time, Errand::Fetch, scale.legit),
        Attack::Idle | Attack::Slow | Attack::HalfOpen => {
            (swarm_ready, secs(10), Errand::Fetch, scale.legit)
        }
        Attack::TwFlood => (
            secs(scale.tw_secs / 2),
            secs(10),
            Errand::Fetch,
            scale.legit,
        ),
        Attack::BlindInject => (
            Duration::ZERO,
            secs(1),
            Errand::Echo {
                count: 50,
                size: 100,
                every: Duration::from_millis(200),
            },
            scale.blind_conns,
        ),
    };
    let mut legit = Legit::new(legit_count, at(legit_from), legit_over, errand, seed);
    let forever = Instant::from_secs(1 << 30);
    let swarm = |m: Misdeed, total: u64| {
        Swarm::new(
            m,
            scale.swarm,
            total,
            scale.swarm_rate,
            Instant::ZERO,
            forever,
            scale.attacker_addrs,
        )
    };
    let mut blind = None;
    let mut attacker: Box<dyn Part> = match attack {
        Attack::SynFlood => Box::new(SynFlood::new(
            scale.flood,
            scale.flood_rate,
            at(secs(1)),
            seed,
        )),
        Attack::Idle => Box::new(swarm(Misdeed::Idle, u64::MAX)),
        Attack::Slow => Box::new(swarm(Misdeed::Slow { every: secs(60) }, u64::MAX)),
        Attack::HalfOpen => Box::new(swarm(Misdeed::Vanish, scale.swarm as u64)),
        Attack::TwFlood => Box::new(Swarm::new(
            Misdeed::ShortLived,
            usize::MAX,
            scale.tw_rate as u64 * scale.tw_secs,
            scale.tw_rate,
            Instant::ZERO,
            at(secs(scale.tw_secs)),
            scale.attacker_addrs,
        )),
        Attack::BlindInject => {
            w.sniff = Some(Default::default());
            blind = Some(BlindInject::new(
                scale.blind_rounds,
                at(secs(2)),
                Duration::from_millis(50),
                scale.storm,
                at(secs(3)),
                scale.storm_rate,
                seed,
            ));
            Box::new(NoPart)
        }
    };
    let end = legit.last_deadline() + secs(1);
    {
        let mut parts: Vec<&mut dyn Part> = vec![&mut server, &mut legit, attacker.as_mut()];
        if let Some(b) = blind.as_mut() {
            parts.push(b);
        }
        w.run(end, &mut parts);
    }
    let (ok, total, mut lat) = legit.results();
    lat.sort();
    let stats = w.server.stats();
    let counters: Vec<(&'static str, u64)> = stats
        .linux_counters()
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .collect();
    let accepted = blind.as_ref().map(|b| {
        let guesses: u64 = b.guesses.iter().sum();
        ((total - ok) as u64, guesses)
    });
    AttackRow {
        attack,
        defences,
        legit_ok: ok,
        legit_total: total,
        connect_p50: percentile(&lat, 50.0),
        connect_p99: percentile(&lat, 99.0),
        peak_memory: w.peak_memory,
        peak_held: w.peak_held,
        attacker_segments: w.attacker_segments,
        accepted,
        counters,
    }
}

/// A part that does nothing (the blind attacker is run beside it).
struct NoPart;

impl Part for NoPart {
    fn step(&mut self, _: &mut World) {}
    fn wake(&self) -> Option<Instant> {
        None
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} KiB", n as f64 / 1024.0)
    }
}

/// What a row's notes column says: the counters that tell what happened.
fn notes(r: &AttackRow) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some((taken, guesses)) = r.accepted {
        parts.push(format!(
            "connections broken {taken} of {} by {guesses} guesses",
            r.legit_total
        ));
    }
    for name in r.attack.counters() {
        parts.push(format!("{name} {}", r.counter(name)));
    }
    parts.join(", ")
}

/// The rows as a table; `markdown` for a Markdown table (the README's).
pub fn table(rows: &[AttackRow], markdown: bool) -> String {
    let head = [
        "attack",
        "defences",
        "legitimate served",
        "connect p50",
        "connect p99",
        "server peak memory",
        "connections held",
        "attacker segments",
        "what the server counted",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.attack.name().to_string(),
                if r.defences { "on" } else { "off" }.to_string(),
                format!(
                    "{:.1}% ({}/{})",
                    r.success_percent(),
                    r.legit_ok,
                    r.legit_total
                ),
                ms(r.connect_p50),
                ms(r.connect_p99),
                bytes(r.peak_memory),
                r.peak_held.to_string(),
                r.attacker_segments.to_string(),
                notes(r),
            ]
        })
        .collect();
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
        for c in &cells {
            let _ = writeln!(out, "| {} |", c.join(" | "));
        }
        return out;
    }
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        let padded: Vec<String> = cols
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}", w = *w))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(head.to_vec()));
    for c in &cells {
        let _ = writeln!(out, "{}", line(c.iter().map(String::as_str).collect()));
    }
    out
}
