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
