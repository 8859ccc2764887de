//! `finack sim run`'s what-if options (`--set`, `--drop`, `--delay`,
//! `--loss`, `--ss`, `--ss-every`), scenario files, and `finack sim show`.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use clap::Args;
use finack_sim::whatif::knobs::parse_duration;
use finack_sim::whatif::user::{parse_loss, UserScenario};
use finack_sim::whatif::{show, FaultRule, RunOptions, Setting, SocketTable};
use finack_sim::{Family, WhatIfRun};

use crate::Failure;

/// What-if options of `finack sim run`.
#[derive(Args, Debug, Default)]
pub struct WhatIfArgs {
    /// Change a Config field for both hosts (`time_wait=30s`,
    /// `delayed_ack=off`, `congestion=newreno`, `initial_window=rfc5681`,
    /// `listener_limits.idle_timeout=10s`) or for one
    /// (`server.time_wait=10s`). Repeatable; a later one wins.
    #[arg(long = "set", value_name = "[HOST.]FIELD=VALUE", value_parser = parse_setting)]
    pub set: Vec<Setting>,
    /// Drop packets: 'HOST KIND [#N]', e.g. 'server FIN #2' (the second FIN
    /// the server sends) or 'client ACK #3' (its third pure ACK). KIND is
    /// SYN, SYN+ACK, FIN, FIN+ACK, RST, ACK, DATA or ANY. Repeatable.
    #[arg(long, value_name = "RULE", value_parser = parse_drop)]
    pub drop: Vec<FaultRule>,
    /// Delay packets: 'HOST KIND [#N] +DELAY', e.g. 'server FIN #1 +300ms'.
    /// Repeatable.
    #[arg(long, value_name = "RULE", value_parser = parse_delay)]
    pub delay: Vec<FaultRule>,
    /// Lose this share of all packets at random, e.g. 5%.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub loss: Option<f64>,
    /// Print both hosts' socket tables (like `ss -tan -o`) at virtual time
    /// T, e.g. 1s or 250ms. Repeatable.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub ss: Vec<Duration>,
    /// Print the socket tables every D of virtual time.
    #[arg(long, value_name = "D", value_parser = parse_time)]
    pub ss_every: Option<Duration>,
}

fn parse_setting(s: &str) -> Result<Setting, String> {
    Setting::parse(s).map_err(|e| e.message)
}

fn parse_drop(s: &str) -> Result<FaultRule, String> {
    FaultRule::parse(s, false).map_err(|e| e.0)
}

fn parse_delay(s: &str) -> Result<FaultRule, String> {
    FaultRule::parse(s, true).map_err(|e| e.0)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    parse_loss(s).ok_or_else(|| format!("'{s}' is not a rate such as 5% or 0.05"))
}

fn parse_time(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("'{s}' is not a duration such as 1s or 250ms"))
}

impl WhatIfArgs {
    /// The options as the simulator takes them.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            settings: self.set.clone(),
            faults: self.drop.iter().chain(&self.delay).cloned().collect(),
            loss: self.loss,
            ss_at: self.ss.clone(),
            ss_every: self.ss_every,
        }
    }
}

/// Is `name` a scenario file rather than a catalog name?
pub fn is_file(name: &str) -> bool {
    name.ends_with(".toml") || name.contains('/')
}

/// Run the catalog scenario or scenario file `name` with the options.
pub fn run(name: &str, seed: u64, args: &WhatIfArgs) -> Result<WhatIfRun, Failure> {
    let opts = args.options();
    if is_file(name) {
        let text = std::fs::read_to_string(name)
            .map_err(|e| Failure::Usage(format!("cannot read scenario file {name}: {e}")))?;
        let stem = Path::new(name)
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        let scenario = UserScenario::parse(&text, &stem)
            .map_err(|e| Failure::Usage(format!("{name}: {e}")))?;
        return catch(name, move || scenario.run(seed, &opts));
    }
    let def = crate::lookup(name)?;
    catch(name, move || def.run_with(seed, Family::V4, &opts))
}

/// Run `f`, turning a panic into a runtime failure and an options error
/// (a host the scenario does not have) into a usage error.
fn catch(
    name: &str,
    f: impl FnOnce() -> Result<WhatIfRun, String> + std::panic::UnwindSafe,
) -> Result<WhatIfRun, Failure> {
    match std::panic::catch_unwind(f) {
        Ok(Ok(run)) => Ok(run),
        Ok(Err(msg)) => Err(Failure::Usage(msg)),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Failure::Io(format!("scenario '{name}' panicked: {what}")))
        }
    }
}

/// Print the socket tables.
pub fn write_tables(out: &mut impl Write, tables: &[SocketTable]) -> io::Result<()> {
    for t in tables {
        writeln!(out, "{}", t.render())?;
    }
    Ok(())
}

/// `finack sim show NAME`: the scenario as a scenario file, or why it
/// cannot be one.
pub fn show_cmd(name: &str) -> Result<bool, Failure> {
    crate::lookup(name)?;
    match show::as_file(name) {
        Some(Ok(text)) => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(true)
        }
        Some(Err(why)) => {
            let files: Vec<&str> = show::expressible().collect();
            eprintln!(
                "scenario '{name}' cannot be written as a scenario file: {why}.\n\
                 These can: {}",
                files.join(", ")
            );
            Ok(false)
        }
        None => Err(Failure::Usage(format!("no scenario file for '{name}'"))),
    }
}
