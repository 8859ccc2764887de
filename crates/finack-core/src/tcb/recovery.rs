//! Loss recovery state: duplicate ACKs, the recovery point of NewReno
//! (RFC 6582) and SACK-based recovery (RFC 6675) with its scoreboard, and the
//! tail loss probe (RFC 8985 §7).

use alloc::boxed::Box;
use alloc::vec::Vec;

use finack_wire::SeqNumber;

use super::SendSide;

/// What a connection knows about losses of the bytes it sent.
pub(crate) struct Recovery {
    /// Duplicate ACKs in a row.
    pub(crate) dupacks: u32,
    /// Without SACK: Linux `sacked_out`, the segments duplicate ACKs
    /// reported delivered (tcp_add_reno_sack()), kept through a fast
    /// recovery's partial ACKs (tcp_remove_reno_sacks()) and in the loss
    /// state once F-RTO sent new data.
    pub(crate) reno_sacked: u32,
    /// RFC 3042 limited transmit: bytes beyond cwnd that the first duplicate
    /// ACKs allow to be sent as new data.
    pub(crate) lt_allow: u32,
    /// In fast recovery until SND.UNA reaches this (RFC 6582 "recover").
    pub(crate) recover: Option<SeqNumber>,
    /// SND.MAX at the last retransmission timeout (RFC 6582 §3.2 step 2).
    pub(crate) rto_recover: Option<SeqNumber>,
    /// Linux `retrans_stamp`: when the first timeout of this episode
    /// resent (a run of timeouts without progress; in the loss state, the
    /// whole state). `Config::time_budget` counts from it, and an ACK
    /// echoing a timestamp from before it shows a timeout spurious
    /// (tcp_packet_delayed()).
    pub(crate) retrans_stamp: Option<crate::time::Instant>,
    /// Retransmission timeouts since SND.UNA last advanced (Linux
    /// `icsk_retransmits`; `SendSide::backoff` counts the doublings, which
    /// linear timeouts leave out).
    pub(crate) rto_retransmits: u32,
    /// Linux's account of timeouts for `tcp_info` (`tcpi_total_rto`,
    /// `tcpi_total_rto_recoveries`, `tcpi_total_rto_time`, `tcpi_rehash`).
    pub(crate) rto_stats: super::counts::RtoStats,
    /// Retransmit the next hole now (fast retransmit / recovery).
    pub(crate) fast_rexmit: bool,
    /// An ACK at this moment held the recovery (Linux
    /// tcp_try_undo_partial() with retransmissions still out): what it
    /// lets out is new data only, nothing is resent.
    pub(crate) rexmit_hold: Option<crate::time::Instant>,
    /// SACK scoreboard: ranges above SND.UNA the peer holds (RFC 2018, RFC 6675),
    /// sorted and disjoint. Allocated when the first SACK block arrives.
    pub(crate) sacked: Vec<(SeqNumber, SeqNumber)>,
    /// The probe timeout expired: output sends a loss probe.
    pub(crate) tlp_due: bool,
    /// The counters of the window reduction under way, in fast recovery or
    /// after an ECN echo (Linux keeps one set for both).
    pub(crate) prr: Prr,
    /// RFC 8985 §7.3 TLP.end_seq: SND.NXT after the outstanding probe (at most
    /// one probe per tail loss episode), and whether it was a retransmission.
    pub(crate) tlp_high: Option<(SeqNumber, bool)>,
    /// The window reduction an ECN echo started, while it runs (`ecn`).
    pub(crate) cwr: Option<super::ecn::Cwr>,
    /// RACK (Linux `tp->reord_seen`): times reordering was seen.
    pub(crate) reord_seen: u32,
    /// Linux `tp->reordering` once reordering raised it past the
    /// duplicate-ACK threshold (0: not raised, `Config::dupthresh`).
    pub(crate) reordering: u16,
    /// RACK's reordering window in quarters of the minimum RTT (Linux
    /// `rack.reo_wnd_steps`, 1 until a D-SACK widens it), recoveries left
    /// before it returns to 1 (`reo_wnd_persist`), a D-SACK arrived
    /// (`dsack_seen`) and octets delivered at the last widening
    /// (`last_delivered`).
    pub(crate) reo_wnd_steps: u8,
    pub(crate) reo_wnd_persist: u8,
    pub(crate) dsack_seen: bool,
    pub(crate) reo_last_delivered: u64,
    /// The loss-probe timer slot holds the delayed early retransmit (Linux
    /// ICSK_TIME_EARLY_RETRANS in `icsk_pending`).
    pub(crate) er_armed: bool,
    /// Linux `undo_marker`, `undo_retrans` and `prior_cwnd`: where the last
    /// recovery began, its retransmissions not yet shown needless by a
    /// D-SACK (-1: none sent), and the window before it.
    pub(crate) undo_marker: Option<SeqNumber>,
    /// Segments D-SACKs reported received twice (Linux `dsack_dups`);
    /// more than were ever resent makes a D-SACK dubious.
    pub(crate) dsack_dups: u32,
    pub(crate) undo_retrans: i32,
    pub(crate) undo_cwnd: u32,
    /// Linux `prior_ssthresh` for a fast recovery: the threshold an undo
    /// restores (0: none, as after an ECN echo).
    pub(crate) undo_ssthresh: u32,
    /// Linux's loss state after an RTO, where the segment log decides what
    /// is resent (`loss_state`).
    pub(crate) loss: super::loss_state::Loss,
    /// Path MTU probing and the route's MTU (`mtu`), once either is used: a
    /// lost probe is told apart from congestion here.
    pub(crate) path_mtu: Option<super::mtu::PathMtu>,
}

/// RFC 6937 PRR counters (Linux `prior_cwnd`, `prr_delivered`, `prr_out`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prr {
    /// cwnd when the reduction began (RecoverFS), bytes.
    pub(crate) prior_cwnd: u32,
    /// Segments delivered to the peer since (acknowledged or SACKed).
    pub(crate) delivered: u32,
    /// Data segments sent since.
    pub(crate) out: u32,
}

impl Prr {
    /// A reduction begins with the window at `prior_cwnd`.
    pub(crate) const fn start(prior_cwnd: u32) -> Prr {
        Prr {
            prior_cwnd,
            delivered: 0,
            out: 0,
        }
    }
}

/// A connection's [`Recovery`], allocated when it is first written: most
/// connections never lose a segment, never see a duplicate ACK or a SACK
/// block and never fire a loss probe, and for them the control block holds a
/// null pointer instead of the whole state. Reads of an unallocated state see
/// [`Recovery::UNUSED`], which is what a fresh state holds, so behaviour does
/// not depend on whether it was allocated.
#[derive(Default)]
pub(crate) struct LazyRecovery(Option<Box<Recovery>>);

impl core::ops::Deref for LazyRecovery {
    type Target = Recovery;
    fn deref(&self) -> &Recovery {
        self.0.as_deref().unwrap_or(&UNUSED)
    }
}

impl LazyRecovery {
    /// The state, for writing: allocated now if it was not.
    pub(crate) fn get_mut(&mut self) -> &mut Recovery {
        self.0.get_or_insert_with(|| Box::new(Recovery::UNUSED))
    }

    /// The state if it was allocated: for writes that would only store what
    /// an unallocated state already reads (resetting a counter to 0).
    pub(crate) fn allocated(&mut self) -> Option<&mut Recovery> {
        self.0.as_deref_mut()
    }

    /// Heap bytes: the state and its scoreboard, once allocated.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |r| {
            core::mem::size_of::<Recovery>()
                + r.sacked.capacity() * core::mem::size_of::<(SeqNumber, SeqNumber)>()
        })
    }
}

/// The state of a connection that has seen no loss, no duplicate ACK, no
/// SACK block and no probe timeout (what [`LazyRecovery`] reads when nothing
/// was allocated).
static UNUSED: Recovery = Recovery::UNUSED;

impl Recovery {
    pub(crate) const UNUSED: Recovery = Recovery {
        dupacks: 0,
        reno_sacked: 0,
        lt_allow: 0,
        recover: None,
        rto_recover: None,
        retrans_stamp: None,
        rto_retransmits: 0,
        rto_stats: super::counts::RtoStats::NONE,
        fast_rexmit: false,
        rexmit_hold: None,
        sacked: Vec::new(),
        tlp_due: false,
        tlp_high: None,
        prr: Prr::start(0),
        cwr: None,
        reord_seen: 0,
        reordering: 0,
        reo_wnd_steps: 1,
        reo_wnd_persist: 0,
        dsack_seen: false,
        reo_last_delivered: 0,
        er_armed: false,
        undo_marker: None,
        dsack_dups: 0,
        undo_retrans: 0,
        undo_cwnd: 0,
        undo_ssthresh: 0,
        loss: super::loss_state::Loss::NONE,
        path_mtu: None,
    };

    /// Linux tcp_recovery.c: tcp_rack_update_reo_wnd() (RFC 8985 §6.2 step
    /// 4): a D-SACK (a spurious retransmission: reordering beyond the
    /// window) widens RACK's reordering window by one step, at most once per
    /// round trip (`prior_delivered`, octets delivered before this ACK, not
    /// below those at the last widening); 16 recoveries without one bring it
    /// back to one step.
    pub(crate) fn update_reo_wnd(&mut self, prior_delivered: u64, delivered: u64) {
        if prior_delivered == 0 {
            return;
        }
        if prior_delivered < self.reo_last_delivered {
            self.dsack_seen = false;
        }
        if self.dsack_seen {
            self.reo_wnd_steps = self.reo_wnd_steps.max(1).saturating_add(1);
            self.dsack_seen = false;
            self.reo_last_delivered = delivered;
            self.reo_wnd_persist = super::rack::REO_WND_PERSIST;
        } else if self.reo_wnd_persist == 0 {
            self.reo_wnd_steps = 1;
        }
    }

    /// Octets the scoreboard holds.
    pub(crate) fn sacked_bytes(&self) -> u32 {
        self.sacked.iter().map(|&(l, r)| (r - l) as u32).sum()
    }

    /// Fold the SACK blocks of an arriving ACK into the scoreboard (RFC 2018 §5):
    /// only blocks inside SND.UNA..SND.MAX count; at most 16 ranges are kept.
    /// Returns whether they told something new (more octets SACKed; RFC 6675
    /// §2 "new SACK information").
    pub(crate) fn update_scoreboard(
        &mut self,
        snd: &SendSide,
        blocks: &finack_wire::SackBlocks,
    ) -> bool {
        let covered = |v: &[(SeqNumber, SeqNumber)]| -> u64 {
            v.iter().map(|&(l, r)| u64::from((r - l) as u32)).sum()
        };
        let before = covered(&self.sacked);
        for (l, r) in blocks.iter() {
            if !(l.lt(r) && l.ge(snd.una) && r.le(snd.max)) {
                continue;
            }
            let (mut l, mut r) = (l, r);
            self.sacked.retain(|&(a, b)| {
                let touches = a.le(r) && l.le(b);
                if touches {
                    l = l.min(a);
                    r = r.max(b);
                }
                !touches
            });
            let at = self.sacked.partition_point(|&(a, _)| a.lt(l));
            if self.sacked.len() < 16 {
                self.sacked.insert(at, (l, r));
            }
        }
        covered(&self.sacked) > before
    }

    /// Forget what SND.UNA has passed.
    pub(crate) fn prune_scoreboard(&mut self, snd: &SendSide) {
        let una = snd.una;
        self.sacked.retain(|&(_, b)| b.gt(una));
        for r in &mut self.sacked {
            r.0 = r.0.max(una);
        }
    }

    /// What a fast retransmission resends: with a scoreboard, the first hole
    /// not yet resent (NextSeg rule 3's choice); without SACK information,
    /// the segment at SND.UNA, once.
    pub(crate) fn next_hole(&self, snd: &SendSide) -> Option<(SeqNumber, u32)> {
        if self.sacked.is_empty() {
            let at = snd.rtx_next.max(snd.una);
            return (at == snd.una && snd.una.lt(snd.max)).then(|| (at, (snd.max - at) as u32));
        }
        // `lost_only` is false, so the loss rule does not matter.
        self.next_seg_rexmit(snd, LossRule::default(), false)
    }

    /// The holes of the scoreboard, in order: `(start, end, lost)` for every
    /// un-SACKed range between SND.UNA and the highest SACKed octet. RFC 6675
    /// §4 IsLost: an octet is lost when DupThresh discontiguous SACKed ranges,
    /// or more than (DupThresh - 1) * SMSS SACKed octets, lie above it; every
    /// octet of a hole has the same SACKed ranges above it, so a hole is lost
    /// or not as a whole. With FACK (`LossRule::fack`) an octet is lost
    /// when DupThresh segments, SACKed or not, lie between it and the
    /// highest SACKed octet; a hole may then be split where that begins.
    pub(crate) fn holes<'a>(
        &'a self,
        snd: &'a SendSide,
        rule: LossRule,
    ) -> impl Iterator<Item = (SeqNumber, SeqNumber, bool)> + 'a {
        let dupthresh = rule.dupthresh;
        let mss = u32::from(snd.mss);
        let mut at = snd.una;
        let mut above: u32 = self.sacked.iter().map(|&(l, r)| (r - l) as u32).sum();
        // Linux tcp_input.c (before 4.15): tcp_update_scoreboard() with FACK
        // marks lost what lies fackets_out - reordering segments or more
        // below the highest SACKed segment.
        let fack_line = match (rule.fack, self.sacked.last()) {
            (true, Some(&(_, top))) => Some(top - dupthresh.saturating_mul(mss)),
            _ => None,
        };
        self.sacked
            .iter()
            .enumerate()
            .flat_map(move |(i, &(l, r))| {
                let ranges_above = (self.sacked.len() - i) as u32;
                let lost = ranges_above >= dupthresh || above > dupthresh.saturating_sub(1) * mss;
                let mut out = [None, None];
                if at.lt(l) {
                    out[0] = Some((at, l, lost));
                    if let Some(b) = fack_line {
                        if l.le(b) {
                            out[0] = Some((at, l, true));
                        } else if b.le(at) {
                            out[0] = Some((at, l, false));
                        } else {
                            out = [Some((at, b, true)), Some((b, l, false))];
                        }
                    }
                }
                above -= (r - l) as u32;
                at = at.max(r);
                out.into_iter().flatten()
            })
    }

    /// RFC 6675 §4 SetPipe: the octets presumed in the network. Every octet
    /// between SND.UNA and SND.MAX that is neither SACKed nor lost counts once,
    /// and once more if it was retransmitted (it is below HighRxt, our
    /// `rtx_next`), since the retransmission is in flight too.
    pub(crate) fn pipe(&self, snd: &SendSide, rule: LossRule) -> u32 {
        let high_rxt = snd.rtx_next.max(snd.una);
        let retransmitted = |a: SeqNumber, b: SeqNumber| -> u32 {
            let end = if high_rxt.lt(b) { high_rxt } else { b };
            (end - a).max(0) as u32
        };
        let mut pipe = 0u32;
        let mut top = snd.una;
        for (a, b, lost) in self.holes(snd, rule) {
            if !lost {
                pipe += (b - a) as u32;
            }
            pipe += retransmitted(a, b);
        }
        if let Some(&(_, r)) = self.sacked.last() {
            top = top.max(r);
        }
        // Above the highest SACKed octet nothing is judged lost.
        if top.lt(snd.max) {
            pipe += (snd.max - top) as u32 + retransmitted(top, snd.max);
        }
        pipe
    }

    /// RFC 6675 §4 NextSeg rules (1) and (3): the first un-SACKed octet above
    /// HighRxt and below the highest SACKed octet that is lost (rule 1) or, with
    /// `lost_only` false, any such octet (rule 3); with the length of the
    /// stretch to retransmit from it.
    pub(crate) fn next_seg_rexmit(
        &self,
        snd: &SendSide,
        rule: LossRule,
        lost_only: bool,
    ) -> Option<(SeqNumber, u32)> {
        let high_rxt = snd.rtx_next.max(snd.una);
        self.holes(snd, rule).find_map(|(a, b, lost)| {
            let from = a.max(high_rxt);
            (from.lt(b) && (lost || !lost_only)).then(|| (from, (b - from) as u32))
        })
    }
}

/// How the scoreboard judges a hole lost without RACK: the duplicate-ACK
/// threshold, and whether FACK counts every segment below the highest
/// SACKed one (Linux `tcp_fack`, on by default until 4.15 removed it).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct LossRule {
    pub(crate) dupthresh: u32,
    pub(crate) fack: bool,
}

impl LossRule {
    pub(crate) fn of(cfg: &crate::config::Config) -> LossRule {
        LossRule {
            dupthresh: cfg.dupthresh,
            fack: cfg.fack,
        }
    }
}
