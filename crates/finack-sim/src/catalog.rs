//! The scenario catalog.

use finack_core::Transition;

use crate::sim::Family;
use crate::trace::{HostId, Trace};

/// One assertion a scenario makes about its run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What is checked, e.g. "client: CLOSED → SYN-SENT → ESTABLISHED".
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// What was seen, when it did not hold.
    pub detail: String,
}

/// The outcome of running a scenario.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// Everything that happened.
    pub trace: Trace,
    /// The engines' own transition records behind the trace's state changes
    /// (listeners included), with the host each happened on. A scenario made of
    /// two runs has the second run's records after the first's, their times
    /// shifted as in the trace.
    pub transitions: Vec<(HostId, Transition)>,
    /// The scenario's assertions.
    pub checks: Vec<Check>,
}

impl ScenarioResult {
    /// True when every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// A named scenario.
pub struct ScenarioDef {
    /// Name used on the command line, e.g. `lost-last-ack`.
    pub name: &'static str,
    /// One line describing what it shows.
    pub summary: &'static str,
    /// Run it with a seed, on IPv4 (what `finack sim` shows) or IPv6.
    pub run: fn(seed: u64, family: Family) -> ScenarioResult,
}

/// All scenarios, in teaching order.
pub fn catalog() -> &'static [ScenarioDef] {
    crate::sim::scenarios::CATALOG
}

/// Look a scenario up by name.
pub fn find(name: &str) -> Option<&'static ScenarioDef> {
    catalog().iter().find(|s| s.name == name)
}
