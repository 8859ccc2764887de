//! Ready-made servers for the command line and for tests: echo (RFC 862) and
//! discard (RFC 863), over any [`TcpListener`].
//!
//! ```
//! use finack::{serve, Stack, TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let (client, server) = Stack::pair();
//! let l = TcpListener::bind(&server, "192.0.2.2:7".parse().unwrap())?;
//! let served = tokio::spawn(serve::echo(l, Some(1)));
//! let mut c = TcpStream::connect(&client, "192.0.2.2:7".parse().unwrap()).await?;
//! c.write_all(b"ping").await?;
//! c.shutdown().await?;
//! let mut back = Vec::new();
//! c.read_to_end(&mut back).await?;
//! assert_eq!(back, b"ping");
//! let report = served.await.unwrap()?;
//! assert_eq!(report[0].bytes, 4);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::listener::TcpListener;
use crate::stream::TcpStream;

/// How one served connection went.
#[derive(Debug)]
pub struct Served {
    /// The client.
    pub peer: SocketAddr,
    /// Bytes received (and, for echo, sent back).
    pub bytes: u64,
    /// `Ok` when the client closed its side and we finished ours; the error
    /// otherwise (e.g. `ConnectionReset`).
    pub result: io::Result<()>,
}

/// Echo one connection (RFC 862): send back everything received; when the client
/// half-closes, finish sending and close. Returns the bytes echoed.
pub async fn echo_one(stream: TcpStream) -> io::Result<u64> {
    let (mut r, mut w) = stream.into_split();
    let n = tokio::io::copy(&mut r, &mut w).await?;
    w.shutdown().await?;
    Ok(n)
}

/// Discard one connection (RFC 863): read and drop everything until the client
/// closes, then close. Returns the bytes discarded.
pub async fn discard_one(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    stream.shutdown().await?;
    Ok(total)
}

/// Serve echo on `listener`, each connection in its own task. With
/// `Some(count)`, stop accepting after `count` connections and return once they
/// are all done; with `None`, serve until accepting fails.
pub async fn echo(listener: TcpListener, count: Option<usize>) -> io::Result<Vec<Served>> {
    serve(listener, count, Kind::Echo).await
}

/// Serve discard on `listener`; see [`echo`] for `count`.
pub async fn discard(listener: TcpListener, count: Option<usize>) -> io::Result<Vec<Served>> {
    serve(listener, count, Kind::Discard).await
}

#[derive(Copy, Clone)]
enum Kind {
    Echo,
    Discard,
}

async fn serve(listener: TcpListener, count: Option<usize>, kind: Kind) -> io::Result<Vec<Served>> {
    let mut tasks = JoinSet::new();
    let mut accepted = 0usize;
    let mut done = Vec::new();
    while count.is_none_or(|c| accepted < c) {
        tokio::select! {
            r = listener.accept() => {
                let (stream, peer) = r?;
                accepted += 1;
                tasks.spawn(async move {
                    let r = match kind {
                        Kind::Echo => echo_one(stream).await,
                        Kind::Discard => discard_one(stream).await,
                    };
                    match r {
                        Ok(bytes) => Served { peer, bytes, result: Ok(()) },
                        Err(e) => Served { peer, bytes: 0, result: Err(e) },
                    }
                });
            }
            Some(Ok(s)) = tasks.join_next(), if !tasks.is_empty() => done.push(s),
        }
    }
    while let Some(r) = tasks.join_next().await {
        if let Ok(s) = r {
            done.push(s);
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stack;

    #[tokio::test]
    async fn discard_counts_and_closes() {
        let (client, server) = Stack::pair();
        let l = TcpListener::bind(&server, "192.0.2.2:9".parse().unwrap()).unwrap();
        let served = tokio::spawn(discard(l, Some(2)));
        for len in [1000usize, 300_000] {
            let mut c = TcpStream::connect(&client, "192.0.2.2:9".parse().unwrap())
                .await
                .unwrap();
            c.write_all(&vec![7u8; len]).await.unwrap();
            c.shutdown().await.unwrap();
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        }
        let mut report = served.await.unwrap().unwrap();
        report.sort_by_key(|s| s.bytes);
        assert_eq!(
            report.iter().map(|s| s.bytes).collect::<Vec<_>>(),
            [1000, 300_000]
        );
        assert!(report.iter().all(|s| s.result.is_ok()));
    }
}
