//! Socket addresses as bytes: decoding what a program passes to `bind`/`connect`, and encoding
//! the addresses we report back, in the family of the program's own socket and truncated to its
//! buffer exactly as the kernel truncates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// An IP socket address as the program sees it.
pub type IpEndpoint = SocketAddr;

pub const SOCKADDR_IN_LEN: usize = 16;
pub const SOCKADDR_IN6_LEN: usize = 28;
/// `offsetof(struct sockaddr_un, sun_path)`.
pub const SUN_PATH_OFFSET: usize = 2;
/// `sizeof(sun_path)`.
pub const SUN_PATH_LEN: usize = 108;

/// The name of a Unix socket, borrowed from a sockaddr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixName<'a> {
    /// A filesystem path (without the terminating NUL).
    Path(&'a [u8]),
    /// An abstract name (without the leading NUL).
    Abstract(&'a [u8]),
    /// No name (an unbound or autobound-by-connect socket).
    Unnamed,
}

/// What a sockaddr passed by a program contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    Ip(SocketAddr),
    Unix(UnixName<'a>),
    /// Another family, or too short to be what its family says.
    Other(i32),
}

fn family_of(bytes: &[u8]) -> Option<i32> {
    Some(u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]) as i32)
}

/// Decodes a sockaddr of `bytes.len()` bytes (the program's `addrlen`).
pub fn decode(bytes: &[u8]) -> Decoded<'_> {
    let Some(family) = family_of(bytes) else {
        return Decoded::Other(-1);
    };
    match family {
        libc::AF_INET if bytes.len() >= SOCKADDR_IN_LEN => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Decoded::Ip(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 if bytes.len() >= SOCKADDR_IN6_LEN => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let flow = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[8..24]);
            let scope = u32::from_ne_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
            let ip = Ipv6Addr::from(octets);
            Decoded::Ip(SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope)))
        }
        libc::AF_UNIX => Decoded::Unix(decode_unix(bytes)),
        other => Decoded::Other(other),
    }
}

fn decode_unix(bytes: &[u8]) -> UnixName<'_> {
    let path = bytes.get(SUN_PATH_OFFSET..).unwrap_or(&[]);
    let path = &path[..path.len().min(SUN_PATH_LEN)];
    match path.first() {
        None => UnixName::Unnamed,
        Some(0) => UnixName::Abstract(&path[1..]),
        Some(_) => {
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            UnixName::Path(&path[..end])
        }
    }
}

/// An IPv4-mapped IPv6 address counts as the IPv4 address (Java binds IPv4 that way).
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The loopback address a socket of `family` would report; `mapped` selects
/// `::ffff:127.0.0.1` for an AF_INET6 socket that works with IPv4.
pub fn loopback(family: i32, mapped: bool) -> IpAddr {
    match (family, mapped) {
        (libc::AF_INET6, false) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (libc::AF_INET6, true) => IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// The wildcard address a socket of `family` reports.
pub fn unspecified(family: i32) -> IpAddr {
    if family == libc::AF_INET6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// Is this an IPv4-mapped IPv6 address?
pub fn is_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// Replaces a wildcard address by the loopback address of the same kind (what an accepted
/// connection on a wildcard listener reports as its local address).
pub fn wildcard_to_loopback(addr: SocketAddr, family: i32) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(loopback(family, false), addr.port())
    } else {
        addr
    }
}

/// Writes `addr` as a sockaddr of `family` (AF_INET or AF_INET6) into `out`, truncated to
/// `out.len()`, and returns the full length, as the kernel reports through `*addrlen`.
/// An IPv4 address written for AF_INET6 becomes IPv4-mapped; an IPv4-mapped address written
/// for AF_INET becomes plain IPv4.
pub fn encode_ip(addr: SocketAddr, family: i32, out: &mut [u8]) -> usize {
    let mut full = [0u8; SOCKADDR_IN6_LEN];
    let len = if family == libc::AF_INET6 {
        let v6 = match addr {
            SocketAddr::V6(v6) => v6,
            SocketAddr::V4(v4) => SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
        };
        full[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        full[2..4].copy_from_slice(&v6.port().to_be_bytes());
        full[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
        full[8..24].copy_from_slice(&v6.ip().octets());
        full[24..28].copy_from_slice(&v6.scope_id().to_ne_bytes());
        SOCKADDR_IN6_LEN
    } else {
        let ip = match canonical_ip(addr.ip()) {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        full[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        full[2..4].copy_from_slice(&addr.port().to_be_bytes());
        full[4..8].copy_from_slice(&ip.octets());
        SOCKADDR_IN_LEN
    };
    let n = out.len().min(len);
    out[..n].copy_from_slice(&full[..n]);
    len
}

/// A `struct sockaddr_un` built in place.
#[derive(Debug, Clone, Copy)]
pub struct UnixSockaddr {
    pub bytes: [u8; SUN_PATH_OFFSET + SUN_PATH_LEN],
    pub len: usize,
}

/// The name is longer than `sun_path` can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTooLong;

impl UnixSockaddr {
    /// An empty sockaddr; `len` 2 asks the kernel to autobind an abstract name.
    pub fn unnamed() -> Self {
        let mut bytes = [0u8; SUN_PATH_OFFSET + SUN_PATH_LEN];
        bytes[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        UnixSockaddr {
            bytes,
            len: SUN_PATH_OFFSET,
        }
    }

    /// A path sockaddr; the path must leave room for its NUL.
    pub fn path(path: &[u8]) -> Result<Self, NameTooLong> {
        let mut sa = Self::unnamed();
        if path.is_empty() || path.len() >= SUN_PATH_LEN || path.contains(&0) {
            return Err(NameTooLong);
        }
        sa.bytes[SUN_PATH_OFFSET..SUN_PATH_OFFSET + path.len()].copy_from_slice(path);
        sa.len = SUN_PATH_OFFSET + path.len() + 1;
        Ok(sa)
    }

    /// An abstract sockaddr (the leading NUL is added here).
    pub fn abstract_name(name: &[u8]) -> Result<Self, NameTooLong> {
        let mut sa = Self::unnamed();
        if name.len() + 1 > SUN_PATH_LEN {
            return Err(NameTooLong);
        }
        sa.bytes[SUN_PATH_OFFSET + 1..SUN_PATH_OFFSET + 1 + name.len()].copy_from_slice(name);
        sa.len = SUN_PATH_OFFSET + 1 + name.len();
        Ok(sa)
    }

    pub fn name(&self) -> UnixName<'_> {
        decode_unix(&self.bytes[..self.len])
    }

    /// The filesystem path with its NUL, for `unlink` and friends; None for abstract names.
    pub fn c_path(&self) -> Option<&[u8]> {
        match self.name() {
            UnixName::Path(p) => self
                .bytes
                .get(SUN_PATH_OFFSET..SUN_PATH_OFFSET + p.len() + 1),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ipv4_roundtrip_and_truncation() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut buf = [0xAAu8; 32];
        assert_eq!(encode_ip(a, libc::AF_INET, &mut buf), 16);
        assert_eq!(decode(&buf[..16]), Decoded::Ip(a));
        assert_eq!(buf[16], 0xAA, "wrote past the sockaddr");
        let mut short = [0xAAu8; 6];
        assert_eq!(encode_ip(a, libc::AF_INET, &mut short), 16);
        assert_eq!(&short[2..4], &8080u16.to_be_bytes());
    }

    #[test]
    fn families_convert() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut buf = [0u8; 28];
        encode_ip(v4, libc::AF_INET6, &mut buf);
        let Decoded::Ip(back) = decode(&buf) else {
            panic!()
        };
        assert_eq!(back.to_string(), "[::ffff:127.0.0.1]:80");
        let mut b4 = [0u8; 16];
        encode_ip(back, libc::AF_INET, &mut b4);
        assert_eq!(decode(&b4), Decoded::Ip(v4));
    }

    #[test]
    fn unix_names() {
        let sa = UnixSockaddr::path(b"/tmp/x.sock").unwrap();
        assert_eq!(
            decode(&sa.bytes[..sa.len]),
            Decoded::Unix(UnixName::Path(b"/tmp/x.sock"))
        );
        assert_eq!(sa.c_path().unwrap(), b"/tmp/x.sock\0");
        let ab = UnixSockaddr::abstract_name(b"app-80").unwrap();
        assert_eq!(
            decode(&ab.bytes[..ab.len]),
            Decoded::Unix(UnixName::Abstract(b"app-80"))
        );
        assert!(ab.c_path().is_none());
        assert!(UnixSockaddr::path(&[b'a'; 108]).is_err());
        assert!(UnixSockaddr::path(&[b'a'; 107]).is_ok());
        assert_eq!(decode(&[1, 0]), Decoded::Unix(UnixName::Unnamed));
    }

    #[test]
    fn short_input_is_other() {
        assert_eq!(decode(&[]), Decoded::Other(-1));
        let mut b = [0u8; 10];
        b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(decode(&b), Decoded::Other(libc::AF_INET));
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(ip in any::<[u8; 16]>(), port: u16, flow: u32, scope: u32) {
            let a = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope));
            let mut buf = [0u8; 28];
            prop_assert_eq!(encode_ip(a, libc::AF_INET6, &mut buf), 28);
            prop_assert_eq!(decode(&buf), Decoded::Ip(a));
        }

        #[test]
        fn truncation_never_overflows(len in 0usize..40, port: u16) {
            let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), port);
            let mut buf = vec![0xEEu8; 64];
            let full = encode_ip(a, libc::AF_INET6, &mut buf[..len]);
            prop_assert_eq!(full, 28);
            prop_assert!(buf[len..].iter().all(|&b| b == 0xEE));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..140)) {
            let _ = decode(&bytes);
        }
    }
}
