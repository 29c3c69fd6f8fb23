//! The datagram peer map: which IP address a Unix datagram sender is reported as, and which
//! Unix name a reply to that IP address goes to.
//!
//! A converted datagram socket receives from Unix names (a server's path, a client's autobound
//! abstract name). `recvfrom` must show the program an IP address, and a `sendto` to that address
//! must reach the sender. Names this process sent to by rule are reported as the IP address the
//! program used; other names get a synthetic loopback address whose port encodes the entry's
//! index (`SYNTHETIC_PORT_BASE + index`), so the way back is one array access.
//!
//! The table is process-wide (Unix names are), fixed-size and mmap'ed on first use; entries are
//! seqlocks built from atomics, so hooks neither allocate nor lock. Entries are never removed;
//! when a name's probe run is full, its home entry is overwritten (a reply to the evicted
//! sender's synthetic address then reaches the newer name: documented, 4096 live peers).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use sockswap_core::addr::{UnixName, UnixSockaddr, SUN_PATH_LEN};

const ENTRIES: usize = 4096;
/// Synthetic peers are loopback addresses with ports `SYNTHETIC_PORT_BASE..+ENTRIES`: above the
/// kernel's default ephemeral range, so they never collide with a real local port it picks.
pub const SYNTHETIC_PORT_BASE: u16 = 61000;
const PROBES: usize = 32;
const NAME_WORDS: usize = SUN_PATH_LEN.div_ceil(8);

// meta word layout
const META_LEN_MASK: u64 = 0xff;
const META_ABSTRACT: u64 = 1 << 8;
const META_SYNTHETIC: u64 = 1 << 9;
const META_V6: u64 = 1 << 10;
const META_TOMBSTONE: u64 = 1 << 11;
const META_PORT_SHIFT: u32 = 16;

struct Entry {
    /// 0 empty; odd while being written; even ≥ 2 valid.
    seq: AtomicU32,
    meta: AtomicU64,
    ip: [AtomicU64; 2],
    name: [AtomicU64; NAME_WORDS],
}

static TABLE: AtomicPtr<Entry> = AtomicPtr::new(core::ptr::null_mut());

fn table() -> Option<&'static [Entry]> {
    let p = crate::fdtable::map_once(&TABLE, ENTRIES)?;
    // SAFETY: the table holds ENTRIES zeroed entries (zero = empty) and lives forever.
    Some(unsafe { core::slice::from_raw_parts(p, ENTRIES) })
}

/// A Unix name as the table keys it.
#[derive(Clone, Copy)]
struct Key<'a> {
    bytes: &'a [u8],
    is_abstract: bool,
}

impl<'a> Key<'a> {
    fn of(name: UnixName<'a>) -> Option<Key<'a>> {
        match name {
            UnixName::Path(p) if p.len() < SUN_PATH_LEN => Some(Key {
                bytes: p,
                is_abstract: false,
            }),
            UnixName::Abstract(n) if n.len() < SUN_PATH_LEN => Some(Key {
                bytes: n,
                is_abstract: true,
            }),
            _ => None,
        }
    }

    fn home(&self) -> usize {
        // FNV-1a: short keys, no allocation, good enough spread for a power-of-two table.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(self.is_abstract);
        for &b in self.bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h ^ (h >> 32)) as usize & (ENTRIES - 1)
    }

    fn words(&self) -> [u64; NAME_WORDS] {
        let mut buf = [0u8; NAME_WORDS * 8];
        buf[..self.bytes.len()].copy_from_slice(self.bytes);
        let mut w = [0u64; NAME_WORDS];
        for (i, chunk) in buf.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            w[i] = u64::from_ne_bytes(b);
        }
        w
    }
}

/// A consistent copy of one entry.
#[derive(Clone, Copy)]
struct Snapshot {
    meta: u64,
    ip: [u64; 2],
    name: [u64; NAME_WORDS],
}

impl Snapshot {
    fn matches(&self, key: &Key, words: &[u64; NAME_WORDS]) -> bool {
        self.meta & META_TOMBSTONE == 0
            && (self.meta & META_LEN_MASK) as usize == key.bytes.len()
            && (self.meta & META_ABSTRACT != 0) == key.is_abstract
            && self.name == *words
    }

    fn addr(&self) -> SocketAddr {
        let port = (self.meta >> META_PORT_SHIFT) as u16;
        let mut octets = [0u8; 16];
        octets[..8].copy_from_slice(&self.ip[0].to_ne_bytes());
        octets[8..].copy_from_slice(&self.ip[1].to_ne_bytes());
        let ip = if self.meta & META_V6 != 0 {
            IpAddr::V6(Ipv6Addr::from(octets))
        } else {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        };
        SocketAddr::new(ip, port)
    }

    fn sockaddr(&self) -> Option<UnixSockaddr> {
        let len = (self.meta & META_LEN_MASK) as usize;
        let mut buf = [0u8; NAME_WORDS * 8];
        for (i, w) in self.name.iter().enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        let name = buf.get(..len)?;
        if self.meta & META_ABSTRACT != 0 {
            UnixSockaddr::abstract_name(name).ok()
        } else {
            UnixSockaddr::path(name).ok()
        }
    }
}

enum Read {
    Empty,
    Busy,
    Valid(u32, Snapshot),
}

impl Entry {
    fn read(&self) -> Read {
        for _ in 0..64 {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 == 0 {
                return Read::Empty;
            }
            if s1 & 1 == 1 {
                core::hint::spin_loop();
                continue;
            }
            let mut snap = Snapshot {
                meta: self.meta.load(Ordering::Relaxed),
                ip: [
                    self.ip[0].load(Ordering::Relaxed),
                    self.ip[1].load(Ordering::Relaxed),
                ],
                name: [0; NAME_WORDS],
            };
            for (w, a) in snap.name.iter_mut().zip(&self.name) {
                *w = a.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return Read::Valid(s1, snap);
            }
        }
        Read::Busy
    }

    /// Writes the entry if its sequence is still `expected` (0 for an empty entry).
    fn write(
        &self,
        expected: u32,
        key: &Key,
        words: &[u64; NAME_WORDS],
        addr: SocketAddr,
        synthetic: bool,
    ) -> bool {
        if self
            .seq
            .compare_exchange(expected, expected | 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        fence(Ordering::Release);
        let (v6, octets) = match addr.ip() {
            IpAddr::V4(v4) => {
                let mut o = [0u8; 16];
                o[..4].copy_from_slice(&v4.octets());
                (false, o)
            }
            IpAddr::V6(v6) => (true, v6.octets()),
        };
        let mut meta = key.bytes.len() as u64 | (u64::from(addr.port()) << META_PORT_SHIFT);
        if key.is_abstract {
            meta |= META_ABSTRACT;
        }
        if synthetic {
            meta |= META_SYNTHETIC;
        }
        if v6 {
            meta |= META_V6;
        }
        self.meta.store(meta, Ordering::Relaxed);
        let mut half = [0u8; 8];
        half.copy_from_slice(&octets[..8]);
        self.ip[0].store(u64::from_ne_bytes(half), Ordering::Relaxed);
        half.copy_from_slice(&octets[8..]);
        self.ip[1].store(u64::from_ne_bytes(half), Ordering::Relaxed);
        for (a, w) in self.name.iter().zip(words) {
            a.store(*w, Ordering::Relaxed);
        }
        let next = (expected | 1).wrapping_add(1).max(2);
        self.seq.store(next, Ordering::Release);
        true
    }
}

/// The synthetic address of entry `index`, in the family a socket reports.
fn synthetic_addr(index: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        SYNTHETIC_PORT_BASE + index as u16,
    )
}

/// Finds `key`: Ok(index, snapshot) if present, Err(first free or reusable index) if not.
fn find(
    table: &[Entry],
    key: &Key,
    words: &[u64; NAME_WORDS],
) -> Result<(usize, Snapshot), Option<(usize, u32)>> {
    let home = key.home();
    let mut free = None;
    for k in 0..PROBES {
        let i = (home + k) & (ENTRIES - 1);
        let Some(e) = table.get(i) else { continue };
        match e.read() {
            Read::Empty => return Err(free.or(Some((i, 0)))),
            Read::Busy => {}
            Read::Valid(seq, snap) => {
                if snap.matches(key, words) {
                    return Ok((i, snap));
                }
                if snap.meta & META_TOMBSTONE != 0 && free.is_none() {
                    free = Some((i, seq));
                }
            }
        }
    }
    Err(free)
}

/// The IP address to report for a datagram from `name`: the address this process sent to it
/// by, or a synthetic loopback address (created now) that routes back to it. `None` only for
/// an unnamed sender (nothing can reply to it) or if the table cannot be mapped.
pub fn reported(name: UnixName) -> Option<(SocketAddr, bool)> {
    let key = Key::of(name)?;
    let table = table()?;
    let words = key.words();
    for _ in 0..4 {
        match find(table, &key, &words) {
            Ok((i, snap)) => {
                let synthetic = snap.meta & META_SYNTHETIC != 0;
                return Some(if synthetic {
                    (synthetic_addr(i), true)
                } else {
                    (snap.addr(), false)
                });
            }
            Err(slot) => {
                let (i, seq) = slot.unwrap_or_else(|| evictee(table, &key));
                let addr = synthetic_addr(i);
                if table.get(i)?.write(seq, &key, &words, addr, true) {
                    return Some((addr, true));
                }
                // Another thread wrote that entry meanwhile: look again.
            }
        }
    }
    None
}

/// The home entry of a full probe run, to overwrite.
fn evictee(table: &[Entry], key: &Key) -> (usize, u32) {
    let i = key.home();
    let seq = table
        .get(i)
        .map_or(0, |e| e.seq.load(Ordering::Relaxed) & !1);
    (i, seq)
}

/// Records that `name` is the Unix endpoint of `addr` (this process sent to `addr` by a rule),
/// so datagrams from `name` are reported as coming from `addr`.
pub fn remember(name: UnixName, addr: SocketAddr) {
    let Some(key) = Key::of(name) else { return };
    let Some(table) = table() else { return };
    let words = key.words();
    for _ in 0..4 {
        let (i, seq) = match find(table, &key, &words) {
            Ok((i, snap)) => {
                if snap.meta & META_SYNTHETIC == 0 && snap.addr() == addr {
                    return; // already so
                }
                match table.get(i).map(Entry::read) {
                    Some(Read::Valid(seq, _)) => (i, seq),
                    _ => continue,
                }
            }
            Err(Some(slot)) => slot,
            Err(None) => evictee(table, &key),
        };
        if table
            .get(i)
            .is_some_and(|e| e.write(seq, &key, &words, addr, false))
        {
            return;
        }
    }
}

/// The Unix name behind a synthetic address (`127.0.0.1`, `::1` or `::ffff:127.0.0.1` with a
/// port in the synthetic range), if that entry exists.
pub fn name_of_synthetic(addr: SocketAddr) -> Option<UnixSockaddr> {
    let loopback = match addr.ip() {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => {
            v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST)
        }
    };
    let index = usize::from(addr.port().checked_sub(SYNTHETIC_PORT_BASE)?);
    if !loopback || index >= ENTRIES {
        return None;
    }
    // Only look if the table exists: a program talking to such a port without us having
    // reported one is talking to a real UDP port.
    let p = TABLE.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    match table()?.get(index)?.read() {
        Read::Valid(_, snap) if snap.meta & META_TOMBSTONE == 0 => snap.sockaddr(),
        _ => None,
    }
}

/// In a forked child: an entry some other thread was writing stays half-written; make it a
/// tombstone (probe runs continue past it, inserts may reuse it).
pub fn after_fork() {
    let p = TABLE.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: a non-null TABLE points to ENTRIES entries that live forever.
    let table = unsafe { core::slice::from_raw_parts(p, ENTRIES) };
    for e in table {
        let s = e.seq.load(Ordering::Relaxed);
        if s & 1 == 1 {
            e.meta.store(META_TOMBSTONE, Ordering::Relaxed);
            e.seq.store(s.wrapping_add(1).max(2), Ordering::Release);
        }
    }
}
