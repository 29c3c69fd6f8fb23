//! Replacing a program's socket in place: build a Unix socket that carries the original's file
//! state (O_NONBLOCK, O_ASYNC, owner, signal) and recorded SOL_SOCKET options, then `dup3` it
//! over the fd number (keeping FD_CLOEXEC), close the temporary and replay epoll registrations.
//! Until `install`, the program's fd is untouched, so every failure before it leaves the
//! original socket as it was.
//!
//! Also the helpers every kind of swap shares (hooks, vsock, hybrid, netns, socketbox): the
//! record a swap starts from and what the kernel says a socket is.

use core::sync::atomic::{AtomicU32, Ordering};

use core::net::SocketAddr;

use libc::{c_int, c_long, socklen_t};
use sockswap_core::addr::{self, Decoded, UnixSockaddr};

use crate::fdtable::{Guard, Slot, SlotData, EMPTY, OWNER_SET, TRACKED};
use crate::sys;

// Linux fcntl commands and struct the libc crate does not export (asm-generic/fcntl.h).
pub const F_SETSIG: c_int = 10;
const F_GETSIG: c_int = 11;
pub const F_SETOWN_EX: c_int = 15;
const F_GETOWN_EX: c_int = 16;

#[repr(C)]
struct FOwnerEx {
    kind: c_int,
    pid: libc::pid_t,
}

/// File status flags that belong to the socket description and must survive the swap.
const CARRIED_FLAGS: c_int = libc::O_NONBLOCK | libc::O_ASYNC;

/// A replacement socket not yet installed; closed on drop unless installed.
pub struct Replacement {
    pub fd: c_int,
    flags: c_int,
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if self.fd >= 0 {
            sys::close(self.fd);
        }
    }
}

impl Replacement {
    /// A new AF_UNIX socket of `sotype` with the owner, signal and options of `from`. Its file
    /// status flags are applied by `apply_flags` (after a blocking connect, if there is one).
    pub fn new(from: c_int, sotype: c_int, data: &mut SlotData) -> Result<Replacement, c_int> {
        Self::with_family(from, libc::AF_UNIX, sotype, data)
    }

    /// As `new`, with a socket of `family` (AF_UNIX, AF_VSOCK).
    pub fn with_family(
        from: c_int,
        family: c_int,
        sotype: c_int,
        data: &mut SlotData,
    ) -> Result<Replacement, c_int> {
        let fd = sys::socket(family, sotype | libc::SOCK_CLOEXEC, 0)?;
        Self::adopt(fd, from, data)
    }

    /// The same for an existing socket `fd` (one systemd passed), which becomes ours to close.
    pub fn adopt(fd: c_int, from: c_int, data: &mut SlotData) -> Result<Replacement, c_int> {
        let flags = sys::fcntl(from, libc::F_GETFL, 0)
            .map(|f| f as c_int & CARRIED_FLAGS)
            .unwrap_or(0);
        let r = Replacement { fd, flags };
        // Owner and signal only matter with O_ASYNC, or if fcntl set them: ask the kernel only
        // then (each question is a syscall on the connect path).
        if flags & libc::O_ASYNC != 0 || data.flags & OWNER_SET != 0 {
            let mut owner = FOwnerEx { kind: 0, pid: 0 };
            if sys::fcntl(from, F_GETOWN_EX, (&raw mut owner) as c_long).is_ok() && owner.pid != 0 {
                let _ = sys::fcntl(fd, F_SETOWN_EX, (&raw const owner) as c_long);
            }
            if let Ok(sig) = sys::fcntl(from, F_GETSIG, 0) {
                if sig != 0 {
                    let _ = sys::fcntl(fd, F_SETSIG, sig);
                }
            }
        }
        for o in data
            .opts_mut()
            .iter_mut()
            .filter(|o| o.level == libc::SOL_SOCKET)
        {
            // AF_UNIX lacks some options (SO_REUSEPORT); the program already saw success, so
            // getsockopt will answer the recorded value for those.
            let r = sys::setsockopt(fd, o.level, o.name, o.val.as_ptr().cast(), o.len as u32);
            o.emulated = r.is_err();
        }
        Ok(r)
    }

    /// Takes charge of an existing socket `fd`, to be given the file status `flags` (no
    /// options replayed: see `adopt` for that).
    pub fn with_flags(fd: c_int, flags: c_int) -> Replacement {
        Replacement {
            fd,
            flags: flags & CARRIED_FLAGS,
        }
    }

    /// Gives the socket up without closing it.
    pub fn into_raw(mut self) -> c_int {
        core::mem::replace(&mut self.fd, -1)
    }

    pub fn flags(&self) -> c_int {
        self.flags
    }

    pub fn nonblocking(&self) -> bool {
        self.flags & libc::O_NONBLOCK != 0
    }

    /// O_NONBLOCK now; O_ASYNC only once installed, because the kernel records the fd number
    /// it reports in `si_fd` when O_ASYNC is switched on.
    pub fn apply_flags(&self) {
        let early = self.flags & !libc::O_ASYNC;
        if early != 0 {
            let _ = sys::fcntl(self.fd, libc::F_SETFL, early as c_long);
        }
    }

    /// Puts the replacement at `target`'s number, keeping its FD_CLOEXEC, and replays the
    /// epoll registrations the kernel drops with the old socket.
    pub fn install(mut self, target: c_int, data: &SlotData) -> Result<(), c_int> {
        let fdflags = sys::fcntl(target, libc::F_GETFD, 0)?;
        let cloexec = if fdflags as c_int & libc::FD_CLOEXEC != 0 {
            libc::O_CLOEXEC
        } else {
            0
        };
        // Registrations of the old file under this fd number: the kernel removes them only
        // when the old file's last descriptor closes, which another process (a fork) may hold.
        for reg in data.epolls() {
            let _ = sys::epoll_ctl(reg.epfd, libc::EPOLL_CTL_DEL, target, core::ptr::null_mut());
        }
        sys::dup3(self.fd, target, cloexec)?;
        sys::close(self.fd);
        self.fd = -1;
        if self.flags & libc::O_ASYNC != 0 {
            let _ = sys::fcntl(target, libc::F_SETFL, self.flags as c_long);
        }
        for reg in data.epolls() {
            let mut ev = libc::epoll_event {
                events: reg.events,
                u64: reg.data,
            };
            let _ = sys::epoll_ctl(reg.epfd, libc::EPOLL_CTL_ADD, target, &mut ev);
        }
        Ok(())
    }
}

/// `bind_unix`'s answer when the path is a live socket of this very process.
pub const OWN_PATH: c_int = -2;

/// Binds `fd` to `sa`. A socket file left by a dead server is replaced; a live one is not, and
/// neither is anything that is not a socket.
pub fn bind_unix(
    fd: c_int,
    sotype: c_int,
    sa: &UnixSockaddr,
    claimant: Option<SocketAddr>,
) -> Result<(), c_int> {
    let attempt = || sys::bind(fd, sa.bytes.as_ptr().cast(), sa.len as u32).map(|_| ());
    match attempt() {
        Err(libc::EADDRINUSE) => {}
        other => return other,
    }
    let Some(cpath) = sa.c_path() else {
        return Err(libc::EADDRINUSE);
    };
    let st = sys::lstat(cpath)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(libc::EADDRINUSE);
    }
    if claimant.is_some_and(|a| crate::fdtable::owned_here_for_other(st.st_dev, st.st_ino, a)) {
        // Our own socket, bound a moment ago and maybe not listening yet: a dual-stack program
        // binding [::]:P after 0.0.0.0:P. Not stale; the caller blackholes the second bind.
        return Err(OWN_PATH);
    }
    if !is_stale(sotype, sa) {
        return Err(libc::EADDRINUSE);
    }
    let _ = sys::unlink(cpath);
    attempt()
}

/// Nobody accepts on this socket file: a connect is refused.
fn is_stale(sotype: c_int, sa: &UnixSockaddr) -> bool {
    let Ok(probe) = sys::socket(
        libc::AF_UNIX,
        sotype | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        0,
    ) else {
        return false;
    };
    let r = sys::connect(probe, sa.bytes.as_ptr().cast(), sa.len as u32);
    sys::close(probe);
    r == Err(libc::ECONNREFUSED)
}

/// Connects `fd` to `sa` and waits at most `timeout_ms` for room in the listener's backlog
/// (a Unix connect never returns EINPROGRESS, so a full backlog would otherwise block forever
/// or fail with EAGAIN, which TCP programs do not expect).
pub fn connect_unix(fd: c_int, sa: &UnixSockaddr, timeout_ms: i64) -> Result<(), c_int> {
    if timeout_ms > 0 {
        let tv = libc::timeval {
            tv_sec: timeout_ms / 1000,
            tv_usec: (timeout_ms % 1000) * 1000,
        };
        let size = core::mem::size_of::<libc::timeval>() as u32;
        let _ = sys::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const tv).cast(),
            size,
        );
    }
    let r = sys::connect(fd, sa.bytes.as_ptr().cast(), sa.len as u32).map(|_| ());
    if timeout_ms > 0 {
        let zero = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let size = core::mem::size_of::<libc::timeval>() as u32;
        let _ = sys::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const zero).cast(),
            size,
        );
    }
    r
}

static EPHEMERAL: AtomicU32 = AtomicU32::new(0);
const EPHEMERAL_LO: u32 = 32768;
const EPHEMERAL_SPAN: u32 = 60999 - 32768 + 1;

/// The next port of the process-wide ephemeral sequence (32768–60999), starting at a
/// pid-dependent place so that processes sharing a directory rarely collide.
pub fn next_ephemeral_port() -> u16 {
    let mut n = EPHEMERAL.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        let seed = sys::getpid().wrapping_mul(2_654_435_761) % EPHEMERAL_SPAN;
        let _ = EPHEMERAL.compare_exchange(1, seed + 2, Ordering::Relaxed, Ordering::Relaxed);
        n = seed + 1;
    }
    (EPHEMERAL_LO + n % EPHEMERAL_SPAN) as u16
}

// ---------------------------------------------------------------- records and kernel facts

/// A copy of `fd`'s record and its kind; for a socket that did not pass our `socket()` hook
/// (EMPTY), a fresh record from the kernel's answers. The copy is taken and the slot released
/// at once: what follows may block.
pub(crate) fn snapshot(
    fd: c_int,
    slot: &'static Slot,
    sotype: c_int,
) -> Result<(u32, SlotData), c_int> {
    {
        let mut g = slot.lock();
        if g.kind() != EMPTY {
            return Ok((g.kind(), *g.data()));
        }
    }
    let (family, _, protocol) = kernel_kind(fd).ok_or(libc::EBADF)?;
    Ok((EMPTY, SlotData::new(family, sotype, protocol)))
}

/// The record a swap starts from: what `socket()` recorded (options, epoll registrations), or a
/// fresh one for a socket that did not pass our hook. The caller holds the slot.
pub(crate) fn record_to_swap(g: &mut Guard, fd: c_int, sotype: c_int) -> Result<SlotData, c_int> {
    match g.kind() {
        TRACKED => Ok(*g.data()),
        EMPTY => {
            let (family, _, protocol) = kernel_kind(fd).ok_or(libc::EBADF)?;
            Ok(SlotData::new(family, sotype, protocol))
        }
        _ => Err(libc::EINVAL),
    }
}

/// The family, type and protocol of `fd`, asked of the kernel.
pub(crate) fn kernel_kind(fd: c_int) -> Option<(c_int, c_int, c_int)> {
    let family = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).ok()?;
    let sotype = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE).ok()?;
    let protocol = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL).unwrap_or(0);
    Some((family, sotype, protocol))
}

/// The address an IP socket is really bound to, if it was bound to a port.
pub(crate) fn real_local_address(fd: c_int) -> Option<SocketAddr> {
    let mut buf = [0u8; 28];
    let mut len = buf.len() as socklen_t;
    let real = crate::real::getsockname::get();
    // SAFETY: buf is valid for len bytes.
    if unsafe { real(fd, buf.as_mut_ptr().cast(), &mut len) } < 0 {
        return None;
    }
    match addr::decode(buf.get(..len as usize)?) {
        Decoded::Ip(sa) if sa.port() != 0 => Some(sa),
        _ => None,
    }
}
