//! `finack bench tun`: bulk throughput over a TUN device in both
//! directions, offloads on and off, against Linux ↔ Linux over a veth pair
//! with the same offload setting, several interleaved timed runs of each;
//! with `--workers 1,2` the finack cases run once per worker count, and
//! `--connections` adds the rate of short connections Linux opens to
//! finack.
//!
//! "Without offload" is what it is on a veth pair: no segmentation offload
//! (TSO and GSO off at both ends, GRO off where Linux receives, with
//! ethtool), so that every segment crosses as a packet of its own, while
//! checksums stay offloaded, as a veth device always leaves them (its
//! packets are CHECKSUM_PARTIAL, never summed). On the TUN device that is
//! [`TunOffload::Checksum`]. `--offload raw` adds runs with no virtio-net
//! header at all, where each side computes and checks every checksum.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use finack::netns::{self, Netns};
use finack::{serve, Config, Stack, TcpListener, TcpStream, TunOffload};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::net::{runtime, tun_error};
use crate::Failure;

/// Options of `finack bench tun`.
#[derive(Args, Debug)]
pub struct BenchTunArgs {
    /// Runs of each case, interleaved.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Each run sends for at least this long.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    seconds: f64,
    /// Give up on a run after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
    /// Workers of the finack stack (comma-separated: each finack case runs
    /// once per count, and the table compares them to the first).
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_value = "1")]
    workers: Vec<usize>,
    /// Connections at once in each bulk run (one per worker spreads the
    /// load; each worker owns whole connections).
    #[arg(long, value_name = "S", default_value_t = 1)]
    streams: usize,
    /// Which offload settings to run: both (on and off), on, off, raw or
    /// all. off: TSO, GSO and GRO turned off with ethtool on the TUN device
    /// and on the veth pair it is compared with, so that either moves one
    /// segment per packet, checksums still left to the device; raw: no
    /// virtio-net header on the TUN device, every checksum computed and
    /// checked in software (compared with the veth pair without offload).
    #[arg(long, value_name = "WHICH", default_value = "both")]
    offload: String,
    /// Receive and send buffer of finack's connections, in bytes
    /// (SO_RCVBUF and SO_SNDBUF, which turn autotuning off; default:
    /// Config::linux()'s 128 KiB and 256 KiB at first, autotuned up to 6 MiB
    /// and 4 MiB as Linux does).
    #[arg(long, value_name = "BYTES")]
    buffer: Option<usize>,
    /// Which bulk directions to run: both, in (Linux -> finack) or out
    /// (finack -> Linux). The veth runs (one per offload setting) are always
    /// measured.
    #[arg(long, value_name = "WHICH", default_value = "both")]
    direction: String,
    /// Also measure connections/s: Linux clients (4 threads) open
    /// connections to finack, read the one byte it sends and see it close.
    #[arg(long)]
    connections: bool,
    /// Only connections/s (implies --connections; no bulk runs).
    #[arg(long)]
    connections_only: bool,
    /// Congestion control of the Linux side's connections (for example
    /// cubic or bbr; default: the system's, net.ipv4.tcp_congestion_control),
    /// set in each namespace the bench makes. finack's own sender uses its
    /// CUBIC.
    #[arg(long, value_name = "NAME")]
    cc: Option<String>,
}

/// A Linux sender: connect, send for at least S seconds, half-close, wait
/// for the receiver's FIN (so every byte arrived); print bytes and seconds.
const PY_SENDER: &str = r#"
import socket, sys, threading, time
host, port, secs, streams = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
chunk = memoryview(bytes(1 << 20))
socks = [socket.create_connection((host, port), timeout=30) for _ in range(streams)]
sent = [0] * streams
t0 = time.monotonic()
def run(k):
    s = socks[k]; n = 0
    while time.monotonic() - t0 < secs:
        for _ in range(16):
            s.sendall(chunk); n += len(chunk)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    sent[k] = n
ts = [threading.Thread(target=run, args=(k,)) for k in range(streams)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(sent), time.monotonic() - t0)
"#;

/// A Linux receiver: accept S connections, count bytes to the end of each,
/// close, print the total.
const PY_RECEIVER: &str = r#"
import socket, sys, threading
streams = int(sys.argv[3])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(streams)
print("listening", flush=True)
l.settimeout(30)
got = [0] * streams
def run(k, c):
    buf = bytearray(1 << 20); view = memoryview(buf); total = 0
    while True:
        n = c.recv_into(view)
        if not n:
            break
        total += n
    c.close()
    got[k] = total
ts = []
for k in range(streams):
    c, _ = l.accept()
    t = threading.Thread(target=run, args=(k, c)); t.start(); ts.append(t)
for t in ts: t.join()
print(sum(got), flush=True)
"#;

fn err(what: &str) -> impl Fn(io::Error) -> Failure + '_ {
    move |e| Failure::Io(format!("{what}: {e}"))
}

/// One measured case.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Case {
    LinuxToFinack {
        offload: TunOffload,
        workers: usize,
    },
    FinackToLinux {
        offload: TunOffload,
        workers: usize,
    },
    /// Linux -> Linux over a veth pair; without `offload`, segmentation
    /// offload (TSO and GSO) is off at the sender and GRO at the receiver,
    /// so that every segment crosses as a packet of its own, as on the TUN
    /// path without offload.
    Veth {
        offload: bool,
    },
    /// Connections/s, Linux clients to finack (offload on).
    Connect {
        workers: usize,
    },
}

impl Case {
    /// The row's name; `workers` says whether to name the worker count (not
    /// when every case runs with one worker, the names as they always were).
    fn label(self, workers: bool) -> String {
        let w = |n: usize| {
            if workers {
                format!(", {n} worker{}", if n == 1 { "" } else { "s" })
            } else {
                String::new()
            }
        };
        let o = |o: TunOffload| match o {
            TunOffload::Segmentation => "offload",
            TunOffload::Checksum => "no offload",
            TunOffload::Off => "raw, no offload at all",
        };
        match self {
            Case::LinuxToFinack { offload, workers } => {
                format!("Linux -> finack (TUN, {}{})", o(offload), w(workers))
            }
            Case::FinackToLinux { offload, workers } => {
                format!("finack -> Linux (TUN, {}{})", o(offload), w(workers))
            }
            Case::Veth { offload: true } => "Linux -> Linux (veth)".to_string(),
            Case::Veth { offload: false } => "Linux -> Linux (veth, no offload)".to_string(),
            Case::Connect { workers } => {
                format!("connections/s Linux -> finack (TUN{})", w(workers))
            }
        }
    }

    /// The same case with `workers` workers (None for the veth case).
    fn with_workers(self, workers: usize) -> Option<Case> {
        match self {
            Case::LinuxToFinack { offload, .. } => Some(Case::LinuxToFinack { offload, workers }),
            Case::FinackToLinux { offload, .. } => Some(Case::FinackToLinux { offload, workers }),
            Case::Connect { .. } => Some(Case::Connect { workers }),
            Case::Veth { .. } => None,
        }
    }

    fn workers(self) -> usize {
        match self {
            Case::LinuxToFinack { workers, .. }
            | Case::FinackToLinux { workers, .. }
            | Case::Connect { workers } => workers,
            Case::Veth { .. } => 0,
        }
    }
}

/// The Linux sender in `ns` against `host:port`: (bytes, seconds).
async fn linux_send(
    ns: &Netns,
    host: &str,
    port: u16,
    secs: f64,
    streams: usize,
) -> Result<(u64, f64), Failure> {
    let out = ns
        .tokio_command("python3")
        .args([
            "-c",
            PY_SENDER,
            host,
            &port.to_string(),
            &secs.to_string(),
            &streams.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(err("cannot run python3"))?;
    if !out.status.success() {
        return Err(Failure::Io(format!(
            "the Linux sender failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    match (
        it.next().and_then(|b| b.parse().ok()),
        it.next().and_then(|t| t.parse().ok()),
    ) {
        (Some(b), Some(t)) => Ok((b, t)),
        _ => Err(Failure::Io(format!("the Linux sender printed {text:?}"))),
    }
}

/// A Linux receiver in `ns` on `host:port`, ready; its stdout lines.
async fn linux_receiver(
    ns: &Netns,
    host: &str,
    port: u16,
    streams: usize,
) -> Result<
    (
        tokio::process::Child,
        tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    ),
    Failure,
> {
    let mut rx = ns
        .tokio_command("python3")
        .args([
            "-c",
            PY_RECEIVER,
            host,
            &port.to_string(),
            &streams.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(err("cannot run python3"))?;
    let mut lines = tokio::io::BufReader::new(rx.stdout.take().expect("piped")).lines();
    let first = lines.next_line().await.map_err(err("receiver"))?;
    if first.as_deref() != Some("listening") {
        return Err(Failure::Io("the Linux receiver did not start".into()));
    }
    Ok((rx, lines))
}

const KERNEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FINACK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn tun_stack(
    ns: &Netns,
    offload: TunOffload,
    workers: usize,
    buffer: Option<usize>,
) -> Result<Stack, Failure> {
    let tun = ns
        .tun_with("fin0", IpAddr::V4(KERNEL), 24, offload)
        .map_err(|e| tun_error("fin0", &e))?;
    if offload != TunOffload::Segmentation {
        // As on the veth pair without offload: the kernel's TCP hands the
        // device one segment at a time.
        offloads_off(ns, "fin0")?;
    }
    let mut cfg = Config::linux();
    if let Some(b) = buffer {
        cfg.recv_buffer = b;
        cfg.send_buffer = b;
    }
    Stack::builder()
        .config(cfg)
        .workers(workers)
        .tun(tun, &[IpAddr::V4(FINACK)])
        .map_err(|e| tun_error("fin0", &e))
}

/// Client threads of the connections/s case.
const CONNECT_THREADS: usize = 4;

/// Linux clients in `ns` (threads that entered it) opening connections to
/// `to` for `secs`: each reads to the end (one byte) and closes.
/// (connections, failures, seconds).
fn linux_connect_loop(ns: &Netns, to: SocketAddr, secs: f64) -> io::Result<(u64, u64, f64)> {
    ns.in_ns(move || {
        let t0 = Instant::now();
        let limit = Duration::from_secs_f64(secs);
        let per: Vec<(u64, u64)> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..CONNECT_THREADS)
                .map(|_| {
                    sc.spawn(move || {
                        let (mut ok, mut failed) = (0u64, 0u64);
                        let mut buf = [0u8; 16];
                        while t0.elapsed() < limit {
                            let r =
                                std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2))
                                    .and_then(|mut s| {
                                        use std::io::Read;
                                        let mut n = 0;
                                        loop {
                                            match s.read(&mut buf)? {
                                                0 => break,
                                                k => n += k,
                                            }
                                        }
                                        Ok(n)
                                    });
                            match r {
                                Ok(1) => ok += 1,
                                _ => failed += 1,
                            }
                        }
                        (ok, failed)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or((0, 1))).collect()
        });
        let secs = t0.elapsed().as_secs_f64();
        Ok((
            per.iter().map(|p| p.0).sum(),
            per.iter().map(|p| p.1).sum(),
            secs,
        ))
    })
}

/// One run of `case`: (amount, seconds); the amount is bytes, or
/// connections for the connections/s case.
async fn run_once(
    case: Case,
    secs: f64,
    streams: usize,
    buffer: Option<usize>,
    cc: &str,
) -> Result<(u64, f64), Failure> {
    let netns = |prefix: &str| -> Result<Netns, Failure> {
        let ns = Netns::new(prefix).map_err(err("cannot make a namespace"))?;
        set_cc(&ns, cc)?;
        Ok(ns)
    };
    match case {
        Case::LinuxToFinack { offload, workers } => {
            let ns = netns("finack-bench")?;
            let stack = tun_stack(&ns, offload, workers, buffer)?;
            let l = TcpListener::bind(&stack, SocketAddr::new(IpAddr::V4(FINACK), 9))
                .map_err(err("cannot listen"))?;
            let server = tokio::spawn(serve::discard(l, Some(streams)));
            let (bytes, t) = linux_send(&ns, "192.0.2.2", 9, secs, streams).await?;
            let served = server
                .await
                .map_err(|e| Failure::Io(format!("discard server failed: {e}")))?
                .map_err(err("discard server"))?;
            let got: u64 = served.iter().map(|s| s.bytes).sum();
            if got != bytes {
                return Err(Failure::Io(format!(
                    "finack received {got} bytes, not {bytes}"
                )));
            }
            let ls = stack.link_stats();
            eprint!(
                "({} packets in, {} joined on receive, {} handed over between workers) ",
                ls.packets_in, ls.coalesced_in, ls.handed_over
            );
            Ok((bytes, t))
        }
        Case::FinackToLinux { offload, workers } => {
            let ns = netns("finack-bench")?;
            let stack = tun_stack(&ns, offload, workers, buffer)?;
            let (mut rx, mut lines) = linux_receiver(&ns, "192.0.2.1", 9, streams).await?;
            let t0 = Instant::now();
            let mut senders = Vec::with_capacity(streams);
            for _ in 0..streams {
                let stack = stack.clone();
                senders.push(tokio::spawn(async move {
                    let mut s = TcpStream::connect(&stack, SocketAddr::new(IpAddr::V4(KERNEL), 9))
                        .await
                        .map_err(err("finack cannot connect"))?;
                    let chunk = vec![0u8; 1 << 20];
                    let mut bytes = 0u64;
                    while t0.elapsed().as_secs_f64() < secs {
                        s.write_all(&chunk).await.map_err(err("finack send"))?;
                        bytes += chunk.len() as u64;
                    }
                    s.shutdown().await.map_err(err("finack shutdown"))?;
                    let mut rest = Vec::new();
                    s.read_to_end(&mut rest).await.map_err(err("finack read"))?;
                    Ok::<u64, Failure>(bytes)
                }));
            }
            let mut bytes = 0u64;
            for h in senders {
                bytes += h
                    .await
                    .map_err(|e| Failure::Io(format!("finack sender failed: {e}")))??;
            }
            let t = t0.elapsed().as_secs_f64();
            let count = lines.next_line().await.map_err(err("receiver"))?;
            let got: u64 = count.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
            let _ = rx.wait().await;
            if got != bytes {
                return Err(Failure::Io(format!(
                    "Linux received {got} bytes, not {bytes}"
                )));
            }
            let ls = stack.link_stats();
            eprint!(
                "({} segments out in {} writes, {} of them in packets the engine formed) ",
                ls.packets_out, ls.writes_out, ls.tso_segments_out
            );
            Ok((bytes, t))
        }
        Case::Veth { offload } => {
            let (a, b) = veth_pair("finack-bench")?;
            set_cc(&a, cc)?;
            set_cc(&b, cc)?;
            if !offload {
                offloads_off(&a, "veth-a")?;
                offloads_off(&b, "veth-b")?;
            }
            let (mut rx, mut lines) = linux_receiver(&b, "198.51.100.2", 9, streams).await?;
            let (bytes, t) = linux_send(&a, "198.51.100.2", 9, secs, streams).await?;
            let count = lines.next_line().await.map_err(err("receiver"))?;
            let got: u64 = count.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
            let _ = rx.wait().await;
            if got != bytes {
                return Err(Failure::Io(format!(
                    "the Linux receiver got {got} bytes, not {bytes}"
                )));
            }
            Ok((bytes, t))
        }
        Case::Connect { workers } => {
            let ns = netns("finack-bench")?;
            let stack = tun_stack(&ns, TunOffload::Segmentation, workers, buffer)?;
            let to = SocketAddr::new(IpAddr::V4(FINACK), 80);
            let l = TcpListener::bind(&stack, to).map_err(err("cannot listen"))?;
            // Each connection gets one byte and finack's FIN (finack closes
            // first and keeps the TIME-WAIT, so the Linux clients' ports do
            // not run out).
            let server = tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    tokio::spawn(async move {
                        let _ = s.write_all(b"x").await;
                    });
                }
            });
            let ns = std::sync::Arc::new(ns);
            let client_ns = ns.clone();
            let (n, failed, t) =
                tokio::task::spawn_blocking(move || linux_connect_loop(&client_ns, to, secs))
                    .await
                    .map_err(|e| Failure::Io(format!("connect loop failed: {e}")))?
                    .map_err(err("connect loop"))?;
            server.abort();
            let ls = stack.link_stats();
            eprint!(
                "({} of {} packets in handed over between workers) ",
                ls.handed_over, ls.packets_in
            );
            if failed > n / 100 {
                return Err(Failure::Io(format!(
                    "{failed} of {} connections failed",
                    n + failed
                )));
            }
            Ok((n, t))
        }
    }
}

const CC_SYSCTL: &str = "/proc/sys/net/ipv4/tcp_congestion_control";

/// The congestion control new connections in `ns` use.
fn set_cc(ns: &Netns, cc: &str) -> Result<(), Failure> {
    let cc = cc.to_string();
    ns.in_ns(move || std::fs::write(CC_SYSCTL, cc.as_bytes()))
        .map_err(err("cannot set the namespace's congestion control"))
}

/// The congestion control the bench gives the Linux side: `asked`, which
/// must be one the kernel offers, or the system's.
fn linux_cc(asked: Option<&str>) -> Result<String, Failure> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(err("cannot read the kernel's congestion controls"))
    };
    let Some(name) = asked else {
        return read(CC_SYSCTL);
    };
    let available = read("/proc/sys/net/ipv4/tcp_available_congestion_control")?;
    if !available.split_whitespace().any(|a| a == name) {
        return Err(Failure::Usage(format!(
            "--cc {name:?}: the kernel offers {available} (modprobe tcp_{name} may add it)"
        )));
    }
    // Linux tcp_cong.c: tcp_set_default_congestion_control(): a namespace
    // other than the first may only pick an allowed one.
    let allowed = read("/proc/sys/net/ipv4/tcp_allowed_congestion_control")?;
    if allowed.split_whitespace().any(|a| a == name) {
        Ok(name.to_string())
    } else {
        Err(Failure::Usage(format!(
            "--cc {name:?}: the kernel has it but lets the bench's namespaces use only \
             {allowed} (allow it with: sysctl -w \
             net.ipv4.tcp_allowed_congestion_control=\"{allowed} {name}\")"
        )))
    }
}

/// Turn segmentation offload (TSO, GSO) and GRO off on `dev` in `ns` with
/// ethtool: the sender's TCP then hands the device one segment at a time
/// and the receiver takes them one at a time.
fn offloads_off(ns: &Netns, dev: &str) -> Result<(), Failure> {
    let out = ns
        .command("ethtool")
        .args(["-K", dev, "tso", "off", "gso", "off", "gro", "off"])
        .output()
        .map_err(err("cannot run ethtool"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Failure::Io(format!(
            "ethtool -K {dev} tso off gso off gro off failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Can this machine turn a veth pair's offloads off (ethtool there, and
/// allowed to)? Tried once on a pair of its own before the runs.
fn offloads_can_go_off() -> Result<(), String> {
    if !netns::have("ethtool") {
        return Err("it needs ethtool (apt-get install ethtool)".into());
    }
    let text = |e: Failure| match e {
        Failure::Usage(m) | Failure::Io(m) => m,
        Failure::ClosedOutput => "output closed".into(),
    };
    let (a, b) = veth_pair("finack-bench-probe").map_err(text)?;
    offloads_off(&a, "veth-a")
        .and_then(|()| offloads_off(&b, "veth-b"))
        .map_err(text)
}

/// Two namespaces joined by a veth pair, 198.51.100.1/24 in the first and
/// .2 in the second, both up.
pub(crate) fn veth_pair(prefix: &str) -> Result<(Netns, Netns), Failure> {
    let a = Netns::new(&format!("{prefix}-a")).map_err(err("cannot make a namespace"))?;
    let b = Netns::new(&format!("{prefix}-b")).map_err(err("cannot make a namespace"))?;
    let mk = err("cannot set up the veth pair");
    a.ip(&[
        "link",
        "add",
        "veth-a",
        "type",
        "veth",
        "peer",
        "name",
        "veth-b",
        "netns",
        b.name(),
    ])
    .map_err(&mk)?;
    a.ip(&["addr", "add", "198.51.100.1/24", "dev", "veth-a"])
        .map_err(&mk)?;
    b.ip(&["addr", "add", "198.51.100.2/24", "dev", "veth-b"])
        .map_err(&mk)?;
    a.ip(&["link", "set", "veth-a", "up"]).map_err(&mk)?;
    b.ip(&["link", "set", "veth-b", "up"]).map_err(&mk)?;
    Ok((a, b))
}

/// The median of `v` (sorted in place).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `finack bench tun`.
pub fn bench_tun(args: &BenchTunArgs) -> Result<bool, Failure> {
    if !netns::can_make() {
        return Err(Failure::Io(
            "finack bench tun needs root, /dev/net/tun and iproute2's `ip` \
             (it makes its own network namespaces)"
                .into(),
        ));
    }
    if !netns::have("python3") {
        return Err(Failure::Io(
            "finack bench tun needs python3 (the Linux side)".into(),
        ));
    }
    if args.buffer.is_some_and(|b| !(4096..=1 << 30).contains(&b)) {
        return Err(Failure::Usage(
            "--buffer must be between 4096 and 1073741824 bytes".into(),
        ));
    }
    if args.runs == 0 || !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 600.0)
    {
        return Err(Failure::Usage(
            "--runs must be at least 1 and --seconds between 0 and 600".into(),
        ));
    }
    use TunOffload::{Checksum, Off, Segmentation};
    let mut offloads: Vec<TunOffload> = match args.offload.as_str() {
        "both" => vec![Segmentation, Checksum],
        "on" => vec![Segmentation],
        "off" => vec![Checksum],
        "raw" => vec![Off],
        "all" => vec![Segmentation, Checksum, Off],
        other => {
            return Err(Failure::Usage(format!(
                "--offload is both, on, off, raw or all, not {other:?}"
            )))
        }
    };
    let (inward, outward) = match args.direction.as_str() {
        "both" => (true, true),
        "in" => (true, false),
        "out" => (false, true),
        other => {
            return Err(Failure::Usage(format!(
                "--direction is both, in or out, not {other:?}"
            )))
        }
    };
    let workers: Vec<usize> = if args.workers.is_empty() {
        vec![1]
    } else {
        args.workers.clone()
    };
    if workers.contains(&0) || args.streams == 0 {
        return Err(Failure::Usage(
            "--workers and --streams must be at least 1".into(),
        ));
    }
    // Without ethtool (or leave to use it) nothing runs without offload.
    let veth_off = !args.connections_only
        && offloads.iter().any(|&o| o != Segmentation)
        && match offloads_can_go_off() {
            Ok(()) => true,
            Err(why) => {
                eprintln!("SKIPPED: every case without offload (TUN and veth): {why}");
                offloads.retain(|&o| o == Segmentation);
                false
            }
        };
    let mut cases = Vec::new();
    if !args.connections_only {
        for &offload in offloads.iter().filter(|_| inward) {
            for &w in &workers {
                cases.push(Case::LinuxToFinack {
                    offload,
                    workers: w,
                });
            }
        }
        for &offload in offloads.iter().filter(|_| outward) {
            for &w in &workers {
                cases.push(Case::FinackToLinux {
                    offload,
                    workers: w,
                });
            }
        }
        if offloads.contains(&Segmentation) {
            cases.push(Case::Veth { offload: true });
        }
        if veth_off {
            cases.push(Case::Veth { offload: false });
        }
    }
    if args.connections || args.connections_only {
        for &w in &workers {
            cases.push(Case::Connect { workers: w });
        }
    }
    let named = workers != [1];
    let cc = linux_cc(args.cc.as_deref())?;
    let rt = runtime()?;
    let limit = Duration::from_secs(args.timeout.max(1) + args.seconds as u64);
    // rates[case][round]: Gbit/s, or connections/s.
    let mut rates = vec![Vec::with_capacity(args.runs); cases.len()];
    rt.block_on(async {
        for round in 0..args.runs {
            // Interleaved, starting one case later each round.
            for k in 0..cases.len() {
                let i = (round + k) % cases.len();
                let case = cases[i];
                eprint!(
                    "round {}/{}: {} ... ",
                    round + 1,
                    args.runs,
                    case.label(named)
                );
                let (amount, secs) = tokio::time::timeout(
                    limit,
                    run_once(case, args.seconds, args.streams, args.buffer, &cc),
                )
                .await
                .map_err(|_| {
                    Failure::Io(format!("{} took longer than {limit:?}", case.label(named)))
                })??;
                let rate = match case {
                    Case::Connect { .. } => {
                        let r = amount as f64 / secs;
                        eprintln!("{r:.0} connections/s");
                        r
                    }
                    _ => {
                        let g = amount as f64 * 8.0 / secs / 1e9;
                        eprintln!("{g:.2} Gbit/s");
                        g
                    }
                };
                rates[i].push(rate);
            }
        }
        Ok::<(), Failure>(())
    })?;
    // The veth run of each offload setting.
    let veth = |offload: bool| {
        cases
            .iter()
            .position(|c| *c == Case::Veth { offload })
            .map(|i| rates[i].clone())
    };
    let base = workers[0];
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{} runs of each case, at least {} s each, interleaved; {} connection(s) at once in bulk runs; finack buffers {}; Linux congestion control {cc}{}",
        args.runs,
        args.seconds,
        args.streams,
        match args.buffer {
            Some(b) => format!("{b} bytes each way"),
            None => "as Config::linux() (128 KiB receive and 256 KiB send at first, autotuned up to 6 MiB and 4 MiB)".to_string(),
        },
        if args.cc.is_some() { " (--cc)" } else { " (the system's)" },
    )?;
    let wide = cases
        .iter()
        .map(|c| c.label(named).chars().count())
        .max()
        .unwrap_or(0)
        .max(50);
    writeln!(
        out,
        "{:<wide$} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "case (Gbit/s; connections/s)",
        "min",
        "median",
        "max",
        "/veth",
        format!("/{base}w")
    )?;
    for (i, case) in cases.iter().enumerate() {
        let mut v = rates[i].clone();
        let med = median(&mut v);
        let per_round = |other: &[f64]| {
            let mut r: Vec<f64> = rates[i].iter().zip(other).map(|(a, b)| a / b).collect();
            format!("{:.2}", median(&mut r))
        };
        let to_veth = match case {
            Case::LinuxToFinack { offload, .. } | Case::FinackToLinux { offload, .. } => {
                veth(*offload == Segmentation).map_or("-".to_string(), |vr| per_round(&vr))
            }
            _ => "-".to_string(),
        };
        let to_base = match case.with_workers(base) {
            Some(b) if case.workers() != base => {
                let j = cases
                    .iter()
                    .position(|c| *c == b)
                    .expect("every count runs");
                per_round(&rates[j])
            }
            _ => "-".to_string(),
        };
        let prec = if matches!(case, Case::Connect { .. }) {
            0
        } else {
            2
        };
        writeln!(
            out,
            "{:<wide$} {:>9.prec$} {:>9.prec$} {:>9.prec$} {:>8} {:>8}",
            case.label(named),
            v[0],
            med,
            v[v.len() - 1],
            to_veth,
            to_base,
        )?;
    }
    writeln!(
        out,
        "median ratio: per round, the case's rate over the veth run's with the same offload setting (/veth) or over the same case with {base} worker(s) (/{base}w) of the same round"
    )?;
    if veth(false).is_some() {
        writeln!(
            out,
            "no offload: TSO, GSO and GRO off on the TUN device and on both veth ends (ethtool), every segment a packet of its own; checksums left to the device, as veth always leaves them (TUN: virtio-net header, NEEDS_CSUM)"
        )?;
    }
    if offloads.contains(&Off) {
        writeln!(
            out,
            "raw: the TUN device without virtio-net header, every checksum computed and checked in software; compared with veth without offload"
        )?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_congestion_control_the_namespaces_cannot_use_is_a_usage_error() {
        let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string());
        let (Ok(system), Ok(available), Ok(allowed)) = (
            read(CC_SYSCTL),
            read("/proc/sys/net/ipv4/tcp_available_congestion_control"),
            read("/proc/sys/net/ipv4/tcp_allowed_congestion_control"),
        ) else {
            eprintln!("SKIPPED: no /proc/sys/net/ipv4 here");
            return;
        };
        assert_eq!(linux_cc(None).unwrap(), system);
        match linux_cc(Some("no-such-cc")) {
            Err(Failure::Usage(m)) => assert!(m.contains("offers"), "{m}"),
            other => panic!("{other:?}"),
        }
        for cc in available.split_whitespace() {
            let ok = allowed.split_whitespace().any(|a| a == cc);
            match linux_cc(Some(cc)) {
                Ok(name) => assert!(ok && name == cc, "{cc}"),
                Err(Failure::Usage(m)) => {
                    assert!(!ok && m.contains("tcp_allowed_congestion_control"), "{m}")
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }
}
