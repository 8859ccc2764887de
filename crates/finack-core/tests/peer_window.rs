//! How `Config::linux()` sends into a small or reopening peer window:
//! whole segments only (Linux tcp_snd_wnd_test(), tcp_mss_split_point()),
//! and a window that reopens with nothing in flight ends the persist timer
//! (tcp_ack_probe()) so the data then sent gets a fresh retransmission
//! timer.

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::{TcpFlags, TcpOptions};

/// The server's window, as a raw (unscaled) field, in an ACK of all the
/// client has sent so far.
fn window_update(net: &mut Net, window: u16) {
    let last = net
        .log
        .iter()
        .rev()
        .find(|s| s.from == Side::Client)
        .unwrap()
        .clone();
    let bytes = craft(
        last.dst,
        last.src,
        last.ack,
        last.seq + last.len as u32,
        TcpFlags::ACK,
        window,
        TcpOptions::default(),
        &[],
    );
    let now = net.now;
    net.client.handle_packet(now, &bytes).unwrap();
    net.flush();
}

fn client_data(net: &Net, from: usize) -> Vec<(Duration, u32, usize)> {
    net.log[from..]
        .iter()
        .filter(|s| s.from == Side::Client && s.len > 0)
        .map(|s| {
            (
                s.time.saturating_duration_since(net.log[0].time),
                s.seq.0,
                s.len,
            )
        })
        .collect()
}

dual!(
    a_window_smaller_than_a_segment_takes_no_data,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        let mss = net.client.info(c).unwrap().snd_mss as usize;
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
        // A window of one unit of the scale: less than a segment.
        window_update(&mut net, 1);
        assert!((net.client.info(c).unwrap().snd_wnd as usize) < mss);
        let mark = net.log.len();
        // Enough for a whole unit (skb), which Linux pushes at once.
        net.client.send(net.now, c, &vec![5u8; 100_000]).unwrap();
        net.flush();
        assert_eq!(client_data(&net, mark), vec![], "{}", net.trace());
    }
);

dual!(
    a_reopened_window_gives_the_data_a_fresh_timer,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
        window_update(&mut net, 0);
        let mark = net.log.len();
        net.client.send(net.now, c, &[6u8; 1000]).unwrap();
        net.flush();
        // The persist timer waits an RTO (at least 200 ms); the window opens
        // just before it would fire.
        net.run_for(Duration::from_millis(180));
        window_update(&mut net, 1000);
        let sent = client_data(&net, mark);
        assert_eq!(sent.len(), 1, "{}", net.trace());
        // Nothing is resent until a loss probe or RTO computed from now.
        net.run_for(Duration::from_millis(150));
        assert_eq!(client_data(&net, mark), sent, "{}", net.trace());
    }
);

/// Data segments the client sent from `from` on: (offset from `start`, in
/// segments; length).
fn offsets(net: &Net, from: usize, start: u32, mss: usize) -> Vec<usize> {
    client_data(net, from)
        .iter()
        .map(|&(_, seq, _)| seq.wrapping_sub(start) as usize / mss)
        .collect()
}

dual!(
    linux_defers_a_small_piece_of_a_unit_for_the_next_ack,
    |f: Family| {
        // Linux tcp_tso_should_defer(): right after a transmission, an ACK
        // that frees one segment of the congestion window, while the unit
        // waiting holds more, lets nothing out: a later ACK will free more.
        let run = |tso_defer: bool| {
            let cfg = finack_core::Config {
                tso_defer,
                ..finack_core::Config::linux()
            };
            let mut net = Net::with_configs(f, cfg.clone(), cfg);
            let (c, _s) = net.established();
            let mss = net.client.info(c).unwrap().snd_mss as usize;
            net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
            let mark = net.log.len();
            net.client.send(net.now, c, &vec![7u8; 14 * mss]).unwrap();
            net.flush();
            let first = net.log[mark..]
                .iter()
                .find(|s| s.from == Side::Client && s.len > 0)
                .unwrap()
                .clone();
            let start = first.seq.0;
            // Two duplicate ACKs back to back, 20 ms on: the first lets one
            // new segment out (nothing was sent for a while, so nothing waits);
            // the second frees one more segment of the window right after that
            // transmission, and the rest of the unit waits for a later ACK.
            net.now += Duration::from_millis(20);
            for sacked in [1u32, 2] {
                let mut options = TcpOptions::default();
                options.sack_blocks.push(
                    first.seq + mss as u32,
                    first.seq + (1 + sacked) * mss as u32,
                );
                net.inject(
                    Side::Client,
                    first.dst,
                    first.src,
                    first.ack,
                    first.seq,
                    TcpFlags::ACK,
                    options,
                    &[],
                );
            }
            offsets(&net, mark, start, mss)
        };
        assert_eq!(run(true), (0..11).collect::<Vec<usize>>());
        assert_eq!(run(false), (0..12).collect::<Vec<usize>>());
    }
);
