//! Keep-alive and the idle timeout, per connection: SO_KEEPALIVE and the
//! TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT that override the
//! configuration's times and count for one connection (Linux tcp.c:
//! do_tcp_setsockopt()).

use core::time::Duration;

use super::Endpoint;
use crate::types::{ConnId, Error};

/// Linux MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL (seconds).
const MAX_KEEP_SECS: u64 = 32767;
/// Linux MAX_TCP_KEEPCNT.
const MAX_KEEPCNT: u32 = 127;

/// Whole seconds, rounded up, 1 to 32767 (EINVAL otherwise in Linux).
fn keep_secs(d: Duration) -> Result<u16, Error> {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if (1..=MAX_KEEP_SECS).contains(&secs) {
        Ok(secs as u16)
    } else {
        Err(Error::InvalidArgument)
    }
}

impl Endpoint {
    /// Turn keep-alive on or off for a connection (SO_KEEPALIVE; RFC 9293 MUST-24:
    /// the application asks for it; MUST-25: off by default).
    pub fn set_keepalive(&mut self, c: ConnId, on: bool) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        self.with_active(c, |tcb| {
            tcb.ka.set_on(on);
            tcb.arm_keepalive(&cfg);
        })
    }

    /// Reset this connection once nothing has arrived from its peer for
    /// `timeout` (whole seconds, rounded up; `None`: never), in any state
    /// from ESTABLISHED on but TIME-WAIT. Connections a listener opens take
    /// its [`ListenerLimits::idle_timeout`].
    pub fn set_idle_timeout(
        &mut self,
        c: ConnId,
        timeout: Option<core::time::Duration>,
    ) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        self.with_active(c, |tcb| {
            tcb.ka.idle_secs = super::idle_secs(timeout);
            tcb.arm_keepalive(&cfg);
        })
    }

    /// TCP_KEEPIDLE: how long this connection must be idle before the
    /// first keep-alive probe (whole seconds, rounded up; 1 s to 32767 s,
    /// `InvalidArgument` otherwise), in place of [`Config::keepalive_time`](crate::Config::keepalive_time).
    /// With keep-alive on, the timer is set again from the last segment
    /// received (Linux tcp.c: tcp_sock_set_keepidle_locked()).
    pub fn set_keepalive_idle(&mut self, c: ConnId, idle: Duration) -> Result<(), Error> {
        let secs = keep_secs(idle)?;
        let cfg = self.cfg.clone();
        self.with_active(c, |tcb| {
            tcb.ka.set_times(secs, tcb.ka.intvl());
            tcb.arm_keepalive(&cfg);
        })
    }

    /// TCP_KEEPINTVL: the time between unanswered keep-alive probes of this
    /// connection (whole seconds, rounded up; 1 s to 32767 s), in place of
    /// [`Config::keepalive_interval`](crate::Config::keepalive_interval).
    pub fn set_keepalive_interval(&mut self, c: ConnId, interval: Duration) -> Result<(), Error> {
        let secs = keep_secs(interval)?;
        let cfg = self.cfg.clone();
        self.with_active(c, |tcb| {
            tcb.ka.set_times(tcb.ka.idle(), secs);
            tcb.arm_keepalive(&cfg);
        })
    }

    /// TCP_KEEPCNT: how many keep-alive probes of this connection may go
    /// unanswered before it is reset (1 to 127), in place of
    /// [`Config::keepalive_probes`](crate::Config::keepalive_probes).
    pub fn set_keepalive_count(&mut self, c: ConnId, count: u32) -> Result<(), Error> {
        if !(1..=MAX_KEEPCNT).contains(&count) {
            return Err(Error::InvalidArgument);
        }
        self.with_active(c, |tcb| tcb.ka.cnt = count as u8)
    }

    /// This connection's keep-alive idle time, probe interval and probe
    /// count: its own (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT) where set,
    /// else the configuration's, as Linux's getsockopt() reports them.
    pub fn keepalive_params(&self, c: ConnId) -> Result<(Duration, Duration, u32), Error> {
        let tcb = self.active(c)?;
        Ok((
            tcb.keepalive_idle(&self.cfg),
            tcb.keepalive_interval(&self.cfg),
            tcb.keepalive_count(&self.cfg),
        ))
    }
}
