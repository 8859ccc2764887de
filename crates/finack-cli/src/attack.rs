//! `finack sim attack`: the simulated attacks, each with the server's
//! defences on and off, as one table.

use std::io::{self, Write};

use clap::{Args, ValueEnum};
use finack_sim::attack::{self, Attack, AttackRow, Scale};

use crate::Failure;

/// Which runs of each attack.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Defences {
    /// With the server's defences on.
    On,
    /// With them off.
    Off,
    /// Both, on first.
    Both,
}

/// Options of `finack sim attack`.
#[derive(Args, Debug)]
pub struct AttackArgs {
    /// The attack: syn-flood, idle, slow, half-open, blind-inject, tw-flood,
    /// or all.
    name: String,
    /// Run with the defences on, off, or both.
    #[arg(long, value_enum, default_value_t = Defences::Both)]
    defences: Defences,
    /// The same attacks at about a fiftieth of the size (seconds, not
    /// minutes).
    #[arg(long)]
    small: bool,
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the table as Markdown.
    #[arg(long)]
    markdown: bool,
}

/// Why a run with the defences on misses the targets: legitimate success
/// under 99%, or a connection broken by a forged segment.
pub fn missed_target(r: &AttackRow) -> Option<String> {
    if !r.defences {
        return None;
    }
    if r.success_percent() < 99.0 {
        return Some(format!(
            "{}: only {:.1}% of legitimate clients served",
            r.attack.name(),
            r.success_percent()
        ));
    }
    match r.accepted {
        Some((taken, _)) if taken > 0 => Some(format!(
            "{}: {taken} connections broken by forged segments",
            r.attack.name()
        )),
        _ => None,
    }
}

/// `finack sim attack`.
pub fn attack_cmd(args: &AttackArgs) -> Result<bool, Failure> {
    let attacks: Vec<Attack> = if args.name == "all" {
        Attack::ALL.to_vec()
    } else {
        match Attack::from_name(&args.name) {
            Some(a) => vec![a],
            None => {
                let names: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
                return Err(Failure::Usage(format!(
                    "unknown attack '{}'; choose one of: {}, all",
                    args.name,
                    names.join(", ")
                )));
            }
        }
    };
    let modes: &[bool] = match args.defences {
        Defences::On => &[true],
        Defences::Off => &[false],
        Defences::Both => &[true, false],
    };
    let scale = if args.small {
        Scale::small()
    } else {
        Scale::full()
    };
    let runs: Vec<(Attack, bool)> = attacks
        .iter()
        .flat_map(|&a| modes.iter().map(move |&d| (a, d)))
        .collect();
    // Two runs at a time: the machine's cores; the table keeps run order.
    let mut rows: Vec<Option<AttackRow>> = vec![None; runs.len()];
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (chunk_rows, chunk_runs) in rows.chunks_mut(jobs).zip(runs.chunks(jobs)) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk_runs
                .iter()
                .map(|&(a, d)| {
                    let scale = &scale;
                    s.spawn(move || attack::run(a, d, scale, args.seed))
                })
                .collect();
            for (slot, h) in chunk_rows.iter_mut().zip(handles) {
                *slot = h.join().ok();
            }
        });
    }
    let rows: Vec<AttackRow> = rows.into_iter().flatten().collect();
    if rows.len() != runs.len() {
        return Err(Failure::Io("an attack run panicked".into()));
    }
    let mut out = io::stdout().lock();
    write!(out, "{}", attack::table(&rows, args.markdown))?;
    let missed: Vec<String> = rows.iter().filter_map(missed_target).collect();
    for m in &missed {
        writeln!(out, "target missed: {m}")?;
    }
    out.flush()?;
    Ok(missed.is_empty())
}
