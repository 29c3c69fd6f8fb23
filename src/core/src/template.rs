//! Path templates: `/run/app/%a-%p.%t.sock`. Parsed once at load; expanded inside hooks into a
//! caller-provided buffer, so expansion never allocates.

use std::fmt::{self, Write};
use std::net::IpAddr;

use crate::addr::canonical_ip;
use crate::rule::SockType;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Addr,
    Port,
    Type,
    /// `%P`: the port as five digits (socketbox-preload's `_@SB_` substitution).
    Port5,
    /// `%s`: socketbox-preload's file name for the address and port, `XXXXX/YYYYY_PPPPP`.
    SocketboxName,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    source: String,
}

/// What a template is expanded with.
#[derive(Debug, Clone, Copy)]
pub struct Fill {
    pub ip: IpAddr,
    pub port: u16,
    pub ty: SockType,
}

/// The expansion does not fit the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

impl Template {
    /// Parses `%a`, `%p`, `%t`, `%P`, `%s` and `%%`; any other `%` sequence is an error naming it.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.is_empty() {
            return Err("empty path".into());
        }
        if text.as_bytes().contains(&0) {
            return Err("NUL byte in path".into());
        }
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut bytes = text.bytes();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                lit.push(b);
                continue;
            }
            let piece = match bytes.next() {
                Some(b'%') => {
                    lit.push(b'%');
                    continue;
                }
                Some(b'a') => Piece::Addr,
                Some(b'p') => Piece::Port,
                Some(b't') => Piece::Type,
                Some(b'P') => Piece::Port5,
                Some(b's') => Piece::SocketboxName,
                Some(other) => return Err(format!("unknown placeholder '%{}'", other as char)),
                None => return Err("'%' at the end of the path".into()),
            };
            if !lit.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut lit)));
            }
            pieces.push(piece);
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Template {
            pieces,
            source: text.to_owned(),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does the expansion depend on the call at all (any `%a`, `%p`, `%t`)?
    pub fn has_placeholders(&self) -> bool {
        self.pieces.iter().any(|p| !matches!(p, Piece::Text(_)))
    }

    /// The length of the shortest possible expansion (`%a` at least `::`, `%p` one digit, `%t`
    /// three letters); for a template without placeholders, its exact length.
    pub fn min_len(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                Piece::Addr => 2,
                Piece::Port => 1,
                Piece::Type => 3,
                Piece::Port5 => 5,
                // `DDDDD/FFFFF_PPPPP` (or `XDDDD/...`): always 17.
                Piece::SocketboxName => 17,
            })
            .sum()
    }

    /// Does the expansion depend on the port? (If not, `bind(port 0)` needs only one path.)
    pub fn uses_port(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Port | Piece::Port5 | Piece::SocketboxName))
    }

    /// Expands into `out`, returning the length written.
    pub fn expand(&self, fill: Fill, out: &mut [u8]) -> Result<usize, TooLong> {
        let mut w = SliceWriter { buf: out, len: 0 };
        for piece in &self.pieces {
            let r = match piece {
                Piece::Text(t) => w.put(t),
                Piece::Addr => write!(w, "{}", canonical_ip(fill.ip)),
                Piece::Port => write!(w, "{}", fill.port),
                Piece::Type => w.write_str(fill.ty.name()),
                Piece::Port5 => write!(w, "{:05}", fill.port),
                Piece::SocketboxName => {
                    let (dir, file, mark) = socketbox_name_parts(fill.ip);
                    let port = fill.port;
                    if mark {
                        // The first of the five digits gives way to an `X`, as in socketbox.
                        write!(w, "X{:04}/{file:05}_{port:05}", dir % 10000)
                    } else {
                        write!(w, "{dir:05}/{file:05}_{port:05}")
                    }
                }
            };
            r.map_err(|_| TooLong)?;
        }
        Ok(w.len)
    }
}

/// The two numbers (IPv6 groups 6 and 7 after socketbox-preload's mapping) that name the file of
/// an address, and whether the name starts with `X` (everything but `fe8f::/32`): `fe8f::M:X:Y`
/// gives X, Y; `127.180.C.D` (and any IPv4 `A.B.C.D`) gives 4000+C, D; `0.0.0.0` gives 4, 0;
/// `::` (and other IPv6) its own last two groups.
fn socketbox_name_parts(ip: IpAddr) -> (u16, u16, bool) {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let [_, _, c, d] = v4.octets();
            if v4.is_unspecified() {
                (4, 0, true)
            } else {
                (4000 + u16::from(c), u16::from(d), true)
            }
        }
        IpAddr::V6(v6) => {
            let g = v6.segments();
            (g[6], g[7], g[0] != 0xfe8f || g[1] != 0)
        }
    }
}

/// `fmt::Write` into a fixed slice; running out of room is an error, never a panic.
pub struct SliceWriter<'a> {
    pub buf: &'a mut [u8],
    pub len: usize,
}

impl SliceWriter<'_> {
    pub fn put(&mut self, bytes: &[u8]) -> fmt::Result {
        let end = self.len.checked_add(bytes.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(ip: &str, port: u16) -> Fill {
        Fill {
            ip: ip.parse().unwrap(),
            port,
            ty: SockType::Tcp,
        }
    }

    fn expand(t: &str, f: Fill) -> String {
        let mut buf = [0u8; 108];
        let n = Template::parse(t).unwrap().expand(f, &mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            expand("/run/%a-%p.%t", fill("10.0.0.1", 80)),
            "/run/10.0.0.1-80.tcp"
        );
        assert_eq!(expand("/x/%a", fill("::ffff:127.0.0.1", 1)), "/x/127.0.0.1");
        assert_eq!(expand("/x/%a", fill("0:0:0:0:0:0:0:1", 1)), "/x/::1");
        assert_eq!(expand("100%%", fill("::1", 1)), "100%");
        assert_eq!(expand("/d/%P", fill("::1", 80)), "/d/00080");
    }

    #[test]
    fn socketbox_preload_names() {
        // As socketbox-preload names them under SKBOX_DIRECTORY_ROOT2.
        assert_eq!(
            expand("/r/%s", fill("fe8f::2:7:9", 80)),
            "/r/00007/00009_00080"
        );
        assert_eq!(
            expand("/r/%s", fill("fe8f::3:ffff:1", 443)),
            "/r/65535/00001_00443"
        );
        assert_eq!(
            expand("/r/%s", fill("127.180.1.2", 8080)),
            "/r/X4001/00002_08080"
        );
        assert_eq!(
            expand("/r/%s", fill("127.181.255.0", 1)),
            "/r/X4255/00000_00001"
        );
        assert_eq!(
            expand("/r/%s", fill("0.0.0.0", 8000)),
            "/r/X0004/00000_08000"
        );
        assert_eq!(
            expand("/r/%s", fill("::ffff:0.0.0.0", 8000)),
            "/r/X0004/00000_08000"
        );
        assert_eq!(expand("/r/%s", fill("::", 65535)), "/r/X0000/00000_65535");
        assert!(Template::parse("/r/%s").unwrap().uses_port());
    }

    #[test]
    fn errors() {
        assert!(Template::parse("/x/%q").unwrap_err().contains("%q"));
        assert!(Template::parse("/x/%").is_err());
        assert!(Template::parse("").is_err());
        let t = Template::parse("/very/long/%a/%a/%a").unwrap();
        let mut small = [0u8; 20];
        assert_eq!(
            t.expand(fill("ffff::ffff:ffff:ffff", 1), &mut small),
            Err(TooLong)
        );
    }
}
