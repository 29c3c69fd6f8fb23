//! Per-target counters and the text the status command prints.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Handed to the target (A/B datagram sent, child spawned, relay connected).
    pub delivered: u64,
    /// Had to wait in the target's queue (they are also counted once delivered or timed out).
    pub queued: u64,
    /// Closed after waiting longer than the queue timeout.
    pub timed_out: u64,
    /// Closed at once: the target is missing, refused, unsafe, `fail`, or its queue was full.
    pub refused: u64,
}

#[derive(Clone, Copy)]
pub enum Event {
    Delivered,
    Queued,
    TimedOut,
    Refused,
}

#[derive(Default)]
pub struct Stats {
    map: Mutex<BTreeMap<String, Counters>>,
}

impl Stats {
    pub fn count(&self, target: &str, ev: Event) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let c = match m.get_mut(target) {
            Some(c) => c,
            None => m.entry(target.to_string()).or_default(),
        };
        match ev {
            Event::Delivered => c.delivered += 1,
            Event::Queued => c.queued += 1,
            Event::TimedOut => c.timed_out += 1,
            Event::Refused => c.refused += 1,
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, Counters> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One line per target, then a total line.
pub fn render(
    snap: &BTreeMap<String, Counters>,
    waiting_a: u64,
    waiting: u64,
    children: u64,
    relays: u64,
    accepted: u64,
) -> String {
    let mut out = String::new();
    let mut total = Counters::default();
    for (t, c) in snap {
        out.push_str(&format!(
            "target={} delivered={} queued={} timed_out={} refused={}\n",
            crate::log::quote(t),
            c.delivered,
            c.queued,
            c.timed_out,
            c.refused
        ));
        total.delivered += c.delivered;
        total.queued += c.queued;
        total.timed_out += c.timed_out;
        total.refused += c.refused;
    }
    out.push_str(&format!(
        "total delivered={} queued={} timed_out={} refused={} waiting={} children={} relays={} accepted={}\n",
        total.delivered,
        total.queued,
        total.timed_out,
        total.refused,
        waiting_a + waiting,
        children,
        relays,
        accepted
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn counts_and_renders() {
        let s = Stats::default();
        s.count("unix:/a", Event::Queued);
        s.count("unix:/a", Event::Delivered);
        s.count("fail", Event::Refused);
        let r = render(&s.snapshot(), 0, 0, 0, 0, 0);
        assert!(r.contains("target=unix:/a delivered=1 queued=1 timed_out=0 refused=0\n"));
        assert!(r.contains("total delivered=1 queued=1 timed_out=0 refused=1"));
    }
}
