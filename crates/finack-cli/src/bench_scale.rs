//! `finack bench scale`: many concurrent connections between two in-memory
//! endpoints (see `finack_bench::scale`).

use std::io::{self, Write};
use std::time::Duration;

use clap::Args;
use finack_bench::scale::{self, Report};

use crate::Failure;

/// Options of `finack bench scale`.
#[derive(Args, Debug)]
#[command(after_help = "\
Instructions per packet with callgrind, on a small fixed workload (open N
connections, then K data segments once, each answered by an ACK; the
count covers only the timed loop; divide Ir by the packets printed):

  valgrind --tool=callgrind --toggle-collect='*scale::packet_loop*' \\
      target/release/finack bench scale --open 1000 --only-packets 20000

Exit codes: 0 the run finished (a memory or time stop included: the report
says what was reached and missed), 1 the harness saw something wrong (a
handshake, the data or the close did not go as expected), 2 bad usage,
3 --only-packets could not open its connections (memory budget, failed
handshake).")]
pub struct BenchScaleArgs {
    /// Connections to open in all.
    #[arg(long, value_name = "N", default_value_t = scale::TARGET_CONNECTIONS)]
    connections: usize,
    /// Connection counts at which to measure memory and per-packet cost
    /// (comma-separated; those above --connections are dropped, and
    /// --connections itself is always measured).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "1,1000,100000,1000000"
    )]
    checkpoints: Vec<usize>,
    /// Data segments per timed run at each checkpoint.
    #[arg(long, value_name = "M", default_value_t = 200_000)]
    packets: usize,
    /// Timed runs per checkpoint (min / median / max are printed).
    #[arg(long, value_name = "R", default_value_t = 5)]
    reps: usize,
    /// Memory budget of both endpoints together (by Endpoint::memory_usage,
    /// and by resident size where the system reports it); opening stops
    /// cleanly before it would be passed. Units K, M, G, T (binary).
    #[arg(long, value_name = "SIZE", default_value = "16GiB", value_parser = scale::parse_size)]
    max_memory: u64,
    /// Wall-clock limit of the run in seconds; opening stops at half of it
    /// so that closing fits.
    #[arg(long, value_name = "SECS", default_value_t = 540)]
    time_limit: u64,
    /// Seed of the connection choice in the per-packet measurement.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only open --open connections and send K data segments once, then
    /// exit (a fixed workload for callgrind; see below).
    #[arg(
        long,
        value_name = "K",
        requires = "open",
        conflicts_with_all = ["connections", "checkpoints", "packets", "reps", "time_limit"]
    )]
    only_packets: Option<usize>,
    /// With --only-packets: connections to open first.
    #[arg(long, value_name = "N", requires = "only_packets")]
    open: Option<usize>,
}

/// `finack bench scale`.
pub fn bench_scale(args: &BenchScaleArgs) -> Result<bool, Failure> {
    if let (Some(k), Some(n)) = (args.only_packets, args.open) {
        return packets_only(n, k, args);
    }
    let opts = scale::Options {
        connections: args.connections,
        checkpoints: args.checkpoints.clone(),
        packets: args.packets,
        reps: args.reps,
        max_memory: args.max_memory,
        time_limit: Duration::from_secs(args.time_limit),
        seed: args.seed,
    };
    let report = scale::run(&opts, |what| eprintln!("{what} ...")).map_err(Failure::Usage)?;
    let mut out = io::stdout().lock();
    write!(out, "{}", scale::render(&report))?;
    out.flush()?;
    Ok(sound(&report))
}

/// Did the harness see everything go as it should (whatever the figures)?
fn sound(r: &Report) -> bool {
    let errored = r.stopped.as_deref().is_some_and(|s| s.starts_with("error"));
    let data = r.checkpoints.iter().all(|c| c.cost.data_errors == 0);
    let closed = r
        .close
        .as_ref()
        .is_some_and(|c| c.closed == r.opened && c.time_wait == r.opened && c.server_left == 0);
    !errored
        && data
        && closed
        && r.established == r.opened
        && r.data_ok == r.opened
        && r.packet_errors == 0
}

fn packets_only(n: usize, k: usize, args: &BenchScaleArgs) -> Result<bool, Failure> {
    if k == 0 {
        return Err(Failure::Usage("--only-packets must be at least 1".into()));
    }
    if n == 0 || n > scale::MAX_CONNECTIONS {
        return Err(Failure::Usage(format!(
            "--open must be between 1 and {}",
            scale::group(scale::MAX_CONNECTIONS as u64)
        )));
    }
    let p = scale::packets_only(n, k, args.max_memory, args.seed).map_err(Failure::Io)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "opened {} connection{}; sent {} data segments: {} packets in {:.3} s, {:.0} ns per packet \
         (wall clock, which valgrind inflates){}",
        scale::group(p.connections as u64),
        if p.connections == 1 { "" } else { "s" },
        scale::group(p.segments),
        scale::group(p.packets),
        p.time.as_secs_f64(),
        p.time.as_nanos() as f64 / p.packets.max(1) as f64,
        if p.data_errors > 0 {
            format!("; {} DATA ERRORS", p.data_errors)
        } else {
            String::new()
        }
    )?;
    Ok(p.data_errors == 0)
}
