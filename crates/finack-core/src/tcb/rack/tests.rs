use core::time::Duration;

use finack_wire::SeqNumber;

use super::*;
use crate::tcb::recovery::Recovery;

const MSS: u32 = 1000;

fn t(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

fn seq(n: u32) -> SeqNumber {
    SeqNumber(1 + n * MSS)
}

/// Segments `0..n`, segment `i` sent at `at(i)`.
fn log_of(n: u32, at: impl Fn(u32) -> Instant) -> SentLog {
    let mut log = SentLog::default();
    for i in 0..n {
        log.on_send(seq(i), seq(i + 1), at(i));
    }
    log
}

fn sack(log: &mut SentLog, now: Instant, blocks: &[(u32, u32)]) -> Deliveries {
    let ranges: alloc::vec::Vec<_> = blocks.iter().map(|&(a, b)| (seq(a), seq(b))).collect();
    let mut d = Deliveries::new(
        now,
        Some(Duration::from_millis(100)),
        log.highest_sacked_end(),
    );
    log.on_sacked(&ranges, &mut d);
    d
}

#[test]
fn reordering_within_the_window_is_not_a_loss() {
    // Three segments leave together; the second is SACKed one RTT later.
    let mut log = log_of(3, |_| t(0));
    sack(&mut log, t(100), &[(1, 2)]);
    assert!(log.take_advanced());
    // The first was sent with (not before) the delivered one: within
    // RACK.rtt + reo_wnd it may still arrive.
    let scan = log.detect_loss(t(100), Duration::from_millis(25));
    assert_eq!(scan.newly_lost, 0);
    assert_eq!(scan.wait, Some(Duration::from_millis(25)));
    assert_eq!(log.lost(), 0);
    assert_eq!(log.next_lost(), None);
    // The third was sent after the delivered one: RACK says nothing of it.
    assert_eq!(log.pipe(), 2 * MSS);
}

#[test]
fn a_segment_sent_more_than_reo_wnd_before_a_delivered_one_is_lost() {
    // Segment 0 leaves 30 ms before segment 1; segment 1 is SACKed 100 ms
    // after it left. 130 ms > RACK.rtt 100 ms + reo_wnd 25 ms.
    let mut log = log_of(2, |i| t(u64::from(i) * 30));
    sack(&mut log, t(130), &[(1, 2)]);
    let scan = log.detect_loss(t(130), Duration::from_millis(25));
    assert_eq!(scan.newly_lost, 1);
    assert_eq!(scan.wait, None);
    assert_eq!(log.lost(), 1);
    assert_eq!(log.next_lost(), Some((seq(0), MSS)));
    // Lost and SACKed segments are not in flight.
    assert_eq!(log.pipe(), 0);
}

#[test]
fn the_reordering_wait_ends_in_a_loss() {
    // What the reordering timer does when it fires: the same scan, later.
    let mut log = log_of(4, |_| t(0));
    sack(&mut log, t(100), &[(3, 4)]);
    let reo = Duration::from_millis(25);
    let scan = log.detect_loss(t(100), reo);
    assert_eq!(scan.newly_lost, 0);
    let wait = scan.wait.expect("a reordering wait");
    assert_eq!(wait, reo);
    let scan = log.detect_loss(t(100) + wait, reo);
    assert_eq!(scan.newly_lost, 3);
    assert_eq!(scan.wait, None);
    assert_eq!(log.next_lost(), Some((seq(0), 3 * MSS)));
}

#[test]
fn a_lost_retransmission_is_found_again() {
    let mut log = log_of(3, |_| t(0));
    sack(&mut log, t(100), &[(1, 2)]);
    log.detect_loss(t(130), Duration::ZERO);
    assert_eq!(log.next_lost(), Some((seq(0), MSS)));
    // Retransmitted at 130 ms: lost, and in flight again.
    log.on_send(seq(0), seq(1), t(130));
    assert_eq!(log.lost(), 1);
    assert_eq!(log.next_lost(), None);
    assert_eq!(log.pipe(), 2 * MSS);
    // New data at 140 ms is SACKed at 240 ms; the retransmission, sent
    // before it, is not: lost again.
    log.on_send(seq(3), seq(4), t(140));
    sack(&mut log, t(240), &[(1, 2), (3, 4)]);
    let scan = log.detect_loss(t(240), Duration::ZERO);
    assert_eq!(scan.lost_retrans, 1);
    assert_eq!(log.next_lost(), Some((seq(0), MSS)));
}

#[test]
fn a_retransmission_delivered_sooner_than_min_rtt_is_the_original() {
    let mut log = log_of(2, |_| t(0));
    sack(&mut log, t(100), &[(1, 2)]);
    log.detect_loss(t(100), Duration::ZERO);
    log.take_advanced();
    log.on_send(seq(0), seq(1), t(100));
    // The cumulative ACK 10 ms after the retransmission (min RTT 100 ms)
    // answers the original: RACK does not advance.
    let mut d = Deliveries::new(t(110), Some(Duration::from_millis(100)), None);
    log.on_acked(seq(1), &mut d, |_| false);
    assert_eq!(d.count, 1);
    assert!(!log.take_advanced());
}

#[test]
fn a_partial_sack_of_a_segment_sacks_nothing() {
    let mut log = log_of(4, |_| t(0));
    let mut d = Deliveries::new(t(100), None, None);
    log.on_sacked(&[(seq(4) - 1, seq(4))], &mut d);
    assert_eq!(d.count, 0);
    assert_eq!(log.sacked(), 0);
}

#[test]
fn sacked_below_the_highest_sack_is_reordering() {
    let mut log = log_of(10, |_| t(0));
    assert!(sack(&mut log, t(100), &[(7, 8)]).reord_low.is_none());
    assert_eq!(log.highest_sacked_end(), Some(seq(8)));
    assert!(sack(&mut log, t(102), &[(3, 4), (7, 8)])
        .reord_low
        .is_some());
}

#[test]
fn dsack_widens_the_reordering_window() {
    let min_rtt = Some(Duration::from_millis(100));
    let srtt = Duration::from_millis(200);
    let mut rec = Recovery::UNUSED;
    assert_eq!(
        reo_wnd(min_rtt, srtt, rec.reo_wnd_steps),
        Duration::from_millis(25)
    );
    rec.dsack_seen = true;
    rec.update_reo_wnd(10_000, 11_000);
    assert_eq!(rec.reo_wnd_steps, 2);
    assert_eq!(
        reo_wnd(min_rtt, srtt, rec.reo_wnd_steps),
        Duration::from_millis(50)
    );
    // A second D-SACK within the same round trip (delivered before the
    // last widening) does not widen it again.
    rec.dsack_seen = true;
    rec.update_reo_wnd(10_500, 12_000);
    assert_eq!(rec.reo_wnd_steps, 2);
    // One a round trip later does; the window never passes SRTT.
    rec.dsack_seen = true;
    for i in 0..10 {
        rec.dsack_seen = true;
        rec.update_reo_wnd(20_000 + i * 10_000, 30_000 + i * 10_000);
    }
    assert_eq!(reo_wnd(min_rtt, srtt, rec.reo_wnd_steps), srtt);
    // 16 recoveries without D-SACK bring it back to one step.
    rec.reo_wnd_persist = 0;
    rec.update_reo_wnd(200_000, 201_000);
    assert_eq!(rec.reo_wnd_steps, 1);
}

/// RACK's scan as a walk of every record, with no early stop: what
/// [`SentLog::detect_loss`] must find.
fn detect_loss_walking_all(log: &mut SentLog, now: Instant, reo_wnd: Duration) -> Scan {
    let mut scan = Scan::default();
    let Some(mstamp) = log.mstamp else {
        return scan;
    };
    let budget = log.rtt + reo_wnd;
    for s in log.segs.iter_mut() {
        if s.flags & SACKED != 0 || s.flags & (LOST | RETRANS) == LOST {
            continue;
        }
        if !sent_after_rack(mstamp, log.order, log.end_seq, s) {
            continue;
        }
        let elapsed = now.saturating_duration_since(s.at);
        if elapsed >= budget {
            if s.flags & RETRANS != 0 {
                scan.lost_retrans += 1;
            }
            s.flags = (s.flags | LOST) & !RETRANS;
            scan.newly_lost += 1;
        } else {
            let left = budget - elapsed;
            scan.wait = Some(scan.wait.map_or(left, |w| w.max(left)));
        }
    }
    scan
}

/// One step of a random run over a log.
#[derive(Clone, Debug)]
enum Op {
    /// New segments.
    Send(u8),
    /// A retransmission of `len` segments from the `from`-th unacknowledged.
    Resend {
        from: u8,
        len: u8,
    },
    /// SACK blocks (segment offsets from SND.UNA, sorted and merged here).
    Sack(alloc::vec::Vec<(u8, u8)>),
    /// A cumulative ACK of `n` segments.
    Ack(u8),
    Rto,
    /// A RACK scan with a reordering window of this many ms.
    Scan(u8),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (1u8..20).prop_map(Op::Send),
        (0u8..30, 1u8..4).prop_map(|(from, len)| Op::Resend { from, len }),
        proptest::collection::vec((0u8..40, 1u8..6), 1..4).prop_map(Op::Sack),
        (0u8..6).prop_map(Op::Ack),
        Just(Op::Rto),
        (0u8..30).prop_map(Op::Scan),
    ]
}

proptest::proptest! {
    /// The running counts (SACKed, lost, retransmitted, pipe, the highest
    /// SACKed end) always equal a count over the records, and the scan that
    /// stops early marks and waits exactly as a walk of every record does.
    #[test]
    fn counts_kept_as_records_change_equal_a_fresh_count(ops in proptest::collection::vec(op(), 1..80)) {
        let mut log = SentLog::default();
        let (mut una, mut nxt) = (0u32, 0u32);
        let mut ms = 0u64;
        for op in ops {
            ms += 7;
            let now = t(ms);
            match op {
                Op::Send(n) => {
                    for _ in 0..n {
                        log.on_send(seq(nxt), seq(nxt + 1), now);
                        nxt += 1;
                    }
                }
                Op::Resend { from, len } => {
                    let a = una + u32::from(from);
                    let b = (a + u32::from(len)).min(nxt);
                    if a < b {
                        log.on_send(seq(a), seq(b), now);
                    }
                }
                Op::Sack(blocks) => {
                    let mut ranges: alloc::vec::Vec<(u32, u32)> = blocks
                        .iter()
                        .map(|&(a, l)| (una + u32::from(a), (una + u32::from(a) + u32::from(l)).min(nxt)))
                        .filter(|&(a, b)| a < b)
                        .collect();
                    ranges.sort();
                    let mut merged: alloc::vec::Vec<(u32, u32)> = alloc::vec::Vec::new();
                    for (a, b) in ranges {
                        match merged.last_mut() {
                            Some(last) if a <= last.1 => last.1 = last.1.max(b),
                            _ => merged.push((a, b)),
                        }
                    }
                    let seqs: alloc::vec::Vec<_> = merged.iter().map(|&(a, b)| (seq(a), seq(b))).collect();
                    let mut d = Deliveries::new(now, Some(Duration::from_millis(10)), log.highest_sacked_end());
                    log.on_sacked(&seqs, &mut d);
                }
                Op::Ack(n) => {
                    una = (una + u32::from(n)).min(nxt);
                    let mut d = Deliveries::new(now, Some(Duration::from_millis(10)), log.highest_sacked_end());
                    log.on_acked(seq(una), &mut d, |_| false);
                }
                Op::Rto => log.on_rto(),
                Op::Scan(w) => {
                    let reo = Duration::from_millis(u64::from(w));
                    let mut walked = log.clone();
                    let want = detect_loss_walking_all(&mut walked, now, reo);
                    let got = log.detect_loss(now, reo);
                    proptest::prop_assert_eq!(got, want);
                    proptest::prop_assert_eq!(&log.segs, &walked.segs);
                }
            }
            let segs = &log.segs;
            let count = |f: u8| segs.iter().filter(|s| s.flags & f != 0).count() as u32;
            proptest::prop_assert_eq!(log.sacked(), count(SACKED));
            proptest::prop_assert_eq!(log.lost(), count(LOST));
            proptest::prop_assert_eq!(log.retrans_out(), count(RETRANS));
            let pipe: u32 = segs
                .iter()
                .filter(|s| s.flags & SACKED == 0)
                .map(|s| s.len() * u32::from(s.flags & LOST == 0) + s.len() * u32::from(s.flags & RETRANS != 0))
                .sum();
            proptest::prop_assert_eq!(log.pipe(), pipe);
            let fack = segs.iter().rev().find(|s| s.flags & SACKED != 0).map(|s| s.end);
            proptest::prop_assert_eq!(log.highest_sacked_end(), fack);
        }
    }
}

/// Records sent as one skb of `per` segments each, at t(0).
fn log_in_skbs(n: u32, per: u32) -> SentLog {
    let mut log = log_of(n, |_| t(0));
    for i in 1..n {
        if i % per != 0 {
            log.join_prev(seq(i));
        }
    }
    log
}

/// Resend segment `i` at `now` with `budget`: does it end a GSO packet of
/// several? (The record is then stamped as resent, as output does.)
fn resend(log: &mut SentLog, i: u32, budget: u32, now: Instant) -> bool {
    let end = log.rexmit_packet_end(seq(i), seq(i + 1), budget, now);
    log.on_send(seq(i), seq(i + 1), now);
    end
}

#[test]
fn a_resent_skb_is_one_packet_as_the_window_allows() {
    // Skbs (0 1 2) (3 4 5); segment 1 SACKed cuts the first into 0 | 2.
    let mut log = log_in_skbs(6, 3);
    sack(&mut log, t(10), &[(1, 2)]);
    let now = t(20);
    assert!(!resend(&mut log, 0, 4, now), "0 alone");
    assert!(!resend(&mut log, 2, 4, now), "2 alone");
    // (3 4 5) with room for two: 3 and 4 go as one packet, PSH on 4, and
    // 5 is cut off as an skb of its own.
    assert!(!resend(&mut log, 3, 2, now));
    assert!(resend(&mut log, 4, 2, now));
    assert!(!resend(&mut log, 5, 4, now));
    // After a timeout the skb resent whole goes whole again.
    log.on_rto();
    let later = t(40);
    assert!(!resend(&mut log, 3, 4, later));
    assert!(resend(&mut log, 4, 4, later));
}
