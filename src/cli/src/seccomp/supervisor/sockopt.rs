//! getsockopt, setsockopt and the queue ioctls of a converted socket, answered as TCP/UDP
//! would by the shim's engine (sockswap_core::sockopt), carried out here: the program's buffer
//! is copied in with process_vm_readv, the kernel asked on template sockets of the supervisor
//! (real loopback TCP/UDP sockets per family and state, made once) or on our copy of the
//! program's socket, and the answer written back with process_vm_writev. Options the program
//! set are kept in the socket's Face. Calls on other fds go on in the kernel.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use sockswap_core::addr;
use sockswap_core::sockopt::{self as engine, Facts, Kernel, Options, State, STATES};

use super::{errno, face_of, read_mem, write_mem, Answer, Call, Face, PidFds, Shared};

/// The largest getsockopt/setsockopt buffer copied (larger ones are asked with this length).
const MAX_BUFFER: usize = 64 * 1024;

/// The program's socket (our copy) and what it pretends, or None: not a converted socket.
fn converted(
    sh: &Shared,
    pidfds: &mut PidFds,
    call: Call,
) -> Result<Option<(OwnedFd, u64, Face)>, i32> {
    let sock = match pidfds.take(call.pid, call.args[0] as i32) {
        Ok(s) => s,
        // Not an fd (the kernel says so itself), or not a socket: not ours.
        Err(libc::EBADF) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(face_of(sh, &sock).map(|(ino, face)| (sock, ino, face)))
}

/// The state whose template answers for `face` (our copy `sock`).
fn state_of(face: &Face, sock: &OwnedFd) -> State {
    if face.dgram {
        return match face.peer {
            Some(_) => State::Connected,
            None => State::Unconnected,
        };
    }
    if face.socketbox.is_some() {
        return State::Listening; // (its `listen` is answered without the kernel)
    }
    match face.peer {
        None if int_option(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(1) => {
            State::Listening
        }
        None => State::Fresh,
        Some(_) if face.accepted => State::Accepted,
        Some(_) => State::Client,
    }
}

fn facts<'a>(face: &'a Face, state: State) -> Facts<'a> {
    Facts {
        family: face.family,
        sotype: if face.dgram {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_STREAM
        },
        state,
        local: Some(face.local),
        peer: face.peer,
        dispatched: face.socketbox.is_some(),
        real: face.real,
        opts: &face.opts,
    }
}

/// getsockopt(fd, level, name, val, len).
pub(super) fn on_getsockopt(sh: &Shared, pidfds: &mut PidFds, call: Call) -> Result<Answer, i32> {
    let Some((sock, _, face)) = converted(sh, pidfds, call)? else {
        return Ok(Answer::Continue);
    };
    let (level, name, val, len_ptr) = (
        call.args[1] as i32,
        call.args[2] as i32,
        call.args[3],
        call.args[4],
    );
    if len_ptr == 0 {
        return Err(libc::EFAULT);
    }
    let asked = u32::from_ne_bytes(read_mem(call.pid, len_ptr, 4)?.try_into().unwrap_or([0; 4]));
    // A negative length is the kernel's to refuse (EINVAL): passed on as it is.
    let cap = if (asked as i32) < 0 {
        asked
    } else {
        asked.min(MAX_BUFFER as u32)
    };
    let buf = match val {
        0 => None,
        // The program's bytes: a few options read their argument from the buffer.
        _ => Some(read_mem(
            call.pid,
            val,
            if (cap as i32) < 0 { 0 } else { cap as usize },
        )?),
    };
    let mut k = Executor::new(&sock, &face);
    k.buf = buf;
    k.asked = cap;
    k.len = cap;
    let state = state_of(&face, &sock);
    engine::getsockopt(&mut k, &facts(&face, state), level, name)?;
    if let Some(b) = &k.buf {
        write_mem(
            call.pid,
            val,
            b.get(..(k.len as usize).min(b.len())).unwrap_or(&[]),
        )?;
    }
    write_mem(call.pid, len_ptr, &k.len.to_ne_bytes())?;
    Ok(Answer::Value(0))
}

/// setsockopt(fd, level, name, val, len).
pub(super) fn on_setsockopt(sh: &Shared, pidfds: &mut PidFds, call: Call) -> Result<Answer, i32> {
    let Some((sock, ino, face)) = converted(sh, pidfds, call)? else {
        return Ok(Answer::Continue);
    };
    if face.real {
        // A real TCP socket in the program: the kernel takes its options itself.
        return Ok(Answer::Continue);
    }
    let (level, name, val, len) = (
        call.args[1] as i32,
        call.args[2] as i32,
        call.args[3],
        call.args[4] as u32,
    );
    let mut k = Executor::new(&sock, &face);
    if val != 0 {
        k.buf = Some(read_mem(call.pid, val, (len as usize).min(MAX_BUFFER))?);
    }
    k.asked = len.min(MAX_BUFFER as u32);
    let r = engine::setsockopt(&mut k, level, name, val == 0, len);
    if k.recorded {
        if let Some(f) = sh.faces.lock().unwrap().get_mut(&ino) {
            f.opts = k.opts;
        }
    }
    if k.not_recorded {
        slog!(
            sh,
            Warn,
            "pid {}: fd {}: option {level}/{name} not recorded (too long or too many)",
            call.pid,
            call.args[0] as i32
        );
    }
    r.map(|_| Answer::Value(0))
}

/// ioctl(fd, SIOCINQ | SIOCOUTQ | SIOCOUTQNSD, int *).
pub(super) fn on_ioctl(sh: &Shared, pidfds: &mut PidFds, call: Call) -> Result<Answer, i32> {
    let request = u64::from(call.args[1] as u32);
    if !engine::QUEUE_IOCTLS.contains(&request) {
        return Ok(Answer::Continue);
    }
    let Some((sock, _, face)) = converted(sh, pidfds, call)? else {
        return Ok(Answer::Continue);
    };
    let mut k = Executor::new(&sock, &face);
    let state = state_of(&face, &sock);
    engine::ioctl(&mut k, &facts(&face, state), request)?;
    write_mem(call.pid, call.args[2], &k.int.to_ne_bytes())?;
    Ok(Answer::Value(0))
}

/// One call carried out for the engine. "The call's buffer" is `buf` (a copy of the
/// program's; None for NULL) with `len`; setsockopt's value is `buf` too; the queue ioctls
/// answer an int.
struct Executor<'a> {
    sock: &'a OwnedFd,
    family: i32,
    sotype: i32,
    buf: Option<Vec<u8>>,
    /// getsockopt: the length the kernel returned (in: the program's); setsockopt: unused.
    len: u32,
    /// getsockopt: the program's length (capped); setsockopt: the value's length.
    asked: u32,
    int: i32,
    /// The face's options, with what this call recorded.
    opts: Options,
    recorded: bool,
    not_recorded: bool,
    /// setsockopt at an IP level: a socket of the family and type to ask the kernel's
    /// verdict on (a shared one for plain value options, a fresh one for the others).
    fresh: Option<Verdict>,
}

impl<'a> Executor<'a> {
    fn new(sock: &'a OwnedFd, face: &Face) -> Executor<'a> {
        Executor {
            sock,
            family: face.family,
            sotype: if face.dgram {
                libc::SOCK_DGRAM
            } else {
                libc::SOCK_STREAM
            },
            buf: None,
            len: 0,
            asked: 0,
            int: 0,
            opts: face.opts,
            recorded: false,
            not_recorded: false,
            fresh: None,
        }
    }

    fn buf_ptr(&mut self) -> *mut libc::c_void {
        self.buf
            .as_mut()
            .map_or(std::ptr::null_mut(), |b| b.as_mut_ptr().cast())
    }

    /// getsockopt on `fd` with the call's buffer and length.
    fn get_on(&mut self, fd: RawFd, level: i32, name: i32) -> Result<(), i32> {
        let p = self.buf_ptr();
        // SAFETY: p is NULL or our buffer of at least `len` bytes (len is at most its size,
        // or negative, which the kernel refuses before touching the buffer).
        match unsafe { libc::getsockopt(fd, level, name, p, &mut self.len) } {
            0 => Ok(()),
            _ => Err(errno()),
        }
    }
}

impl Kernel for Executor<'_> {
    fn template_get(&mut self, state: State, level: i32, name: i32) -> Option<Result<(), i32>> {
        let t = template(self.family, state)?;
        Some(self.get_on(t, level, name))
    }

    fn template_bytes(
        &mut self,
        state: State,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Option<usize> {
        let t = template(self.family, state)?;
        let mut n = out.len() as u32;
        // SAFETY: out is valid for n bytes.
        let r = unsafe { libc::getsockopt(t, level, name, out.as_mut_ptr().cast(), &mut n) };
        (r == 0).then_some(n as usize)
    }

    fn own_get(&mut self, level: i32, name: i32) -> Result<(), i32> {
        self.len = self.asked;
        self.get_on(self.sock.as_raw_fd(), level, name)
    }

    fn own_int(&mut self, level: i32, name: i32) -> Result<i32, i32> {
        int_option(self.sock.as_raw_fd(), level, name)
    }

    fn overwrite(&mut self, bytes: &[u8]) {
        let n = self.len as usize;
        if let Some(b) = self.buf.as_mut() {
            for (i, o) in b.iter_mut().take(n).enumerate() {
                *o = bytes.get(i).copied().unwrap_or(0);
            }
        }
    }

    fn answer(&mut self, bytes: &[u8]) -> Result<(), i32> {
        let b = self.buf.as_mut().ok_or(libc::EFAULT)?;
        let n = b.len().min(bytes.len());
        b[..n].copy_from_slice(&bytes[..n]);
        self.len = n as u32;
        Ok(())
    }

    fn own_set(&mut self, level: i32, name: i32) -> Result<(), i32> {
        let fd = self.sock.as_raw_fd();
        let p = self.buf_ptr();
        // SAFETY: p is NULL or our copy of the program's value, `asked` bytes long.
        match unsafe { libc::setsockopt(fd, level, name, p, self.asked) } {
            0 => Ok(()),
            _ => Err(errno()),
        }
    }

    fn own_set_bytes(&mut self, level: i32, name: i32, value: &[u8]) -> Result<(), i32> {
        set_bytes(self.sock, level, name, value)
    }

    fn fresh_set(&mut self, level: i32, name: i32) -> Option<Result<(), i32>> {
        if self.fresh.is_none() {
            self.fresh = Some(if engine::CARRIED_OVER.contains(&(level, name)) {
                validator(self.family, self.sotype).map(Verdict::Shared)
            } else {
                new_socket(self.family, self.sotype).map(Verdict::Own)
            }?);
        }
        let fd = self.fresh.as_ref()?.fd();
        let p = self.buf_ptr();
        // SAFETY: p is NULL or our copy of the program's value, `asked` bytes long.
        Some(
            match unsafe { libc::setsockopt(fd, level, name, p, self.asked) } {
                0 => Ok(()),
                _ => Err(errno()),
            },
        )
    }

    fn fresh_get(&mut self, level: i32, name: i32, out: &mut [u8]) -> Result<usize, i32> {
        let fd = self.fresh.as_ref().ok_or(libc::EBADF)?.fd();
        let mut n = out.len() as u32;
        // SAFETY: out is valid for n bytes.
        match unsafe { libc::getsockopt(fd, level, name, out.as_mut_ptr().cast(), &mut n) } {
            0 => Ok(n as usize),
            _ => Err(errno()),
        }
    }

    fn record(&mut self, level: i32, name: i32, value: Option<&[u8]>, emulated: bool) {
        let given = self.buf.as_deref().unwrap_or(&[]);
        let v = value.unwrap_or(given.get(..self.asked as usize).unwrap_or(given));
        if self.opts.record(level, name, v, emulated) {
            self.recorded = true;
        } else {
            self.not_recorded = true;
        }
    }

    fn template_ioctl(&mut self, state: State, request: u64) -> Option<Result<(), i32>> {
        let t = template(self.family, state)?;
        Some(queue_ioctl(t, request, &mut self.int))
    }

    fn own_ioctl(&mut self, request: u64) -> Result<(), i32> {
        queue_ioctl(self.sock.as_raw_fd(), request, &mut self.int)
    }
}

fn set_bytes(fd: &OwnedFd, level: i32, name: i32, value: &[u8]) -> Result<(), i32> {
    // SAFETY: value is valid for its length.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as u32,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

fn queue_ioctl(fd: RawFd, request: u64, out: &mut i32) -> Result<(), i32> {
    // SAFETY: the queue ioctls write one int to out.
    match unsafe { libc::ioctl(fd, request as libc::c_ulong, out as *mut i32) } {
        -1 => Err(errno()),
        _ => Ok(()),
    }
}

fn int_option(fd: RawFd, level: i32, name: i32) -> Result<i32, i32> {
    let mut v: i32 = 0;
    let mut len = 4u32;
    // SAFETY: v is valid for 4 bytes.
    let r = unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) };
    if r == 0 {
        Ok(v)
    } else {
        Err(errno())
    }
}

fn new_socket(family: i32, sotype: i32) -> Option<OwnedFd> {
    // SAFETY: socket with integer arguments.
    let fd = unsafe { libc::socket(family, sotype | libc::SOCK_CLOEXEC, 0) };
    // SAFETY: a fresh fd we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Options the program set on `old` (its TCP/UDP socket, before this supervisor saw it) carried
/// over to `new`, the socket replacing it, and recorded in `face` (engine::carry_over).
pub(super) fn carry_over(sh: &Shared, old: &OwnedFd, new: &OwnedFd, face: &mut Face) {
    let sotype = if face.dgram {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_STREAM
    };
    let lost = carry(old, new, face.family, sotype, false, &mut face.opts);
    if lost > 0 {
        slog!(
            sh,
            Warn,
            "{lost} option(s) set before the swap not recorded (too many)"
        );
    }
}

/// The same onto `new`, a real socket of the program's family (a socket server's): every
/// level set on it, nothing to record.
pub(super) fn carry_over_to_real(old: &OwnedFd, new: &OwnedFd, family: i32, sotype: i32) {
    carry(
        old,
        new,
        family,
        sotype & 0xf,
        true,
        &mut Options::default(),
    );
}

fn carry(
    old: &OwnedFd,
    new: &OwnedFd,
    family: i32,
    sotype: i32,
    real: bool,
    opts: &mut Options,
) -> usize {
    let Some(pristine) = pristine(family, sotype) else {
        return 0;
    };
    let read = |fd: RawFd| {
        move |level: i32, name: i32, out: &mut [u8]| {
            let mut n = out.len() as u32;
            // SAFETY: out is valid for n bytes.
            let r = unsafe { libc::getsockopt(fd, level, name, out.as_mut_ptr().cast(), &mut n) };
            (r == 0).then_some(n as usize)
        }
    };
    engine::carry_over(
        read(old.as_raw_fd()),
        read(pristine),
        |level, name, value| set_bytes(new, level, name, value).is_ok(),
        real,
        opts,
    )
}

/// The record of a connection `conn` accepted on a converted listener recording `listener`
/// (engine::inherit), its SOL_SOCKET options set on it.
pub(super) fn inherit_options(listener: &Options, conn: &OwnedFd) -> Options {
    engine::inherit(listener, |level, name, value| {
        set_bytes(conn, level, name, value).is_ok()
    })
}

/// The socket a setsockopt's verdict is asked on.
enum Verdict {
    /// One per family and type, kept: options that only hold a value (engine::CARRIED_OVER),
    /// where an earlier call's value does not change what the next one is told. Saves a
    /// socket() and close() per trapped call (Go sets three on every connection).
    Shared(RawFd),
    /// Made for this call: options with effects or state (memberships, filters).
    Own(OwnedFd),
}

impl Verdict {
    fn fd(&self) -> RawFd {
        match self {
            Verdict::Shared(fd) => *fd,
            Verdict::Own(fd) => fd.as_raw_fd(),
        }
    }
}

static VALIDATORS: Mutex<[Option<OwnedFd>; 4]> = Mutex::new([const { None }; 4]);

fn validator(family: i32, sotype: i32) -> Option<RawFd> {
    kept_socket(&VALIDATORS, family, sotype)
}

/// Per family and type: a socket never touched, whose options are the kernel's defaults.
static PRISTINE: Mutex<[Option<OwnedFd>; 4]> = Mutex::new([const { None }; 4]);

fn pristine(family: i32, sotype: i32) -> Option<RawFd> {
    kept_socket(&PRISTINE, family, sotype)
}

/// The socket of `family` and `sotype` in `set`, made the first time.
fn kept_socket(set: &Mutex<[Option<OwnedFd>; 4]>, family: i32, sotype: i32) -> Option<RawFd> {
    let i = match family {
        libc::AF_INET => 0,
        libc::AF_INET6 => 2,
        _ => return None,
    } + usize::from(sotype == libc::SOCK_DGRAM);
    let mut all = set.lock().unwrap();
    if all[i].is_none() {
        all[i] = new_socket(family, sotype);
    }
    all[i].as_ref().map(|fd| fd.as_raw_fd())
}

// ---------------------------------------------------------------- templates

/// Per (family, state): a real socket of the supervisor in that state (see State), made the
/// first time a converted socket of that family and kind asks, kept until the supervisor
/// exits. At most 12 fds.
static TEMPLATES: Mutex<[Option<OwnedFd>; 2 * STATES]> = Mutex::new([const { None }; 2 * STATES]);

fn template(family: i32, state: State) -> Option<RawFd> {
    let f = match family {
        libc::AF_INET => 0,
        libc::AF_INET6 => 1,
        _ => return None,
    };
    let i = f * STATES + state as usize;
    let mut all = TEMPLATES.lock().unwrap();
    if all[i].is_none() {
        for (s, fd) in make_set(family, state.stream()) {
            all[f * STATES + s as usize] = Some(fd);
        }
    }
    all[i].as_ref().map(|fd| fd.as_raw_fd())
}

/// The templates of one family and kind: stream: a fresh socket, a listener on loopback, a
/// client connected to it and the accepted end; datagram: one bound to loopback and one
/// connected to it. Empty when loopback cannot be used.
fn make_set(family: i32, stream: bool) -> Vec<(State, OwnedFd)> {
    let sotype = if stream {
        libc::SOCK_STREAM
    } else {
        libc::SOCK_DGRAM
    };
    let mut set = Vec::new();
    let Some(first) = new_socket(family, sotype) else {
        return set;
    };
    let lo = match family {
        libc::AF_INET => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        _ => std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
    };
    let mut sa = [0u8; addr::SOCKADDR_IN6_LEN];
    let n = addr::encode_ip(lo, family, &mut sa);
    // SAFETY: sa holds a sockaddr of n bytes.
    if unsafe { libc::bind(first.as_raw_fd(), sa.as_ptr().cast(), n as u32) } != 0 {
        return set;
    }
    // SAFETY: listen with integer arguments.
    if stream && unsafe { libc::listen(first.as_raw_fd(), 4) } != 0 {
        return set;
    }
    let mut name = [0u8; addr::SOCKADDR_IN6_LEN];
    let mut name_len = name.len() as u32;
    // SAFETY: name is valid for name_len bytes.
    if unsafe { libc::getsockname(first.as_raw_fd(), name.as_mut_ptr().cast(), &mut name_len) } != 0
    {
        return set;
    }
    let Some(second) = new_socket(family, sotype) else {
        return set;
    };
    // SAFETY: name holds the sockaddr getsockname gave, name_len bytes.
    if unsafe { libc::connect(second.as_raw_fd(), name.as_ptr().cast(), name_len) } != 0 {
        return set;
    }
    if stream {
        // SAFETY: accept4 without an address on our listener (the connection is queued).
        let a = unsafe {
            libc::accept4(
                first.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if a >= 0 {
            // SAFETY: a fresh fd we own.
            set.push((State::Accepted, unsafe { OwnedFd::from_raw_fd(a) }));
        }
        if let Some(f) = new_socket(family, sotype) {
            set.push((State::Fresh, f));
        }
        set.push((State::Listening, first));
        set.push((State::Client, second));
    } else {
        set.push((State::Unconnected, first));
        set.push((State::Connected, second));
    }
    set
}
