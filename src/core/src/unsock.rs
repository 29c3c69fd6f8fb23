//! unsock's environment variables, turned into ordinary rules so that there is one matching
//! engine. `UNSOCK_DIR=/d UNSOCK_ADDR=127.0.0.1/0 UNSOCK_PORT=7000` becomes
//! `addr=0.0.0.0/0,port=7000,path=/d/%p.sock` with peers reported as 127.0.0.1:7000.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;

use crate::config::ConfigError;
use crate::rule::{parse_net, Action, Rule};
use crate::template::Template;

/// What the UNSOCK_* variables ask for.
#[derive(Debug, Default)]
pub struct Unsock {
    /// The conversion rule, then the UNSOCK_BLOCK_INET rule if asked.
    pub rules: Vec<Rule>,
    pub block_inet6: bool,
    /// UNSOCK_ACCEPT_CONVERT_ALL: report foreign addresses as this.
    pub accept_convert: Option<SocketAddr>,
    /// UNSOCK_ACCEPT_CONVERT_VSOCK: report AF_VSOCK addresses as this.
    pub accept_convert_vsock: Option<SocketAddr>,
    /// UNSOCK_DIR, to be created with mode 0755 if missing.
    pub dir: Option<String>,
}

const VARS: &[&str] = &[
    "UNSOCK_ADDR",
    "UNSOCK_PORT",
    "UNSOCK_MODE",
    "UNSOCK_BLOCK_INET",
    "UNSOCK_BLOCK_INET6",
    "UNSOCK_ACCEPT_CONVERT_ALL",
    "UNSOCK_ACCEPT_CONVERT_VSOCK",
];

fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { var, message }
}

fn flag(var: &'static str, get: &dyn Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match get(var).as_deref().map(str::trim) {
        None | Some("") | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(err(var, format!("expected 1 or 0, got '{other}'"))),
    }
}

/// Reads the UNSOCK_* variables; `Ok(None)` when UNSOCK_DIR and its companions are unset.
pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Unsock>, ConfigError> {
    let Some(dir) = get("UNSOCK_DIR").filter(|d| !d.is_empty()) else {
        if let Some((var, value)) = VARS
            .iter()
            .find_map(|v| get(v).filter(|x| !x.is_empty()).map(|x| (v, x)))
        {
            return Err(err(
                "UNSOCK_DIR",
                format!("not set, but {var}='{value}' needs it"),
            ));
        }
        return Ok(None);
    };
    if !dir.starts_with('/') {
        return Err(err(
            "UNSOCK_DIR",
            format!("must be an absolute path: '{dir}'"),
        ));
    }
    if dir.len() >= 96 {
        return Err(err(
            "UNSOCK_DIR",
            format!("must be shorter than 96 bytes: '{dir}'"),
        ));
    }

    let addr_text = get("UNSOCK_ADDR")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "127.175.0.0/32".into());
    let mut nets: Vec<IpNet> = Vec::new();
    let mut fake: Option<IpAddr> = None;
    for part in addr_text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let net =
            parse_net(part).ok_or_else(|| err("UNSOCK_ADDR", format!("bad address '{part}'")))?;
        // The address as written (not truncated to the block) is the one reported for peers.
        let host = part.split('/').next().unwrap_or(part);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        fake.get_or_insert(crate::addr::canonical_ip(
            host.parse().unwrap_or(net.addr()),
        ));
        nets.push(net);
    }
    let fake = fake.ok_or_else(|| err("UNSOCK_ADDR", format!("no address in '{addr_text}'")))?;

    let port = match get("UNSOCK_PORT").filter(|s| !s.is_empty()) {
        None => None,
        Some(p) => Some(
            p.trim()
                .parse::<u16>()
                .map_err(|_| err("UNSOCK_PORT", format!("bad port '{p}'")))?,
        ),
    };
    let mode = match get("UNSOCK_MODE").filter(|s| !s.is_empty()) {
        None => None,
        Some(m) => Some(
            u32::from_str_radix(m.trim(), 8)
                .ok()
                .filter(|&v| v <= 0o7777)
                .ok_or_else(|| err("UNSOCK_MODE", format!("bad octal mode '{m}'")))?,
        ),
    };

    let dir_trimmed = dir.trim_end_matches('/');
    let template = format!("{}/%p.sock", dir_trimmed.replace('%', "%%"));
    let template =
        Template::parse(&template).map_err(|e| err("UNSOCK_DIR", format!("{e}: '{dir}'")))?;
    let mut rule = Rule::any(Action::Path(template));
    rule.addrs = nets;
    rule.ports = port.map(|p| (p, p));
    rule.mode = mode;
    rule.peer = Some((fake, port));
    let mut rules = vec![rule];

    if flag("UNSOCK_BLOCK_INET", get)? {
        let mut block = Rule::any(Action::Reject(libc::EACCES));
        block.addrs.push(parse_net("0.0.0.0/0").expect("constant"));
        rules.push(block);
    }
    let reported = {
        let v4 = match fake {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => Ipv4Addr::new(127, 175, 0, 0),
        };
        SocketAddr::new(IpAddr::V4(v4), port.unwrap_or(0))
    };
    let accept_convert = flag("UNSOCK_ACCEPT_CONVERT_ALL", get)?.then_some(reported);
    let accept_convert_vsock = flag("UNSOCK_ACCEPT_CONVERT_VSOCK", get)?.then_some(reported);
    Ok(Some(Unsock {
        rules,
        block_inet6: flag("UNSOCK_BLOCK_INET6", get)?,
        accept_convert,
        accept_convert_vsock,
        dir: Some(dir),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Direction, Query, QueryTarget, SockType};
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn hit(u: &Unsock, sa: &str) -> Option<usize> {
        let q = Query {
            direction: Direction::In,
            ty: SockType::Tcp,
            target: QueryTarget::Ip(sa.parse().unwrap()),
        };
        crate::rule::first_match(&u.rules, &q).map(|(i, _)| i)
    }

    #[test]
    fn defaults_cover_only_127_175_0_0() {
        let u = from_env(&env(&[("UNSOCK_DIR", "/tmp/u")]))
            .unwrap()
            .unwrap();
        assert_eq!(hit(&u, "127.175.0.0:80"), Some(0));
        assert_eq!(
            hit(&u, "0.0.0.0:0"),
            None,
            "bug U5: a non-covered bind must stay IP"
        );
        assert_eq!(
            u.rules[0].to_string().split("  #").next().unwrap(),
            "addr=127.175.0.0,path=/tmp/u/%p.sock"
        );
    }

    #[test]
    fn slash_zero_covers_all_and_reports_the_given_address() {
        let u = from_env(&env(&[
            ("UNSOCK_DIR", "/tmp/u/"),
            ("UNSOCK_ADDR", "127.0.0.1/0"),
            ("UNSOCK_PORT", "7000"),
            ("UNSOCK_BLOCK_INET", "1"),
            ("UNSOCK_ACCEPT_CONVERT_ALL", "1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(hit(&u, "0.0.0.0:7000"), Some(0));
        assert_eq!(hit(&u, "[::ffff:10.1.1.1]:7000"), Some(0));
        assert_eq!(
            hit(&u, "10.1.1.1:7001"),
            Some(1),
            "UNSOCK_BLOCK_INET rejects the rest"
        );
        assert_eq!(hit(&u, "[::1]:7001"), None, "IPv6 is not IPv4");
        assert_eq!(
            u.rules[0].peer,
            Some(("127.0.0.1".parse().unwrap(), Some(7000)))
        );
        assert_eq!(u.accept_convert, Some("127.0.0.1:7000".parse().unwrap()));
        assert_eq!(u.accept_convert_vsock, None);
        let v = from_env(&env(&[
            ("UNSOCK_DIR", "/d"),
            ("UNSOCK_ACCEPT_CONVERT_VSOCK", "1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(v.accept_convert, None);
        assert_eq!(
            v.accept_convert_vsock,
            Some("127.175.0.0:0".parse().unwrap())
        );
        assert!(from_env(&env(&[("UNSOCK_ACCEPT_CONVERT_VSOCK", "1")])).is_err());
    }

    #[test]
    fn ipv6_is_converted_too() {
        let u = from_env(&env(&[
            ("UNSOCK_DIR", "/d"),
            ("UNSOCK_ADDR", "127.0.0.1/8,::1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(hit(&u, "[::1]:5"), Some(0));
        assert_eq!(hit(&u, "127.9.9.9:5"), Some(0));
    }

    #[test]
    fn errors() {
        let e = |p: &[(&str, &str)]| from_env(&env(p)).unwrap_err().to_string();
        assert!(e(&[("UNSOCK_DIR", "rel")]).starts_with("UNSOCK_DIR:"));
        assert!(e(&[("UNSOCK_DIR", "/d"), ("UNSOCK_ADDR", "1.2.3")]).contains("'1.2.3'"));
        assert!(e(&[("UNSOCK_DIR", "/d"), ("UNSOCK_PORT", "99999")]).contains("'99999'"));
        assert!(e(&[("UNSOCK_DIR", "/d"), ("UNSOCK_MODE", "9")]).contains("'9'"));
        assert!(e(&[("UNSOCK_PORT", "80")]).contains("UNSOCK_PORT"));
        assert!(e(&[("UNSOCK_DIR", "/d"), ("UNSOCK_BLOCK_INET6", "yes")])
            .starts_with("UNSOCK_BLOCK_INET6:"));
    }
}
