//! unsock control files: decode never panics, accepts exactly 452 bytes with the magic, and
//! what it accepts encodes back byte for byte (reserved fields aside: compare decoded forms).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::control::{ControlFile, FILE_LEN};

fuzz_target!(|data: &[u8]| {
    match ControlFile::decode(data) {
        Ok(cf) => {
            assert_eq!(data.len(), FILE_LEN);
            let bytes = cf.encode();
            let again = ControlFile::decode(&bytes).expect("an encoded file decodes");
            assert_eq!(again.encode(), bytes);
            let _ = cf.to_string();
        }
        Err(_) => {}
    }
});
