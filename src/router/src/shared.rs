//! State shared by the workers and the control thread.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sockswap_core::socketbox::table::{Target, Tuple};

use crate::config::Config;
use crate::deliver::Pending;
use crate::status::Stats;
use crate::sys;

pub struct Shared {
    config: RwLock<Arc<Config>>,
    pub stats: Stats,
    pub stop: AtomicBool,
    /// Connections waiting in the workers' A queues (a gauge for the status command).
    pub waiting: AtomicI64,
    pub generation: AtomicU64,
    /// Connections the router itself accepted (none for handed-over keys).
    pub accepted: AtomicU64,
    /// Connections for targets only the control thread serves (B slots, spawn, relay).
    pub handoff: Mutex<VecDeque<(Target, Pending)>>,
    pub handoff_wake: OwnedFd,
    pub worker_wakes: Mutex<Vec<OwnedFd>>,
    /// Per A target: connections waiting for it in any worker's queue (the `queue_len` bound
    /// is per target, whatever the number of workers).
    a_queued: Mutex<HashMap<String, Arc<AtomicUsize>>>,
}

impl Shared {
    pub fn new(c: Config) -> std::io::Result<Shared> {
        Ok(Shared {
            config: RwLock::new(Arc::new(c)),
            stats: Stats::default(),
            stop: AtomicBool::new(false),
            waiting: AtomicI64::new(0),
            generation: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            handoff: Mutex::new(VecDeque::new()),
            handoff_wake: sys::eventfd()?,
            worker_wakes: Mutex::new(Vec::new()),
            a_queued: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn replace_config(&self, c: Config) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.wake_workers();
    }

    pub fn wake_workers(&self) {
        for w in self
            .worker_wakes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            sys::eventfd_signal(w.as_raw_fd());
        }
    }

    /// The shared count of connections queued for the A target `name`.
    pub fn a_queued(&self, name: &str) -> Arc<AtomicUsize> {
        self.a_queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    pub fn hand_off(&self, t: Target, p: Pending) {
        self.handoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((t, p));
        sys::eventfd_signal(self.handoff_wake.as_raw_fd());
    }
}

pub fn remote_of(t: &Tuple) -> String {
    match t.remote_ip.to_ipv4_mapped() {
        Some(v4) => format!("{v4}:{}", t.remote_port),
        None => format!("[{}]:{}", t.remote_ip, t.remote_port),
    }
}

pub fn local_of(t: &Tuple) -> String {
    match t.local_ip.to_ipv4_mapped() {
        Some(v4) => format!("{v4}:{}", t.local_port),
        None => format!("[{}]:{}", t.local_ip, t.local_port),
    }
}

impl Shared {
    /// Close a connection the router cannot deliver: counted `refused` for `target` and logged
    /// with the client and the reason (no connection is dropped silently).
    pub fn refuse(&self, target: &str, p: crate::deliver::Pending, why: &str) {
        self.stats.count(target, crate::status::Event::Refused);
        crate::log!(
            Warn,
            "refused",
            target = target,
            remote = remote_of(&p.tuple),
            reason = why
        );
        drop(p);
    }
}
