//! The illusion: names, socket options and queue ioctls of converted sockets answer as TCP/UDP
//! would (options and ioctls through the template sockets of oracle.rs).

use libc::{c_int, c_void, sockaddr, socklen_t};
use sockswap_core::addr;
use sockswap_core::sockopt::{self, Facts, Kernel, State};

use crate::fdtable::{self, Slot, SlotData, CONVERTED, TRACKED};
use crate::hooks::calls::report_foreign;
use crate::hooks::{fail, pretending, protect_name_buffer, write_out, SavedErrno};
use crate::{oracle, real, runtime, sys};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    crate::log::trace_call("getsockname", fd);
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
    crate::log::trace_call("getpeername", fd);
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
    let mut k = Shim {
        fd,
        family: data.family,
        sotype: data.sotype,
        val,
        len,
        asked: if len.is_null() {
            0
        } else {
            // SAFETY: a non-NULL len is the program's (the kernel reads it too).
            unsafe { *len }
        },
        slot: None,
        fresh: -1,
    };
    match sockopt::getsockopt(&mut k, &facts(&data), level, name) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

/// What the engine (sockswap_core::sockopt) needs to know of a converted socket.
fn facts(d: &SlotData) -> Facts<'_> {
    Facts {
        family: d.family,
        sotype: d.sotype,
        state: oracle::state_of(d),
        local: d.local,
        peer: d.peer,
        dispatched: d.flags & fdtable::DISPATCHED != 0,
        real: kernel_answers(d),
        opts: &d.opts,
    }
}

/// The shim's side of the engine: one getsockopt, setsockopt or ioctl of the program on the
/// converted socket `fd`, with the program's own pointers, passed to the kernel as they are.
struct Shim {
    fd: c_int,
    family: c_int,
    sotype: c_int,
    /// getsockopt's buffer, setsockopt's value, ioctl's argument.
    val: *mut c_void,
    /// getsockopt's length pointer (NULL otherwise).
    len: *mut socklen_t,
    /// getsockopt: the length the program gave; setsockopt: its value's length.
    asked: socklen_t,
    /// setsockopt: where options are recorded.
    slot: Option<&'static Slot>,
    /// setsockopt at an IP level: a fresh socket of the family, ours, closed on drop.
    fresh: c_int,
}

impl Drop for Shim {
    fn drop(&mut self) {
        if self.fresh >= 0 {
            sys::close(self.fresh);
        }
    }
}

impl Kernel for Shim {
    fn template_get(
        &mut self,
        state: State,
        level: c_int,
        name: c_int,
    ) -> Option<Result<(), c_int>> {
        let t = oracle::template(self.family, state)?;
        Some(sys::getsockopt(t, level, name, self.val, self.len).map(|_| ()))
    }

    fn template_bytes(
        &mut self,
        state: State,
        level: c_int,
        name: c_int,
        out: &mut [u8],
    ) -> Option<usize> {
        let t = oracle::template(self.family, state)?;
        let mut n = out.len() as libc::socklen_t;
        sys::getsockopt(t, level, name, out.as_mut_ptr().cast(), &mut n).ok()?;
        Some(n as usize)
    }

    fn own_get(&mut self, level: c_int, name: c_int) -> Result<(), c_int> {
        // SAFETY: the program's own call; a non-NULL len was valid (read above).
        let r = unsafe {
            if !self.len.is_null() {
                *self.len = self.asked;
            }
            real::getsockopt::get()(self.fd, level, name, self.val, self.len)
        };
        if r == 0 {
            Ok(())
        } else {
            Err(sys::errno())
        }
    }

    fn own_int(&mut self, level: c_int, name: c_int) -> Result<c_int, c_int> {
        sys::getsockopt_int(self.fd, level, name)
    }

    fn overwrite(&mut self, bytes: &[u8]) {
        if self.val.is_null() || self.len.is_null() {
            return;
        }
        // SAFETY: the kernel just accepted (val, len) and wrote *len bytes of val.
        let out =
            unsafe { core::slice::from_raw_parts_mut(self.val.cast::<u8>(), *self.len as usize) };
        for (i, b) in out.iter_mut().enumerate() {
            *b = bytes.get(i).copied().unwrap_or(0);
        }
    }

    fn answer(&mut self, bytes: &[u8]) -> Result<(), c_int> {
        // SAFETY: the program's own (buffer, length) pair.
        match unsafe { answer(self.val, self.len, bytes) } {
            0 => Ok(()),
            _ => Err(libc::EFAULT),
        }
    }

    fn own_set(&mut self, level: c_int, name: c_int) -> Result<(), c_int> {
        // SAFETY: the program's own call.
        match unsafe { real::setsockopt::get()(self.fd, level, name, self.val, self.asked) } {
            0 => Ok(()),
            _ => Err(sys::errno()),
        }
    }

    fn own_set_bytes(&mut self, level: c_int, name: c_int, value: &[u8]) -> Result<(), c_int> {
        sys::setsockopt(
            self.fd,
            level,
            name,
            value.as_ptr().cast(),
            value.len() as socklen_t,
        )
        .map(|_| ())
    }

    fn fresh_set(&mut self, level: c_int, name: c_int) -> Option<Result<(), c_int>> {
        if self.fresh < 0 {
            self.fresh = sys::socket(self.family, self.sotype | libc::SOCK_CLOEXEC, 0).ok()?;
        }
        Some(sys::setsockopt(self.fresh, level, name, self.val, self.asked).map(|_| ()))
    }

    fn fresh_get(&mut self, level: c_int, name: c_int, out: &mut [u8]) -> Result<usize, c_int> {
        let mut n = out.len() as socklen_t;
        sys::getsockopt(self.fresh, level, name, out.as_mut_ptr().cast(), &mut n)?;
        Ok(n as usize)
    }

    fn record(&mut self, level: c_int, name: c_int, value: Option<&[u8]>, emulated: bool) {
        let Some(slot) = self.slot else { return };
        let given = || -> &[u8] {
            if self.val.is_null() {
                return &[];
            }
            // SAFETY: the kernel (or the fresh socket's) just took val as len bytes.
            unsafe { core::slice::from_raw_parts(self.val.cast::<u8>(), self.asked as usize) }
        };
        let mut g = slot.lock();
        if g.kind() == CONVERTED
            && !g
                .data()
                .record_opt(level, name, value.unwrap_or_else(given), emulated)
        {
            crate::log::log!(
                Warn,
                "fd {}: option {level}/{name} not recorded (too long or too many)",
                self.fd
            );
        }
    }

    fn template_ioctl(&mut self, state: State, request: u64) -> Option<Result<(), c_int>> {
        let t = oracle::template(self.family, state)?;
        Some(sys::ioctl(t, request as libc::c_ulong, self.val).map(|_| ()))
    }

    fn own_ioctl(&mut self, request: u64) -> Result<(), c_int> {
        // SAFETY: the program's own call.
        match unsafe { real::ioctl::get()(self.fd, request as libc::c_ulong, self.val) } {
            -1 => Err(sys::errno()),
            _ => Ok(()),
        }
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
    crate::log::trace_call("setsockopt", fd);
    let real = real::setsockopt::get();
    let Some(slot) = fdtable::get(fd).filter(|s| s.kind() != fdtable::EMPTY) else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, level, name, val, len) };
    };
    let converted = match slot.kind() == CONVERTED {
        true => {
            let mut g = slot.lock();
            let kind = g.kind();
            let d = g.data();
            // A real TCP socket behind the record takes its options itself.
            (kind == CONVERTED && d.family != libc::AF_UNIX && !kernel_answers(d))
                .then_some((d.family, d.sotype))
        }
        false => None,
    };
    if let Some((family, sotype)) = converted {
        let mut k = Shim {
            fd,
            family,
            sotype,
            val: val.cast_mut(),
            len: core::ptr::null_mut(),
            asked: len,
            slot: Some(slot),
            fresh: -1,
        };
        return match sockopt::setsockopt(&mut k, level, name, val.is_null(), len) {
            Ok(()) => 0,
            Err(e) => fail(e),
        };
    }
    // SAFETY: the program's own call.
    let r = unsafe { real(fd, level, name, val, len) };
    if r == 0 && slot.kind() == TRACKED {
        // (The read-backs below must not leave their errno to the program.)
        let _e = SavedErrno::new();
        // Replayed onto the socket that replaces it, if a rule converts it later.
        let value: &[u8] = if val.is_null() {
            &[]
        } else {
            // SAFETY: the kernel just read len bytes of val.
            unsafe { core::slice::from_raw_parts(val.cast::<u8>(), len as usize) }
        };
        // At an IP level the value the kernel kept (TCP_DEFER_ACCEPT rounds it), as the
        // engine records it after the swap; and the option it implies (IP_TOS: SO_PRIORITY).
        let mut kept = [0u8; sockopt::MAX_OPT_LEN];
        let value = match sockopt::is_ip_level(level) {
            true => read_option(fd, level, name, &mut kept).unwrap_or(value),
            false => value,
        };
        let mut implied = [0u8; sockopt::MAX_OPT_LEN];
        let implied = sockopt::implied_option(level, name)
            .and_then(|(l, o)| Some((l, o, read_option(fd, l, o, &mut implied)?)));
        let mut g = slot.lock();
        if g.kind() == fdtable::EMPTY {
            return r;
        }
        let d = g.data();
        let mut fits = d.record_opt(level, name, value, false);
        if let Some((l, o, v)) = implied {
            fits &= d.record_opt(l, o, v, false);
        }
        if !fits {
            crate::log::log!(
                Warn,
                "fd {fd}: option {level}/{name} not recorded (too long or too many)"
            );
        }
    }
    r
}

/// getsockopt into `buf`: the bytes the kernel answered.
fn read_option(fd: c_int, level: c_int, name: c_int, buf: &mut [u8]) -> Option<&[u8]> {
    let mut n = buf.len() as socklen_t;
    sys::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut n).ok()?;
    buf.get(..n as usize)
}

/// ioctl is variadic in C; with a pointer-sized third argument this prototype is ABI-compatible
/// (docs/architecture.md). Only the socket queue questions are looked at.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, request: libc::c_ulong, arg: *mut c_void) -> c_int {
    let real = real::ioctl::get();
    let data = match sockopt::QUEUE_IOCTLS.contains(&u64::from(request)) {
        true => pretending(fd),
        false => None,
    };
    let Some(data) = data else {
        // SAFETY: the program's own call.
        return unsafe { real(fd, request, arg) };
    };
    let mut k = Shim {
        fd,
        family: data.family,
        sotype: data.sotype,
        val: arg,
        len: core::ptr::null_mut(),
        asked: 0,
        slot: None,
        fresh: -1,
    };
    match sockopt::ioctl(&mut k, &facts(&data), u64::from(request)) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}
