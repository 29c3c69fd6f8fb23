//! Creation, duplication and closing of fds: keeps the per-fd table in step with the kernel's.

use libc::c_int;

use crate::fdtable::{self, Slot, SlotData, CONVERTED, EMPTY, RESERVED, TRACKED};
use crate::hooks::{fail, SavedErrno};
use crate::{activation, real, runtime};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let real = real::socket::get();
    let Some(rt) = runtime::get() else {
        // SAFETY: the program's own call, passed through.
        return unsafe { real(domain, ty, protocol) };
    };
    if domain != libc::AF_INET && domain != libc::AF_INET6 {
        // SAFETY: as above.
        let fd = unsafe { real(domain, ty, protocol) };
        reset_stale(fd);
        return fd;
    }
    if domain == libc::AF_INET6 && rt.config.block_inet6 {
        return fail(libc::EAFNOSUPPORT);
    }
    // SAFETY: as above.
    let fd = unsafe { real(domain, ty, protocol) };
    let base = ty & 0xf;
    if fd >= 0 && (base == libc::SOCK_STREAM || base == libc::SOCK_DGRAM) {
        if let Some(slot) = fdtable::get_or_map(fd) {
            // A stale record from an fd closed behind our back is simply overwritten.
            slot.lock()
                .set(TRACKED, SlotData::new(domain, base, protocol));
        }
    }
    fd
}

/// Forgets what we knew about an fd that is being closed or replaced. A converted socket's
/// file is released (and unlinked by the last owner). In a vfork child, which shares our memory
/// but not our fds, a converted record is left alone: it still describes the parent's fd.
fn forget(slot: &'static Slot) {
    if slot.kind() == EMPTY {
        return;
    }
    let mut g = slot.lock();
    let (owner, registration) = match g.kind() {
        CONVERTED => {
            if !runtime::same_process() {
                return;
            }
            (g.data().owner, g.data().registration)
        }
        _ => (0, -1),
    };
    g.set_kind(EMPTY);
    drop(g);
    if registration >= 0 {
        // A handed-over "B" listener's registration ends with it.
        crate::sys::close(registration);
    }
    if owner != 0 {
        let _e = SavedErrno::new();
        fdtable::release(owner, runtime::pid());
    }
}

/// A new fd number from the kernel: any record under that number is stale (its fd was closed
/// where no hook saw it, e.g. inside libc's fclose).
pub(crate) fn reset_stale(fd: c_int) {
    if let Some(slot) = fdtable::get(fd) {
        if slot.kind() != EMPTY {
            slot.lock().set_kind(EMPTY);
        }
    }
}

/// After `new` became a duplicate of `old`: `new` describes the same socket.
pub(crate) fn duplicate(old: c_int, new: c_int) {
    let src = fdtable::get(old).filter(|s| s.kind() != EMPTY);
    let Some(src) = src else {
        if let Some(dst) = fdtable::get(new) {
            forget(dst);
        }
        return;
    };
    let mut g = src.lock();
    let (kind, data) = (g.kind(), *g.data());
    drop(g);
    if kind == CONVERTED && !runtime::same_process() {
        return;
    }
    let Some(dst) = fdtable::get_or_map(new) else {
        return;
    };
    forget(dst);
    if kind == CONVERTED {
        fdtable::retain(data.owner);
    }
    dst.lock().set(kind, data);
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    crate::log::trace_call("close", fd);
    if let Some(slot) = fdtable::get(fd) {
        if slot.kind() == RESERVED && runtime::same_process() {
            return 0; // a socket systemd passed, kept for the rule that will take it
        }
        forget(slot);
    }
    // SAFETY: the program's own call.
    unsafe { real::close::get()(fd) }
}

/// Calls `close(lo, hi)` for each gap of `[first, last]` between the passed sockets we hold.
fn around_held(first: u32, last: u32, mut close: impl FnMut(u32, u32) -> c_int) -> c_int {
    let mut held = [0; sockswap_core::activation::MAX_FDS];
    let n = if runtime::same_process() {
        activation::held_in(first, last, &mut held)
    } else {
        0
    };
    let mut lo = u64::from(first);
    let mut r = 0;
    for &fd in &held[..n] {
        let fd = fd as u64;
        if fd > lo {
            r |= close(lo as u32, (fd - 1) as u32);
        }
        lo = fd + 1;
    }
    if lo <= u64::from(last) {
        r |= close(lo as u32, last);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(first: u32, last: u32, flags: c_int) -> c_int {
    let real = real::close_range::get();
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int != 0 || first > last {
        // SAFETY: the program's own call.
        return unsafe { real(first, last, flags) };
    }
    fdtable::for_range(first, last, |_, slot| {
        if slot.kind() != RESERVED {
            forget(slot)
        }
    });
    // SAFETY: the program's own call, split around the sockets we hold.
    around_held(first, last, |lo, hi| unsafe { real(lo, hi, flags) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(low: c_int) {
    if low < 0 {
        // SAFETY: the program's own call.
        return unsafe { real::closefrom::get()(low) };
    }
    fdtable::for_range(low as u32, u32::MAX, |_, slot| {
        if slot.kind() != RESERVED {
            forget(slot)
        }
    });
    around_held(low as u32, u32::MAX, |lo, hi| {
        if hi == u32::MAX {
            // SAFETY: the program's own call (from the last gap on).
            unsafe { real::closefrom::get()(lo as c_int) };
        } else {
            // SAFETY: closes only fds of the program's own range.
            unsafe { real::close_range::get()(lo, hi, 0) };
        }
        0
    });
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(old: c_int) -> c_int {
    crate::log::trace_call("dup", old);
    // SAFETY: the program's own call.
    let new = unsafe { real::dup::get()(old) };
    if new >= 0 {
        duplicate(old, new);
    }
    new
}

/// The program is about to put `old` at `new`: if `new` holds a socket systemd passed, move it.
fn make_room(old: c_int, new: c_int) {
    if old != new && activation::is_held(new) && runtime::same_process() {
        if let Some(rt) = runtime::get() {
            let _e = SavedErrno::new();
            rt.activation.evacuate(new);
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    crate::log::trace_call("dup2", old);
    make_room(old, new);
    // SAFETY: the program's own call.
    let r = unsafe { real::dup2::get()(old, new) };
    if r >= 0 && old != new {
        duplicate(old, new);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    crate::log::trace_call("dup3", old);
    make_room(old, new);
    // SAFETY: the program's own call.
    let r = unsafe { real::dup3::get()(old, new, flags) };
    if r >= 0 {
        duplicate(old, new);
    }
    r
}

fn after_fcntl(fd: c_int, cmd: c_int, r: c_int) -> c_int {
    if r >= 0 {
        match cmd {
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => duplicate(fd, r),
            // The swap carries owner and signal over only when it knows they may be set.
            libc::F_SETOWN | crate::swap::F_SETOWN_EX | crate::swap::F_SETSIG => {
                fdtable::set_flag(fd, TRACKED, fdtable::OWNER_SET)
            }
            _ => {}
        }
    }
    r
}

// fcntl is variadic in C; on x86_64 and aarch64 Linux a fixed third argument of pointer width
// is passed exactly as the variadic one would be (measured; see docs/architecture.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    crate::log::trace_call("fcntl", fd);
    // SAFETY: the program's own call, arguments forwarded unchanged.
    after_fcntl(fd, cmd, unsafe { real::fcntl::get()(fd, cmd, arg) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    crate::log::trace_call("fcntl64", fd);
    // SAFETY: as above.
    after_fcntl(fd, cmd, unsafe { real::fcntl64::get()(fd, cmd, arg) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut libc::epoll_event,
) -> c_int {
    crate::log::trace_call("epoll_ctl", fd);
    // SAFETY: the program's own call.
    let r = unsafe { real::epoll_ctl::get()(epfd, op, fd, ev) };
    if r == 0 {
        if let Some(slot) = fdtable::get(fd).filter(|s| s.kind() != EMPTY) {
            // Remember registrations made before the swap: the kernel drops them with the old
            // socket, and we re-add them to the new one. (Also on "B" listeners, whose stream
            // is replaced when the router restarts, and while a non-blocking hybrid connect
            // holds a placeholder on the fd: see hybrid.rs.)
            // SAFETY: ev is NULL or valid (the kernel just read it successfully).
            let ev = unsafe { ev.as_ref() };
            let mut g = slot.lock();
            let records = match g.kind() {
                TRACKED => true,
                // ("A" listeners: a handed-over listener replaces the datagram socket.)
                CONVERTED => g.data().flags & (fdtable::DISPATCHED | fdtable::PENDING) != 0,
                _ => false,
            };
            if records && !g.data().record_epoll(epfd, op, ev) {
                crate::log::log!(Warn, "fd {fd}: too many epoll registrations to carry over");
            }
        }
    }
    r
}

/// `fclose` closes its fd inside libc, where our `close` hook never sees it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fclose(stream: *mut libc::FILE) -> c_int {
    if !stream.is_null() {
        // SAFETY: the program passes a FILE it owns; fileno only reads it.
        let fd = unsafe { libc::fileno(stream) };
        if let Some(slot) = fdtable::get(fd) {
            forget(slot);
        }
    }
    // SAFETY: the program's own call.
    unsafe { real::fclose::get()(stream) }
}
