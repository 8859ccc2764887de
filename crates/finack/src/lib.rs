//! finack: tokio `TcpListener` / `TcpStream` on top of the finack engine.
//!
//! A [`Stack`] owns one [`finack_core::Endpoint`] per worker, each inside a
//! driver task (one worker unless a [`StackBuilder`] asks for more; then each
//! engine owns the connections whose 4-tuple hashes to it, and listeners
//! exist in all). A driver feeds its engine inbound packets, runs its timers at
//! [`finack_core::Endpoint::poll_timeout`] and sleeps otherwise; application
//! calls (`read`, `write`, `connect`, ...) lock their connection's engine, act
//! on it and push out whatever packets that produced. Engine events wake the
//! tasks waiting on a socket.
//!
//! Packets travel over a [`PacketLink`]: a pair of channels that leads to another
//! in-memory stack ([`Stack::pair`]), to a TUN device ([`Stack::tun`], so the
//! other side is the Linux kernel), or to anything else you connect to it. An
//! [`Impairment`] (loss, delay, reordering, duplication, corruption, partitions;
//! seeded, decided by `finack-fault` like the simulator's faults) can sit on any
//! packet path.
//!
//! ```
//! use finack::{Stack, TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let (client, server) = Stack::pair();
//! let listener = TcpListener::bind(&server, "192.0.2.2:7".parse().unwrap())?;
//! tokio::spawn(async move {
//!     let (mut s, _) = listener.accept().await.unwrap();
//!     let mut buf = [0u8; 64];
//!     let n = s.read(&mut buf).await.unwrap();
//!     s.write_all(&buf[..n]).await.unwrap();
//! });
//! let mut c = TcpStream::connect(&client, "192.0.2.2:7".parse().unwrap()).await?;
//! c.write_all(b"hello").await?;
//! let mut buf = [0u8; 5];
//! c.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"hello");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod impair;
mod link;
mod listener;
pub mod netns;
mod offload;
pub mod proxy;
mod reader;
pub mod serve;
mod socket;
mod stack;
mod stream;
mod tun;

pub use error::to_io_error;
pub use finack_core::{CloseReason, Config, State};
pub use impair::Impairment;
pub use link::{LinkStats, PacketLink};
pub use listener::{TcpListener, DEFAULT_BACKLOG};
pub use socket::TcpSocket;
pub use stack::{ConnSummary, Stack, StackBuilder};
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpStream, WriteHalf};
pub use tun::{Tun, TunOffload};

/// Re-export of the engine crate.
pub use finack_core as core;
