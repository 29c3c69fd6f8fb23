//! Raw system calls for the shim's own work. Calling libc's `close`, `dup3`, … from inside this
//! library would land in our own hooks (the preloaded symbol wins), so housekeeping goes through
//! `syscall(2)` directly. Each wrapper returns `Err(errno)`; callers restore the program's errno.

use libc::{c_int, c_long, c_void, sockaddr, socklen_t};

pub type SysResult = Result<c_long, c_int>;

#[inline]
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

#[inline]
pub fn set_errno(e: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e }
}

macro_rules! sys {
    ($nr:expr $(, $arg:expr)*) => {{
        // SAFETY: a raw system call; every caller passes pointers valid for the call's duration.
        let r = unsafe { libc::syscall($nr $(, $arg)*) };
        if r < 0 { Err(errno()) } else { Ok(r) }
    }};
}

pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> Result<c_int, c_int> {
    sys!(libc::SYS_socket, domain, ty, protocol).map(|fd| fd as c_int)
}

pub fn close(fd: c_int) {
    let _ = sys!(libc::SYS_close, fd);
}

pub fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult {
    sys!(libc::SYS_bind, fd, addr, len)
}

pub fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult {
    sys!(libc::SYS_connect, fd, addr, len)
}

pub fn dup3(old: c_int, new: c_int, flags: c_int) -> SysResult {
    sys!(libc::SYS_dup3, old, new, flags)
}

pub fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> SysResult {
    sys!(libc::SYS_fcntl, fd, cmd, arg)
}

pub fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> SysResult {
    sys!(libc::SYS_getsockopt, fd, level, name, val, len)
}

pub fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> SysResult {
    sys!(libc::SYS_setsockopt, fd, level, name, val, len)
}

pub fn getsockopt_int(fd: c_int, level: c_int, name: c_int) -> Result<c_int, c_int> {
    let mut v: c_int = 0;
    let mut len = core::mem::size_of::<c_int>() as socklen_t;
    getsockopt(fd, level, name, (&raw mut v).cast(), &mut len).map(|_| v)
}

pub fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut libc::epoll_event) -> SysResult {
    sys!(libc::SYS_epoll_ctl, epfd, op, fd, ev)
}

pub fn getpid() -> u32 {
    sys!(libc::SYS_getpid).unwrap_or(0) as u32
}

pub fn gettid() -> u32 {
    sys!(libc::SYS_gettid).unwrap_or(0) as u32
}

pub fn write_all(fd: c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        match sys!(libc::SYS_write, fd, buf.as_ptr(), buf.len()) {
            Ok(n) if n > 0 => buf = buf.get(n as usize..).unwrap_or(&[]),
            Err(libc::EINTR) => {}
            _ => return,
        }
    }
}

/// `path` must end with a NUL byte.
pub fn unlink(path: &[u8]) -> SysResult {
    sys!(libc::SYS_unlinkat, libc::AT_FDCWD, path.as_ptr(), 0)
}

/// `path` must end with a NUL byte. Does not follow a final symlink.
pub fn lstat(path: &[u8]) -> Result<libc::stat, c_int> {
    stat_at(path, libc::AT_SYMLINK_NOFOLLOW)
}

/// `path` must end with a NUL byte. Follows symlinks.
pub fn stat(path: &[u8]) -> Result<libc::stat, c_int> {
    stat_at(path, 0)
}

fn stat_at(path: &[u8], flags: c_int) -> Result<libc::stat, c_int> {
    // SAFETY: stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    sys!(
        libc::SYS_newfstatat,
        libc::AT_FDCWD,
        path.as_ptr(),
        &raw mut st,
        flags
    )
    .map(|_| st)
}

pub fn geteuid() -> u32 {
    sys!(libc::SYS_geteuid).unwrap_or(0) as u32
}

/// `path` must end with a NUL byte. Tries fchmodat2 with AT_SYMLINK_NOFOLLOW (Linux ≥ 6.6) so a
/// symlink swapped in after bind is never followed; falls back to fchmodat on older kernels.
pub fn chmod_nofollow(path: &[u8], mode: u32) -> SysResult {
    const SYS_FCHMODAT2: c_long = 452;
    match sys!(
        SYS_FCHMODAT2,
        libc::AT_FDCWD,
        path.as_ptr(),
        mode,
        libc::AT_SYMLINK_NOFOLLOW
    ) {
        Err(libc::ENOSYS) => sys!(libc::SYS_fchmodat, libc::AT_FDCWD, path.as_ptr(), mode),
        r => r,
    }
}

/// `path` must end with a NUL byte.
pub fn mkdir(path: &[u8], mode: u32) -> SysResult {
    sys!(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), mode)
}

/// Opens `path` (NUL-terminated) read-only, close-on-exec.
/// Opens for reading without blocking (a FIFO with no writer would block the open) and without
/// becoming a controlling terminal.
fn open_read(path: &[u8]) -> Result<c_int, c_int> {
    sys!(
        libc::SYS_openat,
        libc::AT_FDCWD,
        path.as_ptr(),
        libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY
    )
    .map(|fd| fd as c_int)
}

fn fstat_mode(fd: c_int) -> Result<u32, c_int> {
    // SAFETY: stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    sys!(libc::SYS_fstat, fd, &raw mut st).map(|_| st.st_mode & libc::S_IFMT)
}

/// Reads at most `max` bytes of an fd opened by `open_read`, appending to `out` (`fill` takes a
/// chunk; it returns false when the bound is passed). Waits for data at most `deadline_ms` in
/// all: a FIFO must have a writer with something to say by then. Errors: the read's errno,
/// EFBIG past the bound, ETIMEDOUT past the deadline.
fn read_bounded(
    fd: c_int,
    deadline_ms: i64,
    mut fill: impl FnMut(&[u8]) -> bool,
) -> Result<(), c_int> {
    let deadline = now_ms() + deadline_ms;
    let wait = |fd| -> Result<(), c_int> {
        let left = deadline - now_ms();
        if left <= 0 {
            return Err(libc::ETIMEDOUT);
        }
        match poll1(fd, libc::POLLIN, left as c_int) {
            Ok(0) => Err(libc::ETIMEDOUT),
            Ok(_) | Err(libc::EINTR) => Ok(()),
            Err(e) => Err(e),
        }
    };
    // A FIFO reads EOF at once while no writer ever came: wait for one first.
    if fstat_mode(fd)? == libc::S_IFIFO {
        wait(fd)?;
    }
    let mut chunk = [0u8; 4096];
    loop {
        match read(fd, &mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if !fill(chunk.get(..n as usize).unwrap_or(&[])) {
                    return Err(libc::EFBIG);
                }
            }
            Err(libc::EINTR) => {}
            Err(libc::EAGAIN) => wait(fd)?,
            Err(e) => return Err(e),
        }
    }
}

/// Reads a whole file of at most `max` bytes without libc's stdio or Rust's std::fs (whose
/// close would land in our own hook during initialisation); see `read_bounded` for the errors.
pub fn read_file(
    path: &[u8],
    out: &mut Vec<u8>,
    max: usize,
    deadline_ms: i64,
) -> Result<(), c_int> {
    let fd = open_read(path)?;
    let result = read_bounded(fd, deadline_ms, |chunk| {
        if out.len() + chunk.len() > max {
            return false;
        }
        out.extend_from_slice(chunk);
        true
    });
    close(fd);
    result
}

/// Anonymous zeroed memory that is never freed; untouched pages cost nothing.
pub fn mmap_zeroed(len: usize) -> Option<*mut u8> {
    let r = sys!(
        libc::SYS_mmap,
        core::ptr::null_mut::<c_void>(),
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0
    );
    r.ok().map(|p| p as *mut u8)
}

pub fn munmap(ptr: *mut u8, len: usize) {
    let _ = sys!(libc::SYS_munmap, ptr, len);
}

/// The hard RLIMIT_NOFILE (how many fds the process could ever have).
pub fn getrlimit_nofile() -> u64 {
    nofile().map_or(1 << 20, |rl| rl.rlim_max)
}

/// The soft RLIMIT_NOFILE (the highest fd number a program may open, plus one).
pub fn getrlimit_nofile_soft() -> u64 {
    nofile().map_or(1024, |rl| rl.rlim_cur)
}

fn nofile() -> Result<libc::rlimit, c_int> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    sys!(libc::SYS_getrlimit, libc::RLIMIT_NOFILE, &raw mut rl).map(|_| rl)
}

pub fn fstat(fd: c_int) -> Result<libc::stat, c_int> {
    // SAFETY: stat is plain old data; the kernel fills it.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    sys!(libc::SYS_fstat, fd, &raw mut st).map(|_| st)
}

pub fn listen(fd: c_int, backlog: c_int) -> SysResult {
    sys!(libc::SYS_listen, fd, backlog)
}

/// accept4 without asking for the peer's address.
pub fn accept4(fd: c_int, flags: c_int) -> Result<c_int, c_int> {
    sys!(
        libc::SYS_accept4,
        fd,
        core::ptr::null_mut::<sockaddr>(),
        core::ptr::null_mut::<socklen_t>(),
        flags
    )
    .map(|fd| fd as c_int)
}

pub fn ioctl(fd: c_int, request: libc::c_ulong, arg: *mut c_void) -> SysResult {
    sys!(libc::SYS_ioctl, fd, request, arg)
}

pub fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> SysResult {
    sys!(libc::SYS_recvmsg, fd, msg, flags)
}

/// The kernel's name (`SYS_getsockname` or `SYS_getpeername`) of `fd` into `buf`; its length.
pub fn socket_name(nr: c_long, fd: c_int, buf: &mut [u8]) -> Result<usize, c_int> {
    let mut len = buf.len() as socklen_t;
    sys!(nr, fd, buf.as_mut_ptr(), &mut len as *mut socklen_t).map(|_| len as usize)
}

pub fn sleep_ms(ms: i64) {
    let ts = libc::timespec {
        tv_sec: ms / 1000,
        tv_nsec: (ms % 1000) * 1_000_000,
    };
    let _ = sys!(libc::SYS_nanosleep, &ts as *const libc::timespec, 0usize);
}

/// Sets SO_RCVTIMEO and SO_SNDTIMEO (0 = none).
pub fn set_timeouts(fd: c_int, ms: i64) {
    let tv = libc::timeval {
        tv_sec: ms / 1000,
        tv_usec: (ms % 1000) * 1000,
    };
    let size = core::mem::size_of::<libc::timeval>() as u32;
    for name in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        let _ = setsockopt(fd, libc::SOL_SOCKET, name, (&raw const tv).cast(), size);
    }
}

/// Receives one message into `buf` with `MSG_CMSG_CLOEXEC`: its length and the first fd it
/// carried (any further fds are closed: one socket per message).
pub fn recv_with_fd(fd: c_int, buf: &mut [u8]) -> Result<(usize, Option<c_int>), c_int> {
    recv_with_fd_by(fd, buf, recvmsg)
}

/// `recv_with_fd` making the call with `call` (libc's recvmsg where a program's thread must
/// stay cancellable, as in a real accept).
pub fn recv_with_fd_by(
    fd: c_int,
    buf: &mut [u8],
    call: impl FnOnce(c_int, *mut libc::msghdr, c_int) -> SysResult,
) -> Result<(usize, Option<c_int>), c_int> {
    const MAX_FDS: usize = 8;
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64 for cmsghdr alignment: header plus MAX_FDS ints.
    let mut control = [0u64; 2 + MAX_FDS / 2 + 1];
    // SAFETY: an all-zero msghdr is valid; the pointers are set just below.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = core::mem::size_of_val(&control);
    let n = call(fd, &mut msg, libc::MSG_CMSG_CLOEXEC)? as usize;
    let mut first = None;
    // SAFETY: msg was filled by the kernel; the CMSG_* helpers walk its control buffer.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let bytes = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let p = libc::CMSG_DATA(c).cast::<c_int>();
                for i in 0..bytes / core::mem::size_of::<c_int>() {
                    let passed = p.add(i).read_unaligned();
                    if first.is_none() {
                        first = Some(passed);
                    } else {
                        close(passed);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, first))
}

/// A non-blocking, close-on-exec CLOCK_MONOTONIC timerfd.
pub fn timer_new() -> Result<c_int, c_int> {
    sys!(
        libc::SYS_timerfd_create,
        libc::CLOCK_MONOTONIC,
        libc::TFD_NONBLOCK | libc::TFD_CLOEXEC
    )
    .map(|fd| fd as c_int)
}

/// Arms a timerfd to expire once, `ms` from now.
pub fn timer_arm(fd: c_int, ms: i64) -> SysResult {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        },
    };
    sys!(
        libc::SYS_timerfd_settime,
        fd,
        0,
        &spec as *const libc::itimerspec,
        0usize
    )
}

// ---- used by the vsock and hybrid-vsock conversions ----

pub fn read(fd: c_int, buf: &mut [u8]) -> SysResult {
    sys!(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len())
}

pub fn recv(fd: c_int, buf: &mut [u8], flags: c_int) -> SysResult {
    sys!(
        libc::SYS_recvfrom,
        fd,
        buf.as_mut_ptr(),
        buf.len(),
        flags,
        core::ptr::null_mut::<sockaddr>(),
        core::ptr::null_mut::<socklen_t>()
    )
}

pub fn send(fd: c_int, buf: &[u8], flags: c_int) -> SysResult {
    sys!(
        libc::SYS_sendto,
        fd,
        buf.as_ptr(),
        buf.len(),
        flags,
        core::ptr::null::<sockaddr>(),
        0
    )
}

/// Sends `buf` with one fd attached (SCM_RIGHTS) to the address `to` (a datagram socket's
/// own name, for one; empty: the connected peer), non-blocking.
pub fn send_fd_to(fd: c_int, buf: &[u8], pass: c_int, to: &[u8]) -> SysResult {
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = [0u64; 3];
    // SAFETY: an all-zero msghdr is valid; the pointers are set just below.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    if !to.is_empty() {
        msg.msg_name = to.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = to.len() as socklen_t;
    }
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(core::mem::size_of::<c_int>() as u32) } as usize;
    // SAFETY: the control buffer holds one header with one int.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(core::mem::size_of::<c_int>() as u32) as usize;
        libc::CMSG_DATA(c).cast::<c_int>().write_unaligned(pass);
    }
    sys!(
        libc::SYS_sendmsg,
        fd,
        &msg as *const libc::msghdr,
        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL
    )
}

/// poll(2) on one fd; Ok(revents), Ok(0) on timeout.
pub fn poll1(fd: c_int, events: i16, timeout_ms: c_int) -> Result<i16, c_int> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts;
    let tsp = if timeout_ms < 0 {
        core::ptr::null()
    } else {
        ts = libc::timespec {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_nsec: ((timeout_ms % 1000) as libc::c_long) * 1_000_000,
        };
        &raw const ts
    };
    sys!(
        libc::SYS_ppoll,
        &raw mut p,
        1,
        tsp,
        core::ptr::null::<libc::sigset_t>(),
        0
    )
    .map(|n| if n > 0 { p.revents } else { 0 })
}

pub fn socketpair(domain: c_int, ty: c_int) -> Result<(c_int, c_int), c_int> {
    let mut fds = [-1 as c_int; 2];
    sys!(libc::SYS_socketpair, domain, ty, 0, fds.as_mut_ptr()).map(|_| (fds[0], fds[1]))
}

pub fn epoll_create() -> Result<c_int, c_int> {
    sys!(libc::SYS_epoll_create1, libc::EPOLL_CLOEXEC).map(|fd| fd as c_int)
}

pub fn epoll_wait(epfd: c_int, events: &mut [libc::epoll_event], timeout_ms: c_int) -> SysResult {
    sys!(
        libc::SYS_epoll_pwait,
        epfd,
        events.as_mut_ptr(),
        events.len(),
        timeout_ms,
        core::ptr::null::<libc::sigset_t>(),
        0
    )
}

/// Monotonic milliseconds.
pub fn now_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let _ = sys!(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &raw mut ts);
    ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}

/// Reads a whole small regular file into `buf` without allocating: Ok(bytes read), at most
/// buf.len(); `Ok(buf.len() + 1)` when the file is longer. Anything but a regular file (a FIFO
/// or a device where one was expected) is EINVAL, never waited for.
pub fn read_small_file(path: &[u8], buf: &mut [u8]) -> Result<usize, c_int> {
    let fd = open_read(path)?;
    let mut n = 0;
    let result = match fstat_mode(fd) {
        Ok(libc::S_IFREG) => read_bounded(fd, 0, |chunk| {
            let room = buf.len().saturating_sub(n);
            let take = chunk.len().min(room);
            if let (Some(dst), Some(src)) = (buf.get_mut(n..n + take), chunk.get(..take)) {
                dst.copy_from_slice(src);
            }
            n += take;
            if take < chunk.len() {
                n = buf.len() + 1;
                return false;
            }
            true
        }),
        Ok(_) => Err(libc::EINVAL),
        Err(e) => Err(e),
    };
    close(fd);
    match result {
        Ok(()) => Ok(n),
        Err(libc::EFBIG) => Ok(buf.len() + 1),
        Err(e) => Err(e),
    }
}
