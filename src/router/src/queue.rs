//! Queue policy, pure: what to do with a connection for a target, and when queued ones expire.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Nothing waits: try to send now (and queue on EAGAIN).
    TryNow,
    /// Others wait already: keep order, join the queue.
    Enqueue,
    /// The queue is at its bound: close it now (counted as refused, logged).
    Refuse,
}

pub fn admit(waiting: usize, cap: usize) -> Admit {
    if waiting == 0 {
        Admit::TryNow
    } else if waiting < cap {
        Admit::Enqueue
    } else {
        Admit::Refuse
    }
}

/// On EAGAIN with nothing waiting: queue unless the bound is 0.
pub fn on_again(waiting: usize, cap: usize) -> Admit {
    if waiting < cap {
        Admit::Enqueue
    } else {
        Admit::Refuse
    }
}

/// Takes one place in a target's queue bound, shared by every worker delivering to it (so
/// `--queue-len` bounds the target, not each worker's share); false when the bound is reached.
pub fn reserve(queued: &std::sync::atomic::AtomicUsize, cap: usize) -> bool {
    use std::sync::atomic::Ordering;
    queued
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < cap).then_some(n + 1)
        })
        .is_ok()
}

/// Gives back a place taken by `reserve` (the connection was delivered, refused or timed out).
pub fn release(queued: &std::sync::atomic::AtomicUsize) {
    use std::sync::atomic::Ordering;
    let _ = queued.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
}

pub trait Since {
    fn since(&self) -> Instant;
}

/// Pop the entries that waited longer than `timeout` (queues are in arrival order).
pub fn expire<T: Since>(q: &mut VecDeque<T>, now: Instant, timeout: Duration) -> Vec<T> {
    let mut out = Vec::new();
    while let Some(front) = q.front() {
        if now.duration_since(front.since()) >= timeout {
            out.extend(q.pop_front());
        } else {
            break;
        }
    }
    out
}

/// When the front of `q` expires, if anything waits.
pub fn next_deadline<T: Since>(q: &VecDeque<T>, timeout: Duration) -> Option<Instant> {
    q.front().map(|f| f.since() + timeout)
}

/// epoll timeout in ms for the earliest deadline (rounded up; -1 = none).
pub fn timeout_ms(deadline: Option<Instant>, now: Instant) -> i32 {
    match deadline {
        None => -1,
        Some(d) if d <= now => 0,
        Some(d) => {
            let ms = (d - now).as_micros().div_ceil(1000);
            ms.min(60_000) as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    struct E(Instant);
    impl Since for E {
        fn since(&self) -> Instant {
            self.0
        }
    }
    #[test]
    fn admission() {
        assert_eq!(admit(0, 10), Admit::TryNow);
        assert_eq!(admit(3, 10), Admit::Enqueue);
        assert_eq!(admit(10, 10), Admit::Refuse);
        assert_eq!(on_again(0, 0), Admit::Refuse);
        assert_eq!(on_again(0, 1), Admit::Enqueue);
    }
    #[test]
    fn shared_bound() {
        let q = std::sync::atomic::AtomicUsize::new(0);
        assert!(reserve(&q, 2));
        assert!(reserve(&q, 2));
        assert!(!reserve(&q, 2));
        release(&q);
        assert!(reserve(&q, 2));
        assert!(!reserve(&q, 0));
    }
    #[test]
    fn expiry_in_order() {
        let t0 = Instant::now();
        let mut q: VecDeque<E> = VecDeque::new();
        q.push_back(E(t0));
        q.push_back(E(t0 + Duration::from_millis(50)));
        let gone = expire(
            &mut q,
            t0 + Duration::from_millis(20),
            Duration::from_millis(10),
        );
        assert_eq!(gone.len(), 1);
        assert_eq!(q.len(), 1);
        assert_eq!(
            next_deadline(&q, Duration::from_millis(10)),
            Some(t0 + Duration::from_millis(60))
        );
        assert_eq!(timeout_ms(None, t0), -1);
        assert_eq!(timeout_ms(Some(t0 + Duration::from_micros(1500)), t0), 2);
        assert_eq!(timeout_ms(Some(t0), t0 + Duration::from_millis(1)), 0);
    }
}
