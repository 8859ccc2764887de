//! How long sending was busy, and what held it back: Linux's chronographs
//! (tcp_output.c: tcp_chrono_start(), tcp_chrono_stop(); tcp.c:
//! tcp_get_info_chrono_stats() for `tcpi_busy_time`, `tcpi_rwnd_limited`
//! and `tcpi_sndbuf_limited`).
//!
//! One chronograph runs at a time, in the most telling state that holds:
//! busy (data queued), held by the peer's window, held by the send buffer
//! (the application could not queue more, and everything it queued went
//! out without the congestion window filling up). Time is counted in
//! milliseconds, as Linux counts it in jiffies (HZ 1000).

use core::time::Duration;

use super::Tcb;
use crate::time::Instant;
use crate::types::{SendTimes, State};

/// What the running chronograph measures (Linux `enum tcp_chrono`, in the
/// same order: a later state takes precedence over an earlier one).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Limit {
    /// Nothing queued: no chronograph runs.
    #[default]
    Idle,
    /// Data queued and being sent.
    Busy,
    /// Data waits for the peer's window.
    Rwnd,
    /// The application waits for send-buffer room.
    Sndbuf,
}

/// Heap bytes a connection's [`SendHistory`] takes.
pub(crate) const BYTES: usize = core::mem::size_of::<SendHistory>();

/// What a connection's sending did over its life, kept from the first
/// write on.
#[derive(Clone, Debug, Default)]
pub(crate) struct SendHistory {
    /// Data bytes the peer acknowledged (`tcpi_bytes_acked`).
    pub(crate) bytes_acked: u64,
    pub(crate) chrono: Chrono,
    /// Segments and bytes sent, and the last acknowledgment's time
    /// (`tcpi_segs_out`, `tcpi_bytes_sent`, `tcpi_last_ack_recv`, ...).
    pub(crate) tx: super::counts::TxCounts,
}

/// The chronographs of one connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chrono {
    running: Limit,
    /// When the running one started, in milliseconds.
    since: u32,
    /// Milliseconds counted so far for busy, peer window and send buffer.
    total: [u32; 3],
}

fn ms(now: Instant) -> u32 {
    now.as_millis() as u32
}

impl Chrono {
    /// Linux tcp_chrono_set(): close the running interval, open `next`.
    fn set(&mut self, next: Limit, now: Instant) {
        let now = ms(now);
        if self.running != Limit::Idle {
            let slot = &mut self.total[self.running as usize - 1];
            *slot = slot.wrapping_add(now.wrapping_sub(self.since));
        }
        self.since = now;
        self.running = next;
    }

    /// Linux tcp_chrono_start(): a more telling state replaces the running
    /// one; a less telling one changes nothing.
    pub(crate) fn start(&mut self, what: Limit, now: Instant) {
        if what > self.running {
            self.set(what, now);
        }
    }

    /// Linux tcp_chrono_stop(): with nothing queued every chronograph
    /// stops; otherwise the state ending, if it is the running one, gives
    /// way to busy.
    pub(crate) fn stop(&mut self, what: Limit, now: Instant, queues_empty: bool) {
        if queues_empty {
            self.set(Limit::Idle, now);
        } else if what == self.running {
            self.set(Limit::Busy, now);
        }
    }

    /// Linux tcp_get_info_chrono_stats(): each total with the running
    /// interval so far; busy time is the sum of all three.
    pub(crate) fn totals(&self, now: Instant) -> SendTimes {
        let mut t = self.total;
        if self.running != Limit::Idle {
            let slot = &mut t[self.running as usize - 1];
            *slot = slot.wrapping_add(ms(now).wrapping_sub(self.since));
        }
        let d = |v: u32| Duration::from_millis(u64::from(v));
        SendTimes {
            busy: d(t[0]) + d(t[1]) + d(t[2]),
            rwnd_limited: d(t[1]),
            sndbuf_limited: d(t[2]),
        }
    }
}

impl super::SendSide {
    /// The connection's history, taken on first use.
    pub(crate) fn history_mut(&mut self) -> &mut SendHistory {
        self.history.get_or_insert_with(Default::default)
    }
}

impl Tcb {
    /// The chronographs' totals for `info()`.
    pub(super) fn send_times(&self, now: Instant) -> SendTimes {
        self.snd
            .history
            .as_ref()
            .map_or_else(SendTimes::default, |h| h.chrono.totals(now))
    }

    /// Nothing queued and nothing unacknowledged (Linux
    /// tcp_rtx_and_write_queues_empty()).
    fn send_queues_empty(&self) -> bool {
        self.snd.buf.len() == 0 && self.snd.una == self.snd.max && !self.fin_unsent()
    }

    /// A write queued `n` bytes after finding `unsent_before` bytes unsent:
    /// data joining an empty queue of unsent data starts the busy
    /// chronograph (Linux tcp.h: tcp_add_write_queue_tail()).
    pub(super) fn chrono_on_write(&mut self, now: Instant, unsent_before: usize, n: usize) {
        if n > 0 && unsent_before == 0 {
            self.snd.history_mut().chrono.start(Limit::Busy, now);
        }
    }

    /// New data went out. Linux tcp_output.c: tcp_cwnd_validate(): when the
    /// congestion window is not what limits sending, everything queued has
    /// gone out and a write is waiting for room (SOCK_NOSPACE), the send
    /// buffer is what holds the connection back.
    pub(super) fn chrono_on_send(&mut self, now: Instant) {
        if !self.cwnd_limited()
            && self.snd.notsent() == 0
            && self.snd.blocked
            && matches!(self.state, State::Established | State::CloseWait)
        {
            self.chrono_start(Limit::Sndbuf, now);
        }
    }

    /// Output stopped with data unsent, or with none left. Linux
    /// tcp_output.c: tcp_write_xmit() ends by starting the peer-window
    /// chronograph when that window held back the next segment, and by
    /// stopping it otherwise.
    pub(super) fn chrono_on_output_stop(&mut self, now: Instant, rwnd_limited: bool) {
        if rwnd_limited {
            self.chrono_start(Limit::Rwnd, now);
        } else {
            self.chrono_stop(Limit::Rwnd, now);
        }
    }

    /// An ACK was processed. Linux tcp_input.c: tcp_clean_rtx_queue() stops
    /// the busy chronograph once nothing sent is unacknowledged; and
    /// tcp_check_space() stops the send-buffer one when a waiting writer
    /// was told of room (SOCK_NOSPACE cleared).
    pub(super) fn chrono_on_ack(&mut self, now: Instant, writer_woken: bool) {
        if self.snd.una == self.snd.max {
            self.chrono_stop(Limit::Busy, now);
        }
        if writer_woken {
            self.chrono_stop(Limit::Sndbuf, now);
        }
    }

    /// Data has been queued before any chronograph starts, so one that has
    /// none yet has nothing to start.
    fn chrono_start(&mut self, what: Limit, now: Instant) {
        if let Some(h) = self.snd.history.as_mut() {
            h.chrono.start(what, now);
        }
    }

    fn chrono_stop(&mut self, what: Limit, now: Instant) {
        let empty = self.send_queues_empty();
        if let Some(h) = self.snd.history.as_mut() {
            h.chrono.stop(what, now, empty);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_more_telling_state_takes_over_and_stopping_it_returns_to_busy() {
        let mut c = Chrono::default();
        c.start(Limit::Busy, at(100));
        c.start(Limit::Sndbuf, at(130));
        // A less telling state does not replace the running one.
        c.start(Limit::Rwnd, at(140));
        c.stop(Limit::Sndbuf, at(150), false);
        let t = c.totals(at(170));
        assert_eq!(t.sndbuf_limited, Duration::from_millis(20));
        assert_eq!(t.rwnd_limited, Duration::ZERO);
        assert_eq!(t.busy, Duration::from_millis(70));
        c.stop(Limit::Busy, at(170), true);
        // Idle time is not counted.
        assert_eq!(c.totals(at(500)).busy, Duration::from_millis(70));
    }

    #[test]
    fn stopping_a_state_that_is_not_running_changes_nothing() {
        let mut c = Chrono::default();
        c.start(Limit::Rwnd, at(0));
        c.stop(Limit::Sndbuf, at(10), false);
        let t = c.totals(at(30));
        assert_eq!(t.rwnd_limited, Duration::from_millis(30));
        assert_eq!(t.busy, Duration::from_millis(30));
    }
}
