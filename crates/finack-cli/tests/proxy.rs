//! `finack proxy` as a transparent proxy between namespaces of the test's
//! own: a client namespace routes 203.0.113.0/24 to the proxy's namespace,
//! whose policy routing sends what comes from the client into finack's TUN
//! device; finack accepts every connection whatever its destination and
//! carries it on through the kernel's sockets to a server namespace that
//! holds 203.0.113.10. curl, socat and Python clients check what arrives:
//! a page, an echo, 200 concurrent connections, 1 GiB intact, a half-close
//! and a reset each way, and a refused destination.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use finack::netns::{self, Netns};

fn skipped(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {msg}");
}

/// Kills the child when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server namespace's program: every service on 203.0.113.10.
const SERVERS: &str = r#"
import hashlib, socket, struct, sys, threading
HOST = "203.0.113.10"
def listen(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port)); s.listen(512); return s
def serve(port, handler):
    s = listen(port)
    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
def echo(c):
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
    c.close()
def half(c):
    n = 0
    while True:
        b = c.recv(65536)
        if not b: break
        n += len(b)
    c.sendall(b"got %d" % n); c.close()
def rst(c):
    c.recv(5)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
def sink(c):
    h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        h.update(b); n += len(b)
    c.sendall(("%d %s" % (n, h.hexdigest())).encode()); c.close()
def watch(c):
    try:
        while c.recv(65536): pass
        print("peer closed", flush=True)
    except ConnectionResetError:
        print("peer reset", flush=True)
page = bytes(range(256)) * 4000
def http(c):
    req = b""
    while b"\r\n\r\n" not in req:
        b = c.recv(4096)
        if not b: return c.close()
        req += b
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page)
    c.close()
for port, h in [(7000, echo), (7001, half), (7002, rst), (7004, sink), (7005, watch), (8080, http)]:
    serve(port, h)
print("ready", flush=True)
threading.Event().wait()
"#;

/// A client of a port nobody listens on: prints "reset" when the proxy
/// passes the refusal on as a reset.
const REFUSED: &str = r#"
import socket
try:
    s = socket.create_connection(("203.0.113.10", 7999), timeout=30)
    s.sendall(b"x")
    print("open" if s.recv(10) else "closed")
except (ConnectionResetError, ConnectionRefusedError):
    print("reset")
"#;

/// Start `finack proxy` on TUN fin0 in `ns` with these extra arguments and,
/// once its device exists, route table 100 into it: the process, its
/// output and its banner line.
fn start_proxy(
    ns: &Netns,
    extra: &[&str],
) -> (KillOnDrop, BufReader<std::process::ChildStdout>, String) {
    let mut child = KillOnDrop(
        ns.command(env!("CARGO_BIN_EXE_finack"))
            .args(["proxy", "--tun", "fin0", "--addr", "192.0.2.130/25"])
            .args(["--kernel-addr", "192.0.2.129"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start finack proxy"),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let banner = read_line_within(&mut out, Duration::from_secs(20));
    assert!(
        banner.starts_with("finack: proxying every TCP connection"),
        "{banner}"
    );
    sysctl(ns, "net.ipv4.conf.fin0.rp_filter=0");
    ip(
        ns,
        &[
            "route",
            "add",
            "203.0.113.0/24",
            "dev",
            "fin0",
            "table",
            "100",
        ],
    );
    (child, out, banner)
}

fn ip(ns: &Netns, args: &[&str]) {
    ns.ip(args)
        .unwrap_or_else(|e| panic!("ip -n {} {args:?}: {e}", ns.name()));
}

fn sysctl(ns: &Netns, kv: &str) {
    let ok = ns
        .command("sysctl")
        .args(["-qw", kv])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sysctl {kv} in {}", ns.name());
}

/// Run a Python client in the client namespace; its stdout.
fn python(ns: &Netns, script: &str) -> String {
    let out = ns
        .command("timeout")
        .args(["120", "python3", "-c", script])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn read_line_within(r: &mut impl BufRead, limit: Duration) -> String {
    let started = Instant::now();
    let mut line = String::new();
    while line.is_empty() {
        assert!(started.elapsed() < limit, "no line in time");
        r.read_line(&mut line).expect("read a line");
    }
    line
}

#[test]
fn transparent_proxy_carries_connections_to_their_destinations() {
    if !netns::can_make() {
        skipped("transparent_proxy_carries_connections_to_their_destinations: needs root, /dev/net/tun and ip");
        return;
    }
    for tool in ["python3", "curl", "socat", "timeout", "sysctl"] {
        if !netns::have(tool) {
            skipped(&format!(
                "transparent_proxy_carries_connections_to_their_destinations: needs {tool}"
            ));
            return;
        }
    }
    let client = Netns::new("fpx-c").unwrap();
    let proxy = Netns::new("fpx-p").unwrap();
    let server = Netns::new("fpx-s").unwrap();
    // client <-> proxy
    ip(
        &client,
        &[
            "link",
            "add",
            "c0",
            "type",
            "veth",
            "peer",
            "name",
            "p0",
            "netns",
            proxy.name(),
        ],
    );
    ip(&client, &["addr", "add", "192.0.2.2/25", "dev", "c0"]);
    ip(&client, &["link", "set", "c0", "up"]);
    ip(
        &client,
        &["route", "add", "203.0.113.0/24", "via", "192.0.2.1"],
    );
    ip(&proxy, &["addr", "add", "192.0.2.1/25", "dev", "p0"]);
    ip(&proxy, &["link", "set", "p0", "up"]);
    // proxy <-> server
    ip(
        &proxy,
        &[
            "link",
            "add",
            "p1",
            "type",
            "veth",
            "peer",
            "name",
            "s0",
            "netns",
            server.name(),
        ],
    );
    ip(&proxy, &["addr", "add", "198.51.100.1/24", "dev", "p1"]);
    ip(&proxy, &["link", "set", "p1", "up"]);
    ip(
        &proxy,
        &["route", "add", "203.0.113.0/24", "via", "198.51.100.2"],
    );
    ip(&server, &["addr", "add", "198.51.100.2/24", "dev", "s0"]);
    ip(&server, &["addr", "add", "203.0.113.10/32", "dev", "lo"]);
    ip(&server, &["link", "set", "s0", "up"]);
    ip(
        &server,
        &["route", "add", "192.0.2.0/24", "via", "198.51.100.1"],
    );
    sysctl(&proxy, "net.ipv4.ip_forward=1");
    sysctl(&proxy, "net.ipv4.conf.all.rp_filter=0");
    sysctl(&proxy, "net.ipv4.conf.default.rp_filter=0");

    let mut servers = KillOnDrop(
        server
            .command("python3")
            .args(["-c", SERVERS])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the servers"),
    );
    let mut server_out = BufReader::new(servers.0.stdout.take().unwrap());
    assert_eq!(
        read_line_within(&mut server_out, Duration::from_secs(20)).trim(),
        "ready"
    );

    // What comes from the client goes into finack's device.
    ip(&proxy, &["rule", "add", "iif", "p0", "lookup", "100"]);
    let (mut finack, mut proxy_out, banner) = start_proxy(&proxy, &["--max-connections", "207"]);
    assert!(banner.contains(" directly;"), "{banner}");

    // curl: a page of 1,024,000 bytes, byte for byte.
    let page = client
        .command("curl")
        .args([
            "-sS",
            "--fail",
            "--max-time",
            "60",
            "http://203.0.113.10:8080/",
        ])
        .output()
        .expect("run curl");
    assert!(
        page.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&page.stderr)
    );
    let want: Vec<u8> = (0..4000).flat_map(|_| 0u8..=255).collect();
    assert!(
        page.stdout == want,
        "page differs ({} bytes)",
        page.stdout.len()
    );

    // socat: an echo; socat half-closes when its input ends.
    let echo = client
        .command("sh")
        .args([
            "-c",
            "printf hello | timeout 30 socat -t 10 - TCP:203.0.113.10:7000",
        ])
        .output()
        .expect("run socat");
    assert_eq!(String::from_utf8_lossy(&echo.stdout), "hello");

    // 200 concurrent connections, each echoed intact.
    let many = python(
        &client,
        r#"
import socket, threading
ok = []
def one(i):
    s = socket.create_connection(("203.0.113.10", 7000), timeout=60)
    data = bytes([(i + k) % 256 for k in range(1000)])
    s.sendall(data); s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(65536)
        if not b: break
        got += b
    ok.append(got == data); s.close()
ts = [threading.Thread(target=one, args=(i,)) for i in range(200)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(ok))
"#,
    );
    assert_eq!(many, "200");

    // 1 GiB, checked by its SHA-256 at the far end.
    let big = python(
        &client,
        r#"
import hashlib, os, socket
block = os.urandom(1 << 20); h = hashlib.sha256()
s = socket.create_connection(("203.0.113.10", 7004), timeout=60)
for _ in range(1024):
    s.sendall(block); h.update(block)
s.shutdown(socket.SHUT_WR)
reply = b""
while True:
    b = s.recv(4096)
    if not b: break
    reply += b
print(reply.decode() == "%d %s" % (1 << 30, h.hexdigest()))
"#,
    );
    assert_eq!(big, "True");

    // The client's half-close reaches the server, whose answer comes back.
    let half = python(
        &client,
        r#"
import socket
s = socket.create_connection(("203.0.113.10", 7001), timeout=30)
s.sendall(b"abc"); s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode())
"#,
    );
    assert_eq!(half, "got 3");

    // The server's RST reaches the client.
    let reset = python(
        &client,
        r#"
import socket, time
s = socket.create_connection(("203.0.113.10", 7002), timeout=30)
s.sendall(b"hello")
try:
    while s.recv(100): pass
    print("closed")
except ConnectionResetError:
    print("reset")
"#,
    );
    assert_eq!(reset, "reset");

    // The client's RST reaches the server.
    python(
        &client,
        r#"
import socket, struct, time
s = socket.create_connection(("203.0.113.10", 7005), timeout=30)
s.sendall(b"x"); time.sleep(0.5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()
"#,
    );
    assert_eq!(
        read_line_within(&mut server_out, Duration::from_secs(30)).trim(),
        "peer reset"
    );

    // A destination that refuses: the client is reset.
    let refused = python(&client, REFUSED);
    assert_eq!(refused, "reset");

    // Every one of the 207 connections went through finack (none took the
    // kernel's own route), and the proxy says how each ended.
    let started = Instant::now();
    let status = loop {
        if let Some(s) = finack.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "finack proxy did not stop after 207 connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut proxy_out, &mut rest).expect("read the proxy's output");
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("relayed 207 connections"), "{rest}");
    let lines = |pat: &str| rest.lines().filter(|l| l.contains(pat)).count();
    assert_eq!(lines("-> 203.0.113.10:7000: "), 201, "{rest}");
    assert_eq!(
        lines("-> 203.0.113.10:7004: 1073741824 bytes up"),
        1,
        "{rest}"
    );
    assert_eq!(
        lines("-> 203.0.113.10:7002: reset by the server, passed on"),
        1,
        "{rest}"
    );
    assert_eq!(
        lines("-> 203.0.113.10:7005: reset by the client, passed on"),
        1,
        "{rest}"
    );
    assert_eq!(lines("-> 203.0.113.10:7999: cannot connect"), 1, "{rest}");

    // Again through a SOCKS5 server in the server namespace.
    let mut socks = KillOnDrop(
        server
            .command("python3")
            .args(["-c", SOCKS5])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SOCKS5 server"),
    );
    let mut socks_out = BufReader::new(socks.0.stdout.take().unwrap());
    assert_eq!(
        read_line_within(&mut socks_out, Duration::from_secs(20)).trim(),
        "ready"
    );
    let (_finack, mut proxy_out, banner) = start_proxy(
        &proxy,
        &["--socks5", "198.51.100.2:1080", "--max-connections", "2"],
    );
    assert!(
        banner.contains("through SOCKS5 198.51.100.2:1080"),
        "{banner}"
    );
    let echo = client
        .command("sh")
        .args([
            "-c",
            "printf 'via socks' | timeout 30 socat -t 10 - TCP:203.0.113.10:7000",
        ])
        .output()
        .expect("run socat");
    assert_eq!(String::from_utf8_lossy(&echo.stdout), "via socks");
    let refused = python(&client, REFUSED);
    assert_eq!(refused, "reset");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut proxy_out, &mut rest).expect("read the proxy's output");
    assert!(rest.contains("relayed 2 connections"), "{rest}");
    assert!(
        rest.contains("-> 203.0.113.10:7000: 9 bytes up, 9 bytes down"),
        "{rest}"
    );
    assert!(
        rest.contains("-> 203.0.113.10:7999: cannot connect"),
        "{rest}"
    );
    // The SOCKS5 server saw both requests.
    let asked: Vec<String> = (0..2)
        .map(|_| {
            read_line_within(&mut socks_out, Duration::from_secs(10))
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(
        asked,
        ["CONNECT 203.0.113.10:7000", "CONNECT 203.0.113.10:7999"]
    );
}

/// A SOCKS5 server (RFC 1928, no authentication, CONNECT to IPv4
/// addresses) on 198.51.100.2:1080 that prints each request.
const SOCKS5: &str = r#"
import socket, struct, threading
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def handle(c):
    c.recv(3); c.sendall(b"\x05\x00")
    req = c.recv(10)
    host = socket.inet_ntoa(req[4:8]); port = struct.unpack("!H", req[8:10])[0]
    print("CONNECT %s:%d" % (host, port), flush=True)
    try:
        u = socket.create_connection((host, port), timeout=10)
    except OSError:
        c.sendall(b"\x05\x05\x00\x01" + bytes(6)); c.close(); return
    c.sendall(b"\x05\x00\x00\x01" + bytes(6))
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
    pipe(c, u)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 1080)); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"#;
