//! Per-socket options and what the application can ask of a connection, as
//! Linux answers them: TCP_MAXSEG (`set_user_mss`), TCP_NOTSENT_LOWAT and
//! writability (`set_notsent_lowat`, `writable`), and the `tcp_info` fields
//! `tcpi_advmss`, `tcpi_unacked` and `tcpi_last_data_recv`.

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::{Config, Error, State};

/// The MSS option of the first segment `side` sent with these flags.
fn mss_option(net: &Net, side: Side, flags: TcpFlags) -> Option<u16> {
    net.sent_by(side)
        .into_iter()
        .find(|s| s.flags == flags)
        .and_then(|s| s.options.mss)
}

dual!(
    tcp_maxseg_before_connect_clamps_the_syn_and_the_send_mss,
    |f: Family| {
        let mut net = Net::new(f);
        let c = net.open();
        // The SYN goes out on the next poll_transmit: the option still shapes it.
        net.client.set_user_mss(c, 1100).unwrap();
        net.run_until(Duration::from_secs(5), |n| n.sapp.conn.is_some());
        assert_eq!(mss_option(&net, Side::Client, TcpFlags::SYN), Some(1100));
        let i = net.client.info(c).unwrap();
        assert_eq!(i.adv_mss, 1100);
        // The server offered its full MSS; ours is clamped to 1100, less the
        // timestamp option that rides on every segment.
        assert!(i.peer_mss > 1100, "{}", i.peer_mss);
        assert_eq!(i.snd_mss, 1100 - 12);
        let now = net.now;
        net.client.send(now, c, &[7u8; 20_000]).unwrap();
        net.run_to_quiet();
        let biggest = net.sent_by(Side::Client).iter().map(|s| s.len).max();
        assert_eq!(biggest, Some(1088));
    }
);

dual!(
    tcp_maxseg_on_a_listener_clamps_its_syn_ack_and_children,
    |f: Family| {
        let mut net = Net::new(f);
        let _c = net.open();
        let l = net.sapp.listener.unwrap();
        net.server.set_listener_user_mss(l, 1000).unwrap();
        net.run_until(Duration::from_secs(5), |n| n.sapp.conn.is_some());
        let s = net.sapp.conn.unwrap();
        assert_eq!(
            mss_option(&net, Side::Server, TcpFlags::SYN | TcpFlags::ACK),
            Some(1000)
        );
        let i = net.server.info(s).unwrap();
        assert_eq!((i.adv_mss, i.snd_mss), (1000, 1000 - 12));
    }
);

dual!(
    buffers_set_on_a_listener_shape_its_syn_ack_and_children,
    |f: Family| {
        let mut net = Net::new(f);
        let _c = net.open();
        let l = net.sapp.listener.unwrap();
        // SO_RCVBUF 1,000,000 on Linux: a window space of 1,000,000 bytes,
        // whose shift is 4 (ilog2(1,000,000) - 15), below the 7 the
        // configuration's largest buffer would give.
        net.server.set_listener_recv_buffer(l, 1_000_000).unwrap();
        net.server.set_listener_send_buffer(l, 50_000).unwrap();
        net.run_until(Duration::from_secs(5), |n| n.sapp.conn.is_some());
        let s = net.sapp.conn.unwrap();
        let syn_ack = net
            .sent_by(Side::Server)
            .into_iter()
            .find(|s| s.flags == TcpFlags::SYN | TcpFlags::ACK)
            .unwrap();
        assert_eq!(syn_ack.options.window_scale, Some(4));
        assert_eq!(syn_ack.window, 65_535);
        let i = net.server.info(s).unwrap();
        // The receive buffer is memory, twice SO_RCVBUF (Linux
        // sock_setsockopt(); `Config::rcv_memory`).
        assert_eq!((i.rcv_wscale, i.rcv_buf, i.snd_buf), (4, 2_000_000, 50_000));
        // Locked: a bulk transfer does not grow them.
        let c = net.capp.conn.unwrap();
        net.capp.to_send.extend(std::iter::repeat_n(0u8, 3_000_000));
        net.run_until(Duration::from_secs(10), |n| n.capp.to_send.is_empty());
        let i = net.server.info(s).unwrap();
        assert_eq!((i.rcv_buf, i.snd_buf), (2_000_000, 50_000));
        assert!(net.client.info(c).is_some());
        // Without them the configuration decides.
        net.server.set_listener_recv_buffer(l, 0).unwrap();
        let mut net2 = Net::new(f);
        let (_c2, s2) = net2.established();
        assert_eq!(
            net2.server.info(s2).unwrap().rcv_wscale,
            Config::linux().window_scale
        );
    }
);

dual!(
    tcp_maxseg_after_the_handshake_changes_nothing,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let before = net.client.info(c).unwrap().snd_mss;
        net.client.set_user_mss(c, 500).unwrap();
        assert_eq!(net.client.info(c).unwrap().snd_mss, before);
    }
);

#[test]
fn tcp_maxseg_out_of_range_is_an_error_not_a_panic() {
    let mut net = Net::new(Family::V4);
    let c = net.open();
    let l = net.sapp.listener.unwrap();
    for bad in [1u16, 87, 32_768, u16::MAX] {
        assert_eq!(net.client.set_user_mss(c, bad), Err(Error::InvalidArgument));
        assert_eq!(
            net.server.set_listener_user_mss(l, bad),
            Err(Error::InvalidArgument)
        );
    }
    for good in [0u16, 88, 32_767] {
        assert_eq!(net.client.set_user_mss(c, good), Ok(()));
    }
    net.server.close_listener(net.now, l).unwrap();
    assert_eq!(
        net.server.set_listener_user_mss(l, 1000),
        Err(Error::InvalidHandle)
    );
}

dual!(notsent_lowat_limits_a_write_and_writability, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.client.set_notsent_lowat(c, 4000).unwrap();
    assert_eq!(net.client.info(c).unwrap().notsent_lowat, 4000);
    let now = net.now;
    // Linux fills the unit it starts and sends what the initial window
    // allows at once; a new unit needs fewer than 4000 unsent bytes.
    let n = net.client.send(now, c, &vec![1u8; 200_000]).unwrap();
    assert!(n < 100_000, "{n}");
    let i = net.client.info(c).unwrap();
    assert!(i.unsent >= 4000, "{}", i.unsent);
    assert!(!net.client.writable(c));
    // A second write takes nothing while the mark is reached.
    assert_eq!(
        net.client.send(now, c, &[1u8; 1000]),
        Err(Error::WouldBlock)
    );
    // Once the peer acknowledges and the unsent bytes drain below half
    // the mark, the connection is writable again (and says so).
    let ok = net.run_until(Duration::from_secs(5), |n| n.client.writable(c));
    assert!(ok);
    assert!(net.client.info(c).unwrap().unsent < 2000);
    assert!(net.capp.events.contains(&finack_core::Event::Writable(c)));
});

dual!(
    the_notsent_lowat_default_comes_from_the_config,
    |f: Family| {
        let cfg = Config {
            notsent_lowat: 3000,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, cfg.clone(), cfg);
        let (c, _s) = net.established();
        assert_eq!(net.client.info(c).unwrap().notsent_lowat, 3000);
        let now = net.now;
        let n = net.client.send(now, c, &vec![1u8; 200_000]).unwrap();
        assert!(n < 100_000, "{n}");
        // 0 returns to the default; u32::MAX lifts the limit.
        net.client.set_notsent_lowat(c, u32::MAX).unwrap();
        assert!(net.client.writable(c));
        net.client.set_notsent_lowat(c, 0).unwrap();
        assert_eq!(net.client.info(c).unwrap().notsent_lowat, 3000);
        assert!(!net.client.writable(c));
    }
);

dual!(
    linux_wakes_a_writer_when_a_third_of_the_buffer_is_free,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.client.set_send_buffer(c, 30_000).unwrap();
        let now = net.now;
        let n = net.client.send(now, c, &vec![1u8; 100_000]).unwrap();
        // The last unit started below the limit fills up past it.
        assert!(n >= 30_000, "{n}");
        assert!(!net.client.writable(c));
        // Writable again only once the queue is down to two thirds of the limit.
        let ok = net.run_until(Duration::from_secs(5), |n| n.client.writable(c));
        assert!(ok);
        let i = net.client.info(c).unwrap();
        let queued = (i.unacked + i.unsent) as usize;
        assert!(queued <= 20_000, "{queued}");
    }
);

dual!(
    rfc_profile_keeps_the_buffer_limit_and_writes_at_one_free_byte,
    |f: Family| {
        let cfg = Config::rfc9293();
        let mut net = Net::with_configs(f, cfg.clone(), cfg);
        let (c, _s) = net.established();
        net.client.set_send_buffer(c, 30_000).unwrap();
        let now = net.now;
        assert_eq!(net.client.send(now, c, &vec![1u8; 100_000]), Ok(30_000));
        assert!(!net.client.writable(c));
        let ok = net.run_until(Duration::from_secs(5), |n| {
            n.client
                .info(c)
                .is_some_and(|i| i.unacked + i.unsent < 30_000)
        });
        assert!(ok);
        assert!(net.client.writable(c));
    }
);

dual!(tcpi_unacked_counts_segments_in_flight, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    let mss = usize::from(net.client.info(c).unwrap().snd_mss);
    let now = net.now;
    net.client.send(now, c, &vec![1u8; 3 * mss + 10]).unwrap();
    net.flush();
    let i = net.client.info(c).unwrap();
    assert_eq!(i.unacked as usize, 3 * mss + 10);
    assert_eq!(i.unacked_segments, 4);
    net.run_to_quiet();
    assert_eq!(net.client.info(c).unwrap().unacked_segments, 0);
    // A SYN in flight is one.
    let mut net = Net::new(f);
    let c = net.open();
    net.flush();
    assert_eq!(net.client.info(c).unwrap().unacked_segments, 1);
});

dual!(
    tcpi_last_data_recv_ages_from_the_handshake_and_the_last_data,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        net.run_for(Duration::from_millis(1000));
        let age = net.client.info(c).unwrap().last_data_recv;
        assert!(
            (Duration::from_millis(990)..=Duration::from_millis(1020)).contains(&age),
            "{age:?}"
        );
        let now = net.now;
        net.server.send(now, s, &[5u8; 100]).unwrap();
        net.run_until(Duration::from_secs(1), |n| n.capp.received.len() == 100);
        let age = net.client.info(c).unwrap().last_data_recv;
        assert!(age <= Duration::from_millis(1), "{age:?}");
        // Pure ACKs do not count as data.
        net.run_for(Duration::from_millis(300));
        let now = net.now;
        net.client.send(now, c, &[5u8; 100]).unwrap();
        net.run_to_quiet();
        let age = net.client.info(c).unwrap().last_data_recv;
        assert!(age >= Duration::from_millis(300), "{age:?}");
    }
);

dual!(tcpi_sacked_counts_segments_the_peer_sacked, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    let mss = usize::from(net.client.info(c).unwrap().snd_mss);
    // The first data segment is lost once; the four after it are SACKed.
    let mut dropped = false;
    net.drop = Some(Box::new(move |s: &Seg| {
        let first = s.from == Side::Client && s.len > 0 && !dropped;
        dropped |= first;
        first
    }));
    net.client.set_nodelay(c, true).unwrap();
    let now = net.now;
    net.client.send(now, c, &vec![1u8; 5 * mss]).unwrap();
    let seen = net.run_until(Duration::from_secs(1), |n| {
        n.client.info(c).is_some_and(|i| i.sacked_segments == 4)
    });
    assert!(seen, "{}", net.trace());
    assert_eq!(net.client.info(c).unwrap().unacked_segments, 5);
    net.run_to_quiet();
    let i = net.client.info(c).unwrap();
    assert_eq!((i.unacked_segments, i.sacked_segments), (0, 0));
});

dual!(
    a_write_past_the_limit_keeps_memory_within_bounds,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let cfg = Config::linux();
        let now = net.now;
        let n = net.client.send(now, c, &vec![1u8; 1 << 20]).unwrap();
        // The last unit started below the limit was filled past it...
        assert!(n > cfg.send_buffer && n <= cfg.send_buffer + 65_536, "{n}");
        // ...and the ring grew to hold it without doubling.
        let m = net.client.memory_usage();
        assert!(
            m.max_connection_bytes <= cfg.connection_memory_limit(),
            "{m:?}"
        );
    }
);

dual!(
    tcp_keepidle_keepintvl_keepcnt_shape_one_connection,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let cfg = Config::linux();
        // Unset: the configuration's two hours, 75 s and 9 probes.
        assert_eq!(
            net.client.keepalive_params(c).unwrap(),
            (
                cfg.keepalive_time,
                cfg.keepalive_interval,
                cfg.keepalive_probes
            )
        );
        // Linux's ranges: 1 to 32767 s, 1 to 127 probes.
        assert_eq!(
            net.client.set_keepalive_idle(c, Duration::ZERO),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            net.client
                .set_keepalive_interval(c, Duration::from_secs(32_768)),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            net.client.set_keepalive_count(c, 128),
            Err(Error::InvalidArgument)
        );
        net.client
            .set_keepalive_idle(c, Duration::from_millis(2500))
            .unwrap();
        net.client
            .set_keepalive_interval(c, Duration::from_secs(1))
            .unwrap();
        net.client.set_keepalive_count(c, 3).unwrap();
        // Whole seconds, rounded up.
        assert_eq!(
            net.client.keepalive_params(c).unwrap(),
            (Duration::from_secs(3), Duration::from_secs(1), 3)
        );
        net.client.set_keepalive(c, true).unwrap();
        // Probes at 3 s of silence, then each second: the peer answers each,
        // which restarts the idle time, so exactly one probe per 3 s.
        let before = net.sent_by(Side::Client).len();
        net.run_for(Duration::from_millis(3100));
        let probes = net.sent_by(Side::Client)[before..]
            .iter()
            .filter(|s| s.len == 0 && !s.has(TcpFlags::SYN))
            .count();
        assert_eq!(probes, 1, "{}", net.trace());
        net.run_for(Duration::from_millis(2800));
        let probes = net.sent_by(Side::Client)[before..]
            .iter()
            .filter(|s| s.len == 0 && !s.has(TcpFlags::SYN))
            .count();
        assert_eq!(probes, 1, "{}", net.trace());
    }
);

dual!(
    so_rcvlowat_and_tcp_window_clamp_as_linux_keeps_them,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        assert_eq!(net.client.recv_lowat(c).unwrap(), 1);
        // 0 means 1; at most half of tcp_rmem[2] for an autotuned buffer.
        assert_eq!(net.client.set_recv_lowat(c, 0).unwrap(), 1);
        let half = (Config::linux().recv_buffer_max / 2) as u32;
        assert_eq!(net.client.set_recv_lowat(c, u32::MAX).unwrap(), half);
        assert_eq!(net.client.set_recv_lowat(c, 100_000).unwrap(), 100_000);
        // The window clamp: at least 1152 bytes, and after the handshake
        // at most what the field carries at the agreed scale.
        let scale = net.client.info(c).unwrap().rcv_wscale;
        net.client.set_window_clamp(c, 100).unwrap();
        assert_eq!(net.client.window_clamp(c).unwrap(), 1152);
        net.client.set_window_clamp(c, u32::MAX).unwrap();
        assert_eq!(net.client.window_clamp(c).unwrap(), 65535 << scale);
        assert_eq!(
            net.client.set_window_clamp(c, 0),
            Err(Error::InvalidArgument)
        );
        // The RFC profile has no window clamp to set.
        let mut rfc = Net::with_configs(f, Config::rfc9293(), Config::rfc9293());
        let (c, _s) = rfc.established();
        assert_eq!(
            rfc.client.set_window_clamp(c, 30_000),
            Err(Error::InvalidArgument)
        );
    }
);

#[test]
fn tcp_syncnt_and_linger2_take_linux_ranges() {
    use finack_core::Linger2;
    let mut net = Net::new(Family::V4);
    let c = net.open();
    let l = net.sapp.listener.unwrap();
    for bad in [0u32, 128, u32::MAX] {
        assert_eq!(
            net.client.set_syn_retries(c, bad),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            net.server.set_listener_syn_retries(l, bad),
            Err(Error::InvalidArgument)
        );
    }
    // Unset, getsockopt reports the configuration's count.
    assert_eq!(net.client.syn_retries(c), Ok(Config::linux().syn_retries));
    net.client.set_syn_retries(c, 127).unwrap();
    assert_eq!(net.client.syn_retries(c), Ok(127));
    for bad in [Linger2::Seconds(0), Linger2::Seconds(121)] {
        assert_eq!(net.client.set_linger2(c, bad), Err(Error::InvalidArgument));
        assert_eq!(
            net.server.set_listener_linger2(l, bad),
            Err(Error::InvalidArgument)
        );
    }
    net.client.set_linger2(c, Linger2::Seconds(120)).unwrap();
    assert_eq!(net.client.linger2(c), Ok(Linger2::Seconds(120)));
    // What a Linux setsockopt(TCP_LINGER2) value means.
    assert_eq!(Linger2::from_linux(-7), Linger2::Abort);
    assert_eq!(Linger2::from_linux(0), Linger2::Default);
    assert_eq!(Linger2::from_linux(500), Linger2::Seconds(120));
    assert_eq!(Linger2::from_linux(3), Linger2::Seconds(3));
    net.server.close_listener(net.now, l).unwrap();
    assert_eq!(
        net.server.set_listener_syn_retries(l, 3),
        Err(Error::InvalidHandle)
    );
}

/// When the orphan's FIN-WAIT-2 ended, with the client's configuration
/// and TCP_LINGER2 (the server never closes its side).
fn fin_wait2_end(cfg: Config, linger2: Option<finack_core::Linger2>) -> Option<Duration> {
    let mut net = Net::with_configs(Family::V4, cfg, Config::linux());
    let (c, _s) = net.established();
    if let Some(l) = linger2 {
        net.client.set_linger2(c, l).unwrap();
    }
    let now = net.now;
    net.client.close(now, c).unwrap();
    net.run_for(Duration::from_secs(200));
    let tr = |to: State| {
        net.transitions
            .iter()
            .find(|t| t.socket == finack_core::Socket::Conn(c) && t.to == to)
            .map(|t| t.time)
    };
    let closed = tr(State::Closed);
    match tr(State::FinWait2) {
        Some(fw2) => closed.map(|end| end.saturating_duration_since(fw2)),
        // Gone on the ACK of its FIN: no time at all in FIN-WAIT-2.
        None => closed.map(|_| Duration::ZERO),
    }
}

#[test]
fn linger2_sets_an_orphans_fin_wait_2_time() {
    use finack_core::Linger2;
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    // The RFC profile has no FIN-WAIT-2 timer unless the application sets one,
    // and then waits exactly that long.
    assert_eq!(fin_wait2_end(Config::rfc9293(), None), None);
    assert_eq!(
        secs(fin_wait2_end(Config::rfc9293(), Some(Linger2::Seconds(3)))),
        Some(3.0)
    );
    // Linux: tcp_fin_timeout (60 s), or the socket's time; a time over
    // TIME-WAIT's 60 s runs in two stages of the time less 60 s (61 s
    // waits 2 s), and never less than 3.5 RTOs (tcp_fin_time()).
    assert_eq!(secs(fin_wait2_end(Config::linux(), None)), Some(60.0));
    assert_eq!(
        secs(fin_wait2_end(Config::linux(), Some(Linger2::Seconds(3)))),
        Some(3.0)
    );
    assert_eq!(
        secs(fin_wait2_end(Config::linux(), Some(Linger2::Seconds(61)))),
        Some(2.0)
    );
    assert_eq!(
        secs(fin_wait2_end(Config::linux(), Some(Linger2::Seconds(120)))),
        Some(120.0)
    );
    let floor = fin_wait2_end(Config::linux(), Some(Linger2::Seconds(1))).unwrap();
    assert!(floor > Duration::from_millis(700), "{floor:?}");
    // Abort: the ACK of the FIN ends it at once.
    assert_eq!(
        fin_wait2_end(Config::linux(), Some(Linger2::Abort)),
        Some(Duration::ZERO)
    );
}

#[test]
fn tcp_defer_accept_counts_syn_ack_timeouts() {
    let mut net = Net::new(Family::V4);
    let c = net.open();
    let l = net.sapp.listener.unwrap();
    // Seconds become the SYN,ACK timeouts (1, 2, 4 ... s, at most 120 s
    // each) whose sum first covers them, read back as that sum.
    for (set, read) in [(0, 0), (1, 1), (3, 3), (4, 7), (5, 7), (8, 15), (200, 247)] {
        net.server.set_listener_defer_accept(l, set).unwrap();
        assert_eq!(net.server.listener_defer_accept(l), Ok(read), "{set}");
        assert_eq!(net.server.defer_accept_rounded(set), read, "{set}");
    }
    net.client.set_defer_accept(c, 2).unwrap();
    assert_eq!(net.client.defer_accept(c), Ok(3));
    // At most 255 timeouts, however long the time asked for.
    net.server.set_listener_defer_accept(l, u32::MAX).unwrap();
    let most = net.server.listener_defer_accept(l).unwrap();
    assert_eq!(most, 1 + 2 + 4 + 8 + 16 + 32 + 64 + 120 * 248);
}

#[test]
fn tcp_quickack_reports_interactive_mode() {
    let mut net = Net::new(Family::V4);
    let (c, _s) = net.established();
    assert_eq!(net.client.quickack(c), Ok(true));
    let now = net.now;
    net.client.set_quickack(now, c, false).unwrap();
    assert_eq!(net.client.quickack(c), Ok(false));
    net.client.set_quickack(now, c, true).unwrap();
    assert_eq!(net.client.quickack(c), Ok(true));
}
