//! The classic-BPF filter the program runs under: the socket calls whose meaning a rule can
//! change go to the supervisor (SECCOMP_RET_USER_NOTIF), `io_uring_setup` fails with ENOSYS
//! (io_uring's socket operations are invisible to seccomp; runtimes fall back to system
//! calls), everything else runs untouched in the kernel.

use libc::{c_ulong, sock_filter, sock_fprog};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// x86-64's x32 ABI marks its system call numbers with this bit.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The calls the supervisor decides.
pub const TRAPPED: &[libc::c_long] = &[
    libc::SYS_bind,
    libc::SYS_connect,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    // socketbox listeners are datagram or SEQPACKET sockets: their `listen` is answered here.
    libc::SYS_listen,
];

/// Calls that create an epoll instance: the supervisor notes which processes have one (then
/// a swap carries the old socket's epoll registrations over, supervisor/epoll.rs) and lets
/// them run. Rare: once per event loop.
#[cfg(target_arch = "x86_64")]
pub const EPOLL_CREATORS: &[libc::c_long] = &[libc::SYS_epoll_create1, libc::SYS_epoll_create];
#[cfg(target_arch = "aarch64")]
pub const EPOLL_CREATORS: &[libc::c_long] = &[libc::SYS_epoll_create1];

/// Calls the supervisor decides only for some arguments (level and option, ioctl request;
/// see `by_argument`): a converted socket answers them as TCP/UDP would
/// (sockswap_core::sockopt), every other call of theirs never leaves the kernel.
pub const TRAPPED_BY_ARGUMENT: &[libc::c_long] =
    &[libc::SYS_getsockopt, libc::SYS_setsockopt, libc::SYS_ioctl];

/// Datagram calls the supervisor decides when they carry an address (argument 4 not NULL):
/// only when some rule may convert a UDP socket.
pub const TRAPPED_WITH_ADDRESS: &[libc::c_long] = &[libc::SYS_sendto, libc::SYS_recvfrom];

// struct seccomp_data offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// args[i], low 32 bits (little-endian); the kernel takes level, option name and ioctl
/// request as 32-bit values, so the high half never matters for them.
const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
const OFF_ARG4_LO: u32 = off_arg_lo(4);
const OFF_ARG4_HI: u32 = OFF_ARG4_LO + 4;

const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
#[cfg(target_arch = "x86_64")]
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The filter program. Calls of another architecture (32-bit compat, x32) fail with ENOSYS:
/// their socket calls (socketcall, other numbers) could not be decided here, and a rule must
/// never be bypassed silently.
pub fn program(datagrams: bool, block_inet6: bool) -> Vec<sock_filter> {
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    let mut p = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, enosys),
        stmt(LD_W_ABS, OFF_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        p.push(jump(JSET_K, X32_SYSCALL_BIT, 0, 1));
        p.push(stmt(RET_K, enosys));
    }
    p.push(jump(JEQ_K, libc::SYS_io_uring_setup as u32, 0, 1));
    p.push(stmt(RET_K, enosys));
    if block_inet6 {
        // UNSOCK_BLOCK_INET6: socket(AF_INET6, ...) fails with EAFNOSUPPORT, decided here.
        p.push(jump(JEQ_K, libc::SYS_socket as u32, 0, 4));
        p.push(stmt(LD_W_ABS, off_arg_lo(0)));
        p.push(jump(JEQ_K, libc::AF_INET6 as u32, 0, 1));
        p.push(stmt(
            RET_K,
            libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32,
        ));
        p.push(stmt(LD_W_ABS, OFF_NR));
    }
    for &nr in TRAPPED.iter().chain(EPOLL_CREATORS) {
        p.push(jump(JEQ_K, nr as u32, 0, 1));
        p.push(stmt(RET_K, libc::SECCOMP_RET_USER_NOTIF));
    }
    for &nr in TRAPPED_BY_ARGUMENT {
        by_argument(&mut p, nr);
    }
    if datagrams {
        for &nr in TRAPPED_WITH_ADDRESS {
            // Not this call: on to the next block. Else notify unless args[4] is NULL.
            p.push(jump(JEQ_K, nr as u32, 0, 6));
            p.push(stmt(LD_W_ABS, OFF_ARG4_LO));
            p.push(jump(JEQ_K, 0, 0, 3));
            p.push(stmt(LD_W_ABS, OFF_ARG4_HI));
            p.push(jump(JEQ_K, 0, 0, 1));
            p.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
            p.push(stmt(RET_K, libc::SECCOMP_RET_USER_NOTIF));
        }
    }
    p.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    p
}

/// Appends the block for `nr` of TRAPPED_BY_ARGUMENT: notify for getsockopt/setsockopt at an
/// IP level or for the SOL_SOCKET options whose answer or effect differs on a converted
/// socket, and for the queue ioctls; allow the rest; on to the next block for other calls.
fn by_argument(p: &mut Vec<sock_filter>, nr: libc::c_long) {
    use sockswap_core::sockopt;
    let allow = libc::SECCOMP_RET_ALLOW;
    let notif = libc::SECCOMP_RET_USER_NOTIF;
    // (argument, values that notify) checked in turn; for the level, SOL_SOCKET goes on to
    // the option name instead.
    let levels: Vec<u32> = sockopt::IP_LEVELS.iter().map(|&l| l as u32).collect();
    let names: Vec<u32> = match nr {
        libc::SYS_getsockopt => sockopt::SOCKET_GET_DIFFERS,
        _ => sockopt::SOCKET_SET_TRAPPED,
    }
    .iter()
    .map(|&n| n as u32)
    .collect();
    let mut body = Vec::new();
    // From the instruction about to be pushed to the block's last one (RET notif), in a
    // block of `len` instructions.
    let jump_to_end = |body: &Vec<sock_filter>, len: usize| (len - body.len() - 2) as u8;
    if nr == libc::SYS_ioctl {
        let reqs: Vec<u32> = sockopt::QUEUE_IOCTLS.iter().map(|&r| r as u32).collect();
        let len = 1 + reqs.len() + 2;
        body.push(stmt(LD_W_ABS, off_arg_lo(1)));
        for r in reqs {
            // Jump to the final RET notif (the last instruction).
            let to_notif = jump_to_end(&body, len);
            body.push(jump(JEQ_K, r, to_notif, 0));
        }
        body.push(stmt(RET_K, allow));
        body.push(stmt(RET_K, notif));
    } else {
        let len = 1 + levels.len() + 2 + names.len() + 2;
        body.push(stmt(LD_W_ABS, off_arg_lo(1)));
        for l in levels {
            let to_notif = jump_to_end(&body, len);
            body.push(jump(JEQ_K, l, to_notif, 0));
        }
        let to_allow = jump_to_end(&body, len) - 1;
        body.push(jump(JEQ_K, libc::SOL_SOCKET as u32, 0, to_allow));
        body.push(stmt(LD_W_ABS, off_arg_lo(2)));
        for n in names {
            let to_notif = jump_to_end(&body, len);
            body.push(jump(JEQ_K, n, to_notif, 0));
        }
        body.push(stmt(RET_K, allow));
        body.push(stmt(RET_K, notif));
        debug_assert_eq!(body.len(), len);
    }
    p.push(jump(JEQ_K, nr as u32, 0, body.len() as u8));
    p.extend(body);
}

/// Installs the filter on the calling thread and returns the listener fd. Called in the forked
/// child between fork and exec: no allocation (the program is built before fork).
///
/// Tries `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19) first, so that once the
/// supervisor has received a call, only a fatal signal interrupts it (Go's preemption signal
/// would otherwise restart a bind or connect the supervisor is half way through).
pub fn install(prog: &[sock_filter]) -> Result<i32, i32> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(errno());
    }
    let fprog = sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut sock_filter,
    };
    let mut last = 0;
    for flags in [
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
    ] {
        // SAFETY: fprog points to a valid filter program that outlives the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as c_ulong,
                flags,
                &fprog as *const sock_fprog,
            )
        };
        if r >= 0 {
            return Ok(r as i32);
        }
        last = errno();
        if last != libc::EINVAL {
            break;
        }
    }
    Err(last)
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter on a seccomp_data (nr, arch, args[4]) the way the kernel would.
    fn run(p: &[sock_filter], nr: u32, arch: u32) -> u32 {
        run_arg(p, nr, arch, 0)
    }

    fn run_arg(p: &[sock_filter], nr: u32, arch: u32, arg4: u64) -> u32 {
        run_args(p, nr, arch, [0, 0, 0, 0, arg4, 0])
    }

    fn run_args(p: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let mut pc = 0usize;
        let mut acc = 0u32;
        loop {
            let i = p[pc];
            match i.code {
                LD_W_ABS => {
                    acc = match i.k {
                        OFF_NR => nr,
                        OFF_ARCH => arch,
                        k if (16..64).contains(&k) && k % 4 == 0 => {
                            let a = args[((k - 16) / 8) as usize];
                            if k % 8 == 0 {
                                a as u32
                            } else {
                                (a >> 32) as u32
                            }
                        }
                        k => panic!("load of offset {k}"),
                    }
                }
                JEQ_K => {
                    pc += usize::from(if acc == i.k { i.jt } else { i.jf });
                }
                #[cfg(target_arch = "x86_64")]
                JSET_K => {
                    pc += usize::from(if acc & i.k != 0 { i.jt } else { i.jf });
                }
                RET_K => return i.k,
                c => panic!("unexpected op {c}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn datagram_calls_trapped_only_with_an_address_and_datagram_rules() {
        let notif = libc::SECCOMP_RET_USER_NOTIF;
        let allow = libc::SECCOMP_RET_ALLOW;
        let with = program(true, false);
        let without = program(false, false);
        for &nr in TRAPPED_WITH_ADDRESS {
            let nr = nr as u32;
            assert_eq!(run_arg(&with, nr, AUDIT_ARCH, 0x7fff_0000_1000), notif);
            assert_eq!(run_arg(&with, nr, AUDIT_ARCH, 0x1000), notif);
            assert_eq!(run_arg(&with, nr, AUDIT_ARCH, 0x7fff_0000_0000), notif);
            assert_eq!(run_arg(&with, nr, AUDIT_ARCH, 0), allow);
            assert_eq!(run_arg(&without, nr, AUDIT_ARCH, 0x1000), allow);
        }
        assert_eq!(run_arg(&with, libc::SYS_bind as u32, AUDIT_ARCH, 0), notif);
        assert_eq!(
            run_arg(&with, libc::SYS_sendmsg as u32, AUDIT_ARCH, 5),
            allow
        );
    }

    #[test]
    fn trapped_denied_and_allowed() {
        let p = program(true, false);
        for &nr in TRAPPED {
            assert_eq!(run(&p, nr as u32, AUDIT_ARCH), libc::SECCOMP_RET_USER_NOTIF);
        }
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        assert_eq!(run(&p, libc::SYS_io_uring_setup as u32, AUDIT_ARCH), enosys);
        for nr in [libc::SYS_read, libc::SYS_socket, libc::SYS_close] {
            assert_eq!(run(&p, nr as u32, AUDIT_ARCH), libc::SECCOMP_RET_ALLOW);
        }
        assert_eq!(run(&p, libc::SYS_read as u32, 0x4000_0003), enosys);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            run(&p, libc::SYS_connect as u32 | X32_SYSCALL_BIT, AUDIT_ARCH),
            enosys
        );
    }

    #[test]
    fn block_inet6_refuses_ipv6_sockets_in_the_filter() {
        let socket = libc::SYS_socket as u32;
        let refuse = libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32;
        for datagrams in [false, true] {
            let p = program(datagrams, true);
            let call = |domain: u64| run_args(&p, socket, AUDIT_ARCH, [domain, 1, 0, 0, 0, 0]);
            assert_eq!(call(libc::AF_INET6 as u64), refuse);
            assert_eq!(call(libc::AF_INET as u64), libc::SECCOMP_RET_ALLOW);
            assert_eq!(call(libc::AF_UNIX as u64), libc::SECCOMP_RET_ALLOW);
            // The rest of the program still sees the call number.
            assert_eq!(
                run(&p, libc::SYS_bind as u32, AUDIT_ARCH),
                libc::SECCOMP_RET_USER_NOTIF
            );
        }
        let p = program(true, false);
        let v6 = run_args(
            &p,
            socket,
            AUDIT_ARCH,
            [libc::AF_INET6 as u64, 1, 0, 0, 0, 0],
        );
        assert_eq!(v6, libc::SECCOMP_RET_ALLOW);
    }

    #[test]
    fn socket_options_trapped_by_level_and_name() {
        use sockswap_core::sockopt;
        let notif = libc::SECCOMP_RET_USER_NOTIF;
        let allow = libc::SECCOMP_RET_ALLOW;
        for datagrams in [false, true] {
            let p = program(datagrams, false);
            let get = libc::SYS_getsockopt as u32;
            let set = libc::SYS_setsockopt as u32;
            let call = |nr, level: i32, name: i32| {
                run_args(
                    &p,
                    nr,
                    AUDIT_ARCH,
                    [5, level as u64, name as u64, 0x1000, 0x2000, 0],
                )
            };
            for level in sockopt::IP_LEVELS {
                assert_eq!(call(get, level, 1), notif);
                assert_eq!(call(set, level, 99), notif);
            }
            // The high half is not the kernel's: ignored.
            assert_eq!(
                run_args(&p, get, AUDIT_ARCH, [5, 6 | (1 << 32), 1, 0, 0, 0]),
                notif
            );
            for &n in sockopt::SOCKET_GET_DIFFERS {
                assert_eq!(call(get, libc::SOL_SOCKET, n), notif, "getsockopt {n}");
            }
            for &n in sockopt::SOCKET_SET_TRAPPED {
                assert_eq!(call(set, libc::SOL_SOCKET, n), notif, "setsockopt {n}");
            }
            for n in [
                libc::SO_ERROR,
                libc::SO_KEEPALIVE,
                libc::SO_REUSEADDR,
                libc::SO_LINGER,
            ] {
                assert_eq!(call(get, libc::SOL_SOCKET, n), allow);
                assert_eq!(call(set, libc::SOL_SOCKET, n), allow);
            }
            assert_eq!(call(get, libc::SOL_PACKET, 1), allow);
            assert_eq!(call(set, 277 /* SOL_TLS */, 1), allow);
            let ioctl = |req: u64| {
                run_args(
                    &p,
                    libc::SYS_ioctl as u32,
                    AUDIT_ARCH,
                    [5, req, 0x1000, 0, 0, 0],
                )
            };
            for r in sockopt::QUEUE_IOCTLS {
                assert_eq!(ioctl(r), notif);
            }
            assert_eq!(ioctl(libc::TCGETS), allow);
            assert_eq!(ioctl(libc::FIONBIO), allow);
            // The rest of the program still works behind these blocks.
            assert_eq!(run(&p, libc::SYS_bind as u32, AUDIT_ARCH), notif);
            assert_eq!(run(&p, libc::SYS_read as u32, AUDIT_ARCH), allow);
        }
    }
}
