//! xsocket's interface: its wire protocol (XS01/XS02), spoken by `socketbox socket-server` beside
//! its own, and libxbind's variables (`XBIND`, `XSOCKET`), turned into `netns=` rules.
//!
//! XS01 over an AF_UNIX SOCK_SEQPACKET connection, all fields big-endian:
//! request `XS01`, domain i32, type i32 (SOCK_CLOEXEC stripped; SOCK_NONBLOCK may be set),
//! protocol i32 — 16 bytes, after which the client shuts down its writing side;
//! reply `XS02`, errno i32 (0 = success) — 8 bytes, with the new socket as one SCM_RIGHTS fd on
//! success.
//!
//! Unlike xsocket's server ("Security: there is none"), ours authenticates the client and keeps
//! its allow list: an XS01 request is served only for a family and type the list allows, and
//! the socket handed over (unbound: XS01 carries no address) gets a locked socket filter that
//! drops every packet whose destination port is not on the list, so it can only listen or
//! receive on an allowed port. The shim's own XBIND path does not use XS01: it sends the
//! address, and the server binds.

use crate::config::ConfigError;
use crate::rule::{Action, Rule};

pub const REQUEST_MAGIC: [u8; 4] = *b"XS01";
pub const REPLY_MAGIC: [u8; 4] = *b"XS02";
pub const REQUEST_LEN: usize = 16;
pub const REPLY_LEN: usize = 8;
/// Where xsocket's server listens unless told otherwise.
pub const DEFAULT_SERVER: &str = "/run/xsocket/default";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub domain: i32,
    pub ty: i32,
    pub protocol: i32,
}

pub fn encode_request(req: &Request) -> [u8; REQUEST_LEN] {
    let mut r = [0u8; REQUEST_LEN];
    r[..4].copy_from_slice(&REQUEST_MAGIC);
    r[4..8].copy_from_slice(&req.domain.to_be_bytes());
    r[8..12].copy_from_slice(&req.ty.to_be_bytes());
    r[12..16].copy_from_slice(&req.protocol.to_be_bytes());
    r
}

/// Is this record an XS01 request (whatever its length)? The server dispatches on it.
pub fn is_request(rec: &[u8]) -> bool {
    rec.starts_with(&REQUEST_MAGIC)
}

pub fn decode_request(rec: &[u8]) -> Result<Request, &'static str> {
    if !is_request(rec) {
        return Err("bad magic");
    }
    if rec.len() != REQUEST_LEN {
        return Err("an XS01 request has 16 bytes");
    }
    let int = |o: usize| i32::from_be_bytes([rec[o], rec[o + 1], rec[o + 2], rec[o + 3]]);
    Ok(Request {
        domain: int(4),
        ty: int(8),
        protocol: int(12),
    })
}

pub fn encode_reply(errno: i32) -> [u8; REPLY_LEN] {
    let mut r = [0u8; REPLY_LEN];
    r[..4].copy_from_slice(&REPLY_MAGIC);
    r[4..].copy_from_slice(&errno.to_be_bytes());
    r
}

/// The errno of an XS02 reply (0 = success), or None if it is not one.
pub fn decode_reply(rec: &[u8]) -> Option<i32> {
    (rec.len() == REPLY_LEN && rec[..4] == REPLY_MAGIC)
        .then(|| i32::from_be_bytes([rec[4], rec[5], rec[6], rec[7]]))
}

/// Why an XS01 request asks for a socket the server never creates, whatever its allow list:
/// a family other than IPv4/IPv6, a type other than a plain stream or datagram (SOCK_NONBLOCK
/// allowed), a protocol other than 0 or the type's own. Returns (errno, reason).
pub fn check_kind(req: &Request) -> Result<(), (i32, &'static str)> {
    if req.domain != libc::AF_INET && req.domain != libc::AF_INET6 {
        return Err((libc::EAFNOSUPPORT, "the family is not inet or inet6"));
    }
    let plain = match req.ty & !libc::SOCK_NONBLOCK {
        libc::SOCK_STREAM => libc::IPPROTO_TCP,
        libc::SOCK_DGRAM => libc::IPPROTO_UDP,
        _ => {
            return Err((
                libc::EACCES,
                "the type is not a plain stream or datagram type",
            ))
        }
    };
    if req.protocol != 0 && req.protocol != plain {
        return Err((
            libc::EACCES,
            "the protocol is not 0 or the type's plain protocol",
        ));
    }
    Ok(())
}

/// A classic BPF program (code, jt, jf, k) that passes a packet only when the 16-bit port at
/// `offset` of its transport header is in one of `ranges`; None when every port is (no filter
/// needed). Jumps are 8-bit and forward, so at most 100 ranges are looked at (the allow list
/// holds no more).
pub fn port_filter(offset: u32, ranges: &[(u16, u16)]) -> Option<Vec<(u16, u8, u8, u32)>> {
    const LD_H_ABS: u16 = 0x28;
    const JGE_K: u16 = 0x35;
    const JGT_K: u16 = 0x25;
    const RET_K: u16 = 0x06;
    if ranges.iter().any(|&(lo, hi)| lo == 0 && hi == u16::MAX) {
        return None;
    }
    let n = ranges.len().min(100);
    let mut prog = vec![(LD_H_ABS, 0, 0, offset)];
    for (k, &(lo, hi)) in ranges.iter().take(n).enumerate() {
        // lo <= port: test hi; else the next range. port <= hi: accept; else the next range.
        prog.push((JGE_K, 0, 1, u32::from(lo)));
        prog.push((JGT_K, 0, (2 * (n - k) - 1) as u8, u32::from(hi)));
    }
    prog.push((RET_K, 0, 0, 0));
    prog.push((RET_K, 0, 0, u32::MAX));
    Some(prog)
}

/// The offset of the destination port in a TCP or UDP header.
pub const DEST_PORT_OFFSET: u32 = 2;

fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { var, message }
}

/// libxbind's variables: `XBIND` (space-separated ports, or `*` for every port) makes a `bind`
/// of any IPv4/IPv6 TCP or UDP socket to those ports happen in the namespace of the socket
/// server at `XSOCKET` (default `/run/xsocket/default`, `@name` = abstract). Unlike libxbind,
/// a token that is not a port 1-65535 is refused rather than skipped.
pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Rule>, ConfigError> {
    let Some(xbind) = get("XBIND").filter(|v| !v.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let server = get("XSOCKET")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    if server.len() > 107 {
        return Err(err(
            "XSOCKET",
            format!("too long for a Unix socket (107 bytes): '{server}'"),
        ));
    }
    let rule = |ports: Option<u16>| {
        let mut r = Rule::any(Action::Netns(server.clone()));
        r.direction = Some(crate::rule::Direction::In);
        r.ports = ports.map(|p| (p, p));
        r
    };
    if xbind.trim() == "*" {
        return Ok(vec![rule(None)]);
    }
    let mut rules = Vec::new();
    for token in xbind.split(' ').filter(|t| !t.is_empty()) {
        let port = token
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0 && !(token.len() > 1 && token.starts_with('0')))
            .ok_or_else(|| {
                err(
                    "XBIND",
                    format!(
                        "'{token}' is not a port 1-65535 (XBIND is space-separated ports, or *)"
                    ),
                )
            })?;
        rules.push(rule(Some(port)));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env as env;

    #[test]
    fn wire_as_xsocket_lays_it_out() {
        let req = Request {
            domain: libc::AF_INET6,
            ty: libc::SOCK_STREAM | libc::SOCK_NONBLOCK,
            protocol: 0,
        };
        let bytes = encode_request(&req);
        // htonl(0x58533031) is "XS01"; htonl(10), htonl(0x801), htonl(0)
        assert_eq!(bytes, *b"XS01\0\0\0\x0a\0\0\x08\x01\0\0\0\0");
        assert_eq!(decode_request(&bytes), Ok(req));
        assert!(decode_request(&bytes[..15]).is_err());
        assert!(decode_request(b"SXQ2").is_err());
        assert_eq!(encode_reply(13), *b"XS02\0\0\0\x0d");
        assert_eq!(decode_reply(b"XS02\0\0\0\0"), Some(0));
        assert_eq!(decode_reply(b"SXR2\0\0\0\0"), None);
    }

    #[test]
    fn kinds() {
        let r = |domain, ty, protocol| {
            check_kind(&Request {
                domain,
                ty,
                protocol,
            })
        };
        assert!(r(libc::AF_INET, libc::SOCK_STREAM, 0).is_ok());
        assert!(r(
            libc::AF_INET6,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK,
            libc::IPPROTO_UDP
        )
        .is_ok());
        assert!(r(libc::AF_PACKET, libc::SOCK_RAW, 0).is_err());
        assert!(r(libc::AF_INET, libc::SOCK_RAW, 0).is_err());
        assert!(r(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP).is_err());
        assert!(r(libc::AF_UNIX, libc::SOCK_STREAM, 0).is_err());
    }

    /// Runs a filter as the kernel's classic BPF interpreter would, for the opcodes used here.
    fn run(prog: &[(u16, u8, u8, u32)], pkt: &[u8]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            match code {
                0x28 => a = u32::from(u16::from_be_bytes([pkt[k as usize], pkt[k as usize + 1]])),
                0x06 => return k,
                0x35 | 0x25 => {
                    let t = if code == 0x35 { a >= k } else { a > k };
                    pc += usize::from(if t { jt } else { jf });
                }
                _ => panic!("opcode {code:#x}"),
            }
        }
    }

    #[test]
    fn port_filter_passes_exactly_the_ranges() {
        let ranges = [(3000, 3000), (8000, 8099), (1, 1)];
        let f = port_filter(DEST_PORT_OFFSET, &ranges).unwrap();
        for port in 0..=u16::MAX {
            let mut hdr = [0u8; 8];
            hdr[2..4].copy_from_slice(&port.to_be_bytes());
            let want = ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi);
            assert_eq!(run(&f, &hdr) != 0, want, "port {port}");
        }
        assert_eq!(port_filter(2, &[(0, 65535)]), None);
        let none = port_filter(2, &[]).unwrap();
        assert_eq!(
            run(&none, &[0, 0, 0, 80]),
            0,
            "an empty list passes nothing"
        );
    }

    #[test]
    fn xbind_rules() {
        assert!(from_env(&env(&[])).unwrap().is_empty());
        assert!(from_env(&env(&[("XSOCKET", "@x")])).unwrap().is_empty());
        let r = from_env(&env(&[("XBIND", "3000  8080")])).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].ports, Some((3000, 3000)));
        assert_eq!(r[1].action, Action::Netns(DEFAULT_SERVER.into()));
        assert_eq!(
            r[0].ty, None,
            "no distinction between TCP and UDP, as libxbind"
        );
        let r = from_env(&env(&[("XBIND", "*"), ("XSOCKET", "@xs")])).unwrap();
        assert_eq!((r.len(), r[0].ports), (1, None));
        assert_eq!(r[0].action, Action::Netns("@xs".into()));
        let e = from_env(&env(&[("XBIND", "3000 http")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("XBIND: 'http' is not a port"), "{e}");
        assert!(from_env(&env(&[("XBIND", "0")])).is_err());
        assert!(from_env(&env(&[("XBIND", "3000,3001")])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(rec in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let _ = decode_request(&rec);
            let _ = decode_reply(&rec);
            if let Ok(req) = decode_request(&rec) {
                proptest::prop_assert_eq!(encode_request(&req).to_vec(), rec);
            }
        }
    }
}
