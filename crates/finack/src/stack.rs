//! The stack: one engine per worker, each with its driver task and the
//! wakers of the sockets on it.
//!
//! # Workers
//!
//! A stack runs `workers` engines ([`finack_core::Endpoint`]), shared-nothing:
//! each has its own lock, driver task, timers, connection tables and
//! listeners, and owns the connections whose 4-tuple (local, remote) hashes
//! to it ([`Steer`], a keyed hash, random per stack). A listener is opened in
//! every engine, so each accepts the connections it owns; [`TcpListener`]
//! polls all of them. [`TcpStream::connect`] picks the engine from the hash of
//! the 4-tuple it chooses (an ephemeral port is walked until the 4-tuple is
//! free in the engine it hashes to; a tuple always hashes to one engine, so
//! that engine's tables alone say whether it is free). Socket handles carry
//! their engine's index. Application calls lock only their connection's
//! engine; the drivers run as tasks of the runtime the stack was made in, so
//! on a multi-thread runtime the engines work in parallel.
//!
//! Packets reach the owner like this:
//!
//! - On an in-memory [`PacketLink`] (one channel in), a dispatcher task reads
//!   the link, hashes each packet's 4-tuple and moves it into its owner's
//!   inbox (no copy). Every engine sends into the link's sender.
//! - On a TUN device opened with several queues (IFF_MULTI_QUEUE; [`Tun`]
//!   opens one per core), worker *i* reads queue *i* itself and writes its
//!   packets to queue *i*, straight from the buffer the engine wrote into.
//!   The kernel picks the queue a packet goes to (drivers/net/tun.c,
//!   `tun_select_queue` → `tun_automq_select_queue`): a flow it saw written
//!   on a queue within the last few seconds goes back to that queue (its
//!   flow table, filled by our writes), any other flow to a queue chosen by
//!   the kernel's own flow hash, which we cannot choose. So most packets
//!   arrive at their owner, since the owner is the one that writes the
//!   flow's packets, but not all: a new connection's SYN, a flow we have not
//!   written to lately, a full flow table. A worker that reads a packet
//!   another engine owns copies it into the owner's inbox
//!   ([`LinkStats::handed_over`] counts these). Ownership is by our hash
//!   only, never by the queue a packet came in on, so the kernel's choice
//!   can change at any time without a packet reaching the wrong engine.
//! - So does a single worker (`Stack::tun`, `finack proxy`): a reader and
//!   a writer task per queue beside the engines, tried before, measured
//!   slower on two cores than the worker doing its own reads and writes
//!   once offload made each read and write carry up to 64 KiB (see
//!   docs/architecture.md).
//! - On a TUN device without segmentation offload (one read(2) per
//!   segment), each queue is read by a thread of its own instead, which
//!   hands the worker batches of reads (and other workers' packets to their
//!   inboxes, as above); the worker still writes its queue itself, measured
//!   faster there (see `reader.rs`).
//! - With fewer queues than workers (a device opened with one queue, or an
//!   impairment on the TUN path), workers beyond the queues read none and
//!   get their packets handed over; all write to the queue `i % queues`.
//!
//! One worker is the stack as it always was: one engine, one driver, no
//! hashing.
//!
//! # Send-side offload
//!
//! On a TUN device with virtio-net headers (offload on, the default), the
//! segments an engine writes in one go are joined, run by run of one
//! connection, into TCP super-segments of up to 64 KiB that the kernel cuts
//! back into the very same segments (GSO, as for a TSO network card): one write
//! and one pass through the kernel's receive path per up to 45 full-sized
//! segments. [`LinkStats::writes_out`] counts the writes,
//! [`LinkStats::packets_out`] the segments.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;
use std::time::Duration;

use finack_core::{
    Config, ConnId, ConnInfo, Endpoint, Error, Event, Instant, ListenerId, RxOffload, State, Stats,
    Transition,
};
use tokio::sync::{mpsc, Notify};
use tun_rs::{AsyncDevice, SyncDevice};

use crate::impair::Impairment;
use crate::link::{classify, Counters, Inbound, Kind, LinkStats, PacketLink, Steer};
use crate::offload::tun_read;
use crate::offload::{Coalescer, RxMerger};
use crate::reader::{Feed, RxBatch};
use crate::tun::Tun;
#[cfg(doc)]
use crate::{TcpListener, TcpStream};

/// Transitions kept for [`Stack::take_transitions`] when the configuration records
/// them; older ones are dropped (per worker).
const MAX_TRANSITIONS: usize = 16_384;

/// Largest packet the engine is asked to write (it writes MTU-sized ones).
const TX_BUF: usize = crate::offload::SLOT;

/// Packets a driver takes from its inbox in one go.
const BATCH: usize = 64;

/// Per-connection wakers: one task reading, one writing, one connecting.
#[derive(Default)]
pub(crate) struct Wakers {
    pub read: Option<Waker>,
    pub write: Option<Waker>,
    pub connect: Option<Waker>,
}

impl Wakers {
    fn wake_read(&mut self) {
        if let Some(w) = self.read.take() {
            w.wake();
        }
    }
    fn wake_write(&mut self) {
        if let Some(w) = self.write.take() {
            w.wake();
        }
    }
    fn wake_connect(&mut self) {
        if let Some(w) = self.connect.take() {
            w.wake();
        }
    }
}

/// Where a worker's outbound packets go.
pub(crate) enum Out {
    /// Into a channel (an in-memory link, a TUN path with an impairment,
    /// whose writer puts the virtio-net header in front): each packet is
    /// copied out of the engine's buffer into its own `Vec`.
    Chan { tx: mpsc::UnboundedSender<Vec<u8>> },
    /// Written to a TUN queue: without `vnet` straight from the engine's
    /// buffer (no copy); with it behind a virtio-net header, with `join`
    /// joined into super-segments (else one segment per write).
    Tun {
        dev: Arc<AsyncDevice>,
        vnet: bool,
        join: bool,
    },
    /// Written to a TUN queue that a reader thread reads (see
    /// `reader.rs`), with plain non-blocking writes: the queue is not
    /// registered with tokio's reactor. One segment per write.
    TunFd { dev: Arc<SyncDevice>, vnet: bool },
}

impl Out {
    /// Writes carry a virtio-net header (segments are joined first).
    fn vnet(&self) -> bool {
        match self {
            Out::Chan { .. } => false,
            Out::Tun { vnet, .. } | Out::TunFd { vnet, .. } => *vnet,
        }
    }

    /// Send one write. A closed link (the peer is gone) loses it, as a cable
    /// would; a failed TUN write (device gone, no memory) loses it too, and
    /// TCP retransmits. TUN writes do not block.
    fn write(&self, pkt: &[u8]) {
        match self {
            Out::Chan { tx } => {
                let _ = tx.send(pkt.to_vec());
            }
            Out::Tun { dev, .. } => tun_write(dev, pkt),
            Out::TunFd { dev, .. } => {
                if let Err(e) = dev.send(pkt) {
                    tracing::trace!(target: "finack", error = %e, "TUN write failed");
                }
            }
        }
    }
}

fn tun_write(dev: &AsyncDevice, pkt: &[u8]) {
    if let Err(e) = dev.try_send(pkt) {
        tracing::trace!(target: "finack", error = %e, "TUN write failed");
    }
}

/// The TUN queue a worker reads itself.
pub(crate) struct Queue {
    pub dev: Arc<AsyncDevice>,
    /// The device carries virtio-net headers (IFF_VNET_HDR): one read may be a
    /// GSO segment of up to 64 KiB, split into MTU-sized packets.
    pub offload: bool,
}

/// How one worker is wired to the outside.
pub(crate) struct WorkerLink {
    pub out: Out,
    pub queue: Option<Queue>,
    /// Batches of reads from the worker's TUN queue, read by a thread of
    /// its own (instead of `queue`).
    pub feed: Option<Feed>,
}

/// Everything behind one worker's lock.
pub(crate) struct Inner {
    pub ep: Endpoint,
    out: Out,
    pub conns: HashMap<ConnId, Wakers>,
    pub listeners: HashMap<ListenerId, Option<Waker>>,
    buf: Vec<u8>,
    /// Joins segments into super-segments when the link takes them.
    gso: Coalescer,
    counters: Arc<Counters>,
    transitions: VecDeque<Transition>,
    /// The instant the driver is sleeping until (None: no timer). A call that
    /// makes the engine's next timer earlier wakes the driver.
    driver_deadline: Option<Instant>,
}

impl Inner {
    /// Deliver engine events to the waiting tasks and send the packets that are
    /// due. Call after anything that may have changed the engine.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                Event::Incoming(l) => {
                    tracing::trace!(target: "finack", listener = ?l, "connection ready to accept");
                    if let Some(Some(w)) = self.listeners.get_mut(&l).map(Option::take) {
                        w.wake();
                    }
                }
                Event::Connected(c) => {
                    if let Some(w) = self.conns.get_mut(&c) {
                        w.wake_connect();
                        w.wake_write();
                    }
                }
                Event::Readable(c) | Event::PeerClosed(c) | Event::Urgent(c) => {
                    if let Some(w) = self.conns.get_mut(&c) {
                        w.wake_read();
                    }
                }
                Event::Writable(c) => {
                    if let Some(w) = self.conns.get_mut(&c) {
                        w.wake_write();
                    }
                }
                Event::Closed { conn, reason } => {
                    tracing::debug!(target: "finack", conn = ?conn, ?reason, "connection closed");
                    if let Some(w) = self.conns.get_mut(&conn) {
                        w.wake_read();
                        w.wake_write();
                        w.wake_connect();
                    }
                }
            }
        }
        if self.ep.config().record_transitions {
            self.transitions.extend(self.ep.take_transitions());
            while self.transitions.len() > MAX_TRANSITIONS {
                self.transitions.pop_front();
            }
        }
        let Inner {
            ep,
            out,
            buf,
            gso,
            counters,
            ..
        } = self;
        let (mut sent, mut writes, mut tso) = (0u64, 0u64, 0u64);
        if out.vnet() {
            let mut write = |b: &[u8]| {
                writes += 1;
                out.write(b);
            };
            // The engine writes straight into the coalescer's buffer, new
            // data as packets of several segments (TSO) when it starts one.
            loop {
                let segs = gso.push_with(
                    |slot, max| ep.poll_transmit_segs(now, slot, max),
                    &mut write,
                );
                if segs == 0 {
                    break;
                }
                sent += segs as u64;
                if segs > 1 {
                    tso += segs as u64;
                }
            }
            gso.flush(&mut write);
        } else {
            while let Some(n) = ep.poll_transmit(now, buf) {
                sent += 1;
                out.write(&buf[..n]);
            }
            writes = sent;
        }
        Counters::add(&counters.packets_out, sent);
        Counters::add(&counters.writes_out, writes);
        Counters::add(&counters.tso_segments_out, tso);
    }

    /// Hand the engine one packet as read, or `segs` segments read and
    /// joined by receive coalescing.
    fn handle_inbound(&mut self, now: Instant, pkt: &[u8], rx: RxOffload, segs: u64) {
        Counters::add(&self.counters.packets_in, segs);
        Counters::add(&self.counters.coalesced_in, segs.saturating_sub(1));
        match classify(pkt) {
            Kind::NotIp => Counters::bump(&self.counters.skipped_not_ip),
            Kind::NotTcp => Counters::bump(&self.counters.skipped_not_tcp),
            Kind::IcmpError => {
                Counters::bump(&self.counters.icmp_errors);
                if self.ep.handle_packet(now, pkt).is_err() {
                    Counters::bump(&self.counters.rejected);
                }
            }
            Kind::Tcp => {
                if self.ep.handle_offloaded_packet(now, pkt, rx).is_err() {
                    Counters::bump(&self.counters.rejected);
                }
            }
        }
    }
}

/// One worker: its engine behind its lock, and the driver's wake-up.
struct Shard {
    inner: Mutex<Inner>,
    notify: Arc<Notify>,
}

pub(crate) struct Shared {
    shards: Vec<Shard>,
    pub(crate) steer: Steer,
    origin: tokio::time::Instant,
    counters: Arc<Counters>,
    /// Local addresses of this stack's listeners, which ephemeral ports
    /// avoid (with several workers; one engine does it itself).
    listening: Mutex<Vec<SocketAddr>>,
    /// Advances the ephemeral port search (RFC 6056 algorithm 3).
    port_counter: AtomicU32,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Let the drivers see that the last user is gone.
        for s in &self.shards {
            s.notify.notify_one();
        }
    }
}

impl Shared {
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn to_tokio(&self, t: Instant) -> tokio::time::Instant {
        self.origin + Duration::from_micros(t.as_micros())
    }

    /// The number of workers (engines).
    pub fn workers(&self) -> usize {
        self.shards.len()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the engine in an unknown state;
        // carrying on is still better than poisoning every socket.
        self.shards[shard]
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Run an application call on worker `shard`'s engine, then deliver its
    /// consequences.
    pub fn op<R>(&self, shard: usize, f: impl FnOnce(&mut Inner, Instant) -> R) -> R {
        let now = self.now();
        let mut inner = self.lock(shard);
        let r = f(&mut inner, now);
        inner.pump(now);
        let next = inner.ep.poll_timeout();
        let earlier = match (next, inner.driver_deadline) {
            (Some(n), Some(d)) => n < d,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            inner.driver_deadline = next;
            self.shards[shard].notify.notify_one();
        }
        r
    }

    /// Note a listener on `local` (ephemeral ports avoid it).
    pub fn add_listening(&self, local: SocketAddr) {
        self.listening
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(local);
    }

    /// Forget one listener on `local`.
    pub fn remove_listening(&self, local: SocketAddr) {
        let mut l = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = l.iter().position(|a| *a == local) {
            l.swap_remove(i);
        }
    }

    /// Active OPEN from `from` (its IP and port may be unspecified) to
    /// `remote` on the engine that owns the 4-tuple; `setup` runs in the same
    /// operation, before the SYN goes out (on failure the connection is
    /// aborted). Returns the engine's index and the handle.
    pub fn connect(
        &self,
        from: SocketAddr,
        remote: SocketAddr,
        setup: impl Fn(&mut Inner, Instant, ConnId) -> Result<(), Error>,
    ) -> Result<(usize, ConnId), Error> {
        // `picked`: the port is one this stack chose, not the application
        // (a TIME-WAIT on the 4-tuple then yields only under tw_reuse).
        let open = |shard: usize, local: SocketAddr, picked: bool| {
            self.op(shard, |inner, now| {
                let id = if picked {
                    inner.ep.connect_picked(now, local, remote)?
                } else {
                    inner.ep.connect(now, local, remote)?
                };
                inner.conns.entry(id).or_default();
                if let Err(e) = setup(inner, now, id) {
                    let _ = inner.ep.abort(now, id);
                    inner.conns.remove(&id);
                    return Err(e);
                }
                Ok(id)
            })
        };
        if self.workers() == 1 {
            return open(0, from, false).map(|id| (0, id));
        }
        // The local address the engine would choose (MUST-44/45: the first
        // of the remote's family); without one, the engine says why.
        let ip = if from.ip().is_unspecified() {
            let addrs = self.lock(0).ep.addresses().to_vec();
            match addrs.into_iter().find(|a| a.is_ipv4() == remote.is_ipv4()) {
                Some(ip) => ip,
                None => return open(0, from, false).map(|id| (0, id)),
            }
        } else {
            from.ip()
        };
        if from.port() != 0 {
            let local = SocketAddr::new(ip, from.port());
            let shard = self.steer.worker(local, remote);
            return open(shard, local, false).map(|id| (shard, id));
        }
        // An ephemeral port: walk the range from a keyed hash of the
        // addresses plus a counter (RFC 6056 §3.3.3), skipping listeners'
        // ports, until the 4-tuple is free in the engine it hashes to.
        let (lo, hi) = self.lock(0).ep.config().ephemeral_ports;
        let (lo, hi) = (u32::from(lo.min(hi)), u32::from(lo.max(hi)));
        let range = hi - lo + 1;
        let offset = self
            .steer
            .hash(SocketAddr::new(ip, 0), remote)
            .wrapping_add(self.port_counter.fetch_add(1, Ordering::Relaxed));
        let listening = self
            .listening
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for i in 0..range {
            let port = (lo + offset.wrapping_add(i) % range) as u16;
            let taken = listening.iter().any(|l| {
                l.port() == port
                    && (l.ip() == ip || (l.ip().is_unspecified() && l.is_ipv4() == ip.is_ipv4()))
            });
            if taken {
                continue;
            }
            let local = SocketAddr::new(ip, port);
            let shard = self.steer.worker(local, remote);
            match open(shard, local, true) {
                // Taken: by a listener, or the 4-tuple by a connection.
                Err(Error::AddrInUse | Error::AddrNotAvailable) => continue,
                r => {
                    self.port_counter.fetch_add(i, Ordering::Relaxed);
                    return r.map(|id| (shard, id));
                }
            }
        }
        Err(Error::AddrNotAvailable)
    }
}

/// A summary of one connection of a stack (see [`Stack::connections`] and
/// the example on [`Stack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnSummary {
    /// RFC 9293 state.
    pub state: State,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
}

/// A userspace TCP/IP host: finack engines driven by tokio tasks, with the
/// addresses it answers for and the packet link it talks over. Cheap to clone
/// (all clones are the same stack). The drivers stop once every clone and
/// every socket made from it is dropped.
///
/// The constructors here make a stack of one worker (one engine); a
/// [`StackBuilder`] ([`Stack::builder`]) chooses the number of workers, by
/// default one per core, each an engine of its own that owns a share of the
/// connections (see the module documentation of `stack.rs` and
/// docs/architecture.md). Sockets work the same either way.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use finack::{Stack, State, TcpListener, TcpStream};
///
/// // Two stacks joined by an in-memory cable (no root needed); on a TUN
/// // device use `Stack::tun` or `Stack::from_tun` instead.
/// let (a, b) = Stack::pair();
/// let listener = TcpListener::bind(&b, "192.0.2.2:9".parse().unwrap())?;
/// let client = TcpStream::connect(&a, "192.0.2.2:9".parse().unwrap()).await?;
/// let _ = listener.accept().await?;
/// let conns = a.connections();
/// assert_eq!(conns.len(), 1);
/// assert_eq!(conns[0].state, State::Established);
/// assert_eq!(a.stats().active_opens, 1);
/// drop(client);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Stack {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("addresses", &self.addresses())
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// The address of the first stack of [`Stack::pair`] (RFC 5737 TEST-NET-1).
    pub const PAIR_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    /// The address of the second stack of [`Stack::pair`].
    pub const PAIR_B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    /// A builder: configuration, number of workers, then the link or device.
    pub fn builder() -> StackBuilder {
        StackBuilder::new()
    }

    /// A stack of one worker with `config`, answering for `addrs`, sending and
    /// receiving over `link`. Spawns the driver, so it must be called inside a
    /// tokio runtime.
    pub fn new(config: Config, addrs: &[IpAddr], link: PacketLink) -> Stack {
        Stack::on_link(config, addrs, link, Arc::default(), 1)
    }

    /// A stack of `workers` engines on an in-memory link: with more than one,
    /// a dispatcher task steers the link's packets to their owners.
    pub(crate) fn on_link(
        config: Config,
        addrs: &[IpAddr],
        link: PacketLink,
        counters: Arc<Counters>,
        workers: usize,
    ) -> Stack {
        let workers = workers.max(1);
        let links = (0..workers)
            .map(|_| WorkerLink {
                out: Out::Chan {
                    tx: link.tx.clone(),
                },
                queue: None,
                feed: None,
            })
            .collect();
        if workers == 1 {
            // The driver reads the link itself.
            let (stack, _) = Stack::start(config, addrs, counters, links, Some(link.rx));
            return stack;
        }
        let (stack, inboxes) = Stack::start(config, addrs, counters, links, None);
        let steer = stack.shared.steer.clone();
        let mut rx = link.rx;
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                tokio::select! {
                    n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                    _ = inboxes[0].closed() => return,
                }
                for pkt in batch.drain(..) {
                    let w = steer.worker_of(&pkt, classify(&pkt));
                    if inboxes[w].send(pkt).is_err() {
                        return;
                    }
                }
            }
        });
        stack
    }

    /// Make the engines and spawn their drivers: worker *i* is wired by
    /// `links[i]`; its inbox is `first_inbox` for a single worker when
    /// given, else a new channel whose senders are returned (the
    /// dispatcher's and the other workers' way to hand it packets).
    pub(crate) fn start<P: Inbound>(
        config: Config,
        addrs: &[IpAddr],
        counters: Arc<Counters>,
        links: Vec<WorkerLink>,
        first_inbox: Option<mpsc::UnboundedReceiver<P>>,
    ) -> (Stack, Vec<mpsc::UnboundedSender<P>>) {
        let workers = links.len();
        let mut inbox_tx = Vec::with_capacity(workers);
        let mut inbox_rx = Vec::with_capacity(workers);
        match first_inbox {
            Some(rx) if workers == 1 => inbox_rx.push(rx),
            _ => {
                for _ in 0..workers {
                    let (tx, rx) = mpsc::unbounded_channel();
                    inbox_tx.push(tx);
                    inbox_rx.push(rx);
                }
            }
        }
        let mut shards = Vec::with_capacity(workers);
        let mut queues = Vec::with_capacity(workers);
        let mut feeds = Vec::with_capacity(workers);
        for link in links {
            let mut config = config.clone();
            // A link with virtio-net headers completes TCP checksums (the
            // coalescer asks for it on every TCP write): the engine skips
            // them. Any other link needs them whole.
            config.tx_checksum_offload = link.out.vnet();
            let gso = match &link.out {
                Out::Tun { join: false, .. } | Out::TunFd { .. } => Coalescer::single(),
                _ => Coalescer::new(),
            };
            let mut ep = Endpoint::new(config, random_secret());
            for a in addrs {
                ep.add_address(*a);
            }
            shards.push(Shard {
                inner: Mutex::new(Inner {
                    ep,
                    out: link.out,
                    conns: HashMap::new(),
                    listeners: HashMap::new(),
                    buf: vec![0; TX_BUF],
                    gso,
                    counters: counters.clone(),
                    transitions: VecDeque::new(),
                    driver_deadline: None,
                }),
                notify: Arc::new(Notify::new()),
            });
            queues.push(link.queue);
            feeds.push(link.feed);
        }
        let notifies: Vec<_> = shards.iter().map(|s| s.notify.clone()).collect();
        let shared = Arc::new(Shared {
            shards,
            steer: Steer::new(workers),
            origin: tokio::time::Instant::now(),
            counters,
            listening: Mutex::new(Vec::new()),
            port_counter: AtomicU32::new(0),
        });
        for (i, (((rx, queue), feed), notify)) in inbox_rx
            .into_iter()
            .zip(queues)
            .zip(feeds)
            .zip(notifies)
            .enumerate()
        {
            let reader = queue.map(|q| QueueReader {
                queue: q,
                inboxes: inbox_tx.clone(),
                steer: shared.steer.clone(),
                counters: shared.counters.clone(),
            });
            tokio::spawn(drive(Arc::downgrade(&shared), i, notify, rx, reader, feed));
        }
        (Stack { shared }, inbox_tx)
    }

    /// Two one-worker stacks joined by an in-memory cable, with Linux-like
    /// defaults: the first answers for [`Stack::PAIR_A`] (192.0.2.1), the
    /// second for [`Stack::PAIR_B`] (192.0.2.2). Must be called inside a tokio
    /// runtime.
    pub fn pair() -> (Stack, Stack) {
        Stack::pair_with(Config::linux(), None, None)
    }

    /// Like [`Stack::pair`] with a configuration for both and an optional
    /// impairment on each direction (`a_to_b`, `b_to_a`).
    pub fn pair_with(
        config: Config,
        a_to_b: Option<Impairment>,
        b_to_a: Option<Impairment>,
    ) -> (Stack, Stack) {
        Stack::builder()
            .config(config)
            .workers(1)
            .pair_with(a_to_b, b_to_a)
    }

    /// A one-worker stack on a new TUN device `name` whose kernel side gets
    /// `kernel_addr / prefix` and is brought up; the stack answers for `local`
    /// (an address in that prefix other than `kernel_addr`), so the kernel
    /// routes packets for it into the device. Needs root (CAP_NET_ADMIN) and
    /// `/dev/net/tun`. See [`Tun`] to create the device separately (for
    /// instance in another network namespace) and [`Stack::from_tun`].
    pub fn tun(
        name: &str,
        kernel_addr: IpAddr,
        prefix: u8,
        local: IpAddr,
        config: Config,
    ) -> io::Result<Stack> {
        let tun = Tun::create(name, kernel_addr, prefix)?;
        tun.into_stack(config, &[local], None)
    }

    /// A one-worker stack on an opened TUN device (see [`Tun`]), answering
    /// for `local`; [`StackBuilder::tun`] for more workers.
    pub fn from_tun(tun: Tun, local: IpAddr, config: Config) -> io::Result<Stack> {
        tun.into_stack(config, &[local], None)
    }

    /// The number of workers: engines, each with its driver task.
    pub fn workers(&self) -> usize {
        self.shared.workers()
    }

    /// The addresses this stack answers for.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.shared.lock(0).ep.addresses().to_vec()
    }

    /// The engines' counters, summed over the workers.
    pub fn stats(&self) -> Stats {
        let mut sum = Stats::default();
        for s in self.worker_stats() {
            sum.accumulate(&s);
        }
        sum
    }

    /// Each worker's engine counters, in worker order (see
    /// [`Stack::stats`] for their sum): how the load is spread.
    pub fn worker_stats(&self) -> Vec<Stats> {
        (0..self.workers())
            .map(|i| self.shared.lock(i).ep.stats().clone())
            .collect()
    }

    /// Counters of the packet link (including skipped non-TCP packets).
    pub fn link_stats(&self) -> LinkStats {
        self.shared.counters.snapshot()
    }

    /// Every connection in the engines' tables (TIME-WAIT included).
    pub fn connections(&self) -> Vec<ConnSummary> {
        let mut out = Vec::new();
        for i in 0..self.workers() {
            out.extend(
                self.shared
                    .lock(i)
                    .ep
                    .connections()
                    .map(|(_, state, local, remote)| ConnSummary {
                        state,
                        local,
                        remote,
                    }),
            );
        }
        out
    }

    /// Wait up to `limit` until no connection still has its FIN, and the data
    /// queued before it, unacknowledged: none in FIN-WAIT-1, CLOSING or
    /// LAST-ACK, and every packet the stack sent is written to its device
    /// (a RST an abort just sent included). Returns whether that happened
    /// in time. The kernel keeps
    /// delivering a closed socket's data after its process exits; a finack
    /// stack ends with its process, so a program that closes its sockets and
    /// exits calls this first.
    pub async fn flush_closing(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let busy = self
                .connections()
                .iter()
                .any(|c| matches!(c.state, State::FinWait1 | State::Closing | State::LastAck));
            if !busy {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// State transitions recorded since the last call (when the configuration's
    /// `record_transitions` is on; at most the last 16384 per worker are
    /// kept), in time order.
    pub fn take_transitions(&self) -> Vec<Transition> {
        let mut out = Vec::new();
        for i in 0..self.workers() {
            out.extend(self.shared.lock(i).transitions.drain(..));
        }
        if self.workers() > 1 {
            out.sort_by_key(|t| t.time);
        }
        out
    }

    /// A snapshot of one connection, found by its addresses.
    pub fn info(&self, local: SocketAddr, remote: SocketAddr) -> Option<ConnInfo> {
        let inner = self.shared.lock(self.shared.steer.worker(local, remote));
        let id = inner
            .ep
            .connections()
            .find(|(_, _, l, r)| *l == local && *r == remote)?
            .0;
        inner.ep.info(id)
    }

    /// Run `f` on the engine itself (for anything this API does not cover), then
    /// deliver the events and packets that produced. `f` gets the current time.
    /// With several workers this is the first worker's engine, which owns
    /// only its share of the connections: a connection opened here whose
    /// 4-tuple another worker owns never sees its replies (see
    /// [`Stack::with_worker_endpoint`]).
    pub fn with_endpoint<R>(&self, f: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
        self.with_worker_endpoint(0, f)
    }

    /// [`Stack::with_endpoint`] on worker `worker`'s engine (below
    /// [`Stack::workers`]; panics otherwise).
    pub fn with_worker_endpoint<R>(
        &self,
        worker: usize,
        f: impl FnOnce(&mut Endpoint, Instant) -> R,
    ) -> R {
        self.shared.op(worker, |inner, now| f(&mut inner.ep, now))
    }

    /// The stack's clock, as given to the engine.
    pub fn now(&self) -> Instant {
        self.shared.now()
    }
}

/// Builds a [`Stack`]: its configuration and number of workers, then the
/// link or TUN device it runs on. Each worker is an engine of its own with a
/// driver task; connections are spread over them by a hash of their 4-tuple
/// and listeners exist on all (see the module documentation of `stack.rs`).
/// The drivers run on the runtime the stack is built in: use a multi-thread
/// runtime with at least as many worker threads to run them in parallel.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> std::io::Result<()> {
/// use finack::{Stack, TcpListener, TcpStream};
///
/// let (a, b) = Stack::builder().workers(2).pair();
/// assert_eq!(b.workers(), 2);
/// let listener = TcpListener::bind(&b, "192.0.2.2:80".parse().unwrap())?;
/// let mut clients = Vec::new();
/// for _ in 0..8 {
///     clients.push(TcpStream::connect(&a, "192.0.2.2:80".parse().unwrap()).await?);
///     listener.accept().await?;
/// }
/// assert_eq!(b.stats().passive_opens, 8);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct StackBuilder {
    config: Config,
    workers: usize,
}

impl Default for StackBuilder {
    fn default() -> Self {
        StackBuilder::new()
    }
}

impl StackBuilder {
    /// Linux-like defaults ([`Config::linux`]) and one worker per core
    /// ([`std::thread::available_parallelism`]).
    pub fn new() -> StackBuilder {
        StackBuilder {
            config: Config::linux(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The engines' configuration.
    pub fn config(mut self, config: Config) -> StackBuilder {
        self.config = config;
        self
    }

    /// The number of workers (at least 1; 1 is one engine, as
    /// [`Stack::new`] makes).
    pub fn workers(mut self, workers: usize) -> StackBuilder {
        self.workers = workers.max(1);
        self
    }

    /// The stack on `link`, answering for `addrs`. Must be called inside a
    /// tokio runtime.
    pub fn link(self, addrs: &[IpAddr], link: PacketLink) -> Stack {
        Stack::on_link(self.config, addrs, link, Arc::default(), self.workers)
    }

    /// The stack on an opened TUN device, answering for `addrs`: one worker
    /// per device queue, as far as the device has queues ([`Tun`] opens one
    /// per core). Must be called inside a tokio runtime.
    pub fn tun(self, tun: Tun, addrs: &[IpAddr]) -> io::Result<Stack> {
        tun.into_stack_workers(self.config, addrs, None, self.workers)
    }

    /// Two stacks like this joined by an in-memory cable (see
    /// [`Stack::pair`] for their addresses).
    pub fn pair(self) -> (Stack, Stack) {
        self.pair_with(None, None)
    }

    /// [`StackBuilder::pair`] with an optional impairment on each direction
    /// (`a_to_b`, `b_to_a`).
    pub fn pair_with(
        self,
        a_to_b: Option<Impairment>,
        b_to_a: Option<Impairment>,
    ) -> (Stack, Stack) {
        let (mut la, mut lb) = PacketLink::pair();
        if let Some(imp) = a_to_b {
            lb = lb.impair_inbound(imp);
        }
        if let Some(imp) = b_to_a {
            la = la.impair_inbound(imp);
        }
        (
            self.clone().link(&[Stack::PAIR_A], la),
            self.link(&[Stack::PAIR_B], lb),
        )
    }
}

/// 16 bytes for the engine's secret (ISNs, hash keys) from the standard
/// library's per-process random hash keys and the clock: unpredictable enough
/// for RFC 6528 without a dependency on a random number crate.
fn random_secret() -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// A worker's own TUN queue and what it needs to hand packets it does not
/// own to their workers.
pub(crate) struct QueueReader<P> {
    queue: Queue,
    inboxes: Vec<mpsc::UnboundedSender<P>>,
    steer: Steer,
    counters: Arc<Counters>,
}

/// Read one packet (with offload perhaps a 64 KiB super-segment behind its
/// virtio-net header) from the worker's queue into `raw` (never ready
/// without a queue).
async fn read_queue<P>(q: Option<&QueueReader<P>>, raw: &mut [u8]) -> io::Result<usize> {
    match q {
        Some(q) => q.queue.dev.recv(raw).await,
        None => std::future::pending().await,
    }
}

/// The driver of worker `me`: sleeps until a packet arrives (in its inbox or
/// on its TUN queue), an application call needs an earlier timer, or the
/// engine's next timer is due; then feeds the engine and pumps its output.
/// Packets read from its queue that another worker owns are handed to that
/// worker's inbox. Ends when the stack and all its sockets are gone.
async fn drive<P: Inbound>(
    shared: Weak<Shared>,
    me: usize,
    notify: Arc<Notify>,
    mut rx: mpsc::UnboundedReceiver<P>,
    queue: Option<QueueReader<P>>,
    mut feed: Option<Feed>,
) {
    let mut inbox_open = true;
    let mut feed_open = feed.is_some();
    // A batch of reads from the reader thread, when one came.
    let mut fed: Option<RxBatch> = None;
    let mut queue_open = queue.is_some();
    let mut batch: Vec<P> = Vec::with_capacity(BATCH);
    let vnet = queue.as_ref().is_some_and(|q| q.queue.offload);
    // Reads from our queue: the first awaited, the rest taken while the
    // device has more ready (one read is one packet, or one super-segment).
    let mut reads = ReadBatch::new(queue.is_some(), vnet);
    // For each read of the batch: the packet is ours.
    let mut ours = [false; READS];
    // Receive coalescing for packets read from a TUN device (those that
    // came without offload; a super-segment passes as it is).
    let mut merger = P::FROM_DEVICE.then(RxMerger::default);
    loop {
        // Hand over what other workers own before taking our lock; count and
        // skip what is not for any engine.
        if let Some(q) = &queue {
            reads.fill(&q.queue.dev);
            for (k, read) in reads.iter().enumerate() {
                ours[k] = false;
                let Some((pkt, offload)) = tun_read(read, vnet) else {
                    Counters::bump(&q.counters.packets_in);
                    Counters::bump(&q.counters.skipped_not_ip);
                    continue;
                };
                let kind = classify(pkt);
                match kind {
                    Kind::NotIp | Kind::NotTcp => {
                        Counters::bump(&q.counters.packets_in);
                        Counters::bump(if kind == Kind::NotIp {
                            &q.counters.skipped_not_ip
                        } else {
                            &q.counters.skipped_not_tcp
                        });
                    }
                    Kind::Tcp | Kind::IcmpError => {
                        let owner = q.steer.worker_of(pkt, kind);
                        if owner == me {
                            ours[k] = true;
                        } else {
                            Counters::bump(&q.counters.handed_over);
                            let _ = q.inboxes[owner].send(P::copied(pkt, offload));
                        }
                    }
                }
            }
        }
        let deadline = {
            let Some(sh) = shared.upgrade() else { return };
            let now = sh.now();
            let mut inner = sh.lock(me);
            let mut take = |pkt: &[u8], rx: RxOffload, segs: u64| {
                inner.handle_inbound(now, pkt, rx, segs);
            };
            for p in batch.drain(..) {
                match merger.as_mut() {
                    Some(m) => m.push(p.packet(), p.offload(), &mut take),
                    None => take(p.packet(), p.offload(), 1),
                }
            }
            for (k, read) in reads.iter().enumerate() {
                if let Some((pkt, offload)) = tun_read(read, vnet).filter(|_| ours[k]) {
                    match merger.as_mut() {
                        Some(m) => m.push(pkt, offload, &mut take),
                        None => take(pkt, offload, 1),
                    }
                }
            }
            // The reader kept only what this worker owns; batches it read
            // while we were busy join this pass, up to FEED_PASS.
            let mut passes = 0;
            while let (Some(b), Some(f)) = (fed.take(), feed.as_mut()) {
                for read in b.reads() {
                    if let Some((pkt, offload)) = tun_read(read, f.vnet) {
                        match merger.as_mut() {
                            Some(m) => m.push(pkt, offload, &mut take),
                            None => take(pkt, offload, 1),
                        }
                    }
                }
                f.recycle(b);
                passes += 1;
                if passes < FEED_PASS {
                    fed = f.rx.try_recv().ok();
                }
            }
            if let Some(m) = merger.as_mut() {
                m.flush(&mut take);
            }
            reads.clear();
            if inner.ep.poll_timeout().is_some_and(|t| t <= now) {
                inner.ep.handle_timeout(now);
            }
            inner.pump(now);
            let next = inner.ep.poll_timeout();
            inner.driver_deadline = next;
            next.map(|t| sh.to_tokio(t))
        };
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH), if inbox_open => {
                if n == 0 {
                    inbox_open = false;
                }
            }
            r = read_queue(queue.as_ref(), reads.first()), if queue_open => match r {
                Ok(n) => reads.got_first(n),
                Err(e) => {
                    tracing::debug!(target: "finack", worker = me, error = %e, "TUN queue closed");
                    queue_open = false;
                }
            },
            b = recv_feed(feed.as_mut()), if feed_open => match b {
                Some(b) => fed = Some(b),
                None => feed_open = false,
            },
            _ = notify.notified() => {}
            _ = sleep_until_opt(deadline) => {}
        }
    }
}

/// Batches from a reader thread (`reader.rs`) one pass of the engine takes
/// at most, when the reader is ahead: up to 64 segments without offload per
/// pass and ACK. Measured on two cores, Linux -> finack without offload,
/// 5 interleaved rounds of 2 s against one batch (16 reads) per pass:
/// median 5.19 -> 5.68 Gbit/s (veth without offload 6.4 in the same rounds);
/// 8 batches gave the same median with a wider spread.
const FEED_PASS: usize = 4;

/// Reads a driver takes from its TUN queue in one go at most.
const READS: usize = 16;

/// Buffers for a batch of reads from a TUN queue, reused: each holds one
/// read of up to a 64 KiB super-segment and its virtio-net header.
///
/// A batch ends early after a read that holds a TCP super-segment, so that
/// the engine takes it and its ACK is written before the next read: Linux's
/// receiver acknowledges each GRO packet as it processes it (tcp_input.c:
/// __tcp_ack_snd_check(), more than one full-sized segment unacknowledged),
/// and a sender's congestion window drains into the TUN queue behind the
/// super-segments. Batching 16 of them (about 1 MiB) before the first ACK
/// held a BBR sender, whose window is about twice bandwidth times the
/// minimum RTT plus the ACK aggregation it sees, to about one batch per
/// round trip (`perf trace`: 16 reads of 64 KiB, one 62-byte write). On two
/// cores, Linux -> finack under BBR, 3 interleaved rounds of 2 runs:
/// medians 16.1 / 15.9 / 17.9 -> 18.0 / 18.7 / 18.0 Gbit/s with one worker,
/// 14.1 / 15.3 / 15.9 -> 18.8 / 19.3 / 18.4 with two. Under CUBIC, whose
/// window only the receive window limits here, the extra ACK writes cost CPU
/// (one round 45 -> 29-34 Gbit/s, another even), still at or above Linux
/// over veth.
struct ReadBatch {
    bufs: Vec<Vec<u8>>,
    lens: [usize; READS],
    n: usize,
    /// Reads start with a virtio-net header.
    vnet: bool,
}

impl ReadBatch {
    fn new(queue: bool, vnet: bool) -> ReadBatch {
        let k = if queue { READS } else { 0 };
        ReadBatch {
            bufs: vec![vec![0u8; tun_rs::VIRTIO_NET_HDR_LEN + 65_536]; k],
            lens: [0; READS],
            n: 0,
            vnet,
        }
    }

    /// The buffer the awaited read goes into (none without a queue: the
    /// select! in the driver evaluates this even when its branch is off).
    fn first(&mut self) -> &mut [u8] {
        self.bufs.first_mut().map_or(&mut [], |b| &mut b[..])
    }

    fn got_first(&mut self, n: usize) {
        self.lens[0] = n;
        self.n = 1;
    }

    /// The last read holds a TCP super-segment (see [`ReadBatch`]).
    fn ends_batch(&self) -> bool {
        let k = self.n - 1;
        tun_read(&self.bufs[k][..self.lens[k]], self.vnet).is_some_and(|(_, rx)| rx.gso_size != 0)
    }

    /// After an awaited read: take what else the device has ready, without
    /// waiting (batched reads), up to a super-segment.
    fn fill(&mut self, dev: &AsyncDevice) {
        self.fill_from(|buf| dev.try_recv(buf));
    }

    /// [`ReadBatch::fill`] from `try_read`, a read that does not wait.
    fn fill_from(&mut self, mut try_read: impl FnMut(&mut [u8]) -> io::Result<usize>) {
        while self.n > 0 && self.n < READS && !self.ends_batch() {
            match try_read(&mut self.bufs[self.n]) {
                Ok(len) => {
                    self.lens[self.n] = len;
                    self.n += 1;
                }
                Err(_) => break,
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs
            .iter()
            .zip(&self.lens)
            .take(self.n)
            .map(|(b, &l)| &b[..l])
    }

    fn clear(&mut self) {
        self.n = 0;
    }
}

/// The next batch from the worker's reader thread (never ready without
/// one; None once the reader is gone).
async fn recv_feed(feed: Option<&mut Feed>) -> Option<RxBatch> {
    match feed {
        Some(f) => f.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::VNET_HDR_LEN;

    /// A read as the kernel hands it with virtio-net headers: `gso_size`
    /// non-zero makes it a TCPv4 super-segment (gso_type 1), else a whole
    /// packet; the bytes after the header are filler.
    fn vnet_read(gso_size: u16, len: usize) -> Vec<u8> {
        let mut r = vec![0u8; VNET_HDR_LEN + len];
        if gso_size != 0 {
            r[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
            r[4..6].copy_from_slice(&gso_size.to_ne_bytes());
        }
        r
    }

    /// Fill a batch whose awaited read was `first` from `rest`; the lengths
    /// of the reads taken.
    fn batch(vnet: bool, first: Vec<u8>, rest: &[Vec<u8>]) -> (Vec<usize>, usize) {
        let mut b = ReadBatch::new(true, vnet);
        b.first()[..first.len()].copy_from_slice(&first);
        b.got_first(first.len());
        let mut left = rest.iter();
        let mut asked = 0;
        b.fill_from(|buf| {
            asked += 1;
            match left.next() {
                Some(r) => {
                    buf[..r.len()].copy_from_slice(r);
                    Ok(r.len())
                }
                None => Err(io::ErrorKind::WouldBlock.into()),
            }
        });
        (b.iter().map(<[u8]>::len).collect(), asked)
    }

    #[test]
    fn a_super_segment_ends_the_batch_of_reads() {
        // Whole packets are batched; the read after them that holds a
        // super-segment is the last one of the batch.
        let rest = [
            vnet_read(0, 60),
            vnet_read(1448, 20_000),
            vnet_read(0, 70),
            vnet_read(0, 80),
        ];
        let (lens, asked) = batch(true, vnet_read(0, 52), &rest);
        assert_eq!(lens, [62, 70, 20_010]);
        assert_eq!(asked, 2, "no read after the super-segment");
        // A super-segment read first: nothing more is read in this batch.
        let (lens, asked) = batch(true, vnet_read(1448, 30_000), &rest);
        assert_eq!((lens, asked), (vec![30_010], 0));
    }

    #[test]
    fn whole_packets_fill_the_batch_up_to_its_size() {
        let rest: Vec<Vec<u8>> = (0..40).map(|i| vnet_read(0, 60 + i)).collect();
        let (lens, asked) = batch(true, vnet_read(0, 52), &rest);
        assert_eq!(lens.len(), READS);
        assert_eq!(asked, READS - 1);
        // Without virtio-net headers nothing is a super-segment, whatever
        // its bytes say.
        let (lens, _) = batch(false, vnet_read(1448, 60), &rest);
        assert_eq!(lens.len(), READS);
        // The device running dry ends the batch too.
        let (lens, asked) = batch(true, vnet_read(0, 52), &rest[..3]);
        assert_eq!((lens.len(), asked), (4, 4));
    }
}
