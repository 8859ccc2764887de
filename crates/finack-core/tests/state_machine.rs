//! The RFC 9293 connection state machine, path by path, on IPv4 and IPv6, and the
//! transition-coverage table (docs/transitions.md). The paths the simulator's
//! catalog shows run there (see `scenarios::catalog_run`).

mod common;
mod scenarios;

use common::*;
use scenarios::*;

dual!(rfc9293_3_5_three_way_handshake, |f| {
    handshake(f);
});
dual!(rfc9293_3_6_client_closes_first_four_way, |f| {
    client_close(f);
});
dual!(rfc9293_3_6_server_closes_first_four_way, |f| {
    server_close(f);
});
dual!(rfc9293_3_6_simultaneous_close_through_closing, |f| {
    simultaneous_close(f);
});
dual!(
    rfc9293_3_10_7_4_fin_ack_merged_fin_wait_1_to_time_wait,
    |f| {
        fin_ack_merged(f);
    }
);
dual!(rfc9293_3_6_fin_carries_data, |f| {
    fin_with_data(f);
});
dual!(rfc9293_may_1_half_close, |f| {
    half_close(f);
});
dual!(
    rfc9293_3_10_7_4_time_wait_reacks_retransmitted_fin_and_restarts_2msl,
    |f| {
        lost_last_ack(f);
    }
);
dual!(
    counterfactual_without_time_wait_retransmitted_fin_gets_rst,
    |f| {
        no_time_wait_gets_rst(f);
    }
);
dual!(rfc9293_must_10_simultaneous_open, |f| {
    simultaneous_open(f);
});
dual!(
    rfc9293_3_10_4_close_in_syn_received_enters_fin_wait_1,
    |f| {
        simultaneous_open_then_close(f);
    }
);
dual!(rfc9293_3_10_7_1_syn_to_closed_port_refused, |f| {
    refused(f);
});
dual!(rfc9293_3_10_7_4_rst_resets_established, |f| {
    rst_aborts_established(f);
});
dual!(rfc2525_2_17_close_with_unread_data_sends_rst, |f| {
    close_with_unread_data_sends_rst(f);
});
dual!(rfc9293_3_10_5_abort_sends_rst, |f| {
    abort_sends_rst(f);
});
dual!(linux_fin_wait_2_timeout_for_orphans, |f| {
    fin_wait_2_timeout(f);
});
dual!(rfc9293_must_23_syn_retransmission_backoff_and_limit, |f| {
    syn_retries_time_out(f);
});
dual!(linux_synack_retries_then_back_to_listen, |f| {
    synack_retries_return_to_listen(f);
});
dual!(rfc9293_must_11_syn_received_rst_returns_to_listen, |f| {
    syn_received_rst_returns_to_listen(f);
});
dual!(rfc9293_3_10_4_close_in_syn_sent_deletes_tcb, |f| {
    close_in_syn_sent(f);
});
dual!(rfc9293_3_10_4_close_listener, |f| {
    close_listener(f);
});
dual!(rfc9293_3_10_2_send_in_listen_goes_syn_sent, |f| {
    send_from_listen(f);
});
dual!(rfc9293_must_20_data_retries_exhausted_times_out, |f| {
    data_retries_time_out(f);
});
dual!(rfc5482_user_timeout_aborts, |f| {
    user_timeout_aborts(f);
});
dual!(rfc9293_may_2_newer_sequence_reopens_time_wait, |f| {
    time_wait_reopened_by_newer_sequence(f);
});
dual!(rfc6191_new_syn_reopens_time_wait, |f| {
    time_wait_reopened_by_new_syn(f);
});
dual!(rfc1337_rst_in_time_wait_ignored_unless_disabled, |f| {
    rst_in_time_wait_without_rfc1337(f);
});
dual!(
    rfc9293_3_10_7_4_ack_with_fin_syn_received_to_close_wait,
    |f| {
        ack_and_fin_complete_handshake(f);
    }
);
dual!(rfc9293_3_10_7_4_rst_in_close_wait, |f| {
    rst_in_close_wait(f);
});
dual!(rfc9293_3_10_7_4_rst_in_last_ack, |f| {
    rst_in_last_ack(f);
});
dual!(transfer_1mib_each_way_client_closes_first, |f| {
    mib_client_first(f);
});
dual!(transfer_1mib_each_way_server_closes_first, |f| {
    mib_server_first(f);
});
dual!(transfer_1mib_each_way_simultaneous_close, |f| {
    mib_simultaneous(f);
});
dual!(transfer_1mib_each_way_fin_ack_merged, |f| {
    mib_fin_ack_merged(f);
});
dual!(transfer_1mib_each_way_half_close, |f| {
    mib_half_close(f);
});

mod coverage {
    use std::collections::{BTreeMap, BTreeSet};

    use finack_core::{Cause, State, TimerKind, UserCall};

    use super::*;
    use State::*;

    /// The event of a transition, as Figure 5 labels it.
    fn event(cause: Cause) -> &'static str {
        match cause {
            Cause::Segment(f) if f.rst() => "rcv RST",
            Cause::Segment(f) if f.syn() && f.ack() => "rcv SYN,ACK",
            Cause::Segment(f) if f.syn() => "rcv SYN",
            Cause::Segment(f) if f.fin() => "rcv FIN",
            Cause::Segment(f) if f.ack() => "rcv ACK",
            Cause::Segment(_) => "rcv segment",
            Cause::User(UserCall::Connect) => "active OPEN",
            Cause::User(UserCall::Listen) => "passive OPEN",
            Cause::User(UserCall::SendFromListen) => "SEND",
            Cause::User(UserCall::Close) => "CLOSE",
            Cause::User(UserCall::Shutdown(_)) => "CLOSE",
            Cause::User(UserCall::Abort) => "ABORT",
            Cause::Timer(TimerKind::TimeWait) => "timeout 2MSL",
            Cause::Timer(TimerKind::Retransmit) => "timeout (retries exhausted)",
            Cause::Timer(TimerKind::FinWait2) => "timeout FIN-WAIT-2",
            Cause::Timer(TimerKind::User) => "timeout USER",
            Cause::Timer(TimerKind::Keepalive) => "timeout keep-alive",
            Cause::Timer(TimerKind::Idle) => "timeout idle",
            // These timers only make the connection send; they change no state.
            Cause::Timer(
                TimerKind::Persist
                | TimerKind::DelayedAck
                | TimerKind::LossProbe
                | TimerKind::BufferRelease,
            ) => {
                panic!("{cause:?} changed a state")
            }
            Cause::Icmp => "ICMP error",
        }
    }

    /// Every edge of RFC 9293 Figure 5 (plus note 2's FIN-WAIT-1 → TIME-WAIT).
    const FIGURE_5: &[(State, &str, State)] = &[
        (Closed, "passive OPEN", Listen),
        (Closed, "active OPEN", SynSent),
        (Listen, "CLOSE", Closed),
        (Listen, "rcv SYN", SynReceived),
        (Listen, "SEND", SynSent),
        (SynSent, "rcv SYN", SynReceived),
        (SynSent, "rcv SYN,ACK", Established),
        (SynSent, "CLOSE", Closed),
        (SynReceived, "rcv RST", Listen),
        (SynReceived, "rcv ACK", Established),
        (SynReceived, "CLOSE", FinWait1),
        (Established, "CLOSE", FinWait1),
        (Established, "rcv FIN", CloseWait),
        (FinWait1, "rcv ACK", FinWait2),
        (FinWait1, "rcv FIN", Closing),
        (FinWait1, "rcv FIN", TimeWait),
        (FinWait2, "rcv FIN", TimeWait),
        (Closing, "rcv ACK", TimeWait),
        (CloseWait, "CLOSE", LastAck),
        (LastAck, "rcv ACK", Closed),
        (TimeWait, "timeout 2MSL", Closed),
    ];

    type Edges = BTreeMap<(State, &'static str, State), BTreeSet<&'static str>>;

    fn collect() -> Edges {
        let mut edges = Edges::new();
        for (name, run) in SCENARIOS {
            for fam in [Family::V4, Family::V6] {
                let net = run(fam);
                for t in &net.transitions {
                    edges
                        .entry((t.from, event(t.cause), t.to))
                        .or_default()
                        .insert(name);
                }
            }
        }
        for def in finack_sim::catalog() {
            for fam in [Family::V4, Family::V6] {
                let r = catalog_run(def.name, fam);
                for (_, t) in &r.transitions {
                    edges
                        .entry((t.from, event(t.cause), t.to))
                        .or_default()
                        .insert(def.name);
                }
            }
        }
        edges
    }

    fn row(e: &(State, &str, State), names: Option<&BTreeSet<&str>>) -> String {
        let tests = match names {
            Some(n) => {
                let mut list: Vec<String> = n.iter().take(4).map(|n| format!("`{n}`")).collect();
                if n.len() > 4 {
                    list.push(format!("and {} more", n.len() - 4));
                }
                list.join(", ")
            }
            None => "**NOT COVERED**".to_string(),
        };
        format!("| {} | {} | {} | {} |\n", e.0, e.1, e.2, tests)
    }

    fn render(edges: &Edges) -> String {
        let mut s = String::from(
            "# RFC 9293 state transitions and the tests that exercise them\n\n\
             Generated from the transition records `(connection, from, to, cause)` of the\n\
             lifecycle scenarios, each run on IPv4 and IPv6: those of the simulator's catalog\n\
             (`crates/finack-sim/src/sim/scenarios.rs`, names with hyphens) and those of\n\
             `crates/finack-core/tests/scenarios/mod.rs` (names with underscores). Kept\n\
             current by the test `coverage::transition_table_is_current`\n\
             in `crates/finack-core/tests/state_machine.rs`; regenerate with\n\
             `FINACK_UPDATE_DOCS=1 cargo test -p finack-core --test state_machine coverage`.\n\n\
             A transition is recorded once per event: when one segment moves a connection\n\
             through several states (a FIN+ACK taking FIN-WAIT-1 through FIN-WAIT-2 to\n\
             TIME-WAIT), the record goes from the state before the segment to the state\n\
             after it.\n\n\
             ## Figure 5 (and its note 2: FIN-WAIT-1 to TIME-WAIT on FIN+ACK)\n\n\
             | from | event | to | scenarios |\n|---|---|---|---|\n",
        );
        for e in FIGURE_5 {
            s += &row(e, edges.get(e));
        }
        s += "\n## Other transitions (RFC 9293 §3.10 text, RST, ABORT, timeouts)\n\n\
              | from | event | to | scenarios |\n|---|---|---|---|\n";
        for (e, names) in edges {
            if !FIGURE_5.contains(e) {
                s += &row(e, Some(names));
            }
        }
        s
    }

    #[test]
    fn transition_table_is_current() {
        let edges = collect();
        let missing: Vec<_> = FIGURE_5.iter().filter(|e| !edges.contains_key(e)).collect();
        assert!(
            missing.is_empty(),
            "Figure 5 edges not exercised: {missing:?}"
        );
        let doc = render(&edges);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/transitions.md");
        if std::env::var_os("FINACK_UPDATE_DOCS").is_some() {
            std::fs::write(path, &doc).unwrap();
        }
        let current = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            current == doc,
            "docs/transitions.md is stale; regenerate with \
             FINACK_UPDATE_DOCS=1 cargo test -p finack-core --test state_machine coverage"
        );
    }
}
