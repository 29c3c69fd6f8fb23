//! Conversions to sockets of another family than AF_UNIX: the `vsock=CID[:PORT]` action and
//! the "direct" destination of an unsock control file (AF_VSOCK, AF_TIPC, … given as raw
//! sockaddr bytes), plus reading control files.
//!
//! The swap is the one of swap.rs with a socket of the destination's family. A non-blocking
//! connect keeps TCP's semantics for free: AF_VSOCK connects return EINPROGRESS and report the
//! outcome through poll and SO_ERROR, so the replacement is installed at once and the kernel
//! does the rest. A blocking connect is made before the swap, so a failure leaves the program's
//! socket untouched.

use core::net::SocketAddr;

use libc::c_int;
use sockswap_core::addr;
use sockswap_core::control::{self, ControlFile, Param};

use crate::fdtable::{self, Slot, CONVERTED, FOREIGN, TRACKED};
use crate::log::log;
use crate::swap::{self, Replacement};
use crate::sys;

/// A bind or connect destination of a foreign family.
#[derive(Clone, Copy)]
pub struct Dest<'a> {
    pub family: c_int,
    /// For AF_VSOCK: the CID, and the port or None for the program's port.
    pub vsock: Option<(u32, Option<u32>)>,
    /// Otherwise the sockaddr to use as is.
    pub raw: &'a [u8],
}

impl Dest<'_> {
    pub fn vsock(cid: u32, port: Option<u32>) -> Dest<'static> {
        Dest {
            family: libc::AF_VSOCK,
            vsock: Some((cid, port)),
            raw: &[],
        }
    }

    /// The sockaddr for the program's `port`.
    fn sockaddr(&self, port: u16) -> ([u8; control::SOCKADDR_CAP], usize) {
        let mut out = [0u8; control::SOCKADDR_CAP];
        match self.vsock {
            Some((cid, p)) => {
                let sa = control::sockaddr_vm(cid, p.unwrap_or(port as u32));
                out[..sa.len()].copy_from_slice(&sa);
                (out, sa.len())
            }
            None => {
                let n = self.raw.len().min(out.len());
                out[..n].copy_from_slice(&self.raw[..n]);
                (out, n)
            }
        }
    }

    /// Does the destination take its port from the program (so port 0 needs a choice)?
    fn follows_program_port(&self) -> bool {
        matches!(self.vsock, Some((_, None)))
    }
}

/// Applies a control file's socket options to a replacement (unsock's sizes; failures are
/// logged, as unsock ignores them) and records them in `data`, so that getsockopt asks the
/// socket that holds them.
pub fn apply_params(fd: c_int, params: &[Param; control::PARAMS], data: &mut fdtable::SlotData) {
    for p in params.iter().filter(|p| p.is_set()) {
        let v = p.optval();
        let r = sys::setsockopt(
            fd,
            p.level as c_int,
            p.name as c_int,
            v.as_ptr().cast(),
            v.len() as u32,
        );
        if r.is_ok() {
            let _ = data.record_opt(p.level as c_int, p.name as c_int, v, false);
        }
        if let Err(e) = r {
            log!(
                Warn,
                "control file option {}/{}: {err}",
                p.level,
                p.name,
                err = sockswap_core::errno::Errno(e)
            );
        }
    }
}

/// `bind` under a vsock rule or a direct control file.
#[allow(clippy::too_many_arguments)]
pub fn bind(
    fd: c_int,
    slot: &'static Slot,
    rule_index: usize,
    sotype: c_int,
    ip: SocketAddr,
    dest: Dest<'_>,
    params: Option<&[Param; control::PARAMS]>,
) -> Result<(), c_int> {
    if dest.family == libc::AF_VSOCK && sotype != libc::SOCK_STREAM {
        log!(Warn, "fd {fd}: AF_VSOCK carries streams only");
        return Err(libc::EPROTOTYPE);
    }
    let (kind, mut data) = crate::swap::snapshot(fd, slot, sotype)?;
    if kind == CONVERTED {
        return Err(libc::EINVAL); // already bound
    }
    let tmp = Replacement::with_family(fd, dest.family, sotype, &mut data)?;
    if let Some(p) = params {
        apply_params(tmp.fd, p, &mut data);
    }
    let try_bind = |port: u16| {
        let (sa, len) = dest.sockaddr(port);
        sys::bind(tmp.fd, sa.as_ptr().cast(), len as u32).map(|_| ())
    };
    let fake_port = if ip.port() != 0 {
        try_bind(ip.port())?;
        ip.port()
    } else if dest.follows_program_port() {
        // Port 0: pick from our ephemeral sequence, so the port the program is told is the
        // vsock port a client must use (the kernel's own choice may exceed 65535).
        let mut chosen = Err(libc::EADDRINUSE);
        for _ in 0..256 {
            let port = swap::next_ephemeral_port();
            match try_bind(port) {
                Ok(()) => {
                    chosen = Ok(port);
                    break;
                }
                Err(libc::EADDRINUSE) => continue,
                Err(e) => {
                    chosen = Err(e);
                    break;
                }
            }
        }
        chosen?
    } else {
        try_bind(0)?;
        swap::next_ephemeral_port()
    };
    tmp.apply_flags();
    let mut g = slot.lock();
    tmp.install(fd, &data)?;
    data.rule = rule_index.min(u16::MAX as usize) as u16;
    data.local = Some(SocketAddr::new(ip.ip(), fake_port));
    data.owner = 0;
    data.flags |= FOREIGN;
    g.set(CONVERTED, data);
    log!(
        Info,
        "fd {fd}: bind {ip} -> family {} port {fake_port}",
        dest.family
    );
    Ok(())
}

/// What a TCP program expects instead of AF_VSOCK's connect errors (a refused vsock connect
/// is a reset).
fn tcp_errno(e: c_int) -> c_int {
    match e {
        libc::ECONNRESET | libc::ENODEV | libc::ENETUNREACH => libc::ECONNREFUSED,
        e => e,
    }
}

/// `connect` under a vsock rule or a direct control file.
#[allow(clippy::too_many_arguments)]
pub fn connect(
    fd: c_int,
    slot: &'static Slot,
    rule_index: usize,
    sotype: c_int,
    target: SocketAddr,
    dest: Dest<'_>,
    params: Option<&[Param; control::PARAMS]>,
) -> Result<(), c_int> {
    if dest.family == libc::AF_VSOCK && sotype != libc::SOCK_STREAM {
        log!(Warn, "fd {fd}: AF_VSOCK carries streams only");
        return Err(libc::EPROTOTYPE);
    }
    let (sa, len) = dest.sockaddr(target.port());
    let (kind, mut data) = crate::swap::snapshot(fd, slot, sotype)?;
    if kind == CONVERTED {
        // A second connect on a socket we already made AF_VSOCK: the kernel answers
        // (EALREADY while connecting, EISCONN after).
        if data.flags & FOREIGN != 0 {
            return sys::connect(fd, sa.as_ptr().cast(), len as u32)
                .map(|_| ())
                .map_err(tcp_errno);
        }
        return Err(libc::EISCONN);
    }
    let bound = if kind == TRACKED && data.flags & fdtable::IP_BOUND != 0 {
        crate::swap::real_local_address(fd)
    } else {
        None
    };
    let tmp = Replacement::with_family(fd, dest.family, sotype, &mut data)?;
    if let Some(p) = params {
        apply_params(tmp.fd, p, &mut data);
    }
    let nonblocking = tmp.nonblocking();
    if nonblocking {
        tmp.apply_flags();
    }
    let outcome = loop {
        match sys::connect(tmp.fd, sa.as_ptr().cast(), len as u32) {
            Ok(_) => break Ok(()),
            Err(libc::EINPROGRESS) if nonblocking => break Err(libc::EINPROGRESS),
            Err(libc::EINTR) if !nonblocking => continue,
            Err(e) => {
                log!(
                    Debug,
                    "fd {fd}: connect {target} -> family {}: {err}",
                    dest.family,
                    err = sockswap_core::errno::Errno(e)
                );
                return Err(tcp_errno(e));
            }
        }
    };
    if !nonblocking {
        tmp.apply_flags();
    }
    let mut g = slot.lock();
    tmp.install(fd, &data)?;
    data.rule = rule_index.min(u16::MAX as usize) as u16;
    let family = data.family;
    data.local = Some(bound.unwrap_or_else(|| {
        SocketAddr::new(
            addr::loopback(family, addr::is_mapped(target.ip())),
            swap::next_ephemeral_port(),
        )
    }));
    data.peer = Some(target);
    data.flags |= FOREIGN;
    if outcome.is_err() {
        data.flags |= fdtable::CONNECTING;
    }
    g.set(CONVERTED, data);
    log!(Info, "fd {fd}: connect {target} -> family {}", dest.family);
    outcome
}

/// The control file at `path` (NUL-terminated), if it is one: a regular file of exactly 452
/// bytes starting with the magic. A malformed one is logged and refused.
pub fn read_control_file(path: &[u8]) -> Option<Result<ControlFile, c_int>> {
    let st = sys::lstat(path).ok()?;
    let st = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        // unsock follows a symlink here (stat); so do we, for the size check.
        let mut buf = [0u8; control::FILE_LEN];
        return match sys::read_small_file(path, &mut buf) {
            Ok(n) if n == control::FILE_LEN => decode(path, &buf),
            _ => None,
        };
    } else {
        st
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_size != control::FILE_LEN as i64 {
        return None;
    }
    let mut buf = [0u8; control::FILE_LEN];
    match sys::read_small_file(path, &mut buf) {
        Ok(n) if n == control::FILE_LEN => decode(path, &buf),
        Ok(_) => None,
        Err(e) => {
            log!(
                Warn,
                "cannot read control file {}: {err}",
                crate::log::Bytes(path),
                err = sockswap_core::errno::Errno(e)
            );
            Some(Err(e))
        }
    }
}

fn decode(path: &[u8], buf: &[u8]) -> Option<Result<ControlFile, c_int>> {
    match ControlFile::decode(buf) {
        Ok(f) => Some(Ok(f)),
        // 452 bytes without the magic: not a control file (unsock ignores it too).
        Err(control::ControlError::Magic) => None,
        Err(e) => {
            log!(Warn, "control file {}: {e}", crate::log::Bytes(path));
            Some(Err(libc::EINVAL))
        }
    }
}
