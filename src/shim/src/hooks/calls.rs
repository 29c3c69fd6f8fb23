//! bind, connect and accept: where rules are applied and sockets swapped.

use core::net::SocketAddr;

use libc::{c_int, sockaddr, socklen_t};
use sockswap_core::addr::{self, Decoded, UnixName, UnixSockaddr};
use sockswap_core::decide::{self, decide, tcp_connect_errno, Decision, EndpointError};
use sockswap_core::rule::{Action, Direction, Query, QueryTarget, Rule, SockType};

use crate::fdtable::{self, Slot, SlotData, CONVERTED, TRACKED};
use crate::hooks::{fail, sockaddr_bytes, write_out, SavedErrno};
use crate::log::{log, Bytes};
use crate::peers;
use crate::runtime::{self, Runtime};
use crate::swap::{self, kernel_kind, real_local_address, record_to_swap, snapshot, Replacement};
use crate::{hybrid, sys, vsock};
use sockswap_core::control::{ControlFile, Target};
use sockswap_core::errno::Errno;

/// How long a converted connect of a non-blocking program may wait for backlog room.
const NONBLOCKING_CONNECT_WAIT_MS: i64 = 1000;

/// What the rules say about a bind or connect.
pub(crate) enum Verdict<'r> {
    PassThrough,
    Reject(c_int),
    Convert {
        index: usize,
        rule: &'r Rule,
        sotype: c_int,
        slot: &'static Slot,
    },
    /// A datagram to an address we reported for a Unix sender: back to that sender.
    ToPeer {
        sa: UnixSockaddr,
        sotype: c_int,
        slot: &'static Slot,
    },
}

/// The family and type of `fd` as recorded at `socket()`, or asked from the kernel for sockets
/// that did not come through our hook (inherited, or created before we were loaded).
fn socket_kind(fd: c_int, slot: &'static Slot) -> Option<(c_int, c_int, c_int)> {
    if slot.kind() == TRACKED {
        let mut g = slot.lock();
        if g.kind() == TRACKED {
            let d = g.data();
            return Some((d.family, d.sotype, d.protocol));
        }
    }
    kernel_kind(fd)
}

pub(crate) fn judge<'r>(
    rt: &'r Runtime,
    direction: Direction,
    fd: c_int,
    target: QueryTarget<'_>,
) -> Verdict<'r> {
    let Some(slot) = fdtable::get_or_map(fd) else {
        return Verdict::PassThrough;
    };
    if slot.kind() == CONVERTED && direction == Direction::In {
        return Verdict::PassThrough; // already ours: the kernel answers a second bind
    }
    let (family, sotype) = if slot.kind() == CONVERTED {
        // A Unix socket standing in for the program's: judged as the family it pretends.
        let mut g = slot.lock();
        let sotype = g.data().sotype;
        let family = match target {
            QueryTarget::Ip(SocketAddr::V4(_)) => libc::AF_INET,
            QueryTarget::Ip(SocketAddr::V6(_)) => libc::AF_INET6,
            QueryTarget::Unix(_) => libc::AF_UNIX,
        };
        (family, sotype)
    } else {
        let Some((family, sotype, _)) = socket_kind(fd, slot) else {
            return Verdict::PassThrough;
        };
        (family, sotype)
    };
    let sotype = sotype & 0xf;
    if let (Direction::Out, libc::SOCK_DGRAM, QueryTarget::Ip(ip)) = (direction, sotype, target) {
        let fits = family
            == if ip.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
        if let Some(sa) = peers::name_of_synthetic(ip).filter(|_| fits) {
            return Verdict::ToPeer { sa, sotype, slot };
        }
    }
    let decision = decide(&rt.config.rules, direction, family, sotype, target);
    if crate::log::enabled(sockswap_core::LogLevel::Debug) {
        if let Some(ty) = SockType::from_sock_type(sotype) {
            let query = Query {
                direction,
                ty,
                target,
            };
            log!(
                Debug,
                "fd {fd}: {} {} ({}): {}",
                match direction {
                    Direction::In => "bind",
                    Direction::Out => "connect",
                },
                DisplayTarget(target),
                ty.name(),
                DecisionLog { rt, query: &query }
            );
        }
    }
    match decision {
        Decision::PassThrough => Verdict::PassThrough,
        Decision::Reject(e) => Verdict::Reject(e),
        Decision::Convert { index, rule } => Verdict::Convert {
            index,
            rule,
            sotype,
            slot,
        },
    }
}

/// The decision for a bind/connect, with every rule tried and why it did not match, for the
/// `debug` log ("why doesn't my rule match?"). Formats without allocating.
struct DecisionLog<'a> {
    rt: &'a Runtime,
    query: &'a Query<'a>,
}

impl core::fmt::Display for DecisionLog<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, rule) in self.rt.config.rules.iter().enumerate() {
            let text = self.rt.rule_texts.get(i).map_or("", String::as_str);
            match rule.mismatch(self.query) {
                Some(why) => write!(f, "rule {} ({text}) does not match: {why}; ", i + 1)?,
                None => {
                    write!(f, "rule {} ({text}) matches: ", i + 1)?;
                    return f.write_str(match rule.action {
                        Action::Ignore => "stays TCP/IP (ignore)",
                        Action::Reject(_) => "the call is refused",
                        _ => "converted",
                    });
                }
            }
        }
        f.write_str("no rule matches: stays TCP/IP")
    }
}

/// Expands a path/abstract template for `ip:port`.
fn endpoint(
    rule: &Rule,
    ip: core::net::IpAddr,
    port: u16,
    sotype: c_int,
) -> Result<UnixSockaddr, c_int> {
    decide::endpoint(rule, ip, port, sotype).map_err(|e| {
        if let (EndpointError::TooLong, Some((tpl, _))) = (e, decide::unix_template(&rule.action)) {
            // A fixed name was checked at load; a template can still expand too long here.
            too_long(rule, tpl, ip, port, sotype);
        }
        e.errno()
    })
}

/// Says which rule's template expanded too long, to what, and by how much (only on failure:
/// the name is expanded again into a buffer large enough to show it).
fn too_long(
    rule: &Rule,
    tpl: &sockswap_core::template::Template,
    ip: core::net::IpAddr,
    port: u16,
    sotype: c_int,
) {
    let ty = SockType::from_sock_type(sotype).unwrap_or(SockType::Tcp);
    let mut buf = [0u8; 4 * addr::SUN_PATH_LEN];
    let len = tpl.expand(sockswap_core::template::Fill { ip, port, ty }, &mut buf);
    let name = match len {
        Ok(n) => buf.get(..n).unwrap_or(&[]),
        Err(_) => &buf[..],
    };
    let max = addr::SUN_PATH_LEN - 1;
    log!(
        Error,
        "rule {}: '{}' expands to {}{} ({}{} bytes, more than the {max} a Unix socket name holds): {}; shorten the template",
        rule_number(rule),
        tpl.as_str(),
        Bytes(name),
        if len.is_err() { "..." } else { "" },
        if len.is_err() { "over " } else { "" },
        len.unwrap_or(buf.len()),
        Errno(libc::ENAMETOOLONG)
    );
}

/// The 1-based number of `rule` in the configuration, as `sockswap check` counts.
fn rule_number(rule: &Rule) -> usize {
    runtime::get()
        .and_then(|rt| rt.config.rules.iter().position(|r| core::ptr::eq(r, rule)))
        .map_or(0, |i| i + 1)
}

/// The Unix endpoint of a `from-unix`/`from-abstract` rule (no placeholders to fill).
fn unix_endpoint(rule: &Rule, sotype: c_int) -> Result<UnixSockaddr, c_int> {
    endpoint(
        rule,
        core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        0,
        sotype,
    )
}

fn name_of(sa: &UnixSockaddr) -> Bytes<'_> {
    match sa.name() {
        UnixName::Path(p) => Bytes(p),
        UnixName::Abstract(n) => Bytes(n),
        UnixName::Unnamed => Bytes(b"(unnamed)"),
    }
}

// ---------------------------------------------------------------- bind

#[unsafe(no_mangle)]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the program's own arguments.
    unsafe { apply_rules(Direction::In, fd, addr, len, crate::real::bind::get()) }
}

type AddrCall = unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int;

/// bind and connect: decide with the rules, then pass through, reject or convert.
///
/// # Safety
/// The program's own bind/connect arguments; `real` is the matching libc function.
unsafe fn apply_rules(
    direction: Direction,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
    real: AddrCall,
) -> c_int {
    // SAFETY: the program's own call, passed through (this and every `real` call below).
    let pass = || unsafe { real(fd, addr, len) };
    let Some(rt) = runtime::get() else {
        return pass();
    };
    // SAFETY: the program promised addr is valid for len bytes.
    let Some(bytes) = (unsafe { sockaddr_bytes(addr, len) }) else {
        return pass();
    };
    let target = match addr::decode(bytes) {
        Decoded::Ip(sa) => QueryTarget::Ip(sa),
        Decoded::Unix(name) if rt.watch_unix => QueryTarget::Unix(name),
        Decoded::Other(libc::AF_UNSPEC) if direction == Direction::Out => {
            // A datagram socket dissolving its association: it has no peer any more.
            let r = pass();
            if r == 0 {
                if let Some(slot) = fdtable::get(fd).filter(|s| s.kind() == CONVERTED) {
                    let mut g = slot.lock();
                    if g.kind() == CONVERTED {
                        g.data().peer = None;
                    }
                }
            }
            return r;
        }
        _ => return pass(),
    };
    let (index, rule, sotype, slot) = match judge(rt, direction, fd, target) {
        Verdict::PassThrough if direction == Direction::In => {
            let r = pass();
            if r == 0 {
                fdtable::set_flag(fd, TRACKED, fdtable::IP_BOUND);
            }
            return r;
        }
        Verdict::PassThrough => {
            let converted = fdtable::get(fd).is_some_and(|s| s.kind() == CONVERTED);
            if direction == Direction::Out && converted && matches!(target, QueryTarget::Ip(_)) {
                // An IP connect on a socket we made a Unix socket (bound by an `in` rule) with
                // no `out` rule to say where: it cannot reach an IP address any more.
                log!(Warn, "fd {fd}: connect to {} from a socket bound to a Unix path; no 'out' rule matches", DisplayTarget(target));
                return fail(libc::ENETUNREACH);
            }
            return pass();
        }
        Verdict::Reject(e) => return fail(e),
        Verdict::ToPeer { sa, sotype, slot } => {
            let saved = SavedErrno::new();
            return match connect_converted(fd, slot, usize::MAX, sotype, target, &sa, false) {
                Ok(()) => 0,
                Err(e) => {
                    drop(saved);
                    fail(e)
                }
            };
        }
        Verdict::Convert {
            index,
            rule,
            sotype,
            slot,
        } => (index, rule, sotype, slot),
    };
    let saved = SavedErrno::new();
    if let Action::Netns(server) = &rule.action {
        let op = match direction {
            Direction::In => sockswap_core::netns::Op::Bind,
            Direction::Out => sockswap_core::netns::Op::Connect,
        };
        // The server bound or connected it (a connect in progress is EINPROGRESS here for a
        // non-blocking socket, as the kernel's).
        return match crate::hooks::netns::socket_from_server(fd, slot, server, op, sotype, bytes) {
            Ok(()) => 0,
            Err(e) => {
                drop(saved);
                fail(e)
            }
        };
    }
    let result = match (direction, &rule.action) {
        (Direction::In, Action::Systemd(name)) => {
            bind_systemd(fd, slot, index, name.as_deref(), sotype, target)
        }
        (Direction::In, Action::SocketboxB { .. }) => {
            crate::hooks::socketbox::bind_b(fd, slot, index, rule, sotype, target)
        }
        (Direction::In, _) => bind_converted(fd, slot, index, rule, sotype, target),
        (Direction::Out, Action::Vsock { cid, port }) => match target {
            QueryTarget::Ip(ip) => {
                let dest = vsock::Dest::vsock(*cid, *port);
                vsock::connect(fd, slot, index, sotype, ip, dest, None)
            }
            QueryTarget::Unix(_) => Err(libc::EINVAL),
        },
        (Direction::Out, Action::HybridVsock { port, .. }) => match target {
            QueryTarget::Ip(ip) => endpoint(rule, ip.ip(), ip.port(), sotype).and_then(|sa| {
                let port = port.unwrap_or(u32::from(ip.port()));
                hybrid::connect(fd, slot, index, sotype, ip, &sa, port, None)
            }),
            QueryTarget::Unix(_) => Err(libc::EINVAL),
        },
        (Direction::Out, _) => out_endpoint(rule, target, sotype)
            .and_then(|sa| connect_converted(fd, slot, index, sotype, target, &sa, true)),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            drop(saved);
            fail(e)
        }
    }
}

pub(crate) fn bind_converted(
    fd: c_int,
    slot: &'static Slot,
    index: usize,
    rule: &Rule,
    sotype: c_int,
    target: QueryTarget<'_>,
) -> Result<(), c_int> {
    if let QueryTarget::Ip(ip) = target {
        match &rule.action {
            Action::Vsock { cid, port } => {
                let dest = vsock::Dest::vsock(*cid, *port);
                return vsock::bind(fd, slot, index, sotype, ip, dest, None);
            }
            Action::Path(_) if ip.port() != 0 => {
                // An unsock control file where the socket file would be.
                let sa = endpoint(rule, ip.ip(), ip.port(), sotype)?;
                if let Some(cf) = sa.c_path().and_then(vsock::read_control_file) {
                    let cf = cf?;
                    return match cf.target() {
                        Ok(Target::Direct { family, sockaddr }) => {
                            let dest = vsock::Dest {
                                family: family as c_int,
                                vsock: None,
                                raw: sockaddr,
                            };
                            vsock::bind(fd, slot, index, sotype, ip, dest, Some(&cf.params))
                        }
                        // unsock: a Firecracker file cannot be bound.
                        _ => Err(libc::EINVAL),
                    };
                }
            }
            _ => {}
        }
    }
    let mut g = slot.lock();
    let mut data = record_to_swap(&mut g, fd, sotype)?;
    if let QueryTarget::Ip(ip) = target {
        if reuses_port(&data) && ip.port() != 0 {
            drop(g);
            if let Some(first) = reuseport_sibling(fd, ip) {
                return share_listener(first, fd);
            }
            g = slot.lock();
            data = record_to_swap(&mut g, fd, sotype)?;
        }
    }
    // A socketbox "A" listener receives connections as fds on a datagram socket.
    let socketbox = matches!(rule.action, Action::SocketboxA(_));
    let unix_type = if socketbox { libc::SOCK_DGRAM } else { sotype };
    let tmp = Replacement::new(fd, unix_type, &mut data)?;
    let (sa, fake_port) = match (target, &rule.action) {
        (QueryTarget::Ip(ip), Action::Blackhole) => {
            let port = if ip.port() == 0 {
                swap::next_ephemeral_port()
            } else {
                ip.port()
            };
            (UnixSockaddr::unnamed(), port) // autobind: an abstract name nobody is told
        }
        (QueryTarget::Ip(ip), _) => bind_template(&tmp, rule, ip, unix_type)?,
        (QueryTarget::Unix(_), Action::Blackhole) => (UnixSockaddr::unnamed(), 0),
        (QueryTarget::Unix(_), _) => {
            let sa = unix_endpoint(rule, sotype)?;
            let r = swap::bind_unix(tmp.fd, sotype, &sa, None);
            r.map_err(|e| {
                bind_error(
                    &sa,
                    if e == swap::OWN_PATH {
                        libc::EADDRINUSE
                    } else {
                        e
                    },
                )
            })?;
            (sa, 0)
        }
    };
    if matches!(rule.action, Action::Blackhole) {
        sys::bind(tmp.fd, sa.bytes.as_ptr().cast(), sa.len as u32)?;
    }
    if let (Some(mode), Some(cpath)) = (rule.mode, sa.c_path()) {
        if let Err(e) = sys::chmod_nofollow(cpath, mode) {
            log!(
                Warn,
                "chmod {:o} {}: {err}",
                mode,
                name_of(&sa),
                err = Errno(e)
            );
        }
    }
    tmp.apply_flags();
    let owns_file = sa.c_path().is_some() && !rule.noremove;
    if let Err(e) = tmp.install(fd, &data) {
        if let Some(cpath) = sa.c_path() {
            let _ = sys::unlink(cpath);
        }
        return Err(e);
    }
    data.rule = index.min(u16::MAX as usize) as u16;
    if socketbox {
        data.flags |= fdtable::SOCKETBOX_A;
    }
    data.local = match target {
        QueryTarget::Ip(ip) => Some(SocketAddr::new(ip.ip(), fake_port)),
        QueryTarget::Unix(_) => None,
    };
    data.owner = if owns_file {
        fdtable::own_path(&sa, data.local)
    } else {
        0
    };
    // (A Unix socket redirected to another Unix path has no IP address to pretend: its
    // family stays AF_UNIX and the name hooks pass through to the kernel.)
    g.set(CONVERTED, data);
    log!(
        Info,
        "fd {fd}: bind {} -> {}",
        DisplayTarget(target),
        name_of(&sa)
    );
    Ok(())
}

/// Gives an unbound Unix socket an autobound abstract name (a datagram sender needs a name for
/// replies to reach it). A socket that already has a name keeps it.
fn autobind(fd: c_int) {
    let hole = UnixSockaddr::unnamed();
    let _ = sys::bind(fd, hole.bytes.as_ptr().cast(), hole.len as u32);
}

/// A `systemd` rule: the program's socket becomes the one systemd passed.
fn bind_systemd(
    fd: c_int,
    slot: &'static Slot,
    index: usize,
    name: Option<&str>,
    sotype: c_int,
    target: QueryTarget<'_>,
) -> Result<(), c_int> {
    let rt = runtime::get().ok_or(libc::EINVAL)?;
    let QueryTarget::Ip(ip) = target else {
        return Err(libc::EINVAL);
    };
    let Some(passed) = rt.activation.take(name) else {
        log!(
            Error,
            "bind {ip}: rule {}: {}",
            index + 1,
            rt.activation.describe(name)
        );
        return Err(libc::EADDRNOTAVAIL);
    };
    let passed_kind = kernel_kind(passed);
    // A Unix datagram socket passed for a stream bind is a socketbox "A" socket (a daemon the
    // router supervises gets one as LISTEN_FDS): the program's listener accepts from it.
    let socketbox_a = passed_kind.is_some_and(|k| {
        k.0 == libc::AF_UNIX && k.1 & 0xf == libc::SOCK_DGRAM && sotype == libc::SOCK_STREAM
    });
    let Some((passed_family, passed_type, _)) =
        passed_kind.filter(|k| k.1 & 0xf == sotype || socketbox_a)
    else {
        log!(
            Error,
            "bind {ip}: passed fd {passed} is not a {} socket",
            if sotype == libc::SOCK_DGRAM {
                "datagram"
            } else {
                "stream"
            }
        );
        rt.activation.put_back(passed);
        return Err(libc::EPROTOTYPE);
    };
    let _ = passed_type;
    // The passed socket's own status flags give way to the program's (set by apply_flags).
    let _ = sys::fcntl(passed, libc::F_SETFL, 0);
    let mut g = slot.lock();
    let mut data = match record_to_swap(&mut g, fd, sotype) {
        Ok(d) => d,
        Err(e) => {
            rt.activation.put_back(passed);
            return Err(e);
        }
    };
    let tmp = match Replacement::adopt(passed, fd, &mut data) {
        Ok(t) => t,
        Err(e) => {
            rt.activation.put_back(passed);
            return Err(e);
        }
    };
    tmp.apply_flags();
    tmp.install(fd, &data)?;
    data.rule = index.min(u16::MAX as usize) as u16;
    data.flags |= fdtable::SYSTEMD;
    if socketbox_a {
        data.flags |= fdtable::SOCKETBOX_A;
    }
    if passed_family == data.family {
        // A real socket of the program's own family: the kernel's answers are the truth.
        data.flags |= fdtable::IP_BOUND;
        g.set(TRACKED, data);
    } else {
        let port = match ip.port() {
            0 => swap::next_ephemeral_port(),
            p => p,
        };
        data.local = Some(SocketAddr::new(ip.ip(), port));
        g.set(CONVERTED, data);
    }
    log!(Info, "fd {fd}: bind {ip} -> passed fd {passed}");
    Ok(())
}

/// A datagram socket about to `sendto` a converted destination: becomes an autobound Unix
/// datagram socket (its local address: the wildcard and an ephemeral port, as after an
/// implicit UDP bind, or the real address it was bound to).
pub(crate) fn convert_for_send(fd: c_int, slot: &'static Slot, index: usize) -> Result<(), c_int> {
    let mut g = slot.lock();
    if g.kind() == CONVERTED {
        return Ok(());
    }
    let mut data = record_to_swap(&mut g, fd, libc::SOCK_DGRAM)?;
    drop(g);
    let bound = if data.flags & fdtable::IP_BOUND != 0 {
        real_local_address(fd)
    } else {
        None
    };
    let tmp = Replacement::new(fd, libc::SOCK_DGRAM, &mut data)?;
    autobind(tmp.fd);
    tmp.apply_flags();
    let mut g = slot.lock();
    tmp.install(fd, &data)?;
    if index != usize::MAX {
        data.rule = index.min(u16::MAX as usize) as u16;
    }
    let family = data.family;
    data.local = Some(bound.unwrap_or_else(|| {
        SocketAddr::new(addr::unspecified(family), swap::next_ephemeral_port())
    }));
    g.set(CONVERTED, data);
    log!(Info, "fd {fd}: datagram socket converted for sending");
    Ok(())
}

/// The program set SO_REUSEPORT on this socket.
pub(crate) fn reuses_port(d: &SlotData) -> bool {
    d.find_opt(libc::SOL_SOCKET, libc::SO_REUSEPORT)
        .is_some_and(|o| o.val.iter().any(|&b| b != 0))
}

/// A converted socket of this process bound to `ip` with SO_REUSEPORT (nginx's `reuseport`
/// opens one listener per worker on one address).
fn reuseport_sibling(fd: c_int, ip: SocketAddr) -> Option<c_int> {
    let mut found = None;
    fdtable::for_range(0, u32::MAX, |other, s| {
        if found.is_some() || other == fd || s.kind() != CONVERTED {
            return;
        }
        let mut g = s.lock();
        if g.kind() == CONVERTED {
            let d = g.data();
            if d.local == Some(ip) && reuses_port(d) {
                found = Some(other);
            }
        }
    });
    found
}

/// SO_REUSEPORT on a converted listener: a Unix socket cannot be bound twice, so the second
/// socket becomes a share of the first (one queue, every worker may accept from it).
pub(crate) fn share_listener(first: c_int, fd: c_int) -> Result<(), c_int> {
    let cloexec = match sys::fcntl(fd, libc::F_GETFD, 0)? as c_int & libc::FD_CLOEXEC {
        0 => 0,
        _ => libc::O_CLOEXEC,
    };
    sys::dup3(first, fd, cloexec)?;
    crate::hooks::lifecycle::duplicate(first, fd);
    log!(
        Info,
        "fd {fd}: SO_REUSEPORT bind shares the listener of fd {first}"
    );
    Ok(())
}

/// Binds the replacement to the rule's endpoint; for port 0, tries ephemeral ports until one's
/// path is free. Returns the endpoint and the port to report.
fn bind_template(
    tmp: &Replacement,
    rule: &Rule,
    ip: SocketAddr,
    sotype: c_int,
) -> Result<(UnixSockaddr, u16), c_int> {
    let uses_port = match &rule.action {
        Action::Path(t) | Action::Abstract(t) | Action::SocketboxA(t) => t.uses_port(),
        _ => false,
    };
    if ip.port() != 0 || !uses_port {
        let claim = SocketAddr::new(ip.ip(), ip.port());
        let port = if ip.port() == 0 {
            swap::next_ephemeral_port()
        } else {
            ip.port()
        };
        let sa = endpoint(rule, ip.ip(), port, sotype)?;
        return match swap::bind_unix(tmp.fd, sotype, &sa, Some(claim)) {
            Ok(()) => Ok((sa, port)),
            Err(swap::OWN_PATH) => {
                // Same path as a socket this process already bound (IPv4 + IPv6 on one port):
                // the first serves both names; this one is bound where nothing reaches.
                log!(
                    Info,
                    "second bind to {}: blackholed, the first socket serves it",
                    name_of(&sa)
                );
                let hole = UnixSockaddr::unnamed();
                sys::bind(tmp.fd, hole.bytes.as_ptr().cast(), hole.len as u32)?;
                Ok((hole, port))
            }
            Err(e) => Err(bind_error(&sa, e)),
        };
    }
    for _ in 0..256 {
        let port = swap::next_ephemeral_port();
        let claim = SocketAddr::new(ip.ip(), port);
        let sa = endpoint(rule, ip.ip(), port, sotype)?;
        match swap::bind_unix(tmp.fd, sotype, &sa, Some(claim)) {
            Ok(()) => return Ok((sa, port)),
            Err(libc::EADDRINUSE) | Err(swap::OWN_PATH) => continue,
            Err(e) => return Err(bind_error(&sa, e)),
        }
    }
    Err(libc::EADDRINUSE)
}

fn bind_error(sa: &UnixSockaddr, e: c_int) -> c_int {
    if e != libc::EADDRINUSE {
        log!(
            Error,
            "cannot bind {}: {}{}",
            name_of(sa),
            Errno(e),
            BindHint(sa, e)
        );
    }
    e
}

/// What to do about a failed bind, where the file system can tell: "; directory /run/app
/// does not exist". Asked only after a failure, so conversions pay nothing for it.
struct BindHint<'a>(&'a UnixSockaddr, c_int);

impl core::fmt::Display for BindHint<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Some(path) = self.0.c_path() else {
            return Ok(());
        };
        let path = path.strip_suffix(b"\0").unwrap_or(path);
        let dir = match path.iter().rposition(|&b| b == b'/') {
            Some(0) => &b"/"[..],
            Some(i) => &path[..i],
            None => &b"."[..],
        };
        let mut cdir = [0u8; addr::SUN_PATH_LEN + 1];
        let Some(slot) = cdir.get_mut(..dir.len()) else {
            return Ok(());
        };
        slot.copy_from_slice(dir);
        let cdir = &cdir[..=dir.len()];
        match (self.1, sys::stat(cdir)) {
            (libc::ENOENT, Err(_)) => write!(
                f,
                "; directory {} does not exist (create it before starting the program)",
                Bytes(dir)
            ),
            (libc::ENOTDIR, _) => write!(f, "; {} is not a directory", Bytes(dir)),
            (libc::EACCES | libc::EPERM, Ok(st)) => write!(
                f,
                "; uid {} may not create files in {} (owner uid {}, mode {:o})",
                sys::geteuid(),
                Bytes(dir),
                st.st_uid,
                st.st_mode & 0o7777
            ),
            (libc::EACCES | libc::EPERM, Err(_)) => write!(
                f,
                "; uid {} may not reach directory {}",
                sys::geteuid(),
                Bytes(dir)
            ),
            _ => Ok(()),
        }
    }
}

struct DisplayTarget<'a>(QueryTarget<'a>);

impl core::fmt::Display for DisplayTarget<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            QueryTarget::Ip(sa) => write!(f, "{sa}"),
            QueryTarget::Unix(UnixName::Path(p)) => write!(f, "{}", Bytes(p)),
            QueryTarget::Unix(UnixName::Abstract(n)) => write!(f, "@{}", Bytes(n)),
            QueryTarget::Unix(UnixName::Unnamed) => f.write_str("(unnamed)"),
        }
    }
}

// ---------------------------------------------------------------- connect

#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the program's own arguments.
    unsafe { apply_rules(Direction::Out, fd, addr, len, crate::real::connect::get()) }
}

/// The Unix endpoint an `out` rule gives for `target`.
pub(crate) fn out_endpoint(
    rule: &Rule,
    target: QueryTarget<'_>,
    sotype: c_int,
) -> Result<UnixSockaddr, c_int> {
    match target {
        QueryTarget::Ip(ip) => endpoint(rule, ip.ip(), ip.port(), sotype),
        QueryTarget::Unix(_) => unix_endpoint(rule, sotype),
    }
}

pub(crate) use sockswap_core::decide::receiver_absent;

/// Marks a datagram socket connected by the program but not (yet) by the kernel.
fn set_lazy(d: &mut SlotData, lazy: bool) {
    if lazy {
        d.flags |= fdtable::LAZY_PEER;
    } else {
        d.flags &= !fdtable::LAZY_PEER;
    }
}

/// Connects `fd` to `sa`, swapping it for a Unix socket first unless it already is one.
/// `by_rule`: `sa` came from a rule (so datagrams from it are reported as from `target`).
fn connect_converted(
    fd: c_int,
    slot: &'static Slot,
    index: usize,
    sotype: c_int,
    target: QueryTarget<'_>,
    sa: &UnixSockaddr,
    by_rule: bool,
) -> Result<(), c_int> {
    let dgram = sotype == libc::SOCK_DGRAM;
    if let (true, true, QueryTarget::Ip(ip)) = (dgram, by_rule, target) {
        peers::remember(sa.name(), ip);
    }
    // Snapshot the record; the connect itself may block and must not hold the slot.
    let (kind, mut data) = snapshot(fd, slot, sotype)?;
    if kind == CONVERTED {
        // Already a Unix socket (bound by an `in` rule): connect it where the rule says.
        let real = crate::real::connect::get();
        // SAFETY: sa is a valid sockaddr_un of sa.len bytes.
        let r = unsafe { real(fd, sa.bytes.as_ptr().cast(), sa.len as u32) };
        let lazy = r < 0 && dgram && receiver_absent(sys::errno());
        if r < 0 && !lazy {
            return Err(tcp_connect_errno(sys::errno()));
        }
        if let QueryTarget::Ip(ip) = target {
            let mut g = slot.lock();
            if g.kind() == CONVERTED {
                let d = g.data();
                d.peer = Some(ip);
                set_lazy(d, lazy);
            }
        }
        return Ok(());
    }
    // A socket the program bound to a real address keeps reporting it.
    let bound = if data.flags & fdtable::IP_BOUND != 0 {
        real_local_address(fd)
    } else {
        None
    };
    let tmp = Replacement::new(fd, sotype, &mut data)?;
    if dgram {
        autobind(tmp.fd); // so the peer can answer
    }
    let wait = if tmp.nonblocking() {
        NONBLOCKING_CONNECT_WAIT_MS
    } else {
        0
    };
    let mut lazy = false;
    loop {
        match swap::connect_unix(tmp.fd, sa, wait) {
            Ok(()) => break,
            Err(libc::EINTR) if wait > 0 => continue,
            Err(e) if dgram && receiver_absent(e) => {
                // UDP needs no receiver to connect: connect when one is there.
                lazy = true;
                break;
            }
            Err(e) => {
                if let (libc::ECONNREFUSED, QueryTarget::Ip(ip)) = (e, target) {
                    // Not a socket: maybe an unsock control file saying where to go.
                    if let Some(cf) = sa.c_path().and_then(vsock::read_control_file) {
                        drop(tmp);
                        return connect_via_control_file(fd, slot, index, sotype, ip, &cf?);
                    }
                }
                log!(
                    Debug,
                    "fd {fd}: connect {} -> {}: {err}",
                    DisplayTarget(target),
                    name_of(sa),
                    err = Errno(e)
                );
                return Err(tcp_connect_errno(e));
            }
        }
    }
    tmp.apply_flags();
    let mut g = slot.lock();
    tmp.install(fd, &data)?;
    data.rule = index.min(u16::MAX as usize) as u16;
    match target {
        QueryTarget::Ip(ip) => {
            let family = data.family;
            data.local =
                Some(bound.unwrap_or_else(|| {
                    decide::client_local(family, ip, swap::next_ephemeral_port())
                }));
            data.peer = Some(ip);
        }
        QueryTarget::Unix(_) => {}
    }
    set_lazy(&mut data, lazy);
    g.set(CONVERTED, data);
    log!(
        Info,
        "fd {fd}: connect {} -> {}",
        DisplayTarget(target),
        name_of(sa)
    );
    Ok(())
}

/// Connect where an unsock control file says: a socket of its destination's family, or a
/// Firecracker-style hybrid-vsock handshake through its proxy socket.
fn connect_via_control_file(
    fd: c_int,
    slot: &'static Slot,
    index: usize,
    sotype: c_int,
    ip: SocketAddr,
    cf: &ControlFile,
) -> Result<(), c_int> {
    match cf.target() {
        Ok(Target::Direct { family, sockaddr }) => {
            let dest = vsock::Dest {
                family: family as c_int,
                vsock: None,
                raw: sockaddr,
            };
            vsock::connect(fd, slot, index, sotype, ip, dest, Some(&cf.params))
        }
        Ok(Target::Firecracker { proxy, port }) => {
            let path = sockswap_core::control::sockaddr_un_path(proxy);
            let sa = UnixSockaddr::path(path).map_err(|_| libc::ENAMETOOLONG)?;
            hybrid::connect(fd, slot, index, sotype, ip, &sa, port, Some(&cf.params))
        }
        Err(e) => {
            log!(Warn, "fd {fd}: control file for {ip}: {e}");
            Err(libc::EINVAL)
        }
    }
}

// ---------------------------------------------------------------- accept

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    crate::log::trace_call("accept", fd);
    // SAFETY: forwarded with the program's own arguments.
    unsafe { accept_common(fd, addr, len, None) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    crate::log::trace_call("accept4", fd);
    // SAFETY: forwarded with the program's own arguments.
    unsafe { accept_common(fd, addr, len, Some(flags)) }
}

/// # Safety
/// The program's accept/accept4 arguments.
unsafe fn accept_common(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    // SAFETY: the program's own (buffer, length) pair.
    unsafe { crate::hooks::protect_name_buffer(addr, len) };
    let real = |a: *mut sockaddr, l: *mut socklen_t| {
        // SAFETY: the program's own call with its own (or our NULL) address arguments.
        unsafe { crate::hooks::socketbox::real_accept(fd, a, l, flags) }
    };
    if let Some(slot) = fdtable::get(fd).filter(|s| s.kind() == CONVERTED) {
        let listener = *slot.lock().data();
        if listener.flags & fdtable::HANDED_OVER != 0 {
            // SAFETY: the program's own pointers.
            return unsafe {
                crate::hooks::socketbox::accept_handed_over(fd, &listener, addr, len, flags)
            };
        }
        if listener.flags & fdtable::DISPATCHED != 0 {
            // SAFETY: the program's own pointers.
            return unsafe {
                crate::hooks::socketbox::accept(fd, slot, &listener, addr, len, flags)
            };
        }
        // (A Unix listener redirected by a from-unix rule has nothing to pretend.)
        if let (Some(rt), true) = (runtime::get(), listener.family != libc::AF_UNIX) {
            // SAFETY: the program's own pointers.
            return unsafe {
                accept_converted(rt, &listener, addr, len, || {
                    real(core::ptr::null_mut(), core::ptr::null_mut())
                })
            };
        }
    }
    let cap = if len.is_null() {
        0
    } else {
        // SAFETY: a non-NULL len is valid (the kernel would read it too).
        unsafe { *len }
    };
    let r = real(addr, len);
    if r >= 0 {
        crate::hooks::lifecycle::reset_stale(r);
        if let Some(rt) = runtime::get() {
            // SAFETY: the program's pointers, just filled by the kernel.
            unsafe { report_foreign(rt, addr.cast(), len, cap) };
        }
    }
    r
}

/// # Safety
/// `addr`/`len` are the program's accept arguments.
unsafe fn accept_converted(
    rt: &Runtime,
    listener: &SlotData,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    real: impl FnOnce() -> c_int,
) -> c_int {
    let nfd = real();
    if nfd < 0 {
        return nfd;
    }
    let _e = SavedErrno::new();
    let family = listener.family;
    let local = listener
        .local
        .map(|l| addr::wildcard_to_loopback(l, family));
    let rule = rt.config.rules.get(listener.rule as usize);
    let peer = decide::accepted_peer(rule, family, local, swap::next_ephemeral_port());
    if let Some(s) = fdtable::get_or_map(nfd) {
        let mut data = SlotData::new(family, listener.sotype, listener.protocol);
        data.rule = listener.rule;
        data.local = local;
        data.peer = Some(peer);
        data.flags |= fdtable::ACCEPTED;
        data.opts = sockswap_core::sockopt::inherit(&listener.opts, |level, name, v| {
            sys::setsockopt(nfd, level, name, v.as_ptr().cast(), v.len() as socklen_t).is_ok()
        });
        s.lock().set(CONVERTED, data);
    }
    // SAFETY: the program's pointers; NULL is allowed (accept(fd, NULL, NULL), bug U1).
    unsafe { write_out(addr, len, |out| addr::encode_ip(peer, family, out)) };
    nfd
}

/// UNSOCK_ACCEPT_CONVERT_ALL: an address of another family is reported as the configured
/// AF_INET address.
///
/// # Safety
/// `addr`/`len` are a program's (buffer, length) pair just filled by the kernel; `cap` is the
/// buffer size the program passed.
pub(crate) unsafe fn report_foreign(
    rt: &Runtime,
    addr: *mut u8,
    len: *mut socklen_t,
    cap: socklen_t,
) {
    if rt.config.accept_convert.is_none() && rt.config.accept_convert_vsock.is_none() {
        return;
    }
    if addr.is_null() || len.is_null() || cap < 2 {
        return;
    }
    // SAFETY: the kernel wrote at least the family into a buffer of cap ≥ 2 bytes.
    let family = unsafe { u16::from_ne_bytes([*addr, *addr.add(1)]) } as c_int;
    if family == libc::AF_INET || family == libc::AF_INET6 {
        return;
    }
    // UNSOCK_ACCEPT_CONVERT_VSOCK: the same, for AF_VSOCK addresses only.
    let fake = match (rt.config.accept_convert, rt.config.accept_convert_vsock) {
        (Some(all), _) => all,
        (None, Some(v)) if family == libc::AF_VSOCK => v,
        _ => return,
    };
    // SAFETY: the program's buffer holds cap bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(addr, cap as usize) };
    let full = addr::encode_ip(fake, libc::AF_INET, out);
    // SAFETY: len is valid.
    unsafe { *len = full as socklen_t };
}
