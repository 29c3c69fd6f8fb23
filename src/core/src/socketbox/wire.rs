//! Wire formats: "A" datagram, "B" records, PROXY protocol headers, `-U` path templates.

use std::net::{IpAddr, SocketAddr};

/// The one data byte of an "A" datagram.
pub const A_BYTE: u8 = 0x00;
/// An "A" listener handover record (with one SCM_RIGHTS fd: a listening TCP socket): type byte
/// `01`, `HL` (handed-over listener), version 1. Sent only to targets that opted in to
/// handover, never to plain A receivers (which would take the listener for a connection).
pub const A_HANDOVER: [u8; 4] = [0x01, b'H', b'L', 1];
/// B: client → server registration record length.
pub const B_REGISTER_LEN: usize = 8;
/// B: server → client acknowledgement `80 00 00 00`.
pub const B_ACK: [u8; 4] = [0x80, 0, 0, 0];
/// B: server → client delivery record `03 00 00 00` (with one SCM_RIGHTS fd).
pub const B_DELIVERY: [u8; 4] = [0x03, 0, 0, 0];

/// B: server → client refusal `82 00 00 00` followed by the reason as UTF-8 text (sockswap's
/// router sends it before closing; a client that only knows `B_ACK` sees "not acknowledged").
pub const B_REFUSED: [u8; 4] = [0x82, 0, 0, 0];
/// Longest reason text a refusal record carries.
pub const B_REFUSAL_REASON_MAX: usize = 200;

/// The refusal record for `reason` (cut at `B_REFUSAL_REASON_MAX` bytes, on a char boundary).
pub fn b_refusal(reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(B_REFUSAL_REASON_MAX);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut record = B_REFUSED.to_vec();
    record.extend_from_slice(&reason.as_bytes()[..end]);
    record
}

/// The reason of a refusal record; None if `record` is not one.
pub fn b_parse_refusal(record: &[u8]) -> Option<&[u8]> {
    record.strip_prefix(&B_REFUSED[..])
}

/// The registration record for `slot`: `01 00 00 00` then the slot number, u32 big-endian.
pub fn b_register(slot: u32) -> [u8; B_REGISTER_LEN] {
    let mut record = [0u8; B_REGISTER_LEN];
    record[0] = 0x01;
    record[4..].copy_from_slice(&slot.to_be_bytes());
    record
}

/// Decode a registration record; None if it is not exactly a valid one (8 bytes, `01 00 00 00`
/// then the slot): a short or long record, another type byte or non-zero padding is refused.
pub fn b_parse_register(record: &[u8]) -> Option<u32> {
    let record: &[u8; B_REGISTER_LEN] = record.try_into().ok()?;
    if record[..4] != [0x01, 0, 0, 0] {
        return None;
    }
    Some(u32::from_be_bytes([
        record[4], record[5], record[6], record[7],
    ]))
}

/// B: the versioned registration record's length: `01 00 00 01` (register, extension
/// version 1) + slot (u32 BE) + flags (u32 BE). Routers that predate it refuse it as they
/// refuse any record that is not exactly 8 bytes (they close without a reply).
pub const B_REGISTER_EXT_LEN: usize = 12;
/// Extension flag: the client wants the slot's handed-over listener instead of connections.
pub const B_WANTS_LISTENER: u32 = 1;
/// Extension flag: the client holds the slot's listener already (from a router before this
/// one) and sends it along (SCM_RIGHTS) so the router can check and keep it.
pub const B_HOLDS_LISTENER: u32 = 2;
/// B: server → client "registered; here is your listener" (with one SCM_RIGHTS fd). Clients
/// that predate it never ask for it, and would refuse it (they expect `B_ACK` exactly).
pub const B_ACK_LISTENER: [u8; 4] = [0x81, 0, 0, 0];

/// The versioned registration record for `slot` with extension `flags`.
pub fn b_register_ext(slot: u32, flags: u32) -> [u8; B_REGISTER_EXT_LEN] {
    let mut record = [0u8; B_REGISTER_EXT_LEN];
    record[0] = 0x01;
    record[3] = 0x01;
    record[4..8].copy_from_slice(&slot.to_be_bytes());
    record[8..].copy_from_slice(&flags.to_be_bytes());
    record
}

/// Decode a registration record of either form: (slot, extension flags; 0 for the plain
/// 8-byte record). None for anything else, unknown flag bits included.
pub fn b_parse_register_any(record: &[u8]) -> Option<(u32, u32)> {
    if let Some(slot) = b_parse_register(record) {
        return Some((slot, 0));
    }
    let record: &[u8; B_REGISTER_EXT_LEN] = record.try_into().ok()?;
    if record[..4] != [0x01, 0, 0, 0x01] {
        return None;
    }
    let slot = u32::from_be_bytes([record[4], record[5], record[6], record[7]]);
    let flags = u32::from_be_bytes([record[8], record[9], record[10], record[11]]);
    if flags & !(B_WANTS_LISTENER | B_HOLDS_LISTENER) != 0 {
        return None;
    }
    Some((slot, flags))
}

/// PROXY protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// The PROXY v2 signature (12 bytes).
pub const PROXY_V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest PROXY v1 line, CRLF included (the protocol's limit).
pub const PROXY_V1_MAX: usize = 107;
/// The longest header `proxy_header` writes (v1 TCP6 with the longest addresses).
pub const PROXY_HEADER_MAX: usize = PROXY_V1_MAX;

/// A `fmt::Write` into a byte slice that records overflow instead of failing mid-way.
struct SliceWriter<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl std::fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.out.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Both addresses in one family: unchanged if they share one, else both IPv6 (IPv4 mapped).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let to_v6 = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    };
    if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (to_v6(src), to_v6(dst))
    }
}

/// Write a PROXY header for a TCP connection from `src` to `dst` into `out`; returns its length.
/// Mixed families are written as IPv6 (IPv4 mapped). `out` of 536 bytes always suffices
/// (`PROXY_HEADER_MAX`, 107, does); a shorter `out` that cannot hold the header panics, as
/// that is a bug in the caller.
pub fn proxy_header(v: ProxyVersion, src: SocketAddr, dst: SocketAddr, out: &mut [u8]) -> usize {
    let (src, dst) = same_family(src, dst);
    match v {
        ProxyVersion::V1 => {
            use std::fmt::Write;
            let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
            let mut w = SliceWriter { out, len: 0 };
            write!(
                w,
                "PROXY {family} {} {} {} {}\r\n",
                src.ip(),
                dst.ip(),
                src.port(),
                dst.port()
            )
            .expect("proxy_header: output buffer too small for a PROXY v1 line");
            w.len
        }
        ProxyVersion::V2 => {
            let (family, addr_len): (u8, usize) = if src.is_ipv4() {
                (0x11, 12)
            } else {
                (0x21, 36)
            };
            let total = 16 + addr_len;
            assert!(
                out.len() >= total,
                "proxy_header: output buffer too small for a PROXY v2 header"
            );
            out[..12].copy_from_slice(&PROXY_V2_SIGNATURE);
            out[12] = 0x21; // version 2, command PROXY
            out[13] = family; // AF_INET or AF_INET6, STREAM
            out[14..16].copy_from_slice(&(addr_len as u16).to_be_bytes());
            let mut at = 16;
            for ip in [src.ip(), dst.ip()] {
                let bytes: &[u8] = match &ip {
                    IpAddr::V4(a) => &a.octets(),
                    IpAddr::V6(a) => &a.octets(),
                };
                out[at..at + bytes.len()].copy_from_slice(bytes);
                at += bytes.len();
            }
            out[at..at + 2].copy_from_slice(&src.port().to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&dst.port().to_be_bytes());
            total
        }
    }
}

/// What a parsed PROXY header says: the addresses (None for v1 `UNKNOWN`, v2 `LOCAL`, and v2
/// families without IP addresses) and the header's length in bytes.
pub type ProxyParse = Option<(Option<(SocketAddr, SocketAddr)>, usize)>;

/// Parse a PROXY v1 or v2 header at the start of `buf`: Ok(Some((src, dst, header_len))),
/// Ok(None) if more bytes are needed, Err on malformed input. (Used by tests and the fuzzer.)
///
/// v1: `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` with single spaces, addresses of the named
/// family, decimal ports without sign or leading zeros, at most 107 bytes; `PROXY UNKNOWN...\r\n`
/// gives no addresses. v2: signature, version 2, command LOCAL (no addresses) or PROXY; families
/// TCP/UDP over IPv4/IPv6 give addresses, UNSPEC and UNIX do not; bytes past the addresses
/// (TLVs) are counted in the length and skipped.
pub fn parse_proxy_header(buf: &[u8]) -> Result<ProxyParse, String> {
    if buf.is_empty() {
        return Ok(None);
    }
    let sig_part = buf.len().min(PROXY_V2_SIGNATURE.len());
    if buf[..sig_part] == PROXY_V2_SIGNATURE[..sig_part] {
        return parse_proxy_v2(buf);
    }
    const V1_PREFIX: &[u8] = b"PROXY ";
    let v1_part = buf.len().min(V1_PREFIX.len());
    if buf[..v1_part] == V1_PREFIX[..v1_part] {
        return parse_proxy_v1(buf);
    }
    Err("not a PROXY protocol header (neither the v1 'PROXY ' nor the v2 signature)".to_string())
}

fn parse_proxy_v2(buf: &[u8]) -> Result<ProxyParse, String> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    if version != 2 {
        return Err(format!("PROXY v2: version {version} (expected 2)"));
    }
    let addr_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + addr_len;
    if buf.len() < total {
        return Ok(None);
    }
    let block = &buf[16..total];
    let ip_len = match buf[13] {
        0x11 | 0x12 => 4,
        0x21 | 0x22 => 16,
        0x00 | 0x31 | 0x32 => 0,
        other => {
            return Err(format!(
                "PROXY v2: unknown family/transport byte {other:#04x}"
            ))
        }
    };
    match command {
        0x0 => return Ok(Some((None, total))),
        0x1 => {}
        other => return Err(format!("PROXY v2: unknown command {other}")),
    }
    if ip_len == 0 {
        if buf[13] != 0x00 && addr_len < 216 {
            return Err(format!(
                "PROXY v2: UNIX address block of {addr_len} bytes (needs 216)"
            ));
        }
        return Ok(Some((None, total)));
    }
    let need = 2 * ip_len + 4;
    if block.len() < need {
        return Err(format!(
            "PROXY v2: address block of {addr_len} bytes (needs {need})"
        ));
    }
    let ip = |b: &[u8]| -> IpAddr {
        if ip_len == 4 {
            IpAddr::from([b[0], b[1], b[2], b[3]])
        } else {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            IpAddr::from(o)
        }
    };
    let ports = &block[2 * ip_len..need];
    let src = SocketAddr::new(
        ip(&block[..ip_len]),
        u16::from_be_bytes([ports[0], ports[1]]),
    );
    let dst = SocketAddr::new(
        ip(&block[ip_len..2 * ip_len]),
        u16::from_be_bytes([ports[2], ports[3]]),
    );
    Ok(Some((Some((src, dst)), total)))
}

fn parse_proxy_v1(buf: &[u8]) -> Result<ProxyParse, String> {
    let window = &buf[..buf.len().min(PROXY_V1_MAX)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if buf.len() >= PROXY_V1_MAX {
            return Err(format!("PROXY v1: no CRLF within {PROXY_V1_MAX} bytes"));
        }
        if window.contains(&b'\n') {
            return Err("PROXY v1: line ends in LF without CR".to_string());
        }
        return Ok(None);
    };
    match window.get(cr + 1) {
        None if buf.len() < PROXY_V1_MAX => return Ok(None),
        Some(b'\n') => {}
        _ => return Err("PROXY v1: CR not followed by LF".to_string()),
    }
    if window[..cr].contains(&b'\n') {
        return Err("PROXY v1: line ends in LF without CR".to_string());
    }
    let total = cr + 2;
    let line = std::str::from_utf8(&buf[..cr]).map_err(|_| "PROXY v1: not ASCII".to_string())?;
    let rest = &line["PROXY ".len()..];
    if rest == "UNKNOWN" || rest.starts_with("UNKNOWN ") {
        return Ok(Some((None, total)));
    }
    let fields: Vec<&str> = rest.split(' ').collect();
    let [family, src, dst, sport, dport] = fields[..] else {
        return Err(format!(
            "PROXY v1: expected 5 fields after 'PROXY', got {}",
            fields.len()
        ));
    };
    let want_v4 = match family {
        "TCP4" => true,
        "TCP6" => false,
        other => return Err(format!("PROXY v1: unknown protocol '{other}'")),
    };
    let addr = |text: &str| -> Result<IpAddr, String> {
        let ip: IpAddr = text
            .parse()
            .map_err(|_| format!("PROXY v1: bad address '{text}'"))?;
        if ip.is_ipv4() != want_v4 {
            return Err(format!("PROXY v1: address '{text}' is not {family}"));
        }
        Ok(ip)
    };
    let port = |text: &str| -> Result<u16, String> {
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if !digits || (text.len() > 1 && text.starts_with('0')) {
            return Err(format!("PROXY v1: bad port '{text}'"));
        }
        crate::decimal::parse(text).ok_or_else(|| format!("PROXY v1: port '{text}' out of range"))
    };
    let src = SocketAddr::new(addr(src)?, port(sport)?);
    let dst = SocketAddr::new(addr(dst)?, port(dport)?);
    Ok(Some((Some((src, dst)), total)))
}

/// Expand socketbox's `-U` tokens (`#//0_`..`#//7_`: 5-digit decimal of 16-bit group N of the
/// local IPv6 address; `#//P_`: the local port) in `template` into `out`; returns the length,
/// or None if `out` is too small. Any other `#` sequence (`#//8_`, `#//p_`, a lone `#`) is
/// copied unchanged.
pub fn expand_path_template(
    template: &[u8],
    local_ip: std::net::Ipv6Addr,
    local_port: u16,
    out: &mut [u8],
) -> Option<usize> {
    let groups = local_ip.segments();
    let mut len = 0;
    let mut i = 0;
    while i < template.len() {
        let token = template.get(i..i + 5);
        let value = match token {
            Some([b'#', b'/', b'/', c @ b'0'..=b'7', b'_']) => Some(groups[usize::from(c - b'0')]),
            Some(b"#//P_") => Some(local_port),
            _ => None,
        };
        match value {
            Some(v) => {
                let dst = out.get_mut(len..len + 5)?;
                let mut v = v;
                for d in dst.iter_mut().rev() {
                    *d = b'0' + (v % 10) as u8;
                    v /= 10;
                }
                len += 5;
                i += 5;
            }
            None => {
                *out.get_mut(len)? = template[i];
                len += 1;
                i += 1;
            }
        }
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn b_refusal_round_trips() {
        assert_eq!(
            b_parse_refusal(&b_refusal("slot 2 is registered already")),
            Some(&b"slot 2 is registered already"[..])
        );
        assert_eq!(b_parse_refusal(&B_ACK), None);
        let long = "é".repeat(300);
        let r = b_refusal(&long);
        assert!(r.len() <= 4 + B_REFUSAL_REASON_MAX);
        assert!(std::str::from_utf8(b_parse_refusal(&r).unwrap()).is_ok());
    }

    #[test]
    fn b_register_bytes() {
        assert_eq!(b_register(0x01020304), [1, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(b_parse_register(&[1, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(b_parse_register(&[1, 0, 0, 0, 0, 0, 1]), None, "short");
        assert_eq!(b_parse_register(&[1, 0, 0, 0, 0, 0, 1, 0, 0]), None, "long");
        assert_eq!(b_parse_register(&[2, 0, 0, 0, 0, 0, 0, 1]), None, "type");
        assert_eq!(b_parse_register(&[1, 0, 1, 0, 0, 0, 0, 1]), None, "padding");
        assert_eq!(b_parse_register(&B_ACK), None);
    }

    #[test]
    fn b_register_ext_bytes() {
        let r = b_register_ext(0x0102, B_WANTS_LISTENER);
        assert_eq!(r, [1, 0, 0, 1, 0, 0, 1, 2, 0, 0, 0, 1]);
        assert_eq!(b_parse_register(&r), None, "an old router refuses it");
        assert_eq!(b_parse_register_any(&r), Some((0x0102, B_WANTS_LISTENER)));
        assert_eq!(b_parse_register_any(&b_register(7)), Some((7, 0)));
        let mut unknown = r;
        unknown[8] = 0x80;
        assert_eq!(b_parse_register_any(&unknown), None, "unknown flags");
        let mut v2 = r;
        v2[3] = 2;
        assert_eq!(b_parse_register_any(&v2), None, "unknown version");
        assert_ne!(
            B_ACK_LISTENER, B_ACK,
            "an old client refuses the listener answer"
        );
    }

    #[test]
    fn proxy_v1_lines() {
        let mut out = [0u8; 536];
        let n = proxy_header(
            ProxyVersion::V1,
            sa("192.0.2.1:5000"),
            sa("198.51.100.2:443"),
            &mut out,
        );
        assert_eq!(&out[..n], b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 443\r\n");
        let n = proxy_header(
            ProxyVersion::V1,
            sa("[2001:db8::1]:1"),
            sa("[::1]:2"),
            &mut out,
        );
        assert_eq!(&out[..n], b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n");
        let n = proxy_header(ProxyVersion::V1, sa("192.0.2.1:1"), sa("[::1]:2"), &mut out);
        assert_eq!(&out[..n], b"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n");
        let longest = sa("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
        let mut exact = [0u8; PROXY_HEADER_MAX];
        let n = proxy_header(ProxyVersion::V1, longest, longest, &mut exact);
        assert_eq!(n, 104);
    }

    #[test]
    fn proxy_v2_bytes() {
        let mut out = [0u8; 536];
        let n = proxy_header(
            ProxyVersion::V2,
            sa("192.0.2.1:5000"),
            sa("198.51.100.2:443"),
            &mut out,
        );
        let mut want = vec![
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
        ];
        want.extend_from_slice(&[
            0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 2, 0x13, 0x88, 0x01, 0xbb,
        ]);
        assert_eq!(&out[..n], &want[..]);
        let n = proxy_header(
            ProxyVersion::V2,
            sa("[2001:db8::1]:1"),
            sa("192.0.2.9:2"),
            &mut out,
        );
        assert_eq!(n, 52);
        assert_eq!(&out[12..16], &[0x21, 0x21, 0x00, 0x24]);
        assert_eq!(
            &out[32..48],
            &"::ffff:192.0.2.9".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&out[48..52], &[0, 1, 0, 2]);
    }

    #[test]
    fn proxy_parse_edge_cases() {
        assert_eq!(parse_proxy_header(b""), Ok(None));
        assert_eq!(parse_proxy_header(b"PROX"), Ok(None));
        assert_eq!(parse_proxy_header(b"PROXY TCP4 1.2.3.4"), Ok(None));
        assert_eq!(
            parse_proxy_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"),
            Ok(None)
        );
        assert_eq!(
            parse_proxy_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET /"),
            Ok(Some((Some((sa("1.2.3.4:1"), sa("5.6.7.8:2"))), 32)))
        );
        assert_eq!(
            parse_proxy_header(b"PROXY UNKNOWN\r\n"),
            Ok(Some((None, 15)))
        );
        assert_eq!(
            parse_proxy_header(b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n"),
            Ok(Some((None, 31)))
        );
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY UNKNOWNX\r\n",
            // Found by the fuzzer: a LF inside an UNKNOWN line was accepted whole but
            // refused as a prefix.
            b"PROXY UNKNOWN \n0 0:3.4\r\n",
        ] {
            assert!(
                parse_proxy_header(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = [b"PROXY ".as_slice(), &[b'x'; 120]].concat();
        assert!(parse_proxy_header(&long).is_err());
        assert_eq!(parse_proxy_header(&long[..100]), Ok(None));

        let mut v2 = PROXY_V2_SIGNATURE.to_vec();
        assert_eq!(parse_proxy_header(&v2[..5]), Ok(None));
        v2.extend_from_slice(&[0x20, 0x00, 0x00, 0x03, 9, 9]);
        assert_eq!(
            parse_proxy_header(&v2),
            Ok(None),
            "LOCAL with 3 bytes of TLV, 2 present"
        );
        v2.push(9);
        assert_eq!(parse_proxy_header(&v2), Ok(Some((None, 19))));
        let mut bad = v2.clone();
        bad[12] = 0x11;
        assert!(parse_proxy_header(&bad).unwrap_err().contains("version 1"));
        bad[12] = 0x22;
        assert!(parse_proxy_header(&bad).unwrap_err().contains("command 2"));
        bad[12] = 0x21;
        bad[13] = 0x11;
        assert!(parse_proxy_header(&bad).unwrap_err().contains("needs 12"));
        bad[13] = 0x41;
        assert!(parse_proxy_header(&bad).unwrap_err().contains("0x41"));
        let mut unix = PROXY_V2_SIGNATURE.to_vec();
        unix.extend_from_slice(&[0x21, 0x31, 0x00, 216]);
        unix.resize(16 + 216, 0);
        assert_eq!(parse_proxy_header(&unix), Ok(Some((None, 232))));
        // TLVs after the addresses are counted and skipped.
        let mut out = [0u8; 64];
        let n = proxy_header(ProxyVersion::V2, sa("1.2.3.4:1"), sa("5.6.7.8:2"), &mut out);
        let mut with_tlv = out[..n].to_vec();
        with_tlv[15] += 3;
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x00, b'd', b'a', b't', b'a']);
        assert_eq!(
            parse_proxy_header(&with_tlv),
            Ok(Some((Some((sa("1.2.3.4:1"), sa("5.6.7.8:2"))), n + 3)))
        );
    }

    #[test]
    fn path_templates() {
        let ip: Ipv6Addr = "fd01:db8:1:40::1:10".parse().unwrap();
        let mut out = [0u8; 108];
        let n = expand_path_template(b"/run/sb/#//3_/#//6_#//7_-#//P_.sock", ip, 443, &mut out)
            .unwrap();
        assert_eq!(&out[..n], b"/run/sb/00064/0000100016-00443.sock");
        let n = expand_path_template(b"#//8_#//p_#//0#", ip, 1, &mut out).unwrap();
        assert_eq!(&out[..n], b"#//8_#//p_#//0#");
        let n = expand_path_template(b"#//0_", ip, 1, &mut out).unwrap();
        assert_eq!(&out[..n], b"64769");
        assert_eq!(expand_path_template(b"ab#//0_", ip, 1, &mut out[..6]), None);
        assert_eq!(expand_path_template(b"abc", ip, 1, &mut out[..2]), None);
        assert_eq!(expand_path_template(b"", ip, 1, &mut []), Some(0));
    }

    fn arb_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
        ]
    }

    proptest! {
        #[test]
        fn b_roundtrip(slot in any::<u32>()) {
            prop_assert_eq!(b_parse_register(&b_register(slot)), Some(slot));
        }

        #[test]
        fn b_parse_any_accepts_exactly_what_is_encoded(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Some((slot, flags)) = b_parse_register_any(&bytes) {
                let again: Vec<u8> = if flags == 0 && bytes.len() == B_REGISTER_LEN {
                    b_register(slot).to_vec()
                } else {
                    b_register_ext(slot, flags).to_vec()
                };
                prop_assert_eq!(again, bytes);
            }
        }

        #[test]
        fn b_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let parsed = b_parse_register(&bytes);
            if let Some(slot) = parsed {
                prop_assert_eq!(&b_register(slot)[..], &bytes[..]);
            }
        }

        #[test]
        fn proxy_roundtrip(src in arb_addr(), dst in arb_addr(), v2 in any::<bool>(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let v = if v2 { ProxyVersion::V2 } else { ProxyVersion::V1 };
            let mut out = [0u8; 536];
            let n = proxy_header(v, src, dst, &mut out);
            let (esrc, edst) = same_family(src, dst);
            let mut buf = out[..n].to_vec();
            buf.extend_from_slice(&tail);
            prop_assert_eq!(parse_proxy_header(&buf), Ok(Some((Some((esrc, edst)), n))));
            for cut in 0..n {
                prop_assert_eq!(parse_proxy_header(&buf[..cut]), Ok(None), "prefix of {} bytes", cut);
            }
        }

        #[test]
        fn proxy_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), sig in any::<u8>()) {
            let _ = parse_proxy_header(&bytes);
            let mut v2 = PROXY_V2_SIGNATURE.to_vec();
            v2.push(sig);
            v2.extend_from_slice(&bytes);
            if let Ok(Some((_, len))) = parse_proxy_header(&v2) {
                prop_assert!(len <= v2.len());
            }
            let mut v1 = b"PROXY ".to_vec();
            v1.extend_from_slice(&bytes);
            if let Ok(Some((_, len))) = parse_proxy_header(&v1) {
                prop_assert!(len <= v1.len());
            }
        }

        #[test]
        fn template_length(template in proptest::collection::vec(prop_oneof![Just(b'#'), Just(b'/'), Just(b'_'), Just(b'P'), b'0'..=b'9', any::<u8>()], 0..40),
                           ip in any::<u128>(), port in any::<u16>(), cap in 0usize..80) {
            let mut out = vec![0u8; cap];
            if let Some(n) = expand_path_template(&template, Ipv6Addr::from(ip), port, &mut out) {
                prop_assert!(n <= cap);
                prop_assert!(n >= template.len(), "tokens grow or keep the length");
            }
            let mut big = vec![0u8; 40 * 5];
            prop_assert!(expand_path_template(&template, Ipv6Addr::from(ip), port, &mut big).is_some());
        }
    }
}
