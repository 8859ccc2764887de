//! The server's application and the legitimate clients of the attack runs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use finack_core::{ConnId, Error, Event, Instant, ListenerId};

use super::world::{legit_ip, server_addr, Part, World};

/// The response to `GET /` and to `GET /big`.
pub(super) const SMALL: usize = 1024;
pub(super) const BIG: usize = 65_536;

/// What the server application does with a connection.
#[derive(Default)]
struct Served {
    /// The request line so far (at most 256 bytes are kept).
    line: Vec<u8>,
    /// Response bytes the send buffer has not taken yet.
    pending: Vec<u8>,
    responded: bool,
    /// The peer's end of stream was read.
    eof: bool,
}

/// A server like a small web server: it holds at most `limit` connections
/// (its worker's connection limit: past it, it stops accepting and the
/// listener's queues fill), reads a request line, sends the response and
/// closes. In echo mode it sends back whatever arrives until the client
/// closes.
pub(super) struct ServerApp {
    listener: ListenerId,
    limit: usize,
    echo: bool,
    conns: HashMap<ConnId, Served>,
    buf: Vec<u8>,
}

impl ServerApp {
    pub fn new(w: &mut World, backlog: usize, limit: usize, echo: bool) -> ServerApp {
        let listener = w
            .server
            .listen(server_addr(), backlog)
            .expect("the server listens");
        ServerApp {
            listener,
            limit,
            echo,
            conns: HashMap::new(),
            buf: vec![0u8; 16_384],
        }
    }

    fn accept(&mut self, w: &mut World) {
        while self.conns.len() < self.limit {
            let Ok(c) = w.server.accept(self.listener) else {
                break;
            };
            self.conns.insert(c, Served::default());
            // Data may have arrived while it waited in the accept queue.
            self.read(w, c);
        }
    }

    fn read(&mut self, w: &mut World, c: ConnId) {
        let Some(s) = self.conns.get_mut(&c) else {
            return;
        };
        loop {
            match w.server.recv(w.now, c, &mut self.buf) {
                Ok(0) => {
                    s.eof = true;
                    break;
                }
                Ok(n) => {
                    let data = &self.buf[..n];
                    if self.echo {
                        s.pending.extend_from_slice(data);
                    } else if s.line.len() < 256 {
                        let room = 256 - s.line.len();
                        s.line.extend_from_slice(&data[..n.min(room)]);
                    }
                }
                Err(Error::WouldBlock) => break,
                Err(_) => {
                    // Reset or timed out: let go of it.
                    self.drop_conn(w, c);
                    return;
                }
            }
        }
        if !self.echo && !s.responded && s.line.contains(&b'\n') {
            s.responded = true;
            let size = if s.line.starts_with(b"GET /big") {
                BIG
            } else {
                SMALL
            };
            s.pending = vec![b'r'; size];
        }
        self.write(w, c);
    }

    fn write(&mut self, w: &mut World, c: ConnId) {
        let Some(s) = self.conns.get_mut(&c) else {
            return;
        };
        while !s.pending.is_empty() {
            match w.server.send(w.now, c, &s.pending) {
                Ok(n) => {
                    s.pending.drain(..n);
                }
                Err(Error::WouldBlock) => return,
                Err(_) => {
                    self.drop_conn(w, c);
                    return;
                }
            }
        }
        // Done when the response is queued (or, echoing, when the client
        // has closed and everything went back), or when the client left
        // before asking.
        if (s.responded && !self.echo) || s.eof {
            self.drop_conn(w, c);
        }
    }

    fn drop_conn(&mut self, w: &mut World, c: ConnId) {
        self.conns.remove(&c);
        let _ = w.server.close(w.now, c);
    }
}

impl Part for ServerApp {
    fn step(&mut self, w: &mut World) {
        self.accept(w);
        while let Some(ev) = w.server.poll_event() {
            match ev {
                Event::Readable(c) | Event::PeerClosed(c) => self.read(w, c),
                Event::Writable(c) => self.write(w, c),
                Event::Closed { conn, .. } if self.conns.contains_key(&conn) => {
                    self.drop_conn(w, conn)
                }
                _ => {}
            }
        }
        self.accept(w);
    }

    fn wake(&self) -> Option<Instant> {
        None
    }
}

/// What a legitimate client does once connected.
#[derive(Copy, Clone, Debug)]
pub(super) enum Errand {
    /// Send `GET /`, read the 1 KiB response to its end, close.
    Fetch,
    /// Send `count` messages of `size` bytes `every` apart, check that each
    /// comes back unchanged (the server echoes), then close.
    Echo {
        count: u32,
        size: usize,
        every: Duration,
    },
}

struct Client {
    start: Instant,
    conn: Option<ConnId>,
    connected: Option<Instant>,
    got: Vec<u8>,
    sent: u32,
    /// Finished (true: served in time and intact).
    outcome: Option<bool>,
}

/// The legitimate clients: each starts at its time from its own address
/// and has `deadline` to get its errand done.
pub(super) struct Legit {
    clients: Vec<Client>,
    by_conn: HashMap<ConnId, usize>,
    next_start: usize,
    /// Clients before this one (in start order) are finished.
    unfinished: usize,
    /// When each echo client sends its next message.
    sends: BinaryHeap<Reverse<(Instant, usize)>>,
    errand: Errand,
    deadline: Duration,
    buf: Vec<u8>,
}

/// The bytes echo client `i` sends as message `m`.
fn message(i: usize, m: u32, size: usize) -> Vec<u8> {
    (0..size)
        .map(|k| (i as u32 * 31 + m * 7 + k as u32) as u8)
        .collect()
}

impl Legit {
    /// `count` clients starting over `from .. from + over`, each at a random
    /// moment of its own share of that time (so that no arrival is locked
    /// to the round-trip time or to the attacker's clock).
    pub fn new(count: usize, from: Instant, over: Duration, errand: Errand, seed: u64) -> Legit {
        let mut rng = crate::rng::Rng::new(seed ^ 0x1e91);
        let clients = (0..count)
            .map(|i| Client {
                start: from
                    + over.mul_f64(
                        (i as f64 + rng.below(1_000_000) as f64 / 1e6) / count.max(1) as f64,
                    ),
                conn: None,
                connected: None,
                got: Vec::new(),
                sent: 0,
                outcome: None,
            })
            .collect();
        Legit {
            clients,
            by_conn: HashMap::new(),
            next_start: 0,
            unfinished: 0,
            sends: BinaryHeap::new(),
            errand,
            deadline: Duration::from_secs(30),
            buf: vec![0u8; 16_384],
        }
    }

    /// When the last client's deadline passes.
    pub fn last_deadline(&self) -> Instant {
        self.clients
            .last()
            .map_or(Instant::ZERO, |c| c.start + self.deadline)
    }

    /// (succeeded, total, connect latencies of those that connected).
    pub fn results(&self) -> (usize, usize, Vec<Duration>) {
        let ok = self
            .clients
            .iter()
            .filter(|c| c.outcome == Some(true))
            .count();
        let lat = self
            .clients
            .iter()
            .filter_map(|c| c.connected.map(|t| t.saturating_duration_since(c.start)))
            .collect();
        (ok, self.clients.len(), lat)
    }

    fn finish(&mut self, w: &mut World, i: usize, ok: bool) {
        let c = &mut self.clients[i];
        if c.outcome.is_some() {
            return;
        }
        let in_time = w.now.saturating_duration_since(c.start) <= self.deadline;
        c.outcome = Some(ok && in_time);
        if let Some(conn) = c.conn {
            let _ = w.legit.close(w.now, conn);
            self.by_conn.remove(&conn);
        }
    }

    fn read(&mut self, w: &mut World, i: usize) {
        let Some(conn) = self.clients[i].conn else {
            return;
        };
        loop {
            match w.legit.recv(w.now, conn, &mut self.buf) {
                Ok(0) => {
                    let ok = matches!(self.errand, Errand::Fetch)
                        && self.clients[i].got.len() == super::apps::SMALL;
                    return self.finish(w, i, ok);
                }
                Ok(n) => self.clients[i].got.extend_from_slice(&self.buf[..n]),
                Err(Error::WouldBlock) => break,
                Err(_) => return self.finish(w, i, false),
            }
        }
        if let Errand::Echo { count, size, .. } = self.errand {
            let got = &self.clients[i].got;
            let upto = got.len() / size;
            let intact = (0..upto as u32).all(|m| {
                let at = m as usize * size;
                got[at..at + size] == message(i, m, size)[..]
            });
            if !intact {
                return self.finish(w, i, false);
            }
            if got.len() >= count as usize * size {
                self.finish(w, i, got.len() == count as usize * size);
            }
        }
    }

    /// Echo clients send the messages that are due.
    fn send_due(&mut self, w: &mut World) {
        let Errand::Echo { count, size, every } = self.errand else {
            return;
        };
        while let Some(&Reverse((at, i))) = self.sends.peek() {
            if at > w.now {
                break;
            }
            self.sends.pop();
            let c = &mut self.clients[i];
            let Some(conn) = c.conn else { continue };
            if c.outcome.is_some() {
                continue;
            }
            let msg = message(i, c.sent, size);
            if w.legit.send(w.now, conn, &msg).ok() != Some(size) {
                self.finish(w, i, false);
                continue;
            }
            c.sent += 1;
            if c.sent < count {
                self.sends.push(Reverse((at + every, i)));
            }
        }
    }

    /// Clients past their deadline give up (in start order, so each is
    /// looked at once after it finished).
    fn expire(&mut self, w: &mut World) {
        while self.unfinished < self.next_start {
            let i = self.unfinished;
            let c = &self.clients[i];
            if c.outcome.is_none() {
                if w.now.saturating_duration_since(c.start) <= self.deadline {
                    break;
                }
                if let Some(conn) = c.conn {
                    let _ = w.legit.abort(w.now, conn);
                    self.by_conn.remove(&conn);
                }
                self.clients[i].outcome = Some(false);
            }
            self.unfinished += 1;
        }
    }
}

impl Part for Legit {
    fn step(&mut self, w: &mut World) {
        while self.next_start < self.clients.len() && self.clients[self.next_start].start <= w.now {
            let i = self.next_start;
            self.next_start += 1;
            let local = std::net::SocketAddr::new(legit_ip(i), 0);
            match w.legit.connect(w.now, local, server_addr()) {
                Ok(c) => {
                    self.clients[i].conn = Some(c);
                    self.by_conn.insert(c, i);
                }
                Err(_) => self.clients[i].outcome = Some(false),
            }
        }
        while let Some(ev) = w.legit.poll_event() {
            let (Event::Connected(c)
            | Event::Readable(c)
            | Event::PeerClosed(c)
            | Event::Closed { conn: c, .. }) = ev
            else {
                continue;
            };
            let Some(&i) = self.by_conn.get(&c) else {
                continue;
            };
            match ev {
                Event::Connected(_) => {
                    self.clients[i].connected = Some(w.now);
                    match self.errand {
                        Errand::Fetch => {
                            let _ = w.legit.send(w.now, c, b"GET /\n");
                        }
                        Errand::Echo { .. } => self.sends.push(Reverse((w.now, i))),
                    }
                }
                Event::Closed { .. } => self.finish(w, i, false),
                _ => self.read(w, i),
            }
        }
        self.send_due(w);
        self.expire(w);
    }

    fn wake(&self) -> Option<Instant> {
        let start = self.clients.get(self.next_start).map(|c| c.start);
        let send = self.sends.peek().map(|r| r.0 .0);
        let give_up = (self.unfinished < self.next_start).then(|| {
            self.clients[self.unfinished].start + self.deadline + Duration::from_micros(1)
        });
        [start, send, give_up].into_iter().flatten().min()
    }
}
