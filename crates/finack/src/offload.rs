//! Offloads on a TUN device with virtio-net headers (IFF_VNET_HDR).
//!
//! # Receive: super-segments whole
//!
//! The kernel writes its TCP bulk data to the device as GSO packets of up to
//! 64 KiB with the checksum left undone (the header says so); [`tun_read`]
//! hands such a packet to the engine whole, with its segment size and
//! "checksum trusted" ([`RxOffload`]), as Linux's own receive path takes a
//! GRO packet: one pass through the engine per super-segment instead of
//! cutting it into segments and computing each one's checksum.
//!
//! # Send: super-segments built
//!
//! Consecutive full-sized segments of one connection, as the engine writes
//! them, are joined into one TCP super-segment of up to 64 KiB that the
//! kernel cuts back into the same segments (GSO, as it does for a TSO
//! network card). One write and one trip through the kernel's IP and TCP
//! receive path then carry up to [`MAX_SEGS`] segments instead of one.
//!
//! The rules are those of the kernel's own segmentation, read in
//! net/ipv4/tcp_offload.c (tcp_gso_segment()) and
//! include/linux/virtio_net.h (virtio_net_hdr_to_skb()):
//! - every segment but the last carries exactly `gso_size` payload bytes;
//!   the kernel copies the first header to each segment, advancing the
//!   sequence number, and clears PSH and FIN on all but the last, so only
//!   the last may carry PSH (FIN, SYN, RST, URG, CWR, ECE are never joined);
//! - the segments must share everything else in their IP and TCP headers
//!   (addresses, ports, ACK number, window, options with their timestamps,
//!   TOS/traffic class, TTL/hop limit, DF);
//! - the TCP checksum is left to the kernel (VIRTIO_NET_HDR_F_NEEDS_CSUM):
//!   the field holds the pseudo-header sum over the super-segment's length,
//!   which tcp_gso_segment() adjusts for each segment's length;
//! - IPv4: the kernel gives segment *k* the first segment's IP ID plus *k*
//!   (inet_gso_segment()), and recomputes each header checksum.
//!
//! A TCP segment that cannot be joined goes out alone, in the order the
//! engine wrote it, with its checksum also left to the kernel (NEEDS_CSUM
//! without GSO): an engine on such a link does not compute TCP checksums
//! (`Config::tx_checksum_offload`, Linux's CHECKSUM_PARTIAL), saving a
//! pass over every payload. Anything else goes behind an all-zero header
//! ("a whole packet, checksums done").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use finack_core::wire::checksum::{checksum, fold, pseudo_header_sum, tcp_checksum};
use finack_core::RxOffload;

/// The virtio-net header's length (struct virtio_net_hdr, no mergeable
/// buffers: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset).
pub(crate) const VNET_HDR_LEN: usize = 10;

/// Segments in one super-segment at most (the kernel's GSO_MAX_SEGS is
/// 65535; 64 KiB of IP packet is the real limit, this bounds small MSSs).
pub(crate) const MAX_SEGS: usize = 64;

/// The largest IP packet a super-segment may become (IPv4's total length and
/// IPv6's payload length are 16-bit fields).
const MAX_IP_LEN: usize = 65_535;

const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

/// One read from a TUN device: the IP packet in it and what the kernel's
/// offloads did to it, or None for a read too short to hold the virtio-net
/// header. Without `vnet` the read is the packet, nothing offloaded.
///
/// include/linux/virtio_net.h (virtio_net_hdr_from_skb(), the kernel's side
/// of a TUN read): a GSO packet carries its segment size and type (TCP over
/// IPv4 or IPv6, perhaps with the ECN bit); NEEDS_CSUM says the checksum was
/// left to the device (CHECKSUM_PARTIAL: the host's own packet, its checksum
/// field only the pseudo-header sum), DATA_VALID that it was verified.
pub(crate) fn tun_read(read: &[u8], vnet: bool) -> Option<(&[u8], RxOffload)> {
    if !vnet {
        return Some((read, RxOffload::default()));
    }
    if read.len() < VNET_HDR_LEN {
        return None;
    }
    let (hdr, pkt) = read.split_at(VNET_HDR_LEN);
    let tcp_gso = matches!(
        hdr[1] & !VIRTIO_NET_HDR_GSO_ECN,
        VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_TCPV6
    );
    let rx = RxOffload {
        gso_size: if tcp_gso {
            u16::from_ne_bytes([hdr[4], hdr[5]])
        } else {
            0
        },
        checksum_trusted: hdr[0] & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID) != 0,
    };
    Some((pkt, rx))
}

const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;

/// The header layout of a packet that may be joined.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Layout {
    v6: bool,
    /// IP header length.
    iph: usize,
    /// TCP header length (options included).
    th: usize,
}

impl Layout {
    /// The layout of `pkt` if it is a TCP segment carrying data with only
    /// ACK (and perhaps PSH) set, whole and unfragmented; None otherwise.
    fn of(pkt: &[u8]) -> Option<Layout> {
        let lay = Layout::tcp(pkt)?;
        let flags = pkt[lay.iph + 13];
        if pkt.len() <= lay.iph + lay.th || (flags != TCP_ACK && flags != TCP_ACK | TCP_PSH) {
            return None;
        }
        Some(lay)
    }

    /// The layout of `pkt` if it is a whole, unfragmented TCP segment.
    fn tcp(pkt: &[u8]) -> Option<Layout> {
        let (v6, iph) = match pkt.first()? >> 4 {
            4 => {
                let iph = usize::from(pkt[0] & 0x0f) * 4;
                // Protocol TCP, no fragment offset or MF (DF may be set),
                // total length the packet's.
                if iph < 20
                    || pkt.len() < iph
                    || pkt[9] != 6
                    || (u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff) != 0
                    || usize::from(u16::from_be_bytes([pkt[2], pkt[3]])) != pkt.len()
                {
                    return None;
                }
                (false, iph)
            }
            6 => {
                // Next header TCP (no extension headers), payload length the
                // packet's.
                if pkt.len() < 40
                    || pkt[6] != 6
                    || usize::from(u16::from_be_bytes([pkt[4], pkt[5]])) + 40 != pkt.len()
                {
                    return None;
                }
                (true, 40)
            }
            _ => return None,
        };
        let tcp = pkt.get(iph..)?;
        if tcp.len() < 20 {
            return None;
        }
        let th = usize::from(tcp[12] >> 4) * 4;
        if th < 20 || tcp.len() < th {
            return None;
        }
        Some(Layout { v6, iph, th })
    }

    /// The source and destination addresses of `pkt`, laid out so.
    fn addrs(&self, pkt: &[u8]) -> (IpAddr, IpAddr) {
        if self.v6 {
            let a: [u8; 16] = pkt[8..24].try_into().expect("40-byte header");
            let b: [u8; 16] = pkt[24..40].try_into().expect("40-byte header");
            (Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into())
        } else {
            let a: [u8; 4] = pkt[12..16].try_into().expect("20-byte header");
            let b: [u8; 4] = pkt[16..20].try_into().expect("20-byte header");
            (Ipv4Addr::from(a).into(), Ipv4Addr::from(b).into())
        }
    }

    /// The IP header bytes that may differ between joined segments: IPv4's
    /// total length, ID and header checksum; IPv6's payload length.
    fn ip_varies(&self, i: usize) -> bool {
        if self.v6 {
            (4..6).contains(&i)
        } else {
            (2..6).contains(&i) || (10..12).contains(&i)
        }
    }
}

fn seq_of(pkt: &[u8], iph: usize) -> u32 {
    u32::from_be_bytes([pkt[iph + 4], pkt[iph + 5], pkt[iph + 6], pkt[iph + 7]])
}

/// Room the engine gets for each packet it writes (the runtime's packet
/// buffer size: any packet the engine emits fits).
pub(crate) const SLOT: usize = 65_536;

/// The longest headers of a segment that may be joined: IPv6 and a TCP
/// header with 40 bytes of options.
const MAX_HDR: usize = 40 + 60;

/// Joins consecutive segments into super-segments. Reused for every batch:
/// let the engine write each packet into it ([`Coalescer::push_with`], or
/// [`Coalescer::push`] one written elsewhere), then [`Coalescer::flush`].
///
/// The engine writes each packet in place: while a group is open, at the
/// spot where its headers overlap the end of the group's payload so far,
/// the bytes they cover saved aside. A segment that joins has its payload
/// right where it belongs; the bytes under its headers are put back, and no
/// payload is copied. One that does not join is copied out first.
pub(crate) struct Coalescer {
    /// Virtio-net header room, the open group (the first segment's headers,
    /// then every joined segment's payload), then a slot's room for the
    /// next packet. Allocated once.
    buf: Vec<u8>,
    /// Bytes of `buf` in use (header room and group); 0: no group open.
    used: usize,
    layout: Option<Layout>,
    gso_size: usize,
    segs: usize,
    next_seq: u32,
    /// The last segment joined was short or carried PSH: nothing may follow.
    closed: bool,
    /// Segments a group may hold: [`MAX_SEGS`], or 1 where segmentation is
    /// not offloaded (every segment written alone).
    max_segs: usize,
}

impl Default for Coalescer {
    fn default() -> Coalescer {
        Coalescer::new()
    }
}

impl Coalescer {
    /// An empty coalescer.
    pub(crate) fn new() -> Coalescer {
        Coalescer {
            // Allocated on first use: only links with virtio-net headers
            // need it.
            buf: Vec::new(),
            used: 0,
            layout: None,
            gso_size: 0,
            segs: 0,
            next_seq: 0,
            closed: false,
            max_segs: MAX_SEGS,
        }
    }

    /// A coalescer that joins nothing: every segment is written alone
    /// behind its virtio-net header, its TCP checksum left to the kernel
    /// ([`crate::TunOffload::Checksum`]).
    pub(crate) fn single() -> Coalescer {
        Coalescer {
            max_segs: 1,
            ..Coalescer::new()
        }
    }

    /// Take `pkt` (a whole IP packet) as if the engine had written it here.
    pub(crate) fn push(&mut self, pkt: &[u8], out: &mut impl FnMut(&[u8])) {
        if pkt.len() > SLOT {
            // Nothing the engine writes; written alone, as it is.
            self.flush(out);
            let mut w = vec![0u8; VNET_HDR_LEN];
            w.extend_from_slice(pkt);
            out(&w);
            return;
        }
        self.push_with(
            |slot, _| {
                slot[..pkt.len()].copy_from_slice(pkt);
                Some((pkt.len(), 0))
            },
            out,
        );
    }

    /// Let `emit` write the next packet (a whole IP packet with correct
    /// checksums, or TCP checksums left partial) into the slot it is given
    /// and return its length and segment size (see
    /// `Endpoint::poll_transmit_segs`); join it to the open group if it
    /// continues it, else write the open group with `out` and start a new
    /// one (or write the packet alone if it cannot be joined at all). `emit`
    /// is told how many segments its packet may hold: a packet of several
    /// (a super-segment the engine formed itself) only starts a group, so
    /// several are asked for only when no group is open. `out` gets the
    /// bytes to write to the device, virtio-net header first. Returns the
    /// number of segments taken: 0, with nothing changed, when `emit` had
    /// nothing to write.
    pub(crate) fn push_with(
        &mut self,
        emit: impl FnOnce(&mut [u8], u16) -> Option<(usize, u16)>,
        out: &mut impl FnMut(&[u8]),
    ) -> usize {
        if self.buf.is_empty() {
            self.buf = vec![0; VNET_HDR_LEN + MAX_IP_LEN + SLOT];
        }
        // A group that can take nothing more goes first, so that the packet
        // is written at the front.
        if self.used > 0
            && (self.closed || self.segs >= self.max_segs || self.used - VNET_HDR_LEN >= MAX_IP_LEN)
        {
            self.flush(out);
        }
        let open = self.layout.filter(|_| self.used > 0);
        let Some(open) = open else {
            let n = emit(
                &mut self.buf[VNET_HDR_LEN..VNET_HDR_LEN + SLOT],
                self.max_segs as u16,
            );
            let Some((n, seg)) = n.filter(|&(n, _)| n <= SLOT) else {
                return 0;
            };
            return self.begin(n, seg, out);
        };
        // Write the packet so that its payload starts where the group's ends
        // (unless its headers would reach the group's first headers, when
        // the group's payload is still shorter than they are: then after
        // the group, and a joining payload, as short, is moved down).
        let h = open.iph + open.th;
        let overlap = self.used - VNET_HDR_LEN - h >= h;
        let at = if overlap { self.used - h } else { self.used };
        let mut saved = [0u8; MAX_HDR];
        if overlap {
            saved[..h].copy_from_slice(&self.buf[at..self.used]);
        }
        let restore = |buf: &mut [u8]| {
            if overlap {
                buf[at..at + h].copy_from_slice(&saved[..h]);
            }
        };
        let n = emit(&mut self.buf[at..at + SLOT], 1).filter(|&(n, _)| n <= SLOT);
        let Some((n, _)) = n else {
            restore(&mut self.buf);
            return 0;
        };
        if self.joins(at, n) {
            let payload = n - h;
            let psh = self.buf[at + open.iph + 13] & TCP_PSH != 0;
            if overlap {
                restore(&mut self.buf);
            } else {
                self.buf.copy_within(at + h..at + n, self.used);
            }
            self.used += payload;
            self.segs += 1;
            self.next_seq = self.next_seq.wrapping_add(payload as u32);
            if psh {
                // Only the last segment keeps PSH (tcp_gso_segment()).
                self.buf[VNET_HDR_LEN + open.iph + 13] |= TCP_PSH;
            }
            self.closed = psh || payload < self.gso_size;
            return 1;
        }
        // Not this group's: copied out, the group restored and written, the
        // packet moved to the front.
        let pkt = self.buf[at..at + n].to_vec();
        restore(&mut self.buf);
        self.flush(out);
        self.buf[VNET_HDR_LEN..VNET_HDR_LEN + n].copy_from_slice(&pkt);
        self.begin(n, 0, out)
    }

    /// A packet of `n` bytes sits at the front with no group open: it opens
    /// one, or goes alone at once. `seg`: it holds several segments of that
    /// size (0: one segment). Returns the segments it holds.
    fn begin(&mut self, n: usize, seg: u16, out: &mut impl FnMut(&[u8])) -> usize {
        let pkt = &self.buf[VNET_HDR_LEN..VNET_HDR_LEN + n];
        let seg = usize::from(seg);
        let lay = Layout::of(pkt);
        self.used = VNET_HDR_LEN + n;
        self.segs = 1;
        self.layout = lay;
        self.closed = true;
        let Some(lay) = lay else {
            // Not a segment others may join. One of several segments (the
            // engine forms them with only ACK and PSH, but whatever its
            // flags) still goes as a super-segment the kernel cuts, alone.
            let segs = match Layout::tcp(pkt).filter(|l| seg > 0 && n - l.iph - l.th > seg) {
                Some(l) => {
                    self.segs = (n - l.iph - l.th).div_ceil(seg);
                    self.gso_size = seg;
                    self.layout = Some(l);
                    self.segs
                }
                None => 1,
            };
            self.flush(out);
            return segs;
        };
        let payload = n - lay.iph - lay.th;
        self.gso_size = if seg > 0 { seg } else { payload };
        self.segs = payload.div_ceil(self.gso_size).max(1);
        self.next_seq = seq_of(pkt, lay.iph).wrapping_add(payload as u32);
        self.closed = pkt[lay.iph + 13] & TCP_PSH != 0 || payload % self.gso_size != 0;
        self.segs
    }

    /// Does the packet of `n` bytes at `at` continue the open group?
    fn joins(&self, at: usize, n: usize) -> bool {
        let Some(open) = self.layout else {
            return false;
        };
        let pkt = &self.buf[at..at + n];
        let Some(lay) = Layout::of(pkt) else {
            return false;
        };
        let payload = n - lay.iph - lay.th;
        if open != lay
            || payload > self.gso_size
            || self.used - VNET_HDR_LEN + payload > MAX_IP_LEN
            || seq_of(pkt, lay.iph) != self.next_seq
        {
            return false;
        }
        let first = &self.buf[VNET_HDR_LEN..VNET_HDR_LEN + lay.iph + lay.th];
        let same_ip = (0..lay.iph).all(|i| lay.ip_varies(i) || first[i] == pkt[i]);
        // TCP: everything but the sequence number, flags (PSH may differ)
        // and checksum.
        let t = lay.iph;
        let same_tcp = first[t..t + 4] == pkt[t..t + 4]
            && first[t + 8..t + 13] == pkt[t + 8..t + 13]
            && first[t + 14..t + 16] == pkt[t + 14..t + 16]
            && first[t + 18..t + lay.th] == pkt[t + 18..t + lay.th];
        same_ip && same_tcp
    }

    /// Write the open group, if any, with `out`.
    pub(crate) fn flush(&mut self, out: &mut impl FnMut(&[u8])) {
        if self.used == 0 {
            return;
        }
        match self.layout {
            Some(lay) if self.segs > 1 => self.finish(lay, true),
            // A TCP segment alone: its checksum is left to the kernel too
            // (no GSO), as the engine on this link does not compute it.
            _ => match Layout::tcp(&self.buf[VNET_HDR_LEN..self.used]) {
                Some(lay) => self.finish(lay, false),
                // Anything else: all-zero header, the packet as written.
                None => self.buf[..VNET_HDR_LEN].fill(0),
            },
        }
        out(&self.buf[..self.used]);
        self.used = 0;
        self.layout = None;
        self.segs = 0;
    }

    /// Turn the group into a super-segment (`gso`) or leave the one segment
    /// whole: IP lengths (and IPv4 header checksum) for its whole length,
    /// the TCP checksum field the pseudo-header sum, and the virtio-net
    /// header asking for the checksum (and, with `gso`, segmentation).
    fn finish(&mut self, lay: Layout, gso: bool) {
        let (hdr, pkt) = self.buf[..self.used].split_at_mut(VNET_HDR_LEN);
        let tcp_len = pkt.len() - lay.iph;
        if lay.v6 {
            pkt[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        } else {
            let total = pkt.len() as u16;
            pkt[2..4].copy_from_slice(&total.to_be_bytes());
            pkt[10..12].fill(0);
            let c = checksum(&pkt[..lay.iph]);
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let (src, dst) = lay.addrs(pkt);
        let sum = pseudo_header_sum(src, dst, 6, tcp_len as u32);
        // The kernel adds the header and payload to this and complements it
        // (CHECKSUM_PARTIAL), so the field holds the folded sum itself.
        let c = lay.iph + 16;
        pkt[c..c + 2].copy_from_slice(&fold(sum).to_be_bytes());
        // struct virtio_net_hdr, in the host's byte order (a legacy TUN
        // device with IFF_VNET_HDR and no TUNSETVNETLE/BE).
        hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        hdr[1] = match (gso, lay.v6) {
            (false, _) => VIRTIO_NET_HDR_GSO_NONE,
            (true, true) => VIRTIO_NET_HDR_GSO_TCPV6,
            (true, false) => VIRTIO_NET_HDR_GSO_TCPV4,
        };
        hdr[2..4].copy_from_slice(&((lay.iph + lay.th) as u16).to_ne_bytes());
        let gso_size = if gso { self.gso_size as u16 } else { 0 };
        hdr[4..6].copy_from_slice(&gso_size.to_ne_bytes());
        hdr[6..8].copy_from_slice(&(lay.iph as u16).to_ne_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
    }
}

/// Receive coalescing (software GRO) for a TUN device that hands over
/// single segments (no virtio-net header, or one with checksum offload and
/// no TSO): consecutive data segments of one
/// connection read in one go are joined, as the kernel's tcp_gro_receive()
/// joins them for a network card (same headers but for the sequence number,
/// each segment but the last full-sized, PSH ends a group), and reach the
/// engine as one super-segment (`RxOffload::gso_size`), one pass through it
/// for up to [`MAX_SEGS`] segments. Only segments whose checksums verify, or
/// the kernel left partial, are joined (the joined one's checksum is then
/// trusted); anything else goes
/// to the engine as it came, in order.
#[derive(Default)]
pub(crate) struct RxMerger {
    co: Coalescer,
}

impl RxMerger {
    /// Take a packet read from the device (`rx`: what offload did to it);
    /// `deliver` gets what goes to the engine, in order, with the number of
    /// segments read that each stands for.
    pub(crate) fn push(
        &mut self,
        pkt: &[u8],
        rx: RxOffload,
        deliver: &mut impl FnMut(&[u8], RxOffload, u64),
    ) {
        // A single segment whose checksum the kernel left partial or
        // verified (a device with checksum offload only) is as good as one
        // whose checksum verifies here.
        if rx.gso_size == 0
            && Layout::of(pkt).is_some()
            && (rx.checksum_trusted || checksums_verify(pkt))
        {
            self.co.push(pkt, &mut |w| unwrap_merged(w, deliver));
        } else {
            self.flush(deliver);
            deliver(pkt, rx, 1);
        }
    }

    /// Deliver the group being joined, if any.
    pub(crate) fn flush(&mut self, deliver: &mut impl FnMut(&[u8], RxOffload, u64)) {
        self.co.flush(&mut |w| unwrap_merged(w, deliver));
    }
}

/// A coalescer's write as the engine takes it: the packet, what was done
/// to it, and the segments it holds.
fn unwrap_merged(w: &[u8], deliver: &mut impl FnMut(&[u8], RxOffload, u64)) {
    let Some((pkt, rx)) = tun_read(w, true) else {
        return;
    };
    let segs = match (rx.gso_size, Layout::tcp(pkt)) {
        (0, _) | (_, None) => 1,
        (g, Some(lay)) => (pkt.len() - lay.iph - lay.th).div_ceil(usize::from(g)) as u64,
    };
    deliver(pkt, rx, segs);
}

/// The IPv4 header checksum (if any) and the TCP checksum of a whole TCP
/// segment (RFC 9293 MUST-3), as the engine would check them.
fn checksums_verify(pkt: &[u8]) -> bool {
    let Some(lay) = Layout::tcp(pkt) else {
        return false;
    };
    if !lay.v6 && checksum(&pkt[..lay.iph]) != 0 {
        return false;
    }
    let (src, dst) = lay.addrs(pkt);
    tcp_checksum(src, dst, &pkt[lay.iph..]) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use finack_core::wire::checksum::ones_complement_sum;

    const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    /// A TCP segment as the engine writes it: ports 80 → 40000, ACK 7,
    /// window 512, a timestamp option, `payload` bytes of `fill`.
    fn seg(v6: bool, id: u16, seq: u32, flags: u8, payload: usize, fill: u8) -> Vec<u8> {
        let mut tcp = vec![0u8; 32];
        tcp[0..2].copy_from_slice(&80u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&40000u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&7u32.to_be_bytes());
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
        tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        tcp.extend((0..payload).map(|i| fill.wrapping_add(i as u8)));
        ip_wrap(v6, id, tcp)
    }

    fn ip_wrap(v6: bool, id: u16, mut tcp: Vec<u8>) -> Vec<u8> {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (A6.into(), B6.into())
        } else {
            (A4.into(), B4.into())
        };
        tcp[16..18].fill(0);
        let c = tcp_checksum(src, dst, &tcp);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let mut ip = if v6 {
            let mut h = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
            h[4..6].copy_from_slice(&(tcp.len() as u16).to_be_bytes());
            h.extend_from_slice(&A6.octets());
            h.extend_from_slice(&B6.octets());
            h
        } else {
            let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
            h[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            h.extend_from_slice(&A4.octets());
            h.extend_from_slice(&B4.octets());
            let c = checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h
        };
        ip.extend_from_slice(&tcp);
        ip
    }

    /// What the kernel makes of a write (tcp_gso_segment(),
    /// inet_gso_segment()): the packets it delivers, checksums verified
    /// first as the kernel would compute them.
    fn kernel_segments(write: &[u8]) -> Vec<Vec<u8>> {
        let (hdr, pkt) = write.split_at(VNET_HDR_LEN);
        if hdr.iter().all(|&b| b == 0) {
            return vec![pkt.to_vec()];
        }
        assert_eq!(hdr[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
        let v6 = pkt[0] >> 4 == 6;
        let hdr_len = usize::from(u16::from_ne_bytes([hdr[2], hdr[3]]));
        let gso = usize::from(u16::from_ne_bytes([hdr[4], hdr[5]]));
        let cs = usize::from(u16::from_ne_bytes([hdr[6], hdr[7]]));
        match hdr[1] {
            VIRTIO_NET_HDR_GSO_NONE => assert_eq!(gso, 0),
            VIRTIO_NET_HDR_GSO_TCPV6 => assert!(v6 && gso > 0),
            t => assert!(t == VIRTIO_NET_HDR_GSO_TCPV4 && !v6 && gso > 0),
        }
        assert_eq!(u16::from_ne_bytes([hdr[8], hdr[9]]), 16);
        // CHECKSUM_PARTIAL: complementing the sum from csum_start with the
        // field as written gives the super-segment's real checksum.
        let mut whole = pkt[cs..].to_vec();
        let partial = !fold(ones_complement_sum(&whole, 0));
        whole[16..18].fill(0);
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (A6.into(), B6.into())
        } else {
            (A4.into(), B4.into())
        };
        assert_eq!(partial, tcp_checksum(src, dst, &whole));
        if !v6 {
            assert_eq!(checksum(&pkt[..cs]), 0, "IPv4 header checksum");
            assert_eq!(usize::from(u16::from_be_bytes([pkt[2], pkt[3]])), pkt.len());
        } else {
            assert_eq!(
                usize::from(u16::from_be_bytes([pkt[4], pkt[5]])),
                pkt.len() - 40
            );
        }
        if gso == 0 {
            // skb_checksum_help(): the one segment, its checksum completed.
            let mut done = pkt.to_vec();
            done[cs + 16..cs + 18].copy_from_slice(&partial.to_be_bytes());
            return vec![done];
        }
        let id0 = u16::from_be_bytes([pkt[4], pkt[5]]);
        let seq0 = seq_of(pkt, cs);
        let payload = &pkt[hdr_len..];
        let n = payload.len().div_ceil(gso);
        payload
            .chunks(gso)
            .enumerate()
            .map(|(k, p)| {
                let mut tcp = pkt[cs..hdr_len].to_vec();
                tcp[4..8].copy_from_slice(&seq0.wrapping_add((k * gso) as u32).to_be_bytes());
                if k + 1 < n {
                    tcp[13] &= !TCP_PSH;
                }
                tcp.extend_from_slice(p);
                ip_wrap(v6, id0.wrapping_add(k as u16), tcp)
            })
            .collect()
    }

    fn run(pkts: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut c = Coalescer::new();
        let mut writes = Vec::new();
        let mut out = |b: &[u8]| writes.push(b.to_vec());
        for p in pkts {
            c.push(p, &mut out);
        }
        c.flush(&mut out);
        writes
    }

    fn delivered(writes: &[Vec<u8>]) -> Vec<Vec<u8>> {
        writes.iter().flat_map(|w| kernel_segments(w)).collect()
    }

    #[test]
    fn a_run_of_full_segments_becomes_one_write_the_kernel_cuts_back() {
        for v6 in [false, true] {
            let mut pkts: Vec<_> = (0..10)
                .map(|k| {
                    seg(
                        v6,
                        100 + k,
                        1000 + 1448 * u32::from(k),
                        TCP_ACK,
                        1448,
                        k as u8,
                    )
                })
                .collect();
            // The last one short and pushed, as at the end of a write.
            pkts.push(seg(v6, 110, 1000 + 1448 * 10, TCP_ACK | TCP_PSH, 300, 9));
            let writes = run(&pkts);
            assert_eq!(writes.len(), 1, "v6 {v6}");
            assert_eq!(delivered(&writes), pkts, "v6 {v6}");
        }
    }

    /// A packet of several segments the engine formed itself (TSO) opens a
    /// group that the following full segments join; the kernel cuts the
    /// one write into exactly the segments one by one would have been.
    #[test]
    fn a_super_segment_from_the_engine_opens_a_group() {
        for v6 in [false, true] {
            let sup = seg(v6, 100, 1000, TCP_ACK, 3000, 0);
            let singles: Vec<Vec<u8>> = (0..3u32)
                .map(|k| {
                    seg(
                        v6,
                        100 + k as u16,
                        1000 + 1000 * k,
                        TCP_ACK,
                        1000,
                        (1000 * k) as u8,
                    )
                })
                .collect();
            let after = [
                seg(v6, 103, 4000, TCP_ACK, 1000, 0),
                seg(v6, 104, 5000, TCP_ACK | TCP_PSH, 400, 0),
            ];
            let mut c = Coalescer::new();
            let mut writes = Vec::new();
            let mut out = |b: &[u8]| writes.push(b.to_vec());
            let mut asked = Vec::new();
            let taken = c.push_with(
                |slot, max| {
                    asked.push(max);
                    slot[..sup.len()].copy_from_slice(&sup);
                    Some((sup.len(), 1000))
                },
                &mut out,
            );
            assert_eq!(taken, 3);
            for p in &after {
                let taken = c.push_with(
                    |slot, max| {
                        asked.push(max);
                        slot[..p.len()].copy_from_slice(p);
                        Some((p.len(), 0))
                    },
                    &mut out,
                );
                assert_eq!(taken, 1);
            }
            c.flush(&mut out);
            // Several segments were offered only with no group open.
            assert_eq!(asked, [MAX_SEGS as u16, 1, 1]);
            assert_eq!(writes.len(), 1, "v6 {v6}");
            let want: Vec<Vec<u8>> = singles.into_iter().chain(after).collect();
            assert_eq!(delivered(&writes), want, "v6 {v6}");
        }
    }

    /// A packet of several segments that others may not join (here with
    /// FIN) still goes as one super-segment the kernel cuts, alone.
    #[test]
    fn a_super_segment_nothing_may_join_goes_cut_and_alone() {
        const TCP_FIN: u8 = 0x01;
        let sup = seg(false, 100, 1000, TCP_ACK | TCP_FIN, 2500, 0);
        let mut c = Coalescer::new();
        let mut writes = Vec::new();
        let mut out = |b: &[u8]| writes.push(b.to_vec());
        let taken = c.push_with(
            |slot, _| {
                slot[..sup.len()].copy_from_slice(&sup);
                Some((sup.len(), 1000))
            },
            &mut out,
        );
        assert_eq!(taken, 3);
        c.flush(&mut out);
        assert_eq!(writes.len(), 1);
        let got = delivered(&writes);
        let lens: Vec<usize> = got.iter().map(|p| p.len() - 20 - 32).collect();
        assert_eq!(lens, [1000, 1000, 500]);
        // FIN stays on the packet's segments here (the test's cutter
        // clears only PSH); what matters is one GSO write of three.
        assert_eq!(seq_of(&got[2], 20), 3000);
    }

    #[test]
    fn what_cannot_be_joined_goes_alone_in_order() {
        let s = |id, seq, flags, len| seg(false, id, seq, flags, len, 1);
        let mut other_port = s(9, 5000, TCP_ACK, 1448);
        other_port[20] ^= 1;
        let other_port = ip_wrap(false, 9, other_port[20..].to_vec());
        let pkts = vec![
            s(1, 0, TCP_ACK, 1448),
            s(2, 1448, TCP_ACK | TCP_PSH, 1448), // joins, then closes the group
            s(3, 2896, TCP_ACK, 1448),           // new group
            s(4, 9999, TCP_ACK, 1448),           // a gap in sequence
            other_port,                          // another connection
            s(5, 11447, TCP_ACK | 0x01, 100),    // FIN: never joined
            s(6, 20000, TCP_ACK, 0),             // a pure ACK
            s(7, 30000, TCP_ACK, 700),           // short first ...
            s(8, 30700, TCP_ACK, 1448),          // ... a longer one may not follow
        ];
        let writes = run(&pkts);
        assert_eq!(writes.len(), pkts.len() - 1);
        assert_eq!(delivered(&writes), pkts);
    }

    /// `pkt` as an engine with `Config::tx_checksum_offload` writes it: the
    /// TCP checksum field holds only the pseudo-header sum.
    fn checksum_left_partial(pkt: &[u8]) -> Vec<u8> {
        use finack_core::wire::checksum::pseudo_header_sum;
        let v6 = pkt[0] >> 4 == 6;
        let iph = if v6 { 40 } else { 20 };
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (A6.into(), B6.into())
        } else {
            (A4.into(), B4.into())
        };
        let sum = pseudo_header_sum(src, dst, 6, (pkt.len() - iph) as u32);
        let mut p = pkt.to_vec();
        p[iph + 16..iph + 18].copy_from_slice(&fold(sum).to_be_bytes());
        p
    }

    #[test]
    fn segments_whose_checksum_the_engine_left_to_the_kernel_arrive_whole() {
        for v6 in [false, true] {
            let s = |id, seq, flags, len| seg(v6, id, seq, flags, len, 3);
            let pkts = vec![
                s(1, 0, TCP_ACK, 1448),
                s(2, 1448, TCP_ACK, 1448),
                s(3, 2896, TCP_ACK | TCP_PSH, 1000),
                s(4, 3896, TCP_ACK | 0x01, 10), // FIN alone
                s(5, 9000, TCP_ACK, 0),         // pure ACK alone
                s(6, 9000, 0x02, 0),            // SYN alone
            ];
            let partial: Vec<_> = pkts.iter().map(|p| checksum_left_partial(p)).collect();
            assert_ne!(partial, pkts);
            let writes = run(&partial);
            assert_eq!(writes.len(), 4);
            for w in &writes {
                assert_eq!(w[0], VIRTIO_NET_HDR_F_NEEDS_CSUM, "every TCP write");
            }
            assert_eq!(writes[0][1] & 0x7f, if v6 { 4 } else { 1 });
            assert!(writes[1..].iter().all(|w| w[1] == VIRTIO_NET_HDR_GSO_NONE));
            assert_eq!(delivered(&writes), pkts, "v6 {v6}");
        }
    }

    #[test]
    fn without_segmentation_offload_every_segment_is_written_alone() {
        for v6 in [false, true] {
            let pkts: Vec<_> = (0..6u16)
                .map(|k| seg(v6, k, 1448 * u32::from(k), TCP_ACK, 1448, k as u8))
                .collect();
            let partial: Vec<_> = pkts.iter().map(|p| checksum_left_partial(p)).collect();
            let mut c = Coalescer::single();
            let mut writes = Vec::new();
            let mut out = |b: &[u8]| writes.push(b.to_vec());
            for p in &partial {
                c.push(p, &mut out);
            }
            // The engine is asked for one segment at a time.
            let mut asked = 0;
            let n = c.push_with(
                |slot, max| {
                    asked = max;
                    slot[..partial[0].len()].copy_from_slice(&partial[0]);
                    Some((partial[0].len(), 0))
                },
                &mut out,
            );
            c.flush(&mut out);
            assert_eq!((n, asked), (1, 1));
            assert_eq!(writes.len(), pkts.len() + 1, "v6 {v6}");
            for w in &writes {
                assert_eq!(w[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
                assert_eq!(w[1], VIRTIO_NET_HDR_GSO_NONE);
            }
            let mut want = pkts.clone();
            want.push(pkts[0].clone());
            assert_eq!(delivered(&writes), want, "v6 {v6}");
        }
    }

    #[test]
    fn segments_the_kernel_left_partial_are_joined_on_receive() {
        let trusted = RxOffload {
            gso_size: 0,
            checksum_trusted: true,
        };
        for v6 in [false, true] {
            let iph = if v6 { 40 } else { 20 };
            let pkts: Vec<_> = (0..4u16)
                .map(|k| seg(v6, k, 700 + 1448 * u32::from(k), TCP_ACK, 1448, k as u8))
                .map(|p| checksum_left_partial(&p))
                .collect();
            let mut m = RxMerger::default();
            let mut got = Vec::new();
            let mut deliver = |p: &[u8], rx: RxOffload, n: u64| got.push((p.to_vec(), rx, n));
            for p in &pkts {
                m.push(p, trusted, &mut deliver);
            }
            m.flush(&mut deliver);
            assert_eq!(got.len(), 1, "v6 {v6}");
            let (pkt, rx, n) = &got[0];
            assert_eq!((*n, rx.gso_size, rx.checksum_trusted), (4, 1448, true));
            assert_eq!(seq_of(pkt, iph), 700);
            // The same partial segments unmarked fail the checksum and go
            // one by one, as they came.
            let mut m = RxMerger::default();
            let mut alone = Vec::new();
            let mut deliver = |p: &[u8], rx: RxOffload, n: u64| alone.push((p.to_vec(), rx, n));
            for p in &pkts {
                m.push(p, RxOffload::default(), &mut deliver);
            }
            m.flush(&mut deliver);
            assert_eq!(alone.len(), 4, "v6 {v6}");
        }
    }

    /// What an [`RxMerger`] hands the engine for `pkts`: (packet, offload,
    /// segments) in order.
    fn merged(pkts: &[Vec<u8>]) -> Vec<(Vec<u8>, RxOffload, u64)> {
        let mut m = RxMerger::default();
        let mut got = Vec::new();
        let mut deliver = |p: &[u8], rx: RxOffload, n: u64| got.push((p.to_vec(), rx, n));
        for p in pkts {
            m.push(p, RxOffload::default(), &mut deliver);
        }
        m.flush(&mut deliver);
        got
    }

    #[test]
    fn received_segments_are_joined_as_the_kernel_joins_them() {
        for v6 in [false, true] {
            let iph = if v6 { 40 } else { 20 };
            let mut pkts: Vec<_> = (0..10u16)
                .map(|k| seg(v6, k, 5000 + 1448 * u32::from(k), TCP_ACK, 1448, k as u8))
                .collect();
            pkts.push(seg(v6, 10, 5000 + 14_480, TCP_ACK | TCP_PSH, 300, 10));
            let got = merged(&pkts);
            assert_eq!(got.len(), 1, "v6 {v6}");
            let (pkt, rx, n) = &got[0];
            assert_eq!(*n, 11);
            assert_eq!(rx.gso_size, 1448);
            assert!(rx.checksum_trusted);
            assert_eq!(seq_of(pkt, iph), 5000);
            assert_ne!(pkt[iph + 13] & TCP_PSH, 0, "PSH of the last");
            let payload: Vec<u8> = pkts.iter().flat_map(|p| p[iph + 32..].to_vec()).collect();
            assert_eq!(&pkt[iph + 32..], &payload[..]);
            // The IP length covers it all (and IPv4's header checksum).
            if v6 {
                assert_eq!(
                    usize::from(u16::from_be_bytes([pkt[4], pkt[5]])) + 40,
                    pkt.len()
                );
            } else {
                assert_eq!(usize::from(u16::from_be_bytes([pkt[2], pkt[3]])), pkt.len());
                assert_eq!(checksum(&pkt[..20]), 0);
            }
        }
    }

    #[test]
    fn a_segment_with_a_bad_checksum_and_other_packets_pass_as_they_came() {
        let s = |k: u16, len| seg(false, k, 1448 * u32::from(k), TCP_ACK, len, 0);
        let mut bad = s(2, 1448);
        bad[20 + 16] ^= 0x40;
        let icmp = {
            let mut p = s(9, 8);
            p[9] = 1;
            p
        };
        let ack = seg(false, 7, 99, TCP_ACK, 0, 0);
        let pkts = vec![
            s(0, 1448),
            s(1, 1448),
            bad.clone(),
            s(3, 1448),
            icmp.clone(),
            ack.clone(),
        ];
        let got = merged(&pkts);
        let kinds: Vec<_> = got
            .iter()
            .map(|(p, rx, n)| (p.len(), rx.gso_size, *n))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (20 + 32 + 2 * 1448, 1448, 2),
                (bad.len(), 0, 1),
                (20 + 32 + 1448, 0, 1),
                (icmp.len(), 0, 1),
                (ack.len(), 0, 1),
            ]
        );
        // What was not joined reaches the engine untouched, unverified.
        assert_eq!(got[1].0, bad);
        assert!(!got[1].1.checksum_trusted);
        assert_eq!(got[3].0, icmp);
        assert_eq!(got[4].0, ack);
        // A verified segment alone is trusted: its checksum field was left
        // as the pseudo-header sum.
        assert!(got[2].1.checksum_trusted);
    }

    proptest::proptest! {
        /// Any sequence of segments (two connections, sizes from tiny to
        /// full, PSH and FIN here and there, sequence gaps), written into
        /// the coalescer in place, reaches the kernel's far side exactly as
        /// the engine wrote it, in order.
        #[test]
        fn what_the_kernel_delivers_is_what_the_engine_wrote(
            v6 in proptest::bool::ANY,
            steps in proptest::collection::vec(
                (0u8..10, 0usize..1449, 0u8..10, proptest::bool::ANY),
                1..120,
            ),
        ) {
            let mut seqs = [1000u32, 900_000];
            let mut pkts = Vec::new();
            for (k, &(conn, len, flag, gap)) in steps.iter().enumerate() {
                let c = usize::from(conn == 0);
                // Full-sized, tiny (shorter than the headers) or any.
                let len = match flag {
                    7 => 1448,
                    8 | 9 => len % 40,
                    _ => len,
                };
                let flags = match flag {
                    0 => TCP_ACK | TCP_PSH,
                    1 => TCP_ACK | 0x01,
                    _ => TCP_ACK,
                };
                if gap && flag == 2 {
                    seqs[c] = seqs[c].wrapping_add(1448);
                }
                let mut p = seg(v6, k as u16, seqs[c], flags, len, k as u8);
                if c == 1 {
                    // The other connection: another source port.
                    let iph = if v6 { 40 } else { 20 };
                    p[iph] ^= 1;
                    p = ip_wrap(v6, k as u16, p[iph..].to_vec());
                }
                seqs[c] = seqs[c].wrapping_add(len as u32);
                pkts.push(p);
            }
            let writes = run(&pkts);
            proptest::prop_assert!(writes.len() <= pkts.len());
            proptest::prop_assert_eq!(delivered(&writes), pkts);
        }
    }

    #[test]
    fn a_group_stops_at_64_kib_and_at_max_segs() {
        let pkts: Vec<_> = (0..100u16)
            .map(|k| seg(false, k, 1448 * u32::from(k), TCP_ACK, 1448, 0))
            .collect();
        let writes = run(&pkts);
        assert!(writes.iter().all(|w| w.len() - VNET_HDR_LEN <= MAX_IP_LEN));
        assert_eq!(writes.len(), 3, "45 + 45 + 10 segments of 1448 bytes");
        assert_eq!(delivered(&writes), pkts);
        let tiny: Vec<_> = (0..130u16)
            .map(|k| seg(false, k, 10 * u32::from(k), TCP_ACK, 10, 0))
            .collect();
        let writes = run(&tiny);
        assert_eq!(writes.len(), 3, "64 + 64 + 2");
        assert_eq!(delivered(&writes), tiny);
    }

    #[test]
    fn a_changed_header_field_starts_a_new_group() {
        let base = |id, seq| seg(false, id, seq, TCP_ACK, 1448, 0);
        // Window, ACK number, timestamp, TTL, TOS: each different from the
        // segment before.
        for (at, ip) in [
            (14 + 20, false),
            (8 + 20, false),
            (30 + 20, false),
            (8, true),
            (1, true),
        ] {
            let a = base(1, 0);
            let mut b = base(2, 1448);
            b[at] ^= 0x40;
            let b = if ip {
                let mut h = b[..20].to_vec();
                h[10..12].fill(0);
                let c = checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                [h, b[20..].to_vec()].concat()
            } else {
                ip_wrap(false, 2, b[20..].to_vec())
            };
            let writes = run(&[a.clone(), b.clone()]);
            assert_eq!(writes.len(), 2, "byte {at}");
            assert_eq!(delivered(&writes), vec![a, b]);
        }
    }

    #[test]
    fn a_read_says_what_the_kernel_offloaded() {
        let pkt = seg(false, 1, 0, TCP_ACK, 1448, 0);
        let run = [
            seg(false, 1, 0, TCP_ACK, 1448, 0),
            seg(false, 2, 1448, TCP_ACK, 1448, 0),
        ];
        let write = &super::tests::run(&run)[0];
        let (p, rx) = tun_read(write, true).unwrap();
        assert_eq!(p, &write[VNET_HDR_LEN..]);
        assert_eq!(
            rx,
            RxOffload {
                gso_size: 1448,
                checksum_trusted: true
            }
        );
        let mut whole = vec![0u8; VNET_HDR_LEN];
        whole.extend_from_slice(&pkt);
        assert_eq!(
            tun_read(&whole, true),
            Some((&pkt[..], RxOffload::default()))
        );
        whole[0] = VIRTIO_NET_HDR_F_DATA_VALID;
        assert!(tun_read(&whole, true).unwrap().1.checksum_trusted);
        // UDP GSO (type 5) is no TCP segment size.
        whole[1] = 5;
        whole[4] = 100;
        assert_eq!(tun_read(&whole, true).unwrap().1.gso_size, 0);
        assert_eq!(
            tun_read(&pkt, false),
            Some((&pkt[..], RxOffload::default()))
        );
        assert_eq!(tun_read(&pkt[..5], true), None);
    }

    #[test]
    fn garbage_goes_out_untouched() {
        let junk = vec![vec![], vec![0x45], vec![0x60; 30], vec![0x45; 60]];
        let writes = run(&junk);
        assert_eq!(writes.len(), junk.len());
        for (w, j) in writes.iter().zip(&junk) {
            assert_eq!(&w[VNET_HDR_LEN..], &j[..]);
            assert!(w[..VNET_HDR_LEN].iter().all(|&b| b == 0));
        }
    }
}
