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

use sockswap_core::addr::{self, Decoded, UnixSockaddr};
use sockswap_core::errno;
use sockswap_core::netns::{self, AllowList, Op};

struct Options {
    listen: String,
    mode: Option<u32>,
    uids: Vec<u32>,
    allow: AllowList,
}

const USAGE: &str = "usage: socketbox socket-server --listen PATH|@NAME [--mode OCTAL] \
[--allow-uid UID]... --allow tcp|udp:PORT[-PORT]|* ... [--family inet|inet6|both]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        listen: String::new(),
        mode: None,
        uids: Vec::new(),
        allow: AllowList::default(),
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
                    v.parse()
                        .map_err(|_| format!("--allow-uid: not a uid: '{v}'"))?,
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
        let e = io::Error::last_os_error();
        let dir = std::path::Path::new(&o.listen)
            .parent()
            .filter(|d| !d.exists());
        let hint = match (e.raw_os_error(), dir) {
            (Some(libc::ENOENT), Some(d)) => format!("; directory {} does not exist", d.display()),
            _ => String::new(),
        };
        return Err(format!(
            "--listen {}: cannot bind: {}{hint}",
            o.listen,
            errno::io_text(&e)
        ));
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

/// Serves one request: Ok(new socket) or Err(errno for the reply).
fn serve(o: &Options, rec: &[u8], uid: Option<u32>) -> Result<OwnedFd, (i32, String)> {
    let uid = uid.ok_or((libc::EACCES, "no peer credentials".to_string()))?;
    if !o.uids.contains(&uid) {
        return Err((libc::EACCES, format!("uid {uid} is not allowed")));
    }
    let req = netns::decode_request(rec)
        .map_err(|e| (libc::EINVAL, format!("malformed request: {e}")))?;
    let ty = req.ty & 0xf;
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
    // SAFETY: plain socket creation; owned right away.
    let s = unsafe { libc::socket(req.domain, ty | libc::SOCK_CLOEXEC, req.protocol) };
    if s < 0 {
        return Err((last_err(), "socket failed".into()));
    }
    // SAFETY: s is a new descriptor nobody else owns.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    if req.op == Op::Bind {
        if ty == libc::SOCK_STREAM {
            // What nearly every server sets before bind; the client's own options arrive after.
            let one: libc::c_int = 1;
            // SAFETY: one is a valid int.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_REUSEADDR,
                    (&raw const one).cast(),
                    4,
                )
            };
        }
        // SAFETY: the client's sockaddr bytes, of their own length.
        let r = unsafe {
            libc::bind(
                s.as_raw_fd(),
                req.sockaddr.as_ptr().cast(),
                req.sockaddr.len() as u32,
            )
        };
        if r != 0 {
            return Err((last_err(), format!("bind to port {port} failed")));
        }
    }
    Ok(s)
}

fn reply(conn: RawFd, errno: i32, fd: Option<&OwnedFd>) {
    let rec = netns::encode_reply(errno);
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
    unsafe { libc::sendmsg(conn, &msg, libc::MSG_NOSIGNAL) };
}

fn handle(o: &Options, c: &OwnedFd) {
    let tv = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: tv is a valid timeval.
    unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            16,
        )
    };
    let mut rec = [0u8; netns::MAX_REQUEST + 1];
    // SAFETY: rec is valid for its length.
    let n = unsafe { libc::recv(c.as_raw_fd(), rec.as_mut_ptr().cast(), rec.len(), 0) };
    if n <= 0 {
        return;
    }
    let uid = peer_uid(c.as_raw_fd());
    match serve(o, &rec[..n as usize], uid) {
        Ok(s) => reply(c.as_raw_fd(), 0, Some(&s)),
        Err((e, why)) => {
            let who = uid.map_or("?".into(), |u| u.to_string());
            eprintln!("socketbox socket-server: refused a request from uid {who}: {why}");
            reply(c.as_raw_fd(), e, None);
        }
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
            // A mistake in the command line or the setup, as for the router: status 2.
            eprintln!("socketbox socket-server: {e}");
            return 2;
        }
    };
    eprintln!("socketbox socket-server: listening on {}", o.listen);
    let o = std::sync::Arc::new(o);
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
        // One thread per client: a client that connects and says nothing only costs its own
        // thread until the 5 s receive timeout.
        let o = std::sync::Arc::clone(&o);
        let spawned = std::thread::Builder::new()
            .name("sockserver".into())
            .spawn(move || handle(&o, &c));
        if let Err(e) = spawned {
            eprintln!("socketbox socket-server: cannot start a thread: {e}");
        }
    }
}
