//! python-socketbox's config.json: parse never panics; an accepted config is consistent and its
//! warnings, like its errors, are one line each.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::socketbox::python;
use sockswap_core::socketbox::table::{Target, Tuple};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match python::parse(input) {
        Ok(config) => {
            assert_eq!(config.routes.validate(), Ok(()));
            for w in &config.warnings {
                assert!(!w.chars().any(char::is_control), "warning with control characters: {w:?}");
            }
            for slot in &config.slots {
                assert!(slot.api_socket < config.api_sockets.len());
            }
            let t = Tuple {
                listener: 0,
                local_ip: "fd00::1".parse().unwrap(),
                local_port: 443,
                remote_ip: "::ffff:192.0.2.1".parse().unwrap(),
                remote_port: 1,
            };
            if let Ok(Target::Slot(n)) = config.routes.route(&t) {
                assert!(
                    config.slots.iter().any(|s| s.number == *n),
                    "route to an undefined slot"
                );
            }
        }
        Err(e) => assert!(
            !e.chars().any(char::is_control),
            "error with control characters: {e:?}"
        ),
    }
});
