//! The socket-server request and reply codecs (sockswap_core::netns): decode never panics, an
//! accepted request encodes back to the same bytes, and check_kind never accepts a family,
//! type or protocol the server must not create.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::netns::{check_kind, decode_reply, decode_request, encode_request, MAX_REQUEST};

fuzz_target!(|data: &[u8]| {
    let _ = decode_reply(data);
    let Ok(req) = decode_request(data) else {
        return;
    };
    let mut out = [0u8; MAX_REQUEST];
    let n = encode_request(&req, &mut out).expect("an accepted request encodes");
    assert_eq!(&out[..n], data);
    if check_kind(&req).is_ok() {
        assert!(req.domain == libc::AF_INET || req.domain == libc::AF_INET6);
        assert!(req.ty == libc::SOCK_STREAM || req.ty == libc::SOCK_DGRAM);
        assert!([0, libc::IPPROTO_TCP, libc::IPPROTO_UDP].contains(&req.protocol));
    }
});
