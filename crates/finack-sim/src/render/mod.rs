//! Ways to show a [`Trace`](crate::trace::Trace): a sequence diagram for the
//! terminal ([`diagram_text`]), the same diagram as a standalone SVG picture
//! ([`diagram_svg`]), a JSON document ([`to_json`]) and a pcap capture that
//! Wireshark or tshark can open ([`to_pcap`]).
//!
//! The diagrams follow the figures of the seed articles: the first host
//! (usually the client) on a lifeline at the left, the second on the right,
//! one arrow per packet labelled with its flags, sequence and acknowledgment
//! numbers and payload length, and each host's new state written beside its
//! lifeline whenever one of its connections changes state.
//!
//! Sequence and acknowledgment numbers in the diagrams are relative, as
//! Wireshark shows them: the first SYN a host sends on a connection fixes that
//! side's initial sequence number (ISN), its sequence numbers are counted from
//! there and the peer's acknowledgments of them likewise. The absolute ISNs
//! are printed once in each diagram's header. JSON and pcap keep the absolute
//! numbers (JSON adds the relative ones beside them).
//!
//! Every output is a pure function of the trace, so the same scenario run with
//! the same seed renders to byte-identical text, SVG, JSON and pcap.

mod json;
mod layout;
mod pcap;
mod svg;
mod text;

pub use json::to_json;
pub use pcap::to_pcap;
pub use svg::{diagram_svg, diagram_svg_with, SvgOptions};
pub use text::{diagram_text, diagram_text_with, TextOptions};

/// How many trace events a diagram draws in full by default. Longer traces are
/// cut: the first events and the last few are drawn, with one line in between
/// saying how many were left out.
pub const DEFAULT_MAX_EVENTS: usize = 80;
