//! finack-sim: a deterministic network simulator for finack.
//!
//! Hosts, each with its own [`finack_core::Endpoint`], joined by a link with
//! latency, bandwidth and a queue limit; seeded faults (loss, duplication,
//! reordering, corruption, an extra delay for chosen packets, scripted drops,
//! partitions, host crash and reboot). Every run records a [`Trace`], drawn as a
//! sequence diagram in the terminal or as SVG, written as JSON or as a pcap.
//!
//! The [`catalog()`] holds the scenarios of the seed articles: the handshake, the
//! four-way close and its variants, TIME-WAIT and what goes wrong without it, and
//! the failure modes of connections that are never closed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attack;
pub mod catalog;
pub mod fuzz;
pub mod goodput;
pub mod render;
pub mod rng;
pub mod sim;
pub mod trace;
pub mod whatif;

pub use catalog::{catalog, find, Check, ScenarioDef, ScenarioResult};
pub use sim::{Family, Faults, LinkConfig, Sim};
pub use trace::{Fate, HostId, HostInfo, SegmentSummary, Trace, TraceEvent};
pub use whatif::{RunOptions, Setting, WhatIfRun};
