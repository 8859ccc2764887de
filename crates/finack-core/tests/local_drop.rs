//! A host device that refuses every packet (`Endpoint::set_local_drop`, as a
//! Linux qdisc with `limit 0` does): transmissions fail the way Linux's do
//! when tcp_transmit_skb() fails locally. New data stays unsent and the
//! persist timer retries it every TCP_RESOURCE_PROBE_INTERVAL (500 ms)
//! without backing off (tcp_send_probe0()); TCP_USER_TIMEOUT counts from the
//! first probe (tcp_probe_timer()); a refused retransmission is not counted
//! and the retransmission timer retries it after 500 ms without backoff
//! (tcp_retransmit_timer()).

mod common;

use std::time::Duration;

use common::peer::Rig;
use finack_core::wire::{Ecn, TcpFlags};
use finack_core::{Config, State, TimerKind};

/// An accepted connection whose first 100 bytes went out and were ACKed.
fn established(cfg: Config) -> Rig {
    let mut r = Rig::new(cfg);
    r.accept(TcpFlags::empty(), Ecn::NotEct);
    assert_eq!(r.write(100).len(), 1);
    r.now += Duration::from_millis(100);
    r.send(Ecn::NotEct, TcpFlags::ACK, 1, 101, &[]);
    r
}

const RESOURCE_PROBE: Duration = Duration::from_millis(500);

/// Let time pass until the engine sends something, at most `limit`.
fn first_output(r: &mut Rig, limit: Duration) -> Vec<common::peer::Out> {
    let end = r.now + limit;
    while r.now < end {
        let out = r.wait(Duration::from_millis(1));
        if !out.is_empty() {
            return out;
        }
    }
    Vec::new()
}

#[test]
fn refused_write_is_retried_every_resource_probe_interval() {
    let mut r = established(Config::linux());
    let c = r.c();
    let rto = r.ep.info(c).unwrap().rto;
    r.ep.set_local_drop(true);
    assert!(r.write(50).is_empty(), "the device refuses the data");
    let i = r.ep.info(c).unwrap();
    assert_eq!((i.unacked, i.unsent), (0, 50), "the data stays unsent");
    // tcp_check_probe_timer(): nothing in flight, so the probe timer, at
    // the RTO; then a probe every 500 ms, each refused, none backing off.
    assert_eq!(r.ep.timer_of(c), Some((TimerKind::Persist, r.now + rto)));
    assert!(r.wait(rto).is_empty());
    let i = r.ep.info(c).unwrap();
    assert_eq!((i.probes, i.backoff), (1, 0));
    assert_eq!(
        r.ep.timer_of(c),
        Some((TimerKind::Persist, r.now + RESOURCE_PROBE))
    );
    assert!(r.wait(RESOURCE_PROBE).is_empty());
    let i = r.ep.info(c).unwrap();
    assert_eq!((i.probes, i.backoff, i.unsent), (2, 0, 50));
    assert_eq!(
        r.ep.timer_of(c),
        Some((TimerKind::Persist, r.now + RESOURCE_PROBE))
    );
    // The device takes packets again: the next probe at the latest sends
    // the data.
    r.ep.set_local_drop(false);
    let out = first_output(&mut r, RESOURCE_PROBE);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].seq.wrapping_sub(r.iss), out[0].len), (101, 50));
    let i = r.ep.info(c).unwrap();
    assert_eq!((i.unacked, i.unsent, i.total_retransmits), (50, 0, 0));
    // The peer's ACK ends the probing.
    r.now += Duration::from_millis(100);
    r.send(Ecn::NotEct, TcpFlags::ACK, 1, 151, &[]);
    let i = r.ep.info(c).unwrap();
    assert_eq!((i.probes, i.backoff, i.unacked), (0, 0, 0));
}

#[test]
fn user_timeout_counts_from_the_first_refused_probe() {
    let mut r = established(Config::linux());
    let c = r.c();
    r.ep.set_user_timeout(c, Some(Duration::from_secs(3)))
        .unwrap();
    let rto = r.ep.info(c).unwrap().rto;
    r.ep.set_local_drop(true);
    assert!(r.write(24).is_empty());
    r.wait(rto);
    assert_eq!(r.ep.info(c).unwrap().probes, 1, "the first probe");
    // Probes at 0.5 s, 1 s, ... 2.5 s after the first: six in all; the
    // connection lives until 3 s after the first probe.
    r.wait(Duration::from_secs(3) - Duration::from_millis(1));
    assert_eq!(r.ep.state(c), State::Established);
    assert_eq!(r.ep.info(c).unwrap().probes, 6);
    r.wait(Duration::from_millis(1));
    assert_eq!(r.ep.state(c), State::Closed);
    assert_eq!(
        r.ep.send(r.now, c, b"x"),
        Err(finack_core::Error::TimedOut),
        "the application hears of the timeout"
    );
    // Like TCP_INFO on a closed Linux socket, the counts stay readable.
    let i = r.ep.info(c).unwrap();
    assert_eq!((i.state, i.probes, i.backoff), (State::Closed, 6, 0));
    assert!(r.out.iter().all(|o| o.len != 24), "nothing left the host");
}

#[test]
fn refused_retransmission_is_not_counted_and_retried_after_500ms() {
    let mut r = established(Config::linux());
    let c = r.c();
    assert_eq!(r.write(1000).len(), 1);
    let rto = r.ep.info(c).unwrap().rto;
    r.ep.set_local_drop(true);
    // The retransmission timeout: the retransmission is refused.
    assert!(r.wait(rto).is_empty());
    let i = r.ep.info(c).unwrap();
    assert_eq!((i.total_retransmits, i.retrans_segments), (0, 0));
    assert_eq!(i.backoff, 0, "no backoff for a refused retransmission");
    assert_eq!(r.ep.stats().retrans_fail, 1);
    assert_eq!(r.ep.stats().retransmits, 0);
    // Tried again after TCP_RESOURCE_PROBE_INTERVAL, not after a doubled RTO.
    let again = r.now + RESOURCE_PROBE;
    assert_eq!(r.ep.timer_of(c), Some((TimerKind::Retransmit, again)));
    r.wait(RESOURCE_PROBE);
    assert!(r.ep.stats().retrans_fail >= 2);
    let i = r.ep.info(c).unwrap();
    // The second timeout of the episode keeps the ssthresh the first set
    // (CUBIC: 0.7 of the 10-segment window; tcp_enter_loss() with
    // icsk_retransmits counted).
    assert_eq!((i.total_retransmits, i.backoff, i.ssthresh), (0, 0, 7000));
    assert_eq!(
        r.ep.timer_of(c),
        Some((TimerKind::Retransmit, r.now + RESOURCE_PROBE))
    );
    // The device takes packets again: the next try sends it, and only then
    // does the timer back off.
    r.ep.set_local_drop(false);
    let out = first_output(&mut r, RESOURCE_PROBE);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].seq.wrapping_sub(r.iss), out[0].len), (101, 1000));
    assert_eq!(r.ep.info(c).unwrap().total_retransmits, 1);
    assert_eq!(r.ep.stats().retransmits, 1);
}

#[test]
fn refused_ack_counts_as_sent() {
    let mut r = established(Config::linux());
    r.ep.set_local_drop(true);
    assert!(r
        .send(Ecn::NotEct, TcpFlags::ACK, 1, 101, &[7; 10])
        .is_empty());
    assert!(r.ep.stats().local_drops >= 1);
    // Linux's __tcp_transmit_skb() cleared the delayed ACK before the device
    // refused the packet: no ACK follows once the device works again.
    r.ep.set_local_drop(false);
    assert!(r.wait(Duration::from_secs(1)).is_empty());
}

#[test]
fn rfc_profile_backs_off_a_refused_probe() {
    let mut cfg = Config::linux();
    cfg.resource_probe_interval = None;
    let mut r = established(cfg);
    let rto = r.ep.info(r.c()).unwrap().rto;
    r.ep.set_local_drop(true);
    assert!(r.write(50).is_empty());
    r.wait(rto);
    let i = r.ep.info(r.c()).unwrap();
    assert_eq!((i.probes, i.backoff), (1, 1));
    // The next probe waits the backed-off timeout, not 500 ms.
    r.wait(RESOURCE_PROBE);
    assert_eq!(r.ep.info(r.c()).unwrap().probes, 1);
    r.wait(2 * rto);
    assert_eq!(r.ep.info(r.c()).unwrap().probes, 2);
}

#[test]
fn refused_fast_retransmission_is_not_counted() {
    let mut r = Rig::new(Config::linux());
    r.sack_ok = true;
    r.accept(TcpFlags::empty(), Ecn::NotEct);
    assert_eq!(r.write(5000).len(), 5);
    r.ep.set_local_drop(true);
    // The first segment is lost; SACKs for the other four prove it.
    r.now += Duration::from_millis(100);
    let out = r.send_sack(Ecn::NotEct, TcpFlags::ACK, 1, 1, &[], &[(1001, 5001)]);
    assert!(out.is_empty(), "{out:?}");
    let i = r.ep.info(r.c()).unwrap();
    assert_eq!(i.ca_state, 3, "fast recovery");
    assert_eq!((i.total_retransmits, i.retrans_segments), (0, 0));
    assert!(r.ep.stats().retrans_fail >= 1);
    assert_eq!(r.ep.stats().retransmits, 0);
    // With the device working again, the next ACK lets it out.
    r.ep.set_local_drop(false);
    r.now += Duration::from_millis(10);
    let out = r.send_sack(Ecn::NotEct, TcpFlags::ACK, 1, 1, &[], &[(1001, 5001)]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].seq.wrapping_sub(r.iss), out[0].len), (1, 1000));
    let i = r.ep.info(r.c()).unwrap();
    assert_eq!((i.total_retransmits, i.retrans_segments), (1, 1));
}
