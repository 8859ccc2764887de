//! Where RACK (RFC 8985 §6, [`super::rack`]) meets the connection: what an
//! ACK delivered, the reordering window, the scan for losses after an ACK and
//! when the reordering timer fires, and entering fast recovery on a loss
//! RACK proved (Linux tcp_input.c: tcp_identify_packet_loss(),
//! tcp_time_to_recover(), tcp_fastretrans_alert()); without RACK, by
//! duplicate ACKs (RFC 5681 §3.2); and PRR's step on each ACK of a
//! reduction (RFC 6937).

use core::time::Duration;

use finack_wire::{SeqNumber, TcpRepr};

use super::rack::{Deliveries, EVER_RETRANS};
use super::{Ctx, Tcb};
use crate::config::Config;
use crate::time::Instant;
use crate::types::TimerKind;

/// Linux `tcp_max_reordering` (default 300): the most tp->reordering grows to.
pub(super) const MAX_REORDERING: u32 = 300;

/// Linux TCP_TIMEOUT_MIN_US: the reordering timer waits this much beyond
/// the moment a segment would count as lost.
const REO_TIMER_SLACK: Duration = Duration::from_millis(2);

impl Tcb {
    /// RACK decides losses: on in the configuration (Linux `tcp_recovery`
    /// bit 0) and SACK in use (Linux tcp_identify_packet_loss() keeps the
    /// NewReno rule for a connection without SACK).
    pub(crate) fn rack_on(&self, cfg: &Config) -> bool {
        cfg.rack && self.sack_ok
    }

    /// In the loss state after a retransmission timeout.
    pub(crate) fn after_rto(&self) -> bool {
        self.rec
            .rto_recover
            .is_some_and(|r| self.snd.una.lt(r) || (self.snd.una == r && self.rec.loss.reno_held))
    }

    /// A data segment or FIN `seq..end` left now: its send time is recorded.
    pub(super) fn rack_on_send(
        &mut self,
        cfg: &Config,
        seq: SeqNumber,
        end: SeqNumber,
        now: Instant,
    ) {
        if self.rack_on(cfg) {
            if let Some(log) = self.snd.buf.sent_mut() {
                log.on_send(seq, end, now);
            }
        }
    }

    /// The data segment at `seq`, just sent, left in the same GSO packet as
    /// the segment before it: one skb of the retransmission queue.
    pub(super) fn rack_join_prev(&mut self, cfg: &Config, seq: SeqNumber) {
        if self.rack_on(cfg) {
            if let Some(log) = self.snd.buf.sent_mut() {
                log.join_prev(seq);
            }
        }
    }

    /// Does the resent segment of `len` bytes at `seq` end a GSO packet of
    /// several segments (`SentLog::rexmit_packet_end`)? Linux
    /// tcp_output.c: tcp_xmit_retransmit_queue() lets an skb take as many
    /// segments as the congestion window has free (cwnd less the packets
    /// in flight), at most tcp_tso_segs() (`gso_group`), and
    /// __tcp_retransmit_skb() no more than the peer's window holds in
    /// whole segments, at least one; in urgent mode one (each segment
    /// needs its own urgent pointer).
    pub(super) fn rexmit_gso_end(
        &mut self,
        now: Instant,
        cfg: &Config,
        seq: SeqNumber,
        len: usize,
    ) -> bool {
        if !self.rack_on(cfg) || !cfg.linux_push || !cfg.gso_psh || len == 0 {
            return false;
        }
        let mss = u32::from(self.snd.mss.max(1));
        let free = self.cc.cwnd().saturating_sub(self.recovery_pipe(cfg)) / mss;
        let wnd = (self.snd.una + self.snd.wnd - seq).max(0) as u32 / mss;
        let tso = self.gso_group(cfg.gso_segs_min.unwrap_or(1));
        let urgent = self.snd.urgent_up().is_some();
        let budget = if urgent {
            1
        } else {
            free.min(wnd).min(tso).max(1)
        };
        let Some(log) = self.snd.buf.sent_mut() else {
            return false;
        };
        log.rexmit_packet_end(seq, seq + len as u32, budget, now)
    }

    /// The minimum RTT: Linux tcp_min_rtt() (a windowed minimum there, the
    /// least sample of the connection here).
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        (self.snd.min_rtt_us != u32::MAX)
            .then(|| Duration::from_micros(u64::from(self.snd.min_rtt_us)))
    }

    /// Linux tcp_retransmit_skb(): the first retransmission of an episode,
    /// by timeout or fast retransmit (not a loss probe, which Linux sends
    /// with __tcp_retransmit_skb()), starts `retrans_stamp`; it holds until
    /// recovery is over with nothing resent outstanding (`ack`).
    pub(super) fn stamp_first_retransmit(&mut self, now: crate::time::Instant) {
        if self.rec.retrans_stamp.is_none() {
            self.rec.get_mut().retrans_stamp = Some(now);
        }
    }

    /// A new RTT measurement (Linux tcp_ack_update_rtt()): the estimator and
    /// the minimum take it, and only such a sample takes the RTO back from
    /// its doublings (RFC 6298 §5, after §5.7; an ACK of retransmitted
    /// data, Karn, leaves them).
    pub(super) fn rtt_sample(&mut self, cfg: &Config, r: Duration) {
        self.snd.rtt.sample(r, cfg);
        self.note_min_rtt(r);
        self.snd.backoff = 0;
    }

    /// Fold an RTT sample into the minimum (Linux tcp_update_rtt_min()).
    pub(super) fn note_min_rtt(&mut self, rtt: Duration) {
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX - 1);
        self.snd.min_rtt_us = self.snd.min_rtt_us.min(us);
    }

    /// What an ACK's deliveries are measured against: now, the minimum RTT
    /// and the highest SACKed sequence before the ACK (Linux `prior_fack`).
    pub(super) fn rack_begin(&self, cfg: &Config, now: Instant) -> Option<Deliveries> {
        if !self.rack_on(cfg) {
            return None;
        }
        let log = self.snd.buf.sent()?;
        let mut d = Deliveries::new(now, self.min_rtt(), log.highest_sacked_end());
        d.orig_below = super::loss_state::orig_bound(self);
        Some(d)
    }

    /// Linux tcp_input.c: tcp_sacktag_write_queue(): the scoreboard took new
    /// SACK blocks; each record it now covers was delivered.
    pub(super) fn rack_on_sack(&mut self, d: &mut Deliveries) {
        if self.rec.sacked.is_empty() {
            return;
        }
        let Some(rec) = self.rec.allocated() else {
            return;
        };
        if let Some(log) = self.snd.buf.sent_mut() {
            log.on_sacked(&rec.sacked, d);
        }
    }

    /// Linux tcp_input.c: tcp_clean_rtx_queue(): SND.UNA advanced; the
    /// records it passed were delivered, unless the ACK echoes a timestamp
    /// older than a record's retransmission (the original arrived).
    pub(super) fn rack_on_ack(&mut self, d: &mut Deliveries, seg: &TcpRepr<'_>) {
        let una = self.snd.una;
        let tsecr = match (self.ts_ok, seg.options.timestamps) {
            (true, Some(ts)) if ts.tsecr != 0 => Some(ts.tsecr),
            _ => None,
        };
        let ts_offset = self.ts_offset;
        if let Some(log) = self.snd.buf.sent_mut() {
            log.on_acked(una, d, |s| {
                let sent_ts = (s.at.as_millis() as u32).wrapping_add(ts_offset);
                s.flags & EVER_RETRANS != 0
                    && tsecr.is_some_and(|e| (e.wrapping_sub(sent_ts) as i32) < 0)
            });
        }
    }

    /// After an ACK's deliveries: the minimum RTT, reordering seen, and
    /// RACK's scan for losses (Linux tcp_identify_packet_loss() with
    /// tcp_rack_mark_lost()), entering fast recovery when a loss is proven
    /// (tcp_time_to_recover(): "Trick#1: the loss is proven").
    /// Returns the segments it newly marked lost (Linux's rate sample
    /// `losses`); none without `scan` (an ACK that holds the recovery, see
    /// `Recovery::rexmit_hold`: RACK's pending advance waits for the next).
    pub(super) fn rack_after_ack(&mut self, ctx: &mut Ctx<'_>, d: &Deliveries, scan: bool) -> u32 {
        if let Some(rtt) = d.rtt {
            self.note_min_rtt(rtt);
        }
        if let Some(low) = d.reord_low {
            // Linux tcp_check_sack_reordering() measures from the highest
            // SACKed sequence as this ACK left it (so from SND.UNA when it
            // acknowledged everything SACKed), not from prior_fack, which
            // only decides whether a hole was filled.
            let fack = self.fack_now();
            if self.note_reordering(ctx.cfg, fack, low) {
                ctx.stats.sack_reorder += 1;
            }
        }
        let Some(log) = self.snd.buf.sent_mut() else {
            return 0;
        };
        if !scan || !log.take_advanced() {
            return 0;
        }
        self.rack_scan(ctx)
    }

    /// Linux tcp_recovery.c: tcp_rack_mark_lost() / tcp_rack_reo_timeout():
    /// mark what RACK finds lost, arm the reordering timer for what may
    /// still be reordered, and enter recovery on a loss.
    fn rack_scan(&mut self, ctx: &mut Ctx<'_>) -> u32 {
        let reo_wnd = self.rack_reo_wnd(ctx.cfg);
        let now = ctx.now;
        let rto = self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg);
        let Some(log) = self.snd.buf.sent_mut() else {
            return 0;
        };
        let scan = log.detect_loss(now, reo_wnd);
        let lost = log.lost();
        if lost > 0 && self.rec.recover.is_none() && !self.after_rto() {
            self.enter_recovery(ctx);
        }
        if let Some(wait) = scan.wait {
            // Linux: inet_csk_reset_xmit_timer(ICSK_TIME_REO_TIMEOUT) in the
            // one slot the loss probe also uses, never beyond an RTO away.
            if let Some(log) = self.snd.buf.sent_mut() {
                log.reo_armed = true;
            }
            self.timers.set(
                TimerKind::LossProbe,
                Some(now + (wait + REO_TIMER_SLACK).min(rto)),
            );
        }
        scan.newly_lost
    }

    /// Linux tcp_highest_sack_seq(): the end of the highest SACKed data, or
    /// SND.UNA when nothing above it is SACKed.
    pub(super) fn fack_now(&self) -> SeqNumber {
        self.rec
            .sacked
            .iter()
            .map(|&(_, r)| r)
            .fold(self.snd.una, |a, r| if r.gt(a) { r } else { a })
    }

    /// Linux `tp->reordering`: the duplicate-ACK threshold, raised by the
    /// reordering seen (`tcpi_reordering`).
    pub(crate) fn reordering(&self, cfg: &Config) -> u32 {
        match self.rec.reordering {
            0 => cfg.dupthresh,
            r => u32::from(r),
        }
    }

    /// Linux tcp_input.c: tcp_check_sack_reordering(): data from `low` up
    /// was delivered out of order below `fack` (the highest SACKed
    /// sequence): reordering was seen, and the distance in segments raises
    /// tp->reordering (at most tcp_max_reordering, 300). Returns whether it
    /// counted (for TCPSACKReorder / TCPTSReorder).
    pub(super) fn note_reordering(
        &mut self,
        cfg: &Config,
        fack: SeqNumber,
        low: SeqNumber,
    ) -> bool {
        if !low.lt(fack) {
            return false;
        }
        let mss = u32::from(self.snd.mss.max(1));
        let reordering = self.reordering(cfg);
        let rec = self.rec.get_mut();
        rec.reord_seen = rec.reord_seen.saturating_add(1);
        let metric = (fack - low) as u32;
        if metric > reordering.saturating_mul(mss) {
            rec.reordering = metric.div_ceil(mss).min(MAX_REORDERING) as u16;
        }
        true
    }

    /// Linux tcp_recovery.c: tcp_rack_reo_timeout(): the reordering window
    /// of the segments RACK waited for has passed.
    /// On entering recovery this way Linux runs one step of the window
    /// reduction as if one segment had been delivered
    /// (`tcp_cwnd_reduction(sk, 1, ...)`), so PRR lets exactly the first
    /// retransmission out when the window has room.
    pub(super) fn on_reorder_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(log) = self.snd.buf.sent_mut() {
            log.reo_armed = false;
        }
        let recovering = self.rec.recover.is_some();
        self.rack_scan(ctx);
        if !recovering && self.rec.recover.is_some() && ctx.cfg.prr && self.sack_ok {
            let pipe = self.recovery_pipe(ctx.cfg);
            self.prr_step(pipe, u32::from(self.snd.mss), false);
        }
    }

    /// Linux tcp_recovery.c: tcp_rack_reo_wnd() (RFC 8985 §6.2 step 4): no
    /// reordering window while no reordering was seen and recovery is under
    /// way or as many segments as the duplicate-ACK threshold are SACKed
    /// (so RACK is at least as quick as the classic rule); otherwise a
    /// quarter of the minimum RTT times the steps D-SACKs added, at most
    /// SRTT.
    pub(crate) fn rack_reo_wnd(&self, cfg: &Config) -> Duration {
        if self.rec.reord_seen == 0 {
            if self.rec.recover.is_some() || self.after_rto() {
                return Duration::ZERO;
            }
            if self.sacked_out() >= cfg.dupthresh {
                return Duration::ZERO;
            }
        }
        let srtt = self.snd.rtt.srtt().unwrap_or(Duration::ZERO);
        super::rack::reo_wnd(self.min_rtt(), srtt, self.rec.reo_wnd_steps)
    }

    /// Linux tcp_recovery.c: tcp_rack_update_reo_wnd() (RFC 8985 §6.2 step
    /// 4): a D-SACK (a spurious retransmission: reordering beyond the
    /// window) widens the window by one step, at most once per round trip
    /// (`prior_delivered`: octets delivered before this ACK); after 16
    /// recoveries without one it returns to one step.
    pub(super) fn rack_update_reo_wnd(&mut self, prior_delivered: u64, delivered: u64) {
        if let Some(rec) = self.rec.allocated() {
            rec.update_reo_wnd(prior_delivered, delivered);
        }
    }

    /// Octets in flight for SACK-based recovery: RACK's count (sent, less
    /// SACKed and lost, plus retransmissions in flight) when RACK decides,
    /// RFC 6675 SetPipe otherwise.
    pub(crate) fn recovery_pipe(&self, cfg: &Config) -> u32 {
        if self.reno_split() {
            return self.reno_pipe();
        }
        if self.reno_prr(cfg) {
            return self.reno_recovery_pipe();
        }
        if self.rack_on(cfg) {
            if let Some(log) = self.snd.buf.sent() {
                return log.pipe();
            }
        }
        self.rec.pipe(&self.snd, super::recovery::LossRule::of(cfg))
    }

    /// What recovery retransmits next: the first segment RACK marked lost
    /// (Linux tcp_xmit_retransmit_queue()); RFC 6675 NextSeg rule 1 (or, for
    /// `any_hole`, rule 3) otherwise.
    pub(crate) fn next_retransmission(
        &self,
        cfg: &Config,
        any_hole: bool,
    ) -> Option<(SeqNumber, u32)> {
        if self.reno_split() {
            return self.reno_next_lost();
        }
        if self.reno_prr(cfg) {
            // Only the segment at SND.UNA is ever marked lost.
            return self.reno_lost_head();
        }
        if self.rack_on(cfg) {
            if let Some(log) = self.snd.buf.sent() {
                return log.next_lost();
            }
        }
        if any_hole {
            self.rec.next_hole(&self.snd)
        } else {
            self.rec
                .next_seg_rexmit(&self.snd, super::recovery::LossRule::of(cfg), true)
        }
    }

    /// Segments SACKed whole (Linux `sacked_out`; the Disorder state).
    pub(crate) fn sacked_out(&self) -> u32 {
        self.snd.buf.sent().map_or(0, |l| l.sacked())
    }

    /// Segments marked lost (Linux `tcpi_lost`).
    pub(crate) fn lost_segments(&self) -> u32 {
        self.snd.buf.sent().map_or(0, |l| l.lost())
    }

    /// Fast retransmit: enter fast recovery (RFC 5681 §3.2, RFC 6582 §3.2,
    /// RFC 6675 §5, with PRR RFC 6937 §3) and resend the first hole.
    pub(super) fn enter_recovery(&mut self, ctx: &mut Ctx<'_>) {
        let mss = u32::from(self.snd.mss);
        // Linux tcp_input.c: tcp_init_undo(): remember where recovery began
        // and the window before it, for a D-SACK that shows it needless.
        let (una, prior) = (self.snd.una, self.cc.cwnd());
        // tcp_enter_recovery(): prior_ssthresh = tcp_current_ssthresh(),
        // unless a window reduction is already under way.
        let (ssthresh, segs) = (self.cc.ssthresh(), prior / mss.max(1));
        let current = if self.in_cwr() {
            0
        } else {
            ssthresh.max(((segs >> 1) + (segs >> 2)) * mss)
        };
        let rec = self.rec.get_mut();
        rec.undo_marker = Some(una);
        rec.undo_retrans = -1;
        rec.undo_cwnd = prior;
        rec.undo_ssthresh = current;
        rec.lt_allow = 0;
        // Linux tcp_init_cwnd_reduction(): a loss-probe episode ends (the
        // recovery's own reduction stands for the loss it repaired).
        rec.tlp_high = None;
        let flight = self.snd.in_flight();
        // RFC 5681 eq. (4) for NewReno, β = 0.7 for CUBIC; RFC 6675 §5
        // (4.2) or RFC 6582 §3.2 step 2 for the window.
        if ctx.cfg.prr {
            // RFC 6937 §3: on entering recovery, ssthresh from the
            // algorithm, RecoverFS = the window then; PRR sets cwnd (Linux
            // tcp_init_cwnd_reduction(), with or without SACK).
            let prior = self.cc.cwnd();
            self.cc.begin_reduction(flight, mss);
            self.rec.get_mut().prr = super::recovery::Prr::start(prior.max(mss));
        } else {
            self.cc
                .on_enter_recovery(flight, mss, self.sack_ok, ctx.cfg.dupthresh);
        }
        let rec = self.rec.get_mut();
        rec.recover = Some(self.snd.max);
        rec.fast_rexmit = true;
        self.snd.rtx_next = self.snd.una;
        // Karn: the retransmitted segment gives no RTT sample.
        self.snd.rtt_probe.set(None);
        // RFC 8985 §7.2: no loss probes during recovery.
        self.timers.set(TimerKind::LossProbe, None);
        if let Some(log) = self.snd.buf.sent_mut() {
            log.reo_armed = false;
        }
        rec_er_disarm(self);
        ctx.stats.fast_retransmits += 1;
        // Linux tcp_enter_recovery(): TCPRenoRecovery or TCPSackRecovery.
        if self.sack_ok {
            ctx.stats.sack_recovery += 1;
        } else {
            ctx.stats.reno_recovery += 1;
        }
    }
}

/// The loss-probe slot no longer holds a delayed early retransmit.
fn rec_er_disarm(tcb: &mut Tcb) {
    if tcb.rec.er_armed {
        tcb.rec.get_mut().er_armed = false;
    }
}

impl Tcb {
    /// A retransmission counts against the undo of the last recovery
    /// (Linux tcp_retransmit_skb(): `undo_retrans`).
    pub(super) fn count_undo_retrans(&mut self) {
        if self.rec.undo_marker.is_some() {
            let rec = self.rec.get_mut();
            rec.undo_retrans = rec.undo_retrans.max(0) + 1;
        }
    }
}

impl Tcb {
    /// RFC 5681 §3.2 fast retransmit and RFC 6582 NewReno fast recovery.
    /// Returns, without SACK, the segments it counted delivered (Linux
    /// tcp_add_reno_sack()).
    pub(super) fn on_duplicate_ack(&mut self, ctx: &mut Ctx<'_>) -> u32 {
        let mss = u32::from(self.snd.mss);
        self.rec.get_mut().dupacks += 1;
        let mut reno = 0;
        let held = self.rec.recover.is_some_and(|r| !self.snd.una.lt(r));
        if !self.sack_ok && !self.in_reno_loss() && !held {
            // Linux tcp_fastretrans_alert(): in the Open, Disorder and
            // Recovery states a duplicate ACK without SACK is an emulated
            // SACK of one segment (the loss state counts its own); a
            // recovery held at its recovery point forgets them instead
            // (step D: tcp_reset_reno_sack()).
            reno = self.add_reno_sack(ctx, 1);
        }
        if self.rec.recover.is_some() {
            if self.sack_ok || ctx.cfg.prr {
                // RFC 6675 §5 (B): the scoreboard took the new SACK blocks
                // (without SACK, the duplicate ACK's count); output sends
                // what cwnd - pipe allows. No window inflation.
                return reno;
            }
            // Step 4 of RFC 5681 §3.2: each further duplicate ACK means a segment
            // left the network; inflate the window by one segment.
            self.cc.on_recovery_dupack(mss);
            return reno;
        }
        // RFC 6582 §3.2 step 2: after an RTO, duplicate ACKs for data sent before
        // it do not start a new recovery.
        let after_rto = self.after_rto();
        if self.rec.dupacks < ctx.cfg.dupthresh && self.rec.dupacks <= 2 && !after_rto {
            // RFC 3042 §2 (RFC 5681 §3.2: SHOULD): each of the first two
            // duplicate ACKs lets one new segment out, cwnd unchanged, so that
            // a small window can still produce the dupthresh-th duplicate ACK.
            let rec = self.rec.get_mut();
            rec.lt_allow = rec.dupacks * mss;
        }
        // RFC 6675 §5 step (3): with SACK, recovery also starts once the
        // segment at SND.UNA counts as lost (IsLost(HighACK + 1)), before the
        // DupThresh-th duplicate ACK.
        let una = self.snd.una;
        let lost_at_una = self.sack_ok
            && self
                .rec
                .holes(&self.snd, super::recovery::LossRule::of(ctx.cfg))
                .next()
                .is_some_and(|(a, _, lost)| a == una && lost);
        // With RACK, time decides instead (Linux tcp_time_to_recover()
        // counts duplicate ACKs only without it): see `loss`.
        // Linux tcp_input.c: tcp_time_to_recover(): with SACK blocks the
        // duplicate-ACK count is the SACKed segments (Config field
        // `sack_dupacks_by_segments`), which `lost_at_una` covers.
        let by_count = !ctx.cfg.sack_dupacks_by_segments || self.rec.sacked.is_empty();
        // Without SACK Linux marks the first segment lost once the
        // duplicate ACKs counted reach tp->reordering, which reordering
        // may have raised (tcp_newreno_mark_lost()).
        let count_due = if !self.sack_ok && ctx.cfg.reno_sacked_out {
            self.rec.reno_sacked >= self.reordering(ctx.cfg)
        } else {
            self.rec.dupacks == ctx.cfg.dupthresh
        };
        if ((by_count && count_due)
            || (lost_at_una && (!by_count || self.rec.dupacks < ctx.cfg.dupthresh)))
            && !after_rto
            && !self.rack_on(ctx.cfg)
        {
            self.enter_recovery(ctx);
        }
        reno
    }

    /// RFC 6937 §3 "on every ACK during recovery" (and Linux's CWR state):
    /// count the `newly` delivered octets and let PRR set the window from
    /// `pipe`, both in segments as Linux counts them.
    /// `bonus`: PRR-SSRB's one segment more (SND.UNA advanced, or every ACK
    /// under `Config::prr_ssrb_always`).
    pub(super) fn prr_step(&mut self, pipe: u32, newly: u32, bonus: bool) {
        let mss = u32::from(self.snd.mss.max(1));
        let newly = newly.div_ceil(mss);
        if newly == 0 {
            // Linux: an ACK that delivers nothing changes nothing.
            return;
        }
        let rec = self.rec.get_mut();
        rec.prr.delivered = rec.prr.delivered.saturating_add(newly);
        let p = rec.prr;
        self.cc.prr(
            pipe.div_ceil(mss),
            p.delivered,
            p.out,
            newly,
            p.prior_cwnd / mss,
            bonus,
            mss,
        );
    }
}
