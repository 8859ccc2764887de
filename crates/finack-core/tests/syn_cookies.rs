//! SYN cookies (RFC 4987 §3.6) that keep window scaling, SACK and ECN in the
//! SYN,ACK's timestamp, as Linux does (`net/ipv4/syncookies.c`): between two
//! finack endpoints, and against a hand-played peer for the cases a real peer
//! would not produce (forged or missing timestamp echoes). Each test runs on
//! IPv4 and IPv6. The basic cookie (no timestamps, forged ISS, lifetime) is
//! tested in `rfc_rules.rs`.

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::{Ecn, SeqNumber, TcpFlags, TcpOptions, Timestamps};
use finack_core::{Config, ConnId, EcnMode, State};

/// The port of a handshake the server's SYN queue holds and that never
/// completes (the server's answers to it are lost).
const BUSY_PORT: u16 = 4001;
const CLIENT_PORT: u16 = 40000;

/// A server listening on port 80 with a backlog of 1, whose SYN queue is
/// already full: the next SYN is answered with a cookie.
fn busy_server(f: Family, ccfg: Config, scfg: Config) -> Net {
    let mut net = Net::with_configs(f, ccfg, scfg);
    net.drop = Some(Box::new(|s: &Seg| {
        s.from == Side::Server && s.dst.port() == BUSY_PORT
    }));
    // Backlog 0: one half-open handshake fills the SYN queue (Linux holds
    // one more than the backlog).
    let l = net.server.listen(f.server(80), 0).unwrap();
    net.sapp.listener = Some(l);
    net.sapp.read = true;
    net.capp.read = true;
    net.inject(
        Side::Server,
        f.client(BUSY_PORT),
        f.server(80),
        SeqNumber(1000),
        SeqNumber(0),
        TcpFlags::SYN,
        mss_only(),
        &[],
    );
    assert_eq!(net.server.connection_count(), 1);
    net
}

fn mss_only() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    }
}

/// The client connects to the busy server: the connection is opened from a
/// cookie. Returns both ends and the cookie SYN,ACK.
fn cookie_connect(net: &mut Net) -> (ConnId, ConnId, Seg) {
    let f = net.family;
    let c = net
        .client
        .connect(net.now, f.client(CLIENT_PORT), f.server(80))
        .unwrap();
    net.capp.conn = Some(c);
    let opened = net.run_until(Duration::from_secs(5), |n| n.sapp.conn.is_some());
    assert!(opened, "{}", net.trace());
    let st = net.server.stats();
    assert_eq!((st.syn_cookies_sent, st.syn_cookies_accepted), (1, 1));
    let synack = net
        .log
        .iter()
        .find(|s| s.from == Side::Server && s.dst.port() == CLIENT_PORT)
        .cloned()
        .unwrap();
    assert!(synack.has(TcpFlags::SYN | TcpFlags::ACK) && !synack.has(TcpFlags::RST));
    let s = net.sapp.conn.unwrap();
    assert_eq!(net.server.state(s), State::Established);
    assert_eq!(net.client.state(c), State::Established);
    (c, s, synack)
}

/// The server's segments to the cookie connection's client (SYN,ACK first).
fn server_segs(net: &Net) -> Vec<&Seg> {
    net.sent_by(Side::Server)
        .into_iter()
        .filter(|s| s.dst.port() == CLIENT_PORT)
        .collect()
}

dual!(
    a_cookie_connection_keeps_window_scaling_sack_and_timestamps,
    |f: Family| {
        let cfg = Config::linux();
        let shift = cfg.window_scale;
        assert!(shift > 0);
        let mut net = busy_server(f, cfg.clone(), cfg.clone());
        let (c, s, synack) = cookie_connect(&mut net);
        // The cookie SYN,ACK answers the SYN as a normal SYN,ACK would.
        let o = &synack.options;
        assert_eq!(o.window_scale, Some(shift));
        assert!(o.sack_permitted);
        assert!(o.timestamps.is_some());
        for info in [net.server.info(s).unwrap(), net.client.info(c).unwrap()] {
            assert!(info.sack && info.timestamps, "{info:?}");
            assert_eq!((info.snd_wscale, info.rcv_wscale), (shift, shift));
            // The MSS leaves room for the timestamp option.
            assert_eq!(info.snd_mss, info.peer_mss - 12);
        }

        // A megabyte each way, one server segment lost: the windows go past
        // 64 KiB (so scaling is used in both directions), the client's ACKs
        // carry SACK blocks for the hole, and every segment has timestamps.
        let down = pattern(1 << 20, 1);
        let up = pattern(1 << 20, 2);
        net.sapp.to_send.extend(&down);
        net.capp.to_send.extend(&up);
        let mut lost = false;
        let first_data = synack.seq + 1 + 40_000;
        net.drop = Some(Box::new(move |seg: &Seg| {
            if seg.from == Side::Server && seg.dst.port() == BUSY_PORT {
                return true;
            }
            if !lost && seg.from == Side::Server && seg.len > 0 && seg.seq.ge(first_data) {
                lost = true;
                return true;
            }
            false
        }));
        let (mut client_wnd, mut server_wnd) = (0, 0);
        let done = net.run_until(Duration::from_secs(60), |n| {
            client_wnd = client_wnd.max(n.client.info(c).unwrap().snd_wnd);
            server_wnd = server_wnd.max(n.server.info(s).unwrap().snd_wnd);
            n.capp.received.len() == down.len() && n.sapp.received.len() == up.len()
        });
        assert!(done, "{}", net.trace());
        assert!(net.capp.received == down && net.sapp.received == up);
        assert!(
            client_wnd > 65535 && server_wnd > 65535,
            "{client_wnd} {server_wnd}"
        );
        assert!(net
            .sent_by(Side::Client)
            .iter()
            .any(|seg| !seg.options.sack_blocks.is_empty()));
        assert!(net.server.info(s).unwrap().total_retransmits >= 1);
        // The server's TSvals start at the cookie's and never go back.
        let segs = server_segs(&net);
        let mut prev = synack.options.timestamps.unwrap().tsval;
        for seg in &segs[1..] {
            let ts = seg
                .options
                .timestamps
                .expect("every segment has timestamps");
            assert!(ts.tsval.wrapping_sub(prev) as i32 >= 0, "{prev} {ts:?}");
            prev = ts.tsval;
        }
    }
);

dual!(
    the_cookie_timestamp_carries_the_options_in_its_low_bits,
    |f: Family| {
        // Without the per-connection offset the TSval is the raw clock, so
        // the bits can be read off the wire: the client's shift in bits 0-3,
        // SACK in bit 4, and the value at most 63 ms behind the clock.
        let scfg = Config {
            timestamp_offsets: false,
            ..Config::linux()
        };
        let ccfg = Config {
            window_scale: 5,
            ..Config::linux()
        };
        let mut net = busy_server(f, ccfg, scfg);
        let (c, s, synack) = cookie_connect(&mut net);
        let sent_at = synack.time.as_millis() as u32;
        let tsval = synack.options.timestamps.unwrap().tsval;
        assert_eq!(tsval & 0x3f, 5 | 0x10, "{tsval:#x}");
        assert!(sent_at.wrapping_sub(tsval) < 64, "{sent_at} {tsval}");
        assert_eq!(net.server.info(s).unwrap().snd_wscale, 5);
        assert_eq!(net.client.info(c).unwrap().rcv_wscale, 5);
        // The connection's next TSval goes on from the clock.
        net.sapp.to_send.extend(b"hello");
        net.run_until(Duration::from_secs(1), |n| n.capp.received.len() == 5);
        let data = server_segs(&net)[1];
        let next = data.options.timestamps.unwrap().tsval;
        assert!(next.wrapping_sub(tsval) as i32 >= 0);
        assert_eq!(next, data.time.as_millis() as u32);
    }
);

dual!(
    a_cookie_connection_agrees_ecn_when_the_syn_asked,
    |f: Family| {
        for asks in [true, false] {
            let ccfg = Config {
                ecn: if asks { EcnMode::On } else { EcnMode::Passive },
                ..Config::linux()
            };
            let mut net = busy_server(f, ccfg, Config::linux());
            let (_c, _s, synack) = cookie_connect(&mut net);
            assert_eq!(synack.has(TcpFlags::ECE), asks);
            assert!(!synack.has(TcpFlags::CWR));
            net.sapp.to_send.extend(pattern(20_000, 3));
            net.capp.to_send.extend(pattern(20_000, 4));
            let done = net.run_until(Duration::from_secs(10), |n| {
                n.capp.received.len() == 20_000 && n.sapp.received.len() == 20_000
            });
            assert!(done, "{}", net.trace());
            let want = if asks { Ecn::Ect0 } else { Ecn::NotEct };
            for seg in net.log.iter().filter(|s| s.len > 0) {
                assert_eq!(Ecn::of_tos(seg.tos), want, "{asks} {seg:?}");
            }
        }
    }
);

dual!(
    without_timestamps_a_cookie_keeps_only_the_mss,
    |f: Family| {
        // The client offers window scaling, SACK and ECN but no timestamps:
        // there is nowhere to keep them, so the cookie SYN,ACK offers none.
        let ccfg = Config {
            timestamps: false,
            ecn: EcnMode::On,
            ..Config::linux()
        };
        let mut net = busy_server(f, ccfg, Config::linux());
        let syn_mark = net.log.len();
        let (c, s, synack) = cookie_connect(&mut net);
        let syn = &net.log[syn_mark];
        assert!(syn.options.window_scale.is_some() && syn.options.sack_permitted);
        let o = &synack.options;
        assert!(o.mss.is_some());
        assert!(o.window_scale.is_none() && !o.sack_permitted && o.timestamps.is_none());
        assert!(!synack.has(TcpFlags::ECE));
        for info in [net.server.info(s).unwrap(), net.client.info(c).unwrap()] {
            assert!(!info.sack && !info.timestamps, "{info:?}");
            assert_eq!((info.snd_wscale, info.rcv_wscale), (0, 0));
        }
        let down = pattern(200_000, 5);
        net.sapp.to_send.extend(&down);
        let mut wnd = 0;
        let done = net.run_until(Duration::from_secs(30), |n| {
            wnd = wnd.max(n.server.info(s).unwrap().snd_wnd);
            n.capp.received.len() == down.len()
        });
        assert!(done && net.capp.received == down);
        assert!(wnd <= 65535, "{wnd}");
    }
);

// ---- A hand-played peer ------------------------------------------------------

/// A server (no TS offset, so TSvals are the raw clock) whose SYN queue is
/// full, and whose every segment is captured rather than delivered.
fn captured_server(f: Family) -> Net {
    let scfg = Config {
        timestamp_offsets: false,
        ..Config::linux()
    };
    let mut net = busy_server(f, Config::linux(), scfg);
    net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
    net
}

/// Send a segment from the client's port to the server; what the server
/// answered.
fn to_server(
    net: &mut Net,
    seq: SeqNumber,
    ack: SeqNumber,
    flags: TcpFlags,
    options: TcpOptions,
) -> Vec<Seg> {
    let f = net.family;
    let mark = net.log.len();
    net.inject(
        Side::Server,
        f.client(CLIENT_PORT),
        f.server(80),
        seq,
        ack,
        flags,
        options,
        &[],
    );
    net.log[mark..]
        .iter()
        .filter(|s| s.from == Side::Server)
        .cloned()
        .collect()
}

fn ts(tsval: u32, tsecr: u32) -> Option<Timestamps> {
    Some(Timestamps { tsval, tsecr })
}

const ISN: u32 = 7000;

dual!(
    a_forged_echo_cannot_grant_options_the_syn_did_not_ask_for,
    |f: Family| {
        let mut net = captured_server(f);
        // A SYN with timestamps but no window scaling, SACK or ECN.
        let syn = TcpOptions {
            timestamps: ts(500, 0),
            ..mss_only()
        };
        let r = to_server(&mut net, SeqNumber(ISN), SeqNumber(0), TcpFlags::SYN, syn);
        let synack = &r[0];
        assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert!(synack.options.window_scale.is_none() && !synack.options.sack_permitted);
        let tsval = synack.options.timestamps.unwrap().tsval;
        assert_eq!(tsval & 0x3f, 0x0f, "no scaling, no SACK, no ECN");
        // ACKs whose echo claims window scaling 7 and SACK, ECN, or SACK alone
        // (the hash covers the bits): each is a failed cookie, answered with
        // RST, and opens nothing.
        for (i, bits) in [0x17, 0x2f, 0x1f].into_iter().enumerate() {
            let forged = TcpOptions {
                timestamps: ts(501, (tsval & !0x3f) | bits),
                ..TcpOptions::default()
            };
            let ack = SeqNumber(ISN + 1);
            let r = to_server(&mut net, ack, synack.seq + 1, TcpFlags::ACK, forged);
            assert!(r.len() == 1 && r[0].has(TcpFlags::RST), "{bits:#x} {r:?}");
            assert_eq!(net.server.stats().syn_cookies_failed, i as u64 + 1);
            assert_eq!(net.server.connection_count(), 1);
        }
        // The true echo opens the connection with timestamps and nothing else.
        let echo = TcpOptions {
            timestamps: ts(501, tsval),
            ..TcpOptions::default()
        };
        let r = to_server(
            &mut net,
            SeqNumber(ISN + 1),
            synack.seq + 1,
            TcpFlags::ACK,
            echo,
        );
        assert!(r.iter().all(|s| !s.has(TcpFlags::RST)), "{r:?}");
        let s = net.sapp.conn.expect("accepted");
        let info = net.server.info(s).unwrap();
        assert_eq!(info.state, State::Established);
        assert!(info.timestamps && !info.sack);
        assert_eq!((info.snd_wscale, info.rcv_wscale), (0, 0));
    }
);

dual!(an_echo_the_cookie_did_not_offer_is_ignored, |f: Family| {
    // A SYN without timestamps gets a cookie with the MSS alone; an ACK
    // that brings a timestamp anyway (claiming every option in its echo)
    // opens the connection without any: RFC 7323 §3.2 ignores a TSopt
    // that was not negotiated.
    let mut net = captured_server(f);
    let r = to_server(
        &mut net,
        SeqNumber(ISN),
        SeqNumber(0),
        TcpFlags::SYN,
        mss_only(),
    );
    let synack = r[0].clone();
    assert!(synack.options.timestamps.is_none());
    let r = to_server(
        &mut net,
        SeqNumber(ISN + 1),
        synack.seq + 1,
        TcpFlags::ACK,
        TcpOptions {
            timestamps: ts(501, 0x37),
            ..TcpOptions::default()
        },
    );
    assert!(r.iter().all(|s| !s.has(TcpFlags::RST)), "{r:?}");
    let s = net.sapp.conn.expect("accepted");
    let info = net.server.info(s).unwrap();
    assert!(!info.timestamps && !info.sack && info.snd_wscale == 0);
});

dual!(
    an_ack_that_drops_the_timestamps_fails_the_cookie,
    |f: Family| {
        // The SYN had timestamps (and asked for scaling and SACK); an ACK
        // without them cannot say which options the cookie kept, so it does
        // not check out (Linux would open the connection without options;
        // RFC 7323 §3.2 has a segment without TSopt on a connection that
        // negotiated it dropped).
        let mut net = captured_server(f);
        let syn = TcpOptions {
            timestamps: ts(500, 0),
            window_scale: Some(7),
            sack_permitted: true,
            ..mss_only()
        };
        let r = to_server(&mut net, SeqNumber(ISN), SeqNumber(0), TcpFlags::SYN, syn);
        let synack = r[0].clone();
        assert_eq!(
            synack.options.window_scale,
            Some(Config::linux().window_scale)
        );
        assert!(synack.options.sack_permitted);
        let r = to_server(
            &mut net,
            SeqNumber(ISN + 1),
            synack.seq + 1,
            TcpFlags::ACK,
            TcpOptions::default(),
        );
        assert!(r.len() == 1 && r[0].has(TcpFlags::RST), "{r:?}");
        assert_eq!(net.server.stats().syn_cookies_failed, 1);
        assert!(net.sapp.conn.is_none());
    }
);
