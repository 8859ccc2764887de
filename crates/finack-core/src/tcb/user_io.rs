//! The user calls that move data (RFC 9293 §3.10.2 SEND, §3.10.3
//! RECEIVE): queueing what the application writes, and handing it what
//! arrived, with the window updates reading triggers.

use super::*;

impl Tcb {
    /// SEND (§3.10.2).
    pub(crate) fn send(
        &mut self,
        now: Instant,
        data: &[u8],
        flags: SendFlags,
        cfg: &Config,
    ) -> Result<usize, Error> {
        // A push asked for earlier (uncorking, TCP_NODELAY) applied to what
        // was queued then; this write is pushed on its own terms.
        self.snd.push_once = false;
        self.snd.piece_left = 0;
        match self.state {
            // Queued for transmission after entering ESTABLISHED.
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {
                if self.snd.fin_queued {
                    return Err(Error::BrokenPipe);
                }
                let idle = self.snd.una == self.snd.max && self.state.is_synchronized();
                // Linux tcp.c: tcp_send_mss() → tcp_current_mss().
                self.current_mss();
                let unsent_before = self.snd.notsent();
                let room = send::WriteRoom {
                    lowat: self.snd.notsent_lowat(cfg),
                    sendable: self.sendable_now(),
                    piece: self.piece_now(cfg),
                };
                let n = self.snd.queue(data, flags, cfg.linux_push, room);
                if n > 0 && self.errs.tracking() {
                    self.tag_write(n < data.len() && cfg.linux_push, room.sendable);
                }
                if n > 0 && idle {
                    // Linux tcp.c: tcp_skb_entail() checks on each write.
                    self.slow_start_after_idle_check(now, cfg);
                }
                self.chrono_on_write(now, unsent_before, n);
                if n > 0 {
                    // Linux tcp.c: tcp_push(): MSG_MORE pushes this write
                    // with TCP_NAGLE_CORK; tcp_mark_urg(): MSG_OOB puts the
                    // urgent pointer after the last byte written.
                    self.snd.more = flags.more;
                    if flags.oob {
                        self.snd.buf.mark_urgent_end();
                    }
                }
                if n < data.len() {
                    self.snd.blocked = true;
                }
                if n == 0 && !data.is_empty() {
                    return Err(Error::WouldBlock);
                }
                Ok(n)
            }
            // "error: connection closing".
            State::FinWait1
            | State::FinWait2
            | State::Closing
            | State::LastAck
            | State::TimeWait => Err(Error::BrokenPipe),
            State::Closed => Err(Error::NotConnected),
            State::Listen => Err(Error::NotConnected),
        }
    }

    /// Bytes beyond those sent that the congestion window and the peer's
    /// window let out now, the latter in whole segments (none before the
    /// handshake is done).
    fn sendable_now(&self) -> usize {
        if !matches!(self.state, State::Established | State::CloseWait) {
            return 0;
        }
        let in_flight = self.snd.in_flight();
        let by_cwnd = self.cc.cwnd().saturating_sub(in_flight);
        // Linux tcp_output.c: tcp_snd_wnd_test() and tcp_mss_split_point():
        // the peer's window lets out whole segments only.
        let mss = u32::from(self.snd.mss.max(1));
        let by_wnd = self.snd.wnd.saturating_sub(in_flight) / mss * mss;
        by_cwnd.min(by_wnd) as usize
    }

    /// What one GSO packet of new data may carry now, in bytes, before the
    /// windows (`gso_packet_segs`).
    fn piece_now(&self, cfg: &Config) -> usize {
        let segs = self.gso_packet_segs(cfg, self.cc.cwnd());
        segs as usize * usize::from(self.snd.mss.max(1))
    }

    /// RECEIVE (§3.10.3). `Ok(0)` is end of stream.
    /// RECEIVE with MSG_PEEK: the bytes `recv` would return, left in place.
    pub(crate) fn peek(&self, out: &mut [u8], cfg: &Config) -> Result<usize, Error> {
        if self.stream_readable(cfg) > 0 {
            return Ok(self.peek_stream(cfg, out));
        }
        if self.rcv.fin_received || self.rcv.read_shutdown {
            return Ok(0);
        }
        match self.state {
            State::Closed => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }

    pub(crate) fn recv(
        &mut self,
        now: Instant,
        out: &mut [u8],
        cfg: &Config,
    ) -> Result<(usize, bool), Error> {
        let queued = self.rcv.buf.len() > 0;
        let n = if queued {
            self.read_stream(cfg, out)
        } else {
            0
        };
        // Only the out-of-band byte was there, now skipped: the read finds
        // nothing and waits for more (Linux tcp_recvmsg_locked()).
        let skipped_only = n == 0 && self.rcv.buf.len() == 0 && !out.is_empty();
        if queued {
            self.rmem_uncharge_read(cfg);
        }
        if queued && !skipped_only {
            // Linux tcp.c: tcp_recvmsg_locked() adjusts the buffer before
            // tcp_cleanup_rbuf() decides whether to announce the window.
            self.rcv_space_adjust(now, cfg, n);
            let update = self.cleanup_rbuf(cfg, n);
            if update {
                self.rcv.ack_now = true;
            }
            return Ok((n, update));
        }
        if self.rcv.fin_received || self.rcv.read_shutdown {
            return Ok((0, false));
        }
        match self.state {
            State::Closed => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Linux tcp.c: __tcp_cleanup_rbuf() after the application took
    /// `copied` bytes: does an ACK or a window update go now?
    pub(super) fn cleanup_rbuf(&mut self, cfg: &Config, copied: usize) -> bool {
        let n = copied;
        let open = if cfg.rcv_memory {
            // Linux tcp.c: __tcp_cleanup_rbuf(): a delayed ACK owed for
            // more than one full segment goes now (the every-second-
            // segment ACK tcp_input.c held back while the window could
            // not move); else, when what is still open of the window
            // offered is at most half the clamp, a window at least twice
            // it is announced.
            let owed = self.timers.get(TimerKind::DelayedAck).is_some()
                && self.rcv.nxt - self.rcv.last_ack_sent > i32::from(self.rcv_mss(cfg))
                || cfg.delayed_ack_max.is_some()
                    && self.read_emptied_pushed(cfg, n, self.rmem_in_use() == 0);
            let room = self.rcv_wnd_open();
            let clamp = self.rmem_clamp();
            owed || 2 * u64::from(room) <= u64::from(clamp) && {
                let now_wnd = self.rmem_select(cfg);
                now_wnd > 0 && u64::from(now_wnd) >= 2 * u64::from(room)
            }
        } else if cfg.linux_window_update {
            // Linux tcp.c: tcp_cleanup_rbuf(): a read announces the window
            // only when what is still open of the advertised one is at most
            // half the largest window, and the window now is at least twice
            // that.
            let room = self.adv_room();
            let now_wnd = self.rcv_window();
            2 * u64::from(room) <= self.rcv.buf.cap() as u64
                && now_wnd > 0
                && u64::from(now_wnd) >= 2 * u64::from(room)
        } else {
            // RFC 9293 §3.8.6.2.2 (receiver SWS avoidance, MUST-39):
            // announce the opened window once its right edge can move by
            // min(RCV.BUFF/2, Eff.snd.MSS) beyond what we advertised.
            let grown = self.rcv_window().saturating_sub(self.adv_room());
            let threshold = (self.rcv.buf.cap() as u32 / 2).min(u32::from(self.snd.mss));
            grown >= threshold
        };
        self.state.is_synchronized() && !self.rcv.fin_received && open
    }
}
