//! `socketbox socket-server`: creates sockets in this process's network namespace for clients
//! in other namespaces (the shim's `netns=` rules). Protocol: `sockswap_core::netns`.
//!
//! Authentication: the client's SO_PEERCRED uid must be allowed (`--allow-uid`, default: the
//! server's own uid), and every request is checked against an allow list of families, types
//! and ports (`--allow tcp:80`, `--allow udp:5000-5099`, `--family inet6`). For `bind` the
//! server binds the socket itself, so the port is enforced; for `connect` the port of the
//! destination is checked and the client connects.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sockswap_core::addr::{self, Decoded, UnixSockaddr};
use sockswap_core::netns::{self, AllowList, Op};
use sockswap_core::xsocket;

struct Options {
    listen: String,
    mode: Option<u32>,
    uids: Vec<u32>,
    allow: AllowList,
    /// Clients served at once (each costs a thread); more are refused with EAGAIN.
    max_clients: usize,
    /// A client that sends no request for this long is disconnected.
    idle_timeout: Duration,
}

const USAGE: &str = "usage: socketbox socket-server --listen PATH|@NAME [--mode OCTAL] \
[--allow-uid UID]... --allow tcp|udp:PORT[-PORT]|* ... [--family inet|inet6|both] \
[--max-clients N] [--idle-timeout-ms MS]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        listen: String::new(),
        mode: None,
        uids: Vec::new(),
        allow: AllowList::default(),
        max_clients: 64,
        idle_timeout: Duration::from_secs(5),
    };
    let mut families = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--listen" => o.listen = value()?,
            "--mode" => {
                let v = value()?;
                o.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .map_err(|_| format!("--mode: bad octal mode '{v}'"))?,
                );
            }
            "--allow-uid" => {
                let v = value()?;
                o.uids.push(
                    sockswap_core::decimal::parse(&v)
                        .ok_or_else(|| format!("--allow-uid: not a uid: '{v}'"))?,
                );
            }
            "--max-clients" => {
                let v = value()?;
                o.max_clients = sockswap_core::decimal::parse::<u64>(&v)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--max-clients: not a positive count: '{v}'"))?
                    as usize;
            }
            "--idle-timeout-ms" => {
                let v = value()?;
                o.idle_timeout = Duration::from_millis(
                    sockswap_core::decimal::parse::<u64>(&v)
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--idle-timeout-ms: not a positive count: '{v}'"))?,
                );
            }
            "--allow" => o
                .allow
                .add_ports(&value()?)
                .map_err(|e| format!("--allow: {e}"))?,
            "--family" => {
                families = Some(match value()?.as_str() {
                    "inet" => vec![libc::AF_INET],
                    "inet6" => vec![libc::AF_INET6],
                    "both" => vec![libc::AF_INET, libc::AF_INET6],
                    v => return Err(format!("--family: expected inet, inet6 or both, not '{v}'")),
                })
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if o.listen.is_empty() {
        return Err(format!("--listen is required\n{USAGE}"));
    }
    if o.allow.ports.is_empty() {
        return Err("no --allow given: the server would refuse everything".into());
    }
    o.allow.families = families.unwrap_or_else(|| vec![libc::AF_INET, libc::AF_INET6]);
    if o.uids.is_empty() {
        // SAFETY: geteuid has no preconditions.
        o.uids.push(unsafe { libc::geteuid() });
    }
    Ok(o)
}

fn last_err() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn listen_socket(o: &Options) -> Result<OwnedFd, String> {
    let sa = match o.listen.strip_prefix('@') {
        Some(name) => UnixSockaddr::abstract_name(name.as_bytes()),
        None => UnixSockaddr::path(o.listen.as_bytes()),
    }
    .map_err(|_| format!("--listen: '{}' is too long for a Unix socket", o.listen))?;
    // SAFETY: plain socket creation; the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", io::Error::last_os_error()));
    }
    // SAFETY: fd is a new, valid descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if !o.listen.starts_with('@') {
        // Replace a stale socket file, never anything else.
        if let Ok(m) = std::fs::symlink_metadata(&o.listen) {
            use std::os::unix::fs::FileTypeExt;
            if m.file_type().is_socket() {
                let _ = std::fs::remove_file(&o.listen);
            }
        }
    }
    // SAFETY: sa is a valid sockaddr_un of sa.len bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), sa.bytes.as_ptr().cast(), sa.len as u32) } != 0 {
        return Err(format!("bind {}: {}", o.listen, io::Error::last_os_error()));
    }
    if let (Some(mode), Some(path)) = (o.mode, sa.c_path()) {
        let c = CString::new(&path[..path.len() - 1]).map_err(|e| e.to_string())?;
        // SAFETY: c is a NUL-terminated path.
        if unsafe { libc::chmod(c.as_ptr(), mode) } != 0 {
            return Err(format!(
                "chmod {}: {}",
                o.listen,
                io::Error::last_os_error()
            ));
        }
    }
    // SAFETY: fd is a bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 128) } != 0 {
        return Err(format!("listen: {}", io::Error::last_os_error()));
    }
    Ok(fd)
}

fn peer_uid(fd: RawFd) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred is valid for len bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

/// Serves one request: Ok((errno for the reply, the socket)) or Err((errno, why)).
fn serve(o: &Options, rec: &[u8]) -> Result<(i32, OwnedFd), (i32, String)> {
    let req = netns::decode_request(rec)
        .map_err(|e| (libc::EINVAL, format!("malformed request: {e}")))?;
    netns::check_kind(&req).map_err(|(e, why)| {
        (
            e,
            format!(
                "family {} type {} protocol {}: {why}",
                req.domain, req.ty, req.protocol
            ),
        )
    })?;
    let ty = req.ty;
    let port = match addr::decode(req.sockaddr) {
        Decoded::Ip(sa) => sa.port(),
        _ => return Err((libc::EAFNOSUPPORT, "not an IP address".into())),
    };
    if !o.allow.allows(req.domain, ty, port) {
        return Err((
            libc::EACCES,
            format!(
                "family {} type {ty} port {port} is not on the allow list",
                req.domain
            ),
        ));
    }
    let nonblock = if req.op == Op::Connect {
        libc::SOCK_NONBLOCK
    } else {
        0
    };
    // SAFETY: plain socket creation; owned right away.
    let s = unsafe { libc::socket(req.domain, ty | libc::SOCK_CLOEXEC | nonblock, req.protocol) };
    if s < 0 {
        return Err((last_err(), "socket failed".into()));
    }
    // SAFETY: s is a new descriptor nobody else owns.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // Before connect: the handshake's own SYN+ACK must already pass it.
    if let Some(prog) = o.allow.socket_filter(req.op, ty) {
        lock_filter(&s, &prog).map_err(|e| (e, "cannot attach the socket filter".into()))?;
    }
    let sa = req.sockaddr.as_ptr().cast();
    let sa_len = req.sockaddr.len() as u32;
    let verb = if req.op == Op::Bind {
        "bind"
    } else {
        "connect"
    };
    match req.op {
        Op::Bind => {
            if ty == libc::SOCK_STREAM {
                // What nearly every server sets before bind; the client's own options arrive
                // after.
                set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
            }
            // SAFETY: the client's sockaddr bytes, of their own length.
            if unsafe { libc::bind(s.as_raw_fd(), sa, sa_len) } != 0 {
                return Err((last_err(), format!("{verb} to port {port} failed")));
            }
            // SAFETY: s is a bound socket.
            if req.flags & netns::FLAG_LISTEN != 0
                && unsafe { libc::listen(s.as_raw_fd(), 128) } != 0
            {
                return Err((last_err(), format!("listen on port {port} failed")));
            }
            Ok((0, s))
        }
        Op::Connect => {
            // Non-blocking: a slow peer holds up nobody; the client waits for the handshake.
            // SAFETY: the client's sockaddr bytes, of their own length.
            let r = unsafe { libc::connect(s.as_raw_fd(), sa, sa_len) };
            let errno = if r == 0 { 0 } else { last_err() };
            if errno != 0 && errno != libc::EINPROGRESS {
                return Err((errno, format!("{verb} to port {port} failed")));
            }
            // The client sets its own file status flags; hand over a blocking socket.
            // SAFETY: fcntl on our own descriptor.
            unsafe { libc::fcntl(s.as_raw_fd(), libc::F_SETFL, 0) };
            Ok((errno, s))
        }
    }
}

fn set_int(s: &OwnedFd, level: i32, name: i32, value: libc::c_int) -> bool {
    // SAFETY: value is a valid int for the call.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        ) == 0
    }
}

/// Attaches the classic BPF program and locks it (SO_LOCK_FILTER): the holder of the socket
/// can neither detach nor replace it.
fn lock_filter(s: &OwnedFd, prog: &[(u16, u8, u8, u32)]) -> Result<(), i32> {
    let mut insns: Vec<libc::sock_filter> = prog
        .iter()
        .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
        .collect();
    let fprog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_mut_ptr(),
    };
    // SAFETY: fprog points at insns, alive for the call.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as u32,
        )
    };
    if r != 0 || !set_int(s, libc::SOL_SOCKET, libc::SO_LOCK_FILTER, 1) {
        return Err(last_err());
    }
    Ok(())
}

/// Serves one XS01 request (xsocket's protocol: a fresh, unbound socket) under the same
/// authentication and allow list: the family and type must be allowed, and the socket gets a
/// locked filter that drops every packet to a port off the list, so whatever its holder binds
/// it to, it only ever receives on an allowed port.
/// (The uid was checked before the client got a thread, as for every request.)
fn serve_xsocket(o: &Options, rec: &[u8]) -> Result<(i32, OwnedFd), (i32, String)> {
    let req = xsocket::decode_request(rec)
        .map_err(|e| (libc::EINVAL, format!("malformed XS01 request: {e}")))?;
    xsocket::check_kind(&req).map_err(|(e, why)| (e, format!("XS01: {why}")))?;
    let ty = req.ty & !libc::SOCK_NONBLOCK;
    let ranges: Vec<(u16, u16)> = o
        .allow
        .ports
        .iter()
        .filter(|p| p.0 == ty)
        .map(|p| (p.1, p.2))
        .collect();
    if !o.allow.families.contains(&req.domain) || ranges.is_empty() {
        return Err((
            libc::EACCES,
            format!(
                "XS01: family {} type {ty} is not on the allow list",
                req.domain
            ),
        ));
    }
    // SAFETY: plain socket creation; owned right away.
    let s = unsafe { libc::socket(req.domain, req.ty | libc::SOCK_CLOEXEC, req.protocol) };
    if s < 0 {
        return Err((last_err(), "socket failed".into()));
    }
    // SAFETY: s is a new descriptor nobody else owns.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    if let Some(prog) = xsocket::port_filter(xsocket::DEST_PORT_OFFSET, &ranges) {
        lock_filter(&s, &prog).map_err(|e| (e, "cannot attach the port filter".into()))?;
    }
    Ok((0, s))
}

fn send_reply(conn: RawFd, rec: &[u8], fd: Option<&OwnedFd>) {
    let mut iov = libc::iovec {
        iov_base: rec.as_ptr() as *mut _,
        iov_len: rec.len(),
    };
    let mut control = [0u64; 4];
    // SAFETY: zeroed msghdr is valid; pointers set below live for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as usize;
        // SAFETY: the control buffer holds one cmsghdr with one int.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            libc::CMSG_DATA(c)
                .cast::<libc::c_int>()
                .write_unaligned(fd.as_raw_fd());
        }
    }
    // SAFETY: msg is valid for the call.
    unsafe { libc::sendmsg(conn, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
}

/// Receives the request record: its length, or None when the client went away or stayed
/// silent past the idle timeout. Any file descriptors attached are closed and refuse it.
fn recv_request(c: &OwnedFd, rec: &mut [u8]) -> Result<Option<usize>, &'static str> {
    let mut iov = libc::iovec {
        iov_base: rec.as_mut_ptr().cast(),
        iov_len: rec.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: zeroed msghdr is valid; the pointers set below live for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg is valid for the call.
    let n = unsafe { libc::recvmsg(c.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    let mut carried_fds = false;
    // SAFETY: the kernel filled msg's control buffer; CMSG_* walk it.
    unsafe {
        let mut h = libc::CMSG_FIRSTHDR(&msg);
        while n >= 0 && !h.is_null() {
            if (*h).cmsg_level == libc::SOL_SOCKET && (*h).cmsg_type == libc::SCM_RIGHTS {
                carried_fds = true;
                let bytes = ((*h).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let p = libc::CMSG_DATA(h).cast::<libc::c_int>();
                for i in 0..bytes / 4 {
                    libc::close(p.add(i).read_unaligned());
                }
            }
            h = libc::CMSG_NXTHDR(&msg, h);
        }
    }
    if n <= 0 {
        return Ok(None);
    }
    if carried_fds || msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err("the request carried file descriptors");
    }
    Ok(Some(n as usize))
}

fn handle(o: &Options, c: &OwnedFd, uid: u32) {
    let tv = libc::timeval {
        tv_sec: o.idle_timeout.as_secs() as libc::time_t,
        tv_usec: o.idle_timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: tv is a valid timeval.
    unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    let mut rec = [0u8; netns::MAX_REQUEST + 1];
    // xsocket's XS01 beside our own protocol; each is answered in its own reply format.
    let mut encode: fn(i32) -> [u8; 8] = netns::encode_reply;
    let result = match recv_request(c, &mut rec) {
        Ok(None) => return,
        Ok(Some(n)) if xsocket::is_request(&rec[..n]) => {
            encode = xsocket::encode_reply;
            serve_xsocket(o, &rec[..n])
        }
        Ok(Some(n)) => serve(o, &rec[..n]),
        Err(why) => Err((libc::EINVAL, why.to_string())),
    };
    match result {
        Ok((errno, s)) => send_reply(c.as_raw_fd(), &encode(errno), Some(&s)),
        Err((e, why)) => {
            eprintln!("socketbox socket-server: refused a request from uid {uid}: {why}");
            send_reply(c.as_raw_fd(), &encode(e), None);
        }
    }
}

/// `xsocket-server [PATH] [socket-server options]`: xsocket's server command line (PATH default
/// /run/xsocket/default, `@name` abstract), with the socket server's authentication and allow
/// list, which an xsocket user must now give.
pub fn xsocket_main(args: &[String]) -> i32 {
    let (path, rest) = match args.first() {
        Some(p) if !p.starts_with("--") && p != "-h" => (p.clone(), &args[1..]),
        _ => (xsocket::DEFAULT_SERVER.to_string(), args),
    };
    if !rest.iter().any(|a| a == "--allow") {
        eprintln!(
            "xsocket-server: no --allow given: unlike xsocket's server, this one hands out only \
             what its allow list permits; add --allow tcp:PORT[-PORT] or --allow udp:PORT[-PORT] \
             (or tcp:* / udp:*) for the ports clients may bind, e.g. xsocket-server {path} --allow tcp:3000"
        );
        return 2;
    }
    let mut full = vec!["--listen".to_string(), path];
    full.extend(rest.iter().cloned());
    main(&full)
}

/// Decrements the count of clients being served when a client's thread ends.
struct Served(Arc<AtomicUsize>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub fn main(args: &[String]) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("socketbox socket-server: {e}");
            return 2;
        }
    };
    let l = match listen_socket(&o) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("socketbox socket-server: {e}");
            return 1;
        }
    };
    eprintln!("socketbox socket-server: listening on {}", o.listen);
    let o = Arc::new(o);
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        // SAFETY: l is a listening socket; no address wanted.
        let c = unsafe {
            libc::accept4(
                l.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if c < 0 {
            // Out of fds or memory: back off rather than spin.
            std::thread::sleep(std::time::Duration::from_millis(10));
            continue;
        }
        // SAFETY: c is a new descriptor nobody else owns.
        let c = unsafe { OwnedFd::from_raw_fd(c) };
        // Who it is, before it costs a thread.
        let uid = peer_uid(c.as_raw_fd());
        let refusal = match uid {
            None => Some((libc::EACCES, "no peer credentials".to_string())),
            Some(uid) if !o.uids.contains(&uid) => {
                Some((libc::EACCES, format!("uid {uid} is not allowed")))
            }
            Some(_) if active.fetch_add(1, Ordering::AcqRel) >= o.max_clients => {
                active.fetch_sub(1, Ordering::AcqRel);
                Some((
                    libc::EAGAIN,
                    format!("{} clients are already being served", o.max_clients),
                ))
            }
            Some(_) => None,
        };
        let who = uid.map_or("?".into(), |u| u.to_string());
        if let Some((errno, why)) = refusal {
            eprintln!("socketbox socket-server: refused a connection from uid {who}: {why}");
            send_reply(c.as_raw_fd(), &netns::encode_reply(errno), None);
            continue;
        }
        let served = Served(Arc::clone(&active));
        let o = Arc::clone(&o);
        let uid = uid.unwrap_or(u32::MAX);
        let spawned = std::thread::Builder::new()
            .name("sockserver".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let _served = served;
                handle(&o, &c, uid);
            });
        // A failed spawn drops the closure: its client and its count with it.
        if let Err(e) = spawned {
            eprintln!("socketbox socket-server: refused a connection from uid {who}: cannot start a thread: {e}");
        }
    }
}
