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
    /// Delivered to an A receiver that went away with them unread (see docs/router.md).
    pub lost: u64,
}

#[derive(Clone, Copy)]
pub enum Event {
    Delivered,
    Queued,
    TimedOut,
    Refused,
    Lost(u64),
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
            Event::Lost(n) => c.lost += n,
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
            "target={} delivered={} queued={} timed_out={} refused={} lost={}\n",
            crate::log::quote(t),
            c.delivered,
            c.queued,
            c.timed_out,
            c.refused,
            c.lost
        ));
        total.delivered += c.delivered;
        total.queued += c.queued;
        total.timed_out += c.timed_out;
        total.refused += c.refused;
        total.lost += c.lost;
    }
    out.push_str(&format!(
        "total delivered={} queued={} timed_out={} refused={} lost={} waiting={} children={} relays={} accepted={}\n",
        total.delivered,
        total.queued,
        total.timed_out,
        total.refused,
        total.lost,
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
        s.count("unix:/a", Event::Lost(3));
        let r = render(&s.snapshot(), 0, 0, 0, 0, 0);
        assert!(r.contains("target=unix:/a delivered=1 queued=1 timed_out=0 refused=0 lost=3\n"));
        assert!(r.contains("total delivered=1 queued=1 timed_out=0 refused=1 lost=3 "));
    }
}

/// Fields of the status text that are levels rather than event counts.
const GAUGES: [(&str, &str); 3] = [
    (
        "waiting",
        "Connections waiting in a queue for their target now.",
    ),
    ("children", "inetd-style children running now."),
    ("relays", "Relayed connections open now."),
];

fn counter_help(field: &str) -> String {
    match field {
        "delivered" => "Connections handed to the target.".into(),
        "queued" => "Connections that had to wait in the target's queue.".into(),
        "timed_out" => "Connections closed after waiting longer than the queue timeout.".into(),
        "refused" => {
            "Connections closed at once (target missing, refused, unsafe, fail, or queue full)."
                .into()
        }
        "lost" => "Connections delivered to a receiver that went away before taking them.".into(),
        other => format!("socketbox status field {other}."),
    }
}

/// The `key=value` words of a status line (a bare word has an empty value); a value `log::quote`
/// wrapped in double quotes is unwrapped.
fn words(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| !c.is_whitespace() && c != '=') {
            key.push(c);
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some('0') => value.push('\0'),
                            Some('u') => {
                                let hex: String = chars
                                    .by_ref()
                                    .skip_while(|&c| c == '{')
                                    .take_while(|&c| c != '}')
                                    .collect();
                                let ch =
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                                value.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
                            }
                            Some(other) => value.push(other),
                            None => break,
                        },
                        _ => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// A Prometheus metric name component: letters, digits and `_`.
fn metric_part(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A label value in the exposition format's escaping.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The status text (`render`'s lines, plus whatever `KIND=NAME field=N ...` lines other parts
/// add) in the Prometheus text exposition format: each `KIND=NAME` line's numeric fields become
/// `socketbox_KIND_FIELD_total{KIND="NAME"}` counters, and the `total` line's fields that no such
/// line carries (the levels: waiting, children, relays) become gauges. Counters are not summed
/// again: Prometheus sums labels itself.
pub fn to_prometheus(status: &str) -> String {
    use std::fmt::Write;
    // metric name -> (help, type, samples)
    let mut metrics: BTreeMap<String, (String, &str, Vec<String>)> = BTreeMap::new();
    let mut per_kind_fields = std::collections::BTreeSet::new();
    let mut totals = Vec::new();
    for line in status.lines() {
        let words = words(line);
        let Some((first, rest)) = words.split_first() else {
            continue;
        };
        let pairs = || {
            rest.iter()
                .filter_map(|(k, v)| v.parse::<u64>().ok().map(|v| (k.as_str(), v)))
        };
        if first.0 == "total" && first.1.is_empty() {
            totals.extend(pairs().map(|(k, v)| (k.to_owned(), v)));
            continue;
        }
        let (kind, name) = first;
        if name.is_empty() {
            continue;
        }
        for (field, value) in pairs() {
            per_kind_fields.insert(field.to_owned());
            let metric = format!(
                "socketbox_{}_{}_total",
                metric_part(kind),
                metric_part(field)
            );
            let entry = metrics.entry(metric.clone()).or_insert_with(|| {
                (
                    format!("{} Per {kind}.", counter_help(field)),
                    "counter",
                    Vec::new(),
                )
            });
            entry.2.push(format!(
                "{metric}{{{}=\"{}\"}} {value}",
                metric_part(kind),
                label_value(name)
            ));
        }
    }
    for (field, value) in totals {
        if per_kind_fields.contains(&field) {
            continue;
        }
        if field == "accepted" {
            // A count of events, not a level.
            let metric = "socketbox_accepted_total".to_string();
            metrics
                .entry(metric.clone())
                .or_insert_with(|| {
                    (
                        "Connections the router accepted itself (handed-over keys never count)."
                            .into(),
                        "counter",
                        Vec::new(),
                    )
                })
                .2
                .push(format!("{metric} {value}"));
            continue;
        }
        let metric = format!("socketbox_{}", metric_part(&field));
        let help = GAUGES.iter().find(|(g, _)| *g == field).map_or_else(
            || format!("socketbox status field {field}."),
            |(_, h)| (*h).to_owned(),
        );
        metrics
            .entry(metric.clone())
            .or_insert_with(|| (help, "gauge", Vec::new()))
            .2
            .push(format!("{metric} {value}"));
    }
    let mut out = String::new();
    for (name, (help, kind, samples)) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in samples {
            let _ = writeln!(out, "{s}");
        }
    }
    out
}

#[cfg(test)]
mod prometheus_tests {
    use super::*;

    #[test]
    fn counters_per_target_and_gauges_from_total() {
        let s = Stats::default();
        for _ in 0..3 {
            s.count("unix:/run/a \"x\"", Event::Delivered);
        }
        s.count("fail", Event::Refused);
        let text = render(&s.snapshot(), 1, 1, 0, 4, 7)
            + "handover target=unix:/w key=\"listener 0 127.0.0.1:80\" listener=127.0.0.1:80 state=handed-over since=2026-12-06T03:40:00Z\n";
        let p = to_prometheus(&text);
        assert!(
            p.contains("# TYPE socketbox_accepted_total counter\nsocketbox_accepted_total 7\n"),
            "{p}"
        );
        assert!(
            !p.contains("handover"),
            "handover lines carry no counters: {p}"
        );
        assert!(
            p.contains("# TYPE socketbox_target_delivered_total counter\n"),
            "{p}"
        );
        assert!(
            p.contains("socketbox_target_delivered_total{target=\"unix:/run/a \\\"x\\\"\"} 3\n"),
            "{p}"
        );
        assert!(
            p.contains("socketbox_target_refused_total{target=\"fail\"} 1\n"),
            "{p}"
        );
        assert!(
            p.contains("# TYPE socketbox_waiting gauge\nsocketbox_waiting 2\n"),
            "{p}"
        );
        assert!(p.contains("socketbox_relays 4\n"), "{p}");
        // Sums of per-target counters are left to Prometheus.
        assert!(!p.contains("socketbox_delivered"), "{p}");
        // Every sample belongs to a metric declared just before it.
        let mut declared = String::new();
        for line in p.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared = rest.split(' ').next().unwrap_or_default().to_owned();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&declared), "{line} after {declared}");
            }
        }
    }
}
