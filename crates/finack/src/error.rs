//! Engine errors as `std::io::Error`s, with the `ErrorKind`s a tokio `TcpStream`
//! user expects (errno names as in tcp(7) and connect(2)).

use std::io;

use finack_core::{Error, PacketError};

/// Convert an engine error to an [`io::Error`] of the matching [`io::ErrorKind`]:
/// refused → `ConnectionRefused` (ECONNREFUSED), reset → `ConnectionReset`
/// (ECONNRESET), timed out → `TimedOut` (ETIMEDOUT), a closed sending side →
/// `BrokenPipe` (EPIPE), and so on.
pub fn to_io_error(e: Error) -> io::Error {
    let kind = match e {
        Error::WouldBlock => io::ErrorKind::WouldBlock,
        Error::NotConnected => io::ErrorKind::NotConnected,
        Error::BrokenPipe => io::ErrorKind::BrokenPipe,
        Error::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        Error::ConnectionReset => io::ErrorKind::ConnectionReset,
        Error::TimedOut => io::ErrorKind::TimedOut,
        Error::ConnectionAborted => io::ErrorKind::ConnectionAborted,
        Error::AddrInUse => io::ErrorKind::AddrInUse,
        Error::AddrNotAvailable => io::ErrorKind::AddrNotAvailable,
        Error::InvalidAddress => io::ErrorKind::InvalidInput,
        Error::InvalidArgument => io::ErrorKind::InvalidInput,
        // A closed connection whose handle was already released.
        Error::InvalidHandle => io::ErrorKind::NotConnected,
        Error::Packet(PacketError::Malformed(_)) => io::ErrorKind::InvalidData,
        Error::Packet(_) => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}
