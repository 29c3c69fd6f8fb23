//! Converted sockets handed to a new program image: the record of each, carried across `exec`
//! in one environment variable that the shim's exec hooks add and the next image's shim reads.
//!
//! `SOCKSWAP_INHERIT=fd,dev,ino,family,type,protocol,flags,rule,local,peer;...` — numbers in
//! decimal, addresses as `1.2.3.4:80` / `[::1]:80` or `-`. `dev`/`ino` name the socket
//! (fstat), so the reader adopts an entry only for an fd that still holds that very socket:
//! a stale or forged entry, or an fd number reused for something else, is ignored.
//! Writing never allocates (hooks call it); reading happens once at load.

use std::fmt::{self, Write};
use std::net::SocketAddr;

/// The environment variable.
pub const VAR: &str = "SOCKSWAP_INHERIT";

/// One inherited converted socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub fd: i32,
    pub dev: u64,
    pub ino: u64,
    pub family: i32,
    pub sotype: i32,
    pub protocol: i32,
    pub flags: u16,
    pub rule: u16,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
}

struct Addr(Option<SocketAddr>);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("-"),
        }
    }
}

impl Entry {
    /// Writes the entry (without separator).
    pub fn write(&self, w: &mut impl Write) -> fmt::Result {
        write!(
            w,
            "{},{},{},{},{},{},{},{},{},{}",
            self.fd,
            self.dev,
            self.ino,
            self.family,
            self.sotype,
            self.protocol,
            self.flags,
            self.rule,
            Addr(self.local),
            Addr(self.peer)
        )
    }

    fn parse(text: &str) -> Option<Entry> {
        let mut f = text.split(',');
        let mut next = || f.next();
        let fd = next()?.parse().ok()?;
        let dev = next()?.parse().ok()?;
        let ino = next()?.parse().ok()?;
        let family = next()?.parse().ok()?;
        let sotype = next()?.parse().ok()?;
        let protocol = next()?.parse().ok()?;
        let flags = next()?.parse().ok()?;
        let rule = next()?.parse().ok()?;
        let addr = |s: &str| match s {
            "-" => Some(None),
            s => s.parse().ok().map(Some),
        };
        let local = addr(next()?)?;
        let peer = addr(next()?)?;
        if next().is_some() || fd < 0 {
            return None;
        }
        Some(Entry {
            fd,
            dev,
            ino,
            family,
            sotype,
            protocol,
            flags,
            rule,
            local,
            peer,
        })
    }
}

/// The entries of the variable's value; malformed ones are skipped (each is checked against
/// the fd anyway).
pub fn parse(value: &str) -> Vec<Entry> {
    value
        .split(';')
        .filter(|e| !e.is_empty())
        .filter_map(Entry::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::SliceWriter;

    fn entry(fd: i32, local: Option<&str>, peer: Option<&str>) -> Entry {
        Entry {
            fd,
            dev: 8,
            ino: 123456,
            family: 10,
            sotype: 1,
            protocol: 6,
            flags: 8192,
            rule: 3,
            local: local.map(|s| s.parse().unwrap()),
            peer: peer.map(|s| s.parse().unwrap()),
        }
    }

    #[test]
    fn round_trip() {
        let entries = [
            entry(0, Some("[::1]:22"), Some("[::1]:40000")),
            entry(7, Some("127.0.0.1:80"), None),
            entry(1023, None, None),
        ];
        let mut buf = [0u8; 512];
        let mut w = SliceWriter {
            buf: &mut buf,
            len: 0,
        };
        for e in &entries {
            e.write(&mut w).unwrap();
            w.put(b";").unwrap();
        }
        let n = w.len;
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(parse(text), entries);
    }

    #[test]
    fn malformed_entries_are_skipped() {
        let good = "3,1,2,2,1,6,0,0,127.0.0.1:80,-";
        for bad in [
            "",
            "3,1,2",
            "x,1,2,2,1,6,0,0,-,-",
            "-1,1,2,2,1,6,0,0,-,-",
            "3,1,2,2,1,6,0,0,-,-,extra",
            "3,1,2,2,1,6,70000,0,-,-",
            "3,1,2,2,1,6,0,0,localhost:80,-",
        ] {
            let v = parse(&format!("{bad};{good}"));
            assert_eq!(v.len(), 1, "{bad}");
            assert_eq!(v[0].fd, 3);
        }
    }

    #[test]
    fn a_full_buffer_is_an_error_not_a_panic() {
        let mut buf = [0u8; 10];
        let mut w = SliceWriter {
            buf: &mut buf,
            len: 0,
        };
        assert!(entry(1, Some("[::1]:22"), None).write(&mut w).is_err());
    }
}
