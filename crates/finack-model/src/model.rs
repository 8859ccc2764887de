//! The stateright model: two endpoints, the network between them, the
//! applications' menus, faults and time.

use std::sync::Arc;
use std::time::Duration;

use finack_core::{Config, State};
use stateright::{Model, Property};

use crate::hist::{Hist, Input};
use crate::net::{classify, learn, Iss, Packet};
use crate::side::{apply, boot, rebuild, App, AppConn, Phase, Side, SideState, StepOut};

/// Which engine profile the endpoints run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `Config::linux()`.
    Linux,
    /// `Config::rfc9293()`.
    Rfc9293,
}

/// The bounds of one check: how many faults of each kind the network may
/// commit, how much each application sends, and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Packets the network may drop.
    pub losses: u8,
    /// Packets the network may duplicate.
    pub dups: u8,
    /// Packets the network may deliver ahead of an older one sent the same way.
    pub reorders: u8,
    /// Timer firings while packets are in flight (the network holding them
    /// past a deadline: spurious retransmissions, late segments). Time
    /// passes freely while the network is empty.
    pub delays: u8,
    /// Crashes (an endpoint replaced by a fresh one that knows nothing).
    pub crashes: u8,
    /// Bytes the client sends on each connection (one `send` per byte).
    pub client_bytes: u8,
    /// Bytes the server sends on each connection it accepts.
    pub server_bytes: u8,
    /// Client connections opened one after the other on the same 4-tuple.
    pub incarnations: u8,
    /// The applications may call `shutdown(SHUT_WR)`.
    pub shutdown: bool,
    /// The applications may call `abort()`.
    pub abort: bool,
    /// The engine profile.
    pub profile: Profile,
}

impl Bounds {
    /// The bound `cargo test` checks with the Linux profile.
    pub fn small() -> Bounds {
        Bounds {
            losses: 1,
            dups: 0,
            reorders: 0,
            delays: 1,
            crashes: 0,
            client_bytes: 1,
            server_bytes: 1,
            incarnations: 1,
            shutdown: true,
            abort: true,
            profile: Profile::Linux,
        }
    }

    /// One line naming the bound.
    pub fn describe(&self) -> String {
        format!(
            "profile={:?} losses={} dups={} reorders={} delays={} crashes={} client_bytes={} \
             server_bytes={} incarnations={} shutdown={} abort={}",
            self.profile,
            self.losses,
            self.dups,
            self.reorders,
            self.delays,
            self.crashes,
            self.client_bytes,
            self.server_bytes,
            self.incarnations,
            self.shutdown,
            self.abort
        )
    }
}

/// The engine configuration of both endpoints: the profile with short
/// timers (TIME-WAIT 2 s, so MSL 1 s; RTO 200 ms to 800 ms; two
/// retransmissions before giving up) to keep the state space small.
pub fn model_config(profile: Profile) -> Config {
    let mut c = match profile {
        Profile::Linux => Config::linux(),
        Profile::Rfc9293 => Config::rfc9293(),
    };
    c.time_wait = Duration::from_secs(2);
    if c.fin_wait2_timeout.is_some() {
        c.fin_wait2_timeout = Some(Duration::from_secs(2));
    }
    c.rto_initial = Duration::from_millis(200);
    c.rto_min = Duration::from_millis(200);
    c.rto_max = Duration::from_millis(800);
    c.syn_retries = 2;
    c.synack_retries = 2;
    c.retries2 = 2;
    c.orphan_retries = 2;
    c.record_transitions = false;
    c
}

/// One step of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The network delivers packet `i` (not the oldest of its direction: a reorder).
    Deliver(usize),
    /// The network loses packet `i`.
    Drop(usize),
    /// The network duplicates packet `i`.
    Duplicate(usize),
    /// Time jumps to the earliest timer deadline; the timers due run and
    /// packets older than one MSL leave the network.
    Timer,
    /// The client opens its next incarnation (same 4-tuple).
    Connect,
    /// The application sends one byte on its connection `i`.
    Send(Side, u8),
    /// `shutdown(SHUT_WR)` on connection `i`.
    Shutdown(Side, u8),
    /// `close()` on connection `i`.
    Close(Side, u8),
    /// `abort()` on connection `i`.
    Abort(Side, u8),
    /// The side's host crashes and comes back with a fresh endpoint.
    Crash(Side),
}

/// Sticky observations that show the interesting paths are reached.
pub mod seen {
    /// A connection was in TIME-WAIT.
    pub const TIME_WAIT: u32 = 1;
    /// A connection was in CLOSING (simultaneous close).
    pub const CLOSING: u32 = 2;
    /// A byte sent in CLOSE-WAIT was delivered.
    pub const CLOSE_WAIT_DATA: u32 = 4;
    /// Both directions carried data, were delivered whole with their FINs,
    /// and both endpoints closed every connection.
    pub const COMPLETE: u32 = 8;
    /// A later incarnation reached ESTABLISHED.
    pub const REINCARNATION: u32 = 16;
    /// A segment of an old incarnation reached a newer live connection and
    /// changed nothing.
    pub const OLD_REJECTED: u32 = 32;
    /// After a crash, the survivor's connection was reset.
    pub const RESET_AFTER_CRASH: u32 = 64;
    /// A SYN reopened a 4-tuple in TIME-WAIT.
    pub const TW_REOPENED: u32 = 128;
    /// A packet was lost and yet the data came through.
    pub const RECOVERED: u32 = 256;
}

/// Faults used so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Faults {
    /// Packets dropped.
    pub losses: u8,
    /// Packets duplicated.
    pub dups: u8,
    /// Packets delivered out of order.
    pub reorders: u8,
    /// Timer firings while packets were in flight.
    pub delays: u8,
    /// Crashes.
    pub crashes: u8,
}

/// A state of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelState {
    /// Virtual time, microseconds.
    pub now: u64,
    /// The client side.
    pub client: SideState,
    /// The server side.
    pub server: SideState,
    /// Packets in flight, oldest first.
    pub net: Vec<Packet>,
    /// Faults used.
    pub faults: Faults,
    /// ISSs seen on the wire.
    pub iss: Vec<Iss>,
    /// `seen::*` bits.
    pub seen: u32,
    /// The first safety violation on this path (the state is then terminal).
    pub violation: Option<Arc<str>>,
}

impl ModelState {
    /// One side.
    pub fn side(&self, s: Side) -> &SideState {
        match s {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    fn side_mut(&mut self, s: Side) -> &mut SideState {
        match s {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    fn violate(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(what.into());
        }
    }
}

/// Time the client application takes before it opens a connection (1 ms).
pub const CONNECT_DELAY_US: u64 = 1000;

/// The model checked: two finack-core endpoints under [`Bounds`].
pub struct TcpModel {
    /// The bounds.
    pub bounds: Bounds,
    /// The endpoints' configuration ([`model_config`]).
    pub cfg: Config,
}

impl TcpModel {
    /// The model under `bounds`.
    pub fn new(bounds: Bounds) -> TcpModel {
        let cfg = model_config(bounds.profile);
        TcpModel { bounds, cfg }
    }

    /// One MSL (half of TIME-WAIT), microseconds.
    fn msl(&self) -> u64 {
        self.cfg.time_wait.as_micros() as u64 / 2
    }

    fn bytes(&self, s: Side) -> u8 {
        match s {
            Side::Client => self.bounds.client_bytes,
            Side::Server => self.bounds.server_bytes,
        }
    }

    /// Feed `input` to side `s` at the state's time: rebuild the endpoint
    /// from its history, step it, and put what it sent on the network.
    fn feed(&self, st: &mut ModelState, s: Side, input: Input) {
        let now = st.now;
        let side = st.side_mut(s);
        let (mut ep, mut app) = rebuild(s, &self.cfg, &side.hist);
        debug_assert_eq!(app, side.app, "replaying a history gave another state");
        let mut out = StepOut::default();
        apply(s, &mut ep, &mut app, now, &input, &mut out);
        side.hist = side.hist.push(now, input);
        side.app = app;
        let client_inc = st.client.app.conns.last().and_then(|c| c.inc);
        for bytes in out.packets {
            learn(&mut st.iss, s, client_inc, &bytes);
            let tag = classify(&st.iss, s, &bytes);
            st.net.push(Packet {
                from: s,
                born: now,
                tag,
                bytes: bytes.into(),
            });
        }
        if let Some(v) = out.old_accepted {
            st.violate(format!("old segment accepted: {v}"));
        }
        if out.old_rejected {
            st.seen |= seen::OLD_REJECTED;
        }
    }

    /// Let time pass until `to`: packets older than one MSL leave the
    /// network, then the timers due run.
    fn advance(&self, st: &mut ModelState, to: u64) {
        st.now = st.now.max(to);
        let (now, msl) = (st.now, self.msl());
        st.net.retain(|p| now - p.born <= msl);
        for s in [Side::Client, Side::Server] {
            if st.side(s).app.deadline.is_some_and(|d| d <= now) {
                self.feed(st, s, Input::Timeout);
            }
        }
    }

    /// The actions enabled in `st`, in a fixed order.
    fn enabled(&self, st: &ModelState, out: &mut Vec<Action>) {
        if st.violation.is_some() {
            return;
        }
        let b = &self.bounds;
        for (i, p) in st.net.iter().enumerate() {
            let oldest = !st.net[..i].iter().any(|q| q.from == p.from);
            if oldest || st.faults.reorders < b.reorders {
                out.push(Action::Deliver(i));
            }
            if st.faults.losses < b.losses {
                out.push(Action::Drop(i));
            }
            if st.faults.dups < b.dups {
                out.push(Action::Duplicate(i));
            }
        }
        if (st.client.app.deadline.is_some() || st.server.app.deadline.is_some())
            && (st.net.is_empty() || st.faults.delays < b.delays)
        {
            out.push(Action::Timer);
        }
        let c = &st.client;
        if c.epoch == 0
            && (c.app.conns.len() as u8) < b.incarnations
            && c.app.conns.iter().all(|c| c.phase == Phase::Released)
            && c.app.live.is_empty()
        {
            out.push(Action::Connect);
        }
        for s in [Side::Client, Side::Server] {
            let side = st.side(s);
            if side.epoch > 0 {
                continue;
            }
            for (i, c) in side.app.conns.iter().enumerate() {
                let i = i as u8;
                if c.phase == Phase::Released {
                    continue;
                }
                let sendable = matches!(
                    c.state,
                    State::SynSent | State::SynReceived | State::Established | State::CloseWait
                );
                if c.phase == Phase::Open && c.sent < self.bytes(s) && sendable {
                    out.push(Action::Send(s, i));
                }
                if b.shutdown
                    && c.phase == Phase::Open
                    && matches!(c.state, State::Established | State::CloseWait)
                {
                    out.push(Action::Shutdown(s, i));
                }
                out.push(Action::Close(s, i));
                if b.abort {
                    out.push(Action::Abort(s, i));
                }
            }
        }
        for s in [Side::Client, Side::Server] {
            let side = st.side(s);
            if st.faults.crashes < b.crashes && side.epoch == 0 && !side.app.live.is_empty() {
                out.push(Action::Crash(s));
            }
        }
    }

    /// Check the streams after a step and note what was reached.
    fn check(&self, st: &mut ModelState) {
        let mut problems = Vec::new();
        let mut reached = 0u32;
        for s in [Side::Client, Side::Server] {
            let peer = st.side(s.peer());
            for c in st.side(s).all_conns() {
                let Some(inc) = c.inc else {
                    if !c.delivered.is_empty() {
                        problems.push(format!(
                            "{s:?} connection {:?} of no known incarnation delivered {:02x?}",
                            c.id, c.delivered
                        ));
                    }
                    continue;
                };
                let peers: Vec<&AppConn> =
                    peer.all_conns().filter(|p| p.inc == Some(inc)).collect();
                let sent = peers.iter().map(|p| p.sent).max().unwrap_or(0);
                for (i, &b) in c.delivered.iter().enumerate() {
                    let want = crate::side::encode(s.peer(), inc, i as u8);
                    if b != want || i >= usize::from(sent) {
                        problems.push(format!(
                            "{s:?} connection {:?} (incarnation {inc}) delivered {:02x?}; \
                             the peer sent {sent} bytes, byte {i} should be {want:02x}",
                            c.id, c.delivered
                        ));
                        break;
                    }
                }
                if c.eof && c.delivered.len() != usize::from(sent) {
                    problems.push(format!(
                        "{s:?} connection {:?} (incarnation {inc}) saw end of stream after \
                         {} of the {sent} bytes the peer sent",
                        c.id,
                        c.delivered.len()
                    ));
                }
                let cw = peers.iter().filter_map(|p| p.close_wait_from).min();
                if cw.is_some_and(|from| c.delivered.len() > usize::from(from)) {
                    reached |= seen::CLOSE_WAIT_DATA;
                }
                if inc > 0 && c.state == State::Established {
                    reached |= seen::REINCARNATION;
                }
                if st.faults.losses > 0 && c.eof && sent > 0 {
                    reached |= seen::RECOVERED;
                }
                if st.faults.crashes > 0 && st.side(s).epoch == 0 && c.error.is_some() {
                    reached |= seen::RESET_AFTER_CRASH;
                }
            }
            for &(_, state) in &st.side(s).app.live {
                match state {
                    State::TimeWait => reached |= seen::TIME_WAIT,
                    State::Closing => reached |= seen::CLOSING,
                    _ => {}
                }
            }
        }
        if st.server.app.tw_reused > 0 || st.client.app.tw_reused > 0 {
            reached |= seen::TW_REOPENED;
        }
        let done = |c: &AppConn| c.eof && c.phase == Phase::Released && !c.delivered.is_empty();
        if st.client.app.live.is_empty()
            && st.server.app.live.is_empty()
            && st.client.app.conns.iter().any(done)
            && st.server.app.conns.iter().any(done)
        {
            reached |= seen::COMPLETE;
        }
        st.seen |= reached;
        if let Some(p) = problems.into_iter().next() {
            st.violate(format!("stream: {p}"));
        }
    }

    /// With nothing left to do (no packet, timer or application call; a
    /// crash does not count), a connection is not CLOSED: the offending
    /// states, or `None`.
    pub fn stuck(&self, st: &ModelState) -> Option<String> {
        if st.violation.is_some() {
            return None;
        }
        let mut acts = Vec::new();
        self.enabled(st, &mut acts);
        // A crash the bound still allows is no way out: without it the
        // connection would stay as it is forever.
        if acts.iter().any(|a| !matches!(a, Action::Crash(_))) {
            return None;
        }
        if st.client.app.live.is_empty() && st.server.app.live.is_empty() {
            return None;
        }
        Some(format!(
            "nothing left to do, yet client {:?} server {:?}",
            st.client.app.live, st.server.app.live
        ))
    }

    /// The properties, named for the report.
    pub fn property_list(&self) -> Vec<Property<TcpModel>> {
        let mut v = vec![
            Property::<TcpModel>::always("streams: bytes delivered in order, once, unaltered, from their own incarnation, all of them before end of stream", |_, s| {
                !s.violation.as_deref().is_some_and(|v| v.starts_with("stream"))
            }),
            Property::<TcpModel>::always("no segment of an old incarnation is accepted by a newer one", |_, s| {
                !s.violation.as_deref().is_some_and(|v| v.starts_with("old segment"))
            }),
            Property::<TcpModel>::always("nothing stuck: with nothing left to do, both sides are CLOSED", |m, s| {
                m.stuck(s).is_none()
            }),
            Property::<TcpModel>::sometimes("reached: TIME-WAIT", |_, s| s.seen & seen::TIME_WAIT != 0),
        ];
        let b = &self.bounds;
        if b.shutdown && b.client_bytes > 0 && b.server_bytes > 0 {
            // Both ends read to end of stream before closing: one of them
            // has to half-close first.
            v.push(Property::<TcpModel>::sometimes(
                "reached: both directions delivered whole and every connection CLOSED",
                |_, s| s.seen & seen::COMPLETE != 0,
            ));
        }
        if b.client_bytes > 0 && b.server_bytes > 0 {
            v.push(Property::<TcpModel>::sometimes(
                "reached: CLOSING (simultaneous close)",
                |_, s| s.seen & seen::CLOSING != 0,
            ));
        }
        if b.shutdown && b.server_bytes > 0 {
            v.push(Property::<TcpModel>::sometimes(
                "reached: data sent in CLOSE-WAIT delivered",
                |_, s| s.seen & seen::CLOSE_WAIT_DATA != 0,
            ));
        }
        if b.losses > 0 && (b.client_bytes > 0 || b.server_bytes > 0) {
            v.push(Property::<TcpModel>::sometimes(
                "reached: a packet lost and every byte still delivered",
                |_, s| s.seen & seen::RECOVERED != 0,
            ));
        }
        if b.incarnations > 1 {
            v.push(Property::<TcpModel>::sometimes(
                "reached: a later incarnation ESTABLISHED on the same 4-tuple",
                |_, s| s.seen & seen::REINCARNATION != 0,
            ));
            v.push(Property::<TcpModel>::sometimes(
                "reached: an old incarnation's segment rejected by a newer connection",
                |_, s| s.seen & seen::OLD_REJECTED != 0,
            ));
            v.push(Property::<TcpModel>::sometimes(
                "reached: a SYN reopened the 4-tuple from TIME-WAIT (RFC 6191)",
                |_, s| s.seen & seen::TW_REOPENED != 0,
            ));
        }
        if b.crashes > 0 {
            v.push(Property::<TcpModel>::sometimes(
                "reached: the survivor of a crash reset",
                |_, s| s.seen & seen::RESET_AFTER_CRASH != 0,
            ));
        }
        v
    }
}

impl Model for TcpModel {
    type State = ModelState;
    type Action = Action;

    fn init_states(&self) -> Vec<ModelState> {
        let mut server_ep = boot(Side::Server, 0, &self.cfg);
        let mut server_app = App::default();
        let mut out = StepOut::default();
        apply(
            Side::Server,
            &mut server_ep,
            &mut server_app,
            0,
            &Input::Listen,
            &mut out,
        );
        let (_, client_app) = rebuild(Side::Client, &self.cfg, &Hist::root(0, Input::Boot(0)));
        vec![ModelState {
            now: 0,
            client: SideState {
                hist: Hist::root(0, Input::Boot(0)),
                epoch: 0,
                dead: Arc::new(Vec::new()),
                app: client_app,
            },
            server: SideState {
                hist: Hist::root(0, Input::Boot(0)).push(0, Input::Listen),
                epoch: 0,
                dead: Arc::new(Vec::new()),
                app: server_app,
            },
            net: Vec::new(),
            faults: Faults::default(),
            iss: Vec::new(),
            seen: 0,
            violation: None,
        }]
    }

    fn actions(&self, st: &ModelState, out: &mut Vec<Action>) {
        self.enabled(st, out);
    }

    fn next_state(&self, last: &ModelState, action: Action) -> Option<ModelState> {
        let mut st = last.clone();
        match action {
            Action::Deliver(i) => {
                let p = st.net.remove(i);
                if last.net[..i].iter().any(|q| q.from == p.from) {
                    st.faults.reorders += 1;
                }
                self.feed(&mut st, p.from.peer(), Input::Packet(p.bytes, p.tag));
            }
            Action::Drop(i) => {
                st.net.remove(i);
                st.faults.losses += 1;
            }
            Action::Duplicate(i) => {
                let p = st.net[i].clone();
                st.net.insert(i + 1, p);
                st.faults.dups += 1;
            }
            Action::Timer => {
                let due = [st.client.app.deadline, st.server.app.deadline]
                    .into_iter()
                    .flatten()
                    .min()?;
                if !st.net.is_empty() {
                    st.faults.delays += 1;
                }
                self.advance(&mut st, due);
            }
            Action::Connect => {
                // An application opens a connection some time after its last
                // one ended: without it two incarnations opened in the same
                // microsecond would share their ISS (RFC 9293 §3.4.1's clock
                // has not ticked), which no real host can do.
                self.advance(&mut st, last.now + CONNECT_DELAY_US);
                let n = st.client.app.conns.len() as u8;
                self.feed(&mut st, Side::Client, Input::Connect(n));
            }
            Action::Send(s, i) => self.feed(&mut st, s, Input::Send(i)),
            Action::Shutdown(s, i) => self.feed(&mut st, s, Input::Shutdown(i)),
            Action::Close(s, i) => self.feed(&mut st, s, Input::Close(i)),
            Action::Abort(s, i) => self.feed(&mut st, s, Input::Abort(i)),
            Action::Crash(s) => {
                st.faults.crashes += 1;
                let now = st.now;
                let side = st.side_mut(s);
                let mut dead: Vec<AppConn> = side.dead.as_ref().clone();
                dead.extend(side.app.conns.iter().cloned());
                side.epoch += 1;
                side.dead = Arc::new(dead);
                side.hist = Hist::root(now, Input::Boot(side.epoch));
                side.app = rebuild(s, &self.cfg, &side.hist).1;
            }
        }
        // The packets of each direction keep their order; the two directions
        // are independent, so client-sent packets come first whatever the
        // interleaving that produced them (one state, not two).
        st.net.sort_by_key(|p| p.from);
        st.iss.sort_by_key(|r| (r.side, r.inc, r.iss));
        self.check(&mut st);
        Some(st)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.property_list()
    }
}
