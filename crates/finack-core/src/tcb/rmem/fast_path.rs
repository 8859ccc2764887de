//! Linux's header prediction (tcp_input.c: tcp_rcv_established(), the
//! fast path) where it bears on receive memory. A segment whose header is
//! the one predicted (only ACK and perhaps PSH, the expected options, the
//! window field last seen), in order, acknowledging nothing unsent, with
//! data whose buffer the memory reserved ahead covers, is queued without
//! tcp_data_queue()'s checks: not even the receive buffer's limit, which
//! only the window then enforces. So a buffer lowered under data already
//! announced still takes that data, as Linux does. Prediction goes on when
//! the connection is established (an active open's only without window
//! scaling, tcp_finish_connect()) and after in-order data or a new peer
//! window when nothing is out of order, the window is open, memory is under
//! the limit and no urgent data is pending (tcp_fast_path_check()); it goes
//! off with out-of-order data, urgent data, a zero window offered and a
//! refusal for want of memory.

use finack_wire::TcpRepr;

use super::super::Tcb;
use crate::config::Config;

impl Tcb {
    /// Linux tcp_fast_path_on(): predict the peer's current window field.
    pub(in crate::tcb) fn hp_on(&mut self, cfg: &Config) {
        if !cfg.rcv_memory {
            return;
        }
        let field = (self.snd.wnd >> self.snd.wscale).min(u32::from(u16::MAX)) as u16;
        self.mem_mut().hp = Some(field);
    }

    /// Prediction off (`pred_flags = 0`).
    pub(in crate::tcb) fn hp_off(&mut self) {
        if let Some(e) = self.rcv.est.as_mut() {
            e.mem.hp = None;
        }
    }

    /// Linux tcp_fast_path_check().
    pub(in crate::tcb) fn hp_check(&mut self, cfg: &Config) {
        let ok = self
            .mem()
            .is_some_and(|m| m.ooo.is_empty() && m.wnd > 0 && m.rmem < m.rcvbuf)
            && !self.urgent_active();
        if ok {
            self.hp_on(cfg);
        }
    }

    /// Is `seg` in-order data the fast path takes while it acknowledges
    /// nothing new? Linux tcp_rcv_established() calls tcp_ack() for such
    /// data only when SEG.ACK differs from SND.UNA.
    pub(in crate::tcb) fn hp_skips_ack(&self, seg: &TcpRepr<'_>) -> bool {
        seg.ack == self.snd.una
            && seg.seq == self.rcv.nxt
            && self.hp_takes(seg, self.seg_truesize(seg).0)
    }

    /// Does the fast path take this in-order data segment, whose buffer
    /// takes `truesize`? Its header must be the predicted one
    /// (`pred_flags`: the window field, ACK with at most PSH, and no options
    /// but timestamps where they were agreed, which must pass PAWS), its
    /// acknowledgment at most SND.NXT, and the memory reserved ahead must
    /// cover its buffer (`skb->truesize <= sk_forward_alloc`).
    pub(super) fn hp_takes(&self, seg: &TcpRepr<'_>, truesize: u32) -> bool {
        let Some(m) = self.mem() else {
            return false;
        };
        let flags = seg.flags;
        let only_ack = flags.ack()
            && !(flags.syn() || flags.fin() || flags.rst() || flags.urg())
            && !(flags.ece() || flags.cwr());
        let o = &seg.options;
        let options = o.mss.is_none()
            && o.window_scale.is_none()
            && !o.sack_permitted
            && o.sack_blocks.is_empty()
            && o.md5.is_none()
            && o.timestamps.is_some() == self.ts_ok;
        let paws = o
            .timestamps
            .is_none_or(|t| t.tsval.wrapping_sub(self.rcv.ts_recent) as i32 >= 0);
        m.hp == Some(seg.window)
            && only_ack
            && options
            && paws
            && seg.seq == self.rcv.nxt
            && seg.ack.le(self.snd.max)
            && !seg.payload.is_empty()
            && truesize <= m.fwd
    }
}
