//! The sockets systemd passed (`LISTEN_FDS`), held for the `systemd` rules that will take them.
//!
//! Until a rule takes one, each passed fd is marked RESERVED in the fd table: the program's
//! `close`, `close_range` and `closefrom` skip it (a daemon that closes fds 3..1023 at start
//! still gets its socket when it binds), and a `dup2`/`dup3` onto it first moves it elsewhere.

use core::sync::atomic::{AtomicI32, Ordering};

use libc::c_int;
use sockswap_core::activation::{self, PassedFd};

use crate::fdtable::{self, EMPTY, RESERVED};
use crate::log::log;
use crate::sys;

pub struct Activation {
    fds: Vec<PassedFd>,
    /// The fd number each passed socket lives at now, -1 once taken.
    live: Vec<AtomicI32>,
}

impl Activation {
    /// Reads the variables at initialisation (may allocate). Malformed values are logged and
    /// leave nothing to take: a `systemd` rule then fails its bind with a clear message.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        rules: &[sockswap_core::Rule],
    ) -> Activation {
        let wanted = rules
            .iter()
            .any(|r| matches!(r.action, sockswap_core::Action::Systemd(_)));
        let fds = if wanted {
            match activation::passed_fds(
                env("LISTEN_PID").as_deref(),
                env("LISTEN_FDS").as_deref(),
                env("LISTEN_FDNAMES").as_deref(),
                sys::getpid(),
                rules,
            ) {
                Ok(f) => f,
                Err(e) => {
                    log!(Error, "socket activation: {e}");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let live = fds.iter().map(|p| AtomicI32::new(p.fd)).collect();
        for p in &fds {
            if let Some(slot) = fdtable::get_or_map(p.fd) {
                slot.lock().set_kind(RESERVED);
            }
        }
        Activation { fds, live }
    }

    /// Takes the socket a rule asking for `want` gets (see `activation::eligible`).
    pub fn take(&self, want: Option<&str>) -> Option<c_int> {
        for i in activation::eligible(&self.fds, want) {
            let Some(cell) = self.live.get(i) else {
                continue;
            };
            let fd = cell.swap(-1, Ordering::AcqRel);
            if fd >= 0 {
                if let Some(slot) = fdtable::get(fd) {
                    slot.lock().set_kind(EMPTY);
                }
                return Some(fd);
            }
        }
        None
    }

    /// Gives back a socket `take` returned and the caller could not use.
    pub fn put_back(&self, fd: c_int) {
        if let Some(cell) = self
            .fds
            .iter()
            .position(|p| p.fd == fd)
            .and_then(|i| self.live.get(i))
        {
            cell.store(fd, Ordering::Release);
            if let Some(slot) = fdtable::get(fd) {
                slot.lock().set_kind(RESERVED);
            }
        }
    }

    /// What a log line says about what is left.
    pub fn describe(&self, want: Option<&str>) -> &'static str {
        if self.fds.is_empty() {
            "systemd passed no sockets to this process (LISTEN_FDS unset, or LISTEN_PID is another process)"
        } else if want.is_some() && activation::eligible(&self.fds, want).next().is_none() {
            "no passed socket has that name (LISTEN_FDNAMES)"
        } else {
            "every passed socket this rule may take is already in use"
        }
    }

    /// `fd` (RESERVED) is about to be overwritten by the program's dup2/dup3: move our socket to
    /// another number first.
    pub fn evacuate(&self, fd: c_int) {
        let Some(cell) = self.live.iter().find(|c| c.load(Ordering::Acquire) == fd) else {
            return;
        };
        match sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) {
            Ok(new) => {
                let new = new as c_int;
                if let Some(slot) = fdtable::get_or_map(new) {
                    slot.lock().set_kind(RESERVED);
                }
                cell.store(new, Ordering::Release);
                if let Some(slot) = fdtable::get(fd) {
                    slot.lock().set_kind(EMPTY);
                }
                // The program's dup2/dup3 now replaces (and closes) the old number.
            }
            Err(e) => log!(
                Warn,
                "cannot move passed socket {fd} out of the way: {err}",
                err = sockswap_core::errno::Errno(e)
            ),
        }
    }
}

/// The passed sockets still held, in `[first, last]`, ascending, into `out`; returns how many.
pub fn held_in(first: u32, last: u32, out: &mut [c_int; activation::MAX_FDS]) -> usize {
    let Some(rt) = crate::runtime::get() else {
        return 0;
    };
    let mut n = 0;
    for cell in &rt.activation.live {
        let fd = cell.load(Ordering::Acquire);
        if fd >= 0 && (first..=last).contains(&(fd as u32)) {
            if let Some(o) = out.get_mut(n) {
                *o = fd;
                n += 1;
            }
        }
    }
    out[..n].sort_unstable();
    n
}

/// Is `fd` a passed socket we hold?
pub fn is_held(fd: c_int) -> bool {
    fdtable::get(fd).is_some_and(|s| s.kind() == RESERVED)
}
