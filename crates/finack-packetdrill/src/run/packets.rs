//! Packets: injecting inbound ones, matching outbound ones.

use super::*;

/// An outbound packet seen on the wire, already made relative.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) at: Instant,
    pub(super) flags: TcpFlags,
    pub(super) seq: u32,
    pub(super) len: u32,
    pub(super) ack: u32,
    pub(super) win: u16,
    pub(super) options: Vec<TcpOption>,
    /// The IP TOS byte / Traffic Class, ECN field included.
    pub(super) tos: u8,
    /// The destination port (the live remote port it went to).
    pub(super) dport: u16,
}

/// The ECN codepoint as packetdrill's scripts write it.
pub(super) fn ecn_text(tos: u8) -> &'static str {
    match tos & ECN_MASK {
        0 => "noecn",
        1 => "ect1",
        2 => "ect0",
        _ => "ce",
    }
}

/// The ECN field of the TOS byte (RFC 3168 §5).
const ECN_MASK: u8 = 0b11;

/// The TOS byte an inbound packet carries for the script's `[...]`
/// annotation (packetdrill parser.y ip_ecn / tos_spec; without one,
/// packetdrill sends 0). `Err` for `ect01`, which names no single codepoint
/// (packetdrill allows it on outbound packets only).
pub(super) fn inbound_tos(spec: Option<TosSpec>) -> Result<u8, String> {
    Ok(match spec {
        None | Some(TosSpec::NoEcn) => 0,
        Some(TosSpec::Ect1) => 1,
        Some(TosSpec::Ect0) => 2,
        Some(TosSpec::Ce) => 3,
        Some(TosSpec::Tos(v)) => v,
        Some(TosSpec::Ect01) => return Err("ect01 is for outbound packets only".into()),
    })
}

/// Checks an outbound packet's TOS byte against the script's annotation as
/// packetdrill's run_packet.c: verify_outbound_live_tos() does: the ECN
/// field alone for `noecn`/`ect0`/`ect1`/`ce`, either ECT codepoint for
/// `ect01`, the whole byte for `tos 0x..`, nothing without an annotation.
pub(super) fn check_tos(spec: Option<TosSpec>, tos: u8) -> Result<(), String> {
    let ecn = tos & ECN_MASK;
    let want = match spec {
        None => return Ok(()),
        Some(TosSpec::Ect01) => {
            return if ecn == 1 || ecn == 2 {
                Ok(())
            } else {
                Err(format!(
                    "IP ECN field: expected ect0 or ect1 got {}",
                    ecn_text(tos)
                ))
            };
        }
        Some(TosSpec::Tos(v)) => {
            return if v == tos {
                Ok(())
            } else {
                Err(format!("IP TOS: expected {v:#04x} got {tos:#04x}"))
            };
        }
        Some(other) => inbound_tos(Some(other))?,
    };
    if ecn == want {
        Ok(())
    } else {
        Err(format!(
            "IP ECN field: expected {} got {}",
            ecn_text(want),
            ecn_text(tos)
        ))
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tos & ECN_MASK != 0 {
            write!(f, "[{}] ", ecn_text(self.tos))?;
        }
        write!(
            f,
            "{} {}:{}({})",
            flags_text(self.flags),
            self.seq,
            self.seq.wrapping_add(self.len),
            self.len
        )?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack)?;
        }
        write!(f, " win {}", self.win)?;
        if !self.options.is_empty() {
            write!(f, " <{}>", options_text(&self.options))?;
        }
        write!(f, " at {}", self.at)
    }
}

pub(super) fn flags_text(f: TcpFlags) -> String {
    Flags {
        fin: f.fin(),
        syn: f.syn(),
        rst: f.rst(),
        psh: f.psh(),
        ack: f.ack(),
        urg: f.urg(),
        ece: f.ece(),
        cwr: f.cwr(),
        ae: false,
    }
    .to_string()
}

pub(super) fn options_text(opts: &[TcpOption]) -> String {
    opts.iter()
        .map(|o| match o {
            TcpOption::Nop => "nop".to_string(),
            TcpOption::Eol => "eol".to_string(),
            TcpOption::Mss(v) => format!("mss {v}"),
            TcpOption::WindowScale(v) => format!("wscale {v}"),
            TcpOption::SackPermitted => "sackOK".to_string(),
            TcpOption::Sack(b) => format!(
                "sack {}",
                b.iter()
                    .map(|(l, r)| format!("{l}:{r}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            TcpOption::Timestamp { val, ecr } => format!("TS val {val} ecr {ecr}"),
            TcpOption::FastOpen {
                experimental,
                cookie,
            } => {
                format!("{} {cookie}", if *experimental { "FOEXP" } else { "FO" })
            }
            TcpOption::Md5(d) => format!("md5 {d}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn script_flags_to_wire(f: &Flags) -> TcpFlags {
    let mut out = TcpFlags::empty();
    for (on, bit) in [
        (f.fin, TcpFlags::FIN),
        (f.syn, TcpFlags::SYN),
        (f.rst, TcpFlags::RST),
        (f.psh, TcpFlags::PSH),
        (f.ack, TcpFlags::ACK),
        (f.urg, TcpFlags::URG),
        (f.ece, TcpFlags::ECE),
        (f.cwr, TcpFlags::CWR),
    ] {
        if on {
            out = out.union(bit);
        }
    }
    out
}

impl Runner {
    pub(super) fn inject(&mut self, line: u32, seg: &TcpSegment, ip: &IpInfo) -> Res<()> {
        let Some(local_port) = self.local_port else {
            return fail(
                line,
                "inbound packet before any socket is bound or connected",
            );
        };
        if seg.flags.syn && !seg.flags.ack && seg.ports.is_none() && self.listening_under_test {
            // packetdrill run_packet.c: setup_new_child_socket(): a SYN to
            // the listening socket under test makes a child whose live
            // remote port is the next ephemeral one.
            self.listening_under_test = false;
            if self.children_made {
                self.retired_ports.push(self.remote_port);
                self.remote_port = self.remote_port.wrapping_add(1);
            }
            self.children_made = true;
        }
        let (sport, dport) = seg.ports.unwrap_or((self.remote_port, local_port));
        let isn = self.local_isn.unwrap_or(0);
        let mut options = TcpOptions::default();
        for o in seg.options.iter().flatten() {
            match o {
                TcpOption::Nop | TcpOption::Eol => {}
                TcpOption::Mss(v) => options.mss = Some(*v),
                TcpOption::WindowScale(v) => options.window_scale = Some(*v),
                TcpOption::SackPermitted => options.sack_permitted = true,
                TcpOption::Sack(blocks) => {
                    let mut sb = SackBlocks::new();
                    for (l, r) in blocks {
                        sb.push(
                            SeqNumber(l.wrapping_add(isn)),
                            SeqNumber(r.wrapping_add(isn)),
                        );
                    }
                    options.sack_blocks = sb;
                }
                TcpOption::Timestamp { val, ecr } => {
                    // Map the script's idea of our TSval onto the live clock.
                    let tsecr = match self.ts_map {
                        Some(off) if *ecr != 0 => ecr.wrapping_add(off),
                        _ => *ecr,
                    };
                    options.timestamps = Some(Timestamps { tsval: *val, tsecr });
                }
                // packetdrill parser.y: new_md5_option(): the digest goes on
                // the wire as written (the script cannot know a real one).
                TcpOption::Md5(hex) => match md5_digest(hex) {
                    Some(d) => options.md5 = Some(d),
                    None => {
                        return fail(
                            line,
                            format!(
                                "inbound md5 option: only a 16-byte digest (32 hex digits) \
                                 is supported, got '{hex}'"
                            ),
                        )
                    }
                },
                other => {
                    return fail(
                        line,
                        format!(
                            "inbound TCP option {} is not supported",
                            options_text(std::slice::from_ref(other))
                        ),
                    )
                }
            }
        }
        let payload = vec![0u8; usize::from(seg.len)];
        let tcp = TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq: SeqNumber(REMOTE_ISN.wrapping_add(seg.seq)),
            // An ACK-flagged line without `ack N` acknowledges script
            // sequence 0 (packetdrill parser.y leaves the field 0 and
            // run_packet.c maps it like any other: our ISN).
            ack: SeqNumber(match (seg.ack, seg.flags.ack) {
                (Some(a), _) => a.wrapping_add(isn),
                (None, true) => isn,
                (None, false) => 0,
            }),
            flags: script_flags_to_wire(&seg.flags),
            window: seg.win.unwrap_or(0),
            urgent: seg.urg.unwrap_or(0),
            options,
            payload: &payload,
        };
        let tos = inbound_tos(ip.tos).map_err(|e| Failure { line, message: e })?;
        let ipr = IpRepr {
            src: self.remote_ip,
            dst: self.local_ip,
            ttl: ip.ttl.unwrap_or(64),
            tos,
        };
        let mut buf = vec![0u8; 128 + payload.len()];
        let n = emit_tcp_packet(&ipr, &tcp, &mut buf).map_err(|e| Failure {
            line,
            message: format!("cannot build the inbound packet: {e:?}"),
        })?;
        // Linux virtio_net_hdr_to_skb(): a packet no longer than the GSO
        // size is not a GSO one.
        let _ = match self.gso_mss {
            Some(mss) if payload.len() > usize::from(mss) => self.ep.handle_offloaded_packet(
                self.now,
                &buf[..n],
                finack_core::RxOffload {
                    gso_size: mss,
                    checksum_trusted: false,
                },
            ),
            _ => self.ep.handle_packet(self.now, &buf[..n]),
        };
        self.drain();
        self.try_pending()
    }
}

/// The 16 bytes of an md5 option's hex digest, if it has exactly 32 digits.
fn md5_digest(hex: &str) -> Option<[u8; 16]> {
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The raw TCP options area of an IPv4 or IPv6 packet (finack sends no IPv6
/// extension headers).
pub(super) fn raw_options(packet: &[u8]) -> Vec<u8> {
    let ihl = match packet.first() {
        Some(b) if b >> 4 == 6 => 40,
        Some(b) => usize::from(b & 0x0f) * 4,
        None => 0,
    };
    let Some(tcp) = packet.get(ihl..) else {
        return Vec::new();
    };
    let doff = usize::from(tcp.get(12).map_or(0, |b| b >> 4)) * 4;
    tcp.get(20..doff).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Decodes an options area in wire order, SACK blocks made relative to the
/// script side's ISN.
pub(super) fn decode_options(raw: Vec<u8>) -> Vec<TcpOption> {
    let mut out = Vec::new();
    let mut i = 0;
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    while i < raw.len() {
        match raw[i] {
            0 => {
                out.push(TcpOption::Eol);
                break;
            }
            1 => {
                out.push(TcpOption::Nop);
                i += 1;
                continue;
            }
            _ => {}
        }
        let kind = raw[i];
        let len = usize::from(raw.get(i + 1).copied().unwrap_or(0));
        if len < 2 || i + len > raw.len() {
            break;
        }
        let body = &raw[i + 2..i + len];
        match (kind, body.len()) {
            (2, 2) => out.push(TcpOption::Mss(u16::from_be_bytes([body[0], body[1]]))),
            (3, 1) => out.push(TcpOption::WindowScale(body[0])),
            (4, 0) => out.push(TcpOption::SackPermitted),
            (5, n) if n % 8 == 0 => out.push(TcpOption::Sack(
                body.chunks(8)
                    .map(|c| {
                        (
                            be32(&c[..4]).wrapping_sub(REMOTE_ISN),
                            be32(&c[4..]).wrapping_sub(REMOTE_ISN),
                        )
                    })
                    .collect(),
            )),
            (8, 8) => out.push(TcpOption::Timestamp {
                val: be32(&body[..4]),
                ecr: be32(&body[4..]),
            }),
            (19, 16) => out.push(TcpOption::Md5(
                body.iter().map(|b| format!("{b:02x}")).collect(),
            )),
            _ => out.push(TcpOption::Md5(format!("kind{kind}"))),
        }
        i += len;
    }
    out
}

impl Runner {
    pub(super) fn tolerance_for(&self, expected: i64) -> i64 {
        self.tolerance.max((expected - self.last_time) / 8)
    }

    /// Waits for the next outbound packet, up to `deadline`.
    pub(super) fn next_outbound(&mut self, deadline: Instant) -> Res<Option<Seen>> {
        loop {
            // packetdrill run_packet.c: sniff_outbound_live_packet() takes
            // only packets of the socket under test's live 4-tuple
            // (find_socket_for_live_packet()); those of a connection the
            // script has moved on from are passed over.
            while self
                .out
                .front()
                .is_some_and(|p| self.retired_ports.contains(&p.dport))
            {
                self.out.pop_front();
            }
            if let Some(p) = self.out.pop_front() {
                return Ok(Some(p));
            }
            match self.ep.poll_timeout() {
                Some(t) if t <= deadline => self.advance(t.max(self.now))?,
                _ => {
                    self.advance(deadline)?;
                    return Ok(self.out.pop_front());
                }
            }
        }
    }

    pub(super) fn expect_outbound(
        &mut self,
        line: u32,
        seg: &TcpSegment,
        ip: &IpInfo,
        lo: i64,
        hi: Option<i64>,
    ) -> Res<()> {
        let tol = self.tolerance_for(lo);
        let deadline = match hi {
            Some(h) => Instant::from_micros((h + tol).max(0) as u64),
            None => self.now + core::time::Duration::from_secs(600),
        };
        let Some(mut p) = self.next_outbound(deadline)? else {
            // For the report: what, if anything, came within the next second.
            let later = self.next_outbound(deadline + core::time::Duration::from_secs(1))?;
            let hint = later
                .map(|p| format!(" (next outbound packet: {p})"))
                .unwrap_or_default();
            return fail(
                line,
                format!("error handling packet: Timed out waiting for packet{hint}"),
            );
        };
        // Aggregate consecutive segments sent at the same time up to the expected
        // length, as packetdrill sees TSO/GSO super-packets.
        while p.len < u32::from(seg.len)
            && !self.strict_segments
            && !p.flags.syn()
            && !p.flags.rst()
            && !p.flags.fin()
        {
            match self.out.front() {
                Some(q) if q.at == p.at && q.seq == p.seq.wrapping_add(p.len) && !q.flags.syn() => {
                    let q = self.out.pop_front().expect("front");
                    p.len += q.len;
                    p.flags = p.flags.difference(TcpFlags::PSH).union(q.flags);
                    p.ack = q.ack;
                    p.win = q.win;
                }
                _ => break,
            }
        }
        if seg.flags.syn && p.flags.syn() {
            // The stack's ISN: make this SYN's sequence number the script's.
            if let Some(isn) = self.local_isn.as_mut() {
                *isn = isn.wrapping_add(p.seq.wrapping_sub(seg.seq));
                p.seq = seg.seq;
            }
        }
        let at = p.at.as_micros() as i64;
        let expected = format!(
            "{}{} {}:{}({}){}{}{}",
            match ip.tos {
                Some(TosSpec::Tos(v)) => format!("[tos {v:#04x}] "),
                Some(TosSpec::Ect01) => "[ect01] ".to_string(),
                Some(t) => format!("[{}] ", ecn_text(inbound_tos(Some(t)).unwrap_or(0))),
                None => String::new(),
            },
            seg.flags,
            seg.seq,
            seg.seq.wrapping_add(u32::from(seg.len)),
            seg.len,
            seg.ack.map(|a| format!(" ack {a}")).unwrap_or_default(),
            seg.win.map(|w| format!(" win {w}")).unwrap_or_default(),
            match &seg.options {
                None => " <...>".to_string(),
                Some(o) if o.is_empty() => String::new(),
                Some(o) => format!(" <{}>", options_text(o)),
            }
        );
        let mismatch = |what: String| {
            fail(
                line,
                format!("bad outbound packet: {what}\n  expected: {expected}\n  actual:   {p}"),
            )
        };
        if let Some(hi) = hi {
            if at < lo - tol || at > hi + tol {
                return mismatch(format!(
                    "timing error: expected at {:.6} s (tolerance {:.6} s), sent at {:.6} s",
                    lo as f64 / 1e6,
                    tol as f64 / 1e6,
                    at as f64 / 1e6
                ));
            }
        }
        if let Err(what) = check_tos(ip.tos, p.tos) {
            return mismatch(what);
        }
        let want_flags = script_flags_to_wire(&seg.flags);
        if p.flags != want_flags {
            return mismatch(format!(
                "flags: expected {} got {}",
                seg.flags,
                flags_text(p.flags)
            ));
        }
        if p.seq != seg.seq {
            return mismatch(format!(
                "sequence number: expected {} got {}",
                seg.seq, p.seq
            ));
        }
        if p.len != u32::from(seg.len) {
            return mismatch(format!(
                "payload length: expected {} got {}",
                seg.len, p.len
            ));
        }
        if let Some(a) = seg.ack {
            if p.ack != a {
                return mismatch(format!("ack: expected {a} got {}", p.ack));
            }
        }
        if let Some(w) = seg.win {
            if p.win != w {
                return mismatch(format!("window: expected {w} got {}", p.win));
            }
        }
        if let Some(want) = &seg.options {
            // Kinds in order and every value, except the TSval, which is the
            // stack's clock; TSecr echoes the script side's TSval, injected
            // unchanged, so it must match exactly.
            let same_shape = want.len() == p.options.len()
                && want.iter().zip(&p.options).all(|(w, g)| match (w, g) {
                    (
                        TcpOption::Timestamp { ecr: we, .. },
                        TcpOption::Timestamp { ecr: ge, .. },
                    ) => we == ge,
                    _ => w == g,
                });
            if !same_shape {
                return mismatch(format!(
                    "TCP options: expected <{}> got <{}>",
                    options_text(want),
                    options_text(&p.options)
                ));
            }
            for (w, g) in want.iter().zip(&p.options) {
                let (TcpOption::Timestamp { val: wv, .. }, TcpOption::Timestamp { val: gv, .. }) =
                    (w, g)
                else {
                    continue;
                };
                // The first outbound TSval ties the live clock to the
                // script's; later ones are compared in script space, and (as
                // in packetdrill) only when the script gives the clock's tick.
                let map = *self.ts_map.get_or_insert(gv.wrapping_sub(*wv));
                if let Some(tick) = self.ts_tick {
                    let in_script = gv.wrapping_sub(map);
                    let off = i64::from(in_script.wrapping_sub(*wv) as i32).abs();
                    if off * i64::from(tick) > self.tolerance {
                        return mismatch(format!(
                            "bad outbound TCP timestamp value: expected TS val {wv} got {in_script} \
                             (tick {tick} us, tolerance {} us)",
                            self.tolerance
                        ));
                    }
                }
            }
        }
        self.last_time = at;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_annotations_become_the_tos_byte() {
        assert_eq!(inbound_tos(None), Ok(0));
        assert_eq!(inbound_tos(Some(TosSpec::NoEcn)), Ok(0));
        assert_eq!(inbound_tos(Some(TosSpec::Ect1)), Ok(1));
        assert_eq!(inbound_tos(Some(TosSpec::Ect0)), Ok(2));
        assert_eq!(inbound_tos(Some(TosSpec::Ce)), Ok(3));
        assert_eq!(inbound_tos(Some(TosSpec::Tos(0xb9))), Ok(0xb9));
        assert!(inbound_tos(Some(TosSpec::Ect01)).is_err());
    }

    #[test]
    fn outbound_tos_is_checked_as_packetdrill_does() {
        // No annotation: anything goes.
        assert!(check_tos(None, 0x03).is_ok());
        // An ECN codepoint: the two low bits only, Diffserv ignored.
        assert!(check_tos(Some(TosSpec::Ect0), 0xb8 | 2).is_ok());
        let e = check_tos(Some(TosSpec::Ect0), 0).unwrap_err();
        assert_eq!(e, "IP ECN field: expected ect0 got noecn");
        assert!(check_tos(Some(TosSpec::NoEcn), 0xb8).is_ok());
        assert!(check_tos(Some(TosSpec::NoEcn), 1).is_err());
        assert!(check_tos(Some(TosSpec::Ce), 3).is_ok());
        // ect01: either ECT codepoint.
        assert!(check_tos(Some(TosSpec::Ect01), 1).is_ok());
        assert!(check_tos(Some(TosSpec::Ect01), 2).is_ok());
        assert!(check_tos(Some(TosSpec::Ect01), 3).is_err());
        assert!(check_tos(Some(TosSpec::Ect01), 0).is_err());
        // tos 0x..: the whole byte.
        assert!(check_tos(Some(TosSpec::Tos(0xb8)), 0xb8).is_ok());
        assert!(check_tos(Some(TosSpec::Tos(0xb8)), 0xba).is_err());
    }
}
