//! The receive side of a connection: the receive sequence space (RFC 9293
//! §3.3.1), the receive ring with its out-of-order ranges, and when to
//! acknowledge (delayed and quick ACKs, RFC 9293 §3.8.6.3).

use finack_wire::SeqNumber;

use crate::buffer::RecvBuf;
use crate::config::Config;
use crate::time::Instant;

/// What a connection knows about the bytes it receives.
pub(crate) struct RecvSide {
    pub(crate) irs: SeqNumber,
    /// RCV.NXT.
    pub(crate) nxt: SeqNumber,
    /// Right edge of the window we last advertised (never moves left, SHLD-14).
    pub(crate) adv: SeqNumber,
    /// Our window scale shift (RFC 7323).
    pub(crate) wscale: u8,
    /// In-order bytes the application has not read, and out-of-order ranges.
    pub(crate) buf: RecvBuf,
    /// A FIN that arrived beyond RCV.NXT: where the stream ends.
    pub(crate) ooo_fin: Option<SeqNumber>,
    /// A D-SACK block owed (RFC 2883): its start and length, length 0 when
    /// none (Linux `rx_opt.dsack`, `duplicate_sack[0]`). The next segment
    /// with SACK room carries it first, once.
    pub(crate) dsack: (SeqNumber, u32),
    pub(crate) fin_received: bool,
    /// The application will read no more (`shutdown(Read)` or `close()`).
    pub(crate) read_shutdown: bool,
    /// The endpoint was under memory pressure when this event began
    /// (`Config::tcp_mem`): new windows are clamped, empty rings go at once.
    pub(crate) mem_pressure: bool,
    pub(crate) bytes_received: u64,
    /// The urgent pointer (MUST-30).
    pub(crate) up: Option<SeqNumber>,
    /// Last.ACK.sent and TS.Recent (RFC 7323 §4.3) with its age (§5.5).
    pub(crate) last_ack_sent: SeqNumber,
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_age: Instant,
    /// An ACK is owed now.
    pub(crate) ack_now: bool,
    /// In-order bytes received since we last sent an ACK.
    pub(crate) unacked: u32,
    /// Largest segment seen from the peer (the "full-sized" yardstick).
    pub(crate) seg_max: u32,
    /// Quick ACKs left.
    pub(crate) quickacks: u32,
    /// When an ACK last answered an invalid segment (RFC 5961 §7 rate
    /// limit), in milliseconds modulo 2^32 (Linux `last_oow_ack_time`, a
    /// 32-bit jiffies stamp).
    pub(crate) last_challenge: Option<u32>,
    /// TCP_MAXSEG (Linux `rx_opt.user_mss`), 0 when unset: the most we
    /// announce in our MSS option and the most we send in a segment.
    pub(crate) user_mss: u16,
    /// The peer's segment size and the receiver's RTT estimate (tcp_info),
    /// allocated when the first data arrives.
    pub(crate) est: Option<alloc::boxed::Box<super::rcv_est::RcvEstimates>>,
}

impl RecvSide {
    pub(crate) fn new(cfg: &Config, now: Instant) -> RecvSide {
        RecvSide {
            irs: SeqNumber(0),
            nxt: SeqNumber(0),
            adv: SeqNumber(0),
            wscale: 0,
            buf: RecvBuf::new(cfg.recv_buffer),
            ooo_fin: None,
            dsack: (SeqNumber(0), 0),
            fin_received: false,
            read_shutdown: false,
            mem_pressure: false,
            bytes_received: 0,
            up: None,
            last_ack_sent: SeqNumber(0),
            ts_recent: 0,
            ts_recent_age: now,
            ack_now: false,
            unacked: 0,
            seg_max: 536,
            // Linux starts with none (icsk_ack.quick = 0) and grants them
            // with the first data (tcp_event_data_recv(), `ato_data_arrives`),
            // which is modelled with the memory model only.
            quickacks: if cfg.rcv_memory { 0 } else { cfg.quickacks },
            last_challenge: None,
            user_mss: 0,
            // The memory model keeps its state with the estimates, from
            // the start.
            est: cfg
                .rcv_memory
                .then(|| alloc::boxed::Box::new(super::rcv_est::RcvEstimates::with_memory(cfg))),
        }
    }
}
