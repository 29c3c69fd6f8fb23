//! Converted sockets across `exec`: the exec hooks write the record of every converted socket
//! that survives the exec (no FD_CLOEXEC) into `SOCKSWAP_INHERIT` (format and checks:
//! `sockswap_core::inherit`), and the next image's shim adopts, at load, every fd that holds one
//! of those sockets — at the number it was written with or at another one (a `posix_spawn` file
//! action or a child's `dup2` to fd 0/1 moves it). An fd is adopted only if its inode and
//! device are the entry's, so a real Unix socket the program opened stays what it is.

use core::fmt::Write;

use sockswap_core::inherit::{self, Entry};
use sockswap_core::template::SliceWriter;

use crate::fdtable::{self, SlotData, CONVERTED, EMPTY};
use crate::log::log;
use crate::sys;

/// The flags that describe a converted socket in any process (not work in progress here).
const CARRIED: u16 = fdtable::LISTENING
    | fdtable::ACCEPTED
    | fdtable::SOCKETBOX_A
    | fdtable::SOCKETBOX_B
    | fdtable::REAL_TCP
    | fdtable::HANDED_OVER
    | fdtable::LAZY_PEER
    | fdtable::FOREIGN
    | fdtable::HYBRID
    | fdtable::SYSTEMD;

/// Writes `SOCKSWAP_INHERIT=...` and a NUL into `out`; its length with the NUL, or 0 when no
/// converted socket survives an exec (or none fits). Entries that do not fit are left out.
pub fn write_variable(out: &mut [u8]) -> usize {
    let mut w = SliceWriter { buf: out, len: 0 };
    if w.write_str(inherit::VAR).and_then(|_| w.put(b"=")).is_err() {
        return 0;
    }
    let start = w.len;
    fdtable::for_range(0, u32::MAX, |fd, slot| {
        if slot.kind() != CONVERTED {
            return;
        }
        let data = {
            let mut g = slot.lock();
            if g.kind() != CONVERTED {
                return;
            }
            *g.data()
        };
        if data.family == libc::AF_UNIX || data.flags & fdtable::PENDING != 0 {
            return; // a Unix socket redirected, or a handshake still running
        }
        let survives = sys::fcntl(fd, libc::F_GETFD, 0)
            .is_ok_and(|f| f as libc::c_int & libc::FD_CLOEXEC == 0);
        let Some(st) = survives.then(|| sys::fstat(fd).ok()).flatten() else {
            return;
        };
        let entry = Entry {
            fd,
            dev: st.st_dev,
            ino: st.st_ino,
            family: data.family,
            sotype: data.sotype,
            protocol: data.protocol,
            flags: data.flags & CARRIED,
            rule: data.rule,
            local: data.local,
            peer: data.peer,
        };
        let before = w.len;
        if entry.write(&mut w).and_then(|_| w.put(b";")).is_err() {
            w.len = before; // (left out: it does not fit)
        }
    });
    if w.len == start || w.put(b"\0").is_err() {
        return 0;
    }
    w.len
}

/// Adopts the inherited converted sockets named in the variable's `value` (at load).
pub fn adopt(value: &str) {
    let entries = inherit::parse(value);
    let Some(highest) = entries.iter().map(|e| e.fd).max() else {
        return;
    };
    // Every number an inherited socket may have been moved to: the listed ones and below.
    for fd in 0..=highest.clamp(16, 1023) {
        let Ok(st) = sys::fstat(fd) else { continue };
        if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            continue;
        }
        let Some(e) = entries
            .iter()
            .find(|e| e.dev == st.st_dev && e.ino == st.st_ino)
        else {
            continue;
        };
        // A real socket of the pretended family needs no pretending (and is not ours).
        if crate::swap::kernel_kind(fd).map_or(true, |k| k.0 == e.family) {
            continue;
        }
        let Some(slot) = fdtable::get_or_map(fd) else {
            continue;
        };
        let mut g = slot.lock();
        if g.kind() != EMPTY {
            continue;
        }
        let mut data = SlotData::new(e.family, e.sotype, e.protocol);
        data.flags = e.flags & CARRIED;
        data.rule = e.rule;
        data.local = e.local;
        data.peer = e.peer;
        g.set(CONVERTED, data);
        log!(Debug, "fd {fd}: inherited converted socket adopted");
    }
}
