//! python-socketbox's `config.json`, read unchanged (its `socketbox_init.py` is the reference;
//! docs/router-config.md is the user-facing description):
//!
//! ```json
//! { "socketbox-version": 1,
//!   "daemon":   {"uid": 0, "gid": 0, "groups": [0], "chroot": "/run/empty"},
//!   "incoming": [ {"address": "::", "port": 80},
//!                 {"address": "::ffff:127.0.0.150", "port": 2, "transparent": true,
//!                  "netns": "/run/netns/test_1"},
//!                 {"fd": 3, "listen": true, "backlog": 128} ],
//!   "final_netns": "/run/netns/test_2",
//!   "outgoing": [ {"uid": 150000, "path_nr": 0} ],
//!   "paths":    [ {"socket": "/run/socketbox/socketbox-ctl.sock", "mode": "0777", "uid": 0, "gid": 0} ],
//!   "rules": {
//!     "_start":  {"type": "rule", "rules": [ {"l_ip": "::1", "l_port": 80, "incoming_socket": 0, "jump": "r:another"} ]},
//!     "another": {"type": "map", "mask": {"l_port": 0}, "rules": [ {"l_port": 80, "jump": "o:0"} ]}
//!   } }
//! ```
//!
//! Semantics kept from the original: a connection is the tuple (incoming socket index, local IP,
//! local port, remote IP, remote port), IPv4 seen as `::ffff:a.b.c.d`; a rule list takes its
//! first rule whose given fields match (`(ip & mask) == (l_ip & mask)`, ports and index exact),
//! no match closes the connection; a map masks the tuple with its mask (default: local IP and
//! local port) and looks the result up exactly, a miss closes the connection; `o:N` is the
//! registration slot at index N of `outgoing`. Keys the original never reads are ignored with a
//! warning. Where the original would fail only later (a jump to a list that does not exist, a
//! `path_nr` no path has, a setting with a value it would silently treat as false, two map
//! entries with the same key, a key given twice) this is an error at load: a rule the user wrote
//! is in force or the router does not start.
//!
//! Set ids: the list names sorted, `_start` first, get 0, 1, 2, ...; a rule list becomes the
//! rule-set of its id, a map the map-set of its id — or, when its mask cannot be a map-set key
//! (a non-contiguous address mask, or the incoming socket index), the rule-set of its id with
//! one exact rule per entry (the same answers, looked up linearly).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::table::{
    mask_ip, mask_prefix_len, IpMatch, MapKey, MapKeySpec, MapSet, RouteTable, Rule, RuleSet,
    Target,
};

/// One API socket (B protocol server side): python-socketbox's `paths[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSocket {
    pub path: String,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    pub mode: Option<u32>,
}

/// One registration slot: who may register it, on which API socket (index into `api_sockets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub number: u32,
    pub uid: u32,
    pub api_socket: usize,
    /// Several clients may register it at once (preforked workers each registering after a
    /// router restart); connections go round-robin. socketbox: registered once.
    pub shared: bool,
}

/// How one `incoming` entry gets its listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new AF_INET6 TCP socket bound to `address`:`port` (in the namespace `netns` entered
    /// before it, if any — see `PythonConfig::incoming`).
    Bind {
        address: Ipv6Addr,
        port: u16,
        transparent: bool,
        freebind: bool,
        reuseaddr: bool,
        reuseport: bool,
        backlog: i32,
        netns: Option<String>,
    },
    /// An inherited socket; `listen(backlog)` is called on it first when `listen` is true.
    Fd { fd: i32, listen: Option<i32> },
}

/// python-socketbox's `daemon`: the identity taken after every socket is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Daemon {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Option<Vec<u32>>,
    pub chroot: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonConfig {
    /// In order (the index is what `incoming_socket` matches). A `netns` is entered for good,
    /// as the original does: later entries without one are opened in it too.
    pub incoming: Vec<Incoming>,
    /// Entered after the incoming sockets, before the API sockets are bound.
    pub final_netns: Option<String>,
    pub daemon: Daemon,
    pub api_sockets: Vec<ApiSocket>,
    pub slots: Vec<Slot>,
    pub routes: RouteTable,
    /// Keys the original ignores, and other things worth a warning (one line each).
    pub warnings: Vec<String>,
}

/// The name of the list every lookup starts in.
pub const START: &str = "_start";

/// python-socketbox refuses longer API socket paths.
const MAX_SOCKET_PATH: usize = 90;

type Obj = Map<String, Value>;

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

/// Reads one JSON object, remembering which keys were read so the rest can be warned about.
struct Fields<'a> {
    obj: &'a Obj,
    what: String,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(v: &'a Value, what: &str) -> Result<Fields<'a>, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{what}: expected a JSON object, got {}", kind(v)))?;
        Ok(Fields {
            obj,
            what: what.to_string(),
            read: Vec::new(),
        })
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.what)
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.obj.get(key)
    }

    fn require(&mut self, key: &'static str) -> Result<&'a Value, String> {
        self.get(key)
            .ok_or_else(|| format!("{}: missing \"{key}\"", self.what))
    }

    /// One warning per key never read (python-socketbox ignores them too).
    fn warn_rest(&self, warnings: &mut Vec<String>) {
        for k in self.obj.keys().filter(|k| !self.read.contains(&k.as_str())) {
            warnings.push(format!(
                "{}: key \"{k}\" is not one python-socketbox reads; ignored",
                self.what
            ));
        }
    }
}

/// An integer as python's `int()` takes it from JSON: a number without fraction, or a string of
/// decimal digits (the router's one spelling: no leading zeros). Anything else, or out of
/// `T`'s range, is an error.
fn int<T: TryFrom<i64>>(v: &Value, what: &str) -> Result<T, String> {
    let n: i64 = match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{what}: {n} is not an integer in range"))?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            crate::decimal::parse(s).ok_or_else(|| {
                format!(
                    "{what}: \"{s}\" is not a decimal number (no leading zeros) or is out of range"
                )
            })?
        }
        other => return Err(format!("{what}: expected an integer, got {}", kind(other))),
    };
    T::try_from(n).map_err(|_| format!("{what}: {n} is out of range"))
}

fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what}: expected a string, got {}", kind(v)))
}

/// A path: non-empty, no NUL byte.
fn path(v: &Value, what: &str) -> Result<String, String> {
    let s = string(v, what)?;
    if s.is_empty() || s.contains('\0') {
        return Err(format!(
            "{what}: must be a non-empty path without NUL bytes"
        ));
    }
    Ok(s.to_string())
}

/// A switch python-socketbox tests with `== True`: true/false, or 1/0 (which python equates
/// with them). Any other value it would silently read as off — an error here.
fn switch(f: &mut Fields, key: &'static str, default: bool) -> Result<bool, String> {
    match f.get(key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
        Some(other) => Err(format!(
            "{}: expected true or false, got {other} (python-socketbox would read it as false)",
            f.path(key)
        )),
    }
}

fn backlog(f: &mut Fields) -> Result<i32, String> {
    match f.get("backlog") {
        None => Ok(4096),
        Some(v) => int(v, &f.path("backlog")),
    }
}

/// An address as python-socketbox reads it: `inet_pton(AF_INET6, ...)` — IPv6 text only
/// (IPv4 written `::ffff:a.b.c.d`).
fn ipv6(v: &Value, what: &str) -> Result<Ipv6Addr, String> {
    let s = string(v, what)?;
    s.parse::<Ipv6Addr>()
        .map_err(|_| match s.parse::<std::net::Ipv4Addr>() {
            Ok(v4) => format!(
                "{what}: \"{s}\" is IPv4; python-socketbox reads IPv6 only (write \"::ffff:{v4}\")"
            ),
            Err(_) => format!("{what}: \"{s}\" is not an IPv6 address"),
        })
}

fn incoming(v: &Value, i: usize, warnings: &mut Vec<String>) -> Result<Incoming, String> {
    let mut f = Fields::new(v, &format!("incoming[{i}]"))?;
    let result = if let Some(fd) = f.get("fd") {
        let fd: i32 = int(fd, &f.path("fd"))?;
        let listen = if switch(&mut f, "listen", false)? {
            Some(backlog(&mut f)?)
        } else {
            None
        };
        Incoming::Fd { fd, listen }
    } else {
        let address = ipv6(f.require("address")?, &f.path("address"))?;
        let port = int(f.require("port")?, &f.path("port"))?;
        Incoming::Bind {
            address,
            port,
            transparent: switch(&mut f, "transparent", false)?,
            freebind: switch(&mut f, "freebind", false)?,
            reuseaddr: switch(&mut f, "reuseaddr", true)?,
            reuseport: switch(&mut f, "reuseport", false)?,
            backlog: backlog(&mut f)?,
            netns: f
                .get("netns")
                .map(|v| path(v, &f.path("netns")))
                .transpose()?,
        }
    };
    f.warn_rest(warnings);
    Ok(result)
}

fn daemon(v: &Value, warnings: &mut Vec<String>) -> Result<Daemon, String> {
    let mut f = Fields::new(v, "daemon")?;
    let d = Daemon {
        uid: f.get("uid").map(|v| int(v, "daemon.uid")).transpose()?,
        gid: f.get("gid").map(|v| int(v, "daemon.gid")).transpose()?,
        groups: match f.get("groups") {
            None => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .enumerate()
                    .map(|(i, g)| int(g, &format!("daemon.groups[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Some(other) => {
                return Err(format!(
                    "daemon.groups: expected an array, got {}",
                    kind(other)
                ))
            }
        },
        chroot: f
            .get("chroot")
            .map(|v| path(v, "daemon.chroot"))
            .transpose()?,
    };
    f.warn_rest(warnings);
    Ok(d)
}

/// `uid`/`gid` of a path: absent or -1 means "leave as bound".
fn owner(f: &mut Fields, key: &'static str) -> Result<Option<u32>, String> {
    match f.get(key) {
        None => Ok(None),
        Some(v) => match int::<i64>(v, &f.path(key))? {
            -1 => Ok(None),
            n => u32::try_from(n)
                .map(Some)
                .map_err(|_| format!("{}: {n} is out of range", f.path(key))),
        },
    }
}

fn api_socket(v: &Value, i: usize, warnings: &mut Vec<String>) -> Result<ApiSocket, String> {
    let mut f = Fields::new(v, &format!("paths[{i}]"))?;
    let mut socket = path(f.require("socket")?, &f.path("socket"))?;
    if socket.len() > MAX_SOCKET_PATH {
        return Err(format!(
            "{}: {} bytes; python-socketbox takes at most {MAX_SOCKET_PATH}",
            f.path("socket"),
            socket.len()
        ));
    }
    if socket.starts_with('@') {
        // python binds "@x" as a file of that name; the router's "@x" would be abstract.
        socket.insert_str(0, "./");
    }
    // The original parses the mode as an octal string (default "700") and always applies it.
    let mode_text = match f.get("mode") {
        None => "700",
        Some(v) => string(v, &f.path("mode"))?,
    };
    if mode_text.is_empty() || !mode_text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!(
            "{}: \"{mode_text}\" is not an octal mode like \"0660\"",
            f.path("mode")
        ));
    }
    let mode = u32::from_str_radix(mode_text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{}: \"{mode_text}\" has bits beyond 07777", f.path("mode")))?;
    let a = ApiSocket {
        path: socket,
        owner_uid: owner(&mut f, "uid")?,
        owner_gid: owner(&mut f, "gid")?,
        mode: Some(mode),
    };
    f.warn_rest(warnings);
    Ok(a)
}

fn slot(v: &Value, i: usize, paths: usize, warnings: &mut Vec<String>) -> Result<Slot, String> {
    let mut f = Fields::new(v, &format!("outgoing[{i}]"))?;
    let uid = int(f.require("uid")?, &f.path("uid"))?;
    let api_socket: usize = int(f.require("path_nr")?, &f.path("path_nr"))?;
    if api_socket >= paths {
        return Err(format!(
            "{}: {api_socket} names no entry of \"paths\" (there are {paths}); no client could register this slot",
            f.path("path_nr")
        ));
    }
    f.warn_rest(warnings);
    Ok(Slot {
        number: u32::try_from(i).map_err(|_| "outgoing: too many slots".to_string())?,
        uid,
        api_socket,
        shared: false,
    })
}

/// The canonical match of a rule (python-socketbox's `rule_canon`): for each field given, the
/// mask and the value under it. A field absent has mask zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Canon {
    listener: Option<u32>,
    local: Option<IpMatch>,
    local_port: Option<u16>,
    remote: Option<IpMatch>,
    remote_port: Option<u16>,
}

impl Canon {
    fn read(f: &mut Fields) -> Result<Canon, String> {
        let ip = |f: &mut Fields, key: &'static str, mask_key: &'static str| {
            let Some(v) = f.get(key) else {
                return Ok(None);
            };
            let addr = ipv6(v, &f.path(key))?;
            let mask = match f.get(mask_key) {
                Some(m) => ipv6(m, &f.path(mask_key))?,
                None => Ipv6Addr::from(u128::MAX),
            };
            Ok::<_, String>(Some(IpMatch {
                addr: mask_ip(addr, mask),
                mask,
            }))
        };
        let local = ip(f, "l_ip", "l_mask")?;
        let remote = ip(f, "r_ip", "r_mask")?;
        let port = |f: &mut Fields, key: &'static str| {
            f.get(key).map(|v| int::<u16>(v, &f.path(key))).transpose()
        };
        Ok(Canon {
            local,
            remote,
            local_port: port(f, "l_port")?,
            remote_port: port(f, "r_port")?,
            listener: f
                .get("incoming_socket")
                .map(|v| int(v, &f.path("incoming_socket")))
                .transpose()?,
        })
    }

    /// The fields under `mask` (python: `match_b & map_mask`), as a rule matching exactly that.
    fn under(&self, mask: &Canon) -> Canon {
        let ip = |value: Option<IpMatch>, m: Option<IpMatch>| {
            m.map(|m| IpMatch {
                addr: mask_ip(value.map_or(Ipv6Addr::UNSPECIFIED, |v| v.addr), m.mask),
                mask: m.mask,
            })
        };
        Canon {
            listener: mask.listener.map(|_| self.listener.unwrap_or(0)),
            local: ip(self.local, mask.local),
            local_port: mask.local_port.map(|_| self.local_port.unwrap_or(0)),
            remote: ip(self.remote, mask.remote),
            remote_port: mask.remote_port.map(|_| self.remote_port.unwrap_or(0)),
        }
    }

    fn rule(&self, target: Target) -> Rule {
        Rule {
            listener: self.listener,
            local_ip: self.local,
            local_port: self.local_port,
            remote_ip: self.remote,
            remote_port: self.remote_port,
            target,
        }
    }

    /// The map-set key spec for this mask, if it is one (contiguous masks, no listener).
    fn key_spec(&self) -> Option<MapKeySpec> {
        let len = |m: Option<IpMatch>| match m {
            None => Some(0),
            Some(m) => mask_prefix_len(m.mask),
        };
        if self.listener.is_some() {
            return None;
        }
        Some(MapKeySpec {
            local_ip_len: len(self.local)?,
            remote_ip_len: len(self.remote)?,
            local_port: self.local_port.is_some(),
            remote_port: self.remote_port.is_some(),
        })
    }

    fn map_key(&self) -> MapKey {
        MapKey {
            local_ip: self.local.map_or(Ipv6Addr::UNSPECIFIED, |m| m.addr),
            remote_ip: self.remote.map_or(Ipv6Addr::UNSPECIFIED, |m| m.addr),
            local_port: self.local_port.unwrap_or(0),
            remote_port: self.remote_port.unwrap_or(0),
        }
    }
}

/// The original's default map mask: local IP and local port.
fn default_map_mask() -> Canon {
    Canon {
        local: Some(IpMatch {
            addr: Ipv6Addr::UNSPECIFIED,
            mask: Ipv6Addr::from(u128::MAX),
        }),
        local_port: Some(0),
        ..Canon::default()
    }
}

struct Names<'a> {
    ids: &'a HashMap<&'a str, u32>,
    kinds: &'a HashMap<u32, bool>,
    slots: usize,
}

impl Names<'_> {
    /// `r:NAME` / `o:N`.
    fn jump(&self, v: &Value, what: &str) -> Result<Target, String> {
        let s = string(v, what)?;
        let (kind, value) = s
            .split_at_checked(2)
            .filter(|(k, _)| k.ends_with(':'))
            .ok_or_else(|| format!("{what}: \"{s}\" is not of the form r:NAME or o:N"))?;
        match kind {
            "r:" => {
                let id = *self
                    .ids
                    .get(value)
                    .ok_or_else(|| format!("{what}: \"{s}\" names no list in \"rules\""))?;
                Ok(if self.kinds[&id] {
                    Target::JumpMap(id)
                } else {
                    Target::JumpRule(id)
                })
            }
            "o:" => {
                let n: usize = int(&Value::String(value.to_string()), what)
                    .map_err(|_| format!("{what}: \"{s}\": \"{value}\" is not a slot number"))?;
                if n >= self.slots {
                    return Err(format!(
                        "{what}: \"{s}\" names no entry of \"outgoing\" (there are {})",
                        self.slots
                    ));
                }
                Ok(Target::Slot(n as u32))
            }
            _ => Err(format!("{what}: \"{s}\": the jump type must be r or o")),
        }
    }
}

fn routes(v: &Value, slots: usize, warnings: &mut Vec<String>) -> Result<RouteTable, String> {
    let lists = v
        .as_object()
        .ok_or_else(|| format!("rules: expected a JSON object, got {}", kind(v)))?;
    if !lists.contains_key(START) {
        return Err(format!(
            "rules: no \"{START}\" list (where every lookup starts)"
        ));
    }
    // Ids: _start first, then the names in sorted order.
    let mut names: Vec<&str> = lists
        .keys()
        .map(String::as_str)
        .filter(|n| *n != START)
        .collect();
    names.sort_unstable();
    names.insert(0, START);
    let ids: HashMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i as u32))
        .collect();
    // First pass: each list's type, and for maps whether they become a map-set.
    let mut kinds = HashMap::new();
    let mut bodies: BTreeMap<u32, (Fields, bool)> = BTreeMap::new();
    for name in &names {
        let id = ids[name];
        let what = format!("rules.{name}");
        let mut f = Fields::new(&lists[*name], &what)?;
        let is_map = match string(f.require("type")?, &f.path("type"))? {
            "rule" => false,
            "map" => true,
            other => {
                return Err(format!(
                    "{}: \"{other}\" (expected \"rule\" or \"map\")",
                    f.path("type")
                ))
            }
        };
        bodies.insert(id, (f, is_map));
    }
    let mut masks = HashMap::new();
    for (id, (f, is_map)) in bodies.iter_mut() {
        if *is_map {
            let mask = match f.get("mask") {
                None => default_map_mask(),
                Some(m) => {
                    let mut mf = Fields::new(m, &f.path("mask"))?;
                    let c = Canon::read(&mut mf)?;
                    mf.warn_rest(warnings);
                    c
                }
            };
            kinds.insert(*id, mask.key_spec().is_some());
            masks.insert(*id, mask);
        } else {
            kinds.insert(*id, false);
        }
    }
    let refs = Names {
        ids: &ids,
        kinds: &kinds,
        slots,
    };
    let mut table = RouteTable::default();
    for (id, (mut f, is_map)) in bodies {
        let rules = match f.require("rules")? {
            Value::Array(a) => a,
            other => {
                return Err(format!(
                    "{}: expected an array, got {}",
                    f.path("rules"),
                    kind(other)
                ))
            }
        };
        let mut read = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let what = format!("{}[{i}]", f.path("rules"));
            let mut rf = Fields::new(r, &what)?;
            let canon = Canon::read(&mut rf)?;
            let target = refs.jump(rf.require("jump")?, &rf.path("jump"))?;
            rf.warn_rest(warnings);
            read.push((what, canon, target));
        }
        f.warn_rest(warnings);
        if !is_map {
            let rules = read.into_iter().map(|(_, c, t)| c.rule(t)).collect();
            table.rule_sets.insert(
                id,
                RuleSet {
                    rules,
                    default: Target::Fail,
                },
            );
            continue;
        }
        let mask = masks[&id];
        let mut seen: HashMap<Canon, String> = HashMap::new();
        let mut entries = Vec::with_capacity(read.len());
        for (what, canon, target) in read {
            let key = canon.under(&mask);
            if let Some(first) = seen.insert(key, what.clone()) {
                return Err(format!(
                    "{what}: has the same key under the map's mask as {first} (python-socketbox would silently keep only the later one)"
                ));
            }
            entries.push((key, target));
        }
        match mask.key_spec() {
            Some(spec) => {
                let entries = entries.into_iter().map(|(k, t)| (k.map_key(), t)).collect();
                table.map_sets.insert(
                    id,
                    MapSet {
                        spec,
                        entries,
                        default: Target::Fail,
                    },
                );
            }
            None => {
                let rules = entries.into_iter().map(|(k, t)| k.rule(t)).collect();
                table.rule_sets.insert(
                    id,
                    RuleSet {
                        rules,
                        default: Target::Fail,
                    },
                );
            }
        }
    }
    // A map as `_start`: the table starts in a rule-set, so enter it through an empty one.
    if kinds[&0] {
        let trampoline = names.len() as u32;
        table.rule_sets.insert(
            trampoline,
            RuleSet {
                rules: Vec::new(),
                default: Target::JumpMap(0),
            },
        );
        table.start = trampoline;
    }
    debug_assert_eq!(table.validate(), Ok(()));
    Ok(table)
}

impl std::hash::Hash for Canon {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let ip = |m: Option<IpMatch>| m.map(|m| (m.addr, m.mask));
        (
            self.listener,
            ip(self.local),
            self.local_port,
            ip(self.remote),
            self.remote_port,
        )
            .hash(h);
    }
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

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], String> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{what}: expected an array, got {}", kind(v)))
}

/// Parses python-socketbox's config.json. Errors are one line naming the JSON path at fault
/// (`rules._start.rules[2].jump: "o:9" names no entry of "outgoing" (there are 1)`).
pub fn parse(json: &str) -> Result<PythonConfig, String> {
    let mut c = parse_config(json).map_err(super::one_line)?;
    c.warnings = c.warnings.into_iter().map(super::one_line).collect();
    Ok(c)
}

fn parse_config(json: &str) -> Result<PythonConfig, String> {
    let Strict(root) = serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut top = Fields::new(&root, "the config")?;
    let mut warnings = Vec::new();
    match top.require("socketbox-version")? {
        Value::Number(n) if n.as_u64() == Some(1) => {}
        other => {
            return Err(format!(
                "socketbox-version: {other}; only version 1 exists (python-socketbox's config.json)"
            ))
        }
    }
    let incoming = array(top.require("incoming")?, "incoming")?
        .iter()
        .enumerate()
        .map(|(i, v)| incoming(v, i, &mut warnings))
        .collect::<Result<Vec<_>, _>>()?;
    let daemon = daemon(top.require("daemon")?, &mut warnings)?;
    let final_netns = top
        .get("final_netns")
        .map(|v| path(v, "final_netns"))
        .transpose()?;
    let api_sockets = array(top.require("paths")?, "paths")?
        .iter()
        .enumerate()
        .map(|(i, v)| api_socket(v, i, &mut warnings))
        .collect::<Result<Vec<_>, _>>()?;
    let slots = array(top.require("outgoing")?, "outgoing")?
        .iter()
        .enumerate()
        .map(|(i, v)| slot(v, i, api_sockets.len(), &mut warnings))
        .collect::<Result<Vec<_>, _>>()?;
    let routes = routes(top.require("rules")?, slots.len(), &mut warnings)?;
    top.warn_rest(&mut warnings);
    Ok(PythonConfig {
        incoming,
        final_netns,
        daemon,
        api_sockets,
        slots,
        routes,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketbox::table::Tuple;
    use proptest::prelude::*;

    /// python-socketbox's own sample config.json, byte for byte in meaning.
    const SAMPLE: &str = r#"{
	"socketbox-version": 1,
	"daemon": { "uid": 0, "gid": 0 },
	"incoming": [
		{ "address": "::", "port": 80 },
		{ "address": "::ffff:127.0.0.150", "port": 2, "transparent": true, "netns": "/run/netns/test_1" }
	],
	"final_netns": "/run/netns/test_2",
	"outgoing": [ { "uid": 150000, "path_nr": 0 } ],
	"paths": [ { "socket": "/run/socketbox/socketbox-ctl.sock", "mode": "0777", "uid": 0, "gid": 0 } ],
	"rules": {
		"_start": { "type": "rule", "rules": [ { "l_ip": "::1", "port": 80, "incoming_socket": 0, "jump": "r:another" } ] },
		"another": { "type": "rule", "rules": [ { "jump": "o:0" } ] }
	}
}"#;

    fn tuple(listener: u32, local: &str, lport: u16, remote: &str, rport: u16) -> Tuple {
        Tuple {
            listener,
            local_ip: local.parse().unwrap(),
            local_port: lport,
            remote_ip: remote.parse().unwrap(),
            remote_port: rport,
        }
    }

    #[test]
    fn sample_loads_with_one_warning_and_routes() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(
            c.warnings,
            vec![r#"rules._start.rules[0]: key "port" is not one python-socketbox reads; ignored"#]
        );
        assert_eq!(c.final_netns.as_deref(), Some("/run/netns/test_2"));
        assert_eq!(
            c.daemon,
            Daemon {
                uid: Some(0),
                gid: Some(0),
                ..Daemon::default()
            }
        );
        assert_eq!(c.api_sockets[0].mode, Some(0o777));
        assert_eq!(
            c.slots,
            vec![Slot {
                number: 0,
                uid: 150000,
                api_socket: 0,
                shared: false
            }]
        );
        assert!(
            matches!(&c.incoming[1], Incoming::Bind { transparent: true, reuseaddr: true,
            backlog: 4096, netns: Some(n), port: 2, .. } if n == "/run/netns/test_1")
        );
        // "port" is ignored: any local port to ::1 on incoming socket 0 goes to slot 0.
        for port in [80, 81, 2] {
            let t = tuple(0, "::1", port, "::1", 5000);
            assert_eq!(c.routes.route(&t), Ok(&Target::Slot(0)));
        }
        assert_eq!(
            c.routes.route(&tuple(1, "::1", 80, "::1", 5)),
            Ok(&Target::Fail)
        );
        assert_eq!(
            c.routes.route(&tuple(0, "::2", 80, "::1", 5)),
            Ok(&Target::Fail)
        );
    }

    /// The python reference, transcribed: rule_canon + the lookup loop of socketbox_main.py.
    fn python_canon(r: &Canon) -> ([u8; 40], [u8; 40]) {
        let mut m = [0u8; 40];
        let mut k = [0u8; 40];
        if let Some(l) = r.listener {
            m[0..4].copy_from_slice(&[0xff; 4]);
            k[0..4].copy_from_slice(&l.to_be_bytes());
        }
        let mut ip = |at: usize, v: Option<IpMatch>| {
            if let Some(v) = v {
                m[at..at + 16].copy_from_slice(&v.mask.octets());
                k[at..at + 16].copy_from_slice(&v.addr.octets());
            }
        };
        ip(4, r.local);
        ip(22, r.remote);
        if let Some(p) = r.local_port {
            m[20..22].copy_from_slice(&[0xff; 2]);
            k[20..22].copy_from_slice(&p.to_be_bytes());
        }
        if let Some(p) = r.remote_port {
            m[38..40].copy_from_slice(&[0xff; 2]);
            k[38..40].copy_from_slice(&p.to_be_bytes());
        }
        (k, m)
    }

    fn tuple_bytes(t: &Tuple) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[0..4].copy_from_slice(&t.listener.to_be_bytes());
        b[4..20].copy_from_slice(&t.local_ip.octets());
        b[20..22].copy_from_slice(&t.local_port.to_be_bytes());
        b[22..38].copy_from_slice(&t.remote_ip.octets());
        b[38..40].copy_from_slice(&t.remote_port.to_be_bytes());
        b
    }

    fn and(a: &[u8; 40], b: &[u8; 40]) -> [u8; 40] {
        std::array::from_fn(|i| a[i] & b[i])
    }

    /// Two-list config: `_start` a rule list of `rules` (jumping to the map or to slots), `m`
    /// a map with `mask` and `entries`. Evaluated both ways on every tuple of a small grid.
    #[test]
    fn maps_and_rules_route_as_python_does() {
        let json = r#"{"socketbox-version": 1, "daemon": {}, "incoming": [], "paths": [{"socket": "/x"}],
          "outgoing": [{"uid": 1, "path_nr": 0}, {"uid": 2, "path_nr": 0}, {"uid": 3, "path_nr": 0}],
          "rules": {
            "_start": {"type": "rule", "rules": [
              {"r_ip": "::ffff:10.0.0.0", "r_mask": "ffff:ffff:ffff:ffff:ffff:ffff:ff00:0", "jump": "o:2"},
              {"l_ip": "fd00::", "l_mask": "ffff::ff", "jump": "r:m"},
              {"l_port": 22, "incoming_socket": 1, "jump": "r:odd"},
              {"r_port": 7, "jump": "o:1"}]},
            "m": {"type": "map", "rules": [
              {"l_ip": "fd00::1", "l_port": 80, "jump": "o:0"},
              {"l_ip": "fd00::2", "l_port": 80, "jump": "o:1"}]},
            "odd": {"type": "map", "mask": {"incoming_socket": 0, "l_ip": "::", "l_mask": "::ff"},
              "rules": [{"incoming_socket": 1, "l_ip": "::1", "jump": "o:0"},
                        {"incoming_socket": 1, "l_ip": "::2", "jump": "o:2"}]}
          }}"#;
        let c = parse(json).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.routes.map_sets.contains_key(&1), "m is a map-set");
        assert!(
            c.routes.rule_sets.contains_key(&2),
            "odd is a rule-set (listener in the mask)"
        );
        // The python side, built from the same rules.
        let v: Value = serde_json::from_str(json).unwrap();
        let rules = &v["rules"];
        let read = |r: &Value| {
            let mut f = Fields::new(r, "t").unwrap();
            Canon::read(&mut f).unwrap()
        };
        let start: Vec<(Canon, String)> = rules["_start"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (read(r), r["jump"].as_str().unwrap().to_string()))
            .collect();
        let map_of = |name: &str, mask: [u8; 40]| -> HashMap<[u8; 40], String> {
            rules[name]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        and(&python_canon(&read(r)).0, &mask),
                        r["jump"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        let m_mask = python_canon(&default_map_mask()).1;
        let odd_mask = python_canon(&read(&rules["odd"]["mask"])).1;
        let m = map_of("m", m_mask);
        let odd = map_of("odd", odd_mask);
        let python = |t: &Tuple| -> Target {
            let tb = tuple_bytes(t);
            let mut current = "_start".to_string();
            for _ in 1..100 {
                let next = match current.as_str() {
                    "_start" => match start.iter().find(|(c, _)| {
                        let (k, msk) = python_canon(c);
                        and(&tb, &msk) == k
                    }) {
                        Some((_, j)) => j.clone(),
                        None => continue,
                    },
                    "m" => match m.get(&and(&tb, &m_mask)) {
                        Some(j) => j.clone(),
                        None => return Target::Fail,
                    },
                    _ => match odd.get(&and(&tb, &odd_mask)) {
                        Some(j) => j.clone(),
                        None => return Target::Fail,
                    },
                };
                match next.split_once(':').unwrap() {
                    ("o", n) => return Target::Slot(n.parse().unwrap()),
                    (_, name) => current = name.to_string(),
                }
            }
            Target::Fail
        };
        let mut n = 0;
        for listener in 0..3u32 {
            for local in [
                "fd00::1",
                "fd00::2",
                "fd00::101",
                "fd00:1::1",
                "::1",
                "::2",
                "::ffff:10.0.0.1",
            ] {
                for lport in [22u16, 80, 81] {
                    for remote in ["::1", "::ffff:10.0.0.9", "::ffff:10.1.0.9"] {
                        for rport in [7u16, 8] {
                            let t = tuple(listener, local, lport, remote, rport);
                            assert_eq!(c.routes.route(&t), Ok(&python(&t)), "{t}");
                            n += 1;
                        }
                    }
                }
            }
        }
        assert!(n > 300);
    }

    #[test]
    fn every_key_is_read() {
        let json = r#"{"socketbox-version": 1,
          "daemon": {"uid": 65534, "gid": 65534, "groups": [65534, 5], "chroot": "/run/empty"},
          "incoming": [
            {"address": "::1", "port": 8080, "transparent": false, "freebind": true, "reuseaddr": false,
             "reuseport": true, "backlog": 16, "netns": "/run/netns/x"},
            {"fd": 3, "listen": true, "backlog": 8}, {"fd": 4}],
          "final_netns": "/run/netns/y",
          "outgoing": [{"uid": "1000", "path_nr": 0}],
          "paths": [{"socket": "@rel", "mode": "0660", "uid": -1, "gid": 100}],
          "rules": {"_start": {"type": "map", "mask": {"l_port": 0}, "rules": [{"l_port": 80, "jump": "o:0"}]}}}"#;
        let c = parse(json).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.daemon.groups, Some(vec![65534, 5]));
        assert_eq!(c.daemon.chroot.as_deref(), Some("/run/empty"));
        assert_eq!(
            c.incoming[0],
            Incoming::Bind {
                address: "::1".parse().unwrap(),
                port: 8080,
                transparent: false,
                freebind: true,
                reuseaddr: false,
                reuseport: true,
                backlog: 16,
                netns: Some("/run/netns/x".into())
            }
        );
        assert_eq!(
            c.incoming[1],
            Incoming::Fd {
                fd: 3,
                listen: Some(8)
            }
        );
        assert_eq!(
            c.incoming[2],
            Incoming::Fd {
                fd: 4,
                listen: None
            }
        );
        assert_eq!(
            c.api_sockets[0],
            ApiSocket {
                path: "./@rel".into(),
                owner_uid: None,
                owner_gid: Some(100),
                mode: Some(0o660)
            }
        );
        assert_eq!(c.slots[0].uid, 1000);
        assert_eq!(
            c.routes.route(&tuple(0, "::1", 80, "::1", 1)),
            Ok(&Target::Slot(0))
        );
        assert_eq!(
            c.routes.route(&tuple(0, "::1", 81, "::1", 1)),
            Ok(&Target::Fail)
        );
    }

    #[test]
    fn errors_name_the_path() {
        let base = |rules: &str| {
            format!(
                r#"{{"socketbox-version": 1, "daemon": {{}}, "incoming": [],
            "paths": [{{"socket": "/x"}}], "outgoing": [{{"uid": 1, "path_nr": 0}}], "rules": {rules}}}"#
            )
        };
        let cases = [
            (base(r#"{"a": {"type": "rule", "rules": []}}"#), "rules: no \"_start\""),
            (base(r#"{"_start": {"type": "list", "rules": []}}"#), "rules._start.type: \"list\""),
            (base(r#"{"_start": {"type": "rule", "rules": [{"jump": "r:nope"}]}}"#), "rules._start.rules[0].jump: \"r:nope\" names no list"),
            (base(r#"{"_start": {"type": "rule", "rules": [{"jump": "o:1"}]}}"#), "names no entry of \"outgoing\""),
            (base(r#"{"_start": {"type": "rule", "rules": [{"jump": "fail"}]}}"#), "not of the form r:NAME or o:N"),
            (base(r#"{"_start": {"type": "rule", "rules": [{"l_ip": "10.0.0.1", "jump": "o:0"}]}}"#), "write \"::ffff:10.0.0.1\""),
            (base(r#"{"_start": {"type": "rule", "rules": [{"l_port": 65536, "jump": "o:0"}]}}"#), "l_port: 65536 is out of range"),
            (base(r#"{"_start": {"type": "map", "rules": [{"l_ip": "::1", "jump": "o:0"}, {"l_ip": "::1", "l_mask": "::1", "jump": "o:0"}]}}"#), "same key"),
            (base(r#"{"_start": {"type": "rule", "rules": [{"jump": "o:0"}]}, "_start": {}}"#), "appears twice"),
            (r#"{"socketbox-version": 2}"#.to_string(), "only version 1"),
            (r#"{"socketbox-version": 1, "daemon": {}, "incoming": [{"address": "::", "port": 1, "transparent": "yes"}]}"#.to_string(), "incoming[0].transparent: expected true or false"),
        ];
        for (json, want) in cases {
            let e = parse(&json).unwrap_err();
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = parse(&s);
        }
    }
}
