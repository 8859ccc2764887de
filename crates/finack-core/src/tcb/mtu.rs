//! Packetization-layer path MTU discovery (RFC 4821) as Linux does it, and
//! the path MTU a connection's segment size comes from.
//!
//! Linux keeps the MTU its segment size was computed from (`icsk_pmtu_cookie`)
//! and a search range for probing (`icsk_mtup`): `search_low`, an MTU known to
//! work, and `search_high`, one that may. With probing on, segments are no
//! larger than `search_low` allows (tcp_output.c: tcp_sync_mss()); now and
//! then one segment is built at the middle of the range (tcp_mtu_probe()).
//! Its acknowledgement raises `search_low` to it (tcp_input.c:
//! tcp_mtup_probe_success()); its loss lowers `search_high` below it
//! (tcp_mtup_probe_failed()). A retransmission of anything leaves the probe
//! inconclusive (tcp_retransmit_skb()).
//!
//! A route whose MTU changes while the connection runs is seen the way a
//! socket's cached route is: the next packet sent revalidates the route
//! (ip_queue_xmit() → __sk_dst_check()), and the segment size follows at the
//! next computation of the current MSS (tcp_current_mss()).
//!
//! The state lives in the connection's lazily allocated loss-recovery state
//! ([`super::recovery::Recovery`]): connections that never probe and never
//! see a route change pay nothing.

use finack_wire::SeqNumber;

use finack_wire::TcpFlags;

use super::{clamp_user_mss, Tcb};
use crate::config::{Config, MtuProbing};
use crate::time::Instant;
use crate::types::TimerKind;

/// Linux `TCP_MIN_SND_MSS`: the smallest segment size (also the default
/// `tcp_mtu_probe_floor`).
const MIN_SND_MSS: u16 = 48;

/// Linux `tcp_retries1` (3): timeouts in a row before the path is
/// suspected (black hole detection).
pub(crate) const RETRIES1: u32 = 3;

/// What tcp_mtu_probe() decides.
enum Probe {
    /// A probe of this many bytes goes now.
    Send(usize),
    /// Nothing is sent until the windows let the probe go.
    Wait,
    /// No probe: send as usual.
    No,
}

/// One connection's path MTU state (Linux `icsk_mtup`, `icsk_pmtu_cookie`,
/// `tp->mtu_probe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathMtu {
    /// Probing is on for this connection.
    pub(crate) enabled: bool,
    /// The largest MTU the search still considers.
    pub(crate) search_high: u16,
    /// An MTU known to get through.
    pub(crate) search_low: u16,
    /// The MTU of the probe in flight, 0 when none is.
    pub(crate) probe_size: u16,
    /// The probe's sequence range.
    pub(crate) probe_start: SeqNumber,
    pub(crate) probe_end: SeqNumber,
    /// When the search (re)started or last succeeded.
    pub(crate) stamp: Instant,
    /// The MTU the current segment size was computed from.
    pub(crate) cookie: u16,
    /// The route's MTU as the connection's cached route has it.
    pub(crate) route: u16,
    /// A new route MTU, taken up by the next packet sent.
    pub(crate) route_pending: Option<u16>,
    /// Output is in the middle of a burst: Linux computes the segment size
    /// once per tcp_write_xmit() call, which sends everything that may go.
    pub(crate) in_burst: bool,
}

impl Tcb {
    /// IP header bytes for this connection's family.
    fn net_header_len(&self) -> u16 {
        if self.remote.is_ipv4() {
            20
        } else {
            40
        }
    }

    /// TCP header bytes of a data segment: the fixed header and the
    /// timestamp option when in use (Linux `tp->tcp_header_len`).
    fn tcp_header_len(&self) -> u16 {
        20 + if self.ts_ok { 12 } else { 0 }
    }

    /// Linux `rx_opt.mss_clamp`: the peer's MSS, lowered by TCP_MAXSEG.
    fn mss_clamp(&self) -> u16 {
        clamp_user_mss(self.rcv.user_mss, self.snd.peer_mss)
    }

    /// The packet size the peer's MSS allows: where the search starts from
    /// (tcp_mtup_init()) and starts again (tcp_mtu_check_reprobe()).
    fn search_ceiling(&self) -> u16 {
        self.mss_clamp() + 20 + self.net_header_len()
    }

    /// Linux tcp_output.c: tcp_mtu_to_mss(): the data a segment of `pmtu`
    /// bytes carries, never above the peer's MSS nor below 48.
    pub(crate) fn mtu_to_mss(&self, pmtu: u16) -> u16 {
        let mss = pmtu
            .saturating_sub(self.net_header_len() + 20)
            .min(self.mss_clamp());
        mss.saturating_sub(self.tcp_header_len() - 20)
            .max(MIN_SND_MSS)
    }

    /// Linux tcp_output.c: tcp_mss_to_mtu(): the packet size of a segment
    /// carrying `mss` bytes.
    pub(crate) fn mss_to_mtu(&self, mss: u16) -> u16 {
        mss.saturating_add(self.tcp_header_len() + self.net_header_len())
    }

    /// Linux tcp_output.c: tcp_mtup_init(), from tcp_connect_init() for an
    /// active opener and tcp_init_transfer() once a connection is set up:
    /// the search runs from `base_mss` to what the peer's MSS allows. The
    /// segment size is left as it is until the path MTU is next synced.
    pub(crate) fn mtu_probing_init(&mut self, cfg: &Config, now: Instant) {
        if cfg.mtu_probing == MtuProbing::Off && self.rec.path_mtu.is_none() {
            return;
        }
        let fresh = self.fresh_path_mtu(cfg, now);
        let (search_high, search_low) = (fresh.search_high, fresh.search_low);
        let p = self.rec.get_mut().path_mtu.get_or_insert(fresh);
        p.enabled = cfg.mtu_probing == MtuProbing::Always;
        p.search_high = search_high;
        p.search_low = search_low;
        p.probe_size = 0;
        p.stamp = now;
    }

    /// The send MSS the path allows is now `mss`; the effective one follows
    /// (`bound_mss`). Returns the effective MSS before and after.
    pub(crate) fn set_path_mss(&mut self, mss: u16) -> (u16, u16) {
        self.snd.path_mss = mss;
        self.bound_mss()
    }

    /// Linux tcp_output.c: tcp_bound_to_half_wnd(), applied whenever
    /// tcp_sync_mss() runs (a new path MTU, and tcp_ack_update_window()
    /// when the peer's largest window grows), under
    /// `Config::mss_half_window`: no segment larger than half the largest
    /// window the peer offered (all of it when that is at most 536 bytes),
    /// nor smaller than a 68-byte IP datagram allows (68 less the TCP
    /// header). Returns the effective MSS before and after.
    pub(crate) fn bound_mss(&mut self) -> (u16, u16) {
        let old = self.snd.mss;
        let w = self.snd.max_wnd;
        let cutoff = if w > 536 { w / 2 } else { w };
        let floor = 68 - 20 - if self.ts_ok { 12 } else { 0 };
        self.snd.mss =
            if self.snd.half_wnd_mss && cutoff > 0 && u32::from(self.snd.path_mss) > cutoff {
                cutoff.max(floor) as u16
            } else {
                self.snd.path_mss
            };
        (old, self.snd.mss)
    }

    /// SND.WND was just set: it may be the largest window the peer has
    /// offered (`max_wnd`). When that grows, the segment size follows
    /// (Linux tcp_ack_update_window() calls tcp_sync_mss() only then), the
    /// congestion window keeping its count of segments as Linux's does.
    pub(crate) fn note_peer_window(&mut self) {
        if self.snd.wnd <= self.snd.max_wnd {
            return;
        }
        self.snd.max_wnd = self.snd.wnd;
        let (old, new) = self.bound_mss();
        if old != new {
            self.cc.rescale_mss(u32::from(old), u32::from(new));
        }
    }

    /// Linux tcp_output.c: tcp_sync_mss(): the segment size for a path MTU
    /// of `pmtu`; with probing on, no larger than `search_low` allows.
    pub(crate) fn sync_mss(&mut self, pmtu: u16) {
        let mut mss = self.mtu_to_mss(pmtu);
        let low_mss = self
            .rec
            .path_mtu
            .as_ref()
            .map(|p| self.mtu_to_mss(p.search_low));
        let Some(p) = self.rec.get_mut().path_mtu.as_mut() else {
            return;
        };
        p.search_high = p.search_high.min(pmtu);
        p.cookie = pmtu;
        if p.enabled {
            mss = mss.min(low_mss.unwrap_or(mss));
        }
        self.set_path_mss(mss);
    }

    /// Linux tcp_output.c: tcp_current_mss(): a route MTU other than the one
    /// the segment size came from syncs it first.
    pub(crate) fn current_mss(&mut self) -> u16 {
        if let Some(route) = self
            .rec
            .path_mtu
            .as_ref()
            .filter(|p| p.route != p.cookie)
            .map(|p| p.route)
        {
            self.sync_mss(route);
        }
        self.snd.mss
    }

    /// Linux tcp_timer.c: tcp_mtu_probing(): repeated timeouts may mean
    /// large segments vanish on the path. With probing allowed, the first
    /// time turns it on (segments drop to `base_mss`); later times halve
    /// what is known to work, down to `base_mss` and 48 bytes.
    pub(crate) fn mtu_black_hole(&mut self, cfg: &Config, now: Instant) {
        if cfg.mtu_probing == MtuProbing::Off {
            return;
        }
        if self.rec.path_mtu.is_none() {
            self.mtu_probing_init(cfg, now);
        }
        let low_mss = self.rec.path_mtu.as_ref().map(|p| {
            (self.mtu_to_mss(p.search_low) >> 1)
                .min(cfg.base_mss)
                .max(MIN_SND_MSS)
        });
        let low_mtu = low_mss.map(|m| self.mss_to_mtu(m));
        let Some(p) = self.rec.get_mut().path_mtu.as_mut() else {
            return;
        };
        if !p.enabled {
            p.enabled = true;
            p.stamp = now;
        } else if let Some(low) = low_mtu {
            p.search_low = low;
        }
        let cookie = p.cookie;
        self.sync_mss(cookie);
    }

    /// A burst of output begins (Linux tcp_write_xmit() takes
    /// tcp_current_mss() once, at its start) unless one is under way.
    pub(crate) fn xmit_begin(&mut self) {
        let Some(p) = self.rec.allocated().and_then(|r| r.path_mtu.as_mut()) else {
            return;
        };
        if !core::mem::replace(&mut p.in_burst, true) {
            self.current_mss();
        }
    }

    /// Output has nothing more to send now: the burst is over.
    pub(crate) fn xmit_end(&mut self) {
        if let Some(p) = self.rec.allocated().and_then(|r| r.path_mtu.as_mut()) {
            p.in_burst = false;
        }
    }

    /// The route towards the peer now has an MTU of `mtu` (`ip route
    /// change ... mtu`): taken up when the next packet leaves.
    pub(crate) fn set_route_mtu(&mut self, cfg: &Config, now: Instant, mtu: u16) {
        // With probing off the state is kept only for the route.
        let fresh = self.fresh_path_mtu(cfg, now);
        self.rec
            .get_mut()
            .path_mtu
            .get_or_insert(fresh)
            .route_pending = Some(mtu);
    }

    /// The state tcp_mtup_init() starts from: probing off, the search from
    /// `base_mss` to what the peer's MSS allows, the route's MTU from `cfg`.
    fn fresh_path_mtu(&self, cfg: &Config, now: Instant) -> PathMtu {
        PathMtu {
            enabled: false,
            search_high: self.search_ceiling(),
            search_low: self.mss_to_mtu(cfg.base_mss),
            probe_size: 0,
            probe_start: SeqNumber(0),
            probe_end: SeqNumber(0),
            stamp: now,
            cookie: cfg.mtu,
            route: cfg.mtu,
            route_pending: None,
            in_burst: false,
        }
    }

    /// An ICMP "packet too big" lowered the path MTU to `mtu` (Linux
    /// tcp_v4_mtu_reduced() updates the route, then tcp_sync_mss()): the
    /// search range cannot go above it.
    pub(crate) fn path_mtu_reduced(&mut self, mtu: u16) {
        if let Some(p) = self.rec.allocated().and_then(|r| r.path_mtu.as_mut()) {
            p.route = p.route.min(mtu);
            p.cookie = p.route;
            p.search_high = p.search_high.min(mtu);
            p.search_low = p.search_low.min(mtu);
        }
    }

    /// A packet left: the cached route is checked again (ip_queue_xmit()).
    pub(crate) fn route_revalidate(&mut self) {
        if let Some(p) = self.rec.allocated().and_then(|r| r.path_mtu.as_mut()) {
            if let Some(m) = p.route_pending.take() {
                p.route = m;
            }
        }
    }

    /// Linux tcp_output.c: tcp_mtu_probe(): whether a probe segment goes
    /// now from SND.NXT. `queued` is the bytes not yet sent, `in_flight`
    /// the segments out and `cwnd` the congestion window in segments.
    fn mtu_probe_decision(
        &mut self,
        cfg: &Config,
        now: Instant,
        queued: usize,
        in_flight: u32,
        cwnd: u32,
    ) -> Probe {
        let Some(p) = self.rec.path_mtu.as_ref() else {
            return Probe::No;
        };
        // Not probing already, not recovering, a window of at least 11
        // segments, no SACK blocks to carry.
        if !p.enabled
            || p.probe_size != 0
            || self.rec.recover.is_some()
            || self.rec.cwr.is_some()
            || self.rec.dupacks > 0
            || cwnd < 11
            || !self.rec.sacked.is_empty()
        {
            return Probe::No;
        }
        let mss_now = self.snd.mss;
        let probe_mss =
            self.mtu_to_mss(((u32::from(p.search_high) + u32::from(p.search_low)) / 2) as u16);
        let interval = p.search_high.saturating_sub(p.search_low);
        if probe_mss > self.mtu_to_mss(p.search_high) || interval < cfg.probe_threshold {
            // Linux tcp_mtu_check_reprobe(): after probe_interval the search
            // starts again from the top.
            if now.saturating_duration_since(p.stamp) >= cfg.probe_interval {
                let high = self.search_ceiling();
                let low_mss = self.mtu_to_mss(p.search_low);
                let low = self.mss_to_mtu(low_mss);
                if let Some(p) = self.rec.get_mut().path_mtu.as_mut() {
                    p.search_high = high;
                    p.search_low = low;
                    p.stamp = now;
                }
            }
            return Probe::No;
        }
        let dupthresh = u32::from(self.rec.reordering).max(cfg.dupthresh);
        let size_needed = usize::from(probe_mss) + (dupthresh as usize + 1) * usize::from(mss_now);
        // Enough data queued, and a peer's window that can take it.
        if queued < size_needed || (self.snd.wnd as usize) < size_needed {
            return Probe::No;
        }
        // Not yet room in the window: wait for it rather than send small.
        if (self.snd.una + self.snd.wnd).lt(self.snd.nxt + size_needed as u32) {
            return Probe::Wait;
        }
        // Room in cwnd for the probe and the segment after it; with
        // nothing in flight, do not stall.
        if in_flight + 2 > cwnd {
            return if in_flight == 0 {
                Probe::No
            } else {
                Probe::Wait
            };
        }
        // tcp_can_coalesce_send_queue_head(): the probe may not run across
        // the end of a MSG_EOR record.
        let off = (self.snd.nxt - self.snd.buf_seq).max(0) as usize;
        let len = usize::from(probe_mss);
        let mut at = off;
        while let Some(u) = self.snd.buf.next_mark_after(at) {
            if u.end >= off + len {
                break;
            }
            if u.eor {
                return Probe::No;
            }
            at = u.end;
        }
        Probe::Send(len)
    }

    /// Send an MTU probe if one is due (tcp_write_xmit() calls
    /// tcp_mtu_probe() before anything else): `Some(Some(n))` a probe of
    /// `n` bytes was written to `buf`, `Some(None)` nothing may be sent
    /// now, `None` go on as usual.
    pub(crate) fn output_mtu_probe(
        &mut self,
        now: Instant,
        cfg: &Config,
        buf: &mut [u8],
        avail: usize,
    ) -> Option<Option<usize>> {
        self.rec.path_mtu.as_ref()?;
        let mss = self.snd.mss.max(1);
        let in_flight = self.snd.packets_out();
        let cwnd = self.cc.cwnd() / u32::from(mss);
        let len = match self.mtu_probe_decision(cfg, now, avail, in_flight, cwnd) {
            Probe::No => return None,
            Probe::Wait => return Some(None),
            Probe::Send(len) if len + super::output::MIN_BUFFER <= buf.len() => len,
            Probe::Send(_) => return None,
        };
        let seq = self.snd.nxt;
        let off = (seq - self.snd.buf_seq).max(0) as usize;
        let mut flags = TcpFlags::ACK;
        // The probe takes the flags of the units it swallows whole.
        if self
            .snd
            .buf
            .next_mark_after(off)
            .is_some_and(|u| u.psh && u.end == off + len)
        {
            flags |= TcpFlags::PSH;
        }
        self.snd.piece_left = 0;
        self.snd.nxt = seq + len as u32;
        self.snd.max = self.snd.max.max(self.snd.nxt);
        if self.snd.rtt_probe.get().is_none() && !self.ts_ok {
            self.snd.rtt_probe.set(Some((seq, now)));
        }
        self.snd.last_data_sent = now;
        self.mtu_probe_sent(seq, len);
        if self.timers.get(TimerKind::Retransmit).is_none() {
            self.timers.set(
                TimerKind::Retransmit,
                Some(now + self.snd.rtt.backed_off(self.snd.backoff, cfg)),
            );
        }
        self.schedule_tlp(now, cfg);
        self.pacing_on_send(
            now,
            cfg,
            len,
            len.div_ceil(usize::from(self.snd.mss.max(1))) as u32,
        );
        Some(Some(self.emit(now, cfg, buf, seq, flags, off, len, true)))
    }

    /// A probe of `len` bytes from `seq` went out (tcp_mtu_probe(): the
    /// window gives up one segment, as the probe is worth two).
    pub(crate) fn mtu_probe_sent(&mut self, seq: SeqNumber, len: usize) {
        let mtu = self.mss_to_mtu(len as u16);
        let mss = u32::from(self.snd.mss);
        let cwnd = self.cc.cwnd();
        self.cc.set_cwnd(cwnd.saturating_sub(mss).max(mss));
        if let Some(p) = self.rec.get_mut().path_mtu.as_mut() {
            p.probe_size = mtu;
            p.probe_start = seq;
            p.probe_end = seq + len as u32;
        }
    }

    /// SND.UNA moved: an acknowledged probe raises the floor of the search
    /// (Linux tcp_input.c: tcp_clean_rtx_queue() → tcp_mtup_probe_success()):
    /// the window keeps its bytes in the larger segments, the threshold is
    /// at least three quarters of it, and the segment size grows.
    pub(crate) fn mtu_probe_acked(&mut self) {
        let Some(p) = self.rec.path_mtu.as_ref() else {
            return;
        };
        if p.probe_size == 0 || self.snd.una.lt(p.probe_end) {
            return;
        }
        let (probe, cookie) = (p.probe_size, p.cookie);
        let old_mtu = u32::from(self.mss_to_mtu(self.snd.mss));
        let mss = u32::from(self.snd.mss);
        let segs = self.cc.cwnd() / mss.max(1);
        let segs = (u64::from(segs) * u64::from(old_mtu) / u64::from(probe).max(1)).max(1) as u32;
        if let Some(p) = self.rec.get_mut().path_mtu.as_mut() {
            p.search_low = probe;
            p.probe_size = 0;
        }
        self.sync_mss(cookie);
        let new_mss = u32::from(self.snd.mss);
        self.cc.set_cwnd(segs * new_mss);
        // Linux tcp_current_ssthresh(): at least 3/4 of the window.
        let cwnd = self.cc.cwnd();
        self.cc.raise_ssthresh((cwnd >> 1) + (cwnd >> 2));
    }

    /// A segment is sent again. If it is the probe's first byte resent as
    /// a loss (not after a timeout), the probe failed: the search's ceiling
    /// drops below it and the window gets back the segment it gave up
    /// (Linux tcp_input.c: tcp_fastretrans_alert() → tcp_mtup_probe_failed());
    /// any other retransmission leaves the probe inconclusive
    /// (tcp_output.c: tcp_retransmit_skb()).
    pub(crate) fn mtu_probe_on_retransmit(&mut self, seq: SeqNumber, fast: bool) {
        let Some(p) = self.rec.path_mtu.as_ref() else {
            return;
        };
        if p.probe_size == 0 {
            return;
        }
        let failed = fast && seq == p.probe_start && self.snd.una == p.probe_start;
        let mss = u32::from(self.snd.mss);
        if let Some(p) = self.rec.get_mut().path_mtu.as_mut() {
            if failed {
                p.search_high = p.probe_size - 1;
            }
            p.probe_size = 0;
        }
        if failed {
            let cwnd = self.cc.cwnd();
            self.cc.set_cwnd(cwnd + mss);
        }
    }
}
