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
/// finack does, with the reason. Everything else must map to a field.
const NO_EFFECT: &[(&str, &str)] = &[
    (
        "tcp_frto",
        "finack has no F-RTO; spurious-RTO undo is not modelled either way",
    ),
    (
        "tcp_dsack",
        "finack neither sends nor uses D-SACK in either setting",
    ),
    (
        "tcp_fack",
        "FACK is off (0) in defaults.sh, which is finack's behaviour",
    ),
    (
        "tcp_congestion_control",
        "cubic, already Config::linux()'s algorithm",
    ),
    (
        "tcp_slow_start_after_idle",
        "0: finack never restarts slow start after idle",
    ),
    (
        "tcp_early_retrans",
        "TLP is Config::tail_loss_probe, already on in Config::linux()",
    ),
    (
        "tcp_recovery",
        "RACK: finack's loss detection is dupthresh + SACK + TLP",
    ),
    ("tcp_tso_win_divisor", "no TSO deferral in finack"),
    ("tcp_ecn", "0: no ECN, as finack"),
    ("tcp_ecn_option", "AccECN option: finack sends no ECN"),
    ("tcp_pacing_ss_ratio", "finack does not pace"),
    ("tcp_pacing_ca_ratio", "finack does not pace"),
    ("tcp_notsent_lowat", "4294967295: no limit, as finack"),
    (
        "tcp_fastopen",
        "Fast Open is not implemented; scripts using it fail on its options",
    ),
    ("tcp_fastopen_key", "Fast Open is not implemented"),
];

/// The base configuration: `Config::linux()`, except that scripts which do
/// not load `defaults.sh` (the `linux-3.11/` ones) model that kernel's
/// receive buffer and so its window scale.
fn base_config(script: &Script) -> Config {
    let mut cfg = Config::linux();
    let loads_defaults = script
        .init_command
        .as_ref()
        .is_some_and(|c| c.lines().any(|l| l.ends_with("defaults.sh")));
    if !loads_defaults {
        cfg.window_scale = Config::window_scale_for(LINUX_3_11_TCP_RMEM_MAX);
    }
    cfg
}

/// Applies one sysctl (`name` as in /proc/sys/net/ipv4) to `cfg`; `Err` says
/// why it cannot be mapped.
pub fn apply_sysctl(cfg: &mut Config, name: &str, value: &str) -> Result<(), String> {
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
    match name {
        "tcp_timestamps" => cfg.timestamps = num(value)? != 0,
        "tcp_sack" => cfg.sack = num(value)? != 0,
        "tcp_window_scaling" => cfg.window_scaling = num(value)? != 0,
        "tcp_syn_retries" => cfg.syn_retries = num(value)? as u32,
        "tcp_synack_retries" => cfg.synack_retries = num(value)? as u32,
        "tcp_reordering" => cfg.dupthresh = num(value)? as u32,
        "tcp_fin_timeout" => {
            cfg.fin_wait2_timeout = Some(core::time::Duration::from_secs(num(value)?))
        }
        "tcp_min_tso_segs" => cfg.gso_segs_min = Some(num(value)?.max(1) as u32),
        // 0: never; 1: when the SYN queue overflows (Config::syn_cookies);
        // 2 (always) has no counterpart.
        "tcp_syncookies" => match num(value)? {
            0 => cfg.syn_cookies = false,
            1 => cfg.syn_cookies = true,
            v => {
                return Err(format!(
                    "tcp_syncookies={v} (cookies always) is not supported"
                ))
            }
        },
        // min, default, max: the window scale follows the maximum (Linux
        // tcp_select_initial_window); the default is where buffers start.
        "tcp_rmem" => {
            let [_, default, max] = triple(value)?;
            cfg.window_scale = Config::window_scale_for(max as usize);
            cfg.recv_buffer = default.min(max) as usize;
        }
        "tcp_wmem" => {
            let [_, default, _] = triple(value)?;
            cfg.send_buffer = default as usize;
        }
        _ => {
            if let Some((_, why)) = NO_EFFECT.iter().find(|(n, _)| *n == name) {
                let _ = why;
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
/// (see [`LINUX_3_11_TCP_RMEM_MAX`]) plus the sysctls of packetdrill's
/// `defaults.sh` and any `set_sysctls.py` lines in the init command. Lines it
/// cannot map are returned.
pub fn config_for(script: &Script) -> (Config, Vec<String>) {
    let mut cfg = base_config(script);
    let mut unsupported = Vec::new();
    let Some(init) = &script.init_command else {
        return (cfg, unsupported);
    };
    for line in init.lines() {
        if line.ends_with("defaults.sh") {
            for (name, value) in DEFAULTS_SH {
                if let Err(e) = apply_sysctl(&mut cfg, name, value) {
                    unsupported.push(format!("init: defaults.sh: {e}"));
                }
            }
            // defaults.sh also flushes cached TCP metrics and installs a pfifo
            // qdisc on the tun device: finack keeps no metrics and has no qdisc.
            continue;
        }
        if line.contains("set_sysctls.py") {
            for arg in line.split_whitespace().skip(1) {
                let Some((key, value)) = arg.split_once('=') else {
                    unsupported.push(format!("init: cannot read sysctl '{arg}'"));
                    continue;
                };
                let name = key.rsplit('/').next().unwrap_or(key);
                if let Err(e) = apply_sysctl(&mut cfg, name, value) {
                    unsupported.push(format!("init: {e}"));
                }
            }
            continue;
        }
        if is_offload_off(line) {
            // `ethtool -K tun0 tso off gso off`: finack never builds TSO/GSO
            // super-packets for the device; it emits one segment per packet
            // already, which is what turning the offloads off asks for.
            continue;
        }
        unsupported.push(format!("init: command not supported: {line}"));
    }
    (cfg, unsupported)
}

/// `ethtool -K <dev> tso off gso off` (in any order, nothing else).
fn is_offload_off(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() < 5 || words[0] != "ethtool" || words[1] != "-K" {
        return false;
    }
    words[3..]
        .chunks(2)
        .all(|p| p.len() == 2 && matches!(p[0], "tso" | "gso") && p[1] == "off")
}
