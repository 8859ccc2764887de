//! "What if": run a catalog scenario (or a scenario file) with changed
//! [`Config`] fields, scripted faults and socket tables, without writing
//! Rust.
//!
//! The options of one run are a [`RunOptions`], handed to
//! [`ScenarioDef::run_with`]. Catalog scenarios build their simulators
//! themselves, so the options reach them through a *run context*: while
//! `run_with` runs the scenario, every [`Sim`] created on that thread takes
//! the context's settings (applied over the configuration the scenario
//! chose, so they win), installs its fault rules and loss, and hands its
//! socket tables back when it finishes. The context is scoped: it exists
//! only for the duration of the call (also when the scenario panics), and
//! simulators created outside one are untouched.

pub mod faults;
pub mod knobs;
pub mod show;
pub mod ss;
pub mod user;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use finack_core::{Config, Instant};

use crate::catalog::{ScenarioDef, ScenarioResult};
use crate::sim::{Family, Sim};
pub use faults::{FaultAction, FaultError, FaultRule};
pub use knobs::KnobError;
pub use ss::SocketTable;

/// One `FIELD=VALUE` setting, for both hosts or for the host it names
/// (`server.time_wait=10s`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The host's name; `None` for every host.
    pub host: Option<String>,
    /// The [`Config`] field (nested ones with a dot: `listener_limits.idle_timeout`).
    pub field: String,
    /// Its value as text.
    pub value: String,
}

impl Setting {
    /// Parse `[HOST.]FIELD=VALUE`, checking that the field exists and takes
    /// the value.
    pub fn parse(text: &str) -> Result<Setting, KnobError> {
        let Some((key, value)) = text.split_once('=') else {
            return Err(KnobError {
                field: text.to_string(),
                message: format!(
                    "bad setting '{text}': expected [HOST.]FIELD=VALUE, e.g. time_wait=30s \
                     or server.delayed_ack=off"
                ),
            });
        };
        let key = key.trim();
        let is_field = |f: &str| knobs::fields().any(|(n, _)| n == f);
        let (host, field) = match key.split_once('.') {
            Some((h, f))
                if !is_field(key) && !is_field(h) && !h.eq_ignore_ascii_case("listener_limits") =>
            {
                (Some(h.to_string()), f.to_string())
            }
            _ => (None, key.to_string()),
        };
        let s = Setting {
            host,
            field,
            value: value.trim().to_string(),
        };
        s.apply(&mut Config::linux())?;
        Ok(s)
    }

    /// Set the field in `cfg`.
    pub fn apply(&self, cfg: &mut Config) -> Result<(), KnobError> {
        knobs::set(cfg, &self.field, &self.value)
    }

    /// As written: `[HOST.]FIELD=VALUE`.
    pub fn text(&self) -> String {
        match &self.host {
            Some(h) => format!("{h}.{}={}", self.field, self.value),
            None => format!("{}={}", self.field, self.value),
        }
    }
}

/// What to change in a run, and what to show of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOptions {
    /// Config fields to change, in order (a later one wins).
    pub settings: Vec<Setting>,
    /// Scripted faults (`--drop`, `--delay`).
    pub faults: Vec<FaultRule>,
    /// Random loss probability (0..=1) of every packet, both ways.
    pub loss: Option<f64>,
    /// Take both hosts' socket tables at these virtual times.
    pub ss_at: Vec<Duration>,
    /// And every this often.
    pub ss_every: Option<Duration>,
}

impl RunOptions {
    /// True when the options change nothing and show nothing.
    pub fn is_empty(&self) -> bool {
        *self == RunOptions::default()
    }
}

/// A run made with [`RunOptions`]: the scenario's result and the socket
/// tables asked for.
#[derive(Clone, Debug)]
pub struct WhatIfRun {
    /// The run, its trace and checks.
    pub result: ScenarioResult,
    /// The socket tables in time order (each run of a scenario made of two
    /// runs has its own).
    pub tables: Vec<SocketTable>,
}

impl ScenarioDef {
    /// Run the scenario with `opts`: its configurations changed by the
    /// settings, the faults installed, the tables taken. A setting or fault
    /// for a host the scenario does not have is an error.
    pub fn run_with(
        &self,
        seed: u64,
        family: Family,
        opts: &RunOptions,
    ) -> Result<WhatIfRun, String> {
        let run = self.run;
        with_context(opts, move || run(seed, family))
    }
}

/// Run `f` inside a run context made of `opts` (see the module docs).
pub(crate) fn with_context(
    opts: &RunOptions,
    f: impl FnOnce() -> ScenarioResult,
) -> Result<WhatIfRun, String> {
    let guard = Guard::enter(opts.clone());
    let result = f();
    let ctx = guard.exit();
    let named: BTreeSet<&String> = opts
        .settings
        .iter()
        .filter_map(|s| s.host.as_ref())
        .chain(opts.faults.iter().filter_map(|r| r.host.as_ref()))
        .collect();
    let missing: Vec<&&String> = named.iter().filter(|h| !ctx.hosts.contains(**h)).collect();
    if let Some(h) = missing.first() {
        let known: Vec<&String> = ctx.hosts.iter().collect();
        return Err(format!(
            "no host named '{h}' in this scenario; its hosts are {}",
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(WhatIfRun {
        result,
        tables: ctx.tables,
    })
}

/// The run context of the current thread.
struct Context {
    opts: RunOptions,
    /// Names of the hosts of every simulator created in the context.
    hosts: BTreeSet<String>,
    /// Tables handed back by finished simulators.
    tables: Vec<SocketTable>,
}

thread_local! {
    static ACTIVE: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Clears the context when dropped, also on a panic.
struct Guard;

impl Guard {
    fn enter(opts: RunOptions) -> Guard {
        ACTIVE.with(|a| {
            *a.borrow_mut() = Some(Context {
                opts,
                hosts: BTreeSet::new(),
                tables: Vec::new(),
            })
        });
        Guard
    }

    fn exit(self) -> Context {
        let ctx = ACTIVE.with(|a| a.borrow_mut().take());
        ctx.expect("run context present")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.borrow_mut().take());
    }
}

/// What a simulator created in a run context keeps: when to take tables,
/// and those taken.
pub(crate) struct SimHooks {
    /// Explicit times still to come, earliest first.
    pending: Vec<Instant>,
    every: Option<Duration>,
    next_every: Option<Instant>,
    tables: Vec<SocketTable>,
}

/// Most tables `--ss-every` takes in one run.
const MAX_TABLES: usize = 10_000;

/// Apply the context's settings to the configurations of a simulator about
/// to be built with hosts `names` (no-op outside a context).
pub(crate) fn configure(names: [&str; 2], configs: &mut [Config; 2]) {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        let Some(ctx) = a.as_mut() else { return };
        for (name, cfg) in names.iter().zip(configs.iter_mut()) {
            ctx.hosts.insert(name.to_string());
            for s in &ctx.opts.settings {
                if s.host.as_deref().is_none_or(|h| h == *name) {
                    // Checked when the setting was parsed.
                    let _ = s.apply(cfg);
                }
            }
        }
    });
}

/// Install the context's faults and table times in a new simulator.
pub(crate) fn attach(sim: &mut Sim) {
    let opts = ACTIVE.with(|a| a.borrow().as_ref().map(|c| c.opts.clone()));
    let Some(opts) = opts else { return };
    let mut what: Vec<String> = opts.settings.iter().map(Setting::text).collect();
    if !opts.faults.is_empty() {
        let names = [sim.hosts[0].name.clone(), sim.hosts[1].name.clone()];
        sim.rule(faults::scripted(&opts.faults, names));
        what.extend(opts.faults.iter().map(|r| match r.action {
            FaultAction::Drop => format!("drop {}", r.text),
            FaultAction::Delay(_) => format!("delay {}", r.text),
        }));
    }
    if let Some(p) = opts.loss {
        sim.faults.loss = p;
        what.push(format!("loss {}%", p * 100.0));
    }
    if !what.is_empty() {
        sim.note(None, format!("what if: {}", what.join(", ")));
    }
    if !opts.ss_at.is_empty() || opts.ss_every.is_some() {
        let mut pending: Vec<Instant> = opts
            .ss_at
            .iter()
            .map(|d| Instant::from_micros(d.as_micros() as u64))
            .collect();
        pending.sort();
        let every = opts.ss_every.filter(|d| !d.is_zero());
        sim.hooks = Some(SimHooks {
            pending,
            every,
            next_every: every.map(|d| Instant::ZERO + d),
            tables: Vec::new(),
        });
    }
}

impl Sim {
    /// Virtual time is about to move on to `next`: take the tables due
    /// before it (the state has not changed since the last event).
    pub(crate) fn before_time(&mut self, next: Instant) {
        let Some(mut hooks) = self.hooks.take() else {
            return;
        };
        loop {
            let explicit = hooks.pending.first().copied().filter(|&t| t < next);
            let every = hooks
                .next_every
                .filter(|&t| t < next && hooks.tables.len() < MAX_TABLES);
            let t = match (explicit, every) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if explicit == Some(t) {
                hooks.pending.remove(0);
            }
            if every == Some(t) {
                hooks.next_every = hooks.every.map(|d| t + d);
            }
            hooks.tables.push(self.socket_table(t, None));
        }
        self.hooks = Some(hooks);
    }

    /// Both hosts' tables now, labelled `time`.
    fn socket_table(&self, time: Instant, ended_early: Option<Instant>) -> SocketTable {
        SocketTable {
            time,
            run: self.trace.scenario.clone(),
            ended_early,
            hosts: self
                .hosts
                .iter()
                .map(|h| ss::host_table(&h.name, &h.ep, &h.app.listeners, time, h.up))
                .collect(),
        }
    }

    /// The run ends: take the tables due by now, those asked for later at
    /// the end, and hand them to the context.
    pub(crate) fn finish_hooks(&mut self) {
        let end = self.now;
        self.before_time(Instant::from_micros(end.as_micros() + 1));
        let Some(mut hooks) = self.hooks.take() else {
            return;
        };
        for t in std::mem::take(&mut hooks.pending) {
            let table = self.socket_table(end, Some(end));
            hooks.tables.push(SocketTable { time: t, ..table });
        }
        ACTIVE.with(|a| {
            if let Some(ctx) = a.borrow_mut().as_mut() {
                ctx.tables.extend(hooks.tables);
            }
        });
    }
}
