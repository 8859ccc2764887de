//! Files and pipes: open() of a file a script's shell command made,
//! sendfile(), pipe(), splice(), and recvmsg().
//!
//! Scripts make their files with `dd if=/dev/zero of=PATH bs=.. count=..`
//! (packetdrill expects payloads to be zeroes) and remove them with
//! `rm -f PATH`; the runner keeps such files in memory, by size only.

use super::syscalls::{flag_value, is_null, CallResult, OPEN_FLAGS};
use super::*;

/// A pipe's capacity: Linux's default of 16 pages (fs/pipe.c
/// PIPE_DEF_BUFFERS).
pub(super) const PIPE_CAPACITY: usize = 16 * 4096;

/// A shell command about files the runner carries out itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum FileCommand {
    /// `rm -f PATH...`.
    Remove(Vec<String>),
    /// `dd if=/dev/zero of=PATH bs=N count=M [status=none]`: a file of N*M
    /// zero bytes.
    Create(String, usize),
}

/// Recognizes `rm -f` and `dd` from /dev/zero (with or without `/bin/`).
pub(super) fn file_command(line: &str) -> Option<FileCommand> {
    let mut words = line.split_whitespace();
    let cmd = words.next()?;
    let cmd = cmd.strip_prefix("/bin/").unwrap_or(cmd);
    let rest: Vec<&str> = words.collect();
    match cmd {
        "rm" => {
            let paths: Vec<String> = rest
                .iter()
                .filter(|w| !w.starts_with('-'))
                .map(|w| w.to_string())
                .collect();
            (!paths.is_empty()).then_some(FileCommand::Remove(paths))
        }
        "dd" => {
            let (mut input, mut out, mut bs, mut count) = (None, None, 512usize, None);
            for w in rest {
                let (k, v) = w.split_once('=')?;
                match k {
                    "if" => input = Some(v),
                    "of" => out = Some(v.to_string()),
                    "bs" => bs = v.parse().ok()?,
                    "count" => count = Some(v.parse::<usize>().ok()?),
                    "status" => {}
                    _ => return None,
                }
            }
            if input != Some("/dev/zero") {
                return None;
            }
            Some(FileCommand::Create(out?, bs.checked_mul(count?)?))
        }
        _ => None,
    }
}

impl Runner {
    /// Carries out a file command.
    pub(super) fn file_command(&mut self, c: FileCommand) {
        match c {
            FileCommand::Remove(paths) => {
                for p in paths {
                    self.files.remove(&p);
                }
            }
            FileCommand::Create(path, size) => {
                self.files.insert(path, size);
            }
        }
    }

    /// open(path, flags[, mode]) of a file the script made (O_CREAT makes an
    /// empty one; O_TRUNC empties it).
    pub(super) fn open(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let Some(Expr::Str(path)) = call.args.first() else {
            return fail(line, "open: the path must be a string");
        };
        let Some(flags) = call.args.get(1).and_then(|e| flag_value(e, OPEN_FLAGS)) else {
            return fail(line, "open: cannot read the flags");
        };
        let size = match self.files.get(path) {
            Some(_) if flags & 0o300 == 0o300 => return Ok(CallResult::Done(-1, Some("EEXIST"))),
            Some(_) if flags & 0o1000 != 0 => 0,
            Some(s) => *s,
            None if flags & 0o100 != 0 => 0,
            None => return Ok(CallResult::Done(-1, Some("ENOENT"))),
        };
        self.files.insert(path.clone(), size);
        let fd = self.new_fd(call);
        let mut f = Fd::new(Sock::File { size, offset: 0 }, SockOpts::default());
        f.nonblocking = flags & syscalls::O_NONBLOCK != 0;
        self.fds.insert(fd, f);
        Ok(CallResult::Done(fd, None))
    }

    /// sendfile(out_fd, in_fd, offset, count): writes the file's bytes from
    /// the offset (`[N]`: from N, leaving the file's own offset alone;
    /// NULL: from and advancing the file's offset) as write() would (Linux
    /// do_sendfile()). The bytes are zeroes, as every payload here.
    pub(super) fn sendfile(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
        let out = self.fd_arg(line, call)?;
        let Some(input) = call.args.get(1).and_then(Expr::as_int) else {
            return fail(line, "sendfile: second argument must be a descriptor");
        };
        let Some(count) = call.args.get(3).and_then(Expr::as_int) else {
            return fail(line, "sendfile: count must be an integer");
        };
        let Some(Sock::File { size, offset }) = self.fds.get(&input).map(|f| f.sock.clone()) else {
            return Ok(CallResult::Done(-1, Some("EBADF")));
        };
        let explicit = call
            .args
            .get(2)
            .and_then(Expr::single)
            .and_then(Expr::as_int);
        let from = match (explicit, call.args.get(2)) {
            (Some(o), _) => o.max(0) as usize,
            (None, a) if is_null(a) => offset,
            _ => return fail(line, "sendfile: offset must be [N] or NULL"),
        };
        let n = (count.max(0) as usize).min(size.saturating_sub(from));
        let r = self.write_bytes(line, call, out, n, SendFlags::default(), retry)?;
        if let (CallResult::Done(w, _), None) = (&r, explicit) {
            if let Some(Fd {
                sock: Sock::File { offset, .. },
                ..
            }) = self.fds.get_mut(&input)
            {
                *offset = from + (*w).max(0) as usize;
            }
        }
        Ok(r)
    }

    /// pipe([r, w]): a pipe with the script's descriptor numbers.
    pub(super) fn pipe(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let ends: Option<Vec<i64>> = match call.args.first() {
            Some(Expr::List(v)) if v.len() == 2 => v.iter().map(Expr::as_int).collect(),
            _ => None,
        };
        let Some(ends) = ends else {
            return fail(line, "pipe: argument must be [read_fd, write_fd]");
        };
        if ends.iter().any(|fd| self.fds.contains_key(fd)) || ends[0] == ends[1] {
            return fail(line, "pipe: the script's descriptors are already in use");
        }
        let pipe = self.pipes.len();
        self.pipes.push(0);
        for (fd, write_end) in [(ends[0], false), (ends[1], true)] {
            self.fds.insert(
                fd,
                Fd::new(Sock::Pipe { pipe, write_end }, SockOpts::default()),
            );
        }
        Ok(CallResult::Done(0, None))
    }

    /// splice(fd_in, off_in, fd_out, off_out, len, flags) between a socket
    /// and a pipe.
    ///
    /// Socket to pipe follows Linux tcp_splice_read(): it reads what is
    /// there up to `len` (and the pipe's room), stopping before the
    /// out-of-band byte of urgent data (tcp_read_sock(): the byte at the
    /// urgent mark is not part of the stream without SO_OOBINLINE); when
    /// data is queued but none can be read (at the mark) it returns 0
    /// rather than waiting. Pipe to socket writes the pipe's bytes as
    /// write() does.
    pub(super) fn splice(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
        let fd_in = self.fd_arg(line, call)?;
        let fd_out = call.args.get(2).and_then(Expr::as_int).unwrap_or(-1);
        let Some(len) = call.args.get(4).and_then(Expr::as_int) else {
            return fail(line, "splice: length must be an integer");
        };
        let len = len.max(0) as usize;
        let sock = |fd: i64| self.fds.get(&fd).map(|f| (f.sock.clone(), f.nonblocking));
        match (sock(fd_in), sock(fd_out)) {
            (
                Some((Sock::Conn(c), nonblocking)),
                Some((
                    Sock::Pipe {
                        pipe,
                        write_end: true,
                    },
                    _,
                )),
            ) => {
                let info = self.ep.info(c);
                let readable = info.as_ref().map_or(0, |i| i.readable as usize);
                let urgent = self.ep.urgent_pending(c);
                let before_mark = if urgent > 0 { urgent - 1 } else { usize::MAX };
                let room = PIPE_CAPACITY.saturating_sub(self.pipes[pipe]);
                let n = len.min(readable).min(before_mark).min(room);
                if n == 0 {
                    if readable > 0 {
                        return Ok(CallResult::Done(0, None));
                    }
                    let mut probe = [0u8; 0];
                    return Ok(match self.ep.recv(self.now, c, &mut probe) {
                        Ok(_) => CallResult::Done(0, None),
                        Err(Error::WouldBlock) if nonblocking => {
                            CallResult::Done(-1, Some("EAGAIN"))
                        }
                        Err(Error::WouldBlock) => CallResult::Blocked,
                        Err(e) => CallResult::Done(-1, Some(syscalls::errno_of(e))),
                    });
                }
                let mut data = vec![0u8; n];
                let r = match self.ep.recv(self.now, c, &mut data) {
                    Ok(got) => {
                        self.pipes[pipe] += got;
                        CallResult::Done(got as i64, None)
                    }
                    Err(e) => CallResult::Done(-1, Some(syscalls::errno_of(e))),
                };
                self.drain();
                Ok(r)
            }
            (
                Some((
                    Sock::Pipe {
                        pipe,
                        write_end: false,
                    },
                    _,
                )),
                Some((Sock::Conn(_), _)),
            ) => {
                let n = len.min(self.pipes[pipe]);
                let r = self.write_bytes(line, call, fd_out, n, SendFlags::default(), retry)?;
                if let CallResult::Done(w, _) = r {
                    self.pipes[pipe] -= (w.max(0) as usize).min(self.pipes[pipe]);
                }
                Ok(r)
            }
            (None, _) | (_, None) => Ok(CallResult::Done(-1, Some("EBADF"))),
            _ => fail(
                line,
                "splice: only socket-to-pipe and pipe-to-socket are modelled",
            ),
        }
    }

    /// recvmsg(fd, msghdr, flags): a read of the iovecs' length; with
    /// MSG_ERRQUEUE, a record of the socket error queue (see errqueue.rs).
    /// With TCP_INQ on, a normal read carries one control message,
    /// SOL_TCP/TCP_CM_INQ, the bytes left to read after it (Linux tcp.c:
    /// tcp_recvmsg() puts tcp_inq_hint() in a cmsg). Other ancillary data of
    /// a normal read (receive timestamps) is not modelled: such a call is
    /// reported unchecked and given the script's result.
    pub(super) fn recvmsg(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        if let Some(r) = self.read_not_connected(call) {
            return Ok(r);
        }
        let c = self.conn_of(line, call)?;
        let inq_on = self
            .fds
            .get(&self.fd_arg(line, call)?)
            .is_some_and(|f| f.opts.inq);
        let msg = call.args.get(1);
        let flags = call
            .args
            .get(2)
            .map(ToString::to_string)
            .unwrap_or_default();
        if flags.contains("MSG_ERRQUEUE") {
            return self.recvmsg_errqueue(line, call, c);
        }
        let v6 = self.mode != IpMode::Ipv4;
        let control = match msg.and_then(|m| m.field("msg_control")) {
            Some(Expr::List(v)) if !v.is_empty() => Some(v.as_slice()),
            _ => None,
        };
        if let Some(want) = control {
            let inq_only = want.iter().all(|cm| {
                cm.field("cmsg_level").and_then(|e| errqueue::value(e, v6))
                    == Some(errqueue::SOL_TCP)
                    && cm.field("cmsg_type").and_then(|e| errqueue::value(e, v6))
                        == Some(errqueue::TCP_CM_INQ)
            });
            if !inq_only {
                self.unsupported.push(format!(
                    "line {line}: recvmsg: ancillary data other than TCP_CM_INQ is not modelled"
                ));
                return Ok(Self::scripted(call));
            }
        }
        let len = msg.and_then(syscalls::iov_total).ok_or_else(|| Failure {
            line,
            message: "recvmsg: cannot read msg_iov lengths".into(),
        })?;
        let mut data = vec![0u8; len];
        let r = Self::done(self.ep.recv(self.now, c, &mut data));
        self.drain();
        if matches!(r, CallResult::Done(n, _) if n >= 0) {
            let got: Vec<errqueue::Cmsg> = if inq_on {
                vec![errqueue::Cmsg {
                    level: errqueue::SOL_TCP,
                    kind: errqueue::TCP_CM_INQ,
                    fields: vec![("", self.inq_hint(c))],
                }]
            } else {
                Vec::new()
            };
            self.compare_cmsgs(line, control.unwrap_or(&[]), &got, v6)?;
        }
        Ok(r)
    }

    /// What TCP_CM_INQ reports after a read (Linux tcp.c: tcp_inq_hint()):
    /// rcv_nxt - copied_seq, which counts a received FIN until a read
    /// passes it, and 1 rather than 0 once a FIN came (SOCK_DONE), so that
    /// the application reads on to the end of the stream.
    fn inq_hint(&self, c: ConnId) -> i64 {
        let Some(info) = self.ep.info(c) else {
            return 0;
        };
        let fin = matches!(
            info.state,
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        );
        i64::from(info.readable) + i64::from(fin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_commands() {
        assert_eq!(
            file_command("/bin/dd bs=1 count=5 if=/dev/zero of=/tmp/testfile status=none"),
            Some(FileCommand::Create("/tmp/testfile".into(), 5))
        );
        assert_eq!(
            file_command("rm -f /tmp/a /tmp/b"),
            Some(FileCommand::Remove(vec!["/tmp/a".into(), "/tmp/b".into()]))
        );
        assert_eq!(file_command("dd if=/dev/urandom of=/tmp/x count=1"), None);
        assert_eq!(file_command("rm -f"), None);
        assert_eq!(file_command("sysctl -q x=1"), None);
    }
}
