//! The control thread: signals (SIGHUP reload, SIGTERM/SIGINT stop, SIGCHLD reap), the status
//! socket, the B server, spawn and relay targets, and connections taken from a B server (`-P`).

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use sockswap_core::socketbox::table::Target;
use sockswap_core::socketbox::wire;

use crate::bserver::{self, BServer};
use crate::config::{self, Named};
use crate::deliver::{Deliverer, Pending};
use crate::flags::Options;
use crate::shared::{remote_of, Shared};
use crate::spawn::Spawner;
use crate::status::{self, Event};
use crate::sys;
use crate::worker;

const TOKEN_SIGNAL: u64 = 10 << 48;
const TOKEN_STATUS: u64 = 11 << 48;
const TOKEN_HANDOFF: u64 = 12 << 48;
const TOKEN_BCLIENT: u64 = 13 << 48;

pub struct Control {
    pub sh: Arc<Shared>,
    pub opts: Options,
    pub ep: sys::Epoll,
    pub a: Deliverer,
    pub b: BServer,
    pub spawner: Spawner,
    pub status: Option<OwnedFd>,
    pub sigfd: OwnedFd,
    /// `-P`: the connection to a B server we take connections from, and its listener index.
    pub bclient: Option<(OwnedFd, u32)>,
    /// The config file's directory, opened before a chroot so SIGHUP can re-read the file
    /// (and a TOML file's `rules_file` next to it) from inside the chroot.
    pub config_dir: Option<(String, OwnedFd)>,
    pub handovers: crate::handover::Handovers,
}

/// Open the directory holding `path` (O_PATH|O_DIRECTORY), for `read_in_dir`.
pub fn open_config_dir(path: &str) -> Option<(String, OwnedFd)> {
    let dir = std::path::Path::new(path)
        .parent()?
        .to_string_lossy()
        .into_owned();
    let dir = if dir.is_empty() { ".".to_string() } else { dir };
    let c = sys::cstring(&dir).ok()?;
    // SAFETY: valid C string; a new fd owned below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just opened and is ours.
    Some((dir, unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
}

/// Read `path`: through the saved directory fd if the file lives there, else by path.
fn read_in_dir(dir: &Option<(String, OwnedFd)>, path: &str) -> Result<String, String> {
    let p = std::path::Path::new(path);
    if let (Some((d, fd)), Some(parent), Some(name)) = (dir, p.parent(), p.file_name()) {
        let parent = parent.to_string_lossy();
        if parent == d.as_str() || (parent.is_empty() && d == ".") {
            let c = sys::cstring(&name.to_string_lossy()).map_err(|e| format!("{path}: {e}"))?;
            // SAFETY: valid dir fd and C string.
            let f = unsafe {
                libc::openat(fd.as_raw_fd(), c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
            };
            if f < 0 {
                return Err(format!("{path}: {}", std::io::Error::last_os_error()));
            }
            // SAFETY: f was just opened and is ours.
            let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(f) };
            let mut s = String::new();
            std::io::Read::read_to_string(&mut file, &mut s).map_err(|e| format!("{path}: {e}"))?;
            return Ok(s);
        }
    }
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// `-P NR:PATH`: connect, register, wait for the acknowledgement.
pub fn b_client_connect(slot: u32, path: &str) -> Result<OwnedFd, String> {
    let s =
        sys::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET).map_err(|e| format!("-P: socket: {e}"))?;
    let addr =
        sys::RawAddr::from_unix_path(path.as_bytes()).map_err(|e| format!("-P {path}: {e}"))?;
    sys::connect(s.as_raw_fd(), &addr)
        .map_err(|e| format!("-P {path}: connect: {}", sockswap_core::errno::io_text(&e)))?;
    let rec = wire::b_register(slot);
    // SAFETY: sending a valid 8-byte buffer.
    let n = unsafe {
        libc::send(
            s.as_raw_fd(),
            rec.as_ptr() as *const libc::c_void,
            rec.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n != rec.len() as isize {
        return Err(format!("-P {path}: sending the registration failed"));
    }
    let _ = sys::setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, 0);
    let mut tv = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    // SAFETY: a valid timeval for SO_RCVTIMEO.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &mut tv as *mut _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
    }
    let mut buf = [0u8; 16];
    let (n, _fds, _) = sys::recv_with_fds(s.as_raw_fd(), &mut buf, 0).map_err(|e| {
        let text = sockswap_core::errno::io_text(&e);
        match e.raw_os_error() {
            Some(libc::EAGAIN) => format!(
                "-P {path}: slot {slot}: the B server did not answer within {} s ({text})",
                tv.tv_sec
            ),
            _ => format!("-P {path}: slot {slot}: waiting for the acknowledgement: {text}"),
        }
    })?;
    if buf[..n] != wire::B_ACK {
        return Err(format!(
            "-P {path}: slot {slot} refused (the server closed or answered {n} unexpected bytes)"
        ));
    }
    sys::set_nonblocking(s.as_raw_fd(), true).map_err(|e| e.to_string())?;
    Ok(s)
}

impl Control {
    pub fn register(&self) -> std::io::Result<()> {
        self.ep
            .add(self.sigfd.as_raw_fd(), libc::EPOLLIN as u32, TOKEN_SIGNAL)?;
        self.ep.add(
            self.sh.handoff_wake.as_raw_fd(),
            libc::EPOLLIN as u32,
            TOKEN_HANDOFF,
        )?;
        if let Some(s) = &self.status {
            self.ep
                .add(s.as_raw_fd(), libc::EPOLLIN as u32, TOKEN_STATUS)?;
        }
        if let Some((s, _)) = &self.bclient {
            self.ep
                .add(s.as_raw_fd(), libc::EPOLLIN as u32, TOKEN_BCLIENT)?;
        }
        self.b.register_listeners(&self.ep)
    }

    fn serve(&mut self, t: Target, p: Pending) {
        let cfg = self.sh.config();
        match t {
            Target::Slot(s) => self.b.deliver(&self.ep, &self.sh, s, p),
            Target::Named(n) => match cfg.named.get(&n) {
                Some(Named::Spawn { argv, max_children }) => {
                    self.spawner.deliver(&self.sh, &n, argv, *max_children, p)
                }
                Some(Named::Relay { to, proxy }) => {
                    crate::relay::start(&self.sh, &n, to, *proxy, p)
                }
                Some(Named::HttpsRedirect { webroot }) => {
                    crate::responder::start(&self.sh, &n, webroot.as_deref(), p)
                }
                // Workers deliver to a running daemon's pair; reaching here means it was added
                // by a reload, which does not start daemons.
                Some(Named::Daemon) | None => {
                    self.sh.stats.count(&format!("name:{n}"), Event::Refused);
                    crate::log!(
                        Warn,
                        "refused",
                        target = n,
                        remote = remote_of(&p.tuple),
                        reason = "no such target"
                    );
                }
            },
            other => {
                self.sh
                    .stats
                    .count(&config::target_name(&other), Event::Refused);
            }
        }
    }

    fn reload(&mut self) {
        let dir = &self.config_dir;
        let read = |p: &str| read_in_dir(dir, p);
        let old = self.sh.config();
        match config::build(&self.opts, &read) {
            Ok(mut c) => {
                if c.listeners != old.listeners {
                    crate::log!(
                        Warn,
                        "reload",
                        note = "listener changes take effect on restart; keeping the old listeners"
                    );
                    c.listeners = old.listeners.clone();
                }
                if c.api_sockets != old.api_sockets {
                    crate::log!(
                        Warn,
                        "reload",
                        note = "API socket changes take effect on restart"
                    );
                    c.api_sockets = old.api_sockets.clone();
                }
                if let Some(l) = c.log_level.as_deref().and_then(crate::log::Level::parse) {
                    crate::log::set_level(l);
                }
                c.workers = old.workers;
                c.status = old.status.clone();
                self.sh.replace_config(c);
                self.handovers.reload(&self.sh.config());
                self.a.forget_idle(&self.ep);
                crate::log!(Info, "reload", result = "ok");
            }
            Err(e) => crate::log!(Error, "reload", result = "kept the old config", reason = e),
        }
    }

    fn on_status(&mut self) {
        let Some(l) = &self.status else { return };
        while let Ok((fd, _)) = sys::accept(l.as_raw_fd()) {
            let text = status::render(
                &self.sh.stats.snapshot(),
                self.sh.waiting.load(Ordering::Relaxed).max(0) as u64,
                (self.a.waiting() + self.b.waiting() + self.spawner.waiting()) as u64,
                self.spawner.children() as u64,
                crate::relay::ACTIVE.load(Ordering::Relaxed) as u64,
                self.sh.accepted.load(Ordering::Relaxed),
            ) + &self.handovers.render()
                + &crate::daemon::status_lines();
            let mut s = std::os::unix::net::UnixStream::from(fd);
            let _ = s.set_write_timeout(Some(std::time::Duration::from_secs(1)));
            let _ = s.write_all(text.as_bytes());
        }
    }

    fn on_bclient(&mut self) {
        let Some((s, li)) = &self.bclient else { return };
        let li = *li;
        let raw = s.as_raw_fd();
        for _ in 0..64 {
            let mut buf = [0u8; 16];
            match sys::recv_with_fds(raw, &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, fds, _)) if fds.is_empty() => {
                    crate::log!(
                        Error,
                        "b-client",
                        reason = "the B server closed the connection (ENOLINK); exiting"
                    );
                    self.sh.stop.store(true, Ordering::SeqCst);
                    self.sh.wake_workers();
                    return;
                }
                Ok((n, mut fds, _)) => {
                    if buf[..n] != wire::B_DELIVERY || fds.len() != 1 {
                        crate::log!(
                            Warn,
                            "b-client",
                            reason =
                                format!("malformed record ({n} bytes, {} fds) ignored", fds.len())
                        );
                        continue;
                    }
                    let conn = fds.pop().expect("one fd");
                    let peer = sys::peer_addr(conn.as_raw_fd()).ok();
                    let local = sys::local_addr(conn.as_raw_fd())
                        .ok()
                        .and_then(|a| a.to_inet());
                    let t = config::tuple_of(li, local, peer.and_then(|p| p.to_inet()));
                    let cfg = self.sh.config();
                    let mut pending_ctl: Vec<(Target, Pending)> = Vec::new();
                    {
                        let mut f = |t: Target, p: Pending| pending_ctl.push((t, p));
                        worker::dispatch(
                            &self.ep,
                            &self.sh,
                            &mut self.a,
                            &cfg,
                            conn,
                            t,
                            Some(&mut f),
                        );
                    }
                    for (t, p) in pending_ctl {
                        self.serve(t, p);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return,
                Err(e) => {
                    crate::log!(Error, "b-client", reason = e);
                    return;
                }
            }
        }
    }

    pub fn run(&mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
        // A first round at once: handovers wait to be sent.
        let mut deadline: Option<Instant> = Some(Instant::now());
        while !self.sh.stop.load(Ordering::SeqCst) {
            let n = match self.ep.wait(
                &mut events,
                crate::queue::timeout_ms(deadline, Instant::now()),
            ) {
                Ok(n) => n,
                Err(e) => {
                    crate::log!(Error, "epoll", reason = e);
                    break;
                }
            };
            for ev in events[..n].iter().copied() {
                let token = ev.u64;
                match token {
                    TOKEN_SIGNAL => {
                        while let Some(sig) = sys::read_signal(self.sigfd.as_raw_fd()) {
                            match sig {
                                libc::SIGHUP => self.reload(),
                                libc::SIGCHLD => self.spawner.reap(&self.sh),
                                libc::SIGTERM | libc::SIGINT => {
                                    crate::log!(Info, "stop", signal = sig);
                                    self.sh.stop.store(true, Ordering::SeqCst);
                                    self.sh.wake_workers();
                                }
                                _ => {}
                            }
                        }
                    }
                    TOKEN_HANDOFF => {
                        sys::eventfd_drain(self.sh.handoff_wake.as_raw_fd());
                        let items: Vec<(Target, Pending)> = self
                            .sh
                            .handoff
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .drain(..)
                            .collect();
                        for (t, p) in items {
                            self.serve(t, p);
                        }
                    }
                    TOKEN_STATUS => self.on_status(),
                    TOKEN_BCLIENT => self.on_bclient(),
                    t if (bserver::TOKEN_API..bserver::TOKEN_BCONN).contains(&t) => {
                        self.b
                            .on_api(&self.ep, &self.sh, (t - bserver::TOKEN_API) as usize)
                    }
                    t => {
                        if let Some(id) = BServer::owns_conn(t) {
                            self.b
                                .on_conn(&self.ep, &self.sh, id, ev.events, &mut self.handovers);
                        } else if let Some(i) = self.a.owns(t) {
                            self.a.on_ready(&self.ep, &self.sh, i);
                        }
                    }
                }
            }
            let now = Instant::now();
            let cfg = self.sh.config();
            let ds = [
                self.handovers.tick(&cfg, now),
                self.a.expire(&self.ep, &self.sh, now),
                self.b.expire(&self.ep, &self.sh, now),
                self.spawner.expire(&self.sh, now),
            ];
            deadline = ds.iter().flatten().min().copied();
        }
    }
}
