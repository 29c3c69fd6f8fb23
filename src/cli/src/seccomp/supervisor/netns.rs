//! `netns=SERVER` rules: the supervisor asks the socket server at SERVER (running in the target
//! network namespace, `socketbox socket-server`) for a socket of the program's family and type
//! bound or connected to the program's address there, and installs it at the program's fd —
//! the shim's hooks/netns.rs, carried out from outside. The socket is a real one of the
//! program's family, so nothing is pretended: the kernel answers every later call on it.
//! Protocol and reply rules: `sockswap_core::netns`.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use sockswap_core::addr::UnixSockaddr;
use sockswap_core::netns::{self, Op, Request};

use super::{
    errno, fd_cloexec, file_nonblocking, recv_with_fds, replace_fd, set_nonblocking, sockopt,
    sockopt_int, Answer, Call, Shared,
};

/// How long a bind/connect waits for the socket server.
const SERVER_TIMEOUT_SECS: i64 = 5;

/// bind or connect `sock` (the program's socket, our copy, at `fd`) to `sockaddr` (the
/// program's bytes) through the server.
#[allow(clippy::too_many_arguments)]
pub(super) fn bind_connect(
    sh: &Shared,
    call: Call,
    fd: i32,
    sock: &OwnedFd,
    family: i32,
    sotype: i32,
    server: &str,
    op: Op,
    sockaddr: &[u8],
    target: SocketAddr,
) -> Result<Answer, i32> {
    let protocol = sockopt_int(sock, libc::SO_PROTOCOL).unwrap_or(0);
    let req = Request {
        op,
        domain: family,
        ty: sotype & 0xf,
        protocol,
        flags: 0,
        sockaddr,
    };
    let verb = if op == Op::Bind { "bind" } else { "connect" };
    let (new, status) = ask(server, &req).inspect_err(|&e| {
        slog!(
            sh,
            Warn,
            "pid {}: fd {fd}: {verb} {target}: socket server {server}: {}",
            call.pid,
            crate::errno_words(e)
        );
    })?;
    // The options the program set, at every level (the new socket is a real IP socket too).
    sockopt::carry_over_to_real(sock, &new, family, sotype);
    let program_nonblocking = file_nonblocking(sock);
    let server = server.to_owned();
    let install = move |sh: &Shared, program: &OwnedFd, new: &OwnedFd, answer: Answer| {
        set_nonblocking(new, program_nonblocking);
        match replace_fd(sh, call, fd, program, new, fd_cloexec(call.pid, fd)) {
            Ok(()) => {
                slog!(
                    sh,
                    Debug,
                    "pid {}: fd {fd}: {verb} {target} through the socket server {server}",
                    call.pid
                );
                Ok(answer)
            }
            Err(libc::ENOENT) => Ok(Answer::Done),
            Err(e) => Err(e),
        }
    };
    if status != libc::EINPROGRESS {
        return install(sh, sock, &new, Answer::Value(0));
    }
    if program_nonblocking {
        return install(sh, sock, &new, Answer::Error(libc::EINPROGRESS));
    }
    // A blocking connect: answered when the handshake ends.
    super::answer_when_connected(
        sh,
        call,
        sock,
        new,
        move |sh, program, new| install(sh, program, new, Answer::Value(0)),
        |e| e,
    )
}

/// One request, one reply with the socket and its status (0, or EINPROGRESS for a connect).
fn ask(server: &str, req: &Request) -> Result<(OwnedFd, i32), i32> {
    let sa = match server.strip_prefix('@') {
        Some(name) => UnixSockaddr::abstract_name(name.as_bytes()),
        None => UnixSockaddr::path(server.as_bytes()),
    }
    .map_err(|_| libc::ENAMETOOLONG)?;
    let mut rec = [0u8; netns::MAX_REQUEST];
    let n = netns::encode_request(req, &mut rec).ok_or(libc::EINVAL)?;
    // SAFETY: socket with integer arguments.
    let s = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(errno());
    }
    // SAFETY: a fresh fd we own.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    super::set_timeout(&s, libc::SO_RCVTIMEO, SERVER_TIMEOUT_SECS);
    super::set_timeout(&s, libc::SO_SNDTIMEO, SERVER_TIMEOUT_SECS);
    // SAFETY: sa holds a sockaddr_un of sa.len bytes.
    if unsafe { libc::connect(s.as_raw_fd(), sa.bytes.as_ptr().cast(), sa.len as u32) } != 0 {
        return Err(libc::ECONNREFUSED);
    }
    // A server that refuses the uid replies and hangs up before it reads the request: its
    // reply still waits to be read when the send finds the connection gone.
    // SAFETY: rec is valid for n bytes.
    let sent = unsafe { libc::send(s.as_raw_fd(), rec.as_ptr().cast(), n, libc::MSG_NOSIGNAL) };
    let send_errno = (sent < 0).then(errno);
    let mut reply = [0u8; netns::REPLY_LEN + 1];
    // (Its hang-up with our request unread reports ECONNRESET once, before the reply.)
    let received = match recv_with_fds(&s, &mut reply, 0) {
        Err(libc::ECONNRESET) => recv_with_fds(&s, &mut reply, 0),
        other => other,
    };
    let (len, mut fds) = match received {
        Ok((0, fds)) if fds.is_empty() => return Err(send_errno.unwrap_or(libc::ECONNRESET)),
        Ok(got) => got,
        Err(e) => return Err(send_errno.unwrap_or(e)),
    };
    let status = netns::reply_outcome(&reply[..len], fds.len(), req.op)?;
    Ok((fds.pop().ok_or(libc::EPROTO)?, status))
}
