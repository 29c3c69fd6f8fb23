//! socketbox-preload's `SKBOX_*` variables, turned into ordinary rules at load (as the UNSOCK_*
//! variables are), so that a socketbox-preload user changes only `LD_PRELOAD`.
//!
//! socketbox-preload converts a TCP `bind` to one of its special addresses into a socketbox "A"
//! listener (an AF_UNIX datagram socket a router sends connections to) or, in its stream
//! variants, into a plain Unix stream listener:
//!
//! | address | socket file | variables |
//! |---|---|---|
//! | `fe8f::0:X:Y` (`::1:X:Y` stream) | the path in record Y of `$SKBOX_DIRECTORY_ROOT/skbox_dir_XXXXX` (128-byte records, `_@SB_` replaced by the port) | port in `SKBOX_PORT_FILTER_IPV6` (default: below 1024) |
//! | `fe8f::2:X:Y` (`::3:X:Y` stream) | `$SKBOX_DIRECTORY_ROOT2/XXXXX/YYYYY_PPPPP` | the same |
//! | `127.180.C.D` (`127.181.C.D` stream) | `$SKBOX_DIRECTORY_ROOT2/X4CCC/000DD_PPPPP` (`4000+C`) | `SKBOX_PORT_FILTER_IPV4` (default: none) |
//! | `0.0.0.0` | `$SKBOX_DIRECTORY_ROOT2/X0004/00000_PPPPP` | `SKBOX_PORT_FILTER_IPV4_WILDCARD` (default: none) |
//! | `::` | `$SKBOX_DIRECTORY_ROOT2/X0000/00000_PPPPP` | `SKBOX_PORT_FILTER_IPV6_WILDCARD` (default: none) |
//!
//! The names are the template placeholder `%s`. Lookup files are read once, here (socketbox-preload
//! reads them at each bind); the caller lists them through `read_dir`, so this stays pure.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::ConfigError;
use crate::rule::{Action, Direction, Rule, SockType};
use crate::template::Template;

/// What the SKBOX_* variables ask for.
#[derive(Debug, Default)]
pub struct SocketboxPreload {
    pub rules: Vec<Rule>,
    /// `SKBOX_BLOCK_LISTEN_EMPTY_ADDR` (on unless `0`): `listen` on a TCP socket that has no
    /// port yet (`0.0.0.0:0`, `[…]:0`) fails with `EINVAL` instead of listening on a random port.
    pub block_listen_unbound: bool,
    /// `SKBOX_GETPEERNAME_PROTECTION` (default 2): 1 = zero the caller's address buffer before
    /// `getsockname`/`getpeername`/`accept` when it has the size of a `sockaddr_in`/`sockaddr_in6`,
    /// 2 = always; 0 = never.
    pub name_protection: u8,
    /// `SKBOX_SCHED_YIELD=1`: every 7th accept on a socketbox listener yields the CPU first.
    pub sched_yield: bool,
}

/// Every variable socketbox-preload reads.
pub const VARS: &[&str] = &[
    "SKBOX_DIRECTORY_ROOT",
    "SKBOX_DIRECTORY_ROOT2",
    "SKBOX_PORT_FILTER_IPV4",
    "SKBOX_PORT_FILTER_IPV6",
    "SKBOX_PORT_FILTER_IPV4_WILDCARD",
    "SKBOX_PORT_FILTER_IPV6_WILDCARD",
    "SKBOX_ACCEPT_STREAM",
    "SKBOX_STRICT_STREAM_MODE",
    "SKBOX_ENABLE_CONNECT",
    "SKBOX_GETPEERNAME_PROTECTION",
    "SKBOX_STEALTH_MODE",
    "SKBOX_CLEAR_SCOPE_ID",
    "SKBOX_ACCEPT_HACK",
    "SKBOX_BLOCK_LISTEN_EMPTY_ADDR",
    "SKBOX_SCHED_YIELD",
];

/// Lookup files are named `skbox_dir_` and five digits.
pub const LOOKUP_PREFIX: &str = "skbox_dir_";
/// One record per 128 bytes; the path is its first 108 bytes (a `sun_path`).
const RECORD_LEN: usize = 128;
const SUN_PATH_LEN: usize = 108;
/// `SKBOX_PATH_MAX` in socketbox-preload: a longer root is ignored there, refused here.
const ROOT_MAX: usize = 256;

fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { var, message }
}

/// A boolean variable: `0` or `1` (socketbox-preload looks at the first character only).
fn flag(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(err(var, format!("expected 1 or 0, got '{other}'"))),
    }
}

/// A digit 0-9.
fn digit(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: u8,
) -> Result<u8, ConfigError> {
    match get(var).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(d) if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => Ok(d.as_bytes()[0] - b'0'),
        Some(other) => Err(err(var, format!("expected a digit 0-9, got '{other}'"))),
    }
}

/// A port number as socketbox-preload's filters take it (decimal or `0x` hex; a leading zero,
/// which strtoul would read as octal, is refused as ambiguous).
fn filter_number(text: &str) -> Option<u16> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u16::from_str_radix(hex, 16).ok();
    }
    if t.len() > 1 && t.starts_with('0') {
        return None;
    }
    t.parse().ok()
}

/// A port filter `ODD_LIMIT[,EVEN_LIMIT[,PORT...]]` (at most 30 extra ports, none 0): an odd port
/// passes below the first number, an even port below the second (the first if it is alone), any
/// listed port passes. Port 0 never passes. Returned as inclusive ranges, in order; unset = the
/// default filter.
fn port_filter(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: u16,
) -> Result<Vec<(u16, u16)>, ConfigError> {
    let (odd, even, extra) = match get(var).filter(|v| !v.is_empty()) {
        None => (default, default, Vec::new()),
        Some(text) => {
            let bad = |what: &str| {
                err(
                    var,
                    format!(
                        "{what} in '{text}' (ODD_LIMIT[,EVEN_LIMIT[,PORT...]], at most 30 ports)"
                    ),
                )
            };
            let mut nums = Vec::new();
            for part in text.split(',') {
                nums.push(filter_number(part).ok_or_else(|| bad(&format!("bad number '{part}'")))?);
            }
            if nums.len() > 32 {
                return Err(bad("too many numbers"));
            }
            if nums.iter().skip(2).any(|&p| p == 0) {
                return Err(bad("port 0"));
            }
            let odd = nums[0];
            let even = nums.get(1).copied().unwrap_or(odd);
            (odd, even, nums.iter().skip(2).copied().collect())
        }
    };
    let mut pass = vec![false; 65536];
    for (p, slot) in pass.iter_mut().enumerate().skip(1) {
        let limit = if p % 2 == 1 { odd } else { even };
        *slot = p < usize::from(limit);
    }
    for p in extra {
        pass[usize::from(p)] = true;
    }
    let mut ranges = Vec::new();
    let mut p = 1usize;
    while p < pass.len() {
        if !pass[p] {
            p += 1;
            continue;
        }
        let start = p;
        while p + 1 < pass.len() && pass[p + 1] {
            p += 1;
        }
        ranges.push((start as u16, p as u16));
        p += 1;
    }
    Ok(ranges)
}

fn net(text: &str) -> IpNet {
    text.parse().expect("constant network")
}

/// One rule per port range (none when the filter passes nothing).
fn rules_for(
    out: &mut Vec<Rule>,
    direction: Direction,
    addr: IpNet,
    ports: &[(u16, u16)],
    action: &Action,
) {
    for &range in ports {
        let mut r = Rule::any(action.clone());
        r.direction = Some(direction);
        r.ty = Some(SockType::Tcp);
        r.addrs = vec![addr];
        r.ports = Some(range);
        out.push(r);
    }
}

fn template(var: &'static str, text: &str) -> Result<Template, ConfigError> {
    Template::parse(text).map_err(|e| err(var, format!("{e}: '{text}'")))
}

/// The rule template for a lookup record (the path up to its first NUL; `_@SB_` = the port).
fn record_template(record: &[u8]) -> Result<Option<Template>, String> {
    let path = &record[..SUN_PATH_LEN];
    let Some(end) = path.iter().position(|&b| b == 0) else {
        return Err("a path of 108 bytes without a NUL".into());
    };
    if end == 0 {
        return Ok(None);
    }
    let text =
        std::str::from_utf8(&path[..end]).map_err(|_| "a path that is not UTF-8".to_string())?;
    let escaped = text.replace('%', "%%").replacen("_@SB_", "%P", 1);
    Template::parse(&escaped).map(Some)
}

/// `fe8f::M:X:Y`.
fn fe8f(mode: u16, x: u16, y: u16, len: u8) -> IpNet {
    let ip = std::net::Ipv6Addr::new(0xfe8f, 0, 0, 0, 0, mode, x, y);
    IpNet::new(IpAddr::V6(ip), len).expect("prefix length within 128")
}

/// Reads the SKBOX_* variables; `Ok(None)` when none is set. `read_dir(path)` lists the files
/// of a directory whose names start with `skbox_dir_`, with their contents.
#[allow(clippy::type_complexity)]
pub fn from_env(
    get: &dyn Fn(&str) -> Option<String>,
    read_dir: &dyn Fn(&str) -> Result<Vec<(String, Vec<u8>)>, String>,
) -> Result<Option<SocketboxPreload>, ConfigError> {
    if !VARS.iter().any(|v| get(v).is_some()) {
        return Ok(None);
    }
    // What we cannot do is refused, never silently left out.
    if flag(get, "SKBOX_ACCEPT_STREAM", false)? {
        return Err(err(
            "SKBOX_ACCEPT_STREAM",
            "1 (accept on a connected Unix stream socket) is not supported by sockswap; use a socketbox-b= rule for a stream from the router".into(),
        ));
    }
    let strict = match get("SKBOX_STRICT_STREAM_MODE").as_deref().map(str::trim) {
        None | Some("") => 2,
        Some(t) => t.parse::<u32>().map_err(|_| {
            err(
                "SKBOX_STRICT_STREAM_MODE",
                format!("expected a number, got '{t}'"),
            )
        })?,
    };
    if strict < 2 {
        return Err(err(
            "SKBOX_STRICT_STREAM_MODE",
            format!("{strict} is not supported: sockswap only ever accepts TCP and Unix stream sockets (mode 2)"),
        ));
    }
    let connect_text = get("SKBOX_ENABLE_CONNECT").unwrap_or_default();
    let connect_text = connect_text.trim();
    let (connect_b, level) = match connect_text.strip_prefix('b') {
        Some(rest) => (true, rest),
        None => (false, connect_text),
    };
    let connect = match level {
        "" => 0,
        d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => d.as_bytes()[0] - b'0',
        _ => {
            return Err(err(
                "SKBOX_ENABLE_CONNECT",
                format!("expected [b]DIGIT, got '{connect_text}'"),
            ))
        }
    };
    if connect >= 2 {
        return Err(err(
            "SKBOX_ENABLE_CONNECT",
            format!("'{connect_text}': connecting to a datagram (\"A\") socket through a socket pair is not supported by sockswap; 1 (stream addresses only) is"),
        ));
    }
    // Accepted, with sockswap's behaviour: its illusion already reports IP peers (stealth mode
    // and more), rules ignore scope IDs (SKBOX_CLEAR_SCOPE_ID=1), and socketbox-preload reads
    // SKBOX_ACCEPT_HACK but never uses it.
    flag(get, "SKBOX_STEALTH_MODE", false)?;
    flag(get, "SKBOX_CLEAR_SCOPE_ID", false)?;
    digit(get, "SKBOX_ACCEPT_HACK", 0)?;

    let mut p = SocketboxPreload {
        rules: Vec::new(),
        block_listen_unbound: flag(get, "SKBOX_BLOCK_LISTEN_EMPTY_ADDR", true)?,
        name_protection: digit(get, "SKBOX_GETPEERNAME_PROTECTION", 2)?.min(2),
        sched_yield: flag(get, "SKBOX_SCHED_YIELD", false)?,
    };
    let f6 = port_filter(get, "SKBOX_PORT_FILTER_IPV6", 1024)?;
    let f4 = port_filter(get, "SKBOX_PORT_FILTER_IPV4", 0)?;
    let w4 = port_filter(get, "SKBOX_PORT_FILTER_IPV4_WILDCARD", 0)?;
    let w6 = port_filter(get, "SKBOX_PORT_FILTER_IPV6_WILDCARD", 0)?;
    let any_port = [(1u16, u16::MAX)];
    let einval = Action::Reject(libc::EINVAL);
    let rules = &mut p.rules;
    use Direction::{In, Out};

    for var in ["SKBOX_DIRECTORY_ROOT", "SKBOX_DIRECTORY_ROOT2"] {
        if let Some(root) = get(var).filter(|r| r.len() >= ROOT_MAX) {
            return Err(err(
                var,
                format!("longer than {} bytes: '{root}'", ROOT_MAX - 1),
            ));
        }
    }

    if let Some(root2) = get("SKBOX_DIRECTORY_ROOT2").filter(|r| !r.is_empty()) {
        let t = template(
            "SKBOX_DIRECTORY_ROOT2",
            &format!("{}/%s", root2.replace('%', "%%")),
        )?;
        let (a, stream) = (Action::SocketboxA(t.clone()), Action::Path(t));
        rules_for(rules, In, net("::/128"), &w6, &a);
        rules_for(rules, In, net("0.0.0.0/32"), &w4, &a);
        rules_for(rules, In, net("127.180.0.0/16"), &f4, &a);
        rules_for(rules, In, net("127.181.0.0/16"), &f4, &stream);
        rules_for(rules, In, fe8f(2, 0, 0, 96), &f6, &a);
        rules_for(rules, In, fe8f(3, 0, 0, 96), &f6, &stream);
        if connect >= 1 {
            rules_for(rules, Out, fe8f(3, 0, 0, 96), &any_port, &stream);
            rules_for(rules, Out, fe8f(2, 0, 0, 96), &any_port, &einval);
            if connect_b {
                let all = [(0u16, u16::MAX)];
                rules_for(rules, Out, net("127.181.0.0/16"), &all, &stream);
                rules_for(rules, Out, net("127.180.0.0/16"), &all, &einval);
            }
        }
    }

    if let Some(root) = get("SKBOX_DIRECTORY_ROOT").filter(|r| !r.is_empty()) {
        let var = "SKBOX_DIRECTORY_ROOT";
        let mut files =
            read_dir(&root).map_err(|e| err(var, format!("cannot read '{root}': {e}")))?;
        files.sort();
        for (name, bytes) in &files {
            let Some(x) = name
                .strip_prefix(LOOKUP_PREFIX)
                .filter(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u16>().ok())
            else {
                continue; // never looked up by socketbox-preload either
            };
            let records = (bytes.len() + RECORD_LEN - SUN_PATH_LEN) / RECORD_LEN;
            for y in 0..records.min(65536) {
                let record = &bytes[y * RECORD_LEN..];
                let (dgram, stream) = match record_template(record) {
                    Ok(None) => continue,
                    Ok(Some(t)) => (Action::SocketboxA(t.clone()), Action::Path(t)),
                    Err(e) => {
                        return Err(err(var, format!("{root}/{name}: record {y}: {e}")));
                    }
                };
                let y = y as u16;
                rules_for(rules, In, fe8f(0, x, y, 128), &f6, &dgram);
                rules_for(rules, In, fe8f(1, x, y, 128), &f6, &stream);
                if connect >= 1 {
                    rules_for(rules, Out, fe8f(1, x, y, 128), &any_port, &stream);
                    rules_for(rules, Out, fe8f(0, x, y, 128), &any_port, &einval);
                }
            }
            // A record beyond the end of an existing file: socketbox-preload's ERANGE.
            let erange = Action::Reject(libc::ERANGE);
            for mode in [0, 1] {
                rules_for(rules, In, fe8f(mode, x, 0, 112), &f6, &erange);
                if connect >= 1 {
                    rules_for(rules, Out, fe8f(mode, x, 0, 112), &any_port, &erange);
                }
            }
        }
        // No lookup file of that number: ENOENT, as socketbox-preload's failed open.
        let enoent = Action::Reject(libc::ENOENT);
        rules_for(rules, In, fe8f(0, 0, 0, 95), &f6, &enoent);
        if connect >= 1 {
            rules_for(rules, Out, fe8f(0, 0, 0, 95), &any_port, &enoent);
        }
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{first_match, Query, QueryTarget};
    use crate::template::Fill;

    use crate::test_env as env;

    fn record(path: &str) -> Vec<u8> {
        let mut r = vec![0u8; RECORD_LEN];
        r[..path.len()].copy_from_slice(path.as_bytes());
        r
    }

    fn lookup(root: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        assert_eq!(root, "/lk");
        let mut f7 = record("");
        f7.extend(record("/run/web_@SB_.sock"));
        f7.extend(&record("/run/last")[..SUN_PATH_LEN]); // the last record may end at 108 bytes
        Ok(vec![
            ("skbox_dir_00007".into(), f7),
            ("README".into(), b"not a lookup file".to_vec()),
        ])
    }

    /// (rule index, the path it gives) for a TCP call.
    fn decide(p: &SocketboxPreload, dir: Direction, sa: &str) -> Option<(Action, String)> {
        let sa: std::net::SocketAddr = sa.parse().unwrap();
        let q = Query {
            direction: dir,
            ty: SockType::Tcp,
            target: QueryTarget::Ip(sa),
        };
        let (_, rule) = first_match(&p.rules, &q)?;
        let path = match &rule.action {
            Action::SocketboxA(t) | Action::Path(t) => {
                let mut buf = [0u8; 108];
                let fill = Fill {
                    ip: sa.ip(),
                    port: sa.port(),
                    ty: SockType::Tcp,
                };
                let n = t.expand(fill, &mut buf).unwrap();
                String::from_utf8(buf[..n].to_vec()).unwrap()
            }
            _ => String::new(),
        };
        Some((rule.action.clone(), path))
    }

    fn kind(a: &Action) -> &'static str {
        match a {
            Action::SocketboxA(_) => "A",
            Action::Path(_) => "stream",
            Action::Reject(libc::EINVAL) => "EINVAL",
            Action::Reject(libc::ENOENT) => "ENOENT",
            Action::Reject(libc::ERANGE) => "ERANGE",
            _ => "other",
        }
    }

    fn d(p: &SocketboxPreload, dir: Direction, sa: &str) -> Option<(&'static str, String)> {
        decide(p, dir, sa).map(|(a, path)| (kind(&a), path))
    }

    fn no_dir(_: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        panic!("no lookup directory expected")
    }

    #[test]
    fn unset_means_nothing() {
        assert!(from_env(&env(&[]), &no_dir).unwrap().is_none());
    }

    #[test]
    fn directory_root2_names_and_filters() {
        let p = from_env(
            &env(&[
                ("SKBOX_DIRECTORY_ROOT2", "/r2"),
                ("SKBOX_PORT_FILTER_IPV4", "8081,8082"),
                ("SKBOX_PORT_FILTER_IPV4_WILDCARD", "1,1,8000,8443"),
                ("SKBOX_PORT_FILTER_IPV6_WILDCARD", "100"),
                ("SKBOX_ENABLE_CONNECT", "b1"),
            ]),
            &no_dir,
        )
        .unwrap()
        .unwrap();
        use Direction::{In, Out};
        let s = |k: &'static str, p: &str| Some((k, p.to_string()));
        assert_eq!(d(&p, In, "0.0.0.0:8000"), s("A", "/r2/X0004/00000_08000"));
        assert_eq!(
            d(&p, In, "[::ffff:0.0.0.0]:8443"),
            s("A", "/r2/X0004/00000_08443")
        );
        assert_eq!(
            d(&p, In, "0.0.0.0:8001"),
            None,
            "not in the wildcard filter"
        );
        assert_eq!(d(&p, In, "[::]:99"), s("A", "/r2/X0000/00000_00099"));
        assert_eq!(d(&p, In, "[::]:100"), None);
        assert_eq!(
            d(&p, In, "127.180.3.4:8080"),
            s("A", "/r2/X4003/00004_08080")
        );
        assert_eq!(
            d(&p, In, "127.181.3.4:8080"),
            s("stream", "/r2/X4003/00004_08080")
        );
        // odd ports below 8081, even ports below 8082
        assert_eq!(d(&p, In, "127.180.0.1:8081"), None);
        assert!(d(&p, In, "127.180.0.1:8079").is_some());
        assert_eq!(d(&p, In, "127.182.0.1:80"), None, "outside 127.180.0.0/15");
        assert_eq!(
            d(&p, In, "[fe8f::2:7:9]:443"),
            s("A", "/r2/00007/00009_00443")
        );
        assert_eq!(
            d(&p, In, "[fe8f::3:7:9]:443"),
            s("stream", "/r2/00007/00009_00443")
        );
        assert_eq!(
            d(&p, In, "[fe8f::2:7:9]:1024"),
            None,
            "default IPv6 filter: below 1024"
        );
        assert_eq!(d(&p, In, "[fe8f::2:7:9]:0"), None, "port 0 never passes");
        assert_eq!(
            d(&p, In, "[fe8f:0:0:1::2:7:9]:80"),
            None,
            "the middle bits must be 0"
        );
        assert_eq!(
            d(&p, Out, "[fe8f::3:7:9]:5000"),
            s("stream", "/r2/00007/00009_05000")
        );
        assert_eq!(d(&p, Out, "[fe8f::2:7:9]:5000").unwrap().0, "EINVAL");
        assert_eq!(d(&p, Out, "127.181.0.9:7").unwrap().0, "stream");
        assert_eq!(d(&p, Out, "127.180.0.9:7").unwrap().0, "EINVAL");
        assert_eq!(
            d(&p, Out, "0.0.0.0:8000"),
            None,
            "wildcards are for bind only"
        );
        assert!(p.block_listen_unbound);
        assert_eq!(p.name_protection, 2);
    }

    #[test]
    fn connect_needs_enable_connect() {
        let p = from_env(&env(&[("SKBOX_DIRECTORY_ROOT2", "/r2")]), &no_dir)
            .unwrap()
            .unwrap();
        assert_eq!(d(&p, Direction::Out, "[fe8f::3:7:9]:5000"), None);
        let p = from_env(
            &env(&[
                ("SKBOX_DIRECTORY_ROOT2", "/r2"),
                ("SKBOX_ENABLE_CONNECT", "1"),
            ]),
            &no_dir,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            d(&p, Direction::Out, "127.181.0.9:7"),
            None,
            "127.180/15 needs the b prefix"
        );
    }

    #[test]
    fn lookup_files() {
        let p = from_env(
            &env(&[
                ("SKBOX_DIRECTORY_ROOT", "/lk"),
                ("SKBOX_ENABLE_CONNECT", "1"),
            ]),
            &lookup,
        )
        .unwrap()
        .unwrap();
        use Direction::{In, Out};
        let s = |k: &'static str, p: &str| Some((k, p.to_string()));
        assert_eq!(d(&p, In, "[fe8f::7:1]:80"), s("A", "/run/web00080.sock"));
        assert_eq!(
            d(&p, In, "[fe8f::1:7:1]:80"),
            s("stream", "/run/web00080.sock")
        );
        assert_eq!(d(&p, In, "[fe8f::7:2]:80"), s("A", "/run/last"));
        assert_eq!(
            d(&p, Out, "[fe8f::1:7:1]:443"),
            s("stream", "/run/web00443.sock")
        );
        assert_eq!(d(&p, Out, "[fe8f::7:1]:443").unwrap().0, "EINVAL");
        assert_eq!(
            d(&p, In, "[fe8f::7:0]:80"),
            s("ERANGE", ""),
            "an empty record is no entry"
        );
        assert_eq!(d(&p, In, "[fe8f::7:3]:80").unwrap().0, "ERANGE");
        assert_eq!(d(&p, In, "[fe8f::8:0]:80").unwrap().0, "ENOENT");
        assert_eq!(
            d(&p, In, "[fe8f::7:1]:2000"),
            None,
            "outside the IPv6 filter"
        );
        assert_eq!(
            d(&p, In, "[fe8f::2:7:1]:80"),
            None,
            "no SKBOX_DIRECTORY_ROOT2"
        );
    }

    #[test]
    fn refusals_name_the_variable() {
        let e = |pairs: &[(&str, &str)]| {
            from_env(&env(pairs), &|_| Err("No such file or directory".into()))
                .unwrap_err()
                .to_string()
        };
        assert!(e(&[("SKBOX_PORT_FILTER_IPV4", "80,x")])
            .starts_with("SKBOX_PORT_FILTER_IPV4: bad number 'x'"));
        assert!(e(&[("SKBOX_PORT_FILTER_IPV6", "080")]).contains("'080'"));
        assert!(e(&[("SKBOX_PORT_FILTER_IPV6", "70000")]).contains("'70000'"));
        assert!(e(&[("SKBOX_PORT_FILTER_IPV6", "1,1,0")]).contains("port 0"));
        assert!(e(&[("SKBOX_ACCEPT_STREAM", "1")]).starts_with("SKBOX_ACCEPT_STREAM: 1"));
        assert!(e(&[("SKBOX_STRICT_STREAM_MODE", "0")]).contains("not supported"));
        assert!(e(&[("SKBOX_ENABLE_CONNECT", "2")]).contains("not supported"));
        assert!(e(&[("SKBOX_ENABLE_CONNECT", "yes")]).contains("'yes'"));
        assert!(e(&[("SKBOX_STEALTH_MODE", "on")]).starts_with("SKBOX_STEALTH_MODE"));
        assert!(e(&[("SKBOX_DIRECTORY_ROOT", "/nope")]).contains("cannot read '/nope'"));
        let ok = from_env(
            &env(&[
                ("SKBOX_PORT_FILTER_IPV6", "0x400"),
                ("SKBOX_GETPEERNAME_PROTECTION", "0"),
                ("SKBOX_BLOCK_LISTEN_EMPTY_ADDR", "0"),
            ]),
            &no_dir,
        )
        .unwrap()
        .unwrap();
        assert!(ok.rules.is_empty());
        assert_eq!(ok.name_protection, 0);
        assert!(!ok.block_listen_unbound);
    }

    #[test]
    fn filter_ranges() {
        let f = |t: &str| port_filter(&env(&[("V", t)]), "V", 0).unwrap();
        assert_eq!(f("1024"), vec![(1, 1023)]);
        assert_eq!(f("5,8"), vec![(1, 4), (6, 6)], "odd below 5, even below 8");
        assert_eq!(f("0,0,80,443"), vec![(80, 80), (443, 443)]);
        assert_eq!(port_filter(&env(&[]), "V", 0).unwrap(), vec![]);
    }
}
