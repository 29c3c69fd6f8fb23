//! exec and spawn: a new program image gets, besides the fds, the record of each converted
//! socket it inherits (`SOCKSWAP_INHERIT`, see inherit.rs), so that its shim keeps up the
//! illusion. The new environment is built on the stack: these hooks run in vfork children,
//! whose memory is the parent's, and must not allocate.
//!
//! Covered: execve, execv, execvp, execvpe, fexecve, execveat, posix_spawn, posix_spawnp. Not
//! covered: the execl family (C-variadic, and glibc's own calls to exec from system/popen
//! bypass every hook).

use core::ptr::null;

use libc::{c_char, c_int};

use crate::{inherit, log::log, real, runtime};

/// Room for the variable (about 100 bytes per socket).
const TEXT: usize = 16 * 1024;
/// Room for the environment's pointers.
const POINTERS: usize = 4096;

extern "C" {
    static environ: *const *const c_char;
}

fn program_environment() -> *const *const c_char {
    // SAFETY: reading the C library's environ pointer, as getenv does.
    unsafe { environ }
}

/// Calls `run` with `envp` plus the record of the converted sockets that survive the exec
/// (replacing an older record), or with `envp` itself when there is none.
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of NUL-terminated strings, as exec requires.
unsafe fn with_record<R>(
    envp: *const *const c_char,
    run: impl FnOnce(*const *const c_char) -> R,
) -> R {
    if runtime::get().is_none() {
        return run(envp);
    }
    let mut text = [0u8; TEXT];
    let n = inherit::write_variable(&mut text);
    if n == 0 {
        return run(envp);
    }
    let name = sockswap_core::inherit::VAR.as_bytes();
    let mut pointers: [*const c_char; POINTERS] = [null(); POINTERS];
    let mut count = 0;
    let mut p = envp;
    while !p.is_null() {
        // SAFETY: envp is NULL-terminated (the caller's contract with exec).
        let entry = unsafe { *p };
        if entry.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string; we read at most up to its NUL.
        let older = unsafe { has_name(entry, name) };
        if !older {
            let Some(slot) = pointers.get_mut(count) else {
                log!(
                    Warn,
                    "exec: environment too large to add {}",
                    sockswap_core::inherit::VAR
                );
                return run(envp);
            };
            *slot = entry;
            count += 1;
        }
        // SAFETY: still within the array, which ends with NULL.
        p = unsafe { p.add(1) };
    }
    match pointers.get_mut(count..count + 2) {
        Some([ours, end]) => {
            *ours = text.as_ptr().cast();
            *end = null();
        }
        _ => return run(envp),
    }
    run(pointers.as_ptr())
}

/// `entry` starts with `name=`.
///
/// # Safety
/// `entry` is a NUL-terminated string.
unsafe fn has_name(entry: *const c_char, name: &[u8]) -> bool {
    for (i, &b) in name.iter().chain(b"=").enumerate() {
        // SAFETY: we stop at the first mismatch, at the latest at the string's NUL.
        if unsafe { *entry.add(i) } as u8 != b {
            return false;
        }
    }
    true
}

type Argv = *const *const c_char;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the program's own arguments.
    unsafe { with_record(envp, |e| real::execve::get()(path, argv, e)) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: execv is execve with the program's environment.
    unsafe {
        with_record(program_environment(), |e| {
            real::execve::get()(path, argv, e)
        })
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: execvp is execvpe with the program's environment.
    unsafe {
        with_record(program_environment(), |e| {
            real::execvpe::get()(file, argv, e)
        })
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the program's own arguments.
    unsafe { with_record(envp, |e| real::execvpe::get()(file, argv, e)) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the program's own arguments.
    unsafe { with_record(envp, |e| real::fexecve::get()(fd, argv, e)) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: Argv,
    envp: Argv,
    flags: c_int,
) -> c_int {
    // SAFETY: the program's own arguments.
    unsafe { with_record(envp, |e| real::execveat::get()(dirfd, path, argv, e, flags)) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let real = real::posix_spawn::get();
    // SAFETY: the program's own arguments; the environment is only read.
    unsafe {
        with_record(envp.cast(), |e| {
            real(pid, path, actions, attr, argv, e.cast())
        })
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let real = real::posix_spawnp::get();
    // SAFETY: as in posix_spawn.
    unsafe {
        with_record(envp.cast(), |e| {
            real(pid, file, actions, attr, argv, e.cast())
        })
    }
}
