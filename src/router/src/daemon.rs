//! Supervised daemons (`[[daemon]]`): the router starts a program as an init daemon would and
//! hands it its connections over a socket pair, so no socket path exists anywhere (nothing to
//! race, nothing to fill, nothing created as root to inherit).
//!
//! At startup, while the router is still single-threaded and privileged, it makes one
//! `AF_UNIX`/`SOCK_DGRAM` pair per daemon and forks a *supervisor* process that keeps the daemon
//! ends. The router keeps the other ends and delivers to them exactly as to an `fd:N` target ("A"
//! protocol: one byte and the connection's fd), with the same queue and timeout. The supervisor
//! starts each daemon with its end as fd 3 (`LISTEN_FDS=1`, `LISTEN_FDNAMES=NAME`, `LISTEN_PID`,
//! and socketbox's `SKBOX_LISTEN_FD=3`), as its own user and group (`setresuid` drops every
//! capability), with `no_new_privs`, and restarts it with backoff when it exits. Because the
//! supervisor holds the daemon end open between two runs, connections sent while a daemon
//! restarts wait in that socket's queue and the next run takes them; when that queue is full the
//! router's own target queue (bounded, timed out, counted) takes over, as for any A target.
//! The supervisor reports each daemon's state to the router (shown by `socketbox status`), stops
//! the daemons when the router stops (SIGTERM, then SIGKILL after 5 s), and each daemon gets
//! SIGTERM if the supervisor itself dies.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::{DaemonSpec, Privileges};

/// The router's end of each daemon's pair, by daemon name; set once at startup.
static ROUTER_ENDS: OnceLock<BTreeMap<String, RawFd>> = OnceLock::new();
/// The latest state line the supervisor sent for each daemon.
static STATES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);
const STOP_GRACE: Duration = Duration::from_secs(5);
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// The fd the router delivers to for daemon `name`, if it is a supervised daemon.
pub fn router_end(name: &str) -> Option<RawFd> {
    ROUTER_ENDS.get()?.get(name).copied()
}

/// `daemon=NAME ...` lines for the status text, one per daemon.
pub fn status_lines() -> String {
    let states = STATES.lock().unwrap_or_else(|e| e.into_inner());
    states.values().map(|l| format!("{l}\n")).collect()
}

fn socketpair(ty: libc::c_int) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    crate::sys::cvt(unsafe {
        libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    // SAFETY: socketpair returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Start the supervisor. Must run before the router starts any thread (it forks). Returns the
/// router's end of the status channel, read by `watch`.
pub fn start(daemons: &[DaemonSpec]) -> Result<Option<UnixStream>, String> {
    if daemons.is_empty() {
        return Ok(None);
    }
    let mut router_ends = BTreeMap::new();
    let mut daemon_ends = Vec::new();
    for d in daemons {
        let (r, s) = socketpair(libc::SOCK_DGRAM)
            .map_err(|e| format!("daemon '{}': socketpair: {e}", d.name))?;
        // A big receive queue: connections wait here while the daemon restarts.
        let _ =
            crate::sys::setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20);
        router_ends.insert(d.name.clone(), r.as_raw_fd());
        std::mem::forget(r); // lives as long as the router
        daemon_ends.push(s);
    }
    let (status_r, status_s) =
        socketpair(libc::SOCK_SEQPACKET).map_err(|e| format!("daemons: socketpair: {e}"))?;
    // SAFETY: fork in a single-threaded process (the caller's contract); the child only runs
    // `supervise`, which never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!(
            "daemons: fork: {}",
            std::io::Error::last_os_error()
        ));
    }
    if pid == 0 {
        drop(status_r);
        for fd in router_ends.values() {
            // SAFETY: closing our copies of the router's ends; the router keeps its own.
            unsafe { libc::close(*fd) };
        }
        supervise(daemons, daemon_ends, UnixStream::from(status_s));
    }
    drop(daemon_ends);
    drop(status_s);
    let _ = ROUTER_ENDS.set(router_ends);
    let mut states = STATES.lock().unwrap_or_else(|e| e.into_inner());
    for d in daemons {
        states.insert(d.name.clone(), state_line(&d.name, 0, 0, "starting"));
    }
    crate::log!(Info, "daemons", supervisor = pid, count = daemons.len());
    Ok(Some(UnixStream::from(status_r)))
}

fn state_line(name: &str, pid: i32, restarts: u64, state: &str) -> String {
    format!(
        "daemon={name} pid={pid} restarts={restarts} running={} state={state}",
        u8::from(state == "running")
    )
}

/// A thread of the router: keeps `STATES` up to date from the supervisor's records.
pub fn watch(mut channel: UnixStream) {
    std::thread::Builder::new()
        .name("daemons".into())
        .spawn(move || {
            let mut buf = [0u8; 1024];
            loop {
                match channel.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        crate::log!(
                            Error,
                            "daemons",
                            reason =
                                "the supervisor process is gone; daemons are no longer restarted"
                        );
                        let mut states = STATES.lock().unwrap_or_else(|e| e.into_inner());
                        for v in states.values_mut() {
                            *v = v.replace("state=running", "state=unsupervised");
                        }
                        return;
                    }
                    Ok(n) => {
                        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                        // Daemon names are plain words (checked at config load).
                        if let Some(name) = line
                            .strip_prefix("daemon=")
                            .and_then(|r| r.split(' ').next())
                        {
                            let name = name.to_owned();
                            STATES
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(name, line);
                        }
                    }
                }
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| crate::log!(Error, "daemons", reason = format!("thread: {e}")));
}

struct Running {
    spec: DaemonSpec,
    end: OwnedFd,
    pid: i32,
    started: Instant,
    restarts: u64,
    failures: u32,
    next_start: Option<Instant>,
}

/// The supervisor process: start, reap, restart with backoff, report, stop. Never returns.
fn supervise(specs: &[DaemonSpec], ends: Vec<OwnedFd>, mut status: UnixStream) -> ! {
    // The supervisor outlives signals sent to the router's process group (a Ctrl-C, a service
    // manager's SIGTERM): it stops its daemons when the router is gone, and dies with it.
    // SAFETY: prctl with integer arguments; SIG_IGN dispositions (reset in each daemon).
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        for sig in STOP_SIGNALS {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } == 1 {
        std::process::exit(0); // the router died before the prctl
    }
    crate::sys::unblock_all_signals();
    let mut ds: Vec<Running> = specs
        .iter()
        .cloned()
        .zip(ends)
        .map(|(spec, end)| Running {
            spec,
            end,
            pid: 0,
            started: Instant::now(),
            restarts: 0,
            failures: 0,
            next_start: Some(Instant::now()),
        })
        .collect();
    let report = |status: &mut UnixStream, d: &Running, state: &str| {
        let _ = status.write_all(state_line(&d.spec.name, d.pid, d.restarts, state).as_bytes());
    };
    loop {
        let now = Instant::now();
        for d in ds.iter_mut() {
            if d.next_start.is_some_and(|t| t <= now) {
                d.next_start = None;
                match spawn(&d.spec, d.end.as_raw_fd()) {
                    Ok(pid) => {
                        d.pid = pid;
                        d.started = Instant::now();
                        crate::log!(Info, "daemon-start", daemon = d.spec.name, pid = pid);
                        report(&mut status, d, "running");
                    }
                    Err(e) => {
                        crate::log!(Error, "daemon-start", daemon = d.spec.name, reason = e);
                        d.failures += 1;
                        d.next_start = Some(Instant::now() + backoff(d.failures));
                        report(&mut status, d, "failed-to-start");
                    }
                }
            }
        }
        // Reap what exited and schedule its restart.
        loop {
            let mut st = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if let Some(d) = ds.iter_mut().find(|d| d.pid == pid) {
                let ran = d.started.elapsed();
                d.failures = if ran >= STABLE { 1 } else { d.failures + 1 };
                let delay = backoff(d.failures);
                d.restarts += 1;
                d.next_start = Some(Instant::now() + delay);
                crate::log!(
                    Warn,
                    "daemon-exit",
                    daemon = d.spec.name,
                    pid = pid,
                    status = describe_status(st),
                    restart_in_ms = delay.as_millis()
                );
                d.pid = 0;
                report(&mut status, d, "restarting");
            }
        }
        // Wait for the router to go away (EOF) or for the next start, at most 200 ms.
        let mut pfd = libc::pollfd {
            fd: status.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 200) };
        if r > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            stop_all(&mut ds);
        }
    }
}

fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    (BACKOFF_FIRST * 2u32.pow(exp)).min(BACKOFF_MAX)
}

fn describe_status(st: libc::c_int) -> String {
    if libc::WIFEXITED(st) {
        format!("exit {}", libc::WEXITSTATUS(st))
    } else if libc::WIFSIGNALED(st) {
        format!("signal {}", libc::WTERMSIG(st))
    } else {
        format!("status {st}")
    }
}

/// The router is gone: SIGTERM every daemon, SIGKILL what is left after the grace time, exit.
fn stop_all(ds: &mut [Running]) -> ! {
    for d in ds.iter().filter(|d| d.pid > 0) {
        // SAFETY: kill with a pid we started.
        unsafe { libc::kill(d.pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + STOP_GRACE;
    while ds.iter().any(|d| d.pid > 0) && Instant::now() < deadline {
        let mut st = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if pid > 0 {
            for d in ds.iter_mut().filter(|d| d.pid == pid) {
                d.pid = 0;
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for d in ds.iter().filter(|d| d.pid > 0) {
        // SAFETY: kill with a pid we started.
        unsafe { libc::kill(d.pid, libc::SIGKILL) };
    }
    std::process::exit(0)
}

/// Fork and exec one daemon with `end` as fd 3. The supervisor is single-threaded, so the child
/// may allocate before exec.
fn spawn(spec: &DaemonSpec, end: RawFd) -> Result<i32, String> {
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|_| "an argument holds a NUL byte".to_string())?;
    let cwd = spec
        .cwd
        .as_deref()
        .map(CString::new)
        .transpose()
        .map_err(|_| "cwd holds a NUL byte".to_string())?;
    let (err_r, err_w) = socketpair(libc::SOCK_SEQPACKET).map_err(|e| e.to_string())?;
    // Above fd 3, which the child's dup2 takes.
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd nothing else owns.
    let high = unsafe { libc::fcntl(err_w.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    drop(err_w); // only the high copy may stay open, or the parent never sees EOF
    if high < 0 {
        return Err(format!("fcntl: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fcntl returned a new fd that nothing else owns.
    let err_w = unsafe { OwnedFd::from_raw_fd(high) };
    // SAFETY: fork in the single-threaded supervisor.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(err_r);
        let why = exec_daemon(spec, end, &argv, cwd.as_deref());
        let _ = UnixStream::from(err_w).write_all(why.as_bytes());
        // SAFETY: leaving the forked child without running the supervisor's destructors.
        unsafe { libc::_exit(127) };
    }
    drop(err_w);
    // The child's exec closes its end (CLOEXEC): EOF means it is running the program.
    let mut why = String::new();
    let _ = UnixStream::from(err_r).read_to_string(&mut why);
    if why.is_empty() {
        Ok(pid)
    } else {
        let mut st = 0;
        // SAFETY: reaping the child that failed to exec.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        Err(why)
    }
}

/// In the forked child: set up fd 3, the environment, the directory, the user; exec. Returns
/// only on failure, with the reason.
fn exec_daemon(
    spec: &DaemonSpec,
    end: RawFd,
    argv: &[CString],
    cwd: Option<&std::ffi::CStr>,
) -> String {
    // SAFETY: plain syscalls on fds of this process; default dispositions back.
    unsafe {
        for sig in STOP_SIGNALS {
            libc::signal(sig, libc::SIG_DFL);
        }
        if end == 3 {
            let flags = libc::fcntl(3, libc::F_GETFD);
            libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
        } else if libc::dup2(end, 3) < 0 {
            return format!("dup2: {}", std::io::Error::last_os_error());
        }
        libc::setsid();
    }
    for (k, v) in &spec.env {
        std::env::set_var(k, v);
    }
    std::env::set_var("LISTEN_FDS", "1");
    std::env::set_var("LISTEN_FDNAMES", &spec.name);
    std::env::set_var("LISTEN_PID", crate::sys::getpid().to_string());
    std::env::set_var("SKBOX_LISTEN_FD", "3");
    std::env::remove_var("NOTIFY_SOCKET");
    if let Some(dir) = cwd {
        // SAFETY: a valid C string.
        if unsafe { libc::chdir(dir.as_ptr()) } < 0 {
            return format!(
                "chdir {}: {}",
                dir.to_string_lossy(),
                std::io::Error::last_os_error()
            );
        }
    }
    let privs = Privileges {
        user: spec.user.clone(),
        group: spec.group.clone(),
        no_new_privs: true,
        ..Privileges::default()
    };
    if let Err(e) = crate::privs::drop_privileges(&privs) {
        return e;
    }
    // After the credential change, which clears it: SIGTERM if the supervisor dies.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) };
    // Everything but 0-3 closes at exec (the router's and supervisor's fds are CLOEXEC already;
    // this also covers any the environment leaked).
    // SAFETY: close_range on fd numbers; nothing in this child uses fds above 3 any more.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            4u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of valid C strings; environ was set above.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    format!(
        "cannot run {}: {}",
        spec.argv[0],
        std::io::Error::last_os_error()
    )
}
