//! The simulator: hosts with their endpoints and a tiny application each, a link
//! between them, seeded faults, virtual time, and the trace of it all.

mod app;
pub mod scenarios;
mod timers;

pub use app::{ConnApp, HostApp};

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use finack_core::wire::{parse_tcp_packet, TcpFlags};
use finack_core::{
    Cause, Config, ConnId, Endpoint, Error, Event, Instant, ListenerId, Shutdown, Socket, State,
    Transition,
};

use finack_fault::{Lost, Partitions};

use crate::rng::Rng;
use crate::trace::{Fate, HostId, HostInfo, SegmentSummary, Trace, TraceEvent};

/// The address family of a run: which addresses the two hosts get.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// 192.0.2.1 and 192.0.2.2 (the default; what `finack sim` shows).
    #[default]
    V4,
    /// 2001:db8::1 and 2001:db8::2.
    V6,
}

impl Family {
    /// The addresses of host 0 and host 1.
    pub fn addresses(self) -> [IpAddr; 2] {
        match self {
            Family::V4 => ["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()],
            Family::V6 => [
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            ],
        }
    }
}

/// The link between the two hosts (the same both ways).
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Bits per second; `None` = infinitely fast.
    pub bandwidth: Option<u64>,
    /// Packets that may wait for the link in each direction before it drops.
    pub queue_limit: usize,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            latency: Duration::from_millis(10),
            bandwidth: None,
            queue_limit: 1000,
        }
    }
}

pub use finack_fault::Faults;

/// What a rule decides for one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Lose it; the text says why.
    Drop(String),
    /// Hold it back this much longer than the link would.
    Delay(Duration),
}

/// A packet as rules see it.
#[derive(Clone, Debug)]
pub struct PacketInfo {
    /// Send time.
    pub time: Instant,
    /// Sender.
    pub from: HostId,
    /// Header fields.
    pub seg: SegmentSummary,
}

/// A scripted fault: sees each packet, may drop or delay it.
pub type Rule = Box<dyn FnMut(&PacketInfo) -> Option<Verdict>>;

/// How a connection's writing side ends when its queued data is sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CloseMode {
    /// `shutdown(Write)`: half-close, keep reading.
    Shutdown,
    /// `close()`.
    Close,
}

/// One simulated host.
pub struct Host {
    /// Display name.
    pub name: String,
    /// Its IP address.
    pub ip: IpAddr,
    /// Its TCP endpoint.
    pub ep: Endpoint,
    /// Configuration (kept to rebuild the endpoint after a crash).
    pub config: Config,
    /// False while crashed.
    pub up: bool,
    /// Its application.
    pub app: HostApp,
    boots: u8,
}

struct InFlight {
    at: Instant,
    order: u64,
    to: HostId,
    bytes: Vec<u8>,
    trace_idx: usize,
}

/// The simulator.
pub struct Sim {
    /// Virtual time.
    pub now: Instant,
    /// The hosts.
    pub hosts: Vec<Host>,
    /// Link properties.
    pub link: LinkConfig,
    /// Random faults.
    pub faults: Faults,
    rules: Vec<Rule>,
    partitions: Partitions<Instant>,
    rng: Rng,
    queue: Vec<InFlight>,
    link_free: [Instant; 2],
    order: u64,
    /// What happened.
    pub trace: Trace,
    /// Safety bound on processed events (a runaway scenario stops here).
    pub max_events: u64,
    events: u64,
    /// Record packets in the trace (turn off for long randomized runs).
    pub record_packets: bool,
    /// Packets sent so far.
    pub packets_sent: u64,
    /// Every transition record of both endpoints (listeners included), in the
    /// order they were collected, with the host it happened on.
    transitions: Vec<(HostId, Transition)>,
    /// One 64 KiB buffer for reads and packets, allocated once: zeroing a
    /// fresh one at every step cost more than the whole engine.
    scratch: Vec<u8>,
    /// Socket tables to take, when run in a what-if context.
    pub(crate) hooks: Option<crate::whatif::SimHooks>,
    /// The TIME-WAIT deadline last seen of each connection in TIME-WAIT, to
    /// notice (and note in the trace) when a segment restarts the timer.
    pub(crate) tw_deadlines: std::collections::BTreeMap<(HostId, ConnId), Instant>,
}

fn secret(seed: u64, host: usize, boot: u8) -> [u8; 16] {
    let mut r = Rng::new(seed ^ ((host as u64) << 56) ^ (u64::from(boot) << 48));
    let mut s = [0u8; 16];
    s[..8].copy_from_slice(&r.next_u64().to_le_bytes());
    s[8..].copy_from_slice(&r.next_u64().to_le_bytes());
    s
}

impl Sim {
    /// Two hosts named `names` with addresses 192.0.2.1 and 192.0.2.2 and the
    /// given configurations. Time starts at zero.
    pub fn new(scenario: &str, seed: u64, names: [&str; 2], configs: [Config; 2]) -> Sim {
        Sim::with_family(scenario, seed, Family::V4, names, configs)
    }

    /// The same with the addresses of `family`.
    pub fn with_family(
        scenario: &str,
        seed: u64,
        family: Family,
        names: [&str; 2],
        configs: [Config; 2],
    ) -> Sim {
        let ips = family.addresses();
        let mut configs = configs;
        crate::whatif::configure(names, &mut configs);
        let [c0, c1] = configs;
        let hosts: Vec<Host> = [(names[0], ips[0], c0), (names[1], ips[1], c1)]
            .into_iter()
            .enumerate()
            .map(|(i, (name, ip, config))| {
                let mut ep = Endpoint::new(config.clone(), secret(seed, i, 0));
                ep.add_address(ip);
                Host {
                    name: name.to_string(),
                    ip,
                    ep,
                    config,
                    up: true,
                    app: HostApp {
                        accepting: true,
                        reading: true,
                        ..HostApp::default()
                    },
                    boots: 0,
                }
            })
            .collect();
        let trace = Trace {
            scenario: scenario.to_string(),
            seed,
            hosts: hosts
                .iter()
                .map(|h| HostInfo {
                    name: h.name.clone(),
                    addr: h.ip.to_string(),
                    counters: Vec::new(),
                })
                .collect(),
            events: Vec::new(),
        };
        let mut sim = Sim {
            now: Instant::ZERO,
            hosts,
            link: LinkConfig::default(),
            faults: Faults::default(),
            rules: Vec::new(),
            partitions: Partitions::default(),
            rng: Rng::new(seed),
            queue: Vec::new(),
            link_free: [Instant::ZERO; 2],
            order: 0,
            trace,
            max_events: 5_000_000,
            events: 0,
            record_packets: true,
            packets_sent: 0,
            transitions: Vec::new(),
            scratch: vec![0u8; 65536],
            hooks: None,
            tw_deadlines: std::collections::BTreeMap::new(),
        };
        crate::whatif::attach(&mut sim);
        sim
    }

    /// Add a scripted fault rule.
    pub fn rule(&mut self, r: impl FnMut(&PacketInfo) -> Option<Verdict> + 'static) {
        self.rules.push(Box::new(r));
    }

    /// Cut the link both ways from `from` to `to`.
    pub fn partition(&mut self, from: Instant, to: Instant) {
        self.partitions.add(from, to);
    }

    /// Write a narrative note into the trace.
    pub fn note(&mut self, host: Option<HostId>, text: impl Into<String>) {
        self.trace.events.push(TraceEvent::Note {
            time: self.now,
            host,
            text: text.into(),
        });
    }

    /// Address of `port` on `host`.
    pub fn addr(&self, host: HostId, port: u16) -> SocketAddr {
        SocketAddr::new(self.hosts[host].ip, port)
    }

    // ---- Application calls ---------------------------------------------------

    /// Listen on `port` and accept what arrives. Panics if the engine
    /// refuses (a catalog scenario's own mistake); see [`Sim::try_listen`].
    pub fn listen(&mut self, host: HostId, port: u16, backlog: usize) -> ListenerId {
        self.try_listen(host, port, backlog).expect("listen")
    }

    /// [`Sim::listen`] that reports the engine's refusal (port 0, or a port
    /// already listened on: `AddrInUse`) instead of panicking.
    pub fn try_listen(
        &mut self,
        host: HostId,
        port: u16,
        backlog: usize,
    ) -> Result<ListenerId, Error> {
        let addr = self.addr(host, port);
        let l = self.hosts[host].ep.listen(addr, backlog)?;
        self.hosts[host].app.listeners.push(l);
        self.collect();
        Ok(l)
    }

    /// Connect from `host` (ephemeral port, or `local_port`) to `port` on the other host.
    pub fn connect(&mut self, host: HostId, local_port: u16, port: u16) -> Result<ConnId, Error> {
        let local = self.addr(host, local_port);
        let remote = self.addr(1 - host, port);
        let now = self.now;
        let c = self.hosts[host].ep.connect(now, local, remote)?;
        let app = &mut self.hosts[host].app;
        app.conns.push(c);
        app.state.insert(c, ConnApp::default());
        self.collect();
        Ok(c)
    }

    /// Queue bytes for the application to send on `c`.
    pub fn send(&mut self, host: HostId, c: ConnId, data: &[u8]) {
        let app = self.hosts[host].app.state.entry(c).or_default();
        app.to_send.extend(data);
        self.run_app(host);
    }

    /// Put an IP packet on the link as if `from` had sent it now (a forged or
    /// stale segment a scenario needs: one the network could deliver but the
    /// host's engine would not make). It goes through the rules, faults and
    /// the trace like any other.
    pub fn inject(&mut self, from: HostId, bytes: Vec<u8>) {
        self.launch(from, bytes);
    }

    /// Close the writing side once queued data is sent (`Shutdown`) or close
    /// entirely then (`Close`).
    pub fn close_when_sent(&mut self, host: HostId, c: ConnId, mode: CloseMode) {
        self.hosts[host]
            .app
            .state
            .entry(c)
            .or_default()
            .close_when_sent = Some(mode);
        self.run_app(host);
    }

    /// `close()` now.
    pub fn close(&mut self, host: HostId, c: ConnId) {
        let _ = self.hosts[host].ep.close(self.now, c);
        self.hosts[host].app.state.entry(c).or_default().released = true;
        self.collect();
    }

    /// `shutdown()` now.
    pub fn shutdown(&mut self, host: HostId, c: ConnId, how: Shutdown) {
        let _ = self.hosts[host].ep.shutdown(self.now, c, how);
        self.collect();
    }

    /// `abort()` now (RST).
    pub fn abort(&mut self, host: HostId, c: ConnId) {
        let _ = self.hosts[host].ep.abort(self.now, c);
        self.hosts[host].app.state.entry(c).or_default().released = true;
        self.collect();
    }

    /// The host crashes: it stops answering and loses every connection.
    pub fn crash(&mut self, host: HostId) {
        self.note(
            Some(host),
            format!("{} crashes (all TCP state lost)", self.hosts[host].name),
        );
        self.collect();
        let now = self.now;
        let lost: Vec<_> = self.hosts[host].ep.connections().collect();
        for (_, state, local, remote) in lost {
            self.trace.events.push(TraceEvent::State {
                time: now,
                host,
                local_port: local.port(),
                remote_port: remote.port(),
                from: state,
                to: State::Closed,
                cause: "host crash".into(),
            });
        }
        let h = &mut self.hosts[host];
        self.trace.hosts[host].add_counters(&h.ep.stats());
        h.up = false;
        h.boots += 1;
        h.ep = Endpoint::new(h.config.clone(), secret(self.trace.seed, host, h.boots));
        h.ep.add_address(h.ip);
        h.app = HostApp {
            accepting: true,
            reading: true,
            ..HostApp::default()
        };
    }

    /// The host comes back up (with empty tables).
    pub fn reboot(&mut self, host: HostId) {
        self.note(Some(host), format!("{} reboots", self.hosts[host].name));
        self.hosts[host].up = true;
    }

    /// State of a connection.
    pub fn state(&self, host: HostId, c: ConnId) -> State {
        self.hosts[host].ep.state(c)
    }

    /// The application state of a connection.
    pub fn conn_app(&self, host: HostId, c: ConnId) -> Option<&ConnApp> {
        self.hosts[host].app.state.get(&c)
    }

    /// The n-th connection the host opened or accepted.
    pub fn conn(&self, host: HostId, n: usize) -> Option<ConnId> {
        self.hosts[host].app.conns.get(n).copied()
    }

    // ---- The machinery -------------------------------------------------------

    /// Move transition records into the trace.
    fn collect(&mut self) {
        for (i, h) in self.hosts.iter_mut().enumerate() {
            for t in h.ep.take_transitions() {
                self.transitions.push((i, t));
                if let Socket::Listener(_) = t.socket {
                    continue;
                }
                let cause = match t.cause {
                    Cause::Segment(f) => format!("rcv {f}"),
                    Cause::User(u) => u.to_string(),
                    Cause::Timer(k) => format!("{k:?} timeout"),
                    Cause::Icmp => "ICMP error".into(),
                };
                self.trace.events.push(TraceEvent::State {
                    time: t.time,
                    host: i,
                    local_port: t.local.port(),
                    remote_port: t.remote.port(),
                    from: t.from,
                    to: t.to,
                    cause,
                });
            }
        }
    }

    /// Let a host's application react to its events.
    fn run_app(&mut self, host: HostId) {
        let now = self.now;
        let h = &mut self.hosts[host];
        if !h.up {
            return;
        }
        let (ep, app) = (&mut h.ep, &mut h.app);
        let buf = &mut self.scratch;
        let mut peer_closed = Vec::new();
        while let Some(ev) = ep.poll_event() {
            match ev {
                Event::Incoming(l) if app.accepting => {
                    while let Ok(c) = ep.accept(l) {
                        app.conns.push(c);
                        app.state.insert(c, ConnApp::default());
                    }
                }
                Event::PeerClosed(c) if app.close_on_peer_fin => peer_closed.push(c),
                _ => {}
            }
        }
        for (&c, st) in app.state.iter_mut() {
            if app.reading && !st.eof && st.error.is_none() && !st.released {
                loop {
                    match ep.recv(now, c, buf) {
                        Ok(0) => {
                            st.eof = true;
                            break;
                        }
                        Ok(n) => {
                            st.received.extend_from_slice(&buf[..n]);
                        }
                        Err(Error::WouldBlock) => break,
                        Err(e) => {
                            st.error = Some(e);
                            break;
                        }
                    }
                }
            }
            if st.released {
                continue;
            }
            if peer_closed.contains(&c) && st.to_send.is_empty() {
                if app.last_words.is_empty() {
                    // Everything is read: answer the peer's FIN with ours at once.
                    st.released = true;
                    let _ = ep.close(now, c);
                    continue;
                }
                // Write the last words, then close (below, once they are sent).
                st.to_send.extend(&app.last_words);
                st.close_when_sent = Some(CloseMode::Close);
            }
            while !st.to_send.is_empty() {
                let (a, _) = st.to_send.as_slices();
                match ep.send(now, c, a) {
                    Ok(n) if n > 0 => {
                        st.to_send.drain(..n);
                    }
                    _ => break,
                }
            }
            if st.to_send.is_empty() {
                match st.close_when_sent.take() {
                    Some(CloseMode::Shutdown) => {
                        let _ = ep.shutdown(now, c, Shutdown::Write);
                    }
                    Some(CloseMode::Close) => {
                        st.released = true;
                        let _ = ep.close(now, c);
                    }
                    None => {}
                }
            }
        }
    }

    /// Put every packet the hosts want to send on the link.
    fn transmit(&mut self) {
        // State changes come first in the trace: they happened when the segment
        // or call that caused them was processed, before any reply went out.
        self.collect();
        for host in 0..self.hosts.len() {
            self.run_app(host);
            self.collect();
            if !self.hosts[host].up {
                continue;
            }
            loop {
                let now = self.now;
                let Some(n) = self.hosts[host].ep.poll_transmit(now, &mut self.scratch) else {
                    break;
                };
                let packet = self.scratch[..n].to_vec();
                self.launch(host, packet);
            }
        }
        self.collect();
    }

    fn launch(&mut self, from: HostId, bytes: Vec<u8>) {
        let now = self.now;
        let to = 1 - from;
        let Ok((_, tcp)) = parse_tcp_packet(&bytes) else {
            return;
        };
        let seg = SegmentSummary {
            src_port: tcp.src_port,
            dst_port: tcp.dst_port,
            flags: tcp.flags,
            seq: tcp.seq,
            ack: tcp.ack,
            len: tcp.payload.len(),
            window: tcp.window,
        };
        let info = PacketInfo {
            time: now,
            from,
            seg,
        };
        let mut verdict = None;
        for r in &mut self.rules {
            if let Some(v) = r(&info) {
                verdict = Some(v);
                break;
            }
        }
        let mut extra = Duration::ZERO;
        let mut fate = None;
        match verdict {
            Some(Verdict::Drop(why)) => fate = Some(Fate::Dropped(why)),
            Some(Verdict::Delay(d)) => extra = d,
            None => {}
        }
        if fate.is_none() && self.partitions.cut(&now) {
            fate = Some(Fate::Dropped("partition".into()));
        }
        // The random faults, and the queue limit between loss and the rest.
        let (queue, latency, limit) = (&self.queue, self.link.latency, self.link.queue_limit);
        let decision = self
            .faults
            .decide(&mut self.rng, bytes.len(), fate.is_some(), || {
                let waiting = queue
                    .iter()
                    .filter(|p| p.to == to && p.at > now + latency)
                    .count();
                waiting >= limit
            });
        match decision.lost {
            Some(Lost::Random) => fate = Some(Fate::Dropped("random loss".into())),
            Some(Lost::Queue) => fate = Some(Fate::Dropped("queue overflow".into())),
            None => {}
        }
        // Serialization on the link (bandwidth).
        let dir = from.min(1);
        let start = self.link_free[dir].max(now);
        let tx = self.link.bandwidth.map_or(Duration::ZERO, |bps| {
            Duration::from_nanos(bytes.len() as u64 * 8 * 1_000_000_000 / bps.max(1))
        });
        if fate.is_none() {
            self.link_free[dir] = start + tx;
        }
        extra += decision.delay;
        let at = start + tx + self.link.latency + extra;
        let corrupt = decision.corrupt_bit.is_some();
        let duplicate = decision.duplicate;
        self.packets_sent += 1;
        let trace_idx = if self.record_packets {
            self.trace.events.push(TraceEvent::Packet {
                time: now,
                from,
                to,
                seg,
                bytes: bytes.clone(),
                fate: fate.clone().unwrap_or(if corrupt {
                    Fate::Corrupted(at)
                } else {
                    Fate::Delivered(at)
                }),
            });
            self.trace.events.len() - 1
        } else {
            usize::MAX
        };
        if fate.is_some() {
            return;
        }
        let mut wire = bytes;
        decision.corrupt(&mut wire);
        if duplicate {
            self.order += 1;
            self.queue.push(InFlight {
                // Right after the original (which has the later order).
                at: at + Duration::from_micros(1),
                order: self.order,
                to,
                bytes: wire.clone(),
                trace_idx,
            });
        }
        self.order += 1;
        self.queue.push(InFlight {
            at,
            order: self.order,
            to,
            bytes: wire,
            trace_idx,
        });
    }

    /// The next instant something happens.
    fn next_event(&self) -> Option<Instant> {
        let pkt = self.queue.iter().map(|p| p.at).min();
        let timers = self
            .hosts
            .iter()
            .filter(|h| h.up)
            .filter_map(|h| h.ep.poll_timeout())
            .min();
        [pkt, timers].into_iter().flatten().min()
    }

    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.events
    }

    /// Process the next event, if it happens by `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.transmit();
        let Some(next) = self.next_event() else {
            return false;
        };
        if next > limit || self.events >= self.max_events {
            return false;
        }
        self.events += 1;
        self.before_time(next);
        self.now = self.now.max(next);
        let now = self.now;
        let mut due: Vec<InFlight> = Vec::new();
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].at <= now {
                due.push(self.queue.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.order));
        for p in due {
            let h = &mut self.hosts[p.to];
            if !h.up {
                if let Some(TraceEvent::Packet { fate, .. }) =
                    self.trace.events.get_mut(p.trace_idx)
                {
                    *fate = Fate::HostDown(now);
                }
                continue;
            }
            // Corrupted packets fail the checksum here; the engine reports an error.
            let _ = h.ep.handle_packet(now, &p.bytes);
            self.note_time_wait_restarts(p.to);
            self.run_app(p.to);
            self.transmit();
        }
        for h in 0..self.hosts.len() {
            if self.hosts[h].up && self.hosts[h].ep.poll_timeout().is_some_and(|t| t <= now) {
                self.note_expiries(h);
                self.hosts[h].ep.handle_timeout(now);
            }
            self.run_app(h);
        }
        self.transmit();
        true
    }

    /// Run until `cond` holds or `max` of virtual time passes; returns `cond`.
    pub fn run_until(&mut self, max: Duration, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let limit = self.now + max;
        loop {
            self.transmit();
            if cond(self) {
                return true;
            }
            if !self.step(limit) {
                return cond(self);
            }
        }
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.before_time(limit);
        self.now = self.now.max(limit);
        self.transmit();
    }

    /// End the run: packets still on the link never arrive (they are marked so),
    /// and the trace is handed over.
    pub fn into_trace(self) -> Trace {
        self.finish().0
    }

    /// End the run like [`Sim::into_trace`], and hand over the engines' own
    /// transition records too (with causes as the engine gives them, and the
    /// listeners' transitions, which the trace leaves out).
    pub fn finish(mut self) -> (Trace, Vec<(HostId, Transition)>) {
        self.collect();
        self.finish_hooks();
        for (info, h) in self.trace.hosts.iter_mut().zip(&self.hosts) {
            info.add_counters(&h.ep.stats());
        }
        for p in std::mem::take(&mut self.queue) {
            if let Some(TraceEvent::Packet { fate, .. }) = self.trace.events.get_mut(p.trace_idx) {
                *fate = if self.hosts[p.to].up {
                    Fate::Dropped("still in flight when the run ended".into())
                } else {
                    Fate::HostDown(p.at)
                };
            }
        }
        (self.trace, self.transitions)
    }

    /// Was a packet with these flags sent by `host`?
    pub fn sent(&self, host: HostId, f: TcpFlags) -> bool {
        self.trace
            .packets_from(host)
            .any(|(s, _, _)| s.flags.contains(f))
    }
}
