//! Fault rules written as text: `server FIN #2` (the second FIN the server
//! sends), `client ACK #3`, `server FIN #1 +300ms` (with a delay), turned
//! into the simulator's scripted rules ([`crate::sim::Sim::rule`]).
//!
//! A rule is `HOST KIND [#N] [+DELAY]`:
//!
//! * `HOST`: a host's name (`client`, `server`, ...) or `any`;
//! * `KIND`: `SYN`, `SYN+ACK`, `FIN`, `FIN+ACK`, `RST`, `DATA` (a segment
//!   carrying payload), `ACK` (a *pure* ACK: no payload, no SYN, FIN or RST)
//!   or `ANY`; flags joined with `+` must all be set (`FIN+ACK` is any FIN
//!   with ACK set, `DATA+FIN` data riding on a FIN);
//! * `#N`: only the N-th matching packet that host sends (1 for the first),
//!   retransmissions counted; `#N-M` the N-th to the M-th; without it every
//!   matching packet;
//! * `+DELAY`: for `--delay`, how much longer than the link it takes.

use std::fmt;
use std::time::Duration;

use finack_core::wire::TcpFlags;

use super::knobs::parse_duration;
use crate::sim::{PacketInfo, Verdict};

/// What a rule does to the packets it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Lose them.
    Drop,
    /// Hold them back this much longer than the link would.
    Delay(Duration),
}

/// One fault rule parsed from text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// The text it was parsed from.
    pub text: String,
    /// The sending host's name; `None` for any host.
    pub host: Option<String>,
    /// Flags that must all be set.
    pub flags: TcpFlags,
    /// Match only pure ACKs (the kind `ACK` alone).
    pub pure_ack: bool,
    /// Match only segments with payload.
    pub data: bool,
    /// The matching packets this applies to, counted from 1 (inclusive);
    /// `None`: all of them.
    pub nth: Option<(u64, u64)>,
    /// What happens to them.
    pub action: FaultAction,
}

/// A rule's text could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultError(pub String);

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FaultError {}

const SYNTAX: &str = "expected HOST KIND [#N] [+DELAY], e.g. 'server FIN #2' or \
                      'client ACK #3' or 'server FIN #1 +300ms'; KIND is SYN, SYN+ACK, \
                      FIN, FIN+ACK, RST, ACK (a pure ACK), DATA or ANY";

impl FaultRule {
    /// Parse `text` as a drop rule (`delay: false`, no `+DELAY` allowed) or a
    /// delay rule (`delay: true`, `+DELAY` required).
    pub fn parse(text: &str, delay: bool) -> Result<FaultRule, FaultError> {
        let err = |why: &str| FaultError(format!("bad fault rule '{text}': {why}; {SYNTAX}"));
        let mut words = text.split_whitespace();
        let host = words.next().ok_or_else(|| err("empty"))?;
        let kind = words.next().ok_or_else(|| err("no segment kind"))?;
        let mut nth = None;
        let mut extra = None;
        for w in words {
            if let Some(n) = w.strip_prefix('#') {
                let parse = |s: &str| s.parse::<u64>().ok().filter(|&n| n > 0);
                let range = match n.split_once('-') {
                    Some((a, b)) => parse(a).zip(parse(b)).filter(|(a, b)| a <= b),
                    None => parse(n).map(|a| (a, a)),
                };
                nth = Some(range.ok_or_else(|| err(&format!("'{w}' is not #N or #N-M")))?);
            } else if let Some(d) = w.strip_prefix('+') {
                extra = Some(
                    parse_duration(d)
                        .ok_or_else(|| err(&format!("'{d}' is not a duration such as 300ms")))?,
                );
            } else {
                return Err(err(&format!("unexpected '{w}'")));
            }
        }
        let action = match (delay, extra) {
            (false, None) => FaultAction::Drop,
            (false, Some(_)) => return Err(err("a drop takes no +DELAY")),
            (true, Some(d)) => FaultAction::Delay(d),
            (true, None) => return Err(err("a delay needs +DELAY, e.g. +300ms")),
        };
        let (mut flags, mut pure_ack, mut data) = (TcpFlags::empty(), false, false);
        let parts: Vec<String> = kind
            .split(['+', '|', ','])
            .map(|p| p.to_ascii_uppercase())
            .collect();
        for p in &parts {
            match p.as_str() {
                "SYN" => flags |= TcpFlags::SYN,
                "FIN" => flags |= TcpFlags::FIN,
                "RST" => flags |= TcpFlags::RST,
                "ACK" => flags |= TcpFlags::ACK,
                "PSH" => flags |= TcpFlags::PSH,
                "SYNACK" => flags |= TcpFlags::SYN | TcpFlags::ACK,
                "DATA" => data = true,
                "ANY" => {}
                other => return Err(err(&format!("unknown segment kind '{other}'"))),
            }
        }
        if parts.len() == 1 && parts[0] == "ACK" {
            pure_ack = true;
        }
        Ok(FaultRule {
            text: text.to_string(),
            host: (!host.eq_ignore_ascii_case("any")).then(|| host.to_string()),
            flags,
            pure_ack,
            data,
            nth,
            action,
        })
    }

    /// Does the packet's kind match (not counting `#N`)?
    pub fn matches(&self, p: &PacketInfo) -> bool {
        let f = p.seg.flags;
        if !f.contains(self.flags) || (self.data && p.seg.len == 0) {
            return false;
        }
        !self.pure_ack || (p.seg.len == 0 && !f.fin() && !f.syn() && !f.rst())
    }
}

/// The rules of one run as one scripted rule of the simulator: each rule
/// counts the packets of its kind its host sends, and the first rule whose
/// count is in its `#N` range decides.
pub(crate) fn scripted(
    rules: &[FaultRule],
    names: [String; 2],
) -> impl FnMut(&PacketInfo) -> Option<Verdict> + 'static {
    let rules = rules.to_vec();
    let mut counts = vec![0u64; rules.len()];
    move |p: &PacketInfo| {
        let mut verdict = None;
        for (r, n) in rules.iter().zip(counts.iter_mut()) {
            if r.host.as_ref().is_some_and(|h| *h != names[p.from]) || !r.matches(p) {
                continue;
            }
            *n += 1;
            let hit = r.nth.is_none_or(|(a, b)| (a..=b).contains(n));
            if hit && verdict.is_none() {
                verdict = Some(match &r.action {
                    FaultAction::Drop => Verdict::Drop(format!("--drop '{}'", r.text)),
                    FaultAction::Delay(d) => Verdict::Delay(*d),
                });
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        let r = FaultRule::parse("server FIN #2", false).unwrap();
        assert_eq!(r.host.as_deref(), Some("server"));
        assert_eq!(r.flags, TcpFlags::FIN);
        assert_eq!(r.nth, Some((2, 2)));
        let r = FaultRule::parse("client ACK #3-4", false).unwrap();
        assert!(r.pure_ack);
        assert_eq!(r.nth, Some((3, 4)));
        let r = FaultRule::parse("server FIN #1 +300ms", true).unwrap();
        assert_eq!(r.action, FaultAction::Delay(Duration::from_millis(300)));
        assert!(FaultRule::parse("server FIN #1", true).is_err());
        assert!(FaultRule::parse("server FOO", false).is_err());
        assert!(FaultRule::parse("server FIN #0", false).is_err());
    }
}
