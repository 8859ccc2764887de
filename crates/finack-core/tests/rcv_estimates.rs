//! The receiver's estimates Linux reports in tcp_info: the peer's segment
//! size (`tcpi_rcv_mss`, tcp_measure_rcv_mss()) and the receive-side RTT
//! (`tcpi_rcv_rtt`, tcp_rcv_rtt_measure_ts() with timestamps,
//! tcp_rcv_rtt_measure() without).

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::{TcpFlags, TcpOptions};
use finack_core::Config;

dual!(
    rcv_rtt_from_timestamps_and_rcv_mss_from_full_segments,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, s) = net.established();
        let before = net.server.info(s).unwrap();
        assert_eq!(before.rcv_rtt, Duration::ZERO);
        // Linux tcp_initialize_rcv_mss(): at most 536 before data.
        assert_eq!(before.rcv_mss, 536);
        net.client.send(net.now, c, &pattern(40_000, 3)).unwrap();
        net.run_to_quiet();
        let info = net.server.info(s).unwrap();
        let mss = net.client.info(c).unwrap().snd_mss;
        assert_eq!(info.rcv_mss, mss, "full segments set the estimate");
        // 10 ms each way: the echoed timestamps are one RTT old.
        assert!(
            info.rcv_rtt >= Duration::from_millis(19) && info.rcv_rtt <= Duration::from_millis(25),
            "{:?}",
            info.rcv_rtt
        );
    }
);

dual!(
    rcv_rtt_without_timestamps_from_a_window_of_data,
    |f: Family| {
        let cfg = Config {
            timestamps: false,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, cfg.clone(), cfg);
        let (c, s) = net.established();
        net.client.send(net.now, c, &pattern(400_000, 4)).unwrap();
        net.run_to_quiet();
        let rtt = net.server.info(s).unwrap().rcv_rtt;
        // A window's worth of data cannot arrive faster than the ACK that
        // opened it went out and came back: at least one RTT (20 ms).
        assert!(
            rtt >= Duration::from_millis(19) && rtt <= Duration::from_millis(200),
            "{rtt:?}"
        );
    }
);

dual!(a_gro_packet_counts_its_segment_size, |f: Family| {
    let mut net = Net::new(f);
    let (_c, s) = net.established();
    let synack = net.sent_by(Side::Server).last().copied().unwrap().clone();
    let data = pattern(2000, 5);
    let pkt = craft(
        synack.dst,
        synack.src,
        synack.ack,
        synack.seq + 1,
        TcpFlags::ACK,
        65535,
        TcpOptions::default(),
        &data,
    );
    let now = net.now;
    net.server
        .handle_offloaded_packet(
            now,
            &pkt,
            finack_core::RxOffload {
                gso_size: 700,
                checksum_trusted: false,
            },
        )
        .unwrap();
    assert_eq!(net.server.info(s).unwrap().rcv_mss, 700);
    // The same bytes as one plain packet: the estimate takes its length,
    // at most our own MSS.
    let pkt = craft(
        synack.dst,
        synack.src,
        synack.ack + 2000,
        synack.seq + 1,
        TcpFlags::ACK,
        65535,
        TcpOptions::default(),
        &data,
    );
    net.server.handle_packet(now, &pkt).unwrap();
    let info = net.server.info(s).unwrap();
    assert_eq!(info.rcv_mss, info.adv_mss);
});

dual!(
    a_super_segment_with_a_partial_checksum_is_taken_only_when_trusted,
    |f: Family| {
        let mut net = Net::new(f);
        let (_c, s) = net.established();
        let synack = net.sent_by(Side::Server).last().copied().unwrap().clone();
        let data = pattern(40 * 1448, 6);
        let mut pkt = craft(
            synack.dst,
            synack.src,
            synack.ack,
            synack.seq + 1,
            TcpFlags::ACK,
            65535,
            TcpOptions::default(),
            &data,
        );
        // What a host's stack writes for a device to finish
        // (CHECKSUM_PARTIAL): the checksum field holds something else than
        // the checksum, here a wrong value.
        let th = if f == Family::V4 { 20 } else { 40 };
        pkt[th + 16] ^= 0x5a;
        let rx = finack_core::RxOffload {
            gso_size: 1448,
            checksum_trusted: true,
        };
        let now = net.now;
        assert!(net.server.handle_packet(now, &pkt).is_err());
        assert_eq!(net.server.stats().bad_checksum, 1);
        net.server.handle_offloaded_packet(now, &pkt, rx).unwrap();
        let mut got = vec![0u8; data.len() + 1];
        let n = net.server.recv(now, s, &mut got).unwrap();
        assert_eq!(&got[..n], &data[..], "all 40 segments' bytes, once");
        // tcp_measure_rcv_mss(): the segment size, at most our own MSS.
        let info = net.server.info(s).unwrap();
        assert_eq!(info.rcv_mss, 1448.min(info.adv_mss));
    }
);

/// A bulk transfer whose reader keeps up: with autotuning (the Linux
/// profile) the receiver's buffer, and so its window, grows past where it
/// started, as tcp_rcv_space_adjust() grows Linux's; with SO_RCVBUF set,
/// or in the RFC 9293 profile, it stays put.
fn grown_buffer(cfg: Config, set_rcvbuf: bool) -> (u32, u32, u64) {
    let mut net = Net::with_configs(Family::V4, cfg.clone(), cfg.clone());
    let (c, s) = net.established();
    if set_rcvbuf {
        // SO_RCVBUF for the buffer it starts with: under Linux's memory
        // model the limit is twice what is asked.
        let ask = if cfg.rcv_memory {
            cfg.recv_buffer / 2
        } else {
            cfg.recv_buffer
        };
        net.server.set_recv_buffer(s, ask).unwrap();
    }
    let data = pattern(8 << 20, 7);
    let mut sent = 0;
    let started = net.now;
    while sent < data.len() {
        let now = net.now;
        sent += net.client.send(now, c, &data[sent..]).unwrap_or(0);
        net.run_for(Duration::from_millis(5));
    }
    let all = data.len();
    assert!(net.run_until(Duration::from_secs(600), |n| n.sapp.received.len() >= all));
    let took = (net.now - started).as_millis() as u64;
    assert!(net.sapp.received == data);
    let info = net.server.info(s).unwrap();
    let window = net
        .sent_by(Side::Server)
        .iter()
        .filter(|seg| !seg.has(TcpFlags::SYN))
        .map(|seg| u32::from(seg.window) << info.rcv_wscale)
        .max()
        .unwrap();
    (info.rcv_buf, window, took)
}

#[test]
fn autotuning_grows_the_receive_buffer_of_a_reader_that_keeps_up() {
    let linux = Config::linux();
    let start = linux.recv_buffer as u32;
    let (buf, window, fast) = grown_buffer(linux.clone(), false);
    assert!(buf > 4 * start, "grew to {buf}");
    assert!(buf <= linux.recv_buffer_max as u32);
    assert!(window > start, "the window followed: {window}");
    // SO_RCVBUF locks the size (Linux SOCK_RCVBUF_LOCK).
    let (buf, window, slow) = grown_buffer(linux.clone(), true);
    assert_eq!(buf, start);
    assert!(window <= start);
    // 20 ms RTT: 128 KiB a round trip is ~6.5 MB/s, so the grown window
    // moved the 8 MiB several times faster.
    assert!(fast * 2 < slow, "{fast} ms vs {slow} ms");
    // The RFC profile keeps buffers the size they are given.
    let (buf, _, _) = grown_buffer(Config::rfc9293(), false);
    assert_eq!(buf, Config::rfc9293().recv_buffer as u32);
}

/// The sender's side of autotuning (tcp_sndbuf_expand()): a writer that
/// keeps the buffer full over a 20 ms path gets a buffer of twice its
/// congestion window's segments, past the 256 KiB it started with; with
/// SO_SNDBUF set it keeps its size.
fn grown_send_buffer(lock: bool) -> (u32, u32) {
    let cfg = Config::linux();
    let mut net = Net::with_configs(Family::V4, cfg.clone(), cfg.clone());
    let (c, _s) = net.established();
    if lock {
        net.client.set_send_buffer(c, cfg.send_buffer).unwrap();
    }
    let data = pattern(16 << 20, 9);
    let mut sent = 0;
    while sent < data.len() {
        let now = net.now;
        sent += net.client.send(now, c, &data[sent..]).unwrap_or(0);
        net.run_for(Duration::from_millis(5));
    }
    let all = data.len();
    assert!(net.run_until(Duration::from_secs(600), |n| n.sapp.received.len() >= all));
    assert!(net.sapp.received == data);
    let info = net.client.info(c).unwrap();
    (info.snd_buf, info.cwnd)
}

#[test]
fn autotuning_grows_the_send_buffer_of_a_writer_that_keeps_it_full() {
    let start = Config::linux().send_buffer as u32;
    let (buf, cwnd) = grown_send_buffer(false);
    assert!(buf > start, "grew to {buf} (cwnd {cwnd})");
    assert!(buf <= Config::linux().send_buffer_max as u32);
    let (buf, _) = grown_send_buffer(true);
    assert_eq!(buf, start);
}

dual!(
    a_super_segment_is_acknowledged_at_once_as_the_segments_it_holds,
    |f: Family| {
        // No quick ACKs: a single small segment waits for the delayed ACK.
        let cfg = Config {
            quickacks: 0,
            ..Config::linux()
        };
        let mut net = Net::with_configs(f, cfg.clone(), cfg);
        let (_c, _s) = net.established();
        let synack = net.sent_by(Side::Server).last().copied().unwrap().clone();
        let mut buf = vec![0u8; 2048];
        let now = net.now;
        let one = pattern(700, 8);
        let pkt = craft(
            synack.dst,
            synack.src,
            synack.ack,
            synack.seq + 1,
            TcpFlags::ACK,
            65535,
            TcpOptions::default(),
            &one,
        );
        net.server.handle_packet(now, &pkt).unwrap();
        assert!(
            net.server.poll_transmit(now, &mut buf).is_none(),
            "one small segment: the ACK is delayed"
        );
        // Ten full-sized segments merged into one packet: far more than two
        // full-sized segments unacknowledged (RFC 9293 §3.8.6.3, SHLD-19).
        // (Not many more: Linux acknowledges at once only while the window
        // still reaches as far as the one announced, __tcp_ack_snd_check();
        // a packet that takes half the buffer's memory waits for the reader
        // or the delayed-ACK timer.)
        let data = pattern(10 * 1448, 9);
        let pkt = craft(
            synack.dst,
            synack.src,
            synack.ack + 700,
            synack.seq + 1,
            TcpFlags::ACK,
            65535,
            TcpOptions::default(),
            &data,
        );
        let rx = finack_core::RxOffload {
            gso_size: 1448,
            checksum_trusted: false,
        };
        net.server.handle_offloaded_packet(now, &pkt, rx).unwrap();
        let n = net
            .server
            .poll_transmit(now, &mut buf)
            .expect("an ACK at once");
        let (_, tcp) = finack_core::wire::parse_tcp_packet(&buf[..n]).unwrap();
        assert!(tcp.flags.contains(TcpFlags::ACK));
        assert_eq!(tcp.ack, synack.ack + 700 + data.len() as u32);
    }
);
