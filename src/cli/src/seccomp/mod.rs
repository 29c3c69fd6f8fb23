//! The seccomp backend of `sockswap run`: the program runs under a seccomp filter whose socket
//! calls come to this process (user notification) and are decided by the core's decision
//! engine — the same code the shim's hooks ask. Works for any binary: static, Go, raw
//! `syscall()` callers. docs/seccomp.md describes the design and its limits.

pub mod detect;
pub mod filter;
mod supervisor;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use sockswap_core::config::LogLevel;
use sockswap_core::rule::{Action, SockType};
use sockswap_core::Config;

pub use supervisor::ExitStatus;

/// Can the seccomp backend enforce this configuration? Every rule must be one it carries out;
/// otherwise the program does not start (never a silent pass-through).
pub fn check_supported(cfg: &Config) -> Result<(), String> {
    // (Every rule action is carried out: path, abstract, reject, ignore, blackhole, vsock,
    // hybrid vsock, socketbox A/B, systemd, netns. What remains are the unsock and
    // socketbox-preload process-wide switches.)
    if cfg.accept_convert.is_some() || cfg.accept_convert_vsock.is_some() {
        return Err("UNSOCK_ACCEPT_CONVERT_* are not supported by the seccomp backend (use --backend preload)".into());
    }
    if cfg.block_listen_unbound || cfg.name_protection > 0 || cfg.sched_yield {
        return Err("socketbox-preload's SKBOX_* variables are not supported by the seccomp backend (use --backend preload)".into());
    }
    Ok(())
}

/// May some rule convert a datagram socket? (Then sendto/recvfrom with an address are trapped
/// too; programs under TCP-only rules do not pay for them.)
fn converts_datagrams(cfg: &Config) -> bool {
    cfg.rules.iter().any(|r| {
        r.ty != Some(SockType::Tcp) && !matches!(r.action, Action::Reject(_) | Action::Ignore)
    })
}

/// Is seccomp user notification usable here? (Checked by asking the kernel whether it knows
/// the action; a kernel without it, or a seccomp-less build, answers EOPNOTSUPP/EINVAL.)
pub fn available() -> Result<(), String> {
    let action: u32 = libc::SECCOMP_RET_USER_NOTIF;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from the pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL as libc::c_ulong,
            0 as libc::c_ulong,
            &action as *const u32,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "seccomp user notification is not available in this kernel ({})",
            crate::errno_words(last_errno())
        ))
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Runs `path` with `argv`/`envp` under the filter and supervises it until it exits.
pub fn run(
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cfg: Config,
    log: LogLevel,
) -> Result<ExitStatus, String> {
    for dir in &cfg.create_dirs {
        let _ = std::fs::create_dir_all(dir);
    }
    let (passed, mut envp) = take_passed_sockets(&cfg, envp)?;
    // Sockets systemd passed to us that no rule takes are the program's: its LISTEN_PID must
    // name it (it is our child, with a pid known only after fork: the child writes it in).
    let own_pid = std::process::id().to_string();
    let listen_pid = envp
        .iter()
        .position(|e| e.as_bytes().strip_prefix(b"LISTEN_PID=") == Some(own_pid.as_bytes()));
    if let Some(i) = listen_pid {
        envp[i] = CString::new(format!("LISTEN_PID={}", " ".repeat(20))).unwrap_or_default();
    }
    let prog = filter::program(converts_datagrams(&cfg), cfg.block_inet6);
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let (ours, theirs) = socketpair()?;
    let signals = supervisor::forwarded_signals();
    let old_mask = block_signals(&signals)?;
    // SAFETY: fork in a single-threaded process (no thread has been started yet); the child
    // only makes async-signal-safe calls (prctl, seccomp, sendmsg, execve, _exit) and
    // touches no allocator.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", crate::errno_words(last_errno())));
    }
    if pid == 0 {
        drop(ours);
        // SAFETY: see above; every pointer was prepared before fork.
        unsafe {
            child(
                theirs.as_raw_fd(),
                &prog,
                &old_mask,
                &path,
                &argv_ptrs,
                &envp_ptrs,
                listen_pid.map(|i| envp_ptrs[i]),
            )
        }
    }
    drop(theirs);
    let notify = match receive_listener(&ours) {
        Ok(fd) => fd,
        Err(why) => {
            let _ = supervisor::wait_child(pid);
            return Err(why);
        }
    };
    // The exec result: EOF = exec happened, 4 bytes = errno of a failed exec.
    let mut buf = [0u8; 4];
    // SAFETY: buf is valid for 4 bytes.
    let n = unsafe { libc::read(ours.as_raw_fd(), buf.as_mut_ptr().cast(), 4) };
    if n == 4 {
        let e = i32::from_ne_bytes(buf);
        let _ = supervisor::wait_child(pid);
        return Err(format!(
            "cannot run {}: {}",
            path.to_string_lossy(),
            crate::errno_words(e)
        ));
    }
    drop(ours);
    supervisor::supervise(notify, pid, cfg.rules, log, &signals, passed)
}

/// With `systemd` rules: the sockets systemd passed to this process (`LISTEN_PID` is ours, the
/// program gets another pid), kept by the supervisor for the rules that will take them, not
/// inherited by the program, and the `LISTEN_*` variables taken out of its environment. None
/// passed: nothing kept (a `systemd` rule's bind then fails with a line saying why, as under
/// the shim). Malformed variables: the program does not start.
fn take_passed_sockets(
    cfg: &Config,
    envp: Vec<CString>,
) -> Result<(Vec<supervisor::PassedSocket>, Vec<CString>), String> {
    if !cfg
        .rules
        .iter()
        .any(|r| matches!(r.action, Action::Systemd(_)))
    {
        return Ok((Vec::new(), envp));
    }
    let var = |name: &str| {
        envp.iter().find_map(|e| {
            let e = e.to_str().ok()?;
            e.strip_prefix(name)?.strip_prefix('=').map(str::to_owned)
        })
    };
    let fds = sockswap_core::activation::passed_fds(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
        &cfg.rules,
    )
    .map_err(|e| format!("socket activation: {e}"))?;
    let mut passed = Vec::new();
    for p in fds {
        // SAFETY: F_DUPFD_CLOEXEC with integer arguments; then the passed number is closed
        // (the program must not inherit it: it could not tell it from its own fds).
        let fd = unsafe { libc::fcntl(p.fd, libc::F_DUPFD_CLOEXEC, 3) };
        if fd < 0 {
            return Err(format!(
                "socket activation: passed fd {}: {}",
                p.fd,
                crate::errno_words(last_errno())
            ));
        }
        // SAFETY: the passed fd is ours (LISTEN_PID) and now has a copy.
        unsafe { libc::close(p.fd) };
        // SAFETY: a fresh fd we own.
        passed.push((p, unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    let envp = envp
        .into_iter()
        .filter(|e| {
            let b = e.as_bytes();
            !(b.starts_with(b"LISTEN_PID=")
                || b.starts_with(b"LISTEN_FDS=")
                || b.starts_with(b"LISTEN_FDNAMES="))
        })
        .collect();
    Ok((passed, envp))
}

fn socketpair() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is valid for two ints.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(format!("socketpair: {}", crate::errno_words(last_errno())));
    }
    // SAFETY: two fresh fds we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn block_signals(signals: &[i32]) -> Result<libc::sigset_t, String> {
    // SAFETY: sigset_t is plain data; the calls only read/write the sets given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) != 0 {
            return Err("sigprocmask failed".into());
        }
        Ok(old)
    }
}

/// The forked child: restore the signal mask, install the filter, hand the listener to the
/// supervisor, exec. Reports failures as an errno over `sock`.
///
/// # Safety
/// Only between fork and exec of a single-threaded parent; the pointers are valid.
unsafe fn child(
    sock: RawFd,
    prog: &[libc::sock_filter],
    old_mask: &libc::sigset_t,
    path: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    listen_pid: Option<*const libc::c_char>,
) -> ! {
    if let Some(var) = listen_pid {
        // SAFETY: var is our "LISTEN_PID=" + 20 spaces (this process's copy after fork):
        // the pid's digits and a NUL fit.
        unsafe { write_pid(var.cast_mut().add(b"LISTEN_PID=".len()), libc::getpid()) };
    }
    let report = |e: i32| {
        let b = e.to_ne_bytes();
        // SAFETY: b is valid for 4 bytes.
        unsafe { libc::send(sock, b.as_ptr().cast(), 4, libc::MSG_NOSIGNAL) };
    };
    // SAFETY: old_mask is a valid set; SIGPIPE back to its default (Rust's runtime ignores
    // it, and an ignored signal stays ignored across exec).
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, old_mask, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    };
    let listener = match filter::install(prog) {
        Ok(fd) => fd,
        Err(e) => {
            report(e);
            // SAFETY: leaving the child.
            unsafe { libc::_exit(126) };
        }
    };
    if send_fd(sock, listener).is_err() {
        // SAFETY: leaving the child.
        unsafe { libc::_exit(126) };
    }
    // SAFETY: our copy of the listener; the supervisor holds its own.
    unsafe { libc::close(listener) };
    // SAFETY: NULL-terminated arrays of C strings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    report(last_errno());
    // SAFETY: leaving the child.
    unsafe { libc::_exit(127) }
}

/// Writes `pid` in decimal and a NUL at `out` (at most 11 bytes), without allocating.
///
/// # Safety
/// `out` is valid for 11 bytes.
unsafe fn write_pid(out: *mut libc::c_char, pid: i32) {
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut v = pid.unsigned_abs();
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 || n == digits.len() {
            break;
        }
    }
    for i in 0..n {
        // SAFETY: i + 1 ≤ 10 < 11.
        unsafe { *out.add(i) = digits[n - 1 - i] as libc::c_char };
    }
    // SAFETY: n ≤ 10.
    unsafe { *out.add(n) = 0 };
}

/// Sends `fd` with a 4-byte zero payload (0 = "here is the listener").
fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), ()> {
    let payload = 0i32.to_ne_bytes();
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut _,
        iov_len: 4,
    };
    // CMSG_SPACE(sizeof(int)) = 24 on 64-bit Linux.
    let mut cbuf = [0u64; 3];
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as usize;
    // SAFETY: msg_control points at a buffer of msg_controllen bytes, room for one header.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fd);
    }
    // SAFETY: msg describes valid buffers.
    if unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) } == 4 {
        Ok(())
    } else {
        Err(())
    }
}

/// The listener fd from the child, or why the child could not install the filter.
fn receive_listener(sock: &OwnedFd) -> Result<OwnedFd, String> {
    let mut payload = [0u8; 4];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: 4,
    };
    let mut cbuf = [0u64; 3];
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg describes valid buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n != 4 {
        return Err("the program exited before its seccomp filter was installed".into());
    }
    let code = i32::from_ne_bytes(payload);
    if code != 0 {
        return Err(format!(
            "cannot install the seccomp filter: {}{}",
            crate::errno_words(code),
            if code == libc::EBUSY {
                " (the program already runs under a notifying seccomp filter)"
            } else {
                ""
            }
        ));
    }
    // SAFETY: the control buffer was filled by the kernel; CMSG_* walk it within bounds.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err("the child sent no seccomp listener".into());
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}
