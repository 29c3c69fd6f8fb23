//! Per-fd state, lock-free for the common case and allocation-free in hooks.
//!
//! A directory (sized from the hard RLIMIT_NOFILE, mmap'ed once) points to chunks of slots,
//! each chunk mmap'ed the first time one of its fds becomes a socket we track. A slot's `state`
//! word holds its kind (empty, tracked IP socket, converted) and a BUSY bit that a thread sets
//! for the few instructions it reads or writes the slot's data; nothing blocking ever runs with
//! BUSY held, and a forked child clears every BUSY bit (the thread that held it is gone).
//! Socket files are owned through a separate table of reference-counted records, so `dup`s
//! share one record and the file is unlinked when the last of them is closed.

use core::cell::UnsafeCell;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use libc::c_int;
use sockswap_core::addr::UnixSockaddr;
use sockswap_core::sockopt;

use crate::sys;

pub const EMPTY: u32 = 0;
/// An AF_INET/AF_INET6 socket created through our `socket()`; options and epoll recorded.
pub const TRACKED: u32 = 1;
/// Replaced by a Unix socket; the program is shown the data below.
pub const CONVERTED: u32 = 2;
/// A socket systemd passed, held by the shim until a `systemd` rule takes it (no data).
pub const RESERVED: u32 = 3;
const KIND: u32 = 3;
const BUSY: u32 = 4;

/// Slot flag: the program bound this (still IP) socket to a real address.
pub const IP_BOUND: u16 = 1;
/// Slot flag: the program set an owner or signal with fcntl before the swap.
pub const OWNER_SET: u16 = 2;
/// Slot flag: the socket came from systemd (`LISTEN_FDS`), already listening: `listen` is a no-op.
pub const SYSTEMD: u16 = 4;
/// Slot flag: a socketbox "A" listener (an AF_UNIX datagram socket receiving fds).
pub const SOCKETBOX_A: u16 = 8;
/// Slot flag: a socketbox "B" client (a SEQPACKET registration stream receiving fds).
pub const SOCKETBOX_B: u16 = 16;
/// Slot flag: the program called `listen`: the state whose kernel answers getsockopt gives
/// (oracle.rs), and what SO_ACCEPTCONN says for A/B listeners.
pub const LISTENING: u16 = 32;
/// Slot flag: a real TCP socket shown in the program's family (a router's IPv6 socket handed
/// to an AF_INET program): names are converted, socket options go to the kernel.
pub const REAL_TCP: u16 = 64;
/// Slot flag: a datagram socket the program connected while its receiver was absent: the kernel
/// connect happens at the next send.
pub const LAZY_PEER: u16 = 128;
/// Slot flag: a "B" listener waiting for its router to come back: the fd is a timer that wakes
/// the program's event loop once a second to try registering again.
pub const B_WAITING: u16 = 256;
/// Flags of sockets whose `listen` is a no-op and whose `accept` takes a passed fd.
pub const DISPATCHED: u16 = SOCKETBOX_A | SOCKETBOX_B;
/// Slot flag: converted to a socket of another family than AF_UNIX (AF_VSOCK, a control
/// file's direct destination).
pub const FOREIGN: u16 = 512;
/// Slot flag: converted through a hybrid-vsock handshake (a Unix socket to the VMM).
pub const HYBRID: u16 = 1024;
/// Slot flag: a non-blocking hybrid handshake is running; the fd holds a placeholder
/// (see hybrid.rs) and `pending_id` names the handshake.
pub const PENDING: u16 = 2048;
/// Slot flag: a non-blocking AF_VSOCK connect returned EINPROGRESS and the program has not yet
/// seen it complete (SO_ERROR then reports a refusal as ECONNREFUSED, as TCP does).
pub const CONNECTING: u16 = 4096;
/// Slot flag: a socketbox listener whose router handed over a real listening TCP socket
/// (installed at the fd): accept goes straight to the kernel. With REAL_TCP as well, the
/// listener's family is not the program's and accepted names are converted.
pub const HANDED_OVER: u16 = 8192;
/// Slot flag: the accepted end of a connection (a converted listener's `accept`).
pub const ACCEPTED: u16 = 16384;

pub use sockswap_core::sockopt::SockOpt;
pub const MAX_EPOLL: usize = 4;

/// An epoll registration made before the swap (the kernel drops it with the old socket).
#[derive(Clone, Copy)]
pub struct EpollReg {
    pub epfd: c_int,
    pub events: u32,
    pub data: u64,
}

/// What we know about one fd.
#[derive(Clone, Copy)]
pub struct SlotData {
    /// The family of the program's socket (AF_INET or AF_INET6).
    pub family: c_int,
    /// SOCK_STREAM or SOCK_DGRAM, without flags.
    pub sotype: c_int,
    pub protocol: c_int,
    /// Index of the rule that converted it; `u16::MAX` if none.
    pub rule: u16,
    /// The address the program believes it is bound to.
    pub local: Option<SocketAddr>,
    /// The address the program believes it is connected to.
    pub peer: Option<SocketAddr>,
    /// `IP_BOUND`, `OWNER_SET`.
    pub flags: u16,
    /// 1 + index in the owner table of the socket file this fd keeps alive, or 0.
    pub owner: u32,
    /// Options the program set (sockswap_core::sockopt decides what they answer).
    pub opts: sockopt::Options,
    pub nepoll: u8,
    pub epoll: [EpollReg; MAX_EPOLL],
    /// Datagram sockets: the last destination resolved and where it went, so a program that
    /// keeps sending to one address pays for the rules once.
    pub send_cache: Option<(SocketAddr, UnixSockaddr)>,
    /// Datagram sockets: the last sender seen and the address reported for it.
    pub recv_cache: Option<(UnixSockaddr, SocketAddr)>,
    /// The errno a failed non-blocking hybrid connect reports once through SO_ERROR.
    pub pending_error: i32,
    /// Which handshake (hybrid.rs) owns this fd while PENDING: index + generation.
    pub pending_id: u32,
    /// A "B" listener handed over: the registration stream, kept open (the router sees the
    /// slot registered; its end tells of a router restart). -1 if none.
    pub registration: c_int,
}

impl SlotData {
    pub fn new(family: c_int, sotype: c_int, protocol: c_int) -> SlotData {
        SlotData {
            family,
            sotype,
            protocol,
            rule: u16::MAX,
            local: None,
            peer: None,
            owner: 0,
            flags: 0,
            opts: sockopt::Options::default(),
            nepoll: 0,
            epoll: [EpollReg {
                epfd: -1,
                events: 0,
                data: 0,
            }; MAX_EPOLL],
            send_cache: None,
            recv_cache: None,
            pending_error: 0,
            pending_id: 0,
            registration: -1,
        }
    }

    pub fn opts(&self) -> &[SockOpt] {
        self.opts.all()
    }

    pub fn opts_mut(&mut self) -> &mut [SockOpt] {
        self.opts.all_mut()
    }

    /// The last value recorded for (level, name).
    pub fn find_opt(&self, level: c_int, name: c_int) -> Option<&SockOpt> {
        self.opts.find(level, name)
    }

    /// Records an option; `emulated` when the kernel refused it and we answer for it. Returns
    /// false when it does not fit (too long, or the table is full).
    pub fn record_opt(&mut self, level: c_int, name: c_int, val: &[u8], emulated: bool) -> bool {
        self.opts.record(level, name, val, emulated)
    }

    pub fn epolls(&self) -> &[EpollReg] {
        self.epoll.get(..self.nepoll as usize).unwrap_or(&[])
    }

    pub fn record_epoll(&mut self, epfd: c_int, op: c_int, ev: Option<&libc::epoll_event>) -> bool {
        let n = self.nepoll as usize;
        let pos = self.epolls().iter().position(|r| r.epfd == epfd);
        match (op, pos, ev) {
            (libc::EPOLL_CTL_DEL, Some(i), _) => {
                self.epoll.copy_within(i + 1..n, i);
                self.nepoll -= 1;
            }
            (libc::EPOLL_CTL_ADD | libc::EPOLL_CTL_MOD, _, Some(ev)) => {
                let reg = EpollReg {
                    epfd,
                    events: ev.events,
                    data: ev.u64,
                };
                match pos {
                    Some(i) => self.epoll[i] = reg,
                    None if n < MAX_EPOLL => {
                        self.epoll[n] = reg;
                        self.nepoll += 1;
                    }
                    None => return false,
                }
            }
            _ => {}
        }
        true
    }
}

pub struct Slot {
    state: AtomicU32,
    data: UnsafeCell<SlotData>,
}

// SAFETY: `data` is only touched by the thread that holds the BUSY bit of `state`.
unsafe impl Sync for Slot {}

/// Exclusive access to a slot's data while held.
pub struct Guard {
    slot: &'static Slot,
    kind: u32,
}

impl Guard {
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The data; meaningful only if `kind() != EMPTY`.
    pub fn data(&mut self) -> &mut SlotData {
        // SAFETY: we hold BUSY, so no other thread accesses the data.
        unsafe { &mut *self.slot.data.get() }
    }

    /// Replaces the data and kind (used on EMPTY slots, whose data may be uninitialised).
    pub fn set(&mut self, kind: u32, data: SlotData) {
        // SAFETY: we hold BUSY; ptr::write does not read or drop the old (maybe stale) value.
        unsafe { self.slot.data.get().write(data) };
        self.kind = kind;
    }

    pub fn set_kind(&mut self, kind: u32) {
        self.kind = kind;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.slot.state.store(self.kind, Ordering::Release);
    }
}

impl Slot {
    #[inline]
    pub fn kind(&self) -> u32 {
        self.state.load(Ordering::Acquire) & KIND
    }

    /// Takes BUSY. Contention needs two threads on the same fd at once, so spinning is brief.
    pub fn lock(&'static self) -> Guard {
        let mut spins = 0u32;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & BUSY == 0
                && self
                    .state
                    .compare_exchange_weak(s, s | BUSY, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Guard {
                    slot: self,
                    kind: s & KIND,
                };
            }
            spins += 1;
            if spins < 64 {
                core::hint::spin_loop();
            } else {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }
}

const CHUNK: usize = 256;

static DIR: AtomicPtr<AtomicPtr<Slot>> = AtomicPtr::new(core::ptr::null_mut());
static DIR_LEN: AtomicUsize = AtomicUsize::new(0);

/// Reserves the directory (called once during initialisation).
pub fn init() {
    let fds = sys::getrlimit_nofile().clamp(1024, 1 << 22) as usize;
    let chunks = fds.div_ceil(CHUNK);
    if let Some(p) = sys::mmap_zeroed(chunks * core::mem::size_of::<AtomicPtr<Slot>>()) {
        DIR_LEN.store(chunks, Ordering::Relaxed);
        DIR.store(p.cast(), Ordering::Release);
    }
}

fn chunk_ptr(fd: c_int) -> Option<(&'static AtomicPtr<Slot>, usize)> {
    let fd = usize::try_from(fd).ok()?;
    let dir = DIR.load(Ordering::Acquire);
    if dir.is_null() || fd / CHUNK >= DIR_LEN.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: the directory has DIR_LEN entries and lives forever.
    Some((unsafe { &*dir.add(fd / CHUNK) }, fd % CHUNK))
}

/// The slot of `fd` if its chunk exists (never allocates).
#[inline]
pub fn get(fd: c_int) -> Option<&'static Slot> {
    let (chunk, i) = chunk_ptr(fd)?;
    let base = chunk.load(Ordering::Acquire);
    if base.is_null() {
        return None;
    }
    // SAFETY: a chunk holds CHUNK slots and lives forever.
    Some(unsafe { &*base.add(i) })
}

/// The slot of `fd`, mapping its chunk if needed. None only if fd is beyond the hard limit
/// seen at start or the kernel refused memory.
pub fn get_or_map(fd: c_int) -> Option<&'static Slot> {
    if let Some(s) = get(fd) {
        return Some(s);
    }
    let (chunk, i) = chunk_ptr(fd)?;
    let base = map_once(chunk, CHUNK)?;
    // SAFETY: zeroed memory is a valid Slot in state EMPTY (an atomic zero; data never read
    // before being written), and the chunk lives forever.
    Some(unsafe { &*base.add(i) })
}

/// The array of `count` zeroed `T`s that `ptr` points to, mapping it on first use. Lock-free:
/// racing threads each map, one wins the CAS, the others unmap theirs.
pub(crate) fn map_once<T>(ptr: &AtomicPtr<T>, count: usize) -> Option<*mut T> {
    let p = ptr.load(Ordering::Acquire);
    if !p.is_null() {
        return Some(p);
    }
    let bytes = count * core::mem::size_of::<T>();
    let fresh = sys::mmap_zeroed(bytes)?.cast::<T>();
    match ptr.compare_exchange(
        core::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => Some(fresh),
        Err(winner) => {
            sys::munmap(fresh.cast(), bytes);
            Some(winner)
        }
    }
}

/// Sets `flag` on `fd`'s record if it is of `kind`.
pub fn set_flag(fd: c_int, kind: u32, flag: u16) {
    if let Some(slot) = get(fd).filter(|s| s.kind() == kind) {
        let mut g = slot.lock();
        if g.kind() == kind {
            g.data().flags |= flag;
        }
    }
}

/// In a forked child: no other thread exists any more, so nobody holds BUSY.
pub fn clear_busy_after_fork() {
    let dir = DIR.load(Ordering::Acquire);
    if dir.is_null() {
        return;
    }
    for c in 0..DIR_LEN.load(Ordering::Relaxed) {
        // SAFETY: c < DIR_LEN.
        let base = unsafe { &*dir.add(c) }.load(Ordering::Acquire);
        if base.is_null() {
            continue;
        }
        for i in 0..CHUNK {
            // SAFETY: i < CHUNK.
            let slot = unsafe { &*base.add(i) };
            slot.state.fetch_and(KIND, Ordering::Relaxed);
        }
    }
}

/// Calls `f` for every mapped slot in `[first, last]`.
pub fn for_range(first: u32, last: u32, mut f: impl FnMut(c_int, &'static Slot)) {
    let limit = DIR_LEN.load(Ordering::Relaxed) * CHUNK;
    let last = (last as usize).min(limit.saturating_sub(1));
    let mut fd = first as usize;
    while fd <= last {
        match get(fd as c_int) {
            Some(slot) => {
                f(fd as c_int, slot);
                fd += 1;
            }
            None => fd = (fd / CHUNK + 1) * CHUNK,
        }
    }
}

// ---- socket files and their owners ----

struct Owner {
    refs: AtomicU32,
    data: UnsafeCell<OwnerData>,
}

#[derive(Clone, Copy)]
struct OwnerData {
    pid: u32,
    dev: u64,
    ino: u64,
    path: UnixSockaddr,
    /// The IP address the program bound, which this file serves.
    local: Option<SocketAddr>,
}

// SAFETY: `data` is written only by the thread that claimed the record (refs 0 → 1) before any
// slot refers to it, and read only while refs > 0.
unsafe impl Sync for Owner {}

const OWNERS: usize = 4096;
static OWNER_TABLE: AtomicPtr<Owner> = AtomicPtr::new(core::ptr::null_mut());
static OWNER_HINT: AtomicUsize = AtomicUsize::new(0);

fn owners() -> Option<&'static [Owner]> {
    let p = map_once(&OWNER_TABLE, OWNERS)?;
    // SAFETY: the table holds OWNERS records (zeroed = free) and lives forever.
    Some(unsafe { core::slice::from_raw_parts(p, OWNERS) })
}

/// Records that this process created the socket file at `path`; returns the owner id for the
/// slot, or 0 if the table is full (the file will then not be unlinked automatically).
pub fn own_path(path: &UnixSockaddr, local: Option<SocketAddr>) -> u32 {
    let Some(table) = owners() else { return 0 };
    let Some(cpath) = path.c_path() else { return 0 };
    let Ok(st) = sys::lstat(cpath) else { return 0 };
    let start = OWNER_HINT.fetch_add(1, Ordering::Relaxed);
    for k in 0..OWNERS {
        let i = (start + k) % OWNERS;
        let Some(o) = table.get(i) else { continue };
        if o.refs
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let data = OwnerData {
                pid: sys::getpid(),
                dev: st.st_dev,
                ino: st.st_ino,
                path: *path,
                local,
            };
            // SAFETY: we just claimed the record; nobody else reads it until a slot refers to it.
            unsafe { o.data.get().write(data) };
            return i as u32 + 1;
        }
    }
    0
}

/// Another fd now refers to the same socket (dup).
pub fn retain(owner: u32) {
    if let Some(o) = owner.checked_sub(1).and_then(|i| owners()?.get(i as usize)) {
        o.refs.fetch_add(1, Ordering::Relaxed);
    }
}

/// One fd referring to the socket is gone. The last one, in the process that created the file,
/// unlinks it — if the path still names our socket (someone may have replaced it).
pub fn release(owner: u32, my_pid: u32) {
    let Some(o) = owner.checked_sub(1).and_then(|i| owners()?.get(i as usize)) else {
        return;
    };
    // SAFETY: refs > 0 while we hold a reference, so the data is initialised and stable.
    let data = unsafe { *o.data.get() };
    if o.refs.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    if data.pid == my_pid {
        if let Some(cpath) = data.path.c_path() {
            if let Ok(st) = sys::lstat(cpath) {
                if st.st_dev == data.dev && st.st_ino == data.ino {
                    let _ = sys::unlink(cpath);
                }
            }
        }
    }
}

/// Does this process own a live socket file with this inode, bound for an address other than
/// `addr` (a dual-stack program binding [::]:P after 0.0.0.0:P, both mapped to one path)?
pub fn owned_here_for_other(dev: u64, ino: u64, addr: SocketAddr) -> bool {
    let Some(table) = owners() else { return false };
    let me = sys::getpid();
    table.iter().any(|o| {
        o.refs.load(Ordering::Acquire) > 0 && {
            // SAFETY: a record with refs > 0 has initialised data.
            let d = unsafe { *o.data.get() };
            d.pid == me && d.dev == dev && d.ino == ino && d.local.is_some_and(|l| l != addr)
        }
    })
}
