//! Pacing under the fq queueing discipline (`Config::pacing`), as Linux
//! TCP stamps departure times for sch_fq: the rate of tcp_input.c:
//! tcp_update_pacing_rate() (twice cwnd per SRTT in slow start), the first
//! ten data segments unpaced and the lateness credit of tcp_output.c:
//! tcp_update_skb_after_send(), and a GSO packet leaving whole.

mod common;

use std::time::Duration;

use common::peer::Rig;
use finack_core::wire::{Ecn, TcpFlags};
use finack_core::{Config, Pacing};

/// A passive open (the handshake's RTT, so SRTT, 100 ms, MSS 1000) with
/// the Linux profile, pacing as given.
fn rig(pacing: Pacing) -> Rig {
    let cfg = Config {
        pacing,
        ..Config::linux()
    };
    let mut r = Rig::new(cfg);
    r.accept(TcpFlags::empty(), Ecn::NotEct);
    r
}

fn ack(r: &mut Rig, ack: u32) -> Vec<common::peer::Out> {
    r.send(Ecn::NotEct, TcpFlags::ACK, 1, ack, &[])
}

fn bytes(out: &[common::peer::Out]) -> usize {
    out.iter().map(|o| o.len).sum()
}

/// Without fq nothing is paced: what the window frees leaves at once.
#[test]
fn without_fq_the_freed_window_leaves_at_once() {
    let mut r = rig(Pacing::Off);
    assert_eq!(bytes(&r.write(40_000)), 10_000);
    r.now += Duration::from_millis(100);
    // cwnd 12, 8 in flight: four segments at once.
    assert_eq!(bytes(&ack(&mut r, 2_001)), 4_000);
    assert!(r.ep.poll_timeout().is_some());
    assert_eq!(bytes(&r.wait(Duration::from_millis(50))), 0);
}

/// Under fq the first ten segments go unpaced (as the original sch_fq did
/// not pace a flow's first ten MSS); the GSO packet of two that holds the
/// tenth moves the departure clock by 2000 bytes at 2 * 10 * 1000 bytes per
/// 100 ms (10 ms). The ACK 100 ms later finds the clock behind: its first
/// packet leaves at once and earns half of its own interval back (2000
/// bytes at 2 * 12 * 1000 per 100 ms: 8.33 ms, less 4.17 ms); the second
/// waits those 4.17 ms, and leaves whole.
#[test]
fn fq_spaces_packets_at_twice_the_window_per_srtt_in_slow_start() {
    let mut r = rig(Pacing::Fq);
    let first = r.write(40_000);
    assert_eq!(bytes(&first), 10_000);
    r.now += Duration::from_millis(100);
    let now = ack(&mut r, 2_001);
    assert_eq!(bytes(&now), 2_000, "{now:?}");
    // The engine asks to be woken at the next departure time.
    let at = r.ep.poll_timeout().unwrap();
    assert_eq!(at, r.now + Duration::from_micros(4_167));
    assert_eq!(bytes(&r.wait(Duration::from_micros(4_166))), 0);
    let next = r.wait(Duration::from_micros(1));
    assert_eq!(next.len(), 2, "{next:?}");
    assert_eq!(bytes(&next), 2_000);
    // cwnd 12 is full: nothing more, however long.
    assert_eq!(bytes(&r.wait(Duration::from_millis(50))), 0);
}

/// A packet that leaves on time earns no credit: each of a run of packets
/// follows the one before by its whole interval at the rate. After the
/// second ACK (cwnd 14, 2 * 14 * 1000 bytes per SRTT, about 100 ms),
/// packets of 2000 bytes follow each other about 7.1 ms apart.
#[test]
fn fq_packets_on_time_follow_at_their_whole_interval() {
    let mut r = rig(Pacing::Fq);
    r.write(40_000);
    r.now += Duration::from_millis(100);
    ack(&mut r, 2_001);
    r.wait(Duration::from_micros(4_167));
    // 2 more freed: cwnd 14, 10 in flight before the ACK, 8 after.
    assert_eq!(bytes(&ack(&mut r, 4_001)), 0, "the clock is ahead");
    // Linux tcp_update_pacing_rate(): MSS * 2 * max(cwnd, out) per SRTT
    // (in eighths of a microsecond).
    let srtt_8ths = r.ep.info(r.c()).unwrap().srtt.unwrap().as_nanos() / 125;
    let rate = 1000 * 80_000 * 200 * 14 / srtt_8ths;
    let interval_us = (2000 * 1_000_000_000 / rate) as u64 / 1000;
    let start = r.now;
    let t1 = r.ep.poll_timeout().unwrap();
    let first = r.wait(t1 - start);
    assert_eq!(bytes(&first), 2_000);
    let t2 = r.ep.poll_timeout().unwrap();
    let gap = t2.as_micros() - t1.as_micros();
    assert!(
        gap.abs_diff(interval_us) <= 1,
        "gap {gap} us, {interval_us}"
    );
    let now = r.now;
    assert_eq!(bytes(&r.wait(t2 - now)), 2_000);
}
