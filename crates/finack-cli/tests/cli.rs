//! Tests of the `finack` command as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use finack_sim::catalog;

fn finack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finack"))
        .args(args)
        .output()
        .expect("run finack")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

/// A fresh directory for one test.
fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "finack-cli-{}-{}-{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn unknown_scenario_lists_the_valid_names_and_exits_2() {
    let o = finack(&["sim", "run", "no-such-scenario"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("unknown scenario 'no-such-scenario'"), "{err}");
    for s in catalog() {
        assert!(err.contains(s.name), "{} missing from:\n{err}", s.name);
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn list_names_every_scenario_with_its_summary() {
    let o = finack(&["sim", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), catalog().len(), "{out}");
    assert!(!catalog().is_empty());
    let column = lines[0].find(catalog()[0].summary).expect("summary");
    for (line, s) in lines.iter().zip(catalog()) {
        assert!(line.starts_with(s.name), "{line}");
        // Summaries start in one column.
        assert_eq!(line.find(s.summary), Some(column), "{line}");
    }
}

#[test]
fn run_handshake_writes_the_requested_files() {
    let dir = temp_dir("files");
    let svg = dir.join("handshake.svg");
    let json = dir.join("handshake.json");
    let pcap = dir.join("handshake.pcap");
    let o = finack(&[
        "sim",
        "run",
        "handshake",
        "--svg",
        svg.to_str().expect("path"),
        "--json",
        json.to_str().expect("path"),
        "--pcap",
        pcap.to_str().expect("path"),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(out.contains("SYN seq=0 len=0"), "{out}");
    assert!(out.contains("ESTABLISHED"), "{out}");
    assert!(out.contains("checks:") && out.contains("✓"), "{out}");
    assert!(!out.contains('\x1b'), "no colour unless asked");
    for (path, what) in [(&svg, "SVG"), (&json, "JSON"), (&pcap, "pcap")] {
        assert!(
            out.contains(&format!("{} to {}", what_word(what), path.display())),
            "{out}"
        );
    }
    let svg_text = std::fs::read_to_string(&svg).expect("svg written");
    assert!(svg_text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg_text.trim_end().ends_with("</svg>"));
    let json_text = std::fs::read_to_string(&json).expect("json written");
    assert!(json_text.starts_with('{') && json_text.contains("\"scenario\": \"handshake\""));
    let pcap_bytes = std::fs::read(&pcap).expect("pcap written");
    assert_eq!(&pcap_bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    assert!(pcap_bytes.len() > 24 + 3 * (16 + 40));
    let _ = std::fs::remove_dir_all(&dir);
}

fn what_word(what: &str) -> &'static str {
    match what {
        "SVG" => "SVG diagram",
        "JSON" => "JSON trace",
        _ => "pcap capture",
    }
}

#[test]
fn an_unwritable_file_is_an_error_not_a_panic() {
    let dir = temp_dir("unwritable");
    let bad = dir.join("missing-dir").join("x.svg");
    let o = finack(&[
        "sim",
        "run",
        "handshake",
        "--svg",
        bad.to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(err.contains("cannot write the SVG diagram to"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn same_seed_same_output_and_options_apply() {
    let a = finack(&["sim", "run", "client-close", "--seed", "42"]);
    let b = finack(&["sim", "run", "client-close", "--seed", "42"]);
    assert!(a.status.success());
    assert_eq!(stdout(&a), stdout(&b));

    let colored = finack(&["sim", "run", "client-close", "--color"]);
    assert!(stdout(&colored).contains("\x1b["));

    let short = finack(&["sim", "run", "client-close", "--max-events", "6"]);
    let out = stdout(&short);
    assert!(out.contains("more events"), "{out}");
    assert!(out.lines().count() < stdout(&a).lines().count());
}

/// `finack sim attack`: every attack with defences on and off, one row
/// each; the targets hold with defences on (exit 0); an unknown name is a
/// usage error that lists the valid ones.
#[test]
fn attack_prints_one_row_per_run_and_checks_the_targets() {
    let o = finack(&["sim", "attack", "all", "--small"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 13, "{out}");
    assert!(lines[0].starts_with("attack"), "{out}");
    for (i, name) in [
        "syn-flood",
        "idle",
        "slow",
        "half-open",
        "blind-inject",
        "tw-flood",
    ]
    .iter()
    .enumerate()
    {
        assert!(lines[1 + 2 * i].starts_with(name), "{out}");
        assert!(lines[1 + 2 * i].contains(" on "), "{out}");
        assert!(lines[2 + 2 * i].contains(" off "), "{out}");
    }
    let md = finack(&[
        "sim",
        "attack",
        "idle",
        "--small",
        "--defences",
        "off",
        "--markdown",
    ]);
    let md = stdout(&md);
    assert!(md.starts_with("| attack |"), "{md}");
    assert_eq!(md.lines().count(), 3, "{md}");
    let bad = finack(&["sim", "attack", "nonsense"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("syn-flood"), "{}", stderr(&bad));
}

/// A run ends with each host's counters under Linux's names: the idle
/// attacker's server timed out the attackers' connections (four of them,
/// with the defence on).
#[test]
fn run_prints_each_hosts_counters() {
    let o = finack(&["sim", "run", "idle-attacker"]);
    let out = stdout(&o);
    let tail: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("counters (Linux nstat names):"))
        .collect();
    assert_eq!(tail.len(), 3, "{out}");
    assert!(tail[1].starts_with("  client: ActiveOpens "), "{out}");
    assert!(tail[2].starts_with("  server: PassiveOpens "), "{out}");
    assert!(tail[2].contains("TCPAbortOnTimeout 4"), "{out}");
}

/// Run from a pipe (as in a CI log), `sim all` prints no progress, only
/// the failures, on standard error.
#[test]
fn all_prints_a_table_and_a_total_and_no_progress_into_a_log() {
    let o = finack(&["sim", "all"]);
    let out = stdout(&o);
    let err = stderr(&o);
    let n = catalog().len();
    assert!(
        !err.contains(&format!("/{n}] ")),
        "progress in a log:\n{err}"
    );
    assert!(!err.contains('\r'), "{err}");
    for s in catalog() {
        if !err.is_empty() {
            assert!(err.lines().all(|l| l.contains("FAILED")), "{err}");
        }
        assert!(
            out.lines()
                .any(|l| l.starts_with(s.name) && (l.contains(" pass ") || l.contains(" FAIL "))),
            "{out}"
        );
    }
    let last = out.lines().last().expect("total line");
    let words: Vec<&str> = last.split(' ').collect();
    assert_eq!(words.len(), 4, "{last}");
    assert_eq!((words[1], words[3]), ("passed,", "failed"), "{last}");
    let passed: usize = words[0].parse().expect("count");
    let failed: usize = words[2].parse().expect("count");
    assert_eq!(passed + failed, n);
    assert_eq!(o.status.code(), Some(if failed == 0 { 0 } else { 1 }));
}

/// `sim fuzz --jobs N` shares the seeds out over N threads and prints the same
/// report, digest included, whatever N is; run from a pipe (as in a CI log) it
/// draws no progress bar, only the wall-time line.
#[test]
fn fuzz_report_is_the_same_on_one_thread_and_on_two() {
    let run = |jobs: &str| {
        finack(&[
            "sim", "fuzz", "--seeds", "200", "--start", "500", "--jobs", jobs,
        ])
    };
    let (one, two) = (run("1"), run("2"));
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(two.status.code(), Some(0), "{}", stderr(&two));
    let out = stdout(&one);
    assert_eq!(out, stdout(&two));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("200 seeds (500..700), "), "{out}");
    let digest = lines[1]
        .strip_prefix("behaviour digest: ")
        .expect("digest line");
    assert!(
        digest.len() == 16 && u64::from_str_radix(digest, 16).is_ok(),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"200 passed, 0 failed"), "{out}");
    for (o, threads) in [(&one, "1 thread,"), (&two, "2 threads,")] {
        let err = stderr(o);
        assert!(
            !err.contains('\r'),
            "progress bar drawn into a pipe: {err:?}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(threads) && err.ends_with(" seeds/s\n"),
            "{err}"
        );
    }
    assert_eq!(
        finack(&["sim", "fuzz", "--jobs", "0"]).status.code(),
        Some(2)
    );
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(finack(&["sim", "run"]).status.code(), Some(2));
    assert_eq!(finack(&["sim", "bogus"]).status.code(), Some(2));
    assert_eq!(
        finack(&["sim", "run", "handshake", "--seed", "x"])
            .status
            .code(),
        Some(2)
    );
}

// ---- finack serve / connect on a TUN device ----

/// A SKIPPED line that shows even though the test harness captures output.
fn skipped(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {msg}");
}

#[test]
fn serve_with_an_invalid_address_fails_clearly() {
    let o = finack(&["serve", "--tun", "x", "--addr", "nonsense", "http"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("invalid value 'nonsense'"), "{err}");
    assert!(err.contains("--addr"), "{err}");
    assert!(err.contains("such as 192.0.2.2/24"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for bad in ["192.0.2.300/24", "192.0.2.2/33", "192.0.2.0/24"] {
        let o = finack(&["serve", "--tun", "x", "--addr", bad, "echo"]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let o = finack(&[
        "serve",
        "--tun",
        "x",
        "--addr",
        "192.0.2.2/24",
        "--kernel-addr",
        "198.51.100.1",
        "echo",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--kernel-addr 198.51.100.1 is not in 192.0.2.2/24"),
        "{}",
        stderr(&o)
    );
}

/// Without root, creating the TUN device fails with exit code 3 and a hint.
/// Runs as root too, by dropping to `nobody` with setpriv.
#[test]
fn serve_without_root_says_so() {
    let is_root = is_root();
    let o = if is_root {
        if !finack::netns::have("setpriv") {
            skipped("serve_without_root_says_so: running as root and setpriv is missing");
            return;
        }
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_finack"))
            .args(["serve", "--tun", "finx0", "--addr", "192.0.2.2/24", "http"])
            .output()
            .expect("run setpriv")
    } else {
        finack(&["serve", "--tun", "finx0", "--addr", "192.0.2.2/24", "http"])
    };
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cannot create TUN device 'finx0'"), "{err}");
    assert!(err.contains("root"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Kills the child when dropped (a failed test leaves no server behind).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `finack serve ... http` inside a namespace of its own answers curl, run in
/// the same namespace: the page and a 1 MB body, byte for byte.
#[test]
fn serve_http_answers_curl_in_a_namespace() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    if !finack::netns::can_make() {
        skipped("serve_http_answers_curl_in_a_namespace: needs root, /dev/net/tun and ip");
        return;
    }
    if !finack::netns::have("curl") {
        skipped("serve_http_answers_curl_in_a_namespace: needs curl");
        return;
    }
    let ns = finack::netns::Netns::new("finack-cli").expect("make a namespace");
    let mut child = ns.command(env!("CARGO_BIN_EXE_finack"));
    child
        .args([
            "serve",
            "--tun",
            "fin0",
            "--addr",
            "192.0.2.2/24",
            "--port",
            "8080",
            "--max-connections",
            "2",
            "http",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut server = KillOnDrop(child.spawn().expect("start finack serve"));
    let mut out = BufReader::new(server.0.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("read the banner");
    assert!(
        first.starts_with("finack: serving http on 192.0.2.2:8080"),
        "{first:?}"
    );
    let curl = |path: &str| {
        let o = ns
            .command("curl")
            .args(["-sS", "--fail", "--max-time", "30"])
            .arg(format!("http://192.0.2.2:8080{path}"))
            .output()
            .expect("run curl");
        assert!(
            o.status.success(),
            "curl {path}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    let page = curl("/");
    assert_eq!(page, finack::serve::INDEX_PAGE.as_bytes());
    let body = curl("/bytes/1000000");
    assert_eq!(body.len(), 1_000_000);
    assert!(body == finack::serve::pattern(1_000_000), "body differs");
    // Two connections served: the server ends by itself, bounded.
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "finack serve did not stop after --max-connections 2"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("read stdout");
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains(": 1000000 bytes"), "{rest}");
    assert!(rest.contains("served 2 connections"), "{rest}");
    // The engine's counters under Linux's names close the report.
    let counters = rest
        .lines()
        .find(|l| l.starts_with("finack: counters: "))
        .unwrap_or_else(|| panic!("no counters line: {rest}"));
    assert!(counters.contains("PassiveOpens 2"), "{counters}");
}

/// `finack connect` talks to a Linux `nc -l` in a namespace of its own: it
/// sends a file and half-closes, nc sends its own file back and closes; both
/// directions arrive byte for byte.
#[test]
fn connect_exchanges_files_with_linux_nc() {
    if !finack::netns::can_make() {
        skipped("connect_exchanges_files_with_linux_nc: needs root, /dev/net/tun and ip");
        return;
    }
    if !finack::netns::have("nc") {
        skipped("connect_exchanges_files_with_linux_nc: needs nc (netcat-openbsd)");
        return;
    }
    let dir = temp_dir("nc");
    let up: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let down: Vec<u8> = (0..2_000_000u32).map(|i| (i * 13 % 241) as u8).collect();
    std::fs::write(dir.join("up"), &up).unwrap();
    std::fs::write(dir.join("down"), &down).unwrap();
    let ns = finack::netns::Netns::new("finack-nc").expect("make a namespace");
    // nc listens on every address of the namespace, so it is ready before the
    // TUN device that `finack connect` makes exists. -N: shut down writing
    // when its input ends (after sending `down`), so finack sees the FIN.
    let nc = ns
        .command("nc")
        .args(["-N", "-l", "9000"])
        .stdin(std::fs::File::open(dir.join("down")).unwrap())
        .stdout(std::fs::File::create(dir.join("got-up")).unwrap())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start nc -l");
    let mut nc = KillOnDrop(nc);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = ns
        .command(env!("CARGO_BIN_EXE_finack"))
        .args([
            "connect",
            "--tun",
            "fin0",
            "--addr",
            "192.0.2.2/24",
            "--connect-timeout",
            "10",
            "192.0.2.1:9000",
            "--send",
        ])
        .arg(dir.join("up"))
        .output()
        .expect("run finack connect");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == down, "finack received {} bytes", o.stdout.len());
    assert!(
        stderr(&o).contains("sent 3000000 bytes, received 2000000 bytes"),
        "{}",
        stderr(&o)
    );
    let started = std::time::Instant::now();
    while nc.0.try_wait().expect("wait").is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "nc did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let got = std::fs::read(dir.join("got-up")).unwrap();
    assert!(got == up, "nc received {} bytes", got.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `finack connect` to a port where nothing listens reports the refusal.
#[test]
fn connect_refused_is_reported() {
    if !finack::netns::can_make() {
        skipped("connect_refused_is_reported: needs root, /dev/net/tun and ip");
        return;
    }
    let ns = finack::netns::Netns::new("finack-ref").expect("make a namespace");
    let o = ns
        .command(env!("CARGO_BIN_EXE_finack"))
        .args([
            "connect",
            "--tun",
            "fin0",
            "--addr",
            "192.0.2.2/24",
            "192.0.2.1:9",
        ])
        .output()
        .expect("run finack connect");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot connect to 192.0.2.1:9") && stderr(&o).contains("refused"),
        "{}",
        stderr(&o)
    );
}

/// `finack bench compare` prints the side-by-side table (small sizes, two
/// short runs: no figure is checked against a speed).
#[test]
fn bench_compare_prints_the_table() {
    let o = finack(&[
        "bench",
        "compare",
        "--bytes",
        "1048576",
        "--connections",
        "20",
        "--runs",
        "2",
        "--min-seconds",
        "0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for row in [
        "| bulk transfer | Gbit/s |",
        "| connection churn | conn/s |",
        "| memory per idle connection | bytes |",
        "| memory per TIME-WAIT entry | bytes |",
    ] {
        assert!(out.contains(row), "{out}");
    }
    assert!(out.contains("2 interleaved runs"), "{out}");
    assert!(out.contains("finack vs smoltcp (median of pairs)"), "{out}");
    for bad in [
        &["--bytes", "0"][..],
        &["--runs", "0"],
        &["--min-seconds", "-1"],
        &["--min-seconds", "NaN"],
    ] {
        let o = finack(&[&["bench", "compare"][..], bad].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
}

/// `finack bench scale` at a small size prints its figures and the targets;
/// the callgrind mode runs its fixed workload; bad arguments exit 2.
#[test]
fn bench_scale_prints_figures_and_targets() {
    let o = finack(&[
        "bench",
        "scale",
        "--connections",
        "300",
        "--checkpoints",
        "1,100",
        "--packets",
        "500",
        "--reps",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "opened 300 connections: 300 ESTABLISHED on both sides, 300 with their data intact",
        "with 1 connection open:",
        "with 100 connections open:",
        "with 300 connections open:",
        "300 in TIME-WAIT on the client",
        "target: 1,000,000 idle established connections",
        "target: per-packet cost at 1,000,000 connections",
        "target: the whole run in under 10 minutes",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    let o = finack(&["bench", "scale", "--open", "10", "--only-packets", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("opened 10 connections; sent 100 data segments: 200 packets"),
        "{}",
        stdout(&o)
    );
    for bad in [
        &["bench", "scale", "--connections", "0"][..],
        &["bench", "scale", "--max-memory", "lots"],
        &["bench", "scale", "--only-packets", "5"],
        &["bench", "scale", "--open", "0", "--only-packets", "5"],
    ] {
        let o = finack(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

/// `finack fsm` prints the state machine the engine walked in the catalog:
/// all eleven states, the teardown edges of the seed articles among them.
#[test]
fn fsm_prints_the_walked_state_machine() {
    let dir = temp_dir("fsm");
    let dot = dir.join("fsm.dot");
    let o = finack(&["fsm", "--dot", dot.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("11 of 11 states reached"), "{out}");
    let edge = |from: &str, cause: &str, to: &str| {
        // The edge line under its state's heading.
        let block = out
            .split("\n\n")
            .find(|b| b.starts_with(from) || b.starts_with(&format!("\n{from}")))
            .unwrap_or_else(|| panic!("no {from} block in\n{out}"));
        assert!(
            block
                .lines()
                .any(|l| l.contains(&format!("--{cause}-")) && l.contains(&format!("> {to} "))),
            "no {from} --{cause}--> {to} in\n{block}"
        );
    };
    edge("FIN-WAIT-1", "rcv FIN|ACK", "TIME-WAIT"); // FIN+ACK merged
    edge("FIN-WAIT-1", "rcv FIN|ACK", "CLOSING"); // simultaneous close
    edge("CLOSING", "rcv ACK", "TIME-WAIT");
    edge("TIME-WAIT", "TimeWait timeout", "CLOSED");
    edge("FIN-WAIT-2", "FinWait2 timeout", "CLOSED");
    edge("SYN-SENT", "rcv RST|ACK", "CLOSED"); // refused
    let graph = std::fs::read_to_string(&dot).unwrap();
    assert!(graph.starts_with("digraph tcp {") && graph.trim_end().ends_with('}'));
    assert_eq!(
        graph.matches(" [label=\"").count() - 11,
        out.matches("  --").count()
    );

    let o = finack(&["fsm", "--scenario", "refused"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("in 1 scenario run(s)"));
    assert!(
        stdout(&o).contains("2 of 11 states reached"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("\nTIME-WAIT\n"), "{}", stdout(&o));
    let o = finack(&["fsm", "--scenario", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn model_checks_a_small_bound_and_reports_the_states_explored() {
    let o = finack(&[
        "model",
        "--losses",
        "0",
        "--delays",
        "0",
        "--no-abort",
        "--no-shutdown",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("bound: profile=Linux losses=0 dups=0"),
        "{out}"
    );
    assert!(out.contains("states explored: "), "{out}");
    assert!(
        out.contains(
            "[holds] always: nothing stuck: with nothing left to do, both sides are CLOSED"
        ),
        "{out}"
    );
    assert!(
        out.contains("[example found] sometimes: reached: TIME-WAIT"),
        "{out}"
    );
    assert!(
        !out.contains("VIOLATED") && !out.contains("INCOMPLETE"),
        "{out}"
    );
    // Stopped early: incomplete, exit 1.
    let o = finack(&["model", "--max-states", "50"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("(INCOMPLETE)"), "{}", stdout(&o));
}

/// `finack bench tun` refuses bad arguments before it needs root: exit 2
/// and a message naming the option.
#[test]
fn bench_tun_bad_arguments_exit_2() {
    for (bad, says) in [
        (&["--direction", "sideways"][..], "--direction"),
        (&["--offload", "maybe"], "--offload"),
        (&["--buffer", "10"], "--buffer"),
        (&["--runs", "0"], "--runs"),
        (&["--workers", "0"], "--workers"),
        (&["--cc", "no-such-algorithm"], "--cc"),
    ] {
        let o = finack(&[&["bench", "tun"][..], bad].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{bad:?}: {}", stderr(&o));
    }
}

/// The /veth column (the last but one) of the row of `out` that starts
/// with `row`, which must be there and hold a number.
fn to_veth(out: &str, row: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no {row:?} in {out}"));
    let ratio = line.split_whitespace().rev().nth(1).unwrap_or("");
    ratio
        .parse()
        .unwrap_or_else(|_| panic!("no ratio to veth in {line:?}"))
}

/// `finack bench tun` at its smallest (one run of 0.3 s per case) with
/// `extra` arguments: it must succeed; returns its table and stderr.
fn quick_bench_tun(extra: &[&str]) -> (String, String) {
    let args = [
        &["bench", "tun", "--runs", "1", "--seconds", "0.3"][..],
        extra,
    ]
    .concat();
    let o = finack(&args);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{args:?}: {out}{err}");
    (out, err)
}

/// Every one of `rows` starts a line of `out`.
fn assert_rows(out: &str, rows: &[&str]) {
    for row in rows {
        assert!(out.lines().any(|l| l.starts_with(row)), "{row}: {out}");
    }
}

/// `finack bench tun` and `finack bench http` at their smallest: every case
/// measured in both directions / both HTTP modes, one table each (needs
/// root; bench http also wrk).
#[test]
fn bench_tun_and_http_print_their_tables() {
    if !finack::netns::can_make() || !finack::netns::have("python3") {
        skipped("bench_tun_and_http_print_their_tables: needs root, /dev/net/tun, ip and python3");
        return;
    }
    let (out, err) = quick_bench_tun(&[]);
    assert_rows(
        &out,
        &[
            "Linux -> finack (TUN, offload)",
            "finack -> Linux (TUN, offload)",
            "Linux -> Linux (veth)",
        ],
    );
    // Without offload (TSO, GSO and GRO off with ethtool on the TUN device
    // and the veth pair) finack is compared with a veth run without offload.
    if finack::netns::have("ethtool") {
        assert_rows(
            &out,
            &[
                "Linux -> finack (TUN, no offload)",
                "finack -> Linux (TUN, no offload)",
            ],
        );
        // raw: no virtio-net header at all, also against veth without
        // offload.
        let (raw, _) = quick_bench_tun(&["--offload", "raw", "--direction", "out"]);
        assert!(to_veth(&raw, "finack -> Linux (TUN, raw, no offload at all)") > 0.0);
        assert!(
            !raw.lines().any(|l| l.starts_with("Linux -> Linux (veth) ")),
            "{raw}"
        );
        assert_rows(&out, &["Linux -> Linux (veth, no offload)"]);
        assert!(to_veth(&out, "finack -> Linux (TUN, no offload)") > 0.0);
    } else {
        assert!(err.contains("SKIPPED"), "{err}");
        skipped("bench_tun_and_http_print_their_tables: the runs without offload need ethtool");
    }
    // One and two workers, several connections, connections/s.
    let (out, _) = quick_bench_tun(&[
        "--workers",
        "1,2",
        "--streams",
        "2",
        "--offload",
        "on",
        "--connections",
        "--cc",
        "reno",
    ]);
    assert!(
        out.contains("Linux congestion control reno (--cc)"),
        "{out}"
    );
    assert_rows(
        &out,
        &[
            "Linux -> finack (TUN, offload, 1 worker)",
            "Linux -> finack (TUN, offload, 2 workers)",
            "finack -> Linux (TUN, offload, 2 workers)",
            "Linux -> Linux (veth)",
            "connections/s Linux -> finack (TUN, 1 worker)",
            "connections/s Linux -> finack (TUN, 2 workers)",
        ],
    );
    // One direction, buffers given: only that direction's rows.
    let (out, _) = quick_bench_tun(&[
        "--offload",
        "on",
        "--direction",
        "out",
        "--buffer",
        "1048576",
    ]);
    assert!(
        out.contains("finack buffers 1048576 bytes each way"),
        "{out}"
    );
    assert_rows(&out, &["finack -> Linux (TUN, offload)"]);
    assert!(
        !out.lines().any(|l| l.starts_with("Linux -> finack")),
        "{out}"
    );
    if !finack::netns::have("wrk") {
        skipped("bench_tun_and_http_print_their_tables: bench http needs wrk");
        return;
    }
    let o = finack(&[
        "bench",
        "http",
        "--runs",
        "1",
        "--seconds",
        "1",
        "--connections",
        "4",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    for row in [
        "finack (TUN), keep-alive",
        "Linux (veth), keep-alive",
        "finack (TUN), connection per request",
        "Linux (veth), connection per request",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{row}: {out}"));
        let rps: f64 = line[row.len()..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(rps > 0.0, "{line}");
    }
}
