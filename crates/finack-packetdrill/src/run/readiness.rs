//! Readiness: poll(), and the events epoll reports (epoll.rs), computed from
//! the connection's state as Linux's tcp_poll() does, in outline.

use super::syscalls::CallResult;
use super::*;

impl Runner {
    /// poll: each `{fd=..., events=..., revents=...}` entry gets the events
    /// that hold now (Linux's tcp_poll, in outline); blocks until one does or
    /// the timeout (milliseconds, -1 for none) passes.
    pub(super) fn poll(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
        let Some(Expr::List(entries)) = call.args.first() else {
            return fail(
                line,
                "poll: first argument must be [{fd=..., events=...}, ...]",
            );
        };
        let timeout = call.args.get(2).and_then(Expr::as_int).unwrap_or(-1);
        let mut ready = 0i64;
        let mut mismatch = None;
        for e in entries {
            let Some(fd) = e.field("fd").and_then(Expr::as_int) else {
                return fail(line, "poll: an entry without fd=");
            };
            let asked = e
                .field("events")
                .map(poll_bits)
                .transpose()
                .map_err(|w| Failure {
                    line,
                    message: format!("poll: unknown event {w}"),
                })?;
            let asked = asked.unwrap_or(0);
            self.note_zerocopy_completions(line, fd);
            // POLLERR, POLLHUP and POLLNVAL are reported whether asked or not.
            let got = self.poll_events(fd) & (asked | POLLERR | POLLHUP | POLLNVAL);
            if got != 0 {
                ready += 1;
            }
            if let Some(want) = e.field("revents") {
                let want = poll_bits(want).map_err(|w| Failure {
                    line,
                    message: format!("poll: unknown event {w}"),
                })?;
                if want != got && mismatch.is_none() {
                    mismatch = Some((fd, want, got));
                }
            }
        }
        if ready == 0 && timeout != 0 && self.wait_blocks(retry, timeout) {
            return Ok(CallResult::Blocked);
        }
        self.poll_deadline = None;
        if let Some((fd, want, got)) = mismatch {
            return fail(
                line,
                format!(
                    "poll: fd {fd}: expected revents {} but got {}",
                    poll_names(want),
                    poll_names(got)
                ),
            );
        }
        Ok(CallResult::Done(ready, None))
    }

    /// A readiness query on a socket that made MSG_ZEROCOPY sends: Linux's
    /// completions sit on the error queue and raise POLLERR, which the runner
    /// does not model; the query is reported unchecked.
    pub(super) fn note_zerocopy_completions(&mut self, line: u32, fd: i64) {
        if self.fds.get(&fd).is_some_and(|f| f.opts.zerocopy_sent) {
            self.unsupported.push(format!(
                "line {line}: fd {fd} made MSG_ZEROCOPY sends; their completions \
                 (error queue, POLLERR) are not modelled"
            ));
        }
    }

    pub(super) fn poll_events(&self, fd: i64) -> u32 {
        let Some(f) = self.fds.get(&fd) else {
            return POLLNVAL;
        };
        match &f.sock {
            Sock::Fresh(_) => POLLOUT | POLLHUP,
            // Regular files are always ready (Linux: no poll method).
            Sock::File { .. } => POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
            Sock::Pipe { pipe, write_end } => {
                let held = self.pipes.get(*pipe).copied().unwrap_or(0);
                match (write_end, held) {
                    (false, 0) => 0,
                    (false, _) => POLLIN | POLLRDNORM,
                    (true, n) if n < files::PIPE_CAPACITY => POLLOUT | POLLWRNORM,
                    (true, _) => 0,
                }
            }
            Sock::Epoll(_) => 0,
            Sock::Listener(l) => {
                if self.ep.accept_queue_len(*l) > 0 {
                    POLLIN | POLLRDNORM
                } else {
                    0
                }
            }
            Sock::Conn(c) => {
                let state = self.ep.state(*c);
                let info = self.ep.info(*c);
                let mut ev = 0;
                let reset = state == State::Closed && self.ep.close_error(*c).is_some();
                // Linux tcp_poll(): POLLERR also while the error queue
                // holds records (SO_TIMESTAMPING's transmit timestamps).
                if reset || self.ep.errqueue_len(*c) > 0 {
                    ev |= POLLERR;
                }
                let peer_fin = matches!(
                    state,
                    State::CloseWait | State::LastAck | State::Closing | State::TimeWait
                ) || state == State::Closed;
                // Linux tcp_poll() → tcp_stream_is_readable(): SO_RCVLOWAT
                // bytes, or the end of the stream.
                // An out-of-band byte at the read position does not count
                // (tcp_poll(): target + 1); one waiting raises POLLPRI.
                let lowat = self.ep.recv_lowat(*c).unwrap_or(1);
                let readable = u32::try_from(self.ep.poll_readable(*c)).unwrap_or(u32::MAX);
                if (info.is_some() && readable >= lowat) || peer_fin {
                    ev |= POLLIN | POLLRDNORM;
                }
                if self.ep.oob_waiting(*c) {
                    ev |= POLLPRI;
                }
                if peer_fin {
                    ev |= POLLRDHUP;
                }
                if state == State::Closed || (peer_fin && !can_send(state)) {
                    ev |= POLLHUP;
                }
                // Linux tcp_poll(): POLLOUT when __sk_stream_is_writeable(sk, 1),
                // which the engine answers (send buffer and TCP_NOTSENT_LOWAT).
                if can_send(state) && self.ep.writable(*c) {
                    ev |= POLLOUT | POLLWRNORM;
                }
                ev
            }
        }
    }
}

const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLOUT: u32 = 0x004;
const POLLERR: u32 = 0x008;
const POLLHUP: u32 = 0x010;
const POLLNVAL: u32 = 0x020;
const POLLRDNORM: u32 = 0x040;
const POLLWRNORM: u32 = 0x100;
const POLLRDHUP: u32 = 0x2000;

const POLL_NAMES: &[(&str, u32)] = &[
    ("POLLIN", POLLIN),
    ("POLLPRI", POLLPRI),
    ("POLLOUT", POLLOUT),
    ("POLLERR", POLLERR),
    ("POLLHUP", POLLHUP),
    ("POLLNVAL", POLLNVAL),
    ("POLLRDNORM", POLLRDNORM),
    ("POLLWRNORM", POLLWRNORM),
    ("POLLRDHUP", POLLRDHUP),
];

impl Runner {
    /// A poll()/epoll_wait() that found nothing waits until its timeout
    /// (`timeout` ms, negative: forever), set when the call first blocks:
    /// true while it must go on blocking.
    pub(super) fn wait_blocks(&mut self, retry: bool, timeout: i64) -> bool {
        let now = self.now;
        let deadline = match (retry, self.poll_deadline) {
            (true, Some(d)) => d,
            _ => {
                let d =
                    (timeout > 0).then(|| now + core::time::Duration::from_millis(timeout as u64));
                self.poll_deadline = d;
                match d {
                    Some(d) => d,
                    None => return true,
                }
            }
        };
        now < deadline
    }
}

/// The bits of a flags expression (`POLLIN|POLLOUT`, `EPOLLIN|EPOLLET`, a
/// number) under the names of `table`; `Err` names an unknown word.
pub(super) fn named_bits(e: &Expr, table: &[(&str, u32)]) -> Result<u32, String> {
    match e {
        Expr::Int(v) => Ok(*v as u32),
        Expr::Word(w) => table
            .iter()
            .find(|(n, _)| n == w)
            .map(|(_, b)| *b)
            .ok_or_else(|| w.clone()),
        Expr::Or(a, b) => Ok(named_bits(a, table)? | named_bits(b, table)?),
        other => Err(other.to_string()),
    }
}

/// `bits` as `A|B` under the names of `table` (`0` for none).
pub(super) fn bit_names(bits: u32, table: &[(&str, u32)]) -> String {
    let names: Vec<&str> = table
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

fn poll_bits(e: &Expr) -> Result<u32, String> {
    named_bits(e, POLL_NAMES)
}

fn poll_names(bits: u32) -> String {
    bit_names(bits, POLL_NAMES)
}

/// States in which the application may still send.
fn can_send(s: State) -> bool {
    matches!(s, State::Established | State::CloseWait)
}
