//! Where an event's outcome takes effect (`Endpoint::apply`): the one
//! place every state change of a connection is recorded and acted on.

use alloc::boxed::Box;

use super::slots::{self, leftover_of, HeldTimeWait, SlotKind};
use super::Endpoint;
use crate::tcb::Outcome;
use crate::timewait::TimeWait;
use crate::types::{Cause, CloseReason, Event, Socket, State, TimerKind};

impl Endpoint {
    /// The one place an event's outcome takes effect: record the transition
    /// with its cause, send the RST owed, move a passive connection to its
    /// accept queue, compact TIME-WAIT, release CLOSED, re-arm the timers,
    /// and count the memory the connection now holds.
    pub(super) fn apply(&mut self, idx: u32, before: State, out: Outcome, cause: Cause) {
        self.apply_outcome(idx, before, out, cause);
        self.account(idx);
    }

    fn apply_outcome(&mut self, idx: u32, before: State, out: Outcome, cause: Cause) {
        let now = self.last_now;
        let id = self.conn_id(idx);
        let cause = out.timer.map_or(cause, Cause::Timer);
        let slot = &mut self.slots[idx as usize];
        let unaccepted = slot.unaccepted;
        let SlotKind::Active(tcb) = &mut slot.kind else {
            return;
        };
        let after = tcb.state;
        let back_to_listen = out.back_to_listen;
        let listener = tcb.listener;
        let mut held = !tcb.orphan && !unaccepted;
        let tuple = (tcb.local, tcb.remote);
        // Linux: an orphan waiting in FIN-WAIT-2 lives on as a time-wait
        // socket of substate FIN-WAIT-2 (tcp_rcv_state_process() in
        // FIN-WAIT-1, tcp_close(), tcp_keepalive_timer() all call
        // tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)), which takes one of the
        // `tcp_max_tw_buckets` until the peer's FIN turns it into a true
        // TIME-WAIT or its time runs out. finack keeps the control block and
        // counts the bucket (taken on entry also for a wait over 60 s, where
        // Linux takes it for the last stage only).
        let fw2_orphan =
            after == State::FinWait2 && tcb.orphan && tcb.timers.get(TimerKind::FinWait2).is_some();
        let had_bucket = slot.tw_bucket;
        if let Some((seq, ack, ts)) = out.rst {
            self.queue_rst(tuple, seq, ack, ts);
        }
        match out.closed {
            Some(CloseReason::TimedOut) => self.stats.timeouts += 1,
            Some(CloseReason::Reset) => self.stats.resets_received += 1,
            _ => {}
        }
        // Buckets held by others: the TIME-WAIT table and the other orphans.
        let others = self.tw.len() + self.fw2_buckets - usize::from(had_bucket);
        // tcp_time_wait(): when no bucket can be had, the connection closes
        // at once (counted as TCPTimeWaitOverflow), without a word for a
        // FIN-WAIT-2 orphan; a TIME-WAIT still sends the ACK it owes.
        let fw2_overflow = fw2_orphan && !had_bucket && others >= self.cfg.max_time_wait;
        let keeps = fw2_orphan && !fw2_overflow;
        self.slots[idx as usize].tw_bucket = keeps;
        self.fw2_buckets = others - self.tw.len() + usize::from(keeps);
        let tw_overflow =
            fw2_overflow || (after == State::TimeWait && others >= self.cfg.max_time_wait);
        let recorded = if back_to_listen {
            State::Listen
        } else if tw_overflow {
            State::Closed
        } else {
            after
        };
        if fw2_overflow && before != State::FinWait2 {
            // Linux enters FIN-WAIT-2 (tcp_set_state()) before it looks for
            // the bucket (tcp_time_wait()).
            self.record(Socket::Conn(id), tuple, before, State::FinWait2, cause);
            self.record(Socket::Conn(id), tuple, State::FinWait2, recorded, cause);
        } else {
            self.record(Socket::Conn(id), tuple, before, recorded, cause);
        }
        // A passive connection finished its handshake: hand it to the accept queue.
        if unaccepted && before == State::SynReceived && after != State::SynReceived {
            if let Some(l) = listener {
                let peer = tuple.1.ip();
                if self
                    .listeners
                    .handshake_done(l, id, peer, after != State::Closed)
                {
                    self.events.push(Event::Incoming(l));
                }
            }
        }
        // A passive connection past its handshake ended: its peer holds one
        // fewer at the listener (the per-source limits).
        if let Some(l) = listener {
            let ended = tw_overflow || matches!(after, State::Closed | State::TimeWait);
            if ended && !matches!(before, State::SynReceived | State::Closed) {
                self.listeners.connection_ended(l, tuple.1.ip());
            }
        }
        match after {
            State::Closed => {
                self.tuples.remove(&tuple, idx);
                let reason = out.closed.unwrap_or(CloseReason::Normal);
                if unaccepted && before != State::SynReceived {
                    // Died in the accept queue. Linux leaves it there:
                    // accept() returns it, its unread data can be read,
                    // then its error (a reset or a timeout, tcp_done() on a
                    // child in the queue). Not when the listener's own
                    // close aborted it.
                    let queued = listener.filter(|l| self.listeners.get(*l).is_some());
                    match queued {
                        Some(_) if reason != CloseReason::Aborted => held = true,
                        Some(l) => self.listeners.forget(l, id),
                        None => {}
                    }
                }
                if !back_to_listen && !unaccepted {
                    self.events.push(Event::Closed { conn: id, reason });
                }
                if held {
                    let slot = &mut self.slots[idx as usize];
                    let SlotKind::Active(tcb) = core::mem::replace(&mut slot.kind, SlotKind::Free)
                    else {
                        return;
                    };
                    let info = slots::closed_info(&tcb, now, &self.cfg);
                    let eof = tcb.rcv.fin_received;
                    let leftover = leftover_of(*tcb);
                    slot.kind = SlotKind::Closed {
                        reason,
                        leftover,
                        info,
                        eof,
                    };
                    if let Some(t) = slot.sched.take() {
                        self.timers.remove(t, idx);
                    }
                } else {
                    self.free_slot(idx);
                }
                return;
            }
            State::TimeWait | State::FinWait2 if tw_overflow => {
                // Unprotected by TIME-WAIT, counted as TCPTimeWaitOverflow;
                // the ACK owed to the peer's FIN still goes.
                self.stats.time_wait_overflow += 1;
                self.tuples.remove(&tuple, idx);
                self.close_without_time_wait(idx, id, held);
                return;
            }
            State::TimeWait => {
                // The connection moves to the TIME-WAIT table; its slot stays
                // only while the application holds the handle.
                self.stats.time_wait_entered += 1;
                self.tuples.remove(&tuple, idx);
                let slot = &mut self.slots[idx as usize];
                let SlotKind::Active(tcb) = core::mem::replace(&mut slot.kind, SlotKind::Free)
                else {
                    return;
                };
                let entry = TimeWait::from_tcb(&tcb, now, &self.cfg, held);
                // Entered through the peer's FIN: the compact entry sends its ACK.
                if tcb.rcv.ack_now {
                    self.ctl.push_back(entry.ack(now, tcb.ts_offset));
                }
                self.tw.insert(entry);
                if held {
                    let leftover = leftover_of(*tcb);
                    slot.kind = SlotKind::TimeWait(Box::new(HeldTimeWait { tuple, leftover }));
                    if let Some(t) = slot.sched.take() {
                        self.timers.remove(t, idx);
                    }
                } else {
                    self.free_slot(idx);
                }
                return;
            }
            _ => {
                let cfg = &self.cfg;
                if let SlotKind::Active(tcb) = &mut self.slots[idx as usize].kind {
                    if (tcb.ka.on() || tcb.ka.idle_secs != 0) && !tcb.ka.probe_due() {
                        tcb.arm_keepalive(cfg);
                    }
                    tcb.arm_buffer_release(now, cfg);
                }
            }
        }
        self.mark_tx(idx);
        self.reschedule(idx);
    }
}
