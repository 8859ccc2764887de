//! `finack bench tun`: bulk throughput over a TUN device in both
//! directions, offloads on and off, against Linux ↔ Linux over a veth pair,
//! several interleaved timed runs of each.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use finack::netns::{self, Netns};
use finack::{serve, Config, Stack, TcpListener, TcpStream};
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
}

/// A Linux sender: connect, send for at least S seconds, half-close, wait
/// for the receiver's FIN (so every byte arrived); print bytes and seconds.
const PY_SENDER: &str = r#"
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
chunk = memoryview(bytes(1 << 20))
s = socket.create_connection((host, port), timeout=30)
t0 = time.monotonic(); n = 0
while time.monotonic() - t0 < secs:
    for _ in range(16):
        s.sendall(chunk); n += len(chunk)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print(n, time.monotonic() - t0)
"#;

/// A Linux receiver: accept one connection, count bytes to the end, close,
/// print the count.
const PY_RECEIVER: &str = r#"
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print("listening", flush=True)
l.settimeout(30)
c, _ = l.accept()
buf = bytearray(1 << 20); view = memoryview(buf); total = 0
while True:
    k = c.recv_into(view)
    if not k:
        break
    total += k
c.close()
print(total, flush=True)
"#;

fn err(what: &str) -> impl Fn(io::Error) -> Failure + '_ {
    move |e| Failure::Io(format!("{what}: {e}"))
}

/// One measured case.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Case {
    LinuxToFinack { offload: bool },
    FinackToLinux { offload: bool },
    Veth,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::LinuxToFinack { offload: true } => "Linux -> finack (TUN, offload)",
            Case::LinuxToFinack { offload: false } => "Linux -> finack (TUN, no offload)",
            Case::FinackToLinux { offload: true } => "finack -> Linux (TUN, offload)",
            Case::FinackToLinux { offload: false } => "finack -> Linux (TUN, no offload)",
            Case::Veth => "Linux -> Linux (veth)",
        }
    }
}

/// The Linux sender in `ns` against `host:port`: (bytes, seconds).
async fn linux_send(ns: &Netns, host: &str, port: u16, secs: f64) -> Result<(u64, f64), Failure> {
    let out = ns
        .tokio_command("python3")
        .args(["-c", PY_SENDER, host, &port.to_string(), &secs.to_string()])
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
) -> Result<
    (
        tokio::process::Child,
        tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    ),
    Failure,
> {
    let mut rx = ns
        .tokio_command("python3")
        .args(["-c", PY_RECEIVER, host, &port.to_string()])
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

fn tun_stack(ns: &Netns, offload: bool) -> Result<Stack, Failure> {
    let tun = ns
        .tun_with("fin0", IpAddr::V4(KERNEL), 24, offload)
        .map_err(|e| tun_error("fin0", &e))?;
    Stack::from_tun(tun, IpAddr::V4(FINACK), Config::linux()).map_err(|e| tun_error("fin0", &e))
}

/// One run of `case`: (bytes, seconds).
async fn run_once(case: Case, secs: f64) -> Result<(u64, f64), Failure> {
    match case {
        Case::LinuxToFinack { offload } => {
            let ns = Netns::new("finack-bench").map_err(err("cannot make a namespace"))?;
            let stack = tun_stack(&ns, offload)?;
            let l = TcpListener::bind(&stack, SocketAddr::new(IpAddr::V4(FINACK), 9))
                .map_err(err("cannot listen"))?;
            let server = tokio::spawn(serve::discard(l, Some(1)));
            let (bytes, t) = linux_send(&ns, "192.0.2.2", 9, secs).await?;
            let served = server
                .await
                .map_err(|e| Failure::Io(format!("discard server failed: {e}")))?
                .map_err(err("discard server"))?;
            let got = served.first().map_or(0, |s| s.bytes);
            if got != bytes {
                return Err(Failure::Io(format!(
                    "finack received {got} bytes, not {bytes}"
                )));
            }
            Ok((bytes, t))
        }
        Case::FinackToLinux { offload } => {
            let ns = Netns::new("finack-bench").map_err(err("cannot make a namespace"))?;
            let stack = tun_stack(&ns, offload)?;
            let (mut rx, mut lines) = linux_receiver(&ns, "192.0.2.1", 9).await?;
            let mut s = TcpStream::connect(&stack, SocketAddr::new(IpAddr::V4(KERNEL), 9))
                .await
                .map_err(err("finack cannot connect"))?;
            let chunk = vec![0u8; 1 << 20];
            let t0 = Instant::now();
            let mut bytes = 0u64;
            while t0.elapsed().as_secs_f64() < secs {
                s.write_all(&chunk).await.map_err(err("finack send"))?;
                bytes += chunk.len() as u64;
            }
            s.shutdown().await.map_err(err("finack shutdown"))?;
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.map_err(err("finack read"))?;
            let t = t0.elapsed().as_secs_f64();
            let count = lines.next_line().await.map_err(err("receiver"))?;
            let got: u64 = count.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
            let _ = rx.wait().await;
            if got != bytes {
                return Err(Failure::Io(format!(
                    "Linux received {got} bytes, not {bytes}"
                )));
            }
            Ok((bytes, t))
        }
        Case::Veth => {
            let (a, b) = veth_pair("finack-bench")?;
            let (mut rx, mut lines) = linux_receiver(&b, "198.51.100.2", 9).await?;
            let (bytes, t) = linux_send(&a, "198.51.100.2", 9, secs).await?;
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
    }
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
    if args.runs == 0 || !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 600.0)
    {
        return Err(Failure::Usage(
            "--runs must be at least 1 and --seconds between 0 and 600".into(),
        ));
    }
    let cases = [
        Case::LinuxToFinack { offload: true },
        Case::LinuxToFinack { offload: false },
        Case::FinackToLinux { offload: true },
        Case::FinackToLinux { offload: false },
        Case::Veth,
    ];
    let rt = runtime()?;
    let limit = Duration::from_secs(args.timeout.max(1) + args.seconds as u64);
    // rates[case][round] in Gbit/s.
    let mut rates = vec![Vec::with_capacity(args.runs); cases.len()];
    rt.block_on(async {
        for round in 0..args.runs {
            // Interleaved, starting one case later each round.
            for k in 0..cases.len() {
                let i = (round + k) % cases.len();
                let case = cases[i];
                eprint!("round {}/{}: {} ... ", round + 1, args.runs, case.label());
                let (bytes, secs) = tokio::time::timeout(limit, run_once(case, args.seconds))
                    .await
                    .map_err(|_| {
                        Failure::Io(format!("{} took longer than {limit:?}", case.label()))
                    })??;
                let gbit = bytes as f64 * 8.0 / secs / 1e9;
                eprintln!("{gbit:.2} Gbit/s");
                rates[i].push(gbit);
            }
        }
        Ok::<(), Failure>(())
    })?;
    let veth = rates[cases.len() - 1].clone();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{} runs of each case, at least {} s each, interleaved (Gbit/s)",
        args.runs, args.seconds
    )?;
    writeln!(
        out,
        "{:<36} {:>8} {:>8} {:>8} {:>14}",
        "case", "min", "median", "max", "median ratio"
    )?;
    for (i, case) in cases.iter().enumerate() {
        let mut v = rates[i].clone();
        let mut ratios: Vec<f64> = rates[i].iter().zip(&veth).map(|(a, b)| a / b).collect();
        let med = median(&mut v);
        let ratio = if *case == Case::Veth {
            "-".to_string()
        } else {
            format!("{:.2}", median(&mut ratios))
        };
        writeln!(
            out,
            "{:<36} {:>8.2} {:>8.2} {:>8.2} {:>14}",
            case.label(),
            v[0],
            med,
            v[v.len() - 1],
            ratio
        )?;
    }
    writeln!(
        out,
        "median ratio: per round, the case's rate over the veth run's of the same round"
    )?;
    Ok(true)
}
