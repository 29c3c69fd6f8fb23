//! socketbox listeners, for servers that never had an "inetd mode": a router accepts the TCP
//! connections and hands each accepted socket over; the program's listening fd is
//! - "A": an AF_UNIX datagram socket bound at a path, one fd per datagram (pollable, shared by
//!   preforked workers like a real listen queue);
//! - "B": a SEQPACKET stream registered with the router's API socket for a slot, one fd per
//!   `03 00 00 00` record; when the router restarts, the shim registers again.
//!
//! `accept` takes the next fd, applies accept4's flags and shows its addresses in the family of
//! the program's listener (the router's IPv6 sockets to an AF_INET program: bug S2).
//!
//! Listener handover (docs/router.md): a router may instead hand over one listening TCP socket
//! for the program's keys ("A": an `A_HANDOVER` record on the datagram socket; "B": the answer
//! to a registration asking for it). It is installed at the program's fd and accept goes
//! straight to the kernel from then on.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicU32, Ordering};

use libc::{c_int, sockaddr, socklen_t};
use sockswap_core::addr::{self, Decoded, UnixSockaddr};
use sockswap_core::rule::{Action, QueryTarget};
use sockswap_core::socketbox::wire;

use crate::fdtable::{self, Slot, SlotData, CONVERTED};
use crate::hooks::{fail, write_out, SavedErrno};
use crate::log::{log, Bytes};
use crate::swap::{self, Replacement};
use crate::{runtime, sys};

/// How long `bind` waits for the router to acknowledge a "B" registration.
pub const B_REGISTER_TIMEOUT_MS: i64 = 5000;
/// Pause between attempts to register again while the router is away (blocking accept).
const B_RETRY_MS: i64 = 200;
/// How often a non-blocking "B" listener whose router is away wakes its program to retry.
const B_WAIT_MS: i64 = 1000;

/// Accepts on socketbox listeners so far (SKBOX_SCHED_YIELD counts them).
static ACCEPTS: AtomicU32 = AtomicU32::new(0);

enum Received {
    Fd(c_int),
    /// An "A" listener handover: a listening TCP socket to accept from from now on.
    Listener(c_int),
    /// A datagram or record without a usable fd (skipped).
    Nothing,
    /// The "B" stream ended: the router went away.
    Closed,
}

/// Takes the next passed fd from `fd`, close-on-exec if `cloexec`.
fn receive(fd: c_int, stream_b: bool, cloexec: bool) -> Result<Received, c_int> {
    let mut data = [0u8; 16];
    // libc's recvmsg, not the raw call: a thread blocked in accept stays cancellable (a
    // cancellation acts only before the kernel hands over an fd, so none leaks).
    let (n, first) = sys::recv_with_fd_by(fd, &mut data, |fd, msg, _| {
        let flags = if cloexec { libc::MSG_CMSG_CLOEXEC } else { 0 };
        // SAFETY: msg is valid for the call.
        let r = unsafe { crate::real::recvmsg::get()(fd, msg, flags) };
        if r < 0 {
            Err(sys::errno())
        } else {
            Ok(r as libc::c_long)
        }
    })?;
    if stream_b && n == 0 && first.is_none() {
        return Ok(Received::Closed);
    }
    if stream_b && data.get(..n) != Some(&wire::B_DELIVERY[..]) {
        log!(
            Warn,
            "fd {fd}: unexpected record from the router ({n} bytes); skipped"
        );
        if let Some(p) = first {
            sys::close(p);
        }
        return Ok(Received::Nothing);
    }
    let Some(passed) = first else {
        log!(Warn, "fd {fd}: a message without a connection; skipped");
        return Ok(Received::Nothing);
    };
    if !stream_b && data.get(..n) == Some(&wire::A_HANDOVER[..]) {
        if sys::getsockopt_int(passed, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(1) {
            return Ok(Received::Listener(passed));
        }
        log!(
            Warn,
            "fd {fd}: a listener handover without a listening socket; closed"
        );
        sys::close(passed);
        return Ok(Received::Nothing);
    }
    // One question for the common case: a TCP socket (IPPROTO_TCP means a stream of
    // AF_INET/AF_INET6); otherwise it must be a Unix stream socket.
    let usable = match sys::getsockopt_int(passed, libc::SOL_SOCKET, libc::SO_PROTOCOL) {
        Ok(libc::IPPROTO_TCP) => true,
        Ok(0) => {
            sys::getsockopt_int(passed, libc::SOL_SOCKET, libc::SO_TYPE) == Ok(libc::SOCK_STREAM)
                && sys::getsockopt_int(passed, libc::SOL_SOCKET, libc::SO_DOMAIN)
                    == Ok(libc::AF_UNIX)
        }
        _ => false,
    };
    if !usable {
        log!(Warn, "fd {fd}: passed fd is not a stream socket; closed");
        sys::close(passed);
        return Ok(Received::Nothing);
    }
    Ok(Received::Fd(passed))
}

/// The IP name (`SYS_getsockname`/`SYS_getpeername`) of a passed socket, if it has one.
fn ip_name(nr: libc::c_long, fd: c_int) -> Option<SocketAddr> {
    let mut buf = [0u8; 128];
    let n = sys::socket_name(nr, fd, &mut buf).ok()?;
    match addr::decode(buf.get(..n)?) {
        Decoded::Ip(sa) => Some(sa),
        _ => None,
    }
}

/// accept/accept4 on an A or B listener.
///
/// # Safety
/// `addr`/`len` are the program's accept arguments.
pub(crate) unsafe fn accept(
    fd: c_int,
    slot: &'static Slot,
    listener: &SlotData,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    let stream_b = listener.flags & fdtable::SOCKETBOX_B != 0;
    let flags = flags.unwrap_or(0);
    if runtime::get().is_some_and(|rt| rt.config.sched_yield)
        && ACCEPTS.fetch_add(1, Ordering::Relaxed) % 7 == 0
    {
        // SKBOX_SCHED_YIELD: let the other workers of a preforked server take a turn.
        // SAFETY: no preconditions.
        unsafe { libc::sched_yield() };
    }
    if listener.flags & fdtable::B_WAITING != 0 {
        let _e = SavedErrno::new();
        if register_again(fd, slot, listener).is_err() {
            drop(_e);
            rearm_wait(fd, slot);
            return fail(libc::EAGAIN);
        }
    }
    loop {
        let saved = SavedErrno::new();
        match receive(fd, stream_b, flags & libc::SOCK_CLOEXEC != 0) {
            Ok(Received::Fd(passed)) => {
                // SAFETY: the program's pointers.
                return unsafe { hand_over(passed, listener, addr, len, flags) };
            }
            Ok(Received::Listener(l)) => {
                drop(saved);
                if let Err(e) = take_listener(fd, slot, l) {
                    return fail(e);
                }
                let Some(now) = fdtable::get(fd).map(|s| *s.lock().data()) else {
                    return fail(libc::EBADF);
                };
                // SAFETY: the program's pointers.
                return unsafe { accept_handed_over(fd, &now, addr, len, Some(flags)) };
            }
            Ok(Received::Nothing) => continue,
            Ok(Received::Closed) => {
                if register_again(fd, slot, listener).is_ok() {
                    continue;
                }
                let nonblocking = sys::fcntl(fd, libc::F_GETFL, 0)
                    .is_ok_and(|f| f as c_int & libc::O_NONBLOCK != 0);
                if nonblocking {
                    // Not back yet. The ended stream would wake the program's event loop
                    // without pause; a timer in its place wakes it once a second to retry.
                    rearm_wait(fd, slot);
                    drop(saved);
                    return fail(libc::EAGAIN);
                }
                sys::sleep_ms(B_RETRY_MS);
            }
            Err(e) => {
                drop(saved);
                return fail(e);
            }
        }
    }
}

/// The router handed over a listening socket for this A listener's keys: put the record back
/// for the other processes sharing the datagram socket (preforked workers each take it once;
/// it stays queued for workers forked later), then install the listener at the program's fd
/// number with its flags and epoll registrations. From here on the kernel dispatches.
fn take_listener(fd: c_int, slot: &'static Slot, listener: c_int) -> Result<(), c_int> {
    let _e = SavedErrno::new();
    let mut own = [0u8; 128];
    match sys::socket_name(libc::SYS_getsockname, fd, &mut own) {
        Ok(n) => {
            if let Err(e) = sys::send_fd_to(fd, &wire::A_HANDOVER, listener, &own[..n]) {
                log!(Warn, "fd {fd}: cannot pass the handed-over listener on to sibling processes: errno {e}");
            }
        }
        Err(e) => log!(Warn, "fd {fd}: getsockname: errno {e}"),
    }
    let mut g = slot.lock();
    if g.kind() != CONVERTED {
        sys::close(listener);
        return Err(libc::EBADF);
    }
    let mut data = *g.data();
    install_listener(fd, &mut data, listener)?;
    data.flags &= !fdtable::SOCKETBOX_A;
    g.set(CONVERTED, data);
    log!(
        Info,
        "fd {fd}: the router handed over its listener; accepting from the kernel directly"
    );
    Ok(())
}

/// Puts a handed-over listening socket at the program's `fd` (its flags and epoll
/// registrations carried over) and marks `data` so accept goes to the kernel.
fn install_listener(fd: c_int, data: &mut SlotData, listener: c_int) -> Result<(), c_int> {
    let kernel_family = match sys::getsockopt_int(listener, libc::SOL_SOCKET, libc::SO_DOMAIN) {
        Ok(f) => f,
        Err(e) => {
            sys::close(listener);
            return Err(e);
        }
    };
    let tmp = Replacement::adopt(listener, fd, data)?;
    tmp.apply_flags();
    tmp.install(fd, data)?;
    data.flags |= fdtable::HANDED_OVER;
    if kernel_family != data.family {
        data.flags |= fdtable::REAL_TCP;
    }
    Ok(())
}

/// At most once a second (a handed-over "B" listener): whether the registration stream
/// ended (the router restarted), and if so register again, sending the listener along.
fn check_registration(fd: c_int, listener: &SlotData) {
    use core::sync::atomic::{AtomicI64, Ordering::Relaxed};
    static NEXT_CHECK_MS: AtomicI64 = AtomicI64::new(0);
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec; CLOCK_MONOTONIC_COARSE is answered by the vDSO (no syscall).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    let now = ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000;
    if now < NEXT_CHECK_MS.load(Relaxed) {
        return;
    }
    NEXT_CHECK_MS.store(now + 1000, Relaxed);
    let reg = listener.registration;
    match sys::poll1(reg, libc::POLLIN, 0) {
        Ok(r) if r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 => {}
        _ => return,
    }
    let mut probe = [0u8; 8];
    if !matches!(
        sys::recv(reg, &mut probe, libc::MSG_DONTWAIT | libc::MSG_PEEK),
        Ok(0) | Err(_)
    ) {
        return;
    }
    let Some((api, number)) = b_rule(listener) else {
        return;
    };
    match register_b(api, number, Some(fd)) {
        Ok((stream, back)) => {
            if let Some(b) = back {
                sys::close(b); // our own listener, returned: we hold it already
            }
            let _ = sys::dup3(stream, reg, libc::O_CLOEXEC);
            sys::close(stream);
            log!(
                Info,
                "fd {fd}: registered slot {number} again at {} (keeping the handed-over listener)",
                Bytes(api.as_bytes())
            );
        }
        Err(e) => log!(
            Debug,
            "fd {fd}: registering slot {number} again: {}",
            sockswap_core::errno::name(e.errno).unwrap_or("errno")
        ),
    }
}

/// The kernel's accept (flags None) or accept4.
///
/// # Safety
/// `addr`/`len` as for accept(2): NULL or valid.
pub(crate) unsafe fn real_accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    match flags {
        // SAFETY: the caller's pointers, as accept(2) takes them.
        None => unsafe { crate::real::accept::get()(fd, addr, len) },
        // SAFETY: as above.
        Some(f) => unsafe { crate::real::accept4::get()(fd, addr, len, f) },
    }
}

/// The api socket and slot of the socketbox-b rule a listener was converted by.
fn b_rule(listener: &SlotData) -> Option<(&'static str, u32)> {
    match &runtime::get()?
        .config
        .rules
        .get(listener.rule as usize)?
        .action
    {
        Action::SocketboxB { api, slot } => Some((api.as_str(), *slot)),
        _ => None,
    }
}

/// accept/accept4 on a handed-over listener: the kernel's answer, with names converted only
/// when the listener's family is not the program's.
///
/// # Safety
/// `addr`/`len` are the program's accept arguments.
pub(crate) unsafe fn accept_handed_over(
    fd: c_int,
    listener: &SlotData,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    // SAFETY: the program's own call with its own (or our NULL) address arguments.
    let real = |a: *mut sockaddr, l: *mut socklen_t| unsafe { real_accept(fd, a, l, flags) };
    if listener.registration >= 0 {
        let _e = SavedErrno::new();
        check_registration(fd, listener);
    }
    if listener.flags & fdtable::REAL_TCP == 0 {
        let r = real(addr, len);
        if r >= 0 {
            crate::hooks::lifecycle::reset_stale(r);
        }
        return r;
    }
    let r = real(core::ptr::null_mut(), core::ptr::null_mut());
    if r < 0 {
        return r;
    }
    let _e = SavedErrno::new();
    // SAFETY: the program's pointers.
    unsafe { hand_over(r, listener, addr, len, flags.unwrap_or(0)) }
}

/// Puts (or re-arms) the one-second retry timer at a "B" listener's fd.
fn rearm_wait(fd: c_int, slot: &'static Slot) {
    let _e = SavedErrno::new();
    let mut g = slot.lock();
    if g.kind() != CONVERTED {
        return;
    }
    let mut data = *g.data();
    if data.flags & fdtable::B_WAITING != 0 {
        // The timer is there already (the record, not a caller's copy, says so).
        let mut expirations = [0u8; 8];
        let _ = sys::read(fd, &mut expirations);
        let _ = sys::timer_arm(fd, B_WAIT_MS);
        return;
    }
    let Ok(timer) = sys::timer_new() else { return };
    if sys::timer_arm(timer, B_WAIT_MS).is_err() {
        sys::close(timer);
        return;
    }
    let Ok(tmp) = Replacement::adopt(timer, fd, &mut data) else {
        return;
    };
    tmp.apply_flags();
    if tmp.install(fd, &data).is_ok() {
        data.flags |= fdtable::B_WAITING;
        g.set(CONVERTED, data);
    }
}

/// Gives the program the passed socket as accept/accept4 would give a new connection.
///
/// # Safety
/// `addr`/`len` are the program's accept arguments.
unsafe fn hand_over(
    passed: c_int,
    listener: &SlotData,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    // The router's socket may have been non-blocking: the program gets exactly what it asked
    // (a socket has no other status flag a router would set).
    let fl = if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK
    } else {
        0
    };
    let _ = sys::fcntl(passed, libc::F_SETFL, fl as libc::c_long);
    crate::hooks::lifecycle::reset_stale(passed);
    let family = listener.family;
    let real_peer = ip_name(libc::SYS_getpeername, passed);
    let peer = match real_peer {
        Some(p)
            if (p.is_ipv4() && family == libc::AF_INET)
                || (p.is_ipv6() && family == libc::AF_INET6) =>
        {
            Some(p) // the program's own family: nothing to pretend
        }
        _ => {
            let mut data = SlotData::new(family, libc::SOCK_STREAM, libc::IPPROTO_TCP);
            data.rule = listener.rule;
            let shown_peer = match real_peer {
                Some(p) => {
                    // Its local address is asked of the kernel if the program wants it.
                    data.flags |= fdtable::REAL_TCP;
                    p
                }
                None => {
                    // A Unix stream connection: loopback peers, as for any converted listener.
                    let mapped = listener.local.is_some_and(|l| addr::is_mapped(l.ip()));
                    data.local = listener
                        .local
                        .map(|l| addr::wildcard_to_loopback(l, family));
                    SocketAddr::new(addr::loopback(family, mapped), swap::next_ephemeral_port())
                }
            };
            data.peer = Some(shown_peer);
            data.flags |= fdtable::ACCEPTED;
            if let Some(s) = fdtable::get_or_map(passed) {
                s.lock().set(CONVERTED, data);
            }
            Some(shown_peer)
        }
    };
    if let Some(peer) = peer {
        // SAFETY: the program's pointers; NULL allowed.
        unsafe { write_out(addr, len, |out| addr::encode_ip(peer, family, out)) };
    }
    passed
}

/// Why a "B" registration failed: the errno, and the router's own words when it answered.
struct RegisterError {
    errno: c_int,
    /// The router was there and said no (or closed without acknowledging).
    refused: bool,
    reason: [u8; wire::B_REFUSAL_REASON_MAX],
    reason_len: usize,
}

impl RegisterError {
    fn sys(errno: c_int) -> Self {
        RegisterError {
            errno,
            refused: false,
            reason: [0; wire::B_REFUSAL_REASON_MAX],
            reason_len: 0,
        }
    }

    /// "…: ECONNREFUSED (Connection refused): the router says: slot 2 is registered already"
    fn log_line(&self, what: core::fmt::Arguments<'_>) {
        let name = sockswap_core::errno::name(self.errno).unwrap_or("errno");
        let meaning = crate::log::strerror(self.errno);
        let reason = &self.reason[..self.reason_len];
        match (self.refused, reason.is_empty()) {
            (true, false) => log!(
                Error,
                "{what}: {name} ({meaning}): the router says: {}",
                Bytes(reason)
            ),
            (true, true) => log!(
                Error,
                "{what}: {name} ({meaning}): the router closed without acknowledging (its log says why)"
            ),
            _ => log!(Error, "{what}: {name} ({meaning})"),
        }
    }
}

/// Registers `slot` asking for its handed-over listener (sending along the one `held`, after a
/// router restart): the registered stream and the listener if the router hands one over. A
/// router that predates handover refuses the versioned record by closing without a word; the
/// plain one follows. (A router that gives a reason understood the record: no second try.)
#[allow(clippy::result_large_err)] // the reason lives on the stack: nothing allocates in a hook
fn register_b(
    api: &str,
    slot: u32,
    held: Option<c_int>,
) -> Result<(c_int, Option<c_int>), RegisterError> {
    let flags = wire::B_WANTS_LISTENER | held.map_or(0, |_| wire::B_HOLDS_LISTENER);
    match register_record(api, &wire::b_register_ext(slot, flags), held) {
        Err(e) if e.refused && e.reason_len == 0 && held.is_none() => {
            register_record(api, &wire::b_register(slot), None)
        }
        r => r,
    }
}

/// Connects to a router's "B" API socket and registers `slot`; the registered stream.
#[allow(clippy::result_large_err)] // as register_b
fn register(api: &str, slot: u32) -> Result<c_int, RegisterError> {
    register_record(api, &wire::b_register(slot), None).map(|(s, _)| s)
}

/// Connects to a router's "B" API socket and sends one registration `record` (with `held`
/// attached); the registered stream and a listener the router answered with.
#[allow(clippy::result_large_err)] // as register_b
fn register_record(
    api: &str,
    record: &[u8],
    held: Option<c_int>,
) -> Result<(c_int, Option<c_int>), RegisterError> {
    let sa = match api.strip_prefix('@') {
        Some(name) => UnixSockaddr::abstract_name(name.as_bytes()),
        None => UnixSockaddr::path(api.as_bytes()),
    }
    .map_err(|_| RegisterError::sys(libc::ENAMETOOLONG))?;
    let s = sys::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0)
        .map_err(RegisterError::sys)?;
    let close_on_err = |e: c_int| {
        sys::close(s);
        RegisterError::sys(e)
    };
    sys::set_timeouts(s, B_REGISTER_TIMEOUT_MS);
    sys::connect(s, sa.bytes.as_ptr().cast(), sa.len as u32).map_err(close_on_err)?;
    match held {
        Some(h) => sys::send_fd_to(s, record, h, &[]),
        None => sys::send(s, record, libc::MSG_NOSIGNAL),
    }
    .map_err(close_on_err)?;
    let mut reply = [0u8; 4 + wire::B_REFUSAL_REASON_MAX];
    let (n, passed) = sys::recv_with_fd(s, &mut reply).map_err(close_on_err)?;
    let reply = reply.get(..n).unwrap_or(&[]);
    let listener = match passed {
        None if reply == wire::B_ACK => None,
        Some(l) if reply == wire::B_ACK_LISTENER => Some(l),
        p => {
            if let Some(p) = p {
                sys::close(p);
            }
            // The router refuses (wrong uid, slot taken, ...) with a reason record, or (an
            // older router) by closing without a reply.
            let mut err = close_on_err(libc::ECONNREFUSED);
            err.refused = true;
            if let Some(reason) = wire::b_parse_refusal(reply) {
                err.reason_len = reason.len().min(err.reason.len());
                err.reason[..err.reason_len].copy_from_slice(&reason[..err.reason_len]);
            }
            return Err(err);
        }
    };
    sys::set_timeouts(s, 0);
    Ok((s, listener))
}

/// The listener of this process that holds `api`:`number` already (a dual-stack program
/// binding IPv4 and IPv6, or SO_REUSEPORT listeners): the router takes one registration per
/// slot. Skips `fd` and listeners waiting for their router to come back.
fn registered_sibling(fd: c_int, api: &str, number: u32) -> Option<(c_int, SlotData)> {
    let mut found = None;
    fdtable::for_range(0, u32::MAX, |other, s| {
        if found.is_some() || other == fd || s.kind() != CONVERTED {
            return;
        }
        let mut g = s.lock();
        if g.kind() != CONVERTED {
            return;
        }
        let d = *g.data();
        let b_listener = d.flags & (fdtable::SOCKETBOX_B | fdtable::HANDED_OVER) != 0;
        if b_listener && d.flags & fdtable::B_WAITING == 0 && b_rule(&d) == Some((api, number)) {
            found = Some((other, d));
        }
    });
    found
}

/// bind under a `socketbox-b` rule.
pub(crate) fn bind_b(
    fd: c_int,
    slot: &'static Slot,
    index: usize,
    rule: &sockswap_core::Rule,
    sotype: c_int,
    target: QueryTarget<'_>,
) -> Result<(), c_int> {
    let QueryTarget::Ip(ip) = target else {
        return Err(libc::EINVAL);
    };
    let Action::SocketboxB { api, slot: number } = &rule.action else {
        return Err(libc::EINVAL);
    };
    let (api, number) = (api.as_str(), *number);
    if sotype != libc::SOCK_STREAM {
        return Err(libc::EPROTOTYPE);
    }
    // A second bind to a slot this process holds behaves as a second bind to a path rule's
    // path: with SO_REUSEPORT on both it shares the first listener, else the first serves and
    // this one is bound where nothing reaches.
    if let Some((first, first_data)) = registered_sibling(fd, api, number) {
        let (_, own) = crate::swap::snapshot(fd, slot, sotype)?;
        if crate::hooks::calls::reuses_port(&own) && crate::hooks::calls::reuses_port(&first_data) {
            return crate::hooks::calls::share_listener(first, fd);
        }
        log!(
            Info,
            "fd {fd}: bind {ip}: slot {number} is registered by fd {first} of this process, which serves this address too; this socket is bound where nothing reaches"
        );
        let hole = sockswap_core::Rule::any(Action::Blackhole);
        return crate::hooks::calls::bind_converted(fd, slot, index, &hole, sotype, target);
    }
    let (stream, listener) = register_b(api, number, None).map_err(|e| {
        e.log_line(format_args!(
            "bind {ip}: cannot register slot {number} on the router's API socket {}",
            Bytes(api.as_bytes())
        ));
        libc::EADDRNOTAVAIL
    })?;
    let mut g = slot.lock();
    let mut data = match crate::swap::record_to_swap(&mut g, fd, sotype) {
        Ok(d) => d,
        Err(e) => {
            sys::close(stream);
            if let Some(l) = listener {
                sys::close(l);
            }
            return Err(e);
        }
    };
    data.rule = index.min(u16::MAX as usize) as u16;
    if let Some(l) = listener {
        // The router handed over the slot's listener: the program's fd becomes it, and the
        // registration stays open beside it.
        if let Err(e) = install_listener(fd, &mut data, l) {
            sys::close(stream);
            return Err(e);
        }
        data.registration = stream;
        log!(Info, "fd {fd}: bind {ip}: slot {number}'s listener handed over; accepting from the kernel directly");
    } else {
        let tmp = Replacement::adopt(stream, fd, &mut data)?;
        tmp.apply_flags();
        tmp.install(fd, &data)?;
        data.flags |= fdtable::SOCKETBOX_B;
    }
    let port = match ip.port() {
        0 => swap::next_ephemeral_port(),
        p => p,
    };
    data.local = Some(SocketAddr::new(ip.ip(), port));
    g.set(CONVERTED, data);
    log!(
        Debug,
        "fd {fd}: bind {ip} -> registered slot {number} at {}",
        Bytes(api.as_bytes())
    );
    Ok(())
}

/// The router closed our "B" stream (it restarted): register again and put the new stream at
/// the same fd number, with the program's flags and epoll registrations.
fn register_again(fd: c_int, slot: &'static Slot, listener: &SlotData) -> Result<(), c_int> {
    let (api, number) = b_rule(listener).ok_or(libc::EINVAL)?;
    let stream = match register(api, number) {
        Ok(s) => s,
        Err(e) if e.refused => {
            // Listeners sharing one stream (SO_REUSEPORT) all saw it end: the first to
            // register again holds the slot, the others share its new stream.
            if let Some((first, _)) = registered_sibling(fd, api, number) {
                return crate::hooks::calls::share_listener(first, fd);
            }
            e.log_line(format_args!(
                "fd {fd}: cannot register slot {number} again at {}",
                Bytes(api.as_bytes())
            ));
            return Err(e.errno);
        }
        Err(e) => return Err(e.errno),
    };
    let mut g = slot.lock();
    if g.kind() != CONVERTED {
        sys::close(stream);
        return Err(libc::EBADF); // closed meanwhile
    }
    let mut data = *g.data();
    let tmp = Replacement::adopt(stream, fd, &mut data)?;
    tmp.apply_flags();
    tmp.install(fd, &data)?;
    data.flags &= !fdtable::B_WAITING;
    g.set(CONVERTED, data);
    log!(
        Info,
        "fd {fd}: registered slot {number} again at {}",
        Bytes(api.as_bytes())
    );
    Ok(())
}
