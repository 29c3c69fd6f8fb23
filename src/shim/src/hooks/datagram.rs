//! Datagrams: `sendto`/`sendmsg` to converted destinations, the sender addresses that
//! `recvfrom`/`recvmsg` report, and `listen` (a no-op on sockets systemd passed).

use core::net::SocketAddr;

use libc::{c_int, c_void, msghdr, sockaddr, socklen_t};
use sockswap_core::addr::{self, Decoded, UnixSockaddr};
use sockswap_core::rule::{Direction, QueryTarget};

use crate::fdtable::{self, Slot, SlotData, CONVERTED, EMPTY, RESERVED};
use crate::hooks::calls::{
    convert_for_send, judge, out_endpoint, receiver_absent, report_foreign, Verdict,
};
use crate::hooks::{fail, sockaddr_bytes, write_out, SavedErrno};
use crate::log::log;
use crate::{peers, real, runtime, sys};

/// Where a datagram with this destination goes.
enum Send {
    /// Untouched.
    Pass,
    /// A converted stream socket: TCP ignores a destination on a connected socket, AF_UNIX
    /// would refuse it, so drop it.
    StripAddr,
    To(UnixSockaddr),
    Fail(c_int),
}

/// What the datagram hooks need of a converted socket that pretends to be IP.
#[derive(Clone, Copy)]
struct Shown {
    slot: &'static Slot,
    family: c_int,
    sotype: c_int,
    /// It reports IPv4-mapped addresses (an AF_INET6 socket bound to one).
    mapped: bool,
}

/// Like `pretending`, without copying the whole record (this is the data path).
#[inline]
fn shown(fd: c_int) -> Option<Shown> {
    let slot = fdtable::get(fd)?;
    if slot.kind() != CONVERTED {
        return None;
    }
    let mut g = slot.lock();
    if g.kind() != CONVERTED {
        return None;
    }
    let d = g.data();
    (d.family != libc::AF_UNIX).then(|| Shown {
        slot,
        family: d.family,
        sotype: d.sotype,
        mapped: d.local.is_some_and(|l| addr::is_mapped(l.ip())),
    })
}

/// Runs `f` on the record of a converted slot, if it still is one.
fn with_converted<R>(slot: &'static Slot, f: impl FnOnce(&mut SlotData) -> R) -> Option<R> {
    let mut g = slot.lock();
    (g.kind() == CONVERTED).then(|| f(g.data()))
}

fn route_send(fd: c_int, dest: &[u8]) -> Send {
    let Some(rt) = runtime::get() else {
        return Send::Pass;
    };
    let Decoded::Ip(ip) = addr::decode(dest) else {
        return Send::Pass;
    };
    let target = QueryTarget::Ip(ip);
    if let Some(shown) = shown(fd) {
        if shown.sotype != libc::SOCK_DGRAM {
            return Send::StripAddr;
        }
        let cached = with_converted(shown.slot, |d| {
            d.send_cache.filter(|(a, _)| *a == ip).map(|(_, sa)| sa)
        });
        if let Some(Some(sa)) = cached {
            return Send::To(sa);
        }
        let route = match judge(rt, Direction::Out, fd, target) {
            Verdict::ToPeer { sa, .. } => Send::To(sa),
            Verdict::Convert { rule, .. } => match out_endpoint(rule, target, libc::SOCK_DGRAM) {
                Ok(sa) => {
                    peers::remember(sa.name(), ip);
                    Send::To(sa)
                }
                Err(e) => Send::Fail(e),
            },
            Verdict::Reject(e) => Send::Fail(e),
            Verdict::PassThrough => {
                log!(Warn, "fd {fd}: sendto {ip} from a socket moved to a Unix socket; no 'out' rule matches");
                Send::Fail(libc::ENETUNREACH)
            }
        };
        if let Send::To(sa) = route {
            with_converted(shown.slot, |d| d.send_cache = Some((ip, sa)));
        }
        return route;
    }
    if fdtable::get(fd).is_some_and(|s| s.kind() == CONVERTED) {
        return Send::Pass; // a Unix socket redirected by a from-unix rule
    }
    let (sa, index, slot, sotype) = match judge(rt, Direction::Out, fd, target) {
        Verdict::PassThrough => return Send::Pass,
        Verdict::Reject(e) => return Send::Fail(e),
        Verdict::ToPeer { sa, sotype, slot } => (sa, usize::MAX, slot, sotype),
        Verdict::Convert {
            index,
            rule,
            sotype,
            slot,
        } => match out_endpoint(rule, target, sotype) {
            Ok(sa) => (sa, index, slot, sotype),
            Err(e) => return Send::Fail(e),
        },
    };
    if sotype != libc::SOCK_DGRAM {
        return Send::Pass; // a destination on a stream socket (TCP Fast Open): left to TCP
    }
    if index != usize::MAX {
        peers::remember(sa.name(), ip);
    }
    match convert_for_send(fd, slot, index) {
        Ok(()) => Send::To(sa),
        Err(e) => Send::Fail(e),
    }
}

/// A datagram sent to a converted destination whose receiver is absent is dropped, as UDP
/// would drop it: the program sees success.
fn dropped_if_absent(r: isize, len: usize) -> isize {
    if r < 0 && receiver_absent(sys::errno()) {
        len as isize
    } else {
        r
    }
}

/// Total bytes of a message's iovecs.
///
/// # Safety
/// `m` is a valid msghdr of the program.
unsafe fn msg_len(m: &msghdr) -> usize {
    if m.msg_iov.is_null() {
        return 0;
    }
    // SAFETY: the program's iovec array of msg_iovlen entries.
    let iov = unsafe { core::slice::from_raw_parts(m.msg_iov, m.msg_iovlen) };
    iov.iter().map(|v| v.iov_len).sum()
}

/// The Unix endpoint of a converted datagram socket's connected peer (IP `peer`).
fn peer_endpoint(fd: c_int, peer: SocketAddr) -> Option<UnixSockaddr> {
    let rt = runtime::get()?;
    match judge(rt, Direction::Out, fd, QueryTarget::Ip(peer)) {
        Verdict::ToPeer { sa, .. } => Some(sa),
        Verdict::Convert { rule, .. } => {
            out_endpoint(rule, QueryTarget::Ip(peer), libc::SOCK_DGRAM).ok()
        }
        _ => None,
    }
}

/// A send without a destination on a socket the program connected (`send`, or `sendto`/
/// `sendmsg` without an address). On a converted datagram socket, UDP's semantics: a receiver
/// that is absent (not started yet, or restarted: the kernel dissolved the Unix association)
/// drops the datagram rather than failing, and the socket reaches it once it is back.
fn send_connected(fd: c_int, len: usize, call: impl Fn() -> isize) -> isize {
    let Some(shown) = shown(fd) else {
        return call();
    };
    if shown.sotype != libc::SOCK_DGRAM {
        return call();
    }
    let Some(Some((peer, lazy))) = with_converted(shown.slot, |d| {
        d.peer.map(|p| (p, d.flags & fdtable::LAZY_PEER != 0))
    }) else {
        return call(); // never connected: the kernel's EDESTADDRREQ is right
    };
    let reconnect = || -> bool {
        let _e = SavedErrno::new();
        let Some(sa) = peer_endpoint(fd, peer) else {
            return false;
        };
        let ok = sys::connect(fd, sa.bytes.as_ptr().cast(), sa.len as u32).is_ok();
        if ok {
            with_converted(shown.slot, |d| d.flags &= !fdtable::LAZY_PEER);
        }
        ok
    };
    if lazy && !reconnect() {
        return len as isize; // still nobody there: dropped
    }
    let r = call();
    if r < 0
        && matches!(
            sys::errno(),
            libc::ECONNREFUSED | libc::ENOTCONN | libc::EDESTADDRREQ
        )
    {
        if !reconnect() {
            with_converted(shown.slot, |d| d.flags |= fdtable::LAZY_PEER);
            return len as isize;
        }
        return call();
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: usize, flags: c_int) -> isize {
    let real = real::send::get();
    // SAFETY: the program's own call.
    send_connected(fd, n, || unsafe { real(fd, buf, n, flags) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    flags: c_int,
    dest: *const sockaddr,
    dest_len: socklen_t,
) -> isize {
    let real = real::sendto::get();
    // SAFETY: the program's own call, passed through (here and below with our own address).
    let pass = |a: *const sockaddr, l: socklen_t| unsafe { real(fd, buf, n, flags, a, l) };
    // SAFETY: the program promised dest holds dest_len bytes.
    let Some(bytes) = (unsafe { sockaddr_bytes(dest, dest_len) }) else {
        return send_connected(fd, n, || pass(dest, dest_len));
    };
    let saved = SavedErrno::new();
    match route_send(fd, bytes) {
        Send::Pass => {
            drop(saved);
            pass(dest, dest_len)
        }
        Send::StripAddr => {
            drop(saved);
            pass(core::ptr::null(), 0)
        }
        Send::To(sa) => {
            drop(saved);
            dropped_if_absent(pass(sa.bytes.as_ptr().cast(), sa.len as socklen_t), n)
        }
        Send::Fail(e) => {
            drop(saved);
            fail(e) as isize
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> isize {
    let real = real::sendmsg::get();
    // SAFETY: a non-NULL msg is the program's valid msghdr.
    let Some(m) = (unsafe { msg.as_ref() }) else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, msg, flags) };
    };
    // SAFETY: the program promised msg_name holds msg_namelen bytes.
    let Some(bytes) = (unsafe { sockaddr_bytes(m.msg_name.cast(), m.msg_namelen) }) else {
        // SAFETY: the program's message; its own call.
        return send_connected(fd, unsafe { msg_len(m) }, || unsafe {
            real(fd, msg, flags)
        });
    };
    let saved = SavedErrno::new();
    let mut local = *m;
    match route_send(fd, bytes) {
        Send::Pass => {
            drop(saved);
            // SAFETY: the program's own call.
            unsafe { real(fd, msg, flags) }
        }
        Send::StripAddr => {
            local.msg_name = core::ptr::null_mut();
            local.msg_namelen = 0;
            drop(saved);
            // SAFETY: the program's message with the destination removed.
            unsafe { real(fd, &local, flags) }
        }
        Send::To(sa) => {
            local.msg_name = sa.bytes.as_ptr().cast_mut().cast();
            local.msg_namelen = sa.len as socklen_t;
            drop(saved);
            // SAFETY: the program's message with our Unix destination, valid for the call.
            dropped_if_absent(unsafe { real(fd, &local, flags) }, unsafe { msg_len(m) })
        }
        Send::Fail(e) => {
            drop(saved);
            fail(e) as isize
        }
    }
}

/// Messages one `sendmmsg`/`recvmmsg` handles on a converted socket (the calls may do fewer
/// than asked; the program calls again for the rest).
const MMSG_BATCH: usize = 32;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    vlen: libc::c_uint,
    flags: c_int,
) -> c_int {
    let real = real::sendmmsg::get();
    if msgs.is_null() || vlen == 0 || runtime::get().is_none() {
        // SAFETY: the program's own call.
        return unsafe { real(fd, msgs, vlen, flags) };
    }
    let n = (vlen as usize).min(MMSG_BATCH);
    // SAFETY: the program's array of vlen (≥ n) messages.
    let prog = unsafe { core::slice::from_raw_parts_mut(msgs, n) };
    let mut local: [libc::mmsghdr; MMSG_BATCH] = [
        // SAFETY: an all-zero mmsghdr is valid.
        unsafe { core::mem::zeroed() }; MMSG_BATCH
    ];
    let mut names = [UnixSockaddr::unnamed(); MMSG_BATCH];
    let mut count = n;
    let mut changed = false;
    let saved = SavedErrno::new();
    for (i, ((l, p), name)) in local
        .iter_mut()
        .zip(prog.iter())
        .zip(names.iter_mut())
        .enumerate()
    {
        *l = *p;
        let h = &mut l.msg_hdr;
        // SAFETY: the program promised msg_name holds msg_namelen bytes.
        let Some(bytes) = (unsafe { sockaddr_bytes(h.msg_name.cast(), h.msg_namelen) }) else {
            continue;
        };
        match route_send(fd, bytes) {
            Send::Pass => {}
            Send::StripAddr => {
                h.msg_name = core::ptr::null_mut();
                h.msg_namelen = 0;
                changed = true;
            }
            Send::To(sa) => {
                *name = sa;
                h.msg_name = name.bytes.as_mut_ptr().cast();
                h.msg_namelen = sa.len as socklen_t;
                changed = true;
            }
            Send::Fail(e) if i == 0 => {
                drop(saved);
                return fail(e);
            }
            Send::Fail(_) => {
                count = i; // send those before it; the next call reports the failure
                break;
            }
        }
    }
    drop(saved);
    if !changed {
        // SAFETY: the program's own messages.
        return unsafe { real(fd, msgs, count as libc::c_uint, flags) };
    }
    // SAFETY: our copies, with our Unix destinations, valid for the call.
    let r = unsafe { real(fd, local.as_mut_ptr(), count as libc::c_uint, flags) };
    let sent = usize::try_from(r).unwrap_or(0).min(count);
    for (p, l) in prog.iter_mut().zip(&local).take(sent) {
        p.msg_len = l.msg_len;
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    vlen: libc::c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    let real = real::recvmmsg::get();
    let shown = shown(fd).filter(|s| s.sotype == libc::SOCK_DGRAM);
    let (Some(shown), false) = (shown, msgs.is_null()) else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, msgs, vlen, flags, timeout) };
    };
    let n = (vlen as usize).min(MMSG_BATCH);
    // SAFETY: the program's array of vlen (≥ n) messages.
    let prog = unsafe { core::slice::from_raw_parts_mut(msgs, n) };
    // SAFETY: an all-zero mmsghdr is valid.
    let mut local: [libc::mmsghdr; MMSG_BATCH] = [unsafe { core::mem::zeroed() }; MMSG_BATCH];
    let mut names = [UnixSockaddr::unnamed(); MMSG_BATCH];
    for ((l, p), name) in local.iter_mut().zip(prog.iter()).zip(names.iter_mut()) {
        *l = *p;
        if !p.msg_hdr.msg_name.is_null() {
            l.msg_hdr.msg_name = name.bytes.as_mut_ptr().cast();
            l.msg_hdr.msg_namelen = name.bytes.len() as socklen_t;
        }
    }
    // SAFETY: our copies of the program's messages, with our address buffers.
    let r = unsafe { real(fd, local.as_mut_ptr(), n as libc::c_uint, flags, timeout) };
    let _e = SavedErrno::new();
    let received = usize::try_from(r).unwrap_or(0).min(n);
    for ((p, l), name) in prog
        .iter_mut()
        .zip(&local)
        .zip(names.iter_mut())
        .take(received)
    {
        p.msg_len = l.msg_len;
        p.msg_hdr.msg_controllen = l.msg_hdr.msg_controllen;
        p.msg_hdr.msg_flags = l.msg_hdr.msg_flags;
        if !p.msg_hdr.msg_name.is_null() {
            name.len = (l.msg_hdr.msg_namelen as usize).min(name.bytes.len());
            let peer = sender_address(&shown, name);
            let family = shown.family;
            // SAFETY: the program's (buffer, length) pair.
            unsafe {
                write_out(p.msg_hdr.msg_name, &mut p.msg_hdr.msg_namelen, |out| {
                    addr::encode_ip(peer, family, out)
                })
            };
        }
    }
    r
}

/// The IP address a converted datagram socket reports for a datagram from Unix name `from`.
fn sender_address(shown: &Shown, from: &UnixSockaddr) -> SocketAddr {
    let same = |c: &UnixSockaddr| c.len == from.len && c.bytes[..c.len] == from.bytes[..from.len];
    let cached = with_converted(shown.slot, |d| {
        d.recv_cache.filter(|(n, _)| same(n)).map(|(_, a)| a)
    });
    if let Some(Some(a)) = cached {
        return a;
    }
    let name = match addr::decode(&from.bytes[..from.len]) {
        Decoded::Unix(name) => Some(name),
        _ => None,
    };
    let reported = match name.and_then(peers::reported) {
        Some((a, true)) => SocketAddr::new(addr::loopback(shown.family, shown.mapped), a.port()),
        Some((a, false)) => a,
        None => return SocketAddr::new(addr::unspecified(shown.family), 0),
    };
    with_converted(shown.slot, |d| d.recv_cache = Some((*from, reported)));
    reported
}

/// recvfrom and recvmsg: `receive(addr, len)` makes the real call with the address buffer given.
///
/// # Safety
/// `addr`/`len` are the program's (buffer, length) pair, NULL allowed.
unsafe fn receive_from(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    receive: impl FnOnce(*mut sockaddr, *mut socklen_t) -> isize,
) -> isize {
    if addr.is_null() || len.is_null() {
        // Nothing to report (bug U4: this must work on every socket).
        return receive(addr, len);
    }
    match shown(fd) {
        Some(shown) if shown.sotype == libc::SOCK_DGRAM => {
            let mut from = UnixSockaddr::unnamed();
            let mut from_len = from.bytes.len() as socklen_t;
            let r = receive(from.bytes.as_mut_ptr().cast(), &mut from_len);
            if r >= 0 {
                let _e = SavedErrno::new();
                from.len = (from_len as usize).min(from.bytes.len());
                let peer = sender_address(&shown, &from);
                // SAFETY: the program's (buffer, length) pair.
                unsafe { write_out(addr, len, |out| addr::encode_ip(peer, shown.family, out)) };
            }
            r
        }
        Some(_) => {
            // A connected TCP socket reports no address; a Unix one would report its peer's path.
            let r = receive(core::ptr::null_mut(), core::ptr::null_mut());
            if r >= 0 {
                // SAFETY: len is the program's valid pointer.
                unsafe { *len = 0 };
            }
            r
        }
        None => {
            // SAFETY: len is the program's valid pointer.
            let cap = unsafe { *len };
            let r = receive(addr, len);
            if r >= 0 {
                if let Some(rt) = runtime::get() {
                    // SAFETY: the program's pointers, just filled by the kernel.
                    unsafe { report_foreign(rt, addr.cast(), len, cap) };
                }
            }
            r
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> isize {
    let real = real::recvfrom::get();
    // SAFETY: the program's own call, with its own or our address buffer.
    unsafe { receive_from(fd, addr, len, |a, l| real(fd, buf, n, flags, a, l)) }
}

/// The fortified recvfrom (`_FORTIFY_SOURCE`): checks the buffer, then as recvfrom.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    buflen: usize,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> isize {
    if n > buflen {
        // SAFETY: libc's own check, which reports the overflow and aborts.
        return unsafe { real::__recvfrom_chk::get()(fd, buf, n, buflen, flags, addr, len) };
    }
    // SAFETY: the program's own arguments.
    unsafe { recvfrom(fd, buf, n, flags, addr, len) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> isize {
    let real = real::recvmsg::get();
    // SAFETY: a non-NULL msg is the program's valid msghdr.
    let Some(m) = (unsafe { msg.as_mut() }) else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, msg, flags) };
    };
    if m.msg_name.is_null() || runtime::get().is_none() {
        // SAFETY: the program's own call.
        return unsafe { real(fd, msg, flags) };
    }
    let mut local = *m;
    let name = m.msg_name.cast::<sockaddr>();
    let mut name_len = m.msg_namelen;
    // SAFETY: the program's message, with its own or our address buffer for the call.
    let r = unsafe {
        receive_from(fd, name, &mut name_len, |a, l| {
            local.msg_name = a.cast();
            local.msg_namelen = if l.is_null() { 0 } else { *l };
            let r = real(fd, &mut local, flags);
            if !l.is_null() {
                *l = local.msg_namelen;
            }
            r
        })
    };
    m.msg_namelen = name_len;
    m.msg_controllen = local.msg_controllen;
    m.msg_flags = local.msg_flags;
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    if let Some(slot) = fdtable::get(fd).filter(|s| s.kind() != EMPTY && s.kind() != RESERVED) {
        let mut g = slot.lock();
        if g.kind() != EMPTY && g.kind() != RESERVED {
            let d = g.data();
            if d.flags & fdtable::DISPATCHED != 0 {
                // A socketbox listener: the router listens; remember it for SO_ACCEPTCONN.
                d.flags |= fdtable::LISTENING;
                return 0;
            }
            if d.flags & fdtable::SYSTEMD != 0 {
                d.flags |= fdtable::LISTENING;
                return 0; // systemd passed it listening, with the backlog its unit asked for
            }
        }
    }
    if runtime::get().is_some_and(|rt| rt.config.block_listen_unbound) && listens_nowhere(fd) {
        // SKBOX_BLOCK_LISTEN_EMPTY_ADDR: a TCP socket with no port would listen on a random one.
        return fail(libc::EINVAL);
    }
    // SAFETY: the program's own call.
    let r = unsafe { real::listen::get()(fd, backlog) };
    if r == 0 {
        // What the kernel's answers for a converted socket depend on (oracle.rs).
        fdtable::set_flag(fd, CONVERTED, fdtable::LISTENING);
    }
    r
}

/// A TCP socket without a port yet: IPv4 `0.0.0.0:0`, or IPv6 port 0 (socketbox-preload's test).
fn listens_nowhere(fd: c_int) -> bool {
    let _e = SavedErrno::new();
    let mut buf = [0u8; 128];
    let Ok(n) = sys::socket_name(libc::SYS_getsockname, fd, &mut buf) else {
        return false;
    };
    match addr::decode(buf.get(..n).unwrap_or(&[])) {
        Decoded::Ip(sa) => sa.port() == 0 && (sa.is_ipv6() || sa.ip().is_unspecified()),
        _ => false,
    }
}
