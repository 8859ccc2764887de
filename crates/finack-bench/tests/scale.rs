//! `finack bench scale` at a small size: what the harness reports is what
//! the endpoints did. No timing is asserted (speed is for benchmarks).

use std::time::Duration;

use finack_bench::scale::{self, Options};

fn small(connections: usize, max_memory: u64) -> Options {
    Options {
        connections,
        checkpoints: vec![1, 1000, 100_000],
        packets: 2000,
        reps: 5,
        max_memory,
        time_limit: Duration::from_secs(3600),
        seed: 7,
    }
}

/// 2,000 connections: all established, the data arrived both ways, every
/// checkpoint measured, all closed through TIME-WAIT into the client's
/// table, and the report carries the targets.
#[test]
fn two_thousand_connections_open_exchange_and_close_through_time_wait() {
    let n = 2000;
    let r = scale::run(&small(n, 4 << 30), |_| {}).unwrap();
    assert!(r.stopped.is_none(), "{:?}", r.stopped);
    assert_eq!(r.opened, n);
    assert_eq!(r.established, n);
    assert_eq!(r.data_ok, n);
    assert_eq!(r.packet_errors, 0);
    assert!(r.handshake_bytes.is_some_and(|b| b > 0));

    let ks: Vec<usize> = r.checkpoints.iter().map(|c| c.connections).collect();
    assert_eq!(ks, vec![1, 1000, n]);
    for cp in &r.checkpoints {
        assert!(!cp.at_stop);
        assert_eq!(cp.memory.client.connections, cp.connections);
        assert_eq!(cp.memory.server.connections, cp.connections);
        assert!(scale::total(&cp.memory.client) > 0 && scale::total(&cp.memory.server) > 0);
        assert_eq!(cp.cost.ns_per_packet.len(), 5);
        assert!(cp.cost.cut_short.is_none());
        assert_eq!(cp.cost.data_errors, 0);
        assert_eq!(cp.cost.segments, 5 * 2000);
        // Each segment is answered by one ACK.
        assert_eq!(cp.cost.packets, 2 * cp.cost.segments);
        assert!(cp.cost.summary().is_some());
    }
    // More connections, more memory.
    let totals: Vec<u64> = r
        .checkpoints
        .iter()
        .map(|c| scale::total(&c.memory.client))
        .collect();
    assert!(totals.windows(2).all(|w| w[0] < w[1]), "{totals:?}");

    let c = r.close.as_ref().expect("close phase");
    assert_eq!(c.closed, n);
    assert_eq!(c.time_wait, n);
    assert_eq!(c.client_other, 0);
    assert_eq!(c.server_left, 0);
    assert_eq!(c.memory.client.connections, n);
    let tw = scale::total(&c.memory.client);
    assert!(tw > 0);
    // A TIME-WAIT entry holds no buffers: far less than a live connection.
    let live = scale::total(&r.checkpoints[2].memory.client);
    assert!(tw < live, "TIME-WAIT {tw} vs live {live}");

    let text = scale::render(&r);
    for needle in [
        "opened 2,000 connections: 2,000 ESTABLISHED on both sides, 2,000 with their data intact",
        "with 1 connection open:",
        "with 1,000 connections open:",
        "with 2,000 connections open:",
        "2,000 in TIME-WAIT on the client",
        "TIME-WAIT table (client endpoint):",
        "control block (TCB):",
        "target: 1,000,000 idle established connections in <= 1.0 GiB on one endpoint: not measured",
        "target: per-packet cost at 1,000,000 connections <= 1.5x the cost at 1: not measured",
        "target: the whole run in under 10 minutes:",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert!(!text.contains("STOPPED"), "{text}");
}

/// A budget too small for the run: opening stops cleanly short of it, what
/// was opened is measured and closed, and the targets say missed.
#[test]
fn a_small_memory_budget_stops_the_run_cleanly() {
    // Room for about 2,500 connections at what one costs (with its share of
    // the tables) in this build of the engine.
    let one = scale::run(&small(1, 1 << 30), |_| {}).unwrap();
    let per = one.checkpoints[0].memory.accounted();
    let budget = per * 2500;
    let r = scale::run(&small(100_000, budget), |_| {}).unwrap();
    let why = r.stopped.as_deref().expect("stopped");
    assert!(why.starts_with("memory:"), "{why}");
    assert!(r.opened > 0 && r.opened < 100_000, "{}", r.opened);
    assert_eq!(r.established, r.opened);
    for cp in &r.checkpoints {
        assert!(cp.memory.accounted() <= budget, "{cp:?}");
    }
    // Measured at 1 and 1,000, and where it stopped, past 1,000.
    assert!(r.opened > 1000, "{}", r.opened);
    let ks: Vec<usize> = r.checkpoints.iter().map(|c| c.connections).collect();
    assert_eq!(ks, vec![1, 1000, r.opened]);
    assert!(r.checkpoints[2].at_stop);
    assert_eq!(r.checkpoints[2].cost.ns_per_packet.len(), 5);
    let c = r.close.as_ref().unwrap();
    assert_eq!(c.time_wait, r.opened);
    let text = scale::render(&r);
    assert!(text.contains("STOPPED at"), "{text}");
    assert!(
        text.contains(
            "target: 1,000,000 idle established connections in <= 1.0 GiB on one endpoint: MISSED"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "target: per-packet cost at 1,000,000 connections <= 1.5x the cost at 1: MISSED"
        ),
        "{text}"
    );
}
