//! One endpoint's state, inferred from what it sent and what it received as
//! seen at the capture point, by the rules of RFC 9293 §3.10 (event
//! processing). Each side of a connection has its own `SideTracker`; the
//! connection driver ([`crate::conn`]) feeds it every segment of the
//! connection twice: once as sent by its sender, once as received by the
//! other side (unless that delivery is known to have failed).

use finack_core::State;
use finack_wire::TcpFlags;

use crate::capture::Packet;

/// `a < b` in sequence space (RFC 9293 §3.4: arithmetic modulo 2^32).
pub(crate) fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a <= b` in sequence space.
pub(crate) fn seq_le(a: u32, b: u32) -> bool {
    a == b || seq_lt(a, b)
}

/// Sequence space a segment occupies: its data, plus one for SYN and for FIN
/// (RFC 9293 §3.4, SEG.LEN).
pub(crate) fn seg_len(p: &Packet) -> u32 {
    p.len + u32::from(p.flags.syn()) + u32::from(p.flags.fin())
}

/// What a packet did to a side's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Old and new state.
    pub from: State,
    /// New state.
    pub to: State,
    /// Why, in words.
    pub cause: String,
}

/// The result of feeding a segment the side sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// Consistent with the inferred state; maybe a state change.
    Ok(Vec<Step>),
    /// The side sent something its inferred state rules out: a delivery we
    /// assumed must have failed (the segment that caused the side's last
    /// change was lost after the capture point).
    Contradiction,
}

/// One side's inferred TCP state.
#[derive(Clone, Debug)]
pub(crate) struct SideTracker {
    /// Current state.
    pub state: State,
    /// Our initial sequence number, once our SYN was seen.
    pub iss: Option<u32>,
    /// The peer's initial sequence number, once its SYN was seen.
    pub irs: Option<u32>,
    /// Highest sequence number we sent (SND.MAX).
    pub snd_max: Option<u32>,
    /// Sequence number of our FIN.
    pub fin_seq: Option<u32>,
    /// Whether our FIN was acknowledged.
    pub fin_acked: bool,
    /// RCV.NXT: the next in-order sequence number expected from the peer.
    pub rcv_nxt: Option<u32>,
    /// The peer's FIN (its sequence number), received but waiting for data
    /// before it (RFC 9293 §3.10.7.4 eighth step: a FIN is processed in
    /// order).
    pub pending_fin: Option<u32>,
    /// Whether the last state change came from a received segment (so a
    /// contradiction can be blamed on that delivery).
    pub last_change_by_receive: bool,
    /// Whether the last state change was an assumed timer running out (so a
    /// contradiction disproves the assumption, not a delivery).
    pub last_change_by_timer: bool,
    /// When the current state was entered (capture microseconds).
    pub since_us: u64,
    /// The end of the last FIN received from the peer, and whether the
    /// pending one repeats it.
    fin_seen: Option<u32>,
    fin_was_retransmitted: bool,
    /// The peer's FIN as this side took it: the acknowledgment that covers
    /// it and when it was applied (capture microseconds).
    fin_taken: Option<(u32, u64)>,
    /// How long after a FIN was taken every segment this side sends must
    /// acknowledge it: a round trip as the handshake showed it, twice
    /// (what was sent before the FIN arrived reaches the capture point
    /// within one), at least 200 ms. None: no handshake seen, no such
    /// check.
    pub fin_ack_margin_us: Option<u64>,
}

impl SideTracker {
    /// A side that starts in `state`.
    pub fn new(state: State) -> SideTracker {
        SideTracker {
            state,
            iss: None,
            irs: None,
            snd_max: None,
            fin_seq: None,
            fin_acked: false,
            rcv_nxt: None,
            pending_fin: None,
            last_change_by_receive: false,
            last_change_by_timer: false,
            since_us: 0,
            fin_seen: None,
            fin_was_retransmitted: false,
            fin_taken: None,
            fin_ack_margin_us: None,
        }
    }

    fn go(&mut self, to: State, cause: impl Into<String>, steps: &mut Vec<Step>, now: u64) {
        if to != self.state {
            self.last_change_by_timer = false;
            steps.push(Step {
                from: self.state,
                to,
                cause: cause.into(),
            });
            self.state = to;
            self.since_us = now;
        }
    }

    /// The side restarted at `now` (its host lost every connection): CLOSED,
    /// whatever it was; what it sends later on this connection is a reset.
    pub fn restart(&mut self, now: u64, steps: &mut Vec<Step>) {
        if self.state != State::Closed {
            self.go(
                State::Closed,
                "sent a SYN with a new ISN on this 4-tuple: it restarted and lost the connection",
                steps,
                now,
            );
            self.last_change_by_receive = false;
        }
    }

    /// A timer that no packet shows ran out at `now` (TIME-WAIT's 2MSL,
    /// FIN-WAIT-2's timeout) - see [`crate::Options`].
    pub fn expire(&mut self, now: u64, time_wait_us: u64, fin_wait2_us: u64) -> Vec<Step> {
        let mut steps = Vec::new();
        match self.state {
            // RFC 9293 §3.10.8: the time-wait timeout deletes the TCB.
            State::TimeWait if now >= self.since_us.saturating_add(time_wait_us) => {
                let at = self.since_us.saturating_add(time_wait_us);
                self.go(
                    State::Closed,
                    "2MSL timer expired (assumed)",
                    &mut steps,
                    at,
                );
            }
            // Linux tcp_fin_timeout: an orphaned FIN-WAIT-2 is not kept forever.
            State::FinWait2 if now >= self.since_us.saturating_add(fin_wait2_us) => {
                let at = self.since_us.saturating_add(fin_wait2_us);
                self.go(
                    State::Closed,
                    "FIN-WAIT-2 timeout (assumed)",
                    &mut steps,
                    at,
                );
            }
            _ => {}
        }
        if !steps.is_empty() {
            self.last_change_by_timer = true;
        }
        steps
    }

    /// The side sent `p` (as seen at the capture point).
    pub fn on_send(&mut self, p: &Packet, now: u64) -> SendOutcome {
        let mut steps = Vec::new();
        let f = p.flags;
        let end = p.seq.wrapping_add(seg_len(p));
        if f.rst() {
            // RFC 9293 §3.10.4 ABORT / §3.10.7.1 reset from a closed port:
            // whatever the side was, it has no connection now.
            if !matches!(self.state, State::Closed | State::Listen) {
                let cause = if f.ack() {
                    "sent RST (abort)"
                } else {
                    "sent RST without ACK: it had no connection"
                };
                self.go(State::Closed, cause, &mut steps, now);
                self.last_change_by_receive = false;
            }
            return SendOutcome::Ok(steps);
        }
        match self.state {
            State::Closed | State::Listen if self.last_change_by_receive => {
                // A closed side that sends anything but RST was not closed:
                // the segment that closed it never reached it.
                return SendOutcome::Contradiction;
            }
            State::TimeWait
                if f.fin() && self.fin_seq.is_some_and(|s| end != s.wrapping_add(1)) =>
            {
                return SendOutcome::Contradiction;
            }
            _ => {}
        }
        // RFC 9293 §3.10.7.4: once a FIN is taken, RCV.NXT covers it and
        // every segment's acknowledgment says so; one sent long after
        // without it shows the FIN never arrived.
        if let (Some((fin_ack, at)), Some(margin)) = (self.fin_taken, self.fin_ack_margin_us) {
            if f.ack() && seq_lt(p.ack, fin_ack) && now > at.saturating_add(margin) {
                return SendOutcome::Contradiction;
            }
        }
        if f.syn() {
            if !f.ack() {
                // RFC 9293 §3.10.1 OPEN (active): CLOSED -> SYN-SENT.
                if matches!(self.state, State::Closed) {
                    self.iss = Some(p.seq);
                    self.go(State::SynSent, "connect(): sent SYN", &mut steps, now);
                }
            } else if matches!(self.state, State::Listen | State::SynSent) {
                // Its SYN-ACK shows it received the peer's SYN (RFC 9293 §3.10.7.2).
                self.irs = Some(p.ack.wrapping_sub(1));
                self.rcv_nxt = Some(p.ack);
                self.go(State::SynReceived, "sent SYN|ACK", &mut steps, now);
            }
            if self.iss.is_none() {
                self.iss = Some(p.seq);
            }
        }
        if f.fin() {
            let fin_at = end.wrapping_sub(1);
            if self.fin_seq.is_none() {
                self.fin_seq = Some(fin_at);
            }
            // RFC 9293 §3.10.4 CLOSE: ESTABLISHED/SYN-RECEIVED -> FIN-WAIT-1,
            // CLOSE-WAIT -> LAST-ACK.
            match self.state {
                State::Established | State::SynReceived => {
                    self.go(State::FinWait1, "close(): sent FIN", &mut steps, now);
                    self.last_change_by_receive = false;
                }
                State::CloseWait => {
                    self.go(State::LastAck, "close(): sent FIN", &mut steps, now);
                    self.last_change_by_receive = false;
                }
                _ => {}
            }
        }
        if self.snd_max.is_none_or(|m| seq_lt(m, end)) {
            self.snd_max = Some(end);
        }
        SendOutcome::Ok(steps)
    }

    /// The side received `p` (sent by its peer, delivered).
    pub fn on_receive(&mut self, p: &Packet, now: u64, passive: bool) -> Vec<Step> {
        let mut steps = Vec::new();
        let f = p.flags;
        let before = self.state;
        match self.state {
            State::Closed => return steps,
            // RFC 9293 §3.10.7.2: LISTEN + SYN -> SYN-RECEIVED.
            State::Listen => {
                if f.syn() && !f.ack() && !f.rst() {
                    self.irs = Some(p.seq);
                    self.rcv_nxt = Some(p.seq.wrapping_add(1));
                    self.go(State::SynReceived, "rcv SYN", &mut steps, now);
                }
            }
            // RFC 9293 §3.10.7.3: SYN-SENT.
            State::SynSent => {
                let acks_syn = f.ack() && self.iss.is_some_and(|i| p.ack == i.wrapping_add(1));
                if f.rst() {
                    if acks_syn {
                        self.go(
                            State::Closed,
                            "rcv RST: connection refused",
                            &mut steps,
                            now,
                        );
                    }
                } else if f.syn() {
                    self.irs = Some(p.seq);
                    self.rcv_nxt = Some(p.seq.wrapping_add(1));
                    if acks_syn {
                        self.go(State::Established, "rcv SYN|ACK", &mut steps, now);
                    } else if !f.ack() {
                        self.go(
                            State::SynReceived,
                            "rcv SYN (simultaneous open)",
                            &mut steps,
                            now,
                        );
                    }
                }
            }
            _ => self.synchronized(p, now, passive, &mut steps),
        }
        if self.state != before {
            self.last_change_by_receive = true;
        }
        steps
    }

    /// RFC 9293 §3.10.7.4: segment arrives in SYN-RECEIVED or a synchronized
    /// state.
    fn synchronized(&mut self, p: &Packet, now: u64, passive: bool, steps: &mut Vec<Step>) {
        let f = p.flags;
        // Second check, RST: SYN-RECEIVED returns to LISTEN when it came from
        // a passive OPEN; every other state closes.
        if f.rst() {
            if self.state == State::SynReceived && passive {
                self.go(State::Listen, "rcv RST", steps, now);
            } else {
                let cause = if self.state == State::TimeWait {
                    "rcv RST in TIME-WAIT (assassinated, RFC 1337)"
                } else {
                    "rcv RST"
                };
                self.go(State::Closed, cause, steps, now);
            }
            return;
        }
        if f.syn() && !f.ack() {
            // Fourth check: a SYN in a synchronized state is answered with a
            // challenge ACK (RFC 5961 §4); it does not change the state.
            return;
        }
        if !f.ack() {
            return;
        }
        // Fifth check, ACK.
        if self.state == State::SynReceived
            && self.iss.is_some_and(|i| seq_le(i.wrapping_add(1), p.ack))
        {
            self.go(State::Established, "rcv ACK", steps, now);
        }
        if let Some(fin) = self.fin_seq {
            if seq_lt(fin, p.ack) {
                self.fin_acked = true;
                match self.state {
                    // FIN-WAIT-1: our FIN acknowledged -> FIN-WAIT-2, unless
                    // the peer's FIN comes with it: then straight to TIME-WAIT
                    // in the eighth step ("if our FIN has been ACKed (perhaps
                    // in this segment), then enter TIME-WAIT").
                    State::FinWait1 if f.fin() || self.pending_fin.is_some() => {}
                    State::FinWait1 => self.go(State::FinWait2, "rcv ACK of FIN", steps, now),
                    // CLOSING: our FIN acknowledged -> TIME-WAIT.
                    State::Closing => self.go(State::TimeWait, "rcv ACK of FIN", steps, now),
                    // LAST-ACK: our FIN acknowledged -> CLOSED.
                    State::LastAck => self.go(State::Closed, "rcv ACK of FIN", steps, now),
                    _ => {}
                }
            }
        }
        // Seventh step, segment text: RCV.NXT advances over in-order data.
        let end = p.seq.wrapping_add(p.len);
        match self.rcv_nxt {
            Some(n) if seq_le(p.seq, n) && seq_lt(n, end) => self.rcv_nxt = Some(end),
            None => self.rcv_nxt = Some(end),
            _ => {}
        }
        if f.fin() {
            // Eighth step, FIN: applied by [`SideTracker::apply_pending_fin`]
            // once the capture shows it arrived.
            self.pending_fin = Some(end);
            self.fin_was_retransmitted = self.fin_seen == Some(end);
            self.fin_seen = Some(end);
        }
    }

    /// Whether `p`, sent by this side, acknowledges the peer's pending FIN
    /// (proof that the FIN arrived).
    pub fn acks_pending_fin(&self, p: &Packet) -> bool {
        p.flags.ack()
            && self
                .pending_fin
                .is_some_and(|fin| seq_le(fin.wrapping_add(1), p.ack))
    }

    /// Process the peer's FIN (RFC 9293 §3.10.7.4, eighth step) once the
    /// capture shows it arrived: this side acknowledged it, or a later
    /// segment of the peer arrived after it (TCP delivers in order), or the
    /// capture ended. A FIN seen at the capture point may still be in flight
    /// when its receiver sends its own FIN (a simultaneous close), so it is
    /// not processed when seen.
    pub fn apply_pending_fin(&mut self, now: u64) -> Vec<Step> {
        let mut out = Vec::new();
        let steps = &mut out;
        let Some(fin) = self.pending_fin else {
            return out;
        };
        // A FIN is processed once everything before it arrived.
        if self.rcv_nxt.is_some_and(|n| seq_lt(n, fin)) {
            return out;
        }
        let retransmitted = self.fin_was_retransmitted;
        let fin_ack = fin.wrapping_add(1);
        let fresh = self.rcv_nxt == Some(fin);
        if fresh {
            self.rcv_nxt = Some(fin_ack);
            if self.fin_taken.is_none() {
                self.fin_taken = Some((fin_ack, now));
            }
        }
        match self.state {
            State::SynReceived | State::Established => {
                self.go(State::CloseWait, "rcv FIN", steps, now);
            }
            State::FinWait1 if self.fin_acked => {
                self.go(State::TimeWait, "rcv FIN", steps, now);
            }
            State::FinWait1 => self.go(State::Closing, "rcv FIN (simultaneous close)", steps, now),
            State::FinWait2 => self.go(State::TimeWait, "rcv FIN", steps, now),
            // TIME-WAIT: a retransmitted FIN is acknowledged and restarts the
            // 2MSL timeout.
            State::TimeWait if retransmitted => {
                self.since_us = now;
                steps.push(Step {
                    from: State::TimeWait,
                    to: State::TimeWait,
                    cause: "rcv FIN again: 2MSL timer restarted".into(),
                });
            }
            _ => {}
        }
        self.pending_fin = None;
        if out.iter().any(|st| st.from != st.to) {
            self.last_change_by_receive = true;
        }
        out
    }
}

/// Flags that mark a keep-alive probe: a pure ACK one byte before SND.NXT.
pub(crate) fn is_keepalive(side: &SideTracker, p: &Packet) -> bool {
    p.flags == TcpFlags::ACK
        && p.len <= 1
        && side
            .snd_max
            .is_some_and(|m| p.seq.wrapping_add(1) == m && side.state.is_synchronized())
}
