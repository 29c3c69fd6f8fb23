//! inetd mode: spawn a program per connection with the socket on stdin and stdout, at most
//! `max_children` at a time per target; the rest wait in the target's bounded queue.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::deliver::Pending;
use crate::queue::{self, Admit};
use crate::shared::{local_of, remote_of, Shared};
use crate::status::Event;
use crate::sys;

#[derive(Default)]
pub struct Spawner {
    running: HashMap<String, usize>,
    pids: HashMap<i32, String>,
    queues: HashMap<String, VecDeque<Pending>>,
}

impl Spawner {
    pub fn children(&self) -> usize {
        self.pids.len()
    }
    pub fn waiting(&self) -> usize {
        self.queues.values().map(|q| q.len()).sum()
    }

    fn start(&mut self, sh: &Shared, name: &str, argv: &[String], p: Pending) {
        let tname = format!("spawn:{name}");
        let dup = |fd: &OwnedFd| fd.try_clone();
        let (Ok(out), Ok(inp)) = (dup(&p.fd), dup(&p.fd)) else {
            sh.stats.count(&tname, Event::Refused);
            crate::log!(Error, "spawn", target = tname, reason = "dup failed");
            return;
        };
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::from(inp))
            .stdout(Stdio::from(out))
            .env("SOCKETBOX_LOCAL", local_of(&p.tuple))
            .env("SOCKETBOX_REMOTE", remote_of(&p.tuple));
        // SAFETY: the closure only calls async-signal-safe functions (sigprocmask).
        unsafe {
            cmd.pre_exec(|| {
                sys::unblock_all_signals();
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id() as i32;
                drop(child); // reaped by pid on SIGCHLD
                *self.running.entry(name.to_string()).or_default() += 1;
                self.pids.insert(pid, name.to_string());
                sh.stats.count(&tname, Event::Delivered);
                crate::log!(
                    Debug,
                    "spawned",
                    target = tname,
                    pid = pid,
                    remote = remote_of(&p.tuple)
                );
            }
            Err(e) => {
                sh.stats.count(&tname, Event::Refused);
                crate::log!(
                    Error,
                    "spawn",
                    target = tname,
                    program = argv[0],
                    reason = e
                );
            }
        }
        drop(p);
    }

    pub fn deliver(&mut self, sh: &Shared, name: &str, argv: &[String], max: usize, p: Pending) {
        let tname = format!("spawn:{name}");
        let running = self.running.get(name).copied().unwrap_or(0);
        let q = self.queues.entry(name.to_string()).or_default();
        if running < max && q.is_empty() {
            return self.start(sh, name, argv, p);
        }
        match queue::on_again(q.len(), sh.config().queue_len) {
            Admit::Refuse => {
                sh.stats.count(&tname, Event::Refused);
                crate::log!(
                    Warn,
                    "refused",
                    target = tname,
                    remote = remote_of(&p.tuple),
                    reason = "child limit reached and queue full"
                );
            }
            _ => {
                sh.stats.count(&tname, Event::Queued);
                q.push_back(p);
            }
        }
    }

    /// SIGCHLD: reap, then start waiting connections where a child slot freed up.
    pub fn reap(&mut self, sh: &Shared) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if let Some(name) = self.pids.remove(&pid) {
                if let Some(n) = self.running.get_mut(&name) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        let cfg = sh.config();
        let names: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            let Some(crate::config::Named::Spawn { argv, max_children }) = cfg.named.get(&name)
            else {
                continue;
            };
            while self.running.get(&name).copied().unwrap_or(0) < *max_children {
                let Some(p) = self.queues.get_mut(&name).and_then(|q| q.pop_front()) else {
                    break;
                };
                self.start(sh, &name, argv, p);
            }
        }
    }

    pub fn expire(&mut self, sh: &Shared, now: Instant) -> Option<Instant> {
        let timeout = sh.config().queue_timeout;
        let mut next: Option<Instant> = None;
        for (name, q) in self.queues.iter_mut() {
            for p in queue::expire(q, now, timeout) {
                let tname = format!("spawn:{name}");
                sh.stats.count(&tname, Event::TimedOut);
                crate::log!(
                    Warn,
                    "queue-timeout",
                    target = tname,
                    remote = remote_of(&p.tuple)
                );
            }
            if let Some(d) = queue::next_deadline(q, timeout) {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }
}
