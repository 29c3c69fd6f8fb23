//! The supervisor loop: receives the program's trapped socket calls, asks the core's decision
//! engine, and carries the decision out from outside the program — its own copy of the
//! program's socket (`pidfd_getfd`), replacement sockets installed at the program's fd number
//! (`SECCOMP_IOCTL_NOTIF_ADDFD` + `SETFD`, or `SEND` for accept so the fd and the answer arrive
//! together), sockaddrs read and written with `process_vm_readv`/`process_vm_writev`.
//!
//! What a converted socket pretends (its IP names) is keyed by the inode of the Unix socket
//! standing in for it, so it holds in every process and fd number the socket reaches: forked
//! children, exec'd images, dup'd and passed fds.

use std::collections::HashMap;
use std::ffi::CString;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod waiters;
use waiters::Waiters;

use sockswap_core::activation::{self, PassedFd};
use sockswap_core::addr::{self, Decoded, UnixName, UnixSockaddr};
use sockswap_core::config::LogLevel;
use sockswap_core::decide::{self, decide, Decision};
use sockswap_core::rule::{Action, Direction, QueryTarget, Rule};
use sockswap_core::sockopt::Options;

/// Signals the launcher passes on to the program (and SIGCHLD, which it handles).
pub fn forwarded_signals() -> Vec<i32> {
    vec![
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
        libc::SIGCHLD,
    ]
}

/// How the program ended.
#[derive(Debug, Clone, Copy)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

/// What a converted socket pretends to be.
#[derive(Debug, Clone, Copy)]
struct Face {
    /// The family the program created (AF_INET/AF_INET6).
    family: i32,
    local: SocketAddr,
    /// None for a listener (getpeername: ENOTCONN).
    peer: Option<SocketAddr>,
    /// The rule that converted it (for `peer=`).
    rule: usize,
    /// A datagram socket (sendto/recvfrom with addresses go through the supervisor).
    dgram: bool,
    /// A socketbox listener: accept takes connections the router passes.
    socketbox: Option<Socketbox>,
    /// The accepted end of a connection (its socket options are an accepted TCP socket's).
    accepted: bool,
    /// A real TCP socket of another family than the program's: the kernel answers its
    /// options (only its names and identity are pretended).
    real: bool,
    /// Socket options the program set (supervisor/sockopt.rs).
    opts: Options,
}

/// The two kinds of socketbox listener (docs/router.md "Delivery").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socketbox {
    /// `socketbox=PATH`: a Unix datagram socket bound at PATH; each datagram `00` carries one
    /// connection.
    A,
    /// `socketbox-b=API:SLOT`: a SEQPACKET stream registered for the slot; each record
    /// `03 00 00 00` carries one connection.
    B,
}

/// One answer to a trapped call.
enum Answer {
    /// Let the kernel run the call as the program made it.
    Continue,
    Error(i32),
    Value(i64),
    /// Already answered (ADDFD with SEND), or handed to a waiter thread.
    Done,
}

struct Shared {
    notify: OwnedFd,
    rules: Vec<Rule>,
    log: LogLevel,
    faces: Mutex<HashMap<u64, Face>>,
    /// Socket files we bound: (path, device, inode), removed when the program ends.
    files: Mutex<Vec<(CString, u64, u64)>>,
    /// Calls waiting for their socket to become readable.
    waiters: Waiters,
    /// Trapped calls received, per entry of `filter::TRAPPED`, `TRAPPED_BY_ARGUMENT` and
    /// `TRAPPED_WITH_ADDRESS`.
    counts: [AtomicU64; 12],
    /// The Unix names datagrams come from, as IP addresses.
    peers: Mutex<Peers>,
    /// Held around each accept on a converted listener (see try_accept).
    blocking_accept: Mutex<()>,
    /// The sockets systemd passed, until a `systemd` rule takes one.
    passed: Mutex<Passed>,
    /// Which processes have an epoll instance.
    epoll_users: epoll::Users,
}

struct Passed {
    fds: Vec<PassedFd>,
    /// Our copy of each, None once a rule took it.
    held: Vec<Option<OwnedFd>>,
}

/// A socket systemd passed to `sockswap run` (fd number and name as passed; our copy).
pub type PassedSocket = (PassedFd, OwnedFd);

/// Unix datagram senders and the IP addresses they are reported as: a name a rule sent to is
/// the address the program sent to; any other name gets loopback and port 61000 + its index,
/// so that a reply to that address finds the name again.
#[derive(Default)]
struct Peers {
    by_name: HashMap<Vec<u8>, SocketAddr>,
    synthetic: Vec<Vec<u8>>,
}

const SYNTHETIC_BASE: u16 = 61000;
const SYNTHETIC_MAX: usize = 4096;

impl Peers {
    fn remember(&mut self, name: &[u8], ip: SocketAddr) {
        self.by_name.insert(name.to_vec(), ip);
    }

    /// The IP address a datagram from `name` is reported as.
    fn address_of(&mut self, name: &[u8], family: i32) -> SocketAddr {
        if let Some(a) = self.by_name.get(name) {
            return *a;
        }
        let index = match self.synthetic.iter().position(|n| n == name) {
            Some(i) => i,
            None if self.synthetic.len() < SYNTHETIC_MAX => {
                self.synthetic.push(name.to_vec());
                self.synthetic.len() - 1
            }
            None => {
                // Full: the oldest entry gives way (a reply to it reaches the newer sender).
                self.synthetic.remove(0);
                self.synthetic.push(name.to_vec());
                SYNTHETIC_MAX - 1
            }
        };
        SocketAddr::new(addr::loopback(family, false), SYNTHETIC_BASE + index as u16)
    }

    /// The Unix name behind a synthetic address.
    fn name_of(&self, ip: SocketAddr) -> Option<Vec<u8>> {
        if !ip.ip().is_loopback() && ip.ip() != addr::loopback(libc::AF_INET6, true) {
            return None;
        }
        let i = usize::from(ip.port().checked_sub(SYNTHETIC_BASE)?);
        self.synthetic.get(i).cloned()
    }
}

static EPHEMERAL: AtomicU32 = AtomicU32::new(0);

/// The next port of the ephemeral sequence (32768–60999) used for reported names.
fn next_ephemeral_port() -> u16 {
    const LO: u32 = 32768;
    const SPAN: u32 = 61000 - 32768;
    let n = EPHEMERAL.fetch_add(1, Ordering::Relaxed);
    static SEED: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| std::process::id().wrapping_mul(2_654_435_761) % SPAN);
    (LO + n.wrapping_add(seed) % SPAN) as u16
}

macro_rules! slog {
    ($sh:expr, $lvl:ident, $($arg:tt)*) => {
        if $sh.log >= sockswap_core::config::LogLevel::$lvl {
            eprintln!("sockswap: {}", format_args!($($arg)*));
        }
    };
}

// (after slog!, which they use)
mod epoll;
mod netns;
mod sockopt;
mod vsock;

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn cvt(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Waits for `pid` and returns how it ended.
pub fn wait_child(pid: i32) -> ExitStatus {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return decode_status(status);
        }
        if r < 0 && errno() != libc::EINTR {
            return ExitStatus::Code(127);
        }
    }
}

fn decode_status(status: i32) -> ExitStatus {
    if libc::WIFSIGNALED(status) {
        ExitStatus::Signal(libc::WTERMSIG(status))
    } else {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    }
}

/// Supervises until the program (`pid`) exits.
pub fn supervise(
    notify: OwnedFd,
    pid: i32,
    rules: Vec<Rule>,
    log: LogLevel,
    signals: &[i32],
    passed: Vec<PassedSocket>,
) -> Result<ExitStatus, String> {
    let shared = Arc::new(Shared {
        passed: Mutex::new(Passed {
            fds: passed.iter().map(|(p, _)| p.clone()).collect(),
            held: passed.into_iter().map(|(_, fd)| Some(fd)).collect(),
        }),
        notify,
        rules,
        log,
        faces: Mutex::new(HashMap::new()),
        files: Mutex::new(Vec::new()),
        waiters: Waiters::new()?,
        counts: Default::default(),
        peers: Mutex::new(Peers::default()),
        blocking_accept: Mutex::new(()),
        epoll_users: epoll::Users::default(),
    });
    let sigfd = signalfd(signals)?;
    sync_wake_up(&shared.notify);
    // Trapped calls are answered by a thread of their own that waits in SECCOMP_IOCTL_NOTIF_RECV
    // itself (no poll first: one system call and one wake-up less per call); this thread
    // waits for signals and the program's end.
    let answering = shared.clone();
    std::thread::Builder::new()
        .name("seccomp-notify".into())
        .spawn(move || answer_calls(&answering))
        .map_err(|e| format!("cannot start the supervisor thread: {e}"))?;
    let waiting = shared.clone();
    std::thread::Builder::new()
        .name("seccomp-wait".into())
        .spawn(move || waiters::serve(waiting))
        .map_err(|e| format!("cannot start the supervisor thread: {e}"))?;
    let status = loop {
        let mut fds = [libc::pollfd {
            fd: sigfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: fds is valid for 1 entry.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(format!("poll: {}", crate::errno_words(errno())));
        }
        if let Some(st) = handle_signals(&shared, &sigfd, pid) {
            break st;
        }
    };
    slog!(shared, Info, "{}", statistics(&shared));
    for (path, dev, ino) in shared.files.lock().unwrap().iter() {
        // Only the file we made: a later socket at the same path is someone else's.
        // SAFETY: stat is plain data; path is a valid C string.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::lstat(path.as_ptr(), &mut st) } == 0
            && st.st_dev == *dev
            && st.st_ino == *ino
        {
            // SAFETY: valid C string.
            unsafe { libc::unlink(path.as_ptr()) };
            slog!(shared, Debug, "removed {}", path.to_string_lossy());
        }
    }
    Ok(status)
}

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6): a trapped call and its answer hand the
/// CPU over directly (the program waits while we work, and we wait while it runs), instead of
/// waking a thread on another CPU each way. Older kernels: plain wake-ups.
fn sync_wake_up(notify: &OwnedFd) {
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
    // SAFETY: SET_FLAGS takes the flags by value.
    unsafe {
        libc::ioctl(
            notify.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
}

/// "N trapped calls (bind 1, accept4 2, …), supervisor CPU T us": what the program cost.
fn statistics(sh: &Shared) -> String {
    let names = [
        "bind",
        "connect",
        "accept",
        "accept4",
        "getsockname",
        "getpeername",
        "listen",
        "getsockopt",
        "setsockopt",
        "ioctl",
        "sendto",
        "recvfrom",
    ];
    let mut total = 0;
    let mut parts = Vec::new();
    for (name, c) in names.iter().zip(&sh.counts) {
        let n = c.load(Ordering::Relaxed);
        total += n;
        if n > 0 {
            parts.push(format!("{name} {n}"));
        }
    }
    // SAFETY: rusage is plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1_000_000
        + ru.ru_utime.tv_usec
        + ru.ru_stime.tv_usec;
    format!(
        "seccomp: {total} trapped calls ({}), supervisor CPU {cpu_us} us",
        parts.join(", ")
    )
}

fn signalfd(signals: &[i32]) -> Result<OwnedFd, String> {
    // SAFETY: sigset_t is plain data; signalfd reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(format!("signalfd: {}", crate::errno_words(errno())));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Forwards signals; returns the exit status once the program has exited.
fn handle_signals(sh: &Shared, sigfd: &OwnedFd, pid: i32) -> Option<ExitStatus> {
    loop {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: info is valid for size bytes.
        let n = unsafe {
            libc::read(
                sigfd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if n != size as isize {
            break;
        }
        let sig = info.ssi_signo as i32;
        if sig == libc::SIGCHLD {
            continue;
        }
        slog!(sh, Debug, "forwarding signal {sig} to pid {pid}");
        // SAFETY: kill with plain integers.
        unsafe { libc::kill(pid, sig) };
        // Calls waiting in the supervisor end as the signal would end them (see waiters).
        sh.waiters.signal_came();
    }
    let mut status = 0;
    // SAFETY: status is a valid int.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then(|| decode_status(status))
}

/// pidfds of the threads that made trapped calls (a thread's pidfd gives its process's fds).
#[derive(Default)]
struct PidFds(HashMap<u32, OwnedFd>);

/// `PIDFD_THREAD` (Linux 6.9): a pidfd for a thread that is not the group leader.
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

impl PidFds {
    fn get(&mut self, pid: u32) -> Result<RawFd, i32> {
        if let Some(fd) = self.0.get(&pid) {
            return Ok(fd.as_raw_fd());
        }
        if self.0.len() > 4096 {
            self.0.clear();
        }
        // SAFETY: pidfd_open with integer arguments.
        let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, PIDFD_THREAD) })
            // SAFETY: as above (before Linux 6.9: only thread-group leaders)...
            .or_else(|_| cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) }))
            // SAFETY: as above; ...so the leader of the thread's group (same fd table).
            .or_else(|e| {
                cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, tgid_of(pid).ok_or(e)?, 0) })
            })?;
        // SAFETY: a fresh fd we own.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let raw = owned.as_raw_fd();
        self.0.insert(pid, owned);
        Ok(raw)
    }

    /// The program's `fd`, as a file of ours (same open file: same socket, same status flags).
    fn take(&mut self, pid: u32, fd: i32) -> Result<OwnedFd, i32> {
        let pidfd = self.get(pid)?;
        // SAFETY: pidfd_getfd with integer arguments.
        match cvt(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) }) {
            // SAFETY: a fresh fd we own.
            Ok(n) => Ok(unsafe { OwnedFd::from_raw_fd(n as RawFd) }),
            Err(libc::ESRCH) => {
                // A stale pidfd of a thread that exited (its tid may be reused): open again.
                self.0.remove(&pid);
                let pidfd = self.get(pid)?;
                // SAFETY: as above.
                let n = cvt(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) })?;
                // SAFETY: a fresh fd we own.
                Ok(unsafe { OwnedFd::from_raw_fd(n as RawFd) })
            }
            Err(e) => Err(e),
        }
    }
}

/// The thread group (process) of thread `tid`, from /proc.
fn tgid_of(tid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The notification: its id, the calling thread and the call.
#[derive(Clone, Copy)]
struct Call {
    id: u64,
    pid: u32,
    nr: i64,
    args: [u64; 6],
}

/// Receives and answers trapped calls until no process is left under the filter.
fn answer_calls(sh: &Arc<Shared>) {
    let mut pidfds = PidFds::default();
    loop {
        // SAFETY: seccomp_notif is plain data; RECV fills it (it must be zeroed first).
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: n is a valid seccomp_notif.
        let r = unsafe {
            libc::ioctl(
                sh.notify.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n,
            )
        };
        if r == 0 {
            handle_one(sh, &mut pidfds, &n);
            continue;
        }
        match errno() {
            // Interrupted before we received it (the caller got a signal), or nobody left: the
            // kernel returns at once when the filter has no users (it hangs up the fd).
            libc::ENOENT | libc::EINTR if !hung_up(&sh.notify) => continue,
            libc::ENOENT | libc::EINTR => return,
            e => {
                slog!(
                    sh,
                    Warn,
                    "receiving trapped calls failed: {}",
                    crate::errno_words(e)
                );
                return;
            }
        }
    }
}

/// Has every process under the filter gone (POLLHUP on the listener)?
fn hung_up(notify: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: notify.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is a valid pollfd.
    unsafe { libc::poll(&mut p, 1, 0) };
    p.revents & libc::POLLHUP != 0
}

fn handle_one(sh: &Arc<Shared>, pidfds: &mut PidFds, n: &libc::seccomp_notif) {
    let call = Call {
        id: n.id,
        pid: n.pid,
        nr: i64::from(n.data.nr),
        args: n.data.args,
    };
    if let Some(i) = super::filter::TRAPPED
        .iter()
        .chain(super::filter::TRAPPED_BY_ARGUMENT)
        .chain(super::filter::TRAPPED_WITH_ADDRESS)
        .position(|&nr| nr == call.nr)
    {
        sh.counts[i].fetch_add(1, Ordering::Relaxed);
    }
    let answer = match call.nr {
        libc::SYS_bind => on_bind_connect(sh, pidfds, call, Direction::In),
        libc::SYS_connect => on_bind_connect(sh, pidfds, call, Direction::Out),
        libc::SYS_accept => on_accept(sh, pidfds, call, 0),
        libc::SYS_accept4 => on_accept(sh, pidfds, call, call.args[3] as i32),
        libc::SYS_getsockname => on_name(sh, pidfds, call, false),
        libc::SYS_getpeername => on_name(sh, pidfds, call, true),
        libc::SYS_listen => on_listen(sh, pidfds, call),
        libc::SYS_getsockopt => sockopt::on_getsockopt(sh, pidfds, call),
        libc::SYS_setsockopt => sockopt::on_setsockopt(sh, pidfds, call),
        libc::SYS_ioctl => sockopt::on_ioctl(sh, pidfds, call),
        libc::SYS_sendto => on_sendto(sh, pidfds, call),
        libc::SYS_recvfrom => on_recvfrom(sh, pidfds, call),
        nr if super::filter::EPOLL_CREATORS.contains(&nr) => {
            sh.epoll_users.created(call.pid);
            Ok(Answer::Continue)
        }
        _ => Ok(Answer::Continue),
    };
    let answer = answer.unwrap_or_else(Answer::Error);
    respond(&sh.notify, call.id, answer);
}

fn respond(notify: &OwnedFd, id: u64, answer: Answer) {
    let (val, error, flags) = match answer {
        Answer::Done => return,
        Answer::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        Answer::Error(e) => (0, -e, 0),
        Answer::Value(v) => (v, 0, 0),
    };
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: resp is a valid seccomp_notif_resp. ENOENT = the caller is gone or interrupted.
    unsafe {
        libc::ioctl(
            notify.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp,
        )
    };
}

fn id_valid(notify: &OwnedFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: id is a valid u64.
    unsafe {
        libc::ioctl(
            notify.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &mut id,
        ) == 0
    }
}

/// Reads `len` bytes of the program's memory at `addr`.
fn read_mem(pid: u32, addr: u64, len: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: both iovecs describe valid ranges (the remote one is checked by the kernel).
    let n = unsafe { libc::process_vm_readv(pid as i32, &local, 1, &remote, 1, 0) };
    if n != len as isize {
        return Err(libc::EFAULT);
    }
    Ok(buf)
}

fn write_mem(pid: u32, addr: u64, bytes: &[u8]) -> Result<(), i32> {
    let local = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: both iovecs describe valid ranges (the remote one is checked by the kernel).
    let n = unsafe { libc::process_vm_writev(pid as i32, &local, 1, &remote, 1, 0) };
    if n != bytes.len() as isize {
        return Err(libc::EFAULT);
    }
    Ok(())
}

/// Writes `full` (a sockaddr) to the program's (addr, addrlen) pair as the kernel would:
/// truncated to the buffer, the full length in `addrlen`. NULL `addr` writes nothing.
fn write_sockaddr(pid: u32, addr: u64, len_ptr: u64, full: &[u8]) -> Result<(), i32> {
    if addr == 0 {
        return Ok(());
    }
    if len_ptr == 0 {
        return Err(libc::EFAULT);
    }
    let cap = u32::from_ne_bytes(read_mem(pid, len_ptr, 4)?.try_into().unwrap_or([0; 4]));
    if (cap as i32) < 0 {
        return Err(libc::EINVAL);
    }
    let n = full.len().min(cap as usize);
    let len = (full.len() as u32).to_ne_bytes();
    let local = [
        libc::iovec {
            iov_base: full.as_ptr() as *mut libc::c_void,
            iov_len: n,
        },
        libc::iovec {
            iov_base: len.as_ptr() as *mut libc::c_void,
            iov_len: len.len(),
        },
    ];
    let remote = [
        libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: n,
        },
        libc::iovec {
            iov_base: len_ptr as *mut libc::c_void,
            iov_len: len.len(),
        },
    ];
    // SAFETY: the local iovecs describe our buffers; the remote ones are checked by the
    // kernel. One call writes the address and its length.
    let written =
        unsafe { libc::process_vm_writev(pid as i32, local.as_ptr(), 2, remote.as_ptr(), 2, 0) };
    if written != (n + len.len()) as isize {
        return Err(libc::EFAULT);
    }
    Ok(())
}

fn sockopt_int(fd: &OwnedFd, name: i32) -> Result<i32, i32> {
    let mut v: i32 = 0;
    let mut len = 4u32;
    // SAFETY: v is valid for 4 bytes.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut v as *mut i32).cast(),
            &mut len,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(v)
    }
}

fn inode(fd: &OwnedFd) -> Option<u64> {
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is valid.
    (unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0).then_some(st.st_ino)
}

/// Records a converted socket's face. The table is swept when it has grown past a bound:
/// faces whose socket no process holds any more are dropped (sockfs inode numbers are not
/// reused for 2^32 sockets, so a stale entry never names a new socket meanwhile).
fn add_face(sh: &Shared, ino: u64, face: Face) {
    let mut faces = sh.faces.lock().unwrap();
    faces.insert(ino, face);
    if faces.len() >= 4096 && faces.len().is_power_of_two() {
        let live = live_socket_inodes();
        faces.retain(|ino, _| live.contains(ino));
    }
}

/// Every socket inode some process has open (as far as /proc lets us see).
fn live_socket_inodes() -> std::collections::HashSet<u64> {
    let mut live = std::collections::HashSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return live;
    };
    for p in procs.flatten() {
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    if let Ok(n) = n.parse() {
                        live.insert(n);
                    }
                }
            }
        }
    }
    live
}

fn face_of(sh: &Shared, fd: &OwnedFd) -> Option<(u64, Face)> {
    let ino = inode(fd)?;
    sh.faces.lock().unwrap().get(&ino).map(|f| (ino, *f))
}

fn encode(face_family: i32, sa: SocketAddr) -> Vec<u8> {
    let mut out = [0u8; addr::SOCKADDR_IN6_LEN];
    let n = addr::encode_ip(sa, face_family, &mut out);
    out[..n].to_vec()
}

/// Does the program's fd have FD_CLOEXEC? (/proc/PID/fdinfo shows it as O_CLOEXEC.)
fn fd_cloexec(pid: u32, fd: i32) -> bool {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_some_and(|f| f & libc::O_CLOEXEC as u32 != 0)
}

/// Is something pending on `fd` right now?
fn readable_now(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is a valid pollfd.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

fn file_nonblocking(fd: &OwnedFd) -> bool {
    // SAFETY: fcntl on an fd we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) & libc::O_NONBLOCK != 0 }
}

fn set_nonblocking(fd: &OwnedFd, on: bool) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        let fl = if on {
            fl | libc::O_NONBLOCK
        } else {
            fl & !libc::O_NONBLOCK
        };
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl);
    }
}

/// SO_SNDTIMEO in whole seconds (0 = none): bounds a blocking Unix connect.
fn set_send_timeout(fd: &OwnedFd, secs: i64) {
    set_timeout(fd, libc::SO_SNDTIMEO, secs);
}

/// SO_SNDTIMEO or SO_RCVTIMEO (`which`) in whole seconds (0 = none).
fn set_timeout(fd: &OwnedFd, which: i32, secs: i64) {
    let tv = libc::timeval {
        tv_sec: secs,
        tv_usec: 0,
    };
    // SAFETY: tv is a valid timeval of the size given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            which,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
}

fn unix_socket(sotype: i32) -> Result<OwnedFd, i32> {
    // SAFETY: socket with integer arguments.
    let fd = unsafe { libc::socket(libc::AF_UNIX, (sotype & 0xf) | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sys_bind(fd: &OwnedFd, sa: &UnixSockaddr) -> Result<(), i32> {
    // SAFETY: sa holds a valid sockaddr_un of sa.len bytes.
    let r = unsafe { libc::bind(fd.as_raw_fd(), sa.bytes.as_ptr().cast(), sa.len as u32) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

fn sys_connect(fd: RawFd, sa: &UnixSockaddr) -> Result<(), i32> {
    // SAFETY: sa holds a valid sockaddr_un of sa.len bytes.
    let r = unsafe { libc::connect(fd, sa.bytes.as_ptr().cast(), sa.len as u32) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Binds `fd` at `sa`; a socket file nobody accepts on any more (connect refused) is replaced,
/// anything else in the way is EADDRINUSE.
fn bind_replacing_stale(fd: &OwnedFd, sotype: i32, sa: &UnixSockaddr) -> Result<(), i32> {
    match sys_bind(fd, sa) {
        Err(libc::EADDRINUSE) => {}
        other => return other,
    }
    let Some(path) = fs_path(sa) else {
        return Err(libc::EADDRINUSE);
    };
    let cpath = CString::new(path).map_err(|_| libc::EINVAL)?;
    let meta = std::fs::symlink_metadata(std::ffi::OsStr::from_bytes_compat(path));
    use std::os::unix::fs::FileTypeExt;
    if !meta.is_ok_and(|m| m.file_type().is_socket()) {
        return Err(libc::EADDRINUSE);
    }
    let probe = unix_socket(sotype)?;
    set_nonblocking(&probe, true);
    if sys_connect(probe.as_raw_fd(), sa) != Err(libc::ECONNREFUSED) {
        return Err(libc::EADDRINUSE);
    }
    // SAFETY: valid C string.
    unsafe { libc::unlink(cpath.as_ptr()) };
    sys_bind(fd, sa)
}

trait FromBytesCompat {
    fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr;
}

impl FromBytesCompat for std::ffi::OsStr {
    fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b)
    }
}

/// Installs `src` in the program at fd number `at` (replacing what is there, like dup3).
fn addfd(
    sh: &Shared,
    id: u64,
    src: &OwnedFd,
    at: i32,
    cloexec: bool,
    send: bool,
) -> Result<i32, i32> {
    let mut a = libc::seccomp_notif_addfd {
        id,
        flags: (libc::SECCOMP_ADDFD_FLAG_SETFD as u32)
            | if send {
                libc::SECCOMP_ADDFD_FLAG_SEND as u32
            } else {
                0
            },
        srcfd: src.as_raw_fd() as u32,
        newfd: at as u32,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: a is a valid seccomp_notif_addfd.
    let r = unsafe {
        libc::ioctl(
            sh.notify.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &mut a,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Puts `new` in the program at `fd`'s number in place of `old` (the program's socket, via our
/// copy): `O_NONBLOCK`, close-on-exec and the options the program set carried over, `face`
/// recorded. On failure nothing is
/// recorded; Err(ENOENT) = the call is gone (interrupted or the thread died).
fn install_replacement(
    sh: &Shared,
    call: Call,
    fd: i32,
    old: &OwnedFd,
    new: &OwnedFd,
    mut face: Face,
) -> Result<(), i32> {
    set_nonblocking(new, file_nonblocking(old));
    if !face.real {
        sockopt::carry_over(sh, old, new, &mut face);
    }
    let cloexec = fd_cloexec(call.pid, fd);
    let ino = inode(new).ok_or(libc::EBADF)?;
    add_face(sh, ino, face);
    replace_fd(sh, call, fd, old, new, cloexec).inspect_err(|_| {
        sh.faces.lock().unwrap().remove(&ino);
    })
}

/// A blocking connect under way on our socket `new`, to replace the program's socket `program`:
/// answered from the waiting thread when the handshake ends — `install(sh, program, new)` on
/// success, `errno_of(SO_ERROR)` on failure — or ETIMEDOUT after the program's SO_SNDTIMEO.
fn answer_when_connected(
    sh: &Shared,
    call: Call,
    program: &OwnedFd,
    new: OwnedFd,
    install: impl Fn(&Shared, &OwnedFd, &OwnedFd) -> Result<Answer, i32> + Send + 'static,
    errno_of: fn(i32) -> i32,
) -> Result<Answer, i32> {
    let deadline = sockopt_timeval(program, libc::SO_SNDTIMEO)
        .filter(|t| !t.is_zero())
        .map(|t| std::time::Instant::now() + t);
    let program = program
        .try_clone()
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EBADF))?;
    let attempt = move |sh: &Shared, new: &OwnedFd| -> Result<Option<Answer>, i32> {
        match sockopt_int(new, libc::SO_ERROR)? {
            0 => install(sh, &program, new).map(Some),
            e => Err(errno_of(e)),
        }
    };
    sh.waiters.wait_for(
        libc::EPOLLOUT as u32,
        call.id,
        call.pid,
        new,
        deadline,
        Box::new(attempt),
    )?;
    Ok(Answer::Done)
}

/// Puts `new` at the program's `fd` in place of `old` (ADDFD + SETFD), and in the epoll
/// instances `old` was in (supervisor/epoll.rs).
fn replace_fd(
    sh: &Shared,
    call: Call,
    fd: i32,
    old: &OwnedFd,
    new: &OwnedFd,
    cloexec: bool,
) -> Result<(), i32> {
    // (Only in a process that made or inherited an epoll instance: the scan costs ~30 µs.)
    let regs = match inode(old) {
        Some(ino) if sh.epoll_users.may_watch(call.pid) => epoll::registrations(call.pid, fd, ino),
        _ => Vec::new(),
    };
    addfd(sh, call.id, new, fd, cloexec, false)?;
    if !regs.is_empty() {
        let lost = epoll::reregister(call.pid, fd, new, &regs);
        slog!(
            sh,
            Debug,
            "pid {}: fd {fd}: {} epoll registration(s) carried over to the new socket",
            call.pid,
            regs.len() - lost
        );
        if lost > 0 {
            slog!(
                sh,
                Warn,
                "pid {}: fd {fd}: {lost} epoll registration(s) could not be carried over",
                call.pid
            );
        }
    }
    Ok(())
}

fn describe_target(t: QueryTarget<'_>) -> String {
    match t {
        QueryTarget::Ip(sa) => sa.to_string(),
        QueryTarget::Unix(n) => decide::describe_unix(n),
    }
}

// ---------------------------------------------------------------- bind and connect

fn on_bind_connect(
    sh: &Shared,
    pidfds: &mut PidFds,
    call: Call,
    dir: Direction,
) -> Result<Answer, i32> {
    let fd = call.args[0] as i32;
    let len = (call.args[2] as u32).min(128) as usize;
    let bytes = read_mem(call.pid, call.args[1], len)?;
    let target = match addr::decode(&bytes) {
        Decoded::Ip(sa) => QueryTarget::Ip(sa),
        Decoded::Unix(name) => QueryTarget::Unix(name),
        _ => return Ok(Answer::Continue),
    };
    let sock = match pidfds.take(call.pid, fd) {
        Ok(s) => s,
        Err(libc::EBADF) => return Ok(Answer::Continue), // the kernel says EBADF itself
        Err(e) => {
            // Never a silent pass-through: a call we cannot judge fails.
            slog!(
                sh,
                Error,
                "pid {}: fd {fd}: cannot inspect the socket: {}",
                call.pid,
                crate::errno_words(e)
            );
            return Err(e);
        }
    };
    let Ok(family) = sockopt_int(&sock, libc::SO_DOMAIN) else {
        return Ok(Answer::Continue);
    };
    let sotype = sockopt_int(&sock, libc::SO_TYPE).unwrap_or(0);
    if !id_valid(&sh.notify, call.id) {
        return Ok(Answer::Done);
    }
    let face = face_of(sh, &sock);
    // A socket we converted already pretends the family of the address it was given.
    let judged_family = match (face, target) {
        (Some((_, f)), _) => f.family,
        _ => family,
    };
    if face.is_some() && dir == Direction::In {
        return Ok(Answer::Continue); // the kernel refuses a second bind, as for TCP
    }
    let decision = decide(&sh.rules, dir, judged_family, sotype, target);
    let verb = if dir == Direction::In {
        "bind"
    } else {
        "connect"
    };
    let (index, rule) = match decision {
        Decision::PassThrough => {
            if let (Some(_), QueryTarget::Ip(_), Direction::Out) = (face, target, dir) {
                slog!(sh, Warn, "pid {}: fd {fd}: connect to {} from a socket bound to a Unix path; no 'out' rule matches", call.pid, describe_target(target));
                return Err(libc::ENETUNREACH);
            }
            slog!(
                sh,
                Trace,
                "pid {}: {verb} {}: no rule",
                call.pid,
                describe_target(target)
            );
            return Ok(Answer::Continue);
        }
        Decision::Reject(e) => {
            slog!(
                sh,
                Debug,
                "pid {}: {verb} {}: rejected",
                call.pid,
                describe_target(target)
            );
            return Err(e);
        }
        Decision::Convert { index, rule } => (index, rule),
    };
    if let (Action::Netns(server), QueryTarget::Ip(ip)) = (&rule.action, target) {
        let op = match dir {
            Direction::In => sockswap_core::netns::Op::Bind,
            Direction::Out => sockswap_core::netns::Op::Connect,
        };
        return netns::bind_connect(sh, call, fd, &sock, family, sotype, server, op, &bytes, ip);
    }
    match dir {
        Direction::In => bind_converted(sh, call, fd, &sock, family, sotype, index, rule, target),
        Direction::Out => connect_converted(
            sh, call, fd, &sock, family, sotype, face, index, rule, target,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn bind_converted(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    sotype: i32,
    index: usize,
    rule: &Rule,
    target: QueryTarget<'_>,
) -> Result<Answer, i32> {
    if let (Action::Vsock { cid, port }, QueryTarget::Ip(ip), libc::AF_INET | libc::AF_INET6) =
        (&rule.action, target, family)
    {
        return vsock::bind(sh, call, fd, sock, family, sotype, index, (*cid, *port), ip);
    }
    if let (Action::Systemd(want), QueryTarget::Ip(ip)) = (&rule.action, target) {
        return bind_systemd(
            sh,
            call,
            fd,
            sock,
            family,
            sotype,
            index,
            want.as_deref(),
            ip,
        );
    }
    let socketbox_a = matches!(rule.action, Action::SocketboxA(_));
    if socketbox_a || matches!(rule.action, Action::SocketboxB { .. }) {
        let QueryTarget::Ip(ip) = target else {
            slog!(
                sh,
                Warn,
                "pid {}: fd {fd}: bind {}: a socketbox listener must be bound to an IP address",
                call.pid,
                describe_target(target)
            );
            return Err(libc::EINVAL);
        };
        if sotype & 0xf != libc::SOCK_STREAM {
            return Err(libc::EPROTOTYPE); // the router passes TCP connections
        }
        if let Action::SocketboxB { api, slot } = &rule.action {
            return bind_b(sh, call, fd, sock, family, index, api, *slot, ip);
        }
    }
    if family == libc::AF_UNIX {
        // A Unix socket redirected to another Unix name: bind the program's own socket there.
        let sa = decide::out_endpoint(rule, target, sotype).map_err(|e| e.errno())?;
        if rule.action == Action::Blackhole {
            sys_bind(sock, &UnixSockaddr::unnamed())?;
        } else {
            bind_replacing_stale(sock, sotype, &sa)?;
            remember_file(sh, &sa);
        }
        slog!(
            sh,
            Debug,
            "pid {}: fd {fd}: bind {} -> {}",
            call.pid,
            describe_target(target),
            decide::describe_unix(sa.name())
        );
        return Ok(Answer::Value(0));
    }
    let QueryTarget::Ip(ip) = target else {
        return Ok(Answer::Continue);
    };
    // An "A" listener is the datagram socket the router sends connections to.
    let unix_type = if socketbox_a {
        libc::SOCK_DGRAM
    } else {
        sotype & 0xf
    };
    let new = unix_socket(unix_type)?;
    let (sa, port) = if rule.action == Action::Blackhole {
        let sa = UnixSockaddr::unnamed(); // autobind: an abstract name nobody is told
        sys_bind(&new, &sa)?;
        (
            sa,
            if ip.port() == 0 {
                next_ephemeral_port()
            } else {
                ip.port()
            },
        )
    } else if ip.port() == 0 && decide::port_in_name(rule) {
        let mut found = Err(libc::EADDRINUSE);
        for _ in 0..256 {
            let port = next_ephemeral_port();
            let sa = decide::endpoint(rule, ip.ip(), port, sotype).map_err(|e| e.errno())?;
            match bind_replacing_stale(&new, unix_type, &sa) {
                Ok(()) => {
                    found = Ok((sa, port));
                    break;
                }
                Err(libc::EADDRINUSE) => continue,
                Err(e) => return Err(e),
            }
        }
        found?
    } else {
        let port = if ip.port() == 0 {
            next_ephemeral_port()
        } else {
            ip.port()
        };
        let sa = decide::endpoint(rule, ip.ip(), port, sotype).map_err(|e| e.errno())?;
        bind_replacing_stale(&new, unix_type, &sa).inspect_err(|&e| {
            slog!(
                sh,
                Warn,
                "pid {}: cannot bind {}: {}",
                call.pid,
                decide::describe_unix(sa.name()),
                crate::errno_words(e)
            );
        })?;
        (sa, port)
    };
    let path = fs_path(&sa).map(|p| p.to_vec());
    if let (Some(mode), Some(p)) = (rule.mode, &path) {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            std::ffi::OsStr::from_bytes(p),
            std::fs::Permissions::from_mode(mode),
        );
    }
    let unlink_ours = || {
        if let Some(p) = &path {
            let _ = std::fs::remove_file(std::ffi::OsStr::from_bytes_compat(p));
        }
    };
    if !id_valid(&sh.notify, call.id) {
        unlink_ours();
        return Ok(Answer::Done);
    }
    let face = Face {
        family,
        local: SocketAddr::new(ip.ip(), port),
        peer: None,
        rule: index,
        dgram: sotype & 0xf == libc::SOCK_DGRAM,
        socketbox: socketbox_a.then_some(Socketbox::A),
        accepted: false,
        real: false,
        opts: Options::default(),
    };
    if let Err(e) = install_replacement(sh, call, fd, sock, &new, face) {
        unlink_ours();
        return if e == libc::ENOENT {
            Ok(Answer::Done)
        } else {
            Err(e)
        };
    }
    if !rule.noremove {
        remember_file(sh, &sa);
    }
    slog!(
        sh,
        Debug,
        "pid {}: fd {fd}: bind {ip} -> {}",
        call.pid,
        decide::describe_unix(sa.name())
    );
    Ok(Answer::Value(0))
}

/// A `systemd` rule: the program's socket becomes the socket systemd passed (the next unnamed
/// one, or the one named `want`). A Unix datagram socket passed for a stream bind is a socketbox
/// "A" listener (a daemon the router supervises); a socket of the program's own family needs
/// no pretending.
#[allow(clippy::too_many_arguments)]
fn bind_systemd(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    sotype: i32,
    index: usize,
    want: Option<&str>,
    ip: SocketAddr,
) -> Result<Answer, i32> {
    let mut passed = sh.passed.lock().unwrap();
    let Some(i) = activation::eligible(&passed.fds, want).find(|&i| passed.held[i].is_some())
    else {
        let why = if passed.fds.is_empty() {
            "systemd passed no sockets to sockswap (LISTEN_FDS unset, or LISTEN_PID is another process)"
        } else if want.is_some() && activation::eligible(&passed.fds, want).next().is_none() {
            "no passed socket has that name (LISTEN_FDNAMES)"
        } else {
            "every passed socket this rule may take is already in use"
        };
        slog!(
            sh,
            Error,
            "pid {}: bind {ip}: rule {}: {why}",
            call.pid,
            index + 1
        );
        return Err(libc::EADDRNOTAVAIL);
    };
    let new = passed.held[i].take().ok_or(libc::EADDRNOTAVAIL)?;
    let passed_fd = passed.fds[i].fd;
    drop(passed);
    let give_back = |new: OwnedFd| {
        if let Some(slot) = sh.passed.lock().unwrap().held.get_mut(i) {
            *slot = Some(new);
        }
    };
    let kind = (
        sockopt_int(&new, libc::SO_DOMAIN).unwrap_or(-1),
        sockopt_int(&new, libc::SO_TYPE).unwrap_or(-1),
    );
    let stream = sotype & 0xf == libc::SOCK_STREAM;
    let socketbox_a = kind == (libc::AF_UNIX, libc::SOCK_DGRAM) && stream;
    if kind.1 != sotype & 0xf && !socketbox_a {
        slog!(
            sh,
            Error,
            "pid {}: bind {ip}: passed fd {passed_fd} is not a {} socket",
            call.pid,
            if stream { "stream" } else { "datagram" }
        );
        give_back(new);
        return Err(libc::EPROTOTYPE);
    }
    let installed = if kind.0 == family {
        // A real socket of the program's own family: the kernel's answers are the truth.
        set_nonblocking(&new, file_nonblocking(sock));
        replace_fd(sh, call, fd, sock, &new, fd_cloexec(call.pid, fd))
    } else {
        let local = match kind.0 {
            libc::AF_INET | libc::AF_INET6 => ip_name(&new, false).unwrap_or(ip),
            _ if ip.port() == 0 => SocketAddr::new(ip.ip(), next_ephemeral_port()),
            _ => ip,
        };
        let face = Face {
            family,
            local,
            peer: None,
            rule: index,
            dgram: !stream,
            socketbox: socketbox_a.then_some(Socketbox::A),
            accepted: false,
            real: false,
            opts: Options::default(),
        };
        install_replacement(sh, call, fd, sock, &new, face)
    };
    match installed {
        Ok(()) => {
            slog!(
                sh,
                Debug,
                "pid {}: fd {fd}: bind {ip} -> passed fd {passed_fd}",
                call.pid
            );
            Ok(Answer::Value(0))
        }
        Err(libc::ENOENT) => {
            give_back(new);
            Ok(Answer::Done)
        }
        Err(e) => {
            give_back(new);
            Err(e)
        }
    }
}

/// The filesystem path of a Unix name (without the NUL `c_path` carries); None if abstract.
fn fs_path(sa: &UnixSockaddr) -> Option<&[u8]> {
    match sa.name() {
        UnixName::Path(p) => Some(p),
        _ => None,
    }
}

fn remember_file(sh: &Shared, sa: &UnixSockaddr) {
    let Some(p) = fs_path(sa) else { return };
    let Ok(c) = CString::new(p) else { return };
    // SAFETY: stat is plain data; c is a valid C string.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } == 0 {
        sh.files.lock().unwrap().push((c, st.st_dev, st.st_ino));
    }
}

#[allow(clippy::too_many_arguments)]
fn connect_converted(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    sotype: i32,
    face: Option<(u64, Face)>,
    index: usize,
    rule: &Rule,
    target: QueryTarget<'_>,
) -> Result<Answer, i32> {
    if let (Action::Vsock { cid, port }, QueryTarget::Ip(ip), libc::AF_INET | libc::AF_INET6) =
        (&rule.action, target, family)
    {
        if face.is_some_and(|(_, f)| f.peer.is_some()) {
            return Err(libc::EISCONN);
        }
        return vsock::connect(sh, call, fd, sock, family, sotype, index, (*cid, *port), ip);
    }
    let sa = decide::out_endpoint(rule, target, sotype).map_err(|e| e.errno())?;
    let shown = decide::describe_unix(sa.name());
    if let (Action::HybridVsock { port, .. }, QueryTarget::Ip(ip), libc::AF_INET | libc::AF_INET6) =
        (&rule.action, target, family)
    {
        if face.is_some_and(|(_, f)| f.peer.is_some()) {
            return Err(libc::EISCONN);
        }
        let guest_port = port.unwrap_or(u32::from(ip.port()));
        return connect_hybrid(
            sh, call, fd, sock, family, sotype, index, ip, &sa, guest_port,
        );
    }
    if family == libc::AF_UNIX || face.is_some() {
        // Already a Unix socket (the program's own, or one we bound): connect it there. The
        // program's file flags apply (a non-blocking socket with a full backlog: EAGAIN).
        sys_connect(sock.as_raw_fd(), &sa).map_err(decide::tcp_connect_errno)?;
        if let (Some((ino, mut f)), QueryTarget::Ip(ip)) = (face, target) {
            f.peer = Some(ip);
            add_face(sh, ino, f);
        }
        slog!(
            sh,
            Debug,
            "pid {}: fd {fd}: connect {} -> {shown}",
            call.pid,
            describe_target(target)
        );
        return Ok(Answer::Value(0));
    }
    let QueryTarget::Ip(ip) = target else {
        return Ok(Answer::Continue);
    };
    let new = unix_socket(sotype)?;
    if sotype & 0xf == libc::SOCK_DGRAM {
        sys_bind(&new, &UnixSockaddr::unnamed())?; // a name, so that replies reach it
        if let Some(n) = unix_name_bytes(&sa) {
            sh.peers.lock().unwrap().remember(&n, ip);
        }
    }
    // A Unix connect has no EINPROGRESS: wait at most a second for backlog room.
    set_send_timeout(&new, 1);
    if let Err(e) = sys_connect(new.as_raw_fd(), &sa) {
        slog!(
            sh,
            Debug,
            "pid {}: fd {fd}: connect {ip} -> {shown}: {}",
            call.pid,
            crate::errno_words(e)
        );
        return Err(decide::tcp_connect_errno(e));
    }
    set_send_timeout(&new, 0);
    let face = Face {
        family,
        local: decide::client_local(family, ip, next_ephemeral_port()),
        peer: Some(ip),
        rule: index,
        dgram: sotype & 0xf == libc::SOCK_DGRAM,
        socketbox: None,
        accepted: false,
        real: false,
        opts: Options::default(),
    };
    if let Err(e) = install_replacement(sh, call, fd, sock, &new, face) {
        return if e == libc::ENOENT {
            Ok(Answer::Done)
        } else {
            Err(e)
        };
    }
    slog!(
        sh,
        Debug,
        "pid {}: fd {fd}: connect {ip} -> {shown}",
        call.pid
    );
    Ok(Answer::Value(0))
}

/// Without SO_SNDTIMEO on the program's socket, how long a VMM may take to answer `CONNECT`
/// (the shim's limit too).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `connect` through a hybrid-vsock socket (`proxy`, the VMM's Unix socket) to guest `port`:
/// our own Unix socket connects and sends `CONNECT <port>\n`; once the VMM answers `OK …` it
/// replaces the program's socket and the call returns 0. Meanwhile the call waits in the
/// waiting thread — a non-blocking connect too (it returns 0 after the handshake instead of
/// EINPROGRESS, which TCP allows; no fd can be installed in the program after its call has
/// been answered). Any failure leaves the program's socket untouched.
#[allow(clippy::too_many_arguments)]
fn connect_hybrid(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    sotype: i32,
    index: usize,
    ip: SocketAddr,
    proxy: &UnixSockaddr,
    port: u32,
) -> Result<Answer, i32> {
    use sockswap_core::hybrid::{self, AnswerLine, LINE_MAX};
    let shown = decide::describe_unix(proxy.name());
    if sotype & 0xf != libc::SOCK_STREAM {
        slog!(
            sh,
            Warn,
            "pid {}: fd {fd}: hybrid vsock carries streams only",
            call.pid
        );
        return Err(libc::EPROTOTYPE);
    }
    let vmm = unix_socket(libc::SOCK_STREAM)?;
    set_send_timeout(&vmm, 1); // a Unix connect has no EINPROGRESS: backlog room, 1 s at most
    let sent = sys_connect(vmm.as_raw_fd(), proxy).and_then(|()| {
        let mut line = [0u8; 24];
        let n = hybrid::connect_line(port, &mut line);
        // SAFETY: send from a valid buffer on our socket.
        let k = unsafe { libc::send(vmm.as_raw_fd(), line.as_ptr().cast(), n, libc::MSG_NOSIGNAL) };
        match k {
            k if k == n as isize => Ok(()),
            k if k >= 0 => Err(libc::ECONNRESET),
            _ => Err(errno()),
        }
    });
    if let Err(e) = sent {
        slog!(
            sh,
            Debug,
            "pid {}: fd {fd}: connect {ip} -> hybrid vsock {shown}: {}",
            call.pid,
            crate::errno_words(e)
        );
        return Err(hybrid::tcp_errno(e));
    }
    set_send_timeout(&vmm, 0);
    let timeout = sockopt_timeval(sock, libc::SO_SNDTIMEO)
        .filter(|t| !t.is_zero())
        .unwrap_or(HANDSHAKE_TIMEOUT);
    let face = Face {
        family,
        local: decide::client_local(family, ip, next_ephemeral_port()),
        peer: Some(ip),
        rule: index,
        dgram: false,
        socketbox: None,
        accepted: false,
        real: false,
        opts: Options::default(),
    };
    let program_socket = sock
        .try_clone()
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EBADF))?;
    let line = Mutex::new(AnswerLine::new());
    let attempt = move |sh: &Shared, vmm: &OwnedFd| -> Result<Option<Answer>, i32> {
        let mut line = line.lock().unwrap();
        loop {
            let mut peek = [0u8; LINE_MAX];
            let room = line.room();
            // SAFETY: recv into a valid buffer of `room` bytes on our socket.
            let k = unsafe {
                libc::recv(
                    vmm.as_raw_fd(),
                    peek.as_mut_ptr().cast(),
                    room,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                )
            };
            let k = match k {
                0 => return Err(line.closed()),
                k if k > 0 => k as usize,
                _ => match errno() {
                    libc::EAGAIN => return Ok(None),
                    libc::EINTR => continue,
                    _ => return Err(libc::ECONNRESET),
                },
            };
            let take = line.wanted(&peek[..k]);
            // SAFETY: recv into a valid buffer of `take` bytes (take <= k <= LINE_MAX).
            let got = unsafe {
                libc::recv(
                    vmm.as_raw_fd(),
                    peek.as_mut_ptr().cast(),
                    take,
                    libc::MSG_DONTWAIT,
                )
            };
            if got != take as isize {
                return Err(libc::ECONNRESET);
            }
            match line.consumed(&peek[..take]) {
                None => continue,
                Some(Err(e)) => return Err(e),
                Some(Ok(())) => {}
            }
            return match install_replacement(sh, call, fd, &program_socket, vmm, face) {
                Ok(()) => {
                    slog!(
                        sh,
                        Debug,
                        "pid {}: fd {fd}: connect {ip} -> hybrid vsock {shown} port {port}",
                        call.pid
                    );
                    Ok(Some(Answer::Value(0)))
                }
                Err(libc::ENOENT) => Ok(Some(Answer::Done)),
                Err(e) => Err(e),
            };
        }
    };
    match attempt(sh, &vmm)? {
        Some(a) => Ok(a),
        None => {
            let deadline = std::time::Instant::now() + timeout;
            sh.waiters
                .wait(call.id, call.pid, vmm, Some(deadline), Box::new(attempt))?;
            Ok(Answer::Done)
        }
    }
}

/// A timeval option (SO_SNDTIMEO, SO_RCVTIMEO) of a socket.
fn sockopt_timeval(fd: &OwnedFd, name: i32) -> Option<std::time::Duration> {
    // SAFETY: timeval is plain data.
    let mut tv: libc::timeval = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::timeval>() as u32;
    // SAFETY: tv and len are valid for getsockopt to fill.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    };
    (r == 0).then(|| {
        std::time::Duration::new(tv.tv_sec.max(0) as u64, (tv.tv_usec.max(0) as u32) * 1000)
    })
}

// ---------------------------------------------------------------- names

fn on_name(sh: &Shared, pidfds: &mut PidFds, call: Call, peer: bool) -> Result<Answer, i32> {
    let sock = match pidfds.take(call.pid, call.args[0] as i32) {
        Ok(s) => s,
        Err(libc::EBADF) => return Ok(Answer::Continue),
        Err(e) => return Err(e),
    };
    let Some((_, face)) = face_of(sh, &sock) else {
        return Ok(Answer::Continue);
    };
    let name = if peer {
        face.peer.ok_or(libc::ENOTCONN)?
    } else {
        face.local
    };
    if call.args[1] == 0 {
        return Err(libc::EFAULT);
    }
    write_sockaddr(
        call.pid,
        call.args[1],
        call.args[2],
        &encode(face.family, name),
    )?;
    Ok(Answer::Value(0))
}

// ---------------------------------------------------------------- accept

fn on_accept(sh: &Arc<Shared>, pidfds: &mut PidFds, call: Call, flags: i32) -> Result<Answer, i32> {
    let listener = match pidfds.take(call.pid, call.args[0] as i32) {
        Ok(s) => s,
        Err(libc::EBADF) => return Ok(Answer::Continue),
        Err(e) => return Err(e),
    };
    let Some((_, face)) = face_of(sh, &listener) else {
        return Ok(Answer::Continue);
    };
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(libc::EINVAL);
    }
    // A socketbox listener's connections come from the router; a Unix listener's from accept.
    let nonblocking = file_nonblocking(&listener);
    let attempt = move |sh: &Shared, listener: &OwnedFd| match face.socketbox {
        Some(kind) => try_receive(sh, call, listener, face, kind, flags),
        None => try_accept(sh, call, listener, face, flags, nonblocking),
    };
    match attempt(sh, &listener)? {
        Some(a) => Ok(a),
        None if nonblocking => Err(libc::EAGAIN),
        None => {
            // A blocking accept with nothing pending: answered when a connection comes.
            sh.waiters
                .wait(call.id, call.pid, listener, None, Box::new(attempt))?;
            Ok(Answer::Done)
        }
    }
}

/// Accepts one pending connection on our copy of a converted listener and installs it in the
/// program with the answer (ADDFD + SEND: the fd exists in the program only if the call
/// returns it). None: nothing pending.
fn try_accept(
    sh: &Shared,
    call: Call,
    listener: &OwnedFd,
    face: Face,
    flags: i32,
    nonblocking: bool,
) -> Result<Option<Answer>, i32> {
    // Our copy shares the program's O_NONBLOCK. On a blocking listener, accept only what poll
    // shows pending, under a lock, so no other accept of ours takes it first and this thread
    // never blocks (processes outside the filter sharing the listener could still race us).
    let _accepting = (!nonblocking).then(|| sh.blocking_accept.lock().unwrap());
    if !nonblocking && !readable_now(listener) {
        return Ok(None);
    }
    // SAFETY: accept4 without an address on an fd we own; the connection gets the
    // O_NONBLOCK the program asked for (our copy is close-on-exec in any case).
    let c = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC | (flags & libc::SOCK_NONBLOCK),
        )
    };
    if c < 0 {
        return match errno() {
            libc::EAGAIN => Ok(None),
            e => Err(e),
        };
    }
    // SAFETY: a fresh fd we own.
    let conn = unsafe { OwnedFd::from_raw_fd(c) };
    install_connection(sh, call, conn, face, flags)
}

/// Installs an accepted connection in the program as the answer to its accept (ADDFD + SEND:
/// the fd exists in the program only if the call returns it). `face_ino`: the face recorded
/// for it, forgotten if it cannot be installed.
fn answer_with_connection(
    sh: &Shared,
    call: Call,
    conn: &OwnedFd,
    flags: i32,
    face_ino: Option<u64>,
    listener: SocketAddr,
    peer: SocketAddr,
) -> Result<Option<Answer>, i32> {
    let mut a = libc::seccomp_notif_addfd {
        id: call.id,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        srcfd: conn.as_raw_fd() as u32,
        newfd: 0,
        newfd_flags: if flags & libc::SOCK_CLOEXEC != 0 {
            libc::O_CLOEXEC as u32
        } else {
            0
        },
    };
    // SAFETY: a is a valid seccomp_notif_addfd.
    let mut r = unsafe {
        libc::ioctl(
            sh.notify.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &mut a,
        )
    };
    if r < 0 && errno() == libc::EINVAL {
        // Before Linux 5.14 (no ADDFD_FLAG_SEND): install, then answer with the number. A
        // signal in between leaves the fd in the program unannounced (documented).
        a.flags = 0;
        // SAFETY: as above.
        r = unsafe {
            libc::ioctl(
                sh.notify.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                &mut a,
            )
        };
        if r >= 0 {
            respond(&sh.notify, call.id, Answer::Value(i64::from(r)));
        }
    }
    if r < 0 {
        let e = errno();
        if let Some(ino) = face_ino {
            sh.faces.lock().unwrap().remove(&ino);
        }
        if e == libc::ENOENT {
            // The caller went away with the connection accepted: the client sees it closed.
            slog!(
                sh,
                Warn,
                "pid {}: accept interrupted after a connection was taken; it is closed",
                call.pid
            );
            return Ok(Some(Answer::Done));
        }
        return Err(e);
    }
    slog!(
        sh,
        Trace,
        "pid {}: accept on {} -> fd {r}, peer {peer}",
        call.pid,
        listener
    );
    Ok(Some(Answer::Done))
}

// ---------------------------------------------------------------- datagrams

/// A Unix name as the bytes that identify it (abstract names with their leading NUL).
fn unix_name_bytes(sa: &UnixSockaddr) -> Option<Vec<u8>> {
    let path = sa.bytes.get(addr::SUN_PATH_OFFSET..sa.len)?;
    (!path.is_empty()).then(|| match sa.name() {
        UnixName::Path(p) => p.to_vec(),
        _ => path.to_vec(),
    })
}

/// `sendto` with an address on a datagram socket: to a converted destination (or to an
/// address we reported for a Unix sender) it goes out through the supervisor's copy of the
/// socket, converting the socket first if it still is an IP socket.
fn on_sendto(sh: &Shared, pidfds: &mut PidFds, call: Call) -> Result<Answer, i32> {
    let fd = call.args[0] as i32;
    let sock = match pidfds.take(call.pid, fd) {
        Ok(s) => s,
        Err(libc::EBADF) => return Ok(Answer::Continue),
        Err(e) => return Err(e),
    };
    let face = face_of(sh, &sock);
    let sotype = sockopt_int(&sock, libc::SO_TYPE).unwrap_or(0);
    if sotype & 0xf != libc::SOCK_DGRAM {
        return Ok(Answer::Continue); // a stream ignores the address (TCP does)
    }
    let len = (call.args[5] as u32).min(128) as usize;
    let bytes = read_mem(call.pid, call.args[4], len)?;
    let Decoded::Ip(ip) = addr::decode(&bytes) else {
        return Ok(Answer::Continue);
    };
    let family = match face {
        Some((_, f)) => f.family,
        None => sockopt_int(&sock, libc::SO_DOMAIN).unwrap_or(0),
    };
    let synthetic = sh.peers.lock().unwrap().name_of(ip);
    let dest = match synthetic {
        Some(name) => raw_unix(&name)?,
        None => match decide(
            &sh.rules,
            Direction::Out,
            family,
            sotype,
            QueryTarget::Ip(ip),
        ) {
            Decision::PassThrough if face.is_some() => {
                slog!(sh, Warn, "pid {}: fd {fd}: sendto {ip} from a Unix datagram socket; no 'out' rule matches", call.pid);
                return Err(libc::ENETUNREACH);
            }
            Decision::PassThrough => return Ok(Answer::Continue),
            Decision::Reject(e) => return Err(e),
            Decision::Convert { rule, .. } => {
                let sa =
                    decide::endpoint(rule, ip.ip(), ip.port(), sotype).map_err(|e| e.errno())?;
                if let Some(n) = unix_name_bytes(&sa) {
                    sh.peers.lock().unwrap().remember(&n, ip);
                }
                sa
            }
        },
    };
    let data = read_mem(call.pid, call.args[1], (call.args[2] as usize).min(1 << 20))?;
    let via = match face {
        Some(_) => sock,
        None => convert_for_send(sh, call, fd, &sock, family)?,
    };
    let flags = (call.args[3] as i32) | libc::MSG_NOSIGNAL;
    // SAFETY: data and dest are valid for their lengths.
    let n = unsafe {
        libc::sendto(
            via.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            flags,
            dest.bytes.as_ptr().cast(),
            dest.len as u32,
        )
    };
    if n < 0 {
        let e = errno();
        // UDP needs no receiver: a datagram to nobody is dropped, not an error.
        return if decide::receiver_absent(e) {
            Ok(Answer::Value(data.len() as i64))
        } else {
            Err(e)
        };
    }
    Ok(Answer::Value(n as i64))
}

fn raw_unix(name: &[u8]) -> Result<UnixSockaddr, i32> {
    match name.first() {
        Some(0) => UnixSockaddr::abstract_name(&name[1..]),
        _ => UnixSockaddr::path(name),
    }
    .map_err(|_| libc::ENAMETOOLONG)
}

/// An IP datagram socket about to send to a converted destination becomes an autobound Unix
/// datagram socket (so replies can reach it), reporting the wildcard and an ephemeral port.
fn convert_for_send(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
) -> Result<OwnedFd, i32> {
    let new = unix_socket(libc::SOCK_DGRAM)?;
    sys_bind(&new, &UnixSockaddr::unnamed())?;
    let face = Face {
        family,
        local: SocketAddr::new(addr::unspecified(family), next_ephemeral_port()),
        peer: None,
        rule: usize::MAX,
        dgram: true,
        socketbox: None,
        accepted: false,
        real: false,
        opts: Options::default(),
    };
    install_replacement(sh, call, fd, sock, &new, face)?;
    slog!(
        sh,
        Debug,
        "pid {}: fd {fd}: datagram socket converted for sending",
        call.pid
    );
    Ok(new)
}

/// `recvfrom` with an address buffer on a converted datagram socket: received through the
/// supervisor's copy, the sender reported as an IP address.
fn on_recvfrom(sh: &Arc<Shared>, pidfds: &mut PidFds, call: Call) -> Result<Answer, i32> {
    let sock = match pidfds.take(call.pid, call.args[0] as i32) {
        Ok(s) => s,
        Err(libc::EBADF) => return Ok(Answer::Continue),
        Err(e) => return Err(e),
    };
    let Some((_, face)) = face_of(sh, &sock).filter(|(_, f)| f.dgram) else {
        return Ok(Answer::Continue);
    };
    let flags = call.args[3] as i32;
    match try_recvfrom(sh, call, &sock, face, flags | libc::MSG_DONTWAIT)? {
        Some(a) => Ok(a),
        None if flags & libc::MSG_DONTWAIT != 0 || file_nonblocking(&sock) => Err(libc::EAGAIN),
        None => {
            let attempt = move |sh: &Shared, sock: &OwnedFd| {
                try_recvfrom(sh, call, sock, face, flags | libc::MSG_DONTWAIT)
            };
            sh.waiters
                .wait(call.id, call.pid, sock, None, Box::new(attempt))?;
            Ok(Answer::Done)
        }
    }
}

fn try_recvfrom(
    sh: &Shared,
    call: Call,
    sock: &OwnedFd,
    face: Face,
    flags: i32,
) -> Result<Option<Answer>, i32> {
    let cap = (call.args[2] as usize).min(1 << 20);
    let mut buf = vec![0u8; cap];
    let mut from = UnixSockaddr::unnamed();
    let mut fromlen = from.bytes.len() as u32;
    // SAFETY: buf and from are valid for their lengths.
    let n = unsafe {
        libc::recvfrom(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            cap,
            flags,
            from.bytes.as_mut_ptr().cast(),
            &mut fromlen,
        )
    };
    if n < 0 {
        return match errno() {
            libc::EAGAIN => Ok(None),
            e => Err(e),
        };
    }
    from.len = (fromlen as usize).min(from.bytes.len());
    let copied = (n as usize).min(cap);
    write_mem(call.pid, call.args[1], &buf[..copied])?;
    let sender = match unix_name_bytes(&from) {
        Some(name) => sh.peers.lock().unwrap().address_of(&name, face.family),
        // An unnamed sender cannot be answered; report the wildcard, port 0.
        None => SocketAddr::new(addr::unspecified(face.family), 0),
    };
    write_sockaddr(
        call.pid,
        call.args[4],
        call.args[5],
        &encode(face.family, sender),
    )?;
    Ok(Some(Answer::Value(n as i64)))
}

// ---------------------------------------------------------------- socketbox listeners

/// How long `bind` under `socketbox-b=` waits for the router to take the registration.
const B_REGISTER_TIMEOUT_S: i64 = 5;

/// `listen` on a socketbox listener succeeds without the kernel (a datagram or SEQPACKET
/// client socket cannot listen; the router does the listening); any other socket's goes on.
fn on_listen(sh: &Shared, pidfds: &mut PidFds, call: Call) -> Result<Answer, i32> {
    let sock = match pidfds.take(call.pid, call.args[0] as i32) {
        Ok(s) => s,
        Err(libc::EBADF) => return Ok(Answer::Continue),
        Err(e) => return Err(e),
    };
    match face_of(sh, &sock) {
        Some((_, f)) if f.socketbox.is_some() => Ok(Answer::Value(0)),
        _ => Ok(Answer::Continue),
    }
}

/// bind under `socketbox-b=API:SLOT`: the supervisor registers the slot with the router and
/// the registered stream takes the place of the program's socket.
#[allow(clippy::too_many_arguments)]
fn bind_b(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    index: usize,
    api: &str,
    slot: u32,
    ip: SocketAddr,
) -> Result<Answer, i32> {
    let stream = register_b(api, slot).map_err(|e| {
        slog!(
            sh,
            Error,
            "pid {}: bind {ip}: cannot register slot {slot} on the router's API socket {api}: {}",
            call.pid,
            crate::errno_words(e)
        );
        libc::EADDRNOTAVAIL
    })?;
    if !id_valid(&sh.notify, call.id) {
        return Ok(Answer::Done); // dropping the stream ends the registration
    }
    let port = match ip.port() {
        0 => next_ephemeral_port(),
        p => p,
    };
    let face = Face {
        family,
        local: SocketAddr::new(ip.ip(), port),
        peer: None,
        rule: index,
        dgram: false,
        socketbox: Some(Socketbox::B),
        accepted: false,
        real: false,
        opts: Options::default(),
    };
    match install_replacement(sh, call, fd, sock, &stream, face) {
        Ok(()) => {
            slog!(
                sh,
                Debug,
                "pid {}: fd {fd}: bind {ip} -> registered slot {slot} at {api}",
                call.pid
            );
            Ok(Answer::Value(0))
        }
        Err(libc::ENOENT) => Ok(Answer::Done), // the call went away; so does the registration
        Err(e) => Err(e),
    }
}

/// Connects to a router's "B" API socket (`@name`: abstract) and registers `slot` with the
/// plain 8-byte record; the registered stream once the router acknowledged it. The router
/// closes without a reply when it refuses (wrong uid, slot taken): ECONNREFUSED.
fn register_b(api: &str, slot: u32) -> Result<OwnedFd, i32> {
    let sa = match api.strip_prefix('@') {
        Some(name) => UnixSockaddr::abstract_name(name.as_bytes()),
        None => UnixSockaddr::path(api.as_bytes()),
    }
    .map_err(|_| libc::ENAMETOOLONG)?;
    let s = unix_socket(libc::SOCK_SEQPACKET)?;
    set_timeout(&s, libc::SO_SNDTIMEO, B_REGISTER_TIMEOUT_S);
    set_timeout(&s, libc::SO_RCVTIMEO, B_REGISTER_TIMEOUT_S);
    sys_connect(s.as_raw_fd(), &sa)?;
    let record = sockswap_core::socketbox::wire::b_register(slot);
    // SAFETY: record is valid for its length.
    let n = unsafe {
        libc::send(
            s.as_raw_fd(),
            record.as_ptr().cast(),
            record.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n != record.len() as isize {
        return Err(if n < 0 { errno() } else { libc::EIO });
    }
    let mut ack = [0u8; 8];
    let (n, fds) = recv_with_fds(&s, &mut ack, 0)?;
    if ack.get(..n) != Some(&sockswap_core::socketbox::wire::B_ACK[..]) || !fds.is_empty() {
        return Err(libc::ECONNREFUSED);
    }
    set_timeout(&s, libc::SO_SNDTIMEO, 0);
    set_timeout(&s, libc::SO_RCVTIMEO, 0);
    Ok(s)
}

/// One message from `sock` and the fds it carried (close-on-exec; ours to close).
fn recv_with_fds(sock: &OwnedFd, buf: &mut [u8], flags: i32) -> Result<(usize, Vec<OwnedFd>), i32> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for a few fds: a hostile sender's extra ones are received and closed, not leaked.
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg describes valid buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(errno());
    }
    let mut fds = Vec::new();
    // SAFETY: the control buffer was filled by the kernel; CMSG_* walk it within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c);
                let count = ((*c).cmsg_len as usize - (data as usize - c as usize)) / 4;
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.cast::<i32>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, fds))
}

/// Takes the next connection the router passed to a socketbox listener (our copy of the
/// program's fd) and installs it in the program as accept's answer. A message that is not
/// exactly one delivery with one stream socket is dropped (its fds closed) and the next one
/// taken. None: nothing pending.
fn try_receive(
    sh: &Shared,
    call: Call,
    listener: &OwnedFd,
    face: Face,
    kind: Socketbox,
    flags: i32,
) -> Result<Option<Answer>, i32> {
    use sockswap_core::socketbox::wire;
    let delivery: &[u8] = match kind {
        Socketbox::A => &[wire::A_BYTE],
        Socketbox::B => &wire::B_DELIVERY,
    };
    loop {
        let mut data = [0u8; 16];
        let (n, mut fds) = match recv_with_fds(listener, &mut data, libc::MSG_DONTWAIT) {
            Ok(r) => r,
            Err(libc::EAGAIN) => return Ok(None),
            Err(e) => return Err(e),
        };
        if kind == Socketbox::B && n == 0 && fds.is_empty() {
            // The router went away; the registration cannot be renewed behind the program's
            // back (its epoll registration holds the old stream): the listener is dead.
            slog!(
                sh,
                Warn,
                "pid {}: the router closed the socketbox-b registration of {}",
                call.pid,
                face.local
            );
            return Err(libc::EINVAL);
        }
        if data.get(..n) != Some(delivery) || fds.len() != 1 {
            slog!(
                sh,
                Warn,
                "pid {}: {}: unexpected message from the router ({n} bytes, {} fds); skipped",
                call.pid,
                face.local,
                fds.len()
            );
            continue;
        }
        let conn = fds.pop().ok_or(libc::EIO)?;
        if !stream_socket(&conn) {
            slog!(
                sh,
                Warn,
                "pid {}: {}: passed fd is not a stream socket; closed",
                call.pid,
                face.local
            );
            continue;
        }
        set_nonblocking(&conn, flags & libc::SOCK_NONBLOCK != 0);
        return install_connection(sh, call, conn, face, flags);
    }
}

/// A TCP socket, or a Unix stream socket (a router relaying over Unix).
fn stream_socket(fd: &OwnedFd) -> bool {
    match sockopt_int(fd, libc::SO_PROTOCOL) {
        Ok(libc::IPPROTO_TCP) => true,
        Ok(0) => {
            sockopt_int(fd, libc::SO_TYPE) == Ok(libc::SOCK_STREAM)
                && sockopt_int(fd, libc::SO_DOMAIN) == Ok(libc::AF_UNIX)
        }
        _ => false,
    }
}

/// The IP name of a socket (`getpeername` if `peer`, else `getsockname`), if it has one.
fn ip_name(fd: &OwnedFd, peer: bool) -> Option<SocketAddr> {
    let mut buf = [0u8; 128];
    let mut len = buf.len() as u32;
    let call = if peer {
        libc::getpeername
    } else {
        libc::getsockname
    };
    // SAFETY: buf is valid for len bytes.
    if unsafe { call(fd.as_raw_fd(), buf.as_mut_ptr().cast(), &mut len) } < 0 {
        return None;
    }
    match addr::decode(buf.get(..len as usize)?) {
        Decoded::Ip(sa) => Some(sa),
        _ => None,
    }
}

/// Gives the program a connection accepted on a converted listener or passed by the router,
/// as accept4 would give a new one: a TCP socket's real client address (in the program's
/// family: a router's IPv6 socket to an AF_INET program shows the IPv4 address) or, for a
/// Unix stream, loopback (or the rule's `peer=`) as for any converted listener.
fn install_connection(
    sh: &Shared,
    call: Call,
    conn: OwnedFd,
    face: Face,
    flags: i32,
) -> Result<Option<Answer>, i32> {
    // A converted listener's connections are Unix streams: no IP peer to ask for.
    let ip_peer = face.socketbox.and_then(|_| ip_name(&conn, true));
    let (peer, shown) = match ip_peer {
        Some(p) if (p.is_ipv4() == (face.family == libc::AF_INET)) => (p, None),
        Some(p) => {
            // Another family than the program's: its names are reported converted.
            let local = ip_name(&conn, false).unwrap_or(face.local);
            (p, Some(local))
        }
        None => {
            let p = decide::accepted_peer(
                sh.rules.get(face.rule),
                face.family,
                Some(face.local),
                next_ephemeral_port(),
            );
            (p, Some(addr::wildcard_to_loopback(face.local, face.family)))
        }
    };
    let mut face_ino = None;
    if let Some(local) = shown {
        let ino = inode(&conn).ok_or(libc::EBADF)?;
        add_face(
            sh,
            ino,
            Face {
                family: face.family,
                local,
                peer: Some(peer),
                rule: face.rule,
                dgram: false,
                socketbox: None,
                accepted: true,
                real: ip_peer.is_some(),
                // A TCP connection starts with its listener's options; a Unix one is given them.
                opts: match ip_peer {
                    Some(_) => Options::default(),
                    None => sockopt::inherit_options(&face.opts, &conn),
                },
            },
        );
        face_ino = Some(ino);
    }
    write_sockaddr(
        call.pid,
        call.args[1],
        call.args[2],
        &encode(face.family, peer),
    )
    .inspect_err(|_| {
        if let Some(ino) = face_ino {
            sh.faces.lock().unwrap().remove(&ino);
        }
    })?;
    answer_with_connection(sh, call, &conn, flags, face_ino, face.local, peer)
}
