//! recvmsg(MSG_ERRQUEUE): the socket error queue's transmit timestamps
//! (SO_TIMESTAMPING), as Linux ip_recv_error() / ipv6_recv_error() hand
//! them over: the record's packet data into the iovecs (MSG_TRUNC when they
//! are shorter), MSG_ERRQUEUE in msg_flags, and two control messages: the
//! software stamp (`SOL_SOCKET`/`SCM_TIMESTAMPING`, when
//! SOF_TIMESTAMPING_SOFTWARE is set) and the `sock_extended_err`
//! (`SOL_IP`/`IP_RECVERR`, `SOL_IPV6`/`IPV6_RECVERR` on an AF_INET6 socket).

use super::syscalls::{flag_value, iov_total, CallResult};
use super::*;

const SOL_SOCKET: i64 = 1;
const SCM_TIMESTAMPING: i64 = 37;
const SOL_IP: i64 = 0;
const IP_RECVERR: i64 = 11;
const SOL_IPV6: i64 = 41;
const IPV6_RECVERR: i64 = 25;
const ENOMSG: i64 = 42;
const SO_EE_ORIGIN_TIMESTAMPING: i64 = 4;
const MSG_TRUNC: i64 = 0x20;
const MSG_ERRQUEUE: i64 = 0x2000;

/// The symbols a script's control messages use.
const SYMBOLS: &[(&str, i64)] = &[
    ("SOL_SOCKET", SOL_SOCKET),
    ("SCM_TIMESTAMPING", SCM_TIMESTAMPING),
    ("SOL_IP", SOL_IP),
    ("IP_RECVERR", IP_RECVERR),
    ("SOL_IPV6", SOL_IPV6),
    ("IPV6_RECVERR", IPV6_RECVERR),
    ("ENOMSG", ENOMSG),
    ("SO_EE_ORIGIN_NONE", 0),
    ("SO_EE_ORIGIN_LOCAL", 1),
    ("SO_EE_ORIGIN_ICMP", 2),
    ("SO_EE_ORIGIN_ICMP6", 3),
    ("SO_EE_ORIGIN_TIMESTAMPING", SO_EE_ORIGIN_TIMESTAMPING),
    ("SO_EE_ORIGIN_ZEROCOPY", 5),
    ("SO_EE_ORIGIN_TXTIME", 6),
    ("SCM_TSTAMP_SND", 0),
    ("SCM_TSTAMP_SCHED", 1),
    ("SCM_TSTAMP_ACK", 2),
    ("MSG_TRUNC", MSG_TRUNC),
    ("MSG_ERRQUEUE", MSG_ERRQUEUE),
    ("MSG_CTRUNC", 0x8),
    ("MSG_EOR", 0x80),
    ("SOL_TCP", SOL_TCP),
    ("IPPROTO_TCP", SOL_TCP),
    ("TCP_CM_INQ", TCP_CM_INQ),
];

/// Level and type of the TCP_INQ control message (include/uapi/linux/tcp.h:
/// TCP_CM_INQ is TCP_INQ, 36).
pub(super) const SOL_TCP: i64 = 6;
pub(super) const TCP_CM_INQ: i64 = 36;

/// The value of a control-message field: a number, a symbol, or
/// packetdrill's run_all.py definitions `CMSG_LEVEL_IP` and
/// `CMSG_TYPE_RECVERR` for the run's IP version when the run has none.
pub(super) fn value(e: &Expr, v6: bool) -> Option<i64> {
    match e.as_word() {
        Some("CMSG_LEVEL_IP") => Some(if v6 { SOL_IPV6 } else { SOL_IP }),
        Some("CMSG_TYPE_RECVERR") => Some(if v6 { IPV6_RECVERR } else { IP_RECVERR }),
        _ => flag_value(e, SYMBOLS),
    }
}

/// One control message as the stack hands it over: level, type and the
/// named fields of its data.
pub(super) struct Cmsg {
    pub level: i64,
    pub kind: i64,
    /// Named fields of a struct, or one field named "" when the data is a
    /// plain integer (TCP_CM_INQ).
    pub fields: Vec<(&'static str, i64)>,
}

impl Runner {
    /// recvmsg(fd, msghdr, MSG_ERRQUEUE) on a connection. Records of other
    /// origins than timestamping (MSG_ZEROCOPY completions, ICMP errors)
    /// are not modelled: such a call is reported unchecked.
    pub(super) fn recvmsg_errqueue(
        &mut self,
        line: u32,
        call: &Syscall,
        c: ConnId,
    ) -> Res<CallResult> {
        let msg = call.args.get(1);
        let v6 = self.mode != IpMode::Ipv4;
        let control = msg.and_then(|m| m.field("msg_control"));
        let foreign = match control {
            Some(Expr::List(items)) => items.iter().any(|cm| {
                cm.field("cmsg_data")
                    .and_then(|d| d.field("ee_origin"))
                    .and_then(|o| value(o, v6))
                    .is_some_and(|o| o != SO_EE_ORIGIN_TIMESTAMPING)
            }),
            _ => false,
        };
        if foreign {
            self.unsupported.push(format!(
                "line {line}: recvmsg: error queue records other than timestamps are not modelled"
            ));
            return Ok(Self::scripted(call));
        }
        let rec = match self.ep.recv_errqueue(c) {
            Ok(r) => r,
            Err(e) => return Ok(CallResult::Done(-1, Some(syscalls::errno_of(e)))),
        };
        let room = msg.and_then(iov_total).unwrap_or(0);
        let data_len = rec.data_len as usize;
        let copied = data_len.min(room);
        let mut flags = MSG_ERRQUEUE;
        if data_len > room {
            flags |= MSG_TRUNC;
        }
        let mut got = Vec::new();
        if rec.stamped {
            let us = rec.at.as_micros() as i64;
            got.push(Cmsg {
                level: SOL_SOCKET,
                kind: SCM_TIMESTAMPING,
                fields: vec![
                    ("scm_sec", us / 1_000_000),
                    ("scm_nsec", us % 1_000_000 * 1000),
                ],
            });
        }
        got.push(Cmsg {
            level: if v6 { SOL_IPV6 } else { SOL_IP },
            kind: if v6 { IPV6_RECVERR } else { IP_RECVERR },
            fields: vec![
                ("ee_errno", ENOMSG),
                ("ee_origin", SO_EE_ORIGIN_TIMESTAMPING),
                ("ee_type", 0),
                ("ee_code", 0),
                ("ee_info", i64::from(rec.kind.scm_tstamp())),
                ("ee_data", i64::from(rec.key)),
            ],
        });
        if let Some(want) = msg.and_then(|m| m.field("msg_flags")) {
            if !matches!(want, Expr::Ellipsis) {
                let Some(want) = value(want, v6) else {
                    return fail(line, format!("recvmsg: cannot read msg_flags {want}"));
                };
                if want != flags {
                    return fail(
                        line,
                        format!("recvmsg: expected msg_flags {want:#x} but got {flags:#x}"),
                    );
                }
            }
        }
        if let Some(Expr::List(want)) = control {
            self.compare_cmsgs(line, want, &got, v6)?;
        }
        Ok(CallResult::Done(copied as i64, None))
    }

    /// The script's control messages against those handed over: as many,
    /// in order, each field the script gives equal (packetdrill
    /// run_system_call.c: cmsg_expect_eq()); a timestamp within the
    /// tolerance of the script's time.
    pub(super) fn compare_cmsgs(
        &self,
        line: u32,
        want: &[Expr],
        got: &[Cmsg],
        v6: bool,
    ) -> Res<()> {
        if want.len() != got.len() {
            return fail(
                line,
                format!(
                    "recvmsg: expected {} control messages but got {}",
                    want.len(),
                    got.len()
                ),
            );
        }
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            let num = |name: &str| w.field(name).and_then(|e| value(e, v6));
            if num("cmsg_level") != Some(g.level) || num("cmsg_type") != Some(g.kind) {
                return fail(
                    line,
                    format!(
                        "recvmsg: control message {i}: expected level {} type {} but got level {} type {}",
                        w.field("cmsg_level").map_or(String::new(), ToString::to_string),
                        w.field("cmsg_type").map_or(String::new(), ToString::to_string),
                        g.level,
                        g.kind
                    ),
                );
            }
            let Some(data) = w.field("cmsg_data") else {
                continue;
            };
            if g.kind == SCM_TIMESTAMPING {
                let part = |n: &str| data.field(n).and_then(|e| value(e, v6)).unwrap_or(0);
                let want_us = part("scm_sec") * 1_000_000 + part("scm_nsec") / 1000;
                let got_us = g.fields[0].1 * 1_000_000 + g.fields[1].1 / 1000;
                if (want_us - got_us).abs() > self.tolerance {
                    return fail(
                        line,
                        format!(
                            "recvmsg: SCM_TIMESTAMPING: expected {want_us} us but got {got_us} us"
                        ),
                    );
                }
                continue;
            }
            for (name, have) in &g.fields {
                let e = if name.is_empty() {
                    data
                } else if let Some(e) = data.field(name) {
                    e
                } else {
                    continue;
                };
                let Some(expect) = value(e, v6) else {
                    return fail(line, format!("recvmsg: cannot read {name}={e}"));
                };
                if expect != *have {
                    let name = if name.is_empty() { "cmsg_data" } else { name };
                    return fail(
                        line,
                        format!("recvmsg: {name}: expected {e} ({expect}) but got {have}"),
                    );
                }
            }
        }
        Ok(())
    }
}
