//! The simulated attacks at small scale: with the server's defences on,
//! every legitimate client is served and no forged segment breaks a
//! connection; with them off, each attack does the harm it is named for.

use finack_sim::attack::{run, table, Attack, AttackRow, Scale};

fn both(a: Attack) -> (AttackRow, AttackRow) {
    let s = Scale::small();
    (run(a, true, &s, 1), run(a, false, &s, 1))
}

#[test]
fn syn_flood_is_held_off_by_syn_cookies() {
    let (on, off) = both(Attack::SynFlood);
    assert!(on.success_percent() >= 99.0, "{on:?}");
    assert!(off.success_percent() < 50.0, "{off:?}");
    let cookies = |r: &AttackRow| {
        r.counters
            .iter()
            .any(|(n, v)| *n == "SyncookiesRecv" && *v > 0)
    };
    assert!(cookies(&on), "{on:?}");
    assert!(!cookies(&off), "{off:?}");
    // The flood is what the scale says, with the SYN queue full throughout.
    assert!(off.attacker_segments >= Scale::small().flood);
    assert!(
        off.peak_held <= Scale::small().backlog + Scale::small().legit + 1,
        "{off:?}"
    );
}

#[test]
fn idle_and_slow_clients_are_bounded_by_per_source_limits_and_the_idle_timeout() {
    for a in [Attack::Idle, Attack::Slow] {
        let (on, off) = both(a);
        assert!(on.success_percent() >= 99.0, "{on:?}");
        assert_eq!(off.legit_ok, 0, "{off:?}");
        let held = |r: &AttackRow, n: &str| r.counters.iter().find(|c| c.0 == n).map_or(0, |c| c.1);
        assert!(held(&on, "finackIdleTimeouts") > 0, "{on:?}");
        assert!(held(&on, "finackPerSourceDrops") > 0, "{on:?}");
        assert!(on.peak_held < off.peak_held, "{on:?} {off:?}");
    }
}

#[test]
fn vanished_peers_do_not_hold_the_server_with_the_idle_timeout() {
    let (on, off) = both(Attack::HalfOpen);
    assert!(on.success_percent() >= 99.0, "{on:?}");
    assert_eq!(off.legit_ok, 0, "{off:?}");
    assert!(on.peak_memory * 2 < off.peak_memory, "{on:?} {off:?}");
}

#[test]
fn blind_injection_breaks_nothing_with_rfc_5961_and_everything_without() {
    let (on, off) = both(Attack::BlindInject);
    let (broken_on, guesses) = on.accepted.unwrap();
    assert_eq!(broken_on, 0, "{on:?}");
    assert!(guesses >= 3 * 20 * 19, "{on:?}");
    assert_eq!(on.success_percent(), 100.0);
    let (broken_off, _) = off.accepted.unwrap();
    assert!(broken_off > 0, "{off:?}");
    // The ACK storm: the rate limit holds the replies back.
    let count = |r: &AttackRow, n: &str| r.counters.iter().find(|c| c.0 == n).map_or(0, |c| c.1);
    assert!(count(&on, "TCPACKSkippedSeq") > 0, "{on:?}");
    assert!(
        count(&on, "OutSegs") < count(&off, "OutSegs"),
        "{on:?} {off:?}"
    );
}

#[test]
fn time_wait_flood_is_capped() {
    let (on, off) = both(Attack::TwFlood);
    let cap = Scale::small().tw_cap;
    assert!(on.success_percent() >= 99.0, "{on:?}");
    assert!(off.success_percent() >= 99.0, "{off:?}");
    // TIME-WAIT entries and a few live connections.
    assert!(on.peak_held <= cap + 100, "{on:?}");
    assert!(off.peak_held > 2 * cap, "{off:?}");
    assert!(on.peak_memory < off.peak_memory, "{on:?} {off:?}");
    assert!(on
        .counters
        .iter()
        .any(|(n, v)| *n == "TCPTimeWaitOverflow" && *v > 0));
}

#[test]
fn the_same_seed_gives_the_same_table() {
    let s = Scale::small();
    let a = run(Attack::Idle, true, &s, 7);
    let b = run(Attack::Idle, true, &s, 7);
    assert_eq!(a, b);
    let text = table(std::slice::from_ref(&a), false);
    assert!(text.starts_with("attack"), "{text}");
    assert!(text.contains("idle"), "{text}");
    let md = table(&[a], true);
    assert!(md.starts_with("| attack |"), "{md}");
}
