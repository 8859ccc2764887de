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

#[test]
fn all_prints_progress_a_table_and_a_total() {
    let o = finack(&["sim", "all"]);
    let out = stdout(&o);
    let err = stderr(&o);
    let n = catalog().len();
    for (k, s) in catalog().iter().enumerate() {
        assert!(
            err.contains(&format!("[{}/{n}] {} ... ", k + 1, s.name)),
            "{err}"
        );
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
