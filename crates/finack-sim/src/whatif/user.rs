//! Scenarios in a TOML file: two hosts, their configuration, the
//! applications' calls at given times, faults, and checks.
//!
//! ```toml
//! name = "late-close"
//! summary = "the server closes 2 s after the client"
//! hosts = ["client", "server"]      # left and right; this is the default
//! duration = "70s"                  # virtual time the run lasts
//!
//! [link]
//! latency = "10ms"                  # one way
//!
//! [config]                          # Config fields, for every host ...
//! time_wait = "30s"
//! [config.server]                   # ... or for one
//! delayed_ack = "off"
//!
//! [[actions]]
//! at = "0s"
//! host = "server"
//! do = "listen"                     # port = 80, backlog = 128
//! [[actions]]
//! at = "10ms"
//! host = "client"
//! do = "connect"                    # port = 80 on the other host
//! [[actions]]
//! at = "100ms"
//! host = "client"
//! do = "send"
//! bytes = 1000                      # or "64k"; conn = 0: the host's first connection
//! [[actions]]
//! at = "200ms"
//! host = "client"
//! do = "close"                      # shutdown, close, abort, stop-reading, crash, reboot, note
//!
//! [faults]
//! drop = ["client ACK #3"]
//! delay = ["server FIN #1 +300ms"]
//! loss = "0%"
//!
//! [checks]
//! client.states = ["CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"]
//! client.final = "TIME-WAIT"
//! server.received = 1000            # bytes its application read
//! delivered = 1000                  # bytes both applications read
//! rst = 0                           # RST segments sent
//! ```
//!
//! `send`, `shutdown` and `close` act as a blocking application would:
//! `shutdown` and `close` take effect once everything sent before was
//! handed to the socket. An error names the line and the field.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use finack_core::{Config, Instant, State};
use serde::Deserialize;
use toml::{Spanned, Value};

use super::faults::FaultRule;
use super::knobs::{self, parse_duration, parse_size};
use super::{with_context, RunOptions, WhatIfRun};
use crate::catalog::{Check, ScenarioResult};
use crate::sim::{CloseMode, Sim};

/// A scenario file could not be read: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioFileError {
    /// Line (from 1) of the offending field, when known.
    pub line: Option<usize>,
    /// The field, as a dotted path (`config.server.time_wait`).
    pub field: String,
    /// What is wrong, with the accepted values.
    pub message: String,
}

impl fmt::Display for ScenarioFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioFileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    summary: Option<String>,
    hosts: Option<Spanned<Vec<String>>>,
    duration: Option<Spanned<String>>,
    link: Option<LinkSpec>,
    #[serde(default)]
    config: BTreeMap<String, Spanned<Value>>,
    #[serde(default)]
    actions: Vec<Spanned<ActionSpec>>,
    faults: Option<FaultSpec>,
    #[serde(default)]
    checks: BTreeMap<String, Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSpec {
    latency: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    #[serde(default)]
    drop: Vec<Spanned<String>>,
    #[serde(default)]
    delay: Vec<Spanned<String>>,
    loss: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionSpec {
    at: Spanned<String>,
    host: Spanned<String>,
    #[serde(rename = "do")]
    what: Spanned<String>,
    port: Option<u16>,
    local_port: Option<u16>,
    backlog: Option<usize>,
    bytes: Option<Spanned<Value>>,
    conn: Option<usize>,
    text: Option<String>,
}

/// An application call (or host event) of a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Listen on a port with a backlog.
    Listen {
        /// Port.
        port: u16,
        /// Backlog.
        backlog: usize,
    },
    /// Connect from a local port (0: ephemeral) to a port of the other host.
    Connect {
        /// Local port.
        local_port: u16,
        /// Remote port.
        port: u16,
    },
    /// Send this many bytes on the host's `conn`-th connection.
    Send(usize),
    /// `shutdown(SHUT_WR)` once the queued data is handed over.
    Shutdown,
    /// `close()` once the queued data is handed over.
    Close,
    /// `abort()` (RST) now.
    Abort,
    /// The application stops reading (data piles up in the receive buffer).
    StopReading,
    /// The host crashes, losing all its state.
    Crash,
    /// The host comes back up.
    Reboot,
    /// A note in the diagram.
    Note(String),
}

/// One timed action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// When.
    pub at: Duration,
    /// Which host (0 or 1).
    pub host: usize,
    /// The host's connection it acts on (its n-th opened or accepted).
    pub conn: usize,
    /// What.
    pub call: Call,
}

/// A check of a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckSpec {
    /// The host's connections went through exactly these states.
    States(usize, Vec<State>),
    /// The last state the host's connections reached.
    Final(usize, State),
    /// Bytes the host's application read.
    Received(usize, u64),
    /// Bytes both applications read.
    Delivered(u64),
    /// RST segments sent by both hosts.
    Rsts(u64),
}

/// A scenario read from a file.
#[derive(Clone, Debug)]
pub struct UserScenario {
    /// Name (the file's `name`, or the file name).
    pub name: String,
    /// One line on what it shows.
    pub summary: String,
    /// The hosts' names, left and right.
    pub hosts: [String; 2],
    /// Their configurations.
    pub configs: [Config; 2],
    /// How long the run lasts.
    pub duration: Duration,
    /// One-way link latency.
    pub latency: Duration,
    /// The actions, in time order.
    pub actions: Vec<Action>,
    /// Scripted faults.
    pub faults: Vec<FaultRule>,
    /// Random loss probability.
    pub loss: Option<f64>,
    /// The checks.
    pub checks: Vec<CheckSpec>,
}

/// Parse a loss rate such as `5%` or `0.05`.
pub fn parse_loss(v: &str) -> Option<f64> {
    let v = v.trim();
    let p = match v.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().ok()? / 100.0,
        None => v.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&p).then_some(p)
}

struct Ctx<'a> {
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn err(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioFileError {
        ScenarioFileError {
            line: Some(self.line(span)),
            field: field.into(),
            message: message.into(),
        }
    }

    fn duration(&self, s: &Spanned<String>, field: &str) -> Result<Duration, ScenarioFileError> {
        parse_duration(s.get_ref()).ok_or_else(|| {
            self.err(
                s.span(),
                field,
                format!(
                    "'{}' is not a duration; expected e.g. 30s, 200ms, 1.5s",
                    s.get_ref()
                ),
            )
        })
    }
}

/// A TOML value as the text `--set` would take.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

fn state_named(name: &str) -> Option<State> {
    State::ALL
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
}

impl UserScenario {
    /// Read a scenario from TOML text; `default_name` names it when the
    /// file does not.
    pub fn parse(text: &str, default_name: &str) -> Result<UserScenario, ScenarioFileError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ScenarioFileError {
                line,
                field: String::new(),
                message: e.message().trim().to_string(),
            }
        })?;
        let cx = Ctx { text };
        let hosts: [String; 2] = match &file.hosts {
            None => ["client".to_string(), "server".to_string()],
            Some(h) => match h.get_ref().as_slice() {
                [a, b] if a != b => [a.clone(), b.clone()],
                _ => {
                    return Err(cx.err(h.span(), "hosts", "expected two different names"));
                }
            },
        };
        let host_index = |name: &str| hosts.iter().position(|h| h == name);
        let mut configs = [Config::linux(), Config::linux()];
        // Settings for every host first, then per host, so those win.
        for pass in 0..2 {
            for (key, v) in &file.config {
                match (host_index(key), v.get_ref()) {
                    (Some(h), Value::Table(t)) if pass == 1 => {
                        let mut flat = Vec::new();
                        flatten("", t, &mut flat);
                        for (field, val) in flat {
                            set_field(
                                &cx,
                                &mut configs[h],
                                &field,
                                &val,
                                v,
                                &format!("config.{key}.{field}"),
                            )?;
                        }
                    }
                    (Some(_), _) => {}
                    (None, _) if pass == 1 => {}
                    (None, Value::Table(t)) => {
                        let mut flat = Vec::new();
                        flatten(&format!("{key}."), t, &mut flat);
                        for (field, val) in flat {
                            for c in configs.iter_mut() {
                                set_field(&cx, c, &field, &val, v, &format!("config.{field}"))?;
                            }
                        }
                    }
                    (None, val) => {
                        for c in configs.iter_mut() {
                            set_field(&cx, c, key, val, v, &format!("config.{key}"))?;
                        }
                    }
                }
            }
        }
        let duration = match &file.duration {
            Some(d) => cx.duration(d, "duration")?,
            None => Duration::from_secs(10),
        };
        let latency = match file.link.as_ref().and_then(|l| l.latency.as_ref()) {
            Some(d) => cx.duration(d, "link.latency")?,
            None => Duration::from_millis(10),
        };
        let mut actions = Vec::new();
        for (i, a) in file.actions.iter().enumerate() {
            actions.push(action(&cx, &hosts, i, a)?);
        }
        actions.sort_by_key(|a| a.at);
        let (mut faults, mut loss) = (Vec::new(), None);
        if let Some(f) = &file.faults {
            for (list, delay, name) in [
                (&f.drop, false, "faults.drop"),
                (&f.delay, true, "faults.delay"),
            ] {
                for r in list {
                    let rule = FaultRule::parse(r.get_ref(), delay)
                        .map_err(|e| cx.err(r.span(), name, e.0))?;
                    if let Some(h) = &rule.host {
                        if host_index(h).is_none() {
                            return Err(cx.err(r.span(), name, format!("no host named '{h}'")));
                        }
                    }
                    faults.push(rule);
                }
            }
            if let Some(l) = &f.loss {
                loss = Some(parse_loss(l.get_ref()).ok_or_else(|| {
                    cx.err(
                        l.span(),
                        "faults.loss",
                        "expected a rate such as 5% or 0.05",
                    )
                })?);
            }
        }
        let mut checks = Vec::new();
        for (key, v) in &file.checks {
            checks.extend(check_spec(&cx, &hosts, key, v)?);
        }
        // The file's tables come sorted by key; show states first, host by host.
        checks.sort_by_key(|c| match c {
            CheckSpec::States(h, _) => (0, *h),
            CheckSpec::Final(h, _) => (1, *h),
            CheckSpec::Received(h, _) => (2, *h),
            CheckSpec::Delivered(_) => (3, 0),
            CheckSpec::Rsts(_) => (4, 0),
        });
        Ok(UserScenario {
            name: file.name.unwrap_or_else(|| default_name.to_string()),
            summary: file.summary.unwrap_or_default(),
            hosts,
            configs,
            duration,
            latency,
            actions,
            faults,
            loss,
            checks,
        })
    }

    /// Run it with `seed`, under `opts` as a catalog scenario would be.
    pub fn run(&self, seed: u64, opts: &RunOptions) -> Result<WhatIfRun, String> {
        with_context(opts, || self.run_plain(seed))
    }

    fn run_plain(&self, seed: u64) -> ScenarioResult {
        let names = [self.hosts[0].as_str(), self.hosts[1].as_str()];
        let mut sim = Sim::new(&self.name, seed, names, self.configs.clone());
        sim.link.latency = self.latency;
        if !self.faults.is_empty() {
            sim.rule(super::faults::scripted(&self.faults, self.hosts.clone()));
        }
        if let Some(p) = self.loss {
            sim.faults.loss = p;
        }
        let mut checks = Vec::new();
        for a in &self.actions {
            let at = Instant::ZERO + a.at;
            if at > sim.now {
                sim.run_for(at.saturating_duration_since(sim.now));
            }
            if let Err(why) = act(&mut sim, a) {
                checks.push(Check {
                    what: format!("action at {:?} on {}", a.at, self.hosts[a.host]),
                    ok: false,
                    detail: why,
                });
            }
        }
        let end = Instant::ZERO + self.duration;
        if end > sim.now {
            sim.run_for(end.saturating_duration_since(sim.now));
        }
        checks.extend(self.checks.iter().map(|c| evaluate(&sim, &self.hosts, c)));
        let (trace, transitions) = sim.finish();
        ScenarioResult {
            trace,
            transitions,
            checks,
        }
    }
}

fn flatten(prefix: &str, t: &toml::Table, out: &mut Vec<(String, Value)>) {
    for (k, v) in t {
        match v {
            Value::Table(inner) => flatten(&format!("{prefix}{k}."), inner, out),
            v => out.push((format!("{prefix}{k}"), v.clone())),
        }
    }
}

fn set_field(
    cx: &Ctx<'_>,
    cfg: &mut Config,
    field: &str,
    val: &Value,
    at: &Spanned<Value>,
    path: &str,
) -> Result<(), ScenarioFileError> {
    let text = value_text(val)
        .ok_or_else(|| cx.err(at.span(), path, "expected a string, number or boolean"))?;
    knobs::set(cfg, field, &text).map_err(|e| cx.err(at.span(), path, e.message))
}

fn action(
    cx: &Ctx<'_>,
    hosts: &[String; 2],
    i: usize,
    a: &Spanned<ActionSpec>,
) -> Result<Action, ScenarioFileError> {
    let spec = a.get_ref();
    let f = |name: &str| format!("actions[{i}].{name}");
    let at = cx.duration(&spec.at, &f("at"))?;
    let host = hosts
        .iter()
        .position(|h| h == spec.host.get_ref())
        .ok_or_else(|| {
            cx.err(
                spec.host.span(),
                f("host"),
                format!(
                    "no host named '{}'; the hosts are {}",
                    spec.host.get_ref(),
                    hosts.join(", ")
                ),
            )
        })?;
    let call = match spec.what.get_ref().as_str() {
        "listen" => Call::Listen {
            port: spec.port.unwrap_or(80),
            backlog: spec.backlog.unwrap_or(128),
        },
        "connect" => Call::Connect {
            local_port: spec.local_port.unwrap_or(0),
            port: spec.port.unwrap_or(80),
        },
        "send" => {
            let Some(b) = &spec.bytes else {
                return Err(cx.err(a.span(), f("bytes"), "send needs bytes = N"));
            };
            let n = match b.get_ref() {
                Value::Integer(n) => usize::try_from(*n).ok(),
                Value::String(s) => parse_size(s),
                _ => None,
            };
            Call::Send(n.ok_or_else(|| {
                cx.err(
                    b.span(),
                    f("bytes"),
                    "expected a size such as 1000 or \"64k\"",
                )
            })?)
        }
        "shutdown" => Call::Shutdown,
        "close" => Call::Close,
        "abort" => Call::Abort,
        "stop-reading" => Call::StopReading,
        "crash" => Call::Crash,
        "reboot" => Call::Reboot,
        "note" => Call::Note(spec.text.clone().unwrap_or_default()),
        other => {
            return Err(cx.err(
                spec.what.span(),
                f("do"),
                format!(
                    "unknown action '{other}'; expected listen, connect, send, shutdown, \
                     close, abort, stop-reading, crash, reboot or note"
                ),
            ))
        }
    };
    Ok(Action {
        at,
        host,
        conn: spec.conn.unwrap_or(0),
        call,
    })
}

fn check_spec(
    cx: &Ctx<'_>,
    hosts: &[String; 2],
    key: &str,
    v: &Spanned<Value>,
) -> Result<Vec<CheckSpec>, ScenarioFileError> {
    let count = |field: &str, val: &Value| match val {
        Value::Integer(n) if *n >= 0 => Ok(*n as u64),
        _ => Err(cx.err(v.span(), field, "expected a whole number")),
    };
    let state = |field: &str, val: &Value| {
        val.as_str().and_then(state_named).ok_or_else(|| {
            let all: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
            cx.err(
                v.span(),
                field,
                format!("expected a state name, one of {}", all.join(", ")),
            )
        })
    };
    match (key, hosts.iter().position(|h| h == key), v.get_ref()) {
        ("delivered", _, val) => Ok(vec![CheckSpec::Delivered(count("checks.delivered", val)?)]),
        ("rst", _, val) => Ok(vec![CheckSpec::Rsts(count("checks.rst", val)?)]),
        (_, Some(h), Value::Table(t)) => {
            let mut out = Vec::new();
            for (k, val) in t {
                let field = format!("checks.{key}.{k}");
                out.push(match k.as_str() {
                    "states" => {
                        let list = val.as_array().ok_or_else(|| {
                            cx.err(v.span(), &field, "expected a list of state names")
                        })?;
                        let states = list
                            .iter()
                            .map(|s| state(&field, s))
                            .collect::<Result<Vec<_>, _>>()?;
                        CheckSpec::States(h, states)
                    }
                    "final" => CheckSpec::Final(h, state(&field, val)?),
                    "received" => CheckSpec::Received(h, count(&field, val)?),
                    _ => {
                        return Err(cx.err(
                            v.span(),
                            field,
                            "unknown check; a host takes states, final and received",
                        ))
                    }
                });
            }
            Ok(out)
        }
        _ => Err(cx.err(
            v.span(),
            format!("checks.{key}"),
            format!(
                "unknown check; expected delivered, rst, or a host ({}) with states, final, received",
                hosts.join(", ")
            ),
        )),
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn act(sim: &mut Sim, a: &Action) -> Result<(), String> {
    let h = a.host;
    let conn = |sim: &Sim| {
        sim.conn(h, a.conn)
            .ok_or_else(|| format!("{} has no connection {} yet", sim.hosts[h].name, a.conn))
    };
    match &a.call {
        Call::Listen { port, backlog } => {
            sim.try_listen(h, *port, *backlog)
                .map_err(|e| format!("listen on port {port} failed: {e:?}"))?;
        }
        Call::Connect { local_port, port } => {
            sim.connect(h, *local_port, *port)
                .map_err(|e| format!("connect failed: {e:?}"))?;
        }
        Call::Send(n) => {
            let c = conn(sim)?;
            sim.send(h, c, &pattern(*n));
        }
        Call::Shutdown => {
            let c = conn(sim)?;
            sim.note(
                Some(h),
                format!("{} calls shutdown(SHUT_WR)", sim.hosts[h].name),
            );
            sim.close_when_sent(h, c, CloseMode::Shutdown);
        }
        Call::Close => {
            let c = conn(sim)?;
            sim.note(Some(h), format!("{} calls close()", sim.hosts[h].name));
            sim.close_when_sent(h, c, CloseMode::Close);
        }
        Call::Abort => {
            let c = conn(sim)?;
            sim.note(Some(h), format!("{} calls abort()", sim.hosts[h].name));
            sim.abort(h, c);
        }
        Call::StopReading => sim.hosts[h].app.reading = false,
        Call::Crash => sim.crash(h),
        Call::Reboot => sim.reboot(h),
        Call::Note(text) => sim.note(Some(h), text.clone()),
    }
    Ok(())
}

fn names(states: &[State]) -> String {
    let v: Vec<&str> = states.iter().map(|s| s.name()).collect();
    v.join(" -> ")
}

fn evaluate(sim: &Sim, hosts: &[String; 2], c: &CheckSpec) -> Check {
    let received = |h: usize| -> u64 {
        sim.hosts[h]
            .app
            .state
            .values()
            .map(|s| s.received.len() as u64)
            .sum()
    };
    let (what, ok, detail) = match c {
        CheckSpec::States(h, want) => {
            let got = sim.trace.states_of(*h);
            (
                format!("{}: {}", hosts[*h], names(want)),
                got == *want,
                format!("saw {}", names(&got)),
            )
        }
        CheckSpec::Final(h, want) => {
            let got = sim.trace.states_of(*h).last().copied();
            (
                format!("{} ends in {}", hosts[*h], want.name()),
                got == Some(*want),
                format!("ended in {}", got.map_or("no state", |s| s.name())),
            )
        }
        CheckSpec::Received(h, n) => {
            let got = received(*h);
            (
                format!("{}'s application read {n} bytes", hosts[*h]),
                got == *n,
                format!("read {got}"),
            )
        }
        CheckSpec::Delivered(n) => {
            let got = received(0) + received(1);
            (
                format!("{n} bytes delivered to the applications"),
                got == *n,
                format!("{got} delivered"),
            )
        }
        CheckSpec::Rsts(n) => {
            let got = sim
                .trace
                .packets_from(0)
                .chain(sim.trace.packets_from(1))
                .filter(|p| p.0.flags.rst())
                .count() as u64;
            (
                format!("{n} RST segments"),
                got == *n,
                format!("{got} RSTs"),
            )
        }
    };
    Check {
        what,
        ok,
        detail: if ok { String::new() } else { detail },
    }
}
