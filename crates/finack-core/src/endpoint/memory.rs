//! The endpoint's running account of the memory its connections' rings
//! hold and of its orphans (Linux `tcp_memory_allocated`,
//! `tcp_memory_pressure`, `tcp_orphan_count`), updated as each event ends
//! from the one connection it touched, never by walking the connections.

use super::slots::{Leftover, SlotKind};
use super::Endpoint;
use crate::config::Config;
use crate::memory::MemState;
use crate::time::Instant;
use crate::types::{Cause, Stats, UserCall};

/// The running totals.
#[derive(Debug, Default)]
pub(super) struct MemAccount {
    /// Bytes all slots hold (`Slot::mem` summed).
    allocated: usize,
    /// Under memory pressure (`Config::tcp_mem`).
    pressure: bool,
    /// Slots counted as orphans.
    orphans: usize,
}

impl MemAccount {
    /// Under memory pressure?
    pub(super) fn pressure(&self) -> bool {
        self.pressure
    }

    /// A slot that held `bytes` (and was an orphan if `orphan`) is freed.
    pub(super) fn forget(&mut self, bytes: usize, orphan: bool) {
        self.allocated = self.allocated.saturating_sub(bytes);
        if orphan {
            self.orphans = self.orphans.saturating_sub(1);
        }
    }

    /// Linux sock.c: __sk_mem_raise_allocated() enters memory pressure above
    /// `tcp_mem[1]`; sk_leave_memory_pressure() leaves it at or below
    /// `tcp_mem[0]`.
    fn update_pressure(&mut self, cfg: &Config, stats: &mut Stats) {
        let Some((low, pressure, _)) = cfg.tcp_mem else {
            self.pressure = false;
            return;
        };
        if !self.pressure && self.allocated > pressure {
            self.pressure = true;
            stats.memory_pressures += 1;
        } else if self.pressure && self.allocated <= low {
            self.pressure = false;
        }
    }
}

impl Endpoint {
    /// Bytes the connections' send and receive rings hold (with unread data
    /// kept for closed connections whose handle the application holds): the
    /// figure `Config::tcp_mem` limits. A running total, O(1).
    pub fn buffer_memory(&self) -> usize {
        self.mem.allocated
    }

    /// Is the endpoint under memory pressure (`Config::tcp_mem`)?
    pub fn under_memory_pressure(&self) -> bool {
        self.mem.pressure
    }

    /// Connections the application closed that are still finishing their
    /// close as full connections (TIME-WAIT aside): what
    /// `Config::max_orphans` limits.
    pub fn orphan_count(&self) -> usize {
        self.mem.orphans
    }

    /// Is the ring memory over the hard limit of `Config::tcp_mem`?
    pub(super) fn over_memory_limit(&self) -> bool {
        self.cfg
            .tcp_mem
            .is_some_and(|(_, _, high)| self.mem.allocated > high)
    }

    /// The account as event processing on slot `idx` sees it.
    pub(super) fn mem_state(&self, idx: u32) -> MemState {
        MemState {
            allocated: self.mem.allocated,
            conn_accounted: self.slots[idx as usize].mem,
            pressure: self.mem.pressure,
            sockets: self.tuples.len(),
            orphans: self.mem.orphans,
        }
    }

    /// Count again what slot `idx` holds (after an event on it).
    pub(super) fn account(&mut self, idx: u32) {
        let leftover =
            |l: &Option<alloc::boxed::Box<Leftover>>| l.as_ref().map_or(0, |l| l.rx.heap_bytes());
        let slot = &mut self.slots[idx as usize];
        let bytes = match &slot.kind {
            SlotKind::Free => 0,
            SlotKind::Active(tcb) => tcb.buffer_bytes(),
            SlotKind::TimeWait(held) => leftover(&held.leftover),
            SlotKind::Closed { leftover: l, .. } => leftover(l),
        };
        let old = core::mem::replace(&mut slot.mem, bytes);
        self.mem.allocated = self.mem.allocated.saturating_sub(old) + bytes;
        self.mem.update_pressure(&self.cfg, &mut self.stats);
    }

    /// The application released slot `idx`, a live connection: it becomes
    /// an orphan (Linux tcp.c: __tcp_close() counts it before checking).
    pub(super) fn count_orphan(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        if matches!(slot.kind, SlotKind::Active(_)) && !slot.orphan {
            slot.orphan = true;
            self.mem.orphans += 1;
        }
    }

    /// Linux tcp.c: __tcp_close(): a connection closed by the application
    /// that is not yet CLOSED is reset at once when there are too many
    /// orphans or memory is over the hard limit (tcp_check_oom(),
    /// TCPAbortOnMemory).
    pub(super) fn check_orphan_oom(&mut self, idx: u32, now: Instant) {
        let mem = self.mem_state(idx);
        let SlotKind::Active(tcb) = &self.slots[idx as usize].kind else {
            return;
        };
        if !tcb.orphan || !mem.check_oom(&self.cfg, 0, tcb.snd.buf.len()) {
            return;
        }
        self.run(idx, now, Cause::User(UserCall::Close), |tcb, ctx| {
            tcb.kill_on_memory(ctx, true)
        });
    }
}
