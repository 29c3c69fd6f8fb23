//! The illusion: names and socket options of converted sockets answer as TCP would.

use libc::{c_int, c_void, sockaddr, socklen_t};
use sockswap_core::addr;

use crate::fdtable::{self, Slot, CONVERTED, TRACKED};
use crate::hooks::calls::report_foreign;
use crate::hooks::{fail, pretending, write_out};
use crate::{real, runtime, sys};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    crate::log::trace_call("getsockname", fd);
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
    crate::log::trace_call("getpeername", fd);
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
    crate::log::trace_call("getsockopt", fd);
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
    if is_ip_level(level) && data.flags & fdtable::REAL_TCP == 0 {
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

#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    crate::log::trace_call("setsockopt", fd);
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
    let is_converted_ip = slot.kind() == CONVERTED && {
        let mut g = slot.lock();
        let d = g.data();
        // A real TCP socket only shown in another family takes its options itself.
        d.family != libc::AF_UNIX && d.flags & fdtable::REAL_TCP == 0
    };
    if is_converted_ip && is_ip_level(level) {
        if val.is_null() && len > 0 {
            return fail(libc::EFAULT);
        }
        record(slot, true);
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
