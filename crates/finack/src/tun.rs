//! TUN devices (Linux `/dev/net/tun`, IFF_TUN | IFF_NO_PI: bare IP packets; see
//! the kernel's Documentation/networking/tuntap.rst).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use finack_core::Config;
use tokio::sync::mpsc;
use tun_rs::{AsyncDevice, DeviceBuilder, SyncDevice, VIRTIO_NET_HDR_LEN};

use crate::impair::Impairment;
use crate::link::{classify, Counters, Kind, PacketLink};
use crate::stack::Stack;

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
    dev: SyncDevice,
    name: String,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun").field("name", &self.name).finish()
    }
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
    pub fn create_with(
        name: &str,
        kernel_addr: IpAddr,
        prefix: u8,
        offload: bool,
    ) -> io::Result<Tun> {
        let IpAddr::V4(v4) = kernel_addr else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Tun::create: only an IPv4 kernel address is supported",
            ));
        };
        let dev = DeviceBuilder::new()
            .name(name)
            .packet_information(false)
            .offload(offload)
            .ipv4(v4, prefix, None)
            .enable(true)
            .build_sync()?;
        let name = dev.name()?;
        Ok(Tun { dev, name })
    }

    /// Attach to an existing TUN device `name` as it is configured (addresses and
    /// link state are left alone), e.g. one made with
    /// `ip tuntap add dev NAME mode tun`.
    pub fn open(name: &str) -> io::Result<Tun> {
        let dev = DeviceBuilder::new()
            .name(name)
            .packet_information(false)
            .inherit_enable_state()
            .build_sync()?;
        let name = dev.name()?;
        Ok(Tun { dev, name })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Attach to a new stack answering for `addrs`, with an optional impairment
    /// on the inbound (kernel → finack) and outbound paths. Must be called inside
    /// a tokio runtime.
    pub fn into_stack(
        self,
        config: Config,
        addrs: &[IpAddr],
        impair: Option<(Option<Impairment>, Option<Impairment>)>,
    ) -> io::Result<Stack> {
        let offload = self.dev.tcp_gso();
        let dev = Arc::new(AsyncDevice::new(self.dev)?);
        let counters = Arc::new(Counters::default());
        let (to_stack, stack_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (stack_tx, mut from_stack) = mpsc::unbounded_channel::<Vec<u8>>();
        let mut link = PacketLink {
            tx: stack_tx,
            rx: stack_rx,
        };
        if let Some((inbound, outbound)) = impair {
            if let Some(imp) = inbound {
                link = link.impair_inbound(imp);
            }
            if let Some(imp) = outbound {
                link = link.impair_outbound(imp);
            }
        }
        // Kernel → stack. Packets the engine could not use anyway are counted and
        // skipped here: the IPv6 router solicitations and MLD reports the kernel
        // sends when the link comes up, UDP, ICMP.
        let rd = dev.clone();
        let rd_counters = counters.clone();
        tokio::spawn(async move {
            // With offload one read may hold a 64 KiB GSO segment, split into
            // up to 64 KiB / MSS packets; each buffer holds a whole packet of
            // any MTU.
            let mut raw = vec![0u8; VIRTIO_NET_HDR_LEN + 65_536];
            let mut bufs = vec![vec![0u8; 65_536]; if offload { 64 } else { 1 }];
            let mut sizes = vec![0usize; bufs.len()];
            loop {
                tokio::select! {
                    r = rd.recv_multiple(&mut raw, &mut bufs, &mut sizes, 0) => {
                        let n = match r {
                            Ok(n) => n,
                            // A packet tun-rs could not split: lose it (TCP
                            // retransmits), keep reading.
                            Err(e) if e.raw_os_error().is_none() => {
                                Counters::bump(&rd_counters.packets_in);
                                Counters::bump(&rd_counters.skipped_not_ip);
                                continue;
                            }
                            Err(_) => return,
                        };
                        for (buf, &len) in bufs.iter().zip(&sizes).take(n) {
                            let pkt = &buf[..len];
                            match classify(pkt) {
                                Kind::Tcp | Kind::IcmpError => {
                                    if to_stack.send(pkt.to_vec()).is_err() {
                                        return;
                                    }
                                }
                                Kind::NotIp => {
                                    Counters::bump(&rd_counters.packets_in);
                                    Counters::bump(&rd_counters.skipped_not_ip);
                                }
                                Kind::NotTcp => {
                                    Counters::bump(&rd_counters.packets_in);
                                    Counters::bump(&rd_counters.skipped_not_tcp);
                                }
                            }
                        }
                    }
                    _ = to_stack.closed() => return,
                }
            }
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
        Ok(Stack::with_counters(config, addrs, link, counters))
    }
}
