//! The decision engine shared by both executors — the in-process hooks of the shim and the
//! out-of-process seccomp supervisor of `sockswap run --backend seccomp`: given a bind or
//! connect (direction, the socket's family and type, the address) and the rules, what the call
//! becomes; where a converted socket binds or connects; which IP names a converted socket
//! reports. No syscalls and no allocation, so the shim can call it inside hooks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::addr::{self, UnixName, UnixSockaddr};
use crate::rule::{first_match, Action, Direction, Query, QueryTarget, Rule, SockType};
use crate::template::{Fill, Template};

/// What the rules make of a bind or connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'r> {
    /// No rule matches, an `ignore` rule matches, or the socket is not one rules concern
    /// (another type, or a family the address does not fit — the kernel answers that).
    PassThrough,
    /// Fail the call with this errno.
    Reject(i32),
    /// Convert the socket as `rule` (the `index`-th) says.
    Convert { index: usize, rule: &'r Rule },
}

/// Decides a bind (`In`) or connect/sendto (`Out`) on a socket of `family`/`sotype` (SOCK_*
/// flags may be included) to `target`.
pub fn decide<'r>(
    rules: &'r [Rule],
    direction: Direction,
    family: i32,
    sotype: i32,
    target: QueryTarget<'_>,
) -> Decision<'r> {
    let Some(ty) = SockType::from_sock_type(sotype) else {
        return Decision::PassThrough;
    };
    let family_fits = match target {
        QueryTarget::Ip(SocketAddr::V4(_)) => family == libc::AF_INET,
        QueryTarget::Ip(SocketAddr::V6(_)) => family == libc::AF_INET6,
        QueryTarget::Unix(_) => family == libc::AF_UNIX,
    };
    if !family_fits {
        return Decision::PassThrough; // the kernel refuses it as it would without us
    }
    let query = Query {
        direction,
        ty,
        target,
    };
    match first_match(rules, &query) {
        None => Decision::PassThrough,
        Some((_, rule)) => match rule.action {
            Action::Ignore => Decision::PassThrough,
            Action::Reject(e) => Decision::Reject(e),
            _ => Decision::Convert {
                index: rules
                    .iter()
                    .position(|r| core::ptr::eq(r, rule))
                    .unwrap_or(usize::MAX),
                rule,
            },
        },
    }
}

/// Why a rule gives no Unix endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointError {
    /// The action names no Unix socket (reject, vsock, …).
    NoUnixName,
    /// The expansion does not fit in `sun_path`.
    TooLong,
}

impl EndpointError {
    /// The errno a program sees.
    pub fn errno(self) -> i32 {
        match self {
            EndpointError::NoUnixName => libc::EINVAL,
            EndpointError::TooLong => libc::ENAMETOOLONG,
        }
    }
}

/// The template of an action that names a Unix socket, and whether it is abstract.
pub fn unix_template(action: &Action) -> Option<(&Template, bool)> {
    match action {
        Action::Path(t) | Action::SocketboxA(t) => Some((t, false)),
        Action::HybridVsock { path, .. } => Some((path, false)),
        Action::Abstract(t) => Some((t, true)),
        _ => None,
    }
}

/// The Unix endpoint `rule` gives for `ip:port` on a socket of `sotype`.
pub fn endpoint(
    rule: &Rule,
    ip: IpAddr,
    port: u16,
    sotype: i32,
) -> Result<UnixSockaddr, EndpointError> {
    let (tpl, is_abstract) = unix_template(&rule.action).ok_or(EndpointError::NoUnixName)?;
    let ty = SockType::from_sock_type(sotype).unwrap_or(SockType::Tcp);
    let mut buf = [0u8; addr::SUN_PATH_LEN];
    let n = tpl
        .expand(Fill { ip, port, ty }, &mut buf)
        .map_err(|_| EndpointError::TooLong)?;
    let name = buf.get(..n).unwrap_or(&[]);
    let sa = if is_abstract {
        UnixSockaddr::abstract_name(name)
    } else {
        UnixSockaddr::path(name)
    };
    sa.map_err(|_| EndpointError::TooLong)
}

/// The Unix endpoint of a connect to `target` (for a `from-unix`/`from-abstract` rule there
/// are no placeholders to fill).
pub fn out_endpoint(
    rule: &Rule,
    target: QueryTarget<'_>,
    sotype: i32,
) -> Result<UnixSockaddr, EndpointError> {
    match target {
        QueryTarget::Ip(ip) => endpoint(rule, ip.ip(), ip.port(), sotype),
        QueryTarget::Unix(_) => endpoint(rule, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, sotype),
    }
}

/// Does a bind to port 0 under `rule` need a port chosen before the path is known (the
/// template says `%p`)?
pub fn port_in_name(rule: &Rule) -> bool {
    matches!(&rule.action, Action::Path(t) | Action::Abstract(t) | Action::SocketboxA(t) if t.uses_port())
}

/// The IP name a converted listener bound to `bound` reports for a connection it accepts:
/// the rule's `peer=` if it has one, else loopback of the listener's family (IPv4-mapped if
/// the listener's address was), with `ephemeral` as the port where none is given.
pub fn accepted_peer(
    rule: Option<&Rule>,
    family: i32,
    bound: Option<SocketAddr>,
    ephemeral: u16,
) -> SocketAddr {
    let mapped = bound.is_some_and(|l| addr::is_mapped(l.ip()));
    match rule.and_then(|r| r.peer) {
        Some((ip, port)) => SocketAddr::new(ip, port.unwrap_or(ephemeral)),
        None => SocketAddr::new(addr::loopback(family, mapped), ephemeral),
    }
}

/// The local IP name a converted client socket connected to `dest` reports: loopback of its
/// family (IPv4-mapped if the destination was) and `ephemeral`.
pub fn client_local(family: i32, dest: SocketAddr, ephemeral: u16) -> SocketAddr {
    SocketAddr::new(
        addr::loopback(family, addr::is_mapped(dest.ip())),
        ephemeral,
    )
}

/// What a TCP program expects instead of a Unix socket's connect errors.
pub fn tcp_connect_errno(e: i32) -> i32 {
    match e {
        libc::ENOENT | libc::ENOTDIR | libc::EPROTOTYPE | libc::ENOTSOCK | libc::EAGAIN => {
            libc::ECONNREFUSED
        }
        e => e,
    }
}

/// The errors of a Unix datagram send or connect whose receiver is not there (no file, nobody
/// bound, gone): UDP knows no such thing.
pub fn receiver_absent(e: i32) -> bool {
    matches!(e, libc::ENOENT | libc::ECONNREFUSED)
}

/// The printable form of a Unix name (`@` for abstract).
pub fn describe_unix(name: UnixName<'_>) -> String {
    match name {
        UnixName::Path(p) => String::from_utf8_lossy(p).into_owned(),
        UnixName::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
        UnixName::Unnamed => "(unnamed)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(texts: &[&str]) -> Vec<Rule> {
        texts.iter().map(|t| Rule::parse(t).unwrap()).collect()
    }

    fn action_name(a: &Action) -> &'static str {
        match a {
            Action::Path(_) => "path",
            Action::Abstract(_) => "abstract",
            Action::Blackhole => "blackhole",
            _ => "other",
        }
    }

    fn ip(s: &str) -> QueryTarget<'static> {
        QueryTarget::Ip(s.parse().unwrap())
    }

    fn kind(d: Decision<'_>) -> String {
        match d {
            Decision::PassThrough => "pass".into(),
            Decision::Reject(e) => format!("reject {e}"),
            Decision::Convert { index, rule } => {
                format!("convert {index} {}", action_name(&rule.action))
            }
        }
    }

    #[test]
    fn every_action_and_every_reason_to_pass() {
        let rs = rules(&[
            "in,tcp,port=22,ignore",
            "in,tcp,port=8000,path=/run/%p.sock",
            "in,udp,port=53,abstract=dns",
            "in,tcp,port=9000,blackhole",
            "out,addr=10.0.0.0/8,reject=ENETUNREACH",
            "out,port=6379,path=/run/redis.sock",
            "out,from-unix=/var/run/docker.sock,path=/run/d.sock",
            "in,reject",
        ]);
        let (inet, inet6, unix) = (libc::AF_INET, libc::AF_INET6, libc::AF_UNIX);
        let (stream, dgram) = (libc::SOCK_STREAM, libc::SOCK_DGRAM);
        let docker = QueryTarget::Unix(UnixName::Path(b"/var/run/docker.sock"));
        let table: &[(Direction, i32, i32, QueryTarget, &str)] = &[
            (Direction::In, inet, stream, ip("0.0.0.0:22"), "pass"),
            (
                Direction::In,
                inet,
                stream,
                ip("127.0.0.1:8000"),
                "convert 1 path",
            ),
            (
                Direction::In,
                inet6,
                stream,
                ip("[::]:8000"),
                "convert 1 path",
            ),
            // SOCK_NONBLOCK|SOCK_CLOEXEC in the type change nothing.
            (
                Direction::In,
                inet,
                stream | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                ip("127.0.0.1:8000"),
                "convert 1 path",
            ),
            (
                Direction::In,
                inet,
                dgram,
                ip("127.0.0.1:53"),
                "convert 2 abstract",
            ),
            (Direction::In, inet, stream, ip("127.0.0.1:53"), "reject 13"),
            (
                Direction::In,
                inet,
                stream,
                ip("127.0.0.1:9000"),
                "convert 3 blackhole",
            ),
            (
                Direction::Out,
                inet,
                stream,
                ip("10.1.2.3:80"),
                &format!("reject {}", libc::ENETUNREACH),
            ),
            (
                Direction::Out,
                inet,
                stream,
                ip("127.0.0.1:6379"),
                "convert 5 path",
            ),
            (
                Direction::Out,
                inet,
                dgram,
                ip("127.0.0.1:6379"),
                "convert 5 path",
            ),
            (Direction::Out, inet, stream, ip("127.0.0.1:80"), "pass"),
            (Direction::Out, unix, stream, docker, "convert 6 path"),
            (
                Direction::Out,
                unix,
                stream,
                QueryTarget::Unix(UnixName::Path(b"/other")),
                "pass",
            ),
            // The address does not fit the socket's family: the kernel answers.
            (Direction::In, inet6, stream, ip("127.0.0.1:8000"), "pass"),
            (Direction::In, inet, stream, ip("[::1]:8000"), "pass"),
            (Direction::Out, inet, stream, docker, "pass"),
            // Types rules never concern.
            (
                Direction::In,
                inet,
                libc::SOCK_RAW,
                ip("127.0.0.1:8000"),
                "pass",
            ),
            (
                Direction::In,
                inet,
                libc::SOCK_SEQPACKET,
                ip("127.0.0.1:8000"),
                "pass",
            ),
        ];
        for (i, (dir, fam, ty, target, want)) in table.iter().enumerate() {
            let got = kind(decide(&rs, *dir, *fam, *ty, *target));
            assert_eq!(
                &got, want,
                "row {i}: {dir:?} family {fam} type {ty} {target:?}"
            );
        }
    }

    #[test]
    fn no_rules_pass_everything() {
        assert_eq!(
            decide(
                &[],
                Direction::In,
                libc::AF_INET,
                libc::SOCK_STREAM,
                ip("0.0.0.0:1")
            ),
            Decision::PassThrough
        );
    }

    #[test]
    fn endpoints_expand_templates_and_refuse_what_does_not_fit() {
        let r = Rule::parse("in,path=/run/%a-%p.sock").unwrap();
        let sa = endpoint(&r, "127.0.0.1".parse().unwrap(), 80, libc::SOCK_STREAM).unwrap();
        assert_eq!(sa.name(), UnixName::Path(b"/run/127.0.0.1-80.sock"));
        let r = Rule::parse("in,abstract=app-%p").unwrap();
        let sa = endpoint(&r, "::1".parse().unwrap(), 7, libc::SOCK_DGRAM).unwrap();
        assert_eq!(sa.name(), UnixName::Abstract(b"app-7"));
        let long = format!("in,path=/{}/%p", "x".repeat(104));
        let r = Rule::parse(&long).unwrap();
        assert_eq!(
            endpoint(&r, "::1".parse().unwrap(), 12345, libc::SOCK_STREAM).unwrap_err(),
            EndpointError::TooLong
        );
        assert_eq!(EndpointError::TooLong.errno(), libc::ENAMETOOLONG);
        let r = Rule::parse("in,reject").unwrap();
        assert_eq!(
            endpoint(&r, "::1".parse().unwrap(), 1, libc::SOCK_STREAM).unwrap_err(),
            EndpointError::NoUnixName
        );
        let r = Rule::parse("out,from-abstract=a*,path=/run/b.sock").unwrap();
        let sa = out_endpoint(
            &r,
            QueryTarget::Unix(UnixName::Abstract(b"ab")),
            libc::SOCK_STREAM,
        )
        .unwrap();
        assert_eq!(sa.name(), UnixName::Path(b"/run/b.sock"));
        assert!(port_in_name(&Rule::parse("in,path=/run/%p").unwrap()));
        assert!(!port_in_name(&Rule::parse("in,path=/run/x").unwrap()));
    }

    #[test]
    fn reported_names() {
        let plain = Rule::parse("in,path=/x").unwrap();
        let v4: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert_eq!(
            accepted_peer(Some(&plain), libc::AF_INET, Some(v4), 40000),
            "127.0.0.1:40000".parse().unwrap()
        );
        let mapped: SocketAddr = "[::ffff:0.0.0.0]:80".parse().unwrap();
        assert_eq!(
            accepted_peer(None, libc::AF_INET6, Some(mapped), 1),
            "[::ffff:127.0.0.1]:1".parse().unwrap()
        );
        assert_eq!(
            accepted_peer(None, libc::AF_INET6, None, 2),
            "[::1]:2".parse().unwrap()
        );
        let dest: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        assert_eq!(
            client_local(libc::AF_INET, dest, 33000),
            "127.0.0.1:33000".parse().unwrap()
        );
        for (e, want) in [
            (libc::ENOENT, libc::ECONNREFUSED),
            (libc::EAGAIN, libc::ECONNREFUSED),
            (libc::ENOTSOCK, libc::ECONNREFUSED),
            (libc::EACCES, libc::EACCES),
        ] {
            assert_eq!(tcp_connect_errno(e), want);
        }
        assert!(receiver_absent(libc::ENOENT) && !receiver_absent(libc::EACCES));
    }
}
