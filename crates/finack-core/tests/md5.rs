//! The TCP MD5 signature option (RFC 2385, kind 19) on arrival, as Linux
//! treats it when no key is set (`Config::md5_option_checks`): a signed
//! segment is unexpected and dropped unanswered, for a connection, for a
//! listener and for no socket at all (no RST). The RFC 9293 profile ignores
//! the option (MUST-6).

mod common;
use common::*;

use finack_core::wire::{TcpFlags, TcpOptions};
use finack_core::Config;

fn signed() -> TcpOptions {
    TcpOptions {
        md5: Some(*b"0123456789abcdef"),
        ..Default::default()
    }
}

dual!(linux_drops_signed_data_for_a_connection, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    // The server's SYN,ACK: its data starts one past that SYN.
    let last = net.sent_by(Side::Server).last().copied().unwrap().clone();
    assert!(last.has(TcpFlags::SYN));
    let seq = last.seq + 1;
    let before = net.client.info(c).unwrap().bytes_received;
    let sent = net.log.len();
    net.inject(
        Side::Client,
        last.src,
        last.dst,
        seq,
        last.ack,
        TcpFlags::ACK.union(TcpFlags::PSH),
        signed(),
        b"hello",
    );
    assert_eq!(net.client.info(c).unwrap().bytes_received, before);
    assert_eq!(net.client.stats().md5_unexpected, 1);
    assert_eq!(net.log.len(), sent, "no reply: {}", net.trace());
    // The same bytes unsigned are taken.
    net.inject(
        Side::Client,
        last.src,
        last.dst,
        seq,
        last.ack,
        TcpFlags::ACK.union(TcpFlags::PSH),
        TcpOptions::default(),
        b"hello",
    );
    assert_eq!(net.client.info(c).unwrap().bytes_received, before + 5);
});

dual!(linux_drops_a_signed_syn_to_a_listener, |f: Family| {
    let mut net = Net::new(f);
    net.server.listen(f.server(80), 16).unwrap();
    let syn = TcpOptions {
        mss: Some(1000),
        ..signed()
    };
    net.inject(
        Side::Server,
        f.client(40000),
        f.server(80),
        finack_core::wire::SeqNumber(7),
        finack_core::wire::SeqNumber(0),
        TcpFlags::SYN,
        syn,
        &[],
    );
    assert!(net.sent_by(Side::Server).is_empty(), "{}", net.trace());
    assert_eq!(net.server.stats().md5_unexpected, 1);
});

dual!(
    signed_segment_for_no_socket_gets_no_rst_on_linux_only,
    |f: Family| {
        for (cfg, rsts) in [(Config::linux(), 0), (Config::rfc9293(), 1)] {
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            net.inject(
                Side::Server,
                f.client(40000),
                f.server(81),
                finack_core::wire::SeqNumber(7),
                finack_core::wire::SeqNumber(9),
                TcpFlags::ACK,
                signed(),
                &[],
            );
            let sent = net.sent_by(Side::Server);
            assert_eq!(sent.len(), rsts, "{}", net.trace());
            assert!(sent.iter().all(|s| s.has(TcpFlags::RST)));
        }
    }
);
