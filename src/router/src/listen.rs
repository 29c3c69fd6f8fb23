//! Listening sockets: TCP (v4/v6, transparent, freebind, reuseaddr/port, backlog), Unix stream,
//! inherited fds and systemd's LISTEN_FDS.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::config::ListenSpec;
use crate::sys;

pub struct Listener {
    /// None: handed over whole to a target (the kernel gives its connections to the target's
    /// listener; the router keeps the index so rules' `listener` numbers stay the same).
    pub fd: Option<OwnedFd>,
    pub desc: String,
}

const IPV6_FREEBIND: i32 = 78;

pub fn tcp(
    addr: SocketAddr,
    transparent: bool,
    freebind: bool,
    reuseaddr: bool,
    reuseport: bool,
    backlog: Option<i32>,
) -> Result<OwnedFd, String> {
    let ctx = |what: &str, e: std::io::Error| format!("listen {addr}: {what}: {e}");
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let s = sys::socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK)
        .map_err(|e| ctx("socket", e))?;
    let fd = s.as_raw_fd();
    if reuseaddr {
        sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)
            .map_err(|e| ctx("SO_REUSEADDR", e))?;
    }
    if reuseport {
        sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)
            .map_err(|e| ctx("SO_REUSEPORT", e))?;
    }
    if domain == libc::AF_INET6 {
        sys::setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)
            .map_err(|e| ctx("IPV6_V6ONLY", e))?;
        if transparent {
            sys::setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_TRANSPARENT, 1)
                .map_err(|e| ctx("IPV6_TRANSPARENT", e))?;
        }
        if freebind {
            sys::setsockopt_int(fd, libc::SOL_IPV6, IPV6_FREEBIND, 1)
                .map_err(|e| ctx("IPV6_FREEBIND", e))?;
        }
    } else {
        if transparent {
            sys::setsockopt_int(fd, libc::SOL_IP, libc::IP_TRANSPARENT, 1)
                .map_err(|e| ctx("IP_TRANSPARENT", e))?;
        }
        if freebind {
            sys::setsockopt_int(fd, libc::SOL_IP, libc::IP_FREEBIND, 1)
                .map_err(|e| ctx("IP_FREEBIND", e))?;
        }
    }
    sys::bind(fd, &sys::RawAddr::from_inet(&addr)).map_err(|e| ctx("bind", e))?;
    if let Some(backlog) = backlog {
        sys::listen(fd, backlog).map_err(|e| ctx("listen", e))?;
    }
    Ok(s)
}

/// Bind a Unix socket of `ty` at `path`, replacing a stale socket file (one nobody accepts on),
/// never a live one or a file that is not a socket.
pub fn unix_bind(path: &str, ty: i32) -> Result<OwnedFd, String> {
    let ctx = |what: &str, e: std::io::Error| format!("{path}: {what}: {e}");
    let s = sys::socket(libc::AF_UNIX, ty | libc::SOCK_NONBLOCK).map_err(|e| ctx("socket", e))?;
    let addr = sys::RawAddr::from_unix_name(path.as_bytes()).map_err(|e| ctx("address", e))?;
    let file = !path.starts_with('@'); // `@name`: an abstract socket, no file
    if let Some(md) = file.then(|| std::fs::symlink_metadata(path).ok()).flatten() {
        use std::os::unix::fs::FileTypeExt;
        if !md.file_type().is_socket() {
            return Err(format!(
                "{path}: exists and is not a socket; not replacing it"
            ));
        }
        let probe = sys::socket(libc::AF_UNIX, ty).map_err(|e| ctx("socket", e))?;
        match sys::connect(probe.as_raw_fd(), &addr) {
            Ok(()) => return Err(format!("{path}: a live socket is bound there already")),
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                let _ = std::fs::remove_file(path);
            }
            Err(e) => return Err(ctx("probing the existing socket", e)),
        }
    }
    sys::bind(s.as_raw_fd(), &addr).map_err(|e| ctx("bind", e))?;
    Ok(s)
}

pub fn chmod_chown(
    path: &str,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), String> {
    if path.starts_with('@') {
        // Abstract sockets have no owner or mode: SO_PEERCRED is their only gate.
        return Ok(());
    }
    let c = sys::cstring(path).map_err(|e| format!("{path}: {e}"))?;
    if uid.is_some() || gid.is_some() {
        // SAFETY: valid C string; lchown never follows a symlink.
        let r =
            unsafe { libc::lchown(c.as_ptr(), uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX)) };
        sys::cvt(r).map_err(|e| format!("{path}: chown: {e}"))?;
    }
    if let Some(m) = mode {
        // SAFETY: valid C string; AT_SYMLINK_NOFOLLOW: a symlink swapped in is refused, not followed.
        let r = unsafe { libc::fchmodat(libc::AT_FDCWD, c.as_ptr(), m, libc::AT_SYMLINK_NOFOLLOW) };
        if r < 0 {
            // Older kernels reject the flag on any file; the path was bound by us a moment ago.
            // SAFETY: valid C string.
            sys::cvt(unsafe { libc::chmod(c.as_ptr(), m) })
                .map_err(|e| format!("{path}: chmod: {e}"))?;
        }
    }
    Ok(())
}

fn inherited(fd: RawFd, what: &str) -> Result<Listener, String> {
    let ok = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)
        .map_err(|e| format!("{what} {fd}: {e}"))?;
    if ok == 0 {
        return Err(format!("{what} {fd}: not a listening socket"));
    }
    // SAFETY: the fd was handed to us to own (inherited listener).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    sys::set_nonblocking(fd, true).map_err(|e| format!("{what} {fd}: {e}"))?;
    // SAFETY: fcntl on our fd.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(Listener {
        fd: Some(owned),
        desc: format!("{what}:{fd}"),
    })
}

/// systemd socket activation: fds 3.. when LISTEN_PID is us.
fn systemd_fds() -> Result<Vec<RawFd>, String> {
    let pid: i32 = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or("LISTEN_PID not set")?;
    if pid != sys::getpid() {
        return Err(format!("LISTEN_PID is {pid}, not us"));
    }
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or("LISTEN_FDS not set")?;
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    Ok((3..3 + n).collect())
}

/// Moves this thread (the main thread, before any other exists, so every later thread too)
/// into the network namespace whose file is `path` (/run/netns/NAME, /proc/PID/ns/net).
pub fn enter_netns(path: &str) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("netns {path}: {e}"))?;
    // SAFETY: setns on an fd we own; CLONE_NEWNET makes the kernel check it is a net namespace.
    sys::cvt(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) })
        .map_err(|e| format!("netns {path}: setns: {e}"))?;
    Ok(())
}

/// `-e`: the socket socketbox hands to the program — a TCP spec bound but not listening (the
/// program calls listen), an inherited fd as it is.
pub fn open_unlistened(spec: &ListenSpec) -> Result<OwnedFd, String> {
    match spec {
        ListenSpec::Tcp {
            addr,
            transparent,
            freebind,
            reuseaddr,
            reuseport,
            ..
        } => {
            let s = tcp(*addr, *transparent, *freebind, *reuseaddr, *reuseport, None)?;
            // socketbox's socket is blocking; the program gets it as such.
            sys::set_nonblocking(s.as_raw_fd(), false).map_err(|e| format!("-e: {e}"))?;
            Ok(s)
        }
        ListenSpec::Fd(fd) => {
            sys::getsockopt_int(*fd, libc::SOL_SOCKET, libc::SO_TYPE)
                .map_err(|e| format!("-s {fd}: {e}"))?;
            // SAFETY: the fd was handed to us to pass on.
            Ok(unsafe { OwnedFd::from_raw_fd(*fd) })
        }
        other => Err(format!("-e takes -l/-p, -s or -P, not {other:?}")),
    }
}

/// Opens every listener but those `handed_over` says the router leaves to a target.
pub fn open_all(
    specs: &[ListenSpec],
    handed_over: &dyn Fn(usize) -> bool,
) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        if let (true, ListenSpec::Tcp { addr, .. }) = (handed_over(i), s) {
            out.push(Listener {
                fd: None,
                desc: format!("tcp:{addr} (handed over)"),
            });
            continue;
        }
        match s {
            ListenSpec::Tcp {
                addr,
                transparent,
                freebind,
                reuseaddr,
                reuseport,
                backlog,
            } => {
                let fd = tcp(
                    *addr,
                    *transparent,
                    *freebind,
                    *reuseaddr,
                    *reuseport,
                    Some(*backlog),
                )?;
                out.push(Listener {
                    fd: Some(fd),
                    desc: format!("tcp:{addr}"),
                });
            }
            ListenSpec::Unix {
                path,
                mode,
                backlog,
            } => {
                let fd = unix_bind(path, libc::SOCK_STREAM)?;
                chmod_chown(path, *mode, None, None)?;
                sys::listen(fd.as_raw_fd(), *backlog)
                    .map_err(|e| format!("{path}: listen: {e}"))?;
                out.push(Listener {
                    fd: Some(fd),
                    desc: format!("unix:{path}"),
                });
            }
            ListenSpec::Fd(fd) => out.push(inherited(*fd, "fd")?),
            ListenSpec::FdToListen { fd, backlog } => {
                sys::listen(*fd, *backlog).map_err(|e| format!("fd {fd}: listen: {e}"))?;
                out.push(inherited(*fd, "fd")?);
            }
            ListenSpec::InNetns { netns, inner } => {
                enter_netns(netns)?;
                let mut opened = open_all(std::slice::from_ref(inner), &|_| false)?;
                for l in &mut opened {
                    l.desc = format!("{} (netns {netns})", l.desc);
                }
                out.extend(opened);
            }
            ListenSpec::Systemd => {
                for fd in systemd_fds().map_err(|e| format!("systemd socket activation: {e}"))? {
                    out.push(inherited(fd, "systemd-fd")?);
                }
            }
        }
    }
    Ok(out)
}
