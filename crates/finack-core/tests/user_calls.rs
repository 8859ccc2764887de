//! User calls act at the caller's `now`, and the transition they cause is
//! recorded under the call's own name (issue 11: state changes as values).

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::{Cause, Config, Error, Shutdown, State, UserCall};

/// The record of `side`'s connection moving from `from` to `to`.
fn transition(net: &Net, from: State, to: State) -> finack_core::Transition {
    *net.transitions
        .iter()
        .find(|t| t.from == from && t.to == to)
        .unwrap_or_else(|| panic!("no {from} -> {to} in {:?}", net.transitions))
}

dual!(
    close_acts_at_the_callers_now_not_the_last_packet,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        // Nothing happens for 3 s; then the application closes at its own time.
        let at = net.now + Duration::from_secs(3);
        net.client.close(at, c).unwrap();
        net.now = at;
        net.run_for(Duration::from_millis(10));
        let t = transition(&net, State::Established, State::FinWait1);
        assert_eq!(t.time, at, "recorded when close() was called");
        assert_eq!(t.cause, Cause::User(UserCall::Close));
    }
);

dual!(shutdown_write_is_recorded_by_its_name, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.client.shutdown(net.now, c, Shutdown::Write).unwrap();
    net.run_for(Duration::from_millis(10));
    let t = transition(&net, State::Established, State::FinWait1);
    assert_eq!(t.cause, Cause::User(UserCall::Shutdown(Shutdown::Write)));
    assert_eq!(t.cause.to_string(), "user shutdown(SHUT_WR)");
});

dual!(
    close_with_unread_data_is_recorded_as_close_and_resets,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        net.sapp.read = false;
        net.client.send(net.now, c, b"unread").unwrap();
        net.run_for(Duration::from_millis(100));
        net.server.close(net.now, s).unwrap();
        net.run_for(Duration::from_millis(100));
        let t = transition(&net, State::Established, State::Closed);
        assert_eq!(
            t.cause,
            Cause::User(UserCall::Close),
            "the call was close()"
        );
        // RFC 2525 §2.17: the peer sees a reset, not an end of stream.
        assert_eq!(net.client.state(c), State::Closed);
        assert!(net.sent_by(Side::Server).iter().any(|s| s.flags.rst()));
    }
);

/// A control segment (here the RST for a closed port) that does not fit the
/// buffer handed to `poll_transmit` stays queued for the next call.
#[test]
fn poll_transmit_keeps_a_control_segment_that_does_not_fit() {
    use finack_core::wire::{self, SeqNumber, TcpFlags, TcpOptions};
    use finack_core::{Config, Endpoint, Instant};
    let mut ep = Endpoint::new(Config::linux(), [7; 16]);
    ep.add_address("192.0.2.2".parse().unwrap());
    // A SYN to a port nobody listens on: RFC 9293 §3.10.7.1 owes a RST.
    let syn = craft(
        "192.0.2.1:40000".parse().unwrap(),
        "192.0.2.2:81".parse().unwrap(),
        SeqNumber(1),
        SeqNumber(0),
        TcpFlags::SYN,
        1000,
        TcpOptions::default(),
        &[],
    );
    ep.handle_packet(Instant::ZERO, &syn).unwrap();
    let mut small = [0u8; 20];
    assert_eq!(ep.poll_transmit(Instant::ZERO, &mut small), None);
    let mut buf = [0u8; 1500];
    let n = ep
        .poll_transmit(Instant::ZERO, &mut buf)
        .expect("the RST is still queued");
    let (_, rst) = wire::parse_tcp_packet(&buf[..n]).unwrap();
    assert!(rst.flags.rst());
    assert_eq!(ep.poll_transmit(Instant::ZERO, &mut buf), None);
}

dual!(peek_leaves_the_bytes_for_recv, |f: Family| {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    // The test reads by hand.
    net.capp.read = false;
    let mut buf = [0u8; 16];
    assert_eq!(net.client.peek(c, &mut buf), Err(Error::WouldBlock));
    let now = net.now;
    net.server.send(now, s, b"hello").unwrap();
    net.run_to_quiet();
    for _ in 0..2 {
        assert_eq!(net.client.peek(c, &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
    }
    let mut small = [0u8; 2];
    assert_eq!(net.client.peek(c, &mut small), Ok(2));
    assert_eq!(&small, b"he");
    let now = net.now;
    assert_eq!(net.client.recv(now, c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(net.client.peek(c, &mut buf), Err(Error::WouldBlock));
    net.server.shutdown(now, s, Shutdown::Write).unwrap();
    net.run_to_quiet();
    assert_eq!(net.client.peek(c, &mut buf), Ok(0));
});

/// Linux tcp_twsk_unique(): connect() from the port of a connection now in
/// TIME-WAIT, to the same peer, takes the entry over at once when
/// timestamps guard the new incarnation (the port was chosen by the
/// application, so tcp_tw_reuse is not asked), with the ISN past the old
/// window: the old SND.NXT + 65535 + 2. Without timestamps the 4-tuple stays
/// taken (EADDRNOTAVAIL).
#[test]
fn bound_connect_takes_over_time_wait_with_timestamps() {
    for ts in [true, false] {
        let mut cfg = Config::linux();
        cfg.timestamps = ts;
        let mut net = Net::with_configs(Family::V4, cfg.clone(), cfg);
        let (c, s) = net.established();
        let (local, remote) = net.client.addrs(c).unwrap();
        let now = net.now;
        net.client.close(now, c).unwrap();
        net.run_for(Duration::from_millis(100));
        let now = net.now;
        net.server.close(now, s).unwrap();
        net.run_for(Duration::from_millis(100));
        assert!(net.client_states.contains(&State::TimeWait));
        let fin = net
            .sent_by(Side::Client)
            .into_iter()
            .find(|g| g.has(TcpFlags::FIN))
            .unwrap()
            .seq;
        let mark = net.log.len();
        let now = net.now;
        let again = net.client.connect(now, local, remote);
        if !ts {
            assert_eq!(again.err(), Some(Error::AddrNotAvailable));
            continue;
        }
        assert!(again.is_ok(), "{again:?}");
        net.flush();
        let syn = net.log[mark..]
            .iter()
            .find(|g| g.from == Side::Client && g.has(TcpFlags::SYN))
            .unwrap();
        assert_eq!(syn.seq, fin + 1 + 65535 + 2);
    }
}
