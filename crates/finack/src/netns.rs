//! Throwaway Linux network namespaces for tests and benchmarks: made with
//! `ip netns add`, deleted with `ip netns del` when the guard is dropped (also
//! when a test panics). Needs root and iproute2's `ip`.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{setns, CloneFlags};

use crate::tun::Tun;

/// A network namespace that exists while this value does.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Whether `tool` is on the `PATH` (`command -v`).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this process can make namespaces and TUN devices: effective root,
/// `/dev/net/tun` and `ip`.
pub fn can_make() -> bool {
    nix::unistd::Uid::effective().is_root()
        && std::path::Path::new("/dev/net/tun").exists()
        && have("ip")
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Netns {
    /// A new namespace named `PREFIX-PID-N` (unique within this process), with
    /// its loopback up.
    pub fn new(prefix: &str) -> io::Result<Netns> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec NAME ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `ip -n NAME args...`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// `ip netns exec NAME prog`, to add arguments to and run.
    pub fn command(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, prog]);
        c
    }

    /// The same as [`Netns::command`] as a tokio command, killed when dropped.
    pub fn tokio_command(&self, prog: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::from(self.command(prog));
        c.kill_on_drop(true);
        c
    }

    /// Run `f` on a new thread that entered the namespace with setns(2), and
    /// return its result.
    pub fn in_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path)?;
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            f()
        })
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?
    }

    /// Create TUN device `dev` inside the namespace, its kernel side
    /// `kernel_addr / prefix`, up (see [`Tun::create`]).
    pub fn tun(&self, dev: &str, kernel_addr: IpAddr, prefix: u8) -> io::Result<Tun> {
        self.tun_with(dev, kernel_addr, prefix, true)
    }

    /// [`Netns::tun`] choosing whether to use offloads (see [`Tun::create_with`]).
    pub fn tun_with(
        &self,
        dev: &str,
        kernel_addr: IpAddr,
        prefix: u8,
        offload: impl Into<crate::TunOffload>,
    ) -> io::Result<Tun> {
        let dev = dev.to_string();
        let offload = offload.into();
        self.in_ns(move || Tun::create_with(&dev, kernel_addr, prefix, offload))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
