//! Privilege drop after binding: chroot, groups, gid, uid, no_new_privs. Names are resolved
//! before the chroot (the passwd database may not exist inside it).

use crate::config::Privileges;
use crate::sys;

fn lookup_user(name: &str) -> Result<(u32, u32), String> {
    // A number only as decimal digits: "+0" is a (missing) user name, not root.
    if let Some(uid) = sockswap_core::decimal::parse::<u32>(name) {
        return Ok((uid, u32::MAX));
    }
    let c = sys::cstring(name).map_err(|e| e.to_string())?;
    // SAFETY: getpwnam with a valid C string; the result is read before any other passwd call.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(format!("-u: no such user '{name}'"));
    }
    // SAFETY: pw is non-null and points to a passwd record.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn lookup_group(name: &str) -> Result<u32, String> {
    if let Some(gid) = sockswap_core::decimal::parse::<u32>(name) {
        return Ok(gid);
    }
    let c = sys::cstring(name).map_err(|e| e.to_string())?;
    // SAFETY: valid C string.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        return Err(format!("no such group '{name}'"));
    }
    // SAFETY: non-null group record.
    Ok(unsafe { (*gr).gr_gid })
}

pub fn drop_privileges(p: &Privileges) -> Result<(), String> {
    let user = p.user.as_deref().map(lookup_user).transpose()?;
    let mut gid = p.group.as_deref().map(lookup_group).transpose()?;
    if gid.is_none() {
        gid = user.map(|(_, g)| g).filter(|g| *g != u32::MAX);
    }
    let groups: Vec<libc::gid_t> = match &p.groups {
        Some(list) => list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(lookup_group)
            .collect::<Result<_, _>>()?,
        None => gid.into_iter().collect(),
    };
    if let Some(dir) = &p.chroot {
        let c = sys::cstring(dir).map_err(|e| e.to_string())?;
        // SAFETY: valid C strings.
        sys::cvt(unsafe { libc::chroot(c.as_ptr()) }).map_err(|e| format!("chroot {dir}: {e}"))?;
        // SAFETY: a C string literal.
        sys::cvt(unsafe { libc::chdir(c"/".as_ptr()) }).map_err(|e| format!("chdir /: {e}"))?;
    }
    if !p.keep_groups && (user.is_some() || gid.is_some() || p.groups.is_some()) {
        // SAFETY: groups is a valid array of its length.
        let r = sys::cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) });
        // Clearing groups nobody asked for explicitly is best effort for an unprivileged
        // router (it cannot hold root's groups): EPERM then keeps its own, as setgid would.
        // SAFETY: geteuid has no preconditions.
        let unprivileged = p.groups.is_none() && unsafe { libc::geteuid() } != 0;
        match r {
            Err(e) if unprivileged && e.raw_os_error() == Some(libc::EPERM) => {}
            r => {
                r.map_err(|e| format!("setgroups: {e}"))?;
            }
        }
    }
    if let Some(g) = gid {
        // SAFETY: plain syscall.
        sys::cvt(unsafe { libc::setresgid(g, g, g) }).map_err(|e| format!("setgid {g}: {e}"))?;
    }
    if let Some((u, _)) = user {
        // SAFETY: plain syscall.
        sys::cvt(unsafe { libc::setresuid(u, u, u) }).map_err(|e| format!("setuid {u}: {e}"))?;
    }
    if p.no_new_privs {
        // SAFETY: prctl with integer arguments.
        sys::cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
            .map_err(|e| format!("no_new_privs: {e}"))?;
    }
    Ok(())
}

/// sd_notify("READY=1") if NOTIFY_SOCKET is set (path or @abstract).
pub fn sd_notify(state: &str) {
    let Ok(path) = std::env::var("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM) else {
        return;
    };
    let bytes = path.as_bytes();
    // SAFETY: POD.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if bytes.is_empty() || bytes.len() >= sun.sun_path.len() {
        return;
    }
    for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    if bytes[0] == b'@' {
        sun.sun_path[0] = 0;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path)
        + bytes.len()
        + usize::from(bytes[0] != b'@');
    use std::os::fd::AsRawFd;
    // SAFETY: sending a valid buffer to a valid sockaddr_un of len bytes.
    unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            state.as_ptr() as *const libc::c_void,
            state.len(),
            libc::MSG_NOSIGNAL,
            &sun as *const _ as *const libc::sockaddr,
            len as libc::socklen_t,
        );
    }
}
