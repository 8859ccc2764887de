//! The forms of the resets a connection sends, by profile: the reply to data
//! that arrives after close(), and the active reset of ABORT.

mod common;
use common::peer::*;

use std::time::Duration;

use finack_core::wire::{Ecn, TcpFlags};
use finack_core::{Config, State};

/// Accept a connection, close it and let the FIN leave; the peer then sends
/// 100 bytes that acknowledge nothing of the FIN (SEG.ACK = 1). Returns the
/// engine's answer.
fn data_after_close(cfg: Config) -> Vec<Out> {
    let mut rig = Rig::new(cfg);
    rig.accept(TcpFlags::empty(), Ecn::NotEct);
    let c = rig.c();
    rig.ep.close(rig.now, c).unwrap();
    rig.drain();
    let fin = rig.out.last().unwrap().clone();
    assert!(
        fin.flags.fin() && fin.seq == rig.iss.wrapping_add(1),
        "{fin:?}"
    );
    rig.now += Duration::from_millis(10);
    let answer = rig.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::PSH, 1, 1, &[7; 100]);
    assert_eq!(rig.ep.state(c), State::Closed, "the connection is gone");
    answer
        .into_iter()
        .map(|mut o| {
            o.seq = o.seq.wrapping_sub(rig.iss);
            o
        })
        .collect()
}

#[test]
fn data_after_close_is_answered_as_a_closed_port_in_the_linux_profile() {
    // Linux tcp_v4_send_reset(): <SEQ=SEG.ACK><CTL=RST>, no ACK flag.
    let out = data_after_close(Config::linux());
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].flags.rst() && !out[0].flags.ack(), "{out:?}");
    assert_eq!(out[0].seq, 1, "SEG.ACK, before our FIN");
}

#[test]
fn data_after_close_resets_from_snd_nxt_in_the_rfc_profile() {
    let out = data_after_close(Config::rfc9293());
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].flags.rst() && !out[0].flags.ack(), "{out:?}");
    assert_eq!(out[0].seq, 2, "SND.NXT, past our FIN");
}

#[test]
fn abort_resets_with_ack_only_in_the_linux_profile() {
    for (cfg, with_ack) in [(Config::linux(), true), (Config::rfc9293(), false)] {
        let mut rig = Rig::new(cfg);
        rig.accept(TcpFlags::empty(), Ecn::NotEct);
        rig.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::PSH, 1, 1, &[1; 10]);
        let from = rig.out.len();
        let c = rig.c();
        rig.ep.abort(rig.now, c).unwrap();
        rig.drain();
        let out = rig.since(from);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].flags.rst(), "{out:?}");
        assert_eq!(out[0].seq, rig.iss.wrapping_add(1));
        assert_eq!(out[0].flags.ack(), with_ack, "{out:?}");
        if with_ack {
            assert_eq!(out[0].ack, PEER_ISN + 11, "ACK = RCV.NXT");
        }
    }
}

/// A reset flushes the data not yet read in the RFC profile (RFC 9293
/// §3.10.7.4: "All segment queues should be flushed"); Linux keeps it
/// readable (unless tcp_purge_receive_queue) and reports the reset after it.
#[test]
fn a_reset_flushes_unread_data_only_where_the_profile_says() {
    for (cfg, kept) in [(Config::linux(), true), (Config::rfc9293(), false)] {
        let mut rig = Rig::new(cfg);
        rig.accept(TcpFlags::empty(), Ecn::NotEct);
        let c = rig.c();
        rig.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::PSH, 1, 1, &[5; 300]);
        rig.now += Duration::from_millis(10);
        rig.send(Ecn::NotEct, TcpFlags::RST | TcpFlags::ACK, 301, 1, &[]);
        assert_eq!(rig.ep.state(c), State::Closed);
        let mut buf = [0u8; 1000];
        let first = rig.ep.recv(rig.now, c, &mut buf);
        if kept {
            assert_eq!(first, Ok(300));
            assert_eq!(
                rig.ep.recv(rig.now, c, &mut buf),
                Err(finack_core::Error::ConnectionReset)
            );
        } else {
            assert_eq!(first, Err(finack_core::Error::ConnectionReset));
        }
    }
}
