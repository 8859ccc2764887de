//! Classic ECN (RFC 3168) in the Linux profile, one behaviour per test: the
//! negotiation in SYN and SYN,ACK (`Config::ecn`, Linux `tcp_ecn`), ECT(0) on
//! new data only, the receiver's ECE echo of CE marks until CWR, and the
//! sender's once-per-window reduction (Linux's CWR state) with CWR on the
//! next new data. The test plays the peer by hand, packet by packet, with the
//! IP ECN field under its control.

use std::time::Duration;

use finack_core::wire::{Ecn, TcpFlags};
use finack_core::{Config, EcnMode};

mod common;

use common::peer::{Rig, MSS, PEER_ISN};

fn ecn_cfg(mode: EcnMode) -> Config {
    Config {
        ecn: mode,
        // Every ACK at once unless the test says otherwise.
        quickacks: 16,
        ..Config::linux()
    }
}

const ECE_CWR: TcpFlags = TcpFlags::ECE.union(TcpFlags::CWR);

#[test]
fn profiles_accept_ecn_but_do_not_ask_for_it() {
    // Linux tcp_ecn = 2; RFC 9293 SHLD-8 asks to support ECN.
    assert_eq!(Config::linux().ecn, EcnMode::Passive);
    assert!(Config::linux().ecn_fallback);
    assert_eq!(Config::rfc9293().ecn, EcnMode::Passive);
    assert_eq!(EcnMode::from_sysctl(0), Some(EcnMode::Off));
    assert_eq!(EcnMode::from_sysctl(1), Some(EcnMode::On));
    assert_eq!(EcnMode::from_sysctl(2), Some(EcnMode::Passive));
    assert_eq!(EcnMode::from_sysctl(3), None, "AccECN");
}

/// Linux tcp_ecn_send_syn(): only tcp_ecn = 1 asks; SYNs are never ECT.
#[test]
fn only_mode_on_asks_in_the_syn() {
    for (mode, asks) in [
        (EcnMode::On, true),
        (EcnMode::Passive, false),
        (EcnMode::Off, false),
    ] {
        let mut r = Rig::new(ecn_cfg(mode));
        let syn = r.connect(TcpFlags::empty());
        assert_eq!(syn.flags.contains(ECE_CWR), asks, "{mode:?}: {syn:?}");
        assert_eq!(syn.ecn, Ecn::NotEct);
    }
}

/// Linux tcp_ecn_create_request() / tcp_ecn_make_synack(): a listener that
/// accepts answers a not-ECT SYN carrying ECE and CWR with ECE alone.
#[test]
fn a_listener_agrees_only_to_a_proper_request() {
    for (mode, flags, ip, agrees) in [
        (EcnMode::Passive, ECE_CWR, Ecn::NotEct, true),
        (EcnMode::On, ECE_CWR, Ecn::NotEct, true),
        (EcnMode::Off, ECE_CWR, Ecn::NotEct, false),
        // ECE alone is not a request.
        (EcnMode::Passive, TcpFlags::ECE, Ecn::NotEct, false),
        // An ECT SYN is suspicious (a broken middlebox or peer).
        (EcnMode::Passive, ECE_CWR, Ecn::Ect0, false),
        (EcnMode::Passive, ECE_CWR, Ecn::Ce, false),
    ] {
        let mut r = Rig::new(ecn_cfg(mode));
        let synack = r.accept(flags, ip);
        let what = format!("{mode:?} {flags:?} {ip:?}: {synack:?}");
        assert_eq!(synack.flags.ece(), agrees, "{what}");
        assert!(!synack.flags.cwr(), "{what}");
        assert_eq!(synack.ecn, Ecn::NotEct, "{what}");
        // Data follows the answer: ECT(0) with ECN, Not-ECT without.
        let data = r.write(100);
        let want = if agrees { Ecn::Ect0 } else { Ecn::NotEct };
        assert_eq!(data[0].ecn, want, "{what}: {data:?}");
    }
}

/// Linux tcp_ecn_rcv_synack(): ECN holds only if the SYN,ACK has ECE and
/// not CWR.
#[test]
fn the_syn_ack_decides_for_the_active_side() {
    for (synack, on) in [
        (TcpFlags::ECE, true),
        (TcpFlags::empty(), false),
        (ECE_CWR, false),
        (TcpFlags::CWR, false),
    ] {
        let mut r = Rig::new(ecn_cfg(EcnMode::On));
        r.connect(synack);
        let data = r.write(100);
        let want = if on { Ecn::Ect0 } else { Ecn::NotEct };
        assert_eq!(data[0].ecn, want, "{synack:?}: {data:?}");
    }
}

/// RFC 3168 §6.1.1.1, Linux tcp_ecn_clear_syn(): a retransmitted SYN no
/// longer asks, unless tcp_ecn_fallback is 0.
#[test]
fn a_retransmitted_syn_stops_asking_with_fallback() {
    for fallback in [true, false] {
        let mut r = Rig::new(Config {
            ecn_fallback: fallback,
            ..ecn_cfg(EcnMode::On)
        });
        r.conn = Some(r.ep.connect(r.now, r.us, r.peer).unwrap());
        r.drain();
        assert!(r.out[0].flags.contains(ECE_CWR));
        let again = r.wait(Duration::from_millis(1100));
        assert_eq!(again.len(), 1, "{again:?}");
        assert!(again[0].flags.syn());
        assert_eq!(again[0].flags.contains(ECE_CWR), !fallback, "{again:?}");
    }
}

/// Linux tcp_ecn_send(): new data is ECT(0); pure ACKs and retransmissions
/// are Not-ECT.
#[test]
fn new_data_is_ect0_acks_and_retransmissions_are_not() {
    let mut r = Rig::new(ecn_cfg(EcnMode::Passive));
    r.accept(ECE_CWR, Ecn::NotEct);
    let data = r.write(3000);
    assert_eq!(data.len(), 3, "{data:?}");
    assert!(data.iter().all(|o| o.ecn == Ecn::Ect0), "{data:?}");
    // The peer's data is acknowledged by a Not-ECT pure ACK.
    let ack = r.send(Ecn::Ect0, TcpFlags::ACK | TcpFlags::PSH, 1, 1, &[9; 100]);
    assert_eq!(ack.len(), 1, "{ack:?}");
    assert_eq!((ack[0].len, ack[0].ecn), (0, Ecn::NotEct), "{ack:?}");
    // Nothing more is acknowledged: the RTO resends the first segment, Not-ECT.
    let rto = r.wait(Duration::from_secs(2));
    assert!(!rto.is_empty());
    assert_eq!(rto[0].seq, r.iss.wrapping_add(1), "{rto:?}");
    assert_eq!(rto[0].len, usize::from(MSS));
    assert_eq!(rto[0].ecn, Ecn::NotEct, "{rto:?}");
}

/// Linux tcp_ecn_check_ce() and tcp_ecn_accept_cwr(): CE on data is echoed
/// with ECE on every segment until the peer's CWR; CWR on data is ACKed at
/// once.
#[test]
fn ce_is_echoed_until_cwr() {
    let mut r = Rig::new(ecn_cfg(EcnMode::Passive));
    r.accept(ECE_CWR, Ecn::NotEct);
    let psh = TcpFlags::ACK | TcpFlags::PSH;
    let a = r.send(Ecn::Ect0, psh, 1, 1, &[1; 100]);
    assert!(!a[0].flags.ece(), "{a:?}");
    let a = r.send(Ecn::Ce, psh, 101, 1, &[1; 100]);
    assert!(a[0].flags.ece(), "{a:?}");
    assert_eq!(a[0].ecn, Ecn::NotEct);
    // Unmarked data: the echo goes on.
    let a = r.send(Ecn::Ect0, psh, 201, 1, &[1; 100]);
    assert!(a[0].flags.ece(), "{a:?}");
    // Our data carries it too, as ECT(0). (It goes 50 ms after the data it
    // follows, so the exchange does not turn interactive and the ACKs below
    // are not delayed.)
    r.now += Duration::from_millis(50);
    let d = r.write(10);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].flags.ece() && d[0].ecn == Ecn::Ect0, "{d:?}");
    // A pure ACK with CWR ends it (Linux takes CWR from pure ACKs too).
    r.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::CWR, 301, 11, &[]);
    let a = r.send(Ecn::Ect0, psh, 301, 11, &[1; 100]);
    assert!(!a[0].flags.ece(), "{a:?}");
    // A new CE mark starts it again; CWR on data ends it and is ACKed.
    let a = r.send(Ecn::Ce, psh, 401, 11, &[1; 100]);
    assert!(a[0].flags.ece(), "{a:?}");
    let a = r.send(Ecn::Ect0, psh | TcpFlags::CWR, 501, 11, &[1; 100]);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(!a[0].flags.ece(), "{a:?}");
    assert_eq!(a[0].ack, PEER_ISN + 601);
    // Without ECN, CE marks are not echoed.
    let mut r = Rig::new(ecn_cfg(EcnMode::Off));
    r.accept(ECE_CWR, Ecn::NotEct);
    let a = r.send(Ecn::Ce, psh, 1, 1, &[1; 100]);
    assert!(!a[0].flags.ece(), "{a:?}");
}

/// Linux tcp_enter_quickack_mode(sk, 2) on the first CE mark: the sender's
/// window may be small, so the next ACKs are not delayed.
#[test]
fn the_first_ce_mark_is_acked_at_once() {
    let cfg = Config {
        quickacks: 0,
        ..ecn_cfg(EcnMode::Passive)
    };
    let mut r = Rig::new(cfg);
    r.accept(ECE_CWR, Ecn::NotEct);
    let psh = TcpFlags::ACK | TcpFlags::PSH;
    // With no quick ACKs left, one segment's ACK is delayed.
    let a = r.send(Ecn::Ect0, psh, 1, 1, &[1; 100]);
    assert!(a.is_empty(), "{a:?}");
    let a = r.wait(Duration::from_millis(100));
    assert_eq!(a.len(), 1, "the delayed ACK: {a:?}");
    // CE: ACKed at once, with ECE.
    let a = r.send(Ecn::Ce, psh, 101, 1, &[1; 100]);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].flags.ece());
    // Not-ECT data after ECT data looks like a retransmission: ACKed at once
    // too (the quick ACKs CE granted are two).
    let a = r.send(Ecn::NotEct, psh, 201, 1, &[1; 100]);
    assert_eq!(a.len(), 1, "{a:?}");
}

/// Linux tcp_enter_cwr() and tcp_cwnd_reduction() (the CWR state): an ECE
/// sets ssthresh as a loss would (CUBIC: 10 segments * 0.7 = 7) and brings
/// the window down by PRR, once per window of data; the next new data
/// carries CWR; an ACK past what was sent when it began ends it with cwnd =
/// ssthresh.
#[test]
fn ece_reduces_the_window_once_per_window() {
    let mut r = Rig::new(ecn_cfg(EcnMode::Passive));
    r.accept(ECE_CWR, Ecn::NotEct);
    let d = r.write(4000);
    assert_eq!(d.len(), 4, "{d:?}");
    assert!(d.iter().all(|o| !o.flags.cwr()));
    assert_eq!(r.cwnd_ssthresh_state().0, 10);
    r.now += Duration::from_millis(100);
    r.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::ECE, 1, 1001, &[]);
    // 3 segments in flight, 4 below ssthresh: PRR lets out what was
    // delivered plus one as SND.UNA advanced (Linux 5.10 and later), so
    // cwnd = 3 + 2. (Kernels 3.7 to 5.9 gave 3 + 1.)
    assert_eq!(r.cwnd_ssthresh_state(), (5, 7, 2), "tcpi_ca_state CWR");
    // The next new data segment, and only it, carries CWR.
    let d = r.write(2000);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].flags.cwr() && !d[1].flags.cwr(), "{d:?}");
    assert!(d.iter().all(|o| o.ecn == Ecn::Ect0));
    // More ECE in the same window: no second reduction.
    r.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::ECE, 1, 2001, &[]);
    let (_, ssthresh, state) = r.cwnd_ssthresh_state();
    assert_eq!((ssthresh, state), (7, 2));
    // Past SND.MAX at the reduction's start (4001): back to Open at ssthresh.
    r.send(Ecn::NotEct, TcpFlags::ACK, 1, 4002, &[]);
    let (cwnd, ssthresh, state) = r.cwnd_ssthresh_state();
    assert_eq!((ssthresh, state), (7, 0));
    assert!((7..8).contains(&cwnd), "cwnd {cwnd}");
    // A new window: a new ECE reduces again.
    r.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::ECE, 1, 5001, &[]);
    let (_, ssthresh, state) = r.cwnd_ssthresh_state();
    assert_eq!(state, 2);
    assert!(ssthresh < 7, "ssthresh {ssthresh}");
}

/// With more in flight than ssthresh the reduction is proportional (PRR,
/// RFC 6937): about ssthresh / prior cwnd segments out per segment
/// delivered, at least one at first.
#[test]
fn the_reduction_is_proportional_above_ssthresh() {
    let mut r = Rig::new(ecn_cfg(EcnMode::Passive));
    r.accept(ECE_CWR, Ecn::NotEct);
    r.write(10_000);
    r.now += Duration::from_millis(100);
    r.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::ECE, 1, 1001, &[]);
    // 9 in flight, ssthresh 7: ceil(7 * 1 / 10) = 1 segment may go.
    assert_eq!(r.cwnd_ssthresh_state(), (10, 7, 2));
    let d = r.write(5000);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].flags.cwr());
    // Two more delivered, 8 in flight: ceil(7 * 3 / 10) - 1 = 2 more go.
    let more = r.send(Ecn::NotEct, TcpFlags::ACK, 1, 3001, &[]);
    assert_eq!(r.cwnd_ssthresh_state(), (10, 7, 2));
    assert_eq!(more.iter().filter(|o| o.len > 0).count(), 2, "{more:?}");
    assert!(more.iter().all(|o| !o.flags.cwr()), "{more:?}");
}

/// ECE on an ACK when nothing is outstanding, or on a connection without
/// ECN, changes nothing (Linux processes it in tcp_fastretrans_alert(),
/// which runs only with data in flight, and tcp_ecn_rcv_ecn_echo() needs
/// TCP_ECN_OK).
#[test]
fn ece_without_ecn_or_data_in_flight_is_ignored() {
    let mut r = Rig::new(ecn_cfg(EcnMode::Off));
    r.accept(ECE_CWR, Ecn::NotEct);
    r.write(4000);
    r.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::ECE, 1, 1001, &[]);
    assert_eq!(r.cwnd_ssthresh_state().2, 0);
    let mut r = Rig::new(ecn_cfg(EcnMode::Passive));
    r.accept(ECE_CWR, Ecn::NotEct);
    r.send(Ecn::NotEct, TcpFlags::ACK | TcpFlags::ECE, 1, 1, &[]);
    assert_eq!(r.cwnd_ssthresh_state(), (10, u32::MAX / u32::from(MSS), 0));
}
