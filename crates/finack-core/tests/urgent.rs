//! Sending urgent data (RFC 9293 §3.8.5, MUST-30; Linux tcp_sendmsg() with
//! MSG_OOB): the urgent pointer names the byte after the urgent data, every
//! segment starting below it carries URG with its own offset, resent ones
//! included, until the peer acknowledges the urgent data.

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::{Event, SendFlags};

dual!(urgent_pointer_on_every_segment_below_snd_up, |f: Family| {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.client.set_nodelay(c, true).unwrap();
    let mss = usize::from(net.client.info(c).unwrap().snd_mss);
    // The first flight is lost.
    net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
    net.client.send(net.now, c, &pattern(3 * mss, 1)).unwrap();
    net.flush();
    let first = net
        .sent_by(Side::Client)
        .into_iter()
        .find(|s| s.len > 0)
        .unwrap()
        .clone();
    assert!(!first.has(TcpFlags::URG));
    let oob = SendFlags {
        oob: true,
        ..SendFlags::default()
    };
    let mark = net.log.len();
    let now = net.now;
    net.client.send_with(now, c, b"!", oob).unwrap();
    net.flush();
    // Sent at once, pointing just past the urgent byte.
    let urg = net.log[mark..]
        .iter()
        .find(|s| s.from == Side::Client && s.len == 1)
        .expect("the urgent byte goes out at once")
        .clone();
    assert!(urg.has(TcpFlags::URG), "{}", net.trace());
    assert_eq!(urg.urgent, 1);
    let up = urg.seq + 1;
    // Let the retransmissions through: each carries its own offset.
    net.drop = None;
    let mark = net.log.len();
    net.run_for(Duration::from_secs(5));
    let resent: Vec<Seg> = net.log[mark..]
        .iter()
        .filter(|s| s.from == Side::Client && s.len > 0)
        .cloned()
        .collect();
    assert!(!resent.is_empty(), "{}", net.trace());
    for s in &resent {
        assert!(s.has(TcpFlags::URG), "{}", net.trace());
        assert_eq!(u32::from(s.urgent), (up - s.seq) as u32);
    }
    // The receiver was told (MUST-32).
    assert!(net
        .sapp
        .events
        .iter()
        .any(|e| matches!(e, Event::Urgent(_))));
    assert_eq!(net.client.info(c).unwrap().unacked, 0);
    // Acknowledged: urgent mode is over.
    let mark = net.log.len();
    net.client.send(net.now, c, b"after").unwrap();
    net.run_for(Duration::from_secs(1));
    let later = net.log[mark..]
        .iter()
        .find(|s| s.from == Side::Client && s.len > 0)
        .unwrap();
    assert!(!later.has(TcpFlags::URG));
});
