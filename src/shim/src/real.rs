//! The real libc functions behind our hooks, found with `dlsym(RTLD_NEXT)`: eagerly in the
//! constructor, lazily (a lock-free, idempotent store) if a hook runs first — other libraries'
//! constructors can call `connect()` before ours has run.

use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{c_char, c_int, c_void, sockaddr, socklen_t};

macro_rules! real_functions {
    ($( $name:ident : fn($($arg:ty),*) $(-> $ret:ty)? ; )*) => {
        $(
            #[allow(non_upper_case_globals)]
            pub mod $name {
                use super::*;
                pub type F = unsafe extern "C" fn($($arg),*) $(-> $ret)?;
                pub static PTR: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
                pub const NAME: &[u8] = concat!(stringify!($name), "\0").as_bytes();

                /// The next definition of this symbol after ours.
                #[inline]
                pub fn get() -> F {
                    let mut p = PTR.load(Ordering::Relaxed);
                    if p.is_null() {
                        p = resolve(NAME);
                        PTR.store(p, Ordering::Relaxed);
                    }
                    // SAFETY: p is the address libc exports under this name, whose C prototype is F.
                    unsafe { core::mem::transmute::<*mut c_void, F>(p) }
                }
            }
        )*

    };
}

fn resolve(name: &[u8]) -> *mut c_void {
    // SAFETY: name is NUL-terminated; RTLD_NEXT finds the definition after this library's.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    if p.is_null() {
        // Without the real function nothing can work; say which and stop rather than jump to 0.
        crate::log::fatal_missing_symbol(name);
    }
    p
}

real_functions! {
    socket: fn(c_int, c_int, c_int) -> c_int;
    bind: fn(c_int, *const sockaddr, socklen_t) -> c_int;
    connect: fn(c_int, *const sockaddr, socklen_t) -> c_int;
    accept: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    accept4: fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;
    getsockname: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    getpeername: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    getsockopt: fn(c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int;
    setsockopt: fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;
    close: fn(c_int) -> c_int;
    close_range: fn(u32, u32, c_int) -> c_int;
    closefrom: fn(c_int);
    dup: fn(c_int) -> c_int;
    dup2: fn(c_int, c_int) -> c_int;
    dup3: fn(c_int, c_int, c_int) -> c_int;
    fcntl: fn(c_int, c_int, usize) -> c_int;
    fcntl64: fn(c_int, c_int, usize) -> c_int;
    epoll_ctl: fn(c_int, c_int, c_int, *mut libc::epoll_event) -> c_int;
    fclose: fn(*mut libc::FILE) -> c_int;
    listen: fn(c_int, c_int) -> c_int;
    ioctl: fn(c_int, libc::c_ulong, *mut c_void) -> c_int;
    execve: fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
    execvpe: fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
    fexecve: fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
    execveat: fn(c_int, *const c_char, *const *const c_char, *const *const c_char, c_int) -> c_int;
    posix_spawn: fn(*mut libc::pid_t, *const c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut c_char, *const *mut c_char) -> c_int;
    posix_spawnp: fn(*mut libc::pid_t, *const c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut c_char, *const *mut c_char) -> c_int;
    send: fn(c_int, *const c_void, usize, c_int) -> isize;
    sendmmsg: fn(c_int, *mut libc::mmsghdr, libc::c_uint, c_int) -> c_int;
    recvmmsg: fn(c_int, *mut libc::mmsghdr, libc::c_uint, c_int, *mut libc::timespec) -> c_int;
    sendto: fn(c_int, *const c_void, usize, c_int, *const sockaddr, socklen_t) -> isize;
    sendmsg: fn(c_int, *const libc::msghdr, c_int) -> isize;
    recvfrom: fn(c_int, *mut c_void, usize, c_int, *mut sockaddr, *mut socklen_t) -> isize;
    recvmsg: fn(c_int, *mut libc::msghdr, c_int) -> isize;
    __recvfrom_chk: fn(c_int, *mut c_void, usize, usize, c_int, *mut sockaddr, *mut socklen_t) -> isize;
}

/// Resolves the real functions every libc has, now (called from the constructor). `close_range`
/// and `closefrom` stay lazy: a program can only call them if its libc has them.
pub fn resolve_all() {
    let _ = (
        socket::get(),
        bind::get(),
        connect::get(),
        accept::get(),
        accept4::get(),
    );
    let _ = (
        getsockname::get(),
        getpeername::get(),
        getsockopt::get(),
        setsockopt::get(),
    );
    let _ = (
        close::get(),
        dup::get(),
        dup2::get(),
        dup3::get(),
        fcntl::get(),
        fcntl64::get(),
    );
    let _ = (epoll_ctl::get(), fclose::get(), listen::get(), ioctl::get());
    let _ = (
        sendto::get(),
        sendmsg::get(),
        recvfrom::get(),
        recvmsg::get(),
    );
}
