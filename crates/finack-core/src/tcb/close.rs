//! Closing a connection from this side: CLOSE and its half, `shutdown`
//! (RFC 9293 §3.10.4), ABORT (§3.10.5), and the resets a connection owes
//! the peer (the active form and the reply to one segment).

use finack_wire::{SeqNumber, TcpRepr};

use core::time::Duration;

use super::{Ctx, Tcb};
use crate::time::Instant;
use crate::types::{CloseReason, Error, Linger2, Shutdown, State, TimerKind};

impl Tcb {
    /// CLOSE of the sending direction (§3.10.4), used by `close` and
    /// `shutdown(Write)`.
    pub(crate) fn close_send(&mut self, now: Instant) -> Result<(), Error> {
        match self.state {
            // §3.10.4 SYN-RECEIVED and ESTABLISHED: queue the FIN behind pending
            // data and enter FIN-WAIT-1 (the FIN waits for ESTABLISHED if the
            // handshake is not done: our output sends nothing but the SYN,ACK then).
            State::SynReceived | State::Established => {
                self.snd.fin_queued = true;
                self.goto(now, State::FinWait1);
                Ok(())
            }
            // §3.10.4 CLOSE-WAIT: queue the FIN, enter LAST-ACK.
            State::CloseWait => {
                self.snd.fin_queued = true;
                self.goto(now, State::LastAck);
                Ok(())
            }
            // "error: connection closing" — already done, not an error for us.
            State::FinWait1
            | State::FinWait2
            | State::Closing
            | State::LastAck
            | State::TimeWait => Ok(()),
            State::SynSent | State::Closed | State::Listen => Err(Error::NotConnected),
        }
    }

    /// CLOSE (§3.10.4) by the application, which also releases the handle.
    /// Closing with unread data aborts with RST (RFC 2525 §2.17, SHLD-3).
    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.orphan = true;
        self.rcv.read_shutdown = true;
        if self.rcv.buf.len() > 0 && self.state.is_synchronized() && self.state != State::TimeWait {
            // Linux tcp.c: __tcp_close() counts it as TCPAbortOnClose.
            ctx.stats.abort_on_close += 1;
            self.abort(ctx);
            return;
        }
        match self.state {
            // §3.10.4 SYN-SENT: delete the TCB.
            State::SynSent => self.enter_closed(ctx, CloseReason::Aborted),
            // Linux tcp_close(): TCP_LINGER2 negative, FIN-WAIT-2 (after
            // shutdown(SHUT_WR) and the ACK of the FIN) ends in a reset.
            State::FinWait2 if self.linger2 == Linger2::Abort => {
                ctx.stats.abort_on_linger += 1;
                self.active_rst(ctx);
                self.enter_closed(ctx, CloseReason::Aborted);
            }
            _ => {
                let _ = self.close_send(ctx.now);
                if self.state == State::FinWait2 {
                    self.arm_fin_wait2(ctx);
                }
            }
        }
    }

    /// ABORT by the application (close() with SO_LINGER 0). Linux
    /// __tcp_close() counts unread data first (TCPAbortOnClose), else
    /// TCPAbortOnData.
    pub(crate) fn abort_by_user(&mut self, ctx: &mut Ctx<'_>) {
        if !matches!(self.state, State::Closed | State::Listen) {
            if self.rcv.buf.len() > 0 {
                ctx.stats.abort_on_close += 1;
            } else {
                ctx.stats.abort_on_data += 1;
            }
        }
        self.abort(ctx);
    }

    /// ABORT (§3.10.5): RST in the synchronized states that have not yet seen both
    /// FINs, then CLOSED.
    pub(crate) fn abort(&mut self, ctx: &mut Ctx<'_>) {
        self.orphan = true;
        match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => {
                // <SEQ=SND.NXT><CTL=RST> (with ACK = RCV.NXT in the Linux profile).
                self.active_rst(ctx);
                self.enter_closed(ctx, CloseReason::Aborted);
            }
            State::SynSent | State::Closing | State::LastAck | State::TimeWait => {
                self.enter_closed(ctx, CloseReason::Aborted);
            }
            State::Closed | State::Listen => {}
        }
    }

    /// `shutdown` (§3.10.4 half-close for `Write`).
    pub(crate) fn shutdown(&mut self, ctx: &mut Ctx<'_>, how: Shutdown) -> Result<(), Error> {
        if self.state == State::SynSent {
            // Linux inet_shutdown(): a shutdown of either direction before
            // the handshake finishes abandons it (tcp_disconnect(): no reset
            // is sent, sk_err = ECONNRESET).
            self.enter_closed(ctx, CloseReason::Reset);
            return Ok(());
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.rcv.read_shutdown = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.close_send(ctx.now)?;
        }
        Ok(())
    }

    /// An orphan in FIN-WAIT-2 waits for the peer's FIN for its TCP_LINGER2
    /// time or else `Config::fin_wait2_timeout`, then is gone without a word.
    pub(crate) fn arm_fin_wait2(&mut self, ctx: &mut Ctx<'_>) {
        if !self.orphan {
            return;
        }
        let wait = match self.linger2 {
            Linger2::Seconds(s) => Some(Duration::from_secs(u64::from(s))),
            _ => ctx.cfg.fin_wait2_timeout,
        };
        let wait = match (wait, ctx.cfg.fin_wait2_timeout) {
            (Some(w), Some(_)) => Some(self.linux_fin_time(w, ctx.cfg.time_wait)),
            (w, None) => w,
            (None, _) => None,
        };
        self.timers
            .set(TimerKind::FinWait2, wait.map(|d| ctx.now + d));
    }

    /// Linux's FIN-WAIT-2 time for a wait of `wait`: never under 3.5 RTOs
    /// (tcp_fin_time()); a time over TIME-WAIT's length `tw` runs in two
    /// stages, the keep-alive timer at the time less `tw`, then a FIN-WAIT-2
    /// time-wait socket for the time less `tw` again, floored the same way
    /// (tcp_close(), tcp_keepalive_timer(), tcp_time_wait()): TCP_LINGER2
    /// of 61 s waits 2 s, 120 s waits 120 s.
    fn linux_fin_time(&self, wait: Duration, tw: Duration) -> Duration {
        let rto = self.snd.rtt.rto();
        let floor = rto * 4 - rto / 2;
        let tmo = wait.max(floor);
        if tmo > tw {
            let stage = tmo - tw;
            stage + stage.max(floor)
        } else {
            tmo
        }
    }

    /// Owe the peer a RST on this connection's 4-tuple, with no options.
    pub(crate) fn queue_rst(&self, ctx: &mut Ctx<'_>, seq: SeqNumber, ack: Option<SeqNumber>) {
        ctx.out.rst = Some((seq, ack, None));
    }

    /// A reset the stack sends on its own initiative (ABORT, `SO_LINGER` 0,
    /// timeouts): `<SEQ=SND.NXT><CTL=RST>` (RFC 9293 §3.10.5). In the Linux
    /// profile also ACK = RCV.NXT and, where agreed, the timestamps option,
    /// as tcp_send_active_reset() sends it through tcp_transmit_skb() with
    /// the connection's own options (tcp_established_options()).
    pub(crate) fn active_rst(&self, ctx: &mut Ctx<'_>) {
        let linux = ctx.cfg.linux_resets;
        let ack = linux.then_some(self.rcv.nxt);
        let ts = if linux {
            self.timestamps(ctx.now)
        } else {
            None
        };
        ctx.out.rst = Some((self.snd.max, ack, ts));
    }

    /// A reset in reply to `seg` as a closed port gives it ([`reset_for`]).
    pub(crate) fn reply_rst(&self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        let (seq, ack) = reset_for(seg);
        self.queue_rst(ctx, seq, ack);
    }
}

/// The reset a closed port answers `seg` with (RFC 9293 §3.10.7.1, Linux
/// tcp_v4_send_reset()): `<SEQ=SEG.ACK><CTL=RST>` when it carries an ACK,
/// else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`: its sequence number
/// and ACK field.
pub(crate) fn reset_for(seg: &TcpRepr<'_>) -> (SeqNumber, Option<SeqNumber>) {
    if seg.flags.ack() {
        (seg.ack, None)
    } else {
        (SeqNumber(0), Some(seg.seq + seg.segment_len()))
    }
}
