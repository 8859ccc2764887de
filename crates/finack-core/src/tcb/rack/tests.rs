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
    assert!(!sack(&mut log, t(100), &[(7, 8)]).reordered);
    assert_eq!(log.highest_sacked_end(), Some(seq(8)));
    assert!(sack(&mut log, t(102), &[(3, 4), (7, 8)]).reordered);
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
