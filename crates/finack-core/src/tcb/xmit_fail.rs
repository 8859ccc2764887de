//! Transmissions the host refuses: while the host's device (a qdisc with
//! no room, say) drops every packet handed to it (`Endpoint::set_local_drop`),
//! the segments output forms do not leave, and the connection is left as
//! Linux leaves a socket whose `tcp_transmit_skb()` failed with a local
//! error: `__tcp_transmit_skb()` returns the qdisc's `NET_XMIT_DROP`, and
//! its callers treat the segment as never sent.
//!
//! What fails this way, as in Linux: new data and FINs (tcp_write_xmit()
//! stops at the refused skb and leaves it unsent), zero-window probes
//! (tcp_send_probe0()), retransmissions (tcp_retransmit_skb(): not counted,
//! tcp_xmit_retransmit_queue() stops) and loss probes. Where Linux ignores
//! the error (a SYN from tcp_connect(), a bare ACK from tcp_send_ack(), a
//! keep-alive, a RST), the segment is formed as usual and the endpoint
//! drops it, as the device did.
//!
//! Not modelled: Linux also enters CWR on a local drop (tcp_enter_cwr() in
//! __tcp_transmit_skb()); a refused SYN retransmission is retried after
//! TCP_RESOURCE_PROBE_INTERVAL and a refused keep-alive is not counted
//! (tcp_keepalive_timer()), where here both count as sent and lost.

use super::Tcb;
use crate::config::Config;
use crate::time::Instant;
use crate::types::{Stats, TimerKind};

/// One output call's view of the host's device: whether it refuses every
/// packet, and whether a transmission of this call failed (output stops);
/// how many segments the packet may hold (the device segments larger ones,
/// see `tso_out`), and what the packet formed holds.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Xmit {
    pub(crate) refuse: bool,
    pub(crate) failed: bool,
    /// At most this many segments in the packet (1: one segment, as always).
    pub(crate) max_segs: u16,
    /// The packet formed holds this many segments of SND.MSS payload bytes
    /// (0 for a packet of one segment).
    pub(crate) segs: u16,
}

/// Which kind of transmission the device refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// New data or a FIN (Linux tcp_write_xmit()).
    NewData,
    /// A probe the persist timer sent (Linux tcp_send_probe0()).
    Probe,
    /// A retransmission; `rto_head`: the one a retransmission timeout
    /// sends at once (Linux tcp_retransmit_timer()).
    Retransmission { rto_head: bool },
    /// A tail loss probe (Linux tcp_send_loss_probe()); `resend`: it
    /// would have resent data already sent.
    LossProbe { resend: bool },
}

impl Tcb {
    /// The device refused the segment output was about to send: leave the
    /// connection as Linux leaves it after a locally failed transmission,
    /// and stop output for this call.
    pub(super) fn xmit_refused(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        xmit: &mut Xmit,
        kind: Refused,
    ) {
        xmit.failed = true;
        stats.local_drops += 1;
        // Linux tcp_output.c: __tcp_transmit_skb() counts the ACK a segment
        // carries as sent (tcp_event_ack_sent()) before handing the packet
        // to the device: a pending delayed ACK is off either way.
        self.rcv.ack_now = false;
        self.rcv.unacked = 0;
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.timers.set(TimerKind::DelayedAck, None);
        let backed_off = now + self.snd.rtt.backed_off(self.snd.backoff, cfg);
        match kind {
            Refused::NewData => {
                // Linux tcp_output.c: tcp_write_xmit() leaves the skb unsent;
                // __tcp_push_pending_frames() → tcp_check_probe_timer(): with
                // nothing in flight and no timer pending, the probe timer
                // (tcp_probe0_base()) makes sure it is tried again.
                let pending = [
                    TimerKind::Retransmit,
                    TimerKind::Persist,
                    TimerKind::LossProbe,
                ]
                .iter()
                .any(|&k| self.timers.get(k).is_some());
                if self.snd.una == self.snd.max && !pending {
                    self.timers.set(TimerKind::Persist, Some(backed_off));
                }
            }
            Refused::Probe => {
                // Linux tcp_output.c: tcp_send_probe0(): the probe counted
                // (the persist timer's expiry did that), but a probe refused
                // locally waits TCP_RESOURCE_PROBE_INTERVAL without backing
                // off (the expiry raised the backoff for a probe that left).
                let at = match cfg.resource_probe_interval {
                    Some(d) => {
                        self.snd.backoff = self.snd.backoff.saturating_sub(1);
                        now + d
                    }
                    None => backed_off,
                };
                self.timers.set(TimerKind::Persist, Some(at));
            }
            Refused::Retransmission { rto_head } => {
                // Linux tcp_output.c: tcp_retransmit_skb(): a refused
                // retransmission is neither in retrans_out nor in
                // total_retrans (TCPRetransFail), but counts against undo.
                stats.retrans_fail += 1;
                self.count_undo_retrans();
                if rto_head {
                    // Linux tcp_timer.c: tcp_retransmit_timer(): try again
                    // after TCP_RESOURCE_PROBE_INTERVAL, without backoff.
                    let at = match cfg.resource_probe_interval {
                        Some(d) => {
                            self.snd.backoff = self.snd.backoff.saturating_sub(1);
                            now + d
                        }
                        None => backed_off,
                    };
                    self.timers.set(TimerKind::Retransmit, Some(at));
                } else if self.timers.get(TimerKind::Retransmit).is_none() {
                    self.timers.set(TimerKind::Retransmit, Some(backed_off));
                }
            }
            Refused::LossProbe { resend } => {
                // Linux tcp_output.c: tcp_send_loss_probe(): a probe that did
                // not go re-arms the retransmission timer (tcp_rearm_rto()).
                if resend {
                    stats.retrans_fail += 1;
                }
                self.timers.set(TimerKind::LossProbe, None);
                self.timers.set(TimerKind::Retransmit, Some(backed_off));
            }
        }
    }
}
