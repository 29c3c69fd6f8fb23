//! Structured one-line logs on stderr: `socketbox level=warn event=queue-timeout target=/x ...`.

use std::sync::atomic::{AtomicU8, Ordering};

/// The same levels as the shim's (`SOCKSWAP_LOG`): one parser, one spelling.
pub use sockswap_core::LogLevel as Level;

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

pub fn enabled(l: Level) -> bool {
    (l as u8) <= LEVEL.load(Ordering::Relaxed)
}

/// Quote a value if it has spaces, quotes or control characters (logfmt).
pub fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
    {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

pub fn emit(l: Level, event: &str, fields: &[(&str, String)]) {
    if !enabled(l) {
        return;
    }
    let mut line = format!("socketbox level={} event={}", l.name(), event);
    for (k, v) in fields {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        line.push_str(&quote(v));
    }
    line.push('\n');
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! log {
    ($lvl:ident, $event:expr $(, $k:ident = $v:expr)* $(,)?) => {
        if $crate::log::enabled($crate::log::Level::$lvl) {
            $crate::log::emit($crate::log::Level::$lvl, $event, &[$((stringify!($k), format!("{}", $v))),*]);
        }
    };
}
