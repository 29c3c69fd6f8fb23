//! Shell-style glob matching (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`, `\x`) over bytes, without
//! allocation, for `from-unix=` and `from-abstract=` rules.

/// Does `text` match `pattern`? Iterative with single-star backtracking: linear in practice,
/// never recursive (hooks run on small stacks).
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if let Some(&pc) = pattern.get(p) {
            match pc {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((hit, next)) = class(pattern, p, text[t]) {
                        if hit {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        // An unclosed '[' is a literal.
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if pattern.get(p + 1) == Some(&text[t]) => {
                    p += 2;
                    t += 1;
                    continue;
                }
                c if c != b'\\' && c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches one byte against the class starting at `pattern[start] == b'['`.
/// Returns (matched, index after the class), or None if the class is not closed.
fn class(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *pattern.get(i)?;
        if lo == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn basics() {
        assert!(matches(b"/tmp/*.sock", b"/tmp/a.sock"));
        assert!(matches(b"/tmp/*.sock", b"/tmp/a/b.sock"));
        assert!(!matches(b"/tmp/*.sock", b"/tmp/a.sack"));
        assert!(matches(b"a?c", b"abc"));
        assert!(!matches(b"a?c", b"ac"));
        assert!(matches(b"x[0-9]y", b"x5y"));
        assert!(!matches(b"x[!0-9]y", b"x5y"));
        assert!(matches(b"*", b""));
        assert!(matches(b"a\\*", b"a*"));
        assert!(!matches(b"a\\*", b"ab"));
        assert!(matches(b"[", b"["));
        assert!(matches(b"*a*b*c*", b"xxaxxbxxc"));
        assert!(!matches(b"*a*b*c*", b"xxaxxcxxb"));
    }
}
