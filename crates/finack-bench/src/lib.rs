//! Side-by-side benchmarks: finack against smoltcp (the same in-memory harness,
//! MTU and buffer sizes) and against the Linux kernel on loopback, measured in
//! one run so the ratios share the machine's conditions.
//!
//! - **bulk**: one connection moves N bytes one way; goodput in Gbit/s.
//! - **churn**: connections one after another, each connect, 100 bytes each
//!   way, close (the client first); connections per second.
//! - **memory**: bytes one idle connection holds after that exchange, and
//!   bytes per TIME-WAIT entry.
//!
//! [`scale`] is the other benchmark: many concurrent connections (up to a
//! million) between two in-memory endpoints, with memory and per-packet
//! cost measured as the count grows.
//!
//! The timed measures (bulk, churn) run each side [`Options::runs`] times,
//! interleaved (finack, smoltcp, Linux, finack, smoltcp, Linux, ...), each
//! run repeating its transfer or churn loop until [`Options::min_time`] has
//! passed; the table gives each side's min / median / max and finack's ratio
//! to each other side as the median of the ratios of runs made together. The
//! memory measures are deterministic and run once.
//!
//! Both userspace stacks run in one thread with packets handed over in
//! memory (no latency, no loss); time is virtual and jumps to the next timer
//! when nothing else is left to do, so wall-clock time measures the stacks'
//! own work. Both compute and verify checksums.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::Write as _;
use std::time::Duration;

mod finack_side;
mod linux;
pub mod scale;
mod smol;

/// Send buffer size both userspace stacks use.
pub const SEND_BUFFER: usize = 262_144;
/// Receive buffer size both userspace stacks use.
pub const RECV_BUFFER: usize = 131_072;
/// Link MTU both userspace stacks use.
pub const MTU: usize = 1500;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Bytes moved in one bulk transfer.
    pub bulk_bytes: usize,
    /// Connections in one churn loop.
    pub churn: usize,
    /// Include the Linux loopback column.
    pub linux: bool,
    /// Runs of each side for the timed measures (bulk, churn), interleaved:
    /// finack, smoltcp, Linux, finack, smoltcp, Linux, ... At least 1.
    pub runs: usize,
    /// A timed run repeats its bulk transfer or churn loop until the timed
    /// parts add up to at least this long, and reports the rate over all of
    /// them. Zero: one transfer or loop per run.
    pub min_time: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            bulk_bytes: 256 << 20,
            churn: 5000,
            linux: true,
            runs: 5,
            min_time: Duration::from_secs(2),
        }
    }
}

/// One line of the table. The timed measures hold one figure per run, in
/// run order (finack's run `i` and smoltcp's run `i` were made one after the
/// other); the memory measures are deterministic and hold one figure.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured.
    pub name: &'static str,
    /// Its unit.
    pub unit: &'static str,
    /// Whether a larger number is better (throughput) or worse (memory).
    pub higher_is_better: bool,
    /// finack's figures.
    pub finack: Vec<f64>,
    /// smoltcp's figures.
    pub smoltcp: Vec<f64>,
    /// The Linux kernel's, when measured.
    pub linux: Option<Vec<f64>>,
}

impl Row {
    /// How much better finack is than `other` (a column of the same row):
    /// the median of the ratios of the runs made together, above 1 meaning
    /// finack is better whichever way the unit points.
    pub fn finack_vs(&self, other: &[f64]) -> f64 {
        let ratios: Vec<f64> = self
            .finack
            .iter()
            .zip(other)
            .map(|(&f, &o)| if self.higher_is_better { f / o } else { o / f })
            .collect();
        median(&ratios)
    }
}

/// The smallest, median and largest of `v` (the median of an even count is
/// the mean of the middle two). `v` must not be empty.
pub fn min_median_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], median(&s), s[s.len() - 1])
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn gbit(bytes: usize, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Repeat `once` (which times its own work) until the times add up to at
/// least `min`; how many times it ran and the total.
fn repeat(
    min: Duration,
    mut once: impl FnMut() -> Result<Duration, String>,
) -> Result<(usize, Duration), String> {
    let (mut reps, mut total) = (0, Duration::ZERO);
    loop {
        total += once()?;
        reps += 1;
        if total >= min {
            return Ok((reps, total));
        }
    }
}

/// Run every measurement; `progress` hears what is running.
pub fn run(opts: &Options, mut progress: impl FnMut(&str)) -> Result<Vec<Row>, String> {
    if opts.runs == 0 {
        return Err("at least one run is needed".into());
    }
    let runs = opts.runs;
    let min = opts.min_time;
    let mut rows = Vec::new();

    let (mut f, mut s, mut l) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..=runs {
        progress(&format!("bulk run {i}/{runs}: finack"));
        let (n, d) = repeat(min, || finack_side::bulk(opts.bulk_bytes))?;
        f.push(gbit(n * opts.bulk_bytes, d));
        progress(&format!("bulk run {i}/{runs}: smoltcp"));
        let (n, d) = repeat(min, || smol::bulk(opts.bulk_bytes))?;
        s.push(gbit(n * opts.bulk_bytes, d));
        if opts.linux {
            progress(&format!("bulk run {i}/{runs}: Linux loopback"));
            let (n, d) = repeat(min, || {
                linux::bulk(opts.bulk_bytes).map_err(|e| format!("Linux bulk: {e}"))
            })?;
            l.push(gbit(n * opts.bulk_bytes, d));
        }
    }
    rows.push(Row {
        name: "bulk transfer",
        unit: "Gbit/s",
        higher_is_better: true,
        finack: f,
        smoltcp: s,
        linux: opts.linux.then_some(l),
    });

    let (mut f, mut s, mut l) = (Vec::new(), Vec::new(), Vec::new());
    // The same for every loop of the same size: a fresh pair of endpoints
    // runs the same connections each time.
    let mut time_wait_entry_bytes = 0.0;
    for i in 1..=runs {
        progress(&format!("churn run {i}/{runs}: finack"));
        let (n, d) = repeat(min, || {
            let c = finack_side::churn(opts.churn)?;
            time_wait_entry_bytes = c.time_wait_entry_bytes;
            Ok(c.elapsed)
        })?;
        f.push(rate(n * opts.churn, d));
        progress(&format!("churn run {i}/{runs}: smoltcp"));
        let (n, d) = repeat(min, || smol::churn(opts.churn))?;
        s.push(rate(n * opts.churn, d));
        if opts.linux {
            progress(&format!("churn run {i}/{runs}: Linux loopback"));
            let (n, d) = repeat(min, || {
                linux::churn(opts.churn).map_err(|e| format!("Linux churn: {e}"))
            })?;
            l.push(rate(n * opts.churn, d));
        }
    }
    rows.push(Row {
        name: "connection churn",
        unit: "conn/s",
        higher_is_better: true,
        finack: f,
        smoltcp: s,
        linux: opts.linux.then_some(l),
    });

    progress("memory");
    rows.push(Row {
        name: "memory per idle connection",
        unit: "bytes",
        higher_is_better: false,
        finack: vec![finack_side::idle_connection_bytes()? as f64],
        smoltcp: vec![smol::connection_bytes() as f64],
        linux: None,
    });
    rows.push(Row {
        name: "memory per TIME-WAIT entry",
        unit: "bytes",
        higher_is_better: false,
        finack: vec![time_wait_entry_bytes],
        // smoltcp keeps a TIME-WAIT connection in its full socket.
        smoltcp: vec![smol::connection_bytes() as f64],
        linux: None,
    });
    Ok(rows)
}

/// A figure with `decimals` decimals and the thousands separated by commas
/// (figures are rates and sizes: a negative or non-finite one, which would be
/// a bug, is printed as it is).
fn number(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    if !v.is_finite() || v < 0.0 {
        return text;
    }
    let (whole, frac) = text.split_at(text.find('.').unwrap_or(text.len()));
    match whole.parse::<u64>() {
        Ok(n) => scale::group(n) + frac,
        Err(_) => text,
    }
}

/// A cell: `min / median / max` of several figures, or the one figure.
/// Rates below 1,000 per second (Gbit/s) get two decimals; counts of
/// connections and bytes none.
fn cell(r: &Row, v: &[f64]) -> String {
    let d = if r.unit == "Gbit/s" { 2 } else { 0 };
    match v {
        [] => "—".to_string(),
        [one] => number(*one, d),
        _ => {
            let (lo, mid, hi) = min_median_max(v);
            format!("{} / {} / {}", number(lo, d), number(mid, d), number(hi, d))
        }
    }
}

/// The rows as a table: each side's min / median / max over its runs (one
/// figure for the deterministic memory rows), and finack against smoltcp and
/// against Linux as the median of the ratios of the runs made together
/// (above 1 means finack is better, whichever way the unit points).
pub fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| measure | unit | finack min / med / max | smoltcp min / med / max | Linux loopback min / med / max | finack vs smoltcp (median of pairs) | finack vs Linux (median of pairs) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for r in rows {
        let linux = r.linux.as_deref().map_or("—".to_string(), |v| cell(r, v));
        let vs_linux = r.linux.as_deref().map_or("—".to_string(), |v| {
            format!("{}x", number(r.finack_vs(v), 2))
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {linux} | {}x | {vs_linux} |",
            r.name,
            r.unit,
            cell(r, &r.finack),
            cell(r, &r.smoltcp),
            number(r.finack_vs(&r.smoltcp), 2)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every measurement runs to completion on small sizes, each timed
    /// measure once per run and side, and the figures are what the harness
    /// really saw (the Linux column stays out: CI may have no loopback to
    /// spare). No figure is compared with a speed: speed is shown by the
    /// benchmark itself, not by a test.
    #[test]
    fn small_run_measures_everything() {
        let opts = Options {
            bulk_bytes: 1 << 20,
            churn: 30,
            linux: false,
            runs: 2,
            min_time: Duration::ZERO,
        };
        let rows = run(&opts, |_| {}).unwrap();
        assert_eq!(rows.len(), 4);
        for r in &rows {
            let n = if r.unit == "bytes" { 1 } else { 2 };
            assert_eq!((r.finack.len(), r.smoltcp.len()), (n, n), "{r:?}");
            assert!(r.finack.iter().chain(&r.smoltcp).all(|&v| v > 0.0), "{r:?}");
            assert!(r.linux.is_none());
        }
        // finack releases a connection's rings once everything is read and
        // acknowledged (issue 11: an idle connection holds at most 1 KiB); a
        // TIME-WAIT entry holds no buffers.
        let conn = rows[2].finack[0];
        assert!(conn > 0.0 && conn <= 1024.0, "{:?}", rows[2]);
        assert!(rows[3].finack[0] < 4096.0, "{:?}", rows[3]);
        assert_eq!(rows[2].smoltcp, [smol::connection_bytes() as f64]);
        let table = render(&rows);
        assert!(table.contains("| bulk transfer | Gbit/s |"), "{table}");
        assert!(table.contains("x | — |"), "{table}");
        let opts = Options { runs: 0, ..opts };
        assert!(run(&opts, |_| {}).is_err());
    }

    /// The cells and ratios of made-up figures: min / median / max per side,
    /// and the median of the per-run ratios (not the ratio of the medians).
    #[test]
    fn cells_and_ratios() {
        assert_eq!(min_median_max(&[3.0, 1.0, 2.0]), (1.0, 2.0, 3.0));
        assert_eq!(min_median_max(&[4.0, 1.0, 2.0, 3.0]), (1.0, 2.5, 4.0));
        assert_eq!(number(1234.5, 2), "1,234.50");
        assert_eq!(number(999_999.6, 0), "1,000,000");
        assert_eq!(number(-2.0, 0), "-2");
        assert_eq!(number(12.0, 0), "12");
        let r = Row {
            name: "connection churn",
            unit: "conn/s",
            higher_is_better: true,
            finack: vec![100.0, 300.0, 2000.0],
            smoltcp: vec![100.0, 100.0, 4000.0],
            linux: Some(vec![50.0, 100.0, 1000.0]),
        };
        // Ratios 1, 3, 0.5: median 1 (the medians' ratio would be 3).
        assert_eq!(r.finack_vs(&r.smoltcp), 1.0);
        assert_eq!(r.finack_vs(r.linux.as_ref().unwrap()), 2.0);
        let m = Row {
            name: "memory per idle connection",
            unit: "bytes",
            higher_is_better: false,
            finack: vec![500.0],
            smoltcp: vec![393_624.0],
            linux: None,
        };
        assert_eq!(m.finack_vs(&m.smoltcp), 393_624.0 / 500.0);
        let table = render(&[r, m]);
        assert!(
            table.contains(
                "| connection churn | conn/s | 100 / 300 / 2,000 | 100 / 100 / 4,000 \
                 | 50 / 100 / 1,000 | 1.00x | 2.00x |"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "| memory per idle connection | bytes | 500 | 393,624 | — | 787.25x | — |"
            ),
            "{table}"
        );
    }
}
