//! The simulator's faults do what they say, and the engine survives them.

use std::time::Duration;

use finack_core::{Config, Instant, State};
use finack_sim::sim::{CloseMode, Verdict};
use finack_sim::{Fate, Sim, TraceEvent};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// 200 kB from client to server, then both close; returns the sim and the
/// server's received bytes.
fn transfer(sim: &mut Sim) -> Vec<u8> {
    sim.listen(1, 80, 16);
    let c = sim.connect(0, 0, 80).unwrap();
    sim.run_until(Duration::from_secs(30), |s| s.conn(1, 0).is_some());
    let s = sim.conn(1, 0).expect("accepted");
    sim.hosts[1].app.close_on_peer_fin = true;
    sim.send(0, c, &data(200_000));
    sim.close_when_sent(0, c, CloseMode::Close);
    sim.run_until(Duration::from_secs(600), |sm| {
        sm.state(0, c) == State::Closed && sm.state(1, s) == State::Closed
    });
    assert_eq!(sim.state(0, c), State::Closed, "client closed");
    assert_eq!(sim.state(1, s), State::Closed, "server closed");
    sim.conn_app(1, s).unwrap().received.clone()
}

fn count(sim: &Sim, pred: impl Fn(&Fate) -> bool) -> usize {
    sim.trace
        .events
        .iter()
        .filter(|e| matches!(e, TraceEvent::Packet { fate, .. } if pred(fate)))
        .count()
}

fn new(seed: u64) -> Sim {
    Sim::new(
        "faults",
        seed,
        ["client", "server"],
        [Config::linux(), Config::linux()],
    )
}

#[test]
fn random_loss_is_recovered_and_seeded() {
    let mut a = new(7);
    a.faults.loss = 0.05;
    let got = transfer(&mut a);
    assert!(got == data(200_000), "data intact despite loss");
    let lost = count(&a, |f| matches!(f, Fate::Dropped(r) if r == "random loss"));
    assert!(lost > 0, "some packets were lost");
    let mut b = new(7);
    b.faults.loss = 0.05;
    transfer(&mut b);
    assert!(a.trace == b.trace, "same seed, same run");
    let mut c = new(8);
    c.faults.loss = 0.05;
    transfer(&mut c);
    assert!(a.trace != c.trace, "another seed, another run");
}

#[test]
fn corruption_is_caught_by_the_checksum() {
    let mut sim = new(3);
    sim.faults.corrupt = 0.05;
    let got = transfer(&mut sim);
    assert!(
        got == data(200_000),
        "corrupted packets were dropped and resent"
    );
    let corrupted = count(&sim, |f| matches!(f, Fate::Corrupted(_)));
    assert!(corrupted > 0);
    let bad = sim.hosts[0].ep.stats().malformed + sim.hosts[1].ep.stats().malformed;
    assert_eq!(
        bad as usize, corrupted,
        "every corrupted packet rejected as malformed"
    );
}

#[test]
fn duplication_and_reordering_do_not_corrupt_data() {
    let mut sim = new(5);
    sim.faults.duplicate = 0.1;
    sim.faults.reorder = 0.1;
    sim.faults.reorder_delay = Duration::from_millis(15);
    sim.faults.jitter = Duration::from_millis(3);
    let got = transfer(&mut sim);
    assert!(got == data(200_000));
}

#[test]
fn partition_drops_everything_for_its_duration() {
    let mut sim = new(1);
    sim.partition(Instant::from_millis(100), Instant::from_millis(1500));
    let got = transfer(&mut sim);
    assert!(got == data(200_000), "recovered after the partition");
    let cut = count(&sim, |f| matches!(f, Fate::Dropped(r) if r == "partition"));
    assert!(cut > 0);
    for e in &sim.trace.events {
        if let TraceEvent::Packet { time, fate, .. } = e {
            let inside = *time >= Instant::from_millis(100) && *time < Instant::from_millis(1500);
            assert_eq!(inside, matches!(fate, Fate::Dropped(r) if r == "partition"));
        }
    }
}

#[test]
fn bandwidth_and_queue_limit_shape_the_link() {
    let mut sim = new(1);
    sim.link.bandwidth = Some(10_000_000);
    sim.link.queue_limit = 8;
    let got = transfer(&mut sim);
    assert!(got == data(200_000));
    assert!(
        sim.now > Instant::from_millis(160),
        "200 kB at 10 Mbit/s takes > 160 ms"
    );
    let overflow = count(
        &sim,
        |f| matches!(f, Fate::Dropped(r) if r == "queue overflow"),
    );
    assert!(
        overflow > 0,
        "a 10-segment burst overflows an 8-packet queue"
    );
}

#[test]
fn scripted_delay_holds_one_packet_back() {
    let mut sim = new(1);
    let mut done = false;
    sim.rule(move |p| {
        if !done && p.from == 0 && p.seg.len > 0 {
            done = true;
            return Some(Verdict::Delay(Duration::from_secs(2)));
        }
        None
    });
    let got = transfer(&mut sim);
    assert!(got == data(200_000));
    let late = sim.trace.events.iter().any(|e| {
        matches!(e, TraceEvent::Packet { time, fate: Fate::Delivered(at), .. } if *at - *time >= Duration::from_secs(2))
    });
    assert!(late, "one packet arrived 2 s late");
}

#[test]
fn crash_loses_all_state_and_reboot_answers_with_rst() {
    let mut sim = new(1);
    sim.listen(1, 80, 16);
    let c = sim.connect(0, 0, 80).unwrap();
    sim.run_until(Duration::from_secs(1), |s| s.conn(1, 0).is_some());
    sim.crash(1);
    assert_eq!(sim.hosts[1].ep.connection_count(), 0);
    sim.send(0, c, b"hello?");
    sim.run_for(Duration::from_millis(500));
    let down = count(&sim, |f| matches!(f, Fate::HostDown(_)));
    assert!(down > 0, "packets to a crashed host are lost");
    sim.reboot(1);
    sim.run_until(Duration::from_secs(10), |s| s.state(0, c) == State::Closed);
    assert_eq!(sim.state(0, c), State::Closed, "reset by the rebooted host");
}
