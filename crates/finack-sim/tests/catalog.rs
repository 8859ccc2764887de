//! Every scenario of the catalog runs and its checks hold; runs are deterministic.

use finack_sim::{catalog, find, Family, ScenarioResult};

fn failures(r: &ScenarioResult) -> String {
    r.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("  ✗ {}: {}\n", c.what, c.detail))
        .collect()
}

#[test]
fn catalog_has_the_article_scenarios_and_the_extras() {
    let names: Vec<&str> = catalog().iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "handshake",
            "client-close",
            "server-close",
            "simultaneous-close",
            "fin-ack-merged",
            "fin-with-data",
            "half-close",
            "lost-last-ack",
            "no-time-wait",
            "old-duplicate",
            "simultaneous-open",
            "half-open",
            "idle-attacker",
            "close-wait-leak",
            "time-wait-exhaustion",
            "msl",
            "isn-clock",
            "seq-wrap",
            "time-wait-buckets",
            "time-wait-calls",
            "syn-flood",
            "rst-abort",
            "refused"
        ]
    );
    assert!(find("lost-last-ack").is_some());
    assert!(find("no-such-thing").is_none());
}

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            let def = find($name).expect("in the catalog");
            let r = (def.run)(1, Family::V4);
            assert!(!r.checks.is_empty(), "a scenario asserts something");
            assert!(r.passed(), "{} failed:\n{}", $name, failures(&r));
            // Same seed, same run (byte-identical packets, same events).
            let again = (def.run)(1, Family::V4);
            assert!(again.trace == r.trace, "{} is not deterministic", $name);
            // The same story holds on IPv6.
            let v6 = (def.run)(1, Family::V6);
            assert_eq!(v6.trace.hosts[0].addr, "2001:db8::1");
            assert!(v6.passed(), "{} failed on IPv6:\n{}", $name, failures(&v6));
        }
    )*};
}

scenario_tests! {
    handshake => "handshake",
    client_close => "client-close",
    server_close => "server-close",
    simultaneous_close => "simultaneous-close",
    fin_ack_merged => "fin-ack-merged",
    fin_with_data => "fin-with-data",
    half_close => "half-close",
    lost_last_ack => "lost-last-ack",
    no_time_wait => "no-time-wait",
    old_duplicate => "old-duplicate",
    simultaneous_open => "simultaneous-open",
    half_open => "half-open",
    idle_attacker => "idle-attacker",
    close_wait_leak => "close-wait-leak",
    time_wait_exhaustion => "time-wait-exhaustion",
    rst_abort => "rst-abort",
    refused => "refused",
}

/// The README embeds `docs/lost-last-ack.svg`, the SVG that
/// `finack sim run lost-last-ack --svg FILE` writes; keep it current
/// (regenerate with `FINACK_UPDATE_DOCS=1 cargo test -p finack-sim --test catalog`).
#[test]
fn readme_diagram_is_current() {
    let r = (find("lost-last-ack").unwrap().run)(1, Family::V4);
    let svg = finack_sim::render::diagram_svg(&r.trace);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/lost-last-ack.svg");
    if std::env::var_os("FINACK_UPDATE_DOCS").is_some() {
        std::fs::write(path, &svg).unwrap();
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == svg,
        "docs/lost-last-ack.svg is stale; regenerate with FINACK_UPDATE_DOCS=1 cargo test -p finack-sim --test catalog"
    );
}
