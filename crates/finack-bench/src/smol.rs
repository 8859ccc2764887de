//! smoltcp's side: two interfaces (IP medium) handing packets to each other,
//! with the same buffer sizes and MTU as finack's side.

use std::collections::VecDeque;
use std::time::{Duration, Instant as WallClock};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

/// One side's link: packets to read and packets written.
#[derive(Default)]
struct Dev {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut p = vec![0u8; len];
        let r = f(&mut p);
        self.0.push_back(p);
        r
    }
}

impl phy::Device for Dev {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = crate::MTU;
        caps
    }
}

struct Host {
    dev: Dev,
    iface: Interface,
    sockets: SocketSet<'static>,
}

impl Host {
    fn new(addr: [u8; 4]) -> Host {
        let mut dev = Dev::default();
        let iface_cfg = Config::new(HardwareAddress::Ip);
        let mut iface = Interface::new(iface_cfg, &mut dev, Instant::ZERO);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(
                IpAddress::v4(addr[0], addr[1], addr[2], addr[3]),
                24,
            ));
        });
        Host {
            dev,
            iface,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    fn socket(&mut self) -> SocketHandle {
        let rx = tcp::SocketBuffer::new(vec![0u8; crate::RECV_BUFFER]);
        let tx = tcp::SocketBuffer::new(vec![0u8; crate::SEND_BUFFER]);
        self.sockets.add(tcp::Socket::new(rx, tx))
    }

    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

struct Pair {
    h: [Host; 2],
    now: Instant,
}

const SERVER: [u8; 4] = [192, 0, 2, 2];

impl Pair {
    fn new() -> Pair {
        Pair {
            h: [Host::new([192, 0, 2, 1]), Host::new(SERVER)],
            now: Instant::ZERO,
        }
    }

    /// Poll both interfaces and move the packets; true if any moved.
    fn pump(&mut self) -> bool {
        let now = self.now;
        for h in &mut self.h {
            h.iface.poll(now, &mut h.dev, &mut h.sockets);
        }
        let mut moved = false;
        let [a, b] = &mut self.h;
        while let Some(p) = a.dev.tx.pop_front() {
            b.dev.rx.push_back(p);
            moved = true;
        }
        while let Some(p) = b.dev.tx.pop_front() {
            a.dev.rx.push_back(p);
            moved = true;
        }
        moved
    }

    /// Nothing moves: jump to the next timer. False if there is none.
    fn wait(&mut self) -> bool {
        let now = self.now;
        let next = self
            .h
            .iter_mut()
            .filter_map(|h| h.iface.poll_delay(now, &h.sockets))
            .min();
        match next {
            Some(d) => {
                self.now += d.max(smoltcp::time::Duration::from_micros(1));
                true
            }
            None => false,
        }
    }

    fn connect(&mut self, local_port: u16) -> Result<(SocketHandle, SocketHandle), String> {
        let s = self.h[1].socket();
        self.h[1]
            .tcp(s)
            .listen(80)
            .map_err(|e| format!("smoltcp listen: {e}"))?;
        let c = self.h[0].socket();
        let remote = (
            IpAddress::v4(SERVER[0], SERVER[1], SERVER[2], SERVER[3]),
            80,
        );
        let cx = self.h[0].iface.context();
        self.h[0]
            .sockets
            .get_mut::<tcp::Socket>(c)
            .connect(cx, remote, local_port)
            .map_err(|e| format!("smoltcp connect: {e}"))?;
        for _ in 0..1000 {
            let moved = self.pump();
            if self.h[0].tcp(c).state() == tcp::State::Established
                && self.h[1].tcp(s).state() == tcp::State::Established
            {
                return Ok((c, s));
            }
            if !moved && !self.wait() {
                break;
            }
        }
        Err("smoltcp: the handshake did not complete".into())
    }
}

/// Move `bytes` from one interface to the other; the wall-clock time it took.
pub fn bulk(bytes: usize) -> Result<Duration, String> {
    let mut p = Pair::new();
    let (c, s) = p.connect(49152)?;
    let chunk = vec![0x5au8; 65_536];
    let mut out = vec![0u8; 65_536];
    let (mut sent, mut got) = (0usize, 0usize);
    let started = WallClock::now();
    while got < bytes {
        if sent < bytes {
            let n = (bytes - sent).min(chunk.len());
            sent += p.h[0].tcp(c).send_slice(&chunk[..n]).unwrap_or(0);
        }
        let moved = p.pump();
        loop {
            let n = p.h[1].tcp(s).recv_slice(&mut out).unwrap_or(0);
            if n == 0 {
                break;
            }
            got += n;
        }
        if !moved && got < bytes && !p.wait() {
            return Err(format!("smoltcp bulk stalled at {got} of {bytes} bytes"));
        }
    }
    Ok(started.elapsed())
}

/// `n` connections one after another: connect, 100 bytes each way, the client
/// closes, then the server. Sockets are removed once the server's is closed
/// (the client's sits in TIME-WAIT).
pub fn churn(n: usize) -> Result<Duration, String> {
    let mut p = Pair::new();
    let msg = [0x42u8; 100];
    let mut buf = [0u8; 512];
    let started = WallClock::now();
    for i in 0..n {
        let port = 20_000 + (i % 40_000) as u16;
        let (c, s) = p.connect(port)?;
        p.h[0].tcp(c).send_slice(&msg).map_err(|e| e.to_string())?;
        let mut phase = 0;
        for _ in 0..10_000 {
            let moved = p.pump();
            match phase {
                0 if p.h[1].tcp(s).recv_slice(&mut buf).unwrap_or(0) == 100 => {
                    p.h[1].tcp(s).send_slice(&msg).map_err(|e| e.to_string())?;
                    phase = 1;
                }
                1 if p.h[0].tcp(c).recv_slice(&mut buf).unwrap_or(0) == 100 => {
                    p.h[0].tcp(c).close();
                    phase = 2;
                }
                2 if !p.h[1].tcp(s).may_recv() => {
                    p.h[1].tcp(s).close();
                    phase = 3;
                }
                3 if p.h[1].tcp(s).state() == tcp::State::Closed
                    && p.h[0].tcp(c).state() == tcp::State::TimeWait =>
                {
                    phase = 4;
                    break;
                }
                _ => {}
            }
            if !moved && !p.wait() {
                break;
            }
        }
        if phase != 4 {
            return Err(format!(
                "smoltcp churn: connection {i} stuck in phase {phase} ({} / {})",
                p.h[0].tcp(c).state(),
                p.h[1].tcp(s).state()
            ));
        }
        p.h[0].sockets.remove(c);
        p.h[1].sockets.remove(s);
    }
    Ok(started.elapsed())
}

/// Bytes one smoltcp TCP connection holds: the socket and the buffers it is
/// given (smoltcp's buffers are allocated up front, whole).
pub fn connection_bytes() -> usize {
    std::mem::size_of::<tcp::Socket<'static>>() + crate::RECV_BUFFER + crate::SEND_BUFFER
}
