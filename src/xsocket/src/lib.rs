//! libxsocket: `int xsocket(const char *path, int domain, int type, int protocol)`, xsocket's
//! C function, speaking its XS01/XS02 protocol (`sockswap_core::xsocket`) to a socket server in
//! another network namespace. Header: `include/xsocket.h`.

use core::ffi::{c_char, c_int, CStr};

use sockswap_core::addr::UnixSockaddr;
use sockswap_core::xsocket::{self, Request};

fn errno_location() -> *mut c_int {
    // SAFETY: __errno_location has no preconditions and returns this thread's errno.
    unsafe { libc::__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: a valid pointer to this thread's errno.
    unsafe { *errno_location() = e };
}

fn last_errno() -> c_int {
    // SAFETY: as above.
    unsafe { *errno_location() }
}

/// Closes `fd` when dropped.
struct Fd(c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: we own this descriptor.
            unsafe { libc::close(self.0) };
        }
    }
}

/// See `include/xsocket.h`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xsocket(
    path: *const c_char,
    domain: c_int,
    ty: c_int,
    protocol: c_int,
) -> c_int {
    let path: &[u8] = if path.is_null() {
        xsocket::DEFAULT_SERVER.as_bytes()
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe { CStr::from_ptr(path) }.to_bytes()
    };
    match ask(path, domain, ty, protocol) {
        Ok(fd) => fd,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

fn ask(path: &[u8], domain: c_int, ty: c_int, protocol: c_int) -> Result<c_int, c_int> {
    let sa = match path.strip_prefix(b"@") {
        Some(name) => UnixSockaddr::abstract_name(name),
        None => UnixSockaddr::path(path),
    }
    .map_err(|_| libc::ENAMETOOLONG)?;
    // SAFETY: plain socket creation.
    let s =
        Fd(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) });
    if s.0 < 0 {
        return Err(last_errno());
    }
    // SAFETY: sa holds a sockaddr_un of sa.len bytes.
    if unsafe { libc::connect(s.0, sa.bytes.as_ptr().cast(), sa.len as u32) } != 0 {
        return Err(last_errno());
    }
    let cloexec = ty & libc::SOCK_CLOEXEC != 0;
    let req = xsocket::encode_request(&Request {
        domain,
        ty: ty & !libc::SOCK_CLOEXEC,
        protocol,
    });
    // SAFETY: req is valid for its length.
    let sent = unsafe { libc::send(s.0, req.as_ptr().cast(), req.len(), libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(last_errno());
    }
    if sent as usize != req.len() {
        return Err(libc::EMSGSIZE);
    }
    // SAFETY: s is a connected socket.
    if unsafe { libc::shutdown(s.0, libc::SHUT_WR) } != 0 {
        return Err(last_errno());
    }
    let mut reply = [0u8; xsocket::REPLY_LEN + 1];
    let (n, passed) = recv_with_fd(s.0, &mut reply, cloexec)?;
    let passed = Fd(passed.unwrap_or(-1));
    match xsocket::decode_reply(&reply[..n]) {
        None => Err(libc::EINVAL),
        Some(0) if passed.0 < 0 => Err(libc::EPERM),
        Some(0) => {
            let fd = passed.0;
            core::mem::forget(passed);
            set_errno(0);
            Ok(fd)
        }
        Some(e) => Err(e),
    }
}

/// One record and at most one passed fd (extra fds are closed).
fn recv_with_fd(s: c_int, buf: &mut [u8], cloexec: bool) -> Result<(usize, Option<c_int>), c_int> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: a zeroed msghdr is valid; the pointers set below live for the call.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = core::mem::size_of_val(&control);
    let flags = if cloexec { libc::MSG_CMSG_CLOEXEC } else { 0 };
    // SAFETY: msg is valid for the call.
    let n = unsafe { libc::recvmsg(s, &mut msg, flags) };
    if n < 0 {
        return Err(last_errno());
    }
    let mut first = None;
    // SAFETY: walking the control messages the kernel wrote, within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<c_int>();
                let count = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    let fd = data.add(i).read_unaligned();
                    if first.is_none() {
                        first = Some(fd);
                    } else {
                        libc::close(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, first))
}
