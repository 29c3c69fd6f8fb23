//! Thin syscall wrappers: everything unsafe in the router lives here or next to its one user.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn cvt_isize(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn socket(domain: i32, ty: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) })
}

pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: value lives for the call, its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: value and len are valid for writes of the sizes given.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut value as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(value)
}

pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd we hold.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// A sockaddr of any family we handle, ready to pass to the kernel.
pub struct RawAddr {
    pub storage: libc::sockaddr_storage,
    pub len: libc::socklen_t,
}

impl RawAddr {
    pub fn from_inet(addr: &SocketAddr) -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// A path (not abstract) Unix address; error if it does not fit sun_path.
    /// A Unix socket name as configs write it: a path, or `@name` for an abstract socket.
    pub fn from_unix_name(name: &[u8]) -> io::Result<RawAddr> {
        let Some(abs) = name.strip_prefix(b"@") else {
            return Self::from_unix_path(name);
        };
        // SAFETY: as above.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
        let sun = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_un) };
        if abs.is_empty() || abs.len() + 1 > sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad abstract socket name (empty or too long)",
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in sun.sun_path.iter_mut().skip(1).zip(abs) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + 1 + abs.len();
        Ok(RawAddr {
            storage,
            len: len as libc::socklen_t,
        })
    }

    pub fn from_unix_path(path: &[u8]) -> io::Result<RawAddr> {
        // SAFETY: as above.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
        let sun = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_un) };
        if path.is_empty() || path.len() >= sun.sun_path.len() || path.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad Unix socket path (empty, NUL or too long)",
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in sun.sun_path.iter_mut().zip(path) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + path.len() + 1;
        Ok(RawAddr {
            storage,
            len: len as libc::socklen_t,
        })
    }

    pub fn ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }

    /// An AF_INET/AF_INET6 address as std's type.
    pub fn to_inet(&self) -> Option<SocketAddr> {
        match self.storage.ss_family as i32 {
            libc::AF_INET => {
                // SAFETY: family says this storage holds a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    u32::from_be(sin.sin_addr.s_addr).into(),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: family says this storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

pub fn bind(fd: RawFd, addr: &RawAddr) -> io::Result<()> {
    // SAFETY: addr points to a valid sockaddr of len bytes.
    cvt(unsafe { libc::bind(fd, addr.ptr(), addr.len) }).map(drop)
}

pub fn connect(fd: RawFd, addr: &RawAddr) -> io::Result<()> {
    // SAFETY: addr points to a valid sockaddr of len bytes.
    cvt(unsafe { libc::connect(fd, addr.ptr(), addr.len) }).map(drop)
}

pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

fn name_of(fd: RawFd, peer: bool) -> io::Result<RawAddr> {
    // SAFETY: zeroed storage is valid; the kernel writes at most len bytes.
    let mut a = RawAddr {
        storage: unsafe { zeroed() },
        len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
    };
    let p = &mut a.storage as *mut _ as *mut libc::sockaddr;
    // SAFETY: p/len describe our storage.
    cvt(unsafe {
        if peer {
            libc::getpeername(fd, p, &mut a.len)
        } else {
            libc::getsockname(fd, p, &mut a.len)
        }
    })?;
    Ok(a)
}

pub fn local_addr(fd: RawFd) -> io::Result<RawAddr> {
    name_of(fd, false)
}
pub fn peer_addr(fd: RawFd) -> io::Result<RawAddr> {
    name_of(fd, true)
}

/// accept4 with CLOEXEC; the accepted socket stays blocking (receivers expect a plain accept()'s socket).
pub fn accept(fd: RawFd) -> io::Result<(OwnedFd, RawAddr)> {
    // SAFETY: as in name_of.
    let mut a = RawAddr {
        storage: unsafe { zeroed() },
        len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
    };
    // SAFETY: storage/len are ours and valid.
    let c = owned(unsafe {
        libc::accept4(
            fd,
            &mut a.storage as *mut _ as *mut libc::sockaddr,
            &mut a.len,
            libc::SOCK_CLOEXEC,
        )
    })?;
    Ok((c, a))
}

/// Send `data` with one fd attached (SCM_RIGHTS), non-blocking, no SIGPIPE.
pub fn send_fd(sock: RawFd, data: &[u8], fd: RawFd) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // u64 array: aligned for cmsghdr.
    let mut cbuf = [0u64; 4];
    // SAFETY: msghdr is POD; we fill in the fields we use.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE is a pure computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msg_control points to cbuf, large enough for one cmsg with one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut RawFd, fd);
    }
    // SAFETY: msg is fully initialised and its buffers outlive the call.
    cvt_isize(unsafe { libc::sendmsg(sock, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) })
        .map(drop)
}

/// Receive one record/datagram; any fds that came with it are returned (CLOEXEC) so the caller
/// decides what to do with them (usually: close them). Ok((0, _)) is EOF for stream/seqpacket.
pub fn recv_with_fds(
    sock: RawFd,
    buf: &mut [u8],
    flags: i32,
) -> io::Result<(usize, Vec<OwnedFd>, bool)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 64];
    // SAFETY: POD.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg describes valid buffers.
    let n = cvt_isize(unsafe { libc::recvmsg(sock, &mut msg, flags | libc::MSG_CMSG_CLOEXEC) })?;
    let mut fds = Vec::new();
    // SAFETY: walking the control buffer the kernel filled, with the CMSG_* helpers.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg) as *const RawFd;
                let count = ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    if fd >= 0 {
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let truncated = msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
    Ok((n, fds, truncated))
}

pub fn peer_cred(fd: RawFd) -> io::Result<libc::ucred> {
    // SAFETY: ucred is POD.
    let mut cred: libc::ucred = unsafe { zeroed() };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred/len valid for writes.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut _ as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(cred)
}

// ------------------------------------------------------------------ epoll

pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall.
        Ok(Epoll(owned(unsafe {
            libc::epoll_create1(libc::EPOLL_CLOEXEC)
        })?))
    }
    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is valid for the call.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }
    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }
    pub fn delete(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: events is a valid writable array of the given length.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
}

pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64.
    unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
}

pub fn eventfd_drain(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a valid u64.
    unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
}

/// Block the signals the main loop takes from a signalfd; returns that signalfd.
pub fn signalfd(signals: &[i32]) -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is POD and initialised by sigemptyset.
    let mut set: libc::sigset_t = unsafe { zeroed() };
    // SAFETY: set is valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    // SAFETY: set is valid.
    owned(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })
}

/// Read one pending signal number from a signalfd, if any.
pub fn read_signal(fd: RawFd) -> Option<i32> {
    // SAFETY: POD.
    let mut info: libc::signalfd_siginfo = unsafe { zeroed() };
    let sz = size_of::<libc::signalfd_siginfo>();
    // SAFETY: reads into a valid struct of sz bytes.
    let n = unsafe { libc::read(fd, &mut info as *mut _ as *mut libc::c_void, sz) };
    if n as usize == sz {
        Some(info.ssi_signo as i32)
    } else {
        None
    }
}

/// Unblock every signal (for spawned children, which must not inherit our blocked mask).
/// Async-signal-safe: used between fork and exec.
pub fn unblock_all_signals() {
    // SAFETY: sigset_t is POD; sigemptyset/sigprocmask are async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

pub fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Raise the soft RLIMIT_NOFILE to the hard one (fds in flight count against it).
pub fn raise_nofile() {
    // SAFETY: POD, valid pointers.
    unsafe {
        let mut r: libc::rlimit = zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Bytes of datagrams this AF_UNIX socket sent that the receiver has not read yet (SIOCOUTQ: an
/// AF_UNIX skb stays charged to its sender until the receiver frees it).
pub fn unread_sent_bytes(fd: RawFd) -> io::Result<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (== TIOCOUTQ) writes one int through the pointer, which is valid.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) })?;
    Ok(n.max(0) as u64)
}

pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: POD.
    let mut st: libc::stat = unsafe { zeroed() };
    // SAFETY: st valid for writes.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// Open `path` as an O_PATH fd without following any symlink in any component: openat2 with
/// RESOLVE_NO_SYMLINKS, or where the kernel lacks it (before 5.6, or a seccomp profile answering
/// ENOSYS) `open_path_walk`. A symlink anywhere is ELOOP; a final one is opened itself (O_PATH
/// of the link), for the caller's fstat to refuse.
pub fn open_path_nofollow(path: &str) -> io::Result<OwnedFd> {
    let c = cstring(path)?;
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 with a valid C string and a correctly sized open_how.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c.as_ptr(),
            &how as *const OpenHow,
            size_of::<OpenHow>(),
        )
    };
    if r >= 0 {
        // SAFETY: a new fd from the kernel.
        return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return Err(e);
    }
    open_path_walk(path)
}

/// `open_path_nofollow` without openat2: from the root (or the working directory for a relative
/// path), one component at a time, each directory opened with O_PATH|O_DIRECTORY|O_NOFOLLOW
/// relative to the previous one, so no symlink is followed whatever is swapped in meanwhile: an
/// intermediate symlink fails (ENOTDIR from O_DIRECTORY on the link itself, reported ELOOP).
pub fn open_path_walk(path: &str) -> io::Result<OwnedFd> {
    let start = if path.starts_with('/') { "/" } else { "." };
    let flags_dir = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let c = cstring(start)?;
    // SAFETY: valid C string.
    let mut dir = owned(unsafe { libc::open(c.as_ptr(), flags_dir) })?;
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    };
    for part in dirs {
        let c = cstring(part)?;
        // SAFETY: dir is an open directory fd; c a valid C string.
        let r = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags_dir) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOTDIR) && is_symlink_at(&dir, &c) {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            return Err(e);
        }
        // SAFETY: a new fd from the kernel.
        dir = unsafe { OwnedFd::from_raw_fd(r) };
    }
    let c = cstring(last)?;
    // SAFETY: dir is an open directory fd; c a valid C string.
    owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })
}

fn is_symlink_at(dir: &OwnedFd, name: &std::ffi::CStr) -> bool {
    // SAFETY: POD.
    let mut st: libc::stat = unsafe { zeroed() };
    // SAFETY: dir is an open directory fd, name a valid C string, st valid for writes.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

pub fn getpid() -> i32 {
    // SAFETY: trivial syscall.
    unsafe { libc::getpid() }
}

/// `-z`: clear the transparent (TPROXY) flag an accepted socket inherited from its listener —
/// IPV6_TRANSPARENT on IPv6 sockets, IP_TRANSPARENT on IPv4 ones; other families have none.
pub fn clear_transparent(fd: RawFd) -> io::Result<()> {
    match getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)? {
        libc::AF_INET6 => setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_TRANSPARENT, 0),
        libc::AF_INET => setsockopt_int(fd, libc::SOL_IP, libc::IP_TRANSPARENT, 0),
        _ => Ok(()),
    }
}

/// `-d`: daemon(0, 1) — fork (the parent exits 0), a new session, working directory `/`,
/// standard streams kept (logs still reach them). Only while the process has one thread.
pub fn daemonize() -> io::Result<()> {
    // SAFETY: called before any thread is started; daemon() forks and the parent _exits.
    cvt(unsafe { libc::daemon(0, 1) }).map(drop)
}

#[cfg(test)]
mod walk_tests {
    use super::*;

    #[test]
    fn walk_never_follows_a_symlink() {
        let base = std::env::temp_dir().join(format!("sockswap-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("real/sub")).unwrap();
        std::fs::write(base.join("real/sub/f"), b"").unwrap();
        std::os::unix::fs::symlink("real", base.join("dirlink")).unwrap();
        std::os::unix::fs::symlink("real/sub/f", base.join("filelink")).unwrap();
        let b = base.to_str().unwrap();
        let kind = |p: &str| -> Result<u32, i32> {
            open_path_walk(p)
                .map(|fd| fstat(fd.as_raw_fd()).unwrap().st_mode & libc::S_IFMT)
                .map_err(|e| e.raw_os_error().unwrap())
        };
        assert_eq!(kind(&format!("{b}/real/sub/f")), Ok(libc::S_IFREG));
        assert_eq!(kind(&format!("{b}//real/./sub/f")), Ok(libc::S_IFREG));
        assert_eq!(kind(&format!("{b}/real/sub/../sub/f")), Ok(libc::S_IFREG));
        assert_eq!(kind(&format!("{b}/dirlink/sub/f")), Err(libc::ELOOP));
        assert_eq!(kind(&format!("{b}/filelink")), Ok(libc::S_IFLNK));
        assert_eq!(kind(&format!("{b}/real/missing/f")), Err(libc::ENOENT));
        assert_eq!(kind(&format!("{b}/real/sub/f/x")), Err(libc::ENOTDIR));
        // The same answers as openat2 where the kernel has it.
        for p in ["real/sub/f", "dirlink/sub/f", "filelink", "real/missing/f"] {
            let p = format!("{b}/{p}");
            let two = open_path_nofollow(&p)
                .map(|fd| fstat(fd.as_raw_fd()).unwrap().st_mode & libc::S_IFMT)
                .map_err(|e| e.raw_os_error().unwrap());
            assert_eq!(two, kind(&p), "{p}");
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
