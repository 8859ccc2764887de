//! `grep PATTERN /proc/net/tcp /proc/net/tcp6 [| grep ...]` (and `cat` of
//! those files), answered from the run's sockets: the lines Linux's
//! `tcp4_seq_show()` / `tcp6_seq_show()` print for them, each `grep` stage
//! applied in turn. The command succeeds when the last stage prints a line.
//!
//! Linux net/ipv4/tcp_ipv4.c: get_tcp4_sock(): the slot number, the local
//! and remote address as the raw 32-bit words in hex (in the host's byte
//! order, so 192.168.0.1 prints as 0100A8C0) with the port in hex, the
//! state as a two-digit hex number (TCP_LISTEN 0A), then
//! `tx_queue:rx_queue` (a listener's rx_queue is its accept queue). IPv4
//! sockets are in /proc/net/tcp, AF_INET6 ones (the ipv6 and
//! ipv4-mapped-ipv6 modes) in /proc/net/tcp6. The timer, uid, inode and
//! later columns are printed as zeros: no pattern in the scripts reads them.

use std::net::{IpAddr, Ipv6Addr};

use super::shell::shell_words;
use super::ss::{grep_match, grep_stages};
use super::*;

const TCP4: &str = "/proc/net/tcp";
const TCP6: &str = "/proc/net/tcp6";

/// The words of an address as `%08X` prints each 32-bit word read in the
/// host's (little-endian) order.
fn hex_words(bytes: &[u8]) -> String {
    bytes
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

/// An address and port as /proc/net/tcp{,6} shows them.
fn hex_addr(ip: IpAddr, port: u16, v6_file: bool) -> String {
    let bytes: Vec<u8> = match (ip, v6_file) {
        (IpAddr::V4(a), false) => a.octets().to_vec(),
        (IpAddr::V4(a), true) => a.to_ipv6_mapped().octets().to_vec(),
        (IpAddr::V6(a), _) => a.octets().to_vec(),
    };
    format!("{}:{port:04X}", hex_words(&bytes))
}

impl Runner {
    /// The lines of one file (without its header line).
    fn proc_net_lines(&self, v6_file: bool) -> Vec<String> {
        let v6_sockets = self.mode != IpMode::Ipv4;
        if v6_sockets != v6_file {
            return Vec::new();
        }
        let unspecified = if v6_file {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        self.socket_rows()
            .into_iter()
            .enumerate()
            .map(|(i, (state, local, remote, rq, sq))| {
                let (rip, rport) = remote.map_or((unspecified, 0), |r| (r.ip(), r.port()));
                format!(
                    "{i:4}: {} {} {:02X} {sq:08X}:{rq:08X} 00:00000000 00000000     0        0 0",
                    hex_addr(local.ip(), local.port(), v6_file),
                    hex_addr(rip, rport, v6_file),
                    super::code::linux_state(state),
                )
            })
            .collect()
    }

    /// Runs the pipeline when its first stage reads /proc/net/tcp or
    /// /proc/net/tcp6: `None` for other commands, `Some(Ok(true))` when the
    /// last stage printed something, `Some(Err)` naming what is not modelled.
    pub(super) fn proc_net_tcp(&self, cmd: &str) -> Option<Result<bool, String>> {
        let mut stages = cmd.split('|').map(str::trim);
        let first = shell_words(stages.next().unwrap_or(""));
        let words: Vec<&str> = first.iter().map(String::as_str).collect();
        let (pattern, files) = match words.as_slice() {
            ["cat", files @ ..] => (None, files),
            ["grep", "-q", p, files @ ..] | ["grep", p, files @ ..] => (Some(*p), files),
            _ => return None,
        };
        if files.is_empty() || !files.iter().all(|f| *f == TCP4 || *f == TCP6) {
            return None;
        }
        let mut lines = Vec::new();
        for file in files {
            for l in self.proc_net_lines(*file == TCP6) {
                // grep names the file of each line when it reads several.
                match pattern {
                    Some(p) if !grep_match(p, &l) => {}
                    Some(_) if files.len() > 1 => lines.push(format!("{file}:{l}")),
                    _ => lines.push(l),
                }
            }
        }
        if let Err(why) = grep_stages(&mut lines, stages) {
            return Some(Err(why));
        }
        Some(Ok(!lines.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_host_order_words() {
        let v4: IpAddr = "192.168.0.1".parse().unwrap();
        assert_eq!(hex_addr(v4, 8080, false), "0100A8C0:1F90");
        let v6: IpAddr = "fd3d:a0b:17d6::1".parse().unwrap();
        assert_eq!(
            hex_addr(v6, 80, true),
            "0B0A3DFD0000D6170000000001000000:0050"
        );
        assert_eq!(super::super::code::linux_state(State::Listen), 0x0a);
    }
}
