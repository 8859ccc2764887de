//! `finack proxy`: a transparent proxy on a TUN device. Every TCP connection
//! routed into the device, whatever its destination, is accepted by finack
//! and carried on to that destination through the host kernel's sockets, or
//! through a SOCKS5 server.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use finack::proxy::{relay, socks5_connect, End};
use finack::TcpListener;

use crate::net::TunArgs;
use crate::Failure;

/// Options of `finack proxy`.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    #[command(flatten)]
    tun: TunArgs,
    /// Reach the destinations through this SOCKS5 server (RFC 1928, no
    /// authentication) instead of connecting directly.
    #[arg(long, value_name = "HOST:PORT")]
    socks5: Option<SocketAddr>,
    /// Stop after relaying N connections (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// How long to wait for the destination to accept before resetting the
    /// client, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    connect_timeout: u64,
}

/// `finack proxy`.
pub fn proxy_cmd(args: &ProxyArgs) -> Result<bool, Failure> {
    let rt = crate::net::runtime()?;
    rt.block_on(async {
        let (stack, kernel) = args.tun.stack()?;
        let listener = TcpListener::bind_any(&stack)
            .map_err(|e| Failure::Io(format!("cannot listen transparently: {e}")))?;
        let via = match args.socks5 {
            Some(s) => format!("through SOCKS5 {s}"),
            None => "directly".to_string(),
        };
        println!(
            "finack: proxying every TCP connection routed into TUN {} (kernel side {kernel}) {via}; Ctrl-C stops",
            args.tun.name()
        );
        let _ = io::stdout().flush();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut started = 0usize;
        let mut finished = 0usize;
        let limit = args.max_connections;
        let timeout = Duration::from_secs(args.connect_timeout.max(1));
        loop {
            if limit.is_some_and(|n| finished >= n) {
                break;
            }
            let accepting = limit.is_none_or(|n| started < n);
            tokio::select! {
                r = listener.accept(), if accepting => {
                    let (client, peer) = match r {
                        Ok(x) => x,
                        Err(e) => return Err(Failure::Io(format!("accepting failed: {e}"))),
                    };
                    started += 1;
                    let dst = client.local_addr().unwrap_or(peer);
                    let socks = args.socks5;
                    let done = done_tx.clone();
                    tokio::spawn(async move {
                        let upstream = match socks {
                            Some(s) => tokio::time::timeout(timeout, socks5_connect(s, dst)).await,
                            None => tokio::time::timeout(timeout, tokio::net::TcpStream::connect(dst)).await,
                        };
                        let line = match upstream {
                            Ok(Ok(server)) => match relay(client, server).await {
                                Ok(r) => match r.reset_by {
                                    None => format!("{peer} -> {dst}: {} bytes up, {} bytes down", r.up, r.down),
                                    Some(End::Client) => format!("{peer} -> {dst}: reset by the client, passed on"),
                                    Some(End::Server) => format!("{peer} -> {dst}: reset by the server, passed on"),
                                },
                                Err(e) => format!("{peer} -> {dst}: {e}"),
                            },
                            Ok(Err(e)) => {
                                // The destination refused or could not be
                                // reached: the client sees a reset, as from
                                // a refused connect.
                                client.abort();
                                format!("{peer} -> {dst}: cannot connect ({e}); client reset")
                            }
                            Err(_) => {
                                client.abort();
                                format!("{peer} -> {dst}: connect timed out; client reset")
                            }
                        };
                        let _ = done.send(line);
                    });
                }
                Some(line) = done_rx.recv() => {
                    finished += 1;
                    println!("{line}");
                    let _ = io::stdout().flush();
                }
                _ = tokio::signal::ctrl_c() => {
                    println!("finack: interrupted, stopping");
                    break;
                }
            }
        }
        stack.flush_closing(Duration::from_secs(10)).await;
        println!("relayed {finished} connections");
        Ok(true)
    })
}
