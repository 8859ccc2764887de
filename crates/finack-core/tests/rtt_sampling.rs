//! RTT samples without timestamps: `Config::linux()` times every ACK of new
//! data from the send time of the oldest segment it covers (Linux
//! tcp_clean_rtx_queue()), the RFC 9293 profile one timed segment at a time.

mod common;
use common::*;

use std::time::Duration;

use finack_core::wire::{TcpFlags, TcpOptions};
use finack_core::Config;

/// Three segments leave at once (within any initial window); an ACK for
/// two of them comes 10 ms later, one for the third 30 ms later. Returns the client's smoothed RTT after
/// each of the two ACKs, in milliseconds.
fn srtt_after_two_acks(f: Family, cfg: Config) -> (f64, f64) {
    let cfg = Config {
        timestamps: false,
        ..cfg
    };
    let mut net = Net::with_configs(f, cfg.clone(), cfg);
    let (c, _s) = net.established();
    let mss = net.client.info(c).unwrap().snd_mss as u32;
    net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client && s.len > 0));
    let mark = net.log.len();
    net.client
        .send(net.now, c, &pattern(3 * mss as usize, 3))
        .unwrap();
    net.flush();
    let first = net.log[mark..]
        .iter()
        .find(|s| s.from == Side::Client && s.len > 0)
        .unwrap()
        .clone();
    let ack = |net: &mut Net, segs: u32| {
        net.inject(
            Side::Client,
            first.dst,
            first.src,
            first.ack,
            first.seq + segs * mss,
            TcpFlags::ACK,
            TcpOptions::default(),
            &[],
        );
    };
    let start = net.now;
    net.now = start + Duration::from_millis(10);
    ack(&mut net, 2);
    let first_ack = net.client.info(c).unwrap().srtt.unwrap();
    net.now = start + Duration::from_millis(30);
    ack(&mut net, 3);
    let after = net.client.info(c).unwrap().srtt.unwrap();
    (first_ack.as_secs_f64() * 1e3, after.as_secs_f64() * 1e3)
}

/// RFC 6298 §2.3 with alpha 1/8, in milliseconds.
fn rfc6298_smooth(srtt: f64, sample: f64) -> f64 {
    srtt + (sample - srtt) / 8.0
}

fn within_10us(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.01
}

dual!(
    linux_times_every_ack_from_the_oldest_segment_it_covers,
    |f: Family| {
        // The second ACK is a sample of 30 ms: its segment left at the start.
        let (first, second) = srtt_after_two_acks(f, Config::linux());
        let want = rfc6298_smooth(first, 30.0);
        assert!(
            within_10us(second, want),
            "{first} -> {second}, want {want}"
        );
    }
);

dual!(rfc_profile_times_one_segment_at_a_time, |f: Family| {
    // The timed segment is the first; the second ACK covers none being
    // timed, so it is no sample.
    let (first, second) = srtt_after_two_acks(f, Config::rfc9293());
    assert!(within_10us(second, first), "{first} -> {second}");
});
