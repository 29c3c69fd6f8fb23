//! Everything the router runs from: flags + one config file (socketbox text, native TOML, or
//! python-socketbox JSON) → `Config`. Pure except for reading the file.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use sockswap_core::socketbox::handover::{self, HandoverKey, ListenerInfo};
use sockswap_core::socketbox::python::{ApiSocket, Slot};
use sockswap_core::socketbox::table::{
    IpMatch, MapKeySpec, MapSet, RouteTable, Rule, RuleSet, Target, Tuple,
};
use sockswap_core::socketbox::wire::ProxyVersion;

use crate::flags::{parse_ip, to_v6, Options};

pub const DEFAULT_CONFIG: &str = "/etc/socketbox.conf";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenSpec {
    Tcp {
        addr: SocketAddr,
        transparent: bool,
        freebind: bool,
        reuseaddr: bool,
        reuseport: bool,
        backlog: i32,
    },
    Unix {
        path: String,
        mode: Option<u32>,
        backlog: i32,
    },
    /// An inherited listening socket.
    Fd(i32),
    /// An inherited socket the router calls listen(backlog) on first (python-socketbox's
    /// `{"fd": N, "listen": true}`).
    FdToListen { fd: i32, backlog: i32 },
    /// `inner`, opened after entering the network namespace at `netns` (a file like
    /// /run/netns/NAME) — for good: the listeners after it are opened there too, as
    /// python-socketbox does.
    InNetns {
        netns: String,
        inner: Box<ListenSpec>,
    },
    /// All of systemd's LISTEN_FDS.
    Systemd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayTo {
    Tcp(SocketAddr),
    Unix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    Spawn {
        argv: Vec<String>,
        max_children: usize,
    },
    Relay {
        to: RelayTo,
        proxy: Option<ProxyVersion>,
    },
    /// The built-in port-80 responder: redirect to https, serve ACME challenges from `webroot`.
    HttpsRedirect { webroot: Option<String> },
    /// A supervised daemon (`[[daemon]]`, see `daemon.rs`): delivered over A to its socket pair.
    Daemon,
}

/// A program the router starts and supervises, fed over a socket pair (`[[daemon]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSpec {
    pub name: String,
    pub argv: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privileges {
    pub user: Option<String>,
    pub group: Option<String>,
    pub groups: Option<String>,
    pub keep_groups: bool,
    pub chroot: Option<String>,
    pub no_new_privs: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listeners: Vec<ListenSpec>,
    pub table: RouteTable,
    pub templates: bool,
    pub named: HashMap<String, Named>,
    /// Supervised daemons; started once at startup (a reload does not change them).
    pub daemons: Vec<DaemonSpec>,
    pub api_sockets: Vec<ApiSocket>,
    pub slots: Vec<Slot>,
    pub b_uid_limit: usize,
    /// A B connection that has not registered a slot within this is closed.
    pub b_register_timeout: Duration,
    pub queue_len: usize,
    pub queue_timeout: Duration,
    pub status: Option<String>,
    pub workers: usize,
    pub privileges: Privileges,
    /// Unix targets under a prefix must be sockets owned by this uid.
    pub target_owner: Vec<(String, u32)>,
    pub b_client: Option<(u32, String)>,
    pub log_level: Option<String>,
    /// Where the config came from, for reloads.
    pub source: Option<(String, String)>,
    /// `-z`: clear IPV6_TRANSPARENT (IP_TRANSPARENT) on each connection before delivering it.
    pub clear_transparent: bool,
    /// python-socketbox's `final_netns`: entered after the listeners, before the API sockets.
    pub final_netns: Option<String>,
    /// Things in the config file worth a warning (keys python-socketbox ignores).
    pub warnings: Vec<String>,
    /// Whether routing or delivery needs the connection's local address (getsockname): false
    /// only when no rule or map looks at it, no path template and no spawn/relay target uses it.
    pub needs_local: bool,
    /// Targets that opted in to listener handover (`--handover listener`, `handover =
    /// "listener"`), and the keys handed over to them (computed from the tables).
    pub handover_targets: Vec<Target>,
    pub handover_keys: Vec<HandoverKey>,
}

/// The handover plan for `c`: TCP listeners whose address the config gives (not inherited fds).
/// A router listener sharing its port with a per-address key gets SO_REUSEPORT (the kernel
/// lets a specific address and a wildcard share a port only so), and a listener handed over
/// whole is not the router's to accept on.
pub fn compute_handover(c: &mut Config) -> Result<(), String> {
    if c.handover_targets.is_empty() {
        c.handover_keys.clear();
        return Ok(());
    }
    if c.templates {
        return Err("handover: -U path templates and listener handover cannot be combined".into());
    }
    let infos: Vec<ListenerInfo> = c
        .listeners
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            ListenSpec::Tcp { addr, .. } => Some(ListenerInfo {
                index: i as u32,
                ip: if addr.ip().is_unspecified() {
                    Ipv6Addr::UNSPECIFIED
                } else {
                    to_v6(addr.ip())
                },
                port: addr.port(),
            }),
            _ => None,
        })
        .collect();
    let opted = c.handover_targets.clone();
    c.handover_keys = handover::plan(&c.table, &infos, &|t| opted.contains(t))?;
    for t in &c.handover_targets {
        if !c.handover_keys.iter().any(|h| &h.target == t) {
            return Err(format!(
                "handover: no local address and port routes to {t} alone (every route to it \
                 depends on the remote address, or no TCP listener reaches it); \
                 `socketbox explain` shows why"
            ));
        }
    }
    for i in 0..c.listeners.len() {
        let shares_port = c
            .handover_keys
            .iter()
            .any(|h| h.key.listener as usize == i && h.key.ip.is_some())
            && !handed_over_whole(c, i);
        if let (true, Some(ListenSpec::Tcp { reuseport, .. })) =
            (shares_port, c.listeners.get_mut(i))
        {
            *reuseport = true;
        }
    }
    Ok(())
}

/// Whether listener `i` is handed over whole: its one key is the listener's own address (or
/// any address, for a wildcard), so the router does not open or accept on it at all.
pub fn handed_over_whole(c: &Config, i: usize) -> bool {
    let Some(ListenSpec::Tcp { addr, .. }) = c.listeners.get(i) else {
        return false;
    };
    let own = to_v6(addr.ip());
    c.handover_keys
        .iter()
        .any(|h| h.key.listener as usize == i && (h.key.ip.is_none() || h.key.ip == Some(own)))
}

/// The address a handover key's listener binds: the key's own address in its own family (an
/// IPv4 key binds AF_INET), or the router listener's address for a whole wildcard listener.
pub fn handover_addr(c: &Config, h: &HandoverKey) -> Option<SocketAddr> {
    let ip = match (h.key.ip, c.listeners.get(h.key.listener as usize)) {
        (Some(ip), _) => ip,
        (None, Some(ListenSpec::Tcp { addr, .. })) => to_v6(addr.ip()),
        _ => return None,
    };
    let ip = match ip.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(ip),
    };
    Some(SocketAddr::new(ip, h.key.port))
}

/// See `Config::needs_local`.
pub fn compute_needs_local(c: &Config) -> bool {
    c.templates
        || !c.named.is_empty()
        || c.table.rule_sets.values().any(|rs| {
            rs.rules
                .iter()
                .any(|r| r.local_ip.is_some() || r.local_port.is_some())
        })
        || c.table
            .map_sets
            .values()
            .any(|ms| ms.spec.local_ip_len > 0 || ms.spec.local_port)
}

pub const DEFAULT_QUEUE_LEN: usize = 4096;
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 10_000;
/// How long a B client may take to register a slot after connecting.
pub const DEFAULT_B_REGISTER_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_BACKLOG: i32 = 4096;

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

/// `ADDR:PORT[,opt..]`, `unix:PATH[,opt..]`, `fd:N`, `systemd`.
pub fn parse_listen_spec(s: &str) -> Result<ListenSpec, String> {
    let mut parts = s.split(',');
    let head = parts.next().unwrap_or("");
    let (mut transparent, mut freebind, mut reuseaddr, mut reuseport) = (false, false, true, false);
    let mut backlog = DEFAULT_BACKLOG;
    let mut mode = None;
    for opt in parts {
        match opt.split_once('=') {
            None => match opt {
                "transparent" => transparent = true,
                "freebind" => freebind = true,
                "reuseport" => reuseport = true,
                "noreuseaddr" => reuseaddr = false,
                _ => return Err(format!("listener '{s}': unknown option '{opt}'")),
            },
            Some(("backlog", v)) => {
                backlog = sockswap_core::decimal::parse(v)
                    .ok_or_else(|| format!("listener '{s}': bad backlog '{v}'"))?
            }
            Some(("mode", v)) => {
                mode = Some(
                    u32::from_str_radix(v, 8)
                        .map_err(|_| format!("listener '{s}': bad octal mode '{v}'"))?,
                )
            }
            Some((k, _)) => return Err(format!("listener '{s}': unknown option '{k}'")),
        }
    }
    if head == "systemd" {
        return Ok(ListenSpec::Systemd);
    }
    if let Some(fd) = head.strip_prefix("fd:") {
        return Ok(ListenSpec::Fd(
            sockswap_core::decimal::parse(fd).ok_or_else(|| format!("listener '{s}': bad fd"))?,
        ));
    }
    if let Some(path) = head.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(format!("listener '{s}': empty path"));
        }
        return Ok(ListenSpec::Unix {
            path: path.to_string(),
            mode,
            backlog,
        });
    }
    let (ip, port) = head
        .rsplit_once(':')
        .ok_or_else(|| format!("listener '{s}': expected ADDR:PORT"))?;
    let ip = if ip.is_empty() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        parse_ip(ip)?
    };
    let port: u16 = sockswap_core::decimal::parse(port)
        .ok_or_else(|| format!("listener '{s}': bad port '{port}'"))?;
    Ok(ListenSpec::Tcp {
        addr: SocketAddr::new(ip, port),
        transparent,
        freebind,
        reuseaddr,
        reuseport,
        backlog,
    })
}

/// A native target string: `unix:PATH`, `fd:N`, `slot:N`, `spawn:NAME`, `relay:NAME`,
/// `responder:NAME`, `daemon:NAME`, `name:NAME`, `rule:K`, `map:K`, `fail`; socketbox's `jump-*:` spellings are accepted too.
pub fn parse_target(s: &str) -> Result<Target, String> {
    if s == "fail" {
        return Ok(Target::Fail);
    }
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("bad target '{s}' (expected KIND:VALUE or fail)"))?;
    let num = |v: &str| {
        sockswap_core::decimal::parse::<u32>(v)
            .ok_or_else(|| format!("bad target '{s}': '{v}' is not a number"))
    };
    Ok(match k {
        "unix" | "jump-unix" if !v.is_empty() => Target::Unix(v.to_string()),
        "fd" | "jump-fd" => {
            Target::Fd(sockswap_core::decimal::parse(v).ok_or_else(|| format!("bad target '{s}'"))?)
        }
        "slot" => Target::Slot(num(v)?),
        "spawn" | "relay" | "responder" | "daemon" | "name" if !v.is_empty() => {
            Target::Named(v.to_string())
        }
        "rule" | "jump-rule" => Target::JumpRule(num(v)?),
        "map" | "jump-map" => Target::JumpMap(num(v)?),
        _ => return Err(format!("bad target '{s}'")),
    })
}

fn mask_of_len(len: u8) -> Ipv6Addr {
    let bits: u128 = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    };
    Ipv6Addr::from(bits)
}

/// `ADDR`, `ADDR/LEN`, `ADDR/MASK`; IPv4 becomes v4-mapped (LEN + 96).
pub fn parse_ip_match(s: &str) -> Result<IpMatch, String> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let ip = parse_ip(a)?;
    let v4 = ip.is_ipv4();
    let addr = to_v6(ip);
    let mask = match m {
        None => mask_of_len(128),
        Some(m) => match sockswap_core::decimal::parse::<u8>(m) {
            Some(len) => {
                let max = if v4 { 32 } else { 128 };
                if len > max {
                    return Err(format!("'{s}': prefix length over {max}"));
                }
                mask_of_len(if v4 { len + 96 } else { len })
            }
            None => to_v6(parse_ip(m).map_err(|_| format!("'{s}': bad mask '{m}'"))?),
        },
    };
    Ok(IpMatch { addr, mask })
}

// ------------------------------------------------------------------ native TOML

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Native {
    /// A socketbox text config whose tables are used (path relative to the TOML file's dir).
    pub rules_file: Option<String>,
    pub workers: Option<usize>,
    pub queue_len: Option<usize>,
    pub queue_timeout_ms: Option<u64>,
    pub status: Option<String>,
    pub log_level: Option<String>,
    #[serde(default)]
    pub templates: bool,
    pub b_uid_limit: Option<usize>,
    pub b_register_timeout_ms: Option<u64>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub groups: Option<Vec<String>>,
    pub chroot: Option<String>,
    #[serde(default)]
    pub listen: Vec<NativeListen>,
    #[serde(default)]
    pub api_socket: Vec<NativeApi>,
    #[serde(default)]
    pub slot: Vec<NativeSlot>,
    #[serde(default)]
    pub owner: Vec<NativeOwner>,
    #[serde(default)]
    pub spawn: Vec<NativeSpawn>,
    #[serde(default)]
    pub relay: Vec<NativeRelay>,
    #[serde(default)]
    pub responder: Vec<NativeResponder>,
    #[serde(default)]
    pub daemon: Vec<NativeDaemon>,
    #[serde(default)]
    pub target: Vec<NativeTarget>,
    #[serde(default)]
    pub rule_set: Vec<NativeRuleSet>,
    #[serde(default)]
    pub map_set: Vec<NativeMapSet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeListen {
    pub address: Option<String>,
    pub unix: Option<String>,
    pub fd: Option<i32>,
    #[serde(default)]
    pub systemd: bool,
    #[serde(default)]
    pub transparent: bool,
    #[serde(default)]
    pub freebind: bool,
    #[serde(default)]
    pub reuseport: bool,
    pub reuseaddr: Option<bool>,
    pub backlog: Option<i32>,
    pub mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeApi {
    pub path: String,
    pub owner: Option<u32>,
    pub group: Option<u32>,
    pub mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSlot {
    pub number: u32,
    pub uid: u32,
    #[serde(default)]
    pub api_socket: usize,
    #[serde(default)]
    pub shared: bool,
    /// `handover = "listener"`: registered clients asking for it get the slot's listener.
    pub handover: Option<String>,
}

/// Per-target settings: `[[target]] to = "unix:/run/web.sock"  handover = "listener"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeTarget {
    pub to: String,
    pub handover: Option<String>,
}

/// `handover = "listener"` (the one mode) or `"none"`.
fn handover_mode(v: Option<&str>, what: &str) -> Result<bool, String> {
    match v {
        None | Some("none") => Ok(false),
        Some("listener") => Ok(true),
        Some(o) => Err(format!(
            "{what}: handover must be \"listener\" or \"none\", not '{o}'"
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeOwner {
    pub prefix: String,
    pub uid: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSpawn {
    pub name: String,
    pub argv: Vec<String>,
    pub max_children: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeRelay {
    pub name: String,
    pub to: String,
    pub proxy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeDaemon {
    pub name: String,
    pub argv: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeResponder {
    pub name: String,
    pub action: String,
    pub webroot: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeRule {
    pub listener: Option<u32>,
    pub local: Option<String>,
    pub port: Option<u16>,
    pub remote: Option<String>,
    pub remote_port: Option<u16>,
    pub to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeRuleSet {
    pub id: u32,
    #[serde(default)]
    pub rules: Vec<NativeRule>,
    pub default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeMapEntry {
    pub local: Option<String>,
    pub port: Option<u16>,
    pub remote: Option<String>,
    pub remote_port: Option<u16>,
    pub to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeMapSet {
    pub id: u32,
    #[serde(default)]
    pub match_local_ip: u8,
    #[serde(default)]
    pub match_remote_ip: u8,
    #[serde(default)]
    pub match_local_port: bool,
    #[serde(default)]
    pub match_remote_port: bool,
    #[serde(default)]
    pub entries: Vec<NativeMapEntry>,
    pub default: Option<String>,
}

fn octal(s: &str, what: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| format!("{what}: bad octal mode '{s}'"))
}

fn native_tables(n: &Native) -> Result<RouteTable, String> {
    let mut t = RouteTable::default();
    for rs in &n.rule_set {
        let mut rules = Vec::new();
        for (i, r) in rs.rules.iter().enumerate() {
            let ctx = |e: String| format!("rule_set {} rule {}: {e}", rs.id, i + 1);
            rules.push(Rule {
                listener: r.listener,
                local_ip: r
                    .local
                    .as_deref()
                    .map(parse_ip_match)
                    .transpose()
                    .map_err(ctx)?,
                local_port: r.port,
                remote_ip: r
                    .remote
                    .as_deref()
                    .map(parse_ip_match)
                    .transpose()
                    .map_err(ctx)?,
                remote_port: r.remote_port,
                target: parse_target(&r.to).map_err(ctx)?,
            });
        }
        let default = match &rs.default {
            Some(d) => parse_target(d).map_err(|e| format!("rule_set {} default: {e}", rs.id))?,
            None => Target::Fail,
        };
        if t.rule_sets
            .insert(rs.id, RuleSet { rules, default })
            .is_some()
        {
            return Err(format!("rule_set {} defined twice", rs.id));
        }
    }
    for ms in &n.map_set {
        if ms.match_local_ip > 128 || ms.match_remote_ip > 128 {
            return Err(format!("map_set {}: prefix length over 128", ms.id));
        }
        let spec = MapKeySpec {
            local_ip_len: ms.match_local_ip,
            remote_ip_len: ms.match_remote_ip,
            local_port: ms.match_local_port,
            remote_port: ms.match_remote_port,
        };
        let mut entries = HashMap::new();
        for (i, e) in ms.entries.iter().enumerate() {
            let ctx = |m: String| format!("map_set {} entry {}: {m}", ms.id, i + 1);
            let ip = |s: &Option<String>| -> Result<Ipv6Addr, String> {
                match s {
                    Some(s) => Ok(to_v6(parse_ip(s)?)),
                    None => Ok(Ipv6Addr::UNSPECIFIED),
                }
            };
            let tuple = Tuple {
                listener: 0,
                local_ip: ip(&e.local).map_err(ctx)?,
                local_port: e.port.unwrap_or(0),
                remote_ip: ip(&e.remote).map_err(ctx)?,
                remote_port: e.remote_port.unwrap_or(0),
            };
            let key = spec.key_of(&tuple);
            let target = parse_target(&e.to).map_err(ctx)?;
            if entries.insert(key, target).is_some() {
                return Err(ctx("duplicate key".into()));
            }
        }
        let default = match &ms.default {
            Some(d) => parse_target(d).map_err(|e| format!("map_set {} default: {e}", ms.id))?,
            None => Target::Fail,
        };
        if t.map_sets
            .insert(
                ms.id,
                MapSet {
                    spec,
                    entries,
                    default,
                },
            )
            .is_some()
        {
            return Err(format!("map_set {} defined twice", ms.id));
        }
    }
    Ok(t)
}

fn native_listen(l: &NativeListen) -> Result<ListenSpec, String> {
    let count =
        l.address.is_some() as u8 + l.unix.is_some() as u8 + l.fd.is_some() as u8 + l.systemd as u8;
    if count != 1 {
        return Err("[[listen]]: give exactly one of address, unix, fd, systemd".into());
    }
    let backlog = l.backlog.unwrap_or(DEFAULT_BACKLOG);
    if let Some(a) = &l.address {
        let mut spec = parse_listen_spec(a)?;
        if let ListenSpec::Tcp {
            transparent,
            freebind,
            reuseaddr,
            reuseport,
            backlog: b,
            ..
        } = &mut spec
        {
            *transparent = l.transparent;
            *freebind = l.freebind;
            *reuseport = l.reuseport;
            *reuseaddr = l.reuseaddr.unwrap_or(true);
            *b = backlog;
            return Ok(spec);
        }
        return Err(format!("[[listen]] address '{a}': expected ADDR:PORT"));
    }
    if let Some(p) = &l.unix {
        let mode = l
            .mode
            .as_deref()
            .map(|m| octal(m, "[[listen]] mode"))
            .transpose()?;
        return Ok(ListenSpec::Unix {
            path: p.clone(),
            mode,
            backlog,
        });
    }
    if let Some(fd) = l.fd {
        return Ok(ListenSpec::Fd(fd));
    }
    Ok(ListenSpec::Systemd)
}

fn parse_relay_to(s: &str) -> Result<RelayTo, String> {
    if let Some(p) = s.strip_prefix("unix:") {
        return Ok(RelayTo::Unix(p.to_string()));
    }
    let (ip, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("relay to '{s}': expected ADDR:PORT or unix:PATH"))?;
    let ip = parse_ip(ip)?;
    let port =
        sockswap_core::decimal::parse(port).ok_or_else(|| format!("relay to '{s}': bad port"))?;
    Ok(RelayTo::Tcp(SocketAddr::new(ip, port)))
}

// ------------------------------------------------------------------ assembly

fn empty(o: &Options) -> Config {
    Config {
        listeners: Vec::new(),
        table: RouteTable::default(),
        templates: o.templates,
        named: HashMap::new(),
        daemons: Vec::new(),
        api_sockets: Vec::new(),
        slots: Vec::new(),
        b_uid_limit: 5,
        b_register_timeout: Duration::from_millis(DEFAULT_B_REGISTER_TIMEOUT_MS),
        queue_len: DEFAULT_QUEUE_LEN,
        queue_timeout: Duration::from_millis(DEFAULT_QUEUE_TIMEOUT_MS),
        status: None,
        workers: default_workers(),
        privileges: Privileges::default(),
        target_owner: Vec::new(),
        b_client: o.b_client.clone(),
        log_level: None,
        source: None,
        final_netns: None,
        warnings: Vec::new(),
        clear_transparent: o.clear_transparent,
        needs_local: true,
        handover_targets: Vec::new(),
        handover_keys: Vec::new(),
    }
}

fn detect_format(o: &Options, path: &str) -> String {
    if let Some(f) = &o.format {
        return f.clone();
    }
    if path.ends_with(".toml") {
        "toml".into()
    } else if path.ends_with(".json") {
        "json".into()
    } else {
        "text".into()
    }
}

/// One python-socketbox `incoming` entry as a listener.
fn python_listen(incoming: sockswap_core::socketbox::python::Incoming) -> ListenSpec {
    match incoming {
        sockswap_core::socketbox::python::Incoming::Fd { fd, listen: None } => ListenSpec::Fd(fd),
        sockswap_core::socketbox::python::Incoming::Fd {
            fd,
            listen: Some(backlog),
        } => ListenSpec::FdToListen { fd, backlog },
        sockswap_core::socketbox::python::Incoming::Bind {
            address,
            port,
            transparent,
            freebind,
            reuseaddr,
            reuseport,
            backlog,
            netns,
        } => {
            let tcp = ListenSpec::Tcp {
                addr: SocketAddr::new(IpAddr::V6(address), port),
                transparent,
                freebind,
                reuseaddr,
                reuseport,
                backlog,
            };
            match netns {
                None => tcp,
                Some(netns) => ListenSpec::InNetns {
                    netns,
                    inner: Box::new(tcp),
                },
            }
        }
    }
}

/// Apply a config file's text (already read) to `c`.
pub fn apply_file(c: &mut Config, format: &str, path: &str, text: &str) -> Result<(), String> {
    use sockswap_core::socketbox::{python, text as sbtext};
    match format {
        "text" => {
            c.table = sbtext::parse(text).map_err(|e| format!("{path}: {e}"))?;
        }
        "json" => {
            let p = python::parse(text).map_err(|e| format!("{path}: {e}"))?;
            c.table = p.routes;
            c.api_sockets = p.api_sockets;
            c.slots = p.slots;
            c.final_netns = p.final_netns;
            c.warnings
                .extend(p.warnings.into_iter().map(|w| format!("{path}: {w}")));
            for incoming in p.incoming {
                c.listeners.push(python_listen(incoming));
            }
            let d = p.daemon;
            c.privileges.user = d.uid.map(|u| u.to_string());
            c.privileges.group = d.gid.map(|g| g.to_string());
            c.privileges.groups = d
                .groups
                .map(|g| g.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
            c.privileges.chroot = d.chroot;
        }
        "toml" => {
            let n: Native = toml::from_str(text).map_err(|e| {
                let line = e
                    .span()
                    .map(|sp| text[..sp.start.min(text.len())].matches('\n').count() + 1);
                match line {
                    Some(l) => format!("{path}: line {l}: {}", e.message()),
                    None => format!("{path}: {}", e.message()),
                }
            })?;
            if let Some(rf) = &n.rules_file {
                if !n.rule_set.is_empty() || !n.map_set.is_empty() {
                    return Err(format!(
                        "{path}: give rules_file or rule_set/map_set, not both"
                    ));
                }
                let rp = if rf.starts_with('/') {
                    rf.clone()
                } else {
                    let dir = std::path::Path::new(path)
                        .parent()
                        .map(|d| d.to_path_buf())
                        .unwrap_or_default();
                    dir.join(rf).to_string_lossy().into_owned()
                };
                let t = std::fs::read_to_string(&rp).map_err(|e| format!("{rp}: {e}"))?;
                c.table = sbtext::parse(&t).map_err(|e| format!("{rp}: {e}"))?;
            } else {
                c.table = native_tables(&n).map_err(|e| format!("{path}: {e}"))?;
            }
            for l in &n.listen {
                c.listeners
                    .push(native_listen(l).map_err(|e| format!("{path}: {e}"))?);
            }
            for a in &n.api_socket {
                c.api_sockets.push(ApiSocket {
                    path: a.path.clone(),
                    owner_uid: a.owner,
                    owner_gid: a.group,
                    mode: a
                        .mode
                        .as_deref()
                        .map(|m| octal(m, "[[api_socket]] mode"))
                        .transpose()?,
                });
            }
            for s in &n.slot {
                if handover_mode(
                    s.handover.as_deref(),
                    &format!("{path}: [[slot]] {}", s.number),
                )? {
                    c.handover_targets.push(Target::Slot(s.number));
                }
                c.slots.push(Slot {
                    number: s.number,
                    uid: s.uid,
                    api_socket: s.api_socket,
                    shared: s.shared,
                });
            }
            for t in &n.target {
                let target = parse_target(&t.to).map_err(|e| format!("{path}: [[target]] {e}"))?;
                if !matches!(target, Target::Unix(_) | Target::Slot(_)) {
                    return Err(format!(
                        "{path}: [[target]] to = '{}': handover is for unix: and slot: targets",
                        t.to
                    ));
                }
                if handover_mode(
                    t.handover.as_deref(),
                    &format!("{path}: [[target]] {}", t.to),
                )? {
                    c.handover_targets.push(target);
                }
            }
            for ow in &n.owner {
                c.target_owner.push((ow.prefix.clone(), ow.uid));
            }
            for s in &n.spawn {
                if s.argv.is_empty() {
                    return Err(format!("{path}: spawn '{}': empty argv", s.name));
                }
                let v = Named::Spawn {
                    argv: s.argv.clone(),
                    max_children: s.max_children.unwrap_or(64),
                };
                if c.named.insert(s.name.clone(), v).is_some() {
                    return Err(format!("{path}: target name '{}' defined twice", s.name));
                }
            }
            for r in &n.relay {
                let proxy = match r.proxy.as_deref() {
                    None | Some("none") => None,
                    Some("v1") => Some(ProxyVersion::V1),
                    Some("v2") => Some(ProxyVersion::V2),
                    Some(o) => {
                        return Err(format!(
                            "{path}: relay '{}': proxy must be v1, v2 or none, not '{o}'",
                            r.name
                        ))
                    }
                };
                let v = Named::Relay {
                    to: parse_relay_to(&r.to).map_err(|e| format!("{path}: {e}"))?,
                    proxy,
                };
                if c.named.insert(r.name.clone(), v).is_some() {
                    return Err(format!("{path}: target name '{}' defined twice", r.name));
                }
            }
            for d in &n.daemon {
                let ok_name = !d.name.is_empty()
                    && d.name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                if !ok_name {
                    return Err(format!(
                        "{path}: daemon '{}': a name is letters, digits, '-', '_' and '.'",
                        d.name
                    ));
                }
                if d.argv.first().is_none_or(String::is_empty) {
                    return Err(format!("{path}: daemon '{}': empty argv", d.name));
                }
                if let Some(k) = d.env.keys().find(|k| k.is_empty() || k.contains('=')) {
                    return Err(format!("{path}: daemon '{}': bad env name '{k}'", d.name));
                }
                c.daemons.push(DaemonSpec {
                    name: d.name.clone(),
                    argv: d.argv.clone(),
                    user: d.user.clone(),
                    group: d.group.clone(),
                    cwd: d.cwd.clone(),
                    env: d.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                });
                if c.named.insert(d.name.clone(), Named::Daemon).is_some() {
                    return Err(format!("{path}: target name '{}' defined twice", d.name));
                }
            }
            for r in &n.responder {
                if r.action != "https-redirect" {
                    return Err(format!(
                        "{path}: responder '{}': action must be \"https-redirect\", not '{}'",
                        r.name, r.action
                    ));
                }
                if let Some(w) = &r.webroot {
                    match std::fs::metadata(w) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            return Err(format!(
                                "{path}: responder '{}': webroot {w} is not a directory",
                                r.name
                            ))
                        }
                        Err(e) => {
                            return Err(format!(
                                "{path}: responder '{}': webroot {w}: {}",
                                r.name, e
                            ))
                        }
                    }
                }
                let v = Named::HttpsRedirect {
                    webroot: r.webroot.clone(),
                };
                if c.named.insert(r.name.clone(), v).is_some() {
                    return Err(format!("{path}: target name '{}' defined twice", r.name));
                }
            }
            if let Some(w) = n.workers {
                if w == 0 || w > 256 {
                    return Err(format!("{path}: workers must be 1..256"));
                }
                c.workers = w;
            }
            if let Some(q) = n.queue_len {
                c.queue_len = q;
            }
            if let Some(t) = n.queue_timeout_ms {
                c.queue_timeout = Duration::from_millis(t);
            }
            if let Some(l) = n.b_uid_limit {
                c.b_uid_limit = l;
            }
            if let Some(t) = n.b_register_timeout_ms {
                if t == 0 {
                    return Err(format!("{path}: b_register_timeout_ms must be at least 1"));
                }
                c.b_register_timeout = Duration::from_millis(t);
            }
            c.status = n.status.clone().or(c.status.take());
            if let Some(l) = &n.log_level {
                if crate::log::Level::parse(l).is_none() {
                    return Err(format!(
                        "{path}: log_level: expected off, error, warn, info, debug or trace"
                    ));
                }
                c.log_level = Some(l.clone());
            }
            c.templates |= n.templates;
            c.privileges.user = n.user.clone();
            c.privileges.group = n.group.clone();
            c.privileges.groups = n.groups.as_ref().map(|g| g.join(","));
            c.privileges.chroot = n.chroot.clone();
        }
        other => return Err(format!("unknown config format '{other}'")),
    }
    Ok(())
}

/// Every `Target::Named` names a defined target; every slot's API socket exists.
pub fn check_references(c: &Config) -> Result<(), String> {
    let mut all: Vec<&Target> = Vec::new();
    for rs in c.table.rule_sets.values() {
        all.extend(rs.rules.iter().map(|r| &r.target));
        all.push(&rs.default);
    }
    for ms in c.table.map_sets.values() {
        all.extend(ms.entries.values());
        all.push(&ms.default);
    }
    for t in all {
        if let Target::Named(n) = t {
            if !c.named.contains_key(n) {
                return Err(format!(
                    "target '{n}' is not defined (no [[spawn]], [[relay]], [[responder]] or [[daemon]] with that name)"
                ));
            }
        }
        if let Target::Slot(s) = t {
            if !c.slots.iter().any(|x| x.number == *s) {
                return Err(format!("slot {s} is routed to but not defined"));
            }
        }
    }
    for s in &c.slots {
        if s.api_socket >= c.api_sockets.len() {
            return Err(format!(
                "slot {}: API socket {} does not exist",
                s.number, s.api_socket
            ));
        }
    }
    c.table.validate()?;
    Ok(())
}

/// Flags (+ the file they name) → Config. `read` reads a file (injected for tests).
pub fn build(o: &Options, read: &dyn Fn(&str) -> Result<String, String>) -> Result<Config, String> {
    let mut c = empty(o);
    if let Some(p) = &o.send_path {
        let mut t = RouteTable::default();
        t.rule_sets.insert(
            0,
            RuleSet {
                rules: Vec::new(),
                default: Target::Unix(p.clone()),
            },
        );
        c.table = t;
    } else if o.exec.is_some() {
        // -e: no routing, no config file (socketbox does not read it either).
        let mut t = RouteTable::default();
        t.rule_sets.insert(
            0,
            RuleSet {
                rules: Vec::new(),
                default: Target::Fail,
            },
        );
        c.table = t;
    } else if let Some(fd) = o.send_fd {
        let mut t = RouteTable::default();
        t.rule_sets.insert(
            0,
            RuleSet {
                rules: Vec::new(),
                default: Target::Fd(fd),
            },
        );
        c.table = t;
    } else {
        let path = o
            .config_file
            .clone()
            .unwrap_or_else(|| DEFAULT_CONFIG.to_string());
        let format = detect_format(o, &path);
        let text = read(&path)?;
        apply_file(&mut c, &format, &path, &text)?;
        c.source = Some((format, path));
    }
    // Flags override the file.
    if let Some(fd) = o.inherit_fd {
        c.listeners.insert(0, ListenSpec::Fd(fd));
    } else if o.port.is_some() || o.listen_addr.is_some() {
        let port = o.port.ok_or("-l given without -p PORT")?;
        let ip = to_v6(o.listen_addr.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        c.listeners.insert(
            0,
            ListenSpec::Tcp {
                addr: SocketAddr::new(IpAddr::V6(ip), port),
                transparent: o.transparent,
                freebind: o.freebind,
                reuseaddr: !o.no_reuseaddr,
                reuseport: o.reuseport,
                backlog: o.backlog.unwrap_or(DEFAULT_BACKLOG),
            },
        );
    }
    for l in &o.listen {
        c.listeners.push(parse_listen_spec(l)?);
    }
    if let Some(w) = o.workers {
        c.workers = w;
    }
    if let Some(q) = o.queue_len {
        c.queue_len = q;
    }
    if let Some(t) = o.queue_timeout_ms {
        c.queue_timeout = Duration::from_millis(t);
    }
    if o.status.is_some() {
        c.status = o.status.clone();
    }
    if o.log_level.is_some() {
        c.log_level = o.log_level.clone();
    }
    c.target_owner.extend(o.target_owner.iter().cloned());
    let p = &mut c.privileges;
    if o.user.is_some() {
        p.user = o.user.clone();
    }
    if o.group.is_some() {
        p.group = o.group.clone();
    }
    if o.groups.is_some() {
        p.groups = o.groups.clone();
    }
    p.keep_groups = o.keep_groups;
    if o.chroot.is_some() {
        p.chroot = o.chroot.clone();
    }
    p.no_new_privs = !o.allow_new_privs;
    if o.handover_listener {
        match &o.send_path {
            Some(p) => c.handover_targets.push(Target::Unix(p.clone())),
            None => {
                return Err(
                    "--handover listener goes with -S PATH (in a TOML config: [[target]] \
                     to = \"unix:PATH\" with handover = \"listener\")"
                        .into(),
                )
            }
        }
    }
    check_references(&c)?;
    compute_handover(&mut c)?;
    c.needs_local = compute_needs_local(&c);
    Ok(c)
}

/// The tuple of an accepted connection.
pub fn tuple_of(listener: u32, local: Option<SocketAddr>, remote: Option<SocketAddr>) -> Tuple {
    let split = |a: Option<SocketAddr>| match a {
        Some(a) => (to_v6(a.ip()), a.port()),
        None => (Ipv6Addr::UNSPECIFIED, 0),
    };
    let (local_ip, local_port) = split(local);
    let (remote_ip, remote_port) = split(remote);
    Tuple {
        listener,
        local_ip,
        local_port,
        remote_ip,
        remote_port,
    }
}

pub fn target_name(t: &Target) -> String {
    match t {
        Target::Unix(p) => format!("unix:{p}"),
        Target::Fd(f) => format!("fd:{f}"),
        Target::Slot(s) => format!("slot:{s}"),
        Target::Named(n) => format!("name:{n}"),
        Target::JumpRule(k) => format!("rule:{k}"),
        Target::JumpMap(k) => format!("map:{k}"),
        Target::Fail => "fail".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs() {
        assert_eq!(
            parse_listen_spec("[::1]:80,reuseport,backlog=5").unwrap(),
            ListenSpec::Tcp {
                addr: "[::1]:80".parse().unwrap(),
                transparent: false,
                freebind: false,
                reuseaddr: true,
                reuseport: true,
                backlog: 5
            }
        );
        assert!(matches!(
            parse_listen_spec("127.0.0.1:8080").unwrap(),
            ListenSpec::Tcp { .. }
        ));
        assert_eq!(
            parse_listen_spec("unix:/run/x,mode=0660").unwrap(),
            ListenSpec::Unix {
                path: "/run/x".into(),
                mode: Some(0o660),
                backlog: DEFAULT_BACKLOG
            }
        );
        assert_eq!(parse_listen_spec("fd:3").unwrap(), ListenSpec::Fd(3));
        assert!(parse_listen_spec("[::1]:80,bogus").is_err());
        assert!(parse_listen_spec("nonsense").is_err());
    }

    #[test]
    fn targets_and_matches() {
        assert_eq!(parse_target("unix:/a").unwrap(), Target::Unix("/a".into()));
        assert_eq!(parse_target("jump-map:2").unwrap(), Target::JumpMap(2));
        assert_eq!(
            parse_target("relay:web").unwrap(),
            Target::Named("web".into())
        );
        assert!(parse_target("unix:").is_err());
        assert!(parse_target("map:x").is_err());
        let m = parse_ip_match("192.0.2.0/24").unwrap();
        assert_eq!(m.addr, "::ffff:192.0.2.0".parse::<Ipv6Addr>().unwrap());
        assert_eq!(m.mask, mask_of_len(120));
        assert!(parse_ip_match("fd00::/129").is_err());
    }

    #[test]
    fn send_path_flag_builds_a_default_route() {
        let (_, o) =
            crate::flags::parse(&["-S".into(), "/run/x".into(), "-p".into(), "80".into()]).unwrap();
        let c = build(&o, &|_| Err("no file".into())).unwrap();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.table.rule_sets[&0].default, Target::Unix("/run/x".into()));
        assert!(
            !c.needs_local,
            "-S routes without looking at the local address"
        );
    }

    #[test]
    fn native_toml_compiles_to_tables() {
        let toml = r#"
workers = 1
[[listen]]
address = "[::1]:8080"
[[relay]]
name = "web"
to = "127.0.0.1:80"
proxy = "v2"
[[rule_set]]
id = 0
default = "fail"
rules = [ { local = "fd01:db8::/96", port = 443, to = "map:2" }, { port = 80, to = "relay:web" } ]
[[map_set]]
id = 2
match_local_ip = 128
default = "fail"
entries = [ { local = "fd01:db8::1:10", to = "unix:/vm7/sb-00443" } ]
"#;
        let (_, o) = crate::flags::parse(&["-f".into(), "x.toml".into()]).unwrap();
        let c = build(&o, &|_| Ok(toml.to_string())).unwrap();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.workers, 1);
        let t = tuple_of(
            0,
            Some("[fd01:db8::1:10]:443".parse().unwrap()),
            Some("[::1]:5".parse().unwrap()),
        );
        assert_eq!(c.table.route(&t), Ok(&Target::Unix("/vm7/sb-00443".into())));
        let t = tuple_of(0, Some("[::1]:80".parse().unwrap()), None);
        assert_eq!(c.table.route(&t), Ok(&Target::Named("web".into())));
        assert!(c.needs_local);
        let bad = "[[rule_set]]\nid = 0\nrules = [ { to = \"relay:nope\" } ]\n";
        assert!(build(&o, &|_| Ok(bad.to_string()))
            .unwrap_err()
            .contains("nope"));
        assert!(build(&o, &|_| Ok("bogus = 1".to_string())).is_err());
    }

    #[test]
    fn handover_opt_in_and_plan() {
        let read = |t: &'static str| move |_: &str| Ok(t.to_string());
        let (_, o) = crate::flags::parse(&[
            "-S".into(),
            "/run/web".into(),
            "-p".into(),
            "80".into(),
            "--handover".into(),
            "listener".into(),
        ])
        .unwrap();
        let c = build(&o, &read("")).unwrap();
        assert_eq!(c.handover_keys.len(), 1);
        assert!(handed_over_whole(&c, 0), "the -l/-p listener is the key");
        let (_, o) = crate::flags::parse(&[
            "-f".into(),
            "x.conf".into(),
            "--handover".into(),
            "listener".into(),
        ])
        .unwrap();
        assert!(build(&o, &read("rule-set:0\ndefault:fail\n"))
            .unwrap_err()
            .contains("-S PATH"));
        let toml = "[[listen]]\naddress = \"[::]:80\"\n[[target]]\nto = \"unix:/w\"\nhandover = \"listener\"\n\
            [[rule_set]]\nid = 0\ndefault = \"fail\"\nrules = [ { local = \"127.0.0.2\", to = \"unix:/w\" } ]\n";
        let (_, o) = crate::flags::parse(&["-f".into(), "x.toml".into()]).unwrap();
        let c = build(&o, &read(toml)).unwrap();
        assert_eq!(c.handover_keys.len(), 1);
        assert!(!handed_over_whole(&c, 0));
        assert!(
            matches!(
                c.listeners[0],
                ListenSpec::Tcp {
                    reuseport: true,
                    ..
                }
            ),
            "shares its port with the key"
        );
        assert_eq!(
            handover_addr(&c, &c.handover_keys[0]),
            Some("127.0.0.2:80".parse().unwrap())
        );
        let remote_only = toml.replace("local = \"127.0.0.2\"", "remote = \"127.0.0.2\"");
        let e = build(&o, &read(Box::leak(remote_only.into_boxed_str()))).unwrap_err();
        assert!(e.contains("no local address and port routes to"), "{e}");
        let bad = toml.replace("handover = \"listener\"", "handover = \"kernel\"");
        assert!(build(&o, &read(Box::leak(bad.into_boxed_str()))).is_err());
    }
}
