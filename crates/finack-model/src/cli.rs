//! The command-line options shared by the `finack-model` binary and
//! `finack model`.

use clap::{Args, ValueEnum};

use crate::{check_with, Bounds, Profile, Report};

/// Options of a model-checking run. The defaults (one loss, a byte each
/// way, every close path) explore about 2.6 million distinct states in a
/// minute or two.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Packets the network may drop.
    #[arg(long, default_value_t = 1)]
    pub losses: u8,
    /// Packets the network may duplicate.
    #[arg(long, default_value_t = 0)]
    pub dups: u8,
    /// Packets the network may deliver ahead of an older one.
    #[arg(long, default_value_t = 0)]
    pub reorders: u8,
    /// Timer firings while packets are in flight.
    #[arg(long, default_value_t = 0)]
    pub delays: u8,
    /// Host crashes.
    #[arg(long, default_value_t = 0)]
    pub crashes: u8,
    /// Bytes the client sends per connection (at most 15).
    #[arg(long, default_value_t = 1)]
    pub client_bytes: u8,
    /// Bytes the server sends per connection (at most 15).
    #[arg(long, default_value_t = 1)]
    pub server_bytes: u8,
    /// Client connections, one after the other, on the same 4-tuple (1 to 7).
    #[arg(long, default_value_t = 1)]
    pub incarnations: u8,
    /// Leave shutdown(SHUT_WR) out of the applications' menu.
    #[arg(long)]
    pub no_shutdown: bool,
    /// Leave abort() out of the applications' menu.
    #[arg(long)]
    pub no_abort: bool,
    /// Engine profile.
    #[arg(long, value_enum, default_value_t = ProfileArg::Linux)]
    pub profile: ProfileArg,
    /// Stop after this many states (the result is then incomplete).
    #[arg(long)]
    pub max_states: Option<usize>,
    /// Checker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// `--profile`.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum ProfileArg {
    /// `Config::linux()`.
    Linux,
    /// `Config::rfc9293()`.
    Rfc9293,
}

impl ModelArgs {
    /// The bounds these options name.
    pub fn bounds(&self) -> Bounds {
        Bounds {
            losses: self.losses,
            dups: self.dups,
            reorders: self.reorders,
            delays: self.delays,
            crashes: self.crashes,
            client_bytes: self.client_bytes.min(15),
            server_bytes: self.server_bytes.min(15),
            incarnations: self.incarnations.clamp(1, 7),
            shutdown: !self.no_shutdown,
            abort: !self.no_abort,
            profile: match self.profile {
                ProfileArg::Linux => Profile::Linux,
                ProfileArg::Rfc9293 => Profile::Rfc9293,
            },
        }
    }

    /// Run the check, with progress on standard error every few seconds,
    /// and print the report on standard output.
    pub fn run(&self) -> Report {
        let report = check_with(&self.bounds(), self.threads, self.max_states, |n, u, d| {
            eprintln!("... {n} states ({u} unique), depth {d}");
        });
        print!("{}", report.render());
        report
    }
}
