//! The stack: one engine, one driver task, the wakers of the sockets on it.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;
use std::time::Duration;

use finack_core::{
    Config, ConnId, ConnInfo, Endpoint, Event, Instant, ListenerId, State, Stats, Transition,
};
use tokio::sync::{mpsc, Notify};

use crate::impair::Impairment;
use crate::link::{classify, Counters, Kind, LinkStats, PacketLink};
use crate::tun::Tun;

/// Transitions kept for [`Stack::take_transitions`] when the configuration records
/// them; older ones are dropped.
const MAX_TRANSITIONS: usize = 16_384;

/// Largest packet the engine is asked to write (it writes MTU-sized ones).
const TX_BUF: usize = 65_536;

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

/// Everything behind the stack's lock.
pub(crate) struct Inner {
    pub ep: Endpoint,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    pub conns: HashMap<ConnId, Wakers>,
    pub listeners: HashMap<ListenerId, Option<Waker>>,
    buf: Vec<u8>,
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
        while let Some(n) = self.ep.poll_transmit(now, &mut self.buf) {
            Counters::bump(&self.counters.packets_out);
            // A closed link (the peer is gone) loses the packet, as a cable would.
            let _ = self.tx.send(self.buf[..n].to_vec());
        }
    }

    fn handle_inbound(&mut self, now: Instant, pkt: &[u8]) {
        Counters::bump(&self.counters.packets_in);
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
                if self.ep.handle_packet(now, pkt).is_err() {
                    Counters::bump(&self.counters.rejected);
                }
            }
        }
    }
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    notify: Arc<Notify>,
    origin: tokio::time::Instant,
    counters: Arc<Counters>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Let the driver see that the last user is gone.
        self.notify.notify_one();
    }
}

impl Shared {
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn to_tokio(&self, t: Instant) -> tokio::time::Instant {
        self.origin + Duration::from_micros(t.as_micros())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the engine in an unknown state;
        // carrying on is still better than poisoning every socket.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run an application call on the engine, then deliver its consequences.
    pub fn op<R>(&self, f: impl FnOnce(&mut Inner, Instant) -> R) -> R {
        let now = self.now();
        let mut inner = self.lock();
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
            self.notify.notify_one();
        }
        r
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

/// A userspace TCP/IP host: a finack engine driven by a tokio task, with the
/// addresses it answers for and the packet link it talks over. Cheap to clone
/// (all clones are the same stack). The driver stops once every clone and every
/// socket made from it is dropped.
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

    /// A stack with `config`, answering for `addrs`, sending and receiving over
    /// `link`. Spawns the driver, so it must be called inside a tokio runtime.
    pub fn new(config: Config, addrs: &[IpAddr], link: PacketLink) -> Stack {
        Stack::with_counters(config, addrs, link, Arc::default())
    }

    pub(crate) fn with_counters(
        config: Config,
        addrs: &[IpAddr],
        link: PacketLink,
        counters: Arc<Counters>,
    ) -> Stack {
        let mut ep = Endpoint::new(config, random_secret());
        for a in addrs {
            ep.add_address(*a);
        }
        let notify = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                ep,
                tx: link.tx,
                conns: HashMap::new(),
                listeners: HashMap::new(),
                buf: vec![0; TX_BUF],
                counters: counters.clone(),
                transitions: VecDeque::new(),
                driver_deadline: None,
            }),
            notify: notify.clone(),
            origin: tokio::time::Instant::now(),
            counters,
        });
        tokio::spawn(drive(Arc::downgrade(&shared), notify, link.rx));
        Stack { shared }
    }

    /// Two stacks joined by an in-memory cable, with Linux-like defaults: the
    /// first answers for [`Stack::PAIR_A`] (192.0.2.1), the second for
    /// [`Stack::PAIR_B`] (192.0.2.2). Must be called inside a tokio runtime.
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
        let (mut la, mut lb) = PacketLink::pair();
        if let Some(imp) = a_to_b {
            lb = lb.impair_inbound(imp);
        }
        if let Some(imp) = b_to_a {
            la = la.impair_inbound(imp);
        }
        (
            Stack::new(config.clone(), &[Stack::PAIR_A], la),
            Stack::new(config, &[Stack::PAIR_B], lb),
        )
    }

    /// A stack on a new TUN device `name` whose kernel side gets `kernel_addr /
    /// prefix` and is brought up; the stack answers for `local` (an address in
    /// that prefix other than `kernel_addr`), so the kernel routes packets for it
    /// into the device. Needs root (CAP_NET_ADMIN) and `/dev/net/tun`. See
    /// [`Tun`] to create the device separately (for instance in another network
    /// namespace) and [`Stack::from_tun`].
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

    /// A stack on an opened TUN device (see [`Tun`]), answering for `local`.
    pub fn from_tun(tun: Tun, local: IpAddr, config: Config) -> io::Result<Stack> {
        tun.into_stack(config, &[local], None)
    }

    /// The addresses this stack answers for.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.shared.lock().ep.addresses().to_vec()
    }

    /// The engine's counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().ep.stats().clone()
    }

    /// Counters of the packet link (including skipped non-TCP packets).
    pub fn link_stats(&self) -> LinkStats {
        self.shared.counters.snapshot()
    }

    /// Every connection in the engine's tables (TIME-WAIT included).
    pub fn connections(&self) -> Vec<ConnSummary> {
        self.shared
            .lock()
            .ep
            .connections()
            .map(|(_, state, local, remote)| ConnSummary {
                state,
                local,
                remote,
            })
            .collect()
    }

    /// Wait up to `limit` until no connection still has its FIN, and the data
    /// queued before it, unacknowledged: none in FIN-WAIT-1, CLOSING or
    /// LAST-ACK. Returns whether that happened in time. The kernel keeps
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
    /// `record_transitions` is on; at most the last 16384 are kept).
    pub fn take_transitions(&self) -> Vec<Transition> {
        self.shared.lock().transitions.drain(..).collect()
    }

    /// A snapshot of one connection, found by its addresses.
    pub fn info(&self, local: SocketAddr, remote: SocketAddr) -> Option<ConnInfo> {
        let inner = self.shared.lock();
        let id = inner
            .ep
            .connections()
            .find(|(_, _, l, r)| *l == local && *r == remote)?
            .0;
        inner.ep.info(id)
    }

    /// Run `f` on the engine itself (for anything this API does not cover), then
    /// deliver the events and packets that produced. `f` gets the current time.
    pub fn with_endpoint<R>(&self, f: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
        self.shared.op(|inner, now| f(&mut inner.ep, now))
    }

    /// The stack's clock, as given to the engine.
    pub fn now(&self) -> Instant {
        self.shared.now()
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

/// The driver: sleeps until a packet arrives, an application call needs an
/// earlier timer, or the engine's next timer is due; then feeds the engine and
/// pumps its output. Ends when the stack and all its sockets are gone.
async fn drive(
    shared: Weak<Shared>,
    notify: Arc<Notify>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut link_open = true;
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(64);
    loop {
        let deadline = {
            let Some(sh) = shared.upgrade() else { return };
            let now = sh.now();
            let mut inner = sh.lock();
            for pkt in batch.drain(..) {
                inner.handle_inbound(now, &pkt);
            }
            if inner.ep.poll_timeout().is_some_and(|t| t <= now) {
                inner.ep.handle_timeout(now);
            }
            inner.pump(now);
            let next = inner.ep.poll_timeout();
            inner.driver_deadline = next;
            next.map(|t| sh.to_tokio(t))
        };
        tokio::select! {
            n = rx.recv_many(&mut batch, 64), if link_open => {
                if n == 0 {
                    link_open = false;
                }
            }
            _ = notify.notified() => {}
            _ = sleep_until_opt(deadline) => {}
        }
    }
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
