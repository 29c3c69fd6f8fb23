//! B registration record: decode never panics and accepts exactly the encoder's output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::socketbox::wire;

fuzz_target!(|data: &[u8]| {
    if let Some(slot) = wire::b_parse_register(data) {
        assert_eq!(&wire::b_register(slot)[..], data);
    }
    if data.len() >= 4 {
        let slot = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        assert_eq!(wire::b_parse_register(&wire::b_register(slot)), Some(slot));
    }
});
