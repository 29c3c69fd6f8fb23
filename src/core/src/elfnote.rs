//! Recognising a Go program from its ELF notes, so the shim can refuse to run one it cannot
//! convert: Go's runtime makes socket system calls itself, never through the C library, so an
//! `LD_PRELOAD` hook never sees them (even in a dynamically linked, cgo, binary).

/// The note type Go's linker writes for its build ID (`.note.go.buildid`, owner "Go").
pub const NT_GO_BUILDID: u32 = 4;

/// Does this PT_NOTE segment (its bytes, and its alignment, 4 or 8) hold Go's build-ID note?
/// Malformed notes end the walk; nothing is read outside `segment`.
pub fn has_go_note(segment: &[u8], align: usize) -> bool {
    let align = if align == 8 { 8 } else { 4 };
    let round = |n: usize| n.checked_add(align - 1).map(|n| n & !(align - 1));
    let word = |at: usize| -> Option<u32> {
        let b = segment.get(at..at.checked_add(4)?)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 0usize;
    while let (Some(namesz), Some(descsz), Some(kind)) = (word(at), word(at + 4), word(at + 8)) {
        let name_at = at + 12;
        let Some(name_end) = name_at.checked_add(namesz as usize) else {
            return false;
        };
        let Some(name) = segment.get(name_at..name_end) else {
            return false;
        };
        if kind == NT_GO_BUILDID && (name == b"Go\0\0" || name == b"Go\0") {
            return true;
        }
        let next = round(name_end)
            .and_then(|d| d.checked_add(descsz as usize))
            .and_then(round);
        match next {
            Some(n) if n > at => at = n,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(name.len() as u32).to_ne_bytes());
        v.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(name);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(desc);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn finds_go_after_other_notes() {
        let mut seg = note(b"GNU\0", 3, &[1; 20]); // a GNU build ID
        seg.extend(note(b"GNU\0", 1, &[0; 16])); // ABI tag
        assert!(!has_go_note(&seg, 4));
        seg.extend(note(b"Go\0\0", NT_GO_BUILDID, b"abc/def/ghi"));
        assert!(has_go_note(&seg, 4));
    }

    #[test]
    fn other_owners_and_types_are_not_go() {
        assert!(!has_go_note(&note(b"Go\0\0", 1, b"x"), 4));
        assert!(!has_go_note(&note(b"GNU\0", NT_GO_BUILDID, b"x"), 4));
    }

    #[test]
    fn truncated_and_hostile_notes_end_the_walk() {
        let seg = note(b"Go\0\0", NT_GO_BUILDID, b"abcdef");
        for cut in 0..seg.len() {
            let _ = has_go_note(&seg[..cut], 4); // never panics
        }
        let mut huge = Vec::new();
        for w in [u32::MAX, u32::MAX, NT_GO_BUILDID] {
            huge.extend_from_slice(&w.to_ne_bytes());
        }
        assert!(!has_go_note(&huge, 8));
    }
}
