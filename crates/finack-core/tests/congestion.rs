//! Congestion control in the Linux profile as the kernel computes it, one
//! behaviour per test, with the peer played by hand: CUBIC's HyStart ending
//! slow start (tcp_cubic.c: hystart_update()), growth counted in delivered
//! segments including SACKed ones once reordering was seen
//! (tcp_input.c: tcp_may_raise_cwnd(), tcp_cong_control()), and ssthresh
//! kept across repeated timeouts (tcp_enter_loss()).

mod common;

use std::time::Duration;

use common::peer::Rig;
use finack_core::wire::{Ecn, TcpFlags};
use finack_core::Config;

/// A passive open with SACK, the handshake's RTT 100 ms.
fn sack_rig() -> Rig {
    let mut r = Rig::new(Config::linux());
    r.sack_ok = true;
    r.accept(TcpFlags::empty(), Ecn::NotEct);
    r
}

fn ack(r: &mut Rig, ack: u32, sack: &[(u32, u32)]) {
    r.send_sack(Ecn::NotEct, TcpFlags::ACK, 1, ack, &[], sack);
}

/// Linux tcp_cubic.c: hystart_update() with HYSTART_DELAY: from a window
/// of 16 segments up, a round's least RTT of the first eight samples
/// (240 ms) above delay_min (200 ms) plus clamp(delay_min / 8, 4, 16) ms
/// ends slow start at the ninth sample: ssthresh = cwnd.
#[test]
fn hystart_delay_ends_slow_start_at_the_ninth_sample_of_a_round() {
    let mut r = sack_rig();
    let sent = r.write(30_000);
    assert_eq!(sent.iter().map(|o| o.len).sum::<usize>(), 10_000);
    r.now += Duration::from_millis(200);
    ack(&mut r, 10_001, &[]);
    assert_eq!(r.cwnd_ssthresh_state().0, 20);
    r.now += Duration::from_millis(240);
    let infinite = u32::MAX / 1000;
    for i in 0..8u32 {
        ack(&mut r, 12_001 + 2000 * i, &[]);
        assert_eq!(r.cwnd_ssthresh_state().1, infinite, "sample {}", i + 1);
        assert_eq!(r.cwnd_ssthresh_state().0, 22 + 2 * i);
        r.now += Duration::from_millis(1);
    }
    // The ninth sample: the exit, before the ACK's growth (pkts_acked
    // runs before cong_avoid), and no slow start after it.
    ack(&mut r, 28_001, &[]);
    assert_eq!(r.cwnd_ssthresh_state().0, 36);
    assert_eq!(r.cwnd_ssthresh_state().1, 36);
}

/// Linux tcp_input.c: tcp_may_raise_cwnd(): a SACK alone does not grow the
/// window until reordering beyond tcp_reordering was seen; then what it
/// delivers does. The cumulative ACK grows it by the segments not SACKed
/// before (tcp_newly_delivered()), not by all it covers.
#[test]
fn sacked_segments_grow_the_window_once_reordering_was_seen() {
    let mut r = sack_rig();
    r.write(10_000);
    r.now += Duration::from_millis(20);
    ack(&mut r, 1, &[(9001, 10_001)]);
    assert_eq!(r.cwnd_ssthresh_state().0, 10, "no reordering yet");
    // 3001 SACKed below the highest SACK: reordering of 7 segments.
    ack(&mut r, 1, &[(3001, 4001), (9001, 10_001)]);
    assert_eq!(r.cwnd_ssthresh_state().0, 11);
    // Eight segments newly delivered: 11 + 8.
    ack(&mut r, 10_001, &[]);
    assert_eq!(r.cwnd_ssthresh_state().0, 19);
}

/// Linux tcp_input.c: tcp_enter_loss(): the first timeout sets ssthresh
/// from the window (CUBIC: 10 * 717 / 1024 = 7); a second timeout of the
/// same episode keeps it rather than taking it from the collapsed window.
#[test]
fn a_repeated_timeout_keeps_ssthresh() {
    let mut r = sack_rig();
    r.write(10_000);
    // The loss probe goes first; then the timeouts, each resending 1:1001.
    let mut timeouts = 0;
    for _ in 0..300 {
        let out = r.wait(Duration::from_millis(10));
        if out
            .iter()
            .any(|o| o.seq == r.iss.wrapping_add(1) && o.len > 0)
        {
            timeouts += 1;
            assert_eq!(r.cwnd_ssthresh_state().0, 1, "timeout {timeouts}");
            assert_eq!(r.cwnd_ssthresh_state().1, 7, "timeout {timeouts}");
        }
    }
    assert!(timeouts >= 2, "{timeouts}");
}

/// Linux 3.11 (`Config::linux_3_11()`): FACK marks lost every hole segment
/// with three segments, SACKed or not, between it and the highest SACK
/// (tcp_update_scoreboard()), and PRR lets one segment more out on every
/// ACK (tcp_cwnd_reduction() of 3.7 to 4.1): with 1001:3001 and 8001:9001
/// SACKed, 1:1001, 3001:6001 are lost, 3 segments in flight under Reno's
/// ssthresh of 5, so recovery starts with two retransmissions.
#[test]
fn linux_3_11_fack_and_prr_send_two_retransmissions_on_entering_recovery() {
    let cfg = Config {
        congestion: finack_core::CongestionAlgorithm::NewReno,
        ..Config::linux_3_11()
    };
    let mut r = Rig::new(cfg);
    r.sack_ok = true;
    r.accept(TcpFlags::empty(), Ecn::NotEct);
    r.write(10_000);
    r.now += Duration::from_millis(110);
    ack(&mut r, 1, &[(1001, 2001)]);
    r.now += Duration::from_millis(10);
    ack(&mut r, 1, &[(1001, 3001)]);
    r.now += Duration::from_millis(10);
    let from = r.out.len();
    ack(&mut r, 1, &[(1001, 3001), (8001, 9001)]);
    let sent: Vec<u32> = r
        .since(from)
        .iter()
        .map(|o| o.seq.wrapping_sub(r.iss))
        .collect();
    assert_eq!(sent, vec![1, 3001], "{:?}", r.since(from));
    assert_eq!(r.cwnd_ssthresh_state().1, 5);
}
