//! Listener handover: which (local address, port) keys the router can leave to the kernel.
//!
//! A key can be handed over when every connection arriving on it goes to the same target no
//! matter who connects: the walk through the tables from `start` is decided by the listener,
//! the local address and the local port alone. A rule or map keyed on the remote address or
//! port on the way, or a `fail`, keeps the key on per-connection dispatch. Pure: the router
//! creates and sends the listeners.

use std::net::Ipv6Addr;

use super::table::{RouteError, RouteTable, Target, MAX_JUMPS};

/// What a walk with only the local side of the tuple known comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// Every connection on this key goes here.
    Target(&'a Target),
    /// The route depends on something not known at setup (a step named in words).
    Depends(String),
    Error(RouteError),
}

/// A local key: the listener it arrives on, the local address (None: any address the listener
/// accepts, i.e. the whole listener) and the local port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalKey {
    pub listener: u32,
    pub ip: Option<Ipv6Addr>,
    pub port: u16,
}

/// One TCP listener of the router, as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerInfo {
    pub index: u32,
    /// Its bound address (IPv4 mapped); unspecified for a wildcard listener.
    pub ip: Ipv6Addr,
    pub port: u16,
}

/// A key the router hands over, and to which target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverKey {
    pub key: LocalKey,
    pub target: Target,
}

impl RouteTable {
    /// Walks the tables for `key` with the remote side unknown (and the local address unknown
    /// when `key.ip` is None). Does not allocate unless it reports a dependency.
    pub fn resolve_local(&self, key: &LocalKey) -> Resolved<'_> {
        let mut current = Target::JumpRule(self.start);
        let mut jumps = 0usize;
        loop {
            let next: &Target = match current {
                Target::JumpRule(id) => {
                    let Some(set) = self.rule_sets.get(&id) else {
                        return Resolved::Error(RouteError::NoSuchSet(current));
                    };
                    let mut taken = &set.default;
                    for (i, r) in set.rules.iter().enumerate() {
                        // Known fields that differ: the rule cannot match this key.
                        if r.listener.is_some_and(|l| l != key.listener)
                            || r.local_port.is_some_and(|p| p != key.port)
                        {
                            continue;
                        }
                        let local_cond = r.local_ip.filter(|m| u128::from(m.mask) != 0);
                        match (local_cond, key.ip) {
                            (Some(m), Some(ip)) if !m.matches(ip) => continue,
                            (Some(_), None) => {
                                return Resolved::Depends(format!(
                                    "rule-set {id} rule {} tests the local address",
                                    i + 1
                                ))
                            }
                            _ => {}
                        }
                        let remote_cond = r.remote_ip.is_some_and(|m| u128::from(m.mask) != 0)
                            || r.remote_port.is_some();
                        if remote_cond {
                            return Resolved::Depends(format!(
                                "rule-set {id} rule {} tests the remote address",
                                i + 1
                            ));
                        }
                        taken = &r.target;
                        break;
                    }
                    taken
                }
                Target::JumpMap(id) => {
                    let Some(set) = self.map_sets.get(&id) else {
                        return Resolved::Error(RouteError::NoSuchSet(current));
                    };
                    if set.spec.remote_ip_len > 0 || set.spec.remote_port {
                        return Resolved::Depends(format!(
                            "map-set {id} is keyed on the remote address"
                        ));
                    }
                    let ip = match (set.spec.local_ip_len, key.ip) {
                        (0, _) => Ipv6Addr::UNSPECIFIED,
                        (_, Some(ip)) => ip,
                        (_, None) => {
                            return Resolved::Depends(format!(
                                "map-set {id} is keyed on the local address"
                            ))
                        }
                    };
                    let probe = super::table::Tuple {
                        listener: key.listener,
                        local_ip: ip,
                        local_port: key.port,
                        remote_ip: Ipv6Addr::UNSPECIFIED,
                        remote_port: 0,
                    };
                    set.entries
                        .get(&set.spec.key_of(&probe))
                        .unwrap_or(&set.default)
                }
                _ => unreachable!("the walk only holds jump targets"),
            };
            match next {
                Target::JumpRule(_) | Target::JumpMap(_) => {
                    jumps += 1;
                    if jumps > MAX_JUMPS {
                        return Resolved::Error(RouteError::JumpLimit);
                    }
                    current = next.clone();
                }
                terminal => return Resolved::Target(terminal),
            }
        }
    }

    /// Every exact local address the tables name (a full-length `ip:` match, a map entry of a
    /// set keyed on all 128 bits of the local address): the candidates for per-address keys
    /// under a wildcard listener. Sorted, without repeats.
    pub fn exact_local_addresses(&self) -> Vec<Ipv6Addr> {
        let mut out: Vec<Ipv6Addr> = Vec::new();
        for rs in self.rule_sets.values() {
            for r in &rs.rules {
                if let Some(m) = r.local_ip.filter(|m| u128::from(m.mask) == u128::MAX) {
                    out.push(m.addr);
                }
            }
        }
        for ms in self.map_sets.values() {
            if ms.spec.local_ip_len == 128 {
                out.extend(ms.entries.keys().map(|k| k.local_ip));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The keys to hand over: for each listener, the whole listener if its route does not depend on
/// the local address, else each exact address the tables name. Only targets `opted_in` accepts
/// are handed over, each to exactly one key (a program holds one listener per socket): a second
/// key for the same target is an error naming both.
pub fn plan(
    table: &RouteTable,
    listeners: &[ListenerInfo],
    opted_in: &dyn Fn(&Target) -> bool,
) -> Result<Vec<HandoverKey>, String> {
    let mut out: Vec<HandoverKey> = Vec::new();
    let addresses = table.exact_local_addresses();
    for l in listeners {
        let wildcard = l.ip.is_unspecified();
        let whole = LocalKey {
            listener: l.index,
            ip: if wildcard { None } else { Some(l.ip) },
            port: l.port,
        };
        let mut keys = Vec::new();
        match table.resolve_local(&whole) {
            Resolved::Target(t) => keys.push((whole, t)),
            Resolved::Depends(_) if wildcard => {
                for &ip in &addresses {
                    let k = LocalKey {
                        ip: Some(ip),
                        ..whole
                    };
                    if let Resolved::Target(t) = table.resolve_local(&k) {
                        keys.push((k, t));
                    }
                }
            }
            _ => {}
        }
        for (key, target) in keys {
            if !matches!(target, Target::Unix(_) | Target::Slot(_)) || !opted_in(target) {
                continue;
            }
            if let Some(prev) = out.iter().find(|h| &h.target == target) {
                return Err(format!(
                    "handover: {target} is reached on {} and on {}; a target takes one \
                     listener (give each key its own target, or drop handover for it)",
                    describe(&prev.key),
                    describe(&key)
                ));
            }
            out.push(HandoverKey {
                key,
                target: target.clone(),
            });
        }
    }
    Ok(out)
}

/// The handover key a connection's tuple falls on, if any (what `explain` reports).
pub fn key_for(
    keys: &[HandoverKey],
    listener: u32,
    local_ip: Ipv6Addr,
    local_port: u16,
) -> Option<&HandoverKey> {
    // A specific address wins over the whole listener, as the kernel's lookup prefers it.
    let hit = |want_ip: Option<Ipv6Addr>| {
        keys.iter()
            .find(|h| h.key.listener == listener && h.key.port == local_port && h.key.ip == want_ip)
    };
    hit(Some(local_ip)).or_else(|| hit(None))
}

/// `listener 0 [::ffff:127.0.0.1]:80` or `listener 0 (any address):80`.
pub fn describe(k: &LocalKey) -> String {
    match k.ip {
        Some(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => format!("listener {} {v4}:{}", k.listener, k.port),
            None => format!("listener {} [{ip}]:{}", k.listener, k.port),
        },
        None => format!("listener {} (any address):{}", k.listener, k.port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketbox::text;

    fn v6(s: &str) -> Ipv6Addr {
        match s.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(a) => a.to_ipv6_mapped(),
            std::net::IpAddr::V6(a) => a,
        }
    }

    fn listener(ip: &str, port: u16) -> ListenerInfo {
        ListenerInfo {
            index: 0,
            ip: v6(ip),
            port,
        }
    }

    const MIXED: &str = "rule-set:0 size:4\n\
        ip:127.0.0.2 jump-unix:/web\n\
        ip:127.0.0.3 rip:127.0.0.0/24 jump-unix:/local\n\
        ip:127.0.0.3 jump-unix:/other\n\
        ip:127.0.0.4 jump-map:1\n\
        default:fail\n\
        map-set:1 match-lip:128 size:1\n\
        ip:127.0.0.4 jump-unix:/mapped\n\
        default:fail\n";

    #[test]
    fn only_keys_decided_by_the_local_side_are_handed_over() {
        let t = text::parse(MIXED).unwrap();
        let all = |_: &Target| true;
        let keys = plan(&t, &[listener("::", 80)], &all).unwrap();
        let got: Vec<(Option<Ipv6Addr>, Target)> =
            keys.iter().map(|h| (h.key.ip, h.target.clone())).collect();
        assert_eq!(
            got,
            vec![
                (Some(v6("127.0.0.2")), Target::Unix("/web".into())),
                (Some(v6("127.0.0.4")), Target::Unix("/mapped".into())),
            ],
            "127.0.0.3 depends on the remote address; the default is fail"
        );
        let only_web = |t: &Target| t == &Target::Unix("/web".into());
        assert_eq!(plan(&t, &[listener("::", 80)], &only_web).unwrap().len(), 1);
        assert!(matches!(
            t.resolve_local(&LocalKey { listener: 0, ip: Some(v6("127.0.0.3")), port: 80 }),
            Resolved::Depends(s) if s.contains("rule 2") && s.contains("remote")
        ));
    }

    #[test]
    fn whole_listener_and_one_listener_per_target() {
        let t = text::parse("rule-set:0 size:0\ndefault:jump-unix:/all\n").unwrap();
        let keys = plan(&t, &[listener("::", 8080)], &|_| true).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key.ip, None);
        let specific = plan(&t, &[listener("127.0.0.1", 8080)], &|_| true).unwrap();
        assert_eq!(specific[0].key.ip, Some(v6("127.0.0.1")));
        let two = [
            listener("127.0.0.1", 1),
            ListenerInfo {
                index: 1,
                ..listener("127.0.0.1", 2)
            },
        ];
        let e = plan(&t, &two, &|_| true).unwrap_err();
        assert!(e.contains("one listener"), "{e}");
    }

    #[test]
    fn explain_lookup_prefers_the_specific_key() {
        let t = text::parse(MIXED).unwrap();
        let keys = plan(&t, &[listener("::", 80)], &|_| true).unwrap();
        assert!(key_for(&keys, 0, v6("127.0.0.2"), 80).is_some());
        assert!(key_for(&keys, 0, v6("127.0.0.2"), 81).is_none());
        assert!(key_for(&keys, 0, v6("127.0.0.3"), 80).is_none());
        assert!(key_for(&keys, 1, v6("127.0.0.2"), 80).is_none());
    }

    /// The symbolic walk agrees with `route` on every tuple of a small universe whenever it
    /// says the key is decided.
    #[test]
    fn resolved_keys_route_the_same_for_every_remote() {
        let t = text::parse(MIXED).unwrap();
        for last in 1..=5u8 {
            let ip = v6(&format!("127.0.0.{last}"));
            for port in [80u16, 81] {
                let k = LocalKey {
                    listener: 0,
                    ip: Some(ip),
                    port,
                };
                let Resolved::Target(want) = t.resolve_local(&k) else {
                    continue;
                };
                for r in 0..=3u8 {
                    let tuple = super::super::table::Tuple {
                        listener: 0,
                        local_ip: ip,
                        local_port: port,
                        remote_ip: v6(&format!("127.0.{r}.9")),
                        remote_port: 1000 + u16::from(r),
                    };
                    assert_eq!(t.route(&tuple), Ok(want), "{tuple}");
                }
            }
        }
    }
}
