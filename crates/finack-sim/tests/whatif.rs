//! What-if runs: settings, scripted faults, socket tables, scenario files.

use std::path::PathBuf;
use std::time::Duration;

use finack_core::State;
use finack_sim::whatif::user::UserScenario;
use finack_sim::whatif::{show, FaultRule, RunOptions, Setting};
use finack_sim::{find, Family, TraceEvent};

fn opts() -> RunOptions {
    RunOptions::default()
}

#[test]
fn a_setting_changes_the_run_and_the_catalog_check_notices() {
    let def = find("client-close").unwrap();
    let mut o = opts();
    o.settings.push(Setting::parse("time_wait=10s").unwrap());
    let run = def.run_with(1, Family::V4, &o).unwrap();
    let tw = run
        .result
        .checks
        .iter()
        .find(|c| c.what.starts_with("TIME-WAIT lasts"))
        .unwrap();
    assert!(!tw.ok, "TIME-WAIT should now last 10 s: {tw:?}");
    assert!(tw.detail.contains("10s"), "{tw:?}");
    // The note says what was changed.
    assert!(run.result.trace.events.iter().any(
        |e| matches!(e, TraceEvent::Note { text, .. } if text.contains("what if: time_wait=10s"))
    ));
    // Without options the scenario is untouched.
    let plain = def.run_with(1, Family::V4, &opts()).unwrap();
    assert!(plain.result.passed());
    assert_eq!(plain.result.trace, (def.run)(1, Family::V4).trace);
}

#[test]
fn a_setting_for_one_host_changes_only_that_host() {
    let def = find("server-close").unwrap();
    let mut o = opts();
    o.settings
        .push(Setting::parse("client.time_wait=5s").unwrap());
    // The server holds TIME-WAIT here; the client's setting changes nothing
    // the checks see.
    let run = def.run_with(1, Family::V4, &o).unwrap();
    assert!(run.result.passed(), "{:?}", run.result.checks);
    o.settings = vec![Setting::parse("server.time_wait=5s").unwrap()];
    let run = def.run_with(1, Family::V4, &o).unwrap();
    assert!(!run.result.passed());
}

#[test]
fn settings_and_faults_for_unknown_hosts_are_errors() {
    let def = find("handshake").unwrap();
    let mut o = opts();
    o.settings.push(Setting::parse("srv.time_wait=5s").unwrap());
    let e = def.run_with(1, Family::V4, &o).unwrap_err();
    assert!(
        e.contains("no host named 'srv'") && e.contains("client, server"),
        "{e}"
    );
    let e = Setting::parse("server.time_wiat=5s").unwrap_err();
    assert!(
        e.message.contains("unknown config field 'time_wiat'"),
        "{e}"
    );
    let e = Setting::parse("delayed_ack=soon").unwrap_err();
    assert!(
        e.message.contains("'delayed_ack'") && e.message.contains("or off"),
        "{e}"
    );
}

#[test]
fn dropping_the_servers_first_fin_retransmits_it() {
    let def = find("client-close").unwrap();
    let mut o = opts();
    o.faults
        .push(FaultRule::parse("server FIN #1", false).unwrap());
    let run = def.run_with(1, Family::V4, &o).unwrap();
    let fins: Vec<_> = run
        .result
        .trace
        .packets_from(1)
        .filter(|p| p.0.flags.fin())
        .collect();
    assert_eq!(fins.len(), 2, "the FIN is sent again after the RTO");
    assert!(matches!(fins[0].1, finack_sim::Fate::Dropped(why) if why.contains("server FIN #1")));
}

#[test]
fn delaying_a_fin_delays_its_arrival() {
    let def = find("client-close").unwrap();
    let mut o = opts();
    o.faults
        .push(FaultRule::parse("client FIN #1 +300ms", true).unwrap());
    let run = def.run_with(1, Family::V4, &o).unwrap();
    let (_, fate, sent) = run
        .result
        .trace
        .packets_from(0)
        .find(|p| p.0.flags.fin())
        .unwrap();
    let finack_sim::Fate::Delivered(at) = fate else {
        panic!("{fate:?}")
    };
    assert!(at.saturating_duration_since(sent) >= Duration::from_millis(310));
}

#[test]
fn socket_tables_show_states_queues_and_timers() {
    let def = find("client-close").unwrap();
    let mut o = opts();
    o.ss_at = vec![Duration::from_secs(1)];
    let run = def.run_with(1, Family::V4, &o).unwrap();
    assert_eq!(run.tables.len(), 1);
    let t = &run.tables[0];
    let client = &t.hosts[0];
    let row = client
        .rows
        .iter()
        .find(|r| r.state == State::TimeWait)
        .expect("client in TIME-WAIT at 1 s");
    let timer = row.timer.as_ref().unwrap();
    assert_eq!(timer.name, "timewait");
    assert!(timer.remaining > Duration::from_secs(58) && timer.remaining < Duration::from_secs(60));
    assert!(client.counts.contains(&(State::TimeWait, 1)));
    let text = t.render();
    assert!(
        text.contains("TIME-WAIT") && text.contains("timer:(timewait,59sec,0)"),
        "{text}"
    );
    let server = &t.hosts[1];
    assert!(server
        .rows
        .iter()
        .any(|r| r.state == State::Listen && r.peer.is_none()));
    assert!(text.contains("LISTEN") && text.contains("*:*"), "{text}");
}

#[test]
fn a_retransmission_timer_shows_as_on() {
    // The server's first FIN is lost: until it is sent again the server is
    // in LAST-ACK with its retransmission timer running.
    let def = find("client-close").unwrap();
    let mut o = opts();
    o.faults
        .push(FaultRule::parse("server FIN #1", false).unwrap());
    o.ss_every = Some(Duration::from_millis(100));
    let run = def.run_with(1, Family::V4, &o).unwrap();
    let on = run
        .tables
        .iter()
        .flat_map(|t| &t.hosts[1].rows)
        .any(|r| r.state == State::LastAck && r.timer.as_ref().is_some_and(|t| t.name == "on"));
    assert!(on, "no LAST-ACK with timer:(on,...)");
    assert!(run.tables.len() > 100, "every 100 ms over 60 s");
}

#[test]
fn a_table_after_the_end_says_so() {
    let def = find("handshake").unwrap();
    let mut o = opts();
    o.ss_at = vec![Duration::from_secs(3600)];
    let run = def.run_with(1, Family::V4, &o).unwrap();
    assert_eq!(run.tables.len(), 1);
    assert!(run.tables[0].ended_early.is_some());
    assert!(run.tables[0].render().contains("the run ended at"));
}

fn parse(path: &str, text: &str) -> UserScenario {
    UserScenario::parse(text, path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn catalog_scenarios_shown_as_files_run_as_the_catalog_does() {
    for name in show::expressible() {
        let text = show::as_file(name).unwrap().unwrap();
        let s = parse(name, text);
        let run = s.run(1, &opts()).unwrap();
        assert!(run.result.passed(), "{name}: {:?}", run.result.checks);
        let catalog = (find(name).unwrap().run)(1, Family::V4);
        for host in 0..2 {
            assert_eq!(
                run.result.trace.states_of(host),
                catalog.trace.states_of(host),
                "{name}: host {host}"
            );
        }
    }
    for def in finack_sim::catalog() {
        assert!(
            show::as_file(def.name).is_some(),
            "{} neither a file nor explained",
            def.name
        );
    }
}

#[test]
fn example_files_run_and_their_checks_hold() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let s = parse(&path.display().to_string(), &text);
        assert!(!s.checks.is_empty());
        let run = s.run(1, &opts()).unwrap();
        assert!(
            run.result.passed(),
            "{}: {:?}",
            path.display(),
            run.result.checks
        );
        n += 1;
    }
    assert!(n >= 2);
}

#[test]
fn bad_files_name_the_line_and_the_field() {
    let cases = [
        (
            "duration = \"10s\"\n[config]\ntime_wait = \"soon\"\n",
            3,
            "config.time_wait",
            "duration",
        ),
        (
            "[config]\n\ntime_wiat = \"1s\"\n",
            3,
            "config.time_wiat",
            "unknown config field",
        ),
        (
            "[[actions]]\nat = \"0s\"\nhost = \"srv\"\ndo = \"listen\"\n",
            3,
            "actions[0].host",
            "no host named 'srv'",
        ),
        (
            "[[actions]]\nat = \"0s\"\nhost = \"client\"\ndo = \"jump\"\n",
            4,
            "actions[0].do",
            "unknown action",
        ),
        (
            "[checks]\nclient.final = \"WAITING\"\n",
            2,
            "checks.client.final",
            "state name",
        ),
        (
            "[faults]\ndrop = [\"server FOO #1\"]\n",
            2,
            "faults.drop",
            "unknown segment kind",
        ),
        ("durration = \"1s\"\n", 1, "", "unknown field"),
        ("duration = 5\n", 1, "", "invalid type"),
    ];
    for (text, line, field, what) in cases {
        let e = UserScenario::parse(text, "t").unwrap_err();
        assert_eq!(e.line, Some(line), "{text}: {e}");
        assert_eq!(e.field, field, "{text}: {e}");
        assert!(e.message.contains(what), "{text}: {e}");
    }
}

/// A file that listens twice on one port (found by the scenario_file fuzz
/// target, where it made the simulator panic): the second listen is a failed
/// action in the checks, and the run goes on.
#[test]
fn listening_twice_on_a_port_is_a_failed_action_not_a_panic() {
    let text = r#"
name = "twice"
duration = "1s"

[[actions]]
at = "0s"
host = "server"
do = "listen"

[[actions]]
at = "0s"
host = "server"
do = "listen"
"#;
    let s = finack_sim::whatif::user::UserScenario::parse(text, "twice").expect("parses");
    let run = s.run(1, &finack_sim::RunOptions::default()).expect("runs");
    let failed: Vec<_> = run.result.checks.iter().filter(|c| !c.ok).collect();
    assert_eq!(failed.len(), 1, "{:?}", run.result.checks);
    assert!(failed[0].detail.contains("AddrInUse"), "{:?}", failed[0]);
}
