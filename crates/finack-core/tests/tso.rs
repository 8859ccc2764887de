//! Segmentation offload on the way out (`Endpoint::poll_transmit_segs`): a
//! packet of several segments, cut by the link as Linux's tcp_gso_segment()
//! cuts it, puts on the wire exactly the segments `poll_transmit` sends one
//! by one, at the same instants, and both connections go through the same
//! states: with loss, recovery, both directions, closes, IPv4 and IPv6.

mod common;
use common::*;

use std::collections::HashSet;
use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::Config;

/// Everything seen on the wire, one line per segment.
fn wire(net: &Net) -> Vec<String> {
    net.log.iter().map(|s| format!("{s:?}")).collect()
}

/// How the run with packets of several segments (`gso`) differs from the
/// one segment at a time (`one`): the first segment on the wire that is not
/// the same, a different count of segments, different data received or
/// different states; None when it does not.
fn difference(one: &Net, gso: &Net) -> Option<String> {
    let (a, b) = (wire(one), wire(gso));
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        return Some(format!(
            "segment {i} differs:\none by one: {}\nwith TSO:   {}\n{}",
            a[i],
            b[i],
            gso.trace()
        ));
    }
    let what = [
        (a.len() != b.len(), "the number of segments"),
        (one.capp.received != gso.capp.received, "the client's data"),
        (one.sapp.received != gso.sapp.received, "the server's data"),
        (
            one.client_states != gso.client_states,
            "the client's states",
        ),
        (
            one.server_states != gso.server_states,
            "the server's states",
        ),
    ];
    what.iter()
        .find(|(differs, _)| *differs)
        .map(|(_, what)| format!("{what} differ"))
}

/// Run `setup` then the network until quiet, once segment by segment and
/// once with packets of up to 45 segments; both wires must be the same.
/// Returns the second network, for more checks.
fn same_both_ways(f: Family, setup: impl Fn(&mut Net)) -> Net {
    same_both_ways_with(f, Config::linux(), setup)
}

/// [`same_both_ways`] with both ends configured as `cfg`.
fn same_both_ways_with(f: Family, cfg: Config, setup: impl Fn(&mut Net)) -> Net {
    let run = |tso: u16| {
        let mut net = Net::with_configs(f, cfg.clone(), cfg.clone());
        net.tso = tso;
        setup(&mut net);
        net.run_to_quiet();
        net
    };
    let (gso, d) = with_and_without_tso(run);
    if let Some(d) = d {
        panic!("{d}");
    }
    gso
}

/// Runs the exchange `run` makes one segment at a time (`tso` 0) and with
/// packets of up to 45 segments; returns the second run and how it differs
/// from the first ([`difference`]).
fn with_and_without_tso(run: impl Fn(u16) -> Net) -> (Net, Option<String>) {
    let one = run(0);
    let gso = run(45);
    let d = difference(&one, &gso);
    (gso, d)
}

/// Drop the first copy of every `nth` full-sized data segment `from` sends,
/// counted by sequence number.
fn drop_every(nth: u32, from: Side) -> DropFn {
    let mut seen = HashSet::new();
    Box::new(move |s: &Seg| {
        s.from == from && s.len > 0 && (s.seq.0 / 1000) % nth == 7 % nth && seen.insert(s.seq.0)
    })
}

/// The client sends `data` and closes, the server shuts down at once; with
/// `drops`, every so many of the client's segments are lost once. Checks
/// that all of it arrived; the network run with packets of several.
fn upload(f: Family, data: &[u8], drops: Option<u32>) -> Net {
    let gso = same_both_ways(f, |net| {
        let (_c, _s) = net.established();
        net.drop = drops.map(|n| drop_every(n, Side::Client));
        net.capp.to_send = data.to_vec().into();
        net.capp.close_when_sent = Some(true);
        net.sapp.close_when_sent = Some(false);
    });
    assert!(
        gso.sapp.received == data,
        "{} of {} bytes; client {:?} server {:?}",
        gso.sapp.received.len(),
        data.len(),
        gso.client_states,
        gso.server_states
    );
    gso
}

dual!(a_bulk_transfer_leaves_in_super_segments, |f: Family| {
    let gso = upload(f, &pattern(3 << 20, 1), None);
    // Most data went out in packets of several segments.
    let data_segs = gso
        .sent_by(Side::Client)
        .iter()
        .filter(|s| s.len > 0)
        .count();
    assert!(
        gso.super_segment_segs * 10 > data_segs * 9,
        "{} of {data_segs} segments in {} packets of several",
        gso.super_segment_segs,
        gso.super_segments
    );
});

dual!(loss_and_recovery_stay_the_same, |f: Family| {
    let gso = upload(f, &pattern(2 << 20, 2), Some(23));
    assert!(gso.log.iter().any(|s| s.dropped));
    assert!(gso.super_segments > 0);
});

dual!(both_directions_with_odd_writes_and_losses, |f: Family| {
    let up = pattern(700_001, 3);
    let down = pattern(1_234_567, 4);
    let gso = same_both_ways(f, |net| {
        net.latency = Duration::from_millis(3);
        let (_c, _s) = net.established();
        let mut drops = drop_every(31, Side::Server);
        let mut more = drop_every(41, Side::Client);
        net.drop = Some(Box::new(move |s: &Seg| drops(s) || more(s)));
        net.capp.to_send = up.clone().into();
        net.sapp.to_send = down.clone().into();
        net.capp.close_when_sent = Some(false);
        net.sapp.close_when_sent = Some(true);
    });
    assert_eq!(gso.sapp.received, up);
    assert_eq!(gso.capp.received, down);
    assert!(gso.super_segments > 0);
});

/// The cut segments carry PSH where the one-by-one ones do, and a packet of
/// several never carries the FIN (its segment goes alone).
#[test]
fn psh_and_fin_sit_where_they_would() {
    let gso = same_both_ways(Family::V4, |net| {
        let (c, _s) = net.established();
        let now = net.now;
        for k in 1..=20usize {
            net.client
                .send(now, c, &pattern(k * 700 + 17, k as u8))
                .unwrap();
        }
        net.client.close(now, c).unwrap();
        net.sapp.close_when_sent = Some(false);
    });
    assert!(gso.super_segments > 0);
}

/// Data that ends on a whole number of segments with the FIN queued: the
/// last segment carries the FIN, so it leaves alone, after a packet of
/// the others (tcp_gso_segment() would put a FIN on the last segment cut).
#[test]
fn a_fin_after_whole_segments_goes_with_the_last_one_alone() {
    for f in [Family::V4, Family::V6] {
        for n in [2usize, 3, 10, 45, 46, 100] {
            let gso = same_both_ways(f, |net| {
                let (c, _s) = net.established();
                let mss = net.client.info(c).unwrap().snd_mss as usize;
                net.capp.to_send = pattern(n * mss, n as u8).into();
                net.capp.close_when_sent = Some(true);
                net.sapp.close_when_sent = Some(false);
            });
            let sent = gso.sent_by(Side::Client);
            let fin: Vec<_> = sent.iter().filter(|s| s.has(TcpFlags::FIN)).collect();
            assert_eq!(fin.len(), 1, "{f:?} {n}");
            // Two segments with the FIN: the first goes alone too.
            assert_eq!(gso.super_segments > 0, n > 2, "{f:?} {n}");
        }
    }
}

/// The RFC profile has no GSO packets to follow: it sends one segment at
/// a time whatever it is offered.
#[test]
fn the_rfc_profile_sends_single_segments() {
    let mut net = Net::with_configs(Family::V4, Config::rfc9293(), Config::rfc9293());
    net.tso = 45;
    net.established();
    net.capp.to_send = pattern(500_000, 5).into();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.sapp.received.len(), 500_000);
    assert_eq!(net.super_segments, 0);
}

mod random {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random writes both ways, MTUs, receive buffers, Nagle, latency and
        /// losses: with packets of several segments the wire is the same as
        /// one segment at a time.
        #[test]
        fn the_wire_is_the_same_as_one_by_one(
            v6 in any::<bool>(),
            up in prop::collection::vec(1usize..70_000, 1..12),
            down in prop::collection::vec(1usize..20_000, 0..4),
            mtu in prop_oneof![Just(1500u16), 576u16..9000],
            rcvbuf in prop_oneof![Just(None), (2048usize..300_000).prop_map(Some)],
            nodelay in any::<bool>(),
            latency_ms in 1u64..30,
            drop_nth in prop_oneof![Just(0u32), 3u32..60],
        ) {
            let f = if v6 { Family::V6 } else { Family::V4 };
            let cfg = || {
                let mut c = Config::linux();
                c.mtu = mtu;
                if let Some(b) = rcvbuf {
                    c.recv_buffer = b;
                    c.recv_buffer_max = b;
                }
                c
            };
            let up_data: Vec<Vec<u8>> =
                up.iter().enumerate().map(|(i, &n)| pattern(n, i as u8)).collect();
            let down_data: Vec<Vec<u8>> =
                down.iter().enumerate().map(|(i, &n)| pattern(n, 100 + i as u8)).collect();
            let run = |tso: u16| {
                let mut net = Net::with_configs(f, cfg(), cfg());
                net.tso = tso;
                net.latency = Duration::from_millis(latency_ms);
                let (c, s) = net.established();
                if drop_nth > 0 {
                    let mut a = drop_every(drop_nth, Side::Client);
                    let mut b = drop_every(drop_nth + 3, Side::Server);
                    net.drop = Some(Box::new(move |s: &Seg| a(s) || b(s)));
                }
                net.client.set_nodelay(c, nodelay).unwrap();
                let now = net.now;
                for (side, conn, data) in [(Side::Client, c, &up_data), (Side::Server, s, &down_data)] {
                    for chunk in data.iter() {
                        let queued = net.app(side).to_send.is_empty();
                        let took = if queued { net.ep(side).send(now, conn, chunk).unwrap_or(0) } else { 0 };
                        net.app(side).to_send.extend(&chunk[took..]);
                    }
                    net.app(side).close_when_sent = Some(false);
                }
                net.run_to_quiet();
                net
            };
            let (gso, d) = with_and_without_tso(run);
            prop_assert!(d.is_none(), "{}", d.unwrap_or_default());
            prop_assert_eq!(gso.sapp.received.len(), up.iter().sum::<usize>());
            prop_assert_eq!(gso.capp.received.len(), down.iter().sum::<usize>());
            // A large transfer with room for it leaves partly in packets of
            // several segments.
            if up.iter().sum::<usize>() > 200_000 && rcvbuf.is_none() && mtu >= 1000 {
                prop_assert!(gso.super_segments > 0);
            }
        }

        /// The same with the rest of the engine's knobs that touch output:
        /// pacing under fq, TSO deferral, ECN asked for (and CE marks on the
        /// way), path MTU probing,
        /// NewReno, small send buffers, MSG_MORE, MSG_EOR and urgent writes.
        #[test]
        fn the_wire_is_the_same_with_every_output_knob(
            v6 in any::<bool>(),
            writes in prop::collection::vec((1usize..40_000, 0u8..8), 1..10),
            pacing in any::<bool>(),
            tso_defer in any::<bool>(),
            ecn in any::<bool>(),
            probing in any::<bool>(),
            newreno in any::<bool>(),
            sndbuf in prop_oneof![Just(None), (4096usize..120_000).prop_map(Some)],
            drop_nth in prop_oneof![Just(0u32), 3u32..60],
            ce_nth in prop_oneof![Just(0u32), 3u32..40],
        ) {
            use finack_core::{CongestionAlgorithm, EcnMode, MtuProbing, Pacing, SendFlags};
            let f = if v6 { Family::V6 } else { Family::V4 };
            let cfg = || {
                let mut c = Config::linux();
                if pacing {
                    c.pacing = Pacing::Fq;
                }
                c.tso_defer = tso_defer;
                if ecn {
                    c.ecn = EcnMode::On;
                }
                if probing {
                    c.mtu_probing = MtuProbing::Always;
                }
                if newreno {
                    c.congestion = CongestionAlgorithm::NewReno;
                }
                if let Some(b) = sndbuf {
                    c.send_buffer = b;
                    c.send_buffer_max = b;
                }
                c
            };
            let run = |tso: u16| {
                let mut net = Net::with_configs(f, cfg(), cfg());
                net.tso = tso;
                let (c, _s) = net.established();
                if drop_nth > 0 {
                    net.drop = Some(drop_every(drop_nth, Side::Client));
                }
                if ce_nth > 0 {
                    // A congested router marks some of the data.
                    net.mark_ce = Some(Box::new(move |s: &Seg| {
                        s.len > 0 && (s.seq.0 / 1000) % ce_nth == 1
                    }));
                }
                // Each write as the application made it; what the buffer
                // did not take waits behind it.
                for (i, &(len, how)) in writes.iter().enumerate() {
                    let data = pattern(len, i as u8);
                    let flags = SendFlags {
                        more: how == 1,
                        eor: how == 2,
                        oob: how == 3,
                    };
                    let now = net.now;
                    let took = if net.capp.to_send.is_empty() {
                        net.client.send_with(now, c, &data, flags).unwrap_or(0)
                    } else {
                        0
                    };
                    net.capp.to_send.extend(&data[took..]);
                    net.run_for(Duration::from_millis(3));
                }
                net.capp.close_when_sent = Some(true);
                net.sapp.close_when_sent = Some(false);
                net.run_to_quiet();
                net
            };
            let (_, d) = with_and_without_tso(run);
            prop_assert!(d.is_none(), "{}", d.unwrap_or_default());
        }
    }
}

/// ECN with CE marks on the way: the receiver echoes ECE, the sender
/// reduces and sends CWR, the same with packets of several segments.
#[test]
fn ecn_marks_echoes_and_cwr_stay_the_same() {
    let mut cfg = Config::linux();
    cfg.ecn = finack_core::EcnMode::On;
    let data = pattern(1 << 20, 9);
    let gso = same_both_ways_with(Family::V4, cfg, |net| {
        let (_c, _s) = net.established();
        net.mark_ce = Some(Box::new(|s: &Seg| s.len > 0 && (s.seq.0 / 1000) % 50 == 1));
        net.capp.to_send = data.clone().into();
        net.capp.close_when_sent = Some(true);
        net.sapp.close_when_sent = Some(false);
    });
    assert!(gso.sapp.received == data);
    let ece = gso
        .sent_by(Side::Server)
        .iter()
        .filter(|s| s.has(TcpFlags::ECE))
        .count();
    let cwr = gso
        .sent_by(Side::Client)
        .iter()
        .filter(|s| s.has(TcpFlags::CWR))
        .count();
    assert!(ece > 0 && cwr > 0, "ECE {ece}, CWR {cwr}");
    assert!(gso.super_segments > 0);
}
