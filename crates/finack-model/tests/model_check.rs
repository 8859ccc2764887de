//! The model checker at small bounds: every reachable state explored, every
//! safety property holds, every "reached" property has an example. Each
//! test prints its bound and the states it explored (`--nocapture`).

use finack_model::{check, Bounds, Profile, Report};

fn run(bounds: Bounds) -> Report {
    let report = check(&bounds, 2);
    println!("{}", report.render());
    assert!(
        report.complete,
        "exploration incomplete:\n{}",
        report.render()
    );
    for p in &report.properties {
        assert!(p.holds(), "property failed:\n{}", report.render());
    }
    assert!(report.unique_states > 1_000, "{}", report.render());
    report
}

fn base() -> Bounds {
    Bounds {
        losses: 0,
        dups: 0,
        reorders: 0,
        delays: 0,
        crashes: 0,
        client_bytes: 1,
        server_bytes: 1,
        incarnations: 1,
        shutdown: true,
        abort: true,
        profile: Profile::Linux,
    }
}

/// Handshake, a byte each way, and every close path the applications can
/// take (close, shutdown then close, abort, in any order on both sides).
#[test]
fn every_close_path_linux() {
    let r = run(base());
    // TIME-WAIT, CLOSING, CLOSE-WAIT data and a complete exchange are among
    // the examples: the model is not vacuous.
    assert!(r.properties.len() >= 7);
}

/// The same under the RFC 9293 profile (no abort, to keep it small).
#[test]
fn every_close_path_rfc9293() {
    run(Bounds {
        abort: false,
        profile: Profile::Rfc9293,
        ..base()
    });
}

/// One lost packet, anywhere: retransmission recovers it.
#[test]
fn loss() {
    run(Bounds {
        losses: 1,
        shutdown: false,
        abort: false,
        ..base()
    });
}

/// A duplicated packet, and separately a reordered one.
#[test]
fn duplicate_and_reorder() {
    run(Bounds {
        dups: 1,
        shutdown: false,
        abort: false,
        ..base()
    });
    run(Bounds {
        reorders: 1,
        shutdown: false,
        abort: false,
        ..base()
    });
}

/// Either host may crash and come back empty: its peer is reset.
#[test]
fn crash() {
    run(Bounds {
        crashes: 1,
        shutdown: false,
        ..base()
    });
}

/// Two client incarnations on one 4-tuple, with a timer firing while
/// packets are in flight (spurious retransmissions, late segments): an old
/// incarnation's segment reaches the new connection and is rejected.
#[test]
fn two_incarnations() {
    run(Bounds {
        delays: 1,
        incarnations: 2,
        client_bytes: 0,
        server_bytes: 0,
        shutdown: false,
        abort: false,
        ..base()
    });
}
