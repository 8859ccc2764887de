//! `finack ss --tun NAME`: the socket table of a running `finack serve`,
//! asked over a local control socket.
//!
//! `finack serve --tun NAME` listens on a Unix socket named after the TUN
//! device, `$XDG_RUNTIME_DIR/finack/NAME.sock` (or `/run/finack/NAME.sock`
//! without that variable); each connection to it gets the stack's table in
//! the text `finack sim run --ss` prints, and is closed.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use finack::Stack;
use finack_core::State;
use finack_sim::whatif::ss::{self, SocketRow, SocketTable};

use crate::Failure;

/// Options of `finack ss`.
#[derive(Args, Debug)]
pub struct SsArgs {
    /// The TUN device of the running `finack serve`.
    #[arg(long, value_name = "NAME")]
    tun: String,
}

/// Where the control socket of `finack serve --tun tun` lives.
pub fn socket_path(tun: &str) -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/run"), PathBuf::from);
    dir.join("finack").join(format!("{tun}.sock"))
}

/// Removes the control socket when `finack serve` ends.
pub struct Control {
    path: PathBuf,
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Answer `finack ss` for `stack` (serving on `listen`) from a thread of
/// its own. `None`, with a warning on standard error, when the socket
/// cannot be made (serving goes on without it).
pub fn spawn(stack: Stack, tun: &str, listen: SocketAddr) -> Option<Control> {
    let path = socket_path(tun);
    let warn = |e: &dyn std::fmt::Display| {
        eprintln!(
            "finack: no control socket for `finack ss` at {}: {e}",
            path.display()
        );
    };
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            warn(&e);
            return None;
        }
    }
    if UnixStream::connect(&path).is_ok() {
        warn(&"another finack serve answers there");
        return None;
    }
    // A socket file nobody answers on is left over from an earlier run.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            warn(&e);
            return None;
        }
    };
    let run = format!("finack serve on TUN {tun}");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let text = table(&stack, &run, listen).render();
            let _ = conn.write_all(text.as_bytes());
        }
    });
    Some(Control { path })
}

/// The stack's table now.
fn table(stack: &Stack, run: &str, listen: SocketAddr) -> SocketTable {
    stack.with_endpoint(|ep, now| {
        let mut host = ss::host_table("finack", ep, &[], now, true);
        // The listener: its accept queue is not visible from here (the
        // stack accepts at once), so Recv-Q is 0 and Send-Q its backlog.
        host.rows.insert(
            0,
            SocketRow {
                state: State::Listen,
                recv_q: 0,
                send_q: finack::DEFAULT_BACKLOG as u64,
                local: listen,
                peer: None,
                timer: None,
            },
        );
        SocketTable {
            time: now,
            run: run.to_string(),
            ended_early: None,
            hosts: vec![host],
        }
    })
}

/// `finack ss --tun NAME`.
pub fn ss_cmd(args: &SsArgs) -> Result<bool, Failure> {
    let path = socket_path(&args.tun);
    let mut conn = UnixStream::connect(&path).map_err(|e| {
        Failure::Io(format!(
            "no finack serve answers for TUN '{}' (control socket {}: {e})",
            args.tun,
            path.display()
        ))
    })?;
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut text = String::new();
    conn.read_to_string(&mut text)
        .map_err(|e| Failure::Io(format!("reading {}: {e}", path.display())))?;
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(true)
}
