//! "A" delivery: one datagram (`0x00` + SCM_RIGHTS fd) per connection over a *connected*
//! SOCK_DGRAM socket per target, so a full receiver queue shows up as EAGAIN and as
//! not-writable in epoll; the target draining its queue makes our socket writable again.
//! Connections wait in a bounded per-target queue meanwhile; a slow target blocks only itself.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

use sockswap_core::socketbox::table::Tuple;
use sockswap_core::socketbox::wire::A_BYTE;

use crate::queue::{self, Admit, Since};
use crate::shared::Shared;
use crate::status::Event;
use crate::sys;

pub struct Pending {
    pub fd: OwnedFd,
    pub since: Instant,
    pub tuple: Tuple,
}

impl Since for Pending {
    fn since(&self) -> Instant {
        self.since
    }
}

/// Which A target a connection goes to, borrowed from the config where it can be (a path
/// template's expansion is owned): looking a known target up allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AKey<'a> {
    Path(std::borrow::Cow<'a, str>),
    Fd(RawFd),
    /// A supervised daemon's socket pair (an fd, named after the daemon in counters and logs).
    Daemon(&'a str, RawFd),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AKind {
    Path(String),
    /// An inherited fd (not ours to close).
    Fd(RawFd),
}

struct ATarget {
    name: String,
    kind: AKind,
    sock: Option<OwnedFd>,
    queue: VecDeque<Pending>,
    /// Places this target's queues hold in all workers (see `queue::reserve`).
    queued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    watching: bool,
    /// Our datagrams the receiver had not read at the last sample (after each send).
    unread: u64,
    /// The kernel's charge for one of our datagrams: the smallest non-zero SIOCOUTQ seen (the
    /// first send on a fresh socket leaves exactly one datagram unread); 0 until known.
    truesize: u64,
}

impl ATarget {
    fn raw(&self) -> Option<RawFd> {
        match &self.kind {
            AKind::Fd(fd) => Some(*fd),
            AKind::Path(_) => self.sock.as_ref().map(|s| s.as_raw_fd()),
        }
    }
}

/// Why a target could not be opened.
#[derive(Debug)]
pub struct OpenError {
    pub reason: String,
    pub security: bool,
}

/// Open a connected, non-blocking DGRAM socket to `path` without following symlinks anywhere in
/// the path, checking the socket file's owner when `owner` says so.
pub fn open_target(path: &str, owner: Option<u32>) -> Result<OwnedFd, OpenError> {
    let err = |reason: String, security: bool| OpenError { reason, security };
    let pfd = sys::open_path_nofollow(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EXDEV) => {
            err("the path contains a symlink (never followed)".into(), true)
        }
        _ => err(format!("cannot open: {e}"), false),
    })?;
    let st = sys::fstat(pfd.as_raw_fd()).map_err(|e| err(format!("fstat: {e}"), false))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => {}
        libc::S_IFLNK => return Err(err("is a symlink (never followed)".into(), true)),
        _ => return Err(err("not a socket".into(), true)),
    }
    if let Some(uid) = owner {
        if st.st_uid != uid {
            return Err(err(
                format!(
                    "socket owned by uid {} but the config requires uid {uid}",
                    st.st_uid
                ),
                true,
            ));
        }
    }
    let sock = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK)
        .map_err(|e| err(format!("socket: {e}"), false))?;
    // Connect through the O_PATH fd so the inode we checked is the one we reach.
    let via = format!("/proc/self/fd/{}", pfd.as_raw_fd());
    let addr =
        sys::RawAddr::from_unix_path(via.as_bytes()).map_err(|e| err(e.to_string(), false))?;
    match sys::connect(sock.as_raw_fd(), &addr) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::ENOENT)
                && !std::path::Path::new("/proc/self/fd").exists() =>
        {
            // No /proc (a chroot without it): the checks above were made on this path a moment ago.
            let addr = sys::RawAddr::from_unix_path(path.as_bytes())
                .map_err(|e| err(e.to_string(), false))?;
            sys::connect(sock.as_raw_fd(), &addr)
                .map_err(|e| err(format!("connect: {e}"), false))?;
        }
        Err(e) => return Err(err(format!("connect: {e}"), false)),
    }
    // Room for a few records: each in-flight datagram holds an fd.
    Ok(sock)
}

pub fn owner_for(path: &str, rules: &[(String, u32)]) -> Option<u32> {
    rules
        .iter()
        .filter(|(p, _)| path.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, u)| *u)
}

/// What a send attempt came to.
enum Sent {
    Ok,
    Again,
    /// The peer is gone or refuses: re-open once.
    Reconnect(io::Error),
    Failed(io::Error),
}

fn send_one(sock: RawFd, fd: RawFd) -> Sent {
    match sys::send_fd(sock, &[A_BYTE], fd) {
        Ok(()) => Sent::Ok,
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN) => Sent::Again,
            Some(libc::ECONNREFUSED)
            | Some(libc::ENOTCONN)
            | Some(libc::ECONNRESET)
            | Some(libc::EPIPE) => Sent::Reconnect(e),
            _ => Sent::Failed(e),
        },
    }
}

pub struct Deliverer {
    targets: Vec<ATarget>,
    by_path: HashMap<String, usize>,
    by_fd: HashMap<RawFd, usize>,
    token_base: u64,
}

impl Deliverer {
    pub fn new(token_base: u64) -> Deliverer {
        Deliverer {
            targets: Vec::new(),
            by_path: HashMap::new(),
            by_fd: HashMap::new(),
            token_base,
        }
    }

    pub fn owns(&self, token: u64) -> Option<usize> {
        let i = token.checked_sub(self.token_base)? as usize;
        (i < self.targets.len()).then_some(i)
    }

    pub fn waiting(&self) -> usize {
        self.targets.iter().map(|t| t.queue.len()).sum()
    }

    fn slot(&mut self, sh: &Shared, key: AKey) -> usize {
        let found = match &key {
            AKey::Path(p) => self.by_path.get(p.as_ref()),
            AKey::Fd(fd) | AKey::Daemon(_, fd) => self.by_fd.get(fd),
        };
        if let Some(&i) = found {
            return i;
        }
        let i = self.targets.len();
        let (name, kind) = match key {
            AKey::Path(p) => {
                let p = p.into_owned();
                self.by_path.insert(p.clone(), i);
                (format!("unix:{p}"), AKind::Path(p))
            }
            AKey::Fd(fd) => {
                self.by_fd.insert(fd, i);
                (format!("fd:{fd}"), AKind::Fd(fd))
            }
            AKey::Daemon(name, fd) => {
                self.by_fd.insert(fd, i);
                (format!("daemon:{name}"), AKind::Fd(fd))
            }
        };
        self.targets.push(ATarget {
            queued: sh.a_queued(&name),
            name,
            kind,
            sock: None,
            queue: VecDeque::new(),
            watching: false,
            unread: 0,
            truesize: 0,
        });
        i
    }

    fn refuse(sh: &Shared, name: &str, p: Pending, why: &str) {
        sh.refuse(name, p, why);
    }

    fn ensure_open(&mut self, sh: &Shared, i: usize) -> Result<RawFd, OpenError> {
        let t = &mut self.targets[i];
        if let Some(fd) = t.raw() {
            return Ok(fd);
        }
        let AKind::Path(path) = &t.kind else {
            unreachable!("fd targets always have a socket")
        };
        let owner = owner_for(path, &sh.config().target_owner);
        let s = open_target(path, owner)?;
        // Keep the per-socket send buffer small: queued fds wait in our queue, not in the kernel.
        t.sock = Some(s);
        Ok(t.raw().expect("just set"))
    }

    fn watch(&mut self, ep: &sys::Epoll, i: usize, on: bool) {
        let token = self.token_base + i as u64;
        let t = &mut self.targets[i];
        let Some(fd) = t.raw() else { return };
        if on && !t.watching {
            if ep.add(fd, libc::EPOLLOUT as u32, token).is_err() {
                let _ = ep.modify(fd, libc::EPOLLOUT as u32, token);
            }
            t.watching = true;
        } else if !on && t.watching {
            ep.delete(fd);
            t.watching = false;
        }
    }

    fn close_sock(&mut self, ep: &sys::Epoll, i: usize) {
        self.watch(ep, i, false);
        self.targets[i].sock = None;
        self.targets[i].unread = 0;
    }

    /// After a send: how many of our datagrams wait unread in the receiver's queue.
    fn sample_unread(&mut self, i: usize) {
        let t = &mut self.targets[i];
        let Some(fd) = t.raw() else { return };
        let Ok(bytes) = sys::unread_sent_bytes(fd) else {
            return;
        };
        if bytes > 0 && (t.truesize == 0 || bytes < t.truesize) {
            t.truesize = bytes;
        }
        t.unread = if t.truesize == 0 {
            0
        } else {
            bytes / t.truesize
        };
    }

    /// A send found the receiver gone: what it had not read went with its queue.
    fn count_lost(&mut self, sh: &Shared, i: usize) {
        let t = &mut self.targets[i];
        let n = std::mem::take(&mut t.unread);
        if n == 0 {
            return;
        }
        sh.stats.count(&t.name, Event::Lost(n));
        crate::log!(
            Warn,
            "lost",
            target = t.name,
            count = n,
            reason = format!("the receiver went away with {n} connections unread")
        );
    }

    /// Hand `p` to the A target `key`; `cap`: the config's queue bound.
    pub fn deliver(&mut self, ep: &sys::Epoll, sh: &Shared, key: AKey, cap: usize, p: Pending) {
        let i = self.slot(sh, key);
        match queue::admit(self.targets[i].queue.len(), cap) {
            Admit::TryNow => {}
            Admit::Enqueue if !queue::reserve(&self.targets[i].queued, cap) => {
                return Self::refuse(sh, &self.targets[i].name, p, "queue full")
            }
            Admit::Enqueue => {
                sh.stats.count(&self.targets[i].name, Event::Queued);
                self.targets[i].queue.push_back(p);
                sh.waiting
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            Admit::Refuse => return Self::refuse(sh, &self.targets[i].name, p, "queue full"),
        }
        let mut reopened = false;
        loop {
            let sock = match self.ensure_open(sh, i) {
                Ok(s) => s,
                Err(e) => {
                    let name = &self.targets[i].name;
                    if e.security {
                        crate::log!(Error, "unsafe-target", target = name, reason = e.reason);
                    }
                    return Self::refuse(sh, name, p, &e.reason);
                }
            };
            match send_one(sock, p.fd.as_raw_fd()) {
                Sent::Ok => {
                    sh.stats.count(&self.targets[i].name, Event::Delivered);
                    self.sample_unread(i);
                    return;
                }
                Sent::Again => {
                    let name = &self.targets[i].name;
                    if queue::on_again(0, cap) == Admit::Refuse {
                        return Self::refuse(sh, name, p, "target busy and queueing is off");
                    }
                    if !queue::reserve(&self.targets[i].queued, cap) {
                        return Self::refuse(sh, name, p, "queue full");
                    }
                    sh.stats.count(name, Event::Queued);
                    crate::log!(Debug, "queued", target = name);
                    self.targets[i].queue.push_back(p);
                    sh.waiting
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.watch(ep, i, true);
                    return;
                }
                Sent::Reconnect(e)
                    if !reopened && matches!(self.targets[i].kind, AKind::Path(_)) =>
                {
                    self.count_lost(sh, i);
                    crate::log!(
                        Debug,
                        "reconnect",
                        target = self.targets[i].name,
                        reason = e
                    );
                    self.close_sock(ep, i);
                    reopened = true;
                }
                Sent::Reconnect(e) | Sent::Failed(e) => {
                    self.count_lost(sh, i);
                    self.close_sock_if_path(ep, i);
                    return Self::refuse(sh, &self.targets[i].name, p, &format!("send: {e}"));
                }
            }
        }
    }

    fn close_sock_if_path(&mut self, ep: &sys::Epoll, i: usize) {
        if matches!(self.targets[i].kind, AKind::Path(_)) {
            self.close_sock(ep, i);
        }
    }

    /// The target's socket became writable (or errored): send what waits, in order.
    pub fn on_ready(&mut self, ep: &sys::Epoll, sh: &Shared, i: usize) {
        let name = self.targets[i].name.clone();
        let mut reopened = false;
        while let Some(p) = self.targets[i].queue.pop_front() {
            sh.waiting
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let sock = match self.ensure_open(sh, i) {
                Ok(s) => s,
                Err(e) => {
                    queue::release(&self.targets[i].queued);
                    Self::refuse(sh, &name, p, &e.reason);
                    continue;
                }
            };
            match send_one(sock, p.fd.as_raw_fd()) {
                Sent::Ok => {
                    queue::release(&self.targets[i].queued);
                    sh.stats.count(&name, Event::Delivered);
                    self.sample_unread(i);
                }
                Sent::Again => {
                    self.targets[i].queue.push_front(p);
                    sh.waiting
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.watch(ep, i, true);
                    return;
                }
                Sent::Reconnect(_)
                    if !reopened && matches!(self.targets[i].kind, AKind::Path(_)) =>
                {
                    self.count_lost(sh, i);
                    self.close_sock(ep, i);
                    reopened = true;
                    self.targets[i].queue.push_front(p);
                    sh.waiting
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Sent::Reconnect(e) | Sent::Failed(e) => {
                    queue::release(&self.targets[i].queued);
                    self.count_lost(sh, i);
                    self.close_sock_if_path(ep, i);
                    Self::refuse(sh, &name, p, &format!("send: {e}"));
                }
            }
        }
        self.watch(ep, i, false);
    }

    /// Close what waited too long; returns the next deadline.
    pub fn expire(&mut self, ep: &sys::Epoll, sh: &Shared, now: Instant) -> Option<Instant> {
        let timeout = sh.config().queue_timeout;
        let mut next: Option<Instant> = None;
        for i in 0..self.targets.len() {
            if self.targets[i].queue.is_empty() {
                continue;
            }
            let gone = queue::expire(&mut self.targets[i].queue, now, timeout);
            sh.waiting
                .fetch_sub(gone.len() as i64, std::sync::atomic::Ordering::Relaxed);
            for p in gone {
                queue::release(&self.targets[i].queued);
                let name = &self.targets[i].name;
                sh.stats.count(name, Event::TimedOut);
                crate::log!(
                    Warn,
                    "queue-timeout",
                    target = name,
                    remote = crate::shared::remote_of(&p.tuple),
                    waited_ms = now.duration_since(p.since).as_millis()
                );
            }
            if self.targets[i].queue.is_empty() {
                self.watch(ep, i, false);
            }
            if let Some(d) = queue::next_deadline(&self.targets[i].queue, timeout) {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }

    /// After a reload: forget idle sockets so paths, symlinks and owners are checked again.
    pub fn forget_idle(&mut self, ep: &sys::Epoll) {
        for i in 0..self.targets.len() {
            if self.targets[i].queue.is_empty() && matches!(self.targets[i].kind, AKind::Path(_)) {
                self.close_sock(ep, i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_owner_prefix_wins() {
        let rules = vec![
            ("/run/sb/".to_string(), 1),
            ("/run/sb/00002/".to_string(), 2),
        ];
        assert_eq!(owner_for("/run/sb/00001/a.sock", &rules), Some(1));
        assert_eq!(owner_for("/run/sb/00002/a.sock", &rules), Some(2));
        assert_eq!(owner_for("/elsewhere", &rules), None);
    }

    #[test]
    fn symlinks_and_non_sockets_are_refused() {
        let dir = std::env::temp_dir().join(format!("sbdeliver-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("real.sock");
        let _recv = std::os::unix::net::UnixDatagram::bind(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.join("link.sock")).unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("dirlink")).unwrap();
        std::fs::write(dir.join("plain"), b"").unwrap();
        let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
        assert!(open_target(&p("real.sock"), None).is_ok());
        let e = open_target(&p("link.sock"), None).unwrap_err();
        assert!(e.security, "{}", e.reason);
        let e = open_target(&p("dirlink/real.sock"), None).unwrap_err();
        assert!(e.security && e.reason.contains("symlink"), "{}", e.reason);
        let e = open_target(&p("plain"), None).unwrap_err();
        assert_eq!(e.reason, "not a socket");
        let e = open_target(&p("real.sock"), Some(12345)).unwrap_err();
        assert!(e.reason.contains("requires uid 12345"), "{}", e.reason);
        assert!(!open_target(&p("missing"), None).unwrap_err().security);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
