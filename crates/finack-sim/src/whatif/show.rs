//! Catalog scenarios as scenario files (`finack sim show NAME`), where the
//! file format can express them.

/// The catalog scenarios that a scenario file expresses, as files. Each
/// runs to the same state sequences as the catalog's scenario (a test
/// holds them to it); their checks are the file format's (states, final
/// state, bytes read, RSTs), not every check of the Rust scenario.
const FILES: &[(&str, &str)] = &[
    ("handshake", include_str!("../../scenarios/handshake.toml")),
    (
        "client-close",
        include_str!("../../scenarios/client-close.toml"),
    ),
    (
        "server-close",
        include_str!("../../scenarios/server-close.toml"),
    ),
    (
        "simultaneous-close",
        include_str!("../../scenarios/simultaneous-close.toml"),
    ),
    (
        "half-close",
        include_str!("../../scenarios/half-close.toml"),
    ),
    (
        "lost-last-ack",
        include_str!("../../scenarios/lost-last-ack.toml"),
    ),
    (
        "simultaneous-open",
        include_str!("../../scenarios/simultaneous-open.toml"),
    ),
    ("rst-abort", include_str!("../../scenarios/rst-abort.toml")),
    ("refused", include_str!("../../scenarios/refused.toml")),
];

/// Why the other catalog scenarios are not files.
const NOT_FILES: &[(&str, &str)] = &[
    ("fin-ack-merged", "the server's application closes the moment it sees the client's FIN (a reaction to an event, not a call at a fixed time); actions in a file happen at times"),
    ("fin-with-data", "its last data must be queued together with the FIN in one call; a file's send and close are separate calls"),
    ("no-time-wait", "it is two runs side by side (with TIME-WAIT and without) and replays a FIN into the second; a file is one run"),
    ("old-duplicate", "it holds one particular data segment back until a new connection reuses the 4-tuple, and compares two runs; a file's faults count segments per host, and a file is one run"),
    ("half-open", "it asserts on the error the client's application sees after the reboot and turns on keep-alive per connection; a file has neither"),
    ("idle-attacker", "its server uses a listener idle timeout and it opens many connections, with and without the defence; a file's actions act on one connection at a time and a file is one run"),
    ("close-wait-leak", "it checks the age of a CLOSE-WAIT connection as the engine reports it; a file's checks cannot read it"),
    ("msl", "it holds particular segments in the network for seconds and drops one for outliving MSL; a file's delays and drops are per segment but its checks cannot see arrival times"),
    ("isn-clock", "it compares the ISNs of two incarnations; a file's checks cannot read sequence numbers"),
    ("seq-wrap", "it forges a segment one sequence wrap old from the server's latest one and runs twice (timestamps off and on); a file has neither"),
    ("time-wait-buckets", "it opens connections in a loop and runs twice (cap off and on); a file is one run"),
    ("time-wait-calls", "it asserts on what recv() and send() return in TIME-WAIT; a file's checks cannot see return values"),
    ("syn-flood", "it forgets spoofed connections without a word and runs twice (cookies off and on); a file has neither"),
    ("time-wait-exhaustion", "it opens connections in a loop until the ports run out, and runs twice (tw_reuse off and on); a file lists its actions one by one and is one run"),
];

/// `name` as a scenario file, or why it cannot be one (`Err`). `None`
/// for a name the catalog does not have.
pub fn as_file(name: &str) -> Option<Result<&'static str, &'static str>> {
    if let Some((_, text)) = FILES.iter().find(|(n, _)| *n == name) {
        return Some(Ok(text));
    }
    NOT_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| Err(*why))
}

/// The names of the catalog scenarios a file expresses.
pub fn expressible() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(n, _)| *n)
}
