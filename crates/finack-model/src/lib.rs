//! finack-model: model checking of two real finack-core endpoints with
//! [stateright](https://docs.rs/stateright).
//!
//! A client and a server `finack_core::Endpoint` talk over a network that
//! may lose, duplicate and reorder a bounded number of packets and holds a
//! packet at most one MSL. The applications' calls (connect, send,
//! shutdown, close, abort), a host crash and the passing of time (a jump to
//! the next timer deadline) are the model's other actions. The checker
//! explores every interleaving within the [`Bounds`] and checks:
//!
//! - the bytes each side delivers are the peer's stream of the same
//!   incarnation, in order, once, unaltered, and all of them before end of
//!   stream;
//! - a segment of an older incarnation of the 4-tuple never changes a newer
//!   connection;
//! - when nothing is left to do (no packet in flight, no timer, no
//!   application call, no fault to spend) both endpoints are CLOSED;
//!
//! and that the interesting paths are reached (TIME-WAIT, CLOSING, data
//! sent in CLOSE-WAIT, a lost packet recovered, a new incarnation, a reset
//! after a crash), so the model is not vacuous.
//!
//! The engine cannot be cloned, so a model state keeps each endpoint's
//! input history and the endpoint is rebuilt by replaying it: the engine is
//! deterministic, and two states are the same when both endpoints were fed
//! the same inputs at the same instants and the network holds the same
//! packets.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
mod hist;
mod model;
mod net;
mod side;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use stateright::{Checker, Expectation, Model};

pub use model::{model_config, seen, Action, Bounds, Faults, ModelState, Profile, TcpModel};
pub use net::{Iss, Packet};
pub use side::{encode, App, AppConn, Known, Phase, Side, SideState, CLIENT_ADDR, SERVER_ADDR};

/// What the check found for one property.
#[derive(Clone, Debug)]
pub struct PropertyResult {
    /// The property.
    pub name: &'static str,
    /// always / sometimes.
    pub expectation: Expectation,
    /// For `always`: a counterexample; for `sometimes`: an example. The
    /// path, one step a line.
    pub discovery: Option<String>,
}

impl PropertyResult {
    /// The property holds: no counterexample to an `always`, an example of
    /// a `sometimes`.
    pub fn holds(&self) -> bool {
        match self.expectation {
            Expectation::Sometimes => self.discovery.is_some(),
            _ => self.discovery.is_none(),
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct Report {
    /// The bounds checked.
    pub bounds: Bounds,
    /// States generated, repeats included.
    pub states: usize,
    /// Distinct states.
    pub unique_states: usize,
    /// Longest path explored.
    pub max_depth: usize,
    /// Wall-clock time of the check.
    pub elapsed: Duration,
    /// Every reachable state within the bounds was explored.
    pub complete: bool,
    /// One result per property.
    pub properties: Vec<PropertyResult>,
}

impl Report {
    /// Every property holds and the exploration was complete.
    pub fn ok(&self) -> bool {
        self.complete && self.properties.iter().all(PropertyResult::holds)
    }

    /// A human-readable report: the bound, the figures, each property's
    /// result, and the path of every counterexample.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "bound: {}", self.bounds.describe());
        let _ = writeln!(
            s,
            "states explored: {} ({} unique), max depth {}, {:.1} s{}",
            self.states,
            self.unique_states,
            self.max_depth,
            self.elapsed.as_secs_f64(),
            if self.complete { "" } else { " (INCOMPLETE)" }
        );
        for p in &self.properties {
            let kind = match p.expectation {
                Expectation::Always => "always",
                Expectation::Eventually => "eventually",
                Expectation::Sometimes => "sometimes",
            };
            let verdict = match (p.holds(), &p.expectation) {
                (true, Expectation::Sometimes) => "example found",
                (true, _) => "holds",
                (false, Expectation::Sometimes) => "NOT REACHED",
                (false, _) => "VIOLATED",
            };
            let _ = writeln!(s, "  [{verdict}] {kind}: {}", p.name);
            if !p.holds() {
                if let Some(d) = &p.discovery {
                    let _ = writeln!(s, "{d}");
                }
            }
        }
        s
    }
}

/// Explore every state within `bounds` (breadth first, on `threads`
/// threads) and check the properties.
pub fn check(bounds: &Bounds, threads: usize) -> Report {
    check_with(bounds, threads, None, |_, _, _| {})
}

/// [`check`], stopping after `max_states` states if given, and calling
/// `progress(states, unique states, max depth)` every few seconds.
pub fn check_with(
    bounds: &Bounds,
    threads: usize,
    max_states: Option<usize>,
    mut progress: impl FnMut(usize, usize, usize),
) -> Report {
    let model = TcpModel::new(bounds.clone());
    let names: Vec<(&'static str, Expectation)> = model
        .properties()
        .iter()
        .map(|p| (p.name, p.expectation.clone()))
        .collect();
    let start = Instant::now();
    let mut builder = model.checker().threads(threads.max(1));
    if let Some(n) = max_states {
        builder = builder.target_state_count(n);
    }
    let checker = builder.spawn_bfs();
    let mut last = Instant::now();
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(20));
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            progress(
                checker.state_count(),
                checker.unique_state_count(),
                checker.max_depth(),
            );
        }
    }
    let checker = checker.join();
    let elapsed = start.elapsed();
    let model = checker.model();
    let properties = names
        .into_iter()
        .map(|(name, expectation)| PropertyResult {
            name,
            expectation,
            discovery: checker.discovery(name).map(|path| {
                let mut out = String::new();
                let states = path.into_vec();
                for (st, action) in &states {
                    if let Some(a) = action {
                        let _ = writeln!(out, "    {a:?}");
                    } else {
                        let _ = writeln!(out, "    final state:");
                        let _ = writeln!(out, "{}", describe_state(model, st));
                    }
                }
                out
            }),
        })
        .collect();
    Report {
        bounds: bounds.clone(),
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        elapsed,
        // The checker also calls itself done when it stopped at the target
        // state count.
        complete: checker.is_done() && max_states.is_none_or(|n| checker.state_count() < n),
        properties,
    }
}

/// A state, a few lines: time, each side's connections, the network and
/// the violation if any.
pub fn describe_state(model: &TcpModel, st: &ModelState) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "      t={}ms faults={:?}", st.now / 1000, st.faults);
    for side in [Side::Client, Side::Server] {
        let ss = st.side(side);
        let _ = writeln!(
            s,
            "      {side:?}: epoch {} live {:?} deadline {:?}",
            ss.epoch, ss.app.live, ss.app.deadline
        );
        for c in ss.all_conns() {
            let _ = writeln!(
                s,
                "        {:?} inc {:?} {:?} {:?} sent {} delivered {:02x?} eof {} error {:?}",
                c.id, c.inc, c.phase, c.state, c.sent, c.delivered, c.eof, c.error
            );
        }
    }
    for p in &st.net {
        let _ = writeln!(s, "      in flight: {p:?}");
    }
    if let Some(v) = &st.violation {
        let _ = writeln!(s, "      violation: {v}");
    }
    if let Some(v) = model.stuck(st) {
        let _ = writeln!(s, "      stuck: {v}");
    }
    s
}
