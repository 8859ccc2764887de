//! Every [`Config`] field by name, set from text: what `--set FIELD=VALUE`
//! and a scenario file's `[config]` tables use.
//!
//! Values are written as a person would: durations with a unit (`30s`,
//! `40ms`, `1.5s`, `2m`, `2h`), `off` for an optional limit that is not set,
//! booleans as `on`/`off`/`true`/`false`/`yes`/`no`/`1`/`0`, sizes as a
//! number with an optional `k`/`KiB`/`M`/`MiB` suffix, enums by their
//! lowercase names.

use std::fmt;
use std::time::Duration;

use finack_core::{
    Config, CongestionAlgorithm, EarlyRetransmit, EcnMode, IdleRestart, InitialWindow,
    ListenerLimits, MtuProbing, Pacing,
};

/// A field could not be set: unknown name or a value it does not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnobError {
    /// The field as given.
    pub field: String,
    /// What went wrong, with the accepted values.
    pub message: String,
}

impl fmt::Display for KnobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KnobError {}

/// The kind of value a field takes, which decides how its text is read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Dur,
    OptDur,
    Bool,
    Num,
    OptNum,
    Size,
    Mem,
    Ports,
    Iw,
    Idle,
    Cc,
    Ecn,
    EarlyRexmit,
    MtuProbe,
    Pacing,
}

impl Kind {
    fn accepted(self) -> &'static str {
        match self {
            Kind::Dur => "a duration such as 30s, 200ms, 1.5s, 2m",
            Kind::OptDur => "a duration such as 30s or 40ms, or off",
            Kind::Bool => "on or off (true/false, yes/no, 1/0)",
            Kind::Num => "a whole number",
            Kind::OptNum => "a whole number, or off",
            Kind::Size => "a size in bytes such as 131072, 64k or 4MiB",
            Kind::Mem => "off, or three sizes LOW,PRESSURE,HIGH such as 1M,2M,4M",
            Kind::Ports => "a port range LOW-HIGH such as 32768-60999",
            Kind::Iw => "a number of segments such as 10, or rfc5681",
            Kind::Idle => "keep, rfc5681 or linux",
            Kind::Cc => "cubic or newreno",
            Kind::Ecn => "off, on or passive",
            Kind::EarlyRexmit => "off, quick or delayed",
            Kind::MtuProbe => "off, black-hole or always",
            Kind::Pacing => "off or fq",
        }
    }
}

/// Every field with the kind of value it takes, in the order of
/// [`Config`]'s declaration.
const FIELDS: &[(&str, Kind)] = &[
    ("time_wait", Kind::Dur),
    ("fin_wait2_timeout", Kind::OptDur),
    ("rto_initial", Kind::Dur),
    ("rto_min", Kind::Dur),
    ("rto_max", Kind::Dur),
    ("rto_min_on_variance", Kind::Bool),
    ("syn_retries", Kind::Num),
    ("syn_linear_timeouts", Kind::Num),
    ("thin_linear_timeouts", Kind::Bool),
    ("paws_active", Kind::Bool),
    ("undo_recovery", Kind::Bool),
    ("dsack_delivered", Kind::Bool),
    ("reno_recovery_hold", Kind::Bool),
    ("reno_sacked_out", Kind::Bool),
    ("pingpong_thresh", Kind::Num),
    ("time_budget", Kind::Bool),
    ("synack_retries", Kind::Num),
    ("max_orphans", Kind::Num),
    ("tcp_mem", Kind::Mem),
    ("retries2", Kind::Num),
    ("orphan_retries", Kind::Num),
    ("user_timeout", Kind::OptDur),
    ("keepalive_time", Kind::Dur),
    ("keepalive_interval", Kind::Dur),
    ("keepalive_probes", Kind::Num),
    ("mtu", Kind::Num),
    ("mtu_probing", Kind::MtuProbe),
    ("base_mss", Kind::Num),
    ("probe_threshold", Kind::Num),
    ("probe_interval", Kind::Dur),
    ("initial_window", Kind::Iw),
    ("window_scaling", Kind::Bool),
    ("window_scale", Kind::Num),
    ("sack", Kind::Bool),
    ("dsack", Kind::Bool),
    ("timestamps", Kind::Bool),
    ("timestamp_offsets", Kind::Bool),
    ("recv_buffer", Kind::Size),
    ("rcvbuf_autotune", Kind::Bool),
    ("recv_buffer_max", Kind::Size),
    ("send_buffer", Kind::Size),
    ("sndbuf_autotune", Kind::Bool),
    ("send_buffer_max", Kind::Size),
    ("delayed_ack", Kind::OptDur),
    ("delayed_ack_max", Kind::OptDur),
    ("mss_half_window", Kind::Bool),
    ("purge_on_reset", Kind::Bool),
    ("urgent_oob", Kind::Bool),
    ("synack_text", Kind::Bool),
    ("quickacks", Kind::Num),
    ("ooo_quickack", Kind::Bool),
    ("stdurg", Kind::Bool),
    ("abort_on_overflow", Kind::Bool),
    ("comp_sack_nr", Kind::Num),
    ("comp_sack_delay", Kind::Dur),
    ("comp_sack_slack", Kind::Dur),
    ("slow_start_abc", Kind::OptNum),
    ("cwnd_limited_growth", Kind::Bool),
    ("zero_window_probe_data", Kind::Bool),
    ("resource_probe_interval", Kind::OptDur),
    ("user_timeout_probes", Kind::Bool),
    ("prr", Kind::Bool),
    ("prr_ssrb_always", Kind::Bool),
    ("fack", Kind::Bool),
    ("linux_window_update", Kind::Bool),
    ("rcv_memory", Kind::Bool),
    ("shrink_window", Kind::Bool),
    ("paws_linux", Kind::Bool),
    ("linux_sequence_check", Kind::Bool),
    ("quantize_syn_window", Kind::Bool),
    ("idle_restart", Kind::Idle),
    ("congestion", Kind::Cc),
    ("cong_in_segments", Kind::Bool),
    ("cubic.fast_convergence", Kind::Bool),
    ("cubic.beta", Kind::Num),
    ("cubic.tcp_friendliness", Kind::Bool),
    ("cubic.hystart", Kind::Bool),
    ("cubic.hystart_detect", Kind::Num),
    ("cubic.hystart_low_window", Kind::Num),
    ("cubic.hystart_ack_delta_us", Kind::Num),
    ("dupthresh", Kind::Num),
    ("nagle", Kind::Bool),
    ("ephemeral_ports", Kind::Ports),
    ("tw_reuse", Kind::Bool),
    ("tw_reuse_delay", Kind::Dur),
    ("rfc1337", Kind::Bool),
    ("md5_option_checks", Kind::Bool),
    ("time_wait_syn_reuse", Kind::Bool),
    ("rfc5961", Kind::Bool),
    ("old_ack_floor_iss", Kind::Bool),
    ("challenge_ack_interval", Kind::Dur),
    ("ttl", Kind::Num),
    ("tos", Kind::Num),
    ("tail_loss_probe", Kind::Bool),
    ("rack", Kind::Bool),
    ("frto", Kind::Bool),
    ("rtt_every_ack", Kind::Bool),
    ("tso_defer", Kind::Bool),
    ("pacing", Kind::Pacing),
    ("gso_psh", Kind::Bool),
    ("sack_dupacks_by_segments", Kind::Bool),
    ("early_retransmit", Kind::EarlyRexmit),
    ("gso_segs_min", Kind::OptNum),
    ("linux_push", Kind::Bool),
    ("notsent_lowat", Kind::Num),
    ("linux_write_space", Kind::Bool),
    ("ack_unsent_data_reply", Kind::Bool),
    ("linux_resets", Kind::Bool),
    ("linux_backlog", Kind::Bool),
    ("record_transitions", Kind::Bool),
    ("tx_checksum_offload", Kind::Bool),
    ("max_backlog", Kind::Num),
    ("max_syn_backlog", Kind::Num),
    ("rmem_max", Kind::Size),
    ("wmem_max", Kind::Size),
    ("syn_cookies", Kind::Bool),
    ("syn_cookies_always", Kind::Bool),
    ("buffer_release_delay", Kind::Dur),
    ("ecn", Kind::Ecn),
    ("ecn_fallback", Kind::Bool),
    ("max_time_wait", Kind::Num),
    ("listener_limits.syn_received_per_source", Kind::OptNum),
    ("listener_limits.established_per_source", Kind::OptNum),
    ("listener_limits.idle_timeout", Kind::OptDur),
];

/// The names of every settable field (nested ones with a dot, such as
/// `listener_limits.idle_timeout`), each with the values it takes.
pub fn fields() -> impl Iterator<Item = (&'static str, &'static str)> {
    FIELDS.iter().map(|(n, k)| (*n, k.accepted()))
}

/// Set `field` of `cfg` from `value`. An unknown field or a value the field
/// does not take is an error naming the field and what it accepts.
pub fn set(cfg: &mut Config, field: &str, value: &str) -> Result<(), KnobError> {
    let Some(&(_, kind)) = FIELDS.iter().find(|(n, _)| *n == field) else {
        let close: Vec<&str> = FIELDS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n.contains(field) || field.contains(n.split('.').next_back().unwrap_or(n)))
            .collect();
        let hint = if close.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", close.join(", "))
        };
        let all: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
        return Err(KnobError {
            field: field.to_string(),
            message: format!(
                "unknown config field '{field}'{hint}; the fields are: {}",
                all.join(", ")
            ),
        });
    };
    let v = value.trim();
    let bad = || KnobError {
        field: field.to_string(),
        message: format!(
            "bad value '{value}' for config field '{field}': expected {}",
            kind.accepted()
        ),
    };
    let range = |lo: u64, hi: u64| KnobError {
        field: field.to_string(),
        message: format!("value '{value}' for config field '{field}' is out of range {lo}..={hi}"),
    };
    macro_rules! num {
        ($t:ty) => {{
            let n = parse_u64(v).ok_or_else(bad)?;
            <$t>::try_from(n).map_err(|_| range(0, <$t>::MAX as u64))?
        }};
    }
    match kind {
        Kind::Dur => {
            let d = parse_duration(v).ok_or_else(bad)?;
            *dur_field(cfg, field) = d;
        }
        Kind::OptDur => {
            let d = if is_off(v) {
                None
            } else {
                Some(parse_duration(v).ok_or_else(bad)?)
            };
            *opt_dur_field(cfg, field) = d;
        }
        Kind::Bool => *bool_field(cfg, field) = parse_bool(v).ok_or_else(bad)?,
        Kind::Size => {
            let n = parse_size(v).ok_or_else(bad)?;
            match field {
                "recv_buffer" => cfg.recv_buffer = n,
                "rmem_max" => cfg.rmem_max = n,
                "wmem_max" => cfg.wmem_max = n,
                "recv_buffer_max" => cfg.recv_buffer_max = n,
                "send_buffer_max" => cfg.send_buffer_max = n,
                _ => cfg.send_buffer = n,
            }
        }
        Kind::Num => match field {
            "syn_retries" => cfg.syn_retries = num!(u32),
            "syn_linear_timeouts" => cfg.syn_linear_timeouts = num!(u32),
            "pingpong_thresh" => cfg.pingpong_thresh = num!(u8),
            "synack_retries" => cfg.synack_retries = num!(u32),
            "max_orphans" => cfg.max_orphans = num!(usize),
            "retries2" => cfg.retries2 = num!(u32),
            "orphan_retries" => cfg.orphan_retries = num!(u32),
            "keepalive_probes" => cfg.keepalive_probes = num!(u32),
            "mtu" => cfg.mtu = num!(u16),
            "base_mss" => cfg.base_mss = num!(u16),
            "probe_threshold" => cfg.probe_threshold = num!(u16),
            "window_scale" => {
                let n = num!(u8);
                if n > 14 {
                    return Err(range(0, 14));
                }
                cfg.window_scale = n;
            }
            "quickacks" => cfg.quickacks = num!(u32),
            "comp_sack_nr" => cfg.comp_sack_nr = num!(u8),
            "dupthresh" => cfg.dupthresh = num!(u32),
            "ttl" => cfg.ttl = num!(u8),
            "tos" => cfg.tos = num!(u8),
            "notsent_lowat" => cfg.notsent_lowat = num!(u32),
            "max_backlog" => cfg.max_backlog = num!(usize),
            "max_syn_backlog" => cfg.max_syn_backlog = num!(usize),
            "max_time_wait" => cfg.max_time_wait = num!(usize),
            "cubic.beta" => {
                let n = num!(u32);
                if n == 0 || n >= 1024 {
                    return Err(range(1, 1023));
                }
                cfg.cubic.beta = n;
            }
            // Bit 1 the ACK train, bit 2 the delay test; other bits are
            // ignored, as by the kernel.
            "cubic.hystart_detect" => cfg.cubic.hystart_detect = num!(u8),
            "cubic.hystart_low_window" => cfg.cubic.hystart_low_window = num!(u32),
            "cubic.hystart_ack_delta_us" => cfg.cubic.hystart_ack_delta_us = num!(u32),
            _ => unreachable!("numeric field {field} not handled"),
        },
        Kind::OptNum => {
            let n = if is_off(v) { None } else { Some(num!(u32)) };
            let ll: &mut ListenerLimits = &mut cfg.listener_limits;
            match field {
                "slow_start_abc" => cfg.slow_start_abc = n,
                "gso_segs_min" => cfg.gso_segs_min = n,
                "listener_limits.syn_received_per_source" => ll.syn_received_per_source = n,
                _ => ll.established_per_source = n,
            }
        }
        Kind::Mem => {
            cfg.tcp_mem = if is_off(v) {
                None
            } else {
                let parts: Vec<usize> = v
                    .split(',')
                    .map(|p| parse_size(p.trim()))
                    .collect::<Option<_>>()
                    .ok_or_else(bad)?;
                match parts[..] {
                    [lo, pr, hi] if lo <= pr && pr <= hi => Some((lo, pr, hi)),
                    _ => return Err(bad()),
                }
            }
        }
        Kind::Ports => {
            let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
            let lo = parse_u64(lo.trim()).and_then(|n| u16::try_from(n).ok());
            let hi = parse_u64(hi.trim()).and_then(|n| u16::try_from(n).ok());
            match (lo, hi) {
                (Some(lo), Some(hi)) if 0 < lo && lo <= hi => cfg.ephemeral_ports = (lo, hi),
                _ => return Err(bad()),
            }
        }
        Kind::Iw => {
            cfg.initial_window = if v.eq_ignore_ascii_case("rfc5681") {
                InitialWindow::Rfc5681
            } else {
                InitialWindow::Segments(num!(u32))
            }
        }
        Kind::Idle => {
            cfg.idle_restart = match v.to_ascii_lowercase().as_str() {
                "keep" => IdleRestart::Keep,
                "rfc5681" => IdleRestart::Rfc5681,
                "linux" => IdleRestart::Linux,
                _ => return Err(bad()),
            }
        }
        Kind::Cc => {
            cfg.congestion = match v.to_ascii_lowercase().as_str() {
                "cubic" => CongestionAlgorithm::Cubic,
                "newreno" | "reno" => CongestionAlgorithm::NewReno,
                _ => return Err(bad()),
            }
        }
        Kind::Ecn => {
            cfg.ecn = match v.to_ascii_lowercase().as_str() {
                "off" | "0" => EcnMode::Off,
                "on" | "1" => EcnMode::On,
                "passive" | "2" => EcnMode::Passive,
                _ => return Err(bad()),
            }
        }
        Kind::Pacing => {
            cfg.pacing = match v.to_ascii_lowercase().as_str() {
                "off" => Pacing::Off,
                "fq" => Pacing::Fq,
                _ => return Err(bad()),
            }
        }
        Kind::EarlyRexmit => {
            cfg.early_retransmit = match v.to_ascii_lowercase().as_str() {
                "off" => EarlyRetransmit::Off,
                "quick" => EarlyRetransmit::Quick,
                "delayed" => EarlyRetransmit::Delayed,
                _ => return Err(bad()),
            }
        }
        Kind::MtuProbe => {
            cfg.mtu_probing = match v.to_ascii_lowercase().as_str() {
                "off" | "0" => MtuProbing::Off,
                "black-hole" | "1" => MtuProbing::AfterBlackHole,
                "always" | "2" => MtuProbing::Always,
                _ => return Err(bad()),
            }
        }
    }
    Ok(())
}

fn dur_field<'a>(cfg: &'a mut Config, field: &str) -> &'a mut Duration {
    match field {
        "time_wait" => &mut cfg.time_wait,
        "tw_reuse_delay" => &mut cfg.tw_reuse_delay,
        "comp_sack_delay" => &mut cfg.comp_sack_delay,
        "comp_sack_slack" => &mut cfg.comp_sack_slack,
        "rto_initial" => &mut cfg.rto_initial,
        "rto_min" => &mut cfg.rto_min,
        "rto_max" => &mut cfg.rto_max,
        "keepalive_time" => &mut cfg.keepalive_time,
        "keepalive_interval" => &mut cfg.keepalive_interval,
        "challenge_ack_interval" => &mut cfg.challenge_ack_interval,
        "buffer_release_delay" => &mut cfg.buffer_release_delay,
        "probe_interval" => &mut cfg.probe_interval,
        _ => unreachable!("duration field {field} not handled"),
    }
}

fn opt_dur_field<'a>(cfg: &'a mut Config, field: &str) -> &'a mut Option<Duration> {
    match field {
        "fin_wait2_timeout" => &mut cfg.fin_wait2_timeout,
        "user_timeout" => &mut cfg.user_timeout,
        "delayed_ack" => &mut cfg.delayed_ack,
        "delayed_ack_max" => &mut cfg.delayed_ack_max,
        "resource_probe_interval" => &mut cfg.resource_probe_interval,
        "listener_limits.idle_timeout" => &mut cfg.listener_limits.idle_timeout,
        _ => unreachable!("optional duration field {field} not handled"),
    }
}

fn bool_field<'a>(cfg: &'a mut Config, field: &str) -> &'a mut bool {
    match field {
        "rto_min_on_variance" => &mut cfg.rto_min_on_variance,
        "thin_linear_timeouts" => &mut cfg.thin_linear_timeouts,
        "paws_active" => &mut cfg.paws_active,
        "undo_recovery" => &mut cfg.undo_recovery,
        "dsack_delivered" => &mut cfg.dsack_delivered,
        "reno_recovery_hold" => &mut cfg.reno_recovery_hold,
        "reno_sacked_out" => &mut cfg.reno_sacked_out,
        "window_scaling" => &mut cfg.window_scaling,
        "sack" => &mut cfg.sack,
        "dsack" => &mut cfg.dsack,
        "timestamps" => &mut cfg.timestamps,
        "rcvbuf_autotune" => &mut cfg.rcvbuf_autotune,
        "sndbuf_autotune" => &mut cfg.sndbuf_autotune,
        "timestamp_offsets" => &mut cfg.timestamp_offsets,
        "cwnd_limited_growth" => &mut cfg.cwnd_limited_growth,
        "zero_window_probe_data" => &mut cfg.zero_window_probe_data,
        "mss_half_window" => &mut cfg.mss_half_window,
        "purge_on_reset" => &mut cfg.purge_on_reset,
        "urgent_oob" => &mut cfg.urgent_oob,
        "synack_text" => &mut cfg.synack_text,
        "user_timeout_probes" => &mut cfg.user_timeout_probes,
        "prr" => &mut cfg.prr,
        "prr_ssrb_always" => &mut cfg.prr_ssrb_always,
        "fack" => &mut cfg.fack,
        "linux_window_update" => &mut cfg.linux_window_update,
        "rcv_memory" => &mut cfg.rcv_memory,
        "shrink_window" => &mut cfg.shrink_window,
        "paws_linux" => &mut cfg.paws_linux,
        "linux_sequence_check" => &mut cfg.linux_sequence_check,
        "quantize_syn_window" => &mut cfg.quantize_syn_window,
        "nagle" => &mut cfg.nagle,
        "tw_reuse" => &mut cfg.tw_reuse,
        "rfc1337" => &mut cfg.rfc1337,
        "md5_option_checks" => &mut cfg.md5_option_checks,
        "time_wait_syn_reuse" => &mut cfg.time_wait_syn_reuse,
        "rfc5961" => &mut cfg.rfc5961,
        "old_ack_floor_iss" => &mut cfg.old_ack_floor_iss,
        "tail_loss_probe" => &mut cfg.tail_loss_probe,
        "rack" => &mut cfg.rack,
        "frto" => &mut cfg.frto,
        "time_budget" => &mut cfg.time_budget,
        "rtt_every_ack" => &mut cfg.rtt_every_ack,
        "tso_defer" => &mut cfg.tso_defer,
        "gso_psh" => &mut cfg.gso_psh,
        "sack_dupacks_by_segments" => &mut cfg.sack_dupacks_by_segments,
        "linux_push" => &mut cfg.linux_push,
        "linux_write_space" => &mut cfg.linux_write_space,
        "ack_unsent_data_reply" => &mut cfg.ack_unsent_data_reply,
        "linux_resets" => &mut cfg.linux_resets,
        "linux_backlog" => &mut cfg.linux_backlog,
        "ooo_quickack" => &mut cfg.ooo_quickack,
        "stdurg" => &mut cfg.stdurg,
        "abort_on_overflow" => &mut cfg.abort_on_overflow,
        "record_transitions" => &mut cfg.record_transitions,
        "tx_checksum_offload" => &mut cfg.tx_checksum_offload,
        "syn_cookies" => &mut cfg.syn_cookies,
        "syn_cookies_always" => &mut cfg.syn_cookies_always,
        "ecn_fallback" => &mut cfg.ecn_fallback,
        "cong_in_segments" => &mut cfg.cong_in_segments,
        "cubic.fast_convergence" => &mut cfg.cubic.fast_convergence,
        "cubic.tcp_friendliness" => &mut cfg.cubic.tcp_friendliness,
        "cubic.hystart" => &mut cfg.cubic.hystart,
        _ => unreachable!("boolean field {field} not handled"),
    }
}

fn is_off(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "off" | "none" | "no")
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn parse_u64(v: &str) -> Option<u64> {
    v.replace('_', "").parse().ok()
}

/// A size in bytes: a number with an optional `k`/`KiB` (1024) or
/// `M`/`MiB` (1024²) suffix.
pub fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n = parse_u64(num)?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    usize::try_from(n.checked_mul(mult)?).ok()
}

/// A duration with a unit: `us`, `ms`, `s`, `m` (or `min`), `h`; a
/// fraction is allowed (`1.5s`). A bare `0` is zero.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v == "0" {
        return Some(Duration::ZERO);
    }
    let split = v.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let micros = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" | "sec" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    let us = n * micros;
    (0.0..1e15)
        .contains(&us)
        .then(|| Duration::from_micros(us.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_takes_a_value_of_its_kind() {
        let sample = |k: Kind| match k {
            Kind::Dur | Kind::OptDur => "7s",
            Kind::Bool => "off",
            Kind::Num | Kind::OptNum => "13",
            Kind::Size => "64k",
            Kind::Mem => "1M,2M,4M",
            Kind::Ports => "40000-40010",
            Kind::Iw => "rfc5681",
            Kind::Idle => "keep",
            Kind::Cc => "newreno",
            Kind::Ecn => "on",
            Kind::EarlyRexmit => "quick",
            Kind::MtuProbe => "always",
            Kind::Pacing => "fq",
        };
        for &(name, kind) in FIELDS {
            let mut c = Config::linux();
            set(&mut c, name, sample(kind)).unwrap_or_else(|e| panic!("{name}: {e}"));
            if kind == Kind::Bool && c == Config::linux() {
                // Off already: on must change it.
                set(&mut c, name, "on").unwrap();
            }
            assert_ne!(c, Config::linux(), "{name} changed nothing");
        }
    }

    /// The top-level field names of a `Debug` struct print, such as
    /// `Config { time_wait: 60s, listener_limits: ListenerLimits { .. } }`.
    fn debug_fields(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut depth = 0;
        let mut word = String::new();
        for ch in text.chars() {
            match ch {
                '{' | '(' | '[' => {
                    depth += 1;
                    word.clear();
                }
                '}' | ')' | ']' => depth -= 1,
                ':' if depth == 1 && !word.is_empty() => {
                    out.push(std::mem::take(&mut word));
                }
                ',' if depth == 1 => word.clear(),
                c if depth == 1 && (c.is_alphanumeric() || c == '_') => word.push(c),
                ' ' => {}
                _ if depth == 1 => word.clear(),
                _ => {}
            }
        }
        out
    }

    /// A field added to `Config` without a knob fails here, so `--set` keeps
    /// taking every field.
    #[test]
    fn every_config_field_has_a_knob() {
        let names = debug_fields(&format!("{:?}", Config::linux()));
        assert!(names.len() > 60, "{names:?}");
        for name in names {
            let known = FIELDS
                .iter()
                .any(|(n, _)| *n == name || n.starts_with(&format!("{name}.")));
            assert!(known, "Config::{name} cannot be set with --set");
        }
    }

    #[test]
    fn values_are_read_as_written() {
        let mut c = Config::linux();
        set(&mut c, "time_wait", "30s").unwrap();
        set(&mut c, "delayed_ack", "off").unwrap();
        set(&mut c, "listener_limits.idle_timeout", "10s").unwrap();
        set(&mut c, "initial_window", "4").unwrap();
        assert_eq!(c.time_wait, Duration::from_secs(30));
        assert_eq!(c.delayed_ack, None);
        assert_eq!(
            c.listener_limits.idle_timeout,
            Some(Duration::from_secs(10))
        );
        assert_eq!(c.initial_window, InitialWindow::Segments(4));
        set(&mut c, "delayed_ack", "1.5ms").unwrap();
        assert_eq!(c.delayed_ack, Some(Duration::from_micros(1500)));
    }

    #[test]
    fn errors_name_the_field_and_the_accepted_values() {
        let mut c = Config::linux();
        let e = set(&mut c, "time_wiat", "1s").unwrap_err();
        assert!(
            e.message.contains("unknown config field 'time_wiat'"),
            "{e}"
        );
        assert!(e.message.contains("time_wait"), "{e}");
        let e = set(&mut c, "congestion", "bbr").unwrap_err();
        assert!(e.message.contains("'congestion'") && e.message.contains("cubic or newreno"));
        let e = set(&mut c, "ttl", "300").unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        assert!(
            set(&mut c, "time_wait", "30").is_err(),
            "a duration needs a unit"
        );
    }
}
