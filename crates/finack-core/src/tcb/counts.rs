//! What `tcp_info` counts of a connection's traffic and timeouts: the
//! segments and bytes sent (kept with the send side's history), the
//! segments received (kept with the receive side's estimates), and the
//! retransmission timeouts (kept with the loss-recovery state). Each count
//! sits with the part of the engine whose events it counts; the functions
//! here are where those events report to it.

use finack_wire::{TcpFlags, TcpRepr};

use super::Tcb;
use crate::time::Instant;
use crate::types::State;

/// What a connection sent (Linux `tp->segs_out`, `data_segs_out`,
/// `bytes_sent`, `bytes_retrans`) and when an acknowledgment last came
/// (`tp->rcv_tstamp`); part of the send side's history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TxCounts {
    /// Segments sent, with or without data, retransmissions included.
    pub(crate) segs: u32,
    /// Of those, the segments carrying data.
    pub(crate) data_segs: u32,
    /// Data bytes sent, retransmissions included.
    pub(crate) bytes: u64,
    /// Data bytes sent again.
    pub(crate) bytes_retrans: u64,
    /// When an acknowledgment was last taken (milliseconds of the engine's
    /// clock); `None` before any.
    pub(crate) ack_rcvd_ms: Option<u32>,
    /// Segments the peer acknowledged or SACKed (Linux `tp->delivered`).
    pub(crate) delivered: u32,
    /// Of those, the ones an ACK with ECE delivered (`tp->delivered_ce`).
    pub(crate) delivered_ce: u32,
}

/// What a connection received (Linux `tp->segs_in`, `data_segs_in`,
/// `rcv_ooopack`); part of the receive side's estimates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RxCounts {
    /// Segments that reached the connection, whatever became of them.
    pub(crate) segs: u32,
    /// Of those, the segments carrying data.
    pub(crate) data_segs: u32,
    /// Segments queued out of order.
    pub(crate) ooo: u32,
}

/// Linux's account of retransmission timeouts (`tp->total_rto`,
/// `total_rto_recoveries`, `total_rto_time`, `rto_stamp`,
/// `timeout_rehash`); part of the loss-recovery state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RtoStats {
    /// Timeouts that resent something, the handshake's included.
    pub(crate) total: u16,
    /// Runs of timeouts (a run starts when none came since SND.UNA last
    /// advanced).
    pub(crate) recoveries: u16,
    /// Milliseconds spent in runs that ended.
    pub(crate) time_ms: u32,
    /// When the run under way started (milliseconds), if one is.
    pub(crate) since_ms: Option<u32>,
    /// Timeouts that picked a new flow label / hash for the path.
    pub(crate) rehash: u16,
}

impl RtoStats {
    /// None yet.
    pub(crate) const NONE: RtoStats = RtoStats {
        total: 0,
        recoveries: 0,
        time_ms: 0,
        since_ms: None,
        rehash: 0,
    };

    /// Milliseconds in timeout runs, the one under way counted up to
    /// `now_ms` (Linux tcp.c: tcp_get_info(): total_rto_time plus the time
    /// since rto_stamp).
    pub(crate) fn time(&self, now_ms: u32) -> u32 {
        let running = self.since_ms.map_or(0, |s| now_ms.wrapping_sub(s));
        self.time_ms.wrapping_add(running)
    }
}

fn ms(now: Instant) -> u32 {
    now.as_millis() as u32
}

impl Tcb {
    /// A passive connection still in SYN-RECEIVED: Linux has only a request
    /// socket for it, whose segments the connection made from it never
    /// counts.
    pub(super) fn opening_passively(&self) -> bool {
        self.state == State::SynReceived && self.listener.is_some()
    }

    /// A segment of `len` data bytes (and `flags`) is formed; `new_data`:
    /// none of it was sent before. Linux tcp_output.c:
    /// __tcp_transmit_skb(): segs_out counts every segment (tcp_skb_pcount()
    /// of each skb: one per segment here), data_segs_out and bytes_sent
    /// those with data; tcp_retransmit_skb(): bytes_retrans.
    pub(super) fn count_segment_out(
        &mut self,
        now: Instant,
        flags: TcpFlags,
        len: usize,
        new_data: bool,
    ) {
        if len > 0 {
            // tcp_event_data_sent(): lsndtime, for any data sent, a loss
            // probe's or a retransmission's too.
            self.snd.last_data_sent = now;
        }
        if self.opening_passively() || (flags.syn() && self.listener.is_some()) {
            return;
        }
        let tx = &mut self.snd.history_mut().tx;
        tx.segs = tx.segs.wrapping_add(1);
        if len > 0 {
            tx.data_segs = tx.data_segs.wrapping_add(1);
            tx.bytes += len as u64;
            if !new_data {
                tx.bytes_retrans += len as u64;
            }
        }
    }

    /// A segment reached the connection. Linux tcp_ipv4.c: tcp_v4_rcv() →
    /// tcp_segs_in() counts each one a full socket is given, before any
    /// check (an unacceptable one too), as one segment per packet taken in
    /// whole here; data_segs_in those with data.
    pub(super) fn count_segment_in(&mut self, seg: &TcpRepr<'_>) {
        let rx = &mut self.est().rx;
        rx.segs = rx.segs.wrapping_add(1);
        if !seg.payload.is_empty() {
            rx.data_segs = rx.data_segs.wrapping_add(1);
        }
    }

    /// Out-of-order data was queued. Linux tcp_input.c:
    /// tcp_data_queue_ofo(): rcv_ooopack, once memory was found for it.
    pub(super) fn count_ooo_in(&mut self) {
        let rx = &mut self.est().rx;
        rx.ooo = rx.ooo.wrapping_add(1);
    }

    /// An acceptable acknowledgment arrived (Linux tcp_input.c: tcp_ack()
    /// stamps rcv_tstamp once SEG.ACK passed its checks). In-order data
    /// that the fast path takes and that acknowledges nothing new never
    /// reaches tcp_ack() (tcp_rcv_established()), so it leaves the stamp.
    pub(super) fn note_ack_arrival(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if self.state == State::Established && self.hp_skips_ack(seg) {
            return;
        }
        self.snd.history_mut().tx.ack_rcvd_ms = Some(ms(now));
    }

    /// `segs` segments reached the peer (Linux tcp_count_delivered()):
    /// counted for `tcpi_delivered` (and `tcpi_delivered_ce` when the ACK
    /// echoed congestion, `ece`), and, when an ACK told it, for nstat's
    /// TCPDelivered and TCPDeliveredCE (tcp_newly_delivered(); a passive
    /// open's SYN,ACK is counted apart, tcp_rcv_state_process()).
    pub(super) fn count_delivered(
        &mut self,
        segs: u32,
        ece: bool,
        stats: Option<&mut crate::types::Stats>,
    ) {
        if segs == 0 {
            return;
        }
        let tx = &mut self.snd.history_mut().tx;
        tx.delivered = tx.delivered.wrapping_add(segs);
        if ece {
            tx.delivered_ce = tx.delivered_ce.wrapping_add(segs);
        }
        if let Some(stats) = stats {
            stats.delivered += u64::from(segs);
            if ece {
                stats.delivered_ce += u64::from(segs);
            }
        }
    }

    /// The retransmission timer expired and resends (Linux tcp_timer.c:
    /// tcp_retransmit_timer() → tcp_update_rto_stats(): a timeout with none
    /// before it since SND.UNA last advanced starts a run; and
    /// tcp_write_timeout(): the path's hash is picked anew,
    /// tp->timeout_rehash, with net.core.txrehash on as by default). Called
    /// before `rto_retransmits` counts this one. A passive connection's
    /// SYN,ACK timeouts belong to Linux's request socket: the connection
    /// takes their number and one run when it is made (`handshake_end`).
    pub(super) fn rto_stats_on_timeout(&mut self, now: Instant) {
        let passive = self.opening_passively();
        let rec = self.rec.get_mut();
        let first = rec.rto_retransmits == 0;
        let s = &mut rec.rto_stats;
        s.total = s.total.saturating_add(1);
        if passive {
            return;
        }
        s.rehash = s.rehash.saturating_add(1);
        if first {
            s.recoveries = s.recoveries.saturating_add(1);
            s.since_ms = Some(ms(now));
        }
    }

    /// After a segment: a run of timeouts ends when the loss state it put
    /// the connection in does (Linux tcp_input.c: tcp_fastretrans_alert() →
    /// tcp_update_rto_time() once tcp_process_loss() left TCP_CA_Loss). A
    /// passive connection made after SYN,ACK timeouts counts one run, from
    /// its first SYN,ACK (`opened_at`) to now (tcp_minisocks.c:
    /// tcp_create_openreq_child()).
    pub(super) fn rto_clock_after_segment(&mut self, now: Instant, opened_at: Option<Instant>) {
        if let Some(at) = opened_at {
            if let Some(rec) = self.rec.allocated() {
                let s = &mut rec.rto_stats;
                if s.total > 0 {
                    s.recoveries = 1;
                    s.time_ms = ms(now).wrapping_sub(ms(at));
                }
            }
            return;
        }
        if self.after_rto() {
            return;
        }
        if let Some(rec) = self.rec.allocated() {
            let s = &mut rec.rto_stats;
            if let Some(since) = s.since_ms.take() {
                s.time_ms = s.time_ms.wrapping_add(ms(now).wrapping_sub(since));
            }
        }
    }

    /// The counts `tcp_info` reports, at `now`.
    pub(super) fn counts(
        &self,
        now: Instant,
        cfg: &crate::config::Config,
    ) -> crate::types::ConnCounts {
        use core::time::Duration;
        let tx = self.snd.history.as_ref().map(|h| h.tx).unwrap_or_default();
        let rx = self.rcv.est.as_ref().map(|e| e.rx).unwrap_or_default();
        let rto = self.rec.rto_stats;
        let now_ms = ms(now);
        let since = |t: Option<u32>| {
            Duration::from_millis(u64::from(t.map_or(0, |t| now_ms.wrapping_sub(t))))
        };
        crate::types::ConnCounts {
            // Linux icsk_retransmits: timeouts since SND.UNA last advanced.
            retransmits: if self.opening_passively() {
                0
            } else {
                self.rec.rto_retransmits
            },
            total_rto: rto.total,
            total_rto_recoveries: rto.recoveries,
            total_rto_time: Duration::from_millis(u64::from(rto.time(now_ms))),
            rehash: u32::from(rto.rehash),
            segs_out: tx.segs,
            data_segs_out: tx.data_segs,
            bytes_sent: tx.bytes,
            bytes_retrans: tx.bytes_retrans,
            // A passive connection starts with its SYN counted
            // (tcp_create_openreq_child(): segs_in = 1).
            segs_in: rx.segs + u32::from(self.listener.is_some()),
            data_segs_in: rx.data_segs,
            rcv_ooopack: rx.ooo,
            // Linux tcp_get_info(): now - lsndtime, now - rcv_tstamp.
            last_data_sent: since(Some(ms(self.snd.last_data_sent))),
            last_ack_recv: since(tx.ack_rcvd_ms),
            // icsk_pmtu_cookie: the MTU the segment size came from.
            pmtu: self
                .rec
                .path_mtu
                .as_ref()
                .map_or(cfg.mtu, |p| p.cookie)
                .into(),
            rcv_space: self.rcvq_space(),
            // write_seq - snd_nxt: unsent data, and a FIN queued unsent.
            notsent_bytes: self.snd.notsent() as u32 + u32::from(self.fin_unsent()),
            dsack_dups: self.rec.dsack_dups,
            delivered: tx.delivered,
            delivered_ce: tx.delivered_ce,
        }
    }
}
