//! The tiny application each simulated host runs: accepts, reads, sends what
//! the scenario queued, closes when told.

use std::collections::{BTreeMap, VecDeque};

use finack_core::{ConnId, Error, ListenerId};

use super::CloseMode;

/// Per-connection application state.
#[derive(Default, Debug)]
pub struct ConnApp {
    /// Bytes queued by the script, not yet accepted by `send`.
    pub to_send: VecDeque<u8>,
    /// Bytes read so far.
    pub received: Vec<u8>,
    /// `recv` returned end of stream.
    pub eof: bool,
    /// What to do once `to_send` is empty.
    pub close_when_sent: Option<CloseMode>,
    /// The application called close/abort.
    pub released: bool,
    /// Error `recv` reported, if any.
    pub error: Option<Error>,
}

/// A host's application: accepts, reads everything, sends what the scenario
/// queued, closes when told.
#[derive(Default, Debug)]
pub struct HostApp {
    /// Accept connections from these listeners.
    pub listeners: Vec<ListenerId>,
    /// Accept new connections (false: let them pile up in the accept queue).
    pub accepting: bool,
    /// Read data as it arrives.
    pub reading: bool,
    /// Close a connection as soon as the peer's FIN is seen (FIN+ACK merge).
    pub close_on_peer_fin: bool,
    /// With `close_on_peer_fin`: the last data to write when the peer's FIN
    /// is seen, before closing (data, the ACK of the FIN and our FIN can
    /// then leave in one segment).
    pub last_words: Vec<u8>,
    /// Connections, in the order they were opened or accepted.
    pub conns: Vec<ConnId>,
    /// Their application state.
    pub state: BTreeMap<ConnId, ConnApp>,
}
