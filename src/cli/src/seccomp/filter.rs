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

/// Datagram calls the supervisor decides when they carry an address (argument 4 not NULL):
/// only when some rule may convert a UDP socket.
pub const TRAPPED_WITH_ADDRESS: &[libc::c_long] = &[libc::SYS_sendto, libc::SYS_recvfrom];

// struct seccomp_data offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// args[4], low and high 32 bits (little-endian).
const OFF_ARG4_LO: u32 = 16 + 8 * 4;
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
pub fn program(datagrams: bool) -> Vec<sock_filter> {
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
    for &nr in TRAPPED {
        p.push(jump(JEQ_K, nr as u32, 0, 1));
        p.push(stmt(RET_K, libc::SECCOMP_RET_USER_NOTIF));
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
        let mut pc = 0usize;
        let mut acc = 0u32;
        loop {
            let i = p[pc];
            match i.code {
                LD_W_ABS => {
                    acc = match i.k {
                        OFF_NR => nr,
                        OFF_ARCH => arch,
                        OFF_ARG4_LO => arg4 as u32,
                        OFF_ARG4_HI => (arg4 >> 32) as u32,
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
        let with = program(true);
        let without = program(false);
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
        let p = program(true);
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
}
