//! finack over a TUN device against the real Linux TCP stack.
//!
//! Each test makes its own network namespace (`ip netns add finack-<pid>-<n>`),
//! creates a TUN device inside it from a thread that entered it with setns(2),
//! gives the kernel side 192.0.2.1/24 (RFC 5737 TEST-NET-1) and runs a finack
//! stack answering for 192.0.2.2 on the other end of the device. Linux programs
//! (python3, curl, ss) run inside the namespace with `ip netns exec`. The
//! namespace is deleted when the test ends, also when it fails (a Drop guard).
//!
//! Needs root, /dev/net/tun and `ip`; without them each test prints a loud
//! SKIPPED line and passes. Tests that need python3, curl or ss skip the same way
//! when the tool is missing.

use std::fs::File;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use finack::{Config, Impairment, Stack, State, TcpListener, TcpStream, Tun, TunOffload};
use nix::sched::{setns, CloneFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);
const KERNEL: &str = "192.0.2.1";
const FINACK: &str = "192.0.2.2";

/// Workers of the stacks under test: `FINACK_TEST_WORKERS`, else 2 (the
/// multi-worker runtime; 1 is the single-engine one).
fn test_workers() -> usize {
    std::env::var("FINACK_TEST_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// A stack of [`test_workers`] workers on `tun`, answering for `local`.
fn stack_on(tun: Tun, local: IpAddr) -> std::io::Result<Stack> {
    Stack::builder()
        .config(Config::linux())
        .workers(test_workers())
        .tun(tun, &[local])
}

fn kernel_ip() -> IpAddr {
    KERNEL.parse().unwrap()
}

fn finack_ip() -> IpAddr {
    FINACK.parse().unwrap()
}

fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A SKIPPED line that shows even though the test harness captures output: it
/// goes to the process's stderr directly rather than through `eprintln!`.
fn skipped(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {msg}");
}

/// Root, /dev/net/tun and `ip`, or a loud SKIPPED line.
fn can_run(test: &str, tools: &[&str]) -> bool {
    if !nix::unistd::Uid::effective().is_root()
        || !std::path::Path::new("/dev/net/tun").exists()
        || !have("ip")
    {
        skipped(&format!(
            "{test}: needs root and /dev/net/tun (and iproute2's ip)"
        ));
        return false;
    }
    for t in tools {
        if !have(t) {
            skipped(&format!("{test}: needs `{t}` installed"));
            return false;
        }
    }
    true
}

/// A network namespace made for one test and deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "finack-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add")
            .success();
        assert!(ok, "ip netns add {name} failed");
        let ns = Netns { name };
        let ok = std::process::Command::new("ip")
            .args(["-n", &ns.name, "link", "set", "lo", "up"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "bringing up lo in {}", ns.name);
        ns
    }

    /// Create TUN device `fin0` inside the namespace, kernel side 192.0.2.1/24,
    /// up. The thread that creates it enters the namespace; the descriptor it
    /// returns works from any thread.
    fn tun(&self) -> Tun {
        self.in_ns(|| Tun::create("fin0", kernel_ip(), 24).expect("create TUN in namespace"))
    }

    /// A TUN device without offloads: every packet on it is a whole one.
    fn tun_plain(&self) -> Tun {
        self.in_ns(|| {
            Tun::create_with("fin0", kernel_ip(), 24, false).expect("create TUN in namespace")
        })
    }

    /// A TUN device with checksum offload only, and TSO, GSO and GRO
    /// turned off on it with ethtool: every packet either way is one
    /// segment, its TCP checksum left partial.
    fn tun_checksum_only(&self) -> Tun {
        let tun = self.in_ns(|| {
            Tun::create_with("fin0", kernel_ip(), 24, TunOffload::Checksum)
                .expect("create TUN in namespace")
        });
        let ok = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "ethtool", "-K", "fin0"])
            .args(["tso", "off", "gso", "off", "gro", "off"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ethtool -K fin0 failed");
        tun
    }

    /// Run `f` on a thread that entered the namespace.
    fn in_ns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).expect("open netns file");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("namespace thread")
    }

    /// Run `ip -n NS args...`.
    fn ip(&self, args: &[&str]) {
        let ok = std::process::Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip -n {} {args:?} failed", self.name);
    }

    /// A finack stack on a new TUN device in this namespace.
    fn stack(&self) -> Stack {
        stack_on(self.tun(), finack_ip()).expect("stack on TUN")
    }

    /// A command run inside the namespace, killed if the test drops it.
    fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, prog]);
        c.kill_on_drop(true);
        c
    }

    /// `ss -tan` inside the namespace.
    async fn ss(&self) -> String {
        let out = self.cmd("ss").arg("-tan").output().await.expect("run ss");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `python3 -c script args...` inside the namespace; its stdout, or a
    /// panic with its stderr.
    async fn python(&self, script: &str, args: &[&str]) -> String {
        let out = timeout(
            LIMIT,
            self.cmd("python3")
                .arg("-c")
                .arg(script)
                .args(args)
                .output(),
        )
        .await
        .expect("python3 timed out")
        .expect("run python3");
        assert!(
            out.status.success(),
            "python3 failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Wait until something inside the namespace listens on `port` (a TCP connect
/// from finack succeeds), bounded.
async fn wait_listening(stack: &Stack, port: u16) {
    let addr = SocketAddr::new(kernel_ip(), port);
    for _ in 0..100 {
        if let Ok(Ok(s)) = timeout(Duration::from_secs(2), TcpStream::connect(stack, addr)).await {
            drop(s);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {addr}");
}

/// A finack echo server on 192.0.2.2:`port`; each connection's echoed byte count
/// is sent on the returned channel.
fn spawn_echo(stack: &Stack, port: u16) -> tokio::sync::mpsc::UnboundedReceiver<u64> {
    let l = TcpListener::bind(stack, SocketAddr::new(stack.addresses()[0], port)).unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let n = tokio::io::copy(&mut r, &mut w).await.unwrap_or(0);
                let _ = w.shutdown().await;
                let _ = tx.send(n);
            });
        }
    });
    rx
}

const PY_ECHO_CLIENT: &str = r#"
import socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytes((i * 7 + i // 251) % 256 for i in range(n))
s = socket.create_connection((host, port), timeout=20)
# Send from a thread while this one reads: an echo peer stops reading once
# its replies fill our receive buffer, so a client that only reads after
# sending everything can deadlock (more likely under loss, where the
# kernel grows its buffers less).
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
t.join()
s.close()
assert bytes(got) == data, (len(got), n)
print("OK", len(got))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_client_to_finack_echo() {
    if !can_run("linux_client_to_finack_echo", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let mut done = spawn_echo(&stack, 7);
        let out = ns.python(PY_ECHO_CLIENT, &[FINACK, "7", "1000000"]).await;
        assert_eq!(out.trim(), "OK 1000000");
        assert_eq!(done.recv().await, Some(1_000_000));
        // The kernel's router solicitations etc. were skipped, not errors.
        let ls = stack.link_stats();
        assert!(ls.packets_in > 0 && ls.packets_out > 0, "{ls:?}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_to_finack_http() {
    if !can_run("curl_to_finack_http", &["curl"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let l = TcpListener::bind(&stack, SocketAddr::new(finack_ip(), 8080)).unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    // Read the request head, answer, close (HTTP/1.0 style).
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = "hello from finack\n";
                    let resp = format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                    let _ = s.read(&mut buf).await;
                });
            }
        });
        let out = timeout(
            LIMIT,
            ns.cmd("curl")
                .args(["-sS", "--max-time", "20", "http://192.0.2.2:8080/"])
                .output(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from finack\n");
    })
    .await
    .expect("test timed out");
}

/// finack fetches a file from `python3 -m http.server`. The server closes first
/// (HTTP/1.0), so the Linux side ends in TIME-WAIT, which `ss` shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finack_client_to_linux_http_server_linux_closes_first() {
    if !can_run(
        "finack_client_to_linux_http_server_linux_closes_first",
        &["python3", "ss"],
    ) {
        return;
    }
    let ns = Netns::new();
    let dir = std::env::temp_dir().join(format!("finack-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("blob.bin"), &body).unwrap();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let _server = ns
            .cmd("python3")
            .args(["-m", "http.server", "8000", "--bind", KERNEL, "--directory"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        wait_listening(&stack, 8000).await;
        let mut s = TcpStream::connect(&stack, SocketAddr::new(kernel_ip(), 8000))
            .await
            .unwrap();
        s.write_all(b"GET /blob.bin HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.unwrap();
        let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(resp.starts_with(b"HTTP/1.0 200"), "{:?}", &resp[..head_end]);
        assert!(resp[head_end..] == body[..], "body differs");
        // The server closed first: we are in CLOSE-WAIT; close our side.
        assert_eq!(s.state(), State::CloseWait);
        let local = s.local_addr().unwrap();
        s.shutdown().await.unwrap();
        drop(s);
        // RFC 9293 §3.6: the side that closes first waits in TIME-WAIT.
        let want = format!("{KERNEL}:8000");
        let peer = local.to_string();
        let mut ss = String::new();
        for _ in 0..50 {
            ss = ns.ss().await;
            if ss
                .lines()
                .any(|l| l.starts_with("TIME-WAIT") && l.contains(&want) && l.contains(&peer))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            ss.lines()
                .any(|l| l.starts_with("TIME-WAIT") && l.contains(&want) && l.contains(&peer)),
            "no TIME-WAIT on the Linux side for {want} <-> {peer}:\n{ss}"
        );
        // And finack's side finished: no connection but the probes' TIME-WAITs
        // from wait_listening (finack closed those first).
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            stack
                .connections()
                .iter()
                .all(|c| c.local != local || c.state == State::Closed),
            "{:?}",
            stack.connections()
        );
    })
    .await
    .expect("test timed out");
    let _ = std::fs::remove_dir_all(&dir);
}

const PY_ECHO_SERVER: &str = r#"
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(8)
print("listening", flush=True)
l.settimeout(30)
for _ in range(int(sys.argv[3])):
    c, _ = l.accept()
    c.settimeout(20)
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()
"#;

/// finack closes first against a Linux echo server: finack ends in TIME-WAIT,
/// Linux goes CLOSE-WAIT -> LAST-ACK -> CLOSED and keeps no TIME-WAIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finack_closes_first_against_linux() {
    if !can_run("finack_closes_first_against_linux", &["python3", "ss"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        // RFC 1337 on: if our final ACK is slow (a loaded machine) Linux
        // resends its FIN, our second ACK finds its socket gone and draws a
        // RST, which with Linux's default (tcp_rfc1337 = 0) would end our
        // TIME-WAIT before this test looks at it.
        let mut cfg = Config::linux();
        cfg.rfc1337 = true;
        let stack = Stack::builder()
            .config(cfg)
            .workers(test_workers())
            .tun(ns.tun(), &[finack_ip()])
            .expect("stack on TUN");
        let mut server = ns
            .cmd("python3")
            .args(["-c", PY_ECHO_SERVER, KERNEL, "7007", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for "listening" (a probe connect would use up the one accept).
        let mut out = server.stdout.take().unwrap();
        let mut line = [0u8; 10];
        out.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"listening\n");
        let s = TcpStream::connect(&stack, SocketAddr::new(kernel_ip(), 7007))
            .await
            .unwrap();
        let data = vec![0x5a; 200_000];
        let (mut r, mut w) = s.into_split();
        let writer = tokio::spawn(async move {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        let w = writer.await.unwrap();
        assert_eq!(got.len(), 200_000);
        assert!(got.iter().all(|&b| b == 0x5a));
        let local = w.local_addr().unwrap();
        drop((r, w));
        // Python saw our FIN first (CLOSE-WAIT), echoed the rest and closed; our
        // side took the TIME-WAIT (RFC 9293 §3.6).
        let status = server.wait().await.unwrap();
        assert!(status.success(), "python3 echo server: {status}");
        let mut ours = None;
        for _ in 0..50 {
            ours = stack.connections().into_iter().find(|c| c.local == local);
            if ours.as_ref().is_some_and(|c| c.state == State::TimeWait) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(ours.map(|c| c.state), Some(State::TimeWait));
        let ss = ns.ss().await;
        let peer = local.to_string();
        assert!(
            !ss.lines().any(|l| l.contains(&peer)),
            "Linux should hold no state for {peer}:\n{ss}"
        );
    })
    .await
    .expect("test timed out");
}

/// Connection refused both ways: a RST answers a SYN to a closed port
/// (RFC 9293 §3.10.7.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_both_ways() {
    if !can_run("refused_both_ways", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let e = TcpStream::connect(&stack, SocketAddr::new(kernel_ip(), 9))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let out = ns
            .python(
                r#"
import socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=10)
    print("connected?!")
except ConnectionRefusedError:
    print("refused")
"#,
                &[FINACK],
            )
            .await;
        assert_eq!(out.trim(), "refused");
        assert!(stack.stats().rst_sent >= 1);
    })
    .await
    .expect("test timed out");
}

/// UDP and ICMP from the kernel reach the device and are counted and skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_tcp_packets_are_skipped() {
    if !can_run("non_tcp_packets_are_skipped", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        ns.python(
            r#"
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    u.sendto(b"not tcp", (sys.argv[1], 9))
"#,
            &[FINACK],
        )
        .await;
        let mut ls = stack.link_stats();
        for _ in 0..50 {
            if ls.skipped_not_tcp >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            ls = stack.link_stats();
        }
        assert!(ls.skipped_not_tcp >= 5, "{ls:?}");
        // The stack still works afterwards.
        let _l = TcpListener::bind(&stack, SocketAddr::new(finack_ip(), 7)).unwrap();
        let mut done = spawn_echo(&stack, 8);
        let out = ns.python(PY_ECHO_CLIENT, &[FINACK, "8", "1000"]).await;
        assert_eq!(out.trim(), "OK 1000");
        assert_eq!(done.recv().await, Some(1000));
    })
    .await
    .expect("test timed out");
}

/// A TUN device made beforehand with `ip tuntap` (persistent, configured by
/// `ip`, in 198.51.100.0/24, RFC 5737 TEST-NET-2) is taken as it is.
/// Path MTU discovery on a real path (RFC 1191): finack's namespace routes
/// 198.51.100.0/24 over a veth whose MTU is 1200 to a second namespace,
/// where a Linux server listens. finack's full-sized segments leave the TUN
/// with DF set; the kernel cannot forward them and answers "fragmentation
/// needed, MTU 1200"; that ICMP error reaches the engine through the TUN,
/// which lowers its segment size, and the transfer completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_mtu_discovery_through_a_lower_mtu_hop() {
    if !can_run("path_mtu_discovery_through_a_lower_mtu_hop", &["python3"]) {
        return;
    }
    let near = Netns::new();
    let far = Netns::new();
    near.ip(&[
        "link", "add", "vnear", "type", "veth", "peer", "name", "vfar", "netns", &far.name,
    ]);
    near.ip(&["addr", "add", "198.51.100.1/24", "dev", "vnear"]);
    near.ip(&["link", "set", "vnear", "mtu", "1200", "up"]);
    far.ip(&["addr", "add", "198.51.100.2/24", "dev", "vfar"]);
    // The far end keeps 1500: its SYN,ACK announces MSS 1460, so only the
    // near hop's ICMP error can tell finack of the smaller MTU.
    far.ip(&["link", "set", "vfar", "mtu", "1500", "up"]);
    far.ip(&["route", "add", "192.0.2.0/24", "via", "198.51.100.1"]);
    let fwd = near
        .cmd("sysctl")
        .args(["-qw", "net.ipv4.ip_forward=1"])
        .status()
        .await
        .expect("run sysctl");
    assert!(fwd.success(), "enabling forwarding in {}", near.name);
    timeout(LIMIT, async {
        // The Linux server counts what it reads and prints it at end of stream.
        let server = far
            .cmd("python3")
            .arg("-c")
            .arg(
                r#"
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 9000)); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b)
print(n, flush=True)
"#,
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 in the far namespace");
        let mut out = tokio::io::BufReader::new(server.stdout.unwrap());
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line)
            .await
            .unwrap();
        assert_eq!(line.trim(), "ready");
        let stack = stack_on(near.tun_plain(), finack_ip()).unwrap();
        let far_addr: SocketAddr = "198.51.100.2:9000".parse().unwrap();
        let mut s = TcpStream::connect(&stack, far_addr).await.expect("connect");
        let data = vec![0x5au8; 300_000];
        s.write_all(&data).await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        line.clear();
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line)
            .await
            .unwrap();
        assert_eq!(line.trim(), "300000");
        let ls = stack.link_stats();
        assert!(ls.icmp_errors >= 1, "{ls:?}");
        assert!(stack.stats().icmp_in >= 1, "{:?}", stack.stats());
        // The connection's segments shrank to fit 1200 bytes.
        let info = stack.info(s.local_addr().unwrap(), far_addr);
        if let Some(i) = info {
            assert!(i.snd_mss <= 1160, "{i:?}");
        }
    })
    .await
    .expect("path MTU discovery test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_tun_device() {
    if !can_run("existing_tun_device", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    ns.ip(&["tuntap", "add", "dev", "fin1", "mode", "tun"]);
    ns.ip(&["addr", "add", "198.51.100.1/24", "dev", "fin1"]);
    ns.ip(&["link", "set", "fin1", "up"]);
    timeout(LIMIT, async {
        let tun = ns.in_ns(|| Tun::open("fin1").expect("open existing TUN"));
        assert_eq!(tun.name(), "fin1");
        let stack = stack_on(tun, "198.51.100.2".parse().unwrap()).unwrap();
        let mut done = spawn_echo(&stack, 7);
        let out = ns
            .python(PY_ECHO_CLIENT, &["198.51.100.2", "7", "50000"])
            .await;
        assert_eq!(out.trim(), "OK 50000");
        assert_eq!(done.recv().await, Some(50_000));
    })
    .await
    .expect("test timed out");
}

// ---- bulk transfers, half-close, reset, concurrency, impairment, capture ----

/// A file of `n` bytes of finack's `/bytes/N` pattern in the temp directory,
/// removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn pattern(tag: &str, n: usize) -> TempFile {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "finack-interop-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, finack::serve::pattern(n)).unwrap();
        TempFile(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Netns {
    /// A finack stack on a new TUN device with an impairment on both
    /// directions. Its receive buffers keep their 128 KiB: grown by
    /// autotuning to megabytes, 5% loss each way puts Linux's sender into
    /// long RTO backoffs (see the note in `transfers_over_loss_and_reordering`).
    fn stack_impaired(&self, inbound: Impairment, outbound: Impairment) -> Stack {
        self.tun()
            .into_stack_workers(
                Config {
                    rcvbuf_autotune: false,
                    ..Config::linux()
                },
                &[finack_ip()],
                Some((Some(inbound), Some(outbound))),
                test_workers(),
            )
            .expect("stack on TUN")
    }

    /// curl `http://192.0.2.2:PORT/PATH` inside the namespace: the body.
    async fn curl(&self, port: u16, path: &str) -> Vec<u8> {
        let out = timeout(
            LIMIT,
            self.cmd("curl")
                .args(["-sS", "--fail", "--max-time", "50"])
                .arg(format!("http://{FINACK}:{port}{path}"))
                .output(),
        )
        .await
        .expect("curl timed out")
        .expect("run curl");
        assert!(
            out.status.success(),
            "curl {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Send `file` to 192.0.2.2:`port` from Linux, half-close, and return what
    /// came back before the server closed: with socat when it is installed,
    /// else with python3.
    async fn send_file(&self, file: &TempFile, port: u16) -> Vec<u8> {
        let out = if have("socat") {
            timeout(
                LIMIT,
                self.cmd("socat")
                    .args(["-t", "50", "-T", "50", "-b", "65536", "-"])
                    .arg(format!("TCP:{FINACK}:{port}"))
                    .stdin(File::open(&file.0).unwrap())
                    .output(),
            )
            .await
        } else {
            timeout(
                LIMIT,
                self.cmd("python3")
                    .args(["-c", PY_SEND_FILE, FINACK, &port.to_string(), file.path()])
                    .output(),
            )
            .await
        }
        .expect("sender timed out")
        .expect("run the sender");
        assert!(
            out.status.success(),
            "sender: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// python3's stand-in for socat: send a file, half-close, copy the answer to
/// stdout.
const PY_SEND_FILE: &str = r#"
import socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=50)
def send():
    with open(sys.argv[3], "rb") as f:
        while True:
            b = f.read(1 << 16)
            if not b:
                break
            s.sendall(b)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
out = sys.stdout.buffer
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    out.write(b)
t.join()
s.close()
"#;

/// Serve HTTP with hyper on 192.0.2.2:`port` until the stack goes away.
fn spawn_http(stack: &Stack, port: u16) {
    let l = TcpListener::bind(stack, SocketAddr::new(finack_ip(), port)).unwrap();
    tokio::spawn(finack::serve::http(l, None));
}

const MIB: usize = 1024 * 1024;
/// Size of the echo and discard transfers over the lossy link.
const LOSSY: usize = 10 * MIB;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_fetches_page_and_20mib_from_hyper() {
    if !can_run("curl_fetches_page_and_20mib_from_hyper", &["curl"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        spawn_http(&stack, 80);
        assert_eq!(ns.curl(80, "/").await, finack::serve::INDEX_PAGE.as_bytes());
        let body = ns.curl(80, &format!("/bytes/{}", 20 * MIB)).await;
        assert_eq!(body.len(), 20 * MIB);
        assert!(body == finack::serve::pattern(20 * MIB), "body differs");
    })
    .await
    .expect("test timed out");
}

/// `file` (20 MiB) sent from the namespace to an echo server on port 7 of
/// a stack on `tun`: every byte comes back. Returns the link's counters.
async fn echo_20mib(ns: &Netns, tun: Tun, file: &TempFile) -> finack::LinkStats {
    let stack = stack_on(tun, finack_ip()).expect("stack on TUN");
    let mut echoed = spawn_echo(&stack, 7);
    let back = ns.send_file(file, 7).await;
    assert_eq!(back.len(), 20 * MIB);
    assert!(back == std::fs::read(&file.0).unwrap(), "echo differs");
    assert_eq!(echoed.recv().await, Some(20 * MIB as u64));
    stack.link_stats()
}

/// Without offload the kernel hands over one segment per read: those read
/// in one go are joined before the engine takes them (receive coalescing),
/// and every byte arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_read_one_by_one_are_joined_and_all_bytes_arrive() {
    if !can_run(
        "segments_read_one_by_one_are_joined_and_all_bytes_arrive",
        &["python3"],
    ) {
        return;
    }
    let ns = Netns::new();
    let file = TempFile::pattern("20mib-plain", 20 * MIB);
    timeout(LIMIT, async {
        let got = echo_20mib(&ns, ns.tun_plain(), &file).await;
        // Over 14,000 segments of 1,448 bytes came in one by one.
        assert!(got.packets_in > 20 * MIB as u64 / 1448, "{got:?}");
        assert!(got.coalesced_in > 0, "{got:?}");
        assert_eq!(got.rejected, 0, "{got:?}");
    })
    .await
    .expect("test timed out");
}

/// Checksum offload only (TSO, GSO and GRO off, as on a veth pair
/// without offload): the kernel hands over single segments whose checksums
/// it left partial, which are joined before the engine takes them; finack
/// writes one segment per write, its checksum left to the kernel; every
/// byte arrives both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_offload_alone_moves_one_segment_per_packet() {
    if !can_run(
        "checksum_offload_alone_moves_one_segment_per_packet",
        &["python3", "ethtool"],
    ) {
        return;
    }
    let ns = Netns::new();
    let file = TempFile::pattern("20mib-csum", 20 * MIB);
    timeout(LIMIT, async {
        let tun = ns.tun_checksum_only();
        assert_eq!(tun.offload(), TunOffload::Checksum);
        let got = echo_20mib(&ns, tun, &file).await;
        let segments = 20 * MIB as u64 / 1448;
        // In: one segment per read, joined before the engine.
        assert!(got.packets_in > segments, "{got:?}");
        assert!(got.coalesced_in > 0, "{got:?}");
        assert_eq!(got.rejected, 0, "{got:?}");
        // Out: one segment per write (a checksum Linux found wrong would
        // have lost the echo).
        assert!(got.packets_out > segments, "{got:?}");
        assert_eq!(got.writes_out, got.packets_out, "{got:?}");
        assert_eq!(got.tso_segments_out, 0, "{got:?}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_sends_50mib_to_discard_and_echo() {
    if !can_run("linux_sends_50mib_to_discard_and_echo", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    let file = TempFile::pattern("50mib", 50 * MIB);
    timeout(LIMIT * 2, async {
        let stack = ns.stack();
        let l = TcpListener::bind(&stack, SocketAddr::new(finack_ip(), 9)).unwrap();
        let discard = tokio::spawn(finack::serve::discard(l, Some(1)));
        let back = ns.send_file(&file, 9).await;
        assert!(back.is_empty());
        let served = discard.await.unwrap().unwrap();
        assert_eq!(served[0].bytes, 50 * MIB as u64);
        assert!(served[0].result.is_ok(), "{:?}", served[0].result);
        // Offload is on: the kernel's bulk data reached the engine mostly
        // as super-segments, taken whole (over 36,000 segments of 1,448
        // bytes otherwise).
        let got = stack.link_stats();
        let segments = 50 * MIB as u64 / 1448;
        assert!(got.packets_in < segments / 4, "{got:?}");

        let mut echoed = spawn_echo(&stack, 7);
        let back = ns.send_file(&file, 7).await;
        assert_eq!(back.len(), 50 * MIB);
        assert!(back == std::fs::read(&file.0).unwrap(), "echo differs");
        assert_eq!(echoed.recv().await, Some(50 * MIB as u64));
        // And finack's echo went out mostly in super-segments, most of
        // whose segments the engine formed as one packet (TSO).
        let sent = stack.link_stats();
        assert!(sent.packets_out > segments, "{sent:?}");
        assert!(sent.writes_out < sent.packets_out / 4, "{sent:?}");
        assert!(sent.tso_segments_out > sent.packets_out / 2, "{sent:?}");
    })
    .await
    .expect("test timed out");
}

/// Linux half-closes first; finack keeps sending 1 MB after it read the FIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_linux_first_finack_keeps_sending() {
    if !can_run("half_close_linux_first_finack_keeps_sending", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let l = TcpListener::bind(&stack, SocketAddr::new(finack_ip(), 5000)).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = Vec::new();
            s.read_to_end(&mut req).await.unwrap();
            // Linux's FIN arrived: we are in CLOSE-WAIT and can still send.
            assert_eq!(s.state(), State::CloseWait);
            s.write_all(&finack::serve::pattern(1_000_000))
                .await
                .unwrap();
            s.shutdown().await.unwrap();
            req
        });
        let out = ns
            .python(
                r#"
import socket, sys
s = socket.create_connection((sys.argv[1], 5000), timeout=20)
s.sendall(b"hello, then FIN")
s.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
assert bytes(got) == bytes(i % 251 for i in range(1000000)), len(got)
print("OK", len(got))
"#,
                &[FINACK],
            )
            .await;
        assert_eq!(out.trim(), "OK 1000000");
        assert_eq!(server.await.unwrap(), b"hello, then FIN");
    })
    .await
    .expect("test timed out");
}

/// finack half-closes first; Linux keeps sending 1 MB after it read the FIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_finack_first_linux_keeps_sending() {
    if !can_run("half_close_finack_first_linux_keeps_sending", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let mut server = ns
            .cmd("python3")
            .args([
                "-c",
                r#"
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 5001))
l.listen(1)
print("listening", flush=True)
l.settimeout(20)
c, _ = l.accept()
c.settimeout(20)
req = bytearray()
while True:
    b = c.recv(65536)
    if not b:
        break
    req += b
assert bytes(req) == b"hello, then FIN", req
c.sendall(bytes(i % 251 for i in range(1000000)))
c.close()
print("sent", flush=True)
"#,
                KERNEL,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = server.stdout.take().unwrap();
        let mut line = [0u8; 10];
        out.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"listening\n");
        let mut s = TcpStream::connect(&stack, SocketAddr::new(kernel_ip(), 5001))
            .await
            .unwrap();
        s.write_all(b"hello, then FIN").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 1_000_000);
        assert!(got == finack::serve::pattern(1_000_000), "data differs");
        let status = server.wait().await.unwrap();
        assert!(status.success(), "python3 server: {status}");
    })
    .await
    .expect("test timed out");
}

/// Linux aborts (SO_LINGER 0, then close: a RST) while finack is sending and
/// reading: finack's read fails with ConnectionReset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_rst_mid_transfer_is_connection_reset() {
    if !can_run("linux_rst_mid_transfer_is_connection_reset", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let l = TcpListener::bind(&stack, SocketAddr::new(finack_ip(), 5002)).unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (mut r, mut w) = s.into_split();
            // Take all of Linux's 100,000 bytes first: Linux's aborting RST
            // must not race its own data (it reads our 200,000 bytes before
            // aborting, and might get them before its cwnd let all of its
            // data out).
            let mut total = 0usize;
            let mut buf = vec![0u8; 65536];
            while total < 100_000 {
                let want = (100_000 - total).min(buf.len());
                match r.read(&mut buf[..want]).await {
                    Ok(0) => panic!("EOF after {total} bytes"),
                    Ok(n) => total += n,
                    Err(e) => panic!("{e} after {total} bytes"),
                }
            }
            // Keep sending while Linux reads a little and then aborts.
            let writer = tokio::spawn(async move {
                let chunk = vec![0xa5u8; 64 * 1024];
                loop {
                    if let Err(e) = w.write_all(&chunk).await {
                        return e.kind();
                    }
                }
            });
            let err = loop {
                match r.read(&mut buf).await {
                    Ok(0) => panic!("EOF instead of a reset after {total} bytes"),
                    Ok(n) => total += n,
                    Err(e) => break e,
                }
            };
            let wkind = timeout(Duration::from_secs(10), writer)
                .await
                .expect("writer still blocked after the reset")
                .unwrap();
            (total, err.kind(), wkind)
        });
        let out = ns
            .python(
                r#"
import socket, struct, sys
s = socket.create_connection((sys.argv[1], 5002), timeout=20)
s.sendall(b"x" * 100000)
got = 0
while got < 200000:
    got += len(s.recv(65536))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("aborted", got >= 200000)
"#,
                &[FINACK],
            )
            .await;
        assert_eq!(out.trim(), "aborted True");
        let (total, kind, wkind) = server.await.unwrap();
        assert_eq!(kind, ErrorKind::ConnectionReset, "after {total} bytes");
        assert_eq!(total, 100_000);
        assert!(
            matches!(wkind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "writer: {wkind:?}"
        );
        assert!(stack.stats().resets_received >= 1);
    })
    .await
    .expect("test timed out");
}

/// 200 connections from Linux at once (python3 threads) to one finack echo
/// listener; every one gets its own bytes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_linux_clients() {
    if !can_run("two_hundred_concurrent_linux_clients", &["python3"]) {
        return;
    }
    let ns = Netns::new();
    timeout(LIMIT, async {
        let stack = ns.stack();
        let mut echoed = spawn_echo(&stack, 7);
        let out = ns
            .python(
                r#"
import socket, sys, threading
host, n = sys.argv[1], int(sys.argv[2])
start = threading.Barrier(n)
ok = []
errors = []
def client(k):
    try:
        data = bytes((k * 31 + i) % 256 for i in range(20000))
        start.wait(timeout=20)
        s = socket.create_connection((host, 7), timeout=30)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        s.close()
        if bytes(got) == data:
            ok.append(k)
        else:
            errors.append((k, len(got)))
    except Exception as e:
        errors.append((k, repr(e)))
ts = [threading.Thread(target=client, args=(k,)) for k in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("ok", len(ok), "errors", errors[:5])
"#,
                &[FINACK, "200"],
            )
            .await;
        assert_eq!(out.trim(), "ok 200 errors []");
        for _ in 0..200 {
            assert_eq!(echoed.recv().await, Some(20_000));
        }
    })
    .await
    .expect("test timed out");
}

/// 5% loss plus reordering on both directions of the TUN path (seeded).
fn lossy(seed: u64) -> Impairment {
    Impairment::new(seed)
        .loss(0.05)
        .reorder(0.05, Duration::from_millis(3))
}

/// The transfers again over 5% loss and reordering each way: curl fetches a
/// page and 20 MiB from hyper, Linux sends 10 MiB to echo (and gets it back)
/// and 10 MiB to discard, and a Linux client exchanges 1 MB with echo; every
/// byte checked. (10 MiB rather than the clean runs' 50 MiB keeps the test
/// near 20 seconds: 5% loss each way costs throughput.) With receive-buffer
/// autotuning on, windows grow to megabytes, holes take several
/// retransmissions at this loss rate, the ACKs that finally fill them echo a
/// TSval from before the hole (RFC 7323 §4.3, as Linux's
/// tcp_replace_ts_recent()), and Linux's sender, taking that as an RTT
/// sample, backs off for tens of seconds: the same bytes then take minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_over_loss_and_reordering() {
    if !can_run("transfers_over_loss_and_reordering", &["python3", "curl"]) {
        return;
    }
    let ns = Netns::new();
    let file = TempFile::pattern("lossy", LOSSY);
    timeout(LIMIT * 2, async {
        let stack = ns.stack_impaired(lossy(1), lossy(2));
        spawn_http(&stack, 80);
        assert_eq!(ns.curl(80, "/").await, finack::serve::INDEX_PAGE.as_bytes());
        let body = ns.curl(80, &format!("/bytes/{}", 20 * MIB)).await;
        assert!(body == finack::serve::pattern(20 * MIB), "body differs");

        let mut echoed = spawn_echo(&stack, 7);
        let back = ns.send_file(&file, 7).await;
        assert!(back == std::fs::read(&file.0).unwrap(), "echo differs");
        assert_eq!(echoed.recv().await, Some(LOSSY as u64));

        let l = TcpListener::bind(&stack, SocketAddr::new(finack_ip(), 9)).unwrap();
        let discard = tokio::spawn(finack::serve::discard(l, Some(1)));
        assert!(ns.send_file(&file, 9).await.is_empty());
        let served = discard.await.unwrap().unwrap();
        assert_eq!(served[0].bytes, LOSSY as u64);

        let out = ns.python(PY_ECHO_CLIENT, &[FINACK, "7", "1000000"]).await;
        assert_eq!(out.trim(), "OK 1000000");
        // The impairment really dropped packets, and the engine recovered.
        let st = stack.stats();
        assert!(st.retransmits > 0, "{st:?}");
        eprintln!("engine stats after the lossy transfers: {st:?}");
    })
    .await
    .expect("test timed out");
}

/// One echo and one HTTP transfer captured with tshark on a TUN device without
/// offloads inside the namespace: tshark finds no malformed packet and no bad
/// IPv4 or TCP checksum, from either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_capture_has_no_malformed_packets_or_bad_checksums() {
    if !can_run(
        "tshark_capture_has_no_malformed_packets_or_bad_checksums",
        &["tshark", "python3", "curl"],
    ) {
        return;
    }
    capture_and_check(false).await;
}

/// The same with offloads on (the default): both sides' bulk data is
/// captured before segmentation (super-segments larger than the MTU with
/// partial checksums, as on any TSO network card), every other packet
/// finack writes is whole and checksummed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_capture_with_offload_shows_super_segments_both_ways() {
    if !can_run(
        "tshark_capture_with_offload_shows_super_segments_both_ways",
        &["tshark", "python3", "curl"],
    ) {
        return;
    }
    capture_and_check(true).await;
}

async fn capture_and_check(offload: bool) {
    let ns = Netns::new();
    let pcap = TempFile(std::env::temp_dir().join(format!(
        "finack-interop-{}-{offload}-capture.pcapng",
        std::process::id()
    )));
    timeout(LIMIT, async {
        let tun = if offload { ns.tun() } else { ns.tun_plain() };
        let stack = stack_on(tun, finack_ip()).expect("stack on TUN");
        let mut cap = ns
            .cmd("tshark")
            .args(["-q", "-i", "fin0", "-w", pcap.path()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tshark");
        // tshark says "Capturing on 'fin0'" once it captures.
        let mut err = tokio::io::BufReader::new(cap.stderr.take().unwrap());
        let mut said = String::new();
        loop {
            let mut line = String::new();
            use tokio::io::AsyncBufReadExt;
            let n = err.read_line(&mut line).await.unwrap();
            assert!(n > 0, "tshark ended: {said}");
            said.push_str(&line);
            if line.contains("Capturing on") {
                break;
            }
        }
        let mut done = spawn_echo(&stack, 7);
        let out = ns.python(PY_ECHO_CLIENT, &[FINACK, "7", "300000"]).await;
        assert_eq!(out.trim(), "OK 300000");
        assert_eq!(done.recv().await, Some(300_000));
        spawn_http(&stack, 80);
        let body = ns.curl(80, "/bytes/300000").await;
        assert_eq!(body.len(), 300_000);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // SIGINT lets tshark (and its dumpcap) finish the file.
        let pid = cap.id().expect("tshark pid").to_string();
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status();
        timeout(Duration::from_secs(10), cap.wait())
            .await
            .expect("tshark did not stop")
            .unwrap();
        let read = |filter: &str| {
            let out = std::process::Command::new("tshark")
                .args([
                    "-n",
                    "-r",
                    pcap.path(),
                    "-o",
                    "tcp.check_checksum:TRUE",
                    "-o",
                    "ip.check_checksum:TRUE",
                    "-Y",
                    filter,
                ])
                .output()
                .expect("run tshark -r");
            assert!(
                out.status.success(),
                "tshark -r: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let ours = read(&format!("ip.src == {FINACK} && tcp"));
        // 600 kB each way: with offload mostly in super-segments.
        assert!(
            ours.lines().count() > if offload { 30 } else { 100 },
            "too few packets captured:\n{ours}"
        );
        let all = read("tcp");
        assert!(all.lines().count() > ours.lines().count());
        if offload {
            // Both sides write super-segments: check that offload was really
            // on both ways. Both also leave their TCP checksums to the
            // device (partial, as a capture on a sending host shows them):
            // the transfers above arriving intact is what shows them right
            // (the offload unit tests complete them as the kernel does).
            let big = read(&format!("ip.src == {KERNEL} && ip.len > 1500"));
            assert!(!big.is_empty(), "no GSO segment from the kernel captured");
            let big = read(&format!("ip.src == {FINACK} && ip.len > 1500"));
            assert!(!big.is_empty(), "no GSO segment from finack captured");
            let malformed = read(&format!(
                "ip.src == {FINACK} && (_ws.malformed || ip.checksum.status == 0)"
            ));
            assert!(malformed.is_empty(), "malformed packets:\n{malformed}");
        } else {
            let malformed = read("_ws.malformed || _ws.expert.severity == error");
            assert!(malformed.is_empty(), "malformed packets:\n{malformed}");
            let bad = read(&format!(
                "ip.src == {FINACK} && (tcp.checksum.status == 0 || ip.checksum.status == 0)"
            ));
            assert!(bad.is_empty(), "bad checksums:\n{bad}");
        }
    })
    .await
    .expect("test timed out");
}

/// Linux clients, each sending its own bytes and checking the echo.
const PY_MANY_CLIENTS: &str = r#"
import socket, sys, threading
host, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok = [False] * n
def one(k):
    data = bytes((i * 7 + k * 13 + i // 251) % 256 for i in range(size))
    s = socket.create_connection((host, port), timeout=30)
    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    got = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    t.join()
    s.close()
    ok[k] = bytes(got) == data
ts = [threading.Thread(target=one, args=(k,)) for k in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("OK", sum(ok))
"#;

/// A Linux echo server with a thread per connection, until killed.
const PY_THREADED_ECHO: &str = r#"
import socketserver, sys
class H(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(65536)
            if not b:
                break
            self.request.sendall(b)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.request_queue_size = 512
socketserver.ThreadingTCPServer.daemon_threads = True
srv = socketserver.ThreadingTCPServer((sys.argv[1], int(sys.argv[2])), H)
print("listening", flush=True)
srv.serve_forever()
"#;

/// Two workers on a multi-queue TUN: 64 Linux clients at once against a
/// finack echo listener (open in both engines), then 64 connections at once
/// from finack to a Linux echo server. Every byte comes back, and both
/// workers have connections each way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_over_two_workers() {
    if !can_run("many_connections_over_two_workers", &["python3"]) {
        return;
    }
    const N: usize = 64;
    const SIZE: usize = 20_000;
    let ns = Netns::new();
    timeout(LIMIT, async {
        let tun = ns.tun();
        assert_eq!(
            tun.queues(),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let stack = Stack::builder()
            .workers(2)
            .tun(tun, &[finack_ip()])
            .unwrap();
        assert_eq!(stack.workers(), 2);
        // Linux -> finack.
        let mut done = spawn_echo(&stack, 7100);
        let out = ns
            .python(
                PY_MANY_CLIENTS,
                &[FINACK, "7100", &N.to_string(), &SIZE.to_string()],
            )
            .await;
        assert_eq!(out.trim(), format!("OK {N}"));
        for _ in 0..N {
            assert_eq!(done.recv().await, Some(SIZE as u64));
        }
        let per = stack.worker_stats();
        assert!(per.iter().all(|s| s.passive_opens > 0), "{per:?}");
        assert_eq!(per.iter().map(|s| s.passive_opens).sum::<u64>(), N as u64);
        // finack -> Linux.
        let mut server = ns
            .cmd("python3")
            .args(["-c", PY_THREADED_ECHO, KERNEL, "7101"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = [0u8; 10];
        server
            .stdout
            .take()
            .unwrap()
            .read_exact(&mut line)
            .await
            .unwrap();
        assert_eq!(&line, b"listening\n");
        let mut tasks = Vec::new();
        for k in 0..N {
            let stack = stack.clone();
            tasks.push(tokio::spawn(async move {
                let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 + k * 13 + 1) as u8).collect();
                let s = TcpStream::connect(&stack, SocketAddr::new(kernel_ip(), 7101))
                    .await
                    .unwrap();
                let (mut r, mut w) = s.into_split();
                let sent = data.clone();
                let writer = tokio::spawn(async move {
                    w.write_all(&sent).await.unwrap();
                    w.shutdown().await.unwrap();
                    w
                });
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                let _w = writer.await.unwrap();
                assert!(got == data, "connection {k}: the echo differs");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let per = stack.worker_stats();
        assert!(per.iter().all(|s| s.active_opens > 0), "{per:?}");
        assert_eq!(per.iter().map(|s| s.active_opens).sum::<u64>(), N as u64);
        eprintln!("link: {:?}", stack.link_stats());
        let _ = server.kill().await;
    })
    .await
    .expect("many connections test timed out");
}

/// A program that aborts a connection and exits at once (as `finack proxy`
/// does after its last connection) must still get its RST onto the wire.
/// On a current-thread runtime nothing else runs until the program awaits:
/// once, one worker wrote through a writer task and this RST was lost; now
/// the worker writes it to the device as it sends it.
#[test]
fn an_abort_just_before_exit_still_resets_the_peer() {
    if !can_run(
        "an_abort_just_before_exit_still_resets_the_peer",
        &["python3"],
    ) {
        return;
    }
    let ns = Netns::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tun = ns.tun();
    let (stack, listener) = rt.block_on(async {
        let stack = Stack::builder()
            .config(Config::linux())
            .workers(1)
            .tun(tun, &[finack_ip()])
            .unwrap();
        let l = TcpListener::bind(&stack, SocketAddr::new(finack_ip(), 7999)).unwrap();
        (stack, l)
    });
    let client = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c"])
        .arg(
            r#"
import socket
s = socket.create_connection(("192.0.2.2", 7999), timeout=10)
s.sendall(b"x")
try:
    print("open" if s.recv(10) else "closed")
except ConnectionResetError:
    print("reset")
except TimeoutError:
    print("timeout")
"#,
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    rt.block_on(async {
        let (s, _) = timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("no connection")
            .unwrap();
        // Wait for the "x", so the kernel has nothing left to retransmit
        // once finack has acknowledged it: only the RST can end its recv.
        s.readable().await.unwrap();
        s.abort();
        assert!(stack.flush_closing(Duration::from_secs(5)).await);
    });
    drop(listener);
    drop(stack);
    rt.shutdown_background();
    let out = client.wait_with_output().expect("python3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "reset");
}
