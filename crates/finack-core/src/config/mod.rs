//! Tunables. Every value is a public field; [`Config::linux()`] (the default) mimics
//! a current Linux kernel's defaults and [`Config::rfc9293()`] the values the RFCs
//! recommend.

use core::time::Duration;

use crate::cc::{CongestionAlgorithm, CubicParams};

mod kinds;
mod profiles;
pub use kinds::{EarlyRetransmit, EcnMode, IdleRestart, InitialWindow, MtuProbing, Pacing};

/// Engine configuration. Construct with [`Config::linux()`] or
/// [`Config::rfc9293()`] and adjust fields as needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Length of TIME-WAIT, i.e. 2*MSL (RFC 9293 MUST-13). Linux: 60 s (TCP_TIMEWAIT_LEN).
    pub time_wait: Duration,
    /// How long an orphaned connection (closed by the application) may stay in
    /// FIN-WAIT-2 before it is dropped. Linux: `tcp_fin_timeout` = 60 s. `None`: forever.
    pub fin_wait2_timeout: Option<Duration>,
    /// Retransmission timeout before any RTT sample (RFC 6298 §2.1: 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the RTO. Linux: 200 ms; RFC 6298 §2.4: 1 s.
    pub rto_min: Duration,
    /// Upper bound of the RTO. Linux: 120 s; RFC 6298 §2.5 allows >= 60 s.
    pub rto_max: Duration,
    /// Apply `rto_min` as Linux does, as a floor on the variance term
    /// (`RTO = SRTT + max(4*RTTVAR, rto_min)`), instead of as a floor on the
    /// whole RTO (RFC 6298 §2.4).
    pub rto_min_on_variance: bool,
    /// SYN retransmissions before `connect` fails with a timeout. Linux: `tcp_syn_retries` = 6.
    pub syn_retries: u32,
    /// The first this many SYN retransmission timeouts keep the initial RTO
    /// instead of doubling it, and add to `syn_retries` (Linux 6.5+
    /// `tcp_syn_linear_timeouts` = 4: SYNs at 0, 1, 2, 3, 4, 5, 7, 11 ... s,
    /// `connect` failing after about 131 s). 0: RFC 6298 §5.5 doubling from
    /// the first timeout.
    pub syn_linear_timeouts: u32,
    /// Thin streams time out linearly (Linux `tcp_thin_linear_timeouts`,
    /// default off; per connection TCP_THIN_LINEAR_TIMEOUTS): an
    /// established connection with fewer than four segments in flight
    /// keeps its RTO undoubled for its first six timeouts in a row, then
    /// backs off as usual (tcp_retransmit_timer(), TCP_THIN_LINEAR_RETRIES).
    pub thin_linear_timeouts: bool,
    /// In SYN-SENT, a SYN,ACK whose timestamp echo is not between our first
    /// SYN's timestamp and now is answered with a reset and otherwise
    /// ignored (Linux tcp_rcv_synsent_state_process(), TcpExtPAWSActive);
    /// and an unacceptable ACK there, besides its reset, sends the SYN again
    /// at once when it was not resent yet (the peer may have lost an older
    /// connection's RST or FIN: a half-open connection).
    pub paws_active: bool,
    /// A fast recovery shown needless when it ends (every retransmission
    /// D-SACKed, or an ACK echoing a timestamp older than the first
    /// retransmission: the original was only late) gives back the window
    /// and ssthresh from before it (Linux tcp_try_undo_recovery(),
    /// TCPFullUndo; RFC 3522's Eifel detection with timestamps).
    pub undo_recovery: bool,
    /// A genuine D-SACK counts the segments it reports as delivered, for
    /// the window's growth and proportional rate reduction (Linux
    /// tcp_dsack_seen(): "a spurious retransmission is delivered", since
    /// 4.x's delivery counting). Off: only data newly SACKed or
    /// acknowledged counts (RFC 6937's DeliveredData).
    pub dsack_delivered: bool,
    /// Without SACK, a fast recovery whose recovery point is acknowledged
    /// exactly is held until an ACK goes beyond it, so that duplicate ACKs
    /// for it start no new recovery (Linux tcp_try_undo_recovery(),
    /// tcp_is_non_sack_preventing_reopen(), after RFC 2582). Off: it ends
    /// at the recovery point (RFC 6582 §3.2 step 3).
    pub reno_recovery_hold: bool,
    /// Without SACK, duplicate ACKs count as Linux's emulated SACKs
    /// (`sacked_out`) wherever Linux uses them, beyond fast recovery's PRR:
    /// outside a recovery each one takes a segment out of the flight, so
    /// every duplicate ACK lets a new segment out (not only RFC 3042's first
    /// two); more of them than segments outstanding above the lost one are
    /// reordering, and set the reordering degree from the flight (Linux
    /// tcp_check_reno_reordering(), TCPRenoReorder), which fast retransmit
    /// then waits for (tcp_newreno_mark_lost() compares with
    /// tp->reordering). Off: RFC 3042 and `dupthresh` (RFC 5681 §3.2).
    pub reno_sacked_out: bool,
    /// Retry limits are also time budgets (Linux tcp_timer.c:
    /// retransmits_timed_out() with tcp_model_timeout()): a handshake gives
    /// up once as long has passed since its first SYN (or SYN,ACK) as
    /// `syn_retries` (or `synack_retries`) doubling timeouts from
    /// `rto_initial` would take, (2^(n+1) - 1) x RTO, each step at most
    /// `rto_max` (so linear timeouts do not stretch a short budget); a
    /// connection gives up once that long has passed since the first
    /// timeout of a run without progress for `retries2` timeouts from
    /// `rto_min` (924.6 s for 15), so a long RTO means fewer tries. Off: the
    /// counts alone.
    pub time_budget: bool,
    /// SYN-ACK retransmissions before a half-open passive connection is dropped.
    /// Linux: `tcp_synack_retries` = 5.
    pub synack_retries: u32,
    /// Most orphans: connections the application closed (or aborted) that
    /// are still finishing their close as full TCBs (FIN-WAIT-1/2, CLOSING,
    /// LAST-ACK; TIME-WAIT has its own compact table and does not count).
    /// Linux `tcp_max_orphans`, whose default depends on memory (65536 on a
    /// machine with a few GiB); the Linux profile takes 65536. As in Linux
    /// (tcp.c: `__tcp_close()` -> `tcp_check_oom()`), a `close` that makes
    /// more orphans than this resets the connection at once, and an
    /// orphan's retransmission or probe timer resets it while there are more
    /// (more than half as many for one that has sent nothing for twice
    /// `rto_max` or is past its retries, tcp_timer.c:
    /// `tcp_out_of_resources()`); both count
    /// [`Stats::abort_on_memory`](crate::Stats::abort_on_memory).
    pub max_orphans: usize,
    /// Buffer memory limits of the whole endpoint, in bytes, like Linux's
    /// `tcp_mem` = (low, pressure, high), which Linux counts in pages. What
    /// is counted is the send and receive rings of every connection
    /// (allocations, used or not, with their bookkeeping; see
    /// [`Endpoint::buffer_memory`](crate::Endpoint::buffer_memory)), kept
    /// as a running total, never by walking the connections.
    ///
    /// - Above `pressure` the endpoint enters memory pressure, which it
    ///   leaves once back at or below `low`: new windows are clamped to four
    ///   segments (Linux `tcp_adjust_rcv_ssthresh()`), rings that empty are
    ///   released at once, and a receive ring may grow only while the
    ///   connection holds at most its share of `high` (Linux
    ///   `__sk_mem_raise_allocated()`), below 4 KiB always. When growth is
    ///   refused, out-of-order data lying beyond the arriving segment is
    ///   pruned (Linux `tcp_prune_queue()`, `tcp_prune_ofo_queue()`).
    /// - Above `high`, no receive ring grows: arriving data that would need
    ///   more memory is dropped unacknowledged (the peer retransmits it),
    ///   except in-order data for a connection that holds no received data,
    ///   so every connection keeps making progress; SYNs to listeners are
    ///   dropped (an ACK returning a valid SYN cookie still opens its
    ///   connection); closing or timing out orphans holding queued data are
    ///   reset.
    ///
    /// The total can pass `high` only by those forced stores, at most one
    /// ring of `max(1 KiB, 2 × segment)` plus bookkeeping per connection
    /// that holds no received data, and by send rings: what the
    /// application writes is counted but limited only by the send buffer.
    /// Data already acknowledged is never thrown away and no established
    /// connection is aborted; only orphans are. `None` (both profiles):
    /// no limit, as if the limits were infinite.
    pub tcp_mem: Option<(usize, usize, usize)>,
    /// Data/FIN retransmissions before the connection is aborted (RFC 9293 R2,
    /// MUST-20). Linux: `tcp_retries2` = 15.
    pub retries2: u32,
    /// Retransmissions before an orphaned connection (closed by the application,
    /// FIN unacknowledged) is aborted. Linux: `tcp_orphan_retries` = 0, meaning 8.
    pub orphan_retries: u32,
    /// Default TCP_USER_TIMEOUT: the longest data may stay unacknowledged before
    /// the connection is aborted (RFC 5482). `None` = off (Linux default).
    pub user_timeout: Option<Duration>,
    /// Idle time before the first keep-alive probe (RFC 9293 MUST-28: at least two
    /// hours by default). Linux: `tcp_keepalive_time` = 7200 s. Keep-alive itself is
    /// off unless the application turns it on per connection (MUST-25).
    pub keepalive_time: Duration,
    /// Time between unanswered probes. Linux: `tcp_keepalive_intvl` = 75 s.
    pub keepalive_interval: Duration,
    /// Unanswered probes before the connection is declared dead. Linux:
    /// `tcp_keepalive_probes` = 9.
    pub keepalive_probes: u32,
    /// Link MTU used to derive the MSS we announce (RFC 9293 MUST-67: MSS from MMS_R).
    pub mtu: u16,
    /// RFC 4821 path MTU probing ([`MtuProbing`]). Linux: `tcp_mtu_probing` = 0.
    pub mtu_probing: MtuProbing,
    /// The segment size probing starts from and falls back to (Linux
    /// `tcp_base_mss` = 1024).
    pub base_mss: u16,
    /// Probing stops when the search range is narrower than this many bytes
    /// (Linux `tcp_probe_threshold` = 8).
    pub probe_threshold: u16,
    /// After this long the search starts again from the top (Linux
    /// `tcp_probe_interval` = 600 s).
    pub probe_interval: Duration,
    /// Initial congestion window.
    pub initial_window: InitialWindow,
    /// Offer and accept the window scale option (RFC 7323).
    pub window_scaling: bool,
    /// The receive window shift we announce when window scaling is on. Linux
    /// derives it from the largest receive buffer a connection may grow to (the
    /// `tcp_rmem` maximum): see [`Config::window_scale_for`]. The default
    /// maximum of 6 MiB gives 7.
    pub window_scale: u8,
    /// Offer and accept SACK-permitted (RFC 2018).
    pub sack: bool,
    /// Report data received twice in a D-SACK block (RFC 2883), where SACK
    /// was agreed. Linux `tcp_dsack` = 1; off in the RFC 9293 profile.
    pub dsack: bool,
    /// Offer and accept timestamps (RFC 7323).
    pub timestamps: bool,
    /// Add a per-connection random offset to TSval (Linux since 4.10).
    pub timestamp_offsets: bool,
    /// Receive buffer size per connection, in bytes: where it starts (Linux
    /// `tcp_rmem[1]`); with `rcvbuf_autotune` it may grow to
    /// `recv_buffer_max`.
    pub recv_buffer: usize,
    /// Receive-buffer autotuning (Linux `tcp_moderate_rcvbuf` = 1, "dynamic
    /// right-sizing", tcp_input.c: tcp_rcv_space_adjust(),
    /// tcp_rcvbuf_grow()): once per receiver RTT estimate, a connection whose
    /// application took more bytes than in the measurement before grows its
    /// receive buffer, and so its window, to about twice that plus room for
    /// the sender's growth, up to `recv_buffer_max`. Setting a connection's
    /// buffer (SO_RCVBUF, `Endpoint::set_recv_buffer`) turns it off for
    /// that connection, as in Linux.
    pub rcvbuf_autotune: bool,
    /// The largest receive buffer autotuning grows to (Linux `tcp_rmem[2]`:
    /// 6 MiB).
    pub recv_buffer_max: usize,
    /// Send buffer size per connection, in bytes: where it starts (Linux
    /// `tcp_wmem[1]`); with `sndbuf_autotune` it may grow to
    /// `send_buffer_max`.
    pub send_buffer: usize,
    /// Send-buffer autotuning (Linux tcp_new_space() -> tcp_sndbuf_expand(),
    /// always on there): when an ACK frees room for a blocked writer and
    /// the congestion window is not full, the buffer grows to twice the
    /// congestion window's segments at Linux's worst-case cost per segment.
    /// Setting SO_SNDBUF (`Endpoint::set_send_buffer`) turns it off for
    /// that connection.
    pub sndbuf_autotune: bool,
    /// The largest send buffer autotuning grows to (Linux `tcp_wmem[2]`:
    /// 4 MiB).
    pub send_buffer_max: usize,
    /// Delayed acknowledgments (RFC 9293 SHLD-18; MUST-40: under 0.5 s): wait this
    /// long for more data or a reply to carry the ACK, but ACK at least every
    /// second full-sized segment (SHLD-19). Linux: 40 ms (TCP_DELACK_MIN). `None`
    /// acknowledges every segment at once.
    pub delayed_ack: Option<Duration>,
    /// Adapt the delayed-ACK time as Linux does (`icsk_ack.ato`): from
    /// `delayed_ack` at the first data it follows the gaps between
    /// arrivals, doubles each time the timer sends an ACK alone (up to the
    /// RTO), and is bounded by the smoothed RTT and by this (Linux 5.10+
    /// `icsk_delack_max`, TCP_DELACK_MAX 200 ms; 3.11 HZ/2). A read that
    /// empties the buffer of a small pushed segment acknowledges it at
    /// once (__tcp_cleanup_rbuf()). `None`: always `delayed_ack`.
    pub delayed_ack_max: Option<Duration>,
    /// Segments no larger than half the largest window the peer has
    /// offered (all of it up to 536 bytes), as Linux bounds its MSS
    /// (tcp_bound_to_half_wnd() in tcp_sync_mss()): a peer offering 1000
    /// bytes gets 500-byte segments until its window grows. Off: the MSS
    /// the path allows (RFC 9293 §3.7.1).
    pub mss_half_window: bool,
    /// A reset flushes the data received and not yet read (RFC 9293
    /// §3.10.7.4: "All segment queues should be flushed"); Linux keeps it
    /// readable unless sysctl `tcp_purge_receive_queue` (7.x) is set.
    pub purge_on_reset: bool,
    /// Urgent data arrives as Linux (and BSD) hand it over: the byte before
    /// the urgent pointer is an out-of-band byte, out of the stream unless
    /// the connection has SO_OOBINLINE, read with `Endpoint::recv_oob`; reads
    /// stop in front of it. Off: urgent data stays in the stream (RFC 9293
    /// §3.8.5); the pointer is reported either way.
    pub urgent_oob: bool,
    /// The urgent pointer names the last urgent byte itself (RFC 1122
    /// §4.2.2.4; Linux `tcp_stdurg` = 1) rather than the byte after it, as
    /// BSD and Linux by default read it (RFC 6093 §4: every stack does).
    pub stdurg: bool,
    /// Take the data and FIN a SYN,ACK carries (RFC 9293 §3.10.7.3:
    /// "continue processing at the sixth step"). Linux, without TCP Fast
    /// Open, acknowledges only the SYN and drops them, and the peer sends
    /// them again.
    pub synack_text: bool,
    /// Segments acknowledged at once at the start of a connection and after
    /// out-of-order data ("quick ACK" mode, Linux TCP_MAX_QUICKACKS = 16), so the
    /// peer's slow start is not held back by delayed ACKs.
    pub quickacks: u32,
    /// Out-of-order data starts quick-ACK mode again (and ends interactive
    /// mode), as Linux did before 4.19; since then only a duplicate or
    /// out-of-window segment does (tcp_data_queue()), so after the hole is
    /// filled the ACKs are delayed again.
    pub ooo_quickack: bool,
    /// SACK compression (Linux 4.18+ `tcp_comp_sack_nr` = 44): while
    /// out-of-order data is held, the first three duplicate ACKs for one
    /// RCV.NXT go at once, later ones wait for `comp_sack_delay` (at most
    /// 5% of the RTT) and one ACK with the newest SACK blocks stands for up
    /// to this many (tcp_input.c: __tcp_ack_snd_check(); tcp_timer.c:
    /// tcp_compressed_ack_kick()). 0: every out-of-order segment is
    /// acknowledged at once (RFC 5681 §4.2).
    pub comp_sack_nr: u8,
    /// The longest a compressed SACK waits (Linux `tcp_comp_sack_delay_ns`
    /// = 1 ms).
    pub comp_sack_delay: Duration,
    /// The timer's slack (Linux `tcp_comp_sack_slack_ns` = 100 us): the ACK
    /// goes at the end of it, the latest the kernel's timer may fire.
    pub comp_sack_slack: Duration,
    /// Interactive ("pingpong") mode: once data goes out within
    /// `delayed_ack` of the last data received this many times in a row,
    /// quick ACKs stop and ACKs wait for a reply to carry them, until a
    /// delayed ACK has to go out alone (Linux `tcp_pingpong_thresh`, 1 in
    /// 6.x: tcp_event_data_sent(), tcp_in_quickack_mode(),
    /// tcp_delack_timer_handler()). 0: never.
    pub pingpong_thresh: u8,
    /// Most segments one ACK may grow the window by in slow start (RFC 3465's
    /// L; RFC 5681 §3.1: one). `None`: by every segment it acknowledges, as
    /// Linux does (`tcp_slow_start`), never past ssthresh.
    pub slow_start_abc: Option<u32>,
    /// Grow the congestion window only while the sender uses it: it was
    /// full, or (in slow start) is under twice the most segments outstanding
    /// (Linux `tcp_is_cwnd_limited`; RFC 7661 §4 in spirit). Off: every ACK
    /// of new data grows it (RFC 5681).
    pub cwnd_limited_growth: bool,
    /// Probe a zero window with one octet of data (RFC 9293 §3.8.6.1,
    /// MUST-36). Off: with a bare ACK carrying SND.UNA - 1, as Linux's
    /// `tcp_xmit_probe_skb` does, sending data only once the window opens.
    pub zero_window_probe_data: bool,
    /// How long to wait before trying again a zero-window probe, or the
    /// retransmission of a retransmission timeout, that the host's device
    /// refused (`Endpoint::set_local_drop`): Linux `TCP_RESOURCE_PROBE_INTERVAL`,
    /// 500 ms, without backing off (tcp_output.c: tcp_send_probe0(),
    /// tcp_timer.c: tcp_retransmit_timer()). `None`: the timer backs off as
    /// if the segment had left.
    pub resource_probe_interval: Option<Duration>,
    /// TCP_USER_TIMEOUT also bounds probing with the persist timer, counted
    /// from the first probe (Linux 5.11 and later, tcp_timer.c:
    /// tcp_probe_timer() with `icsk_probes_tstamp`). Off: the user timeout
    /// runs only while data is outstanding (RFC 9293 §3.10.8).
    pub user_timeout_probes: bool,
    /// Proportional Rate Reduction in SACK-based recovery (RFC 6937, Linux's
    /// `tcp_cwnd_reduction`): the window steps down to ssthresh as ACKs
    /// arrive instead of dropping to it at once (RFC 6675 §5).
    pub prr: bool,
    /// PRR's slow-start reduction bound lets one segment more out on every
    /// ACK that finds no more in flight than ssthresh, as Linux 3.7 to 4.1
    /// did (tcp_cwnd_reduction()). Off: only on an ACK that advances
    /// SND.UNA, as current kernels do.
    pub prr_ssrb_always: bool,
    /// FACK (Linux `tcp_fack`, on by default until 4.15 removed it):
    /// without RACK, a segment counts as lost once `dupthresh` segments,
    /// SACKed or not, lie between it and the highest SACKed one. Off:
    /// RFC 6675 IsLost, counting SACKed octets only.
    pub fack: bool,
    /// Announce a window opened by the application's reads as Linux's
    /// `tcp_cleanup_rbuf` does (when the open part of the advertised window
    /// is at most half the largest and the window has at least doubled).
    /// Off: RFC 9293 §3.8.6.2.2, once the right edge can move by
    /// min(RCV.BUFF/2, Eff.snd.MSS).
    pub linux_window_update: bool,
    /// Receive memory as Linux counts it: the receive buffer
    /// (`recv_buffer`, SO_RCVBUF doubled) is a memory limit, each segment
    /// held costs the memory Linux takes for its packet on a TUN device
    /// (`truesize`), and the window is the share of free memory the
    /// payload is measured to fill (`scaling_ratio`), under `rcv_ssthresh`
    /// and `window_clamp` (Linux tcp_grow_window(), __tcp_select_window()).
    /// Acceptance follows Linux too: data past the window is taken whole
    /// while the queue is empty, refused when memory is over the limit.
    /// Off: the window is the buffer's free bytes.
    pub rcv_memory: bool,
    /// Let the window shrink with the free memory when window scaling is
    /// in use (Linux `tcp_shrink_window`, off by default; RFC 7323 §2.4).
    pub shrink_window: bool,
    /// The window of a SYN or SYN,ACK is a whole number of our MSS (less the
    /// timestamps a SYN,ACK agrees to), as Linux's tcp_select_initial_window()
    /// makes it: 20000 bytes of room and MSS 1460 offer 18980.
    pub quantize_syn_window: bool,
    /// PAWS as Linux applies it (tcp_input.c: tcp_paws_discard()): a TSval
    /// one tick older than TS.Recent is still taken (TCP_PAWS_WINDOW), and
    /// so is a pure duplicate ACK at RCV.NXT that changes no window and is
    /// at most an RTO's worth of ticks old (tcp_disordered_ack(): "PAWS as
    /// specified is broken wrt. pure-ACKs"). Off: RFC 7323 §5.3, any TSval
    /// below TS.Recent is dropped.
    pub paws_linux: bool,
    /// A segment may start at the right edge of the receive window, as
    /// Linux's tcp_sequence() accepts (`!after(seq, rcv_nxt + window)`): an
    /// ACK there is processed. Off: RFC 9293 §3.10.7.4, SEG.SEQ < RCV.NXT +
    /// RCV.WND.
    pub linux_sequence_check: bool,
    /// Slow start after idle (Linux `tcp_slow_start_after_idle`).
    pub idle_restart: IdleRestart,
    /// Congestion control. Linux: CUBIC (RFC 9438); RFC 5681 NewReno selectable.
    pub congestion: CongestionAlgorithm,
    /// NewReno counts as Linux's tcp_cong.c does: the window in whole
    /// segments, one more per window of ACKed segments (`snd_cwnd_cnt`,
    /// `tcp_cong_avoid_ai`), ssthresh half the window (`tcp_reno_ssthresh`).
    /// Off: RFC 5681 in octets (eq. 3, and eq. 4's half of FlightSize).
    /// CUBIC always counts as Linux's tcp_cubic.c does.
    pub cong_in_segments: bool,
    /// CUBIC's tunables (Linux's tcp_cubic module parameters).
    pub cubic: CubicParams,
    /// Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2; Linux
    /// `tcp_reordering` = 3).
    pub dupthresh: u32,
    /// Nagle's algorithm on by default (RFC 9293 SHLD-7); `set_nodelay` disables it
    /// per connection (MUST-17).
    pub nagle: bool,
    /// Ephemeral port range for `connect` with port 0. Linux: 32768..=60999.
    pub ephemeral_ports: (u16, u16),
    /// Let `connect` reuse a 4-tuple still in TIME-WAIT when both ends use
    /// timestamps and the entry is older than `tw_reuse_delay` (Linux
    /// `tcp_tw_reuse` = 1; its default 2 allows it on loopback only, which
    /// a TUN device never is).
    pub tw_reuse: bool,
    /// How old a TIME-WAIT entry must be before `tw_reuse` lets `connect`
    /// take its 4-tuple (Linux `tcp_tw_reuse_delay` = 1000 ms, counted from
    /// when the entry entered TIME-WAIT: tcp_twsk_unique()).
    pub tw_reuse_delay: Duration,
    /// Ignore RST segments in TIME-WAIT instead of closing early (RFC 1337
    /// "TIME-WAIT assassination", fix TWA1). Off in [`Config::linux`], as the
    /// kernel's `tcp_rfc1337` sysctl defaults to 0 (an in-window RST ends a
    /// TIME-WAIT entry: Linux tcp_minisocks.c `tcp_timewait_state_process()`);
    /// on in [`Config::rfc9293`], which protects TIME-WAIT as RFC 1337 advises.
    pub rfc1337: bool,
    /// A SYN may reopen a connection whose 4-tuple is in TIME-WAIT when its sequence
    /// number (or timestamp) is newer (RFC 9293 MAY-2, RFC 6191).
    pub time_wait_syn_reuse: bool,
    /// RFC 5961's defences against blind in-window attacks: a RST resets
    /// only at exactly RCV.NXT (§3), a SYN in a synchronized state is never
    /// taken for a reset (§4), and a segment whose ACK lies more than
    /// MAX.SND.WND below SND.UNA is dropped (§5); each otherwise gets a
    /// (rate-limited) challenge ACK. On in both profiles (RFC 9293 adopts
    /// them; Linux has them since 3.6). Off: RFC 793's rules, under which a
    /// blind attacker only has to land in the window; kept to show what
    /// RFC 5961 buys (`finack sim attack blind-inject`).
    pub rfc5961: bool,
    /// RFC 5961 §5.2's lower bound on SEG.ACK is SND.UNA minus the smaller
    /// of MAX.SND.WND and the octets acknowledged so far, so no ACK below
    /// ISS+1 (of octets never sent) is taken as an old duplicate: it gets
    /// a challenge ACK. Linux does this since 6.7 (tcp_input.c: tcp_ack(),
    /// `min(max_window, bytes_acked)`); the RFC's bound is MAX.SND.WND alone.
    pub old_ack_floor_iss: bool,
    /// Least time between two challenge ACKs (RFC 5961 §7) or other replies to
    /// out-of-window segments on one connection. Linux: `tcp_invalid_ratelimit` = 500 ms.
    pub challenge_ack_interval: Duration,
    /// IP TTL / hop limit of outgoing packets (RFC 9293 MUST-49).
    pub ttl: u8,
    /// Default Diffserv field (IPv4 TOS / IPv6 Traffic Class) of outgoing packets
    /// (RFC 9293 MUST-48); `Endpoint::set_tos` changes it per connection.
    pub tos: u8,
    /// Tail loss probe (RFC 8985 §7): when the last segments of a flight may be
    /// lost and no ACK would arrive to reveal it, send a probe after about two
    /// round-trip times instead of waiting for the retransmission timeout. Linux:
    /// on (`tcp_early_retrans` = 3); off in the RFC 9293 profile.
    pub tail_loss_probe: bool,
    /// RACK loss detection (RFC 8985 §6, Linux `tcp_recovery` = 1, the
    /// kernel's default): with SACK, a segment is lost once a segment sent
    /// after it was delivered and RACK.rtt plus a reordering window (a
    /// quarter of the minimum RTT, none once `dupthresh` segments are SACKed
    /// or recovery runs, widened by D-SACKs) has passed since it was sent; a
    /// timer waits out the window. It replaces the duplicate-ACK count and
    /// RFC 6675's IsLost, finds lost retransmissions, and keeps loss probes
    /// to the open state as Linux does. Off: RFC 5681/6675 recovery (the
    /// RFC 9293 profile).
    pub rack: bool,
    /// F-RTO (RFC 5682 §3, the SACK-enhanced version; Linux `tcp_frto` =
    /// 2, the kernel's default), in the loss state that follows a
    /// retransmission timeout with `rack` on: the first ACK that advances
    /// SND.UNA lets new data out instead of more retransmissions, and an
    /// ACK or SACK of data never retransmitted then proves the timeout
    /// spurious: the window and threshold from before it come back. Off:
    /// every timeout is a loss (RFC 6298 §5).
    pub frto: bool,
    /// Without timestamps, take an RTT sample from every ACK that covers
    /// new data: the time since the oldest newly acknowledged segment was
    /// sent, none if any of them was retransmitted (Linux tcp_input.c:
    /// tcp_clean_rtx_queue()'s seq_rtt from the skbs' send times, Karn's
    /// rule by TCPCB_RETRANS). It reads the record of sent segments RACK
    /// keeps, so it applies with `rack`. Off: one segment at a time is
    /// timed (RFC 6298 §3's sampling, the RFC 9293 profile).
    pub rtt_every_ack: bool,
    /// Hold back the next part of a unit of queued data (skb) that the
    /// congestion window lets out only in part, while an ACK is expected
    /// soon, so that it leaves as one larger packet (Linux tcp_output.c:
    /// tcp_tso_should_defer(), with `tcp_tso_win_divisor` 3). It reads the
    /// record of sent segments RACK keeps, so it applies with `rack`. Off in
    /// both profiles for now (see `Config::linux()`).
    pub tso_defer: bool,
    /// Pace data packets (see [`Pacing`]). Off in every profile: Linux
    /// paces only under the `fq` queueing discipline (or with BBR or
    /// `SO_MAX_PACING_RATE`), which a plain device does not have.
    pub pacing: Pacing,
    /// Where RACK is off, decide fast retransmit on a SACK connection by
    /// what is SACKed, as Linux does (tcp_input.c: tcp_time_to_recover()
    /// takes tcp_dupack_heuristics(), the SACKed segments plus one, for the
    /// duplicate-ACK count): once the segment at SND.UNA counts as lost
    /// (RFC 6675 IsLost), not on a count of ACKs, so an ACK that SACKs
    /// nothing new changes nothing. Off: the RFC 5681 count of duplicate
    /// ACKs also starts recovery (RFC 6675 §5 (a)).
    pub sack_dupacks_by_segments: bool,
    /// RFC 5827 early retransmit (Linux 3.5 to 4.10) where RACK is off.
    /// Off in both profiles; [`Config::linux_3_11`] has it delayed.
    pub early_retransmit: EarlyRetransmit,
    /// Least segments per GSO packet (Linux `tcp_min_tso_segs`, 2) when
    /// `linux_push` divides new data into packets as Linux's segmentation
    /// offload does (more at high pacing rates, `tcp_tso_autosize`; no more
    /// than half the congestion window, `tcp_cwnd_test`). `None`: one
    /// segment.
    pub gso_segs_min: Option<u32>,
    /// PSH on every GSO packet of more than one segment (on its last
    /// segment once cut up), pushed or not, as Linux does since 4.10
    /// (tcp_output.c: `__tcp_transmit_skb()` sets PSH when
    /// `tcp_skb_pcount(skb) > 1`, so that the receiver's GRO flushes).
    /// Off (Linux 3.11): only the segment ending a pushed unit carries PSH.
    pub gso_psh: bool,
    /// Divide queued data and set PSH as Linux's `tcp_sendmsg` does: writes
    /// build units (skbs) of at most one GSO packet or half the peer's
    /// largest window, the last unit of each write is pushed (PSH on the
    /// segment carrying its last byte) unless MSG_MORE says more follows, a
    /// write joins the previous one's unit while it is unsent, Nagle follows
    /// Minshall's variant, and a segment sent by the persist timer carries
    /// PSH (`tcp_write_wakeup`). Off: PSH on the segment that empties the
    /// send queue (MUST-61), classic Nagle.
    pub linux_push: bool,
    /// Default TCP_NOTSENT_LOWAT (Linux sysctl `tcp_notsent_lowat`,
    /// `u32::MAX`: no limit): a write takes a new unit of data, and the
    /// connection counts as writable, only while fewer bytes than this are
    /// queued and not yet sent. `Endpoint::set_notsent_lowat` overrides it
    /// per connection.
    pub notsent_lowat: u32,
    /// When a connection a write ran out of room on counts as writable
    /// again: Linux's rule (`sk_stream_is_writeable`) asks for free space of
    /// at least half of what is queued, that is for the queue to drop to two
    /// thirds of the buffer, and for the unsent bytes to be below half the
    /// low-water mark (`tcp_stream_memory_free` with `wake`). Off: as soon as
    /// one byte fits and the unsent bytes are below the low-water mark.
    pub linux_write_space: bool,
    /// Answer a segment that acknowledges data never sent (SEG.ACK > SND.NXT)
    /// with an ACK before dropping it (RFC 9293 §3.10.7.4 fifth step; RFC 5961
    /// §5.2 makes it a rate-limited challenge ACK). Linux 7.x does too
    /// (`tcp_ack()` sends a challenge ACK); kernels before it dropped such a
    /// segment without a reply: off in `linux_3_11()`.
    pub ack_unsent_data_reply: bool,
    /// Resets in Linux's forms. Those the stack sends on its own initiative
    /// (ABORT, close with unread data or `SO_LINGER` 0, a dead keep-alive
    /// peer) also carry ACK = RCV.NXT and the connection's timestamps, as
    /// `tcp_send_active_reset` sends them; data arriving after close is
    /// answered as a closed port answers it (`tcp_v4_send_reset`). Off:
    /// `<SEQ=SND.NXT><CTL=RST>` exactly as RFC 9293 §3.10.5 shows, for both.
    pub linux_resets: bool,
    /// Record every state change for [`crate::Endpoint::take_transitions`].
    pub record_transitions: bool,
    /// The link completes TCP checksums (checksum offload: a TUN device with
    /// virtio-net headers and NEEDS_CSUM, a NIC): segments a connection
    /// emits carry only the pseudo-header sum in the checksum field
    /// ([`finack_wire::TxChecksum::Partial`], Linux CHECKSUM_PARTIAL), which
    /// saves a pass over every payload. Off in both profiles; the `finack`
    /// runtime turns it on for the links whose writer completes checksums.
    /// On a link that does not, the peer drops every such segment.
    pub tx_checksum_offload: bool,
    /// Largest backlog a listener may ask for (Linux `somaxconn` = 4096).
    pub max_backlog: usize,
    /// The most SO_RCVBUF may ask for; the buffer is twice that at most
    /// (Linux `net.core.rmem_max`, 4 MiB in 6.x).
    pub rmem_max: usize,
    /// The most SO_SNDBUF may ask for (Linux `net.core.wmem_max`, 4 MiB in
    /// 6.x); applied by the socket layer (the packetdrill runner), which
    /// hands the engine the doubled value.
    pub wmem_max: usize,
    /// A listener is full only when more than its backlog wait, in the SYN
    /// queue and in the accept queue each, so `listen(fd, 1)` holds two
    /// connections and a backlog of 0 one (Linux sk_acceptq_is_full(),
    /// inet_csk_reqsk_queue_is_full(): `len > sk_max_ack_backlog`). Off:
    /// it holds the backlog, at least one.
    pub linux_backlog: bool,
    /// A handshake that completes while the accept queue is full is reset
    /// instead of left to retry (Linux `tcp_abort_on_overflow` = 1,
    /// tcp_check_req(); the default 0 drops the ACK and lets the SYN,ACK
    /// timer try again).
    pub abort_on_overflow: bool,
    /// Without SYN cookies, a listener drops new SYNs once its half-open
    /// connections leave less than a quarter of this (Linux
    /// `tcp_max_syn_backlog`, 2048 on this size of machine:
    /// tcp_conn_request()).
    pub max_syn_backlog: usize,
    /// SYN cookies (RFC 4987 §3.6, Linux `tcp_syncookies = 1`): when a
    /// listener's SYN queue is full, answer a SYN with a SYN,ACK whose ISN
    /// encodes the connection (a keyed hash of the 4-tuple and the peer's
    /// ISN, a 64-second counter and the MSS) instead of keeping state, and
    /// open the connection when the ACK returns a valid cookie. When the SYN
    /// carries timestamps, the cookie SYN,ACK answers it as a normal SYN,ACK
    /// would (window scaling, SACK-permitted, timestamps, ECE) and keeps the
    /// peer's window scale, SACK and ECN in the low six bits of its TSval,
    /// as Linux does (`net/ipv4/syncookies.c`); the ACK's TSecr brings them
    /// back and the connection uses them. The bits are also covered by the
    /// cookie's hash, so an echo that differs from what was sent fails the
    /// cookie. Without timestamps in the SYN the connection has no window
    /// scaling, SACK, timestamps or ECN (the cookie has no room for them).
    pub syn_cookies: bool,
    /// With `syn_cookies`, answer every SYN with a cookie, queue full or not
    /// (Linux `tcp_syncookies = 2`, for testing). Off in both profiles.
    pub syn_cookies_always: bool,
    /// A connection's send or receive ring that has stayed empty this long is
    /// released (and taken again when data comes), so an idle connection
    /// holds well under 1 KiB while a busy one keeps its ring. Linux frees
    /// socket buffers as they empty (`sk_mem_reclaim`); a whole ring is dearer
    /// to take again than an skb, hence the delay.
    pub buffer_release_delay: Duration,
    /// Classic ECN (RFC 3168): once both SYNs agreed, new data goes out as
    /// ECT(0), a CE mark on arriving data is echoed with ECE until the peer
    /// answers with CWR, and an ECE reduces the congestion window once per
    /// window of data. Linux: `tcp_ecn` = 2 ([`EcnMode::Passive`]); the
    /// RFC 9293 profile accepts too (SHLD-8, see [`Config::rfc9293`]).
    pub ecn: EcnMode,
    /// RFC 3168 §6.1.1.1: a retransmitted SYN no longer asks for ECN (ECE and
    /// CWR clear), in case a middlebox dropped the first one for its ECN
    /// bits. Linux: `tcp_ecn_fallback` = 1.
    pub ecn_fallback: bool,
    /// Most connections in TIME-WAIT at once (Linux `tcp_max_tw_buckets`).
    /// A connection that would enter TIME-WAIT while the table is full is
    /// closed at once instead (its final ACK still goes out) and counted in
    /// `Stats::time_wait_overflow`, as Linux's `tcp_time_wait()` does: the
    /// 4-tuple is then unprotected. Linux sizes the default from memory;
    /// 262,144 is its value on a machine with a few GiB and more.
    pub max_time_wait: usize,
    /// Defences every listener applies unless the application sets its own
    /// ([`crate::Endpoint::set_listener_limits`]): per-source limits and an
    /// idle timeout. All off, as in Linux.
    pub listener_limits: crate::types::ListenerLimits,
    /// The TCP MD5 signature option (RFC 2385, kind 19) is looked at on
    /// arrival as Linux does. finack holds no MD5 keys, so a segment that
    /// carries the option is one Linux finds unexpected: it is dropped
    /// unanswered, whether it is for a connection or a listener
    /// (`tcp_inbound_hash()`, TCPMD5Unexpected), and no RST answers one that
    /// finds no socket (`tcp_v4_send_reset()` only answers a signed segment
    /// whose listener holds a key that verifies it). Off: kind 19 is an
    /// option not understood and ignored (RFC 9293 MUST-6).
    pub md5_option_checks: bool,
}

/// The buffer a socket option asking for `asked` bytes sets, as Linux
/// sk_setsockopt() computes it: at most `max` (net.core.rmem_max /
/// wmem_max) and INT_MAX / 2, doubled for bookkeeping, at least `floor`.
pub(crate) fn socket_buffer(asked: usize, max: usize, floor: usize) -> usize {
    (2 * asked.min(max).min(i32::MAX as usize / 2)).max(floor)
}

impl Config {
    /// The receive buffer SO_RCVBUF of `asked` bytes sets (Linux
    /// __sock_set_rcvbuf(): at least SOCK_MIN_RCVBUF, 2304).
    pub fn so_rcvbuf(&self, asked: usize) -> usize {
        socket_buffer(asked, self.rmem_max, 2304)
    }

    /// The send buffer SO_SNDBUF of `asked` bytes sets (Linux
    /// sk_setsockopt(): at least SOCK_MIN_SNDBUF, 4608).
    pub fn so_sndbuf(&self, asked: usize) -> usize {
        socket_buffer(asked, self.wmem_max, 4608)
    }

    /// The window scale Linux announces for a receive buffer that may grow to
    /// `max_buffer` bytes (`tcp_select_initial_window`): the smallest shift that
    /// lets a 16-bit window field cover the buffer, at most 14 (RFC 7323 §2.3).
    /// 6 MiB (today's default `tcp_rmem` maximum) gives 7; the 15 MiB of
    /// packetdrill's `defaults.sh` gives 8.
    pub const fn window_scale_for(max_buffer: usize) -> u8 {
        let mut shift = 0u8;
        let mut space = max_buffer;
        while space > 65535 && shift < 14 {
            space >>= 1;
            shift += 1;
        }
        shift
    }

    /// The shift a SYN or SYN,ACK offers when the window can never exceed
    /// the least of `bounds` (0: no bound): `window_scale`, lowered to what
    /// carries that bound (Linux tcp_select_initial_window() picks the
    /// shift for the window clamp).
    pub(crate) fn window_scale_within(&self, bounds: &[u32]) -> u8 {
        let shift = self.window_scale.min(14);
        match bounds.iter().copied().filter(|b| *b > 0).min() {
            Some(b) => shift.min(Config::window_scale_for(b as usize)),
            None => shift,
        }
    }

    /// The most memory one connection may hold under this configuration,
    /// whatever the peer sends: its TCB, a send buffer that may have grown to
    /// twice `send_buffer` (the ring doubles as it fills), the receive ring of
    /// `recv_buffer` bytes (or `recv_buffer_max` when autotuning may grow it)
    /// with out-of-order data stored in place, scratch
    /// space for one segment (at most the MTU), and small bounded lists (at
    /// most 16 out-of-order ranges and 16 SACK blocks) plus congestion-control
    /// state, 2 KiB in all. See
    /// [`Endpoint::memory_usage`](crate::Endpoint::memory_usage).
    pub fn connection_memory_limit(&self) -> usize {
        core::mem::size_of::<crate::tcb::Tcb>()
            + 2 * if self.sndbuf_autotune {
                self.send_buffer.max(self.send_buffer_max)
            } else {
                self.send_buffer
            }
            + if self.rcvbuf_autotune {
                self.recv_buffer.max(self.recv_buffer_max)
            } else {
                self.recv_buffer
            }
            + usize::from(self.mtu)
            + 2048
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::linux()
    }
}
