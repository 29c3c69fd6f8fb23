//! The kernel's own answers for converted sockets: one real loopback TCP/UDP socket per
//! family and state (a fresh socket, a listener, both ends of a connection, an unconnected and
//! a connected datagram socket), made the first time a converted socket of that family asks.
//! getsockopt and ioctl ask the template with the program's own buffer and length, so return
//! value, errno, returned length and fixed default values are the kernel's, for every option
//! and buffer size; the hooks then put in what belongs to the converted socket itself (options
//! the program set, SO_ERROR, SO_COOKIE, SO_PEERNAME, bytes queued).
//!
//! Cost: at most 12 fds per process (6 per family, only for the families and kinds in use),
//! kept at high numbers (below 1024) with FD_CLOEXEC, and about 50 µs once to make a family's
//! set. A program may close them behind our back (closefrom, close_range): each use checks with
//! one `fstat` that the number still holds the socket we made (inode and device), and makes a
//! new set otherwise. Nothing here allocates or locks; racing threads each make a set and the
//! loser closes its own.

use core::sync::atomic::{AtomicU64, Ordering};

use libc::{c_int, socklen_t};

use crate::fdtable::{self, SlotData};
use crate::{runtime, sys};

pub use sockswap_core::sockopt::{State, STATES};

/// Per (family, state): 0 when none, else the template's inode in the high half and its fd in
/// the low half (socket inodes are 32-bit: sockfs numbers them with `get_next_ino`).
static TEMPLATES: [AtomicU64; 2 * STATES] = [const { AtomicU64::new(0) }; 2 * STATES];
/// The device number of sockfs (the same for every socket).
static SOCKFS_DEV: AtomicU64 = AtomicU64::new(u64::MAX);

/// The state whose answers a converted socket gives.
pub fn state_of(d: &SlotData) -> State {
    if d.sotype == libc::SOCK_DGRAM {
        return match d.peer {
            Some(_) => State::Connected,
            None => State::Unconnected,
        };
    }
    if d.flags & fdtable::LISTENING != 0 {
        State::Listening
    } else if d.flags & fdtable::PENDING != 0 || d.peer.is_none() {
        State::Fresh
    } else if d.flags & fdtable::ACCEPTED != 0 {
        State::Accepted
    } else {
        State::Client
    }
}

fn index(family: c_int, state: State) -> Option<usize> {
    let f = match family {
        libc::AF_INET => 0,
        libc::AF_INET6 => 1,
        _ => return None,
    };
    Some(f * STATES + state as usize)
}

/// A real socket of `family` in `state`, or None when none can be made (no loopback).
pub fn template(family: c_int, state: State) -> Option<c_int> {
    let i = index(family, state)?;
    let cell = TEMPLATES.get(i)?;
    let v = cell.load(Ordering::Acquire);
    if v != 0 {
        let fd = v as u32 as c_int;
        if still_ours(fd, v >> 32) {
            return Some(fd);
        }
        // Closed or replaced by the program: forget it (the number is not ours to close).
        let _ = cell.compare_exchange(v, 0, Ordering::AcqRel, Ordering::Relaxed);
    }
    if !runtime::same_process() {
        return None; // a vfork child must not change what the parent's table says
    }
    make_set(family, state);
    let v = cell.load(Ordering::Acquire);
    (v != 0).then_some(v as u32 as c_int)
}

fn still_ours(fd: c_int, ino: u64) -> bool {
    sys::fstat(fd).is_ok_and(|st| {
        st.st_mode & libc::S_IFMT == libc::S_IFSOCK
            && st.st_ino == ino
            && st.st_dev == SOCKFS_DEV.load(Ordering::Relaxed)
    })
}

/// Moves `fd` to a high number (out of the way of programs that expect the lowest free fd) and
/// records it for (family, state); closes it if another thread was first.
fn install(family: c_int, state: State, fd: c_int) {
    let Some(cell) = index(family, state).and_then(|i| TEMPLATES.get(i)) else {
        sys::close(fd);
        return;
    };
    let base = (sys::getrlimit_nofile_soft().min(1024) as c_int - 64).max(3);
    let high = match sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, base as libc::c_long) {
        Ok(h) => {
            sys::close(fd);
            h as c_int
        }
        Err(_) => fd,
    };
    let Ok(st) = sys::fstat(high) else {
        sys::close(high);
        return;
    };
    if st.st_ino == 0 || st.st_ino > u64::from(u32::MAX) {
        sys::close(high);
        return;
    }
    SOCKFS_DEV.store(st.st_dev, Ordering::Relaxed);
    let v = (st.st_ino << 32) | u64::from(high as u32);
    let current = cell.load(Ordering::Acquire);
    let replace = current == 0 || !still_ours(current as u32 as c_int, current >> 32);
    if !(replace
        && cell
            .compare_exchange(current, v, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok())
    {
        sys::close(high);
    }
}

/// Makes every template of `family` for the kind of `state` (stream or datagram).
fn make_set(family: c_int, state: State) {
    let stream = !matches!(state, State::Unconnected | State::Connected);
    let sotype = if stream {
        libc::SOCK_STREAM
    } else {
        libc::SOCK_DGRAM
    };
    let new = || sys::socket(family, sotype | libc::SOCK_CLOEXEC, 0);
    let Ok(first) = new() else { return };
    let mut sa = [0u8; 28];
    let len = loopback_any_port(family, &mut sa);
    let mut name = [0u8; 28];
    let bound = sys::bind(first, sa.as_ptr().cast(), len)
        .and_then(|_| match stream {
            true => sys::listen(first, 4),
            false => Ok(0),
        })
        .and_then(|_| sys::socket_name(libc::SYS_getsockname, first, &mut name));
    let Ok(name_len) = bound else {
        sys::close(first);
        return;
    };
    let Ok(second) = new() else {
        sys::close(first);
        return;
    };
    if sys::connect(second, name.as_ptr().cast(), name_len as socklen_t).is_err() {
        sys::close(first);
        sys::close(second);
        return;
    }
    if stream {
        let accepted = sys::accept4(first, libc::SOCK_CLOEXEC);
        let fresh = new();
        install(family, State::Listening, first);
        install(family, State::Client, second);
        if let Ok(a) = accepted {
            install(family, State::Accepted, a);
        }
        if let Ok(f) = fresh {
            install(family, State::Fresh, f);
        }
    } else {
        install(family, State::Unconnected, first);
        install(family, State::Connected, second);
    }
}

/// The loopback address of `family` with port 0, into `sa`; its length.
fn loopback_any_port(family: c_int, sa: &mut [u8; 28]) -> socklen_t {
    let fam = (family as u16).to_ne_bytes();
    sa[0] = fam[0];
    sa[1] = fam[1];
    if family == libc::AF_INET {
        sa[4..8].copy_from_slice(&[127, 0, 0, 1]);
        16
    } else {
        sa[23] = 1; // ::1 (sin6_addr at offset 8)
        28
    }
}
