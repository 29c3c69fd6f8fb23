//! The socket-server protocol: a program in one network namespace asks a server running in
//! another for a socket there (xsocket's idea, with authentication and an allow list).
//!
//! Over an AF_UNIX SOCK_SEQPACKET connection, one request record and one reply record:
//!
//! request (client → server), big-endian:
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `SXQ1` |
//! | 4 | 1 | operation: 1 = bind, 2 = connect |
//! | 5 | 1 | reserved, 0 |
//! | 6 | 2 | length N of the sockaddr that follows (≤ 128) |
//! | 8 | 4 | domain (AF_INET 2, AF_INET6 10) |
//! | 12 | 4 | type (SOCK_STREAM 1, SOCK_DGRAM 2; flags stripped) |
//! | 16 | 4 | protocol |
//! | 20 | N | the sockaddr the program passed to bind/connect |
//!
//! reply (server → client): magic `SXR1`, then errno as i32 (0 = success); on success the
//! record carries the new socket as one SCM_RIGHTS fd. For `bind` the server has bound the
//! socket itself (so it can check the port and bind privileged ports); for `connect` the
//! client connects it. Any malformed request is answered with EINVAL and the connection closed.

pub const REQUEST_MAGIC: [u8; 4] = *b"SXQ1";
pub const REPLY_MAGIC: [u8; 4] = *b"SXR1";
pub const HEADER_LEN: usize = 20;
pub const MAX_SOCKADDR: usize = 128;
pub const MAX_REQUEST: usize = HEADER_LEN + MAX_SOCKADDR;
pub const REPLY_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Bind = 1,
    Connect = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub op: Op,
    pub domain: i32,
    pub ty: i32,
    pub protocol: i32,
    pub sockaddr: &'a [u8],
}

/// Writes `req` into `out`; returns its length, or None if `out` is too small or the sockaddr
/// too long.
pub fn encode_request(req: &Request, out: &mut [u8]) -> Option<usize> {
    let n = req.sockaddr.len();
    if n > MAX_SOCKADDR || out.len() < HEADER_LEN + n {
        return None;
    }
    out[..4].copy_from_slice(&REQUEST_MAGIC);
    out[4] = req.op as u8;
    out[5] = 0;
    out[6..8].copy_from_slice(&(n as u16).to_be_bytes());
    out[8..12].copy_from_slice(&req.domain.to_be_bytes());
    out[12..16].copy_from_slice(&req.ty.to_be_bytes());
    out[16..20].copy_from_slice(&req.protocol.to_be_bytes());
    out[HEADER_LEN..HEADER_LEN + n].copy_from_slice(req.sockaddr);
    Some(HEADER_LEN + n)
}

/// Decodes a request record; an error names what is wrong. Never panics.
pub fn decode_request(rec: &[u8]) -> Result<Request<'_>, &'static str> {
    if rec.len() < HEADER_LEN {
        return Err("request shorter than its header");
    }
    if rec[..4] != REQUEST_MAGIC {
        return Err("bad magic");
    }
    let op = match rec[4] {
        1 => Op::Bind,
        2 => Op::Connect,
        _ => return Err("unknown operation"),
    };
    let n = u16::from_be_bytes([rec[6], rec[7]]) as usize;
    if n > MAX_SOCKADDR || rec.len() != HEADER_LEN + n {
        return Err("sockaddr length does not match the record");
    }
    let int = |o: usize| i32::from_be_bytes([rec[o], rec[o + 1], rec[o + 2], rec[o + 3]]);
    Ok(Request {
        op,
        domain: int(8),
        ty: int(12),
        protocol: int(16),
        sockaddr: &rec[HEADER_LEN..],
    })
}

pub fn encode_reply(errno: i32) -> [u8; REPLY_LEN] {
    let mut r = [0u8; REPLY_LEN];
    r[..4].copy_from_slice(&REPLY_MAGIC);
    r[4..].copy_from_slice(&errno.to_be_bytes());
    r
}

/// The errno of a reply record (0 = success), or None if it is not a reply.
pub fn decode_reply(rec: &[u8]) -> Option<i32> {
    (rec.len() == REPLY_LEN && rec[..4] == REPLY_MAGIC)
        .then(|| i32::from_be_bytes([rec[4], rec[5], rec[6], rec[7]]))
}

/// What a server allows: families, types and port ranges per type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList {
    /// (type, low port, high port); empty = nothing allowed.
    pub ports: Vec<(i32, u16, u16)>,
    /// Allowed families (AF_INET, AF_INET6).
    pub families: Vec<i32>,
}

impl AllowList {
    /// Parses `tcp:80`, `udp:5000-5099`, `tcp:*`.
    pub fn add_ports(&mut self, spec: &str) -> Result<(), String> {
        let (ty, ports) = spec
            .split_once(':')
            .ok_or_else(|| format!("'{spec}': expected tcp:PORT[-PORT] or udp:PORT[-PORT]"))?;
        let ty = match ty {
            "tcp" => libc::SOCK_STREAM,
            "udp" => libc::SOCK_DGRAM,
            _ => return Err(format!("'{spec}': the type must be tcp or udp")),
        };
        let (lo, hi) = if ports == "*" {
            (0, u16::MAX)
        } else {
            let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
            let p = |s: &str| {
                s.parse::<u16>()
                    .map_err(|_| format!("'{spec}': bad port '{s}'"))
            };
            (p(a)?, p(b)?)
        };
        if lo > hi {
            return Err(format!("'{spec}': empty port range"));
        }
        self.ports.push((ty, lo, hi));
        Ok(())
    }

    pub fn allows(&self, domain: i32, ty: i32, port: u16) -> bool {
        self.families.contains(&domain)
            && self
                .ports
                .iter()
                .any(|&(t, lo, hi)| t == ty && (lo..=hi).contains(&port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_bytes() {
        let sa = [2u8, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let req = Request {
            op: Op::Bind,
            domain: 2,
            ty: 1,
            protocol: 0,
            sockaddr: &sa,
        };
        let mut out = [0u8; MAX_REQUEST];
        let n = encode_request(&req, &mut out).unwrap();
        assert_eq!(
            &out[..20],
            &[b'S', b'X', b'Q', b'1', 1, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(n, 36);
        assert_eq!(decode_request(&out[..n]).unwrap(), req);
        assert_eq!(
            decode_request(&out[..n - 1]),
            Err("sockaddr length does not match the record")
        );
        assert_eq!(encode_reply(98), *b"SXR1\0\0\0\x62");
        assert_eq!(decode_reply(b"SXR1\0\0\0\x62"), Some(98));
        assert_eq!(decode_reply(b"SXR2\0\0\0\x62"), None);
    }

    #[test]
    fn allow_list() {
        let mut a = AllowList {
            families: vec![libc::AF_INET],
            ..Default::default()
        };
        a.add_ports("tcp:8000-8099").unwrap();
        assert!(a.allows(libc::AF_INET, libc::SOCK_STREAM, 8042));
        assert!(!a.allows(libc::AF_INET, libc::SOCK_DGRAM, 8042));
        assert!(!a.allows(libc::AF_INET6, libc::SOCK_STREAM, 8042));
        assert!(!a.allows(libc::AF_INET, libc::SOCK_STREAM, 8100));
        assert!(a.add_ports("sctp:1").is_err());
        assert!(a.add_ports("tcp:9-8").is_err());
    }

    proptest! {
        #[test]
        fn decoder_never_panics(rec in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_request(&rec);
            let _ = decode_reply(&rec);
        }
    }
}
