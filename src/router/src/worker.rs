//! A worker: accepts on every listener (shared with the other workers, EPOLLEXCLUSIVE), routes
//! each connection and delivers A targets itself; B slots, spawn and relay targets go to the
//! control thread.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use sockswap_core::socketbox::table::{Target, Tuple};
use sockswap_core::socketbox::wire;

use crate::config::{target_name, tuple_of, Config};
use crate::deliver::{AKey, Deliverer, Pending};
use crate::shared::{remote_of, Shared};
use crate::status::Event;
use crate::sys;

pub const TOKEN_WAKE: u64 = 1 << 48;
pub const TOKEN_LISTENER: u64 = 2 << 48;
pub const TOKEN_ATARGET: u64 = 3 << 48;

/// Where a routed connection goes next.
pub enum Decision<'a> {
    /// An A target (borrowed from the config: no allocation per connection).
    A(AKey<'a>),
    /// Served by the control thread.
    Control(Target),
    Refuse {
        name: String,
        reason: String,
    },
}

pub fn decide<'a>(cfg: &'a Config, t: &Tuple) -> Decision<'a> {
    match cfg.table.route(t) {
        Ok(target) if !cfg.handover_targets.is_empty() && cfg.handover_targets.contains(target) => {
            Decision::Refuse {
                name: target_name(target),
                reason: "the target takes handed-over listeners only; this connection's key is not handed over".into(),
            }
        }
        Ok(Target::Unix(path)) if !cfg.templates => Decision::A(AKey::Path(path.as_str().into())),
        Ok(Target::Unix(path)) => {
            let path = {
                let mut buf = [0u8; 4096];
                match wire::expand_path_template(
                    path.as_bytes(),
                    t.local_ip,
                    t.local_port,
                    &mut buf,
                ) {
                    Some(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
                    None => {
                        return Decision::Refuse {
                            name: format!("unix:{path}"),
                            reason: "path template too long".into(),
                        }
                    }
                }
            };
            Decision::A(AKey::Path(path.into()))
        }
        Ok(Target::Fd(fd)) => Decision::A(AKey::Fd(*fd)),
        Ok(Target::Fail) => Decision::Refuse {
            name: "fail".into(),
            reason: "the rules say fail".into(),
        },
        Ok(Target::Named(n)) if crate::daemon::router_end(n).is_some() => Decision::A(
            AKey::Daemon(n, crate::daemon::router_end(n).unwrap_or(-1)),
        ),
        Ok(t @ (Target::Slot(_) | Target::Named(_))) => Decision::Control(t.clone()),
        Ok(other) => Decision::Refuse {
            name: target_name(other),
            reason: "route ended on a jump".into(),
        },
        Err(e) => Decision::Refuse {
            name: "route-error".into(),
            reason: e.to_string(),
        },
    }
}

/// Route one connection: deliver A here, hand the rest to the control thread.
pub fn dispatch(
    ep: &sys::Epoll,
    sh: &Shared,
    a: &mut Deliverer,
    cfg: &Config,
    fd: OwnedFd,
    tuple: Tuple,
    control_here: Option<&mut dyn FnMut(Target, Pending)>,
) {
    if cfg.clear_transparent {
        if let Err(e) = sys::clear_transparent(fd.as_raw_fd()) {
            // As socketbox -z: a connection that keeps the flag is not handed on.
            sh.stats.count("fail", Event::Refused);
            crate::log!(
                Warn,
                "refused",
                remote = remote_of(&tuple),
                reason = format!("-z: clearing IPV6_TRANSPARENT: {e}")
            );
            return;
        }
    }
    let p = Pending {
        fd,
        since: Instant::now(),
        tuple,
    };
    match decide(cfg, &tuple) {
        Decision::A(key) => a.deliver(ep, sh, key, cfg.queue_len, p),
        Decision::Control(t) => match control_here {
            Some(f) => f(t, p),
            None => sh.hand_off(t, p),
        },
        Decision::Refuse { name, reason } => {
            sh.stats.count(&name, Event::Refused);
            let mut tuple = tuple;
            if !cfg.needs_local {
                // Routing did not need it; the log line does.
                if let Some(a) = sys::local_addr(p.fd.as_raw_fd())
                    .ok()
                    .and_then(|a| a.to_inet())
                {
                    tuple.local_ip = crate::flags::to_v6(a.ip());
                    tuple.local_port = a.port();
                }
            }
            crate::log!(
                Info,
                "refused",
                target = name,
                local = crate::shared::local_of(&tuple),
                remote = remote_of(&tuple),
                reason = reason
            );
        }
    }
}

pub fn accept_tuple(
    listener_index: u32,
    conn: RawFd,
    peer: &sys::RawAddr,
    needs_local: bool,
) -> Tuple {
    let local = if needs_local {
        sys::local_addr(conn).ok().and_then(|a| a.to_inet())
    } else {
        None
    };
    tuple_of(listener_index, local, peer.to_inet())
}

/// Whether a listener's wakeups bring bursts (drain) or single connections (accept one).
#[derive(Clone, Copy, Default)]
struct Burst {
    single: bool,
    streak: u8,
}

impl Burst {
    const DRAIN: usize = 64;
    const PROBE_EVERY: u8 = 4;

    fn limit(&self) -> usize {
        if self.single && self.streak < Self::PROBE_EVERY {
            1
        } else {
            Self::DRAIN
        }
    }

    fn record(&mut self, limit: usize, got: usize) {
        if limit == 1 {
            self.streak += 1;
        } else {
            // A drain that found at most one connection: light load.
            self.single = got <= 1;
            self.streak = 0;
        }
    }
}

pub fn run(sh: Arc<Shared>, listeners: Arc<Vec<crate::listen::Listener>>, wake: OwnedFd) {
    let ep = match sys::Epoll::new() {
        Ok(e) => e,
        Err(e) => {
            crate::log!(Error, "worker-start", reason = e);
            return;
        }
    };
    for (i, l) in listeners.iter().enumerate() {
        let Some(fd) = &l.fd else { continue };
        let ev = (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32;
        if let Err(e) = ep.add(fd.as_raw_fd(), ev, TOKEN_LISTENER + i as u64) {
            crate::log!(Error, "worker-start", listener = l.desc, reason = e);
            return;
        }
    }
    let _ = ep.add(wake.as_raw_fd(), libc::EPOLLIN as u32, TOKEN_WAKE);
    let mut a = Deliverer::new(TOKEN_ATARGET);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
    let mut generation = sh.generation.load(Ordering::SeqCst);
    let mut deadline: Option<Instant> = None;
    // Listeners taken out of epoll after EMFILE/ENFILE (level-triggered, they would spin), and
    // when to put them back.
    let mut paused: Vec<(usize, Instant)> = Vec::new();
    // Draining a listener until EAGAIN costs one failing accept per wakeup. When wakeups bring
    // one connection each (light load), accept just one (level-triggered epoll reports any
    // other at once) and try a full drain every few wakeups to notice load coming back.
    let mut burst = vec![Burst::default(); listeners.len()];
    while !sh.stop.load(Ordering::SeqCst) {
        let wake_at = paused.iter().map(|p| p.1).min();
        let next = match (deadline, wake_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let n = match ep.wait(&mut events, crate::queue::timeout_ms(next, Instant::now())) {
            Ok(n) => n,
            Err(e) => {
                crate::log!(Error, "epoll", reason = e);
                return;
            }
        };
        let cfg = sh.config();
        for ev in &events[..n] {
            let token = ev.u64;
            if token == TOKEN_WAKE {
                sys::eventfd_drain(wake.as_raw_fd());
                let g = sh.generation.load(Ordering::SeqCst);
                if g != generation {
                    generation = g;
                    a.forget_idle(&ep);
                }
            } else if (TOKEN_LISTENER..TOKEN_ATARGET).contains(&token) {
                let li = (token - TOKEN_LISTENER) as usize;
                let Some(lfd) = listeners[li].fd.as_ref().map(|f| f.as_raw_fd()) else {
                    continue;
                };
                // Drain the backlog (bounded, so other events get their turn): under load one
                // wakeup serves many connections.
                let limit = burst[li].limit();
                let mut got = 0;
                for _ in 0..limit {
                    match sys::accept(lfd) {
                        Ok((conn, peer)) => {
                            got += 1;
                            sh.accepted.fetch_add(1, Ordering::Relaxed);
                            let t =
                                accept_tuple(li as u32, conn.as_raw_fd(), &peer, cfg.needs_local);
                            dispatch(&ep, &sh, &mut a, &cfg, conn, t, None);
                        }
                        Err(e) => {
                            match e.raw_os_error() {
                                Some(libc::EAGAIN) => {}
                                Some(libc::EMFILE) | Some(libc::ENFILE) => {
                                    crate::log!(
                                        Error,
                                        "accept",
                                        listener = listeners[li].desc,
                                        reason = e,
                                        note = "pausing this listener for 100 ms"
                                    );
                                    ep.delete(lfd);
                                    paused.push((
                                        li,
                                        Instant::now() + std::time::Duration::from_millis(100),
                                    ));
                                }
                                _ => crate::log!(
                                    Debug,
                                    "accept",
                                    listener = listeners[li].desc,
                                    reason = e
                                ),
                            }
                            break;
                        }
                    }
                }
                burst[li].record(limit, got);
            } else if let Some(i) = a.owns(token) {
                a.on_ready(&ep, &sh, i);
            }
        }
        let now = Instant::now();
        deadline = a.expire(&ep, &sh, now);
        paused.retain(|&(li, at)| {
            if at > now {
                return true;
            }
            let ev = (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32;
            if let Some(fd) = &listeners[li].fd {
                let _ = ep.add(fd.as_raw_fd(), ev, TOKEN_LISTENER + li as u64);
            }
            false
        });
    }
    if a.waiting() > 0 {
        crate::log!(Warn, "shutdown", closed_waiting = a.waiting());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str, templates: bool) -> Config {
        let (_, mut o) = crate::flags::parse(&["-f".into(), "x.conf".into()]).unwrap();
        o.templates = templates;
        let t = text.to_string();
        crate::config::build(&o, &move |_| Ok(t.clone())).unwrap()
    }

    fn tuple(local: &str, port: u16) -> Tuple {
        tuple_of(
            0,
            Some(SocketAddrParse::parse(local, port)),
            Some("[2001:db8::9]:4000".parse().unwrap()),
        )
    }

    struct SocketAddrParse;
    impl SocketAddrParse {
        fn parse(ip: &str, port: u16) -> std::net::SocketAddr {
            std::net::SocketAddr::new(ip.parse().unwrap(), port)
        }
    }

    #[test]
    fn decisions() {
        let c = cfg(
            "rule-set:0 size:3\nip:fd00::1 port:80 jump-unix:/a\nport:81 jump-fd:5\ndefault:fail\n",
            false,
        );
        assert!(
            matches!(decide(&c, &tuple("fd00::1", 80)), Decision::A(AKey::Path(p)) if p == "/a")
        );
        assert!(matches!(
            decide(&c, &tuple("fd00::2", 81)),
            Decision::A(AKey::Fd(5))
        ));
        assert!(
            matches!(decide(&c, &tuple("fd00::2", 82)), Decision::Refuse { name, .. } if name == "fail")
        );
    }

    #[test]
    fn path_templates() {
        let c = cfg(
            "rule-set:0 size:1\ndefault:jump-unix:/run/#//7_/#//P_.sock\n",
            true,
        );
        match decide(&c, &tuple("127.0.0.2", 443)) {
            Decision::A(AKey::Path(p)) => assert_eq!(p, "/run/00002/00443.sock"),
            _ => panic!("expected an A target"),
        }
    }
}
