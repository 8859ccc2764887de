//! Classic Explicit Congestion Notification (RFC 3168) the way Linux does it
//! (`net.ipv4.tcp_ecn`, [`crate::EcnMode`]).
//!
//! - Negotiation: an active open asks with ECE and CWR in its SYN; a passive
//!   open that accepts answers with ECE alone in its SYN,ACK. A retransmitted
//!   SYN stops asking (`Config::ecn_fallback`).
//! - Sender: new data goes out as ECT(0); pure ACKs, SYNs and retransmissions
//!   as Not-ECT. An ACK with ECE starts a window reduction (Linux's CWR state,
//!   a proportional rate reduction, RFC 6937), at most once per window of
//!   data, and the next new data segment carries CWR.
//! - Receiver: a data segment marked CE makes every segment we send carry ECE
//!   until one from the peer carries CWR, and ACKs go out at once for a while.
//!
//! The per-connection state is a few bits in `Tcb::ecn` (Linux
//! `tp->ecn_flags`) and, only while a reduction runs, a [`Cwr`] kept with the
//! loss-recovery state (allocated on first use, so the control block does not
//! grow).

use finack_wire::{Ecn, SeqNumber, TcpFlags, TcpRepr};

use super::{Ctx, Tcb};
use crate::config::Config;

/// Both ends agreed on ECN (Linux `TCP_ECN_OK`).
pub(crate) const ECN_OK: u8 = 1;
/// We reduced the window: the next new data segment carries CWR (Linux
/// `TCP_ECN_QUEUE_CWR`).
pub(crate) const ECN_QUEUE_CWR: u8 = 2;
/// Data arrived marked CE: ECE on what we send until the peer's CWR (Linux
/// `TCP_ECN_DEMAND_CWR`).
pub(crate) const ECN_DEMAND_CWR: u8 = 4;
/// Data arrived marked ECT or CE at least once (Linux `TCP_ECN_SEEN`).
pub(crate) const ECN_SEEN: u8 = 8;

/// A window reduction after an ECN echo (Linux's `TCP_CA_CWR` state), until
/// an ACK goes past what was sent when it began; its PRR counters are
/// `Recovery::prr`, shared with fast recovery as in Linux.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cwr {
    /// SND.MAX when the reduction began (Linux `high_seq`).
    high_seq: SeqNumber,
}

/// Does a listener agree to the ECN a SYN asks for (see
/// [`Tcb::ecn_accept_syn`])? Also asked of a SYN answered with a cookie.
pub(crate) fn accepts_ecn_syn(cfg: &Config, syn: &TcpRepr<'_>, ip_ecn: Ecn) -> bool {
    syn.flags.ece() && syn.flags.cwr() && ip_ecn == Ecn::NotEct && cfg.ecn.accepts()
}

impl Tcb {
    /// Active OPEN: ask for ECN if the configuration says so (Linux
    /// tcp_output.c: tcp_ecn_send_syn(), which marks the connection
    /// ECN-capable until the SYN,ACK says otherwise).
    pub(crate) fn ecn_connect(&mut self, cfg: &Config) {
        self.ecn = if cfg.ecn.requests() { ECN_OK } else { 0 };
    }

    /// A peer's SYN reached a listener: accept its request for ECN when it
    /// sets both ECE and CWR, arrived as Not-ECT (an ECT SYN hints at a
    /// broken middlebox or peer) and the configuration accepts ECN (Linux
    /// tcp_input.c: tcp_ecn_create_request(); the new connection takes the
    /// answer in tcp_minisocks.c: tcp_ecn_openreq_child()).
    pub(crate) fn ecn_accept_syn(&mut self, cfg: &Config, syn: &TcpRepr<'_>, ip_ecn: Ecn) {
        self.ecn = if accepts_ecn_syn(cfg, syn, ip_ecn) {
            ECN_OK
        } else {
            0
        };
    }

    /// The ECN flags of our SYN (`active`) or SYN,ACK. A SYN asks with ECE
    /// and CWR, except a retransmission when `ecn_fallback` is on (Linux
    /// tcp_output.c: tcp_ecn_clear_syn(), RFC 3168 §6.1.1.1); a SYN,ACK
    /// agrees with ECE alone (tcp_ecn_make_synack(), tcp_ecn_send_synack()).
    pub(super) fn ecn_syn_flags(
        &self,
        cfg: &Config,
        active: bool,
        retransmission: bool,
    ) -> TcpFlags {
        if self.ecn & ECN_OK == 0 {
            TcpFlags::empty()
        } else if !active {
            TcpFlags::ECE
        } else if retransmission && cfg.ecn_fallback {
            TcpFlags::empty()
        } else {
            TcpFlags::ECE | TcpFlags::CWR
        }
    }

    /// The peer's SYN,ACK (`syn_ack`) or, in a simultaneous open, its SYN:
    /// ECN stays on only if a SYN,ACK has ECE without CWR (Linux
    /// tcp_input.c: tcp_ecn_rcv_synack()) or a SYN has both (tcp_ecn_rcv_syn()).
    pub(super) fn ecn_rcv_syn(&mut self, seg: &TcpRepr<'_>, syn_ack: bool) {
        let (ece, cwr) = (seg.flags.ece(), seg.flags.cwr());
        let agrees = if syn_ack { ece && !cwr } else { ece && cwr };
        if !agrees {
            self.ecn &= !ECN_OK;
        }
    }

    /// A CWR waits for the next new data segment.
    pub(super) fn ecn_cwr_queued(&self) -> bool {
        self.ecn & ECN_OK != 0 && self.ecn & ECN_QUEUE_CWR != 0
    }

    /// The IP TOS byte of a non-SYN segment, and its ECE and CWR flags (Linux
    /// tcp_output.c: tcp_ecn_send()): new data (`new_data`: payload above
    /// everything sent before) goes out as ECT(0) and the first one after a
    /// reduction carries CWR; ACKs and retransmissions go out as Not-ECT.
    /// Every segment echoes ECE while the peer owes a CWR.
    pub(super) fn ecn_mark(&mut self, flags: &mut TcpFlags, len: usize, new_data: bool) -> u8 {
        if self.ecn & ECN_OK == 0 {
            return self.tos;
        }
        let codepoint = if len > 0 && new_data {
            if self.ecn & ECN_QUEUE_CWR != 0 {
                self.ecn &= !ECN_QUEUE_CWR;
                *flags |= TcpFlags::CWR;
            }
            Ecn::Ect0
        } else {
            Ecn::NotEct
        };
        if self.ecn & ECN_DEMAND_CWR != 0 {
            *flags |= TcpFlags::ECE;
        }
        codepoint.in_tos(self.tos)
    }

    /// Data arrived (in order or not, Linux tcp_input.c: tcp_ecn_check_ce()
    /// from tcp_event_data_recv() and tcp_data_queue_ofo()): a CE mark makes
    /// us echo ECE until the peer's CWR and, the first time, ACK at once for
    /// a while (its window may be small now); Not-ECT data after ECT data is
    /// probably a retransmission, which is ACKed at once too.
    pub(super) fn ecn_check_ce(&mut self, ctx: &Ctx<'_>) {
        if self.ecn & ECN_OK == 0 {
            return;
        }
        match ctx.ecn {
            Ecn::NotEct => {
                if self.ecn & ECN_SEEN != 0 {
                    self.ecn_quickack(ctx);
                }
            }
            Ecn::Ce => {
                if self.ecn & ECN_DEMAND_CWR == 0 {
                    self.ecn_quickack(ctx);
                    self.ecn |= ECN_DEMAND_CWR;
                }
                self.ecn |= ECN_SEEN;
            }
            Ecn::Ect0 | Ecn::Ect1 => self.ecn |= ECN_SEEN,
        }
    }

    /// Linux tcp_input.c: tcp_enter_quickack_mode(sk, 2): the next two
    /// in-order segments are acknowledged at once.
    fn ecn_quickack(&mut self, ctx: &Ctx<'_>) {
        self.enter_quickack_mode(ctx.cfg, 2);
    }

    /// Loss recovery or a retransmission timeout took over from a reduction
    /// (Linux leaves CWR for Recovery or Loss).
    fn ecn_superseded(&self) -> bool {
        self.rec.recover.is_some() || self.after_rto()
    }

    /// In the reduction an ECN echo started (Linux `TCP_CA_CWR`): the window
    /// does not grow.
    pub(crate) fn in_cwr(&self) -> bool {
        self.rec.cwr.is_some() && !self.ecn_superseded()
    }

    fn end_cwr(&mut self) {
        if let Some(r) = self.rec.allocated() {
            r.cwr = None;
        }
    }

    /// An acceptable ACK arrived (SND.UNA =< SEG.ACK =< SND.MAX; called before
    /// SND.UNA moves). In Linux's order (tcp_input.c: tcp_ack()):
    /// - CWR from the peer ends our echo (tcp_ecn_accept_cwr(); Linux takes
    ///   it from pure ACKs too), and CWR on data is ACKed at once;
    /// - a reduction ends when the ACK goes past what was sent when it began
    ///   (tcp_fastretrans_alert() for TCP_CA_CWR, tcp_end_cwnd_reduction());
    /// - ECE with data outstanding and no reduction, recovery or timeout under
    ///   way starts one (tcp_try_to_open() -> tcp_enter_cwr() ->
    ///   tcp_init_cwnd_reduction()): ssthresh as after a loss, and CWR on the
    ///   next new data.
    ///
    /// Returns whether a reduction step follows the ACK.
    pub(super) fn ecn_ack_begin(&mut self, seg: &TcpRepr<'_>) -> bool {
        if self.ecn & ECN_OK == 0 || seg.ack.lt(self.snd.una) {
            return false;
        }
        if seg.flags.cwr() {
            self.ecn &= !ECN_DEMAND_CWR;
            if !seg.payload.is_empty() {
                self.rcv.ack_now = true;
            }
        }
        if let Some(c) = self.rec.cwr {
            if self.ecn_superseded() {
                self.end_cwr();
            } else if seg.ack.gt(c.high_seq) {
                self.cc.end_reduction();
                self.end_cwr();
            }
        }
        let outstanding = self.snd.una != self.snd.max;
        if seg.flags.ece()
            && !seg.flags.syn()
            && outstanding
            && self.rec.cwr.is_none()
            && !self.ecn_superseded()
        {
            let mss = u32::from(self.snd.mss);
            let prior_cwnd = self.cc.cwnd();
            self.cc.begin_reduction(self.snd.in_flight(), mss);
            let rec = self.rec.get_mut();
            rec.cwr = Some(Cwr {
                high_seq: self.snd.max,
            });
            rec.prr = super::recovery::Prr::start(prior_cwnd);
            // Linux tcp_init_cwnd_reduction(): a loss-probe episode ends.
            rec.tlp_high = None;
            self.ecn |= ECN_QUEUE_CWR;
        }
        self.rec.cwr.is_some()
    }

    /// After the ACK: one step of the reduction (Linux tcp_input.c:
    /// tcp_cwnd_reduction(), called from tcp_cong_control() in CWR). With
    /// more in flight than ssthresh, the window shrinks in proportion to what
    /// was delivered (PRR, RFC 6937); otherwise it lets out what was
    /// delivered, and one segment more for `bonus` (SND.UNA advanced, Linux
    /// 5.10 and later); at least one segment goes out if none went yet.
    pub(super) fn ecn_ack_end(&mut self, reducing: bool, newly: u32, bonus: bool) {
        if !reducing {
            return;
        }
        if self.ecn_superseded() {
            self.end_cwr();
            return;
        }
        if self.rec.cwr.is_none() {
            return;
        }
        let pipe = self.snd.in_flight().saturating_sub(self.rec.sacked_bytes());
        self.prr_step(pipe, newly, bonus);
    }
}
