//! What the application can ask of its connections and of the endpoint:
//! state, addresses, `tcp_info`, peeking at received bytes, the tables and
//! the memory they hold.

use alloc::boxed::Box;
use core::net::SocketAddr;

use super::slots::{HeldTimeWait, Leftover, Slot, SlotKind};
use super::Endpoint;
use crate::tcb::CtlSegment;
use crate::types::{
    CloseReason, ConnId, ConnInfo, Error, MemoryUsage, State, TimerKind, Transition,
};

impl Endpoint {
    /// Copy received bytes into `out` without consuming them (MSG_PEEK): the
    /// next `recv` returns them again. Like `recv`, `Ok(0)` at the end of
    /// the stream (the peer's FIN, or reading shut down) and `WouldBlock`
    /// when nothing has arrived yet.
    pub fn peek(&self, c: ConnId, out: &mut [u8]) -> Result<usize, Error> {
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        let mut leftover =
            |l: &Option<Box<Leftover>>| l.as_ref().map_or(0, |l| l.rx.peek_at(0, out));
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => tcb.peek(out, &self.cfg),
            SlotKind::TimeWait(held) => Ok(leftover(&held.leftover)),
            SlotKind::Closed {
                reason,
                leftover: l,
                ..
            } => match leftover(l) {
                0 => reason.error().map_or(Ok(0), Err),
                n => Ok(n),
            },
            SlotKind::Free => Err(Error::InvalidHandle),
        }
    }

    /// Urgent bytes signalled and not yet read past (RFC 9293 MUST-33).
    pub fn urgent_pending(&self, c: ConnId) -> usize {
        let Some(idx) = self.slot_of(c) else { return 0 };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => tcb.urgent_pending(),
            _ => 0,
        }
    }

    /// The connection's state, also after the application released the
    /// handle (until the connection is gone); CLOSED for unknown handles.
    pub fn state(&self, c: ConnId) -> State {
        let Some(idx) = self.slot_of(c) else {
            return match self.released_time_wait(c) {
                Some(_) => State::TimeWait,
                None => State::Closed,
            };
        };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => tcb.state,
            SlotKind::TimeWait(_) => State::TimeWait,
            _ => State::Closed,
        }
    }

    /// The error a closed connection reports to a write or to SO_ERROR:
    /// its [`CloseReason::error`], except that a reset that came after the
    /// peer's FIN (CLOSE-WAIT) is [`Error::BrokenPipe`](crate::Error::BrokenPipe), as Linux's EPIPE
    /// (tcp_reset()). `None` while it is open or when it closed cleanly.
    pub fn close_error(&self, c: ConnId) -> Option<crate::types::Error> {
        let idx = self.slot_of(c)?;
        match &self.slots[idx as usize].kind {
            SlotKind::Closed { reason, eof, .. } => super::calls::closed_error(*reason, *eof),
            _ => None,
        }
    }

    /// How a closed connection ended, while the handle is held.
    pub fn close_reason(&self, c: ConnId) -> Option<CloseReason> {
        let idx = self.slot_of(c)?;
        match &self.slots[idx as usize].kind {
            SlotKind::Closed { reason, .. } => Some(*reason),
            SlotKind::Active(_) => None,
            _ => None,
        }
    }

    /// A snapshot of the connection (like `tcp_info`); `None` once CLOSED.
    pub fn info(&self, c: ConnId) -> Option<ConnInfo> {
        let Some(idx) = self.slot_of(c) else {
            let tw = self.released_time_wait(c)?;
            return Some(tw.info(self.last_now, &self.cfg));
        };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => Some(tcb.info(self.last_now, &self.cfg)),
            SlotKind::TimeWait(held) => self
                .tw
                .find(&held.tuple)
                .and_then(|pos| self.tw.get(pos))
                .map(|tw| tw.info(self.last_now, &self.cfg)),
            SlotKind::Closed { info, leftover, .. } => info.as_deref().map(|i| ConnInfo {
                // What the application has not read yet, as it reads it.
                readable: leftover.as_ref().map_or(0, |l| l.rx.len() as u32),
                ..i.clone()
            }),
            _ => None,
        }
    }

    /// The connection's pending timer as `ss -o` shows it: the earliest of
    /// its retransmission (and loss-probe), persist, keep-alive (and idle)
    /// and FIN-WAIT-2 timers, or the 2MSL deadline of a TIME-WAIT entry.
    /// Delayed-ACK and buffer-release timers are left out, as `ss` leaves
    /// out Linux's delayed-ACK timer. `None` when none of those is armed or
    /// the connection is CLOSED. For diagnostics only: the engine's timer
    /// processing does not depend on it.
    pub fn timer_of(&self, c: ConnId) -> Option<(TimerKind, crate::time::Instant)> {
        let tw_entry = |tw: &crate::timewait::TimeWait| Some((TimerKind::TimeWait, tw.deadline));
        let Some(idx) = self.slot_of(c) else {
            return self.released_time_wait(c).and_then(tw_entry);
        };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => [
                TimerKind::Retransmit,
                TimerKind::LossProbe,
                TimerKind::Persist,
                TimerKind::Keepalive,
                TimerKind::FinWait2,
                TimerKind::TimeWait,
            ]
            .into_iter()
            .filter_map(|k| tcb.timers.get(k).map(|t| (k, t)))
            .min_by_key(|&(_, t)| t),
            SlotKind::TimeWait(held) => self
                .tw
                .find(&held.tuple)
                .and_then(|pos| self.tw.get(pos))
                .and_then(tw_entry),
            _ => None,
        }
    }

    /// The local and remote addresses of a connection.
    pub fn addrs(&self, c: ConnId) -> Option<(SocketAddr, SocketAddr)> {
        let Some(idx) = self.slot_of(c) else {
            return self.released_time_wait(c).map(|tw| tw.tuple());
        };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => Some((tcb.local, tcb.remote)),
            SlotKind::TimeWait(held) => Some(held.tuple),
            _ => None,
        }
    }

    /// The TIME-WAIT entry of a connection whose handle the application
    /// released. The table keeps no slot for it, so this walks the TIME-WAIT
    /// entries: it costs O(entries), and only calls on released handles pay.
    fn released_time_wait(&self, c: ConnId) -> Option<&crate::timewait::TimeWait> {
        self.tw.iter().find(|e| e.conn == c)
    }

    /// Number of connections per state (TIME-WAIT included), like `ss -s`.
    pub fn count_by_state(&self) -> [(State, usize); 11] {
        let mut out = State::ALL.map(|s| (s, 0usize));
        for slot in &self.slots {
            let SlotKind::Active(tcb) = &slot.kind else {
                continue;
            };
            if let Some(e) = out.iter_mut().find(|(s, _)| *s == tcb.state) {
                e.1 += 1;
            }
        }
        if let Some(e) = out.iter_mut().find(|(s, _)| *s == State::TimeWait) {
            e.1 += self.tw.len();
        }
        out
    }

    /// Every connection still in the tables (live and TIME-WAIT), with its state
    /// and addresses.
    pub fn connections(
        &self,
    ) -> impl Iterator<Item = (ConnId, State, SocketAddr, SocketAddr)> + '_ {
        let active = self.slots.iter().enumerate().filter_map(|(i, slot)| {
            let id = ConnId {
                index: i as u32,
                gen: slot.gen,
            };
            match &slot.kind {
                SlotKind::Active(tcb) => Some((id, tcb.state, tcb.local, tcb.remote)),
                _ => None,
            }
        });
        let time_wait = self.tw.iter().map(|e| {
            let (local, remote) = e.tuple();
            (e.conn, State::TimeWait, local, remote)
        });
        active.chain(time_wait)
    }

    /// Connections in the demultiplexing table (live and TIME-WAIT).
    pub fn connection_count(&self) -> usize {
        self.tuples.len() + self.tw.len()
    }

    /// The memory this endpoint holds, per connection and for its tables. Each
    /// connection stays within [`crate::Config::connection_memory_limit`] whatever
    /// the peer sends (the randomized fault suite checks it).
    pub fn memory_usage(&self) -> MemoryUsage {
        use core::mem::size_of;
        let leftover = |l: &Option<Box<Leftover>>| {
            l.as_ref().map_or(0, |l| {
                size_of::<Leftover>() + l.rx.heap_bytes() + l.errs.heap_bytes()
            })
        };
        let mut m = MemoryUsage::default();
        for slot in &self.slots {
            let bytes = match &slot.kind {
                SlotKind::Free => continue,
                SlotKind::Active(tcb) => tcb.heap_bytes(),
                SlotKind::TimeWait(held) => size_of::<HeldTimeWait>() + leftover(&held.leftover),
                SlotKind::Closed { leftover: l, .. } => leftover(l),
            };
            m.buffer_bytes += match &slot.kind {
                SlotKind::Active(tcb) => tcb.buffer_bytes(),
                SlotKind::TimeWait(held) => held.leftover.as_ref().map_or(0, |l| l.rx.heap_bytes()),
                SlotKind::Closed { leftover: l, .. } => l.as_ref().map_or(0, |l| l.rx.heap_bytes()),
                SlotKind::Free => 0,
            };
            // A held TIME-WAIT connection is counted once, with its entry.
            if !matches!(slot.kind, SlotKind::TimeWait(_)) {
                m.connections += 1;
            }
            m.connection_bytes += bytes;
            m.max_connection_bytes = m.max_connection_bytes.max(bytes);
        }
        // TIME-WAIT entries are counted with the tables: the TIME-WAIT
        // table, its index and its queue.
        m.connections += self.tw.len();
        m.time_wait_bytes = self.tw.heap_bytes();
        m.table_bytes = self.slots.capacity() * size_of::<Slot>()
            + self.tw.heap_bytes()
            + self.free.capacity() * size_of::<u32>()
            + self.tuples.heap_bytes()
            + self.listeners.heap_bytes()
            + self.timers.heap_bytes()
            + self.tx_queue.capacity() * size_of::<u32>()
            + self.ctl.capacity() * size_of::<CtlSegment>()
            + self.events.heap_bytes()
            + self.path_mtus.heap_bytes()
            + self.transitions.capacity() * size_of::<Transition>();
        m
    }
}
