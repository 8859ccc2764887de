//! The receive window chosen from memory (`Config::rcv_memory`): Linux
//! tcp_output.c: __tcp_select_window() and tcp_select_window(), and the
//! ACK decision that depends on them (tcp_input.c: __tcp_ack_snd_check()).

use super::super::Tcb;
use crate::config::Config;

impl Tcb {
    /// Linux tcp_output.c: __tcp_select_window(): the window the free
    /// memory allows, under `rcv_ssthresh` and the clamp. Less than half
    /// the full window free: no quick ACKs, and a window under a segment
    /// or a sixteenth of the buffer is 0 (receiver SWS avoidance). With
    /// window scaling it is rounded up to the scale's unit; without, to a
    /// whole number of the peer's segments unless the window offered is
    /// within a segment of it. With `Config::shrink_window` and a scale the
    /// window follows the free memory down (tcp_shrink_window).
    pub(in crate::tcb) fn rmem_select(&mut self, cfg: &Config) -> u32 {
        let mut mss = i64::from(self.rcv_mss(cfg));
        let ws = self.rcv.wscale;
        let unit = 1i64 << ws;
        let m = self.mem_mut();
        let mut free = m.free_space();
        let allowed = m.full_space();
        let full = i64::from(m.clamp).min(allowed);
        let ssthresh = i64::from(m.ssthresh);
        let wnd = i64::from(m.wnd);
        if mss > full {
            mss = full;
            if mss <= 0 {
                return 0;
            }
        }
        if cfg.shrink_window && ws > 0 {
            free = free.div_euclid(unit) * unit;
            if free < full >> 1 {
                self.rcv.quickacks = 0;
                if free < allowed >> 4 || free < mss || free < unit {
                    return 0;
                }
            }
            if free > ssthresh {
                free = (ssthresh + unit - 1) / unit * unit;
            }
            return free.max(0) as u32;
        }
        if free < full >> 1 {
            self.rcv.quickacks = 0;
            free = free.div_euclid(unit) * unit;
            if free < allowed >> 4 || free < mss {
                return 0;
            }
        }
        free = free.min(ssthresh);
        let window = if ws > 0 {
            (free + unit - 1) / unit * unit
        } else if wnd <= free - mss || wnd > free {
            free / mss * mss
        } else if mss == full && free > wnd + (full >> 1) {
            free
        } else {
            wnd
        };
        window.max(0) as u32
    }

    /// Linux tcp_input.c: __tcp_ack_snd_check()'s first reason to ACK at
    /// once: more than one full segment arrived since the window was last
    /// announced, and either nothing waits to be read (below SO_RCVLOWAT's
    /// default of 1) or the window would now reach at least as far as the
    /// one announced. Choosing that window (__tcp_select_window()) leaves
    /// quick-ACK mode when free memory is short, so a large segment that
    /// fills half the buffer is acknowledged after the delayed-ACK time.
    pub(in crate::tcb) fn rmem_frames_to_ack(&mut self, cfg: &Config) -> bool {
        let since = self.rcv.nxt - self.rcv.last_ack_sent;
        if since <= i32::from(self.rcv_mss(cfg)) {
            return false;
        }
        let wnd = self.mem().map_or(0, |m| m.wnd);
        (self.rcv.buf.len() as u32) < self.rcvlowat() || self.rmem_select(cfg) >= wnd
    }

    /// The receive window last announced, unscaled (`tcpi_rcv_wnd`: Linux
    /// `rcv_wnd` under the memory model, else the room up to the edge
    /// last advertised as it stood when the last ACK left).
    pub(crate) fn rcv_wnd_announced(&self, cfg: &Config) -> u32 {
        match self.mem().filter(|_| cfg.rcv_memory) {
            Some(m) => m.wnd,
            None => self.rcv_wnd_advertised(),
        }
    }

    /// SO_RCVLOWAT (`sk_rcvlowat`, at least 1).
    pub(crate) fn rcvlowat(&self) -> u32 {
        self.rcv.est.as_ref().map_or(1, |e| e.lowat.max(1))
    }

    /// Linux tcp.c: tcp_set_rcvlowat(): at most half the buffer the
    /// application sized, else half of `tcp_rmem[2]`; 0 means 1. Under the
    /// memory model a buffer left to autotuning grows at once to hold that
    /// many bytes, its window clamp with it (tcp_set_window_clamp(): at
    /// most what the field can announce). Returns the value kept.
    pub(crate) fn set_rcvlowat(&mut self, cfg: &Config, val: u32) -> u32 {
        let locked = self.rcvbuf_locked();
        let cap = match self.mem().filter(|_| cfg.rcv_memory) {
            Some(m) if locked => m.rcvbuf >> 1,
            None if locked => self.rcv.buf.cap() as u32,
            _ => (cfg.recv_buffer_max / 2).min(u32::MAX as usize) as u32,
        };
        let val = val.min(cap).max(1);
        self.est().lowat = val;
        if locked || !cfg.rcv_memory {
            return val;
        }
        let m = self.mem_mut();
        let space = m.space_from_win(u64::from(val)).min(u64::from(u32::MAX)) as u32;
        if space > m.rcvbuf {
            m.rcvbuf = space;
            if self.rcv.buf.cap() < space as usize {
                self.rcv.buf.grow_cap(space as usize);
            }
            self.set_window_clamp(val);
        }
        val
    }

    /// TCP_WINDOW_CLAMP (Linux tcp.c: tcp_set_window_clamp()), under the
    /// memory model: before the handshake the value is kept as it is (at
    /// least half SOCK_MIN_RCVBUF) and bounds the window and the shift the
    /// handshake chooses; after it, also at most what the field can
    /// announce. 0 unsets it, only before the handshake.
    pub(crate) fn set_window_clamp_opt(
        &mut self,
        cfg: &Config,
        val: u32,
    ) -> Result<(), crate::types::Error> {
        use crate::types::{Error, State};
        if !cfg.rcv_memory {
            return Err(Error::InvalidArgument);
        }
        let before = matches!(self.state, State::SynSent | State::SynReceived)
            && self.snd.nxt == self.snd.iss;
        if !before {
            if val == 0 {
                return Err(Error::InvalidArgument);
            }
            self.set_window_clamp(val);
            return Ok(());
        }
        self.mem_mut().clamp = if val == 0 {
            0
        } else {
            val.max(super::MIN_WINDOW_CLAMP)
        };
        Ok(())
    }

    /// Linux tcp_output.c: tcp_select_window(): the window for a segment:
    /// 0 after data was refused for want of memory; never less than what
    /// is still open of the last one unless shrinking is allowed; recorded
    /// as `rcv_wnd`. Returns the window, unscaled.
    pub(in crate::tcb) fn rmem_window_for_segment(&mut self, cfg: &Config) -> u32 {
        if core::mem::take(&mut self.mem_mut().nomem) {
            self.mem_mut().wnd = 0;
            self.hp_off();
            return 0;
        }
        let cur = self.rcv_wnd_open();
        let mut new = self.rmem_select(cfg);
        let ws = self.rcv.wscale;
        if new < cur && !(cfg.shrink_window && ws > 0) {
            new = cur.div_ceil(1 << ws) << ws;
        }
        // Linux 7.x tcp_select_window(): `rcv_wnd` records the window as
        // the field carries it, at most 65535 units of the shift; a larger
        // record (6.x kept it) would let the peer past the edge announced
        // and keep the window-advance test of __tcp_ack_snd_check() from
        // ever passing without scaling (selftest
        // tcp_rcv_wnd_snd_ack_no_scaling).
        new = new.min(self.window_max());
        self.mem_mut().wnd = new;
        if new >> ws == 0 {
            // "If we advertise zero window, disable fast path."
            self.hp_off();
        }
        new
    }

    /// What is still open of the window last offered (Linux
    /// tcp_receive_window(): `rcv_wup + rcv_wnd - rcv_nxt`).
    pub(crate) fn rcv_wnd_open(&self) -> u32 {
        let wnd = self.mem().map_or(0, |m| m.wnd);
        let edge = self.rcv.last_ack_sent + wnd;
        (edge - self.rcv.nxt).max(0) as u32
    }
}
