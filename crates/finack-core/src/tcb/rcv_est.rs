//! What the receiving side estimates about its peer's sending, as Linux
//! keeps it for `tcp_info`: the peer's segment size (`tcpi_rcv_mss`,
//! `icsk_ack.rcv_mss`) and the round-trip time seen from the receiver
//! (`tcpi_rcv_rtt`, `rcv_rtt_est`, which Linux's receive-buffer autotuning
//! reads). Neither changes what finack sends.

use alloc::boxed::Box;
use core::time::Duration;

use finack_wire::{SeqNumber, TcpRepr};

use super::{Ctx, Tcb};
use crate::config::Config;
use crate::time::Instant;

/// Linux TCP_MSS_DEFAULT: the largest first guess at the peer's segments.
const MSS_DEFAULT: u32 = 536;
/// Linux TCP_MIN_MSS.
const MIN_MSS: u32 = 88;
/// The fixed TCP header.
const TCP_HEADER: u32 = 20;

/// The receiver's estimates.
#[derive(Clone, Debug, Default)]
pub(crate) struct RcvEstimates {
    /// The peer's segment size; 0 until first needed, when it takes
    /// Linux's initial guess (`tcp_initialize_rcv_mss()`).
    mss: u32,
    /// The size of the last short segment that could have been a full one
    /// (`icsk_ack.last_seg_size`): two in a row of one size set the estimate.
    last_seg_size: u32,
    /// The RTT estimate in microseconds, times 8 (`rcv_rtt_est.rtt_us`);
    /// 0 before any sample.
    rtt_x8_us: u64,
    /// The window measurement under way: the sequence number that ends it
    /// and when it began (`rcv_rtt_est.seq`, `.time`).
    rtt_seq: SeqNumber,
    rtt_time: Option<Instant>,
    /// The TSecr last sampled (`rcv_rtt_last_tsecr`): one sample per echo.
    last_tsecr: u32,
}

impl Tcb {
    /// The window we last advertised (Linux `tp->rcv_wnd`).
    fn rcv_wnd_advertised(&self) -> u32 {
        (self.rcv.adv - self.rcv.last_ack_sent).max(0) as u32
    }

    /// The peer's segment size as estimated (`tcpi_rcv_mss`); before any
    /// estimate, Linux's first guess (tcp_input.c: tcp_initialize_rcv_mss():
    /// the smaller of our MSS and the send MSS, at most half the window
    /// and 536, at least 88).
    pub(crate) fn rcv_mss(&self, cfg: &Config) -> u16 {
        let mss = match self.rcv.est.as_ref().map_or(0, |e| e.mss) {
            0 => u32::from(self.our_mss(cfg).min(self.snd.mss))
                .min(self.rcv_wnd_advertised() / 2)
                .clamp(MIN_MSS, MSS_DEFAULT),
            m => m,
        };
        mss.min(u32::from(u16::MAX)) as u16
    }

    /// The receiver's RTT estimate (`tcpi_rcv_rtt`: Linux reports
    /// `rcv_rtt_est.rtt_us >> 3`).
    pub(crate) fn rcv_rtt(&self) -> Duration {
        Duration::from_micros(self.rcv.est.as_ref().map_or(0, |e| e.rtt_x8_us) >> 3)
    }

    /// Bytes the estimates take apart from the control block.
    pub(crate) fn rcv_est_heap_bytes(&self) -> usize {
        self.rcv
            .est
            .as_ref()
            .map_or(0, |_| core::mem::size_of::<RcvEstimates>())
    }

    /// The estimates, allocated on first use.
    fn est(&mut self) -> &mut RcvEstimates {
        self.rcv.est.get_or_insert_with(Box::default)
    }

    /// Linux tcp_input.c: tcp_rcv_rtt_update(): a sample below the estimate
    /// (or the first) is taken as it is; a larger one is averaged in with
    /// weight 1/8 when it comes from a timestamp and ignored when it comes
    /// from a window measurement (which only bounds the RTT from above).
    fn rcv_rtt_update(&mut self, sample_us: u64, win_dep: bool) {
        let est = self.est();
        let old = est.rtt_x8_us;
        let m = sample_us << 3;
        est.rtt_x8_us = if old == 0 || m < old {
            m
        } else if win_dep {
            return;
        } else {
            old - (old >> 3) + sample_us
        };
    }

    /// Linux tcp_input.c: tcp_rcv_rtt_measure_ts(), for a segment arriving
    /// in ESTABLISHED once its ACK is processed: the first segment echoing
    /// a given TSecr that is at least a full segment long gives a sample,
    /// the time since we sent that TSval.
    pub(super) fn rcv_rtt_measure_ts(&mut self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>) {
        let Some(ts) = seg.options.timestamps.filter(|_| self.ts_ok) else {
            return;
        };
        let est = self.est();
        if ts.tsecr == est.last_tsecr {
            return;
        }
        est.last_tsecr = ts.tsecr;
        if seg.segment_len() < u32::from(self.rcv_mss(ctx.cfg)) {
            return;
        }
        // tcp_rtt_tsopt_us(): the echo's age in clock ticks (milliseconds);
        // an echo from the future or of this very tick gives no sample.
        let ticks = self.ts_now(ctx.now).wrapping_sub(ts.tsecr);
        if ticks > 0 && ticks < i32::MAX as u32 / 1000 {
            self.rcv_rtt_update(u64::from(ticks) * 1000, false);
        }
    }

    /// Linux tcp_input.c: tcp_event_data_recv(), for in-order data just
    /// queued: the segment-size estimate (tcp_measure_rcv_mss()) and the
    /// window measurement of the RTT (tcp_rcv_rtt_measure()).
    pub(super) fn rcv_data_event(&mut self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>) {
        self.measure_rcv_mss(ctx, seg);
        // tcp_rcv_rtt_measure(): a measurement ends when the data reaches
        // the window's edge as it stood when it began, one RTT later if the
        // sender is window-limited; then the next one begins.
        let (nxt, wnd) = (self.rcv.nxt, self.rcv_wnd_advertised());
        let est = self.est();
        if let Some(began) = est.rtt_time {
            if nxt.lt(est.rtt_seq) {
                return;
            }
            let us = ctx.now.saturating_duration_since(began).as_micros() as u64;
            self.rcv_rtt_update(us.max(1), true);
        }
        let est = self.est();
        est.rtt_seq = nxt + wnd;
        est.rtt_time = Some(ctx.now);
    }

    /// Linux tcp_input.c: tcp_measure_rcv_mss(): a segment (for a packet
    /// receive offload merged, its GSO segment size) at least as large as
    /// the estimate raises it, up to our MSS; a smaller one that looks
    /// full-sized (at least 536 bytes, or 88 without FIN, URG, SYN or PSH)
    /// lowers it when the next one has the same size.
    fn measure_rcv_mss(&mut self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>) {
        let current = u32::from(self.rcv_mss(ctx.cfg));
        let ours = u32::from(self.our_mss(ctx.cfg));
        let ts_len = if self.ts_ok { 12 } else { 0 };
        let est = self.est();
        est.mss = current;
        let last = core::mem::take(&mut est.last_seg_size);
        let len = match ctx.gso_size {
            0 => seg.payload.len() as u32,
            g => u32::from(g),
        };
        if len >= current {
            est.mss = len.min(ours);
            return;
        }
        let with_header = len + TCP_HEADER + seg.options.emitted_len() as u32;
        let f = seg.flags;
        let remnant = f.fin() || f.urg() || f.syn() || f.psh();
        if with_header >= MSS_DEFAULT + TCP_HEADER
            || (with_header >= MIN_MSS + TCP_HEADER && !remnant)
        {
            let size = with_header.saturating_sub(TCP_HEADER + ts_len);
            est.last_seg_size = size;
            if size == last {
                est.mss = size;
            }
        }
    }
}
