//! socketbox's receiving-side programs, with their original command lines: `socketbox-inetd`,
//! `socketbox-inetd-p`, `socketbox-relay`, `send-receive-fd`, `socket-query`. Each is a
//! subcommand (`socketbox inetd ...`) and runs when the binary is called by that name (the
//! links `make install` adds). Receiving and registering is libsocketbox's code (src/capi).
//! See docs/router.md, "Receiving-side programs".

use std::ffi::OsString;
use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use socketbox as skbox;
use sockswap_core::errno;
use sockswap_core::socketbox::wire::{self, ProxyVersion};

use crate::relay::Upstream;
use crate::sys;

/// (subcommand, the original program's name, its entry point).
type Applet = fn(&str, &[String]) -> i32;
const APPLETS: &[(&str, &str, Applet)] = &[
    ("inetd", "socketbox-inetd", inetd),
    ("inetd-p", "socketbox-inetd-p", inetd_p),
    ("relay", "socketbox-relay", relay),
    ("send-receive-fd", "send-receive-fd", send_receive_fd),
    ("socket-query", "socket-query", socket_query),
];

/// The applet `argv0` (by its original program name) or `args[0]` (by subcommand) names, run
/// to its exit status; None if neither names one.
pub fn dispatch(argv0: &str, args: &[String]) -> Option<i32> {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if let Some((_, name, run)) = APPLETS.iter().find(|(_, name, _)| *name == base) {
        return Some(run(name, args));
    }
    let (_, name, run) = APPLETS
        .iter()
        .find(|(sub, _, _)| Some(*sub) == args.first().map(String::as_str))?;
    Some(run(name, &args[1..]))
}

/// An error in words: `ENOENT (No such file or directory)`.
fn words(e: &std::io::Error) -> String {
    let text = e.to_string();
    let meaning = text.split(" (os error").next().unwrap_or(&text);
    match e.raw_os_error().and_then(errno::name) {
        Some(name) => format!("{name} ({meaning})"),
        None => meaning.to_string(),
    }
}

/// Default for `--max-children` of the inetd programs (the router's `[[spawn]]` default).
const DEFAULT_MAX_CHILDREN: usize = 64;

/// A leading `--max-children N` (the only option; socketbox's programs have none, so their
/// command lines are unchanged), then the positional arguments.
fn max_children(prog: &str, args: &[String]) -> Result<(usize, usize), String> {
    match args.first().map(String::as_str) {
        Some("--max-children") => {
            let n = args
                .get(1)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{prog}: --max-children needs a number above 0"))?;
            Ok((n, 2))
        }
        Some(a) if a.starts_with("--max-children=") => {
            let v = &a["--max-children=".len()..];
            let n = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("{prog}: --max-children needs a number above 0, not '{v}'")
            })?;
            Ok((n, 1))
        }
        _ => Ok((DEFAULT_MAX_CHILDREN, 0)),
    }
}

/// Runs `argv` once per received connection (the socket on stdin and stdout, in a session of
/// its own), at most `max` at once: at the limit it stops receiving until a child exits, so
/// further connections wait in the socket's queue (and the router's) instead of being lost.
fn serve_children(prog: &str, sock: RawFd, argv: &[String], max: usize) -> i32 {
    let mut running = 0usize;
    loop {
        // Reap what has exited; at the limit, wait for one.
        loop {
            let flags = if running >= max { 0 } else { libc::WNOHANG };
            let mut status = 0;
            // SAFETY: plain syscall.
            let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
            if pid > 0 {
                running = running.saturating_sub(1);
            } else if pid == 0 || running < max {
                break;
            } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                running = 0;
                break;
            }
        }
        let conn = match skbox::receive_fd(sock, true) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOLINK) => return 0,
            Err(e) => {
                eprintln!("{prog}: receiving a connection: {}", words(&e));
                return 1;
            }
        };
        let (Ok(inp), Ok(out)) = (conn.try_clone(), conn.try_clone()) else {
            eprintln!("{prog}: dup: out of file descriptors; connection closed");
            continue;
        };
        drop(conn);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::from(inp))
            .stdout(Stdio::from(out));
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(child) => {
                drop(child); // reaped above by waitpid
                running += 1;
            }
            Err(e) => eprintln!(
                "{prog}: cannot run {}: {}; connection closed",
                argv[0],
                words(&e)
            ),
        }
    }
}

/// The inetd programs' arguments: the child limit, then at least `needed` positional ones
/// (`usage` names them); Err(exit status) after printing why.
fn inetd_args<'a>(
    prog: &str,
    args: &'a [String],
    needed: usize,
    usage: &str,
) -> Result<(usize, &'a [String]), i32> {
    let (max, skip) = max_children(prog, args).map_err(|e| {
        eprintln!("{e}");
        1
    })?;
    let args = &args[skip..];
    if args.len() < needed {
        eprintln!("Usage: {prog} [--max-children N] {usage}");
        return Err(1);
    }
    skbox::set_validation_level(-1);
    Ok((max, args))
}

/// `socketbox-inetd [--max-children N] SOCKET PROGRAM [ARGS...]`: an A receiver at SOCKET.
fn inetd(prog: &str, args: &[String]) -> i32 {
    let (max, args) = match inetd_args(prog, args, 2, "SOCKET PROGRAM [ARGUMENTS...]") {
        Ok(x) => x,
        Err(rc) => return rc,
    };
    let sock = match a_receiver(&args[0]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{prog}: {e}");
            return 1;
        }
    };
    serve_children(prog, sock.as_raw_fd(), &args[1..], max)
}

/// An A receiver socket at `path` (replacing a stale socket file, never a live socket or
/// another file), mode 0660, blocking.
fn a_receiver(path: &str) -> Result<OwnedFd, String> {
    let s = crate::listen::unix_bind(path, libc::SOCK_DGRAM)?;
    crate::listen::chmod_chown(path, Some(0o660), None, None)?;
    sys::set_nonblocking(s.as_raw_fd(), false).map_err(|e| format!("{path}: {}", words(&e)))?;
    Ok(s)
}

/// `socketbox-inetd-p [--max-children N] SOCKET SLOT PROGRAM [ARGS...]`: a B client of slot SLOT
/// (a number as C's strtoul reads it: 0x.. hex, 0.. octal); exits 0 when the router closes.
fn inetd_p(prog: &str, args: &[String]) -> i32 {
    let (max, args) = match inetd_args(prog, args, 3, "SOCKET SLOT PROGRAM [ARGUMENTS...]") {
        Ok(x) => x,
        Err(rc) => return rc,
    };
    let Ok(slot) = u32::try_from(skbox::strtoul0(args[1].as_bytes())) else {
        eprintln!("{prog}: slot '{}' is out of range (0..4294967295)", args[1]);
        return 1;
    };
    let sock = match skbox::register_connect(args[0].as_bytes(), slot) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "{prog}: registering slot {slot} at {}: {}",
                args[0],
                words(&e)
            );
            return 1;
        }
    };
    serve_children(prog, sock.as_raw_fd(), &args[2..], max)
}

/// A minimal getopt: `spec` lists the option letters, a ':' after one means it takes a value
/// (`-p80` or `-p 80`); clusters (`-la`) work; options end at `--` or the first non-option.
fn getopt(spec: &str, args: &[String]) -> Result<(Vec<(char, String)>, usize), char> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return Ok((out, i + 1));
        }
        if !a.starts_with('-') || a.len() < 2 {
            break;
        }
        i += 1;
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            let Some(at) = spec.find(c).filter(|_| c != ':') else {
                return Err(c);
            };
            if spec[at + c.len_utf8()..].starts_with(':') {
                let value = if j < chars.len() {
                    chars[j..].iter().collect()
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(c);
                };
                out.push((c, value));
                break;
            }
            out.push((c, String::new()));
        }
    }
    Ok((out, i))
}

/// C's atoi: the leading decimal number, 0 if none (socketbox reads fds and ports this way).
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n: i64 = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg {
        -n
    } else {
        n
    }
}

/// A number that must be all digits (fd numbers, ports): socketbox's atoi would read "x" as 0.
fn number<T: TryFrom<i64>>(prog: &str, what: &str, s: &str) -> Result<T, String> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| atoi(s))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{prog}: {what}: '{s}' is not a number in range"))
}

/// How `socketbox-relay` reaches its upstream.
#[derive(Debug, Clone)]
struct RelayOptions {
    remote: SocketAddrV6,
    unix: Option<String>,
    nat64: bool,
    nat64_prefix: Ipv6Addr,
    extended: bool,
    proxy: bool,
}

const RELAY_USAGE: &str = "[-I interface] [-n interface_id] [-c connect_addr] [-p connect_port] [-l listen_fd] [-u unix_socket] [-s socketbox_socket] [-e (listen_fd is an A socket)] [-N (nat64_range)] [-P nat64_prefix] [-i (enable proxy protocol)] [-x (/64 instead of /96 for NAT64 mode)]";

/// Where a connection with local address `local` goes, or None when NAT64 mode refuses it (its
/// local address is outside the prefix).
fn relay_target(o: &RelayOptions, local: SocketAddrV6) -> Option<Result<SocketAddrV6, String>> {
    let l = local.ip().octets();
    let p = o.nat64_prefix.octets();
    if let Some(path) = &o.unix {
        if !o.nat64 {
            return Some(Err(path.clone()));
        }
        if l[..12] != p[..12] {
            return None;
        }
        let v4 = u32::from_be_bytes([l[12], l[13], l[14], l[15]]);
        return Some(Err(format!("{path}-{v4:08x}")));
    }
    if !o.nat64 {
        return Some(Ok(o.remote));
    }
    let prefix_len = if o.extended { 8 } else { 12 };
    if l[..prefix_len] != p[..prefix_len] {
        return None;
    }
    let mut addr = o.remote.ip().octets();
    if o.extended {
        addr[8..12].copy_from_slice(&l[8..12]);
    }
    addr[12..].copy_from_slice(&l[12..]);
    let port = if o.remote.port() == 0 {
        local.port()
    } else {
        o.remote.port()
    };
    Some(Ok(SocketAddrV6::new(
        addr.into(),
        port,
        0,
        o.remote.scope_id(),
    )))
}

fn v6(a: SocketAddr) -> SocketAddrV6 {
    match a {
        SocketAddr::V6(a) => a,
        SocketAddr::V4(a) => SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0),
    }
}

fn connect_unix(path: &str) -> std::io::Result<UnixStream> {
    let s = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
    let addr = sys::RawAddr::from_unix_name(path.as_bytes())?;
    sys::connect(s.as_raw_fd(), &addr)?;
    Ok(UnixStream::from(s))
}

fn relay_one(prog: &str, o: &RelayOptions, conn: OwnedFd) {
    let local = sys::local_addr(conn.as_raw_fd())
        .ok()
        .and_then(|a| a.to_inet())
        .map(v6);
    let remote = sys::peer_addr(conn.as_raw_fd())
        .ok()
        .and_then(|a| a.to_inet())
        .map(v6);
    let zero = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0);
    let (local, remote) = (local.unwrap_or(zero), remote.unwrap_or(zero));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    eprintln!(
        "{now} [{}]:{} -> [{}]:{}",
        remote.ip(),
        remote.port(),
        local.ip(),
        local.port()
    );
    let up = match relay_target(o, local) {
        None => return, // NAT64 mode: not in the prefix
        Some(Err(path)) => match connect_unix(&path) {
            Ok(s) => Upstream::Unix(s),
            Err(e) => {
                eprintln!("{prog}: connect {path}: {}", words(&e));
                return;
            }
        },
        Some(Ok(to)) => {
            let _ = sys::setsockopt_int(conn.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
            let mut s = match TcpStream::connect(SocketAddr::V6(to)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{prog}: connect [{}]:{}: {}", to.ip(), to.port(), words(&e));
                    return;
                }
            };
            let _ = s.set_nodelay(true);
            if o.proxy {
                let mut hdr = [0u8; 536];
                let n = wire::proxy_header(
                    ProxyVersion::V1,
                    SocketAddr::V6(remote),
                    SocketAddr::V6(local),
                    &mut hdr,
                );
                if s.write_all(&hdr[..n]).is_err() {
                    return;
                }
            }
            Upstream::Tcp(s)
        }
    };
    crate::relay::copy_both_ways(conn, up);
}

/// `socketbox-relay [options]`: takes connections (accepted from the listening socket `-l FD`,
/// default 0; or received as an A receiver at `-s PATH`, or on the A socket `-e -l FD`) and
/// relays each to `-c ADDR -p PORT` (default [::1]:80) or the Unix stream socket `-u PATH`
/// (`@name`: abstract), one thread per direction.
fn relay(prog: &str, args: &[String]) -> i32 {
    let usage = || {
        eprintln!("{prog} {RELAY_USAGE}");
        1
    };
    let (opts, used) = match getopt("I:n:c:p:l:u:NxP:s:ei", args) {
        Ok(x) => x,
        Err(_) => return usage(),
    };
    if used < args.len() {
        return usage();
    }
    let mut o = RelayOptions {
        remote: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 0, 0),
        unix: None,
        nat64: false,
        nat64_prefix: Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        extended: false,
        proxy: false,
    };
    let (mut listen_fd, mut receive_only, mut socketbox_path) = (0, false, None);
    for (c, v) in opts {
        let r: Result<(), String> = (|| {
            match c {
                'I' => {
                    let name = sys::cstring(&v).map_err(|e| e.to_string())?;
                    // SAFETY: a valid C string.
                    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
                    if idx == 0 {
                        return Err(format!("-I {v}: no such interface"));
                    }
                    o.remote.set_scope_id(idx);
                }
                'n' => o.remote.set_scope_id(number(prog, "-n", &v)?),
                'c' => o.remote.set_ip(v.parse().map_err(|_| {
                    format!("-c: invalid IPv6 address {v} (write ::ffff: before an IPv4 address, -I for a scope)")
                })?),
                'p' => o.remote.set_port(number(prog, "-p", &v)?),
                'l' => listen_fd = number(prog, "-l", &v)?,
                'u' => o.unix = Some(v),
                'N' => o.nat64 = true,
                'P' => o.nat64_prefix = v.parse().map_err(|_| format!("-P: invalid IPv6 address {v}"))?,
                'e' => receive_only = true,
                's' => socketbox_path = Some(v),
                'i' => o.proxy = true,
                'x' => o.extended = true,
                _ => unreachable!("getopt returns only letters of its spec"),
            }
            Ok(())
        })();
        if let Err(e) = r {
            eprintln!("{prog}: {e}");
            return 1;
        }
    }
    skbox::set_validation_level(-1);
    // The source of connections: fd ownership passes to `source`.
    let source: OwnedFd = if let Some(path) = &socketbox_path {
        match a_receiver(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{prog}: {e}");
                return 1;
            }
        }
    } else {
        if let Err(e) = sys::getsockopt_int(listen_fd, libc::SOL_SOCKET, libc::SO_TYPE) {
            eprintln!("{prog}: fd {listen_fd}: {}", words(&e));
            return 1;
        }
        if !receive_only {
            if let Err(e) = sys::listen(listen_fd, 100) {
                eprintln!("{prog}: listen on fd {listen_fd}: {}", words(&e));
                return 1;
            }
        }
        // SAFETY: the fd was handed to this program to use for good.
        unsafe { OwnedFd::from_raw_fd(listen_fd) }
    };
    let receive = socketbox_path.is_some() || receive_only;
    if !receive {
        let _ = sys::set_nonblocking(source.as_raw_fd(), false);
    }
    let o = std::sync::Arc::new(o);
    loop {
        let conn = if receive {
            skbox::receive_fd(source.as_raw_fd(), true)
        } else {
            sys::accept(source.as_raw_fd()).map(|(fd, _)| fd)
        };
        match conn {
            Ok(conn) => {
                let (o, name) = (o.clone(), prog.to_string());
                let spawned = std::thread::Builder::new()
                    .name("relay".into())
                    .spawn(move || relay_one(&name, &o, conn));
                if let Err(e) = spawned {
                    eprintln!("{prog}: thread: {e}; connection closed");
                }
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR | libc::ECONNABORTED) => {}
                Some(libc::ENOLINK) => return 0,
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                    // Out of fds: connections wait in the kernel's queue until relays end.
                    eprintln!("{prog}: {}; waiting", words(&e));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                _ => {
                    eprintln!("{prog}: taking a connection: {}", words(&e));
                    return 1;
                }
            },
        }
    }
}

/// `send-receive-fd -r FD PROGRAM [ARGS...]`: receive one fd on socket FD and run PROGRAM with
/// it open and its number in SKBOX_RECEIVED_FD. `send-receive-fd -s FD_TO_SEND FD`: send fd
/// FD_TO_SEND over socket FD as an A datagram.
fn send_receive_fd(prog: &str, args: &[String]) -> i32 {
    // Options may come before or after the socket fd number; what follows it is the program.
    let mut receive = false;
    let mut send: Option<RawFd> = None;
    let mut rest = args;
    let mut sock: Option<&str> = None;
    while let Some(a) = rest.first() {
        if sock.is_some() && !a.starts_with('-') {
            break;
        }
        match getopt("rs:", rest) {
            Err(c) => {
                eprintln!("{prog}: unknown option -{c}");
                return 1;
            }
            Ok((opts, used)) => {
                for (c, v) in opts {
                    if c == 'r' {
                        receive = true;
                    } else {
                        match number(prog, "-s", &v) {
                            Ok(fd) => send = Some(fd),
                            Err(e) => {
                                eprintln!("{e}");
                                return 1;
                            }
                        }
                    }
                }
                rest = &rest[used..];
                if sock.is_none() {
                    if let Some((first, tail)) = rest.split_first() {
                        sock = Some(first);
                        rest = tail;
                    }
                } else if used == 0 {
                    break;
                }
            }
        }
    }
    let (Some(sock), true) = (sock, receive || send.is_some()) else {
        eprintln!("{prog}: File descriptor number and one of -r or -s required");
        return 1;
    };
    let sock: RawFd = match number(prog, "socket fd", sock) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if receive {
        let fd = match skbox::receive_fd(sock, false) {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("{prog}: recvmsg: {}", words(&e));
                return 1;
            }
        };
        let Some((program, program_args)) = rest.split_first() else {
            eprintln!("{prog}: no program to run with the received fd");
            return 127;
        };
        let n = std::os::fd::IntoRawFd::into_raw_fd(fd);
        // SAFETY: fcntl on our fd: clear FD_CLOEXEC so the program inherits it.
        unsafe { libc::fcntl(n, libc::F_SETFD, 0) };
        let e = Command::new(program)
            .args(program_args)
            .env("SKBOX_RECEIVED_FD", n.to_string())
            .exec();
        eprintln!("{prog}: cannot run {program}: {}", words(&e));
        return 127;
    }
    let send = send.unwrap_or(-1);
    // SAFETY: no address.
    match unsafe { skbox::send_fd(sock, send, std::ptr::null(), 0) } {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{prog}: skbox_send_fd: {}", words(&e));
            1
        }
    }
}

/// What `socket-query` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Both,
    LocalAll,
    RemoteAll,
    LocalAddr,
    RemoteAddr,
    LocalPort,
    RemotePort,
}

/// socket-query's formats: `[xxxx:...:xxxx]:port` (every group 4 hex digits), or with `raw`
/// 32 upper-case hex digits and `:PPPP`; `Both` is "local remote".
fn query_text(q: Query, raw: bool, local: SocketAddrV6, remote: SocketAddrV6) -> String {
    let addr = |a: &SocketAddrV6| {
        if raw {
            a.ip()
                .octets()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        } else {
            a.ip()
                .segments()
                .iter()
                .map(|g| format!("{g:04x}"))
                .collect::<Vec<_>>()
                .join(":")
        }
    };
    let port = |a: &SocketAddrV6| {
        if raw {
            format!("{:04X}", a.port())
        } else {
            a.port().to_string()
        }
    };
    let all = |a: &SocketAddrV6| {
        if raw {
            format!("{}:{}", addr(a), port(a))
        } else {
            format!("[{}]:{}", addr(a), port(a))
        }
    };
    match q {
        Query::Both => format!("{} {}", all(&local), all(&remote)),
        Query::LocalAll => all(&local),
        Query::RemoteAll => all(&remote),
        Query::LocalAddr => addr(&local),
        Query::RemoteAddr => addr(&remote),
        Query::LocalPort => port(&local),
        Query::RemotePort => port(&remote),
    }
}

/// `socket-query [-l[a|p]] [-r[a|p]] [-R] [-f FD]`: print the local and/or remote address of
/// socket FD (default 0). IPv4 sockets print as `::ffff:a.b.c.d` (socketbox refuses them).
fn socket_query(prog: &str, args: &[String]) -> i32 {
    let usage = || {
        eprintln!("Usage: {prog} [-l[a|p]] [-r[a|p]] -R [-f SOCKET_FD]");
        1
    };
    let Ok((opts, used)) = getopt("aplrRf:", args) else {
        return usage();
    };
    if used < args.len() {
        return usage();
    }
    let (mut q, mut raw, mut fd) = (Query::Both, false, 0);
    for (c, v) in opts {
        q = match (c, q) {
            ('l', _) => Query::LocalAll,
            ('r', _) => Query::RemoteAll,
            ('a', Query::LocalAll) => Query::LocalAddr,
            ('a', Query::RemoteAll) => Query::RemoteAddr,
            ('p', Query::LocalAll) => Query::LocalPort,
            ('p', Query::RemoteAll) => Query::RemotePort,
            ('a' | 'p', _) => return usage(),
            ('R', q) => {
                raw = true;
                q
            }
            (_, q) => {
                fd = match number(prog, "-f", &v) {
                    Ok(fd) => fd,
                    Err(e) => {
                        eprintln!("{e}");
                        return 1;
                    }
                };
                q
            }
        };
    }
    let get = |peer: bool| {
        let r = if peer {
            sys::peer_addr(fd)
        } else {
            sys::local_addr(fd)
        };
        r.and_then(|a| {
            a.to_inet()
                .map(v6)
                .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
        })
    };
    let needs_local = !matches!(q, Query::RemoteAll | Query::RemoteAddr | Query::RemotePort);
    let needs_remote = !matches!(q, Query::LocalAll | Query::LocalAddr | Query::LocalPort);
    let zero = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0);
    let remote = if needs_remote {
        match get(true) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{prog}: getpeername: {}", words(&e));
                return 1;
            }
        }
    } else {
        zero
    };
    let local = if needs_local {
        match get(false) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{prog}: getsockname: {}", words(&e));
                return 1;
            }
        }
    } else {
        zero
    };
    let line = query_text(q, raw, local, remote);
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        eprintln!("{prog}: stdout: write error");
        return 1;
    }
    0
}

/// The program's own name as the kernel gave it (argv[0]), for dispatch by link name.
pub fn argv0() -> String {
    std::env::args_os()
        .next()
        .map(|a: OsString| String::from_utf8_lossy(&a.into_vec()).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn getopt_like_c() {
        assert_eq!(
            getopt("rs:", &s(&["-rs5", "3", "prog"])),
            Ok((vec![('r', String::new()), ('s', "5".into())], 1))
        );
        assert_eq!(
            getopt("aplrRf:", &s(&["-la", "-f", "4"])),
            Ok((
                vec![
                    ('l', String::new()),
                    ('a', String::new()),
                    ('f', "4".into())
                ],
                3
            ))
        );
        assert_eq!(getopt("ab", &s(&["-c"])), Err('c'));
        assert_eq!(getopt("f:", &s(&["-f"])), Err('f'));
        assert_eq!(getopt("a", &s(&["--", "-a"])), Ok((vec![], 1)));
    }

    #[test]
    fn query_formats() {
        let l = SocketAddrV6::new("::ffff:127.0.0.1".parse().unwrap(), 80, 0, 0);
        let r = SocketAddrV6::new("fd00::1:2".parse().unwrap(), 443, 0, 0);
        assert_eq!(query_text(Query::Both, false, l, r),
            "[0000:0000:0000:0000:0000:ffff:7f00:0001]:80 [fd00:0000:0000:0000:0000:0000:0001:0002]:443");
        assert_eq!(
            query_text(Query::LocalAll, true, l, r),
            "00000000000000000000FFFF7F000001:0050"
        );
        assert_eq!(query_text(Query::RemotePort, true, l, r), "01BB");
        assert_eq!(
            query_text(Query::RemoteAddr, false, l, r),
            "fd00:0000:0000:0000:0000:0000:0001:0002"
        );
    }

    #[test]
    fn nat64_targets() {
        let mut o = RelayOptions {
            remote: SocketAddrV6::new("::ffff:0.0.0.0".parse().unwrap(), 0, 0, 0),
            unix: None,
            nat64: true,
            nat64_prefix: "64:ff9b::".parse().unwrap(),
            extended: false,
            proxy: false,
        };
        let local = SocketAddrV6::new("64:ff9b::c000:201".parse().unwrap(), 8080, 0, 0);
        assert_eq!(
            relay_target(&o, local),
            Some(Ok(SocketAddrV6::new(
                "::ffff:192.0.2.1".parse().unwrap(),
                8080,
                0,
                0
            )))
        );
        assert_eq!(
            relay_target(
                &o,
                SocketAddrV6::new("64:ff9b:1::1".parse().unwrap(), 1, 0, 0)
            ),
            None
        );
        o.unix = Some("/run/x".into());
        assert_eq!(relay_target(&o, local), Some(Err("/run/x-c0000201".into())));
        o.nat64 = false;
        assert_eq!(relay_target(&o, local), Some(Err("/run/x".into())));
    }
}
