//! The choices a [`Config`](super::Config) field makes among several
//! behaviours.

/// How the initial congestion window is chosen. Either way a handshake
/// whose SYN (or SYN,ACK) was lost starts at one segment (RFC 5681 §3.1,
/// RFC 6298 §5.7): after one resend with `Rfc5681`, after two resends of
/// which one by timeout with `Segments`, as Linux's tcp_init_transfer() does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InitialWindow {
    /// A fixed number of segments (Linux: 10, RFC 6928).
    Segments(u32),
    /// RFC 5681 §3.1: `min(4*SMSS, max(2*SMSS, 4380))` bytes.
    Rfc5681,
}

/// What the congestion window does when a connection sends again after
/// sending nothing for longer than the retransmission timeout.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IdleRestart {
    /// Keep it (Linux with `tcp_slow_start_after_idle` = 0).
    Keep,
    /// RFC 5681 §4.1: restart from RW = min(IW, cwnd).
    Rfc5681,
    /// Linux `tcp_cwnd_restart()` (`tcp_slow_start_after_idle` = 1, the
    /// kernel's default): halve it once per RTO of idleness, not below
    /// min(IW, cwnd), keeping ssthresh at least 3/4 of the old window.
    Linux,
}

/// RFC 5827 early retransmit as Linux had it from 3.5 to 4.10 (the
/// `tcp_early_retrans` sysctl of those kernels; RACK replaced it in 4.11):
/// when fewer than four segments are outstanding, no new data can be sent
/// and all but one are SACKed, fast retransmit does not wait for the
/// duplicate-ACK threshold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EarlyRetransmit {
    /// Wait for the duplicate-ACK threshold (`tcp_early_retrans` = 0, 4;
    /// every kernel since 4.11).
    Off,
    /// Retransmit at once (`tcp_early_retrans` = 1).
    Quick,
    /// Wait a quarter of the smoothed RTT (at least 2 ms) first, unless the
    /// retransmission timer expires before (`tcp_early_retrans` = 2, 3; RFC
    /// 5827 §6 mitigation A.3, Linux tcp_pause_early_retransmit()); any ACK
    /// in the meantime starts the wait again.
    Delayed,
}

/// Packetization-layer path MTU discovery (RFC 4821): when TCP sends a
/// larger probe segment to find a bigger path MTU (Linux `tcp_mtu_probing`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MtuProbing {
    /// Never (Linux `tcp_mtu_probing` = 0, its default).
    Off,
    /// Only once a black hole is suspected: after `retries1` timeouts in a
    /// row (Linux 1, tcp_timer.c: tcp_mtu_probing()).
    AfterBlackHole,
    /// From the start of every connection (Linux 2).
    Always,
}

/// Whether data packets leave paced, each at its departure time, as Linux
/// TCP stamps them for the `fq` queueing discipline.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Pacing {
    /// Packets leave as soon as the windows let them (a plain device queue,
    /// Linux without `fq`, BBR or `SO_MAX_PACING_RATE`).
    #[default]
    Off,
    /// Linux with `tc qdisc ... fq`: every data packet gets a departure
    /// time (tcp_output.c: the earliest departure time model,
    /// tcp_wstamp_ns) spaced by its length at the pacing rate of
    /// tcp_input.c: tcp_update_pacing_rate(); the first ten segments of a
    /// connection go unpaced, and a packet that left late earns up to half
    /// of its own interval back (tcp_update_skb_after_send()).
    Fq,
}

/// Whether a connection uses classic Explicit Congestion Notification
/// (RFC 3168), in the terms of Linux's `net.ipv4.tcp_ecn` sysctl.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EcnMode {
    /// `tcp_ecn = 0`: never. SYNs do not ask for ECN and a SYN that asks is
    /// answered without ECE.
    Off,
    /// `tcp_ecn = 1`: ask for ECN in our SYNs (ECE and CWR set) and accept it
    /// when a peer's SYN asks.
    On,
    /// `tcp_ecn = 2`, Linux's default: accept ECN when a peer's SYN asks
    /// (SYN,ACK with ECE), never ask for it.
    Passive,
}

impl EcnMode {
    /// The mode a `tcp_ecn` sysctl value names; `None` for 3 and above
    /// (Accurate ECN, which finack does not implement) and unknown values.
    pub fn from_sysctl(v: u64) -> Option<EcnMode> {
        match v {
            0 => Some(EcnMode::Off),
            1 => Some(EcnMode::On),
            2 => Some(EcnMode::Passive),
            _ => None,
        }
    }

    /// Do we set ECE and CWR in our SYNs?
    pub fn requests(self) -> bool {
        self == EcnMode::On
    }

    /// Do we agree when a peer's SYN asks?
    pub fn accepts(self) -> bool {
        self != EcnMode::Off
    }
}
