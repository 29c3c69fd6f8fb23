//! errno names and meanings: rules say `reject=ECONNREFUSED` instead of a number, and messages
//! say `ENOENT (No such file or directory)` instead of `errno 2`.

/// Name, number and the meaning glibc's strerror gives (so messages read the same as the C
/// library's, without calling it: the table needs no allocation and no locale).
const NAMES: &[(&str, i32, &str)] = &[
    ("EPERM", libc::EPERM, "Operation not permitted"),
    ("ENOENT", libc::ENOENT, "No such file or directory"),
    ("EINTR", libc::EINTR, "Interrupted system call"),
    ("EIO", libc::EIO, "Input/output error"),
    ("EBADF", libc::EBADF, "Bad file descriptor"),
    ("EAGAIN", libc::EAGAIN, "Resource temporarily unavailable"),
    (
        "EWOULDBLOCK",
        libc::EWOULDBLOCK,
        "Resource temporarily unavailable",
    ),
    ("ENOMEM", libc::ENOMEM, "Cannot allocate memory"),
    ("EACCES", libc::EACCES, "Permission denied"),
    ("EFAULT", libc::EFAULT, "Bad address"),
    ("EBUSY", libc::EBUSY, "Device or resource busy"),
    ("EEXIST", libc::EEXIST, "File exists"),
    ("ENODEV", libc::ENODEV, "No such device"),
    ("ENOTDIR", libc::ENOTDIR, "Not a directory"),
    ("EINVAL", libc::EINVAL, "Invalid argument"),
    ("ENFILE", libc::ENFILE, "Too many open files in system"),
    ("EMFILE", libc::EMFILE, "Too many open files"),
    ("ENOSPC", libc::ENOSPC, "No space left on device"),
    ("EROFS", libc::EROFS, "Read-only file system"),
    ("EPIPE", libc::EPIPE, "Broken pipe"),
    ("ENOSYS", libc::ENOSYS, "Function not implemented"),
    ("ENOTSOCK", libc::ENOTSOCK, "Socket operation on non-socket"),
    (
        "EDESTADDRREQ",
        libc::EDESTADDRREQ,
        "Destination address required",
    ),
    ("EMSGSIZE", libc::EMSGSIZE, "Message too long"),
    (
        "EPROTOTYPE",
        libc::EPROTOTYPE,
        "Protocol wrong type for socket",
    ),
    ("ENOPROTOOPT", libc::ENOPROTOOPT, "Protocol not available"),
    (
        "EPROTONOSUPPORT",
        libc::EPROTONOSUPPORT,
        "Protocol not supported",
    ),
    (
        "ESOCKTNOSUPPORT",
        libc::ESOCKTNOSUPPORT,
        "Socket type not supported",
    ),
    ("EOPNOTSUPP", libc::EOPNOTSUPP, "Operation not supported"),
    ("ENOTSUP", libc::ENOTSUP, "Operation not supported"),
    (
        "EPFNOSUPPORT",
        libc::EPFNOSUPPORT,
        "Protocol family not supported",
    ),
    (
        "EAFNOSUPPORT",
        libc::EAFNOSUPPORT,
        "Address family not supported by protocol",
    ),
    ("EADDRINUSE", libc::EADDRINUSE, "Address already in use"),
    (
        "EADDRNOTAVAIL",
        libc::EADDRNOTAVAIL,
        "Cannot assign requested address",
    ),
    ("ENETDOWN", libc::ENETDOWN, "Network is down"),
    ("ENETUNREACH", libc::ENETUNREACH, "Network is unreachable"),
    (
        "ENETRESET",
        libc::ENETRESET,
        "Network dropped connection on reset",
    ),
    (
        "ECONNABORTED",
        libc::ECONNABORTED,
        "Software caused connection abort",
    ),
    ("ECONNRESET", libc::ECONNRESET, "Connection reset by peer"),
    ("ENOBUFS", libc::ENOBUFS, "No buffer space available"),
    (
        "EISCONN",
        libc::EISCONN,
        "Transport endpoint is already connected",
    ),
    (
        "ENOTCONN",
        libc::ENOTCONN,
        "Transport endpoint is not connected",
    ),
    (
        "ESHUTDOWN",
        libc::ESHUTDOWN,
        "Cannot send after transport endpoint shutdown",
    ),
    ("ETIMEDOUT", libc::ETIMEDOUT, "Connection timed out"),
    ("ECONNREFUSED", libc::ECONNREFUSED, "Connection refused"),
    ("EHOSTDOWN", libc::EHOSTDOWN, "Host is down"),
    ("EHOSTUNREACH", libc::EHOSTUNREACH, "No route to host"),
    ("EALREADY", libc::EALREADY, "Operation already in progress"),
    (
        "EINPROGRESS",
        libc::EINPROGRESS,
        "Operation now in progress",
    ),
    ("ECANCELED", libc::ECANCELED, "Operation canceled"),
    ("ENAMETOOLONG", libc::ENAMETOOLONG, "File name too long"),
    ("ELOOP", libc::ELOOP, "Too many levels of symbolic links"),
    ("ENXIO", libc::ENXIO, "No such device or address"),
    ("ESRCH", libc::ESRCH, "No such process"),
    ("ECHILD", libc::ECHILD, "No child processes"),
    ("EISDIR", libc::EISDIR, "Is a directory"),
    ("ETXTBSY", libc::ETXTBSY, "Text file busy"),
    ("EFBIG", libc::EFBIG, "File too large"),
    ("ESPIPE", libc::ESPIPE, "Illegal seek"),
    ("EMLINK", libc::EMLINK, "Too many links"),
    ("ERANGE", libc::ERANGE, "Numerical result out of range"),
    ("EPROTO", libc::EPROTO, "Protocol error"),
    (
        "EOVERFLOW",
        libc::EOVERFLOW,
        "Value too large for defined data type",
    ),
    ("ENOTEMPTY", libc::ENOTEMPTY, "Directory not empty"),
    ("EDQUOT", libc::EDQUOT, "Disk quota exceeded"),
    ("ENOEXEC", libc::ENOEXEC, "Exec format error"),
    ("E2BIG", libc::E2BIG, "Argument list too long"),
];

/// Parses `ECONNREFUSED`, `econnrefused` or a number (`111`; any positive `int`, as ip2unix
/// takes any: the shim sets `errno` itself, so numbers the kernel never uses are fine too).
pub fn parse(text: &str) -> Option<i32> {
    if text.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return crate::rule::parse_decimal::<i32>(text).filter(|&n| n >= 1);
    }
    NAMES
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(text))
        .map(|&(_, n, _)| n)
}

/// The canonical name of an errno, for printing rules back.
pub fn name(errno: i32) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|&&(_, n, _)| n == errno)
        .map(|&(name, _, _)| name)
}

/// What an errno means, in words (glibc's strerror text).
pub fn meaning(errno: i32) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|&&(_, n, _)| n == errno)
        .map(|&(_, _, text)| text)
}

/// An errno for a message: `ENOENT (No such file or directory)`; an unknown one as
/// `error 1234`. Formats without allocating (usable inside the shim's hooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (name(self.0), meaning(self.0)) {
            (Some(n), Some(m)) => write!(f, "{n} ({m})"),
            _ => write!(f, "error {}", self.0),
        }
    }
}

/// An I/O error for a message: `ENOENT (No such file or directory)` instead of Rust's
/// `No such file or directory (os error 2)`; other errors as they print.
pub fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) if name(n).is_some() => Errno(n).to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("ECONNREFUSED"), Some(libc::ECONNREFUSED));
        assert_eq!(parse("econnrefused"), Some(libc::ECONNREFUSED));
        assert_eq!(parse("111"), Some(111));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("9999"), Some(9999));
        assert_eq!(parse("999999"), Some(999999));
        assert_eq!(parse("0111"), None);
        assert_eq!(parse("+111"), None);
        assert_eq!(parse("-3"), None);
        assert_eq!(parse("EFOO"), None);
        assert_eq!(name(libc::EACCES), Some("EACCES"));
        assert_eq!(
            Errno(libc::ENOENT).to_string(),
            "ENOENT (No such file or directory)"
        );
        assert_eq!(Errno(4000).to_string(), "error 4000");
    }

    /// Every meaning is the C library's own text for that errno.
    #[test]
    fn meanings_are_strerror() {
        for &(n, e, text) in NAMES {
            // SAFETY: strerror returns a valid NUL-terminated string for any errno.
            let libc_text = unsafe { std::ffi::CStr::from_ptr(libc::strerror(e)) };
            assert_eq!(libc_text.to_str().unwrap(), text, "{n}");
        }
    }
}
