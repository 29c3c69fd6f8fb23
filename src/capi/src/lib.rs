//! libsocketbox: the C API of socketbox's `libsocketbox.h` (header: include/socketbox/), so a C
//! program written against socketbox relinks against this library unchanged; and the same
//! functions in Rust for the router's receiving-side applets (`socketbox inetd`, ...).
//!
//! Behaviour follows socketbox's library function by function (errno values included), except:
//! paths too long for a Unix socket address are ENAMETOOLONG instead of silently cut short, a
//! non-blocking registration waits in poll() instead of spinning, and a NULL pointer is EFAULT
//! instead of a crash. See docs/router.md ("C API").

use std::ffi::{c_char, c_int, CStr};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use sockswap_core::socketbox::wire;

/// The receive functions' check of a received fd (`skbox_set_validation_level`): 0 none, 1 it
/// must be SOCK_STREAM, 2 also AF_UNIX, AF_INET or AF_INET6. socketbox's default is 0.
static VALIDATION: AtomicI32 = AtomicI32::new(0);

/// At most this many fds in one SCM_RIGHTS message are looked at (the kernel's SCM_MAX_FD).
const MAX_FDS: usize = 253;

fn errno_is(e: &io::Error, code: c_int) -> bool {
    e.raw_os_error() == Some(code)
}

fn set_errno(code: c_int) {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() = code };
}

/// Returns -1 with errno from `e` (C convention).
fn fail(e: io::Error) -> c_int {
    set_errno(e.raw_os_error().unwrap_or(libc::EIO));
    -1
}

fn cvt(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `level` >= 0 sets it; a negative level reads `SKBOX_STRICT_STREAM_MODE` (its leading
/// decimal number if it starts with a digit), else 2.
pub fn set_validation_level(level: i32) {
    let level = if level >= 0 {
        level
    } else {
        match std::env::var("SKBOX_STRICT_STREAM_MODE") {
            Ok(v) if v.starts_with(|c: char| c.is_ascii_digit()) => {
                let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(i32::MAX)
            }
            _ => 2,
        }
    };
    VALIDATION.store(level, Ordering::Relaxed);
}

/// One int socket option, or the error (also when the option is not int-sized).
pub fn getsockopt_int(fd: RawFd, level: c_int, opt: c_int) -> io::Result<c_int> {
    let mut value: c_int = -1;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: value/len are valid for writes of the sizes given.
    cvt(unsafe { libc::getsockopt(fd, level, opt, &mut value as *mut c_int as *mut _, &mut len) })?;
    if len as usize != size_of::<c_int>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(value)
}

fn acceptable(fd: RawFd, level: i32) -> bool {
    if level >= 1
        && getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE).ok() != Some(libc::SOCK_STREAM)
    {
        return false;
    }
    if level >= 2 {
        let domain = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).ok();
        return matches!(domain, Some(libc::AF_UNIX | libc::AF_INET | libc::AF_INET6));
    }
    true
}

/// Receive the next fd on `sock` (an A datagram socket or a registered B connection): the first
/// fd of the first SCM_RIGHTS message that passes the validation level; any other fd that came
/// with it is closed, and messages without an acceptable fd are skipped. When a stream or
/// seqpacket `sock` reaches its end (the router went away) the error is ENOLINK — and, unless
/// `notify_disconnect`, the whole process group is sent SIGTERM first, as socketbox does (its
/// preload library relies on that to stop a server whose router is gone).
pub fn receive_fd(sock: RawFd, notify_disconnect: bool) -> io::Result<OwnedFd> {
    loop {
        let mut data = [0u8; 128];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // u64: aligned for cmsghdr; room for MAX_FDS fds.
        let mut control = [0u64; 160];
        // SAFETY: POD.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 160]>();
        // SAFETY: msg describes buffers that live across the call.
        let r = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        let err = (r < 0).then(io::Error::last_os_error);
        let ended = match &err {
            None => r == 0,
            Some(e) => errno_is(e, libc::ECONNRESET) || errno_is(e, libc::ENOTCONN),
        };
        if ended {
            let ty = getsockopt_int(sock, libc::SOL_SOCKET, libc::SO_TYPE)
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            if ty != libc::SOCK_DGRAM {
                if !notify_disconnect {
                    // SAFETY: plain syscall.
                    unsafe { libc::kill(0, libc::SIGTERM) };
                }
                return Err(io::Error::from_raw_os_error(libc::ENOLINK));
            }
        }
        if let Some(e) = err {
            return Err(e);
        }
        let mut chosen: Option<OwnedFd> = None;
        let mut refused = false;
        // SAFETY: walking the control buffer the kernel filled, with the CMSG_* helpers; every
        // fd in it is ours (taken into an OwnedFd once, so closed exactly once).
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let bytes =
                        ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                    let count = (bytes / size_of::<RawFd>()).min(MAX_FDS);
                    let data = libc::CMSG_DATA(cmsg) as *const RawFd;
                    for i in 0..count {
                        let fd = OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i)));
                        let first_here = i == 0 && chosen.is_none() && !refused;
                        if first_here
                            && acceptable(fd.as_raw_fd(), VALIDATION.load(Ordering::Relaxed))
                        {
                            chosen = Some(fd);
                        } else if first_here {
                            refused = true; // this message's fds are all closed
                        }
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        if let Some(fd) = chosen {
            return Ok(fd);
        }
    }
}

/// A `sockaddr_un` for `path` (a file name; no abstract names, as in socketbox), or
/// ENAMETOOLONG.
fn unix_addr(path: &[u8]) -> io::Result<libc::sockaddr_un> {
    // SAFETY: POD.
    let mut addr: libc::sockaddr_un = unsafe { zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= addr.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(path) {
        *d = *s as c_char;
    }
    Ok(addr)
}

fn socket(ty: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is ours.
    cvt(unsafe { libc::socket(libc::AF_UNIX, ty, 0) }).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An A receiver: a datagram socket bound at `path` (which must not exist yet), mode 0660.
pub fn new_receiver(path: &[u8]) -> io::Result<OwnedFd> {
    let addr = unix_addr(path)?;
    let s = socket(libc::SOCK_DGRAM)?;
    // SAFETY: a valid sockaddr_un of its size.
    cvt(unsafe {
        libc::bind(
            s.as_raw_fd(),
            &addr as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_un>() as u32,
        )
    })?;
    // SAFETY: sun_path is NUL-terminated (zeroed, path shorter than it).
    cvt(unsafe { libc::chmod(addr.sun_path.as_ptr(), 0o660) })?;
    Ok(s)
}

/// Register `slot` on a connected B socket: send the record, wait for the answer. EPIPE if the
/// record could not be sent, EPERM if the server refused (closed, as socketbox does, or sent our
/// router's refusal record), EINVAL if the answer is anything but the acknowledgement.
pub fn register(sock: RawFd, slot: u32) -> io::Result<()> {
    let record = wire::b_register(slot);
    // SAFETY: sending a valid buffer.
    let n = unsafe {
        libc::send(
            sock,
            record.as_ptr().cast(),
            record.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n != record.len() as isize {
        return Err(io::Error::from_raw_os_error(libc::EPIPE));
    }
    // Room for our router's refusal record (82 00 00 00 + a reason), a refusal like a close.
    let mut answer = [0u8; 4 + wire::B_REFUSAL_REASON_MAX];
    let n = loop {
        // SAFETY: receiving into a valid buffer.
        let n = unsafe { libc::recv(sock, answer.as_mut_ptr().cast(), answer.len(), 0) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if errno_is(&e, libc::EINTR) {
            continue;
        }
        if errno_is(&e, libc::EAGAIN) {
            let mut p = libc::pollfd {
                fd: sock,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, -1) };
            continue;
        }
        return Err(e);
    };
    let answer = &answer[..n];
    if n < 4 || wire::b_parse_refusal(answer).is_some() {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    if answer != wire::B_ACK {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(())
}

/// Connect a SOCK_SEQPACKET socket to the B server at `path` and register `slot`.
pub fn register_connect(path: &[u8], slot: u32) -> io::Result<OwnedFd> {
    if path.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    let addr = unix_addr(path)?;
    let s = socket(libc::SOCK_SEQPACKET)?;
    // SAFETY: a valid sockaddr_un of its size.
    cvt(unsafe {
        libc::connect(
            s.as_raw_fd(),
            &addr as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_un>() as u32,
        )
    })?;
    register(s.as_raw_fd(), slot)?;
    Ok(s)
}

/// Send `fd` over `sock` as an A datagram (one byte 0x00 with the fd), to `addr` if given;
/// non-blocking, no SIGPIPE.
///
/// # Safety
/// `addr` is null or points to `addrlen` readable bytes.
pub unsafe fn send_fd(
    sock: RawFd,
    fd: RawFd,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> io::Result<()> {
    let byte = [wire::A_BYTE];
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut _,
        iov_len: 1,
    };
    let mut control = [0u64; 4];
    // SAFETY: POD.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = addr as *mut _;
    msg.msg_namelen = if addr.is_null() { 0 } else { addrlen };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a computation; the control buffer holds one cmsg with one int.
    unsafe {
        msg.msg_controllen = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut RawFd, fd);
    }
    // SAFETY: msg is fully initialised; its buffers outlive the call.
    let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    match n {
        1 => Ok(()),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::from_raw_os_error(libc::EIO)),
    }
}

/// C's `strtoul(s, NULL, 0)`, as socketbox reads numbers: leading blanks, an optional sign
/// (a minus wraps), `0x` hex or `0` octal prefixes, digits up to the first that is not one;
/// no digits is 0, overflow is `u64::MAX`.
pub fn strtoul0(s: &[u8]) -> u64 {
    let mut i = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let (radix, digits) = if (rest.starts_with(b"0x") || rest.starts_with(b"0X"))
        && rest.get(2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, &rest[2..])
    } else if rest.starts_with(b"0") {
        (8, rest)
    } else {
        (10, rest)
    };
    let mut value: u64 = 0;
    for c in digits {
        let Some(d) = (*c as char).to_digit(radix) else {
            break;
        };
        match value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => return u64::MAX,
        }
    }
    if negative {
        value.wrapping_neg()
    } else {
        value
    }
}

/// socketbox's port filter `ODD_BELOW[,EVEN_BELOW[,PORT...]]` (at most 30 listed ports):
/// Ok(None) for an empty filter, Err(what is wrong) for a malformed one. Empty items are skipped (strtok).
pub fn parse_port_filter(filter: &[u8]) -> Result<Option<[u16; 32]>, String> {
    let mut items = filter.split(|c| *c == b',').filter(|t| !t.is_empty());
    let Some(first) = items.next() else {
        return Ok(None);
    };
    let port = |t: &[u8]| {
        u16::try_from(strtoul0(t))
            .map_err(|_| format!("'{}' is not a port (0..65535)", String::from_utf8_lossy(t)))
    };
    let mut out = [0u16; 32];
    out[0] = port(first)?;
    match items.next() {
        None => out[1] = out[0],
        Some(second) => out[1] = port(second)?,
    }
    for slot in out.iter_mut().skip(2) {
        match items.next() {
            None => return Ok(Some(out)),
            Some(t) => {
                *slot = port(t)?;
                if *slot == 0 {
                    return Err("a listed port is 0".into());
                }
            }
        }
    }
    if items.next().is_some() {
        return Err("more than 30 listed ports".into());
    }
    Ok(Some(out))
}

/// Whether `port` passes a parsed filter: odd ports below `filter[0]`, even ports below
/// `filter[1]`, and the listed ones; port 0 never.
pub fn check_port_filter(port: u16, filter: &[u16; 32]) -> bool {
    if port == 0 {
        return false;
    }
    let below = if port & 1 == 0 { filter[1] } else { filter[0] };
    port < below
        || filter[2..]
            .iter()
            .take_while(|p| **p != 0)
            .any(|p| *p == port)
}

/// `num` as five decimal digits (mod 100000).
pub fn five_digits(num: u16) -> [u8; 5] {
    let mut out = [b'0'; 5];
    let mut n = num;
    for d in out.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

/// In `path`, the first `#//0_`..`#//7_` each become the 16-bit group N of `ip`, the first
/// `#//P_` the port, as five decimal digits (socketbox's `skbox_sockaddr_un_subst`).
pub fn substitute_first(path: &mut [u8], ip: std::net::Ipv6Addr, port: u16) {
    let groups = ip.segments();
    for (token, value) in (0..8u8)
        .map(|g| (b'0' + g, groups[usize::from(g)]))
        .chain([(b'P', port)])
    {
        let pattern = [b'#', b'/', b'/', token, b'_'];
        if let Some(at) = path.windows(5).position(|w| w == pattern) {
            path[at..at + 5].copy_from_slice(&five_digits(value));
        }
    }
}

// ---- the C ABI (include/socketbox/libsocketbox.h) ----

fn c_path<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: the caller passes a NUL-terminated string or NULL (checked).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

#[no_mangle]
pub extern "C" fn skbox_set_validation_level(level: c_int) {
    set_validation_level(level);
}

#[no_mangle]
pub extern "C" fn skbox_receive_fd_from_socket_p(fd: c_int, notify_disconnect: c_int) -> c_int {
    receive_fd(fd, notify_disconnect != 0).map_or_else(fail, IntoRawFd::into_raw_fd)
}

#[no_mangle]
pub extern "C" fn skbox_receive_fd_from_socket(fd: c_int) -> c_int {
    skbox_receive_fd_from_socket_p(fd, 0)
}

#[no_mangle]
pub extern "C" fn skbox_new(pathname: *const c_char) -> c_int {
    match c_path(pathname) {
        None => fail(io::Error::from_raw_os_error(libc::EFAULT)),
        Some(p) => new_receiver(p).map_or_else(fail, IntoRawFd::into_raw_fd),
    }
}

#[no_mangle]
pub extern "C" fn skbox_make_fd_nonblocking(fd: c_int) -> c_int {
    // SAFETY: fcntl with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL, 0) };
    if flags == -1 {
        return -1;
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } != 0 {
        return -1;
    }
    0
}

#[no_mangle]
pub extern "C" fn skbox_getsockopt_integer(fd: c_int, level: c_int, opt: c_int) -> c_int {
    getsockopt_int(fd, level, opt).unwrap_or(-1)
}

#[no_mangle]
pub extern "C" fn skbox_register_fd(fd: c_int, target: u32) -> c_int {
    register(fd, target).map_or_else(fail, |()| 0)
}

#[no_mangle]
pub extern "C" fn skbox_register_bind(pathname: *const c_char, target: u32) -> c_int {
    match c_path(pathname) {
        None => fail(io::Error::from_raw_os_error(libc::EFAULT)),
        Some(p) => register_connect(p, target).map_or_else(fail, IntoRawFd::into_raw_fd),
    }
}

/// # Safety
/// `addr` is null or points to `addrlen` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn skbox_send_fd(
    sockfd: c_int,
    fd: c_int,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> c_int {
    // SAFETY: forwarded from the caller's contract.
    unsafe { send_fd(sockfd, fd, addr, addrlen) }.map_or_else(fail, |()| 0)
}

/// # Safety
/// `filter` is null or a NUL-terminated string; `result` points to 32 writable `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn skbox_parse_port_filter(filter: *const c_char, result: *mut u16) -> c_int {
    let Some(text) = c_path(filter) else {
        return 0;
    };
    match parse_port_filter(text) {
        Ok(None) => 0,
        Ok(Some(parsed)) if !result.is_null() => {
            // SAFETY: the caller provides 32 writable entries.
            unsafe { std::ptr::copy_nonoverlapping(parsed.as_ptr(), result, 32) };
            1
        }
        Ok(Some(_)) | Err(_) => -1,
    }
}

/// # Safety
/// `filter` points to 32 readable `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn skbox_check_port_filter(port: u16, filter: *const u16) -> c_int {
    if filter.is_null() {
        return 0;
    }
    // SAFETY: the caller provides 32 entries.
    let filter = unsafe { &*(filter as *const [u16; 32]) };
    c_int::from(check_port_filter(port, filter))
}

/// # Safety
/// `result` points to 5 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn skbox_int16tonum(num: u16, result: *mut c_char) {
    if !result.is_null() {
        // SAFETY: the caller provides 5 writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(five_digits(num).as_ptr().cast(), result, 5) };
    }
}

/// # Safety
/// `sockaddr` points to a sockaddr_in6, `resultant` to a sockaddr_un whose `sun_path` has at
/// least `length` bytes (at most its size).
#[no_mangle]
pub unsafe extern "C" fn skbox_sockaddr_un_subst(
    sockaddr: *const libc::sockaddr_in6,
    resultant: *mut libc::sockaddr_un,
    length: u32,
) {
    if sockaddr.is_null() || resultant.is_null() {
        return;
    }
    // SAFETY: valid pointers per the contract; the length is capped at sun_path's size.
    unsafe {
        let sin6 = &*sockaddr;
        let path = &mut (*resultant).sun_path;
        let len = (length as usize).min(path.len());
        let bytes = std::slice::from_raw_parts_mut(path.as_mut_ptr().cast::<u8>(), len);
        let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
        substitute_first(bytes, ip, u16::from_be(sin6.sin6_port));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoul_like_c() {
        for (s, v) in [
            ("80", 80),
            (" 0x50", 80),
            ("0120", 80),
            ("80abc", 80),
            ("", 0),
            ("x", 0),
            ("-1", u64::MAX),
            ("-0", 0),
            ("+7", 7),
            ("0x", 0),
            ("99999999999999999999999", u64::MAX),
        ] {
            assert_eq!(strtoul0(s.as_bytes()), v, "{s:?}");
        }
    }

    #[test]
    fn port_filters() {
        assert_eq!(parse_port_filter(b""), Ok(None));
        assert_eq!(parse_port_filter(b",,"), Ok(None));
        let f = parse_port_filter(b"1024").unwrap().unwrap();
        assert_eq!((f[0], f[1], f[2]), (1024, 1024, 0));
        assert!(
            check_port_filter(80, &f)
                && check_port_filter(1023, &f)
                && !check_port_filter(1024, &f)
        );
        assert!(!check_port_filter(0, &f));
        let f = parse_port_filter(b"100,0,8080,,9000").unwrap().unwrap();
        assert!(check_port_filter(99, &f) && !check_port_filter(98, &f));
        assert!(
            check_port_filter(8080, &f)
                && check_port_filter(9000, &f)
                && !check_port_filter(8081, &f)
        );
        assert!(parse_port_filter(b"65536").is_err());
        assert!(parse_port_filter(b"1,1,0").is_err());
        let thirty: Vec<String> = (1..=30).map(|p| p.to_string()).collect();
        assert!(parse_port_filter(format!("0,0,{}", thirty.join(",")).as_bytes()).is_ok());
        assert!(parse_port_filter(format!("0,0,{},31", thirty.join(",")).as_bytes()).is_err());
    }

    #[test]
    fn substitution_is_first_occurrence_only() {
        let mut p = *b"/x/#//0_/#//7_-#//P_#//P_";
        substitute_first(&mut p, "fd01:2::9".parse().unwrap(), 443);
        assert_eq!(&p, b"/x/64769/00009-00443#//P_");
        assert_eq!(five_digits(65535), *b"65535");
    }
}
