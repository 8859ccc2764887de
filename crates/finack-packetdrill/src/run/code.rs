//! `%{ ... }%` blocks. packetdrill runs them as Python with the socket's
//! `tcp_info` fields bound to `tcpi_*` names. The runner evaluates the part of
//! that language the scripts use for checks: `assert EXPR[, ...]` statements
//! over integers, with `tcpi_*` names answered from `Endpoint::info` and the
//! `TCPI_OPT_*` / `TCP_*` state constants. A block using anything else, or a
//! `tcpi_*` field finack cannot answer, is reported unsupported, never passed.

use finack_core::ConnInfo;

use super::*;

/// What evaluating a block gave.
#[derive(Debug)]
pub(super) enum CodeOutcome {
    /// Every assertion held.
    Held,
    /// An assertion failed: the message.
    Failed(String),
    /// Not evaluated: why.
    Unsupported(String),
}

/// `tcp_info` fields the runner answers from the engine's configuration,
/// for one connection.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FromConfig {
    /// `tcpi_reordering` when the connection reports none (0): Linux starts
    /// tp->reordering at the tcp_reordering sysctl (Config::dupthresh) and
    /// raises it when it detects reordering (ConnInfo::reordering).
    pub(super) reordering: u32,
}

/// Python variables a script's blocks assign (`cwnd = 58`, `cwnd += 1`),
/// kept from one block to the next as packetdrill's interpreter keeps them.
pub(super) type Vars = std::collections::BTreeMap<String, i64>;

/// What one statement of a block does.
enum Stmt {
    /// `assert COND` or `assert COND, MESSAGE`.
    Assert(String, Option<String>),
    /// `NAME = EXPR`, or `NAME op= EXPR` with `op` one of `+`, `-`.
    Assign(String, Option<char>, String),
}

/// `NAME = EXPR` / `NAME += EXPR` / `NAME -= EXPR`, if `stmt` is one.
fn assignment(stmt: &str) -> Option<Stmt> {
    let name_end = stmt
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(stmt.len());
    let name = &stmt[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = stmt[name_end..].trim_start();
    let (op, expr) = if let Some(e) = rest.strip_prefix("+=") {
        (Some('+'), e)
    } else if let Some(e) = rest.strip_prefix("-=") {
        (Some('-'), e)
    } else {
        let e = rest.strip_prefix('=')?;
        if e.starts_with('=') {
            return None;
        }
        (None, e)
    };
    Some(Stmt::Assign(name.to_string(), op, expr.trim().to_string()))
}

/// Evaluates `text` against `info` (the socket under test's connection),
/// reading and assigning the script's variables in `vars`.
pub(super) fn evaluate(
    text: &str,
    info: Option<&ConnInfo>,
    cfg: FromConfig,
    vars: &mut Vars,
) -> CodeOutcome {
    let mut statements = Vec::new();
    for stmt in text
        .split(['\n', ';'])
        .map(|s| s.trim().trim_end_matches('\\').trim())
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
    {
        // print() only writes to packetdrill's output: it checks nothing (every
        // tcpi_* name is bound, so it cannot fail either).
        if stmt.starts_with("print(") && stmt.ends_with(')') {
            continue;
        }
        if let Some(rest) = stmt.strip_prefix("assert ") {
            // `assert cond, message`: the message is only for the report,
            // where its value is shown (packetdrill's Python prints it).
            let cond = split_top_comma(rest);
            let message = rest[cond.len()..].strip_prefix(',').map(str::trim);
            statements.push(Stmt::Assert(
                cond.trim().to_string(),
                message.filter(|m| !m.is_empty()).map(str::to_string),
            ));
        } else if let Some(a) = assignment(stmt) {
            statements.push(a);
        } else {
            return CodeOutcome::Unsupported(format!(
                "statement '{stmt}' is not an assert or an assignment"
            ));
        }
    }
    for stmt in statements {
        match stmt {
            Stmt::Assert(cond, message) => match value(&cond, info, cfg, vars) {
                Ok(0) => {
                    // The message's value when it has one (most scripts give
                    // the tcpi_* field checked), else its text.
                    let shown = match message {
                        Some(m) => match value(&m, info, cfg, vars) {
                            Ok(v) => format!(" ({m} = {v})"),
                            Err(_) => format!(" ({m})"),
                        },
                        None => String::new(),
                    };
                    return CodeOutcome::Failed(format!("assertion failed: {cond}{shown}"));
                }
                Ok(_) => {}
                Err(e) => return CodeOutcome::Unsupported(e),
            },
            Stmt::Assign(name, op, expr) => {
                let v = match value(&expr, info, cfg, vars) {
                    Ok(v) => v,
                    Err(e) => return CodeOutcome::Unsupported(e),
                };
                let v = match op {
                    None => v,
                    Some(op) => {
                        let Some(&old) = vars.get(&name) else {
                            return CodeOutcome::Unsupported(format!("unknown name {name}"));
                        };
                        if op == '+' {
                            old.wrapping_add(v)
                        } else {
                            old.wrapping_sub(v)
                        }
                    }
                };
                vars.insert(name, v);
            }
        }
    }
    CodeOutcome::Held
}

/// The value of one expression.
fn value(expr: &str, info: Option<&ConnInfo>, cfg: FromConfig, vars: &Vars) -> Val {
    let tokens = tokenize(expr)?;
    let mut p = Parser {
        toks: &tokens,
        at: 0,
        info,
        cfg,
        vars,
    };
    match p.or() {
        Ok(v) if p.at == tokens.len() => Ok(v),
        Ok(_) => Err(format!("cannot read '{expr}'")),
        Err(e) => Err(e),
    }
}

/// Everything before the first comma outside parentheses.
fn split_top_comma(s: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => return &s[..i],
            _ => {}
        }
    }
    s
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    const OPS: &[&str] = &[
        "==", "!=", "<=", ">=", "<<", ">>", "<", ">", "(", ")", "&", "|", "^", "+", "-", "*", "//",
        "/", "%", "~",
    ];
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let t = &s[start..i];
            let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => i64::from_str_radix(h, 16),
                None => t.parse(),
            }
            .map_err(|_| format!("bad number '{t}'"))?;
            out.push(Tok::Num(v));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Name(s[start..i].to_string()));
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(format!("cannot read '{}' in '{s}'", &s[i..]));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    at: usize,
    info: Option<&'a ConnInfo>,
    cfg: FromConfig,
    vars: &'a Vars,
}

type Val = Result<i64, String>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Name(n)) if n == w) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Val {
        let mut v = self.and()?;
        while self.eat_word("or") {
            let r = self.and()?;
            v = i64::from(v != 0 || r != 0);
        }
        Ok(v)
    }

    fn and(&mut self) -> Val {
        let mut v = self.not()?;
        while self.eat_word("and") {
            let r = self.not()?;
            v = i64::from(v != 0 && r != 0);
        }
        Ok(v)
    }

    fn not(&mut self) -> Val {
        if self.eat_word("not") {
            return Ok(i64::from(self.not()? == 0));
        }
        self.cmp()
    }

    /// Comparisons chain as in Python: `a < b < c`.
    fn cmp(&mut self) -> Val {
        let mut left = self.bitor()?;
        let mut result = true;
        let mut any = false;
        loop {
            let op = ["==", "!=", "<=", ">=", "<", ">"]
                .into_iter()
                .find(|op| self.eat_op(op));
            let Some(op) = op else { break };
            let right = self.bitor()?;
            result &= match op {
                "==" => left == right,
                "!=" => left != right,
                "<=" => left <= right,
                ">=" => left >= right,
                "<" => left < right,
                _ => left > right,
            };
            any = true;
            left = right;
        }
        Ok(if any { i64::from(result) } else { left })
    }

    fn bitor(&mut self) -> Val {
        let mut v = self.bitxor()?;
        while self.eat_op("|") {
            v |= self.bitxor()?;
        }
        Ok(v)
    }

    fn bitxor(&mut self) -> Val {
        let mut v = self.bitand()?;
        while self.eat_op("^") {
            v ^= self.bitand()?;
        }
        Ok(v)
    }

    fn bitand(&mut self) -> Val {
        let mut v = self.shift()?;
        while self.eat_op("&") {
            v &= self.shift()?;
        }
        Ok(v)
    }

    fn shift(&mut self) -> Val {
        let mut v = self.sum()?;
        loop {
            if self.eat_op("<<") {
                v = v.checked_shl(self.sum()?.clamp(0, 63) as u32).unwrap_or(0);
            } else if self.eat_op(">>") {
                v >>= self.sum()?.clamp(0, 63);
            } else {
                return Ok(v);
            }
        }
    }

    fn sum(&mut self) -> Val {
        let mut v = self.product()?;
        loop {
            if self.eat_op("+") {
                v = v.wrapping_add(self.product()?);
            } else if self.eat_op("-") {
                v = v.wrapping_sub(self.product()?);
            } else {
                return Ok(v);
            }
        }
    }

    fn product(&mut self) -> Val {
        let mut v = self.unary()?;
        loop {
            if self.eat_op("*") {
                v = v.wrapping_mul(self.unary()?);
            } else if self.eat_op("//") || self.eat_op("/") {
                let d = self.unary()?;
                v = v.checked_div_euclid(d).ok_or("division by zero")?;
            } else if self.eat_op("%") {
                let d = self.unary()?;
                v = v.checked_rem_euclid(d).ok_or("division by zero")?;
            } else {
                return Ok(v);
            }
        }
    }

    fn unary(&mut self) -> Val {
        if self.eat_op("-") {
            return Ok(self.unary()?.wrapping_neg());
        }
        if self.eat_op("~") {
            return Ok(!self.unary()?);
        }
        self.atom()
    }

    fn atom(&mut self) -> Val {
        match self.peek().cloned() {
            Some(Tok::Num(v)) => {
                self.at += 1;
                Ok(v)
            }
            Some(Tok::Op("(")) => {
                self.at += 1;
                let v = self.or()?;
                if !self.eat_op(")") {
                    return Err("missing ')'".into());
                }
                Ok(v)
            }
            Some(Tok::Name(n)) => {
                self.at += 1;
                self.name(&n)
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn name(&self, n: &str) -> Val {
        if let Some(v) = constant(n) {
            return Ok(v);
        }
        if n.starts_with("tcpi_") || n.starts_with("SK_MEMINFO_") {
            let Some(i) = self.info else {
                return Err(format!("{n}: no connection to ask"));
            };
            return tcpi(n, i, self.cfg)
                .ok_or_else(|| format!("{n} is not answered by Endpoint::info"));
        }
        self.vars
            .get(n)
            .copied()
            .ok_or_else(|| format!("unknown name {n}"))
    }
}

/// Linux's numbering of TCP states (include/net/tcp_states.h).
pub(super) fn linux_state(s: State) -> i64 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

const TCPI_OPT_TIMESTAMPS: i64 = 1;
const TCPI_OPT_SACK: i64 = 2;
const TCPI_OPT_WSCALE: i64 = 4;
const TCPI_OPT_ECN: i64 = 8;
const TCPI_OPT_ECN_SEEN: i64 = 16;
const TCPI_OPT_SYN_DATA: i64 = 32;

fn constant(n: &str) -> Option<i64> {
    Some(match n {
        "TCPI_OPT_TIMESTAMPS" => TCPI_OPT_TIMESTAMPS,
        "TCPI_OPT_SACK" => TCPI_OPT_SACK,
        "TCPI_OPT_WSCALE" => TCPI_OPT_WSCALE,
        "TCPI_OPT_ECN" => TCPI_OPT_ECN,
        "TCPI_OPT_ECN_SEEN" => TCPI_OPT_ECN_SEEN,
        "TCPI_OPT_SYN_DATA" => TCPI_OPT_SYN_DATA,
        "TCP_ESTABLISHED" => 1,
        "TCP_SYN_SENT" => 2,
        "TCP_SYN_RECV" => 3,
        "TCP_FIN_WAIT1" => 4,
        "TCP_FIN_WAIT2" => 5,
        "TCP_TIME_WAIT" => 6,
        "TCP_CLOSE" => 7,
        "TCP_CLOSE_WAIT" => 8,
        "TCP_LAST_ACK" => 9,
        "TCP_LISTEN" => 10,
        "TCP_CLOSING" => 11,
        // include/net/tcp.h enum tcp_ca_state.
        "TCP_CA_Open" => 0,
        "TCP_CA_Disorder" => 1,
        "TCP_CA_CWR" => 2,
        "TCP_CA_Recovery" => 3,
        "TCP_CA_Loss" => 4,
        "True" => 1,
        "False" => 0,
        _ => return None,
    })
}

/// The `tcp_info` fields `Endpoint::info` answers exactly, in Linux's units.
fn tcpi(n: &str, i: &ConnInfo, cfg: FromConfig) -> Option<i64> {
    let mss = i64::from(i.snd_mss.max(1));
    Some(match n {
        "tcpi_state" => linux_state(i.state),
        "tcpi_options" => {
            // finack has no Fast Open; the ECN bits (TCPI_OPT_ECN,
            // TCPI_OPT_ECN_SEEN) are not answered by Endpoint::info yet and
            // stay clear.
            let mut o = 0;
            if i.timestamps {
                o |= TCPI_OPT_TIMESTAMPS;
            }
            if i.sack {
                o |= TCPI_OPT_SACK;
            }
            if i.snd_wscale > 0 || i.rcv_wscale > 0 {
                o |= TCPI_OPT_WSCALE;
            }
            o
        }
        "tcpi_snd_wscale" => i64::from(i.snd_wscale),
        "tcpi_rcv_wnd" => i64::from(i.rcv_wnd),
        // Linux tcp_get_info(): jiffies_to_usecs(icsk_ack.ato).
        "tcpi_ato" => i.ato.as_micros() as i64,
        // ~0U before a sample (tcp_min_rtt()).
        "tcpi_min_rtt" => i
            .min_rtt
            .map_or(i64::from(u32::MAX), |d| d.as_micros() as i64),
        "tcpi_ca_state" => i64::from(i.ca_state),
        "tcpi_reord_seen" => i64::from(i.reord_seen),
        "tcpi_reordering" => i64::from(if i.reordering > 0 {
            i.reordering
        } else {
            cfg.reordering
        }),
        // The MSS announced: the MTU's, lowered to TCP_MAXSEG (Linux
        // tp->advmss, tcp_mss_clamp() of the route's advmss).
        "tcpi_advmss" => i64::from(i.adv_mss),
        // Linux packets_out: segments sent and not yet acknowledged.
        "tcpi_unacked" => i64::from(i.unacked_segments),
        // Linux sacked_out: segments SACKed.
        "tcpi_sacked" => i64::from(i.sacked_segments),
        // Linux lost_out: segments marked lost (by RACK).
        "tcpi_lost" => i64::from(i.lost_segments),
        "tcpi_retrans" => i64::from(i.retrans_segments),
        // Milliseconds since data last arrived (icsk_ack.lrcvtime).
        "tcpi_last_data_recv" => i.last_data_recv.as_millis() as i64,
        "tcpi_rcv_wscale" => i64::from(i.rcv_wscale),
        "tcpi_rto" => i.rto.as_micros() as i64,
        "tcpi_rtt" => i.srtt.map_or(0, |d| d.as_micros() as i64),
        "tcpi_rttvar" => i.rttvar.as_micros() as i64,
        "tcpi_rcv_rtt" => i.rcv_rtt.as_micros() as i64,
        "tcpi_rcv_mss" => i64::from(i.rcv_mss),
        "tcpi_rcv_ssthresh" => i64::from(i.rcv_ssthresh),
        // SO_MEMINFO's receive buffer (`sk_rcvbuf`).
        "SK_MEMINFO_RCVBUF" => i64::from(i.rcv_buf),
        // SO_MEMINFO's receive memory held (`sk_rmem_alloc`).
        "SK_MEMINFO_RMEM_ALLOC" => i64::from(i.rcv_mem),
        "tcpi_snd_mss" => mss,
        "tcpi_backoff" => i64::from(i.backoff),
        "tcpi_probes" => i64::from(i.probes),
        "tcpi_total_retrans" => i.total_retransmits as i64,
        "tcpi_bytes_acked" => i.bytes_acked as i64,
        "tcpi_bytes_received" => i.bytes_received as i64,
        // Linux tcp_get_info_chrono_stats(), in microseconds.
        "tcpi_busy_time" => i.chrono.busy.as_micros() as i64,
        "tcpi_rwnd_limited" => i.chrono.rwnd_limited.as_micros() as i64,
        "tcpi_sndbuf_limited" => i.chrono.sndbuf_limited.as_micros() as i64,
        // Linux counts the window in segments.
        "tcpi_snd_cwnd" => i64::from(i.cwnd) / mss,
        "tcpi_snd_ssthresh" => {
            if i.ssthresh >= u32::MAX / 2 {
                // TCP_INFINITE_SSTHRESH.
                0x7fff_ffff
            } else {
                i64::from(i.ssthresh) / mss
            }
        }
        // The peer's window, scaled (tp->snd_wnd).
        "tcpi_snd_wnd" => i64::from(i.snd_wnd),
        _ => return counted(n, &i.counts),
    })
}

/// The `tcp_info` fields of [`ConnCounts`](finack_core::ConnCounts), and
/// those Linux reports as constants.
fn counted(n: &str, c: &finack_core::ConnCounts) -> Option<i64> {
    let ms = |d: core::time::Duration| d.as_millis() as i64;
    Some(match n {
        "tcpi_retransmits" => i64::from(c.retransmits),
        "tcpi_total_rto" => i64::from(c.total_rto),
        "tcpi_total_rto_recoveries" => i64::from(c.total_rto_recoveries),
        "tcpi_total_rto_time" => ms(c.total_rto_time),
        "tcpi_rehash" => i64::from(c.rehash),
        "tcpi_segs_out" => i64::from(c.segs_out),
        "tcpi_segs_in" => i64::from(c.segs_in),
        "tcpi_data_segs_out" => i64::from(c.data_segs_out),
        "tcpi_data_segs_in" => i64::from(c.data_segs_in),
        "tcpi_bytes_sent" => c.bytes_sent as i64,
        "tcpi_bytes_retrans" => c.bytes_retrans as i64,
        "tcpi_rcv_ooopack" => i64::from(c.rcv_ooopack),
        "tcpi_last_data_sent" => ms(c.last_data_sent),
        "tcpi_last_ack_recv" => ms(c.last_ack_recv),
        "tcpi_pmtu" => i64::from(c.pmtu),
        "tcpi_rcv_space" => i64::from(c.rcv_space),
        "tcpi_notsent_bytes" => i64::from(c.notsent_bytes),
        "tcpi_dsack_dups" => i64::from(c.dsack_dups),
        "tcpi_delivered" => i64::from(c.delivered),
        "tcpi_delivered_ce" => i64::from(c.delivered_ce),
        // Linux keeps no time of the last ACK sent ("not remembered") and
        // no FACK count since 4.15: both are always 0.
        "tcpi_last_ack_sent" | "tcpi_fackets" => 0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnInfo {
        let a: SocketAddr = "192.168.0.1:8080".parse().unwrap();
        ConnInfo {
            state: State::Established,
            local: a,
            remote: a,
            state_age: core::time::Duration::ZERO,
            srtt: Some(core::time::Duration::from_millis(100)),
            rttvar: core::time::Duration::from_millis(50),
            rto: core::time::Duration::from_millis(300),
            cwnd: 10_000,
            ssthresh: u32::MAX,
            snd_mss: 1000,
            peer_mss: 1000,
            snd_wscale: 7,
            rcv_wscale: 8,
            timestamps: false,
            sack: true,
            backoff: 0,
            probes: 0,
            total_retransmits: 2,
            unacked: 0,
            unsent: 0,
            readable: 0,
            snd_wnd: 0,
            bytes_acked: 0,
            bytes_received: 0,
            soft_error: None,
            in_recovery: false,
            reordering: 0,
            reord_seen: 0,
            ca_state: 0,
            adv_mss: 1460,
            unacked_segments: 2,
            sacked_segments: 1,
            lost_segments: 0,
            retrans_segments: 0,
            last_data_recv: core::time::Duration::from_millis(1_234),
            notsent_lowat: u32::MAX,
            rcv_rtt: core::time::Duration::ZERO,
            rcv_mss: 536,
            rcv_buf: 0,
            rcv_mem: 0,
            rcv_ssthresh: 0,
            rcv_wnd: 0,
            ato: core::time::Duration::ZERO,
            min_rtt: None,
            snd_buf: 0,
            chrono: finack_core::SendTimes {
                busy: core::time::Duration::from_millis(70),
                rwnd_limited: core::time::Duration::ZERO,
                sndbuf_limited: core::time::Duration::from_millis(20),
            },
            counts: finack_core::ConnCounts {
                retransmits: 1,
                total_rto: 3,
                total_rto_recoveries: 2,
                total_rto_time: core::time::Duration::from_millis(612),
                rehash: 3,
                segs_out: 12,
                segs_in: 9,
                data_segs_out: 8,
                data_segs_in: 2,
                bytes_sent: 9000,
                bytes_retrans: 1000,
                rcv_ooopack: 1,
                last_data_sent: core::time::Duration::from_millis(48),
                last_ack_recv: core::time::Duration::from_millis(536),
                pmtu: 1500,
                rcv_space: 14600,
                notsent_bytes: 3000,
                dsack_dups: 2,
                delivered: 11,
                delivered_ce: 3,
            },
        }
    }

    fn held(text: &str) -> bool {
        match evaluate(text, Some(&info()), FromConfig::default(), &mut Vars::new()) {
            CodeOutcome::Held => true,
            CodeOutcome::Failed(_) => false,
            CodeOutcome::Unsupported(e) => panic!("unsupported: {e}"),
        }
    }

    #[test]
    fn assertions_over_tcp_info() {
        assert!(held("assert tcpi_snd_cwnd == 10"));
        assert!(held(
            "assert tcpi_busy_time == 70000; assert tcpi_sndbuf_limited == 20000; assert tcpi_rwnd_limited == 0"
        ));
        assert!(held("assert tcpi_rto == 300000, tcpi_rto"));
        assert!(held(
            "assert (tcpi_options & TCPI_OPT_SACK) != 0\nassert tcpi_state == TCP_ESTABLISHED"
        ));
        assert!(held(
            "assert 190000 < tcpi_rtt // 1 + 1000 <= 101000 or tcpi_total_retrans == 2"
        ));
        assert!(!held(
            "assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options"
        ));
        assert!(!held("assert tcpi_snd_wscale == 8"));
        assert!(held(
            "print(tcpi_snd_cwnd)\nassert tcpi_ca_state == TCP_CA_Open"
        ));
        assert!(held(
            "assert tcpi_unacked == 2; assert tcpi_sacked == 1; assert 1230 <= tcpi_last_data_recv <= 1240"
        ));
        let cfg = FromConfig { reordering: 3 };
        assert!(matches!(
            evaluate(
                "assert tcpi_reordering == 3, tcpi_reordering; \\\n assert tcpi_advmss == 1460",
                Some(&info()),
                cfg,
                &mut Vars::new()
            ),
            CodeOutcome::Held
        ));
    }

    #[test]
    fn counts_and_times_of_tcp_info() {
        assert!(held(
            "assert tcpi_retransmits == 1; assert tcpi_total_rto == 3; assert tcpi_total_rto_recoveries == 2"
        ));
        assert!(held(
            "assert 600 <= tcpi_total_rto_time <= 620; assert tcpi_rehash == 3"
        ));
        assert!(held(
            "assert tcpi_segs_out == 12 and tcpi_segs_in == 9; assert tcpi_data_segs_out == 8; assert tcpi_data_segs_in == 2"
        ));
        assert!(held(
            "assert tcpi_bytes_sent == 9000; assert tcpi_bytes_retrans == 1000; assert tcpi_rcv_ooopack == 1"
        ));
        assert!(held(
            "assert tcpi_last_data_sent == 48; assert tcpi_last_ack_recv == 536; assert tcpi_last_ack_sent == 0"
        ));
        assert!(held(
            "assert tcpi_pmtu == 1500; assert tcpi_rcv_space == 14600; assert tcpi_notsent_bytes == 3000; assert tcpi_dsack_dups == 2"
        ));
        assert!(held("assert tcpi_fackets == 0; assert tcpi_snd_wnd == 0"));
        assert!(held(
            "assert tcpi_delivered == 11; assert tcpi_delivered_ce == 3"
        ));
        assert!(!held("assert tcpi_segs_out == 13"));
        assert!(!held("assert tcpi_total_rto_time < 600"));
    }

    #[test]
    fn a_failed_assertion_shows_its_message_value() {
        let failed = |text: &str| match evaluate(
            text,
            Some(&info()),
            FromConfig::default(),
            &mut Vars::new(),
        ) {
            CodeOutcome::Failed(m) => m,
            other => panic!("expected a failure, got {other:?}"),
        };
        assert_eq!(
            failed("assert tcpi_snd_cwnd == 18, tcpi_snd_cwnd"),
            "assertion failed: tcpi_snd_cwnd == 18 (tcpi_snd_cwnd = 10)"
        );
        assert_eq!(
            failed("assert tcpi_snd_wscale == 8, 'wscale'"),
            "assertion failed: tcpi_snd_wscale == 8 ('wscale')"
        );
        assert_eq!(
            failed("assert tcpi_snd_wscale == 8"),
            "assertion failed: tcpi_snd_wscale == 8"
        );
    }

    #[test]
    fn variables_carry_from_block_to_block() {
        let mut vars = Vars::new();
        let cfg = FromConfig::default();
        // info() has cwnd 10 000 bytes at an MSS of 1000: 10 segments.
        assert!(matches!(
            evaluate(
                "TCP_INFINITE_SSTHRESH = 0x7fffffff",
                Some(&info()),
                cfg,
                &mut vars
            ),
            CodeOutcome::Held
        ));
        assert!(matches!(
            evaluate(
                "print(tcpi_snd_cwnd); cwnd = 9; cwnd += 1; assert tcpi_snd_cwnd == cwnd, tcpi_snd_cwnd",
                Some(&info()),
                cfg,
                &mut vars
            ),
            CodeOutcome::Held
        ));
        assert!(matches!(
            evaluate(
                "assert tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH",
                Some(&info()),
                cfg,
                &mut vars
            ),
            CodeOutcome::Held
        ));
        assert!(matches!(
            evaluate(
                "cwnd -= 1; assert tcpi_snd_cwnd == cwnd",
                Some(&info()),
                cfg,
                &mut vars
            ),
            CodeOutcome::Failed(_)
        ));
        assert!(matches!(
            evaluate("x += 1", Some(&info()), cfg, &mut vars),
            CodeOutcome::Unsupported(_)
        ));
    }

    #[test]
    fn what_cannot_be_answered_is_unsupported() {
        for text in [
            "assert tcpi_delivery_rate == 1",
            "assert tcpi_rtt == @",
            "import os",
        ] {
            assert!(
                matches!(
                    evaluate(text, Some(&info()), FromConfig::default(), &mut Vars::new()),
                    CodeOutcome::Unsupported(_)
                ),
                "{text}"
            );
        }
        assert!(matches!(
            evaluate(
                "assert tcpi_rtt > 0",
                None,
                FromConfig::default(),
                &mut Vars::new()
            ),
            CodeOutcome::Unsupported(_)
        ));
    }
}
