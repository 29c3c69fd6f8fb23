//! "B" protocol server: SEQPACKET API sockets; a client registers one slot with an 8-byte
//! record, is acknowledged with `80 00 00 00`, then receives `03 00 00 00` + one fd per
//! connection. Authentication: SO_PEERCRED uid == the slot's uid, and the client connected to the
//! slot's API socket; at most `b_uid_limit` connections per uid; a slot is registered once
//! (several times if the config marks it `shared`: connections then go round-robin). Any
//! failure closes the client without a reply (and a log line). Connections for a slot with no
//! client, or whose client is not reading, wait in the slot's bounded queue until the timeout.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use sockswap_core::socketbox::python::ApiSocket;
use sockswap_core::socketbox::wire;

use crate::deliver::Pending;
use crate::queue::{self, Admit};
use crate::shared::{remote_of, Shared};
use crate::status::Event;
use crate::sys;

pub const TOKEN_API: u64 = 5 << 48;
pub const TOKEN_BCONN: u64 = 6 << 48;

struct Conn {
    fd: OwnedFd,
    api: usize,
    uid: u32,
    pid: i32,
    slot: Option<u32>,
    watching_out: bool,
    /// When it connected: one that has not registered by `b_register_timeout` is closed.
    since: Instant,
}

pub struct BServer {
    pub listeners: Vec<OwnedFd>,
    conns: HashMap<u64, Conn>,
    next_id: u64,
    per_uid: HashMap<u32, usize>,
    /// The clients registered on each slot (several only for `shared` slots), and where the
    /// round-robin over them stands.
    registered: HashMap<u32, Vec<u64>>,
    turn: HashMap<u32, usize>,
    queues: HashMap<u32, VecDeque<Pending>>,
}

/// Small send buffer on client connections: a client that stops reading holds only a handful of
/// fds in flight; the rest wait (bounded, timed) in our queue.
const B_SNDBUF: i32 = 4096;

pub fn open_api_sockets(apis: &[ApiSocket]) -> Result<Vec<OwnedFd>, String> {
    let mut out = Vec::new();
    for a in apis {
        let fd = crate::listen::unix_bind(&a.path, libc::SOCK_SEQPACKET)?;
        crate::listen::chmod_chown(&a.path, a.mode, a.owner_uid, a.owner_gid)?;
        sys::listen(fd.as_raw_fd(), 128).map_err(|e| format!("{}: listen: {e}", a.path))?;
        out.push(fd);
    }
    Ok(out)
}

fn slot_name(s: u32) -> String {
    format!("slot:{s}")
}

impl BServer {
    pub fn new(listeners: Vec<OwnedFd>) -> BServer {
        BServer {
            listeners,
            conns: HashMap::new(),
            next_id: 0,
            per_uid: HashMap::new(),
            registered: HashMap::new(),
            turn: HashMap::new(),
            queues: HashMap::new(),
        }
    }

    pub fn register_listeners(&self, ep: &sys::Epoll) -> std::io::Result<()> {
        for (i, l) in self.listeners.iter().enumerate() {
            ep.add(l.as_raw_fd(), libc::EPOLLIN as u32, TOKEN_API + i as u64)?;
        }
        Ok(())
    }

    pub fn waiting(&self) -> usize {
        self.queues.values().map(|q| q.len()).sum()
    }

    pub fn on_api(&mut self, ep: &sys::Epoll, sh: &Shared, api: usize) {
        let limit = sh.config().b_uid_limit;
        for _ in 0..64 {
            let (fd, _) = match sys::accept(self.listeners[api].as_raw_fd()) {
                Ok(x) => x,
                Err(_) => return,
            };
            let cred = match sys::peer_cred(fd.as_raw_fd()) {
                Ok(c) => c,
                Err(e) => {
                    crate::log!(
                        Warn,
                        "b-reject",
                        api = api,
                        reason = format!("SO_PEERCRED: {e}")
                    );
                    continue;
                }
            };
            let n = self.per_uid.get(&cred.uid).copied().unwrap_or(0);
            if n >= limit {
                crate::log!(
                    Warn,
                    "b-reject",
                    api = api,
                    uid = cred.uid,
                    pid = cred.pid,
                    reason = format!("uid has {n} connections (limit {limit})")
                );
                continue;
            }
            let _ = sys::set_nonblocking(fd.as_raw_fd(), true);
            let _ =
                sys::setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, B_SNDBUF);
            let id = self.next_id;
            self.next_id += 1;
            if ep
                .add(
                    fd.as_raw_fd(),
                    (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
                    TOKEN_BCONN + id,
                )
                .is_err()
            {
                continue;
            }
            *self.per_uid.entry(cred.uid).or_default() += 1;
            crate::log!(
                Debug,
                "b-connect",
                api = api,
                uid = cred.uid,
                pid = cred.pid
            );
            self.conns.insert(
                id,
                Conn {
                    fd,
                    api,
                    uid: cred.uid,
                    pid: cred.pid,
                    slot: None,
                    watching_out: false,
                    since: Instant::now(),
                },
            );
        }
    }

    /// Refuses a registration: tells the client why (a refusal record), then closes.
    fn refuse(&mut self, ep: &sys::Epoll, id: u64, why: &str) {
        if let Some(c) = self.conns.get(&id) {
            let record = wire::b_refusal(why);
            // SAFETY: sending from a valid buffer on a socket we own; best effort.
            let _ = unsafe {
                libc::send(
                    c.fd.as_raw_fd(),
                    record.as_ptr() as *const libc::c_void,
                    record.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
        }
        self.close(ep, id, why, true)
    }

    fn close(&mut self, ep: &sys::Epoll, id: u64, why: &str, level_warn: bool) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        ep.delete(c.fd.as_raw_fd());
        if let Some(n) = self.per_uid.get_mut(&c.uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&c.uid);
            }
        }
        if let Some(s) = c.slot {
            if let Some(ids) = self.registered.get_mut(&s) {
                ids.retain(|&x| x != id);
                if ids.is_empty() {
                    self.registered.remove(&s);
                }
            }
        }
        let level = if level_warn {
            crate::log::Level::Warn
        } else {
            crate::log::Level::Info
        };
        if crate::log::enabled(level) {
            let slot = c.slot.map_or_else(|| "-".to_string(), |s| s.to_string());
            crate::log::emit(
                level,
                "b-close",
                &[
                    ("api", c.api.to_string()),
                    ("uid", c.uid.to_string()),
                    ("pid", c.pid.to_string()),
                    ("slot", slot),
                    ("reason", why.to_string()),
                ],
            );
        }
    }

    pub fn on_conn(
        &mut self,
        ep: &sys::Epoll,
        sh: &Shared,
        id: u64,
        events: u32,
        handovers: &mut crate::handover::Handovers,
    ) {
        if events & libc::EPOLLOUT as u32 != 0 {
            if let Some(s) = self.conns.get(&id).and_then(|c| c.slot) {
                self.flush(ep, sh, s);
            }
        }
        if events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 == 0
        {
            return;
        }
        let Some(c) = self.conns.get(&id) else { return };
        let mut buf = [0u8; 64];
        let (n, fds, truncated) =
            match sys::recv_with_fds(c.fd.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                Ok(x) => x,
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return,
                Err(e) => return self.close(ep, id, &format!("recv: {e}"), true),
            };
        let mut fds = fds;
        let had_fds = !fds.is_empty();
        if n == 0 && !had_fds && !truncated {
            return self.close(ep, id, "EOF", false);
        }
        if c.slot.is_some() {
            return self.close(ep, id, "record after registration", false);
        }
        let Some((slot, ext)) = wire::b_parse_register_any(&buf[..n]) else {
            return self.refuse(
                ep,
                id,
                &format!("malformed registration record ({n} bytes)"),
            );
        };
        // The one fd a client may send: the listener it holds (a versioned registration
        // saying so). Anything else attached is closed and the peer with it.
        let holds = ext & wire::B_HOLDS_LISTENER != 0;
        if truncated || (had_fds && !(holds && fds.len() == 1)) || (holds && fds.len() != 1) {
            return self.refuse(ep, id, "malformed registration (fds attached or oversized)");
        }
        let held = fds.pop();
        let cfg = sh.config();
        let Some(def) = cfg.slots.iter().find(|s| s.number == slot) else {
            return self.refuse(ep, id, &format!("slot {slot} is not configured"));
        };
        if def.uid != c.uid {
            return self.refuse(
                ep,
                id,
                &format!(
                    "slot {slot} belongs to uid {}, peer is uid {}",
                    def.uid, c.uid
                ),
            );
        }
        if def.api_socket != c.api {
            return self.refuse(
                ep,
                id,
                &format!(
                    "slot {slot} must register on API socket {}, not {}",
                    def.api_socket, c.api
                ),
            );
        }
        if self.registered.contains_key(&slot) && !def.shared {
            return self.refuse(ep, id, &format!("slot {slot} is registered already"));
        }
        let listener = if ext & wire::B_WANTS_LISTENER != 0 {
            match handovers.for_slot(slot, held) {
                Ok(l) => l,
                Err(e) => return self.refuse(ep, id, &e),
            }
        } else {
            if handovers.has_slot(slot) {
                crate::log!(
                    Warn,
                    "b-register",
                    slot = slot,
                    pid = c.pid,
                    note = "the slot is handed over, and this client did not ask for its listener: it will get no connections"
                );
            }
            None
        };
        let sent = match listener {
            Some(l) => {
                sys::send_fd(c.fd.as_raw_fd(), &wire::B_ACK_LISTENER, l).map_err(|e| e.to_string())
            }
            None => {
                // SAFETY: sending 4 bytes from a valid array on a socket we own.
                let r = unsafe {
                    libc::send(
                        c.fd.as_raw_fd(),
                        wire::B_ACK.as_ptr() as *const libc::c_void,
                        wire::B_ACK.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                if r == wire::B_ACK.len() as isize {
                    Ok(())
                } else {
                    Err("short send".into())
                }
            }
        };
        if sent.is_err() {
            return self.close(ep, id, "could not send the acknowledgement", true);
        }
        crate::log!(
            Info,
            "b-register",
            slot = slot,
            uid = c.uid,
            pid = c.pid,
            api = c.api,
            path = if listener.is_some() {
                "handover"
            } else {
                "dispatch"
            }
        );
        if let Some(c) = self.conns.get_mut(&id) {
            c.slot = Some(slot);
        }
        self.registered.entry(slot).or_default().push(id);
        self.flush(ep, sh, slot);
    }

    /// A connection for `slot`.
    pub fn deliver(&mut self, ep: &sys::Epoll, sh: &Shared, slot: u32, p: Pending) {
        let name = slot_name(slot);
        let cap = sh.config().queue_len;
        let q = self.queues.entry(slot).or_default();
        match queue::admit(q.len(), cap) {
            Admit::Refuse => {
                sh.stats.count(&name, Event::Refused);
                crate::log!(
                    Warn,
                    "refused",
                    target = name,
                    remote = remote_of(&p.tuple),
                    reason = "queue full"
                );
            }
            _ => {
                q.push_back(p);
                self.flush(ep, sh, slot);
                let left = self.queues.get(&slot).map_or(0, |q| q.len());
                if left > 0 {
                    // Counted once, on arrival, if it could not go at once (queues keep order,
                    // so the newcomer is among those left).
                    sh.stats.count(&name, Event::Queued);
                }
            }
        }
    }

    fn flush(&mut self, ep: &sys::Epoll, sh: &Shared, slot: u32) {
        let name = slot_name(slot);
        let Some(ids) = self
            .registered
            .get(&slot)
            .filter(|v| !v.is_empty())
            .cloned()
        else {
            return;
        };
        let Some(q) = self.queues.get_mut(&slot) else {
            return;
        };
        // Round-robin over the slot's clients; a client whose socket is full is skipped until
        // it drains (EPOLLOUT), one whose send fails is closed.
        let turn = self.turn.entry(slot).or_default();
        let mut full = vec![false; ids.len()];
        let mut broken: Vec<(u64, std::io::Error)> = Vec::new();
        'queue: while let Some(p) = q.pop_front() {
            for _ in 0..ids.len() {
                let i = *turn % ids.len();
                *turn = turn.wrapping_add(1);
                if full[i] || broken.iter().any(|(b, _)| *b == ids[i]) {
                    continue;
                }
                let Some(c) = self.conns.get(&ids[i]) else {
                    full[i] = true;
                    continue;
                };
                match sys::send_fd(c.fd.as_raw_fd(), &wire::B_DELIVERY, p.fd.as_raw_fd()) {
                    Ok(()) => {
                        sh.stats.count(&name, Event::Delivered);
                        continue 'queue;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => full[i] = true,
                    Err(e) => broken.push((ids[i], e)),
                }
            }
            q.push_front(p); // nobody can take it now
            break;
        }
        let waiting = !q.is_empty();
        for (i, id) in ids.iter().enumerate() {
            let Some(c) = self.conns.get_mut(id) else {
                continue;
            };
            let want_out = waiting && full[i];
            if want_out != c.watching_out {
                let mut ev = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
                if want_out {
                    ev |= libc::EPOLLOUT as u32;
                }
                let _ = ep.modify(c.fd.as_raw_fd(), ev, TOKEN_BCONN + id);
                c.watching_out = want_out;
            }
        }
        for (id, e) in broken {
            // The connections stay queued for the slot's other clients, or one that registers
            // it again.
            self.close(ep, id, &format!("send: {e}"), true);
        }
    }

    pub fn expire(&mut self, ep: &sys::Epoll, sh: &Shared, now: Instant) -> Option<Instant> {
        let cfg = sh.config();
        let timeout = cfg.queue_timeout;
        let mut next: Option<Instant> = None;
        // Connections that never registered: they count against their uid's limit and hold a
        // router fd each, so they get `b_register_timeout` to say which slot they serve.
        let register_by = cfg.b_register_timeout;
        let late: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.slot.is_none())
            .filter_map(|(&id, c)| {
                let due = c.since + register_by;
                if due <= now {
                    return Some(id);
                }
                next = Some(next.map_or(due, |n| n.min(due)));
                None
            })
            .collect();
        for id in late {
            let why = format!("no registration within {} ms", register_by.as_millis());
            self.close(ep, id, &why, true);
        }
        for (slot, q) in self.queues.iter_mut() {
            for p in queue::expire(q, now, timeout) {
                let name = slot_name(*slot);
                sh.stats.count(&name, Event::TimedOut);
                crate::log!(
                    Warn,
                    "queue-timeout",
                    target = name,
                    remote = remote_of(&p.tuple),
                    waited_ms = now.duration_since(p.since).as_millis()
                );
            }
            if let Some(d) = queue::next_deadline(q, timeout) {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }

    pub fn owns_conn(token: u64) -> Option<u64> {
        (TOKEN_BCONN..TOKEN_BCONN + (1 << 48))
            .contains(&token)
            .then(|| token - TOKEN_BCONN)
    }
}
