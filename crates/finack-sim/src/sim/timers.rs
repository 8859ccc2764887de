//! Timer notes for the diagrams: a retransmission, keep-alive, persist or
//! loss-probe timer that expires, and a TIME-WAIT timer that a segment
//! restarts. Only read the engines' timers; runs are unchanged.

use finack_core::{ConnId, State, TimerKind};

use super::Sim;
use crate::trace::HostId;

/// Most connections a host's application may know for the simulator to
/// look at their timers after every event (timer notes are for diagrams,
/// not for runs of thousands of connections).
const TIMER_NOTES_MAX_CONNS: usize = 512;

impl Sim {
    /// The connections of `host`'s application whose timers the simulator
    /// watches for the diagrams (none in runs that record no packets).
    pub(super) fn watched(&self, host: HostId) -> Vec<ConnId> {
        let conns = &self.hosts[host].app.conns;
        if !self.record_packets || conns.len() > TIMER_NOTES_MAX_CONNS {
            return Vec::new();
        }
        conns.clone()
    }

    /// Note each retransmission, keep-alive, persist or loss-probe timer of
    /// `host` that expires now (TIME-WAIT and FIN-WAIT-2 expiries show as
    /// the state changes they cause).
    pub(super) fn note_expiries(&mut self, host: HostId) {
        let now = self.now;
        for c in self.watched(host) {
            let Some((kind, at)) = self.hosts[host].ep.timer_of(c) else {
                continue;
            };
            let what = match kind {
                TimerKind::Retransmit => "retransmission timer (RTO)",
                TimerKind::Keepalive => "keep-alive (or idle) timer",
                TimerKind::Persist => "persist timer",
                TimerKind::LossProbe => "tail-loss-probe timer",
                TimerKind::User => "user timeout",
                _ => continue,
            };
            if at <= now {
                let port = self.hosts[host].ep.addrs(c).map_or(0, |a| a.0.port());
                self.note(Some(host), format!("⏱ :{port} {what} expires"));
            }
        }
    }

    /// Note each TIME-WAIT timer of `host` that a segment just restarted.
    pub(super) fn note_time_wait_restarts(&mut self, host: HostId) {
        for c in self.watched(host) {
            let key = (host, c);
            let tw = match self.hosts[host].ep.timer_of(c) {
                Some((TimerKind::TimeWait, at)) if self.state(host, c) == State::TimeWait => at,
                _ => {
                    self.tw_deadlines.remove(&key);
                    continue;
                }
            };
            match self.tw_deadlines.insert(key, tw) {
                Some(old) if tw > old => {
                    let port = self.hosts[host].ep.addrs(c).map_or(0, |a| a.0.port());
                    let left = tw - self.now;
                    self.note(
                        Some(host),
                        format!(
                            "⟳ :{port} TIME-WAIT timer restarted: {} s again from now",
                            left.as_secs()
                        ),
                    );
                }
                _ => {}
            }
        }
    }
}
