//! A connection under the endpoint's memory limits (`Config::tcp_mem`) and
//! orphan limit (`Config::max_orphans`): whether arriving data may take more
//! memory, pruning out-of-order data to make room, and resetting orphans
//! when resources run short.

use super::{Ctx, Tcb};
use crate::types::{CloseReason, State};

impl Tcb {
    /// Linux tcp_input.c: tcp_try_rmem_schedule(): may `len` bytes arriving
    /// `offset` bytes past RCV.NXT be stored? False: the segment is to be
    /// dropped.
    ///
    /// They may when they fit in what the receive ring has allocated, or the
    /// endpoint's limits let it grow (`MemState::may_charge`); in-order data
    /// for a connection that holds no received data always may
    /// (tcp_data_queue(): sk_forced_mem_schedule() when the receive queue is
    /// empty), so every connection makes progress. Otherwise, and also when
    /// a connection holding more than its share under memory pressure gets
    /// data, out-of-order ranges beyond the segment are dropped from the
    /// highest down and the ring is compacted until it is within its budget
    /// (tcp_prune_queue(): tcp_collapse(), tcp_prune_ofo_queue()).
    pub(super) fn rmem_schedule(&mut self, ctx: &mut Ctx<'_>, offset: usize, len: usize) -> bool {
        if ctx.cfg.tcp_mem.is_none() {
            return true;
        }
        let stores = |t: &Tcb, ctx: &Ctx<'_>| {
            let extra = t.rcv.buf.growth_for(offset, len);
            let forced = offset == 0 && t.rcv.buf.len() == 0 && !t.rcv.buf.has_ooo();
            let rcv = t.rcv.buf.heap_bytes();
            extra == 0 || forced || ctx.mem.may_charge(ctx.cfg, t.buffer_bytes(), rcv, extra)
        };
        let within = |t: &Tcb, ctx: &Ctx<'_>| {
            let over = t.rcv.buf.has_ooo_beyond(offset)
                && ctx
                    .mem
                    .over_share(ctx.cfg, t.buffer_bytes(), t.rcv.buf.heap_bytes());
            stores(t, ctx) && !over
        };
        if within(self, ctx) {
            return true;
        }
        ctx.stats.prune_called += 1;
        let mut pruned = false;
        if !stores(self, ctx) && self.rcv.buf.collapse() && within(self, ctx) {
            return true;
        }
        while self.rcv.buf.prune_ooo_beyond(offset) {
            pruned = true;
            self.rmem_resync_ooo(ctx.cfg);
            self.rcv.buf.collapse();
            if within(self, ctx) {
                break;
            }
        }
        if pruned {
            ctx.stats.ofo_pruned += 1;
            // Linux tcp_prune_ofo_queue(): tcp_sack_reset().
            self.rcv.buf.forget_sacks();
        }
        if stores(self, ctx) {
            return true;
        }
        // Linux tcp_prune_queue(): pruning did not make room; the segment
        // is dropped (it will be sent again).
        ctx.stats.rcv_pruned += 1;
        false
    }

    /// Linux tcp_timer.c: tcp_out_of_resources(), on an orphan's
    /// retransmission or probe timeout: reset it if there are too many
    /// orphans or memory is over the hard limit (tcp_check_oom()), the
    /// limit halved for an orphan that sent nothing for twice the largest
    /// RTO or is past its retries (`do_reset` false). True if it was reset.
    pub(super) fn out_of_resources(&mut self, ctx: &mut Ctx<'_>, do_reset: bool) -> bool {
        let idle = ctx.now.saturating_duration_since(self.snd.last_data_sent);
        let mut shift = 0;
        if idle > 2 * ctx.cfg.rto_max || !do_reset {
            shift += 1;
        }
        if self.errs.soft_error().is_some() {
            // A dubious ICMP error arrived: penalize even more.
            shift += 1;
        }
        if !ctx.mem.check_oom(ctx.cfg, shift, self.snd.buf.len()) {
            return false;
        }
        // The RST goes out if something was sent recently or the window is
        // closed with nothing in flight.
        let reset = do_reset
            || idle <= ctx.cfg.time_wait
            || (self.snd.wnd == 0 && self.snd.una == self.snd.max);
        self.kill_on_memory(ctx, reset);
        true
    }

    /// Reset an orphan for want of resources (Linux TCPAbortOnMemory):
    /// `<SEQ=SND.NXT><CTL=RST>` (with ACK in the Linux profile, as
    /// tcp_send_active_reset()), when `reset`, then CLOSED.
    pub(crate) fn kill_on_memory(&mut self, ctx: &mut Ctx<'_>, reset: bool) {
        if matches!(self.state, State::Closed | State::Listen | State::TimeWait) {
            return;
        }
        if reset && self.state != State::SynSent {
            self.active_rst(ctx);
        }
        ctx.stats.abort_on_memory += 1;
        self.enter_closed(ctx, CloseReason::Aborted);
    }

    /// Linux tcp_timer.c: tcp_write_timeout() for an orphan (SOCK_DEAD):
    /// when its retransmission timer fires, it goes if resources are short
    /// (tcp_out_of_resources()) or, with the peer's window closed, after
    /// `orphan_retries` backoffs: the zero-window "repair" path of
    /// tcp_retransmit_timer(), which never gives up while the peer answers,
    /// is not for orphans. True if the connection ended.
    pub(super) fn orphan_rto_expired(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let alive = self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg) < ctx.cfg.rto_max;
        let do_reset = alive || self.snd.backoff < ctx.cfg.orphan_retries;
        if self.out_of_resources(ctx, do_reset) {
            return true;
        }
        if self.snd.wnd == 0 && self.snd.backoff >= ctx.cfg.orphan_retries {
            self.enter_closed(ctx, CloseReason::TimedOut);
            return true;
        }
        false
    }

    /// Linux tcp_timer.c: tcp_probe_timer() for an orphan: probing a window
    /// the peer keeps closed ends once the backed-off RTO has reached its
    /// maximum and `orphan_retries` probes went out (the peer answering
    /// does not keep an orphan alive), or when resources are short. True
    /// if the connection ended.
    pub(super) fn orphan_probe_expired(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let alive = self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg) < ctx.cfg.rto_max;
        if !alive && self.snd.backoff >= ctx.cfg.orphan_retries {
            self.enter_closed(ctx, CloseReason::TimedOut);
            return true;
        }
        self.out_of_resources(ctx, true)
    }
}
