//! Connection slots: a generation-checked handle per connection, what the slot
//! holds in each phase of the connection's life (a full TCB, a TIME-WAIT
//! entry, or a CLOSED stub the application still holds), and the per-slot
//! scheduling of output and timers.

use alloc::boxed::Box;

use super::Endpoint;
use crate::buffer::RecvBuf;
use crate::demux::Tuple;
use crate::tcb::errqueue::ErrReports;
use crate::tcb::Tcb;
use crate::time::Instant;
use crate::types::{CloseReason, ConnId};

/// Received bytes and error-queue records kept for the application after its
/// connection left the full TCB (TIME-WAIT or CLOSED) while it still held the
/// handle (Linux keeps both with the socket until close()).
pub(super) struct Leftover {
    pub(super) rx: RecvBuf,
    pub(super) errs: ErrReports,
}

/// What a slot keeps for a connection in TIME-WAIT whose handle the
/// application still holds: the 4-tuple that finds its entry, and the bytes
/// it has not read.
pub(super) struct HeldTimeWait {
    pub(super) tuple: Tuple,
    pub(super) leftover: Option<Box<Leftover>>,
}

pub(super) enum SlotKind {
    Free,
    Active(Box<Tcb>),
    /// In TIME-WAIT (the entry itself is in the endpoint's TIME-WAIT table)
    /// while the application still holds the handle.
    TimeWait(Box<HeldTimeWait>),
    Closed {
        reason: CloseReason,
        leftover: Option<Box<Leftover>>,
        /// The peer's FIN had been taken before it closed: reads end the
        /// stream (Linux SOCK_DONE, which tcp_recvmsg() checks before the
        /// socket's error).
        eof: bool,
        /// What `Endpoint::info` tells of it: the TCB's values when it
        /// closed, in state CLOSED (Linux answers TCP_INFO on a closed
        /// socket from what tcp_done() left); `None` after TIME-WAIT.
        info: Option<Box<crate::types::ConnInfo>>,
    },
}

pub(super) struct Slot {
    pub(super) gen: u32,
    pub(super) sched: Option<Instant>,
    pub(super) queued: bool,
    /// A passive connection the application has not accepted yet.
    pub(super) unaccepted: bool,
    /// Counted among the endpoint's orphans (`Endpoint::release`).
    pub(super) orphan: bool,
    /// TCP_DEFER_ACCEPT set on an active connection, in SYN,ACK timeouts:
    /// read only by its handshake (the endpoint's, not the control
    /// block's, so that the block keeps its size).
    pub(super) defer_accept: u8,
    /// An orphan in FIN-WAIT-2 holding a TIME-WAIT bucket
    /// (`Endpoint::fw2_buckets`).
    pub(super) tw_bucket: bool,
    /// Ring bytes this slot's connection holds, as last counted into the
    /// endpoint's total (`Endpoint::account`).
    pub(super) mem: usize,
    pub(super) kind: SlotKind,
}

impl Endpoint {
    pub(super) fn alloc_slot(&mut self) -> (u32, ConnId) {
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            (
                idx,
                ConnId {
                    index: idx,
                    gen: slot.gen,
                },
            )
        } else {
            let idx = self.slots.len() as u32;
            self.slots.push(Slot {
                gen: 0,
                sched: None,
                queued: false,
                unaccepted: false,
                orphan: false,
                defer_accept: 0,
                tw_bucket: false,
                mem: 0,
                kind: SlotKind::Free,
            });
            (idx, ConnId { index: idx, gen: 0 })
        }
    }

    /// A connection that reached TIME-WAIT while the TIME-WAIT table was
    /// full (`Config::max_time_wait`) ends at once: the ACK owed to the
    /// peer's FIN goes out, the application is told it closed normally, and
    /// nothing protects the 4-tuple (Linux tcp_minisocks.c: tcp_time_wait()
    /// falls back to tcp_done()).
    pub(super) fn close_without_time_wait(&mut self, idx: u32, id: ConnId, held: bool) {
        let now = self.last_now;
        let slot = &mut self.slots[idx as usize];
        let SlotKind::Active(tcb) = core::mem::replace(&mut slot.kind, SlotKind::Free) else {
            return;
        };
        if tcb.rcv.ack_now {
            let entry = crate::timewait::TimeWait::from_tcb(&tcb, now, &self.cfg, false);
            self.ctl.push_back(entry.ack(now, tcb.ts_offset));
        }
        self.events.push(crate::types::Event::Closed {
            conn: id,
            reason: CloseReason::Normal,
        });
        if held {
            let slot = &mut self.slots[idx as usize];
            let info = closed_info(&tcb, now, &self.cfg);
            slot.kind = SlotKind::Closed {
                reason: CloseReason::Normal,
                leftover: leftover_of(*tcb),
                info,
                eof: true,
            };
            if let Some(t) = slot.sched.take() {
                self.timers.remove(t, idx);
            }
        } else {
            self.free_slot(idx);
        }
    }

    pub(super) fn free_slot(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        slot.kind = SlotKind::Free;
        slot.gen = slot.gen.wrapping_add(1);
        slot.unaccepted = false;
        slot.defer_accept = 0;
        if core::mem::take(&mut slot.tw_bucket) {
            self.fw2_buckets -= 1;
        }
        if let Some(t) = slot.sched.take() {
            self.timers.remove(t, idx);
        }
        // What it held leaves the memory account; an orphan is gone.
        self.mem.forget(
            core::mem::take(&mut slot.mem),
            core::mem::take(&mut slot.orphan),
        );
        self.free.push(idx);
    }

    pub(super) fn slot_of(&self, c: ConnId) -> Option<u32> {
        let slot = self.slots.get(c.index as usize)?;
        (slot.gen == c.gen && !matches!(slot.kind, SlotKind::Free)).then_some(c.index)
    }

    pub(super) fn conn_id(&self, idx: u32) -> ConnId {
        ConnId {
            index: idx,
            gen: self.slots[idx as usize].gen,
        }
    }

    pub(super) fn mark_tx(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        if !slot.queued && matches!(slot.kind, SlotKind::Active(_)) {
            slot.queued = true;
            self.tx_queue.push_back(idx);
        }
    }

    pub(super) fn reschedule(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        let want = match &slot.kind {
            SlotKind::Active(tcb) => tcb.next_deadline(),
            _ => None,
        };
        if slot.sched != want {
            if let Some(t) = slot.sched.take() {
                self.timers.remove(t, idx);
            }
            if let Some(t) = want {
                self.timers.insert(t, idx);
            }
            slot.sched = want;
        }
    }
}

/// The 4-tuple slot `idx` holds, if any (for the connection table).
pub(super) fn tuple_of(slots: &[Slot], idx: u32) -> Option<Tuple> {
    match &slots.get(idx as usize)?.kind {
        SlotKind::Active(tcb) => Some((tcb.local, tcb.remote)),
        SlotKind::Free | SlotKind::TimeWait(_) | SlotKind::Closed { .. } => None,
    }
}

/// The info a CLOSED stub keeps of the TCB it replaces.
pub(super) fn closed_info(
    tcb: &Tcb,
    now: Instant,
    cfg: &crate::config::Config,
) -> Option<Box<crate::types::ConnInfo>> {
    let info = tcb.info(now, cfg);
    Some(Box::new(crate::types::ConnInfo {
        state: crate::types::State::Closed,
        // CLOSED flushed the queues (RFC 9293 §3.10.8).
        unacked: 0,
        unsent: 0,
        ..info
    }))
}

pub(super) fn leftover_of(tcb: Tcb) -> Option<Box<Leftover>> {
    (tcb.rcv.buf.len() > 0 || tcb.errs.queued() > 0).then(|| {
        Box::new(Leftover {
            rx: tcb.rcv.buf,
            errs: tcb.errs,
        })
    })
}
