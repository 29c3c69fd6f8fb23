//! PROXY v1/v2 header parser: never panics, never claims more bytes than it was given, stays
//! consistent as bytes arrive, and what it parses re-encodes to the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::socketbox::wire::{self, ProxyVersion};

fuzz_target!(|data: &[u8]| {
    let parsed = wire::parse_proxy_header(data);
    if let Ok(Some((addrs, len))) = &parsed {
        assert!(
            *len <= data.len(),
            "header length {len} beyond input {}",
            data.len()
        );
        // Bytes after the header do not change the verdict on the header.
        assert_eq!(wire::parse_proxy_header(&data[..*len]), parsed);
        if let Some((src, dst)) = addrs {
            let v = if data[0] == b'P' {
                ProxyVersion::V1
            } else {
                ProxyVersion::V2
            };
            let mut out = [0u8; 536];
            let n = wire::proxy_header(v, *src, *dst, &mut out);
            assert_eq!(
                wire::parse_proxy_header(&out[..n]),
                Ok(Some((Some((*src, *dst)), n)))
            );
        }
    }
    // Every proper prefix of a valid header asks for more bytes (a reader that gets the header
    // in pieces never rejects or misreads it).
    if let Ok(Some((_, len))) = parsed {
        for cut in [0, 1, 12, 15, 16, len / 2, len - 1] {
            if cut < len {
                assert_eq!(
                    wire::parse_proxy_header(&data[..cut]),
                    Ok(None),
                    "prefix of {cut}"
                );
            }
        }
    }
    // -U templates: never overflow the output.
    let mut out = [0u8; 108];
    if let Some(n) = wire::expand_path_template(data, "fd01:db8::1".parse().unwrap(), 443, &mut out)
    {
        assert!(n <= out.len());
    }
});
