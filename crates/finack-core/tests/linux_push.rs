//! How `Config::linux()` divides queued data into segments and where it sets
//! PSH, as Linux's `tcp_sendmsg` / `tcp_push` / `tcp_write_xmit` do: a write
//! ends with a push, a write joins the previous one while that one is unsent,
//! MSG_EOR keeps records apart, MSG_MORE and TCP_CORK hold a partial segment,
//! Nagle follows Minshall's variant, slow start grows by what was delivered.

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::{Config, SendFlags};

/// Data segments the client sent after the handshake: (length, PSH).
fn data_segs(net: &Net) -> Vec<(usize, bool)> {
    net.sent_by(Side::Client)
        .into_iter()
        .filter(|s| s.len > 0)
        .map(|s| (s.len, s.has(TcpFlags::PSH)))
        .collect()
}

fn sent_now(net: &mut Net) -> Vec<(usize, bool)> {
    let before = data_segs(net).len();
    net.flush();
    data_segs(net)[before..].to_vec()
}

dual!(
    a_write_that_joins_an_unsent_one_moves_the_push_to_its_own_end,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let now = net.now;
        // Two writes before anything goes out: Linux appends the second to
        // the first's skb (tcp_skb_can_collapse_to) and clears its PSH, so
        // only the segment carrying the last byte of the second has PSH.
        net.client.send(now, c, &[1u8; 1000]).unwrap();
        net.client.send(now, c, &[2u8; 500]).unwrap();
        let segs = sent_now(&mut net);
        assert_eq!(segs.iter().map(|s| s.0).sum::<usize>(), 1500, "{segs:?}");
        assert_eq!(
            segs.iter().filter(|s| s.1).count(),
            1,
            "one push, at the end: {segs:?}"
        );
        assert!(segs.last().unwrap().1, "{segs:?}");
    }
);

dual!(
    msg_eor_keeps_records_in_segments_of_their_own,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        // Nagle would hold the third write behind the two short records.
        net.client.set_nodelay(c, true).unwrap();
        let now = net.now;
        let eor = SendFlags {
            eor: true,
            ..SendFlags::default()
        };
        net.client.send_with(now, c, &[1u8; 400], eor).unwrap();
        net.client.send_with(now, c, &[2u8; 400], eor).unwrap();
        net.client.send(now, c, &[3u8; 300]).unwrap();
        let segs = sent_now(&mut net);
        // Without MSG_EOR the three writes would share one 1100-byte segment.
        assert_eq!(segs, vec![(400, true), (400, true), (300, true)]);
    }
);

dual!(
    msg_more_holds_a_short_write_and_sends_no_push,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.client.set_nodelay(c, true).unwrap();
        let now = net.now;
        let more = SendFlags {
            more: true,
            ..SendFlags::default()
        };
        net.client.send_with(now, c, &[1u8; 40], more).unwrap();
        assert!(sent_now(&mut net).is_empty(), "MSG_MORE corks the push");
        net.client.send_with(now, c, &[2u8; 60], more).unwrap();
        assert!(sent_now(&mut net).is_empty());
        // A write without MSG_MORE pushes all of it, PSH at its end.
        net.client.send(now, c, &[3u8; 5]).unwrap();
        assert_eq!(sent_now(&mut net), vec![(105, true)]);
    }
);

dual!(
    data_held_by_msg_more_goes_with_the_persist_timer_and_psh,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.client.set_nodelay(c, true).unwrap();
        let start = net.now;
        let more = SendFlags {
            more: true,
            ..SendFlags::default()
        };
        net.client.send_with(start, c, &[1u8; 40], more).unwrap();
        net.run_for(Duration::from_secs(1));
        let segs = net.sent_by(Side::Client);
        let seg = segs.iter().find(|s| s.len > 0).expect("sent at last");
        // Linux tcp_write_wakeup(): the probe timer sends it, with PSH.
        assert_eq!(seg.len, 40);
        assert!(seg.has(TcpFlags::PSH));
        assert!(
            seg.time - start >= Duration::from_millis(200),
            "{:?}",
            seg.time
        );
    }
);

dual!(a_cork_holds_writes_until_it_is_removed, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.client.set_cork(c, true).unwrap();
    let now = net.now;
    net.client.send(now, c, &[1u8; 40]).unwrap();
    assert!(sent_now(&mut net).is_empty(), "corked");
    net.client.send(now, c, &[2u8; 40]).unwrap();
    assert!(sent_now(&mut net).is_empty(), "still corked");
    net.client.set_cork(c, false).unwrap();
    assert_eq!(sent_now(&mut net), vec![(80, true)]);
});

dual!(
    minshall_nagle_holds_a_short_segment_only_behind_another_short_one,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = net.client.info(c).unwrap().snd_mss as usize;
        let now = net.now;
        // A full segment and a short one go at once (nothing short was out).
        net.client.send(now, c, &vec![1u8; mss + 100]).unwrap();
        assert_eq!(
            sent_now(&mut net).iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![mss, 100]
        );
        // Another short write waits: a short segment is unacknowledged.
        net.client.send(now, c, &[2u8; 10]).unwrap();
        assert!(sent_now(&mut net).is_empty(), "Nagle holds it");
        // Once that is acknowledged it goes.
        net.run_until(Duration::from_secs(1), |n| {
            n.sent_by(Side::Client).iter().any(|s| s.len == 10)
        });
        assert!(net.sent_by(Side::Client).iter().any(|s| s.len == 10));
    }
);

dual!(
    linux_slow_start_grows_by_every_segment_acknowledged,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = net.client.info(c).unwrap().snd_mss as u32;
        let cwnd0 = net.client.info(c).unwrap().cwnd;
        assert_eq!(cwnd0, 10 * mss);
        // The server acknowledges the initial window; Linux's tcp_slow_start()
        // adds every segment acknowledged (RFC 5681 would add one per ACK).
        let now = net.now;
        net.client
            .send(now, c, &vec![0u8; 10 * mss as usize])
            .unwrap();
        net.run_until(Duration::from_secs(2), |n| {
            n.client.info(c).unwrap().bytes_acked >= u64::from(10 * mss)
        });
        assert_eq!(net.client.info(c).unwrap().cwnd, 20 * mss);
    }
);

dual!(
    an_application_limited_sender_stops_growing_its_window,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = net.client.info(c).unwrap().snd_mss as u32;
        // Six segments in flight with a window of ten: Linux's
        // tcp_is_cwnd_limited() lets slow start grow the window only to
        // twice the most segments outstanding (12), not with every ACK.
        let now = net.now;
        net.client
            .send(now, c, &vec![0u8; 6 * mss as usize])
            .unwrap();
        net.run_until(Duration::from_secs(2), |n| {
            n.client.info(c).unwrap().bytes_acked >= u64::from(6 * mss)
        });
        assert_eq!(net.client.info(c).unwrap().cwnd, 12 * mss);
        // The RFC 5681 profile grows by one segment per ACK regardless.
        let mut rfc = Net::with_configs(f, Config::rfc9293(), Config::rfc9293());
        let (c, _s) = rfc.established();
        let mss = rfc.client.info(c).unwrap().snd_mss as u32;
        let cwnd0 = rfc.client.info(c).unwrap().cwnd;
        let now = rfc.now;
        rfc.client.send(now, c, &vec![0u8; mss as usize]).unwrap();
        rfc.run_until(Duration::from_secs(5), |n| {
            n.client.info(c).unwrap().bytes_acked >= u64::from(mss)
        });
        assert_eq!(rfc.client.info(c).unwrap().cwnd, cwnd0 + mss);
    }
);

dual!(
    sending_after_idle_restarts_the_window_as_configured,
    |f: Family| {
        use finack_core::IdleRestart;
        for (how, want_segs) in [
            // Linux halves once per RTO of idleness, never below min(IW, cwnd).
            (IdleRestart::Linux, 10),
            (IdleRestart::Rfc5681, 10),
            (IdleRestart::Keep, 20),
        ] {
            let cfg = Config {
                idle_restart: how,
                ..Config::linux()
            };
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, _s) = net.established();
            let mss = net.client.info(c).unwrap().snd_mss as u32;
            let now = net.now;
            net.client
                .send(now, c, &vec![0u8; 10 * mss as usize])
                .unwrap();
            net.run_until(Duration::from_secs(2), |n| {
                n.client.info(c).unwrap().bytes_acked >= u64::from(10 * mss)
            });
            assert_eq!(net.client.info(c).unwrap().cwnd, 20 * mss, "{how:?}");
            // Ten seconds of silence, far beyond the RTO; then a write.
            net.run_for(Duration::from_secs(10));
            let now = net.now;
            net.client.send(now, c, &[1u8; 100]).unwrap();
            assert_eq!(net.client.info(c).unwrap().cwnd, want_segs * mss, "{how:?}");
        }
    }
);

dual!(
    linux_probes_a_shut_window_with_a_bare_ack_below_snd_una,
    |f: Family| {
        let ccfg = Config {
            recv_buffer: 4000,
            window_scaling: false,
            ..Config::linux()
        };
        for (scfg, data_probe) in [(Config::linux(), false), (Config::rfc9293(), true)] {
            let mut net = Net::with_configs(f, ccfg.clone(), scfg);
            let (c, s) = net.established();
            net.capp.read = false;
            net.sapp.to_send = vec![7u8; 20_000].into_iter().collect();
            assert!(net.run_until(Duration::from_secs(2), |n| {
                n.server.info(s).unwrap().snd_wnd == 0 && n.client.info(c).unwrap().readable > 0
            }));
            let una = net.server.info(s).unwrap().bytes_acked;
            let mark = net.log.len();
            net.run_for(Duration::from_secs(3));
            let probes: Vec<&Seg> = net.log[mark..]
                .iter()
                .filter(|x| x.from == Side::Server)
                .collect();
            assert!(probes.len() >= 2, "{}", net.trace());
            for p in probes {
                if data_probe {
                    assert_eq!(p.len, 1, "RFC 9293 §3.8.6.1: one octet");
                } else {
                    assert_eq!(p.len, 0, "tcp_xmit_probe_skb: no data");
                }
            }
            assert_eq!(net.server.info(s).unwrap().bytes_acked, una);
        }
    }
);

dual!(
    prr_steps_the_window_down_to_ssthresh_during_recovery,
    |f: Family| {
        // One segment lost in a bulk transfer with SACK: RFC 6937 (Linux
        // tcp_cwnd_reduction()) sets cwnd to pipe plus what each ACK lets out,
        // so it is not pinned at ssthresh during recovery (RFC 6675 §5 would),
        // and it is ssthresh once recovery ends (tcp_end_cwnd_reduction()).
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let isn = net.log[0].seq;
        let mut done = false;
        net.drop = Some(Box::new(move |seg: &Seg| {
            let rel = (seg.seq - (isn + 1)) as usize;
            let hit = !done && seg.from == Side::Client && seg.len > 0 && rel >= 30_000;
            done |= hit;
            hit
        }));
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        net.capp.to_send = data.iter().copied().collect();
        let mut during = Vec::new();
        let mut after = None;
        net.run_until(Duration::from_secs(30), |n| {
            let i = n.client.info(c).unwrap();
            if i.in_recovery {
                during.push((i.cwnd, i.ssthresh));
            } else if !during.is_empty() && after.is_none() {
                after = Some((i.cwnd, i.ssthresh));
            }
            n.sapp.received.len() == data.len()
        });
        assert!(net.sapp.received == data, "data intact");
        assert!(!during.is_empty());
        assert!(during.iter().any(|w| w.0 != w.1), "{during:?}");
        // From ssthresh on (congestion avoidance may add a little with the
        // ACKs of the same step).
        let (cwnd, ssthresh) = after.expect("recovery ended");
        let mss = net.client.info(c).unwrap().snd_mss as u32;
        assert!(
            cwnd >= ssthresh && cwnd < ssthresh + mss,
            "{cwnd} vs {ssthresh}"
        );
    }
);

dual!(
    linux_announces_a_window_opened_by_reads_as_tcp_cleanup_rbuf,
    |f: Family| {
        // (receiver config, bytes the peer sends, bytes read, ACK expected)
        // The byte-counted window (`rcv_memory` off): a read of part of a
        // segment frees no memory under Linux's model.
        let linux = Config {
            recv_buffer: 8000,
            window_scaling: false,
            rcv_memory: false,
            ..Config::linux()
        };
        let rfc = Config {
            linux_window_update: false,
            ..linux.clone()
        };
        for (cfg, sent, read, want) in [
            // Most of the window still open: a read changes nothing.
            (linux.clone(), 2000, 2000, false),
            // At most half still open and the read doubles it: announce.
            (linux.clone(), 7000, 1000, true),
            // RFC 9293 §3.8.6.2.2: the right edge moves by an MSS: announce.
            (rfc, 2000, 2000, true),
        ] {
            let mut net = Net::with_configs(f, cfg, Config::linux());
            let (c, _s) = net.established();
            net.capp.read = false;
            net.sapp.to_send = vec![9u8; sent].into_iter().collect();
            assert!(net.run_until(Duration::from_secs(2), |n| {
                n.client.info(c).unwrap().readable as usize == sent
            }));
            net.run_for(Duration::from_millis(500));
            let mark = net.log.len();
            let now = net.now;
            let mut buf = vec![0u8; read];
            assert_eq!(net.client.recv(now, c, &mut buf).unwrap(), read);
            net.flush();
            let acks = net.log[mark..]
                .iter()
                .filter(|x| x.from == Side::Client)
                .count();
            assert_eq!(acks > 0, want, "sent {sent} read {read}\n{}", net.trace());
        }
    }
);

/// Linux resends an skb of its retransmission queue as one GSO packet, and
/// __tcp_transmit_skb() sets PSH on a GSO packet of more than one segment
/// (left on its last segment once cut up). The skbs are the GSO packets
/// the data first left in, as later cut: an ACK trims one from its head,
/// a SACK cuts the SACKed part out (tcp_match_skb_to_sack() ->
/// tcp_fragment(), which leaves PSH on the second part only). So after
/// losses, a hole that is still a whole two-segment packet is resent with
/// PSH, and what ACKs and SACKs cut down to a segment is resent without
/// (packetdrill's sack-route-refresh-ip-tos.pkt on Linux).
#[test]
fn a_lost_gso_packet_is_resent_whole_with_psh_and_a_cut_one_without() {
    use common::peer::{Rig, MSS};
    use finack_core::wire::Ecn;
    let mss = u32::from(MSS);
    let mut rig = Rig::new(Config::linux());
    rig.sack_ok = true;
    rig.accept(TcpFlags::empty(), Ecn::NotEct);
    let ack = |rig: &mut Rig, upto: u32, sack: &[(u32, u32)]| {
        rig.now += Duration::from_millis(10);
        rig.send_sack(Ecn::NotEct, TcpFlags::ACK, 1, upto, &[], sack)
    };
    // Two rounds to measure the path, with nothing lost.
    rig.write(4 * mss as usize);
    ack(&mut rig, 1 + 4 * mss, &[]);
    rig.write(4 * mss as usize);
    ack(&mut rig, 1 + 8 * mss, &[]);
    // Ten segments, from 8 * mss + 1 on, leave in GSO packets of two
    // (tcp_tso_autosize(): at least tcp_min_tso_segs at this rate).
    let base = 1 + 8 * mss;
    let sent = rig.write(10 * mss as usize);
    assert_eq!(sent.iter().map(|o| o.len).sum::<usize>(), 10 * MSS as usize);
    // The first segment is acknowledged, the fourth and the last four are
    // SACKed: segments 1, 2, 4 and 5 are lost (RACK). Of the first packet
    // (0, 1) the ACK leaves segment 1; of (2, 3) the SACK leaves 2; (4, 5)
    // is whole.
    let seg = |i: u32| base + i * mss;
    let out = ack(&mut rig, seg(1), &[(seg(3), seg(4)), (seg(6), seg(10))]);
    let resent: Vec<(u32, usize, bool)> = out
        .iter()
        .filter(|o| o.len > 0)
        .map(|o| {
            let rel = o.seq.wrapping_sub(rig.iss);
            ((rel - base) / mss, o.len, o.flags.contains(TcpFlags::PSH))
        })
        .collect();
    assert_eq!(
        resent,
        vec![
            (1, MSS as usize, false),
            (2, MSS as usize, false),
            (4, MSS as usize, false),
            (5, MSS as usize, true),
        ]
    );
}
