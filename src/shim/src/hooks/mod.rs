//! The exported hooks. Every function here has the C prototype of the libc function it
//! replaces; each either passes the call to the real function untouched or decides it with
//! the rules. None allocates, locks, or can panic.

pub(crate) mod calls;
mod datagram;
mod exec;
pub(crate) mod lifecycle;
mod names;
mod netns;
mod socketbox;

use libc::{c_int, sockaddr, socklen_t};

use crate::fdtable::{self, SlotData, CONVERTED};
use crate::sys;

/// Restores the program's errno when dropped, so our internal calls never leak theirs.
pub(crate) struct SavedErrno(c_int);

impl SavedErrno {
    pub fn new() -> Self {
        SavedErrno(sys::errno())
    }
}

impl Drop for SavedErrno {
    fn drop(&mut self) {
        sys::set_errno(self.0);
    }
}

/// Fails a hooked call with `e`.
pub(crate) fn fail(e: c_int) -> c_int {
    sys::set_errno(e);
    -1
}

/// The bytes of a sockaddr the program passed, or None for NULL.
///
/// # Safety
/// `addr` must be NULL or valid for `len` bytes, as the program promised the kernel.
pub(crate) unsafe fn sockaddr_bytes<'a>(addr: *const sockaddr, len: socklen_t) -> Option<&'a [u8]> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: the caller's contract with bind/connect: addr points to len readable bytes.
    Some(unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len as usize) })
}

/// Writes `bytes` to a caller's (pointer, length) pair with the kernel's rule: copy at most
/// `*len` bytes, then set `*len` to the full size. Returns false for NULL pointers.
///
/// # Safety
/// `buf` and `len` must be NULL or valid as the program promised the kernel.
pub(crate) unsafe fn write_out<T>(
    buf: *mut T,
    len: *mut socklen_t,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> bool {
    if buf.is_null() || len.is_null() {
        return false;
    }
    // SAFETY: len is a valid socklen_t pointer and buf holds *len bytes (caller's contract).
    unsafe {
        let cap = *len as usize;
        let out = core::slice::from_raw_parts_mut(buf.cast::<u8>(), cap);
        *len = fill(out) as socklen_t;
    }
    true
}

/// SKBOX_GETPEERNAME_PROTECTION: before a name is written to the program's buffer, zero the
/// whole buffer (level 2) or only a `sockaddr_in`/`sockaddr_in6`-sized one (level 1), so bytes
/// past a shorter answer never show what was there before (socketbox-preload does this).
///
/// # Safety
/// `addr`/`len` are NULL or valid as the program promised the kernel.
pub(crate) unsafe fn protect_name_buffer(addr: *mut sockaddr, len: *const socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let Some(rt) = crate::runtime::get() else {
        return;
    };
    let level = rt.config.name_protection;
    // SAFETY: len is valid (caller's contract).
    let n = unsafe { *len } as usize;
    let ip_sized = n == size_of::<libc::sockaddr_in>() || n == size_of::<libc::sockaddr_in6>();
    if n > 0 && (level >= 2 || (level == 1 && ip_sized)) {
        // SAFETY: addr holds *len writable bytes (caller's contract).
        unsafe { core::ptr::write_bytes(addr.cast::<u8>(), 0, n) };
    }
}

/// The record of `fd` if it is a converted socket that pretends to be IP (not a Unix socket
/// redirected by a from-unix rule).
#[inline]
pub(crate) fn pretending(fd: c_int) -> Option<SlotData> {
    let slot = fdtable::get(fd)?;
    if slot.kind() != CONVERTED {
        return None;
    }
    let mut g = slot.lock();
    let data = *g.data();
    (g.kind() == CONVERTED && data.family != libc::AF_UNIX).then_some(data)
}
