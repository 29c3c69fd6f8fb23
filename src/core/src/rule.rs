//! Rules: what to match (direction, socket type, address or CIDR, port range, or a Unix name)
//! and what to do with a match (a Unix path or abstract name, reject, blackhole, ignore).
//! First match wins; a call no rule matches is left alone.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::{IpNet, Ipv4Net};

use crate::addr::{canonical_ip, UnixName};
use crate::errno;
use crate::glob;
use crate::template::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `bind` (servers).
    In,
    /// `connect`, `sendto`, `sendmsg` (clients).
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    Tcp,
    Udp,
}

impl SockType {
    pub fn name(self) -> &'static str {
        match self {
            SockType::Tcp => "tcp",
            SockType::Udp => "udp",
        }
    }

    /// From a `SOCK_*` type (flags masked off).
    pub fn from_sock_type(ty: i32) -> Option<SockType> {
        match ty & 0xf {
            libc::SOCK_STREAM => Some(SockType::Tcp),
            libc::SOCK_DGRAM => Some(SockType::Udp),
            _ => None,
        }
    }
}

/// What a matching call is turned into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A Unix socket at this (templated) path.
    Path(Template),
    /// An abstract Unix socket of this (templated) name.
    Abstract(Template),
    /// Fail the call with this errno.
    Reject(i32),
    /// Bind somewhere nothing can reach.
    Blackhole,
    /// Leave the socket a real IP socket.
    Ignore,
    /// (`in` only) Take the socket systemd passed (`LISTEN_FDS`): the one named so in
    /// `LISTEN_FDNAMES`, or with no name the next unnamed one in order.
    Systemd(Option<String>),
    /// An AF_VSOCK socket: connect to `cid:port`, or bind `cid:port` (`cid` may be
    /// `VMADDR_CID_ANY`). `port` None = the program's port.
    Vsock { cid: u32, port: Option<u32> },
    /// (`out` only) Firecracker-style hybrid vsock: connect to the VMM's Unix socket at `path`,
    /// send `CONNECT <port>\n`, expect a line starting `OK `. `port` None = the program's port.
    HybridVsock { path: Template, port: Option<u32> },
    /// (`in` only) A socketbox "A" listener: an AF_UNIX datagram socket at this (templated)
    /// path, to which a router sends accepted connections one fd per datagram.
    SocketboxA(Template),
    /// (`in` only) A socketbox "B" client: register `slot` on the router's API socket at `api`
    /// and take connections from that stream.
    SocketboxB { api: String, slot: u32 },
    /// Create the socket in another network namespace: ask the socket server listening at this
    /// Unix path (`@name` = abstract) for it, then bind/connect there.
    Netns(String),
}

/// `VMADDR_CID_ANY`.
pub const VSOCK_CID_ANY: u32 = u32::MAX;

/// `CID` (number, `any`, `hypervisor`, `local`, `host`) and an optional `:PORT`.
fn parse_vsock(v: &str) -> Option<(u32, Option<u32>)> {
    let (cid, port) = match v.split_once(':') {
        Some((c, p)) => (c, Some(parse_decimal::<u32>(p)?)),
        None => (v, None),
    };
    let cid = match cid {
        "any" => VSOCK_CID_ANY,
        "hypervisor" => 0,
        "local" => 1,
        "host" => 2,
        n => parse_decimal::<u32>(n)?,
    };
    Some((cid, port))
}

/// `PATH` with an optional trailing `:PORT` (a path ending in `:digits` needs the port given).
fn parse_hybrid(v: &str) -> Option<(&str, Option<u32>)> {
    match v.rsplit_once(':') {
        Some((path, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some((path, Some(parse_decimal(p)?)))
        }
        _ => Some((v, None)),
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub direction: Option<Direction>,
    pub ty: Option<SockType>,
    /// Any of these blocks (canonical: IPv4-mapped blocks are stored as IPv4); empty = any.
    pub addrs: Vec<IpNet>,
    pub ports: Option<(u16, u16)>,
    /// Match a Unix path (glob) instead of an IP address.
    pub from_unix: Option<Vec<u8>>,
    /// Match an abstract name (glob) instead of an IP address.
    pub from_abstract: Option<Vec<u8>>,
    pub action: Action,
    pub noremove: bool,
    pub mode: Option<u32>,
    /// The peer address reported for connections accepted under this rule (unsock's scheme);
    /// None = the default scheme (loopback, ephemeral port).
    pub peer: Option<(IpAddr, Option<u16>)>,
}

/// The call being decided.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub direction: Direction,
    pub ty: SockType,
    pub target: QueryTarget<'a>,
}

#[derive(Debug, Clone, Copy)]
pub enum QueryTarget<'a> {
    Ip(SocketAddr),
    Unix(UnixName<'a>),
}

impl Rule {
    /// A rule with this action that matches everything.
    pub fn any(action: Action) -> Rule {
        Rule {
            direction: None,
            ty: None,
            addrs: Vec::new(),
            ports: None,
            from_unix: None,
            from_abstract: None,
            action,
            noremove: false,
            mode: None,
            peer: None,
        }
    }

    /// Does this rule match the call? Never allocates.
    pub fn matches(&self, q: &Query<'_>) -> bool {
        if self.direction.is_some_and(|d| d != q.direction) || self.ty.is_some_and(|t| t != q.ty) {
            return false;
        }
        // Blackhole only means something for a server.
        if self.action == Action::Blackhole && q.direction != Direction::In {
            return false;
        }
        match q.target {
            QueryTarget::Ip(sa) => {
                if self.from_unix.is_some() || self.from_abstract.is_some() {
                    return false;
                }
                let ip = canonical_ip(sa.ip());
                let addr_ok = self.addrs.is_empty() || self.addrs.iter().any(|n| n.contains(&ip));
                let port_ok = self
                    .ports
                    .is_none_or(|(lo, hi)| lo <= sa.port() && sa.port() <= hi);
                addr_ok && port_ok
            }
            QueryTarget::Unix(UnixName::Path(p)) => {
                self.from_unix.as_ref().is_some_and(|g| glob::matches(g, p))
            }
            QueryTarget::Unix(UnixName::Abstract(n)) => self
                .from_abstract
                .as_ref()
                .is_some_and(|g| glob::matches(g, n)),
            QueryTarget::Unix(UnixName::Unnamed) => false,
        }
    }

    /// Does any rule of this kind concern Unix sockets? (Then the shim must look at AF_UNIX calls.)
    pub fn matches_unix(&self) -> bool {
        self.from_unix.is_some() || self.from_abstract.is_some()
    }

    /// The rule with a relative `path=` made absolute against `cwd` (as ip2unix does for `-r`), so
    /// that a program which changes directory still finds its sockets.
    pub fn with_absolute_path(mut self, cwd: &str) -> Result<Rule, String> {
        if let Action::Path(t) = &self.action {
            if !t.as_str().starts_with('/') {
                let text = format!(
                    "{}/{}",
                    cwd.trim_end_matches('/').replace('%', "%%"),
                    t.as_str()
                );
                let token = format!("path={}", escape(t.as_str()));
                self.action = Action::Path(unix_template(&text, MAX_PATH_LEN, &token)?);
            }
        }
        Ok(self)
    }

    /// Parses one rule, e.g. `in,tcp,addr=127.0.0.1,port=8000-8099,path=/run/%p.sock`.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let mut direction = None;
        let mut ty = None;
        let mut addrs = Vec::new();
        let mut ports = None;
        let mut from_unix = None;
        let mut from_abstract = None;
        let mut action: Option<(Action, String)> = None;
        let mut noremove = false;
        let mut mode = None;
        let mut any = false;

        for raw in split_unescaped(text, b",") {
            let token = unescape(raw.trim());
            if token.is_empty() {
                continue;
            }
            any = true;
            let (key, value) = match token.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (token.as_str(), None),
            };
            let want_value = |v: Option<&str>| -> Result<String, String> {
                match v {
                    Some(v) if !v.is_empty() => Ok(v.to_owned()),
                    _ => Err(format!("option '{key}' needs a value ('{key}=…')")),
                }
            };
            let no_value = |v: Option<&str>| -> Result<(), String> {
                match v {
                    None => Ok(()),
                    Some(_) => Err(format!("option '{key}' takes no value: '{token}'")),
                }
            };
            let mut set_action = |a: Action| -> Result<(), String> {
                if let Some((_, prev)) = &action {
                    return Err(format!("two actions: '{prev}' and '{token}'"));
                }
                action = Some((a, token.clone()));
                Ok(())
            };
            match key {
                // As in ip2unix, a later direction or type overrides an earlier one
                // (`in,out` = `out`, `tcp,udp` = `udp`).
                "in" | "out" => {
                    no_value(value)?;
                    direction = Some(if key == "in" {
                        Direction::In
                    } else {
                        Direction::Out
                    });
                }
                // ip2unix's aliases: stream, dgram, datagram.
                "tcp" | "udp" | "stream" | "dgram" | "datagram" => {
                    no_value(value)?;
                    ty = Some(if key == "tcp" || key == "stream" {
                        SockType::Tcp
                    } else {
                        SockType::Udp
                    });
                }
                "addr" | "address" => {
                    let v = want_value(value)?;
                    addrs.push(parse_net(&v).ok_or_else(|| format!("bad address in '{token}'"))?);
                }
                "port" => {
                    let v = want_value(value)?;
                    ports = Some(parse_ports(&v).ok_or_else(|| {
                        format!("bad port in '{token}' (N or A-B, decimal 0-65535 without sign or leading zeros, A <= B)")
                    })?);
                }
                "from-unix" => from_unix = Some(want_value(value)?.into_bytes()),
                "from-abstract" => from_abstract = Some(want_value(value)?.into_bytes()),
                "path" => {
                    let t = unix_template(&want_value(value)?, MAX_PATH_LEN, &token)?;
                    set_action(Action::Path(t))?;
                }
                "abstract" => {
                    let t = unix_template(&want_value(value)?, MAX_ABSTRACT_LEN, &token)?;
                    set_action(Action::Abstract(t))?;
                }
                "reject" => {
                    let e = match value {
                        None => libc::EACCES,
                        Some(v) => errno::parse(v).ok_or_else(|| {
                            format!("unknown errno in '{token}' (a name like ECONNREFUSED, or a number from 1 without sign or leading zeros)")
                        })?,
                    };
                    set_action(Action::Reject(e))?;
                }
                "blackhole" => {
                    no_value(value)?;
                    set_action(Action::Blackhole)?;
                }
                "ignore" => {
                    no_value(value)?;
                    set_action(Action::Ignore)?;
                }
                "systemd" => {
                    if value.is_some_and(|v| v.is_empty()) {
                        return Err(format!("empty fd name in '{token}'"));
                    }
                    set_action(Action::Systemd(value.map(str::to_owned)))?;
                }
                "vsock" => {
                    let v = want_value(value)?;
                    let (cid, port) = parse_vsock(&v).ok_or_else(|| {
                        format!("bad vsock address in '{token}' (CID[:PORT], CID a number or any/host/local/hypervisor)")
                    })?;
                    set_action(Action::Vsock { cid, port })?;
                }
                "socketbox" => {
                    let t = unix_template(&want_value(value)?, MAX_PATH_LEN, &token)?;
                    set_action(Action::SocketboxA(t))?;
                }
                "socketbox-b" => {
                    let v = want_value(value)?;
                    let (api, slot) = v
                        .rsplit_once(':')
                        .and_then(|(a, s)| Some((a, parse_decimal::<u32>(s)?)))
                        .filter(|(a, _)| !a.is_empty())
                        .ok_or_else(|| format!("bad value in '{token}' (API-SOCKET-PATH:SLOT, SLOT decimal without sign or leading zeros)"))?;
                    check_server_name(api, &token)?;
                    set_action(Action::SocketboxB {
                        api: api.to_owned(),
                        slot,
                    })?;
                }
                "netns" => {
                    let v = want_value(value)?;
                    check_server_name(&v, &token)?;
                    set_action(Action::Netns(v))?;
                }
                "hybrid-vsock" => {
                    let v = want_value(value)?;
                    let (path, port) = parse_hybrid(&v)
                        .ok_or_else(|| format!("bad port in '{token}' (PATH[:PORT])"))?;
                    let path = unix_template(path, MAX_PATH_LEN, &token)?;
                    set_action(Action::HybridVsock { path, port })?;
                }
                "noremove" => {
                    no_value(value)?;
                    noremove = true;
                }
                "mode" => {
                    let v = want_value(value)?;
                    mode = Some(parse_mode(&v).ok_or_else(|| {
                        format!(
                            "bad mode in '{token}' (octal digits only, at most 7777, e.g. 0660)"
                        )
                    })?);
                }
                _ => return Err(format!("unknown option '{token}'")),
            }
        }
        if !any {
            return Err("empty rule".into());
        }
        let Some((action, _)) = action else {
            return Err(format!(
                "no action in '{}' (path=, abstract=, reject, blackhole, ignore, systemd, vsock=, hybrid-vsock=, socketbox=, socketbox-b= or netns=)",
                text.trim()
            ));
        };
        if from_unix.is_some() && from_abstract.is_some() {
            return Err("both 'from-unix' and 'from-abstract'".into());
        }
        if (from_unix.is_some() || from_abstract.is_some())
            && (!addrs.is_empty() || ports.is_some())
        {
            return Err(
                "'from-unix'/'from-abstract' cannot be combined with 'addr' or 'port'".into(),
            );
        }
        if action == Action::Blackhole && direction == Some(Direction::Out) {
            return Err("'blackhole' applies to incoming sockets only: use 'in'".into());
        }
        // Socket activation only means something for a server: without a direction (as ip2unix
        // writes it) the rule is an `in` rule.
        if matches!(action, Action::Systemd(_)) {
            if direction == Some(Direction::Out) {
                return Err("'systemd' applies to incoming sockets only: use 'in'".into());
            }
            direction = Some(Direction::In);
        }
        if matches!(action, Action::SocketboxA(_) | Action::SocketboxB { .. })
            && direction != Some(Direction::In)
        {
            return Err(
                "'socketbox'/'socketbox-b' listeners are for incoming sockets only: add 'in'"
                    .into(),
            );
        }
        if matches!(action, Action::HybridVsock { .. }) && direction != Some(Direction::Out) {
            return Err("'hybrid-vsock' applies to outgoing connections only: add 'out'".into());
        }
        Ok(Rule {
            direction,
            ty,
            addrs,
            ports,
            from_unix,
            from_abstract,
            action,
            noremove,
            mode,
            peer: None,
        })
    }
}

/// The first rule matching the query, with its index.
pub fn first_match<'r>(rules: &'r [Rule], q: &Query<'_>) -> Option<(usize, &'r Rule)> {
    rules.iter().enumerate().find(|(_, r)| r.matches(q))
}

/// Longest filesystem path a `sockaddr_un` holds with its terminating NUL.
pub const MAX_PATH_LEN: usize = crate::addr::SUN_PATH_LEN - 1;
/// Longest abstract name (after the leading NUL).
pub const MAX_ABSTRACT_LEN: usize = crate::addr::SUN_PATH_LEN - 1;

/// A path/abstract template whose expansion can fit a `sockaddr_un`: a fixed name must fit now,
/// a template's shortest expansion must fit (longer expansions are refused when they happen).
fn unix_template(text: &str, max: usize, token: &str) -> Result<Template, String> {
    let t = Template::parse(text).map_err(|e| format!("{e}: '{token}'"))?;
    let (shortest, fixed) = (t.min_len(), !t.has_placeholders());
    if shortest > max {
        return Err(if fixed {
            format!("name of {shortest} bytes is longer than a Unix socket address holds ({max}): '{token}'")
        } else {
            format!("name expands to at least {shortest} bytes, more than a Unix socket address holds ({max}): '{token}'")
        });
    }
    Ok(t)
}

/// A socket server's or router's address: a path, or `@name` for an abstract socket.
fn check_server_name(name: &str, token: &str) -> Result<(), String> {
    let (len, max) = match name.strip_prefix('@') {
        Some(n) => (n.len(), MAX_ABSTRACT_LEN),
        None => (name.len(), MAX_PATH_LEN),
    };
    if len == 0 || name.contains('\0') {
        return Err(format!("empty name or NUL byte in '{token}'"));
    }
    if len > max {
        return Err(format!(
            "name of {len} bytes is longer than a Unix socket address holds ({max}): '{token}'"
        ));
    }
    Ok(())
}

/// A decimal number as every sockswap grammar writes it (`crate::decimal`): digits only, no
/// sign, no leading zeros (`010` is refused rather than guessed at: octal?).
pub fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    crate::decimal::parse(text)
}

/// Parses `1.2.3.4`, `1.2.3.0/24`, `::1`, `[::1]`, `fe80::/10`; IPv4-mapped blocks become IPv4.
pub fn parse_net(text: &str) -> Option<IpNet> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip, Some(parse_decimal::<u8>(len)?)),
        None => (text, None),
    };
    let ip = ip
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(ip);
    let ip: IpAddr = ip.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    let net = IpNet::new(ip, len).ok()?.trunc();
    Some(canonical_net(net))
}

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

fn parse_ports(text: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match text.split_once('-') {
        Some((lo, hi)) => (parse_decimal(lo)?, parse_decimal(hi)?),
        None => {
            let p = parse_decimal(text)?;
            (p, p)
        }
    };
    (lo <= hi).then_some((lo, hi))
}

fn parse_mode(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let m = u32::from_str_radix(text, 8).ok()?;
    (m <= 0o7777).then_some(m)
}

/// Splits on any unescaped separator byte, keeping escapes in the pieces.
pub fn split_unescaped<'a>(text: &'a str, seps: &'a [u8]) -> impl Iterator<Item = &'a str> + 'a {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b if seps.contains(&b) => {
                    let piece = &text[start..i];
                    i += 1;
                    start = i;
                    return Some(piece);
                }
                _ => i += 1,
            }
        }
        done = true;
        Some(&text[start.min(text.len())..])
    })
}

/// Removes one level of backslash escaping.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes `,` `;` `#` and `\` so that the text reads back as one value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, ',' | ';' | '#' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The canonical text of a rule; parsing it gives the same rule back (`peer` excepted: it is
/// printed as a trailing comment because only the unsock variables can set it).
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(d) = self.direction {
            parts.push(if d == Direction::In { "in" } else { "out" }.into());
        }
        if let Some(t) = self.ty {
            parts.push(t.name().into());
        }
        for n in &self.addrs {
            let full = n.prefix_len() == n.max_prefix_len();
            parts.push(if full {
                format!("addr={}", n.addr())
            } else {
                format!("addr={n}")
            });
        }
        if let Some((lo, hi)) = self.ports {
            parts.push(if lo == hi {
                format!("port={lo}")
            } else {
                format!("port={lo}-{hi}")
            });
        }
        if let Some(g) = &self.from_unix {
            parts.push(format!("from-unix={}", escape(&String::from_utf8_lossy(g))));
        }
        if let Some(g) = &self.from_abstract {
            parts.push(format!(
                "from-abstract={}",
                escape(&String::from_utf8_lossy(g))
            ));
        }
        parts.push(match &self.action {
            Action::Path(t) => format!("path={}", escape(t.as_str())),
            Action::Abstract(t) => format!("abstract={}", escape(t.as_str())),
            Action::Reject(e) => match errno::name(*e) {
                Some(n) => format!("reject={n}"),
                None => format!("reject={e}"),
            },
            Action::Blackhole => "blackhole".into(),
            Action::Ignore => "ignore".into(),
            Action::Systemd(None) => "systemd".into(),
            Action::Systemd(Some(n)) => format!("systemd={}", escape(n)),
            Action::Vsock { cid, port } => {
                let cid = match *cid {
                    VSOCK_CID_ANY => "any".to_string(),
                    c => c.to_string(),
                };
                match port {
                    Some(p) => format!("vsock={cid}:{p}"),
                    None => format!("vsock={cid}"),
                }
            }
            Action::SocketboxA(t) => format!("socketbox={}", escape(t.as_str())),
            Action::SocketboxB { api, slot } => format!("socketbox-b={}:{slot}", escape(api)),
            Action::Netns(p) => format!("netns={}", escape(p)),
            Action::HybridVsock { path, port } => match port {
                Some(p) => format!("hybrid-vsock={}:{p}", escape(path.as_str())),
                None => format!("hybrid-vsock={}", escape(path.as_str())),
            },
        });
        if self.noremove {
            parts.push("noremove".into());
        }
        if let Some(m) = self.mode {
            parts.push(format!("mode={m:04o}"));
        }
        f.write_str(&parts.join(","))?;
        if let Some((ip, port)) = self.peer {
            match port {
                Some(p) => write!(f, "  # peers reported as {}", SocketAddr::new(ip, p))?,
                None => write!(f, "  # peers reported as {ip}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(dir: Direction, ty: SockType, sa: &str) -> Query<'static> {
        Query {
            direction: dir,
            ty,
            target: QueryTarget::Ip(sa.parse().unwrap()),
        }
    }

    #[test]
    fn parse_and_match() {
        let r = Rule::parse("in,tcp,addr=127.0.0.0/8,port=8000-8099,path=/run/%p.sock").unwrap();
        assert!(r.matches(&q(Direction::In, SockType::Tcp, "127.1.2.3:8050")));
        assert!(r.matches(&q(Direction::In, SockType::Tcp, "[::ffff:127.0.0.1]:8000")));
        assert!(!r.matches(&q(Direction::Out, SockType::Tcp, "127.0.0.1:8050")));
        assert!(!r.matches(&q(Direction::In, SockType::Udp, "127.0.0.1:8050")));
        assert!(!r.matches(&q(Direction::In, SockType::Tcp, "127.0.0.1:8100")));
        assert!(!r.matches(&q(Direction::In, SockType::Tcp, "10.0.0.1:8050")));
    }

    #[test]
    fn addresses_compare_as_addresses() {
        // ip2unix bug I8: the long form of ::1 never matched.
        let r = Rule::parse("out,addr=0:0:0:0:0:0:0:1,reject").unwrap();
        assert!(r.matches(&q(Direction::Out, SockType::Tcp, "[::1]:80")));
        let r = Rule::parse("addr=[::ffff:10.0.0.0]/104,ignore").unwrap();
        assert_eq!(r.addrs[0].to_string(), "10.0.0.0/8");
        assert!(r.matches(&q(Direction::In, SockType::Tcp, "10.9.9.9:1")));
    }

    #[test]
    fn errors_name_the_token() {
        let e = |t: &str| Rule::parse(t).unwrap_err();
        assert!(e("in,prot=80,ignore").contains("'prot=80'"));
        assert!(e("in,port=80").contains("no action"));
        assert!(e("path=/a,path=/b").contains("two actions"));
        assert!(e("addr=1.2.3.4/33,ignore").contains("'addr=1.2.3.4/33'"));
        assert!(e("port=90-80,ignore").contains("'port=90-80'"));
        assert!(e("reject=EWHAT").contains("'reject=EWHAT'"));
        assert!(e("out,blackhole").contains("blackhole"));
        assert!(e("path=/x/%z").contains("%z"));
        assert!(e("").contains("empty"));
    }

    #[test]
    fn numbers_have_no_sign_and_no_leading_zeros() {
        for bad in [
            "port=+42702",
            "port=042702",
            "port=-1",
            "port=0080",
            "port=80-+90",
            "port=80-090",
            "port= 80x",
            "port=65536",
            "port=",
            "addr=10.0.0.0/+8",
            "addr=10.0.0.0/08",
            "reject=+5",
            "reject=05",
            "reject=0",
            "reject=-1",
            "vsock=+3",
            "vsock=03:80",
            "vsock=3:+80",
            "in,socketbox-b=/r:+1",
            "in,socketbox-b=/r:01",
            "mode=+660",
            "mode=0x1ff",
            "mode=0888",
            "out,hybrid-vsock=/v:05",
        ] {
            let text =
                if bad.starts_with("port") || bad.starts_with("addr") || bad.starts_with("mode") {
                    format!("{bad},path=/x")
                } else {
                    bad.to_string()
                };
            assert!(Rule::parse(&text).is_err(), "accepted '{text}'");
        }
        let ok = |t: &str| Rule::parse(t).unwrap();
        assert_eq!(ok("port=0,ignore").ports, Some((0, 0)));
        assert_eq!(ok("port=0-65535,ignore").ports, Some((0, 65535)));
        assert_eq!(ok("reject=9999").action, Action::Reject(9999));
        assert_eq!(ok("reject=999999").action, Action::Reject(999999));
        assert_eq!(ok("in,path=/x,mode=0660").mode, Some(0o660));
        assert_eq!(ok("in,path=/x,mode=660").mode, Some(0o660));
        assert!(Rule::parse("port=0080,ignore")
            .unwrap_err()
            .contains("leading zeros"));
    }

    #[test]
    fn ip2unix_forms() {
        let ok = |t: &str| Rule::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        // systemd without a direction is a server rule, as ip2unix means it
        assert_eq!(ok("systemd").direction, Some(Direction::In));
        assert_eq!(
            ok("systemd=web").action,
            Action::Systemd(Some("web".into()))
        );
        assert_eq!(ok("systemd=web").direction, Some(Direction::In));
        assert!(Rule::parse("out,systemd").is_err());
        // type aliases
        assert_eq!(ok("stream,path=/a").ty, Some(SockType::Tcp));
        assert_eq!(ok("dgram,path=/a").ty, Some(SockType::Udp));
        assert_eq!(ok("datagram,path=/a").ty, Some(SockType::Udp));
        assert_eq!(ok("path=/fff,tcp,udp").to_string(), "udp,path=/fff");
        assert_eq!(ok("path=/ggg,in,out").to_string(), "out,path=/ggg");
        assert_eq!(
            ok("address=::1,reject=EPERM").to_string(),
            "addr=::1,reject=EPERM"
        );
        // ip2unix's valid addresses (test_rule_file.py), and its invalid ones
        for a in [
            "127.0.0.1",
            "0.0.0.0",
            "9.8.7.6",
            "255.255.255.255",
            "::",
            "::ffff:127.0.0.1",
            "7:6:5:4:3:2:1::",
            "::7:6:5:4:3:2:1",
            "7::",
            "::2:1",
            "::17",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            ok(&format!("addr={a},path=/foo"));
        }
        for a in [
            ".0.0.1",
            "123",
            "123.",
            "..",
            "-1.2.3.4",
            "256.255.255.255",
            ":::",
            "0.00.0.0",
            "1.-2.3.4",
            "abcde",
            "::-1",
            "01000::",
            "abcd::efgh",
            "8:7:6:5:4:3:2:1::",
            "::8:7:6:5:4:3:2:1",
            "f:f11::01100:2",
        ] {
            assert!(
                Rule::parse(&format!("addr={a},path=/foo")).is_err(),
                "accepted {a}"
            );
        }
    }

    #[test]
    fn names_must_fit_a_sockaddr() {
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        assert!(Rule::parse(&format!("path={long}")).is_ok());
        let e = Rule::parse(&format!("path={long}b")).unwrap_err();
        assert!(e.contains("108 bytes") && e.contains("(107)"), "{e}");
        assert!(Rule::parse(&format!("abstract={}", "a".repeat(MAX_ABSTRACT_LEN))).is_ok());
        assert!(Rule::parse(&format!("abstract={}", "a".repeat(MAX_ABSTRACT_LEN + 1))).is_err());
        assert!(Rule::parse(&format!("in,socketbox={long}b")).is_err());
        assert!(Rule::parse(&format!("out,hybrid-vsock={long}b:5")).is_err());
        assert!(Rule::parse(&format!("netns={long}b")).is_err());
        assert!(Rule::parse(&format!("in,socketbox-b={long}b:1")).is_err());
        assert!(Rule::parse(&format!("in,socketbox-b=@{}:1", "a".repeat(108))).is_err());
        // a template may fit once expanded: checked when it is expanded
        let tpl = format!("/{}%p", "a".repeat(MAX_PATH_LEN - 2));
        assert!(Rule::parse(&format!("path={tpl}")).is_ok());
        let e = Rule::parse(&format!("path=/{}%p", "a".repeat(MAX_PATH_LEN - 1))).unwrap_err();
        assert!(e.contains("at least 108 bytes"), "{e}");
    }

    #[test]
    fn relative_paths_become_absolute() {
        let r = Rule::parse("path=foo/%p.sock")
            .unwrap()
            .with_absolute_path("/w%d/")
            .unwrap();
        assert_eq!(r.to_string(), "path=/w%%d/foo/%p.sock");
        let r = Rule::parse("path=/abs")
            .unwrap()
            .with_absolute_path("/w")
            .unwrap();
        assert_eq!(r.to_string(), "path=/abs");
        let deep = format!("/{}", "d".repeat(100));
        assert!(Rule::parse("path=twelve.sock")
            .unwrap()
            .with_absolute_path(&deep)
            .is_err());
    }

    #[test]
    fn escapes() {
        let r = Rule::parse(r"path=/tmp/a\,b").unwrap();
        assert_eq!(r.action, Action::Path(Template::parse("/tmp/a,b").unwrap()));
        assert_eq!(Rule::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn unix_globs() {
        let r = Rule::parse("in,from-unix=/tmp/*.sock,path=/run/x.sock").unwrap();
        let m = |n| Query {
            direction: Direction::In,
            ty: SockType::Tcp,
            target: QueryTarget::Unix(n),
        };
        assert!(r.matches(&m(UnixName::Path(b"/tmp/a.sock"))));
        assert!(!r.matches(&m(UnixName::Abstract(b"/tmp/a.sock"))));
        assert!(!r.matches(&q(Direction::In, SockType::Tcp, "127.0.0.1:1")));
        let a = Rule::parse("from-abstract=app-*,abstract=other").unwrap();
        assert!(a.matches(&m(UnixName::Abstract(b"app-1"))));
    }

    #[test]
    fn first_match_wins() {
        let rules: Vec<Rule> = ["in,port=22,ignore", "in,reject"]
            .iter()
            .map(|t| Rule::parse(t).unwrap())
            .collect();
        let (i, _) = first_match(&rules, &q(Direction::In, SockType::Tcp, "0.0.0.0:22")).unwrap();
        assert_eq!(i, 0);
        let (i, _) = first_match(&rules, &q(Direction::In, SockType::Tcp, "0.0.0.0:23")).unwrap();
        assert_eq!(i, 1);
        assert!(first_match(&rules, &q(Direction::Out, SockType::Tcp, "1.1.1.1:22")).is_none());
    }

    fn arb_rule() -> impl Strategy<Value = Rule> {
        let action = prop_oneof![
            "[a-z/%,;\\\\]{1,20}".prop_filter_map("template", |s| {
                Template::parse(&s.replace('%', "%%"))
                    .ok()
                    .map(Action::Path)
            }),
            "[a-z/%,;# \\\\]{1,20}".prop_filter_map("template", |s| {
                let s = s.trim();
                Template::parse(&s.replace('%', "%%"))
                    .ok()
                    .map(Action::Abstract)
            }),
            (1i32..=i32::MAX).prop_map(Action::Reject),
            Just(Action::Blackhole),
            Just(Action::Ignore),
            prop::option::of("[a-z,;:]{1,8}").prop_map(Action::Systemd),
            (any::<u32>(), prop::option::of(any::<u32>()))
                .prop_map(|(cid, port)| Action::Vsock { cid, port }),
            "[a-z/%,]{1,20}".prop_filter_map("template", |s| {
                Template::parse(&s.replace('%', "%%"))
                    .ok()
                    .map(Action::SocketboxA)
            }),
            ("[a-z/,:]{1,20}", any::<u32>())
                .prop_map(|(api, slot)| Action::SocketboxB { api, slot }),
            "[a-z/,@]{1,20}".prop_map(Action::Netns),
            ("[a-z/_:]{1,20}", prop::option::of(any::<u32>())).prop_filter_map(
                "template",
                |(s, port)| {
                    // A path ending in ":digits" is only unambiguous with the port given.
                    if port.is_none() && s.rsplit_once(':').is_some_and(|(_, p)| !p.is_empty()) {
                        return None;
                    }
                    Template::parse(&s)
                        .ok()
                        .map(|path| Action::HybridVsock { path, port })
                }
            ),
        ];
        (
            prop::option::of(prop_oneof![Just(Direction::In), Just(Direction::Out)]),
            prop::option::of(prop_oneof![Just(SockType::Tcp), Just(SockType::Udp)]),
            prop::collection::vec((any::<[u8; 4]>(), 0u8..=32), 0..3),
            prop::option::of((any::<u16>(), any::<u16>())),
            action,
            any::<bool>(),
            prop::option::of(0u32..=0o7777),
            prop::option::of("[a-z/*?#,]{1,12}"),
        )
            .prop_map(
                |(direction, ty, nets, ports, action, noremove, mode, from_unix)| {
                    let direction = match action {
                        Action::Blackhole
                        | Action::Systemd(_)
                        | Action::SocketboxA(_)
                        | Action::SocketboxB { .. } => Some(Direction::In),
                        Action::HybridVsock { .. } => Some(Direction::Out),
                        _ => direction,
                    };
                    let addrs = nets
                        .into_iter()
                        .map(|(ip, len)| IpNet::new(IpAddr::from(ip), len).unwrap().trunc())
                        .collect();
                    Rule {
                        direction,
                        ty,
                        ports: if from_unix.is_some() {
                            None
                        } else {
                            ports.map(|(a, b)| (a.min(b), a.max(b)))
                        },
                        addrs: if from_unix.is_some() {
                            Vec::new()
                        } else {
                            addrs
                        },
                        from_unix: from_unix.map(String::into_bytes),
                        from_abstract: None,
                        action,
                        noremove,
                        mode,
                        peer: None,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn display_parses_back(rule in arb_rule()) {
            let text = rule.to_string();
            prop_assert_eq!(Rule::parse(&text).unwrap(), rule);
        }

        #[test]
        fn parser_never_panics(text in "[a-z=,.:/0-9%\\\\-]{0,60}") {
            let _ = Rule::parse(&text);
        }

        #[test]
        fn mapped_and_plain_ipv4_match_alike(ip: [u8; 4], port: u16, len in 0u8..=32) {
            let net = IpNet::new(IpAddr::from([10, 0, 0, 0]), len).unwrap().trunc();
            let mut r = Rule::any(Action::Ignore);
            r.addrs.push(net);
            let v4 = SocketAddr::new(IpAddr::from(ip), port);
            let mapped = SocketAddr::new(IpAddr::V6(std::net::Ipv4Addr::from(ip).to_ipv6_mapped()), port);
            let a = r.matches(&Query { direction: Direction::In, ty: SockType::Tcp, target: QueryTarget::Ip(v4) });
            let b = r.matches(&Query { direction: Direction::In, ty: SockType::Tcp, target: QueryTarget::Ip(mapped) });
            prop_assert_eq!(a, b);
        }
    }
}
