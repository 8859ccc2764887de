//! The typed syntax tree of a packetdrill script.
//!
//! The tree keeps what the script says, not what it means: sequence numbers are
//! the script's relative numbers, times are the script's times (in microseconds),
//! and syscall arguments are generic expressions that the interpreter gives a
//! meaning to. Every event carries the position of its first token.

use core::fmt;

/// A position in a script: 1-based line and column (in characters).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number, starting at 1, counted in characters.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A whole parsed script.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Script {
    /// The file name used in error messages.
    pub path: String,
    /// `--name[=value]` lines at the top of the script.
    pub options: Vec<ScriptOption>,
    /// The back-quoted shell command before the first event (usually the
    /// `defaults.sh` call and sysctl tweaks).
    pub init_command: Option<Command>,
    /// The timed events, in script order.
    pub events: Vec<Event>,
    /// The back-quoted shell command after the last event (usually restoring sysctls).
    pub cleanup_command: Option<Command>,
    /// Every comment, in order; the self-test scripts state their expected
    /// failure in a `// Failure:` comment.
    pub comments: Vec<Comment>,
}

/// A `--name` or `--name=value` option line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptOption {
    /// Where the option starts.
    pub pos: Pos,
    /// The name without the leading dashes.
    pub name: String,
    /// The text after `=`, if any (quotes removed for a quoted value).
    pub value: Option<String>,
}

/// A back-quoted shell command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Where the opening back quote is.
    pub pos: Pos,
    /// The text between the back quotes, verbatim (may span lines).
    pub text: String,
}

impl Command {
    /// The non-empty lines of the command, trimmed.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines().map(str::trim).filter(|l| !l.is_empty())
    }
}

/// A `//` or `/* */` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Where the comment starts.
    pub pos: Pos,
    /// The text without the comment markers, trimmed.
    pub text: String,
}

/// When an event happens.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EventTime {
    /// `1.5`: microseconds since the start of the script.
    Absolute(i64),
    /// `+0.1`: microseconds after the previous event.
    Relative(i64),
    /// `*`: any time (outbound packets only).
    Any,
    /// `a~b`: an absolute window (outbound packets only).
    AbsoluteRange(i64, i64),
    /// `+a~+b`: a window relative to the previous event (outbound packets only).
    RelativeRange(i64, i64),
}

/// One timed line of the script.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Where the event's time starts.
    pub pos: Pos,
    /// When it happens.
    pub time: EventTime,
    /// What happens.
    pub action: Action,
}

/// What an event does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// An inbound or outbound packet.
    Packet(Packet),
    /// A system call and its expected result.
    Syscall(Syscall),
    /// A back-quoted shell command run at that time.
    Command(Command),
    /// A `%{ ... }%` Python block.
    Code(Code),
}

/// A `%{ ... }%` block. packetdrill evaluates these in Python after the script
/// ran, with the `tcpi_*` fields of `TCP_INFO` taken at that point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// The raw text between the delimiters, with surrounding blanks removed.
    pub text: String,
    /// The distinct `tcpi_*` names the block mentions, in first-seen order.
    pub tcpi_names: Vec<String>,
}

/// Which way a packet goes, seen from the stack under test.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `<`: the script injects it into the stack.
    Inbound,
    /// `>`: the stack is expected to send it.
    Outbound,
}

/// IP-level details in `[...]` or `(...)` after the direction.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IpInfo {
    /// The ECN codepoint or TOS the packet carries or must carry.
    pub tos: Option<TosSpec>,
    /// `flowlabel 0x...` (IPv6).
    pub flow_label: Option<u32>,
    /// `ttl N`.
    pub ttl: Option<u8>,
}

/// A TOS / ECN specification.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TosSpec {
    /// `noecn`.
    NoEcn,
    /// `ect0`.
    Ect0,
    /// `ect1`.
    Ect1,
    /// `ce`.
    Ce,
    /// `ect01`: either ECT codepoint (outbound only).
    Ect01,
    /// `tos 0x..`: the whole TOS byte.
    Tos(u8),
}

/// A packet line.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// Inbound or outbound.
    pub direction: Direction,
    /// Optional IP details.
    pub ip: IpInfo,
    /// The transport part.
    pub body: PacketBody,
}

/// The transport part of a packet line.
#[derive(Clone, Debug, PartialEq)]
pub enum PacketBody {
    /// A TCP segment.
    Tcp(TcpSegment),
    /// `udp (N)`: a UDP datagram with N payload bytes.
    Udp {
        /// Optional `src>dst` ports.
        ports: Option<(u16, u16)>,
        /// Payload length.
        len: u16,
    },
    /// An ICMP message.
    Icmp(Icmp),
}

/// TCP flags as written: each of `F S R P U E W A` and `.` (ACK).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Flags {
    /// `F`.
    pub fin: bool,
    /// `S`.
    pub syn: bool,
    /// `R`.
    pub rst: bool,
    /// `P`.
    pub psh: bool,
    /// `.`.
    pub ack: bool,
    /// `U`.
    pub urg: bool,
    /// `E`.
    pub ece: bool,
    /// `W`.
    pub cwr: bool,
    /// `A`: the AccECN AE bit.
    pub ae: bool,
}

impl Flags {
    /// Parses a flag string such as `S.`, `P.`, `FP.` or `-` (no flags); returns
    /// the first character that is not a flag on failure.
    pub fn parse(text: &str) -> Result<Flags, char> {
        let mut f = Flags::default();
        if text == "-" {
            return Ok(f);
        }
        for c in text.chars() {
            match c {
                'F' => f.fin = true,
                'S' => f.syn = true,
                'R' => f.rst = true,
                'P' => f.psh = true,
                '.' => f.ack = true,
                'U' => f.urg = true,
                'E' => f.ece = true,
                'W' => f.cwr = true,
                'A' => f.ae = true,
                other => return Err(other),
            }
        }
        Ok(f)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (on, c) in [
            (self.fin, 'F'),
            (self.syn, 'S'),
            (self.rst, 'R'),
            (self.psh, 'P'),
            (self.urg, 'U'),
            (self.ece, 'E'),
            (self.cwr, 'W'),
            (self.ae, 'A'),
            (self.ack, '.'),
        ] {
            if on {
                s.push(c);
            }
        }
        if s.is_empty() {
            s.push('-');
        }
        f.write_str(&s)
    }
}

/// A TCP segment line: `S. 0:0(0) ack 1 win 257 <mss 1460,nop,wscale 8>`.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpSegment {
    /// Optional `src>dst` ports (normally the runner's defaults).
    pub ports: Option<(u16, u16)>,
    /// The flags.
    pub flags: Flags,
    /// Relative starting sequence number.
    pub seq: u32,
    /// Payload length.
    pub len: u16,
    /// `ack N` (relative), if given.
    pub ack: Option<u32>,
    /// `win N`, if given. Outbound packets without it are not checked.
    pub win: Option<u16>,
    /// `urg N`, if given.
    pub urg: Option<u16>,
    /// The options; `None` for `<...>` (do not check, outbound only).
    /// `Some(vec![])` when the line has no options at all.
    pub options: Option<Vec<TcpOption>>,
}

/// One TCP option inside `<...>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    /// `nop`.
    Nop,
    /// `eol`.
    Eol,
    /// `mss N`.
    Mss(u16),
    /// `wscale N`.
    WindowScale(u8),
    /// `sackOK`.
    SackPermitted,
    /// `sack a:b c:d ...` (relative sequence numbers).
    Sack(Vec<(u32, u32)>),
    /// `TS val N ecr M`.
    Timestamp {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// `FO cookie` (option 34) or `FOEXP cookie` (experimental option 254).
    FastOpen {
        /// True for `FOEXP`.
        experimental: bool,
        /// The cookie as written (hex digits or a symbol); may be empty.
        cookie: String,
    },
    /// `md5 digest`.
    Md5(String),
}

/// An ICMP line: `icmp unreachable frag_needed mtu 1234 [1:1001(1000)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icmp {
    /// The type name (`unreachable`, `echo_reply`, `type_3`, ...).
    pub kind: String,
    /// The code name, if given (`port_unreachable`, `code_1`, ...).
    pub code: Option<String>,
    /// `mtu N`.
    pub mtu: Option<u32>,
    /// `id N` (echo).
    pub id: Option<u32>,
    /// What the ICMP message quotes.
    pub echoed: IcmpEchoed,
}

/// The packet an ICMP error quotes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum IcmpEchoed {
    /// Not given: a TCP header at relative sequence 0.
    #[default]
    Default,
    /// `[start:end(len)]`: a TCP segment.
    Tcp {
        /// Relative sequence number.
        seq: u32,
        /// Payload length.
        len: u16,
    },
    /// `[udp (N)]`.
    Udp(u16),
    /// `[raw (N)]`.
    Raw(u16),
}

/// A system call line: `0.1...0.2 connect(3, ..., ...) = -1 EINPROGRESS (...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Syscall {
    /// Where the call's name is.
    pub pos: Pos,
    /// The end time of a blocking call (`start...end`), in microseconds; relative
    /// to the same origin as the event time.
    pub end: Option<i64>,
    /// The call's name (any word: unknown calls parse too).
    pub name: String,
    /// The arguments.
    pub args: Vec<Expr>,
    /// The expected result.
    pub result: Expr,
    /// The expected errno name, e.g. `EINPROGRESS`.
    pub errno: Option<String>,
    /// The parenthesized note after the result or errno (`Operation now in progress`).
    pub note: Option<String>,
}

/// An argument or result expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `...`: anything.
    Ellipsis,
    /// A decimal or hex integer.
    Int(i64),
    /// A symbol such as `SOCK_STREAM` or `AF_INET`.
    Word(String),
    /// A string literal (adjacent literals are joined).
    Str(String),
    /// `"abc"...`: a string prefix.
    StrPrefix(String),
    /// `a | b`.
    Or(Box<Expr>, Box<Expr>),
    /// `name = value` inside a struct (`onoff=1`, `sa_family=AF_INET`,
    /// `msg_iov(1)=[...]`).
    Assign(Box<Expr>, Box<Expr>),
    /// `[a, b]`: an array, also the way scalars are passed by pointer (`[1]`).
    List(Vec<Expr>),
    /// `{a, b}` or `{name=value, ...}`: a struct.
    Struct(Vec<Expr>),
    /// `name(args)`: `htons(8080)`, `inet_addr("1.2.3.4")`, `msg_iov(1)`.
    Call(String, Vec<Expr>),
}

impl Expr {
    /// The integer value, for [`Expr::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Expr::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The symbol, for [`Expr::Word`].
    pub fn as_word(&self) -> Option<&str> {
        match self {
            Expr::Word(w) => Some(w),
            _ => None,
        }
    }

    /// For a struct, the value of the field `name=value`.
    pub fn field(&self, name: &str) -> Option<&Expr> {
        let Expr::Struct(items) = self else {
            return None;
        };
        items.iter().find_map(|e| match e {
            Expr::Assign(k, v) if k.as_word() == Some(name) => Some(&**v),
            _ => None,
        })
    }

    /// The single element of a one-element list (`[1000]`), as scripts pass
    /// integers by pointer.
    pub fn single(&self) -> Option<&Expr> {
        match self {
            Expr::List(v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, items: &[Expr]) -> fmt::Result {
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{e}")?;
            }
            Ok(())
        }
        match self {
            Expr::Ellipsis => f.write_str("..."),
            Expr::Int(v) => write!(f, "{v}"),
            Expr::Word(w) => f.write_str(w),
            Expr::Str(s) => write!(f, "{s:?}"),
            Expr::StrPrefix(s) => write!(f, "{s:?}..."),
            Expr::Or(a, b) => write!(f, "{a}|{b}"),
            Expr::Assign(a, b) => write!(f, "{a}={b}"),
            Expr::List(v) => {
                f.write_str("[")?;
                list(f, v)?;
                f.write_str("]")
            }
            Expr::Struct(v) => {
                f.write_str("{")?;
                list(f, v)?;
                f.write_str("}")
            }
            Expr::Call(n, v) => {
                write!(f, "{n}(")?;
                list(f, v)?;
                f.write_str(")")
            }
        }
    }
}
