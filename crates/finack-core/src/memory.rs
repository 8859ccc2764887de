//! The endpoint's buffer memory as event processing sees it: Linux's
//! `tcp_memory_allocated`, `tcp_memory_pressure` and `tcp_orphan_count`,
//! with the rules that decide whether a connection may take more memory
//! (`__sk_mem_raise_allocated()` in net/core/sock.c) and whether orphans
//! must go (`tcp_check_oom()` in net/ipv4/tcp.c).

use crate::config::Config;

/// Linux SOCK_MIN_SNDBUF (about 4.5 KiB): an orphan holding less queued
/// data than this is not reset for memory (tcp.h: `tcp_out_of_memory()`).
pub(crate) const MIN_SNDBUF: usize = 4608;

/// Linux `tcp_rmem[0]`: receive memory a connection may always take, even
/// under pressure (sock.c: `__sk_mem_raise_allocated()`, SK_MEM_RECV).
pub(crate) const MIN_RMEM: usize = 4096;

/// A snapshot of the endpoint's memory account, taken when an event starts.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemState {
    /// Bytes all connections' rings hold.
    pub(crate) allocated: usize,
    /// Of them, what the connection at hand held when it was last counted.
    pub(crate) conn_accounted: usize,
    /// The endpoint is under memory pressure (`Config::tcp_mem`).
    pub(crate) pressure: bool,
    /// Live connections (Linux `sockets_allocated`).
    pub(crate) sockets: usize,
    /// Orphans (Linux `tcp_orphan_count`).
    pub(crate) orphans: usize,
}

impl MemState {
    /// The endpoint's total if the connection at hand now holds
    /// `conn_bytes`.
    fn total_with(&self, conn_bytes: usize) -> usize {
        self.allocated.saturating_sub(self.conn_accounted) + conn_bytes
    }

    /// Linux sock.c: `__sk_mem_raise_allocated()` for received data: may a
    /// connection holding `conn_bytes` in its rings (`rcv_bytes` of them in
    /// the receive ring) take `extra` more? Always at or below the low mark;
    /// never above the hard limit; under pressure while its receive ring is
    /// below `tcp_rmem[0]` or the connection holds less than its share of
    /// the hard limit.
    pub(crate) fn may_charge(
        &self,
        cfg: &Config,
        conn_bytes: usize,
        rcv_bytes: usize,
        extra: usize,
    ) -> bool {
        let Some((low, pressure, high)) = cfg.tcp_mem else {
            return true;
        };
        let after = self.total_with(conn_bytes).saturating_add(extra);
        if after <= low {
            return true;
        }
        if after > high {
            return false;
        }
        if rcv_bytes + extra <= MIN_RMEM {
            return true;
        }
        if self.pressure || after > pressure {
            let share = (conn_bytes + extra).saturating_mul(self.sockets.max(1));
            return high > share;
        }
        true
    }

    /// Linux sock.c: `__sk_mem_raise_allocated()` under pressure: does a
    /// connection holding `conn_bytes` (`rcv_bytes` of them received) hold
    /// more than its share of the hard limit (and more than `tcp_rmem[0]`)?
    /// Such a connection gives back out-of-order memory when data arrives.
    pub(crate) fn over_share(&self, cfg: &Config, conn_bytes: usize, rcv_bytes: usize) -> bool {
        let Some((low, pressure, high)) = cfg.tcp_mem else {
            return false;
        };
        let total = self.total_with(conn_bytes);
        (self.pressure || total > pressure)
            && total > low
            && rcv_bytes > MIN_RMEM
            && conn_bytes.saturating_mul(self.sockets.max(1)) >= high
    }

    /// Is the endpoint over the hard limit?
    pub(crate) fn over_hard_limit(&self, cfg: &Config) -> bool {
        cfg.tcp_mem
            .is_some_and(|(_, _, high)| self.allocated > high)
    }

    /// Linux tcp.c: `tcp_check_oom()`: too many orphans (counted `<< shift`,
    /// so a penalized orphan goes at half the limit), or memory over the
    /// hard limit while this connection holds more than SOCK_MIN_SNDBUF of
    /// queued data (tcp.h: `tcp_out_of_memory()`).
    pub(crate) fn check_oom(&self, cfg: &Config, shift: u32, queued: usize) -> bool {
        let too_many = self.orphans.checked_shl(shift).unwrap_or(usize::MAX) > cfg.max_orphans;
        too_many || (queued > MIN_SNDBUF && self.over_hard_limit(cfg))
    }
}
