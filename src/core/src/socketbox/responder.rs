//! The router's built-in port-80 responder (`action = "https-redirect"`), pure: what an HTTP
//! request head becomes. Every plain-HTTP request is answered `301` to `https://<Host><target>`,
//! except `GET`/`HEAD /.well-known/acme-challenge/<token>`, which is served from a webroot (for
//! Certbot's webroot authenticator) when one is configured. One request per connection, answered
//! with `Connection: close`. The router does the I/O (src/router/src/responder.rs).

/// The largest request head read; a longer one is answered 431 and the connection closed.
pub const MAX_REQUEST_HEAD: usize = 8192;
/// The largest challenge file served (real ones are under 100 bytes).
pub const MAX_CHALLENGE_FILE: u64 = 64 * 1024;
/// The path prefix of ACME HTTP-01 challenges (RFC 8555, section 8.3).
pub const ACME_PREFIX: &str = "/.well-known/acme-challenge/";

/// What to do with a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `301 Moved Permanently` with this `Location`.
    Redirect { location: String, head_only: bool },
    /// Serve the file of this name from the webroot (a validated token: no `/`, no `..`).
    Challenge { token: String, head_only: bool },
    /// An error status and its reason phrase; the connection is closed after it.
    Error { status: u16, reason: &'static str },
}

/// Whether `head` (the bytes read so far) holds a whole request head, and its length
/// (through the blank line).
pub fn head_end(head: &[u8]) -> Option<usize> {
    head.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| head.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

fn error(status: u16, reason: &'static str) -> Decision {
    Decision::Error { status, reason }
}

/// An ACME token: base64url characters only (RFC 8555), so it can never name a directory,
/// a parent or a hidden file.
fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 255
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The host part of a `Host` header value without its port, if it is a well-formed name, IPv4
/// address or bracketed IPv6 address (anything else could smuggle text into `Location`).
fn host_without_port(v: &str) -> Option<&str> {
    let v = v.trim();
    if let Some(rest) = v.strip_prefix('[') {
        let end = rest.find(']')?;
        let ip = &rest[..end];
        let after = &rest[end + 1..];
        ip.parse::<std::net::Ipv6Addr>().ok()?;
        if !(after.is_empty() || port_ok(after.strip_prefix(':')?)) {
            return None;
        }
        return Some(&v[..end + 2]);
    }
    let (host, port) = match v.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (v, None),
    };
    if port.is_some_and(|p| !port_ok(p)) {
        return None;
    }
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['-', '.']);
    ok.then_some(host)
}

fn port_ok(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// The request-target as a path for `Location`: origin-form as is, absolute-form reduced to its
/// path; anything with bytes that do not belong in a URL is refused.
fn target_path(t: &str) -> Option<String> {
    let path = if t.starts_with('/') {
        t
    } else {
        let rest = t
            .strip_prefix("http://")
            .or_else(|| t.strip_prefix("HTTP://"))?;
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
    };
    path.bytes()
        .all(|b| b.is_ascii_graphic())
        .then(|| path.to_owned())
}

/// Decide what a complete request head (from `head_end`) becomes. `has_webroot`: whether
/// challenges are served at all (without a webroot they are redirected like any path).
pub fn decide(head: &[u8], has_webroot: bool) -> Decision {
    let Ok(text) = std::str::from_utf8(head) else {
        return error(400, "Bad Request");
    };
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return error(400, "Bad Request");
    };
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return error(505, "HTTP Version Not Supported");
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return error(400, "Bad Request");
    }
    let mut host = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return error(400, "Bad Request");
        };
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return error(400, "Bad Request"); // two Host headers (RFC 9112, 3.2)
            }
            host = Some(value);
        }
    }
    let Some(host) = host.and_then(host_without_port) else {
        return error(400, "Bad Request"); // no Host, or one that cannot be a host
    };
    let Some(path) = target_path(target) else {
        return error(400, "Bad Request");
    };
    let head_only = method == "HEAD";
    if has_webroot && (method == "GET" || head_only) {
        if let Some(token) = path.strip_prefix(ACME_PREFIX) {
            return if valid_token(token) {
                Decision::Challenge {
                    token: token.to_owned(),
                    head_only,
                }
            } else {
                error(404, "Not Found")
            };
        }
    }
    Decision::Redirect {
        location: format!("https://{host}{path}"),
        head_only,
    }
}

/// The response head for a decision's status (the body, if any, follows it).
pub fn response_head(status: u16, reason: &str, extra: &str, content_length: u64) -> String {
    format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(head: &str) -> String {
        match decide(head.as_bytes(), true) {
            Decision::Redirect { location, .. } => location,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    #[test]
    fn redirects_to_https_on_the_same_host_and_path() {
        assert_eq!(
            redirect("GET /a/b?c=d HTTP/1.1\r\nHost: example.org\r\n\r\n"),
            "https://example.org/a/b?c=d"
        );
        assert_eq!(
            redirect("GET / HTTP/1.0\r\nhost: example.org:80\r\n\r\n"),
            "https://example.org/"
        );
        assert_eq!(
            redirect("POST /x HTTP/1.1\r\nHost: 192.0.2.1:8080\r\n\r\n"),
            "https://192.0.2.1/x"
        );
        assert_eq!(
            redirect("GET /v6 HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n"),
            "https://[2001:db8::1]/v6"
        );
        assert_eq!(
            redirect("GET /v6 HTTP/1.1\r\nHost: [::1]\r\n\r\n"),
            "https://[::1]/v6"
        );
        assert_eq!(
            redirect("GET http://other/p HTTP/1.1\r\nHost: example.org\r\n\r\n"),
            "https://example.org/p"
        );
        // Bare-LF heads are accepted as well.
        assert_eq!(redirect("GET /lf HTTP/1.1\nHost: h\n\n"), "https://h/lf");
    }

    #[test]
    fn serves_only_valid_challenge_tokens() {
        let tok = "GET /.well-known/acme-challenge/AbC-_09 HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            decide(tok.as_bytes(), true),
            Decision::Challenge {
                token: "AbC-_09".into(),
                head_only: false
            }
        );
        for bad in ["..", "../etc/passwd", "a/b", ".hidden", "a%2f..", "", "a.b"] {
            let head = format!("GET {ACME_PREFIX}{bad} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(
                decide(head.as_bytes(), true),
                error(404, "Not Found"),
                "{bad}"
            );
        }
        // Without a webroot a challenge path is redirected like any other.
        assert!(matches!(
            decide(tok.as_bytes(), false),
            Decision::Redirect { .. }
        ));
    }

    #[test]
    fn refuses_what_cannot_be_answered() {
        for (head, status) in [
            ("GET / HTTP/1.1\r\n\r\n", 400),                           // no Host
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),     // two
            ("GET / HTTP/1.1\r\nHost: a\r\nLocation: x\r\n\r\n", 301), // other headers ignored
            ("GET / HTTP/1.1\r\nHost: evil\r\n x\r\n\r\n", 400),       // folded line
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),              // not a host
            ("GET / HTTP/1.1\r\nHost: a\"><x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET /\r\n\r\n", 400), // HTTP/0.9
            ("get / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("\u{ff}GET", 400),
        ] {
            let got = match decide(head.as_bytes(), true) {
                Decision::Error { status, .. } => status,
                Decision::Redirect { .. } => 301,
                Decision::Challenge { .. } => 200,
            };
            assert_eq!(got, status, "{head:?}");
        }
    }

    #[test]
    fn finds_the_end_of_the_head() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_never_emits_a_control_character(head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Decision::Redirect { location, .. } = decide(&head, true) {
                proptest::prop_assert!(location.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
}
