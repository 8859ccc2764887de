//! `finack bench scale`: many concurrent connections between two in-memory
//! endpoints.
//!
//! A client endpoint (addresses 198.51.100.1 and up, then 192.0.2.1 and up,
//! [`CONNECTIONS_PER_ADDRESS`] connections each) opens connections to a
//! server endpoint listening on 203.0.113.1:80. Packets go from one
//! endpoint's `poll_transmit` straight into the other's `handle_packet`: no
//! queue, no copy, no loss. Connections are opened in batches of
//! [`BATCH`]; each batch completes its handshakes, is accepted, and moves
//! [`MESSAGE`] bytes each way before the next one starts. At every
//! checkpoint (by default 1, 1,000, 100,000 and 1,000,000 connections) the
//! run records both endpoints' [`Endpoint::memory_usage`] and times a fixed
//! number of 100-byte data segments, each on a connection drawn at random
//! (seeded), each answered by an ACK. At the end every connection is closed,
//! the client first, so that the client holds them all in TIME-WAIT.
//!
//! The run guards itself: before each growth step it predicts the memory the
//! step would take (from the bytes per connection measured so far, plus room
//! for the tables to double) and stops cleanly, with what it has measured,
//! when the prediction passes the budget; it also reads the process's
//! resident size where the system tells it (`/proc/self/status`). Every loop
//! is bounded in count and in wall-clock time.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant as WallClock};

use finack_core::{Config, ConnId, Endpoint, Instant, ListenerId, MemoryUsage, State};

/// Connections opened from one client address (the default ephemeral range
/// has 28,232 ports; staying well below keeps the port search short).
pub const CONNECTIONS_PER_ADDRESS: usize = 20_000;
/// Client addresses available: 198.51.100.1–254, then 192.0.2.1–254.
pub const CLIENT_ADDRESSES: usize = 2 * 254;
/// The most connections one run can open.
pub const MAX_CONNECTIONS: usize = CONNECTIONS_PER_ADDRESS * CLIENT_ADDRESSES;
/// Connections opened before the endpoints are pumped (below the listen
/// backlog, so no SYN is dropped and no SYN cookie is used).
pub const BATCH: usize = 1024;
/// Connections closed at a time in the final phase.
pub const CLOSE_BATCH: usize = 4096;
/// Bytes sent each way on every connection after it opens, and the size of
/// each data segment in the per-packet measurement.
pub const MESSAGE: usize = 100;
/// The server's address.
pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 80);
/// The default checkpoints.
pub const DEFAULT_CHECKPOINTS: [usize; 4] = [1, 1_000, 100_000, 1_000_000];
/// Target: this many idle established connections ...
pub const TARGET_CONNECTIONS: usize = 1_000_000;
/// ... in at most this many bytes on one endpoint.
pub const TARGET_BYTES: u64 = 1 << 30;
/// Target: per-packet cost at [`TARGET_CONNECTIONS`] at most this many
/// times the cost with one connection.
pub const TARGET_PACKET_RATIO: f64 = 1.5;
/// Target: the whole run in under this long.
pub const TARGET_RUN_TIME: Duration = Duration::from_secs(600);

/// The TCP control block's size: `size_of` of the core's per-connection
/// struct, without its buffers and the parts allocated on demand.
pub fn control_block_size() -> usize {
    finack_core::CONTROL_BLOCK_BYTES
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Connections to open in all.
    pub connections: usize,
    /// Connection counts at which to measure (those above `connections` are
    /// dropped; `connections` itself is always one).
    pub checkpoints: Vec<usize>,
    /// Data segments per timed run of the per-packet measurement.
    pub packets: usize,
    /// Timed runs per checkpoint (after one untimed warm-up run).
    pub reps: usize,
    /// Memory budget in bytes for both endpoints together (by
    /// `memory_usage`, and by resident size where the system reports it).
    pub max_memory: u64,
    /// Wall-clock limit of the whole run. Opening stops at half of it so
    /// that closing fits in the rest.
    pub time_limit: Duration,
    /// Seed of the connection choice in the per-packet measurement.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            connections: TARGET_CONNECTIONS,
            checkpoints: DEFAULT_CHECKPOINTS.to_vec(),
            packets: 200_000,
            reps: 5,
            max_memory: 16 << 30,
            time_limit: Duration::from_secs(540),
            seed: 1,
        }
    }
}

impl Options {
    /// The checkpoints this run measures: sorted, without duplicates, none
    /// above `connections`, and `connections` last.
    pub fn effective_checkpoints(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .checkpoints
            .iter()
            .copied()
            .filter(|&k| k >= 1 && k < self.connections)
            .collect();
        v.push(self.connections);
        v.sort_unstable();
        v.dedup();
        v
    }

    fn check(&self) -> Result<(), String> {
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(format!(
                "--connections must be between 1 and {} ({} client addresses x {} connections)",
                group(MAX_CONNECTIONS as u64),
                CLIENT_ADDRESSES,
                group(CONNECTIONS_PER_ADDRESS as u64)
            ));
        }
        if self.checkpoints.contains(&0) {
            return Err("--checkpoints values must be at least 1".into());
        }
        if self.packets == 0 || self.reps == 0 {
            return Err("--packets and --reps must be at least 1".into());
        }
        if self.max_memory == 0 {
            return Err("--max-memory must be more than 0".into());
        }
        if self.time_limit.is_zero() {
            return Err("--time-limit must be more than 0".into());
        }
        Ok(())
    }
}

/// Both endpoints' memory and the process's resident size at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// The client endpoint's `memory_usage`.
    pub client: MemoryUsage,
    /// The server endpoint's `memory_usage`.
    pub server: MemoryUsage,
    /// The harness's own bookkeeping (connection handle list and such).
    pub harness: u64,
    /// Resident set size of the process, where the system reports it.
    pub rss: Option<u64>,
}

/// Total bytes an endpoint reports: its connections plus its tables.
pub fn total(m: &MemoryUsage) -> u64 {
    (m.connection_bytes + m.table_bytes) as u64
}

impl Memory {
    /// Both endpoints and the harness, by their own accounting.
    pub fn accounted(&self) -> u64 {
        total(&self.client) + total(&self.server) + self.harness
    }

    /// The larger of the two endpoints' totals.
    pub fn one_endpoint(&self) -> u64 {
        total(&self.client).max(total(&self.server))
    }
}

/// The per-packet measurement at one checkpoint.
#[derive(Clone, Debug, Default)]
pub struct PacketCost {
    /// Nanoseconds per packet, one entry per timed run, in run order.
    pub ns_per_packet: Vec<f64>,
    /// Packets that crossed between the endpoints in the timed runs (data
    /// segments and their ACKs).
    pub packets: u64,
    /// Data segments sent in the timed runs.
    pub segments: u64,
    /// Segments whose bytes did not arrive as sent (should be 0).
    pub data_errors: u64,
    /// Why fewer runs than asked were made, if so.
    pub cut_short: Option<String>,
}

impl PacketCost {
    /// (min, median, max) of the timed runs.
    pub fn summary(&self) -> Option<(f64, f64, f64)> {
        let mut v = self.ns_per_packet.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        Some((v[0], median, v[v.len() - 1]))
    }
}

/// What one checkpoint measured.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Connections open.
    pub connections: usize,
    /// Wall-clock time spent opening them (connect, handshake, accept), in
    /// all since the start.
    pub open_time: Duration,
    /// Wall-clock time spent moving the first bytes each way, in all.
    pub data_time: Duration,
    /// Memory with these connections open and idle.
    pub memory: Memory,
    /// The per-packet measurement.
    pub cost: PacketCost,
    /// Not a checkpoint asked for: where opening stopped (memory or time).
    pub at_stop: bool,
}

/// What the close phase measured.
#[derive(Clone, Debug)]
pub struct CloseReport {
    /// Connections closed (by both sides).
    pub closed: usize,
    /// Wall-clock time it took.
    pub time: Duration,
    /// Client connections in TIME-WAIT afterwards.
    pub time_wait: usize,
    /// Client connections in any other state afterwards.
    pub client_other: usize,
    /// Server connections left in the table afterwards.
    pub server_left: usize,
    /// Memory afterwards: the client's is its TIME-WAIT table.
    pub memory: Memory,
}

/// The whole run.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was asked.
    pub options: Options,
    /// Connections opened.
    pub opened: usize,
    /// Of those, connections ESTABLISHED on both sides after their handshake.
    pub established: usize,
    /// Of those, connections whose first bytes arrived intact both ways.
    pub data_ok: usize,
    /// Packets `handle_packet` refused (should be 0).
    pub packet_errors: u64,
    /// Bytes one connection held right after its handshake, before any
    /// data (`memory_usage().max_connection_bytes` on the client).
    pub handshake_bytes: Option<usize>,
    /// The checkpoints reached.
    pub checkpoints: Vec<Checkpoint>,
    /// Why opening stopped before `options.connections`, if it did.
    pub stopped: Option<String>,
    /// The close phase, if it ran.
    pub close: Option<CloseReport>,
    /// Peak resident size of the process, where the system reports it.
    pub peak_rss: Option<u64>,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
}

/// The result of `--only-packets`: one fixed workload for instruction
/// counters such as callgrind.
#[derive(Clone, Debug)]
pub struct PacketsOnly {
    /// Connections open.
    pub connections: usize,
    /// Data segments sent.
    pub segments: u64,
    /// Packets that crossed (segments and ACKs).
    pub packets: u64,
    /// Segments whose bytes did not arrive as sent (should be 0).
    pub data_errors: u64,
    /// Wall-clock time of the loop (inflated under valgrind).
    pub time: Duration,
}

// ---- The two endpoints ------------------------------------------------------

/// Most pump rounds (each moves every pending packet both ways) per call.
const MAX_ROUNDS: usize = 256;
/// Most packets one side may emit in one round (a safety bound).
const MAX_PACKETS_PER_ROUND: usize = 1 << 24;
/// Most timer jumps while waiting for a batch to complete.
const MAX_WAITS: usize = 16;

fn config() -> Config {
    Config {
        // Every data segment is answered by an ACK of its own, so that a
        // packet costs the same whatever the number of connections (with
        // delayed ACKs, the quick-ACK budget a connection has left would
        // decide it).
        delayed_ack: None,
        // A debugging aid, bounded, but not what this measures.
        record_transitions: false,
        ..Config::linux()
    }
}

fn client_address(k: usize) -> IpAddr {
    // k < CLIENT_ADDRESSES, checked by Options::check.
    let host = (k % 254) as u8 + 1;
    if k < 254 {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, host))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, host))
    }
}

struct Net {
    client: Endpoint,
    server: Endpoint,
    listener: ListenerId,
    now: Instant,
    buf: Vec<u8>,
    errors: u64,
    addresses: usize,
}

impl Net {
    fn new() -> Result<Net, String> {
        let mut client = Endpoint::new(config(), [0x5c; 16]);
        let mut server = Endpoint::new(config(), [0xa3; 16]);
        server.add_address(SERVER.ip());
        let backlog = server.config().max_backlog;
        let listener = server
            .listen(SERVER, backlog)
            .map_err(|e| format!("listen on {SERVER}: {e}"))?;
        client.add_address(client_address(0));
        Ok(Net {
            client,
            server,
            listener,
            now: Instant::ZERO,
            buf: vec![0; 2048],
            errors: 0,
            addresses: 1,
        })
    }

    /// Packets both endpoints have taken in.
    fn packets_in(&self) -> u64 {
        self.client.stats().packets_in + self.server.stats().packets_in
    }

    /// Run due timers, then move packets both ways until both are quiet.
    /// Events are read and dropped (accepting goes by the accept queue).
    /// Returns the packets moved.
    fn pump(&mut self) -> u64 {
        for ep in [&mut self.client, &mut self.server] {
            if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                ep.handle_timeout(self.now);
            }
        }
        let mut moved = 0;
        for _ in 0..MAX_ROUNDS {
            let (now, buf, errors) = (self.now, &mut self.buf, &mut self.errors);
            let round = transfer(&mut self.client, &mut self.server, now, buf, errors)
                + transfer(&mut self.server, &mut self.client, now, buf, errors);
            for _ in 0..MAX_PACKETS_PER_ROUND {
                if self.client.poll_event().is_none() {
                    break;
                }
            }
            for _ in 0..MAX_PACKETS_PER_ROUND {
                if self.server.poll_event().is_none() {
                    break;
                }
            }
            if round == 0 {
                break;
            }
            moved += round;
        }
        moved
    }

    /// Let the connections sit idle long enough for their emptied rings to be
    /// released (`Config::buffer_release_delay`): "idle" memory is measured
    /// after that, as an idle server would hold it.
    fn idle(&mut self) {
        self.now += self.client.config().buffer_release_delay;
        self.pump();
    }

    /// Nothing moves: jump the clock to the next timer. False if none.
    fn wait(&mut self) -> bool {
        let next = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t);
                true
            }
            None => false,
        }
    }

    fn memory(&self, harness: u64) -> Memory {
        Memory {
            client: self.client.memory_usage(),
            server: self.server.memory_usage(),
            harness,
            rss: rss(),
        }
    }

    /// Open `n` connections (connect, handshake, accept) and append their
    /// (client, server) handles to `conns`.
    fn open_batch(
        &mut self,
        n: usize,
        conns: &mut Vec<(ConnId, ConnId)>,
        pending: &mut HashMap<SocketAddr, ConnId>,
    ) -> Result<(), String> {
        pending.clear();
        for _ in 0..n {
            let k = conns.len() + pending.len();
            let a = k / CONNECTIONS_PER_ADDRESS;
            let ip = client_address(a);
            if a >= self.addresses {
                self.client.add_address(ip);
                self.addresses = a + 1;
            }
            let c = self
                .client
                .connect(self.now, SocketAddr::new(ip, 0), SERVER)
                .map_err(|e| format!("connect #{} from {ip}: {e}", k + 1))?;
            let local = self
                .client
                .addrs(c)
                .ok_or_else(|| format!("connect #{}: no addresses", k + 1))?
                .0;
            pending.insert(local, c);
        }
        for _ in 0..MAX_WAITS {
            self.pump();
            for _ in 0..n {
                let Ok(s) = self.server.accept(self.listener) else {
                    break;
                };
                let remote = self.server.addrs(s).map(|a| a.1);
                match remote.and_then(|r| pending.remove(&r)) {
                    Some(c) => conns.push((c, s)),
                    None => return Err(format!("accepted an unknown connection from {remote:?}")),
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if !self.wait() {
                break;
            }
        }
        Err(format!(
            "{} of {n} handshakes did not complete",
            pending.len()
        ))
    }

    /// [`MESSAGE`] bytes each way on every connection of `conns`; returns
    /// how many arrived intact both ways.
    fn exchange(&mut self, conns: &[(ConnId, ConnId)]) -> usize {
        let ping = [0x70u8; MESSAGE];
        let pong = [0x6fu8; MESSAGE];
        let mut got = [0u8; 2 * MESSAGE];
        let mut ok = vec![true; conns.len()];
        for (i, &(c, _)) in conns.iter().enumerate() {
            ok[i] = self.client.send(self.now, c, &ping) == Ok(MESSAGE);
        }
        self.pump();
        for (i, &(_, s)) in conns.iter().enumerate() {
            let n = self.server.recv(self.now, s, &mut got).unwrap_or(0);
            ok[i] &= n == MESSAGE && got[..n] == ping;
            ok[i] &= self.server.send(self.now, s, &pong) == Ok(MESSAGE);
        }
        self.pump();
        for (i, &(c, _)) in conns.iter().enumerate() {
            let n = self.client.recv(self.now, c, &mut got).unwrap_or(0);
            ok[i] &= n == MESSAGE && got[..n] == pong;
        }
        self.pump();
        ok.iter().filter(|&&b| b).count()
    }

    /// Close every connection of `conns`: the client first (so it ends in
    /// TIME-WAIT), then the server once it has read the end of stream.
    fn close_batch(&mut self, conns: &[(ConnId, ConnId)]) -> Result<(), String> {
        for &(c, _) in conns {
            self.client
                .close(self.now, c)
                .map_err(|e| format!("client close: {e}"))?;
        }
        self.pump();
        let mut buf = [0u8; 64];
        for &(_, s) in conns {
            match self.server.recv(self.now, s, &mut buf) {
                Ok(0) => {}
                other => return Err(format!("server expected end of stream, got {other:?}")),
            }
            self.server
                .close(self.now, s)
                .map_err(|e| format!("server close: {e}"))?;
        }
        self.pump();
        Ok(())
    }
}

/// Every packet `from` has to send, handed to `to`; returns how many.
fn transfer(
    from: &mut Endpoint,
    to: &mut Endpoint,
    now: Instant,
    buf: &mut [u8],
    errors: &mut u64,
) -> u64 {
    let mut moved = 0;
    for _ in 0..MAX_PACKETS_PER_ROUND {
        let Some(n) = from.poll_transmit(now, buf) else {
            break;
        };
        if to.handle_packet(now, &buf[..n]).is_err() {
            *errors += 1;
        }
        moved += 1;
    }
    moved
}

/// The timed loop: `segments` data segments of [`MESSAGE`] bytes, each on a
/// connection of `conns` drawn by `rng`, read by the server and answered by
/// an ACK. Stops early at `deadline`. Returns (segments sent, data errors).
///
/// Kept out of line so that an instruction counter can count it alone
/// (`valgrind --tool=callgrind --toggle-collect='*packet_loop*'`).
#[inline(never)]
fn packet_loop(
    net: &mut Net,
    conns: &[(ConnId, ConnId)],
    segments: usize,
    rng: &mut Rng,
    deadline: WallClock,
) -> (u64, u64) {
    let payload = [0x64u8; MESSAGE];
    let mut got = [0u8; 2 * MESSAGE];
    let mut errors = 0;
    let mut sent = 0;
    for i in 0..segments {
        if i % 4096 == 4095 && WallClock::now() >= deadline {
            break;
        }
        let (c, s) = conns[rng.below(conns.len())];
        // Ten microseconds of virtual time per segment: timestamps move,
        // no timer comes due (every segment is acknowledged at once).
        net.now += Duration::from_micros(10);
        if net.client.send(net.now, c, &payload) != Ok(MESSAGE) {
            errors += 1;
        }
        // The segment to the server, which reads it before its ACK leaves
        // (so the ACK carries the reopened window and no window update
        // follows): two packets per segment.
        let (now, buf) = (net.now, &mut net.buf);
        transfer(&mut net.client, &mut net.server, now, buf, &mut net.errors);
        let n = net.server.recv(net.now, s, &mut got).unwrap_or(0);
        if n != MESSAGE || got[..n] != payload {
            errors += 1;
        }
        net.pump();
        sent += 1;
    }
    (sent, errors)
}

/// SplitMix64: a small seeded generator, enough to spread segments over
/// connections.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// A value from `/proc/self/status` in bytes (`VmRSS`, `VmHWM`), where the
/// system has that file.
fn proc_status(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line
        .trim_start_matches(key)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn rss() -> Option<u64> {
    proc_status("VmRSS")
}

/// Memory with the connections idle: after the ring-release delay, as an
/// idle server holds them.
fn idle_memory(
    net: &mut Net,
    conns: &Vec<(ConnId, ConnId)>,
    pending: &HashMap<SocketAddr, ConnId>,
) -> Memory {
    net.idle();
    net.memory(harness_bytes(conns, pending))
}

fn harness_bytes(conns: &Vec<(ConnId, ConnId)>, pending: &HashMap<SocketAddr, ConnId>) -> u64 {
    (conns.capacity() * std::mem::size_of::<(ConnId, ConnId)>()
        + pending.capacity() * (std::mem::size_of::<(SocketAddr, ConnId)>() + 1)) as u64
}

/// Measure the per-packet cost with `conns` open.
fn measure_packets(
    net: &mut Net,
    conns: &[(ConnId, ConnId)],
    opts: &Options,
    rng: &mut Rng,
    end: WallClock,
) -> PacketCost {
    let mut cost = PacketCost::default();
    // One run may take at most this long; the whole measurement stops at
    // the run's end of time.
    let per_run = Duration::from_secs(30);
    let warm = (opts.packets / 5).max(1);
    let deadline = (WallClock::now() + per_run).min(end);
    let (_, e) = packet_loop(net, conns, warm, rng, deadline);
    cost.data_errors += e;
    for rep in 0..opts.reps {
        let now = WallClock::now();
        if now >= end {
            cost.cut_short = Some(format!(
                "time limit reached after {rep} of {} runs",
                opts.reps
            ));
            break;
        }
        let deadline = (now + per_run).min(end);
        let before = net.packets_in();
        let started = WallClock::now();
        let (sent, e) = packet_loop(net, conns, opts.packets, rng, deadline);
        let elapsed = started.elapsed();
        let packets = net.packets_in() - before;
        cost.data_errors += e;
        cost.segments += sent;
        cost.packets += packets;
        if packets > 0 {
            cost.ns_per_packet
                .push(elapsed.as_nanos() as f64 / packets as f64);
        }
        if (sent as usize) < opts.packets {
            cost.cut_short = Some(format!(
                "run {} stopped after {} of {} segments (time)",
                rep + 1,
                sent,
                opts.packets
            ));
        }
    }
    cost
}

/// Run the benchmark. `progress` hears what is going on (for standard
/// error). Errors are bad options only; whatever stops the run later is in
/// the report's `stopped`.
pub fn run(opts: &Options, mut progress: impl FnMut(&str)) -> Result<Report, String> {
    opts.check()?;
    let started = WallClock::now();
    let end = started + opts.time_limit;
    // Opening stops at half the time limit: closing takes about as long.
    let open_end = started + opts.time_limit / 2;
    let mut net = Net::new()?;
    let mut rng = Rng(opts.seed);
    let mut conns: Vec<(ConnId, ConnId)> = Vec::new();
    let mut pending: HashMap<SocketAddr, ConnId> = HashMap::with_capacity(BATCH);
    let mut report = Report {
        options: opts.clone(),
        opened: 0,
        established: 0,
        data_ok: 0,
        packet_errors: 0,
        handshake_bytes: None,
        checkpoints: Vec::new(),
        stopped: None,
        close: None,
        peak_rss: None,
        elapsed: Duration::ZERO,
    };
    let (mut open_time, mut data_time) = (Duration::ZERO, Duration::ZERO);
    // Bytes per connection so far (both endpoints), for the predictions;
    // before the first connection, the most one may take on each side.
    let limit = net.client.config().connection_memory_limit() as u64;
    let mut last = net.memory(0);
    // (connections, accounted bytes) before the last step.
    let mut prev = (0usize, last.accounted());

    'grow: for target in opts.effective_checkpoints() {
        while conns.len() < target {
            if WallClock::now() >= open_end {
                report.stopped = Some(format!(
                    "time: opening stopped at half of --time-limit ({} s) so that closing fits",
                    opts.time_limit.as_secs()
                ));
                break 'grow;
            }
            // A step: up to an eighth more connections, in batches.
            let opened = conns.len();
            // The larger of the average and the last step's marginal cost.
            let per_conn = if opened == 0 {
                2 * limit
            } else {
                let average = last.accounted() / opened as u64;
                let marginal = last.accounted().saturating_sub(prev.1)
                    / (opened.saturating_sub(prev.0)).max(1) as u64;
                average.max(marginal)
            };
            let want = if opened == 0 {
                1
            } else {
                (opened / 8).max(BATCH).min(target - opened)
            };
            // The tables may double during the step.
            let tables = (last.client.table_bytes + last.server.table_bytes) as u64 + last.harness;
            let base = last.accounted().max(last.rss.unwrap_or(0));
            let room = opts.max_memory.saturating_sub(base + tables);
            let fits = (room / per_conn.max(1)) as usize;
            let step = want.min(fits);
            if step < want.min(BATCH) {
                report.stopped = Some(format!(
                    "memory: {} more connections at ~{} bytes each (with room for the tables \
                     to double) would take the process past --max-memory {} (now: {} by \
                     memory_usage of both endpoints, {} resident)",
                    group(want.min(BATCH) as u64),
                    group(per_conn),
                    bytes(opts.max_memory),
                    bytes(last.accounted()),
                    last.rss.map_or("unknown".into(), bytes)
                ));
                break 'grow;
            }
            conns.reserve_exact(step);
            let step_end = opened + step;
            while conns.len() < step_end {
                let n = (step_end - conns.len()).min(BATCH);
                let from = conns.len();
                let t = WallClock::now();
                if let Err(e) = net.open_batch(n, &mut conns, &mut pending) {
                    report.stopped = Some(format!("error while opening: {e}"));
                    break 'grow;
                }
                open_time += t.elapsed();
                net.now += Duration::from_millis(1);
                if from == 0 {
                    report.handshake_bytes = Some(net.client.memory_usage().max_connection_bytes);
                }
                report.established += conns[from..]
                    .iter()
                    .filter(|&&(c, s)| {
                        net.client.state(c) == State::Established
                            && net.server.state(s) == State::Established
                    })
                    .count();
                let t = WallClock::now();
                report.data_ok += net.exchange(&conns[from..]);
                data_time += t.elapsed();
                report.opened = conns.len();
                // A cheap guard every batch: the resident size.
                if let Some(r) = rss() {
                    if r > opts.max_memory {
                        report.stopped = Some(format!(
                            "memory: the process is resident in {} (over --max-memory {})",
                            bytes(r),
                            bytes(opts.max_memory)
                        ));
                        break 'grow;
                    }
                }
            }
            prev = (opened, last.accounted());
            last = net.memory(harness_bytes(&conns, &pending));
            if conns.len() % (64 * BATCH) < step || conns.len() == target {
                progress(&format!(
                    "opened {} connections ({} by memory_usage, {:.1?})",
                    group(conns.len() as u64),
                    bytes(last.accounted()),
                    started.elapsed()
                ));
            }
        }
        progress(&format!(
            "checkpoint {}: timing {} x {} data segments",
            group(target as u64),
            opts.reps,
            group(opts.packets as u64)
        ));
        let memory = idle_memory(&mut net, &conns, &pending);
        let cost = measure_packets(&mut net, &conns, opts, &mut rng, end);
        report.checkpoints.push(Checkpoint {
            connections: target,
            open_time,
            data_time,
            memory,
            cost,
            at_stop: false,
        });
    }
    // Opening may have failed half-way through a batch.
    report.opened = conns.len();
    // Stopped by the budget or the clock between two checkpoints: measure
    // where it stopped too.
    let clean_stop = report
        .stopped
        .as_deref()
        .is_some_and(|s| !s.starts_with("error"));
    let measured = report.checkpoints.last().map_or(0, |c| c.connections);
    if clean_stop && conns.len() > measured {
        progress(&format!(
            "stopped at {}: timing {} x {} data segments",
            group(conns.len() as u64),
            opts.reps,
            group(opts.packets as u64)
        ));
        let memory = idle_memory(&mut net, &conns, &pending);
        let cost = measure_packets(&mut net, &conns, opts, &mut rng, end);
        report.checkpoints.push(Checkpoint {
            connections: conns.len(),
            open_time,
            data_time,
            memory,
            cost,
            at_stop: true,
        });
    }

    progress(&format!(
        "closing {} connections",
        group(conns.len() as u64)
    ));
    let t = WallClock::now();
    let mut closed = 0;
    for chunk in conns.chunks(CLOSE_BATCH) {
        if WallClock::now() >= end {
            report.stopped.get_or_insert_with(|| {
                format!(
                    "time: --time-limit reached while closing ({} of {} closed)",
                    closed,
                    conns.len()
                )
            });
            break;
        }
        if let Err(e) = net.close_batch(chunk) {
            report
                .stopped
                .get_or_insert(format!("error while closing: {e}"));
            break;
        }
        net.now += Duration::from_millis(1);
        closed += chunk.len();
    }
    let time = t.elapsed();
    let counts = net.client.count_by_state();
    let time_wait = counts
        .iter()
        .find(|(s, _)| *s == State::TimeWait)
        .map_or(0, |x| x.1);
    let client_other = counts.iter().map(|x| x.1).sum::<usize>() - time_wait;
    report.close = Some(CloseReport {
        closed,
        time,
        time_wait,
        client_other,
        server_left: net.server.connection_count(),
        memory: net.memory(harness_bytes(&conns, &pending)),
    });
    report.packet_errors = net.errors;
    report.peak_rss = proc_status("VmHWM");
    report.elapsed = started.elapsed();
    Ok(report)
}

/// `--only-packets`: open `connections`, then send `segments` data segments
/// once (no warm-up, no repetition, no close), for an instruction counter.
pub fn packets_only(
    connections: usize,
    segments: usize,
    max_memory: u64,
    seed: u64,
) -> Result<PacketsOnly, String> {
    let opts = Options {
        connections,
        packets: segments,
        max_memory,
        ..Options::default()
    };
    opts.check()?;
    let mut net = Net::new()?;
    let mut conns = Vec::new();
    let mut pending = HashMap::with_capacity(BATCH);
    let limit = 2 * net.client.config().connection_memory_limit() as u64;
    // As in `run`: memory is checked before each step of up to an eighth
    // more connections, from the bytes per connection so far (before the
    // first, the most one may take) with room for the tables to double.
    let mut step_end = 0;
    while conns.len() < connections {
        if conns.len() >= step_end {
            let have = conns.len();
            let step = if have == 0 {
                1
            } else {
                (have / 8).max(BATCH).min(connections - have)
            };
            let m = net.memory(harness_bytes(&conns, &pending));
            let per_conn = if have == 0 {
                limit
            } else {
                m.accounted() / have as u64
            };
            let tables = (m.client.table_bytes + m.server.table_bytes) as u64;
            let base = m.accounted().max(m.rss.unwrap_or(0));
            if base + tables + step as u64 * per_conn > max_memory {
                return Err(format!(
                    "memory: {} connections would take the process past --max-memory {} \
                     (at {}: {} by memory_usage)",
                    group((have + step) as u64),
                    bytes(max_memory),
                    group(have as u64),
                    bytes(m.accounted())
                ));
            }
            step_end = have + step;
            conns.reserve_exact(step);
        }
        let n = (step_end - conns.len()).min(BATCH);
        let from = conns.len();
        net.open_batch(n, &mut conns, &mut pending)?;
        if net.exchange(&conns[from..]) != n {
            return Err("the first bytes did not arrive intact".into());
        }
        if rss().is_some_and(|r| r > max_memory) {
            return Err(format!(
                "memory: the process is resident in more than --max-memory {}",
                bytes(max_memory)
            ));
        }
    }
    let mut rng = Rng(seed);
    let before = net.packets_in();
    let t = WallClock::now();
    let far = t + Duration::from_secs(24 * 3600);
    let (sent, errors) = packet_loop(&mut net, &conns, segments, &mut rng, far);
    let time = t.elapsed();
    Ok(PacketsOnly {
        connections,
        segments: sent,
        packets: net.packets_in() - before,
        data_errors: errors,
        time,
    })
}

// ---- The report -------------------------------------------------------------

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes with a binary unit: `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Parse a size such as `16GiB`, `512M`, `4g` or `1000000` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (such as 16GiB, 512M or 1000000)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("'{s}': unknown unit (use K, M, G or T; binary)")),
    };
    let v = num * mult as f64;
    if !v.is_finite() || v < 1.0 || v > u64::MAX as f64 {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(v as u64)
}

/// `1 connection`, `2,000 connections`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{} {what}s", group(n as u64))
    }
}

fn per(n: u64, k: usize) -> u64 {
    n / k.max(1) as u64
}

/// The report as text: the setup, one block per checkpoint, the close, and
/// the targets with reached or missed.
pub fn render(r: &Report) -> String {
    let o = &r.options;
    let mut out = String::new();
    let cps: Vec<String> = o
        .effective_checkpoints()
        .iter()
        .map(|&k| group(k as u64))
        .collect();
    let _ = writeln!(
        out,
        "finack bench scale: {} connections (checkpoints {}), {MESSAGE} B each way, \
         {} x {} data segments per checkpoint, --max-memory {}, --time-limit {} s, seed {}",
        group(o.connections as u64),
        cps.join(", "),
        o.reps,
        group(o.packets as u64),
        bytes(o.max_memory),
        o.time_limit.as_secs(),
        o.seed
    );
    let _ = writeln!(
        out,
        "server {SERVER}, clients 198.51.100.1.. then 192.0.2.1.. ({} connections per address); \
         Config::linux() with delayed ACKs and the transition log off; memory by \
         Endpoint::memory_usage (connections + tables)",
        group(CONNECTIONS_PER_ADDRESS as u64)
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "opened {} connections: {} ESTABLISHED on both sides, {} with their data intact both ways, \
         {} packets refused",
        group(r.opened as u64),
        group(r.established as u64),
        group(r.data_ok as u64),
        r.packet_errors
    );
    let _ = writeln!(
        out,
        "control block (TCB): {} bytes (size_of; target <= 512)",
        group(control_block_size() as u64)
    );
    if let Some(b) = r.handshake_bytes {
        let _ = writeln!(
            out,
            "one connection after its handshake, before any data: {} bytes (memory_usage)",
            group(b as u64)
        );
    }
    for cp in &r.checkpoints {
        let k = cp.connections;
        let m = &cp.memory;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "with {} open{}:",
            plural(k, "connection"),
            if cp.at_stop {
                " (where opening stopped)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "  time to open: {:.3} s ({:.0} connections/s, {:.2} us each); first {MESSAGE} B each way: {:.3} s",
            cp.open_time.as_secs_f64(),
            k as f64 / cp.open_time.as_secs_f64().max(1e-9),
            cp.open_time.as_secs_f64() * 1e6 / k as f64,
            cp.data_time.as_secs_f64()
        );
        for (name, u) in [("client", &m.client), ("server", &m.server)] {
            let _ = writeln!(
                out,
                "  {name} memory: {} ({} bytes), {} bytes per connection ({} in connections, \
                 {} in tables; largest connection {} bytes)",
                bytes(total(u)),
                group(total(u)),
                group(per(total(u), k)),
                group(per(u.connection_bytes as u64, k)),
                group(per(u.table_bytes as u64, k)),
                group(u.max_connection_bytes as u64)
            );
        }
        let _ = writeln!(
            out,
            "  process: {} by memory_usage of both endpoints + harness; {} resident",
            bytes(m.accounted()),
            m.rss.map_or("unknown".into(), bytes)
        );
        match cp.cost.summary() {
            Some((lo, med, hi)) => {
                let _ = writeln!(
                    out,
                    "  per packet: {lo:.0} / {med:.0} / {hi:.0} ns (min / median / max of {} runs; \
                     {} packets for {} segments{})",
                    cp.cost.ns_per_packet.len(),
                    group(cp.cost.packets),
                    group(cp.cost.segments),
                    if cp.cost.data_errors > 0 {
                        format!(", {} DATA ERRORS", cp.cost.data_errors)
                    } else {
                        String::new()
                    }
                );
            }
            None => {
                let _ = writeln!(out, "  per packet: not measured");
            }
        }
        if let Some(why) = &cp.cost.cut_short {
            let _ = writeln!(out, "  per packet: cut short: {why}");
        }
    }
    if let Some(why) = &r.stopped {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "STOPPED at {} connections: {why}",
            group(r.opened as u64)
        );
    }
    if let Some(c) = &r.close {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "closed {} connections (client first) in {:.3} s: {} in TIME-WAIT on the client, \
             {} in other states; {} left on the server",
            group(c.closed as u64),
            c.time.as_secs_f64(),
            group(c.time_wait as u64),
            group(c.client_other as u64),
            group(c.server_left as u64)
        );
        let tw = c.memory.client.time_wait_bytes as u64;
        let _ = writeln!(
            out,
            "TIME-WAIT table (client endpoint): {} ({} bytes), {} bytes per entry \
             (entries, 4-tuple index, expiry queue; target <= 64)",
            bytes(tw),
            group(tw),
            group(per(tw, c.time_wait))
        );
        let all = total(&c.memory.client);
        let _ = writeln!(
            out,
            "client endpoint after close: {} ({} bytes per TIME-WAIT entry; its slot \
             array keeps the capacity of the open connections)",
            bytes(all),
            group(per(all, c.time_wait))
        );
        let _ = writeln!(
            out,
            "server endpoint after close: {} (its tables keep their capacity)",
            bytes(total(&c.memory.server))
        );
    }
    if let Some(p) = r.peak_rss {
        let _ = writeln!(out, "peak resident size of the process: {}", bytes(p));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", target_memory(r));
    let _ = writeln!(out, "{}", target_packets(r));
    let _ = writeln!(
        out,
        "target: the whole run in under {} minutes: {} ({:.1} s)",
        TARGET_RUN_TIME.as_secs() / 60,
        if r.elapsed < TARGET_RUN_TIME {
            "reached"
        } else {
            "MISSED"
        },
        r.elapsed.as_secs_f64()
    );
    out
}

fn target_memory(r: &Report) -> String {
    let head = format!(
        "target: {} idle established connections in <= {} on one endpoint:",
        group(TARGET_CONNECTIONS as u64),
        bytes(TARGET_BYTES)
    );
    let at_target = r
        .checkpoints
        .iter()
        .find(|c| c.connections == TARGET_CONNECTIONS);
    if let Some(cp) = at_target {
        let b = cp.memory.one_endpoint();
        let verdict = if b <= TARGET_BYTES {
            "reached"
        } else {
            "MISSED"
        };
        return format!("{head} {verdict} ({} on the larger endpoint)", bytes(b));
    }
    let projection = r.checkpoints.last().map_or(String::new(), |cp| {
        let b = per(cp.memory.one_endpoint(), cp.connections);
        format!(
            "; at {} bytes per connection (measured at {}), {} would take {}",
            group(b),
            group(cp.connections as u64),
            group(TARGET_CONNECTIONS as u64),
            bytes(b * TARGET_CONNECTIONS as u64)
        )
    });
    if r.stopped.is_some() {
        format!(
            "{head} MISSED (stopped at {} connections{projection})",
            group(r.opened as u64)
        )
    } else {
        format!(
            "{head} not measured (this run opened {}{projection})",
            group(r.opened as u64)
        )
    }
}

fn target_packets(r: &Report) -> String {
    let head = format!(
        "target: per-packet cost at {} connections <= {TARGET_PACKET_RATIO}x the cost at 1:",
        group(TARGET_CONNECTIONS as u64)
    );
    let median = |k: usize| {
        r.checkpoints
            .iter()
            .find(|c| c.connections == k)
            .and_then(|c| c.cost.summary())
            .map(|s| s.1)
    };
    let Some(one) = median(1) else {
        return format!("{head} not measured (no checkpoint at 1 connection)");
    };
    if let Some(big) = median(TARGET_CONNECTIONS) {
        let ratio = big / one;
        let verdict = if ratio <= TARGET_PACKET_RATIO {
            "reached"
        } else {
            "MISSED"
        };
        return format!("{head} {verdict} ({big:.0} ns vs {one:.0} ns median: {ratio:.2}x)");
    }
    let largest = r
        .checkpoints
        .iter()
        .rev()
        .find_map(|c| c.cost.summary().map(|s| (c.connections, s.1)));
    let so_far = match largest {
        Some((k, m)) if k > 1 => format!(
            "; at {}: {m:.0} ns vs {one:.0} ns, {:.2}x",
            group(k as u64),
            m / one
        ),
        _ => String::new(),
    };
    let verdict = if r.stopped.is_some() {
        "MISSED"
    } else {
        "not measured"
    };
    format!(
        "{head} {verdict} (no measurement at {}{so_far})",
        group(TARGET_CONNECTIONS as u64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_size("16GiB"), Ok(16 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4g"), Ok(4 << 30));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1000"), Ok(1000));
        for bad in ["", "x", "12 parsecs", "0", "-1G", "1e400"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_000_000), "1,000,000");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn checkpoints_stop_at_the_connection_count() {
        let o = Options {
            connections: 2000,
            checkpoints: vec![1_000_000, 1, 1000, 1000, 100_000],
            ..Options::default()
        };
        assert_eq!(o.effective_checkpoints(), vec![1, 1000, 2000]);
        let o = Options {
            connections: 0,
            ..Options::default()
        };
        assert!(run(&o, |_| {}).is_err());
        let o = Options {
            connections: MAX_CONNECTIONS + 1,
            ..Options::default()
        };
        assert!(run(&o, |_| {}).is_err());
    }

    #[test]
    fn client_addresses_stay_in_the_documentation_ranges() {
        assert_eq!(
            client_address(0),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))
        );
        assert_eq!(
            client_address(253),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 254))
        );
        assert_eq!(client_address(254), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            client_address(CLIENT_ADDRESSES - 1),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254))
        );
    }
}
