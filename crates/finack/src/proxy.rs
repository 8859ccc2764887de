//! Carrying a connection accepted by finack on to its destination through
//! the host kernel's sockets (directly or through a SOCKS5 server), as the
//! VPN and tunnel apps that embed a userspace TCP do (`finack proxy`).

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stream::TcpStream;

/// Which end of a relayed connection did something.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The client, whose connection finack accepted.
    Client,
    /// The server at the original destination (through the kernel).
    Server,
}

/// How a relayed connection went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relayed {
    /// Bytes carried from the client to the server.
    pub up: u64,
    /// Bytes carried from the server to the client.
    pub down: u64,
    /// The end whose reset (or failure) ended the relay, which then reset
    /// the other end; `None` when both ends closed in order.
    pub reset_by: Option<End>,
}

/// Carry bytes both ways between a finack connection and a kernel socket
/// until both directions are done. A FIN from either end becomes a
/// `shutdown(SHUT_WR)` on the other (half-close goes through: the other
/// direction keeps flowing); a reset (or any failure) of either end becomes
/// a reset of the other: an ABORT on the finack side, a close with
/// `SO_LINGER` 0 on the kernel side.
pub async fn relay(
    mut client: TcpStream,
    mut server: tokio::net::TcpStream,
) -> io::Result<Relayed> {
    let tagged = |end: End| move |e: io::Error| (end, e);
    let result = {
        let (mut cr, mut cw) = client.split();
        let (mut sr, mut sw) = server.split();
        let up = async {
            let mut n = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let k = cr.read(&mut buf).await.map_err(tagged(End::Client))?;
                if k == 0 {
                    break;
                }
                sw.write_all(&buf[..k]).await.map_err(tagged(End::Server))?;
                n += k as u64;
            }
            sw.shutdown().await.map_err(tagged(End::Server))?;
            Ok::<u64, (End, io::Error)>(n)
        };
        let down = async {
            let mut n = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let k = sr.read(&mut buf).await.map_err(tagged(End::Server))?;
                if k == 0 {
                    break;
                }
                cw.write_all(&buf[..k]).await.map_err(tagged(End::Client))?;
                n += k as u64;
            }
            cw.shutdown().await.map_err(tagged(End::Client))?;
            Ok::<u64, (End, io::Error)>(n)
        };
        tokio::try_join!(up, down)
    };
    match result {
        Ok((up, down)) => Ok(Relayed {
            up,
            down,
            reset_by: None,
        }),
        Err((end, e)) => {
            tracing::debug!(target: "finack", ?end, error = %e, "relay reset");
            // Pass the reset on to the other end.
            match end {
                End::Client => {
                    let _ = server.set_zero_linger();
                    drop(server);
                }
                End::Server => client.abort(),
            }
            Ok(Relayed {
                up: 0,
                down: 0,
                reset_by: Some(end),
            })
        }
    }
}

/// Open a connection to `dst` through the SOCKS5 server at `socks`
/// (RFC 1928, no authentication, CONNECT by address).
pub async fn socks5_connect(
    socks: SocketAddr,
    dst: SocketAddr,
) -> io::Result<tokio::net::TcpStream> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("SOCKS5: {what}"));
    let mut s = tokio::net::TcpStream::connect(socks).await?;
    // Greeting: version 5, one method, "no authentication".
    s.write_all(&[5, 1, 0]).await?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await?;
    if choice != [5, 0] {
        return Err(bad("the server wants authentication"));
    }
    let mut req = vec![5, 1, 0];
    match dst {
        SocketAddr::V4(a) => {
            req.push(1);
            req.extend_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            req.push(4);
            req.extend_from_slice(&a.ip().octets());
        }
    }
    req.extend_from_slice(&dst.port().to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(bad("not a SOCKS5 reply"));
    }
    if head[1] != 0 {
        // RFC 1928 §6: 5 is "connection refused".
        let kind = match head[1] {
            5 => io::ErrorKind::ConnectionRefused,
            3 | 4 => io::ErrorKind::HostUnreachable,
            _ => io::ErrorKind::Other,
        };
        return Err(io::Error::new(kind, format!("SOCKS5 reply {}", head[1])));
    }
    // The bound address, which we do not need.
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await?;
            usize::from(len[0]) + 2
        }
        _ => return Err(bad("unknown address type")),
    };
    let mut skip = vec![0u8; rest];
    s.read_exact(&mut skip).await?;
    Ok(s)
}
