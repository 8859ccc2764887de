//! `finack serve`, `finack connect` and `finack bench tun`: finack on a real TUN
//! device, talking to the Linux kernel.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use finack::{serve, Config, Stack, TcpListener, TcpStream, Tun};
use tokio::io::AsyncWriteExt;

use crate::Failure;

/// An IPv4 address with a prefix length, as `192.0.2.2/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length, 1..=30.
    pub prefix: u8,
}

impl Cidr {
    fn contains(&self, a: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - u32::from(self.prefix));
        u32::from(a) & mask == u32::from(self.addr) & mask
    }

    /// The first host address of the prefix that is not `addr` (the default
    /// kernel-side address).
    fn other_host(&self) -> Ipv4Addr {
        let mask = u32::MAX << (32 - u32::from(self.prefix));
        let net = u32::from(self.addr) & mask;
        let first = Ipv4Addr::from(net + 1);
        if first == self.addr {
            Ipv4Addr::from(net + 2)
        } else {
            first
        }
    }
}

/// clap's parser for `--addr`.
fn parse_cidr(s: &str) -> Result<Cidr, String> {
    const HINT: &str = "expected an IPv4 address with a prefix length, such as 192.0.2.2/24";
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("no prefix length; {HINT}"))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("'{a}' is not an IPv4 address; {HINT}"))?;
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| (1..=30).contains(p))
        .ok_or_else(|| format!("prefix length '{p}' is not in 1..=30; {HINT}"))?;
    let c = Cidr { addr, prefix };
    let host = u32::from(addr) & !(u32::MAX << (32 - u32::from(prefix)));
    if host == 0 || host == !(u32::MAX << (32 - u32::from(prefix))) {
        return Err(format!(
            "{s} is the network or broadcast address of its prefix; {HINT}"
        ));
    }
    Ok(c)
}

/// Where finack sits: the TUN device and the addresses on it.
#[derive(Args, Debug)]
pub struct TunArgs {
    /// Name of the TUN device to create (or attach to, if an unused one of that
    /// name exists).
    #[arg(long, value_name = "NAME")]
    tun: String,
    /// finack's own address and the prefix of the link, e.g. 192.0.2.2/24.
    #[arg(long, value_name = "ADDR/PREFIX", value_parser = parse_cidr)]
    addr: Cidr,
    /// The kernel side's address on the TUN device (default: the first other
    /// host address of the prefix, e.g. 192.0.2.1).
    #[arg(long, value_name = "ADDR")]
    kernel_addr: Option<Ipv4Addr>,
}

/// What `finack serve` serves.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Service {
    /// Send back everything received (RFC 862); close after the client does.
    Echo,
    /// Read and drop everything (RFC 863).
    Discard,
    /// HTTP/1.1 (hyper): a page at `/`, N bytes at `/bytes/N`.
    Http,
}

/// Options of `finack serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    tun: TunArgs,
    /// Port to listen on (default: 7 for echo, 9 for discard, 80 for http).
    #[arg(long)]
    port: Option<u16>,
    /// Stop after serving N connections (default: serve until Ctrl-C).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Reset connections whose peer sent nothing for this many seconds (a
    /// defence against clients that connect and never send or close).
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u16>,
    /// Most connections (half-open ones included) one client address may
    /// hold; its further SYNs are dropped.
    #[arg(long, value_name = "N")]
    per_source: Option<u32>,
    /// Print the engine's counters (Linux nstat names) every SECS seconds;
    /// they are printed once more when the server stops.
    #[arg(long, value_name = "SECS")]
    stats_every: Option<u64>,
    /// What to serve.
    service: Service,
}

/// The engine's non-zero counters, on one line, under Linux's names.
fn counters_line(stats: &finack_core::Stats) -> String {
    let list: Vec<String> = stats
        .linux_counters()
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    format!("finack: counters: {}", list.join(", "))
}

/// Options of `finack connect`.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    #[command(flatten)]
    tun: TunArgs,
    /// Where to connect, e.g. 192.0.2.1:8000.
    #[arg(value_name = "HOST:PORT")]
    target: SocketAddr,
    /// Send FILE (`-`: standard input), then half-close. Without it nothing is
    /// sent and the connection stays open until the peer closes.
    #[arg(long, value_name = "FILE")]
    send: Option<PathBuf>,
    /// Give up connecting after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    connect_timeout: u64,
}

/// `finack bench ...`
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Bulk throughput both ways over a TUN device, Linux → finack and
    /// finack → Linux, with the TUN offloads on and off, against Linux →
    /// Linux over a veth pair measured in the same run: each side --runs
    /// times for at least --seconds, interleaved; min / median / max Gbit/s
    /// and the median of the per-round ratios. Needs root, iproute2 and
    /// python3; uses its own network namespaces.
    Tun(crate::bench_tun::BenchTunArgs),
    /// The same hyper HTTP service over finack on a TUN device and over
    /// Linux sockets behind a veth pair, driven by wrk with keep-alive and
    /// with a new connection per request: requests/s (min / median / max),
    /// latency p50/p99, and the median ratio. Needs root, iproute2 and wrk.
    Http(crate::bench_http::BenchHttpArgs),
    /// finack against smoltcp (same in-memory harness, MTU and buffers) and
    /// the Linux kernel on loopback, measured side by side in one run: bulk
    /// throughput, connection churn, memory per connection and per TIME-WAIT
    /// entry. Bulk and churn run each side --runs times (at least
    /// --min-seconds each), interleaved; min / median / max and the median of
    /// the per-run ratios. No root needed.
    Compare(BenchCompareArgs),
    /// Many concurrent connections (default 1,000,000) between two
    /// in-memory endpoints: time to open them, memory per connection and
    /// per-packet cost at 1, 1,000, 100,000 and 1,000,000 open, then the
    /// TIME-WAIT table after closing them all; targets with reached/missed.
    /// Stops cleanly at a memory budget. No root needed.
    Scale(crate::bench_scale::BenchScaleArgs),
}

/// Options of `finack bench compare`.
#[derive(Args, Debug)]
pub struct BenchCompareArgs {
    /// Bytes moved in one bulk transfer (a run repeats it until
    /// --min-seconds have passed).
    #[arg(long, default_value_t = 256 << 20)]
    bytes: usize,
    /// Connections in one churn loop (a run repeats it until --min-seconds
    /// have passed).
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// Leave out the Linux loopback column.
    #[arg(long)]
    no_linux: bool,
    /// Runs of each side for bulk and churn, interleaved (finack, smoltcp,
    /// Linux, finack, ...); the table gives min / median / max and the
    /// median of the per-run ratios.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Each bulk or churn run lasts at least this long (its timed parts);
    /// 0 makes one transfer or churn loop per run.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    min_seconds: f64,
}

/// `finack bench compare`.
pub fn bench_compare(args: &BenchCompareArgs) -> Result<bool, Failure> {
    if args.bytes == 0 || args.connections == 0 || args.runs == 0 {
        return Err(Failure::Usage(
            "--bytes, --connections and --runs must be at least 1".into(),
        ));
    }
    if !(args.min_seconds.is_finite() && (0.0..=86_400.0).contains(&args.min_seconds)) {
        return Err(Failure::Usage(
            "--min-seconds must be between 0 and 86400".into(),
        ));
    }
    let opts = finack_bench::Options {
        bulk_bytes: args.bytes,
        churn: args.connections,
        linux: !args.no_linux,
        runs: args.runs,
        min_time: std::time::Duration::from_secs_f64(args.min_seconds),
    };
    let rows =
        finack_bench::run(&opts, |what| eprintln!("running {what} ...")).map_err(Failure::Io)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "bulk {} MiB, churn {} connections, MTU {}, buffers {} KiB send / {} KiB receive; \
         {} interleaved run{} of each side, each at least {} s (transfer / churn loop repeated); \
         min / median / max, ratios the median of the per-run ratios",
        args.bytes >> 20,
        args.connections,
        finack_bench::MTU,
        finack_bench::SEND_BUFFER >> 10,
        finack_bench::RECV_BUFFER >> 10,
        args.runs,
        if args.runs == 1 { "" } else { "s" },
        args.min_seconds,
    )?;
    write!(out, "{}", finack_bench::render(&rows))?;
    Ok(true)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(format!("cannot start the async runtime: {e}")))
}

/// Why opening a TUN device failed, in words a user can act on.
pub(crate) fn tun_error(name: &str, e: &io::Error) -> Failure {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => {
            " (creating a TUN device needs root or CAP_NET_ADMIN; try sudo)"
        }
        io::ErrorKind::NotFound => " (is /dev/net/tun there? try `modprobe tun`)",
        _ if e.raw_os_error() == Some(1) => {
            " (creating a TUN device needs root or CAP_NET_ADMIN; try sudo)"
        }
        _ => "",
    };
    Failure::Io(format!("cannot create TUN device '{name}': {e}{hint}"))
}

impl TunArgs {
    /// Check the addresses (usage errors), then create the device and a stack
    /// on it (runtime errors). Call inside the runtime.
    /// The TUN device's name.
    pub(crate) fn name(&self) -> &str {
        &self.tun
    }

    pub(crate) fn stack(&self) -> Result<(Stack, Ipv4Addr), Failure> {
        self.stack_with(Config::linux())
    }

    pub(crate) fn stack_with(&self, config: Config) -> Result<(Stack, Ipv4Addr), Failure> {
        let kernel = self.kernel_addr.unwrap_or_else(|| self.addr.other_host());
        if kernel == self.addr.addr {
            return Err(Failure::Usage(format!(
                "--kernel-addr {kernel} is finack's own address; give the kernel side another one"
            )));
        }
        if !self.addr.contains(kernel) {
            return Err(Failure::Usage(format!(
                "--kernel-addr {kernel} is not in {}/{}",
                self.addr.addr, self.addr.prefix
            )));
        }
        if self.tun.is_empty() || self.tun.len() > 15 || self.tun.contains(['/', ' ']) {
            return Err(Failure::Usage(format!(
                "'{}' is not a valid interface name (1 to 15 characters, no '/' or spaces)",
                self.tun
            )));
        }
        let tun = Tun::create(&self.tun, IpAddr::V4(kernel), self.addr.prefix)
            .map_err(|e| tun_error(&self.tun, &e))?;
        let stack = Stack::from_tun(tun, IpAddr::V4(self.addr.addr), config)
            .map_err(|e| tun_error(&self.tun, &e))?;
        Ok((stack, kernel))
    }
}

/// `finack serve`.
pub fn serve_cmd(args: &ServeArgs) -> Result<bool, Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut config = Config::linux();
        config.listener_limits.idle_timeout = args
            .idle_timeout
            .map(|s| Duration::from_secs(u64::from(s.max(1))));
        config.listener_limits.established_per_source = args.per_source;
        let (stack, kernel) = args.tun.stack_with(config)?;
        let port = args.port.unwrap_or(match args.service {
            Service::Echo => 7,
            Service::Discard => 9,
            Service::Http => 80,
        });
        let local = SocketAddr::new(IpAddr::V4(args.tun.addr.addr), port);
        let listener = TcpListener::bind(&stack, local)
            .map_err(|e| Failure::Io(format!("cannot listen on {local}: {e}")))?;
        // `finack ss --tun NAME` asks this for the socket table.
        let _control = crate::ss_ctl::spawn(stack.clone(), &args.tun.tun, local);
        let what = format!("{:?}", args.service).to_lowercase();
        println!(
            "finack: serving {what} on {local} over TUN {} (kernel side {kernel}/{}); Ctrl-C stops",
            args.tun.tun, args.tun.addr.prefix
        );
        let _ = io::stdout().flush();
        let count = args.max_connections;
        let serving = async {
            match args.service {
                Service::Echo => serve::echo(listener, count).await,
                Service::Discard => serve::discard(listener, count).await,
                Service::Http => serve::http(listener, count).await,
            }
        };
        let every = args.stats_every.map(|s| Duration::from_secs(s.max(1)));
        let report = async {
            let Some(every) = every else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(every).await;
                println!("{}", counters_line(&stack.stats()));
                let _ = io::stdout().flush();
            }
        };
        let served = tokio::select! {
            r = serving => r,
            () = report => unreachable!("the report loop never ends"),
            _ = tokio::signal::ctrl_c() => {
                println!("finack: interrupted, stopping");
                println!("{}", counters_line(&stack.stats()));
                return Ok(true);
            }
        };
        let served = served.map_err(|e| Failure::Io(format!("accepting failed: {e}")))?;
        // Deliver the last connections' data and FINs before the stack (and
        // this process) ends.
        stack.flush_closing(Duration::from_secs(10)).await;
        let mut out = io::stdout().lock();
        for s in &served {
            match &s.result {
                Ok(()) => writeln!(out, "{}: {} bytes", s.peer, s.bytes)?,
                Err(e) => writeln!(out, "{}: {} bytes, then error: {e}", s.peer, s.bytes)?,
            }
        }
        writeln!(out, "served {} connections", served.len())?;
        writeln!(out, "{}", counters_line(&stack.stats()))?;
        Ok(true)
    })
}

/// `finack connect`.
pub fn connect_cmd(args: &ConnectArgs) -> Result<bool, Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let (stack, _) = args.tun.stack()?;
        let input: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>> = match &args.send {
            None => None,
            Some(p) if p.as_os_str() == "-" => Some(Box::new(tokio::io::stdin())),
            Some(p) => Some(Box::new(tokio::fs::File::open(p).await.map_err(|e| {
                Failure::Usage(format!("cannot read {}: {e}", p.display()))
            })?)),
        };
        let stream = tokio::time::timeout(
            Duration::from_secs(args.connect_timeout),
            TcpStream::connect(&stack, args.target),
        )
        .await
        .map_err(|_| {
            Failure::Io(format!(
                "connecting to {} timed out after {} s",
                args.target, args.connect_timeout
            ))
        })?
        .map_err(|e| Failure::Io(format!("cannot connect to {}: {e}", args.target)))?;
        let (mut r, mut w) = stream.into_split();
        let writer = tokio::spawn(async move {
            if let Some(mut input) = input {
                let n = tokio::io::copy(&mut input, &mut w).await?;
                w.shutdown().await?;
                Ok::<_, io::Error>((n, Some(w)))
            } else {
                Ok((0, Some(w)))
            }
        });
        let mut stdout = tokio::io::stdout();
        let received = tokio::io::copy(&mut r, &mut stdout)
            .await
            .map_err(|e| Failure::Io(format!("receiving from {}: {e}", args.target)))?;
        stdout.flush().await?;
        let (sent, w) = writer
            .await
            .map_err(|e| Failure::Io(format!("sender task failed: {e}")))?
            .map_err(|e| Failure::Io(format!("sending to {}: {e}", args.target)))?;
        drop((r, w));
        // Our data and FIN may still be unacknowledged: the stack ends with
        // this process, so see them delivered first.
        if !stack.flush_closing(Duration::from_secs(10)).await {
            eprintln!("finack: the peer did not acknowledge our FIN within 10 s");
        }
        eprintln!("finack: sent {sent} bytes, received {received} bytes");
        Ok(true)
    })
}
