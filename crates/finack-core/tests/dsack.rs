//! D-SACK (RFC 2883) from the receiver: data that arrives twice is reported
//! in the first SACK block of the next ACK, once, in the Linux profile
//! (`tcp_dsack` = 1); the RFC 9293 profile sends none.

mod common;
use common::peer::*;

use finack_core::wire::{Ecn, TcpFlags};
use finack_core::Config;

fn rig(cfg: Config) -> Rig {
    let mut rig = Rig::new(cfg);
    rig.sack_ok = true;
    rig.accept(TcpFlags::empty(), Ecn::NotEct);
    rig
}

const DATA: TcpFlags = TcpFlags::ACK.union(TcpFlags::PSH);

/// The ACK the engine sends for the peer's segment `seq..seq+len` (at once,
/// or when its delayed-ACK timer fires).
fn answer(rig: &mut Rig, seq: u32, len: usize) -> Out {
    let mut out = rig.send(Ecn::NotEct, DATA, seq, 1, &vec![9; len]);
    if out.is_empty() {
        out = rig.wait(std::time::Duration::from_millis(500));
    }
    out.last()
        .cloned()
        .unwrap_or_else(|| panic!("no answer to {seq}"))
}

#[test]
fn each_kind_of_duplicate_is_reported_once() {
    let mut rig = rig(Config::linux());
    assert!(answer(&mut rig, 1, 1000).sack.is_empty());
    // Entirely below RCV.NXT.
    let a = answer(&mut rig, 1, 500);
    assert_eq!((a.ack, a.sack.clone()), (1001 + 5000, vec![(1, 501)]));
    // Starting below RCV.NXT: the old part, and the new part is taken.
    let a = answer(&mut rig, 801, 400);
    assert_eq!((a.ack, a.sack.clone()), (1201 + 5000, vec![(801, 1001)]));
    // Once: the next ACK has no D-SACK.
    let a = answer(&mut rig, 1201, 100);
    assert!(a.sack.is_empty(), "{a:?}");
    // Out of order, then the same again: D-SACK, then the block it is in.
    let a = answer(&mut rig, 2001, 300);
    assert_eq!(a.sack, vec![(2001, 2301)]);
    let a = answer(&mut rig, 2101, 100);
    assert_eq!(a.sack, vec![(2101, 2201), (2001, 2301)]);
    // In-order data that fills the hole and runs over what was held.
    let a = answer(&mut rig, 1301, 800);
    assert_eq!((a.ack, a.sack.clone()), (2301 + 5000, vec![(2001, 2101)]));
}

#[test]
fn a_fin_on_a_duplicate_drops_the_d_sack() {
    // Linux tcp_fin(): tcp_sack_reset().
    let mut rig = rig(Config::linux());
    answer(&mut rig, 1, 1000);
    let out = rig.send(Ecn::NotEct, DATA | TcpFlags::FIN, 1, 1, &[9; 1000]);
    rig.wait(std::time::Duration::from_millis(300));
    let acks: Vec<&Out> = rig.out.iter().filter(|o| o.ack == 1002 + 5000).collect();
    assert!(!acks.is_empty(), "{out:?} {:?}", rig.out);
    assert!(acks.iter().all(|o| o.sack.is_empty()), "{acks:?}");
}

#[test]
fn the_rfc_profile_sends_no_d_sack() {
    let mut rig = rig(Config::rfc9293());
    answer(&mut rig, 1, 1000);
    let a = answer(&mut rig, 1, 500);
    assert_eq!(a.ack, 1001 + 5000);
    assert!(a.sack.is_empty(), "{a:?}");
}
