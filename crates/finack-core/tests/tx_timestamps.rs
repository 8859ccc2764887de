//! SO_TIMESTAMPING transmit timestamps and the socket error queue, as Linux
//! produces them for TCP: each write tags its last byte (tcp.c:
//! tcp_tx_timestamp()); SCHED and SND when the segment holding it leaves,
//! every time it leaves; ACK when a cumulative ACK first covers it
//! (tcp_input.c: tcp_ack_tstamp()); keys counted from SND.UNA when OPT_ID
//! was turned on (sock.c: sock_set_timestamping()).

mod common;
use common::*;

use std::time::Duration;

use finack_core::{sof, Config, Error, TxTimestamp, TxTimestampKind};

const ALL: u32 = sof::TX_SCHED | sof::TX_SOFTWARE | sof::TX_ACK | sof::SOFTWARE | sof::OPT_ID;

fn drain(net: &mut Net, side: Side, c: finack_core::ConnId) -> Vec<TxTimestamp> {
    let mut v = Vec::new();
    loop {
        match net.ep(side).recv_errqueue(c) {
            Ok(r) => v.push(r),
            Err(Error::WouldBlock) => return v,
            Err(e) => panic!("recv_errqueue: {e:?}"),
        }
    }
}

fn kinds(v: &[TxTimestamp]) -> Vec<(TxTimestampKind, u32)> {
    v.iter().map(|r| (r.kind, r.key)).collect()
}

use TxTimestampKind::{Acked, Sched, Sent};

dual!(
    each_write_tags_its_last_byte_sched_and_snd_when_sent_ack_when_acked,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.client.set_timestamping(c, ALL).unwrap();
        assert_eq!(net.client.timestamping(c), ALL);
        // No Nagle: the second write's short tail goes at once too.
        net.client.set_nodelay(c, true).unwrap();
        let t0 = net.now;
        net.client.send(t0, c, &[1u8; 2000]).unwrap();
        // The first write leaves before the second: two units, two tags.
        net.flush();
        net.client.send(t0, c, &[2u8; 2000]).unwrap();
        net.flush();
        assert_eq!(net.client.errqueue_len(c), 4);
        net.run_for(Duration::from_secs(1));
        let got = drain(&mut net, Side::Client, c);
        assert_eq!(
            kinds(&got),
            vec![
                (Sched, 1999),
                (Sent, 1999),
                (Sched, 3999),
                (Sent, 3999),
                (Acked, 1999),
                (Acked, 3999)
            ]
        );
        for r in &got[..4] {
            assert_eq!(r.at, t0);
            assert!(r.stamped && r.data_len > 0);
        }
        // The ACKs come a round trip (and perhaps a delayed ACK) later.
        assert!(got[4].at >= t0 + 2 * net.latency && got[5].at >= got[4].at);
        assert_eq!(net.client.errqueue_len(c), 0);
        assert_eq!(net.client.recv_errqueue(c), Err(Error::WouldBlock));
    }
);

#[test]
fn writes_sharing_one_unit_share_one_tag() {
    // Linux tcp_tx_timestamp() overwrites the tail skb's key: two writes
    // that land in one unsent skb report its last byte only.
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    net.client.set_timestamping(c, ALL).unwrap();
    let t0 = net.now;
    net.client.send(t0, c, &[1u8; 500]).unwrap();
    net.client.send(t0, c, &[2u8; 500]).unwrap();
    net.run_for(Duration::from_secs(1));
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(kinds(&got), vec![(Sched, 999), (Sent, 999), (Acked, 999)]);
}

#[test]
fn a_resent_segment_records_sched_and_snd_again_ack_once() {
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    net.client.set_timestamping(c, ALL).unwrap();
    let mut dropped = false;
    net.drop = Some(Box::new(move |s: &Seg| {
        if s.len > 0 && !dropped {
            dropped = true;
            return true;
        }
        false
    }));
    let t0 = net.now;
    net.client.send(t0, c, &[1u8; 100]).unwrap();
    net.run_for(Duration::from_secs(5));
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(
        kinds(&got),
        vec![
            (Sched, 99),
            (Sent, 99),
            (Sched, 99),
            (Sent, 99),
            (Acked, 99)
        ]
    );
    assert_eq!(got[0].at, t0);
    assert!(got[2].at > t0, "the resend comes after a timeout");
}

#[test]
fn opt_id_counts_from_snd_una_or_the_write_sequence() {
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    // 1000 bytes before timestamping: no records for them.
    let now = net.now;
    net.client.send(now, c, &[0u8; 1000]).unwrap();
    net.run_for(Duration::from_secs(1));
    net.client.set_timestamping(c, ALL).unwrap();
    let now = net.now;
    net.client.send(now, c, &[0u8; 300]).unwrap();
    net.run_for(Duration::from_secs(1));
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(kinds(&got), vec![(Sched, 299), (Sent, 299), (Acked, 299)]);

    // OPT_ID_TCP counts from the write sequence: the unsent bytes queued
    // before count as earlier.
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    net.client.set_send_buffer(c, 1 << 20).unwrap();
    let now = net.now;
    net.client.send(now, c, &[0u8; 100]).unwrap();
    net.client
        .set_timestamping(c, ALL | sof::OPT_ID_TCP)
        .unwrap();
    net.client.send(now, c, &[0u8; 50]).unwrap();
    net.run_for(Duration::from_secs(1));
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(kinds(&got), vec![(Sched, 49), (Sent, 49), (Acked, 49)]);

    // Without OPT_ID the key is 0; TX_ACK alone asks for ACK only; without
    // SOFTWARE the reader gets no time.
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    net.client.set_timestamping(c, sof::TX_ACK).unwrap();
    let now = net.now;
    net.client.send(now, c, &[0u8; 10]).unwrap();
    net.run_for(Duration::from_secs(1));
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(kinds(&got), vec![(Acked, 0)]);
    assert!(!got[0].stamped);
}

#[test]
fn tsonly_records_carry_no_data_and_flags_off_stop_new_tags() {
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    net.client
        .set_timestamping(c, sof::TX_SOFTWARE | sof::OPT_TSONLY | sof::SOFTWARE)
        .unwrap();
    let now = net.now;
    net.client.send(now, c, &[0u8; 10]).unwrap();
    net.flush();
    net.client.set_timestamping(c, 0).unwrap();
    net.client.send(now, c, &[0u8; 10]).unwrap();
    net.run_for(Duration::from_secs(1));
    // The record was made under OPT_TSONLY; read with SOFTWARE off.
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(kinds(&got), vec![(Sent, 0)]);
    assert_eq!(got[0].data_len, 0);
    assert!(!got[0].stamped);
}

#[test]
fn set_timestamping_refuses_what_linux_refuses() {
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    for bad in [
        sof::OPT_ID_TCP,
        sof::OPT_STATS,
        sof::BIND_PHC,
        1 << 30,
        sof::OPT_ID_TCP | sof::TX_ACK,
    ] {
        assert_eq!(
            net.client.set_timestamping(c, bad),
            Err(Error::InvalidArgument),
            "{bad:#x}"
        );
    }
    assert_eq!(net.client.timestamping(c), 0);
    net.client
        .set_timestamping(c, sof::OPT_STATS | sof::OPT_TSONLY)
        .unwrap();
    // A connection that is gone: OPT_ID is refused (Linux: TCP_CLOSE).
    net.client.abort(net.now, c).unwrap();
    assert!(net.client.set_timestamping(c, sof::OPT_ID).is_err());
}

#[test]
fn a_partial_write_that_went_out_before_its_tag_records_no_first_send() {
    // Linux tcp_sendmsg_locked(): a write that runs out of buffer pushes
    // what it queued (wait_for_space → tcp_push()) and, non-blocking,
    // returns; the tag is set after, on a unit already sent: no SCHED or
    // SND for that transmission, ACK still comes. As in
    // tcp_timestamping_tcp_tx_timestamp_bug.pkt, tcp_min_tso_segs=70 lets
    // a full unit leave as one GSO packet (tcp_push_one()), so the write
    // stops at the next unit, for want of buffer.
    let cfg = Config {
        gso_segs_min: Some(70),
        ..Config::linux()
    };
    let mut net = Net::with_configs(Family::V4, cfg.clone(), cfg);
    let (c, _s) = net.established();
    // Open the congestion window wide first (slow start over a few round
    // trips), as tcp_timestamping_tcp_tx_timestamp_bug.pkt does.
    net.capp.to_send.extend(std::iter::repeat_n(0u8, 400_000));
    let done = net.run_until(Duration::from_secs(5), |n| {
        n.capp.to_send.is_empty() && n.client.info(c).is_some_and(|i| i.unacked_segments == 0)
    });
    assert!(done);
    net.client.set_send_buffer(c, 4000).unwrap();
    net.client.set_timestamping(c, ALL).unwrap();
    let now = net.now;
    let n = net.client.send(now, c, &[0u8; 100_000]).unwrap();
    assert!(n < 100_000 && n > 0);
    net.flush();
    let sent: usize = net
        .sent_by(Side::Client)
        .iter()
        .filter(|s| s.time == now)
        .map(|s| s.len)
        .sum();
    assert_eq!(sent, n, "the windows let the whole write out at once");
    net.run_for(Duration::from_secs(1));
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(kinds(&got), vec![(Acked, n as u32 - 1)]);
}

#[test]
fn no_timestamping_no_records_and_no_poll_error() {
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    let now = net.now;
    net.client.send(now, c, &[0u8; 5000]).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.client.errqueue_len(c), 0);
    assert_eq!(net.client.recv_errqueue(c), Err(Error::WouldBlock));
    assert_eq!(net.client.timestamping(c), 0);
}

#[test]
fn records_stay_readable_in_time_wait() {
    // Linux keeps the error queue with the socket until close(): records
    // made before the connection reached TIME-WAIT are still there.
    let mut net = Net::new(Family::V4);
    let (c, s) = net.established();
    net.client
        .set_timestamping(c, sof::TX_ACK | sof::OPT_ID)
        .unwrap();
    let now = net.now;
    net.client.send(now, c, &[0u8; 100]).unwrap();
    net.client
        .shutdown(now, c, finack_core::Shutdown::Write)
        .unwrap();
    let half = net.run_until(Duration::from_secs(5), |n| {
        n.client.state(c) == finack_core::State::FinWait2
    });
    assert!(half);
    let now = net.now;
    net.server.close(now, s).unwrap();
    let reached = net.run_until(Duration::from_secs(5), |n| {
        n.client.state(c) == finack_core::State::TimeWait
    });
    assert!(reached, "{:?}\n{}", net.client_states, net.trace());
    assert_eq!(net.client.errqueue_len(c), 1);
    let got = drain(&mut net, Side::Client, c);
    assert_eq!(kinds(&got), vec![(Acked, 99)]);
    assert_eq!(net.client.recv_errqueue(c), Err(Error::WouldBlock));
}
