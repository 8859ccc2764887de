//! Ready-made servers for the command line and for tests: echo (RFC 862),
//! discard (RFC 863) and a small HTTP/1.1 server (hyper), over any
//! [`TcpListener`].
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

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
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

/// Serve HTTP/1.1 on `listener` (see [`http_one`] for what it answers); see
/// [`echo`] for `count`. [`Served::bytes`] counts the response body bytes sent.
pub async fn http(listener: TcpListener, count: Option<usize>) -> io::Result<Vec<Served>> {
    serve(listener, count, Kind::Http).await
}

/// The page `GET /` answers with.
pub const INDEX_PAGE: &str = "<!doctype html>\n<title>finack</title>\n\
<h1>hello from finack</h1>\n\
<p>This page came over a userspace TCP stack. \
<a href=\"/bytes/1000000\">/bytes/N</a> streams N bytes.</p>\n";

/// Byte `i` of every `/bytes/N` body: `i mod 251` (a prime, so the pattern
/// does not line up with segment or buffer sizes).
pub fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// The first `n` bytes of the `/bytes/N` pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n as u64).map(pattern_byte).collect()
}

/// Serve HTTP/1.1 (keep-alive) on one connection with hyper: `GET /` answers
/// [`INDEX_PAGE`], `GET /bytes/N` streams N bytes of [`pattern`] in 64 KiB
/// chunks, anything else is 404. Returns the response body bytes sent.
pub async fn http_one(stream: TcpStream) -> io::Result<u64> {
    http_conn(stream).await
}

/// [`http_one`] over any byte stream: the same service on a kernel socket
/// (`tokio::net::TcpStream`), for comparing finack with Linux.
pub async fn http_conn<S>(stream: S) -> io::Result<u64>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let counter = counter.clone();
        async move { Ok::<_, Infallible>(respond(&req, counter)) }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
        .map_err(|e| {
            let kind = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .map_or(io::ErrorKind::Other, io::Error::kind);
            io::Error::new(kind, e)
        })?;
    Ok(sent.load(Ordering::Relaxed))
}

fn respond(req: &Request<hyper::body::Incoming>, sent: Arc<AtomicU64>) -> Response<HttpBody> {
    let path = req.uri().path();
    let (status, ctype, body) = if path == "/" {
        (
            StatusCode::OK,
            "text/html; charset=utf-8",
            HttpBody::fixed(INDEX_PAGE.as_bytes(), sent),
        )
    } else if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        (
            StatusCode::OK,
            "application/octet-stream",
            HttpBody::pattern(n, sent),
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            HttpBody::fixed(b"not found\n", sent),
        )
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, ctype.parse().expect("header"));
    resp
}

/// A response body: fixed bytes, or `len` bytes of [`pattern`] produced as
/// they are sent (so a large body never sits in memory).
pub struct HttpBody {
    fixed: Option<Bytes>,
    pos: u64,
    end: u64,
    sent: Arc<AtomicU64>,
}

/// Size of the chunks a pattern body is sent in.
const CHUNK: u64 = 64 * 1024;

impl HttpBody {
    fn fixed(b: &'static [u8], sent: Arc<AtomicU64>) -> HttpBody {
        HttpBody {
            fixed: Some(Bytes::from_static(b)),
            pos: 0,
            end: b.len() as u64,
            sent,
        }
    }

    fn pattern(len: u64, sent: Arc<AtomicU64>) -> HttpBody {
        HttpBody {
            fixed: None,
            pos: 0,
            end: len,
            sent,
        }
    }
}

impl Body for HttpBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.pos >= this.end {
            return Poll::Ready(None);
        }
        let chunk = match this.fixed.take() {
            Some(b) => b,
            None => {
                let n = (this.end - this.pos).min(CHUNK);
                Bytes::from(
                    (this.pos..this.pos + n)
                        .map(pattern_byte)
                        .collect::<Vec<u8>>(),
                )
            }
        };
        this.pos += chunk.len() as u64;
        this.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.pos)
    }
}

#[derive(Copy, Clone)]
enum Kind {
    Echo,
    Discard,
    Http,
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
                        Kind::Http => http_one(stream).await,
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
    async fn http_page_and_bytes() {
        let (client, server) = Stack::pair();
        let l = TcpListener::bind(&server, "192.0.2.2:80".parse().unwrap()).unwrap();
        let served = tokio::spawn(http(l, Some(1)));
        let mut c = TcpStream::connect(&client, "192.0.2.2:80".parse().unwrap())
            .await
            .unwrap();
        c.write_all(b"GET /bytes/300000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut resp = Vec::new();
        c.read_to_end(&mut resp).await.unwrap();
        let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&resp[..head_end]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-length: 300000"), "{head}");
        assert!(resp[head_end..] == pattern(300_000)[..]);
        let report = served.await.unwrap().unwrap();
        assert_eq!(report[0].bytes, 300_000);
        assert!(report[0].result.is_ok(), "{:?}", report[0].result);
    }

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
