//! The engine configuration a script asks for.

use super::*;

/// Builds the engine configuration a script asks for: `Config::linux()` plus the
/// sysctls of packetdrill's `defaults.sh` and any `set_sysctls.py` lines in the
/// init command. Lines it cannot map are returned.
pub fn config_for(script: &Script) -> (Config, Vec<String>) {
    let mut cfg = Config::linux();
    let mut unsupported = Vec::new();
    let Some(init) = &script.init_command else {
        return (cfg, unsupported);
    };
    for line in init.lines() {
        if line.ends_with("defaults.sh") {
            // tcp_rmem = "4096 540000 15728640": Linux picks the smallest shift that
            // lets the 15 MiB maximum fit in a 16-bit window: 8.
            cfg.window_scale = 8;
            cfg.timestamps = true;
            cfg.sack = true;
            cfg.syn_retries = 5;
            cfg.synack_retries = 5;
            cfg.dupthresh = 3;
            cfg.send_buffer = 256 * 1024;
            continue;
        }
        if line.contains("set_sysctls.py") {
            for arg in line.split_whitespace().skip(1) {
                let Some((key, value)) = arg.split_once('=') else {
                    unsupported.push(format!("init: cannot read sysctl '{arg}'"));
                    continue;
                };
                let name = key.rsplit('/').next().unwrap_or(key);
                let num: Option<u32> = value.parse().ok();
                match (name, num) {
                    ("tcp_timestamps", Some(v)) => cfg.timestamps = v != 0,
                    ("tcp_sack", Some(v)) => cfg.sack = v != 0,
                    ("tcp_window_scaling", Some(v)) => cfg.window_scaling = v != 0,
                    ("tcp_syn_retries", Some(v)) => cfg.syn_retries = v,
                    ("tcp_synack_retries", Some(v)) => cfg.synack_retries = v,
                    ("tcp_reordering", Some(v)) => cfg.dupthresh = v,
                    _ => {
                        unsupported.push(format!("init: sysctl {name}={value} has no Config field"))
                    }
                }
            }
            continue;
        }
        unsupported.push(format!("init: command not supported: {line}"));
    }
    (cfg, unsupported)
}
