//! Packetization-layer path MTU discovery (RFC 4821) in `Config::linux()`
//! with `mtu_probing` on, and route MTU changes while a connection runs, as
//! Linux's tcp_mtu_probe(), tcp_mtup_probe_success() and tcp_sync_mss() do.

mod common;
use common::*;

use std::time::Duration;

use finack_core::{Config, InitialWindow, MtuProbing};

fn probing(mtu: u16) -> Config {
    let mut cfg = Config::linux();
    cfg.mtu = mtu;
    cfg.mtu_probing = MtuProbing::Always;
    cfg.base_mss = 512;
    cfg.initial_window = InitialWindow::Segments(11);
    cfg
}

/// The IPv6 header's 20 bytes over IPv4's.
fn extra(f: Family) -> u16 {
    match f {
        Family::V4 => 0,
        Family::V6 => 20,
    }
}

/// Data segment lengths the server sent from `mark` on.
fn server_data(net: &Net, mark: usize) -> Vec<usize> {
    net.log[mark..]
        .iter()
        .filter(|s| s.from == Side::Server && s.len > 0)
        .map(|s| s.len)
        .collect()
}

dual!(
    a_probe_finds_the_larger_mtu_of_a_changed_route,
    |f: Family| {
        // The server's route starts at a small MTU and grows after the
        // handshake; the client advertises a full-size MSS.
        let mut net = Net::with_configs(f, Config::linux(), probing(640 + extra(f)));
        let (_c, s) = net.established();
        let mss = net.server.info(s).unwrap().snd_mss;
        assert!(mss < 640, "segments sized from the route's MTU: {mss}");
        let now = net.now;
        net.server.set_route_mtu(now, s, 1500 + extra(f)).unwrap();

        let mark = net.log.len();
        net.server.send(net.now, s, &pattern(4000, 1)).unwrap();
        net.flush();
        let first = server_data(&net, mark);
        // One probe between search_low (base_mss) and search_high (the peer's
        // MSS), then the rest at the size in use.
        let probe = first[0];
        assert!(probe > usize::from(mss) && probe < 1460, "{first:?}");
        assert!(
            first[1..first.len() - 1]
                .iter()
                .all(|&l| l == usize::from(mss)),
            "{first:?}"
        );
        net.run_until(Duration::from_secs(5), |n| {
            n.server.info(s).unwrap().unacked_segments == 0
        });
        assert_eq!(net.capp.received, pattern(4000, 1));

        // The probe was acknowledged: the next write's segments have its size.
        let mark = net.log.len();
        net.server.send(net.now, s, &pattern(2000, 2)).unwrap();
        net.flush();
        assert_eq!(usize::from(net.server.info(s).unwrap().snd_mss), probe);
        let second = server_data(&net, mark);
        assert_eq!(second[0], probe, "{second:?}");
    }
);

dual!(
    without_probing_a_route_change_resizes_segments,
    |f: Family| {
        let mut scfg = Config::linux();
        scfg.mtu = 640 + extra(f);
        let mut net = Net::with_configs(f, Config::linux(), scfg);
        let (_c, s) = net.established();
        let small = net.server.info(s).unwrap().snd_mss;
        let now = net.now;
        net.server.set_route_mtu(now, s, 1500 + extra(f)).unwrap();
        // The first packet after the change still has the old size (the route
        // is checked again as it leaves), later ones the new.
        let mark = net.log.len();
        net.server.send(net.now, s, &pattern(1000, 3)).unwrap();
        net.flush();
        assert_eq!(server_data(&net, mark)[0], usize::from(small));
        net.run_until(Duration::from_secs(5), |n| {
            n.server.info(s).unwrap().unacked_segments == 0
        });
        let mark = net.log.len();
        net.server.send(net.now, s, &pattern(3000, 4)).unwrap();
        net.flush();
        let big = net.server.info(s).unwrap().snd_mss;
        assert!(big > small, "{small} -> {big}");
        assert_eq!(server_data(&net, mark)[0], usize::from(big));
    }
);

#[test]
fn an_active_opener_that_probes_starts_from_base_mss() {
    // Linux tcp_connect_init(): probing is on before the SYN, so the
    // segment size is held to tcp_base_mss until a probe succeeds.
    let net_cfg = probing(1500);
    let mut net = Net::with_configs(Family::V4, net_cfg, Config::linux());
    let (c, _s) = net.established();
    assert_eq!(net.client.info(c).unwrap().snd_mss, 512);
}

dual!(
    repeated_timeouts_turn_on_probing_past_a_black_hole,
    |f: Family| {
        // A path that silently drops anything larger than 600 bytes and sends
        // no ICMP: after tcp_retries1 timeouts in a row Linux suspects a black
        // hole and falls back to tcp_base_mss (tcp_timer.c: tcp_mtu_probing()).
        let mut scfg = Config::linux();
        scfg.mtu_probing = MtuProbing::AfterBlackHole;
        scfg.base_mss = 512;
        let mut net = Net::with_configs(f, Config::linux(), scfg);
        let (_c, s) = net.established();
        assert!(net.server.info(s).unwrap().snd_mss > 600);
        net.drop = Some(Box::new(|seg: &Seg| {
            seg.from == Side::Server && seg.len > 600
        }));
        net.server.send(net.now, s, &pattern(3000, 5)).unwrap();
        net.run_until(Duration::from_secs(60), |n| n.capp.received.len() == 3000);
        assert_eq!(net.capp.received, pattern(3000, 5));
        assert_eq!(net.server.info(s).unwrap().snd_mss, 512);

        // Without probing the connection never gets through.
        let mut net = Net::new(f);
        let (_c, s) = net.established();
        net.drop = Some(Box::new(|seg: &Seg| {
            seg.from == Side::Server && seg.len > 600
        }));
        net.server.send(net.now, s, &pattern(3000, 5)).unwrap();
        net.run_until(Duration::from_secs(60), |n| n.capp.received.len() == 3000);
        assert!(net.capp.received.is_empty());
    }
);

/// IP_MTU_DISCOVER = IP_PMTUDISC_DONT (`Endpoint::set_path_mtu_discovery`
/// off): IPv4 packets leave without DF and with an identification, and a
/// "fragmentation needed" about them leaves the segment size alone (Linux
/// tcp_v4_mtu_reduced()); with discovery on (the default) DF is set and the
/// same message lowers it.
#[test]
fn ip_pmtudisc_dont_clears_df_and_keeps_the_segment_size() {
    for on in [false, true] {
        let mut net = Net::new(Family::V4);
        let (c, _s) = net.established();
        net.client.set_path_mtu_discovery(c, on).unwrap();
        let mss = net.client.info(c).unwrap().snd_mss;
        net.client.send(net.now, c, &pattern(3000, 1)).unwrap();
        let mut buf = vec![0u8; 70_000];
        let n = net
            .client
            .poll_transmit(net.now, &mut buf)
            .expect("a segment");
        let pkt = buf[..n].to_vec();
        let ip = finack_core::wire::Ipv4Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(ip.dont_frag(), on, "DF");
        assert!(ip.verify_checksum());
        if !on {
            assert_ne!(
                ip.ident(),
                0,
                "a datagram that may be fragmented is numbered"
            );
        }
        let mut icmp = vec![0u8; 2000];
        let k = finack_core::wire::icmp::emit_icmp_error(
            finack_core::wire::icmp::IcmpKind::PacketTooBig { mtu: 1000 },
            "198.51.100.1".parse().unwrap(),
            &pkt,
            &mut icmp,
        )
        .unwrap();
        let now = net.now;
        net.client.handle_packet(now, &icmp[..k]).unwrap();
        let after = net.client.info(c).unwrap().snd_mss;
        if on {
            assert!(after < mss, "{after} < {mss}");
        } else {
            assert_eq!(after, mss);
        }
    }
}
