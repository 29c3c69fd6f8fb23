//! Sockets created in another network namespace: under a `netns=SERVER` rule, `bind` or
//! `connect` asks the socket server at SERVER (running in the target namespace) to bind or
//! connect a fresh socket of the program's family and type there, and puts the socket it hands
//! over at the program's fd with its flags and the options it set. The server connects
//! without blocking; a blocking program's connect waits here for the handshake, as the
//! kernel's would. Protocol: `sockswap_core::netns`.

use libc::c_int;
use sockswap_core::addr::UnixSockaddr;
use sockswap_core::netns::{self, Op, Request};

use crate::fdtable::{self, Slot, SlotData, TRACKED};
use crate::log::{log, Bytes};
use crate::swap::Replacement;
use crate::sys;

/// How long a bind/connect waits for the socket server.
pub const SERVER_TIMEOUT_MS: i64 = 5000;

/// Asks the server for a socket bound (`Op::Bind`) or connected (`Op::Connect`) to `sockaddr`
/// and installs it at `fd`. A connect still in progress fails with EINPROGRESS on a
/// non-blocking socket and is waited for on a blocking one.
pub(crate) fn socket_from_server(
    fd: c_int,
    slot: &'static Slot,
    server: &str,
    op: Op,
    sotype: c_int,
    sockaddr: &[u8],
) -> Result<(), c_int> {
    let (_, recorded) = crate::swap::snapshot(fd, slot, sotype)?;
    let (family, protocol) = (recorded.family, recorded.protocol);
    let (fresh, status) = ask(
        server,
        &Request {
            op,
            domain: family,
            ty: sotype,
            protocol,
            flags: 0,
            sockaddr,
        },
    )
    .map_err(|e| {
        log!(
            Warn,
            "fd {fd}: socket server {}: {err}",
            Bytes(server.as_bytes()),
            err = sockswap_core::errno::Errno(e)
        );
        e
    })?;
    let mut g = slot.lock();
    let mut data = match g.kind() {
        TRACKED => *g.data(),
        _ => SlotData::new(family, sotype, protocol),
    };
    // Options of every level go to the new socket: it is a real IP socket too. Replayed
    // from what the program set (a getsockopt value would double SO_RCVBUF).
    for o in data.opts().iter().filter(|o| o.level != libc::SOL_SOCKET) {
        let _ = sys::setsockopt(fresh, o.level, o.name, o.val.as_ptr().cast(), o.len as u32);
    }
    let tmp = Replacement::adopt(fresh, fd, &mut data)?;
    tmp.apply_flags();
    tmp.install(fd, &data)?;
    if op == Op::Bind {
        data.flags |= fdtable::IP_BOUND;
    }
    g.set(TRACKED, data);
    drop(g);
    log!(Info, "fd {fd}: socket from {}", Bytes(server.as_bytes()));
    if status != libc::EINPROGRESS {
        return Ok(());
    }
    let nonblocking =
        sys::fcntl(fd, libc::F_GETFL, 0).is_ok_and(|f| f as c_int & libc::O_NONBLOCK != 0);
    if nonblocking {
        return Err(libc::EINPROGRESS);
    }
    // A blocking connect: wait for the handshake's end (a signal interrupts it as it would
    // the kernel's, with EINTR, the handshake going on).
    sys::poll1(fd, libc::POLLOUT, -1)?;
    match sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)? {
        0 => Ok(()),
        e => Err(e),
    }
}

/// One request, one reply with the socket and its status (0, or EINPROGRESS for a connect).
fn ask(server: &str, req: &Request) -> Result<(c_int, c_int), c_int> {
    let sa = match server.strip_prefix('@') {
        Some(name) => UnixSockaddr::abstract_name(name.as_bytes()),
        None => UnixSockaddr::path(server.as_bytes()),
    }
    .map_err(|_| libc::ENAMETOOLONG)?;
    let mut rec = [0u8; netns::MAX_REQUEST];
    let n = netns::encode_request(req, &mut rec).ok_or(libc::EINVAL)?;
    let s = sys::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0)?;
    let result = (|| {
        sys::set_timeouts(s, SERVER_TIMEOUT_MS);
        sys::connect(s, sa.bytes.as_ptr().cast(), sa.len as u32).map_err(|_| libc::ECONNREFUSED)?;
        // A server that refuses the uid replies and hangs up before it reads the request: its
        // reply still waits to be read when the send finds the connection gone.
        let sent = sys::send(s, &rec[..n], libc::MSG_NOSIGNAL);
        let mut reply = [0u8; netns::REPLY_LEN + 1];
        // (Its hang-up with our request unread reports ECONNRESET once, before the reply.)
        let received = match sys::recv_with_fd(s, &mut reply) {
            Err(libc::ECONNRESET) => sys::recv_with_fd(s, &mut reply),
            other => other,
        };
        let (len, fd) = match received {
            Ok((0, None)) => return Err(sent.err().unwrap_or(libc::ECONNRESET)),
            Ok(got) => got,
            Err(e) => return Err(sent.err().unwrap_or(e)),
        };
        match netns::reply_outcome(&reply[..len], usize::from(fd.is_some()), req.op) {
            Ok(status) => Ok((fd.unwrap_or(-1), status)),
            Err(e) => {
                if let Some(f) = fd {
                    sys::close(f);
                }
                Err(e)
            }
        }
    })();
    sys::close(s);
    result
}
