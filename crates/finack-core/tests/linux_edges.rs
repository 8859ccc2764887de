//! Places where Linux departs from the letter of the RFCs and the Linux
//! profile follows it, against the RFC 9293 profile: the SYN's window, the
//! right edge of the receive window, and what `tcpi_bytes_acked` counts.

mod common;
use common::peer::*;

use finack_core::wire::{Ecn, TcpFlags};
use finack_core::Config;

fn with_buffer(mut cfg: Config) -> Config {
    cfg.recv_buffer = 20_000;
    cfg.rcvbuf_autotune = false;
    cfg
}

#[test]
fn syn_windows_are_whole_segments_in_the_linux_profile() {
    // Linux tcp_select_initial_window(): 20000 bytes of room (half the
    // memory of SO_RCVBUF 20000), MSS 1460.
    for (cfg, want) in [(Config::linux(), 18_980), (Config::rfc9293(), 20_000)] {
        let with_buffer = |mut c: Config| {
            let linux = c.rcv_memory;
            c = with_buffer(c);
            if linux {
                c.recv_buffer *= 2;
            }
            c
        };
        let mut rig = Rig::new(with_buffer(cfg.clone()));
        let synack = rig.accept(TcpFlags::empty(), Ecn::NotEct);
        assert_eq!(synack.window, want, "SYN,ACK");
        let mut rig = Rig::new(with_buffer(cfg.clone()));
        let syn = rig.connect(TcpFlags::empty());
        assert_eq!(syn.window, want, "SYN");
        // A cookie SYN,ACK (tcp_syncookies=2) is sized the same way.
        let mut rig = Rig::new(Config {
            syn_cookies: true,
            syn_cookies_always: true,
            ..with_buffer(cfg)
        });
        let cookie = rig.accept(TcpFlags::empty(), Ecn::NotEct);
        assert_eq!(rig.ep.stats().syn_cookies_sent, 1);
        assert_eq!(cookie.window, want, "cookie SYN,ACK");
    }
}

#[test]
fn bytes_acked_counts_an_active_opens_syn() {
    let mut rig = Rig::new(Config::linux());
    rig.connect(TcpFlags::empty());
    let info = |rig: &Rig| rig.ep.info(rig.c()).unwrap().bytes_acked;
    assert_eq!(info(&rig), 1, "SND.UNA moved over our SYN");
    rig.write(100);
    rig.send(Ecn::NotEct, TcpFlags::ACK, 1, 101, &[]);
    assert_eq!(info(&rig), 101);
    let mut rig = Rig::new(Config::linux());
    rig.accept(TcpFlags::empty(), Ecn::NotEct);
    assert_eq!(
        info(&rig),
        0,
        "a passive child starts with its SYN acknowledged"
    );
}

#[test]
fn an_ack_at_the_right_edge_of_the_window_counts_in_the_linux_profile() {
    for (cfg, taken) in [(Config::linux(), true), (Config::rfc9293(), false)] {
        let mut rig = Rig::new(with_buffer(cfg));
        rig.accept(TcpFlags::empty(), Ecn::NotEct);
        let data = rig.write(100);
        let edge = 1 + u32::from(data.last().unwrap().window);
        let reply = rig.send(Ecn::NotEct, TcpFlags::ACK, edge, 101, &[]);
        let acked = rig.ep.info(rig.c()).unwrap().bytes_acked;
        assert_eq!(acked == 100, taken, "{acked} {reply:?}");
        // The RFC profile answers the unacceptable segment with an ACK.
        assert_eq!(reply.is_empty(), taken, "{reply:?}");
        // One past the edge is out in both (after the reply rate limit).
        rig.now += std::time::Duration::from_secs(1);
        let reply = rig.send(Ecn::NotEct, TcpFlags::ACK, edge + 1, 101, &[]);
        assert_eq!(reply.len(), 1, "{reply:?}");
    }
}
