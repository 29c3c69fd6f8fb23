//! Trapped calls that must wait (a blocking accept or recvfrom on a converted socket with
//! nothing pending, a connect whose handshake or vsock connection is under way): one thread and one epoll set for all of them, so a wait costs two
//! `epoll_ctl`s instead of a thread, and the answering thread never blocks.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{errno, id_valid, respond, Answer, Shared};

/// Tries the call again once its socket is ready: Some(answer) ends the wait, None waits
/// on (another process took what was pending).
pub(super) type Attempt = Box<dyn Fn(&Shared, &OwnedFd) -> Result<Option<Answer>, i32> + Send>;

struct Waiting {
    /// The calling thread.
    tid: u32,
    /// When the call fails with ETIMEDOUT (a hybrid-vsock handshake's limit).
    deadline: Option<Instant>,
    /// EPOLLIN or EPOLLOUT.
    events: u32,
    sock: OwnedFd,
    attempt: Attempt,
}

pub(super) struct Waiters {
    epoll: OwnedFd,
    /// An eventfd in the epoll set: a signal was forwarded, look at the waiting threads now.
    wake: OwnedFd,
    /// Keyed by the notification id, which is also the epoll token.
    waiting: Mutex<HashMap<u64, Waiting>>,
}

/// How often waiting threads are looked at: gone (exited, killed), or a signal pending.
const SWEEP: Duration = Duration::from_millis(100);
/// The epoll token of `wake`.
const WAKE: u64 = u64::MAX;
/// The kernel's "interrupted, restart if the handler has SA_RESTART" (not in libc's headers:
/// it never reaches a program).
const ERESTARTSYS: i32 = 512;

impl Waiters {
    pub(super) fn new() -> Result<Waiters, String> {
        // SAFETY: epoll_create1 with a flag; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(format!("epoll_create1: {}", crate::errno_words(errno())));
        }
        // SAFETY: fd is a new descriptor owned by nothing else.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: eventfd with flags; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(format!("eventfd: {}", crate::errno_words(errno())));
        }
        let ws = Waiters {
            epoll,
            // SAFETY: fd is a new descriptor owned by nothing else.
            wake: unsafe { OwnedFd::from_raw_fd(fd) },
            waiting: Mutex::new(HashMap::new()),
        };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE,
        };
        // SAFETY: ev is a valid epoll_event; both fds are ours.
        if unsafe {
            libc::epoll_ctl(
                ws.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                ws.wake.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            return Err(format!("epoll_ctl: {}", crate::errno_words(errno())));
        }
        Ok(ws)
    }

    /// Answers call `id` with `attempt`'s answer once `sock` is readable. Err: the wait cannot
    /// be registered (the caller gets that error).
    pub(super) fn wait(
        &self,
        id: u64,
        tid: u32,
        sock: OwnedFd,
        deadline: Option<Instant>,
        attempt: Attempt,
    ) -> Result<(), i32> {
        self.wait_for(libc::EPOLLIN as u32, id, tid, sock, deadline, attempt)
    }

    /// The same for `events` (EPOLLOUT: a connect under way).
    pub(super) fn wait_for(
        &self,
        events: u32,
        id: u64,
        tid: u32,
        sock: OwnedFd,
        deadline: Option<Instant>,
        attempt: Attempt,
    ) -> Result<(), i32> {
        let mut waiting = self.waiting.lock().unwrap();
        self.ctl(libc::EPOLL_CTL_ADD, &sock, id, events)?;
        waiting.insert(
            id,
            Waiting {
                tid,
                deadline,
                events,
                sock,
                attempt,
            },
        );
        Ok(())
    }

    /// A signal was forwarded to the program: look at the waiting threads now, not at the
    /// next sweep.
    pub(super) fn signal_came(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a valid buffer to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    fn ctl(&self, op: i32, sock: &OwnedFd, id: u64, events: u32) -> Result<(), i32> {
        let mut ev = libc::epoll_event {
            events: events | libc::EPOLLONESHOT as u32,
            u64: id,
        };
        // SAFETY: ev is a valid epoll_event; both fds are ours.
        let r = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, sock.as_raw_fd(), &mut ev) };
        if r < 0 {
            return Err(errno());
        }
        Ok(())
    }

    /// Our copy shares its open file with the program, so closing it would not take it out of
    /// the epoll set: that is done first.
    fn forget(&self, w: &Waiting) {
        // SAFETY: EPOLL_CTL_DEL ignores the event argument.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                w.sock.as_raw_fd(),
                std::ptr::null_mut(),
            )
        };
    }
}

/// The waiting thread: runs for as long as the supervisor.
pub(super) fn serve(sh: Arc<Shared>) {
    let ws = &sh.waiters;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
    let mut swept = Instant::now();
    loop {
        // SAFETY: events is valid for its length.
        let n = unsafe {
            libc::epoll_wait(
                ws.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                SWEEP.as_millis() as i32,
            )
        };
        let mut waiting = ws.waiting.lock().unwrap();
        let mut sweep_now = swept.elapsed() >= SWEEP;
        for ev in &events[..n.max(0) as usize] {
            let id = ev.u64;
            if id == WAKE {
                let mut count = [0u8; 8];
                // SAFETY: reads 8 bytes into a valid buffer from our eventfd.
                unsafe { libc::read(ws.wake.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
                sweep_now = true;
                continue;
            }
            let Some(w) = waiting.get(&id) else { continue };
            // A caller that is gone must not take a connection or datagram with it.
            let attempt = match id_valid(&sh.notify, id) {
                true => (w.attempt)(&sh, &w.sock),
                false => Ok(Some(Answer::Done)),
            };
            let answer = match attempt {
                // Nothing for us after all: wait for the next readiness.
                Ok(None) => match ws.ctl(libc::EPOLL_CTL_MOD, &w.sock, id, w.events) {
                    Ok(()) => continue,
                    Err(e) => Answer::Error(e),
                },
                Ok(Some(a)) => a,
                Err(e) => Answer::Error(e),
            };
            if let Some(w) = waiting.remove(&id) {
                ws.forget(&w);
            }
            respond(&sh.notify, id, answer);
        }
        if sweep_now {
            swept = Instant::now();
            waiting.retain(|&id, w| {
                let answer = match id_valid(&sh.notify, id) {
                    false => Answer::Done,
                    true if w.deadline.is_some_and(|d| d <= swept) => {
                        Answer::Error(libc::ETIMEDOUT)
                    }
                    true => match interruption(w.tid) {
                        Some(e) => Answer::Error(e),
                        None => return true,
                    },
                };
                ws.forget(w);
                respond(&sh.notify, id, answer);
                false
            });
        }
    }
}

/// Should the waiting call of thread `tid` end because a signal is pending for it? The
/// filter's killable wait keeps a signal from interrupting the call as it interrupts a
/// blocking accept or recvfrom, so that is done here: ERESTARTSYS when the signal is surely
/// this thread's (the kernel then restarts the call under SA_RESTART or returns EINTR, as for
/// the real call), EINTR when a signal for the whole process may have gone to another thread
/// (ERESTARTSYS would reach the program as an error number of its own there).
fn interruption(tid: u32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let pending = SignalState::parse(&status)?;
    pending.interruption()
}

#[derive(Debug, Default, PartialEq)]
struct SignalState {
    threads: u64,
    /// SigPnd: directed at this thread.
    own: u64,
    /// ShdPnd: directed at the process.
    shared: u64,
    blocked: u64,
}

impl SignalState {
    fn parse(status: &str) -> Option<SignalState> {
        let mut st = SignalState::default();
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            let hex = || u64::from_str_radix(value, 16).ok();
            match key {
                "Threads" => st.threads = value.parse().ok()?,
                "SigPnd" => st.own = hex()?,
                "ShdPnd" => st.shared = hex()?,
                "SigBlk" => st.blocked = hex()?,
                _ => {}
            }
        }
        Some(st)
    }

    fn interruption(&self) -> Option<i32> {
        let own = self.own & !self.blocked != 0;
        let shared = self.shared & !self.blocked != 0;
        match (own, shared) {
            (true, _) => Some(ERESTARTSYS),
            (false, true) if self.threads == 1 => Some(ERESTARTSYS),
            (false, true) => Some(libc::EINTR),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(threads: u64, own: u64, shared: u64, blocked: u64) -> String {
        format!(
            "Name:\tx\nThreads:\t{threads}\nSigQ:\t0/1\nSigPnd:\t{own:016x}\nShdPnd:\t{shared:016x}\nSigBlk:\t{blocked:016x}\nSigIgn:\t0000000000000000\n"
        )
    }

    #[test]
    fn a_signal_for_the_thread_restarts_or_interrupts_like_the_kernel() {
        let st = SignalState::parse(&status(4, 1 << 9, 0, 0)).unwrap();
        assert_eq!(st.interruption(), Some(ERESTARTSYS));
    }

    #[test]
    fn a_process_signal_is_this_threads_only_when_it_is_alone() {
        let alone = SignalState::parse(&status(1, 0, 1 << 14, 0)).unwrap();
        assert_eq!(alone.interruption(), Some(ERESTARTSYS));
        let among = SignalState::parse(&status(3, 0, 1 << 14, 0)).unwrap();
        assert_eq!(among.interruption(), Some(libc::EINTR));
    }

    #[test]
    fn blocked_or_no_signals_keep_waiting() {
        let st = SignalState::parse(&status(1, 1 << 9, 1 << 14, (1 << 9) | (1 << 14))).unwrap();
        assert_eq!(st.interruption(), None);
        assert_eq!(
            SignalState::parse(&status(1, 0, 0, 0))
                .unwrap()
                .interruption(),
            None
        );
    }

    #[test]
    fn a_malformed_status_is_no_answer() {
        assert_eq!(SignalState::parse("SigPnd:\tzz\n"), None);
    }
}
