//! Epoll registrations survive a swap. The kernel keys a registration by (open file, fd number)
//! and drops it with the old socket, so a program that added its socket to an epoll instance
//! before `bind`/`connect` would wait forever on the socket that replaced it. The shim re-adds
//! what it saw the program register; the supervisor does not see `epoll_ctl`, so it reads the
//! registrations of the old socket from /proc/PID/fdinfo of each epoll instance of the program
//! (sockswap_core::procfs) and adds the replacement to the same instances under the same fd
//! number, events and data. The fd number must be the program's (its later EPOLL_CTL_MOD/DEL
//! name it), so the add is made from a thread with a private copy of our fd table holding the
//! replacement at that number.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use sockswap_core::procfs::{self, EpollWatch};

use super::PidFds;

/// The processes (thread-group ids) that created an epoll instance (trapped epoll_create*,
/// filter::EPOLL_CREATORS), or descend from one that did (a fork inherits its fds): only
/// their swaps scan for registrations. (An epoll fd inherited from outside `sockswap run`, or
/// received over SCM_RIGHTS, is not seen.)
#[derive(Default)]
pub(super) struct Users {
    inner: Mutex<UsersInner>,
}

#[derive(Default)]
struct UsersInner {
    with_epoll: HashSet<u32>,
    /// Thread -> (its process, the process's parent), from /proc, once per thread.
    family: HashMap<u32, (u32, u32)>,
}

impl Users {
    /// Thread `tid` created an epoll instance.
    pub(super) fn created(&self, tid: u32) {
        let mut u = self.inner.lock().unwrap();
        if let Some((tgid, _)) = u.lineage(tid) {
            u.with_epoll.insert(tgid);
        }
    }

    /// May the process of thread `tid` have an epoll instance?
    pub(super) fn may_watch(&self, tid: u32) -> bool {
        let mut u = self.inner.lock().unwrap();
        let mut pid = tid;
        // Up the ancestry (bounded): a fork shares its parent's epoll instances.
        for _ in 0..16 {
            let Some((tgid, parent)) = u.lineage(pid) else {
                return true; // cannot tell: look
            };
            if u.with_epoll.contains(&tgid) {
                return true;
            }
            if parent <= 1 || parent == std::process::id() {
                break;
            }
            pid = parent;
        }
        false
    }
}

impl UsersInner {
    fn lineage(&mut self, tid: u32) -> Option<(u32, u32)> {
        if let Some(&l) = self.family.get(&tid) {
            return Some(l);
        }
        if self.family.len() > 4096 {
            self.family.clear();
        }
        let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        let l = (field("Tgid:")?, field("PPid:")?);
        self.family.insert(tid, l);
        Some(l)
    }
}

/// One registration of the old socket: the program's epoll fd and what it asked for.
pub(super) struct Registration {
    epfd: i32,
    watch: EpollWatch,
}

/// The registrations of the program's `fd` (the socket with inode `ino`) in the epoll
/// instances of process `pid`.
pub(super) fn registrations(pid: u32, fd: i32, ino: u64) -> Vec<Registration> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return found;
    };
    for entry in dir.flatten() {
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.as_os_str() == "anon_inode:[eventpoll]");
        let Some(epfd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if !is_epoll {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")) else {
            continue;
        };
        found.extend(
            procfs::epoll_watches(&info)
                .filter(|w| w.fd == fd && w.ino == ino)
                .map(|watch| Registration { epfd, watch }),
        );
    }
    found
}

/// Adds `new` (now at the program's `fd`) to each epoll instance the old socket was in.
/// Returns how many could not be added.
pub(super) fn reregister(pid: u32, fd: i32, new: &OwnedFd, regs: &[Registration]) -> usize {
    let mut pidfds = PidFds::default();
    let instances: Vec<(OwnedFd, EpollWatch)> = regs
        .iter()
        .filter_map(|r| Some((pidfds.take(pid, r.epfd).ok()?, r.watch)))
        .collect();
    let failed_to_get = regs.len() - instances.len();
    let new_raw = new.as_raw_fd();
    let added = std::thread::scope(|s| {
        s.spawn(|| add_as(fd, new_raw, &instances))
            .join()
            .unwrap_or(0)
    });
    failed_to_get + instances.len() - added
}

/// On this thread, with a private copy of the fd table: `new` at number `fd`, added to each
/// instance. How many were added.
fn add_as(fd: i32, new: RawFd, instances: &[(OwnedFd, EpollWatch)]) -> usize {
    // SAFETY: unshare(CLONE_FILES) gives this thread its own copy of the fd table; nothing
    // else runs on this thread, and it ends when we return (its table with it).
    if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
        return 0;
    }
    // SAFETY: dup2 in our private table (whatever it held at `fd` is only our copy's).
    if unsafe { libc::dup2(new, fd) } != fd {
        return 0;
    }
    let mut added = 0;
    for (ep, w) in instances {
        let mut ev = libc::epoll_event {
            events: w.events,
            u64: w.data,
        };
        // SAFETY: ev is a valid epoll_event; ep and fd are open in this table.
        if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } == 0 {
            added += 1;
        }
    }
    // Close the private table's copies now: left to the thread's exit, the copy of the old
    // socket (ours, open when the table was copied) could outlive our answer, and with it the
    // old socket's registrations (a fresh TCP socket polls as EPOLLHUP).
    // SAFETY: close_range on our private table only.
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    added
}
