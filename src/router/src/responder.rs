//! The built-in port-80 responder (`[[responder]]` with `action = "https-redirect"`): answers
//! plain HTTP with a redirect to https, and serves ACME HTTP-01 challenge files from a webroot.
//! What a request becomes is decided in the core (`sockswap_core::socketbox::responder`); this is
//! the I/O: one bounded read of the request head under a deadline, one answer, close. One thread
//! per connection, at most `MAX_ACTIVE` at once (further connections are refused and counted).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockswap_core::socketbox::responder::{
    decide, head_end, response_head, Decision, MAX_CHALLENGE_FILE, MAX_REQUEST_HEAD,
};

use crate::deliver::Pending;
use crate::shared::{remote_of, Shared};
use crate::status::Event;

pub const MAX_ACTIVE: usize = 1024;
/// The whole request head must arrive within this time.
pub const READ_DEADLINE: Duration = Duration::from_secs(5);
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

pub fn start(sh: &Arc<Shared>, name: &str, webroot: Option<&str>, p: Pending) {
    let tname = format!("responder:{name}");
    if ACTIVE.fetch_add(1, Ordering::Relaxed) >= MAX_ACTIVE {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
        sh.refuse(&tname, p, "too many responder connections");
        return;
    }
    let sh = sh.clone();
    let webroot = webroot.map(str::to_owned);
    let spawned = std::thread::Builder::new()
        .name("responder".into())
        .spawn(move || {
            let remote = remote_of(&p.tuple);
            let stream = TcpStream::from(p.fd);
            match answer(stream, webroot.as_deref()) {
                Ok(()) => sh.stats.count(&tname, Event::Delivered),
                Err(reason) => {
                    sh.stats.count(&tname, Event::Refused);
                    crate::log!(
                        Info,
                        "refused",
                        target = tname,
                        remote = remote,
                        reason = reason
                    );
                }
            }
            ACTIVE.fetch_sub(1, Ordering::Relaxed);
        });
    if spawned.is_err() {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Read the head, answer it. Err: why the request got an error status (or none at all).
fn answer(mut s: TcpStream, webroot: Option<&str>) -> Result<(), String> {
    let _ = s.set_write_timeout(Some(READ_DEADLINE));
    let deadline = Instant::now() + READ_DEADLINE;
    let mut buf = vec![0u8; MAX_REQUEST_HEAD];
    let mut len = 0;
    let end = loop {
        if let Some(end) = head_end(&buf[..len]) {
            break end;
        }
        if len == buf.len() {
            let _ = s
                .write_all(response_head(431, "Request Header Fields Too Large", "", 0).as_bytes());
            return Err(format!("request head over {MAX_REQUEST_HEAD} bytes"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            let _ = s.write_all(response_head(408, "Request Timeout", "", 0).as_bytes());
            return Err("no complete request head within 5 s".into());
        }
        match s.read(&mut buf[len..]) {
            Ok(0) => return Err("closed before a complete request head".into()),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let _ = s.write_all(response_head(408, "Request Timeout", "", 0).as_bytes());
                return Err("no complete request head within 5 s".into());
            }
            Err(e) => return Err(format!("reading the request: {e}")),
        }
    };
    match decide(&buf[..end], webroot.is_some()) {
        Decision::Redirect {
            location,
            head_only,
        } => {
            let body = if head_only { "" } else { "Moved to https.\n" };
            let head = response_head(
                301,
                "Moved Permanently",
                &format!("Location: {location}\r\nContent-Type: text/plain\r\n"),
                body.len() as u64,
            );
            s.write_all(format!("{head}{body}").as_bytes())
                .map_err(|e| format!("writing the answer: {e}"))
        }
        Decision::Challenge { token, head_only } => {
            let root = webroot.unwrap_or_default();
            match open_challenge(root, &token) {
                Ok((mut f, size)) => {
                    let head = response_head(200, "OK", "Content-Type: text/plain\r\n", size);
                    let mut body = Vec::with_capacity(size as usize);
                    if !head_only {
                        (&mut f)
                            .take(size)
                            .read_to_end(&mut body)
                            .map_err(|e| format!("reading {token}: {e}"))?;
                    }
                    let mut out = head.into_bytes();
                    out.extend_from_slice(&body);
                    s.write_all(&out)
                        .map_err(|e| format!("writing the answer: {e}"))
                }
                Err(why) => {
                    let _ = s.write_all(response_head(404, "Not Found", "", 0).as_bytes());
                    Err(format!("challenge {token}: {why}"))
                }
            }
        }
        Decision::Error { status, reason } => {
            let _ = s.write_all(response_head(status, reason, "", 0).as_bytes());
            Err(format!("answered {status} {reason}"))
        }
    }
}

/// The challenge file, where Certbot's webroot authenticator writes it:
/// `WEBROOT/.well-known/acme-challenge/TOKEN`. Each component below the webroot is opened with
/// O_NOFOLLOW from the one before (so no symlink leads out of the webroot); the file must be a
/// regular file, is opened without blocking (a FIFO cannot stall the thread), and is small.
fn open_challenge(root: &str, token: &str) -> Result<(File, u64), String> {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd};
    let at = |dir: libc::c_int, name: &str, flags: libc::c_int| -> Result<OwnedFd, String> {
        let c = CString::new(name).map_err(|_| "a NUL in the path".to_string())?;
        // SAFETY: `c` is a valid NUL-terminated string; `dir` is AT_FDCWD or an fd we own.
        let fd = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                    format!("{name} is a symlink or not a directory (not followed)")
                }
                _ => format!("{name}: {}", words(&e)),
            });
        }
        // SAFETY: openat returned a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let dir = libc::O_RDONLY | libc::O_DIRECTORY;
    let root = at(libc::AT_FDCWD, root, dir)?;
    let wk = at(root.as_raw_fd(), ".well-known", dir | libc::O_NOFOLLOW)?;
    let ch = at(wk.as_raw_fd(), "acme-challenge", dir | libc::O_NOFOLLOW)?;
    let f = File::from(at(
        ch.as_raw_fd(),
        token,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
    )?);
    let meta = f.metadata().map_err(|e| words(&e))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_CHALLENGE_FILE {
        return Err(format!("larger than {MAX_CHALLENGE_FILE} bytes"));
    }
    Ok((f, meta.len()))
}

/// An I/O error's text without Rust's "(os error N)" suffix.
fn words(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
