//! Timeouts (RFC 9293 §3.10.8).

use core::time::Duration;

use super::{Ctx, Tcb};
use crate::time::Instant;
use crate::types::{CloseReason, State, TimerKind};

/// A connection's timers: one deadline per [`TimerKind`], off or armed.
/// Arming, cancelling and reading are O(1); the endpoint keeps the earliest
/// deadline in its own timer structure.
///
/// Each deadline is kept as its microsecond count, with [`Timers::OFF`] for
/// a timer that is off: 8 bytes a timer instead of the 16 of an
/// `Option<Instant>`. The one instant that collides with the marker, the
/// very end of time (about 584 000 years after the origin, which only a
/// saturating addition of an unbounded duration reaches), is kept one
/// microsecond earlier; a timer that far away never fires either way.
#[derive(Clone, Debug)]
pub(crate) struct Timers {
    at: [u64; TimerKind::COUNT],
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            at: [Timers::OFF; TimerKind::COUNT],
        }
    }
}

impl Timers {
    /// The marker of a timer that is off.
    const OFF: u64 = u64::MAX;

    fn decode(at: u64) -> Option<Instant> {
        (at != Timers::OFF).then_some(Instant::from_micros(at))
    }

    /// The deadline slot of a kind: the idle timeout shares keep-alive's.
    fn slot(kind: TimerKind) -> usize {
        match kind {
            TimerKind::Idle => TimerKind::Keepalive as usize,
            k => k as usize,
        }
    }

    pub(crate) fn get(&self, kind: TimerKind) -> Option<Instant> {
        Timers::decode(self.at[Timers::slot(kind)])
    }

    pub(crate) fn set(&mut self, kind: TimerKind, at: Option<Instant>) {
        self.at[Timers::slot(kind)] = match at {
            Some(t) => t.as_micros().min(Timers::OFF - 1),
            None => Timers::OFF,
        };
    }

    pub(crate) fn take(&mut self, kind: TimerKind) -> Option<Instant> {
        Timers::decode(core::mem::replace(
            &mut self.at[Timers::slot(kind)],
            Timers::OFF,
        ))
    }

    /// The earliest armed deadline (`OFF` is above every armed one).
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.at.iter().copied().min().and_then(Timers::decode)
    }

    /// Turn every timer off.
    pub(crate) fn clear(&mut self) {
        self.at = [Timers::OFF; TimerKind::COUNT];
    }
}

/// Keep-alive (RFC 9293 §3.8.4): on only when the application asks (MUST-24,
/// MUST-25).
pub(crate) struct Keepalive {
    /// When the peer was last heard from.
    pub(crate) last_rx: Instant,
    /// Whether keep-alive is on (bit 30), whether output sends a probe
    /// (bit 31), and this connection's TCP_KEEPIDLE (bits 0-14) and
    /// TCP_KEEPINTVL (bits 15-29) in seconds, 0 for the configuration's
    /// (Linux takes 1 to 32767, 15 bits); packed so that the control block
    /// keeps its size.
    bits: u32,
    /// Probes sent since then (Linux `icsk_probes_out`, 8 bits).
    pub(crate) probes_out: u8,
    /// TCP_KEEPCNT of this connection (1 to 127; 0: the configuration's).
    pub(crate) cnt: u8,
    /// The idle timeout in whole seconds (0: off), see
    /// [`crate::ListenerLimits::idle_timeout`]; it measures from `last_rx`
    /// as keep-alive does and shares its timer.
    pub(crate) idle_secs: u16,
}

const KA_ON: u32 = 1 << 30;
const KA_PROBE_DUE: u32 = 1 << 31;
const KA_SECS: u32 = 0x7fff;

impl Keepalive {
    pub(crate) fn new(now: Instant) -> Keepalive {
        Keepalive {
            last_rx: now,
            bits: 0,
            probes_out: 0,
            cnt: 0,
            idle_secs: 0,
        }
    }

    fn flag(&mut self, bit: u32, on: bool) {
        if on {
            self.bits |= bit;
        } else {
            self.bits &= !bit;
        }
    }

    /// SO_KEEPALIVE.
    pub(crate) fn on(&self) -> bool {
        self.bits & KA_ON != 0
    }

    pub(crate) fn set_on(&mut self, on: bool) {
        self.flag(KA_ON, on);
    }

    /// Output sends a probe.
    pub(crate) fn probe_due(&self) -> bool {
        self.bits & KA_PROBE_DUE != 0
    }

    pub(crate) fn set_probe_due(&mut self, due: bool) {
        self.flag(KA_PROBE_DUE, due);
    }

    /// TCP_KEEPIDLE in seconds (0: unset).
    pub(crate) fn idle(&self) -> u16 {
        (self.bits & KA_SECS) as u16
    }

    /// TCP_KEEPINTVL in seconds (0: unset).
    pub(crate) fn intvl(&self) -> u16 {
        ((self.bits >> 15) & KA_SECS) as u16
    }

    /// Set TCP_KEEPIDLE and TCP_KEEPINTVL (seconds, at most 32767).
    pub(crate) fn set_times(&mut self, idle: u16, intvl: u16) {
        let idle = u32::from(idle) & KA_SECS;
        let intvl = u32::from(intvl) & KA_SECS;
        self.bits = (self.bits & (KA_ON | KA_PROBE_DUE)) | idle | (intvl << 15);
    }
}

impl Tcb {
    /// When the next keep-alive probe is due: MUST-26, only after the
    /// connection has been idle for the configured time; then every interval
    /// while unanswered. `None` when keep-alive is off or the state has none.
    pub(crate) fn keepalive_deadline(&self, cfg: &crate::config::Config) -> Option<Instant> {
        let eligible = self.ka.on()
            && matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait2
            );
        eligible.then(|| {
            self.ka.last_rx
                + self.keepalive_idle(cfg)
                + self.keepalive_interval(cfg) * u32::from(self.ka.probes_out)
        })
    }

    /// TCP_KEEPIDLE, else `Config::keepalive_time` (Linux
    /// keepalive_time_when()).
    pub(crate) fn keepalive_idle(&self, cfg: &crate::config::Config) -> core::time::Duration {
        match self.ka.idle() {
            0 => cfg.keepalive_time,
            s => core::time::Duration::from_secs(u64::from(s)),
        }
    }

    /// TCP_KEEPINTVL, else `Config::keepalive_interval` (Linux
    /// keepalive_intvl_when()).
    pub(crate) fn keepalive_interval(&self, cfg: &crate::config::Config) -> core::time::Duration {
        match self.ka.intvl() {
            0 => cfg.keepalive_interval,
            s => core::time::Duration::from_secs(u64::from(s)),
        }
    }

    /// TCP_KEEPCNT, else `Config::keepalive_probes` (Linux
    /// keepalive_probes()).
    pub(crate) fn keepalive_count(&self, cfg: &crate::config::Config) -> u32 {
        match self.ka.cnt {
            0 => cfg.keepalive_probes,
            n => u32::from(n),
        }
    }

    /// When the idle timeout resets the connection if nothing arrives from
    /// the peer before: in every state from ESTABLISHED on but TIME-WAIT
    /// (which has its own 2MSL).
    pub(crate) fn idle_deadline(&self) -> Option<Instant> {
        let eligible = self.ka.idle_secs != 0
            && matches!(
                self.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::FinWait2
                    | State::Closing
                    | State::LastAck
            );
        eligible.then(|| {
            self.ka.last_rx + core::time::Duration::from_secs(u64::from(self.ka.idle_secs))
        })
    }

    /// (Re)arm the timer keep-alive and the idle timeout share: the earlier
    /// of their deadlines.
    pub(crate) fn arm_keepalive(&mut self, cfg: &crate::config::Config) {
        let at = match (self.keepalive_deadline(cfg), self.idle_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.timers.set(TimerKind::Keepalive, at);
    }

    /// Run every timer due at `ctx.now`; the timer that changed the state, if
    /// any, goes into the outcome (the transition's cause).
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        ctx.out.timer = self.expire(ctx);
    }

    fn expire(&mut self, ctx: &mut Ctx<'_>) -> Option<TimerKind> {
        let now = ctx.now;
        // A paced packet's departure time came (see `pacing`): output
        // sends it.
        self.pacing_wake(now);
        if self.timers.earliest().is_none_or(|t| t > now) {
            // No timer's work is due.
            return None;
        }
        if self
            .timers
            .get(TimerKind::BufferRelease)
            .is_some_and(|t| t <= now)
        {
            // Rings that stayed empty go; nothing is sent for it.
            self.timers.set(TimerKind::BufferRelease, None);
            self.snd.buf.release_if_empty();
            self.rcv.buf.release_if_empty();
            if self.timers.earliest().is_none_or(|t| t > now) {
                return None;
            }
        }
        self.snd.piece_left = 0;
        // MSG_MORE held its write back for the push of that call only.
        self.snd.more = false;
        if self.timers.get(TimerKind::User).is_some_and(|t| t <= now) {
            // USER TIMEOUT: "flush all queues, signal the user 'error: connection
            // aborted due to user timeout' ..., delete the TCB, enter CLOSED".
            self.enter_closed(ctx, CloseReason::TimedOut);
            return Some(TimerKind::User);
        }
        if self
            .timers
            .get(TimerKind::FinWait2)
            .is_some_and(|t| t <= now)
        {
            // Linux tcp_fin_timeout: an orphaned connection does not wait forever for
            // the peer's FIN.
            self.timers.set(TimerKind::FinWait2, None);
            if self.state == State::FinWait2 {
                self.enter_closed(ctx, CloseReason::TimedOut);
                return Some(TimerKind::FinWait2);
            }
        }
        if self
            .timers
            .get(TimerKind::DelayedAck)
            .is_some_and(|t| t <= now)
        {
            self.timers.set(TimerKind::DelayedAck, None);
            if self.comp_sack_held() {
                // The held duplicate ACKs' time is up: one ACK with the
                // newest SACK blocks goes (tcp_compressed_ack_kick()).
                self.comp_sack_timer(ctx.stats);
            } else {
                // The delayed ACK is due (MUST-40). No reply carried it: the
                // exchange is not interactive after all (Linux
                // tcp_delack_timer_handler() leaves pingpong mode).
                ctx.stats.delayed_acks += 1;
                self.rcv.ack_now = true;
                self.ato_timer_fired(ctx.cfg);
            }
        }
        if self
            .timers
            .get(TimerKind::Keepalive)
            .is_some_and(|t| t <= now)
        {
            self.timers.set(TimerKind::Keepalive, None);
            if self.idle_deadline().is_some_and(|t| t <= now) {
                // The idle timeout (a server's defence against peers that
                // connect and then neither send nor close, or vanished):
                // reset, as an application closing with SO_LINGER 0 would.
                ctx.stats.idle_timeouts += 1;
                self.active_rst(ctx);
                self.enter_closed(ctx, CloseReason::TimedOut);
                return Some(TimerKind::Idle);
            }
            if self.keepalive_deadline(ctx.cfg).is_some_and(|t| t <= now)
                && self.snd.una == self.snd.max
            {
                // Linux tcp_keepalive_timer(): with TCP_USER_TIMEOUT set, the
                // peer silent that long once a probe is out ends it, however
                // many probes TCP_KEEPCNT allows; otherwise the count does.
                let given_up = match self.snd.user_timeout() {
                    Some(ut) => {
                        self.ka.probes_out > 0
                            && now.saturating_duration_since(self.ka.last_rx) >= ut
                    }
                    None => u32::from(self.ka.probes_out) >= self.keepalive_count(ctx.cfg),
                };
                if given_up {
                    // MUST-29 tolerates lost ACKs: only after all probes went
                    // unanswered is the peer declared dead (Linux then sends RST).
                    self.active_rst(ctx);
                    self.enter_closed(ctx, CloseReason::TimedOut);
                    return Some(TimerKind::Keepalive);
                }
                self.ka.probes_out = self.ka.probes_out.saturating_add(1);
                ctx.stats.keepalive_probes += 1;
                self.ka.set_probe_due(true);
            }
            self.arm_keepalive(ctx.cfg);
        }
        if self
            .timers
            .get(TimerKind::LossProbe)
            .is_some_and(|t| t <= now)
        {
            // RFC 8985 §7.3: the PTO expired; output sends the probe. At most
            // one probe is outstanding per tail loss episode (Linux
            // tcp_send_loss_probe: otherwise only the RTO is re-armed).
            self.timers.set(TimerKind::LossProbe, None);
            if self.snd.buf.sent().is_some_and(|l| l.reo_armed) {
                // The slot held RACK's reordering timer (Linux
                // ICSK_TIME_REO_TIMEOUT).
                self.on_reorder_timeout(ctx);
                return None;
            }
            if self.rec.er_armed {
                // The slot held the delayed early retransmit (Linux
                // ICSK_TIME_EARLY_RETRANS).
                self.on_early_retransmit_timeout(ctx);
                return None;
            }
            // Linux tcp_send_loss_probe() checks the state only when the
            // probe is scheduled: one armed in the open state goes even if
            // a SACK since (which does not re-arm the timer) left segments
            // SACKed.
            if self.rec.tlp_high.is_none() && self.tlp_allowed(ctx.cfg, false) {
                // The probe takes the place of a retransmission timeout due at
                // the same moment (Linux runs both on one timer); the RTO is
                // re-armed from now (RFC 8985 §7.3).
                self.rec.get_mut().tlp_due = true;
                self.timers.set(
                    TimerKind::Retransmit,
                    Some(now + self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg)),
                );
                return None;
            }
        }
        if self
            .timers
            .get(TimerKind::Persist)
            .is_some_and(|t| t <= now)
        {
            // Zero-window probe (MUST-36; SHLD-29 first probe after an RTO,
            // SHLD-30 exponential backoff). While the peer answers, the
            // window may stay closed forever (MUST-37: every answer clears
            // the count); probes nobody answers end the connection after
            // retries2 of them, or tcp_orphan_retries (8) for an orphan,
            // silently (Linux tcp_timer.c: tcp_probe_timer() →
            // tcp_write_err()).
            self.timers.set(TimerKind::Persist, None);
            if self.orphan && self.orphan_probe_expired(ctx) {
                return Some(TimerKind::Persist);
            }
            let max = if self.orphan {
                ctx.cfg.orphan_retries
            } else {
                ctx.cfg.retries2
            };
            if u32::from(self.snd.probes_unanswered) >= max {
                self.enter_closed(ctx, CloseReason::TimedOut);
                return Some(TimerKind::Persist);
            }
            if ctx.cfg.user_timeout_probes && self.timers.get(TimerKind::User).is_none() {
                // Linux tcp_timer.c: tcp_probe_timer(): TCP_USER_TIMEOUT
                // counts from the first probe (icsk_probes_tstamp) and ends
                // the connection once it has passed at a later expiry; the
                // probes in between are clamped to it
                // (tcp_clamp_probe0_to_user_timeout()), so the user timer
                // ends it at that moment.
                let deadline = self.snd.user_timeout().map(|d| now + d);
                self.timers.set(TimerKind::User, deadline);
            }
            // Linux tcp_output.c: tcp_send_probe0() counts every probe
            // (icsk_probes_out, tcpi_probes) until an ACK arrives.
            self.snd.probes_unanswered = self.snd.probes_unanswered.saturating_add(1);
            ctx.stats.window_probes += 1;
            self.snd.force_probe = true;
            self.snd.backoff = self.snd.backoff.saturating_add(1);
            return None;
        }
        if self
            .timers
            .get(TimerKind::Retransmit)
            .is_some_and(|t| t <= now)
        {
            self.timers.set(TimerKind::Retransmit, None);
            return self.on_retransmit_timeout(ctx);
        }
        None
    }

    /// Linux tcp_retransmit_timer(), after a timeout's resend: linear
    /// timeouts (`Config::thin_linear_timeouts` or TCP_THIN_LINEAR_TIMEOUTS)
    /// for an established connection whose stream is thin (fewer than four
    /// segments out; tcp_stream_is_thin() also wants slow start past its
    /// first round, which the timeout just ended by setting ssthresh), for
    /// at most TCP_THIN_LINEAR_RETRIES timeouts in a row.
    fn thin_linear(&self, cfg: &crate::config::Config) -> bool {
        const THIN_LINEAR_RETRIES: u32 = 6;
        let mss = u32::from(self.snd.mss.max(1));
        let packets_out = ((self.snd.max - self.snd.una).max(0) as u32).div_ceil(mss);
        self.state == State::Established
            && (self.snd.thin_lto || cfg.thin_linear_timeouts)
            && packets_out < 4
            && self.rec.rto_retransmits <= THIN_LINEAR_RETRIES
    }

    /// RETRANSMISSION TIMEOUT: "send the segment at the front of the retransmission
    /// queue again, reinitialize the retransmission timer" with exponential backoff
    /// (RFC 6298 §5.4–5.6), or give up after the retry limit (MUST-20, MUST-22/23).
    fn on_retransmit_timeout(&mut self, ctx: &mut Ctx<'_>) -> Option<TimerKind> {
        if self.snd.una == self.snd.max {
            return None;
        }
        if !(self.snd.wnd == 0 && self.state.is_synchronized() && !self.orphan) {
            // Linux tcp_retransmit_timer(): every timeout but the
            // zero-window repair of a live connection (TCPTimeouts).
            ctx.stats.rto_expired += 1;
        }
        if self.orphan && self.state.is_synchronized() && self.orphan_rto_expired(ctx) {
            return Some(TimerKind::Retransmit);
        }
        // Linux 6.5+ tcp_write_timeout(): a SYN gets `syn_linear_timeouts`
        // more tries, the first that many at the initial RTO.
        let linear = if self.state == State::SynSent {
            ctx.cfg.syn_linear_timeouts
        } else {
            0
        };
        let limit = match self.state {
            // TCP_SYNCNT (Linux icsk_syn_retries) in place of
            // tcp_syn_retries, and of tcp_synack_retries when set on the
            // listener (reqsk_timer_handler()).
            State::SynSent => self.own_syn_retries().unwrap_or(ctx.cfg.syn_retries) + linear,
            State::SynReceived if self.listener.is_some() => {
                self.own_syn_retries().unwrap_or(ctx.cfg.synack_retries)
            }
            _ if self.orphan => ctx.cfg.orphan_retries,
            _ => ctx.cfg.retries2,
        };
        if self.snd.wnd == 0 && self.state.is_synchronized() {
            // The outstanding data is a probe into a zero window (MUST-36): probe
            // again with backoff (SHLD-30). Give up only when probes go unanswered;
            // a peer that keeps answering may hold its window shut forever (MUST-37).
            if u32::from(self.snd.probes_unanswered) >= ctx.cfg.retries2 {
                self.enter_closed(ctx, CloseReason::TimedOut);
                return Some(TimerKind::Retransmit);
            }
            self.snd.probes_unanswered = self.snd.probes_unanswered.saturating_add(1);
            self.snd.backoff = self.snd.backoff.saturating_add(1);
            self.snd.nxt = self.snd.una;
            self.snd.force_probe = true;
            return None;
        }
        // Timeouts so far: in SYN-SENT every one resends the SYN once, the
        // linear ones too; an opening passive connection doubles each
        // (TCP_DEFER_ACCEPT counts ones that resend nothing); a
        // synchronized connection counts those since SND.UNA last advanced
        // (Linux icsk_retransmits; the RTO's doublings, `backoff`, end
        // only with a new RTT sample, and linear timeouts leave them out).
        let timeouts = if linear > 0 {
            self.snd.total_retrans
        } else if self.state.is_synchronized() {
            self.rec.rto_retransmits
        } else {
            self.snd.backoff
        };
        let handshake = matches!(self.state, State::SynSent | State::SynReceived);
        let over_budget = handshake
            && ctx.cfg.time_budget
            && timeouts > 0
            && ctx.now.saturating_duration_since(self.state_since)
                >= model_timeout(limit - linear, ctx.cfg.rto_initial, ctx.cfg.rto_max);
        // Linux tcp_write_timeout() for a synchronized connection: the time
        // `retries2` (an orphan: tcp_orphan_retries) doubling timeouts from
        // TCP_RTO_MIN take, counted from the first resend of this run of
        // timeouts (retransmits_timed_out()). That time alone decides: a
        // connection whose RTO was above the minimum gives up after fewer
        // resends, and one that timed out before may resend more.
        let synced_budget = self.state.is_synchronized() && ctx.cfg.time_budget;
        let synced_over_budget = synced_budget
            && self.rec.rto_retransmits > 0
            && self.rec.retrans_stamp.is_some_and(|t| {
                ctx.now.saturating_duration_since(t)
                    >= model_timeout(limit, LINUX_TCP_RTO_MIN, ctx.cfg.rto_max)
            });
        // Linux syn_ack_recalc() under TCP_DEFER_ACCEPT, once the bare ACK
        // came: the request lasts until both the SYN,ACK retries and the
        // deferring period have run out, and its SYN,ACK is not resent
        // before the last timeout of the period (the timer still backs off).
        let deferring = self.state == State::SynReceived && self.defer_acked;
        if deferring {
            let defer = u32::from(ctx.defer_accept);
            if timeouts >= limit && timeouts >= defer {
                ctx.out.back_to_listen = true;
                self.enter_closed(ctx, CloseReason::TimedOut);
                return Some(TimerKind::Retransmit);
            }
            if timeouts + 1 < defer {
                self.snd.backoff += 1;
                let rto = self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg);
                self.timers.set(TimerKind::Retransmit, Some(ctx.now + rto));
                return None;
            }
        }
        let over_count = timeouts >= limit && !synced_budget;
        if !deferring && (over_count || over_budget || synced_over_budget) {
            if self.state == State::SynReceived && self.listener.is_some() {
                // A half-open passive connection whose SYN,ACK went unanswered goes
                // away quietly (back to LISTEN, as Linux drops its request socket).
                ctx.out.back_to_listen = true;
            }
            self.enter_closed(ctx, CloseReason::TimedOut);
            return Some(TimerKind::Retransmit);
        }
        if self.state.is_synchronized() && self.rec.rto_retransmits >= super::mtu::RETRIES1 {
            // Linux tcp_timer.c: tcp_write_timeout(): after tcp_retries1
            // timeouts in a row, suspect a path MTU black hole.
            self.mtu_black_hole(ctx.cfg, ctx.now);
        }
        // Linux tcp_input.c: tcp_enter_loss(): ssthresh is kept when it
        // was already reduced for this window: in fast recovery that has
        // not ended, or at a repeated timeout of the same loss episode.
        // A timeout whose retransmission the device refused (SND.NXT still
        // pulled back to SND.UNA) counts as one (Linux counts
        // icsk_retransmits before trying, tcp_update_rto_stats()).
        // The timeout's resend is the episode's first unless a fast
        // retransmit or an earlier timeout came before it.
        self.stamp_first_retransmit(ctx.now);
        let refused_before = if self.in_loss_state() {
            // The head's resend after the last timeout never left.
            self.snd.buf.sent().is_some_and(|l| !l.head_resent())
        } else {
            self.snd.nxt == self.snd.una
        };
        let keep_ssthresh = self.rec.recover.is_some_and(|r| r.gt(self.snd.una))
            || (self.after_rto() && (self.rec.rto_retransmits > 0 || refused_before));
        // Karn (MUST-18): no RTT sample from a retransmitted segment.
        self.snd.rtt_probe.set(None);
        self.snd.ts_rto_mark = Some(self.ts_now(ctx.now));
        // RFC 5681 §3.1 and RFC 9293 MUST-19: after a timeout ssthresh drops (as
        // the algorithm says) and the window restarts from one segment.
        let mss = u32::from(self.snd.mss);
        let flight = self.snd.in_flight();
        let prior = (self.cc.cwnd(), self.cc.ssthresh());
        self.cc
            .on_rto(flight, mss, ctx.now, self.snd.max, keep_ssthresh);
        // Linux: the loss state, where the segment log says what is resent
        // (`loss_state`); otherwise back to the oldest unacknowledged octet,
        // and output resends everything from there, with no undo across the
        // timeout.
        let linux = self.enter_loss_state(ctx, keep_ssthresh, prior);
        if !linux {
            self.enter_reno_loss(ctx, keep_ssthresh, prior);
        }
        // Linux tcp_retransmit_timer(): no doubling for the first
        // `syn_linear_timeouts` timeouts of a SYN (tp->total_rto counts
        // this one).
        self.rto_stats_on_timeout(ctx.now);
        let rec = self.rec.get_mut();
        rec.rto_retransmits = rec.rto_retransmits.saturating_add(1);
        if self.thin_linear(ctx.cfg) {
            // Linux tcp_retransmit_timer(): a thin stream's RTO is not
            // doubled (icsk_backoff back to 0, the RTO as measured).
            self.snd.backoff = 0;
        } else if timeouts + 1 > linear {
            self.snd.backoff += 1;
        }
        if !linux {
            self.snd.nxt = self.snd.una;
        }
        let rec = self.rec.get_mut();
        rec.recover = None;
        rec.rexmit_hold = None;
        rec.dupacks = 0;
        // Linux tcp_timeout_mark_lost(): tcp_reset_reno_sack().
        rec.reno_sacked = 0;
        rec.lt_allow = 0;
        rec.fast_rexmit = false;
        // RFC 8985 §7: the RTO takes over; a new episode may probe again later.
        self.timers.set(TimerKind::LossProbe, None);
        rec.tlp_due = false;
        rec.tlp_high = None;
        rec.rto_recover = Some(self.snd.max);
        if !linux {
            // RFC 6675 §5.1 lets the scoreboard survive an RTO; go-back-N
            // resends everything anyway, so start afresh (RFC 2018 §8).
            rec.sacked.clear();
            if let Some(log) = self.snd.buf.sent_mut() {
                log.on_rto();
            }
        }
        None
    }
}

impl Tcb {
    /// RFC 8985 §7.2: a probe may be scheduled when TLP is enabled, SACK is in
    /// use, the connection is not in loss recovery (fast recovery or after an
    /// RTO) and data or a FIN is outstanding into an open window;
    /// `scheduling`: also not in Disorder, a condition Linux checks only then.
    pub(crate) fn tlp_allowed(&self, cfg: &crate::config::Config, scheduling: bool) -> bool {
        let after_rto = self.after_rto();
        cfg.tail_loss_probe
            && self.sack_ok
            && matches!(
                self.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::Closing
                    | State::LastAck
            )
            && self.rec.recover.is_none()
            && !after_rto
            // Linux tcp_schedule_loss_probe(): only in the Open and CWR
            // states, not in Disorder (SACKed segments outstanding), where
            // RACK's reordering timer watches the flight.
            && !(scheduling && self.rack_on(cfg) && self.sacked_out() > 0)
            && self.timers.get(TimerKind::Persist).is_none()
            && self.snd.wnd > 0
            && self.snd.una.lt(self.snd.max)
    }

    /// RFC 8985 §7.2 "Scheduling a loss probe", with Linux's timing
    /// (`tcp_schedule_loss_probe`): PTO = 2*SRTT, plus the worst-case delayed
    /// ACK time (Linux: the minimum RTO, 200 ms) when a single segment is in
    /// flight, else plus 2 ms; 1 s before any RTT sample (RFC 8985 §7.2). The
    /// probe never fires after the RTO would.
    pub(crate) fn schedule_tlp(&mut self, now: crate::time::Instant, cfg: &crate::config::Config) {
        if self.snd.buf.sent().is_some_and(|l| l.reo_armed) {
            // The slot holds RACK's reordering timer; sending leaves it be.
            return;
        }
        if self.rec.er_armed {
            // Or the delayed early retransmit, which only an ACK cancels.
            return;
        }
        if !self.tlp_allowed(cfg, true) {
            self.timers.set(TimerKind::LossProbe, None);
            return;
        }
        let flight = self.snd.in_flight();
        let pto = match self.snd.rtt.srtt() {
            Some(srtt) => {
                let extra = if flight <= u32::from(self.snd.mss) + 1 {
                    cfg.rto_min
                } else {
                    core::time::Duration::from_millis(2)
                };
                srtt * 2 + extra
            }
            None => core::time::Duration::from_secs(1),
        };
        let at = now + pto;
        self.timers.set(
            TimerKind::LossProbe,
            Some(match self.timers.get(TimerKind::Retransmit) {
                Some(rto) => at.min(rto),
                None => at,
            }),
        );
    }
}

/// Linux TCP_RTO_MIN (200 ms): the base of the time budget of a
/// synchronized connection's retries, whatever `tcp_rto_min_us` says
/// (tcp_timer.c: retransmits_timed_out()).
const LINUX_TCP_RTO_MIN: Duration = Duration::from_millis(200);

/// Linux tcp_timer.c: tcp_model_timeout(): how long `retries` timeouts take
/// when each doubles the last from `base`, none beyond `max`.
fn model_timeout(retries: u32, base: Duration, max: Duration) -> Duration {
    let ratio = (max.as_millis() / base.as_millis().max(1)).max(1) as u32;
    let thresh = ratio.ilog2();
    if retries <= thresh {
        base * ((2u32 << retries) - 1)
    } else {
        base * ((2u32 << thresh) - 1) + max * (retries - thresh)
    }
}
