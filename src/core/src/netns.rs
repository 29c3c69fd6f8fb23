//! The socket-server protocol: a program in one network namespace asks a server running in
//! another for a socket there (xsocket's idea, with authentication and an allow list).
//!
//! Over an AF_UNIX SOCK_SEQPACKET connection, one request record and one reply record:
//!
//! request (client → server), big-endian:
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `SXQ2` |
//! | 4 | 1 | operation: 1 = bind, 2 = connect |
//! | 5 | 1 | flags: bit 0 = listen after binding (bind only); other bits must be 0 |
//! | 6 | 2 | length N of the sockaddr that follows (≤ 128) |
//! | 8 | 4 | domain (AF_INET 2, AF_INET6 10) |
//! | 12 | 4 | type (SOCK_STREAM 1 or SOCK_DGRAM 2, exactly: no flags) |
//! | 16 | 4 | protocol: 0, or the type's plain protocol (IPPROTO_TCP 6 / IPPROTO_UDP 17) |
//! | 20 | N | the sockaddr the program passed to bind/connect (its family = domain) |
//!
//! reply (server → client): magic `SXR2`, then errno as i32. The server performs the whole
//! operation it authorizes before it hands a socket over, so a socket is never handed out
//! unaimed: for `bind` it binds (and listens, if asked) and replies 0 with the socket; for
//! `connect` it starts a non-blocking connect and replies 0 (connected) or EINPROGRESS (the
//! handshake continues; the client waits for writability and reads SO_ERROR as after its own
//! non-blocking connect), with the socket. Any other errno comes without a socket. A request
//! with file descriptors attached, or malformed in any way, is answered with an error.
//!
//! What the kernel lets the holder of a socket still do (connect(AF_UNSPEC) dissolves a TCP
//! connection and the socket may then be aimed anew) is fenced by a locked socket filter the
//! server attaches; see docs/router.md, *socket-server*.

pub const REQUEST_MAGIC: [u8; 4] = *b"SXQ2";
pub const REPLY_MAGIC: [u8; 4] = *b"SXR2";
/// Request flag: listen after binding.
pub const FLAG_LISTEN: u8 = 1;
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
    /// `FLAG_*` bits.
    pub flags: u8,
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
    out[5] = req.flags;
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
    let flags = rec[5];
    if flags & !FLAG_LISTEN != 0 || (flags != 0 && op != Op::Bind) {
        return Err("unknown flags");
    }
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
        flags,
        sockaddr: &rec[HEADER_LEN..],
    })
}

/// Why a decoded request asks for something the server never creates, whatever its allow
/// list: a family other than IPv4/IPv6, a type other than plain stream/datagram, a protocol
/// other than 0 or the type's own (MPTCP, SCTP, UDP-Lite, ICMP "ping" sockets), or a sockaddr
/// of another family than the socket. Returns (errno, reason).
pub fn check_kind(req: &Request) -> Result<(), (i32, &'static str)> {
    if req.domain != libc::AF_INET && req.domain != libc::AF_INET6 {
        return Err((libc::EAFNOSUPPORT, "the family is not inet or inet6"));
    }
    let plain = match req.ty {
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
    let sa_family = match req.sockaddr {
        [a, b, ..] => i32::from(u16::from_ne_bytes([*a, *b])),
        _ => -1,
    };
    if sa_family != req.domain {
        return Err((
            libc::EAFNOSUPPORT,
            "the address is not of the socket's family",
        ));
    }
    Ok(())
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

/// What a client makes of the server's reply to an `op` request: the socket's status (0, or
/// EINPROGRESS for a connect under way) when a well-formed success came with exactly one fd
/// (`fds`), the server's errno for a refusal, EPROTO for anything else. The caller closes any
/// fd it received when this is an error.
pub fn reply_outcome(reply: &[u8], fds: usize, op: Op) -> Result<i32, i32> {
    match (decode_reply(reply), fds) {
        (Some(0), 1) => Ok(0),
        (Some(libc::EINPROGRESS), 1) if op == Op::Connect => Ok(libc::EINPROGRESS),
        (Some(e), _) if e > 0 && e != libc::EINPROGRESS => Err(e),
        _ => Err(libc::EPROTO),
    }
}

/// At most this many port ranges (the socket filter's jumps must reach past them).
pub const MAX_ALLOW: usize = 100;

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
                crate::decimal::parse::<u16>(s).ok_or_else(|| format!("'{spec}': bad port '{s}'"))
            };
            (p(a)?, p(b)?)
        };
        if lo > hi {
            return Err(format!("'{spec}': empty port range"));
        }
        if self.ports.len() >= MAX_ALLOW {
            return Err(format!("'{spec}': more than {MAX_ALLOW} port ranges"));
        }
        self.ports.push((ty, lo, hi));
        Ok(())
    }

    /// The classic BPF socket filter (code, jt, jf, k) the server locks onto a socket it hands
    /// out, or None when none is needed. It is what keeps a handed-out socket on the allow list
    /// after the kernel let its holder dissolve and re-aim it (connect(AF_UNSPEC)): the filter
    /// runs on every packet the socket receives, with the transport header at offset 0.
    /// - `connect`: only packets from an allowed source port of the type get in, so a socket
    ///   re-aimed at a port off the list never completes a handshake nor hears a reply.
    /// - `bind` of a stream socket: no SYN+ACK gets in (a listener and the connections it
    ///   accepts never receive one), so the bound socket cannot connect out from its port.
    /// - `bind` of a datagram socket: none (see docs/router.md on what UDP cannot fence).
    pub fn socket_filter(&self, op: Op, ty: i32) -> Option<Vec<(u16, u8, u8, u32)>> {
        const LD_H_ABS: u16 = 0x28;
        const LD_B_ABS: u16 = 0x30;
        const AND_K: u16 = 0x54;
        const JEQ_K: u16 = 0x15;
        const JGE_K: u16 = 0x35;
        const JGT_K: u16 = 0x25;
        const RET_K: u16 = 0x06;
        const DROP: (u16, u8, u8, u32) = (RET_K, 0, 0, 0);
        const ACCEPT: (u16, u8, u8, u32) = (RET_K, 0, 0, u32::MAX);
        match (op, ty) {
            (Op::Bind, libc::SOCK_STREAM) => {
                const SYN_ACK: u32 = 0x12;
                Some(vec![
                    (LD_B_ABS, 0, 0, 13), // TCP flags
                    (AND_K, 0, 0, SYN_ACK),
                    (JEQ_K, 0, 1, SYN_ACK),
                    DROP,
                    ACCEPT,
                ])
            }
            (Op::Bind, _) => None,
            (Op::Connect, _) => {
                let ranges: Vec<(u16, u16)> = self
                    .ports
                    .iter()
                    .filter(|p| p.0 == ty)
                    .map(|p| (p.1, p.2))
                    .collect();
                if ranges.iter().any(|&(lo, hi)| lo == 0 && hi == u16::MAX) {
                    return None;
                }
                // ldh [0]; per range: jge lo, jgt hi; drop; accept. Jumps are 8-bit and
                // forward: MAX_ALLOW ranges keep them in reach.
                let n = ranges.len().min(MAX_ALLOW);
                let mut prog = vec![(LD_H_ABS, 0, 0, 0)]; // source port
                for (k, &(lo, hi)) in ranges.iter().take(n).enumerate() {
                    prog.push((JGE_K, 0, 1, u32::from(lo)));
                    prog.push((JGT_K, 0, (2 * (n - k) - 1) as u8, u32::from(hi)));
                }
                prog.push(DROP);
                prog.push(ACCEPT);
                Some(prog)
            }
        }
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
            flags: 0,
            sockaddr: &sa,
        };
        let mut out = [0u8; MAX_REQUEST];
        let n = encode_request(&req, &mut out).unwrap();
        assert_eq!(
            &out[..20],
            &[b'S', b'X', b'Q', b'2', 1, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(n, 36);
        assert_eq!(decode_request(&out[..n]).unwrap(), req);
        assert_eq!(
            decode_request(&out[..n - 1]),
            Err("sockaddr length does not match the record")
        );
        assert_eq!(encode_reply(98), *b"SXR2\0\0\0\x62");
        assert_eq!(decode_reply(b"SXR2\0\0\0\x62"), Some(98));
        assert_eq!(decode_reply(b"SXR1\0\0\0\x62"), None);
        let mut listen = out;
        listen[5] = FLAG_LISTEN;
        assert_eq!(decode_request(&listen[..n]).unwrap().flags, FLAG_LISTEN);
        listen[4] = 2;
        assert_eq!(decode_request(&listen[..n]), Err("unknown flags"));
        listen[5] = 2;
        assert_eq!(decode_request(&listen[..n]), Err("unknown flags"));
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
        for bad in ["tcp:+80", "tcp:080", "tcp:80-+90", "tcp:80-090", "tcp: 80"] {
            assert!(a.add_ports(bad).is_err(), "{bad}");
        }
        assert!(a.add_ports("tcp:9-8").is_err());
    }

    #[test]
    fn kinds() {
        let v4 = [2u8, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let req = |domain, ty, protocol| Request {
            op: Op::Connect,
            domain,
            ty,
            protocol,
            flags: 0,
            sockaddr: &v4,
        };
        let s = libc::SOCK_STREAM;
        let d = libc::SOCK_DGRAM;
        assert_eq!(check_kind(&req(libc::AF_INET, s, 0)), Ok(()));
        assert_eq!(
            check_kind(&req(libc::AF_INET, s, libc::IPPROTO_TCP)),
            Ok(())
        );
        assert_eq!(
            check_kind(&req(libc::AF_INET, d, libc::IPPROTO_UDP)),
            Ok(())
        );
        for (ty, proto) in [
            (s, 262),
            (s, libc::IPPROTO_SCTP),
            (d, 136),
            (d, libc::IPPROTO_ICMP),
            (d, libc::IPPROTO_TCP),
            (s, libc::IPPROTO_UDP),
        ] {
            assert!(
                check_kind(&req(libc::AF_INET, ty, proto)).is_err(),
                "{ty} {proto}"
            );
        }
        for ty in [
            libc::SOCK_RAW,
            libc::SOCK_SEQPACKET,
            s | libc::SOCK_NONBLOCK,
            0,
        ] {
            assert!(check_kind(&req(libc::AF_INET, ty, 0)).is_err(), "{ty}");
        }
        for fam in [
            libc::AF_PACKET,
            libc::AF_NETLINK,
            libc::AF_UNIX,
            libc::AF_INET6,
        ] {
            assert!(check_kind(&req(fam, s, 0)).is_err(), "{fam}");
        }
    }

    /// Runs a filter the way the kernel's classic BPF interpreter would, for the few opcodes
    /// socket_filter emits.
    fn run(prog: &[(u16, u8, u8, u32)], pkt: &[u8]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            match code {
                0x28 => a = u32::from(u16::from_be_bytes([pkt[k as usize], pkt[k as usize + 1]])),
                0x30 => a = u32::from(pkt[k as usize]),
                0x54 => a &= k,
                0x06 => return k,
                0x15 | 0x35 | 0x25 => {
                    let t = match code {
                        0x15 => a == k,
                        0x35 => a >= k,
                        _ => a > k,
                    };
                    pc += usize::from(if t { jt } else { jf });
                }
                _ => panic!("opcode {code:#x}"),
            }
        }
    }

    #[test]
    fn filters() {
        let mut a = AllowList {
            families: vec![libc::AF_INET],
            ..Default::default()
        };
        a.add_ports("tcp:8000-8001").unwrap();
        a.add_ports("tcp:80").unwrap();
        a.add_ports("udp:53").unwrap();
        let f = a.socket_filter(Op::Connect, libc::SOCK_STREAM).unwrap();
        for port in 0..=u16::MAX {
            let mut hdr = [0u8; 20];
            hdr[..2].copy_from_slice(&port.to_be_bytes());
            let want = a.allows(libc::AF_INET, libc::SOCK_STREAM, port);
            assert_eq!(run(&f, &hdr) != 0, want, "tcp port {port}");
        }
        let f = a.socket_filter(Op::Connect, libc::SOCK_DGRAM).unwrap();
        assert_eq!(run(&f, &[0, 53, 0, 0]), u32::MAX);
        assert_eq!(run(&f, &[0, 54, 0, 0]), 0);
        let f = a.socket_filter(Op::Bind, libc::SOCK_STREAM).unwrap();
        for flags in 0..=255u8 {
            let mut hdr = [0u8; 20];
            hdr[13] = flags;
            assert_eq!(run(&f, &hdr) == 0, flags & 0x12 == 0x12, "flags {flags:#x}");
        }
        assert_eq!(a.socket_filter(Op::Bind, libc::SOCK_DGRAM), None);
        a.add_ports("tcp:*").unwrap();
        assert_eq!(a.socket_filter(Op::Connect, libc::SOCK_STREAM), None);
        let mut many = AllowList::default();
        for p in 0..MAX_ALLOW as u16 {
            many.add_ports(&format!("tcp:{}", 2 * p + 1)).unwrap();
        }
        assert!(many.add_ports("tcp:1000").is_err());
        let f = many.socket_filter(Op::Connect, libc::SOCK_STREAM).unwrap();
        for port in 0..400u16 {
            let want = port % 2 == 1 && port < 2 * MAX_ALLOW as u16;
            assert_eq!(run(&f, &port.to_be_bytes()) != 0, want, "port {port}");
        }
    }

    proptest! {
        #[test]
        fn decoder_never_panics(rec in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_request(&rec);
            let _ = decode_reply(&rec);
        }
    }

    #[test]
    fn reply_outcomes() {
        let ok = encode_reply(0);
        let busy = encode_reply(libc::EINPROGRESS);
        let refused = encode_reply(libc::EACCES);
        assert_eq!(reply_outcome(&ok, 1, Op::Bind), Ok(0));
        assert_eq!(
            reply_outcome(&ok, 0, Op::Bind),
            Err(libc::EPROTO),
            "success without a socket"
        );
        assert_eq!(
            reply_outcome(&ok, 2, Op::Bind),
            Err(libc::EPROTO),
            "two sockets"
        );
        assert_eq!(reply_outcome(&busy, 1, Op::Connect), Ok(libc::EINPROGRESS));
        assert_eq!(
            reply_outcome(&busy, 1, Op::Bind),
            Err(libc::EPROTO),
            "a bind is never under way"
        );
        assert_eq!(reply_outcome(&refused, 0, Op::Connect), Err(libc::EACCES));
        assert_eq!(reply_outcome(&refused, 1, Op::Connect), Err(libc::EACCES));
        assert_eq!(reply_outcome(b"junk", 1, Op::Connect), Err(libc::EPROTO));
    }
}
