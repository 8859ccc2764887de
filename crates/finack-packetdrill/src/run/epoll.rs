//! epoll_create / epoll_create1 / epoll_ctl / epoll_wait over the readiness
//! poll() uses.
//!
//! Linux (fs/eventpoll.c): an item joins the ready list when it is inserted
//! or modified while ready, and whenever its socket wakes its waiters (data
//! arrived: sk_data_ready; a state change: sk_state_change; send space after
//! a write ran out of it: sk_stream_write_space, once per SOCK_NOSPACE
//! episode). epoll_wait reports each ready item with the events that hold
//! now, masked by the ones asked for (EPOLLERR and EPOLLHUP always); a
//! level-triggered item goes back on the list while it stays ready, an
//! edge-triggered (EPOLLET) one leaves it until the next wakeup. The runner
//! counts wakeups per connection from the engine's events (see
//! `Runner::note_event`) and keeps, per item, the last count it reported.

use super::syscalls::CallResult;
use super::*;

pub(super) const EPOLLIN: u32 = 0x001;
const EPOLLPRI: u32 = 0x002;
pub(super) const EPOLLOUT: u32 = 0x004;
const EPOLLERR: u32 = 0x008;
const EPOLLHUP: u32 = 0x010;
const EPOLLRDNORM: u32 = 0x040;
const EPOLLRDBAND: u32 = 0x080;
const EPOLLWRNORM: u32 = 0x100;
const EPOLLWRBAND: u32 = 0x200;
const EPOLLMSG: u32 = 0x400;
const EPOLLRDHUP: u32 = 0x2000;
const EPOLLEXCLUSIVE: u32 = 1 << 28;
const EPOLLWAKEUP: u32 = 1 << 29;
const EPOLLONESHOT: u32 = 1 << 30;
const EPOLLET: u32 = 1 << 31;

const EPOLL_NAMES: &[(&str, u32)] = &[
    ("EPOLLIN", EPOLLIN),
    ("EPOLLPRI", EPOLLPRI),
    ("EPOLLOUT", EPOLLOUT),
    ("EPOLLERR", EPOLLERR),
    ("EPOLLHUP", EPOLLHUP),
    ("EPOLLRDNORM", EPOLLRDNORM),
    ("EPOLLRDBAND", EPOLLRDBAND),
    ("EPOLLWRNORM", EPOLLWRNORM),
    ("EPOLLWRBAND", EPOLLWRBAND),
    ("EPOLLMSG", EPOLLMSG),
    ("EPOLLRDHUP", EPOLLRDHUP),
    ("EPOLLEXCLUSIVE", EPOLLEXCLUSIVE),
    ("EPOLLWAKEUP", EPOLLWAKEUP),
    ("EPOLLONESHOT", EPOLLONESHOT),
    ("EPOLLET", EPOLLET),
];

/// The user data of an `epoll_event`, as the script names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EpollData {
    Fd(i64),
    Ptr(i64),
    U32(i64),
    U64(i64),
}

/// One registered descriptor.
#[derive(Clone, Debug)]
pub(super) struct EpollItem {
    fd: i64,
    events: u32,
    data: EpollData,
    /// Queued on the ready list by its insertion or modification.
    queued: bool,
    /// The descriptor's wakeup count when the item was last reported.
    seen: u64,
}

/// The bits of `EPOLLIN|EPOLLET`-style expressions (or numbers).
fn epoll_bits(e: &Expr) -> Result<u32, String> {
    super::readiness::named_bits(e, EPOLL_NAMES)
}

fn epoll_names(bits: u32) -> String {
    super::readiness::bit_names(bits, EPOLL_NAMES)
}

/// `{events=..., fd=N}` (or `ptr=`, `u32=`, `u64=`): the events and data.
fn epoll_event(line: u32, e: &Expr) -> Res<(u32, EpollData)> {
    let events = e.field("events").ok_or_else(|| Failure {
        line,
        message: "epoll_event needs events=...".into(),
    })?;
    let events = epoll_bits(events).map_err(|w| Failure {
        line,
        message: format!("epoll: unknown event {w}"),
    })?;
    let int = |name: &str| e.field(name).and_then(Expr::as_int);
    let data = if let Some(v) = int("fd") {
        EpollData::Fd(v)
    } else if let Some(v) = int("ptr") {
        EpollData::Ptr(v)
    } else if let Some(v) = int("u32") {
        EpollData::U32(v)
    } else if let Some(v) = int("u64") {
        EpollData::U64(v)
    } else {
        return fail(line, "epoll_event needs fd=, ptr=, u32= or u64=");
    };
    Ok((events, data))
}

impl Runner {
    /// How many times the socket behind `fd` woke its waiters so far.
    fn wakeups(&self, fd: i64) -> u64 {
        match self.fds.get(&fd).map(|f| &f.sock) {
            Some(Sock::Conn(c)) => self.conn_wakes.get(c).copied().unwrap_or(0),
            Some(Sock::Listener(l)) => self.listener_wakes.get(l).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// epoll_create(size) (size must be positive) and epoll_create1(flags).
    pub(super) fn epoll_create(&mut self, call: &Syscall) -> CallResult {
        let arg = call.args.first().and_then(Expr::as_int);
        if call.name == "epoll_create" && arg.is_some_and(|s| s <= 0) {
            return CallResult::Done(-1, Some("EINVAL"));
        }
        let fd = self.new_fd(call);
        self.fds
            .insert(fd, Fd::new(Sock::Epoll(Vec::new()), SockOpts::default()));
        CallResult::Done(fd, None)
    }

    /// epoll_ctl(epfd, EPOLL_CTL_ADD|MOD|DEL, fd, {events=..., fd=...}).
    pub(super) fn epoll_ctl(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let epfd = self.fd_arg(line, call)?;
        let op = call.args.get(1).and_then(Expr::as_word).unwrap_or("");
        let Some(fd) = call.args.get(2).and_then(Expr::as_int) else {
            return fail(line, "epoll_ctl: third argument must be a descriptor");
        };
        let ev = match (op, call.args.get(3)) {
            ("EPOLL_CTL_DEL", _) => None,
            (_, Some(e)) => Some(epoll_event(line, e)?),
            (_, None) => return fail(line, "epoll_ctl: missing epoll_event"),
        };
        if !self.fds.contains_key(&fd) {
            return Ok(CallResult::Done(-1, Some("EBADF")));
        }
        if fd == epfd {
            return Ok(CallResult::Done(-1, Some("EINVAL")));
        }
        let ready_now = ev.map(|(events, _)| self.epoll_mask(fd, events) != 0);
        let seen = self.wakeups(fd);
        let Some(Fd {
            sock: Sock::Epoll(items),
            ..
        }) = self.fds.get_mut(&epfd)
        else {
            return Ok(CallResult::Done(-1, Some("EINVAL")));
        };
        let at = items.iter().position(|i| i.fd == fd);
        let r = match (op, at, ev) {
            ("EPOLL_CTL_ADD", Some(_), _) => CallResult::Done(-1, Some("EEXIST")),
            ("EPOLL_CTL_ADD", None, Some((events, data))) => {
                items.push(EpollItem {
                    fd,
                    events,
                    data,
                    queued: ready_now == Some(true),
                    seen,
                });
                CallResult::Done(0, None)
            }
            ("EPOLL_CTL_MOD", Some(i), Some((events, data))) => {
                items[i] = EpollItem {
                    fd,
                    events,
                    data,
                    queued: ready_now == Some(true),
                    seen,
                };
                CallResult::Done(0, None)
            }
            ("EPOLL_CTL_DEL", Some(i), _) => {
                items.remove(i);
                CallResult::Done(0, None)
            }
            ("EPOLL_CTL_MOD" | "EPOLL_CTL_DEL", None, _) => CallResult::Done(-1, Some("ENOENT")),
            _ => return fail(line, format!("epoll_ctl: unknown operation '{op}'")),
        };
        Ok(r)
    }

    /// The events of `fd` that an item asking for `events` reports now.
    fn epoll_mask(&self, fd: i64, events: u32) -> u32 {
        // poll's bits are epoll's (the EPOLL* values equal the POLL* ones).
        self.poll_events(fd) & (events | EPOLLERR | EPOLLHUP)
    }

    /// epoll_wait(epfd, {events=..., fd=...}, maxevents, timeout): the
    /// script's event is compared with the first one reported (both 0 when
    /// none is), as packetdrill run_system_call.c: syscall_epoll_wait().
    pub(super) fn epoll_wait(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
        let epfd = self.fd_arg(line, call)?;
        let want = match call.args.get(1) {
            Some(e @ Expr::Struct(_)) => Some(epoll_event(line, e)?),
            _ => None,
        };
        let max = call.args.get(2).and_then(Expr::as_int).unwrap_or(1);
        let timeout = call.args.get(3).and_then(Expr::as_int).unwrap_or(-1);
        if max <= 0 {
            return Ok(CallResult::Done(-1, Some("EINVAL")));
        }
        let Some(Fd {
            sock: Sock::Epoll(items),
            ..
        }) = self.fds.get(&epfd).cloned()
        else {
            return Ok(CallResult::Done(-1, Some("EINVAL")));
        };
        let mut reported: Vec<(u32, EpollData)> = Vec::new();
        let mut updated = items.clone();
        for item in updated.iter_mut() {
            if reported.len() as i64 >= max {
                break;
            }
            if item.events & EPOLLONESHOT != 0 {
                self.unsupported
                    .push(format!("line {line}: EPOLLONESHOT is not modelled"));
            }
            self.note_zerocopy_completions(line, item.fd);
            let wakes = self.wakeups(item.fd);
            let mask = self.epoll_mask(item.fd, item.events);
            let edge = item.events & EPOLLET != 0;
            let pending = item.queued || wakes > item.seen;
            if edge && !pending {
                continue;
            }
            // Reported or not, a woken item leaves the ready list here; a
            // level-triggered one is put back while it stays ready.
            item.queued = false;
            item.seen = wakes;
            if mask != 0 {
                reported.push((mask, item.data));
            }
        }
        if reported.is_empty() && timeout != 0 && self.wait_blocks(retry, timeout) {
            return Ok(CallResult::Blocked);
        }
        self.poll_deadline = None;
        if let Some(Fd {
            sock: Sock::Epoll(items),
            ..
        }) = self.fds.get_mut(&epfd)
        {
            *items = updated;
        }
        let got = reported.first().copied().unwrap_or((0, EpollData::Ptr(0)));
        if let Some((events, data)) = want {
            if events != got.0 {
                return fail(
                    line,
                    format!(
                        "epoll_wait: expected events {} but got {}",
                        epoll_names(events),
                        epoll_names(got.0)
                    ),
                );
            }
            let value = |d: EpollData| match d {
                EpollData::Fd(v) | EpollData::Ptr(v) | EpollData::U32(v) | EpollData::U64(v) => v,
            };
            if value(data) != value(got.1) {
                return fail(
                    line,
                    format!("epoll_wait: expected data {:?} but got {:?}", data, got.1),
                );
            }
        }
        Ok(CallResult::Done(reported.len() as i64, None))
    }
}
