//! Logging that is safe inside hooks: formatted into a stack buffer with `core::fmt` (no heap),
//! written with one raw `write(2)` to stderr (no lock, no stdio).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

use sockswap_core::template::SliceWriter;
use sockswap_core::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);

pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

#[inline]
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line `sockswap[PID]: LEVEL: message`. Long messages are cut, never allocated.
pub fn emit(level: LogLevel, args: fmt::Arguments<'_>) {
    let mut buf = [0u8; 512];
    let mut w = SliceWriter {
        buf: &mut buf,
        len: 0,
    };
    let tag = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warning",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        _ => "trace",
    };
    let _ = write!(w, "sockswap[{}]: {tag}: ", crate::sys::getpid());
    let _ = w.write_fmt(args);
    let len = w.len.min(buf.len() - 1);
    buf[len] = b'\n';
    let saved = crate::sys::errno();
    crate::sys::write_all(2, &buf[..=len]);
    crate::sys::set_errno(saved);
}

macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        if $crate::log::enabled(sockswap_core::LogLevel::$level) {
            $crate::log::emit(sockswap_core::LogLevel::$level, format_args!($($arg)*));
        }
    };
}
pub(crate) use log;

/// Bytes shown as text in a log line (paths are bytes).
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// A configuration error: one line naming the variable and token, then exit 121 before `main`.
pub fn fatal_config(message: &str) -> ! {
    let mut buf = [0u8; 1024];
    let mut w = SliceWriter {
        buf: &mut buf,
        len: 0,
    };
    let _ = write!(w, "sockswap: {message}");
    let len = w.len.min(buf.len() - 1);
    buf[len] = b'\n';
    crate::sys::write_all(2, &buf[..=len]);
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(sockswap_core::config::EXIT_BAD_CONFIG) }
}

pub fn fatal_missing_symbol(name: &[u8]) -> ! {
    let name = name.strip_suffix(b"\0").unwrap_or(name);
    crate::sys::write_all(2, b"sockswap: the C library has no '");
    crate::sys::write_all(2, name);
    crate::sys::write_all(2, b"'\n");
    // SAFETY: as above.
    unsafe { libc::_exit(sockswap_core::config::EXIT_BAD_CONFIG) }
}

/// The C library's words for an errno ("Connection refused"); never allocates.
pub fn strerror(e: libc::c_int) -> &'static str {
    // SAFETY: strerror returns a pointer to a NUL-terminated string that stays valid (glibc's
    // table for known errnos); we only read it.
    let text = unsafe { core::ffi::CStr::from_ptr(libc::strerror(e)) };
    text.to_str().unwrap_or("unknown error")
}
