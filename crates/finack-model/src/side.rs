//! One side of the model: a real `finack_core::Endpoint` and the small
//! application that drives it. Everything here is a function of the side's
//! history (`Hist`): [`apply`] is the one way an input takes effect, used both
//! when the model takes a step and when it replays a history to rebuild the
//! endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use finack_core::{Config, ConnId, Endpoint, Error, Instant, ListenerId, Shutdown, State};

use crate::hist::{Hist, Input};

/// The client's address and the one port every incarnation uses.
pub const CLIENT_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
    40000,
);
/// The server's listening address.
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1)),
    80,
);

/// Which endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The active opener (192.0.2.1).
    Client,
    /// The listener (198.51.100.1).
    Server,
}

impl Side {
    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// The byte a side sends at position `idx` of its stream in incarnation
/// `inc`: every position of every stream has its own value, so a byte
/// delivered twice, out of order, altered or from another incarnation shows.
pub fn encode(side: Side, inc: u8, idx: u8) -> u8 {
    let top = match side {
        Side::Client => 0,
        Side::Server => 0x80,
    };
    top | (inc & 7) << 4 | (idx & 15)
}

/// Where the application is with one of its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Open both ways as far as the application is concerned.
    Open,
    /// After `shutdown(SHUT_WR)`.
    WriteShut,
    /// After `close()` or `abort()`: the handle is gone.
    Released,
}

/// A connection the application holds (or held).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppConn {
    /// The engine's handle.
    pub id: ConnId,
    /// The client incarnation this connection belongs to (on the server:
    /// the incarnation of the SYN that created it), if known.
    pub inc: Option<u8>,
    /// The application's progress.
    pub phase: Phase,
    /// The engine's state of the connection after the last step.
    pub state: State,
    /// Bytes the application handed to `send`.
    pub sent: u8,
    /// Position of the first byte sent while the connection was in CLOSE-WAIT.
    pub close_wait_from: Option<u8>,
    /// Bytes `recv` returned, in order.
    pub delivered: Vec<u8>,
    /// `recv` returned end of stream.
    pub eof: bool,
    /// The error `recv` returned, if any (then the application stops reading).
    pub error: Option<String>,
}

impl AppConn {
    fn new(id: ConnId, inc: Option<u8>, state: State) -> AppConn {
        AppConn {
            id,
            inc,
            phase: Phase::Open,
            state,
            sent: 0,
            close_wait_from: None,
            delivered: Vec::new(),
            eof: false,
            error: None,
        }
    }
}

/// Every connection the endpoint ever had, with the incarnation it belongs
/// to and what an old segment must not change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Known {
    /// The engine's handle.
    pub id: ConnId,
    /// Its incarnation (see [`AppConn::inc`]).
    pub inc: Option<u8>,
    /// State after the last step.
    pub state: State,
    /// `ConnInfo::bytes_received` after the last step.
    pub received: u64,
    /// `ConnInfo::bytes_acked` after the last step.
    pub acked: u64,
}

/// What a side's history determines, kept in the model state so the
/// properties and the action menu need no replay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct App {
    /// The server's listener.
    pub listener: Option<ListenerId>,
    /// Connections the application opened or accepted, in that order.
    pub conns: Vec<AppConn>,
    /// Every connection the endpoint created.
    pub known: Vec<Known>,
    /// The endpoint's next timer deadline (microseconds).
    pub deadline: Option<u64>,
    /// The engine's connections (TIME-WAIT included) and their states.
    pub live: Vec<(ConnId, State)>,
    /// `Stats::time_wait_reused`: a SYN reopened a TIME-WAIT 4-tuple.
    pub tw_reused: u64,
}

/// A side as the model state keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SideState {
    pub(crate) hist: Hist,
    /// Crashes of this side so far (the endpoint was replaced by a fresh one).
    pub epoch: u8,
    /// The application's connections from before the last crash: what they
    /// delivered still has to be right.
    pub dead: Arc<Vec<AppConn>>,
    /// What the history determines.
    pub app: App,
}

impl SideState {
    /// Connections the application holds or held, before and after crashes.
    pub fn all_conns(&self) -> impl Iterator<Item = &AppConn> {
        self.dead.iter().chain(self.app.conns.iter())
    }
}

/// What one step produced, for the model to act on.
#[derive(Debug, Default)]
pub(crate) struct StepOut {
    /// Packets the endpoint sent, in order.
    pub packets: Vec<Vec<u8>>,
    /// An old incarnation's segment changed a newer connection.
    pub old_accepted: Option<String>,
    /// An old incarnation's segment reached a newer live connection and
    /// changed nothing.
    pub old_rejected: bool,
}

/// A fresh endpoint for `side` after `epoch` crashes.
pub(crate) fn boot(side: Side, epoch: u8, cfg: &Config) -> Endpoint {
    let mut secret = [0x5a; 16];
    secret[0] = side as u8;
    secret[1] = epoch;
    let mut ep = Endpoint::new(cfg.clone(), secret);
    let addr = match side {
        Side::Client => CLIENT_ADDR,
        Side::Server => SERVER_ADDR,
    };
    ep.add_address(addr.ip());
    ep
}

/// Rebuild a side's endpoint and application by replaying its history.
pub(crate) fn rebuild(side: Side, cfg: &Config, hist: &Hist) -> (Endpoint, App) {
    let entries = hist.entries();
    let Some(&(_, Input::Boot(epoch))) = entries.first() else {
        unreachable!("a history starts with Boot");
    };
    let mut ep = boot(side, *epoch, cfg);
    let mut app = App::default();
    let mut out = StepOut::default();
    for &(now, input) in &entries[1..] {
        apply(side, &mut ep, &mut app, now, input, &mut out);
        out.packets.clear();
    }
    (ep, app)
}

fn info_of(ep: &Endpoint, id: ConnId) -> (State, u64, u64) {
    let info = ep.info(id);
    (
        ep.state(id),
        info.as_ref().map_or(0, |i| i.bytes_received),
        info.as_ref().map_or(0, |i| i.bytes_acked),
    )
}

/// Give `input` to the endpoint at `now` (microseconds), then let the
/// application do what any application would right away (accept what is
/// waiting, read what arrived), and collect what the endpoint sends.
pub(crate) fn apply(
    side: Side,
    ep: &mut Endpoint,
    app: &mut App,
    now: u64,
    input: &Input,
    out: &mut StepOut,
) {
    let at = Instant::from_micros(now);
    // Connections of newer incarnations than an arriving segment's: it must
    // not change them.
    let watched: Vec<(usize, (State, u64, u64))> = match input {
        Input::Packet(_, Some(m)) => app
            .known
            .iter()
            .enumerate()
            .filter(|(_, k)| k.inc.is_some_and(|n| n > *m))
            .map(|(i, k)| (i, (k.state, k.received, k.acked)))
            .collect(),
        _ => Vec::new(),
    };
    match input {
        Input::Boot(_) => unreachable!("Boot only starts a history"),
        Input::Listen => app.listener = ep.listen(SERVER_ADDR, 8).ok(),
        Input::Connect(inc) => {
            if let Ok(c) = ep.connect(at, CLIENT_ADDR, SERVER_ADDR) {
                app.conns.push(AppConn::new(c, Some(*inc), ep.state(c)));
                app.known.push(Known {
                    id: c,
                    inc: Some(*inc),
                    state: State::SynSent,
                    received: 0,
                    acked: 0,
                });
            }
        }
        Input::Packet(bytes, _) => {
            let _ = ep.handle_packet(at, bytes);
        }
        Input::Timeout => ep.handle_timeout(at),
        Input::Send(i) => {
            let c = &mut app.conns[usize::from(*i)];
            let byte = encode(side, c.inc.unwrap_or(7), c.sent);
            let before = ep.state(c.id);
            if let Ok(1) = ep.send(at, c.id, &[byte]) {
                if before == State::CloseWait && c.close_wait_from.is_none() {
                    c.close_wait_from = Some(c.sent);
                }
                c.sent += 1;
            }
        }
        Input::Shutdown(i) => {
            let c = &mut app.conns[usize::from(*i)];
            let _ = ep.shutdown(at, c.id, Shutdown::Write);
            c.phase = Phase::WriteShut;
        }
        Input::Close(i) => {
            let c = &mut app.conns[usize::from(*i)];
            let _ = ep.close(at, c.id);
            c.phase = Phase::Released;
        }
        Input::Abort(i) => {
            let c = &mut app.conns[usize::from(*i)];
            let _ = ep.abort(at, c.id);
            c.phase = Phase::Released;
        }
    }
    // Connections the segment created belong to its incarnation.
    let tag = match input {
        Input::Packet(_, tag) => *tag,
        _ => None,
    };
    let fresh: Vec<ConnId> = ep
        .connections()
        .map(|(id, ..)| id)
        .filter(|id| !app.known.iter().any(|k| k.id == *id))
        .collect();
    for id in fresh {
        app.known.push(Known {
            id,
            inc: tag,
            state: State::Closed,
            received: 0,
            acked: 0,
        });
    }
    if let Some(l) = app.listener {
        while let Ok(c) = ep.accept(l) {
            let inc = app.known.iter().find(|k| k.id == c).and_then(|k| k.inc);
            app.conns.push(AppConn::new(c, inc, ep.state(c)));
        }
    }
    let mut buf = [0u8; 1600];
    for c in &mut app.conns {
        if c.phase == Phase::Released || c.eof || c.error.is_some() {
            continue;
        }
        loop {
            match ep.recv(at, c.id, &mut buf) {
                Ok(0) => {
                    c.eof = true;
                    break;
                }
                Ok(n) => c.delivered.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    c.error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
    }
    while let Some(n) = ep.poll_transmit(at, &mut buf) {
        out.packets.push(buf[..n].to_vec());
    }
    while ep.poll_event().is_some() {}
    for c in &mut app.conns {
        c.state = ep.state(c.id);
    }
    for k in &mut app.known {
        (k.state, k.received, k.acked) = info_of(ep, k.id);
    }
    for (i, before) in watched {
        let k = &app.known[i];
        if before != (k.state, k.received, k.acked) {
            out.old_accepted = Some(format!(
                "{side:?} connection {:?} of incarnation {:?}: (state, received, acked) {:?} -> {:?} \
                 on a segment of incarnation {:?}",
                k.id,
                k.inc,
                before,
                (k.state, k.received, k.acked),
                tag
            ));
        } else if before.0 != State::Closed {
            out.old_rejected = true;
        }
    }
    app.deadline = ep.poll_timeout().map(Instant::as_micros);
    app.live = ep.connections().map(|(id, s, ..)| (id, s)).collect();
    app.tw_reused = ep.stats().time_wait_reused;
}
