//! Listener handover (control thread): for each key the plan hands over, a listening socket
//! bound to exactly that key is sent once to its target ("A": the `A_HANDOVER` record over
//! the target's datagram socket). The target accepts from it itself; the router never sees
//! those connections. A target only ever receives a listener for its own keys.
//!
//! A router restarted while its targets still hold their listeners finds them in
//! /proc/net/tcp{,6} and leaves them be (a second socket on the key would share its
//! connections). A target that restarts (its socket file is a new inode) gets the listener
//! again; a key whose holder is gone gets a new listener.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime};

use sockswap_core::socketbox::handover::{describe, HandoverKey};
use sockswap_core::socketbox::table::Target;
use sockswap_core::socketbox::wire::A_HANDOVER;

use crate::config::{self, Config, ListenSpec};
use crate::deliver::{open_target, owner_for};
use crate::sys;

/// Retry interval while a target is not there yet.
const RETRY: Duration = Duration::from_millis(100);
/// How often handed-over keys are checked (target restarted, holder gone).
const CHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created; waiting for the target to be there.
    Waiting,
    /// Sent to the target.
    HandedOver,
    /// A listener on this key existed when the router started (a previous router's, still
    /// held by its target): left alone.
    Kept,
}

struct Entry {
    hk: HandoverKey,
    addr: SocketAddr,
    /// Our copy (None while `Kept`): closing it never stops the target's listener, a reload
    /// that moves the key shuts it down for every holder.
    listener: Option<OwnedFd>,
    state: State,
    since: SystemTime,
    /// The target socket file's inode the listener went to.
    ino: u64,
    next: Instant,
}

impl Entry {
    fn handed_over(&mut self) {
        self.state = State::HandedOver;
        self.since = SystemTime::now();
        crate::log!(
            Info,
            "handover",
            target = config::target_name(&self.hk.target),
            key = describe(&self.hk.key),
            listener = self.addr
        );
    }
}

#[derive(Default)]
pub struct Handovers {
    entries: Vec<Entry>,
}

fn path_of(t: &Target) -> &str {
    match t {
        Target::Unix(p) => p,
        _ => "",
    }
}

/// The options of the router's listener the key belongs to (backlog, transparent).
fn open_listener(cfg: &Config, hk: &HandoverKey, addr: SocketAddr) -> Result<OwnedFd, String> {
    let (transparent, backlog, shared) = match cfg.listeners.get(hk.key.listener as usize) {
        Some(ListenSpec::Tcp {
            transparent,
            backlog,
            reuseport,
            ..
        }) => (*transparent, *backlog, *reuseport),
        _ => (false, config::DEFAULT_BACKLOG, false),
    };
    // A per-address key shares its port with the router's wildcard listener: both need
    // SO_REUSEPORT. FREEBIND: the address may be AnyIP-local or not configured yet.
    let specific = hk.key.ip.is_some() && !addr.ip().is_unspecified();
    crate::listen::tcp(
        addr,
        transparent,
        specific,
        true,
        specific || shared,
        Some(backlog),
    )
}

/// Whether a TCP socket listens on exactly `addr` in this network namespace.
pub fn listening_at(addr: SocketAddr) -> bool {
    let mapped = match addr.ip() {
        IpAddr::V4(v4) => Some(v4.to_ipv6_mapped()),
        IpAddr::V6(_) => None,
    };
    let want4 = match addr.ip() {
        IpAddr::V4(v4) => Some(format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(v4.octets()),
            addr.port()
        )),
        IpAddr::V6(_) => None,
    };
    let v6 = match (addr.ip(), mapped) {
        (IpAddr::V6(a), _) | (_, Some(a)) => a,
        _ => unreachable!(),
    };
    let o = v6.octets();
    let mut want6 = String::new();
    for w in o.chunks(4) {
        want6.push_str(&format!(
            "{:08X}",
            u32::from_ne_bytes([w[0], w[1], w[2], w[3]])
        ));
    }
    let want6 = format!("{want6}:{:04X}", addr.port());
    let scan = |file: &str, want: &str| -> bool {
        let Ok(text) = std::fs::read_to_string(file) else {
            // Without /proc (a chroot) assume a holder: never put a second socket on a key.
            return true;
        };
        text.lines().skip(1).any(|l| {
            let mut f = l.split_whitespace();
            let (_, local, _, st) = (f.next(), f.next(), f.next(), f.next());
            local == Some(want) && st == Some("0A")
        })
    };
    want4.as_deref().is_some_and(|w| scan("/proc/net/tcp", w)) || scan("/proc/net/tcp6", &want6)
}

fn inode_of(path: &str) -> Option<u64> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
}

/// `2026-12-06T03:40:00Z`.
pub fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl Handovers {
    /// Creates the listeners for `cfg`'s keys (before the privilege drop: the ports may be
    /// privileged). A key someone already listens on is kept as it is.
    pub fn start(cfg: &Config) -> Result<Handovers, String> {
        let mut h = Handovers::default();
        for hk in &cfg.handover_keys {
            h.entries.push(Self::entry(cfg, hk)?);
        }
        Ok(h)
    }

    fn entry(cfg: &Config, hk: &HandoverKey) -> Result<Entry, String> {
        let addr = config::handover_addr(cfg, hk)
            .ok_or_else(|| format!("handover {}: no address", describe(&hk.key)))?;
        let now = Instant::now();
        let mut e = Entry {
            hk: hk.clone(),
            addr,
            listener: None,
            state: State::Kept,
            since: SystemTime::now(),
            ino: 0,
            next: now,
        };
        if listening_at(addr) {
            crate::log!(
                Warn,
                "handover-kept",
                key = describe(&hk.key),
                target = config::target_name(&hk.target),
                note = "a socket listens on this key already (handed over by a previous router?); not adding another"
            );
            e.next = now + CHECK;
        } else {
            e.listener = Some(open_listener(cfg, hk, addr)?);
            e.state = State::Waiting;
        }
        Ok(e)
    }

    /// Sends what is waiting, re-sends to restarted targets, replaces vanished holders.
    /// Returns when to be called again.
    pub fn tick(&mut self, cfg: &Config, now: Instant) -> Option<Instant> {
        for e in &mut self.entries {
            if e.next > now {
                continue;
            }
            let path = path_of(&e.hk.target).to_string();
            let slot = matches!(e.hk.target, Target::Slot(_));
            match e.state {
                // A slot's listener goes out when its client registers.
                State::Waiting | State::HandedOver if slot => e.next = now + CHECK,
                State::Waiting => Self::send(cfg, e, &path, now),
                State::HandedOver => {
                    if inode_of(&path).is_some_and(|i| i != e.ino) {
                        crate::log!(
                            Info,
                            "handover",
                            target = config::target_name(&e.hk.target),
                            note = "the target restarted; sending its listener again"
                        );
                        e.state = State::Waiting;
                        Self::send(cfg, e, &path, now);
                    } else {
                        e.next = now + CHECK;
                    }
                }
                State::Kept => {
                    if listening_at(e.addr) {
                        e.next = now + CHECK;
                        continue;
                    }
                    match open_listener(cfg, &e.hk, e.addr) {
                        Ok(l) => {
                            e.listener = Some(l);
                            e.state = State::Waiting;
                            if slot {
                                e.next = now + CHECK;
                            } else {
                                Self::send(cfg, e, &path, now);
                            }
                        }
                        Err(err) => {
                            crate::log!(Error, "handover", key = describe(&e.hk.key), reason = err);
                            e.next = now + CHECK;
                        }
                    }
                }
            }
        }
        self.entries.iter().map(|e| e.next).min()
    }

    fn send(cfg: &Config, e: &mut Entry, path: &str, now: Instant) {
        let Some(l) = e.listener.as_ref().map(|l| l.as_raw_fd()) else {
            return;
        };
        let result = open_target(path, owner_for(path, &cfg.target_owner))
            .map_err(|o| (o.reason, o.security))
            .and_then(|sock| {
                sys::send_fd(sock.as_raw_fd(), &A_HANDOVER, l.as_raw_fd())
                    .map_err(|err| (err.to_string(), false))
            });
        match result {
            Ok(()) => {
                e.handed_over();
                e.ino = inode_of(path).unwrap_or(0);
                e.next = now + CHECK;
            }
            Err((reason, security)) => {
                if security {
                    crate::log!(
                        Warn,
                        "unsafe-target",
                        target = config::target_name(&e.hk.target),
                        reason = reason
                    );
                } else {
                    crate::log!(
                        Debug,
                        "handover-wait",
                        target = config::target_name(&e.hk.target),
                        reason = reason
                    );
                }
                e.next = now + RETRY;
            }
        }
    }

    /// After a reload: keys kept with the same target keep their listener; a key that is gone
    /// or moved to another target is shut down (for the old holder too: connections it has
    /// accepted are not touched) and the new keys get listeners.
    pub fn reload(&mut self, cfg: &Config) {
        let old = std::mem::take(&mut self.entries);
        let mut keep = Vec::new();
        for e in old {
            if cfg.handover_keys.contains(&e.hk) {
                keep.push(e);
                continue;
            }
            match &e.listener {
                Some(l) => {
                    // SAFETY: shutdown on our own fd.
                    unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
                    crate::log!(
                        Info,
                        "handover-revoked",
                        target = config::target_name(&e.hk.target),
                        key = describe(&e.hk.key)
                    );
                }
                None => crate::log!(
                    Warn,
                    "handover-revoked",
                    target = config::target_name(&e.hk.target),
                    key = describe(&e.hk.key),
                    note = "held since before this router started: cannot be taken back"
                ),
            }
        }
        for hk in &cfg.handover_keys {
            if keep.iter().any(|e| &e.hk == hk) {
                continue;
            }
            match Self::entry(cfg, hk) {
                Ok(e) => keep.push(e),
                Err(err) => crate::log!(Error, "handover", key = describe(&hk.key), reason = err),
            }
        }
        self.entries = keep;
    }

    pub fn has_slot(&self, slot: u32) -> bool {
        self.entries
            .iter()
            .any(|e| e.hk.target == Target::Slot(slot))
    }

    /// A B client of `slot` asks for its listener (sending the one it holds, after a router
    /// restart): the fd to send back, or None when the slot is not handed over (the client is
    /// then served per connection). A held listener is checked (listening, bound to the key)
    /// and kept as the router's copy when the router has none.
    pub fn for_slot(
        &mut self,
        slot: u32,
        held: Option<OwnedFd>,
    ) -> Result<Option<std::os::fd::RawFd>, String> {
        let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.hk.target == Target::Slot(slot))
        else {
            return Ok(None);
        };
        if let Some(h) = held {
            let listening =
                sys::getsockopt_int(h.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ACCEPTCONN).ok()
                    == Some(1);
            let bound = sys::local_addr(h.as_raw_fd())
                .ok()
                .and_then(|a| a.to_inet());
            let same = |a: SocketAddr| {
                crate::flags::to_v6(a.ip()) == crate::flags::to_v6(e.addr.ip())
                    && a.port() == e.addr.port()
            };
            if !listening || !bound.is_some_and(same) {
                return Err(format!(
                    "the listener sent along is not a socket listening on {} (slot {slot}'s key)",
                    e.addr
                ));
            }
            if e.listener.is_none() {
                e.listener = Some(h);
            }
        }
        let Some(l) = e.listener.as_ref().map(|l| l.as_raw_fd()) else {
            return Err(format!(
                "slot {slot}: its key {} is held by a listener from before this router started; \
                 only its holder can register it",
                e.addr
            ));
        };
        if e.state != State::HandedOver {
            e.handed_over();
        }
        Ok(Some(l))
    }

    /// One status line per handed-over key.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let state = match e.state {
                State::Waiting => "waiting-for-target",
                State::HandedOver => "handed-over",
                State::Kept => "kept-from-before",
            };
            out.push_str(&format!(
                "handover target={} key={} listener={} state={} since={}\n",
                crate::log::quote(&config::target_name(&e.hk.target)),
                crate::log::quote(&describe(&e.hk.key)),
                e.addr,
                state,
                utc(e.since)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_528_400);
        assert_eq!(utc(t), "2026-12-06T03:40:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn finds_a_listener_in_proc() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        assert!(listening_at(a));
        drop(l);
        assert!(!listening_at(a));
        let l6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        assert!(listening_at(l6.local_addr().unwrap()));
    }
}
