//! `finack bench http`: the same hyper HTTP service over finack on a TUN
//! device and over Linux sockets behind a veth pair, driven by wrk with
//! keep-alive and with a new connection per request.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Args;
use finack::netns::{self, Netns};
use finack::{serve, Config, Stack, TcpListener};

use crate::bench_tun::{median, veth_pair};
use crate::net::{runtime, tun_error};
use crate::Failure;

/// Options of `finack bench http`.
#[derive(Args, Debug)]
pub struct BenchHttpArgs {
    /// Runs of each case, interleaved.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Seconds each wrk run lasts (wrk's -d).
    #[arg(long, value_name = "S", default_value_t = 2)]
    seconds: u64,
    /// Open connections (wrk's -c).
    #[arg(long, value_name = "N", default_value_t = 32)]
    connections: u32,
    /// The path requested.
    #[arg(long, default_value = "/")]
    path: String,
}

/// What one wrk run measured.
#[derive(Clone, Copy, Debug, Default)]
struct WrkRun {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// A wrk latency such as `1.23ms`, `845.00us` or `1.02s`, in milliseconds.
fn wrk_ms(v: &str) -> Option<f64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

/// Read wrk's `--latency` report.
fn parse_wrk(out: &str) -> Option<WrkRun> {
    let mut r = WrkRun::default();
    let (mut rps, mut p50, mut p99) = (None, None, None);
    for line in out.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next()) {
            (Some("Requests/sec:"), Some(v)) => rps = v.parse().ok(),
            (Some("50%"), Some(v)) => p50 = wrk_ms(v),
            (Some("99%"), Some(v)) => p99 = wrk_ms(v),
            _ => {}
        }
    }
    r.requests_per_s = rps?;
    r.p50_ms = p50?;
    r.p99_ms = p99?;
    Some(r)
}

fn err(what: &str) -> impl Fn(io::Error) -> Failure + '_ {
    move |e| Failure::Io(format!("{what}: {e}"))
}

async fn wrk(ns: &Netns, url: &str, args: &BenchHttpArgs, close: bool) -> Result<WrkRun, Failure> {
    let mut cmd = ns.tokio_command("wrk");
    cmd.args(["-t", "1", "-c", &args.connections.to_string()])
        .args([
            "-d",
            &format!("{}s", args.seconds),
            "--latency",
            "--timeout",
            "5s",
        ]);
    if close {
        cmd.args(["-H", "Connection: close"]);
    }
    let out = cmd.arg(url).output().await.map_err(err("cannot run wrk"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).ok_or_else(|| {
        Failure::Io(format!(
            "wrk printed no figures ({}): {}{}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })
}

/// The service over Linux sockets: a listener made inside `ns`.
fn linux_server(ns: &Netns, addr: SocketAddr) -> Result<(), Failure> {
    let std_listener = ns
        .in_ns(move || std::net::TcpListener::bind(addr))
        .map_err(err("cannot listen on the veth"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(err("listener"))?;
    let listener = tokio::net::TcpListener::from_std(std_listener).map_err(err("listener"))?;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(serve::http_conn(s));
        }
    });
    Ok(())
}

/// `finack bench http`.
pub fn bench_http(args: &BenchHttpArgs) -> Result<bool, Failure> {
    if !netns::can_make() {
        return Err(Failure::Io(
            "finack bench http needs root, /dev/net/tun and iproute2's `ip`".into(),
        ));
    }
    if !netns::have("wrk") {
        return Err(Failure::Io(
            "finack bench http needs wrk (apt-get install wrk)".into(),
        ));
    }
    if args.runs == 0 || args.seconds == 0 || args.connections == 0 {
        return Err(Failure::Usage(
            "--runs, --seconds and --connections must be at least 1".into(),
        ));
    }
    let rt = runtime()?;
    // [finack keep-alive, Linux keep-alive, finack close, Linux close]
    let mut runs: Vec<Vec<WrkRun>> = vec![Vec::new(); 4];
    rt.block_on(async {
        let mk = err("cannot set up the namespaces");
        // finack on a TUN device; wrk in the same namespace.
        let fns = Netns::new("finack-bh").map_err(&mk)?;
        let tun = fns
            .tun_with("fin0", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 24, true)
            .map_err(|e| tun_error("fin0", &e))?;
        let stack = Stack::from_tun(
            tun,
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            Config::linux(),
        )
        .map_err(|e| tun_error("fin0", &e))?;
        let l = TcpListener::bind(&stack, "192.0.2.2:80".parse().expect("addr"))
            .map_err(err("cannot listen"))?;
        tokio::spawn(serve::http(l, None));
        // Linux behind a veth pair; wrk in the other namespace.
        let (a, b) = veth_pair("finack-bh")?;
        linux_server(&b, "198.51.100.2:80".parse().expect("addr"))?;
        let furl = format!("http://192.0.2.2{}", args.path);
        let lurl = format!("http://198.51.100.2{}", args.path);
        tokio::time::sleep(Duration::from_millis(200)).await;
        for round in 0..args.runs {
            for k in 0..4 {
                let i = (round + k) % 4;
                let (ns, url, close, label) = match i {
                    0 => (&fns, &furl, false, "finack, keep-alive"),
                    1 => (&a, &lurl, false, "Linux, keep-alive"),
                    2 => (&fns, &furl, true, "finack, connection per request"),
                    _ => (&a, &lurl, true, "Linux, connection per request"),
                };
                let r = wrk(ns, url, args, close).await?;
                eprintln!(
                    "round {}/{}: {label}: {:.0} requests/s",
                    round + 1,
                    args.runs,
                    r.requests_per_s
                );
                runs[i].push(r);
            }
        }
        Ok::<(), Failure>(())
    })?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "wrk, 1 thread, {} connections, {} s per run, {} runs of each, interleaved",
        args.connections, args.seconds, args.runs
    )?;
    writeln!(
        out,
        "{:<38} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
        "case", "min req/s", "median", "max", "p50 ms", "p99 ms", "ratio"
    )?;
    for (i, label) in [
        "finack (TUN), keep-alive",
        "Linux (veth), keep-alive",
        "finack (TUN), connection per request",
        "Linux (veth), connection per request",
    ]
    .iter()
    .enumerate()
    {
        let mut rps: Vec<f64> = runs[i].iter().map(|r| r.requests_per_s).collect();
        let mut p50: Vec<f64> = runs[i].iter().map(|r| r.p50_ms).collect();
        let mut p99: Vec<f64> = runs[i].iter().map(|r| r.p99_ms).collect();
        let linux = if i % 2 == 0 { i + 1 } else { i };
        let mut ratios: Vec<f64> = runs[i]
            .iter()
            .zip(&runs[linux])
            .map(|(a, b)| a.requests_per_s / b.requests_per_s)
            .collect();
        let med = median(&mut rps);
        let ratio = if i % 2 == 0 {
            format!("{:.2}", median(&mut ratios))
        } else {
            "-".into()
        };
        writeln!(
            out,
            "{:<38} {:>10.0} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>7}",
            label,
            rps[0],
            med,
            rps[rps.len() - 1],
            median(&mut p50),
            median(&mut p99),
            ratio
        )?;
    }
    writeln!(
        out,
        "ratio: median over rounds of finack's requests/s over Linux's in the same round"
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let out = "Running 2s test @ http://192.0.2.2/\n  1 threads and 32 connections\n\
            Latency Distribution\n     50%  845.00us\n     75%    1.20ms\n     90%    2.00ms\n     99%    4.56ms\n\
            12345 requests in 2.00s, 1.23MB read\nRequests/sec:   6172.50\nTransfer/sec:    628.00KB\n";
        let r = parse_wrk(out).unwrap();
        assert_eq!(r.requests_per_s, 6172.5);
        assert!((r.p50_ms - 0.845).abs() < 1e-9);
        assert!((r.p99_ms - 4.56).abs() < 1e-9);
        assert!(parse_wrk("unable to connect").is_none());
        assert_eq!(wrk_ms("1.02s"), Some(1020.0));
    }
}
