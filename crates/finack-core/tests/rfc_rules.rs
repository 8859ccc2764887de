//! One test per RFC rule (RFC 9293 and its companions RFC 5961, 7323, 2018, 6298,
//! 6528) and per Linux behaviour the engine copies, each run on IPv4 and IPv6.
//! Every test checks something observable: segments on the wire (flags, numbers,
//! raw option bytes), states, events, errors and counters.

mod common;
use common::*;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use finack_core::wire::{self, SeqNumber, TcpFlags, TcpOptions, Timestamps};
use finack_core::{
    CloseReason, Config, ConnId, EarlyRetransmit, Endpoint, Error, Event, Instant, SendFlags,
    Shutdown, State,
};

// ---- Helpers -----------------------------------------------------------------

/// A hand-crafted segment.
#[derive(Clone, Debug)]
struct Raw {
    seq: SeqNumber,
    ack: SeqNumber,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

fn raw(seq: SeqNumber, ack: SeqNumber, flags: TcpFlags) -> Raw {
    Raw {
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
        payload: Vec::new(),
    }
}

impl Raw {
    fn data(mut self, payload: &[u8]) -> Raw {
        self.payload = payload.to_vec();
        self
    }
    fn opts(mut self, options: TcpOptions) -> Raw {
        self.options = options;
        self
    }
    fn urgent(mut self, urgent: u16) -> Raw {
        self.urgent = urgent;
        self
    }
    fn bytes(&self, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
        let ip = wire::IpRepr {
            src: src.ip(),
            dst: dst.ip(),
            ttl: 64,
            tos: 0,
        };
        let tcp = wire::TcpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: &self.payload,
        };
        let mut buf = vec![0u8; wire::tcp_packet_len(&ip, &tcp)];
        let n = wire::emit_tcp_packet(&ip, &tcp, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }
}

/// Hand `seg` (from `src` to `dst`) to side `to`, let both applications react,
/// and return what `to` sent in reply (logged and in flight, not yet delivered).
fn send_to(net: &mut Net, to: Side, src: SocketAddr, dst: SocketAddr, seg: &Raw) -> Vec<Seg> {
    let mark = net.log.len();
    let bytes = seg.bytes(src, dst);
    let now = net.now;
    net.ep(to)
        .handle_packet(now, &bytes)
        .expect("valid crafted packet");
    net.flush();
    net.log[mark..]
        .iter()
        .filter(|s| s.from == to)
        .cloned()
        .collect()
}

/// Where one side of a quiet single connection stands, read off its last segment.
#[derive(Copy, Clone, Debug)]
struct View {
    local: SocketAddr,
    remote: SocketAddr,
    snd_nxt: SeqNumber,
    rcv_nxt: SeqNumber,
    /// The window it last advertised, in bytes (scaled by `wscale`).
    rcv_wnd: u32,
}

fn view(net: &Net, side: Side, wscale: u8) -> View {
    let last = net
        .log
        .iter()
        .rev()
        .find(|s| s.from == side && !s.has(TcpFlags::RST))
        .expect("the side has sent something");
    let ctl = u32::from(last.has(TcpFlags::SYN)) + u32::from(last.has(TcpFlags::FIN));
    View {
        local: last.src,
        remote: last.dst,
        snd_nxt: last.seq + (last.len as u32 + ctl),
        rcv_nxt: last.ack,
        rcv_wnd: u32::from(last.window) << wscale,
    }
}

/// The client's side of an established connection.
fn client_view(net: &Net, c: ConnId) -> View {
    let wscale = net.client.info(c).unwrap().rcv_wscale;
    view(net, Side::Client, wscale)
}

/// The TSval of the last segment `side` sent.
fn last_tsval(net: &Net, side: Side) -> u32 {
    net.log
        .iter()
        .rev()
        .find(|s| s.from == side)
        .and_then(|s| s.options.timestamps)
        .expect("timestamps in use")
        .tsval
}

/// Exactly one reply, the ACK `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
fn assert_single_ack(replies: &[Seg], v: View, what: &str) {
    assert_eq!(
        replies.len(),
        1,
        "{what}: one reply expected, got {replies:#?}"
    );
    let a = &replies[0];
    assert_eq!(a.flags, TcpFlags::ACK, "{what}: a bare ACK");
    assert_eq!(
        (a.seq, a.ack, a.len),
        (v.snd_nxt, v.rcv_nxt, 0),
        "{what}: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"
    );
}

/// Data still flows client → server.
fn assert_alive(net: &mut Net, c: ConnId, s: ConnId) {
    assert_eq!(net.client.state(c), State::Established);
    assert_eq!(net.server.state(s), State::Established);
    let before = net.sapp.received.len();
    net.client.send(net.now, c, b"still here").unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        &net.sapp.received[before..],
        b"still here",
        "connection survives\n{}",
        net.trace()
    );
}

/// A handle naming no live connection on `ep`. Put into `App::conn`, it stops the
/// test application from accepting on `Event::Incoming`.
fn dead_handle(ep: &mut Endpoint, now: Instant, f: Family) -> ConnId {
    let c = ep.connect(now, any_local(f), f.client(9)).unwrap();
    ep.abort(now, c).unwrap();
    assert_eq!(ep.state(c), State::Closed);
    c
}

fn any_local(f: Family) -> SocketAddr {
    match f {
        Family::V4 => "0.0.0.0:0".parse().unwrap(),
        Family::V6 => "[::]:0".parse().unwrap(),
    }
}

/// The MSS a 1500-byte MTU gives (RFC 9293 MUST-67).
fn mss_1500(f: Family) -> u16 {
    match f {
        Family::V4 => 1460,
        Family::V6 => 1440,
    }
}

/// The default send MSS without an MSS option (RFC 9293 MUST-15).
fn default_mss(f: Family) -> u16 {
    match f {
        Family::V4 => 536,
        Family::V6 => 1220,
    }
}

fn mss_opt(mss: u16) -> TcpOptions {
    TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    }
}

fn ts_opt(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some(Timestamps { tsval, tsecr }),
        ..TcpOptions::default()
    }
}

fn count(events: &[Event], want: Event) -> usize {
    events.iter().filter(|e| **e == want).count()
}

const CA_INTERVAL: Duration = Duration::from_millis(500);

// ---- RFC 5961 §3.2: RST ---------------------------------------------------------

dual!(rfc5961_3_2_rst_exactly_at_rcv_nxt_resets, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    let v = client_view(&net, c);
    let r = send_to(
        &mut net,
        Side::Client,
        v.remote,
        v.local,
        &raw(v.rcv_nxt, SeqNumber(0), TcpFlags::RST),
    );
    assert!(r.is_empty(), "a RST is never answered: {r:?}");
    assert_eq!(net.client.state(c), State::Closed);
    assert_eq!(net.client.close_reason(c), Some(CloseReason::Reset));
    assert_eq!(net.client.stats().resets_received, 1);
    assert_eq!(net.client.stats().challenge_acks, 0);
    assert_eq!(
        count(
            &net.capp.events,
            Event::Closed {
                conn: c,
                reason: CloseReason::Reset
            }
        ),
        1
    );
    assert_eq!(
        net.client.recv(net.now, c, &mut [0u8; 8]),
        Err(Error::ConnectionReset)
    );
});

dual!(rfc5961_3_2_in_window_rst_gets_challenge_ack, |f: Family| {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    let v = client_view(&net, c);
    assert!(v.rcv_wnd > 1000);
    // Just past RCV.NXT, and the last octet of the window.
    for (i, off) in [1, v.rcv_wnd - 1].into_iter().enumerate() {
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt + off, SeqNumber(0), TcpFlags::RST),
        );
        assert_single_ack(&r, v, &format!("RST at RCV.NXT+{off}"));
        assert_eq!(net.client.state(c), State::Established);
        assert_eq!(net.client.stats().challenge_acks, i as u64 + 1);
        net.run_for(CA_INTERVAL);
    }
    assert_eq!(net.client.stats().resets_received, 0);
    assert_alive(&mut net, c, s);
});

dual!(
    rfc5961_3_2_rst_outside_window_silently_dropped,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        let v = client_view(&net, c);
        // Linux's tcp_sequence() counts the right edge itself as inside
        // (Config::linux_sequence_check), so "just outside" is one past it.
        let outside = [
            v.rcv_nxt - 1,
            v.rcv_nxt + v.rcv_wnd + 1,
            v.rcv_nxt + 1_000_000,
        ];
        for seq in outside {
            let r = send_to(
                &mut net,
                Side::Client,
                v.remote,
                v.local,
                &raw(seq, SeqNumber(0), TcpFlags::RST),
            );
            assert!(r.is_empty(), "RST at {seq} answered: {r:?}");
            assert_eq!(net.client.state(c), State::Established);
        }
        let st = net.client.stats();
        assert_eq!(st.out_of_window, 3);
        assert_eq!(st.challenge_acks + st.challenge_acks_suppressed, 0);
        assert_eq!(st.resets_received, 0);
        assert_alive(&mut net, c, s);
    }
);

// ---- RFC 5961 §4: SYN ----------------------------------------------------------

dual!(
    rfc5961_4_syn_in_established_gets_challenge_ack,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        let v = client_view(&net, c);
        // "irrespective of the sequence number": at RCV.NXT, inside the window, and an
        // old copy of the peer's original SYN (just below RCV.NXT).
        for seq in [v.rcv_nxt, v.rcv_nxt + 5000, v.rcv_nxt - 1] {
            let r = send_to(
                &mut net,
                Side::Client,
                v.remote,
                v.local,
                &raw(seq, SeqNumber(0), TcpFlags::SYN).opts(mss_opt(1460)),
            );
            assert_single_ack(&r, v, &format!("SYN at {seq}"));
            assert_eq!(net.client.state(c), State::Established);
            net.run_for(CA_INTERVAL);
        }
        assert_eq!(
            net.client.stats().challenge_acks,
            2,
            "the in-window SYNs count as challenge ACKs"
        );
        assert_alive(&mut net, c, s);
    }
);

// ---- RFC 5961 §5: ACK ----------------------------------------------------------

dual!(
    rfc5961_5_ack_above_snd_nxt_gets_challenge_ack_and_is_dropped,
    |f: Family| {
        // Both profiles answer: RFC 9293 §3.10.7.4 fifth / RFC 5961 §5.2, and
        // Linux since its tcp_ack() sends a challenge ACK too (a 6.18
        // kernel does, measured with packetdrill); Linux 3.11 dropped it
        // silently (next test).
        for cfg in [Config::rfc9293(), Config::linux()] {
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, s) = net.established();
            let v = client_view(&net, c);
            let r = send_to(
                &mut net,
                Side::Client,
                v.remote,
                v.local,
                &raw(v.rcv_nxt, v.snd_nxt + 1000, TcpFlags::ACK | TcpFlags::PSH).data(b"evil"),
            );
            assert_single_ack(&r, v, "ACK above SND.NXT");
            assert_eq!(net.client.stats().challenge_acks, 1);
            assert!(
                net.capp.received.is_empty(),
                "the segment's text is dropped"
            );
            assert_eq!(net.client.info(c).unwrap().bytes_received, 0);
            assert_eq!(count(&net.capp.events, Event::Readable(c)), 0);
            assert_eq!(net.client.state(c), State::Established);
            // The same sequence number with a valid ACK is still new data.
            net.run_for(CA_INTERVAL);
            send_to(
                &mut net,
                Side::Client,
                v.remote,
                v.local,
                &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK | TcpFlags::PSH).data(b"good"),
            );
            assert_eq!(net.capp.received, b"good");
            assert_eq!(net.client.state(c), State::Established);
            assert_eq!(net.server.state(s), State::Established);
        }
    }
);

dual!(
    linux_3_11_drops_an_ack_above_snd_nxt_without_reply,
    |f: Family| {
        let mut net = Net::with_configs(f, Config::linux_3_11(), Config::linux_3_11());
        let (c, _s) = net.established();
        let v = client_view(&net, c);
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt + 1000, TcpFlags::ACK | TcpFlags::PSH).data(b"evil"),
        );
        assert!(r.is_empty(), "Linux 3.11's tcp_ack drops it: {r:?}");
        assert!(net.capp.received.is_empty(), "the text is dropped");
    }
);

dual!(
    rfc5961_5_ack_older_than_max_snd_wnd_gets_challenge_ack,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        // More than MAX.SND.WND acknowledged first (Linux also never takes
        // an ACK below ISS+1: see the next test).
        net.client.send(net.now, c, &[5u8; 200_000]).unwrap();
        net.run_for(Duration::from_secs(2));
        let v = client_view(&net, c);
        assert_eq!(net.client.info(c).unwrap().unacked, 0);
        let snd_wscale = net.client.info(c).unwrap().snd_wscale;
        // At most MAX.SND.WND: the largest window the server announced (the
        // SYN's unscaled).
        let max_wnd = net
            .sent_by(Side::Server)
            .iter()
            .map(|s| {
                let shift = if s.has(TcpFlags::SYN) { 0 } else { snd_wscale };
                u32::from(s.window) << shift
            })
            .max()
            .unwrap();
        // SND.UNA == SND.NXT: everything was acknowledged.
        let too_old = v.snd_nxt - (max_wnd + 1);
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, too_old, TcpFlags::ACK | TcpFlags::PSH).data(b"old"),
        );
        assert_single_ack(&r, v, "ACK below SND.UNA - MAX.SND.WND");
        assert_eq!(net.client.stats().challenge_acks, 1);
        assert!(net.capp.received.is_empty(), "dropped with its text");
        // An ACK less far behind SND.UNA is acceptable: the data is taken.
        // (`max_wnd` is the largest window the server sent; the client may
        // have taken a smaller one as its MAX.SND.WND.)
        net.run_for(CA_INTERVAL);
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(
                v.rcv_nxt,
                v.snd_nxt - max_wnd / 2,
                TcpFlags::ACK | TcpFlags::PSH,
            )
            .data(b"fine"),
        );
        assert_eq!(net.capp.received, b"fine");
        assert_eq!(net.client.stats().challenge_acks, 1);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].ack, v.rcv_nxt + 4, "the data is acknowledged");
    }
);

dual!(linux_never_takes_an_ack_below_iss_plus_one, |f: Family| {
    // Linux tcp_ack(): the lower bound is SND.UNA minus the smaller of
    // MAX.SND.WND and the octets acknowledged so far. On a connection
    // that has sent nothing, an ACK of ISS (one below SND.UNA) is
    // answered with a challenge ACK and its text dropped; the RFC
    // profile takes it as an old duplicate and keeps the text.
    for (cfg, challenged) in [(Config::linux(), true), (Config::rfc9293(), false)] {
        let mut net = Net::with_configs(f, cfg.clone(), cfg);
        let (c, _s) = net.established();
        let v = client_view(&net, c);
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt - 1, TcpFlags::ACK | TcpFlags::PSH).data(b"iss"),
        );
        if challenged {
            assert_single_ack(&r, v, "ACK of ISS");
            assert!(net.capp.received.is_empty());
        } else {
            assert_eq!(net.capp.received, b"iss");
            assert_eq!(net.client.stats().challenge_acks, 0);
        }
    }
    // Once data was acknowledged, an ACK up to that far back is an old
    // duplicate again (here 2000 octets; MAX.SND.WND is larger).
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.client.send(net.now, c, &[7u8; 2000]).unwrap();
    net.run_for(Duration::from_millis(300));
    let v = client_view(&net, c);
    let r = send_to(
        &mut net,
        Side::Client,
        v.remote,
        v.local,
        &raw(v.rcv_nxt, v.snd_nxt - 2000, TcpFlags::ACK | TcpFlags::PSH).data(b"old"),
    );
    assert_eq!(net.capp.received, b"old", "taken");
    assert_eq!(r.last().map(|a| a.ack), Some(v.rcv_nxt + 3));
});

dual!(
    linux_takes_a_fin_whose_ack_predates_our_own_fin,
    |f: Family| {
        // Linux tcp_disorder_fin_in_FIN_WAIT.pkt (795a7dfbc3d9, "accept old
        // ack during closing"): our FIN is acknowledged, then the peer's
        // FIN, sent before that ACK, arrives with ACK = ISS+1, one below
        // SND.UNA. The ACK floor counts our FIN as acknowledged sequence
        // space (Linux bytes_acked), so the FIN is taken and acknowledged.
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client));
        net.client.shutdown(net.now, c, Shutdown::Write).unwrap();
        net.flush();
        let v = client_view(&net, c);
        send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK),
        );
        assert_eq!(net.client.state(c), State::FinWait2);
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt - 1, TcpFlags::ACK | TcpFlags::FIN),
        );
        assert_eq!(net.client.state(c), State::TimeWait);
        assert_eq!(r.last().map(|a| a.ack), Some(v.rcv_nxt + 1), "{r:?}");
        assert_eq!(net.client.stats().challenge_acks, 0);
    }
);

// ---- RFC 5961 §7: rate limit ------------------------------------------------------

dual!(
    rfc5961_7_challenge_acks_rate_limited_per_connection,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        let v = client_view(&net, c);
        let rst = raw(v.rcv_nxt + 10, SeqNumber(0), TcpFlags::RST);
        let r = send_to(&mut net, Side::Client, v.remote, v.local, &rst);
        assert_single_ack(&r, v, "first challenge");
        // A second one at once, and another just under 500 ms later: suppressed.
        let r = send_to(&mut net, Side::Client, v.remote, v.local, &rst);
        assert!(r.is_empty(), "suppressed: {r:?}");
        net.run_for(CA_INTERVAL - Duration::from_millis(1));
        let r = send_to(&mut net, Side::Client, v.remote, v.local, &rst);
        assert!(r.is_empty(), "still within 500 ms: {r:?}");
        let st = net.client.stats().clone();
        assert_eq!((st.challenge_acks, st.challenge_acks_suppressed), (1, 2));
        // 500 ms after the first: allowed again.
        net.run_for(Duration::from_millis(1));
        let r = send_to(&mut net, Side::Client, v.remote, v.local, &rst);
        assert_single_ack(&r, v, "after 500 ms");
        assert_eq!(net.client.stats().challenge_acks, 2);
        // The limit is per connection: a second connection gets its challenge ACK at
        // once although the first just sent one.
        let c2 = net
            .client
            .connect(net.now, f.client(0), f.server(80))
            .unwrap();
        net.run_until(Duration::from_secs(1), |n| {
            n.client.state(c2) == State::Established
        });
        net.run_for(Duration::from_millis(50));
        let r = send_to(&mut net, Side::Client, v.remote, v.local, &rst);
        assert!(r.is_empty(), "first connection still limited");
        let v2 = client_view(&net, c2);
        let r = send_to(
            &mut net,
            Side::Client,
            v2.remote,
            v2.local,
            &raw(v2.rcv_nxt + 10, SeqNumber(0), TcpFlags::RST),
        );
        assert_single_ack(&r, v2, "second connection");
        assert_eq!(net.client.stats().challenge_acks, 3);
        assert_eq!(net.client.state(c2), State::Established);
        assert_alive(&mut net, c, s);
    }
);

// ---- RFC 9293 §3.10.7.1: CLOSED -------------------------------------------------

dual!(
    rfc9293_3_10_7_1_ack_to_closed_port_gets_rst_seq_seg_ack,
    |f: Family| {
        let mut net = Net::new(f);
        let (cli, srv) = (f.client(4000), f.server(81));
        for flags in [
            TcpFlags::ACK,
            TcpFlags::ACK | TcpFlags::PSH,
            TcpFlags::ACK | TcpFlags::FIN,
            TcpFlags::SYN | TcpFlags::ACK,
        ] {
            let r = send_to(
                &mut net,
                Side::Server,
                cli,
                srv,
                &raw(SeqNumber(1000), SeqNumber(5555), flags).data(b"hello"),
            );
            assert_eq!(r.len(), 1, "{flags}: {r:?}");
            assert_eq!(r[0].flags, TcpFlags::RST, "{flags}: <CTL=RST> only");
            assert_eq!(r[0].seq, SeqNumber(5555), "{flags}: <SEQ=SEG.ACK>");
            assert_eq!((r[0].src, r[0].dst), (srv, cli));
            assert_eq!(r[0].len, 0);
        }
        assert_eq!(net.server.stats().rst_sent, 4);
    }
);

dual!(
    rfc9293_3_10_7_1_no_ack_to_closed_port_gets_rst_ack_seq_plus_len,
    |f: Family| {
        let mut net = Net::new(f);
        let (cli, srv) = (f.client(4000), f.server(81));
        // SEG.LEN counts SYN, FIN and data.
        let cases: [(TcpFlags, &[u8], u32); 6] = [
            (TcpFlags::SYN, b"", 1),
            (TcpFlags::SYN, b"abc", 4),
            (TcpFlags::SYN | TcpFlags::FIN, b"0123456789", 12),
            (TcpFlags::FIN, b"abcde", 6),
            (TcpFlags::PSH, b"xyz", 3),
            (TcpFlags::empty(), b"", 0),
        ];
        for (flags, data, len) in cases {
            let seq = SeqNumber(0xffff_fff0); // wraps
            let r = send_to(
                &mut net,
                Side::Server,
                cli,
                srv,
                &raw(seq, SeqNumber(0), flags).data(data),
            );
            assert_eq!(r.len(), 1, "{flags}: {r:?}");
            assert_eq!(r[0].flags, TcpFlags::RST | TcpFlags::ACK, "{flags}");
            assert_eq!(r[0].seq, SeqNumber(0), "{flags}: <SEQ=0>");
            assert_eq!(r[0].ack, seq + len, "{flags}: <ACK=SEG.SEQ+SEG.LEN>");
        }
    }
);

dual!(
    rfc9293_3_10_7_1_rst_to_closed_port_not_answered,
    |f: Family| {
        let mut net = Net::new(f);
        for flags in [TcpFlags::RST, TcpFlags::RST | TcpFlags::ACK] {
            let r = send_to(
                &mut net,
                Side::Server,
                f.client(4000),
                f.server(81),
                &raw(SeqNumber(1), SeqNumber(2), flags),
            );
            assert!(r.is_empty(), "{flags}: {r:?}");
        }
        assert_eq!(net.server.stats().rst_sent, 0);
    }
);

// ---- RFC 9293 §3.10.7.2: LISTEN -------------------------------------------------

dual!(rfc9293_3_10_7_2_listen_ignores_rst, |f: Family| {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    for flags in [TcpFlags::RST, TcpFlags::RST | TcpFlags::ACK] {
        let r = send_to(
            &mut net,
            Side::Server,
            f.client(4000),
            f.server(80),
            &raw(SeqNumber(1), SeqNumber(2), flags),
        );
        assert!(r.is_empty(), "{flags}: {r:?}");
    }
    assert_eq!(net.server.connection_count(), 0);
    assert_eq!(net.server.listener_state(l), State::Listen);
});

dual!(rfc9293_3_10_7_2_listen_answers_ack_with_rst, |f: Family| {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    for flags in [
        TcpFlags::ACK,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::ACK | TcpFlags::FIN,
    ] {
        let r = send_to(
            &mut net,
            Side::Server,
            f.client(4000),
            f.server(80),
            &raw(SeqNumber(100), SeqNumber(777), flags),
        );
        assert_eq!(r.len(), 1, "{flags}: {r:?}");
        assert_eq!(r[0].flags, TcpFlags::RST, "{flags}");
        assert_eq!(r[0].seq, SeqNumber(777), "{flags}: <SEQ=SEG.ACK><CTL=RST>");
    }
    assert_eq!(net.server.connection_count(), 0);
    assert_eq!(net.server.listener_state(l), State::Listen);
});

dual!(linux_listen_drops_syn_fin, |f: Family| {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    let r = send_to(
        &mut net,
        Side::Server,
        f.client(4000),
        f.server(80),
        &raw(SeqNumber(100), SeqNumber(0), TcpFlags::SYN | TcpFlags::FIN).opts(mss_opt(1460)),
    );
    assert!(r.is_empty(), "SYN+FIN dropped: {r:?}");
    assert_eq!(net.server.connection_count(), 0);
    assert_eq!(net.server.accept(l), Err(Error::WouldBlock));
    // A plain SYN from the same port is taken (the listener is fine).
    let r = send_to(
        &mut net,
        Side::Server,
        f.client(4000),
        f.server(80),
        &raw(SeqNumber(100), SeqNumber(0), TcpFlags::SYN).opts(mss_opt(1460)),
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(r[0].ack, SeqNumber(101));
});

dual!(
    rfc9293_3_10_7_2_listen_drops_text_without_syn_or_ack,
    |f: Family| {
        let mut net = Net::new(f);
        let l = net.server.listen(f.server(80), 4).unwrap();
        for flags in [
            TcpFlags::PSH,
            TcpFlags::empty(),
            TcpFlags::FIN,
            TcpFlags::URG,
        ] {
            let r = send_to(
                &mut net,
                Side::Server,
                f.client(4000),
                f.server(80),
                &raw(SeqNumber(100), SeqNumber(0), flags).data(b"data"),
            );
            assert!(r.is_empty(), "{flags}: {r:?}");
        }
        assert_eq!(net.server.connection_count(), 0);
        assert_eq!(net.server.stats().rst_sent, 0);
        assert_eq!(net.server.accept(l), Err(Error::WouldBlock));
    }
);

// ---- RFC 9293 §3.10.7.4 first: sequence number check -----------------------------

dual!(
    rfc9293_3_10_7_4_unacceptable_segment_acked_and_dropped,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        let v = client_view(&net, c);
        // Far beyond the window.
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(
                v.rcv_nxt + 1_000_000,
                v.snd_nxt,
                TcpFlags::ACK | TcpFlags::PSH,
            )
            .data(b"future"),
        );
        assert_single_ack(&r, v, "segment beyond the window");
        assert_eq!(net.client.stats().out_of_window, 1);
        net.run_for(CA_INTERVAL);
        // An old duplicate, entirely below RCV.NXT.
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt - 10, v.snd_nxt, TcpFlags::ACK | TcpFlags::PSH).data(b"old"),
        );
        assert_single_ack(&r, v, "old duplicate");
        assert_eq!(net.client.stats().out_of_window, 2);
        assert!(net.capp.received.is_empty(), "nothing delivered");
        assert_eq!(net.client.info(c).unwrap().bytes_received, 0);
        assert_eq!(count(&net.capp.events, Event::Readable(c)), 0);
        assert_alive(&mut net, c, s);
    }
);

dual!(
    rfc9293_must_66_zero_window_still_processes_ack_urg_rst,
    |f: Family| {
        // The client's receive window is exactly three segments (unscaled, so the
        // window closes exactly) and its application does not read.
        let seg = usize::from(mss_1500(f) - 12);
        let ccfg = Config {
            recv_buffer: 3 * seg,
            window_scaling: false,
            rcv_memory: false,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, ccfg, Config::linux());
        let (c, _s) = net.established();
        net.capp.read = false;
        net.sapp.to_send = pattern(10 * seg, 1).into_iter().collect();
        assert!(net.run_until(Duration::from_secs(1), |n| {
            n.client.info(c).unwrap().readable as usize == 3 * seg
        }));
        net.run_for(Duration::from_millis(20));
        // From here on the server is silent; the client has data in flight.
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        net.client.send(net.now, c, b"abc").unwrap();
        net.flush();
        assert_eq!(net.client.info(c).unwrap().unacked, 3);
        let v = client_view(&net, c);
        assert_eq!(v.rcv_wnd, 0, "window closed\n{}", net.trace());
        // A segment at RCV.NXT with text, URG and an ACK of the new data: the text
        // cannot be taken, the ACK and the urgent pointer are processed.
        send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK | TcpFlags::URG)
                .urgent(1)
                .data(b"Z"),
        );
        let info = net.client.info(c).unwrap();
        assert_eq!(info.unacked, 0, "the ACK was processed");
        assert_eq!(info.readable as usize, 3 * seg, "the text was not");
        assert_eq!(info.bytes_received as usize, 3 * seg);
        assert_eq!(
            count(&net.capp.events, Event::Urgent(c)),
            1,
            "URG processed"
        );
        // And a RST at RCV.NXT resets.
        send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, SeqNumber(0), TcpFlags::RST),
        );
        assert_eq!(net.client.state(c), State::Closed);
        assert_eq!(net.client.close_reason(c), Some(CloseReason::Reset));
    }
);

// ---- RFC 7323 §5: PAWS ----------------------------------------------------------

dual!(
    rfc7323_5_paws_drops_segment_with_old_timestamp,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        assert!(net.client.info(c).unwrap().timestamps);
        let v = client_view(&net, c);
        let recent = last_tsval(&net, Side::Server);
        let echo = last_tsval(&net, Side::Client);
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK | TcpFlags::PSH)
                .data(b"stale")
                .opts(ts_opt(recent.wrapping_sub(1000), echo)),
        );
        assert_single_ack(&r, v, "PAWS reject");
        assert!(r[0].options.timestamps.is_some());
        assert_eq!(net.client.stats().paws_rejected, 1);
        assert!(net.capp.received.is_empty(), "old duplicate not delivered");
        assert_eq!(net.client.info(c).unwrap().bytes_received, 0);
        // The same segment with a current timestamp is taken.
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK | TcpFlags::PSH)
                .data(b"fresh")
                .opts(ts_opt(recent.wrapping_add(1), echo)),
        );
        assert_eq!(net.capp.received, b"fresh");
        assert_eq!(r.last().unwrap().ack, v.rcv_nxt + 5);
        assert_eq!(net.client.stats().paws_rejected, 1);
        assert_eq!(net.client.state(c), State::Established);
        assert_eq!(net.server.state(s), State::Established);
    }
);

/// Linux's PAWS (tcp_paws_discard()): one tick of reordering is let
/// through (TCP_PAWS_WINDOW), and so is a pure duplicate ACK that changes
/// no window and is less than an RTO older (tcp_disordered_ack()); RFC 7323
/// §5.3 (the RFC profile) drops both.
fn paws_tolerance(f: Family, cfg: Config) -> (u64, Vec<u8>) {
    let mut net = Net::with_configs(f, cfg.clone(), cfg);
    let (c, _s) = net.established();
    let v = client_view(&net, c);
    let recent = last_tsval(&net, Side::Server);
    let echo = last_tsval(&net, Side::Client);
    let window = net
        .log
        .iter()
        .rev()
        .find(|x| x.from == Side::Server)
        .unwrap()
        .window;
    // A current pure ACK at RCV.NXT: the window's last update (SND.WL1).
    let mut ack = raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK).opts(ts_opt(recent, echo));
    ack.window = window;
    send_to(&mut net, Side::Client, v.remote, v.local, &ack);
    // The same ACK again, delayed: 100 ticks old, no window change.
    let mut dup =
        raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK).opts(ts_opt(recent.wrapping_sub(100), echo));
    dup.window = window;
    send_to(&mut net, Side::Client, v.remote, v.local, &dup);
    // Data one tick older than TS.Recent.
    send_to(
        &mut net,
        Side::Client,
        v.remote,
        v.local,
        &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK | TcpFlags::PSH)
            .data(b"late")
            .opts(ts_opt(recent.wrapping_sub(1), echo)),
    );
    (net.client.stats().paws_rejected, net.capp.received.clone())
}

dual!(
    linux_paws_lets_one_tick_and_disordered_acks_through,
    |f: Family| {
        let (rejected, got) = paws_tolerance(f, Config::linux());
        assert_eq!(rejected, 0);
        assert_eq!(got, b"late");
        let (rejected, got) = paws_tolerance(f, Config::rfc9293());
        assert_eq!(rejected, 2);
        assert!(got.is_empty());
    }
);

dual!(rfc7323_4_3_ts_recent_follows_latest_tsval, |f: Family| {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    let synack_tsval = net.log[1].options.timestamps.unwrap().tsval;
    net.run_for(Duration::from_secs(2));
    net.server.send(net.now, s, b"later").unwrap();
    let mark = net.log.len();
    net.run_for(Duration::from_millis(100));
    let data = net.log[mark..]
        .iter()
        .find(|x| x.from == Side::Server && x.len > 0)
        .unwrap()
        .clone();
    let tsval = data.options.timestamps.unwrap().tsval;
    assert!(tsval.wrapping_sub(synack_tsval) >= 2000, "2 s later");
    // The ACK echoes the newest TSval, not the SYN-ACK's.
    let ack = net.log[mark..]
        .iter()
        .find(|x| x.from == Side::Client && x.ack == data.seq + 5)
        .unwrap()
        .clone();
    assert_eq!(
        ack.options.timestamps.unwrap().tsecr,
        tsval,
        "TSecr = TS.Recent"
    );
    // So PAWS now rejects a TSval between the SYN-ACK's and the newest.
    let v = client_view(&net, c);
    let r = send_to(
        &mut net,
        Side::Client,
        v.remote,
        v.local,
        &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK | TcpFlags::PSH)
            .data(b"stale")
            .opts(ts_opt(synack_tsval.wrapping_add(1000), 0)),
    );
    assert_single_ack(&r, v, "PAWS");
    assert_eq!(net.client.stats().paws_rejected, 1);
    assert_eq!(net.capp.received, b"later");
});

// ---- Options: RFC 9293 MUST-4/14/15/65/67, RFC 7323, RFC 2018 ----------------------

/// The client SYN's raw option bytes under `cfg`.
fn client_syn(f: Family, cfg: Config) -> Seg {
    let mut net = Net::with_configs(f, cfg, Config::linux());
    net.drop = Some(Box::new(|_| true));
    net.client
        .connect(net.now, f.client(0), f.server(80))
        .unwrap();
    net.flush();
    assert_eq!(net.log.len(), 1);
    net.log[0].clone()
}

fn mss_bytes(f: Family) -> Vec<u8> {
    let mut v = vec![2, 4];
    v.extend(mss_1500(f).to_be_bytes());
    v
}

dual!(rfc9293_must_14_syn_options_in_linux_layout, |f: Family| {
    let syn = client_syn(f, Config::linux());
    assert_eq!(syn.flags, TcpFlags::SYN);
    let tsval = syn.options.timestamps.expect("TS offered").tsval;
    // mss, sackOK, TS, nop, wscale: 02 04 MSS 04 02 08 0a TSval 00000000 01 03 03 07
    let mut want = mss_bytes(f);
    want.extend([4, 2, 8, 10]);
    want.extend(tsval.to_be_bytes());
    want.extend([0, 0, 0, 0, 1, 3, 3, 7]);
    assert_eq!(syn.raw_options, want);
    assert_eq!(syn.raw_options.len(), 20);
    assert_eq!(syn.options.mss, Some(mss_1500(f)), "MUST-67: MTU 1500");
    // RFC 7323 §2.2: the window of a SYN is not scaled. Linux offers half
    // of tcp_rmem[1] (131072) in whole segments (tcp_select_initial_window()).
    let mss = u32::from(mss_1500(f));
    assert_eq!(u32::from(syn.window), 65_536 / mss * mss);
});

dual!(rfc7323_rfc2018_syn_layout_follows_config, |f: Family| {
    let cfg = |sack: bool, timestamps: bool, window_scaling: bool| Config {
        sack,
        timestamps,
        window_scaling,
        ..Config::linux()
    };
    // No SACK, no timestamps: mss, nop, wscale.
    let syn = client_syn(f, cfg(false, false, true));
    let mut want = mss_bytes(f);
    want.extend([1, 3, 3, 7]);
    assert_eq!(syn.raw_options, want, "mss, nop, wscale");
    // SACK only: mss, nop, nop, sackOK, nop, wscale.
    let syn = client_syn(f, cfg(true, false, true));
    let mut want = mss_bytes(f);
    want.extend([1, 1, 4, 2, 1, 3, 3, 7]);
    assert_eq!(syn.raw_options, want, "mss, nop, nop, sackOK, nop, wscale");
    // Timestamps only: mss, nop, nop, TS, nop, wscale.
    let syn = client_syn(f, cfg(false, true, true));
    let tsval = syn.options.timestamps.unwrap().tsval;
    let mut want = mss_bytes(f);
    want.extend([1, 1, 8, 10]);
    want.extend(tsval.to_be_bytes());
    want.extend([0, 0, 0, 0, 1, 3, 3, 7]);
    assert_eq!(syn.raw_options, want, "mss, nop, nop, TS, nop, wscale");
    // No window scaling: mss, sackOK, TS.
    let syn = client_syn(f, cfg(true, true, false));
    let tsval = syn.options.timestamps.unwrap().tsval;
    let mut want = mss_bytes(f);
    want.extend([4, 2, 8, 10]);
    want.extend(tsval.to_be_bytes());
    want.extend([0, 0, 0, 0]);
    assert_eq!(syn.raw_options, want, "mss, sackOK, TS");
    // Nothing but MSS (MUST-14: always sent).
    let syn = client_syn(f, cfg(false, false, false));
    assert_eq!(syn.raw_options, mss_bytes(f), "mss only");
});

dual!(
    rfc7323_rfc2018_syn_ack_answers_only_offered_options,
    |f: Family| {
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        net.server.listen(f.server(80), 16).unwrap();
        let peer_ts = Timestamps {
            tsval: 0x1234_5678,
            tsecr: 0,
        };
        let offers: [(TcpOptions, &str); 5] = [
            (mss_opt(1000), "mss only"),
            (
                TcpOptions {
                    sack_permitted: true,
                    ..mss_opt(1000)
                },
                "mss + sackOK",
            ),
            (
                TcpOptions {
                    timestamps: Some(peer_ts),
                    ..mss_opt(1000)
                },
                "mss + TS",
            ),
            (
                TcpOptions {
                    window_scale: Some(2),
                    ..mss_opt(1000)
                },
                "mss + wscale",
            ),
            (
                TcpOptions {
                    sack_permitted: true,
                    timestamps: Some(peer_ts),
                    window_scale: Some(2),
                    ..mss_opt(1000)
                },
                "everything",
            ),
        ];
        for (i, (offer, what)) in offers.into_iter().enumerate() {
            let r = send_to(
                &mut net,
                Side::Server,
                f.client(4000 + i as u16),
                f.server(80),
                &raw(SeqNumber(100), SeqNumber(0), TcpFlags::SYN).opts(offer),
            );
            assert_eq!(r.len(), 1, "{what}");
            let sa = &r[0];
            assert_eq!(sa.flags, TcpFlags::SYN | TcpFlags::ACK);
            assert_eq!(sa.options.mss, Some(mss_1500(f)), "{what}: MSS always");
            assert_eq!(sa.options.sack_permitted, offer.sack_permitted, "{what}");
            assert_eq!(
                sa.options.window_scale,
                offer.window_scale.map(|_| 7),
                "{what}"
            );
            assert_eq!(
                sa.options.timestamps.map(|t| t.tsecr),
                offer.timestamps.map(|t| t.tsval),
                "{what}: TS answered with TSecr = the SYN's TSval"
            );
            let mut want = mss_bytes(f);
            match (offer.sack_permitted, sa.options.timestamps) {
                (true, Some(ts)) => {
                    want.extend([4, 2, 8, 10]);
                    want.extend(ts.tsval.to_be_bytes());
                    want.extend(ts.tsecr.to_be_bytes());
                }
                (false, Some(ts)) => {
                    want.extend([1, 1, 8, 10]);
                    want.extend(ts.tsval.to_be_bytes());
                    want.extend(ts.tsecr.to_be_bytes());
                }
                (true, None) => want.extend([1, 1, 4, 2]),
                (false, None) => {}
            }
            if offer.window_scale.is_some() {
                want.extend([1, 3, 3, 7]);
            }
            assert_eq!(sa.raw_options, want, "{what}: Linux layout");
        }
    }
);

dual!(
    rfc9293_must_15_default_send_mss_without_option,
    |f: Family| {
        // Passive side: the peer's SYN has no options at all.
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        let l = net.server.listen(f.server(80), 4).unwrap();
        net.sapp.listener = Some(l);
        let cli = f.client(4000);
        let r = send_to(
            &mut net,
            Side::Server,
            cli,
            f.server(80),
            &raw(SeqNumber(100), SeqNumber(0), TcpFlags::SYN),
        );
        let synack = r[0].clone();
        assert_eq!(synack.raw_options, mss_bytes(f), "SYN-ACK: our MSS only");
        send_to(
            &mut net,
            Side::Server,
            cli,
            f.server(80),
            &raw(SeqNumber(101), synack.seq + 1, TcpFlags::ACK),
        );
        let s = net.sapp.conn.expect("accepted");
        let info = net.server.info(s).unwrap();
        assert_eq!(info.peer_mss, default_mss(f));
        assert_eq!(info.snd_mss, default_mss(f));
        assert!(!info.timestamps && !info.sack);
        assert_eq!((info.snd_wscale, info.rcv_wscale), (0, 0));
        // The segments it sends respect that MSS.
        net.server.send(net.now, s, &pattern(3000, 2)).unwrap();
        net.flush();
        let sizes: Vec<usize> = net
            .sent_by(Side::Server)
            .iter()
            .filter(|s| s.len > 0)
            .map(|s| s.len)
            .collect();
        assert!(!sizes.is_empty());
        assert!(
            sizes.iter().all(|&n| n <= usize::from(default_mss(f))),
            "{sizes:?}"
        );
        assert_eq!(sizes[0], usize::from(default_mss(f)));

        // Active side: a SYN-ACK without options.
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|_| true));
        let c = net
            .client
            .connect(net.now, f.client(0), f.server(80))
            .unwrap();
        net.flush();
        let syn = net.log[0].clone();
        send_to(
            &mut net,
            Side::Client,
            syn.dst,
            syn.src,
            &raw(SeqNumber(9000), syn.seq + 1, TcpFlags::SYN | TcpFlags::ACK),
        );
        assert_eq!(net.client.state(c), State::Established);
        let info = net.client.info(c).unwrap();
        assert_eq!(info.peer_mss, default_mss(f));
        assert_eq!(info.snd_mss, default_mss(f));
        assert!(!info.timestamps && !info.sack);
        assert_eq!((info.snd_wscale, info.rcv_wscale), (0, 0));
        let ack = net.sent_by(Side::Client).last().copied().unwrap().clone();
        assert_eq!(ack.flags, TcpFlags::ACK);
        assert!(
            ack.raw_options.is_empty(),
            "no timestamps when not negotiated"
        );
    }
);

dual!(
    rfc9293_must_65_rfc7323_3_2_mss_only_on_syn_ts_on_every_segment,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        let a = pattern(100 * 1024, 1);
        let b = pattern(100 * 1024, 2);
        net.capp.to_send = a.iter().copied().collect();
        net.sapp.to_send = b.iter().copied().collect();
        net.run_until(Duration::from_secs(30), |n| {
            n.sapp.received.len() == a.len() && n.capp.received.len() == b.len()
        });
        assert!(net.sapp.received == a && net.capp.received == b);
        net.client.close(net.now, c).unwrap();
        net.server.close(net.now, s).unwrap();
        net.run_to_quiet();
        assert!(net.log.len() > 150, "a real transfer: {}", net.log.len());
        for seg in &net.log {
            if seg.has(TcpFlags::SYN) {
                assert!(seg.options.mss.is_some());
                continue;
            }
            assert_eq!(seg.options.mss, None, "MSS outside SYN: {seg:?}");
            assert_eq!(seg.options.window_scale, None, "wscale outside SYN");
            assert!(!seg.options.sack_permitted, "sackOK outside SYN");
            assert!(
                seg.has(TcpFlags::RST) || seg.options.timestamps.is_some(),
                "no TS on {seg:?}"
            );
            if !seg.has(TcpFlags::RST) {
                assert_eq!(&seg.raw_options[..4], &[1, 1, 8, 10], "nop, nop, TS");
                assert_eq!(seg.raw_options.len(), 12);
            }
        }
    }
);

dual!(
    rfc7323_2_2_window_scale_only_when_both_syns_carry_it,
    |f: Family| {
        for (cws, sws) in [(true, true), (false, true), (true, false), (false, false)] {
            let ccfg = Config {
                window_scaling: cws,
                ..Config::linux()
            };
            let scfg = Config {
                window_scaling: sws,
                ..Config::linux()
            };
            let mut net = Net::with_configs(f, ccfg, scfg);
            let (c, s) = net.established();
            let (syn, synack, ack) = (&net.log[0], &net.log[1], &net.log[2]);
            let what = format!("client {cws}, server {sws}");
            assert_eq!(syn.options.window_scale.is_some(), cws, "{what}");
            assert_eq!(
                synack.options.window_scale.is_some(),
                cws && sws,
                "{what}: the SYN-ACK carries wscale only in answer to one"
            );
            let shift = if cws && sws { 7 } else { 0 };
            for info in [net.client.info(c).unwrap(), net.server.info(s).unwrap()] {
                assert_eq!((info.snd_wscale, info.rcv_wscale), (shift, shift), "{what}");
            }
            // The client's first window after the handshake: the SYN's
            // (half of tcp_rmem[1] in whole segments), never shrunk, rounded
            // up to the scale's unit (Linux tcp_select_window()).
            let mss = u32::from(mss_1500(f));
            let first = 65_536 / mss * mss;
            assert_eq!(u32::from(ack.window), first.div_ceil(1 << shift), "{what}");
        }
    }
);

// ---- Backlog (Linux-like) ----------------------------------------------------------

fn syn_from(net: &mut Net, f: Family, port: u16, seq: u32) -> Vec<Seg> {
    send_to(
        net,
        Side::Server,
        f.client(port),
        f.server(80),
        &raw(SeqNumber(seq), SeqNumber(0), TcpFlags::SYN).opts(mss_opt(1460)),
    )
}

fn ack_from(net: &mut Net, f: Family, port: u16, seq: u32, synack: &Seg) -> Vec<Seg> {
    send_to(
        net,
        Side::Server,
        f.client(port),
        f.server(80),
        &raw(SeqNumber(seq + 1), synack.seq + 1, TcpFlags::ACK),
    )
}

/// A server with `server` as its configuration listening on port 80 with
/// `backlog`, whose packets to the client are dropped (the tests act as
/// the client), and an application that does not accept.
fn silent_listener(f: Family, server: Config, backlog: usize) -> (Net, finack_core::ListenerId) {
    let mut net = Net::with_configs(f, Config::linux(), server);
    net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
    let now = net.now;
    net.sapp.conn = Some(dead_handle(&mut net.server, now, f));
    let l = net.server.listen(f.server(80), backlog).unwrap();
    net.sapp.listener = Some(l);
    (net, l)
}

fn n_in(ep: &Endpoint, st: State) -> usize {
    ep.count_by_state()
        .iter()
        .find(|(s, _)| *s == st)
        .map_or(0, |e| e.1)
}

dual!(linux_backlog_syn_queue_overflow_drops_syn, |f: Family| {
    // Linux with tcp_syncookies = 0 (with cookies, see the RFC 4987 test).
    // Backlog 1: Linux's SYN queue is full only when more than the backlog
    // wait (inet_csk_reqsk_queue_is_full()), so it holds two.
    let server = Config {
        syn_cookies: false,
        ..Config::linux()
    };
    let (mut net, _) = silent_listener(f, server, 1);
    // A client that never completes its handshakes.
    let r1 = syn_from(&mut net, f, 4001, 1000);
    let r2 = syn_from(&mut net, f, 4002, 2000);
    let r3 = syn_from(&mut net, f, 4003, 3000);
    assert_eq!(r1.len(), 1);
    assert_eq!(r2.len(), 1);
    assert!(r3.is_empty(), "third SYN dropped silently: {r3:?}");
    assert_eq!(net.server.stats().syn_queue_overflow, 1);
    assert_eq!(n_in(&net.server, State::SynReceived), 2);
    assert_eq!(net.server.connection_count(), 2);
    // One handshake completes: the SYN queue has room again.
    ack_from(&mut net, f, 4001, 1000, &r1[0]);
    assert_eq!(n_in(&net.server, State::SynReceived), 1);
    let r3 = syn_from(&mut net, f, 4003, 3000);
    assert_eq!(r3.len(), 1, "the retried SYN is taken");
    assert_eq!(r3[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(net.server.stats().syn_queue_overflow, 1);
});

dual!(listen_backlog_fills_as_each_profile_says, |f: Family| {
    // Linux: a listener is full when more than its backlog wait
    // (sk_acceptq_is_full(); ss shows Recv-Q 1, 2, 3 for listen(fd, 0, 1,
    // 2) on 6.18); the RFC profile holds the backlog, at least one.
    for (cfg, backlog, holds) in [
        (Config::linux(), 0, 1),
        (Config::linux(), 1, 2),
        (Config::linux(), 2, 3),
        (Config::rfc9293(), 0, 1),
        (Config::rfc9293(), 1, 1),
        (Config::rfc9293(), 2, 2),
    ] {
        let server = Config {
            syn_cookies: false,
            ..cfg
        };
        let (mut net, l) = silent_listener(f, server, backlog);
        for i in 0..4u16 {
            let port = 4001 + i;
            let isn = 1000 * (u32::from(i) + 1);
            let r = syn_from(&mut net, f, port, isn);
            if let Some(sa) = r.first().cloned() {
                ack_from(&mut net, f, port, isn, &sa);
            }
        }
        assert_eq!(net.server.accept_queue_len(l), holds, "backlog {backlog}");
    }
});

dual!(
    linux_backlog_accept_queue_full_drops_final_ack,
    |f: Family| {
        // Backlog 1: like Linux, each queue is full only when more than the
        // backlog wait (sk_acceptq_is_full()), so both hold two; a SYN that
        // arrives while the accept queue is full is dropped. Order: SYN A,
        // SYN B, ACK A, SYN C, ACK B (queue full), ACK C.
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        // The application does not accept.
        let now = net.now;
        net.sapp.conn = Some(dead_handle(&mut net.server, now, f));
        let l = net.server.listen(f.server(80), 1).unwrap();
        net.sapp.listener = Some(l);
        let sa_a = syn_from(&mut net, f, 4001, 1000)[0].clone();
        let sa_b = syn_from(&mut net, f, 4002, 2000)[0].clone();
        ack_from(&mut net, f, 4001, 1000, &sa_a);
        assert_eq!(net.server.accept_queue_len(l), 1);
        assert_eq!(count(&net.sapp.events, Event::Incoming(l)), 1);
        let sa_c = syn_from(&mut net, f, 4003, 3000)[0].clone();
        ack_from(&mut net, f, 4002, 2000, &sa_b);
        assert_eq!(net.server.accept_queue_len(l), 2, "accept queue full");
        // The third handshake's final ACK is dropped; the connection stays half-open.
        let r = ack_from(&mut net, f, 4003, 3000, &sa_c);
        assert!(r.is_empty(), "dropped silently: {r:?}");
        assert_eq!(net.server.stats().accept_queue_overflow, 1);
        assert_eq!(net.server.accept_queue_len(l), 2);
        assert_eq!(n_in(&net.server, State::SynReceived), 1);
        assert_eq!(n_in(&net.server, State::Established), 2);
        // A new SYN while the accept queue is full is dropped too.
        let r = syn_from(&mut net, f, 4004, 4000);
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(net.server.stats().accept_queue_overflow, 2);
        // The application accepts one; the SYN-ACK to C is retransmitted and the
        // client's ACK (answering it) now completes the handshake.
        let a = net.server.accept(l).unwrap();
        assert_eq!(net.server.addrs(a).unwrap().1, f.client(4001));
        let synacks_to_c = |n: &Net| {
            n.sent_by(Side::Server)
                .iter()
                .filter(|s| s.dst == f.client(4003) && s.flags == TcpFlags::SYN | TcpFlags::ACK)
                .count()
        };
        assert!(net.run_until(Duration::from_secs(3), |n| synacks_to_c(n) == 2));
        let again = net.sent_by(Side::Server).last().copied().unwrap().clone();
        assert_eq!((again.seq, again.ack), (sa_c.seq, sa_c.ack));
        ack_from(&mut net, f, 4003, 3000, &sa_c);
        assert_eq!(n_in(&net.server, State::SynReceived), 0);
        assert_eq!(net.server.accept_queue_len(l), 2);
        let b = net.server.accept(l).unwrap();
        let c = net.server.accept(l).unwrap();
        assert_eq!(net.server.addrs(b).unwrap().1, f.client(4002));
        assert_eq!(net.server.addrs(c).unwrap().1, f.client(4003));
        assert_eq!(net.server.state(c), State::Established);
        assert_eq!(net.server.stats().accept_queue_overflow, 2);
    }
);

dual!(linux_abort_on_overflow_resets_the_handshake, |f: Family| {
    // tcp_abort_on_overflow = 1 (tcp_check_req(), embryonic_reset): the
    // ACK that completes a handshake while the accept queue is full gets a
    // reset, and the request is gone.
    let server = Config {
        abort_on_overflow: true,
        ..Config::linux()
    };
    let (mut net, l) = silent_listener(f, server, 1);
    let sa_a = syn_from(&mut net, f, 4001, 1000)[0].clone();
    let sa_b = syn_from(&mut net, f, 4002, 2000)[0].clone();
    ack_from(&mut net, f, 4001, 1000, &sa_a);
    let sa_c = syn_from(&mut net, f, 4003, 3000)[0].clone();
    ack_from(&mut net, f, 4002, 2000, &sa_b);
    assert_eq!(net.server.accept_queue_len(l), 2, "accept queue full");
    let r = ack_from(&mut net, f, 4003, 3000, &sa_c);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].has(TcpFlags::RST));
    // <SEQ=SEG.ACK><CTL=RST> for the ACK.
    assert_eq!(r[0].seq, sa_c.seq + 1);
    assert_eq!(net.server.stats().accept_queue_overflow, 1);
    assert_eq!(n_in(&net.server, State::SynReceived), 0);
    assert_eq!(net.server.accept_queue_len(l), 2);
    // Without the sysctl the same ACK is dropped (the test above).
});

dual!(
    linux_max_syn_backlog_keeps_a_quarter_without_cookies,
    |f: Family| {
        // tcp_conn_request(): with tcp_syncookies = 0, a SYN is dropped once
        // the listener's half-open connections leave less than a quarter of
        // tcp_max_syn_backlog (no peer is "proven": finack keeps no metrics).
        let server = Config {
            syn_cookies: false,
            max_syn_backlog: 8,
            ..Config::linux()
        };
        let (mut net, _) = silent_listener(f, server, 100);
        for i in 0..8u16 {
            let r = syn_from(&mut net, f, 4001 + i, 1000 * (u32::from(i) + 1));
            // 8 - 7 half-open < 8 / 4: the eighth is dropped.
            assert_eq!(r.len(), usize::from(i < 7), "SYN {i}: {r:?}");
        }
        assert_eq!(n_in(&net.server, State::SynReceived), 7);
        assert_eq!(net.server.stats().syn_backlog_drop, 1);
        assert_eq!(net.server.stats().syn_queue_overflow, 0);
    }
);

// ---- RFC 6528 / MUST-8: ISN --------------------------------------------------------

dual!(
    rfc6528_must_8_isn_clock_driven_and_keyed_by_tuple,
    |f: Family| {
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|_| true));
        let isn = |net: &mut Net, port: u16| {
            let c = net
                .client
                .connect(net.now, f.client(port), f.server(80))
                .unwrap();
            net.flush();
            let syn = net.log.last().unwrap().clone();
            assert_eq!(syn.flags, TcpFlags::SYN);
            assert_eq!(syn.src, f.client(port));
            net.client.close(net.now, c).unwrap();
            assert_eq!(net.client.state(c), State::Closed);
            syn.seq
        };
        let a = isn(&mut net, 5000);
        net.run_for(Duration::from_millis(4));
        let b = isn(&mut net, 5000);
        assert_eq!(b - a, 1000, "4 ms at one tick per 4 us");
        // Another port at the same moment: unrelated.
        let other = isn(&mut net, 5001);
        let d = (other - b).unsigned_abs();
        assert!(d > 1_000_000, "ISNs of different tuples too close: {d}");
        // The same tuple later still follows the clock.
        net.run_for(Duration::from_secs(1));
        let later = isn(&mut net, 5000);
        assert_eq!(later - b, 250_000);
    }
);

// ---- RFC 6298 / MUST-18: retransmission -------------------------------------------

dual!(rfc6298_2_1_initial_rto_is_one_second, |f: Family| {
    let mut net = Net::new(f);
    let mut dropped = false;
    net.drop = Some(Box::new(move |s: &Seg| {
        if !dropped && s.flags == TcpFlags::SYN {
            dropped = true;
            return true;
        }
        false
    }));
    let c = net.open();
    assert!(net.run_until(Duration::from_secs(5), |n| n.sapp.conn.is_some()));
    let syns: Vec<_> = net
        .sent_by(Side::Client)
        .into_iter()
        .filter(|s| s.flags == TcpFlags::SYN)
        .cloned()
        .collect();
    assert_eq!(syns.len(), 2);
    assert_eq!(syns[1].time - syns[0].time, Duration::from_secs(1));
    assert_eq!(syns[0].seq, syns[1].seq);
    let info = net.client.info(c).unwrap();
    assert_eq!(info.state, State::Established);
    assert_eq!(info.total_retransmits, 1);
    assert_eq!(net.client.stats().retransmits, 1);
});

dual!(
    rfc6298_5_lost_segment_retransmitted_with_doubling_rto,
    |f: Family| {
        // Without a tail loss probe, which would take the first timeout's place
        // (see the RFC 8985 tests).
        let cfg = Config {
            tail_loss_probe: false,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, cfg, Config::linux());
        let (c, _s) = net.established();
        let info = net.client.info(c).unwrap();
        assert!(info.srtt.is_some(), "RTT measured in the handshake");
        let rto = info.rto;
        assert!(rto >= Duration::from_millis(200) && rto < Duration::from_secs(1));
        let mut drops = 3;
        net.drop = Some(Box::new(move |s: &Seg| {
            if s.from == Side::Client && s.len > 0 && drops > 0 {
                drops -= 1;
                return true;
            }
            false
        }));
        let data = pattern(1000, 9);
        net.client.send(net.now, c, &data).unwrap();
        let data_tx = |n: &Net| {
            n.sent_by(Side::Client)
                .into_iter()
                .filter(|s| s.len > 0)
                .map(|s| s.time)
                .collect::<Vec<_>>()
        };
        net.run_until(Duration::from_secs(10), |n| data_tx(n).len() == 3);
        let info = net.client.info(c).unwrap();
        assert_eq!(info.backoff, 2, "two timeouts so far");
        assert_eq!(info.rto, rto * 4, "backed-off RTO");
        assert_eq!(info.total_retransmits, 2);
        net.run_until(Duration::from_secs(10), |n| n.sapp.received.len() == 1000);
        assert_eq!(net.sapp.received, data, "data intact");
        let tx = data_tx(&net);
        assert_eq!(tx.len(), 4, "{}", net.trace());
        assert_eq!(tx[1] - tx[0], rto, "first retransmission after one RTO");
        assert_eq!(tx[2] - tx[1], rto * 2, "RTO doubled");
        assert_eq!(tx[3] - tx[2], rto * 4, "and doubled again");
        net.run_for(Duration::from_millis(100));
        let info = net.client.info(c).unwrap();
        assert_eq!(info.total_retransmits, 3);
        assert_eq!(net.client.stats().retransmits, 3);
        assert_eq!(info.backoff, 0, "backoff cleared by the ACK");
        assert_eq!(info.unacked, 0);
    }
);

dual!(
    rfc9293_must_18_karn_no_rtt_sample_from_retransmission,
    |f: Family| {
        // Without timestamps the RTT comes from timing segments (Karn's algorithm).
        let cfg = Config {
            timestamps: false,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, cfg.clone(), cfg);
        let (c, _s) = net.established();
        let before = net.client.info(c).unwrap();
        assert_eq!(before.srtt, Some(Duration::from_millis(20)), "from the SYN");
        let mut dropped = false;
        net.drop = Some(Box::new(move |s: &Seg| {
            if !dropped && s.from == Side::Client && s.len > 0 {
                dropped = true;
                return true;
            }
            false
        }));
        net.client.send(net.now, c, &pattern(100, 1)).unwrap();
        net.run_until(Duration::from_secs(5), |n| n.sapp.received.len() == 100);
        net.run_for(Duration::from_millis(50));
        let after = net.client.info(c).unwrap();
        assert_eq!(after.total_retransmits, 1);
        assert_eq!(after.unacked, 0);
        assert_eq!(
            (after.srtt, after.rttvar),
            (before.srtt, before.rttvar),
            "the ambiguous ACK gave no sample"
        );
        // Control: an unambiguous exchange does feed the estimator.
        net.client.send(net.now, c, &pattern(100, 2)).unwrap();
        net.run_for(Duration::from_millis(100));
        let control = net.client.info(c).unwrap();
        assert_ne!(control.rttvar, before.rttvar, "a clean ACK is sampled");
    }
);

// ---- Out-of-order data ---------------------------------------------------------------

dual!(
    rfc9293_shld_31_may_13_out_of_order_queued_and_acked_at_once,
    |f: Family| {
        // The sender's tail loss probe would resend the last segment, and
        // RACK's reordering timer the first, within the 50 ms looked at;
        // this test is about the receiver.
        let ccfg = Config {
            tail_loss_probe: false,
            rack: false,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, ccfg, Config::linux());
        let (c, s) = net.established();
        let mss = usize::from(net.client.info(c).unwrap().snd_mss);
        let mut dropped = false;
        net.drop = Some(Box::new(move |s: &Seg| {
            if !dropped && s.from == Side::Client && s.len > 0 {
                dropped = true;
                return true;
            }
            false
        }));
        let data = pattern(3 * mss, 7);
        let mark = net.log.len();
        net.client.send(net.now, c, &data).unwrap();
        net.run_for(Duration::from_millis(50));
        let sent: Vec<Seg> = net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0)
            .cloned()
            .collect();
        assert_eq!(sent.len(), 3);
        assert!(sent[0].dropped && !sent[1].dropped && !sent[2].dropped);
        let gap = sent[0].seq;
        // Segments 2 and 3 arrived first: each answered at once with a duplicate ACK.
        let acks: Vec<Seg> = net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Server)
            .cloned()
            .collect();
        assert_eq!(acks.len(), 2, "{}", net.trace());
        for (ack, seg) in acks.iter().zip(&sent[1..]) {
            assert_eq!(ack.ack, gap, "duplicate ACK for RCV.NXT");
            assert_eq!(ack.time, seg.time + net.latency, "sent immediately");
        }
        assert!(
            net.sapp.received.is_empty(),
            "nothing readable across the gap"
        );
        assert_eq!(net.server.info(s).unwrap().readable, 0);
        assert_eq!(count(&net.sapp.events, Event::Readable(s)), 0);
        // The retransmission fills the gap: everything is delivered, in order.
        net.run_until(Duration::from_secs(5), |n| {
            n.sapp.received.len() == data.len()
        });
        assert_eq!(net.sapp.received, data);
        let last = net.sent_by(Side::Server).last().copied().unwrap().clone();
        assert_eq!(last.ack, gap + (3 * mss) as u32, "one ACK covers all three");
        assert_eq!(net.client.info(c).unwrap().total_retransmits, 1);
    }
);

// ---- shutdown(Read) -----------------------------------------------------------------

dual!(
    linux_shutdown_read_keeps_acking_and_queueing,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        net.sapp.read = false;
        let mark = net.log.len();
        net.server.shutdown(net.now, s, Shutdown::Read).unwrap();
        assert_eq!(
            net.server.recv(net.now, s, &mut [0u8; 16]),
            Ok(0),
            "end of stream"
        );
        net.client.send(net.now, c, b"after shutdown").unwrap();
        net.run_for(Duration::from_millis(100));
        assert_eq!(net.client.info(c).unwrap().unacked, 0, "data acknowledged");
        assert!(
            net.log[mark..]
                .iter()
                .all(|s| !s.has(TcpFlags::FIN) && !s.has(TcpFlags::RST)),
            "shutdown(Read) sends nothing"
        );
        assert_eq!(net.server.state(s), State::Established);
        let mut buf = [0u8; 64];
        let n = net.server.recv(net.now, s, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"after shutdown", "queued data readable");
        assert_eq!(
            net.server.recv(net.now, s, &mut buf),
            Ok(0),
            "then end of stream"
        );
    }
);

// ---- Events ---------------------------------------------------------------------------

dual!(rfc9293_3_9_events_in_order, |f: Family| {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    net.sapp.listener = Some(l);
    net.sapp.read = true;
    net.capp.read = true;
    let c = net
        .client
        .connect(net.now, f.client(0), f.server(80))
        .unwrap();
    net.capp.conn = Some(c);
    net.flush();
    assert!(net.capp.events.is_empty(), "nothing before the SYN-ACK");
    net.run_until(Duration::from_secs(1), |n| n.sapp.conn.is_some());
    let s = net.sapp.conn.unwrap();
    assert_eq!(net.capp.events.first(), Some(&Event::Connected(c)));
    assert_eq!(net.sapp.events.first(), Some(&Event::Incoming(l)));
    assert_eq!(count(&net.sapp.events, Event::Readable(s)), 0);
    // Data: Readable on the server.
    net.client.send(net.now, c, b"hello").unwrap();
    net.run_for(Duration::from_millis(100));
    assert!(count(&net.sapp.events, Event::Readable(s)) >= 1);
    assert_eq!(net.sapp.received, b"hello");
    assert_eq!(count(&net.sapp.events, Event::PeerClosed(s)), 0);
    // FIN: PeerClosed (and end of stream).
    net.client.shutdown(net.now, c, Shutdown::Write).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(count(&net.sapp.events, Event::PeerClosed(s)), 1);
    assert!(net.sapp.eof);
    assert_eq!(net.server.state(s), State::CloseWait);
    // Closes: the server's ends at the final ACK, the client's after TIME-WAIT.
    net.server.shutdown(net.now, s, Shutdown::Write).unwrap();
    net.run_until(Duration::from_secs(1), |n| {
        n.server.state(s) == State::Closed
    });
    let normal = |conn| Event::Closed {
        conn,
        reason: CloseReason::Normal,
    };
    assert_eq!(net.sapp.events.last(), Some(&normal(s)));
    assert_eq!(count(&net.capp.events, Event::PeerClosed(c)), 1);
    assert_eq!(net.client.state(c), State::TimeWait);
    assert_eq!(count(&net.capp.events, normal(c)), 0, "not before 2MSL");
    net.run_to_quiet();
    assert_eq!(net.capp.events.last(), Some(&normal(c)));
    assert_eq!(count(&net.capp.events, normal(c)), 1);
    assert_eq!(count(&net.sapp.events, normal(s)), 1);
});

dual!(rfc9293_must_12_refused_reported, |f: Family| {
    let mut net = Net::new(f);
    let c = net
        .client
        .connect(net.now, f.client(0), f.server(81))
        .unwrap();
    net.capp.conn = Some(c);
    net.run_until(Duration::from_secs(1), |n| {
        n.client.state(c) == State::Closed
    });
    assert_eq!(
        net.capp.events,
        [Event::Closed {
            conn: c,
            reason: CloseReason::Refused
        }]
    );
    assert_eq!(
        net.client.recv(net.now, c, &mut [0u8; 4]),
        Err(Error::ConnectionRefused)
    );
    assert_eq!(
        net.client.send(net.now, c, b"x"),
        Err(Error::ConnectionRefused)
    );
});

dual!(rfc9293_must_12_reset_reported, |f: Family| {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    net.sapp.conn = None;
    net.server.abort(net.now, s).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.client.state(c), State::Closed);
    assert_eq!(
        net.capp.events.last(),
        Some(&Event::Closed {
            conn: c,
            reason: CloseReason::Reset
        })
    );
    assert_eq!(
        net.client.recv(net.now, c, &mut [0u8; 4]),
        Err(Error::ConnectionReset)
    );
    assert_eq!(
        net.client.send(net.now, c, b"x"),
        Err(Error::ConnectionReset)
    );
});

dual!(rfc9293_must_20_timed_out_reported, |f: Family| {
    // Doubling from the first timeout (Linux before 6.5).
    let cfg = Config {
        syn_retries: 2,
        syn_linear_timeouts: 0,
        ..Config::linux()
    };
    let mut net = Net::with_configs(f, cfg, Config::linux());
    net.drop = Some(Box::new(|_| true));
    let c = net.open();
    let t0 = net.now;
    net.run_until(Duration::from_secs(60), |n| {
        n.client.state(c) == State::Closed
    });
    assert_eq!(net.now - t0, Duration::from_secs(7), "1 + 2 + 4 s");
    assert_eq!(net.log.len(), 3, "SYN + 2 retries");
    assert_eq!(
        net.capp.events,
        [Event::Closed {
            conn: c,
            reason: CloseReason::TimedOut
        }]
    );
    assert_eq!(
        net.client.recv(net.now, c, &mut [0u8; 4]),
        Err(Error::TimedOut)
    );
    assert_eq!(net.client.stats().timeouts, 1);
});

// Linux 6.5+ tcp_retransmit_timer() with tcp_syn_linear_timeouts = 4: the
// first four SYN timeouts keep the 1 s RTO; tcp_write_timeout() allows
// syn_retries + 4 resends, but no longer than the time syn_retries
// doubling timeouts take from the first SYN (retransmits_timed_out():
// (2^(n+1) - 1) s), whichever ends first. Both checked on Linux 6.18
// (packetdrill, syn_retries 1 and 2).
dual!(
    linux_syn_timeouts_are_linear_then_bounded_by_time,
    |f: Family| {
        for (retries, linear, sends, gives_up) in [
            // One retry: the 3 s budget ends it after two resends.
            (1, 4, vec![0, 1, 2], 3),
            // Two: 7 s; resends at 1, 2, 3, 4 s (linear), 5 s (the fifth
            // timeout doubles the next wait to 2 s, past the budget).
            (2, 4, vec![0, 1, 2, 3, 4, 5], 7),
            // Six (the default): 0..5 s, then 7, 11, 19, 35, 67; 131 s in all.
            (6, 4, vec![0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67], 131),
            // Without linear timeouts: doubling, 127 s.
            (6, 0, vec![0, 1, 3, 7, 15, 31, 63], 127),
        ] {
            let cfg = Config {
                syn_retries: retries,
                syn_linear_timeouts: linear,
                ..Config::linux()
            };
            let mut net = Net::with_configs(f, cfg, Config::linux());
            net.drop = Some(Box::new(|_| true));
            let c = net.open();
            let t0 = net.now;
            net.run_until(Duration::from_secs(300), |n| {
                n.client.state(c) == State::Closed
            });
            let at: Vec<u64> = net.log.iter().map(|s| (s.time - t0).as_secs()).collect();
            assert_eq!(at, sends, "syn_retries {retries}, linear {linear}");
            assert_eq!((net.now - t0).as_secs(), gives_up, "syn_retries {retries}");
            assert_eq!(
                net.client.recv(net.now, c, &mut [0u8; 4]),
                Err(Error::TimedOut)
            );
        }
    }
);

dual!(
    rfc9293_3_10_2_send_after_shutdown_write_is_broken_pipe,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.client.shutdown(net.now, c, Shutdown::Write).unwrap();
        assert_eq!(net.client.send(net.now, c, b"late"), Err(Error::BrokenPipe));
        net.run_for(Duration::from_millis(100));
        assert_eq!(net.client.state(c), State::FinWait2);
        assert_eq!(net.client.send(net.now, c, b"late"), Err(Error::BrokenPipe));
        assert!(
            net.sent_by(Side::Client).iter().all(|s| s.len == 0),
            "nothing of it sent"
        );
    }
);

// ---- Urgent data (MUST-30/32/33) -------------------------------------------------------

/// The peer sends "abcdef" with the urgent pointer 3 bytes in.
fn urgent_abcdef(net: &mut Net, c: ConnId) {
    let v = client_view(net, c);
    send_to(
        net,
        Side::Client,
        v.remote,
        v.local,
        &raw(
            v.rcv_nxt,
            v.snd_nxt,
            TcpFlags::ACK | TcpFlags::PSH | TcpFlags::URG,
        )
        .urgent(3)
        .data(b"abcdef"),
    );
}

dual!(
    rfc9293_must_30_32_33_urgent_pointer_signalled,
    |f: Family| {
        // Urgent data in the stream, as the RFC has it (Linux's out-of-band
        // byte is `linux_urgent_byte_leaves_the_stream`).
        let mut in_band = Config::linux();
        in_band.urgent_oob = false;
        let mut net = Net::with_configs(f, in_band, Config::linux());
        let (c, _s) = net.established();
        net.capp.read = false;
        assert_eq!(net.client.urgent_pending(c), 0);
        urgent_abcdef(&mut net, c);
        assert_eq!(count(&net.capp.events, Event::Urgent(c)), 1);
        assert_eq!(net.client.urgent_pending(c), 3, "octets up to the pointer");
        let mut buf = [0u8; 2];
        assert_eq!(net.client.recv(net.now, c, &mut buf), Ok(2));
        assert_eq!(net.client.urgent_pending(c), 1);
        let mut buf = [0u8; 8];
        assert_eq!(net.client.recv(net.now, c, &mut buf), Ok(4));
        assert_eq!(net.client.urgent_pending(c), 0, "read past the urgent data");
    }
);

dual!(linux_urgent_byte_leaves_the_stream, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.capp.read = false;
    urgent_abcdef(&mut net, c);
    assert_eq!(count(&net.capp.events, Event::Urgent(c)), 1);
    // BSD semantics: the byte before the pointer ("c") is out of band; a
    // read stops in front of it, recv_oob returns it once, the next read
    // skips it.
    assert!(net.client.oob_waiting(c));
    let mut buf = [0u8; 8];
    assert_eq!(net.client.recv(net.now, c, &mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ab");
    assert!(net.client.at_urgent_mark(c));
    assert_eq!(net.client.recv_oob(c, true), Ok(Some(b'c')));
    assert_eq!(net.client.recv_oob(c, false), Ok(Some(b'c')));
    assert_eq!(net.client.recv_oob(c, false), Err(Error::InvalidArgument));
    assert!(!net.client.oob_waiting(c));
    assert_eq!(net.client.recv(net.now, c, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"def");
    assert!(!net.client.at_urgent_mark(c));
});

// ---- connect / listen argument checks -----------------------------------------------

dual!(
    rfc9293_must_46_connect_rejects_unusable_remote,
    |f: Family| {
        let mut net = Net::new(f);
        let bad: Vec<SocketAddr> = match f {
            Family::V4 => [
                "224.0.0.1:80",
                "255.255.255.255:80",
                "0.0.0.0:80",
                "192.0.2.2:0",
            ],
            Family::V6 => ["[ff02::1]:80", "[ff0e::5]:80", "[::]:80", "[2001:db8::2]:0"],
        }
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for remote in bad {
            for local in [any_local(f), f.client(0), f.client(5000)] {
                assert_eq!(
                    net.client.connect(net.now, local, remote),
                    Err(Error::InvalidAddress),
                    "{local} -> {remote}"
                );
            }
        }
        // Mixed families.
        let other: SocketAddr = match f {
            Family::V4 => "[::]:0".parse().unwrap(),
            Family::V6 => "0.0.0.0:0".parse().unwrap(),
        };
        assert_eq!(
            net.client.connect(net.now, other, f.server(80)),
            Err(Error::InvalidAddress)
        );
        net.flush();
        assert!(net.log.is_empty(), "nothing sent");
        assert_eq!(net.client.connection_count(), 0);
    }
);

dual!(
    rfc9293_must_44_connect_local_address_must_be_ours,
    |f: Family| {
        let mut net = Net::new(f);
        let not_ours: IpAddr = match f {
            Family::V4 => "192.0.2.99".parse().unwrap(),
            Family::V6 => "2001:db8::99".parse().unwrap(),
        };
        for port in [0, 5000] {
            assert_eq!(
                net.client
                    .connect(net.now, SocketAddr::new(not_ours, port), f.server(80)),
                Err(Error::AddrNotAvailable)
            );
        }
        // No local address of the remote's family at all.
        let (local, remote): (SocketAddr, SocketAddr) = match f {
            Family::V4 => (
                "[::]:0".parse().unwrap(),
                "[2001:db8::2]:80".parse().unwrap(),
            ),
            Family::V6 => (
                "0.0.0.0:0".parse().unwrap(),
                "192.0.2.2:80".parse().unwrap(),
            ),
        };
        assert_eq!(
            net.client.connect(net.now, local, remote),
            Err(Error::AddrNotAvailable)
        );
        net.flush();
        assert!(net.log.is_empty());
    }
);

dual!(
    linux_connect_same_tuple_twice_addr_not_available,
    |f: Family| {
        // Linux __inet_check_established(): a bound port whose 4-tuple is taken
        // fails connect() with EADDRNOTAVAIL.
        let mut net = Net::new(f);
        let c = net
            .client
            .connect(net.now, f.client(5000), f.server(80))
            .unwrap();
        assert_eq!(
            net.client.connect(net.now, f.client(5000), f.server(80)),
            Err(Error::AddrNotAvailable)
        );
        assert_eq!(
            net.client.connect(
                net.now,
                SocketAddr::new(any_local(f).ip(), 5000),
                f.server(80)
            ),
            Err(Error::AddrNotAvailable),
            "unspecified local IP resolves to the same tuple"
        );
        // Another remote port from the same local port is fine.
        let c2 = net
            .client
            .connect(net.now, f.client(5000), f.server(81))
            .unwrap();
        assert_ne!(c, c2);
        assert_eq!(net.client.state(c), State::SynSent);
    }
);

dual!(linux_listen_twice_addr_in_use, |f: Family| {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    assert_eq!(net.server.listen(f.server(80), 4), Err(Error::AddrInUse));
    assert_eq!(
        net.server.listen(f.server(0), 4),
        Err(Error::InvalidAddress)
    );
    assert_eq!(net.server.listener_state(l), State::Listen);
    net.server.close_listener(net.now, l).unwrap();
    assert!(net.server.listen(f.server(80), 4).is_ok(), "free again");
});

/// Client receiver with a window of exactly three segments, app not reading;
/// the server sends `total` bytes until the client's window is closed.
fn closed_window(f: Family, total: usize) -> (Net, ConnId, ConnId, usize) {
    let seg = usize::from(mss_1500(f) - 12);
    // A window of exactly three segments: the byte-counted window
    // (`rcv_memory` off), not Linux's share of memory.
    let ccfg = Config {
        recv_buffer: 3 * seg,
        window_scaling: false,
        rcv_memory: false,
        ..Config::linux()
    };
    let mut net = Net::with_configs(f, ccfg, Config::linux());
    let (c, s) = net.established();
    net.capp.read = false;
    net.sapp.to_send = pattern(total, 1).into_iter().collect();
    assert!(net.run_until(Duration::from_secs(1), |n| {
        n.client.info(c).unwrap().readable as usize == 3 * seg
            && n.server.info(s).unwrap().snd_wnd == 0
    }));
    (net, c, s, seg)
}

dual!(rfc9293_3_10_7_4_zero_window_probe_is_acked, |f: Family| {
    let (mut net, c, _s, _) = closed_window(f, 3 * 1448);
    net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
    let v = client_view(&net, c);
    assert_eq!(v.rcv_wnd, 0);
    let r = send_to(
        &mut net,
        Side::Client,
        v.remote,
        v.local,
        &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK).data(b"P"),
    );
    assert_single_ack(&r, v, "zero-window probe");
    assert_eq!(r[0].window, 0);
});

dual!(
    rfc9293_must_36_sender_keeps_probing_zero_window,
    |f: Family| {
        let (mut net, _c, s, _) = closed_window(f, 20_000);
        let mark = net.log.len();
        net.run_for(Duration::from_secs(600));
        // A probe is one octet (RFC 9293 §3.8.6.1) or, in the Linux
        // profile, a bare ACK below SND.UNA (tcp_xmit_probe_skb): the
        // server sends nothing else while the window stays shut.
        let probes = net.log[mark..]
            .iter()
            .filter(|x| x.from == Side::Server)
            .count();
        assert!(
            probes >= 5,
            "{probes} probe(s) in 10 minutes; server timer: {:?}\n{}",
            net.server.poll_timeout(),
            net.trace()
        );
        assert_eq!(net.server.state(s), State::Established);
    }
);

dual!(
    rfc9293_must_36_37_zero_window_probed_never_aborted,
    |f: Family| {
        let (mut net, c, s, _) = closed_window(f, 20_000);
        let data = pattern(20_000, 1);
        let closed = net.now;
        let mark = net.log.len();
        net.run_for(Duration::from_secs(30 * 60));
        assert_eq!(net.client.state(c), State::Established);
        assert_eq!(net.server.state(s), State::Established);
        let probes: Vec<Seg> = net.log[mark..]
            .iter()
            // Answered by now: sent at least a round trip before the end.
            .filter(|x| x.from == Side::Server && x.time + net.latency * 2 <= net.now)
            .cloned()
            .collect();
        assert!(
            probes.len() > 15,
            "probing continues past retries2 (15): {} probe(s)\n{}",
            probes.len(),
            net.trace()
        );
        assert!(probes[0].time - closed <= Duration::from_secs(1));
        let gaps: Vec<Duration> = probes.windows(2).map(|w| w[1].time - w[0].time).collect();
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
        // The interval doubles. Each runs from the answer to the probe
        // before, a round trip after it (Linux tcp_ack_probe() sets the
        // timer again from the answer), or from the probe when its answer
        // was rate-limited (the second, below): a round trip either way.
        // At most the largest RTO apart.
        assert!(gaps[1] + net.latency * 4 >= gaps[0] * 2, "{gaps:?}");
        assert!(
            *gaps.last().unwrap() <= Duration::from_secs(120) + net.latency * 2,
            "{gaps:?}"
        );
        let answers = net.log[mark..]
            .iter()
            .filter(|x| x.from == Side::Client && x.window == 0)
            .count();
        // Every probe is answered, except that a bare-ACK probe (Linux
        // profile) below the window is an out-of-window segment whose reply
        // is rate-limited (RFC 5961 §7, `tcp_invalid_ratelimit`): the first
        // two probes, 200 ms apart, get one answer.
        assert!(
            answers + 1 >= probes.len(),
            "{answers} answers to {} probes",
            probes.len()
        );
        net.capp.read = true;
        assert!(
            net.run_until(Duration::from_secs(600), |n| n.capp.received.len()
                == data.len()),
            "{}",
            net.trace()
        );
        assert!(net.capp.received == data, "data intact");
    }
);

dual!(
    rfc9293_3_8_6_2_1_sender_sws_override_fills_small_window,
    |f: Family| {
        let ccfg = Config {
            recv_buffer: 4096,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, ccfg, Config::linux());
        let (c, s) = net.established();
        net.capp.read = false;
        net.sapp.to_send = pattern(20_000, 1).into_iter().collect();
        net.run_for(Duration::from_secs(10));
        let sinfo = net.server.info(s).unwrap();
        let cinfo = net.client.info(c).unwrap();
        assert!(
            cinfo.readable > 2 * u32::from(sinfo.snd_mss) || net.server.poll_timeout().is_some(),
            "sender stalled: client buffered {} of 4096, server has {} unsent with a {}-byte \
         window, nothing in flight, no timer ({:?})\n{}",
            cinfo.readable,
            sinfo.unsent,
            sinfo.snd_wnd,
            net.server.poll_timeout(),
            net.trace()
        );
    }
);

dual!(
    rfc9293_3_8_6_passive_open_window_respects_recv_buffer,
    |f: Family| {
        for isn in [0x1000_0000u32, 0x9000_0000] {
            // The memory of SO_RCVBUF 4096 (twice it), of which the window
            // may offer half at first (Linux tcp_full_space()).
            let scfg = Config {
                recv_buffer: 2 * 4096,
                ..Config::linux()
            };
            let mut net = Net::with_configs(f, Config::linux(), scfg);
            net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
            let l = net.server.listen(f.server(80), 4).unwrap();
            net.sapp.listener = Some(l);
            let cli = f.client(4000);
            let r = send_to(
                &mut net,
                Side::Server,
                cli,
                f.server(80),
                &raw(SeqNumber(isn), SeqNumber(0), TcpFlags::SYN).opts(TcpOptions {
                    mss: Some(1000),
                    window_scale: Some(7),
                    ..TcpOptions::default()
                }),
            );
            let synack = r[0].clone();
            // Within the buffer, in whole segments of our MSS (Linux
            // tcp_select_initial_window(): Config::quantize_syn_window).
            let mss = if f.client_ip().is_ipv4() { 1460 } else { 1440 };
            assert_eq!(
                synack.window,
                4096 / mss * mss,
                "SYN-ACK window, peer ISN {isn:#x}"
            );
            send_to(
                &mut net,
                Side::Server,
                cli,
                f.server(80),
                &raw(SeqNumber(isn + 1), synack.seq + 1, TcpFlags::ACK),
            );
            let s = net.sapp.conn.expect("accepted");
            net.sapp.read = false;
            for i in 0..8u32 {
                send_to(
                    &mut net,
                    Side::Server,
                    cli,
                    f.server(80),
                    &raw(SeqNumber(isn + 1 + i * 1000), synack.seq + 1, TcpFlags::ACK)
                        .data(&[i as u8; 1000]),
                );
            }
            let readable = net.server.info(s).unwrap().readable;
            assert!(
                readable <= 4096,
                "peer ISN {isn:#x}: {readable} bytes buffered in a 4096-byte receive buffer"
            );
        }
    }
);

/// Drop the client's data segments whose relative sequence offsets are listed
/// (once each), during a 100 kB upload. Returns the net after the transfer.
fn upload_with_losses(f: Family, lose: &'static [usize]) -> Net {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    let isn = net.log[0].seq;
    let mut done = vec![false; lose.len()];
    net.drop = Some(Box::new(move |seg: &Seg| {
        if seg.from != Side::Client || seg.len == 0 {
            return false;
        }
        let rel = (seg.seq - (isn + 1)) as usize;
        for (i, &at) in lose.iter().enumerate() {
            if !done[i] && rel <= at && at < rel + seg.len {
                done[i] = true;
                return true;
            }
        }
        false
    }));
    let data = pattern(100_000, 9);
    net.capp.to_send = data.iter().copied().collect();
    net.run_until(Duration::from_secs(30), |n| {
        n.sapp.received.len() == data.len()
    });
    assert!(net.sapp.received == data, "data intact\n{}", net.trace());
    assert_eq!(net.client.state(c), State::Established);
    net
}

dual!(
    rfc5681_3_2_three_duplicate_acks_trigger_fast_retransmit,
    |f: Family| {
        let net = upload_with_losses(f, &[30_000]);
        assert_eq!(net.client.stats().fast_retransmits, 1, "{}", net.trace());
        // The lost segment is resent after the duplicate ACKs, well before any RTO
        // (initial 1 s, minimum 200 ms).
        let lost = net.log.iter().find(|s| s.dropped).unwrap().clone();
        let resent = net
            .log
            .iter()
            .find(|s| {
                !s.dropped && s.from == Side::Client && s.seq == lost.seq && s.time > lost.time
            })
            .unwrap();
        assert!(
            resent.time - lost.time < Duration::from_millis(100),
            "{:?}",
            resent.time - lost.time
        );
        assert_eq!(
            net.client.stats().retransmits,
            1,
            "only the lost segment was resent"
        );
    }
);

dual!(
    rfc6582_3_2_partial_ack_retransmits_next_hole,
    |f: Family| {
        let net = upload_with_losses(f, &[30_000, 40_000]);
        assert_eq!(
            net.client.stats().fast_retransmits,
            1,
            "one recovery episode\n{}",
            net.trace()
        );
        assert_eq!(
            net.client.stats().retransmits,
            2,
            "both holes resent, nothing else"
        );
        let first_loss = net.log.iter().find(|s| s.dropped).unwrap().time;
        let last_resend = net
            .log
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0 && !s.dropped)
            .map(|s| s.time)
            .max()
            .unwrap();
        assert!(
            last_resend - first_loss < Duration::from_millis(200),
            "no RTO needed"
        );
    }
);

dual!(
    rfc2018_4_sack_blocks_report_out_of_order_data,
    |f: Family| {
        let net = upload_with_losses(f, &[30_000]);
        let lost = net.log.iter().find(|s| s.dropped).unwrap().clone();
        let hole_end = lost.seq + lost.len as u32;
        // The server's duplicate ACKs point at the hole and SACK what lies beyond it,
        // the block growing as segments keep arriving.
        let sacks: Vec<(SeqNumber, SeqNumber)> = net
            .log
            .iter()
            .filter(|s| s.from == Side::Server && s.ack == lost.seq)
            .filter_map(|s| s.options.sack_blocks.iter().next())
            .collect();
        assert!(
            sacks.len() >= 3,
            "duplicate ACKs carry SACK blocks\n{}",
            net.trace()
        );
        assert!(sacks.iter().all(|&(l, _)| l == hole_end), "{sacks:?}");
        assert!(sacks.windows(2).all(|w| w[1].1.ge(w[0].1)), "{sacks:?}");
        assert!(sacks.last().unwrap().1.gt(sacks[0].1));
        // Once the hole is filled no more SACK blocks are sent.
        let after: Vec<_> = net
            .log
            .iter()
            .filter(|s| s.from == Side::Server && s.ack.gt(hole_end))
            .collect();
        assert!(after.iter().all(|s| s.options.sack_blocks.is_empty()));
    }
);

/// An ICMP error about the last segment `from` sent, reported by `reporter`.
fn icmp_about(net: &Net, from: Side, kind: wire::icmp::IcmpKind, reporter: IpAddr) -> Vec<u8> {
    let seg = net.sent_by(from).last().copied().unwrap().clone();
    let quoted = craft(
        seg.src,
        seg.dst,
        seg.seq,
        seg.ack,
        seg.flags,
        seg.window,
        seg.options,
        &seg.payload,
    );
    let mut buf = vec![0u8; 2000];
    let n = wire::icmp::emit_icmp_error(kind, reporter, &quoted, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn router(f: Family) -> IpAddr {
    match f {
        Family::V4 => "198.51.100.1".parse().unwrap(),
        Family::V6 => "2001:db8:ffff::1".parse().unwrap(),
    }
}

dual!(
    rfc9293_shld_26_port_unreachable_refuses_a_connect,
    |f: Family| {
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|_| true));
        let c = net
            .client
            .connect(net.now, f.client(0), f.server(80))
            .unwrap();
        net.flush();
        let icmp = icmp_about(
            &net,
            Side::Client,
            wire::icmp::IcmpKind::Refused,
            f.server_ip(),
        );
        let now = net.now;
        net.client.handle_packet(now, &icmp).unwrap();
        assert_eq!(net.client.state(c), State::Closed);
        assert_eq!(net.client.close_reason(c), Some(CloseReason::Refused));
        assert_eq!(net.client.stats().icmp_in, 1);
    }
);

dual!(
    rfc9293_must_56_soft_icmp_errors_do_not_abort,
    |f: Family| {
        use wire::icmp::IcmpKind;
        for kind in [
            IcmpKind::Unreachable,
            IcmpKind::TimeExceeded,
            IcmpKind::ParameterProblem,
            IcmpKind::Refused,
        ] {
            let mut net = Net::new(f);
            let (c, _s) = net.established();
            net.drop = Some(Box::new(|_| true));
            net.client.send(net.now, c, b"hello").unwrap();
            net.flush();
            let icmp = icmp_about(&net, Side::Client, kind, router(f));
            let now = net.now;
            net.client.handle_packet(now, &icmp).unwrap();
            assert_eq!(net.client.state(c), State::Established, "{kind:?}");
            assert_eq!(
                net.client.info(c).unwrap().soft_error,
                Some(kind),
                "SHLD-25: reported"
            );
        }
    }
);

dual!(rfc9293_must_55_source_quench_ignored, |f: Family| {
    if f == Family::V6 {
        return; // ICMPv6 has no source quench.
    }
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.drop = Some(Box::new(|_| true));
    net.client.send(net.now, c, b"hello").unwrap();
    net.flush();
    let before = net.client.info(c).unwrap();
    let icmp = icmp_about(
        &net,
        Side::Client,
        wire::icmp::IcmpKind::SourceQuench,
        router(f),
    );
    let now = net.now;
    net.client.handle_packet(now, &icmp).unwrap();
    let after = net.client.info(c).unwrap();
    assert_eq!((after.cwnd, after.soft_error), (before.cwnd, None));
});

dual!(
    rfc5927_4_1_icmp_with_stale_sequence_number_ignored,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        // Quote a segment whose data is already acknowledged: not in flight.
        let icmp = icmp_about(
            &net,
            Side::Client,
            wire::icmp::IcmpKind::Unreachable,
            router(f),
        );
        let now = net.now;
        net.client.handle_packet(now, &icmp).unwrap();
        assert_eq!(net.client.info(c).unwrap().soft_error, None);
        assert_eq!(net.client.stats().icmp_ignored, 1);
    }
);

dual!(
    rfc1191_rfc8201_packet_too_big_lowers_the_mss_and_resends,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mtu: u16 = match f {
            Family::V4 => 1000,
            Family::V6 => 1280,
        };
        net.drop = Some(Box::new(|_| true));
        net.client.send(net.now, c, &pattern(20_000, 4)).unwrap();
        net.flush();
        let big = net.sent_by(Side::Client).last().copied().unwrap().len;
        // The first dropped segment is the one that was too big.
        let first = net
            .sent_by(Side::Client)
            .into_iter()
            .find(|s| s.len > 0)
            .unwrap()
            .clone();
        let quoted = craft(
            first.src,
            first.dst,
            first.seq,
            first.ack,
            first.flags,
            first.window,
            first.options,
            &first.payload,
        );
        let mut buf = vec![0u8; 2000];
        let n = wire::icmp::emit_icmp_error(
            wire::icmp::IcmpKind::PacketTooBig { mtu },
            router(f),
            &quoted,
            &mut buf,
        )
        .unwrap();
        let before = net.client.info(c).unwrap();
        let now = net.now;
        net.client.handle_packet(now, &buf[..n]).unwrap();
        let after = net.client.info(c).unwrap();
        let mss = after.snd_mss;
        // Linux tcp_simple_retransmit(): the window keeps its count of
        // segments; only their size changed.
        assert_eq!(
            after.cwnd / u32::from(mss),
            before.cwnd / u32::from(before.snd_mss),
            "cwnd in segments is kept ({} -> {} bytes)",
            before.cwnd,
            after.cwnd
        );
        assert!(after.cwnd < before.cwnd);
        let overhead = if f == Family::V4 { 52 } else { 72 };
        assert_eq!(
            mss,
            mtu - overhead,
            "MSS follows the reported MTU (was {big})"
        );
        // Everything is resent at once in the smaller size, and arrives.
        net.drop = None;
        let mark = net.log.len();
        net.run_until(Duration::from_secs(5), |n| n.sapp.received.len() == 20_000);
        assert!(net.sapp.received == pattern(20_000, 4));
        assert!(net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client)
            .all(|s| s.len <= mss as usize));
        // Linux keeps the learned MTU for the peer (a route exception, ten
        // minutes): a new connection sends segments that fit it from the
        // start, while its SYN still announces the interface's MSS.
        let mark = net.log.len();
        let now = net.now;
        let c2 = net.client.connect(now, f.client(0), f.server(80)).unwrap();
        net.run_for(Duration::from_millis(100));
        let syn = net.log[mark..]
            .iter()
            .find(|s| s.from == Side::Client && s.has(TcpFlags::SYN))
            .unwrap();
        let interface_mss = if f == Family::V4 { 1460 } else { 1440 };
        assert_eq!(syn.options.mss, Some(interface_mss));
        assert_eq!(net.client.info(c2).unwrap().snd_mss, mss);
    }
);

dual!(
    rfc9293_must_34_robust_against_a_shrinking_window,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        // The server's own ACKs are lost for a while; we speak for it instead.
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        let data = pattern(40_000, 6);
        net.client.send(net.now, c, &data).unwrap();
        net.flush();
        let sent: Vec<Seg> = net
            .sent_by(Side::Client)
            .into_iter()
            .filter(|s| s.len > 0)
            .cloned()
            .collect();
        assert!(sent.len() >= 5, "an initial window of data is in flight");
        let first = &sent[0];
        let v = client_view(&net, c);
        let wscale = net.client.info(c).unwrap().snd_wscale;
        // An ACK of the first segment whose window ends well before what was sent
        // (SHLD-14 says a receiver should not do this; MUST-34: cope when it does).
        let ack = first.seq + first.len as u32;
        let shrunk = 2 * first.len as u32;
        let mut seg = raw(v.rcv_nxt, ack, TcpFlags::ACK);
        seg.window = (shrunk >> wscale) as u16;
        let right_edge = ack + ((u32::from(seg.window)) << wscale);
        send_to(&mut net, Side::Client, v.remote, v.local, &seg);
        let mark = net.log.len();
        net.run_for(Duration::from_secs(3));
        assert_eq!(
            net.client.state(c),
            State::Established,
            "SHLD-17: no timeout"
        );
        let highest = sent
            .iter()
            .map(|s| s.seq + s.len as u32)
            .fold(ack, |a, b| a.max(b));
        for s in net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0)
        {
            let end = s.seq + s.len as u32;
            // SHLD-15: no new data beyond the shrunk window; SHLD-16/MAY-7: old data
            // may be retransmitted.
            assert!(
                end.le(right_edge) || end.le(highest),
                "new data past the window: {s:?}"
            );
        }
        // The real receiver comes back: everything arrives intact.
        net.drop = None;
        net.run_until(Duration::from_secs(120), |n| {
            n.sapp.received.len() == data.len()
        });
        assert!(net.sapp.received == data, "data intact");
    }
);

dual!(
    rfc9293_must_39_receiver_moves_the_window_edge_in_big_steps,
    |f: Family| {
        // The byte-counted window: Linux's memory-model window moves its
        // edge as segments grow `rcv_ssthresh` (tcp_grow_window()), by
        // less than a segment at times, and is not held to MUST-39.
        let scfg = Config {
            recv_buffer: 16 * 1024,
            rcv_memory: false,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, Config::linux(), scfg);
        let (_c, s) = net.established();
        net.sapp.read = false;
        net.capp.to_send = pattern(100_000, 2).into_iter().collect();
        net.run_for(Duration::from_millis(500));
        // The application now reads in dribbles of 100 bytes.
        let wscale = net.server.info(s).unwrap().rcv_wscale;
        let mss = u32::from(net.server.info(s).unwrap().snd_mss);
        let step = (16 * 1024 / 2).min(mss);
        let mut buf = [0u8; 100];
        for _ in 0..400 {
            let _ = net.server.recv(net.now, s, &mut buf);
            net.run_for(Duration::from_millis(5));
        }
        let edges: Vec<SeqNumber> = net
            .log
            .iter()
            .filter(|x| x.from == Side::Server && !x.has(TcpFlags::SYN))
            .map(|x| x.ack + (u32::from(x.window) << wscale))
            .collect();
        assert!(edges.len() > 10, "the server kept advertising");
        // With window scaling the field is rounded down to 2^wscale bytes, so an
        // advertised edge may sit up to that much below the true one; beyond that,
        // the edge advances only in steps of at least min(RCV.BUFF/2, MSS).
        let grain = 1i32 << wscale;
        let mut high = edges[0];
        let mut steps = 0;
        for &e in &edges[1..] {
            assert!(
                high - e < grain,
                "the right edge never moves left (SHLD-14)"
            );
            let moved = e - high;
            if moved >= grain {
                assert!(
                    moved + grain > step as i32,
                    "edge moved by {moved} < {step}"
                );
                steps += 1;
            }
            high = high.max(e);
        }
        assert!(steps > 0, "the window did open as the application read");
    }
);

#[test]
fn rfc9293_must_23_rfc9293_profile_keeps_trying_a_syn_for_3_minutes() {
    let mut net = Net::with_configs(Family::V4, Config::rfc9293(), Config::rfc9293());
    net.drop = Some(Box::new(|_| true));
    let start = net.now;
    let c = net
        .client
        .connect(net.now, Family::V4.client(0), Family::V4.server(80))
        .unwrap();
    net.run_until(Duration::from_secs(3600), |n| {
        n.client.state(c) == State::Closed
    });
    assert!(
        net.now - start >= Duration::from_secs(180),
        "{:?}",
        net.now - start
    );
    assert_eq!(net.client.close_reason(c), Some(CloseReason::TimedOut));
}

dual!(
    rfc9293_must_48_shld_21_diffserv_field_set_per_connection,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        assert!(net.log.iter().all(|x| x.tos == 0), "default 0");
        net.client.set_tos(c, 0xb8).unwrap();
        net.client.send(net.now, c, b"expedited").unwrap();
        net.run_for(Duration::from_millis(100));
        let last = net.sent_by(Side::Client).last().copied().unwrap().clone();
        assert_eq!(last.tos, 0xb8, "SHLD-22: passed unchanged to IP");
    }
);

dual!(rfc9293_must_49_ttl_is_configurable, |f: Family| {
    let cfg = Config {
        ttl: 7,
        ..Config::linux()
    };
    let mut net = Net::with_configs(f, cfg, Config::linux());
    net.established();
    assert!(net.sent_by(Side::Client).iter().all(|x| x.ttl == 7));
    assert!(net.sent_by(Side::Server).iter().all(|x| x.ttl == 64));
});

/// Lose three segments of one window; return the times of the retransmissions.
fn three_holes(f: Family, sack: bool) -> (Net, Vec<Instant>) {
    let cfg = Config {
        sack,
        ..Config::linux()
    };
    let mut net = Net::with_configs(f, cfg.clone(), cfg);
    let (c, _s) = net.established();
    let isn = net.log[0].seq;
    let lose = [30_000usize, 40_000, 50_000];
    let mut done = [false; 3];
    net.drop = Some(Box::new(move |seg: &Seg| {
        if seg.from != Side::Client || seg.len == 0 {
            return false;
        }
        let rel = (seg.seq - (isn + 1)) as usize;
        for (i, &at) in lose.iter().enumerate() {
            if !done[i] && rel <= at && at < rel + seg.len {
                done[i] = true;
                return true;
            }
        }
        false
    }));
    let data = pattern(100_000, 3);
    net.capp.to_send = data.iter().copied().collect();
    net.run_until(Duration::from_secs(30), |n| {
        n.sapp.received.len() == data.len()
    });
    assert!(net.sapp.received == data, "data intact");
    assert_eq!(net.client.state(c), State::Established);
    let lost: Vec<SeqNumber> = net
        .log
        .iter()
        .filter(|s| s.dropped)
        .map(|s| s.seq)
        .collect();
    let times = net
        .log
        .iter()
        .filter(|s| !s.dropped && s.from == Side::Client && lost.contains(&s.seq))
        .map(|s| s.time)
        .collect();
    (net, times)
}

dual!(
    rfc6675_sack_recovery_repairs_several_holes_in_one_round_trip,
    |f: Family| {
        let (net, times) = three_holes(f, true);
        assert_eq!(times.len(), 3, "each hole resent once\n{}", net.trace());
        assert_eq!(net.client.stats().fast_retransmits, 1);
        let rtt = net.latency * 2;
        let spread = *times.last().unwrap() - times[0];
        // Every hole of the flight is resent within one round trip of the
        // first: the scoreboard shows them all at once; each goes as soon as
        // IsLost holds for it and cwnd - pipe allows (RFC 6675 §5), not one per
        // round trip.
        assert!(
            spread <= rtt,
            "holes of one flight resent within a round trip: {times:?}\n{}",
            net.trace()
        );
        // Without SACK, NewReno learns of one hole per round trip (RFC 6582).
        let (net2, times2) = three_holes(f, false);
        assert_eq!(times2.len(), 3, "{}", net2.trace());
        let spread2 = *times2.last().unwrap() - times2[0];
        assert!(spread2 >= rtt * 2, "{times2:?}");
        assert!(
            spread + rtt <= spread2,
            "SACK saves at least a round trip: {times:?} vs {times2:?}"
        );
    }
);

dual!(
    linux_fin_after_data_is_acked_after_the_delayed_ack_time,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        net.client.send(net.now, c, b"request").unwrap();
        net.run_for(Duration::from_millis(100));
        net.client.close(net.now, c).unwrap();
        net.run_until(Duration::from_secs(1), |n| {
            n.server.state(s) == State::CloseWait
        });
        let fin_arrival = net.now;
        let mark = net.sent_by(Side::Server).len();
        net.run_for(Duration::from_millis(39));
        assert_eq!(
            net.sent_by(Side::Server).len(),
            mark,
            "ACK of the FIN held back"
        );
        net.run_for(Duration::from_millis(2));
        let ack = net.sent_by(Side::Server).last().copied().unwrap().clone();
        assert_eq!(ack.flags, TcpFlags::ACK);
        assert_eq!(
            ack.time - fin_arrival,
            Duration::from_millis(40),
            "RFC 9293 MUST-40: < 500 ms"
        );
    }
);

/// Lose one segment of a large flight and watch cwnd and ssthresh from the
/// fast retransmit until the loss is repaired: `(cwnd, ssthresh, mss)` at each
/// step of the recovery.
fn recovery_windows(f: Family, sack: bool) -> Vec<(u32, u32, u16)> {
    // The RFC 6675 / RFC 6582 windows (the Linux profile's PRR is tested in
    // tests/linux_push.rs).
    let cfg = Config {
        sack,
        prr: false,
        ..Config::linux()
    };
    let mut net = Net::with_configs(f, cfg.clone(), cfg);
    let (c, _s) = net.established();
    let isn = net.log[0].seq;
    let mut done = false;
    net.drop = Some(Box::new(move |seg: &Seg| {
        let rel = (seg.seq - (isn + 1)) as usize;
        if !done
            && seg.from == Side::Client
            && seg.len > 0
            && rel <= 30_000
            && 30_000 < rel + seg.len
        {
            done = true;
            return true;
        }
        false
    }));
    let data = pattern(200_000, 5);
    net.capp.to_send = data.iter().copied().collect();
    let mut seen = Vec::new();
    net.run_until(Duration::from_secs(30), |n| {
        let i = n.client.info(c).unwrap();
        if i.in_recovery {
            seen.push((i.cwnd, i.ssthresh, i.snd_mss));
        }
        n.sapp.received.len() == data.len()
    });
    assert!(net.sapp.received == data, "data intact");
    seen
}

dual!(
    rfc6675_recovery_holds_cwnd_at_ssthresh_without_inflation,
    |f: Family| {
        // RFC 6675 §5 (4.2): cwnd = ssthresh on entering recovery; sending is
        // then governed by cwnd - pipe, so duplicate ACKs do not inflate cwnd.
        let seen = recovery_windows(f, true);
        assert!(!seen.is_empty());
        assert!(seen.len() > 1, "{seen:?}");
        assert!(seen.iter().all(|w| w.0 == w.1), "{seen:?}");
        // RFC 6582 §3.2 (NewReno, no SACK): cwnd = ssthresh + 3 * SMSS, then
        // one more SMSS per further duplicate ACK.
        let seen = recovery_windows(f, false);
        let (cwnd, ssthresh, mss) = seen[0];
        // (The duplicate ACKs of one flight arrive in one step of the harness,
        // so the first sample already holds the further inflation.)
        assert!(cwnd > ssthresh + 3 * u32::from(mss), "inflation: {seen:?}");
    }
);

// ---- RFC 7323 §4.3 with RFC 5961 §5.2: TS.Recent from acceptable ACKs only -----

dual!(
    rfc7323_4_3_ts_recent_not_taken_from_segment_with_unacceptable_ack,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let v = client_view(&net, c);
        let recent = last_tsval(&net, Side::Server);
        let echo = last_tsval(&net, Side::Client);
        // A FIN whose ACK covers data never sent, with a TSval far ahead: RFC
        // 5961 §5.2 discards it with a challenge ACK, which echoes the
        // TS.Recent it had: the bad TSval was not remembered.
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt + 9999, TcpFlags::ACK | TcpFlags::FIN)
                .opts(ts_opt(recent.wrapping_add(200_000), echo)),
        );
        assert_single_ack(&r, v, "challenge ACK");
        assert_eq!(r[0].options.timestamps.unwrap().tsecr, recent);
        assert_eq!(net.client.state(c), State::Established, "FIN not taken");
        // The peer's next genuine segment, with a TSval just above the real
        // TS.Recent, passes PAWS and is acknowledged with that TSval echoed.
        let r = send_to(
            &mut net,
            Side::Client,
            v.remote,
            v.local,
            &raw(v.rcv_nxt, v.snd_nxt, TcpFlags::ACK | TcpFlags::PSH)
                .data(b"genuine")
                .opts(ts_opt(recent.wrapping_add(1), echo)),
        );
        assert_eq!(net.capp.received, b"genuine");
        assert_eq!(net.client.stats().paws_rejected, 0);
        let last = r.last().expect("an ACK");
        assert_eq!(last.ack, v.rcv_nxt + 7);
        assert_eq!(
            last.options.timestamps.unwrap().tsecr,
            recent.wrapping_add(1)
        );
    }
);

// ---- RFC 8985 §7: tail loss probe ----------------------------------------------

/// Sends `n` full segments from the client with the last `lost` of them
/// dropped once; returns the network and every data segment the client sent.
fn lose_tail(f: Family, ccfg: Config, n: usize, lost: usize) -> (Net, Vec<Seg>) {
    let mut net = Net::with_configs(f, ccfg, Config::linux());
    let (c, _s) = net.established();
    let mss = usize::from(net.client.info(c).unwrap().snd_mss);
    let mut seen = 0;
    net.drop = Some(Box::new(move |s: &Seg| {
        if s.from == Side::Client && s.len > 0 {
            seen += 1;
            return seen > n - lost && seen <= n;
        }
        false
    }));
    let mark = net.log.len();
    net.client.send(net.now, c, &pattern(n * mss, 3)).unwrap();
    net.run_until(Duration::from_secs(5), |net| {
        net.sapp.received.len() == n * mss
    });
    assert_eq!(net.sapp.received, pattern(n * mss, 3), "all delivered");
    let data = net.log[mark..]
        .iter()
        .filter(|s| s.from == Side::Client && s.len > 0)
        .cloned()
        .collect();
    (net, data)
}

dual!(
    rfc8985_7_3_tail_loss_probe_resends_last_segment_after_two_rtt,
    |f: Family| {
        let (net, data) = lose_tail(f, Config::linux(), 4, 2);
        assert!(data[2].dropped && data[3].dropped, "{}", net.trace());
        // The ACK of the first two segments (one RTT, 20 ms, after the burst)
        // re-arms the PTO: 2*SRTT + 2 ms later the last segment goes again.
        let probe = &data[4];
        assert_eq!((probe.seq, probe.len), (data[3].seq, data[3].len));
        assert_eq!(probe.time - data[3].time, Duration::from_millis(20 + 42));
        assert!(probe.has(TcpFlags::PSH), "the tail of the write");
        assert!(!probe.dropped);
        assert_eq!(net.client.stats().loss_probes, 1);
    }
);

dual!(
    rfc8985_7_2_no_probe_in_rfc9293_profile_rto_repairs_the_tail,
    |f: Family| {
        let (net, data) = lose_tail(f, Config::rfc9293(), 4, 2);
        // Without TLP only the retransmission timeout (at least 1 s in this
        // profile) resends the lost tail, starting with the first hole.
        assert_eq!(data[4].seq, data[2].seq, "{}", net.trace());
        assert!(data[4].time - data[3].time >= Duration::from_secs(1));
        assert_eq!(net.client.stats().loss_probes, 0);
    }
);

dual!(
    rfc8985_7_2_probe_waits_for_delayed_ack_with_one_segment_in_flight,
    |f: Family| {
        let cfg = Config {
            rto_min: Duration::from_secs(1),
            ..Config::linux()
        };
        let (net, data) = lose_tail(f, cfg, 1, 1);
        // One segment in flight: PTO = 2*SRTT + the worst-case delayed ACK
        // (Linux: the minimum RTO, here 1 s), capped by the RTO (1.02 s): the
        // probe, not the RTO, resends it, and not before a delayed ACK could
        // have come.
        assert_eq!(data.len(), 2, "{}", net.trace());
        assert_eq!(data[1].time - data[0].time, Duration::from_millis(1020));
        assert_eq!(net.client.stats().loss_probes, 1);
        assert_eq!(net.client.stats().retransmits, 1);
    }
);

// ---- Linux PSH placement (Config::gso_segs_min) ---------------------------------

dual!(
    linux_psh_closes_each_two_segment_group_and_the_write,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = usize::from(net.client.info(c).unwrap().snd_mss);
        let mark = net.log.len();
        net.client.send(net.now, c, &pattern(5 * mss, 4)).unwrap();
        net.flush();
        let psh: Vec<bool> = net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0)
            .map(|s| s.has(TcpFlags::PSH))
            .collect();
        // Groups of two (Linux's GSO packets at a low pacing rate) end with PSH,
        // and so does the segment that empties the send queue.
        assert_eq!(psh, [false, true, false, true, true]);

        // The RFC profile marks only the end of the queued data (MUST-61).
        let mut net = Net::with_configs(f, Config::rfc9293(), Config::rfc9293());
        let (c, _s) = net.established();
        let mark = net.log.len();
        net.client.send(net.now, c, &pattern(3 * mss, 4)).unwrap();
        net.flush();
        let psh: Vec<bool> = net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0)
            .map(|s| s.has(TcpFlags::PSH))
            .collect();
        assert_eq!(psh, [false, false, true]);
    }
);

dual!(
    linux_gso_packets_of_several_segments_carry_psh_unpushed_or_not,
    |f: Family| {
        // A MSG_MORE write is not pushed (no tcp_mark_push()); its full
        // segments still go out in GSO packets of two at a low pacing rate.
        // Since Linux 4.10 each packet of more than one segment carries PSH
        // (__tcp_transmit_skb()); Linux 3.11 (gso_psh off) sets none.
        for (gso_psh, want) in [(true, [false, true, false, true]), (false, [false; 4])] {
            let cfg = Config {
                gso_psh,
                ..Config::linux()
            };
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, _s) = net.established();
            let mss = usize::from(net.client.info(c).unwrap().snd_mss);
            let mark = net.log.len();
            let more = SendFlags {
                more: true,
                ..SendFlags::default()
            };
            net.client
                .send_with(net.now, c, &pattern(4 * mss, 4), more)
                .unwrap();
            net.flush();
            let psh: Vec<bool> = net.log[mark..]
                .iter()
                .filter(|s| s.from == Side::Client && s.len > 0)
                .map(|s| s.has(TcpFlags::PSH))
                .collect();
            assert_eq!(psh, want, "gso_psh {gso_psh}: {}", net.trace());
        }
    }
);

dual!(
    linux_window_update_after_idle_restarts_the_window,
    |f: Family| {
        // Linux tcp_ack_update_window() -> tcp_slow_start_after_idle_check():
        // data waits behind a closed window, nothing is in flight, and the
        // window opens after more than an RTO without data sent: the
        // congestion window restarts (tcp_cwnd_restart()).
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = usize::from(net.client.info(c).unwrap().snd_mss);
        net.client.send(net.now, c, &pattern(30 * mss, 5)).unwrap();
        net.flush();
        net.run_until(Duration::from_secs(1), |n| {
            n.client.info(c).unwrap().unacked == 0
        });
        let grown = net.client.info(c).unwrap().cwnd;
        assert!(grown > 10 * mss as u32, "{grown}");
        let last = net
            .log
            .iter()
            .rev()
            .find(|s| s.from == Side::Server)
            .unwrap()
            .clone();
        let ack = |net: &mut Net, window: u16| {
            let bytes = craft(
                last.src,
                last.dst,
                last.seq,
                last.ack,
                TcpFlags::ACK,
                window,
                TcpOptions::default(),
                &[],
            );
            let now = net.now;
            net.client.handle_packet(now, &bytes).unwrap();
        };
        ack(&mut net, 0);
        net.client.send(net.now, c, &pattern(5 * mss, 6)).unwrap();
        // The window stays shut (probes are lost) for three seconds.
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client));
        net.run_for(Duration::from_secs(3));
        assert_eq!(net.client.info(c).unwrap().cwnd, grown);
        ack(&mut net, 1000);
        assert_eq!(net.client.info(c).unwrap().cwnd, 10 * mss as u32);
    }
);

dual!(
    linux_reordering_grows_with_the_depth_of_sack_reordering,
    |f: Family| {
        // Linux tcp_check_sack_reordering(): segment 7 SACKed, then segment
        // 2, never retransmitted: the network reordered by (8 - 2) segments,
        // past the threshold of 3, so tp->reordering becomes 6.
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = net.client.info(c).unwrap().snd_mss as u32;
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
        let mark = net.log.len();
        net.client
            .send(net.now, c, &pattern(10 * mss as usize, 7))
            .unwrap();
        net.flush();
        let first = net.log[mark..]
            .iter()
            .find(|s| s.from == Side::Client && s.len > 0)
            .unwrap()
            .clone();
        let una = first.seq;
        assert_eq!(net.client.info(c).unwrap().reordering, 3);
        let mut blocks = Vec::new();
        for seg in [7u32, 2] {
            blocks.push((una + seg * mss, una + (seg + 1) * mss));
            let mut options = TcpOptions::default();
            for &(l, r) in blocks.iter().rev() {
                options.sack_blocks.push(l, r);
            }
            net.inject(
                Side::Client,
                first.dst,
                first.src,
                first.ack,
                una,
                TcpFlags::ACK,
                options,
                &[],
            );
        }
        let info = net.client.info(c).unwrap();
        assert_eq!(info.reordering, 6, "{}", net.trace());
        assert_eq!(info.sacked_segments, 2);
    }
);

dual!(
    linux_rack_reorder_timeout_lets_one_retransmission_out,
    |f: Family| {
        // Ten segments out, only the eighth SACKed: once RACK's reordering
        // window passes, the seven below are lost and recovery begins.
        // Linux tcp_rack_reo_timeout() runs one PRR step for one delivered
        // segment (tcp_cwnd_reduction(sk, 1, ...)): one retransmission
        // goes, tcpi_retrans counts it.
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = net.client.info(c).unwrap().snd_mss as u32;
        // An RTT sample first: RACK's window is a quarter of the least RTT.
        net.client.send(net.now, c, &pattern(10, 1)).unwrap();
        net.run_for(Duration::from_millis(200));
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
        let mark = net.log.len();
        net.client
            .send(net.now, c, &pattern(10 * mss as usize, 8))
            .unwrap();
        net.flush();
        let first = net.log[mark..]
            .iter()
            .find(|s| s.from == Side::Client && s.len > 0)
            .unwrap()
            .clone();
        let una = first.seq;
        // The SACK comes one RTT later, as it would.
        net.run_for(Duration::from_millis(20));
        let mut options = TcpOptions::default();
        options.sack_blocks.push(una + 7 * mss, una + 8 * mss);
        net.inject(
            Side::Client,
            first.dst,
            first.src,
            first.ack,
            una,
            TcpFlags::ACK,
            options,
            &[],
        );
        assert_eq!(net.client.info(c).unwrap().lost_segments, 0);
        let mark = net.log.len();
        net.run_for(Duration::from_millis(100));
        let resent: Vec<SeqNumber> = net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0)
            .map(|s| s.seq)
            .collect();
        assert_eq!(resent, [una], "{}", net.trace());
        let info = net.client.info(c).unwrap();
        assert_eq!((info.lost_segments, info.retrans_segments), (7, 1));
    }
);

dual!(
    linux_retransmissions_keep_msg_eor_records_apart,
    |f: Family| {
        // Three MSG_EOR records of 400 octets, then bulk data; the records
        // are lost once and SACKs of the bulk data start recovery. Each
        // retransmission carries one record and its PSH, never more (Linux
        // tcp_retrans_try_collapse() stops at tcp_skb_can_collapse()).
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = usize::from(net.client.info(c).unwrap().snd_mss);
        net.client.send(net.now, c, &pattern(10, 1)).unwrap();
        net.run_for(Duration::from_millis(200));
        let mark = net.log.len();
        let eor = SendFlags {
            eor: true,
            ..SendFlags::default()
        };
        for i in 0..3 {
            net.client
                .send_with(net.now, c, &pattern(400, 10 + i), eor)
                .unwrap();
        }
        net.client.send(net.now, c, &pattern(6 * mss, 20)).unwrap();
        let start = std::cell::Cell::new(None::<SeqNumber>);
        let mut seen = Vec::new();
        net.drop = Some(Box::new(move |s: &Seg| {
            if s.from != Side::Client || s.len == 0 {
                return false;
            }
            let first = start.get().unwrap_or(s.seq);
            start.set(Some(first));
            let rec = s.seq.lt(first + 1200) && !seen.contains(&s.seq);
            if rec {
                seen.push(s.seq);
            }
            rec
        }));
        net.flush();
        net.run_until(Duration::from_secs(3), |n| {
            n.sapp.received.len() == 10 + 1200 + 6 * mss
        });
        let data: Vec<&Seg> = net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0)
            .collect();
        let first = data[0].seq;
        let resent: Vec<(usize, bool)> = data
            .iter()
            .filter(|s| !s.dropped && s.seq.lt(first + 1200))
            .map(|s| (s.len, s.has(TcpFlags::PSH)))
            .collect();
        assert_eq!(resent, [(400, true); 3], "{}", net.trace());
        assert_eq!(net.client.stats().fast_retransmits, 1);
    }
);

dual!(
    linux_partial_ack_without_sack_blocks_marks_nothing_lost,
    |f: Family| {
        // Ten segments out, segments 2-4 SACKed one by one: recovery, the
        // first segment is resent. Then a partial ACK up to segment 4 with
        // no SACK block. RFC 6675 (with RFC 6582's rule) presumes the
        // segment at SND.UNA lost; Linux without RACK marks losses by
        // SACKed segments alone (tcp_update_scoreboard()) and sends nothing.
        for (by_segments, resent) in [(true, 0), (false, 1)] {
            let cfg = Config {
                sack_dupacks_by_segments: by_segments,
                early_retransmit: EarlyRetransmit::Off,
                tail_loss_probe: false,
                ..Config::linux_3_11()
            };
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, _s) = net.established();
            let mss = net.client.info(c).unwrap().snd_mss as u32;
            net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
            let mark = net.log.len();
            net.client
                .send(net.now, c, &pattern(10 * mss as usize, 9))
                .unwrap();
            net.flush();
            let first = net.log[mark..]
                .iter()
                .find(|s| s.from == Side::Client && s.len > 0)
                .unwrap()
                .clone();
            let una = first.seq;
            let ack = |net: &mut Net, ack: SeqNumber, sacked_to: Option<u32>| {
                let mut options = TcpOptions::default();
                if let Some(k) = sacked_to {
                    options.sack_blocks.push(una + mss, una + k * mss);
                }
                net.inject(
                    Side::Client,
                    first.dst,
                    first.src,
                    first.ack,
                    ack,
                    TcpFlags::ACK,
                    options,
                    &[],
                );
            };
            for k in 2..=4 {
                ack(&mut net, una, Some(k));
            }
            assert_eq!(net.client.stats().fast_retransmits, 1);
            let mark = net.log.len();
            ack(&mut net, una + 4 * mss, None);
            let sent = net.log[mark..]
                .iter()
                .filter(|s| s.from == Side::Client && s.len > 0)
                .count();
            assert_eq!(sent, resent, "by segments {by_segments}: {}", net.trace());
        }
    }
);

dual!(
    linux_dsack_for_the_only_retransmission_undoes_the_reduction,
    |f: Family| {
        // Recovery on three SACKed segments resends the first one; the ACK
        // of everything then reports it with a D-SACK (RFC 2883): the
        // retransmission was needless, so Linux undoes the window
        // reduction (tcp_try_undo_dsack() / tcp_undo_cwnd_reduction()).
        for dsack in [true, false] {
            let cfg = Config {
                early_retransmit: EarlyRetransmit::Off,
                tail_loss_probe: false,
                ..Config::linux_3_11()
            };
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, _s) = net.established();
            let mss = net.client.info(c).unwrap().snd_mss as u32;
            net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
            let mark = net.log.len();
            net.client
                .send(net.now, c, &pattern(10 * mss as usize, 9))
                .unwrap();
            net.flush();
            let first = net.log[mark..]
                .iter()
                .find(|s| s.from == Side::Client && s.len > 0)
                .unwrap()
                .clone();
            let una = first.seq;
            let ack = |net: &mut Net, ack: SeqNumber, block: Option<(SeqNumber, SeqNumber)>| {
                let mut options = TcpOptions::default();
                if let Some((l, r)) = block {
                    options.sack_blocks.push(l, r);
                }
                net.inject(
                    Side::Client,
                    first.dst,
                    first.src,
                    first.ack,
                    ack,
                    TcpFlags::ACK,
                    options,
                    &[],
                );
            };
            for k in 2..=4 {
                ack(&mut net, una, Some((una + mss, una + k * mss)));
            }
            assert_eq!(net.client.stats().fast_retransmits, 1);
            assert!(net.client.info(c).unwrap().cwnd < 10 * mss);
            let block = dsack.then_some((una, una + mss));
            ack(&mut net, una + 10 * mss, block);
            let cwnd = net.client.info(c).unwrap().cwnd;
            assert_eq!(cwnd == 10 * mss, dsack, "{cwnd}");
        }
    }
);

// ---- RFC 5827 early retransmit (Linux 3.5 to 4.10, Config::linux_3_11) ----------

/// Two segments, the first lost: the SACK for the second can never be
/// followed by three duplicate ACKs. Returns the wait between the SACK's
/// arrival and the retransmission.
fn early_retransmit_wait(f: Family, mode: EarlyRetransmit) -> Duration {
    let cfg = Config {
        early_retransmit: mode,
        tail_loss_probe: false,
        ..Config::linux_3_11()
    };
    let mut net = Net::with_configs(f, cfg.clone(), cfg);
    let (c, _s) = net.established();
    let mss = usize::from(net.client.info(c).unwrap().snd_mss);
    // Let an RTT sample in first, so SRTT is known.
    net.client.send(net.now, c, &pattern(10, 1)).unwrap();
    net.run_for(Duration::from_millis(200));
    let mut first = true;
    net.drop = Some(Box::new(move |s: &Seg| {
        let d = first && s.from == Side::Client && s.len > 0;
        first &= !d;
        d
    }));
    let mark = net.log.len();
    net.client.send(net.now, c, &pattern(2 * mss, 2)).unwrap();
    net.run_until(Duration::from_secs(3), |n| {
        n.sapp.received.len() == 10 + 2 * mss
    });
    let segs = &net.log[mark..];
    let lost = segs
        .iter()
        .find(|s| s.from == Side::Client && s.len > 0)
        .unwrap();
    let sack = segs
        .iter()
        .find(|s| s.from == Side::Server && !s.options.sack_blocks.is_empty())
        .expect("a SACK");
    let again = segs
        .iter()
        .filter(|s| s.from == Side::Client && s.seq == lost.seq && s.len > 0)
        .nth(1)
        .expect("a retransmission");
    again.time - (sack.time + net.latency)
}

dual!(
    rfc5827_early_retransmit_quick_delayed_and_off,
    |f: Family| {
        assert_eq!(
            early_retransmit_wait(f, EarlyRetransmit::Quick),
            Duration::ZERO
        );
        // Linux tcp_pause_early_retransmit(): a quarter of SRTT (20 ms here).
        let delayed = early_retransmit_wait(f, EarlyRetransmit::Delayed);
        assert!(
            delayed >= Duration::from_millis(4) && delayed <= Duration::from_millis(6),
            "{delayed:?}"
        );
        // Without it only the retransmission timer (200 ms at least) helps.
        let off = early_retransmit_wait(f, EarlyRetransmit::Off);
        assert!(off >= Duration::from_millis(150), "{off:?}");
    }
);

dual!(
    linux_sack_recovery_counts_sacked_segments_not_acks,
    |f: Family| {
        // Four segments, the first lost, then the SACK of the second
        // repeated three times: RFC 5681 counts three duplicate ACKs, Linux
        // one SACKed segment (tcp_dupack_heuristics()), so only the RFC
        // profile retransmits fast.
        for (by_segments, fast) in [(true, 0), (false, 1)] {
            let cfg = Config {
                sack_dupacks_by_segments: by_segments,
                early_retransmit: EarlyRetransmit::Off,
                tail_loss_probe: false,
                ..Config::linux_3_11()
            };
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, _s) = net.established();
            let mss = usize::from(net.client.info(c).unwrap().snd_mss);
            net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
            let mark = net.log.len();
            net.client.send(net.now, c, &pattern(4 * mss, 3)).unwrap();
            net.flush();
            let first = net.log[mark..]
                .iter()
                .find(|s| s.from == Side::Client && s.len > 0)
                .unwrap()
                .clone();
            let una = first.seq;
            let mut options = TcpOptions::default();
            options
                .sack_blocks
                .push(una + mss as u32, una + 2 * mss as u32);
            for _ in 0..3 {
                net.inject(
                    Side::Client,
                    first.dst,
                    first.src,
                    first.ack,
                    una,
                    TcpFlags::ACK,
                    options,
                    &[],
                );
            }
            assert_eq!(net.client.stats().fast_retransmits, fast, "{}", net.trace());
        }
    }
);

// ---- RFC 3042 limited transmit; Linux active resets ------------------------------

dual!(
    rfc3042_first_two_duplicate_acks_each_release_a_new_segment,
    |f: Family| {
        // The rule alone: Linux's TSO deferral (`Config::tso_defer`, off in
        // the profile for now) would hold a one-segment piece of the unit
        // back for a later ACK.
        let cfg = Config {
            tso_defer: false,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, cfg.clone(), cfg);
        let (c, _s) = net.established();
        let mss = usize::from(net.client.info(c).unwrap().snd_mss);
        let mut first = true;
        net.drop = Some(Box::new(move |s: &Seg| {
            if first && s.from == Side::Client && s.len > 0 {
                first = false;
                return true;
            }
            false
        }));
        let mark = net.log.len();
        net.client.send(net.now, c, &pattern(14 * mss, 5)).unwrap();
        net.run_until(Duration::from_secs(5), |n| {
            n.sapp.received.len() == 14 * mss
        });
        let data: Vec<Seg> = net.log[mark..]
            .iter()
            .filter(|s| s.from == Side::Client && s.len > 0)
            .cloned()
            .collect();
        let start = data[0].seq;
        // Ten segments (IW10), then one new segment per duplicate ACK for the
        // first two, then the fast retransmit of the hole on the third.
        let offsets: Vec<usize> = data[..13]
            .iter()
            .map(|s| (s.seq - start) as usize / mss)
            .collect();
        assert_eq!(
            offsets,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0],
            "{}",
            net.trace()
        );
        assert_eq!(net.client.stats().fast_retransmits, 1);
    }
);

dual!(
    linux_active_reset_carries_ack_rfc_profile_does_not,
    |f: Family| {
        for (cfg, with_ack) in [(Config::linux(), true), (Config::rfc9293(), false)] {
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, _s) = net.established();
            let v = client_view(&net, c);
            let mark = net.log.len();
            net.client.abort(net.now, c).unwrap();
            net.flush();
            let rst = net.log[mark..]
                .iter()
                .find(|s| s.from == Side::Client && s.has(TcpFlags::RST))
                .expect("a RST")
                .clone();
            assert_eq!(rst.seq, v.snd_nxt, "<SEQ=SND.NXT>");
            assert_eq!(rst.has(TcpFlags::ACK), with_ack);
            if with_ack {
                assert_eq!(rst.ack, v.rcv_nxt);
            }
        }
    }
);

// ---- RFC 4987 §3.6: SYN cookies ---------------------------------------------------

dual!(
    rfc4987_syn_cookies_when_the_syn_queue_is_full,
    |f: Family| {
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        let l = net.server.listen(f.server(80), 1).unwrap();
        net.sapp.listener = Some(l);
        // Two handshakes left open fill the SYN queue (backlog 1: Linux holds
        // one more than the backlog).
        let r1 = syn_from(&mut net, f, 4001, 1000);
        let r2 = syn_from(&mut net, f, 4002, 2000);
        assert_eq!((r1.len(), r2.len()), (1, 1));
        // The third SYN gets a SYN,ACK all the same, but no state is kept.
        let r3 = syn_from(&mut net, f, 4003, 3000);
        assert_eq!(r3.len(), 1, "{r3:?}");
        let cookie = &r3[0];
        assert_eq!(cookie.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(cookie.ack, SeqNumber(3001));
        assert_eq!(
            net.server.connection_count(),
            2,
            "nothing kept for the cookie"
        );
        assert_eq!(net.server.stats().syn_cookies_sent, 1);
        assert_eq!(net.server.stats().syn_queue_overflow, 0);
        // The SYN has no timestamps, so only the MSS fits in the cookie: no
        // window scaling, SACK or timestamps (with them, see syn_cookies.rs).
        let opts = &cookie.options;
        assert!(opts.mss.is_some());
        assert!(opts.window_scale.is_none() && !opts.sack_permitted && opts.timestamps.is_none());

        // A forged ACK (wrong cookie) gets the RST of §3.10.7.2 and opens nothing.
        let bad = send_to(
            &mut net,
            Side::Server,
            f.client(4003),
            f.server(80),
            &raw(SeqNumber(3001), cookie.seq + 2, TcpFlags::ACK),
        );
        assert_eq!(bad.len(), 1);
        assert!(bad[0].has(TcpFlags::RST));
        assert_eq!(net.server.stats().syn_cookies_failed, 1);
        assert_eq!(net.server.connection_count(), 2);
        // The right ACK opens the connection straight into ESTABLISHED, ready
        // to accept, with the MSS the cookie kept.
        let ok = ack_from(&mut net, f, 4003, 3000, cookie);
        assert!(ok.iter().all(|s| !s.has(TcpFlags::RST)), "{ok:?}");
        assert_eq!(net.server.stats().syn_cookies_accepted, 1);
        assert_eq!(n_in(&net.server, State::Established), 1);
        let c = net.sapp.conn.expect("the cookie connection is accepted");
        let info = net.server.info(c).unwrap();
        assert_eq!(info.state, State::Established);
        // The largest of Linux's msstab not above the SYN's 1460: IPv6's
        // table has 1440 (1500 - 60) below it.
        let kept = if f.client_ip().is_ipv4() { 1460 } else { 1440 };
        assert_eq!(info.peer_mss, kept);
        assert!(!info.sack && !info.timestamps && info.snd_wscale == 0);
        // And it carries data.
        let data = send_to(
            &mut net,
            Side::Server,
            f.client(4003),
            f.server(80),
            &raw(
                SeqNumber(3001),
                cookie.seq + 1,
                TcpFlags::ACK | TcpFlags::PSH,
            )
            .data(b"hello"),
        );
        assert!(data.iter().all(|s| !s.has(TcpFlags::RST)), "{data:?}");
        let mut buf = [0u8; 16];
        assert_eq!(net.server.recv(net.now, c, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
    }
);

dual!(
    rfc4987_cookie_acks_are_checked_only_after_cookies_were_sent,
    |f: Family| {
        let mut net = Net::new(f);
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        let l = net.server.listen(f.server(80), 2).unwrap();
        net.sapp.listener = Some(l);
        // No cookie sent yet: a bare ACK is answered with RST, not checked.
        let r = send_to(
            &mut net,
            Side::Server,
            f.client(4009),
            f.server(80),
            &raw(SeqNumber(9001), SeqNumber(12345), TcpFlags::ACK),
        );
        assert!(r.len() == 1 && r[0].has(TcpFlags::RST));
        assert_eq!(net.server.stats().syn_cookies_failed, 0);
        // The RFC profile never sends cookies: a full SYN queue drops the SYN.
        let mut net = Net::with_configs(f, Config::rfc9293(), Config::rfc9293());
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
        let l = net.server.listen(f.server(80), 1).unwrap();
        net.sapp.listener = Some(l);
        assert_eq!(syn_from(&mut net, f, 4001, 1000).len(), 1);
        assert!(syn_from(&mut net, f, 4002, 2000).is_empty());
        assert_eq!(net.server.stats().syn_queue_overflow, 1);
        assert_eq!(net.server.stats().syn_cookies_sent, 0);
    }
);
