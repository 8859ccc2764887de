//! `finack explain CAPTURE`: a pcap or pcapng capture explained: its TCP
//! connections, both endpoints' inferred states over time, and the lifecycle
//! by name (see the `finack-explain` crate).

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use finack_explain::{explain, Options};
use finack_sim::render::{self, SvgOptions, TextOptions};

use crate::{write_file, Failure};

/// Options of `finack explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The capture (pcap or pcapng; Ethernet, raw IP, Linux cooked SLL/SLL2
    /// or loopback; IPv4 and IPv6, VLAN tags allowed).
    capture: PathBuf,
    /// Draw only connection N (as numbered in the table).
    #[arg(long, value_name = "N")]
    conn: Option<usize>,
    /// Print only the table, no diagram.
    #[arg(long)]
    no_diagram: bool,
    /// Write the diagram as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Print the explanation as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Colour the terminal diagram with ANSI escape sequences.
    #[arg(long)]
    color: bool,
    /// Draw at most N events per diagram.
    #[arg(long, value_name = "N", default_value_t = render::DEFAULT_MAX_EVENTS)]
    max_events: usize,
    /// TIME-WAIT length assumed, seconds (Linux: 60).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    time_wait: f64,
}

/// `finack explain`.
pub fn explain_cmd(args: &ExplainArgs) -> Result<bool, Failure> {
    let data = std::fs::read(&args.capture)
        .map_err(|e| Failure::Io(format!("cannot read {}: {e}", args.capture.display())))?;
    let opts = Options {
        time_wait_us: (args.time_wait.max(0.0) * 1e6) as u64,
        ..Options::default()
    };
    let ex = explain(&data, &opts)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.capture.display())))?;
    let only = match args.conn {
        Some(0) => return Err(Failure::Usage("--conn counts from 1".into())),
        Some(n) if n > ex.connections.len() => {
            return Err(Failure::Usage(format!(
                "--conn {n}: the capture has {} connection(s)",
                ex.connections.len()
            )))
        }
        Some(n) => Some(n - 1),
        None => None,
    };
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", ex.to_json())?;
    } else {
        out.write_all(ex.summary().as_bytes())?;
        if !args.no_diagram {
            for trace in ex.traces(only) {
                writeln!(out)?;
                let text = render::diagram_text_with(
                    &trace,
                    &TextOptions {
                        max_events: args.max_events,
                        color: args.color,
                    },
                );
                out.write_all(text.as_bytes())?;
            }
        }
    }
    if let Some(path) = &args.svg {
        let traces = ex.traces(only);
        let Some(trace) = traces.first() else {
            return Err(Failure::Usage("no TCP connection to draw".into()));
        };
        let svg = render::diagram_svg_with(
            trace,
            &SvgOptions {
                max_events: args.max_events,
            },
        );
        write_file(path, svg.as_bytes(), "the SVG diagram")?;
        if !args.json {
            writeln!(out, "wrote SVG diagram to {}", path.display())?;
        }
    }
    out.flush()?;
    Ok(true)
}
