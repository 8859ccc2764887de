//! The send side of a connection: the send sequence space (RFC 9293 §3.3.1),
//! the bytes the application queued, and the round-trip and retransmission
//! timing that belongs to them (RFC 6298).

use core::time::Duration;

use finack_wire::SeqNumber;

use crate::buffer::SendBuf;
use crate::config::Config;
use crate::rtt::RttEstimator;
use crate::time::Instant;

/// What a connection knows about the bytes it sends.
pub(crate) struct SendSide {
    pub(crate) iss: SeqNumber,
    /// SND.UNA: the oldest unacknowledged sequence number.
    pub(crate) una: SeqNumber,
    /// SND.NXT: where output continues (pulled back to SND.UNA on a
    /// retransmission timeout).
    pub(crate) nxt: SeqNumber,
    /// The highest sequence number sent so far plus one.
    pub(crate) max: SeqNumber,
    /// Recovery retransmits holes from here on (RFC 6675 HighRxt; a sequence
    /// number of the send space, so kept here rather than with the rest of
    /// loss recovery, which is allocated only when needed).
    pub(crate) rtx_next: SeqNumber,
    /// SND.WND, scaled.
    pub(crate) wnd: u32,
    /// The largest window the peer has offered.
    pub(crate) max_wnd: u32,
    pub(crate) wl1: SeqNumber,
    pub(crate) wl2: SeqNumber,
    /// The peer's window scale shift (RFC 7323).
    pub(crate) wscale: u8,
    /// Queued bytes from SND.UNA on (the send ring).
    pub(crate) buf: SendBuf,
    /// Sequence number of the first byte in `buf`.
    pub(crate) buf_seq: SeqNumber,
    /// The application closed its sending side: FIN follows the queued data.
    pub(crate) fin_queued: bool,
    /// Our FIN went out in a segment of its own (a tail probe resends it alone).
    pub(crate) fin_alone: bool,
    /// The MSS the peer announced, and the effective send MSS (MUST-16).
    pub(crate) peer_mss: u16,
    pub(crate) mss: u16,
    /// Nagle's algorithm off (TCP_NODELAY).
    pub(crate) nodelay: bool,
    /// A write found the buffer full: tell the application when room opens.
    pub(crate) blocked: bool,
    /// New-data segments sent back to back since the last input, timer or user
    /// call (for `Config::gso_segs_min` grouping).
    pub(crate) burst_segs: u32,
    /// Smoothed RTT, variation and RTO (RFC 6298).
    pub(crate) rtt: RttEstimator,
    /// A segment being timed without timestamps (Karn: never a retransmission).
    pub(crate) rtt_probe: Option<(SeqNumber, Instant)>,
    /// Our TSval when the retransmission timer last expired.
    pub(crate) ts_rto_mark: Option<u32>,
    /// Exponential backoff of the RTO (RFC 6298 §5.5).
    pub(crate) backoff: u32,
    /// Zero-window probing: send a probe octet at the next chance, and how
    /// many probes went unanswered (MUST-36, MUST-37).
    pub(crate) force_probe: bool,
    pub(crate) probes_unanswered: u32,
    /// TCP_USER_TIMEOUT (RFC 9293 MUST-21 lets the application set R2).
    pub(crate) user_timeout: Option<Duration>,
    /// Segments retransmitted and data bytes acknowledged, for `info()`.
    pub(crate) total_retrans: u64,
    pub(crate) bytes_acked: u64,
}

impl SendSide {
    pub(crate) fn new(cfg: &Config, iss: SeqNumber, peer_mss: u16) -> SendSide {
        SendSide {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            rtx_next: iss,
            wnd: 0,
            max_wnd: 0,
            wl1: SeqNumber(0),
            wl2: iss,
            wscale: 0,
            buf: SendBuf::new(cfg.send_buffer),
            buf_seq: iss + 1,
            fin_queued: false,
            fin_alone: false,
            peer_mss,
            mss: peer_mss,
            nodelay: !cfg.nagle,
            blocked: false,
            burst_segs: 0,
            rtt: RttEstimator::new(cfg),
            rtt_probe: None,
            ts_rto_mark: None,
            backoff: 0,
            force_probe: false,
            probes_unanswered: 0,
            user_timeout: cfg.user_timeout,
            total_retrans: 0,
            bytes_acked: 0,
        }
    }

    /// Bytes sent and not yet acknowledged.
    pub(crate) fn in_flight(&self) -> u32 {
        (self.max - self.una).max(0) as u32
    }
}
