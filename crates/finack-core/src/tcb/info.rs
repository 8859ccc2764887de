//! The `tcp_info` snapshot of a connection (Linux tcp.c: tcp_get_info()).

use super::*;

impl Tcb {
    /// What `tcp_info` reports of this connection now.
    pub(crate) fn info(&self, now: Instant, cfg: &Config) -> ConnInfo {
        let unacked = self.snd.in_flight();
        let sent_data =
            (self.snd.max - self.snd.buf_seq).clamp(0, self.snd.buf.len() as i32) as u32;
        ConnInfo {
            state: self.state,
            local: self.local,
            remote: self.remote,
            state_age: now - self.state_since,
            srtt: self.snd.rtt.srtt(),
            rttvar: self.snd.rtt.rttvar(),
            rto: self.snd.rtt.backed_off(self.snd.backoff, cfg),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            snd_mss: self.snd.mss,
            peer_mss: self.snd.peer_mss,
            snd_wscale: self.snd.wscale,
            rcv_wscale: self.rcv.wscale,
            timestamps: self.ts_ok,
            sack: self.sack_ok,
            backoff: self.snd.backoff,
            // Linux keeps one count (icsk_probes_out) for both kinds of
            // probe, which never run at once.
            probes: u32::from(self.snd.probes_unanswered.max(self.ka.probes_out)),
            total_retransmits: u64::from(self.snd.total_retrans),
            unacked,
            unsent: self.snd.buf.len() as u32 - sent_data,
            readable: self.rcv.buf.len() as u32,
            snd_wnd: self.snd.wnd,
            // Linux counts what SND.UNA moved over (tcp_snd_una_update()):
            // the SYN of an active open too (a passive child starts with
            // it acknowledged), and the FIN.
            bytes_acked: self.snd.bytes_acked()
                + u64::from(self.listener.is_none() && self.snd.una.gt(self.snd.iss))
                + u64::from(self.fin_acked()),
            in_recovery: self.rec.recover.is_some(),
            reordering: self.reordering(cfg),
            reord_seen: self.rec.reord_seen,
            ca_state: if self.after_rto() {
                4
            } else if self.rec.recover.is_some() {
                3
            } else if self.in_cwr() {
                2
            } else if self.rec.dupacks > 0 || !self.rec.sacked.is_empty() {
                1
            } else {
                0
            },
            bytes_received: self.rcv.bytes_received,
            soft_error: self.errs.soft_error(),
            adv_mss: self.our_mss(cfg),
            unacked_segments: self.snd.packets_out(),
            // Without SACK, Linux reports the duplicate ACKs' count.
            sacked_segments: if self.sack_ok {
                self.snd.sacked_segments(&self.rec.sacked)
            } else {
                self.rec.reno_sacked
            },
            lost_segments: self.lost_segments(),
            retrans_segments: self.snd.buf.sent().map_or(0, |l| l.retrans_out()),
            // Linux tcp.c: tcp_get_info(): now - icsk_ack.lrcvtime.
            last_data_recv: core::time::Duration::from_millis(u64::from(
                self.rcv.buf.ms_since_data(now.as_millis()),
            )),
            notsent_lowat: self.snd.notsent_lowat(cfg),
            rcv_rtt: self.rcv_rtt(),
            rcv_mss: self.rcv_mss(cfg),
            rcv_buf: self.rcvbuf(cfg) as u32,
            rcv_mem: self.rmem_in_use(),
            rcv_ssthresh: self.rcv_ssthresh(cfg),
            rcv_wnd: self.rcv_wnd_announced(cfg),
            ato: core::time::Duration::from_millis(u64::from(
                self.rcv.est.as_ref().map_or(0, |e| e.ato_ms),
            )),
            min_rtt: (self.snd.min_rtt_us != u32::MAX)
                .then(|| core::time::Duration::from_micros(u64::from(self.snd.min_rtt_us))),
            snd_buf: self.snd.buf.cap() as u32,
            chrono: self.send_times(now),
            counts: self.counts(now, cfg),
        }
    }
}
