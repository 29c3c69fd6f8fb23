//! Relay, for targets that cannot receive an fd: connect to a TCP or Unix address, write an
//! optional PROXY v1/v2 header carrying the real client and destination, then copy both ways.
//! One thread per direction; bounded by `MAX_RELAYS`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sockswap_core::socketbox::table::Tuple;
use sockswap_core::socketbox::wire::{self, ProxyVersion};

use crate::config::RelayTo;
use crate::deliver::Pending;
use crate::shared::{remote_of, Shared};
use crate::status::Event;

pub const MAX_RELAYS: usize = 4096;
pub static ACTIVE: AtomicUsize = AtomicUsize::new(0);

fn addrs(t: &Tuple) -> (SocketAddr, SocketAddr) {
    let un = |ip: std::net::Ipv6Addr, port| match ip.to_ipv4_mapped() {
        Some(v4) => SocketAddr::new(v4.into(), port),
        None => SocketAddr::new(ip.into(), port),
    };
    (un(t.remote_ip, t.remote_port), un(t.local_ip, t.local_port))
}

/// Where a relay copies to.
pub enum Upstream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Upstream {
    fn try_clone(&self) -> std::io::Result<Upstream> {
        Ok(match self {
            Upstream::Tcp(s) => Upstream::Tcp(s.try_clone()?),
            Upstream::Unix(s) => Upstream::Unix(s.try_clone()?),
        })
    }
    fn shutdown_write(&self) {
        let _ = match self {
            Upstream::Tcp(s) => s.shutdown(Shutdown::Write),
            Upstream::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

impl AsRawFd for Upstream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Upstream::Tcp(s) => s.as_raw_fd(),
            Upstream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Upstream {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Upstream::Tcp(s) => s.read(b),
            Upstream::Unix(s) => s.read(b),
        }
    }
}
impl Write for Upstream {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Upstream::Tcp(s) => s.write(b),
            Upstream::Unix(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn connect(to: &RelayTo) -> std::io::Result<Upstream> {
    Ok(match to {
        RelayTo::Tcp(a) => {
            let s = TcpStream::connect_timeout(a, Duration::from_secs(10))?;
            let _ = s.set_nodelay(true);
            Upstream::Tcp(s)
        }
        RelayTo::Unix(p) => Upstream::Unix(UnixStream::connect(p)?),
    })
}

pub fn start(sh: &Arc<Shared>, name: &str, to: &RelayTo, proxy: Option<ProxyVersion>, p: Pending) {
    let tname = format!("relay:{name}");
    if ACTIVE.load(Ordering::Relaxed) >= MAX_RELAYS {
        sh.refuse(&tname, p, "too many relays");
        return;
    }
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    let sh = sh.clone();
    let to = to.clone();
    let spawned = std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            relay(&sh, &tname, &to, proxy, p);
            ACTIVE.fetch_sub(1, Ordering::Relaxed);
        });
    if spawned.is_err() {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

fn relay(sh: &Shared, tname: &str, to: &RelayTo, proxy: Option<ProxyVersion>, p: Pending) {
    let mut up = match connect(to) {
        Ok(u) => u,
        Err(e) => {
            sh.stats.count(tname, Event::Refused);
            crate::log!(
                Warn,
                "refused",
                target = tname,
                remote = remote_of(&p.tuple),
                reason = format!("connect: {e}")
            );
            return;
        }
    };
    if let Some(v) = proxy {
        let (src, dst) = addrs(&p.tuple);
        let mut hdr = [0u8; 536];
        let n = wire::proxy_header(v, src, dst, &mut hdr);
        if let Err(e) = up.write_all(&hdr[..n]) {
            sh.stats.count(tname, Event::Refused);
            crate::log!(
                Warn,
                "refused",
                target = tname,
                reason = format!("writing the PROXY header: {e}")
            );
            return;
        }
    }
    sh.stats.count(tname, Event::Delivered);
    copy_both_ways(p.fd, up);
}

/// Copy `client` → `up` on this thread and `up` → `client` on another, each direction's end
/// passed on as a write shutdown; returns when both are done.
pub fn copy_both_ways(client: OwnedFd, mut up: Upstream) {
    let client = UnixOrTcp::from(client);
    let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), up.try_clone()) else {
        return;
    };
    let t = std::thread::spawn(move || {
        let _ = copy(&mut u2, &mut c2.0);
        let _ = c2.0.shutdown(Shutdown::Write);
    });
    let mut c1 = client;
    let _ = copy(&mut c1.0, &mut up);
    up.shutdown_write();
    let _ = t.join();
}

/// Bytes moved per splice (or read/write): large, so a bulk stream costs few syscalls
/// (io::copy's 8 KiB buffer made a relay slower than socat).
const COPY_CHUNK: usize = 256 * 1024;

/// Copy until EOF or an error: spliced through a pipe (no copy through user memory), or read
/// and written when the kernel cannot splice these sockets.
fn copy<F: Read + AsRawFd, T: Write + AsRawFd>(from: &mut F, to: &mut T) -> std::io::Result<()> {
    match splice_all(from.as_raw_fd(), to.as_raw_fd()) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        done => return done,
    }
    let mut buf = vec![0u8; COPY_CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}

/// `from` → pipe → `to` with splice(2) until EOF. EINVAL before any byte moved means these
/// sockets cannot splice (the caller copies instead).
fn splice_all(from: RawFd, to: RawFd) -> std::io::Result<()> {
    let mut pipe = [0; 2];
    // SAFETY: pipe2 fills two fds, which we own from here on.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: just created, owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE;
    loop {
        // SAFETY: splice between fds we hold, no offsets.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                w.as_raw_fd(),
                std::ptr::null_mut(),
                COPY_CHUNK,
                flags,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(());
        }
        let mut left = n as usize;
        while left > 0 {
            // SAFETY: as above.
            let m = unsafe {
                libc::splice(
                    r.as_raw_fd(),
                    std::ptr::null_mut(),
                    to,
                    std::ptr::null_mut(),
                    left,
                    flags,
                )
            };
            if m < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // Bytes are in the pipe already: EINVAL here is a real failure, not "cannot splice".
                return Err(if e.raw_os_error() == Some(libc::EINVAL) {
                    std::io::Error::from_raw_os_error(libc::EIO)
                } else {
                    e
                });
            }
            left -= m as usize;
        }
    }
}

/// The accepted socket as a TcpStream (a Unix-listener connection works the same for read/write/shutdown).
struct UnixOrTcp(TcpStream);
impl From<OwnedFd> for UnixOrTcp {
    fn from(fd: OwnedFd) -> Self {
        UnixOrTcp(TcpStream::from(fd))
    }
}
impl UnixOrTcp {
    fn try_clone(&self) -> std::io::Result<UnixOrTcp> {
        Ok(UnixOrTcp(self.0.try_clone()?))
    }
}
