//! python-socketbox's JSON configuration.
//!
//! The original's JSON layout is not documented byte by byte in our references; this is the
//! closest faithful reading of what they do say (API socket paths with owner/mode, "outgoing"
//! slots `{uid, path_nr}`, IPv6 incoming listen sockets, named rule lists/maps entered at
//! `_start`, matches on local/remote IP with mask and port, jumps `r:<name>` / `o:<slot>`).
//! docs/router-config.md ("python-socketbox JSON") is the user-facing description:
//!
//! ```json
//! {
//!   "api_sockets": [ {"path": "/run/socketbox/api0", "owner": 0, "group": 1000, "mode": "0660"} ],
//!   "outgoing":    { "1": {"uid": 100000, "path_nr": 0} },
//!   "incoming":    [ {"address": "::", "port": 443}, "[::ffff:127.100.100.1]:1" ],
//!   "rules": {
//!     "_start": [ {"local_ip": "fd01:db8:1:40::/96", "local_port": 443, "jump": "r:https"} ],
//!     "https":  { "key": {"local_ip": 128},
//!                 "entries": [ {"local_ip": "fd01:db8:1:40::1:10", "jump": "o:1"} ],
//!                 "default": "fail" }
//!   }
//! }
//! ```
//!
//! Set ids: `_start` is rule-set 0 (the table's start); the other names, sorted, get 1, 2, ...
//! (a rule list becomes the rule-set of that id, a map the map-set of that id). Unknown keys are
//! errors, as are jumps to undefined names or slots.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::table::{
    mask_ip, prefix_mask, IpMatch, MapKey, MapKeySpec, MapSet, RouteTable, Rule, RuleSet, Target,
};

/// One API socket (B protocol server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSocket {
    pub path: String,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    pub mode: Option<u32>,
}

/// One "outgoing" slot: who may register it, on which API socket (index into `api_sockets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub number: u32,
    pub uid: u32,
    pub api_socket: usize,
    /// Several clients may register it at once (preforked workers each registering after a
    /// router restart); connections go round-robin. socketbox: registered once.
    pub shared: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonConfig {
    pub api_sockets: Vec<ApiSocket>,
    pub slots: Vec<Slot>,
    /// Incoming listen sockets: (IPv6 address, port).
    pub listen: Vec<(std::net::Ipv6Addr, u16)>,
    pub routes: RouteTable,
}

/// The name the start list must have.
pub const START: &str = "_start";

type Obj = Map<String, Value>;

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Obj, String> {
    v.as_object()
        .ok_or_else(|| format!("{what}: expected a JSON object, got {}", kind(v)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Refuses keys other than `allowed`, naming the first stray one.
fn only_keys(o: &Obj, allowed: &[&str], what: &str) -> Result<(), String> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{what}: unknown key \"{k}\" (allowed: {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn uint<T: TryFrom<u64>>(v: &Value, what: &str) -> Result<T, String> {
    let n = v
        .as_u64()
        .ok_or_else(|| format!("{what}: expected a non-negative integer, got {}", kind(v)))?;
    T::try_from(n).map_err(|_| format!("{what}: {n} is out of range"))
}

fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what}: expected a string, got {}", kind(v)))
}

fn optional<'a>(o: &'a Obj, key: &str) -> Option<&'a Value> {
    o.get(key).filter(|v| !v.is_null())
}

/// `mode`: an integer (JSON has no octal literals, so 432 = 0o660) or a string of octal digits.
fn mode(v: &Value, what: &str) -> Result<u32, String> {
    let m = match v {
        Value::String(s) => {
            if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(format!(
                    "{what}: \"{s}\" is not an octal mode like \"0660\""
                ));
            }
            u32::from_str_radix(s, 8).map_err(|_| format!("{what}: \"{s}\" is out of range"))?
        }
        _ => uint(v, what)?,
    };
    if m > 0o7777 {
        return Err(format!("{what}: {m:#o} has bits beyond 07777"));
    }
    Ok(m)
}

fn api_socket(v: &Value, i: usize) -> Result<ApiSocket, String> {
    let what = format!("api_sockets[{i}]");
    let o = object(v, &what)?;
    only_keys(o, &["path", "owner", "group", "mode"], &what)?;
    let path = string(
        o.get("path")
            .ok_or_else(|| format!("{what}: missing \"path\""))?,
        &format!("{what}.path"),
    )?;
    if path.is_empty() || path.contains('\0') {
        return Err(format!(
            "{what}.path: must be a non-empty path without NUL bytes"
        ));
    }
    Ok(ApiSocket {
        path: path.to_string(),
        owner_uid: optional(o, "owner")
            .map(|v| uint(v, &format!("{what}.owner")))
            .transpose()?,
        owner_gid: optional(o, "group")
            .map(|v| uint(v, &format!("{what}.group")))
            .transpose()?,
        mode: optional(o, "mode")
            .map(|v| mode(v, &format!("{what}.mode")))
            .transpose()?,
    })
}

fn slot(number: u32, v: &Value, api_count: usize) -> Result<Slot, String> {
    let what = format!("outgoing[{number}]");
    let o = object(v, &what)?;
    only_keys(o, &["uid", "path_nr", "shared"], &what)?;
    let uid = uint(
        o.get("uid")
            .ok_or_else(|| format!("{what}: missing \"uid\""))?,
        &format!("{what}.uid"),
    )?;
    let api_socket: usize = match optional(o, "path_nr") {
        Some(v) => uint(v, &format!("{what}.path_nr"))?,
        None => 0,
    };
    if api_socket >= api_count {
        return Err(format!(
            "{what}.path_nr: {api_socket} names no API socket (there are {api_count} in api_sockets)"
        ));
    }
    let shared = match optional(o, "shared") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("{what}.shared: expected true or false")),
    };
    Ok(Slot {
        number,
        uid,
        api_socket,
        shared,
    })
}

fn slots(v: &Value, api_count: usize) -> Result<Vec<Slot>, String> {
    let mut out = Vec::new();
    match v {
        Value::Object(o) => {
            for (key, entry) in o {
                let number: u32 = crate::decimal::parse(key)
                    .ok_or_else(|| format!("outgoing: key \"{key}\" is not a slot number"))?;
                out.push(slot(number, entry, api_count)?);
            }
        }
        Value::Array(a) => {
            for (i, entry) in a.iter().enumerate() {
                if !entry.is_null() {
                    let number =
                        u32::try_from(i).map_err(|_| "outgoing: too many slots".to_string())?;
                    out.push(slot(number, entry, api_count)?);
                }
            }
        }
        other => {
            return Err(format!(
                "outgoing: expected an object or an array, got {}",
                kind(other)
            ))
        }
    }
    out.sort_by_key(|s| s.number);
    if let Some(w) = out.windows(2).find(|w| w[0].number == w[1].number) {
        return Err(format!("outgoing: slot {} is defined twice", w[0].number));
    }
    Ok(out)
}

/// A listen address must be IPv6 (python-socketbox listens on AF_INET6 only).
fn listen_ip(text: &str, what: &str) -> Result<Ipv6Addr, String> {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => Ok(v6),
        Ok(IpAddr::V4(v4)) => Err(format!(
            "{what}: {v4} is IPv4; incoming sockets are IPv6 only (write ::ffff:{v4})"
        )),
        Err(_) => Err(format!("{what}: \"{text}\" is not an IPv6 address")),
    }
}

fn incoming(v: &Value, i: usize) -> Result<(Ipv6Addr, u16), String> {
    let what = format!("incoming[{i}]");
    match v {
        Value::String(s) => match s.parse::<SocketAddr>() {
            Ok(SocketAddr::V6(a)) => Ok((*a.ip(), a.port())),
            Ok(SocketAddr::V4(a)) => Err(format!(
                "{what}: {a} is IPv4; incoming sockets are IPv6 only (write [::ffff:{}]:{})",
                a.ip(),
                a.port()
            )),
            Err(_) => Err(format!("{what}: \"{s}\" is not \"[IPV6]:PORT\"")),
        },
        Value::Object(o) => {
            only_keys(o, &["address", "port"], &what)?;
            let addr = match optional(o, "address") {
                Some(a) => listen_ip(
                    string(a, &format!("{what}.address"))?,
                    &format!("{what}.address"),
                )?,
                None => Ipv6Addr::UNSPECIFIED,
            };
            let port = uint(
                o.get("port")
                    .ok_or_else(|| format!("{what}: missing \"port\""))?,
                &format!("{what}.port"),
            )?;
            Ok((addr, port))
        }
        other => Err(format!(
            "{what}: expected \"[IPV6]:PORT\" or {{\"address\", \"port\"}}, got {}",
            kind(other)
        )),
    }
}

/// An address in a match: IPv6, or IPv4 (stored mapped; a prefix length then counts IPv4 bits).
fn address(text: &str, what: &str) -> Result<(Ipv6Addr, bool), String> {
    if let Ok(v6) = text.parse::<Ipv6Addr>() {
        return Ok((v6, false));
    }
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Ok((v4.to_ipv6_mapped(), true));
    }
    Err(format!("{what}: \"{text}\" is not an IPv6 or IPv4 address"))
}

/// A mask: prefix length (number or decimal string) or a mask address (IPv6, or dotted IPv4
/// for an IPv4 address).
fn mask(v: &Value, v4: bool, what: &str) -> Result<Ipv6Addr, String> {
    let max: u64 = if v4 { 32 } else { 128 };
    let len = match v {
        Value::Number(_) => Some(uint::<u64>(v, what)?),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(crate::decimal::parse::<u64>(s).ok_or_else(|| {
                format!(
                    "{what}: \"{s}\" is not a decimal length (no leading zeros) or is out of range"
                )
            })?)
        }
        Value::String(_) => None,
        other => {
            return Err(format!(
                "{what}: expected a prefix length or a mask address, got {}",
                kind(other)
            ))
        }
    };
    if let Some(len) = len {
        if len > max {
            return Err(format!("{what}: prefix length {len} is above {max}"));
        }
        return Ok(prefix_mask((len + 128 - max) as u8));
    }
    let s = v.as_str().unwrap_or_default();
    if let Ok(m4) = s.parse::<Ipv4Addr>() {
        if !v4 {
            return Err(format!("{what}: an IPv4 mask \"{s}\" for an IPv6 address"));
        }
        return Ok(Ipv6Addr::from(
            u128::from(prefix_mask(96)) | u128::from(u32::from(m4)),
        ));
    }
    s.parse::<Ipv6Addr>()
        .map_err(|_| format!("{what}: \"{s}\" is neither a prefix length nor a mask address"))
}

/// `"ADDR"`, `"ADDR/LEN"`, `"ADDR/MASK"`, optionally with a separate `<field>_mask`.
fn ip_match(o: &Obj, field: &str, what: &str) -> Result<Option<IpMatch>, String> {
    let Some(v) = optional(o, field) else {
        if o.contains_key(&format!("{field}_mask")) {
            return Err(format!("{what}: \"{field}_mask\" without \"{field}\""));
        }
        return Ok(None);
    };
    let fwhat = format!("{what}.{field}");
    let text = string(v, &fwhat)?;
    let (addr_text, inline_mask) = match text.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (text, None),
    };
    let (addr, v4) = address(addr_text, &fwhat)?;
    let separate = optional(o, &format!("{field}_mask"));
    let m = match (inline_mask, separate) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "{fwhat}: mask given both inline and as \"{field}_mask\""
            ))
        }
        (Some(m), None) => mask(&Value::String(m.to_string()), v4, &fwhat)?,
        (None, Some(m)) => mask(m, v4, &format!("{what}.{field}_mask"))?,
        (None, None) => prefix_mask(128),
    };
    Ok(Some(IpMatch { addr, mask: m }))
}

const MATCH_FIELDS: [&str; 7] = [
    "local_ip",
    "local_ip_mask",
    "local_port",
    "remote_ip",
    "remote_ip_mask",
    "remote_port",
    "listener",
];

/// Resolves jump strings once every set name is known.
struct Names<'a> {
    ids: &'a HashMap<&'a str, (u32, bool)>,
    slots: &'a [Slot],
}

impl Names<'_> {
    fn jump(&self, v: &Value, what: &str) -> Result<Target, String> {
        let s = string(v, what)?;
        if s == "fail" {
            return Ok(Target::Fail);
        }
        if let Some(name) = s.strip_prefix("r:") {
            return match self.ids.get(name) {
                Some(&(id, true)) => Ok(Target::JumpMap(id)),
                Some(&(id, false)) => Ok(Target::JumpRule(id)),
                None => Err(format!(
                    "{what}: \"{s}\" names no rule list or map in \"rules\""
                )),
            };
        }
        if let Some(n) = s.strip_prefix("o:") {
            let number: u32 = crate::decimal::parse(n)
                .ok_or_else(|| format!("{what}: \"{s}\" is not o:<slot number>"))?;
            if self
                .slots
                .binary_search_by_key(&number, |sl| sl.number)
                .is_err()
            {
                return Err(format!("{what}: \"{s}\" names no slot in \"outgoing\""));
            }
            return Ok(Target::Slot(number));
        }
        Err(format!(
            "{what}: \"{s}\" is not a jump (r:<name>, o:<slot> or fail)"
        ))
    }

    fn rule(&self, v: &Value, what: &str, listeners: usize) -> Result<Rule, String> {
        let o = object(v, what)?;
        let mut allowed = MATCH_FIELDS.to_vec();
        allowed.push("jump");
        only_keys(o, &allowed, what)?;
        let listener = optional(o, "listener")
            .map(|v| uint::<u32>(v, &format!("{what}.listener")))
            .transpose()?;
        if let Some(l) = listener {
            if l as usize >= listeners {
                return Err(format!(
                    "{what}.listener: {l} names no socket in \"incoming\""
                ));
            }
        }
        Ok(Rule {
            listener,
            local_ip: ip_match(o, "local_ip", what)?,
            local_port: optional(o, "local_port")
                .map(|v| uint(v, &format!("{what}.local_port")))
                .transpose()?,
            remote_ip: ip_match(o, "remote_ip", what)?,
            remote_port: optional(o, "remote_port")
                .map(|v| uint(v, &format!("{what}.remote_port")))
                .transpose()?,
            target: self.jump(
                o.get("jump")
                    .ok_or_else(|| format!("{what}: missing \"jump\""))?,
                &format!("{what}.jump"),
            )?,
        })
    }

    fn map(&self, o: &Obj, what: &str) -> Result<MapSet, String> {
        only_keys(o, &["key", "entries", "default"], what)?;
        let kwhat = format!("{what}.key");
        let key = object(
            o.get("key")
                .ok_or_else(|| format!("{what}: missing \"key\""))?,
            &kwhat,
        )?;
        only_keys(
            key,
            &["local_ip", "remote_ip", "local_port", "remote_port"],
            &kwhat,
        )?;
        let len = |f: &str| -> Result<u8, String> {
            match optional(key, f) {
                None => Ok(0),
                Some(v) => {
                    let l: u8 = uint(v, &format!("{kwhat}.{f}"))?;
                    if l > 128 {
                        return Err(format!("{kwhat}.{f}: prefix length {l} is above 128"));
                    }
                    Ok(l)
                }
            }
        };
        let flag = |f: &str| -> Result<bool, String> {
            match optional(key, f) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(format!(
                    "{kwhat}.{f}: expected true or false, got {}",
                    kind(other)
                )),
            }
        };
        let spec = MapKeySpec {
            local_ip_len: len("local_ip")?,
            remote_ip_len: len("remote_ip")?,
            local_port: flag("local_port")?,
            remote_port: flag("remote_port")?,
        };
        let default = match optional(o, "default") {
            Some(v) => self.jump(v, &format!("{what}.default"))?,
            None => Target::Fail,
        };
        let mut entries = HashMap::new();
        let list = match optional(o, "entries") {
            None => &[][..],
            Some(Value::Array(a)) => &a[..],
            Some(other) => {
                return Err(format!(
                    "{what}.entries: expected an array, got {}",
                    kind(other)
                ))
            }
        };
        for (i, e) in list.iter().enumerate() {
            let ewhat = format!("{what}.entries[{i}]");
            let eo = object(e, &ewhat)?;
            only_keys(
                eo,
                &["local_ip", "remote_ip", "local_port", "remote_port", "jump"],
                &ewhat,
            )?;
            let ip_key = |f: &str, l: u8| -> Result<Ipv6Addr, String> {
                match (optional(eo, f), l) {
                    (None, 0) => Ok(Ipv6Addr::UNSPECIFIED),
                    (None, _) => Err(format!("{ewhat}: missing \"{f}\", which the map keys on")),
                    (Some(_), 0) => Err(format!(
                        "{ewhat}: \"{f}\" given but the map does not key on it"
                    )),
                    (Some(v), l) => {
                        let text = string(v, &format!("{ewhat}.{f}"))?;
                        let (addr, _) = address(text, &format!("{ewhat}.{f}"))?;
                        let masked = mask_ip(addr, prefix_mask(l));
                        if masked != addr {
                            return Err(format!(
                                "{ewhat}.{f}: \"{text}\" has bits beyond the key's /{l} (the key would be {masked})"
                            ));
                        }
                        Ok(addr)
                    }
                }
            };
            let port_key = |f: &str, keyed: bool| -> Result<u16, String> {
                match (optional(eo, f), keyed) {
                    (None, false) => Ok(0),
                    (None, true) => Err(format!("{ewhat}: missing \"{f}\", which the map keys on")),
                    (Some(_), false) => Err(format!(
                        "{ewhat}: \"{f}\" given but the map does not key on it"
                    )),
                    (Some(v), true) => uint(v, &format!("{ewhat}.{f}")),
                }
            };
            let k = MapKey {
                local_ip: ip_key("local_ip", spec.local_ip_len)?,
                remote_ip: ip_key("remote_ip", spec.remote_ip_len)?,
                local_port: port_key("local_port", spec.local_port)?,
                remote_port: port_key("remote_port", spec.remote_port)?,
            };
            let target = self.jump(
                eo.get("jump")
                    .ok_or_else(|| format!("{ewhat}: missing \"jump\""))?,
                &format!("{ewhat}.jump"),
            )?;
            if entries.insert(k, target).is_some() {
                return Err(format!("{ewhat}: the same key as an earlier entry"));
            }
        }
        Ok(MapSet {
            spec,
            entries,
            default,
        })
    }
}

/// Is this set definition a map (an object with "key") rather than a rule list?
fn is_map(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.contains_key("key"))
}

fn routes(v: &Value, slots: &[Slot], listeners: usize) -> Result<RouteTable, String> {
    let sets = object(v, "rules")?;
    if !sets.contains_key(START) {
        return Err(format!("rules: no \"{START}\" list (lookup starts there)"));
    }
    // Name → (id, is map). serde_json's Map is ordered by key, so ids follow sorted names.
    let by_name: BTreeMap<&str, &Value> = sets.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut ids = HashMap::new();
    let mut next = 1u32;
    for (&name, v) in &by_name {
        if name.is_empty() {
            return Err("rules: a list or map with an empty name".to_string());
        }
        let id = if name == START {
            if is_map(v) {
                return Err(format!("rules.{START}: must be a rule list, not a map"));
            }
            0
        } else {
            next += 1;
            next - 1
        };
        ids.insert(name, (id, is_map(v)));
    }
    let names = Names { ids: &ids, slots };
    let mut table = RouteTable {
        start: 0,
        ..RouteTable::default()
    };
    for (&name, v) in &by_name {
        let what = format!("rules.{name}");
        let (id, map) = ids[name];
        if map {
            table
                .map_sets
                .insert(id, names.map(object(v, &what)?, &what)?);
            continue;
        }
        // A rule list: an array of rules, or {"rules": [...], "default": jump}.
        let (list, default) = match v {
            Value::Array(a) => (&a[..], Target::Fail),
            Value::Object(o) => {
                only_keys(o, &["rules", "default"], &what)?;
                let list = match optional(o, "rules") {
                    None => &[][..],
                    Some(Value::Array(a)) => &a[..],
                    Some(other) => {
                        return Err(format!(
                            "{what}.rules: expected an array, got {}",
                            kind(other)
                        ))
                    }
                };
                let default = match optional(o, "default") {
                    Some(d) => names.jump(d, &format!("{what}.default"))?,
                    None => Target::Fail,
                };
                (list, default)
            }
            other => {
                return Err(format!(
                    "{what}: expected a rule list (array) or a map (object with \"key\"), got {}",
                    kind(other)
                ))
            }
        };
        let rules = list
            .iter()
            .enumerate()
            .map(|(i, r)| names.rule(r, &format!("{what}[{i}]"), listeners))
            .collect::<Result<Vec<_>, _>>()?;
        table.rule_sets.insert(id, RuleSet { rules, default });
    }
    debug_assert_eq!(table.validate(), Ok(()));
    Ok(table)
}

/// A JSON value read like `serde_json::Value`, except that an object with the same key twice
/// is an error (serde_json keeps the last one silently; a config must not drop a rule list).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            let Strict(v) = map.next_value()?;
            obj.insert(key, v);
        }
        Ok(Strict(Value::Object(obj)))
    }
}

/// Parses a python-socketbox JSON config. Errors are one line naming the JSON path at fault
/// (`rules.https.entries[2].jump: "o:9" names no slot in "outgoing"`).
pub fn parse(json: &str) -> Result<PythonConfig, String> {
    parse_config(json).map_err(super::one_line)
}

fn parse_config(json: &str) -> Result<PythonConfig, String> {
    let Strict(root) = serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    let top = object(&root, "the config")?;
    only_keys(
        top,
        &["api_sockets", "outgoing", "incoming", "rules"],
        "the config",
    )?;
    let api_sockets = match optional(top, "api_sockets") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| api_socket(v, i))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "api_sockets: expected an array, got {}",
                kind(other)
            ))
        }
    };
    let slots = match optional(top, "outgoing") {
        None => Vec::new(),
        Some(v) => slots(v, api_sockets.len())?,
    };
    let listen: Vec<(Ipv6Addr, u16)> = match optional(top, "incoming") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| incoming(v, i))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("incoming: expected an array, got {}", kind(other))),
    };
    let routes = routes(
        top.get("rules").ok_or("the config: missing \"rules\"")?,
        &slots,
        listen.len(),
    )?;
    Ok(PythonConfig {
        api_sockets,
        slots,
        listen,
        routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketbox::table::Tuple;
    use proptest::prelude::*;

    /// The wiki's text example, expressed in the JSON layout, with B slots instead of paths.
    const EXAMPLE: &str = r#"{
      "api_sockets": [
        {"path": "/run/socketbox/host.sock", "owner": 0, "group": 0, "mode": "0600"},
        {"path": "/run/socketbox/vm7.sock", "owner": 0, "group": 1000, "mode": 432}
      ],
      "outgoing": {
        "1": {"uid": 0, "path_nr": 0},
        "443": {"uid": 100000, "path_nr": 1},
        "444": {"uid": 100000, "path_nr": 1},
        "22": {"uid": 100000, "path_nr": 1}
      },
      "incoming": [{"address": "::ffff:127.100.100.1", "port": 1}, "[::]:8443"],
      "rules": {
        "_start": [
          {"local_ip": "fd01:db8:1:40::/96", "local_port": 443, "jump": "r:https"},
          {"local_ip": "fd01:db8:1:40::", "local_ip_mask": 96, "local_port": 22, "jump": "r:ssh"},
          {"local_ip": "fd01:db8:1:40:0:64::/ffff:ffff:ffff:ffff:ffff:ffff::", "jump": "r:nat64"},
          {"listener": 1, "jump": "o:1"}
        ],
        "nat64": {"key": {"local_port": true},
                  "entries": [{"local_port": 80, "jump": "o:1"}, {"local_port": 443, "jump": "o:1"}]},
        "https": {"key": {"local_ip": 128},
                  "entries": [{"local_ip": "fd01:db8:1:40::1:10", "jump": "o:443"},
                              {"local_ip": "fd01:db8:1:40::1:11", "jump": "o:444"}],
                  "default": "fail"},
        "ssh": {"rules": [{"local_ip": "fd01:db8:1:40::1:10", "jump": "o:22"}], "default": "fail"}
      }
    }"#;

    fn to(local: &str, port: u16, listener: u32) -> Tuple {
        Tuple {
            listener,
            local_ip: local.parse().unwrap(),
            local_port: port,
            remote_ip: "fd01:db8:1:21::5".parse().unwrap(),
            remote_port: 50000,
        }
    }

    #[test]
    fn example_parses_and_routes() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.api_sockets.len(), 2);
        assert_eq!(c.api_sockets[1].mode, Some(0o660));
        assert_eq!(c.api_sockets[0].mode, Some(0o600));
        assert_eq!(c.api_sockets[1].owner_gid, Some(1000));
        assert_eq!(
            c.slots
                .iter()
                .map(|s| (s.number, s.uid, s.api_socket))
                .collect::<Vec<_>>(),
            vec![
                (1, 0, 0),
                (22, 100000, 1),
                (443, 100000, 1),
                (444, 100000, 1)
            ]
        );
        assert_eq!(
            c.listen,
            vec![
                ("::ffff:127.100.100.1".parse().unwrap(), 1),
                (Ipv6Addr::UNSPECIFIED, 8443)
            ]
        );
        let r = &c.routes;
        assert_eq!(r.validate(), Ok(()));
        // ids: _start 0, then https 1, nat64 2, ssh 3 (sorted names).
        assert!(
            r.map_sets.contains_key(&1)
                && r.map_sets.contains_key(&2)
                && r.rule_sets.contains_key(&3)
        );
        let cases: &[(&str, u16, u32, Target)] = &[
            ("fd01:db8:1:40::1:10", 443, 0, Target::Slot(443)),
            ("fd01:db8:1:40::1:11", 443, 0, Target::Slot(444)),
            ("fd01:db8:1:40::1:12", 443, 0, Target::Fail),
            ("fd01:db8:1:40::1:10", 22, 0, Target::Slot(22)),
            ("fd01:db8:1:40::1:11", 22, 0, Target::Fail),
            ("fd01:db8:1:40:0:64:c000:201", 80, 0, Target::Slot(1)),
            ("fd01:db8:1:40:0:64:c000:201", 22, 0, Target::Fail),
            ("2001:db8::1", 8443, 1, Target::Slot(1)),
            ("2001:db8::1", 8443, 0, Target::Fail),
        ];
        for (ip, port, l, want) in cases {
            assert_eq!(
                r.route(&to(ip, *port, *l)),
                Ok(want),
                "[{ip}]:{port} listener {l}"
            );
        }
    }

    fn err_of(json: &str) -> String {
        parse(json).expect_err(json)
    }

    fn assert_err(json: &str, needle: &str) {
        let e = err_of(json);
        assert!(e.contains(needle), "'{e}' lacks '{needle}'");
    }

    #[test]
    fn errors_name_the_json_path() {
        assert_err("", "not valid JSON");
        assert_err(
            r#"{"rules": {"_start": [{"jump": "fail"}], "_start": []}}"#,
            "the key \"_start\" appears twice",
        );
        assert_err(
            r#"{"rules": {"_start": [{"jump": "fail", "jump": "fail"}]}}"#,
            "appears twice",
        );
        assert_err("[]", "the config: expected a JSON object");
        assert_err(r#"{"rules": {}}"#, "no \"_start\"");
        assert_err(r#"{}"#, "missing \"rules\"");
        assert_err(r#"{"rule": {}}"#, "unknown key \"rule\"");
        assert_err(
            r#"{"rules": {"_start": [{"jump": "r:x"}]}}"#,
            "rules._start[0].jump: \"r:x\" names no rule list",
        );
        assert_err(
            r#"{"rules": {"_start": [{"jump": "o:3"}]}}"#,
            "\"o:3\" names no slot",
        );
        assert_err(
            r#"{"rules": {"_start": [{"jump": "o:x"}]}}"#,
            "not o:<slot number>",
        );
        assert_err(
            r#"{"rules": {"_start": [{"jump": "x:1"}]}}"#,
            "is not a jump",
        );
        assert_err(
            r#"{"rules": {"_start": [{"local_port": 70000, "jump": "fail"}]}}"#,
            "local_port: 70000 is out of range",
        );
        assert_err(
            r#"{"rules": {"_start": [{"local_ip": "fd00::/129", "jump": "fail"}]}}"#,
            "above 128",
        );
        assert_err(
            r#"{"rules": {"_start": [{"local_ip": "10.0.0.0/33", "jump": "fail"}]}}"#,
            "above 32",
        );
        assert_err(
            r#"{"rules": {"_start": [{"local_ip": "fd00::/255.0.0.0", "jump": "fail"}]}}"#,
            "IPv4 mask",
        );
        assert_err(
            r#"{"rules": {"_start": [{"local_ip": "fd00::/8", "local_ip_mask": 8, "jump": "fail"}]}}"#,
            "both inline",
        );
        assert_err(
            r#"{"rules": {"_start": [{"local_ip_mask": 8, "jump": "fail"}]}}"#,
            "without",
        );
        assert_err(
            r#"{"rules": {"_start": [{"lip": "::1", "jump": "fail"}]}}"#,
            "unknown key \"lip\"",
        );
        assert_err(
            r#"{"rules": {"_start": [{"local_ip": "::1"}]}}"#,
            "missing \"jump\"",
        );
        assert_err(
            r#"{"rules": {"_start": [{"listener": 0, "jump": "fail"}]}}"#,
            "names no socket in \"incoming\"",
        );
        assert_err(
            r#"{"rules": {"_start": {"key": {}}}}"#,
            "must be a rule list",
        );
        assert_err(r#"{"rules": {"_start": 5}}"#, "expected a rule list");
        assert_err(
            r#"{"incoming": ["1.2.3.4:80"], "rules": {"_start": []}}"#,
            "IPv6 only",
        );
        assert_err(
            r#"{"incoming": [{"address": "1.2.3.4", "port": 80}], "rules": {"_start": []}}"#,
            "write ::ffff:1.2.3.4",
        );
        assert_err(
            r#"{"incoming": [{"address": "::"}], "rules": {"_start": []}}"#,
            "missing \"port\"",
        );
        assert_err(
            r#"{"api_sockets": [{"path": ""}], "rules": {"_start": []}}"#,
            "non-empty",
        );
        assert_err(
            r#"{"api_sockets": [{"path": "/a", "mode": "0999"}], "rules": {"_start": []}}"#,
            "octal",
        );
        assert_err(
            r#"{"api_sockets": [{"path": "/a", "mode": 65535}], "rules": {"_start": []}}"#,
            "beyond 07777",
        );
        assert_err(
            r#"{"api_sockets": [{"path": "/a", "owner": -1}], "rules": {"_start": []}}"#,
            "non-negative",
        );
        assert_err(
            r#"{"outgoing": {"1": {"uid": 5}}, "rules": {"_start": []}}"#,
            "path_nr: 0 names no API socket",
        );
        assert_err(
            r#"{"api_sockets": [{"path": "/a"}], "outgoing": {"x": {"uid": 5}}, "rules": {"_start": []}}"#,
            "not a slot number",
        );
        assert_err(
            r#"{"api_sockets": [{"path": "/a"}], "outgoing": {"1": {"path_nr": 0}}, "rules": {"_start": []}}"#,
            "missing \"uid\"",
        );
        let map = |entries: &str| {
            format!(
                r#"{{"rules": {{"_start": [{{"jump": "r:m"}}], "m": {{"key": {{"local_ip": 64, "remote_port": true}}, "entries": [{entries}]}}}}}}"#
            )
        };
        assert!(parse(&map(
            r#"{"local_ip": "fd00:1::", "remote_port": 5, "jump": "fail"}"#
        ))
        .is_ok());
        assert_err(
            &map(r#"{"local_ip": "fd00:1::1", "remote_port": 5, "jump": "fail"}"#),
            "bits beyond the key's /64",
        );
        assert_err(
            &map(r#"{"local_ip": "fd00:1::", "jump": "fail"}"#),
            "missing \"remote_port\"",
        );
        assert_err(
            &map(r#"{"local_ip": "fd00:1::", "remote_port": 5, "local_port": 1, "jump": "fail"}"#),
            "does not key on it",
        );
        assert_err(
            &map(
                r#"{"local_ip": "fd00:1::", "remote_port": 5, "jump": "fail"}, {"local_ip": "fd00:1::", "remote_port": 5, "jump": "fail"}"#,
            ),
            "rules.m.entries[1]: the same key",
        );
    }

    #[test]
    fn errors_stay_on_one_line() {
        let e = err_of("{\"api_\\n\\u001b\": 1}");
        assert!(!e.chars().any(char::is_control), "{e}");
        assert!(e.contains("api_\\n\\u{1b}"), "{e}");
    }

    #[test]
    fn outgoing_as_array_and_ipv4_matches() {
        let c = parse(
            r#"{"api_sockets": [{"path": "/a"}], "outgoing": [null, {"uid": 7}],
                "rules": {"_start": {"rules": [{"remote_ip": "192.0.2.0/24", "remote_port": 9, "jump": "o:1"}], "default": "fail"}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.slots,
            vec![Slot {
                number: 1,
                uid: 7,
                api_socket: 0,
                shared: false
            }]
        );
        let mut t = to("::1", 1, 0);
        t.remote_ip = "::ffff:192.0.2.200".parse().unwrap();
        t.remote_port = 9;
        assert_eq!(c.routes.route(&t), Ok(&Target::Slot(1)));
        t.remote_ip = "::ffff:192.0.3.200".parse().unwrap();
        assert_eq!(c.routes.route(&t), Ok(&Target::Fail));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_json_like_text(parts in proptest::collection::vec(prop_oneof![
            Just("{".to_string()), Just("}".to_string()), Just("[".to_string()), Just("]".to_string()),
            Just(",".to_string()), Just(":".to_string()), Just("\"rules\"".to_string()), Just("\"_start\"".to_string()),
            Just("\"jump\"".to_string()), Just("\"r:_start\"".to_string()), Just("\"o:1\"".to_string()), Just("\"key\"".to_string()),
            Just("\"local_ip\"".to_string()), Just("\"outgoing\"".to_string()), Just("\"1\"".to_string()), Just("\"uid\"".to_string()),
            Just("\"api_sockets\"".to_string()), Just("\"path\"".to_string()), Just("\"/a\"".to_string()),
            Just("\"::/0\"".to_string()), Just("128".to_string()), Just("true".to_string()), Just("null".to_string()),
        ], 0..40)) {
            let text = parts.join("");
            if let Ok(c) = parse(&text) {
                prop_assert_eq!(c.routes.validate(), Ok(()));
            }
        }
    }
}
