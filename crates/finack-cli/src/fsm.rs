//! `finack fsm`: the TCP state machine as the engine walked it. Every catalog
//! scenario runs, every state change the engine recorded (from, to, cause) is
//! collected, and the union is printed state by state with the scenarios that
//! show each edge, or written as a Graphviz graph. Nothing here is drawn from
//! a hand-written table: an edge appears only if the engine took it.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use finack_core::State;
use finack_sim::{catalog, TraceEvent};

use crate::{execute, lookup, write_file, Failure};

/// Options of `finack fsm`.
#[derive(Args, Debug)]
pub struct FsmArgs {
    /// Only this scenario (default: the whole catalog).
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Seed for the runs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the machine as a Graphviz graph (`dot -Tsvg FILE`).
    #[arg(long, value_name = "FILE")]
    dot: Option<PathBuf>,
}

/// RFC 9293's eleven states, in its order.
const STATES: [State; 11] = State::ALL;

fn rank(s: State) -> usize {
    STATES.iter().position(|&x| x == s).unwrap_or(STATES.len())
}

/// Edges seen: (from, to, cause) → the scenarios that showed them.
type Edges = BTreeMap<(usize, usize, String), Vec<&'static str>>;

fn collect(args: &FsmArgs) -> Result<(Edges, usize), Failure> {
    let defs: Vec<_> = match &args.scenario {
        Some(name) => vec![lookup(name)?],
        None => catalog().iter().collect(),
    };
    let mut edges = Edges::new();
    // A line redrawn in place is for a person watching; a log gets none.
    let progress = io::stderr().is_terminal();
    for def in &defs {
        if progress {
            eprint!("\rrunning {:<24}", def.name);
            let _ = io::stderr().flush();
        }
        let result = execute(def, args.seed).map_err(Failure::Io)?;
        for e in &result.trace.events {
            if let TraceEvent::State {
                from, to, cause, ..
            } = e
            {
                let who = edges
                    .entry((rank(*from), rank(*to), cause.clone()))
                    .or_default();
                if !who.contains(&def.name) {
                    who.push(def.name);
                }
            }
        }
    }
    if progress {
        eprint!("\r{:<32}\r", "");
    }
    Ok((edges, defs.len()))
}

fn name(i: usize) -> &'static str {
    STATES.get(i).map_or("?", |s| s.name())
}

/// `finack fsm`.
pub fn fsm(args: &FsmArgs) -> Result<bool, Failure> {
    let (edges, runs) = collect(args)?;
    let mut reached = [false; 11];
    for (from, to, _) in edges.keys() {
        for i in [*from, *to] {
            if let Some(r) = reached.get_mut(i) {
                *r = true;
            }
        }
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "The TCP state machine as finack walked it in {runs} scenario run(s), seed {}:",
        args.seed
    )?;
    writeln!(
        out,
        "{} of 11 states reached, {} distinct transitions (state, cause -> state).",
        reached.iter().filter(|&&r| r).count(),
        edges.len()
    )?;
    let missing: Vec<&str> = STATES
        .iter()
        .zip(reached)
        .filter(|(_, r)| !r)
        .map(|(s, _)| s.name())
        .collect();
    if !missing.is_empty() {
        writeln!(out, "Not reached: {}.", missing.join(", "))?;
    }
    let width = edges.keys().map(|k| k.2.len()).max().unwrap_or(0);
    let mut current = usize::MAX;
    for ((from, to, cause), who) in &edges {
        if *from != current {
            current = *from;
            writeln!(out, "\n{}", name(*from))?;
        }
        let shown: Vec<&str> = who.iter().take(3).copied().collect();
        let more = if who.len() > 3 {
            format!(" (+{} more)", who.len() - 3)
        } else {
            String::new()
        };
        writeln!(
            out,
            "  --{cause:-<width$}--> {:<13} {}{more}",
            name(*to),
            shown.join(", ")
        )?;
    }
    if let Some(path) = &args.dot {
        let mut dot = String::from(
            "digraph tcp {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"monospace\"];\n",
        );
        for (i, s) in STATES.iter().enumerate() {
            if reached[i] {
                dot.push_str(&format!("  s{i} [label=\"{}\"];\n", s.name()));
            }
        }
        for ((from, to, cause), who) in &edges {
            dot.push_str(&format!(
                "  s{from} -> s{to} [label=\"{}\", tooltip=\"{}\"];\n",
                cause.replace('"', "'"),
                who.join(", ")
            ));
        }
        dot.push_str("}\n");
        write_file(path, dot.as_bytes(), "the Graphviz graph")?;
        writeln!(out, "\nwrote Graphviz graph to {}", path.display())?;
    }
    Ok(true)
}
