//! How long a connection keeps trying at either end of its life, per
//! connection or per listener: TCP_SYNCNT (the SYN or SYN,ACK retries),
//! TCP_DEFER_ACCEPT (how long a listener waits for the first data before it
//! makes the connection) and TCP_LINGER2 (an orphan's wait in FIN-WAIT-2),
//! as Linux tcp.c: do_tcp_setsockopt() takes them.

use super::{Endpoint, SlotKind};
use crate::config::Config;
use crate::types::{ConnId, Error, Linger2, ListenerId, MAX_LINGER2_SECS};

/// Linux MAX_TCP_SYNCNT.
const MAX_SYNCNT: u32 = 127;

/// TCP_SYNCNT's range, 1 to 127 (EINVAL otherwise in Linux).
fn syncnt(n: u32) -> Result<u8, Error> {
    if (1..=MAX_SYNCNT).contains(&n) {
        Ok(n as u8)
    } else {
        Err(Error::InvalidArgument)
    }
}

/// Linux tcp.c: secs_to_retrans(): the SYN,ACK timeouts, doubling from the
/// initial RTO up to the largest, whose sum first covers `secs` (at most
/// 255; 0 for 0).
fn secs_to_retrans(cfg: &Config, secs: u32) -> u8 {
    let (mut timeout, max) = timeouts(cfg);
    if secs == 0 {
        return 0;
    }
    let (mut n, mut period) = (1u8, timeout);
    while u64::from(secs) > period && n < u8::MAX {
        n += 1;
        timeout = (timeout * 2).min(max);
        period += timeout;
    }
    n
}

/// Linux tcp.c: retrans_to_secs(), the inverse: the seconds `n` doubling
/// timeouts take.
fn retrans_to_secs(cfg: &Config, n: u8) -> u32 {
    let (mut timeout, max) = timeouts(cfg);
    let mut period = 0;
    for i in 0..n {
        if i > 0 {
            timeout = (timeout * 2).min(max);
        }
        period += timeout;
    }
    u32::try_from(period).unwrap_or(u32::MAX)
}

/// TCP_TIMEOUT_INIT and TCP_RTO_MAX in whole seconds, as the conversions
/// take them.
fn timeouts(cfg: &Config) -> (u64, u64) {
    let init = cfg.rto_initial.as_secs().max(1);
    (init, cfg.rto_max.as_secs().max(init))
}

/// `Seconds` runs from 1 to 120 (Linux TCP_FIN_TIMEOUT_MAX).
fn linger2(l: Linger2) -> Result<Linger2, Error> {
    match l {
        Linger2::Seconds(s) if s == 0 || s > MAX_LINGER2_SECS => Err(Error::InvalidArgument),
        l => Ok(l),
    }
}

impl Endpoint {
    /// TCP_SYNCNT: how many times this connection resends its SYN before
    /// `connect` fails (1 to 127, `InvalidArgument` otherwise), in place of
    /// [`Config::syn_retries`](crate::Config::syn_retries); the linear
    /// timeouts and the time budget apply as to the configuration's count.
    pub fn set_syn_retries(&mut self, c: ConnId, retries: u32) -> Result<(), Error> {
        let n = syncnt(retries)?;
        self.with_active(c, |tcb| tcb.syn_retries = n)
    }

    /// This connection's SYN retries as Linux's getsockopt(TCP_SYNCNT)
    /// reports them: its own, else [`Config::syn_retries`](crate::Config::syn_retries).
    pub fn syn_retries(&self, c: ConnId) -> Result<u32, Error> {
        let tcb = self.active(c)?;
        Ok(tcb.own_syn_retries().unwrap_or(self.cfg.syn_retries))
    }

    /// TCP_SYNCNT on a listener: the connections it makes resend their
    /// SYN,ACK this many times (1 to 127) in place of
    /// [`Config::synack_retries`](crate::Config::synack_retries) (Linux
    /// reqsk_timer_handler() reads the listener's count).
    pub fn set_listener_syn_retries(&mut self, l: ListenerId, retries: u32) -> Result<(), Error> {
        let n = syncnt(retries)?;
        self.listener_opts_mut(l)?.syn_retries = n;
        Ok(())
    }

    /// TCP_LINGER2: how long this connection, once the application has
    /// closed it, waits in FIN-WAIT-2 for the peer's FIN. Linux never waits
    /// less than 3.5 RTOs, and a time over TIME-WAIT's length runs in two
    /// stages of that time less TIME-WAIT's each (so 61 s waits about 2 s);
    /// the engine does the same where [`Config::fin_wait2_timeout`](crate::Config::fin_wait2_timeout)
    /// is set (the Linux profiles), and waits exactly the time asked for
    /// where it is not.
    pub fn set_linger2(&mut self, c: ConnId, how: Linger2) -> Result<(), Error> {
        let how = linger2(how)?;
        self.with_active(c, |tcb| tcb.linger2 = how)
    }

    /// This connection's TCP_LINGER2.
    pub fn linger2(&self, c: ConnId) -> Result<Linger2, Error> {
        self.active(c).map(|tcb| tcb.linger2)
    }

    /// TCP_LINGER2 on a listener: the connections it makes start with it.
    pub fn set_listener_linger2(&mut self, l: ListenerId, how: Linger2) -> Result<(), Error> {
        let how = linger2(how)?;
        self.listener_opts_mut(l)?.linger2 = how;
        Ok(())
    }

    /// TCP_DEFER_ACCEPT on a listener: the handshake's bare ACK does not make
    /// a connection; the first data does, or a bare ACK once `secs` have
    /// passed, counted as SYN,ACK timeouts doubling from the initial RTO
    /// (3 s is two: 1 + 2 s). Meanwhile the SYN,ACK is not resent until the
    /// last timeout of that period, and the connection is dropped once both
    /// the period and the SYN,ACK retries have run out (Linux tcp_check_req():
    /// TCPDeferAcceptDrop; syn_ack_recalc()). 0 turns it off.
    pub fn set_listener_defer_accept(&mut self, l: ListenerId, secs: u32) -> Result<(), Error> {
        let n = secs_to_retrans(&self.cfg, secs);
        self.listener_opts_mut(l)?.defer_accept = n;
        Ok(())
    }

    /// A listener's TCP_DEFER_ACCEPT as Linux reports it: the seconds its
    /// SYN,ACK timeouts add up to (5 s set reads back as 7 s: 1 + 2 + 4).
    pub fn listener_defer_accept(&self, l: ListenerId) -> Result<u32, Error> {
        let listener = self.listeners.get(l).ok_or(Error::InvalidHandle)?;
        Ok(retrans_to_secs(&self.cfg, listener.opts.defer_accept))
    }

    /// TCP_DEFER_ACCEPT on an active connection: its handshake's ACK waits
    /// up to 200 ms for the first data to carry it (Linux
    /// tcp_rcv_synsent_state_process(), as in interactive mode), where the
    /// configuration adapts delayed ACKs as Linux does
    /// ([`Config::delayed_ack_max`](crate::Config::delayed_ack_max)).
    pub fn set_defer_accept(&mut self, c: ConnId, secs: u32) -> Result<(), Error> {
        let n = secs_to_retrans(&self.cfg, secs);
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        let slot = &mut self.slots[idx as usize];
        if !matches!(slot.kind, SlotKind::Active(_)) {
            return Err(Error::NotConnected);
        }
        slot.defer_accept = n;
        Ok(())
    }

    /// A connection's TCP_DEFER_ACCEPT, in seconds as Linux reports it.
    pub fn defer_accept(&self, c: ConnId) -> Result<u32, Error> {
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        Ok(retrans_to_secs(
            &self.cfg,
            self.slots[idx as usize].defer_accept,
        ))
    }

    /// What TCP_DEFER_ACCEPT of `secs` reads back as: the seconds of the
    /// SYN,ACK timeouts it becomes (for a socket that has neither
    /// connection nor listener yet).
    pub fn defer_accept_rounded(&self, secs: u32) -> u32 {
        retrans_to_secs(&self.cfg, secs_to_retrans(&self.cfg, secs))
    }

    /// The options a live listener passes to its connections.
    pub(super) fn listener_opts_mut(
        &mut self,
        l: ListenerId,
    ) -> Result<&mut crate::listener::ListenerOpts, Error> {
        let listener = self.listeners.get_mut(l).ok_or(Error::InvalidHandle)?;
        Ok(&mut listener.opts)
    }
}
