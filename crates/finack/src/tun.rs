//! TUN devices (Linux `/dev/net/tun`, IFF_TUN | IFF_NO_PI: bare IP packets; see
//! the kernel's Documentation/networking/tuntap.rst).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use finack_core::Config;
use tokio::sync::mpsc;
use tun_rs::{AsyncDevice, DeviceBuilder, SyncDevice, VIRTIO_NET_HDR_LEN};

use crate::impair::Impairment;
use crate::link::{classify, Counters, Kind, PacketLink, TunPacket};
use crate::stack::{Out, Queue, Stack, WorkerLink};

/// An opened TUN device, not yet attached to a stack. Opening it does the
/// privileged work (CAP_NET_ADMIN); it can happen on another thread, for instance
/// one that entered another network namespace with setns(2): the device lives in
/// the namespace of the thread that created it, and its file descriptor works
/// from anywhere.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use finack::{Config, Stack, TcpListener, Tun};
///
/// // Needs root: the kernel side gets 192.0.2.1/24, finack answers for .2.
/// let tun = Tun::create("fin0", "192.0.2.1".parse().unwrap(), 24)?;
/// let stack = Stack::from_tun(tun, "192.0.2.2".parse().unwrap(), Config::linux())?;
/// let listener = TcpListener::bind(&stack, "192.0.2.2:80".parse().unwrap())?;
/// let (_stream, peer) = listener.accept().await?; // e.g. `curl http://192.0.2.2/`
/// println!("connection from {peer}");
/// # Ok(())
/// # }
/// ```
pub struct Tun {
    /// The device's queues (file descriptors): one per core when it was
    /// created here with several (IFF_MULTI_QUEUE), else one.
    queues: Vec<SyncDevice>,
    name: String,
    offload: TunOffload,
}

/// What a TUN device's virtio-net header (IFF_VNET_HDR) lets finack and the
/// kernel leave to each other. `true` and `false` convert to
/// [`TunOffload::Segmentation`] and [`TunOffload::Off`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TunOffload {
    /// No virtio-net header: every packet either way is one whole segment
    /// with its checksums computed by its sender, and checked by its
    /// receiver.
    Off,
    /// A virtio-net header, every packet finack writes one segment: TCP
    /// checksums are left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM), as Linux's
    /// own stack leaves them to a device with checksum offload, and those
    /// the kernel leaves partial are trusted. The device still advertises
    /// TSO, so the kernel's TCP sends super-segments unless that is turned
    /// off (`ethtool -K NAME tso off gso off`): with both, the device works
    /// as a veth pair with segmentation offload and GRO off (what
    /// `finack bench tun` compares its runs without offload to).
    Checksum,
    /// A virtio-net header with checksums and TCP segmentation offloaded
    /// both ways: the kernel hands over TCP super-segments of up to 64 KiB,
    /// and finack joins its consecutive full-sized segments into such
    /// super-segments that the kernel cuts (see [`Tun::create_with`]).
    #[default]
    Segmentation,
}

impl From<bool> for TunOffload {
    fn from(on: bool) -> TunOffload {
        if on {
            TunOffload::Segmentation
        } else {
            TunOffload::Off
        }
    }
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("queues", &self.queues.len())
            .finish()
    }
}

/// Queues a new device gets: one per core, for a stack of one worker per
/// core ([`crate::StackBuilder`]).
fn default_queues() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Tun {
    /// Create TUN device `name` (or attach to an existing, unused one of that
    /// name), give its kernel side `kernel_addr / prefix` and bring it up, with
    /// offloads on (see [`Tun::create_with`]). Only IPv4 kernel addresses are
    /// supported here; add IPv6 ones with `ip addr`.
    pub fn create(name: &str, kernel_addr: IpAddr, prefix: u8) -> io::Result<Tun> {
        Tun::create_with(name, kernel_addr, prefix, true)
    }

    /// [`Tun::create`], choosing whether to use offloads. With `offload` the
    /// device carries a virtio-net header (IFF_VNET_HDR) and advertises TSO,
    /// so the kernel hands over TCP segments of up to 64 KiB in one read,
    /// which are split here into MTU-sized packets with full checksums: fewer
    /// system calls and no segmentation work in the kernel (`finack bench tun`
    /// measures the difference). A capture on the device then shows those
    /// large segments with partial checksums, as on any NIC with TSO; without
    /// offload every packet on the device is a whole, checksummed one.
    ///
    /// The device is a multi-queue one (IFF_MULTI_QUEUE) with one queue per
    /// core, so that each worker of a stack reads and writes a queue of its
    /// own; an existing single-queue device of that name is attached with
    /// one queue.
    ///
    /// `offload` is a [`TunOffload`] or a bool (`true` for
    /// [`TunOffload::Segmentation`]).
    pub fn create_with(
        name: &str,
        kernel_addr: IpAddr,
        prefix: u8,
        offload: impl Into<TunOffload>,
    ) -> io::Result<Tun> {
        Tun::create_queues(name, kernel_addr, prefix, offload, default_queues())
    }

    /// [`Tun::create_with`] with `queues` queues (at least 1; with 1 the
    /// device is a single-queue one, as `ip tuntap add` makes by default).
    pub fn create_queues(
        name: &str,
        kernel_addr: IpAddr,
        prefix: u8,
        offload: impl Into<TunOffload>,
        queues: usize,
    ) -> io::Result<Tun> {
        let offload = offload.into();
        let IpAddr::V4(v4) = kernel_addr else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Tun::create: only an IPv4 kernel address is supported",
            ));
        };
        let build = |multi: bool| {
            DeviceBuilder::new()
                .name(name)
                .packet_information(false)
                .offload(offload != TunOffload::Off)
                .multi_queue(multi)
                .ipv4(v4, prefix, None)
                .enable(true)
                .build_sync()
        };
        let dev = if queues > 1 {
            // An existing single-queue device refuses IFF_MULTI_QUEUE.
            build(true).or_else(|_| build(false))?
        } else {
            build(false)?
        };
        Tun::with_queues(dev, queues, offload)
    }

    /// The device `dev` (the first queue) and up to `queues - 1` more queues
    /// of it, as far as it is a multi-queue device. More queues must be
    /// attached here: they are found by name, in the network namespace of
    /// the calling thread.
    fn with_queues(dev: SyncDevice, queues: usize, offload: TunOffload) -> io::Result<Tun> {
        let name = dev.name()?;
        let mut all = Vec::with_capacity(queues.max(1));
        all.push(dev);
        while all.len() < queues {
            match all[0].try_clone() {
                Ok(q) => all.push(q),
                Err(e) => {
                    if all.len() == 1 && e.kind() != io::ErrorKind::Unsupported {
                        tracing::debug!(target: "finack", tun = %name, error = %e, "cannot add a TUN queue");
                    }
                    break;
                }
            }
        }
        // A device made with IFF_VNET_HDR elsewhere is not one here.
        let offload = if all[0].tcp_gso() {
            offload
        } else {
            TunOffload::Off
        };
        Ok(Tun {
            queues: all,
            name,
            offload,
        })
    }

    /// Attach to an existing TUN device `name` as it is configured (addresses and
    /// link state are left alone), e.g. one made with
    /// `ip tuntap add dev NAME mode tun` (one queue; with `multi_queue`, one
    /// queue per core).
    pub fn open(name: &str) -> io::Result<Tun> {
        let build = |multi: bool| {
            DeviceBuilder::new()
                .name(name)
                .packet_information(false)
                .multi_queue(multi)
                .inherit_enable_state()
                .build_sync()
        };
        match build(false) {
            Ok(dev) => Tun::with_queues(dev, 1, TunOffload::Off),
            // A multi-queue device refuses a single-queue attach.
            Err(_) => Tun::with_queues(build(true)?, default_queues(), TunOffload::Off),
        }
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the device offloads (as created; [`TunOffload::Off`] for one
    /// opened with [`Tun::open`]).
    pub fn offload(&self) -> TunOffload {
        self.offload
    }

    /// The number of queues opened.
    pub fn queues(&self) -> usize {
        self.queues.len()
    }

    /// Attach to a new one-worker stack answering for `addrs`, with an
    /// optional impairment on the inbound (kernel → finack) and outbound
    /// paths. Must be called inside a tokio runtime.
    pub fn into_stack(
        self,
        config: Config,
        addrs: &[IpAddr],
        impair: Option<(Option<Impairment>, Option<Impairment>)>,
    ) -> io::Result<Stack> {
        self.into_stack_workers(config, addrs, impair, 1)
    }

    /// [`Tun::into_stack`] with `workers` workers (see
    /// [`crate::StackBuilder`]). Worker *i* below the number of queues reads
    /// queue *i* (on a device without segmentation offload through a reader
    /// thread per queue, see `reader.rs`); every worker writes to queue `i % queues` itself (without
    /// offload straight from its engine's buffer; with offload as TCP
    /// super-segments the kernel segments, see [`crate::StackBuilder`]). Queues beyond the workers are closed
    /// (the kernel then stops steering packets to them). With an impairment
    /// one queue is used and packets travel through channels as on an
    /// in-memory link.
    pub fn into_stack_workers(
        self,
        config: Config,
        addrs: &[IpAddr],
        impair: Option<(Option<Impairment>, Option<Impairment>)>,
        workers: usize,
    ) -> io::Result<Stack> {
        let workers = workers.max(1);
        let mut queues = self.queues;
        let offload = self.offload != TunOffload::Off;
        if let Some((inbound, outbound)) = impair {
            queues.truncate(1);
            let dev = queues.pop().expect("a TUN device has a queue");
            return impaired(dev, offload, config, addrs, inbound, outbound, workers);
        }
        queues.truncate(workers);
        if self.offload != TunOffload::Segmentation {
            return with_readers(queues, offload, config, addrs, workers);
        }
        let devs = queues
            .into_iter()
            .map(|q| AsyncDevice::new(q).map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        // Each worker reads its queue and writes its own packets itself (no
        // reader or writer task between): measured on two cores against a
        // reader and a writer task per queue beside one worker (removed),
        // finack -> Linux 22.4 against 16.9 Gbit/s, Linux -> finack 15.8
        // against 14.6, HTTP keep-alive 85,000 against 74,000 requests/s,
        // 15,000 against 12,500 connections/s: the hand-overs between
        // threads cost more than the parallelism gave.
        let links = (0..workers)
            .map(|i| WorkerLink {
                out: Out::Tun {
                    dev: devs[i % devs.len()].clone(),
                    vnet: offload,
                    join: self.offload == TunOffload::Segmentation,
                },
                queue: devs.get(i).map(|d| Queue {
                    dev: d.clone(),
                    offload,
                }),
                feed: None,
            })
            .collect();
        let (stack, _) = Stack::start::<TunPacket>(config, addrs, Arc::default(), links, None);
        Ok(stack)
    }
}

/// A stack on `queues` of a device without segmentation offload (one
/// segment per read and per write), each read by a thread of its own that
/// hands batches of reads to its worker (see `reader.rs` for why); workers
/// write their queue `i % queues` with plain non-blocking writes.
fn with_readers(
    queues: Vec<SyncDevice>,
    vnet: bool,
    config: Config,
    addrs: &[IpAddr],
    workers: usize,
) -> io::Result<Stack> {
    let devs: Vec<Arc<SyncDevice>> = queues.into_iter().map(Arc::new).collect();
    let mut readers = Vec::with_capacity(devs.len());
    let mut feeds = Vec::with_capacity(devs.len());
    for d in &devs {
        let (feed, reader) = crate::reader::reader(d.clone(), vnet)?;
        feeds.push(Some(feed));
        readers.push(reader);
    }
    let links = (0..workers)
        .map(|i| WorkerLink {
            out: Out::TunFd {
                dev: devs[i % devs.len()].clone(),
                vnet,
            },
            queue: None,
            feed: feeds.get_mut(i).and_then(Option::take),
        })
        .collect();
    let counters: Arc<Counters> = Arc::default();
    let (stack, inboxes) = Stack::start::<TunPacket>(config, addrs, counters.clone(), links, None);
    let steer = stack.shared.steer.clone();
    for (i, r) in readers.into_iter().enumerate() {
        r.spawn(i, inboxes.clone(), steer.clone(), counters.clone())?;
    }
    Ok(stack)
}

/// A stack on one TUN queue with impairments: a reader and a writer task and
/// channels between them and the stack, through the impairments.
fn impaired(
    dev: SyncDevice,
    offload: bool,
    config: Config,
    addrs: &[IpAddr],
    inbound: Option<Impairment>,
    outbound: Option<Impairment>,
    workers: usize,
) -> io::Result<Stack> {
    let dev = Arc::new(AsyncDevice::new(dev)?);
    let counters = Arc::new(Counters::default());
    let (to_stack, stack_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let (stack_tx, mut from_stack) = mpsc::unbounded_channel::<Vec<u8>>();
    let mut link = PacketLink {
        tx: stack_tx,
        rx: stack_rx,
    };
    if let Some(imp) = inbound {
        link = link.impair_inbound(imp);
    }
    if let Some(imp) = outbound {
        link = link.impair_outbound(imp);
    }
    // Kernel → stack. Packets the engine could not use anyway are counted and
    // skipped here: the IPv6 router solicitations and MLD reports the kernel
    // sends when the link comes up, UDP, ICMP.
    // The impairment holds packets: they need storage of their own.
    let watch = to_stack.clone();
    // The link carries bare packets: super-segments are cut.
    spawn_reader(dev.clone(), offload, counters.clone(), watch, move |pkt| {
        to_stack.send(pkt.to_vec()).is_ok()
    });
    // Stack → kernel. A failed write (device gone, buffer full) loses the
    // packet; TCP retransmits. With offload every write starts with a
    // virtio-net header; all zero means "a whole packet, checksums done".
    let wr = dev;
    tokio::spawn(async move {
        let mut out = Vec::with_capacity(VIRTIO_NET_HDR_LEN + 65_536);
        while let Some(pkt) = from_stack.recv().await {
            if offload {
                out.clear();
                out.resize(VIRTIO_NET_HDR_LEN, 0);
                out.extend_from_slice(&pkt);
                let _ = wr.send(&out).await;
            } else {
                let _ = wr.send(&pkt).await;
            }
        }
    });
    Ok(Stack::on_link(config, addrs, link, counters, workers))
}

/// Kernel → stack for a path that carries bare packets: read the device
/// (with `vnet`, super-segments cut into MTU-sized packets with their
/// checksums computed, by tun-rs) and hand each TCP packet or ICMP error to
/// `deliver`, until it returns false or `watch`'s receiver is gone. Packets
/// the engine could not use anyway are counted and skipped here: the IPv6
/// router solicitations and MLD reports the kernel sends when the link
/// comes up, UDP, other ICMP.
fn spawn_reader<W: Send + 'static>(
    dev: Arc<AsyncDevice>,
    vnet: bool,
    counters: Arc<Counters>,
    watch: mpsc::UnboundedSender<W>,
    mut deliver: impl FnMut(&[u8]) -> bool + Send + 'static,
) {
    tokio::spawn(async move {
        let mut raw = vec![0u8; VIRTIO_NET_HDR_LEN + 65_536];
        let mut bufs = vec![vec![0u8; 65_536]; if vnet { 64 } else { 0 }];
        let mut sizes = vec![0usize; bufs.len()];
        let mut one = |pkt: &[u8]| match classify(pkt) {
            Kind::Tcp | Kind::IcmpError => deliver(pkt),
            kind => {
                Counters::bump(&counters.packets_in);
                Counters::bump(if kind == Kind::NotIp {
                    &counters.skipped_not_ip
                } else {
                    &counters.skipped_not_tcp
                });
                true
            }
        };
        loop {
            let r = tokio::select! {
                r = async {
                    if vnet {
                        dev.recv_multiple(&mut raw, &mut bufs, &mut sizes, 0).await
                    } else {
                        dev.recv(&mut raw).await
                    }
                } => r,
                _ = watch.closed() => return,
            };
            let n = match r {
                Ok(n) => n,
                // A packet tun-rs could not split: lose it (TCP
                // retransmits), keep reading.
                Err(e) if e.raw_os_error().is_none() => {
                    one(&[]);
                    continue;
                }
                Err(_) => return,
            };
            let go_on = if vnet {
                bufs.iter()
                    .zip(&sizes)
                    .take(n)
                    .all(|(b, &len)| one(&b[..len]))
            } else {
                one(&raw[..n])
            };
            if !go_on {
                return;
            }
        }
    });
}
