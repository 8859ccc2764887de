//! The engine configuration a script asks for.
//!
//! Linux behaviour lives in [`Config::linux()`]; this module only chooses the
//! kernel the script was written for and maps the script's sysctl commands
//! onto `Config` fields. A command or sysctl it cannot map is returned as
//! unsupported, never ignored, unless it is listed here as not affecting
//! anything finack does (with the reason).

use super::*;

/// `tcp_rmem` maximum of the Linux 3.11 machines the `linux-3.11/` scripts were
/// recorded on. Linux 3.11 set it to a 128th of free memory (at most 6 MiB);
/// their SYN,ACKs announce window scale 6, which Linux picks for a maximum
/// between 2 and 4 MiB (`tcp_select_initial_window`). 2 MiB stands for that.
pub const LINUX_3_11_TCP_RMEM_MAX: usize = 2 * 1024 * 1024;

/// Sysctls of `defaults.sh` (and `set_sysctls.py` lines) that change nothing
/// finack does at the value given (`None`: at any value), with the reason.
/// Everything else must map to a field or is reported unchecked.
const NO_EFFECT: &[(&str, Option<&str>, &str)] = &[
    (
        "tcp_frto",
        None,
        "finack has no F-RTO; spurious-RTO undo is not modelled either way",
    ),
    (
        "tcp_dsack",
        Some("1"),
        "at 1 (the default) finack already uses the D-SACKs it receives (RACK reordering window, undo); it does not send them, and scripts expecting D-SACKs fail on it",
    ),
    (
        "tcp_tso_win_divisor",
        None,
        "no TSO deferral in finack (it sends what the window allows at once)",
    ),
    (
        "tcp_ecn_option",
        None,
        "the AccECN option, used only with tcp_ecn 3 and above (AccECN, not implemented)",
    ),
    (
        "tcp_pacing_ss_ratio",
        Some("200"),
        "the default, the ratio finack paces at under fq (Config::pacing)",
    ),
    (
        "tcp_pacing_ca_ratio",
        Some("120"),
        "the default, the ratio finack paces at under fq (Config::pacing)",
    ),
    (
        "tcp_fastopen",
        None,
        "Fast Open is not implemented; scripts using it fail on its options",
    ),
    ("tcp_fastopen_key", None, "Fast Open is not implemented"),
    (
        "tcp_fastopen_blackhole_timeout_sec",
        None,
        "Fast Open is not implemented",
    ),
    (
        "tcp_ecn_option_beacon",
        None,
        "the AccECN option, used only with tcp_ecn 3 and above (AccECN, not implemented)",
    ),
    (
        "tcp_adv_win_scale",
        None,
        "read by no code since Linux 6.6: the window follows the measured payload share of memory (scaling_ratio)",
    ),
    (
        "tcp_retries1",
        Some("3"),
        "the default, after which finack suspects a path MTU black hole (tcb/mtu.rs RETRIES1); Linux also asks the route for a new path, and finack has one",
    ),
    (
        "tcp_workaround_signed_windows",
        Some("0"),
        "the default: a peer without window scaling may be offered up to 65535 (32767 with the workaround, not modelled)",
    ),
    (
        "tcp_app_win",
        Some("31"),
        "the default, which finack's window clamp assumes (rmem APP_WIN)",
    ),
    (
        "tcp_min_snd_mss",
        Some("48"),
        "the default, finack's smallest segment size (tcb/mtu.rs MIN_SND_MSS)",
    ),
    (
        "tcp_mtu_probe_floor",
        Some("48"),
        "the default, equal to the smallest segment size finack probes down to",
    ),
    (
        "tcp_max_reordering",
        Some("300"),
        "the default, finack's bound on the reordering degree (tcb/loss.rs MAX_REORDERING)",
    ),
    (
        "tcp_retrans_collapse",
        Some("1"),
        "the default: finack joins short segments when it resends (tcp_retrans_try_collapse())",
    ),
    (
        "tcp_min_rtt_wlen",
        Some("300"),
        "the default: finack keeps the connection's smallest RTT, the same as a 300 s window within one script",
    ),
    (
        "tcp_challenge_ack_limit",
        Some("2147483647"),
        "the default: no host-wide limit on challenge ACKs, only tcp_invalid_ratelimit per connection",
    ),
    (
        "tcp_reflect_tos",
        Some("0"),
        "the default: a SYN,ACK carries the listener's TOS, not the SYN's",
    ),
    (
        "tcp_no_metrics_save",
        Some("1"),
        "nothing is saved per destination, and finack keeps no metrics",
    ),
    (
        "tcp_no_ssthresh_metrics_save",
        Some("1"),
        "the default: no ssthresh is saved per destination, and finack keeps no metrics",
    ),
    (
        "tcp_plb_enabled",
        Some("0"),
        "the default: no protective load balancing (it needs ECN marks and DCTCP)",
    ),
    ("tcp_plb_idle_rehash_rounds", None, "acts only with tcp_plb_enabled"),
    ("tcp_plb_rehash_rounds", None, "acts only with tcp_plb_enabled"),
    ("tcp_plb_suspend_rto_sec", None, "acts only with tcp_plb_enabled"),
    ("tcp_plb_cong_thresh", None, "acts only with tcp_plb_enabled"),
    (
        "tcp_autocorking",
        None,
        "autocorking holds a small write back only while an earlier packet of the socket is still in the device queue; the tun device releases each at once (tun_net_xmit())",
    ),
    (
        "tcp_limit_output_bytes",
        None,
        "TCP small queues count packets in the device queue, which the tun device releases at once",
    ),
    (
        "tcp_backlog_ack_defer",
        None,
        "defers ACKs owed while the application holds the socket lock, which a single-threaded engine never does",
    ),
    ("tcp_early_demux", None, "a receive-path shortcut that changes no packet"),
    ("tcp_l3mdev_accept", None, "VRF devices: the script's tun device is in none"),
    ("tcp_fwmark_accept", None, "firewall marks for routing replies: finack has one route"),
    ("tcp_low_latency", None, "ignored by Linux since 4.14"),
    ("tcp_migrate_req", None, "moves requests between SO_REUSEPORT listeners, which finack does not have"),
    ("tcp_child_ehash_entries", None, "sizes the hash table of namespaces created later"),
    ("tcp_allowed_congestion_control", None, "limits TCP_CONGESTION for unprivileged users; scripts run as root"),
    (
        "net.core.default_qdisc",
        None,
        "applies to devices created later; the script's tun device has its qdisc",
    ),
    (
        "net.core.rmem_default",
        None,
        "TCP sockets start from tcp_rmem, not from this",
    ),
    (
        "net.core.wmem_default",
        None,
        "TCP sockets start from tcp_wmem, not from this",
    ),
];

/// The base configuration: `Config::linux()`, except that scripts which do
/// not load `defaults.sh` (the `linux-3.11/` ones) get that kernel's
/// profile, `Config::linux_3_11()`.
fn base_config(script: &Script) -> Config {
    if written_for_linux_3_11(script) {
        let cfg = Config::linux_3_11();
        debug_assert_eq!(
            cfg.window_scale,
            Config::window_scale_for(LINUX_3_11_TCP_RMEM_MAX)
        );
        cfg
    } else {
        Config::linux()
    }
}

/// True for scripts written for the Linux 3.11 machines of the `linux-3.11/`
/// folder: those that do not load `defaults.sh`.
pub(super) fn written_for_linux_3_11(script: &Script) -> bool {
    !script
        .init_command
        .as_ref()
        .is_some_and(|c| c.lines().any(|l| l.ends_with("defaults.sh")))
}

/// Applies one sysctl (`name` as in /proc/sys/net/ipv4) to `cfg`; `Err` says
/// why it cannot be mapped.
/// `linux_3_11`: the script was written for Linux 3.11 rather than a
/// current kernel.
pub fn apply_sysctl_for(
    cfg: &mut Config,
    name: &str,
    value: &str,
    linux_3_11: bool,
) -> Result<(), String> {
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{name}: bad value '{v}'"))
    };
    let triple = |v: &str| -> Result<[u64; 3], String> {
        let parts: Vec<u64> = v
            .split_whitespace()
            .map(|p| p.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{name}: bad value '{v}'"))?;
        <[u64; 3]>::try_from(parts).map_err(|_| format!("{name}: expected three numbers"))
    };
    // proc_dointvec / proc_dou8vec_minmax: a signed int, an unsigned byte.
    let int_value = |v: &str| {
        v.trim()
            .parse::<i32>()
            .map_err(|_| format!("{name}: bad value '{v}'"))
    };
    let u8_value = |v: &str| {
        v.trim()
            .parse::<u8>()
            .map_err(|_| format!("{name}: bad value '{v}' (0 to 255)"))
    };
    match name {
        "tcp_timestamps" => cfg.timestamps = num(value)? != 0,
        "tcp_sack" => cfg.sack = num(value)? != 0,
        "tcp_window_scaling" => cfg.window_scaling = num(value)? != 0,
        "tcp_syn_retries" => cfg.syn_retries = num(value)? as u32,
        "tcp_syn_linear_timeouts" => cfg.syn_linear_timeouts = num(value)? as u32,
        "tcp_thin_linear_timeouts" => cfg.thin_linear_timeouts = num(value)? != 0,
        "tcp_synack_retries" => cfg.synack_retries = num(value)? as u32,
        "tcp_retries2" => cfg.retries2 = num(value)? as u32,
        "tcp_keepalive_time" => cfg.keepalive_time = core::time::Duration::from_secs(num(value)?),
        "tcp_keepalive_intvl" => {
            cfg.keepalive_interval = core::time::Duration::from_secs(num(value)?)
        }
        "tcp_keepalive_probes" => cfg.keepalive_probes = num(value)? as u32,
        "tcp_purge_receive_queue" => cfg.purge_on_reset = num(value)? != 0,
        // Linux tcp_timer.c: tcp_orphan_retries(): 0 means 8 while the RTO
        // is below its maximum (Config::orphan_retries).
        "tcp_orphan_retries" => {
            cfg.orphan_retries = match u8_value(value)? {
                0 => 8,
                v => u32::from(v),
            }
        }
        "tcp_max_orphans" => cfg.max_orphans = int_value(value)?.max(0) as usize,
        // TIME-WAIT buckets, FIN-WAIT-2 orphans included (tcp_time_wait()).
        "tcp_max_tw_buckets" => cfg.max_time_wait = int_value(value)?.max(0) as usize,
        // 1: connect() may take a TIME-WAIT 4-tuple over; 2 (the default):
        // only on loopback, which the script's tun device never is.
        "tcp_tw_reuse" => {
            cfg.tw_reuse = match u8_value(value)? {
                v @ 0..=2 => v == 1,
                v => return Err(format!("{name}={v}: expected 0, 1 or 2")),
            }
        }
        "tcp_tw_reuse_delay" => {
            let ms = num(value)?;
            if !(1..=600_000).contains(&ms) {
                return Err(format!("{name}={ms}: expected 1 to 600000 (ms)"));
            }
            cfg.tw_reuse_delay = core::time::Duration::from_millis(ms);
        }
        // The port range connect() picks from (inet_hash_connect());
        // ipv4_local_port_range() refuses a range that runs backwards or
        // starts below the privileged ports (1024).
        "ip_local_port_range" => {
            let parts: Vec<u16> = value
                .split_whitespace()
                .map(|p| p.parse::<u16>())
                .collect::<Result<_, _>>()
                .map_err(|_| format!("{name}: bad value '{value}'"))?;
            match parts[..] {
                [lo, hi] if lo >= 1024 && lo <= hi => cfg.ephemeral_ports = (lo, hi),
                _ => {
                    return Err(format!(
                        "{name}={value}: expected LOW HIGH, 1024 <= LOW <= HIGH"
                    ))
                }
            }
        }
        // Config::rto_min / rto_max (tcp_rto_min(), tcp_rto_max()).
        "tcp_rto_min_us" => {
            let us = int_value(value)?;
            if us < 1 {
                return Err(format!("{name}={us}: expected at least 1"));
            }
            cfg.rto_min = core::time::Duration::from_micros(us as u64);
        }
        "tcp_rto_max_ms" => {
            let ms = int_value(value)?;
            if !(1000..=120_000).contains(&ms) {
                return Err(format!("{name}={ms}: expected 1000 to 120000 (ms)"));
            }
            cfg.rto_max = core::time::Duration::from_millis(ms as u64);
        }
        "tcp_pingpong_thresh" => {
            cfg.pingpong_thresh = match u8_value(value)? {
                0 => return Err(format!("{name}=0: expected 1 to 255")),
                v => v,
            }
        }
        "tcp_max_syn_backlog" => cfg.max_syn_backlog = int_value(value)?.max(0) as usize,
        // Config::abort_on_overflow (tcp_check_req()).
        "tcp_abort_on_overflow" => cfg.abort_on_overflow = u8_value(value)? != 0,
        // Config::stdurg (tcp_check_urg()).
        "tcp_stdurg" => cfg.stdurg = u8_value(value)? != 0,
        // SACK compression (Config::comp_sack_nr, __tcp_ack_snd_check()).
        "tcp_comp_sack_nr" => cfg.comp_sack_nr = u8_value(value)?,
        "tcp_comp_sack_delay_ns" => {
            cfg.comp_sack_delay = core::time::Duration::from_nanos(num(value)?)
        }
        "tcp_comp_sack_slack_ns" => {
            cfg.comp_sack_slack = core::time::Duration::from_nanos(num(value)?)
        }
        // net.core: what SO_RCVBUF and SO_SNDBUF may ask for.
        "net.core.rmem_max" => cfg.rmem_max = int_value(value)?.max(0) as usize,
        "net.core.wmem_max" => cfg.wmem_max = int_value(value)?.max(0) as usize,
        // net.core: the backlog listen() may ask for (__sys_listen()).
        "net.core.somaxconn" => cfg.max_backlog = int_value(value)?.max(0) as usize,
        "tcp_reordering" => cfg.dupthresh = num(value)? as u32,
        "tcp_fin_timeout" => {
            cfg.fin_wait2_timeout = Some(core::time::Duration::from_secs(num(value)?))
        }
        "tcp_min_tso_segs" => cfg.gso_segs_min = Some(num(value)?.max(1) as u32),
        // Linux tcp_cwnd_restart() after idle, or keep the window.
        "tcp_slow_start_after_idle" => {
            cfg.idle_restart = if num(value)? != 0 {
                IdleRestart::Linux
            } else {
                IdleRestart::Keep
            }
        }
        // 0: never; 1: when the SYN queue overflows (Config::syn_cookies);
        // 2: for every SYN (Config::syn_cookies_always).
        "tcp_syncookies" => match num(value)? {
            0 => cfg.syn_cookies = false,
            1 => (cfg.syn_cookies, cfg.syn_cookies_always) = (true, false),
            2 => (cfg.syn_cookies, cfg.syn_cookies_always) = (true, true),
            v => return Err(format!("tcp_syncookies={v}: expected 0, 1 or 2")),
        },
        // min, default, max: the window scale follows the maximum (Linux
        // tcp_select_initial_window); the default is where buffers start.
        "tcp_rmem" => {
            let [_, default, max] = triple(value)?;
            cfg.window_scale = Config::window_scale_for(max as usize);
            cfg.recv_buffer = default.min(max) as usize;
            cfg.recv_buffer_max = max as usize;
        }
        // Receive-buffer autotuning (Config::rcvbuf_autotune).
        "tcp_moderate_rcvbuf" => cfg.rcvbuf_autotune = num(value)? != 0,
        // Config::shrink_window.
        "tcp_shrink_window" => cfg.shrink_window = num(value)? != 0,
        "tcp_notsent_lowat" => {
            cfg.notsent_lowat =
                u32::try_from(num(value)?).map_err(|_| format!("{name}: bad value '{value}'"))?
        }
        "tcp_wmem" => {
            let [_, default, max] = triple(value)?;
            cfg.send_buffer = default as usize;
            cfg.send_buffer_max = max as usize;
        }
        "tcp_congestion_control" => match value.trim() {
            "cubic" => cfg.congestion = CongestionAlgorithm::Cubic,
            "reno" => cfg.congestion = CongestionAlgorithm::NewReno,
            other => return Err(format!("tcp_congestion_control={other} is not implemented")),
        },
        // 0 off, 1 ask and accept, 2 accept only (Config::ecn); 3 and above
        // negotiate Accurate ECN, which finack does not implement.
        "tcp_ecn" => {
            let v = num(value)?;
            cfg.ecn = EcnMode::from_sysctl(v)
                .ok_or_else(|| format!("tcp_ecn={v}: Accurate ECN (AccECN) is not implemented"))?;
        }
        "tcp_ecn_fallback" => cfg.ecn_fallback = num(value)? != 0,
        // RFC 4821 probing (Linux tcp_output.c: tcp_mtu_probe(),
        // tcp_mtup_init(); tcp_timer.c: tcp_mtu_probing()).
        "tcp_mtu_probing" => {
            cfg.mtu_probing = match num(value)? {
                0 => MtuProbing::Off,
                1 => MtuProbing::AfterBlackHole,
                2 => MtuProbing::Always,
                v => return Err(format!("tcp_mtu_probing={v}: expected 0, 1 or 2")),
            }
        }
        "tcp_base_mss" => {
            cfg.base_mss =
                u16::try_from(num(value)?).map_err(|_| format!("{name}: bad value '{value}'"))?
        }
        "tcp_probe_threshold" => {
            cfg.probe_threshold =
                u16::try_from(num(value)?).map_err(|_| format!("{name}: bad value '{value}'"))?
        }
        "tcp_probe_interval" => cfg.probe_interval = core::time::Duration::from_secs(num(value)?),
        // Linux tcp_minisocks.c tcp_timewait_state_process(): 1 keeps a
        // TIME-WAIT entry alive through an in-window RST (RFC 1337).
        "tcp_rfc1337" => cfg.rfc1337 = num(value)? != 0,
        // Milliseconds between two replies to invalid segments on one
        // connection (Linux tcp_input.c: __tcp_oow_rate_limited();
        // Config::challenge_ack_interval).
        "tcp_invalid_ratelimit" => {
            cfg.challenge_ack_interval = core::time::Duration::from_millis(num(value)?)
        }
        // Bit 0: RACK loss detection (Config::rack). Bits 1 (a static
        // reordering window) and 2 (no duplicate-ACK threshold) have no field.
        "tcp_recovery" => match num(value)? {
            v @ (0 | 1) => cfg.rack = v == 1,
            v => return Err(format!("tcp_recovery={v}: only bit 0 (RACK) is modelled")),
        },
        // Linux 3.10 to 4.10 (tcp_input.c: tcp_enable_early_retrans(),
        // tcp_pause_early_retransmit(); tcp_output.c:
        // tcp_schedule_loss_probe()): 1 quick RFC 5827 early retransmit, 2
        // delayed, 3 delayed with the tail loss probe, 4 the probe alone, 0
        // neither. Since 4.11 early retransmit is gone (RACK does its work):
        // 3 and 4 turn the probe on, anything else off.
        // FACK (Config::fack); since 4.15 gone (RACK does its work), so
        // on a current kernel only 0, defaults.sh's value, means anything.
        "tcp_fack" => {
            let v = num(value)?;
            if linux_3_11 {
                cfg.fack = v != 0;
            } else if v != 0 {
                return Err(format!(
                    "sysctl tcp_fack={v}: FACK was removed in Linux 4.15"
                ));
            }
        }
        "tcp_early_retrans" => {
            let v = num(value)?;
            cfg.tail_loss_probe = matches!(v, 3 | 4);
            if linux_3_11 {
                cfg.early_retransmit = match v {
                    1 => EarlyRetransmit::Quick,
                    2 | 3 => EarlyRetransmit::Delayed,
                    _ => EarlyRetransmit::Off,
                };
            }
        }
        _ => {
            let quiet = NO_EFFECT
                .iter()
                .any(|(n, v, _)| *n == name && v.is_none_or(|v| v == value.trim()));
            if quiet {
                return Ok(());
            }
            return Err(format!("sysctl {name}={value} has no Config field"));
        }
    }
    Ok(())
}

/// The sysctls of packetdrill's `gtests/net/common/defaults.sh`, in its order.
pub const DEFAULTS_SH: &[(&str, &str)] = &[
    ("tcp_rmem", "4096 540000 15728640"),
    ("tcp_wmem", "4096 262144 4194304"),
    ("tcp_timestamps", "1"),
    ("tcp_syn_retries", "5"),
    ("tcp_synack_retries", "5"),
    ("tcp_frto", "2"),
    ("tcp_sack", "1"),
    ("tcp_dsack", "1"),
    ("tcp_fack", "0"),
    ("tcp_reordering", "3"),
    ("tcp_congestion_control", "cubic"),
    ("tcp_slow_start_after_idle", "0"),
    ("tcp_early_retrans", "4"),
    ("tcp_recovery", "1"),
    ("tcp_tso_win_divisor", "3"),
    ("tcp_ecn", "0"),
    ("tcp_ecn_option", "2"),
    ("tcp_pacing_ss_ratio", "200"),
    ("tcp_pacing_ca_ratio", "120"),
    ("tcp_notsent_lowat", "4294967295"),
    ("tcp_fastopen", "0x70403"),
    ("tcp_fastopen_key", "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"),
    ("tcp_syncookies", "1"),
];

/// Builds the engine configuration a script asks for: the base configuration
/// (see `LINUX_3_11_TCP_RMEM_MAX`) plus what the init command's lines set
/// (packetdrill's `defaults.sh`, `sysctl` and `set_sysctls.py`, `ip route`,
/// see `super::shell`). Lines it cannot honour are returned.
pub fn config_for(script: &Script) -> (Config, Vec<String>) {
    config_for_mode(script, IpMode::Ipv4, None, None)
}

/// [`config_for`] for a run in `mode`, with the script side at `remote`.
pub(super) fn config_for_mode(
    script: &Script,
    mode: IpMode,
    remote: Option<IpAddr>,
    mtu: Option<u16>,
) -> (Config, Vec<String>) {
    let mut cfg = base_config(script);
    // --mtu is the tun device's MTU as packetdrill makes it, before the
    // init command runs (whose `ip link set ... mtu` or route MTU wins).
    if let Some(mtu) = mtu {
        cfg.mtu = mtu;
    }
    let mut unsupported = Vec::new();
    let Some(init) = &script.init_command else {
        return (cfg, unsupported);
    };
    let ctx = shell::Ctx {
        mode,
        remote,
        live: false,
        linux_3_11: written_for_linux_3_11(script),
    };
    for cmd in shell::commands(&init.text) {
        if let shell::Outcome::Unchecked(why) = shell::config_command(&mut cfg, &cmd, &ctx) {
            unsupported.push(format!("init: {why}"));
        }
    }
    (cfg, unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_ecn_maps_to_the_ecn_mode() {
        let mut cfg = Config::linux();
        assert_eq!(cfg.ecn, EcnMode::Passive, "Linux's default is 2");
        for (v, mode) in [
            ("0", EcnMode::Off),
            ("1", EcnMode::On),
            ("2", EcnMode::Passive),
        ] {
            apply_sysctl_for(&mut cfg, "tcp_ecn", v, false).unwrap();
            assert_eq!(cfg.ecn, mode, "tcp_ecn={v}");
        }
        // Accurate ECN is reported, not ignored.
        for v in ["3", "4", "5"] {
            let e = apply_sysctl_for(&mut cfg, "tcp_ecn", v, false).unwrap_err();
            assert!(e.contains("AccECN"), "{e}");
        }
        apply_sysctl_for(&mut cfg, "tcp_ecn_fallback", "0", false).unwrap();
        assert!(!cfg.ecn_fallback);
        apply_sysctl_for(&mut cfg, "tcp_ecn_fallback", "1", false).unwrap();
        assert!(cfg.ecn_fallback);
        // defaults.sh turns ECN off.
        let mut d = Config::linux();
        for (n, v) in DEFAULTS_SH {
            apply_sysctl_for(&mut d, n, v, false).unwrap();
        }
        assert_eq!(d.ecn, EcnMode::Off);
    }

    #[test]
    fn tcp_early_retrans_per_kernel() {
        // Linux 3.11: 1 quick, 2 delayed, 3 delayed with TLP, 4 TLP alone.
        for (v, er, tlp) in [
            ("0", EarlyRetransmit::Off, false),
            ("1", EarlyRetransmit::Quick, false),
            ("2", EarlyRetransmit::Delayed, false),
            ("3", EarlyRetransmit::Delayed, true),
            ("4", EarlyRetransmit::Off, true),
        ] {
            let mut cfg = Config::linux_3_11();
            apply_sysctl_for(&mut cfg, "tcp_early_retrans", v, true).unwrap();
            assert_eq!(
                (cfg.early_retransmit, cfg.tail_loss_probe),
                (er, tlp),
                "{v}"
            );
        }
        // A current kernel has no early retransmit: only 3 and 4 keep TLP.
        for (v, tlp) in [
            ("0", false),
            ("1", false),
            ("2", false),
            ("3", true),
            ("4", true),
        ] {
            let mut cfg = Config::linux();
            apply_sysctl_for(&mut cfg, "tcp_early_retrans", v, false).unwrap();
            assert_eq!(
                (cfg.early_retransmit, cfg.tail_loss_probe),
                (EarlyRetransmit::Off, tlp)
            );
        }
    }
}
