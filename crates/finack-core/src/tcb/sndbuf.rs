//! Send-buffer autotuning (Linux tcp_input.c: tcp_new_space(),
//! tcp_should_expand_sndbuf(), tcp_sndbuf_expand()): when an ACK frees room
//! for a writer that found the buffer full, and the connection is not
//! limited by its congestion window, the buffer grows to hold twice the
//! congestion window's worth of segments (`Config::sndbuf_autotune`).

use super::*;

/// Linux's worst-case memory per segment (tcp_sndbuf_expand(): the MSS plus
/// MAX_TCP_HEADER and the shared info, rounded up to a power of two, plus
/// the sk_buff): 2,304 bytes for a 1,460-byte MSS on x86-64.
fn per_mss_truesize(mss: u32) -> u32 {
    // MAX_TCP_HEADER (256 with the usual LL_MAX_HEADER of 32) and
    // SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) (320) on x86-64;
    // SKB_DATA_ALIGN(sizeof(struct sk_buff)) is 256.
    (mss + 256 + 320).next_power_of_two() + 256
}

impl Tcb {
    /// SO_SNDBUF was set: autotuning leaves this connection's send buffer
    /// alone (Linux SOCK_SNDBUF_LOCK).
    pub(crate) fn lock_sndbuf(&mut self) {
        self.snd.sndbuf_locked = true;
    }

    /// tcp_new_space() for a writer that was blocked, on an ACK that freed
    /// room: if tcp_should_expand_sndbuf() (not locked, no memory pressure,
    /// the congestion window not filled), tcp_sndbuf_expand(): twice
    /// max(10, cwnd, reordering + 1) segments at their worst-case memory
    /// cost (CUBIC and Reno have no `sndbuf_expand` hook, so the factor is
    /// 2), up to `send_buffer_max`. That memory is counted as Linux counts
    /// `sk_wmem_queued`: the queued bytes and each unit's sk_buff
    /// (`SendSide::wmem`).
    pub(crate) fn sndbuf_expand(&mut self, cfg: &Config) {
        if !cfg.sndbuf_autotune || self.snd.sndbuf_locked || self.rcv.mem_pressure {
            return;
        }
        let mss = u32::from(self.snd.mss.max(self.snd.peer_mss)).max(1);
        let cwnd = self.cc.cwnd();
        let segs = (cwnd / mss)
            .max(10)
            .max(self.reordering(cfg).saturating_add(1));
        let sndmem = 2u64 * u64::from(segs) * u64::from(per_mss_truesize(mss));
        let target = sndmem.min(cfg.send_buffer_max as u64) as usize;
        // Nothing to grow: no need to count what is in flight.
        if target <= self.snd.buf.cap() {
            return;
        }
        // "If we filled the congestion window, do not expand."
        if self.recovery_pipe(cfg) >= cwnd {
            return;
        }
        self.snd.buf.set_cap(target);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn worst_case_segment_cost_is_linuxs() {
        // The figure Linux's tcp_sndbuf_expand() reaches for a 1,460-byte
        // MSS (and for 1,448 with timestamps): 2048 + 256.
        assert_eq!(super::per_mss_truesize(1460), 2304);
        assert_eq!(super::per_mss_truesize(1448), 2304);
        assert_eq!(super::per_mss_truesize(536), 2304);
        // A 9,000-byte MTU: 16 KiB of head plus the sk_buff.
        assert_eq!(super::per_mss_truesize(8948), 16_640);
    }
}
