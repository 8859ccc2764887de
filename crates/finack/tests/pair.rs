//! The runtime over an in-memory pair of stacks: no root needed.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use finack::{Config, Impairment, Stack, State, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

/// Workers of the stacks under test: `FINACK_TEST_WORKERS`, else 2 (the
/// multi-worker runtime; 1 is the single-engine one).
fn test_workers() -> usize {
    std::env::var("FINACK_TEST_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn pair() -> (Stack, Stack) {
    Stack::builder().workers(test_workers()).pair()
}

fn pair_with(
    cfg: Config,
    a_to_b: Option<Impairment>,
    b_to_a: Option<Impairment>,
) -> (Stack, Stack) {
    Stack::builder()
        .config(cfg)
        .workers(test_workers())
        .pair_with(a_to_b, b_to_a)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A byte pattern that differs per stream and per position (a misplaced or
/// duplicated segment shows up as a mismatch).
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

async fn echo_server(server: &Stack, port: u16) -> TcpListener {
    TcpListener::bind(server, SocketAddr::new(Stack::PAIR_B, port)).unwrap()
}

fn spawn_echo(l: TcpListener) {
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
}

#[tokio::test]
async fn echo_over_pair() {
    timeout(LIMIT, async {
        let (client, server) = pair();
        spawn_echo(echo_server(&server, 7).await);
        let mut c = TcpStream::connect(&client, addr("192.0.2.2:7"))
            .await
            .unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr("192.0.2.2:7"));
        assert_eq!(c.local_addr().unwrap().ip(), Stack::PAIR_A);
        assert_ne!(c.local_addr().unwrap().port(), 0);
        assert_eq!(c.state(), State::Established);
        c.write_all(b"hello, finack").await.unwrap();
        c.shutdown().await.unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"hello, finack");
        // The client closed first: it ends in TIME-WAIT (RFC 9293 §3.6).
        drop(c);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let conns = client.connections();
        assert_eq!(conns.len(), 1, "{conns:?}");
        assert_eq!(conns[0].state, State::TimeWait);
        assert!(
            server.connections().is_empty(),
            "{:?}",
            server.connections()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mib_both_ways() {
    timeout(LIMIT, async {
        const LEN: usize = 10 << 20;
        let (client, server) = pair();
        let l = TcpListener::bind(&server, addr("192.0.2.2:9000")).unwrap();
        let srv = tokio::spawn(async move {
            let (s, peer) = l.accept().await.unwrap();
            assert_eq!(peer.ip(), Stack::PAIR_A);
            let (mut r, mut w) = s.into_split();
            let writer = tokio::spawn(async move {
                w.write_all(&pattern(2, LEN)).await.unwrap();
                w.shutdown().await.unwrap();
                w
            });
            let mut got = Vec::with_capacity(LEN);
            r.read_to_end(&mut got).await.unwrap();
            let _w = writer.await.unwrap();
            got
        });
        let c = TcpStream::connect(&client, addr("192.0.2.2:9000"))
            .await
            .unwrap();
        let (mut r, mut w) = c.into_split();
        let writer = tokio::spawn(async move {
            w.write_all(&pattern(1, LEN)).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut got = Vec::with_capacity(LEN);
        r.read_to_end(&mut got).await.unwrap();
        let _w = writer.await.unwrap();
        let server_got = srv.await.unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == pattern(2, LEN), "client received corrupted data");
        assert_eq!(server_got.len(), LEN);
        assert!(
            server_got == pattern(1, LEN),
            "server received corrupted data"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn half_close_client_first() {
    timeout(LIMIT, async {
        let (client, server) = pair();
        let l = TcpListener::bind(&server, addr("192.0.2.2:80")).unwrap();
        let srv = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = Vec::new();
            s.read_to_end(&mut req).await.unwrap();
            // The client's FIN arrived: CLOSE-WAIT, and we can still send.
            assert_eq!(s.state(), State::CloseWait);
            s.write_all(b"response after your FIN").await.unwrap();
            s.shutdown().await.unwrap();
            req
        });
        let mut c = TcpStream::connect(&client, addr("192.0.2.2:80"))
            .await
            .unwrap();
        c.write_all(b"request").await.unwrap();
        c.shutdown().await.unwrap();
        // Writing after shutdown(SHUT_WR) is EPIPE.
        let e = c.write_all(b"more").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        let mut resp = Vec::new();
        c.read_to_end(&mut resp).await.unwrap();
        assert_eq!(resp, b"response after your FIN");
        assert_eq!(srv.await.unwrap(), b"request");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn half_close_server_first() {
    timeout(LIMIT, async {
        let (client, server) = pair();
        let l = TcpListener::bind(&server, addr("192.0.2.2:80")).unwrap();
        let srv = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"banner").await.unwrap();
            s.shutdown().await.unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            rest
        });
        let mut c = TcpStream::connect(&client, addr("192.0.2.2:80"))
            .await
            .unwrap();
        let mut banner = Vec::new();
        c.read_to_end(&mut banner).await.unwrap();
        assert_eq!(banner, b"banner");
        assert_eq!(c.state(), State::CloseWait);
        c.write_all(b"late reply").await.unwrap();
        c.shutdown().await.unwrap();
        assert_eq!(srv.await.unwrap(), b"late reply");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn refused() {
    timeout(LIMIT, async {
        let (client, _server) = pair();
        let e = TcpStream::connect(&client, addr("192.0.2.2:81"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        // The failed connect left nothing behind.
        assert!(client.connections().is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn abort_resets_the_peer() {
    timeout(LIMIT, async {
        let (client, server) = pair();
        let l = TcpListener::bind(&server, addr("192.0.2.2:80")).unwrap();
        let c = TcpStream::connect(&client, addr("192.0.2.2:80"))
            .await
            .unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.abort();
        let mut buf = [0u8; 16];
        let e = s.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        let e = s.write_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        assert!(client.connections().is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn connect_times_out() {
    timeout(LIMIT, async {
        let mut cfg = Config::linux();
        cfg.syn_retries = 2;
        cfg.rto_initial = Duration::from_millis(50);
        // Everything from the client is lost.
        let (client, _server) = pair_with(cfg, Some(Impairment::new(1).loss(1.0)), None);
        let e = TcpStream::connect(&client, addr("192.0.2.2:80"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bind_errors() {
    let (client, _server) = pair();
    let _l = TcpListener::bind(&client, addr("192.0.2.1:80")).unwrap();
    let e = TcpListener::bind(&client, addr("192.0.2.1:80")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let e = TcpListener::bind(&client, addr("192.0.2.9:80")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
    let e = TcpStream::connect(&client, addr("192.0.2.2:0"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_connections() {
    timeout(LIMIT, async {
        let (client, server) = pair();
        spawn_echo(echo_server(&server, 7).await);
        let mut tasks = Vec::new();
        for i in 0..100u32 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = TcpStream::connect(&client, addr("192.0.2.2:7"))
                    .await
                    .unwrap();
                let msg = pattern(i as u8, 10_000 + i as usize * 37);
                c.write_all(&msg).await.unwrap();
                c.shutdown().await.unwrap();
                let mut back = Vec::new();
                c.read_to_end(&mut back).await.unwrap();
                assert!(back == msg, "connection {i} echoed wrong bytes");
                c.local_addr().unwrap().port()
            }));
        }
        let mut ports = Vec::new();
        for t in tasks {
            ports.push(t.await.unwrap());
        }
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 100, "distinct ephemeral ports");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_under_loss_and_reordering() {
    timeout(LIMIT, async {
        const LEN: usize = 1 << 20;
        let imp = |seed| {
            Impairment::new(seed)
                .loss(0.05)
                .reorder(0.05, Duration::from_millis(3))
                .duplicate(0.01)
                .delay(Duration::from_millis(1), Duration::from_micros(500))
        };
        let (client, server) = pair_with(Config::linux(), Some(imp(11)), Some(imp(12)));
        let l = TcpListener::bind(&server, addr("192.0.2.2:9000")).unwrap();
        let srv = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(b"ok").await.unwrap();
            s.shutdown().await.unwrap();
            got
        });
        let mut c = TcpStream::connect(&client, addr("192.0.2.2:9000"))
            .await
            .unwrap();
        c.write_all(&pattern(5, LEN)).await.unwrap();
        c.shutdown().await.unwrap();
        let mut ok = Vec::new();
        c.read_to_end(&mut ok).await.unwrap();
        assert_eq!(ok, b"ok");
        let got = srv.await.unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == pattern(5, LEN), "corrupted under impairment");
        let st = client.stats();
        assert!(
            st.retransmits > 0,
            "loss should have caused retransmissions"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dropping_the_stack_keeps_sockets_working() {
    timeout(LIMIT, async {
        let (client, server) = pair();
        spawn_echo(echo_server(&server, 7).await);
        drop(server);
        let mut c = TcpStream::connect(&client, addr("192.0.2.2:7"))
            .await
            .unwrap();
        drop(client);
        c.write_all(b"still here").await.unwrap();
        let mut buf = [0u8; 10];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"still here");
    })
    .await
    .unwrap();
}

/// `flush_closing` waits until a closed connection's queued data and FIN are
/// acknowledged: right after `shutdown` the client is still in FIN-WAIT-1
/// with data in flight; once it returns, the server has every byte.
#[tokio::test]
async fn flush_closing_waits_for_the_fin_to_be_acked() {
    timeout(LIMIT, async {
        let (client, server) = pair_with(
            Config::linux(),
            Some(Impairment::new(3).delay(Duration::from_millis(20), Duration::ZERO)),
            None,
        );
        let l = TcpListener::bind(&server, addr("192.0.2.2:9")).unwrap();
        let got = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.unwrap();
            all
        });
        let mut c = TcpStream::connect(&client, addr("192.0.2.2:9"))
            .await
            .unwrap();
        let data = pattern(9, 200_000);
        c.write_all(&data).await.unwrap();
        c.shutdown().await.unwrap();
        drop(c);
        assert!(client
            .connections()
            .iter()
            .any(|c| c.state == State::FinWait1));
        assert!(client.flush_closing(Duration::from_secs(20)).await);
        assert!(client
            .connections()
            .iter()
            .all(|c| !matches!(c.state, State::FinWait1 | State::Closing | State::LastAck)));
        assert!(got.await.unwrap() == data);
    })
    .await
    .expect("test timed out");
}

/// The tokio-like surface: a `TcpSocket` configured before it connects or
/// listens (bound port, buffer size, linger), `readable`/`try_read`,
/// `writable`/`try_write`, `peek`, and a borrowed `split`.
#[tokio::test]
async fn socket_builder_readiness_peek_and_split() {
    use finack::TcpSocket;
    timeout(LIMIT, async {
        let (a, b) = pair();
        let mut server = TcpSocket::new(&b);
        server.bind(addr("192.0.2.2:7100")).unwrap();
        server.set_nodelay(true);
        server.set_linger(Some(Duration::ZERO));
        server.set_recv_buffer_size(1_000_000);
        let listener = server.listen(16).unwrap();
        // Binding an address that is not the stack's fails.
        let mut wrong = TcpSocket::new(&a);
        assert_eq!(
            wrong.bind(addr("198.51.100.9:1")).unwrap_err().kind(),
            ErrorKind::AddrNotAvailable
        );
        let mut client = TcpSocket::new(&a);
        client.bind(addr("192.0.2.1:40123")).unwrap();
        client.set_recv_buffer_size(20_000);
        let mut c = client.connect(addr("192.0.2.2:7100")).await.unwrap();
        assert_eq!(c.local_addr().unwrap(), addr("192.0.2.1:40123"));
        let (mut s, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, addr("192.0.2.1:40123"));
        // The SYN announced the smaller receive buffer: the server's view
        // of the client's window is at most 20,000 bytes.
        assert!(s.info().unwrap().snd_wnd <= 20_000, "{:?}", s.info());
        assert_eq!(s.linger().unwrap(), Some(Duration::ZERO));
        // Keep-alive timing per connection, in Linux's ranges.
        let (idle, intvl) = (Duration::from_secs(30), Duration::from_secs(5));
        s.set_keepalive_times(idle, intvl, 4).unwrap();
        let bad = s.set_keepalive_times(Duration::ZERO, intvl, 4);
        assert_eq!(bad.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(
            s.set_keepalive_times(idle, intvl, 200).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        // The listener's receive buffer shaped the SYN,ACK: the shift a
        // 1,000,000-byte window needs, not the configuration's 7.
        assert_eq!(s.info().unwrap().rcv_wscale, 4);

        // Nothing to read yet.
        let mut buf = [0u8; 64];
        assert_eq!(
            c.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        s.writable().await.unwrap();
        assert_eq!(s.try_write(b"hello").unwrap(), 5);
        c.readable().await.unwrap();
        // peek twice, then read the same bytes.
        for _ in 0..2 {
            let n = c.peek(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"hello");
        }
        assert_eq!(c.try_read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");

        // A borrowed split in one task: echo through both halves.
        {
            let (mut r, mut w) = s.split();
            c.write_all(b"ping").await.unwrap();
            let mut got = [0u8; 4];
            r.read_exact(&mut got).await.unwrap();
            w.write_all(&got).await.unwrap();
        }
        let mut back = [0u8; 4];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");

        // The server's linger of zero: dropping its stream resets.
        drop(s);
        let mut rest = Vec::new();
        let e = c.read_to_end(&mut rest).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    })
    .await
    .expect("timed out");
}

/// Two workers on each side of an in-memory pair: 200 connections at once,
/// each echoing its own bytes; both workers of both stacks get connections
/// (the listener is open in both engines, connect() picks the engine from
/// the hash of the 4-tuple it chose).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_over_two_workers() {
    timeout(LIMIT, async {
        let (client, server) = Stack::builder().workers(2).pair();
        spawn_echo(echo_server(&server, 7100).await);
        let mut tasks = Vec::new();
        for k in 0..200u32 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let data = pattern(k as u8, 10_000 + k as usize * 13);
                let s = TcpStream::connect(&client, addr("192.0.2.2:7100"))
                    .await
                    .unwrap();
                let (mut r, mut w) = s.into_split();
                let sent = data.clone();
                let writer = tokio::spawn(async move {
                    w.write_all(&sent).await.unwrap();
                    w.shutdown().await.unwrap();
                    w
                });
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                let _w = writer.await.unwrap();
                assert!(got == data, "connection {k}: the echo differs");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for (name, stack, opens) in [
            (
                "client",
                &client,
                (|s| s.active_opens) as fn(&finack::core::Stats) -> u64,
            ),
            ("server", &server, |s: &finack::core::Stats| s.passive_opens),
        ] {
            let per = stack.worker_stats();
            assert_eq!(per.len(), 2);
            assert!(per.iter().all(|s| opens(s) > 0), "{name}: {per:?}");
            assert_eq!(per.iter().map(opens).sum::<u64>(), 200, "{name}");
        }
        assert_eq!(client.stats().active_opens, 200);
    })
    .await
    .expect("test timed out");
}
