//! How long a connection keeps trying at either end of its life, per
//! connection or per listener: TCP_SYNCNT (the SYN or SYN,ACK retries) and
//! TCP_LINGER2 (an orphan's wait in FIN-WAIT-2), as Linux tcp.c:
//! do_tcp_setsockopt() takes them.

use super::Endpoint;
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
        let listener = self.listeners.get_mut(l).ok_or(Error::InvalidHandle)?;
        listener.opts.syn_retries = n;
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
        let listener = self.listeners.get_mut(l).ok_or(Error::InvalidHandle)?;
        listener.opts.linger2 = how;
        Ok(())
    }
}
