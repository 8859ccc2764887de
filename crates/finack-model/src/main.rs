//! `finack-model`: run the model checker at a chosen bound and print the
//! states explored and each property's result. Exit code 0 when every
//! property holds, 1 otherwise.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use finack_model::{check_with, Bounds, Profile};

/// Model-check two finack-core endpoints over a faulty network.
#[derive(Parser, Debug)]
#[command(name = "finack-model", version, about)]
struct Args {
    /// Packets the network may drop.
    #[arg(long, default_value_t = 1)]
    losses: u8,
    /// Packets the network may duplicate.
    #[arg(long, default_value_t = 0)]
    dups: u8,
    /// Packets the network may deliver out of order.
    #[arg(long, default_value_t = 0)]
    reorders: u8,
    /// Timer firings while packets are in flight.
    #[arg(long, default_value_t = 1)]
    delays: u8,
    /// Host crashes.
    #[arg(long, default_value_t = 0)]
    crashes: u8,
    /// Bytes the client sends per connection.
    #[arg(long, default_value_t = 1)]
    client_bytes: u8,
    /// Bytes the server sends per connection.
    #[arg(long, default_value_t = 1)]
    server_bytes: u8,
    /// Client connections, one after the other, on the same 4-tuple.
    #[arg(long, default_value_t = 1)]
    incarnations: u8,
    /// Leave shutdown(SHUT_WR) out of the applications' menu.
    #[arg(long)]
    no_shutdown: bool,
    /// Leave abort() out of the applications' menu.
    #[arg(long)]
    no_abort: bool,
    /// Engine profile.
    #[arg(long, value_enum, default_value_t = ProfileArg::Linux)]
    profile: ProfileArg,
    /// Stop after this many states (the result is then incomplete).
    #[arg(long)]
    max_states: Option<usize>,
    /// Checker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum ProfileArg {
    Linux,
    Rfc9293,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let bounds = Bounds {
        losses: a.losses,
        dups: a.dups,
        reorders: a.reorders,
        delays: a.delays,
        crashes: a.crashes,
        client_bytes: a.client_bytes.min(15),
        server_bytes: a.server_bytes.min(15),
        incarnations: a.incarnations.clamp(1, 7),
        shutdown: !a.no_shutdown,
        abort: !a.no_abort,
        profile: match a.profile {
            ProfileArg::Linux => Profile::Linux,
            ProfileArg::Rfc9293 => Profile::Rfc9293,
        },
    };
    let report = check_with(&bounds, a.threads, a.max_states, |n, u, d| {
        eprintln!("... {n} states ({u} unique), depth {d}");
    });
    print!("{}", report.render());
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
