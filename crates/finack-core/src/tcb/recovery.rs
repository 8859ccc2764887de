//! Loss recovery state: duplicate ACKs, the recovery point of NewReno
//! (RFC 6582) and SACK-based recovery (RFC 6675) with its scoreboard, and the
//! tail loss probe (RFC 8985 §7).

use alloc::vec::Vec;

use finack_wire::SeqNumber;

/// What a connection knows about losses of the bytes it sent.
pub(crate) struct Recovery {
    /// Duplicate ACKs in a row.
    pub(crate) dupacks: u32,
    /// RFC 3042 limited transmit: bytes beyond cwnd that the first duplicate
    /// ACKs allow to be sent as new data.
    pub(crate) lt_allow: u32,
    /// In fast recovery until SND.UNA reaches this (RFC 6582 "recover").
    pub(crate) recover: Option<SeqNumber>,
    /// SND.MAX at the last retransmission timeout (RFC 6582 §3.2 step 2).
    pub(crate) rto_recover: Option<SeqNumber>,
    /// Retransmit the next hole now (fast retransmit / recovery).
    pub(crate) fast_rexmit: bool,
    /// SACK scoreboard: ranges above SND.UNA the peer holds (RFC 2018, RFC 6675),
    /// sorted and disjoint. Allocated when the first SACK block arrives.
    pub(crate) sacked: Vec<(SeqNumber, SeqNumber)>,
    /// Recovery retransmits holes from here on (RFC 6675 HighRxt).
    pub(crate) rtx_next: SeqNumber,
    /// The probe timeout expired: output sends a loss probe.
    pub(crate) tlp_due: bool,
    /// RFC 8985 §7.3 TLP.end_seq: SND.NXT after the outstanding probe (at most
    /// one probe per tail loss episode), and whether it was a retransmission.
    pub(crate) tlp_high: Option<(SeqNumber, bool)>,
}

impl Recovery {
    pub(crate) fn new(iss: SeqNumber) -> Recovery {
        Recovery {
            dupacks: 0,
            lt_allow: 0,
            recover: None,
            rto_recover: None,
            fast_rexmit: false,
            sacked: Vec::new(),
            rtx_next: iss,
            tlp_due: false,
            tlp_high: None,
        }
    }
}
