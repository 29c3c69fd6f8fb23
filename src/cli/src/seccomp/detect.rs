//! What kind of program is about to run: decides the backend `--backend auto` picks.

use std::path::Path;

/// What the ELF headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Statically linked (no program interpreter): LD_PRELOAD never loads.
    Static,
    /// A Go binary (a `.go.buildinfo` section): Go makes its socket calls itself.
    Go,
    /// Dynamically linked but without libc: nothing for the library to hook.
    NoLibc,
    /// Dynamically linked against libc (or a script, or not an ELF file): preload works.
    Libc,
}

impl Kind {
    pub fn needs_seccomp(self) -> bool {
        self != Kind::Libc
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Static => "a statically linked program",
            Kind::Go => "a Go program",
            Kind::NoLibc => "a program without libc",
            Kind::Libc => "a dynamically linked libc program",
        }
    }
}

/// Inspects the file at `path` (an unreadable or non-ELF file counts as `Libc`: a script's
/// interpreter is what runs, and it is found and judged by the kernel, not here).
pub fn inspect(path: &Path) -> Kind {
    match std::fs::read(path) {
        Ok(bytes) => classify(&bytes),
        Err(_) => Kind::Libc,
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Classifies a little-endian 64-bit ELF image.
pub fn classify(b: &[u8]) -> Kind {
    classify_elf64(b).unwrap_or(Kind::Libc)
}

fn classify_elf64(b: &[u8]) -> Option<Kind> {
    if b.get(..4)? != b"\x7fELF" || *b.get(4)? != 2 || *b.get(5)? != 1 {
        return None;
    }
    let phoff = u64_at(b, 0x20)? as usize;
    let shoff = u64_at(b, 0x28)? as usize;
    let phentsize = usize::from(u16_at(b, 0x36)?);
    let phnum = usize::from(u16_at(b, 0x38)?);
    let shentsize = usize::from(u16_at(b, 0x3a)?);
    let shnum = usize::from(u16_at(b, 0x3c)?);
    let shstrndx = usize::from(u16_at(b, 0x3e)?);
    let has_interp = (0..phnum).any(|i| u32_at(b, phoff + i * phentsize) == Some(3)); // PT_INTERP
    let names_off = u64_at(b, shoff + shstrndx * shentsize + 0x18).map(|o| o as usize);
    let section_named = |want: &[u8]| -> bool {
        let Some(names) = names_off else { return false };
        (0..shnum).any(|i| {
            let Some(n) = u32_at(b, shoff + i * shentsize) else {
                return false;
            };
            let start = names + n as usize;
            b.get(start..start + want.len() + 1)
                .is_some_and(|s| &s[..want.len()] == want && s[want.len()] == 0)
        })
    };
    if section_named(b".go.buildinfo") {
        return Some(Kind::Go);
    }
    if !has_interp {
        return Some(Kind::Static);
    }
    let links_libc =
        b.windows(7).any(|w| w == b"libc.so") || b.windows(9).any(|w| w == b"libc.musl");
    Some(if links_libc { Kind::Libc } else { Kind::NoLibc })
}

/// Is the file set-user-ID or set-group-ID? (Such a program runs with its privileges only
/// without LD_PRELOAD and without no_new_privs: neither backend can hold it.)
pub fn is_setid(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o6000 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_programs() {
        // Whatever this test runs on has a dynamic libc shell.
        assert_eq!(inspect(Path::new("/bin/sh")), Kind::Libc);
        assert_eq!(classify(b"#!/bin/sh\n"), Kind::Libc);
        assert_eq!(classify(b""), Kind::Libc);
    }

    #[test]
    fn this_test_binary_is_dynamic_libc() {
        let me = std::env::current_exe().unwrap();
        assert_eq!(inspect(&me), Kind::Libc);
    }
}
