//! The router's native TOML config (src/router/src/config.rs, compiled in here): loading never
//! panics, and an accepted config passes the router's own reference checks.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/router/src/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../../src/router/src/flags.rs"]
mod flags;
#[allow(dead_code)]
#[path = "../../src/router/src/log.rs"]
mod log;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    // rules_file names another file to read: the fuzzer would find /dev/zero.
    if input.contains("rules_file") {
        return;
    }
    let o = flags::Options {
        config_file: Some("/fuzz/sb.toml".into()),
        format: Some("toml".into()),
        ..Default::default()
    };
    if let Ok(c) = config::build(&o, &|_| Ok(input.to_string())) {
        let _ = config::check_references(&c);
    }
});
