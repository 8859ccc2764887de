//! finack-core: a sans-IO TCP engine built around the complete RFC 9293 connection
//! state machine.
//!
//! There are no threads, sockets or clocks here. Packets and time go in, packets
//! and events come out:
//!
//! ```
//! use finack_core::{Config, Endpoint, Instant, Event, State};
//! use core::net::SocketAddr;
//!
//! let mut server = Endpoint::new(Config::linux(), [1; 16]);
//! let mut client = Endpoint::new(Config::linux(), [2; 16]);
//! server.add_address("192.0.2.2".parse().unwrap());
//! client.add_address("192.0.2.1".parse().unwrap());
//! let l = server.listen("192.0.2.2:80".parse().unwrap(), 16).unwrap();
//! let now = Instant::ZERO;
//! let c = client
//!     .connect(now, "0.0.0.0:0".parse().unwrap(), "192.0.2.2:80".parse().unwrap())
//!     .unwrap();
//! // Shuttle packets both ways until both sides are quiet.
//! let mut buf = [0u8; 1600];
//! loop {
//!     let mut moved = false;
//!     while let Some(n) = client.poll_transmit(now, &mut buf) {
//!         server.handle_packet(now, &buf[..n]).unwrap();
//!         moved = true;
//!     }
//!     while let Some(n) = server.poll_transmit(now, &mut buf) {
//!         client.handle_packet(now, &buf[..n]).unwrap();
//!         moved = true;
//!     }
//!     if !moved { break; }
//! }
//! assert_eq!(client.state(c), State::Established);
//! let s = server.accept(l).unwrap();
//! assert_eq!(server.state(s), State::Established);
//! ```
//!
//! Every state change is recorded as a [`Transition`] `(socket, from, to, cause)`;
//! see [`Endpoint::take_transitions`].

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod buffer;
mod cc;
mod config;
mod cookie;
mod demux;
mod endpoint;
mod isn;
mod listener;
mod memory;
mod rtt;
mod stats;
mod tcb;
mod time;
mod timewait;
mod types;

pub use cc::{CongestionAlgorithm, CubicParams, HYSTART_ACK_TRAIN, HYSTART_DELAY};
pub use config::{
    Config, EarlyRetransmit, EcnMode, IdleRestart, InitialWindow, MtuProbing, Pacing,
};
pub use endpoint::{Endpoint, MAX_TRANSITIONS};
pub use finack_wire as wire;
pub use finack_wire::SeqNumber;
pub use tcb::errqueue::{sof, TxTimestamp, TxTimestampKind};
pub use time::Instant;
pub use types::MAX_EVENTS;

/// Bytes of one connection's control block (`size_of` of the TCB), without
/// its send and receive rings and the parts it allocates only when needed
/// (SACK scoreboard, congestion-control state).
pub const CONTROL_BLOCK_BYTES: usize = core::mem::size_of::<tcb::Tcb>();
pub use types::{
    Cause, CloseReason, ConnCounts, ConnId, ConnInfo, Error, Event, Linger2, ListenerId,
    ListenerLimits, MemoryUsage, PacketError, RxOffload, SendFlags, SendTimes, Shutdown, Socket,
    State, Stats, TimerKind, Transition, UserCall,
};

#[cfg(test)]
mod send_check {
    /// The engine can move to another thread (a tokio driver task owns it).
    #[test]
    fn endpoint_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<crate::Endpoint>();
    }
}
