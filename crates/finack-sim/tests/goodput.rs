//! The goodput table (docs/goodput.md) is a snapshot: regressions show as a diff.
//! Regenerate with `FINACK_UPDATE_DOCS=1 cargo test -p finack-sim --test goodput`.

use std::time::Duration;

use finack_sim::goodput;

#[test]
fn lossless_transfer_reaches_the_window_ceiling() {
    let fixed = finack_core::Config {
        rcvbuf_autotune: false,
        ..finack_core::Config::linux()
    };
    let c = goodput::measure_with(fixed, 0.0, Duration::from_millis(10), 1);
    assert!(c.intact);
    // Slow start costs a few round trips; over 2 MiB the average is still more
    // than half the 105 Mbit/s ceiling of a 128 KiB window at 10 ms.
    assert!(c.goodput_bps > 0.5 * c.ceiling_bps, "{c:?}");
    assert!(c.goodput_bps <= c.ceiling_bps * 1.05, "{c:?}");
    // Autotuning (the Linux profile) grows the window past 128 KiB: the
    // same transfer beats that ceiling.
    let tuned = goodput::measure(0.0, Duration::from_millis(10), 1);
    assert!(tuned.intact);
    assert!(tuned.goodput_bps > c.ceiling_bps, "{tuned:?} vs {c:?}");
}

#[test]
fn loss_costs_goodput_but_not_data() {
    let clean = goodput::measure(0.0, Duration::from_millis(10), 1);
    let lossy = goodput::measure(0.05, Duration::from_millis(10), 1);
    assert!(lossy.intact);
    assert!(
        lossy.goodput_bps < clean.goodput_bps,
        "{lossy:?} vs {clean:?}"
    );
}

#[test]
fn goodput_table_snapshot_is_current() {
    let table = goodput::table();
    assert!(!table.contains("CORRUPT"), "{table}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/goodput.md");
    if std::env::var_os("FINACK_UPDATE_DOCS").is_some() {
        std::fs::write(path, &table).unwrap();
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == table,
        "goodput changed; if intended, regenerate docs/goodput.md with \
         FINACK_UPDATE_DOCS=1 cargo test -p finack-sim --test goodput\n\nnow:\n{table}\nwas:\n{current}"
    );
}
