//! `finack sim run` with what-if options, scenario files and socket
//! tables, and `finack sim show`, as a user runs them.

use std::path::PathBuf;
use std::process::{Command, Output};

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

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios")
}

#[test]
fn set_changes_a_config_field_and_the_run_shows_it() {
    let o = finack(&["sim", "run", "client-close", "--set", "time_wait=10s"]);
    let out = stdout(&o);
    assert!(out.contains("what if: time_wait=10s"), "{out}");
    // The catalog's own check of the 60 s TIME-WAIT now fails: exit 1.
    assert!(out.contains("✗ TIME-WAIT lasts 2MSL"), "{out}");
    assert!(out.contains("lasted 10s"), "{out}");
    assert_eq!(o.status.code(), Some(1));
    // One host only: the client's TIME-WAIT is untouched.
    let o = finack(&[
        "sim",
        "run",
        "client-close",
        "--set",
        "server.time_wait=10s",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn bad_settings_name_the_field_and_the_accepted_values_and_exit_2() {
    for (arg, want) in [
        ("time_wiat=1s", "unknown config field 'time_wiat'"),
        (
            "delayed_ack=soon",
            "expected a duration such as 30s or 40ms, or off",
        ),
        ("congestion=bbr", "expected cubic or newreno"),
        ("initial_window=lots", "or rfc5681"),
        ("time_wait", "expected [HOST.]FIELD=VALUE"),
    ] {
        let o = finack(&["sim", "run", "handshake", "--set", arg]);
        assert_eq!(o.status.code(), Some(2), "{arg}");
        assert!(stderr(&o).contains(want), "{arg}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    let o = finack(&["sim", "run", "handshake", "--set", "srv.time_wait=1s"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no host named 'srv'"), "{}", stderr(&o));
    let o = finack(&["sim", "run", "handshake", "--drop", "server BOGUS #1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown segment kind 'BOGUS'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn drop_and_delay_rules_act_on_the_named_packets() {
    let o = finack(&["sim", "run", "client-close", "--drop", "server FIN #1"]);
    let out = stdout(&o);
    assert!(out.contains("lost: --drop 'server FIN #1'"), "{out}");
    assert!(out.contains("✗ one FIN each way"), "{out}");
    assert_eq!(o.status.code(), Some(1));
    let o = finack(&[
        "sim",
        "run",
        "client-close",
        "--delay",
        "client FIN #1 +300ms",
        "--loss",
        "0%",
    ]);
    assert!(
        stdout(&o).contains("what if: delay client FIN #1 +300ms, loss 0%"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn ss_prints_both_socket_tables_with_timers_and_counts() {
    let o = finack(&["sim", "run", "client-close", "--ss", "1s"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let table = &out[out.find("ss at 1.000000s").expect("table")..];
    assert!(
        table.contains("State       Recv-Q Send-Q Local Address:Port"),
        "{table}"
    );
    assert!(table.contains("TIME-WAIT"), "{table}");
    assert!(table.contains("timer:(timewait,59sec,0)"), "{table}");
    assert!(
        table.contains("LISTEN") && table.contains("192.0.2.2:80") && table.contains("*:*"),
        "{table}"
    );
    assert!(
        table.contains("TCP: 1 (estab 0, closed 0, timewait 1); TIME-WAIT 1"),
        "{table}"
    );
    let o = finack(&["sim", "run", "client-close", "--ss-every", "20s"]);
    assert_eq!(stdout(&o).matches("ss at ").count(), 3, "{}", stdout(&o));
}

#[test]
fn example_files_run_and_their_checks_hold() {
    for name in ["short-time-wait.toml", "close-wait-leak.toml"] {
        let path = examples().join(name);
        let o = finack(&["sim", "run", path.to_str().unwrap(), "--ss", "5s"]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{name}: {out}{}", stderr(&o));
        let summary = out
            .lines()
            .find(|l| l.contains("checks held"))
            .expect("summary");
        let n: Vec<&str> = summary.split(' ').collect();
        assert_eq!(n[0], n[2], "{summary}");
        assert!(out.contains("ss at 5.000000s"), "{out}");
    }
}

#[test]
fn show_prints_a_file_that_runs_and_says_where_it_cannot() {
    let o = finack(&["sim", "show", "lost-last-ack"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains("drop = [\"client ACK #2\"]"), "{text}");
    let dir = std::env::temp_dir().join(format!("finack-whatif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lost-last-ack.toml");
    std::fs::write(&file, &text).unwrap();
    let o = finack(&["sim", "run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("lost: --drop 'client ACK #2'"),
        "{}",
        stdout(&o)
    );

    let o = finack(&["sim", "show", "old-duplicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot be written as a scenario file"),
        "{}",
        stderr(&o)
    );
    let o = finack(&["sim", "show", "nope"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_bad_file_is_an_error_naming_the_line_and_the_field() {
    let dir = std::env::temp_dir().join(format!("finack-whatif-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "name = \"x\"\n[config]\nrto_min = \"fast\"\n").unwrap();
    let o = finack(&["sim", "run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("line 3: config.rto_min: bad value 'fast'"),
        "{err}"
    );
    std::fs::write(
        &file,
        "name = \"x\"\n\n[[actions]]\nat = \"1s\"\nhost = \"client\"\nwhat = \"connect\"\n",
    )
    .unwrap();
    let o = finack(&["sim", "run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("line 6") && err.contains("unknown field `what`"),
        "{err}"
    );
    let o = finack(&["sim", "run", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read scenario file"),
        "{}",
        stderr(&o)
    );
}

// ---- finack ss against a running finack serve (root) ----

/// A SKIPPED line that shows even though the test harness captures output.
fn skipped(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {msg}");
}

/// Kills the child when dropped (a failed test leaves no server behind).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ss_without_a_server_says_so_and_exits_3() {
    let o = finack(&["ss", "--tun", "finack-no-such-tun"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("no finack serve answers for TUN 'finack-no-such-tun'"),
        "{}",
        stderr(&o)
    );
}

/// `finack serve` in a namespace of its own answers `finack ss` with its
/// socket table: the listener, and the connection of a slow curl download,
/// established with data queued and a timer.
#[test]
fn ss_shows_the_table_of_a_running_serve() {
    use std::io::{BufRead, BufReader};

    if !finack::netns::can_make() {
        skipped("ss_shows_the_table_of_a_running_serve: needs root, /dev/net/tun and ip");
        return;
    }
    if !finack::netns::have("curl") {
        skipped("ss_shows_the_table_of_a_running_serve: needs curl");
        return;
    }
    let ns = finack::netns::Netns::new("finack-ss").expect("make a namespace");
    let mut child = ns.command(env!("CARGO_BIN_EXE_finack"));
    child
        .args([
            "serve",
            "--tun",
            "finss0",
            "--addr",
            "192.0.2.2/24",
            "--port",
            "8080",
            "--max-connections",
            "5",
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
    // A slow download keeps a connection open, data queued, while `finack
    // ss` looks.
    let curl = ns
        .command("curl")
        .args([
            "-sS",
            "--limit-rate",
            "20k",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "http://192.0.2.2:8080/bytes/10000000",
        ])
        .spawn()
        .expect("run curl");
    let _curl = KillOnDrop(curl);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let o = finack(&["ss", "--tun", "finss0"]);
    let table = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{table}{}", stderr(&o));
    assert!(table.contains("(finack serve on TUN finss0)"), "{table}");
    assert!(
        table.contains("State       Recv-Q Send-Q Local Address:Port"),
        "{table}"
    );
    let listen = table
        .lines()
        .find(|l| l.trim_start().starts_with("LISTEN"))
        .expect("listener row");
    assert!(
        listen.contains("192.0.2.2:8080") && listen.contains("*:*"),
        "{table}"
    );
    let conn = table
        .lines()
        .find(|l| l.contains("192.0.2.2:8080") && l.contains("192.0.2.1:"))
        .unwrap_or_else(|| panic!("no row for curl's connection:\n{table}"));
    assert!(conn.trim_start().starts_with("ESTAB"), "{conn}");
    let send_q: u64 = conn.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(send_q > 0, "data queued for the slow reader: {conn}");
    assert!(conn.contains("timer:("), "{conn}");
    assert!(table.contains("TCP: 1 (estab 1, "), "{table}");
}
