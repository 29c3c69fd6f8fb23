//! `vsock=CID[:PORT]` rules: the program's TCP socket becomes an AF_VSOCK stream (a VM and its
//! host talking without a network). The supervisor makes the vsock socket, binds or connects
//! it, and installs it at the program's fd; listen, accept's readiness and data then run in
//! the kernel, accept through the supervisor like any converted listener (IP names reported).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use sockswap_core::control::sockaddr_vm;
use sockswap_core::decide;

use super::{errno, install_replacement, next_ephemeral_port, Answer, Call, Face, Options, Shared};

fn vsock_socket(nonblocking: bool) -> Result<OwnedFd, i32> {
    let flags = libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | flags, 0) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: fd is a new descriptor owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn vm_call(
    f: unsafe extern "C" fn(i32, *const libc::sockaddr, libc::socklen_t) -> i32,
    fd: &OwnedFd,
    cid: u32,
    port: u32,
) -> Result<(), i32> {
    let sa = sockaddr_vm(cid, port);
    // SAFETY: sa is a sockaddr_vm of the length given; fd is ours.
    if unsafe { f(fd.as_raw_fd(), sa.as_ptr().cast(), sa.len() as u32) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// A refused vsock connect is reported as a reset by the transport: TCP says refused.
fn tcp_connect_errno(e: i32) -> i32 {
    match e {
        libc::ECONNRESET => libc::ECONNREFUSED,
        e => e,
    }
}

fn streams_only(sh: &Shared, call: Call, fd: i32, sotype: i32) -> Result<(), i32> {
    if sotype & 0xf != libc::SOCK_STREAM {
        slog!(
            sh,
            Warn,
            "pid {}: fd {fd}: vsock carries streams only",
            call.pid
        );
        return Err(libc::EPROTOTYPE);
    }
    Ok(())
}

/// `bind` to `ip` under `vsock=CID[:PORT]`: the vsock port is the rule's, else the program's;
/// port 0 picks one from the ephemeral range that is free on vsock and reports it.
#[allow(clippy::too_many_arguments)]
pub(super) fn bind(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    sotype: i32,
    index: usize,
    (cid, port): (u32, Option<u32>),
    ip: SocketAddr,
) -> Result<Answer, i32> {
    streams_only(sh, call, fd, sotype)?;
    let new = vsock_socket(false)?;
    let reported = match (port, ip.port()) {
        (Some(p), 0) => {
            vm_call(libc::bind, &new, cid, p)?;
            next_ephemeral_port()
        }
        (Some(p), program) => {
            vm_call(libc::bind, &new, cid, p)?;
            program
        }
        (None, 0) => {
            let mut found = Err(libc::EADDRINUSE);
            for _ in 0..256 {
                let p = next_ephemeral_port();
                match vm_call(libc::bind, &new, cid, u32::from(p)) {
                    Ok(()) => {
                        found = Ok(p);
                        break;
                    }
                    Err(libc::EADDRINUSE) => continue,
                    Err(e) => return Err(e),
                }
            }
            found?
        }
        (None, program) => {
            vm_call(libc::bind, &new, cid, u32::from(program))?;
            program
        }
    };
    let face = Face {
        family,
        local: SocketAddr::new(ip.ip(), reported),
        peer: None,
        rule: index,
        dgram: false,
        socketbox: None,
        accepted: false,
        real: false,
        opts: Options::default(),
    };
    match install_replacement(sh, call, fd, sock, &new, face) {
        Ok(()) => {}
        Err(libc::ENOENT) => return Ok(Answer::Done),
        Err(e) => return Err(e),
    }
    slog!(
        sh,
        Debug,
        "pid {}: fd {fd}: bind {ip} -> vsock {cid}:{}",
        call.pid,
        port.unwrap_or(u32::from(reported))
    );
    Ok(Answer::Value(0))
}

/// `connect` to `ip` under `vsock=CID[:PORT]`. The vsock connect is made non-blocking on our
/// socket: when it completes at once, or the program's socket is non-blocking (EINPROGRESS:
/// the kernel's poll and SO_ERROR then work on the vsock socket as on TCP), the socket is
/// installed now; a blocking connect waits in the waiting thread for the outcome, so a
/// refusal leaves the program's socket untouched.
#[allow(clippy::too_many_arguments)]
pub(super) fn connect(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    sotype: i32,
    index: usize,
    (cid, port): (u32, Option<u32>),
    ip: SocketAddr,
) -> Result<Answer, i32> {
    streams_only(sh, call, fd, sotype)?;
    let vport = port.unwrap_or(u32::from(ip.port()));
    let new = vsock_socket(true)?;
    let face = Face {
        family,
        local: decide::client_local(family, ip, next_ephemeral_port()),
        peer: Some(ip),
        rule: index,
        dgram: false,
        socketbox: None,
        accepted: false,
        real: false,
        opts: Options::default(),
    };
    let install = move |sh: &Shared, program: &OwnedFd, new: &OwnedFd, answer: Answer| {
        match install_replacement(sh, call, fd, program, new, face) {
            Ok(()) => {
                slog!(
                    sh,
                    Debug,
                    "pid {}: fd {fd}: connect {ip} -> vsock {cid}:{vport}",
                    call.pid
                );
                Ok(answer)
            }
            Err(libc::ENOENT) => Ok(Answer::Done),
            Err(e) => Err(e),
        }
    };
    match vm_call(libc::connect, &new, cid, vport) {
        Ok(()) => install(sh, sock, &new, Answer::Value(0)),
        Err(libc::EINPROGRESS) if super::file_nonblocking(sock) => {
            install(sh, sock, &new, Answer::Error(libc::EINPROGRESS))
        }
        Err(libc::EINPROGRESS) => super::answer_when_connected(
            sh,
            call,
            sock,
            new,
            move |sh, program, new| install(sh, program, new, Answer::Value(0)),
            tcp_connect_errno,
        ),
        Err(e) => {
            slog!(
                sh,
                Debug,
                "pid {}: fd {fd}: connect {ip} -> vsock {cid}:{vport}: {}",
                call.pid,
                crate::errno_words(e)
            );
            Err(tcp_connect_errno(e))
        }
    }
}
