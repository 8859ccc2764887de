//! The RFC 9293 connection state machine, path by path, on IPv4 and IPv6, and the
//! transition-coverage table (docs/transitions.md).

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
