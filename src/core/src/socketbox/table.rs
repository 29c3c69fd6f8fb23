//! Routing tables: what a connection tuple is routed to.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv6Addr;

/// At most this many jumps per lookup (socketbox's bound); more is `RouteError::JumpLimit`.
pub const MAX_JUMPS: usize = 100;

/// One accepted connection, as the router sees it. IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Index of the listener that accepted it (in the router's listener list; 0 if only one).
    pub listener: u32,
    pub local_ip: Ipv6Addr,
    pub local_port: u16,
    pub remote_ip: Ipv6Addr,
    pub remote_port: u16,
}

/// Where a lookup step leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// "A" protocol: one datagram with the fd to this Unix path (may hold `-U` tokens, see
    /// `wire::expand_path_template`).
    Unix(String),
    /// "A" protocol over an inherited fd (`jump-fd:N`).
    Fd(i32),
    /// "B" protocol: the client registered on this slot.
    Slot(u32),
    /// A named target defined by the router's own config (spawn/inetd, relay, ...).
    Named(String),
    /// Continue in the rule-set with this id.
    JumpRule(u32),
    /// Continue in the map-set with this id.
    JumpMap(u32),
    /// Refuse (close) the connection.
    Fail,
}

/// A masked match on one address: `(ip & mask) == (pattern & mask)`; prefix length 0 = any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpMatch {
    pub addr: Ipv6Addr,
    pub mask: Ipv6Addr,
}

/// One rule of a rule-set. `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub listener: Option<u32>,
    pub local_ip: Option<IpMatch>,
    pub local_port: Option<u16>,
    pub remote_ip: Option<IpMatch>,
    pub remote_port: Option<u16>,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Taken when no rule matches; `Fail` if the config gave none.
    pub default: Target,
}

/// Which fields a map-set keys on: IP prefix lengths (0..=128, 0 = not keyed) and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapKeySpec {
    pub local_ip_len: u8,
    pub remote_ip_len: u8,
    pub local_port: bool,
    pub remote_port: bool,
}

/// The masked tuple a map-set looks up (unkeyed fields are zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapKey {
    pub local_ip: Ipv6Addr,
    pub remote_ip: Ipv6Addr,
    pub local_port: u16,
    pub remote_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSet {
    pub spec: MapKeySpec,
    pub entries: HashMap<MapKey, Target>,
    pub default: Target,
}

/// The whole routing table. Lookup starts at rule-set `start` (socketbox: rule-set 0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    pub rule_sets: HashMap<u32, RuleSet>,
    pub map_sets: HashMap<u32, MapSet>,
    pub start: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// More than `MAX_JUMPS` jumps (a loop in the config).
    JumpLimit,
    /// A jump to a set that does not exist (only possible in tables not built by a parser,
    /// which reject such jumps).
    NoSuchSet(Target),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::JumpLimit => write!(f, "more than {MAX_JUMPS} jumps"),
            RouteError::NoSuchSet(t) => write!(f, "jump to a missing set: {t:?}"),
        }
    }
}

/// The mask of an IPv6 prefix of `len` bits (lengths above 128 are treated as 128).
pub fn prefix_mask(len: u8) -> Ipv6Addr {
    let len = u32::from(len.min(128));
    let bits = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    Ipv6Addr::from(bits)
}

/// `ip & mask`, bit by bit.
pub fn mask_ip(ip: Ipv6Addr, mask: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(ip) & u128::from(mask))
}

/// The prefix length of `mask` if it is contiguous (ones then zeros), else None.
pub fn mask_prefix_len(mask: Ipv6Addr) -> Option<u8> {
    let bits = u128::from(mask);
    let ones = bits.leading_ones();
    if ones == 128 || bits << ones == 0 {
        Some(ones as u8)
    } else {
        None
    }
}

impl IpMatch {
    /// A match on the first `len` bits of `addr` (0 = any address).
    pub fn prefix(addr: Ipv6Addr, len: u8) -> IpMatch {
        IpMatch {
            addr,
            mask: prefix_mask(len),
        }
    }

    /// `(ip & mask) == (addr & mask)`.
    pub fn matches(&self, ip: Ipv6Addr) -> bool {
        let mask = u128::from(self.mask);
        u128::from(ip) & mask == u128::from(self.addr) & mask
    }
}

impl fmt::Display for IpMatch {
    /// `ADDR/LEN` for contiguous masks, `ADDR/MASKADDR` otherwise (the text config's forms).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match mask_prefix_len(self.mask) {
            Some(len) => write!(f, "{}/{}", self.addr, len),
            None => write!(f, "{}/{}", self.addr, self.mask),
        }
    }
}

impl fmt::Display for Target {
    /// The text config's spelling of the action (`jump-unix:PATH`, `fail`, ...); the two
    /// targets the text config has no word for are written `slot:N` and `named:NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Unix(path) => write!(f, "jump-unix:{path}"),
            Target::Fd(fd) => write!(f, "jump-fd:{fd}"),
            Target::Slot(slot) => write!(f, "slot:{slot}"),
            Target::Named(name) => write!(f, "named:{name}"),
            Target::JumpRule(id) => write!(f, "jump-rule:{id}"),
            Target::JumpMap(id) => write!(f, "jump-map:{id}"),
            Target::Fail => write!(f, "fail"),
        }
    }
}

impl Rule {
    /// A rule that matches every tuple.
    pub fn any(target: Target) -> Rule {
        Rule {
            listener: None,
            local_ip: None,
            local_port: None,
            remote_ip: None,
            remote_port: None,
            target,
        }
    }

    /// True if every field the rule gives matches `t` (a rule with no fields matches all).
    pub fn matches(&self, t: &Tuple) -> bool {
        /// An absent field matches anything.
        fn field<T>(want: Option<T>, matches: impl FnOnce(T) -> bool) -> bool {
            match want {
                None => true,
                Some(w) => matches(w),
            }
        }
        field(self.listener, |l| l == t.listener)
            && field(self.local_ip, |m| m.matches(t.local_ip))
            && field(self.local_port, |p| p == t.local_port)
            && field(self.remote_ip, |m| m.matches(t.remote_ip))
            && field(self.remote_port, |p| p == t.remote_port)
    }
}

impl fmt::Display for Rule {
    /// The rule as a text-config line (`ip:… port:… rip:… rport:… ACTION`); a listener
    /// condition, which the text config cannot express, is written `listener:N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.listener {
            write!(f, "listener:{l} ")?;
        }
        if let Some(m) = self.local_ip {
            write!(f, "ip:{m} ")?;
        }
        if let Some(p) = self.local_port {
            write!(f, "port:{p} ")?;
        }
        if let Some(m) = self.remote_ip {
            write!(f, "rip:{m} ")?;
        }
        if let Some(p) = self.remote_port {
            write!(f, "rport:{p} ")?;
        }
        write!(f, "{}", self.target)
    }
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "listener {} local [{}]:{} remote [{}]:{}",
            self.listener, self.local_ip, self.local_port, self.remote_ip, self.remote_port
        )
    }
}

impl MapKeySpec {
    /// The key a tuple has under this spec.
    pub fn key_of(&self, t: &Tuple) -> MapKey {
        MapKey {
            local_ip: mask_ip(t.local_ip, prefix_mask(self.local_ip_len)),
            remote_ip: mask_ip(t.remote_ip, prefix_mask(self.remote_ip_len)),
            local_port: if self.local_port { t.local_port } else { 0 },
            remote_port: if self.remote_port { t.remote_port } else { 0 },
        }
    }

    /// `key` with every bit this spec does not key on cleared (what `key_of` would give).
    pub fn normalize(&self, key: &MapKey) -> MapKey {
        MapKey {
            local_ip: mask_ip(key.local_ip, prefix_mask(self.local_ip_len)),
            remote_ip: mask_ip(key.remote_ip, prefix_mask(self.remote_ip_len)),
            local_port: if self.local_port { key.local_port } else { 0 },
            remote_port: if self.remote_port { key.remote_port } else { 0 },
        }
    }

    /// How a key reads under this spec: only the keyed fields ("lip fd01::/96 lport 443").
    pub fn describe(&self, key: &MapKey) -> String {
        let mut parts = Vec::new();
        if self.local_ip_len > 0 {
            parts.push(format!("lip {}/{}", key.local_ip, self.local_ip_len));
        }
        if self.remote_ip_len > 0 {
            parts.push(format!("rip {}/{}", key.remote_ip, self.remote_ip_len));
        }
        if self.local_port {
            parts.push(format!("lport {}", key.local_port));
        }
        if self.remote_port {
            parts.push(format!("rport {}", key.remote_port));
        }
        if parts.is_empty() {
            "(empty key)".to_string()
        } else {
            parts.join(" ")
        }
    }
}

impl fmt::Display for MapKeySpec {
    /// The text config's spelling (`match-lip:128 match-lport:1`); nothing keyed is written empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if self.local_ip_len > 0 {
            write!(f, "match-lip:{}", self.local_ip_len)?;
            sep = " ";
        }
        if self.remote_ip_len > 0 {
            write!(f, "{sep}match-rip:{}", self.remote_ip_len)?;
            sep = " ";
        }
        if self.local_port {
            write!(f, "{sep}match-lport:1")?;
            sep = " ";
        }
        if self.remote_port {
            write!(f, "{sep}match-rport:1")?;
        }
        Ok(())
    }
}

/// Collects explain lines only when asked: `route` passes none and never formats.
trait StepLog {
    fn step(&mut self, line: impl FnOnce() -> String);
}

struct NoLog;
impl StepLog for NoLog {
    #[inline]
    fn step(&mut self, _line: impl FnOnce() -> String) {}
}

impl StepLog for Vec<String> {
    fn step(&mut self, line: impl FnOnce() -> String) {
        self.push(line());
    }
}

impl RouteTable {
    /// Follow the tables from `start` to a terminal target (never `JumpRule`/`JumpMap`).
    ///
    /// Entering `start` is not a jump; each `jump-rule`/`jump-map` taken afterwards is, and the
    /// 101st (`MAX_JUMPS` + 1) gives `JumpLimit`. A missing set (start or jump target) gives
    /// `NoSuchSet` naming the jump. Does not allocate.
    pub fn route(&self, t: &Tuple) -> Result<&Target, RouteError> {
        self.walk(t, &mut NoLog)
    }

    /// `route`, plus one human-readable line per step and a last line with the result:
    /// `rule-set 0 rule 3 matched: ip:fd00::/16 port:22 jump-map:1`,
    /// `map-set 1 key [lip fd00::1/128] found -> jump-unix:/run/ssh`,
    /// `map-set 1 key [lip fd00::2/128] not found -> default fail`, `result: fail`.
    /// Rules are numbered from 1 in the order they appear in their set.
    pub fn explain(&self, t: &Tuple) -> (Vec<String>, Result<&Target, RouteError>) {
        let mut lines = Vec::new();
        let result = self.walk(t, &mut lines);
        match &result {
            Ok(target) => lines.push(format!("result: {target}")),
            Err(e) => lines.push(format!("error: {e}")),
        }
        (lines, result)
    }

    fn walk<'a>(&'a self, t: &Tuple, log: &mut impl StepLog) -> Result<&'a Target, RouteError> {
        let mut current = Target::JumpRule(self.start);
        let mut jumps = 0usize;
        loop {
            let next: &'a Target = match current {
                Target::JumpRule(id) => {
                    let Some(set) = self.rule_sets.get(&id) else {
                        log.step(|| format!("rule-set {id} does not exist"));
                        return Err(RouteError::NoSuchSet(current));
                    };
                    match set.rules.iter().position(|r| r.matches(t)) {
                        Some(i) => {
                            let rule = &set.rules[i];
                            log.step(|| format!("rule-set {id} rule {} matched: {rule}", i + 1));
                            &rule.target
                        }
                        None => {
                            log.step(|| {
                                format!(
                                    "rule-set {id}: none of {} rules matched -> default {}",
                                    set.rules.len(),
                                    set.default
                                )
                            });
                            &set.default
                        }
                    }
                }
                Target::JumpMap(id) => {
                    let Some(set) = self.map_sets.get(&id) else {
                        log.step(|| format!("map-set {id} does not exist"));
                        return Err(RouteError::NoSuchSet(current));
                    };
                    let key = set.spec.key_of(t);
                    match set.entries.get(&key) {
                        Some(target) => {
                            log.step(|| {
                                format!(
                                    "map-set {id} key [{}] found -> {target}",
                                    set.spec.describe(&key)
                                )
                            });
                            target
                        }
                        None => {
                            log.step(|| {
                                format!(
                                    "map-set {id} key [{}] not found -> default {}",
                                    set.spec.describe(&key),
                                    set.default
                                )
                            });
                            &set.default
                        }
                    }
                }
                _ => unreachable!("the walk only holds jump targets"),
            };
            match next {
                Target::JumpRule(_) | Target::JumpMap(_) => {
                    jumps += 1;
                    if jumps > MAX_JUMPS {
                        log.step(|| {
                            format!("jump {jumps} exceeds the limit of {MAX_JUMPS} (a loop?)")
                        });
                        return Err(RouteError::JumpLimit);
                    }
                    current = next.clone();
                }
                terminal => return Ok(terminal),
            }
        }
    }

    /// Checks that `start` and every jump (rules, map entries, defaults) name an existing set,
    /// that map prefix lengths are at most 128 and that every map entry's key is already masked
    /// to its set's spec (an entry with other bits set could never be found). Sets no jump
    /// reaches are allowed. The first error found names the set (sets are checked in id order).
    pub fn validate(&self) -> Result<(), String> {
        if !self.rule_sets.contains_key(&self.start) {
            return Err(format!(
                "lookup starts at rule-set {}, which does not exist",
                self.start
            ));
        }
        let check_jump = |from: &dyn Fn() -> String, target: &Target| -> Result<(), String> {
            match target {
                Target::JumpRule(id) if !self.rule_sets.contains_key(id) => Err(format!(
                    "{} jumps to rule-set {id}, which does not exist",
                    from()
                )),
                Target::JumpMap(id) if !self.map_sets.contains_key(id) => Err(format!(
                    "{} jumps to map-set {id}, which does not exist",
                    from()
                )),
                _ => Ok(()),
            }
        };
        let mut rule_ids: Vec<_> = self.rule_sets.keys().copied().collect();
        rule_ids.sort_unstable();
        for id in rule_ids {
            let set = &self.rule_sets[&id];
            for (i, rule) in set.rules.iter().enumerate() {
                check_jump(&|| format!("rule-set {id} rule {}", i + 1), &rule.target)?;
            }
            check_jump(&|| format!("rule-set {id} default"), &set.default)?;
        }
        let mut map_ids: Vec<_> = self.map_sets.keys().copied().collect();
        map_ids.sort_unstable();
        for id in map_ids {
            let set = &self.map_sets[&id];
            if set.spec.local_ip_len > 128 || set.spec.remote_ip_len > 128 {
                return Err(format!(
                    "map-set {id} keys on a prefix longer than 128 bits"
                ));
            }
            let mut entries: Vec<_> = set.entries.iter().collect();
            entries.sort_by_key(|(k, _)| (k.local_ip, k.remote_ip, k.local_port, k.remote_port));
            for (key, target) in entries {
                if set.spec.normalize(key) != *key {
                    return Err(format!(
                        "map-set {id} entry [{}] has bits outside the set's key ({})",
                        set.spec.describe(key),
                        set.spec
                    ));
                }
                check_jump(
                    &|| format!("map-set {id} entry [{}]", set.spec.describe(key)),
                    target,
                )?;
            }
            check_jump(&|| format!("map-set {id} default"), &set.default)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn tuple(lip: &str, lport: u16) -> Tuple {
        Tuple {
            listener: 0,
            local_ip: ip(lip),
            local_port: lport,
            remote_ip: ip("2001:db8::99"),
            remote_port: 40000,
        }
    }

    fn rule_set(rules: Vec<Rule>, default: Target) -> RuleSet {
        RuleSet { rules, default }
    }

    #[test]
    fn prefix_masks() {
        assert_eq!(prefix_mask(0), Ipv6Addr::UNSPECIFIED);
        assert_eq!(prefix_mask(128), Ipv6Addr::from(u128::MAX));
        assert_eq!(prefix_mask(200), Ipv6Addr::from(u128::MAX));
        assert_eq!(prefix_mask(96), ip("ffff:ffff:ffff:ffff:ffff:ffff::"));
        assert_eq!(mask_prefix_len(prefix_mask(17)), Some(17));
        assert_eq!(mask_prefix_len(ip("ffff::1")), None);
    }

    #[test]
    fn first_matching_rule_wins_and_missing_fields_match_anything() {
        let mut t = RouteTable::default();
        let mut r1 = Rule::any(Target::Unix("/a".into()));
        r1.local_port = Some(22);
        r1.local_ip = Some(IpMatch::prefix(ip("fd00::"), 16));
        let mut r2 = Rule::any(Target::Unix("/b".into()));
        r2.local_ip = Some(IpMatch::prefix(ip("fd00::"), 16));
        let mut r3 = Rule::any(Target::Unix("/c".into()));
        r3.remote_port = Some(1);
        r3.listener = Some(2);
        t.rule_sets
            .insert(0, rule_set(vec![r1, r2, r3], Target::Fd(3)));
        assert_eq!(
            t.route(&tuple("fd00::5", 22)),
            Ok(&Target::Unix("/a".into()))
        );
        assert_eq!(
            t.route(&tuple("fd00::5", 23)),
            Ok(&Target::Unix("/b".into()))
        );
        assert_eq!(t.route(&tuple("fd01::5", 22)), Ok(&Target::Fd(3)));
        let mut odd = tuple("fd01::5", 22);
        odd.remote_port = 1;
        assert_eq!(
            t.route(&odd),
            Ok(&Target::Fd(3)),
            "listener 0 is not listener 2"
        );
        odd.listener = 2;
        assert_eq!(t.route(&odd), Ok(&Target::Unix("/c".into())));
    }

    #[test]
    fn non_contiguous_mask() {
        let m = IpMatch {
            addr: ip("::1:0:0:0:5"),
            mask: ip("::ffff:0:0:0:ffff"),
        };
        assert!(m.matches(ip("1234::1:9:9:9:5")));
        assert!(!m.matches(ip("1234::2:9:9:9:5")));
        assert_eq!(m.to_string(), "::1:0:0:0:5/::ffff:0:0:0:ffff");
    }

    #[test]
    fn maps_look_up_the_masked_key_and_fall_back_to_default() {
        let spec = MapKeySpec {
            local_ip_len: 64,
            local_port: true,
            ..Default::default()
        };
        let mut entries = HashMap::new();
        let key = spec.key_of(&tuple("fd00:1:2:3::", 443));
        entries.insert(key, Target::Slot(7));
        let mut t = RouteTable::default();
        t.rule_sets.insert(0, rule_set(vec![], Target::JumpMap(5)));
        t.map_sets.insert(
            5,
            MapSet {
                spec,
                entries,
                default: Target::Fail,
            },
        );
        assert_eq!(
            t.route(&tuple("fd00:1:2:3:ab::1", 443)),
            Ok(&Target::Slot(7))
        );
        assert_eq!(t.route(&tuple("fd00:1:2:3:ab::1", 444)), Ok(&Target::Fail));
        assert_eq!(t.route(&tuple("fd00:1:2:4::1", 443)), Ok(&Target::Fail));
        assert_eq!(t.validate(), Ok(()));
        let (lines, res) = t.explain(&tuple("fd00:1:2:3:ab::1", 443));
        assert_eq!(res, Ok(&Target::Slot(7)));
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].contains("rule-set 0") && lines[0].contains("default jump-map:5"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("map-set 5 key [lip fd00:1:2:3::/64 lport 443] found -> slot:7"),
            "{lines:?}"
        );
    }

    #[test]
    fn jump_limit_is_exactly_max_jumps() {
        // A chain 0 -> 1 -> ... -> n of rule-sets; n jumps.
        let chain = |n: u32| {
            let mut t = RouteTable::default();
            for i in 0..n {
                t.rule_sets.insert(
                    i,
                    rule_set(vec![Rule::any(Target::JumpRule(i + 1))], Target::Fail),
                );
            }
            t.rule_sets.insert(n, rule_set(vec![], Target::Fd(9)));
            t
        };
        let any = tuple("::1", 1);
        assert_eq!(chain(MAX_JUMPS as u32).route(&any), Ok(&Target::Fd(9)));
        assert_eq!(
            chain(MAX_JUMPS as u32 + 1).route(&any),
            Err(RouteError::JumpLimit)
        );
        let mut looped = RouteTable::default();
        looped
            .rule_sets
            .insert(0, rule_set(vec![], Target::JumpMap(0)));
        looped.map_sets.insert(
            0,
            MapSet {
                spec: MapKeySpec::default(),
                entries: HashMap::new(),
                default: Target::JumpRule(0),
            },
        );
        assert_eq!(looped.validate(), Ok(()));
        let (lines, res) = looped.explain(&any);
        assert_eq!(res, Err(RouteError::JumpLimit));
        assert!(lines.iter().any(|l| l.contains("exceeds the limit")));
    }

    #[test]
    fn missing_sets() {
        let empty = RouteTable::default();
        assert_eq!(
            empty.route(&tuple("::1", 1)),
            Err(RouteError::NoSuchSet(Target::JumpRule(0)))
        );
        assert!(empty.validate().unwrap_err().contains("rule-set 0"));
        let mut t = RouteTable::default();
        t.rule_sets.insert(
            0,
            rule_set(vec![Rule::any(Target::JumpMap(4))], Target::Fail),
        );
        assert_eq!(
            t.route(&tuple("::1", 1)),
            Err(RouteError::NoSuchSet(Target::JumpMap(4)))
        );
        let e = t.validate().unwrap_err();
        assert!(
            e.contains("rule-set 0 rule 1") && e.contains("map-set 4"),
            "{e}"
        );
    }

    #[test]
    fn validate_rejects_unmasked_map_keys() {
        let spec = MapKeySpec {
            local_ip_len: 64,
            ..Default::default()
        };
        let mut entries = HashMap::new();
        entries.insert(
            MapKey {
                local_ip: ip("fd00::1"),
                remote_ip: Ipv6Addr::UNSPECIFIED,
                local_port: 0,
                remote_port: 0,
            },
            Target::Fail,
        );
        let mut t = RouteTable::default();
        t.rule_sets.insert(0, rule_set(vec![], Target::JumpMap(1)));
        t.map_sets.insert(
            1,
            MapSet {
                spec,
                entries,
                default: Target::Fail,
            },
        );
        let e = t.validate().unwrap_err();
        assert!(e.contains("map-set 1") && e.contains("outside"), "{e}");
    }

    fn arb_ip() -> impl Strategy<Value = Ipv6Addr> {
        // Few distinct values so that rules and map entries actually hit.
        prop_oneof![
            any::<u128>().prop_map(Ipv6Addr::from),
            (0u128..4).prop_map(|x| Ipv6Addr::from(0xfd00u128 << 112 | x)),
        ]
    }

    fn arb_tuple() -> impl Strategy<Value = Tuple> {
        (0u32..3, arb_ip(), 0u16..4, arb_ip(), 0u16..4).prop_map(|(listener, lip, lp, rip, rp)| {
            Tuple {
                listener,
                local_ip: lip,
                local_port: lp,
                remote_ip: rip,
                remote_port: rp,
            }
        })
    }

    fn arb_target() -> impl Strategy<Value = Target> {
        prop_oneof![
            Just(Target::Fail),
            (0i32..3).prop_map(Target::Fd),
            (0u32..4).prop_map(Target::JumpRule),
            (0u32..4).prop_map(Target::JumpMap),
        ]
    }

    fn arb_rule() -> impl Strategy<Value = Rule> {
        (
            proptest::option::of(0u32..3),
            proptest::option::of((arb_ip(), 0u8..=128)),
            proptest::option::of(0u16..4),
            proptest::option::of((arb_ip(), 0u8..=128)),
            proptest::option::of(0u16..4),
            arb_target(),
        )
            .prop_map(|(listener, lip, lp, rip, rp, target)| Rule {
                listener,
                local_ip: lip.map(|(a, l)| IpMatch::prefix(a, l)),
                local_port: lp,
                remote_ip: rip.map(|(a, l)| IpMatch::prefix(a, l)),
                remote_port: rp,
                target,
            })
    }

    fn arb_spec() -> impl Strategy<Value = MapKeySpec> {
        (0u8..=128, 0u8..=128, any::<bool>(), any::<bool>()).prop_map(|(l, r, lp, rp)| MapKeySpec {
            local_ip_len: l,
            remote_ip_len: r,
            local_port: lp,
            remote_port: rp,
        })
    }

    fn arb_table() -> impl Strategy<Value = (RouteTable, Vec<Tuple>)> {
        let rule_sets = proptest::collection::hash_map(
            0u32..4,
            (proptest::collection::vec(arb_rule(), 0..5), arb_target())
                .prop_map(|(rules, default)| RuleSet { rules, default }),
            0..4,
        );
        let map_sets = proptest::collection::hash_map(
            0u32..4,
            (
                arb_spec(),
                proptest::collection::vec((arb_tuple(), arb_target()), 0..5),
                arb_target(),
            ),
            0..4,
        );
        (
            rule_sets,
            map_sets,
            proptest::collection::vec(arb_tuple(), 1..8),
        )
            .prop_map(|(rule_sets, maps, probes)| {
                let map_sets = maps
                    .into_iter()
                    .map(|(id, (spec, es, default))| {
                        let entries = es
                            .into_iter()
                            .map(|(t, target)| (spec.key_of(&t), target))
                            .collect();
                        (
                            id,
                            MapSet {
                                spec,
                                entries,
                                default,
                            },
                        )
                    })
                    .collect();
                (
                    RouteTable {
                        rule_sets,
                        map_sets,
                        start: 0,
                    },
                    probes,
                )
            })
    }

    /// A second, deliberately plain reading of the lookup rules, to check `route` against.
    fn reference_route(table: &RouteTable, t: &Tuple) -> Result<Target, RouteError> {
        let mut at = Target::JumpRule(table.start);
        for jumps in 0..=MAX_JUMPS + 1 {
            if jumps == MAX_JUMPS + 1 {
                return Err(RouteError::JumpLimit);
            }
            let next = match &at {
                Target::JumpRule(id) => {
                    let set = table
                        .rule_sets
                        .get(id)
                        .ok_or(RouteError::NoSuchSet(at.clone()))?;
                    let mut found = set.default.clone();
                    for r in &set.rules {
                        let ok_ip = |m: Option<IpMatch>, v: Ipv6Addr| {
                            m.is_none() || {
                                let m = m.unwrap();
                                (0..16).all(|i| {
                                    m.addr.octets()[i] & m.mask.octets()[i]
                                        == v.octets()[i] & m.mask.octets()[i]
                                })
                            }
                        };
                        if (r.listener.is_none() || r.listener == Some(t.listener))
                            && ok_ip(r.local_ip, t.local_ip)
                            && ok_ip(r.remote_ip, t.remote_ip)
                            && (r.local_port.is_none() || r.local_port == Some(t.local_port))
                            && (r.remote_port.is_none() || r.remote_port == Some(t.remote_port))
                        {
                            found = r.target.clone();
                            break;
                        }
                    }
                    found
                }
                Target::JumpMap(id) => {
                    let set = table
                        .map_sets
                        .get(id)
                        .ok_or(RouteError::NoSuchSet(at.clone()))?;
                    let s = set.spec;
                    let key = MapKey {
                        local_ip: mask_ip(t.local_ip, prefix_mask(s.local_ip_len)),
                        remote_ip: mask_ip(t.remote_ip, prefix_mask(s.remote_ip_len)),
                        local_port: if s.local_port { t.local_port } else { 0 },
                        remote_port: if s.remote_port { t.remote_port } else { 0 },
                    };
                    set.entries
                        .get(&key)
                        .cloned()
                        .unwrap_or(set.default.clone())
                }
                _ => unreachable!(),
            };
            if !matches!(next, Target::JumpRule(_) | Target::JumpMap(_)) {
                return Ok(next);
            }
            if jumps == MAX_JUMPS {
                return Err(RouteError::JumpLimit);
            }
            at = next;
        }
        unreachable!()
    }

    proptest! {
        #[test]
        fn route_agrees_with_reference_and_explain((table, probes) in arb_table()) {
            let valid = table.validate().is_ok();
            for t in &probes {
                let got = table.route(t).cloned();
                prop_assert_eq!(&got, &reference_route(&table, t));
                if let Ok(target) = &got {
                    prop_assert!(!matches!(target, Target::JumpRule(_) | Target::JumpMap(_)));
                }
                if valid {
                    prop_assert!(!matches!(got, Err(RouteError::NoSuchSet(_))));
                }
                let (lines, explained) = table.explain(t);
                prop_assert_eq!(explained.cloned(), got);
                prop_assert!(!lines.is_empty());
            }
        }

        #[test]
        fn key_of_is_masked_and_idempotent(spec in arb_spec(), t in arb_tuple()) {
            let key = spec.key_of(&t);
            prop_assert_eq!(spec.normalize(&key), key);
            let rekeyed = Tuple { local_ip: key.local_ip, remote_ip: key.remote_ip, local_port: key.local_port, remote_port: key.remote_port, ..t };
            prop_assert_eq!(spec.key_of(&rekeyed), key);
        }

        #[test]
        fn prefix_match_compares_leading_bits(a in any::<u128>(), b in any::<u128>(), len in 0u8..=128) {
            let m = IpMatch::prefix(Ipv6Addr::from(a), len);
            let same = len == 0 || (a ^ b) >> (128 - u32::from(len)) == 0;
            prop_assert_eq!(m.matches(Ipv6Addr::from(b)), same);
            prop_assert!(m.matches(Ipv6Addr::from(a)));
        }
    }
}
