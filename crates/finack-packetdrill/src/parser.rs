//! A recursive-descent parser for packetdrill scripts.
//!
//! The shape of a script: option lines, an optional back-quoted init command,
//! timed events (one per line), an optional back-quoted cleanup command.

use crate::ast::*;
use crate::error::ParseError;
use crate::lexer::{tokenize, Tok, Token};

/// How deeply `[`, `{` and `(` may nest in an expression.
const MAX_DEPTH: usize = 64;

/// Parses the script text `src`; `path` is used in error messages.
pub fn parse(path: &str, src: &str) -> Result<Script, ParseError> {
    let (toks, comments) = tokenize(path, src)?;
    let mut p = Parser {
        path,
        toks,
        i: 0,
        depth: 0,
    };
    let mut script = p.script()?;
    script.path = path.to_string();
    script.comments = comments;
    Ok(script)
}

struct Parser<'a> {
    path: &'a str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

type R<T> = Result<T, ParseError>;

fn is_punct(t: &Tok, c: char) -> bool {
    *t == Tok::Punct(c)
}

/// Converts a script time (seconds, integer or decimal text) to microseconds.
fn time_text_to_micros(text: &str) -> Option<i64> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let whole: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut micros: i64 = 0;
    for k in 0..6 {
        let d = frac.as_bytes().get(k).map_or(0, |b| i64::from(b - b'0'));
        micros = micros * 10 + d;
    }
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        let last = self.toks.len() - 1;
        &self.toks[self.i.min(last)]
    }

    fn peek_tok(&self, k: usize) -> &Tok {
        let last = self.toks.len() - 1;
        &self.toks[(self.i + k).min(last)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err_at(&self, pos: Pos, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.path, pos, msg)
    }

    fn expected(&self, what: &str) -> ParseError {
        let t = self.peek();
        self.err_at(
            t.pos,
            format!("expected {what}, found {}", t.tok.describe()),
        )
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if is_punct(&self.peek().tok, c) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char, what: &str) -> R<()> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn peek_word(&self) -> Option<&str> {
        match &self.peek().tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.peek_word() == Some(w) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_int(&mut self, what: &str) -> R<(i64, Pos)> {
        let t = self.peek();
        match t.tok {
            Tok::Int(v) => {
                let pos = t.pos;
                self.next();
                Ok((v, pos))
            }
            _ => Err(self.expected(what)),
        }
    }

    fn expect_ranged<T: TryFrom<i64>>(&mut self, what: &str) -> R<T> {
        let (v, pos) = self.expect_int(what)?;
        T::try_from(v).map_err(|_| self.err_at(pos, format!("{what} {v} out of range")))
    }

    fn script(&mut self) -> R<Script> {
        let mut script = Script::default();
        while let Tok::Opt(name, value) = &self.peek().tok {
            script.options.push(ScriptOption {
                pos: self.peek().pos,
                name: name.clone(),
                value: value.clone(),
            });
            self.next();
        }
        if let Tok::Backquoted(text) = &self.peek().tok {
            script.init_command = Some(Command {
                pos: self.peek().pos,
                text: text.clone(),
            });
            self.next();
        }
        loop {
            let t = self.peek();
            match &t.tok {
                Tok::Eof => break,
                Tok::Backquoted(text) => {
                    script.cleanup_command = Some(Command {
                        pos: t.pos,
                        text: text.clone(),
                    });
                    self.next();
                    if self.peek().tok != Tok::Eof {
                        return Err(self.expected(
                            "end of file after the cleanup command (commands inside the \
                             script need a time)",
                        ));
                    }
                    break;
                }
                Tok::Opt(..) => {
                    return Err(self
                        .expected("an event time (option lines must come before everything else)"))
                }
                Tok::Int(_) | Tok::Float(_) | Tok::Punct('+') | Tok::Punct('*') => {
                    let e = self.event()?;
                    script.events.push(e);
                    let t = self.peek();
                    if !t.line_start {
                        return Err(self.expected("end of line after the event"));
                    }
                }
                _ => {
                    return Err(self.expected("an event time such as 0, 0.100, +0.1 or *"));
                }
            }
        }
        Ok(script)
    }

    fn time(&mut self) -> R<i64> {
        let t = self.peek().clone();
        let (text, negative) = match &t.tok {
            Tok::Int(v) => (v.to_string(), *v < 0),
            Tok::Float(f) => (f.clone(), f.starts_with('-')),
            _ => return Err(self.expected("a time in seconds")),
        };
        if negative {
            return Err(self.err_at(t.pos, "negative time"));
        }
        self.next();
        time_text_to_micros(&text).ok_or_else(|| self.err_at(t.pos, "time out of range"))
    }

    fn event(&mut self) -> R<Event> {
        let pos = self.peek().pos;
        let time = if self.eat_punct('*') {
            EventTime::Any
        } else if self.eat_punct('+') {
            let a = self.time()?;
            if self.eat_punct('~') {
                self.expect_punct('+', "'+' (both ends of a relative range are relative)")?;
                EventTime::RelativeRange(a, self.time()?)
            } else {
                EventTime::Relative(a)
            }
        } else {
            let a = self.time()?;
            if self.eat_punct('~') {
                EventTime::AbsoluteRange(a, self.time()?)
            } else {
                EventTime::Absolute(a)
            }
        };
        if let EventTime::AbsoluteRange(a, b) | EventTime::RelativeRange(a, b) = time {
            if b < a {
                return Err(self.err_at(pos, "time range is backwards"));
            }
        }
        let action_tok = self.peek().clone();
        let action = match &action_tok.tok {
            Tok::Punct('<') | Tok::Punct('>') => Action::Packet(self.packet()?),
            Tok::Backquoted(text) => {
                self.next();
                Action::Command(Command {
                    pos: action_tok.pos,
                    text: text.clone(),
                })
            }
            Tok::Code(text) => {
                self.next();
                Action::Code(Code {
                    text: text.clone(),
                    tcpi_names: tcpi_names(text),
                })
            }
            Tok::Ellipsis => Action::Syscall(self.syscall()?),
            Tok::Word(_) if is_punct(self.peek_tok(1), '(') => Action::Syscall(self.syscall()?),
            _ => {
                return Err(self
                    .expected("a packet ('<' or '>'), a system call, a `command` or %{ code }%"))
            }
        };
        let outbound = matches!(
            &action,
            Action::Packet(Packet {
                direction: Direction::Outbound,
                ..
            })
        );
        match time {
            EventTime::Any if !outbound => {
                Err(self.err_at(pos, "event time * can only be used with outbound packets"))
            }
            EventTime::AbsoluteRange(..) | EventTime::RelativeRange(..) if !outbound => Err(self
                .err_at(
                    pos,
                    "event time range can only be used with outbound packets",
                )),
            _ => Ok(Event { pos, time, action }),
        }
    }

    fn packet(&mut self) -> R<Packet> {
        let direction = match self.next().tok {
            Tok::Punct('<') => Direction::Inbound,
            _ => Direction::Outbound,
        };
        // The grammar of packetdrill's first releases (the linux-3.11
        // scripts) put an ICMP message's echoed segment first:
        // `< [1:1461(1460)] icmp unreachable frag_needed mtu 1200`.
        let mut old_echoed = None;
        if is_punct(&self.peek().tok, '[') && matches!(self.peek_tok(1), Tok::Int(_)) {
            self.next();
            let (seq, len) = self.seq()?;
            self.expect_punct(']', "']' after the echoed packet")?;
            if self.peek_word() != Some("icmp") {
                return Err(self.expected("icmp after an echoed packet"));
            }
            old_echoed = Some(IcmpEchoed::Tcp { seq, len });
        }
        let ip = if is_punct(&self.peek().tok, '[') || is_punct(&self.peek().tok, '(') {
            self.ip_info()?
        } else {
            IpInfo::default()
        };
        let ports = self.opt_ports()?;
        let body = match self.peek_word() {
            Some("icmp") => {
                self.next();
                let mut icmp = self.icmp()?;
                if let Some(e) = old_echoed {
                    icmp.echoed = e;
                }
                PacketBody::Icmp(icmp)
            }
            Some("udp") => {
                self.next();
                let ports = match ports {
                    Some(p) => Some(p),
                    None => self.opt_ports()?,
                };
                self.expect_punct('(', "'(' before the UDP payload length")?;
                let len = self.expect_ranged("UDP payload length")?;
                self.expect_punct(')', "')'")?;
                PacketBody::Udp { ports, len }
            }
            Some(w @ ("ipv4" | "ipv6" | "gre" | "mpls")) => {
                let w = w.to_string();
                return Err(self.err_at(
                    self.peek().pos,
                    format!("unsupported packet encapsulation '{w}'"),
                ));
            }
            _ => PacketBody::Tcp(self.tcp(direction, ports)?),
        };
        Ok(Packet {
            direction,
            ip,
            body,
        })
    }

    fn opt_ports(&mut self) -> R<Option<(u16, u16)>> {
        if matches!(self.peek().tok, Tok::Int(_)) && is_punct(self.peek_tok(1), '>') {
            let src = self.expect_ranged("source port")?;
            self.next();
            let dst = self.expect_ranged("destination port")?;
            Ok(Some((src, dst)))
        } else {
            Ok(None)
        }
    }

    fn ip_info(&mut self) -> R<IpInfo> {
        let close = if self.eat_punct('[') { ']' } else { ')' };
        if close == ')' {
            self.next();
        }
        let mut info = IpInfo::default();
        loop {
            let pos = self.peek().pos;
            let Some(w) = self.peek_word().map(str::to_string) else {
                return Err(self
                    .expected("an IP detail (noecn, ect0, ect1, ce, ect01, tos, flowlabel, ttl)"));
            };
            self.next();
            match w.as_str() {
                "noecn" => info.tos = Some(TosSpec::NoEcn),
                "ect0" => info.tos = Some(TosSpec::Ect0),
                "ect1" => info.tos = Some(TosSpec::Ect1),
                "ce" => info.tos = Some(TosSpec::Ce),
                "ect01" => info.tos = Some(TosSpec::Ect01),
                "tos" | "flowlabel" => {
                    let t = self.next();
                    let Tok::Hex(v) = t.tok else {
                        return Err(self.err_at(t.pos, format!("expected a hex value after {w}")));
                    };
                    if w == "tos" {
                        let v = u8::try_from(v)
                            .map_err(|_| self.err_at(t.pos, "tos out of range for 8 bits"))?;
                        info.tos = Some(TosSpec::Tos(v));
                    } else {
                        if v >= 1 << 20 {
                            return Err(self.err_at(t.pos, "flowlabel out of range for 20 bits"));
                        }
                        info.flow_label = Some(v as u32);
                    }
                }
                "ttl" => info.ttl = Some(self.expect_ranged("ttl")?),
                _ => {
                    return Err(self.err_at(
                        pos,
                        format!("expected an IP detail (noecn, ect0, ect1, ce, ect01, tos, flowlabel, ttl), found '{w}'"),
                    ))
                }
            }
            if self.eat_punct(close) {
                return Ok(info);
            }
            self.expect_punct(',', &format!("',' or '{close}'"))?;
        }
    }

    fn flags(&mut self) -> R<Flags> {
        let t = self.peek().clone();
        let text = match &t.tok {
            Tok::Punct('.') => {
                self.next();
                ".".to_string()
            }
            Tok::Punct('-') => {
                self.next();
                "-".to_string()
            }
            Tok::Word(w) => {
                self.next();
                let mut s = w.clone();
                if self.eat_punct('.') {
                    s.push('.');
                }
                s
            }
            _ => return Err(self.expected("TCP flags (such as S, S., P., F., R, . or -)")),
        };
        Flags::parse(&text).map_err(|c| {
            self.err_at(
                t.pos,
                format!(
                    "bad TCP flag '{c}' in '{text}': expected flags from F, S, R, P, U, E, W, A \
                     and . (ACK), or - for none"
                ),
            )
        })
    }

    fn seq(&mut self) -> R<(u32, u16)> {
        let (start, pos) = self.expect_int("a starting sequence number (start:end(length))")?;
        self.expect_punct(':', "':' in start:end(length)")?;
        let (end, _) = self.expect_int("an ending sequence number in start:end(length)")?;
        self.expect_punct('(', "'(' in start:end(length)")?;
        let (len, _) = self.expect_int("a payload length in start:end(length)")?;
        self.expect_punct(')', "')' in start:end(length)")?;
        let start32 = u32::try_from(start)
            .map_err(|_| self.err_at(pos, "TCP start sequence number out of range"))?;
        u32::try_from(end).map_err(|_| self.err_at(pos, "TCP end sequence number out of range"))?;
        let len16 =
            u16::try_from(len).map_err(|_| self.err_at(pos, "TCP payload size out of range"))?;
        if end != start + len {
            return Err(self.err_at(
                pos,
                format!(
                    "inconsistent TCP sequence numbers and payload size: {start} + {len} != {end}"
                ),
            ));
        }
        Ok((start32, len16))
    }

    fn tcp(&mut self, direction: Direction, ports: Option<(u16, u16)>) -> R<TcpSegment> {
        let flags = self.flags()?;
        let (seq, len) = self.seq()?;
        let mut seg = TcpSegment {
            ports,
            flags,
            seq,
            len,
            ack: None,
            win: None,
            urg: None,
            options: Some(Vec::new()),
        };
        if self.eat_word("ack") {
            seg.ack = Some(self.expect_ranged("TCP ack sequence number")?);
        }
        if self.eat_word("win") {
            seg.win = Some(self.expect_ranged("TCP window value")?);
        }
        if self.eat_word("urg") {
            seg.urg = Some(self.expect_ranged("urgent pointer")?);
        }
        if is_punct(&self.peek().tok, '<') {
            let pos = self.peek().pos;
            self.next();
            if self.peek().tok == Tok::Ellipsis {
                self.next();
                self.expect_punct('>', "'>' after '<...'")?;
                if direction != Direction::Outbound {
                    return Err(self.err_at(
                        pos,
                        "<...> for TCP options can only be used with outbound packets",
                    ));
                }
                seg.options = None;
            } else {
                let mut opts = Vec::new();
                loop {
                    opts.push(self.tcp_option()?);
                    if self.eat_punct('>') {
                        break;
                    }
                    self.expect_punct(',', "',' or '>' in the TCP option list")?;
                }
                seg.options = Some(opts);
            }
        }
        Ok(seg)
    }

    fn hex_blob(&mut self) -> Option<String> {
        match &self.peek().tok {
            Tok::Word(_) | Tok::Int(_) | Tok::Hex(_) => Some(self.next().text),
            _ => None,
        }
    }

    fn tcp_option(&mut self) -> R<TcpOption> {
        const WHAT: &str = "a TCP option (nop, eol, mss, wscale, sackOK, sack, TS, FO, FOEXP, md5)";
        let Some(w) = self.peek_word().map(str::to_string) else {
            return Err(self.expected(WHAT));
        };
        let pos = self.peek().pos;
        self.next();
        Ok(match w.as_str() {
            "nop" => TcpOption::Nop,
            "eol" => TcpOption::Eol,
            "mss" => TcpOption::Mss(self.expect_ranged("mss value")?),
            "wscale" => TcpOption::WindowScale(self.expect_ranged("window scale shift count")?),
            "sackOK" => TcpOption::SackPermitted,
            "sack" => {
                let mut blocks = Vec::new();
                while let Tok::Int(_) = self.peek().tok {
                    let l = self.expect_ranged("TCP SACK left sequence number")?;
                    self.expect_punct(':', "':' in a SACK block left:right")?;
                    let r = self.expect_ranged("TCP SACK right sequence number")?;
                    blocks.push((l, r));
                }
                if blocks.is_empty() {
                    return Err(self.expected("a SACK block left:right"));
                }
                TcpOption::Sack(blocks)
            }
            "TS" => {
                if !self.eat_word("val") {
                    return Err(self.expected("'val' after TS"));
                }
                let val = self.expect_ranged("ts val")?;
                if !self.eat_word("ecr") {
                    return Err(self.expected("'ecr' after TS val N"));
                }
                let ecr = self.expect_ranged("ecr val")?;
                TcpOption::Timestamp { val, ecr }
            }
            "FO" | "FOEXP" => TcpOption::FastOpen {
                experimental: w == "FOEXP",
                cookie: self.hex_blob().unwrap_or_default(),
            },
            "md5" => match self.hex_blob() {
                Some(d) => TcpOption::Md5(d),
                None => return Err(self.expected("an MD5 digest in hex")),
            },
            _ => return Err(self.err_at(pos, format!("expected {WHAT}, found '{w}'"))),
        })
    }

    fn icmp(&mut self) -> R<Icmp> {
        let Some(kind) = self.peek_word().map(str::to_string) else {
            return Err(self.expected("an ICMP type (such as unreachable or echo_reply)"));
        };
        self.next();
        let code = match self.peek_word() {
            Some(w) if w != "mtu" && w != "id" => {
                let w = w.to_string();
                self.next();
                Some(w)
            }
            _ => None,
        };
        let mut icmp = Icmp {
            kind,
            code,
            mtu: None,
            id: None,
            echoed: IcmpEchoed::Default,
        };
        if self.eat_word("mtu") {
            icmp.mtu = Some(self.expect_ranged("ICMP mtu")?);
        }
        if self.eat_word("id") {
            icmp.id = Some(self.expect_ranged("ICMP echo id")?);
        }
        if self.eat_punct('[') {
            icmp.echoed = match self.peek_word() {
                Some(w @ ("udp" | "raw")) => {
                    let udp = w == "udp";
                    self.next();
                    self.expect_punct('(', "'('")?;
                    let n = self.expect_ranged("payload length")?;
                    self.expect_punct(')', "')'")?;
                    if udp {
                        IcmpEchoed::Udp(n)
                    } else {
                        IcmpEchoed::Raw(n)
                    }
                }
                _ => {
                    let (seq, len) = self.seq()?;
                    IcmpEchoed::Tcp { seq, len }
                }
            };
            self.expect_punct(']', "']' after the echoed packet")?;
        }
        Ok(icmp)
    }

    fn syscall(&mut self) -> R<Syscall> {
        let end = if self.peek().tok == Tok::Ellipsis {
            self.next();
            Some(self.time()?)
        } else {
            None
        };
        let pos = self.peek().pos;
        let Some(name) = self.peek_word().map(str::to_string) else {
            return Err(self.expected("a system call name"));
        };
        self.next();
        self.expect_punct('(', "'(' after the system call name")?;
        let args = self.expr_list(')')?;
        self.expect_punct('=', "'=' and the expected result after the system call")?;
        let result = self.expr()?;
        let mut errno = None;
        if let Some(w) = self.peek_word() {
            if !self.peek().line_start {
                errno = Some(w.to_string());
                self.next();
            }
        }
        let mut note = None;
        if is_punct(&self.peek().tok, '(') && !self.peek().line_start {
            let open = self.next().pos;
            let mut words: Vec<String> = Vec::new();
            loop {
                let t = self.next();
                match t.tok {
                    Tok::Punct(')') => break,
                    Tok::Eof => {
                        return Err(self.err_at(open, "unclosed note: expected ')'"));
                    }
                    _ => words.push(t.text),
                }
            }
            note = Some(words.join(" "));
        }
        Ok(Syscall {
            pos,
            end,
            name,
            args,
            result,
            errno,
            note,
        })
    }

    /// Parses `a, b, c` up to and including `close`.
    fn expr_list(&mut self, close: char) -> R<Vec<Expr>> {
        let mut out = Vec::new();
        if self.eat_punct(close) {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if self.eat_punct(close) {
                return Ok(out);
            }
            self.expect_punct(',', &format!("',' or '{close}'"))?;
        }
    }

    fn expr(&mut self) -> R<Expr> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err_at(self.peek().pos, "expression nested too deeply"));
        }
        self.depth += 1;
        let r = self.or_expr();
        self.depth -= 1;
        r
    }

    fn or_expr(&mut self) -> R<Expr> {
        let mut e = self.primary()?;
        while self.eat_punct('|') {
            let rhs = self.primary()?;
            e = Expr::Or(Box::new(e), Box::new(rhs));
        }
        Ok(e)
    }

    fn primary(&mut self) -> R<Expr> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Ellipsis => {
                self.next();
                Ok(Expr::Ellipsis)
            }
            Tok::Int(v) => {
                self.next();
                Ok(Expr::Int(v))
            }
            Tok::Hex(v) => {
                self.next();
                i64::try_from(v)
                    .map(Expr::Int)
                    .map_err(|_| self.err_at(t.pos, "hex integer out of range"))
            }
            Tok::Str(s) => {
                self.next();
                let mut s = s;
                while let Tok::Str(more) = &self.peek().tok {
                    s.push_str(more);
                    self.next();
                }
                if self.peek().tok == Tok::Ellipsis {
                    self.next();
                    return Ok(Expr::StrPrefix(s));
                }
                Ok(Expr::Str(s))
            }
            Tok::Word(w) => {
                self.next();
                let mut e = Expr::Word(w.clone());
                if self.eat_punct('(') {
                    e = Expr::Call(w, self.expr_list(')')?);
                }
                if self.eat_punct('=') {
                    let rhs = self.expr()?;
                    e = Expr::Assign(Box::new(e), Box::new(rhs));
                }
                Ok(e)
            }
            Tok::Punct('[') => {
                self.next();
                Ok(Expr::List(self.expr_list(']')?))
            }
            Tok::Punct('{') => {
                self.next();
                Ok(Expr::Struct(self.expr_list('}')?))
            }
            _ => Err(self.expected("an expression")),
        }
    }
}

/// The distinct `tcpi_*` identifiers in a code block, in first-seen order.
pub fn tcpi_names(code: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if word_start && bytes[i..].starts_with(b"tcpi_") {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let name = &code[i..j];
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests;
