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

impl MapKeySpec {
    /// The key a tuple has under this spec.
    pub fn key_of(&self, t: &Tuple) -> MapKey {
        todo!("socketbox::table owner")
    }
}

impl RouteTable {
    /// Follow the tables from `start` to a terminal target (never `JumpRule`/`JumpMap`).
    pub fn route(&self, t: &Tuple) -> Result<&Target, RouteError> {
        todo!("socketbox::table owner")
    }

    /// `route`, plus one human-readable line per step ("rule-set 0 rule 3 matched -> jump-map:1").
    pub fn explain(&self, t: &Tuple) -> (Vec<String>, Result<&Target, RouteError>) {
        todo!("socketbox::table owner")
    }

    /// Every jump names an existing set and every set is reachable or not; errors name the set.
    pub fn validate(&self) -> Result<(), String> {
        todo!("socketbox::table owner")
    }
}
