//! Socket options and queue ioctls of a converted socket: which answers are the kernel's for
//! a real TCP/UDP socket of the program's family in the same state (a "template", asked with
//! the program's own buffer and length), which are the converted socket's own (SO_ERROR,
//! SO_COOKIE, bytes queued, options the Unix socket holds), which are facts we pretend
//! (SO_PEERNAME, IP_PROTOCOL, IPV6_V6ONLY) and which are values the program set at an IP level
//! (recorded, after a fresh real socket said whether the kernel takes them and what it keeps).
//!
//! One engine for both backends: the shim (templates in the program, oracle.rs) and the
//! seccomp supervisor (templates in the supervisor, answers written with process_vm_writev)
//! carry it out through [`Kernel`]. Nothing here makes a system call or allocates.

use core::net::{IpAddr, SocketAddr};

/// Options recorded per socket, and the longest value recorded.
pub const MAX_OPTS: usize = 12;
pub const MAX_OPT_LEN: usize = 16;

/// IPPROTO_IP option 52, IP_PROTOCOL (linux/in.h; the libc crate does not name it).
pub const IP_PROTOCOL: i32 = 52;

/// SIOCINQ (= FIONREAD), SIOCOUTQ (= TIOCOUTQ) and SIOCOUTQNSD (asm-generic/sockios.h,
/// linux/sockios.h; the same on every Linux architecture).
pub const SIOCINQ: u64 = 0x541B;
pub const SIOCOUTQ: u64 = 0x5411;
pub const SIOCOUTQNSD: u64 = 0x894B;
/// The ioctls whose answers depend on the protocol: the only ones [`ioctl`] is for.
pub const QUEUE_IOCTLS: [u64; 3] = [SIOCINQ, SIOCOUTQ, SIOCOUTQNSD];

/// The protocol levels whose options a converted socket answers from a template or its
/// record, never from the Unix socket (which refuses them all).
pub const IP_LEVELS: [i32; 4] = [
    libc::IPPROTO_IP,
    libc::IPPROTO_TCP,
    libc::IPPROTO_IPV6,
    libc::IPPROTO_UDP,
];

/// SOL_SOCKET options whose getsockopt answer for a converted socket is not simply the Unix
/// socket's own: the protocol's identity and defaults, the peer, and the options of
/// [`SOCKET_SET_TRAPPED`] (recorded when set). Every other SOL_SOCKET option is answered by
/// the socket layer alike for every family (sock_getsockopt), so a backend that can let the
/// kernel answer on the Unix socket (the seccomp filter) may leave those alone.
pub const SOCKET_GET_DIFFERS: &[i32] = &[
    libc::SO_TYPE, // a socketbox-b listener is a SEQPACKET socket
    libc::SO_SNDBUF,
    libc::SO_RCVBUF,
    libc::SO_REUSEPORT,
    libc::SO_PASSCRED, // TCP/UDP: EOPNOTSUPP (newer kernels)
    libc::SO_PEERCRED,
    libc::SO_PEERNAME,
    libc::SO_ACCEPTCONN, // a socketbox listener never called the kernel's listen
    libc::SO_PEERSEC,
    libc::SO_PASSSEC, // TCP/UDP: EOPNOTSUPP
    libc::SO_PROTOCOL,
    libc::SO_DOMAIN,
    libc::SO_PEERGROUPS,
    libc::SO_ZEROCOPY,
    SO_TXREHASH,  // AF_UNIX: EOPNOTSUPP
    SO_PASSPIDFD, // TCP/UDP: EOPNOTSUPP
    SO_PEERPIDFD,
];

/// SOL_SOCKET options whose setsockopt must be seen: those AF_UNIX refuses (EOPNOTSUPP) and a
/// TCP/UDP socket takes (recorded, answered from the record), and those of
/// [`SOCKET_GET_DIFFERS`] whose getsockopt answers the program's value once it set one (the
/// template's default until then).
pub const SOCKET_SET_TRAPPED: &[i32] = &[
    libc::SO_SNDBUF,
    libc::SO_RCVBUF,
    libc::SO_REUSEPORT,
    libc::SO_PASSCRED,
    libc::SO_PASSSEC,
    libc::SO_ZEROCOPY,
    SO_RESERVE_MEM,
    SO_TXREHASH,
    SO_PASSPIDFD,
];

/// asm-generic/socket.h (newer than the libc crate's list).
const SO_RESERVE_MEM: i32 = 73;
const SO_TXREHASH: i32 = 74;
const SO_PASSPIDFD: i32 = 76;
const SO_PEERPIDFD: i32 = 77;

/// A socket option the program set on a converted socket.
#[derive(Clone, Copy, Debug)]
pub struct SockOpt {
    pub level: i32,
    pub name: i32,
    pub len: u8,
    /// Not on the Unix socket (refused there, or an IP level): getsockopt answers `val`.
    pub emulated: bool,
    pub val: [u8; MAX_OPT_LEN],
}

impl SockOpt {
    pub fn value(&self) -> &[u8] {
        self.val.get(..self.len as usize).unwrap_or(&[])
    }
}

/// The options a program set on one socket (fixed size: the shim keeps it in its fd table).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    n: u8,
    opts: [SockOpt; MAX_OPTS],
}

impl Default for Options {
    fn default() -> Options {
        Options {
            n: 0,
            opts: [SockOpt {
                level: 0,
                name: 0,
                len: 0,
                emulated: false,
                val: [0; MAX_OPT_LEN],
            }; MAX_OPTS],
        }
    }
}

impl Options {
    pub fn all(&self) -> &[SockOpt] {
        self.opts.get(..self.n as usize).unwrap_or(&[])
    }

    pub fn all_mut(&mut self) -> &mut [SockOpt] {
        self.opts.get_mut(..self.n as usize).unwrap_or(&mut [])
    }

    /// The last value recorded for (level, name).
    pub fn find(&self, level: i32, name: i32) -> Option<&SockOpt> {
        self.all()
            .iter()
            .rev()
            .find(|o| o.level == level && o.name == name)
    }

    /// Records an option; an option set again replaces its earlier value. `emulated` when the
    /// Unix socket does not hold it. Returns false when it does not fit (too long, or full).
    pub fn record(&mut self, level: i32, name: i32, val: &[u8], emulated: bool) -> bool {
        if val.len() > MAX_OPT_LEN {
            return false;
        }
        let n = self.n as usize;
        let idx = match self
            .all()
            .iter()
            .position(|o| o.level == level && o.name == name)
        {
            Some(i) => i,
            None if n < MAX_OPTS => {
                self.n += 1;
                n
            }
            None => return false,
        };
        let mut o = SockOpt {
            level,
            name,
            len: val.len() as u8,
            emulated,
            val: [0; MAX_OPT_LEN],
        };
        o.val[..val.len()].copy_from_slice(val);
        if let Some(slot) = self.opts.get_mut(idx) {
            *slot = o;
        }
        true
    }
}

/// The state of a converted socket, as far as the kernel's answers depend on it: each has
/// its own template.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Stream: created or bound, not listening, not connected.
    Fresh = 0,
    Listening = 1,
    /// Stream: the connecting end of a connection.
    Client = 2,
    /// Stream: the accepted end of a connection.
    Accepted = 3,
    /// Datagram: bound, no peer.
    Unconnected = 4,
    /// Datagram: connected to a peer.
    Connected = 5,
}

pub const STATES: usize = 6;

impl State {
    pub fn stream(self) -> bool {
        !matches!(self, State::Unconnected | State::Connected)
    }
}

/// What the program believes about a converted socket.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// AF_INET or AF_INET6.
    pub family: i32,
    /// SOCK_STREAM or SOCK_DGRAM.
    pub sotype: i32,
    pub state: State,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    /// A socketbox listener (its `listen` never reached the kernel).
    pub dispatched: bool,
    /// A real TCP socket stands behind it (shown in another family): the kernel answers its
    /// protocol options itself; only the identity is pretended.
    pub real: bool,
    pub opts: &'a Options,
}

/// What the engine asks of a backend, for one call. "The call's buffer" is the program's
/// (value, length) pair of this getsockopt (or its value of this setsockopt, its argument of
/// this ioctl); the executor passes it to the kernel as it is, so errors, lengths and
/// truncation are the kernel's own.
pub trait Kernel {
    /// getsockopt on the template of the family in `state`, with the call's buffer and
    /// length. None when there is no template (no loopback to make one on).
    fn template_get(&mut self, state: State, level: i32, name: i32) -> Option<Result<(), i32>>;
    /// getsockopt on the template in `state` into `out`: the length the kernel returned.
    fn template_bytes(
        &mut self,
        state: State,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Option<usize>;
    /// An int option of the template in `state`.
    fn template_int(&mut self, state: State, level: i32, name: i32) -> Option<i32> {
        let mut b = [0u8; 4];
        (self.template_bytes(state, level, name, &mut b)? == 4).then_some(i32::from_ne_bytes(b))
    }
    /// getsockopt on the converted socket, with the call's buffer and the length the program
    /// gave (also after a template answered).
    fn own_get(&mut self, level: i32, name: i32) -> Result<(), i32>;
    /// An int option of the converted socket.
    fn own_int(&mut self, level: i32, name: i32) -> Result<i32, i32>;
    /// Replaces the bytes of the answer already given (its length stays): byte i becomes
    /// `bytes[i]`, or 0 past its end. Nothing when the buffer is NULL.
    fn overwrite(&mut self, bytes: &[u8]);
    /// Answers `bytes` as the value: as much as fits, and the length copied. EFAULT for NULL.
    fn answer(&mut self, bytes: &[u8]) -> Result<(), i32>;

    /// setsockopt on the converted socket with the call's value.
    fn own_set(&mut self, level: i32, name: i32) -> Result<(), i32>;
    /// setsockopt on the converted socket with `value`.
    fn own_set_bytes(&mut self, level: i32, name: i32, value: &[u8]) -> Result<(), i32>;
    /// setsockopt with the call's value on a fresh real socket of the family and type (made
    /// for this call, closed by the executor afterwards): the kernel's verdict. None when no
    /// socket could be made.
    fn fresh_set(&mut self, level: i32, name: i32) -> Option<Result<(), i32>>;
    /// getsockopt on that fresh socket into `out`: the length the kernel returned.
    fn fresh_get(&mut self, level: i32, name: i32, out: &mut [u8]) -> Result<usize, i32>;
    /// Records an option for the socket: `value`, or the call's value when None.
    fn record(&mut self, level: i32, name: i32, value: Option<&[u8]>, emulated: bool);

    /// The ioctl on the template in `state`, with the call's argument. None: no template.
    fn template_ioctl(&mut self, state: State, request: u64) -> Option<Result<(), i32>>;
    /// The ioctl on the converted socket, with the call's argument.
    fn own_ioctl(&mut self, request: u64) -> Result<(), i32>;
}

/// Levels answered from a template or a record (the Unix socket refuses them).
pub fn is_ip_level(level: i32) -> bool {
    IP_LEVELS.contains(&level)
}

/// getsockopt(level, name) on a converted socket, through `k`.
pub fn getsockopt(k: &mut impl Kernel, f: &Facts, level: i32, name: i32) -> Result<(), i32> {
    if (level, name) == (libc::SOL_SOCKET, libc::SO_ERROR) {
        // Every family answers it alike (sock_getsockopt): the socket's own pending error,
        // asked on every non-blocking connect, so without the template.
        return k.own_get(level, name);
    }
    if !f.real {
        if let Some(r) = k.template_get(f.state, level, name) {
            r?;
            return after_template(k, f, level, name);
        }
    }
    without_template(k, f, level, name)
}

/// The template answered (return value, errno, length, default value): put in what belongs
/// to this socket. Options the program set (SOL_SOCKET ones the Unix socket holds as the
/// kernel would, SO_RCVBUF doubled; the others from the record); SO_COOKIE and SO_BUF_LOCK
/// (the Unix socket's own; SO_BUF_LOCK is set by SO_RCVBUF/SO_SNDBUF); SO_PEERNAME,
/// IP_PROTOCOL and IPV6_V6ONLY from the addresses we pretend.
fn after_template(k: &mut impl Kernel, f: &Facts, level: i32, name: i32) -> Result<(), i32> {
    if (level, name) == (libc::IPPROTO_TCP, libc::TCP_MAXSEG) {
        if let Some(mss) = connection_mss(k, f) {
            k.overwrite(&mss.to_ne_bytes());
            return Ok(());
        }
    }
    match f.opts.find(level, name) {
        Some(o) if level == libc::SOL_SOCKET && !o.emulated => return k.own_get(level, name),
        Some(o) => {
            k.overwrite(o.value());
            return Ok(());
        }
        None => {}
    }
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_COOKIE | libc::SO_BUF_LOCK) => k.own_get(level, name),
        (libc::IPPROTO_IP, IP_PROTOCOL) => {
            // The kernel answers inet_num: the local port of a TCP/UDP socket.
            let port = f.local.map_or(0, |l| i32::from(l.port()));
            k.overwrite(&port.to_ne_bytes());
            Ok(())
        }
        (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => {
            // Binding to one IPv6 address (not a v4-mapped one) sets it; a listener's
            // template is bound to ::1, but a wildcard listener keeps the default.
            let specific = f.local.is_some_and(|l| match l.ip() {
                IpAddr::V6(a) => !a.is_unspecified() && a.to_ipv4_mapped().is_none(),
                IpAddr::V4(_) => false,
            });
            // (A connecting socket the program did not bind: the template's default.)
            let bound = !matches!(f.state, State::Client | State::Connected);
            if specific && bound {
                k.overwrite(&1i32.to_ne_bytes());
            } else if bound {
                let default = k.template_int(State::Client, level, name).unwrap_or(0);
                k.overwrite(&default.to_ne_bytes());
            }
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_PEERNAME) => {
            if let Some(peer) = f.peer {
                let mut sa = [0u8; crate::addr::SOCKADDR_IN6_LEN];
                let n = crate::addr::encode_ip(peer, f.family, &mut sa);
                k.overwrite(sa.get(..n).unwrap_or(&[]));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// TCP_MAXSEG of a connection whose socket was given one (before it connected, or through its
/// listener): the kernel answers the connection's segment size, the smaller of the one asked
/// and the path's (the template connection's), less the timestamps option when the connection
/// carries it. None: not a connection, or no value set.
fn connection_mss(k: &mut impl Kernel, f: &Facts) -> Option<i32> {
    if !matches!(f.state, State::Client | State::Accepted) {
        return None;
    }
    let o = f.opts.find(libc::IPPROTO_TCP, libc::TCP_MAXSEG)?;
    let asked = i32::from_ne_bytes(o.value().try_into().ok()?);
    if asked <= 0 {
        return None;
    }
    let path = k.template_int(f.state, libc::IPPROTO_TCP, libc::TCP_MAXSEG)?;
    // struct tcp_info: tcpi_options is byte 5; TCPI_OPT_TIMESTAMPS is its bit 0.
    let mut info = [0u8; 8];
    let timestamps = k.template_bytes(f.state, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info)
        == Some(8)
        && info[5] & 1 != 0;
    let options = if timestamps { 12 } else { 0 };
    Some(asked.min(path + options) - options)
}

/// No template (no loopback to make one on), or a real TCP socket behind: answers made up
/// from what we know.
fn without_template(k: &mut impl Kernel, f: &Facts, level: i32, name: i32) -> Result<(), i32> {
    if level == libc::SOL_SOCKET {
        if let Some(o) = f.opts.find(level, name).filter(|o| o.emulated) {
            // An option AF_UNIX refused: answer what the program set.
            return k.answer(o.value());
        }
        let synthetic = match name {
            libc::SO_DOMAIN => Some(f.family),
            libc::SO_TYPE => Some(f.sotype),
            libc::SO_PROTOCOL => Some(if f.sotype == libc::SOCK_DGRAM {
                libc::IPPROTO_UDP
            } else {
                libc::IPPROTO_TCP
            }),
            libc::SO_ACCEPTCONN if f.dispatched => Some(i32::from(f.state == State::Listening)),
            _ => None,
        };
        return match synthetic {
            Some(v) => k.answer(&v.to_ne_bytes()),
            None => k.own_get(level, name),
        };
    }
    if !is_ip_level(level) || f.real {
        return k.own_get(level, name);
    }
    if let Some(o) = f.opts.find(level, name) {
        return k.answer(o.value());
    }
    match (level, name) {
        (libc::IPPROTO_TCP, libc::TCP_INFO) => {
            let mut info = [0u8; 104];
            // tcpi_state: TCP_LISTEN (10) or TCP_ESTABLISHED (1).
            info[0] = match k.own_int(libc::SOL_SOCKET, libc::SO_ACCEPTCONN) {
                Ok(1) => 10,
                _ => 1,
            };
            k.answer(&info)
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => k.answer(b"cubic\0\0\0\0\0\0\0\0\0\0\0"),
        _ => k.answer(&tcp_default(level, name).to_ne_bytes()),
    }
}

/// What a fresh TCP socket on loopback answers for an option the program never set.
fn tcp_default(level: i32, name: i32) -> i32 {
    match (level, name) {
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => 65483,
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => 7200,
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => 75,
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => 9,
        (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => 6,
        (libc::IPPROTO_TCP, libc::TCP_LINGER2) => 60,
        (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => 1,
        (libc::IPPROTO_IP, libc::IP_TTL) => 64,
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => 64,
        (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL) => 1,
        (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP) => 1,
        _ => 0,
    }
}

/// The SOL_SOCKET option an IP-level one sets as well: IP_TOS sets the priority
/// (SO_PRIORITY). A backend recording an option must record that one's new value too.
pub fn implied_option(level: i32, name: i32) -> Option<(i32, i32)> {
    ((level, name) == (libc::IPPROTO_IP, libc::IP_TOS))
        .then_some((libc::SOL_SOCKET, libc::SO_PRIORITY))
}

/// setsockopt(level, name) on a converted socket (not one with a real TCP socket behind: the
/// kernel takes those itself). `val_null`/`len` describe the call's value.
///
/// IP levels: a fresh real socket of the family takes the value first, so a value the kernel
/// refuses fails with its errno, and the value it keeps (normalised, as getsockopt reads it
/// back) is recorded. SOL_SOCKET: the Unix socket takes it (recorded, so a socket re-made
/// later gets it again); one AF_UNIX refuses but TCP/UDP would take is recorded and answered
/// by getsockopt from the record.
pub fn setsockopt(
    k: &mut impl Kernel,
    level: i32,
    name: i32,
    val_null: bool,
    len: u32,
) -> Result<(), i32> {
    if is_ip_level(level) {
        if val_null && len > 0 {
            return Err(libc::EFAULT);
        }
        match k.fresh_set(level, name) {
            // (out of fds: keep what the program gave)
            None => k.record(level, name, None, true),
            Some(Err(e)) => return Err(e),
            Some(Ok(())) => {
                let mut kept = [0u8; MAX_OPT_LEN];
                match k.fresh_get(level, name, &mut kept) {
                    Ok(n) => {
                        k.record(level, name, kept.get(..n.min(MAX_OPT_LEN)), true);
                        if let Some((l, o)) = implied_option(level, name) {
                            // (on the Unix socket, which holds it)
                            let mut p = [0u8; 4];
                            if k.fresh_get(l, o, &mut p) == Ok(4) {
                                let _ = k.own_set_bytes(l, o, &p);
                                k.record(l, o, Some(&p), false);
                            }
                        }
                    }
                    Err(_) => k.record(level, name, None, true),
                }
            }
        }
        return Ok(());
    }
    match k.own_set(level, name) {
        Ok(()) => {
            k.record(level, name, None, false);
            Ok(())
        }
        Err(e) if e == libc::ENOPROTOOPT || e == libc::EOPNOTSUPP => {
            // A TCP/UDP socket would have taken it; remember it so getsockopt agrees.
            k.record(level, name, None, true);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A queue ioctl ([`QUEUE_IOCTLS`]) on a converted socket. Whether TCP/UDP answers at all in
/// this state (SIOCINQ on a listener: EINVAL) is the template's; so is the output queue's
/// value: a Unix socket writes straight into its peer's receive queue, so nothing ever waits
/// unsent or unacknowledged, as on an idle loopback TCP socket. Bytes waiting (stream) or the
/// next datagram's size (SIOCINQ) are the Unix socket's own.
pub fn ioctl(k: &mut impl Kernel, f: &Facts, request: u64) -> Result<(), i32> {
    if f.real {
        return k.own_ioctl(request);
    }
    match k.template_ioctl(f.state, request) {
        None => k.own_ioctl(request),
        Some(Err(e)) => Err(e),
        Some(Ok(())) if request == SIOCINQ => k.own_ioctl(request),
        Some(Ok(())) => Ok(()),
    }
}

/// Options a program may have set on its TCP/UDP socket before a backend that does not see
/// those calls (the seccomp supervisor) replaces it with a Unix socket: at the swap each is
/// read on the program's socket and on a pristine one of the same family and type, and those
/// that differ are carried over ([`carry_over`]). The options a program sets before `bind` or
/// `connect` in practice: reuse, buffers, timeouts, keepalive, linger, marks and priorities,
/// Nagle and the keepalive times, TOS/TTL/traffic class, v6-only, freebind/transparent.
pub const CARRIED_OVER: &[(i32, i32)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    (libc::SOL_SOCKET, libc::SO_BROADCAST),
    (libc::SOL_SOCKET, libc::SO_LINGER),
    (libc::SOL_SOCKET, libc::SO_OOBINLINE),
    (libc::SOL_SOCKET, libc::SO_SNDBUF),
    (libc::SOL_SOCKET, libc::SO_RCVBUF),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT),
    (libc::SOL_SOCKET, libc::SO_RCVTIMEO),
    (libc::SOL_SOCKET, libc::SO_SNDTIMEO),
    (libc::SOL_SOCKET, libc::SO_PRIORITY),
    (libc::SOL_SOCKET, libc::SO_MARK),
    (libc::SOL_SOCKET, libc::SO_DONTROUTE),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMP),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY),
    (libc::IPPROTO_TCP, libc::TCP_CORK),
    (libc::IPPROTO_TCP, libc::TCP_MAXSEG),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    (libc::IPPROTO_TCP, libc::TCP_SYNCNT),
    (libc::IPPROTO_TCP, libc::TCP_LINGER2),
    (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
    (libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP),
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
    (libc::IPPROTO_TCP, libc::TCP_FASTOPEN),
    (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT),
    (libc::IPPROTO_TCP, libc::TCP_CONGESTION),
    (libc::IPPROTO_IP, libc::IP_TOS),
    (libc::IPPROTO_IP, libc::IP_TTL),
    (libc::IPPROTO_IP, libc::IP_FREEBIND),
    (libc::IPPROTO_IP, libc::IP_TRANSPARENT),
    (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
    (libc::IPPROTO_IP, libc::IP_RECVERR),
    (libc::IPPROTO_IP, libc::IP_PKTINFO),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP),
    (libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT),
    (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
    (libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
    (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
    (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER),
    (libc::IPPROTO_UDP, libc::UDP_CORK),
];

/// Carries the options of [`CARRIED_OVER`] that the program changed on its socket over to the
/// socket replacing it, as if it had set them there: `original` and `pristine` read an option
/// (into the buffer; the length, None when the kernel refuses it) on the program's socket and
/// on an untouched one of its family and type; `set_own` sets one on the replacement (false:
/// refused). SOL_SOCKET options go on the replacement (the buffer sizes halved: the kernel
/// doubles what it is given and the read-back value is already doubled) and are recorded,
/// emulated where AF_UNIX refuses them; IP-level ones are recorded with the value the kernel
/// kept — or, when the replacement is a real socket of the same family (`real`), set on it
/// too. Returns how many changed options did not fit in the record.
pub fn carry_over(
    mut original: impl FnMut(i32, i32, &mut [u8]) -> Option<usize>,
    mut pristine: impl FnMut(i32, i32, &mut [u8]) -> Option<usize>,
    mut set_own: impl FnMut(i32, i32, &[u8]) -> bool,
    real: bool,
    opts: &mut Options,
) -> usize {
    let mut lost = 0;
    for &(level, name) in CARRIED_OVER {
        let mut have = [0u8; MAX_OPT_LEN];
        let mut default = [0u8; MAX_OPT_LEN];
        let Some(n) = original(level, name, &mut have) else {
            continue;
        };
        let n = n.min(MAX_OPT_LEN);
        if pristine(level, name, &mut default) == Some(n) && have[..n] == default[..n] {
            continue;
        }
        let value = &mut have[..n];
        let emulated = if level == libc::SOL_SOCKET || real {
            if matches!(name, libc::SO_SNDBUF | libc::SO_RCVBUF) && n == 4 {
                let v = i32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
                value.copy_from_slice(&(v / 2).to_ne_bytes());
            }
            !set_own(level, name, value)
        } else {
            true
        };
        if !opts.record(level, name, value, emulated) {
            lost += 1;
        }
    }
    lost
}

/// Options of a TCP listener its connections do not take over: those about the listening, and
/// the priority (a connection starts at 0 whatever its listener's; measured, scn_sockopt_carry_over).
const LISTENER_ONLY: &[(i32, i32)] = &[
    (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
    (libc::IPPROTO_TCP, libc::TCP_FASTOPEN),
    (libc::SOL_SOCKET, libc::SO_PRIORITY),
];

/// The record of a connection accepted on a converted listener whose record is `listener`: a
/// TCP connection starts as a copy of its listener, options included, but a Unix one does not,
/// so `set_own` puts each SOL_SOCKET option on the accepted socket (false: refused there, then
/// answered from the record).
pub fn inherit(listener: &Options, mut set_own: impl FnMut(i32, i32, &[u8]) -> bool) -> Options {
    let mut opts = Options::default();
    for o in listener.all() {
        if LISTENER_ONLY.contains(&(o.level, o.name)) {
            continue;
        }
        let emulated = if o.level == libc::SOL_SOCKET {
            o.emulated || !set_own(o.level, o.name, o.value())
        } else {
            o.emulated
        };
        opts.record(o.level, o.name, o.value(), emulated);
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake kernel: a log of what was asked, templates that answer 7 (or fail), a Unix
    /// socket that answers 3 and refuses IP levels, and the call's buffer.
    #[derive(Default)]
    struct Fake {
        no_template: bool,
        template_errno: Option<i32>,
        own_errno: Option<i32>,
        fresh_errno: Option<i32>,
        buf: Vec<u8>,
        log: Vec<String>,
        recorded: Vec<(i32, i32, Option<Vec<u8>>, bool)>,
    }

    impl Kernel for Fake {
        fn template_get(&mut self, state: State, level: i32, name: i32) -> Option<Result<(), i32>> {
            if self.no_template {
                return None;
            }
            self.log.push(format!("template {state:?} {level}/{name}"));
            if let Some(e) = self.template_errno {
                return Some(Err(e));
            }
            self.buf = 7i32.to_ne_bytes().to_vec();
            Some(Ok(()))
        }
        fn template_bytes(&mut self, _: State, _: i32, _: i32, out: &mut [u8]) -> Option<usize> {
            out.fill(0);
            Some(out.len())
        }
        fn own_get(&mut self, level: i32, name: i32) -> Result<(), i32> {
            self.log.push(format!("own {level}/{name}"));
            self.buf = 3i32.to_ne_bytes().to_vec();
            Ok(())
        }
        fn own_int(&mut self, _: i32, _: i32) -> Result<i32, i32> {
            Ok(0)
        }
        fn overwrite(&mut self, bytes: &[u8]) {
            for (i, b) in self.buf.iter_mut().enumerate() {
                *b = bytes.get(i).copied().unwrap_or(0);
            }
        }
        fn answer(&mut self, bytes: &[u8]) -> Result<(), i32> {
            self.buf = bytes.to_vec();
            Ok(())
        }
        fn own_set(&mut self, level: i32, name: i32) -> Result<(), i32> {
            self.log.push(format!("own set {level}/{name}"));
            self.own_errno.map_or(Ok(()), Err)
        }
        fn own_set_bytes(&mut self, level: i32, name: i32, _: &[u8]) -> Result<(), i32> {
            self.log.push(format!("own set bytes {level}/{name}"));
            Ok(())
        }
        fn fresh_set(&mut self, level: i32, name: i32) -> Option<Result<(), i32>> {
            self.log.push(format!("fresh set {level}/{name}"));
            Some(self.fresh_errno.map_or(Ok(()), Err))
        }
        fn fresh_get(&mut self, _: i32, _: i32, out: &mut [u8]) -> Result<usize, i32> {
            out[..4].copy_from_slice(&9i32.to_ne_bytes());
            Ok(4)
        }
        fn record(&mut self, level: i32, name: i32, value: Option<&[u8]>, emulated: bool) {
            self.recorded
                .push((level, name, value.map(|v| v.to_vec()), emulated));
        }
        fn template_ioctl(&mut self, state: State, request: u64) -> Option<Result<(), i32>> {
            if self.no_template {
                return None;
            }
            self.log
                .push(format!("template ioctl {state:?} {request:#x}"));
            Some(self.template_errno.map_or(Ok(()), Err))
        }
        fn own_ioctl(&mut self, request: u64) -> Result<(), i32> {
            self.log.push(format!("own ioctl {request:#x}"));
            Ok(())
        }
    }

    fn facts(opts: &Options, state: State) -> Facts<'_> {
        Facts {
            family: libc::AF_INET6,
            sotype: libc::SOCK_STREAM,
            state,
            local: Some("[::1]:8080".parse().unwrap()),
            peer: Some("[::1]:40000".parse().unwrap()),
            dispatched: false,
            real: false,
            opts,
        }
    }

    fn int(buf: &[u8]) -> i32 {
        i32::from_ne_bytes(buf[..4].try_into().unwrap())
    }

    #[test]
    fn template_answers_unless_the_socket_owns_the_value() {
        let opts = Options::default();
        let f = facts(&opts, State::Accepted);
        let mut k = Fake::default();
        getsockopt(&mut k, &f, libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap();
        assert_eq!(k.log, ["template Accepted 6/1"]);
        assert_eq!(int(&k.buf), 7);
        let mut k = Fake::default();
        getsockopt(&mut k, &f, libc::SOL_SOCKET, libc::SO_ERROR).unwrap();
        assert_eq!(k.log, ["own 1/4"], "SO_ERROR never asks a template");
        let mut k = Fake::default();
        getsockopt(&mut k, &f, libc::SOL_SOCKET, libc::SO_COOKIE).unwrap();
        assert_eq!(k.log, ["template Accepted 1/57", "own 1/57"]);
        assert_eq!(int(&k.buf), 3);
    }

    #[test]
    fn a_template_error_is_the_answer() {
        let opts = Options::default();
        let mut k = Fake {
            template_errno: Some(libc::ENOPROTOOPT),
            ..Fake::default()
        };
        let r = getsockopt(&mut k, &facts(&opts, State::Fresh), libc::IPPROTO_TCP, 99);
        assert_eq!(r, Err(libc::ENOPROTOOPT));
    }

    #[test]
    fn recorded_values_replace_the_templates() {
        let mut opts = Options::default();
        assert!(opts.record(
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &1i32.to_ne_bytes(),
            true
        ));
        assert!(opts.record(
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &4096i32.to_ne_bytes(),
            false
        ));
        assert!(opts.record(
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            &1i32.to_ne_bytes(),
            true
        ));
        let f = facts(&opts, State::Client);
        let mut k = Fake::default();
        getsockopt(&mut k, &f, libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap();
        assert_eq!(int(&k.buf), 1);
        let mut k = Fake::default();
        getsockopt(&mut k, &f, libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap();
        assert_eq!(
            int(&k.buf),
            3,
            "held by the Unix socket (doubled by the kernel)"
        );
        let mut k = Fake::default();
        getsockopt(&mut k, &f, libc::SOL_SOCKET, libc::SO_REUSEPORT).unwrap();
        assert_eq!(int(&k.buf), 1, "refused by AF_UNIX: the record");
    }

    #[test]
    fn pretended_addresses() {
        let opts = Options::default();
        let mut k = Fake::default();
        k.buf = vec![0; 28];
        getsockopt(
            &mut k,
            &facts(&opts, State::Listening),
            libc::IPPROTO_IP,
            IP_PROTOCOL,
        )
        .unwrap();
        assert_eq!(int(&k.buf), 8080);
        let mut k = Fake::default();
        getsockopt(
            &mut k,
            &facts(&opts, State::Listening),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
        )
        .unwrap();
        assert_eq!(int(&k.buf), 1, "bound to ::1");
        let mut k = Fake::default();
        getsockopt(
            &mut k,
            &facts(&opts, State::Client),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
        )
        .unwrap();
        assert_eq!(int(&k.buf), 7, "an unbound client: the template's");
        let mut k = Fake::default();
        getsockopt(
            &mut k,
            &facts(&opts, State::Client),
            libc::SOL_SOCKET,
            libc::SO_PEERNAME,
        )
        .unwrap();
        // Only the 4 bytes the template returned are replaced: family and port 40000.
        assert_eq!(k.buf, [10, 0, 0x9c, 0x40]);
    }

    #[test]
    fn without_a_template() {
        let opts = Options::default();
        let f = Facts {
            family: libc::AF_INET,
            sotype: libc::SOCK_DGRAM,
            ..facts(&opts, State::Unconnected)
        };
        let mut k = Fake {
            no_template: true,
            ..Fake::default()
        };
        getsockopt(&mut k, &f, libc::SOL_SOCKET, libc::SO_PROTOCOL).unwrap();
        assert_eq!(int(&k.buf), libc::IPPROTO_UDP);
        getsockopt(&mut k, &f, libc::SOL_SOCKET, libc::SO_DOMAIN).unwrap();
        assert_eq!(int(&k.buf), libc::AF_INET);
        getsockopt(&mut k, &f, libc::IPPROTO_IP, libc::IP_TTL).unwrap();
        assert_eq!(int(&k.buf), 64);
        getsockopt(&mut k, &f, libc::SOL_SOCKET, libc::SO_LINGER).unwrap();
        assert_eq!(k.log, ["own 1/13"]);
        // A real TCP socket behind: its own protocol options, a pretended identity.
        let real = Facts { real: true, ..f };
        let mut k = Fake::default();
        getsockopt(&mut k, &real, libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap();
        getsockopt(&mut k, &real, libc::SOL_SOCKET, libc::SO_DOMAIN).unwrap();
        assert_eq!(k.log, ["own 6/1"]);
        assert_eq!(int(&k.buf), libc::AF_INET);
    }

    #[test]
    fn ip_level_set_is_checked_on_a_fresh_socket_and_recorded() {
        let mut k = Fake::default();
        setsockopt(&mut k, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, false, 4).unwrap();
        assert_eq!(k.log, ["fresh set 6/4"]);
        assert_eq!(
            k.recorded,
            [(6, 4, Some(9i32.to_ne_bytes().to_vec()), true)]
        );
        let mut k = Fake {
            fresh_errno: Some(libc::EINVAL),
            ..Fake::default()
        };
        assert_eq!(
            setsockopt(&mut k, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, false, 4),
            Err(libc::EINVAL)
        );
        assert!(k.recorded.is_empty());
        let mut k = Fake::default();
        assert_eq!(
            setsockopt(&mut k, libc::IPPROTO_IP, libc::IP_TOS, true, 4),
            Err(libc::EFAULT)
        );
        setsockopt(&mut k, libc::IPPROTO_IP, libc::IP_TOS, false, 4).unwrap();
        assert_eq!(k.log, ["fresh set 0/1", "own set bytes 1/12"]);
        assert_eq!(k.recorded.len(), 2, "IP_TOS and the SO_PRIORITY it implies");
    }

    #[test]
    fn socket_level_set_goes_to_the_unix_socket_and_refusals_are_emulated() {
        let mut k = Fake::default();
        setsockopt(&mut k, libc::SOL_SOCKET, libc::SO_KEEPALIVE, false, 4).unwrap();
        assert_eq!(k.recorded, [(1, 9, None, false)]);
        let mut k = Fake {
            own_errno: Some(libc::EOPNOTSUPP),
            ..Fake::default()
        };
        setsockopt(&mut k, libc::SOL_SOCKET, libc::SO_REUSEPORT, false, 4).unwrap();
        assert_eq!(k.recorded, [(1, 15, None, true)]);
        let mut k = Fake {
            own_errno: Some(libc::EINVAL),
            ..Fake::default()
        };
        assert_eq!(
            setsockopt(&mut k, libc::SOL_SOCKET, libc::SO_LINGER, false, 1),
            Err(libc::EINVAL)
        );
    }

    #[test]
    fn queue_ioctls() {
        let opts = Options::default();
        let f = facts(&opts, State::Accepted);
        let mut k = Fake::default();
        ioctl(&mut k, &f, SIOCINQ).unwrap();
        ioctl(&mut k, &f, SIOCOUTQ).unwrap();
        assert_eq!(
            k.log,
            [
                "template ioctl Accepted 0x541b",
                "own ioctl 0x541b",
                "template ioctl Accepted 0x5411"
            ]
        );
        let mut k = Fake {
            template_errno: Some(libc::EINVAL),
            ..Fake::default()
        };
        assert_eq!(
            ioctl(&mut k, &facts(&opts, State::Listening), SIOCINQ),
            Err(libc::EINVAL)
        );
    }

    #[test]
    fn options_replace_and_bound() {
        let mut o = Options::default();
        for i in 0..MAX_OPTS as i32 {
            assert!(o.record(0, i, &[i as u8], true));
        }
        assert!(!o.record(0, 99, &[1], true), "full");
        assert!(o.record(0, 3, &[7, 7], false), "replaced in place");
        assert_eq!(o.find(0, 3).unwrap().value(), [7, 7]);
        assert!(!o.record(0, 3, &[0; MAX_OPT_LEN + 1], false), "too long");
    }

    #[test]
    fn only_changed_options_are_carried_over_and_buffers_are_halved() {
        let int_of = |v: i32, out: &mut [u8]| {
            out[..4].copy_from_slice(&v.to_ne_bytes());
            Some(4)
        };
        let original = |level: i32, name: i32, out: &mut [u8]| match (level, name) {
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int_of(131072, out),
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => int_of(1, out),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => int_of(1, out),
            (libc::IPPROTO_UDP, _) => None,
            _ => int_of(0, out),
        };
        let pristine = |level: i32, name: i32, out: &mut [u8]| match (level, name) {
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int_of(131072 / 4, out),
            _ => int_of(0, out),
        };
        let mut set = Vec::new();
        let mut opts = Options::default();
        let lost = carry_over(
            original,
            pristine,
            |level, name, v| {
                set.push((level, name, v.to_vec()));
                name != libc::SO_REUSEPORT // AF_UNIX refuses it
            },
            false,
            &mut opts,
        );
        assert_eq!(lost, 0);
        assert_eq!(
            set,
            [
                (
                    libc::SOL_SOCKET,
                    libc::SO_REUSEPORT,
                    1i32.to_ne_bytes().to_vec()
                ),
                (
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    65536i32.to_ne_bytes().to_vec()
                ),
            ]
        );
        let got: Vec<_> = opts
            .all()
            .iter()
            .map(|o| (o.level, o.name, int(o.value()), o.emulated))
            .collect();
        assert_eq!(
            got,
            [
                (libc::SOL_SOCKET, libc::SO_REUSEPORT, 1, true),
                (libc::SOL_SOCKET, libc::SO_RCVBUF, 65536, false),
                (libc::IPPROTO_TCP, libc::TCP_NODELAY, 1, true),
            ]
        );
    }

    #[test]
    fn a_connection_inherits_its_listeners_options_but_the_listening_ones() {
        let mut l = Options::default();
        l.record(
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            &1i32.to_ne_bytes(),
            false,
        );
        l.record(
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            &1i32.to_ne_bytes(),
            true,
        );
        l.record(
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &1i32.to_ne_bytes(),
            true,
        );
        l.record(
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            &7i32.to_ne_bytes(),
            true,
        );
        let mut set = Vec::new();
        let c = inherit(&l, |level, name, _| {
            set.push((level, name));
            true
        });
        assert_eq!(
            set,
            [(libc::SOL_SOCKET, libc::SO_KEEPALIVE)],
            "emulated ones are not set"
        );
        let got: Vec<_> = c
            .all()
            .iter()
            .map(|o| (o.level, o.name, o.emulated))
            .collect();
        assert_eq!(
            got,
            [
                (libc::SOL_SOCKET, libc::SO_KEEPALIVE, false),
                (libc::SOL_SOCKET, libc::SO_REUSEPORT, true),
                (libc::IPPROTO_TCP, libc::TCP_NODELAY, true),
            ]
        );
    }
}
