//! `hybrid-vsock=PATH[:PORT]` and Firecracker control files: reaching a guest's AF_VSOCK port
//! through the VMM's Unix socket (connect, write `CONNECT <port>\n`, read a line starting
//! `OK `; then the stream is the guest connection).
//!
//! Blocking connect: the handshake runs on the new Unix socket before the swap, bounded by the
//! program's SO_SNDTIMEO (TCP's connect timeout) or `HANDSHAKE_TIMEOUT_MS`; any failure leaves
//! the program's socket untouched (unsock bug U7 closed it).
//!
//! Non-blocking connect keeps TCP's contract — EINPROGRESS now, writable only once connected,
//! then SO_ERROR — without ever closing the program's fd:
//! 1. the Unix socket is connected and `CONNECT` written at once (a Unix connect completes
//!    immediately or fails immediately);
//! 2. a *placeholder* is installed over the program's fd: one end of a socket pair whose send
//!    buffer we filled, so it is neither readable nor writable, and whose other end we hold;
//! 3. one shim thread (started on first need) waits with epoll for every pending answer and
//!    reads exactly up to the newline (MSG_PEEK first), so nothing of the guest's stream is
//!    consumed;
//! 4. on `OK` it `dup3`s the Unix socket over the program's fd (file flags taken from the
//!    placeholder, so an fcntl made meanwhile counts), replays the epoll registrations the
//!    program made, then drains and closes the placeholder's other end: a thread still asleep
//!    in poll/select on the placeholder wakes up and polls again;
//! 5. on failure it installs a fresh unconnected socket of the program's family (poll says
//!    POLLOUT|POLLHUP, as after a refused TCP connect) and getsockopt(SO_ERROR) reports
//!    ECONNREFUSED (no or bad answer), ECONNRESET (connection lost mid-answer) or ETIMEDOUT.
//!
//! Every step that touches the program's fd holds the fd's slot (BUSY bit) and checks that the
//! slot still names this handshake, so a program that closes or reuses the fd meanwhile is
//! never affected: the handshake is dropped. The worker is a plain pthread with every signal
//! blocked; creating it is the one place a hook may let libc allocate (first non-blocking
//! hybrid connect of a process). A forked child starts its own when it needs one.

use core::cell::UnsafeCell;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use libc::{c_int, c_void};
use sockswap_core::addr::{self, UnixSockaddr};
use sockswap_core::control::{self, Param};

use crate::fdtable::{self, Slot, SlotData, CONVERTED, HYBRID, PENDING, TRACKED};
use crate::log::log;
use crate::swap::{self, Replacement};
use crate::{runtime, sys, vsock};

/// Without SO_SNDTIMEO, how long a VMM may take to answer `CONNECT`.
pub const HANDSHAKE_TIMEOUT_MS: i64 = 30_000;
/// Concurrent non-blocking handshakes; beyond that a connect completes inline.
const ENTRIES: usize = 64;
/// How long the backlog of the VMM socket may make a non-blocking connect wait.
const NONBLOCKING_CONNECT_WAIT_MS: i64 = 1000;

use sockswap_core::hybrid::{tcp_errno, AnswerLine};

/// Line state of one handshake.
struct Line(AnswerLine);

enum Step {
    Done(Result<(), c_int>),
    Again,
}

impl Line {
    const fn new() -> Line {
        Line(AnswerLine::new())
    }

    /// Reads what is there, never past the newline.
    fn advance(&mut self, sock: c_int) -> Step {
        loop {
            let mut peek = [0u8; sockswap_core::hybrid::LINE_MAX];
            let room = self.0.room();
            let k = match sys::recv(sock, &mut peek[..room], libc::MSG_PEEK | libc::MSG_DONTWAIT) {
                Ok(0) => return Step::Done(Err(self.0.closed())),
                Ok(k) => k as usize,
                Err(libc::EAGAIN) => return Step::Again,
                Err(libc::EINTR) => continue,
                Err(_) => return Step::Done(Err(libc::ECONNRESET)),
            };
            let take = self.0.wanted(&peek[..k]);
            match sys::recv(sock, &mut peek[..take], libc::MSG_DONTWAIT) {
                Ok(n) if n as usize == take => {}
                _ => return Step::Done(Err(libc::ECONNRESET)),
            }
            if let Some(r) = self.0.consumed(&peek[..take]) {
                return Step::Done(r);
            }
        }
    }
}

/// Waits for the answer on a socket, until `deadline` (monotonic ms).
fn handshake_blocking(sock: c_int, deadline: i64) -> Result<(), c_int> {
    let mut line = Line::new();
    loop {
        let left = deadline - sys::now_ms();
        if left <= 0 {
            return Err(libc::ETIMEDOUT);
        }
        match sys::poll1(sock, libc::POLLIN, left.min(i32::MAX as i64) as c_int) {
            Ok(0) => return Err(libc::ETIMEDOUT),
            Ok(_) | Err(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
        if let Step::Done(r) = line.advance(sock) {
            return r;
        }
    }
}

/// `CONNECT <port>\n`.
fn send_connect(sock: c_int, port: u32) -> Result<(), c_int> {
    let mut buf = [0u8; 24];
    let n = sockswap_core::hybrid::connect_line(port, &mut buf);
    match sys::send(sock, &buf[..n], libc::MSG_NOSIGNAL) {
        Ok(k) if k as usize == n => Ok(()),
        Ok(_) => Err(libc::ECONNRESET),
        Err(e) => Err(tcp_errno(e)),
    }
}

/// The program's connect timeout: SO_SNDTIMEO as it set it, else the default.
fn timeout_ms(data: &SlotData) -> i64 {
    data.find_opt(libc::SOL_SOCKET, libc::SO_SNDTIMEO)
        .filter(|o| o.len as usize >= 16)
        .map(|o| {
            let secs = i64::from_ne_bytes(o.val[..8].try_into().unwrap_or([0; 8]));
            let usecs = i64::from_ne_bytes(o.val[8..16].try_into().unwrap_or([0; 8]));
            secs.saturating_mul(1000).saturating_add(usecs / 1000)
        })
        .filter(|&ms| ms > 0)
        .unwrap_or(HANDSHAKE_TIMEOUT_MS)
}

/// `connect` through a hybrid-vsock socket (`proxy`) to guest `port`.
#[allow(clippy::too_many_arguments)]
pub fn connect(
    fd: c_int,
    slot: &'static Slot,
    rule_index: usize,
    sotype: c_int,
    target: SocketAddr,
    proxy: &UnixSockaddr,
    port: u32,
    params: Option<&[Param; control::PARAMS]>,
) -> Result<(), c_int> {
    if sotype != libc::SOCK_STREAM {
        log!(Warn, "fd {fd}: hybrid vsock carries streams only");
        return Err(libc::EPROTOTYPE);
    }
    let (kind, mut data) = crate::swap::snapshot(fd, slot, sotype)?;
    if kind == CONVERTED {
        return Err(if data.flags & PENDING != 0 {
            libc::EALREADY
        } else {
            libc::EISCONN
        });
    }
    let bound = if kind == TRACKED && data.flags & fdtable::IP_BOUND != 0 {
        crate::swap::real_local_address(fd)
    } else {
        None
    };
    let tmp = Replacement::new(fd, libc::SOCK_STREAM, &mut data)?;
    if let Some(p) = params {
        vsock::apply_params(tmp.fd, p, &mut data);
    }
    let nonblocking = tmp.nonblocking();
    let wait = if nonblocking {
        NONBLOCKING_CONNECT_WAIT_MS
    } else {
        0
    };
    loop {
        match swap::connect_unix(tmp.fd, proxy, wait) {
            Ok(()) => break,
            Err(libc::EINTR) => continue,
            Err(e) => {
                log!(
                    Debug,
                    "fd {fd}: hybrid vsock socket: {err}",
                    err = sockswap_core::errno::Errno(e)
                );
                return Err(tcp_errno(e));
            }
        }
    }
    send_connect(tmp.fd, port)?;
    let family = data.family;
    data.rule = rule_index.min(u16::MAX as usize) as u16;
    data.local = Some(bound.unwrap_or_else(|| {
        SocketAddr::new(
            addr::loopback(family, addr::is_mapped(target.ip())),
            swap::next_ephemeral_port(),
        )
    }));
    let deadline = sys::now_ms() + timeout_ms(&data);
    if nonblocking {
        match start_pending(fd, slot, tmp, data, target, deadline) {
            Ok(()) => return Err(libc::EINPROGRESS),
            Err(back) => {
                // No worker or no free entry: finish inline (connect then returns 0, which a
                // non-blocking TCP connect may also do).
                return finish_inline(fd, slot, back.0, back.1, target, deadline);
            }
        }
    }
    finish_inline(fd, slot, tmp, data, target, deadline)
}

fn finish_inline(
    fd: c_int,
    slot: &'static Slot,
    tmp: Replacement,
    mut data: SlotData,
    target: SocketAddr,
    deadline: i64,
) -> Result<(), c_int> {
    if let Err(e) = handshake_blocking(tmp.fd, deadline) {
        log!(
            Debug,
            "fd {fd}: hybrid vsock handshake for {target}: {err}",
            err = sockswap_core::errno::Errno(e)
        );
        return Err(e);
    }
    tmp.apply_flags();
    let mut g = slot.lock();
    tmp.install(fd, &data)?;
    data.peer = Some(target);
    data.flags |= HYBRID;
    g.set(CONVERTED, data);
    log!(Info, "fd {fd}: connect {target} -> hybrid vsock");
    Ok(())
}

// ---------------------------------------------------------------- pending handshakes

const FREE: u32 = 0;
const CLAIMED: u32 = 1;
const ACTIVE: u32 = 2;

struct Inner {
    /// The program's fd.
    fd: c_int,
    /// Our Unix socket to the VMM.
    sock: c_int,
    /// The other end of the placeholder's socket pair.
    wake: c_int,
    deadline: i64,
    target: SocketAddr,
    id: u32,
    line: Line,
}

struct Entry {
    state: AtomicU32,
    generation: AtomicU32,
    inner: UnsafeCell<Inner>,
}

// SAFETY: `inner` is written by the hook that claimed the entry (FREE → CLAIMED) before it
// publishes ACTIVE (release), and afterwards only by the worker thread (acquire), which frees
// it last.
unsafe impl Sync for Entry {}

static TABLE: [Entry; ENTRIES] = [const {
    Entry {
        state: AtomicU32::new(FREE),
        generation: AtomicU32::new(0),
        inner: UnsafeCell::new(Inner {
            fd: -1,
            sock: -1,
            wake: -1,
            deadline: 0,
            target: SocketAddr::V4(core::net::SocketAddrV4::new(
                core::net::Ipv4Addr::UNSPECIFIED,
                0,
            )),
            id: 0,
            line: Line::new(),
        }),
    }
}; ENTRIES];

/// The worker's epoll fd, and the pid it belongs to (a forked child needs its own).
static WORKER_EPFD: AtomicI32 = AtomicI32::new(-1);
static WORKER_PID: AtomicU32 = AtomicU32::new(0);
static WORKER_STARTING: AtomicU32 = AtomicU32::new(0);

/// The worker's epoll fd, starting the worker if this process has none.
fn worker() -> Option<c_int> {
    let me = runtime::pid();
    if WORKER_PID.load(Ordering::Acquire) == me {
        let ep = WORKER_EPFD.load(Ordering::Acquire);
        if ep >= 0 {
            return Some(ep);
        }
    }
    // Only one thread starts it; the flag holds the starter's pid, so a child forked while its
    // parent was starting one is not locked out.
    let owner = WORKER_STARTING.load(Ordering::Acquire);
    if (owner == me && owner != 0)
        || WORKER_STARTING
            .compare_exchange(owner, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return None; // being started by another thread: finish this one inline
    }
    // (A child inherited the parent's table: handshakes there belong to the parent.)
    if WORKER_PID.load(Ordering::Acquire) != me {
        for e in TABLE.iter() {
            e.state.store(FREE, Ordering::Release);
        }
    }
    let result = start_worker(me);
    WORKER_STARTING.store(0, Ordering::Release);
    result
}

fn start_worker(me: u32) -> Option<c_int> {
    let ep = sys::epoll_create().ok()?;
    WORKER_EPFD.store(ep, Ordering::Release);
    WORKER_PID.store(me, Ordering::Release);
    // SAFETY: sigset_t is plain data; the pthread calls get valid pointers. The new thread
    // inherits a mask with every signal blocked, so the program's handlers never run on it.
    let ok = unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let mut tid: libc::pthread_t = 0;
        let r = libc::pthread_create(
            &mut tid,
            core::ptr::null(),
            worker_main,
            ep as usize as *mut c_void,
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        if r == 0 {
            libc::pthread_detach(tid);
        }
        r == 0
    };
    if !ok {
        WORKER_EPFD.store(-1, Ordering::Release);
        sys::close(ep);
        log!(Warn, "cannot start the hybrid-vsock handshake thread");
        return None;
    }
    Some(ep)
}

/// Installs the placeholder and hands the handshake to the worker. On Err, gives back the
/// socket and record for an inline finish (the program's fd untouched).
// A large Err by value: hooks may not allocate, so no Box.
#[allow(clippy::result_large_err)]
fn start_pending(
    fd: c_int,
    slot: &'static Slot,
    tmp: Replacement,
    mut data: SlotData,
    target: SocketAddr,
    deadline: i64,
) -> Result<(), (Replacement, SlotData)> {
    let Some(ep) = worker() else {
        return Err((tmp, data));
    };
    let Some((i, entry)) = TABLE.iter().enumerate().find(|(_, e)| {
        e.state
            .compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }) else {
        return Err((tmp, data));
    };
    let Ok((hold, wake)) = sys::socketpair(
        libc::AF_UNIX,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
    ) else {
        entry.state.store(FREE, Ordering::Release);
        return Err((tmp, data));
    };
    // Fill the placeholder's send buffer so it is not writable (and the other end never
    // writes, so it is not readable).
    let one: c_int = 1;
    let _ = sys::setsockopt(
        hold,
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        (&raw const one).cast(),
        4,
    );
    let filler = [0u8; 4096];
    for _ in 0..256 {
        if sys::send(hold, &filler, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL).is_err() {
            break;
        }
    }
    let generation = entry
        .generation
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(1);
    let id = (i as u32) | (generation << 8);
    // SAFETY: we claimed the entry; nobody else touches `inner` until ACTIVE is published.
    unsafe {
        *entry.inner.get() = Inner {
            fd,
            sock: -1,
            wake,
            deadline,
            target,
            id,
            line: Line::new(),
        };
    }
    let placeholder = Replacement::with_flags(hold, tmp.flags());
    placeholder.apply_flags();
    {
        let mut g = slot.lock();
        if let Err(e) = placeholder.install(fd, &data) {
            drop(g);
            log!(
                Warn,
                "fd {fd}: cannot install the connect placeholder: {err}",
                err = sockswap_core::errno::Errno(e)
            );
            sys::close(wake);
            entry.state.store(FREE, Ordering::Release);
            return Err((tmp, data));
        }
        data.flags |= HYBRID | PENDING;
        data.pending_id = id;
        data.peer = None;
        g.set(CONVERTED, data);
    }
    let sock = tmp.into_raw();
    // SAFETY: still ours until ACTIVE is published below.
    unsafe { (*entry.inner.get()).sock = sock };
    entry.state.store(ACTIVE, Ordering::Release);
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        u64: i as u64,
    };
    if sys::epoll_ctl(ep, libc::EPOLL_CTL_ADD, sock, &mut ev).is_err() {
        // The worker's deadline scan still finishes it (with ETIMEDOUT) — unlikely enough.
        log!(Warn, "fd {fd}: cannot watch the hybrid handshake");
    }
    log!(
        Info,
        "fd {fd}: connect {target} -> hybrid vsock (in progress)"
    );
    Ok(())
}

extern "C" fn worker_main(arg: *mut c_void) -> *mut c_void {
    let ep = arg as usize as c_int;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    loop {
        let n = match sys::epoll_wait(ep, &mut events, 200) {
            Ok(n) => n as usize,
            Err(libc::EINTR) => 0,
            Err(_) => return core::ptr::null_mut(),
        };
        for ev in events.iter().take(n) {
            let i = ev.u64 as usize;
            let Some(entry) = TABLE.get(i) else { continue };
            if entry.state.load(Ordering::Acquire) != ACTIVE {
                continue;
            }
            // SAFETY: ACTIVE entries belong to this thread.
            let inner = unsafe { &mut *entry.inner.get() };
            if let Step::Done(r) = inner.line.advance(inner.sock) {
                finish(ep, entry, inner, r);
            }
        }
        let now = sys::now_ms();
        for entry in TABLE.iter() {
            if entry.state.load(Ordering::Acquire) != ACTIVE {
                continue;
            }
            // SAFETY: as above.
            let inner = unsafe { &mut *entry.inner.get() };
            if inner.deadline <= now {
                finish(ep, entry, inner, Err(libc::ETIMEDOUT));
            }
        }
    }
}

/// Completes a handshake: the real socket (or a failed one) replaces the placeholder, if the
/// program's fd is still the one we placed it on.
fn finish(ep: c_int, entry: &Entry, inner: &mut Inner, result: Result<(), c_int>) {
    let fd = inner.fd;
    let _ = sys::epoll_ctl(ep, libc::EPOLL_CTL_DEL, inner.sock, core::ptr::null_mut());
    let mut sock_kept = false;
    if let Some(slot) = fdtable::get(fd) {
        let mut g = slot.lock();
        let ours = g.kind() == CONVERTED && {
            let d = g.data();
            d.flags & PENDING != 0 && d.pending_id == inner.id
        };
        if ours {
            let mut data = *g.data();
            // The placeholder's file flags now: an fcntl made meanwhile counts.
            let flags = sys::fcntl(fd, libc::F_GETFL, 0).unwrap_or(0) as c_int;
            match result {
                Ok(()) => {
                    let real = Replacement::with_flags(inner.sock, flags);
                    real.apply_flags();
                    match real.install(fd, &data) {
                        Ok(()) => {
                            sock_kept = true;
                            data.flags &= !PENDING;
                            data.peer = Some(inner.target);
                            g.set(CONVERTED, data);
                            log!(Debug, "fd {fd}: hybrid vsock connected to {}", inner.target);
                        }
                        Err(e) => {
                            sock_kept = true; // closed by the Replacement's drop
                            fail_fd(fd, &mut g, data, e, flags);
                        }
                    }
                }
                Err(e) => {
                    log!(
                        Debug,
                        "fd {fd}: hybrid vsock handshake for {}: {err}",
                        inner.target,
                        err = sockswap_core::errno::Errno(e)
                    );
                    fail_fd(fd, &mut g, data, e, flags);
                }
            }
        }
    }
    if !sock_kept {
        sys::close(inner.sock);
    }
    // Wake whoever still sleeps in poll/select on the placeholder: it becomes writable, then
    // hung up; they poll again and find the new socket.
    let mut sink = [0u8; 4096];
    while matches!(sys::recv(inner.wake, &mut sink, libc::MSG_DONTWAIT), Ok(n) if n > 0) {}
    sys::close(inner.wake);
    inner.sock = -1;
    inner.wake = -1;
    entry.state.store(FREE, Ordering::Release);
}

/// A failed handshake: the fd becomes a fresh unconnected socket of the program's family and
/// SO_ERROR reports `e` once.
fn fail_fd(fd: c_int, g: &mut fdtable::Guard, data: SlotData, e: c_int, flags: c_int) {
    let mut fresh = SlotData::new(data.family, data.sotype, data.protocol);
    fresh.opts = data.opts;
    fresh.epoll = data.epoll;
    fresh.nepoll = data.nepoll;
    fresh.pending_error = e;
    if let Ok(s) = sys::socket(data.family, data.sotype | libc::SOCK_CLOEXEC, 0) {
        let r = Replacement::with_flags(s, flags);
        r.apply_flags();
        let _ = r.install(fd, &fresh);
    }
    g.set(TRACKED, fresh);
}

/// getsockopt(SO_ERROR) on an fd whose non-blocking hybrid connect failed: the errno, once.
pub fn take_pending_error(fd: c_int) -> Option<c_int> {
    let slot = fdtable::get(fd).filter(|s| s.kind() == TRACKED)?;
    let mut g = slot.lock();
    if g.kind() != TRACKED || g.data().pending_error == 0 {
        return None;
    }
    let e = g.data().pending_error;
    g.data().pending_error = 0;
    Some(e)
}
