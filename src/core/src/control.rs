//! unsock's 452-byte control files, byte-compatible.
//!
//! A control file sits where a socket file would (`$UNSOCK_DIR/P.sock`) and says where the
//! connection really goes: directly to a socket of another family (AF_VSOCK, AF_TIPC, …), or
//! through a Firecracker-style "hybrid vsock" Unix socket (`CONNECT <port>\n`, `OK …\n`).
//! Layout (little-endian, packed, 4-byte aligned):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `55 4e 53 4b 00 00 00 00` (the u64 0x4b534e55, "UNSK") |
//! | 8 | 8 | options; bit 0 = Firecracker proxy |
//! | 16 | 4 | proxy sockaddr length |
//! | 20 | 4 | destination sockaddr length |
//! | 24 | 4 | parameter count (not used by readers) |
//! | 28 | 4 | reserved |
//! | 32 | 128 | proxy sockaddr (a `sockaddr_un`) |
//! | 160 | 128 | destination sockaddr (`sockaddr_vm`, `sockaddr_tipc`, …) |
//! | 288 | 4 × 40 | socket options: u32 level, u32 name, 32-byte value |
//! | 448 | 4 | reserved |
//!
//! A parameter is used when both its level and name are non-zero. Its value is passed to
//! `setsockopt` with the size unsock uses: a `struct timeval` (16 bytes) for `SO_RCVTIMEO` and
//! `SO_SNDTIMEO`, a `struct tipc_group_req` (16 bytes) for `TIPC_GROUP_JOIN`, otherwise a 32-bit
//! integer. Decoding never allocates (the shim decodes inside hooks).

use std::fmt;

/// Size of every control file.
pub const FILE_LEN: usize = 452;
/// The first 8 bytes.
pub const MAGIC: [u8; 8] = [0x55, 0x4e, 0x53, 0x4b, 0, 0, 0, 0];
/// Options bit 0: connect through a Firecracker-style proxy socket.
pub const OPT_FIRECRACKER_PROXY: u64 = 1;
/// Room for each of the two sockaddrs.
pub const SOCKADDR_CAP: usize = 128;
/// Number of socket-option parameters.
pub const PARAMS: usize = 4;
/// Size of a parameter's value field.
pub const PARAM_VALUE_LEN: usize = 32;

const OFF_OPTIONS: usize = 8;
const OFF_PROXY_LEN: usize = 16;
const OFF_DEST_LEN: usize = 20;
const OFF_PARAM_COUNT: usize = 24;
const OFF_PROXY: usize = 32;
const OFF_DEST: usize = 160;
const OFF_PARAMS: usize = 288;
const PARAM_LEN: usize = 40;

const AF_UNIX: u16 = 1;
const AF_VSOCK: u16 = 40;
/// `sizeof(struct sockaddr_vm)`.
pub const SOCKADDR_VM_LEN: usize = 16;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_LEN: usize = 110;
const AF_TIPC: u16 = 30;
/// `sizeof(struct sockaddr_tipc)`.
pub const SOCKADDR_TIPC_LEN: usize = 16;
const SOL_TIPC: u32 = 271;
const TIPC_GROUP_JOIN: u32 = 135;

/// One socket option to apply to the replacement socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub level: u32,
    pub name: u32,
    pub value: [u8; PARAM_VALUE_LEN],
}

impl Param {
    pub const EMPTY: Param = Param {
        level: 0,
        name: 0,
        value: [0; PARAM_VALUE_LEN],
    };

    /// An integer-valued option.
    pub fn int(level: u32, name: u32, v: i32) -> Param {
        let mut value = [0; PARAM_VALUE_LEN];
        value[..4].copy_from_slice(&v.to_le_bytes());
        Param { level, name, value }
    }

    /// A `struct timeval` option (SO_RCVTIMEO, SO_SNDTIMEO).
    pub fn timeval(level: u32, name: u32, secs: i64, usecs: i64) -> Param {
        let mut value = [0; PARAM_VALUE_LEN];
        value[..8].copy_from_slice(&secs.to_le_bytes());
        value[8..16].copy_from_slice(&usecs.to_le_bytes());
        Param { level, name, value }
    }

    /// Readers skip parameters whose level or name is zero.
    pub fn is_set(&self) -> bool {
        self.level != 0 && self.name != 0
    }

    /// Is the value a `struct timeval` (as unsock decides)?
    pub fn is_timeval(&self) -> bool {
        self.level == libc::SOL_SOCKET as u32
            && (self.name == libc::SO_RCVTIMEO as u32 || self.name == libc::SO_SNDTIMEO as u32)
    }

    /// The bytes to pass to `setsockopt`.
    pub fn optval(&self) -> &[u8] {
        let len = if self.is_timeval() || (self.level == SOL_TIPC && self.name == TIPC_GROUP_JOIN) {
            16
        } else {
            4
        };
        &self.value[..len]
    }
}

/// A decoded control file: every field, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlFile {
    pub options: u64,
    pub proxy_len: u32,
    pub dest_len: u32,
    pub param_count: u32,
    pub proxy: [u8; SOCKADDR_CAP],
    pub dest: [u8; SOCKADDR_CAP],
    pub params: [Param; PARAMS],
}

/// Why bytes are not a usable control file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlError {
    /// Not 452 bytes.
    Size(usize),
    /// The first 8 bytes are not the magic.
    Magic,
    /// A sockaddr length beyond its 128-byte field, or too short for its family.
    Length { field: &'static str, len: u32 },
    /// The Firecracker option with a proxy that is not AF_UNIX or a destination that is not
    /// AF_VSOCK.
    Firecracker,
    /// Options other than the Firecracker bit, or a proxy address without that bit.
    UnknownOptions(u64),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Size(n) => write!(f, "a control file has {FILE_LEN} bytes, not {n}"),
            ControlError::Magic => f.write_str("no UNSK magic in the first 8 bytes"),
            ControlError::Length { field, len } => {
                write!(f, "{field} sockaddr length {len} is out of range")
            }
            ControlError::Firecracker => f.write_str(
                "Firecracker proxy file needs an AF_UNIX proxy and an AF_VSOCK destination",
            ),
            ControlError::UnknownOptions(o) => {
                write!(
                    f,
                    "unknown options {o:#x} (only bit 0, Firecracker proxy, exists)"
                )
            }
        }
    }
}

impl std::error::Error for ControlError {}

/// Where a control file sends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A socket of the destination's family bound or connected to `sockaddr`.
    Direct { family: u16, sockaddr: &'a [u8] },
    /// Connect to the Unix socket `proxy` (a sockaddr_un), send `CONNECT <port>\n`.
    Firecracker { proxy: &'a [u8], port: u32 },
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn family_of(sa: &[u8]) -> u16 {
    u16::from_le_bytes([sa[0], sa[1]])
}

/// `struct sockaddr_vm` for `cid:port`.
pub fn sockaddr_vm(cid: u32, port: u32) -> [u8; SOCKADDR_VM_LEN] {
    let mut sa = [0u8; SOCKADDR_VM_LEN];
    sa[0..2].copy_from_slice(&AF_VSOCK.to_le_bytes());
    sa[4..8].copy_from_slice(&port.to_le_bytes());
    sa[8..12].copy_from_slice(&cid.to_le_bytes());
    sa
}

/// (cid, port) of a `struct sockaddr_vm`.
pub fn parse_sockaddr_vm(sa: &[u8]) -> Option<(u32, u32)> {
    if sa.len() < SOCKADDR_VM_LEN || family_of(sa) != AF_VSOCK {
        return None;
    }
    Some((u32_at(sa, 8), u32_at(sa, 4)))
}

impl ControlFile {
    fn empty() -> ControlFile {
        let mut f = ControlFile {
            options: 0,
            proxy_len: 0,
            dest_len: 0,
            param_count: 0,
            proxy: [0; SOCKADDR_CAP],
            dest: [0; SOCKADDR_CAP],
            params: [Param::EMPTY; PARAMS],
        };
        f.dest[..2].copy_from_slice(&0u16.to_le_bytes());
        f
    }

    /// A direct AF_VSOCK file: bind or connect `cid:port` (`cid` u32::MAX = any).
    pub fn vsock(cid: u32, port: u32) -> ControlFile {
        let mut f = ControlFile::empty();
        f.dest[..SOCKADDR_VM_LEN].copy_from_slice(&sockaddr_vm(cid, port));
        f.dest_len = SOCKADDR_VM_LEN as u32;
        f
    }

    /// A Firecracker proxy file: connect to the Unix socket at `path`, ask for guest `port`.
    /// None if the path does not fit a `sockaddr_un` (107 bytes and no NUL).
    pub fn firecracker(path: &[u8], port: u32) -> Option<ControlFile> {
        if path.is_empty() || path.len() >= SOCKADDR_UN_LEN - 2 || path.contains(&0) {
            return None;
        }
        let mut f = ControlFile::vsock(u32::MAX, port);
        f.options = OPT_FIRECRACKER_PROXY;
        f.proxy[..2].copy_from_slice(&AF_UNIX.to_le_bytes());
        f.proxy[2..2 + path.len()].copy_from_slice(path);
        f.proxy_len = SOCKADDR_UN_LEN as u32;
        Some(f)
    }

    /// A direct AF_TIPC file: `struct sockaddr_tipc` with the five values unsock's tool takes
    /// (the meaning of `ty`, `lower`, `upper` depends on `addrtype`).
    pub fn tipc(addrtype: u8, scope: u8, ty: u32, lower: u32, upper: u32) -> ControlFile {
        let mut f = ControlFile::empty();
        f.dest[0..2].copy_from_slice(&AF_TIPC.to_le_bytes());
        f.dest[2] = addrtype;
        f.dest[3] = scope;
        f.dest[4..8].copy_from_slice(&ty.to_le_bytes());
        f.dest[8..12].copy_from_slice(&lower.to_le_bytes());
        f.dest[12..16].copy_from_slice(&upper.to_le_bytes());
        f.dest_len = SOCKADDR_TIPC_LEN as u32;
        f
    }

    /// Adds a parameter in the first free place; false when all four are used.
    pub fn add_param(&mut self, p: Param) -> bool {
        match self.params.iter_mut().find(|q| !q.is_set()) {
            Some(q) => {
                *q = p;
                self.param_count += 1;
                true
            }
            None => false,
        }
    }

    /// The parameters readers apply.
    pub fn active_params(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.is_set())
    }

    /// Reads a control file (checks size and magic only; `target` checks the rest).
    pub fn decode(bytes: &[u8]) -> Result<ControlFile, ControlError> {
        if bytes.len() != FILE_LEN {
            return Err(ControlError::Size(bytes.len()));
        }
        if bytes[..8] != MAGIC {
            return Err(ControlError::Magic);
        }
        let mut f = ControlFile::empty();
        f.options = u64_at(bytes, OFF_OPTIONS);
        f.proxy_len = u32_at(bytes, OFF_PROXY_LEN);
        f.dest_len = u32_at(bytes, OFF_DEST_LEN);
        f.param_count = u32_at(bytes, OFF_PARAM_COUNT);
        f.proxy
            .copy_from_slice(&bytes[OFF_PROXY..OFF_PROXY + SOCKADDR_CAP]);
        f.dest
            .copy_from_slice(&bytes[OFF_DEST..OFF_DEST + SOCKADDR_CAP]);
        for (i, p) in f.params.iter_mut().enumerate() {
            let off = OFF_PARAMS + i * PARAM_LEN;
            p.level = u32_at(bytes, off);
            p.name = u32_at(bytes, off + 4);
            p.value.copy_from_slice(&bytes[off + 8..off + PARAM_LEN]);
        }
        Ok(f)
    }

    /// The 452 bytes (reserved fields zero).
    pub fn encode(&self) -> [u8; FILE_LEN] {
        let mut b = [0u8; FILE_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[OFF_OPTIONS..OFF_OPTIONS + 8].copy_from_slice(&self.options.to_le_bytes());
        b[OFF_PROXY_LEN..OFF_PROXY_LEN + 4].copy_from_slice(&self.proxy_len.to_le_bytes());
        b[OFF_DEST_LEN..OFF_DEST_LEN + 4].copy_from_slice(&self.dest_len.to_le_bytes());
        b[OFF_PARAM_COUNT..OFF_PARAM_COUNT + 4].copy_from_slice(&self.param_count.to_le_bytes());
        b[OFF_PROXY..OFF_PROXY + SOCKADDR_CAP].copy_from_slice(&self.proxy);
        b[OFF_DEST..OFF_DEST + SOCKADDR_CAP].copy_from_slice(&self.dest);
        for (i, p) in self.params.iter().enumerate() {
            let off = OFF_PARAMS + i * PARAM_LEN;
            b[off..off + 4].copy_from_slice(&p.level.to_le_bytes());
            b[off + 4..off + 8].copy_from_slice(&p.name.to_le_bytes());
            b[off + 8..off + PARAM_LEN].copy_from_slice(&p.value);
        }
        b
    }

    /// Where the file sends a connection, with unsock's rules: the Firecracker option alone
    /// with an AF_UNIX proxy and an AF_VSOCK destination → proxy; no options and no proxy →
    /// direct; anything else is refused.
    pub fn target(&self) -> Result<Target<'_>, ControlError> {
        let dest_len = self.dest_len as usize;
        if !(2..=SOCKADDR_CAP).contains(&dest_len) {
            return Err(ControlError::Length {
                field: "destination",
                len: self.dest_len,
            });
        }
        let dest = &self.dest[..dest_len];
        if self.options == OPT_FIRECRACKER_PROXY {
            let proxy_len = self.proxy_len as usize;
            if !(3..=SOCKADDR_UN_LEN).contains(&proxy_len) {
                return Err(ControlError::Length {
                    field: "proxy",
                    len: self.proxy_len,
                });
            }
            if family_of(&self.proxy) != AF_UNIX {
                return Err(ControlError::Firecracker);
            }
            let (_, port) = parse_sockaddr_vm(dest).ok_or(ControlError::Firecracker)?;
            return Ok(Target::Firecracker {
                proxy: &self.proxy[..proxy_len],
                port,
            });
        }
        if self.options != 0 || self.proxy_len != 0 {
            return Err(ControlError::UnknownOptions(self.options));
        }
        let family = family_of(dest);
        if family == AF_VSOCK && dest_len < SOCKADDR_VM_LEN {
            return Err(ControlError::Length {
                field: "destination",
                len: self.dest_len,
            });
        }
        Ok(Target::Direct {
            family,
            sockaddr: dest,
        })
    }
}

/// A vsock CID as users write it: a number, `-1` or `any`, `hypervisor` (0), `local` (1),
/// `host` (2).
pub fn parse_vsock_cid(text: &str) -> Option<u32> {
    Some(match text.trim() {
        "any" | "-1" => u32::MAX,
        "hypervisor" => 0,
        "local" => 1,
        "host" => 2,
        n => n.parse().ok()?,
    })
}

/// The path inside a sockaddr_un's bytes (up to the first NUL).
pub fn sockaddr_un_path(sa: &[u8]) -> &[u8] {
    let path = sa.get(2..).unwrap_or(&[]);
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    &path[..end]
}

fn level_name(level: u32) -> String {
    match level as i32 {
        libc::SOL_SOCKET => "SOL_SOCKET".into(),
        libc::IPPROTO_TCP => "IPPROTO_TCP".into(),
        libc::AF_VSOCK => "AF_VSOCK".into(),
        271 => "SOL_TIPC".into(),
        n => n.to_string(),
    }
}

fn option_name(level: u32, name: u32) -> String {
    let n = name as i32;
    let known = match level as i32 {
        libc::SOL_SOCKET => match n {
            libc::SO_RCVBUF => "SO_RCVBUF",
            libc::SO_SNDBUF => "SO_SNDBUF",
            libc::SO_RCVTIMEO => "SO_RCVTIMEO",
            libc::SO_SNDTIMEO => "SO_SNDTIMEO",
            libc::SO_KEEPALIVE => "SO_KEEPALIVE",
            libc::SO_REUSEADDR => "SO_REUSEADDR",
            libc::SO_PRIORITY => "SO_PRIORITY",
            libc::SO_RCVLOWAT => "SO_RCVLOWAT",
            _ => "",
        },
        _ => "",
    };
    if known.is_empty() {
        name.to_string()
    } else {
        known.to_string()
    }
}

impl fmt::Display for ControlFile {
    /// A human explanation (what `sockswap control show` prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target() {
            Ok(Target::Firecracker { proxy, port }) => writeln!(
                f,
                "hybrid vsock: connect to the Unix socket {}, send \"CONNECT {port}\\n\", expect \"OK ...\\n\" (connect only; bind is refused with EINVAL)",
                String::from_utf8_lossy(sockaddr_un_path(proxy))
            )?,
            Ok(Target::Direct { family, sockaddr }) => match parse_sockaddr_vm(sockaddr) {
                Some((cid, port)) => {
                    let cid = match cid {
                        u32::MAX => "any (-1)".to_string(),
                        1 => "1 (local)".to_string(),
                        2 => "2 (host)".to_string(),
                        c => c.to_string(),
                    };
                    writeln!(f, "AF_VSOCK: CID {cid}, port {port} (bind: listen there; connect: connect there)")?
                }
                None if family == AF_TIPC && sockaddr.len() >= SOCKADDR_TIPC_LEN => writeln!(
                    f,
                    "AF_TIPC: addrtype {}, scope {}, type {}, lower {}, upper {}",
                    sockaddr[2],
                    sockaddr[3],
                    u32_at(sockaddr, 4),
                    u32_at(sockaddr, 8),
                    u32_at(sockaddr, 12)
                )?,
                None => writeln!(
                    f,
                    "direct: a socket of address family {family}, sockaddr of {} bytes",
                    sockaddr.len()
                )?,
            },
            Err(e) => writeln!(f, "unusable: {e}")?,
        }
        for p in self.active_params() {
            let value = if p.is_timeval() {
                let secs = i64::from_le_bytes(p.value[..8].try_into().unwrap_or([0; 8]));
                let usecs = i64::from_le_bytes(p.value[8..16].try_into().unwrap_or([0; 8]));
                format!("{secs}.{usecs:06} s")
            } else if p.optval().len() == 4 {
                i32::from_le_bytes(p.value[..4].try_into().unwrap_or([0; 4])).to_string()
            } else {
                format!("{:02x?}", p.optval())
            };
            writeln!(
                f,
                "socket option: {} {} = {value}",
                level_name(p.level),
                option_name(p.level, p.name)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vsock "any:5678" file as unsock's tool writes it, built by hand.
    fn hand_vsock() -> Vec<u8> {
        let mut b = vec![0u8; 452];
        b[..8].copy_from_slice(&[0x55, 0x4e, 0x53, 0x4b, 0, 0, 0, 0]);
        b[20] = 16; // destLen
        b[160] = 40; // AF_VSOCK
        b[164..168].copy_from_slice(&[0x2e, 0x16, 0, 0]); // port 5678
        b[168..172].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]); // cid -1
        b
    }

    fn hand_firecracker() -> Vec<u8> {
        let mut b = vec![0u8; 452];
        b[..8].copy_from_slice(b"UNSK\0\0\0\0");
        b[8] = 1; // Firecracker option
        b[16] = 110; // proxyLen
        b[20] = 16;
        b[32] = 1; // AF_UNIX
        b[34..34 + 8].copy_from_slice(b"/run/fc0");
        b[160] = 40;
        b[164..168].copy_from_slice(&1024u32.to_le_bytes());
        b[168..172].copy_from_slice(&[0xff; 4]);
        b
    }

    #[test]
    fn decodes_hand_made_vsock_file() {
        let f = ControlFile::decode(&hand_vsock()).unwrap();
        assert_eq!(
            f.target().unwrap(),
            Target::Direct {
                family: 40,
                sockaddr: &sockaddr_vm(u32::MAX, 5678)
            }
        );
        assert_eq!(f.active_params().count(), 0);
        assert_eq!(
            ControlFile::vsock(u32::MAX, 5678).encode().to_vec(),
            hand_vsock()
        );
    }

    #[test]
    fn decodes_hand_made_firecracker_file() {
        let f = ControlFile::decode(&hand_firecracker()).unwrap();
        match f.target().unwrap() {
            Target::Firecracker { proxy, port } => {
                assert_eq!(port, 1024);
                assert_eq!(proxy.len(), 110);
                assert_eq!(sockaddr_un_path(proxy), b"/run/fc0");
            }
            t => panic!("{t:?}"),
        }
        assert_eq!(
            ControlFile::firecracker(b"/run/fc0", 1024)
                .unwrap()
                .encode()
                .to_vec(),
            hand_firecracker()
        );
    }

    #[test]
    fn params_at_their_offsets_with_unsock_sizes() {
        let mut b = hand_vsock();
        // param 0: SOL_SOCKET SO_RCVBUF = 65536 (int)
        b[288..292].copy_from_slice(&1u32.to_le_bytes());
        b[292..296].copy_from_slice(&8u32.to_le_bytes());
        b[296..300].copy_from_slice(&65536i32.to_le_bytes());
        // param 1: SOL_SOCKET SO_SNDTIMEO = 3.5 s (timeval)
        b[328..332].copy_from_slice(&1u32.to_le_bytes());
        b[332..336].copy_from_slice(&21u32.to_le_bytes());
        b[336..344].copy_from_slice(&3i64.to_le_bytes());
        b[344..352].copy_from_slice(&500_000i64.to_le_bytes());
        // param 2: level set, name 0: skipped
        b[368..372].copy_from_slice(&6u32.to_le_bytes());
        b[24] = 2; // count (informational)
        let f = ControlFile::decode(&b).unwrap();
        let ps: Vec<_> = f.active_params().collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].optval(), &65536i32.to_le_bytes());
        assert_eq!(ps[1].optval().len(), 16);
        assert_eq!(&ps[1].optval()[..8], &3i64.to_le_bytes());
        assert_eq!(f.encode().to_vec(), b, "round trip keeps every byte");
        let mut g = ControlFile::vsock(u32::MAX, 5678);
        assert!(g.add_param(Param::int(1, 8, 65536)));
        assert!(g.add_param(Param::timeval(1, 21, 3, 500_000)));
        assert_eq!(g.encode()[288..368], b[288..368]);
        let text = f.to_string();
        assert!(text.contains("SO_RCVBUF = 65536"), "{text}");
        assert!(text.contains("SO_SNDTIMEO = 3.500000 s"), "{text}");
    }

    #[test]
    fn refuses_what_unsock_refuses() {
        assert_eq!(
            ControlFile::decode(&[0u8; 451]),
            Err(ControlError::Size(451))
        );
        let mut b = hand_vsock();
        b[4] = 1;
        assert_eq!(ControlFile::decode(&b), Err(ControlError::Magic));
        let mut b = hand_vsock();
        b[8] = 2; // unknown option
        assert_eq!(
            ControlFile::decode(&b).unwrap().target(),
            Err(ControlError::UnknownOptions(2))
        );
        let mut b = hand_vsock();
        b[16] = 110; // a proxy without the option
        assert!(ControlFile::decode(&b).unwrap().target().is_err());
        let mut b = hand_firecracker();
        b[160] = 30; // destination not AF_VSOCK
        assert_eq!(
            ControlFile::decode(&b).unwrap().target(),
            Err(ControlError::Firecracker)
        );
        let mut b = hand_vsock();
        b[20] = 200; // destination length beyond the field
        assert!(matches!(
            ControlFile::decode(&b).unwrap().target(),
            Err(ControlError::Length { .. })
        ));
        assert!(ControlFile::firecracker(&[b'a'; 108], 1).is_none());
        let mut full = ControlFile::vsock(1, 2);
        for _ in 0..4 {
            assert!(full.add_param(Param::int(1, 8, 1)));
        }
        assert!(!full.add_param(Param::int(1, 8, 1)));
    }

    #[test]
    fn tipc_direct_file_is_generic() {
        let mut b = vec![0u8; 452];
        b[..4].copy_from_slice(b"UNSK");
        b[20] = 16;
        b[160] = 30; // AF_TIPC
        b[162] = 2;
        let f = ControlFile::decode(&b).unwrap();
        assert!(matches!(
            f.target().unwrap(),
            Target::Direct { family: 30, sockaddr } if sockaddr.len() == 16
        ));
    }
}
