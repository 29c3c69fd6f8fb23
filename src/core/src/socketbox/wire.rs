//! Wire formats: "A" datagram, "B" records, PROXY protocol headers, `-U` path templates.

use std::net::SocketAddr;

/// The one data byte of an "A" datagram.
pub const A_BYTE: u8 = 0x00;
/// B: client → server registration record length.
pub const B_REGISTER_LEN: usize = 8;
/// B: server → client acknowledgement `80 00 00 00`.
pub const B_ACK: [u8; 4] = [0x80, 0, 0, 0];
/// B: server → client delivery record `03 00 00 00` (with one SCM_RIGHTS fd).
pub const B_DELIVERY: [u8; 4] = [0x03, 0, 0, 0];

/// The registration record for `slot`.
pub fn b_register(slot: u32) -> [u8; B_REGISTER_LEN] {
    todo!("socketbox::wire owner")
}

/// Decode a registration record; None if it is not exactly a valid one.
pub fn b_parse_register(record: &[u8]) -> Option<u32> {
    todo!("socketbox::wire owner")
}

/// PROXY protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// Write a PROXY header for a TCP connection from `src` to `dst` into `out`; returns its length.
/// Mixed families are written as IPv6 (IPv4 mapped). `out` of 536 bytes always suffices.
pub fn proxy_header(v: ProxyVersion, src: SocketAddr, dst: SocketAddr, out: &mut [u8]) -> usize {
    todo!("socketbox::wire owner")
}

/// Parse a PROXY v1 or v2 header at the start of `buf`: Ok(Some((src, dst, header_len))),
/// Ok(None) if more bytes are needed, Err on malformed input. (Used by tests and the fuzzer.)
pub fn parse_proxy_header(
    buf: &[u8],
) -> Result<Option<(Option<(SocketAddr, SocketAddr)>, usize)>, String> {
    todo!("socketbox::wire owner")
}

/// Expand socketbox's `-U` tokens (`#//0_`..`#//7_`: 5-digit decimal of 16-bit group N of the
/// local IPv6 address; `#//P_`: the local port) in `template` into `out`; returns the length,
/// or None if `out` is too small.
pub fn expand_path_template(
    template: &[u8],
    local_ip: std::net::Ipv6Addr,
    local_port: u16,
    out: &mut [u8],
) -> Option<usize> {
    todo!("socketbox::wire owner")
}
