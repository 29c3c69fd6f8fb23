//! unsock's environment variables, turned into ordinary rules so that there is one matching
//! engine. `UNSOCK_DIR=/d UNSOCK_ADDR=127.0.0.1/0 UNSOCK_PORT=7000` becomes
//! `addr=0.0.0.0/0,port=7000,path=/d/%p.sock` with peers reported as 127.0.0.1:7000.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;

use crate::config::ConfigError;
use crate::control::ControlFile;
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

/// What running unsock's library as a program is asked to write (`UNSOCK_FILE` and the values
/// for one kind of control file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequest {
    /// `UNSOCK_FILE`: the control file to create (never overwritten).
    pub file: String,
    pub kind: ToolKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    /// A finished file: AF_VSOCK or AF_TIPC.
    Ready(ControlFile),
    /// `UNSOCK_FC_SOCK`: the caller makes the path absolute, then `ControlFile::firecracker`.
    Firecracker { proxy: String, port: u32 },
}

const TIPC_VARS: [&str; 5] = [
    "UNSOCK_TIPC_ADDRTYPE",
    "UNSOCK_TIPC_SCOPE",
    "UNSOCK_TIPC_TYPE",
    "UNSOCK_TIPC_LOWER",
    "UNSOCK_TIPC_UPPER",
];

/// The variables of unsock's control-file tool; `Ok(None)` when UNSOCK_FILE is unset (print the
/// usage). Unlike unsock (which guesses from whatever is set and parses with strtol), every
/// value must be a number in range and the variables must name exactly one kind of file.
pub fn tool_request(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ToolRequest>, ConfigError> {
    let set = |var: &str| get(var).filter(|v| !v.is_empty());
    let Some(file) = set("UNSOCK_FILE") else {
        return Ok(None);
    };
    let number = |var: &'static str, max: u32| -> Result<Option<u32>, ConfigError> {
        match set(var) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n <= max)
                .map(Some)
                .ok_or_else(|| err(var, format!("expected a number 0-{max}, got '{v}'"))),
        }
    };
    let tipc_given: Vec<&str> = TIPC_VARS
        .iter()
        .copied()
        .filter(|v| set(v).is_some())
        .collect();
    let port = number("UNSOCK_VSOCK_PORT", u32::MAX)?;
    let fc = set("UNSOCK_FC_SOCK");
    let cid_text = set("UNSOCK_VSOCK_CID");
    if let Some(port) = port {
        if let Some(var) = tipc_given.first() {
            return Err(err(
                var,
                "cannot be combined with UNSOCK_VSOCK_PORT (one control file is either vsock or TIPC)".into(),
            ));
        }
        let kind = match (fc, cid_text) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "UNSOCK_VSOCK_CID",
                    "not used with UNSOCK_FC_SOCK (the Firecracker proxy picks the guest)".into(),
                ))
            }
            (Some(proxy), None) => ToolKind::Firecracker { proxy, port },
            (None, cid) => {
                let cid = match cid {
                    None => u32::MAX,
                    Some(c) => crate::control::parse_vsock_cid(&c).ok_or_else(|| {
                        err(
                            "UNSOCK_VSOCK_CID",
                            format!("expected a CID (number, -1, any, host, local, hypervisor), got '{c}'"),
                        )
                    })?,
                };
                ToolKind::Ready(ControlFile::vsock(cid, port))
            }
        };
        return Ok(Some(ToolRequest { file, kind }));
    }
    if fc.is_some() || cid_text.is_some() {
        let var = if fc.is_some() {
            "UNSOCK_FC_SOCK"
        } else {
            "UNSOCK_VSOCK_CID"
        };
        return Err(err(var, "needs UNSOCK_VSOCK_PORT".into()));
    }
    if tipc_given.is_empty() {
        return Err(err(
            "UNSOCK_FILE",
            "set, but no kind of control file is given: add UNSOCK_VSOCK_PORT (and UNSOCK_VSOCK_CID or UNSOCK_FC_SOCK) or the five UNSOCK_TIPC_* values".into(),
        ));
    }
    if let Some(missing) = TIPC_VARS.iter().find(|v| set(v).is_none()) {
        return Err(err(
            missing,
            "not set; a TIPC control file needs all five UNSOCK_TIPC_* values".into(),
        ));
    }
    let [addrtype, scope, ty, lower, upper] = TIPC_VARS;
    let small = |var| number(var, 255).map(|n| n.unwrap_or(0) as u8);
    let big = |var| number(var, u32::MAX).map(|n| n.unwrap_or(0));
    let cf = ControlFile::tipc(
        small(addrtype)?,
        small(scope)?,
        big(ty)?,
        big(lower)?,
        big(upper)?,
    );
    Ok(Some(ToolRequest {
        file,
        kind: ToolKind::Ready(cf),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Direction, Query, QueryTarget, SockType};

    use crate::test_env as env;

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

    #[test]
    fn tool_request_names_one_kind_of_file() {
        let r = |p: &[(&str, &str)]| tool_request(&env(p));
        assert_eq!(r(&[]).unwrap(), None, "no UNSOCK_FILE: usage");
        let v = r(&[("UNSOCK_FILE", "/t/1.sock"), ("UNSOCK_VSOCK_PORT", "5678")])
            .unwrap()
            .unwrap();
        assert_eq!(v.file, "/t/1.sock");
        assert_eq!(v.kind, ToolKind::Ready(ControlFile::vsock(u32::MAX, 5678)));
        let v = r(&[
            ("UNSOCK_FILE", "/f"),
            ("UNSOCK_VSOCK_PORT", "1"),
            ("UNSOCK_VSOCK_CID", "3"),
        ]);
        assert_eq!(
            v.unwrap().unwrap().kind,
            ToolKind::Ready(ControlFile::vsock(3, 1))
        );
        let v = r(&[
            ("UNSOCK_FILE", "/f"),
            ("UNSOCK_VSOCK_PORT", "9"),
            ("UNSOCK_FC_SOCK", "/fc"),
        ]);
        assert_eq!(
            v.unwrap().unwrap().kind,
            ToolKind::Firecracker {
                proxy: "/fc".into(),
                port: 9
            }
        );
        let tipc = [
            ("UNSOCK_FILE", "/f"),
            ("UNSOCK_TIPC_ADDRTYPE", "2"),
            ("UNSOCK_TIPC_SCOPE", "2"),
            ("UNSOCK_TIPC_TYPE", "128"),
            ("UNSOCK_TIPC_LOWER", "99"),
            ("UNSOCK_TIPC_UPPER", "0"),
        ];
        let t = r(&tipc).unwrap().unwrap();
        let ToolKind::Ready(cf) = t.kind else {
            panic!()
        };
        // struct sockaddr_tipc as unsock fills it: family 30, addrtype, scope, then three u32.
        let mut want = [0u8; 16];
        want[0] = 30;
        want[2] = 2;
        want[3] = 2;
        want[4] = 128;
        want[8] = 99;
        assert_eq!(&cf.encode()[160..176], &want);
        assert_eq!(cf.dest_len, 16);
        let e = |p: &[(&str, &str)]| r(p).unwrap_err().to_string();
        assert!(e(&[("UNSOCK_FILE", "/f")]).starts_with("UNSOCK_FILE: set, but no kind"));
        assert!(e(&tipc[..5]).starts_with("UNSOCK_TIPC_UPPER: not set"));
        assert!(e(&[("UNSOCK_FILE", "/f"), ("UNSOCK_VSOCK_PORT", "x1")]).contains("'x1'"));
        assert!(e(&[("UNSOCK_FILE", "/f"), ("UNSOCK_FC_SOCK", "/fc")])
            .starts_with("UNSOCK_FC_SOCK: needs"));
        let mut both = tipc.to_vec();
        both.push(("UNSOCK_VSOCK_PORT", "1"));
        assert!(e(&both).starts_with("UNSOCK_TIPC_ADDRTYPE: cannot be combined"));
        let mut big = tipc.to_vec();
        big[2] = ("UNSOCK_TIPC_SCOPE", "256");
        assert!(e(&big).starts_with("UNSOCK_TIPC_SCOPE: expected a number 0-255"));
    }
}
