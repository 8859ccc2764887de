//! Endpoint-wide counters ([`Stats`]), their sum over several endpoints and
//! their names in Linux's `nstat`.

/// Endpoint-wide counters (like `netstat -s`). [`Stats::linux_counters`]
/// gives them under the names Linux's `nstat` uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events dropped, oldest first, because the application let more than
    /// [`crate::MAX_EVENTS`] pile up without calling `poll_event`.
    pub events_dropped: u64,
    /// Packets given to `handle_packet`.
    pub packets_in: u64,
    /// Packets produced by `poll_transmit`.
    pub packets_out: u64,
    /// Packets rejected as malformed (including bad checksums).
    pub malformed: u64,
    /// Packets with a bad checksum.
    pub bad_checksum: u64,
    /// Packets not addressed to this endpoint.
    pub not_local: u64,
    /// Packets from or to broadcast/multicast/unspecified addresses or port 0.
    pub bad_address: u64,
    /// RST segments sent.
    pub rst_sent: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit.
    pub challenge_acks_suppressed: u64,
    /// SYNs dropped because a listener's SYN queue was full.
    pub syn_queue_overflow: u64,
    /// SYNs or handshake-completing ACKs dropped because the accept queue was full.
    pub accept_queue_overflow: u64,
    /// SYNs dropped without SYN cookies because the listener's half-open
    /// connections reached three quarters of `Config::max_syn_backlog`
    /// (counted in Linux ListenDrops only).
    pub syn_backlog_drop: u64,
    /// SYN,ACKs sent as SYN cookies (SYN queue full, RFC 4987 §3.6).
    pub syn_cookies_sent: u64,
    /// Connections opened by an ACK that returned a valid SYN cookie.
    pub syn_cookies_accepted: u64,
    /// ACKs to a listener whose cookie did not check out (answered with RST).
    pub syn_cookies_failed: u64,
    /// Segments that failed the sequence-number check.
    pub out_of_window: u64,
    /// Segments rejected by PAWS (RFC 7323 §5).
    pub paws_rejected: u64,
    /// SYN,ACKs refused in SYN-SENT for a timestamp echo from before our
    /// SYN or from the future (`Config::paws_active`).
    pub paws_active: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Fast retransmits (three duplicate ACKs).
    pub fast_retransmits: u64,
    /// Tail loss probes that resent data or a FIN (RFC 8985 §7.3).
    pub loss_probes: u64,
    /// Retransmissions the host's device refused (`Endpoint::set_local_drop`;
    /// Linux `TCPRetransFail`): not counted in `retransmits`.
    pub retrans_fail: u64,
    /// Packets the engine formed while the host's device refused every
    /// packet (`Endpoint::set_local_drop`), and whose loss it ignores as
    /// Linux ignores a refused SYN or bare ACK.
    pub local_drops: u64,
    /// Connections that entered TIME-WAIT.
    pub time_wait_entered: u64,
    /// TIME-WAIT entries reopened by a new SYN (RFC 6191).
    pub time_wait_reused: u64,
    /// Connections that timed out.
    pub timeouts: u64,
    /// Connections reset by the peer.
    pub resets_received: u64,
    /// ICMP errors about TCP segments received.
    pub icmp_in: u64,
    /// ICMP errors ignored (no such connection, or a quoted sequence number
    /// outside the send window: RFC 5927 §4.1).
    pub icmp_ignored: u64,
    /// SYNs dropped because their source address reached a listener's
    /// per-source limit ([`ListenerLimits`]).
    pub per_source_drops: u64,
    /// Connections reset by their idle timeout ([`ListenerLimits::idle_timeout`]).
    pub idle_timeouts: u64,
    /// Connections that should have entered TIME-WAIT but were closed at
    /// once because the TIME-WAIT table was full
    /// ([`crate::Config::max_time_wait`]; Linux TCPTimeWaitOverflow).
    pub time_wait_overflow: u64,
    /// Connections opened by a peer's SYN (Linux PassiveOpens).
    pub passive_opens: u64,
    /// Connections opened by `connect` (Linux ActiveOpens).
    pub active_opens: u64,
    /// Connections reset because the application closed them with unread
    /// data (Linux TCPAbortOnData).
    pub abort_on_data: u64,
    /// Connections reset by `close` in FIN-WAIT-2 under
    /// [`Linger2::Abort`](crate::Linger2::Abort) (Linux TCPAbortOnLinger).
    pub abort_on_linger: u64,
    /// Handshake ACKs without data a listener set aside under
    /// TCP_DEFER_ACCEPT (Linux TCPDeferAcceptDrop).
    pub defer_accept_drop: u64,
    /// Duplicate ACKs for out-of-order data saved by SACK compression
    /// (`Config::comp_sack_nr`; Linux TCPAckCompressed).
    pub ack_compressed: u64,
    /// Connections reset because the application closed them with data
    /// unread (Linux TCPAbortOnClose; RFC 2525 §2.17).
    pub abort_on_close: u64,
    /// ACKs the delayed-ACK timer sent (Linux DelayedACKs).
    pub delayed_acks: u64,
    /// Data that came again though already received: our ACK was lost or
    /// late (Linux DelayedACKLost).
    pub delayed_ack_lost: u64,
    /// Retransmission timeouts, the SYN and SYN,ACK ones included (Linux
    /// TCPTimeouts).
    pub rto_expired: u64,
    /// SYNs and SYN,ACKs sent again (Linux TCPSynRetrans).
    pub syn_retrans: u64,
    /// Keep-alive probes sent (Linux TCPKeepAlive).
    pub keepalive_probes: u64,
    /// Zero-window probes sent (Linux TCPWinProbe).
    pub window_probes: u64,
    /// Replies to out-of-window segments held back by the rate limit
    /// (`Config::challenge_ack_interval`; Linux TCPACKSkippedSeq).
    pub ack_skipped_seq: u64,
    /// Replies to segments PAWS rejected held back by the rate limit (Linux
    /// TCPACKSkippedPAWS).
    pub ack_skipped_paws: u64,
    /// Orphans reset because there were too many of them or buffer memory
    /// was over the hard limit (`Config::max_orphans`, `Config::tcp_mem`).
    /// Linux TCPAbortOnMemory.
    pub abort_on_memory: u64,
    /// Times the endpoint entered memory pressure (`Config::tcp_mem`).
    /// Linux TCPMemoryPressures.
    pub memory_pressures: u64,
    /// Arriving data found no memory and the receive ring was compacted or
    /// its out-of-order data pruned to make room. Linux PruneCalled.
    pub prune_called: u64,
    /// Prunings that dropped out-of-order data (never acknowledged, perhaps
    /// SACKed: SACK blocks stop announcing it). Linux OfoPruned.
    pub ofo_pruned: u64,
    /// Prunings that could not make room: the arriving data was dropped.
    /// Linux RcvPruned.
    pub rcv_pruned: u64,
    /// In-order segments dropped for want of memory. Linux TCPRcvQDrop.
    pub rcvq_drop: u64,
    /// Out-of-order segments dropped for want of memory. Linux TCPOFODrop.
    pub ofo_drop: u64,
    /// Segments dropped for lying (or, with data queued, ending) past the
    /// largest window offered, or out of order past the window (Linux
    /// BeyondWindow; `Config::rcv_memory`).
    pub beyond_window: u64,
    /// In-order data dropped because the window offered is closed (Linux
    /// TCPZeroWindowDrop; `Config::rcv_memory`).
    pub zero_window_drop: u64,
    /// D-SACKs set for data below RCV.NXT, and for data already held out of
    /// order (RFC 2883). Linux TCPDSACKOldSent, TCPDSACKOfoSent.
    pub dsack_old_sent: u64,
    /// See `dsack_old_sent`.
    pub dsack_ofo_sent: u64,
    /// D-SACKs received for data below the cumulative ACK, and for data
    /// within the next SACK block (RFC 2883 §4). Linux TCPDSACKRecv,
    /// TCPDSACKOfoRecv.
    pub dsack_recv: u64,
    /// See `dsack_recv`.
    pub dsack_ofo_recv: u64,
    /// Segments the D-SACKs taken as genuine reported duplicated (Linux
    /// TCPDSACKRecvSegs).
    pub dsack_recv_segs: u64,
    /// D-SACKs ignored as dubious: an empty block, one wider than any
    /// window the peer offered, or more duplicates reported than segments
    /// ever resent (Linux TCPDSACKIgnoredDubious).
    pub dsack_ignored_dubious: u64,
    /// Fast recoveries undone when they ended, none of their
    /// retransmissions having been needed (Linux TCPFullUndo).
    pub full_undo: u64,
    /// Fast recoveries undone at a partial ACK echoing a timestamp from
    /// before the first retransmission, none of them still out (Linux
    /// TCPPartialUndo).
    pub partial_undo: u64,
    /// Recoveries undone by D-SACKs showing every retransmission needless
    /// (Linux TCPDSACKUndo).
    pub dsack_undo: u64,
    /// Timeouts undone as needless, by timestamps, D-SACKs or F-RTO (Linux
    /// TCPLossUndo).
    pub loss_undo: u64,
    /// Of `loss_undo`, those F-RTO proved spurious (RFC 5682; Linux
    /// TCPSpuriousRTOs).
    pub spurious_rtos: u64,
    /// Loss probes that repaired a loss, the window then reduced (RFC 8985
    /// §7.4.2; Linux TCPLossProbeRecovery).
    pub loss_probe_recovery: u64,
    /// Reordering seen: data delivered out of order below the highest SACKed
    /// sequence (Linux TCPSACKReorder), or a partial ACK in fast recovery
    /// echoing a timestamp from before the retransmission (TCPTSReorder).
    pub sack_reorder: u64,
    /// See `sack_reorder`.
    pub ts_reorder: u64,
    /// Segments acknowledged or SACKed, as each ACK newly delivered them
    /// (Linux TCPDelivered).
    pub delivered: u64,
    /// Of those, the ones delivered by ACKs echoing congestion (Linux
    /// TCPDeliveredCE).
    pub delivered_ce: u64,
    /// Fast recoveries entered without SACK (Linux TCPRenoRecovery).
    pub reno_recovery: u64,
    /// Fast recoveries entered with SACK (Linux TCPSackRecovery).
    pub sack_recovery: u64,
    /// Without SACK, more duplicate ACKs than segments above the lost ones:
    /// reordering (Linux tcp_check_reno_reordering(), TCPRenoReorder).
    pub reno_reorder: u64,
    /// SYNs to a listener dropped because buffer memory was over the hard
    /// limit (Linux counts such drops among ListenDrops).
    pub syn_memory_drop: u64,
    /// Segments dropped for carrying a TCP MD5 signature (RFC 2385) no key
    /// was set for (Linux TCPMD5Unexpected; `Config::md5_option_checks`).
    pub md5_unexpected: u64,
}

impl Stats {
    /// Add `other`'s counters to these: the counters of several endpoints
    /// together (a runtime with one endpoint per worker thread reports their
    /// sum). Every field is a count, so the sum is the whole's count.
    pub fn accumulate(&mut self, other: &Stats) {
        // Destructured so that a new counter cannot be forgotten here.
        let &Stats {
            events_dropped,
            packets_in,
            packets_out,
            malformed,
            bad_checksum,
            not_local,
            bad_address,
            rst_sent,
            challenge_acks,
            challenge_acks_suppressed,
            syn_queue_overflow,
            accept_queue_overflow,
            syn_backlog_drop,
            syn_cookies_sent,
            syn_cookies_accepted,
            syn_cookies_failed,
            out_of_window,
            paws_rejected,
            paws_active,
            retransmits,
            fast_retransmits,
            loss_probes,
            retrans_fail,
            local_drops,
            time_wait_entered,
            time_wait_reused,
            timeouts,
            resets_received,
            icmp_in,
            icmp_ignored,
            md5_unexpected,
            per_source_drops,
            idle_timeouts,
            time_wait_overflow,
            passive_opens,
            active_opens,
            abort_on_data,
            abort_on_linger,
            defer_accept_drop,
            ack_compressed,
            abort_on_close,
            delayed_acks,
            delayed_ack_lost,
            rto_expired,
            syn_retrans,
            keepalive_probes,
            window_probes,
            ack_skipped_seq,
            ack_skipped_paws,
            abort_on_memory,
            memory_pressures,
            prune_called,
            ofo_pruned,
            rcv_pruned,
            rcvq_drop,
            ofo_drop,
            beyond_window,
            zero_window_drop,
            dsack_old_sent,
            dsack_ofo_sent,
            dsack_recv,
            dsack_ofo_recv,
            dsack_recv_segs,
            dsack_ignored_dubious,
            full_undo,
            partial_undo,
            dsack_undo,
            loss_undo,
            spurious_rtos,
            loss_probe_recovery,
            sack_reorder,
            ts_reorder,
            reno_reorder,
            reno_recovery,
            sack_recovery,
            delivered,
            delivered_ce,
            syn_memory_drop,
        } = other;
        self.events_dropped += events_dropped;
        self.packets_in += packets_in;
        self.packets_out += packets_out;
        self.malformed += malformed;
        self.bad_checksum += bad_checksum;
        self.not_local += not_local;
        self.bad_address += bad_address;
        self.rst_sent += rst_sent;
        self.challenge_acks += challenge_acks;
        self.challenge_acks_suppressed += challenge_acks_suppressed;
        self.syn_queue_overflow += syn_queue_overflow;
        self.accept_queue_overflow += accept_queue_overflow;
        self.syn_backlog_drop += syn_backlog_drop;
        self.syn_cookies_sent += syn_cookies_sent;
        self.syn_cookies_accepted += syn_cookies_accepted;
        self.syn_cookies_failed += syn_cookies_failed;
        self.out_of_window += out_of_window;
        self.paws_rejected += paws_rejected;
        self.paws_active += paws_active;
        self.retransmits += retransmits;
        self.fast_retransmits += fast_retransmits;
        self.loss_probes += loss_probes;
        self.retrans_fail += retrans_fail;
        self.local_drops += local_drops;
        self.time_wait_entered += time_wait_entered;
        self.time_wait_reused += time_wait_reused;
        self.timeouts += timeouts;
        self.resets_received += resets_received;
        self.icmp_in += icmp_in;
        self.icmp_ignored += icmp_ignored;
        self.md5_unexpected += md5_unexpected;
        self.per_source_drops += per_source_drops;
        self.idle_timeouts += idle_timeouts;
        self.time_wait_overflow += time_wait_overflow;
        self.passive_opens += passive_opens;
        self.active_opens += active_opens;
        self.abort_on_data += abort_on_data;
        self.abort_on_linger += abort_on_linger;
        self.defer_accept_drop += defer_accept_drop;
        self.ack_compressed += ack_compressed;
        self.abort_on_close += abort_on_close;
        self.delayed_acks += delayed_acks;
        self.delayed_ack_lost += delayed_ack_lost;
        self.rto_expired += rto_expired;
        self.syn_retrans += syn_retrans;
        self.keepalive_probes += keepalive_probes;
        self.window_probes += window_probes;
        self.ack_skipped_seq += ack_skipped_seq;
        self.ack_skipped_paws += ack_skipped_paws;
        self.abort_on_memory += abort_on_memory;
        self.memory_pressures += memory_pressures;
        self.prune_called += prune_called;
        self.ofo_pruned += ofo_pruned;
        self.rcv_pruned += rcv_pruned;
        self.rcvq_drop += rcvq_drop;
        self.ofo_drop += ofo_drop;
        self.beyond_window += beyond_window;
        self.zero_window_drop += zero_window_drop;
        self.dsack_old_sent += dsack_old_sent;
        self.dsack_ofo_sent += dsack_ofo_sent;
        self.dsack_recv += dsack_recv;
        self.dsack_ofo_recv += dsack_ofo_recv;
        self.dsack_recv_segs += dsack_recv_segs;
        self.dsack_ignored_dubious += dsack_ignored_dubious;
        self.full_undo += full_undo;
        self.partial_undo += partial_undo;
        self.dsack_undo += dsack_undo;
        self.loss_undo += loss_undo;
        self.spurious_rtos += spurious_rtos;
        self.loss_probe_recovery += loss_probe_recovery;
        self.sack_reorder += sack_reorder;
        self.ts_reorder += ts_reorder;
        self.reno_reorder += reno_reorder;
        self.reno_recovery += reno_recovery;
        self.sack_recovery += sack_recovery;
        self.delivered += delivered;
        self.delivered_ce += delivered_ce;
        self.syn_memory_drop += syn_memory_drop;
    }

    /// The counters under the names Linux gives them in `/proc/net/netstat`
    /// and `/proc/net/snmp` (as `nstat` prints them), for those finack
    /// counts the same way; finack's own counters keep finack names.
    pub fn linux_counters(&self) -> [(&'static str, u64); 71] {
        [
            ("ActiveOpens", self.active_opens),
            ("PassiveOpens", self.passive_opens),
            ("InSegs", self.packets_in),
            ("OutSegs", self.packets_out),
            ("InErrs", self.malformed),
            ("InCsumErrors", self.bad_checksum),
            ("OutRsts", self.rst_sent),
            ("RetransSegs", self.retransmits),
            ("EstabResets", self.resets_received),
            // Linux counts every SYN or handshake ACK a listener drops in
            // ListenDrops, the accept-queue overflows also in ListenOverflows.
            (
                "ListenDrops",
                self.accept_queue_overflow
                    + self.syn_queue_overflow
                    + self.syn_backlog_drop
                    + self.per_source_drops
                    + self.syn_memory_drop,
            ),
            ("ListenOverflows", self.accept_queue_overflow),
            ("TCPReqQFullDrop", self.syn_queue_overflow),
            ("TCPReqQFullDoCookies", self.syn_cookies_sent),
            ("SyncookiesSent", self.syn_cookies_sent),
            ("SyncookiesRecv", self.syn_cookies_accepted),
            ("SyncookiesFailed", self.syn_cookies_failed),
            ("TCPChallengeACK", self.challenge_acks),
            ("TCPACKSkippedChallenge", self.challenge_acks_suppressed),
            ("TCPACKSkippedSeq", self.ack_skipped_seq),
            ("TCPACKSkippedPAWS", self.ack_skipped_paws),
            ("PAWSEstab", self.paws_rejected),
            ("PAWSActive", self.paws_active),
            ("TCPFastRetrans", self.fast_retransmits),
            ("TCPLossProbes", self.loss_probes),
            ("TCPRetransFail", self.retrans_fail),
            ("TCPAbortOnTimeout", self.timeouts),
            ("TCPAbortOnData", self.abort_on_data),
            ("TCPAbortOnLinger", self.abort_on_linger),
            ("TCPDeferAcceptDrop", self.defer_accept_drop),
            ("TCPAckCompressed", self.ack_compressed),
            ("TCPAbortOnClose", self.abort_on_close),
            ("DelayedACKs", self.delayed_acks),
            ("DelayedACKLost", self.delayed_ack_lost),
            ("TCPTimeouts", self.rto_expired),
            ("TCPSynRetrans", self.syn_retrans),
            ("TCPKeepAlive", self.keepalive_probes),
            ("TCPWinProbe", self.window_probes),
            ("TCPAbortOnMemory", self.abort_on_memory),
            ("TCPMemoryPressures", self.memory_pressures),
            ("PruneCalled", self.prune_called),
            ("OfoPruned", self.ofo_pruned),
            ("RcvPruned", self.rcv_pruned),
            ("TCPRcvQDrop", self.rcvq_drop),
            ("TCPOFODrop", self.ofo_drop),
            ("BeyondWindow", self.beyond_window),
            ("TCPZeroWindowDrop", self.zero_window_drop),
            ("TCPDSACKOldSent", self.dsack_old_sent),
            ("TCPDSACKOfoSent", self.dsack_ofo_sent),
            ("TCPDSACKRecv", self.dsack_recv),
            ("TCPDSACKOfoRecv", self.dsack_ofo_recv),
            ("TCPDSACKRecvSegs", self.dsack_recv_segs),
            ("TCPDSACKIgnoredDubious", self.dsack_ignored_dubious),
            ("TCPFullUndo", self.full_undo),
            ("TCPPartialUndo", self.partial_undo),
            ("TCPDSACKUndo", self.dsack_undo),
            ("TCPLossUndo", self.loss_undo),
            ("TCPSpuriousRTOs", self.spurious_rtos),
            ("TCPLossProbeRecovery", self.loss_probe_recovery),
            ("TCPSACKReorder", self.sack_reorder),
            ("TCPTSReorder", self.ts_reorder),
            ("TCPRenoReorder", self.reno_reorder),
            ("TCPRenoRecovery", self.reno_recovery),
            ("TCPSackRecovery", self.sack_recovery),
            ("TCPDelivered", self.delivered),
            ("TCPDeliveredCE", self.delivered_ce),
            ("finackSynMemoryDrops", self.syn_memory_drop),
            ("TCPTimeWaitOverflow", self.time_wait_overflow),
            ("TW", self.time_wait_entered),
            ("TWRecycled", self.time_wait_reused),
            ("finackPerSourceDrops", self.per_source_drops),
            ("finackIdleTimeouts", self.idle_timeouts),
        ]
    }
}
