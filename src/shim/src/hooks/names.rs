//! The illusion: names, socket options and queue ioctls of converted sockets answer as TCP/UDP
//! would (options and ioctls through the template sockets of oracle.rs).

use libc::{c_int, c_void, sockaddr, socklen_t};
use sockswap_core::addr;

use crate::fdtable::{self, Slot, SlotData, CONVERTED, TRACKED};
use crate::hooks::calls::report_foreign;
use crate::hooks::{fail, pretending, protect_name_buffer, write_out};
use crate::{oracle, real, runtime, sys};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the program's own (buffer, length) pair.
    unsafe { protect_name_buffer(addr, len) };
    if let Some(data) = pretending(fd) {
        let real_tcp = || {
            // A router's socket shown in the program's family: its address, asked only now
            // (most programs never ask, so accept does not).
            let mut buf = [0u8; 128];
            let mut n = buf.len() as socklen_t;
            // SAFETY: buf is valid for n bytes.
            let r = unsafe { real::getsockname::get()(fd, buf.as_mut_ptr().cast(), &mut n) };
            match addr::decode(buf.get(..n as usize).unwrap_or(&[])) {
                addr::Decoded::Ip(sa) if r == 0 => Some(sa),
                _ => None,
            }
        };
        let local = match data.local {
            None if data.flags & fdtable::REAL_TCP != 0 => real_tcp(),
            l => l,
        };
        if let Some(local) = local {
            // SAFETY: the program's own (buffer, length) pair.
            return match unsafe {
                write_out(addr, len, |out| addr::encode_ip(local, data.family, out))
            } {
                true => 0,
                false => fail(libc::EFAULT),
            };
        }
    }
    // SAFETY: the program's own call.
    unsafe { names_passthrough(fd, addr, len, real::getsockname::get()) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the program's own (buffer, length) pair.
    unsafe { protect_name_buffer(addr, len) };
    if let Some(data) = pretending(fd) {
        return match data.peer {
            // SAFETY: the program's own (buffer, length) pair.
            Some(peer) => {
                match unsafe { write_out(addr, len, |out| addr::encode_ip(peer, data.family, out)) }
                {
                    true => 0,
                    false => fail(libc::EFAULT),
                }
            }
            None => fail(libc::ENOTCONN),
        };
    }
    // SAFETY: the program's own call.
    unsafe { names_passthrough(fd, addr, len, real::getpeername::get()) }
}

/// # Safety
/// The program's own arguments to getsockname/getpeername.
unsafe fn names_passthrough(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    real: unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int,
) -> c_int {
    let cap = if len.is_null() {
        0
    } else {
        // SAFETY: non-NULL len is valid.
        unsafe { *len }
    };
    // SAFETY: the program's own call.
    let r = unsafe { real(fd, addr, len) };
    if r == 0 {
        if let Some(rt) = runtime::get() {
            // SAFETY: the program's pointers, just filled by the kernel.
            unsafe { report_foreign(rt, addr.cast(), len, cap) };
        }
    }
    r
}

/// A real TCP socket behind the record (a router's socket shown in another family, or a
/// listener the router handed over): the kernel answers its options and queues itself.
fn kernel_answers(d: &SlotData) -> bool {
    d.flags & (fdtable::REAL_TCP | fdtable::HANDED_OVER) != 0
}

fn is_ip_level(level: c_int) -> bool {
    level == libc::IPPROTO_TCP || level == libc::IPPROTO_IP || level == libc::IPPROTO_IPV6
}

/// What a fresh TCP socket on loopback answers for an option the program never set.
fn tcp_default(level: c_int, name: c_int) -> c_int {
    match (level, name) {
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => 65483,
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => 7200,
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => 75,
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => 9,
        (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => 6,
        (libc::IPPROTO_TCP, libc::TCP_LINGER2) => 60,
        (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => 1,
        (libc::IPPROTO_IP, libc::IP_TTL) => 64,
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => 64,
        (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL) => 1,
        (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP) => 1,
        _ => 0,
    }
}

/// # Safety
/// `val`/`len` are the program's getsockopt arguments.
unsafe fn answer(val: *mut c_void, len: *mut socklen_t, bytes: &[u8]) -> c_int {
    // SAFETY: the program's own (buffer, length) pair.
    let ok = unsafe {
        write_out(val, len, |out| {
            let n = out.len().min(bytes.len());
            out[..n].copy_from_slice(&bytes[..n]);
            n
        })
    };
    if ok {
        0
    } else {
        fail(libc::EFAULT)
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let real = real::getsockopt::get();
    if level == libc::SOL_SOCKET && name == libc::SO_ERROR {
        // A non-blocking hybrid-vsock connect that failed reports its errno here, once.
        if let Some(e) = crate::hybrid::take_pending_error(fd) {
            // SAFETY: the program's own pointers.
            return unsafe { answer(val, len, &e.to_ne_bytes()) };
        }
    }
    let Some(data) = pretending(fd) else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, level, name, val, len) };
    };
    if level == libc::SOL_SOCKET && name == libc::SO_ERROR && data.flags & fdtable::CONNECTING != 0
    {
        // A non-blocking AF_VSOCK connect: the transport reports a refusal as a reset; TCP
        // programs expect ECONNREFUSED. Once the outcome is known the flag goes.
        let Ok(mut e) = sys::getsockopt_int(fd, level, name) else {
            // SAFETY: the program's own call.
            return unsafe { real(fd, level, name, val, len) };
        };
        let settled = e != 0 || {
            let mut sa = [0u8; 16];
            let mut sl = sa.len() as socklen_t;
            let peer = real::getpeername::get();
            // SAFETY: sa is valid for sl bytes.
            unsafe { peer(fd, sa.as_mut_ptr().cast(), &mut sl) == 0 }
        };
        if e == libc::ECONNRESET {
            e = libc::ECONNREFUSED;
        }
        if settled {
            if let Some(slot) = fdtable::get(fd) {
                let mut g = slot.lock();
                if g.kind() == CONVERTED {
                    g.data().flags &= !fdtable::CONNECTING;
                }
            }
        }
        // SAFETY: the program's own pointers.
        return unsafe { answer(val, len, &e.to_ne_bytes()) };
    }
    if level == libc::SOL_SOCKET && name == libc::SO_ERROR {
        // Every family answers it alike (sock_getsockopt): the socket's own pending error,
        // asked on every non-blocking connect, so without the template's two extra syscalls.
        // SAFETY: the program's own call.
        return unsafe { real(fd, level, name, val, len) };
    }
    if !kernel_answers(&data) {
        if let Some(t) = oracle::template(data.family, oracle::state_of(&data)) {
            // SAFETY: the program's own arguments.
            return unsafe { as_template(fd, t, &data, level, name, val, len) };
        }
    }
    // No template (no loopback to make one on): answers made up from what we know.
    let int = |v: c_int| v.to_ne_bytes();
    if level == libc::SOL_SOCKET {
        let synthetic = match name {
            libc::SO_DOMAIN => Some(data.family),
            libc::SO_TYPE => Some(data.sotype),
            libc::SO_PROTOCOL => Some(if data.sotype == libc::SOCK_DGRAM {
                libc::IPPROTO_UDP
            } else {
                libc::IPPROTO_TCP
            }),
            libc::SO_ACCEPTCONN if data.flags & fdtable::DISPATCHED != 0 => {
                Some(c_int::from(data.flags & fdtable::LISTENING != 0))
            }
            _ => None,
        };
        if let Some(o) = data.find_opt(level, name).filter(|o| o.emulated) {
            // An option AF_UNIX refused: answer what the program set.
            // SAFETY: the program's own pointers.
            return unsafe { answer(val, len, o.val.get(..o.len as usize).unwrap_or(&[])) };
        }
        if let Some(v) = synthetic {
            // SAFETY: the program's own pointers.
            return unsafe { answer(val, len, &int(v)) };
        }
        // SAFETY: the program's own call.
        return unsafe { real(fd, level, name, val, len) };
    }
    if is_ip_level(level) && !kernel_answers(&data) {
        if let Some(o) = data.find_opt(level, name) {
            // SAFETY: the program's own pointers.
            return unsafe { answer(val, len, o.val.get(..o.len as usize).unwrap_or(&[])) };
        }
        if level == libc::IPPROTO_TCP && name == libc::TCP_INFO {
            let mut info = [0u8; 104];
            info[0] = if sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(1) {
                10
            } else {
                1
            };
            // SAFETY: the program's own pointers.
            return unsafe { answer(val, len, &info) };
        }
        if level == libc::IPPROTO_TCP && name == libc::TCP_CONGESTION {
            // SAFETY: the program's own pointers.
            return unsafe { answer(val, len, b"cubic\0\0\0\0\0\0\0\0\0\0\0") };
        }
        // SAFETY: the program's own pointers.
        return unsafe { answer(val, len, &int(tcp_default(level, name))) };
    }
    // SAFETY: the program's own call.
    unsafe { real(fd, level, name, val, len) }
}

/// IPPROTO_IP option 52 (linux/in.h; the libc crate does not name it).
const IP_PROTOCOL: c_int = 52;

/// getsockopt on a converted socket: the kernel answers on the template `t` (a real socket of
/// the program's family in the same state) with the program's own buffer and length; then the
/// value is replaced where it belongs to this socket: options the program set, SO_COOKIE and
/// SO_BUF_LOCK (the Unix socket's own), SO_PEERNAME, IP_PROTOCOL and IPV6_V6ONLY (from the
/// addresses we pretend). (SO_ERROR never gets here: the socket's own, asked directly.)
///
/// # Safety
/// `val`/`len` are the program's getsockopt arguments.
unsafe fn as_template(
    fd: c_int,
    t: c_int,
    data: &SlotData,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let asked = if len.is_null() {
        0
    } else {
        // SAFETY: a non-NULL len is the program's (the kernel reads it too).
        unsafe { *len }
    };
    if let Err(e) = sys::getsockopt(t, level, name, val, len) {
        return fail(e);
    }
    let own = || {
        // SAFETY: the kernel just read and wrote *len, so it is valid; the program's own call.
        unsafe {
            *len = asked;
            real::getsockopt::get()(fd, level, name, val, len)
        }
    };
    // SAFETY: the kernel accepted (val, len) and wrote *len bytes of val.
    let out = || unsafe { core::slice::from_raw_parts_mut(val.cast::<u8>(), *len as usize) };
    let fill = |bytes: &[u8]| {
        if val.is_null() {
            return;
        }
        for (i, b) in out().iter_mut().enumerate() {
            *b = bytes.get(i).copied().unwrap_or(0);
        }
    };
    match data.find_opt(level, name) {
        // Replayed onto the Unix socket, which holds it as the kernel would (SO_RCVBUF doubled).
        Some(o) if level == libc::SOL_SOCKET && !o.emulated => return own(),
        Some(o) => {
            fill(o.val.get(..o.len as usize).unwrap_or(&[]));
            return 0;
        }
        None => {}
    }
    match (level, name) {
        // (SO_BUF_LOCK: set by SO_RCVBUF/SO_SNDBUF, which the Unix socket holds.)
        (libc::SOL_SOCKET, libc::SO_COOKIE | libc::SO_BUF_LOCK) => own(),
        (libc::IPPROTO_IP, IP_PROTOCOL) => {
            // The kernel answers inet_num: the local port of a TCP/UDP socket.
            let port = data.local.map_or(0, |l| c_int::from(l.port()));
            fill(&port.to_ne_bytes());
            0
        }
        (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => {
            // Binding to one IPv6 address (not a v4-mapped one) sets it; a listener's
            // template is bound to ::1, but a wildcard listener keeps the default.
            let specific = data.local.is_some_and(|l| match l.ip() {
                core::net::IpAddr::V6(a) => !a.is_unspecified() && a.to_ipv4_mapped().is_none(),
                core::net::IpAddr::V4(_) => false,
            });
            // (A connecting socket the program did not bind: the template's default.)
            let bound = !matches!(
                oracle::state_of(data),
                oracle::State::Client | oracle::State::Connected
            );
            if specific && bound {
                fill(&1i32.to_ne_bytes());
            } else if bound {
                let default = oracle::template(data.family, oracle::State::Client)
                    .and_then(|c| sys::getsockopt_int(c, level, name).ok())
                    .unwrap_or(0);
                fill(&default.to_ne_bytes());
            }
            0
        }
        (libc::SOL_SOCKET, libc::SO_PEERNAME) => {
            if let (Some(peer), false) = (data.peer, val.is_null()) {
                let mut sa = [0u8; 28];
                let n = addr::encode_ip(peer, data.family, &mut sa);
                fill(sa.get(..n).unwrap_or(&[]));
            }
            0
        }
        _ => 0,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let real = real::setsockopt::get();
    let Some(slot) = fdtable::get(fd).filter(|s| s.kind() != fdtable::EMPTY) else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, level, name, val, len) };
    };
    let value = || -> &[u8] {
        if val.is_null() {
            return &[];
        }
        // SAFETY: the program promised val holds len bytes (the kernel would read them too).
        unsafe { core::slice::from_raw_parts(val.cast::<u8>(), len as usize) }
    };
    let record = |slot: &'static Slot, emulated: bool| {
        let mut g = slot.lock();
        if g.kind() != fdtable::EMPTY && !g.data().record_opt(level, name, value(), emulated) {
            crate::log::log!(
                Warn,
                "fd {fd}: option {level}/{name} not recorded (too long or too many)"
            );
        }
    };
    let converted_kind = match slot.kind() == CONVERTED {
        true => {
            let mut g = slot.lock();
            let d = g.data();
            // A real TCP socket behind the record takes its options itself.
            (d.family != libc::AF_UNIX && !kernel_answers(d)).then_some((d.family, d.sotype))
        }
        false => None,
    };
    let is_converted_ip = converted_kind.is_some();
    if let (Some((family, sotype)), true) = (converted_kind, is_ip_level(level)) {
        if val.is_null() && len > 0 {
            return fail(libc::EFAULT);
        }
        // The kernel's verdict and the value it keeps, from a fresh socket of the family.
        match on_fresh_socket(family, sotype, level, name, val, len) {
            Err(e) => return fail(e),
            Ok(None) => record(slot, true),
            Ok(Some(kept)) => {
                let mut g = slot.lock();
                let bytes = kept.value.get(..kept.len).unwrap_or(&[]);
                if g.kind() == CONVERTED && !g.data().record_opt(level, name, bytes, true) {
                    crate::log::log!(Warn, "fd {fd}: option {level}/{name} not recorded");
                }
                if let Some(p) = kept.priority {
                    // IP_TOS sets the priority too: on the Unix socket, which holds SO_PRIORITY.
                    let v = p.to_ne_bytes();
                    let _ = sys::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_PRIORITY,
                        v.as_ptr().cast(),
                        4,
                    );
                    if g.kind() == CONVERTED {
                        let _ = g
                            .data()
                            .record_opt(libc::SOL_SOCKET, libc::SO_PRIORITY, &v, false);
                    }
                }
            }
        }
        return 0;
    }
    // SAFETY: the program's own call.
    let r = unsafe { real(fd, level, name, val, len) };
    if r == 0 {
        if slot.kind() == TRACKED || is_converted_ip {
            record(slot, false);
        }
        return 0;
    }
    let err = sys::errno();
    if is_converted_ip && (err == libc::ENOPROTOOPT || err == libc::EOPNOTSUPP) {
        // A TCP socket would have accepted it; remember it so getsockopt agrees.
        record(slot, true);
        return 0;
    }
    r
}

/// What the kernel keeps for an option set on a fresh socket.
struct Kept {
    value: [u8; fdtable::MAX_OPT_LEN],
    len: usize,
    /// IP_TOS: the SO_PRIORITY the kernel derives from it.
    priority: Option<c_int>,
}

/// Sets an IP-level option on a fresh socket of `family`/`sotype` (ours, closed at once): the
/// kernel's error for a value it refuses, and the value it keeps (normalised, as getsockopt
/// reads it back), or None when it cannot be read back.
fn on_fresh_socket(
    family: c_int,
    sotype: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> Result<Option<Kept>, c_int> {
    let Ok(t) = sys::socket(family, sotype | libc::SOCK_CLOEXEC, 0) else {
        return Ok(None); // (out of fds: keep what the program gave)
    };
    let kept = sys::setsockopt(t, level, name, val, len).map(|_| {
        let mut kept = Kept {
            value: [0; fdtable::MAX_OPT_LEN],
            len: fdtable::MAX_OPT_LEN,
            priority: None,
        };
        let mut n = kept.value.len() as socklen_t;
        let read = sys::getsockopt(t, level, name, kept.value.as_mut_ptr().cast(), &mut n);
        kept.len = (n as usize).min(fdtable::MAX_OPT_LEN);
        if (level, name) == (libc::IPPROTO_IP, libc::IP_TOS) {
            kept.priority = sys::getsockopt_int(t, libc::SOL_SOCKET, libc::SO_PRIORITY).ok();
        }
        read.is_ok().then_some(kept)
    });
    sys::close(t);
    kept
}

/// SIOCINQ (= FIONREAD), SIOCOUTQ (= TIOCOUTQ) and SIOCOUTQNSD (asm-generic/sockios.h,
/// linux/sockios.h; the same on every Linux architecture).
const SIOCINQ: libc::c_ulong = 0x541B;
const SIOCOUTQ: libc::c_ulong = 0x5411;
const SIOCOUTQNSD: libc::c_ulong = 0x894B;

/// ioctl is variadic in C; with a pointer-sized third argument this prototype is ABI-compatible
/// (docs/architecture.md). Only the socket queue questions are looked at.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, request: libc::c_ulong, arg: *mut c_void) -> c_int {
    let real = real::ioctl::get();
    if !matches!(request, SIOCINQ | SIOCOUTQ | SIOCOUTQNSD) {
        // SAFETY: the program's own call.
        return unsafe { real(fd, request, arg) };
    }
    let template = pretending(fd)
        .filter(|d| !kernel_answers(d))
        .and_then(|d| oracle::template(d.family, oracle::state_of(&d)));
    let Some(t) = template else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, request, arg) };
    };
    // Whether TCP/UDP answers at all in this state (SIOCINQ on a listener: EINVAL), and, for
    // the output queue, its value: a Unix socket writes straight into its peer's receive
    // queue, so nothing ever waits unsent or unacknowledged, as on an idle loopback TCP socket.
    if let Err(e) = sys::ioctl(t, request, arg) {
        return fail(e);
    }
    if request == SIOCINQ {
        // Bytes waiting (stream) or the next datagram's size: the Unix socket's own answer.
        // SAFETY: the program's own call.
        return unsafe { real(fd, request, arg) };
    }
    0
}
