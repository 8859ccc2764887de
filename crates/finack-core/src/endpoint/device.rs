//! The host's network device as far as the engine needs to know it: whether
//! it takes packets at all.

use super::Endpoint;

impl Endpoint {
    /// Tell the engine whether the host's device refuses every packet
    /// handed to it (as a Linux qdisc with no room does: `tc qdisc add dev
    /// DEV root pfifo limit 0`, where the device returns `NET_XMIT_DROP`).
    ///
    /// A sans-IO engine cannot see the device, so the host says so. While
    /// it is on, transmissions fail the way Linux's do when
    /// `tcp_transmit_skb()` fails locally: new data and FINs stay unsent
    /// (the persist timer tries again when nothing else is in flight), a
    /// zero-window probe or a timeout's retransmission is tried again after
    /// [`Config::resource_probe_interval`](crate::Config::resource_probe_interval)
    /// without backing off, a refused retransmission is not counted as one
    /// (`Stats::retrans_fail`), and `poll_transmit` returns nothing. Segments
    /// whose failure Linux ignores (a SYN, a bare ACK, a keep-alive, a RST)
    /// are formed as usual and dropped (`Stats::local_drops`). Turning it
    /// off sends nothing at once: what waits goes at the next event or
    /// timer, as in Linux.
    pub fn set_local_drop(&mut self, on: bool) {
        self.local_drop = on;
    }

    /// Whether the host's device refuses every packet (see
    /// [`Endpoint::set_local_drop`]).
    pub fn local_drop(&self) -> bool {
        self.local_drop
    }
}
