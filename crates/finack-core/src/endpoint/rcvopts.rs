//! Receive-side options of a connection or listener: SO_RCVLOWAT and
//! TCP_WINDOW_CLAMP (Linux tcp.c: tcp_set_rcvlowat(),
//! tcp_set_window_clamp()).

use super::{Endpoint, SlotKind};
use crate::time::Instant;
use crate::types::{ConnId, Error, ListenerId};

impl Endpoint {
    /// SO_RCVLOWAT: the bytes a reader waits for (a blocking read returns
    /// once this many, or what it asked for, are there). Kept at most half
    /// the buffer the application sized, else half of
    /// [`Config::recv_buffer_max`](crate::Config::recv_buffer_max); 0
    /// means 1. Under the memory model a buffer left to autotuning grows at
    /// once to hold that many bytes. While fewer bytes than this wait to
    /// be read, data is acknowledged at once (Linux __tcp_ack_snd_check():
    /// the reader will not come to send the window). Returns the value kept.
    pub fn set_recv_lowat(&mut self, c: ConnId, bytes: u32) -> Result<u32, Error> {
        let cfg = self.cfg.clone();
        let mut kept = 0;
        self.with_active(c, |tcb| kept = tcb.set_rcvlowat(&cfg, bytes))?;
        Ok(kept)
    }

    /// The connection's SO_RCVLOWAT (1 unless set).
    pub fn recv_lowat(&self, c: ConnId) -> Result<u32, Error> {
        self.active(c).map(|tcb| tcb.rcvlowat())
    }

    /// TCP_WINDOW_CLAMP: the largest window the connection offers. Before
    /// its handshake (right after `connect`) it also bounds the first
    /// window and the window scale its SYN offers, and 0 unsets it; after,
    /// it is at least 1152 bytes (half Linux's SOCK_MIN_RCVBUF) and at most
    /// what the window field can carry at the agreed scale. Needs the
    /// receive memory model ([`Config::rcv_memory`](crate::Config::rcv_memory)):
    /// `InvalidArgument` without it.
    pub fn set_window_clamp(&mut self, c: ConnId, bytes: u32) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        let mut r = Ok(());
        self.with_active(c, |tcb| r = tcb.set_window_clamp_opt(&cfg, bytes))?;
        r
    }

    /// The connection's window clamp as TCP_WINDOW_CLAMP reports it (0
    /// before the handshake unless set).
    pub fn window_clamp(&self, c: ConnId) -> Result<u32, Error> {
        self.active(c).map(|tcb| tcb.rmem_clamp())
    }

    /// TCP_WINDOW_CLAMP on a listener (0 unsets it): kept as given (at
    /// least 1152 bytes), it bounds the first window and the window scale
    /// of the connections it makes (Linux tcp_openreq_init_rwin()).
    pub fn set_listener_window_clamp(&mut self, l: ListenerId, bytes: u32) -> Result<(), Error> {
        if !self.cfg.rcv_memory {
            return Err(Error::InvalidArgument);
        }
        self.listener_opts_mut(l)?.window_clamp = if bytes == 0 {
            0
        } else {
            bytes.max(crate::tcb::MIN_WINDOW_CLAMP)
        };
        Ok(())
    }

    /// A listener's TCP_WINDOW_CLAMP (0: unset).
    pub fn listener_window_clamp(&self, l: ListenerId) -> Result<u32, Error> {
        let listener = self.listeners.get(l).ok_or(Error::InvalidHandle)?;
        Ok(listener.opts.window_clamp)
    }
}

impl Endpoint {
    /// TCP_QUICKACK: `false` puts the connection in interactive mode, where
    /// even the first data waits for the delayed-ACK timer (which leaves the
    /// mode when it has to send an ACK alone); `true` leaves the mode and
    /// sends an ACK owed now if a read would: the application has read all
    /// that arrived (Linux tcp.c: __tcp_sock_set_quickack()). Without
    /// interactive mode (`Config::pingpong_thresh` 0) `false` changes nothing.
    pub fn set_quickack(&mut self, now: Instant, c: ConnId, on: bool) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        let cfg = &self.cfg;
        let SlotKind::Active(tcb) = &mut self.slots[idx as usize].kind else {
            return Err(Error::NotConnected);
        };
        if tcb.set_quickack(cfg, on) {
            self.mark_tx(idx);
        }
        self.reschedule(idx);
        Ok(())
    }

    /// What getsockopt(TCP_QUICKACK) reports: whether the connection is
    /// out of interactive mode.
    pub fn quickack(&self, c: ConnId) -> Result<bool, Error> {
        self.active(c).map(|tcb| tcb.quickack(&self.cfg))
    }
}
