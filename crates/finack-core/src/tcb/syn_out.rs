//! Forming the SYN (SYN-SENT) and the SYN,ACK (SYN-RECEIVED), first copy or
//! retransmission (RFC 9293 §3.10.1 OPEN, §3.10.7.2 LISTEN; RFC 7323 and
//! RFC 2018 options), and the window a SYN offers. Split from `output`.

use finack_wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

use super::output::emit_packet;
use super::Tcb;
use crate::config::Config;
use crate::time::Instant;
use crate::types::{State, Stats, TimerKind};

impl Tcb {
    /// The window shift an active open offers: the configured one, or for a
    /// buffer the application sized (SO_RCVBUF before connect) or a window
    /// clamp it set (TCP_WINDOW_CLAMP) the least that carries the window
    /// they allow (Linux tcp_connect_init() clamps `window_clamp` to
    /// tcp_full_space(), and tcp_select_initial_window() picks the shift
    /// for the clamp).
    fn syn_wscale_offer(&self, cfg: &Config) -> u8 {
        if !cfg.window_scaling {
            return 0;
        }
        // TCP_WINDOW_CLAMP set before connect() bounds it too.
        let clamp = if cfg.rcv_memory { self.rmem_clamp() } else { 0 };
        let full = if self.rcvbuf_locked() {
            cfg.rcv_memory
                .then(|| self.rmem_full_space())
                .flatten()
                .unwrap_or(self.rcv.buf.cap() as u32)
        } else {
            0
        };
        cfg.window_scale_within(&[clamp, full])
    }

    /// SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED), first copy or retransmission.
    pub(super) fn output_syn(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        buf: &mut [u8],
    ) -> usize {
        let active = self.state == State::SynSent;
        let retransmission = self.snd.max.gt(self.snd.iss);
        let mut opts = TcpOptions {
            // MUST-14/MUST-67: announce our MSS from the MTU; MSS only on SYNs (MUST-65).
            mss: Some(self.our_mss(cfg)),
            ..TcpOptions::default()
        };
        if active {
            // Offer what the configuration enables. The shift is chosen
            // once, with the first SYN (Linux tcp_connect_init()), and kept
            // in `rcv.wscale` until the SYN,ACK says whether it holds.
            if !retransmission {
                self.rcv.wscale = self.syn_wscale_offer(cfg);
            }
            opts.sack_permitted = cfg.sack;
            opts.window_scale = cfg.window_scaling.then_some(self.rcv.wscale);
            opts.timestamps = cfg.timestamps.then(|| Timestamps {
                tsval: self.ts_now(now),
                tsecr: 0,
            });
        } else {
            // Answer only what the peer offered and we accepted.
            opts.sack_permitted = self.sack_ok;
            if self.snd.wscale > 0 || self.rcv.wscale > 0 {
                opts.window_scale = Some(self.rcv.wscale);
            }
            opts.timestamps = self.timestamps(now);
        }
        let flags = if active {
            TcpFlags::SYN
        } else {
            TcpFlags::SYN | TcpFlags::ACK
        } | self.ecn_syn_flags(cfg, active, retransmission);
        self.snd.nxt = self.snd.iss + 1;
        self.snd.max = self.snd.max.max(self.snd.nxt);
        if retransmission {
            self.snd.total_retrans += 1;
            stats.retransmits += 1;
            stats.syn_retrans += 1;
        } else {
            self.snd.rtt_probe.set(Some((self.snd.iss, now)));
        }
        if self.timers.get(TimerKind::Retransmit).is_none() {
            self.timers.set(
                TimerKind::Retransmit,
                Some(now + self.snd.rtt.backed_off(self.snd.backoff, cfg)),
            );
        }
        let window = self.window_field(cfg, Some(active));
        let ack = if active { SeqNumber(0) } else { self.rcv.nxt };
        if !active {
            self.rcv.last_ack_sent = self.rcv.nxt;
        }
        self.rcv.ack_now = false;
        let tcp = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.snd.iss,
            ack,
            flags,
            window,
            urgent: 0,
            options: opts,
            payload: &[],
        };
        emit_packet(&self.local, &self.remote, cfg, self.tos, &tcp, buf)
    }
}

/// The options of a stateless SYN,ACK besides timestamps: what a normal
/// SYN,ACK would answer to the same SYN.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct SynOpts {
    pub(crate) mss: u16,
    pub(crate) window_scale: Option<u8>,
    pub(crate) sack_permitted: bool,
    /// ECE set: ECN agreed (RFC 3168 §6.1.1).
    pub(crate) ece: bool,
}

/// The window field of a SYN or SYN,ACK offering `space` bytes: Linux
/// tcp_output.c: tcp_select_initial_window() quantizes the offer to a
/// multiple of `mss` when it exceeds one (`Config::quantize_syn_window`).
pub(crate) fn syn_window(cfg: &Config, space: u32, mss: u32) -> u16 {
    let space = if cfg.quantize_syn_window && mss > 0 && space > mss {
        space / mss * mss
    } else {
        space
    };
    space.min(65535) as u16
}
